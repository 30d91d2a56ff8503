import DataFormats
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Element type of written feature matrices.
public enum FeatureDType: String, Sendable, CaseIterable {
    /// IEEE binary32, little-endian.
    case float32
    /// IEEE binary16, little-endian, rounded to nearest even (values beyond ±65504 become ±inf).
    case float16

    var byteSize: Int { self == .float32 ? 4 : 2 }
}

/// Output container of a feature matrix, chosen from the output file's extension.
public enum FeatureOutputFormat: String, Sendable, CaseIterable {
    /// NumPy `.npy` (`NpyWriter`).
    case npy
    /// `.safetensors` with one tensor (`SafetensorsWriter`).
    case safetensors
    /// JSON Lines, one array of numbers per row (`JSONLinesFeatureWriter`).
    case jsonl

    /// The format for an output path's extension (`.npy`, `.safetensors`, `.jsonl`/`.ndjson`); nil otherwise.
    public init?(path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: ".") else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "npy": self = .npy
        case "safetensors": self = .safetensors
        case "jsonl", "ndjson": self = .jsonl
        default: return nil
        }
    }
}

/// Opens the writer for `path`'s format (or `format` when given, e.g. for standard output `-`).
/// `metadata` goes into safetensors' `__metadata__` (ignored by the other formats).
public func makeFeatureWriter(path: String, columns: Int, dtype: FeatureDType = .float32,
                              format: FeatureOutputFormat? = nil,
                              metadata: [String: String] = [:]) throws -> any FeatureWriter {
    guard let format = format ?? FeatureOutputFormat(path: path) else {
        throw FeatureIOError.unknownOutputFormat(path: path)
    }
    switch format {
    case .npy: return try NpyWriter(path: path, columns: columns, dtype: dtype)
    case .safetensors: return try SafetensorsWriter(path: path, columns: columns, dtype: dtype, metadata: metadata)
    case .jsonl: return try JSONLinesFeatureWriter(path: path, columns: columns, dtype: dtype)
    }
}

/// A writer of a `[rows, columns]` feature matrix, row by row, without knowing the row count in advance.
public protocol FeatureWriter: AnyObject {
    var path: String { get }
    /// Values per row.
    var columns: Int { get }
    var dtype: FeatureDType { get }
    /// Rows appended so far.
    var rowCount: Int { get }
    /// Appends one row of `columns` values.
    func append(row: [Float]) throws
    /// Appends `values.count / columns` rows stored row-major (`[rows, columns]`).
    func append(rows values: [Float]) throws
    /// Completes the header with the final row count and closes the output. Call exactly once.
    func finish() throws
}

/// The file mechanics shared by the writers.
///
/// Data goes to a temporary file next to `path` (`path` + `.partial`) whose fixed-size header is completed
/// by `finish()`, which then renames it to `path`; an unfinished writer removes its temporary file, so a
/// failed run never leaves a truncated output behind. Path `-` writes to standard output: the rows are
/// kept in memory and written by `finish()`.
final class MatrixFileSink {
    let path: String
    let columns: Int
    let dtype: FeatureDType
    private(set) var rowCount = 0
    /// Size of the header reserved at the start of the file.
    let headerSize: Int
    private let makeHeader: (_ rows: Int) -> [UInt8]

    private var fd: Int32 = -1
    private let temporaryPath: String?
    private var pending: [UInt8] = []
    private var finished = false
    private static let flushThreshold = 1 << 20
    /// Descriptor that path `-` writes to; tests bind it to a file for their own task only.
    @TaskLocal static var standardOutputDescriptor: Int32 = 1

    /// Rows as JSON text (one array per line) instead of little-endian binary.
    private let jsonLines: Bool

    init(path: String, columns: Int, dtype: FeatureDType, headerSize: Int, jsonLines: Bool = false,
         makeHeader: @escaping (_ rows: Int) -> [UInt8]) throws {
        self.jsonLines = jsonLines
        guard columns > 0 else {
            throw FeatureIOError.invalidShape(path: path, reason: "feature width must be positive, got \(columns)")
        }
        self.path = path
        self.columns = columns
        self.dtype = dtype
        self.headerSize = headerSize
        self.makeHeader = makeHeader
        if path == "-" {
            temporaryPath = nil
            fd = MatrixFileSink.standardOutputDescriptor
        } else {
            let temporary = path + ".partial"
            let opened = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard opened >= 0 else {
                throw FeatureIOError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
            }
            fd = opened
            temporaryPath = temporary
            pending = [UInt8](repeating: 0x20, count: headerSize) // placeholder, completed by finish()
        }
    }

