import ArgumentParser
import Featurize
import Foundation
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
            (--text-column), or - for standard input (lines). Output: .npy (float32 [N, D]), .safetensors \
            (tensor "features", settings in its metadata) or .jsonl (one array per line).
            """)

    @Option(name: .long, help: "Model directory (Hugging Face / sentence-transformers layout).")
    var model: String

    @Option(name: .long, help: "Input file (.txt, .jsonl, .csv, .tsv) or - for standard input.")
    var input: String

    @Option(name: .long, help: "Output file: .npy, .safetensors or .jsonl (- for standard output with --output-format).")
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

    @Option(name: .customLong("batch-size"), help: "Texts per encoder batch.")
    var batchSize: Int = 32

    @Option(name: .long, help: "Compute device: cpu.")
    var device: String = "cpu"

    @Option(name: .long, help: "CPU threads (default: all processors).")
    var threads: Int?

    @Option(name: .customLong("text-field"), help: "JSONL field holding the text (default: text).")
    var textField: String?

    @Option(name: .customLong("text-column"), help: "CSV/TSV column holding the text (default: text).")
    var textColumn: String?

    @Option(name: .customLong("output-format"), help: "Output format when the name does not tell (e.g. - for standard output): npy, safetensors or jsonl.")
    var outputFormat: String?

    @Option(name: .long, help: "Output precision: float32 or float16.")
    var dtype: String = "float32"

    @Flag(name: .long, help: "No progress bar and no summary.")
    var quiet = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard ComputeDevice(rawValue: device) != nil else {
            throw ValidationError("unknown device '\(device)'; valid: \(ComputeDevice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard FeatureDType(rawValue: dtype) != nil else {
            throw ValidationError("unknown dtype '\(dtype)'; valid: \(FeatureDType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let formats = FeatureOutputFormat.allCases.map(\.rawValue).joined(separator: ", ")
        if let outputFormat {
            guard FeatureOutputFormat(rawValue: outputFormat) != nil else {
                throw ValidationError("unknown output format '\(outputFormat)'; valid: \(formats)")
            }
        } else if FeatureOutputFormat(path: output) == nil {
            throw ValidationError("cannot tell the output format of '\(output)': use a .npy, .safetensors or .jsonl name, or --output-format (\(formats))")
        }
    }

    func run() throws {
        let extractor: FeatureExtractor
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
            extractor = try FeatureExtractor(modelDirectory: model, pooling: spec, maxLength: maxLength,
                                             batchSize: batchSize, device: ComputeDevice(rawValue: device) ?? .cpu,
                                             threads: threads)
        } catch let error as PoolingError {
            throw ValidationError(error.description)
        } catch let error as FeaturizeError {
            throw ValidationError(error.description)
        }

        let field: String? = textField ?? textColumn
        let reader = try TextInputReader(path: input, field: field)
        let texts = try reader.readAll()

        let outputDType = FeatureDType(rawValue: dtype) ?? .float32
        let spec = extractor.spec
        let writer = try makeFeatureWriter(
            path: output, columns: extractor.dimension, dtype: outputDType,
            format: outputFormat.flatMap(FeatureOutputFormat.init(rawValue:)),
            metadata: ["model": model, "pooling": spec.methods.map(\.description).joined(separator: ","),
                       "layers": spec.layers.map(String.init).joined(separator: ","),
                       "layer_reduce": spec.layerReduce.rawValue, "normalize": String(spec.normalize),
                       "max_length": String(extractor.maxLength)])

        let progress = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) != 0, total: texts.count)
        var done = ExtractionStats(totalTexts: texts.count)
        let started = Date()
        let chunk = max(batchSize * 64, 1024)
        var offset = 0
        while offset < texts.count {
            let end = min(texts.count, offset + chunk)
            var stats = ExtractionStats()
            let base = done
            let matrix = try extractor.extract(texts: Array(texts[offset..<end]), stats: &stats) { s in
                progress.update(texts: base.texts + s.texts, tokens: base.tokens + s.tokens,
                                seconds: Date().timeIntervalSince(started))
            }
            try writer.append(rows: matrix.values)
            done.texts += stats.texts; done.tokens += stats.tokens; done.truncated += stats.truncated
            offset = end
        }
        try writer.finish()
        progress.finish()
        if !quiet {
            let seconds = Date().timeIntervalSince(started)
            let line = String(format: "featurize extract: %d texts, %d tokens, %d truncated, %.2f s (%.1f texts/s, %.0f tokens/s) -> %@ [%d, %d]\n",
                              done.texts, done.tokens, done.truncated, seconds,
                              Double(done.texts) / max(seconds, 1e-9), Double(done.tokens) / max(seconds, 1e-9),
                              output, done.texts, extractor.dimension)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }
}

/// A one-line progress bar on standard error: texts, texts/s, tokens/s, ETA.
final class ProgressBar {
    let enabled: Bool
    let total: Int
    private var lastDraw = Date.distantPast

    init(enabled: Bool, total: Int) { self.enabled = enabled; self.total = total }

    func update(texts: Int, tokens: Int, seconds: Double) {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 || texts == total else { return }
        lastDraw = Date()
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
