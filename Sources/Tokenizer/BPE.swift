import Foundation

/// Open-addressing map from a token pair (left id, right id) to (merge rank, merged token id). Raw memory owned
/// by the table (immutable after init), so concurrent lookups touch no reference count.
final class MergeTable: @unchecked Sendable {
    private let keys: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<UInt64>
    private let mask: Int
    let count: Int
    static let empty = UInt64.max

    /// Later entries for the same pair replace earlier ones (as HF's map does).
    init(_ merges: [(left: Int32, right: Int32, rank: Int32, id: Int32)]) {
        var capacity = 16
        while capacity < merges.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        keys = .allocate(capacity: capacity)
        keys.initialize(repeating: Self.empty, count: capacity)
        values = .allocate(capacity: capacity)
        values.initialize(repeating: 0, count: capacity)
        var used = 0
        for merge in merges {
            let key = Self.key(merge.left, merge.right)
            var slot = Self.slot(key, mask)
            while keys[slot] != Self.empty, keys[slot] != key { slot = (slot + 1) & mask }
            if keys[slot] == Self.empty { used += 1 }
            keys[slot] = key
            values[slot] = UInt64(UInt32(bitPattern: merge.rank)) << 32 | UInt64(UInt32(bitPattern: merge.id))
        }
        count = used
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    @inline(__always) static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always) static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E3779B97F4A7C15) >> 29) & mask
    }

    /// `rank << 32 | merged id` of the pair, or `MergeTable.empty`.
    @inline(__always) func lookup(_ left: Int32, _ right: Int32) -> UInt64 {
        let key = Self.key(left, right)
        var slot = Self.slot(key, mask)
        while true {
            let k = keys[slot]
            if k == key { return values[slot] }
            if k == Self.empty { return Self.empty }
            slot = (slot + 1) & mask
        }
    }
}

/// Per-thread working memory of a `BPEModel`: symbol and heap buffers and a bounded word cache. Raw memory, grown
/// on demand; taken from the model's pool by one thread at a time.
final class BPEThreadState {
    struct Symbol {
        var id: Int32
        var start: Int32
        var end: Int32
        var prev: Int32
        var next: Int32
    }
    struct Merge {
        var rank: Int32
        var position: Int32
        var id: Int32
    }

    let owner: ObjectIdentifier
    var capacity = 0
    var symbols: UnsafeMutablePointer<Symbol>
    var heap: UnsafeMutablePointer<Merge>

    /// Direct-mapped cache of words of at most `cacheKeyLength` scalars with at most `cacheKeyLength` tokens.
    static let cacheSlots = 4096
    static let cacheKeyLength = 16
    let cacheHashes: UnsafeMutablePointer<UInt64>  // 0: empty slot
    let cacheKeys: UnsafeMutablePointer<UInt32>
    let cacheLengths: UnsafeMutablePointer<UInt8>  // key length << 8 | token count, packed in two bytes
    let cacheIds: UnsafeMutablePointer<Int32>
    let cacheRanges: UnsafeMutablePointer<UInt8>   // start, end per token

    init(owner: ObjectIdentifier) {
        self.owner = owner
        symbols = .allocate(capacity: 1)
        heap = .allocate(capacity: 1)
        let slots = Self.cacheSlots, k = Self.cacheKeyLength
        cacheHashes = .allocate(capacity: slots)
        cacheHashes.initialize(repeating: 0, count: slots)
        cacheKeys = .allocate(capacity: slots * k)
        cacheLengths = .allocate(capacity: slots * 2)
        cacheIds = .allocate(capacity: slots * k)
        cacheRanges = .allocate(capacity: slots * k * 2)
    }

    deinit {
        symbols.deallocate(); heap.deallocate()
        cacheHashes.deallocate(); cacheKeys.deallocate(); cacheLengths.deallocate(); cacheIds.deallocate()
        cacheRanges.deallocate()
    }

