import Foundation

/// How an ablation evaluates each combination.
public struct AblationSettings: Sendable {
    /// Stratified K-fold cross-validation over the training rows; 0 or 1 = none (then a test set is required).
    public var folds: Int = 5
    /// Repeats of the K-fold split (repeat r uses seed `seed + r`).
    public var repeats: Int = 1
    public var seed: UInt64 = 0
    /// Classifier options; `options.C` is the fixed C unless `cGrid` is set.
    public var options = LogisticRegressionOptions()
    /// `--C auto`: the grid C is chosen from by inner stratified CV on each training set.
    public var cGrid: [Double]? = nil
    public var innerFolds: Int = 3
    /// Bootstrap resamples for the confidence intervals.
    public var bootstrap: Int = 1000
    public var metric: RankingMetric = .accuracy
    /// Upper edges of the text-length buckets in tokens (e.g. [32, 64, 128] gives ≤ 32, 33–64, 65–128, > 128);
    /// nil = the quartiles of the token counts of all texts.
    public var lengthEdges: [Int]? = nil
    /// Significance level of the verdicts.
    public var alpha: Double = 0.05
    /// Parallel training tasks (nil = all processors).
    public var threads: Int? = nil

    public init() {}
}

/// One feature set of an ablation, as the report labels it.
public struct AblationCandidate: Sendable, Equatable {
    /// Unique name, e.g. "mean@L4".
    public var name: String
    /// Heatmap column, e.g. "mean".
    public var pooling: String
    /// Heatmap row, e.g. "L4".
    public var layer: String
    public init(name: String, pooling: String, layer: String) { self.name = name; self.pooling = pooling; self.layer = layer }
}

/// Cross-validated ablation over precomputed feature matrices: fits, intervals, tests, slices, the report.
public enum CrossValidatedAblation {
    /// Evaluates every candidate's features (`features[c]` is `[trainLabels.count + testLabels.count, D_c]`,
    /// training rows first) under `settings` and returns the ranked report. `tokenCounts` (one per row, same
    /// order) gives the length buckets; `trainGroups`/`testGroups` the group slices. `log` gets progress lines.
    public static func evaluate(features: [FeatureMatrix], candidates: [AblationCandidate], trainLabels: [String],
                                testLabels: [String], trainGroups: [String]? = nil, testGroups: [String]? = nil,
                                groupColumn: String? = nil, tokenCounts: [Int]? = nil, settings: AblationSettings,
                                title: String = "Featurize ablation", log: @escaping (String) -> Void = { _ in }) throws -> AblationReport {
        guard !candidates.isEmpty, features.count == candidates.count else {
            throw ClassifierError.invalidOption("an ablation needs one feature matrix per candidate (\(features.count) for \(candidates.count))")
        }
        let total = trainLabels.count + testLabels.count
        for m in features where m.rows != total {
            throw ClassifierError.rowCountMismatch(featureRows: m.rows, labelCount: total)
        }
        if let tokenCounts, tokenCounts.count != total { throw ClassifierError.rowCountMismatch(featureRows: tokenCounts.count, labelCount: total) }
        guard settings.folds >= 2 || !testLabels.isEmpty else {
            throw ClassifierError.invalidOption("without cross-validation (--cv 0 or 1) an ablation needs a test set")
        }
        let classes = Array(Set(trainLabels)).sorted()
        guard classes.count >= 2 else { throw ClassifierError.singleClass(label: classes.first ?? "") }
        if let unknown = testLabels.firstIndex(where: { !classes.contains($0) }) {
            throw ClassifierError.unknownLabel(label: testLabels[unknown], line: unknown + 1, known: classes)
        }
        if settings.metric == .rocAUC && classes.count != 2 {
            throw ClassifierError.invalidOption("--metric roc-auc needs two classes; the training data has \(classes.count)")
        }
        if let g = trainGroups, g.count != trainLabels.count { throw ClassifierError.rowCountMismatch(featureRows: g.count, labelCount: trainLabels.count) }
        if let g = testGroups, g.count != testLabels.count { throw ClassifierError.rowCountMismatch(featureRows: g.count, labelCount: testLabels.count) }
        let plan = try AblationPlan(settings: settings, trainLabels: trainLabels, testCount: testLabels.count, classes: classes)
        let fits = try plan.fitAll(features: features, names: candidates.map(\.name), labels: trainLabels + testLabels, log: log)
        return try AblationSummary(plan: plan, settings: settings, candidates: candidates, features: features, fits: fits,
                                   tokenCounts: tokenCounts ?? [Int](repeating: 0, count: total), trainLabels: trainLabels,
                                   trainGroups: trainGroups, testGroups: testGroups, groupColumn: groupColumn,
                                   lengthSlices: tokenCounts != nil, title: title).report()
    }
}


