import DataFormats

extension JSONObjectReader {
    /// Parses the file at `path`, which must hold a JSON object; problems are `ModelIOError`s naming the file
    /// and field.
    static func load(path: String) throws -> JSONObjectReader {
        try parse(try FileSystem.readAll(path), path: path)
    }

    static func parse(_ bytes: [UInt8], path: String) throws -> JSONObjectReader {
        try parse(bytes, path: path, makeError: { path, field, problem in
            switch problem {
            case .missing: return ModelIOError.configMissingField(path: path, field: field)
            case let .invalid(reason): return ModelIOError.configInvalidField(path: path, field: field, reason: reason)
            }
        }, malformed: { path, detail in ModelIOError.configInvalidJSON(path: path, detail: detail) })
    }
}

extension EncoderConfig {
    /// Activation names the encoders implement (HF `ACT2FN` keys).
    public static let supportedActivations = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"]

    /// Buckets of MPNet's relative position bias (transformers computes them with 32 whatever the config).
    public static let mpnetPositionBuckets = 32

    /// Reads a Hugging Face `config.json` (`model_type` bert, distilbert, roberta, xlm-roberta, camembert, mpnet).
    ///
    /// Absent optional fields take the Hugging Face defaults of `BertConfig` / `DistilBertConfig` (and of the
    /// RoBERTa-family / `MPNetConfig` classes), as
    /// `from_pretrained` does. DistilBERT's `dim`, `n_layers`, `n_heads`, `hidden_dim`, `activation` map to the
    /// BERT names; DistilBERT has no token types (`typeVocabSize` 0) and a fixed LayerNorm epsilon of 1e-12.
    /// Throws `ModelIOError` naming the file and field.
    public static func load(path: String) throws -> EncoderConfig {
        try parse(JSONObjectReader.load(path: path))
    }

    /// Parses `config.json` contents; `path` is used in error messages.
    public static func parse(json bytes: [UInt8], path: String) throws -> EncoderConfig {
        try parse(JSONObjectReader.parse(bytes, path: path))
    }

