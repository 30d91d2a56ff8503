import Foundation
import Testing
import FeatureIO
@testable import Scheduler

/// Deterministic fake feature of row `i` with `len` tokens.
func fakeRow(_ i: Int, _ len: Int) -> [Float] { [Float(i), Float(i) * 0.5 + 1, Float(len)] }

/// A fake device: computes `fakeRow` for each text, optionally sleeping per batch.
func fakeDevice(_ name: String, delay: Double = 0, log: UncheckedBox<[Int]>? = nil) -> ExecutionDevice<Int> {
    ExecutionDevice(name: name) { batch in
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        log?.value.append(batch.count)
        return zip(batch.payloads, batch.tokenLengths).map { fakeRow($0, $1) }
    }
}

/// Token length of row i in the synthetic inputs: varied, deterministic.
func length(of i: Int) -> Int { 2 + (i * 37 + 11) % 61 }

func runJob(rows: Int, devices: [ExecutionDevice<Int>], fallback: ExecutionDevice<Int>? = nil,
            policy: BatchingPolicy = BatchingPolicy(maxBatchTokens: 256, maxBatchSize: 16, window: 50),
            start: Int = 0) throws -> ([[Float]], [Int], SchedulerStats) {
    let scheduler = try BatchScheduler<Int, Int>(devices: devices, fallback: fallback, policy: policy)
    var out: [[Float]] = [], order: [Int] = []
    let stats = try scheduler.run(items: start..<rows, startIndex: start,
                                  prepare: { window in window.map { ($0, length(of: $0)) } },
                                  sink: { i, row in order.append(i); out.append(row) })
    return (out, order, stats)
}

@Suite struct LengthBucketingTests {
    @Test func batchesRespectBudgetAndCoverEveryRowOnce() throws {
        let lengths = (0..<500).map(length(of:))
        let policy = BatchingPolicy(maxBatchTokens: 300, maxBatchSize: 12, window: 500)
        let batches = try LengthBucketing.plan(startIndex: 1000, lengths: lengths, payloads: Array(0..<500), policy: policy)
        var seen = [Int]()
        for b in batches {
            #expect(b.paddedTokens <= 300)
            #expect(b.count <= 12)
            #expect(b.tokenLengths == b.tokenLengths.sorted())
            seen += b.indices
        }
        #expect(seen.sorted() == Array(1000..<1500))
        // Sorting by length pads far less than input order.
        let unsorted = try LengthBucketing.plan(startIndex: 0, lengths: lengths, payloads: Array(0..<500),
                                                policy: BatchingPolicy(maxBatchTokens: 300, maxBatchSize: 12, window: 500, sortByLength: false))
        let eff = { (bs: [WorkBatch<Int>]) in Double(bs.map(\.realTokens).reduce(0, +)) / Double(bs.map(\.paddedTokens).reduce(0, +)) }
        #expect(eff(batches) > 0.9)
        #expect(eff(batches) > eff(unsorted) + 0.2)
    }

    @Test func textLongerThanBudgetIsAClearError() {
        #expect(throws: SchedulerError.textOverBudget(index: 7, tokens: 90, budget: 64)) {
            try LengthBucketing.plan(startIndex: 5, lengths: [3, 4, 90], payloads: [0, 1, 2],
                                     policy: BatchingPolicy(maxBatchTokens: 64))
        }
    }
}

@Suite struct BatchSchedulerTests {
    let expected = (0..<437).map { fakeRow($0, length(of: $0)) }

    @Test func oneDeviceDeliversEveryRowInOrder() throws {
        let (out, order, stats) = try runJob(rows: 437, devices: [fakeDevice("d0")])
        #expect(order == Array(0..<437))
        #expect(out == expected)
        #expect(stats.texts == 437)
        #expect(stats.realTokens == (0..<437).map(length(of:)).reduce(0, +))
    }

    @Test func emptyInputAndOneText() throws {
        let (out0, _, s0) = try runJob(rows: 0, devices: [fakeDevice("d0")])
        #expect(out0.isEmpty && s0.texts == 0 && s0.batches == 0)
        let (out1, _, s1) = try runJob(rows: 1, devices: [fakeDevice("d0")])
        #expect(out1 == [fakeRow(0, length(of: 0))] && s1.batches == 1)
    }

