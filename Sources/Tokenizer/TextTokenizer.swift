import Dispatch
import Foundation

/// How a token sequence longer than the maximum is cut (special tokens always fit).
public enum TruncationDirection: Sendable, Equatable {
    /// Keep the first tokens (HF default).
    case right
    /// Keep the last tokens.
    case left
    /// Keep the first `headTokens` content tokens and fill the rest of the budget with the last tokens.
    case headTail(headTokens: Int)
}

/// A Hugging Face `tokenizer.json`-exact tokenizer: added tokens -> normalizer -> pre-tokenizer -> model
/// (WordPiece, BPE, ...) -> truncation -> post-processor. Each stage is a protocol (`Normalizer`, `PreTokenizer`,
/// `TokenizerModel`, `PostProcessor`) built from tokenizer.json by `TokenizerComponents`. Immutable and safe to
/// share between threads.
public final class TextTokenizer: Sendable {
    public let normalizer: (any Normalizer)?
    public let preTokenizer: (any PreTokenizer)?
    public let model: any TokenizerModel
    public let postProcessor: (any PostProcessor)?
    public let addedTokens: [AddedToken]
    /// Maximum tokens per encoding, special tokens included; `nil` when truncation is off.
    public let maxLength: Int?
    public let truncationDirection: TruncationDirection
    /// Id used for padding (the configured pad token, tokenizer.json `padding.pad_id`, `[PAD]` or `<pad>`).
    public let padId: Int32
    /// Texts longer than `charCapFactor × maxLength` scalars are cut before tokenizing (as TEI does).
    public static let charCapFactor = 250

    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    /// Token space counts when the post-processor trims offsets (`SpaceTrimming`), else nil.
    private let spaceTrimmer: SpaceTrimmer?

