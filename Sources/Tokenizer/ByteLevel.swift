/// GPT-2's reversible byte-to-character mapping used by byte-level BPE vocabularies: the printable bytes
/// `!`...`~`, `¡`...`¬`, `®`...`ÿ` map to themselves, the other 68 bytes to U+0100 onwards in byte order
/// (so the space byte 0x20 becomes `Ġ` U+0120).
enum ByteLevelAlphabet {
    /// `characters[b]` is the scalar that stands for byte `b`.
    static let characters: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The character for the space byte (`Ġ`).
    static let space: UInt32 = characters[0x20]
}

/// HF `ByteLevel` pre-tokenizer: per piece, prepends a space when `addPrefixSpace` and the piece does not start
/// with one (the space takes the origin of the piece's first scalar), splits it with GPT-2's pattern
/// (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, implemented over scalars with
/// character classes measured from HF) when `useRegex`, then rewrites every word's UTF-8 bytes as
/// `ByteLevelAlphabet` characters (each byte character keeps the origin of the scalar it came from).
/// `trimOffsets` is only used by the ByteLevel post-processor, as in HF.
public struct ByteLevelPreTokenizer: PreTokenizer {
    public let addPrefixSpace: Bool
    public let trimOffsets: Bool
    public let useRegex: Bool

    public init(addPrefixSpace: Bool = true, trimOffsets: Bool = true, useRegex: Bool = true) {
        self.addPrefixSpace = addPrefixSpace
        self.trimOffsets = trimOffsets
        self.useRegex = useRegex
    }

    public func preTokenize(_ text: inout NormalizedText, pieces: [TextSpan], into words: inout [TextSpan]) {
        var pieces = pieces
        if addPrefixSpace, pieces.contains(where: { !$0.isEmpty && text.scalars[$0.start] != 0x20 }) {
            // Insert the prefix spaces, shifting the pieces (scalars outside pieces are dropped).
            text.beginRewrite()
            var length = 0
            for k in pieces.indices {
                let piece = pieces[k]
                let start = length
                if !piece.isEmpty {
                    if text.scalars[piece.start] != 0x20 { text.emit(0x20, origin: text.origins[piece.start]); length += 1 }
                    for i in piece.start..<piece.end { text.emit(text.scalars[i], origin: text.origins[i]) }
                    length += piece.end - piece.start
                }
                pieces[k] = TextSpan(start: start, end: length)
            }
            text.commit()
        }
        let firstWord = words.count
        if useRegex {
            text.scalars.withUnsafeBufferPointer { scalars in
                for piece in pieces where !piece.isEmpty { Self.splitGPT2(scalars, piece, into: &words) }
            }
        } else {
            for piece in pieces where !piece.isEmpty { words.append(piece) }
        }
        Self.mapBytes(&text, words: &words, from: firstWord)
    }

    private enum CharacterClass { case letter, number, space, other }

    @inline(__always)
    private static func characterClass(_ scalar: UInt32) -> CharacterClass {
        if scalar < 0x80 {
            if (scalar >= 0x61 && scalar <= 0x7A) || (scalar >= 0x41 && scalar <= 0x5A) { return .letter }
            if scalar >= 0x30 && scalar <= 0x39 { return .number }
            if scalar == 0x20 || (scalar >= 0x09 && scalar <= 0x0D) { return .space }
            return .other
        }
        let flags = UnicodeProps.flags(of: scalar)
        if flags & UnicodeProps.letter != 0 { return .letter }
        if flags & UnicodeProps.number != 0 { return .number }
        if flags & UnicodeProps.gpt2Space != 0 { return .space }
        return .other
    }

