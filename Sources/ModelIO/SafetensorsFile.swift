import DataFormats

/// Element types of the safetensors format (names as they appear in the header).
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case BOOL, U8, I8, I16, U16, I32, U32, I64, U64
    case F16, BF16, F32, F64, C64
    case F8_E5M2, F8_E4M3, F8_E8M0, F4, F6_E2M3, F6_E3M2

    /// Size of one element in bits (sub-byte types exist: F4, F6_*).
    public var bitSize: Int {
        switch self {
        case .F4: return 4
        case .F6_E2M3, .F6_E3M2: return 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0: return 8
        case .I16, .U16, .F16, .BF16: return 16
        case .I32, .U32, .F32: return 32
        case .I64, .U64, .F64, .C64: return 64
        }
    }

    /// Whether `SafetensorsFile.tensor(_:)` converts this type to float32.
    public var convertsToFloat32: Bool { [.F32, .F16, .BF16, .F64].contains(self) }

    /// Whether `SafetensorsFile.integerTensor(_:)` reads this type.
    public var isInteger: Bool { [.BOOL, .U8, .I8, .I16, .U16, .I32, .U32, .I64, .U64].contains(self) }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range inside the data section (which starts after the 8-byte prefix and the header).
    public var dataOffsets: Range<Int>
}

/// A memory-mapped, fully validated `.safetensors` file.
///
/// Layout: 8-byte little-endian header size `n`, `n` bytes of UTF-8 JSON header, then the data section.
/// (Cross-checked against the reference by scripts/checks/safetensors_reference_rejections.py.)
/// The header is validated like the format's reference implementation (the Rust `safetensors` crate):
/// header size within the file and at most 100 MB, UTF-8 JSON object, `__metadata__` a string→string map,
/// every tensor with a known dtype, non-negative shape and offsets whose byte span equals
/// `product(shape) * sizeof(dtype)`, and the tensors tile the data section exactly (no overlap, no hole,
/// no trailing bytes). All arithmetic is overflow-checked. Duplicate tensor names are rejected.
///
/// The file stays mapped for the lifetime of this object; `tensor(_:)` copies (and converts) the bytes
/// into a new `HostTensor`, so returned tensors do not depend on the mapping. Keep the `SafetensorsFile`
/// alive while using `withUnsafeRawBytes(of:_:)`. Reads are thread-safe (the object is immutable).
public final class SafetensorsFile: WeightStore, @unchecked Sendable {
    /// Maximum header size accepted (same limit as the reference implementation).
    public static let maxHeaderSize = 100_000_000

    /// File extensions that hold PyTorch pickles; refused with a conversion hint.
    public static let pickleExtensions = ["bin", "pt", "pth", "ckpt", "pkl", "pickle"]

    public let path: String
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    public let tensorNames: [String]
    /// Size of the whole file in bytes.
    public var fileSize: Int { file.count }

    private let file: MappedFile
    private let infos: [String: SafetensorsTensorInfo]
    /// Byte offset of the data section in the file.
    private let dataStart: Int

    /// Maps and validates the file at `path`. Throws `ModelIOError` naming the file (and tensor).
    public init(path: String) throws {
        if SafetensorsFile.isPickleFileName(path) { throw ModelIOError.pickleWeights(path: path) }
        let file = try MappedFile(path: path)
        self.file = file
        self.path = path
        let parsed = try SafetensorsFile.parseHeader(file.bytes, path: path)
        self.metadata = parsed.metadata
        self.infos = parsed.infos
        self.dataStart = parsed.dataStart
        self.tensorNames = parsed.infos.keys.sorted()
    }

    /// Whether a file name has a PyTorch pickle extension (`.bin`, `.pt`, `.pth`, `.ckpt`, `.pkl`, `.pickle`).
    public static func isPickleFileName(_ path: String) -> Bool {
        let fileName = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = fileName.lastIndex(of: ".") else { return false }
        return pickleExtensions.contains(fileName[fileName.index(after: dot)...].lowercased())
    }

    /// The header entry of a tensor, or nil if absent.
    public func info(of name: String) -> SafetensorsTensorInfo? { infos[name] }

    public func shape(of name: String) -> [Int]? { infos[name]?.shape }

