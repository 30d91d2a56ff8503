/// The compute-backend interface: a few buffers and the encoder's handful of ops.
///
/// The encoder graph (module `Encoder`) is written once against `ComputeBackend`; a backend (CPU, OpenCL, a
/// test fake) only implements these ops. All tensors are float32, row-major, dense. Shapes are given in
/// elements; a "token row" is one token position of one sequence, so a batch of `batch` sequences padded to
/// `seq` positions has `batch * seq` token rows.
///
/// Sequences are always **right-padded**: sequence `b` has `lengths[b]` real tokens at positions
/// `0..<lengths[b]`, and positions `lengths[b]..<seq` are padding. Padding rows may hold any value after an
/// op; ops must never let a padding position influence a real one (attention, pooling).

/// An opaque, backend-owned float32 buffer.
public protocol DeviceBuffer: AnyObject {
    /// Number of float32 elements.
    var count: Int { get }
}

/// Element-wise activation applied in an op's epilogue.
public enum Activation: String, Sendable, CaseIterable {
    /// GELU with the exact erf: `x * 0.5 * (1 + erf(x / sqrt(2)))` (HF `gelu`).
    case geluErf
    /// GELU tanh approximation (HF `gelu_new`, `gelu_pytorch_tanh`).
    case geluTanh
    case relu
    case tanh
}

/// How token vectors of one sequence are reduced to one vector. Semantics are defined in module `Pooling`
/// (the host implementation is the reference); a backend's `pool` must match it.
public enum PoolingMode: String, Sendable, CaseIterable, Codable {
    /// First token (`[CLS]`), raw.
    case cls
    /// Mean over real tokens.
    case mean
    /// Element-wise max over real tokens only.
    case max
    /// Sum over real tokens divided by sqrt(number of real tokens) (sentence-transformers).
    case meanSqrtLen = "mean_sqrt_len"
    /// Position-weighted mean, weights 1...n over real tokens (sentence-transformers `weightedmean`).
    case weightedMean = "weighted_mean"
    /// Last real token.
    case last
}

/// Errors a backend reports. `device` names the device; `call` the API call or op that failed.
public enum BackendError: Error, CustomStringConvertible, Equatable {
    /// Allocation failed (out-of-memory class: the scheduler may split the batch and retry).
    case outOfMemory(device: String, call: String, bytes: Int)
    /// Any other device failure (the scheduler may retry on another backend).
    case deviceFailure(device: String, call: String, code: Int, name: String)
    /// The backend cannot be used at all (no platform, no device, kernels failed to build).
    case unavailable(reason: String)
    /// A caller passed inconsistent shapes or buffers.
    case invalidArgument(op: String, detail: String)

    public var description: String {
        switch self {
        case let .outOfMemory(device, call, bytes):
            return "\(device): out of memory in \(call) (\(bytes) bytes requested)"
        case let .deviceFailure(device, call, code, name):
            return "\(device): \(call) failed with \(name) (\(code))"
        case let .unavailable(reason):
            return "backend unavailable: \(reason)"
        case let .invalidArgument(op, detail):
            return "invalid argument to \(op): \(detail)"
        }
    }
}

/// A compute device that runs the encoder's ops. Ops are enqueued in order; results are visible to the host
/// after `download` (which synchronises) or `synchronize()`.
public protocol ComputeBackend: AnyObject {
    /// Human-readable device name, e.g. "cpu (OpenBLAS, 2 threads)" or "opencl:0 NVIDIA H100".
    var name: String { get }

    // MARK: Buffers

    /// A new buffer of `count` float32 elements (contents undefined).
    func allocate(count: Int) throws -> any DeviceBuffer
    /// Copies `source` into `buffer` starting at element `offset`.
    func upload(_ source: UnsafeBufferPointer<Float>, to buffer: any DeviceBuffer, offset: Int) throws
    /// Copies `destination.count` elements from `buffer` starting at element `offset` to the host.
    func download(_ buffer: any DeviceBuffer, offset: Int, into destination: UnsafeMutableBufferPointer<Float>) throws
    /// Waits until every enqueued op has finished.
    func synchronize() throws

