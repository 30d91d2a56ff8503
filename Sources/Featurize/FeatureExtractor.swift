import Backend
import Dispatch
import Encoder
import Foundation
import ModelIO
import Pooling
import Tokenizer

/// Errors of the public feature-extraction API.
public enum FeaturizeError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case deviceUnavailable(device: String, reason: String)
    /// `--strict`: rows holding NaN or ±Inf (0-based row numbers, the first few).
    case nonFiniteRows(count: Int, rows: [Int], output: String)

    public var description: String {
        switch self {
        case let .invalidOption(detail): return detail
        case let .deviceUnavailable(device, reason): return "device '\(device)' is not available: \(reason)"
        case let .nonFiniteRows(count, rows, output):
            return "\(output): \(count) row(s) hold NaN or infinite values (rows \(rows.map(String.init).joined(separator: ", "))\(count > rows.count ? ", ..." : "")); --strict refuses them, no output written (check the model's weights, or use float32 if float16 overflowed)"
        }
    }
}

/// Counters of one extraction run.
public struct ExtractionStats: Sendable, Equatable {
    /// Texts encoded so far.
    public var texts = 0
    /// Tokens encoded so far (special tokens included, padding excluded).
    public var tokens = 0
    /// Texts cut to the maximum length.
    public var truncated = 0
    /// Wall-clock seconds since the run started.
    public var seconds = 0.0
    /// Texts in the whole run.
    public var totalTexts = 0

    public init(totalTexts: Int = 0) { self.totalTexts = totalTexts }
}

/// Text → feature vectors with a pretrained BERT-family encoder.
///
/// The pipeline is tokenizer → encoder (hidden states of the requested layers) → pooling (`PoolingSpec`) →
/// optional L2 normalisation. `extract(texts:)` batches exactly as `featurize extract` does (the scheduler's
/// length-sorted batches under the device's token budget, at most `batchSize` texts each); results are
/// returned in input order.
///
/// Defaults: on a sentence-transformers directory (modules.json) the pooling modes, `Normalize` and
/// `max_seq_length` of its configuration, last layer — the result then equals
/// `SentenceTransformer(dir).encode(texts)`; otherwise mean pooling of the last layer, no normalisation,
/// maximum length = `max_position_embeddings`.
public final class FeatureExtractor {
    /// The resolved model (directory, max length, default pooling).
    public let modelSpec: ModelSpec
    public let model: ModelDirectory
    public let spec: PoolingSpec
    /// Maximum tokens per text (special tokens included); longer texts are truncated.
    public let maxLength: Int
    public let batchSize: Int
    /// Output features per text.
    public let dimension: Int
    /// Where the encoder runs, and its backend.
    public let device: DeviceInfo
    public let backend: any ComputeBackend

    /// The prompt prepended to every text (nil: none), resolved from the `PromptChoice`.
    public let prompt: String?
    /// Tokens at the start of every sequence excluded from token pooling: the prompt's tokens (special tokens
    /// included, a trailing special token not) when the model's Pooling has `include_prompt: false`, else 0.
    public let excludedPromptTokens: Int
    /// What runs after pooling: the model's Dense/Normalize modules, truncation, normalisation.
    public let head: EmbeddingHead

    let encoder: Encoder
    let tokenizer: TextTokenizer
    /// `spec` as the pooling stage runs it (normalisation moved into `head`).
    private let poolingStage: PoolingSpec
    /// The pooling stage's spec and output width (`[rows, pooledWidth]` before the head).
    var poolingStageSpec: PoolingSpec { poolingStage }
    var pooledWidth: Int { poolingStage.outputDimension(hidden: model.config.hiddenSize) }
    private var wholeTextTokenizer: TextTokenizer?

    /// The model's tokenizer without truncation or a character cap (for windows of long texts), loaded once.
    func untruncatedTokenizer() throws -> TextTokenizer {
        if let t = wholeTextTokenizer { return t }
        let t = try TextTokenizer.load(directory: model.transformerPath, maxLength: nil, truncation: false)
        wholeTextTokenizer = t
        return t
    }
    let resolvedLayers: [Int]
    let lowercaseInput: Bool
    let tokenizerThreads: Int

