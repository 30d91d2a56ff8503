import Testing
@testable import ModelIO

/// config.json parsing and validation (each error names the file and the field).
@Suite struct ConfigTests {
    let path = "/models/x/config.json"

    func parse(_ json: String) throws -> EncoderConfig {
        try EncoderConfig.parse(json: Array(json.utf8), path: path)
    }

    let bert = #"{"model_type":"bert","vocab_size":100,"hidden_size":16,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":32,"max_position_embeddings":64,"type_vocab_size":2,"layer_norm_eps":1e-5,"hidden_act":"gelu_new","pad_token_id":1}"#

    @Test func bertFields() throws {
        #expect(try parse(bert) == EncoderConfig(modelType: .bert, vocabSize: 100, hiddenSize: 16, numLayers: 2, numHeads: 4,
                                                 intermediateSize: 32, maxPositionEmbeddings: 64, typeVocabSize: 2,
                                                 layerNormEps: 1e-5, hiddenAct: "gelu_new", padTokenId: 1))
    }

    @Test func bertDefaultsMatchTransformers() throws {
        // transformers.BertConfig() defaults apply to absent fields.
        #expect(try parse(#"{"model_type":"bert"}"#) ==
                EncoderConfig(modelType: .bert, vocabSize: 30522, hiddenSize: 768, numLayers: 12, numHeads: 12,
                              intermediateSize: 3072, maxPositionEmbeddings: 512, typeVocabSize: 2,
                              layerNormEps: 1e-12, hiddenAct: "gelu", padTokenId: 0))
    }

    @Test func distilBertNames() throws {
        let json = #"{"model_type":"distilbert","vocab_size":50,"dim":12,"n_layers":3,"n_heads":3,"hidden_dim":24,"activation":"relu","max_position_embeddings":32,"layer_norm_eps":0.5}"#
        // DistilBERT's LayerNorm epsilon is fixed at 1e-12 (a layer_norm_eps key is ignored, as in transformers).
        #expect(try parse(json) == EncoderConfig(modelType: .distilbert, vocabSize: 50, hiddenSize: 12, numLayers: 3, numHeads: 3,
                                                 intermediateSize: 24, maxPositionEmbeddings: 32, typeVocabSize: 0,
                                                 layerNormEps: 1e-12, hiddenAct: "relu", padTokenId: 0))
    }

    @Test func malformedJSONNamesTheFile() {
        #expect { try parse(#"{"model_type": "bert",}"#) } throws: { error in
            guard case let .configInvalidJSON(p, detail)? = error as? ModelIOError else { return false }
            return p == path && detail.contains("unexpected character '}'") && (error as! ModelIOError).description.hasPrefix(path)
        }
        #expect(throws: ModelIOError.configInvalidJSON(path: path, detail: "top level is an array, not an object")) { try parse("[]") }
        #expect(throws: ModelIOError.configInvalidJSON(path: path, detail: "duplicate key \"hidden_size\" at byte 41")) {
            try parse(#"{"model_type":"bert","hidden_size":8,    "hidden_size":16}"#)
        }
    }

    @Test func unknownModelTypeListsSupported() {
        let supported = ["bert", "distilbert", "roberta", "xlm-roberta", "camembert", "mpnet"]
        #expect(throws: ModelIOError.unknownModelType(path: path, modelType: "gpt2", supported: supported)) {
            try parse(#"{"model_type":"gpt2"}"#)
        }
        let message = ModelIOError.unknownModelType(path: path, modelType: "gpt2", supported: supported).description
        #expect(message == "/models/x/config.json: model_type \"gpt2\" is not supported (supported: bert, distilbert, roberta, xlm-roberta, camembert, mpnet)")
        #expect(throws: ModelIOError.configMissingField(path: path, field: "model_type")) { try parse("{}") }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "model_type", reason: "expected a string, found a number")) {
            try parse(#"{"model_type":3}"#)
        }
    }

    @Test func sizesMustBePositive() {
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "num_hidden_layers", reason: "must be positive, found 0")) {
            try parse(#"{"model_type":"bert","num_hidden_layers":0}"#)
        }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "dim", reason: "must be positive, found -8")) {
            try parse(#"{"model_type":"distilbert","dim":-8}"#)
        }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "vocab_size", reason: "expected an integer, found 1.5")) {
            try parse(#"{"model_type":"bert","vocab_size":1.5}"#)
        }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "hidden_size", reason: "expected an integer, found a string")) {
            try parse(#"{"model_type":"bert","hidden_size":"384"}"#)
        }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "intermediate_size", reason: "integer out of range")) {
            try parse(#"{"model_type":"bert","intermediate_size":123456789012345678901234567890}"#)
        }
    }

    @Test func hiddenDivisibleByHeads() {
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "hidden_size", reason: "384 is not divisible by num_attention_heads (5)")) {
            try parse(#"{"model_type":"bert","hidden_size":384,"num_attention_heads":5}"#)
        }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "dim", reason: "10 is not divisible by n_heads (4)")) {
            try parse(#"{"model_type":"distilbert","dim":10,"n_heads":4}"#)
        }
    }

    @Test func activationMustBeSupported() {
        for act in ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"] {
            #expect(throws: Never.self) { try parse(#"{"model_type":"bert","hidden_act":"\#(act)"}"#) }
        }
        let reason = "activation \"silu\" is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)"
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "hidden_act", reason: reason)) {
            try parse(#"{"model_type":"bert","hidden_act":"silu"}"#)
        }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "activation", reason: reason)) {
            try parse(#"{"model_type":"distilbert","activation":"silu"}"#)
        }
    }

    @Test func otherFieldChecks() {
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "position_embedding_type", reason: "\"relative_key\" is not supported (only \"absolute\")")) {
            try parse(#"{"model_type":"bert","position_embedding_type":"relative_key"}"#)
        }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "layer_norm_eps", reason: "must be a positive float32 number")) {
            try parse(#"{"model_type":"bert","layer_norm_eps":0}"#)
        }
        #expect(throws: ModelIOError.configInvalidField(path: path, field: "pad_token_id", reason: "30522 is outside the vocabulary (size 30522)")) {
            try parse(#"{"model_type":"bert","pad_token_id":30522}"#)
        }
        // null means "use the default", as in transformers.
        #expect(throws: Never.self) { try parse(#"{"model_type":"bert","pad_token_id":null}"#) }
    }

    @Test func loadFromMissingFile() {
        #expect(throws: ModelIOError.fileNotFound(path: "/nonexistent/config.json")) {
            try EncoderConfig.load(path: "/nonexistent/config.json")
        }
    }
}

