import Backend
import CPUBackend
import Encoder
import Foundation
import ModelIO
import Pooling
import Testing

/// Parity of the encoder + CPU backend + pooling against Hugging Face transformers / sentence-transformers on
/// random models of odd shapes (see scripts/fixtures/gen_encoder_fixtures.py).
struct EncoderFixture {
    let name: String
    let directory: ModelDirectory
    let ids: [Int32]          // [n, seq]
    let lengths: [Int32]      // [n]
    let n: Int, seq: Int
    let hidden: NpyArray      // [L + 1, tokens, H]

    init(_ name: String) throws {
        self.name = name
        directory = try ModelDirectory(path: FixturePaths.model(name))
        let idArray = try NpyArray(path: FixturePaths.file("\(name)/ids.npy"))
        ids = idArray.ints; n = idArray.shape[0]; seq = idArray.shape[1]
        lengths = try NpyArray(path: FixturePaths.file("\(name)/lengths.npy")).ints
        hidden = try NpyArray(path: FixturePaths.file("\(name)/hidden.npy"))
    }

    var config: EncoderConfig { directory.config }

    func encoder(threads: Int = 2) throws -> Encoder {
        try Encoder(config: config, weights: try directory.loadWeights(), backend: CPUBackend(threads: threads))
    }

    /// Reference hidden state of text `i`, layer `l`: `[lengths[i], H]`.
    func reference(layer l: Int, text i: Int) -> ArraySlice<Float> {
        let h = config.hiddenSize
        let tokens = hidden.shape[1]
        let start = lengths[..<i].reduce(0) { $0 + Int($1) }
        let base = l * tokens * h + start * h
        return hidden.floats[base..<base + Int(lengths[i]) * h]
    }

    /// Ids of texts `range` re-padded to their own longest length.
    func batch(_ range: Range<Int>) -> (ids: [Int32], lengths: [Int32], seq: Int) {
        let lens = Array(lengths[range])
        let s = Int(lens.max() ?? 1)
        var out: [Int32] = []
        for i in range { out += ids[i * seq..<i * seq + s] }
        return (out, lens, s)
    }

    /// The backend's `pool` of `last` (`[n * seq, hidden]`) written at column 3 of a `[n, hidden + 3]` matrix
    /// (offset and stride exercised), read back as `[n, hidden]`.
    func poolIntoWideMatrix(_ backend: any ComputeBackend, last: any DeviceBuffer, mode: PoolingMode) throws -> [Float] {
        let h = config.hiddenSize, width = h + 3
        let wide = try backend.allocate(count: n * width)
        try backend.pool(hidden: last, lengths: lengths, batch: n, seq: seq, cols: h, mode: mode,
                         out: wide, outOffset: 3, outStride: width)
        let wideValues = try backend.read(wide)
        var ours: [Float] = []
        for b in 0..<n {
            let start: Int = b * width + 3
            ours += wideValues[start..<(start + h)]
        }
        return ours
    }
}

/// BERT / DistilBERT (gen_encoder_fixtures.py) and RoBERTa / XLM-R / CamemBERT / MPNet
/// (gen_encoder_fixtures_roberta_mpnet.py).
let fixtureModels = ["bert_gelu", "bert_gelu_new_f16", "distilbert_relu"] + robertaMPNetFixtureModels

