import DataFormats
import Foundation

/// The tokenizer's view of a JSON object: `DataFormats.JSONObjectReader` with problems as
/// `TokenizerError.invalidField` (detail "missing" or what was expected and found).
typealias JSONFields = JSONObjectReader

extension JSONObjectReader {
    /// A special token of tokenizer_config.json: a string, or an object with `content` (transformers' AddedToken form).
    func optionalTokenString(_ key: String) throws -> String? {
        guard let v = member(key) else { return nil }
        if case .object = v { return try object(key).string("content") }
        return try string(key)
    }

    /// Reads the JSON object file at `path` (tokenizer.json, tokenizer_config.json, ...).
    static func read(_ path: String) throws -> JSONObjectReader {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch let error as FileSystemError {
            if error.isMissing { throw TokenizerError.fileNotFound(path: path) }
            throw TokenizerError.malformedJSON(path: path, detail: error.reason)
        }
        return try parse(bytes, path: path, makeError: { path, field, problem in
            switch problem {
            case .missing: return TokenizerError.invalidField(path: path, field: field, detail: "missing")
            case let .invalid(detail): return TokenizerError.invalidField(path: path, field: field, detail: detail)
            }
        }, malformed: { path, detail in TokenizerError.malformedJSON(path: path, detail: detail) })
    }
}

extension TextTokenizer {
    /// Loads a tokenizer from a model directory: `tokenizer.json` if present, else `vocab.txt` with BERT
    /// defaults (`tokenizer_config.json` settings: do_lower_case, strip_accents, tokenize_chinese_chars, special tokens).
    ///
    /// Maximum length (tokens, special tokens included): `DataFormats.MaxLengthRule` (explicit `maxLength`,
    /// sentence_bert_config.json `max_seq_length`, tokenizer_config.json `model_max_length`, config.json usable
    /// positions; never above the usable positions), nil (no truncation) when none is set.
    /// `truncation: false` disables truncation and the character cap (`maxLength` is then nil).
    public static func load(directory: String, maxLength: Int? = nil, truncation: Bool = true,
                            direction: TruncationDirection = .right) throws -> TextTokenizer {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TokenizerError.fileNotFound(path: directory)
        }
        func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func optionalConfig(_ name: String) throws -> JSONFields? {
            fm.fileExists(atPath: file(name)) ? try JSONFields.read(file(name)) : nil
        }
        let tokenizerConfig = try optionalConfig("tokenizer_config.json")
        // sentence_bert_config.json matters only when no length is given; config.json caps any length.
        let sentenceConfig = truncation && maxLength == nil ? try optionalConfig("sentence_bert_config.json") : nil
        let modelConfig = truncation ? try optionalConfig("config.json") : nil

        var resolved: Int? = nil
        if truncation {
            // The one rule (DataFormats.MaxLengthRule), fed from the directory's config files.
            let mml = try tokenizerConfig?.optionalDouble("model_max_length")
            var usable: Int? = nil
            if let positions = try modelConfig?.optionalInt("max_position_embeddings") {
                usable = MaxLengthRule.usablePositions(maxPositionEmbeddings: positions,
                                                       modelType: try modelConfig?.optionalString("model_type") ?? "",
                                                       padTokenId: try modelConfig?.optionalInt("pad_token_id"))
            }
            resolved = MaxLengthRule.resolve(explicit: maxLength,
                                             sentenceTransformersMaxSeqLength: try sentenceConfig?.optionalInt("max_seq_length"),
                                             tokenizerModelMaxLength: mml, usablePositions: usable)
            if let value = resolved, value < 1 {
                throw TokenizerError.invalidField(path: directory, field: "max_length", detail: "must be at least 1, got \(value)")
            }
        }

