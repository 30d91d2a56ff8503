import DataFormats

/// A sentence-transformers module after Pooling, as `modules.json` lists it.
public enum SentenceTransformersHeadModule: Sendable, Equatable {
    /// `Dense`: `activation(W · x + b)`.
    case dense(DenseModuleConfig)
    /// `Normalize`: x / max(‖x‖₂, 1e-12).
    case normalize
}

/// The element-wise activation of a `Dense` module (`activation_function`, a torch class path such as
/// `torch.nn.modules.activation.Tanh`).
public enum DenseActivation: String, Sendable, CaseIterable {
    case identity, tanh, relu, sigmoid, gelu

    /// Parses the last component of a torch class path (`...Tanh`, `...Identity`, `...ReLU`, `...Sigmoid`,
    /// `...GELU`); nil for anything else.
    public init?(torchClassPath: String) {
        let name = torchClassPath.split(separator: ".").last.map { String($0).lowercased() } ?? ""
        self.init(rawValue: name)
    }
}

/// A sentence-transformers `Dense` module (`N_Dense/config.json` + `N_Dense/model.safetensors`):
/// `out[out_features] = activation(linear.weight[out_features, in_features] · x[in_features] + linear.bias)`.
public struct DenseModuleConfig: Sendable, Equatable {
    /// The module's name in modules.json.
    public var name: String
    public var configPath: String
    /// The safetensors file holding `linear.weight` `[out_features, in_features]` and `linear.bias` `[out_features]`.
    public var weightsPath: String
    public var inFeatures: Int
    public var outFeatures: Int
    public var bias: Bool
    public var activation: DenseActivation

    public init(name: String, configPath: String, weightsPath: String, inFeatures: Int, outFeatures: Int, bias: Bool,
                activation: DenseActivation) {
        self.name = name; self.configPath = configPath; self.weightsPath = weightsPath
        self.inFeatures = inFeatures; self.outFeatures = outFeatures; self.bias = bias; self.activation = activation
    }

    /// Reads and validates `directory/config.json`; `inputWidth` is the width of the vector the module receives.
    static func load(directory: String, name: String, inputWidth: Int) throws -> DenseModuleConfig {
        let configPath = FileSystem.join(directory, "config.json")
        guard FileSystem.isFile(configPath) else { throw ModelIOError.fileNotFound(path: configPath) }
        let reader = try JSONObjectReader.load(path: configPath)
        let inFeatures = try reader.int("in_features")
        let outFeatures = try reader.int("out_features")
        guard (1...1_000_000).contains(inFeatures) else {
            throw ModelIOError.configInvalidField(path: configPath, field: "in_features", reason: "must be in 1...1000000, found \(inFeatures)")
        }
        guard (1...1_000_000).contains(outFeatures) else {
            throw ModelIOError.configInvalidField(path: configPath, field: "out_features", reason: "must be in 1...1000000, found \(outFeatures)")
        }
        guard inFeatures == inputWidth else {
            throw ModelIOError.configInvalidField(path: configPath, field: "in_features",
                                                  reason: "\(inFeatures) differs from the width of its input (\(inputWidth))")
        }
        let bias = try reader.bool("bias", default: true)
        var activation = DenseActivation.tanh  // sentence-transformers' default
        if reader.has("activation_function"), reader.value["activation_function"] != .null {
            let path = try reader.string("activation_function")
            guard let parsed = DenseActivation(torchClassPath: path) else {
                throw ModelIOError.configInvalidField(
                    path: configPath, field: "activation_function",
                    reason: "\"\(path)\" is not supported (valid: torch.nn Identity, Tanh, ReLU, Sigmoid, GELU)")
            }
            activation = parsed
        }
        if try reader.bool("use_residual", default: false) {
            throw ModelIOError.configInvalidField(path: configPath, field: "use_residual", reason: "residual Dense modules are not supported")
        }
        for field in ["module_input_name", "module_output_name"] where reader.has(field) && reader.value[field] != .null {
            let value = try reader.string(field)
            guard value == "sentence_embedding" else {
                throw ModelIOError.configInvalidField(path: configPath, field: field,
                                                      reason: "\"\(value)\" is not supported (only \"sentence_embedding\")")
            }
        }
        let weightsPath = FileSystem.join(directory, "model.safetensors")
        guard FileSystem.isFile(weightsPath) else {
            let pickles = FileSystem.contents(of: directory).filter { SafetensorsFile.isPickleFileName($0) }
            if !pickles.isEmpty { throw ModelIOError.pickleOnlyDirectory(directory: directory, files: pickles) }
            throw ModelIOError.weightsNotFound(directory: directory)
        }
        return DenseModuleConfig(name: name, configPath: configPath, weightsPath: weightsPath, inFeatures: inFeatures,
                                 outFeatures: outFeatures, bias: bias, activation: activation)
    }
}
