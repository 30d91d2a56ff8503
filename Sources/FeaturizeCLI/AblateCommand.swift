import ArgumentParser
import Classifier
import Featurize
import Foundation
import Scheduler

/// `featurize ablate`: which pooling and which layers make the best features for a labelled task.
struct AblateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ablate",
        abstract: "Train and evaluate a classifier per pooling × layer combination; write a report.",
        discussion: """
            The encoder runs once per batch; every combination is pooled from the same hidden states. Each \
            combination gets its own standardised logistic regression, trained on the training rows and scored \
            on the test rows (a --test file, or a stratified --test-fraction split with --seed). The report \
            directory gets results.csv, results.json, report.md, heatmap.svg, confusion.svg and report.html.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Labelled training data: .csv, .tsv or .jsonl.")
    var train: String

    @Option(name: .long, help: "Labelled test data (same columns); without it --test-fraction of --train is held out.")
    var test: String?

    @Option(name: .customLong("test-fraction"), help: "Fraction of --train held out (stratified) when there is no --test.")
    var testFraction: Double = 0.2

    @Option(name: .long, help: "Seed of the train/test split.")
    var seed: UInt64 = 0

    @Option(name: .customLong("text-column"), help: "Column (CSV/TSV) or field (JSONL) of the text.")
    var textColumn: String = "text"

    @Option(name: .customLong("label-column"), help: "Column (CSV/TSV) or field (JSONL) of the label.")
    var labelColumn: String = "label"

    @Option(name: .long, help: "Pooling methods to compare, comma-separated (cls, mean, max, mean_sqrt_len, weighted_mean, last, pooler).")
    var pooling: String = "cls,mean,max"

    // `.unconditional`: the value may start with '-' ("-4..-1").
    @Option(name: .long, parsing: .unconditional, help: "Single layers to compare: all (0 = embeddings ... L), a list (0,3,6) or a range (-4..-1).")
    var layers: String = "all"

    @Option(name: .long, parsing: .singleValue, help: "Layer sets to compare too, REDUCE:LAYERS (e.g. concat:-4..-1, mean:-4..-1); repeatable.")
    var combos: [String] = []

    @Option(name: .long, help: "Report directory.")
    var report: String

    @Flag(name: .long, help: "Write into an existing, non-empty report directory.")
    var overwrite = false

    @Option(name: .customLong("C"), help: "Inverse L2 regularisation strength (as scikit-learn's C).")
    var regularization: Double = 1.0

    @Option(name: .customLong("max-iter"), help: "L-BFGS iteration limit per classifier.")
    var maxIterations: Int = 1000

    @Option(name: .customLong("class-weight"), help: "none or balanced.")
    var classWeight: String = "none"

    @OptionGroup var batching: BatchingOptions

    @OptionGroup var deviceOptions: DeviceOptions

    @Flag(name: .long, help: "Print only the final table.")
    var quiet = false

    func validate() throws {
        guard testFraction > 0 && testFraction < 1 else { throw ValidationError("--test-fraction must be in (0, 1)") }
        guard regularization > 0 else { throw ValidationError("--C must be positive") }
        guard maxIterations >= 1 else { throw ValidationError("--max-iter must be at least 1") }
        guard ClassWeighting(rawValue: classWeight) != nil else { throw ValidationError("--class-weight must be none or balanced") }
    }

    /// Texts and labels of a labelled file, in row order (two passes of the same reader, one per column).
    static func readLabelled(_ path: String, text: String, label: String) throws -> ([String], [String]) {
        let texts = try TextInputReader(path: path, field: text).readAll()
        let labels = try TextInputReader(path: path, field: label).readAll()
        guard texts.count == labels.count else {
            throw ValidationError("\(path): \(texts.count) texts but \(labels.count) labels")
        }
        if let empty = labels.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ValidationError("\(path): row \(empty + 1) has an empty label in column '\(label)'")
        }
        return (texts, labels)
    }

    func run() throws {
        let log: (String) -> Void = { line in if !quiet { StandardError.line(line) } }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: report, isDirectory: &isDir), !overwrite,
           !((try? FileManager.default.contentsOfDirectory(atPath: report))?.isEmpty ?? true) {
            throw ValidationError("report directory \(report) exists and is not empty; pass --overwrite")
        }
        let (texts, labels) = try Self.readLabelled(train, text: textColumn, label: labelColumn)
        var trainTexts = texts, trainLabels = labels, testTexts: [String] = [], testLabels: [String] = []
        if let test {
            (testTexts, testLabels) = try Self.readLabelled(test, text: textColumn, label: labelColumn)
            try Self.checkTestLabels(testLabels, trainLabels: labels, test: test, train: train, labelColumn: labelColumn)
        } else {
            let split = try TrainTestSplit.stratified(labels: labels, testFraction: testFraction, seed: seed)
            trainTexts = split.train.map { texts[$0] }; trainLabels = split.train.map { labels[$0] }
            testTexts = split.test.map { texts[$0] }; testLabels = split.test.map { labels[$0] }
        }
        guard !trainTexts.isEmpty, !testTexts.isEmpty else { throw ValidationError("need at least one training and one test row") }

        let model = modelOptions.model, maxLength = modelOptions.maxLength, threads = deviceOptions.threads
        let plan = try deviceOptions.plan { device in
            try usageErrors { try FeatureExtractor(modelDirectory: model, maxLength: maxLength, device: device, threads: threads) }
        }
        for w in plan.warnings { log("warning: \(w)") }
        guard let extractor = plan.devices.first else { throw ValidationError("--device \(deviceOptions.device) selects no device") }
        let combinations = try usageErrors {
            try AblationCombination.grid(pooling: pooling, layers: layers, combos: combos,
                                         numLayers: extractor.model.config.numLayers)
        }
        log("featurize ablate: \(combinations.count) combinations, \(trainTexts.count) training and \(testTexts.count) test texts, \(model)")

        let options = LogisticRegressionOptions(C: regularization, maxIterations: maxIterations,
                                                classWeighting: ClassWeighting(rawValue: classWeight) ?? .none)
        let outcome = try AblationStudy.run(
            trainTexts: trainTexts, trainLabels: trainLabels, testTexts: testTexts, testLabels: testLabels,
            extractor: extractor, combinations: combinations, options: options,
            batching: try batching.policy(for: plan, maxLength: extractor.maxLength),
            reportDirectory: report, title: "Featurize ablation: \((model as NSString).lastPathComponent) on \((train as NSString).lastPathComponent)",
            log: log)
        let out = StandardOutput()
        try out.line(outcome.report.markdown())
        try out.line("Encoded \(outcome.trainRows + outcome.testRows) texts once in \(String(format: "%.1f", outcome.extractSeconds)) s; report: \(outcome.files.html)")
    }
}
