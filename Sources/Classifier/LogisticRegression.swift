import Foundation

/// Class weighting for training.
public enum ClassWeighting: String, Codable, Sendable {
    /// Every sample has weight 1.
    case none
    /// Weight `n_samples / (n_classes * count(class))`, as scikit-learn's `class_weight='balanced'`.
    case balanced
}

/// Training options; defaults match scikit-learn's `LogisticRegression` except `maxIterations` (1000 instead of 100).
public struct LogisticRegressionOptions: Sendable {
    /// Inverse L2 strength: objective = C * sum_i w_i * crossEntropy_i + 0.5 * ||W||^2 (intercepts not penalised).
    public var C: Double = 1.0
    public var maxIterations: Int = 1000
    /// Stop when the largest absolute gradient entry of the scaled objective (objective / (C * sum of weights),
    /// which is what scikit-learn minimises) is at most this.
    public var tolerance: Double = 1e-4
    public var classWeighting: ClassWeighting = .none
    /// L-BFGS memory (number of correction pairs).
    public var memory: Int = 10
    public init(C: Double = 1.0, maxIterations: Int = 1000, tolerance: Double = 1e-4,
                classWeighting: ClassWeighting = .none, memory: Int = 10) {
        self.C = C
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.classWeighting = classWeighting
        self.memory = memory
    }
}

/// A trained multinomial (or, with two classes, binomial) logistic regression on standardised features.
///
/// With two classes there is one weight vector for `classes[1]` (scikit-learn's binary formulation);
/// with K > 2 classes there are K weight vectors (softmax). Weights act on standardised features
/// `(x - featureMean) / featureScale`.
public struct LogisticRegressionModel: Codable, Sendable, Equatable {
    /// Sorted unique training labels.
    public var classes: [String]
    /// Per-feature mean of the training data, `[D]`.
    public var featureMean: [Double]
    /// Per-feature population standard deviation, `[D]` (1 for constant features).
    public var featureScale: [Double]
    /// Weight vectors, `[1, D]` for binary, `[K, D]` otherwise.
    public var weights: [[Double]]
    /// Intercepts, `[1]` for binary, `[K]` otherwise.
    public var intercepts: [Double]
    public var C: Double
    public var classWeighting: ClassWeighting
    public var tolerance: Double
    public var maxIterations: Int
    /// L-BFGS iterations used.
    public var iterations: Int
    /// Objective + gradient evaluations used (iterations plus extra line-search steps).
    public var functionEvaluations: Int
    /// False when training stopped at the iteration limit or the line search failed.
    public var converged: Bool
    public var stopReason: LBFGSStatus
    /// Number of training rows per class, `[K]`, in `classes` order.
    public var trainingClassCounts: [Int]
    /// Final value of the scaled objective (what scikit-learn reports as the loss).
    public var finalLoss: Double

    /// Number of input features `D`.
    public var featureCount: Int { featureMean.count }

    /// Class probabilities for each row, `[N][K]`, rows summing to 1.
    public func predictProbabilities(_ features: FeatureMatrix) throws -> [[Double]] {
        guard features.columns == featureCount else {
            throw ClassifierError.featureDimensionMismatch(expected: featureCount, actual: features.columns)
        }
        let d = featureCount
        var result: [[Double]] = []
        result.reserveCapacity(features.rows)
        var standardized = [Double](repeating: 0, count: d)
        for r in 0..<features.rows {
            for j in 0..<d {
                let v = features.values[r * d + j]
                guard v.isFinite else { throw ClassifierError.nonFiniteFeature(row: r, column: j) }
                standardized[j] = (Double(v) - featureMean[j]) / featureScale[j]
            }
            var logits = [Double](repeating: 0, count: weights.count)
            for k in 0..<weights.count {
                var s = intercepts[k]
                let w = weights[k]
                for j in 0..<d { s += w[j] * standardized[j] }
                logits[k] = s
            }
            result.append(Self.probabilities(fromLogits: logits))
        }
        return result
    }

    /// Most probable class label per row (ties go to the earlier class, like numpy argmax).
    public func predict(_ features: FeatureMatrix) throws -> [String] {
        try predictProbabilities(features).map { classes[Self.argmax($0)] }
    }

