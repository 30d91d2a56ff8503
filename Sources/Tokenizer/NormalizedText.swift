/// Text being tokenized: Unicode scalar values after normalization, each paired with the index (in Unicode
/// scalars) of the original-text scalar it came from. This is HF's alignment model: a scalar inserted by a
/// normalizer (e.g. the spaces around a CJK character, the second scalar of a multi-scalar lowercase) takes
/// the origin of the scalar it was derived from; removed scalars leave no trace.
public struct NormalizedText {
    /// Normalized scalar values.
    public internal(set) var scalars: [UInt32] = []
    /// `origins[i]` is the index of the original-text scalar that `scalars[i]` came from.
    public internal(set) var origins: [Int32] = []
    private var nextScalars: [UInt32] = []
    private var nextOrigins: [Int32] = []

    public init() {}

    /// Creates the text for original scalars `scalars[range]`, with origins equal to their indices.
    public init<C: Collection>(original scalars: C, startIndex: Int = 0) where C.Element == UInt32 {
        reset(original: scalars, startIndex: startIndex)
    }

    mutating func reset<C: Collection>(original scalars: C, startIndex: Int) where C.Element == UInt32 {
        self.scalars.removeAll(keepingCapacity: true)
        self.origins.removeAll(keepingCapacity: true)
        self.scalars.append(contentsOf: scalars)
        var origin = Int32(startIndex)
        for _ in 0..<self.scalars.count {
            origins.append(origin)
            origin += 1
        }
    }

    /// Replaces the origins (same count as `scalars`).
    mutating func setOrigins<C: Collection>(_ newOrigins: C) where C.Element == Int32 {
        origins.removeAll(keepingCapacity: true)
        origins.append(contentsOf: newOrigins)
    }

    public var count: Int { scalars.count }

    /// Starts rewriting: the following `emit` calls build the new content, `commit` installs it.
    @inline(__always) mutating func beginRewrite() {
        nextScalars.removeAll(keepingCapacity: true)
        nextOrigins.removeAll(keepingCapacity: true)
        nextScalars.reserveCapacity(scalars.count + 8)
        nextOrigins.reserveCapacity(scalars.count + 8)
    }

    @inline(__always) mutating func emit(_ scalar: UInt32, origin: Int32) {
        nextScalars.append(scalar)
        nextOrigins.append(origin)
    }

    @inline(__always) mutating func commit() {
        swap(&scalars, &nextScalars)
        swap(&origins, &nextOrigins)
    }

    /// The normalized text as a Swift string (for tests and debugging).
    public var string: String {
        var result = String.UnicodeScalarView()
        for value in scalars { if let scalar = Unicode.Scalar(value) { result.append(scalar) } }
        return String(result)
    }
}
