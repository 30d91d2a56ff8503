import Backend
import Dispatch
import Scheduler
import Tokenizer

/// The one batching path: the Swift API, `featurize extract` and the ablation all run the scheduler's
/// length-sorted, token-budget batches through these two pieces.
extension FeatureExtractor {
    /// The scheduler's device for this extractor: runs one batch of encodings, returns one feature row each.
    /// Pipelined (`ExecutionDevice.submit`): the scheduler enqueues the next batch before finishing this one.
    public func executionDevice(name: String) -> ExecutionDevice<Encoding> {
        let d = dimension
        let submit: (WorkBatch<Encoding>) throws -> () throws -> [[Float]] = { [self] batch in
            let finish = try submitEncode(batch.payloads)
            return { Self.rows(try finish(), count: batch.count, width: d) }
        }
        return ExecutionDevice(name: name, run: { try submit($0)() }, submit: submit)
    }

    /// `[count, width]` values split into `count` rows.
    static func rows(_ flat: [Float], count: Int, width: Int) -> [[Float]] {
        (0..<count).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
    }

    /// Tokenizes a window of texts for the scheduler: (encoding, token count) per text, in order; adds the
    /// window's tokens and truncated texts to `counters`.
    func prepare(_ texts: [String], counting counters: TokenCounters) -> [(Encoding, Int)] {
        let encodings = tokenize(texts)
        counters.add(tokens: encodings.reduce(0) { $0 + $1.count },
                     truncated: encodings.reduce(0) { $0 + ($1.wasTruncated ? 1 : 0) })
        return encodings.map { ($0, $0.count) }
    }

    /// The batching of `extract(texts:)`: this device's default token budget (never below `maxLength`), at
    /// most `batchSize` texts a batch, windows of `batchSize * 16` texts (at least 1,024) sorted by length.
    public var defaultBatching: BatchingPolicy {
        BatchingPolicy(maxBatchTokens: max(device.defaults.maxBatchTokens, maxLength), maxBatchSize: batchSize,
                       window: max(batchSize * 16, 1_024))
    }

    /// Like `extract(texts:progress:)`, also returning the final counters in `stats`.
    /// - Parameter batching: nil for `defaultBatching`.
    public func extract(texts: [String], batching: BatchingPolicy? = nil, stats: inout ExtractionStats,
                        progress: ((ExtractionStats) -> Void)? = nil) throws -> FeatureMatrix {
        let start = DispatchTime.now().uptimeNanoseconds
        stats = ExtractionStats(totalTexts: texts.count)
        let counters = TokenCounters()
        var result = [Float](repeating: 0, count: texts.count * dimension)
        let scheduler = try BatchScheduler<String, Encoding>(devices: [executionDevice(name: backend.name)], fallback: nil,
                                                             policy: batching ?? defaultBatching)
        let d = dimension
        var done = 0
        var running = stats
        let report = max(1, batchSize)
        _ = try scheduler.run(items: texts, prepare: { [self] window in prepare(window, counting: counters) },
                              sink: { row, features in
            result.withUnsafeMutableBufferPointer { out in
                for c in 0..<d { out[row * d + c] = features[c] }
            }
            done += 1
            if done % report == 0 || done == texts.count {
                running.texts = done
                running.tokens = counters.tokens
                running.truncated = counters.truncated
                running.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                progress?(running)
            }
        })
        stats = running
        stats.texts = texts.count
        stats.tokens = counters.tokens
        stats.truncated = counters.truncated
        stats.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return try FeatureMatrix(values: result, rows: texts.count, columns: dimension)
    }
}