    /// The tensor converted to float32 (F32, F16, BF16, F64), shape as in the header.
    public func tensor(_ name: String) throws -> HostTensor {
        guard let info = infos[name] else { throw ModelIOError.tensorNotFound(path: path, tensor: name) }
        guard info.dtype.convertsToFloat32 else {
            throw ModelIOError.notAFloatTensor(path: path, tensor: name, dtype: info.dtype.rawValue)
        }
        let count = info.shape.reduce(1, *) // validated: no overflow
        let source = UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + info.dataOffsets.lowerBound)..<(dataStart + info.dataOffsets.upperBound)])
        let values = [Float](unsafeUninitializedCapacity: count) { out, initialized in
            SafetensorsFile.convert(source, dtype: info.dtype, count: count, into: out)
            initialized = count
        }
        return HostTensor(shape: info.shape, values: values)
    }

    /// The tensor's float32 values for the duration of `body`: the mapped bytes themselves when the tensor is
    /// F32 (little-endian host) at a 4-byte aligned address, else converted into a temporary buffer.
    public func withFloat32Values<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        guard let info = infos[name] else { throw ModelIOError.tensorNotFound(path: path, tensor: name) }
        guard info.dtype.convertsToFloat32 else {
            throw ModelIOError.notAFloatTensor(path: path, tensor: name, dtype: info.dtype.rawValue)
        }
        let count = info.shape.reduce(1, *) // validated: no overflow
        return try withExtendedLifetime(file) {
            let source = UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + info.dataOffsets.lowerBound)..<(dataStart + info.dataOffsets.upperBound)])
            #if _endian(little)
            if info.dtype == .F32, let base = source.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
                return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: count))
            }
            #endif
            if count == 0 { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
            return try withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { out in
                SafetensorsFile.convert(source, dtype: info.dtype, count: count, into: out)
                return try body(UnsafeBufferPointer(out))
            }
        }
    }

    /// An integer tensor (BOOL, U8, I8, I16, U16, I32, U32, I64, U64) as `Int64` values, e.g. `position_ids`.
    public func integerTensor(_ name: String) throws -> (shape: [Int], values: [Int64]) {
        guard let info = infos[name] else { throw ModelIOError.tensorNotFound(path: path, tensor: name) }
        guard info.dtype.isInteger else {
            throw ModelIOError.notAnIntegerTensor(path: path, tensor: name, dtype: info.dtype.rawValue)
        }
        let count = info.shape.reduce(1, *)
        let base = dataStart + info.dataOffsets.lowerBound
        let bytes = file.bytes
        var values = [Int64](repeating: 0, count: count)
        for i in 0..<count {
            switch info.dtype {
            case .BOOL, .U8: values[i] = Int64(bytes[base + i])
            case .I8: values[i] = Int64(Int8(bitPattern: bytes[base + i]))
            case .I16: values[i] = Int64(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 2 * i, as: Int16.self)))
            case .U16: values[i] = Int64(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 2 * i, as: UInt16.self)))
            case .I32: values[i] = Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 4 * i, as: Int32.self)))
            case .U32: values[i] = Int64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 4 * i, as: UInt32.self)))
            case .I64: values[i] = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 8 * i, as: Int64.self))
            case .U64:
                let v = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: base + 8 * i, as: UInt64.self))
                guard let exact = Int64(exactly: v) else {
                    throw ModelIOError.arithmeticOverflow(path: path, tensor: name, field: "value at index \(i)")
                }
                values[i] = exact
            default: break
            }
        }
        return (info.shape, values)
    }

    /// Calls `body` with the tensor's raw little-endian bytes inside the mapping (no copy). The buffer is
    /// valid only during the call.
    public func withUnsafeRawBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let info = infos[name] else { throw ModelIOError.tensorNotFound(path: path, tensor: name) }
        return try withExtendedLifetime(file) {
            try body(UnsafeRawBufferPointer(rebasing: file.bytes[(dataStart + info.dataOffsets.lowerBound)..<(dataStart + info.dataOffsets.upperBound)]))
        }
    }

    // MARK: - Conversion

    static func convert(_ source: UnsafeRawBufferPointer, dtype: SafetensorsDType, count: Int,
                        into out: UnsafeMutableBufferPointer<Float>) {
        guard count > 0, let outBase = out.baseAddress else { return }
        switch dtype {
        case .F32:
            #if _endian(little)
            UnsafeMutableRawPointer(outBase).copyMemory(from: source.baseAddress!, byteCount: count * 4)
            #else
            for i in 0..<count {
                outBase[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            }
            #endif
        case .F16:
            for i in 0..<count {
                outBase[i] = halfBitsToFloat(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            }
        case .BF16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                outBase[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .F64:
            for i in 0..<count {
                outBase[i] = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        default:
            break // callers check `convertsToFloat32`
        }
    }

    // MARK: - Header validation

    struct ParsedHeader {
        var metadata: [String: String]
        var infos: [String: SafetensorsTensorInfo]
        var dataStart: Int
    }

    /// Whether the file starts like a PyTorch checkpoint (zip archive or raw pickle).
    static func looksLikePickle(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if bytes.count >= 4, bytes[0] == 0x50, bytes[1] == 0x4B, bytes[2] == 0x03, bytes[3] == 0x04 { return true }
        if bytes.count >= 2, bytes[0] == 0x80, (2...5).contains(bytes[1]) { return true }
        return false
    }

    static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> ParsedHeader {
        guard bytes.count >= 8 else { throw ModelIOError.fileTooSmall(path: path, size: bytes.count) }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared <= UInt64(maxHeaderSize) else {
            if looksLikePickle(bytes) { throw ModelIOError.pickleWeights(path: path) }
            throw ModelIOError.headerTooLarge(path: path, declaredSize: declared, limit: maxHeaderSize)
        }
        let headerSize = Int(declared)
        guard 8 + headerSize <= bytes.count else {
            if looksLikePickle(bytes) { throw ModelIOError.pickleWeights(path: path) }
            throw ModelIOError.headerBeyondFile(path: path, declaredSize: declared, fileSize: bytes.count)
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerSize)])
        if let bad = JSONScanner.firstInvalidUTF8Offset(header) {
            throw ModelIOError.headerNotUTF8(path: path, byteOffset: bad)
        }
        // The reference (safetensors 0.8) accepts JSON whitespace before the opening brace.
        guard let first = header.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }), first == UInt8(ascii: "{") else {
            throw ModelIOError.headerNotObject(path: path)
        }

        let json: JSONValue
        do {
            json = try JSONScanner.parse(header)
        } catch let error as JSONParseError {
            if case let .duplicateKey(key) = error.kind {
                if error.objectPath.isEmpty {
                    if key == "__metadata__" {
                        throw ModelIOError.headerInvalidJSON(path: path, detail: "__metadata__ appears more than once")
                    }
                    throw ModelIOError.duplicateTensorName(path: path, tensor: key)
                }
                if error.objectPath.first == "__metadata__" {
                    throw ModelIOError.metadataNotStringMap(path: path, key: key)
                }
                throw ModelIOError.tensorEntryInvalid(path: path, tensor: error.objectPath[0],
                                                      reason: "field \"\(key)\" appears more than once")
            }
            throw ModelIOError.headerInvalidJSON(path: path, detail: error.description)
        }
        guard case let .object(members) = json else { throw ModelIOError.headerNotObject(path: path) }

        let dataStart = 8 + headerSize
        let dataSize = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var infos: [String: SafetensorsTensorInfo] = [:]
        infos.reserveCapacity(members.count)

        for (name, value) in members {
            if name == "__metadata__" {
                switch value {
                case .null: continue
                case let .object(entries):
                    for (key, entry) in entries {
                        guard case let .string(text) = entry else {
                            throw ModelIOError.metadataNotStringMap(path: path, key: key)
                        }
                        metadata[key] = text
                    }
                default:
                    throw ModelIOError.metadataNotStringMap(path: path, key: nil)
                }
                continue
            }
            let info = try parseTensorEntry(name: name, value: value, path: path)
            if info.dataOffsets.upperBound > dataSize {
                throw ModelIOError.offsetsOutOfBounds(path: path, tensor: name, end: info.dataOffsets.upperBound,
                                                      dataSize: dataSize)
            }
            infos[name] = info
        }

        // The tensors must tile the data section: sorted by offsets, each begins where the previous ended.
        let ordered = infos.values.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound, $0.name)
                < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound, $1.name)
        }
        var cursor = 0
        var previous: String? = nil
        for info in ordered {
            let begin = info.dataOffsets.lowerBound
            if begin < cursor {
                throw ModelIOError.overlappingTensors(path: path, tensor: info.name, previous: previous ?? "")
            }
            if begin > cursor {
                throw ModelIOError.holeBeforeTensor(path: path, tensor: info.name, holeStart: cursor, holeEnd: begin)
            }
            cursor = info.dataOffsets.upperBound
            previous = info.name
        }
        if cursor != dataSize {
            throw ModelIOError.trailingBytes(path: path, dataEnd: cursor, dataSize: dataSize)
        }
        return ParsedHeader(metadata: metadata, infos: infos, dataStart: dataStart)
    }

    /// Reads a non-negative integer from a header number, mapping each failure to its own error.
    private static func headerInteger(_ value: JSONValue, tensor: String, field: String, path: String) throws -> Int {
        guard case let .number(text) = value else {
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: tensor,
                                                  reason: "\(field) is a \(value.kindName), not an integer")
        }
        let isNegative = text.hasPrefix("-") && text.contains(where: { $0 >= "1" && $0 <= "9" })
        switch JSONValue.readInteger(text) {
        case .notAnInteger:
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: tensor, reason: "\(field) is not an integer (\(text))")
        case _ where isNegative:
            throw ModelIOError.negativeValue(path: path, tensor: tensor, field: field, value: text)
        case .overflow:
            throw ModelIOError.arithmeticOverflow(path: path, tensor: tensor, field: field)
        case let .value(v):
            return v
        }
    }

    private static func parseTensorEntry(name: String, value: JSONValue, path: String) throws -> SafetensorsTensorInfo {
        guard case .object = value else {
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: name, reason: "entry is a \(value.kindName), not an object")
        }
        guard let dtypeValue = value["dtype"] else {
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: name, reason: "missing \"dtype\"")
        }
        guard case let .string(dtypeName) = dtypeValue else {
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: name, reason: "dtype is a \(dtypeValue.kindName), not a string")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw ModelIOError.unknownDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard let shapeValue = value["shape"] else {
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: name, reason: "missing \"shape\"")
        }
        guard case let .array(dims) = shapeValue else {
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: name, reason: "shape is a \(shapeValue.kindName), not an array")
        }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for (axis, dim) in dims.enumerated() {
            shape.append(try headerInteger(dim, tensor: name, field: "shape[\(axis)]", path: path))
        }
        guard let offsetsValue = value["data_offsets"] else {
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: name, reason: "missing \"data_offsets\"")
        }
        guard case let .array(offsets) = offsetsValue, offsets.count == 2 else {
            throw ModelIOError.tensorEntryInvalid(path: path, tensor: name, reason: "data_offsets is not an array [begin, end]")
        }
        let begin = try headerInteger(offsets[0], tensor: name, field: "data_offsets[0]", path: path)
        let end = try headerInteger(offsets[1], tensor: name, field: "data_offsets[1]", path: path)
        guard end >= begin else {
            throw ModelIOError.offsetsReversed(path: path, tensor: name, begin: begin, end: end)
        }

        var elements = 1
        for dim in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
            if overflow { throw ModelIOError.arithmeticOverflow(path: path, tensor: name, field: "element count of shape \(shape)") }
            elements = product
        }
        let (bits, bitsOverflow) = elements.multipliedReportingOverflow(by: dtype.bitSize)
        if bitsOverflow { throw ModelIOError.arithmeticOverflow(path: path, tensor: name, field: "byte size of shape \(shape)") }
        guard bits % 8 == 0 else { throw ModelIOError.misalignedSlice(path: path, tensor: name) }
        let byteSize = bits / 8
        guard byteSize == end - begin else {
            throw ModelIOError.shapeSpanMismatch(path: path, tensor: name, expectedBytes: byteSize, spanBytes: end - begin)
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }
}
