import Backend
import CBLAS
import CPUKernels
import Dispatch

/// Measurements of what this CPU can do, for `featurize bench-cpu` and the throughput notes: the FMA peak and
/// the GEMM rates of OpenBLAS and of the packed micro-kernel at the encoder's shapes.
public enum CPUCeiling {
    /// FMA peak in GFLOP/s over `threads` threads: each runs 10 independent 8-lane FMA chains (`a += b * c`;
    /// 8 lanes x 2 FLOPs x 10 per iteration) for `iterations` iterations (`fz_fma_chains`: AVX2 FMA where the
    /// CPU has it, else the portable multiply-add).
    public static func fmaPeak(threads: Int, iterations: Int = 50_000_000) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: max(1, threads)) { worker in
            let sum = fz_fma_chains(iterations, Float(worker))
            if sum == 42 { print("") }   // keeps the chains alive
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(max(1, threads)) * Double(iterations) * 10 * 16 / seconds / 1e9
    }

    /// GFLOP/s (2·m·n·k per product, median of `repetitions`) of `out[m, n] = x[m, k] · wᵀ + bias`:
    /// - `openblasOwnThreads`: one `cblas_sgemm` call with OpenBLAS using `threads` threads (no bias);
    /// - `openblasPerWorker`: the CPU backend's OpenBLAS path (rows split over workers, bias epilogue);
    /// - `packed`: the CPU backend's packed micro-kernel path (the default).
    public static func gemm(m: Int, n: Int, k: Int, threads: Int, repetitions: Int = 7) throws
        -> (openblasOwnThreads: Double, openblasPerWorker: Double, packed: Double) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random(_ count: Int) -> [Float] {
            (0..<count).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(state >> 40) / Float(1 << 24) - 0.5
            }
        }
        let x = random(m * k), w = random(n * k), b = random(n)
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        func median(_ body: () throws -> Void) rethrows -> Double {
            try body()   // warm-up
            var times: [Double] = []
            for _ in 0..<repetitions {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            return flops / times.sorted()[times.count / 2] / 1e9
        }
        var out = [Float](repeating: 0, count: m * n)
        openblas_set_num_threads(Int32(threads))
        let own = x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    median {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1,
                                    xp.baseAddress, Int32(k), wp.baseAddress, Int32(k), 0, op.baseAddress, Int32(n))
                    }
                }
            }
        }
        openblas_set_num_threads(1)
        var rates: [Double] = []
        for packed in [false, true] {
            let backend = CPUBackend(threads: threads, packedWeights: packed)
            let xb = try backend.makeBuffer(x), bb = try backend.makeBuffer(b)
            let wb = try backend.makeLinearWeight(w, outFeatures: n, inFeatures: k)
            let ob = try backend.allocate(count: m * n)
            rates.append(try median {
                try backend.linear(input: xb, rows: m, inFeatures: k, weight: wb, bias: bb, outFeatures: n,
                                   activation: nil, out: ob)
            })
        }
        return (own, rates[0], rates[1])
    }
}
