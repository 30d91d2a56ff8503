/// Every way reading a model directory, a safetensors file, a shard index or a configuration file can fail.
/// Each case names the file (and the tensor or field where there is one).
import DataFormats

public enum ModelIOError: Error, Sendable, Equatable, CustomStringConvertible {
    // MARK: Files
    case fileNotFound(path: String)
    case cannotRead(path: String, reason: String)

    // MARK: safetensors container
    /// Fewer than the 8 bytes of the header-size prefix (includes a zero-size file).
    case fileTooSmall(path: String, size: Int)
    /// The size prefix declares a header over the 100 MB limit.
    case headerTooLarge(path: String, declaredSize: UInt64, limit: Int)
    /// The size prefix declares a header that runs past the end of the file.
    case headerBeyondFile(path: String, declaredSize: UInt64, fileSize: Int)
    case headerNotUTF8(path: String, byteOffset: Int)
    /// The header does not start with `{` (after which it must be a JSON object).
    case headerNotObject(path: String)
    case headerInvalidJSON(path: String, detail: String)
    case duplicateTensorName(path: String, tensor: String)
    /// `__metadata__` is not an object whose values are all strings; `key` is the offending entry, if any.
    case metadataNotStringMap(path: String, key: String?)
    /// A tensor entry is not an object or lacks / mistypes `dtype`, `shape` or `data_offsets`.
    case tensorEntryInvalid(path: String, tensor: String, reason: String)
    case unknownDType(path: String, tensor: String, dtype: String)
    /// A shape dimension or data offset is negative.
    case negativeValue(path: String, tensor: String, field: String, value: String)
    /// A shape dimension, data offset, element count or byte size does not fit in a 64-bit integer.
    case arithmeticOverflow(path: String, tensor: String, field: String)
    /// `data_offsets` is `[begin, end]` with `end < begin`.
    case offsetsReversed(path: String, tensor: String, begin: Int, end: Int)
    /// The tensor's bytes lie (partly) outside the data section.
    case offsetsOutOfBounds(path: String, tensor: String, end: Int, dataSize: Int)
    /// The tensor's bytes overlap the previous tensor's bytes (`previous` ends after this one begins).
    case overlappingTensors(path: String, tensor: String, previous: String)
    /// Unused bytes between two tensors (or before the first one).
    case holeBeforeTensor(path: String, tensor: String, holeStart: Int, holeEnd: Int)
    /// The tensors end before the data section does.
    case trailingBytes(path: String, dataEnd: Int, dataSize: Int)
    /// `product(shape) * sizeof(dtype)` differs from `end - begin`.
    case shapeSpanMismatch(path: String, tensor: String, expectedBytes: Int, spanBytes: Int)
    /// A sub-byte dtype (F4, F6_*) whose element count does not fill whole bytes.
    case misalignedSlice(path: String, tensor: String)
    /// A PyTorch pickle (`pytorch_model.bin`, `*.bin`, `*.pt`, `*.pth`, `*.ckpt`) — refused: it can run code.
    case pickleWeights(path: String)

    // MARK: Tensor access
    case tensorNotFound(path: String, tensor: String)
    /// `tensor(_:)` on a dtype that is not converted to float32 (e.g. I64 `position_ids`).
    case notAFloatTensor(path: String, tensor: String, dtype: String)
    /// An integer accessor on a non-integer dtype.
    case notAnIntegerTensor(path: String, tensor: String, dtype: String)

    // MARK: Sharded weights
    case indexInvalid(path: String, reason: String)
    case shardMissing(indexPath: String, shard: String, tensor: String)
    case shardLacksTensor(indexPath: String, shard: String, tensor: String)

    // MARK: Configuration
    case configInvalidJSON(path: String, detail: String)
    case configMissingField(path: String, field: String)
    case configInvalidField(path: String, field: String, reason: String)
    case unknownModelType(path: String, modelType: String, supported: [String])

    // MARK: Model directory
    case notADirectory(path: String)
    case configNotFound(directory: String)
    case weightsNotFound(directory: String)
    /// Only pickle weights in the directory.
    case pickleOnlyDirectory(directory: String, files: [String])
    case tokenizerNotFound(directory: String)
    case sentenceTransformersInvalid(path: String, reason: String)
    /// A sentence-transformers module this implementation does not run (e.g. `Dense`).
    case unsupportedModule(path: String, module: String, type: String)

    static let conversionHint =
        "convert it to safetensors, e.g. in Python: `from safetensors.torch import save_file; " +
        "save_file(torch.load(path, weights_only=True), \"model.safetensors\")`, or " +
        "`AutoModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`"

