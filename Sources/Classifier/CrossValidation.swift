import Foundation

/// Stratified K-fold assignment of labelled rows.
public enum StratifiedKFold {
    /// Fold index (0..<folds) of every row. In each class (sorted label order) the rows are shuffled with a
    /// seeded SplitMix64 generator and dealt to the folds in turn, the deal continuing across classes, so every
    /// fold gets each class's rows within one and the fold sizes differ by at most one.
    public static func assign(labels: [String], folds: Int, seed: UInt64) throws -> [Int] {
        guard folds >= 2 else { throw ClassifierError.invalidOption("cross-validation needs at least 2 folds, got \(folds)") }
        guard labels.count >= folds else {
            throw ClassifierError.invalidOption("\(folds)-fold cross-validation needs at least \(folds) rows, got \(labels.count)")
        }
        var assignment = [Int](repeating: 0, count: labels.count)
        var next = 0
        for rows in SplitMix64.shuffledRowsByClass(labels: labels, seed: seed) {
            for r in rows {
                assignment[r] = next
                next = (next + 1) % folds
            }
        }
        return assignment
    }

    /// Rows (positions in the assignment) of fold `fold` and of all other folds.
    public static func split(_ assignment: [Int], fold: Int) -> (train: [Int], test: [Int]) {
        var train: [Int] = [], test: [Int] = []
        for (i, f) in assignment.enumerated() { if f == fold { test.append(i) } else { train.append(i) } }
        return (train, test)
    }
}

/// One fitted classifier's predictions on some rows, with classes coded against a shared class list.
public struct FoldFit: Sendable {
    /// Predictions on the evaluation rows (class indices into the shared list).
    public var predictions: CodedPredictions
    /// The C used.
    public var C: Double
    /// Mean inner cross-validation score per grid entry when C was chosen by grid search; empty otherwise.
    public var gridScores: [Double]
    public var trainSeconds: Double
    public var converged: Bool
}

/// Fitting standardised L2 logistic regressions on row subsets, with C fixed or chosen by inner CV.
public enum ModelSelection {
    /// The default `--C auto` grid: 10^-3, 10^-2, ..., 10^2 (six values).
    public static let defaultGrid: [Double] = [0.001, 0.01, 0.1, 1, 10, 100]

    /// Fits on `trainRows` of `features` and predicts `evalRows`. Labels are coded against `classes` (every
    /// label must be in it). With a `grid`, C is chosen first by `innerFolds`-fold stratified CV on the
    /// training rows only (seed `innerSeed`), maximising the mean of `metric` over the inner folds (first
    /// best in grid order, as GridSearchCV's rank 1), then the model is refitted on all training rows.
    public static func fitAndPredict(features: FeatureMatrix, labels: [String], classes: [String],
                                     trainRows: [Int], evalRows: [Int], options: LogisticRegressionOptions,
                                     grid: [Double]? = nil, innerFolds: Int = 3, innerSeed: UInt64 = 0,
                                     metric: RankingMetric = .accuracy) throws -> FoldFit {
        let start = Date()
        let x = try features.selectingRows(trainRows)
        let y = trainRows.map { labels[$0] }
        var options = options
        var gridScores: [Double] = []
        if let grid, !grid.isEmpty {
            let inner = try StratifiedKFold.assign(labels: y, folds: innerFolds, seed: innerSeed)
            let choice = try chooseC(features: x, labels: y, classes: classes, grid: grid, folds: inner,
                                     options: options, metric: metric)
            options.C = choice.C
            gridScores = choice.meanScores
        }
        let model = try LogisticRegression.train(features: x, labels: y, options: options, quiet: true)
        let predictions = try predict(model: model, features: try features.selectingRows(evalRows),
                                      truth: evalRows.map { labels[$0] }, classes: classes)
        return FoldFit(predictions: predictions, C: options.C, gridScores: gridScores,
                       trainSeconds: Date().timeIntervalSince(start), converged: model.converged)
    }

    /// Grid search over C with the given fold assignment of the rows of `features` (GridSearchCV with a
    /// predefined split): for every C, the mean over folds of `metric` on the held-out fold; the best C is the
    /// first of the highest mean in grid order.
    public static func chooseC(features: FeatureMatrix, labels: [String], classes: [String], grid: [Double],
                               folds: [Int], options: LogisticRegressionOptions,
                               metric: RankingMetric) throws -> (C: Double, meanScores: [Double]) {
        guard !grid.isEmpty else { throw ClassifierError.invalidOption("the C grid is empty") }
        let foldCount = (folds.max() ?? -1) + 1
        var splits: [(train: FeatureMatrix, trainLabels: [String], test: FeatureMatrix, testLabels: [String])] = []
        for f in 0..<foldCount {
            let (train, test) = StratifiedKFold.split(folds, fold: f)
            guard !train.isEmpty, !test.isEmpty else { continue }
            splits.append((try features.selectingRows(train), train.map { labels[$0] },
                           try features.selectingRows(test), test.map { labels[$0] }))
        }
        var means: [Double] = []
        for c in grid {
            var o = options
            o.C = c
            var sum = 0.0
            for s in splits {
                let model = try LogisticRegression.train(features: s.train, labels: s.trainLabels, options: o, quiet: true)
                let p = try predict(model: model, features: s.test, truth: s.testLabels, classes: classes)
                sum += p.score(metric) ?? 0
            }
            means.append(splits.isEmpty ? 0 : sum / Double(splits.count))
        }
        var best = 0
        for i in means.indices where means[i] > means[best] { best = i }
        return (grid[best], means)
    }

    /// Predictions of `model` coded against `classes`; for two classes, the probability of `classes[1]`.
    public static func predict(model: LogisticRegressionModel, features: FeatureMatrix, truth: [String],
                               classes: [String]) throws -> CodedPredictions {
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let probabilities = try model.predictProbabilities(features)
        var predicted: [Int] = [], truthCodes: [Int] = []
        var positive: [Double]? = classes.count == 2 ? [] : nil
        for (r, p) in probabilities.enumerated() {
            guard let t = index[truth[r]] else { throw ClassifierError.unknownLabel(label: truth[r], line: nil, known: classes) }
            truthCodes.append(t)
            guard let code = index[model.classes[LogisticRegressionModel.argmax(p)]] else {
                throw ClassifierError.unknownLabel(label: model.classes[LogisticRegressionModel.argmax(p)], line: nil, known: classes)
            }
            predicted.append(code)
            if classes.count == 2 {
                // The model may have seen only one class; p(classes[1]) is then 0 or 1.
                let k = model.classes.firstIndex(of: classes[1])
                positive?.append(k.map { p[$0] } ?? 0)
            }
        }
        return CodedPredictions(truth: truthCodes, predicted: predicted, positiveScores: positive,
                                classCount: classes.count)
    }
}
