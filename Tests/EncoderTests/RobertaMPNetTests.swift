import Backend
import CPUBackend
import Encoder
import Foundation
import ModelIO
import Testing

/// Random RoBERTa / XLM-RoBERTa / CamemBERT / MPNet models of odd shapes (scripts/fixtures/
/// gen_encoder_fixtures_roberta_mpnet.py). They are also in `fixtureModels`, so every hidden layer, every pooling
/// mode, the pooler and padding invariance are checked by `EncoderParityTests` (CPU) and
/// `OpenCLEncoderParityTests` (OpenCL) against transformers; these tests add what is specific to them.
let robertaMPNetFixtureModels = ["roberta_gelu", "xlmr_gelu_new", "camembert_relu", "mpnet_gelu"]

@Suite("RoBERTa-family and MPNet encoders")
struct RobertaMPNetTests {
    @Test("each sequence alone (batch of one) matches HF at every layer", arguments: robertaMPNetFixtureModels)
    func singleSequences(model: String) throws {
        let fx = try EncoderFixture(model)
        let encoder = try fx.encoder(threads: 1)
        let layers = Array(0...fx.config.numLayers)
        var worst: Float = 0
        for i in 0..<fx.n {
            let b = fx.batch(i..<i + 1)
            let out = try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: 1, seq: b.seq, layers: layers)
            for l in layers {
                let values = try encoder.backend.read(try #require(out[l]))
                worst = max(worst, maxAbsDiff(values[0..<Int(fx.lengths[i]) * fx.config.hiddenSize], fx.reference(layer: l, text: i)))
            }
        }
        print("\(model) single sequences: max abs diff \(worst)")
        #expect(worst <= 1e-4, "\(model): \(worst)")
    }

