/// HF `Replace` with a `Regex` pattern (see `RegexPattern` for the supported subset): every non-overlapping
/// leftmost match is replaced by `content`. As HF does, the replacement scalars take the origin of the last
/// scalar of the match; an empty `content` removes the match.
public struct RegexReplaceNormalizer: Normalizer {
    public let pattern: RegexPattern
    public let content: [UInt32]

    public init(pattern: RegexPattern, content: String) {
        self.pattern = pattern
        self.content = content.unicodeScalars.map(\.value)
    }

    public func normalize(_ text: inout NormalizedText) {
        let matches = pattern.matches(in: text.scalars, range: 0..<text.count)
        guard !matches.isEmpty else { return }
        text.beginRewrite()
        var position = 0
        for match in matches {
            for i in position..<match.lowerBound { text.emit(text.scalars[i], origin: text.origins[i]) }
            let origin = text.origins[match.upperBound - 1]
            for scalar in content { text.emit(scalar, origin: origin) }
            position = match.upperBound
        }
        for i in position..<text.count { text.emit(text.scalars[i], origin: text.origins[i]) }
        text.commit()
    }
}

/// HF `Replace` as tokenizer.json writes it: `pattern` is `{"String": ...}` (a literal, `ReplaceNormalizer`) or
/// `{"Regex": ...}` (`RegexReplaceNormalizer`, the subset of `RegexPattern`); `content` replaces each match.
struct ReplacePatternNormalizer: Normalizer, JSONLoadable {
    let replace: any Normalizer

    init(json fields: JSONFields, context: ComponentContext) throws {
        let pattern = try fields.object("pattern")
        if pattern.has("Regex") {
            let source = try pattern.string("Regex")
            do {
                replace = RegexReplaceNormalizer(pattern: try RegexPattern(source), content: try fields.string("content"))
            } catch let error as RegexPatternError {
                throw TokenizerError.invalidField(path: fields.path, field: pattern.name("Regex"), detail: error.description)
            }
        } else {
            replace = try ReplaceNormalizer(json: fields, context: context)
        }
    }

    func normalize(_ text: inout NormalizedText) { replace.normalize(&text) }
}
