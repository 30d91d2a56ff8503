import Backend

// Module Pooling: the one place pooling semantics live.
//
// Token-reduction modes (`PoolingMode`, declared in Backend so backends can implement them), for one sequence
// of hidden states `[seq, hidden]` with `n` real tokens at positions 0..<n (right padding ignored):
//   cls            row 0 (the [CLS] token), raw
//   mean           sum of the n real rows / n                       (sentence-transformers `mean`)
//   max            element-wise max over the n real rows only        (sentence-transformers `max`)
//   mean_sqrt_len  sum of the n real rows / sqrt(n)                  (sentence-transformers `mean_sqrt_len_tokens`)
//   weighted_mean  sum of row[t] * (t + 1) / sum(1...n)              (sentence-transformers `weightedmean`)
//   last           row n - 1, the last real token (usually [SEP])   (sentence-transformers `lasttoken`)
// A sequence with n = 0 pools to zeros.
// Plus `pooler`: BERT's pooler head, tanh(W · h_cls + b) on the [CLS] row of the last layer; it needs the
// model's `pooler.dense` weights and is computed by the Encoder.
//
// A `PoolingSpec` combines methods × layers:
//   layers use Hugging Face `hidden_states` indexing: 0 = embeddings output, L = last layer, negative
//   indices count from the end (-1 = L, -(L+1) = 0);
//   layer reduce `concat` (default): the output is LAYER-MAJOR — for each layer in the given order, every
//   method in the given order, each `hidden` wide: [l0.m0 | l0.m1 | ... | l1.m0 | l1.m1 | ...];
//   layer reduce `mean`: each method's vectors are averaged element-wise over the layers: [m0 | m1 | ...];
//   normalize: finally each output row is divided by max(L2 norm, 1e-12) (sentence-transformers `Normalize`).

/// Errors in a pooling specification; the descriptions are usage messages listing the valid values.
public enum PoolingError: Error, CustomStringConvertible, Equatable {
    case unknownMethod(String)
    case emptyMethods
    case unparsableLayers(String)
    case layerOutOfRange(layer: Int, numLayers: Int)
    case unknownLayerReduce(String)
    case poolerNeedsLastLayer(layers: [Int], numLayers: Int)
    /// A layer number beyond ±`PoolingSpec.maxLayerNumber` (checked before a range is expanded).
    case layerNumberTooLarge(String)
    /// The same hidden_states index requested twice (e.g. `-1,12` on a 12-layer model).
    case duplicateLayer(layer: Int, index: Int)
    /// A range from a layer counted from the start to one counted from the end (`0..-1`).
    case mixedRange(String)
    /// The same pooling method given twice (`mean,mean`).
    case duplicateMethod(String)

    public var description: String {
        switch self {
        case let .unknownMethod(name):
            return "unknown pooling '\(name)'; valid: \(PoolingMethod.validNames.joined(separator: ", "))"
        case .emptyMethods:
            return "no pooling given; valid: \(PoolingMethod.validNames.joined(separator: ", "))"
        case let .unparsableLayers(text):
            return "cannot parse layers '\(text)'; use one index (-1), a list (-4,-3,-2,-1 or 0,6,12) or a range (-4..-1)"
        case let .layerOutOfRange(layer, numLayers):
            return "layer \(layer) out of range for a model with \(numLayers) layers; valid: 0...\(numLayers) "
                + "(0 = embeddings output) or -\(numLayers + 1)...-1"
        case let .unknownLayerReduce(name):
            return "unknown layer reduce '\(name)'; valid: \(LayerReduce.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .poolerNeedsLastLayer(layers, numLayers):
            return "pooling 'pooler' uses the last layer only (\(numLayers)), but layers \(layers) were requested; use --layers -1"
        case let .layerNumberTooLarge(text):
            return "layer number '\(text)' out of range: layers are -\(PoolingSpec.maxLayerNumber)...\(PoolingSpec.maxLayerNumber)"
        case let .mixedRange(range):
            return "layer range '\(range)' mixes a layer counted from the start with one counted from the end; write both ends from the start (0..12) or from the end (-4..-1), or list the layers"
        case let .duplicateMethod(name):
            return "pooling '\(name)' is given twice; give each pooling once"
        case let .duplicateLayer(layer, index):
            return "layer \(layer) (hidden_states index \(index)) is requested twice; give each layer once"
        }
    }
}

