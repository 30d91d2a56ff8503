import FeatureIO
import Foundation
import Scheduler

/// Targets for the `.npy` reader (merge, resume and `train` read feature files back) and the scheduler's
/// `--shard i/N` and `FEATURIZE_INJECT_FAULT` values.
enum SchedulerTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "npy-header", run: npyHeader),
        FuzzTarget(name: "scheduler-text", run: schedulerText),
        FuzzTarget(name: "manifest", run: manifest),
        FuzzTarget(name: "shard-record", run: shardRecord),
    ]

    /// A resume manifest (`OUTPUT.parts/manifest.json`): accepted ones have bounded numbers, chunk names in
    /// order and one input hash per chunk (issue 16).
    static func manifest(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let m = try? OutputManifest.parse(Data(buffer: bytes), path: "manifest.json") else { return }
        fuzzCheck((1...OutputManifest.maxRowsPerChunk).contains(m.rowsPerChunk), "rowsPerChunk \(m.rowsPerChunk)")
        fuzzCheck(m.dim.map { (0...OutputManifest.maxDim).contains($0) } ?? true, "dim \(String(describing: m.dim))")
        fuzzCheck(m.chunks.enumerated().allSatisfy { $0.element == OutputManifest.chunkName($0.offset) }, "chunk names")
        fuzzCheck(m.inputHashes.map { $0.count == m.chunks.count } ?? true, "input hashes per chunk")
        _ = m.rowsDone
        _ = OutputManifest.differences(m.fingerprint, "pooling=mean\nshard=all")
    }

    /// A shard record (`OUTPUT.shard.json`): accepted ones have a valid spec and rows matching it; merging a
    /// single record (no shard files) ends quickly with an error whatever N says.
    static func shardRecord(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let r = try? ShardRecord.parse(Data(buffer: bytes), path: "r.shard.json") else { return }
        fuzzCheck(r.shard.count >= 1 && r.shard.index >= 0 && r.shard.index < r.shard.count, "shard \(r.shard)")
        fuzzCheck(r.inputRows >= 0 && r.rows == r.shard.rows(ofInput: r.inputRows), "rows \(r.rows) of \(r.inputRows)")
        let out = FuzzFiles.scratch + "/fuzz-shard.npy"
        FuzzFiles.write(bytes, to: out + ".shard.json")
        _ = try? ShardMerger.merge(inputs: [out], output: FuzzFiles.scratch + "/fuzz-merged.npy", overwrite: true)
    }

    static func npyHeader(_ bytes: UnsafeBufferPointer<UInt8>) {
        let data = Data(buffer: bytes)
        guard let matrix = try? NpyReader.parse(data, path: "fuzz.npy") else { return }
        fuzzCheck(matrix.rows >= 0 && matrix.columns >= 0, "negative shape (\(matrix.rows), \(matrix.columns))")
        fuzzCheck(matrix.values.count == matrix.rows * matrix.columns, "\(matrix.values.count) values for the shape")
    }

    /// The input is one line of text, tried as a shard spec and as a fault-injection value.
    static func schedulerText(_ bytes: UnsafeBufferPointer<UInt8>) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let shard = try? ShardSpec(parsing: text) {
            fuzzCheck(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, "accepted shard \(text)")
            var total = 0
            for inputRows in [0, 1, 2, 10, 10_568, 1 << 40] {
                let rows = shard.rows(ofInput: inputRows)
                fuzzCheck(rows >= 0 && rows <= inputRows, "shard \(text) of \(inputRows) rows: \(rows)")
                total += rows
            }
            _ = total
            for row in [0, 1, 7, Int.max] { _ = shard.includes(row: row) }
        }
        if let fault = try? FaultInjection(parsing: text) {
            fuzzCheck(fault.atBatch >= 1 && fault.repeats >= 1, "accepted fault \(text)")
        }
    }
}
