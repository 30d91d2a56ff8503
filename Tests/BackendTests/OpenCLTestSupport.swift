import Backend
import Foundation
import OpenCLBackend

/// Deterministic random numbers (SplitMix64) for reproducible test inputs.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func float() -> Float { Float(Double(next() >> 11) / Double(1 << 53) * 2 - 1) }
    mutating func floats(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in float() * scale } }
    mutating func int(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// The OpenCL backends the tests share (built once: OpenCL is initialised once per process).
enum SharedOpenCL {
    static let cacheDirectory: String = {
        // Keep the program cache and PoCL's kernel cache inside the build folder, so test runs are hermetic
        // but later runs are fast.
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/test-cache").path
        setenv("FEATURIZE_CACHE_DIR", dir + "/featurize", 1)
        if getenv("POCL_CACHE_DIR") == nil { setenv("POCL_CACHE_DIR", dir + "/pocl", 1) }
        return dir
    }()

    /// The first OpenCL device (PoCL in CI); its default parameters.
    static let backend: OpenCLBackend = {
        _ = cacheDirectory
        do { return try OpenCLBackend(deviceIndex: 0) } catch { fatalError("test setup: no OpenCL device: \(error)") }
    }()

    /// Other parameter sets (both GEMM variants, GPU tile shapes) on the same device, built on first use.
    nonisolated(unsafe) static var variants: [String: OpenCLBackend] = [:]
    static func backend(_ parameters: KernelParameters, key: String) throws -> OpenCLBackend {
        _ = cacheDirectory
        if let b = variants[key] { return b }
        let b = try OpenCLBackend(deviceIndex: 0, parameters: parameters)
        variants[key] = b
        return b
    }
}

/// A device buffer of `count` elements filled with NaN (uploaded from the host), so every element an op
/// should write is checked.
func poisonedBuffer(_ backend: OpenCLBackend, _ count: Int) throws -> any DeviceBuffer {
    try backend.makeBuffer([Float](repeating: .nan, count: count))
}

/// Largest |a - b| (NaN anywhere counts as infinite).
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in 0..<a.count {
        let d = abs(a[i] - b[i])
        if d.isNaN { return .infinity }
        m = max(m, d)
    }
    return m
}

// MARK: Naive references (obviously-correct loops, in Double)

func referenceActivation(_ x: Double, _ activation: Activation?) -> Double {
    switch activation {
    case nil: return x
    case .geluErf: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
    case .geluTanh: return 0.5 * x * (1 + tanh((2.0 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    case .relu: return max(x, 0)
    case .tanh: return tanh(x)
    }
}

/// out[r][o] = act(sum_k input[r][k] * weight[o][k] + bias[o]); also returns each element's scale
/// (sum_k |input * weight| + |bias|) for relative tolerances.
func referenceLinear(_ input: [Float], rows: Int, inFeatures: Int, weight: [Float], bias: [Float]?, outFeatures: Int,
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
            values[r * outFeatures + o] = Float(referenceActivation(sum, activation))
            scales[r * outFeatures + o] = scale
        }
    }
    return (values, scales)
}

func referenceLayerNorm(_ v: [Double], gamma: [Float], beta: [Float], eps: Float) -> [Float] {
    let n = Double(v.count)
    let mean = v.reduce(0, +) / n
    let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
    let inv = 1 / (variance + Double(eps)).squareRoot()
    return v.indices.map { Float((v[$0] - mean) * inv * Double(gamma[$0]) + Double(beta[$0])) }
}

/// Attention for real query rows; padding query rows are left as NaN (unspecified).
func referenceAttention(_ qkv: [Float], lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                        scale: Float) -> [Float] {
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
                    scores[j] = s * Double(scale)
                }
                let m = scores.max() ?? 0
                let e = scores.map { exp($0 - m) }
                let total = e.reduce(0, +)
                for d in 0..<headDim {
                    var acc = 0.0
                    for j in 0..<n { acc += e[j] / total * Double(qkv[(b * seq + j) * 3 * hidden + 2 * hidden + h * headDim + d]) }
                    out[(b * seq + i) * hidden + h * headDim + d] = Float(acc)
                }
            }
        }
    }
    return out
}

func referencePool(_ hidden: [Float], lengths: [Int32], batch: Int, seq: Int, cols: Int, mode: PoolingMode) -> [Float] {
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
