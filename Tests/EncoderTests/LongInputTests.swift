import Featurize
import Foundation
import Testing
import Tokenizer

@Suite("Long inputs: windows with stride, chunk pooling, one row per window")
struct LongInputTests {
    /// About 5,000 tokens of varied text.
    static func longText() throws -> String {
        let lines = try String(contentsOfFile: FixturePaths.file("texts.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        var text = ""
        var i = 0
        while text.unicodeScalars.count < 16_000 { text += lines[i % lines.count] + " "; i += 1 }
        return text + "end"
    }

    @Test("chunk mode on a 5,000-token text equals the token-weighted mean of its separately encoded windows (1e-6)")
    func chunkEqualsWeightedMeanOfWindows() throws {
        let spec = try PoolingSpec.parse(pooling: "mean")
        let extractor = try FeatureExtractor(modelDirectory: FixturePaths.model("bert_gelu"), pooling: spec, batchSize: 16)
        let text = try Self.longText()
        let windows = try extractor.windows(of: text, stride: 8)
        let contentTokens = windows.last!.1.tokenEnd
        #expect(contentTokens >= 5_000, "only \(contentTokens) tokens")
        #expect(windows.allSatisfy { $0.0.count <= extractor.maxLength })
        var expected = [Float](repeating: 0, count: extractor.dimension)
        var weight: Float = 0
        for (encoding, _) in windows {
            let row = try extractor.features(of: [encoding], specs: [spec])[0]
            for c in 0..<row.count { expected[c] += Float(encoding.count) * row[c] }
            weight += Float(encoding.count)
        }
        expected = expected.map { $0 / weight }
        let got = try extractor.extractChunked(texts: [text], stride: 8).values
        #expect(maxAbsDiff(got, expected) <= 1e-6)
        // max reduce: the element-wise max of the same window vectors.
        let maxed = try extractor.extractChunked(texts: [text], stride: 8, reduce: .max).values
        var expectedMax = [Float](repeating: -.infinity, count: extractor.dimension)
        for (encoding, _) in windows {
            let row = try extractor.features(of: [encoding], specs: [spec])[0]
            for c in 0..<row.count { expectedMax[c] = max(expectedMax[c], row[c]) }
        }
        #expect(maxed == expectedMax)
    }

    @Test("Windows overlap by the stride, cover every token once besides, and their offsets index the text")
    func windowsReconstructTheText() throws {
        let extractor = try FeatureExtractor(modelDirectory: FixturePaths.model("bert_gelu"))
        let text = try Self.longText()
        let whole = try TextTokenizer.load(directory: FixturePaths.model("bert_gelu"), maxLength: nil, truncation: false).encode(text)
        let content = Array(whole.ids.dropFirst().dropLast())
        let windows = try extractor.windows(of: text, stride: 5)
        let scalars = Array(text.unicodeScalars)
        var next = 0
        for (index, (encoding, window)) in windows.enumerated() {
            #expect(encoding.ids.first == whole.ids.first && encoding.ids.last == whole.ids.last)  // [CLS] ... [SEP]
            #expect(Array(encoding.ids.dropFirst().dropLast()) == Array(content[window.tokenStart..<window.tokenEnd]))
            #expect(window.tokenStart == (index == 0 ? 0 : next - 5))
            next = window.tokenEnd
            #expect(window.charStart == whole.offsets[window.tokenStart + 1].start)
            #expect(window.charEnd == whole.offsets[window.tokenEnd].end && window.charEnd <= scalars.count)
        }
        #expect(next == content.count)
        #expect(windows.last!.1.charEnd == scalars.count)
        let rows = try extractor.extractWindows(texts: ["short text", text], stride: 5)
        #expect(rows.features.rows == windows.count + 1 && rows.windows.first?.text == 0 && rows.windows.last?.text == 1)
    }

    @Test("A text that fits gives the truncating result; prompts sit in every window (sentence-transformers model)")
    func shortTextsAndPrompts() throws {
        let extractor = try FeatureExtractor(modelDirectory: STFixture.directory("prompts"))
        let texts = ["hello world", "", "a short one"]  // each fits in 24 tokens with the prompt
        let chunked = try extractor.extractChunked(texts: texts, stride: 2).values
        #expect(maxAbsDiff(chunked, try extractor.extract(texts: texts).values) <= 1e-6)
        let long = try Self.longText()
        let windows = try extractor.windows(of: String(long.prefix(400)), stride: 2)
        #expect(windows.count > 2)
        let promptIds = try TextTokenizer.load(directory: STFixture.directory("prompts"), maxLength: nil, truncation: false)
            .encode("query: ").ids.dropLast()  // [CLS] + the prompt's pieces, no [SEP]
        #expect(windows.allSatisfy { Array($0.0.ids.prefix(promptIds.count)) == Array(promptIds) && $0.0.count <= 24 })
        #expect(throws: FeaturizeError.self) { _ = try extractor.windows(of: long, stride: 100) }
    }
}
