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

    /// npy-header: `cols * 4` overflowed (trap) for a shape with a huge column count.
    @Test func npyHeaderHugeColumnCountIsAnError() {
        #expect(throws: SchedulerError.io(path: "x.npy", detail: "shape (1, 9223372036854775807) is too large (byte size overflows)")) {
            try NpyFormat.parseHeader(Self.npy(shape: "1, 9223372036854775807"), path: "x.npy")
        }
        #expect(throws: SchedulerError.io(path: "x.npy", detail: "shape (3, 4611686018427387904) is too large (byte size overflows)")) {
            try NpyFormat.parseHeader(Self.npy(shape: "3, 4611686018427387904", descr: "<f2"), path: "x.npy")
        }
    }

    /// npy-header: `offset + rows * cols * 4` overflowed (trap) when the byte size itself just fits.
    @Test func npyHeaderByteSizeNearIntMaxIsAnError() {
        // 2305843009213693951 * 4 = 9223372036854775804 fits; adding the 128-byte header offset does not.
        #expect(throws: SchedulerError.io(path: "x.npy", detail: "file has 0 data bytes, shape (1, 2305843009213693951) needs 9223372036854775804")) {
            try NpyFormat.parseHeader(Self.npy(shape: "1, 2305843009213693951"), path: "x.npy")
        }
    }

    /// The minimised libFuzzer crash input (Fuzz/regressions/npy-header/crash-a857d8…) is rejected, not a crash.
    @Test func npyHeaderFuzzCrashInput() throws {
        let base64 = "k05VTVBZAgDmAAAAeycnOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKAAAAAAAAAoPIH0gICAgc2UscwA5NDIzMDI0MDk0LDkyMjMzNzIwMzY4NTQ3NzU4MDcscwBoYXBlJzogKAgAACAgICBlLCAnMzAyNDA5NCw5MjIzMzcyMDM2ODU0Nzc1ODA3LHMAaGFwZSc6ICgIAAAgICAgZSwgJ3NzaGFwZSc6ICgsLTAwMF9vcmRlcjAwMDAwOTAxMDEwOTQ3LDI3MjAzNjgxJ3NoYXBlJzogKDQ3NzU6ICgpLCB9ICAgICAgICAgCg=="
        let data = try #require(Data(base64Encoded: base64))
        #expect(throws: SchedulerError.self) { try NpyFormat.parseHeader(data, path: "crash.npy") }
    }

    /// A valid header still parses after the overflow fix.
    @Test func npyHeaderValidStillParses() throws {
        let h = try NpyFormat.parseHeader(Self.npy(shape: "2, 3", data: [UInt8](repeating: 0, count: 24)), path: "ok.npy")
        #expect(h.rows == 2 && h.cols == 3 && h.dtype == .f32 && h.offset == 128)
    }

    /// A non-integer shape entry used to be dropped silently: `(2, x, 3)` read as a 2 x 3 matrix.
    @Test func npyHeaderNonIntegerShapeEntryIsAnError() {
        #expect(throws: SchedulerError.io(path: "x.npy", detail: "expected a 2-D matrix, header says shape (2, x, 3)")) {
            try NpyFormat.parseHeader(Self.npy(shape: "2, x, 3", data: [UInt8](repeating: 0, count: 24)), path: "x.npy")
        }
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
