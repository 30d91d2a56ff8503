#if canImport(Glibc)
import Glibc
#endif
import Tokenizer

/// Targets for the tokenizer: loading arbitrary tokenizer.json files, and tokenizing arbitrary text with the
/// real all-MiniLM-L6-v2 vocabulary.
enum TokenizerTargets {
    static let all: [FuzzTarget] = [
        FuzzTarget(name: "tokenizer-json", run: tokenizerJSON),
        FuzzTarget(name: "tokenize", setUp: { _ = miniLM }, run: tokenize),
        FuzzTarget(name: "tokenizer-dir", setUp: setUpTokenizerDirectory, run: tokenizerDirectory),
    ]

    static var tokenizerDirectoryPath: String { FuzzFiles.scratch + "/tokdir" }
    static let tokenizerDirectoryFiles = ["vocab.txt", "tokenizer_config.json", "sentence_bert_config.json", "config.json"]

    static func setUpTokenizerDirectory() {
        mkdir(tokenizerDirectoryPath, 0o700)
        atexit {
            for name in TokenizerTargets.tokenizerDirectoryFiles { unlink(TokenizerTargets.tokenizerDirectoryPath + "/" + name) }
            rmdir(TokenizerTargets.tokenizerDirectoryPath)
        }
    }

    /// The input is a model directory without tokenizer.json, as NUL-separated parts: `vocab.txt`,
    /// `tokenizer_config.json`, `sentence_bert_config.json`, `config.json` (a missing part means no such file).
    /// Loads it (BERT defaults from vocab.txt, max length resolution) and tokenizes the probe texts.
    static func tokenizerDirectory(_ bytes: UnsafeBufferPointer<UInt8>) {
        let dir = tokenizerDirectoryPath
        let parts = FuzzFiles.split(bytes, maxParts: tokenizerDirectoryFiles.count)
        for (index, name) in tokenizerDirectoryFiles.enumerated() {
            if index < parts.count { FuzzFiles.write(parts[index], to: dir + "/" + name) } else { unlink(dir + "/" + name) }
        }
        guard let tokenizer = try? TextTokenizer.load(directory: dir) else { return }
        if let maxLength = tokenizer.maxLength { fuzzCheck(maxLength >= 1, "accepted max length \(maxLength)") }
        for text in probeTexts { check(tokenizer.encode(text), of: text, maxLength: tokenizer.maxLength, maxId: nil) }
    }

    /// WordPiece-minded texts plus byte-level BPE ones (`<mask>` after spaces, contractions, emoji, space runs).
    static let probeTexts = ["Hello, world!", "naïve café 東京 [CLS] don't [MASK]x", "", "  \t\u{0}\u{FEFF}a",
                             "Hello  <mask> it's\u{1F44D}\u{1F3FD} hello world  ", "'s 'LL\n\n x"]

    /// The input is a tokenizer.json (any model: WordPiece, byte-level BPE with RobertaProcessing — the seeds
    /// include a small BPE one, Fuzz/corpus/tokenizer-json/bpe-small.json): load it; if it loads, tokenize a
    /// few fixed texts and check the encodings.
    static func tokenizerJSON(_ bytes: UnsafeBufferPointer<UInt8>) {
        let path = FuzzFiles.scratch + "/tokenizer.json"
        FuzzFiles.write(bytes, to: path)
        for maxLength in [nil, 8] as [Int?] {
            guard let tokenizer = try? TextTokenizer.load(tokenizerJSON: path, maxLength: maxLength) else { return }
            for text in probeTexts { check(tokenizer.encode(text), of: text, maxLength: maxLength, maxId: nil) }
        }
    }

    /// all-MiniLM-L6-v2's tokenizer, loaded once: truncating at 16 tokens and not truncating.
    static let miniLM: (truncating: TextTokenizer, full: TextTokenizer, maxId: Int32) = {
        let path = modelDirectory + "/tokenizer.json"
        do {
            let truncating = try TextTokenizer.load(tokenizerJSON: path, maxLength: 16)
            let full = try TextTokenizer.load(tokenizerJSON: path, truncation: false)
            let maxId = max(full.model.vocab.values.max() ?? 0, full.addedTokens.map(\.id).max() ?? 0)
            return (truncating, full, maxId)
        } catch {
            fputs("FeaturizeFuzz: cannot load \(path): \(error)\n", stderr)
            exit(1)
        }
    }()

    /// `FEATURIZE_MODEL_DIR`, default `models/all-MiniLM-L6-v2` (relative to the working directory).
    static var modelDirectory: String {
        getenv("FEATURIZE_MODEL_DIR").map { String(cString: $0) } ?? "models/all-MiniLM-L6-v2"
    }

    /// The input is a text (bytes decoded as UTF-8 with replacement, as the input readers would not: they
    /// reject invalid UTF-8, so this covers more). Right truncation must give a prefix of the full encoding.
    static func tokenize(_ bytes: UnsafeBufferPointer<UInt8>) {
        let text = String(decoding: bytes, as: UTF8.self)
        let (truncating, full, maxId) = miniLM
        let all = full.encode(text)
        let cut = truncating.encode(text)
        check(all, of: text, maxLength: nil, maxId: maxId)
        check(cut, of: text, maxLength: 16, maxId: maxId)
        if cut.wasCharCapped { return }
        if all.count <= 16 {
            fuzzCheck(cut.ids == all.ids && !cut.wasTruncated, "truncation changed a short encoding")
        } else {
            fuzzCheck(cut.wasTruncated && cut.count == 16, "a \(all.count)-token text was not cut to 16")
            fuzzCheck(Array(cut.ids.dropLast()) == Array(all.ids.prefix(15)) && cut.ids.last == all.ids.last,
                      "right truncation is not [CLS] + prefix + [SEP]: \(cut.ids) vs \(all.ids.prefix(16))")
        }
    }

    static func check(_ encoding: Encoding, of text: String, maxLength: Int?, maxId: Int32?) {
        let n = encoding.ids.count
        fuzzCheck(encoding.typeIds.count == n && encoding.attentionMask.count == n && encoding.offsets.count == n,
                  "encoding arrays differ in length")
        if let maxLength { fuzzCheck(n <= maxLength, "\(n) tokens exceed max length \(maxLength)") }
        fuzzCheck(encoding.attentionMask.allSatisfy { $0 == 1 }, "attention mask not all 1")
        if let maxId { fuzzCheck(encoding.ids.allSatisfy { $0 >= 0 && $0 <= maxId }, "id outside the vocabulary") }
        let scalars = text.unicodeScalars.count
        for (start, end) in encoding.offsets {
            fuzzCheck(0 <= start && start <= end && end <= scalars, "offset (\(start), \(end)) outside \(scalars) scalars")
        }
    }
}
