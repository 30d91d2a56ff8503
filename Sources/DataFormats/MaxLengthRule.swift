/// The one rule for the maximum sequence length (tokens, special tokens included) of a model directory, used
/// by the model resolver (`ModelSpec`), `ModelDirectory` and the tokenizer loader alike. It is the length
/// sentence-transformers truncates at:
///
/// 1. an explicit length (`--max-length`, `maxLength:`), else
/// 2. `max_seq_length` of `sentence_bert_config.json`, else
/// 3. `model_max_length` of `tokenizer_config.json` (values of 1e9 and above are transformers' "unset"
///    sentinel, e.g. 1e30), else
/// 4. the usable positions of `config.json`;
///
/// never above the usable positions: `max_position_embeddings`, less `padding_idx + 1` for models that number
/// positions after the padding index (RoBERTa, XLM-R, CamemBERT: `pad_token_id`; MPNet: always 1), so 514 -> 512.
/// Without any of these (a bare tokenizer), nil: no truncation.
public enum MaxLengthRule {
    /// `model_type`s whose position ids start at `padding_idx + 1`.
    public static let offsetPositionModelTypes: Set<String> = ["roberta", "xlm-roberta", "camembert", "mpnet"]

    /// The padding index positions are numbered after, or nil when positions start at 0.
    public static func positionPaddingIndex(modelType: String, padTokenId: Int?) -> Int? {
        guard offsetPositionModelTypes.contains(modelType) else { return nil }
        return modelType == "mpnet" ? 1 : (padTokenId ?? 1)
    }

    /// Positions a sequence may use (see the type's documentation).
    public static func usablePositions(maxPositionEmbeddings: Int, modelType: String, padTokenId: Int?) -> Int {
        maxPositionEmbeddings - (positionPaddingIndex(modelType: modelType, padTokenId: padTokenId).map { $0 + 1 } ?? 0)
    }

    /// Applies the rule. `tokenizerModelMaxLength` is the raw number (sentinels included).
    public static func resolve(explicit: Int?, sentenceTransformersMaxSeqLength: Int?, tokenizerModelMaxLength: Double?,
                               usablePositions: Int?) -> Int? {
        let fromTokenizer = tokenizerModelMaxLength.flatMap { $0 >= 1 && $0 < 1e9 && $0.rounded() == $0 ? Int($0) : nil }
        guard let chosen = explicit ?? sentenceTransformersMaxSeqLength ?? fromTokenizer ?? usablePositions else { return nil }
        return usablePositions.map { min(chosen, $0) } ?? chosen
    }
}
