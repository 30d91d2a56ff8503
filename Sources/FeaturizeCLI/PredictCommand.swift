import ArgumentParser
import Classifier
import FeatureIO
import Foundation

/// `featurize predict`: predicted label and class probabilities for each feature row, as CSV.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict labels and class probabilities with a trained model (CSV: row,label,p_<class>...).")

    @Option(help: "Model JSON written by `featurize train`.")
    var model: String

    @Option(help: "Feature matrix [rows, dim] as .npy.")
    var features: String

    @Option(help: "CSV output path (default: standard output).")
    var output: String?

    @Flag(name: .long, help: "Replace the output file if it exists.")
    var overwrite = false

    func run() throws {
        let target = try OutputTarget(output ?? "-", overwrite: overwrite, inputs: [model, features])
        let classifier = try LogisticRegressionModel.load(from: model)
        let x = try NpyReader.readMatrix(path: features)
        let probabilities = try classifier.predictProbabilities(x)
        var csv = "row,label," + classifier.classes.map { csvField("p_" + $0) }.joined(separator: ",") + "\n"
        for (row, p) in probabilities.enumerated() {
            var best = 0
            for k in 1..<p.count where p[k] > p[best] { best = k }
            csv += "\(row),\(csvField(classifier.classes[best])),"
                + p.map { String(format: "%.6f", $0) }.joined(separator: ",") + "\n"
        }
        try target.write(Array(csv.utf8))
        if let output, output != "-" { try StandardOutput().line("wrote \(probabilities.count) predictions to \(output)") }
    }
}

/// Quotes a CSV field when it contains a comma, quote or line break.
func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}
