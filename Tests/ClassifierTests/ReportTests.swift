import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Classifier

/// Collects element names and text of an XML document; fails on malformed XML.
private final class XMLCollector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var texts: [String] = []
    private var current = ""
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(name)
        current = ""
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" { texts.append(current) }
        current = ""
    }
}

private func parseXML(_ text: String) -> (ok: Bool, collector: XMLCollector, error: String) {
    let parser = XMLParser(data: Data(text.utf8))
    let collector = XMLCollector()
    parser.delegate = collector
    let ok = parser.parse()
    return (ok, collector, parser.parserError.map { "\($0)" } ?? "")
}

private func sampleReport() throws -> AblationReport {
    let results = [
        AblationResult(combination: "last+mean", pooling: "mean", layer: "last", dimension: 384, accuracy: 0.781,
                       macroF1: 0.779, trainSeconds: 1.2),
        AblationResult(combination: "last+cls", pooling: "cls", layer: "last", dimension: 384, accuracy: 0.742,
                       macroF1: 0.740, trainSeconds: 1.1),
        AblationResult(combination: "-2+mean", pooling: "mean", layer: "-2", dimension: 384, accuracy: 0.802,
                       macroF1: 0.801, trainSeconds: 1.3),
        AblationResult(combination: "-2+cls", pooling: "cls", layer: "-2", dimension: 384, accuracy: 0.751,
                       macroF1: 0.750, trainSeconds: 1.0),
        AblationResult(combination: "concat(-1,-2)+mean", pooling: "mean", layer: "concat(-1,-2)", dimension: 768,
                       accuracy: 0.795, macroF1: 0.796, trainSeconds: 2.5),
        AblationResult(combination: "A&B <\"odd\">, name", pooling: "max", layer: "last", dimension: 384,
                       accuracy: 0.700, macroF1: 0.690, trainSeconds: 1.4),
    ]
    let confusion = ConfusionMatrix(classes: ["negative", "positive"], counts: [[410, 90], [108, 392]])
    return try AblationReport(title: "Movie reviews ablation", results: results, bestConfusion: confusion,
                              baselineAccuracy: 0.5)
}

/// Renders each SVG to `<svg>.png` with rsvg-convert when it is installed (apt-get install librsvg2-bin),
/// expecting it to succeed; the PNGs' bytes, or none without rsvg-convert.
func renderedWithRSVG(_ svgs: [String]) throws -> [Data] {
    guard let rsvg = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"]
        .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return [] }
    return try svgs.map { svg in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: rsvg)
        process.arguments = ["-o", svg + ".png", svg]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "rsvg-convert failed on \(svg)")
        return try Data(contentsOf: URL(fileURLWithPath: svg + ".png"))
    }
}

@Suite struct ReportTests {
    @Test func rankingAndTextFormats() throws {
        let report = try sampleReport()
        #expect(report.best.combination == "-2+mean")
        #expect(report.ranked.map(\.accuracy) == report.ranked.map(\.accuracy).sorted(by: >))
        let csv = report.csv().split(separator: "\n")
        #expect(csv[0] == "rank,combination,pooling,layer,dimension,accuracy,macro_f1,roc_auc,ci_lower,ci_upper,cv_mean,cv_std,chosen_C,p_value,verdict,cv_p_value,train_seconds")
        #expect(csv[1] == "1,-2+mean,mean,-2,384,0.802000,0.801000,,,,,,,,,,1.300")
        #expect(csv.count == 7)
        #expect(csv[6] == "6,\"A&B <\"\"odd\"\">, name\",max,last,384,0.700000,0.690000,,,,,,,,,,1.400")
        let md = report.markdown()
        #expect(md.contains("**Best combination: -2+mean**"))
        #expect(md.contains("| 1 | **-2+mean** | -2 | mean | 384 | 80.20 | 0.8010 | 1.30 |"))
        #expect(md.contains("| negative | 410 | 90 |"))
        let byF1 = try AblationReport(results: report.ranked, bestConfusion: report.bestConfusion, rankedBy: .macroF1)
        #expect(byF1.ranked.map(\.combination).prefix(2) == ["-2+mean", "concat(-1,-2)+mean"])
    }

