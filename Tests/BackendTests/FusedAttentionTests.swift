import Backend
import Foundation
import OpenCLBackend
import ReferenceBackend
import Testing

/// The fused attention kernel (`Kernels/flash_attention.cl`), run on PoCL explicitly (CPU devices default to the
/// unfused path), against `ReferenceMath.attention` in Double and against the unfused three-kernel path, at
/// odd shapes: sequence lengths 1..385, head sizes 13..128, padding in every batch (padding q/k/v rows NaN),
/// with and without MPNet's position bias, NaN-poisoned outputs.
@Suite("Fused attention on OpenCL", .serialized,
       .enabled(if: SharedOpenCL.available, "no OpenCL device (install pocl-opencl-icd)"))
struct FusedAttentionTests {
    /// (batch, seq, heads, headDim).
    static let shapes: [(batch: Int, seq: Int, heads: Int, headDim: Int)] = [
        (1, 1, 1, 13), (3, 1, 2, 32), (2, 7, 3, 13), (3, 7, 1, 64), (2, 33, 3, 32), (3, 33, 2, 96),
        (2, 127, 1, 128), (3, 127, 2, 64), (2, 127, 3, 13), (2, 385, 1, 64), (2, 385, 2, 128),
    ]

    /// Block sets of the fused kernel: the GPU default (16 x 16, 128 work-items: the shared-column paths for
    /// Q·Kᵀ and, at head sizes dividing 128, P·V), blocks that divide nothing (7 x 5, 32 work-items: the
    /// element-wise paths), 24 x 3 with 64 work-items (element-wise Q·Kᵀ, up to 48 accumulators per
    /// work-item), 24 x 8 with 64 work-items (3 scores per work-item) and 4 x 8 with 64 work-items (more
    /// work-items than scores per K tile).
    static let blockSets: [(String, Int, Int, Int)] = [("16x16-wg128", 16, 16, 128), ("7x5-wg32", 7, 5, 32),
                                                        ("24x3-wg64", 24, 3, 64), ("24x8-wg64", 24, 8, 64),
                                                        ("4x8-wg64", 4, 8, 64)]

    static func fusedBackend(blockQ: Int, blockK: Int, group: Int) throws -> OpenCLBackend {
        var p = KernelParameters.cpuDefault
        p.attentionVariant = .fused
        p.flashBlockQ = blockQ; p.flashBlockK = blockK; p.flashGroupSize = group
        return try SharedOpenCL.backend(p, key: "fused-attention-\(blockQ)x\(blockK)-wg\(group)")
    }

    /// Runs `variant` on `backend` into a NaN-poisoned output and returns the output.
    static func run(_ backend: OpenCLBackend, _ inputs: AttentionBiasCase.Inputs, batch: Int, seq: Int, heads: Int,
                    headDim: Int, withBias: Bool, variant: AttentionVariant) throws -> [Float] {
        let out = try poisonedBuffer(backend, batch * seq * heads * headDim)
        try backend.attention(qkv: try backend.makeBuffer(inputs.qkv), lengths: inputs.lengths, batch: batch, seq: seq,
                              heads: heads, headDim: headDim, scale: inputs.scale,
                              positionBias: withBias ? try backend.makeBuffer(inputs.bias) : nil, out: out,
                              variant: variant)
        return try backend.read(out)
    }

    /// Max |a - b| over the real rows (NaN anywhere counts as infinite).
    static func realRowError(_ a: [Float], _ b: [Float], lengths: [Int32], seq: Int, hidden: Int) -> Float {
        var worst: Float = 0
        for (s, length) in lengths.enumerated() {
            for t in 0..<Int(length) {
                for c in 0..<hidden {
                    let i = (s * seq + t) * hidden + c
                    let d = abs(a[i] - b[i])
                    if d.isNaN { return .infinity }
                    worst = max(worst, d)
                }
            }
        }
        return worst
    }

    @Test("matches the reference and the unfused path", arguments: [false, true])
    func matchesReferenceAndUnfused(withBias: Bool) throws {
        let backend = try Self.fusedBackend(blockQ: 16, blockK: 16, group: 128)
        #expect(backend.usesFusedAttention(backend.parameters.attentionVariant, headDim: 128))
        for (n, s) in Self.shapes.enumerated() {
            var inputs = AttentionBiasCase.inputs(batch: s.batch, seq: s.seq, heads: s.heads, headDim: s.headDim,
                                                  seed: UInt64(1_000 + n))
            if !withBias {
                inputs.expected = ReferenceMath.attention(inputs.qkv, lengths: inputs.lengths, batch: s.batch, seq: s.seq,
                                                          heads: s.heads, headDim: s.headDim, scale: inputs.scale)
            }
            let hidden = s.heads * s.headDim
            let fused = try Self.run(backend, inputs, batch: s.batch, seq: s.seq, heads: s.heads, headDim: s.headDim,
                                     withBias: withBias, variant: .fused)
            let unfused = try Self.run(backend, inputs, batch: s.batch, seq: s.seq, heads: s.heads, headDim: s.headDim,
                                       withBias: withBias, variant: .unfused)
            let vsReference = AttentionBiasCase.error(fused, inputs, batch: s.batch, seq: s.seq, hidden: hidden)
            let vsUnfused = Self.realRowError(fused, unfused, lengths: inputs.lengths, seq: s.seq, hidden: hidden)
            #expect(vsReference <= 1e-5, "fused \(s) bias \(withBias) lengths \(inputs.lengths): vs reference \(vsReference)")
            #expect(vsUnfused <= 1e-5, "fused \(s) bias \(withBias): vs unfused \(vsUnfused)")
        }
    }

