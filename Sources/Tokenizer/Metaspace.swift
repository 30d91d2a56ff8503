/// HF `Metaspace` pre-tokenizer (SentencePiece-style words): in each piece, every space U+0020 becomes
/// `replacement` (usually "▁" U+2581); then `replacement` is prepended to the piece when it does not already
/// start with it and the scheme asks for it (`always`; `first`: only a piece that starts the text, at original
/// offset 0; `never`); then, with `split`, the piece is cut before every `replacement` (HF `MergedWithNext`:
/// "▁▁a" gives "▁" and "▁a").
///
/// The prepended scalar takes the origin of the piece's first scalar (HF `prepend`); replaced spaces keep theirs.
public struct MetaspacePreTokenizer: PreTokenizer {
    public enum PrependScheme: String, Sendable { case always, first, never }

    public let replacement: UInt32
    public let prependScheme: PrependScheme
    public let split: Bool

    public init(replacement: Unicode.Scalar = "\u{2581}", prependScheme: PrependScheme = .always, split: Bool = true) {
        self.replacement = replacement.value
        self.prependScheme = prependScheme
        self.split = split
    }

    public func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan]) {
        // Rewrite the text: pieces in order, each with its spaces replaced and an optional prefix; scalars
        // outside the pieces are dropped.
        text.beginRewrite()
        var newPieces: [TextSpan] = []
        newPieces.reserveCapacity(pieces.count)
        var count = 0
        for piece in pieces where !piece.isEmpty {
            let first = text.scalars[piece.start]
            let startsWithReplacement = first == replacement || first == 0x20  // spaces become `replacement`
            let prepend: Bool
            switch prependScheme {
            case .always: prepend = !startsWithReplacement
            case .first: prepend = !startsWithReplacement && text.origins[piece.start] == 0
            case .never: prepend = false
            }
            let start = count
            if prepend {
                text.emit(replacement, origin: text.origins[piece.start])
                count += 1
            }
            for i in piece.start..<piece.end {
                let scalar = text.scalars[i]
                text.emit(scalar == 0x20 ? replacement : scalar, origin: text.origins[i])
            }
            count += piece.end - piece.start
            newPieces.append(TextSpan(start: start, end: count))
        }
        text.commit()
        for piece in newPieces {
            if split {
                splitOnScalars(text.scalars, piece, behavior: .mergedWithNext, into: &words) { $0 == replacement }
            } else {
                words.append(piece)
            }
        }
    }
}

extension MetaspacePreTokenizer: JSONLoadable {
    /// Fields: `replacement` (one character, required), `prepend_scheme` (`always` default, `first`, `never`),
    /// legacy `add_prefix_space` (false requires `prepend_scheme` `never`, as HF), `split` (default true).
    init(json fields: JSONFields, context: ComponentContext) throws {
        let replacementText = try fields.string("replacement")
        let scalars = Array(replacementText.unicodeScalars)
        guard scalars.count == 1 else {
            throw TokenizerError.invalidField(path: fields.path, field: fields.name("replacement"),
                                              detail: "expected one character, got '\(replacementText)'")
        }
        var scheme = PrependScheme.always
        if let name = try fields.optionalString("prepend_scheme") {
            guard let parsed = PrependScheme(rawValue: name) else {
                throw TokenizerError.invalidField(path: fields.path, field: fields.name("prepend_scheme"),
                                                  detail: "expected first, always or never, got '\(name)'")
            }
            scheme = parsed
        }
        if try fields.optionalBool("add_prefix_space") == false, scheme != .never {
            throw TokenizerError.invalidField(path: fields.path, field: fields.name("add_prefix_space"),
                                              detail: "false does not match prepend_scheme '\(scheme.rawValue)' (Hugging Face refuses this too)")
        }
        self.init(replacement: scalars[0], prependScheme: scheme, split: try fields.bool("split", default: true))
    }
}