    static func probabilities(fromLogits logits: [Double]) -> [Double] {
        if logits.count == 1 {
            let z = logits[0]
            let p1 = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))
            return [1 - p1, p1]
        }
        let m = logits.max() ?? 0
        let e = logits.map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func argmax(_ values: [Double]) -> Int {
        var best = 0
        for i in 1..<values.count where values[i] > values[best] { best = i }
        return best
    }

    /// Writes the model as pretty-printed JSON.
    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: path))
        } catch {
            throw ClassifierError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    /// Reads and validates a model written by `save(to:)`.
    public static func load(from path: String) throws -> LogisticRegressionModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClassifierError.modelFile(path: path, reason: "cannot read (missing or unreadable)")
        }
        let model: LogisticRegressionModel
        do {
            model = try JSONDecoder().decode(LogisticRegressionModel.self, from: data)
        } catch {
            throw ClassifierError.modelFile(path: path, reason: "not a valid model JSON: \(error)")
        }
        let d = model.featureMean.count, k = model.classes.count
        let vectors = k == 2 ? 1 : k
        guard k >= 2 else { throw ClassifierError.modelFile(path: path, reason: "needs at least 2 classes, has \(k)") }
        guard Set(model.classes).count == k else { throw ClassifierError.modelFile(path: path, reason: "duplicate class names") }
        guard model.featureScale.count == d, model.weights.count == vectors, model.intercepts.count == vectors,
              model.weights.allSatisfy({ $0.count == d }) else {
            throw ClassifierError.modelFile(path: path, reason:
                "inconsistent shapes: \(k) classes, mean[\(d)], scale[\(model.featureScale.count)], "
                + "weights[\(model.weights.count)][\(model.weights.first?.count ?? 0)], intercepts[\(model.intercepts.count)]")
        }
        guard model.featureScale.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ClassifierError.modelFile(path: path, reason: "featureScale must be positive and finite")
        }
        return model
    }
}

/// Trains `LogisticRegressionModel`s with L-BFGS.
public enum LogisticRegression {
    /// Trains on `features` `[N, D]` with one label per row. Labels become classes in sorted order.
    /// Deterministic: the gradient is summed over fixed row chunks in a fixed order, whatever the thread count.
    /// `quiet` suppresses the non-convergence warning on standard error (the model's `converged` still says).
    public static func train(features: FeatureMatrix, labels: [String],
                             options: LogisticRegressionOptions = LogisticRegressionOptions(),
                             quiet: Bool = false) throws -> LogisticRegressionModel {
        guard features.rows == labels.count else {
            throw ClassifierError.rowCountMismatch(featureRows: features.rows, labelCount: labels.count)
        }
        guard features.rows > 0 else { throw ClassifierError.emptyTrainingSet }
        guard options.C > 0, options.C.isFinite else { throw ClassifierError.invalidOption("C must be positive, got \(options.C)") }
        guard options.maxIterations >= 1 else { throw ClassifierError.invalidOption("max iterations must be >= 1") }
        guard options.tolerance >= 0 else { throw ClassifierError.invalidOption("tolerance must be >= 0") }
        guard options.memory >= 1 else { throw ClassifierError.invalidOption("L-BFGS memory must be >= 1") }
        let classes = Array(Set(labels)).sorted()
        guard classes.count >= 2 else { throw ClassifierError.singleClass(label: classes[0]) }
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let targets = labels.map { Int32(classIndex[$0]!) }
        var counts = [Int](repeating: 0, count: classes.count)
        for t in targets { counts[Int(t)] += 1 }

        let n = features.rows, d = features.columns
        let (mean, scale, standardized) = try standardize(features)

        var sampleWeights: [Double]? = nil
        if options.classWeighting == .balanced {
            let classWeight = counts.map { Double(n) / (Double(classes.count) * Double($0)) }
            sampleWeights = targets.map { classWeight[Int($0)] }
        }
        let weightSum = sampleWeights.map { w in w.reduce(0, +) } ?? Double(n)

        let problem = LogisticObjective(
            features: standardized, rows: n, columns: d, targets: targets, sampleWeights: sampleWeights,
            classCount: classes.count, l2Strength: 1 / (options.C * weightSum), weightSum: weightSum)
        var lbfgs = LBFGSOptions()
        lbfgs.memory = options.memory
        lbfgs.maxIterations = options.maxIterations
        lbfgs.gradientTolerance = options.tolerance
        let result = LBFGS.minimize(start: [Double](repeating: 0, count: problem.parameterCount), options: lbfgs) { x, g in
            problem.evaluate(x, gradient: &g)
        }
        let stride = d + 1
        var weights: [[Double]] = [], intercepts: [Double] = []
        for k in 0..<problem.vectorCount {
            weights.append(Array(result.x[(k * stride)..<(k * stride + d)]))
            intercepts.append(result.x[k * stride + d])
        }
        if !result.converged && !quiet {
            let reason = result.status == .maxIterations
                ? "reached the iteration limit (\(options.maxIterations)) before the tolerance \(options.tolerance); "
                  + "increase max iterations"
                : "line search failed after \(result.iterations) iterations"
            // fputs, not FileHandle.write: a full stderr (2>/dev/full) must not trap (issue 16).
            fputs("warning: logistic regression did not converge: \(reason)\n", stderr)
        }
        return LogisticRegressionModel(
            classes: classes, featureMean: mean, featureScale: scale, weights: weights, intercepts: intercepts,
            C: options.C, classWeighting: options.classWeighting, tolerance: options.tolerance,
            maxIterations: options.maxIterations, iterations: result.iterations,
            functionEvaluations: result.evaluations, converged: result.converged,
            stopReason: result.status, trainingClassCounts: counts, finalLoss: result.value)
    }

