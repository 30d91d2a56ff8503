/// Shared model-description types. The ModelIO module fills them from files (safetensors, config.json,
/// sentence-transformers configs); the Encoder consumes them.

/// Supported encoder architectures (`model_type` in config.json).
public enum ModelType: String, Sendable, CaseIterable {
    case bert
    case distilbert
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
}
