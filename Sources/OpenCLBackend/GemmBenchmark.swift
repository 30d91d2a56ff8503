import Backend

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
        var random = OpenCLSelfTest.Random(state: 42)
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