/// The folds and fits of a cross-validated ablation: which rows every classifier trains and predicts on.
/// Rows `0..<trainCount` of every feature matrix are the training rows, the rest the test rows.
struct AblationPlan {
    let settings: AblationSettings
    let classes: [String]
    let trainCount: Int
    let testCount: Int
    /// Fold of every training row, one list per repeat (empty without cross-validation).
    let foldAssignment: [[Int]]

    var folds: Int { settings.folds >= 2 ? settings.folds : 0 }
    var repeats: Int { folds > 0 ? max(1, settings.repeats) : 0 }

    init(settings: AblationSettings, trainLabels: [String], testCount: Int, classes: [String]) throws {
        self.settings = settings
        self.classes = classes
        self.trainCount = trainLabels.count
        self.testCount = testCount
        var assignment: [[Int]] = []
        if settings.folds >= 2 {
            for r in 0..<max(1, settings.repeats) {
                assignment.append(try StratifiedKFold.assign(labels: trainLabels, folds: settings.folds,
                                                             seed: settings.seed &+ UInt64(r)))
            }
        }
        foldAssignment = assignment
    }

    /// One classifier to fit: a fold of a repeat, or the refit on all training rows scored on the test rows.
    struct Task {
        var combination: Int
        var repeatIndex: Int?
        var fold: Int?
        var isFinal: Bool { fold == nil }
    }

    /// Every fit of every combination.
    struct Fits {
        /// `[combination][repeat * folds + fold]`.
        var folds: [[FoldFit]]
        /// `[combination]`, when there is a test set.
        var final: [FoldFit?]
    }

    /// Seed of the inner C-search folds of a task (distinct per repeat and fold, the same for every combination
    /// so that all combinations choose C on the same inner folds).
    func innerSeed(repeatIndex: Int?, fold: Int?) -> UInt64 {
        guard let r = repeatIndex, let f = fold else { return settings.seed &+ 0xF1_7A11 }
        return settings.seed &+ 0x1_0000 &* UInt64(r + 1) &+ UInt64(f)
    }