    @Test func severalDevicesKeepOrderAndTheFastOneTakesMore() throws {
        let (out, order, stats) = try runJob(rows: 437, devices: [fakeDevice("slow", delay: 0.02), fakeDevice("fast", delay: 0.002)])
        #expect(order == Array(0..<437))
        #expect(out == expected)
        #expect(stats.batchesPerDevice["fast", default: 0] > stats.batchesPerDevice["slow", default: 0])
        #expect(stats.batchesPerDevice.values.reduce(0, +) == stats.batches)
    }

    @Test func deviceFailureFallsBackWithoutLosingRows() throws {
        let faulty = FaultInjection(device: "gpu", atBatch: 3, kind: .fail).wrap(fakeDevice("gpu"))
        let (out, order, stats) = try runJob(rows: 437, devices: [faulty], fallback: fakeDevice("cpu"))
        #expect(order == Array(0..<437))
        #expect(out == expected)
        #expect(stats.fallbacks == 1)
        #expect(stats.unhealthyDevices.isEmpty)
    }

    @Test func outOfMemorySplitsTheBatch() throws {
        let faulty = FaultInjection(device: "gpu", atBatch: 2, kind: .oom, repeats: 2).wrap(fakeDevice("gpu"))
        let (out, _, stats) = try runJob(rows: 437, devices: [faulty], fallback: fakeDevice("cpu"))
        #expect(out == expected)
        #expect(stats.oomSplits == 2)
        #expect(stats.fallbacks == 0)
    }

    @Test func repeatedFailuresMarkTheDeviceUnhealthy() throws {
        let faulty = FaultInjection(device: "*", atBatch: 1, kind: .fail, repeats: 1_000).wrap(fakeDevice("gpu"))
        let (out, _, stats) = try runJob(rows: 437, devices: [faulty, fakeDevice("gpu2", delay: 0.001)], fallback: fakeDevice("cpu"))
        #expect(out == expected)
        #expect(stats.unhealthyDevices == ["gpu"])
        #expect(stats.fallbacks >= 2)
    }

    @Test func failureWithoutFallbackThrows() {
        let faulty = FaultInjection(device: "gpu", atBatch: 2, kind: .fail).wrap(fakeDevice("gpu"))
        #expect(throws: SchedulerError.self) { try runJob(rows: 437, devices: [faulty]) }
    }

    @Test func faultSpecParsing() throws {
        #expect(try FaultInjection(parsing: "opencl:0@3:oomx2") == FaultInjection(device: "opencl:0", atBatch: 3, kind: .oom, repeats: 2))
        #expect(try FaultInjection(parsing: "cpu@1") == FaultInjection(device: "cpu", atBatch: 1, kind: .fail))
        #expect(throws: SchedulerError.self) { try FaultInjection(parsing: "cpu") }
    }
}

@Suite struct OutputTests {
    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "featurize-sched-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Writes rows `from..<to` of a job through the chunked writer, as `extract` does.
    func write(_ path: String, rows: Range<Int>, resume: Bool, finish: Bool, dtype: FeatureDType = .float32) throws -> Int {
        let w = try ChunkedFeatureWriter(outputPath: path, dtype: dtype, rowsPerChunk: 50, fingerprint: "job-1",
                                         resume: resume, overwrite: false)
        let startAt = w.rowsDone
        let (out, _, _) = try runJob(rows: rows.upperBound, devices: [fakeDevice("d")], start: max(startAt, rows.lowerBound))
        for row in out { try w.append(row) }
        if finish { try w.finish(emptyDim: 3) }
        return startAt
    }

    @Test func npyOutputReadsBack() throws {
        let dir = tempDir(), path = dir + "/x.npy"
        _ = try write(path, rows: 0..<123, resume: false, finish: true)
        let m = try NpyReader.readMatrix(path: path)
        #expect(m.rows == 123 && m.columns == 3)
        #expect(m.row(77) == fakeRow(77, length(of: 77)))
        #expect(!FileManager.default.fileExists(atPath: path + ".parts"))
    }

