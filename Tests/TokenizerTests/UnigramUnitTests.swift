import DataFormats
import Foundation
import Testing
@testable import Tokenizer

/// Unit tests of the Unigram stages: the charsmap parser (valid and malformed blobs), the regex subset, Metaspace
/// and Unigram loading errors, Viterbi ties, unknown fusing and byte fallback on small hand-made vocabularies.
@Suite struct UnigramUnitTests {
    // MARK: Precompiled charsmap

    /// A hand-made darts-clone blob with the single key "a" -> pool offset `value`: root at unit 0 with offset 256,
    /// child "a" at 256 ^ 0x61 = 353 (has-leaf, offset 0x61), leaf unit at 353 ^ 0x61 = 256.
    static func blob(value: UInt32 = 0, pool: [UInt8] = Array("b\0".utf8), childOffset: UInt32 = 0x61,
                     unitCount: Int = 354, trieSizeOverride: UInt32? = nil) -> [UInt8] {
        var units = [UInt32](repeating: 0, count: unitCount)
        units[0] = 256 << 10
        if unitCount > 353 { units[353] = childOffset << 10 | 1 << 8 | 0x61 }
        if unitCount > 256 { units[256] = 1 << 31 | value }
        let size = trieSizeOverride ?? UInt32(unitCount * 4)
        var bytes: [UInt8] = withUnsafeBytes(of: size.littleEndian) { Array($0) }
        for unit in units { withUnsafeBytes(of: unit.littleEndian) { bytes.append(contentsOf: $0) } }
        return bytes + pool
    }

