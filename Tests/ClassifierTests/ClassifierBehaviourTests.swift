import Foundation
import Testing
@testable import Classifier

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "classifier-tests-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Deterministic pseudo-random numbers (SplitMix64) in [-1, 1).
private struct SplitMix {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}

/// Four well-separated Gaussian-ish blobs in 6-D with a constant column.
private func blobs(rows: Int, seed: UInt64 = 7) -> (FeatureMatrix, [String]) {
    var rng = SplitMix(state: seed)
    let names = ["north", "south", "east", "west"]
    var values: [Float] = [], labels: [String] = []
    for r in 0..<rows {
        let c = r % 4
        for j in 0..<6 {
            let centre: Float = j == c ? 10 : 0
            values.append(j == 5 ? 42 : centre + 0.5 * rng.next())
        }
        labels.append(names[c])
    }
    return (try! FeatureMatrix(values: values, rows: rows, columns: 6), labels)
}

@Suite struct TrainingTests {
    @Test func separableProblemIsLearnedPerfectly() throws {
        let (x, y) = blobs(rows: 400)
        let model = try LogisticRegression.train(features: x, labels: y)
        #expect(model.classes == ["east", "north", "south", "west"])
        #expect(model.converged)
        #expect(model.featureScale[5] == 1 && model.featureMean[5] == 42)  // constant column
        let predicted = try model.predict(x)
        #expect(predicted == y)
        let metrics = try ClassificationMetrics.compute(trueLabels: y, predicted: predicted, classes: model.classes)
        #expect(metrics.accuracy == 1 && metrics.macroF1 == 1)
        #expect(metrics.majorityBaselineAccuracy == 0.25)
    }

    @Test func probabilitiesSumToOne() throws {
        let (x, y) = blobs(rows: 200)
        for labels in [y, y.map { $0 == "north" ? "yes" : "no" }] {
            let model = try LogisticRegression.train(features: x, labels: labels, options: .init(C: 0.01))
            for row in try model.predictProbabilities(x) {
                #expect(row.count == model.classes.count)
                #expect(abs(row.reduce(0, +) - 1) < 1e-12)
                #expect(row.allSatisfy { $0 >= 0 && $0 <= 1 })
            }
        }
    }

    @Test func trainingIsDeterministic() throws {
        let (x, y) = blobs(rows: 3000, seed: 11)  // > 1 chunk, parallel gradient
        let a = try LogisticRegression.train(features: x, labels: y, options: .init(C: 0.1))
        let b = try LogisticRegression.train(features: x, labels: y, options: .init(C: 0.1))
        #expect(a == b)
    }

    @Test func iterationLimitClearsConvergedFlag() throws {
        let (x, y) = blobs(rows: 200)
        let model = try LogisticRegression.train(features: x, labels: y,
                                                 options: .init(maxIterations: 2, tolerance: 1e-12))
        #expect(!model.converged)
        #expect(model.stopReason == .maxIterations)
        #expect(model.iterations == 2)
    }

    @Test func balancedWeightsRaiseMinorityRecall() throws {
        let fit = Fixtures.fit("binary", "c03_balanced")
        let (x, labels) = try Fixtures.dataset("binary")
        let train = try Fixtures.slice(x, 0..<1500)
        let plain = try LogisticRegression.train(features: train, labels: Array(labels[0..<1500]), options: .init(C: 0.3))
        let balanced = try LogisticRegression.train(features: train, labels: Array(labels[0..<1500]),
                                                    options: .init(C: 0.3, classWeighting: .balanced))
        let test = try Fixtures.slice(x, 1500..<2000), truth = Array(labels[1500...])
        let recallPlain = try ClassificationMetrics.compute(trueLabels: truth, predicted: plain.predict(test), classes: fit.classes).perClass[1].recall
        let recallBalanced = try ClassificationMetrics.compute(trueLabels: truth, predicted: balanced.predict(test), classes: fit.classes).perClass[1].recall
        #expect(recallBalanced > recallPlain + 0.05)
    }

