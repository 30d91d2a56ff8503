import Backend
import CPUBackend
import DataFormats
import Testing

/// `postAttention` on the CPU backend (the rest of a post-LN layer run per block of real rows) against
/// `composedPostAttention` (the same ops one after another over the whole batch): bit-identical on every row,
/// padding rows included, for odd shapes, padded batches, 1 and 2 threads, the packed GEMM (FFN2's k over
/// several blocks) and the OpenBLAS path (unpacked weights, which fall back to the composed ops).
@Suite("postAttention: the CPU's per-block layer equals the composed ops bit for bit")
struct PostAttentionTests {
    @Test("packed and OpenBLAS weights, 1 and 2 threads, odd shapes with padding",
          arguments: [(1, true), (2, true), (2, false)])
    func blockEqualsComposed(threads: Int, packed: Bool) throws {
        let backend = CPUBackend(threads: threads, packedWeights: packed)
        var random = SplitMix64(seed: 0x9057A77E)
        // (hidden, intermediate, lengths, seq): FFN2's k = 1,000 spans three k blocks of the packed GEMM.
        for (h, f, lengths, seq) in [(13, 37, [3, 1, 7], 7), (48, 1000, [33, 5, 0, 20], 33), (64, 256, [130, 127], 130)] {
            let rows = lengths.count * seq
            func weight(_ n: Int, _ k: Int) throws -> any DeviceBuffer {
                try backend.makeLinearWeight(random.floats(n * k, scale: 0.2), outFeatures: n, inFeatures: k)
            }
            func vector(_ n: Int, offset: Float = 0) throws -> any DeviceBuffer {
                try backend.makeBuffer(random.floats(n, scale: 0.5).map { $0 + offset })
            }
            let layer = PostAttentionLayer(
                hidden: h, intermediateSize: f, outWeight: try weight(h, h), outBias: try vector(h),
                norm1Gamma: try vector(h, offset: 1), norm1Beta: try vector(h), ffn1Weight: try weight(f, h),
                ffn1Bias: try vector(f), activation: .geluErf, ffn2Weight: try weight(h, f), ffn2Bias: try vector(h),
                norm2Gamma: try vector(h, offset: 1), norm2Beta: try vector(h), eps: 1e-5)
            let context = try backend.makeBuffer(random.floats(rows * h, scale: 2))
            let x = try backend.makeBuffer(random.floats(rows * h, scale: 2))
            let lengths32 = lengths.map(Int32.init)
            func run(blocks: Bool) throws -> (after: [Float], out: [Float]) {
                // Work buffers start as NaN: every row, padding included, must be written.
                let after = try backend.makeBuffer([Float](repeating: .nan, count: rows * h))
                let inter = try backend.makeBuffer([Float](repeating: .nan, count: rows * f))
                let out = try backend.makeBuffer([Float](repeating: .nan, count: rows * h))
                if blocks {
                    try backend.postAttention(layer, context: context, x: x, lengths: lengths32, seq: seq,
                                              afterAttention: after, intermediate: inter, out: out)
                } else {
                    try backend.composedPostAttention(layer, context: context, x: x, lengths: lengths32, seq: seq,
                                                      afterAttention: after, intermediate: inter, out: out)
                }
                return (try backend.read(after), try backend.read(out))
            }
            let blocked = try run(blocks: true), composed = try run(blocks: false)
            let label = "threads \(threads) packed \(packed) hidden \(h) intermediate \(f) lengths \(lengths)"
            #expect(!composed.out.contains { $0.isNaN }, "\(label): composed output has NaN")
            #expect(blocked.after.elementsEqual(composed.after) { $0.bitPattern == $1.bitPattern }, "\(label): afterAttention differs")
            #expect(blocked.out.elementsEqual(composed.out) { $0.bitPattern == $1.bitPattern }, "\(label): out differs")
            // Not a constant: real rows differ from one another.
            #expect(Set(blocked.out.prefix(2 * h)).count > h, "\(label): output looks constant")
        }
    }

    @Test("bad shapes are refused by name")
    func refusesBadShapes() throws {
        let backend = CPUBackend(threads: 2)
        var random = SplitMix64(seed: 7)
        let h = 8, f = 16
        func weight(_ n: Int, _ k: Int) throws -> any DeviceBuffer {
            try backend.makeLinearWeight(random.floats(n * k), outFeatures: n, inFeatures: k)
        }
        let v = try backend.makeBuffer(random.floats(f))
        let layer = PostAttentionLayer(hidden: h, intermediateSize: f, outWeight: try weight(h, h), outBias: v,
                                       norm1Gamma: v, norm1Beta: v, ffn1Weight: try weight(f, h), ffn1Bias: v,
                                       activation: .relu, ffn2Weight: try weight(h, f), ffn2Bias: v, norm2Gamma: v,
                                       norm2Beta: v, eps: 1e-5)
        let small = try backend.makeBuffer([Float](repeating: 0, count: 3 * h))
        let big = try backend.makeBuffer([Float](repeating: 0, count: 4 * h))
        let inter = try backend.makeBuffer([Float](repeating: 0, count: 4 * f))
        let out = try backend.makeBuffer([Float](repeating: 0, count: 4 * h))
        #expect(throws: BackendError.self) {
            try backend.postAttention(layer, context: small, x: big, lengths: [4], seq: 4, afterAttention: big,
                                      intermediate: inter, out: out)
        }
        #expect(throws: BackendError.self) {
            try backend.postAttention(layer, context: big, x: small, lengths: [5], seq: 4,
                                      afterAttention: out, intermediate: inter, out: big)
        }
    }
}
