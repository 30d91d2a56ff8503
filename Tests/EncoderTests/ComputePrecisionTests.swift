import Backend
import Encoder
import Featurize
import Foundation
import OpenCLBackend
import Testing

/// Opt-in reduced precision on OpenCL (PoCL here): fp16 storage with float32 arithmetic against the exact
/// references. The bounds are the ones stated in docs/ENCODER.md.
@Suite("OpenCL compute precision fp16", .serialized)
struct ComputePrecisionTests {
    /// Largest |a - b| and smallest cosine over the token rows (real tokens) of one layer.
    static func compare(_ ours: ArraySlice<Float>, _ reference: ArraySlice<Float>, cols: Int) -> (Float, Float) {
        var worstAbs: Float = 0, worstCosine: Float = 1
        let a = Array(ours), b = Array(reference)
        for row in 0..<(a.count / cols) {
            var dot: Double = 0, na: Double = 0, nb: Double = 0
            for c in 0..<cols {
                let x = Double(a[row * cols + c]), y = Double(b[row * cols + c])
                dot += x * y; na += x * x; nb += y * y
                worstAbs = max(worstAbs, abs(a[row * cols + c] - b[row * cols + c]))
            }
            if !(dot / (na.squareRoot() * nb.squareRoot())).isFinite { return (.infinity, -1) }
            worstCosine = min(worstCosine, Float(dot / (na.squareRoot() * nb.squareRoot())))
        }
        return (worstAbs, worstCosine)
    }

    /// Every hidden layer of fixture `model` on `backend` (batches of 9 texts, real tokens only) against HF fp32:
    /// the largest |difference| and the smallest token cosine, per layer (index 0 = embeddings).
    static func worstPerLayer(_ model: String, on backend: OpenCLBackend) throws -> (abs: [Float], cosine: [Float]) {
        let fx = try EncoderFixture(model)
        let encoder = try Encoder(config: fx.config, weights: try fx.directory.loadWeights(), backend: backend)
        let layers = Array(0...fx.config.numLayers)
        let h = fx.config.hiddenSize
        var worstAbs = [Float](repeating: 0, count: layers.count), worstCosine = [Float](repeating: 1, count: layers.count)
        for start in stride(from: 0, to: fx.n, by: 9) {
            let range = start..<min(fx.n, start + 9)
            let b = fx.batch(range)
            let out = try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: range.count, seq: b.seq,
                                          layers: layers)
            for l in layers {
                let values = try backend.read(try #require(out[l]))
                for (k, i) in range.enumerated() {
                    let base = k * b.seq * h
                    let (d, c) = compare(values[base..<base + Int(fx.lengths[i]) * h], fx.reference(layer: l, text: i),
                                         cols: h)
                    worstAbs[l] = max(worstAbs[l], d); worstCosine[l] = min(worstCosine[l], c)
                }
            }
        }
        return (worstAbs, worstCosine)
    }

    @Test("fp16: every hidden layer of the test models within the stated bounds of HF fp32",
          arguments: fixtureModels)
    func everyLayer(model: String) throws {
        let backend = try OpenCLBackend(deviceIndex: 0, precision: .fp16)
        #expect(backend.defaultAttentionVariant == .fused)
        let (worstAbs, worstCosine) = try Self.worstPerLayer(model, on: backend)
        let layers = worstAbs.indices
        print("opencl fp16 \(model): per layer max abs diff \(worstAbs), min token cosine \(worstCosine)")
        for l in layers {
            #expect(worstAbs[l] <= 1.5e-2, "\(model) fp16 layer \(l): max abs diff \(worstAbs[l])")
            #expect(worstCosine[l] >= 0.99999, "\(model) fp16 layer \(l): min cosine \(worstCosine[l])")
        }
    }

