import DataFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One text's tokens in token-level output: ids and Unicode-scalar character offsets `[start, end)`.
public struct TextTokens: Sendable, Equatable {
    public var ids: [Int32]
    /// `[ids.count]` pairs; (0, 0) for special tokens.
    public var offsets: [(start: Int, end: Int)]
    public var count: Int { ids.count }

    public init(ids: [Int32], offsets: [(start: Int, end: Int)]) { self.ids = ids; self.offsets = offsets }

    public static func == (a: TextTokens, b: TextTokens) -> Bool {
        a.ids == b.ids && a.offsets.count == b.offsets.count && zip(a.offsets, b.offsets).allSatisfy { $0 == $1 }
    }

    /// The binary record of these tokens kept next to a chunk of token features: the count (Int64), the ids
    /// (Int32 each), the offsets (two Int64 each), little-endian.
    public var record: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + count * 20)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        put(Int64(count))
        for id in ids { put(id) }
        for o in offsets { put(Int64(o.start)); put(Int64(o.end)) }
        return bytes
    }

    /// Decodes consecutive `record`s (`path` names the file in errors).
    public static func records(_ bytes: [UInt8], path: String) throws -> [TextTokens] {
        var texts: [TextTokens] = []
        var at = 0
        func get<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard at + MemoryLayout<T>.size <= bytes.count else {
                throw FeatureIOError.invalidShape(path: path, reason: "token record cut short at byte \(at)")
            }
            var v: T = 0
            withUnsafeMutableBytes(of: &v) { dst in dst.copyBytes(from: bytes[at..<(at + MemoryLayout<T>.size)]) }
            at += MemoryLayout<T>.size
            return T(littleEndian: v)
        }
        while at < bytes.count {
            let n = try get(Int64.self)
            guard n >= 0, n <= (bytes.count - at) / 20 else {
                throw FeatureIOError.invalidShape(path: path, reason: "token record of \(n) tokens at byte \(at - 8) does not fit the file")
            }
            var ids = [Int32](), offsets = [(start: Int, end: Int)]()
            ids.reserveCapacity(Int(n)); offsets.reserveCapacity(Int(n))
            for _ in 0..<n { ids.append(try get(Int32.self)) }
            for _ in 0..<n { offsets.append((Int(try get(Int64.self)), Int(try get(Int64.self)))) }
            texts.append(TextTokens(ids: ids, offsets: offsets))
        }
        return texts
    }
}

/// Token-level features in parts that are read one at a time (a job's chunks, a shard's texts), so that a
/// file is assembled without holding every token in memory.
public protocol TokenFeatureParts {
    var partCount: Int { get }
    /// The texts of part `index`, in order.
    func tokens(ofPart index: Int) throws -> [TextTokens]
    /// The features of part `index`: `[tokens, columns]` float32, its texts' tokens in order.
    func features(ofPart index: Int) throws -> [Float]
}

