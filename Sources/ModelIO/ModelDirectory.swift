import DataFormats

/// The sentence-transformers pipeline of a model directory (`modules.json` and the module configs),
/// reduced to what the featurizer runs: Transformer → Pooling → optional Normalize.
public struct SentenceTransformersConfig: Sendable, Equatable {
    /// Pooling modes in concatenation order, with the raw names of Backend's `PoolingMode`:
    /// "cls", "mean", "max", "mean_sqrt_len", "weighted_mean", "last". The output has
    /// `poolingModes.count * hiddenSize` features.
    ///
    /// Order follows sentence-transformers: a config with the newer `pooling_mode` key keeps that list's
    /// order; a legacy config (`pooling_mode_*_tokens` booleans) concatenates in the order
    /// cls, max, mean, mean_sqrt_len, weighted_mean, last (as `Pooling.forward` does); no active mode means mean.
    public var poolingModes: [String]
    /// Whether a `Normalize` module L2-normalises the pooled embedding.
    public var normalize: Bool
    /// `max_seq_length` from `sentence_bert_config.json` (tokens, including special tokens), if set.
    public var maxSeqLength: Int?
    /// `do_lower_case` from `sentence_bert_config.json`: sentence-transformers lowercases input text first.
    public var doLowerCase: Bool
    /// Pooling `include_prompt` (only matters when a prompt is prepended).
    public var includePrompt: Bool
    /// Path of the Pooling module's config file.
    public var poolingConfigPath: String
    /// Named prompts from `config_sentence_transformers.json` (`prompts`), e.g. `["query": "query: "]`.
    public var prompts: [String: String] = [:]
    /// `default_prompt_name` from `config_sentence_transformers.json`: its prompt is prepended to every text
    /// unless the caller chooses another prompt.
    public var defaultPromptName: String? = nil

    /// The modules after Pooling (`Dense`, `Normalize`), in `modules.json` order; empty for Pooling alone.
    public var head: [SentenceTransformersHeadModule] = []

    /// The prompt text sentence-transformers prepends by default (nil when none is configured).
    public var defaultPrompt: String? { defaultPromptName.flatMap { prompts[$0] } }

    public init(poolingModes: [String], normalize: Bool, maxSeqLength: Int?, doLowerCase: Bool = false,
                includePrompt: Bool = true, poolingConfigPath: String = "") {
        self.poolingModes = poolingModes; self.normalize = normalize; self.maxSeqLength = maxSeqLength
        self.doLowerCase = doLowerCase; self.includePrompt = includePrompt; self.poolingConfigPath = poolingConfigPath
        head = normalize ? [.normalize] : []
    }

    /// sentence-transformers mode names (new `pooling_mode` values) → our raw names, in legacy order.
    static let modeNames: [(sentenceTransformers: String, legacyKey: String, raw: String)] = [
        ("cls", "pooling_mode_cls_token", "cls"),
        ("max", "pooling_mode_max_tokens", "max"),
        ("mean", "pooling_mode_mean_tokens", "mean"),
        ("mean_sqrt_len_tokens", "pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
        ("weightedmean", "pooling_mode_weightedmean_tokens", "weighted_mean"),
        ("lasttoken", "pooling_mode_lasttoken", "last"),
    ]
}

/// A model directory: Hugging Face files (config.json, model.safetensors or a shard index, tokenizer
/// files) and, optionally, the sentence-transformers layout (modules.json, Pooling config, Normalize,
/// sentence_bert_config.json).
///
/// `init(path:)` locates and validates the files and parses the configuration; weights are opened
/// (memory-mapped) by `loadWeights()`. Older sentence-transformers layouts that keep the transformer in a
/// subfolder (modules.json Transformer path, e.g. `0_Transformer`) are followed.
public struct ModelDirectory: Sendable {
    /// Where the weights are.
    public enum Weights: Sendable, Equatable {
        case single(path: String)
        case sharded(indexPath: String)
    }

    /// The directory given to `init(path:)`.
    public let path: String
    /// The directory holding config.json, the weights and the tokenizer (differs from `path` only for
    /// sentence-transformers layouts with a Transformer subfolder).
    public let transformerPath: String
    public let configPath: String
    public let config: EncoderConfig
    public let weights: Weights
    /// `tokenizer.json` (Hugging Face fast tokenizer), if present.
    public let tokenizerJSONPath: String?
    /// `vocab.txt` (WordPiece vocabulary), if present.
    public let vocabPath: String?
    public let tokenizerConfigPath: String?
    public let specialTokensMapPath: String?
    /// The sentence-transformers pipeline; nil when there is no modules.json.
    public let sentenceTransformers: SentenceTransformersConfig?
    /// `model_max_length` from tokenizer_config.json when it is a sensible integer (transformers writes
    /// 1e30 for "no limit"; that reads as nil).
    public let tokenizerModelMaxLength: Int?