@Suite("Encoder parity with transformers")
struct EncoderParityTests {
    @Test("every hidden layer matches HF within 1e-4", arguments: fixtureModels)
    func hiddenStates(model: String) throws {
        let fx = try EncoderFixture(model)
        let encoder = try fx.encoder()
        let layers = Array(0...fx.config.numLayers)
        let h = fx.config.hiddenSize
        // The whole fixture as one batch padded to 40, then in small batches padded to their own maximum.
        for chunk in [fx.n, 7] {
            var worst: [Float] = Array(repeating: 0, count: layers.count)
            for start in stride(from: 0, to: fx.n, by: chunk) {
                let range = start..<min(fx.n, start + chunk)
                let b = fx.batch(range)
                let out = try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: range.count,
                                              seq: b.seq, layers: layers)
                for l in layers {
                    let values = try encoder.backend.read(try #require(out[l]))
                    for (k, i) in range.enumerated() {
                        let base = k * b.seq * h
                        let ours = values[base..<base + Int(fx.lengths[i]) * h]
                        worst[l] = max(worst[l], maxAbsDiff(ours, fx.reference(layer: l, text: i)))
                    }
                }
            }
            print("\(model) batch \(chunk): max abs diff per layer \(worst)")
            for l in layers { #expect(worst[l] <= 1e-4, "\(model) layer \(l) max abs diff \(worst[l])") }
        }
    }

    @Test("every pooling mode matches sentence-transformers within 1e-4", arguments: fixtureModels)
    func poolingModes(model: String) throws {
        let fx = try EncoderFixture(model)
        let encoder = try fx.encoder()
        let backend = encoder.backend
        let h = fx.config.hiddenSize, L = fx.config.numLayers
        let out = try encoder.forward(ids: fx.ids, typeIds: nil, lengths: fx.lengths, batch: fx.n, seq: fx.seq, layers: [L])
        let last = try #require(out[L])
        let lastValues = try backend.read(last)
        for mode in PoolingMode.allCases {
            let expected = try NpyArray(path: FixturePaths.file("\(model)/pool_\(mode.rawValue).npy")).floats
            // Backend op, written at an offset inside a wider matrix.
            let ours = try fx.poolIntoWideMatrix(backend, last: last, mode: mode)
            let host = HostPooling.pool(lastValues, lengths: fx.lengths, batch: fx.n, seq: fx.seq, cols: h, mode: mode)
            let d = maxAbsDiff(ours, expected), dh = maxAbsDiff(host, expected)
            print("\(model) pool \(mode.rawValue): backend \(d) host \(dh)")
            #expect(d <= 1e-4, "\(model) \(mode.rawValue) backend diff \(d)")
            #expect(dh <= 1e-4, "\(model) \(mode.rawValue) host diff \(dh)")
            #expect(maxAbsDiff(ours, host) <= 1e-6, "backend and host pooling disagree for \(mode.rawValue)")
        }
        let pooledPath = FixturePaths.file("\(model)/pool_pooler.npy")
        #expect(encoder.hasPooler == FileManager.default.fileExists(atPath: pooledPath))
        if encoder.hasPooler {
            let expected = try NpyArray(path: pooledPath).floats
            let pooled = try backend.allocate(count: fx.n * h)
            try encoder.applyPooler(lastHidden: last, batch: fx.n, seq: fx.seq, out: pooled, outOffset: 0, outStride: h)
            let d = maxAbsDiff(try backend.read(pooled), expected)
            print("\(model) pooler: \(d)")
            #expect(d <= 1e-4)
        }
    }

    @Test("a text alone equals the same text inside a padded batch", arguments: fixtureModels)
    func paddingInvariance(model: String) throws {
        let fx = try EncoderFixture(model)
        let encoder = try fx.encoder(threads: 1)
        let h = fx.config.hiddenSize, L = fx.config.numLayers
        let batched = try encoder.backend.read(try #require(
            try encoder.forward(ids: fx.ids, typeIds: nil, lengths: fx.lengths, batch: fx.n, seq: fx.seq, layers: [L])[L]))
        for i in [0, 1, 2, 5, fx.n - 1] {
            let b = fx.batch(i..<i + 1)
            let alone = try encoder.backend.read(try #require(
                try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: 1, seq: b.seq, layers: [L])[L]))
            let n = Int(fx.lengths[i])
            let d = maxAbsDiff(alone[0..<n * h], batched[i * fx.seq * h..<i * fx.seq * h + n * h])
            #expect(d <= 1e-5, "text \(i) alone vs batched: \(d)")
        }
    }

    @Test("computes only up to the deepest requested layer and returns just those")
    func requestedLayers() throws {
        let fx = try EncoderFixture("bert_gelu")
        let encoder = try fx.encoder()
        let b = fx.batch(0..<4)
        let out = try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: 4, seq: b.seq, layers: [1, 0])
        #expect(Set(out.keys) == [0, 1])
        let h = fx.config.hiddenSize
        let layer1 = try encoder.backend.read(try #require(out[1]))
        let d = maxAbsDiff(layer1[0..<Int(fx.lengths[0]) * h], fx.reference(layer: 1, text: 0))
        #expect(d <= 1e-4)
    }
}