    deinit {
        if let temporaryPath, !finished {
            close(fd)
            unlink(temporaryPath)
        }
    }

    func append(row: [Float]) throws {
        guard row.count == columns else {
            throw FeatureIOError.rowWidthMismatch(path: path, expected: columns, found: row.count)
        }
        try append(rows: row)
    }

    func append(rows values: [Float]) throws {
        guard !finished else { throw FeatureIOError.writerFinished(path: path) }
        guard values.count % columns == 0 else {
            throw FeatureIOError.valueCountNotMultipleOfWidth(path: path, width: columns, count: values.count)
        }
        if jsonLines {
            appendJSONLines(values)
        } else {
            let oldCount = pending.count
            let byteSize = dtype.byteSize
            pending.append(contentsOf: repeatElement(0, count: values.count * byteSize))
            values.withUnsafeBufferPointer { source in
                pending.withUnsafeMutableBytes { raw in
                    let destination = raw.baseAddress! + oldCount
                    switch dtype {
                    case .float32:
                        #if _endian(little)
                        if let base = source.baseAddress { destination.copyMemory(from: base, byteCount: source.count * 4) }
                        #else
                        for i in 0..<source.count {
                            destination.storeBytes(of: source[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                        }
                        #endif
                    case .float16:
                        for i in 0..<source.count {
                            destination.storeBytes(of: floatToHalfBits(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                        }
                    }
                }
            }
        }
        rowCount += values.count / columns
        // Standard output can be streamed only when there is no header to complete at the end.
        if (temporaryPath != nil || headerSize == 0) && pending.count >= MatrixFileSink.flushThreshold { try flush() }
    }

    /// Appends each row as `[v1,v2,...]\n`, values in the shortest form that reads back to the same float32
    /// (float16 output: the value rounded to half precision first). NaN and infinities become `null`.
    private func appendJSONLines(_ values: [Float]) {
        var index = 0
        while index < values.count {
            pending.append(UInt8(ascii: "["))
            for column in 0..<columns {
                if column > 0 { pending.append(UInt8(ascii: ",")) }
                var value = values[index + column]
                if dtype == .float16 { value = halfBitsToFloat(floatToHalfBits(value)) }
                if value.isFinite {
                    pending.append(contentsOf: value.description.utf8)
                } else {
                    pending.append(contentsOf: "null".utf8)
                }
            }
            pending.append(contentsOf: "]\n".utf8)
            index += columns
        }
    }

    private func writeAll(_ bytes: [UInt8], at offset: Int?) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                let base = raw.baseAddress! + done
                if let offset { return pwrite(fd, base, bytes.count - done, off_t(offset + done)) }
                return write(fd, base, bytes.count - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FeatureIOError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            done += n
        }
    }

    private func flush() throws {
        try writeAll(pending, at: nil)
        pending.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        guard !finished else { throw FeatureIOError.writerFinished(path: path) }
        let header = makeHeader(rowCount)
        precondition(header.count == headerSize, "header size is fixed when the writer opens")
        if let temporaryPath {
            try flush()
            try writeAll(header, at: 0)
            finished = true
            guard close(fd) == 0 else {
                unlink(temporaryPath)
                throw FeatureIOError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            guard rename(temporaryPath, path) == 0 else {
                let reason = String(cString: strerror(errno))
                unlink(temporaryPath)
                throw FeatureIOError.writeFailed(path: path, reason: reason)
            }
        } else {
            finished = true
            try writeAll(header + pending, at: nil)
            pending = []
        }
    }
}

/// Writes a NumPy `.npy` file (format version 1.0) holding a C-order `[rows, columns]` array of `<f4`
/// (float32) or `<f2` (float16), readable by `numpy.load`.
public final class NpyWriter: FeatureWriter {
    /// Total header size including the 10-byte preamble: a multiple of 64 as numpy writes it, with room for
    /// any row count.
    static let reservedHeaderSize = 128

    private let sink: MatrixFileSink
    public var path: String { sink.path }
    public var columns: Int { sink.columns }
    public var dtype: FeatureDType { sink.dtype }
    public var rowCount: Int { sink.rowCount }

    /// Opens `path` (`-` for standard output) for a `[rows, columns]` array of `dtype`.
    public init(path: String, columns: Int, dtype: FeatureDType = .float32) throws {
        sink = try MatrixFileSink(path: path, columns: columns, dtype: dtype, headerSize: NpyWriter.reservedHeaderSize) {
            NpyWriter.header(rows: $0, columns: columns, dtype: dtype)
        }
    }

    public func append(row: [Float]) throws { try sink.append(row: row) }
    public func append(rows values: [Float]) throws { try sink.append(rows: values) }
    public func finish() throws { try sink.finish() }

    static func header(rows: Int, columns: Int, dtype: FeatureDType) -> [UInt8] {
        let descr = dtype == .float32 ? "<f4" : "<f2"
        var dict = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(rows), \(columns)), }".utf8)
        let total = NpyWriter.reservedHeaderSize
        let headerLength = total - 10
        dict += [UInt8](repeating: 0x20, count: headerLength - 1 - dict.count)
        dict.append(0x0A)
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(headerLength & 0xFF), UInt8(headerLength >> 8)] + dict
    }
}

/// Writes a `.safetensors` file holding one `[rows, columns]` tensor (F32 or F16), named `tensorName`, with
/// optional string metadata (`__metadata__`).
public final class SafetensorsWriter: FeatureWriter {
    public let tensorName: String
    public let metadata: [String: String]

