import FeatureIO
import Foundation
import Testing
@testable import Scheduler

/// Inputs the fuzz targets (Sources/FeaturizeFuzz, scripts/fuzz.sh) found to crash, kept as regression tests.
/// The raw crash inputs are also in Fuzz/regressions/<target>/ for replay with the FeaturizeFuzz binary.
@Suite struct SchedulerFuzzRegressionTests {
    /// A v1 `.npy` file: magic, version, header dict padded to 64 bytes, then `data`.
    static func npy(shape: String, descr: String = "<f4", data: [UInt8] = []) -> Data {
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(shape)), }"
        dict += String(repeating: " ", count: (64 - (10 + dict.utf8.count + 1) % 64) % 64) + "\n"
        let length = dict.utf8.count
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
                    + Array(dict.utf8) + data)
    }

    /// npy-header: the fuzzer's first finding was an overflow trap in the `.npy` header parser then in
    /// Scheduler (`NpyFormat.parseHeader`: `cols * 4`, then `offset + size`). main has since replaced that parser
    /// with FeatureIO's `NpyReader`; the same inputs must give errors there.
    @Test func npyHugeShapesAreErrors() {
        #expect(throws: NpyError.sizeMismatch(path: "x.npy", shape: [1, 9223372036854775807], expectedBytes: Int.max, actualBytes: 0)) {
            try NpyReader.parse(Self.npy(shape: "1, 9223372036854775807"), path: "x.npy")
        }
        #expect(throws: NpyError.sizeMismatch(path: "x.npy", shape: [3, 4611686018427387904], expectedBytes: Int.max, actualBytes: 0)) {
            try NpyReader.parse(Self.npy(shape: "3, 4611686018427387904", descr: "<f2"), path: "x.npy")
        }
        // 2305843009213693951 * 4 = 9223372036854775804 fits; the old parser's `offset + size` did not.
        #expect(throws: NpyError.sizeMismatch(path: "x.npy", shape: [1, 2305843009213693951], expectedBytes: 9223372036854775804, actualBytes: 0)) {
            try NpyReader.parse(Self.npy(shape: "1, 2305843009213693951"), path: "x.npy")
        }
    }

    /// The libFuzzer crash input (Fuzz/regressions/npy-header/crash-a857d8…) is rejected, not a crash.
    @Test func npyFuzzCrashInput() throws {
        let base64 = "k05VTVBZAgDmAAAAeycnOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKAAAAAAAAAoPIH0gICAgc2UscwA5NDIzMDI0MDk0LDkyMjMzNzIwMzY4NTQ3NzU4MDcscwBoYXBlJzogKAgAACAgICBlLCAnMzAyNDA5NCw5MjIzMzcyMDM2ODU0Nzc1ODA3LHMAaGFwZSc6ICgIAAAgICAgZSwgJ3NzaGFwZSc6ICgsLTAwMF9vcmRlcjAwMDAwOTAxMDEwOTQ3LDI3MjAzNjgxJ3NoYXBlJzogKDQ3NzU6ICgpLCB9ICAgICAgICAgCg=="
        let data = try #require(Data(base64Encoded: base64))
        #expect(throws: NpyError.self) { try NpyReader.parse(data, path: "crash.npy") }
    }

    /// A non-integer shape entry is an error, not dropped (the old parser read `(2, x, 3)` as 2 x 3).
    @Test func npyNonIntegerShapeEntryIsAnError() {
        #expect(throws: NpyError.badHeader(path: "x.npy", reason: "bad shape entry 'x'")) {
            try NpyReader.parse(Self.npy(shape: "2, x, 3", data: [UInt8](repeating: 0, count: 24)), path: "x.npy")
        }
    }

    /// A valid file still reads.
    @Test func npyValidFileReads() throws {
        var data = [UInt8]()
        for v: Float in [1, 2, 3, 4, 5, 6] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        let m = try NpyReader.parse(Self.npy(shape: "2, 3", data: data), path: "ok.npy")
        #expect(m.rows == 2 && m.columns == 3 && m.values == [1, 2, 3, 4, 5, 6])
    }

    /// scheduler-text: `--shard 0/9223372036854775807` made `rows(ofInput:)` overflow (trap) for any input
    /// of 2 or more rows.
    @Test func shardWithHugeCountCountsRowsWithoutOverflow() throws {
        let shard = try ShardSpec(parsing: "0/9223372036854775807")
        #expect(shard.rows(ofInput: 10) == 1)
        #expect(shard.rows(ofInput: Int.max) == 1)
        let last = try ShardSpec(parsing: "9223372036854775806/9223372036854775807")
        #expect(last.rows(ofInput: 10) == 0)
        #expect(last.rows(ofInput: Int.max) == 1)
        // Ordinary shards are unchanged: 10 rows over 4 shards -> 3, 3, 2, 2.
        #expect(try (0..<4).map { try ShardSpec(index: $0, count: 4).rows(ofInput: 10) } == [3, 3, 2, 2])
    }
}
