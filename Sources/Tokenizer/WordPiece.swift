import Foundation

/// An open-addressing hash table from UTF-8 byte strings to token ids. Lookups hash a byte range with a
/// polynomial rolling hash, so a word's prefix hashes give every substring's hash in O(1) without allocating.
/// Storage is raw memory owned by the table (immutable after init), so concurrent lookups from several threads
/// touch no reference counts.
final class ByteStringTable: @unchecked Sendable {
    static let multiplier: UInt64 = 0x100000001B3

    private let keyBytes: UnsafeMutablePointer<UInt8>
    /// Per entry: byte offset of the key, key length, id.
    private let entries: UnsafeMutablePointer<(start: Int32, length: Int32, id: Int32)>
    /// Per slot: `UInt64.max` when empty, else (32-bit hash tag << 32 | entry index); the tag spares loading
    /// the entry on most probes that miss.
    private let slots: UnsafeMutablePointer<UInt64>
    private let mask: Int
    /// Number of distinct keys.
    let count: Int
    /// Length in bytes of the longest key.
    let maxKeyLength: Int

    init(_ input: [(key: [UInt8], id: Int32)]) {
        var capacity = 16
        while capacity < input.count * 2 { capacity <<= 1 }
        let mask = capacity - 1
        let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        slots.initialize(repeating: .max, count: capacity)
        let totalBytes = input.reduce(0) { $0 + $1.key.count }
        let keyBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, totalBytes))
        let entries = UnsafeMutablePointer<(start: Int32, length: Int32, id: Int32)>.allocate(capacity: max(1, input.count))
        var used = 0, byteCount = 0, longest = 0
        for (key, id) in input {
            let hash = Self.hash(key)
            var slot = Self.slot(hash, mask)
            var duplicate = false
            while slots[slot] != .max {
                let entry = entries[Int(truncatingIfNeeded: slots[slot] & 0xFFFF_FFFF)]
                if Int(entry.length) == key.count {
                    var k = 0
                    while k < key.count, keyBytes[Int(entry.start) + k] == key[k] { k += 1 }
                    if k == key.count { duplicate = true; break }
                }
                slot = (slot + 1) & mask
            }
            if duplicate { continue }  // first id wins
            for (k, byte) in key.enumerated() { keyBytes[byteCount + k] = byte }
            entries[used] = (Int32(byteCount), Int32(key.count), id)
            slots[slot] = (hash >> 32) << 32 | UInt64(used)
            byteCount += key.count
            used += 1
            longest = max(longest, key.count)
        }
        self.mask = mask
        self.slots = slots
        self.keyBytes = keyBytes
        self.entries = entries
        count = used
        maxKeyLength = longest
    }

    deinit {
        keyBytes.deallocate()
        entries.deallocate()
        slots.deallocate()
    }

    static func hash(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0
        for byte in bytes { h = h &* multiplier &+ UInt64(byte) &+ 1 }
        return h
    }

    @inline(__always) static func slot(_ hash: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (hash &* 0x9E3779B97F4A7C15) >> 20) & mask
    }

    /// The id of `bytes[start..<end]`, whose hash is `hash`, or -1.
    @inline(__always)
    func lookup(hash: UInt64, bytes: UnsafeBufferPointer<UInt8>, start: Int, end: Int) -> Int32 {
        let length = end - start
        let tag = hash >> 32
        var slot = Self.slot(hash, mask)
        while true {
            let value = slots[slot]
            if value == .max { return -1 }
            if value >> 32 == tag, case let entry = entries[Int(truncatingIfNeeded: value & 0xFFFF_FFFF)], Int(entry.length) == length {
                let key = keyBytes + Int(entry.start)
                var k = 0
                while k < length, key[k] == bytes[start + k] { k += 1 }
                if k == length { return entry.id }
            }
            slot = (slot + 1) & mask
        }
    }

    /// The id of `string`, or nil.
    func lookup(_ string: String) -> Int32? {
        let bytes = Array(string.utf8)
        let id = bytes.withUnsafeBufferPointer { lookup(hash: Self.hash(bytes), bytes: $0, start: 0, end: bytes.count) }
        return id >= 0 ? id : nil
    }
}

/// HF `WordPiece` model: greedy longest-match-first segmentation of each word into vocabulary pieces;
/// pieces after the first carry `continuingSubwordPrefix`. A word with more than `maxInputCharsPerWord`
/// scalars, or with a part that no piece matches, becomes the single unknown token.
public final class WordPieceModel: TokenizerModel, @unchecked Sendable {
    /// Token string -> id.
    public let vocab: [String: Int32]
    public let unknownToken: String
    public let unknownId: Int32
    public let continuingSubwordPrefix: String
    public let maxInputCharsPerWord: Int
    let wordTable: ByteStringTable
    let continuationTable: ByteStringTable
    /// multiplier^k for k up to the longest key length (substring hashes from prefix hashes); raw memory owned
    /// by the model so hot-loop reads touch no reference count.
    private let powers: UnsafeMutablePointer<UInt64>

