import ArgumentParser
import Featurize
import FeatureIO
import Foundation
import Tokenizer

/// How many rows a long text gives (`--long-input`).
enum LongInputMode: String, ExpressibleByArgument, CaseIterable {
    /// Cut at the maximum length (the default).
    case truncate
    /// Every window encoded, pooled into one row per text.
    case chunk
    /// One row per window, plus an index of the windows.
    case rows
}

extension PairTruncation: ExpressibleByArgument {}
extension WindowReduce: ExpressibleByArgument {}

/// Inputs beyond one text per row (issue 15): sentence pairs and long inputs split into windows. These run on
/// the whole input in memory on the first device (no --resume, no --shard), not through the streaming job.
struct InputShapeOptions: ParsableArguments {
    @Option(name: .customLong("pair-field"), help: "JSONL field holding the second text of a pair (text_pair): each row is encoded as the model's pair template, [CLS] a [SEP] b [SEP] (BERT) or <s> a </s></s> b </s> (RoBERTa).")
    var pairField: String?

    @Option(name: .customLong("pair-column"), help: "CSV/TSV column holding the second text of a pair (see --pair-field).")
    var pairColumn: String?

    @Option(name: .customLong("pair-truncation"), help: "How a pair longer than --max-length is cut: longest_first (default), only_first, only_second (Hugging Face's strategies; a pair the chosen side cannot fit is an error).")
    var pairTruncation: PairTruncation = .longestFirst

    @Option(name: .customLong("long-input"), help: "Texts longer than --max-length: truncate (default), chunk (encode every window of max length, --stride tokens overlapping, and pool the windows into one row: token-weighted mean, or max with --window-reduce max) or rows (one row per window; the index goes to OUTPUT.windows.jsonl).")
    var longInput: LongInputMode = .truncate

    @Option(name: .long, help: "Tokens shared by consecutive windows with --long-input chunk|rows (default 0).")
    var stride: Int = 0

    @Option(name: .customLong("window-reduce"), help: "With --long-input chunk: mean (weighted by window tokens) or max.")
    var windowReduce: WindowReduce = .mean

    /// Whether these flags take the whole-input path.
    var isActive: Bool { pairName != nil || longInput != .truncate }
    var pairName: String? { pairField ?? pairColumn }

    func validate() throws {
        if let pairField, let pairColumn, pairField != pairColumn {
            throw ValidationError("--pair-field \(pairField) and --pair-column \(pairColumn) disagree; give one")
        }
        if pairName != nil && longInput != .truncate { throw ValidationError("--long-input \(longInput.rawValue) does not combine with text pairs") }
        if stride < 0 || stride > 100_000 { throw ValidationError("--stride must be in 0...100000, got \(stride)") }
        if stride != 0 && longInput == .truncate { throw ValidationError("--stride needs --long-input chunk or rows") }
        if pairName == nil && pairTruncation != .longestFirst { throw ValidationError("--pair-truncation needs --pair-field or --pair-column") }
    }

    /// Reads the whole input, encodes it on `extractor` and writes `output` (and the windows index for `rows`).
    func run(extractor: FeatureExtractor, input: String, textField: String?, output: String, dtype: FeatureDType,
             overwrite: Bool, metadata: [String: String], quiet: Bool) throws {
        if !overwrite && FileManager.default.fileExists(atPath: output) {
            throw ValidationError("\(output) exists; pass --overwrite to replace it")
        }
        let texts = try TextInputReader(path: input, field: textField).readAll()
        let features: FeatureMatrix
        var windows: [TextWindow] = []
        if let pairName {
            guard input != "-" else { throw ValidationError("text pairs need a file input, not standard input") }
            let seconds = try TextInputReader(path: input, field: pairName).readAll()
            guard seconds.count == texts.count else {
                throw ValidationError("\(input): \(texts.count) texts but \(seconds.count) values of \(pairName)")
            }
            let pairs = zip(texts, seconds).map { TextPair($0, $1) }
            features = try usageErrors { try extractor.extract(pairs: pairs, truncation: pairTruncation) }
        } else if longInput == .chunk {
            features = try usageErrors { try extractor.extractChunked(texts: texts, stride: stride, reduce: windowReduce) }
        } else {
            let result = try usageErrors { try extractor.extractWindows(texts: texts, stride: stride) }
            features = result.features
            windows = result.windows
        }
        let writer = try makeFeatureWriter(path: output, columns: features.columns, dtype: dtype, metadata: metadata)
        try writer.append(rows: features.values)
        try writer.finish()
        if longInput == .rows {
            var lines = ""
            for w in windows {
                lines += "{\"text\": \(w.text), \"token_start\": \(w.tokenStart), \"token_end\": \(w.tokenEnd), \"char_start\": \(w.charStart), \"char_end\": \(w.charEnd)}\n"
            }
            try AtomicFile.save(Array(lines.utf8), to: output + ".windows.jsonl")
        }
        if !quiet {
            StandardError.write("featurize extract: \(texts.count) texts -> \(output) [\(features.rows), \(features.columns)]\n")
        }
    }
}

/// `--pooling none`: every token's vector of the chosen layers for the whole input, written by `TokenFeaturesFile`.
func writeTokenLevel(extractor: FeatureExtractor, input: String, textField: String?, output: String, overwrite: Bool,
                     metadata: [String: String]) throws {
    if !overwrite && FileManager.default.fileExists(atPath: output) {
        throw ValidationError("\(output) exists; pass --overwrite to replace it")
    }
    let texts = try TextInputReader(path: input, field: textField).readAll()
    let tokens = try usageErrors { try extractor.extractTokens(texts: texts) }
    var meta = metadata
    meta["pooling"] = "none"
    try TokenFeaturesFile.write(tokens, to: output, metadata: meta)
}
