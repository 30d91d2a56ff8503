import DataFormats
import ModelIO
import Pooling
import Tokenizer

/// A model directory resolved once into everything downstream needs — the encoder configuration and weights,
/// the tokenizer's directory, the effective maximum length (one rule: `MaxLengthRule`), the
/// sentence-transformers pipeline (pooling, Normalize, lowercasing, prompts) and the default pooling — passed
/// as a value to the extractors of every device, the CLI and the library. Nothing re-reads the directory.
public struct ModelSpec: Sendable {
    /// The files and parsed configuration (`ModelIO`).
    public let directory: ModelDirectory
    /// Maximum tokens per text, special tokens included: the explicit length if given (validated against the
    /// usable positions), else `MaxLengthRule` over the directory's config files.
    public let maxLength: Int
    /// sentence-transformers `do_lower_case`: texts are lowercased before tokenizing.
    public let lowercaseInput: Bool
    /// The pooling with no flags: the sentence-transformers pooling modes and Normalize (last layer), else mean
    /// pooling of the last layer.
    public let defaultPooling: PoolingSpec

    public var path: String { directory.path }
    public var config: EncoderConfig { directory.config }
    public var sentenceTransformers: SentenceTransformersConfig? { directory.sentenceTransformers }

    /// Resolves the directory at `path`. An explicit `maxLength` outside 2...usable positions is
    /// `FeaturizeError.invalidOption`; bad files are `ModelIOError`s naming the file.
    public init(path: String, maxLength: Int? = nil) throws {
        let directory = try ModelDirectory(path: path)
        let positions = directory.config.maxSequencePositions  // RoBERTa-style ids: max_position_embeddings - padding_idx - 1
        if let maxLength {
            guard maxLength >= 2 else { throw FeaturizeError.invalidOption("max length must be at least 2, got \(maxLength)") }
            guard maxLength <= positions else {
                throw FeaturizeError.invalidOption("max length \(maxLength) exceeds the model's max_position_embeddings \(positions)")
            }
        }
        self.directory = directory
        let st = directory.sentenceTransformers
        self.maxLength = MaxLengthRule.resolve(explicit: maxLength, sentenceTransformersMaxSeqLength: st?.maxSeqLength,
                                               tokenizerModelMaxLength: directory.tokenizerModelMaxLength.map(Double.init),
                                               usablePositions: positions) ?? positions
        lowercaseInput = st?.doLowerCase ?? false
        if let st {
            let methods = try st.poolingModes.map { try PoolingMethod(name: $0) }
            defaultPooling = PoolingSpec(methods: methods.isEmpty ? [.tokens(.mean)] : methods, layers: [-1],
                                         layerReduce: .concat, normalize: st.normalize)
        } else {
            defaultPooling = PoolingSpec(methods: [.tokens(.mean)])
        }
    }

    /// The model's tokenizer, truncating at `maxLength`.
    public func loadTokenizer() throws -> TextTokenizer {
        try TextTokenizer.load(directory: directory.transformerPath, maxLength: maxLength, truncation: true)
    }
}