    /// Builds the model; throws `unknownToken` if `unknownToken` is not in `vocab`.
    public init(vocab: [String: Int32], unknownToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                maxInputCharsPerWord: Int = 100, source: String) throws {
        guard let unknownId = vocab[unknownToken] else { throw TokenizerError.unknownToken(path: source, token: unknownToken) }
        self.vocab = vocab
        self.unknownToken = unknownToken
        self.unknownId = unknownId
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharsPerWord = maxInputCharsPerWord
        // Deterministic insertion order (by id) so duplicate keys resolve the same way every run.
        let sorted = vocab.sorted { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }
        wordTable = ByteStringTable(sorted.map { (Array($0.key.utf8), $0.value) })
        let prefix = Array(continuingSubwordPrefix.utf8)
        continuationTable = ByteStringTable(sorted.compactMap { entry in
            let bytes = Array(entry.key.utf8)
            guard bytes.count > prefix.count, bytes.starts(with: prefix) else { return nil }
            return (Array(bytes[prefix.count...]), entry.value)
        })
        let longest = max(wordTable.maxKeyLength, continuationTable.maxKeyLength)
        powers = .allocate(capacity: longest + 1)
        powers[0] = 1
        for k in stride(from: 1, through: longest, by: 1) { powers[k] = powers[k - 1] &* ByteStringTable.multiplier }
    }

    deinit {
        powers.deallocate()
    }

    /// Tokenizes one word: its UTF-8 bytes are matched greedily against the vocabulary (hashing byte ranges, no
    /// strings built); each piece's byte range is mapped back to the word's scalars.
    public func tokenize(word: TextSpan, in text: NormalizedText, scratch: inout ModelScratch, into tokens: inout [ModelToken]) {
        let scalarCount = word.end - word.start
        if scalarCount > maxInputCharsPerWord {
            tokens.append(ModelToken(id: unknownId, start: Int32(word.start), end: Int32(word.end)))
            return
        }
        scratch.loadUTF8(word, from: text)
        let firstPiece = tokens.count
        let failed = scratch.bytes.withUnsafeBufferPointer { bytes in
            greedyPieces(bytes, prefixHashes: &scratch.hashes, into: &tokens)
        }
        if failed {
            tokens.removeSubrange(firstPiece...)
            tokens.append(ModelToken(id: unknownId, start: Int32(word.start), end: Int32(word.end)))
            return
        }
        scratch.byteScalars.withUnsafeBufferPointer { byteScalars in
            for k in firstPiece..<tokens.count {
                tokens[k].start = byteScalars[Int(tokens[k].start)]
                tokens[k].end = byteScalars[Int(tokens[k].end) - 1] + 1
            }
        }
    }

    /// Greedy longest-match-first over UTF-8 `bytes`, appending pieces with byte ranges; returns true (and leaves
    /// partial pieces) when some part matches no piece.
    @inline(__always)
    private func greedyPieces(_ bytes: UnsafeBufferPointer<UInt8>, prefixHashes: inout [UInt64], into tokens: inout [ModelToken]) -> Bool {
        let n = bytes.count
        // prefixHashes[i] = hash of bytes[0..<i]
        prefixHashes.removeAll(keepingCapacity: true)
        var h: UInt64 = 0
        prefixHashes.append(0)
        for i in 0..<n {
            h = h &* ByteStringTable.multiplier &+ UInt64(bytes[i]) &+ 1
            prefixHashes.append(h)
        }
        let powers = self.powers
        let wordTable = self.wordTable, continuationTable = self.continuationTable
        return prefixHashes.withUnsafeBufferPointer { hashes -> Bool in
            var start = 0
            while start < n {
                let isFirst = start == 0
                var end = min(n, start + (isFirst ? wordTable.maxKeyLength : continuationTable.maxKeyLength))
                // Do not start probing in the middle of a UTF-8 sequence.
                while end > start, end < n, bytes[end] & 0xC0 == 0x80 { end -= 1 }
                var id: Int32 = -1
                while end > start {
                    let hash = hashes[end] &- hashes[start] &* powers[end - start]
                    id = isFirst ? wordTable.lookup(hash: hash, bytes: bytes, start: start, end: end)
                                 : continuationTable.lookup(hash: hash, bytes: bytes, start: start, end: end)
                    if id >= 0 { break }
                    end -= 1
                    while end > start, bytes[end] & 0xC0 == 0x80 { end -= 1 }
                }
                if id < 0 { return true }
                tokens.append(ModelToken(id: id, start: Int32(start), end: Int32(end)))
                start = end
            }
            return false
        }
    }
}

extension WordPieceModel: JSONLoadable {
    /// HF `WordPiece` model object: `vocab` (token -> id), `unk_token`, `continuing_subword_prefix`,
    /// `max_input_chars_per_word`.
    convenience init(json fields: JSONFields, context: ComponentContext) throws {
        let vocab = try fields.vocabulary()
        try self.init(vocab: vocab, unknownToken: try fields.optionalString("unk_token") ?? "[UNK]",
                  continuingSubwordPrefix: try fields.optionalString("continuing_subword_prefix") ?? "##",
                  maxInputCharsPerWord: try fields.optionalInt("max_input_chars_per_word") ?? 100, source: fields.path)
    }
}

extension JSONFields {
    /// The `vocab` object of a model (token -> non-negative id).
    func vocabulary() throws -> [String: Int32] {
        let vocabFields = try object("vocab")
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(vocabFields.members.count)
        for (token, value) in vocabFields.members {
            guard case let .value(number)? = value.integerReading, let id = Int32(exactly: number), id >= 0 else {
                throw TokenizerError.invalidField(path: path, field: vocabFields.name(token), detail: "expected a token id")
            }
            vocab[token] = id
        }
        return vocab
    }
}