/// Token-level output (`--pooling none`), ragged over texts:
/// - `.safetensors`: tensors `features` F32 (or F16) `[total_tokens, dim]`, `offsets` I64 `[texts + 1]` (text
///   `r`'s tokens are rows `offsets[r]..<offsets[r + 1]`), `token_ids` I32 `[total_tokens]`, `char_offsets` I64
///   `[total_tokens, 2]`, plus string `__metadata__`;
/// - `.jsonl`: one object per text, `{"token_ids":[...],"char_offsets":[[s,e],...],"features":[[...],...]}`.
public enum TokenFeaturesFile {
    /// Writes `parts` into `path` (atomically: `path.partial`, then rename). The safetensors body is written
    /// tensor by tensor, each a pass over the parts (the features are read once).
    public static func write(_ parts: TokenFeatureParts, columns: Int, dtype: FeatureDType = .float32, to path: String,
                             metadata: [String: String] = [:]) throws {
        let file = try AtomicStreamFile(path: path)
        switch FeatureOutputFormat(path: path) {
        case .jsonl?:
            for p in 0..<parts.partCount {
                let texts = try parts.tokens(ofPart: p), features = try parts.features(ofPart: p)
                try checkPart(p, texts: texts, features: features, columns: columns, path: path)
                var row = 0
                for t in texts {
                    let ids = t.ids.map(String.init).joined(separator: ",")
                    let chars = t.offsets.map { "[\($0.start),\($0.end)]" }.joined(separator: ",")
                    let vectors = (0..<t.count).map { k -> String in
                        let base = (row + k) * columns
                        return "[" + (0..<columns).map { c -> String in
                            var v = features[base + c]
                            if dtype == .float16 { v = halfBitsToFloat(floatToHalfBits(v)) }
                            return v.isFinite ? "\(v)" : "null"
                        }.joined(separator: ",") + "]"
                    }.joined(separator: ",")
                    try file.write(Array("{\"token_ids\":[\(ids)],\"char_offsets\":[\(chars)],\"features\":[\(vectors)]}\n".utf8))
                    row += t.count
                }
            }
        case .safetensors?:
            var texts = 0, tokens = 0
            for p in 0..<parts.partCount {
                let part = try parts.tokens(ofPart: p)
                texts += part.count
                tokens += part.reduce(0) { $0 + $1.count }
            }
            var entries: [String] = [], offset = 0
            func add(_ name: String, _ type: String, _ shape: [Int], _ bytes: Int) {
                entries.append("\"\(name)\":{\"dtype\":\"\(type)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
                offset += bytes
            }
            add("features", dtype == .float32 ? "F32" : "F16", [tokens, columns], tokens * columns * dtype.byteSize)
            add("offsets", "I64", [texts + 1], (texts + 1) * 8)
            add("token_ids", "I32", [tokens], tokens * 4)
            add("char_offsets", "I64", [tokens, 2], tokens * 16)
            let meta = metadata.sorted { $0.key < $1.key }.map { "\(SafetensorsWriter.escape($0.key)):\(SafetensorsWriter.escape($0.value))" }
            var header = "{" + (meta.isEmpty ? "" : "\"__metadata__\":{\(meta.joined(separator: ","))},") + entries.joined(separator: ",") + "}"
            while (8 + header.utf8.count) % 8 != 0 { header += " " }
            try file.write(littleEndian([UInt64(header.utf8.count)]))
            try file.write(Array(header.utf8))
            var seen = 0
            for p in 0..<parts.partCount {
                let features = try parts.features(ofPart: p)
                let part = try parts.tokens(ofPart: p)
                try checkPart(p, texts: part, features: features, columns: columns, path: path)
                seen += features.count / max(columns, 1)
                if dtype == .float32 {
                    try file.write(littleEndian(features.map(\.bitPattern)))
                } else {
                    try file.write(littleEndian(features.map(floatToHalfBits)))
                }
            }
            guard seen == tokens else { throw FeatureIOError.invalidShape(path: path, reason: "the parts changed while being written") }
            var end: Int64 = 0
            try file.write(littleEndian([end]))
            for p in 0..<parts.partCount {
                try file.write(littleEndian(try parts.tokens(ofPart: p).map { t in end += Int64(t.count); return end }))
            }
            for p in 0..<parts.partCount { try file.write(littleEndian(try parts.tokens(ofPart: p).flatMap(\.ids))) }
            for p in 0..<parts.partCount {
                try file.write(littleEndian(try parts.tokens(ofPart: p).flatMap { $0.offsets.flatMap { [Int64($0.start), Int64($0.end)] } }))
            }
        default:
            throw FeatureIOError.unknownOutputFormat(path: path)
        }
        try file.commit()
    }

    private static func checkPart(_ p: Int, texts: [TextTokens], features: [Float], columns: Int, path: String) throws {
        let tokens = texts.reduce(0) { $0 + $1.count }
        guard features.count == tokens * columns else {
            throw FeatureIOError.invalidShape(path: path, reason: "part \(p) has \(features.count) feature values for \(tokens) tokens of \(columns)")
        }
    }

    static func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count * MemoryLayout<T>.size)
        bytes.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.littleEndian, toByteOffset: i * MemoryLayout<T>.size, as: T.self) }
        }
        return bytes
    }
}

