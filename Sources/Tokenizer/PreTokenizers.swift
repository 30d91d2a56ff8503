/// A half-open range `[start, end)` of scalar indices into a `NormalizedText`.
public struct TextSpan: Equatable, Sendable {
    public var start: Int
    public var end: Int
    public init(start: Int, end: Int) { self.start = start; self.end = end }
    public var isEmpty: Bool { start >= end }
}

/// The pre-tokenizer stage (HF `pre_tokenizer` section of tokenizer.json): splits normalized text into words.
public protocol PreTokenizer: Sendable {
    /// Splits each of `pieces` (spans of `text`, in order, non-overlapping) into words, appending the non-empty
    /// words in order to `words`. A pre-tokenizer may also rewrite `text` (e.g. `ByteLevel` prepends a space and
    /// maps bytes to characters, keeping origins): then `words` refer to the rewritten text, which must keep the
    /// scalars of every word it returns (scalars outside the words may be dropped).
    func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan])
}

/// What happens to a delimiter when splitting (HF `SplitDelimiterBehavior`).
public enum SplitBehavior: String, Sendable {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// Splits `piece` on scalars for which `isDelimiter` holds, each delimiter scalar being its own match,
/// then combines matches and the text between them exactly as HF's `NormalizedString::split` does.
func splitOnScalars(_ scalars: [UInt32], _ piece: TextSpan, behavior: SplitBehavior,
                    into words: inout [TextSpan], isDelimiter: (UInt32) -> Bool) {
    // HF's pattern matches: alternating non-match runs and single-scalar matches.
    var matches: [(span: TextSpan, isMatch: Bool)] = []
    var last = piece.start
    for i in piece.start..<piece.end where isDelimiter(scalars[i]) {
        if last < i { matches.append((TextSpan(start: last, end: i), false)) }
        matches.append((TextSpan(start: i, end: i + 1), true))
        last = i + 1
    }
    if last < piece.end { matches.append((TextSpan(start: last, end: piece.end), false)) }

    var out: [TextSpan] = []
    switch behavior {
    case .removed:
        for m in matches where !m.isMatch { out.append(m.span) }
    case .isolated:
        for m in matches { out.append(m.span) }
    case .mergedWithPrevious:
        var previousMatch = false
        for m in matches {
            if m.isMatch && !previousMatch, !out.isEmpty { out[out.count - 1].end = m.span.end } else { out.append(m.span) }
            previousMatch = m.isMatch
        }
    case .mergedWithNext:
        var previousMatch = false
        for m in matches.reversed() {
            if m.isMatch && !previousMatch, !out.isEmpty { out[out.count - 1].start = m.span.start } else { out.append(m.span) }
            previousMatch = m.isMatch
        }
        out.reverse()
    case .contiguous:
        var previousMatch = false
        for m in matches {
            if m.isMatch == previousMatch, !out.isEmpty { out[out.count - 1].end = m.span.end } else { out.append(m.span) }
            previousMatch = m.isMatch
        }
    }
    for span in out where !span.isEmpty { words.append(span) }
}

/// HF `BertPreTokenizer`: splits on whitespace (removed) and on punctuation (each punctuation scalar isolated).
/// Punctuation is ASCII punctuation or Unicode category P*.
public struct BertPreTokenizer: PreTokenizer {
    public init() {}

    public func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan]) {
        text.scalars.withUnsafeBufferPointer { scalars in
            for piece in pieces {
                var start = piece.start
                var i = piece.start
                while i < piece.end {
                    let scalar = scalars[i]
                    let isSpace: Bool, isPunct: Bool
                    if scalar < 0x80 {
                        isSpace = scalar == 0x20 || (scalar >= 0x09 && scalar <= 0x0D)
                        isPunct = (scalar >= 0x21 && scalar <= 0x2F) || (scalar >= 0x3A && scalar <= 0x40)
                            || (scalar >= 0x5B && scalar <= 0x60) || (scalar >= 0x7B && scalar <= 0x7E)
                    } else {
                        let flags = UnicodeProps.flags(of: scalar)
                        isSpace = flags & UnicodeProps.whitespace != 0
                        isPunct = flags & UnicodeProps.punctuation != 0
                    }
                    if isSpace || isPunct {
                        if start < i { words.append(TextSpan(start: start, end: i)) }
                        if isPunct { words.append(TextSpan(start: i, end: i + 1)) }
                        start = i + 1
                    }
                    i += 1
                }
                if start < piece.end { words.append(TextSpan(start: start, end: piece.end)) }
            }
        }
    }
}

