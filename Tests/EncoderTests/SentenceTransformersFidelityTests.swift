import Featurize
import Foundation
import ModelIO
import Testing

// Equality with SentenceTransformer(dir).encode(...) on the small directories written by
// scripts/fixtures/gen_st_fixtures.py (Fixtures/st/): prompts with include_prompt false, Dense (before and
// after Normalize), legacy and 6.x pooling keys, lasttoken/weightedmean, truncate_dim, quantize_embeddings.

enum STFixture {
    static func directory(_ name: String) -> String { FixturePaths.file("st/\(name)") }

    static func texts() throws -> [String] {
        var lines = try String(contentsOfFile: FixturePaths.file("st/texts.txt"), encoding: .utf8).components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// Raw bytes and shape of a one-byte-per-element .npy (`|i1` / `|u1`).
    static func bytes(_ path: String) throws -> (shape: [Int], values: [UInt8]) {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard data.count > 10, data[0] == 0x93 else { throw TestFailure.fixture("\(path): not an npy file") }
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        guard header.contains("'|i1'") || header.contains("'|u1'") else { throw TestFailure.fixture("\(path): not a byte array: \(header)") }
        guard let open = header.firstIndex(of: "("), let close = header.firstIndex(of: ")") else {
            throw TestFailure.fixture("\(path): no shape")
        }
        let shape = header[header.index(after: open)..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        return (shape, Array(data[(10 + headerLength)...]))
    }
}

/// Max |a - b| and the smallest row cosine of two `[rows, cols]` matrices.
func rowAgreement(_ a: [Float], _ b: [Float], cols: Int) -> (maxAbs: Float, minCosine: Float) {
    var minCos: Float = 1
    for r in 0..<(a.count / cols) {
        var dot: Float = 0, na: Float = 0, nb: Float = 0
        for c in 0..<cols {
            let x = a[r * cols + c], y = b[r * cols + c]
            dot += x * y; na += x * x; nb += y * y
        }
        if na == 0 && nb == 0 { continue }
        minCos = min(minCos, dot / max((na * nb).squareRoot(), 1e-30))
    }
    return (maxAbsDiff(a, b), minCos)
}

@Suite("sentence-transformers fidelity (prompts, Dense, truncate_dim, quantization)")
struct SentenceTransformersFidelityTests {
    static let cases: [(String, String, EmbeddingOptions, Int)] = [
        ("prompts", "default", EmbeddingOptions(), 36),
        ("prompts", "prompt_name_passage", EmbeddingOptions(prompt: .named("passage")), 36),
        ("prompts", "prompt_name_document", EmbeddingOptions(prompt: .named("document")), 36),
        ("prompts", "prompt_text", EmbeddingOptions(prompt: .text("Represent this sentence: ")), 36),
        ("prompts", "truncate_dim_16", EmbeddingOptions(truncateDim: 16), 16),
        ("prompts", "truncate_dim_16_normalized", EmbeddingOptions(truncateDim: 16, normalizeAfterTruncation: true), 16),
        ("dense", "default", EmbeddingOptions(), 20),
        ("dense", "truncate_dim_8", EmbeddingOptions(truncateDim: 8), 8),
        ("lasttoken", "default", EmbeddingOptions(), 12),
        ("lasttoken", "prompt_empty", EmbeddingOptions(prompt: .text("")), 12),
    ]

    @Test("FeatureExtractor equals encode() for every fixture configuration (max abs <= 1e-5, cosine >= 0.99999)",
          arguments: 0..<10)
    func matchesEncode(_ index: Int) throws {
        let (name, label, options, width) = Self.cases[index]
        let texts = try STFixture.texts()
        let expected = try NpyArray(path: FixturePaths.file("st/\(name)/expected_\(label).npy"))
        #expect(expected.shape == [texts.count, width])
        let extractor = try FeatureExtractor(modelDirectory: STFixture.directory(name), batchSize: 3, output: options)
        #expect(extractor.dimension == width)
        let got = try extractor.extract(texts: texts).values
        let agreement = rowAgreement(got, expected.floats, cols: width)
        #expect(agreement.maxAbs <= 1e-5, "\(name)/\(label): max abs \(agreement.maxAbs)")
        #expect(agreement.minCosine >= 0.99999, "\(name)/\(label): min cosine \(agreement.minCosine)")
    }

    @Test("On OpenCL (PoCL here) too: the prompt exclusion and the head run on the host after the device's encoder",
          .enabled(if: !DeviceRegistry.system.openCLDevices.isEmpty), arguments: [0, 1, 6, 8])
    func matchesEncodeOnOpenCL(_ index: Int) throws {
        let (name, label, options, width) = Self.cases[index]
        let device = try #require(DeviceRegistry.system.openCLDevices.first)
        let texts = try STFixture.texts()
        let expected = try NpyArray(path: FixturePaths.file("st/\(name)/expected_\(label).npy"))
        let extractor = try FeatureExtractor(modelDirectory: STFixture.directory(name), batchSize: 3, device: device, output: options)
        let agreement = rowAgreement(try extractor.extract(texts: texts).values, expected.floats, cols: width)
        #expect(agreement.maxAbs <= 1e-5 && agreement.minCosine >= 0.99999, "\(name)/\(label) on \(device.id): \(agreement)")
    }

    @Test("The prompt changes the output, and include_prompt false excludes exactly the prompt's tokens")
    func promptIsApplied() throws {
        let extractor = try FeatureExtractor(modelDirectory: STFixture.directory("prompts"))
        #expect(extractor.prompt == "query: ")
        // [CLS] + 5 word pieces of "query: ", less the trailing [SEP].
        #expect(extractor.excludedPromptTokens == 6)  // sentence-transformers: _get_prompt_length("query: ") = 6
        let plain = try FeatureExtractor(modelDirectory: STFixture.directory("prompts"), output: EmbeddingOptions(prompt: .none))
        #expect(plain.prompt == nil && plain.excludedPromptTokens == 0)
        let a = try extractor.extractRows(texts: ["hello world"])[0]
        let b = try plain.extractRows(texts: ["hello world"])[0]
        #expect(maxAbsDiff(a, b) > 1e-3)
    }

    @Test("An unknown prompt name and an out-of-range truncate dim are refused with the valid values")
    func badOptionsRefused() throws {
        #expect(throws: FeaturizeError.self) {
            _ = try FeatureExtractor(modelDirectory: STFixture.directory("prompts"), output: EmbeddingOptions(prompt: .named("nope")))
        }
        do {
            _ = try FeatureExtractor(modelDirectory: STFixture.directory("prompts"), output: EmbeddingOptions(prompt: .named("nope")))
        } catch {
            #expect("\(error)".contains("document, passage, query"))
        }
        #expect(throws: FeaturizeError.self) {
            _ = try FeatureExtractor(modelDirectory: STFixture.directory("dense"), output: EmbeddingOptions(truncateDim: 21))
        }
    }

