import ArgumentParser
import Classifier
import FeatureIO
import Foundation

/// `featurize train`: fits a logistic-regression classifier on an .npy feature matrix and a labels file.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a logistic-regression classifier (L-BFGS, L2, standardised features) on features + labels.",
        discussion: """
            The features are standardised first (each column to mean 0 and variance 1 on the training rows; the \
            means and scales are stored in the model and applied at prediction), then an L2-regularised \
            multinomial (binary for two classes) logistic regression is fitted with L-BFGS: the same model as \
            scikit-learn's make_pipeline(StandardScaler(), LogisticRegression(C=...)), so --C means what a \
            scikit-learn user expects (smaller C = stronger regularisation; intercepts are not penalised).
            """)

    @Option(help: "Feature matrix [rows, dim] as .npy (float16/float32/float64, C order).")
    var features: String

    @Option(help: "Labels file: one label per line, one line per feature row.")
    var labels: String

    @Option(help: "Where to write the model JSON (replaced atomically; an existing file only with --overwrite).")
    var output: String

    @Flag(name: .long, help: "Replace the output file if it exists.")
    var overwrite = false

    @Option(name: .customLong("C"), help: "Inverse L2 regularisation strength on the standardised features (scikit-learn's C).")
    var c: Double = 1.0

    @Option(name: .customLong("max-iter"), help: "Maximum L-BFGS iterations.")
    var maxIter: Int = 1000

    @Option(name: .customLong("tol"), help: "Gradient tolerance (max |gradient| of the mean loss), as scikit-learn's tol.")
    var tolerance: Double = 1e-4

    @Option(name: .customLong("class-weight"), help: "Class weighting: none or balanced.")
    var classWeight: String = "none"

    func run() throws {
        guard let weighting = ClassWeighting(rawValue: classWeight) else {
            throw ValidationError("--class-weight must be 'none' or 'balanced', got '\(classWeight)'")
        }
        let target = try OutputTarget(output, overwrite: overwrite, inputs: [features, labels])
        let x = try NpyReader.readMatrix(path: features)
        let y = try LabelsFile.read(path: labels)
        guard x.rows == y.count else {
            throw ClassifierError.labelsFile(path: labels, reason: "has \(y.count) labels but '\(features)' has \(x.rows) rows")
        }
        let start = Date()
        let model = try LogisticRegression.train(
            features: x, labels: y,
            options: LogisticRegressionOptions(C: c, maxIterations: maxIter, tolerance: tolerance, classWeighting: weighting))
        let seconds = Date().timeIntervalSince(start)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try target.write([UInt8](try encoder.encode(model)))
        let trainMetrics = try ClassificationMetrics.compute(trueLabels: y, predicted: model.predict(x), classes: model.classes)
        let out = StandardOutput()
        try out.line("trained on \(x.rows) rows x \(x.columns) features, \(model.classes.count) classes: "
              + model.classes.joined(separator: ", "))
        try out.line("iterations: \(model.iterations) (\(model.functionEvaluations) evaluations), converged: \(model.converged) (\(model.stopReason.rawValue)), "
              + "loss: \(String(format: "%.6f", model.finalLoss)), time: \(String(format: "%.2f", seconds)) s")
        try out.line("training accuracy: \(String(format: "%.2f", 100 * trainMetrics.accuracy))%, "
              + "macro-F1: \(String(format: "%.4f", trainMetrics.macroF1))")
        try out.line("model written to \(output)")
    }
}
