import Backend
import DataFormats

/// GEMM throughput measurement from device event timings (`featurize bench-gemm`, `featurize tune`).
public enum GemmBenchmark {
    /// One `linear`-shaped GEMM: rows x inFeatures · (outFeatures x inFeatures)ᵀ.
    public struct Shape: Sendable, CustomStringConvertible {
        public let rows: Int, inFeatures: Int, outFeatures: Int
        public init(rows: Int, inFeatures: Int, outFeatures: Int) {
            self.rows = rows; self.inFeatures = inFeatures; self.outFeatures = outFeatures
        }
        public var flops: Double { 2 * Double(rows) * Double(inFeatures) * Double(outFeatures) }
        public var description: String { "M=\(rows) N=\(outFeatures) K=\(inFeatures)" }
    }

    /// The encoder's GEMMs for `tokens` token rows and hidden size `hidden` (intermediate 4x hidden):
    /// QKV (hidden -> 3h), attention output (h -> h), FFN up (h -> 4h) and down (4h -> h).
    public static func encoderShapes(tokens: Int, hidden: Int) -> [Shape] {
        [Shape(rows: tokens, inFeatures: hidden, outFeatures: 3 * hidden),
         Shape(rows: tokens, inFeatures: hidden, outFeatures: hidden),
         Shape(rows: tokens, inFeatures: hidden, outFeatures: 4 * hidden),
         Shape(rows: tokens, inFeatures: 4 * hidden, outFeatures: hidden)]
    }

    /// Median GFLOP/s of `linear` (bias + GELU epilogue) at `shape`, after `warmup` untimed runs, from
    /// `repetitions` event-timed runs. `backend` must have been created with `profiling: true`.
    public static func gflops(_ backend: OpenCLBackend, shape: Shape, variant: GemmVariant? = nil,
                              warmup: Int = 2, repetitions: Int = 5) throws -> Double {
        var random = OpenCLSelfTest.Random(seed: 42)
        let input = try backend.makeBuffer(random.floats(shape.rows * shape.inFeatures))
        let weight = try backend.makeBuffer(random.floats(shape.outFeatures * shape.inFeatures))
        let bias = try backend.makeBuffer(random.floats(shape.outFeatures))
        let out = try backend.allocate(count: shape.rows * shape.outFeatures)
        _ = try backend.timeLinear(input: input, rows: shape.rows, inFeatures: shape.inFeatures, weight: weight, bias: bias,
                                   outFeatures: shape.outFeatures, activation: .geluErf, out: out, variant: variant,
                                   repetitions: warmup)
        let times = try backend.timeLinear(input: input, rows: shape.rows, inFeatures: shape.inFeatures, weight: weight,
                                           bias: bias, outFeatures: shape.outFeatures, activation: .geluErf, out: out,
                                           variant: variant, repetitions: repetitions).sorted()
        guard !times.isEmpty else { return 0 }
        let median = times[times.count / 2]
        return median > 0 ? shape.flops / median / 1e9 : 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Attention-core timing (`featurize bench-gemm --attention`): wall-clock per `attention` call including
/// the final synchronisation, median of timed runs after warm-up, for the fused kernel or the unfused path.
public enum AttentionBenchmark {
    public struct Shape: Sendable, CustomStringConvertible {
        public let batch: Int, seq: Int, heads: Int, headDim: Int
        public init(batch: Int, seq: Int, heads: Int, headDim: Int) {
            self.batch = batch; self.seq = seq; self.heads = heads; self.headDim = headDim
        }
        /// Q·Kᵀ and P·V multiply-adds, all sequences at full length.
        public var flops: Double { 4 * Double(batch) * Double(heads) * Double(seq) * Double(seq) * Double(headDim) }
        public var description: String { "batch \(batch) seq \(seq) heads \(heads) headDim \(headDim)" }
    }

    /// Median seconds per call of `variant` (nil: the backend's `attentionVariant`).
    public static func seconds(_ backend: OpenCLBackend, shape: Shape, variant: AttentionVariant? = nil, warmup: Int = 2,
                               repetitions: Int = 5) throws -> Double {
        var random = OpenCLSelfTest.Random(seed: 11)
        let hidden = shape.heads * shape.headDim
        let qkv = try backend.makeBuffer(random.floats(shape.batch * shape.seq * 3 * hidden))
        let out = try backend.allocate(count: shape.batch * shape.seq * hidden)
        let lengths = [Int32](repeating: Int32(shape.seq), count: shape.batch)
        let scale = 1 / Float(shape.headDim).squareRoot()
        func once() throws -> Double {
            var start = timespec(), end = timespec()
            clock_gettime(CLOCK_MONOTONIC, &start)
            try backend.attention(qkv: qkv, lengths: lengths, batch: shape.batch, seq: shape.seq, heads: shape.heads,
                                  headDim: shape.headDim, scale: scale, positionBias: nil, out: out,
                                  variant: variant ?? backend.parameters.attentionVariant)
            try backend.synchronize()
            clock_gettime(CLOCK_MONOTONIC, &end)
            return Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) * 1e-9
        }
        for _ in 0..<warmup { _ = try once() }
        let times = try (0..<Swift.max(1, repetitions)).map { _ in try once() }.sorted()
        return times[times.count / 2]
    }
}
