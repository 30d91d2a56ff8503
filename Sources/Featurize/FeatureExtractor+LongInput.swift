import Scheduler
import Tokenizer

/// How windows of one long text combine into its row (`--long-input chunk`).
public enum WindowReduce: String, Sendable, CaseIterable {
    /// Mean of the windows' pooled vectors, each weighted by its token count (special tokens included).
    case mean
    /// Element-wise max over the windows' pooled vectors.
    case max
}

/// One window of a text (`--long-input rows`): which text, and which of its tokens and characters.
public struct TextWindow: Sendable, Equatable {
    /// Row of the text in the input.
    public var text: Int
    /// Content tokens `[tokenStart, tokenEnd)` of the whole text (no special tokens, no prompt tokens).
    public var tokenStart: Int
    public var tokenEnd: Int
    /// Unicode-scalar offsets `[charStart, charEnd)` into the text (prompt excluded) that those tokens cover.
    public var charStart: Int
    public var charEnd: Int
}

/// Long inputs: a text longer than `maxLength` is split into windows of `maxLength` tokens (the model's special
/// tokens and the prompt in every window), consecutive windows overlapping by `stride` content tokens, as
/// Hugging Face's `return_overflowing_tokens` with `stride`. A text that fits gives one window, identical to
/// the truncating encoding.
extension FeatureExtractor {
    /// The windows of `text` (row `row`): one encoding each, with its place in the text.
    /// - Throws: `FeaturizeError.invalidOption` when `stride` leaves no room to advance.
    public func windows(of text: String, row: Int = 0, stride: Int) throws -> [(Encoding, TextWindow)] {
        let whole = try untruncatedTokenizer()
        let promptText = prompt ?? ""
        var input = promptText + text
        if lowercaseInput { input = input.lowercased() }
        let full = whole.encode(input)
        let prefix = whole.postProcessor?.prefix.count ?? 0
        let suffix = whole.postProcessor?.suffix.count ?? 0
        let content = prefix..<(full.count - suffix)
        // Prompt content tokens: the prompt tokenized alone, less its special tokens.
        let promptTokens = promptText.isEmpty ? 0
            : max(0, whole.encode(lowercaseInput ? promptText.lowercased() : promptText).count - prefix - suffix)
        let textTokens = (content.lowerBound + promptTokens)..<content.upperBound
        let budget = maxLength - prefix - suffix - promptTokens
        guard budget > stride, stride >= 0 else {
            throw FeaturizeError.invalidOption("stride \(stride) must be at least 0 and below the tokens a window holds for the text (\(budget) of max length \(maxLength))")
        }
        let promptScalars = promptText.unicodeScalars.count
        var result: [(Encoding, TextWindow)] = []
        var start = 0
        let n = textTokens.count
        repeat {
            let end = min(start + budget, n)
            var keep = Array(full.ids.indices.prefix(prefix))
            keep += Array(content.lowerBound..<(content.lowerBound + promptTokens))
            keep += Array((textTokens.lowerBound + start)..<(textTokens.lowerBound + end))
            keep += Array(full.ids.indices.suffix(suffix))
            let encoding = Encoding(ids: keep.map { full.ids[$0] }, typeIds: keep.map { full.typeIds[$0] },
                                    attentionMask: [Int32](repeating: 1, count: keep.count), offsets: keep.map { full.offsets[$0] },
                                    wasTruncated: n > budget, wasCharCapped: full.wasCharCapped)
            let covered = (textTokens.lowerBound + start)..<(textTokens.lowerBound + end)
            let charStart = covered.isEmpty ? 0 : full.offsets[covered.lowerBound].start - promptScalars
            let charEnd = covered.isEmpty ? 0 : full.offsets[covered.upperBound - 1].end - promptScalars
            result.append((encoding, TextWindow(text: row, tokenStart: start, tokenEnd: end,
                                                charStart: max(0, charStart), charEnd: max(0, charEnd))))
            if end >= n { break }
            start += budget - stride
        } while true
        return result
    }

    /// One row per text, pooled over all its windows (`--long-input chunk`): the windows' pooled vectors
    /// (before the Dense/Normalize/truncate head) are combined by `reduce`, then the head runs on the result.
    /// A text that fits in one window gives exactly what `extract(texts:)` gives. Windows are batched like
    /// texts (those of one text may land in different batches).
    public func extractChunked(texts: [String], stride: Int, reduce: WindowReduce = .mean,
                               batching: BatchingPolicy? = nil) throws -> FeatureMatrix {
        let rows = try outputs(of: texts.enumerated().map { InputRecord(row: $0.offset, text: $0.element) },
                               shape: .chunk(stride: stride, reduce: reduce), batching: batching)
        return try FeatureMatrix(values: rows.flatMap(\.values), rows: texts.count, columns: dimension)
    }

    /// One row per window (`--long-input rows`), with the index of each window.
    public func extractWindows(texts: [String], stride: Int,
                               batching: BatchingPolicy? = nil) throws -> (features: FeatureMatrix, windows: [TextWindow]) {
        let rows = try outputs(of: texts.enumerated().map { InputRecord(row: $0.offset, text: $0.element) },
                               shape: .windowRows(stride: stride), batching: batching)
        let windows = rows.flatMap(\.windows)
        return (try FeatureMatrix(values: rows.flatMap(\.values), rows: windows.count, columns: dimension), windows)
    }
}
