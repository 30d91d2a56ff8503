import ArgumentParser
import Backend
import Featurize
import OpenCLBackend
import FeatureIO
import Foundation
import Pooling
import Scheduler

// Option groups shared by the commands (`@OptionGroup`), each validating its own values. Values are parsed
// once, into typed values (`DeviceSpec`, `LayerReduce`, `FeatureDType`), never re-parsed in `run()`.

/// `--model` and `--max-length`.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model directory (Hugging Face / sentence-transformers layout).")
    var model: String

    @Option(name: .customLong("max-length"), help: "Maximum tokens per text, special tokens included (default: the model's).")
    var maxLength: Int?

    func validate() throws {
        if let maxLength, !(2...1_000_000).contains(maxLength) {
            throw ValidationError("--max-length must be in 2...1000000, got \(maxLength)")
        }
    }

    /// The model directory resolved once (files, config, max length, default pooling); bad settings are usage
    /// errors, bad files runtime errors naming the file.
    func resolve() throws -> ModelSpec { try usageErrors { try ModelSpec(path: model, maxLength: maxLength) } }
}

/// `--device` and `--threads`.
struct DeviceOptions: ParsableArguments {
    @Option(name: .long, help: "Devices: auto (every OpenCL GPU, else the CPU), cpu, opencl, opencl:N, or a list such as opencl:0,opencl:1,cpu.",
            transform: { try DeviceSpec(parsing: $0) })
    var device: DeviceSpec = .auto

    @Option(name: .long, help: "CPU threads (default: all processors).")
    var threads: Int?

    @Option(name: .customLong("compute-precision"),
            help: "OpenCL arithmetic: fp32 (exact, default), fp16 (half storage, float32 accumulation) or tf32 (tensor cores; falls back to fp32 with a note where unavailable). The CPU always runs fp32.")
    var computePrecision: ComputePrecision = .fp32

    func validate() throws {
        if let threads, !(1...4_096).contains(threads) { throw ValidationError("--threads must be in 1...4096, got \(threads)") }
    }

    /// Starts an extractor per device; device failures are runtime errors (exit 1), bad settings usage errors.
    func plan(cpuFallback: Bool = false, make: (DeviceInfo) throws -> FeatureExtractor) throws -> DevicePlan {
        ComputePrecision.requested = computePrecision
        return try usageErrors { try DevicePlan.make(device, cpuFallback: cpuFallback, make: make) }
    }
}

/// `--device` of the tools that need one OpenCL device (`tune`, `selftest`, `bench-gemm`).
struct OpenCLDeviceOptions: ParsableArguments {
    @Option(name: .long, help: "OpenCL device: opencl or opencl:N.", transform: { try DeviceSpec(parsing: $0) })
    var device = DeviceSpec([.opencl(index: nil)])

    /// The `opencl:N` index of the device (a clear usage error when the spec names anything else).
    func index() throws -> Int { try openCLDeviceIndex(device) }
}

/// `--batch-size`, `--max-batch-tokens`, `--window`, `--no-sort`.
struct BatchingOptions: ParsableArguments {
    @Option(name: .customLong("batch-size"), help: "Most texts per encoder batch (default: only --max-batch-tokens limits it).")
    var batchSize: Int?

    @Option(name: .customLong("max-batch-tokens"), help: "Token budget of one batch: longest text × texts (padded cost). Default per device kind: 4096 on the CPU alone (its GEMMs skip padding rows, and larger batches reuse each weight panel more; measured fastest there), 16384 with a GPU; never below --max-length.")
    var maxBatchTokens: Int?

    @Option(name: .long, help: "Texts read, sorted by length and cut into batches together.")
    var window: Int = 8_192

    @Flag(name: .customLong("no-sort"), help: "Batches in input order instead of length-sorted (for comparisons).")
    var noSort = false

    func validate() throws {
        if let batchSize, !(1...10_000_000).contains(batchSize) { throw ValidationError("--batch-size must be in 1...10000000") }
        if let maxBatchTokens, !(2...100_000_000).contains(maxBatchTokens) {
            throw ValidationError("--max-batch-tokens must be in 2...100000000")
        }
        guard (1...10_000_000).contains(window) else { throw ValidationError("--window must be in 1...10000000") }
    }

