import Foundation
import Testing
@testable import Tokenizer

/// Token ids and offsets against Hugging Face `tokenizers` (fixtures from scripts/fixtures/gen_tokenizer_fixtures.py).
@Suite struct ParityTests {
    func check(_ tokenizer: TextTokenizer, _ texts: [String], _ expectedName: String, minTexts: Int,
               checkOffsets: Bool = true) throws {
        let expected = try Fixtures.expected(expectedName)
        #expect(texts.count >= minTexts)
        #expect(expected.count == texts.count, "\(expectedName): \(expected.count) expected rows for \(texts.count) texts")
        let result = Fixtures.compare(tokenizer, texts: texts, expected: expected, checkOffsets: checkOffsets)
        #expect(result.idMismatches == 0, "\(expectedName): \(result.idMismatches) texts with wrong ids\n\(result.firstFailures.joined(separator: "\n"))")
        #expect(result.offsetMismatches == 0, "\(expectedName): \(result.offsetMismatches) texts with wrong offsets\n\(result.firstFailures.joined(separator: "\n"))")
        #expect(result.idsCompared > 0)
    }

    @Test func uncasedCorpus() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, truncation: false)
        try check(tokenizer, Fixtures.corpus, "uncased-corpus", minTexts: 20000)
    }

    @Test func uncasedEdgeCases() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, truncation: false)
        try check(tokenizer, Fixtures.edgeCases, "uncased-edge", minTexts: 50)
    }

    @Test func casedCorpus() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-cased.json"), truncation: false)
        try check(tokenizer, Fixtures.corpus, "cased-corpus", minTexts: 20000)
    }

    @Test func casedEdgeCases() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-cased.json"), truncation: false)
        try check(tokenizer, Fixtures.edgeCases, "cased-edge", minTexts: 50)
    }

    @Test func sequenceComponentsA() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-sequence-a.json"), truncation: false)
        try check(tokenizer, Array(Fixtures.corpus.prefix(6000)), "seqa-corpus", minTexts: 6000)
        try check(tokenizer, Fixtures.edgeCases, "seqa-edge", minTexts: 50)
    }

    @Test func sequenceComponentsB() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-sequence-b.json"), truncation: false)
        try check(tokenizer, Array(Fixtures.corpus.prefix(6000)), "seqb-corpus", minTexts: 6000)
        try check(tokenizer, Fixtures.edgeCases, "seqb-edge", minTexts: 50)
    }

    @Test(arguments: [("uncased-random", "model"), ("cased-random", "tokenizer-cased.json"),
                      ("seqa-random", "tokenizer-sequence-a.json"), ("seqb-random", "tokenizer-sequence-b.json")])
    func randomTexts(expectedName: String, tokenizerFile: String) throws {
        let path = tokenizerFile == "model" ? Fixtures.modelTokenizerJSON : try Fixtures.tokenizerJSON(tokenizerFile)
        let tokenizer = try TextTokenizer.load(tokenizerJSON: path, truncation: false)
        try check(tokenizer, Fixtures.randomTexts, expectedName, minTexts: 3000)
    }

    @Test func vocabOnlyDirectoryMatchesBertTokenizerFast() throws {
        let tokenizer = try TextTokenizer.load(directory: Fixtures.path("vocab-only"), truncation: false)
        try check(tokenizer, Array(Fixtures.corpus.prefix(3000)), "vocabonly-corpus", minTexts: 3000)
        try check(tokenizer, Fixtures.edgeCases, "vocabonly-edge", minTexts: 50)
    }

    @Test(arguments: [("trunc-right-16", TruncationDirection.right), ("trunc-left-16", .left),
                      ("trunc-headtail-16-5", .headTail(headTokens: 5))])
    func truncation(name: String, direction: TruncationDirection) throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, maxLength: 16, direction: direction)
        let texts = Fixtures.edgeCases + Array(Fixtures.corpus.prefix(2000))
        try check(tokenizer, texts, name, minTexts: 2000)
        let encodings = tokenizer.encodeBatch(texts)
        #expect(encodings.allSatisfy { $0.count <= 16 })
        #expect(encodings.contains { $0.wasTruncated })
        let full = try TextTokenizer.load(tokenizerJSON: Fixtures.modelTokenizerJSON, truncation: false).encodeBatch(texts)
        #expect(zip(encodings, full).allSatisfy { $0.wasTruncated == ($1.count > 16) })
    }

    /// Default directory load truncates at sentence_bert_config.json max_seq_length (256), like sentence-transformers:
    /// HF's untruncated ids cut to 255 content tokens + [SEP].
    @Test func directoryDefaultMaxLength() throws {
        let tokenizer = try TextTokenizer.load(directory: Fixtures.modelDirectory)
        #expect(tokenizer.maxLength == 256)
        let expected = try Fixtures.expected("uncased-corpus")
        let encodings = tokenizer.encodeBatch(Fixtures.corpus)
        var mismatches = 0, truncated = 0
        for (encoding, want) in zip(encodings, expected) {
            let ids = want.ids.count > 256 ? Array(want.ids.prefix(255)) + [102] : want.ids
            if encoding.ids != ids { mismatches += 1 }
            if encoding.wasTruncated { truncated += 1 }
            if encoding.wasTruncated != (want.ids.count > 256) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(truncated == expected.filter { $0.ids.count > 256 }.count)
        #expect(truncated > 0)
    }
}
