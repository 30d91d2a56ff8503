import Backend
import ModelIO

/// Errors while building or running an encoder. Each names the tensor, setting or input at fault.
public enum EncoderError: Error, CustomStringConvertible, Equatable {
    case missingTensor(name: String, triedNames: [String])
    case wrongShape(name: String, expected: [Int], actual: [Int])
    case unsupportedActivation(String)
    case invalidConfig(String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .missingTensor(name, tried):
            return "missing tensor '\(name)' (looked for \(tried.map { "'\($0)'" }.joined(separator: ", ")))"
        case let .wrongShape(name, expected, actual):
            return "tensor '\(name)' has shape \(actual), expected \(expected)"
        case let .unsupportedActivation(name):
            return "unsupported hidden_act '\(name)'; supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu"
        case let .invalidConfig(detail):
            return "invalid encoder config: \(detail)"
        case let .invalidInput(detail):
            return "invalid encoder input: \(detail)"
        }
    }
}

extension Encoder {
/// The activation a config's `hidden_act` names.
public static func hiddenActivation(_ name: String) throws -> Activation {
    switch name.lowercased() {
    case "gelu": return .geluErf
    case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
    case "relu": return .relu
    default: throw EncoderError.unsupportedActivation(name)
    }
}
}

/// A BERT-family encoder (BERT, DistilBERT, MiniLM, RoBERTa, XLM-RoBERTa, CamemBERT, MPNet) written once
/// against `ComputeBackend`.
///
/// RoBERTa-style models number positions from `padding_idx + 1` by their ids (`TokenPositions`); MPNet adds its
/// relative position bias (`RelativePositionBias`, computed once per padded length) to the attention scores of
/// every layer.
/// Weights are uploaded once at init (Q/K/V fused into one `[3 * hidden, hidden]` projection). `forward`
/// returns hidden states in Hugging Face `hidden_states` indexing (0 = embeddings output, L = last layer),
/// computing only up to the deepest requested layer. Buffers are reused across calls (grown when a larger
/// batch arrives), so one `Encoder` must not be used from several threads at once.
public final class Encoder {
    public let config: EncoderConfig
    public let backend: any ComputeBackend
    public let activation: Activation
    /// True when the weights include the pooler (`pooler.dense.*`; BERT, RoBERTa family, MPNet).
    public var hasPooler: Bool { pooler != nil }

    private let word, position: any DeviceBuffer
    /// The token-type table (BERT), or for RoBERTa-style models the position + token-type lookup table of
    /// `tokenPositions` (then `position` is a zero table).
    private let tokenType: (any DeviceBuffer)?
    /// RoBERTa-style, id-dependent position ids; nil for BERT and DistilBERT.
    private let tokenPositions: TokenPositions?
    private let embedGamma, embedBeta: any DeviceBuffer
    /// The layers as the backend's `encoderLayers` takes them (built once at load).
    private let layers: [EncoderLayerWeights]
    private let pooler: (weight: any DeviceBuffer, bias: any DeviceBuffer)?
    /// MPNet's relative position bias table; nil for the other types.
    private let relativeBias: RelativePositionBias?
    /// The uploaded `[heads, seq, seq]` bias of the last padded length used.
    private var cachedPositionBias: (seq: Int, buffer: any DeviceBuffer)?

    // Work buffers, grown on demand.
    private var capacityRows = 0
    private var hiddenStates: [any DeviceBuffer] = []   // [L + 1] x [rows, hidden]
    private var qkv: (any DeviceBuffer)?                 // [rows, 3 * hidden]
    private var context: (any DeviceBuffer)?             // [rows, hidden]
    private var afterAttention: (any DeviceBuffer)?      // [rows, hidden]
    private var intermediate: (any DeviceBuffer)?        // [rows, intermediate]

