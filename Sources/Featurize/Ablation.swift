import Classifier
import Foundation
import Scheduler
import Tokenizer

/// One feature to try in an ablation: a pooling spec and the labels the report shows for it.
public struct AblationCombination: Sendable, Equatable {
    /// Unique name, e.g. "mean@L4" or "max@concat(-4..-1)".
    public var name: String
    /// Heatmap column, e.g. "mean".
    public var pooling: String
    /// Heatmap row, e.g. "L4" or "concat(-4..-1)".
    public var layer: String
    public var spec: PoolingSpec

    public init(name: String, pooling: String, layer: String, spec: PoolingSpec) {
        self.name = name; self.pooling = pooling; self.layer = layer; self.spec = spec
    }

    /// The grid an ablation runs: every pooling method at every single layer in `layers` (`all` = 0...L,
    /// or a list / range as `--layers`), plus for each `combos` entry (`concat:-4..-1`, `mean:0,6,12`) every
    /// pooling method over that layer set reduced that way.
    public static func grid(pooling: String, layers: String, combos: [String], numLayers: Int) throws -> [AblationCombination] {
        let methods = try pooling.split(separator: ",").map { try PoolingMethod(name: String($0)) }
        guard !methods.isEmpty else { throw PoolingError.emptyMethods }
        let layerList = layers.trimmingCharacters(in: .whitespaces).lowercased() == "all"
            ? Array(0...numLayers) : try PoolingSpec.parseLayers(layers)
        var result: [AblationCombination] = []
        for layer in layerList {
            let resolved = layer < 0 ? numLayers + 1 + layer : layer
            for m in methods {
                let spec = PoolingSpec(methods: [m], layers: [layer])
                _ = try spec.resolvedLayers(numLayers: numLayers)
                result.append(AblationCombination(name: "\(m)@L\(resolved)", pooling: "\(m)", layer: "L\(resolved)", spec: spec))
            }
        }
        for combo in combos {
            let parts = combo.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let reduce = LayerReduce(rawValue: parts[0]) else {
                throw FeaturizeError.invalidOption("--combos '\(combo)': expected REDUCE:LAYERS with REDUCE one of \(LayerReduce.allCases.map(\.rawValue).joined(separator: ", ")), e.g. concat:-4..-1")
            }
            let set = try PoolingSpec.parseLayers(parts[1])
            for m in methods {
                let spec = PoolingSpec(methods: [m], layers: set, layerReduce: reduce)
                _ = try spec.resolvedLayers(numLayers: numLayers)
                let label = "\(reduce.rawValue)(\(parts[1]))"
                result.append(AblationCombination(name: "\(m)@\(label)", pooling: "\(m)", layer: label, spec: spec))
            }
        }
        guard Set(result.map(\.name)).count == result.count else {
            throw FeaturizeError.invalidOption("the ablation grid names a combination twice; check --layers and --combos")
        }
        return result
    }
}

/// Features for every combination of an ablation from **one** encoder pass per batch.
public enum AblationFeatures {
    /// Runs `texts` through the extractor once (length-sorted batches under `batching`) and pools every
    /// combination from the same hidden states. Returns one `[texts.count, dim]` matrix per combination, in
    /// input order. `progress` gets (texts done, seconds).
    public static func extract(texts: [String], extractor: FeatureExtractor, combinations: [AblationCombination],
                               batching: BatchingPolicy = BatchingPolicy(maxBatchTokens: 4_096),
                               progress: ((Int, Double) -> Void)? = nil) throws -> [FeatureMatrix] {
        try extractWithLengths(texts: texts, extractor: extractor, combinations: combinations, batching: batching,
                               progress: progress).features
    }

    /// As `extract`, and the token count of every text (after truncation, special tokens included), `[texts.count]`.
    ///
    /// `progress` is called from the encoder's thread as batches finish (texts encoded so far, seconds since the
    /// start), at most every 256 texts and at the end. (The scheduler hands rows back in input order, and a
    /// window's batches are length-sorted, so counting rows at the sink would report a whole window at once.)
    public static func extractWithLengths(texts: [String], extractor: FeatureExtractor, combinations: [AblationCombination],
                                          batching: BatchingPolicy = BatchingPolicy(maxBatchTokens: 4_096),
                                          progress: ((Int, Double) -> Void)? = nil)
        throws -> (features: [FeatureMatrix], tokenCounts: [Int]) {
        let specs = combinations.map(\.spec)
        let hidden = extractor.model.config.hiddenSize
        let dims = specs.map { $0.outputDimension(hidden: hidden) }
        let tracker = EncodeProgress(total: texts.count, progress: progress)
        let device = ExecutionDevice<Encoding>(name: extractor.backend.name) { batch in
            let perSpec = try extractor.features(of: batch.payloads, specs: specs)
            let rows = (0..<batch.count).map { r -> [Float] in
                var row: [Float] = []
                row.reserveCapacity(dims.reduce(0, +))
                for (k, d) in dims.enumerated() { row.append(contentsOf: perSpec[k][(r * d)..<((r + 1) * d)]) }
                return row
            }
            tracker.finished(indices: batch.indices, lengths: batch.tokenLengths)
            return rows
        }
        let scheduler = try BatchScheduler<String, Encoding>(devices: [device], fallback: nil, policy: batching)
        var columns = dims.map { [Float](repeating: 0, count: $0 * texts.count) }
        _ = try scheduler.run(items: texts, prepare: { window in extractor.tokenize(window).map { ($0, $0.count) } },
                              sink: { index, row in
            var o = 0
            for k in dims.indices {
                let d = dims[k]
                columns[k].withUnsafeMutableBufferPointer { dst in
                    for j in 0..<d { dst[index * d + j] = row[o + j] }
                }
                o += d
            }
        })
        let features = try zip(columns, dims).map { try FeatureMatrix(values: $0, rows: texts.count, columns: $1) }
        return (features, tracker.lengths())
    }
}

