import ArgumentParser
import Featurize
import FeatureIO
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

/// Inputs beyond one text per row (issue 15): sentence pairs and long inputs split into windows. They run through
/// the streaming job like texts (batches by token budget, every device, --resume, --shard, --precision).
struct InputShapeOptions: ParsableArguments {
    @Option(name: .customLong("pair-field"), help: "JSONL field holding the second text of a pair (text_pair): each row is encoded as the model's pair template, [CLS] a [SEP] b [SEP] (BERT) or <s> a </s></s> b </s> (RoBERTa).")
    var pairField: String?

    @Option(name: .customLong("pair-column"), help: "CSV/TSV column holding the second text of a pair (see --pair-field).")
    var pairColumn: String?

    @Option(name: .customLong("pair-truncation"), help: "How a pair longer than --max-length is cut: longest_first (default), only_first, only_second (Hugging Face's strategies; a pair the chosen side cannot fit is an error).")
    var pairTruncation: PairTruncation = .longestFirst

    @Option(name: .customLong("long-input"), help: "Texts longer than --max-length: truncate (default), chunk (encode every window of max length, --stride tokens overlapping, and pool the windows into one row: token-weighted mean, or max with --window-reduce max) or rows (one row per window; the index, one JSON line per row with the text's input row and the window's token and character span, goes to OUTPUT.windows.jsonl). Windows are batched like texts; --resume and --shard work as for texts.")
    var longInput: LongInputMode = .truncate

    @Option(name: .long, help: "Tokens shared by consecutive windows with --long-input chunk|rows (default 0).")
    var stride: Int = 0

    @Option(name: .customLong("window-reduce"), help: "With --long-input chunk: mean (weighted by window tokens) or max.")
    var windowReduce: WindowReduce = .mean

    var pairName: String? { pairField ?? pairColumn }

    /// What each input row is, for the job.
    var shape: InputShape {
        if let pairName { return .pairs(secondField: pairName, truncation: pairTruncation) }
        switch longInput {
        case .truncate: return .texts
        case .chunk: return .chunk(stride: stride, reduce: windowReduce)
        case .rows: return .windowRows(stride: stride)
        }
    }

    func validate() throws {
        if let pairField, let pairColumn, pairField != pairColumn {
            throw ValidationError("--pair-field \(pairField) and --pair-column \(pairColumn) disagree; give one")
        }
        if pairName != nil && longInput != .truncate {
            throw ValidationError("--long-input \(longInput.rawValue) does not combine with text pairs: a pair is one sequence, [CLS] a [SEP] b [SEP], cut by --pair-truncation; windows would cut it apart")
        }
        if stride < 0 || stride > 100_000 { throw ValidationError("--stride must be in 0...100000, got \(stride)") }
        if stride != 0 && longInput == .truncate { throw ValidationError("--stride needs --long-input chunk or rows") }
        if windowReduce != .mean && longInput != .chunk { throw ValidationError("--window-reduce needs --long-input chunk") }
        if pairName == nil && pairTruncation != .longestFirst { throw ValidationError("--pair-truncation needs --pair-field or --pair-column") }
    }
}