    /// Column means and population standard deviations (Float64, fixed order), and the standardised
    /// matrix in Float32. Constant columns (scikit-learn's rule) get scale 1; a column with all values equal
    /// standardises to exactly 0.
    static func standardize(_ m: FeatureMatrix) throws -> (mean: [Double], scale: [Double], values: [Float]) {
        let n = m.rows, d = m.columns
        var sum = [Double](repeating: 0, count: d)
        var minimum = [Float](repeating: .infinity, count: d), maximum = [Float](repeating: -.infinity, count: d)
        m.values.withUnsafeBufferPointer { x in
            for r in 0..<n {
                let row = r * d
                for j in 0..<d {
                    let v = x[row + j]
                    sum[j] += Double(v)
                    minimum[j] = min(minimum[j], v)
                    maximum[j] = max(maximum[j], v)
                }
            }
        }
        for r in 0..<n { for j in 0..<d where !m.values[r * d + j].isFinite {
            throw ClassifierError.nonFiniteFeature(row: r, column: j)
        } }
        var mean = sum.map { $0 / Double(n) }
        var squares = [Double](repeating: 0, count: d)
        m.values.withUnsafeBufferPointer { x in
            for r in 0..<n {
                let row = r * d
                for j in 0..<d {
                    let c = Double(x[row + j]) - mean[j]
                    squares[j] += c * c
                }
            }
        }
        var scale = [Double](repeating: 1, count: d)
        for j in 0..<d {
            if minimum[j] == maximum[j] {
                mean[j] = Double(minimum[j])
                scale[j] = 1
            } else {
                // scikit-learn's test for a constant feature (`_is_constant_feature`): the variance is within
                // the rounding error of its own computation. A column of tiny but varying values (e.g. a dead
                // dimension of a normalised embedding, ~1e-33) is *not* constant and gets standardised.
                let variance = squares[j] / Double(n)
                let eps = Double.ulpOfOne
                let bound = Double(n) * eps * variance + (Double(n) * mean[j] * eps) * (Double(n) * mean[j] * eps)
                scale[j] = variance <= bound ? 1 : variance.squareRoot()
            }
        }
        var out = [Float](repeating: 0, count: n * d)
        m.values.withUnsafeBufferPointer { x in
            for r in 0..<n {
                let row = r * d
                for j in 0..<d { out[row + j] = Float((Double(x[row + j]) - mean[j]) / scale[j]) }
            }
        }
        return (mean, scale, out)
    }
}
