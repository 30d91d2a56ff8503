import Backend
import ReferenceBackend
import CPUBackend
import Foundation
import OpenCLBackend
import Testing

/// Attention with an additive position bias `[heads, seq, seq]` (MPNet's relative position bias): the CPU
/// backend and the OpenCL kernels (both the CPU-device float8 GEMMs and the GPU-shaped scalar GEMMs, run on
/// PoCL) against `ReferenceMath.attention` in Double, at odd shapes, with padding in the batch.
enum AttentionBiasCase {
    /// (batch, seq, heads, headDim): seq 1, 7, 33, 127; odd head counts; head dims not multiples of 4.
    static let shapes: [(batch: Int, seq: Int, heads: Int, headDim: Int)] = [
        (1, 1, 1, 1), (3, 1, 3, 5), (2, 7, 5, 7), (3, 33, 3, 9), (2, 127, 7, 13), (4, 33, 1, 6), (1, 7, 7, 3),
    ]

    struct Inputs {
        var qkv: [Float], bias: [Float], lengths: [Int32], scale: Float
        var expected: [Float]
    }

    /// Random q/k/v (padding rows NaN: they must reach no real output), a bias of scale 3 with some entries 12
    /// (e^12: an unmasked padding key would take nearly all the weight), and the reference output.
    static func inputs(batch: Int, seq: Int, heads: Int, headDim: Int, seed: UInt64) -> Inputs {
        var random = SeededRandom(seed: seed)
        let hidden = heads * headDim
        var lengths = (0..<batch).map { _ in Int32(1 + random.int(below: seq)) }
        lengths[0] = Int32(seq)
        if batch > 1 { lengths[batch - 1] = 1 }
        var qkv = random.floats(batch * seq * 3 * hidden, scale: 2)
        for b in 0..<batch {
            for t in Int(lengths[b])..<seq {
                for c in 0..<(3 * hidden) { qkv[(b * seq + t) * 3 * hidden + c] = .nan }
            }
        }
        var bias = random.floats(heads * seq * seq, scale: 3)
        // Keys beyond the shortest real length get a large bias in some rows: masking must still give them
        // weight 0 in the sequences where they are padding.
        let shortest = Int(lengths.min() ?? 1)
        for h in 0..<heads {
            for i in 0..<seq where i % 2 == 0 {
                for j in shortest..<seq where j % 3 == 1 { bias[(h * seq + i) * seq + j] = 12 }
            }
        }
        // (Where such a key is real for a sequence, its weight is ~1 in the reference too.)
        let scale = 1 / Float(headDim).squareRoot()
        let expected = ReferenceMath.attention(qkv, lengths: lengths, batch: batch, seq: seq, heads: heads,
                                               headDim: headDim, scale: scale, positionBias: bias)
        return Inputs(qkv: qkv, bias: bias, lengths: lengths, scale: scale, expected: expected)
    }

    /// Max |got - expected| over real rows (NaN counts as infinite).
    static func error(_ got: [Float], _ inputs: Inputs, batch: Int, seq: Int, hidden: Int) -> Float {
        var worst: Float = 0
        for b in 0..<batch {
            for t in 0..<Int(inputs.lengths[b]) {
                for c in 0..<hidden {
                    let i = (b * seq + t) * hidden + c
                    let d = abs(got[i] - inputs.expected[i])
                    if d.isNaN { return .infinity }
                    worst = max(worst, d)
                }
            }
        }
        return worst
    }

    static func run(_ backend: any ComputeBackend, batch: Int, seq: Int, heads: Int, headDim: Int, seed: UInt64) throws -> Float {
        let inputs = inputs(batch: batch, seq: seq, heads: heads, headDim: headDim, seed: seed)
        let hidden = heads * headDim
        let out = try backend.makeBuffer([Float](repeating: .nan, count: batch * seq * hidden))
        try backend.attention(qkv: try backend.makeBuffer(inputs.qkv), lengths: inputs.lengths, batch: batch, seq: seq,
                              heads: heads, headDim: headDim, scale: inputs.scale,
                              positionBias: try backend.makeBuffer(inputs.bias), out: out)
        return error(try backend.read(out), inputs, batch: batch, seq: seq, hidden: hidden)
    }
}

@Suite("Attention with a position bias (CPU backend)")
struct CPUAttentionBiasTests {
    @Test("matches the host reference at odd shapes", arguments: [1, 2])
    func matchesReference(threads: Int) throws {
        let backend = CPUBackend(threads: threads)
        for (n, s) in AttentionBiasCase.shapes.enumerated() {
            let error = try AttentionBiasCase.run(backend, batch: s.batch, seq: s.seq, heads: s.heads,
                                                  headDim: s.headDim, seed: UInt64(700 + n))
            #expect(error <= 1e-5, "CPU attention+bias \(s): max abs error \(error)")
        }
    }