    public var description: String {
        switch self {
        case let .fileNotFound(path): return "\(path): file not found"
        case let .cannotRead(path, reason): return "\(path): cannot read: \(reason)"
        case let .fileTooSmall(path, size):
            return "\(path): not a safetensors file: \(size) bytes, fewer than the 8-byte header size prefix"
        case let .headerTooLarge(path, size, limit):
            return "\(path): safetensors header size \(size) bytes exceeds the limit of \(limit) bytes"
        case let .headerBeyondFile(path, size, fileSize):
            return "\(path): safetensors header size \(size) bytes runs past the end of the \(fileSize)-byte file"
        case let .headerNotUTF8(path, offset):
            return "\(path): safetensors header is not valid UTF-8 (at header byte \(offset))"
        case let .headerNotObject(path):
            return "\(path): safetensors header is not a JSON object (must start with '{')"
        case let .headerInvalidJSON(path, detail): return "\(path): safetensors header is invalid JSON: \(detail)"
        case let .duplicateTensorName(path, tensor):
            return "\(path): tensor \"\(tensor)\" appears more than once in the header"
        case let .metadataNotStringMap(path, key):
            if let key { return "\(path): __metadata__ entry \"\(key)\" is not a string" }
            return "\(path): __metadata__ is not an object of string values"
        case let .tensorEntryInvalid(path, tensor, reason): return "\(path): tensor \"\(tensor)\": \(reason)"
        case let .unknownDType(path, tensor, dtype): return "\(path): tensor \"\(tensor)\": unknown dtype \"\(dtype)\""
        case let .negativeValue(path, tensor, field, value):
            return "\(path): tensor \"\(tensor)\": \(field) is negative (\(value))"
        case let .arithmeticOverflow(path, tensor, field):
            return "\(path): tensor \"\(tensor)\": \(field) overflows a 64-bit integer"
        case let .offsetsReversed(path, tensor, begin, end):
            return "\(path): tensor \"\(tensor)\": data_offsets end \(end) is before begin \(begin)"
        case let .offsetsOutOfBounds(path, tensor, end, dataSize):
            return "\(path): tensor \"\(tensor)\": data ends at \(end), beyond the \(dataSize)-byte data section"
        case let .overlappingTensors(path, tensor, previous):
            return "\(path): tensor \"\(tensor)\" overlaps tensor \"\(previous)\""
        case let .holeBeforeTensor(path, tensor, start, end):
            return "\(path): unused bytes \(start)..<\(end) of the data section before tensor \"\(tensor)\""
        case let .trailingBytes(path, dataEnd, dataSize):
            return "\(path): \(dataSize - dataEnd) trailing bytes after the last tensor (tensors end at \(dataEnd) of \(dataSize) data bytes)"
        case let .shapeSpanMismatch(path, tensor, expected, span):
            return "\(path): tensor \"\(tensor)\": shape and dtype need \(expected) bytes but data_offsets span \(span)"
        case let .misalignedSlice(path, tensor):
            return "\(path): tensor \"\(tensor)\": element count does not fill whole bytes for its dtype"
        case let .pickleWeights(path):
            return "\(path): PyTorch pickle weights are not loaded (unpickling can run arbitrary code); "
                + ModelIOError.conversionHint
        case let .tensorNotFound(path, tensor): return "\(path): no tensor named \"\(tensor)\""
        case let .notAFloatTensor(path, tensor, dtype):
            return "\(path): tensor \"\(tensor)\" has dtype \(dtype); only F32, F16, BF16 and F64 convert to float32"
        case let .notAnIntegerTensor(path, tensor, dtype):
            return "\(path): tensor \"\(tensor)\" has dtype \(dtype), not an integer dtype"
        case let .indexInvalid(path, reason): return "\(path): invalid safetensors index: \(reason)"
        case let .shardMissing(index, shard, tensor):
            return "\(index): shard \"\(shard)\" (for tensor \"\(tensor)\") does not exist"
        case let .shardLacksTensor(index, shard, tensor):
            return "\(index): weight_map says tensor \"\(tensor)\" is in \"\(shard)\", but that shard does not contain it"
        case let .configInvalidJSON(path, detail): return "\(path): invalid JSON: \(detail)"
        case let .configMissingField(path, field): return "\(path): missing field \"\(field)\""
        case let .configInvalidField(path, field, reason): return "\(path): field \"\(field)\": \(reason)"
        case let .unknownModelType(path, type, supported):
            return "\(path): model_type \"\(type)\" is not supported (supported: \(supported.joined(separator: ", ")))"
        case let .notADirectory(path):
            switch FileSystem.kind(of: path) {
            case .missing: return "\(path): no such model directory"
            default: return "\(path): not a model directory (a model is a directory with config.json, the tokenizer and *.safetensors)"
            }
        case let .configNotFound(dir): return "\(dir): no config.json in the model directory"
        case let .weightsNotFound(dir):
            return "\(dir): no weights (expected model.safetensors or model.safetensors.index.json)"
        case let .pickleOnlyDirectory(dir, files):
            return "\(dir): only PyTorch pickle weights (\(files.joined(separator: ", "))), which are not loaded "
                + "(unpickling can run arbitrary code); " + ModelIOError.conversionHint
        case let .tokenizerNotFound(dir): return "\(dir): no tokenizer (expected tokenizer.json or vocab.txt)"
        case let .sentenceTransformersInvalid(path, reason): return "\(path): \(reason)"
        case let .unsupportedModule(path, module, type):
            return "\(path): sentence-transformers module \"\(module)\" of type \(type) is not supported"
        }
    }
}