    @Test("quantize_embeddings: int8, uint8, binary, ubinary are bit-exact on the same float32 input",
          arguments: ["int8", "uint8", "binary", "ubinary"])
    func quantizationMatches(_ name: String) throws {
        let embeddings = try NpyArray(path: FixturePaths.file("st/prompts/expected_default.npy"))
        let rows = embeddings.shape[0], cols = embeddings.shape[1]
        let expected = try STFixture.bytes(FixturePaths.file("st/prompts/quantized_\(name).npy"))
        let precision = try #require(EmbeddingPrecision(rawValue: name))
        let ranges = try QuantizationRanges(calibration: embeddings.floats, rows: rows, cols: cols)
        let got = try EmbeddingQuantizer.quantize(embeddings.floats, rows: rows, cols: cols, precision: precision, ranges: ranges)
        #expect(expected.shape == [rows, precision.rowWidth(dimension: cols)])
        #expect(got == expected.values)
    }

    @Test("Unsupported sentence-transformers modules are refused by name")
    func unsupportedModuleRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("st-unsupported-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: STFixture.directory("dense"), toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let modules = """
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
         {"idx": 2, "name": "2", "path": "2_LayerNorm", "type": "sentence_transformers.models.LayerNorm"}]
        """
        try modules.write(toFile: dir + "/modules.json", atomically: true, encoding: .utf8)
        do {
            _ = try ModelSpec(path: dir)
            Issue.record("a LayerNorm module was accepted")
        } catch {
            #expect("\(error)".contains("LayerNorm"))
        }
    }
}