    private let sink: MatrixFileSink
    public var path: String { sink.path }
    public var columns: Int { sink.columns }
    public var dtype: FeatureDType { sink.dtype }
    public var rowCount: Int { sink.rowCount }

    /// Opens `path` (`-` for standard output) for one `[rows, columns]` tensor of `dtype` named `tensorName`.
    public init(path: String, columns: Int, dtype: FeatureDType = .float32, tensorName: String = "features",
                metadata: [String: String] = [:]) throws {
        self.tensorName = tensorName
        self.metadata = metadata
        let longest = SafetensorsWriter.headerJSON(tensorName: tensorName, metadata: metadata, dtype: dtype,
                                                   rows: Int.max, columns: columns, byteCount: Int.max)
        // 8-byte size prefix + JSON padded with spaces to a multiple of 8 (data stays 8-byte aligned).
        let jsonLength = (longest.count + 7) / 8 * 8
        sink = try MatrixFileSink(path: path, columns: columns, dtype: dtype, headerSize: 8 + jsonLength) { rows in
            SafetensorsWriter.header(rows: rows, columns: columns, dtype: dtype, tensorName: tensorName,
                                     metadata: metadata, jsonLength: jsonLength)
        }
    }

    public func append(row: [Float]) throws { try sink.append(row: row) }
    public func append(rows values: [Float]) throws { try sink.append(rows: values) }
    public func finish() throws { try sink.finish() }

    static func escape(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func headerJSON(tensorName: String, metadata: [String: String], dtype: FeatureDType, rows: Int,
                           columns: Int, byteCount: Int) -> [UInt8] {
        var json = "{"
        if !metadata.isEmpty {
            let entries = metadata.keys.sorted().map { escape($0) + ":" + escape(metadata[$0]!) }
            json += "\"__metadata__\":{" + entries.joined(separator: ",") + "},"
        }
        let dtypeName = dtype == .float32 ? "F32" : "F16"
        json += escape(tensorName) + ":{\"dtype\":\"\(dtypeName)\",\"shape\":[\(rows),\(columns)],\"data_offsets\":[0,\(byteCount)]}}"
        return Array(json.utf8)
    }

    static func header(rows: Int, columns: Int, dtype: FeatureDType, tensorName: String, metadata: [String: String],
                       jsonLength: Int) -> [UInt8] {
        var json = headerJSON(tensorName: tensorName, metadata: metadata, dtype: dtype, rows: rows,
                              columns: columns, byteCount: rows * columns * dtype.byteSize)
        json += [UInt8](repeating: 0x20, count: jsonLength - json.count)
        var prefix: [UInt8] = []
        for i in 0..<8 { prefix.append(UInt8((UInt64(jsonLength) >> (8 * UInt64(i))) & 0xFF)) }
        return prefix + json
    }
}

/// Writes features as JSON Lines: one JSON array of `columns` numbers per row, rows in input order. Values use
/// the shortest decimal form that reads back to the same float32 (with `.float16`, the half-precision value);
/// NaN and infinities, which JSON cannot represent, are written as `null`. Standard output (`-`) is streamed.
public final class JSONLinesFeatureWriter: FeatureWriter {
    private let sink: MatrixFileSink
    public var path: String { sink.path }
    public var columns: Int { sink.columns }
    public var dtype: FeatureDType { sink.dtype }
    public var rowCount: Int { sink.rowCount }

    public init(path: String, columns: Int, dtype: FeatureDType = .float32) throws {
        sink = try MatrixFileSink(path: path, columns: columns, dtype: dtype, headerSize: 0, jsonLines: true) { _ in [] }
    }

    public func append(row: [Float]) throws { try sink.append(row: row) }
    public func append(rows values: [Float]) throws { try sink.append(rows: values) }
    public func finish() throws { try sink.finish() }
}
