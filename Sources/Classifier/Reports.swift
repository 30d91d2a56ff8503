import Foundation

/// Mean and standard deviation of a score over cross-validation folds, with the per-fold values.
public struct FoldScores: Codable, Sendable, Equatable {
    public var mean: Double
    /// Sample standard deviation (n - 1); 0 with one fold.
    public var std: Double
    /// One value per (repeat, fold), repeat-major.
    public var values: [Double]

    public init(values: [Double]) {
        self.values = values
        let n = Double(values.count)
        mean = values.isEmpty ? .nan : values.reduce(0, +) / n
        var ss = 0.0
        for v in values { ss += (v - mean) * (v - mean) }
        std = values.count > 1 ? (ss / (n - 1)).squareRoot() : 0
    }
}

/// Accuracy of one combination on the evaluation rows of one text-length bucket or one group.
public struct SliceScore: Codable, Sendable, Equatable {
    /// Bucket label ("≤ 32", "33–64", "> 128") or group value.
    public var slice: String
    /// Number of evaluated rows in the slice (× repeats for out-of-fold predictions).
    public var rows: Int
    public var accuracy: Double

    public init(slice: String, rows: Int, accuracy: Double) {
        self.slice = slice; self.rows = rows; self.accuracy = accuracy
    }
}

/// One ablation run: a feature combination (encoder layer(s) + pooling) and the classifier's scores.
///
/// `accuracy`, `macroF1` and `rocAUC` are the headline scores: on the test set when there is one, otherwise the
/// mean over cross-validation folds. The optional fields are filled by a cross-validated ablation.
public struct AblationResult: Codable, Sendable, Equatable {
    /// Unique name of the combination, e.g. "last+mean".
    public var combination: String
    /// Pooling method, e.g. "mean", "cls", "max".
    public var pooling: String
    /// Layer label, e.g. "last", "-2", "concat(-1,-4)".
    public var layer: String
    /// Feature dimension D.
    public var dimension: Int
    /// Accuracy in [0, 1].
    public var accuracy: Double
    /// Macro-F1 in [0, 1].
    public var macroF1: Double
    /// Classifier training time in seconds (all folds, grid search and refits together).
    public var trainSeconds: Double
    /// ROC AUC in [0, 1] (two classes only).
    public var rocAUC: Double?
    /// Per-fold cross-validation scores.
    public var cvAccuracy: FoldScores?
    public var cvMacroF1: FoldScores?
    public var cvRocAUC: FoldScores?
    /// Confidence interval of the ranking metric's headline score.
    public var interval: ConfidenceInterval?
    /// C of the model behind the headline score (the refit on all training rows when there is a test set; the
    /// most frequent per-fold choice otherwise).
    public var chosenC: Double?
    /// C used in each (repeat, fold), repeat-major.
    public var foldC: [Double]?
    /// Two-sided p-value of the paired test against the best combination (nil for the best itself).
    public var pValue: Double?
    /// Two-sided p-value of the corrected resampled t-test over the per-fold differences against the best
    /// (with cross-validation; equal to `pValue` when there is no test set).
    public var cvPValue: Double?
    /// The test behind `pValue`, in words.
    public var significanceTest: String?
    /// Plain-words verdict against the best: "best", "indistinguishable from the best (p = 0.31)",
    /// "worse (p = 0.002)".
    public var verdict: String?
    /// Accuracy per text-length bucket and per group, on the evaluation rows.
    public var byLength: [SliceScore]?
    public var byGroup: [SliceScore]?

    public init(combination: String, pooling: String, layer: String, dimension: Int, accuracy: Double,
                macroF1: Double, trainSeconds: Double, rocAUC: Double? = nil) {
        self.combination = combination
        self.pooling = pooling
        self.layer = layer
        self.dimension = dimension
        self.accuracy = accuracy
        self.macroF1 = macroF1
        self.trainSeconds = trainSeconds
        self.rocAUC = rocAUC
    }

    /// The headline score named by `metric` (-infinity where undefined, so it ranks last).
    public func score(_ metric: RankingMetric) -> Double {
        switch metric {
        case .accuracy: return accuracy
        case .macroF1: return macroF1
        case .rocAUC: return rocAUC ?? -.infinity
        }
    }

    /// Cross-validation scores of `metric`, if any.
    public func foldScores(_ metric: RankingMetric) -> FoldScores? {
        switch metric {
        case .accuracy: return cvAccuracy
        case .macroF1: return cvMacroF1
        case .rocAUC: return cvRocAUC
        }
    }
}

/// Which score orders the results (ties broken by accuracy or macro-F1, then by name).
public enum RankingMetric: String, Codable, Sendable, CaseIterable {
    case accuracy
    case macroF1
    case rocAUC