    @Test func writesAllFilesWithValidSVG() throws {
        let report = try sampleReport()
        let dir = NSTemporaryDirectory() + "report-" + UUID().uuidString
        let files = try report.write(to: dir)
        defer { if ProcessInfo.processInfo.environment["KEEP_REPORT"] == nil { try? FileManager.default.removeItem(atPath: dir) } }
        for path in [files.csv, files.json, files.markdown, files.heatmapSVG, files.confusionSVG, files.forestSVG, files.lengthSVG, files.html] {
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        }
        // JSON decodes back.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files.json))) as? [String: Any]
        #expect(json?["best"] as? String == "-2+mean")
        #expect((json?["results"] as? [Any])?.count == 6)

        let heatmap = try String(contentsOfFile: files.heatmapSVG, encoding: .utf8)
        let parsedHeatmap = parseXML(heatmap)
        #expect(parsedHeatmap.ok, "heatmap.svg is not well-formed XML: \(parsedHeatmap.error)")
        #expect(parsedHeatmap.collector.elements.first == "svg")
        // 3 layers x 3 poolings = 9 cells (+ background, best outline, legend bar).
        #expect(parsedHeatmap.collector.elements.filter { $0 == "rect" }.count == 9 + 3)
        let texts = parsedHeatmap.collector.texts
        for expected in ["80.20", "78.10", "74.20", "75.10", "79.50", "70.00", "last", "-2", "concat(-1,-2)",
                         "mean", "cls", "max", "–"] {
            #expect(texts.contains(expected), "missing heatmap label \(expected)")
        }
        #expect(parsedHeatmap.collector.elements.contains("linearGradient"))

        let confusion = try String(contentsOfFile: files.confusionSVG, encoding: .utf8)
        let parsedConfusion = parseXML(confusion)
        #expect(parsedConfusion.ok, "confusion.svg is not well-formed XML: \(parsedConfusion.error)")
        for expected in ["410", "90", "108", "392", "negative", "positive"] {
            #expect(parsedConfusion.collector.texts.contains(expected))
        }

        let html = try String(contentsOfFile: files.html, encoding: .utf8)
        #expect(html.components(separatedBy: "<svg ").count == 4)  // forest, heatmap, confusion inlined (no length buckets)
        #expect(!html.contains("<?xml"))
        #expect(html.contains("A&amp;B &lt;&quot;odd&quot;&gt;, name"))

        // Optional: render with rsvg-convert when installed (apt-get install librsvg2-bin).
        for png in try renderedWithRSVG([files.heatmapSVG, files.confusionSVG, files.forestSVG, files.lengthSVG]) {
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        }
    }

    @Test func manyClassConfusionIsValid() throws {
        let classes = (0..<15).map { "class_\($0)" }
        let counts = (0..<15).map { i in (0..<15).map { j in i == j ? 40 : (i + j) % 3 } }
        let report = try AblationReport(results: [AblationResult(combination: "x", pooling: "mean", layer: "last",
                                                                 dimension: 8, accuracy: 0.9, macroF1: 0.9, trainSeconds: 0)],
                                        bestConfusion: ConfusionMatrix(classes: classes, counts: counts))
        let parsed = parseXML(report.confusionSVG())
        #expect(parsed.ok)
        #expect(parsed.collector.elements.filter { $0 == "rect" }.count == 15 * 15 + 2)
        #expect(parsed.collector.texts.contains("class_14"))
        #expect(parseXML(report.heatmapSVG()).ok)
        #expect(throws: ClassifierError.self) {
            try AblationReport(results: [], bestConfusion: ConfusionMatrix(classes: ["a"], counts: [[1]]))
        }
    }
}

