import Foundation

extension AblationReport {
    /// Forest plot SVG: one row per combination (best first), a dot at its ranking score and a horizontal bar
    /// over its confidence interval (when known); the best is red, with a dashed vertical line at its score and
    /// a shaded band over its interval; combinations judged worse than the best are grey, the indistinguishable
    /// ones blue.
    public func forestSVG() -> String {
        let rows = ranked
        let nameWidth = 16 + 7.0 * Double(max(10, rows.map(\.combination.count).max() ?? 10))
        let left = nameWidth, plotWidth = 420.0, rowHeight = 22.0, top = 60.0
        let plotHeight = rowHeight * Double(rows.count)
        let width = left + plotWidth + 180, height = top + plotHeight + 60
        var lows: [Double] = [], highs: [Double] = []
        for r in rows {
            let v = r.score(rankedBy)
            if v.isFinite { lows.append(v); highs.append(v) }
            if let ci = r.interval { lows.append(ci.lower); highs.append(ci.upper) }
        }
        var low = lows.min() ?? 0, high = highs.max() ?? 1
        if high - low < 1e-9 { low -= 0.01; high += 0.01 }
        let pad = (high - low) * 0.05
        low -= pad; high += pad
        func x(_ v: Double) -> Double { left + (v - low) / (high - low) * plotWidth }
        var svg = SVG(width: width, height: height)
        svg.text(x: width / 2, y: 24, "\(rankedBy.displayName.prefix(1).uppercased() + rankedBy.displayName.dropFirst()) of every combination with its 95% interval",
                 size: 15, anchor: "middle", weight: "bold")
        let bestScore = best.score(rankedBy)
        if let ci = best.interval {
            svg.rect(x: x(ci.lower), y: top - 6, width: max(1, x(ci.upper) - x(ci.lower)), height: plotHeight + 6,
                     fill: "#fde0dd", stroke: nil)
        }
        // Axis with five ticks.
        let axisY = top + plotHeight + 8
        svg.line(x1: left, y1: axisY, x2: left + plotWidth, y2: axisY, stroke: "#444")
        for i in 0...4 {
            let v = low + (high - low) * Double(i) / 4
            svg.line(x1: x(v), y1: axisY, x2: x(v), y2: axisY + 5, stroke: "#444")
            svg.text(x: x(v), y: axisY + 18, show(v), size: 10, anchor: "middle", fill: "#444")
        }
        svg.text(x: left + plotWidth / 2, y: axisY + 36, "\(rankedBy.displayName)\(unit.isEmpty ? "" : " (%)")", size: 12,
                 anchor: "middle", fill: "#555")
        if bestScore.isFinite {
            svg.line(x1: x(bestScore), y1: top - 6, x2: x(bestScore), y2: top + plotHeight, stroke: "#d62728", dash: "4 3")
        }
        let alpha = context?.alpha ?? 0.05
        for (i, r) in rows.enumerated() {
            let y = top + rowHeight * (Double(i) + 0.5)
            let colour = i == 0 ? "#d62728" : (r.pValue.map { $0 < alpha } ?? false) ? "#888888" : "#1f77b4"
            svg.text(x: left - 10, y: y + 4, r.combination, size: 11, anchor: "end", fill: i == 0 ? "#d62728" : "#222",
                     weight: i == 0 ? "bold" : nil)
            if let ci = r.interval {
                svg.line(x1: x(ci.lower), y1: y, x2: x(ci.upper), y2: y, stroke: colour, width: 2)
            }
            let v = r.score(rankedBy)
            if v.isFinite {
                svg.circle(cx: x(v), cy: y, r: i == 0 ? 5 : 4, fill: colour)
                var label = show(v)
                if i == 0 { label += "  best" } else if let p = r.pValue { label += "  p = \(Self.formatP(p))" }
                svg.text(x: left + plotWidth + 10, y: y + 4, label, size: 10, fill: colour)
            }
        }
        svg.text(x: left, y: height - 6, "red: best; blue: indistinguishable from the best (p ≥ \(alpha)); grey: worse", size: 10, fill: "#555")
        return svg.document()
    }

