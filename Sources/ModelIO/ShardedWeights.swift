/// Weights split over several safetensors files, described by `model.safetensors.index.json`
/// (`{"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}`).
///
/// On load every shard named in the map is opened (memory-mapped and validated) and every mapped tensor
/// is checked to be present in its shard. Shard names must be plain relative paths inside the index's
/// directory (no absolute paths, no `..`).
public final class ShardedWeights: WeightStore, @unchecked Sendable {
    public let indexPath: String
    public let tensorNames: [String]
    /// Shard file names (as written in the index), sorted.
    public let shardNames: [String]
    private let shards: [String: SafetensorsFile]
    private let weightMap: [String: String]

    /// Reads the index at `indexPath` and opens the shards next to it.
    public init(indexPath: String) throws {
        let reader = try JSONObjectReader.load(path: indexPath)
        guard let mapValue = reader.value["weight_map"] else {
            throw ModelIOError.indexInvalid(path: indexPath, reason: "missing \"weight_map\"")
        }
        guard case let .object(entries) = mapValue else {
            throw ModelIOError.indexInvalid(path: indexPath, reason: "weight_map is a \(mapValue.kindName), not an object")
        }
        guard !entries.isEmpty else {
            throw ModelIOError.indexInvalid(path: indexPath, reason: "weight_map is empty")
        }
        let directory = indexPath.contains("/")
            ? String(indexPath[..<indexPath.lastIndex(of: "/")!]) : "."
        var weightMap: [String: String] = [:]
        var shards: [String: SafetensorsFile] = [:]
        for (tensor, shardValue) in entries {
            guard case let .string(shard) = shardValue else {
                throw ModelIOError.indexInvalid(path: indexPath, reason: "weight_map entry \"\(tensor)\" is a \(shardValue.kindName), not a file name")
            }
            let components = shard.split(separator: "/", omittingEmptySubsequences: false)
            guard !shard.isEmpty, !shard.hasPrefix("/"), !components.contains(".."), !components.contains("") else {
                throw ModelIOError.indexInvalid(path: indexPath, reason: "shard name \"\(shard)\" (for tensor \"\(tensor)\") is not a plain relative path")
            }
            if shards[shard] == nil {
                let shardPath = FileSystem.join(directory, shard)
                guard FileSystem.isFile(shardPath) else {
                    throw ModelIOError.shardMissing(indexPath: indexPath, shard: shard, tensor: tensor)
                }
                shards[shard] = try SafetensorsFile(path: shardPath)
            }
            guard shards[shard]!.info(of: tensor) != nil else {
                throw ModelIOError.shardLacksTensor(indexPath: indexPath, shard: shard, tensor: tensor)
            }
            weightMap[tensor] = shard
        }
        self.indexPath = indexPath
        self.shards = shards
        self.weightMap = weightMap
        self.tensorNames = weightMap.keys.sorted()
        self.shardNames = shards.keys.sorted()
    }

    /// The open shard holding `name`, or nil.
    public func shard(containing name: String) -> SafetensorsFile? {
        weightMap[name].flatMap { shards[$0] }
    }

    public func shape(of name: String) -> [Int]? { shard(containing: name)?.shape(of: name) }

    public func tensor(_ name: String) throws -> HostTensor {
        guard let file = shard(containing: name) else {
            throw ModelIOError.tensorNotFound(path: indexPath, tensor: name)
        }
        return try file.tensor(name)
    }

    public func withFloat32Values<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        guard let file = shard(containing: name) else {
            throw ModelIOError.tensorNotFound(path: indexPath, tensor: name)
        }
        return try file.withFloat32Values(name, body)
    }
}
