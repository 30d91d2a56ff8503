/// Finding canonical tensor names in checkpoints saved with a task head or in an old naming scheme.
///
/// The encoder asks for names as `BertModel` / `DistilBertModel` / `RobertaModel` / `MPNetModel` save them
/// (e.g. `embeddings.word_embeddings.weight`). Checkpoints saved from `BertFor...` / `DistilBertFor...` /
/// `RobertaFor...` (also XLM-R, CamemBERT) / `MPNetFor...` prefix them with `bert.` / `distilbert.` /
/// `roberta.` / `mpnet.`, and old (TF-converted) checkpoints call LayerNorm parameters
/// `gamma` / `beta` instead of `weight` / `bias`.
public enum WeightNames {
    /// Prefixes tried after the bare name, in order.
    public static let modelPrefixes: [String] = ["bert.", "distilbert.", "roberta.", "mpnet."]

    /// Every stored name that `name` may appear as, in lookup order: the name itself, then with each model
    /// prefix, then the same with LayerNorm `weight`↔`gamma` / `bias`↔`beta` swapped.
    public static func candidateNames(for name: String) -> [String] {
        var bases = [name]
        if let swapped = layerNormAlias(name) { bases.append(swapped) }
        var result: [String] = []
        for base in bases {
            result.append(base)
            for prefix in modelPrefixes { result.append(prefix + base) }
        }
        return result
    }

    /// `x.LayerNorm.weight` ↔ `x.LayerNorm.gamma`, `x.LayerNorm.bias` ↔ `x.LayerNorm.beta` (also for
    /// `*layer_norm` modules). Nil for other names.
    public static func layerNormAlias(_ name: String) -> String? {
        guard let dot = name.lastIndex(of: ".") else { return nil }
        let module = name[..<dot]
        let moduleName = module.split(separator: ".").last.map(String.init) ?? String(module)
        guard moduleName == "LayerNorm" || moduleName.hasSuffix("layer_norm") else { return nil }
        let parameter = name[name.index(after: dot)...]
        let aliases = ["weight": "gamma", "gamma": "weight", "bias": "beta", "beta": "bias"]
        guard let alias = aliases[String(parameter)] else { return nil }
        return module + "." + alias
    }
}

extension WeightStore {
    /// The stored name for canonical `name`: `name`, or with one of `WeightNames.modelPrefixes`, or (for LayerNorm
    /// parameters) the same with `gamma`/`beta` ↔ `weight`/`bias`. Nil when none is present.
    public func resolve(_ name: String) -> String? {
        for candidate in WeightNames.candidateNames(for: name) where shape(of: candidate) != nil {
            return candidate
        }
        return nil
    }

    /// The tensor for canonical `name` (see `resolve(_:)`), converted to float32.
    /// Throws `ModelIOError.tensorNotFound` when no candidate name is present.
    public func resolvedTensor(_ name: String, source: String = "weights") throws -> HostTensor {
        guard let stored = resolve(name) else { throw ModelIOError.tensorNotFound(path: source, tensor: name) }
        return try tensor(stored)
    }
}