    /// A weight for `linear` (`[outFeatures, inFeatures]`, PyTorch `nn.Linear` layout). A backend may store it
    /// in a layout of its own (the CPU backend packs it into panels for its GEMM micro-kernel); `download`
    /// still returns the logical `[outFeatures, inFeatures]` values. Such buffers are inputs of `linear` only.
    func makeLinearWeight(_ values: [Float], outFeatures: Int, inFeatures: Int) throws -> any DeviceBuffer
    /// `makeLinearWeight` from memory the caller owns (e.g. a tensor inside a mapped safetensors file), read only
    /// during the call: a backend that packs or uploads anyway does so without an intermediate array.
    func makeLinearWeight(copying values: UnsafeBufferPointer<Float>, outFeatures: Int, inFeatures: Int) throws -> any DeviceBuffer

    // MARK: Ops

    /// Embedding layer: for each token row r = b*seq + t,
    /// `out[r] = LayerNorm(word[ids[r]] + position[t] + tokenType[typeIds[r]])`.
    /// - ids, typeIds: `[batch * seq]` host arrays (padding ids are valid ids, usually 0).
    /// - word: `[vocab, hidden]`, position: `[maxPositions, hidden]` (`seq <= maxPositions`), tokenType:
    ///   `[types, hidden]` or nil (DistilBERT), gamma/beta: `[hidden]`. out: `[batch * seq, hidden]`.
    ///   (RoBERTa-style models, whose position depends on the ids, pass a zero position table and a per-token
    ///   position + type table as `tokenType` with `typeIds` indexing it; see `Encoder`.)
    func embed(ids: [Int32], typeIds: [Int32]?, batch: Int, seq: Int, hidden: Int,
               word: any DeviceBuffer, position: any DeviceBuffer, tokenType: (any DeviceBuffer)?,
               gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float,
               out: any DeviceBuffer) throws

    /// Fully connected layer in PyTorch `nn.Linear` layout, with an optional residual added in the epilogue:
    /// `out[r] = act(input[r] · weightᵀ + bias) + residual[r]` for each of `rows` rows, where input is
    /// `[rows, inFeatures]`, weight `[outFeatures, inFeatures]`, bias `[outFeatures]` (or nil), residual and out
    /// `[rows, outFeatures]`. Order per element, each a rounded float operation: the dot product, `+ bias`, the
    /// activation, then `+ residual` (after the activation; the encoder passes a residual only with no
    /// activation, the post-LN `LayerNorm(x + proj)` shape). `residual` must not alias `out`.
    func linear(input: any DeviceBuffer, rows: Int, inFeatures: Int,
                weight: any DeviceBuffer, bias: (any DeviceBuffer)?, outFeatures: Int,
                activation: Activation?, residual: (any DeviceBuffer)?, out: any DeviceBuffer) throws

    /// `linear` (residual included) on the real token rows of a right-padded batch only: `input`, `residual`
    /// and `out` hold `[batch * seq, *]` rows and sequence b's real rows are `b*seq ..< b*seq + lengths[b]`.
    /// Padding rows of `out` are set to 0 (or, in the default implementation, computed like real rows:
    /// callers must not depend on them).
    func linearRealRows(input: any DeviceBuffer, lengths: [Int32], seq: Int, inFeatures: Int,
                        weight: any DeviceBuffer, bias: (any DeviceBuffer)?, outFeatures: Int,
                        activation: Activation?, residual: (any DeviceBuffer)?, out: any DeviceBuffer) throws

    /// Multi-head self-attention core (no projections). qkv: `[batch * seq, 3 * hidden]`, each row being
    /// `[q | k | v]` with head h at columns `h*headDim ..< (h+1)*headDim` of each part.
    /// For each sequence b and head h: `softmax(Q·Kᵀ * scale + bias[h] + mask) · V` where key positions
    /// `>= lengths[b]` are masked out (weight exactly 0). out: `[batch * seq, hidden]`, heads concatenated.
    /// Rows of padding positions in `out` are unspecified.
    /// - positionBias: nil, or an additive score bias `[heads, seq, seq]` (`bias[h][i][j]` for query i, key j)
    ///   shared by every sequence of the batch (MPNet's relative position bias).
    func attention(qkv: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                   scale: Float, positionBias: (any DeviceBuffer)?, out: any DeviceBuffer) throws