    /// Accuracy by text-length bucket SVG: x = length bucket, y = accuracy (%), one line per pooling method,
    /// each drawn for that pooling's best-ranked combination (named in the legend). A note when there are no
    /// length buckets.
    public func lengthSVG() -> String {
        let buckets = context?.lengthBuckets ?? []
        var perPooling: [AblationResult] = []
        var seen = Set<String>()
        for r in ranked where seen.insert(r.pooling).inserted && !(r.byLength ?? []).isEmpty { perPooling.append(r) }
        let left = 70.0, top = 50.0, plotWidth = max(320.0, 110.0 * Double(buckets.count)), plotHeight = 260.0
        let width = left + plotWidth + 230, height = top + plotHeight + 70
        var svg = SVG(width: width, height: height)
        svg.text(x: width / 2, y: 24, "Accuracy (%) by text length (tokens), best layer per pooling", size: 15,
                 anchor: "middle", weight: "bold")
        guard !buckets.isEmpty, !perPooling.isEmpty else {
            svg.text(x: width / 2, y: top + plotHeight / 2, "no length buckets in this report", size: 12, anchor: "middle", fill: "#888")
            return svg.document()
        }
        var values: [Double] = []
        for r in perPooling { values += (r.byLength ?? []).map(\.accuracy) }
        var low = values.min() ?? 0, high = values.max() ?? 1
        if high - low < 1e-9 { low -= 0.01; high += 0.01 }
        let pad = (high - low) * 0.08
        low = max(0, low - pad); high = min(1, high + pad)
        func x(_ i: Int) -> Double { left + plotWidth * (Double(i) + 0.5) / Double(buckets.count) }
        func y(_ v: Double) -> Double { top + plotHeight - (v - low) / (high - low) * plotHeight }
        svg.line(x1: left, y1: top + plotHeight, x2: left + plotWidth, y2: top + plotHeight, stroke: "#444")
        svg.line(x1: left, y1: top, x2: left, y2: top + plotHeight, stroke: "#444")
        for i in 0...4 {
            let v = low + (high - low) * Double(i) / 4
            svg.line(x1: left - 5, y1: y(v), x2: left, y2: y(v), stroke: "#444")
            svg.line(x1: left, y1: y(v), x2: left + plotWidth, y2: y(v), stroke: "#eeeeee")
            svg.text(x: left - 8, y: y(v) + 4, Self.percent(v), size: 10, anchor: "end", fill: "#444")
        }
        var counts: [String: Int] = [:]
        for s in perPooling[0].byLength ?? [] { counts[s.slice] = s.rows }
        for (i, b) in buckets.enumerated() {
            svg.text(x: x(i), y: top + plotHeight + 18, b, size: 11, anchor: "middle")
            svg.text(x: x(i), y: top + plotHeight + 32, "n = \(counts[b] ?? 0)", size: 9, anchor: "middle", fill: "#777")
        }
        svg.text(x: left + plotWidth / 2, y: top + plotHeight + 52, "tokens per text", size: 12, anchor: "middle", fill: "#555")
        let palette = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
        for (k, r) in perPooling.enumerated() {
            let colour = palette[k % palette.count]
            let byName = Dictionary((r.byLength ?? []).map { ($0.slice, $0.accuracy) }, uniquingKeysWith: { a, _ in a })
            var points: [(Double, Double)] = []
            for (i, b) in buckets.enumerated() { if let v = byName[b] { points.append((x(i), y(v))) } }
            svg.polyline(points, stroke: colour, width: 2)
            for p in points { svg.circle(cx: p.0, cy: p.1, r: 3.5, fill: colour) }
            let ly = top + 14 + 18 * Double(k)
            svg.line(x1: left + plotWidth + 16, y1: ly - 4, x2: left + plotWidth + 36, y2: ly - 4, stroke: colour, width: 2)
            svg.text(x: left + plotWidth + 42, y: ly, "\(r.pooling) (\(r.combination))", size: 11)
        }
        return svg.document()
    }
}

extension SVG {
    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1, dash: String? = nil) {
        var attributes = "x1=\"\(Self.f(x1))\" y1=\"\(Self.f(y1))\" x2=\"\(Self.f(x2))\" y2=\"\(Self.f(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(Self.f(width))\""
        if let dash { attributes += " stroke-dasharray=\"\(dash)\"" }
        body.append("<line \(attributes)/>")
    }

    mutating func circle(cx: Double, cy: Double, r: Double, fill: String) {
        body.append("<circle cx=\"\(Self.f(cx))\" cy=\"\(Self.f(cy))\" r=\"\(Self.f(r))\" fill=\"\(fill)\"/>")
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1) {
        guard points.count > 1 else { return }
        let list = points.map { "\(Self.f($0.0)),\(Self.f($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(list)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(Self.f(width))\"/>")
    }
}
