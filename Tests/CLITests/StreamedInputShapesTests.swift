import Featurize
import FeatureIO
import Foundation
import Scheduler
import Testing

/// Sentence pairs, `--long-input chunk|rows` and `--pooling none` through the streaming job (issue 15): an
/// interrupted run resumed equals an uninterrupted one byte for byte, shards merged equal the single run, the
/// values equal the library's in-memory extraction, `--precision int8` equals `featurize quantize` of the float
/// output, and a resume with changed settings is refused. Runs the built binary on the random BERT fixture
/// (max length 40), `--device cpu`.
@Suite(.serialized) struct StreamedInputShapesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("Tests/EncoderTests/Fixtures/models/bert_gelu").path

    /// 60 rows: `text` (every 7th a long text of several windows), `second` (the pair) and `third`.
    static let rows: [(text: String, second: String, third: String)] = {
        let lines = ((try? String(contentsOf: root.appendingPathComponent("Tests/EncoderTests/Fixtures/texts.txt"), encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
        return (0..<60).map { i in
            var text = lines[i % lines.count]
            if i % 7 == 3 { text = Array(repeating: text, count: 3 + i % 4).joined(separator: " ") }
            return ("\(i) \(text)", lines[(i * 3 + 1) % lines.count], "third \(i)")
        }
    }()

    /// One input shape under test: its flags and output extension.
    struct Mode: CustomStringConvertible {
        var name: String
        var flags: [String]
        var ext: String
        var description: String { name }
    }

    static let modes = [Mode(name: "pairs", flags: ["--pair-column", "second", "--pooling", "mean"], ext: "npy"),
                        Mode(name: "chunk", flags: ["--long-input", "chunk", "--stride", "4"], ext: "npy"),
                        Mode(name: "rows", flags: ["--long-input", "rows", "--stride", "4"], ext: "npy"),
                        Mode(name: "tokens", flags: ["--pooling", "none"], ext: "safetensors"),
                        Mode(name: "tokens-jsonl", flags: ["--pooling", "none"], ext: "jsonl")]

    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "featurize-shapes-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let tsv = "text\tsecond\tthird\n" + rows.map { "\($0.text)\t\($0.second)\t\($0.third)\n" }.joined()
        try tsv.write(toFile: d + "/in.tsv", atomically: true, encoding: .utf8)
        return d
    }

    struct Run { var status: Int32; var stderr: String }

    /// Runs the binary with `environment` added to this process's.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = ClassifierCLITests.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// `extract` on the 60-row input: windows of 6 rows (so 10 chunks), small batches.
    static func extract(_ dir: String, _ mode: Mode, _ output: String, _ more: [String] = [],
                        environment: [String: String] = [:]) throws -> Run {
        try run(["extract", "--model", model, "--input", dir + "/in.tsv", "--output", dir + "/" + output, "--device", "cpu",
                 "--quiet", "--window", "6", "--max-batch-tokens", "200"] + mode.flags + more, environment: environment)
    }

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// The CPU fails every batch from its 5th on, and the fallback from its 5th: the job stops at its 9th batch
    /// (the scheduler's order is fixed), after the chunks of the windows finished before it.
    static let failFromBatch5 = ["FEATURIZE_INJECT_FAULT": "*@5:failx1000000"]

    @Test("Interrupted by a device failure, then --resume: byte-identical to an uninterrupted run", arguments: modes)
    func resumeIsByteIdentical(_ mode: Mode) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let full = try Self.extract(dir, mode, "full." + mode.ext)
        #expect(full.status == 0, "\(full.stderr)")
        let failed = try Self.extract(dir, mode, "resumed." + mode.ext, environment: Self.failFromBatch5)
        #expect(failed.status == 1 && failed.stderr.contains("injected device failure"), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/resumed." + mode.ext), "a failed job left a complete-looking output")
        let manifestData = try Self.bytes(dir + "/resumed.\(mode.ext).parts/manifest.json")
        let manifest = try OutputManifest.parse(manifestData, path: "manifest.json")
        #expect(manifest.chunks.count >= 2 && manifest.chunks.count < 10, "\(manifest.chunks.count) chunks before the failure")
        #expect((manifest.chunkRows != nil) == (mode.name != "pairs" && mode.name != "chunk"))
        let resumed = try Self.extract(dir, mode, "resumed." + mode.ext, ["--resume", "--stats", dir + "/stats.json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let report = try JSONDecoder().decode(ExtractionReport.self, from: try Self.bytes(dir + "/stats.json"))
        #expect(report.resumedRows == manifest.rowsDone && report.resumedRows >= 12 && report.texts == 60 - report.resumedRows)
        #expect(try Self.bytes(dir + "/full." + mode.ext) == Self.bytes(dir + "/resumed." + mode.ext))
        if mode.name == "rows" {
            #expect(try Self.bytes(dir + "/full.npy.windows.jsonl") == Self.bytes(dir + "/resumed.npy.windows.jsonl"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/resumed.\(mode.ext).parts"))
    }

    @Test("Three shards merged equal the unsharded run byte for byte (rows: the window index too)", arguments: modes)
    func shardsMergeToTheSingleRun(_ mode: Mode) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.extract(dir, mode, "full." + mode.ext).status == 0)
        for i in 0..<3 {
            let shard = try Self.extract(dir, mode, "part\(i)." + mode.ext, ["--shard", "\(i)/3"])
            #expect(shard.status == 0, "\(shard.stderr)")
        }
        let parts = [2, 0, 1].map { dir + "/part\($0)." + mode.ext }
        let merged = try Self.run(["merge", "--output", dir + "/merged." + mode.ext] + parts)
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(try Self.bytes(dir + "/full." + mode.ext) == Self.bytes(dir + "/merged." + mode.ext))
        if mode.name == "rows" {
            #expect(try Self.bytes(dir + "/full.npy.windows.jsonl") == Self.bytes(dir + "/merged.npy.windows.jsonl"))
            // A shard whose index is gone cannot be merged.
            try FileManager.default.removeItem(atPath: dir + "/part1.npy.windows.jsonl")
            let broken = try Self.run(["merge", "--output", dir + "/m2.npy"] + parts)
            #expect(broken.status != 0 && broken.stderr.contains("part1.npy.windows.jsonl is missing"), "\(broken.stderr)")
        }
        let missing = try Self.run(["merge", "--output", dir + "/m3." + mode.ext] + parts.prefix(2))
        #expect(missing.status != 0 && missing.stderr.contains("missing shard"))
    }

    @Test("The streamed outputs hold the library's values: extract(pairs:), extractChunked, extractWindows, extractTokens")
    func valuesEqualTheLibrary() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for mode in Self.modes { #expect(try Self.extract(dir, mode, mode.name + "." + mode.ext).status == 0, "\(mode)") }
        func worst(_ a: [Float], _ b: [Float]) -> Float { a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity }
        let texts = Self.rows.map(\.text)
        let mean = try FeatureExtractor(modelDirectory: Self.model, pooling: PoolingSpec.parse(pooling: "mean"))
        let pairs = try mean.extract(pairs: Self.rows.map { TextPair($0.text, $0.second) })
        #expect(worst(try NpyReader.readMatrix(path: dir + "/pairs.npy").values, pairs.values) <= 1e-5)
        let plain = try FeatureExtractor(modelDirectory: Self.model)
        let chunked = try plain.extractChunked(texts: texts, stride: 4)
        #expect(worst(try NpyReader.readMatrix(path: dir + "/chunk.npy").values, chunked.values) <= 1e-5)
        let windows = try plain.extractWindows(texts: texts, stride: 4)
        #expect(windows.features.rows > 80, "\(windows.features.rows) windows")
        #expect(worst(try NpyReader.readMatrix(path: dir + "/rows.npy").values, windows.features.values) <= 1e-5)
        let index = try String(contentsOfFile: dir + "/rows.npy.windows.jsonl", encoding: .utf8)
        #expect(index == windows.windows.map(\.indexLine).joined())
        let tokens = try plain.extractTokens(texts: texts)
        let file = try TokenFeaturesReader(path: dir + "/tokens.safetensors")
        #expect(file.offsets == tokens.offsets && file.columns == tokens.columns)
        var values: [Float] = [], ids: [Int32] = []
        for r in 0..<file.texts { values += try file.features(ofText: r); ids += try file.tokens(ofText: r).ids }
        #expect(ids == tokens.tokenIds && worst(values, tokens.values) <= 1e-5)
        let lines = try String(contentsOfFile: dir + "/tokens-jsonl.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 60 && lines[0].hasPrefix("{\"token_ids\":[\(tokens.tokenIds[0]),"))
    }

    @Test("--precision int8 on pairs and chunk equals featurize quantize of their float32 output", arguments: [modes[0], modes[1]])
    func int8(_ mode: Mode) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.extract(dir, mode, "float.npy").status == 0)
        let q = try Self.extract(dir, mode, "q.npy", ["--precision", "int8"])
        #expect(q.status == 0, "\(q.stderr)")
        let reference = try Self.run(["quantize", "--input", dir + "/float.npy", "--output", dir + "/ref.npy", "--precision", "int8"])
        #expect(reference.status == 0, "\(reference.stderr)")
        let quantized = try Self.bytes(dir + "/q.npy")
        #expect(quantized == (try Self.bytes(dir + "/ref.npy")))
        #expect(String(decoding: quantized.prefix(128), as: UTF8.self).contains("'descr': '|i1'") && quantized.count > 60 * 36)
    }

    @Test("A resume with other --stride, pair column or shape is refused, naming the setting")
    func resumeWithOtherSettingsIsRefused() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [(Mode, [String], String)] = [
            (Self.modes[1], ["--long-input", "chunk", "--stride", "6"], "input=chunk(stride=6,reduce=mean) (was chunk(stride=4,reduce=mean))"),
            (Self.modes[0], ["--pair-column", "third", "--pooling", "mean"], "input=pairs(third,longest_first) (was pairs(second,longest_first))"),
            (Self.modes[2], ["--long-input", "chunk", "--stride", "4"], "input=chunk(stride=4,reduce=mean) (was rows(stride=4))"),
            (Self.modes[1], ["--pooling", "mean"], "input not set (was chunk(stride=4,reduce=mean))"),
            (Self.modes[3], ["--pooling", "mean"], "tokens not set"),
        ]
        for (k, (mode, changed, message)) in cases.enumerated() {
            let output = "o\(k)." + mode.ext
            #expect(try Self.extract(dir, mode, output, environment: Self.failFromBatch5).status == 1)
            var other = mode
            other.flags = changed
            let refused = try Self.extract(dir, other, output, ["--resume"])
            #expect(refused.status != 0 && refused.stderr.contains("cannot resume") && refused.stderr.contains(message),
                    "\(mode) -> \(changed): \(refused.stderr)")
            #expect(try Self.extract(dir, mode, output, ["--resume"]).status == 0, "\(mode): the original settings resume")
        }
    }

    @Test("Combinations that make no sense are usage errors that say why")
    func refusedCombinations() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tokens = Self.modes[3]
        let checks: [([String], String, String)] = [
            (["--long-input", "chunk"], "t.safetensors", "token-level output keeps every token"),
            (["--long-input", "rows"], "t.safetensors", "repeat their shared tokens"),
            (["--precision", "int8"], "t.safetensors", "quantizes one embedding per text"),
            (["--truncate-dim", "8"], "t.safetensors", "no such head"),
            ([], "t.npy", "ragged"),
        ]
        for (flags, output, message) in checks {
            let r = try Self.extract(dir, tokens, output, flags)
            #expect(r.status == 64 && r.stderr.contains(message), "\(flags): \(r.stderr)")
        }
        let shardedInt8 = try Self.extract(dir, Self.modes[1], "q.npy", ["--precision", "int8", "--shard", "0/2"])
        #expect(shardedInt8.status == 64 && shardedInt8.stderr.contains("no shard holds"), "\(shardedInt8.stderr)")
        let pairsAndWindows = try Self.extract(dir, Self.modes[0], "p.npy", ["--long-input", "chunk"])
        #expect(pairsAndWindows.status == 64 && pairsAndWindows.stderr.contains("does not combine with text pairs"))
        try "a\nb\n".write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
        let txtPairs = try Self.run(["extract", "--model", Self.model, "--input", dir + "/in.txt", "--output", dir + "/x.npy",
                                     "--pair-field", "second", "--device", "cpu", "--quiet"])
        #expect(txtPairs.status != 0 && txtPairs.stderr.contains("text pairs need named fields"), "\(txtPairs.stderr)")
    }

    /// Token-level output of 2,000 texts of 40 tokens, 144 values per token (four layers concatenated): 46 MB of
    /// features, which a whole-input implementation holds (plus the ids and offsets). Streamed in windows of
    /// 128 texts, the peak memory exceeds that of 200 texts by far less than the output's size.
    @Test("Token-level output is streamed: peak memory does not grow with the input")
    func tokenLevelMemoryIsBounded() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lines = Self.rows.map(\.text)
        func run(_ n: Int) throws -> (MeasuredRun, Int) {
            // Each text is four fixture lines: more than the 40 tokens the model takes.
            let text = (0..<n).map { i in "\(i) " + (0..<4).map { lines[(i + $0) % lines.count] }.joined(separator: " ") + "\n" }.joined()
            try text.write(toFile: dir + "/big\(n).txt", atomically: true, encoding: .utf8)
            let output = dir + "/t\(n).safetensors"
            let r = try MeasuredRun.featurize(["extract", "--model", Self.model, "--input", dir + "/big\(n).txt", "--output", output,
                                               "--device", "cpu", "--quiet", "--window", "128", "--pooling", "none", "--layers", "0,1,2,3"])
            let size = ((try? FileManager.default.attributesOfItem(atPath: output))?[.size] as? NSNumber)?.intValue ?? 0
            return (r, size)
        }
        let (small, _) = try run(200)
        let (large, size) = try run(2_000)
        #expect(small.status == 0 && large.status == 0, "\(small.stderr) \(large.stderr)")
        #expect(size > 2_000 * 40 * 144 * 4, "output of \(size) bytes")
        let extra = large.maxRSS - small.maxRSS
        #expect(extra < (MeasuredRun.sanitizerBuild ? size : size / 3),
                "peak RSS \(large.maxRSS >> 20) MiB for 2,000 texts vs \(small.maxRSS >> 20) MiB for 200; output \(size >> 20) MiB")
        print("token-level 2,000 texts: peak RSS \(large.maxRSS >> 20) MiB (200 texts: \(small.maxRSS >> 20) MiB), output \(size >> 20) MiB, \(String(format: "%.1f", large.seconds)) s")
    }

    /// OpenCL (PoCL here) and the CPU together, work stealing over the same batches of windows, pairs and
    /// tokens: the values equal the CPU alone within 1e-4 and the window index is the same.
    @Test("--device opencl:0,cpu: pairs, windows and tokens shared by two devices equal the CPU alone", arguments: modes)
    func twoDevicesEqualOne(_ mode: Mode) throws {
        guard DeviceRegistry.system.openCLDevices.first != nil else {
            print("skipped: no OpenCL device"); return
        }
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.extract(dir, mode, "cpu." + mode.ext).status == 0)
        let both = try Self.run(["extract", "--model", Self.model, "--input", dir + "/in.tsv", "--output", dir + "/both." + mode.ext,
                                 "--device", "opencl:0,cpu", "--window", "6", "--max-batch-tokens", "200", "--stats", dir + "/s.json",
                                 "--quiet"] + mode.flags)
        #expect(both.status == 0, "\(both.stderr)")
        let report = try JSONDecoder().decode(ExtractionReport.self, from: try Self.bytes(dir + "/s.json"))
        #expect(report.scheduler.batchesPerDevice.count == 2, "\(report.scheduler.batchesPerDevice)")
        func values(_ name: String) throws -> [Float] {
            switch mode.ext {
            case "npy": return try NpyReader.readMatrix(path: dir + "/" + name).values
            case "safetensors":
                let file = try TokenFeaturesReader(path: dir + "/" + name)
                return try (0..<file.texts).flatMap { try file.features(ofText: $0) }
            default:
                // jsonl: every number after "features".
                let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
                return text.split(separator: "\n").flatMap { line in
                    line[line.range(of: "\"features\":")!.upperBound...].split(whereSeparator: { "[],}".contains($0) }).compactMap { Float($0) }
                }
            }
        }
        let a = try values("cpu." + mode.ext), b = try values("both." + mode.ext)
        #expect(a.count == b.count && a.count >= 60 * 36)
        #expect((zip(a, b).map { abs($0 - $1) }.max() ?? 1) <= 1e-4)
        if mode.name == "rows" {
            #expect(try Self.bytes(dir + "/cpu.npy.windows.jsonl") == Self.bytes(dir + "/both.npy.windows.jsonl"))
        }
    }

    @Test("A damaged side file is redone on --resume and the output is still byte-identical", arguments: [modes[2], modes[3]])
    func damagedSideFileIsRedone(_ mode: Mode) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Self.extract(dir, mode, "full." + mode.ext).status == 0)
        #expect(try Self.extract(dir, mode, "r." + mode.ext, environment: Self.failFromBatch5).status == 1)
        let side = dir + "/r.\(mode.ext).parts/chunk-00000001.side"
        let bytes = try Self.bytes(side)
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: side))
        let resumed = try Self.run(["extract", "--model", Self.model, "--input", dir + "/in.tsv", "--output", dir + "/r." + mode.ext,
                                    "--device", "cpu", "--window", "6", "--max-batch-tokens", "200", "--resume"] + mode.flags)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("chunk-00000001.side is \(bytes.count - 3) bytes, expected \(bytes.count); resuming from row 6"),
                "\(resumed.stderr)")
        #expect(try Self.bytes(dir + "/full." + mode.ext) == Self.bytes(dir + "/r." + mode.ext))
    }
}
