import Foundation

/// One ablation run: a feature combination (encoder layer(s) + pooling) and the classifier's held-out scores.
public struct AblationResult: Codable, Sendable, Equatable {
    /// Unique name of the combination, e.g. "last+mean".
    public var combination: String
    /// Pooling method, e.g. "mean", "cls", "max".
    public var pooling: String
    /// Layer label, e.g. "last", "-2", "concat(-1,-4)".
    public var layer: String
    /// Feature dimension D.
    public var dimension: Int
    /// Held-out accuracy in [0, 1].
    public var accuracy: Double
    /// Held-out macro-F1 in [0, 1].
    public var macroF1: Double
    /// Classifier training time in seconds.
    public var trainSeconds: Double

    public init(combination: String, pooling: String, layer: String, dimension: Int, accuracy: Double,
                macroF1: Double, trainSeconds: Double) {
        self.combination = combination
        self.pooling = pooling
        self.layer = layer
        self.dimension = dimension
        self.accuracy = accuracy
        self.macroF1 = macroF1
        self.trainSeconds = trainSeconds
    }
}

/// Which score orders the results (ties broken by the other score, then by name).
public enum RankingMetric: String, Codable, Sendable {
    case accuracy
    case macroF1
}

/// Paths of the files written by `AblationReport.write`.
public struct ReportFiles: Sendable {
    public var csv: String
    public var json: String
    public var markdown: String
    public var heatmapSVG: String
    public var confusionSVG: String
    public var html: String
}

/// Ablation report: ranked results plus the best combination's confusion matrix, written as CSV, JSON,
/// Markdown, two SVG figures and an HTML page that inlines them.
public struct AblationReport: Sendable {
    public var title: String
    /// Results sorted best first.
    public let ranked: [AblationResult]
    /// Results in the order given (fixes the heatmap's row and column order).
    public let inputOrder: [AblationResult]
    public var rankedBy: RankingMetric
    /// Confusion matrix of the best combination on the held-out set.
    public var bestConfusion: ConfusionMatrix
    /// Majority-class baseline accuracy on the held-out set, if known.
    public var baselineAccuracy: Double?

    public init(title: String = "Featurize ablation", results: [AblationResult], bestConfusion: ConfusionMatrix,
                rankedBy: RankingMetric = .accuracy, baselineAccuracy: Double? = nil) throws {
        guard !results.isEmpty else { throw ClassifierError.invalidOption("an ablation report needs at least one result") }
        let k = bestConfusion.classes.count
        guard k > 0, bestConfusion.counts.count == k, bestConfusion.counts.allSatisfy({ $0.count == k }) else {
            throw ClassifierError.invalidOption("confusion matrix must be \(k) x \(k) for \(k) classes")
        }
        self.title = title
        self.rankedBy = rankedBy
        self.bestConfusion = bestConfusion
        self.baselineAccuracy = baselineAccuracy
        self.inputOrder = results
        self.ranked = results.sorted { a, b in
            let (pa, sa) = rankedBy == .accuracy ? (a.accuracy, a.macroF1) : (a.macroF1, a.accuracy)
            let (pb, sb) = rankedBy == .accuracy ? (b.accuracy, b.macroF1) : (b.macroF1, b.accuracy)
            if pa != pb { return pa > pb }
            if sa != sb { return sa > sb }
            return a.combination < b.combination
        }
    }

    public var best: AblationResult { ranked[0] }