/// HF `WhitespaceSplit`: splits on whitespace (Rust `char::is_whitespace`), removing it.
public struct WhitespaceSplitPreTokenizer: PreTokenizer {
    public init() {}

    public func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan]) {
        for piece in pieces {
            var start = piece.start
            for i in piece.start..<piece.end where UnicodeProps.flags(of: text.scalars[i]) & UnicodeProps.whitespace != 0 {
                if start < i { words.append(TextSpan(start: start, end: i)) }
                start = i + 1
            }
            if start < piece.end { words.append(TextSpan(start: start, end: piece.end)) }
        }
    }
}

/// HF `Whitespace`: the words of regex `\w+|[^\w\s]+` (runs of word characters, runs of other
/// non-space characters); spaces are dropped.
public struct WhitespacePreTokenizer: PreTokenizer {
    public init() {}

    public func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan]) {
        for piece in pieces {
            var runStart = piece.start
            var runKind = 0  // 0 space, 1 word, 2 other
            for i in piece.start..<piece.end {
                let flags = UnicodeProps.flags(of: text.scalars[i])
                let kind = flags & UnicodeProps.wordChar != 0 ? 1 : (flags & UnicodeProps.regexSpace != 0 ? 0 : 2)
                if kind != runKind {
                    if runKind != 0, runStart < i { words.append(TextSpan(start: runStart, end: i)) }
                    runStart = i
                    runKind = kind
                }
            }
            if runKind != 0, runStart < piece.end { words.append(TextSpan(start: runStart, end: piece.end)) }
        }
    }
}

/// HF `Punctuation`: splits on punctuation scalars (ASCII punctuation or Unicode P*) with `behavior`.
public struct PunctuationPreTokenizer: PreTokenizer {
    public let behavior: SplitBehavior

    public init(behavior: SplitBehavior = .isolated) { self.behavior = behavior }

    public func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan]) {
        for piece in pieces {
            splitOnScalars(text.scalars, piece, behavior: behavior, into: &words) {
                UnicodeProps.flags(of: $0) & UnicodeProps.punctuation != 0
            }
        }
    }
}

/// HF `Digits`: splits numeric scalars (Rust `char::is_numeric`) from the rest; each digit alone when
/// `individualDigits`, otherwise runs of digits together.
public struct DigitsPreTokenizer: PreTokenizer {
    public let individualDigits: Bool

    public init(individualDigits: Bool = false) { self.individualDigits = individualDigits }

    public func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan]) {
        for piece in pieces {
            splitOnScalars(text.scalars, piece, behavior: individualDigits ? .isolated : .contiguous, into: &words) {
                UnicodeProps.flags(of: $0) & UnicodeProps.numeric != 0
            }
        }
    }
}

/// HF `Sequence` pre-tokenizer: each pre-tokenizer splits the words of the previous one.
public struct SequencePreTokenizer: PreTokenizer {
    public let preTokenizers: [any PreTokenizer]

    public init(_ preTokenizers: [any PreTokenizer]) { self.preTokenizers = preTokenizers }

    public func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan]) {
        var current = pieces
        for preTokenizer in preTokenizers {
            var next: [TextSpan] = []
            preTokenizer.preTokenize(&text, pieces: current, into: &next)
            current = next
        }
        words.append(contentsOf: current)
    }
}

// MARK: - Loading from tokenizer.json (registered in TokenizerComponents)

extension BertPreTokenizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws { self.init() }
}

extension WhitespacePreTokenizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws { self.init() }
}

extension WhitespaceSplitPreTokenizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws { self.init() }
}

extension PunctuationPreTokenizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        let name = try fields.optionalString("behavior") ?? "Isolated"
        guard let behavior = SplitBehavior(rawValue: name) else {
            throw TokenizerError.invalidField(path: fields.path, field: fields.name("behavior"), detail: "unknown behavior '\(name)'")
        }
        self.init(behavior: behavior)
    }
}

extension DigitsPreTokenizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(individualDigits: try fields.bool("individual_digits", default: false))
    }
}

extension SequencePreTokenizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(try fields.objects("pretokenizers").map { try TokenizerComponents.preTokenizer($0, context) })
    }
}