/// One pooling method: a token reduction or BERT's pooler head.
public enum PoolingMethod: Hashable, Sendable, CustomStringConvertible {
    case tokens(PoolingMode)
    /// BERT pooler: tanh(dense(h_cls)) of the last layer (needs `pooler.dense.*` weights).
    case pooler

    /// Names accepted by `init(name:)` (sentence-transformers spellings are accepted too).
    public static let validNames = PoolingMode.allCases.map(\.rawValue) + ["pooler"]

    /// Parses a method name: cls, mean, max, mean_sqrt_len, weighted_mean, last, pooler (also
    /// sentence-transformers' `mean_sqrt_len_tokens`, `weightedmean`, `lasttoken`; '-' may replace '_').
    public init(name: String) throws {
        let key = name.trimmingWhitespace().lowercased().replacingUnderscoreVariants()
        switch key {
        case "pooler": self = .pooler
        case "mean_sqrt_len_tokens": self = .tokens(.meanSqrtLen)
        case "weightedmean": self = .tokens(.weightedMean)
        case "lasttoken": self = .tokens(.last)
        default:
            guard let mode = PoolingMode(rawValue: key) else { throw PoolingError.unknownMethod(name) }
            self = .tokens(mode)
        }
    }

    public var description: String {
        switch self {
        case let .tokens(mode): return mode.rawValue
        case .pooler: return "pooler"
        }
    }
}

/// How pooled vectors of several layers are combined.
public enum LayerReduce: String, Sendable, CaseIterable {
    /// Side by side, layer-major.
    case concat
    /// Element-wise mean over layers.
    case mean
}

/// What to pool: methods × layers, layer reduction, optional L2 normalisation. See the module comment for the
/// exact output layout.
public struct PoolingSpec: Sendable, Equatable {
    public var methods: [PoolingMethod]
    /// Hugging Face hidden-state indices as given (may be negative); resolve with `resolvedLayers(numLayers:)`.
    public var layers: [Int]
    public var layerReduce: LayerReduce
    public var normalize: Bool

    public init(methods: [PoolingMethod], layers: [Int] = [-1], layerReduce: LayerReduce = .concat,
                normalize: Bool = false) {
        self.methods = methods; self.layers = layers; self.layerReduce = layerReduce; self.normalize = normalize
    }

    /// Parses the CLI spellings: `pooling` "mean" or "cls,max"; `layers` "-1", "-4,-3,-2,-1", "0,6,12" or
    /// "-4..-1"; `layerReduce` "concat" or "mean".
    public static func parse(pooling: String, layers: String = "-1", layerReduce: String = "concat",
                             normalize: Bool = false) throws -> PoolingSpec {
        let names = pooling.split(separator: ",").map(String.init).filter { !$0.trimmingWhitespace().isEmpty }
        guard !names.isEmpty else { throw PoolingError.emptyMethods }
        let methods = try names.map { try PoolingMethod(name: $0) }
        if let twice = methods.indices.first(where: { i in methods[..<i].contains(methods[i]) }) {
            throw PoolingError.duplicateMethod(names[twice].trimmingWhitespace())
        }
        guard let reduce = LayerReduce(rawValue: layerReduce.trimmingWhitespace().lowercased()) else {
            throw PoolingError.unknownLayerReduce(layerReduce)
        }
        return PoolingSpec(methods: methods, layers: try parseLayers(layers), layerReduce: reduce, normalize: normalize)
    }

    /// The largest layer number accepted (far above any model's depth), checked before a range is expanded
    /// so that `0..99999999999` is an error, not an allocation of billions of indices.
    public static let maxLayerNumber = 10_000