    @Test("a padding id inside the text gets position padding_idx, as in transformers", arguments: robertaMPNetFixtureModels)
    func paddingIdInsideText(model: String) throws {
        let fx = try EncoderFixture(model)
        let ids = try NpyArray(path: FixturePaths.file("\(model)/inner_pad_ids.npy"))
        let lengths = try NpyArray(path: FixturePaths.file("\(model)/inner_pad_lengths.npy")).ints
        let hidden = try NpyArray(path: FixturePaths.file("\(model)/inner_pad_hidden.npy"))
        let (n, seq, h, L) = (ids.shape[0], ids.shape[1], fx.config.hiddenSize, fx.config.numLayers)
        let tokens = hidden.shape[1]
        let encoder = try fx.encoder(threads: 1)
        var worst: Float = 0
        // Both sequences in one padded batch, then each alone.
        for range in [0..<n, 0..<1, 1..<2] {
            let s = range.count == 1 ? Int(lengths[range.lowerBound]) : seq
            var batchIds: [Int32] = []
            for i in range { batchIds += ids.ints[i * seq..<i * seq + s] }
            let out = try encoder.forward(ids: batchIds, typeIds: nil, lengths: Array(lengths[range]), batch: range.count,
                                          seq: s, layers: Array(0...L))
            for l in 0...L {
                let values = try encoder.backend.read(try #require(out[l]))
                for (k, i) in range.enumerated() {
                    let start = lengths[..<i].reduce(0) { $0 + Int($1) }
                    let reference = hidden.floats[(l * tokens + start) * h..<(l * tokens + start + Int(lengths[i])) * h]
                    worst = max(worst, maxAbsDiff(values[k * s * h..<(k * s + Int(lengths[i])) * h], reference))
                }
            }
        }
        print("\(model) padding id inside the text: max abs diff \(worst)")
        #expect(worst <= 1e-4, "\(model): \(worst)")
    }

    @Test("configs: positions after the padding index, defaults, buckets")
    func configs() throws {
        let expected: [String: (ModelType, pad: Int, usable: Int, types: Int)] = [
            "roberta_gelu": (.roberta, 1, 30, 1), "xlmr_gelu_new": (.xlmRoberta, 1, 30, 1),
            "camembert_relu": (.camembert, 4, 27, 2), "mpnet_gelu": (.mpnet, 1, 30, 0),
        ]
        for (name, e) in expected {
            let directory = try ModelDirectory(path: FixturePaths.model(name))
            let config = directory.config
            #expect(config.modelType == e.0, "\(name)")
            #expect(config.padTokenId == e.pad && config.firstPositionRow == e.pad + 1, "\(name)")
            #expect(config.maxPositionEmbeddings == 32 && config.maxSequencePositions == e.usable, "\(name)")
            #expect(config.typeVocabSize == e.types, "\(name)")
            // The max-length rule uses the usable positions (no tokenizer limit, no sentence-transformers config).
            #expect(directory.maxSequenceLength == e.usable, "\(name)")
        }
        #expect(try ModelDirectory(path: FixturePaths.model("mpnet_gelu")).config.relativeAttentionNumBuckets == 32)
        // Hugging Face defaults when fields are absent; 514 positions leave 512.
        let roberta = try EncoderConfig.parse(json: Array(#"{"model_type": "roberta", "max_position_embeddings": 514}"#.utf8), path: "c.json")
        #expect(roberta.vocabSize == 50265 && roberta.padTokenId == 1 && roberta.maxSequencePositions == 512)
        let mpnet = try EncoderConfig.parse(json: Array(#"{"model_type": "mpnet", "max_position_embeddings": 514, "pad_token_id": 7}"#.utf8), path: "c.json")
        // transformers' MPNetEmbeddings numbers positions from 1 whatever pad_token_id says.
        #expect(mpnet.vocabSize == 30527 && mpnet.relativeAttentionNumBuckets == 32 && mpnet.firstPositionRow == 2)
        #expect(mpnet.maxSequencePositions == 512 && mpnet.typeVocabSize == 0)
        for type in ["xlm-roberta", "camembert"] {
            #expect(try EncoderConfig.parse(json: Array(#"{"model_type": "\#(type)"}"#.utf8), path: "c.json").maxSequencePositions == 510)
        }
    }

    @Test("bad configs are refused with the field named")
    func badConfigs() throws {
        let cases: [(String, String)] = [
            (#"{"model_type": "mpnet", "relative_attention_num_buckets": 16}"#, "relative_attention_num_buckets"),
            (#"{"model_type": "roberta", "max_position_embeddings": 2, "pad_token_id": 1}"#, "max_position_embeddings"),
            (#"{"model_type": "roberta", "type_vocab_size": 0}"#, "type_vocab_size"),
            (#"{"model_type": "xlm-roberta", "pad_token_id": 300000}"#, "pad_token_id"),
            (#"{"model_type": "mpnet", "layer_norm_eps": -1}"#, "layer_norm_eps"),
            (#"{"model_type": "camembert", "position_embedding_type": "relative_key"}"#, "position_embedding_type"),
        ]
        for (json, field) in cases {
            #expect(performing: { try EncoderConfig.parse(json: Array(json.utf8), path: "bad.json") },
                    throws: { "\($0)".contains(field) && "\($0)".contains("bad.json") })
        }
    }

    @Test("MPNet buckets equal transformers' relative_position_bucket for -600...600")
    func buckets() throws {
        let table = try NpyArray(path: FixturePaths.file("mpnet_buckets.npy"))
        #expect(table.shape.count == 2 && table.shape[0] == 2)
        let count = table.shape[1]
        var mismatches = 0
        for k in 0..<count {
            let relative = Int(table.ints[k]), bucket = Int(table.ints[count + k])
            if RelativePositionBias.bucket(relative) != bucket { mismatches += 1 }
        }
        #expect(count == 1201 && mismatches == 0, "\(mismatches) bucket mismatches")
        // The buckets used: 0..<32, both directions, saturating at max_distance.
        let used = Set((-600...600).map { RelativePositionBias.bucket($0) })
        // (Bucket 16 would be "key after the query at distance 0", which cannot happen.)
        #expect(used == Set(0..<32).subtracting([16]))
    }

    @Test("sequences longer than the usable positions are refused", arguments: ["roberta_gelu", "mpnet_gelu"])
    func tooLong(model: String) throws {
        let fx = try EncoderFixture(model)
        let encoder = try fx.encoder(threads: 1)
        let ok = [Int32](repeating: 7, count: 30)
        _ = try encoder.forward(ids: ok, typeIds: nil, lengths: [30], batch: 1, seq: 30, layers: [1])
        #expect(performing: {
            _ = try encoder.forward(ids: ok + [7], typeIds: nil, lengths: [31], batch: 1, seq: 31, layers: [1])
        }, throws: { "\($0)".contains("31") && "\($0)".contains("30 positions") })
    }

    @Test("prefixed checkpoints (roberta., mpnet.) load to the same hidden states",
          arguments: [("roberta_gelu", "roberta."), ("xlmr_gelu_new", "roberta."), ("mpnet_gelu", "mpnet.")])
    func prefixedCheckpoint(model: String, prefix: String) throws {
        let fx = try EncoderFixture(model)
        let plain = try MemoryWeights(copying: try fx.directory.loadWeights())
        var prefixed = plain
        prefixed.tensors = Dictionary(uniqueKeysWithValues: plain.tensors.map { (prefix + $0.key, $0.value) })
        let encoder = try Encoder(config: fx.config, weights: prefixed, backend: CPUBackend(threads: 1))
        #expect(encoder.hasPooler)
        let b = fx.batch(3..<4)
        let L = fx.config.numLayers
        let out = try encoder.backend.read(try #require(
            try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: 1, seq: b.seq, layers: [L])[L]))
        #expect(maxAbsDiff(out[...], fx.reference(layer: L, text: 3)) <= 1e-4)
    }

    @Test("missing MPNet tensors are named")
    func missingTensors() throws {
        let fx = try EncoderFixture("mpnet_gelu")
        for name in ["encoder.relative_attention_bias.weight", "encoder.layer.2.attention.attn.k.weight",
                     "encoder.layer.0.attention.LayerNorm.bias"] {
            var weights = try MemoryWeights(copying: try fx.directory.loadWeights())
            weights.tensors[name] = nil
            #expect(performing: { _ = try Encoder(config: fx.config, weights: weights, backend: CPUBackend(threads: 1)) },
                    throws: { "\($0)".contains(name) && "\($0)".contains("missing") })
        }
        // A bias table of the wrong shape.
        var weights = try MemoryWeights(copying: try fx.directory.loadWeights())
        weights.tensors["encoder.relative_attention_bias.weight"] = HostTensor(shape: [7, 32], values: [Float](repeating: 0, count: 224))
        #expect(throws: EncoderError.wrongShape(name: "encoder.relative_attention_bias.weight", expected: [32, 7], actual: [7, 32])) {
            _ = try Encoder(config: fx.config, weights: weights, backend: CPUBackend(threads: 1))
        }
    }

    @Test("the relative position bias matters: a zeroed table changes MPNet's output")
    func biasMatters() throws {
        let fx = try EncoderFixture("mpnet_gelu")
        var weights = try MemoryWeights(copying: try fx.directory.loadWeights())
        let table = try #require(weights.tensors["encoder.relative_attention_bias.weight"])
        weights.tensors["encoder.relative_attention_bias.weight"] = HostTensor(shape: table.shape, values: table.values.map { _ in 0 })
        let encoder = try Encoder(config: fx.config, weights: weights, backend: CPUBackend(threads: 1))
        let b = fx.batch(3..<4)
        let out = try encoder.backend.read(try #require(
            try encoder.forward(ids: b.ids, typeIds: nil, lengths: b.lengths, batch: 1, seq: b.seq, layers: [1])[1]))
        #expect(maxAbsDiff(out[...], fx.reference(layer: 1, text: 3)) > 1e-2)
    }

    @Test("RoBERTa with one token type ignores caller type ids; layer selection returns just those layers")
    func typeIdsAndLayers() throws {
        let fx = try EncoderFixture("roberta_gelu")
        let encoder = try fx.encoder(threads: 1)
        let b = fx.batch(0..<4)
        let ones = [Int32](repeating: 1, count: b.ids.count)
        let out = try encoder.forward(ids: b.ids, typeIds: ones, lengths: b.lengths, batch: 4, seq: b.seq, layers: [2, 0])
        #expect(Set(out.keys) == [0, 2])
        let layer2 = try encoder.backend.read(try #require(out[2]))
        for i in 0..<4 {
            let n = Int(fx.lengths[i]) * fx.config.hiddenSize
            #expect(maxAbsDiff(layer2[i * b.seq * fx.config.hiddenSize..<i * b.seq * fx.config.hiddenSize + n],
                               fx.reference(layer: 2, text: i)) <= 1e-4)
        }
    }
}