/// Reads a token-level `.safetensors` file (`TokenFeaturesFile`) text by text, for `featurize merge`: the
/// header and the `offsets` tensor are read at open, every text's slices when asked.
public final class TokenFeaturesReader: TokenFeatureParts {
    public let path: String
    public let columns: Int
    public let dtype: FeatureDType
    /// `[texts + 1]` token offsets.
    public let offsets: [Int]
    /// String metadata of the file.
    public let metadata: [String: String]
    public var texts: Int { offsets.count - 1 }
    public var totalTokens: Int { offsets.last ?? 0 }
    public var partCount: Int { texts }
    private let fd: Int32
    private var starts: [String: Int] = [:]
    private let bodyStart: Int

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FeatureIOError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { close(fd); throw FeatureIOError.readFailed(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(info.st_size)
        func fail(_ reason: String) -> FeatureIOError { .invalidShape(path: path, reason: "not a token-level safetensors file: \(reason)") }
        do {
            let lengthBytes = try Self.read(fd, at: 0, count: 8, path: path)
            let rawLength = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            guard rawLength > 1, rawLength <= UInt64(max(0, min(size - 8, 100 << 20))) else { throw fail("header length \(rawLength)") }
            let length = Int(rawLength)
            bodyStart = 8 + length
            let header: JSONValue
            do { header = try JSONScanner.parse(try Self.read(fd, at: 8, count: length, path: path)) } catch let e as JSONParseError {
                throw fail("header: \(e)")
            }
            var meta: [String: String] = [:]
            if case let .object(members)? = header["__metadata__"] {
                for (k, v) in members { if case let .string(s) = v { meta[k] = s } }
            }
            metadata = meta
            func tensor(_ name: String, _ type: [String], rank: Int) throws -> (type: String, shape: [Int], begin: Int, end: Int) {
                guard let t = header[name], case let .string(dtype)? = t["dtype"], type.contains(dtype),
                      case let .array(shapeValues)? = t["shape"], shapeValues.count == rank,
                      case let .array(range)? = t["data_offsets"], range.count == 2 else { throw fail("tensor \(name) missing or not \(type.joined(separator: "/")) of rank \(rank)") }
                let shape = try shapeValues.map { v -> Int in
                    guard case let .value(n)? = v.integerReading, n >= 0, n <= 1 << 40 else { throw fail("\(name) shape") }
                    return n
                }
                let ends = try range.map { v -> Int in
                    guard case let .value(n)? = v.integerReading, n >= 0, n <= size - 8 - length else { throw fail("\(name) data_offsets") }
                    return n
                }
                let width = dtype == "F16" ? 2 : dtype == "I32" || dtype == "F32" ? 4 : 8
                var bytes = width
                for n in shape {
                    let (product, overflow) = bytes.multipliedReportingOverflow(by: n)
                    guard !overflow else { throw fail("\(name) shape \(shape) is too large") }
                    bytes = product
                }
                guard ends[1] - ends[0] == bytes else { throw fail("\(name) data_offsets do not match its shape") }
                return (dtype, shape, ends[0], ends[1])
            }
            let features = try tensor("features", ["F32", "F16"], rank: 2)
            let offsetsTensor = try tensor("offsets", ["I64"], rank: 1)
            let ids = try tensor("token_ids", ["I32"], rank: 1)
            let chars = try tensor("char_offsets", ["I64"], rank: 2)
            columns = features.shape[1]
            dtype = features.type == "F16" ? .float16 : .float32
            let raw = try Self.read(fd, at: bodyStart + offsetsTensor.begin, count: offsetsTensor.end - offsetsTensor.begin, path: path)
            var values: [Int] = []
            values.reserveCapacity(raw.count / 8)
            raw.withUnsafeBytes { r in
                for i in 0..<(raw.count / 8) { values.append(Int(Int64(littleEndian: r.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))) }
            }
            guard values.first == 0, zip(values, values.dropFirst()).allSatisfy({ $0 <= $1 }),
                  values.last == features.shape[0], ids.shape[0] == features.shape[0], chars.shape == [features.shape[0], 2] else {
                throw fail("offsets, token_ids and char_offsets do not agree with features")
            }
            offsets = values
            starts = ["features": features.begin, "token_ids": ids.begin, "char_offsets": chars.begin]
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    public func tokens(ofPart index: Int) throws -> [TextTokens] { [try tokens(ofText: index)] }
    public func features(ofPart index: Int) throws -> [Float] { try features(ofText: index) }

    /// Text `index`'s token ids and character offsets.
    public func tokens(ofText index: Int) throws -> TextTokens {
        let a = offsets[index], n = offsets[index + 1] - a
        let idBytes = try Self.read(fd, at: bodyStart + starts["token_ids"]! + a * 4, count: n * 4, path: path)
        let charBytes = try Self.read(fd, at: bodyStart + starts["char_offsets"]! + a * 16, count: n * 16, path: path)
        var ids: [Int32] = [], chars: [(start: Int, end: Int)] = []
        idBytes.withUnsafeBytes { r in for i in 0..<n { ids.append(Int32(littleEndian: r.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) } }
        charBytes.withUnsafeBytes { r in
            for i in 0..<n {
                chars.append((Int(Int64(littleEndian: r.loadUnaligned(fromByteOffset: 16 * i, as: Int64.self))),
                              Int(Int64(littleEndian: r.loadUnaligned(fromByteOffset: 16 * i + 8, as: Int64.self)))))
            }
        }
        return TextTokens(ids: ids, offsets: chars)
    }

    /// Text `index`'s features, `[tokens, columns]` float32 (float16 files widened).
    public func features(ofText index: Int) throws -> [Float] {
        let a = offsets[index], n = (offsets[index + 1] - a) * columns
        let width = dtype.byteSize
        let bytes = try Self.read(fd, at: bodyStart + starts["features"]! + a * columns * width, count: n * width, path: path)
        var values = [Float](repeating: 0, count: n)
        bytes.withUnsafeBytes { r in
            for i in 0..<n {
                values[i] = width == 4 ? Float(bitPattern: UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    : halfBitsToFloat(UInt16(littleEndian: r.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        }
        return values
    }

    static func read(_ fd: Int32, at offset: Int, count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FeatureIOError.readFailed(path: path, reason: n == 0 ? "file ends at byte \(offset + done)" : String(cString: strerror(errno))) }
            done += n
        }
        return bytes
    }
}
