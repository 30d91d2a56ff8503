import Featurize
import Foundation
import Testing

/// End-to-end tests of `featurize extract` (the built binary, run as a child process).
private enum CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = packageRoot.appendingPathComponent("Tests/EncoderTests/Fixtures").path
    static let miniLM = packageRoot.appendingPathComponent("models/all-MiniLM-L6-v2").path

    /// The `featurize` binary next to the test bundle (`swift build` builds it with the tests).
    static func binary() throws -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [here.appendingPathComponent("featurize").path,
                          here.deletingLastPathComponent().appendingPathComponent("featurize").path]
        candidates.append(packageRoot.appendingPathComponent(".build/debug/featurize").path)
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CLIFailure("featurize binary not found (looked at \(candidates)); run `swift build` first")
        }
        return found
    }

    /// Runs the binary; returns (exit status, stdout, stderr).
    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws
        -> (status: Int32, out: Data, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
    }

    static func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurize-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }
}

private struct CLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads a float32 `.npy` written by NpyWriter: (shape, values).
private func readNpy(_ path: String) throws -> (shape: [Int], values: [Float]) {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    guard bytes.count > 10, bytes[0] == 0x93 else { throw CLIFailure("\(path) is not .npy") }
    let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    let header = String(decoding: bytes[10..<10 + headerLength], as: UTF8.self)
    guard header.contains("'<f4'"), let open = header.range(of: "'shape': ("),
          let close = header.range(of: ")", range: open.upperBound..<header.endIndex) else {
        throw CLIFailure("unexpected header \(header)")
    }
    let shape = header[open.upperBound..<close.lowerBound].split(separator: ",")
        .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let count = shape.reduce(1, *), body = 10 + headerLength
    let values = bytes.withUnsafeBytes { raw in
        (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: body + 4 * $0, as: UInt32.self)) }
    }
    return (shape, values)
}

