import Foundation
import Testing
@testable import Classifier

/// Reference values of scripts/fixtures/sklearn_ablation.py (scikit-learn, scipy, statsmodels).
struct AblationReference: Decodable {
    struct PerFold: Decodable { var C: Double; var accuracy: [Double] }
    struct Grid: Decodable { var scoring: String; var grid: [Double]; var best_C: Double; var mean_test_score: [Double] }
    struct CV: Decodable {
        var dataset: String; var rows: Int; var folds: Int; var seed: UInt64; var assignment: [Int]
        var per_fold: [PerFold]; var grid_search: [Grid]
    }
    struct McNemar: Decodable { var b: Int; var c: Int; var p: Double }
    struct TTest: Decodable {
        var differences: [Double]; var ratio: Double; var t: Double; var p: Double
        var corrected_t: Double; var corrected_p: Double
    }
    struct AUC: Decodable { var scores_file: String; var auc: Double; var rounded_2_decimals_auc: Double }
    var cross_validation: [CV]
    var mcnemar: [McNemar]
    var t_tests: [TTest]
    var roc_auc: AUC

    static let shared: AblationReference = {
        let data = FileManager.default.contents(atPath: Fixtures.path("ablation_reference.json"))!
        return try! JSONDecoder().decode(AblationReference.self, from: data)
    }()

    /// The first `rows` rows of a parity data set.
    static func data(_ cv: CV) throws -> (FeatureMatrix, [String]) {
        let (x, labels) = try Fixtures.dataset(cv.dataset)
        return (try Fixtures.slice(x, 0..<cv.rows), Array(labels[0..<cv.rows]))
    }
}

@Suite struct AblationStatisticsTests {
    @Test func stratifiedFoldsFollowTheirDefinition() throws {
        for cv in AblationReference.shared.cross_validation {
            let (_, labels) = try AblationReference.data(cv)
            let folds = try StratifiedKFold.assign(labels: labels, folds: cv.folds, seed: cv.seed)
            #expect(folds == cv.assignment, "\(cv.dataset)")
            // Balanced: fold sizes and per-class counts differ by at most one.
            let sizes = (0..<cv.folds).map { f in folds.filter { $0 == f }.count }
            #expect(sizes.max()! - sizes.min()! <= 1)
            for label in Set(labels) {
                let perFold = (0..<cv.folds).map { f in zip(folds, labels).filter { $0.0 == f && $0.1 == label }.count }
                #expect(perFold.max()! - perFold.min()! <= 1, "\(label)")
            }
            #expect(try StratifiedKFold.assign(labels: labels, folds: cv.folds, seed: cv.seed + 1) != folds)
        }
        #expect(throws: ClassifierError.self) { try StratifiedKFold.assign(labels: ["a", "b"], folds: 1, seed: 0) }
        #expect(throws: ClassifierError.self) { try StratifiedKFold.assign(labels: ["a", "b"], folds: 3, seed: 0) }
    }

