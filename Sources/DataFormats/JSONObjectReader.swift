/// Typed access to the members of a parsed JSON object, with errors naming the file and the dotted field path
/// (`model.vocab`, `post_processor.special_tokens.[CLS]`). The one typed reader of every JSON file Featurize
/// reads (model configs, safetensors indexes, tokenizer files); each module maps its problems onto its own
/// error type through `makeError`.
public struct JSONObjectReader: Sendable {
    /// What is wrong with a field.
    public enum Problem: Sendable, Equatable {
        /// Absent or null where a value is required.
        case missing
        /// Present with the wrong kind or value; the detail says what was expected and found.
        case invalid(String)
    }

    public typealias ErrorFactory = @Sendable (_ path: String, _ field: String, _ problem: Problem) -> any Error

    /// The file the object came from (for errors).
    public let path: String
    /// The object (`.object`).
    public let value: JSONValue
    /// Dotted path of this object inside the file ("" at the top level).
    public let prefix: String
    private let makeError: ErrorFactory

    public init(value: JSONValue, path: String, prefix: String = "", makeError: @escaping ErrorFactory) {
        self.value = value; self.path = path; self.prefix = prefix; self.makeError = makeError
    }

    /// Parses `bytes` (a whole file), which must hold a JSON object. `malformed` makes the error for a parse
    /// failure or a top level that is not an object (with the parser's detail, byte offset included).
    public static func parse(_ bytes: [UInt8], path: String, makeError: @escaping ErrorFactory,
                             malformed: (_ path: String, _ detail: String) -> any Error) throws -> JSONObjectReader {
        let value: JSONValue
        do { value = try JSONScanner.parse(bytes) } catch let error as JSONParseError {
            throw malformed(path, error.description)
        }
        guard case .object = value else { throw malformed(path, "top level is \(value.kindWithArticle), not an object") }
        return JSONObjectReader(value: value, path: path, makeError: makeError)
    }

    /// The dotted name of member `key` (for errors).
    public func name(_ key: String) -> String { prefix.isEmpty ? key : prefix + "." + key }

    /// The member `key`, nil when absent or null.
    public func member(_ key: String) -> JSONValue? {
        guard let v = value[key], v != .null else { return nil }
        return v
    }

    public func has(_ key: String) -> Bool { member(key) != nil }

    /// The object's members in file order.
    public var members: [(key: String, value: JSONValue)] {
        if case let .object(members) = value { return members }
        return []
    }

    /// An error for member `key` (for checks the typed accessors do not cover).
    public func error(_ key: String, _ detail: String) -> any Error { makeError(path, name(key), .invalid(detail)) }

    private func required(_ key: String) throws -> JSONValue {
        guard let v = member(key) else { throw makeError(path, name(key), .missing) }
        return v
    }

    /// A number's text, else "a string" / "a boolean" / ... (what an integer field found).
    private func found(_ v: JSONValue) -> String {
        if case let .number(text) = v { return text }
        return "\(v.kindWithArticle)"
    }

    /// An integer member; `defaultValue` when absent or null (nil default: required). `1.0` is not an integer.
    public func int(_ key: String, default defaultValue: Int? = nil) throws -> Int {
        guard let v = member(key) else {
            if let defaultValue { return defaultValue }
            throw makeError(path, name(key), .missing)
        }
        switch v.integerReading {
        case .value(let n)?: return n
        case .overflow?: throw makeError(path, name(key), .invalid("integer out of range"))
        case .notAnInteger?, nil: throw makeError(path, name(key), .invalid("expected an integer, found \(found(v))"))
        }
    }

    public func optionalInt(_ key: String) throws -> Int? { has(key) ? try int(key) : nil }

    /// A number member (parsed exactly from its decimal text).
    public func double(_ key: String, default defaultValue: Double? = nil) throws -> Double {
        guard let v = member(key) else {
            if let defaultValue { return defaultValue }
            throw makeError(path, name(key), .missing)
        }
        guard let d = v.doubleValue else { throw makeError(path, name(key), .invalid("expected a number, found \(v.kindWithArticle)")) }
        return d
    }

    public func optionalDouble(_ key: String) throws -> Double? { has(key) ? try double(key) : nil }

    public func string(_ key: String, default defaultValue: String? = nil) throws -> String {
        guard let v = member(key) else {
            if let defaultValue { return defaultValue }
            throw makeError(path, name(key), .missing)
        }
        guard case let .string(s) = v else { throw makeError(path, name(key), .invalid("expected a string, found \(v.kindWithArticle)")) }
        return s
    }

    public func optionalString(_ key: String) throws -> String? { has(key) ? try string(key) : nil }

    public func bool(_ key: String, default defaultValue: Bool? = nil) throws -> Bool {
        guard let v = member(key) else {
            if let defaultValue { return defaultValue }
            throw makeError(path, name(key), .missing)
        }
        guard case let .bool(b) = v else {
            throw makeError(path, name(key), .invalid("expected true or false, found \(v.kindWithArticle)"))
        }
        return b
    }

    public func optionalBool(_ key: String) throws -> Bool? { has(key) ? try bool(key) : nil }

    /// A nested object, read with the same file and error mapping.
    public func object(_ key: String) throws -> JSONObjectReader {
        let v = try required(key)
        guard case .object = v else { throw makeError(path, name(key), .invalid("expected an object, found \(v.kindWithArticle)")) }
        return JSONObjectReader(value: v, path: path, prefix: name(key), makeError: makeError)
    }

    public func array(_ key: String) throws -> [JSONValue] {
        let v = try required(key)
        guard case let .array(items) = v else { throw makeError(path, name(key), .invalid("expected an array, found \(v.kindWithArticle)")) }
        return items
    }

    /// An array of objects (`key[0]`, `key[1]`, ... in errors).
    public func objects(_ key: String) throws -> [JSONObjectReader] {
        try array(key).enumerated().map { index, element in
            let itemName = "\(name(key))[\(index)]"
            guard case .object = element else {
                throw makeError(path, itemName, .invalid("expected an object, found \(element.kindWithArticle)"))
            }
            return JSONObjectReader(value: element, path: path, prefix: itemName, makeError: makeError)
        }
    }
}
