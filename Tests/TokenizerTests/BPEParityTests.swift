import Foundation
import Testing
@testable import Tokenizer

/// Byte-level BPE, RobertaProcessing and the MPNet arrangement against Hugging Face `tokenizers`: every id and
/// offset (fixtures from scripts/fixtures/gen_bpe_tokenizer_fixtures.py).
@Suite struct BPEParityTests {
    func check(_ tokenizerFile: String, _ texts: [String], _ expectedName: String, minTexts: Int) throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON(tokenizerFile), truncation: false)
        let expected = try Fixtures.expected(expectedName)
        #expect(texts.count >= minTexts)
        #expect(expected.count == texts.count, "\(expectedName): \(expected.count) expected rows for \(texts.count) texts")
        let result = Fixtures.compare(tokenizer, texts: texts, expected: expected)
        #expect(result.idMismatches == 0, "\(expectedName): \(result.idMismatches) texts with wrong ids\n\(result.firstFailures.joined(separator: "\n"))")
        #expect(result.offsetMismatches == 0, "\(expectedName): \(result.offsetMismatches) texts with wrong offsets\n\(result.firstFailures.joined(separator: "\n"))")
        #expect(result.idsCompared > 100)
    }

    /// 3,000 lines of the BPE corpus and the edge cases (the variants' expected sets).
    var sample: [String] { Array(Fixtures.bpeCorpus.prefix(3000)) + Fixtures.bpeEdgeCases }

    @Test func byteLevelCorpus() throws {
        #expect(Fixtures.multilingual.count == 6000)
        try check("tokenizer-bpe.json", Fixtures.bpeCorpus, "bpe-corpus", minTexts: 20000)
    }

    @Test func byteLevelEdgeCases() throws {
        try check("tokenizer-bpe.json", Fixtures.bpeEdgeCases, "bpe-edge", minTexts: 60)
    }

    /// The same model with merges as "a b" strings instead of ["a", "b"] pairs gives the same encodings.
    @Test func stringFormMerges() throws {
        try check("tokenizer-bpe-strmerges.json", Fixtures.bpeCorpus, "bpe-corpus", minTexts: 20000)
        try check("tokenizer-bpe-strmerges.json", Fixtures.bpeEdgeCases, "bpe-edge", minTexts: 60)
    }

    /// ByteLevel without the regex split and without prefix space; RobertaProcessing without offset trimming.
    @Test func withoutRegexPrefixSpaceOrTrimming() throws {
        try check("tokenizer-bpe-plain.json", sample, "bpe-plain", minTexts: 3060)
    }

    @Test func ignoreMerges() throws {
        try check("tokenizer-bpe-ignoremerges.json", sample, "bpe-ignoremerges", minTexts: 3060)
    }

    /// Character BPE with continuing_subword_prefix, end_of_word_suffix, unknown characters and byte fallback.
    /// Every id is compared; offsets only for texts without byte-fallback tokens: HF counts the affix bytes of a
    /// byte-fallback symbol ("##é</w>" gives 8 one-byte tokens for a 2-byte character), which pushes its offsets
    /// outside the word; ours give each byte token its character's offsets.
    @Test func prefixSuffixUnknownAndByteFallback() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-bpe-suffix.json"), truncation: false)
        let expected = try Fixtures.expected("bpe-suffix")
        let texts = sample
        #expect(expected.count == texts.count)
        let byteTokens = Set(tokenizer.model.vocab.filter { $0.key.hasPrefix("<0x") && $0.key.count == 6 }.map(\.value))
        #expect(byteTokens.count == 256)
        let encodings = tokenizer.encodeBatch(texts)
        var idMismatches = 0, offsetMismatches = 0, offsetsCompared = 0, withFallback = 0
        for (encoding, want) in zip(encodings, expected) {
            if encoding.ids != want.ids { idMismatches += 1; continue }
            if want.ids.contains(where: { byteTokens.contains($0) }) { withFallback += 1; continue }
            offsetsCompared += 1
            if !encoding.offsets.elementsEqual(want.offsets, by: { $0.start == $1.0 && $0.end == $1.1 }) { offsetMismatches += 1 }
        }
        #expect(idMismatches == 0)
        #expect(offsetMismatches == 0)
        #expect(withFallback > 10)
        #expect(offsetsCompared > 2500)
    }

    /// all-mpnet-base-v2's arrangement: WordPiece with RobertaProcessing.
    @Test func mpnetWordPieceWithRobertaProcessing() throws {
        try check("tokenizer-mpnet.json", sample, "mpnet", minTexts: 3060)
    }

    @Test func robertaSpecialTokens() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-bpe.json"), truncation: false)
        #expect(tokenizer.specialTokenCount == 2)
        #expect(tokenizer.padId == 1)  // <pad>
        let encoding = tokenizer.encode("Hello <mask>")
        #expect(encoding.ids.first == 0 && encoding.ids.last == 2)
        #expect(encoding.ids[encoding.count - 2] == 4)  // <mask> swallowed the space before it (lstrip)
        // Its offsets leave the swallowed space out (RobertaProcessing trims the matched " <mask>").
        #expect(encoding.offsets[encoding.count - 2].start == 6 && encoding.offsets[encoding.count - 2].end == 12)
        #expect(encoding.typeIds.allSatisfy { $0 == 0 })
    }
}

