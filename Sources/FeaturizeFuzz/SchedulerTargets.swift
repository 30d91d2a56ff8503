import FeatureIO
import Foundation
import Scheduler

/// Targets for the `.npy` reader (merge, resume and `train` read feature files back) and the scheduler's
/// `--shard i/N` and `FEATURIZE_INJECT_FAULT` values.
enum SchedulerTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "npy-header", run: npyHeader),
        FuzzTarget(name: "scheduler-text", run: schedulerText),
    ]

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
