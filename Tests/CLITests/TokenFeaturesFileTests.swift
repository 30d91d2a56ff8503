import FeatureIO
import Foundation
import Testing

/// The ragged token-level file (`--pooling none`) written part by part and read back text by text, and damaged
/// files or token records refused with an error naming the file (never a crash or a huge allocation).
@Suite struct TokenFeaturesFileTests {
    /// Two parts: texts of 3 and 0 tokens, then one of 2; 4 values per token.
    struct Parts: TokenFeatureParts {
        let texts = [[TextTokens(ids: [101, 7, 102], offsets: [(0, 0), (0, 5), (0, 0)]), TextTokens(ids: [], offsets: [])],
                     [TextTokens(ids: [101, 102], offsets: [(0, 0), (0, 0)])]]
        var partCount: Int { texts.count }
        func tokens(ofPart index: Int) throws -> [TextTokens] { texts[index] }
        func features(ofPart index: Int) throws -> [Float] {
            let first = index == 0 ? 0 : 3
            return (0..<(texts[index].reduce(0) { $0 + $1.count } * 4)).map { Float(first * 4 + $0) * 0.25 - 1 }
        }
    }

    static func temp(_ name: String) -> String { NSTemporaryDirectory() + "featurize-tokens-\(UUID().uuidString)-" + name }

    @Test func safetensorsRoundTripTextByText() throws {
        for dtype in FeatureDType.allCases {
            let path = Self.temp("t.safetensors")
            defer { try? FileManager.default.removeItem(atPath: path) }
            try TokenFeaturesFile.write(Parts(), columns: 4, dtype: dtype, to: path, metadata: ["pooling": "none"])
            let file = try TokenFeaturesReader(path: path)
            #expect(file.offsets == [0, 3, 3, 5] && file.columns == 4 && file.dtype == dtype && file.metadata == ["pooling": "none"])
            #expect(try file.tokens(ofText: 0) == Parts().texts[0][0] && file.tokens(ofText: 1).count == 0)
            #expect(try file.tokens(ofText: 2).ids == [101, 102])
            let all = try (0..<3).flatMap { try file.features(ofText: $0) }
            #expect(all == (0..<20).map { Float($0) * 0.25 - 1 })  // exact in float16 too
        }
    }

    @Test func jsonlHasOneLinePerText() throws {
        let path = Self.temp("t.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TokenFeaturesFile.write(Parts(), columns: 4, to: path)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3].isEmpty)
        #expect(lines[1] == "{\"token_ids\":[],\"char_offsets\":[],\"features\":[]}")
        #expect(lines[2] == "{\"token_ids\":[101,102],\"char_offsets\":[[0,0],[0,0]],\"features\":[[2.0,2.25,2.5,2.75],[3.0,3.25,3.5,3.75]]}")
    }

    @Test func damagedFilesAndRecordsAreErrors() throws {
        let path = Self.temp("t.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TokenFeaturesFile.write(Parts(), columns: 4, to: path)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = Int(good[0]) | Int(good[1]) << 8
        let header = String(decoding: good[8..<(8 + headerLength)], as: UTF8.self)
        var variants: [[UInt8]] = [Array(good.prefix(good.count - 8)), Array(good.prefix(20)), [UInt8](repeating: 0xFF, count: 16)]
        for (from, to) in [("\"shape\":[4]", "\"shape\":[3]"), ("\"I32\"", "\"F32\""), ("\"offsets\"", "\"offzets\"")] {
            let changed = header.replacingOccurrences(of: from, with: to)
            #expect(changed != header && changed.utf8.count == header.utf8.count, "\(from)")
            variants.append(Array(good[..<8]) + Array(changed.utf8) + Array(good[(8 + headerLength)...]))
        }
        // Shapes whose byte count overflows Int (2^40 x 2^40 x 4).
        let huge = "{\"features\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,0]}}"
        variants.append((0..<8).map { UInt8((huge.utf8.count >> (8 * $0)) & 0xFF) } + Array(huge.utf8))
        for (k, bytes) in variants.enumerated() {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(throws: FeatureIOError.self, "variant \(k)") { _ = try TokenFeaturesReader(path: path) }
        }
        let record = TextTokens(ids: [1, 2, 3], offsets: [(0, 1), (1, 2), (2, 3)]).record
        #expect(try TextTokens.records(record + record, path: "x") == [TextTokens(ids: [1, 2, 3], offsets: [(0, 1), (1, 2), (2, 3)])] + [TextTokens(ids: [1, 2, 3], offsets: [(0, 1), (1, 2), (2, 3)])])
        #expect(throws: FeatureIOError.self) { _ = try TextTokens.records(Array(record.dropLast()), path: "x") }
        #expect(throws: FeatureIOError.self) { _ = try TextTokens.records([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], path: "x") }
    }
}
