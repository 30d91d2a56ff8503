import ArgumentParser
import Featurize
import FeatureIO
import Foundation
import Tokenizer

/// `featurize tokenize`: writes the token ids of every input line as JSON lines.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize text lines with a model's tokenizer; writes one {\"input_ids\": [...]} JSON object per line.",
        discussion: """
            A .txt input (or stdin) is read as lines of UTF-8 text: every line is one text, empty lines included \
            (output row i is input line i); .jsonl/.csv/.tsv inputs give one text per record (--text-field, \
            --text-column). One trailing "\\n" (and a "\\r" before it) is removed from each line; a file ending in \
            "\\n" has no extra empty text after it. Invalid UTF-8 is an error naming the line. Ids are not padded. \
            A summary (texts, tokens, truncated, seconds) is printed to stderr.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Input: .txt (one text per line), .jsonl, .csv, .tsv, or '-' for stdin lines.")
    var input: String = "-"

    @OptionGroup var textField: TextFieldOptions

    @Flag(name: .customLong("no-truncation"), help: "Do not truncate.")
    var noTruncation = false

    @Option(name: .long, help: "Output file; '-' writes stdout. A FIFO or device is written through; a regular file is replaced atomically, only with --overwrite.")
    var output: String = "-"

    @Flag(name: .long, help: "Replace the output file if it exists.")
    var overwrite = false

    @Option(name: .long, help: "Tokenizer threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if noTruncation, modelOptions.maxLength != nil { throw ValidationError("--max-length and --no-truncation exclude each other") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let start = Date()
        let target = try OutputTarget(output, overwrite: overwrite, inputs: [input])
        let tokenizer = try TextTokenizer.load(directory: modelOptions.model, maxLength: modelOptions.maxLength, truncation: !noTruncation)
        let texts = try TextInputReader(path: input, field: textField.field).readAll()

        let tokenizeStart = Date()
        let encodings = tokenizer.encodeBatch(texts, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let tokenizeSeconds = Date().timeIntervalSince(tokenizeStart)

        var out = [UInt8]()
        out.reserveCapacity(encodings.reduce(0) { $0 + $1.count * 6 + 20 })
        var tokens = 0, truncated = 0, capped = 0
        for encoding in encodings {
            tokens += encoding.count
            if encoding.wasTruncated { truncated += 1 }
            if encoding.wasCharCapped { capped += 1 }
            out.append(contentsOf: Array(#"{"input_ids": ["#.utf8))
            for (index, id) in encoding.ids.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")); out.append(UInt8(ascii: " ")) }
                Self.appendDecimal(Int(id), to: &out)
            }
            out.append(UInt8(ascii: "]")); out.append(UInt8(ascii: "}")); out.append(UInt8(ascii: "\n"))
        }
        try target.write(out)
        let total = Date().timeIntervalSince(start)
        let rate = tokenizeSeconds > 0 ? Double(tokens) / tokenizeSeconds : 0
        StandardError.write(String(
            format: "tokenize: %d texts, %d tokens, %d truncated, %d char-capped; tokenize %.4f s (%.0f tokens/s), total %.3f s\n",
            texts.count, tokens, truncated, capped, tokenizeSeconds, rate, total))
    }

    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")); appendDecimal(-value, to: &out); return }
        if value >= 10 { appendDecimal(value / 10, to: &out) }
        out.append(UInt8(ascii: "0") + UInt8(value % 10))
    }
}
