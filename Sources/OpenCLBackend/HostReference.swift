import Backend
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Obviously-correct host loops (in Double) for every backend op: the reference that `featurize selftest`
/// and the OpenCL tests compare the kernels against. Slow by design; not used on the hot path.
public enum HostReference {
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
                values[r * outFeatures + o] = Float(HostReference.activation(sum, activation))
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

    public static func pool(_ hidden: [Float], lengths: [Int32], batch: Int, seq: Int, cols: Int, mode: PoolingMode) -> [Float] {
        var out = [Float](repeating: 0, count: batch * cols)
        for b in 0..<batch {
            let n = Int(lengths[b])
            for c in 0..<cols {
                func h(_ t: Int) -> Double { Double(hidden[(b * seq + t) * cols + c]) }
                let value: Double
                switch mode {
                case .cls: value = h(0)
                case .mean: value = (0..<n).map(h).reduce(0, +) / Double(n)
                case .max: value = (0..<n).map(h).max()!
                case .meanSqrtLen: value = (0..<n).map(h).reduce(0, +) / Double(n).squareRoot()
                case .weightedMean:
                    value = (0..<n).map { Double($0 + 1) * h($0) }.reduce(0, +) / (0..<n).map { Double($0 + 1) }.reduce(0, +)
                case .last: value = h(n - 1)
                }
                out[b * cols + c] = Float(value)
            }
        }
        return out
    }
}
