import DataFormats

/// Shared model-description types. The ModelIO module fills them from files (safetensors, config.json,
/// sentence-transformers configs); the Encoder consumes them.

/// Supported encoder architectures (`model_type` in config.json).
public enum ModelType: String, Sendable, CaseIterable {
    case bert
    case distilbert
    /// BERT's graph with position ids starting at `pad_token_id + 1` (RoBERTa, XLM-RoBERTa, CamemBERT).
    case roberta
    case xlmRoberta = "xlm-roberta"
    case camembert
    /// MPNet: no token types, RoBERTa-style position ids, a relative position bias shared by all layers.
    case mpnet

    /// Whether position ids start after the padding index (`padding_idx + 1 + t` for real token t), as
    /// RoBERTa's `create_position_ids_from_input_ids` numbers them.
    public var positionsStartAfterPadding: Bool {
        switch self {
        case .bert, .distilbert: return false
        case .roberta, .xlmRoberta, .camembert, .mpnet: return true
        }
    }

    /// The weight-name prefix of a checkpoint saved from a task model (`BertFor...` saves `bert.*`).
    public var checkpointPrefix: String {
        switch self {
        case .bert: return "bert."
        case .distilbert: return "distilbert."
        case .roberta, .xlmRoberta, .camembert: return "roberta."
        case .mpnet: return "mpnet."
        }
    }
}

/// The hyper-parameters of a BERT-family encoder, normalised across architectures
/// (DistilBERT's `dim`/`n_layers`/`n_heads`/`hidden_dim`/`activation` map onto the BERT names).
public struct EncoderConfig: Sendable, Equatable {
    public var modelType: ModelType
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var intermediateSize: Int
    public var maxPositionEmbeddings: Int
    /// 0 for DistilBERT (no token-type embeddings).
    public var typeVocabSize: Int
    public var layerNormEps: Float
    /// HF activation name: "gelu", "gelu_new", "gelu_pytorch_tanh", "relu".
    public var hiddenAct: String
    public var padTokenId: Int
    /// MPNet's `relative_attention_num_buckets` (rows of `encoder.relative_attention_bias.weight`); 0 for the
    /// other types.
    public var relativeAttentionNumBuckets: Int = 0

    /// The padding index the position ids are numbered from (RoBERTa family: `pad_token_id`; MPNet: 1, fixed
    /// in transformers' `MPNetEmbeddings` whatever the config says). Nil for BERT and DistilBERT.
    public var positionPaddingIndex: Int? {
        MaxLengthRule.positionPaddingIndex(modelType: modelType.rawValue, padTokenId: padTokenId)
    }

    /// Row of the position table used by token position 0 (`padding_idx + 1` for RoBERTa-style ids, else 0).
    public var firstPositionRow: Int { positionPaddingIndex.map { $0 + 1 } ?? 0 }

    /// The longest sequence (tokens, special tokens included) the position table covers:
    /// `max_position_embeddings - padding_idx - 1` for RoBERTa-style ids (514 -> 512), else
    /// `max_position_embeddings`.
    public var maxSequencePositions: Int {
        MaxLengthRule.usablePositions(maxPositionEmbeddings: maxPositionEmbeddings, modelType: modelType.rawValue,
                                      padTokenId: padTokenId)
    }

    /// Size of one attention head: `hiddenSize / numHeads` (validated to divide exactly when loaded).
    public var attentionHeadSize: Int { hiddenSize / numHeads }

    public init(modelType: ModelType, vocabSize: Int, hiddenSize: Int, numLayers: Int, numHeads: Int,
                intermediateSize: Int, maxPositionEmbeddings: Int, typeVocabSize: Int, layerNormEps: Float,
                hiddenAct: String, padTokenId: Int = 0) {
        self.modelType = modelType; self.vocabSize = vocabSize; self.hiddenSize = hiddenSize
        self.numLayers = numLayers; self.numHeads = numHeads; self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps; self.hiddenAct = hiddenAct; self.padTokenId = padTokenId
    }
}

/// A dense float32 tensor in host memory, row-major.
public struct HostTensor: Sendable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) { self.shape = shape; self.values = values }
}

/// Named weights of a model (one safetensors file or several shards). Values are converted to float32.
public protocol WeightStore {
    /// Every tensor name, sorted.
    var tensorNames: [String] { get }
    /// Shape of a tensor, or nil if absent.
    func shape(of name: String) -> [Int]?
    /// The tensor converted to float32; throws an error naming the tensor and file when absent or unreadable.
    func tensor(_ name: String) throws -> HostTensor
    /// Calls `body` with the tensor's float32 values (row-major, `shape(of:)` elements), valid only during the
    /// call: without a copy where the store holds them as float32 already (an aligned F32 tensor of a mapped
    /// safetensors file), else converted into a temporary. Same errors as `tensor(_:)`.
    func withFloat32Values<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R
}

extension WeightStore {
    /// Default: through `tensor(_:)` (one copy).
    public func withFloat32Values<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        try tensor(name).values.withUnsafeBufferPointer(body)
    }
}
