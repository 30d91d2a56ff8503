import Backend
import Pooling
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Obviously-correct host loops (accumulating in Double) for every backend op: the numerical oracle. The
/// `ReferenceBackend` runs them as a `ComputeBackend`; `featurize selftest` and the conformance tests compare
/// every backend (CPU, OpenCL, ...) against them. Slow by design; never on the hot path.
public enum ReferenceMath {
    public static func activation(_ x: Double, _ activation: Activation?) -> Double {
        switch activation {
        case nil: return x
        case .geluErf: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
        case .geluTanh: return 0.5 * x * (1 + tanh((2.0 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        case .relu: return Swift.max(x, 0)
        case .tanh: return tanh(x)
        }
    }

    /// out[r][o] = act(sum_k input[r][k] * weight[o][k] + bias[o]); also returns each element's scale
    /// (sum_k |input * weight| + |bias|) for relative tolerances.
    public static func linear(_ input: [Float], rows: Int, inFeatures: Int, weight: [Float], bias: [Float]?, outFeatures: Int,
                         activation: Activation?) -> (values: [Float], scales: [Double]) {
        var values = [Float](repeating: 0, count: rows * outFeatures)
        var scales = [Double](repeating: 0, count: rows * outFeatures)
        for r in 0..<rows {
            for o in 0..<outFeatures {
                var sum = Double(bias?[o] ?? 0)
                var scale = abs(sum)
                for k in 0..<inFeatures {
                    let p = Double(input[r * inFeatures + k]) * Double(weight[o * inFeatures + k])
                    sum += p
                    scale += abs(p)
                }
                values[r * outFeatures + o] = Float(ReferenceMath.activation(sum, activation))
                scales[r * outFeatures + o] = scale
            }
        }
        return (values, scales)
    }

    public static func layerNorm(_ v: [Double], gamma: [Float], beta: [Float], eps: Float) -> [Float] {
        let n = Double(v.count)
        let mean = v.reduce(0, +) / n
        let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
        let inv = 1 / (variance + Double(eps)).squareRoot()
        return v.indices.map { Float((v[$0] - mean) * inv * Double(gamma[$0]) + Double(beta[$0])) }
    }

    /// Attention for real query rows; padding query rows are left as NaN (unspecified). positionBias: nil or
    /// `[heads, seq, seq]`, added to the scaled scores of every sequence.
    public static func attention(_ qkv: [Float], lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                            scale: Float, positionBias: [Float]? = nil) -> [Float] {
        let hidden = heads * headDim
        var out = [Float](repeating: .nan, count: batch * seq * hidden)
        for b in 0..<batch {
            let n = Int(lengths[b])
            for h in 0..<heads {
                for i in 0..<n {
                    let q = (b * seq + i) * 3 * hidden + h * headDim
                    var scores = [Double](repeating: 0, count: n)
                    for j in 0..<n {
                        let k = (b * seq + j) * 3 * hidden + hidden + h * headDim
                        var s = 0.0
                        for d in 0..<headDim { s += Double(qkv[q + d]) * Double(qkv[k + d]) }
                        scores[j] = s * Double(scale) + Double(positionBias?[(h * seq + i) * seq + j] ?? 0)
                    }
                    let m = scores.max() ?? 0
                    let e = scores.map { exp($0 - m) }
                    let total = e.reduce(0, +)
                    for d in 0..<headDim {
                        var acc = 0.0
                        for j in 0..<n {
                            let v: Int = (b * seq + j) * 3 * hidden + 2 * hidden + h * headDim + d
                            acc += e[j] / total * Double(qkv[v])
                        }
                        out[(b * seq + i) * hidden + h * headDim + d] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    /// Pooling as module `Pooling` defines it (`HostPooling`, the one definition of every mode).
    public static func pool(_ hidden: [Float], lengths: [Int32], batch: Int, seq: Int, cols: Int, mode: PoolingMode) -> [Float] {
        HostPooling.pool(hidden, lengths: lengths, batch: batch, seq: seq, cols: cols, mode: mode)
    }

    /// Embedding rows: `LayerNorm(word[id] + position[t] + tokenType[type])` for each token row (b*seq + t).
    public static func embed(ids: [Int32], typeIds: [Int32]?, batch: Int, seq: Int, hidden: Int, word: [Float],
                             position: [Float], tokenType: [Float]?, gamma: [Float], beta: [Float], eps: Float) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(batch * seq * hidden)
        for r in 0..<(batch * seq) {
            let t = r % seq, id = Int(ids[r]), type = Int(typeIds?[r] ?? 0)
            let row = (0..<hidden).map { c -> Double in
                Double(word[id * hidden + c]) + Double(position[t * hidden + c])
                    + Double(tokenType.map { $0[type * hidden + c] } ?? 0)
            }
            out += layerNorm(row, gamma: gamma, beta: beta, eps: eps)
        }
        return out
    }
}