    /// The words of GPT-2's pattern in `scalars[piece]` (leftmost-first alternation, as the regex engine does).
    static func splitGPT2(_ s: UnsafeBufferPointer<UInt32>, _ piece: TextSpan, into words: inout [TextSpan]) {
        let end = piece.end
        var i = piece.start
        while i < end {
            let c = s[i]
            var stop = -1
            if c == 0x27, i + 1 < end {  // 's 't 're 've 'm 'll 'd
                let c1 = s[i + 1]
                if c1 == 0x73 || c1 == 0x74 || c1 == 0x6D || c1 == 0x64 {
                    stop = i + 2
                } else if i + 2 < end {
                    let c2 = s[i + 2]
                    if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) { stop = i + 3 }
                }
            }
            if stop < 0 {
                var runStart = i
                var kind = characterClass(c)
                if c == 0x20, i + 1 < end {
                    let next = characterClass(s[i + 1])
                    if next != .space { runStart = i + 1; kind = next }
                }
                var j = runStart + 1
                while j < end, characterClass(s[j]) == kind { j += 1 }
                if kind != .space || j == end {
                    stop = j
                } else {
                    // \s+(?!\S): leave the last space for the next word; a single space stays alone (\s+).
                    stop = j - 1 > i ? j - 1 : j
                }
            }
            words.append(TextSpan(start: i, end: stop))
            i = stop
        }
    }

    /// Rewrites `text` so that it holds the byte characters of `words[from...]` (in order), and moves those
    /// spans onto the rewritten text.
    static func mapBytes(_ text: inout NormalizedText, words: inout [TextSpan], from first: Int) {
        text.beginRewrite()
        var length = 0
        ByteLevelAlphabet.characters.withUnsafeBufferPointer { table in
            for k in first..<words.count {
                let word = words[k]
                let start = length
                for i in word.start..<word.end {
                    let s = text.scalars[i], origin = text.origins[i]
                    if s < 0x80 {
                        text.emit(table[Int(s)], origin: origin); length += 1
                    } else if s < 0x800 {
                        text.emit(table[Int(0xC0 | (s >> 6))], origin: origin)
                        text.emit(table[Int(0x80 | (s & 0x3F))], origin: origin); length += 2
                    } else if s < 0x10000 {
                        text.emit(table[Int(0xE0 | (s >> 12))], origin: origin)
                        text.emit(table[Int(0x80 | ((s >> 6) & 0x3F))], origin: origin)
                        text.emit(table[Int(0x80 | (s & 0x3F))], origin: origin); length += 3
                    } else {
                        text.emit(table[Int(0xF0 | (s >> 18))], origin: origin)
                        text.emit(table[Int(0x80 | ((s >> 12) & 0x3F))], origin: origin)
                        text.emit(table[Int(0x80 | ((s >> 6) & 0x3F))], origin: origin)
                        text.emit(table[Int(0x80 | (s & 0x3F))], origin: origin); length += 4
                    }
                }
                words[k] = TextSpan(start: start, end: length)
            }
        }
        text.commit()
    }
}

extension ByteLevelPreTokenizer: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(addPrefixSpace: try fields.bool("add_prefix_space", default: true),
                  trimOffsets: try fields.bool("trim_offsets", default: true),
                  useRegex: try fields.bool("use_regex", default: true))
    }
}

/// The space counts of token strings for `SpaceTrimming` (HF `process_offsets`), by token id.
struct SpaceTrimmer: Sendable {
    /// `counts[id]` = leading spaces << 16 | trailing spaces of token `id` (0 for most tokens).
    private let counts: [UInt32]
    let addPrefixSpace: Bool

    init(tokenIds: [String: Int32], addPrefixSpace: Bool) {
        self.addPrefixSpace = addPrefixSpace
        var counts: [UInt32] = []
        for (token, id) in tokenIds {
            let packed = Self.spaces(token.unicodeScalars.map(\.value)[...])
            guard packed != 0 else { continue }
            if counts.count <= Int(id) { counts += [UInt32](repeating: 0, count: Int(id) + 1 - counts.count) }
            counts[Int(id)] = packed
        }
        self.counts = counts
    }