/// Counts encoded texts and records token lengths as batches finish (thread-safe).
final class EncodeProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int
    private let progress: ((Int, Double) -> Void)?
    private let start = Date()
    private var done = 0, reported = 0
    private var tokenCounts: [Int]

    init(total: Int, progress: ((Int, Double) -> Void)?) {
        self.total = total; self.progress = progress
        tokenCounts = [Int](repeating: 0, count: total)
    }

    func finished(indices: [Int], lengths: [Int]) {
        lock.lock()
        for (i, n) in zip(indices, lengths) where i >= 0 && i < total { tokenCounts[i] = n }
        done += indices.count
        let report = done - reported >= 256 || done == total
        if report { reported = done }
        let snapshot = done
        lock.unlock()
        if report { progress?(snapshot, Date().timeIntervalSince(start)) }
    }

    func lengths() -> [Int] {
        lock.lock(); defer { lock.unlock() }
        return tokenCounts
    }
}

/// Labelled texts of one side of an ablation, with an optional group value per text.
public struct LabelledTexts: Sendable {
    public var texts: [String]
    public var labels: [String]
    public var groups: [String]?
    public init(texts: [String], labels: [String], groups: [String]? = nil) {
        self.texts = texts; self.labels = labels; self.groups = groups
    }
}

/// The result of `featurize ablate`.
public struct AblationOutcome {
    public var report: AblationReport
    public var files: ReportFiles
    public var extractSeconds: Double
    public var trainSeconds: Double
    public var trainRows: Int
    public var testRows: Int
}

/// Trains and evaluates one logistic regression per combination (cross-validated, and on the test set when
/// there is one), compares every combination with the best and writes the report.
public enum AblationStudy {
    public static func run(train: LabelledTexts, test: LabelledTexts, groupColumn: String? = nil,
                           extractor: FeatureExtractor, combinations: [AblationCombination], settings: AblationSettings,
                           batching: BatchingPolicy, reportDirectory: String, title: String,
                           log: @escaping (String) -> Void) throws -> AblationOutcome {
        guard !combinations.isEmpty else { throw FeaturizeError.invalidOption("the ablation grid is empty") }
        // The label checks run before the (expensive) encoder pass.
        let classes = Set(train.labels)
        guard classes.count >= 2 else { throw ClassifierError.singleClass(label: classes.first ?? "") }
        if let unknown = test.labels.firstIndex(where: { !classes.contains($0) }) {
            throw ClassifierError.unknownLabel(label: test.labels[unknown], line: unknown + 1, known: classes.sorted())
        }
        if settings.metric == .rocAUC && classes.count != 2 {
            throw FeaturizeError.invalidOption("--metric roc-auc needs two classes; the training data has \(classes.count)")
        }
        let t0 = Date()
        let total = train.texts.count + test.texts.count
        let (all, tokenCounts) = try AblationFeatures.extractWithLengths(
            texts: train.texts + test.texts, extractor: extractor, combinations: combinations, batching: batching) { done, seconds in
            log(String(format: "  encoded %d/%d texts (%.1f texts/s)", done, total, Double(done) / max(seconds, 1e-9)))
        }
        let extractSeconds = Date().timeIntervalSince(t0)
        let t1 = Date()
        let report = try CrossValidatedAblation.evaluate(
            features: all, candidates: combinations.map { AblationCandidate(name: $0.name, pooling: $0.pooling, layer: $0.layer) },
            trainLabels: train.labels, testLabels: test.labels, trainGroups: train.groups, testGroups: test.groups,
            groupColumn: groupColumn, tokenCounts: tokenCounts, settings: settings, title: title, log: log)
        let trainSeconds = Date().timeIntervalSince(t1)
        let files = try report.write(to: reportDirectory)
        return AblationOutcome(report: report, files: files, extractSeconds: extractSeconds, trainSeconds: trainSeconds,
                               trainRows: train.texts.count, testRows: test.texts.count)
    }
}
