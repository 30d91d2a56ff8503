import Featurize
import Foundation
import Scheduler
import Testing

/// `featurize ablate` on the small random BERT fixture: per-batch progress, token counts from the one encoder
/// pass, and the cross-validated report end to end.
@Suite(.serialized) struct AblationRunTests {
    @Test func encodeProgressArrivesAsBatchesFinish() throws {
        let e = try FeatureExtractor(modelDirectory: ExtractJobTests.modelPath, pooling: PoolingSpec(methods: [.tokens(.mean)]))
        let combos = try AblationCombination.grid(pooling: "cls,mean", layers: "-1", combos: [], numLayers: e.model.config.numLayers)
        let texts = Array(ExtractJobTests.texts.prefix(800))
        var calls: [(done: Int, seconds: Double)] = []
        let lock = NSLock()
        let (features, counts) = try AblationFeatures.extractWithLengths(
            texts: texts, extractor: e, combinations: combos, batching: BatchingPolicy(maxBatchTokens: 512)) { done, seconds in
            lock.lock(); calls.append((done, seconds)); lock.unlock()
        }
        #expect(calls.last?.done == 800)
        #expect(calls.count >= 3)  // at least every 256 texts
        #expect(calls.map(\.done) == calls.map(\.done).sorted())
        // All 800 texts are one scheduler window: rows reach the sink in input order only after the window's last
        // batch, so progress counted there would arrive all at once. Counted per batch, the first line comes well
        // before the last.
        if let first = calls.first, let last = calls.last {
            #expect(first.seconds < 0.8 * last.seconds, "progress lines at \(calls.map(\.seconds))")
        }
        #expect(counts == e.tokenize(texts).map(\.count))
        #expect(features.count == 2 && features.allSatisfy { $0.rows == 800 })
    }

    @Test func ablateWritesCrossValidatedReport() throws {
        let dir = ExtractJobTests.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var csv = "text,label,src\n"
        for (i, t) in ExtractJobTests.texts.prefix(150).enumerated() {
            let text = t.replacingOccurrences(of: "\"", with: "\"\"")
            csv += "\"\(text)\",\(t.count > 60 ? "long" : "short"),\(i % 2 == 0 ? "even" : "odd")\n"
        }
        try csv.write(toFile: dir + "/train.csv", atomically: true, encoding: .utf8)
        let report = dir + "/report"
        let run = try ClassifierCLITests.run([
            "ablate", "--model", ExtractJobTests.modelPath, "--train", dir + "/train.csv", "--pooling", "mean,max",
            "--layers", "-1", "--cv", "3", "--C", "auto", "--c-grid", "0.1,1", "--inner-cv", "2", "--bootstrap", "100",
            "--length-buckets", "12,20", "--group-column", "src", "--seed", "4", "--report", report])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("**Answer: "))
        #expect(run.stdout.contains("## Accuracy (%) by text length"))
        #expect(run.stdout.contains("| Combination | ≤ 12 (n = "))
        #expect(run.stdout.contains("## Accuracy (%) by src"))
        #expect(run.stderr.contains("encoded 150/150 texts"))
        #expect(run.stderr.contains("trained 6/6: "))
        for name in ["report.html", "report.md", "results.csv", "results.json", "heatmap.svg", "forest.svg", "length.svg", "confusion.svg"] {
            #expect(FileManager.default.fileExists(atPath: report + "/" + name), "\(name)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report + "/results.json"))) as? [String: Any]
        let context = json?["context"] as? [String: Any]
        let folds = (context?["foldAssignment"] as? [[Int]])?.first ?? []
        #expect(folds.count == 150 && Set(folds) == [0, 1, 2])
        #expect(context?["cGrid"] as? [Double] == [0.1, 1])
        #expect((json?["results"] as? [[String: Any]])?.allSatisfy { [0.1, 1].contains($0["chosenC"] as? Double ?? -1) } == true)

        let bad = try ClassifierCLITests.run(["ablate", "--model", ExtractJobTests.modelPath, "--train", dir + "/train.csv",
                                              "--C", "often", "--report", dir + "/r2"])
        #expect(bad.status != 0 && bad.stderr.contains("--C must be a positive number or auto"))
        let noTest = try ClassifierCLITests.run(["ablate", "--model", ExtractJobTests.modelPath, "--train", dir + "/train.csv",
                                                 "--metric", "auc", "--group-column", "nope", "--report", dir + "/r3"])
        #expect(noTest.status != 0 && noTest.stderr.contains("nope"), "\(noTest.stderr)")
    }
}
