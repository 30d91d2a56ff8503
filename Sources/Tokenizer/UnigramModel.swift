import Foundation

/// Why a Unigram model was refused.
public struct UnigramModelError: Error, CustomStringConvertible, Equatable {
    public let detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { detail }
}

/// HF `Unigram` model (SentencePiece unigram language model): the segmentation of a word with the highest total
/// piece score (Viterbi over the word's characters), exactly as Hugging Face `tokenizers` computes it:
/// - scores are added in `Double`; among equal scores the first candidate found wins (shorter pieces first,
///   earlier start positions first);
/// - a character that no single-character piece covers gets the unknown node, score `min(scores) - 10`;
/// - consecutive unknown nodes are fused into one token (`fuse_unk`), looked up as a whole, else `unk_id`;
/// - with `byte_fallback`, an unknown token becomes one `<0xNN>` token per UTF-8 byte (all with the unknown
///   token's offsets) when every such piece exists.
/// Immutable; safe to share between threads.
public final class UnigramModel: TokenizerModel, @unchecked Sendable {
    /// Pieces by id, `[vocabSize]`.
    public let pieces: [String]
    /// Log-probability scores by id, `[vocabSize]`.
    public let scores: [Double]
    public let unknownId: Int32
    public let byteFallback: Bool
    /// Score of an unknown character's node: the lowest piece score minus 10.
    public let unknownScore: Double
    /// Piece -> id (the last id of a repeated piece, as HF's map).
    public let vocab: [String: Int32]

    let trie: UnigramTrie
    private let scoreTable: UnsafeMutablePointer<Double>
    /// `<0xNN>` piece ids by byte, -1 where missing.
    private let byteIds: [Int32]