    @Test func saveAndLoadRoundTrip() throws {
        let (x, y) = blobs(rows: 200)
        let model = try LogisticRegression.train(features: x, labels: y)
        let path = temporaryDirectory() + "/model.json"
        try model.save(to: path)
        let loaded = try LogisticRegressionModel.load(from: path)
        #expect(loaded == model)
        #expect(try loaded.predictProbabilities(x) == model.predictProbabilities(x))
        let json = try String(contentsOfFile: path, encoding: .utf8)
        for key in ["classes", "featureMean", "featureScale", "weights", "intercepts", "C", "iterations", "converged"] {
            #expect(json.contains("\"\(key)\""))
        }
    }
}

@Suite struct ErrorTests {
    @Test func mismatchedRowCounts() throws {
        let (x, y) = blobs(rows: 40)
        #expect(throws: ClassifierError.rowCountMismatch(featureRows: 40, labelCount: 39)) {
            try LogisticRegression.train(features: x, labels: Array(y.dropLast()))
        }
    }

    @Test func singleClassTrainingSet() throws {
        let (x, _) = blobs(rows: 10)
        let error = #expect(throws: ClassifierError.self) {
            try LogisticRegression.train(features: x, labels: Array(repeating: "only", count: 10))
        }
        #expect(error == .singleClass(label: "only"))
        #expect(error?.description.contains("'only'") == true)
    }

    @Test func emptyTrainingSetAndBadOptions() throws {
        let empty = try FeatureMatrix(values: [], rows: 0, columns: 3)
        #expect(throws: ClassifierError.emptyTrainingSet) { try LogisticRegression.train(features: empty, labels: []) }
        let (x, y) = blobs(rows: 8)
        #expect(throws: ClassifierError.self) { try LogisticRegression.train(features: x, labels: y, options: .init(C: 0)) }
        #expect(throws: ClassifierError.self) { try LogisticRegression.train(features: x, labels: y, options: .init(maxIterations: 0)) }
    }

    @Test func nonFiniteFeature() throws {
        var (x, y) = blobs(rows: 8)
        x.values[2 * 6 + 3] = .nan
        #expect(throws: ClassifierError.nonFiniteFeature(row: 2, column: 3)) {
            try LogisticRegression.train(features: x, labels: y)
        }
    }

    @Test func unknownLabelAtEvaluation() throws {
        let error = #expect(throws: ClassifierError.self) {
            try ClassificationMetrics.compute(trueLabels: ["a", "b", "zebra"], predicted: ["a", "a", "b"], classes: ["a", "b"])
        }
        #expect(error == .unknownLabel(label: "zebra", line: 3, known: ["a", "b"]))
        #expect(error?.description.contains("'zebra' on line 3") == true)
    }

    @Test func wrongFeatureDimensionAtPrediction() throws {
        let (x, y) = blobs(rows: 40)
        let model = try LogisticRegression.train(features: x, labels: y)
        let narrow = try FeatureMatrix(values: [1, 2, 3], rows: 1, columns: 3)
        #expect(throws: ClassifierError.featureDimensionMismatch(expected: 6, actual: 3)) { try model.predict(narrow) }
    }

    @Test func labelsFileErrors() throws {
        let dir = temporaryDirectory()
        let missing = dir + "/nope.txt"
        let e1 = #expect(throws: ClassifierError.self) { try LabelsFile.read(path: missing) }
        #expect(e1?.description.contains(missing) == true)
        let gap = dir + "/gap.txt"
        try "a\nb\n\nc\n".write(toFile: gap, atomically: true, encoding: .utf8)
        #expect(throws: ClassifierError.labelsFile(path: gap, reason: "line 3 is empty (one label per line expected)")) {
            try LabelsFile.read(path: gap)
        }
        let ok = dir + "/ok.txt"
        try "pos\r\nneg\nneg".write(toFile: ok, atomically: true, encoding: .utf8)
        #expect(try LabelsFile.read(path: ok) == ["pos", "neg", "neg"])
    }

    @Test func modelFileErrors() throws {
        let dir = temporaryDirectory()
        #expect(throws: ClassifierError.self) { try LogisticRegressionModel.load(from: dir + "/missing.json") }
        let bad = dir + "/bad.json"
        try "{\"classes\": [\"a\"]}".write(toFile: bad, atomically: true, encoding: .utf8)
        let error = #expect(throws: ClassifierError.self) { try LogisticRegressionModel.load(from: bad) }
        #expect(error?.description.contains(bad) == true)
    }
}

