import Foundation

/// Predictions of one classifier on a list of rows, with classes as indices into a shared class list.
/// Optional per-row weights (bootstrap counts) let every score be computed on a resample without copying.
public struct CodedPredictions: Sendable, Equatable, Codable {
    /// True class index per row, `[N]`.
    public var truth: [Int]
    /// Predicted class index per row, `[N]`.
    public var predicted: [Int]
    /// Probability of class 1 per row, `[N]`, for two-class problems (used by ROC AUC); nil otherwise.
    public var positiveScores: [Double]?
    /// Number of classes the indices refer to.
    public var classCount: Int

    public init(truth: [Int], predicted: [Int], positiveScores: [Double]? = nil, classCount: Int) {
        self.truth = truth; self.predicted = predicted; self.positiveScores = positiveScores; self.classCount = classCount
    }

    public var count: Int { truth.count }

    /// Fraction of (weighted) rows predicted correctly.
    public func accuracy(weights: [Int]? = nil) -> Double {
        var hits = 0, total = 0
        for i in truth.indices {
            let w = weights?[i] ?? 1
            total += w
            if truth[i] == predicted[i] { hits += w }
        }
        return total > 0 ? Double(hits) / Double(total) : 0
    }

    /// Macro-F1 over the classes present in the true or predicted labels (scikit-learn's
    /// `f1_score(average='macro', zero_division=0)`).
    public func macroF1(weights: [Int]? = nil) -> Double {
        let k = classCount
        var tp = [Int](repeating: 0, count: k), trueCount = tp, predictedCount = tp
        for i in truth.indices {
            let w = weights?[i] ?? 1
            trueCount[truth[i]] += w
            predictedCount[predicted[i]] += w
            if truth[i] == predicted[i] { tp[truth[i]] += w }
        }
        var sum = 0.0, present = 0
        for c in 0..<k where trueCount[c] > 0 || predictedCount[c] > 0 {
            present += 1
            let denominator = trueCount[c] + predictedCount[c]
            sum += denominator > 0 ? 2 * Double(tp[c]) / Double(denominator) : 0
        }
        return present > 0 ? sum / Double(present) : 0
    }

    /// ROC AUC of `positiveScores` for class 1 (Mann–Whitney U with ties counted one half, as scikit-learn's
    /// `roc_auc_score`); nil without scores, with more than two classes, or when one class is absent.
    /// `order` (row indices sorted by score) may be passed to avoid re-sorting on every bootstrap resample.
    public func rocAUC(weights: [Int]? = nil, order: [Int]? = nil) -> Double? {
        guard classCount == 2, let scores = positiveScores else { return nil }
        let sorted = order ?? scoreOrder()
        var negativesBelow = 0.0, area = 0.0, positives = 0.0, negatives = 0.0
        var i = 0
        while i < sorted.count {
            var j = i
            var groupPositives = 0.0, groupNegatives = 0.0
            while j < sorted.count && scores[sorted[j]] == scores[sorted[i]] {
                let row = sorted[j]
                let w = Double(weights?[row] ?? 1)
                if truth[row] == 1 { groupPositives += w } else { groupNegatives += w }
                j += 1
            }
            area += groupPositives * (negativesBelow + 0.5 * groupNegatives)
            negativesBelow += groupNegatives
            positives += groupPositives
            negatives += groupNegatives
            i = j
        }
        guard positives > 0, negatives > 0 else { return nil }
        return area / (positives * negatives)
    }

    /// Row indices sorted by ascending positive score (stable).
    public func scoreOrder() -> [Int] {
        guard let scores = positiveScores else { return Array(truth.indices) }
        return truth.indices.sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    }

    /// The score named by `metric` (ROC AUC falls back to nil where undefined).
    public func score(_ metric: RankingMetric, weights: [Int]? = nil, order: [Int]? = nil) -> Double? {
        switch metric {
        case .accuracy: return accuracy(weights: weights)
        case .macroF1: return macroF1(weights: weights)
        case .rocAUC: return rocAUC(weights: weights, order: order)
        }
    }

    /// Rows `indices` of these predictions.
    public func subset(_ indices: [Int]) -> CodedPredictions {
        CodedPredictions(truth: indices.map { truth[$0] }, predicted: indices.map { predicted[$0] },
                         positiveScores: positiveScores.map { s in indices.map { s[$0] } }, classCount: classCount)
    }
}

/// A confidence interval of a score.
public struct ConfidenceInterval: Codable, Sendable, Equatable {
    public var lower: Double
    public var upper: Double
    /// Coverage, e.g. 0.95.
    public var level: Double
    /// How it was computed, in words (e.g. "percentile bootstrap over 2,113 test rows, 1000 resamples").
    public var method: String

    public init(lower: Double, upper: Double, level: Double, method: String) {
        self.lower = lower; self.upper = upper; self.level = level; self.method = method
    }
}

/// Percentile bootstrap over rows: each resample draws N rows with replacement (seeded SplitMix64), expressed
/// as per-row counts so that every classifier compared is scored on the **same** resampled rows.
public enum Bootstrap {
    /// Per-row counts of resample `index` of `rows` rows for `seed` (deterministic, independent of the caller).
    public static func counts(rows: Int, seed: UInt64, index: Int) -> [Int] {
        var generator = SplitMix64(seed: seed &+ 0x5EED_0000 &+ UInt64(index) &* 0x9E37_79B9)
        var c = [Int](repeating: 0, count: rows)
        for _ in 0..<rows { c[Int(generator.next() % UInt64(rows))] += 1 }
        return c
    }

    /// `level` percentile interval of `statistic` over `resamples` resamples (numpy's linear-interpolation
    /// percentiles of the resampled values). Resamples where the statistic is undefined (nil) are skipped.
    public static func interval(rows: Int, resamples: Int, seed: UInt64, level: Double = 0.95,
                                method: String, statistic: ([Int]) -> Double?) -> ConfidenceInterval? {
        guard rows > 0, resamples > 0 else { return nil }
        var values: [Double] = []
        values.reserveCapacity(resamples)
        for b in 0..<resamples {
            if let v = statistic(counts(rows: rows, seed: seed, index: b)) { values.append(v) }
        }
        guard !values.isEmpty else { return nil }
        values.sort()
        let alpha = (1 - level) / 2
        return ConfidenceInterval(lower: percentile(values, alpha), upper: percentile(values, 1 - alpha),
                                  level: level, method: method)
    }

    /// Linear-interpolation percentile of sorted values (numpy's default), q in [0, 1].
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard sorted.count > 1 else { return sorted.first ?? .nan }
        let position = q * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }
}
