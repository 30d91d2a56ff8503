import Featurize
import Foundation
import Testing
import Tokenizer

// Sentence pairs against Hugging Face (scripts/fixtures/gen_st_fixtures.py, Fixtures/st/pairs/): token ids and
// type ids of `tokenizers` with each pair truncation strategy at max length 24 (null where it raises), and
// mean-pooled BertModel features of those encodings.

private enum PairFixture {
    static func pairs() throws -> [TextPair] {
        let text = try String(contentsOfFile: FixturePaths.file("st/pairs/pairs.tsv"), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }.map { line in
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return TextPair(String(parts[0]), String(parts[1]))
        }
    }

    /// Per pair: (ids, type ids), or nil where Hugging Face refuses the strategy.
    static func tokens(_ strategy: PairTruncation) throws -> [([Int32], [Int32])?] {
        let data = try Data(contentsOf: URL(fileURLWithPath: FixturePaths.file("st/pairs/tokens_\(strategy.rawValue).json")))
        guard let rows = try JSONSerialization.jsonObject(with: data) as? [Any] else { throw TestFailure.fixture("tokens_\(strategy.rawValue).json") }
        return rows.map { row in
            guard let object = row as? [String: Any], let ids = object["ids"] as? [Int], let types = object["type_ids"] as? [Int] else { return nil }
            return (ids.map(Int32.init), types.map(Int32.init))
        }
    }
}

@Suite("Sentence pairs (templates, truncation strategies) against Hugging Face")
struct SentencePairExtractionTests {
    @Test("ids and type ids equal tokenizers' for longest_first, only_first, only_second; refusals match",
          arguments: PairTruncation.allCases)
    func tokenizerMatches(_ strategy: PairTruncation) throws {
        let tokenizer = try TextTokenizer.load(directory: FixturePaths.model("bert_gelu"), maxLength: 24, truncation: true)
        let pairs = try PairFixture.pairs()
        let expected = try PairFixture.tokens(strategy)
        #expect(pairs.count == 7 && expected.count == pairs.count)
        for (pair, want) in zip(pairs, expected) {
            if let want {
                let got = try tokenizer.encode(pair.first, pair: pair.second, truncation: strategy)
                #expect(got.ids == want.0, "\(strategy) \(pair)")
                #expect(got.typeIds == want.1, "\(strategy) \(pair)")
                #expect(got.count <= 24)
            } else {
                #expect(throws: PairTruncationError.self) { try tokenizer.encode(pair.first, pair: pair.second, truncation: strategy) }
            }
        }
        #expect(expected.contains { $0 == nil } == (strategy != .longestFirst))
    }

    @Test("extract(pairs:) equals mean-pooled BertModel on the pair encodings (max abs <= 1e-5)",
          arguments: [PairTruncation.longestFirst, .onlySecond])
    func featuresMatch(_ strategy: PairTruncation) throws {
        let spec = try PoolingSpec.parse(pooling: "mean")
        let extractor = try FeatureExtractor(modelDirectory: FixturePaths.model("bert_gelu"), pooling: spec, maxLength: 24, batchSize: 3)
        let tokens = try PairFixture.tokens(strategy)
        let pairs = zip(try PairFixture.pairs(), tokens).filter { $0.1 != nil }.map(\.0)
        let expected = try NpyArray(path: FixturePaths.file("st/pairs/expected_mean_\(strategy.rawValue).npy"))
        #expect(expected.shape == [pairs.count, 36])
        let got = try extractor.extract(pairs: pairs, truncation: strategy)
        #expect(maxAbsDiff(got.values, expected.floats) <= 1e-5)
    }

    @Test("A pair only_first cannot fit is an error naming the strategy and the window")
    func refusalIsAnError() throws {
        let extractor = try FeatureExtractor(modelDirectory: FixturePaths.model("bert_gelu"), maxLength: 24)
        do {
            _ = try extractor.extract(pairs: try PairFixture.pairs(), truncation: .onlyFirst)
            Issue.record("only_first on an unfittable pair did not fail")
        } catch {
            #expect("\(error)".contains("only_first") && "\(error)".contains("pair 1"), "\(error)")
        }
    }
}
