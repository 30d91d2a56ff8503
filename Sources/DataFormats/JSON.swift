/// A small, strict JSON parser used for safetensors headers and model configuration files.
///
/// Why not `JSONSerialization`: it silently keeps one of two duplicate keys (a safetensors header with the
/// same tensor name twice must be rejected), it loses the distinction between `1` and `1.0`, and it reports
/// errors without byte offsets. This parser keeps object members in file order, rejects duplicate keys,
/// keeps numbers as their source text (converted on demand, overflow-checked) and limits nesting depth so
/// hostile input cannot exhaust the stack.

/// A parsed JSON value. Objects keep their members in source order.
public indirect enum JSONValue: Sendable, Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's source text, validated against the JSON number grammar.
    case number(String)
    case bool(Bool)
    case null

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(a), .array(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }

    /// The kind with its article, for messages: "an object", "a string", "an array", "a boolean", ...
    public var kindWithArticle: String {
        switch self {
        case .object, .array: return "an \(kindName)"
        default: return "a \(kindName)"
        }
    }

    /// A short name of the value's kind, for error messages ("object", "string", ...).
    public var kindName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }

    /// The member named `key` of an object (nil for other kinds or when absent).
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first(where: { $0.key == key })?.value
    }

    /// The result of reading a JSON number as a whole, non-negative or negative `Int`.
    public enum IntegerReading: Equatable, Sendable {
        case value(Int)
        /// The text has a fraction or exponent (`1.0`, `1e3`).
        case notAnInteger
        /// The integer does not fit in `Int`.
        case overflow
    }

    /// Reads a `.number` as an exact integer. Returns nil for non-numbers.
    public var integerReading: IntegerReading? {
        guard case let .number(text) = self else { return nil }
        return JSONValue.readInteger(text)
    }

    /// Reads a JSON number's text as an exact integer (`.notAnInteger` for a fraction or exponent).
    public static func readInteger(_ text: String) -> IntegerReading {
        var utf8 = Substring(text).utf8[...]
        var negative = false
        if utf8.first == UInt8(ascii: "-") { negative = true; utf8 = utf8.dropFirst() }
        var magnitude = 0
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return .notAnInteger }
            let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (m2, o2) = m1.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            if o1 || o2 { return .overflow }
            magnitude = m2
        }
        return .value(negative ? -magnitude : magnitude)
    }

    /// A `.number` as `Double` (nil for non-numbers or unrepresentable text).
    public var doubleValue: Double? {
        guard case let .number(text) = self else { return nil }
        return Double(text)
    }
}

/// Why a JSON text could not be parsed. `offset` is a byte offset into the parsed text.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidUTF8
        case invalidEscape
        case controlCharacterInString
        case invalidNumber
        case trailingContent
        case tooDeeplyNested(limit: Int)
        /// The same key twice in one object; `key` is the repeated key.
        case duplicateKey(String)
    }
    public var kind: Kind
    public var offset: Int
    /// Keys of the enclosing objects, outermost first (empty at top level). For a duplicate key this is the
    /// path of the object that holds the duplicate.
    public var objectPath: [String]

    public var description: String {
        let location = objectPath.isEmpty ? "at byte \(offset)" : "at byte \(offset) (inside \(objectPath.joined(separator: ".")))"
        switch kind {
        case .unexpectedEnd: return "unexpected end of JSON \(location)"
        case .unexpectedByte(let b):
            if b >= 0x20 && b < 0x7F { return "unexpected character '\(Character(Unicode.Scalar(b)))' \(location)" }
            return "unexpected byte 0x\(String(b, radix: 16)) \(location)"
        case .invalidUTF8: return "invalid UTF-8 \(location)"
        case .invalidEscape: return "invalid escape sequence in string \(location)"
        case .controlCharacterInString: return "unescaped control character in string \(location)"
        case .invalidNumber: return "invalid number \(location)"
        case .trailingContent: return "unexpected content after the JSON value \(location)"
        case .tooDeeplyNested(let limit): return "JSON nested deeper than \(limit) levels \(location)"
        case .duplicateKey(let key): return "duplicate key \"\(key)\" \(location)"
        }
    }
}

/// Strict JSON parser over UTF-8 bytes (RFC 8259), rejecting duplicate object keys.
public struct JSONScanner {
    /// Maximum nesting of arrays/objects.
    public static let maxDepth = 256