    /// `vocab[i]` is piece `i` with its score; `unknownId` indexes it. `source` names the file in errors.
    public init(vocab entries: [(piece: String, score: Double)], unknownId: Int?, byteFallback: Bool, source: String) throws {
        guard !entries.isEmpty else { throw UnigramModelError("Unigram model in \(source) has an empty vocabulary") }
        guard entries.count <= Int(Int32.max) else { throw UnigramModelError("Unigram vocabulary in \(source) is too large") }
        guard let unknownId else {
            // HF fails on the first character outside the vocabulary when unk_id is null.
            throw UnigramModelError("Unigram model in \(source) has no unk_id (null); models without one are not supported")
        }
        guard unknownId >= 0, unknownId < entries.count else {
            throw UnigramModelError("Unigram unk_id \(unknownId) in \(source) is outside the vocabulary of \(entries.count) pieces")
        }
        var minimum = Double.infinity
        var map: [String: Int32] = [:]
        map.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            guard entry.score.isFinite else {
                throw UnigramModelError("Unigram piece \(index) ('\(entry.piece)') in \(source) has a non-finite score")
            }
            minimum = min(minimum, entry.score)
            map[entry.piece] = Int32(index)
        }
        pieces = entries.map(\.piece)
        scores = entries.map(\.score)
        self.unknownId = Int32(unknownId)
        self.byteFallback = byteFallback
        unknownScore = minimum - 10
        vocab = map
        trie = UnigramTrie(keys: entries.map { Array($0.piece.utf8) }, ids: (0..<Int32(entries.count)).map { $0 })
        scoreTable = UnsafeMutablePointer<Double>.allocate(capacity: entries.count)
        scoreTable.initialize(from: scores, count: entries.count)
        let hex = Array("0123456789ABCDEF")
        byteIds = (0..<256).map { byte in map["<0x\(hex[byte >> 4])\(hex[byte & 15])>"] ?? -1 }
    }

    deinit { scoreTable.deallocate() }

    /// Tokenizes the word `text.scalars[word]` (see `TokenizerModel`).
    public func tokenize(word: TextSpan, in text: NormalizedText, scratch: inout ModelScratch, into tokens: inout [ModelToken]) {
        scratch.loadUTF8(word, from: text)
        let first = tokens.count
        let n = scratch.bytes.count
        if scratch.scores.count < n + 1 { scratch.scores = [Double](repeating: 0, count: 2 * (n + 1)) }
        if scratch.integers.count < n + 1 { scratch.integers = [Int32](repeating: 0, count: 2 * (n + 1)) }
        if scratch.moreIntegers.count < n + 1 { scratch.moreIntegers = [Int32](repeating: 0, count: 2 * (n + 1)) }
        scratch.bytes.withUnsafeBufferPointer { bytes in
            scratch.scores.withUnsafeMutableBufferPointer { bestScore in
                scratch.integers.withUnsafeMutableBufferPointer { bestStart in
                    scratch.moreIntegers.withUnsafeMutableBufferPointer { bestId in
                        segment(bytes, bestScore: bestScore.baseAddress!, bestStart: bestStart.baseAddress!,
                                bestId: bestId.baseAddress!, into: &tokens)
                    }
                }
            }
        }
        // Byte ranges -> scalar ranges of `text`.
        scratch.byteScalars.withUnsafeBufferPointer { byteScalars in
            for k in first..<tokens.count {
                tokens[k].start = byteScalars[Int(tokens[k].start)]
                tokens[k].end = byteScalars[Int(tokens[k].end) - 1] + 1
            }
        }
    }

    /// Viterbi segmentation of valid UTF-8 `bytes` (non-empty), appending tokens with byte ranges of `bytes`.
    /// `bestScore`, `bestStart`, `bestId` hold at least `bytes.count + 1` entries.
    func segment(_ bytes: UnsafeBufferPointer<UInt8>, bestScore: UnsafeMutablePointer<Double>,
                 bestStart: UnsafeMutablePointer<Int32>, bestId: UnsafeMutablePointer<Int32>, into tokens: inout [ModelToken]) {
        let n = bytes.count
        guard n > 0 else { return }
        bestStart.update(repeating: -1, count: n + 1)  // -1: not reached
        bestScore[0] = 0
        bestStart[0] = 0
        var position = 0
        while position < n {
            let here = bestScore[position]
            let lead = bytes[position]
            let characterLength = lead < 0x80 ? 1 : (lead < 0xE0 ? 2 : (lead < 0xF0 ? 3 : 4))
            var hasSingleCharacter = false
            let from = position
            trie.forEachPrefix(bytes, from: position) { end, id in
                let candidate = scoreTable[Int(id)] + here
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = Int32(from)
                    bestId[end] = id
                }
                if end - from == characterLength { hasSingleCharacter = true }
            }
            let end = min(n, position + characterLength)
            if !hasSingleCharacter {
                let candidate = unknownScore + here
                if bestStart[end] < 0 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = Int32(position)
                    bestId[end] = unknownId
                }
            }
            position = end
        }
        // Backtrack; consecutive unknown nodes fuse into one token.
        let first = tokens.count
        var end = n
        var fusedEnd = -1  // end of the pending fused unknown token, -1 if none
        while end > 0 {
            let start = Int(bestStart[end])
            let id = bestId[end]
            if id == unknownId {
                if fusedEnd < 0 { fusedEnd = end }
            } else {
                if fusedEnd >= 0 { appendUnknown(bytes, end, fusedEnd, &tokens); fusedEnd = -1 }
                tokens.append(ModelToken(id: id, start: Int32(start), end: Int32(end)))
            }
            end = start
        }
        if fusedEnd >= 0 { appendUnknown(bytes, 0, fusedEnd, &tokens) }
        tokens[first...].reverse()
    }

    /// An unknown (possibly fused) token `bytes[start..<end]`, appended in reverse order (the caller reverses).
    private func appendUnknown(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ tokens: inout [ModelToken]) {
        let exact = trie.exactMatch(bytes, start, end)
        if exact >= 0 {
            tokens.append(ModelToken(id: exact, start: Int32(start), end: Int32(end)))
            return
        }
        if byteFallback, (start..<end).allSatisfy({ byteIds[Int(bytes[$0])] >= 0 }) {
            for p in (start..<end).reversed() {
                tokens.append(ModelToken(id: byteIds[Int(bytes[p])], start: Int32(start), end: Int32(end)))
            }
            return
        }
        tokens.append(ModelToken(id: unknownId, start: Int32(start), end: Int32(end)))
    }
}

extension UnigramModel: JSONLoadable {
    /// HF `Unigram` model object: `vocab` (`[[piece, score], ...]`, id = position), `unk_id` (integer; null is
    /// refused), `byte_fallback` (default false).
    convenience init(json fields: JSONFields, context: ComponentContext) throws {
        let items = try fields.array("vocab")
        var entries: [(piece: String, score: Double)] = []
        entries.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            // Scores are parsed from their decimal text (`JSONValue.doubleValue`: correctly rounded; Foundation's
            // JSONSerialization on Linux was 1 ulp off for most scores, which changed Viterbi ties against HF).
            guard case let .array(pair) = item, pair.count == 2, case let .string(piece) = pair[0],
                  let score = pair[1].doubleValue else {
                throw TokenizerError.invalidField(path: fields.path, field: "\(fields.name("vocab"))[\(index)]",
                                                  detail: "expected [piece, score]")
            }
            entries.append((piece, score))
        }
        do {
            try self.init(vocab: entries, unknownId: try fields.optionalInt("unk_id"),
                          byteFallback: try fields.bool("byte_fallback", default: false), source: fields.path)
        } catch let error as UnigramModelError {
            throw TokenizerError.invalidField(path: fields.path, field: fields.prefix, detail: error.detail)
        }
    }
}