    @Test("fp16: all-MiniLM-L6-v2 sentence embeddings vs sentence-transformers fp32, cosine >= 0.9999")
    func miniLM() throws {
        let texts = try String(contentsOfFile: FixturePaths.file("minilm/texts.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init).prefix(200)
        let expected = try NpyArray(path: FixturePaths.file("minilm/expected.npy"))
        let base = try #require(OpenCLDiscovery.registryDevices.first)
        let device = DeviceInfo(id: base.id, ordinal: base.ordinal, kind: base.kind, name: base.name,
                                memoryBytes: base.memoryBytes, capabilities: base.capabilities, details: base.details) { _ in
            try OpenCLBackend(deviceIndex: 0, precision: .fp16)
        }
        let extractor = try FeatureExtractor(modelDirectory: FixturePaths.miniLM, batchSize: 32, device: device)
        let features = try extractor.extract(texts: Array(texts))
        let dim = features.columns
        var worstCosine: Float = 1, worstAbs: Float = 0
        for i in 0..<texts.count {
            let (d, c) = Self.compare(features.row(i)[...], expected.floats[i * dim..<(i + 1) * dim], cols: dim)
            worstCosine = min(worstCosine, c); worstAbs = max(worstAbs, d)
        }
        print("MiniLM fp16 (opencl) vs sentence-transformers fp32: \(texts.count) texts, min cosine \(worstCosine), max abs diff \(worstAbs)")
        #expect(worstCosine >= 0.99999)
    }

    @Test("tensor-core GEMM (tiling and fragment layout emulated on PoCL): tf32 and fp16, every layer within bounds",
          arguments: [ComputePrecision.tf32, .fp16])
    func emulatedTensorCores(precision: ComputePrecision) throws {
        let backend = try OpenCLBackend(deviceIndex: 0, precision: precision, tensorCores: true, emulateTensorCores: true)
        print(backend.tensorCoreNote ?? "(no note)")
        #expect(backend.usesTensorCores && backend.precision == precision)
        #expect(backend.tensorCoreNote?.contains("verified") == true)
        for model in ["bert_gelu", "mpnet_gelu"] {
            let (perLayerAbs, perLayerCosine) = try Self.worstPerLayer(model, on: backend)
            let worstAbs = perLayerAbs.max() ?? 0, worstCosine = perLayerCosine.min() ?? 1
            print("opencl \(precision.rawValue) tensor cores (emulated) \(model): max abs diff \(worstAbs), min token cosine \(worstCosine)")
            #expect(worstAbs <= 1.5e-2 && worstCosine >= 0.99999, "\(model) \(precision.rawValue): \(worstAbs), \(worstCosine)")
        }
    }

    @Test("tf32 on a device without tensor cores: the probe fails cleanly, fp32 runs, with one line saying so")
    func tensorCoreProbeFallsBack() throws {
        let device = try #require(OpenCLDiscovery.devices.first)
        let tf32 = ComputePrecision.resolve(.tf32, for: device)
        #expect(tf32.precision == (device.vendor.lowercased().contains("nvidia") ? .tf32 : .fp32))
        #expect(ComputePrecision.resolve(.fp32, for: device).note == nil)
        #expect(ComputePrecision.resolve(.fp16, for: device).precision == .fp16)
        // Forced past the vendor check: the backend builds the inline-PTX kernel, which PoCL's compiler rejects.
        let backend = try OpenCLBackend(deviceIndex: 0, precision: .tf32)
        let note = try #require(backend.tensorCoreNote)
        print(note)
        #expect(backend.precision == .fp32 && !backend.usesTensorCores)
        #expect(note.contains("tf32 unavailable") && note.contains("running fp32"))
        // And it computes exactly what an fp32 backend computes.
        let exact = try OpenCLBackend(deviceIndex: 0)
        let input: [Float] = (0..<(13 * 37)).map { (i: Int) -> Float in Float((i * 7919) % 101) / 50 - 1 }
        let weight: [Float] = (0..<(29 * 37)).map { (i: Int) -> Float in Float((i * 104729) % 97) / 48 - 1 }
        var results: [[Float]] = []
        for b in [backend, exact] {
            let out = try b.allocate(count: 13 * 29)
            try b.linear(input: try b.makeBuffer(input), rows: 13, inFeatures: 37, weight: try b.makeBuffer(weight),
                         bias: nil, outFeatures: 29, activation: .geluErf, out: out)
            results.append(try b.read(out))
        }
        #expect(results[0] == results[1])
        // fp16 with the tensor-core probe forced on PoCL: the f16 kernel does not build either; the portable fp16
        // kernels run (still half storage) and the note says so.
        let half = try OpenCLBackend(deviceIndex: 0, precision: .fp16, tensorCores: true)
        let halfNote = try #require(half.tensorCoreNote)
        #expect(half.precision == .fp16 && !half.usesTensorCores)
        #expect(halfNote.contains("tensor cores unavailable") && halfNote.contains("portable fp16"))
        #expect(try OpenCLBackend(deviceIndex: 0, precision: .fp16).tensorCoreNote == nil)   // not probed off NVIDIA
    }
}
