import Foundation
import Testing
@testable import Tokenizer

/// SentencePiece-Unigram tokenizers (XLM-R and CamemBERT arrangements) against Hugging Face `tokenizers`:
/// every id and offset. Fixtures from scripts/fixtures/gen_unigram_tokenizer_fixtures.py.
@Suite struct UnigramParityTests {
    static let multilingual: [String] = {
        guard let data = try? Fixtures.gunzip(Fixtures.path("unigram-multilingual.txt.gz")),
              let lines = try? TextLines.split(data, source: "unigram-multilingual") else { return [] }
        return lines
    }()

    static let edgeCases: [String] = {
        guard let data = FileManager.default.contents(atPath: Fixtures.path("unigram-edge.json")),
              let texts = try? JSONSerialization.jsonObject(with: data) as? [String] else { return [] }
        return texts
    }()

    static func tokenizer(_ arrangement: String) throws -> TextTokenizer {
        try TextTokenizer.load(tokenizerJSON: try Fixtures.tokenizerJSON("tokenizer-unigram-\(arrangement).json"), truncation: false)
    }

    func check(_ tokenizer: TextTokenizer, _ texts: [String], _ expectedName: String, minTexts: Int) throws {
        let expected = try Fixtures.expected(expectedName)
        #expect(texts.count >= minTexts)
        #expect(expected.count == texts.count, "\(expectedName): \(expected.count) expected rows for \(texts.count) texts")
        let result = Fixtures.compare(tokenizer, texts: texts, expected: expected)
        #expect(result.idMismatches == 0, "\(expectedName): \(result.idMismatches) texts with wrong ids\n\(result.firstFailures.joined(separator: "\n"))")
        #expect(result.offsetMismatches == 0, "\(expectedName): \(result.offsetMismatches) texts with wrong offsets\n\(result.firstFailures.joined(separator: "\n"))")
        #expect(result.idsCompared > 0)
    }

    @Test(arguments: ["xlmr5", "xlmr4"])
    func corpusLines(arrangement: String) throws {
        try check(try Self.tokenizer(arrangement), Array(Fixtures.corpus.prefix(12000)), "unigram-\(arrangement)-corpus", minTexts: 12000)
    }

    @Test(arguments: ["xlmr5", "xlmr4", "bytes"])
    func multilingualLines(arrangement: String) throws {
        try check(try Self.tokenizer(arrangement), Self.multilingual, "unigram-\(arrangement)-multi", minTexts: 12000)
    }

    @Test(arguments: ["xlmr5", "xlmr4", "bytes", "camembert"])
    func edgeCases(arrangement: String) throws {
        try check(try Self.tokenizer(arrangement), Self.edgeCases, "unigram-\(arrangement)-edge", minTexts: 150)
    }

    @Test(arguments: ["xlmr5", "xlmr4"])
    func randomTexts(arrangement: String) throws {
        try check(try Self.tokenizer(arrangement), Fixtures.randomTexts, "unigram-\(arrangement)-random", minTexts: 3000)
    }

    @Test func camembertMultilingual() throws {
        try check(try Self.tokenizer("camembert"), Array(Self.multilingual.prefix(4000)), "unigram-camembert-multi", minTexts: 4000)
    }

    /// Metaspace `prepend_scheme` first (split false) and never: a committed fixture with its pre-tokenizer
    /// replaced, the same edit as the generator's METASPACE_VARIANTS.
    @Test(arguments: ["first", "never"])
    func metaspaceVariants(variant: String) throws {
        let base = variant == "first" ? "xlmr4" : "xlmr5"
        let preTokenizer: [String: Any] = variant == "first"
            ? ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "first", "split": false]
            : ["type": "Sequence", "pretokenizers": [["type": "WhitespaceSplit"],
                                                     ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "never", "split": true]]]
        let data = try Fixtures.gunzip(Fixtures.path("tokenizer-unigram-\(base).json.gz"))
        guard var json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw FixtureError("not a JSON object") }
        json["pre_tokenizer"] = preTokenizer
        let path = NSTemporaryDirectory() + "featurize-tok-\(getpid())-unigram-\(variant).json"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        let tokenizer = try TextTokenizer.load(tokenizerJSON: path, truncation: false)
        try check(tokenizer, Self.edgeCases, "unigram-\(variant)-edge", minTexts: 150)
        try check(tokenizer, Array(Self.multilingual.prefix(2000)), "unigram-\(variant)-multi", minTexts: 2000)
    }

    /// The fuzzer's Unigram seed (hand-made one-key charsmap "a" -> "b", 301 pieces): HF's ids and offsets,
    /// printed by HF `tokenizers` 0.23.3 for these texts.
    @Test func fuzzSeedMatchesHF() throws {
        let path = Fixtures.packageRoot + "/Fuzz/corpus/tokenizer-json/unigram-small.json"
        let tokenizer = try TextTokenizer.load(tokenizerJSON: path, truncation: false)
        let expected: [(String, [Int32], [[Int]])] = [
            ("a  cat <mask>", [0, 269, 4, 19, 48, 6, 300, 2], [[0, 0], [0, 1], [2, 3], [3, 4], [4, 5], [5, 6], [6, 13], [0, 0]]),
            ("Hello, world!", [0, 4, 264, 168, 58, 12, 4, 59, 83, 21, 7, 3, 2],
             [[0, 0], [0, 1], [0, 1], [1, 3], [3, 5], [5, 6], [6, 7], [7, 8], [8, 10], [10, 11], [11, 12], [12, 13], [0, 0]]),
            ("naïve café 東京", [0, 4, 14, 48, 3, 127, 4, 19, 48, 41, 133, 4, 3, 2],
             [[0, 0], [0, 1], [0, 1], [1, 2], [2, 3], [3, 5], [5, 6], [6, 7], [7, 8], [8, 9], [9, 10], [10, 11], [11, 13], [0, 0]]),
        ]
        for (text, ids, offsets) in expected {
            let encoding = tokenizer.encode(text)
            #expect(encoding.ids == ids, "\(text)")
            #expect(encoding.offsets.map { [$0.start, $0.end] } == offsets, "\(text)")
        }
    }

    /// The two XLM-R arrangements really differ (else testing both proves little), and the 4.x one loads its parts.
    @Test func arrangementsDiffer() throws {
        let five = try Self.tokenizer("xlmr5"), four = try Self.tokenizer("xlmr4")
        let text = "a  b   c"
        #expect(five.encode(text).offsets.map(\.start) != four.encode(text).offsets.map(\.start))
        #expect(four.model is UnigramModel)
        #expect(four.preTokenizer is MetaspacePreTokenizer)
    }
}