    @Test("other block sizes", arguments: [1, 2, 3, 4])
    func otherBlockSizes(index: Int) throws {
        let set = Self.blockSets[index]
        let backend = try Self.fusedBackend(blockQ: set.1, blockK: set.2, group: set.3)
        for (n, s) in [(3, 7, 2, 13), (2, 33, 1, 128), (2, 127, 3, 32), (1, 1, 1, 96), (2, 40, 2, 64),
                          (2, 19, 1, 16)].enumerated() {
            let inputs = AttentionBiasCase.inputs(batch: s.0, seq: s.1, heads: s.2, headDim: s.3, seed: UInt64(1_100 + n))
            let fused = try Self.run(backend, inputs, batch: s.0, seq: s.1, heads: s.2, headDim: s.3, withBias: true,
                                     variant: .fused)
            let error = AttentionBiasCase.error(fused, inputs, batch: s.0, seq: s.1, hidden: s.2 * s.3)
            #expect(error <= 1e-5, "fused \(set.0) \(s): vs reference \(error)")
        }
    }

    @Test func emptySequenceGivesZerosAndLargeHeadsFallBack() throws {
        let backend = try Self.fusedBackend(blockQ: 16, blockK: 16, group: 128)
        // A length-0 sequence next to a real one: its rows are written (zeros), the real one is exact.
        let batch = 2, seq = 5, heads = 2, headDim = 13, hidden = heads * headDim
        var inputs = AttentionBiasCase.inputs(batch: batch, seq: seq, heads: heads, headDim: headDim, seed: 1_200)
        inputs.lengths = [0, 3]
        inputs.qkv = inputs.qkv.enumerated().map { i, v in i < seq * 3 * hidden ? .nan : (v.isNaN ? 0.5 : v) }
        inputs.expected = ReferenceMath.attention(inputs.qkv, lengths: inputs.lengths, batch: batch, seq: seq,
                                                  heads: heads, headDim: headDim, scale: inputs.scale,
                                                  positionBias: inputs.bias)
        let fused = try Self.run(backend, inputs, batch: batch, seq: seq, heads: heads, headDim: headDim, withBias: true,
                                 variant: .fused)
        #expect(fused[0..<(seq * hidden)].allSatisfy { $0 == 0 })
        #expect(AttentionBiasCase.error(fused, inputs, batch: batch, seq: seq, hidden: hidden) <= 1e-5)
        // Head size over FA_DMAX: the unfused path runs, still exact.
        #expect(!backend.usesFusedAttention(.fused, headDim: KernelParameters.flashMaxHeadDim + 1))
        let big = AttentionBiasCase.inputs(batch: 2, seq: 7, heads: 1, headDim: 130, seed: 1_201)
        let out = try Self.run(backend, big, batch: 2, seq: 7, heads: 1, headDim: 130, withBias: true, variant: .fused)
        #expect(AttentionBiasCase.error(out, big, batch: 2, seq: 7, hidden: 130) <= 1e-5)
    }

    @Test func variantDefaultsAndTuningFile() throws {
        #expect(KernelParameters.cpuDefault.attentionVariant == .unfused)
        #expect(KernelParameters.gpuDefault.attentionVariant == .fused)
        #expect(KernelParameters.smallGPU.attentionVariant == .fused)
        var p = KernelParameters.gpuDefault
        p.attentionVariant = .unfused; p.flashBlockQ = 8; p.flashBlockK = 32; p.flashGroupSize = 64
        let parsed = try KernelParameters.parse(p.serialized, over: .cpuDefault, source: "t.params")
        #expect(parsed == p)
        #expect(p.buildOptions.contains("-DFA_BQ=8 -DFA_BK=32 -DFA_WG=64 -DFA_DMAX=128"))
        #expect(throws: BackendError.self) {
            try KernelParameters.parse("attentionVariant = flash\n", over: .gpuDefault, source: "t.params")
        }
        // Defaults shrink the blocks to fit small devices (the program always contains flash_attention).
        #expect(KernelParameters.fittingFlashBlocks(.gpuDefault, maxWorkGroupSize: 1024, localMemory: 48 << 10)
                == .gpuDefault)
        let small = KernelParameters.fittingFlashBlocks(.gpuDefault, maxWorkGroupSize: 64, localMemory: 32 << 10)
        #expect(small.flashGroupSize == 64 && small.flashBlockQ == 8 && small.attentionVariant == .fused)
        let tiny = KernelParameters.fittingFlashBlocks(.gpuDefault, maxWorkGroupSize: 256, localMemory: 4 << 10)
        #expect(tiny.flashLocalMemory <= 4 << 10 && tiny.attentionVariant == .unfused)
        #expect(KernelParameters.smallGPU.flashLocalMemory <= 16 << 10)
        let device = SharedOpenCL.backend.device
        var tooBig = KernelParameters.cpuDefault
        tooBig.flashBlockQ = 65
        #expect(tooBig.validationProblem(for: device) != nil)
        tooBig.flashBlockQ = 64; tooBig.flashGroupSize = 16   // 512 accumulators per work-item
        #expect(tooBig.validationProblem(for: device) != nil)
    }
}