    /// Makes room for words of `count` symbols (heap entries: at most 2 per merge plus the initial pairs).
    @inline(__always) func reserve(_ count: Int) {
        guard count > capacity else { return }
        var newCapacity = max(64, capacity)
        while newCapacity < count { newCapacity *= 2 }
        symbols.deallocate(); heap.deallocate()
        symbols = .allocate(capacity: newCapacity)
        heap = .allocate(capacity: newCapacity * 3 + 4)
        capacity = newCapacity
    }
}

/// HF `BPE` model: each scalar of a word (with `continuingSubwordPrefix` on all but the first and
/// `endOfWordSuffix` on the last) becomes a vocabulary symbol (unknown ones: the `<0xXX>` byte tokens with
/// `byteFallback`, else the unknown token, fused when `fuseUnknown`, else dropped), then merges are applied
/// lowest rank first (leftmost first among equals) as HF's priority queue does. With `ignoreMerges`, a word that
/// is itself in the vocabulary is one token. Symbols and merges are ids (no strings in the hot path); a
/// bounded per-thread cache keeps the tokens of short words.
public final class BPEModel: TokenizerModel, @unchecked Sendable {
    public let vocab: [String: Int32]
    public let unknownToken: String?
    public let continuingSubwordPrefix: String?
    public let endOfWordSuffix: String?
    public let fuseUnknown: Bool
    public let byteFallback: Bool
    public let ignoreMerges: Bool
    let unknownId: Int32
    let merges: MergeTable
    /// Id of each single-scalar token below `denseLimit` (-1: none), raw memory owned by the model.
    private let denseIds: UnsafeMutablePointer<Int32>
    private static let denseLimit: UInt32 = 0x800
    private let sparseIds: [UInt32: Int32]
    /// Scalar -> id of prefix+scalar, scalar+suffix, prefix+scalar+suffix (empty without prefix/suffix).
    private let prefixedIds: [UInt32: Int32]
    private let suffixedIds: [UInt32: Int32]
    private let affixedIds: [UInt32: Int32]
    private let usesAffixes: Bool
    private let prefixBytes: [UInt8]
    private let suffixBytes: [UInt8]
    /// `<0xXX>` token ids (-1: none), for byte fallback.
    private let byteIds: [Int32]
    /// Whole-word lookup for `ignoreMerges`.
    private let wordTable: ByteStringTable?
    private let pool = StatePool()

