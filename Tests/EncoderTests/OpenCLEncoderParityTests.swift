import Backend
import CPUBackend
import Encoder
import Foundation
import OpenCLBackend
import Testing

/// The whole encoder on the OpenCL backend (PoCL in CI) against Hugging Face transformers / sentence-transformers
/// (the same fixtures as the CPU parity tests), and against the CPU backend. One test, models in sequence:
/// OpenCL work stays on one thread.
@Suite("Encoder parity on OpenCL", .serialized)
struct OpenCLEncoderParityTests {
    @Test("every hidden layer and pooling mode matches HF within 1e-4 on opencl:0")
    func hiddenStatesAndPooling() throws {
        let backend = try OpenCLBackend(deviceIndex: 0)
        for model in fixtureModels {
            let fx = try EncoderFixture(model)
            let encoder = try Encoder(config: fx.config, weights: try fx.directory.loadWeights(), backend: backend)
            let cpuEncoder = try fx.encoder(threads: 1)
            let layers = Array(0...fx.config.numLayers)
            let h = fx.config.hiddenSize
            // The whole fixture as one padded batch, then batches of 7 padded to their own maximum.
            for chunk in [fx.n, 7] {
                var worst = [Float](repeating: 0, count: layers.count)
                var worstVsCPU: Float = 0
                for start in stride(from: 0, to: fx.n, by: chunk) {
                    let range = start..<min(fx.n, start + chunk)
                    let b = fx.batch(range)
                    let out = try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: range.count,
                                                  seq: b.seq, layers: layers)
                    let cpuOut = try cpuEncoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths,
                                                        batch: range.count, seq: b.seq, layers: layers)
                    for l in layers {
                        let values = try backend.read(try #require(out[l]))
                        let cpuValues = try cpuEncoder.backend.read(try #require(cpuOut[l]))
                        for (k, i) in range.enumerated() {
                            let base = k * b.seq * h
                            let ours = values[base..<base + Int(fx.lengths[i]) * h]
                            worst[l] = max(worst[l], maxAbsDiff(ours, fx.reference(layer: l, text: i)))
                            worstVsCPU = max(worstVsCPU, maxAbsDiff(ours, cpuValues[base..<base + Int(fx.lengths[i]) * h]))
                        }
                    }
                }
                print("opencl \(model) batch \(chunk): max abs diff per layer \(worst), vs CPU backend \(worstVsCPU)")
                for l in layers { #expect(worst[l] <= 1e-4, "\(model) layer \(l) max abs diff \(worst[l])") }
                #expect(worstVsCPU <= 1e-4, "\(model) OpenCL vs CPU backend \(worstVsCPU)")
            }

            // Pooling on the device from the last layer, every mode, into a wider matrix.
            let L = fx.config.numLayers
            let out = try encoder.forward(ids: fx.ids, typeIds: nil, lengths: fx.lengths, batch: fx.n, seq: fx.seq, layers: [L])
            let last = try #require(out[L])
            for mode in PoolingMode.allCases {
                let expected = try NpyArray(path: FixturePaths.file("\(model)/pool_\(mode.rawValue).npy")).floats
                let ours = try fx.poolIntoWideMatrix(backend, last: last, mode: mode)
                let d = maxAbsDiff(ours[...], expected[...])
                #expect(d <= 1e-4, "opencl \(model) pool \(mode.rawValue): \(d)")
            }
        }
    }
}

/// The whole encoder with the fused attention kernel (the GPU default) run on PoCL: every hidden layer against
/// HF within 1e-4 and against the unfused OpenCL path within 1e-5, padded batches, BERT (head size 12) and
/// MPNet (position bias inside the kernel, head size 9).
@Suite("Encoder parity on OpenCL, fused attention", .serialized)
struct OpenCLEncoderFusedAttentionTests {
    @Test("fused attention: every hidden layer matches HF and the unfused path")
    func fusedMatchesUnfused() throws {
        let unfused = try OpenCLBackend(deviceIndex: 0)
        var p = unfused.parameters
        p.attentionVariant = .fused
        p.flashBlockQ = 8; p.flashBlockK = 8; p.flashGroupSize = 64
        let fused = try OpenCLBackend(deviceIndex: 0, parameters: p)
        #expect(fused.usesFusedAttention(fused.parameters.attentionVariant, headDim: 12))
        for model in ["bert_gelu", "mpnet_gelu"] {
            let fx = try EncoderFixture(model)
            let weights = try fx.directory.loadWeights()
            let encoders = try [fused, unfused].map { try Encoder(config: fx.config, weights: weights, backend: $0) }
            let layers = Array(0...fx.config.numLayers)
            let h = fx.config.hiddenSize
            var worstVsHF: Float = 0, worstVsUnfused: Float = 0
            for start in stride(from: 0, to: fx.n, by: 7) {
                let range = start..<min(fx.n, start + 7)
                let b = fx.batch(range)
                let outs = try encoders.map {
                    try $0.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: range.count, seq: b.seq,
                                   layers: layers)
                }
                for l in layers {
                    let f = try fused.read(try #require(outs[0][l]))
                    let u = try unfused.read(try #require(outs[1][l]))
                    for (k, i) in range.enumerated() {
                        let base = k * b.seq * h, end = base + Int(fx.lengths[i]) * h
                        worstVsHF = max(worstVsHF, maxAbsDiff(f[base..<end], fx.reference(layer: l, text: i)))
                        worstVsUnfused = max(worstVsUnfused, maxAbsDiff(f[base..<end], u[base..<end]))
                    }
                }
            }
            print("opencl fused \(model): max abs diff vs HF \(worstVsHF), vs unfused \(worstVsUnfused)")
            #expect(worstVsHF <= 1e-4, "\(model) fused vs HF \(worstVsHF)")
            #expect(worstVsUnfused <= 1e-5, "\(model) fused vs unfused \(worstVsUnfused)")
        }
    }
}

/// No host round trips inside a forward: the whole encoder (embeddings, every layer, pooling) is enqueued
/// without the host waiting; downloading the pooled output is the one wait per batch. Checked with the
/// backend's wait counter on a BERT, a RoBERTa (per-token position ids) and an MPNet (position bias upload)
/// model, for the first batch and for later batches of other shapes; the pooled values still match HF.
@Suite("OpenCL forward: one host wait per batch", .serialized)
struct OpenCLHostWaitTests {
    @Test("forward + pool + download waits once", arguments: ["bert_gelu", "roberta_gelu", "mpnet_gelu"])
    func oneWaitPerBatch(model: String) throws {
        let backend = try OpenCLBackend(deviceIndex: 0)
        let fx = try EncoderFixture(model)
        let encoder = try Encoder(config: fx.config, weights: try fx.directory.loadWeights(), backend: backend)
        let h = fx.config.hiddenSize, L = fx.config.numLayers
        let expected = try NpyArray(path: FixturePaths.file("\(model)/pool_mean.npy")).floats
        for range in [0..<7, 7..<12, 12..<fx.n, 0..<7] {
            let b = fx.batch(range)
            let pooled = try backend.allocate(count: range.count * h)
            let before = backend.hostWaitCount
            let out = try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: range.count, seq: b.seq,
                                          layers: [L])
            try backend.pool(hidden: try #require(out[L]), lengths: b.lengths, batch: range.count, seq: b.seq, cols: h,
                             mode: .mean, out: pooled, outOffset: 0, outStride: h)
            #expect(backend.hostWaitCount == before, "\(model) \(range): the host waited inside the forward")
            let values = try backend.read(pooled)
            #expect(backend.hostWaitCount == before + 1, "\(model) \(range): \(backend.hostWaitCount - before) waits")
            let d = maxAbsDiff(values[...], expected[(range.lowerBound * h)..<(range.upperBound * h)])
            #expect(d <= 1e-4, "\(model) \(range): pooled mean vs sentence-transformers \(d)")
        }
    }
}
