import Foundation
import Testing
@testable import Tokenizer

/// Makes a fresh temporary directory.
func makeTemporaryDirectory(_ name: String) throws -> String {
    let path = NSTemporaryDirectory() + "featurize-tok-\(getpid())-\(name)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func writeJSON(_ object: Any, to path: String) throws {
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
}

/// A copy of MiniLM's tokenizer.json, modified by `edit`, written into `directory`.
func writeModifiedTokenizer(in directory: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.modelTokenizerJSON))
    var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    edit(&object)
    let path = directory + "/tokenizer.json"
    try writeJSON(object, to: path)
    return path
}

@Suite struct BehaviorTests {
    @Test func encodeMatchesKnownIds() throws {
        let tokenizer = try TextTokenizer.load(directory: Fixtures.modelDirectory)
        let encoding = tokenizer.encode("Hello, world! [MASK] héllo")
        // From HF tokenizers: [CLS] hello , world ! [MASK] hello [SEP]
        #expect(encoding.ids == [101, 7592, 1010, 2088, 999, 103, 7592, 102])
        #expect(encoding.typeIds == [Int32](repeating: 0, count: 8))
        #expect(encoding.attentionMask == [Int32](repeating: 1, count: 8))
        #expect(encoding.offsets.map { [$0.start, $0.end] } == [[0, 0], [0, 5], [5, 6], [7, 12], [12, 13], [14, 20], [21, 26], [0, 0]])
        #expect(!encoding.wasTruncated && !encoding.wasCharCapped)
    }

    @Test func batchPreservesOrderAndEqualsSingleEncodes() throws {
        let tokenizer = try TextTokenizer.load(directory: Fixtures.modelDirectory)
        let texts = Array(Fixtures.corpus.prefix(3001))
        let single = texts.map { tokenizer.encode($0).ids }
        for threads in [1, 2, 3, 8] {
            let batch = tokenizer.encodeBatch(texts, threads: threads)
            #expect(batch.count == texts.count)
            #expect(batch.map(\.ids) == single, "threads \(threads)")
        }
        #expect(tokenizer.encodeBatch([]).isEmpty)
    }

    @Test func paddedBatch() throws {
        let tokenizer = try TextTokenizer.load(directory: Fixtures.modelDirectory)
        let encodings = tokenizer.encodeBatch(["hello world", "hi", ""])
        let padded = tokenizer.pad(encodings, toMultipleOf: 8)
        #expect(padded.batch == 3 && padded.seq == 8)
        #expect(padded.lengths == [4, 3, 2])
        #expect(Array(padded.ids[0..<8]) == [101, 7592, 2088, 102, 0, 0, 0, 0])
        #expect(Array(padded.ids[8..<16]) == [101, 7632, 102, 0, 0, 0, 0, 0])
        #expect(Array(padded.attentionMask[16..<24]) == [1, 1, 0, 0, 0, 0, 0, 0])
        let tight = tokenizer.pad(encodings)
        #expect(tight.seq == 4 && tight.ids.count == 12)
        #expect(tokenizer.padId == 0)
    }

