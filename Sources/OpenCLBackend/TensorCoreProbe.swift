import Backend
import DataFormats
import ReferenceBackend

/// The start-up self-test of the tf32 tensor-core GEMM: `linear` at odd shapes (not multiples of the 64 x 64
/// tile or of the mma steps, with bias and activations) against a float64 host reference.
enum TensorCoreProbe {
    /// Largest accepted error, relative to the sum of |products| + |bias| of each output (as `featurize selftest`
    /// measures GEMMs): TF32 and half keep 10 mantissa bits (unit roundoff 2^-11 ≈ 4.9e-4) on both inputs; fp16
    /// also rounds the stored output (the bound of the portable fp16 GEMM in `featurize selftest`).
    static func tolerance(_ precision: ComputePrecision) -> Double { precision == .fp16 ? 5e-3 : 3e-3 }

    /// (rows, inFeatures, outFeatures, activation).
    static let shapes: [(Int, Int, Int, Activation?)] = [(77, 40, 72, nil), (130, 96, 129, .geluErf), (1, 7, 3, .relu)]

    /// The worst relative error of `backend`'s `linear` over `shapes` (NaN counts as infinite).
    static func worstError(_ backend: OpenCLBackend) throws -> Double {
        var random = SplitMix64(seed: 0x7F32)
        var worst = 0.0
        for (rows, k, n, activation) in shapes {
            let input = random.floats(rows * k), weight = random.floats(n * k), bias = random.floats(n)
            let out = try backend.allocate(count: rows * n)
            try backend.linear(input: try backend.makeBuffer(input), rows: rows, inFeatures: k,
                               weight: try backend.makeBuffer(weight), bias: try backend.makeBuffer(bias), outFeatures: n,
                               activation: activation, out: out)
            let got = try backend.read(out)
            let (expected, scales) = ReferenceMath.linear(input, rows: rows, inFeatures: k, weight: weight, bias: bias,
                                                          outFeatures: n, activation: activation)
            for i in 0..<got.count {
                let error = abs(Double(got[i]) - Double(expected[i])) / max(scales[i], 1e-30)
                if !error.isFinite { return .infinity }
                worst = max(worst, error)
            }
        }
        return worst
    }
}
