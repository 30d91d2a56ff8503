import Dispatch
import Scheduler
import Tokenizer

/// Two texts encoded together (`text`, `text_pair`): a question and a passage, a premise and a hypothesis.
public struct TextPair: Sendable, Equatable {
    public var first: String
    public var second: String
    public init(_ first: String, _ second: String) { self.first = first; self.second = second }
}

/// Sentence pairs: `[CLS] a [SEP] b [SEP]` (BERT, `token_type_ids` 1 on b) or `<s> a </s></s> b </s>` (RoBERTa,
/// MPNet), as the model's post-processor defines, truncated with Hugging Face's pair strategies.
extension FeatureExtractor {
    /// Tokenizes pairs with the model's pair template, prompt (prepended to the first text, as
    /// sentence-transformers does) and lowercasing; throws `PairTruncationError` naming the pair's index when
    /// `onlyFirst`/`onlySecond` cannot fit it.
    public func tokenize(pairs: [TextPair], truncation: PairTruncation = .longestFirst) throws -> [Encoding] {
        try pairs.enumerated().map { index, pair in
            var a = (prompt ?? "") + pair.first, b = pair.second
            if lowercaseInput { a = a.lowercased(); b = b.lowercased() }
            do { return try tokenizer.encode(a, pair: b, truncation: truncation) } catch let error as PairTruncationError {
                throw FeaturizeError.invalidOption("pair \(index): \(error)")
            }
        }
    }

    /// Features of text pairs, one row per pair in input order: `[pairs.count, dimension]`, batched as
    /// `extract(texts:)`.
    public func extract(pairs: [TextPair], truncation: PairTruncation = .longestFirst,
                        batching: BatchingPolicy? = nil) throws -> FeatureMatrix {
        let scheduler = try BatchScheduler<TextPair, Encoding>(devices: [executionDevice(name: backend.name)], fallback: nil,
                                                               policy: batching ?? defaultBatching)
        var result = [Float](repeating: 0, count: pairs.count * dimension)
        let d = dimension
        let consumed = PairCounter()  // windows are prepared in order, on one thread
        _ = try scheduler.run(items: pairs, prepare: { [self] window in
            let first = consumed.value
            consumed.value += window.count
            do { return try tokenize(pairs: window, truncation: truncation).map { ($0, $0.count) } } catch let FeaturizeError.invalidOption(detail) {
                throw FeaturizeError.invalidOption("\(detail) (window starting at pair \(first))")
            }
        }, sink: { row, features in
            for c in 0..<d { result[row * d + c] = features[c] }
        })
        return try FeatureMatrix(values: result, rows: pairs.count, columns: dimension)
    }
}

private final class PairCounter: @unchecked Sendable { var value = 0 }
