import Testing
@testable import ModelIO

/// The real all-MiniLM-L6-v2 directory (fetched by scripts/setup.sh). Expected values come from
/// `safetensors.numpy.load_file` and the files' JSON in Python.
@Suite struct MiniLMDirectoryTests {
    @Test func directoryDescription() throws {
        let model = try ModelDirectory(path: miniLMPath)
        #expect(model.config == EncoderConfig(modelType: .bert, vocabSize: 30522, hiddenSize: 384, numLayers: 6,
                                              numHeads: 12, intermediateSize: 1536, maxPositionEmbeddings: 512,
                                              typeVocabSize: 2, layerNormEps: 1e-12, hiddenAct: "gelu", padTokenId: 0))
        #expect(model.weights == .single(path: miniLMPath + "/model.safetensors"))
        #expect(model.tokenizerJSONPath == miniLMPath + "/tokenizer.json")
        #expect(model.vocabPath == miniLMPath + "/vocab.txt")
        #expect(model.tokenizerConfigPath == miniLMPath + "/tokenizer_config.json")
        #expect(model.specialTokensMapPath == miniLMPath + "/special_tokens_map.json")
        let st = try #require(model.sentenceTransformers)
        #expect(st.poolingModes == ["mean"])
        #expect(st.normalize == true)
        #expect(st.maxSeqLength == 256)
        #expect(st.doLowerCase == false)
        #expect(st.includePrompt == true)
        #expect(st.prompts.isEmpty && st.defaultPrompt == nil)
        #expect(model.tokenizerModelMaxLength == 512)
        #expect(model.maxSequenceLength == 256)
        #expect(model.config.attentionHeadSize == 32)
    }

    @Test func weightsShapesAndValues() throws {
        let model = try ModelDirectory(path: miniLMPath)
        let weights = try model.loadWeights()
        #expect(weights.tensorNames.count == 104)
        #expect(weights.shape(of: "embeddings.word_embeddings.weight") == [30522, 384])
        #expect(weights.shape(of: "embeddings.position_embeddings.weight") == [512, 384])
        #expect(weights.shape(of: "embeddings.token_type_embeddings.weight") == [2, 384])
        #expect(weights.shape(of: "encoder.layer.0.attention.self.query.weight") == [384, 384])
        #expect(weights.shape(of: "encoder.layer.5.intermediate.dense.weight") == [1536, 384])
        #expect(weights.shape(of: "encoder.layer.5.output.dense.weight") == [384, 1536])
        #expect(weights.shape(of: "pooler.dense.weight") == [384, 384])
        #expect(weights.shape(of: "no.such.tensor") == nil)

        let words = try weights.tensor("embeddings.word_embeddings.weight")
        #expect(words.shape == [30522, 384])
        #expect(words.values.count == 30522 * 384)
        #expect(Array(words.values[0..<3]) == [-0.019989013671875, -0.0034027099609375, -0.014678955078125])
        #expect(Array(words.values[(101 * 384)..<(101 * 384 + 2)]) == [-0.01761939749121666, -0.007600549608469009])
        let sum = words.values.reduce(0.0) { $0 + Double($1) }
        #expect(abs(sum - 138.05072214923618) < 1e-6)

        let gamma = try weights.tensor("encoder.layer.5.output.LayerNorm.weight")
        #expect(Array(gamma.values[0..<3]) == [0.645970344543457, 0.6747910976409912, 0.6716562509536743])
    }

    @Test func integerPositionIdsAreTolerated() throws {
        let file = try SafetensorsFile(path: miniLMPath + "/model.safetensors")
        #expect(file.info(of: "embeddings.position_ids")?.dtype == .I64)
        #expect(file.metadata == ["format": "pt"])
        #expect(throws: ModelIOError.notAFloatTensor(path: file.path, tensor: "embeddings.position_ids", dtype: "I64")) {
            try file.tensor("embeddings.position_ids")
        }
        let ids = try file.integerTensor("embeddings.position_ids")
        #expect(ids.shape == [1, 512])
        #expect(ids.values == (0..<512).map(Int64.init))
        #expect(throws: ModelIOError.notAnIntegerTensor(path: file.path, tensor: "pooler.dense.bias", dtype: "F32")) {
            try file.integerTensor("pooler.dense.bias")
        }
        #expect(throws: ModelIOError.tensorNotFound(path: file.path, tensor: "missing")) { try file.tensor("missing") }
    }

    @Test func resolveFindsCanonicalNames() throws {
        let weights = try SafetensorsFile(path: miniLMPath + "/model.safetensors")
        #expect(weights.resolve("embeddings.word_embeddings.weight") == "embeddings.word_embeddings.weight")
        #expect(weights.resolve("bert.missing") == nil)
    }
}
