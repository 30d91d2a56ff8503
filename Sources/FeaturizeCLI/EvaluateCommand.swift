import ArgumentParser
import Classifier
import FeatureIO
import Foundation

/// `featurize evaluate`: accuracy, macro-F1, per-class metrics, confusion matrix and majority baseline.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a trained model on features + labels (accuracy, macro-F1, per-class P/R/F1, confusion matrix).")

    @Option(help: "Model JSON written by `featurize train`.")
    var model: String

    @Option(help: "Feature matrix [rows, dim] as .npy.")
    var features: String

    @Option(help: "Labels file: one label per line, one line per feature row.")
    var labels: String

    @Option(help: "Also write the metrics as JSON to this path.")
    var json: String?

    @Flag(name: .long, help: "Replace the --json file if it exists.")
    var overwrite = false

    func run() throws {
        let jsonTarget = try json.map { try OutputTarget($0, option: "--json", overwrite: overwrite, inputs: [model, features, labels]) }
        let classifier = try LogisticRegressionModel.load(from: model)
        let x = try NpyReader.readMatrix(path: features)
        let y = try LabelsFile.read(path: labels)
        guard x.rows == y.count else {
            throw ClassifierError.labelsFile(path: labels, reason: "has \(y.count) labels but '\(features)' has \(x.rows) rows")
        }
        let known = Set(classifier.classes)
        if let bad = y.firstIndex(where: { !known.contains($0) }) {
            throw ClassifierError.labelsFile(path: labels, reason: ClassifierError.unknownLabel(
                label: y[bad], line: bad + 1, known: classifier.classes).description)
        }
        // Baseline: always predict the training set's most frequent class.
        var majority = 0
        for k in classifier.trainingClassCounts.indices
        where classifier.trainingClassCounts[k] > classifier.trainingClassCounts[majority] { majority = k }
        let metrics = try ClassificationMetrics.compute(
            trueLabels: y, predicted: classifier.predict(x), classes: classifier.classes,
            majorityClass: classifier.classes.indices.contains(majority) ? classifier.classes[majority] : nil)
        try StandardOutput().line(metrics.formatted())
        if let jsonTarget {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try jsonTarget.write([UInt8](try encoder.encode(metrics)))
        }
    }
}