/// A report with everything a cross-validated ablation adds: intervals, p-values, C, slices, the context.
private func fullReport() throws -> AblationReport {
    var results: [AblationResult] = []
    let specs: [(String, String, String, Double, Double?)] = [
        ("mean@L4", "mean", "L4", 0.7927, nil), ("mean@L6", "mean", "L6", 0.7809, 0.21), ("cls@L4", "cls", "L4", 0.7553, 0.0004),
        ("max@L4", "max", "L4", 0.7567, 0.003), ("cls@L6", "cls", "L6", 0.7312, 1.2e-6), ("max@L6", "max", "L6", 0.7269, 2e-9),
    ]
    for (i, s) in specs.enumerated() {
        var r = AblationResult(combination: s.0, pooling: s.1, layer: s.2, dimension: 384, accuracy: s.3, macroF1: s.3 - 0.001,
                               trainSeconds: 1, rocAUC: s.3 + 0.08)
        r.interval = ConfidenceInterval(lower: s.3 - 0.017, upper: s.3 + 0.017, level: 0.95, method: "bootstrap")
        r.cvAccuracy = FoldScores(values: [s.3 - 0.01, s.3, s.3 + 0.01, s.3 + 0.005, s.3 - 0.005])
        r.chosenC = i % 2 == 0 ? 0.1 : 0.01
        r.foldC = [0.1, 0.1, 0.01, 0.1, 0.1]
        r.pValue = s.4
        r.verdict = s.4.map { AblationReport.verdict(pValue: $0) } ?? "best"
        r.byLength = [SliceScore(slice: "≤ 12", rows: 500, accuracy: s.3 - 0.03), SliceScore(slice: "13–20", rows: 520, accuracy: s.3),
                      SliceScore(slice: "> 20", rows: 480, accuracy: s.3 + 0.02 * Double(i % 3))]
        r.byGroup = [SliceScore(slice: "web", rows: 1000, accuracy: s.3), SliceScore(slice: "news <&>", rows: 500, accuracy: s.3 - 0.05)]
        results.append(r)
    }
    let context = AblationContext(evaluation: "5-fold stratified cross-validation", folds: 5, repeats: 1, seed: 7, trainRows: 8, testRows: 0,
                                  foldAssignment: [[0, 1, 2, 3, 4, 0, 1, 2]], cGrid: [0.01, 0.1, 1], fixedC: nil, innerFolds: 3,
                                  bootstrapResamples: 1000, significanceMethod: "corrected t-test", intervalMethod: "bootstrap",
                                  lengthBuckets: ["≤ 12", "13–20", "> 20"], groupColumn: "source", groups: ["news <&>", "web"])
    return try AblationReport(title: "Full", results: results,
                              bestConfusion: ConfusionMatrix(classes: ["negative", "positive"], counts: [[800, 200], [210, 790]]),
                              baselineAccuracy: 0.504, context: context)
}

