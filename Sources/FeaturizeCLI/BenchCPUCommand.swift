import ArgumentParser
import CPUBackend
import Foundation

/// `featurize bench-cpu` (hidden): the CPU ceiling for the throughput notes (issue 9): FMA peak, OpenBLAS
/// sgemm with its own threads, and the CPU backend's OpenBLAS and packed-kernel paths at the encoder's GEMM
/// shapes (`rows` token rows: QKV, attention output, FFN in, FFN out).
struct BenchCPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-cpu",
        abstract: "Measure the CPU's FMA peak and GEMM rates at the encoder's shapes.",
        shouldDisplay: false)

    @Option(help: "Threads.")
    var threads: Int = 2
    @Option(help: "Token rows (M) of each product.")
    var rows: Int = 1024
    @Option(help: "Hidden sizes, comma-separated (intermediate = 4 x hidden).")
    var hidden: String = "384,768"
    @Option(help: "Timed runs per shape (the median is reported).")
    var repetitions: Int = 7

    func validate() throws {
        guard threads >= 1, rows >= 1, repetitions >= 1 else {
            throw ValidationError("--threads, --rows and --repetitions must be at least 1")
        }
        guard hidden.split(separator: ",").allSatisfy({ Int($0).map { $0 > 0 } ?? false }) else {
            throw ValidationError("--hidden must be positive integers separated by commas, got '\(hidden)'")
        }
    }

    func run() throws {
        let peak1 = CPUCeiling.fmaPeak(threads: 1)
        let peakN = CPUCeiling.fmaPeak(threads: threads)
        print(String(format: "FMA peak: %.1f GFLOP/s on 1 thread, %.1f on %d threads", peak1, peakN, threads))
        print("m x n x k                  openblas(own %dT)  openblas(per worker)   packed   packed/openblas-own".replacingOccurrences(of: "%d", with: "\(threads)"))
        var sum = (own: 0.0, worker: 0.0, packed: 0.0), count = 0.0
        for h in hidden.split(separator: ",").compactMap({ Int($0) }) {
            for (n, k) in [(3 * h, h), (h, h), (4 * h, h), (h, 4 * h)] {
                let r = try CPUCeiling.gemm(m: rows, n: n, k: k, threads: threads, repetitions: repetitions)
                print(String(format: "%5d x %5d x %5d    %12.1f %20.1f %11.1f %12.2fx", rows, n, k,
                             r.openblasOwnThreads, r.openblasPerWorker, r.packed, r.packed / r.openblasOwnThreads))
                sum.own += r.openblasOwnThreads; sum.worker += r.openblasPerWorker; sum.packed += r.packed; count += 1
            }
        }
        print(String(format: "mean                   %12.1f %20.1f %11.1f %12.2fx  (packed = %.0f%% of the FMA peak)",
                     sum.own / count, sum.worker / count, sum.packed / count, sum.packed / sum.own,
                     100 * sum.packed / count / peakN))
    }
}
