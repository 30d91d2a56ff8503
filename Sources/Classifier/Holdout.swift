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
        var byClass: [String: [Int]] = [:]
        for (i, label) in labels.enumerated() { byClass[label, default: []].append(i) }
        var generator = SplitMix64(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for label in byClass.keys.sorted() {
            var rows = byClass[label]!
            // Fisher-Yates with our own generator (stable across platforms and Swift versions).
            if rows.count > 1 {
                for i in stride(from: rows.count - 1, to: 0, by: -1) {
                    let j = Int(generator.next() % UInt64(i + 1))
                    rows.swapAt(i, j)
                }
            }
            var testCount = Int((testFraction * Double(rows.count)).rounded())
            if rows.count >= 2 { testCount = min(max(testCount, 1), rows.count - 1) } else { testCount = 0 }
            test.append(contentsOf: rows[0..<testCount])
            train.append(contentsOf: rows[testCount...])
        }
        return (train.sorted(), test.sorted())
    }
}

/// SplitMix64 pseudo-random generator (Steele, Lea & Flood 2014).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
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
