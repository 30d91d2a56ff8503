import Testing
@testable import ModelIO

/// Model directory discovery: weights, pickle refusal, sentence-transformers modules.
@Suite struct ModelDirectoryLayoutTests {
    /// A minimal valid model directory (tiny DistilBERT fixture + vocab) in a temp dir.
    func makeModel(_ dir: TempDir) throws -> String {
        let model = try copyFixture("tiny-distilbert", into: dir, as: "model")
        dir.write("model/vocab.txt", text: "[PAD]\n")
        return model
    }

    let modules = #"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#

    @Test func plainHuggingFaceDirectory() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        let directory = try ModelDirectory(path: model)
        #expect(directory.sentenceTransformers == nil)
        #expect(directory.config.modelType == .distilbert)
        #expect(directory.weights == .single(path: model + "/model.safetensors"))
        #expect(try directory.loadWeights().shape(of: "embeddings.word_embeddings.weight") == [64, 8])
    }

    @Test func pickleOnlyDirectoryIsRefused() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        try FileManagerShim.remove(model + "/model.safetensors")
        dir.write("model/pytorch_model.bin", bytes: [0x80, 0x02])
        #expect(throws: ModelIOError.pickleOnlyDirectory(directory: model, files: ["pytorch_model.bin"])) {
            try ModelDirectory(path: model)
        }
        let message = ModelIOError.pickleOnlyDirectory(directory: model, files: ["pytorch_model.bin"]).description
        #expect(message.contains("save_file") && message.contains("safe_serialization=True"))
    }

    @Test func missingPieces() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        #expect(throws: ModelIOError.notADirectory(path: model + "/config.json")) { try ModelDirectory(path: model + "/config.json") }
        #expect(throws: ModelIOError.notADirectory(path: dir.path + "/none")) { try ModelDirectory(path: dir.path + "/none") }
        try FileManagerShim.remove(model + "/vocab.txt")
        #expect(throws: ModelIOError.tokenizerNotFound(directory: model)) { try ModelDirectory(path: model) }
        dir.write("model/tokenizer.json", text: "{}")
        try FileManagerShim.remove(model + "/model.safetensors")
        #expect(throws: ModelIOError.weightsNotFound(directory: model)) { try ModelDirectory(path: model) }
        try FileManagerShim.remove(model + "/config.json")
        #expect(throws: ModelIOError.configNotFound(directory: model)) { try ModelDirectory(path: model) }
    }

    @Test func malformedConfigInDirectory() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        dir.write("model/config.json", text: #"{"model_type": "distilbert", "dim": 8"#)
        #expect { try ModelDirectory(path: model) } throws: { error in
            guard case let .configInvalidJSON(path, _)? = error as? ModelIOError else { return false }
            return path == model + "/config.json"
        }
        dir.write("model/config.json", text: #"{"model_type": "gpt2"}"#)
        #expect(throws: ModelIOError.unknownModelType(path: model + "/config.json", modelType: "gpt2", supported: ModelType.allCases.map(\.rawValue))) {
            try ModelDirectory(path: model)
        }
    }

    @Test func legacyPoolingFlagsConcatenateInSentenceTransformersOrder() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        dir.write("model/modules.json", text: modules)
        dir.write("model/1_Pooling/config.json", text: #"{"word_embedding_dimension":8,"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":true,"pooling_mode_max_tokens":true,"pooling_mode_mean_sqrt_len_tokens":true,"pooling_mode_weightedmean_tokens":true,"pooling_mode_lasttoken":true}"#)
        let st = try #require(try ModelDirectory(path: model).sentenceTransformers)
        // Pooling.forward order: cls, max, mean, mean_sqrt_len, weightedmean, lasttoken.
        #expect(st.poolingModes == ["cls", "max", "mean", "mean_sqrt_len", "weighted_mean", "last"])
        #expect(st.normalize == false)
        #expect(st.maxSeqLength == nil)
        #expect(st.poolingConfigPath == model + "/1_Pooling/config.json")

        dir.write("model/1_Pooling/config.json", text: #"{"word_embedding_dimension":8,"pooling_mode_mean_tokens":false}"#)
        #expect(try ModelDirectory(path: model).sentenceTransformers?.poolingModes == ["mean"]) // none active → mean
        dir.write("model/1_Pooling/config.json", text: #"{"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false}"#)
        #expect(try ModelDirectory(path: model).sentenceTransformers?.poolingModes == ["cls"])
    }

    @Test func newPoolingModeKeyKeepsListOrder() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        dir.write("model/modules.json", text: modules)
        dir.write("model/1_Pooling/config.json", text: #"{"embedding_dimension":8,"pooling_mode":["lasttoken","mean_sqrt_len_tokens","cls"],"include_prompt":false}"#)
        let st = try #require(try ModelDirectory(path: model).sentenceTransformers)
        #expect(st.poolingModes == ["last", "mean_sqrt_len", "cls"])
        #expect(st.includePrompt == false)
        dir.write("model/1_Pooling/config.json", text: #"{"embedding_dimension":8,"pooling_mode":"weightedmean"}"#)
        #expect(try ModelDirectory(path: model).sentenceTransformers?.poolingModes == ["weighted_mean"])
        let poolingPath = model + "/1_Pooling/config.json"
        dir.write("model/1_Pooling/config.json", text: #"{"pooling_mode":"median"}"#)
        #expect(throws: ModelIOError.configInvalidField(path: poolingPath, field: "pooling_mode", reason: "unknown mode \"median\" (valid: cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken)")) {
            try ModelDirectory(path: model)
        }
        dir.write("model/1_Pooling/config.json", text: #"{"embedding_dimension":384}"#)
        #expect(throws: ModelIOError.configInvalidField(path: poolingPath, field: "embedding_dimension", reason: "384 differs from the model's hidden size 8")) {
            try ModelDirectory(path: model)
        }
    }

    @Test func normalizeAndMaxSeqLength() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        dir.write("model/modules.json", text: String(modules.dropLast()) + #",{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#)
        dir.write("model/1_Pooling/config.json", text: #"{"pooling_mode_max_tokens":true,"pooling_mode_mean_tokens":false}"#)
        dir.write("model/sentence_bert_config.json", text: #"{"max_seq_length":12,"do_lower_case":true}"#)
        let st = try #require(try ModelDirectory(path: model).sentenceTransformers)
        #expect(st == SentenceTransformersConfig(poolingModes: ["max"], normalize: true, maxSeqLength: 12, doLowerCase: true,
                                                 includePrompt: true, poolingConfigPath: model + "/1_Pooling/config.json"))
        #expect(try ModelDirectory(path: model).maxSequenceLength == 12)
        dir.write("model/sentence_bert_config.json", text: #"{"max_seq_length":null}"#)
        #expect(try ModelDirectory(path: model).sentenceTransformers?.maxSeqLength == nil)
        // Without max_seq_length: min(max_position_embeddings = 16, tokenizer model_max_length).
        #expect(try ModelDirectory(path: model).maxSequenceLength == 16)
        dir.write("model/tokenizer_config.json", text: #"{"model_max_length": 10}"#)
        #expect(try ModelDirectory(path: model).maxSequenceLength == 10)
        dir.write("model/tokenizer_config.json", text: #"{"model_max_length": 1000000000000000019884624838656}"#)
        #expect(try ModelDirectory(path: model).tokenizerModelMaxLength == nil)
        #expect(try ModelDirectory(path: model).maxSequenceLength == 16)
        dir.write("model/sentence_bert_config.json", text: #"{"max_seq_length":17}"#)
        #expect(throws: ModelIOError.configInvalidField(path: model + "/sentence_bert_config.json", field: "max_seq_length", reason: "17 exceeds the model's max_position_embeddings (16)")) {
            try ModelDirectory(path: model)
        }
        dir.write("model/sentence_bert_config.json", text: #"{"max_seq_length":0}"#)
        #expect(throws: ModelIOError.configInvalidField(path: model + "/sentence_bert_config.json", field: "max_seq_length", reason: "must be positive, found 0")) {
            try ModelDirectory(path: model)
        }
    }

    @Test func promptsFromSentenceTransformersConfig() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        dir.write("model/modules.json", text: modules)
        dir.write("model/1_Pooling/config.json", text: "{}")
        #expect(try ModelDirectory(path: model).sentenceTransformers?.defaultPrompt == nil)
        let path = model + "/config_sentence_transformers.json"
        dir.write("model/config_sentence_transformers.json",
                  text: #"{"prompts": {"query": "query: ", "passage": "passage: ", "unset": null}, "default_prompt_name": "query"}"#)
        let st = try #require(try ModelDirectory(path: model).sentenceTransformers)
        #expect(st.prompts == ["query": "query: ", "passage": "passage: "])
        #expect(st.defaultPromptName == "query")
        #expect(st.defaultPrompt == "query: ")
        dir.write("model/config_sentence_transformers.json", text: #"{"prompts": {"query": "q: "}, "default_prompt_name": "doc"}"#)
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "default_prompt_name", reason: "\"doc\" is not one of the prompts (query)")) {
            try ModelDirectory(path: model)
        }
        dir.write("model/config_sentence_transformers.json", text: #"{"prompts": {"query": 3}}"#)
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "prompts.query", reason: "expected a string, found a number")) {
            try ModelDirectory(path: model)
        }
        dir.write("model/config_sentence_transformers.json", text: #"{"prompts": {}, "default_prompt_name": null}"#)
        #expect(try ModelDirectory(path: model).sentenceTransformers?.defaultPromptName == nil)
    }

    @Test func layerNormModuleIsUnsupported() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        let type = "sentence_transformers.models.LayerNorm"
        dir.write("model/modules.json", text: String(modules.dropLast()) + #",{"idx":2,"name":"2","path":"2_Dense","type":"\#(type)"}]"#)
        dir.write("model/1_Pooling/config.json", text: "{}")
        #expect(throws: ModelIOError.unsupportedModule(path: model + "/modules.json", module: "2", type: type)) {
            try ModelDirectory(path: model)
        }
        #expect(ModelIOError.unsupportedModule(path: "m", module: "2", type: type).description ==
                "m: sentence-transformers module \"2\" of type sentence_transformers.models.LayerNorm is not supported")
        // Dense is run (issue 15); a Dense module without its config.json names the missing file.
        dir.write("model/modules.json", text: String(modules.dropLast()) + #",{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]"#)
        #expect(throws: ModelIOError.fileNotFound(path: model + "/2_Dense/config.json")) { try ModelDirectory(path: model) }
    }

    @Test func modulesStructureErrors() throws {
        let dir = TempDir()
        let model = try makeModel(dir)
        let modulesPath = model + "/modules.json"
        dir.write("model/modules.json", text: #"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"}]"#)
        #expect(throws: ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "no Pooling module")) { try ModelDirectory(path: model) }
        dir.write("model/modules.json", text: #"{"a":1}"#)
        #expect(throws: ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "expected a JSON array of modules")) { try ModelDirectory(path: model) }
        dir.write("model/modules.json", text: #"[{"idx":0,"path":"../../etc","type":"sentence_transformers.models.Transformer"}]"#)
        #expect(throws: ModelIOError.sentenceTransformersInvalid(path: modulesPath, reason: "module 0: path \"../../etc\" leaves the model directory")) { try ModelDirectory(path: model) }
        dir.write("model/modules.json", text: modules)
        #expect(throws: ModelIOError.fileNotFound(path: model + "/1_Pooling/config.json")) { try ModelDirectory(path: model) }
    }

    @Test func transformerInSubfolder() throws {
        // Older sentence-transformers layout: the Hugging Face files live in 0_Transformer/.
        let dir = TempDir()
        _ = try copyFixture("tiny-distilbert", into: dir, as: "st/0_Transformer")
        dir.write("st/0_Transformer/tokenizer.json", text: "{}")
        dir.write("st/0_Transformer/sentence_bert_config.json", text: #"{"max_seq_length":12}"#)
        dir.write("st/modules.json", text: #"[{"idx":0,"name":"0","path":"0_Transformer","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"}]"#)
        dir.write("st/1_Pooling/config.json", text: #"{"pooling_mode_cls_token":true,"pooling_mode_mean_tokens":false}"#)
        let directory = try ModelDirectory(path: dir.path + "/st")
        #expect(directory.transformerPath == dir.path + "/st/0_Transformer")
        #expect(directory.configPath == dir.path + "/st/0_Transformer/config.json")
        #expect(directory.tokenizerJSONPath == dir.path + "/st/0_Transformer/tokenizer.json")
        #expect(directory.sentenceTransformers?.maxSeqLength == 12)
        #expect(directory.sentenceTransformers?.poolingModes == ["cls"])
    }
}