    /// Parses a layer list: one index, a comma-separated list, or an inclusive range `a..b` (either order is
    /// kept as written: `-1..-4` counts down). Lists may mix both: "0,-3..-1". A range's ends must both count
    /// from the start or both from the end: `0..-1` (which would expand to just 0 and -1) is an error.
    public static func parseLayers(_ text: String) throws -> [Int] {
        var result: [Int] = []
        func bounded(_ piece: Substring) throws -> Int {
            let trimmed = String(piece).trimmingWhitespace()
            guard let value = Int(trimmed) else {
                // Digits that do not fit in an Int are a number out of range, not a syntax error.
                let digits = trimmed.hasPrefix("-") || trimmed.hasPrefix("+") ? trimmed.dropFirst() : Substring(trimmed)
                if !digits.isEmpty, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }) { throw PoolingError.layerNumberTooLarge(trimmed) }
                throw PoolingError.unparsableLayers(text)
            }
            guard (-maxLayerNumber...maxLayerNumber).contains(value) else { throw PoolingError.layerNumberTooLarge(trimmed) }
            return value
        }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        for raw in parts {
            let part = String(raw).trimmingWhitespace()
            if let r = part.firstRange(of: "..") {
                let a = try bounded(part[..<r.lowerBound]), b = try bounded(part[r.upperBound...])
                guard (a >= 0) == (b >= 0) else { throw PoolingError.mixedRange(part) }
                result += a <= b ? Array(a...b) : Array((b...a).reversed())
            } else {
                result.append(try bounded(Substring(part)))
            }
        }
        guard !result.isEmpty else { throw PoolingError.unparsableLayers(text) }
        return result
    }

    /// The layers as indices into `hidden_states` (0...numLayers), in the given order.
    public func resolvedLayers(numLayers: Int) throws -> [Int] {
        let resolved = try layers.map { layer -> Int in
            let index = layer < 0 ? numLayers + 1 + layer : layer
            guard index >= 0 && index <= numLayers else {
                throw PoolingError.layerOutOfRange(layer: layer, numLayers: numLayers)
            }
            return index
        }
        var seen = Set<Int>()
        for (layer, index) in zip(layers, resolved) where !seen.insert(index).inserted {
            throw PoolingError.duplicateLayer(layer: layer, index: index)
        }
        if methods.contains(.pooler) && resolved.contains(where: { $0 != numLayers }) {
            throw PoolingError.poolerNeedsLastLayer(layers: layers, numLayers: numLayers)
        }
        return resolved
    }

    /// Output width for a model with `hidden` features.
    public func outputDimension(hidden: Int) -> Int {
        methods.count * hidden * (layerReduce == .concat ? layers.count : 1)
    }
}

/// Host reference implementation of pooling (the semantics every backend's `pool` must match).
public enum HostPooling {
    /// Pools `hidden` `[batch, seq, cols]` (right-padded; `lengths[b]` real tokens) to `[batch, cols]`.
    public static func pool(_ hidden: [Float], lengths: [Int32], batch: Int, seq: Int, cols: Int,
                            mode: PoolingMode) -> [Float] {
        precondition(hidden.count >= batch * seq * cols && lengths.count == batch, "HostPooling.pool: shape mismatch")
        var out = [Float](repeating: 0, count: batch * cols)
        hidden.withUnsafeBufferPointer { h in
            out.withUnsafeMutableBufferPointer { o in
                for b in 0..<batch {
                    poolSequence(h.baseAddress! + b * seq * cols, length: min(max(Int(lengths[b]), 0), seq), cols: cols,
                                 mode: mode, out: o.baseAddress! + b * cols)
                }
            }
        }
        return out
    }

