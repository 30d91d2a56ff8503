import Featurize
import Foundation
import Testing

@Suite("Token-level output (--pooling none) against encode(output_value=\"token_embeddings\")")
struct TokenLevelTests {
    @Test("Every token's last hidden state, prompt and special tokens included, ragged by text (max abs <= 1e-5)")
    func tokensMatchSentenceTransformers() throws {
        let texts = try STFixture.texts()
        let expected = try NpyArray(path: FixturePaths.file("st/prompts/expected_tokens.npy"))
        let offsets = try NpyArray(path: FixturePaths.file("st/prompts/expected_token_offsets.npy"))
        let extractor = try FeatureExtractor(modelDirectory: STFixture.directory("prompts"), batchSize: 3)
        let got = try extractor.extractTokens(texts: texts)
        #expect(got.offsets == offsets.ints.map(Int.init))
        #expect(got.columns == 36 && got.totalTokens == expected.shape[0])
        #expect(maxAbsDiff(got.values, expected.floats) <= 1e-5)
        #expect(got.characterOffsets.count == got.totalTokens && got.characterOffsets[0] == [0, 0])  // [CLS]
    }
}