@Suite("featurize extract", .serialized)
struct ExtractCommandTests {
    @Test("flags map onto FeatureExtractor exactly (random BERT fixture, several poolings and layers)")
    func flagsMatchLibrary() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = CLI.fixtures + "/models/bert_gelu"
        let input = CLI.fixtures + "/texts.txt"
        let output = dir + "/out.npy"
        let result = try CLI.run(["extract", "--model", model, "--input", input, "--output", output,
                                  "--pooling", "cls,max,weighted_mean", "--layers", "0,-2..-1", "--batch-size", "5",
                                  "--quiet"])
        #expect(result.status == 0, "stderr: \(result.err)")
        #expect(result.err.isEmpty, "--quiet must print nothing: \(result.err)")
        let npy = try readNpy(output)
        let texts = try String(contentsOfFile: input, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)
        let extractor = try FeatureExtractor(modelDirectory: model,
                                             pooling: try PoolingSpec.parse(pooling: "cls,max,weighted_mean", layers: "0,-2..-1"),
                                             batchSize: 5)
        let expected = try extractor.extract(texts: texts)
        #expect(npy.shape == [texts.count, 3 * 3 * 36])
        #expect(npy.values.count == expected.values.count)
        let worst = zip(npy.values, expected.values).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(worst <= 1e-5, "CLI vs library max abs diff \(worst)")
    }

    @Test("FEATURIZE_CPU_KERNELS=portable runs the portable C kernels: same features as the fast path within 1e-5")
    func portableKernelsMatchTheFastPath() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = CLI.fixtures + "/texts.txt"
        for model in ["bert_gelu", "bert_gelu_new_f16", "distilbert_relu"].map({ CLI.fixtures + "/models/" + $0 }) {
            var outputs: [[Float]] = []
            for path in ["auto", "portable"] {
                let output = dir + "/\(path).npy"
                let result = try CLI.run(["extract", "--model", model, "--input", input, "--output", output, "--device", "cpu",
                                          "--pooling", "cls,mean,max", "--layers", "-3..-1", "--overwrite", "--quiet"],
                                         environment: ["FEATURIZE_CPU_KERNELS": path])
                #expect(result.status == 0, "stderr: \(result.err)")
                outputs.append(try readNpy(output).values)
            }
            #expect(outputs[0].count == outputs[1].count && !outputs[0].isEmpty)
            let worst = zip(outputs[0], outputs[1]).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            #expect(worst <= 1e-5, "\(model): portable vs default kernels max abs diff \(worst)")
        }
        let devices = try CLI.run(["devices"], environment: ["FEATURIZE_CPU_KERNELS": "portable"])
        #expect(String(decoding: devices.out, as: UTF8.self).contains("portable"),
                "`featurize devices` names the CPU kernel path: \(String(decoding: devices.out, as: UTF8.self))")
    }

    @Test("no flags on a sentence-transformers directory equals SentenceTransformer.encode; stdin, summary line")
    func miniLMDefaultsFromStdin() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = try String(contentsOfFile: CLI.fixtures + "/minilm/texts.txt", encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let count = 24
        let stdin = lines[0..<count].joined(separator: "\n") + "\n"
        let output = dir + "/out.npy"
        let result = try CLI.run(["extract", "--model", CLI.miniLM, "--input", "-", "--output", output], stdin: stdin)
        #expect(result.status == 0, "stderr: \(result.err)")
        #expect(result.err.contains("\(count) texts") && result.err.contains("truncated"), "summary: \(result.err)")
        let npy = try readNpy(output)
        #expect(npy.shape == [count, 384])
        // Reference rows from the committed SentenceTransformer output (minilm/expected.npy, [200, 384]).
        let expected = try readNpy(CLI.fixtures + "/minilm/expected.npy")
        for i in 0..<count {
            var dot: Float = 0, na: Float = 0, nb: Float = 0
            for c in 0..<384 {
                let a = npy.values[i * 384 + c], b = expected.values[i * 384 + c]
                dot += a * b; na += a * a; nb += b * b
            }
            #expect(dot / (na * nb).squareRoot() >= 0.99999, "row \(i)")
        }
    }

    @Test("jsonl input with --text-field, safetensors output")
    func jsonlToSafetensors() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/in.jsonl"
        try Data("{\"id\": 1, \"body\": \"hello world\"}\n{\"id\": 2, \"body\": \"a second text\"}\n".utf8)
            .write(to: URL(fileURLWithPath: input))
        let output = dir + "/out.safetensors"
        let result = try CLI.run(["extract", "--model", CLI.fixtures + "/models/distilbert_relu", "--input", input,
                                  "--text-field", "body", "--output", output, "--pooling", "mean", "--quiet"])
        #expect(result.status == 0, "stderr: \(result.err)")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = String(decoding: bytes[8..<8 + headerLength], as: UTF8.self)
        #expect(header.contains("\"features\"") && header.contains("[2,30]") && header.contains("\"pooling\":\"mean\""), "\(header)")
        let extractor = try FeatureExtractor(modelDirectory: CLI.fixtures + "/models/distilbert_relu",
                                             pooling: try PoolingSpec.parse(pooling: "mean"))
        let expected = try extractor.extract(texts: ["hello world", "a second text"])
        let values = bytes.withUnsafeBytes { raw in
            (0..<60).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 8 + headerLength + 4 * $0, as: UInt32.self)) }
        }
        let worst = zip(values, expected.values).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(worst <= 1e-5, "CLI vs library max abs diff \(worst)")
    }

    @Test("an unwritable --stats file is a runtime error naming the path and the reason, before any work (issue 16 item 7)")
    func statsWriteFailure() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stats = dir + "/no-such-dir/stats.json"
        let r = try CLI.run(["extract", "--model", CLI.fixtures + "/models/bert_gelu", "--input", CLI.fixtures + "/texts.txt",
                             "--output", dir + "/o.npy", "--quiet", "--stats", stats])
        #expect(r.status == 1, "exit \(r.status): \(r.err)")
        #expect(r.err.contains(stats) && r.err.contains("does not exist"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.npy"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.npy.parts"))
        #expect(!FileManager.default.fileExists(atPath: stats + ".tmp"))
        // A writable path gets the complete JSON report.
        let ok = try CLI.run(["extract", "--model", CLI.fixtures + "/models/bert_gelu", "--input", CLI.fixtures + "/texts.txt",
                              "--output", dir + "/o2.npy", "--quiet", "--stats", dir + "/stats.json"])
        #expect(ok.status == 0, "\(ok.err)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/stats.json"))) as? [String: Any]
        #expect((report?["texts"] as? Int) == 40, "\(String(describing: report?.keys))")
    }

    @Test("usage errors: unknown pooling, out-of-range layer, bad layer reduce, missing model, unknown output format")
    func usageErrors() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = CLI.fixtures + "/models/bert_gelu"
        let input = CLI.fixtures + "/texts.txt"
        func run(_ extra: [String], output: String = dir + "/o.npy", model: String = model) throws -> (Int32, String) {
            let r = try CLI.run(["extract", "--model", model, "--input", input, "--output", output, "--quiet"] + extra)
            return (r.status, r.err)
        }
        var (status, err) = try run(["--pooling", "mean,avg"])
        #expect(status == 64 && err.contains("'avg'") && err.contains("mean_sqrt_len, weighted_mean, last, pooler"), "\(err)")
        (status, err) = try run(["--layers", "-5"])
        #expect(status == 64 && err.contains("layer -5 out of range") && err.contains("0...3"), "\(err)")
        (status, err) = try run(["--layers", "5"])
        #expect(status == 64 && err.contains("layer 5 out of range") && err.contains("0...3"), "\(err)")
        (status, err) = try run(["--layers", "-1", "--layer-reduce", "sum"])
        #expect(status == 64 && err.contains("'sum'") && err.contains("concat, mean"), "\(err)")
        (status, err) = try run(["--max-length", "41"])
        #expect(status == 64 && err.contains("max_position_embeddings 40"), "\(err)")
        (status, err) = try run([], output: dir + "/o.csv")
        #expect(status == 64 && err.contains("o.csv"), "\(err)")
        (status, err) = try run([], model: dir + "/no-such-model")
        #expect(status != 0 && err.contains("no-such-model"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.npy"))
    }
}
