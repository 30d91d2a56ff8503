/// Output precisions of sentence-transformers' `quantize_embeddings` (float32 is the unquantized default).
public enum EmbeddingPrecision: String, Sendable, CaseIterable {
    case float32, int8, uint8, binary, ubinary

    /// Whether values are bucketed per dimension between calibration ranges (int8, uint8).
    public var isScalar: Bool { self == .int8 || self == .uint8 }
    /// Whether values are packed sign bits (binary, ubinary).
    public var isBinary: Bool { self == .binary || self == .ubinary }

    /// Bytes per output row for `dimension` features (binary: `ceil(dimension / 8)`).
    public func rowWidth(dimension: Int) -> Int { isBinary ? (dimension + 7) / 8 : dimension }

    /// The numpy dtype string of the output (`<f4`, `|i1`, `|u1`).
    public var numpyDescr: String {
        switch self {
        case .float32: return "<f4"
        case .int8, .binary: return "|i1"
        case .uint8, .ubinary: return "|u1"
        }
    }
}

/// Per-dimension `[min, max]` of calibration embeddings (`ranges` of `quantize_embeddings`: row 0 minima,
/// row 1 maxima).
public struct QuantizationRanges: Sendable, Equatable {
    public var minimum: [Float]
    public var maximum: [Float]

    public init(minimum: [Float], maximum: [Float]) {
        precondition(minimum.count == maximum.count, "QuantizationRanges: minimum and maximum widths differ")
        self.minimum = minimum; self.maximum = maximum
    }

    /// The ranges of `[rows, cols]` embeddings. At least two rows are required (sentence-transformers refuses
    /// to calibrate on one embedding).
    public init(calibration values: [Float], rows: Int, cols: Int) throws {
        guard rows >= 2, values.count == rows * cols else {
            throw FeaturizeError.invalidOption("int8/uint8 ranges need at least 2 calibration embeddings of \(cols) features, got \(rows)")
        }
        var lo = Array(values[0..<cols]), hi = lo
        for r in 1..<rows {
            for c in 0..<cols {
                let v = values[r * cols + c]
                if v < lo[c] { lo[c] = v }
                if v > hi[c] { hi[c] = v }
            }
        }
        self.init(minimum: lo, maximum: hi)
    }
}

/// `sentence_transformers.util.quantize_embeddings`, bit for bit on the same float32 inputs:
/// - uint8: step = (max - min) / 255 (1 where 0), `clip(floor((x - min) / step), 0, 255)`; int8: that minus 128;
/// - ubinary: `numpy.packbits(x > 0)` per row (big-endian bits, the last byte zero-padded); binary: those
///   bytes minus 128 as int8.
public enum EmbeddingQuantizer {
    /// Quantizes `[rows, cols]` float32 embeddings; returns `[rows, precision.rowWidth(dimension: cols)]` bytes
    /// (int8 values as their two's-complement bit patterns). `ranges` is required for int8/uint8.
    public static func quantize(_ values: [Float], rows: Int, cols: Int, precision: EmbeddingPrecision,
                                ranges: QuantizationRanges? = nil) throws -> [UInt8] {
        precondition(values.count == rows * cols, "EmbeddingQuantizer: \(values.count) values for \(rows) x \(cols)")
        switch precision {
        case .float32:
            throw FeaturizeError.invalidOption("float32 is not a quantized precision")
        case .int8, .uint8:
            guard let ranges else { throw FeaturizeError.invalidOption("\(precision.rawValue) needs calibration ranges") }
            guard ranges.minimum.count == cols else {
                throw FeaturizeError.invalidOption("calibration ranges have \(ranges.minimum.count) features, the embeddings \(cols)")
            }
            var steps = [Float](repeating: 1, count: cols)
            for c in 0..<cols {
                let s = (ranges.maximum[c] - ranges.minimum[c]) / 255
                steps[c] = s == 0 ? 1 : s
            }
            var out = [UInt8](repeating: 0, count: rows * cols)
            for r in 0..<rows {
                for c in 0..<cols {
                    let q = ((values[r * cols + c] - ranges.minimum[c]) / steps[c]).rounded(.down)
                    let bucket = q.isNaN ? 0 : UInt8(min(max(q, 0), 255))
                    out[r * cols + c] = precision == .uint8 ? bucket : bucket &- 128
                }
            }
            return out
        case .binary, .ubinary:
            let width = (cols + 7) / 8
            var out = [UInt8](repeating: 0, count: rows * width)
            for r in 0..<rows {
                for c in 0..<cols where values[r * cols + c] > 0 {
                    out[r * width + c / 8] |= UInt8(0x80) >> UInt8(c % 8)
                }
                if precision == .binary {
                    for b in 0..<width { out[r * width + b] = out[r * width + b] &- 128 }
                }
            }
            return out
        }
    }
}
