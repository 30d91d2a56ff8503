/// One special token placed around a sequence by a post-processor.
public struct SpecialTokenPlacement: Sendable, Equatable {
    public var id: Int32
    public var typeId: Int32
    public init(id: Int32, typeId: Int32) { self.id = id; self.typeId = typeId }
}

/// A post-processor adds special tokens around a single encoded sequence (HF `post_processor` section).
public protocol PostProcessor: Sendable {
    /// Special tokens before the sequence.
    var prefix: [SpecialTokenPlacement] { get }
    /// Special tokens after the sequence.
    var suffix: [SpecialTokenPlacement] { get }
    /// Type id of the sequence's own tokens.
    var sequenceTypeId: Int32 { get }
}

/// HF `TemplateProcessing` (single-sequence template, e.g. `[CLS]:0 $A:0 [SEP]:0`).
public struct TemplateProcessing: PostProcessor {
    public let prefix: [SpecialTokenPlacement]
    public let suffix: [SpecialTokenPlacement]
    public let sequenceTypeId: Int32

    public init(prefix: [SpecialTokenPlacement], sequenceTypeId: Int32, suffix: [SpecialTokenPlacement]) {
        self.prefix = prefix
        self.suffix = suffix
        self.sequenceTypeId = sequenceTypeId
    }
}

/// HF `BertProcessing`: `cls` + sequence + `sep`, all with type id 0.
public struct BertProcessing: PostProcessor {
    public let prefix: [SpecialTokenPlacement]
    public let suffix: [SpecialTokenPlacement]
    public var sequenceTypeId: Int32 { 0 }

    public init(clsId: Int32, sepId: Int32) {
        prefix = [SpecialTokenPlacement(id: clsId, typeId: 0)]
        suffix = [SpecialTokenPlacement(id: sepId, typeId: 0)]
    }
}
