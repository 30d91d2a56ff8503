import ArgumentParser
import Featurize
import FeatureIO
import Foundation

/// `--prompt`, `--prompt-name`: sentence-transformers `encode(prompt=, prompt_name=)`. With neither the
/// model's `default_prompt_name` applies, as in `encode()`.
struct PromptOptions: ParsableArguments {
    @Option(name: .long, help: "Text prepended to every input (sentence-transformers prompt=; \"\" for none). Default: the model's default_prompt_name prompt, if any.")
    var prompt: String?

    @Option(name: .customLong("prompt-name"), help: "One of the model's named prompts (config_sentence_transformers.json prompts; sentence-transformers prompt_name=).")
    var promptName: String?

    func validate() throws {
        if prompt != nil && promptName != nil { throw ValidationError("--prompt and --prompt-name exclude each other; give one") }
    }

    /// The prompt these flags choose.
    var choice: PromptChoice { prompt.map { .text($0) } ?? promptName.map { .named($0) } ?? .modelDefault }
}

/// The prompt flags and `--truncate-dim` (`encode(truncate_dim=)`).
struct EmbeddingOutputOptions: ParsableArguments {
    @OptionGroup var promptOptions: PromptOptions

    @Option(name: .customLong("truncate-dim"), help: "Keep the first N features after the model's Dense/Normalize modules (Matryoshka; encode(truncate_dim=N)). With --normalize the truncated vector is L2-normalised again.")
    var truncateDim: Int?

    func validate() throws {
        if let truncateDim, !(1...1_000_000).contains(truncateDim) {
            throw ValidationError("--truncate-dim must be in 1...1000000, got \(truncateDim)")
        }
    }

    /// The extractor's output options; `normalize` is the `--normalize` flag.
    func options(normalize: Bool) -> EmbeddingOptions {
        EmbeddingOptions(prompt: promptOptions.choice, truncateDim: truncateDim, normalizeAfterTruncation: normalize && truncateDim != nil)
    }
}

extension EmbeddingPrecision: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// The second pass of quantized output: float32 embeddings `[rows, dim]` in a .npy file to int8/uint8 (per
/// dimension buckets between calibration ranges) or packed sign bits, as `quantize_embeddings`.
enum QuantizedOutput {
    /// Quantizes `input` into `output` (.npy, `|i1` or `|u1`). Ranges: `--calibration` embeddings if given,
    /// else the input itself (every row). Writes the ranges used (`[2, dim]` float32: minima, maxima) to
    /// `rangesOutput` when given, so that queries can be quantized with the same buckets.
    static func write(input: String, output: String, precision: EmbeddingPrecision, calibration: String?,
                      rangesOutput: String?) throws {
        guard precision != .float32 else { throw ValidationError("--precision float32 needs no quantization") }
        let embeddings = try NpyReader.readMatrix(path: input)
        var ranges: QuantizationRanges? = nil
        if precision.isScalar {
            if let calibration {
                let matrix = try NpyReader.readMatrix(path: calibration)
                if matrix.rows == 2 && matrix.columns == embeddings.columns && rangesLike(matrix) {
                    // A [2, dim] file is read as ranges (minima row, maxima row), as written by --save-ranges.
                    ranges = QuantizationRanges(minimum: matrix.row(0), maximum: matrix.row(1))
                } else {
                    guard matrix.columns == embeddings.columns else {
                        throw ValidationError("--calibration \(calibration) has \(matrix.columns) features, \(input) \(embeddings.columns)")
                    }
                    ranges = try usageErrors { try QuantizationRanges(calibration: matrix.values, rows: matrix.rows, cols: matrix.columns) }
                }
            } else {
                ranges = try usageErrors {
                    try QuantizationRanges(calibration: embeddings.values, rows: embeddings.rows, cols: embeddings.columns)
                }
            }
        }
        let bytes = try EmbeddingQuantizer.quantize(embeddings.values, rows: embeddings.rows, cols: embeddings.columns,
                                                    precision: precision, ranges: ranges)
        try NpyArrayFile.write(descr: precision.numpyDescr, shape: [embeddings.rows, precision.rowWidth(dimension: embeddings.columns)],
                               body: Data(bytes), to: output)
        if let rangesOutput, let ranges {
            try NpyArrayFile.write(try FeatureMatrix(values: ranges.minimum + ranges.maximum, rows: 2, columns: ranges.minimum.count),
                                   to: rangesOutput)
        }
    }

    /// Whether a 2-row matrix reads as ranges: every minimum at most its maximum.
    private static func rangesLike(_ m: FeatureMatrix) -> Bool {
        (0..<m.columns).allSatisfy { m.values[$0] <= m.values[m.columns + $0] }
    }
}
