import ArgumentParser
import OpenCLBackend

/// `featurize bench-gemm` (hidden): GEMM GFLOP/s of the encoder's shapes from device event timings (median of
/// timed runs after warm-up), for one or both GEMM variants.
struct BenchGemmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-gemm",
        abstract: "Measure OpenCL GEMM throughput at the encoder's shapes.",
        shouldDisplay: false)

    @OptionGroup var openCL: OpenCLDeviceOptions
    @OptionGroup var precision: ComputePrecisionOption
    @Option(help: "Token rows (M).")
    var tokens: Int = 4096
    @Option(help: "Hidden sizes, comma-separated (384 = MiniLM, 768 = BERT-base).")
    var hidden: String = "384,768"
    @Option(help: "GEMM variant: default, tiled, register-blocked (cpu) or both.")
    var variant: String = "both"
    @Option(help: "Timed runs per shape (the median is reported).")
    var repetitions: Int = 5
    @Option(help: "Untimed warm-up runs per shape.")
    var warmup: Int = 2
    @Flag(help: "Also time the attention core at encoder shapes: the fused kernel and the unfused path (Q·Kᵀ, softmax, P·V) side by side.")
    var attention = false

    func run() throws {
        let index = try openCL.index()
        let hiddenSizes = hidden.split(separator: ",").compactMap { Int($0) }
        guard !hiddenSizes.isEmpty, hiddenSizes.allSatisfy({ $0 > 0 }), tokens > 0, repetitions > 0, warmup >= 0 else {
            throw ValidationError("--hidden needs positive integers, --tokens and --repetitions > 0")
        }
        let computePrecision = precision.resolved(deviceIndex: index)
        let backend = try OpenCLBackend(deviceIndex: index, profiling: true, precision: computePrecision)
        if let note = backend.tensorCoreNote { StandardError.line(note) }
        let variants: [GemmVariant?]
        switch variant {
        case "default": variants = [nil]
        case "tiled": variants = [.tiled]
        case "register-blocked", "cpu": variants = [.registerBlocked]
        case "both": variants = [.tiled, .registerBlocked]
        default: throw ValidationError("--variant must be default, tiled, register-blocked (or cpu) or both")
        }
        print("bench-gemm on \(backend.name), compute precision \(backend.precision.rawValue)\(backend.usesTensorCores ? " (tensor cores)" : ""): parameters from \(backend.parameterSource)")
        print("  \(backend.parameters)")
        print("  linear with bias + GELU epilogue; GFLOP/s = 2*M*N*K / median device time of \(repetitions) runs")
        for h in hiddenSizes {
            for shape in GemmBenchmark.encoderShapes(tokens: tokens, hidden: h) {
                var line = "  " + shape.description.padding(28)
                for v in variants {
                    let gflops = try GemmBenchmark.gflops(backend, shape: shape, variant: v, warmup: warmup,
                                                          repetitions: repetitions)
                    line += "  \((v ?? backend.parameters.gemmVariant).rawValue): \(formatFixed(gflops, digits: 1)) GFLOP/s"
                }
                print(line)
            }
        }
        guard attention else { return }
        print("  attention core, fused (flash_attention, blocks \(backend.parameters.flashBlockQ)x"
            + "\(backend.parameters.flashBlockK), \(backend.parameters.flashGroupSize) work-items) vs unfused "
            + "(Q·Kᵀ, softmax, P·V); default \(backend.defaultAttentionVariant.rawValue);")
        print("  TFLOP/s = 4*batch*heads*seq²*headDim / median wall clock (incl. synchronisation) of \(repetitions) runs")
        for h in hiddenSizes {
            let heads = 12  // MiniLM (384 = 12 x 32) and BERT-base (768 = 12 x 64)
            for (batch, seq) in [(tokens / 128, 128), (Swift.max(1, tokens / 512), 512)] where batch >= 1 {
                let shape = AttentionBenchmark.Shape(batch: batch, seq: seq, heads: heads, headDim: h / heads)
                var line = "  " + shape.description.padding(44)
                var times: [AttentionVariant: Double] = [:]
                for v in AttentionVariant.allCases {
                    let seconds = try AttentionBenchmark.seconds(backend, shape: shape, variant: v, warmup: warmup,
                                                                 repetitions: repetitions)
                    times[v] = seconds
                    let note = v == .fused && !backend.usesFusedAttention(.fused, headDim: shape.headDim) ? " (runs unfused)" : ""
                    line += "  \(v.rawValue): \(formatFixed(seconds * 1e3, digits: 2)) ms "
                        + "\(formatFixed(shape.flops / seconds / 1e12, digits: 2)) TFLOP/s\(note)"
                }
                if let f = times[.fused], let u = times[.unfused], f > 0 {
                    line += "  fused/unfused speed-up \(formatFixed(u / f, digits: 2))x"
                }
                print(line)
            }
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: Swift.max(0, width - count)) }
}
