import Foundation
import Testing
@testable import ModelIO

/// The committed safetensors attack set (issue 7): Fixtures/attacks/*.safetensors, written by
/// scripts/fixtures/gen_safetensors_attacks.py. Each file must fail with its own specific, named error;
/// none may crash. The generator also checked that the Python reference (`safetensors`) rejects every one
/// (Fixtures/attacks/reference.json).
@Suite struct SafetensorsAttackFileTests {
    static let directory = fixturesPath + "/attacks"

    static func path(_ name: String) -> String { directory + "/" + name + ".safetensors" }

    /// File name (without extension) → the exact error `SafetensorsFile(path:)` must throw.
    static let expected: [String: (String) -> ModelIOError] = [
        "zero-size": { .fileTooSmall(path: $0, size: 0) },
        "short-prefix": { .fileTooSmall(path: $0, size: 3) },
        "size-prefix-beyond-file": { .headerBeyondFile(path: $0, declaredSize: 50, fileSize: 10) },
        "header-over-100MB": { .headerTooLarge(path: $0, declaredSize: 100_000_001, limit: 100_000_000) },
        "header-size-u64-max": { .headerTooLarge(path: $0, declaredSize: UInt64.max, limit: 100_000_000) },
        "header-not-utf8": { .headerNotUTF8(path: $0, byteOffset: 3) },
        "header-overlong-utf8": { .headerNotUTF8(path: $0, byteOffset: 2) },
        "header-json-array": { .headerNotObject(path: $0) },
        "header-json-string": { .headerNotObject(path: $0) },
        "header-empty": { .headerNotObject(path: $0) },
        "offset-negative": { .negativeValue(path: $0, tensor: "a", field: "data_offsets[0]", value: "-8") },
        "shape-negative": { .negativeValue(path: $0, tensor: "a", field: "shape[0]", value: "-2") },
        "offset-overflowing": { .arithmeticOverflow(path: $0, tensor: "a", field: "data_offsets[1]") },
        "element-count-overflowing": {
            .arithmeticOverflow(path: $0, tensor: "a", field: "element count of shape [4294967296, 4294967296]")
        },
        "byte-size-overflowing": {
            .arithmeticOverflow(path: $0, tensor: "a", field: "byte size of shape [2305843009213693952]")
        },
        "offsets-reversed": { .offsetsReversed(path: $0, tensor: "a", begin: 8, end: 0) },
        "offsets-overlapping": { .overlappingTensors(path: $0, tensor: "b", previous: "a") },
        "offsets-out-of-bounds": { .offsetsOutOfBounds(path: $0, tensor: "b", end: 16, dataSize: 12) },
        "offsets-far-out-of-bounds": { .offsetsOutOfBounds(path: $0, tensor: "a", end: 1008, dataSize: 8) },
        "hole-between-tensors": { .holeBeforeTensor(path: $0, tensor: "b", holeStart: 4, holeEnd: 8) },
        "shape-dtype-span-mismatch": { .shapeSpanMismatch(path: $0, tensor: "a", expectedBytes: 12, spanBytes: 8) },
        "sub-byte-dtype-misaligned": { .misalignedSlice(path: $0, tensor: "a") },
        "trailing-bytes": { .trailingBytes(path: $0, dataEnd: 8, dataSize: 11) },
        "duplicate-tensor-name": { .duplicateTensorName(path: $0, tensor: "a") },
        "duplicate-tensor-name-escaped": { .duplicateTensorName(path: $0, tensor: "a") },
        "metadata-value-not-string": { .metadataNotStringMap(path: $0, key: "n") },
        "metadata-not-object": { .metadataNotStringMap(path: $0, key: nil) },
        "unknown-dtype": { .unknownDType(path: $0, tensor: "a", dtype: "F48") },
        "pickle-zip-renamed": { .pickleWeights(path: $0) },
    ]

    /// Attacks whose error carries a parser message: the case and a fragment of the message.
    static let invalidJSON: [String: String] = [
        "header-truncated-json": "unexpected end",
        "header-nested-deep": "nested deeper",
    ]

    static func openError(_ path: String) -> Error? {
        do { _ = try SafetensorsFile(path: path); return nil } catch { return error }
    }

    @Test(arguments: expected.keys.sorted())
    func attackFileGivesItsNamedError(_ name: String) {
        let path = Self.path(name)
        let error = Self.openError(path)
        #expect(error as? ModelIOError == Self.expected[name]!(path), "\(name): \(String(describing: error))")
        // The message names the file.
        #expect((error as? ModelIOError)?.description.contains(path) == true)
    }

    @Test(arguments: invalidJSON.keys.sorted())
    func attackFileGivesInvalidJSON(_ name: String) {
        let path = Self.path(name)
        guard case let .headerInvalidJSON(p, detail)? = Self.openError(path) as? ModelIOError else {
            Issue.record("\(name): expected headerInvalidJSON, got \(String(describing: Self.openError(path)))"); return
        }
        #expect(p == path)
        #expect(detail.contains(Self.invalidJSON[name]!), "\(detail)")
    }

    /// Every committed attack file has an expectation (a new file cannot go untested), and the reference
    /// implementation rejected every one when the set was generated.
    @Test func everyAttackFileIsCoveredAndRejectedByTheReference() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory)
            .filter { $0.hasSuffix(".safetensors") }
            .map { String($0.dropLast(".safetensors".count)) }
        #expect(Set(files) == Set(Self.expected.keys).union(Self.invalidJSON.keys))
        #expect(files.count == 31)
        let reference = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: Self.directory + "/reference.json"))) as? [String: [String: Any]]
        for name in files {
            #expect(reference?[name]?["rejected"] as? Bool == true, "\(name): Python safetensors accepted it")
        }
    }
}