    @Test func resumeAfterInterruptionIsByteIdentical() throws {
        let dir = tempDir()
        _ = try write(dir + "/full.npy", rows: 0..<437, resume: false, finish: true)
        // Interrupted job: 230 rows done, never finished (4 complete chunks of 50, 30 rows lost in the buffer).
        _ = try write(dir + "/resumed.npy", rows: 0..<230, resume: false, finish: false)
        #expect(!FileManager.default.fileExists(atPath: dir + "/resumed.npy"))
        let restartedAt = try write(dir + "/resumed.npy", rows: 0..<437, resume: true, finish: true)
        #expect(restartedAt == 200)
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/full.npy"))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/resumed.npy"))
        #expect(a == b)
    }

    @Test func resumeWithOtherSettingsIsRefused() throws {
        let dir = tempDir(), path = dir + "/x.npy"
        _ = try write(path, rows: 0..<120, resume: false, finish: false)
        #expect(throws: SchedulerError.self) {
            try ChunkedFeatureWriter(outputPath: path, dtype: .float32, rowsPerChunk: 50, fingerprint: "job-2", resume: true, overwrite: false)
        }
    }

    @Test func existingOutputAndMissingDirectoryAreErrors() throws {
        let dir = tempDir(), path = dir + "/x.npy"
        _ = try write(path, rows: 0..<10, resume: false, finish: true)
        #expect(throws: SchedulerError.self) { try write(path, rows: 0..<10, resume: false, finish: true) }
        #expect(throws: SchedulerError.self) {
            try ChunkedFeatureWriter(outputPath: dir + "/nope/x.npy", dtype: .float32, rowsPerChunk: 5, fingerprint: "f", resume: false, overwrite: false)
        }
    }

    @Test func float16AndSafetensorsAndJSONL() throws {
        let dir = tempDir()
        _ = try write(dir + "/h.npy", rows: 0..<60, resume: false, finish: true, dtype: .float16)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/h.npy"))
        #expect(String(decoding: bytes.prefix(64), as: UTF8.self).contains("'<f2'"))
        let h = try NpyReader.readMatrix(path: dir + "/h.npy")
        #expect(h.rows == 60 && h.row(5) == fakeRow(5, length(of: 5)))
        _ = try write(dir + "/s.safetensors", rows: 0..<60, resume: false, finish: true)
        let st = try Data(contentsOf: URL(fileURLWithPath: dir + "/s.safetensors"))
        let n = st.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(st.count == 8 + n + 60 * 3 * 4)
        _ = try write(dir + "/j.jsonl", rows: 0..<60, resume: false, finish: true)
        let lines = try String(contentsOfFile: dir + "/j.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 60)
        #expect(lines[5] == "[5.0,3.5,\(Float(length(of: 5)))]")
    }

    @Test func shardRecordWriteFailureNamesThePathAndReason() throws {
        let dir = tempDir()
        let output = dir + "/missing/part0.npy"
        let record = ShardRecord(shard: try ShardSpec(index: 0, count: 2), inputRows: 10, rows: 5, fingerprint: "f", dtype: "float32")
        do {
            try record.write(for: output)
            Issue.record("writing into a missing directory succeeded")
        } catch {
            let text = "\(error)"
            #expect(text.contains(output + ".shard.json") && text.contains("No such file or directory"), "\(text)")
        }
        try record.write(for: dir + "/part0.npy")
        #expect(try ShardRecord.read(for: dir + "/part0.npy") == record)
    }

    @Test func threeShardsMergeToTheSingleRun() throws {
        let dir = tempDir()
        let rows = 437
        _ = try write(dir + "/single.npy", rows: 0..<rows, resume: false, finish: true)
        var parts: [String] = []
        for i in 0..<3 {
            let spec = try ShardSpec(index: i, count: 3)
            let path = dir + "/part\(i).npy"
            let w = try ChunkedFeatureWriter(outputPath: path, dtype: .float32, rowsPerChunk: 50, fingerprint: "job-1", resume: false, overwrite: false)
            let scheduler = try BatchScheduler<Int, Int>(devices: [fakeDevice("d")], fallback: nil,
                                                        policy: BatchingPolicy(maxBatchTokens: 256, window: 50))
            let mine = (0..<rows).filter(spec.includes(row:))
            var k = 0
            _ = try scheduler.run(items: mine, prepare: { $0.map { ($0, length(of: $0)) } }, sink: { _, row in try w.append(row); k += 1 })
            try w.finish(emptyDim: 3)
            try ShardRecord(shard: spec, inputRows: rows, rows: k, fingerprint: "job-1", dtype: "float32").write(for: path)
            parts.append(path)
        }
        try ShardMerger.merge(inputs: parts.reversed(), output: dir + "/merged.npy", overwrite: false)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/merged.npy")) == Data(contentsOf: URL(fileURLWithPath: dir + "/single.npy")))
        #expect(throws: SchedulerError.self) { try ShardMerger.merge(inputs: Array(parts.prefix(2)), output: dir + "/m2.npy", overwrite: false) }
        #expect(throws: SchedulerError.self) { try ShardSpec(parsing: "3/3") }
    }
}