    /// Fits every task on all cores (each fit is deterministic, so the results do not depend on scheduling)
    /// and logs a progress line per finished fit.
    func fitAll(features: [FeatureMatrix], names: [String], labels: [String],
                log: @escaping (String) -> Void) throws -> Fits {
        var tasks: [Task] = []
        for c in names.indices {
            if testCount > 0 { tasks.append(Task(combination: c, repeatIndex: nil, fold: nil)) }
            for r in 0..<repeats { for f in 0..<folds { tasks.append(Task(combination: c, repeatIndex: r, fold: f)) } }
        }
        let state = FitState(count: tasks.count)
        let start = Date()
        let workers = max(1, min(tasks.count, settings.threads ?? ProcessInfo.processInfo.activeProcessorCount))
        let grid = settings.cGrid
        log("  training \(tasks.count) classifiers (\(names.count) combinations × "
            + (folds > 0 ? "\(folds) folds × \(repeats) repeat\(repeats == 1 ? "" : "s")" : "")
            + (testCount > 0 ? (folds > 0 ? " + " : "") + "a refit for the test set" : "")
            + (grid.map { ", C from \($0.count) values by \(settings.innerFolds)-fold inner CV" } ?? "")
            + ") on \(workers) thread\(workers == 1 ? "" : "s")")
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let i = state.next() {
                let task = tasks[i]
                do {
                    let trainRows: [Int], evalRows: [Int]
                    if let r = task.repeatIndex, let f = task.fold {
                        (trainRows, evalRows) = StratifiedKFold.split(foldAssignment[r], fold: f)
                    } else {
                        trainRows = Array(0..<trainCount)
                        evalRows = Array(trainCount..<(trainCount + testCount))
                    }
                    let fit = try ModelSelection.fitAndPredict(
                        features: features[task.combination], labels: labels, classes: classes, trainRows: trainRows,
                        evalRows: evalRows, options: settings.options, grid: grid, innerFolds: settings.innerFolds,
                        innerSeed: innerSeed(repeatIndex: task.repeatIndex, fold: task.fold), metric: settings.metric)
                    let done = state.finish(i, fit)
                    let what = task.isFinal ? "refit on all training rows, test"
                        : "fold \(task.fold! + 1)/\(folds)" + (repeats > 1 ? " of repeat \(task.repeatIndex! + 1)" : "")
                    let score = fit.predictions.score(settings.metric).map { settings.metric == .rocAUC
                        ? String(format: "%.4f", $0) : String(format: "%.2f%%", 100 * $0) } ?? "n/a"
                    log(String(format: "  trained %d/%d: %@ %@: C = %@, %@ %@ (%.1f s)", done, tasks.count,
                               names[task.combination], what, String(format: "%g", fit.C),
                               settings.metric.displayName, score, Date().timeIntervalSince(start)))
                } catch {
                    state.fail(error)
                }
            }
        }
        let results = try state.results()
        var foldFits = [[FoldFit]](repeating: [], count: names.count)
        var finalFits = [FoldFit?](repeating: nil, count: names.count)
        for (task, fit) in zip(tasks, results) {
            if task.isFinal { finalFits[task.combination] = fit } else { foldFits[task.combination].append(fit) }
        }
        return Fits(folds: foldFits, final: finalFits)
    }
}

/// Task queue and results of parallel fits (thread-safe); the first error stops the queue.
private final class FitState: @unchecked Sendable {
    private let lock = NSLock()
    private var nextIndex = 0, done = 0
    private var fits: [FoldFit?]
    private var error: Error?

    init(count: Int) { fits = [FoldFit?](repeating: nil, count: count) }

    func next() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard error == nil, nextIndex < fits.count else { return nil }
        nextIndex += 1
        return nextIndex - 1
    }

    func finish(_ i: Int, _ fit: FoldFit) -> Int {
        lock.lock(); defer { lock.unlock() }
        fits[i] = fit
        done += 1
        return done
    }

    func fail(_ e: Error) {
        lock.lock(); defer { lock.unlock() }
        if error == nil { error = e }
    }

    func results() throws -> [FoldFit] {
        lock.lock(); defer { lock.unlock() }
        if let error { throw error }
        return fits.map { $0! }
    }
}

/// Text-length buckets: upper edges in tokens and a label per bucket.
public struct LengthBuckets: Sendable, Equatable {
    /// Upper edges (inclusive), strictly increasing; the last bucket is open (`> edges.last`).
    public var edges: [Int]

    public init(edges: [Int]) { self.edges = Array(Set(edges)).sorted() }

    /// The quartiles of `counts` (nearest lower rank: the values at positions ⌊q·(n-1)⌋ of the sorted counts,
    /// q = 1/4, 1/2, 3/4), duplicates merged.
    public static func quartiles(of counts: [Int]) -> LengthBuckets {
        let sorted = counts.sorted()
        guard !sorted.isEmpty else { return LengthBuckets(edges: []) }
        let edges = [0.25, 0.5, 0.75].map { sorted[Int(($0 * Double(sorted.count - 1)).rounded(.down))] }
        // A last edge equal to the maximum would leave the open bucket empty.
        return LengthBuckets(edges: edges.filter { $0 < sorted.last! })
    }