    /// `out[r] = LayerNorm(x[r] + residual[r]) * gamma + beta` over `rows` rows of `cols`; `out` may alias
    /// `x` or `residual`. Biased variance (divide by cols), eps added to the variance.
    func addLayerNorm(x: any DeviceBuffer, residual: any DeviceBuffer, rows: Int, cols: Int,
                      gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float, out: any DeviceBuffer) throws

    /// `out[r] = LayerNorm(x[r]) * gamma + beta` over `rows` rows of `cols`; `out` may alias `x`. The same
    /// statistics as `addLayerNorm` (biased variance, eps added to the variance), on `x` alone: the second half
    /// of `addLayerNorm` after a `linear` that added the residual in its epilogue.
    func layerNorm(x: any DeviceBuffer, rows: Int, cols: Int,
                   gamma: any DeviceBuffer, beta: any DeviceBuffer, eps: Float, out: any DeviceBuffer) throws

    /// Pools hidden states `[batch, seq, hidden]` to `out[batch, hidden]` at element offset `outOffset` with
    /// row stride `outStride` (so several poolings can be written side by side into one matrix).
    func pool(hidden: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, cols: Int,
              mode: PoolingMode, out: any DeviceBuffer, outOffset: Int, outStride: Int) throws

    /// Copies `count` elements from `source[sourceOffset...]` to `destination[destinationOffset...]`.
    func copy(_ source: any DeviceBuffer, sourceOffset: Int, to destination: any DeviceBuffer,
              destinationOffset: Int, count: Int) throws

    /// The row-wise rest of a post-LN encoder layer, after attention, on the real rows of a right-padded batch
    /// (`[batch * seq, *]` buffers, sequence b's real rows `b*seq ..< b*seq + lengths[b]`):
    /// `afterAttention = LayerNorm1(context · Woᵀ + bo + x)` and
    /// `out = LayerNorm2(act(afterAttention · W1ᵀ + b1) · W2ᵀ + b2 + afterAttention)`; `intermediate`
    /// (`[batch * seq, intermediateSize]`) is scratch. Padding rows are as `composedPostAttention` leaves them.
    /// Default: `composedPostAttention` (the ops one after another); a backend may run all of it per block of rows
    /// while they are in its caches (the CPU backend does), with the same float operations in the same order.
    func postAttention(_ layer: PostAttentionLayer, context: any DeviceBuffer, x: any DeviceBuffer, lengths: [Int32],
                       seq: Int, afterAttention: any DeviceBuffer, intermediate: any DeviceBuffer,
                       out: any DeviceBuffer) throws

    /// A stack of post-LN encoder layers on a right-padded batch (`[batch * seq, *]` buffers, sequence b's real
    /// rows `b*seq ..< b*seq + lengths[b]`): layer i reads `hiddenStates[i]` and writes `hiddenStates[i + 1]`
    /// (`[batch * seq, hidden]` each; `hiddenStates.count == layers.count + 1`), as
    /// `qkv = x · Wqkvᵀ + bqkv` (`linearRealRows`), `context = attention(qkv)` and `postAttention`.
    /// `scratch` holds the work buffers. Default: `composedEncoderLayers` (those ops, layer after layer, over the
    /// whole batch); a backend may instead take groups of whole sequences through every layer while their rows
    /// are in its caches (the CPU backend does), with the same float operations in the same order per row.
    func encoderLayers(_ layers: [EncoderLayerWeights], attention: AttentionShape, positionBias: (any DeviceBuffer)?,
                       lengths: [Int32], seq: Int, hiddenStates: [any DeviceBuffer], scratch: EncoderScratch) throws

    // MARK: Asynchronous download

