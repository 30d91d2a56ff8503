import Foundation

/// One special token placed around a sequence by a post-processor.
public struct SpecialTokenPlacement: Sendable, Equatable {
    public var id: Int32
    public var typeId: Int32
    public init(id: Int32, typeId: Int32) { self.id = id; self.typeId = typeId }
}

/// The post-processor stage (HF `post_processor` section): adds special tokens around an encoded sequence
/// (single: `prefix A suffix`; pair: `prefix A suffix pairPrefix B pairSuffix`) and may adjust the sequences'
/// offsets (e.g. `RobertaProcessing` trims offsets off spaces).
public protocol PostProcessor: Sendable {
    /// Special tokens before the (first) sequence.
    var prefix: [SpecialTokenPlacement] { get }
    /// Special tokens after the (first) sequence.
    var suffix: [SpecialTokenPlacement] { get }
    /// Type id of the (first) sequence's own tokens.
    var sequenceTypeId: Int32 { get }
    /// Pair form: special tokens before the second sequence (after `suffix`).
    var pairPrefix: [SpecialTokenPlacement] { get }
    /// Pair form: special tokens after the second sequence.
    var pairSuffix: [SpecialTokenPlacement] { get }
    /// Pair form: type id of the second sequence's own tokens.
    var pairSequenceTypeId: Int32 { get }
    /// Adjusts the offsets of one sequence's own tokens, after truncation and before special tokens are added:
    /// `ids[range]` with `offsets[range]` (original scalar offsets). Default: nothing.
    func adjustOffsets(ids: [Int32], offsets: inout [(start: Int, end: Int)], range: Range<Int>)
    /// Whether (and how) the sequences' offsets are trimmed off spaces, as HF's `process_offsets` does for
    /// `ByteLevel` and `RobertaProcessing` (applied by the tokenizer, which knows each token's string). Default: nil.
    var spaceTrimming: SpaceTrimming? { get }
}

/// Offsets trimming of HF's `process_offsets`: a token's offsets lose as many characters as its string has
/// leading and trailing spaces (`Ġ` or whitespace), except one leading space of the first token when
/// `addPrefixSpace` (that space was added by the pre-tokenizer, it is not in the text).
public struct SpaceTrimming: Sendable, Equatable {
    public var addPrefixSpace: Bool
    public init(addPrefixSpace: Bool) { self.addPrefixSpace = addPrefixSpace }
}

extension PostProcessor {
    public var pairPrefix: [SpecialTokenPlacement] { [] }
    public var pairSuffix: [SpecialTokenPlacement] { suffix }
    public var pairSequenceTypeId: Int32 { sequenceTypeId }
    public func adjustOffsets(ids: [Int32], offsets: inout [(start: Int, end: Int)], range: Range<Int>) {}
    public var spaceTrimming: SpaceTrimming? { nil }
}

/// HF `TemplateProcessing` (e.g. single `[CLS]:0 $A:0 [SEP]:0`, pair `... $B:1 [SEP]:1`).
public struct TemplateProcessing: PostProcessor {
    public let prefix: [SpecialTokenPlacement]
    public let suffix: [SpecialTokenPlacement]
    public let sequenceTypeId: Int32
    public let pairPrefix: [SpecialTokenPlacement]
    public let pairSuffix: [SpecialTokenPlacement]
    public let pairSequenceTypeId: Int32

    public init(prefix: [SpecialTokenPlacement], sequenceTypeId: Int32, suffix: [SpecialTokenPlacement],
                pairPrefix: [SpecialTokenPlacement] = [], pairSequenceTypeId: Int32? = nil,
                pairSuffix: [SpecialTokenPlacement]? = nil) {
        self.prefix = prefix
        self.suffix = suffix
        self.sequenceTypeId = sequenceTypeId
        self.pairPrefix = pairPrefix
        self.pairSequenceTypeId = pairSequenceTypeId ?? sequenceTypeId
        self.pairSuffix = pairSuffix ?? suffix
    }
}