    /// - Parameters:
    ///   - modelDirectory: a Hugging Face / sentence-transformers model directory.
    ///   - pooling: what to pool; nil for the default described on the type.
    ///   - maxLength: maximum tokens per text; nil for the model's default (`MaxLengthRule`). Must not exceed
    ///     the usable positions (`max_position_embeddings`, less `padding_idx + 1` for RoBERTa-style ids).
    ///   - batchSize: most texts per encoder batch (the device's token budget may cut batches smaller).
    ///   - device: where to run (`DeviceRegistry.system` lists this process's devices; default the CPU).
    ///   - threads: CPU threads (nil: all active processors).
    ///   - output: prompt, truncation and normalisation after truncation (default: the model's prompt, no truncation).
    public convenience init(modelDirectory: String, pooling: PoolingSpec? = nil, maxLength: Int? = nil, batchSize: Int = 32,
                            device: DeviceInfo = DeviceRegistry.system.cpu, threads: Int? = nil,
                            output: EmbeddingOptions = EmbeddingOptions()) throws {
        try self.init(model: try ModelSpec(path: modelDirectory, maxLength: maxLength), pooling: pooling,
                      batchSize: batchSize, device: device, threads: threads, output: output)
    }

    /// An extractor for a resolved model (several devices share one `ModelSpec`: the directory is read once).
    public init(model modelSpec: ModelSpec, pooling: PoolingSpec? = nil, batchSize: Int = 32,
                device: DeviceInfo = DeviceRegistry.system.cpu, threads: Int? = nil,
                output: EmbeddingOptions = EmbeddingOptions()) throws {
        guard batchSize >= 1 else { throw FeaturizeError.invalidOption("batch size must be at least 1, got \(batchSize)") }
        if let threads, threads < 1 { throw FeaturizeError.invalidOption("threads must be at least 1, got \(threads)") }
        self.modelSpec = modelSpec
        let model = modelSpec.directory
        self.model = model
        let config = model.config
        spec = pooling ?? modelSpec.defaultPooling
        resolvedLayers = try spec.resolvedLayers(numLayers: config.numLayers)
        maxLength = modelSpec.maxLength
        self.batchSize = batchSize
        lowercaseInput = modelSpec.lowercaseInput
        var stage = spec
        stage.normalize = false
        poolingStage = stage
        var steps: [EmbeddingHead.Step] = []
        let isModelPooling = spec.methods == modelSpec.defaultPooling.methods && spec.layers == modelSpec.defaultPooling.layers
            && (spec.layers.count == 1 || spec.layerReduce == modelSpec.defaultPooling.layerReduce)
        if isModelPooling {
            for step in modelSpec.head {
                if case .normalize = step, !spec.normalize { continue }
                steps.append(step)
            }
            if spec.normalize && !steps.contains(where: { if case .normalize = $0 { return true }; return false }) {
                steps.append(.normalize)
            }
        } else if spec.normalize {
            steps.append(.normalize)
        }
        let pooledWidth = spec.outputDimension(hidden: config.hiddenSize)
        if let n = output.truncateDim {
            let width = EmbeddingHead(steps: steps).outputDimension(input: pooledWidth)
            guard n >= 1 && n <= width else {
                throw FeaturizeError.invalidOption("truncate dim \(n) must be in 1...\(width) (the output width)")
            }
            steps.append(.truncate(n))
            if output.normalizeAfterTruncation { steps.append(.normalize) }
        }
        head = EmbeddingHead(steps: steps)
        dimension = head.outputDimension(input: pooledWidth)

        self.device = device
        backend = try device.makeBackend(threads: threads)
        tokenizerThreads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        // The weights load on another thread while this one loads the tokenizer (start-up of a small job). Errors
        // keep their order: the tokenizer's and the checks below first, then the weights'.
        let backend = self.backend
        let loading = DispatchGroup()
        nonisolated(unsafe) var loaded: Result<Encoder, Error>?
        DispatchQueue.global(qos: .userInitiated).async(group: loading) {
            loaded = Result { try Encoder(config: config, weights: try model.loadWeights(), backend: backend) }
        }
        defer { loading.wait() }
        tokenizer = try modelSpec.loadTokenizer()
        // A token id the embedding table lacks is a model-directory error, not a device failure mid-job.
        let ids = tokenizer.model.vocab.map { ($0.key, $0.value) } + tokenizer.addedTokens.map { ($0.content, $0.id) }
        if let (token, id) = ids.max(by: { $0.1 < $1.1 }), Int(id) >= config.vocabSize {
            throw FeaturizeError.invalidOption("\(model.path): the tokenizer has token id \(id) (\"\(token)\") but config.json's vocab_size is \(config.vocabSize): the tokenizer and the weights do not belong together")
        }
        let promptText = try modelSpec.promptText(for: output.prompt)
        prompt = (promptText?.isEmpty ?? true) ? nil : promptText
        if let prompt, !modelSpec.includePrompt {
            // sentence-transformers: the prompt tokenized alone (special tokens and all), less a trailing
            // special token.
            let encoding = tokenizer.encode(modelSpec.lowercaseInput ? prompt.lowercased() : prompt)
            let special = Set(tokenizer.addedTokens.filter(\.special).map(\.id))
            var count = encoding.count
            if let last = encoding.ids.last, special.contains(last) { count -= 1 }
            excludedPromptTokens = max(count, 0)
        } else {
            excludedPromptTokens = 0
        }
        loading.wait()
        encoder = try loaded!.get()
        if spec.methods.contains(.pooler) && !encoder.hasPooler {
            throw FeaturizeError.invalidOption("pooling 'pooler' needs BERT pooler weights (pooler.dense.*), which \(model.path) does not have")
        }
    }

