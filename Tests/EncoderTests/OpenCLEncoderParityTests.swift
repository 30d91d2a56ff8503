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