    /// Labels: "≤ 12", "13–20", "21–31", "> 31".
    public var labels: [String] {
        guard !edges.isEmpty else { return ["all"] }
        var out = ["≤ \(edges[0])"]
        for i in 1..<edges.count {
            out.append(edges[i] == edges[i - 1] + 1 ? "\(edges[i])" : "\(edges[i - 1] + 1)–\(edges[i])")
        }
        out.append("> \(edges.last!)")
        return out
    }

    /// Bucket index of a token count.
    public func bucket(_ count: Int) -> Int { edges.firstIndex { count <= $0 } ?? edges.count }
}

/// Turns the fits of an ablation into ranked results with intervals, p-values, verdicts and slices.
struct AblationSummary {
    let plan: AblationPlan
    let settings: AblationSettings
    let candidates: [AblationCandidate]
    let features: [FeatureMatrix]
    let fits: AblationPlan.Fits
    let tokenCounts: [Int]
    let trainLabels: [String]
    let trainGroups: [String]?
    let testGroups: [String]?
    let groupColumn: String?
    /// False when no token counts were given: no length slices.
    let lengthSlices: Bool
    let title: String

    var hasTest: Bool { plan.testCount > 0 }

    /// The predictions the headline, interval and slices use: the test set, or the out-of-fold predictions of
    /// the training rows (one set per repeat, in training-row order).
    func evaluationSets(_ c: Int) -> [CodedPredictions] {
        if hasTest, let f = fits.final[c] { return [f.predictions] }
        var sets: [CodedPredictions] = []
        for r in 0..<plan.repeats {
            var truth = [Int](repeating: 0, count: plan.trainCount), predicted = truth
            var scores: [Double]? = plan.classes.count == 2 ? [Double](repeating: 0, count: plan.trainCount) : nil
            for f in 0..<plan.folds {
                let rows = StratifiedKFold.split(plan.foldAssignment[r], fold: f).test
                let p = fits.folds[c][r * plan.folds + f].predictions
                for (k, row) in rows.enumerated() {
                    truth[row] = p.truth[k]; predicted[row] = p.predicted[k]
                    scores?[row] = p.positiveScores?[k] ?? 0
                }
            }
            sets.append(CodedPredictions(truth: truth, predicted: predicted, positiveScores: scores, classCount: plan.classes.count))
        }
        return sets
    }

    /// Row offset of the evaluation rows in the full (train + test) row list.
    var evaluationOffset: Int { hasTest ? plan.trainCount : 0 }
    var evaluationCount: Int { hasTest ? plan.testCount : plan.trainCount }

