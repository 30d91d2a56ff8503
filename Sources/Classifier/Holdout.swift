import DataFormats
import Foundation

/// Deterministic train/test splits of labelled rows.
public enum TrainTestSplit {
    /// Stratified split: in each class (sorted label order) the rows are shuffled with a seeded SplitMix64
    /// generator and `round(testFraction * count)` of them go to the test set (at least 1 and at most count-1
    /// when the class has 2+ rows). Returns sorted row indices.
    public static func stratified(labels: [String], testFraction: Double, seed: UInt64)
        throws -> (train: [Int], test: [Int]) {
        guard testFraction > 0, testFraction < 1 else {
            throw ClassifierError.invalidOption("test fraction must be in (0, 1), got \(testFraction)")
        }
        var train: [Int] = [], test: [Int] = []
        for rows in SplitMix64.shuffledRowsByClass(labels: labels, seed: seed) {
            var testCount = Int((testFraction * Double(rows.count)).rounded())
            if rows.count >= 2 { testCount = min(max(testCount, 1), rows.count - 1) } else { testCount = 0 }
            test.append(contentsOf: rows[0..<testCount])
            train.append(contentsOf: rows[testCount...])
        }
        return (train.sorted(), test.sorted())
    }
}

extension SplitMix64 {
    /// The row indices of each class (classes in sorted label order), each class's rows shuffled by Fisher-Yates
    /// with one generator seeded with `seed`, consumed class after class (stable across platforms and Swift
    /// versions): the basis of the stratified split and of the stratified folds.
    static func shuffledRowsByClass(labels: [String], seed: UInt64) -> [[Int]] {
        var byClass: [String: [Int]] = [:]
        for (i, label) in labels.enumerated() { byClass[label, default: []].append(i) }
        var generator = SplitMix64(seed: seed)
        return byClass.keys.sorted().map { label in
            var rows = byClass[label]!
            if rows.count > 1 {
                for i in stride(from: rows.count - 1, to: 0, by: -1) {
                    let j = Int(generator.next() % UInt64(i + 1))
                    rows.swapAt(i, j)
                }
            }
            return rows
        }
    }
}


extension FeatureMatrix {
    /// The rows at `indices` (in that order), shape `[indices.count, columns]`.
    public func selectingRows(_ indices: [Int]) throws -> FeatureMatrix {
        var out: [Float] = []
        out.reserveCapacity(indices.count * columns)
        for i in indices {
            guard i >= 0, i < rows else {
                throw ClassifierError.invalidOption("row index \(i) out of range 0..<\(rows)")
            }
            out.append(contentsOf: values[(i * columns)..<((i + 1) * columns)])
        }
        return try FeatureMatrix(values: out, rows: indices.count, columns: columns)
    }
}

/// Train on one set, evaluate on another (a single holdout; `CrossValidatedAblation` does folds, C search and tests).
public struct HoldoutEvaluation: Sendable {
    public var model: LogisticRegressionModel
    /// Metrics on the test set; the majority baseline uses the training set's most frequent class.
    public var metrics: ClassificationMetrics
    /// Wall-clock training time in seconds (standardisation + L-BFGS).
    public var trainSeconds: Double

    /// Trains on `(trainFeatures, trainLabels)` and evaluates on `(testFeatures, testLabels)`.
    /// Throws `unknownLabel` if a test label never occurs in training.
    public static func run(trainFeatures: FeatureMatrix, trainLabels: [String], testFeatures: FeatureMatrix,
                           testLabels: [String], options: LogisticRegressionOptions = LogisticRegressionOptions())
        throws -> HoldoutEvaluation {
        guard testFeatures.rows == testLabels.count else {
            throw ClassifierError.rowCountMismatch(featureRows: testFeatures.rows, labelCount: testLabels.count)
        }
        let start = Date()
        let model = try LogisticRegression.train(features: trainFeatures, labels: trainLabels, options: options)
        let seconds = Date().timeIntervalSince(start)
        var majority = 0
        for k in model.trainingClassCounts.indices where model.trainingClassCounts[k] > model.trainingClassCounts[majority] {
            majority = k
        }
        let metrics = try ClassificationMetrics.compute(trueLabels: testLabels, predicted: model.predict(testFeatures),
                                                        classes: model.classes, majorityClass: model.classes[majority])
        return HoldoutEvaluation(model: model, metrics: metrics, trainSeconds: seconds)
    }
}