    static func parse(_ reader: JSONObjectReader) throws -> EncoderConfig {
        let path = reader.path
        let typeName = try reader.string("model_type")
        guard let modelType = ModelType(rawValue: typeName) else {
            throw ModelIOError.unknownModelType(path: path, modelType: typeName,
                                                supported: ModelType.allCases.map(\.rawValue))
        }
        var config: EncoderConfig
        // Field names as they appear in the file, for validation messages.
        var names = (vocab: "vocab_size", hidden: "hidden_size", layers: "num_hidden_layers",
                     heads: "num_attention_heads", intermediate: "intermediate_size",
                     positions: "max_position_embeddings", act: "hidden_act")
        switch modelType {
        case .bert, .roberta, .xlmRoberta, .camembert:
            if reader.has("position_embedding_type") {
                let kind = try reader.string("position_embedding_type")
                guard kind == "absolute" else {
                    throw ModelIOError.configInvalidField(path: path, field: "position_embedding_type",
                                                          reason: "\"\(kind)\" is not supported (only \"absolute\")")
                }
            }
            // Defaults of BertConfig / RobertaConfig / XLMRobertaConfig / CamembertConfig (transformers 5).
            let bert = modelType == .bert
            config = EncoderConfig(
                modelType: modelType,
                vocabSize: try reader.int("vocab_size", default: modelType == .roberta ? 50265 : 30522),
                hiddenSize: try reader.int("hidden_size", default: 768),
                numLayers: try reader.int("num_hidden_layers", default: 12),
                numHeads: try reader.int("num_attention_heads", default: 12),
                intermediateSize: try reader.int("intermediate_size", default: 3072),
                maxPositionEmbeddings: try reader.int("max_position_embeddings", default: 512),
                typeVocabSize: try reader.int("type_vocab_size", default: 2),
                layerNormEps: Float(try reader.double("layer_norm_eps", default: 1e-12)),
                hiddenAct: try reader.string("hidden_act", default: "gelu"),
                padTokenId: try reader.int("pad_token_id", default: bert ? 0 : 1))
            guard config.typeVocabSize >= (bert ? 0 : 1) else {
                throw ModelIOError.configInvalidField(path: path, field: "type_vocab_size",
                                                      reason: bert ? "must not be negative" : "must be at least 1, found \(config.typeVocabSize)")
            }
        case .mpnet:
            config = EncoderConfig(
                modelType: .mpnet,
                vocabSize: try reader.int("vocab_size", default: 30527),
                hiddenSize: try reader.int("hidden_size", default: 768),
                numLayers: try reader.int("num_hidden_layers", default: 12),
                numHeads: try reader.int("num_attention_heads", default: 12),
                intermediateSize: try reader.int("intermediate_size", default: 3072),
                maxPositionEmbeddings: try reader.int("max_position_embeddings", default: 512),
                typeVocabSize: 0,
                layerNormEps: Float(try reader.double("layer_norm_eps", default: 1e-12)),
                hiddenAct: try reader.string("hidden_act", default: "gelu"),
                padTokenId: try reader.int("pad_token_id", default: 1))
            config.relativeAttentionNumBuckets = try reader.int("relative_attention_num_buckets", default: 32)
            // transformers buckets relative positions into 32 buckets whatever the config says (the
            // `num_buckets` default of `MPNetEncoder.compute_position_bias`), so the table needs 32 rows.
            guard config.relativeAttentionNumBuckets >= EncoderConfig.mpnetPositionBuckets else {
                throw ModelIOError.configInvalidField(
                    path: path, field: "relative_attention_num_buckets",
                    reason: "\(config.relativeAttentionNumBuckets) is below the \(EncoderConfig.mpnetPositionBuckets) buckets MPNet computes")
            }
        case .distilbert:
            names = (vocab: "vocab_size", hidden: "dim", layers: "n_layers", heads: "n_heads",
                     intermediate: "hidden_dim", positions: "max_position_embeddings", act: "activation")
            config = EncoderConfig(
                modelType: .distilbert,
                vocabSize: try reader.int("vocab_size", default: 30522),
                hiddenSize: try reader.int("dim", default: 768),
                numLayers: try reader.int("n_layers", default: 6),
                numHeads: try reader.int("n_heads", default: 12),
                intermediateSize: try reader.int("hidden_dim", default: 3072),
                maxPositionEmbeddings: try reader.int("max_position_embeddings", default: 512),
                typeVocabSize: 0,
                layerNormEps: 1e-12,
                hiddenAct: try reader.string("activation", default: "gelu"),
                padTokenId: try reader.int("pad_token_id", default: 0))
        }
        // An explicit null for a size is not "absent": reading it as the default (768, 12, ...) would describe
        // another model than the weights.
        for field in [names.vocab, names.hidden, names.layers, names.heads, names.intermediate, names.positions]
        where reader.value[field] == .null {
            throw ModelIOError.configInvalidField(path: path, field: field, reason: "is null; give the number (or remove the field for the default)")
        }
        if modelType != .distilbert {
            let eps = config.layerNormEps
            guard eps.isFinite && eps > 0 else {
                throw ModelIOError.configInvalidField(path: path, field: "layer_norm_eps",
                                                      reason: "must be a positive float32 number")
            }
        }
        let positive: [(String, Int)] = [
            (names.vocab, config.vocabSize), (names.hidden, config.hiddenSize), (names.layers, config.numLayers),
            (names.heads, config.numHeads), (names.intermediate, config.intermediateSize),
            (names.positions, config.maxPositionEmbeddings),
        ]
        for (field, value) in positive where value <= 0 {
            throw ModelIOError.configInvalidField(path: path, field: field, reason: "must be positive, found \(value)")
        }
        // Upper bounds far above any encoder's, checked before a size allocates anything (issue 16: a
        // `num_hidden_layers` of 1e12 aborted in an allocation).
        let limits: [(String, Int, Int)] = [
            (names.vocab, config.vocabSize, 10_000_000), (names.hidden, config.hiddenSize, 1 << 16),
            (names.layers, config.numLayers, 1_000), (names.heads, config.numHeads, 1 << 12),
            (names.intermediate, config.intermediateSize, 1 << 20), (names.positions, config.maxPositionEmbeddings, 1 << 20),
        ]
        for (field, value, limit) in limits where value > limit {
            throw ModelIOError.configInvalidField(path: path, field: field, reason: "\(value) is out of range (at most \(limit))")
        }
        guard config.hiddenSize % config.numHeads == 0 else {
            throw ModelIOError.configInvalidField(
                path: path, field: names.hidden,
                reason: "\(config.hiddenSize) is not divisible by \(names.heads) (\(config.numHeads))")
        }
        guard EncoderConfig.supportedActivations.contains(config.hiddenAct) else {
            throw ModelIOError.configInvalidField(
                path: path, field: names.act,
                reason: "activation \"\(config.hiddenAct)\" is not supported (supported: \(EncoderConfig.supportedActivations.joined(separator: ", ")))")
        }
        guard config.padTokenId >= 0 && config.padTokenId < config.vocabSize else {
            throw ModelIOError.configInvalidField(path: path, field: "pad_token_id",
                                                  reason: "\(config.padTokenId) is outside the vocabulary (size \(config.vocabSize))")
        }
        guard config.maxSequencePositions >= 1 else {
            throw ModelIOError.configInvalidField(
                path: path, field: names.positions,
                reason: "\(config.maxPositionEmbeddings) leaves no position after the padding index \(config.positionPaddingIndex ?? 0)")
        }
        return config
    }
}