    func report() throws -> AblationReport {
        let metric = settings.metric
        let buckets = !lengthSlices ? LengthBuckets(edges: [])
            : settings.lengthEdges.map { LengthBuckets(edges: $0) } ?? LengthBuckets.quartiles(of: tokenCounts)
        let evalGroups: [String]? = hasTest ? testGroups : trainGroups
        let groupOrder = evalGroups.map { g in Array(Set(g)).sorted() } ?? []
        let evalBuckets = (0..<evaluationCount).map { buckets.bucket(tokenCounts[evaluationOffset + $0]) }
        var results: [AblationResult] = []
        var sets: [[CodedPredictions]] = []
        var notConverged: [String] = []
        for (c, combo) in candidates.enumerated() {
            let evaluation = evaluationSets(c)
            sets.append(evaluation)
            func mean(_ f: (CodedPredictions) -> Double?) -> Double? {
                let v = evaluation.compactMap(f)
                return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
            }
            let foldFits = fits.folds[c]
            let cvAccuracy = foldFits.isEmpty ? nil : FoldScores(values: foldFits.map { $0.predictions.accuracy() })
            let cvF1 = foldFits.isEmpty ? nil : FoldScores(values: foldFits.map { $0.predictions.macroF1() })
            let aucs = foldFits.compactMap { $0.predictions.rocAUC() }
            let cvAUC = aucs.count == foldFits.count && !aucs.isEmpty ? FoldScores(values: aucs) : nil
            let seconds = foldFits.map(\.trainSeconds).reduce(0, +) + (fits.final[c]?.trainSeconds ?? 0)
            var r: AblationResult
            if hasTest {
                r = AblationResult(combination: combo.name, pooling: combo.pooling, layer: combo.layer, dimension: features[c].columns,
                                   accuracy: evaluation[0].accuracy(), macroF1: evaluation[0].macroF1(), trainSeconds: seconds,
                                   rocAUC: evaluation[0].rocAUC())
                r.chosenC = fits.final[c]?.C
                if fits.final[c]?.converged == false { notConverged.append(combo.name) }
            } else {
                r = AblationResult(combination: combo.name, pooling: combo.pooling, layer: combo.layer, dimension: features[c].columns,
                                   accuracy: cvAccuracy?.mean ?? 0, macroF1: cvF1?.mean ?? 0, trainSeconds: seconds,
                                   rocAUC: cvAUC?.mean)
                r.chosenC = Self.mostFrequent(foldFits.map(\.C))
                if foldFits.contains(where: { !$0.converged }) { notConverged.append(combo.name) }
            }
            r.cvAccuracy = cvAccuracy; r.cvMacroF1 = cvF1; r.cvRocAUC = cvAUC
            r.foldC = foldFits.isEmpty ? nil : foldFits.map(\.C)
            let orders = evaluation.map { $0.scoreOrder() }
            r.interval = Bootstrap.interval(rows: evaluationCount, resamples: settings.bootstrap, seed: settings.seed,
                                            method: intervalMethod) { weights in
                var sum = 0.0
                for (k, p) in evaluation.enumerated() {
                    guard let v = p.score(metric, weights: weights, order: orders[k]) else { return nil }
                    sum += v
                }
                return sum / Double(evaluation.count)
            }
            if lengthSlices { r.byLength = Self.sliceAccuracy(evaluation, slices: evalBuckets, names: buckets.labels) }
            if let evalGroups {
                let index = Dictionary(uniqueKeysWithValues: groupOrder.enumerated().map { ($1, $0) })
                r.byGroup = Self.sliceAccuracy(evaluation, slices: evalGroups.map { index[$0] ?? 0 }, names: groupOrder)
            }
            results.append(r)
        }
        // Significance against the best, on the same rows.
        let ranked = AblationReport.rank(results, by: metric)
        guard let bestIndex = results.firstIndex(where: { $0.combination == ranked[0].combination }) else {
            throw ClassifierError.invalidOption("internal: best combination not found")
        }
        for c in results.indices {
            if c == bestIndex { results[c].verdict = "best"; continue }
            if plan.folds > 0 {
                let bestScores = fits.folds[bestIndex].map { $0.predictions.score(metric) ?? 0 }
                let otherScores = fits.folds[c].map { $0.predictions.score(metric) ?? 0 }
                results[c].cvPValue = SignificanceTests.pairedTTest(differences: zip(bestScores, otherScores).map { $0 - $1 },
                                                                    testTrainRatio: 1 / Double(plan.folds - 1)).p
            }
            let p: Double
            if hasTest {
                let best = sets[bestIndex][0], other = sets[c][0]
                let d = SignificanceTests.discordantPairs(truth: best.truth, a: best.predicted, b: other.predicted)
                p = SignificanceTests.mcnemarExact(b: d.b, c: d.c)
            } else {
                p = results[c].cvPValue ?? 1
            }
            results[c].pValue = p
            results[c].significanceTest = significanceMethod
            results[c].verdict = AblationReport.verdict(pValue: p, alpha: settings.alpha)
        }
        // Confusion matrix and majority baseline of the best, on the evaluation rows.
        let k = plan.classes.count
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for p in sets[bestIndex] { for (t, q) in zip(p.truth, p.predicted) { counts[t][q] += 1 } }
        var trainCounts = [Int](repeating: 0, count: k)
        let classIndex = Dictionary(uniqueKeysWithValues: plan.classes.enumerated().map { ($1, $0) })
        for l in trainLabels { if let k = classIndex[l] { trainCounts[k] += 1 } }
        let majority = trainCounts.indices.max { trainCounts[$0] < trainCounts[$1] || (trainCounts[$0] == trainCounts[$1] && $0 > $1) } ?? 0
        let evalTruth = sets[bestIndex][0].truth
        let baseline = evalTruth.isEmpty ? nil : Double(evalTruth.filter { $0 == majority }.count) / Double(evalTruth.count)
        let context = AblationContext(
            evaluation: evaluationDescription, folds: plan.folds, repeats: plan.repeats, seed: settings.seed,
            trainRows: plan.trainCount, testRows: plan.testCount, foldAssignment: plan.foldAssignment,
            cGrid: settings.cGrid, fixedC: settings.cGrid == nil ? settings.options.C : nil,
            innerFolds: settings.cGrid == nil ? nil : settings.innerFolds, bootstrapResamples: settings.bootstrap,
            significanceMethod: significanceMethod, intervalMethod: intervalMethod, alpha: settings.alpha,
            lengthBuckets: lengthSlices ? buckets.labels : [], groupColumn: evalGroups == nil ? nil : groupColumn, groups: groupOrder,
            notConverged: notConverged)
        return try AblationReport(title: title, results: results, bestConfusion: ConfusionMatrix(classes: plan.classes, counts: counts),
                                  rankedBy: metric, baselineAccuracy: baseline, context: context)
    }