    /// The policy for `plan`'s devices: the given budget, else the devices' default (never below the longest text).
    func policy(for plan: DevicePlan, maxLength: Int) throws -> BatchingPolicy {
        let budget = maxBatchTokens ?? max(plan.defaults.maxBatchTokens, maxLength)
        guard budget >= maxLength else {
            throw ValidationError("--max-batch-tokens \(budget) is below the maximum text length \(maxLength): a long text could never fit; raise it or lower --max-length")
        }
        return BatchingPolicy(maxBatchTokens: budget, maxBatchSize: batchSize, window: window, sortByLength: !noSort)
    }
}

/// `--text-field` / `--text-column`: where the text is in a JSONL record or a CSV/TSV row.
struct TextFieldOptions: ParsableArguments {
    @Option(name: .customLong("text-field"), help: "JSONL field holding the text (default: text).")
    var textField: String?

    @Option(name: .customLong("text-column"), help: "CSV/TSV column holding the text (default: text).")
    var textColumn: String?

    func validate() throws {
        if let textField, let textColumn, textField != textColumn {
            throw ValidationError("--text-field \(textField) and --text-column \(textColumn) disagree; give one")
        }
    }

    /// The field or column (nil: "text").
    var field: String? { textField ?? textColumn }
}

/// `--pooling`, `--layers`, `--layer-reduce`, `--normalize`.
struct PoolingOptions: ParsableArguments {
    @Option(name: .long, help: "Pooling, comma-separated: cls, mean, max, mean_sqrt_len, weighted_mean, last, pooler (default: the model's); none writes every token's vector (.safetensors with features [total_tokens, dim], offsets [rows + 1], token_ids, char_offsets; or .jsonl).")
    var pooling: String?

    // `.unconditional`: the value may start with '-' ("-1", "-4..-1").
    @Option(name: .long, parsing: .unconditional, help: "Layers (HF hidden_states indices, 0 = embeddings, negatives from the end): -1, -4,-3,-2,-1, 0,6,12 or -4..-1.")
    var layers: String = "-1"

    @Option(name: .customLong("layer-reduce"), help: "How several layers combine: concat or mean.", transform: { text in
        guard let reduce = LayerReduce(argument: text) else { throw ValidationError(PoolingError.unknownLayerReduce(text).description) }
        return reduce
    })
    var layerReduce: LayerReduce = .concat

    @Flag(name: .long, help: "L2-normalise every output vector (on by default when the sentence-transformers config has Normalize).")
    var normalize = false

    /// `--pooling none`: token-level output, no pooling.
    var tokenLevel: Bool { pooling?.trimmingCharacters(in: .whitespaces).lowercased() == "none" }

    /// The spec these flags ask for on `model`: the given methods, or the model's default methods (its
    /// sentence-transformers pooling, else mean) with the given layers, reduction and normalisation.
    func spec(model: ModelSpec) throws -> PoolingSpec {
        try usageErrors {
            if tokenLevel {  // --pooling none: only the layers matter
                return PoolingSpec(methods: [.tokens(.mean)], layers: try PoolingSpec.parseLayers(layers), layerReduce: layerReduce)
            }
            if let pooling {
                return try PoolingSpec.parse(pooling: pooling, layers: layers, layerReduce: layerReduce.rawValue, normalize: normalize)
            }
            var spec = model.defaultPooling
            spec.layers = try PoolingSpec.parseLayers(layers)
            spec.layerReduce = layerReduce
            spec.normalize = spec.normalize || normalize
            return spec
        }
    }
}

extension LayerReduce: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension FeatureDType: ExpressibleByArgument {
    /// `float32`/`f32`, `float16`/`f16` (case-insensitive).
    public init?(argument: String) {
        switch argument.lowercased() {
        case "float32", "f32": self = .float32
        case "float16", "f16": self = .float16
        default: return nil
        }
    }
}

/// Runs `body`, turning errors about the user's settings (pooling, layers, max length, unknown options) into
/// usage errors (exit 64); device and I/O failures stay runtime errors (exit 1).
func usageErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as PoolingError {
        throw ValidationError(error.description)
    } catch let error as FeaturizeError {
        if case .invalidOption = error { throw ValidationError(error.description) }
        throw error
    }
}
