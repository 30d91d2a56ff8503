/// What a stage's loader may need besides its own `tokenizer.json` object.
struct ComponentContext {
    /// Token string -> id: the model's vocabulary plus the added tokens (used by post-processors; empty while
    /// the model itself is loaded).
    var tokenIds: [String: Int32] = [:]
}

/// A tokenizer stage that is built from its `tokenizer.json` object (`{"type": ..., ...}`). Every field is
/// validated; errors name the file and the dotted field path.
protocol JSONLoadable {
    init(json: JSONFields, context: ComponentContext) throws
}

typealias LoadableNormalizer = Normalizer & JSONLoadable
typealias LoadablePreTokenizer = PreTokenizer & JSONLoadable
typealias LoadableModel = TokenizerModel & JSONLoadable
typealias LoadablePostProcessor = PostProcessor & JSONLoadable

/// The one place where `tokenizer.json` `type` tags map to implementations. Adding a stage: write the type
/// (conforming to its stage protocol and `JSONLoadable`) and add one line to the table of its stage here.
/// A tag missing from a table is refused with `TokenizerError.unsupportedComponent` naming the type and the file.
enum TokenizerComponents {
    static let normalizers: [String: any LoadableNormalizer.Type] = [
        "BertNormalizer": BertNormalizer.self,
        "Lowercase": LowercaseNormalizer.self,
        "StripAccents": StripAccentsNormalizer.self,
        "NFD": UnicodeNormalizer.self, "NFC": UnicodeNormalizer.self,
        "NFKD": UnicodeNormalizer.self, "NFKC": UnicodeNormalizer.self,
        "Strip": StripNormalizer.self,
        "Replace": ReplacePatternNormalizer.self,
        "Precompiled": PrecompiledNormalizer.self,
        "Sequence": SequenceNormalizer.self,
    ]

    static let preTokenizers: [String: any LoadablePreTokenizer.Type] = [
        "BertPreTokenizer": BertPreTokenizer.self,
        "Whitespace": WhitespacePreTokenizer.self,
        "WhitespaceSplit": WhitespaceSplitPreTokenizer.self,
        "Punctuation": PunctuationPreTokenizer.self,
        "Digits": DigitsPreTokenizer.self,
        "Sequence": SequencePreTokenizer.self,
        "ByteLevel": ByteLevelPreTokenizer.self,
        "Metaspace": MetaspacePreTokenizer.self,
    ]

    static let models: [String: any LoadableModel.Type] = [
        "WordPiece": WordPieceModel.self,
        "BPE": BPEModel.self,
        "Unigram": UnigramModel.self,
    ]

    static let postProcessors: [String: any LoadablePostProcessor.Type] = [
        "BertProcessing": BertProcessing.self,
        "TemplateProcessing": TemplateProcessing.self,
        "RobertaProcessing": RobertaProcessing.self,
        "ByteLevel": ByteLevelPostProcessor.self,
    ]

    /// The `type` tag of a stage object (`defaultType` when the object has none).
    static func type(of fields: JSONFields, default defaultType: String? = nil) throws -> String {
        if let defaultType, !fields.has("type") { return defaultType }
        return try fields.string("type")
    }

    static func unsupported(_ fields: JSONFields, _ type: String) -> TokenizerError {
        TokenizerError.unsupportedComponent(path: fields.path, field: fields.prefix, type: type)
    }

    static func normalizer(_ fields: JSONFields, _ context: ComponentContext) throws -> any Normalizer {
        let type = try type(of: fields)
        guard let loader = normalizers[type] else { throw unsupported(fields, type) }
        return try loader.init(json: fields, context: context)
    }

    static func preTokenizer(_ fields: JSONFields, _ context: ComponentContext) throws -> any PreTokenizer {
        let type = try type(of: fields)
        guard let loader = preTokenizers[type] else { throw unsupported(fields, type) }
        return try loader.init(json: fields, context: context)
    }

    /// A model object without `type` is read as WordPiece (as older tokenizer.json files have it).
    static func model(_ fields: JSONFields, _ context: ComponentContext) throws -> any TokenizerModel {
        let type = try type(of: fields, default: "WordPiece")
        guard let loader = models[type] else { throw unsupported(fields, type) }
        return try loader.init(json: fields, context: context)
    }

    static func postProcessor(_ fields: JSONFields, _ context: ComponentContext) throws -> any PostProcessor {
        let type = try type(of: fields)
        guard let loader = postProcessors[type] else { throw unsupported(fields, type) }
        return try loader.init(json: fields, context: context)
    }
}
