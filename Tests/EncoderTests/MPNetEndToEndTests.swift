import Featurize
import Foundation
import Testing

/// The real all-mpnet-base-v2 (not committed: `python3 scripts/fetch_assets.py mpnet`, about 400 MB) through
/// the extractor with default settings, against `SentenceTransformer('models/all-mpnet-base-v2').encode(texts)`
/// (scripts/fixtures/gen_encoder_fixtures_roberta_mpnet.py mpnet). Its tokenizer.json carries truncation and
/// fixed padding at 128; sentence-transformers ignores them and truncates at max_seq_length 384, and so must we
/// (19 of the 530 texts are longer than 384 tokens, up to 656).
let mpnetModelPath = FixturePaths.packageRoot.appendingPathComponent("models/all-mpnet-base-v2").path

@Suite("all-mpnet-base-v2 end to end")
struct MPNetEndToEndTests {
    @Test("default flags equal SentenceTransformer.encode (cosine >= 0.99999)",
          .enabled(if: FileManager.default.fileExists(atPath: mpnetModelPath + "/model.safetensors"),
                   "models/all-mpnet-base-v2 is absent (fetch it with `python3 scripts/fetch_assets.py mpnet`)"))
    func matchesSentenceTransformers() throws {
        var texts = try String(contentsOfFile: FixturePaths.file("mpnet/texts.txt"), encoding: .utf8)
            .components(separatedBy: "\n")
        if texts.last == "" { texts.removeLast() }
        let expected = try NpyArray(path: FixturePaths.file("mpnet/expected.npy"))
        #expect(expected.shape == [texts.count, 768] && texts.count >= 500)
        let extractor = try FeatureExtractor(modelDirectory: mpnetModelPath, batchSize: 16)
        #expect(extractor.dimension == 768 && extractor.maxLength == 384 && extractor.spec.normalize)
        let features = try extractor.extract(texts: texts)
        expectMatchesSentenceTransformers(features, expected, texts: texts, label: "all-mpnet-base-v2")
    }
}