    /// Starts copying `count` elements of `buffer` from element `offset` to the host and returns at once; the
    /// values are the buffer's contents after every op enqueued before this call (ops enqueued later, even
    /// ones overwriting `buffer`, do not change them). The pending download owns its host memory, so the
    /// caller may enqueue the next batch's work before waiting. Default: a synchronous `download`.
    func downloadAsync(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any PendingDownload
}

/// A download started by `downloadAsync`: host memory of its own that the device fills.
public protocol PendingDownload: AnyObject {
    /// Blocks until the values are on the host and returns them (`[count]` float32). Call it once.
    func wait() throws -> [Float]
}

/// A download that has already finished (the default `downloadAsync`, synchronous backends).
public final class CompletedDownload: PendingDownload {
    private let values: [Float]
    public init(_ values: [Float]) { self.values = values }
    public func wait() throws -> [Float] { values }
}

/// The weights of the row-wise part of a post-LN encoder layer after attention (see `postAttention`): the
/// attention output projection, LayerNorm 1, the feed-forward network and LayerNorm 2.
public struct PostAttentionLayer {
    public var hidden: Int, intermediateSize: Int
    public var outWeight: any DeviceBuffer, outBias: any DeviceBuffer
    public var norm1Gamma: any DeviceBuffer, norm1Beta: any DeviceBuffer
    public var ffn1Weight: any DeviceBuffer, ffn1Bias: any DeviceBuffer, activation: Activation
    public var ffn2Weight: any DeviceBuffer, ffn2Bias: any DeviceBuffer
    public var norm2Gamma: any DeviceBuffer, norm2Beta: any DeviceBuffer
    public var eps: Float

    public init(hidden: Int, intermediateSize: Int, outWeight: any DeviceBuffer, outBias: any DeviceBuffer,
                norm1Gamma: any DeviceBuffer, norm1Beta: any DeviceBuffer, ffn1Weight: any DeviceBuffer,
                ffn1Bias: any DeviceBuffer, activation: Activation, ffn2Weight: any DeviceBuffer,
                ffn2Bias: any DeviceBuffer, norm2Gamma: any DeviceBuffer, norm2Beta: any DeviceBuffer, eps: Float) {
        self.hidden = hidden; self.intermediateSize = intermediateSize
        self.outWeight = outWeight; self.outBias = outBias; self.norm1Gamma = norm1Gamma; self.norm1Beta = norm1Beta
        self.ffn1Weight = ffn1Weight; self.ffn1Bias = ffn1Bias; self.activation = activation
        self.ffn2Weight = ffn2Weight; self.ffn2Bias = ffn2Bias; self.norm2Gamma = norm2Gamma; self.norm2Beta = norm2Beta
        self.eps = eps
    }
}

/// The heads of multi-head self-attention: `heads * headDim` is the hidden size; scores are scaled by `scale`
/// (usually `1 / sqrt(headDim)`).
public struct AttentionShape: Sendable, Equatable {
    public var heads: Int, headDim: Int, scale: Float
    public init(heads: Int, headDim: Int, scale: Float) { self.heads = heads; self.headDim = headDim; self.scale = scale }
}

/// The weights of one post-LN encoder layer: the fused Q/K/V projection (`linear` weight
/// `[3 * hidden, hidden]`, bias `[3 * hidden]`) and the row-wise rest after attention.
public struct EncoderLayerWeights {
    public var qkvWeight: any DeviceBuffer, qkvBias: any DeviceBuffer
    public var rest: PostAttentionLayer
    public init(qkvWeight: any DeviceBuffer, qkvBias: any DeviceBuffer, rest: PostAttentionLayer) {
        self.qkvWeight = qkvWeight; self.qkvBias = qkvBias; self.rest = rest
    }
}

/// The work buffers of `encoderLayers`, each holding at least `batch * seq` rows: `qkv` `[rows, 3 * hidden]`,
/// `context` and `afterAttention` `[rows, hidden]`, `intermediate` `[rows, intermediateSize]`. Their contents
/// after the call are unspecified (a backend may use smaller buffers of its own instead, as the CPU backend does).
public struct EncoderScratch {
    public var qkv: any DeviceBuffer, context: any DeviceBuffer, afterAttention: any DeviceBuffer
    public var intermediate: any DeviceBuffer
    public init(qkv: any DeviceBuffer, context: any DeviceBuffer, afterAttention: any DeviceBuffer,
                intermediate: any DeviceBuffer) {
        self.qkv = qkv; self.context = context; self.afterAttention = afterAttention; self.intermediate = intermediate
    }
}

extension ComputeBackend {
    /// Default `encoderLayers`.
    public func encoderLayers(_ layers: [EncoderLayerWeights], attention: AttentionShape,
                              positionBias: (any DeviceBuffer)?, lengths: [Int32], seq: Int,
                              hiddenStates: [any DeviceBuffer], scratch: EncoderScratch) throws {
        try composedEncoderLayers(layers, attention: attention, positionBias: positionBias, lengths: lengths, seq: seq,
                                  hiddenStates: hiddenStates, scratch: scratch)
    }