    @Test func specialTokensAlwaysFit() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, maxLength: 2)
        let encoding = tokenizer.encode("hello world")
        #expect(encoding.ids == [101, 102])
        #expect(encoding.wasTruncated)
        let three = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, maxLength: 3, direction: .left)
        #expect(three.encode("hello world").ids == [101, 2088, 102])
        let headTail = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, maxLength: 5, direction: .headTail(headTokens: 1))
        // [CLS] a b c d e [SEP] -> [CLS] a d e [SEP]
        #expect(headTail.encode("a b c d e").ids == [101, 1037, 1040, 1041, 102])
        let headOnly = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, maxLength: 5, direction: .headTail(headTokens: 10))
        #expect(headOnly.encode("a b c d e").ids == [101, 1037, 1038, 1039, 102])
    }

    @Test func characterCapAt250TimesMaxLength() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, maxLength: 8)
        let exactly = String(repeating: "a ", count: 1000)  // 2000 scalars = 250 * 8: not capped
        #expect(!tokenizer.encode(exactly).wasCharCapped)
        let longer = exactly + "b"
        let encoding = tokenizer.encode(longer)
        #expect(encoding.wasCharCapped && encoding.wasTruncated)
        #expect(encoding.ids == [101, 1037, 1037, 1037, 1037, 1037, 1037, 102])
        let huge = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, maxLength: Int.max)
        #expect(huge.encode(longer).count == 1003)  // no overflow in the character cap
        let uncapped = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, truncation: false)
        #expect(uncapped.maxLength == nil)
        let full = uncapped.encode(longer)
        #expect(!full.wasCharCapped && !full.wasTruncated && full.count == 1003)
    }

    @Test func maxLengthPrecedence() throws {
        let dir = try makeTemporaryDirectory("precedence")
        try FileManager.default.copyItem(atPath: Fixtures.modelTokenizerJSON, toPath: dir + "/tokenizer.json")
        // Nothing: no truncation.
        #expect(try TextTokenizer.load(directory: dir).maxLength == nil)
        // tokenizer_config.json model_max_length (sentinel 1e30 = unset).
        try writeJSON(["model_max_length": 1e30], to: dir + "/tokenizer_config.json")
        #expect(try TextTokenizer.load(directory: dir).maxLength == nil)
        try writeJSON(["model_max_length": 300], to: dir + "/tokenizer_config.json")
        #expect(try TextTokenizer.load(directory: dir).maxLength == 300)
        // sentence_bert_config.json max_seq_length wins over tokenizer_config.json.
        try writeJSON(["max_seq_length": 128], to: dir + "/sentence_bert_config.json")
        #expect(try TextTokenizer.load(directory: dir).maxLength == 128)
        // Explicit argument wins over both.
        #expect(try TextTokenizer.load(directory: dir, maxLength: 64).maxLength == 64)
        // Never above config.json max_position_embeddings.
        try writeJSON(["max_position_embeddings": 100], to: dir + "/config.json")
        #expect(try TextTokenizer.load(directory: dir).maxLength == 100)
        #expect(try TextTokenizer.load(directory: dir, maxLength: 512).maxLength == 100)
        #expect(try TextTokenizer.load(directory: dir, maxLength: 50).maxLength == 50)
        // max_position_embeddings alone is the limit.
        try FileManager.default.removeItem(atPath: dir + "/sentence_bert_config.json")
        try FileManager.default.removeItem(atPath: dir + "/tokenizer_config.json")
        #expect(try TextTokenizer.load(directory: dir).maxLength == 100)
        // truncation: false disables.
        #expect(try TextTokenizer.load(directory: dir, truncation: false).maxLength == nil)
        // The real model: sentence_bert_config 256 < model_max_length 512 <= max_position_embeddings 512.
        #expect(try TextTokenizer.load(directory: Fixtures.modelDirectory).maxLength == 256)
        // The tokenizer.json truncation section (128 in MiniLM's file) is ignored.
        #expect(try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON).maxLength == nil)
    }

    @Test func textLines() throws {
        func split(_ bytes: [UInt8]) throws -> [String] { try TextLines.split(Data(bytes), source: "t.txt") }
        #expect(try split(Array("a\n\nb\r\nc".utf8)) == ["a", "", "b", "c"])
        #expect(try split(Array("a\n".utf8)) == ["a"])
        #expect(try split(Array("a\n\n".utf8)) == ["a", ""])
        #expect(try split(Array("\n".utf8)) == [""])
        #expect(try split([]) == [])
        #expect(try split(Array("x\r\r\n".utf8)) == ["x\r"])
        #expect(throws: TokenizerError.invalidUTF8(path: "t.txt", line: 3)) { try split(Array("ok\nfine\nbad \u{FF}".utf8).map { $0 } + [0xFF]) }
        #expect(throws: TokenizerError.invalidUTF8(path: "t.txt", line: 2)) { try split([0x61, 0x0A, 0xC3, 0x28, 0x0A]) }
        #expect(throws: TokenizerError.unreadableInput(path: "/nonexistent/input.txt")) { try TextLines.read(path: "/nonexistent/input.txt") }
    }
}

@Suite struct BadInputTests {
    @Test func missingFiles() throws {
        let dir = try makeTemporaryDirectory("missing")
        expectError(.noTokenizerFiles(directory: dir), mentioning: [dir]) { _ = try TextTokenizer.load(directory: dir) }
        expectError(.fileNotFound(path: dir + "/tokenizer.json"), mentioning: ["tokenizer.json"]) {
            _ = try TextTokenizer.load(tokenizerJSON: dir + "/tokenizer.json")
        }
        expectError(.fileNotFound(path: dir + "/nope"), mentioning: ["nope"]) { _ = try TextTokenizer.load(directory: dir + "/nope") }
    }

    /// A vocab.txt-only directory whose vocabulary lacks a special token it needs is an error naming it.
    @Test func vocabularyWithoutSpecialTokens() throws {
        for (missing, vocab) in [("[UNK]", "[PAD]\n[CLS]\n[SEP]\nhello\n"), ("[CLS]", "[PAD]\n[UNK]\n[SEP]\nhello\n"),
                                 ("[SEP]", "[PAD]\n[UNK]\n[CLS]\nhello\n")] {
            let dir = try makeTemporaryDirectory("vocab-without")
            try Data(vocab.utf8).write(to: URL(fileURLWithPath: dir + "/vocab.txt"))
            try Data("{\"do_lower_case\": true}".utf8).write(to: URL(fileURLWithPath: dir + "/tokenizer_config.json"))
            do {
                _ = try TextTokenizer.load(directory: dir)
                Issue.record("expected an error for a vocabulary without \(missing)")
            } catch let error as TokenizerError {
                #expect(error.description.contains(missing), "\(error)")
                #expect(error.description.contains(dir + "/vocab.txt"), "\(error)")
            }
        }
    }