/// JSON scanner details that the loaders rely on.
@Suite struct JSONScannerTests {
    @Test func parsesValuesInOrder() throws {
        let value = try JSONScanner.parse(Array(#" {"b": [1, -2.5e3, true, null], "a": "x\u00e9\ud83d\ude00\n"} "#.utf8))
        #expect(value == .object([(key: "b", value: .array([.number("1"), .number("-2.5e3"), .bool(true), .null])),
                                  (key: "a", value: .string("xé😀\n"))]))
    }

    @Test func rejectsInvalidJSON() {
        for text in ["", "{", "[1,]", "01", "1.", "-", "\"\u{01}\"", #""\x""#, #""\ud800""#, "{} x", "tru", "{1:2}", "NaN"] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONScanner.parse(Array(text.utf8)) }
        }
    }

    @Test func integerReading() {
        #expect(JSONValue.number("42").integerReading == .value(42))
        #expect(JSONValue.number("-0").integerReading == .value(0))
        #expect(JSONValue.number("9223372036854775807").integerReading == .value(Int.max))
        #expect(JSONValue.number("9223372036854775808").integerReading == .overflow)
        #expect(JSONValue.number("1e2").integerReading == .notAnInteger)
        #expect(JSONValue.string("1").integerReading == nil)
    }
}