/// Pairs `<s> A </s></s> B </s>` (RobertaProcessing) and their longest_first truncation against HF.
@Suite struct PairEncodingTests {
    var pairs: [(String, String)] {
        let texts = Array(Fixtures.bpeCorpus.prefix(1000)) + Fixtures.bpeEdgeCases
        return stride(from: 0, to: texts.count - 1, by: 2).map { (texts[$0], texts[$0 + 1]) }
    }

    func check(_ tokenizer: TextTokenizer, _ expectedName: String, allTypesZero: Bool = true) throws {
        let expected = try Fixtures.expected(expectedName)
        let pairs = self.pairs
        #expect(expected.count == pairs.count && pairs.count > 500)
        var idMismatches = 0, offsetMismatches = 0
        var failures: [String] = []
        for ((a, b), want) in zip(pairs, expected) {
            let encoding = tokenizer.encode(a, pair: b)
            if encoding.ids != want.ids {
                idMismatches += 1
                if failures.count < 3 { failures.append("\(a.prefix(60)) | \(b.prefix(60)): got \(encoding.ids.prefix(30)) want \(want.ids.prefix(30))") }
            } else if !encoding.offsets.elementsEqual(want.offsets, by: { $0.start == $1.0 && $0.end == $1.1 }) {
                offsetMismatches += 1
                if failures.count < 3 { failures.append("\(a.prefix(60)) | \(b.prefix(60)) offsets: got \(encoding.offsets.prefix(20).map { [$0.start, $0.end] }) want \(want.offsets.prefix(20).map { [$0.0, $0.1] })") }
            }
            if allTypesZero { #expect(encoding.typeIds.allSatisfy { $0 == 0 }) }
        }
        #expect(idMismatches == 0, "\(expectedName): \(failures.joined(separator: "\n"))")
        #expect(offsetMismatches == 0, "\(expectedName): \(failures.joined(separator: "\n"))")
    }

    @Test func byteLevelPairs() throws {
        try check(try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-bpe.json"), truncation: false), "bpe-pairs")
    }

    @Test func mpnetPairs() throws {
        try check(try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-mpnet.json"), truncation: false), "mpnet-pairs")
    }

    @Test func longestFirstTruncation() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-bpe.json"), maxLength: 24)
        try check(tokenizer, "bpe-pairs-trunc24")
        #expect(pairs.allSatisfy { tokenizer.encode($0.0, pair: $0.1).count <= 24 })
    }

    /// TemplateProcessing's pair form `[CLS] A [SEP] B:1 [SEP]:1`: ids, offsets and type ids.
    @Test func templatePairs() throws {
        let tokenizer = try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-sequence-a.json"), truncation: false)
        try check(tokenizer, "seqa-pairs", allTypesZero: false)
        let types = try Fixtures.expected("seqa-pairs-types")
        let mismatches = zip(pairs, types).filter { tokenizer.encode($0.0, pair: $0.1).typeIds != $1.ids }.count
        #expect(mismatches == 0)
        #expect(types.contains { $0.ids.contains(1) })
    }
}
