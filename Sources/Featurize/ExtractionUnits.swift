import Backend
import FeatureIO
import Foundation
import Scheduler
import Tokenizer

/// What each input row is, and how it becomes encoder sequences (`featurize extract`'s input options).
public enum InputShape: Sendable, Equatable {
    /// One text per row, truncated at the max length (the default).
    case texts
    /// A sentence pair per row: the text and the JSONL field / CSV column `secondField`, encoded with the model's
    /// pair template and cut by `truncation`.
    case pairs(secondField: String, truncation: PairTruncation)
    /// `--long-input chunk`: every window of a text (`stride` tokens overlapping) encoded, their pooled vectors
    /// combined by `reduce` into one row per text.
    case chunk(stride: Int, reduce: WindowReduce)
    /// `--long-input rows`: one row per window, and one index line per window (`TextWindow.indexLine`).
    case windowRows(stride: Int)

    /// The field of the pair's second text, for pairs.
    public var pairField: String? { if case let .pairs(field, _) = self { return field }; return nil }

    /// The job fingerprint's line for this shape; nil for plain texts (whose fingerprint has no such line).
    var signature: String? {
        switch self {
        case .texts: return nil
        case let .pairs(field, truncation): return "input=pairs(\(field),\(truncation.rawValue))"
        case let .chunk(stride, reduce): return "input=chunk(stride=\(stride),reduce=\(reduce.rawValue))"
        case let .windowRows(stride): return "input=rows(stride=\(stride))"
        }
    }
}

/// One input row as a job reads it: its 0-based row in the whole input (shards included), its text and, for
/// pairs, the second text.
public struct InputRecord: Sendable, Equatable {
    public var row: Int
    public var text: String
    public var pair: String?
    public init(row: Int, text: String, pair: String? = nil) { self.row = row; self.text = text; self.pair = pair }
}

/// One encoder sequence: a text, a pair, or one window of a long text (with its place in the text).
public struct EncodedUnit {
    public var encoding: Encoding
    public var window: TextWindow?
}

/// What a device returns for each sequence of a batch.
enum UnitOutput {
    /// The embedding: pooling, then the head (Dense, Normalize, truncation): `[dimension]`.
    case embedding
    /// The pooling stage only (windows pooled before the head runs on their combination): `[pooledWidth]`.
    case pooled
    /// Every token's vector of the chosen layers: `[tokens, tokenWidth]`.
    case tokens
}

/// What one input row gives the output: `count` rows of `values` (`[count, width]`), with the windows of
/// `--long-input rows` or the tokens of token-level output.
struct ItemOutput {
    var values: [Float]
    var count: Int
    var windows: [TextWindow] = []
    var tokens: TextTokens?

    /// The side-file bytes of this row (`ChunkLayout`): the windows' index lines, or the token record.
    var side: [UInt8] {
        if let tokens { return tokens.record }
        return windows.flatMap { Array($0.indexLine.utf8) }
    }
}

extension TextWindow {
    /// The window's line in `OUTPUT.windows.jsonl` (newline included).
    public var indexLine: String {
        "{\"text\": \(text), \"token_start\": \(tokenStart), \"token_end\": \(tokenEnd), \"char_start\": \(charStart), \"char_end\": \(charEnd)}\n"
    }
}

extension FeatureExtractor {
    /// Values per token in token-level output: the hidden size times the layers (concat) or the hidden size (mean).
    public var tokenWidth: Int {
        let hidden = model.config.hiddenSize
        return spec.layerReduce == .mean ? hidden : hidden * resolvedLayers.count
    }

    /// The scheduler's device for this extractor, for sequences of any input shape.
    /// Embeddings and pooled windows are pipelined (`ExecutionDevice.submit`: the next batch is enqueued before
    /// this one's download is waited for); token-level output runs synchronously.
    func executionDevice(name: String, output: UnitOutput) -> ExecutionDevice<EncodedUnit> {
        guard output != .tokens else {
            return ExecutionDevice(name: name) { [self] batch in try tokenVectors(of: batch.payloads.map(\.encoding)) }
        }
        let d = output == .pooled ? pooledWidth : dimension
        let submit: (WorkBatch<EncodedUnit>) throws -> () throws -> [[Float]] = { [self] batch in
            let encodings = batch.payloads.map(\.encoding)
            let finish: () throws -> [Float]
            if output == .pooled {
                let pending = try submitFeatures(of: encodings, specs: [poolingStageSpec])
                finish = { try pending.finish()[0] }
            } else {
                finish = try submitEncode(encodings)
            }
            return { Self.rows(try finish(), count: batch.count, width: d) }
        }
        return ExecutionDevice(name: name, run: { try submit($0)() }, submit: submit)
    }