@Suite struct NpyTests {
    @Test func float32RoundTripAndFixtureShapes() throws {
        let dir = temporaryDirectory()
        let m = try FeatureMatrix(values: [1, -2.5, 3, 4e-3, .greatestFiniteMagnitude, 0], rows: 2, columns: 3)
        try NpyArrayFile.write(m, to: dir + "/m.npy")
        #expect(try NpyReader.readMatrix(path: dir + "/m.npy") == m)
        let x = try NpyReader.readMatrix(path: Fixtures.path("multi_X.npy"))
        #expect(x.rows == 2000 && x.columns == 50)
        #expect(x.values[3] == 2.5)  // the fixture's constant column
    }

    @Test func float64AndFloat16() throws {
        let dir = temporaryDirectory()
        try NpyArrayFile.write(float64: [0.5, -1.25, 1e300, 3], shape: [2, 2], to: dir + "/d.npy")
        let d = try NpyReader.readMatrix(path: dir + "/d.npy")
        #expect(d.values[0] == 0.5 && d.values[1] == -1.25 && d.values[2] == .infinity && d.values[3] == 3)
        // float16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), inf, 0.333 (0x3555)
        let halves: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555]
        var body = Data()
        for h in halves { withUnsafeBytes(of: h.littleEndian) { body.append(contentsOf: $0) } }
        try NpyArrayFile.write(descr: "<f2", shape: [3, 2], body: body, to: dir + "/h.npy")
        let h = try NpyReader.readMatrix(path: dir + "/h.npy")
        #expect(h.values == [1, -2, 65504, Float(sign: .plus, exponent: -24, significand: 1), .infinity, 0.33325195])
    }

    @Test func clearErrors() throws {
        let dir = temporaryDirectory()
        let notNpy = dir + "/text.npy"
        try "hello world, not numpy".write(toFile: notNpy, atomically: true, encoding: .utf8)
        #expect(throws: NpyError.badMagic(path: notNpy)) { try NpyReader.readMatrix(path: notNpy) }

        let ints = dir + "/ints.npy"
        try NpyArrayFile.write(descr: "<i4", shape: [1, 1], body: Data(count: 4), to: ints)
        #expect(throws: NpyError.unsupportedDType(path: ints, descr: "<i4")) { try NpyReader.readMatrix(path: ints) }

        let big = dir + "/big.npy"
        try NpyArrayFile.write(descr: ">f4", shape: [1, 1], body: Data(count: 4), to: big)
        #expect(throws: NpyError.unsupportedDType(path: big, descr: ">f4")) { try NpyReader.readMatrix(path: big) }

        let short = dir + "/short.npy"
        try NpyArrayFile.write(descr: "<f4", shape: [3, 4], body: Data(count: 40), to: short)
        let e = #expect(throws: NpyError.self) { try NpyReader.readMatrix(path: short) }
        #expect(e == .sizeMismatch(path: short, shape: [3, 4], expectedBytes: 48, actualBytes: 40))
        #expect(e?.description.contains(short) == true)

        let vector = dir + "/vector.npy"
        try NpyArrayFile.write(descr: "<f4", shape: [4], body: Data(count: 16), to: vector)
        #expect(throws: NpyError.unsupportedShape(path: vector, shape: [4])) { try NpyReader.readMatrix(path: vector) }

        let fortran = dir + "/fortran.npy"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: short)))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("'fortran_order': False"))
        let header = Array("'fortran_order': False".utf8), replacement = Array("'fortran_order': True ".utf8)
        if let start = (0..<(bytes.count - header.count)).first(where: { Array(bytes[$0..<($0 + header.count)]) == header }) {
            bytes.replaceSubrange(start..<(start + header.count), with: replacement)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: fortran))
        #expect(throws: NpyError.fortranOrder(path: fortran)) { try NpyReader.readMatrix(path: fortran) }

        let missing = dir + "/missing.npy"
        let m = #expect(throws: NpyError.self) { try NpyReader.readMatrix(path: missing) }
        #expect(m?.description.contains(missing) == true)
    }
}

