import Featurize
import Foundation
import Testing

private func readLines(_ path: String) throws -> [String] {
    var lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    return lines
}

/// Host reference for a spec over the fixture's per-layer hidden states (real tokens only).
private func expectedFeatures(_ fx: EncoderFixture, methods: [PoolingMode], layers: [Int], reduce: LayerReduce,
                              normalize: Bool) -> [Float] {
    let h = fx.config.hiddenSize
    var rows: [Float] = []
    for i in 0..<fx.n {
        let n = Int(fx.lengths[i])
        var row: [Float] = []
        for l in layers {
            let tokens = Array(fx.reference(layer: l, text: i))
            for m in methods {
                row += HostPooling.pool(tokens, lengths: [Int32(n)], batch: 1, seq: n, cols: h, mode: m)
            }
        }
        rows += row
    }
    let width = methods.count * h
    if reduce == .mean { rows = HostPooling.meanOverLayers(rows, rows: fx.n, layers: layers.count, width: width) }
    let cols = reduce == .mean ? width : width * layers.count
    if normalize { HostPooling.l2Normalize(&rows, rows: fx.n, cols: cols) }
    return rows
}

@Suite("FeatureExtractor end to end")
struct FeatureExtractorTests {
    @Test("all-MiniLM-L6-v2 with default flags equals SentenceTransformer.encode (cosine >= 0.99999)")
    func miniLMMatchesSentenceTransformers() throws {
        let texts = try readLines(FixturePaths.file("minilm/texts.txt"))
        let expected = try NpyArray(path: FixturePaths.file("minilm/expected.npy"))
        #expect(expected.shape == [200, 384] && texts.count == 200)
        let extractor = try FeatureExtractor(modelDirectory: FixturePaths.miniLM, batchSize: 16)
        #expect(extractor.dimension == 384 && extractor.maxLength == 256 && extractor.spec.normalize)
        let features = try extractor.extract(texts: texts)
        expectMatchesSentenceTransformers(features, expected, texts: texts, label: "MiniLM")
    }

    @Test("several poolings x layers, concat and mean, normalize: tokenizer + encoder + pooling vs HF",
          arguments: fixtureModels)
    func poolingSpecs(model: String) throws {
        let fx = try EncoderFixture(model)
        // The RoBERTa/MPNet fixtures cover the first 24 texts.
        let texts = Array(try readLines(FixturePaths.file("texts.txt")).prefix(fx.n))
        #expect(texts.count == fx.n)
        let methods: [PoolingMode] = [.cls, .mean, .max, .meanSqrtLen, .weightedMean, .last]
        let L = fx.config.numLayers
        for (layersText, reduce, normalize) in [("-1", LayerReduce.concat, false), ("0,-1", .concat, false),
                                                ("-2..-1", .mean, true)] {
            let spec = try PoolingSpec.parse(pooling: methods.map(\.rawValue).joined(separator: ","),
                                             layers: layersText, layerReduce: reduce.rawValue, normalize: normalize)
            let extractor = try FeatureExtractor(modelDirectory: FixturePaths.model(model), pooling: spec, batchSize: 6)
            let got = try extractor.extract(texts: texts)
            let layers = try spec.resolvedLayers(numLayers: L)
            let expected = expectedFeatures(fx, methods: methods, layers: layers, reduce: reduce, normalize: normalize)
            #expect(got.rows == fx.n && got.columns == expected.count / fx.n)
            let d = maxAbsDiff(got.values, expected)
            print("\(model) layers \(layersText) \(reduce) normalize \(normalize): max abs diff \(d)")
            #expect(d <= 1e-4, "\(model) layers \(layersText): \(d)")
        }
    }

    @Test("BERT pooler through the extractor")
    func pooler() throws {
        let extractor = try FeatureExtractor(modelDirectory: FixturePaths.model("bert_gelu"),
                                             pooling: try PoolingSpec.parse(pooling: "pooler"))
        let got = try extractor.extract(texts: try readLines(FixturePaths.file("texts.txt")))
        let expected = try NpyArray(path: FixturePaths.file("bert_gelu/pool_pooler.npy")).floats
        #expect(maxAbsDiff(got.values, expected) <= 1e-4)
    }

    @Test("a text alone equals the same text in a batch with longer texts")
    func batchInvariance() throws {
        let extractor = try FeatureExtractor(modelDirectory: FixturePaths.miniLM, batchSize: 8)
        let texts = try readLines(FixturePaths.file("minilm/texts.txt"))
        let all = try extractor.extract(texts: Array(texts[0..<40]))
        for i in [2, 4, 20, 39] {
            let alone = try extractor.extract(texts: [texts[i]])
            #expect(maxAbsDiff(alone.row(0), all.row(i)) <= 1e-5, "text \(i)")
        }
        #expect(try extractor.extract(texts: []).rows == 0)
    }

    @Test("usage errors name the bad value and list valid ones")
    func usageErrors() throws {
        #expect { _ = try PoolingSpec.parse(pooling: "mean,avg") } throws: { error in
            let text = "\(error)"
            return text.contains("'avg'") && text.contains("weighted_mean") && text.contains("pooler")
        }
        #expect(throws: PoolingError.unparsableLayers("-1,x")) { _ = try PoolingSpec.parse(pooling: "mean", layers: "-1,x") }
        #expect(throws: PoolingError.unknownLayerReduce("sum")) { _ = try PoolingSpec.parse(pooling: "mean", layerReduce: "sum") }
        #expect(try PoolingSpec.parseLayers("-4..-1") == [-4, -3, -2, -1])
        #expect(try PoolingSpec.parseLayers("0, 6,12") == [0, 6, 12])
        let spec = try PoolingSpec.parse(pooling: "mean", layers: "7")
        #expect(throws: PoolingError.layerOutOfRange(layer: 7, numLayers: 6)) {
            _ = try FeatureExtractor(modelDirectory: FixturePaths.miniLM, pooling: spec)
        }
        #expect(throws: PoolingError.layerOutOfRange(layer: -8, numLayers: 6)) {
            _ = try FeatureExtractor(modelDirectory: FixturePaths.miniLM, pooling: try PoolingSpec.parse(pooling: "cls", layers: "-8..-1"))
        }
        // DistilBERT has no pooler; MiniLM (sentence-transformers export) has none either.
        #expect(throws: FeaturizeError.self) {
            _ = try FeatureExtractor(modelDirectory: FixturePaths.model("distilbert_relu"), pooling: try PoolingSpec.parse(pooling: "pooler"))
        }
        #expect(throws: PoolingError.poolerNeedsLastLayer(layers: [-2], numLayers: 3)) {
            _ = try FeatureExtractor(modelDirectory: FixturePaths.model("bert_gelu"), pooling: try PoolingSpec.parse(pooling: "pooler", layers: "-2"))
        }
        #expect(throws: FeaturizeError.self) {
            _ = try FeatureExtractor(modelDirectory: FixturePaths.model("bert_gelu"), maxLength: 41)
        }
        #expect { _ = try FeatureExtractor(modelDirectory: "/nonexistent/model") } throws: { "\($0)".contains("/nonexistent/model") }
    }
}
