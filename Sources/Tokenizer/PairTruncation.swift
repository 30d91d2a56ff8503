/// How a text pair longer than the maximum length is cut (Hugging Face `truncation=` for pairs).
public enum PairTruncation: String, Sendable, CaseIterable {
    /// Cut the longer sequence first, one token at a time (both to about half when both are long).
    case longestFirst = "longest_first"
    /// Cut only the first sequence.
    case onlyFirst = "only_first"
    /// Cut only the second sequence.
    case onlySecond = "only_second"
}

/// A pair that `onlyFirst` / `onlySecond` cannot bring under the maximum length.
public enum PairTruncationError: Error, CustomStringConvertible, Equatable {
    /// `sequence` ("first" or "second") has `tokens` content tokens but `toRemove` must go.
    case sequenceTooShort(sequence: String, tokens: Int, toRemove: Int)

    public var description: String {
        switch self {
        case let .sequenceTooShort(sequence, tokens, toRemove):
            return "pair truncation only_\(sequence): \(toRemove) tokens must be removed but the \(sequence) text has only \(tokens); use longest_first or a larger --max-length"
        }
    }
}
