import DataFormats
import Foundation

/// Errors reading or writing `.npy` files; each names the file.
public enum NpyError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, reason: String)
    case badMagic(path: String)
    case unsupportedVersion(path: String, major: UInt8)
    case badHeader(path: String, reason: String)
    case unsupportedDType(path: String, descr: String)
    case fortranOrder(path: String)
    case unsupportedShape(path: String, shape: [Int])
    case sizeMismatch(path: String, shape: [Int], expectedBytes: Int, actualBytes: Int)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(p, r): return "cannot read .npy file '\(p)': \(r)"
        case let .badMagic(p): return "'\(p)' is not a .npy file (missing \\x93NUMPY magic)"
        case let .unsupportedVersion(p, m): return "'\(p)': unsupported .npy format version \(m) (expected 1, 2 or 3)"
        case let .badHeader(p, r): return "'\(p)': malformed .npy header: \(r)"
        case let .unsupportedDType(p, d):
            return "'\(p)': unsupported dtype '\(d)' (expected little-endian float16 '<f2', float32 '<f4' or float64 '<f8')"
        case let .fortranOrder(p):
            return "'\(p)': Fortran-ordered arrays are not supported; save with np.ascontiguousarray(x)"
        case let .unsupportedShape(p, s): return "'\(p)': expected a 2-D array [rows, columns], got shape \(s)"
        case let .sizeMismatch(p, s, e, a):
            return "'\(p)': shape \(s) needs \(e) data bytes but the file has \(a)"
        case let .cannotWrite(p, r): return "cannot write .npy file '\(p)': \(r)"
        }
    }
}

/// Reads NumPy `.npy` files holding a C-ordered 2-D float array `[rows, columns]`.
public enum NpyReader {
    /// Reads `path` (float16/float32/float64, little-endian, C order) as a Float32 matrix `[rows, columns]`.
    public static func readMatrix(path: String) throws -> FeatureMatrix {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw NpyError.cannotRead(path: path, reason: FileManager.default.fileExists(atPath: path)
                                      ? error.localizedDescription : "no such file")
        }
        return try parse(data, path: path)
    }

    /// Parses the bytes of a `.npy` file; `path` is used in error messages.
    public static func parse(_ data: Data, path: String) throws -> FeatureMatrix {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw NpyError.badMagic(path: path) }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NpyError.badHeader(path: path, reason: "file truncated") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw NpyError.unsupportedVersion(path: path, major: major)
        }
        let dataStart = headerStart + headerLength
        guard dataStart <= bytes.count else {
            throw NpyError.badHeader(path: path, reason: "header length \(headerLength) runs past the end of the file")
        }
        guard let header = String(bytes: bytes[headerStart..<dataStart], encoding: major == 3 ? .utf8 : .isoLatin1)
        else { throw NpyError.badHeader(path: path, reason: "header is not text") }

        let descr = try stringValue(forKey: "descr", in: header, path: path)
        let fortran = try rawValue(forKey: "fortran_order", in: header, path: path)
        let shape = try shapeValue(in: header, path: path)
        guard fortran == "False" else {
            if fortran == "True" { throw NpyError.fortranOrder(path: path) }
            throw NpyError.badHeader(path: path, reason: "fortran_order is '\(fortran)'")
        }
        let itemSize: Int
        switch descr {
        case "<f2": itemSize = 2
        case "<f4": itemSize = 4
        case "<f8": itemSize = 8
        default: throw NpyError.unsupportedDType(path: path, descr: descr)
        }
        guard shape.count == 2 else { throw NpyError.unsupportedShape(path: path, shape: shape) }
        let rows = shape[0], columns = shape[1]
        let (count, overflow) = rows.multipliedReportingOverflow(by: columns)
        let (expectedBytes, overflow2) = count.multipliedReportingOverflow(by: itemSize)
        let actualBytes = bytes.count - dataStart
        guard !overflow, !overflow2, expectedBytes == actualBytes else {
            throw NpyError.sizeMismatch(path: path, shape: shape, expectedBytes: overflow || overflow2 ? Int.max : expectedBytes,
                                        actualBytes: actualBytes)
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart
            switch itemSize {
            case 4:
                for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case 8:
                for i in 0..<count { values[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            default:
                for i in 0..<count { values[i] = halfBitsToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            }
        }
        return try FeatureMatrix(values: values, rows: rows, columns: columns)
    }

    private static func rawValue(forKey key: String, in header: String, path: String) throws -> String {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else {
            throw NpyError.badHeader(path: path, reason: "missing key '\(key)'")
        }
        var rest = header[keyRange.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { throw NpyError.badHeader(path: path, reason: "no ':' after '\(key)'") }
        rest = rest.dropFirst().drop { $0 == " " }
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return String(rest[..<end]).trimmingCharacters(in: .whitespaces)
    }

    private static func stringValue(forKey key: String, in header: String, path: String) throws -> String {
        let raw = try rawValue(forKey: key, in: header, path: path)
        guard raw.count >= 2, let q = raw.first, q == "'" || q == "\"", raw.last == q else {
            throw NpyError.badHeader(path: path, reason: "'\(key)' is not a string: \(raw)")
        }
        return String(raw.dropFirst().dropLast())
    }

    private static func shapeValue(in header: String, path: String) throws -> [Int] {
        guard let keyRange = header.range(of: "'shape'"),
              let open = header[keyRange.upperBound...].firstIndex(of: "("),
              let close = header[open...].firstIndex(of: ")") else {
            throw NpyError.badHeader(path: path, reason: "missing or malformed 'shape'")
        }
        let inner = header[header.index(after: open)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            guard let value = Int(text), value >= 0 else {
                throw NpyError.badHeader(path: path, reason: "bad shape entry '\(text)'")
            }
            shape.append(value)
        }
        return shape
    }
}

/// Writes whole arrays as C-ordered little-endian `.npy` files (format version 1.0) in one go: float32
/// matrices, float64 arrays and raw bodies (fixtures, tests). Streaming feature output uses `NpyWriter`.
public enum NpyArrayFile {
    /// Writes `matrix` as float32 `[rows, columns]` to `path`.
    public static func write(_ matrix: FeatureMatrix, to path: String) throws {
        var body = Data(capacity: matrix.values.count * 4)
        for v in matrix.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        try write(descr: "<f4", shape: [matrix.rows, matrix.columns], body: body, to: path)
    }

    /// Writes Float64 values of shape `shape` (row-major) to `path`.
    public static func write(float64 values: [Double], shape: [Int], to path: String) throws {
        var body = Data(capacity: values.count * 8)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        try write(descr: "<f8", shape: shape, body: body, to: path)
    }

    public static func write(descr: String, shape: [Int], body: Data, to path: String) throws {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let length = UInt16(header.utf8.count)
        data.append(UInt8(length & 0xFF)); data.append(UInt8(length >> 8))
        data.append(contentsOf: Array(header.utf8))
        data.append(body)
        do { try data.write(to: URL(fileURLWithPath: path)) } catch {
            throw NpyError.cannotWrite(path: path, reason: error.localizedDescription)
        }
    }
}
