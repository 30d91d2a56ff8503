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

@Suite struct ReportTests {
    @Test func rankingAndTextFormats() throws {
        let report = try sampleReport()
        #expect(report.best.combination == "-2+mean")
        #expect(report.ranked.map(\.accuracy) == report.ranked.map(\.accuracy).sorted(by: >))
        let csv = report.csv().split(separator: "\n")
        #expect(csv[0] == "rank,combination,pooling,layer,dimension,accuracy,macro_f1,train_seconds")
        #expect(csv[1] == "1,-2+mean,mean,-2,384,0.802000,0.801000,1.300")
        #expect(csv.count == 7)
        #expect(csv[6] == "6,\"A&B <\"\"odd\"\">, name\",max,last,384,0.700000,0.690000,1.400")
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
        for path in [files.csv, files.json, files.markdown, files.heatmapSVG, files.confusionSVG, files.html] {
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
        #expect(html.components(separatedBy: "<svg ").count == 3)  // both figures inlined
        #expect(!html.contains("<?xml"))
        #expect(html.contains("A&amp;B &lt;&quot;odd&quot;&gt;, name"))

        // Optional: render with rsvg-convert when installed (apt-get install librsvg2-bin).
        let rsvg = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first { FileManager.default.isExecutableFile(atPath: $0) }
        if let rsvg {
            for svg in [files.heatmapSVG, files.confusionSVG] {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: rsvg)
                process.arguments = ["-o", svg + ".png", svg]
                try process.run()
                process.waitUntilExit()
                #expect(process.terminationStatus == 0, "rsvg-convert failed on \(svg)")
                let png = try Data(contentsOf: URL(fileURLWithPath: svg + ".png"))
                #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            }
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
