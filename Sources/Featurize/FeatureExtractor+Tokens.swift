import Foundation
import Pooling
import Tokenizer

/// Token-level features (`--pooling none`): every token's vector, ragged over texts. Row `r`'s tokens are
/// `offsets[r]..<offsets[r + 1]` of `values` `[totalTokens, columns]`.
public struct TokenFeatures: Sendable, Equatable {
    /// `[totalTokens, columns]`, row-major.
    public var values: [Float]
    public var columns: Int
    /// `[texts + 1]`: where each text's tokens start; the last entry is `totalTokens`.
    public var offsets: [Int]
    /// `[totalTokens]`: the token ids (special tokens and the prompt included, as the encoder saw them).
    public var tokenIds: [Int32]
    /// `[totalTokens]`: Unicode-scalar offsets `[start, end)` into the text as encoded (prompt + text); (0, 0)
    /// for special tokens.
    public var characterOffsets: [[Int]]

    public var totalTokens: Int { tokenIds.count }
}

extension FeatureExtractor {
    /// Every token's hidden state of the spec's layers (concatenated layer-major, or averaged with layer reduce
    /// `mean`), for every text; no pooling, no head (`SentenceTransformer.encode(output_value="token_embeddings")`
    /// with the last layer).
    public func extractTokens(texts: [String]) throws -> TokenFeatures {
        let hidden = model.config.hiddenSize
        let layers = try spec.resolvedLayers(numLayers: model.config.numLayers)
        let width = spec.layerReduce == .mean ? hidden : hidden * layers.count
        var result = TokenFeatures(values: [], columns: width, offsets: [0], tokenIds: [], characterOffsets: [])
        var start = 0
        while start < texts.count {
            let encodings = tokenize(Array(texts[start..<min(start + batchSize, texts.count)]))
            let batch = encodings.count
            let (ids, types, lengths, seq) = paddedInputs(encodings)
            let states = try encoder.forward(ids: ids, typeIds: types, lengths: lengths, batch: batch, seq: seq,
                                             layers: Array(Set(layers)).sorted())
            var host: [Int: [Float]] = [:]
            for layer in Set(layers) {
                guard let state = states[layer] else { throw FeaturizeError.invalidOption("layer \(layer) was not computed") }
                var values = [Float](repeating: 0, count: batch * seq * hidden)
                try values.withUnsafeMutableBufferPointer { try backend.download(state, offset: 0, into: $0) }
                host[layer] = values
            }
            for (b, e) in encodings.enumerated() {
                for t in 0..<e.count {
                    var row = [Float](repeating: 0, count: width)
                    for (li, layer) in layers.enumerated() {
                        let source = host[layer]!
                        let base = (b * seq + t) * hidden
                        let target = spec.layerReduce == .mean ? 0 : li * hidden
                        for c in 0..<hidden { row[target + c] += source[base + c] }
                    }
                    if spec.layerReduce == .mean && layers.count > 1 { row = row.map { $0 / Float(layers.count) } }
                    result.values += row
                    result.tokenIds.append(e.ids[t])
                    result.characterOffsets.append([e.offsets[t].start, e.offsets[t].end])
                }
                result.offsets.append(result.tokenIds.count)
            }
            start += batch
        }
        return result
    }
}

/// Writes `TokenFeatures` as `.safetensors` (tensors `features` F32 `[total_tokens, dim]`, `offsets` I64
/// `[rows + 1]`, `token_ids` I32 `[total_tokens]`, `char_offsets` I64 `[total_tokens, 2]`) or `.jsonl` (one
/// object per text: `token_ids`, `char_offsets`, `features` as a list of vectors).
public enum TokenFeaturesFile {
    public static func write(_ tokens: TokenFeatures, to path: String, metadata: [String: String] = [:]) throws {
        if path.hasSuffix(".jsonl") {
            var text = ""
            for r in 0..<(tokens.offsets.count - 1) {
                let range = tokens.offsets[r]..<tokens.offsets[r + 1]
                let ids = range.map { String(tokens.tokenIds[$0]) }.joined(separator: ",")
                let chars = range.map { "[\(tokens.characterOffsets[$0][0]),\(tokens.characterOffsets[$0][1])]" }.joined(separator: ",")
                let vectors = range.map { t in
                    "[" + (0..<tokens.columns).map { "\(tokens.values[t * tokens.columns + $0])" }.joined(separator: ",") + "]"
                }.joined(separator: ",")
                text += "{\"token_ids\":[\(ids)],\"char_offsets\":[\(chars)],\"features\":[\(vectors)]}\n"
            }
            try AtomicFile.save(Array(text.utf8), to: path)
            return
        }
        guard path.hasSuffix(".safetensors") else {
            throw FeaturizeError.invalidOption("token-level output (--pooling none) is written as .safetensors or .jsonl, got '\(path)'")
        }
        var body = Data()
        var entries: [String] = []
        func add(_ name: String, dtype: String, shape: [Int], bytes: Data) {
            let begin = body.count
            body.append(bytes)
            entries.append("\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(begin),\(body.count)]}")
        }
        func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> Data {
            var d = Data(capacity: values.count * MemoryLayout<T>.size)
            for v in values { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
            return d
        }
        add("features", dtype: "F32", shape: [tokens.totalTokens, tokens.columns], bytes: littleEndian(tokens.values.map(\.bitPattern)))
        add("offsets", dtype: "I64", shape: [tokens.offsets.count], bytes: littleEndian(tokens.offsets.map(Int64.init)))
        add("token_ids", dtype: "I32", shape: [tokens.totalTokens], bytes: littleEndian(tokens.tokenIds))
        add("char_offsets", dtype: "I64", shape: [tokens.totalTokens, 2], bytes: littleEndian(tokens.characterOffsets.flatMap { $0.map(Int64.init) }))
        let meta = metadata.sorted { $0.key < $1.key }.map { "\"\(jsonEscape($0.key))\":\"\(jsonEscape($0.value))\"" }.joined(separator: ",")
        var header = "{" + (meta.isEmpty ? "" : "\"__metadata__\":{\(meta)},") + entries.joined(separator: ",") + "}"
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        var file = littleEndian([UInt64(header.utf8.count)])
        file.append(contentsOf: Array(header.utf8))
        file.append(body)
        try AtomicFile.save([UInt8](file), to: path)
    }

    private static func jsonEscape(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