    /// `merges` are (left token, right token) in rank order. Throws `invalidField` naming `source` and the field
    /// when a merge or the unknown token is not in the vocabulary.
    public init(vocab: [String: Int32], merges: [(String, String)], unknownToken: String? = nil,
                continuingSubwordPrefix: String? = nil, endOfWordSuffix: String? = nil, fuseUnknown: Bool = false,
                byteFallback: Bool = false, ignoreMerges: Bool = false, source: String, field: String = "model") throws {
        self.vocab = vocab
        self.unknownToken = unknownToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        if let unknownToken {
            guard let id = vocab[unknownToken] else { throw TokenizerError.unknownToken(path: source, token: unknownToken) }
            unknownId = id
        } else {
            unknownId = -1
        }
        var table: [(left: Int32, right: Int32, rank: Int32, id: Int32)] = []
        table.reserveCapacity(merges.count)
        // As HF: the merged token is left + right without the prefix's length in bytes (when a prefix is set).
        let prefixLength = continuingSubwordPrefix?.utf8.count ?? 0
        for (rank, (left, right)) in merges.enumerated() {
            func id(_ token: String) throws -> Int32 {
                guard let id = vocab[token] else {
                    throw TokenizerError.invalidField(path: source, field: "\(field).merges[\(rank)]",
                                                      detail: "token '\(token)' is not in the vocabulary")
                }
                return id
            }
            let merged = left + String(decoding: right.utf8.dropFirst(prefixLength), as: UTF8.self)
            table.append((try id(left), try id(right), Int32(clamping: rank), try id(merged)))
        }
        self.merges = MergeTable(table)

        denseIds = .allocate(capacity: Int(Self.denseLimit))
        denseIds.initialize(repeating: -1, count: Int(Self.denseLimit))
        var sparse: [UInt32: Int32] = [:], prefixed: [UInt32: Int32] = [:], suffixed: [UInt32: Int32] = [:]
        var affixed: [UInt32: Int32] = [:]
        let prefix = Array((continuingSubwordPrefix ?? "").unicodeScalars.map(\.value))
        let suffix = Array((endOfWordSuffix ?? "").unicodeScalars.map(\.value))
        // Lowest id wins if two spellings collide (deterministic).
        for (token, id) in vocab.sorted(by: { $0.value > $1.value }) {
            let scalars = token.unicodeScalars.map(\.value)
            if scalars.count == 1 {
                if scalars[0] < Self.denseLimit { denseIds[Int(scalars[0])] = id } else { sparse[scalars[0]] = id }
            }
            let hasPrefix = !prefix.isEmpty && scalars.starts(with: prefix)
            let hasSuffix = !suffix.isEmpty && scalars.count >= suffix.count && Array(scalars.suffix(suffix.count)) == suffix
            if hasPrefix, scalars.count == prefix.count + 1 { prefixed[scalars[prefix.count]] = id }
            if hasSuffix, scalars.count == suffix.count + 1 { suffixed[scalars[0]] = id }
            if hasPrefix, hasSuffix, scalars.count == prefix.count + suffix.count + 1 { affixed[scalars[prefix.count]] = id }
        }
        sparseIds = sparse
        prefixedIds = prefixed
        suffixedIds = suffixed
        affixedIds = affixed
        usesAffixes = !prefix.isEmpty || !suffix.isEmpty
        prefixBytes = Array((continuingSubwordPrefix ?? "").utf8)
        suffixBytes = Array((endOfWordSuffix ?? "").utf8)
        byteIds = (0..<256).map { vocab[String(format: "<0x%02X>", $0)] ?? -1 }
        if ignoreMerges {
            let sorted = vocab.sorted { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }
            wordTable = ByteStringTable(sorted.map { (Array($0.key.utf8), $0.value) })
        } else {
            wordTable = nil
        }
    }

    deinit {
        denseIds.deallocate()
    }

    /// Id of the symbol for `scalar` at this position of the word, or -1.
    @inline(__always)
    private func symbolId(_ scalar: UInt32, first: Bool, last: Bool) -> Int32 {
        if !usesAffixes {
            if scalar < Self.denseLimit { return denseIds[Int(scalar)] }
            return sparseIds[scalar] ?? -1
        }
        let prefixed = !first && !prefixBytes.isEmpty
        let suffixed = last && !suffixBytes.isEmpty
        switch (prefixed, suffixed) {
        case (true, true): return affixedIds[scalar] ?? -1
        case (true, false): return prefixedIds[scalar] ?? -1
        case (false, true): return suffixedIds[scalar] ?? -1
        case (false, false): return scalar < Self.denseLimit ? denseIds[Int(scalar)] : (sparseIds[scalar] ?? -1)
        }
    }

    public func tokenize(word: TextSpan, in text: NormalizedText, scratch: inout ModelScratch, into tokens: inout [ModelToken]) {
        let n = word.end - word.start
        guard n > 0 else { return }
        if let wordTable {
            scratch.loadUTF8(word, from: text)
            let id = scratch.bytes.withUnsafeBufferPointer { bytes in
                wordTable.lookup(hash: ByteStringTable.hash(scratch.bytes), bytes: bytes, start: 0, end: bytes.count)
            }
            if id >= 0 {
                tokens.append(ModelToken(id: id, start: Int32(word.start), end: Int32(word.end)))
                return
            }
        }
        let state: BPEThreadState
        if let existing = scratch.state, ObjectIdentifier(type(of: existing)) == ObjectIdentifier(BPEThreadState.self),
           case let candidate = unsafeDowncast(existing, to: BPEThreadState.self), candidate.owner == ObjectIdentifier(self) {
            state = candidate
        } else {
            state = pool.take(owner: ObjectIdentifier(self))
            scratch.state = state
        }
        text.scalars.withUnsafeBufferPointer { scalars in
            tokenize(scalars, word, state, &tokens)
        }
    }