@Suite struct HoldoutTests {
    @Test func stratifiedSplitIsDeterministicAndStratified() throws {
        let labels = (0..<100).map { $0 % 5 == 0 ? "rare" : "common" }  // 20 rare, 80 common
        let a = try TrainTestSplit.stratified(labels: labels, testFraction: 0.25, seed: 7)
        let b = try TrainTestSplit.stratified(labels: labels, testFraction: 0.25, seed: 7)
        let c = try TrainTestSplit.stratified(labels: labels, testFraction: 0.25, seed: 8)
        #expect(a.train == b.train && a.test == b.test)
        #expect(a.test != c.test)
        #expect(a.test.count == 25 && a.train.count == 75)
        #expect(a.test.filter { labels[$0] == "rare" }.count == 5)
        #expect(Set(a.train).isDisjoint(with: a.test) && Set(a.train + a.test) == Set(0..<100))
        #expect(throws: ClassifierError.self) { try TrainTestSplit.stratified(labels: labels, testFraction: 1, seed: 1) }
    }

    @Test func holdoutMatchesScikitLearnSplit() throws {
        let reference = Fixtures.fit("binary", "default")
        let (x, labels) = try Fixtures.dataset("binary")
        let trainRows = Array(0..<1500), testRows = Array(1500..<2000)
        let run = try HoldoutEvaluation.run(
            trainFeatures: x.selectingRows(trainRows), trainLabels: trainRows.map { labels[$0] },
            testFeatures: x.selectingRows(testRows), testLabels: testRows.map { labels[$0] })
        #expect(abs(run.metrics.accuracy - reference.heldout_accuracy) <= 0.005)
        #expect(run.metrics.majorityClass == "neg")
        #expect(run.trainSeconds >= 0)
        #expect(throws: ClassifierError.self) { try x.selectingRows([2000]) }
    }
}

@Suite struct NumericalTests {
    /// Huge separable margins (features ~1e4 after standardisation would overflow naive exp): the loss stays
    /// finite and training converges to 100%.
    @Test func extremeLogitsStayFinite() throws {
        var values: [Float] = [], labels: [String] = []
        for r in 0..<300 {
            let c = r % 3
            values.append(contentsOf: [c == 0 ? 1000 : 0, c == 1 ? 1000 : 0, c == 2 ? 1000 : 0])
            labels.append(["a", "b", "c"][c])
        }
        let x = try FeatureMatrix(values: values, rows: 300, columns: 3)
        let model = try LogisticRegression.train(features: x, labels: labels, options: .init(C: 1e6))
        #expect(model.finalLoss.isFinite)
        #expect(try model.predict(x) == labels)
        let objective = LogisticObjective(features: values, rows: 300, columns: 3, targets: labels.map { Int32(["a", "b", "c"].firstIndex(of: $0)!) },
                                          sampleWeights: nil, classCount: 3, l2Strength: 0, weightSum: 300)
        // A wrong class gets logit 2e4, the true one 0: the loss is 2e4 per row (exp(2e4) would overflow).
        var params = [Double](repeating: 0, count: objective.parameterCount)
        for k in 0..<3 { params[k * 4 + (k + 1) % 3] = 20 }
        var gradient = [Double](repeating: 0, count: params.count)
        let loss = objective.evaluate(params, gradient: &gradient)
        #expect(abs(loss - 20_000) < 1e-6)
        #expect(gradient.allSatisfy { $0.isFinite })
    }
}
