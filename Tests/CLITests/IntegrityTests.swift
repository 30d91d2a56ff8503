import FeatureIO
import Foundation
import Scheduler
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16 ("nothing lost, nothing mixed"): one test per numbered reproducer, each running the built
/// `featurize` binary as a child process on the small random BERT fixture. `FEATURIZE_TEST_BINARY` runs the
/// same tests against another build (e.g. one from before the fixes, to see them fail).
@Suite(.serialized) struct IntegrityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = root.appendingPathComponent("Tests/EncoderTests/Fixtures/models/bert_gelu").path
    static let texts = root.appendingPathComponent("Tests/EncoderTests/Fixtures/texts.txt").path

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["FEATURIZE_TEST_BINARY"], !path.isEmpty { return path }
        return ClassifierCLITests.executable.path
    }

    struct Run { var status: Int32; var signalled: Bool; var out: String; var err: String }

    /// Runs the binary. `stdout`/`stderr`: a path to send that stream to (e.g. /dev/full) instead of a pipe.
    static func run(_ arguments: [String], stdin: String? = nil, stdinBytes: Data? = nil, stdout: String? = nil, stderr: String? = nil,
                    environment: [String: String] = [:]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        p.environment = env.merging(environment) { $1 }
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        if let stdout { p.standardOutput = FileHandle(forWritingAtPath: stdout) } else { p.standardOutput = outPipe }
        if let stderr { p.standardError = FileHandle(forWritingAtPath: stderr) } else { p.standardError = errPipe }
        p.standardInput = inPipe
        try p.run()
        let feeder = Thread {
            if let bytes = stdinBytes ?? stdin.map({ Data($0.utf8) }) { inPipe.fileHandleForWriting.write(bytes) }
            try? inPipe.fileHandleForWriting.close()
        }
        feeder.start()
        let out = stdout == nil ? outPipe.fileHandleForReading.readDataToEndOfFile() : Data()
        let err = stderr == nil ? errPipe.fileHandleForReading.readDataToEndOfFile() : Data()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal,
                   out: String(decoding: out, as: UTF8.self), err: String(decoding: err, as: UTF8.self))
    }

    static func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "featurize-integrity-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ text: String, to path: String) throws { try text.write(toFile: path, atomically: false, encoding: .utf8) }

    static func lines(_ count: Int, _ prefix: String) -> String {
        (0..<count).map { "\(prefix) text number \($0) about the weather" }.joined(separator: "\n") + "\n"
    }

    /// A copy of the fixture model in `dir/name`.
    static func copyModel(to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: model, toPath: path)
    }

    /// Sets element 0 of float32 tensor `name` in `dir/model.safetensors` to `value`.
    static func setWeight(in dir: String, tensor name: String, to value: Float) throws {
        let path = dir + "/model.safetensors"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let n = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        let entry = header[name] as! [String: Any]
        let start = 8 + n + ((entry["data_offsets"] as! [Int])[0])
        withUnsafeBytes(of: value.bitPattern.littleEndian) { for i in 0..<4 { bytes[start + i] = $0[i] } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// An interrupted job: `input` holds invalid UTF-8 at line `badLine`, so the job fails there after writing
    /// the chunks before it (window 100: chunks of 100 rows).
    static func interruptedInput(rows: Int, badLine: Int, prefix: String) -> Data {
        var data = Data()
        for i in 0..<rows {
            if i == badLine - 1 { data.append(contentsOf: [0xFF, 0xFE, 0x0A]); continue }
            data.append(contentsOf: Array("\(prefix) text number \(i) about the weather\n".utf8))
        }
        return data
    }

    // MARK: 8. No traps on write errors

    @Test func item8WriteErrorsAreErrorsNotTraps() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tokenize = try Self.run(["tokenize", "--model", Self.model, "--input", Self.texts], stdout: "/dev/full")
        #expect(!tokenize.signalled && tokenize.status == 1, "status \(tokenize.status), signalled \(tokenize.signalled): \(tokenize.err)")
        #expect(tokenize.err.contains("standard output") && tokenize.err.contains("No space left on device"), "\(tokenize.err)")
        // Diagnostics on a full standard error are dropped; the job itself succeeds.
        let extract = try Self.run(["extract", "--model", Self.model, "--input", Self.texts, "--output", dir + "/o.npy"], stderr: "/dev/full")
        #expect(!extract.signalled && extract.status == 0, "status \(extract.status)")
        #expect(try NpyReader.readMatrix(path: dir + "/o.npy").rows == 40)
        // train's non-convergence warning on a full stderr.
        let (features, labels) = try ClassifierCLITests.makeData(in: dir, rows: 60)
        let train = try Self.run(["train", "--features", features, "--labels", labels, "--output", dir + "/m.json", "--max-iter", "1"],
                                 stderr: "/dev/full")
        #expect(!train.signalled && train.status == 0, "status \(train.status)")
    }

    // MARK: 5. Every stdout write checked

    @Test func item5FailedStdoutWritesExitNonZero() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (features, labels) = try ClassifierCLITests.makeData(in: dir, rows: 300)
        let model = dir + "/model.json"
        #expect(try Self.run(["train", "--features", features, "--labels", labels, "--output", model]).status == 0)
        let cases: [(String, [String])] = [
            ("predict", ["predict", "--model", model, "--features", features]),
            ("evaluate", ["evaluate", "--model", model, "--features", features, "--labels", labels]),
            ("train", ["train", "--features", features, "--labels", labels, "--output", dir + "/model2.json"]),
            ("devices", ["devices"]),
        ]
        for (name, arguments) in cases {
            let r = try Self.run(arguments, stdout: "/dev/full")
            #expect(!r.signalled && r.status == 1 && r.err.contains("standard output") && r.err.contains("No space left"),
                    "\(name): status \(r.status): \(r.err)")
        }
    }

    // MARK: 9. Numbers range-checked before they size anything

    @Test func item9HugeNumbersAreUsageErrors() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["extract", "--model", Self.model, "--input", Self.texts, "--output", dir + "/o.npy", "--quiet"]
        for layers in ["--layers=0..99999999999", "--layers=-9223372036854775808..9223372036854775807", "--layers=99999999999999999999"] {
            let r = try Self.run(base + [layers])
            #expect(r.status == 64 && r.err.contains("out of range"), "\(layers): \(r.status) \(r.err)")
        }
        let window = try Self.run(base + ["--window", "1000000000000"])
        #expect(window.status == 64 && window.err.contains("--window"), "\(window.err)")
        // num_hidden_layers: 1e12 in config.json
        let big = dir + "/big"
        try Self.copyModel(to: big)
        var config = try String(contentsOfFile: big + "/config.json", encoding: .utf8)
        config = config.replacingOccurrences(of: "\"num_hidden_layers\": 3", with: "\"num_hidden_layers\": 1000000000000")
        try Self.write(config, to: big + "/config.json")
        let r = try Self.run(["extract", "--model", big, "--input", Self.texts, "--output", dir + "/b.npy", "--quiet"])
        #expect(!r.signalled && r.status != 0 && r.err.contains("num_hidden_layers") && r.err.contains("out of range"), "\(r.err)")
        // ablate --layers / --combos
        let csv = dir + "/d.csv"
        try Self.write("text,label\n" + (0..<8).map { "t \($0),\($0 % 2 == 0 ? "a" : "b")" }.joined(separator: "\n") + "\n", to: csv)
        for extra in [["--layers", "0..99999999999"], ["--combos", "concat:0..99999999999"]] {
            let a = try Self.run(["ablate", "--model", Self.model, "--train", csv, "--pooling", "mean", "--report", dir + "/rep", "--quiet"] + extra)
            #expect(a.status == 64 && a.err.contains("out of range"), "\(extra): \(a.status) \(a.err)")
        }
    }

    @Test func item9ShardRecordWithHugeCountIsRefusedQuickly() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NpyArrayFile.write(try FeatureMatrix(values: [1, 2], rows: 1, columns: 2), to: dir + "/p0.npy")
        // Row counts that disagree with the shard spec: an error naming the record.
        let record = #"{"shard": {"index": 0, "count": 2}, "inputRows": 9223372036854775807, "rows": 1, "fingerprint": "f", "dtype": "float32"}"#
        try Self.write(record, to: dir + "/p0.npy.shard.json")
        let start = Date()
        let r = try Self.run(["merge", "--output", dir + "/m.npy", dir + "/p0.npy"])
        #expect(r.status != 0 && r.err.contains("p0.npy.shard.json") && r.err.contains("do not match"), "\(r.err)")
        #expect(Date().timeIntervalSince(start) < 20)
        // A consistent record with N = Int.max: the count given (1) is not N; no loop over N.
        try Self.write(#"{"shard": {"index": 0, "count": 9223372036854775807}, "inputRows": 1, "rows": 1, "fingerprint": "f", "dtype": "float32"}"#,
                       to: dir + "/p0.npy.shard.json")
        let r2 = try Self.run(["merge", "--output", dir + "/m.npy", dir + "/p0.npy"])
        #expect(r2.status != 0 && r2.err.contains("missing shard(s) 1/9223372036854775807"), "\(r2.err)")
    }

    // MARK: 10. A line-length limit

    @Test func item10EndlessLineIsAnErrorNamingTheLine() throws {
        let r = try Self.run(["tokenize", "--model", Self.model, "--input", "/dev/zero"])
        #expect(!r.signalled && r.status == 1 && r.err.contains("/dev/zero:1: line longer than 67108864 bytes"), "\(r.status) \(r.err)")
    }

    // MARK: 7. Output paths checked before any work

    @Test func item7StatsPathCheckedBeforeWork() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let same = try Self.run(["extract", "--model", Self.model, "--input", Self.texts, "--output", dir + "/o.npy", "--stats", dir + "/o.npy", "--quiet"])
        #expect(same.status == 64 && same.err.contains("--stats and --output name the same file"), "\(same.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.npy"))
        let viaDot = try Self.run(["extract", "--model", Self.model, "--input", Self.texts, "--output", dir + "/o.npy", "--stats", dir + "/./o.npy", "--quiet"])
        #expect(viaDot.status == 64, "\(viaDot.err)")
        let missing = try Self.run(["extract", "--model", Self.model, "--input", Self.texts, "--output", dir + "/o.npy",
                                    "--stats", dir + "/nope/s.json", "--quiet"], environment: ["FEATURIZE_INJECT_FAULT": "*@1:fail"])
        #expect(missing.status == 1 && missing.err.contains("nope/s.json") && missing.err.contains("does not exist"), "\(missing.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.npy.parts"), "work started before the --stats path was checked")
    }

    // MARK: 6. One output policy

    @Test func item6OutputPolicy() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/ids.jsonl"
        try Self.write("precious\n", to: out)
        let refused = try Self.run(["tokenize", "--model", Self.model, "--input", Self.texts, "--output", out])
        #expect(refused.status == 1 && refused.err.contains("--overwrite"), "\(refused.err)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "precious\n")
        // Its own input.
        let input = dir + "/in.txt"
        try Self.write("hello world\n", to: input)
        let own = try Self.run(["tokenize", "--model", Self.model, "--input", input, "--output", input, "--overwrite"])
        #expect(own.status != 0 && own.err.contains("also an input"), "\(own.err)")
        #expect(try String(contentsOfFile: input, encoding: .utf8) == "hello world\n")
        // A symlink: with --overwrite its target is replaced, the link stays a link.
        let target = dir + "/target.jsonl", link = dir + "/link.jsonl"
        try Self.write("old\n", to: target)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let viaLink = try Self.run(["tokenize", "--model", Self.model, "--input", input, "--output", link, "--overwrite"])
        #expect(viaLink.status == 0, "\(viaLink.err)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target)
        #expect(try String(contentsOfFile: target, encoding: .utf8).hasPrefix("{\"input_ids\": [101, "))
        // A FIFO is written through, not replaced.
        let fifo = dir + "/fifo"
        #expect(mkfifo(fifo, 0o644) == 0)
        final class Received: @unchecked Sendable { var data = Data() }
        let received = Received()
        let reader = Thread { received.data = FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile() ?? Data() }
        reader.start()
        let toFifo = try Self.run(["tokenize", "--model", Self.model, "--input", input, "--output", fifo])
        // (A build that replaces the FIFO never opens it: the reader stays blocked; give up after 10 s.)
        let deadline = Date().addingTimeInterval(10)
        while !reader.isFinished && Date() < deadline { usleep(10_000) }
        #expect(toFifo.status == 0, "\(toFifo.err)")
        #expect(String(decoding: received.data, as: UTF8.self).hasPrefix("{\"input_ids\": [101, "))
        var info = stat()
        #expect(lstat(fifo, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO)
        // extract renames a finished file into place: a FIFO output is refused, not replaced.
        let fifoNpy = dir + "/fifo.npy"
        #expect(mkfifo(fifoNpy, 0o644) == 0)
        let extract = try Self.run(["extract", "--model", Self.model, "--input", input, "--output", fifoNpy, "--quiet"])
        #expect(extract.status == 64 && extract.err.contains("not a regular file"), "\(extract.err)")
        #expect(lstat(fifoNpy, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO)
        // train refuses an existing output too.
        let (features, labels) = try ClassifierCLITests.makeData(in: dir, rows: 30)
        try Self.write("precious\n", to: dir + "/m.json")
        let train = try Self.run(["train", "--features", features, "--labels", labels, "--output", dir + "/m.json"])
        #expect(train.status == 1 && train.err.contains("--overwrite"), "\(train.err)")
        #expect(try String(contentsOfFile: dir + "/m.json", encoding: .utf8) == "precious\n")
    }

    // MARK: 12. Misleading messages

    @Test func item12DuplicateLayersAndBusyPartsDirectory() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["extract", "--model", Self.model, "--input", Self.texts, "--output", dir + "/o.npy", "--quiet"]
        let dup = try Self.run(base + ["--layers", "-1,3"])
        #expect(dup.status == 64 && dup.err.contains("requested twice"), "\(dup.err)")
        let mixed = try Self.run(base + ["--layers", "0..-1"])
        #expect(mixed.status == 64 && mixed.err.contains("layer range '0..-1' mixes"), "\(mixed.err)")
        let twice = try Self.run(base + ["--pooling", "mean,cls,mean"])
        #expect(twice.status == 64 && twice.err.contains("pooling 'mean' is given twice"), "\(twice.err)")
        // Another job holds the parts directory (this test process, standing in for it).
        try FileManager.default.createDirectory(atPath: dir + "/o.npy.parts", withIntermediateDirectories: false)
        let fd = open(dir + "/o.npy.parts", O_RDONLY | O_DIRECTORY | O_CLOEXEC)  // CLOEXEC: a child another test spawns meanwhile must not inherit the lock
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        let busy = try Self.run(base)
        close(fd)
        #expect(busy.status == 1 && busy.err.contains("another featurize job (process \(getpid()))"), "\(busy.err)")
        let free = try Self.run(base)
        #expect(free.status == 0, "\(free.err)")
    }

    @Test func item12MessagesSayWhatIsWrong() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["extract", "--input", Self.texts, "--output", dir + "/o.npy", "--quiet"]
        // A tokenizer with ids beyond the model's vocabulary: a model error at load, not "no healthy device".
        let small = dir + "/small"
        try Self.copyModel(to: small)
        var config = try String(contentsOfFile: small + "/config.json", encoding: .utf8)
        config = config.replacingOccurrences(of: "\"vocab_size\": 3963", with: "\"vocab_size\": 1000")
        try Self.write(config, to: small + "/config.json")
        let vocab = try Self.run(base + ["--model", small])
        #expect(vocab.status != 0 && vocab.err.contains("vocab_size is 1000") && !vocab.err.contains("device"), "\(vocab.err)")
        // hidden_size: null is not the default 768.
        let null = dir + "/null"
        try Self.copyModel(to: null)
        config = try String(contentsOfFile: null + "/config.json", encoding: .utf8)
        try Self.write(config.replacingOccurrences(of: "\"hidden_size\": 36", with: "\"hidden_size\": null"), to: null + "/config.json")
        let nullRun = try Self.run(base + ["--model", null])
        #expect(nullRun.status != 0 && nullRun.err.contains("\"hidden_size\": is null") && !nullRun.err.contains("768"), "\(nullRun.err)")
        // A missing model path.
        let missing = try Self.run(base + ["--model", dir + "/no-such-model"])
        #expect(missing.status != 0 && missing.err.contains("no-such-model: no such model directory"), "\(missing.err)")
        // The .dat hint names only options that exist.
        try Self.write("a\n", to: dir + "/in.dat")
        let dat = try Self.run(["extract", "--model", Self.model, "--input", dir + "/in.dat", "--output", dir + "/d.npy"])
        #expect(dat.status != 0 && dat.err.contains("--input -") && !dat.err.contains("name the format"), "\(dat.err)")
        // A layer out of range names the subcommand's help, not the top-level usage.
        let layer = try Self.run(base + ["--model", Self.model, "--layers", "9"])
        #expect(layer.status == 64 && layer.err.contains("featurize extract --help") && !layer.err.contains("featurize <subcommand>"), "\(layer.err)")
        // ablate: a test label never seen in training names the test file and the record's line (a quoted
        // text spanning two lines before it).
        try Self.write("text,label\n" + (0..<8).map { "t \($0),\($0 % 2 == 0 ? "a" : "b")" }.joined(separator: "\n") + "\n", to: dir + "/train.csv")
        try Self.write("text,label\n\"two\nlines\",a\nfine,b\nodd,c\n", to: dir + "/test.csv")
        let ablate = try Self.run(["ablate", "--model", Self.model, "--train", dir + "/train.csv", "--test", dir + "/test.csv",
                                   "--pooling", "mean", "--report", dir + "/rep", "--quiet"])
        #expect(ablate.status == 64 && ablate.err.contains("test.csv:5: label 'c'") && ablate.err.contains("train.csv"), "\(ablate.err)")
    }

    // MARK: 11. Non-finite rows

    @Test func item11NonFiniteRowsAreCountedAndStrictFails() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let nanModel = dir + "/nan"
        try Self.copyModel(to: nanModel)
        try Self.setWeight(in: nanModel, tensor: "encoder.layer.2.output.LayerNorm.bias", to: .nan)
        let warned = try Self.run(["extract", "--model", nanModel, "--input", Self.texts, "--output", dir + "/n.npy"])
        #expect(warned.status == 0 && warned.err.contains("40 row(s) hold NaN or infinite values (rows 0, 1, 2, "), "\(warned.err)")
        let strict = try Self.run(["extract", "--model", nanModel, "--input", Self.texts, "--output", dir + "/s.npy", "--strict"])
        #expect(strict.status == 1 && strict.err.contains("NaN") && strict.err.contains("--strict"), "\(strict.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/s.npy"))
        // A NaN query weight: the attention's exp must propagate NaN (the AVX2 clamp turned it into finite rows),
        // on the CPU and on OpenCL (PoCL here; skipped with a note where no OpenCL device exists).
        let queryModel = dir + "/query"
        try Self.copyModel(to: queryModel)
        try Self.setWeight(in: queryModel, tensor: "encoder.layer.0.attention.self.query.weight", to: .nan)
        var devices = ["cpu"]
        if try Self.run(["devices"]).out.contains("opencl:0 ") { devices.append("opencl:0") } else { print("IntegrityTests: no OpenCL device; NaN propagation checked on the CPU only") }
        for device in devices {
            let q = try Self.run(["extract", "--model", queryModel, "--input", Self.texts, "--output", dir + "/q-\(device).npy", "--device", device])
            #expect(q.status == 0 && q.err.contains("40 row(s) hold NaN or infinite values"), "\(device): \(q.err)")
        }
        // float16 overflow: finite in float32, infinite in the file.
        let bigModel = dir + "/big"
        try Self.copyModel(to: bigModel)
        try Self.setWeight(in: bigModel, tensor: "encoder.layer.2.output.LayerNorm.bias", to: 1e6)
        let f32 = try Self.run(["extract", "--model", bigModel, "--input", Self.texts, "--output", dir + "/b32.npy"])
        #expect(f32.status == 0 && !f32.err.contains("NaN or infinite"), "\(f32.err)")
        let f16 = try Self.run(["extract", "--model", bigModel, "--input", Self.texts, "--output", dir + "/b16.npy", "--dtype", "f16"])
        #expect(f16.status == 0 && f16.err.contains("40 row(s) hold NaN or infinite values"), "\(f16.err)")
    }

    // MARK: 1-4. Content fingerprints

    @Test func item1ResumeFromStdinWithOtherInputIsRefused() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/sr.npy"
        let a = Self.interruptedInput(rows: 600, badLine: 450, prefix: "a")
        let common = ["extract", "--model", Self.model, "--input", "-", "--output", out, "--window", "100", "--quiet"]
        let first = try Self.run(common, stdinBytes: a)
        #expect(first.status == 1 && first.err.contains("450: invalid UTF-8"), "\(first.err)")
        #expect(FileManager.default.fileExists(atPath: out + ".parts/manifest.json"))
        let other = try Self.run(common + ["--resume"], stdin: Self.lines(600, "b"))
        #expect(other.status == 1 && other.err.contains("the input differs"), "\(other.err)")
        let short = try Self.run(common + ["--resume"], stdin: Self.lines(2, "a"))
        #expect(short.status == 1 && short.err.contains("fewer rows"), "\(short.err)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // The original input (line 450 repaired) resumes and equals an uninterrupted run.
        let fixed = Self.lines(600, "a")
        let resumed = try Self.run(common + ["--resume"], stdin: fixed)
        #expect(resumed.status == 0, "\(resumed.err)")
        let clean = try Self.run(["extract", "--model", Self.model, "--input", "-", "--output", dir + "/clean.npy", "--window", "100", "--quiet"], stdin: fixed)
        #expect(clean.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: dir + "/clean.npy")))
    }

    @Test func item2ResumeWithReplacedWeightsIsRefused() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = dir + "/m", input = dir + "/in.txt", out = dir + "/o.npy"
        try Self.copyModel(to: model)
        try Self.interruptedInput(rows: 600, badLine: 450, prefix: "a").write(to: URL(fileURLWithPath: input))
        let common = ["extract", "--input", input, "--output", out, "--window", "100", "--quiet"]
        #expect(try Self.run(common + ["--model", model]).status == 1)
        try Self.write(Self.lines(600, "a"), to: input)
        try Self.setWeight(in: model, tensor: "embeddings.word_embeddings.weight", to: 0.5)
        let swapped = try Self.run(common + ["--model", model, "--resume"])
        #expect(swapped.status == 1 && swapped.err.contains("the model differs"), "\(swapped.err)")
        // The same files under the same path spelled with a trailing slash are the same model.
        try FileManager.default.removeItem(atPath: model)
        try Self.copyModel(to: model)
        let slash = try Self.run(common + ["--model", model + "/", "--resume"])
        #expect(slash.status == 0, "\(slash.err)")
    }

    @Test func item3MergeRefusesShardsOfOtherInputsOrModels() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/x", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/y", withIntermediateDirectories: true)
        // Same name and size, different content.
        try Self.write(Self.lines(50, "a"), to: dir + "/x/l50.txt")
        try Self.write(Self.lines(50, "b"), to: dir + "/y/l50.txt")
        func shard(_ input: String, _ model: String, _ i: Int, _ name: String) throws {
            let r = try Self.run(["extract", "--model", model, "--input", input, "--output", dir + "/" + name, "--shard", "\(i)/2", "--window", "10", "--quiet"])
            #expect(r.status == 0, "\(r.err)")
        }
        try shard(dir + "/x/l50.txt", Self.model, 0, "x0.npy")
        // With chunks flushed (window 10), the record counts each row once (it counted flushed chunks twice).
        #expect(try ShardRecord.read(for: dir + "/x0.npy").rows == 25)
        try shard(dir + "/y/l50.txt", Self.model, 1, "y1.npy")
        let inputs = try Self.run(["merge", "--output", dir + "/m.npy", dir + "/x0.npy", dir + "/y1.npy"])
        #expect(inputs.status == 1 && inputs.err.contains("input content") && !inputs.err.contains("model"), "\(inputs.err)")
        // Two different model directories both named bert_a.
        try Self.copyModel(to: dir + "/one/bert_a")
        try Self.copyModel(to: dir + "/two/bert_a")
        try Self.setWeight(in: dir + "/two/bert_a", tensor: "embeddings.word_embeddings.weight", to: 0.5)
        try shard(dir + "/x/l50.txt", dir + "/one/bert_a", 0, "a0.npy")
        try shard(dir + "/x/l50.txt", dir + "/two/bert_a", 1, "b1.npy")
        let models = try Self.run(["merge", "--output", dir + "/m.npy", dir + "/a0.npy", dir + "/b1.npy"])
        #expect(models.status == 1 && models.err.contains("model") && !models.err.contains("input content"), "\(models.err)")
        // The matching pair merges.
        try shard(dir + "/x/l50.txt", dir + "/one/bert_a", 1, "a1.npy")
        let ok = try Self.run(["merge", "--output", dir + "/m.npy", dir + "/a0.npy", dir + "/a1.npy"])
        #expect(ok.status == 0, "\(ok.err)")
    }

    @Test func item4ResumeOnAFinishedOutputNeedsOverwrite() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/o.npy"
        try Self.write(Self.lines(30, "a"), to: dir + "/a.txt")
        try Self.write(Self.lines(30, "b"), to: dir + "/b.txt")
        #expect(try Self.run(["extract", "--model", Self.model, "--input", dir + "/a.txt", "--output", out, "--quiet"]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: out))
        let r = try Self.run(["extract", "--model", Self.model, "--input", dir + "/b.txt", "--output", out, "--resume", "--quiet"])
        #expect(r.status == 1 && r.err.contains("--overwrite"), "\(r.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == before)
    }
}
