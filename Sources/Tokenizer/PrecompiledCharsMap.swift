import Foundation

/// Why a `precompiled_charsmap` blob was refused.
public struct PrecompiledCharsMapError: Error, CustomStringConvertible, Equatable {
    public let detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { "invalid precompiled_charsmap: \(detail)" }
}

/// SentencePiece's compiled normalization map (`precompiled_charsmap` of a `Precompiled` normalizer).
///
/// Blob layout: a little-endian `UInt32` trie size in bytes, the trie (a darts-clone double array of 32-bit
/// units, keys are UTF-8 byte strings), then the pool of replacements (NUL-terminated UTF-8 strings); a key's
/// value is the byte offset of its replacement in the pool.
///
/// Everything is validated at load: sizes, the pool's UTF-8, and every leaf reachable in the trie (walked once)
/// pointing at the start of a replacement. Replacements are decoded once into `replacementScalars`.
/// Immutable; storage is raw memory so lookups from several threads touch no reference counts.
public final class PrecompiledCharsMap: @unchecked Sendable {
    private let units: UnsafeMutablePointer<UInt32>
    private let unitCount: Int
    /// Per unit position: index of the replacement of the leaf unit at that position, or -1.
    private let leafEntry: UnsafeMutablePointer<Int32>
    /// Shortest-prefix match of each BMP scalar's UTF-8 bytes (see `entry(forScalar:)`), -1 if none.
    private let bmpEntry: UnsafeMutablePointer<Int32>
    /// Replacement `k` is `replacementScalars[replacementStart[k]..<replacementStart[k + 1]]`.
    let replacementScalars: [UInt32]
    let replacementStart: [Int32]

    /// Number of distinct replacements reachable from the trie.
    public var replacementCount: Int { replacementStart.count - 1 }

    /// Parses the base64 text of a tokenizer.json `precompiled_charsmap`.
    public convenience init(base64: String) throws {
        guard let data = Data(base64Encoded: base64, options: [.ignoreUnknownCharacters]) else {
            throw PrecompiledCharsMapError("not valid base64")
        }
        try self.init(blob: [UInt8](data))
    }

