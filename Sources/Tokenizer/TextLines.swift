import Foundation

/// Reads texts from line-oriented input: every line is one text, empty lines included, so text `i` is line
/// `i + 1`. One trailing "\n" and a "\r" before it are removed from each line; input ending in "\n" has no
/// extra empty text after it; a final line without "\n" counts. Invalid UTF-8 is an error naming the line.
public enum TextLines {
    /// Splits `data` into lines; `source` names the input in errors.
    public static func split(_ data: Data, source: String) throws -> [String] {
        var lines: [String] = []
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0
            var lineNumber = 1
            func add(_ end: Int) throws {
                var stop = end
                if stop > start, bytes[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
                guard let line = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<stop]), as: UTF8.self) else {
                    throw TokenizerError.invalidUTF8(path: source, line: lineNumber)
                }
                lines.append(line)
            }
            var i = 0
            let n = bytes.count
            while i < n {
                if bytes[i] == UInt8(ascii: "\n") {
                    try add(i)
                    start = i + 1
                    lineNumber += 1
                }
                i += 1
            }
            if start < n { try add(n) }
        }
        return lines
    }

    /// Reads and splits the file at `path`.
    public static func read(path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.unreadableInput(path: path) }
        return try split(data, source: path)
    }
}
