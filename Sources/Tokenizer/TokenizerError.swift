/// Errors from loading a tokenizer or reading tokenizer input. Every case names the file (and field or line).
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A required file is missing or unreadable.
    case fileNotFound(path: String)
    /// The file is not valid JSON (or not a JSON object at the top level).
    case malformedJSON(path: String, detail: String)
    /// A field is missing or has the wrong type. `field` is a dotted path such as `model.vocab`.
    case invalidField(path: String, field: String, detail: String)
    /// A component `type` (normalizer, pre-tokenizer, model, post-processor) that this tokenizer does not implement.
    case unsupportedComponent(path: String, field: String, type: String)
    /// A token that the configuration refers to is not in the vocabulary.
    case unknownToken(path: String, token: String)
    /// No tokenizer.json and no vocab.txt in a model directory.
    case noTokenizerFiles(directory: String)
    /// An input text file cannot be read.
    case unreadableInput(path: String)
    /// An input line is not valid UTF-8 (`line` counts from 1).
    case invalidUTF8(path: String, line: Int)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "tokenizer file not found or unreadable: \(path)"
        case .malformedJSON(let path, let detail):
            return "malformed JSON in \(path): \(detail)"
        case .invalidField(let path, let field, let detail):
            return "invalid field '\(field)' in \(path): \(detail)"
        case .unsupportedComponent(let path, let field, let type):
            return "unsupported \(field) type '\(type)' in \(path)"
        case .unknownToken(let path, let token):
            return "token '\(token)' referenced in \(path) is not in the vocabulary"
        case .noTokenizerFiles(let directory):
            return "no tokenizer.json or vocab.txt in model directory \(directory)"
        case .unreadableInput(let path):
            return "cannot read input file \(path)"
        case .invalidUTF8(let path, let line):
            return "invalid UTF-8 in \(path) at line \(line)"
        }
    }
}