    /// What besides the pooling spec shapes the output (prompt, head steps), for job fingerprints.
    public var outputSignature: String {
        let steps = head.steps.map { step -> String in
            switch step {
            case let .dense(layer): return "dense(\(layer.config.inFeatures)->\(layer.config.outFeatures),\(layer.config.activation.rawValue))"
            case .normalize: return "normalize"
            case let .truncate(n): return "truncate(\(n))"
            }
        }
        return "prompt=\(prompt.map { "\"\($0)\"" } ?? "none")|skip=\(excludedPromptTokens)|head=\(steps.joined(separator: ","))"
    }

    /// The default pooling of a model directory (`ModelSpec.defaultPooling`).
    public static func defaultPooling(modelDirectory: String) throws -> PoolingSpec {
        try ModelSpec(path: modelDirectory).defaultPooling
    }

    /// Features of `texts`, one row per text in input order: `[texts.count, dimension]`.
    /// - Parameter progress: called after every batch with the running counters.
    public func extract(texts: [String], progress: ((ExtractionStats) -> Void)? = nil) throws -> FeatureMatrix {
        var stats = ExtractionStats()
        return try extract(texts: texts, stats: &stats, progress: progress)
    }

    /// Features of `texts` as arrays (`[texts.count][dimension]`).
    public func extractRows(texts: [String]) throws -> [[Float]] { try extract(texts: texts).rowArrays() }

    /// Tokenizes texts with the model's tokenizer and truncation (and the model's lowercasing, if any),
    /// on `threads` cores; order preserved.
    public func tokenize(_ texts: [String]) -> [Encoding] {
        let prompted = prompt.map { p in texts.map { p + $0 } } ?? texts
        let input = lowercaseInput ? prompted.map { $0.lowercased() } : prompted
        return tokenizer.encodeBatch(input, threads: tokenizerThreads)
    }

    /// Encodes and pools one batch and runs the head; returns `[encodings.count, dimension]`.
    func encode(_ encodings: [Encoding]) throws -> [Float] { try submitEncode(encodings)() }

    /// `encode` in two halves: enqueues the batch (`submitFeatures`) and returns the finish, which waits for
    /// the pooled download, post-processes and runs the head: `[encodings.count, dimension]`.
    func submitEncode(_ encodings: [Encoding]) throws -> () throws -> [Float] {
        let pending = try submitFeatures(of: encodings, specs: [poolingStage])
        let rows = encodings.count, width = pooledWidth, head = head
        return {
            let pooled = try pending.finish()[0]
            return head.isEmpty ? pooled : head.apply(pooled, rows: rows, width: width)
        }
    }

    /// Runs the largest batch a token budget allows (`maxBatchTokens / maxLength` texts of `maxLength`
    /// tokens) once, so that a budget the device cannot hold fails at the start of a job, with advice, rather
    /// than hours into it. Returns the seconds it took.
    @discardableResult
    public func warmUp(maxBatchTokens: Int) throws -> Double {
        let length = maxLength
        let count = max(1, maxBatchTokens / length)
        let ids = [Int32](repeating: Int32(model.config.padTokenId), count: length)
        let encoding = Encoding(ids: ids, typeIds: [Int32](repeating: 0, count: length),
                                attentionMask: [Int32](repeating: 1, count: length),
                                offsets: [(start: Int, end: Int)](repeating: (0, 0), count: length),
                                wasTruncated: false, wasCharCapped: false)
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            _ = try features(of: [Encoding](repeating: encoding, count: count), specs: [spec])
        } catch {
            throw FeaturizeError.deviceUnavailable(
                device: backend.name,
                reason: "a warm-up batch of \(count) x \(length) tokens (--max-batch-tokens \(maxBatchTokens)) failed: \(error); lower --max-batch-tokens or --max-length")
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// The encoder's inputs for a batch, right-padded with the pad id to the longest: ids and type ids
    /// `[batch * seq]`, lengths `[batch]`, and `seq` (at least 1).
    func paddedInputs(_ encodings: [Encoding]) -> (ids: [Int32], types: [Int32], lengths: [Int32], seq: Int) {
        let batch = encodings.count
        let seq = max(1, encodings.map(\.count).max() ?? 1)
        var ids = [Int32](repeating: Int32(model.config.padTokenId), count: batch * seq)
        var types = [Int32](repeating: 0, count: batch * seq)
        var lengths = [Int32](repeating: 0, count: batch)
        for (b, e) in encodings.enumerated() {
            lengths[b] = Int32(e.count)
            for t in 0..<e.count { ids[b * seq + t] = e.ids[t]; types[b * seq + t] = e.typeIds[t] }
        }
        return (ids, types, lengths, seq)
    }

    /// Runs the encoder **once** on a batch and pools it for every spec: one row-major matrix
    /// `[encodings.count, spec.outputDimension]` per spec, in the order given. Every layer any spec asks for
    /// is computed in the same pass (this is what makes an ablation over many poolings cheap).
    /// Equal to `submitFeatures(of:specs:).finish()`.
    public func features(of encodings: [Encoding], specs: [PoolingSpec]) throws -> [[Float]] {
        try submitFeatures(of: encodings, specs: specs).finish()
    }

    /// The first half of `features(of:specs:)`: pads the batch and enqueues the encoder, the pooling and an
    /// asynchronous download of each spec's pooled matrix, without waiting for the device (on a backend with
    /// asynchronous downloads); `finish()` on the result waits and post-processes on the host. The next
    /// batch may be submitted before this one is finished: device buffers (activations, the pooled buffer) are
    /// reused only by ops enqueued after this batch's downloads, and the pending batch's host memory is its own.
    /// With the prompt excluded from token pooling (`excludedPromptTokens > 0`) the hidden states are needed
    /// on the host, so that part is finished inside this call.
    func submitFeatures(of encodings: [Encoding], specs: [PoolingSpec]) throws -> PendingFeatures {
        let batch = encodings.count
        let hidden = model.config.hiddenSize
        guard batch > 0 else { return PendingFeatures(rows: 0, hidden: hidden, parts: specs.map { spec in (.ready([]), spec, 0) }) }
        let (ids, types, lengths, seq) = paddedInputs(encodings)
        guard lengths.allSatisfy({ $0 > 0 }) else {
            throw FeaturizeError.invalidOption("the tokenizer produced an empty token sequence (it adds no special tokens)")
        }
        let config = model.config
        let layersPerSpec = try specs.map { try $0.resolvedLayers(numLayers: config.numLayers) }
        for s in specs where s.methods.contains(.pooler) && !encoder.hasPooler {
            throw FeaturizeError.invalidOption("pooling 'pooler' needs BERT pooler weights (pooler.dense.*), which \(model.path) does not have")
        }
        let states = try encoder.forward(ids: ids, typeIds: types, lengths: lengths, batch: batch, seq: seq,
                                         layers: Array(Set(layersPerSpec.joined())).sorted())
        var parts: [PendingFeatures.Part] = []
        for (spec, layers) in zip(specs, layersPerSpec) {
            let methods = spec.methods
            let concatWidth = layers.count * methods.count * hidden
            let pooled = try pooledBuffer(count: batch * concatWidth)
            for (li, layer) in layers.enumerated() {
                guard let state = states[layer] else { throw FeaturizeError.invalidOption("layer \(layer) was not computed") }
                for (mi, method) in methods.enumerated() {
                    let offset = (li * methods.count + mi) * hidden
                    switch method {
                    case let .tokens(mode):
                        try backend.pool(hidden: state, lengths: lengths, batch: batch, seq: seq, cols: hidden, mode: mode,
                                         out: pooled, outOffset: offset, outStride: concatWidth)
                    case .pooler:
                        try encoder.applyPooler(lastHidden: state, batch: batch, seq: seq, out: pooled,
                                                outOffset: offset, outStride: concatWidth)
                    }
                }
            }
            // The read is enqueued before the next spec's (or batch's) pooling overwrites `pooled`.
            let download = try backend.downloadAsync(pooled, offset: 0, count: batch * concatWidth)
            let tokenModes = methods.enumerated().compactMap { mi, m -> (Int, PoolingMode)? in
                if case let .tokens(mode) = m { return (mi, mode) }
                return nil
            }
            guard excludedPromptTokens > 0 && !tokenModes.isEmpty else {
                parts.append((.downloading(download), spec, layers.count))
                continue
            }
            // include_prompt false: token reductions over the tokens after the prompt, on the host (synchronous).
            var values = try download.wait()
            for (li, layer) in layers.enumerated() {
                guard let state = states[layer] else { continue }
                var host = [Float](repeating: 0, count: batch * seq * hidden)
                try host.withUnsafeMutableBufferPointer { try backend.download(state, offset: 0, into: $0) }
                host.withUnsafeBufferPointer { h in
                    values.withUnsafeMutableBufferPointer { v in
                        for b in 0..<batch {
                            for (mi, mode) in tokenModes {
                                HostPooling.poolSequence(h.baseAddress! + b * seq * hidden, skipping: excludedPromptTokens,
                                                         length: Int(lengths[b]), cols: hidden, mode: mode,
                                                         out: v.baseAddress! + b * concatWidth + (li * methods.count + mi) * hidden)
                            }
                        }
                    }
                }
            }
            parts.append((.ready(values), spec, layers.count))
        }
        return PendingFeatures(rows: batch, hidden: hidden, parts: parts)
    }

    private var pooledStorage: (any DeviceBuffer)?

    private func pooledBuffer(count: Int) throws -> any DeviceBuffer {
        if let b = pooledStorage, b.count >= count { return b }
        let b = try backend.allocate(count: count)
        pooledStorage = b
        return b
    }
}

