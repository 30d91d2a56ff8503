/// A token from tokenizer.json `added_tokens` (special tokens such as `[CLS]`, `[MASK]`).
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int32
    /// Only matches when not inside a word (regex `\w` on both sides).
    public var singleWord: Bool
    /// Swallows whitespace to the left / right of the match.
    public var lstrip: Bool
    public var rstrip: Bool
    /// Matched in the normalized text (true) or the raw text (false).
    public var normalized: Bool
    public var special: Bool

    public init(content: String, id: Int32, singleWord: Bool = false, lstrip: Bool = false, rstrip: Bool = false,
                normalized: Bool = false, special: Bool = true) {
        self.content = content; self.id = id; self.singleWord = singleWord; self.lstrip = lstrip
        self.rstrip = rstrip; self.normalized = normalized; self.special = special
    }
}

/// A match of an added token: the scalar range it covers (including stripped whitespace) and its id.
struct AddedTokenMatch {
    var span: TextSpan
    var id: Int32
}

/// Finds added tokens in a scalar sequence the way HF's `AddedVocabulary` does: leftmost-longest,
/// non-overlapping matches, then `single_word`, `lstrip`, `rstrip` rules.
struct AddedTokenMatcher: Sendable {
    private struct Pattern: Sendable {
        var scalars: [UInt32]
        var token: AddedToken
    }
    private let patterns: [Pattern]
    /// First scalar of some pattern (ASCII only; non-ASCII first scalars always checked).
    private let asciiFirst: [Bool]

    var isEmpty: Bool { patterns.isEmpty }

    /// `contents[i]` is the (possibly normalized) text to match for `tokens[i]`.
    init(tokens: [AddedToken], contents: [[UInt32]]) {
        var patterns: [Pattern] = []
        var asciiFirst = [Bool](repeating: false, count: 128)
        for (token, scalars) in zip(tokens, contents) where !scalars.isEmpty {
            patterns.append(Pattern(scalars: scalars, token: token))
            if scalars[0] < 128 { asciiFirst[Int(scalars[0])] = true }
        }
        self.patterns = patterns
        self.asciiFirst = asciiFirst
    }

    /// Matches in `scalars[range]`, in order.
    func matches(in scalars: [UInt32], range: TextSpan) -> [AddedTokenMatch] {
        var result: [AddedTokenMatch] = []
        guard !patterns.isEmpty else { return result }
        var previousEnd = range.start
        var i = range.start
        while i < range.end {
            let first = scalars[i]
            if first < 128, !asciiFirst[Int(first)] { i += 1; continue }
            var best = -1, bestLength = 0
            for (index, pattern) in patterns.enumerated() where pattern.scalars.count > bestLength {
                let m = pattern.scalars.count
                guard i + m <= range.end, pattern.scalars[0] == first else { continue }
                var equal = true
                for k in 1..<m where scalars[i + k] != pattern.scalars[k] { equal = false; break }
                if equal { best = index; bestLength = m }
            }
            guard best >= 0 else { i += 1; continue }
            let token = patterns[best].token
            var start = i, stop = i + bestLength
            if token.singleWord {
                let before = start > range.start && UnicodeProps.flags(of: scalars[start - 1]) & UnicodeProps.wordChar != 0
                let after = stop < range.end && UnicodeProps.flags(of: scalars[stop]) & UnicodeProps.wordChar != 0
                if before || after { i = stop; continue }  // HF skips the whole discarded match
            }
            if token.lstrip {
                while start > previousEnd, UnicodeProps.flags(of: scalars[start - 1]) & UnicodeProps.whitespace != 0 { start -= 1 }
            }
            if token.rstrip {
                while stop < range.end, UnicodeProps.flags(of: scalars[stop]) & UnicodeProps.whitespace != 0 { stop += 1 }
            }
            result.append(AddedTokenMatch(span: TextSpan(start: start, end: stop), id: token.id))
            previousEnd = stop
            i = stop
        }
        return result
    }
}
