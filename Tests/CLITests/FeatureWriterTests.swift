import Foundation
import ModelIO
import Testing
@testable import FeatureIO

func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        out.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return out
}

func fileBytes(_ path: String) -> [UInt8] {
    (try? Array(Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
}

@Suite struct FeatureWriterTests {
    let rows: [[Float]] = [[1.5, -2.0], [0.1, 65504.0], [1e-8, -0.0]]

    // numpy.save of the same [3, 2] array (scripts/fixtures/io_reference_values.py).
    let numpyF4 = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c2032292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000c03f000000c0cdcccc3d00e07f4777cc2b3200000080"
    let numpyF2 = "934e554d5059010076007b276465736372273a20273c6632272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c2032292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a003e00c0662eff7b00000080"

    @Test func npyMatchesNumpySaveByteForByte() throws {
        let dir = IOTempDir()
        for (dtype, expected) in [(FeatureDType.float32, numpyF4), (.float16, numpyF2)] {
            let path = dir.path + "/f-\(dtype).npy"
            let writer = try NpyWriter(path: path, columns: 2, dtype: dtype)
            try writer.append(row: rows[0])
            try writer.append(rows: rows[1] + rows[2])
            #expect(writer.rowCount == 3)
            try writer.finish()
            #expect(fileBytes(path) == hexBytes(expected), "\(dtype)")
            #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        }
    }

    @Test func npyHeaderForLargeRowCounts() throws {
        let dir = IOTempDir()
        let path = dir.path + "/big.npy"
        let writer = try NpyWriter(path: path, columns: 384)
        let row = (0..<384).map { Float($0) * 0.5 }
        for _ in 0..<1000 { try writer.append(row: row) } // 1.5 MB: crosses the 1 MiB flush threshold
        try writer.finish()
        let bytes = fileBytes(path)
        #expect(bytes.count == 128 + 1000 * 384 * 4)
        let header = String(decoding: bytes[10..<128], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 384), }"))
        #expect(header.hasSuffix(" \n"))
        let last = bytes[(bytes.count - 4)...].withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        #expect(last == 191.5)
    }

    @Test func safetensorsOutputReadsBackWithValidatingReader() throws {
        let dir = IOTempDir()
        for dtype in FeatureDType.allCases {
            let path = dir.path + "/f-\(dtype).safetensors"
            let writer = try SafetensorsWriter(path: path, columns: 2, dtype: dtype,
                                               metadata: ["model": "all-MiniLM-L6-v2", "quote": "a\"b\\c\n"])
            for row in rows { try writer.append(row: row) }
            try writer.finish()
            let file = try SafetensorsFile(path: path)
            #expect(file.tensorNames == ["features"])
            #expect(file.metadata == ["model": "all-MiniLM-L6-v2", "quote": "a\"b\\c\n"])
            #expect(file.info(of: "features")?.dtype == (dtype == .float32 ? .F32 : .F16))
            let tensor = try file.tensor("features")
            #expect(tensor.shape == [3, 2])
            if dtype == .float32 {
                #expect(tensor.values == rows.flatMap { $0 })
            } else {
                #expect(tensor.values.map(\.bitPattern) == ([1.5, -2.0, 0.0999755859375, 65504.0, 0.0, -0.0] as [Float]).map(\.bitPattern))
            }
            let bytes = fileBytes(path)
            let headerLength = bytes[0..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            #expect(headerLength % 8 == 0) // data section 8-byte aligned
        }
    }

    @Test func emptyOutput() throws {
        let dir = IOTempDir()
        let npy = try NpyWriter(path: dir.path + "/e.npy", columns: 4)
        try npy.finish()
        #expect(String(decoding: fileBytes(dir.path + "/e.npy")[10..<70], as: UTF8.self).contains("'shape': (0, 4)"))
        let st = try SafetensorsWriter(path: dir.path + "/e.safetensors", columns: 4)
        try st.finish()
        let file = try SafetensorsFile(path: dir.path + "/e.safetensors")
        #expect(file.shape(of: "features") == [0, 4])
    }

    @Test func writerErrors() throws {
        let dir = IOTempDir()
        let path = dir.path + "/w.npy"
        let writer = try NpyWriter(path: path, columns: 3)
        #expect(throws: FeatureIOError.rowWidthMismatch(path: path, expected: 3, found: 2)) { try writer.append(row: [1, 2]) }
        #expect(throws: FeatureIOError.valueCountNotMultipleOfWidth(path: path, width: 3, count: 4)) { try writer.append(rows: [1, 2, 3, 4]) }
        try writer.finish()
        #expect(throws: FeatureIOError.writerFinished(path: path)) { try writer.append(row: [1, 2, 3]) }
        #expect(throws: FeatureIOError.writerFinished(path: path)) { try writer.finish() }
        #expect(throws: FeatureIOError.invalidShape(path: path, reason: "feature width must be positive, got 0")) {
            try NpyWriter(path: path, columns: 0)
        }
        #expect(throws: FeatureIOError.self) { try SafetensorsWriter(path: "/nonexistent/dir/x.safetensors", columns: 2) }
    }

    @Test func unfinishedWriterLeavesNoFile() throws {
        let dir = IOTempDir()
        let path = dir.path + "/u.npy"
        do {
            let writer = try NpyWriter(path: path, columns: 2)
            try writer.append(row: [1, 2])
            #expect(FileManager.default.fileExists(atPath: path + ".partial"))
        }
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func jsonLinesOutput() throws {
        let dir = IOTempDir()
        let path = dir.path + "/f.jsonl"
        let writer = try JSONLinesFeatureWriter(path: path, columns: 2)
        for row in rows { try writer.append(row: row) }
        try writer.append(row: [.nan, -.infinity])
        try writer.finish()
        let text = String(decoding: fileBytes(path), as: UTF8.self)
        #expect(text == "[1.5,-2.0]\n[0.1,65504.0]\n[1e-08,-0.0]\n[null,null]\n")
        // Every line parses as JSON and reads back to the same float32 values.
        let lines = text.split(separator: "\n")
        for (line, row) in zip(lines, rows) {
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [Double])
            #expect(parsed.map(Float.init) == row)
        }
        let half = try JSONLinesFeatureWriter(path: dir.path + "/h.jsonl", columns: 2, dtype: .float16)
        try half.append(row: [0.1, 70000])
        try half.finish()
        #expect(String(decoding: fileBytes(dir.path + "/h.jsonl"), as: UTF8.self) == "[0.099975586,null]\n")
    }

    @Test func writerFactoryChoosesByExtension() throws {
        let dir = IOTempDir()
        #expect(try makeFeatureWriter(path: dir.path + "/a.npy", columns: 2) is NpyWriter)
        #expect(try makeFeatureWriter(path: dir.path + "/a.SAFETENSORS", columns: 2) is SafetensorsWriter)
        #expect(try makeFeatureWriter(path: dir.path + "/a.jsonl", columns: 2) is JSONLinesFeatureWriter)
        #expect(try makeFeatureWriter(path: dir.path + "/a.out", columns: 2, format: .npy) is NpyWriter)
        #expect(throws: FeatureIOError.unknownOutputFormat(path: dir.path + "/a.csv")) {
            try makeFeatureWriter(path: dir.path + "/a.csv", columns: 2)
        }
        #expect(FeatureOutputFormat(path: "-") == nil)
    }

    @Test func halfRoundingMatchesIEEE() {
        // Every half value round-trips, and every midpoint between neighbours rounds to the even one.
        for raw in 0..<0x7C00 {
            let h = UInt16(raw)
            let f = halfBitsToFloat(h)
            if floatToHalfBits(f) != h { Issue.record("0x\(String(raw, radix: 16)) does not round-trip"); return }
            if floatToHalfBits(-f) != h | 0x8000 { Issue.record("-0x\(String(raw, radix: 16)) does not round-trip"); return }
            if raw == 0x7BFF { continue } // the next value is infinity
            let next = halfBitsToFloat(h + 1)
            let mid = (f + next) / 2 // exact in float32
            let even = (h & 1) == 0 ? h : h + 1
            if floatToHalfBits(mid) != even { Issue.record("midpoint after 0x\(String(raw, radix: 16))"); return }
            if floatToHalfBits(mid.nextDown) != h { Issue.record("below midpoint after 0x\(String(raw, radix: 16))"); return }
            if floatToHalfBits(mid.nextUp) != h + 1 { Issue.record("above midpoint after 0x\(String(raw, radix: 16))"); return }
        }
        #expect(floatToHalfBits(65520) == 0x7C00) // rounds up to infinity
        #expect(floatToHalfBits(65519.996) == 0x7BFF)
        #expect(floatToHalfBits(.infinity) == 0x7C00)
        #expect(floatToHalfBits(-.infinity) == 0xFC00)
        #expect(halfBitsToFloat(floatToHalfBits(.nan)).isNaN)
        #expect(floatToHalfBits(1e-8) == 0)
        #expect(floatToHalfBits(2.9802322e-08) == 0) // exactly half the smallest subnormal: ties to even (0)
        #expect(floatToHalfBits(2.9802326e-08) == 1)
    }
}
