/// One token produced by a `TokenizerModel`: its id and the scalar range `[start, end)` of the word it covers,
/// as indices into the `NormalizedText` the word came from (the tokenizer maps them to original offsets).
public struct ModelToken: Sendable, Equatable {
    public var id: Int32
    public var start: Int32
    public var end: Int32
    public init(id: Int32, start: Int32, end: Int32) { self.id = id; self.start = start; self.end = end }
}

/// Reusable per-thread buffers a model may use while tokenizing (so the hot path does not allocate).
/// Owned by one thread at a time; a model uses whichever buffers it needs and leaves their contents undefined.
public struct ModelScratch {
    /// UTF-8 bytes of the current word.
    public var bytes: [UInt8] = []
    /// For each byte of `bytes`, the index of the scalar it belongs to.
    public var byteScalars: [Int32] = []
    /// Hashes (e.g. prefix hashes of `bytes`).
    public var hashes: [UInt64] = []
    /// General integer buffers.
    public var integers: [Int32] = []
    public var moreIntegers: [Int32] = []
    /// General floating-point buffer (e.g. lattice scores).
    public var scores: [Double] = []
    /// Model-specific per-thread state (e.g. a word cache), created by the model on first use and kept
    /// for the thread's later words. `nil` until then.
    public var state: AnyObject? = nil

    public init() {}
}

/// The model stage (HF `model` section of tokenizer.json): turns one pre-tokenized word into vocabulary tokens.
/// Implementations: `WordPieceModel`, `BPEModel`. Called once per word; must be safe to call from several
/// threads at once (per-thread data goes in `ModelScratch`).
public protocol TokenizerModel: Sendable {
    /// Token string -> id of the model's own vocabulary (added tokens not included).
    var vocab: [String: Int32] { get }
    /// Tokenizes the word `text.scalars[word.start..<word.end]` (non-empty), appending its tokens in order to
    /// `tokens`, each with the scalar range of `text` it covers.
    func tokenize(word: TextSpan, in text: NormalizedText, scratch: inout ModelScratch, into tokens: inout [ModelToken])
    /// Called when a thread is done with `scratch` (e.g. to return a per-thread cache to a shared pool).
    /// Default: nothing.
    func recycle(scratch: inout ModelScratch)
}

extension TokenizerModel {
    public func recycle(scratch: inout ModelScratch) {}
}

extension ModelScratch {
    /// Fills `bytes` with the UTF-8 encoding of `text.scalars[word]` and `byteScalars` with each byte's scalar index.
    @inline(__always)
    mutating func loadUTF8(_ word: TextSpan, from text: NormalizedText) {
        bytes.removeAll(keepingCapacity: true)
        byteScalars.removeAll(keepingCapacity: true)
        text.scalars.withUnsafeBufferPointer { scalars in
            for i in word.start..<word.end {
                let s = scalars[i]
                let index = Int32(i)
                if s < 0x80 {
                    bytes.append(UInt8(s)); byteScalars.append(index)
                } else if s < 0x800 {
                    bytes.append(UInt8(0xC0 | (s >> 6)))
                    bytes.append(UInt8(0x80 | (s & 0x3F)))
                    byteScalars.append(index); byteScalars.append(index)
                } else if s < 0x10000 {
                    bytes.append(UInt8(0xE0 | (s >> 12)))
                    bytes.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
                    bytes.append(UInt8(0x80 | (s & 0x3F)))
                    byteScalars.append(index); byteScalars.append(index); byteScalars.append(index)
                } else {
                    bytes.append(UInt8(0xF0 | (s >> 18)))
                    bytes.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
                    bytes.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
                    bytes.append(UInt8(0x80 | (s & 0x3F)))
                    for _ in 0..<4 { byteScalars.append(index) }
                }
            }
        }
    }
}
