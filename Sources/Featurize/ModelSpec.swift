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
    /// Named prompts of `config_sentence_transformers.json` (`prompts`).
    public let prompts: [String: String]
    /// `default_prompt_name`: the prompt prepended when the caller names none (as `encode()` does).
    public let defaultPromptName: String?
    /// Pooling `include_prompt`: false excludes the prompt's tokens from the pooled vector.
    public let includePrompt: Bool
    /// The sentence-transformers modules after Pooling (`Dense` with its weights loaded, `Normalize`), in
    /// `modules.json` order. They run when the pooling is the model's default (`defaultPooling`).
    public let head: [EmbeddingHead.Step]

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
        prompts = st?.prompts ?? [:]
        defaultPromptName = st?.defaultPromptName
        includePrompt = st?.includePrompt ?? true
        head = try (st?.head ?? []).map { module -> EmbeddingHead.Step in
            switch module {
            case let .dense(config): return .dense(try DenseLayer(config: config))
            case .normalize: return .normalize
            }
        }
        if let st {
            let methods = try st.poolingModes.map { try PoolingMethod(name: $0) }
            defaultPooling = PoolingSpec(methods: methods.isEmpty ? [.tokens(.mean)] : methods, layers: [-1],
                                         layerReduce: .concat, normalize: st.normalize)
        } else {
            defaultPooling = PoolingSpec(methods: [.tokens(.mean)])
        }
    }

    /// The prompt text a choice resolves to on this model, as `encode(prompt=, prompt_name=)` resolves it:
    /// an explicit text wins, a name must be one of `prompts`, and with neither the default prompt applies.
    /// Nil (or "") means no prompt.
    public func promptText(for choice: PromptChoice) throws -> String? {
        switch choice {
        case .modelDefault: return defaultPromptName.flatMap { prompts[$0] }
        case .none: return nil
        case let .text(text): return text
        case let .named(name):
            guard let text = prompts[name] else {
                let known = prompts.keys.sorted()
                throw FeaturizeError.invalidOption("prompt name '\(name)' is not one of the model's prompts"
                    + (known.isEmpty ? " (it has none)" : " (\(known.joined(separator: ", ")))"))
            }
            return text
        }
    }

    /// The model's tokenizer, truncating at `maxLength`.
    public func loadTokenizer() throws -> TextTokenizer {
        try TextTokenizer.load(directory: directory.transformerPath, maxLength: maxLength, truncation: true)
    }
}

/// Which prompt to prepend to every text (sentence-transformers `encode(prompt=..., prompt_name=...)`).
public enum PromptChoice: Sendable, Equatable {
    /// The model's `default_prompt_name`, if any (what `encode()` does with no arguments).
    case modelDefault
    /// No prompt.
    case none
    /// This literal text (`--prompt`).
    case text(String)
    /// One of the model's named prompts (`--prompt-name`).
    case named(String)
}