    @inline(__always) static func isSpace(_ scalar: UInt32) -> Bool {
        scalar == ByteLevelAlphabet.space || UnicodeProps.flags(of: scalar) & UnicodeProps.whitespace != 0
    }

    /// Leading spaces << 16 | trailing spaces of a token string.
    static func spaces(_ scalars: ArraySlice<UInt32>) -> UInt32 {
        let leading = scalars.prefix(while: isSpace).count
        let trailing = leading == scalars.count ? leading : scalars.reversed().prefix(while: isSpace).count
        return UInt32(min(leading, 0xFFFF)) << 16 | UInt32(min(trailing, 0xFFFF))
    }

    /// Space counts of token `id` from its vocabulary string.
    @inline(__always) func spaces(of id: Int32) -> UInt32 {
        Int(id) < counts.count && id >= 0 ? counts[Int(id)] : 0
    }

    /// The trimmed offsets of a token with space counts `packed`; `isFirst`: first token of its sequence.
    @inline(__always) func trim(_ offsets: (start: Int, end: Int), packed: UInt32, isFirst: Bool) -> (start: Int, end: Int) {
        guard packed != 0 else { return offsets }
        var leading = Int(packed >> 16)
        let trailing = Int(packed & 0xFFFF)
        var (start, end) = offsets
        if leading > 0 {
            if (isFirst || start == 0) && addPrefixSpace && leading == 1 { leading = 0 }
            start = min(start + leading, end)
        }
        if trailing > 0 && end >= trailing { end = max(end - trailing, start) }
        return (start, end)
    }
}

/// HF `ByteLevel` post-processor: no special tokens; trims offsets off spaces when `trimOffsets`.
public struct ByteLevelPostProcessor: PostProcessor {
    public var prefix: [SpecialTokenPlacement] { [] }
    public var suffix: [SpecialTokenPlacement] { [] }
    public var sequenceTypeId: Int32 { 0 }
    public let spaceTrimming: SpaceTrimming?

    public init(trimOffsets: Bool, addPrefixSpace: Bool) {
        spaceTrimming = trimOffsets ? SpaceTrimming(addPrefixSpace: addPrefixSpace) : nil
    }
}

extension ByteLevelPostProcessor: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(trimOffsets: try fields.bool("trim_offsets", default: true),
                  addPrefixSpace: try fields.bool("add_prefix_space", default: true))
    }
}

/// HF `RobertaProcessing`: `cls A sep`, pair `cls A sep sep B sep`, every type id 0; with `trimOffsets`, the
/// sequences' offsets are trimmed off spaces as `ByteLevel` does.
public struct RobertaProcessing: PostProcessor {
    public let prefix: [SpecialTokenPlacement]
    public let suffix: [SpecialTokenPlacement]
    public var sequenceTypeId: Int32 { 0 }
    public var pairPrefix: [SpecialTokenPlacement] { suffix }
    public var pairSuffix: [SpecialTokenPlacement] { suffix }
    public var pairSequenceTypeId: Int32 { 0 }
    public let spaceTrimming: SpaceTrimming?

    public init(clsId: Int32, sepId: Int32, trimOffsets: Bool = true, addPrefixSpace: Bool = true) {
        prefix = [SpecialTokenPlacement(id: clsId, typeId: 0)]
        suffix = [SpecialTokenPlacement(id: sepId, typeId: 0)]
        spaceTrimming = trimOffsets ? SpaceTrimming(addPrefixSpace: addPrefixSpace) : nil
    }
}

extension RobertaProcessing: JSONLoadable {
    init(json fields: JSONFields, context: ComponentContext) throws {
        self.init(clsId: try fields.tokenIdPair("cls"), sepId: try fields.tokenIdPair("sep"),
                  trimOffsets: try fields.bool("trim_offsets", default: true),
                  addPrefixSpace: try fields.bool("add_prefix_space", default: true))
    }
}