    /// Returns the per-thread state to the model's pool (called by the tokenizer when a thread is done).
    public func recycle(scratch: inout ModelScratch) {
        guard let existing = scratch.state, let state = existing as? BPEThreadState, state.owner == ObjectIdentifier(self) else { return }
        scratch.state = nil
        pool.give(state)
    }

    private func tokenize(_ scalars: UnsafeBufferPointer<UInt32>, _ word: TextSpan, _ state: BPEThreadState,
                          _ tokens: inout [ModelToken]) {
        let n = word.end - word.start
        let base = Int32(word.start)
        // Cache probe.
        var hash: UInt64 = 0
        let cacheable = n <= BPEThreadState.cacheKeyLength
        var slot = 0
        if cacheable {
            hash = 0xCBF29CE484222325
            for i in word.start..<word.end { hash = (hash ^ UInt64(scalars[i])) &* 0x100000001B3 }
            hash |= 1
            slot = Int(truncatingIfNeeded: hash >> 40) & (BPEThreadState.cacheSlots - 1)
            if state.cacheHashes[slot] == hash, Int(state.cacheLengths[2 * slot]) == n {
                let keys = state.cacheKeys + slot * BPEThreadState.cacheKeyLength
                var equal = true
                for k in 0..<n where keys[k] != scalars[word.start + k] { equal = false; break }
                if equal {
                    let count = Int(state.cacheLengths[2 * slot + 1])
                    let ids = state.cacheIds + slot * BPEThreadState.cacheKeyLength
                    let ranges = state.cacheRanges + slot * BPEThreadState.cacheKeyLength * 2
                    for t in 0..<count {
                        tokens.append(ModelToken(id: ids[t], start: base + Int32(ranges[2 * t]), end: base + Int32(ranges[2 * t + 1])))
                    }
                    return
                }
            }
        }

        // Initial symbols.
        state.reserve(n * 4 + 8)  // byte fallback can give up to (prefix + 4 + suffix) symbols per scalar
        var symbols = state.symbols
        var count = 0
        var unknown: (start: Int32, end: Int32)? = nil
        @inline(__always) func add(_ id: Int32, _ start: Int32, _ end: Int32) {
            if count >= state.capacity {
                // Only byte fallback with long affixes gets here: grow, keeping the symbols so far.
                let old = state.symbols, oldCapacity = state.capacity
                let saved = UnsafeMutablePointer<BPEThreadState.Symbol>.allocate(capacity: oldCapacity)
                saved.initialize(from: old, count: count)
                state.reserve(oldCapacity * 2)
                state.symbols.initialize(from: saved, count: count)
                saved.deallocate()
                symbols = state.symbols
            }
            symbols[count] = BPEThreadState.Symbol(id: id, start: start, end: end, prev: Int32(count) - 1, next: Int32(count) + 1)
            count += 1
        }
        for i in 0..<n {
            let scalar = scalars[word.start + i]
            let first = i == 0, last = i == n - 1
            let id = symbolId(scalar, first: first, last: last)
            let start = Int32(i), end = Int32(i + 1)
            if id >= 0 {
                if let pending = unknown { add(unknownId, pending.start, pending.end); unknown = nil }
                add(id, start, end)
                continue
            }
            if byteFallback, addByteFallback(scalar, first: first, last: last, start: start, end: end, add) { continue }
            if unknownId >= 0 {
                if let pending = unknown {
                    if fuseUnknown {
                        unknown = (pending.start, end)
                    } else {
                        add(unknownId, pending.start, pending.end)
                        unknown = (start, end)
                    }
                } else {
                    unknown = (start, end)
                }
            }
        }
        if let pending = unknown { add(unknownId, pending.start, pending.end) }
        guard count > 0 else { return }
        symbols[count - 1].next = -1

        // Merges: a min-heap on (rank, position), stale entries skipped, as HF's `Word::merge_all`.
        let heap = state.heap
        var heapCount = 0
        @inline(__always) func less(_ a: BPEThreadState.Merge, _ b: BPEThreadState.Merge) -> Bool {
            a.rank < b.rank || (a.rank == b.rank && a.position < b.position)
        }
        @inline(__always) func push(_ entry: BPEThreadState.Merge) {
            var i = heapCount
            heapCount += 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if !less(entry, heap[parent]) { break }
                heap[i] = heap[parent]
                i = parent
            }
            heap[i] = entry
        }
        @inline(__always) func pop() -> BPEThreadState.Merge {
            let top = heap[0]
            heapCount -= 1
            if heapCount > 0 {
                let entry = heap[heapCount]
                var i = 0
                while true {
                    var child = 2 * i + 1
                    if child >= heapCount { break }
                    if child + 1 < heapCount, less(heap[child + 1], heap[child]) { child += 1 }
                    if !less(heap[child], entry) { break }
                    heap[i] = heap[child]
                    i = child
                }
                heap[i] = entry
            }
            return top
        }
        let merges = self.merges
        if count > 1 {
            for i in 0..<(count - 1) {
                let value = merges.lookup(symbols[i].id, symbols[i + 1].id)
                if value != MergeTable.empty {
                    push(BPEThreadState.Merge(rank: Int32(truncatingIfNeeded: value >> 32), position: Int32(i),
                                              id: Int32(truncatingIfNeeded: value & 0xFFFF_FFFF)))
                }
            }
        }
        while heapCount > 0 {
            let top = pop()
            let p = Int(top.position)
            if symbols[p].start < 0 { continue }  // removed by an earlier merge
            let nextIndex = Int(symbols[p].next)
            if nextIndex < 0 { continue }
            let right = symbols[nextIndex]
            let current = merges.lookup(symbols[p].id, right.id)
            if current == MergeTable.empty || Int32(truncatingIfNeeded: current & 0xFFFF_FFFF) != top.id { continue }
            symbols[p].id = top.id
            symbols[p].end = right.end
            symbols[p].next = right.next
            symbols[nextIndex].start = -1  // removed
            if right.next >= 0 { symbols[Int(right.next)].prev = Int32(p) }
            let previous = Int(symbols[p].prev)
            if previous >= 0 {
                let value = merges.lookup(symbols[previous].id, top.id)
                if value != MergeTable.empty {
                    push(BPEThreadState.Merge(rank: Int32(truncatingIfNeeded: value >> 32), position: Int32(previous),
                                              id: Int32(truncatingIfNeeded: value & 0xFFFF_FFFF)))
                }
            }
            if right.next >= 0 {
                let value = merges.lookup(top.id, symbols[Int(right.next)].id)
                if value != MergeTable.empty {
                    push(BPEThreadState.Merge(rank: Int32(truncatingIfNeeded: value >> 32), position: Int32(p),
                                              id: Int32(truncatingIfNeeded: value & 0xFFFF_FFFF)))
                }
            }
        }

