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
    /// `extract(texts:)` (the path of `featurize extract --pair-column`).
    public func extract(pairs: [TextPair], truncation: PairTruncation = .longestFirst,
                        batching: BatchingPolicy? = nil) throws -> FeatureMatrix {
        let records = pairs.enumerated().map { InputRecord(row: $0.offset, text: $0.element.first, pair: $0.element.second) }
        let rows = try outputs(of: records, shape: .pairs(secondField: "pair", truncation: truncation), batching: batching)
        return try FeatureMatrix(values: rows.flatMap(\.values), rows: pairs.count, columns: dimension)
    }
}
