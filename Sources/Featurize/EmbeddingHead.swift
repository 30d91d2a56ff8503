import Foundation
import ModelIO
import Pooling

/// A sentence-transformers `Dense` module loaded for the host: `activation(W · x + b)`, exact float32.
public struct DenseLayer: Sendable {
    public let config: DenseModuleConfig
    /// `[outFeatures, inFeatures]`, row-major (torch `nn.Linear.weight`).
    public let weight: [Float]
    /// `[outFeatures]`, zeros when the module has no bias.
    public let bias: [Float]

    /// Loads `linear.weight` / `linear.bias` from the module's safetensors file, checking their shapes.
    public init(config: DenseModuleConfig) throws {
        self.config = config
        let file = try SafetensorsFile(path: config.weightsPath)
        let w = try file.tensor("linear.weight")
        guard w.shape == [config.outFeatures, config.inFeatures] else {
            throw FeaturizeError.invalidOption("\(config.weightsPath): linear.weight has shape \(w.shape), expected [\(config.outFeatures), \(config.inFeatures)] from \(config.configPath)")
        }
        weight = w.values
        if config.bias {
            let b = try file.tensor("linear.bias")
            guard b.shape == [config.outFeatures] else {
                throw FeaturizeError.invalidOption("\(config.weightsPath): linear.bias has shape \(b.shape), expected [\(config.outFeatures)]")
            }
            bias = b.values
        } else {
            bias = [Float](repeating: 0, count: config.outFeatures)
        }
    }

    /// Applies the layer to `rows` vectors `[rows, inFeatures]`; returns `[rows, outFeatures]`.
    public func apply(_ input: [Float], rows: Int) -> [Float] {
        let n = config.inFeatures, m = config.outFeatures
        var out = [Float](repeating: 0, count: rows * m)
        input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                for r in 0..<rows {
                    let xr = x.baseAddress! + r * n
                    for o in 0..<m {
                        let wo = w.baseAddress! + o * n
                        var sum: Float = 0
                        for i in 0..<n { sum += wo[i] * xr[i] }
                        out[r * m + o] = DenseLayer.activate(sum + bias[o], config.activation)
                    }
                }
            }
        }
        return out
    }

    static func activate(_ x: Float, _ activation: DenseActivation) -> Float {
        switch activation {
        case .identity: return x
        case .tanh: return tanhf(x)
        case .relu: return max(x, 0)
        case .sigmoid: return 1 / (1 + expf(-x))
        case .gelu: return 0.5 * x * (1 + erff(x / Float(2).squareRoot()))
        }
    }
}

/// What runs after pooling, in order: the model's `Dense`/`Normalize` modules (sentence-transformers
/// `modules.json` order), then `--truncate-dim` (Matryoshka: keep the first N features, as
/// `encode(truncate_dim=N)` does after the model's modules), then an optional L2 normalisation of the
/// truncated vector (`encode(..., normalize_embeddings=True)`).
public struct EmbeddingHead: Sendable {
    public enum Step: Sendable {
        case dense(DenseLayer)
        case normalize
        case truncate(Int)
    }

    public var steps: [Step]

    public init(steps: [Step] = []) { self.steps = steps }

    public var isEmpty: Bool { steps.isEmpty }

    /// The output width for an input of `width` features.
    public func outputDimension(input width: Int) -> Int {
        var w = width
        for step in steps {
            switch step {
            case let .dense(layer): w = layer.config.outFeatures
            case .normalize: break
            case let .truncate(n): w = min(w, n)
            }
        }
        return w
    }

    /// Runs the steps on `[rows, width]`; returns `[rows, outputDimension(input: width)]`.
    public func apply(_ values: [Float], rows: Int, width: Int) -> [Float] {
        var current = values
        var w = width
        for step in steps {
            switch step {
            case let .dense(layer):
                current = layer.apply(current, rows: rows)
                w = layer.config.outFeatures
            case .normalize:
                HostPooling.l2Normalize(&current, rows: rows, cols: w)
            case let .truncate(n) where n < w:
                var cut = [Float](repeating: 0, count: rows * n)
                for r in 0..<rows { for c in 0..<n { cut[r * n + c] = current[r * w + c] } }
                current = cut
                w = n
            case .truncate:
                break
            }
        }
        return current
    }
}

/// Per-extractor output choices beyond pooling (sentence-transformers `encode` arguments).
public struct EmbeddingOptions: Sendable, Equatable {
    /// Which prompt to prepend (`prompt=` / `prompt_name=`; default the model's `default_prompt_name`).
    public var prompt: PromptChoice
    /// Keep the first N features after the model's modules (`truncate_dim=`).
    public var truncateDim: Int?
    /// L2-normalise after truncation (`normalize_embeddings=True` with `truncate_dim`).
    public var normalizeAfterTruncation: Bool

    public init(prompt: PromptChoice = .modelDefault, truncateDim: Int? = nil, normalizeAfterTruncation: Bool = false) {
        self.prompt = prompt; self.truncateDim = truncateDim; self.normalizeAfterTruncation = normalizeAfterTruncation
    }
}