    /// Parses a command-line name: accuracy, macro-f1 (macroF1, f1), roc-auc (auc).
    public init?(name: String) {
        switch name.lowercased() {
        case "accuracy", "acc": self = .accuracy
        case "macro-f1", "macrof1", "macro_f1", "f1": self = .macroF1
        case "roc-auc", "rocauc", "roc_auc", "auc": self = .rocAUC
        default: return nil
        }
    }

    /// Name for people: "accuracy", "macro-F1", "ROC AUC".
    public var displayName: String {
        switch self {
        case .accuracy: return "accuracy"
        case .macroF1: return "macro-F1"
        case .rocAUC: return "ROC AUC"
        }
    }
}

/// How an ablation was evaluated; written into results.json and summarised in the reports.
public struct AblationContext: Codable, Sendable, Equatable {
    /// The evaluation in words, e.g. "5-fold stratified cross-validation (1 repeat) on 8,455 training rows;
    /// test set of 2,113 rows scored by the model refitted on all training rows".
    public var evaluation: String
    public var folds: Int
    public var repeats: Int
    public var seed: UInt64
    public var trainRows: Int
    public var testRows: Int
    /// Fold of every training row, one list per repeat (the exact folds, for reproduction elsewhere).
    public var foldAssignment: [[Int]]
    /// C per combination: nil when fixed (`fixedC`), else the grid searched by inner CV.
    public var cGrid: [Double]?
    public var fixedC: Double?
    public var innerFolds: Int?
    public var bootstrapResamples: Int
    /// What the significance tests compare, in words.
    public var significanceMethod: String
    /// What the intervals are, in words.
    public var intervalMethod: String
    /// Significance level of the verdicts.
    public var alpha: Double
    /// Text-length bucket labels in order, and the evaluated rows per bucket.
    public var lengthBuckets: [String]
    /// Group column name and group values in order (empty without `--group-column`).
    public var groupColumn: String?
    public var groups: [String]
    /// Combinations whose final fit did not converge (iteration limit).
    public var notConverged: [String]

    public init(evaluation: String, folds: Int, repeats: Int, seed: UInt64, trainRows: Int, testRows: Int,
                foldAssignment: [[Int]], cGrid: [Double]?, fixedC: Double?, innerFolds: Int?, bootstrapResamples: Int,
                significanceMethod: String, intervalMethod: String, alpha: Double = 0.05, lengthBuckets: [String] = [],
                groupColumn: String? = nil, groups: [String] = [], notConverged: [String] = []) {
        self.evaluation = evaluation; self.folds = folds; self.repeats = repeats; self.seed = seed
        self.trainRows = trainRows; self.testRows = testRows; self.foldAssignment = foldAssignment
        self.cGrid = cGrid; self.fixedC = fixedC; self.innerFolds = innerFolds
        self.bootstrapResamples = bootstrapResamples; self.significanceMethod = significanceMethod
        self.intervalMethod = intervalMethod; self.alpha = alpha; self.lengthBuckets = lengthBuckets
        self.groupColumn = groupColumn; self.groups = groups; self.notConverged = notConverged
    }
}

/// Paths of the files written by `AblationReport.write`.
public struct ReportFiles: Sendable {
    public var csv: String
    public var json: String
    public var markdown: String
    public var heatmapSVG: String
    public var confusionSVG: String
    public var forestSVG: String
    public var lengthSVG: String
    public var html: String
}

/// Ablation report: ranked results plus the best combination's confusion matrix, written as CSV, JSON,
/// Markdown, four SVG figures and a self-contained HTML page that inlines them.
public struct AblationReport: Sendable {
    public var title: String
    /// Results sorted best first.
    public let ranked: [AblationResult]
    /// Results in the order given (fixes the heatmap's row and column order).
    public let inputOrder: [AblationResult]
    public var rankedBy: RankingMetric
    /// Confusion matrix of the best combination on the evaluation rows.
    public var bestConfusion: ConfusionMatrix
    /// Majority-class baseline accuracy on the evaluation rows, if known.
    public var baselineAccuracy: Double?
    /// How the results were obtained (cross-validation, intervals, tests); nil for a plain holdout report.
    public var context: AblationContext?

    public init(title: String = "Featurize ablation", results: [AblationResult], bestConfusion: ConfusionMatrix,
                rankedBy: RankingMetric = .accuracy, baselineAccuracy: Double? = nil,
                context: AblationContext? = nil) throws {
        guard !results.isEmpty else { throw ClassifierError.invalidOption("an ablation report needs at least one result") }
        let k = bestConfusion.classes.count
        guard k > 0, bestConfusion.counts.count == k, bestConfusion.counts.allSatisfy({ $0.count == k }) else {
            throw ClassifierError.invalidOption("confusion matrix must be \(k) x \(k) for \(k) classes")
        }
        self.title = title
        self.rankedBy = rankedBy
        self.bestConfusion = bestConfusion
        self.baselineAccuracy = baselineAccuracy
        self.context = context
        self.inputOrder = results
        self.ranked = Self.rank(results, by: rankedBy)
    }

