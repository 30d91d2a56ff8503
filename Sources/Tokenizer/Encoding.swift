/// The result of tokenizing one text. All arrays have one entry per token (`[seq]`), special tokens included.
public struct Encoding: Sendable {
    /// Token ids.
    public var ids: [Int32]
    /// Token type (segment) ids; 0 for a single sequence with BERT templates.
    public var typeIds: [Int32]
    /// 1 for every token (no padding inside an `Encoding`).
    public var attentionMask: [Int32]
    /// Character (Unicode scalar) offsets `[start, end)` into the original text; `(0, 0)` for special tokens
    /// added by the post-processor (HF semantics).
    public var offsets: [(start: Int, end: Int)]
    /// The token sequence was cut to the maximum length.
    public var wasTruncated: Bool
    /// The text was longer than 250 × max length characters and only that prefix was tokenized.
    public var wasCharCapped: Bool

    public init(ids: [Int32], typeIds: [Int32], attentionMask: [Int32], offsets: [(start: Int, end: Int)],
                wasTruncated: Bool, wasCharCapped: Bool) {
        self.ids = ids; self.typeIds = typeIds; self.attentionMask = attentionMask; self.offsets = offsets
        self.wasTruncated = wasTruncated; self.wasCharCapped = wasCharCapped
    }

    /// Number of tokens.
    public var count: Int { ids.count }
}

/// Encodings padded to a common length: the longest in the batch, rounded up to a multiple of
/// `padToMultipleOf` if given. Arrays are row-major `[batch, seq]` flattened; padding positions have the pad id,
/// the pad type id and attention mask 0.
public struct PaddedBatch: Sendable {
    public let ids: [Int32]
    public let typeIds: [Int32]
    public let attentionMask: [Int32]
    /// Unpadded length of each row, `[batch]`.
    public let lengths: [Int32]
    public let batch: Int
    public let seq: Int

    public init(_ encodings: [Encoding], padId: Int32, padTypeId: Int32 = 0, padToMultipleOf: Int? = nil) {
        var seq = encodings.map(\.count).max() ?? 0
        if let multiple = padToMultipleOf, multiple > 1, seq % multiple != 0 { seq += multiple - seq % multiple }
        var ids = [Int32](repeating: padId, count: encodings.count * seq)
        var typeIds = [Int32](repeating: padTypeId, count: encodings.count * seq)
        var mask = [Int32](repeating: 0, count: encodings.count * seq)
        for (row, encoding) in encodings.enumerated() {
            let base = row * seq
            for j in 0..<encoding.count {
                ids[base + j] = encoding.ids[j]
                typeIds[base + j] = encoding.typeIds[j]
                mask[base + j] = encoding.attentionMask[j]
            }
        }
        self.ids = ids
        self.typeIds = typeIds
        self.attentionMask = mask
        self.lengths = encodings.map { Int32($0.count) }
        self.batch = encodings.count
        self.seq = seq
    }
}