    /// Pools one sequence `[length, cols]` (rows at `hidden`) into `out[cols]`: the definition of every mode
    /// (the CPU backend runs exactly this; device kernels are tested against it). A sequence of length 0
    /// pools to zeros.
    /// - cls: row 0; last: row n-1; max: element-wise max over the n real rows; mean: sum / n;
    ///   mean_sqrt_len: sum / sqrt(n); weighted_mean: sum of (t+1)·row[t] / (n(n+1)/2).
    public static func poolSequence(_ hidden: UnsafePointer<Float>, length n: Int, cols: Int, mode: PoolingMode,
                                    out: UnsafeMutablePointer<Float>) {
        guard n > 0 else { out.update(repeating: 0, count: cols); return }
        switch mode {
        case .cls:
            out.update(from: hidden, count: cols)
        case .last:
            out.update(from: hidden + (n - 1) * cols, count: cols)
        case .max:
            out.update(from: hidden, count: cols)
            for t in 1..<n {
                let r = hidden + t * cols
                for c in 0..<cols where r[c] > out[c] { out[c] = r[c] }
            }
        case .mean, .meanSqrtLen, .weightedMean:
            out.update(repeating: 0, count: cols)
            let weighted = mode == .weightedMean
            for t in 0..<n {
                let r = hidden + t * cols
                let w: Float = weighted ? Float(t + 1) : 1
                for c in 0..<cols { out[c] += r[c] * w }
            }
            let divisor: Float
            switch mode {
            case .mean: divisor = Float(n)
            case .meanSqrtLen: divisor = Float(n).squareRoot()
            default: divisor = Float(n * (n + 1) / 2)
            }
            for c in 0..<cols { out[c] /= divisor }
        }
    }

    /// Pools one sequence `[length, cols]` ignoring its first `skip` tokens, as sentence-transformers' Pooling
    /// with `include_prompt: false` does (it zeroes the prompt's positions in the attention mask): mean,
    /// mean_sqrt_len and max over tokens skip..<length; weighted_mean keeps each token's absolute weight t+1;
    /// cls takes row `skip` (row 0 when no token is left); last takes row length-1. With no token left every
    /// mode but cls gives zeros (sentence-transformers' max would give -inf).
    public static func poolSequence(_ hidden: UnsafePointer<Float>, skipping skip: Int, length n: Int, cols: Int,
                                    mode: PoolingMode, out: UnsafeMutablePointer<Float>) {
        let start = min(max(skip, 0), max(n, 0))
        let m = n - start
        guard m > 0 else {
            if mode == .cls && n > 0 { out.update(from: hidden, count: cols) } else { out.update(repeating: 0, count: cols) }
            return
        }
        switch mode {
        case .weightedMean:
            out.update(repeating: 0, count: cols)
            var weights: Float = 0
            for t in start..<n {
                let r = hidden + t * cols
                let w = Float(t + 1)
                weights += w
                for c in 0..<cols { out[c] += r[c] * w }
            }
            for c in 0..<cols { out[c] /= weights }
        case .last:
            out.update(from: hidden + (n - 1) * cols, count: cols)
        default:
            poolSequence(hidden + start * cols, length: m, cols: cols, mode: mode, out: out)
        }
    }

    /// Averages `layers` blocks laid out layer-major in each row (`[rows, layers * width]`) into `[rows, width]`.
    public static func meanOverLayers(_ values: [Float], rows: Int, layers: Int, width: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * width)
        guard layers > 0 else { return out }
        for r in 0..<rows {
            for l in 0..<layers {
                let src = r * layers * width + l * width
                for c in 0..<width { out[r * width + c] += values[src + c] }
            }
            for c in 0..<width { out[r * width + c] /= Float(layers) }
        }
        return out
    }

    /// Divides each row of `[rows, cols]` by max(its L2 norm, 1e-12), like `torch.nn.functional.normalize`.
    public static func l2Normalize(_ values: inout [Float], rows: Int, cols: Int) {
        for r in 0..<rows {
            var sq: Float = 0
            for c in 0..<cols { sq += values[r * cols + c] * values[r * cols + c] }
            let norm = max(sq.squareRoot(), 1e-12)
            for c in 0..<cols { values[r * cols + c] /= norm }
        }
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    fileprivate func replacingUnderscoreVariants() -> String {
        String(map { $0 == "-" ? "_" : $0 })
    }
}
