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
        let specs = combinations.map(\.spec)
        let hidden = extractor.model.config.hiddenSize
        let dims = specs.map { $0.outputDimension(hidden: hidden) }
        let device = ExecutionDevice<Encoding>(name: extractor.backend.name) { batch in
            let perSpec = try extractor.features(of: batch.payloads, specs: specs)
            return (0..<batch.count).map { r in
                var row: [Float] = []
                row.reserveCapacity(dims.reduce(0, +))
                for (k, d) in dims.enumerated() { row.append(contentsOf: perSpec[k][(r * d)..<((r + 1) * d)]) }
                return row
            }
        }
        let scheduler = try BatchScheduler<String, Encoding>(devices: [device], fallback: nil, policy: batching)
        var columns = dims.map { [Float](repeating: 0, count: $0 * texts.count) }
        let start = Date()
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
            if (index + 1) % 256 == 0 || index + 1 == texts.count { progress?(index + 1, Date().timeIntervalSince(start)) }
        })
        return try zip(columns, dims).map { try FeatureMatrix(values: $0, rows: texts.count, columns: $1) }
    }
}

/// The result of `featurize ablate`: one holdout evaluation per combination.
public struct AblationOutcome {
    public var report: AblationReport
    public var files: ReportFiles
    public var extractSeconds: Double
    public var trainRows: Int
    public var testRows: Int
}

/// Trains and evaluates one logistic regression per combination and writes the report.
public enum AblationStudy {
    public static func run(trainTexts: [String], trainLabels: [String], testTexts: [String], testLabels: [String],
                           extractor: FeatureExtractor, combinations: [AblationCombination],
                           options: LogisticRegressionOptions, batching: BatchingPolicy, reportDirectory: String,
                           title: String, log: @escaping (String) -> Void) throws -> AblationOutcome {
        let t0 = Date()
        let all = try AblationFeatures.extract(texts: trainTexts + testTexts, extractor: extractor,
                                               combinations: combinations, batching: batching) { done, seconds in
            log(String(format: "  encoded %d/%d texts (%.1f texts/s)", done, trainTexts.count + testTexts.count,
                       Double(done) / max(seconds, 1e-9)))
        }
        let extractSeconds = Date().timeIntervalSince(t0)
        let trainRows = Array(0..<trainTexts.count)
        let testRows = Array(trainTexts.count..<(trainTexts.count + testTexts.count))
        var results: [AblationResult] = []
        var evaluations: [HoldoutEvaluation] = []
        for (combo, matrix) in zip(combinations, all) {
            let evaluation = try HoldoutEvaluation.run(
                trainFeatures: try matrix.selectingRows(trainRows), trainLabels: trainLabels,
                testFeatures: try matrix.selectingRows(testRows), testLabels: testLabels, options: options)
            evaluations.append(evaluation)
            let r = AblationResult(combination: combo.name, pooling: combo.pooling, layer: combo.layer,
                                   dimension: matrix.columns, accuracy: evaluation.metrics.accuracy,
                                   macroF1: evaluation.metrics.macroF1, trainSeconds: evaluation.trainSeconds)
            results.append(r)
            log(String(format: "  %@: accuracy %.4f, macro-F1 %.4f (%d dims, trained in %.2f s)",
                       combo.name, r.accuracy, r.macroF1, r.dimension, r.trainSeconds))
        }
        let provisional = try AblationReport(title: title, results: results,
                                             bestConfusion: evaluations[0].metrics.confusion)
        let bestIndex = results.firstIndex { $0.combination == provisional.best.combination } ?? 0
        let report = try AblationReport(title: title, results: results,
                                        bestConfusion: evaluations[bestIndex].metrics.confusion,
                                        baselineAccuracy: evaluations[bestIndex].metrics.majorityBaselineAccuracy)
        let files = try report.write(to: reportDirectory)
        return AblationOutcome(report: report, files: files, extractSeconds: extractSeconds,
                               trainRows: trainTexts.count, testRows: testTexts.count)
    }
}