        // Output (and cache) the remaining symbols in order.
        let firstToken = tokens.count
        var index = 0
        while index >= 0 {
            let symbol = symbols[index]
            tokens.append(ModelToken(id: symbol.id, start: base + symbol.start, end: base + symbol.end))
            index = Int(symbol.next)
        }
        let produced = tokens.count - firstToken
        if cacheable, produced <= BPEThreadState.cacheKeyLength {
            state.cacheHashes[slot] = hash
            state.cacheLengths[2 * slot] = UInt8(n)
            state.cacheLengths[2 * slot + 1] = UInt8(produced)
            let keys = state.cacheKeys + slot * BPEThreadState.cacheKeyLength
            for k in 0..<n { keys[k] = scalars[word.start + k] }
            let ids = state.cacheIds + slot * BPEThreadState.cacheKeyLength
            let ranges = state.cacheRanges + slot * BPEThreadState.cacheKeyLength * 2
            for t in 0..<produced {
                let token = tokens[firstToken + t]
                ids[t] = token.id
                ranges[2 * t] = UInt8(token.start - base)
                ranges[2 * t + 1] = UInt8(token.end - base)
            }
        }
    }

    /// Adds the `<0xXX>` tokens of the UTF-8 bytes of the symbol string (prefix, scalar, suffix as the position
    /// requires, as HF does) if all exist; each covers the scalar's range. Returns false (adding nothing) otherwise.
    @inline(__always)
    private func addByteFallback(_ scalar: UInt32, first: Bool, last: Bool, start: Int32, end: Int32,
                                 _ add: (Int32, Int32, Int32) -> Void) -> Bool {
        var bytes: [UInt8] = []
        if !first { bytes += prefixBytes }
        if let value = Unicode.Scalar(scalar) { bytes += Array(String(Character(value)).utf8) }
        if last { bytes += suffixBytes }
        for byte in bytes where byteIds[Int(byte)] < 0 { return false }
        for byte in bytes { add(byteIds[Int(byte)], start, end) }
        return true
    }

    /// A lock-protected free list of per-thread states, so caches survive from one batch to the next.
    final class StatePool: @unchecked Sendable {
        private let lock = NSLock()
        private var free: [BPEThreadState] = []
        private static let maxKept = 64

        func take(owner: ObjectIdentifier) -> BPEThreadState {
            lock.lock()
            let state = free.popLast()
            lock.unlock()
            return state ?? BPEThreadState(owner: owner)
        }

        func give(_ state: BPEThreadState) {
            lock.lock()
            if free.count < Self.maxKept { free.append(state) }
            lock.unlock()
        }
    }
}