/// A batch `FeatureExtractor.submitFeatures` has enqueued: per spec, the pooled matrix's download in progress
/// (or, with the prompt excluded, the values already pooled on the host), and what `finish` does after it.
final class PendingFeatures {
    enum Result { case downloading(any PendingDownload), ready([Float]) }
    typealias Part = (result: Result, spec: PoolingSpec, layers: Int)
    let rows: Int
    let hidden: Int
    private var parts: [Part]

    init(rows: Int, hidden: Int, parts: [Part]) { self.rows = rows; self.hidden = hidden; self.parts = parts }

    /// Waits for the downloads and post-processes on the host (mean over layers, L2 normalisation): one
    /// `[rows, spec.outputDimension]` matrix per spec, as `features(of:specs:)` returns. Call it once.
    func finish() throws -> [[Float]] {
        var results: [[Float]] = []
        for part in parts {
            var values: [Float]
            switch part.result {
            case let .downloading(download): values = try download.wait()
            case let .ready(ready): values = ready
            }
            guard rows > 0 else { results.append(values); continue }
            let spec = part.spec
            if spec.layerReduce == .mean && part.layers > 1 {
                values = HostPooling.meanOverLayers(values, rows: rows, layers: part.layers, width: spec.methods.count * hidden)
            }
            if spec.normalize { HostPooling.l2Normalize(&values, rows: rows, cols: spec.outputDimension(hidden: hidden)) }
            results.append(values)
        }
        parts = []
        return results
    }
}