    /// Loads and uploads every weight. Tensor names are looked up with and without the `bert.` /
    /// `distilbert.` / `roberta.` / `mpnet.` prefix. Throws `EncoderError` naming a missing or mis-shaped tensor.
    public init(config: EncoderConfig, weights: any WeightStore, backend: any ComputeBackend) throws {
        self.config = config
        self.backend = backend
        let h = config.hiddenSize, inter = config.intermediateSize
        guard h > 0, config.numHeads > 0, h % config.numHeads == 0 else {
            throw EncoderError.invalidConfig("hidden size \(h) is not a positive multiple of \(config.numHeads) heads")
        }
        guard inter > 0, config.numLayers >= 0, config.vocabSize > 0, config.maxPositionEmbeddings > 0 else {
            throw EncoderError.invalidConfig("sizes must be positive (intermediate \(inter), layers \(config.numLayers), vocab \(config.vocabSize), positions \(config.maxPositionEmbeddings))")
        }
        guard config.maxSequencePositions >= 1 else {
            throw EncoderError.invalidConfig("max_position_embeddings \(config.maxPositionEmbeddings) leaves no position after padding index \(config.positionPaddingIndex ?? 0)")
        }
        let activation = try Encoder.hiddenActivation(config.hiddenAct)
        self.activation = activation
        let loader = TensorLoader(store: weights, backend: backend)
        /// One post-LN layer from its uploaded tensors.
        func layer(qkvWeight: any DeviceBuffer, qkvBias: any DeviceBuffer, outWeight: any DeviceBuffer,
                   outBias: any DeviceBuffer, norm1Gamma: any DeviceBuffer, norm1Beta: any DeviceBuffer,
                   ffn1Weight: any DeviceBuffer, ffn1Bias: any DeviceBuffer, ffn2Weight: any DeviceBuffer,
                   ffn2Bias: any DeviceBuffer, norm2Gamma: any DeviceBuffer, norm2Beta: any DeviceBuffer) -> EncoderLayerWeights {
            EncoderLayerWeights(qkvWeight: qkvWeight, qkvBias: qkvBias, rest: PostAttentionLayer(
                hidden: h, intermediateSize: inter, outWeight: outWeight, outBias: outBias, norm1Gamma: norm1Gamma,
                norm1Beta: norm1Beta, ffn1Weight: ffn1Weight, ffn1Bias: ffn1Bias, activation: activation,
                ffn2Weight: ffn2Weight, ffn2Bias: ffn2Bias, norm2Gamma: norm2Gamma, norm2Beta: norm2Beta,
                eps: config.layerNormEps))
        }

        switch config.modelType {
        case .bert, .roberta, .xlmRoberta, .camembert:
            word = try loader.upload("embeddings.word_embeddings.weight", [config.vocabSize, h])
            if config.modelType == .bert {
                position = try loader.upload("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, h])
                tokenType = config.typeVocabSize > 0
                    ? try loader.upload("embeddings.token_type_embeddings.weight", [config.typeVocabSize, h]) : nil
                tokenPositions = nil
            } else {
                let types = try loader.values("embeddings.token_type_embeddings.weight", [config.typeVocabSize, h])
                (position, tokenType, tokenPositions) = try loader.uploadTokenPositions(config, tokenType: types)
            }
            embedGamma = try loader.upload("embeddings.LayerNorm.weight", [h], alternatives: ["embeddings.LayerNorm.gamma"])
            embedBeta = try loader.upload("embeddings.LayerNorm.bias", [h], alternatives: ["embeddings.LayerNorm.beta"])
            layers = try (0..<config.numLayers).map { i in
                let p = "encoder.layer.\(i)."
                return layer(
                    qkvWeight: try loader.uploadConcatenated(["query", "key", "value"].map { p + "attention.self.\($0).weight" }, [h, h], linear: true),
                    qkvBias: try loader.uploadConcatenated(["query", "key", "value"].map { p + "attention.self.\($0).bias" }, [h]),
                    outWeight: try loader.uploadLinear(p + "attention.output.dense.weight", [h, h]),
                    outBias: try loader.upload(p + "attention.output.dense.bias", [h]),
                    norm1Gamma: try loader.upload(p + "attention.output.LayerNorm.weight", [h], alternatives: [p + "attention.output.LayerNorm.gamma"]),
                    norm1Beta: try loader.upload(p + "attention.output.LayerNorm.bias", [h], alternatives: [p + "attention.output.LayerNorm.beta"]),
                    ffn1Weight: try loader.uploadLinear(p + "intermediate.dense.weight", [inter, h]),
                    ffn1Bias: try loader.upload(p + "intermediate.dense.bias", [inter]),
                    ffn2Weight: try loader.uploadLinear(p + "output.dense.weight", [h, inter]),
                    ffn2Bias: try loader.upload(p + "output.dense.bias", [h]),
                    norm2Gamma: try loader.upload(p + "output.LayerNorm.weight", [h], alternatives: [p + "output.LayerNorm.gamma"]),
                    norm2Beta: try loader.upload(p + "output.LayerNorm.bias", [h], alternatives: [p + "output.LayerNorm.beta"]))
            }
            pooler = try loader.optionalPooler(hidden: h)
            relativeBias = nil
        case .mpnet:
            word = try loader.upload("embeddings.word_embeddings.weight", [config.vocabSize, h])
            (position, tokenType, tokenPositions) = try loader.uploadTokenPositions(config, tokenType: nil)
            embedGamma = try loader.upload("embeddings.LayerNorm.weight", [h])
            embedBeta = try loader.upload("embeddings.LayerNorm.bias", [h])
            layers = try (0..<config.numLayers).map { i in
                let p = "encoder.layer.\(i)."
                return layer(
                    qkvWeight: try loader.uploadConcatenated(["q", "k", "v"].map { p + "attention.attn.\($0).weight" }, [h, h], linear: true),
                    qkvBias: try loader.uploadConcatenated(["q", "k", "v"].map { p + "attention.attn.\($0).bias" }, [h]),
                    outWeight: try loader.uploadLinear(p + "attention.attn.o.weight", [h, h]),
                    outBias: try loader.upload(p + "attention.attn.o.bias", [h]),
                    norm1Gamma: try loader.upload(p + "attention.LayerNorm.weight", [h]),
                    norm1Beta: try loader.upload(p + "attention.LayerNorm.bias", [h]),
                    ffn1Weight: try loader.uploadLinear(p + "intermediate.dense.weight", [inter, h]),
                    ffn1Bias: try loader.upload(p + "intermediate.dense.bias", [inter]),
                    ffn2Weight: try loader.uploadLinear(p + "output.dense.weight", [h, inter]),
                    ffn2Bias: try loader.upload(p + "output.dense.bias", [h]),
                    norm2Gamma: try loader.upload(p + "output.LayerNorm.weight", [h]),
                    norm2Beta: try loader.upload(p + "output.LayerNorm.bias", [h]))
            }
            pooler = try loader.optionalPooler(hidden: h)
            let buckets = config.relativeAttentionNumBuckets
            relativeBias = try RelativePositionBias(
                table: try loader.values("encoder.relative_attention_bias.weight", [buckets, config.numHeads]),
                tableRows: buckets, heads: config.numHeads)
        case .distilbert:
            word = try loader.upload("embeddings.word_embeddings.weight", [config.vocabSize, h])
            position = try loader.upload("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, h])
            tokenType = nil
            tokenPositions = nil
            embedGamma = try loader.upload("embeddings.LayerNorm.weight", [h])
            embedBeta = try loader.upload("embeddings.LayerNorm.bias", [h])
            layers = try (0..<config.numLayers).map { i in
                let p = "transformer.layer.\(i)."
                return layer(
                    qkvWeight: try loader.uploadConcatenated(["q_lin", "k_lin", "v_lin"].map { p + "attention.\($0).weight" }, [h, h], linear: true),
                    qkvBias: try loader.uploadConcatenated(["q_lin", "k_lin", "v_lin"].map { p + "attention.\($0).bias" }, [h]),
                    outWeight: try loader.uploadLinear(p + "attention.out_lin.weight", [h, h]),
                    outBias: try loader.upload(p + "attention.out_lin.bias", [h]),
                    norm1Gamma: try loader.upload(p + "sa_layer_norm.weight", [h]),
                    norm1Beta: try loader.upload(p + "sa_layer_norm.bias", [h]),
                    ffn1Weight: try loader.uploadLinear(p + "ffn.lin1.weight", [inter, h]),
                    ffn1Bias: try loader.upload(p + "ffn.lin1.bias", [inter]),
                    ffn2Weight: try loader.uploadLinear(p + "ffn.lin2.weight", [h, inter]),
                    ffn2Bias: try loader.upload(p + "ffn.lin2.bias", [h]),
                    norm2Gamma: try loader.upload(p + "output_layer_norm.weight", [h]),
                    norm2Beta: try loader.upload(p + "output_layer_norm.bias", [h]))
            }
            pooler = nil
            relativeBias = nil
        }
    }

    /// Runs the encoder on a right-padded batch.
    /// - Parameters:
    ///   - ids: `[batch * seq]` token ids; typeIds: `[batch * seq]` or nil (all 0); lengths: `[batch]` real
    ///     tokens per sequence (1...seq; positions >= length are padding).
    ///   - layers: hidden-state indices wanted (0...numLayers).
    /// - Returns: for each requested layer, a backend buffer holding `[batch * seq, hidden]` (padding rows
    ///   unspecified). The buffers are owned by the encoder and overwritten by the next call.
    public func forward(ids: [Int32], typeIds: [Int32]?, lengths: [Int32], batch: Int, seq: Int,
                        layers wanted: [Int]) throws -> [Int: any DeviceBuffer] {
        let h = config.hiddenSize
        guard batch > 0, seq > 0 else { throw EncoderError.invalidInput("empty batch (\(batch) x \(seq))") }
        guard ids.count == batch * seq else {
            throw EncoderError.invalidInput("\(ids.count) token ids for a \(batch) x \(seq) batch")
        }
        if let typeIds, typeIds.count != batch * seq {
            throw EncoderError.invalidInput("\(typeIds.count) token type ids for a \(batch) x \(seq) batch")
        }
        guard lengths.count == batch, lengths.allSatisfy({ $0 >= 1 && Int($0) <= seq }) else {
            throw EncoderError.invalidInput("lengths \(lengths) must be \(batch) values in 1...\(seq)")
        }
        guard seq <= config.maxSequencePositions else {
            let detail = config.firstPositionRow == 0 ? ""
                : " less the \(config.firstPositionRow) rows up to the padding index, \(config.maxSequencePositions) positions"
            throw EncoderError.invalidInput("sequence length \(seq) exceeds max_position_embeddings \(config.maxPositionEmbeddings)\(detail)")
        }
        if let bad = wanted.first(where: { $0 < 0 || $0 > config.numLayers }) {
            throw EncoderError.invalidInput("layer \(bad) outside 0...\(config.numLayers)")
        }
        let rows = batch * seq
        try reserve(rows: rows)
        let deepest = wanted.max() ?? config.numLayers
        // RoBERTa-family checkpoints with a single token type always use type 0 (their tokenizers return no
        // token_type_ids); otherwise the caller's type ids, 0 when absent.
        let useCallerTypes = config.modelType == .bert || config.typeVocabSize > 1
        var types: [Int32]? = tokenType == nil ? nil
            : ((useCallerTypes ? typeIds : nil) ?? [Int32](repeating: 0, count: rows))
        if let tokenPositions {
            if let types, let bad = types.firstIndex(where: { $0 < 0 || Int($0) >= tokenPositions.types }) {
                throw EncoderError.invalidInput("token type \(types[bad]) at row \(bad) outside \(tokenPositions.types) types")
            }
            types = tokenPositions.lookupIds(ids: ids, typeIds: types, lengths: lengths, seq: seq)
        }
        let bias = try positionBias(seq: seq)
        try backend.embed(ids: ids, typeIds: types, batch: batch, seq: seq, hidden: h,
                          word: word, position: position, tokenType: tokenType,
                          gamma: embedGamma, beta: embedBeta, eps: config.layerNormEps, out: hiddenStates[0])
        let heads = config.numHeads, headDim = h / heads
        guard let qkv, let context, let afterAttention, let intermediate else {
            throw EncoderError.invalidInput("work buffers missing")
        }
        // Post-LN layers: LayerNorm(x + proj), then LayerNorm(h + FFN(h)). The residuals are added in the projections'
        // epilogues and the LayerNorms run alone, in place (the same float operations, in the same order, as adding
        // in the LayerNorm pass); a backend may run the whole stack per group of sequences (`encoderLayers`).
        let shape = AttentionShape(heads: heads, headDim: headDim, scale: 1 / Float(headDim).squareRoot())
        try backend.encoderLayers(Array(layers[0..<deepest]), attention: shape, positionBias: bias, lengths: lengths,
                                  seq: seq, hiddenStates: Array(hiddenStates[0...deepest]),
                                  scratch: EncoderScratch(qkv: qkv, context: context, afterAttention: afterAttention,
                                                          intermediate: intermediate))
        var result: [Int: any DeviceBuffer] = [:]
        for layer in wanted { result[layer] = hiddenStates[layer] }
        return result
    }

    /// MPNet's `[heads, seq, seq]` relative position bias on the backend (built when `seq` changes); nil for
    /// models without one.
    private func positionBias(seq: Int) throws -> (any DeviceBuffer)? {
        guard let relativeBias else { return nil }
        if let cached = cachedPositionBias, cached.seq == seq { return cached.buffer }
        cachedPositionBias = nil
        let buffer = try backend.makeBuffer(relativeBias.values(seq: seq))
        cachedPositionBias = (seq, buffer)
        return buffer
    }

    /// The pooler on the first-token (`[CLS]` / `<s>`) rows of `lastHidden` (`[batch * seq, hidden]`, the last layer's output of
    /// `forward`): writes `tanh(W · h_cls + b)` into `out` (`[batch, outStride]`) at column `outOffset`.
    public func applyPooler(lastHidden: any DeviceBuffer, batch: Int, seq: Int, out: any DeviceBuffer,
                            outOffset: Int, outStride: Int) throws {
        guard let pooler else {
            throw EncoderError.missingTensor(name: "pooler.dense.weight",
                                             triedNames: WeightNames.candidateNames(for: "pooler.dense.weight"))
        }
        let h = config.hiddenSize
        let cls = try backend.allocate(count: batch * h)
        let pooled = try backend.allocate(count: batch * h)
        for b in 0..<batch {
            try backend.copy(lastHidden, sourceOffset: b * seq * h, to: cls, destinationOffset: b * h, count: h)
        }
        try backend.linear(input: cls, rows: batch, inFeatures: h, weight: pooler.weight, bias: pooler.bias,
                           outFeatures: h, activation: .tanh, out: pooled)
        for b in 0..<batch {
            try backend.copy(pooled, sourceOffset: b * h, to: out, destinationOffset: outOffset + b * outStride, count: h)
        }
    }

    private func reserve(rows: Int) throws {
        guard rows > capacityRows else { return }
        let h = config.hiddenSize
        let capacity = max(rows, capacityRows * 3 / 2)
        hiddenStates = try (0...config.numLayers).map { _ in try backend.allocate(count: capacity * h) }
        qkv = try backend.allocate(count: capacity * 3 * h)
        context = try backend.allocate(count: capacity * h)
        afterAttention = try backend.allocate(count: capacity * h)
        intermediate = try backend.allocate(count: capacity * config.intermediateSize)
        capacityRows = capacity
    }
}

/// Finds tensors by their canonical name (`WeightNames`: with or without the `bert.`/`distilbert.` prefix,
/// LayerNorm `gamma`/`beta` aliases), checks shapes, uploads.
private struct TensorLoader {
    let store: any WeightStore
    let backend: any ComputeBackend

    func exists(_ name: String) -> Bool { store.resolve(name) != nil }

    /// Calls `body` with the tensor's values after checking its shape (`name`, else the first alternative
    /// present); the values are valid during the call only (read in place from a mapped float32 file).
    func withValues<R>(_ name: String, _ shape: [Int], alternatives: [String] = [],
                       _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        guard let found = ([name] + alternatives).lazy.compactMap(store.resolve).first, let actual = store.shape(of: found) else {
            throw EncoderError.missingTensor(name: name, triedNames: ([name] + alternatives).flatMap(WeightNames.candidateNames))
        }
        guard actual == shape else { throw EncoderError.wrongShape(name: found, expected: shape, actual: actual) }
        return try store.withFloat32Values(found) { values in
            guard values.count == shape.reduce(1, *) else {
                throw EncoderError.wrongShape(name: found, expected: shape, actual: [values.count])
            }
            return try body(values)
        }
    }

    /// The tensor's values after checking its shape (`name`, else the first alternative present).
    func values(_ name: String, _ shape: [Int], alternatives: [String] = []) throws -> [Float] {
        try withValues(name, shape, alternatives: alternatives) { Array($0) }
    }

    func upload(_ name: String, _ shape: [Int], alternatives: [String] = []) throws -> any DeviceBuffer {
        try withValues(name, shape, alternatives: alternatives) { try backend.makeBuffer(copying: $0) }
    }

    /// RoBERTa-style positions (`TokenPositions`): a zero table for the embed op's position slot
    /// (`[maxSequencePositions, hidden]`) and the `position + tokenType` lookup table for its gathered slot,
    /// built from `embeddings.position_embeddings.weight` and `tokenType` (`[types, hidden]` values, or nil).
    func uploadTokenPositions(_ config: EncoderConfig, tokenType: [Float]?) throws
        -> (zeros: any DeviceBuffer, lookup: any DeviceBuffer, positions: TokenPositions) {
        let h = config.hiddenSize
        guard let paddingIndex = config.positionPaddingIndex else {
            throw EncoderError.invalidConfig("\(config.modelType.rawValue) has no RoBERTa-style positions")
        }
        let position = try values("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, h])
        let types = tokenType == nil ? 1 : config.typeVocabSize
        let positions = TokenPositions(paddingIndex: paddingIndex, types: types)
        let lookup = TokenPositions.table(position: position, tokenType: tokenType, types: types, hidden: h)
        let zeros = [Float](repeating: 0, count: config.maxSequencePositions * h)
        return (try backend.makeBuffer(zeros), try backend.makeBuffer(lookup), positions)
    }

    /// `pooler.dense.*` when the checkpoint has it (BERT, RoBERTa family, MPNet), else nil.
    func optionalPooler(hidden h: Int) throws -> (weight: any DeviceBuffer, bias: any DeviceBuffer)? {
        guard exists("pooler.dense.weight") else { return nil }
        return (try uploadLinear("pooler.dense.weight", [h, h]), try upload("pooler.dense.bias", [h]))
    }

    /// A `linear` weight `[out, in]`, in the backend's preferred layout (`makeLinearWeight`).
    func uploadLinear(_ name: String, _ shape: [Int]) throws -> any DeviceBuffer {
        try withValues(name, shape) {
            try backend.makeLinearWeight(copying: $0, outFeatures: shape[0], inFeatures: shape[1])
        }
    }

    /// Uploads several same-shaped tensors stacked along the first dimension (Q, K, V -> QKV); `linear`:
    /// the result is a `linear` weight `[names.count * shape[0], shape[1]]`.
    func uploadConcatenated(_ names: [String], _ shape: [Int], linear: Bool = false) throws -> any DeviceBuffer {
        var all: [Float] = []
        all.reserveCapacity(names.count * shape.reduce(1, *))
        for name in names { try withValues(name, shape) { all.append(contentsOf: $0) } }
        if linear {
            return try backend.makeLinearWeight(all, outFeatures: names.count * shape[0], inFeatures: shape[1])
        }
        return try backend.makeBuffer(all)
    }
}
