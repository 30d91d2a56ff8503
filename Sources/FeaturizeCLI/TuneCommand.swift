import ArgumentParser
import OpenCLBackend

/// `featurize tune --device opencl:N`: searches GEMM kernel parameters for the encoder's shapes on one
/// device, checks each candidate's results, and stores the fastest as the device's tuning file (read by the
/// OpenCL backend from then on).
struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Search OpenCL GEMM tile parameters for this device and store the fastest.")

    @Option(help: "OpenCL device: opencl or opencl:N.")
    var device: String = "opencl"
    @Option(help: "Token rows (M) of the GEMMs to tune for.")
    var tokens: Int = 4096
    @Option(help: "Hidden size of the encoder to tune for (384 = MiniLM, 768 = BERT-base).")
    var hidden: Int = 384
    @Option(help: "Timed runs per shape.")
    var repetitions: Int = 3
    @Flag(help: "Print the winner without writing the tuning file.")
    var dryRun = false

    func run() throws {
        let index = try openCLDeviceIndex(device)
        guard tokens > 0, hidden > 0, repetitions > 0 else { throw ValidationError("--tokens, --hidden, --repetitions must be > 0") }
        let info = OpenCLDiscovery.devices[index]
        let base = KernelParameters.defaults(for: info)
        var candidates: [KernelParameters] = [base]
        if info.type == .cpu {
            for (m, n) in [(2, 2), (4, 2), (2, 4), (3, 4), (4, 3), (4, 4), (6, 2), (8, 1), (1, 8)] {
                for local in [1, 8] {
                    var p = base
                    p.gemmVariant = .cpu; p.cpuBlockM = m; p.cpuBlockN = n; p.cpuLocalSize = local
                    candidates.append(p)
                }
            }
        } else {
            for (tm, tn, tk, wm, wn, vw) in [(64, 64, 16, 4, 4, 4), (128, 128, 16, 8, 8, 4), (128, 64, 16, 8, 4, 4),
                                             (64, 128, 16, 4, 8, 4), (128, 128, 8, 8, 8, 4), (64, 64, 32, 4, 4, 4),
                                             (128, 128, 16, 8, 8, 8), (32, 32, 16, 4, 4, 4), (64, 64, 16, 4, 4, 2),
                                             (128, 128, 32, 8, 8, 4), (128, 64, 32, 8, 4, 4)] {
                var p = base
                p.gemmVariant = .tiled
                p.tileM = tm; p.tileN = tn; p.tileK = tk; p.workPerThreadM = wm; p.workPerThreadN = wn; p.vectorWidth = vw
                candidates.append(p)
            }
        }
        var seen: [KernelParameters] = []
        candidates = candidates.filter { p in
            guard p.validationProblem(for: info) == nil, !seen.contains(p) else { return false }
            seen.append(p)
            return true
        }
        let shapes = GemmBenchmark.encoderShapes(tokens: tokens, hidden: hidden)
        let totalFlops = shapes.map(\.flops).reduce(0, +)
        print("tune on opencl:\(index) \(info.name): \(candidates.count) candidates, shapes \(shapes.map(\.description).joined(separator: "; "))")
        var best: (KernelParameters, Double)? = nil
        var randomState = OpenCLSelfTest.Random(state: 7)
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
