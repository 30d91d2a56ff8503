import FeatureIO
import Foundation
import Testing

/// End-to-end tests of `featurize train / predict / evaluate`, running the built executable
/// (it sits next to the test bundle in .build/<config>/).
@Suite(.serialized) struct ClassifierCLITests {
    static var executable: URL {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [bundleDirectory.appendingPathComponent("featurize")]
        // When the runner is inside an .xctest bundle directory (macOS layout), look one level up too.
        candidates.append(bundleDirectory.deletingLastPathComponent().appendingPathComponent("featurize"))
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/featurize"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Writes a float32 C-order .npy file [rows, columns].
    static func writeNpy(_ values: [Float], rows: Int, columns: Int, to path: String) throws {
        try NpyArrayFile.write(try FeatureMatrix(values: values, rows: rows, columns: columns), to: path)
    }

    /// Three separable blobs in 4-D: class c has feature c around 5, others around 0.
    static func makeData(in dir: String, rows: Int) throws -> (features: String, labels: String) {
        let names = ["cat", "dog", "eel"]
        var values: [Float] = [], labels: [String] = []
        for r in 0..<rows {
            let c = r % 3
            for j in 0..<4 { values.append((j == c ? 5 : 0) + Float((r * 7 + j * 3) % 11) / 11 - 0.5) }
            labels.append(names[c])
        }
        let features = dir + "/x.npy", labelsPath = dir + "/labels.txt"
        try writeNpy(values, rows: rows, columns: 4, to: features)
        try (labels.joined(separator: "\n") + "\n").write(toFile: labelsPath, atomically: true, encoding: .utf8)
        return (features, labelsPath)
    }

    @Test func trainPredictEvaluate() throws {
        let dir = NSTemporaryDirectory() + "cli-clf-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (features, labels) = try Self.makeData(in: dir, rows: 90)
        let model = dir + "/model.json"

        let train = try Self.run(["train", "--features", features, "--labels", labels, "--output", model, "--C", "10"])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("3 classes: cat, dog, eel"))
        #expect(train.stdout.contains("training accuracy: 100.00%"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model))) as? [String: Any]
        #expect(json?["classes"] as? [String] == ["cat", "dog", "eel"])
        #expect(json?["C"] as? Double == 10)
        #expect(json?["converged"] as? Bool == true)

        let evaluate = try Self.run(["evaluate", "--model", model, "--features", features, "--labels", labels])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        #expect(evaluate.stdout.contains("accuracy: 100.00%"))
        #expect(evaluate.stdout.contains("macro-F1: 1.0000"))
        #expect(evaluate.stdout.contains("majority baseline ('cat'): 33.33%"))
        #expect(evaluate.stdout.contains("cat      30     0     0"))

        let predictions = dir + "/preds.csv"
        let predict = try Self.run(["predict", "--model", model, "--features", features, "--output", predictions])
        #expect(predict.status == 0, "\(predict.stderr)")
        let lines = try String(contentsOfFile: predictions, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 91)
        #expect(lines[0] == "row,label,p_cat,p_dog,p_eel")
        #expect(lines[1].hasPrefix("0,cat,") && lines[2].hasPrefix("1,dog,") && lines[3].hasPrefix("2,eel,"))
        let probabilities = lines[1].split(separator: ",").dropFirst(2).compactMap { Double($0) }
        #expect(probabilities.count == 3 && abs(probabilities.reduce(0, +) - 1) < 1e-5)
    }

    @Test func clearErrors() throws {
        let dir = NSTemporaryDirectory() + "cli-clf-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (features, labels) = try Self.makeData(in: dir, rows: 30)
        let model = dir + "/model.json"

        let missing = try Self.run(["train", "--features", features, "--labels", dir + "/nope.txt", "--output", model])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nope.txt") && missing.stderr.contains("no such file"))

        try "cat\ndog\n".write(toFile: dir + "/short.txt", atomically: true, encoding: .utf8)
        let mismatch = try Self.run(["train", "--features", features, "--labels", dir + "/short.txt", "--output", model])
        #expect(mismatch.status != 0)
        #expect(mismatch.stderr.contains("has 2 labels but") && mismatch.stderr.contains("has 30 rows"))

        try String(repeating: "same\n", count: 30).write(toFile: dir + "/single.txt", atomically: true, encoding: .utf8)
        let single = try Self.run(["train", "--features", features, "--labels", dir + "/single.txt", "--output", model])
        #expect(single.status != 0)
        #expect(single.stderr.contains("single class ('same')"))

        #expect(try Self.run(["train", "--features", features, "--labels", labels, "--output", model]).status == 0)
        var unknown = try String(contentsOfFile: labels, encoding: .utf8).split(separator: "\n").map(String.init)
        unknown[4] = "zebra"
        try (unknown.joined(separator: "\n") + "\n").write(toFile: dir + "/unknown.txt", atomically: true, encoding: .utf8)
        let evaluate = try Self.run(["evaluate", "--model", model, "--features", features, "--labels", dir + "/unknown.txt"])
        #expect(evaluate.status != 0)
        #expect(evaluate.stderr.contains("'zebra' on line 5"))

        try "not numpy".write(toFile: dir + "/bad.npy", atomically: true, encoding: .utf8)
        let badNpy = try Self.run(["predict", "--model", model, "--features", dir + "/bad.npy"])
        #expect(badNpy.status != 0)
        #expect(badNpy.stderr.contains("bad.npy") && badNpy.stderr.contains("not a .npy file"))

        try Self.writeNpy([1, 2, 3], rows: 1, columns: 3, to: dir + "/narrow.npy")
        let narrow = try Self.run(["predict", "--model", model, "--features", dir + "/narrow.npy"])
        #expect(narrow.status != 0)
        #expect(narrow.stderr.contains("expects 4 features per row but the input has 3"))
    }
}