@Suite struct CrossValidatedReportTests {
    @Test func answerSentenceStatesWinnerAndConfidence() throws {
        let report = try fullReport()
        #expect(report.answer() == "mean@L4 is the best of 6 combinations by accuracy: 79.27% (95% CI 77.57–80.97%); 1 of the other 5 is "
                + "statistically indistinguishable from it at p ≥ 0.05 (mean@L6), so the data do not single out one winner; the other 4 are worse.")
        let byF1 = try AblationReport(title: "F1", results: report.inputOrder, bestConfusion: report.bestConfusion, rankedBy: .macroF1,
                                      context: report.context)
        #expect(byF1.answer().hasPrefix("mean@L4 is the best of 6 combinations by macro-F1: 0.7917 (95% CI 0.7757–0.8097); "))
        #expect(parseXML(byF1.heatmapSVG()).collector.texts.contains("macro-F1 by layer and pooling with 95% CI"))
        #expect(AblationReport.verdict(pValue: 0.21) == "indistinguishable from the best (p = 0.210)")
        #expect(AblationReport.verdict(pValue: 0.0004) == "worse (p = 4.0e-04)")
        #expect(AblationReport.verdict(pValue: 0.003) == "worse (p = 0.0030)")
    }

    @Test func tablesCarryIntervalsTestsAndSlices() throws {
        let report = try fullReport()
        let md = report.markdown()
        #expect(md.contains("**Answer: mean@L4 is the best"))
        #expect(md.contains("| 1 | **mean@L4** | L4 | mean | 384 | 79.27 | 0.7917 | 0.8727 | 77.57–80.97 | 79.27 ± 0.79 | 0.1 (folds: 0.1, 0.1, 0.01, 0.1, 0.1) | best | 1.00 |"))
        #expect(md.contains("| mean@L6 | L6 | mean | 384 | 78.09 |"))
        #expect(md.contains("indistinguishable from the best (p = 0.210)"))
        #expect(md.contains("## Accuracy (%) by text length"))
        #expect(md.contains("| Combination | ≤ 12 (n = 500) | 13–20 (n = 520) | > 20 (n = 480) |"))
        #expect(md.contains("## Accuracy (%) by source"))
        let csv = report.csv().split(separator: "\n")
        #expect(csv[0].hasSuffix("train_seconds,acc_len_≤ 12,acc_len_13–20,acc_len_> 20,acc_group_news <&>,acc_group_web"))
        #expect(csv[2].hasPrefix("2,mean@L6,mean,L6,384,0.780900,0.779900,0.860900,0.763900,0.797900,"))
        #expect(csv[2].contains(",0.01,0.21,indistinguishable from the best (p = 0.210),,1.000,0.750900,"))
        let json = try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any]
        let context = json?["context"] as? [String: Any]
        #expect(context?["foldAssignment"] as? [[Int]] == [[0, 1, 2, 3, 4, 0, 1, 2]])
        #expect((json?["answer"] as? String)?.hasPrefix("mean@L4 is the best") == true)
        let first = (json?["results"] as? [[String: Any]])?.first
        #expect(first?["chosenC"] as? Double == 0.1)
        #expect((first?["interval"] as? [String: Any])?["lower"] as? Double == 0.7927 - 0.017)
    }

    @Test func figuresAreValidAndMarkTheBest() throws {
        let report = try fullReport()
        let forest = parseXML(report.forestSVG())
        #expect(forest.ok, "forest.svg: \(forest.error)")
        #expect(forest.collector.elements.filter { $0 == "circle" }.count == 6)
        #expect(forest.collector.elements.filter { $0 == "line" }.count >= 6 + 1 + 5 + 1)  // intervals, axis, ticks, best line
        #expect(forest.collector.texts.contains("79.27  best"))
        #expect(forest.collector.texts.contains("78.09  p = 0.210"))
        let length = parseXML(report.lengthSVG())
        #expect(length.ok, "length.svg: \(length.error)")
        #expect(length.collector.elements.filter { $0 == "polyline" }.count == 3)  // one per pooling
        for label in ["≤ 12", "13–20", "> 20", "mean (mean@L4)", "cls (cls@L4)", "max (max@L4)", "n = 500"] {
            #expect(length.collector.texts.contains(label), "missing \(label)")
        }
        let heatmap = parseXML(report.heatmapSVG())
        #expect(heatmap.ok)
        #expect(heatmap.collector.texts.contains("[77.57, 80.97]"))
        #expect(heatmap.collector.texts.contains("Accuracy (%) by layer and pooling with 95% CI"))
        let html = report.html()
        #expect(html.components(separatedBy: "<svg ").count == 5)
        #expect(html.contains("<p class=\"answer\">mean@L4 is the best"))
        #expect(html.contains("news &lt;&amp;&gt;"))
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http"))  // self-contained
        let dir = NSTemporaryDirectory() + "full-report-" + UUID().uuidString
        let files = try report.write(to: dir)
        defer { if ProcessInfo.processInfo.environment["KEEP_REPORT"] == nil { try? FileManager.default.removeItem(atPath: dir) } }
        _ = try renderedWithRSVG([files.heatmapSVG, files.forestSVG, files.lengthSVG])
    }
}
