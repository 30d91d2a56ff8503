import DataFormats

/// Streams input texts for `featurize extract` from a file or standard input (`-`).
///
/// Formats:
/// - `.text` (`.txt`): every line is one text, empty lines included; `\n` / `\r\n` are stripped.
/// - `.jsonl` (`.jsonl`, `.ndjson`): one JSON object per line, the text in a string field (default `text`);
///   blank lines are skipped.
/// - `.csv` / `.tsv`: a header row, then records (RFC 4180: quoted fields with `""` escapes and embedded
///   newlines); the text is the named column (default `text`). Blank lines outside quotes are skipped.
///
/// A UTF-8 byte-order mark at the start is ignored. Invalid UTF-8 and malformed records are errors naming
/// the file and the 1-based line where the record starts. Memory stays bounded by the longest record.
public final class TextInputReader {
    public enum Format: Equatable, Sendable {
        case text
        case jsonl(field: String)
        case csv(column: String)
        case tsv(column: String)
    }

    /// The default JSONL field / CSV column holding the text.
    public static let defaultField = "text"

    /// The format implied by a file name's extension (`field` overrides the JSONL field / CSV column).
    /// Standard input (`-`) and extension-less names read as `.text`. Throws for other extensions.
    public static func format(forPath path: String, field: String? = nil) throws -> Format {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let ext = name.contains(".") ? name.split(separator: ".").last.map { $0.lowercased() } ?? "" : ""
        let field = field ?? defaultField
        switch ext {
        case "": return .text
        case "txt", "text": return .text
        case "jsonl", "ndjson": return .jsonl(field: field)
        case "csv": return .csv(column: field)
        case "tsv", "tab": return .tsv(column: field)
        default: throw FeatureIOError.unknownFormat(path: path)
        }
    }

    public let path: String
    public let format: Format
    /// The JSONL field / CSV column of a pair's second text (nil: one text per record).
    public let pairField: String?
    private let source: LineSource
    private var atStart = true
    /// CSV/TSV: indices of the text (and pair) columns and the header width, read lazily from the first record.
    private var column: (indices: [Int], width: Int)?
    /// 1-based line where the most recently returned text starts (0 before the first).
    public private(set) var lineNumber = 0
    /// Fraction of the input file read so far, 0...1 (nil when the size is unknown, e.g. standard input).
    public var fractionRead: Double? {
        guard let total = source.totalBytes, total > 0 else { return nil }
        return min(1, Double(source.bytesConsumed) / Double(total))
    }

    /// Opens `path` (`-` for standard input) in `format`, or in the format its extension implies.
    /// - pairField: the field / column of a pair's second text, read by `nextPair()` from the same record
    ///   (JSONL, CSV, TSV only: a text line holds one text).
    public init(path: String, format: Format? = nil, field: String? = nil, pairField: String? = nil) throws {
        let resolved = try format ?? TextInputReader.format(forPath: path, field: field)
        if pairField != nil, case .text = resolved { throw FeatureIOError.pairsNeedFields(path: path) }
        self.path = path
        self.format = resolved
        self.pairField = pairField
        self.source = try LineSource(path: path)
    }

    /// The next text, or nil at the end of the input.
    public func next() throws -> String? { try nextTexts()?.first }

    /// The next record's text and pair text (`pairField`), or nil at the end of the input.
    public func nextPair() throws -> (first: String, second: String)? {
        guard pairField != nil else { throw FeatureIOError.pairsNeedFields(path: path) }
        guard let texts = try nextTexts(), texts.count == 2 else { return nil }
        return (texts[0], texts[1])
    }

    /// The text (and the pair text, with `pairField`) of the next record.
    private func nextTexts() throws -> [String]? {
        switch format {
        case .text: return try nextLineText().map { [$0] }
        case .jsonl(let field): return try nextJSONTexts(fields: [field] + (pairField.map { [$0] } ?? []))
        case .csv(let name):
            return try nextDelimitedTexts(columns: [name] + (pairField.map { [$0] } ?? []), delimiter: UInt8(ascii: ","))
        case .tsv(let name): return try nextDelimitedTexts(columns: [name] + (pairField.map { [$0] } ?? []), delimiter: 0x09)
        }
    }

    /// Up to `maxCount` next texts (fewer only at the end of the input).
    public func nextBatch(maxCount: Int) throws -> [String] {
        var batch: [String] = []
        batch.reserveCapacity(max(0, maxCount))
        while batch.count < maxCount, let text = try next() { batch.append(text) }
        return batch
    }

    /// All remaining texts.
    public func readAll() throws -> [String] {
        var all: [String] = []
        while let text = try next() { all.append(text) }
        return all
    }

    // MARK: - Lines

    private func nextPhysicalLine() throws -> (bytes: [UInt8], terminator: LineSource.Terminator)? {
        guard var line = try source.nextLine() else { return nil }
        if atStart {
            atStart = false
            if line.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { line.bytes.removeFirst(3) }
        }
        return line
    }