/// HF `BertProcessing`: `cls A sep` (type 0), pair `cls A sep B sep` with B and its `sep` of type 1.
public struct BertProcessing: PostProcessor {
    public let prefix: [SpecialTokenPlacement]
    public let suffix: [SpecialTokenPlacement]
    public var sequenceTypeId: Int32 { 0 }
    public let pairSuffix: [SpecialTokenPlacement]
    public var pairSequenceTypeId: Int32 { 1 }

    public init(clsId: Int32, sepId: Int32) {
        prefix = [SpecialTokenPlacement(id: clsId, typeId: 0)]
        suffix = [SpecialTokenPlacement(id: sepId, typeId: 0)]
        pairSuffix = [SpecialTokenPlacement(id: sepId, typeId: 1)]
    }
}

// MARK: - Loading from tokenizer.json (registered in TokenizerComponents)

extension JSONFields {
    /// A `[token, id]` pair (BertProcessing/RobertaProcessing `cls`, `sep`); returns the id.
    func tokenIdPair(_ key: String) throws -> Int32 {
        let items = try array(key)
        guard items.count == 2, case .string = items[0], case let .value(number)? = items[1].integerReading,
              let id = Int32(exactly: number), id >= 0 else {
            throw TokenizerError.invalidField(path: path, field: name(key), detail: "expected [token, id]")
        }
        return id
    }
}

extension BertProcessing: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(clsId: try fields.tokenIdPair("cls"), sepId: try fields.tokenIdPair("sep"))
    }
}

extension TemplateProcessing: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        let specials = try fields.object("special_tokens")
        /// Reads a template: special tokens before the first sequence, the sequences' type ids, and the special
        /// tokens after each sequence.
        func read(_ key: String, sequences: Int) throws -> (before: [SpecialTokenPlacement], types: [Int32], after: [[SpecialTokenPlacement]]) {
            var before: [SpecialTokenPlacement] = [], types: [Int32] = [], after: [[SpecialTokenPlacement]] = []
            for item in try fields.objects(key) {
                if item.has("Sequence") {
                    let sequence = try item.object("Sequence")
                    let name = try sequence.string("id")
                    guard types.count < sequences, name == (types.isEmpty ? "A" : "B") else {
                        throw TokenizerError.invalidField(path: fields.path, field: item.prefix,
                                                          detail: "unexpected sequence '\(name)' in the \(key) template")
                    }
                    types.append(Int32(clamping: try sequence.int("type_id")))
                    after.append([])
                } else {
                    let special = try item.object("SpecialToken")
                    let name = try special.string("id")
                    let typeId = Int32(clamping: try special.int("type_id"))
                    let entry = try specials.object(name)
                    for (index, value) in try entry.array("ids").enumerated() {
                        guard case let .value(number)? = value.integerReading, let id = Int32(exactly: number), id >= 0 else {
                            throw TokenizerError.invalidField(path: fields.path, field: "\(entry.name("ids"))[\(index)]", detail: "expected a token id")
                        }
                        let placement = SpecialTokenPlacement(id: id, typeId: typeId)
                        if types.isEmpty { before.append(placement) } else { after[after.count - 1].append(placement) }
                    }
                }
            }
            return (before, types, after)
        }
        let single = try read("single", sequences: 1)
        guard single.types.count <= 1 else {
            throw TokenizerError.invalidField(path: fields.path, field: fields.name("single"), detail: "more than one sequence in the single template")
        }
        var pairPrefix: [SpecialTokenPlacement] = [], pairType: Int32? = nil, pairSuffix: [SpecialTokenPlacement]? = nil
        if fields.has("pair") {
            let pair = try read("pair", sequences: 2)
            if pair.types.count == 2 {
                pairPrefix = pair.after[0].dropFirst(single.after.first?.count ?? 0).map { $0 }
                pairType = pair.types[1]
                pairSuffix = pair.after[1]
            }
        }
        self.init(prefix: single.before, sequenceTypeId: single.types.first ?? 0, suffix: single.after.first ?? [],
                  pairPrefix: pairPrefix, pairSequenceTypeId: pairType, pairSuffix: pairSuffix)
    }
}