        if fm.fileExists(atPath: file("tokenizer.json")) {
            return try load(tokenizerJSON: file("tokenizer.json"), maxLength: resolved, truncation: truncation,
                            direction: direction, padToken: try tokenizerConfig?.optionalTokenString("pad_token"))
        }
        guard fm.fileExists(atPath: file("vocab.txt")) else { throw TokenizerError.noTokenizerFiles(directory: directory) }
        return try loadBertVocab(path: file("vocab.txt"), config: tokenizerConfig, maxLength: resolved, direction: direction)
    }

    /// Loads a tokenizer.json. Its `truncation` and `padding` sections are ignored (as transformers does);
    /// `maxLength` (tokens, special tokens included) enables truncation unless `truncation` is false.
    public static func load(tokenizerJSON path: String, maxLength: Int? = nil, truncation: Bool = true,
                            direction: TruncationDirection = .right, padToken: String? = nil) throws -> TextTokenizer {
        let root = try JSONFields.read(path)
        let model = try TokenizerComponents.model(try root.object("model"), ComponentContext())

        var addedTokens: [AddedToken] = []
        if root.has("added_tokens") {
            for token in try root.objects("added_tokens") {
                let id = try token.int("id")
                guard id >= 0, id <= Int(Int32.max) else {
                    throw TokenizerError.invalidField(path: path, field: token.name("id"), detail: "out of range: \(id)")
                }
                addedTokens.append(AddedToken(content: try token.string("content"), id: Int32(id),
                                              singleWord: try token.bool("single_word", default: false),
                                              lstrip: try token.bool("lstrip", default: false),
                                              rstrip: try token.bool("rstrip", default: false),
                                              normalized: try token.bool("normalized", default: true),
                                              special: try token.bool("special", default: false)))
            }
        }
        var tokenIds = model.vocab
        for token in addedTokens { tokenIds[token.content] = token.id }

        let context = ComponentContext(tokenIds: tokenIds)
        let normalizer = root.has("normalizer") ? try TokenizerComponents.normalizer(try root.object("normalizer"), context) : nil
        let preTokenizer = root.has("pre_tokenizer") ? try TokenizerComponents.preTokenizer(try root.object("pre_tokenizer"), context) : nil
        let postProcessor = root.has("post_processor")
            ? try TokenizerComponents.postProcessor(try root.object("post_processor"), context) : nil

        // Pad id, first found: the configured pad token, tokenizer.json `padding.pad_id`, `[PAD]`, `<pad>`, else 0.
        var padId: Int32 = 0
        if let padToken, let id = tokenIds[padToken] {
            padId = id
        } else if root.has("padding"), let padding = try? root.object("padding"), let id = try? padding.int("pad_id"),
                  id >= 0, id <= Int(Int32.max) {
            padId = Int32(id)
        } else if let id = tokenIds["[PAD]"] ?? tokenIds["<pad>"] {
            padId = id
        }
        return TextTokenizer(normalizer: normalizer, preTokenizer: preTokenizer, model: model, postProcessor: postProcessor,
                             addedTokens: addedTokens, maxLength: truncation ? maxLength : nil,
                             truncationDirection: direction, padId: padId)
    }

    /// BERT defaults from a `vocab.txt` (one token per line, id = line number) and tokenizer_config.json.
    static func loadBertVocab(path: String, config: JSONFields?, maxLength: Int?, direction: TruncationDirection) throws -> TextTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.fileNotFound(path: path) }
        guard let content = String(data: data, encoding: .utf8) else {
            throw TokenizerError.malformedJSON(path: path, detail: "vocab.txt is not valid UTF-8")
        }
        var vocab: [String: Int32] = [:]
        var lines = content.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        for (index, line) in lines.enumerated() {
            var token = line
            if token.hasSuffix("\r") { token.removeLast() }
            if vocab[token] == nil { vocab[token] = Int32(index) }
        }
        let lowercase = try config?.bool("do_lower_case", default: true) ?? true
        let stripAccents = try config?.optionalBool("strip_accents")
        let chinese = try config?.bool("tokenize_chinese_chars", default: true) ?? true
        func special(_ key: String, _ fallback: String) throws -> String { try config?.optionalTokenString(key) ?? fallback }
        let unk = try special("unk_token", "[UNK]"), cls = try special("cls_token", "[CLS]")
        let sep = try special("sep_token", "[SEP]"), pad = try special("pad_token", "[PAD]")
        let mask = try special("mask_token", "[MASK]")
        let model = try WordPieceModel(vocab: vocab, unknownToken: unk, source: path)
        var added: [AddedToken] = []
        for token in [pad, unk, cls, sep, mask] {
            if let id = vocab[token], !added.contains(where: { $0.content == token }) {
                added.append(AddedToken(content: token, id: id, normalized: false, special: true))
            }
        }
        guard let clsId = vocab[cls] else { throw TokenizerError.unknownToken(path: path, token: cls) }
        guard let sepId = vocab[sep] else { throw TokenizerError.unknownToken(path: path, token: sep) }
        return TextTokenizer(normalizer: BertNormalizer(cleanText: true, handleChineseChars: chinese,
                                                        stripAccents: stripAccents, lowercase: lowercase),
                             preTokenizer: BertPreTokenizer(), model: model,
                             postProcessor: BertProcessing(clsId: clsId, sepId: sepId), addedTokens: added,
                             maxLength: maxLength, truncationDirection: direction, padId: vocab[pad] ?? 0)
    }
}