    /// Sorts best first by `metric`, ties broken by accuracy, then macro-F1, then name.
    public static func rank(_ results: [AblationResult], by metric: RankingMetric) -> [AblationResult] {
        results.sorted { a, b in
            if a.score(metric) != b.score(metric) { return a.score(metric) > b.score(metric) }
            if a.accuracy != b.accuracy { return a.accuracy > b.accuracy }
            if a.macroF1 != b.macroF1 { return a.macroF1 > b.macroF1 }
            return a.combination < b.combination
        }
    }

    public var best: AblationResult { ranked[0] }

    /// Writes results.csv, results.json, report.md, heatmap.svg, confusion.svg, forest.svg, length.svg and
    /// report.html into `directory` (created if missing).
    @discardableResult
    public func write(to directory: String) throws -> ReportFiles {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ClassifierError.writeFailed(path: directory, reason: error.localizedDescription)
        }
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let files = ReportFiles(csv: path("results.csv"), json: path("results.json"), markdown: path("report.md"),
                                heatmapSVG: path("heatmap.svg"), confusionSVG: path("confusion.svg"),
                                forestSVG: path("forest.svg"), lengthSVG: path("length.svg"), html: path("report.html"))
        let heatmap = heatmapSVG(), confusion = confusionSVG(), forest = forestSVG(), length = lengthSVG()
        try save(csv(), files.csv)
        try save(json(), files.json)
        try save(markdown(), files.markdown)
        try save(heatmap, files.heatmapSVG)
        try save(confusion, files.confusionSVG)
        try save(forest, files.forestSVG)
        try save(length, files.lengthSVG)
        try save(html(heatmap: heatmap, confusion: confusion, forest: forest, length: length), files.html)
        return files
    }

    private func save(_ text: String, _ path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw ClassifierError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    // MARK: Text formats

    static func percent(_ x: Double) -> String { String(format: "%.2f", 100 * x) }
    static func decimal(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "" }
    /// A score in the unit the tables show it: percent for accuracy, 0..1 (4 decimals) for macro-F1 and ROC AUC.
    func show(_ x: Double) -> String { rankedBy == .accuracy ? Self.percent(x) : String(format: "%.4f", x) }
    var unit: String { rankedBy == .accuracy ? "%" : "" }

    /// "1.2e-05" or "0.031" or "0.31": a p-value in a compact, readable form.
    public static func formatP(_ p: Double) -> String {
        if p < 0.001 { return String(format: "%.1e", p) }
        if p < 0.01 { return String(format: "%.4f", p) }
        return String(format: "%.3f", p)
    }

    /// The verdict on a combination compared with the best at level `alpha`.
    public static func verdict(pValue: Double, alpha: Double = 0.05) -> String {
        pValue >= alpha ? "indistinguishable from the best (p = \(formatP(pValue)))" : "worse (p = \(formatP(pValue)))"
    }

    /// The answer in one sentence: the best combination, its score and interval, and how many others the
    /// significance test cannot tell from it.
    public func answer() -> String {
        let b = best
        var s = "\(b.combination) is the best of \(ranked.count) combination\(ranked.count == 1 ? "" : "s") by \(rankedBy.displayName): "
        s += "\(show(b.score(rankedBy)))\(unit)"
        if let ci = b.interval {
            s += " (\(Int((ci.level * 100).rounded()))% CI \(show(ci.lower))–\(show(ci.upper))\(unit))"
        }
        let tested = ranked.dropFirst().filter { $0.pValue != nil }
        guard let context, !tested.isEmpty else { return s + "." }
        let same = tested.filter { ($0.pValue ?? 0) >= context.alpha }
        if same.isEmpty {
            let largest = tested.compactMap(\.pValue).max() ?? 0
            s += "; it is significantly better than every other combination (largest p = \(Self.formatP(largest)))."
        } else {
            let names = same.prefix(5).map(\.combination).joined(separator: ", ") + (same.count > 5 ? ", ..." : "")
            s += "; \(same.count) of the other \(tested.count) \(same.count == 1 ? "is" : "are") statistically "
            s += "indistinguishable from it at p ≥ \(context.alpha) (\(names)), so the data do not single out one winner"
            let worse = tested.count - same.count
            s += worse == 0 ? "." : "; the other \(worse) \(worse == 1 ? "is" : "are") worse."
        }
        return s
    }

    /// CSV with a header row, best first. Fields with commas, quotes or newlines are quoted. Columns after
    /// train_seconds: accuracy per length bucket (`acc_len_<bucket>`) and per group (`acc_group_<group>`).
    public func csv() -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func number(_ x: Double?, _ format: String = "%.6f") -> String { x.map { String(format: format, $0) } ?? "" }
        let buckets = context?.lengthBuckets ?? [], groups = context?.groups ?? []
        var header = ["rank", "combination", "pooling", "layer", "dimension", "accuracy", "macro_f1", "roc_auc",
                      "ci_lower", "ci_upper", "cv_mean", "cv_std", "chosen_C", "p_value", "verdict", "cv_p_value", "train_seconds"]
        header += buckets.map { field("acc_len_\($0)") } + groups.map { field("acc_group_\($0)") }
        var lines = [header.joined(separator: ",")]
        for (i, r) in ranked.enumerated() {
            var row = [String(i + 1), field(r.combination), field(r.pooling), field(r.layer), String(r.dimension),
                       number(r.accuracy), number(r.macroF1), number(r.rocAUC), number(r.interval?.lower),
                       number(r.interval?.upper), number(r.foldScores(rankedBy)?.mean), number(r.foldScores(rankedBy)?.std),
                       number(r.chosenC, "%g"), number(r.pValue, "%.6g"), field(r.verdict ?? ""), number(r.cvPValue, "%.6g"),
                       String(format: "%.3f", r.trainSeconds)]
            let length = Dictionary((r.byLength ?? []).map { ($0.slice, $0.accuracy) }, uniquingKeysWith: { a, _ in a })
            let group = Dictionary((r.byGroup ?? []).map { ($0.slice, $0.accuracy) }, uniquingKeysWith: { a, _ in a })
            row += buckets.map { number(length[$0]) } + groups.map { number(group[$0]) }
            lines.append(row.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private struct JSONReport: Codable {
        var title: String
        var answer: String
        var rankedBy: RankingMetric
        var best: String
        var baselineAccuracy: Double?
        var context: AblationContext?
        var results: [AblationResult]
        var bestConfusion: ConfusionMatrix
    }

    /// JSON: title, the answer sentence, ranking metric, best combination, the evaluation context (folds with
    /// the fold of every training row, C grid, tests), results best first, the best confusion matrix.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let data = try encoder.encode(JSONReport(title: title, answer: answer(), rankedBy: rankedBy, best: best.combination,
                                                 baselineAccuracy: baselineAccuracy, context: context, results: ranked,
                                                 bestConfusion: bestConfusion))
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Rows of the main results table (shared by Markdown and HTML): header cells and, per result, cells.
    func resultsTable() -> (header: [String], rows: [[String]]) {
        let cv = context.map { $0.folds >= 2 } ?? false
        let hasTest = (context?.testRows ?? 1) > 0
        let hasAUC = ranked.contains { $0.rocAUC != nil }
        let tuned = context?.cGrid != nil
        var header = ["Rank", "Combination", "Layer", "Pooling", "Dim", "Accuracy (%)", "Macro-F1"]
        if hasAUC { header.append("ROC AUC") }
        if ranked.contains(where: { $0.interval != nil }) { header.append("95% CI (\(rankedBy.displayName))") }
        if cv { header.append("CV \(rankedBy.displayName) mean ± std" + (hasTest ? "" : " (= headline)")) }
        if tuned || ranked.contains(where: { $0.chosenC != nil }) { header.append("C") }
        if ranked.contains(where: { $0.verdict != nil }) { header.append("vs best") }
        let cvP = cv && hasTest && ranked.contains { $0.cvPValue != nil }
        if cvP { header.append("CV p vs best") }
        header.append("Train (s)")
        var rows: [[String]] = []
        for (i, r) in ranked.enumerated() {
            var row = [String(i + 1), r.combination, r.layer, r.pooling, String(r.dimension), Self.percent(r.accuracy),
                       String(format: "%.4f", r.macroF1)]
            if hasAUC { row.append(Self.decimal(r.rocAUC)) }
            if header.contains(where: { $0.hasPrefix("95% CI") }) {
                row.append(r.interval.map { "\(show($0.lower))–\(show($0.upper))" } ?? "")
            }
            if cv {
                row.append(r.foldScores(rankedBy).map { "\(show($0.mean)) ± \(show($0.std))" } ?? "")
            }
            if header.contains("C") {
                var c = r.chosenC.map { String(format: "%g", $0) } ?? ""
                if let folds = r.foldC, Set(folds).count > 1 {
                    c += " (folds: " + folds.map { String(format: "%g", $0) }.joined(separator: ", ") + ")"
                }
                row.append(c)
            }
            if header.contains("vs best") { row.append(r.verdict ?? "") }
            if cvP { row.append(r.cvPValue.map(Self.formatP) ?? "") }
            row.append(String(format: "%.2f", r.trainSeconds))
            rows.append(row)
        }
        return (header, rows)
    }

    /// Accuracy per slice (length bucket or group) per combination: header and rows, best first.
    func sliceTable(_ slices: [String], _ values: (AblationResult) -> [SliceScore]?) -> (header: [String], rows: [[String]]) {
        var counts: [String: Int] = [:]
        for s in values(best) ?? [] { counts[s.slice] = s.rows }
        let header = ["Combination"] + slices.map { "\($0) (n = \(counts[$0] ?? 0))" }
        let rows = ranked.map { r -> [String] in
            let byName = Dictionary((values(r) ?? []).map { ($0.slice, $0.accuracy) }, uniquingKeysWith: { a, _ in a })
            return [r.combination] + slices.map { byName[$0].map(Self.percent) ?? "–" }
        }
        return (header, rows)
    }

    /// Markdown: the answer, how it was measured, the results table, accuracy by length and group, the best
    /// combination's confusion matrix, figure links.
    public func markdown() -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        func table(_ t: (header: [String], rows: [[String]]), textColumns: Set<Int>, bold: Int) -> String {
            var out = "| " + t.header.map(cell).joined(separator: " | ") + " |\n"
            out += "|" + t.header.indices.map { textColumns.contains($0) ? "---|" : "---:|" }.joined() + "\n"
            for (i, row) in t.rows.enumerated() {
                let cells = row.enumerated().map { j, c in i == 0 && j == bold ? "**\(cell(c))**" : cell(c) }
                out += "| " + cells.joined(separator: " | ") + " |\n"
            }
            return out
        }
        var md = "# \(title)\n\n"
        md += "**Answer: \(cell(answer()))**\n\n"
        md += "**Best combination: \(cell(best.combination))** (layer \(cell(best.layer)), pooling \(cell(best.pooling)), "
        md += "dimension \(best.dimension)): accuracy \(Self.percent(best.accuracy))%, macro-F1 \(String(format: "%.4f", best.macroF1))"
        md += best.rocAUC.map { ", ROC AUC \(String(format: "%.4f", $0))" } ?? ""
        md += ".\n\n"
        if let b = baselineAccuracy { md += "Majority-class baseline accuracy: \(Self.percent(b))%.\n\n" }
        md += "Ranked by \(rankedBy.displayName).\n\n"
        if let c = context {
            md += "How this was measured: \(cell(c.evaluation)). "
            if let grid = c.cGrid {
                md += "C chosen per combination (and per fold) from {\(grid.map { String(format: "%g", $0) }.joined(separator: ", "))} "
                md += "by \(c.innerFolds ?? 0)-fold stratified cross-validation on the training rows only. "
            } else if let fixed = c.fixedC {
                md += "C = \(String(format: "%g", fixed)) for every combination. "
            }
            md += "Intervals: \(cell(c.intervalMethod)). Significance: \(cell(c.significanceMethod)); "
            md += "no correction for multiple comparisons.\n\n"
            if !c.notConverged.isEmpty {
                md += "Warning: the fit of \(c.notConverged.map(cell).joined(separator: ", ")) stopped at the iteration limit.\n\n"
            }
        }
        let main = resultsTable()
        md += table(main, textColumns: Set([1, 2, 3] + (main.header.firstIndex(of: "vs best").map { [$0] } ?? [])), bold: 1) + "\n"
        if let c = context, !c.lengthBuckets.isEmpty {
            md += "## Accuracy (%) by text length (tokens, special tokens included)\n\n" + table(sliceTable(c.lengthBuckets, \.byLength), textColumns: [0], bold: 0) + "\n"
        }
        if let c = context, !c.groups.isEmpty {
            md += "## Accuracy (%) by \(cell(c.groupColumn ?? "group"))\n\n" + table(sliceTable(c.groups, \.byGroup), textColumns: [0], bold: 0) + "\n"
        }
        md += "## Confusion matrix of \(cell(best.combination)) (rows: true, columns: predicted)\n\n"
        md += "| true \\ predicted | " + bestConfusion.classes.map(cell).joined(separator: " | ") + " |\n"
        md += "|---|" + String(repeating: "---:|", count: bestConfusion.classes.count) + "\n"
        for (i, row) in bestConfusion.counts.enumerated() {
            md += "| \(cell(bestConfusion.classes[i])) | " + row.map(String.init).joined(separator: " | ") + " |\n"
        }
        md += "\n![\(rankedBy.displayName) by layer and pooling](heatmap.svg)\n\n![Every combination with its interval](forest.svg)\n\n"
        if let c = context, !c.lengthBuckets.isEmpty { md += "![Accuracy by text length](length.svg)\n\n" }
        md += "![Confusion matrix](confusion.svg)\n"
        return md
    }

    /// Self-contained HTML page (no external resources): the answer, the tables and every SVG figure inlined.
    public func html(heatmap: String? = nil, confusion: String? = nil, forest: String? = nil, length: String? = nil) -> String {
        let heatmapSVG = Self.stripDeclaration(heatmap ?? self.heatmapSVG())
        let confusionSVG = Self.stripDeclaration(confusion ?? self.confusionSVG())
        let forestSVG = Self.stripDeclaration(forest ?? self.forestSVG())
        let lengthSVG = Self.stripDeclaration(length ?? self.lengthSVG())
        func table(_ t: (header: [String], rows: [[String]]), textColumns: Set<Int>) -> String {
            var h = "<table>\n<tr>" + t.header.map { "<th>\(SVG.escape($0))</th>" }.joined() + "</tr>\n"
            for (i, row) in t.rows.enumerated() {
                h += "<tr\(i == 0 ? " class=\"best\"" : "")>"
                for (j, c) in row.enumerated() {
                    h += "<td\(textColumns.contains(j) ? "" : " class=\"n\"")>\(SVG.escape(c))</td>"
                }
                h += "</tr>\n"
            }
            return h + "</table>\n"
        }
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>\(SVG.escape(title))</title>\n"
        h += "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        h += "th,td{border:1px solid #ccc;padding:4px 8px}td.n{text-align:right}tr.best{background:#fff4c2;font-weight:bold}"
        h += "p.answer{font-size:1.15em;background:#eef5ff;padding:.6em 1em;border-left:4px solid #3b6fb6}"
        h += ".figures{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}</style>\n</head>\n<body>\n"
        h += "<h1>\(SVG.escape(title))</h1>\n"
        h += "<p class=\"answer\">\(SVG.escape(answer()))</p>\n"
        h += "<p>Best combination: <strong>\(SVG.escape(best.combination))</strong> (layer \(SVG.escape(best.layer)), "
        h += "pooling \(SVG.escape(best.pooling)), dimension \(best.dimension)): accuracy \(Self.percent(best.accuracy))%, "
        h += "macro-F1 \(String(format: "%.4f", best.macroF1))\(best.rocAUC.map { ", ROC AUC \(String(format: "%.4f", $0))" } ?? "").</p>\n"
        if let b = baselineAccuracy { h += "<p>Majority-class baseline accuracy: \(Self.percent(b))%.</p>\n" }
        if let c = context {
            h += "<p>How this was measured: \(SVG.escape(c.evaluation)). Intervals: \(SVG.escape(c.intervalMethod)). "
            h += "Significance: \(SVG.escape(c.significanceMethod)); no correction for multiple comparisons."
            if let grid = c.cGrid {
                h += " C chosen from {\(grid.map { String(format: "%g", $0) }.joined(separator: ", "))} by "
                h += "\(c.innerFolds ?? 0)-fold inner cross-validation on training rows only."
            }
            h += "</p>\n"
        }
        h += "<div class=\"figures\">\n<figure>\(forestSVG)<figcaption>Every combination with its interval</figcaption></figure>\n"
        h += "<figure>\(heatmapSVG)<figcaption>\(SVG.escape(rankedBy.displayName)) by layer and pooling</figcaption></figure>\n"
        if let c = context, !c.lengthBuckets.isEmpty {
            h += "<figure>\(lengthSVG)<figcaption>Accuracy by text length</figcaption></figure>\n"
        }
        h += "<figure>\(confusionSVG)<figcaption>Confusion matrix of \(SVG.escape(best.combination))</figcaption></figure>\n</div>\n"
        let main = resultsTable()
        h += table(main, textColumns: Set([1, 2, 3] + (main.header.firstIndex(of: "vs best").map { [$0] } ?? [])))
        if let c = context, !c.lengthBuckets.isEmpty {
            h += "<h2>Accuracy (%) by text length (tokens)</h2>\n" + table(sliceTable(c.lengthBuckets, \.byLength), textColumns: [0])
        }
        if let c = context, !c.groups.isEmpty {
            h += "<h2>Accuracy (%) by \(SVG.escape(c.groupColumn ?? "group"))</h2>\n" + table(sliceTable(c.groups, \.byGroup), textColumns: [0])
        }
        h += "</body>\n</html>\n"
        return h
    }

    private static func stripDeclaration(_ svg: String) -> String {
        guard svg.hasPrefix("<?xml"), let end = svg.range(of: "?>") else { return svg }
        return String(svg[end.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: SVG figures

    /// Heatmap SVG: rows = layers, columns = pooling methods (both in first-appearance order of the input
    /// results), cell = the ranking score (the best result when several share a cell) with its confidence
    /// interval underneath when known, best cell outlined in red, colour legend on the right. Missing
    /// combinations are grey with a dash.
    public func heatmapSVG() -> String {
        let layers = Self.orderedUnique(inputOrder.map(\.layer))
        let poolings = Self.orderedUnique(inputOrder.map(\.pooling))
        var cells: [String: AblationResult] = [:]
        for r in ranked.reversed() { cells["\(r.layer)\u{1}\(r.pooling)"] = r }  // best one per cell wins
        let values = cells.values.map { $0.score(rankedBy) }.filter(\.isFinite)
        let low = values.min() ?? 0, high = values.max() ?? 1
        let withIntervals = cells.values.contains { $0.interval != nil }
        let cellWidth = withIntervals ? 110.0 : 96.0, cellHeight = withIntervals ? 48.0 : 40.0
        let left = 20 + 7.5 * Double(max(5, layers.map(\.count).max() ?? 5))
        let top = 76.0
        let gridWidth = cellWidth * Double(poolings.count), gridHeight = cellHeight * Double(layers.count)
        let legendX = left + gridWidth + 30
        let width = legendX + 90, height = top + max(gridHeight, 160) + 50
        var svg = SVG(width: width, height: height)
        let metricName = rankedBy == .accuracy ? "Accuracy" : rankedBy.displayName
        let percentSuffix = rankedBy == .accuracy ? " (%)" : ""
        let ciSuffix = withIntervals ? " with 95% CI" : ""
        svg.text(x: width / 2, y: 24, metricName + percentSuffix + " by layer and pooling" + ciSuffix, size: 16, anchor: "middle", weight: "bold")
        svg.text(x: left + gridWidth / 2, y: 48, "pooling", size: 12, anchor: "middle", fill: "#555")
        svg.text(x: 14, y: top + gridHeight / 2, "layer", size: 12, anchor: "middle", fill: "#555",
                 transform: "rotate(-90 14 \(SVG.f(top + gridHeight / 2)))")
        for (j, p) in poolings.enumerated() {
            svg.text(x: left + cellWidth * (Double(j) + 0.5), y: top - 8, p, size: 12, anchor: "middle")
        }
        for (i, layer) in layers.enumerated() {
            let y = top + cellHeight * Double(i)
            svg.text(x: left - 8, y: y + cellHeight / 2 + 4, layer, size: 12, anchor: "end")
            for (j, p) in poolings.enumerated() {
                let x = left + cellWidth * Double(j)
                if let r = cells["\(layer)\u{1}\(p)"] {
                    let v = r.score(rankedBy)
                    let t = high > low && v.isFinite ? (v - low) / (high - low) : 1
                    let colour = Self.colour(t)
                    let ink = colour.luminance > 0.5 ? "#000" : "#fff"
                    svg.rect(x: x, y: y, width: cellWidth, height: cellHeight, fill: colour.hex, stroke: "#fff")
                    if let ci = r.interval {
                        svg.text(x: x + cellWidth / 2, y: y + cellHeight / 2, show(v), size: 13, anchor: "middle", fill: ink)
                        svg.text(x: x + cellWidth / 2, y: y + cellHeight / 2 + 14, "[\(show(ci.lower)), \(show(ci.upper))]",
                                 size: 10, anchor: "middle", fill: ink)
                    } else {
                        svg.text(x: x + cellWidth / 2, y: y + cellHeight / 2 + 5, show(v), size: 13, anchor: "middle", fill: ink)
                    }
                } else {
                    svg.rect(x: x, y: y, width: cellWidth, height: cellHeight, fill: "#e0e0e0", stroke: "#fff")
                    svg.text(x: x + cellWidth / 2, y: y + cellHeight / 2 + 5, "–", size: 13, anchor: "middle", fill: "#888")
                }
            }
        }
        if let bi = layers.firstIndex(of: best.layer), let bj = poolings.firstIndex(of: best.pooling) {
            svg.rect(x: left + cellWidth * Double(bj) + 1.5, y: top + cellHeight * Double(bi) + 1.5,
                     width: cellWidth - 3, height: cellHeight - 3, fill: "none", stroke: "#d62728", strokeWidth: 3)
        }
        svg.legend(x: legendX, y: top, height: max(gridHeight, 160), low: show(low), high: show(high),
                   title: rankedBy == .accuracy ? "acc. %" : rankedBy == .macroF1 ? "F1" : "AUC", stops: (0...10).map { Self.colour(Double($0) / 10).hex })
        svg.text(x: left, y: top + max(gridHeight, 160) + 30, "best: \(best.combination) (red outline)", size: 11, fill: "#555")
        return svg.document()
    }

    /// Confusion-matrix SVG: rows = true class, columns = predicted class, cell = count, colour = row fraction.
    public func confusionSVG() -> String {
        let classes = bestConfusion.classes, counts = bestConfusion.counts
        let k = classes.count
        let cell = k <= 6 ? 70.0 : max(24.0, 420.0 / Double(k))
        let labelWidth = 20 + 7.0 * Double(max(4, classes.map(\.count).max() ?? 4))
        let left = 30 + labelWidth, top = 50 + labelWidth * 0.75
        let grid = cell * Double(k)
        let legendX = left + grid + 30
        let width = legendX + 90, height = top + max(grid, 160) + 50
        var svg = SVG(width: width, height: height)
        svg.text(x: width / 2, y: 24, "Confusion matrix: \(best.combination)", size: 16, anchor: "middle", weight: "bold")
        svg.text(x: left + grid / 2, y: top + grid + 36, "predicted", size: 12, anchor: "middle", fill: "#555")
        svg.text(x: 14, y: top + grid / 2, "true", size: 12, anchor: "middle", fill: "#555",
                 transform: "rotate(-90 14 \(SVG.f(top + grid / 2)))")
        let fontSize = min(13, max(8, cell / 4))
        for j in 0..<k {
            let x = left + cell * (Double(j) + 0.5)
            svg.text(x: x, y: top - 8, classes[j], size: fontSize, anchor: "start",
                     transform: "rotate(-45 \(SVG.f(x)) \(SVG.f(top - 8)))")
        }
        for i in 0..<k {
            let rowTotal = counts[i].reduce(0, +)
            let y = top + cell * Double(i)
            svg.text(x: left - 8, y: y + cell / 2 + 4, classes[i], size: fontSize, anchor: "end")
            for j in 0..<k {
                let fraction = rowTotal > 0 ? Double(counts[i][j]) / Double(rowTotal) : 0
                let colour = Self.colour(fraction)
                svg.rect(x: left + cell * Double(j), y: y, width: cell, height: cell, fill: colour.hex, stroke: "#fff")
                svg.text(x: left + cell * (Double(j) + 0.5), y: y + cell / 2 + fontSize / 3, String(counts[i][j]),
                         size: fontSize, anchor: "middle", fill: colour.luminance > 0.5 ? "#000" : "#fff")
            }
        }
        svg.legend(x: legendX, y: top, height: max(grid, 160), low: "0%", high: "100%", title: "of row",
                   stops: (0...10).map { Self.colour(Double($0) / 10).hex })
        return svg.document()
    }

    static func orderedUnique(_ items: [String]) -> [String] {
        var seen = Set<String>(), out: [String] = []
        for s in items where seen.insert(s).inserted { out.append(s) }
        return out
    }

    /// Sequential colour scale (light yellow -> green -> dark blue, viridis-like), t in [0, 1].
    static func colour(_ t: Double) -> (hex: String, luminance: Double) {
        let stops: [(Double, Double, Double)] = [(253, 231, 37), (94, 201, 98), (33, 145, 140), (59, 82, 139), (68, 1, 84)]
        let x = min(max(t, 0), 1) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), f = x - Double(i)
        let a = stops[i], b = stops[i + 1]
        let r = a.0 + (b.0 - a.0) * f, g = a.1 + (b.1 - a.1) * f, bl = a.2 + (b.2 - a.2) * f
        let hex = String(format: "#%02x%02x%02x", Int(r.rounded()), Int(g.rounded()), Int(bl.rounded()))
        return (hex, (0.2126 * r + 0.7152 * g + 0.0722 * bl) / 255)
    }
}

/// Minimal SVG builder (text, rectangles, a vertical gradient legend).
struct SVG {
    let width: Double, height: Double
    var body: [String] = []
    var gradientCount = 0

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // Drop control characters that XML 1.0 forbids.
                if let v = ch.unicodeScalars.first?.value, v < 0x20, ch != "\t", ch != "\n" { continue }
                out.append(ch)
            }
        }
        return out
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    mutating func text(x: Double, y: Double, _ content: String, size: Double, anchor: String = "start",
                       fill: String = "#222", weight: String? = nil, transform: String? = nil) {
        var attributes = "x=\"\(Self.f(x))\" y=\"\(Self.f(y))\" font-size=\"\(Self.f(size))\" text-anchor=\"\(anchor)\" fill=\"\(fill)\""
        if let w = weight { attributes += " font-weight=\"\(w)\"" }
        if let t = transform { attributes += " transform=\"\(t)\"" }
        body.append("<text \(attributes)>\(Self.escape(content))</text>")
    }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil,
                       strokeWidth: Double = 1) {
        var attributes = "x=\"\(Self.f(x))\" y=\"\(Self.f(y))\" width=\"\(Self.f(width))\" height=\"\(Self.f(height))\" fill=\"\(fill)\""
        if let s = stroke { attributes += " stroke=\"\(s)\" stroke-width=\"\(Self.f(strokeWidth))\"" }
        body.append("<rect \(attributes)/>")
    }

    /// Vertical colour bar, `high` at the top.
    mutating func legend(x: Double, y: Double, height: Double, low: String, high: String, title: String, stops: [String]) {
        gradientCount += 1
        let id = "scale\(gradientCount)"
        var gradient = "<defs><linearGradient id=\"\(id)\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
        for (i, c) in stops.enumerated() {
            gradient += "<stop offset=\"\(Self.f(100 * Double(i) / Double(max(stops.count - 1, 1))))%\" stop-color=\"\(c)\"/>"
        }
        gradient += "</linearGradient></defs>"
        body.append(gradient)
        text(x: x, y: y - 10, title, size: 11, fill: "#555")
        body.append("<rect x=\"\(Self.f(x))\" y=\"\(Self.f(y))\" width=\"18\" height=\"\(Self.f(height))\" fill=\"url(#\(id))\" stroke=\"#999\"/>")
        text(x: x + 24, y: y + 10, high, size: 11)
        text(x: x + 24, y: y + height, low, size: 11)
    }

    func document() -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.f(width))\" height=\"\(Self.f(height))\" "
            + "viewBox=\"0 0 \(Self.f(width)) \(Self.f(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }
}
