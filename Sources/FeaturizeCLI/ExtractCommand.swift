import ArgumentParser
import Featurize
import FeatureIO
import Foundation
import Scheduler
#if canImport(Glibc)
import Glibc
#endif

/// `featurize extract`: texts in, one feature vector per text out (.npy or .safetensors).
struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Encode texts with a transformer and write one feature vector per text.",
        discussion: """
            With no pooling flags on a sentence-transformers model directory the output equals \
            SentenceTransformer(dir).encode(texts) (its pooling, Normalize and max_seq_length); on a plain \
            Hugging Face directory the default is mean pooling of the last layer.
            Several poolings and layers concatenate layer-major: for each layer in the given order, every \
            pooling in the given order (see --layer-reduce).
            Input: .txt (one text per line, empty lines included), .jsonl (--text-field), .csv/.tsv \
            (--text-column), or - for standard input (lines). Output: .npy (float32 or float16 [N, D]; with \
            --precision int8/uint8 [N, D] or binary/ubinary [N, ceil(D/8)]), .safetensors (tensor "features") or .jsonl. \
            Prompts (--prompt, --prompt-name, the model's default_prompt_name) and --truncate-dim act as in \
            SentenceTransformer.encode. Sentence pairs (--pair-column/--pair-field), windows of long texts \
            (--long-input chunk|rows; rows also writes OUTPUT.windows.jsonl) and token-level output (--pooling none: \
            .safetensors with features [total_tokens, dim], offsets [rows + 1], token_ids, char_offsets, or .jsonl) \
            stream like texts. Texts (pairs, windows) are batched by length under --max-batch-tokens; an interrupted \
            job continues with --resume; --shard i/N splits the input over machines (join with featurize merge).
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Input file (.txt, .jsonl, .csv, .tsv) or - for standard input.")
    var input: String

    @OptionGroup var textField: TextFieldOptions

    @Option(name: .long, help: "Output file: .npy, .safetensors or .jsonl.")
    var output: String

    @OptionGroup var poolingOptions: PoolingOptions

    @OptionGroup var batching: BatchingOptions

    @OptionGroup var deviceOptions: DeviceOptions

    @Option(name: .long, help: "Output precision: float32 (f32) or float16 (f16).")
    var dtype: FeatureDType = .float32

    // --- sentence-transformers encode() options (issue 15): prompts, Matryoshka truncation, quantized output ---
    @OptionGroup var embeddingOptions: EmbeddingOutputOptions

    @Option(name: .long, help: "Quantized output (.npy only): float32 (default; see --dtype), int8, uint8, binary or ubinary, as sentence-transformers' quantize_embeddings. A second pass: the float32 rows go to OUTPUT.float32.npy first (kept for --resume until the end), then int8/uint8 ranges come from all rows (or --calibration). Not with --shard (merge float32 shards, then featurize quantize) or --pooling none.")
    var precision: EmbeddingPrecision = .float32

    @Option(name: .long, help: "With --precision int8/uint8: embeddings (.npy [n, dim]) or a [2, dim] ranges file (featurize quantize --save-ranges) that set the per-dimension ranges instead of the output's own rows.")
    var calibration: String?

    @OptionGroup var inputShape: InputShapeOptions
    // --- end of issue 15 options ---

    @Flag(name: .long, help: "Continue an interrupted job from OUTPUT.parts/ (same settings required).")
    var resume = false

    @Flag(name: .long, help: "Replace the output file if it exists.")
    var overwrite = false

    @Option(name: .long, help: "Process shard i of N (rows r with r % N == i), e.g. 0/4; join with `featurize merge`. auto: i and N from a Slurm job array (SLURM_ARRAY_TASK_ID, ..._COUNT) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, N from auto/N or FEATURIZE_SHARD_COUNT).",
            transform: { text in
                do { return try ShardSpec(parsing: text, environment: ProcessInfo.processInfo.environment) } catch { throw ValidationError("--shard: \(error)") }
            })
    var shard: ShardSpec?

    @Option(name: .long, help: "Write a JSON summary (counts, padding efficiency, per-phase seconds, per-device batches, retries).")
    var stats: String?

    @Flag(name: .long, help: "Fail at the first row holding NaN or ±Inf (also float16 overflow above 65504); without it such rows are counted and reported with their row numbers.")
    var strict = false

    @Flag(name: .customLong("sampled-model-check"), help: "Fingerprint the weight files by their headers and samples only (faster on very large models) instead of every byte (the default; the fingerprint guards --resume and merge against mixing models).")
    var sampledModelCheck = false

    @Flag(name: .long, help: "No progress bar and no summary.")
    var quiet = false

    func validate() throws {
        guard FeatureOutputFormat(path: output) != nil else {
            throw ValidationError("--output must end in .npy, .safetensors or .jsonl, got '\(output)'")
        }
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
        if let stats {
            do { try OutputTarget.requireDistinct([("--output", output), ("--stats", stats), ("--input", input)]) } catch {
                throw ValidationError("\(error)")
            }
        }
        if poolingOptions.tokenLevel {
            guard FeatureOutputFormat(path: output) != .npy else {
                throw ValidationError("--pooling none writes ragged token rows: .safetensors or .jsonl, got '\(output)'")
            }
            if precision != .float32 {
                throw ValidationError("--precision \(precision.rawValue) quantizes one embedding per text (sentence-transformers' quantize_embeddings); --pooling none writes token vectors: use float32 or --dtype f16")
            }
            if embeddingOptions.truncateDim != nil {
                throw ValidationError("--truncate-dim cuts the pooled embedding (after the model's Dense/Normalize modules); --pooling none writes hidden states, which have no such head")
            }
            if inputShape.longInput != .truncate {
                throw ValidationError("--pooling none with --long-input \(inputShape.longInput.rawValue): \(inputShape.longInput == .chunk ? "chunk pools a text's windows into one vector, token-level output keeps every token" : "overlapping windows would repeat their shared tokens"); use --long-input truncate")
            }
        }
        if inputShape.pairName != nil, case .text? = try? TextInputReader.format(forPath: input) {
            throw ValidationError("text pairs need named fields: a .jsonl, .csv or .tsv input with the second text in --pair-field/--pair-column; \(input == "-" ? "standard input is read as text lines" : "'\(input)' holds one text per line")")
        }
        if precision != .float32 {
            guard output.hasSuffix(".npy") else { throw ValidationError("--precision \(precision.rawValue) writes .npy only, got '\(output)'") }
            guard dtype == .float32 else { throw ValidationError("--precision \(precision.rawValue) and --dtype \(dtype.rawValue) exclude each other") }
            if shard != nil {
                throw ValidationError("--precision \(precision.rawValue) with --shard: the quantization ranges come from all output rows, which no shard holds (and merge joins float parts); extract float32 shards, featurize merge them, then featurize quantize the merged file")
            }
        } else if calibration != nil {
            throw ValidationError("--calibration needs --precision int8 or uint8")
        }
    }

    func run() throws {
        // Every output path is checked before any work: a --stats path that cannot be written fails now, not
        // after the whole job.
        let target = try OutputTarget(output, overwrite: overwrite || resume, inputs: [input])
        guard target.kind == .regularFile else {
            throw ValidationError("--output \(output) is not a regular file: extract writes OUTPUT.parts/ and renames the finished file into place; write to a file and copy it")
        }
        let statsTarget = try stats.map { try OutputTarget($0, option: "--stats", overwrite: overwrite || resume, inputs: [input]) }
        let model = modelOptions.model, threads = deviceOptions.threads
        let modelSpec = try modelOptions.resolve()
        let spec = try poolingOptions.spec(model: modelSpec)
        let faultInjection = try FaultInjection.fromEnvironment()
        // The job's model fingerprint (hashing every weight byte by default) is computed while the model loads.
        ModelFingerprint.prefetch(directory: modelSpec.directory.path, full: !sampledModelCheck)
        let plan = try deviceOptions.plan(cpuFallback: faultInjection != nil) { device in
            try usageErrors {
                try FeatureExtractor(model: modelSpec, pooling: spec, device: device, threads: threads,
                                     output: embeddingOptions.options(normalize: poolingOptions.normalize))
            }
        }
        if !quiet { for w in plan.warnings { StandardError.write("warning: \(w)\n") } }
        guard let extractor = plan.devices.first else { throw ValidationError("--device \(deviceOptions.device) selects no device") }

        // Quantized output: the float32 pass writes next to the output, the quantized file replaces it at the end.
        let floatOutput = precision == .float32 ? output : output + ".float32.npy"
        if precision != .float32 && !overwrite && !resume && FileManager.default.fileExists(atPath: output) {
            throw ValidationError("\(output) exists; pass --overwrite to replace it")
        }
        var options = ExtractionJobOptions(input: input, textField: textField.field, output: floatOutput)
        options.dtype = dtype
        options.batching = try batching.policy(for: plan, maxLength: extractor.maxLength)
        options.resume = resume
        options.metadata = ["model": model, "pooling": extractor.spec.methods.map(\.description).joined(separator: ","),
                            "layers": extractor.spec.layers.map(String.init).joined(separator: ","),
                            "layer_reduce": extractor.spec.layerReduce.rawValue,
                            "normalize": String(extractor.spec.normalize)]
        if let prompt = extractor.prompt { options.metadata["prompt"] = prompt }
        if let n = embeddingOptions.truncateDim { options.metadata["truncate_dim"] = String(n) }
        // Issue 15: pairs, windows of long texts and token-level output run through the same job as texts.
        options.inputShape = inputShape.shape
        options.tokenLevel = poolingOptions.tokenLevel
        if poolingOptions.tokenLevel { options.metadata["pooling"] = "none" }
        if case .windowRows = inputShape.shape {
            // The window index sits next to the final output (also with --precision, whose float32 pass writes elsewhere).
            let index = output + ".windows.jsonl"
            guard try OutputTarget(index, option: "the window index", overwrite: overwrite || resume, inputs: [input]).kind == .regularFile else {
                throw ValidationError("the window index \(index) is not a regular file")
            }
            options.windowIndexOutput = index
        }
        options.overwrite = overwrite
        options.shard = shard
        options.faultInjection = faultInjection
        options.strictFinite = strict
        options.fullModelCheck = !sampledModelCheck
        let job = try usageErrors { try ExtractionJob(devices: plan.devices, fallback: plan.fallback, options: options) }

        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) != 0, total: nil)
        job.progress = { rows, tokens, seconds, total in bar.update(texts: rows, tokens: tokens, seconds: seconds, total: total) }
        let report = try job.run()
        bar.finish()
        if let note = report.repairNote { StandardError.write("warning: \(note)\n") }
        if report.nonFiniteRows > 0 {
            let rows = report.nonFiniteRowNumbers.map(String.init).joined(separator: ", ")
            StandardError.write("warning: \(output): \(report.nonFiniteRows) row(s) hold NaN or infinite values (rows \(rows)\(report.nonFiniteRows > report.nonFiniteRowNumbers.count ? ", ..." : "")); --strict makes this an error\n")
        }
        if precision != .float32 {
            try QuantizedOutput.write(input: floatOutput, output: output, precision: precision, calibration: calibration,
                                      rangesOutput: nil)
            try? FileManager.default.removeItem(atPath: floatOutput)
        }
        if let statsTarget {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            // A runtime error (exit 1) naming the path and the system's reason; the features are already written.
            try statsTarget.write([UInt8](try enc.encode(report)))
        }
        if !quiet {
            let s = report.scheduler
            let line = String(format: "featurize extract: %d texts, %d tokens, %d truncated, %.2f s (%.1f texts/s, %.0f tokens/s), padding efficiency %.1f%%, %d batches%@%@ -> %@ [%d, %d]\n",
                              report.texts, report.tokens, report.truncated, report.totalSeconds,
                              Double(report.texts) / max(report.totalSeconds, 1e-9), Double(report.tokens) / max(report.totalSeconds, 1e-9),
                              100 * report.paddingEfficiency, s.batches,
                              report.resumedRows > 0 ? ", resumed after \(report.resumedRows) rows" : "",
                              s.oomSplits + s.fallbacks > 0 ? ", \(s.oomSplits) OOM splits, \(s.fallbacks) fallbacks" : "",
                              output, report.outputRows, report.dimension)
            StandardError.write(line)
            if s.textsPerDevice.count > 1 {
                let share = s.textsPerDevice.sorted { $0.key < $1.key }
                    .map { String(format: "%@ %.0f%%", $0.key, 100 * Double($0.value) / Double(max(report.texts, 1))) }
                StandardError.write("  texts per device: \(share.joined(separator: ", "))\n")
            }
        }
    }
}

/// A one-line progress bar on standard error: texts, texts/s, tokens/s, ETA.
final class ProgressBar {
    let enabled: Bool
    /// Texts expected in all (nil: unknown, e.g. a stream; then no bar and no ETA).
    var total: Int?
    private var lastDraw = Date.distantPast

    init(enabled: Bool, total: Int?) { self.enabled = enabled; self.total = total }

    func update(texts: Int, tokens: Int, seconds: Double, total estimate: Int? = nil) {
        if let estimate { total = max(estimate, texts) }
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 || texts == total else { return }
        lastDraw = Date()
        guard let total else {
            let line = String(format: "\r%d texts  %.1f texts/s  %.0f tokens/s ", texts, Double(texts) / max(seconds, 1e-9),
                              Double(tokens) / max(seconds, 1e-9))
            StandardError.write(line)
            return
        }
        let fraction = total > 0 ? Double(texts) / Double(total) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        let rate = Double(texts) / max(seconds, 1e-9)
        let eta = rate > 0 ? Double(total - texts) / rate : 0
        let line = String(format: "\r[%@] %d/%d texts  %.1f texts/s  %.0f tokens/s  ETA %.0fs ",
                          bar, texts, total, rate, Double(tokens) / max(seconds, 1e-9), eta)
        StandardError.write(line)
    }

    func finish() {
        guard enabled else { return }
        StandardError.write("\n")
    }
}
