import Featurize
import Foundation
import Scheduler
import Testing
import Tokenizer

/// The extraction job end to end on a small random BERT fixture: scheduler batching, resume after
/// `kill -9`, fault injection, shards + merge, and the ablation's one-pass features.
@Suite(.serialized) struct ExtractJobTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelPath = root.appendingPathComponent("Tests/EncoderTests/Fixtures/models/bert_gelu").path
    static let texts: [String] = {
        let base = (try? String(contentsOf: root.appendingPathComponent("Tests/EncoderTests/Fixtures/texts.txt"), encoding: .utf8))?
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init) ?? []
        // 1,000 rows: the fixture texts repeated with a row number, so every row differs.
        return (0..<1_000).map { "\($0) " + base[$0 % max(base.count, 1)] }
    }()

    static func tempDir() -> String {
        let d = NSTemporaryDirectory() + "featurize-job-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func writeInput(_ dir: String, _ texts: [String] = texts) throws -> String {
        let path = dir + "/input.txt"
        try (texts.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func extractor() throws -> FeatureExtractor {
        try FeatureExtractor(modelDirectory: Self.modelPath, pooling: PoolingSpec(methods: [.tokens(.mean), .tokens(.max)]))
    }

    @Test func jobEqualsPlainExtraction() throws {
        let dir = Self.tempDir()
        let e = try extractor()
        var options = ExtractionJobOptions(input: try Self.writeInput(dir), output: dir + "/job.npy")
        options.batching = BatchingPolicy(maxBatchTokens: 512, window: 300)
        let report = try ExtractionJob(devices: [e], fallback: nil, options: options).run()
        #expect(report.texts == 1_000)
        #expect(report.paddingEfficiency > 0.8)
        let job = try NpyReader.readMatrix(path: dir + "/job.npy")
        let plain = try e.extract(texts: Self.texts)
        #expect(job.rows == 1_000 && job.columns == e.dimension)
        let worst = zip(job.values, plain.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5, "max abs diff \(worst)")
    }

    @Test func openCLAndCPUTogetherKeepOrderAndValues() throws {
        let dir = Self.tempDir()
        let spec = PoolingSpec(methods: [.tokens(.mean), .tokens(.max)])
        let gpu = try FeatureExtractor(modelDirectory: Self.modelPath, pooling: spec, device: try #require(DeviceRegistry.system.openCLDevices.first))
        let cpu = try extractor()
        var options = ExtractionJobOptions(input: try Self.writeInput(dir, Array(Self.texts.prefix(300))), output: dir + "/two.npy")
        options.batching = BatchingPolicy(maxBatchTokens: 512, window: 300)
        let report = try ExtractionJob(devices: [gpu, cpu], fallback: cpu, options: options).run()
        #expect(report.scheduler.textsPerDevice.values.reduce(0, +) == 300)
        #expect(report.scheduler.batchesPerDevice.count == 2, "both devices took batches: \(report.scheduler.batchesPerDevice)")
        let two = try NpyReader.readMatrix(path: dir + "/two.npy")
        let plain = try cpu.extract(texts: Array(Self.texts.prefix(300)))
        #expect((zip(two.values, plain.values).map { abs($0 - $1) }.max() ?? 1) <= 1e-4)
    }

    @Test func deviceFaultLosesNoRow() throws {
        let dir = Self.tempDir()
        let input = try Self.writeInput(dir)
        var clean = ExtractionJobOptions(input: input, output: dir + "/clean.npy")
        clean.batching = BatchingPolicy(maxBatchTokens: 512, window: 250)
        try ExtractionJob(devices: [try extractor()], fallback: nil, options: clean).run()
        var faulty = clean
        faulty.output = dir + "/faulty.npy"
        let device = try extractor()
        faulty.faultInjection = FaultInjection(device: device.backend.name, atBatch: 3, kind: .fail, repeats: 2)
        let report = try ExtractionJob(devices: [device], fallback: try extractor(), options: faulty).run()
        #expect(report.scheduler.fallbacks == 2)
        #expect(report.scheduler.unhealthyDevices == [device.backend.name])
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/clean.npy")) == Data(contentsOf: URL(fileURLWithPath: dir + "/faulty.npy")))
        var oom = clean
        oom.output = dir + "/oom.npy"
        oom.faultInjection = FaultInjection(device: "*", atBatch: 2, kind: .oom)
        let r2 = try ExtractionJob(devices: [try extractor()], fallback: nil, options: oom).run()
        #expect(r2.scheduler.oomSplits == 1 && r2.texts == 1_000)
        let a = try NpyReader.readMatrix(path: dir + "/clean.npy"), b = try NpyReader.readMatrix(path: dir + "/oom.npy")
        #expect((zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 1) <= 1e-5)
    }

    @Test func emptyInputAndOneText() throws {
        let dir = Self.tempDir()
        for (name, texts) in [("empty", [String]()), ("one", ["just one text"])] {
            let path = dir + "/\(name).txt"
            try (texts.isEmpty ? "" : texts.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            let e = try extractor()
            let report = try ExtractionJob(devices: [e], fallback: nil,
                                           options: ExtractionJobOptions(input: path, output: dir + "/\(name).npy")).run()
            let m = try NpyReader.readMatrix(path: dir + "/\(name).npy")
            #expect(report.texts == texts.count && m.rows == texts.count && m.columns == e.dimension)
        }
    }

    /// Issue #7, "a 10 MB line": one line of ~10 MB between normal lines goes through the real CLI path
    /// (reader, tokenizer, scheduler, chunked writer). It is capped at 250 × max length characters before
    /// tokenizing, counted as truncated, and its row equals the features of the truncated text; the other
    /// rows equal extracting each text alone. Time and peak memory (the child's own `ru_maxrss`) stay bounded.
    @Test func tenMegabyteLineIsTruncatedEndToEnd() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try String(contentsOf: Self.root.appendingPathComponent("Tests/EncoderTests/Fixtures/texts.txt"), encoding: .utf8)
        let piece = fixture.split(separator: "\n").joined(separator: " ") + " "
        let long = String(repeating: piece, count: 10 * 1024 * 1024 / piece.utf8.count + 1)
        #expect(long.utf8.count >= 10 * 1024 * 1024 && !long.contains("\n") && !long.contains("\r"))
        let normal = ["hello world", "The quick brown fox jumps over the lazy dog.", "a third, ordinary line"]
        let texts = [normal[0], long, normal[1], normal[2]]

        let pooling = "mean,max"
        let e = try FeatureExtractor(modelDirectory: Self.modelPath, pooling: try PoolingSpec.parse(pooling: pooling))
        let cap = TextTokenizer.charCapFactor * e.maxLength
        let encodings = e.tokenize(texts)
        #expect(encodings[1].wasCharCapped && encodings[1].wasTruncated && encodings[1].count == e.maxLength)
        #expect(encodings.enumerated().allSatisfy { $0.offset == 1 || !$0.element.wasTruncated }, "the normal lines fit")

        func extract(_ lines: [String], _ name: String) throws -> (run: MeasuredRun, report: ExtractionReport?) {
            let input = try Self.writeInput(dir, lines)
            let run = try MeasuredRun.featurize(["extract", "--model", Self.modelPath, "--input", input,
                                                 "--output", dir + "/\(name).npy", "--pooling", pooling,
                                                 "--stats", dir + "/\(name).json"])
            let report = FileManager.default.contents(atPath: dir + "/\(name).json")
                .flatMap { try? JSONDecoder().decode(ExtractionReport.self, from: $0) }
            return (run, report)
        }
        let baseline = try extract(normal, "normal")
        #expect(baseline.run.status == 0, "\(baseline.run.stderr)")
        let (run, report) = try extract(texts, "long")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("4 texts") && run.stderr.contains("1 truncated"), "summary: \(run.stderr)")
        #expect(report?.texts == 4 && report?.inputRows == 4 && report?.truncated == 1, "\(String(describing: report))")

        let out = try NpyReader.readMatrix(path: dir + "/long.npy")
        #expect(out.rows == 4 && out.columns == e.dimension)
        guard out.rows == 4 else { return }
        func worst(_ a: [Float], _ b: [Float]) -> Float {
            a.count == b.count ? zip(a, b).map { abs($0 - $1) }.max() ?? 0 : .infinity
        }
        // Normal rows: each text extracted alone (in its own batch, no padding).
        for (row, text) in [(0, normal[0]), (2, normal[1]), (3, normal[2])] {
            let alone = try e.extract(texts: [text]).values
            #expect(worst(out.row(row), alone) <= 1e-5, "row \(row)")
        }
        // The long row: the text cut at the character cap, and a much shorter prefix (cut at a space) that
        // still holds more than max length tokens, give the same features: only the first tokens count.
        let capped = String(String.UnicodeScalarView(long.unicodeScalars.prefix(cap)))
        let short = String(long.prefix(2_000)[..<long.prefix(2_000).lastIndex(of: " ")!])
        #expect(e.tokenize([short])[0].wasTruncated && !e.tokenize([short])[0].wasCharCapped)
        for (name, text) in [("capped", capped), ("short prefix", short)] {
            let expected = try e.extract(texts: [text]).values
            #expect(worst(out.row(1), expected) <= 1e-5, "long row vs \(name)")
        }
        #expect(worst(out.row(1), out.row(0)) > 1e-3, "the long row is not a copy of another row")

        // Bounded: a few copies of the line in memory (read buffer, line, String; +32 MiB measured), not
        // per-character structures; seconds, not minutes, in a debug build. Under a sanitizer (the child is built
        // the same way) shadow memory and ASan's quarantine of freed blocks add up to ~200 MiB and runs are slower.
        let sanitized = MeasuredRun.sanitizerBuild
        let extra = run.maxRSS - baseline.run.maxRSS
        #expect(extra < (sanitized ? 512 : 128) << 20,
                "peak RSS \(run.maxRSS >> 20) MiB vs \(baseline.run.maxRSS >> 20) MiB without the long line")
        #expect(run.seconds < (sanitized ? 300 : 60), "took \(run.seconds) s")
        print("10 MB line: \(String(format: "%.2f", run.seconds)) s (without it \(String(format: "%.2f", baseline.run.seconds)) s), peak RSS \(run.maxRSS >> 20) MiB (without it \(baseline.run.maxRSS >> 20) MiB)")
    }

    @Test func resumeAfterKillIsByteIdentical() throws {
        let dir = Self.tempDir()
        // 3,000 rows in chunks of 200, killed once two chunks are on disk.
        let input = try Self.writeInput(dir, (0..<3).flatMap { k in Self.texts.map { "\(k) \($0)" } })
        let common = ["extract", "--model", Self.modelPath, "--input", input, "--pooling", "mean", "--window", "200",
                      "--max-batch-tokens", "1024", "--quiet"]
        let full = try ClassifierCLITests.run(common + ["--output", dir + "/full.npy"])
        #expect(full.status == 0, "\(full.stderr)")

        let process = Process()
        process.executableURL = ClassifierCLITests.executable
        process.arguments = common + ["--output", dir + "/resumed.npy"]
        try process.run()
        let manifest = dir + "/resumed.npy.parts/manifest.json"
        let deadline = Date().addingTimeInterval(120)
        var chunksAtKill = 0
        while Date() < deadline {
            if let d = FileManager.default.contents(atPath: manifest),
               let m = try? JSONDecoder().decode(OutputManifest.self, from: d) {
                chunksAtKill = m.chunks.count
                if chunksAtKill >= 2 { break }
            }
            // A child that ended early (crash, error, or already done) is a failure to see now, not at the deadline.
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(process.isRunning, "the job ended (status \(process.terminationStatus)) before two chunks were on disk")
        #expect(chunksAtKill >= 2, "killed with \(chunksAtKill) chunks on disk")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!FileManager.default.fileExists(atPath: dir + "/resumed.npy"), "killed job left a complete-looking output")
        let resumed = try ClassifierCLITests.run(common + ["--output", dir + "/resumed.npy", "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/full.npy")) == Data(contentsOf: URL(fileURLWithPath: dir + "/resumed.npy")))
    }

    @Test func threeShardProcessesMergeToTheSingleRun() throws {
        let dir = Self.tempDir()
        let input = try Self.writeInput(dir)
        let common = ["extract", "--model", Self.modelPath, "--input", input, "--quiet"]
        #expect(try ClassifierCLITests.run(common + ["--output", dir + "/single.npy"]).status == 0)
        let shards = try (0..<3).map { i -> Process in
            let p = Process()
            p.executableURL = ClassifierCLITests.executable
            p.arguments = common + ["--output", dir + "/part\(i).npy", "--shard", "\(i)/3"]
            try p.run()
            return p
        }
        for p in shards { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        let merged = try ClassifierCLITests.run(["merge", "--output", dir + "/merged.npy", dir + "/part2.npy", dir + "/part0.npy", dir + "/part1.npy"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let a = try NpyReader.readMatrix(path: dir + "/single.npy"), b = try NpyReader.readMatrix(path: dir + "/merged.npy")
        #expect(a.rows == 1_000 && b.rows == 1_000)
        #expect((zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 1) <= 1e-5)
        let missing = try ClassifierCLITests.run(["merge", "--output", dir + "/m2.npy", dir + "/part0.npy", dir + "/part1.npy"])
        #expect(missing.status != 0 && missing.stderr.contains("missing shard"))
    }

    @Test func ablationFeaturesEqualSeparateExtraction() throws {
        let e = try extractor()
        let combos = try AblationCombination.grid(pooling: "cls,mean,max", layers: "0,-1", combos: ["concat:-2..-1", "mean:0,1"],
                                                  numLayers: e.model.config.numLayers)
        #expect(combos.count == 12)
        let texts = Array(Self.texts.prefix(120))
        let all = try AblationFeatures.extract(texts: texts, extractor: e, combinations: combos)
        for (combo, matrix) in zip(combos, all) {
            let alone = try FeatureExtractor(modelDirectory: Self.modelPath, pooling: combo.spec).extract(texts: texts)
            #expect(matrix.columns == alone.columns)
            let worst = zip(matrix.values, alone.values).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-6, "\(combo.name): \(worst)")
        }
    }
}
