import ArgumentParser
import Featurize
import CPUBackend
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
            (--text-column), or - for standard input (lines). Output: .npy (float32 or float16 [N, D]), .safetensors \
            (tensor "features") or .jsonl. Texts are batched by length under --max-batch-tokens; an interrupted job \
            continues with --resume; --shard i/N splits the input over machines (join with featurize merge).
            """)

    @Option(name: .long, help: "Model directory (Hugging Face / sentence-transformers layout).")
    var model: String

    @Option(name: .long, help: "Input file (.txt, .jsonl, .csv, .tsv) or - for standard input.")
    var input: String

    @Option(name: .long, help: "Output file: .npy or .safetensors.")
    var output: String

    @Option(name: .long, help: "Pooling, comma-separated: cls, mean, max, mean_sqrt_len, weighted_mean, last, pooler.")
    var pooling: String?

    // `.unconditional`: the value may start with '-' ("-1", "-4..-1").
    @Option(name: .long, parsing: .unconditional, help: "Layers (HF hidden_states indices, 0 = embeddings, negatives from the end): -1, -4,-3,-2,-1, 0,6,12 or -4..-1.")
    var layers: String = "-1"

    @Option(name: .customLong("layer-reduce"), help: "How several layers combine: concat or mean.")
    var layerReduce: String = "concat"

    @Flag(name: .long, help: "L2-normalise every output vector (on by default when the sentence-transformers config has Normalize).")
    var normalize = false

    @Option(name: .customLong("max-length"), help: "Maximum tokens per text, special tokens included (default: the model's).")
    var maxLength: Int?

    @Option(name: .customLong("batch-size"), help: "Most texts per encoder batch (default: only --max-batch-tokens limits it).")
    var batchSize: Int?

    @Option(name: .customLong("max-batch-tokens"), help: "Token budget of one batch: longest text × texts (padded cost). Default: 4096 on the CPU alone (its GEMMs skip padding rows, and larger batches reuse each weight panel more; measured fastest there), 16384 with a GPU; never below --max-length.")
    var maxBatchTokens: Int?

    @Option(name: .long, help: "Texts read, sorted by length and cut into batches together.")
    var window: Int = 8_192

    @Flag(name: .customLong("no-sort"), help: "Batches in input order instead of length-sorted (for comparisons).")
    var noSort = false

    @Option(name: .long, help: "Devices: auto (every OpenCL GPU, else the CPU), cpu, opencl, opencl:N, or a list such as opencl:0,opencl:1,cpu.")
    var device: String = "auto"

    @Option(name: .long, help: "CPU threads (default: all processors).")
    var threads: Int?

    @Option(name: .customLong("text-field"), help: "JSONL field holding the text (default: text).")
    var textField: String?

    @Option(name: .customLong("text-column"), help: "CSV/TSV column holding the text (default: text).")
    var textColumn: String?

    @Option(name: .long, help: "Output precision: float32 (f32) or float16 (f16).")
    var dtype: String = "float32"

    @Flag(name: .long, help: "Continue an interrupted job from OUTPUT.parts/ (same settings required).")
    var resume = false

    @Flag(name: .long, help: "Replace the output file if it exists.")
    var overwrite = false

    @Option(name: .long, help: "Process shard i of N (rows r with r % N == i), e.g. 0/4; join with `featurize merge`.")
    var shard: String?

    @Option(name: .long, help: "Write a JSON summary (counts, padding efficiency, per-phase seconds, per-device batches, retries).")
    var stats: String?

    @Flag(name: .long, help: "No progress bar and no summary.")
    var quiet = false

    var outputDType: FeatureDType? {
        switch dtype { case "f32": return .float32; case "f16": return .float16; default: return FeatureDType(rawValue: dtype) }
    }

    func validate() throws {
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let maxBatchTokens, !(2...100_000_000).contains(maxBatchTokens) {
            throw ValidationError("--max-batch-tokens must be in 2...100000000")
        }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        do { _ = try DevicePlan.parse(device) } catch { throw ValidationError("\(error)") }
        guard outputDType != nil else {
            throw ValidationError("unknown dtype '\(dtype)'; valid: float32, float16 (f32, f16)")
        }
        guard FeatureOutputFormat(path: output) != nil else {
            throw ValidationError("--output must end in .npy, .safetensors or .jsonl, got '\(output)'")
        }
        if let shard { do { _ = try ShardSpec(parsing: shard) } catch { throw ValidationError("--shard: \(error)") } }
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
    }

    func run() throws {
        let plan: DevicePlan
        do {
            var spec: PoolingSpec
            if let pooling {
                spec = try PoolingSpec.parse(pooling: pooling, layers: layers, layerReduce: layerReduce, normalize: normalize)
            } else {
                // The model's default methods (sentence-transformers config, else mean) with the given layers.
                spec = try FeatureExtractor.defaultPooling(modelDirectory: model)
                spec.layers = try PoolingSpec.parseLayers(layers)
                guard let reduce = LayerReduce(rawValue: layerReduce) else { throw PoolingError.unknownLayerReduce(layerReduce) }
                spec.layerReduce = reduce
                spec.normalize = spec.normalize || normalize
            }
            plan = try DevicePlan.make(device) { target in
                try FeatureExtractor(modelDirectory: model, pooling: spec, maxLength: maxLength, device: target, threads: threads)
            }
        } catch let error as PoolingError {
            throw ValidationError(error.description)
        } catch let error as FeaturizeError {
            throw ValidationError(error.description)
        }
        if !quiet { for w in plan.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) } }
        guard let extractor = plan.devices.first else { throw ValidationError("--device \(device) selects no device") }
        let cpuOnly = plan.devices.allSatisfy { $0.backend is CPUBackend }
        let maxBatchTokens = self.maxBatchTokens ?? max(cpuOnly ? 4_096 : 16_384, extractor.maxLength)
        if maxBatchTokens < extractor.maxLength {
            throw ValidationError("--max-batch-tokens \(maxBatchTokens) is below the maximum text length \(extractor.maxLength): a long text could never fit; raise it or lower --max-length")
        }

        var options = ExtractionJobOptions(input: input, textField: textField ?? textColumn, output: output)
        options.dtype = outputDType ?? .float32
        options.batching = BatchingPolicy(maxBatchTokens: maxBatchTokens, maxBatchSize: batchSize, window: window,
                                          sortByLength: !noSort)
        options.resume = resume
        options.metadata = ["model": model, "pooling": extractor.spec.methods.map(\.description).joined(separator: ","),
                            "layers": extractor.spec.layers.map(String.init).joined(separator: ","),
                            "layer_reduce": extractor.spec.layerReduce.rawValue,
                            "normalize": String(extractor.spec.normalize)]
        options.overwrite = overwrite
        options.shard = try shard.map { try ShardSpec(parsing: $0) }
        options.faultInjection = try FaultInjection.fromEnvironment()
        // Under fault injection a CPU-only job gets a second CPU backend as its fallback, so the test of
        // "a failing device loses no row" also runs where there is no GPU.
        let fallback = try plan.fallback ?? (options.faultInjection == nil ? nil
            : try FeatureExtractor(modelDirectory: model, pooling: extractor.spec, maxLength: maxLength,
                                   device: .cpu, threads: threads))
        let job = try ExtractionJob(devices: plan.devices, fallback: fallback, options: options)

        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) != 0, total: nil)
        job.progress = { rows, tokens, seconds, total in bar.update(texts: rows, tokens: tokens, seconds: seconds, total: total) }
        let report = try job.run()
        bar.finish()
        if let stats {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            // A runtime error (exit 1) naming the path and the system's reason; the features are already written.
            try AtomicFile.save([UInt8](try enc.encode(report)), to: stats)
        }
        if !quiet {
            let s = report.scheduler
            let line = String(format: "featurize extract: %d texts, %d tokens, %d truncated, %.2f s (%.1f texts/s, %.0f tokens/s), padding efficiency %.1f%%, %d batches%@%@ -> %@ [%d, %d]\n",
                              report.texts, report.tokens, report.truncated, report.totalSeconds,
                              Double(report.texts) / max(report.totalSeconds, 1e-9), Double(report.tokens) / max(report.totalSeconds, 1e-9),
                              100 * report.paddingEfficiency, s.batches,
                              report.resumedRows > 0 ? ", resumed after \(report.resumedRows) rows" : "",
                              s.oomSplits + s.fallbacks > 0 ? ", \(s.oomSplits) OOM splits, \(s.fallbacks) fallbacks" : "",
                              output, report.resumedRows + report.texts, report.dimension)
            FileHandle.standardError.write(Data(line.utf8))
            if s.textsPerDevice.count > 1 {
                let share = s.textsPerDevice.sorted { $0.key < $1.key }
                    .map { String(format: "%@ %.0f%%", $0.key, 100 * Double($0.value) / Double(max(report.texts, 1))) }
                FileHandle.standardError.write(Data("  texts per device: \(share.joined(separator: ", "))\n".utf8))
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
            FileHandle.standardError.write(Data(line.utf8))
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
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