    /// Per-fold accuracy within 0.5 points of StandardScaler + LogisticRegression(C) on the same folds.
    @Test func perFoldAccuracyMatchesScikitLearn() throws {
        for cv in AblationReference.shared.cross_validation {
            let (x, labels) = try AblationReference.data(cv)
            let classes = Array(Set(labels)).sorted()
            for reference in cv.per_fold {
                for f in 0..<cv.folds {
                    let (train, test) = StratifiedKFold.split(cv.assignment, fold: f)
                    let fit = try ModelSelection.fitAndPredict(features: x, labels: labels, classes: classes, trainRows: train,
                                                               evalRows: test, options: .init(C: reference.C))
                    let ours = fit.predictions.accuracy()
                    #expect(abs(ours - reference.accuracy[f]) <= 0.005,
                            "\(cv.dataset) C=\(reference.C) fold \(f): \(ours) vs sklearn \(reference.accuracy[f])")
                    #expect(fit.C == reference.C && fit.gridScores.isEmpty)
                }
            }
        }
    }

    /// `--C auto`'s grid search against GridSearchCV(cv=PredefinedSplit(our folds)) with the same grid.
    @Test func gridSearchMatchesGridSearchCV() throws {
        for cv in AblationReference.shared.cross_validation {
            let (x, labels) = try AblationReference.data(cv)
            let classes = Array(Set(labels)).sorted()
            for reference in cv.grid_search {
                let metric: RankingMetric = reference.scoring == "accuracy" ? .accuracy : .macroF1
                let choice = try ModelSelection.chooseC(features: x, labels: labels, classes: classes, grid: reference.grid,
                                                        folds: cv.assignment, options: .init(), metric: metric)
                for (ours, theirs) in zip(choice.meanScores, reference.mean_test_score) {
                    #expect(abs(ours - theirs) <= 0.005, "\(cv.dataset) \(reference.scoring): \(choice.meanScores) vs \(reference.mean_test_score)")
                }
                #expect(choice.C == reference.best_C,
                        "\(cv.dataset) \(reference.scoring): chose \(choice.C), GridSearchCV \(reference.best_C); means \(choice.meanScores) vs \(reference.mean_test_score)")
            }
        }
    }

    @Test func fitAndPredictWithGridChoosesOnTrainingRowsOnly() throws {
        let cv = AblationReference.shared.cross_validation[0]
        let (x, labels) = try AblationReference.data(cv)
        let classes = Array(Set(labels)).sorted()
        let (train, test) = StratifiedKFold.split(cv.assignment, fold: 0)
        let fit = try ModelSelection.fitAndPredict(features: x, labels: labels, classes: classes, trainRows: train, evalRows: test,
                                                   options: .init(), grid: ModelSelection.defaultGrid, innerFolds: 3, innerSeed: 9)
        // The same choice as a grid search run by hand on the training rows with the same inner folds.
        let inner = try StratifiedKFold.assign(labels: train.map { labels[$0] }, folds: 3, seed: 9)
        let byHand = try ModelSelection.chooseC(features: x.selectingRows(train), labels: train.map { labels[$0] }, classes: classes,
                                                grid: ModelSelection.defaultGrid, folds: inner, options: .init(), metric: .accuracy)
        #expect(fit.C == byHand.C && fit.gridScores == byHand.meanScores)
        // Changing the held-out rows' labels cannot change the choice (no peeking).
        var shuffled = labels
        for r in test { shuffled[r] = classes[(classes.firstIndex(of: labels[r])! + 1) % classes.count] }
        let blind = try ModelSelection.fitAndPredict(features: x, labels: shuffled, classes: classes, trainRows: train, evalRows: test,
                                                     options: .init(), grid: ModelSelection.defaultGrid, innerFolds: 3, innerSeed: 9)
        #expect(blind.C == fit.C && blind.gridScores == fit.gridScores)
        #expect(blind.predictions.predicted == fit.predictions.predicted)
    }

    @Test func mcnemarMatchesStatsmodels() {
        for t in AblationReference.shared.mcnemar {
            let p = SignificanceTests.mcnemarExact(b: t.b, c: t.c)
            #expect(abs(p - t.p) <= 1e-12 + 1e-9 * t.p, "b=\(t.b) c=\(t.c): \(p) vs statsmodels \(t.p)")
            #expect(p == SignificanceTests.mcnemarExact(b: t.c, c: t.b))
        }
        #expect(SignificanceTests.discordantPairs(truth: [0, 1, 1, 0, 1], a: [0, 1, 0, 1, 1], b: [1, 1, 1, 1, 0]) == (2, 1))
    }

    @Test func pairedTTestsMatchScipy() {
        for t in AblationReference.shared.t_tests {
            let plain = SignificanceTests.pairedTTest(differences: t.differences)
            #expect(abs(plain.t - t.t) <= 1e-9 * max(1, abs(t.t)))
            #expect(abs(plain.p - t.p) <= 1e-9, "plain p \(plain.p) vs scipy \(t.p)")
            let corrected = SignificanceTests.pairedTTest(differences: t.differences, testTrainRatio: t.ratio)
            #expect(abs(corrected.t - t.corrected_t) <= 1e-9 * max(1, abs(t.corrected_t)))
            #expect(abs(corrected.p - t.corrected_p) <= 1e-9, "corrected p \(corrected.p) vs scipy \(t.corrected_p)")
            #expect(corrected.p >= plain.p)  // the correction only widens
        }
        #expect(SignificanceTests.pairedTTest(differences: [0, 0, 0]).p == 1)
        #expect(SignificanceTests.pairedTTest(differences: [0.1]).p == 1)
    }

    @Test func rocAUCMatchesScikitLearn() throws {
        let reference = AblationReference.shared.roc_auc
        let proba = try NpyReader.readMatrix(path: Fixtures.path(reference.scores_file))
        let labels = try LabelsFile.read(path: Fixtures.path("binary_labels.txt"))
        let truth = labels.map { $0 == "pos" ? 1 : 0 }
        let scores = (0..<proba.rows).map { Double(proba.values[$0 * proba.columns + 1]) }
        let p = CodedPredictions(truth: truth, predicted: scores.map { $0 >= 0.5 ? 1 : 0 }, positiveScores: scores, classCount: 2)
        #expect(abs(p.rocAUC()! - reference.auc) <= 1e-6)  // the fixture is float64, read as Float32
        let rounded = scores.map { ($0 * 100).rounded() / 100 }
        let tied = CodedPredictions(truth: truth, predicted: p.predicted, positiveScores: rounded, classCount: 2)
        #expect(abs(tied.rocAUC()! - reference.rounded_2_decimals_auc) <= 1e-12)
        // Weights of 2 on every row change nothing; a resample's weights equal duplicating its rows.
        #expect(abs(tied.rocAUC(weights: [Int](repeating: 2, count: truth.count))! - tied.rocAUC()!) <= 1e-12)
        let weights = Bootstrap.counts(rows: truth.count, seed: 4, index: 0)
        let expanded = truth.indices.flatMap { [Int](repeating: $0, count: weights[$0]) }
        #expect(abs(tied.rocAUC(weights: weights)! - tied.subset(expanded).rocAUC()!) <= 1e-12)
        #expect(abs(tied.macroF1(weights: weights) - tied.subset(expanded).macroF1()) <= 1e-12)
        #expect(CodedPredictions(truth: [1, 1], predicted: [1, 1], positiveScores: [0.2, 0.3], classCount: 2).rocAUC() == nil)
    }

    @Test func bootstrapIntervalIsDeterministicAndCoversTheEstimate() {
        var truth: [Int] = [], predicted: [Int] = []
        for i in 0..<2000 { truth.append(i % 2); predicted.append(i % 10 < 8 ? i % 2 : 1 - i % 2) }  // 80% right
        let p = CodedPredictions(truth: truth, predicted: predicted, classCount: 2)
        func ci(_ seed: UInt64) -> ConfidenceInterval? {
            Bootstrap.interval(rows: truth.count, resamples: 500, seed: seed, method: "test") { p.accuracy(weights: $0) }
        }
        let a = ci(1)!, b = ci(1)!, c = ci(2)!
        #expect(a == b)
        #expect(a != c)
        #expect(a.lower < 0.8 && 0.8 < a.upper)
        // Binomial standard error sqrt(0.8 * 0.2 / 2000) = 0.0089: a 95% interval is about ±0.0175.
        #expect(abs((a.upper - a.lower) - 2 * 1.96 * 0.008944) < 0.006, "\(a)")
        #expect(Bootstrap.percentile([1, 2, 3, 4], 0.5) == 2.5)
        #expect(Bootstrap.percentile([1, 2, 3, 4], 0.025) == 1.075)
    }

    @Test func lengthBuckets() {
        let b = LengthBuckets(edges: [64, 32, 128])
        #expect(b.labels == ["≤ 32", "33–64", "65–128", "> 128"])
        #expect([1, 32, 33, 64, 65, 128, 129, 512].map(b.bucket) == [0, 0, 1, 1, 2, 2, 3, 3])
        let q = LengthBuckets.quartiles(of: Array(1...100))
        #expect(q.edges == [25, 50, 75])
        #expect(LengthBuckets.quartiles(of: [5, 5, 5, 5, 9]).edges == [5])
        #expect(LengthBuckets.quartiles(of: [7, 7, 7]).labels == ["all"])
    }
}

