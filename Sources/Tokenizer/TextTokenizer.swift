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
    /// Id used for padding (`[PAD]` or the configured pad token).
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
        var ids: [Int32] = []
        var starts: [Int32] = []
        var ends: [Int32] = []
        /// With space trimming: (token index, space counts of its matched string) of each added token.
        var addedSpaces: [(index: Int, spaces: UInt32)] = []
    }

    func encode(_ text: String, workspace ws: inout Workspace) -> Encoding {
        let charCap = maxLength.map { length -> Int in
            let (product, overflow) = length.multipliedReportingOverflow(by: Self.charCapFactor)
            return overflow ? Int.max : product
        }
        let capped = decodeScalars(text, cap: charCap, into: &ws.original)
        let budget = maxLength.map { max(0, $0 - specialTokenCount) }
        // With right truncation, tokens past the budget are never kept: stop once we have one more.
        let stopAfter: Int? = (truncationDirection == .right) ? budget.map { $0 + 1 } : nil
        ws.ids.removeAll(keepingCapacity: true)
        ws.starts.removeAll(keepingCapacity: true)
        ws.ends.removeAll(keepingCapacity: true)
        ws.addedSpaces.removeAll(keepingCapacity: true)

        let whole = TextSpan(start: 0, end: ws.original.count)
        let rawMatches = rawMatcher.isEmpty ? [] : rawMatcher.matches(in: ws.original, range: whole)
        var position = 0
        for match in rawMatches {
            if let stopAfter, ws.ids.count >= stopAfter { break }
            if position < match.span.start { tokenizeSegment(TextSpan(start: position, end: match.span.start), &ws, stopAfter: stopAfter) }
            if spaceTrimmer != nil {
                ws.addedSpaces.append((ws.ids.count, SpaceTrimmer.spaces(ws.original[match.span.start..<match.span.end])))
            }
            ws.ids.append(match.id); ws.starts.append(Int32(match.span.start)); ws.ends.append(Int32(match.span.end))
            position = match.span.end
        }
        if position < whole.end, stopAfter.map({ ws.ids.count < $0 }) ?? true {
            tokenizeSegment(TextSpan(start: position, end: whole.end), &ws, stopAfter: stopAfter)
        }

        // Truncation: choose the kept content token range(s).
        let total = ws.ids.count
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
        let length = kept + specialTokenCount
        var ids = [Int32](); ids.reserveCapacity(length)
        var typeIds = [Int32](); typeIds.reserveCapacity(length)
        var offsets = [(start: Int, end: Int)](); offsets.reserveCapacity(length)
        if let post = postProcessor {
            for special in post.prefix { ids.append(special.id); typeIds.append(special.typeId); offsets.append((0, 0)) }
        }
        let sequenceType = postProcessor?.sequenceTypeId ?? 0
        let firstContent = ids.count
        var nextAdded = 0
        for range in keep {
            for i in range {
                ids.append(ws.ids[i]); typeIds.append(sequenceType)
                let offset = (start: Int(ws.starts[i]), end: Int(ws.ends[i]))
                if let spaceTrimmer {
                    // A token's string: its vocabulary entry, or for an added token the text it matched.
                    var spaces = spaceTrimmer.spaces(of: ws.ids[i])
                    while nextAdded < ws.addedSpaces.count, ws.addedSpaces[nextAdded].index < i { nextAdded += 1 }
                    if nextAdded < ws.addedSpaces.count, ws.addedSpaces[nextAdded].index == i { spaces = ws.addedSpaces[nextAdded].spaces }
                    offsets.append(spaceTrimmer.trim(offset, packed: spaces, isFirst: ids.count - 1 == firstContent))
                } else {
                    offsets.append(offset)
                }
            }
        }
        if let post = postProcessor {
            post.adjustOffsets(ids: ids, offsets: &offsets, range: post.prefix.count..<(post.prefix.count + kept))
            for special in post.suffix { ids.append(special.id); typeIds.append(special.typeId); offsets.append((0, 0)) }
        }
        return Encoding(ids: ids, typeIds: typeIds, attentionMask: [Int32](repeating: 1, count: ids.count),
                        offsets: offsets, wasTruncated: truncated, wasCharCapped: capped)
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
            if let stopAfter, ws.ids.count >= stopAfter { return }
            if position < match.span.start {
                ws.pieceText.reset(original: ws.text.scalars[position..<match.span.start], startIndex: 0)
                ws.pieceText.setOrigins(ws.text.origins[position..<match.span.start])
                tokenizePiece(TextSpan(start: 0, end: ws.pieceText.count), ownText: true, &ws, stopAfter: stopAfter)
                if let stopAfter, ws.ids.count >= stopAfter { return }
            }
            if match.id >= 0 {
                if spaceTrimmer != nil {
                    ws.addedSpaces.append((ws.ids.count, SpaceTrimmer.spaces(ws.text.scalars[match.span.start..<match.span.end])))
                }
                ws.ids.append(match.id)
                if match.span.end > match.span.start {
                    ws.starts.append(ws.text.origins[match.span.start]); ws.ends.append(ws.text.origins[match.span.end - 1] + 1)
                } else {
                    ws.starts.append(0); ws.ends.append(0)
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
            if let stopAfter, ws.ids.count >= stopAfter { return }
            ws.modelTokens.removeAll(keepingCapacity: true)
            model.tokenize(word: word, in: text, scratch: &ws.scratch, into: &ws.modelTokens)
            text.origins.withUnsafeBufferPointer { origins in
                for token in ws.modelTokens {
                    ws.ids.append(token.id)
                    if token.end > token.start {
                        ws.starts.append(origins[Int(token.start)]); ws.ends.append(origins[Int(token.end) - 1] + 1)
                    } else {
                        ws.starts.append(0); ws.ends.append(0)
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
                let b0 = UInt32(bytes[i])
                if b0 < 0x80 {
                    scalars.append(b0); i += 1
                } else if b0 < 0xE0 {
                    scalars.append((b0 & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F)); i += 2
                } else if b0 < 0xF0 {
                    scalars.append((b0 & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F)); i += 3
                } else {
                    scalars.append((b0 & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12
                                   | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F)); i += 4
                }
            }
            return false
        }
    }
}
