import Backend
import DataFormats
import ReferenceBackend
import Foundation
import OpenCLBackend

/// Deterministic random numbers for reproducible test inputs (`DataFormats.SplitMix64`).
typealias SeededRandom = SplitMix64

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

    /// The first OpenCL device (PoCL in CI) with its default parameters, or why there is none.
    static let started: Result<OpenCLBackend, Error> = {
        _ = cacheDirectory
        return Result { try OpenCLBackend(deviceIndex: 0) }
    }()

    /// Whether an OpenCL device started (suites that need one are disabled, with the reason, otherwise).
    static var available: Bool { (try? started.get()) != nil }

    /// The first OpenCL device; only used by suites enabled when `available`.
    static var backend: OpenCLBackend {
        switch started {
        case let .success(backend): return backend
        case let .failure(error): preconditionFailure("OpenCL suites run only when a device started: \(error)")
        }
    }

    /// Other parameter sets (both GEMM variants, GPU tile shapes) on the same device, built on first use.
    /// Guarded by `variantsLock`: suites run in parallel, and a dictionary written from two threads at once can
    /// lose an entry — releasing a backend (its program and kernels) that another thread is still using.
    nonisolated(unsafe) private static var variants: [String: OpenCLBackend] = [:]
    private static let variantsLock = NSLock()
    static func backend(_ parameters: KernelParameters, key: String) throws -> OpenCLBackend {
        _ = cacheDirectory
        variantsLock.lock()
        defer { variantsLock.unlock() }
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

// MARK: Naive references (HostReference in OpenCLBackend, shared with `featurize selftest`)

func referenceActivation(_ x: Double, _ activation: Activation?) -> Double { ReferenceMath.activation(x, activation) }

func referenceLinear(_ input: [Float], rows: Int, inFeatures: Int, weight: [Float], bias: [Float]?, outFeatures: Int,
                     activation: Activation?) -> (values: [Float], scales: [Double]) {
    ReferenceMath.linear(input, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias, outFeatures: outFeatures,
                         activation: activation)
}

func referenceLayerNorm(_ v: [Double], gamma: [Float], beta: [Float], eps: Float) -> [Float] {
    ReferenceMath.layerNorm(v, gamma: gamma, beta: beta, eps: eps)
}

func referenceAttention(_ qkv: [Float], lengths: [Int32], batch: Int, seq: Int, heads: Int, headDim: Int,
                        scale: Float) -> [Float] {
    ReferenceMath.attention(qkv, lengths: lengths, batch: batch, seq: seq, heads: heads, headDim: headDim, scale: scale)
}

func referencePool(_ hidden: [Float], lengths: [Int32], batch: Int, seq: Int, cols: Int, mode: PoolingMode) -> [Float] {
    ReferenceMath.pool(hidden, lengths: lengths, batch: batch, seq: seq, cols: cols, mode: mode)
}