    /// Writes results.csv, results.json, report.md, heatmap.svg, confusion.svg and report.html into `directory`
    /// (created if missing).
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
                                html: path("report.html"))
        let heatmap = heatmapSVG(), confusion = confusionSVG()
        try save(csv(), files.csv)
        try save(json(), files.json)
        try save(markdown(), files.markdown)
        try save(heatmap, files.heatmapSVG)
        try save(confusion, files.confusionSVG)
        try save(html(heatmap: heatmap, confusion: confusion), files.html)
        return files
    }

    private func save(_ text: String, _ path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw ClassifierError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }

    // MARK: Text formats

    /// CSV with a header row, best first. Fields with commas, quotes or newlines are quoted.
    public func csv() -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var lines = ["rank,combination,pooling,layer,dimension,accuracy,macro_f1,train_seconds"]
        for (i, r) in ranked.enumerated() {
            lines.append([String(i + 1), field(r.combination), field(r.pooling), field(r.layer), String(r.dimension),
                          String(format: "%.6f", r.accuracy), String(format: "%.6f", r.macroF1),
                          String(format: "%.3f", r.trainSeconds)].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private struct JSONReport: Codable {
        var title: String
        var rankedBy: RankingMetric
        var best: String
        var baselineAccuracy: Double?
        var results: [AblationResult]
        var bestConfusion: ConfusionMatrix
    }

    /// JSON: title, ranking metric, best combination name, results best first, the best confusion matrix.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(JSONReport(title: title, rankedBy: rankedBy, best: best.combination,
                                                 baselineAccuracy: baselineAccuracy, results: ranked,
                                                 bestConfusion: bestConfusion))
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private static func percent(_ x: Double) -> String { String(format: "%.2f", 100 * x) }

    /// Markdown: best combination, results table sorted by score, confusion matrix, figure links.
    public func markdown() -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var md = "# \(title)\n\n"
        md += "**Best combination: \(cell(best.combination))** (layer \(cell(best.layer)), pooling \(cell(best.pooling)), "
        md += "dimension \(best.dimension)): accuracy \(Self.percent(best.accuracy))%, macro-F1 \(String(format: "%.4f", best.macroF1)).\n\n"
        if let b = baselineAccuracy { md += "Majority-class baseline accuracy: \(Self.percent(b))%.\n\n" }
        md += "Ranked by \(rankedBy == .accuracy ? "accuracy" : "macro-F1").\n\n"
        md += "| Rank | Combination | Layer | Pooling | Dim | Accuracy (%) | Macro-F1 | Train (s) |\n"
        md += "|---:|---|---|---|---:|---:|---:|---:|\n"
        for (i, r) in ranked.enumerated() {
            let name = i == 0 ? "**\(cell(r.combination))**" : cell(r.combination)
            md += "| \(i + 1) | \(name) | \(cell(r.layer)) | \(cell(r.pooling)) | \(r.dimension) | "
            md += "\(Self.percent(r.accuracy)) | \(String(format: "%.4f", r.macroF1)) | \(String(format: "%.2f", r.trainSeconds)) |\n"
        }
        md += "\n## Confusion matrix of \(cell(best.combination)) (rows: true, columns: predicted)\n\n"
        md += "| true \\ predicted | " + bestConfusion.classes.map(cell).joined(separator: " | ") + " |\n"
        md += "|---|" + String(repeating: "---:|", count: bestConfusion.classes.count) + "\n"
        for (i, row) in bestConfusion.counts.enumerated() {
            md += "| \(cell(bestConfusion.classes[i])) | " + row.map(String.init).joined(separator: " | ") + " |\n"
        }
        md += "\n![Accuracy by layer and pooling](heatmap.svg)\n\n![Confusion matrix](confusion.svg)\n"
        return md
    }

    /// HTML page with the results table and both SVG figures inlined.
    public func html(heatmap: String? = nil, confusion: String? = nil) -> String {
        let heatmapSVG = Self.stripDeclaration(heatmap ?? self.heatmapSVG())
        let confusionSVG = Self.stripDeclaration(confusion ?? self.confusionSVG())
        var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>\(SVG.escape(title))</title>\n"
        h += "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        h += "th,td{border:1px solid #ccc;padding:4px 8px}td.n{text-align:right}tr.best{background:#fff4c2;font-weight:bold}"
        h += ".figures{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}</style>\n</head>\n<body>\n"
        h += "<h1>\(SVG.escape(title))</h1>\n"
        h += "<p>Best combination: <strong>\(SVG.escape(best.combination))</strong> (layer \(SVG.escape(best.layer)), "
        h += "pooling \(SVG.escape(best.pooling)), dimension \(best.dimension)): accuracy \(Self.percent(best.accuracy))%, "
        h += "macro-F1 \(String(format: "%.4f", best.macroF1)).</p>\n"
        if let b = baselineAccuracy { h += "<p>Majority-class baseline accuracy: \(Self.percent(b))%.</p>\n" }
        h += "<div class=\"figures\">\n<figure>\(heatmapSVG)<figcaption>Accuracy by layer and pooling</figcaption></figure>\n"
        h += "<figure>\(confusionSVG)<figcaption>Confusion matrix of \(SVG.escape(best.combination))</figcaption></figure>\n</div>\n"
        h += "<table>\n<tr><th>Rank</th><th>Combination</th><th>Layer</th><th>Pooling</th><th>Dim</th>"
        h += "<th>Accuracy (%)</th><th>Macro-F1</th><th>Train (s)</th></tr>\n"
        for (i, r) in ranked.enumerated() {
            h += "<tr\(i == 0 ? " class=\"best\"" : "")><td class=\"n\">\(i + 1)</td><td>\(SVG.escape(r.combination))</td>"
            h += "<td>\(SVG.escape(r.layer))</td><td>\(SVG.escape(r.pooling))</td><td class=\"n\">\(r.dimension)</td>"
            h += "<td class=\"n\">\(Self.percent(r.accuracy))</td><td class=\"n\">\(String(format: "%.4f", r.macroF1))</td>"
            h += "<td class=\"n\">\(String(format: "%.2f", r.trainSeconds))</td></tr>\n"
        }
        h += "</table>\n</body>\n</html>\n"
        return h
    }

    private static func stripDeclaration(_ svg: String) -> String {
        guard svg.hasPrefix("<?xml"), let end = svg.range(of: "?>") else { return svg }
        return String(svg[end.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: SVG figures

    /// Heatmap SVG: rows = layers, columns = pooling methods (both in first-appearance order of the input
    /// results), cell = accuracy (%) (the best result when several share a cell), best cell outlined in red,
    /// colour legend on the right. Missing combinations are grey with a dash.
    public func heatmapSVG() -> String {
        let layers = Self.orderedUnique(inputOrder.map(\.layer))
        let poolings = Self.orderedUnique(inputOrder.map(\.pooling))
        var cells: [String: AblationResult] = [:]
        for r in ranked.reversed() { cells["\(r.layer)\u{1}\(r.pooling)"] = r }  // best one per cell wins
        let values = cells.values.map(\.accuracy)
        let low = values.min() ?? 0, high = values.max() ?? 1
        let cellWidth = 96.0, cellHeight = 40.0
        let left = 20 + 7.5 * Double(max(5, layers.map(\.count).max() ?? 5))
        let top = 76.0
        let gridWidth = cellWidth * Double(poolings.count), gridHeight = cellHeight * Double(layers.count)
        let legendX = left + gridWidth + 30
        let width = legendX + 90, height = top + max(gridHeight, 160) + 50
        var svg = SVG(width: width, height: height)
        svg.text(x: width / 2, y: 24, "Accuracy (%) by layer and pooling", size: 16, anchor: "middle", weight: "bold")
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
                    let t = high > low ? (r.accuracy - low) / (high - low) : 1
                    let colour = Self.colour(t)
                    svg.rect(x: x, y: y, width: cellWidth, height: cellHeight, fill: colour.hex, stroke: "#fff")
                    svg.text(x: x + cellWidth / 2, y: y + cellHeight / 2 + 5, Self.percent(r.accuracy), size: 13,
                             anchor: "middle", fill: colour.luminance > 0.5 ? "#000" : "#fff")
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
        svg.legend(x: legendX, y: top, height: max(gridHeight, 160), low: Self.percent(low), high: Self.percent(high),
                   title: "acc. %", stops: (0...10).map { Self.colour(Double($0) / 10).hex })
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
