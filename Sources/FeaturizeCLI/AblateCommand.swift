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
            combination gets its own L2-regularised logistic regression on standardised features (each training \
            set's features are scaled to mean 0 and variance 1 before the fit, as scikit-learn's StandardScaler + \
            LogisticRegression(C=...) in a pipeline), so --C means what it means in scikit-learn.

            Evaluation: stratified --cv K-fold cross-validation (default 5, --repeats R, seeded by --seed) over the \
            training rows; with a --test file (or an explicit --test-fraction held out of --train) the test rows are \
            scored once by each combination's model refitted on all training rows, and the headline scores, \
            intervals and tests use the test set. --cv 0 (or 1) keeps a single split: train on the training rows, \
            score the test rows (--test-fraction 0.2 of --train when there is no --test).

            Every combination gets a 95% percentile-bootstrap interval (--bootstrap resamples over the test rows, or \
            over the out-of-fold predictions without a test set) and a paired test against the best on the same \
            rows: McNemar's exact test on the test set, or the corrected resampled t-test (Nadeau & Bengio) over the \
            per-fold differences. --C auto chooses C per combination (and per fold) from 10^-3 ... 10^2 by \
            --inner-cv fold stratified cross-validation on that fit's training rows only. Accuracy is also reported \
            per text-length bucket (token counts; quartiles, or --length-buckets) and per --group-column value.

            The report directory gets results.csv, results.json (with the fold of every training row), report.md, \
            heatmap.svg, forest.svg, length.svg, confusion.svg and a self-contained report.html.
            """)

    @OptionGroup var modelOptions: ModelOptions

    /// The prompt prepended to every text (issue 15; default: the model's default_prompt_name, as encode()).
    @OptionGroup var promptOptions: PromptOptions

    @Option(name: .long, help: "Labelled training data: .csv, .tsv or .jsonl.")
    var train: String

    @Option(name: .long, help: "Labelled test data (same columns), scored once by the models refitted on all of --train.")
    var test: String?

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

    @OptionGroup var batching: BatchingOptions

    @OptionGroup var deviceOptions: DeviceOptions

    @Flag(name: .long, help: "Print only the final table.")
    var quiet = false

    // MARK: Evaluation and classifier options (issue 17)

    @Option(name: .customLong("cv"), help: "Stratified K-fold cross-validation over the training rows (0 or 1: a single train/test split).")
    var cvFolds: Int = 5

    @Option(name: .long, help: "Repeats of the K-fold cross-validation (repeat r is seeded --seed + r).")
    var repeats: Int = 1

    @Option(name: .customLong("test-fraction"), help: "Hold out this fraction of --train (stratified, --seed) as the test set (default with --cv 0/1 and no --test: 0.2).")
    var testFraction: Double?

    @Option(name: .long, help: "Seed of the folds, the train/test split and the bootstrap.")
    var seed: UInt64 = 0

    @Option(name: .customLong("C"), help: "Inverse L2 regularisation strength on standardised features (scikit-learn's C), or auto: choose per combination by inner cross-validation.")
    var regularization: String = "1"

    @Option(name: .customLong("c-grid"), help: "Values --C auto chooses from, comma-separated (default 0.001,0.01,0.1,1,10,100).")
    var cGrid: String?

    @Option(name: .customLong("inner-cv"), help: "Folds of the inner cross-validation that --C auto uses on each training set.")
    var innerFolds: Int = 3

    @Option(name: .long, help: "Bootstrap resamples for the 95% confidence intervals.")
    var bootstrap: Int = 1000

    @Option(name: .long, help: "Ranking metric: accuracy, macro-f1 or roc-auc (two classes only).")
    var metric: String = "accuracy"

    @Option(name: .customLong("length-buckets"), help: "Upper edges of the text-length buckets in tokens, e.g. 32,64,128 (default: the quartiles).")
    var lengthBuckets: String?

    @Option(name: .customLong("group-column"), help: "Column (CSV/TSV) or field (JSONL) whose values the accuracy is broken down by.")
    var groupColumn: String?

    @Option(name: .customLong("max-iter"), help: "L-BFGS iteration limit per classifier.")
    var maxIterations: Int = 1000

    @Option(name: .customLong("class-weight"), help: "none or balanced.")
    var classWeight: String = "none"

    /// The fixed C, or nil for `--C auto`.
    var fixedC: Double? { regularization.lowercased() == "auto" ? nil : Double(regularization) }

    static func parseList<T>(_ text: String, _ option: String, _ parse: (String) -> T?) throws -> [T] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty else { throw ValidationError("\(option) is empty") }
        return try parts.map { p in
            guard let v = parse(p) else { throw ValidationError("\(option): '\(p)' is not a valid value") }
            return v
        }
    }

    func validate() throws {
        if let f = testFraction, !(f > 0 && f < 1) { throw ValidationError("--test-fraction must be in (0, 1)") }
        if regularization.lowercased() != "auto" {
            guard let c = Double(regularization), c > 0, c.isFinite else { throw ValidationError("--C must be a positive number or auto") }
        }
        if let cGrid {
            let grid = try Self.parseList(cGrid, "--c-grid") { Double($0) }
            guard grid.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw ValidationError("--c-grid values must be positive") }
        }
        guard cvFolds >= 0 else { throw ValidationError("--cv must be 0 (no cross-validation) or at least 2") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard innerFolds >= 2 else { throw ValidationError("--inner-cv must be at least 2") }
        guard bootstrap >= 1 else { throw ValidationError("--bootstrap must be at least 1") }
        guard RankingMetric(name: metric) != nil else { throw ValidationError("--metric must be accuracy, macro-f1 or roc-auc") }
        if let lengthBuckets {
            let edges = try Self.parseList(lengthBuckets, "--length-buckets") { Int($0) }
            guard edges.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--length-buckets edges must be positive token counts") }
        }
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

    /// Texts, labels and (with --group-column) groups of a labelled file.
    func readSide(_ path: String) throws -> LabelledTexts {
        let (texts, labels) = try Self.readLabelled(path, text: textColumn, label: labelColumn)
        guard let groupColumn else { return LabelledTexts(texts: texts, labels: labels) }
        let groups = try TextInputReader(path: path, field: groupColumn).readAll()
        guard groups.count == texts.count else {
            throw ValidationError("\(path): \(texts.count) texts but \(groups.count) values in group column '\(groupColumn)'")
        }
        return LabelledTexts(texts: texts, labels: labels, groups: groups)
    }

    /// The rows `indices` of a side.
    static func rows(_ side: LabelledTexts, _ indices: [Int]) -> LabelledTexts {
        LabelledTexts(texts: indices.map { side.texts[$0] }, labels: indices.map { side.labels[$0] },
                      groups: side.groups.map { g in indices.map { g[$0] } })
    }

    func run() throws {
        let log: (String) -> Void = { line in if !quiet { StandardError.line(line) } }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: report, isDirectory: &isDir), !overwrite,
           !((try? FileManager.default.contentsOfDirectory(atPath: report))?.isEmpty ?? true) {
            throw ValidationError("report directory \(report) exists and is not empty; pass --overwrite")
        }
        let all = try readSide(train)
        var trainSide = all, testSide = LabelledTexts(texts: [], labels: [], groups: all.groups.map { _ in [] })
        if let test {
            testSide = try readSide(test)
            try Self.checkTestLabels(testSide.labels, trainLabels: all.labels, test: test, train: train, labelColumn: labelColumn)
        } else if let fraction = testFraction ?? (cvFolds >= 2 ? nil : 0.2) {
            let split = try TrainTestSplit.stratified(labels: all.labels, testFraction: fraction, seed: seed)
            trainSide = Self.rows(all, split.train)
            testSide = Self.rows(all, split.test)
        }
        guard !trainSide.texts.isEmpty else { throw ValidationError("need at least one training row") }
        if cvFolds < 2 && testSide.texts.isEmpty { throw ValidationError("need at least one test row") }
        if cvFolds >= 2 && trainSide.texts.count < cvFolds {
            throw ValidationError("--cv \(cvFolds) needs at least \(cvFolds) training rows, got \(trainSide.texts.count)")
        }

        let model = modelOptions.model, threads = deviceOptions.threads
        let modelSpec = try modelOptions.resolve()
        let plan = try deviceOptions.plan { device in
            try usageErrors {
                try FeatureExtractor(model: modelSpec, device: device, threads: threads,
                                     output: EmbeddingOptions(prompt: promptOptions.choice))
            }
        }
        for w in plan.warnings { log("warning: \(w)") }
        guard let extractor = plan.devices.first else { throw ValidationError("--device \(deviceOptions.device) selects no device") }
        let combinations = try usageErrors {
            try AblationCombination.grid(pooling: pooling, layers: layers, combos: combos,
                                         numLayers: extractor.model.config.numLayers)
        }
        log("featurize ablate: \(combinations.count) combinations, \(trainSide.texts.count) training and \(testSide.texts.count) test texts, \(model)")

        var settings = AblationSettings()
        settings.folds = cvFolds >= 2 ? cvFolds : 0
        settings.repeats = repeats
        settings.seed = seed
        settings.options = LogisticRegressionOptions(C: fixedC ?? 1, maxIterations: maxIterations,
                                                     classWeighting: ClassWeighting(rawValue: classWeight) ?? .none)
        if fixedC == nil {
            settings.cGrid = try cGrid.map { try Self.parseList($0, "--c-grid") { Double($0) } } ?? ModelSelection.defaultGrid
        }
        settings.innerFolds = innerFolds
        settings.bootstrap = bootstrap
        settings.metric = RankingMetric(name: metric) ?? .accuracy
        settings.lengthEdges = try lengthBuckets.map { try Self.parseList($0, "--length-buckets") { Int($0) } }
        let policy = try batching.policy(for: plan, maxLength: extractor.maxLength)
        let outcome = try usageErrors {
            try AblationStudy.run(
                train: trainSide, test: testSide, groupColumn: groupColumn, extractor: extractor,
                combinations: combinations, settings: settings, batching: policy,
                reportDirectory: report, title: "Featurize ablation: \((model as NSString).lastPathComponent) on \((train as NSString).lastPathComponent)",
                log: log)
        }
        let out = StandardOutput()
        try out.line(outcome.report.markdown())
        try out.line("Encoded \(outcome.trainRows + outcome.testRows) texts once in \(String(format: "%.1f", outcome.extractSeconds)) s; "
              + "trained in \(String(format: "%.1f", outcome.trainSeconds)) s; report: \(outcome.files.html)")
    }
}