    static func mostFrequent(_ values: [Double]) -> Double? {
        var counts: [Double: Int] = [:]
        for v in values { counts[v, default: 0] += 1 }
        return counts.max { a, b in a.value < b.value || (a.value == b.value && a.key > b.key) }?.key
    }

    /// Accuracy per slice over all evaluation sets (rows × sets counted), slices in `names` order; empty slices
    /// are left out.
    static func sliceAccuracy(_ sets: [CodedPredictions], slices: [Int], names: [String]) -> [SliceScore] {
        var hits = [Int](repeating: 0, count: names.count), totals = hits
        for p in sets {
            for (row, s) in slices.enumerated() where s < names.count {
                totals[s] += 1
                if p.truth[row] == p.predicted[row] { hits[s] += 1 }
            }
        }
        return names.indices.compactMap { s in
            totals[s] > 0 ? SliceScore(slice: names[s], rows: totals[s], accuracy: Double(hits[s]) / Double(totals[s])) : nil
        }
    }

    var evaluationDescription: String {
        let cv = plan.folds > 0
            ? "\(plan.folds)-fold stratified cross-validation (\(plan.repeats) repeat\(plan.repeats == 1 ? "" : "s"), seed \(settings.seed)) on the \(plan.trainCount) training rows"
            : "one model per combination trained on the \(plan.trainCount) training rows"
        if hasTest {
            return cv + (plan.folds > 0 ? ", and the " : ", scored on the ") + "\(plan.testCount)-row test set"
                + (plan.folds > 0 ? " scored once by each combination's model refitted on all training rows; headline scores, intervals and tests are on the test set" : "")
        }
        return cv + "; headline scores are means over folds, intervals and length/group slices use the out-of-fold predictions"
    }

    var intervalMethod: String {
        if hasTest {
            return "95% percentile bootstrap over the \(plan.testCount) test rows (\(settings.bootstrap) resamples, seed \(settings.seed))"
        }
        return "95% percentile bootstrap over the \(plan.trainCount) out-of-fold predictions (\(settings.bootstrap) resamples, seed \(settings.seed)"
            + (plan.repeats > 1 ? "; each resample scores the mean over repeats" : "") + ")"
    }

    var significanceMethod: String {
        if hasTest {
            return "McNemar's exact test (two-sided binomial test on the test rows that exactly one of the two gets right) against the best"
        }
        return "corrected resampled paired t-test (Nadeau & Bengio 2003: variance × (1/k + 1/(K-1))) on the \(plan.folds * plan.repeats) per-fold \(settings.metric.displayName) differences against the best, \(plan.folds * plan.repeats - 1) degrees of freedom"
    }
}
