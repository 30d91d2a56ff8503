import Foundation

/// Precision, recall and F1 of one class (0 when undefined, like scikit-learn's `zero_division=0`).
public struct ClassMetrics: Codable, Sendable, Equatable {
    public var label: String
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// Number of rows whose true label is this class.
    public var support: Int
}

/// Confusion matrix: `counts[i][j]` = rows with true class `classes[i]` predicted as `classes[j]`.
public struct ConfusionMatrix: Codable, Sendable, Equatable {
    public var classes: [String]
    public var counts: [[Int]]
    public init(classes: [String], counts: [[Int]]) {
        self.classes = classes
        self.counts = counts
    }
}

/// Classification quality of predictions against true labels.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    /// Fraction of rows predicted correctly, in [0, 1].
    public var accuracy: Double
    /// Unweighted mean of per-class F1 over the classes present in the true or predicted labels
    /// (scikit-learn's `f1_score(average='macro')`).
    public var macroF1: Double
    public var perClass: [ClassMetrics]
    public var confusion: ConfusionMatrix
    /// The class a majority baseline predicts for every row.
    public var majorityClass: String
    /// Accuracy of always predicting `majorityClass`, in [0, 1].
    public var majorityBaselineAccuracy: Double
    public var rowCount: Int

    /// Computes metrics over `classes` (every label must be one of them).
    /// `majorityClass` defaults to the most frequent true label (ties: first in `classes`); pass the training
    /// set's majority class for a train-time baseline.
    public static func compute(trueLabels: [String], predicted: [String], classes: [String],
                               majorityClass: String? = nil) throws -> ClassificationMetrics {
        guard trueLabels.count == predicted.count else {
            throw ClassifierError.rowCountMismatch(featureRows: predicted.count, labelCount: trueLabels.count)
        }
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let k = classes.count
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (row, (t, p)) in zip(trueLabels, predicted).enumerated() {
            guard let ti = index[t] else { throw ClassifierError.unknownLabel(label: t, line: row + 1, known: classes) }
            guard let pi = index[p] else { throw ClassifierError.unknownLabel(label: p, line: row + 1, known: classes) }
            counts[ti][pi] += 1
        }
        let n = trueLabels.count
        var correct = 0
        for i in 0..<k { correct += counts[i][i] }
        var perClass: [ClassMetrics] = []
        var f1Sum = 0.0, present = 0
        for i in 0..<k {
            let tp = counts[i][i]
            let support = counts[i].reduce(0, +)
            var predictedCount = 0
            for r in 0..<k { predictedCount += counts[r][i] }
            let precision = predictedCount > 0 ? Double(tp) / Double(predictedCount) : 0
            let recall = support > 0 ? Double(tp) / Double(support) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            perClass.append(ClassMetrics(label: classes[i], precision: precision, recall: recall, f1: f1, support: support))
            if support > 0 || predictedCount > 0 {
                f1Sum += f1
                present += 1
            }
        }
        let majority: String
        if let given = majorityClass {
            majority = given
        } else {
            var best = 0
            for i in 0..<k where perClass[i].support > perClass[best].support { best = i }
            majority = k > 0 ? classes[best] : ""
        }
        let majorityHits = trueLabels.reduce(0) { $0 + ($1 == majority ? 1 : 0) }
        return ClassificationMetrics(
            accuracy: n > 0 ? Double(correct) / Double(n) : 0,
            macroF1: present > 0 ? f1Sum / Double(present) : 0,
            perClass: perClass, confusion: ConfusionMatrix(classes: classes, counts: counts),
            majorityClass: majority, majorityBaselineAccuracy: n > 0 ? Double(majorityHits) / Double(n) : 0,
            rowCount: n)
    }

    /// Human-readable summary: accuracy, macro-F1, baseline, per-class table, confusion matrix.
    public func formatted() -> String {
        func pct(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
        var lines: [String] = []
        lines.append("rows: \(rowCount)")
        lines.append("accuracy: \(pct(accuracy))")
        lines.append("macro-F1: \(String(format: "%.4f", macroF1))")
        lines.append("majority baseline ('\(majorityClass)'): \(pct(majorityBaselineAccuracy))")
        let width = max(5, confusion.classes.map { $0.count }.max() ?? 5)
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
        lines.append("")
        lines.append(pad("class", width) + "  precision     recall         f1    support")
        for m in perClass {
            lines.append(pad(m.label, width) + "  " + lpad(String(format: "%.4f", m.precision), 9)
                         + "  " + lpad(String(format: "%.4f", m.recall), 9) + "  " + lpad(String(format: "%.4f", m.f1), 9)
                         + "  " + lpad(String(m.support), 9))
        }
        lines.append("")
        lines.append("confusion matrix (rows: true, columns: predicted)")
        let cell = max(width, (confusion.counts.flatMap { $0 }.max() ?? 0).description.count)
        lines.append(pad("", width) + " " + confusion.classes.map { lpad($0, cell) }.joined(separator: " "))
        for (i, row) in confusion.counts.enumerated() {
            lines.append(pad(confusion.classes[i], width) + " " + row.map { lpad(String($0), cell) }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}

/// Reads label files: one label per line (UTF-8), surrounding whitespace trimmed, a final newline optional.
public enum LabelsFile {
    /// Reads `path`; throws naming the file and line for a missing file or an empty label.
    public static func read(path: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ClassifierError.labelsFile(path: path, reason: "no such file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClassifierError.labelsFile(path: path, reason: "cannot read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ClassifierError.labelsFile(path: path, reason: "not valid UTF-8")
        }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        if lines.last == "" { lines.removeLast() }
        if let empty = lines.firstIndex(of: "") {
            throw ClassifierError.labelsFile(path: path, reason: "line \(empty + 1) is empty (one label per line expected)")
        }
        if lines.isEmpty { throw ClassifierError.labelsFile(path: path, reason: "file has no labels") }
        return lines
    }
}
