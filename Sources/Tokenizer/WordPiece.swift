/// An open-addressing hash table from UTF-8 byte strings to token ids. Lookups hash a byte range with a
/// polynomial rolling hash, so a word's prefix hashes give every substring's hash in O(1) without allocating.
struct ByteStringTable: Sendable {
    static let multiplier: UInt64 = 0x100000001B3

    private var keyBytes: [UInt8] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var ids: [Int32] = []
    private var slots: [Int32] = []
    private var mask: Int = 0
    /// Length in bytes of the longest key.
    private(set) var maxKeyLength = 0

    init(_ entries: [(key: [UInt8], id: Int32)]) {
        var capacity = 16
        while capacity < entries.count * 2 { capacity <<= 1 }
        slots = [Int32](repeating: -1, count: capacity)
        mask = capacity - 1
        for (key, id) in entries {
            let hash = Self.hash(key[...])
            if find(hash: hash, bytes: key[...]) != nil { continue }  // first id wins
            let index = Int32(ids.count)
            keyStart.append(Int32(keyBytes.count))
            keyLength.append(Int32(key.count))
            keyBytes.append(contentsOf: key)
            ids.append(id)
            maxKeyLength = max(maxKeyLength, key.count)
            var slot = Self.slot(hash, mask)
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = index
        }
    }

    var count: Int { ids.count }

    static func hash(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var h: UInt64 = 0
        for byte in bytes { h = h &* multiplier &+ UInt64(byte) &+ 1 }
        return h
    }

    @inline(__always) static func slot(_ hash: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (hash &* 0x9E3779B97F4A7C15) >> 20) & mask
    }

    private func find(hash: UInt64, bytes: ArraySlice<UInt8>) -> Int32? {
        var slot = Self.slot(hash, mask)
        while slots[slot] >= 0 {
            let index = Int(slots[slot])
            if Int(keyLength[index]) == bytes.count {
                let start = Int(keyStart[index])
                if keyBytes[start..<(start + bytes.count)].elementsEqual(bytes) { return ids[index] }
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    /// The id of `bytes[start..<end]`, whose hash is `hash`, or -1.
    @inline(__always)
    func lookup(hash: UInt64, bytes: UnsafeBufferPointer<UInt8>, start: Int, end: Int) -> Int32 {
        let length = end - start
        return slots.withUnsafeBufferPointer { slots in
            keyBytes.withUnsafeBufferPointer { keyBytes in
                var slot = Self.slot(hash, mask)
                while true {
                    let index = Int(slots[slot])
                    if index < 0 { return -1 }
                    if Int(keyLength[index]) == length {
                        let keyStart = Int(self.keyStart[index])
                        var equal = true
                        var k = 0
                        while k < length {
                            if keyBytes[keyStart + k] != bytes[start + k] { equal = false; break }
                            k += 1
                        }
                        if equal { return ids[index] }
                    }
                    slot = (slot + 1) & mask
                }
            }
        }
    }

    func lookup(_ string: String) -> Int32? {
        let bytes = Array(string.utf8)
        return find(hash: Self.hash(bytes[...]), bytes: bytes[...])
    }
}

/// HF `WordPiece` model: greedy longest-match-first segmentation of each word into vocabulary pieces;
/// pieces after the first carry `continuingSubwordPrefix`. A word with more than `maxInputCharsPerWord`
/// scalars, or with a part that no piece matches, becomes the single unknown token.
public struct WordPieceModel: Sendable {
    /// Token string -> id.
    public let vocab: [String: Int32]
    public let unknownToken: String
    public let unknownId: Int32
    public let continuingSubwordPrefix: String
    public let maxInputCharsPerWord: Int
    let wordTable: ByteStringTable
    let continuationTable: ByteStringTable
    /// multiplier^k for k up to the longest key length (substring hashes from prefix hashes).
    let powers: [UInt64]

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
        var powers: [UInt64] = [1]
        for _ in 0..<max(wordTable.maxKeyLength, continuationTable.maxKeyLength) {
            powers.append(powers[powers.count - 1] &* ByteStringTable.multiplier)
        }
        self.powers = powers
    }

    /// Tokenizes one word given as UTF-8 `bytes` (with `scalarCount` scalars), appending each piece's id and
    /// byte range within the word to `ids`/`starts`/`ends`. The unknown token covers the whole word.
    @inline(__always)
    func tokenize(word bytes: UnsafeBufferPointer<UInt8>, scalarCount: Int, prefixHashes: inout [UInt64],
                  ids: inout [Int32], starts: inout [Int32], ends: inout [Int32]) {
        let n = bytes.count
        if scalarCount > maxInputCharsPerWord {
            ids.append(unknownId); starts.append(0); ends.append(Int32(n))
            return
        }
        // prefixHashes[i] = hash of bytes[0..<i]
        prefixHashes.removeAll(keepingCapacity: true)
        var h: UInt64 = 0
        prefixHashes.append(0)
        for i in 0..<n {
            h = h &* ByteStringTable.multiplier &+ UInt64(bytes[i]) &+ 1
            prefixHashes.append(h)
        }
        let firstPiece = ids.count
        var failed = false
        prefixHashes.withUnsafeBufferPointer { hashes in
            powers.withUnsafeBufferPointer { powers in
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
                    if id < 0 { failed = true; return }
                    ids.append(id); starts.append(Int32(start)); ends.append(Int32(end))
                    start = end
                }
            }
        }
        if failed {
            ids.removeSubrange(firstPiece...); starts.removeSubrange(firstPiece...); ends.removeSubrange(firstPiece...)
            ids.append(unknownId); starts.append(0); ends.append(Int32(n))
        }
    }
}