    @Test func malformedJSON() throws {
        let dir = try makeTemporaryDirectory("malformed")
        let path = dir + "/tokenizer.json"
        try Data("{\"model\": {\"vocab\": ".utf8).write(to: URL(fileURLWithPath: path))
        do {
            _ = try TextTokenizer.load(tokenizerJSON: path)
            Issue.record("expected an error")
        } catch let error as TokenizerError {
            guard case .malformedJSON(let errorPath, _) = error else { Issue.record("got \(error)"); return }
            #expect(errorPath == path)
            #expect(error.description.contains(path))
        }
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: TokenizerError.malformedJSON(path: path, detail: "top level is an array, not an object")) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
        // A malformed config next to a valid tokenizer.json names the config.
        try FileManager.default.copyItem(atPath: Fixtures.modelTokenizerJSON, toPath: dir + "/t2.json")
        let sub = try makeTemporaryDirectory("malformed-config")
        try FileManager.default.copyItem(atPath: Fixtures.modelTokenizerJSON, toPath: sub + "/tokenizer.json")
        try Data("{oops".utf8).write(to: URL(fileURLWithPath: sub + "/config.json"))
        do {
            _ = try TextTokenizer.load(directory: sub)
            Issue.record("expected an error")
        } catch let error as TokenizerError {
            #expect(error.description.contains(sub + "/config.json"))
        }
    }

    @Test func missingAndWrongFieldsAreNamed() throws {
        let dir = try makeTemporaryDirectory("fields")
        var path = try writeModifiedTokenizer(in: dir) { object in
            var model = object["model"] as! [String: Any]
            model.removeValue(forKey: "vocab")
            object["model"] = model
        }
        expectError(.invalidField(path: path, field: "model.vocab", detail: "missing"), mentioning: ["model.vocab", path]) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
        path = try writeModifiedTokenizer(in: dir) { object in
            var normalizer = object["normalizer"] as! [String: Any]
            normalizer["lowercase"] = "yes"
            object["normalizer"] = normalizer
        }
        expectError(.invalidField(path: path, field: "normalizer.lowercase", detail: "expected true or false, found a string"),
                    mentioning: ["normalizer.lowercase"]) { _ = try TextTokenizer.load(tokenizerJSON: path) }
        path = try writeModifiedTokenizer(in: dir) { object in object.removeValue(forKey: "model") }
        expectError(.invalidField(path: path, field: "model", detail: "missing"), mentioning: ["'model'"]) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
        path = try writeModifiedTokenizer(in: dir) { object in
            var model = object["model"] as! [String: Any]
            model["unk_token"] = "<unknown>"
            object["model"] = model
        }
        expectError(.unknownToken(path: path, token: "<unknown>"), mentioning: ["<unknown>"]) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
        path = try writeModifiedTokenizer(in: dir) { object in
            var post = object["post_processor"] as! [String: Any]
            post["special_tokens"] = [String: Any]()
            object["post_processor"] = post
        }
        expectError(.invalidField(path: path, field: "post_processor.special_tokens.[CLS]", detail: "missing"),
                    mentioning: ["post_processor.special_tokens.[CLS]"]) { _ = try TextTokenizer.load(tokenizerJSON: path) }
    }

    @Test func unsupportedComponentsAreNamed() throws {
        let dir = try makeTemporaryDirectory("unsupported")
        var path = try writeModifiedTokenizer(in: dir) { object in object["normalizer"] = ["type": "Nmt"] }
        expectError(.unsupportedComponent(path: path, field: "normalizer", type: "Nmt"), mentioning: ["Nmt", "normalizer", path]) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
        path = try writeModifiedTokenizer(in: dir) { object in
            object["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Prepend", "prepend": "_"]]]
        }
        expectError(.unsupportedComponent(path: path, field: "normalizer.normalizers[1]", type: "Prepend"), mentioning: ["Prepend"]) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
        path = try writeModifiedTokenizer(in: dir) { object in object["pre_tokenizer"] = ["type": "CharDelimiterSplit", "delimiter": "x"] }
        expectError(.unsupportedComponent(path: path, field: "pre_tokenizer", type: "CharDelimiterSplit"), mentioning: ["CharDelimiterSplit", "pre_tokenizer"]) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
        path = try writeModifiedTokenizer(in: dir) { object in
            var model = object["model"] as! [String: Any]
            model["type"] = "WordLevel"
            object["model"] = model
        }
        expectError(.unsupportedComponent(path: path, field: "model", type: "WordLevel"), mentioning: ["WordLevel", "model"]) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
        path = try writeModifiedTokenizer(in: dir) { object in object["post_processor"] = ["type": "Sequence", "processors": []] }
        expectError(.unsupportedComponent(path: path, field: "post_processor", type: "Sequence"), mentioning: ["Sequence"]) {
            _ = try TextTokenizer.load(tokenizerJSON: path)
        }
    }
}