/// The whole cross-validated ablation on the parity data: three "combinations" of different quality.
@Suite struct CrossValidatedAblationTests {
    static func candidates() throws -> (features: [FeatureMatrix], names: [AblationCandidate], labels: [String]) {
        let (x, labels) = try Fixtures.dataset("multi")
        let rows = 1500
        let full = try Fixtures.slice(x, 0..<rows)
        var weak: [Float] = [], noise: [Float] = []
        var rng = SplitMix64(seed: 5)
        for r in 0..<rows {
            weak += full.values[(r * 50 + 4)..<(r * 50 + 8)]
            noise += (0..<6).map { _ in Float(rng.next() % 1000) / 1000 }
        }
        return ([full, try FeatureMatrix(values: weak, rows: rows, columns: 4), try FeatureMatrix(values: noise, rows: rows, columns: 6)],
                [AblationCandidate(name: "all@L1", pooling: "mean", layer: "L1"),
                 AblationCandidate(name: "four@L1", pooling: "max", layer: "L1"),
                 AblationCandidate(name: "noise@L2", pooling: "mean", layer: "L2")],
                Array(labels[0..<rows]))
    }

    @Test func crossValidationWithoutTestSet() throws {
        let (features, names, labels) = try Self.candidates()
        let cv = AblationReference.shared.cross_validation[0]  // multi, 5 folds, seed 3, first 1000 rows
        var settings = AblationSettings()
        settings.folds = 5; settings.seed = 3; settings.bootstrap = 300
        settings.options = .init(C: 1)
        let trainFeatures = try features.map { try $0.selectingRows(Array(0..<1000)) }
        let groups = (0..<1000).map { $0 % 3 == 0 ? "news" : "web" }
        let tokens = (0..<1000).map { 5 + $0 % 40 }
        var lines: [String] = []
        let lock = NSLock()
        let report = try CrossValidatedAblation.evaluate(
            features: trainFeatures, candidates: names, trainLabels: Array(labels[0..<1000]), testLabels: [],
            trainGroups: groups, groupColumn: "source", tokenCounts: tokens, settings: settings) { line in
            lock.lock(); lines.append(line); lock.unlock()
        }
        let context = try #require(report.context)
        #expect(context.foldAssignment == [cv.assignment])
        #expect(report.best.combination == "all@L1")
        let best = report.best
        // The per-fold accuracies are scikit-learn's (C = 1) within 0.5 points.
        let sklearn = cv.per_fold.first { $0.C == 1 }!.accuracy
        for (ours, theirs) in zip(best.cvAccuracy!.values, sklearn) { #expect(abs(ours - theirs) <= 0.005) }
        #expect(abs(best.accuracy - best.cvAccuracy!.mean) < 1e-12)
        #expect(best.verdict == "best" && best.pValue == nil)
        let noise = report.ranked.first { $0.combination == "noise@L2" }!
        #expect(report.ranked.last?.combination == "noise@L2")
        #expect((noise.pValue ?? 1) < 0.05 && noise.verdict!.hasPrefix("worse (p = "))
        // Without a test set the verdict's test is the corrected t-test over the per-fold differences.
        let differences = zip(best.cvAccuracy!.values, noise.cvAccuracy!.values).map { $0 - $1 }
        #expect(noise.pValue == SignificanceTests.pairedTTest(differences: differences, testTrainRatio: 0.25).p)
        #expect(noise.cvPValue == noise.pValue)
        // Interval over the out-of-fold predictions brackets the pooled out-of-fold accuracy.
        let ci = try #require(best.interval)
        #expect(ci.lower < best.accuracy && best.accuracy < ci.upper)
        // Slices: 4 length quartiles and 2 groups, counts adding up to the rows.
        #expect(context.lengthBuckets.count == 4 && context.groups == ["news", "web"])
        #expect(best.byLength!.map(\.rows).reduce(0, +) == 1000 && best.byGroup!.map(\.rows).reduce(0, +) == 1000)
        #expect(lines.filter { $0.contains("trained ") }.count == 15)
        #expect(report.answer().hasPrefix("all@L1 is the best of 3 combinations by accuracy: "))
        #expect(report.answer().contains("95% CI"))
    }

    @Test func testSetWithAutoC() throws {
        let (features, names, labels) = try Self.candidates()
        var settings = AblationSettings()
        settings.folds = 3; settings.seed = 1; settings.bootstrap = 200
        settings.cGrid = [0.01, 1]; settings.innerFolds = 2
        let report = try CrossValidatedAblation.evaluate(
            features: features, candidates: names, trainLabels: Array(labels[0..<1000]), testLabels: Array(labels[1000...]),
            settings: settings)
        let best = report.best
        #expect(best.combination == "all@L1")
        #expect(best.foldC?.count == 3 && best.foldC!.allSatisfy { [0.01, 1].contains($0) })
        #expect(best.chosenC != nil)
        // The headline is the test set, scored by the model refitted on all 1000 training rows with its chosen C.
        let classes = Array(Set(labels)).sorted()
        let refit = try ModelSelection.fitAndPredict(features: features[0], labels: labels, classes: classes,
                                                     trainRows: Array(0..<1000), evalRows: Array(1000..<1500),
                                                     options: .init(C: best.chosenC!))
        #expect(refit.predictions.accuracy() == best.accuracy)
        // McNemar against the best on the test rows.
        let weak = report.ranked.first { $0.combination == "four@L1" }!
        let weakFit = try ModelSelection.fitAndPredict(features: features[1], labels: labels, classes: classes,
                                                       trainRows: Array(0..<1000), evalRows: Array(1000..<1500),
                                                       options: .init(C: weak.chosenC!))
        let d = SignificanceTests.discordantPairs(truth: refit.predictions.truth, a: refit.predictions.predicted,
                                                  b: weakFit.predictions.predicted)
        #expect(weak.pValue == SignificanceTests.mcnemarExact(b: d.b, c: d.c))
        #expect(weak.cvPValue != nil && weak.cvPValue != weak.pValue)
        #expect(report.markdown().contains("| CV p vs best |"))
        #expect(report.context?.significanceMethod.contains("McNemar") == true)
        #expect(report.context?.lengthBuckets.isEmpty == true && best.byLength == nil)
    }

    @Test func repeatsAndROCAUCRanking() throws {
        let (x, labels) = try Fixtures.dataset("binary")
        let rows = Array(0..<600)
        let full = try x.selectingRows(rows)
        let firstColumns = try FeatureMatrix(values: rows.flatMap { r in Array(x.values[(r * 30)..<(r * 30 + 3)]) }, rows: 600, columns: 3)
        var settings = AblationSettings()
        settings.folds = 4; settings.repeats = 2; settings.seed = 2; settings.bootstrap = 100; settings.metric = .rocAUC
        let report = try CrossValidatedAblation.evaluate(
            features: [full, firstColumns], candidates: [AblationCandidate(name: "all", pooling: "mean", layer: "L1"),
                                                         AblationCandidate(name: "three", pooling: "mean", layer: "L2")],
            trainLabels: rows.map { labels[$0] }, testLabels: [], tokenCounts: rows.map { $0 % 50 }, settings: settings)
        let context = try #require(report.context)
        #expect(context.foldAssignment.count == 2 && context.foldAssignment[0] != context.foldAssignment[1])
        #expect(context.foldAssignment[1] == (try StratifiedKFold.assign(labels: rows.map { labels[$0] }, folds: 4, seed: 3)))
        let best = report.best
        #expect(best.combination == "all" && best.cvRocAUC?.values.count == 8 && best.cvAccuracy?.values.count == 8)
        #expect(best.rocAUC == best.cvRocAUC?.mean)
        // Out-of-fold slices count every row once per repeat.
        #expect(best.byLength?.map(\.rows).reduce(0, +) == 1200)
        let ci = try #require(best.interval)
        #expect(ci.lower > 0.5 && ci.upper <= 1 && ci.lower < ci.upper)
        #expect(report.answer().contains("by ROC AUC: 0."))
    }

    @Test func badInputsAreClearErrors() throws {
        let (features, names, labels) = try Self.candidates()
        var settings = AblationSettings()
        settings.folds = 0
        #expect(throws: ClassifierError.self) {
            try CrossValidatedAblation.evaluate(features: features, candidates: names, trainLabels: labels, testLabels: [], settings: settings)
        }
        settings.folds = 5
        settings.metric = .rocAUC
        let error = #expect(throws: ClassifierError.self) {
            try CrossValidatedAblation.evaluate(features: features, candidates: names, trainLabels: labels, testLabels: [], settings: settings)
        }
        #expect(error?.description.contains("two classes") == true)
        settings.metric = .accuracy
        let unknown = #expect(throws: ClassifierError.self) {
            try CrossValidatedAblation.evaluate(features: features, candidates: names, trainLabels: Array(labels[0..<1499]),
                                                testLabels: ["zebra"], settings: settings)
        }
        #expect(unknown?.description.contains("'zebra'") == true)
    }
}
