import FeatureIO
import Foundation
import ModelIO
import Testing

// `featurize extract` / `featurize quantize` against SentenceTransformer.encode() and quantize_embeddings
// outputs committed by scripts/fixtures/gen_st_fixtures.py (Tests/EncoderTests/Fixtures/st/).

private enum STCLI {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static func fixture(_ relative: String) -> String {
        root.appendingPathComponent("Tests/EncoderTests/Fixtures/st/\(relative)").path
    }

    static func binary() throws -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [here.appendingPathComponent("featurize").path,
                          here.deletingLastPathComponent().appendingPathComponent("featurize").path,
                          root.appendingPathComponent(".build/debug/featurize").path]
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw STCLIFailure("featurize binary not found (looked at \(candidates)); run `swift build` first")
        }
        return found
    }

    /// Runs the binary; returns (exit status, stdout + stderr).
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("featurize-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    /// The body and shape of a one-byte-per-element .npy (`|i1` / `|u1`).
    static func bytes(_ path: String) throws -> (descr: String, shape: [Int], values: [UInt8]) {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard data.count > 10, data[0] == 0x93 else { throw STCLIFailure("\(path): not an npy file") }
        let length = Int(data[8]) | Int(data[9]) << 8
        let header = String(decoding: data[10..<(10 + length)], as: UTF8.self)
        let descr = header.contains("'|i1'") ? "|i1" : header.contains("'|u1'") ? "|u1" : header
        guard let open = header.firstIndex(of: "("), let close = header.firstIndex(of: ")") else { throw STCLIFailure("\(path): no shape") }
        let shape = header[header.index(after: open)..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (descr, shape, Array(data[(10 + length)...]))
    }
}

private struct STCLIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite("featurize extract equals SentenceTransformer.encode (prompts, Dense, truncate_dim, precision)")
struct SentenceTransformersCLITests {
    static let cases: [(model: String, flags: [String], expected: String)] = [
        ("prompts", [], "prompts/expected_default.npy"),
        ("dense", [], "dense/expected_default.npy"),
        ("lasttoken", [], "lasttoken/expected_default.npy"),
        ("prompts", ["--prompt-name", "passage"], "prompts/expected_prompt_name_passage.npy"),
        ("prompts", ["--prompt", "Represent this sentence: "], "prompts/expected_prompt_text.npy"),
        ("prompts", ["--truncate-dim", "16", "--normalize"], "prompts/expected_truncate_dim_16_normalized.npy"),
        ("dense", ["--truncate-dim", "8"], "dense/expected_truncate_dim_8.npy"),
    ]

    @Test("No flags = encode() on every fixture configuration; prompt and truncate flags = encode(prompt..., truncate_dim...)",
          arguments: 0..<7)
    func extractMatchesEncode(_ index: Int) throws {
        let c = Self.cases[index]
        let dir = try STCLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/o.npy"
        let r = try STCLI.run(["extract", "--model", STCLI.fixture(c.model), "--input", STCLI.fixture("texts.txt"),
                               "--output", out, "--device", "cpu", "--quiet"] + c.flags)
        #expect(r.status == 0, "\(r.output)")
        let got = try NpyReader.readMatrix(path: out)
        let expected = try NpyReader.readMatrix(path: STCLI.fixture(c.expected))
        #expect(got.rows == expected.rows && got.columns == expected.columns)
        let diff = zip(got.values, expected.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(diff <= 1e-5, "\(c.model) \(c.flags): max abs \(diff)")
    }

    @Test("featurize quantize equals quantize_embeddings bit for bit", arguments: ["int8", "uint8", "binary", "ubinary"])
    func quantizeMatches(_ precision: String) throws {
        let dir = try STCLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/q.npy"
        let r = try STCLI.run(["quantize", "--input", STCLI.fixture("prompts/expected_default.npy"), "--output", out,
                               "--precision", precision])
        #expect(r.status == 0, "\(r.output)")
        let got = try STCLI.bytes(out), expected = try STCLI.bytes(STCLI.fixture("prompts/quantized_\(precision).npy"))
        #expect(got.descr == expected.descr && got.shape == expected.shape)
        #expect(got.values == expected.values)
    }

    @Test("--save-ranges then --calibration RANGES reproduces the same int8 buckets")
    func rangesRoundTrip() throws {
        let dir = try STCLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = STCLI.fixture("prompts/expected_default.npy")
        #expect(try STCLI.run(["quantize", "--input", input, "--output", dir + "/a.npy", "--precision", "int8",
                               "--save-ranges", dir + "/ranges.npy"]).status == 0)
        #expect(try STCLI.run(["quantize", "--input", input, "--output", dir + "/b.npy", "--precision", "int8",
                               "--calibration", dir + "/ranges.npy"]).status == 0)
        #expect(try STCLI.bytes(dir + "/a.npy").values == STCLI.bytes(STCLI.fixture("prompts/quantized_int8.npy")).values)
        #expect(try STCLI.bytes(dir + "/b.npy").values == STCLI.bytes(dir + "/a.npy").values)
    }

    @Test("extract --precision writes int8/ubinary .npy within one bucket / exactly of quantize_embeddings")
    func extractPrecision() throws {
        let dir = try STCLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for precision in ["int8", "ubinary"] {
            let out = dir + "/\(precision).npy"
            let r = try STCLI.run(["extract", "--model", STCLI.fixture("prompts"), "--input", STCLI.fixture("texts.txt"),
                                   "--output", out, "--device", "cpu", "--quiet", "--precision", precision])
            #expect(r.status == 0, "\(r.output)")
            #expect(!FileManager.default.fileExists(atPath: out + ".float32.npy"))
            let got = try STCLI.bytes(out), expected = try STCLI.bytes(STCLI.fixture("prompts/quantized_\(precision).npy"))
            #expect(got.shape == expected.shape && got.descr == expected.descr)
            if precision == "ubinary" {
                #expect(got.values == expected.values)
            } else {
                let worst = zip(got.values, expected.values).map { abs(Int(Int8(bitPattern: $0)) - Int(Int8(bitPattern: $1))) }.max() ?? 99
                #expect(worst <= 1)
            }
        }
    }

    @Test("Help lists every output format and precision; conflicting and unknown options are usage errors")
    func helpAndErrors() throws {
        let help = try STCLI.run(["extract", "--help"]).output
        for word in [".npy", ".safetensors", ".jsonl", "float32", "float16", "int8", "uint8", "binary", "ubinary",
                     "--prompt", "--prompt-name", "--truncate-dim", "--calibration"] {
            #expect(help.contains(word), "extract --help lacks \(word)")
        }
        let quantizeHelp = try STCLI.run(["quantize", "--help"]).output
        for word in ["int8", "uint8", "binary", "ubinary", "packbits", "--calibration"] { #expect(quantizeHelp.contains(word)) }
        let base = ["extract", "--model", STCLI.fixture("prompts"), "--input", STCLI.fixture("texts.txt"), "--output", "/tmp/never.npy", "--quiet"]
        let both = try STCLI.run(base + ["--prompt", "a", "--prompt-name", "query"])
        #expect(both.status == 64 && both.output.contains("exclude"))
        let unknown = try STCLI.run(base + ["--prompt-name", "nope"])
        #expect(unknown.status == 64 && unknown.output.contains("document, passage, query"), "\(unknown.output)")
        let jsonl = try STCLI.run(["extract", "--model", STCLI.fixture("prompts"), "--input", STCLI.fixture("texts.txt"),
                                   "--output", "/tmp/never.jsonl", "--precision", "int8"])
        #expect(jsonl.status == 64)
    }

    @Test("--pair-column encodes text pairs as transformers does (mean-pooled BertModel, max abs <= 1e-5)")
    func pairs() throws {
        let dir = try STCLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pairs = try String(contentsOfFile: STCLI.fixture("pairs/pairs.tsv"), encoding: .utf8)
        try ("text\tsecond\n" + pairs).write(toFile: dir + "/pairs.tsv", atomically: true, encoding: .utf8)
        let model = STCLI.root.appendingPathComponent("Tests/EncoderTests/Fixtures/models/bert_gelu").path
        let r = try STCLI.run(["extract", "--model", model, "--input", dir + "/pairs.tsv", "--pair-column", "second",
                               "--pooling", "mean", "--max-length", "24", "--output", dir + "/o.npy", "--device", "cpu", "--quiet"])
        #expect(r.status == 0, "\(r.output)")
        let got = try NpyReader.readMatrix(path: dir + "/o.npy")
        let expected = try NpyReader.readMatrix(path: STCLI.fixture("pairs/expected_mean_longest_first.npy"))
        #expect(got.rows == 7 && got.columns == 36)
        #expect((zip(got.values, expected.values).map { abs($0 - $1) }.max() ?? 1) <= 1e-5)
        let refused = try STCLI.run(["extract", "--model", model, "--input", dir + "/pairs.tsv", "--pair-column", "second",
                                     "--pair-truncation", "only_first", "--max-length", "24", "--output", dir + "/p.npy", "--device", "cpu", "--quiet"])
        #expect(refused.status != 0 && refused.output.contains("only_first"), "\(refused.output)")
    }

    @Test("--long-input chunk gives one row per text, rows one row per window with an index")
    func longInput() throws {
        let dir = try STCLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let long = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 30)
        try ("short text\n" + long + "\n").write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        let model = STCLI.root.appendingPathComponent("Tests/EncoderTests/Fixtures/models/bert_gelu").path
        let base = ["extract", "--model", model, "--input", dir + "/in.txt", "--device", "cpu", "--quiet", "--stride", "4"]
        #expect(try STCLI.run(base + ["--long-input", "chunk", "--output", dir + "/c.npy"]).status == 0)
        #expect(try NpyReader.readMatrix(path: dir + "/c.npy").rows == 2)
        let r = try STCLI.run(base + ["--long-input", "rows", "--output", dir + "/r.npy"])
        #expect(r.status == 0, "\(r.output)")
        let rows = try NpyReader.readMatrix(path: dir + "/r.npy").rows
        let index = try String(contentsOfFile: dir + "/r.npy.windows.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(rows > 3 && index.count == rows)
        #expect(index.first?.contains("\"text\": 0") == true && index.last?.contains("\"text\": 1") == true)
        #expect(try STCLI.run(base + ["--output", dir + "/x.npy"]).status == 64)  // --stride without --long-input
    }

    @Test("--pooling none writes ragged token features (.safetensors: features, offsets, token_ids, char_offsets; .jsonl)")
    func tokenLevel() throws {
        let dir = try STCLI.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["extract", "--model", STCLI.fixture("prompts"), "--input", STCLI.fixture("texts.txt"), "--device", "cpu",
                    "--quiet", "--pooling", "none"]
        let r = try STCLI.run(base + ["--output", dir + "/t.safetensors"])
        #expect(r.status == 0, "\(r.output)")
        let file = try SafetensorsFile(path: dir + "/t.safetensors")
        let expected = try NpyReader.readMatrix(path: STCLI.fixture("prompts/expected_tokens.npy"))
        let features = try file.tensor("features")
        #expect(features.shape == [expected.rows, 36])
        #expect((zip(features.values, expected.values).map { abs($0 - $1) }.max() ?? 1) <= 1e-5)
        let offsets = try file.integerTensor("offsets")
        #expect(offsets.shape == [9] && offsets.values.first == 0 && offsets.values.last == Int64(expected.rows))
        #expect(try file.integerTensor("token_ids").shape == [expected.rows])
        #expect(try file.integerTensor("char_offsets").shape == [expected.rows, 2])
        #expect(try STCLI.run(base + ["--output", dir + "/t.jsonl"]).status == 0)
        #expect(try String(contentsOfFile: dir + "/t.jsonl", encoding: .utf8).split(separator: "\n").count == 8)
        #expect(try STCLI.run(base + ["--output", dir + "/t.npy"]).status == 64)
    }
}