    /// The truncation length in tokens (special tokens included) by the one rule (`MaxLengthRule`), with no
    /// explicit length: `max_seq_length`, else tokenizer `model_max_length`, else the usable positions.
    public var maxSequenceLength: Int {
        MaxLengthRule.resolve(explicit: nil, sentenceTransformersMaxSeqLength: sentenceTransformers?.maxSeqLength,
                              tokenizerModelMaxLength: tokenizerModelMaxLength.map(Double.init),
                              usablePositions: config.maxSequencePositions) ?? config.maxSequencePositions
    }

    /// Locates and validates the model files in the directory at `path`. Throws `ModelIOError`.
    public init(path: String) throws {
        guard FileSystem.kind(of: path) == .directory else { throw ModelIOError.notADirectory(path: path) }
        self.path = path

        var transformerPath = path
        var sentenceTransformers: SentenceTransformersConfig? = nil
        var pendingST: PendingSentenceTransformers? = nil
        let modulesPath = FileSystem.join(path, "modules.json")
        if FileSystem.isFile(modulesPath) {
            let pending = try ModelDirectory.readModules(modulesPath: modulesPath, directory: path)
            transformerPath = pending.transformerPath
            pendingST = pending
        }
        self.transformerPath = transformerPath

        let configPath = FileSystem.join(transformerPath, "config.json")
        guard FileSystem.isFile(configPath) else { throw ModelIOError.configNotFound(directory: transformerPath) }
        self.configPath = configPath
        let config = try EncoderConfig.load(path: configPath)
        self.config = config

        self.weights = try ModelDirectory.locateWeights(in: transformerPath)

        func optionalFile(_ name: String) -> String? {
            let p = FileSystem.join(transformerPath, name)
            return FileSystem.isFile(p) ? p : nil
        }
        tokenizerJSONPath = optionalFile("tokenizer.json")
        vocabPath = optionalFile("vocab.txt")
        tokenizerConfigPath = optionalFile("tokenizer_config.json")
        specialTokensMapPath = optionalFile("special_tokens_map.json")
        guard tokenizerJSONPath != nil || vocabPath != nil else {
            throw ModelIOError.tokenizerNotFound(directory: transformerPath)
        }
        var modelMaxLength: Int? = nil
        if let tokenizerConfigPath {
            let reader = try JSONObjectReader.load(path: tokenizerConfigPath)
            if case let .value(n)? = reader.value["model_max_length"]?.integerReading, n > 0, n <= 1 << 31 {
                modelMaxLength = n
            }
        }
        tokenizerModelMaxLength = modelMaxLength

        if let pendingST {
            sentenceTransformers = try ModelDirectory.finishSentenceTransformers(
                pendingST, hiddenSize: config.hiddenSize, maxPositionEmbeddings: config.maxSequencePositions)
        }
        self.sentenceTransformers = sentenceTransformers
    }

    /// Opens (memory-maps and validates) the weights. Keep the returned store alive while reading tensors.
    public func loadWeights() throws -> any WeightStore {
        switch weights {
        case let .single(path): return try SafetensorsFile(path: path)
        case let .sharded(indexPath): return try ShardedWeights(indexPath: indexPath)
        }
    }

    // MARK: - Weights

    static func locateWeights(in directory: String) throws -> Weights {
        let single = FileSystem.join(directory, "model.safetensors")
        if FileSystem.isFile(single) { return .single(path: single) }
        let index = FileSystem.join(directory, "model.safetensors.index.json")
        if FileSystem.isFile(index) { return .sharded(indexPath: index) }
        let pickles = FileSystem.contents(of: directory).filter {
            SafetensorsFile.isPickleFileName($0) || $0.hasSuffix(".bin.index.json")
        }
        if !pickles.isEmpty { throw ModelIOError.pickleOnlyDirectory(directory: directory, files: pickles) }
        throw ModelIOError.weightsNotFound(directory: directory)
    }

    // MARK: - sentence-transformers

    struct PendingSentenceTransformers {
        /// The directory holding modules.json.
        var directory: String
        var modulesPath: String
        var transformerPath: String
        var poolingPath: String
        var normalize: Bool
        /// The modules after Pooling: (kind, name, module directory), in order.
        var head: [(kind: String, name: String, directory: String)] = []
    }