    func refusal(_ blob: [UInt8]) -> String {
        do {
            _ = try PrecompiledCharsMap(blob: blob)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func handMadeCharsMapMatchesShortestPrefix() throws {
        let map = try PrecompiledCharsMap(blob: Self.blob())
        #expect(map.lookup("a") == "b")
        #expect(map.lookup("ab") == "b")
        #expect(map.lookup("x") == nil)
        #expect(map.replacementCount == 1)
        var text = NormalizedText(original: "xay".unicodeScalars.map(\.value))
        PrecompiledNormalizer(charsMap: map).normalize(&text)
        #expect(text.string == "xby")
        #expect(text.origins == [0, 1, 2])
    }

    @Test func malformedCharsMapsAreRefusedWithTheReason() {
        #expect(refusal([]).contains("too short"))
        #expect(refusal([4, 0, 0]).contains("too short"))
        #expect(refusal(Self.blob(trieSizeOverride: 6)).contains("multiple of 4"))
        #expect(refusal(Self.blob(trieSizeOverride: 0)).contains("multiple of 4"))
        #expect(refusal(Self.blob(trieSizeOverride: 4 * 400)).contains("exceeds"))
        #expect(refusal(Array(Self.blob().prefix(500))).contains("exceeds"))  // truncated
        #expect(refusal(Self.blob(value: 7)).contains("outside the 2-byte replacement pool"))
        #expect(refusal(Self.blob(value: 1, pool: Array("é\0".utf8))).contains("inside a UTF-8 character"))
        #expect(refusal(Self.blob(pool: [0x62, 0xFF, 0])).contains("not valid UTF-8 at byte 1"))
        #expect(refusal(Self.blob(unitCount: 1)).contains("root points outside"))
        #expect(refusal(Self.blob(childOffset: 0x3000)).contains("points outside"))
        #expect(refusal(Self.blob()) == "accepted")
        #expect(throws: PrecompiledCharsMapError.self) { try PrecompiledCharsMap(base64: "not base64!") }
    }

    @Test func loaderNamesTheCharsMapField() throws {
        let path = NSTemporaryDirectory() + "featurize-unigram-bad-charsmap-\(getpid()).json"
        let json = """
        {"normalizer": {"type": "Precompiled", "precompiled_charsmap": "AAAA"},
         "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.0]]}}
        """
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try TextTokenizer.load(tokenizerJSON: path, truncation: false)
            Issue.record("a 3-byte charsmap was accepted")
        } catch let error as TokenizerError {
            guard case .invalidField(let file, let field, let detail) = error else { Issue.record("\(error)"); return }
            #expect(file == path)
            #expect(field == "normalizer.precompiled_charsmap")
            #expect(detail.contains("too short"))
        }
    }

    /// The real nmt_nfkc map of the fixtures: NFKC-style replacements, and HF's grapheme-wise application.
    @Test func realCharsMap() throws {
        let data = try Fixtures.gunzip(Fixtures.path("tokenizer-unigram-xlmr5.json.gz"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let normalizer = json?["normalizer"] as? [String: Any]
        let map = try PrecompiledCharsMap(base64: normalizer?["precompiled_charsmap"] as? String ?? "")
        #expect(map.lookup("ｈ") == "h")
        #expect(map.lookup("①") == "1")
        #expect(map.lookup("ﬁ") == "fi")
        #expect(map.lookup("\t") == " ")
        #expect(map.lookup("h") == nil)
        func normalize(_ s: String) -> (String, [Int32]) {
            var text = NormalizedText(original: s.unicodeScalars.map(\.value))
            PrecompiledNormalizer(charsMap: map).normalize(&text)
            return (text.string, text.origins)
        }
        #expect(normalize("ﬁ\u{301}x") == ("fix", [0, 1, 2]))    // one cluster < 6 bytes: the shortest key's replacement
        #expect(normalize("a\r\nb").0 == "a b")                   // "\r\n" is one cluster
        #expect(normalize("e\u{301}").0 == "é")                   // the cluster's own key
        #expect(normalize("\u{1100}\u{1161}").0 == "\u{1100}\u{1161}")  // 6 bytes: scalar by scalar, no key each
        #expect(normalize("½") == ("1⁄2", [0, 0, 0]))             // insertions take the previous origin
    }

    // MARK: Regex subset

    @Test func regexMatchesLikeOniguruma() throws {
        let spaces = try RegexPattern(" {2,}")
        let text = "a  b   c d".unicodeScalars.map(\.value)
        #expect(spaces.matches(in: text, range: 0..<text.count) == [1..<3, 4..<7])
        let greedy = try RegexPattern("a{2,3}b")
        let aaaab = "aaaab".unicodeScalars.map(\.value)
        #expect(greedy.matches(in: aaaab, range: 0..<5) == [1..<5])
        let cls = try RegexPattern("[^a-c\\s]+x?")
        let mixed = "abzzx q".unicodeScalars.map(\.value)
        #expect(cls.matches(in: mixed, range: 0..<mixed.count) == [2..<5, 6..<7])
        let escapes = try RegexPattern("\\u2581\\x{41}\\.")
        let e = "\u{2581}A.\u{2581}A!".unicodeScalars.map(\.value)
        #expect(escapes.matches(in: e, range: 0..<e.count) == [0..<3])
        let dot = try RegexPattern("a.c")
        let d = "abc a\nc".unicodeScalars.map(\.value)
        #expect(dot.matches(in: d, range: 0..<d.count) == [0..<3])
    }

    @Test func regexRefusalsNameTheConstruct() {
        func reason(_ pattern: String) -> String {
            do { _ = try RegexPattern(pattern); return "accepted" } catch { return "\(error)" }
        }
        #expect(reason("a|b").contains("alternation"))
        #expect(reason("(a)").contains("groups"))
        #expect(reason("^a").contains("anchors"))
        #expect(reason("\\d+").contains("\\d"))
        #expect(reason("\\p{L}").contains("\\p"))
        #expect(reason("a*").contains("empty string"))
        #expect(reason("a+?").contains("lazy"))
        #expect(reason("[a").contains("unterminated"))
        #expect(reason("a{2").contains("unterminated"))
        #expect(reason("[[:alpha:]]").contains("POSIX"))
        #expect(reason(String(repeating: "a", count: 65)).contains("more than 64"))
        #expect(reason(" {2,}") == "accepted")
    }

    /// Nested greedy repeats that fail would backtrack exponentially; remembered failures keep it polynomial.
    @Test func regexBacktrackingStaysPolynomial() throws {
        let pattern = try RegexPattern(String(repeating: "a*", count: 30) + "c")
        let text = [UInt32](repeating: 0x61, count: 150) + [0x62]
        let start = Date()
        #expect(pattern.matches(in: text, range: 0..<text.count).isEmpty)
        #expect(pattern.matches(in: text + [0x63], range: 0..<(text.count + 1)) == [151..<152])  // "b" breaks the run
        let found = pattern.matches(in: [0x61, 0x61, 0x63, 0x63], range: 0..<4)
        #expect(found == [0..<3, 3..<4])
        #expect(Date().timeIntervalSince(start) < 20)
    }

    @Test func regexReplaceKeepsOrigins() throws {
        var text = NormalizedText(original: "a   b  c".unicodeScalars.map(\.value))
        RegexReplaceNormalizer(pattern: try RegexPattern(" {2,}"), content: " ").normalize(&text)
        #expect(text.string == "a b c")
        #expect(text.origins == [0, 3, 4, 6, 7])
    }

    @Test func unsupportedRegexInTokenizerJSONIsRefused() throws {
        let path = NSTemporaryDirectory() + "featurize-unigram-bad-regex-\(getpid()).json"
        let json = """
        {"normalizer": {"type": "Replace", "pattern": {"Regex": "(a|b)"}, "content": ""},
         "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.0]]}}
        """
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        #expect { _ = try TextTokenizer.load(tokenizerJSON: path, truncation: false) } throws: { error in
            guard case TokenizerError.invalidField(_, let field, let detail) = error else { return false }
            return field == "normalizer.pattern.Regex" && detail.contains("groups")
        }
    }

    // MARK: Metaspace

    @Test func metaspaceSplitsAndPrepends() {
        var text = NormalizedText(original: "hello  world".unicodeScalars.map(\.value))
        var words: [TextSpan] = []
        MetaspacePreTokenizer().preTokenize(&text, pieces: [TextSpan(start: 0, end: text.count)], into: &words)
        #expect(words.map { String(String.UnicodeScalarView(text.scalars[$0.start..<$0.end].compactMap(Unicode.Scalar.init))) }
                == ["\u{2581}hello", "\u{2581}", "\u{2581}world"])
        #expect(words.map { text.origins[$0.start] } == [0, 5, 6])
    }

    @Test func metaspaceJSONFieldsAreValidated() throws {
        func load(_ preTokenizer: String) throws -> TextTokenizer {
            let path = NSTemporaryDirectory() + "featurize-unigram-metaspace-\(getpid()).json"
            let json = """
            {"pre_tokenizer": \(preTokenizer),
             "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["\u{2581}a", -1.0], ["a", -2.0]]}}
            """
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            return try TextTokenizer.load(tokenizerJSON: path, truncation: false)
        }
        // Legacy form and the default scheme: always.
        #expect(try load(#"{"type": "Metaspace", "replacement": "▁", "add_prefix_space": true}"#).encode("a").ids == [1])
        #expect(try load(#"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never"}"#).encode("a").ids == [2])
        #expect(throws: TokenizerError.self) { try load(#"{"type": "Metaspace", "replacement": "▁", "add_prefix_space": false}"#) }
        #expect(throws: TokenizerError.self) { try load(#"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "First"}"#) }
        #expect(throws: TokenizerError.self) { try load(#"{"type": "Metaspace", "replacement": "ab"}"#) }
        #expect(throws: TokenizerError.self) { try load(#"{"type": "Metaspace"}"#) }
    }

    // MARK: Unigram model

    static func model(_ vocab: [(String, Double)], unk: Int? = 0, byteFallback: Bool = false) throws -> UnigramModel {
        try UnigramModel(vocab: vocab.map { (piece: $0.0, score: $0.1) }, unknownId: unk, byteFallback: byteFallback, source: "test")
    }

    static func segment(_ model: UnigramModel, _ word: String) -> [(Int32, Int32, Int32)] {
        let text = NormalizedText(original: word.unicodeScalars.map(\.value))
        var scratch = ModelScratch()
        var tokens: [ModelToken] = []
        model.tokenize(word: TextSpan(start: 0, end: text.count), in: text, scratch: &scratch, into: &tokens)
        return tokens.map { ($0.id, $0.start, $0.end) }
    }

    @Test func viterbiPicksTheBestPathAndTheFirstOfEqualOnes() throws {
        let best = try Self.model([("<unk>", 0), ("a", -1), ("b", -2), ("ab", -2.5)])
        #expect(Self.segment(best, "ab").map(\.0) == [3])
        let tie = try Self.model([("<unk>", 0), ("a", -1), ("b", -1), ("ab", -2)])
        #expect(Self.segment(tie, "ab").map(\.0) == [3])   // a+b ties with ab, found first: ab
        let worse = try Self.model([("<unk>", 0), ("a", -1), ("b", -1), ("ab", -2.5)])
        #expect(Self.segment(worse, "ab").map(\.0) == [1, 2])
    }

    @Test func unknownCharactersFuseAndFallBackToBytes() throws {
        let plain = try Self.model([("<unk>", 0), ("a", -1), ("b", -2)])
        #expect(Self.segment(plain, "xéyab").map { [$0.0, $0.1, $0.2] } == [[0, 0, 3], [1, 3, 4], [2, 4, 5]])
        #expect(plain.unknownScore == -12)
        var vocab: [(String, Double)] = [("<unk>", 0), ("a", -1)]
        for byte in ["78", "C3", "A9"] { vocab.append(("<0x\(byte)>", -5)) }
        let bytes = try Self.model(vocab, byteFallback: true)
        // "xé" = 78 C3 A9: one <0xNN> token per byte, each with the unknown span's offsets.
        #expect(Self.segment(bytes, "xéa").map { [$0.0, $0.1, $0.2] } == [[2, 0, 2], [3, 0, 2], [4, 0, 2], [1, 2, 3]])
        // A byte without its piece: the whole unknown span becomes <unk>.
        #expect(Self.segment(bytes, "ya").map(\.0) == [0, 1])
    }

    /// Scores are read as correctly rounded doubles (from their decimal text; Foundation's JSON numbers on Linux
    /// were 1 ulp off), so
    /// exact ties break as in HF: "aa" ties with "a"+"a", "aaa" with "aa"+"a"; HF keeps the first found.
    @Test func scoresAreExactAndTiesBreakAsHF() throws {
        guard case let .array(parsed) = try JSONScanner.parse(Array("[-5.078342437744141, -10.156684875488281, 0]".utf8)) else {
            Issue.record("not an array"); return
        }
        #expect(parsed.map(\.doubleValue) == [-5.078342437744141, -10.156684875488281, 0])
        let path = NSTemporaryDirectory() + "featurize-unigram-ties-\(getpid()).json"
        try #"{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -5.078342437744141], ["aa", -10.156684875488281]]}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let tokenizer = try TextTokenizer.load(tokenizerJSON: path, truncation: false)
        #expect(tokenizer.encode("aa").ids == [2])        // HF: [2]
        #expect(tokenizer.encode("aaa").ids == [1, 2])    // HF: [1, 2]
    }

    @Test func unigramLoadingErrors() throws {
        #expect(throws: UnigramModelError.self) { try Self.model([("<unk>", 0)], unk: nil) }
        #expect(throws: UnigramModelError.self) { try Self.model([("<unk>", 0)], unk: 5) }
        #expect(throws: UnigramModelError.self) { try Self.model([]) }
        #expect(throws: UnigramModelError.self) { try Self.model([("<unk>", 0), ("a", .nan)]) }
        let path = NSTemporaryDirectory() + "featurize-unigram-bad-vocab-\(getpid()).json"
        try #"{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a"]]}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect { _ = try TextTokenizer.load(tokenizerJSON: path, truncation: false) } throws: { error in
            guard case TokenizerError.invalidField(_, let field, _) = error else { return false }
            return field == "model.vocab[1]"
        }
    }
}
