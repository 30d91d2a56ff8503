/// Errors of the input readers (`TextInputReader`) and feature writers (`NpyWriter`, `SafetensorsWriter`).
/// Each names the file and, for input, the 1-based line where the offending record starts.
public enum FeatureIOError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case readFailed(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    /// The input's extension does not say its format.
    case unknownFormat(path: String)
    case invalidUTF8(path: String, line: Int)
    /// A physical line longer than the reader's limit (`LineSource.defaultMaxLineBytes`, 64 MiB).
    case lineTooLong(path: String, line: Int, limit: Int)
    case invalidJSON(path: String, line: Int, detail: String)
    case jsonLineNotObject(path: String, line: Int, found: String)
    case missingField(path: String, line: Int, field: String)
    case fieldNotString(path: String, line: Int, field: String, found: String)
    /// A CSV/TSV file without a header row.
    case missingHeader(path: String)
    case missingColumn(path: String, line: Int, column: String, available: [String])
    case duplicateColumn(path: String, line: Int, column: String)
    case raggedRow(path: String, line: Int, expectedFields: Int, foundFields: Int)
    case unterminatedQuote(path: String, line: Int)
    case quoteInUnquotedField(path: String, line: Int)
    case textAfterClosingQuote(path: String, line: Int)
    /// Sentence pairs asked of an input that has one text per record (`.txt`, standard input).
    case pairsNeedFields(path: String)
    /// A feature row whose length differs from the writer's column count.
    case rowWidthMismatch(path: String, expected: Int, found: Int)
    /// `append(rows:)` got a value count that is not a whole number of rows.
    case valueCountNotMultipleOfWidth(path: String, width: Int, count: Int)
    /// The output path's extension names no known format.
    case unknownOutputFormat(path: String)
    case invalidShape(path: String, reason: String)
    case writerFinished(path: String)
    /// An in-memory matrix whose value count is not rows × columns.
    case badMatrixShape(rows: Int, columns: Int, valueCount: Int)
    /// Rows of different lengths given as one matrix.
    case raggedRows(row: Int, count: Int, expected: Int)

    public var description: String {
        switch self {
        case let .badMatrixShape(r, c, n): return "a [\(r), \(c)] matrix needs \(r * c) values, got \(n)"
        case let .raggedRows(row, count, expected): return "row \(row) has \(count) values, row 0 has \(expected)"
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .readFailed(path, reason): return "\(path): read failed: \(reason)"
        case let .writeFailed(path, reason): return "\(path): write failed: \(reason)"
        case let .unknownFormat(path):
            return "\(path): unknown input format from its extension: use a .txt, .jsonl, .csv or .tsv name, or read it as text lines from standard input (--input - < FILE)"
        case let .invalidUTF8(path, line): return "\(path):\(line): invalid UTF-8"
        case let .lineTooLong(path, line, limit):
            return "\(path):\(line): line longer than \(limit) bytes (\(limit >> 20) MiB, the limit of one text line); is this a text file?"
        case let .invalidJSON(path, line, detail): return "\(path):\(line): invalid JSON: \(detail)"
        case let .jsonLineNotObject(path, line, found): return "\(path):\(line): expected a JSON object, found a \(found)"
        case let .missingField(path, line, field): return "\(path):\(line): no field \"\(field)\""
        case let .fieldNotString(path, line, field, found):
            return "\(path):\(line): field \"\(field)\" is a \(found), not a string"
        case let .missingHeader(path): return "\(path): empty file, expected a header row"
        case let .missingColumn(path, line, column, available):
            return "\(path):\(line): no column \"\(column)\" in the header (columns: \(available.joined(separator: ", ")))"
        case let .duplicateColumn(path, line, column): return "\(path):\(line): column \"\(column)\" appears twice in the header"
        case let .raggedRow(path, line, expected, found):
            return "\(path):\(line): row has \(found) fields, the header has \(expected)"
        case let .unterminatedQuote(path, line): return "\(path):\(line): quoted field is never closed"
        case let .quoteInUnquotedField(path, line):
            return "\(path):\(line): quote character inside an unquoted field (quote the whole field and double the quote)"
        case let .textAfterClosingQuote(path, line): return "\(path):\(line): text after a closing quote"
        case let .pairsNeedFields(path):
            return "\(path): text pairs need named fields: a .jsonl, .csv or .tsv input with the second text in --pair-field/--pair-column (a .txt line or standard input holds one text)"
        case let .rowWidthMismatch(path, expected, found):
            return "\(path): feature row has \(found) values, expected \(expected)"
        case let .valueCountNotMultipleOfWidth(path, width, count):
            return "\(path): \(count) values are not a whole number of rows of \(width)"
        case let .unknownOutputFormat(path):
            return "\(path): unknown output format (use a .npy, .safetensors or .jsonl file name)"
        case let .invalidShape(path, reason): return "\(path): \(reason)"
        case let .writerFinished(path): return "\(path): writer already finished"
        }
    }
}