    /// Tokenizes a window of input rows into their sequences, (unit, token count) each: one per text or pair,
    /// one per window of a long text. Adds the tokens (and truncated rows) to `counters`.
    func units(of records: [InputRecord], shape: InputShape, counting counters: TokenCounters) throws -> [[(EncodedUnit, Int)]] {
        var result: [[(EncodedUnit, Int)]]
        switch shape {
        case .texts:
            result = tokenize(records.map(\.text)).map { [(EncodedUnit(encoding: $0, window: nil), $0.count)] }
        case let .pairs(_, truncation):
            result = try records.map { record in
                let encoding: Encoding
                do { encoding = try tokenize(pairs: [TextPair(record.text, record.pair ?? "")], truncation: truncation)[0] } catch let FeaturizeError.invalidOption(detail) {
                    // "pair 0: ..." from the one-pair call: name the input row instead.
                    throw FeaturizeError.invalidOption("pair \(record.row)" + detail.drop(while: { $0 != ":" }))
                }
                return [(EncodedUnit(encoding: encoding, window: nil), encoding.count)]
            }
        case let .chunk(stride, _), let .windowRows(stride):
            // Long texts tokenized whole on `tokenizerThreads` cores (the tokenizer is loaded first, then only read).
            _ = try untruncatedTokenizer()
            var slots = [Result<[(EncodedUnit, Int)], Error>?](repeating: nil, count: records.count)
            let threads = max(1, min(tokenizerThreads, records.count))
            slots.withUnsafeMutableBufferPointer { out in
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    var i = t
                    while i < records.count {
                        out[i] = Result { try windows(of: records[i].text, row: records[i].row, stride: stride)
                            .map { (EncodedUnit(encoding: $0.0, window: $0.1), $0.0.count) } }
                        i += threads
                    }
                }
            }
            result = try slots.map { try $0!.get() }  // the first error in input order
        }
        var tokens = 0, truncated = 0
        for units in result {
            for (unit, count) in units { tokens += count; if unit.window == nil && unit.encoding.wasTruncated { truncated += 1 } }
        }
        counters.add(tokens: tokens, truncated: truncated)
        return result
    }

    /// What one input row's finished sequences give the output (in the order of `units`): the embedding, the
    /// windows' vectors combined (`chunk`: token-weighted mean or max, then the head), one row per window, or
    /// the tokens.
    func output(of units: [(payload: EncodedUnit, row: [Float])], shape: InputShape, tokenLevel: Bool) -> ItemOutput {
        if tokenLevel {
            var values: [Float] = [], ids: [Int32] = [], offsets: [(start: Int, end: Int)] = []
            for unit in units {
                values += unit.row
                ids += unit.payload.encoding.ids
                offsets += unit.payload.encoding.offsets
            }
            return ItemOutput(values: values, count: ids.count, tokens: TextTokens(ids: ids, offsets: offsets))
        }
        switch shape {
        case .texts, .pairs:
            return ItemOutput(values: units.flatMap(\.row), count: units.count)
        case .windowRows:
            return ItemOutput(values: units.flatMap(\.row), count: units.count, windows: units.compactMap(\.payload.window))
        case let .chunk(_, reduce):
            let width = pooledWidth
            var combined = [Float](repeating: reduce == .max ? -.infinity : 0, count: width)
            var weight: Float = 0
            for unit in units {
                let w = Float(unit.payload.encoding.count)
                for c in 0..<width {
                    let v = unit.row[c]
                    if reduce == .max { combined[c] = Swift.max(combined[c], v) } else { combined[c] += w * v }
                }
                weight += w
            }
            if reduce == .mean { for c in 0..<width { combined[c] /= weight } }
            return ItemOutput(values: head.isEmpty ? combined : head.apply(combined, rows: 1, width: width), count: 1)
        }
    }

    /// Every token's hidden state of the spec's layers (concatenated layer-major, or averaged with layer reduce
    /// `mean`) for one batch: one `[tokens, tokenWidth]` array per encoding.
    func tokenVectors(of encodings: [Encoding]) throws -> [[Float]] {
        let hidden = model.config.hiddenSize
        let layers = try spec.resolvedLayers(numLayers: model.config.numLayers)
        let width = tokenWidth
        let batch = encodings.count
        let (ids, types, lengths, seq) = paddedInputs(encodings)
        let states = try encoder.forward(ids: ids, typeIds: types, lengths: lengths, batch: batch, seq: seq,
                                         layers: Array(Set(layers)).sorted())
        var host: [Int: [Float]] = [:]
        for layer in Set(layers) {
            guard let state = states[layer] else { throw FeaturizeError.invalidOption("layer \(layer) was not computed") }
            var values = [Float](repeating: 0, count: batch * seq * hidden)
            try values.withUnsafeMutableBufferPointer { try backend.download(state, offset: 0, into: $0) }
            host[layer] = values
        }
        return encodings.enumerated().map { b, e in
            var rows = [Float](repeating: 0, count: e.count * width)
            for t in 0..<e.count {
                for (li, layer) in layers.enumerated() {
                    let source = host[layer]!
                    let base = (b * seq + t) * hidden
                    let target = t * width + (spec.layerReduce == .mean ? 0 : li * hidden)
                    for c in 0..<hidden { rows[target + c] += source[base + c] }
                }
                if spec.layerReduce == .mean && layers.count > 1 {
                    for c in 0..<width { rows[t * width + c] /= Float(layers.count) }
                }
            }
            return rows
        }
    }

    /// Runs `records` through the scheduler on this extractor's device (as `extract(texts:)` does) and returns
    /// every row's output, in input order. The in-memory counterpart of `ExtractionJob` for the library API.
    func outputs(of records: [InputRecord], shape: InputShape, tokenLevel: Bool = false,
                 batching: BatchingPolicy? = nil) throws -> [ItemOutput] {
        let device = executionDevice(name: backend.name, output: shape.unitOutput(tokenLevel: tokenLevel))
        let scheduler = try BatchScheduler<InputRecord, EncodedUnit>(devices: [device],
                                                                     fallback: nil, policy: batching ?? defaultBatching)
        let counters = TokenCounters()
        var result: [ItemOutput] = []
        result.reserveCapacity(records.count)
        _ = try scheduler.run(items: records, prepareUnits: { [self] window in try units(of: window, shape: shape, counting: counters) },
                              sinkItem: { [self] _, units in result.append(output(of: units, shape: shape, tokenLevel: tokenLevel)) })
        return result
    }
}

extension InputShape {
    /// What the devices return for this shape (`tokenLevel`: every token's vector).
    func unitOutput(tokenLevel: Bool) -> UnitOutput {
        if tokenLevel { return .tokens }
        if case .chunk = self { return .pooled }
        return .embedding
    }
}
