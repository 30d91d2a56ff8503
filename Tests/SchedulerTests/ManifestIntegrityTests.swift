import Foundation
import Testing
import FeatureIO
@testable import Scheduler

/// Issue 16: the resume manifest and the shard record are validated before use, a damaged chunk is redone
/// instead of failing at the end, and the content hash behaves as a fingerprint must.
@Suite struct ManifestIntegrityTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "featurize-manifest-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func write(_ path: String, rows: Range<Int>, resume: Bool, finish: Bool) throws -> ChunkedFeatureWriter {
        let w = try ChunkedFeatureWriter(outputPath: path, dtype: .float32, rowsPerChunk: 50, fingerprint: "job-1",
                                         resume: resume, overwrite: false)
        var i = max(w.rowsDone, rows.lowerBound)
        while i < rows.upperBound { try w.append(fakeRow(i, length(of: i))); i += 1 }
        if finish { try w.finish(emptyDim: 3) }
        return w
    }

    @Test func truncatedChunkIsRedoneOnResume() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try write(dir + "/full.npy", rows: 0..<437, resume: false, finish: true)
        _ = try write(dir + "/r.npy", rows: 0..<230, resume: false, finish: false)
        // Damage chunk 2 (rows 100..<150): cut it in half.
        let chunk = dir + "/r.npy.parts/chunk-00000002.bin"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: chunk))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: chunk))
        let resumed = try write(dir + "/r.npy", rows: 0..<0, resume: true, finish: false)
        #expect(resumed.rowsDone == 100)
        #expect(resumed.discardedChunks == ["chunk-00000002.bin", "chunk-00000003.bin"])
        #expect(resumed.repairNote?.contains("chunk-00000002.bin is 300 bytes, expected 600") == true, "\(resumed.repairNote ?? "nil")")
        for i in 100..<437 { try resumed.append(fakeRow(i, length(of: i))) }
        try resumed.finish(emptyDim: 3)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/r.npy")) == Data(contentsOf: URL(fileURLWithPath: dir + "/full.npy")))
    }

    @Test func manifestNumbersAndNamesAreValidated() throws {
        func parse(_ json: String) -> String? {
            do { _ = try OutputManifest.parse(Data(json.utf8), path: "m.json"); return nil } catch { return "\(error)" }
        }
        let good = #"{"version": 2, "fingerprint": "f", "dtype": "float32", "dim": 3, "rowsPerChunk": 50, "chunks": ["chunk-00000000.bin"], "inputHashes": ["x"]}"#
        #expect(parse(good) == nil)
        #expect(parse(good.replacingOccurrences(of: #""rowsPerChunk": 50"#, with: #""rowsPerChunk": 9223372036854775807"#))?.contains("rowsPerChunk") == true)
        #expect(parse(good.replacingOccurrences(of: #""rowsPerChunk": 50"#, with: #""rowsPerChunk": 0"#))?.contains("rowsPerChunk") == true)
        #expect(parse(good.replacingOccurrences(of: #""dim": 3"#, with: #""dim": -1"#))?.contains("dim") == true)
        #expect(parse(good.replacingOccurrences(of: "chunk-00000000.bin", with: "../../etc/passwd"))?.contains("expected chunk-00000000.bin") == true)
        #expect(parse(good.replacingOccurrences(of: #"["x"]"#, with: "[]"))?.contains("0 input hashes for 1 chunks") == true)
        #expect(parse(good.replacingOccurrences(of: #""version": 2"#, with: #""version": 1"#))?.contains("another version") == true)
        #expect(parse("[]")?.contains("not a valid manifest") == true)
    }

    @Test func shardRecordsAreValidated() throws {
        func parse(_ json: String) -> String? {
            do { _ = try ShardRecord.parse(Data(json.utf8), path: "r.json"); return nil } catch { return "\(error)" }
        }
        #expect(parse(#"{"shard": {"index": 1, "count": 3}, "inputRows": 10, "rows": 3, "fingerprint": "f"}"#) == nil)
        #expect(parse(#"{"shard": {"index": 3, "count": 3}, "inputRows": 10, "rows": 3, "fingerprint": "f"}"#)?.contains("not a valid shard") == true)
        #expect(parse(#"{"shard": {"index": 0, "count": 0}, "inputRows": 10, "rows": 3, "fingerprint": "f"}"#)?.contains("not a valid shard") == true)
        #expect(parse(#"{"shard": {"index": 0, "count": 3}, "inputRows": -1, "rows": 0, "fingerprint": "f"}"#)?.contains("do not match") == true)
        #expect(parse(#"{"shard": {"index": 0, "count": 3}, "inputRows": 10, "rows": 9, "fingerprint": "f"}"#)?.contains("do not match") == true)
    }

    @Test func secondWriterOnTheSamePartsIsRefused() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try write(dir + "/o.npy", rows: 0..<120, resume: false, finish: false)
        do {
            _ = try write(dir + "/o.npy", rows: 0..<10, resume: true, finish: false)
            Issue.record("a second writer took the parts directory")
        } catch {
            #expect("\(error)".contains("another featurize job (process \(getpid()))"), "\(error)")
        }
        #expect(first.rowsDone == 100)
    }

    @Test func contentHashSeesEveryByteAndTheSplit() {
        func hex(_ parts: [String]) -> String {
            var h = ContentHash()
            for p in parts { h.update(p.utf8.count); h.update(p) }
            return h.hex
        }
        #expect(hex(["ab", "c"]) != hex(["a", "bc"]))
        #expect(hex(["abc"]) == hex(["abc"]))
        #expect(hex(["abc"]) != hex(["abd"]))
        #expect(hex([]).count == 32)
        var empty = ContentHash(), zero = ContentHash()
        zero.update([0])
        #expect(empty.hex != zero.hex)
        empty.update([])
        #expect(empty.hex == ContentHash().hex)
    }
}
