import Foundation
import Testing
@testable import Tokenizer

/// Loading rules and refusals of the byte-level BPE / RoBERTa-style tokenizers.
@Suite struct BPEBehaviorTests {
    /// The BPE fixture's tokenizer.json as an object, modified by `edit`, written into a new directory.
    func writeBPE(_ name: String, _ edit: (inout [String: Any]) -> Void = { _ in }) throws -> (directory: String, path: String) {
        let dir = try makeTemporaryDirectory(name)
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.tokenizerJSON("tokenizer-bpe.json")))
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        edit(&object)
        let path = dir + "/tokenizer.json"
        try writeJSON(object, to: path)
        return (dir, path)
    }

    func editModel(_ object: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var model = object["model"] as! [String: Any]
        edit(&model)
        object["model"] = model
    }

    @Test func dropoutIsRefused() throws {
        let (_, path) = try writeBPE("dropout") { object in editModel(&object) { $0["dropout"] = 0.1 } }
        do {
            _ = try TextTokenizer.load(tokenizerJSON: path)
            Issue.record("dropout 0.1 accepted")
        } catch let error as TokenizerError {
            guard case .invalidField(let errorPath, let field, _) = error else { Issue.record("\(error)"); return }
            #expect(errorPath == path && field == "model.dropout")
            #expect(error.description.contains("dropout") && error.description.contains("null"))
        }
        // null and 0 mean no dropout.
        let (_, zero) = try writeBPE("dropout0") { object in editModel(&object) { $0["dropout"] = 0 } }
        #expect(try TextTokenizer.load(tokenizerJSON: zero).encode("hello").count > 2)
    }

    @Test func badMergesNameTheEntry() throws {
        var (_, path) = try writeBPE("merge-oov") { object in
            editModel(&object) { model in model["merges"] = [["Ġ", "t"], ["zz", "Q"]] }
        }
        expectError(.invalidField(path: path, field: "model.merges[1]", detail: "token 'zz' is not in the vocabulary"),
                    mentioning: ["merges[1]", "zz", path]) { _ = try TextTokenizer.load(tokenizerJSON: path) }
        (_, path) = try writeBPE("merge-shape") { object in editModel(&object) { model in model["merges"] = ["Ġ t", 7] } }
        expectError(.invalidField(path: path, field: "model.merges[1]", detail: "expected \"left right\" or [left, right]"),
                    mentioning: ["merges[1]"]) { _ = try TextTokenizer.load(tokenizerJSON: path) }
        (_, path) = try writeBPE("merge-nospace") { object in editModel(&object) { model in model["merges"] = ["Ġt"] } }
        expectError(.invalidField(path: path, field: "model.merges[0]", detail: "expected \"left right\" or [left, right]"),
                    mentioning: ["merges[0]"]) { _ = try TextTokenizer.load(tokenizerJSON: path) }
        (_, path) = try writeBPE("unk") { object in editModel(&object) { model in model["unk_token"] = "<nope>" } }
        expectError(.unknownToken(path: path, token: "<nope>"), mentioning: ["<nope>"]) { _ = try TextTokenizer.load(tokenizerJSON: path) }
    }

    /// RoBERTa-style directory: max length max_position_embeddings - pad_token_id - 1, pad id from
    /// tokenizer_config.json's pad_token (also in transformers' AddedToken object form).
    @Test func robertaDirectoryDefaults() throws {
        let (dir, _) = try writeBPE("roberta-dir")
        try writeJSON(["model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1], to: dir + "/config.json")
        try writeJSON(["model_max_length": 1e30, "pad_token": ["__type": "AddedToken", "content": "<pad>"]], to: dir + "/tokenizer_config.json")
        let tokenizer = try TextTokenizer.load(directory: dir)
        #expect(tokenizer.maxLength == 512)
        #expect(tokenizer.padId == 1)
        try writeJSON(["model_type": "bert", "max_position_embeddings": 514], to: dir + "/config.json")
        #expect(try TextTokenizer.load(directory: dir).maxLength == 514)
    }

    /// Right truncation keeps <s>, the first tokens and </s>: HF's untruncated ids cut to 14 + 2.
    @Test func truncationKeepsSpecialTokens() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-bpe.json"), maxLength: 16)
        let texts = Array(Fixtures.bpeCorpus.prefix(2000))
        let expected = try Fixtures.expected("bpe-corpus")
        var mismatches = 0, truncated = 0
        for (encoding, want) in zip(tokenizer.encodeBatch(texts), expected) {
            let ids = want.ids.count > 16 ? Array(want.ids.prefix(15)) + [2] : want.ids
            if encoding.ids != ids || encoding.wasTruncated != (want.ids.count > 16) { mismatches += 1 }
            if encoding.wasTruncated { truncated += 1 }
        }
        #expect(mismatches == 0)
        #expect(truncated > 100)
    }

    /// The per-thread merge caches give the same encodings whatever the thread count and call order.
    @Test func cachesDoNotChangeResults() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-bpe.json"), truncation: false)
        let texts = Array(Fixtures.bpeCorpus.prefix(3000))
        let one = tokenizer.encodeBatch(texts, threads: 1)
        let four = tokenizer.encodeBatch(texts.reversed(), threads: 4).reversed()
        #expect(zip(one, four).allSatisfy { $0.ids == $1.ids })
        #expect(zip(texts.prefix(200), one).allSatisfy { tokenizer.encode($0).ids == $1.ids })
    }

    /// The fuzzer's small BPE seed (string-form merges, rstrip added token) gives HF's ids and offsets.
    @Test func fuzzSeedMatchesHF() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: Fixtures.packageRoot + "/Fuzz/corpus/tokenizer-json/bpe-small.json")
        var encoding = tokenizer.encode("Hello <mask> it's hello world \u{1F44D}\u{1F3FD}")
        // From HF tokenizers 0.23.3.
        #expect(encoding.ids == [0, 225, 44, 371, 311, 4, 225, 283, 11, 87, 225, 420, 225, 177, 258, 244, 240, 177, 258, 242, 126, 2])
        #expect(encoding.offsets.map { [$0.start, $0.end] } == [[0, 0], [0, 0], [0, 1], [1, 3], [3, 5], [6, 12], [13, 13], [13, 15],
            [15, 16], [16, 17], [18, 18], [18, 29], [31, 31], [30, 31], [30, 31], [30, 31], [30, 31], [31, 32], [31, 32], [31, 32], [31, 32], [0, 0]])
        encoding = tokenizer.encode(" Hello")
        #expect(encoding.ids == [0, 225, 44, 371, 311, 2])
        #expect(encoding.offsets.map { [$0.start, $0.end] } == [[0, 0], [0, 0], [1, 2], [2, 4], [4, 6], [0, 0]])
    }
}