@Suite("Encoder errors")
struct EncoderErrorTests {
    @Test func missingTensorIsNamed() throws {
        let fx = try EncoderFixture("bert_gelu")
        var weights = try MemoryWeights(copying: try fx.directory.loadWeights())
        weights.tensors["encoder.layer.1.attention.self.key.weight"] = nil
        #expect {
            _ = try Encoder(config: fx.config, weights: weights, backend: CPUBackend(threads: 1))
        } throws: { error in
            "\(error)".contains("encoder.layer.1.attention.self.key.weight") && "\(error)".contains("missing")
        }
    }

    @Test func wrongShapeIsNamed() throws {
        let fx = try EncoderFixture("distilbert_relu")
        var weights = try MemoryWeights(copying: try fx.directory.loadWeights())
        let name = "transformer.layer.0.ffn.lin1.weight"
        let original = try #require(weights.tensors[name])
        weights.tensors[name] = HostTensor(shape: [original.shape[1], original.shape[0]], values: original.values)
        #expect(throws: EncoderError.wrongShape(name: name, expected: original.shape,
                                                actual: [original.shape[1], original.shape[0]])) {
            _ = try Encoder(config: fx.config, weights: weights, backend: CPUBackend(threads: 1))
        }
    }

    @Test func prefixedCheckpointLoads() throws {
        // A `BertFor...`-style checkpoint (every name prefixed with `bert.`) gives the same hidden states.
        let fx = try EncoderFixture("bert_gelu")
        let plain = try MemoryWeights(copying: try fx.directory.loadWeights())
        var prefixed = plain
        prefixed.tensors = Dictionary(uniqueKeysWithValues: plain.tensors.map { ("bert." + $0.key, $0.value) })
        let encoder = try Encoder(config: fx.config, weights: prefixed, backend: CPUBackend(threads: 1))
        let b = fx.batch(3..<4)
        let L = fx.config.numLayers
        let out = try encoder.backend.read(try #require(
            try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: 1, seq: b.seq, layers: [L])[L]))
        #expect(maxAbsDiff(out[...], fx.reference(layer: L, text: 3)) <= 1e-4)
    }

    @Test func unsupportedActivation() throws {
        let fx = try EncoderFixture("bert_gelu")
        var config = fx.config
        config.hiddenAct = "swish"
        #expect(throws: EncoderError.unsupportedActivation("swish")) {
            _ = try Encoder(config: config, weights: try fx.directory.loadWeights(), backend: CPUBackend(threads: 1))
        }
    }

    @Test func badForwardInputs() throws {
        let fx = try EncoderFixture("bert_gelu")
        let encoder = try fx.encoder(threads: 1)
        // Longer than max_position_embeddings (40).
        #expect(throws: EncoderError.self) {
            _ = try encoder.forward(ids: [Int32](repeating: 5, count: 41), typeIds: nil, lengths: [41], batch: 1, seq: 41, layers: [1])
        }
        // Length 0 and length beyond seq.
        #expect(throws: EncoderError.self) {
            _ = try encoder.forward(ids: [101, 102], typeIds: nil, lengths: [0], batch: 1, seq: 2, layers: [1])
        }
        #expect(throws: EncoderError.self) {
            _ = try encoder.forward(ids: [101, 102], typeIds: nil, lengths: [3], batch: 1, seq: 2, layers: [1])
        }
        // Layer beyond the model, token id beyond the vocabulary.
        #expect(throws: EncoderError.self) {
            _ = try encoder.forward(ids: [101, 102], typeIds: nil, lengths: [2], batch: 1, seq: 2, layers: [4])
        }
        #expect(throws: BackendError.self) {
            _ = try encoder.forward(ids: [101, 999_999], typeIds: nil, lengths: [2], batch: 1, seq: 2, layers: [1])
        }
    }

    @Test func malformedConfigAndUnknownModelType() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurize-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for file in ["model.safetensors", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: FixturePaths.model("bert_gelu") + "/" + file,
                                             toPath: dir.appendingPathComponent(file).path)
        }
        let configURL = dir.appendingPathComponent("config.json")
        try Data("{\"model_type\": \"bert\", \"hidden_size\": ".utf8).write(to: configURL)
        #expect { _ = try ModelDirectory(path: dir.path) } throws: { "\($0)".contains("config.json") }
        try Data("{\"model_type\": \"gpt2\", \"n_embd\": 8}".utf8).write(to: configURL)
        #expect { _ = try ModelDirectory(path: dir.path) } throws: { "\($0)".contains("gpt2") }
    }
}