    /// Parses a raw blob (see the type's documentation for the layout).
    public init(blob: [UInt8]) throws {
        guard blob.count > 4 else {
            throw PrecompiledCharsMapError("\(blob.count) bytes: too short for the 4-byte trie size and a trie")
        }
        let trieSize = Int(blob[0]) | Int(blob[1]) << 8 | Int(blob[2]) << 16 | Int(blob[3]) << 24
        guard trieSize > 0, trieSize % 4 == 0 else {
            throw PrecompiledCharsMapError("trie size \(trieSize) bytes is not a positive multiple of 4")
        }
        guard trieSize <= blob.count - 4 else {
            throw PrecompiledCharsMapError("trie size \(trieSize) bytes exceeds the \(blob.count - 4) bytes after the header (truncated blob?)")
        }
        let count = trieSize / 4
        let units = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
        for k in 0..<count {
            let p = 4 + 4 * k
            units[k] = UInt32(blob[p]) | UInt32(blob[p + 1]) << 8 | UInt32(blob[p + 2]) << 16 | UInt32(blob[p + 3]) << 24
        }
        let pool = Array(blob[(4 + trieSize)...])
        let leafEntry = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        leafEntry.initialize(repeating: -1, count: count)
        let bmpEntry = UnsafeMutablePointer<Int32>.allocate(capacity: 0x10000)
        bmpEntry.initialize(repeating: -1, count: 0x10000)
        var scalars: [UInt32] = [], starts: [Int32] = [0]
        do {
            if let bad = Self.firstInvalidUTF8(pool) {
                throw PrecompiledCharsMapError("the replacement pool (\(pool.count) bytes) is not valid UTF-8 at byte \(bad)")
            }
            // Walk every reachable node once; decode each leaf's replacement.
            var entryOfOffset: [Int: Int32] = [:]
            var visited = [Bool](repeating: false, count: count)
            let rootBase = Self.offset(units[0])
            guard rootBase < count else { throw PrecompiledCharsMapError("the trie's root points outside its \(count) units") }
            var stack = [rootBase]
            visited[rootBase] = true
            while let base = stack.popLast() {
                for label in 1...255 {
                    let child = base ^ label
                    guard child < count else { continue }
                    let unit = units[child]
                    guard Self.label(unit) == UInt32(label) else { continue }
                    let next = child ^ Self.offset(unit)
                    guard next < count else {
                        throw PrecompiledCharsMapError("trie unit \(child) points outside the \(count) units")
                    }
                    if Self.hasLeaf(unit) {
                        let offset = Int(units[next] & 0x7FFF_FFFF)
                        let entry: Int32
                        if let known = entryOfOffset[offset] {
                            entry = known
                        } else {
                            guard offset < pool.count else {
                                throw PrecompiledCharsMapError("a trie leaf points at byte \(offset), outside the \(pool.count)-byte replacement pool")
                            }
                            guard pool[offset] & 0xC0 != 0x80 else {
                                throw PrecompiledCharsMapError("a trie leaf points at byte \(offset) inside a UTF-8 character of the replacement pool")
                            }
                            var end = offset
                            while end < pool.count, pool[end] != 0 { end += 1 }
                            Self.decodeUTF8(pool[offset..<end], into: &scalars)
                            entry = Int32(starts.count - 1)
                            starts.append(Int32(scalars.count))
                            entryOfOffset[offset] = entry
                        }
                        leafEntry[next] = entry
                    }
                    if !visited[next] { visited[next] = true; stack.append(next) }
                }
            }
        } catch {
            units.deallocate(); leafEntry.deallocate(); bmpEntry.deallocate()
            throw error
        }
        self.units = units
        self.unitCount = count
        self.leafEntry = leafEntry
        self.bmpEntry = bmpEntry
        self.replacementScalars = scalars
        self.replacementStart = starts
        var bytes: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        for scalar in UInt32(0)..<0x10000 where !(0xD800..<0xE000).contains(scalar) {
            let length = Self.encodeUTF8(scalar, into: &bytes)
            bmpEntry[Int(scalar)] = withUnsafeBytes(of: &bytes) { raw in
                shortestMatch(UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: length))
            }
        }
    }

    deinit {
        units.deallocate()
        leafEntry.deallocate()
        bmpEntry.deallocate()
    }

    // darts-clone unit fields.
    @inline(__always) static func hasLeaf(_ unit: UInt32) -> Bool { (unit >> 8) & 1 == 1 }
    @inline(__always) static func label(_ unit: UInt32) -> UInt32 { unit & (0x8000_0000 | 0xFF) }
    @inline(__always) static func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }

    /// The replacement of the shortest key that is a prefix of `bytes` (the search stops at a NUL byte), or -1.
    /// This is Hugging Face's lookup: the first result of the trie's common-prefix search.
    @inline(__always)
    func shortestMatch(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32 {
        var position = Self.offset(units[0])
        for byte in bytes {
            if byte == 0 { return -1 }
            position ^= Int(byte)
            guard position < unitCount else { return -1 }
            let unit = units[position]
            guard Self.label(unit) == UInt32(byte) else { return -1 }
            position ^= Self.offset(unit)
            guard position < unitCount else { return -1 }
            if Self.hasLeaf(unit) { return leafEntry[position] }
        }
        return -1
    }

    /// The replacement for one scalar on its own (shortest key that is a prefix of its UTF-8 bytes), or -1.
    @inline(__always)
    func entry(forScalar scalar: UInt32) -> Int32 {
        if scalar < 0x10000 { return bmpEntry[Int(scalar)] }
        var bytes: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        let length = Self.encodeUTF8(scalar, into: &bytes)
        return withUnsafeBytes(of: &bytes) { raw in
            shortestMatch(UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: length))
        }
    }

    /// The replacement text of `entry` as scalars.
    public func replacement(_ entry: Int32) -> ArraySlice<UInt32> {
        replacementScalars[Int(replacementStart[Int(entry)])..<Int(replacementStart[Int(entry) + 1])]
    }

    /// The replacement for a whole UTF-8 key (shortest matching prefix), for tests and tools.
    public func lookup(_ key: String) -> String? {
        var key = key
        let entry = key.withUTF8 { shortestMatch($0) }
        guard entry >= 0 else { return nil }
        var view = String.UnicodeScalarView()
        for value in replacement(entry) { if let scalar = Unicode.Scalar(value) { view.append(scalar) } }
        return String(view)
    }

    @inline(__always)
    static func encodeUTF8(_ s: UInt32, into bytes: inout (UInt8, UInt8, UInt8, UInt8)) -> Int {
        if s < 0x80 { bytes.0 = UInt8(s); return 1 }
        if s < 0x800 { bytes.0 = UInt8(0xC0 | (s >> 6)); bytes.1 = UInt8(0x80 | (s & 0x3F)); return 2 }
        if s < 0x10000 {
            bytes.0 = UInt8(0xE0 | (s >> 12)); bytes.1 = UInt8(0x80 | ((s >> 6) & 0x3F)); bytes.2 = UInt8(0x80 | (s & 0x3F))
            return 3
        }
        bytes.0 = UInt8(0xF0 | (s >> 18)); bytes.1 = UInt8(0x80 | ((s >> 12) & 0x3F))
        bytes.2 = UInt8(0x80 | ((s >> 6) & 0x3F)); bytes.3 = UInt8(0x80 | (s & 0x3F))
        return 4
    }

    /// Index of the first byte where `bytes` stops being valid UTF-8, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int, minimum: UInt32
            var value: UInt32
            switch b0 {
            case 0xC2...0xDF: length = 2; value = UInt32(b0 & 0x1F); minimum = 0x80
            case 0xE0...0xEF: length = 3; value = UInt32(b0 & 0x0F); minimum = 0x800
            case 0xF0...0xF4: length = 4; value = UInt32(b0 & 0x07); minimum = 0x10000
            default: return i
            }
            guard i + length <= n else { return i }
            for k in 1..<length {
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else { return i }
                value = value << 6 | UInt32(b & 0x3F)
            }
            guard value >= minimum, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else { return i }
            i += length
        }
        return nil
    }

    /// Decodes valid UTF-8 (checked beforehand) into scalar values.
    static func decodeUTF8(_ bytes: ArraySlice<UInt8>, into scalars: inout [UInt32]) {
        var i = bytes.startIndex
        while i < bytes.endIndex { i += appendScalar(decodingValidUTF8At: i, of: bytes, to: &scalars) }
    }
}
