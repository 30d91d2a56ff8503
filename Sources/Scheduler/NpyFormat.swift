import Foundation

/// Element type of a feature matrix on disk.
public enum FeatureDType: String, Codable, Sendable, CaseIterable {
    case f32, f16
    public var byteSize: Int { self == .f32 ? 4 : 2 }
    var npyDescr: String { self == .f32 ? "<f4" : "<f2" }
    var safetensorsName: String { self == .f32 ? "F32" : "F16" }

    /// Little-endian bytes of `row` in this dtype.
    public func encode(_ row: [Float], into bytes: inout [UInt8]) {
        switch self {
        case .f32:
            for v in row { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        case .f16:
            for v in row { withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
    }
}

/// The `.npy` v1.0 header (NumPy's format: magic, version, little-endian header length, a Python dict literal
/// padded with spaces to a multiple of 64 bytes, ending in a newline).
public enum NpyFormat {
    public static func header(rows: Int, cols: Int, dtype: FeatureDType) -> [UInt8] {
        var dict = "{'descr': '\(dtype.npyDescr)', 'fortran_order': False, 'shape': (\(rows), \(cols)), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let len = UInt16(dict.utf8.count)
        out += [UInt8(len & 0xff), UInt8(len >> 8)]
        out += Array(dict.utf8)
        return out
    }

    /// Parses a `.npy` header of a C-ordered 2-D float32/float16 matrix: (rows, cols, dtype, data offset).
    public static func parseHeader(_ data: Data, path: String) throws -> (rows: Int, cols: Int, dtype: FeatureDType, offset: Int) {
        let bytes = [UInt8](data.prefix(10))
        guard bytes.count == 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw SchedulerError.io(path: path, detail: "not a .npy file (bad magic)")
        }
        let major = bytes[6]
        var headerLen = 0, start = 10
        if major == 1 {
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
        } else if major == 2 || major == 3 {
            let b = [UInt8](data.prefix(12))
            guard b.count == 12 else { throw SchedulerError.io(path: path, detail: "truncated .npy header") }
            headerLen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24
            start = 12
        } else {
            throw SchedulerError.io(path: path, detail: "unsupported .npy version \(major)")
        }
        guard data.count >= start + headerLen,
              let text = String(data: data.subdata(in: start..<(start + headerLen)), encoding: .ascii) else {
            throw SchedulerError.io(path: path, detail: "truncated .npy header")
        }
        let dtype: FeatureDType
        if text.contains("'<f4'") { dtype = .f32 } else if text.contains("'<f2'") { dtype = .f16 } else {
            throw SchedulerError.io(path: path, detail: "unsupported dtype in header \(text.trimmingCharacters(in: .whitespacesAndNewlines)); expected <f4 or <f2")
        }
        guard text.contains("'fortran_order': False") else {
            throw SchedulerError.io(path: path, detail: "Fortran-ordered arrays are not supported")
        }
        guard let open = text.range(of: "'shape': ("), let close = text[open.upperBound...].firstIndex(of: ")") else {
            throw SchedulerError.io(path: path, detail: "no shape in .npy header")
        }
        let dims = text[open.upperBound..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.map { Int($0) ?? -1 } // a non-integer entry is an error, not dropped
        guard dims.count == 2, dims[0] >= 0, dims[1] >= 0 else {
            throw SchedulerError.io(path: path, detail: "expected a 2-D matrix, header says shape (\(text[open.upperBound..<close]))")
        }
        let offset = start + headerLen
        // Overflow-checked: a header may declare any shape (found by the npy-header fuzz target).
        let (rowBytes, rowOverflow) = dims[1].multipliedReportingOverflow(by: dtype.byteSize)
        let (size, overflow) = dims[0].multipliedReportingOverflow(by: rowBytes)
        guard !rowOverflow, !overflow else {
            throw SchedulerError.io(path: path, detail: "shape (\(dims[0]), \(dims[1])) is too large (byte size overflows)")
        }
        guard data.count - offset == size else {
            throw SchedulerError.io(path: path, detail: "file has \(data.count - offset) data bytes, shape (\(dims[0]), \(dims[1])) needs \(size)")
        }
        return (dims[0], dims[1], dtype, offset)
    }
}
