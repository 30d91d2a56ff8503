import Foundation
import Testing
@testable import ModelIO

/// Files written by the reference libraries (safetensors.torch, transformers save_pretrained); expected
/// values were computed by torch (see scripts/fixtures/make_modelio_fixtures.py).
@Suite struct FixtureTests {
    @Test func dtypeRoundTrips() throws {
        let file = try SafetensorsFile(path: fixturesPath + "/dtypes.safetensors")
        let expected = try #require(try loadJSON(fixturesPath + "/dtypes.expected.json") as? [String: [String: Any]])
        #expect(file.tensorNames == expected.keys.sorted())
        #expect(file.metadata == ["format": "pt", "source": "make_modelio_fixtures"])
        var checkedFloat = 0
        for (name, entry) in expected {
            let shape = try #require(entry["shape"] as? [Int])
            #expect(file.shape(of: name) == shape, "\(name)")
            if let bits = entry["float32_bits"] as? [Int] {
                let tensor = try file.tensor(name)
                #expect(tensor.shape == shape)
                let ours = tensor.values.map { Int(Int32(bitPattern: $0.bitPattern)) }
                #expect(ours == bits, "\(name): \(tensor.values)")
                checkedFloat += 1
            } else {
                let ints = try #require(entry["int64"] as? [Int])
                let tensor = try file.integerTensor(name)
                #expect(tensor.shape == shape)
                #expect(tensor.values.map(Int.init) == ints, "\(name)")
                #expect(throws: ModelIOError.notAFloatTensor(path: file.path, tensor: name,
                                                             dtype: file.info(of: name)!.dtype.rawValue)) {
                    try file.tensor(name)
                }
            }
        }
        #expect(checkedFloat == 8)
        #expect(file.info(of: "f16")?.dtype == .F16)
        #expect(file.info(of: "bf16")?.dtype == .BF16)
        #expect(try file.tensor("scalar").values == [2.75])
        #expect(try file.tensor("empty").values.isEmpty)
    }

    @Test func halfConversionIsExactForAllBitPatterns() {
        // Every finite half value converts exactly: half → float → half (via Float16 arithmetic rules) is
        // checked against the definition value = (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
        for raw in 0...0xFFFF {
            let h = UInt16(raw)
            let f = halfBitsToFloat(h)
            let sign: Float = (h & 0x8000) != 0 ? -1 : 1
            let e = Int((h >> 10) & 0x1F), m = Float(h & 0x3FF)
            if e == 31 {
                if m == 0 { #expect(f == sign * .infinity) } else { #expect(f.isNaN) }
                continue
            }
            let reference = e == 0 ? sign * Float(sign: .plus, exponent: -14, significand: m / 1024)
                                   : sign * Float(sign: .plus, exponent: e - 15, significand: 1 + m / 1024)
            if f != reference || f.sign != reference.sign { Issue.record("half 0x\(String(raw, radix: 16)): \(f) vs \(reference)"); return }
        }
    }

    /// Compares every tensor of a store with the reference checksums.
    func checkAgainstExpected(_ store: any WeightStore, expectedFile: String, rename: (String) -> String = { $0 }) throws {
        let expected = try #require(try loadJSON(fixturesPath + "/" + expectedFile) as? [String: [String: Any]])
        #expect(store.tensorNames == expected.keys.sorted())
        for (name, entry) in expected {
            let tensor = try store.tensor(rename(name))
            #expect(tensor.shape == entry["shape"] as? [Int], "\(name)")
            let sum = tensor.values.reduce(0.0) { $0 + Double($1) }
            let expectedSum = try #require(entry["sum"] as? Double)
            #expect(abs(sum - expectedSum) <= 1e-9 + 1e-12 * abs(expectedSum), "\(name)")
            let first = tensor.values.prefix(4).map { Int(Int32(bitPattern: $0.bitPattern)) }
            #expect(first == entry["first_bits"] as? [Int], "\(name)")
        }
    }

    @Test func shardedIndexLoadsEveryTensor() throws {
        let store = try ShardedWeights(indexPath: fixturesPath + "/tiny-bert-sharded/model.safetensors.index.json")
        #expect(store.shardNames.count == 5)
        try checkAgainstExpected(store, expectedFile: "tiny-bert-sharded.expected.json")
        let expected = try #require(try loadJSON(fixturesPath + "/tiny-bert-sharded.expected.json") as? [String: [String: Any]])
        for (name, entry) in expected {
            #expect(store.shard(containing: name)?.path.hasSuffix("/" + (entry["file"] as! String)) == true)
        }
        #expect(throws: ModelIOError.tensorNotFound(path: store.indexPath, tensor: "nope")) { try store.tensor("nope") }
    }

    @Test func shardedModelDirectory() throws {
        let dir = TempDir()
        let model = try copyFixture("tiny-bert-sharded", into: dir)
        dir.write("tiny-bert-sharded/vocab.txt", text: "[PAD]\n[UNK]\n")
        let directory = try ModelDirectory(path: model)
        #expect(directory.weights == .sharded(indexPath: model + "/model.safetensors.index.json"))
        #expect(directory.sentenceTransformers == nil)
        #expect(directory.tokenizerJSONPath == nil)
        #expect(directory.vocabPath == model + "/vocab.txt")
        let store = try directory.loadWeights()
        #expect(store.shape(of: "embeddings.word_embeddings.weight") == [64, 8])
        #expect(directory.config.hiddenSize == 8)
        #expect(directory.config.numLayers == 2)
    }

    @Test func shardIndexViolations() throws {
        let dir = TempDir()
        let model = try copyFixture("tiny-bert-sharded", into: dir)
        let index = model + "/model.safetensors.index.json"
        var json = try #require(try loadJSON(index) as? [String: Any])
        var map = try #require(json["weight_map"] as? [String: String])
        func write(_ weightMap: Any?) throws {
            var copy = json
            copy["weight_map"] = weightMap
            try JSONSerialization.data(withJSONObject: copy).write(to: URL(fileURLWithPath: index))
        }

        // A shard file that does not exist.
        map["pooler.dense.bias"] = "model-00009-of-00009.safetensors"
        try write(map)
        #expect(throws: ModelIOError.shardMissing(indexPath: index, shard: "model-00009-of-00009.safetensors",
                                                  tensor: "pooler.dense.bias")) { try ShardedWeights(indexPath: index) }

        // A shard that exists but does not hold the tensor.
        let word = "embeddings.word_embeddings.weight"
        map = try #require((try loadJSON(fixturesPath + "/tiny-bert-sharded/model.safetensors.index.json") as? [String: Any])?["weight_map"] as? [String: String])
        let wrongShard = map[word] == "model-00005-of-00005.safetensors" ? "model-00001-of-00005.safetensors" : "model-00005-of-00005.safetensors"
        map[word] = wrongShard
        try write(map)
        #expect(throws: ModelIOError.shardLacksTensor(indexPath: index, shard: wrongShard, tensor: word)) {
            try ShardedWeights(indexPath: index)
        }

        // Path traversal in a shard name.
        map[word] = "../outside.safetensors"
        try write(map)
        #expect(throws: ModelIOError.indexInvalid(path: index, reason: "shard name \"../outside.safetensors\" (for tensor \"\(word)\") is not a plain relative path")) {
            try ShardedWeights(indexPath: index)
        }

        // No weight_map / wrong type.
        try write(nil)
        #expect(throws: ModelIOError.indexInvalid(path: index, reason: "missing \"weight_map\"")) { try ShardedWeights(indexPath: index) }
        try write(["a", "b"])
        #expect(throws: ModelIOError.indexInvalid(path: index, reason: "weight_map is a array, not an object")) {
            try ShardedWeights(indexPath: index)
        }
        json = [:]
        try "{\"weight_map\": {".write(toFile: index, atomically: true, encoding: .utf8)
        #expect { try ShardedWeights(indexPath: index) } throws: { error in
            guard case let .configInvalidJSON(path, _)? = error as? ModelIOError else { return false }
            return path == index
        }
    }

    @Test func taskHeadCheckpointResolvesPrefixedNames() throws {
        let file = try SafetensorsFile(path: fixturesPath + "/tiny-bert-head/model.safetensors")
        #expect(file.resolve("embeddings.word_embeddings.weight") == "bert.embeddings.word_embeddings.weight")
        #expect(file.resolve("encoder.layer.1.output.LayerNorm.bias") == "bert.encoder.layer.1.output.LayerNorm.bias")
        #expect(file.resolve("classifier.weight") == "classifier.weight")
        #expect(file.resolve("embeddings.nothing") == nil)
        let direct = try file.tensor("bert.encoder.layer.0.attention.self.query.weight")
        let resolved = try file.resolvedTensor("encoder.layer.0.attention.self.query.weight")
        #expect(direct.values == resolved.values)
        #expect(throws: ModelIOError.tensorNotFound(path: "weights", tensor: "x.y")) { try file.resolvedTensor("x.y") }
        try checkAgainstExpected(file, expectedFile: "tiny-bert-head.expected.json")
    }

    @Test func legacyLayerNormGammaBeta() throws {
        let dir = TempDir()
        let header = #"{"bert.embeddings.LayerNorm.gamma":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
            + #""bert.embeddings.LayerNorm.beta":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"#
            + #""transformer.layer.0.sa_layer_norm.weight":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}"#
        let path = dir.write("old.safetensors", bytes: safetensorsBytes(header: header, data: f32Bytes([1.5, -0.5])))
        let file = try SafetensorsFile(path: path)
        #expect(file.resolve("embeddings.LayerNorm.weight") == "bert.embeddings.LayerNorm.gamma")
        #expect(file.resolve("embeddings.LayerNorm.bias") == "bert.embeddings.LayerNorm.beta")
        #expect(try file.resolvedTensor("embeddings.LayerNorm.bias").values == [-0.5])
        #expect(file.resolve("transformer.layer.0.sa_layer_norm.gamma") == "transformer.layer.0.sa_layer_norm.weight")
        #expect(WeightNames.layerNormAlias("encoder.layer.0.output.dense.weight") == nil)
        #expect(WeightNames.candidateNames(for: "a.LayerNorm.weight") ==
                ["a.LayerNorm.weight", "bert.a.LayerNorm.weight", "distilbert.a.LayerNorm.weight",
                 "roberta.a.LayerNorm.weight", "mpnet.a.LayerNorm.weight",
                 "a.LayerNorm.gamma", "bert.a.LayerNorm.gamma", "distilbert.a.LayerNorm.gamma",
                 "roberta.a.LayerNorm.gamma", "mpnet.a.LayerNorm.gamma"])
    }

    @Test func sentenceTransformers6Layout() throws {
        // Saved by sentence-transformers 6.2 (new module type names, `pooling_mode` list, max_seq_length kept
        // as the tokenizer's model_max_length, prompts).
        let model = try ModelDirectory(path: fixturesPath + "/tiny-st6")
        let st = try #require(model.sentenceTransformers)
        #expect(st.poolingModes == ["cls", "max", "mean"])
        #expect(st.normalize)
        #expect(st.maxSeqLength == nil)
        #expect(model.tokenizerModelMaxLength == 12)
        #expect(model.maxSequenceLength == 12)
        #expect(st.prompts == ["query": "query: ", "document": ""])
        #expect(st.defaultPrompt == "query: ")
        #expect(model.config.modelType == .distilbert)

        let dir = TempDir()
        let copy = try copyFixture("tiny-st6", into: dir)
        let configPath = copy + "/sentence_bert_config.json"
        dir.write("tiny-st6/sentence_bert_config.json", text: #"{"transformer_task": "fill-mask"}"#)
        #expect(throws: ModelIOError.configInvalidField(path: configPath, field: "transformer_task", reason: "\"fill-mask\" is not supported (only \"feature-extraction\")")) {
            try ModelDirectory(path: copy)
        }
        dir.write("tiny-st6/sentence_bert_config.json", text: #"{"modality_config": {"text": {"method": "forward", "method_output_name": "pooler_output"}}}"#)
        #expect(throws: ModelIOError.configInvalidField(path: configPath, field: "modality_config.text.method_output_name", reason: "\"pooler_output\" is not supported (only \"last_hidden_state\")")) {
            try ModelDirectory(path: copy)
        }
    }

    @Test func distilBertFixture() throws {
        let config = try EncoderConfig.load(path: fixturesPath + "/tiny-distilbert/config.json")
        #expect(config == EncoderConfig(modelType: .distilbert, vocabSize: 64, hiddenSize: 8, numLayers: 2, numHeads: 2,
                                        intermediateSize: 16, maxPositionEmbeddings: 16, typeVocabSize: 0,
                                        layerNormEps: 1e-12, hiddenAct: "gelu", padTokenId: 0))
        let file = try SafetensorsFile(path: fixturesPath + "/tiny-distilbert/model.safetensors")
        try checkAgainstExpected(file, expectedFile: "tiny-distilbert.expected.json")
        #expect(file.shape(of: "transformer.layer.1.ffn.lin1.weight") == [16, 8])
    }
}