    /// Parses one JSON value surrounded by optional whitespace.
    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws -> JSONValue where Bytes.Element == UInt8 {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer in
            var scanner = Cursor(bytes: buffer)
            scanner.skipWhitespace()
            let value = try scanner.parseValue(depth: 0)
            scanner.skipWhitespace()
            if scanner.position != buffer.count {
                throw scanner.error(.trailingContent)
            }
            return value
        }
    }

    /// Returns the byte offset of the first invalid UTF-8 sequence, or nil when `bytes` is valid UTF-8.
    public static func firstInvalidUTF8Offset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 { i += 1; continue }
            let length: Int
            let minScalar: UInt32
            var scalar: UInt32
            if b0 & 0xE0 == 0xC0 { length = 2; minScalar = 0x80; scalar = UInt32(b0 & 0x1F) }
            else if b0 & 0xF0 == 0xE0 { length = 3; minScalar = 0x800; scalar = UInt32(b0 & 0x0F) }
            else if b0 & 0xF8 == 0xF0 { length = 4; minScalar = 0x10000; scalar = UInt32(b0 & 0x07) }
            else { return i }
            guard i + length <= n else { return i }
            for k in 1..<length {
                let b = bytes[i + k]
                guard b & 0xC0 == 0x80 else { return i }
                scalar = (scalar << 6) | UInt32(b & 0x3F)
            }
            // Overlong encodings, surrogates and values beyond U+10FFFF are invalid.
            if scalar < minScalar || (0xD800...0xDFFF).contains(scalar) || scalar > 0x10FFFF { return i }
            i += length
        }
        return nil
    }

    private struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0
        var path: [String] = []

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func error(_ kind: JSONParseError.Kind, at offset: Int? = nil) -> JSONParseError {
            JSONParseError(kind: kind, offset: offset ?? position, objectPath: path)
        }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        func peek() throws -> UInt8 {
            guard position < bytes.count else { throw error(.unexpectedEnd) }
            return bytes[position]
        }

        mutating func expectLiteral(_ literal: StaticString) throws {
            let count = literal.utf8CodeUnitCount
            let start = literal.utf8Start
            for k in 0..<count {
                guard position < bytes.count else { throw error(.unexpectedEnd) }
                guard bytes[position] == start[k] else { throw error(.unexpectedByte(bytes[position])) }
                position += 1
            }
        }

        mutating func parseValue(depth: Int) throws -> JSONValue {
            let byte = try peek()
            switch byte {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw error(.unexpectedByte(byte))
            }
        }

        mutating func parseObject(depth: Int) throws -> JSONValue {
            guard depth <= JSONScanner.maxDepth else { throw error(.tooDeeplyNested(limit: JSONScanner.maxDepth)) }
            position += 1 // {
            var members: [(key: String, value: JSONValue)] = []
            var seen = Set<String>()
            skipWhitespace()
            if try peek() == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipWhitespace()
                let keyOffset = position
                guard try peek() == UInt8(ascii: "\"") else { throw error(.unexpectedByte(bytes[position])) }
                let key = try parseString()
                guard seen.insert(key).inserted else { throw error(.duplicateKey(key), at: keyOffset) }
                skipWhitespace()
                guard try peek() == UInt8(ascii: ":") else { throw error(.unexpectedByte(bytes[position])) }
                position += 1
                skipWhitespace()
                path.append(key)
                let value = try parseValue(depth: depth)
                path.removeLast()
                members.append((key: key, value: value))
                skipWhitespace()
                let next = try peek()
                position += 1
                if next == UInt8(ascii: ",") { continue }
                if next == UInt8(ascii: "}") { return .object(members) }
                throw error(.unexpectedByte(next), at: position - 1)
            }
        }

        mutating func parseArray(depth: Int) throws -> JSONValue {
            guard depth <= JSONScanner.maxDepth else { throw error(.tooDeeplyNested(limit: JSONScanner.maxDepth)) }
            position += 1 // [
            var elements: [JSONValue] = []
            skipWhitespace()
            if try peek() == UInt8(ascii: "]") { position += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth))
                skipWhitespace()
                let next = try peek()
                position += 1
                if next == UInt8(ascii: ",") { continue }
                if next == UInt8(ascii: "]") { return .array(elements) }
                throw error(.unexpectedByte(next), at: position - 1)
            }
        }

        mutating func parseHex4() throws -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard position < bytes.count else { throw error(.unexpectedEnd) }
                let b = bytes[position]
                let digit: UInt32
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
                default: throw error(.invalidEscape)
                }
                value = value * 16 + digit
                position += 1
            }
            return value
        }

        mutating func parseString() throws -> String {
            position += 1 // opening quote
            var out: [UInt8] = []
            var runStart = position
            while true {
                guard position < bytes.count else { throw error(.unexpectedEnd) }
                let b = bytes[position]
                if b == UInt8(ascii: "\"") {
                    out.append(contentsOf: bytes[runStart..<position])
                    position += 1
                    break
                }
                if b < 0x20 { throw error(.controlCharacterInString) }
                if b == UInt8(ascii: "\\") {
                    out.append(contentsOf: bytes[runStart..<position])
                    position += 1
                    guard position < bytes.count else { throw error(.unexpectedEnd) }
                    let e = bytes[position]
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        let escapeStart = position - 2
                        var scalar = try parseHex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            // A high surrogate must be followed by an escaped low surrogate.
                            guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                                  bytes[position + 1] == UInt8(ascii: "u") else {
                                throw error(.invalidEscape, at: escapeStart)
                            }
                            position += 2
                            let low = try parseHex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error(.invalidEscape, at: escapeStart) }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw error(.invalidEscape, at: escapeStart)
                        }
                        guard let unicodeScalar = Unicode.Scalar(scalar) else { throw error(.invalidEscape, at: escapeStart) }
                        out.append(contentsOf: Array(String(Character(unicodeScalar)).utf8))
                    default:
                        throw error(.invalidEscape, at: position - 2)
                    }
                    runStart = position
                    continue
                }
                position += 1
            }
            let valid = out.withUnsafeBytes { JSONScanner.firstInvalidUTF8Offset($0) }
            if valid != nil { throw error(.invalidUTF8) }
            return String(decoding: out, as: UTF8.self)
        }

        mutating func parseNumber() throws -> String {
            let start = position
            func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count, isDigit(bytes[position]) else { throw error(.invalidNumber, at: start) }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else {
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard position < bytes.count, isDigit(bytes[position]) else { throw error(.invalidNumber, at: start) }
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                    position += 1
                }
                guard position < bytes.count, isDigit(bytes[position]) else { throw error(.invalidNumber, at: start) }
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        }
    }
}