extension BPEModel: JSONLoadable {
    /// HF `BPE` model object: `vocab`, `merges` ("a b" strings or ["a", "b"] pairs), `dropout` (null or 0 only),
    /// `unk_token`, `continuing_subword_prefix`, `end_of_word_suffix`, `fuse_unk`, `byte_fallback`, `ignore_merges`.
    convenience init(json fields: JSONFields, context: ComponentContext) throws {
        if fields.has("dropout") {
            guard let number = fields.member("dropout")?.doubleValue else {
                throw TokenizerError.invalidField(path: fields.path, field: fields.name("dropout"), detail: "expected null or a number")
            }
            guard number == 0 else {
                throw TokenizerError.invalidField(path: fields.path, field: fields.name("dropout"),
                                                  detail: "BPE dropout \(number) is not supported (only null): it makes tokenization random")
            }
        }
        let vocab = try fields.vocabulary()
        var merges: [(String, String)] = []
        let items = try fields.array("merges")
        merges.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            if case let .string(line) = item, let space = line.firstIndex(of: " ") {
                merges.append((String(line[..<space]), String(line[line.index(after: space)...])))
            } else if case let .array(pair) = item, pair.count == 2, case let .string(left) = pair[0], case let .string(right) = pair[1] {
                merges.append((left, right))
            } else {
                throw TokenizerError.invalidField(path: fields.path, field: "\(fields.name("merges"))[\(index)]",
                                                  detail: "expected \"left right\" or [left, right]")
            }
        }
        func optionalNonEmpty(_ key: String) throws -> String? {
            guard let value = try fields.optionalString(key), !value.isEmpty else { return nil }
            return value
        }
        try self.init(vocab: vocab, merges: merges, unknownToken: try fields.optionalString("unk_token"),
                      continuingSubwordPrefix: try optionalNonEmpty("continuing_subword_prefix"),
                      endOfWordSuffix: try optionalNonEmpty("end_of_word_suffix"),
                      fuseUnknown: try fields.bool("fuse_unk", default: false),
                      byteFallback: try fields.bool("byte_fallback", default: false),
                      ignoreMerges: try fields.bool("ignore_merges", default: false), source: fields.path, field: fields.prefix)
    }
}