    @Test func biasChangesTheResultAndNilMeansNone() throws {
        let backend = CPUBackend(threads: 1)
        let batch = 2, seq = 7, heads = 3, headDim = 5, hidden = heads * headDim
        let inputs = AttentionBiasCase.inputs(batch: batch, seq: seq, heads: heads, headDim: headDim, seed: 9)
        let qkv = try backend.makeBuffer(inputs.qkv)
        let plain = try backend.allocate(count: batch * seq * hidden)
        try backend.attention(qkv: qkv, lengths: inputs.lengths, batch: batch, seq: seq, heads: heads, headDim: headDim,
                              scale: inputs.scale, out: plain)
        let zeroBias = try backend.allocate(count: batch * seq * hidden)
        try backend.attention(qkv: qkv, lengths: inputs.lengths, batch: batch, seq: seq, heads: heads, headDim: headDim,
                              scale: inputs.scale, positionBias: try backend.makeBuffer([Float](repeating: 0, count: heads * seq * seq)),
                              out: zeroBias)
        let noBias = ReferenceMath.attention(inputs.qkv, lengths: inputs.lengths, batch: batch, seq: seq, heads: heads,
                                             headDim: headDim, scale: inputs.scale)
        var withoutInputs = inputs
        withoutInputs.expected = noBias
        #expect(AttentionBiasCase.error(try backend.read(plain), withoutInputs, batch: batch, seq: seq, hidden: hidden) <= 1e-5)
        #expect(AttentionBiasCase.error(try backend.read(zeroBias), withoutInputs, batch: batch, seq: seq, hidden: hidden) <= 1e-5)
        // The bias really moves the output (the reference with and without it differ a lot).
        #expect(AttentionBiasCase.error(inputs.expected, withoutInputs, batch: batch, seq: seq, hidden: hidden) > 0.1)
        // A bias buffer smaller than [heads, seq, seq] is refused.
        #expect(throws: BackendError.self) {
            try backend.attention(qkv: qkv, lengths: inputs.lengths, batch: batch, seq: seq, heads: heads, headDim: headDim,
                                  scale: inputs.scale, positionBias: try backend.makeBuffer([0, 0]), out: plain)
        }
    }
}

/// Part of the serialised `OpenCLBackendTests` suite (shared backends, PoCL dislikes concurrent first use).
extension OpenCLBackendTests {
    @Test func attentionWithPositionBiasMatchesReference() throws {
        for (n, s) in AttentionBiasCase.shapes.enumerated() {
            let error = try AttentionBiasCase.run(SharedOpenCL.backend, batch: s.batch, seq: s.seq, heads: s.heads,
                                                  headDim: s.headDim, seed: UInt64(800 + n))
            #expect(error <= 1e-5, "OpenCL attention+bias \(s): max abs error \(error)")
        }
    }

    @Test func attentionWithPositionBiasInChunksAndOnGPUKernels() throws {
        // One sequence per chunk: the bias must be indexed per head, not per chunk matrix.
        let chunked = try SharedOpenCL.backend(.cpuDefault, key: "cpu-default-chunked")
        let saved = chunked.maxScoreScratchElements
        chunked.maxScoreScratchElements = 1
        defer { chunked.maxScoreScratchElements = saved }
        let chunkedError = try AttentionBiasCase.run(chunked, batch: 3, seq: 17, heads: 3, headDim: 7, seed: 901)
        #expect(chunkedError <= 1e-5, "chunked attention+bias: \(chunkedError)")
        // The GPU-shaped scalar batched GEMM (PoCL runs it too) and a CPU variant with other blocks.
        for (index, seed) in [(1, UInt64(902)), (0, UInt64(903))] {
            let (key, parameters) = OpenCLBackendTests.parameterSets[index]
            let other = try SharedOpenCL.backend(parameters, key: key)
            for s in [(3, 33, 5, 9), (2, 7, 7, 3), (1, 127, 3, 13)] {
                let error = try AttentionBiasCase.run(other, batch: s.0, seq: s.1, heads: s.2, headDim: s.3, seed: seed)
                #expect(error <= 1e-5, "\(key) attention+bias \(s): \(error)")
            }
        }
    }

    @Test func attentionRefusesShortPositionBias() throws {
        let backend = SharedOpenCL.backend
        let qkv = try backend.makeBuffer([Float](repeating: 0, count: 2 * 3 * 6))
        let out = try backend.allocate(count: 2 * 6)
        #expect(throws: BackendError.self) {
            try backend.attention(qkv: qkv, lengths: [2], batch: 1, seq: 2, heads: 2, headDim: 3, scale: 1,
                                  positionBias: try backend.makeBuffer([0, 0, 0]), out: out)
        }
    }
}