    /// Reads modules.json: Transformer first, then exactly one Pooling, then `Dense` and `Normalize` modules in
    /// any order. Every other module type is refused by name.
    static func readModules(modulesPath: String, directory: String) throws -> PendingSentenceTransformers {
        let bytes = try FileSystem.readAll(modulesPath)
        let json: JSONValue
        do { json = try JSONScanner.parse(bytes) } catch let error as JSONParseError {
            throw ModelIOError.configInvalidJSON(path: modulesPath, detail: error.description)
        }
        guard case let .array(modules) = json else {
            throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "expected a JSON array of modules")
        }
        var transformerPath: String? = nil
        var poolingPath: String? = nil
        var normalize = false
        var head: [(kind: String, name: String, directory: String)] = []
        for (position, module) in modules.enumerated() {
            guard case .object = module, case let .string(type)? = module["type"] else {
                throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "module \(position) has no \"type\" string")
            }
            var relative = ""
            if let p = module["path"] {
                guard case let .string(s) = p else {
                    throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "module \(position): \"path\" is not a string")
                }
                relative = s
            }
            let components = relative.split(separator: "/", omittingEmptySubsequences: true)
            guard !relative.hasPrefix("/"), !components.contains("..") else {
                throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "module \(position): path \"\(relative)\" leaves the model directory")
            }
            let moduleDirectory = FileSystem.join(directory, relative)
            var name = "\(position)"
            if case let .string(n)? = module["name"] { name = n }
            let kind = type.split(separator: ".").last.map(String.init) ?? type
            switch kind {
            case "Transformer":
                guard position == 0 else {
                    throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "the Transformer module must come first")
                }
                transformerPath = moduleDirectory
            case "Pooling":
                guard transformerPath != nil, poolingPath == nil, head.isEmpty else {
                    throw ModelIOError.sentenceTransformersInvalid(
                        path: modulesPath, reason: "expected one Pooling module, after the Transformer and before Dense/Normalize")
                }
                poolingPath = FileSystem.join(moduleDirectory, "config.json")
            case "Normalize":
                guard poolingPath != nil else {
                    throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "Normalize before Pooling is not supported")
                }
                let normalizeConfig = FileSystem.join(moduleDirectory, "config.json")
                if FileSystem.isFile(normalizeConfig) {
                    let reader = try JSONObjectReader.load(path: normalizeConfig)
                    let input = try reader.string("module_input_name", default: "sentence_embedding")
                    guard input == "sentence_embedding" else {
                        throw ModelIOError.unsupportedModule(path: modulesPath, module: name, type: type + " (on \(input))")
                    }
                }
                normalize = true
                head.append((kind: "Normalize", name: name, directory: moduleDirectory))
            case "Dense":
                guard poolingPath != nil else {
                    throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "Dense before Pooling is not supported")
                }
                head.append((kind: "Dense", name: name, directory: moduleDirectory))
            default:
                // LayerNorm, WordEmbeddings, CNN, LSTM, Router, ...: not run by this implementation.
                throw ModelIOError.unsupportedModule(path: modulesPath, module: name, type: type)
            }
        }
        guard let transformerPath else {
            throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "no Transformer module")
        }
        guard let poolingPath else {
            throw ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "no Pooling module")
        }
        return PendingSentenceTransformers(directory: directory, modulesPath: modulesPath, transformerPath: transformerPath,
                                           poolingPath: poolingPath, normalize: normalize, head: head)
    }

    static func finishSentenceTransformers(_ pending: PendingSentenceTransformers, hiddenSize: Int,
                                           maxPositionEmbeddings: Int) throws -> SentenceTransformersConfig {
        guard FileSystem.isFile(pending.poolingPath) else { throw ModelIOError.fileNotFound(path: pending.poolingPath) }
        let pooling = try JSONObjectReader.load(path: pending.poolingPath)
        let poolingPath = pending.poolingPath

        var modes: [String] = []
        if pooling.has("pooling_mode") {
            let value = pooling.value["pooling_mode"]!
            var names: [String] = []
            switch value {
            case let .string(s): names = [s]
            case let .array(items):
                for item in items {
                    guard case let .string(s) = item else {
                        throw ModelIOError.configInvalidField(path: poolingPath, field: "pooling_mode", reason: "expected strings, found a \(item.kindName)")
                    }
                    names.append(s)
                }
            default:
                throw ModelIOError.configInvalidField(path: poolingPath, field: "pooling_mode", reason: "expected a string or a list of strings")
            }
            guard !names.isEmpty else {
                throw ModelIOError.configInvalidField(path: poolingPath, field: "pooling_mode", reason: "empty list")
            }
            for name in names {
                guard let entry = SentenceTransformersConfig.modeNames.first(where: { $0.sentenceTransformers == name }) else {
                    throw ModelIOError.configInvalidField(
                        path: poolingPath, field: "pooling_mode",
                        reason: "unknown mode \"\(name)\" (valid: \(SentenceTransformersConfig.modeNames.map(\.sentenceTransformers).joined(separator: ", ")))")
                }
                modes.append(entry.raw)
            }
        } else {
            for entry in SentenceTransformersConfig.modeNames where try pooling.bool(entry.legacyKey, default: false) {
                modes.append(entry.raw)
            }
            if modes.isEmpty { modes = ["mean"] }
        }

        for field in ["embedding_dimension", "word_embedding_dimension"] where pooling.has(field) {
            let dimension = try pooling.int(field)
            guard dimension == hiddenSize else {
                throw ModelIOError.configInvalidField(path: poolingPath, field: field,
                                                      reason: "\(dimension) differs from the model's hidden size \(hiddenSize)")
            }
        }
        let includePrompt = try pooling.bool("include_prompt", default: true)

        var maxSeqLength: Int? = nil
        var doLowerCase = false
        let bertConfigPath = FileSystem.join(pending.transformerPath, "sentence_bert_config.json")
        if FileSystem.isFile(bertConfigPath) {
            let reader = try JSONObjectReader.load(path: bertConfigPath)
            maxSeqLength = try reader.optionalInt("max_seq_length")
            if let maxSeqLength, maxSeqLength <= 0 {
                throw ModelIOError.configInvalidField(path: bertConfigPath, field: "max_seq_length", reason: "must be positive, found \(maxSeqLength)")
            }
            if let maxSeqLength, maxSeqLength > maxPositionEmbeddings {
                throw ModelIOError.configInvalidField(
                    path: bertConfigPath, field: "max_seq_length",
                    reason: "\(maxSeqLength) exceeds the model's max_position_embeddings (\(maxPositionEmbeddings))")
            }
            doLowerCase = try reader.bool("do_lower_case", default: false)
            // sentence-transformers >= 6 records what the Transformer module outputs; only plain token
            // embeddings from the encoder's last hidden state are what this implementation computes.
            if reader.has("transformer_task") {
                let task = try reader.string("transformer_task")
                guard task == "feature-extraction" else {
                    throw ModelIOError.configInvalidField(path: bertConfigPath, field: "transformer_task",
                                                          reason: "\"\(task)\" is not supported (only \"feature-extraction\")")
                }
            }
            if case let .string(output)? = reader.value["modality_config"]?["text"]?["method_output_name"],
               output != "last_hidden_state" {
                throw ModelIOError.configInvalidField(path: bertConfigPath, field: "modality_config.text.method_output_name",
                                                      reason: "\"\(output)\" is not supported (only \"last_hidden_state\")")
            }
        }
        var result = SentenceTransformersConfig(poolingModes: modes, normalize: pending.normalize, maxSeqLength: maxSeqLength,
                                                doLowerCase: doLowerCase, includePrompt: includePrompt,
                                                poolingConfigPath: poolingPath)
        var width = modes.count * hiddenSize
        result.head = []
        for module in pending.head {
            switch module.kind {
            case "Dense":
                let dense = try DenseModuleConfig.load(directory: module.directory, name: module.name, inputWidth: width)
                width = dense.outFeatures
                result.head.append(.dense(dense))
            default:
                result.head.append(.normalize)
            }
        }
        let stConfigPath = FileSystem.join(pending.directory, "config_sentence_transformers.json")
        if FileSystem.isFile(stConfigPath) {
            let reader = try JSONObjectReader.load(path: stConfigPath)
            if let promptsValue = reader.value["prompts"], promptsValue != .null {
                guard case let .object(entries) = promptsValue else {
                    throw ModelIOError.configInvalidField(path: stConfigPath, field: "prompts",
                                                          reason: "expected an object of strings, found a \(promptsValue.kindName)")
                }
                for (name, text) in entries {
                    switch text {
                    case let .string(prompt): result.prompts[name] = prompt
                    case .null: continue // an unset placeholder
                    default:
                        throw ModelIOError.configInvalidField(path: stConfigPath, field: "prompts.\(name)",
                                                              reason: "expected a string, found a \(text.kindName)")
                    }
                }
            }
            if reader.has("default_prompt_name") {
                let name = try reader.string("default_prompt_name")
                guard result.prompts[name] != nil else {
                    throw ModelIOError.configInvalidField(
                        path: stConfigPath, field: "default_prompt_name",
                        reason: "\"\(name)\" is not one of the prompts (\(result.prompts.keys.sorted().joined(separator: ", ")))")
                }
                result.defaultPromptName = name
            }
        }
        return result
    }
}