    /// `encoderLayers` as separate ops, one layer after another over the whole batch: the Q/K/V projection on the
    /// real rows, attention, then `postAttention` (itself a backend op).
    public func composedEncoderLayers(_ layers: [EncoderLayerWeights], attention shape: AttentionShape,
                                      positionBias: (any DeviceBuffer)?, lengths: [Int32], seq: Int,
                                      hiddenStates: [any DeviceBuffer], scratch: EncoderScratch) throws {
        guard hiddenStates.count == layers.count + 1 else {
            throw BackendError.invalidArgument(op: "encoderLayers",
                                               detail: "\(hiddenStates.count) hidden-state buffers for \(layers.count) layers (expected \(layers.count + 1))")
        }
        let h = shape.heads * shape.headDim
        for (index, layer) in layers.enumerated() {
            try linearRealRows(input: hiddenStates[index], lengths: lengths, seq: seq, inFeatures: h,
                               weight: layer.qkvWeight, bias: layer.qkvBias, outFeatures: 3 * h, activation: nil,
                               out: scratch.qkv)
            try self.attention(qkv: scratch.qkv, lengths: lengths, batch: lengths.count, seq: seq, heads: shape.heads,
                               headDim: shape.headDim, scale: shape.scale, positionBias: positionBias, out: scratch.context)
            try postAttention(layer.rest, context: scratch.context, x: hiddenStates[index], lengths: lengths, seq: seq,
                              afterAttention: scratch.afterAttention, intermediate: scratch.intermediate,
                              out: hiddenStates[index + 1])
        }
    }
}

extension ComputeBackend {
    /// Default `postAttention`.
    public func postAttention(_ layer: PostAttentionLayer, context: any DeviceBuffer, x: any DeviceBuffer,
                              lengths: [Int32], seq: Int, afterAttention: any DeviceBuffer,
                              intermediate: any DeviceBuffer, out: any DeviceBuffer) throws {
        try composedPostAttention(layer, context: context, x: x, lengths: lengths, seq: seq,
                                  afterAttention: afterAttention, intermediate: intermediate, out: out)
    }

    /// `postAttention` as separate ops: the projection with the residual `x` in its epilogue, LayerNorm 1 in
    /// place over every row, FFN1 with the activation, FFN2 with the residual `afterAttention`, LayerNorm 2 in
    /// place over every row (padding rows: whatever `linearRealRows` left there, normalised).
    public func composedPostAttention(_ layer: PostAttentionLayer, context: any DeviceBuffer, x: any DeviceBuffer,
                                      lengths: [Int32], seq: Int, afterAttention: any DeviceBuffer,
                                      intermediate: any DeviceBuffer, out: any DeviceBuffer) throws {
        let h = layer.hidden, rows = lengths.count * seq
        try linearRealRows(input: context, lengths: lengths, seq: seq, inFeatures: h, weight: layer.outWeight,
                           bias: layer.outBias, outFeatures: h, activation: nil, residual: x, out: afterAttention)
        try layerNorm(x: afterAttention, rows: rows, cols: h, gamma: layer.norm1Gamma, beta: layer.norm1Beta,
                      eps: layer.eps, out: afterAttention)
        try linearRealRows(input: afterAttention, lengths: lengths, seq: seq, inFeatures: h, weight: layer.ffn1Weight,
                           bias: layer.ffn1Bias, outFeatures: layer.intermediateSize, activation: layer.activation,
                           residual: nil, out: intermediate)
        try linearRealRows(input: intermediate, lengths: lengths, seq: seq, inFeatures: layer.intermediateSize,
                           weight: layer.ffn2Weight, bias: layer.ffn2Bias, outFeatures: h, activation: nil,
                           residual: afterAttention, out: out)
        try layerNorm(x: out, rows: rows, cols: h, gamma: layer.norm2Gamma, beta: layer.norm2Beta, eps: layer.eps,
                      out: out)
    }
}

extension ComputeBackend {
    /// Allocates a buffer and uploads `values` into it.
    public func makeBuffer(_ values: [Float]) throws -> any DeviceBuffer {
        let buffer = try allocate(count: values.count)
        try values.withUnsafeBufferPointer { try upload($0, to: buffer, offset: 0) }
        return buffer
    }