    private func decode(_ bytes: [UInt8], line: Int) throws -> String {
        guard let text = decodeUTF8(bytes) else { throw FeatureIOError.invalidUTF8(path: path, line: line) }
        return text
    }

    private func nextLineText() throws -> String? {
        guard let line = try nextPhysicalLine() else { return nil }
        lineNumber = source.lineNumber
        return try decode(line.bytes, line: lineNumber)
    }

    // MARK: - JSONL

    private func nextJSONTexts(fields: [String]) throws -> [String]? {
        while let line = try nextPhysicalLine() {
            let number = source.lineNumber
            if line.bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            _ = try decode(line.bytes, line: number) // reports invalid UTF-8 as such, not as a JSON error
            let value: JSONValue
            do {
                value = try JSONScanner.parse(line.bytes)
            } catch let error as JSONParseError {
                throw FeatureIOError.invalidJSON(path: path, line: number, detail: error.description)
            }
            guard case .object = value else {
                throw FeatureIOError.jsonLineNotObject(path: path, line: number, found: value.kindName)
            }
            var texts: [String] = []
            for field in fields {
                guard let fieldValue = value[field] else {
                    throw FeatureIOError.missingField(path: path, line: number, field: field)
                }
                guard case let .string(text) = fieldValue else {
                    throw FeatureIOError.fieldNotString(path: path, line: number, field: field, found: fieldValue.kindName)
                }
                texts.append(text)
            }
            lineNumber = number
            return texts
        }
        return nil
    }

    // MARK: - CSV / TSV

    /// Reads one record (possibly spanning lines inside quotes). Returns the fields and the start line, or nil
    /// at end of input. Blank lines are skipped.
    private func nextRecord(delimiter: UInt8) throws -> (fields: [[UInt8]], line: Int)? {
        let quote = UInt8(ascii: "\"")
        var fields: [[UInt8]] = []
        var field: [UInt8] = []
        var inQuotes = false
        var fieldWasQuoted = false
        var afterClosingQuote = false
        var startLine = 0
        while let line = try nextPhysicalLine() {
            let (bytes, terminator) = (line.bytes, line.terminator)
            if startLine == 0 {
                if bytes.isEmpty { continue } // blank line between records
                startLine = source.lineNumber
            }
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                if inQuotes {
                    if b == quote {
                        if i + 1 < bytes.count && bytes[i + 1] == quote {
                            field.append(quote); i += 2; continue
                        }
                        inQuotes = false
                        afterClosingQuote = true
                    } else {
                        field.append(b)
                    }
                } else if b == delimiter {
                    fields.append(field)
                    field = []
                    fieldWasQuoted = false
                    afterClosingQuote = false
                } else if afterClosingQuote {
                    throw FeatureIOError.textAfterClosingQuote(path: path, line: source.lineNumber)
                } else if b == quote {
                    guard field.isEmpty && !fieldWasQuoted else {
                        throw FeatureIOError.quoteInUnquotedField(path: path, line: source.lineNumber)
                    }
                    inQuotes = true
                    fieldWasQuoted = true
                } else {
                    field.append(b)
                }
                i += 1
            }
            if inQuotes {
                // The record continues on the next line; keep the newline as written.
                switch terminator {
                case .lf: field.append(0x0A)
                case .crlf: field.append(contentsOf: [0x0D, 0x0A])
                case .endOfFile: throw FeatureIOError.unterminatedQuote(path: path, line: startLine)
                }
                continue
            }
            fields.append(field)
            return (fields, startLine)
        }
        if inQuotes { throw FeatureIOError.unterminatedQuote(path: path, line: startLine) }
        return nil
    }

    private func nextDelimitedTexts(columns wanted: [String], delimiter: UInt8) throws -> [String]? {
        if column == nil {
            guard let header = try nextRecord(delimiter: delimiter) else { throw FeatureIOError.missingHeader(path: path) }
            var names: [String] = []
            for raw in header.fields {
                let columnName = try decode(raw, line: header.line)
                if names.contains(columnName) {
                    throw FeatureIOError.duplicateColumn(path: path, line: header.line, column: columnName)
                }
                names.append(columnName)
            }
            let indices = try wanted.map { name in
                guard let index = names.firstIndex(of: name) else {
                    throw FeatureIOError.missingColumn(path: path, line: header.line, column: name, available: names)
                }
                return index
            }
            column = (indices, names.count)
        }
        guard let layout = column else { return nil }
        let (indices, width) = (layout.indices, layout.width)
        guard let record = try nextRecord(delimiter: delimiter) else { return nil }
        guard record.fields.count == width else {
            throw FeatureIOError.raggedRow(path: path, line: record.line, expectedFields: width, foundFields: record.fields.count)
        }
        lineNumber = record.line
        return try indices.map { try decode(record.fields[$0], line: record.line) }
    }
}
