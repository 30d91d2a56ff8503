import ArgumentParser
import OpenCLBackend

/// `featurize tune --device opencl:N`: searches GEMM kernel parameters for the encoder's shapes on one
/// device, checks each candidate's results, and stores the fastest as the device's tuning file (read by the
/// OpenCL backend from then on).
struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Search OpenCL GEMM tile parameters for this device and store the fastest.")

    @OptionGroup var openCL: OpenCLDeviceOptions
    @Option(help: "Token rows (M) of the GEMMs to tune for.")
    var tokens: Int = 4096
    @Option(help: "Hidden size of the encoder to tune for (384 = MiniLM, 768 = BERT-base).")
    var hidden: Int = 384
    @Option(help: "Timed runs per shape.")
    var repetitions: Int = 3
    @Flag(help: "Print the winner without writing the tuning file.")
    var dryRun = false

    func run() throws {
        let index = try openCL.index()
        guard tokens > 0, hidden > 0, repetitions > 0 else { throw ValidationError("--tokens, --hidden, --repetitions must be > 0") }
        let info = OpenCLDiscovery.devices[index]
        let candidates = KernelParameters.tuningCandidates(for: info)
        let shapes = GemmBenchmark.encoderShapes(tokens: tokens, hidden: hidden)
        let totalFlops = shapes.map(\.flops).reduce(0, +)
        print("tune on opencl:\(index) \(info.name): \(candidates.count) candidates, shapes \(shapes.map(\.description).joined(separator: "; "))")
        var best: (KernelParameters, Double)? = nil
        var randomState = OpenCLSelfTest.Random(seed: 7)
        for p in candidates {
            do {
                let backend = try OpenCLBackend(deviceIndex: index, parameters: p, profiling: true)
                let error = try OpenCLSelfTest.checkLinear(backend, rows: 67, k: 129, outF: 75, activation: .geluErf,
                                                           bias: true, random: &randomState)
                guard error <= 1e-5 else { print("  skip (wrong results, error \(error)): \(p.gemmSummary)"); continue }
                var seconds = 0.0
                for shape in shapes {
                    let gflops = try GemmBenchmark.gflops(backend, shape: shape, warmup: 1, repetitions: repetitions)
                    seconds += shape.flops / (gflops * 1e9)
                }
                let gflops = totalFlops / seconds / 1e9
                print("  \(formatFixed(gflops, digits: 1).padding(8)) GFLOP/s  \(p.gemmSummary)")
                if best.map({ gflops > $0.1 }) ?? true { best = (p, gflops) }
            } catch {
                print("  skip (\(error)): \(p.gemmSummary)")
            }
        }
        guard let (winner, gflops) = best else { throw ValidationError("no candidate ran on opencl:\(index)") }
        print("best: \(formatFixed(gflops, digits: 1)) GFLOP/s  \(winner.gemmSummary)")
        if dryRun { return }
        let path = KernelParameters.tuningFilePath(for: info)
        try KernelParameters.writeTuningFile(winner, for: info, comment: "featurize tune: \(formatFixed(gflops, digits: 1)) GFLOP/s at M=\(tokens), hidden \(hidden)")
        print("wrote \(path)")
    }
}