    /// Allocates a buffer and uploads `values` (caller's memory, read during the call) into it.
    public func makeBuffer(copying values: UnsafeBufferPointer<Float>) throws -> any DeviceBuffer {
        let buffer = try allocate(count: values.count)
        try upload(values, to: buffer, offset: 0)
        return buffer
    }

    /// Default: through an array (`makeLinearWeight(_:outFeatures:inFeatures:)`).
    public func makeLinearWeight(copying values: UnsafeBufferPointer<Float>, outFeatures: Int,
                                 inFeatures: Int) throws -> any DeviceBuffer {
        try makeLinearWeight(Array(values), outFeatures: outFeatures, inFeatures: inFeatures)
    }

    /// Default: a plain buffer.
    public func makeLinearWeight(_ values: [Float], outFeatures: Int, inFeatures: Int) throws -> any DeviceBuffer {
        guard outFeatures > 0, inFeatures > 0, values.count == outFeatures * inFeatures else {
            throw BackendError.invalidArgument(op: "makeLinearWeight",
                                               detail: "\(values.count) values for a \(outFeatures) x \(inFeatures) weight")
        }
        return try makeBuffer(values)
    }

    /// Default: `linear` over every row, padding included.
    public func linearRealRows(input: any DeviceBuffer, lengths: [Int32], seq: Int, inFeatures: Int,
                               weight: any DeviceBuffer, bias: (any DeviceBuffer)?, outFeatures: Int,
                               activation: Activation?, residual: (any DeviceBuffer)?, out: any DeviceBuffer) throws {
        try linear(input: input, rows: lengths.count * seq, inFeatures: inFeatures, weight: weight, bias: bias,
                   outFeatures: outFeatures, activation: activation, residual: residual, out: out)
    }

    /// `linear` without a residual: `out = act(input · weightᵀ + bias)`.
    public func linear(input: any DeviceBuffer, rows: Int, inFeatures: Int,
                       weight: any DeviceBuffer, bias: (any DeviceBuffer)?, outFeatures: Int,
                       activation: Activation?, out: any DeviceBuffer) throws {
        try linear(input: input, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias,
                   outFeatures: outFeatures, activation: activation, residual: nil, out: out)
    }

    /// `linearRealRows` without a residual.
    public func linearRealRows(input: any DeviceBuffer, lengths: [Int32], seq: Int, inFeatures: Int,
                               weight: any DeviceBuffer, bias: (any DeviceBuffer)?, outFeatures: Int,
                               activation: Activation?, out: any DeviceBuffer) throws {
        try linearRealRows(input: input, lengths: lengths, seq: seq, inFeatures: inFeatures, weight: weight,
                           bias: bias, outFeatures: outFeatures, activation: activation, residual: nil, out: out)
    }

    /// `attention` without a position bias.
    public func attention(qkv: any DeviceBuffer, lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                          scale: Float, out: any DeviceBuffer) throws {
        try attention(qkv: qkv, lengths: lengths, batch: batch, seq: seq, heads: heads, headDim: headDim,
                      scale: scale, positionBias: nil, out: out)
    }

    /// Downloads the whole buffer.
    public func read(_ buffer: any DeviceBuffer) throws -> [Float] {
        var result = [Float](repeating: 0, count: buffer.count)
        try result.withUnsafeMutableBufferPointer { try download(buffer, offset: 0, into: $0) }
        return result
    }

    /// Default: the synchronous `download`, finished before it returns.
    public func downloadAsync(_ buffer: any DeviceBuffer, offset: Int, count: Int) throws -> any PendingDownload {
        guard count >= 0 else { throw BackendError.invalidArgument(op: "downloadAsync", detail: "count \(count) < 0") }
        var values = [Float](repeating: 0, count: count)
        try values.withUnsafeMutableBufferPointer { try download(buffer, offset: offset, into: $0) }
        return CompletedDownload(values)
    }
}
