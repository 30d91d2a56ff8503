import Scheduler

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
    /// with the last layer). Batched as `extract(texts:)`; `featurize extract --pooling none` streams the same
    /// rows to a file (`TokenFeaturesFile`).
    public func extractTokens(texts: [String], batching: BatchingPolicy? = nil) throws -> TokenFeatures {
        let rows = try outputs(of: texts.enumerated().map { InputRecord(row: $0.offset, text: $0.element) },
                               shape: .texts, tokenLevel: true, batching: batching)
        var result = TokenFeatures(values: [], columns: tokenWidth, offsets: [0], tokenIds: [], characterOffsets: [])
        for row in rows {
            result.values += row.values
            result.tokenIds += row.tokens?.ids ?? []
            result.characterOffsets += (row.tokens?.offsets ?? []).map { [$0.start, $0.end] }
            result.offsets.append(result.tokenIds.count)
        }
        return result
    }
}