    public init(normalizer: (any Normalizer)?, preTokenizer: (any PreTokenizer)?, model: any TokenizerModel,
                postProcessor: (any PostProcessor)?, addedTokens: [AddedToken], maxLength: Int?,
                truncationDirection: TruncationDirection = .right, padId: Int32 = 0) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.addedTokens = addedTokens
        self.maxLength = maxLength
        self.truncationDirection = truncationDirection
        self.padId = padId
        UnicodeProps.warmUp()  // build the character tables at load time, not inside the first encode
        if let trimming = postProcessor?.spaceTrimming {
            var tokenIds = model.vocab
            for token in addedTokens { tokenIds[token.content] = token.id }
            spaceTrimmer = SpaceTrimmer(tokenIds: tokenIds, addPrefixSpace: trimming.addPrefixSpace)
        } else {
            spaceTrimmer = nil
        }
        let raw = addedTokens.filter { !$0.normalized }
        rawMatcher = AddedTokenMatcher(tokens: raw, contents: raw.map { $0.content.unicodeScalars.map(\.value) })
        let normalized = addedTokens.filter { $0.normalized }
        normalizedMatcher = AddedTokenMatcher(tokens: normalized, contents: normalized.map { token in
            var text = NormalizedText(original: token.content.unicodeScalars.map(\.value))
            normalizer?.normalize(&text)
            return text.scalars
        })
    }

    /// Number of special tokens the post-processor adds to a single sequence.
    public var specialTokenCount: Int { (postProcessor?.prefix.count ?? 0) + (postProcessor?.suffix.count ?? 0) }

    /// Tokenizes one text.
    public func encode(_ text: String) -> Encoding {
        var workspace = Workspace()
        defer { model.recycle(scratch: &workspace.scratch) }
        return encode(text, workspace: &workspace)
    }

    /// Tokenizes texts on `threads` threads; result `i` is the encoding of `texts[i]`.
    public func encodeBatch(_ texts: [String], threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> [Encoding] {
        let count = texts.count
        let workers = max(1, min(threads, count))
        if workers == 1 {
            var workspace = Workspace()
            defer { model.recycle(scratch: &workspace.scratch) }
            return texts.map { encode($0, workspace: &workspace) }
        }
        return [Encoding](unsafeUninitializedCapacity: count) { buffer, initialized in
            let base = buffer.baseAddress!
            // Chunks dealt round-robin, so inputs sorted by length still spread evenly over the workers.
            let chunks = min(count, workers * 16)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var workspace = Workspace()
                for chunk in stride(from: worker, to: chunks, by: workers) {
                    let lo = chunk * count / chunks, hi = (chunk + 1) * count / chunks
                    for i in lo..<hi { (base + i).initialize(to: encode(texts[i], workspace: &workspace)) }
                }
                model.recycle(scratch: &workspace.scratch)
            }
            initialized = count
        }
    }

    /// Pads `encodings` to the longest (optionally a multiple of `multiple`) with this tokenizer's pad id.
    public func pad(_ encodings: [Encoding], toMultipleOf multiple: Int? = nil) -> PaddedBatch {
        PaddedBatch(encodings, padId: padId, padTypeId: 0, padToMultipleOf: multiple)
    }

    /// Reusable buffers for one thread (a struct passed inout: no dynamic exclusivity checks in the hot loop).
    struct Workspace {
        var original: [UInt32] = []
        var text = NormalizedText()
        /// One piece of `text` between normalized added tokens (only used when there are such tokens).
        var pieceText = NormalizedText()
        var pieces: [TextSpan] = []
        var pieceList: [TextSpan] = []
        var words: [TextSpan] = []
        var scratch = ModelScratch()
        var modelTokens: [ModelToken] = []
        var content = ContentTokens()
    }

    /// The content tokens of one text (before truncation and special tokens): ids, original scalar offsets and,
    /// with space trimming, the space counts of added-token matches.
    struct ContentTokens {
        var ids: [Int32] = []
        var starts: [Int32] = []
        var ends: [Int32] = []
        var addedSpaces: [(index: Int, spaces: UInt32)] = []
        var capped = false
    }

    /// Texts longer than this many scalars are cut before tokenizing (nil: no cap).
    private var charCap: Int? {
        maxLength.map { length -> Int in
            let (product, overflow) = length.multipliedReportingOverflow(by: Self.charCapFactor)
            return overflow ? Int.max : product
        }
    }

    func encode(_ text: String, workspace ws: inout Workspace) -> Encoding {
        let budget = maxLength.map { max(0, $0 - specialTokenCount) }
        // With right truncation, tokens past the budget are never kept: stop once we have one more.
        let stopAfter: Int? = (truncationDirection == .right) ? budget.map { $0 + 1 } : nil
        tokenizeContent(text, &ws, stopAfter: stopAfter)

        // Truncation: choose the kept content token range(s).
        let total = ws.content.ids.count
        var keep: [Range<Int>] = [0..<total]
        var truncated = false
        if let budget, total > budget {
            truncated = true
            switch truncationDirection {
            case .right: keep = [0..<budget]
            case .left: keep = [(total - budget)..<total]
            case .headTail(let headTokens):
                let head = min(max(0, headTokens), budget)
                keep = [0..<head, (total - (budget - head))..<total]
            }
        }
        let kept = keep.reduce(0) { $0 + $1.count }
        var output = Encoding(ids: [], typeIds: [], attentionMask: [], offsets: [], wasTruncated: truncated,
                              wasCharCapped: ws.content.capped)
        output.ids.reserveCapacity(kept + specialTokenCount)
        output.typeIds.reserveCapacity(kept + specialTokenCount)
        output.offsets.reserveCapacity(kept + specialTokenCount)
        appendSpecials(postProcessor?.prefix ?? [], to: &output)
        append(ws.content, keep: keep, typeId: postProcessor?.sequenceTypeId ?? 0, to: &output)
        appendSpecials(postProcessor?.suffix ?? [], to: &output)
        output.attentionMask = [Int32](repeating: 1, count: output.ids.count)
        return output
    }

    /// Tokenizes a pair of texts (e.g. a question and a passage): `prefix A suffix pairPrefix B pairSuffix` as the
    /// post-processor defines it (RoBERTa: `<s> A </s></s> B </s>`; BERT: `[CLS] A [SEP] B [SEP]` with B's type
    /// id 1). Offsets of B's tokens are into `second`. With a maximum length, HF's `longest_first` truncation:
    /// the longer sequence is cut first, both to half when both are too long (left or right per the direction;
    /// head+tail counts as right here).
    public func encode(_ first: String, pair second: String) -> Encoding {
        // longest_first never fails.
        (try? encode(first, pair: second, truncation: .longestFirst)) ?? Encoding(
            ids: [], typeIds: [], attentionMask: [], offsets: [], wasTruncated: false, wasCharCapped: false)
    }

    /// Tokenizes a pair with one of Hugging Face's pair truncation strategies (see `PairTruncation`).
    /// `onlyFirst`/`onlySecond` throw `PairTruncationError.sequenceTooShort` when the sequence they may cut
    /// has no more tokens than must go, as Hugging Face does.
    public func encode(_ first: String, pair second: String, truncation strategy: PairTruncation) throws -> Encoding {
        var ws = Workspace()
        defer { model.recycle(scratch: &ws.scratch) }
        tokenizeContent(first, &ws, stopAfter: nil)
        var a = ContentTokens()
        swap(&a, &ws.content)
        tokenizeContent(second, &ws, stopAfter: nil)
        let b = ws.content
        let post = postProcessor
        let specials = (post?.prefix.count ?? 0) + (post?.suffix.count ?? 0) + (post?.pairPrefix.count ?? 0)
            + (post?.pairSuffix.count ?? 0)
        var n1 = a.ids.count, n2 = b.ids.count
        var truncated = false
        if let maxLength {
            let budget = max(0, maxLength - specials)
            if n1 + n2 > budget, strategy != .longestFirst {
                truncated = true
                let excess = n1 + n2 - budget
                if strategy == .onlyFirst {
                    guard n1 > excess else { throw PairTruncationError.sequenceTooShort(sequence: "first", tokens: n1, toRemove: excess) }
                    n1 -= excess
                } else {
                    guard n2 > excess else { throw PairTruncationError.sequenceTooShort(sequence: "second", tokens: n2, toRemove: excess) }
                    n2 -= excess
                }
            } else if n1 + n2 > budget {
                truncated = true
                let swapped = n1 > n2
                var short = min(n1, n2), long = max(n1, n2)
                long = short > budget ? short : max(short, budget - short)
                if short + long > budget { short = budget / 2; long = short + budget % 2 }
                (n1, n2) = swapped ? (long, short) : (short, long)
                n1 = min(n1, a.ids.count); n2 = min(n2, b.ids.count)
            }
        }
        func kept(_ count: Int, of total: Int) -> [Range<Int>] {
            if case .left = truncationDirection { return [(total - count)..<total] }
            return [0..<count]
        }
        var output = Encoding(ids: [], typeIds: [], attentionMask: [], offsets: [], wasTruncated: truncated,
                              wasCharCapped: a.capped || b.capped)
        appendSpecials(post?.prefix ?? [], to: &output)
        append(a, keep: kept(n1, of: a.ids.count), typeId: post?.sequenceTypeId ?? 0, to: &output)
        appendSpecials(post?.suffix ?? [], to: &output)
        appendSpecials(post?.pairPrefix ?? [], to: &output)
        append(b, keep: kept(n2, of: b.ids.count), typeId: post?.pairSequenceTypeId ?? 0, to: &output)
        appendSpecials(post?.pairSuffix ?? [], to: &output)
        output.attentionMask = [Int32](repeating: 1, count: output.ids.count)
        return output
    }

    private func appendSpecials(_ specials: [SpecialTokenPlacement], to output: inout Encoding) {
        for special in specials { output.ids.append(special.id); output.typeIds.append(special.typeId); output.offsets.append((0, 0)) }
    }

    /// Appends the kept content tokens of one sequence, trimming offsets as the post-processor asks.
    private func append(_ content: ContentTokens, keep: [Range<Int>], typeId: Int32, to output: inout Encoding) {
        let firstContent = output.ids.count
        var nextAdded = 0
        for range in keep {
            for i in range {
                output.ids.append(content.ids[i]); output.typeIds.append(typeId)
                let offset = (start: Int(content.starts[i]), end: Int(content.ends[i]))
                if let spaceTrimmer {
                    // A token's string: its vocabulary entry, or for an added token the text it matched.
                    var spaces = spaceTrimmer.spaces(of: content.ids[i])
                    while nextAdded < content.addedSpaces.count, content.addedSpaces[nextAdded].index < i { nextAdded += 1 }
                    if nextAdded < content.addedSpaces.count, content.addedSpaces[nextAdded].index == i {
                        spaces = content.addedSpaces[nextAdded].spaces
                    }
                    output.offsets.append(spaceTrimmer.trim(offset, packed: spaces, isFirst: output.ids.count - 1 == firstContent))
                } else {
                    output.offsets.append(offset)
                }
            }
        }
        postProcessor?.adjustOffsets(ids: output.ids, offsets: &output.offsets, range: firstContent..<output.ids.count)
    }

    /// Splits `text` on raw added tokens and tokenizes the segments between them into `ws.content`, stopping once
    /// `stopAfter` tokens are there.
    private func tokenizeContent(_ text: String, _ ws: inout Workspace, stopAfter: Int?) {
        ws.content.capped = decodeScalars(text, cap: charCap, into: &ws.original)
        ws.content.ids.removeAll(keepingCapacity: true)
        ws.content.starts.removeAll(keepingCapacity: true)
        ws.content.ends.removeAll(keepingCapacity: true)
        ws.content.addedSpaces.removeAll(keepingCapacity: true)

        let whole = TextSpan(start: 0, end: ws.original.count)
        let rawMatches = rawMatcher.isEmpty ? [] : rawMatcher.matches(in: ws.original, range: whole)
        var position = 0
        for match in rawMatches {
            if let stopAfter, ws.content.ids.count >= stopAfter { break }
            if position < match.span.start { tokenizeSegment(TextSpan(start: position, end: match.span.start), &ws, stopAfter: stopAfter) }
            if spaceTrimmer != nil {
                ws.content.addedSpaces.append((ws.content.ids.count, SpaceTrimmer.spaces(ws.original[match.span.start..<match.span.end])))
            }
            ws.content.ids.append(match.id); ws.content.starts.append(Int32(match.span.start)); ws.content.ends.append(Int32(match.span.end))
            position = match.span.end
        }
        if position < whole.end, stopAfter.map({ ws.content.ids.count < $0 }) ?? true {
            tokenizeSegment(TextSpan(start: position, end: whole.end), &ws, stopAfter: stopAfter)
        }
    }

    /// Normalizes, pre-tokenizes and runs the model on original scalars `segment`, appending tokens with
    /// original-scalar offsets to the workspace.
    private func tokenizeSegment(_ segment: TextSpan, _ ws: inout Workspace, stopAfter: Int?) {
        ws.text.reset(original: ws.original[segment.start..<segment.end], startIndex: segment.start)
        normalizer?.normalize(&ws.text)
        let count = ws.text.count
        if normalizedMatcher.isEmpty {
            if count > 0 { tokenizePiece(TextSpan(start: 0, end: count), ownText: false, &ws, stopAfter: stopAfter) }
            return
        }
        let matches = normalizedMatcher.matches(in: ws.text.scalars, range: TextSpan(start: 0, end: count))
        if matches.isEmpty {
            if count > 0 { tokenizePiece(TextSpan(start: 0, end: count), ownText: false, &ws, stopAfter: stopAfter) }
            return
        }
        // Pieces between matches are pre-tokenized separately (as HF does), each in its own copy of the text
        // because a pre-tokenizer may rewrite it.
        var position = 0
        for match in matches + [AddedTokenMatch(span: TextSpan(start: count, end: count), id: -1)] {
            if let stopAfter, ws.content.ids.count >= stopAfter { return }
            if position < match.span.start {
                ws.pieceText.reset(original: ws.text.scalars[position..<match.span.start], startIndex: 0)
                ws.pieceText.setOrigins(ws.text.origins[position..<match.span.start])
                tokenizePiece(TextSpan(start: 0, end: ws.pieceText.count), ownText: true, &ws, stopAfter: stopAfter)
                if let stopAfter, ws.content.ids.count >= stopAfter { return }
            }
            if match.id >= 0 {
                if spaceTrimmer != nil {
                    ws.content.addedSpaces.append((ws.content.ids.count, SpaceTrimmer.spaces(ws.text.scalars[match.span.start..<match.span.end])))
                }
                ws.content.ids.append(match.id)
                if match.span.end > match.span.start {
                    ws.content.starts.append(ws.text.origins[match.span.start]); ws.content.ends.append(ws.text.origins[match.span.end - 1] + 1)
                } else {
                    ws.content.starts.append(0); ws.content.ends.append(0)
                }
            }
            position = match.span.end
        }
    }

    /// Pre-tokenizes `piece` of `ws.text` (or of `ws.pieceText` when `ownText`) and runs the model on each word.
    private func tokenizePiece(_ piece: TextSpan, ownText: Bool, _ ws: inout Workspace, stopAfter: Int?) {
        // Take the text out of the workspace (no copy) so the pre-tokenizer may rewrite it in place.
        var text = NormalizedText()
        if ownText { swap(&text, &ws.pieceText) } else { swap(&text, &ws.text) }
        defer { if ownText { swap(&text, &ws.pieceText) } else { swap(&text, &ws.text) } }
        ws.words.removeAll(keepingCapacity: true)
        if let preTokenizer {
            ws.pieceList.removeAll(keepingCapacity: true)
            ws.pieceList.append(piece)
            preTokenizer.preTokenize(&text, pieces: ws.pieceList, into: &ws.words)
        } else {
            ws.words.append(piece)
        }
        for word in ws.words where !word.isEmpty {
            if let stopAfter, ws.content.ids.count >= stopAfter { return }
            ws.modelTokens.removeAll(keepingCapacity: true)
            model.tokenize(word: word, in: text, scratch: &ws.scratch, into: &ws.modelTokens)
            text.origins.withUnsafeBufferPointer { origins in
                for token in ws.modelTokens {
                    ws.content.ids.append(token.id)
                    if token.end > token.start {
                        ws.content.starts.append(origins[Int(token.start)]); ws.content.ends.append(origins[Int(token.end) - 1] + 1)
                    } else {
                        ws.content.starts.append(0); ws.content.ends.append(0)
                    }
                }
            }
        }
    }

    /// Decodes `text` into Unicode scalar values, keeping at most `cap`; returns whether it was capped.
    private func decodeScalars(_ text: String, cap: Int?, into scalars: inout [UInt32]) -> Bool {
        scalars.removeAll(keepingCapacity: true)
        let limit = cap ?? Int.max
        var text = text
        return text.withUTF8 { bytes -> Bool in
            var i = 0
            let n = bytes.count
            while i < n {
                if scalars.count >= limit { return true }
                i += appendScalar(decodingValidUTF8At: i, of: bytes, to: &scalars)
            }
            return false
        }
    }
}

/// Decodes the scalar starting at `i` of valid UTF-8 `bytes` (a Swift string's, or a validated pool), appends it
/// to `scalars`, and returns its length in bytes.
@inline(__always)
func appendScalar<Bytes: RandomAccessCollection>(decodingValidUTF8At i: Bytes.Index, of bytes: Bytes,
                                                   to scalars: inout [UInt32]) -> Int
    where Bytes.Element == UInt8, Bytes.Index == Int {
    let b0 = UInt32(bytes[i])
    if b0 < 0x80 { scalars.append(b0); return 1 }
    if b0 < 0xE0 { scalars.append((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F)); return 2 }
    if b0 < 0xF0 {
        scalars.append((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F))
        return 3
    }
    scalars.append((b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6
                   | UInt32(bytes[i + 3] & 0x3F))
    return 4
}
