import Backend
import CPUBackend
import Foundation
import OpenCLBackend
import ReferenceBackend
import Testing

/// One conformance suite for every backend: each op at odd shapes (1, 7, 33, 127 rows; widths that are not
/// multiples of any tile or vector width; padded batches) against `ReferenceBackend`, the plain-loop oracle.
/// A new backend is added to `backends` and must pass unchanged.
@Suite("Backend conformance against the reference backend", .serialized)
struct BackendConformanceTests {
    /// The backends under test, by name (OpenCL ones only when a device started).
    static var backends: [String] {
        var names = ["cpu 1 thread", "cpu 2 threads", "cpu OpenBLAS path"]
        if SharedOpenCL.available { names += ["opencl default parameters", "opencl tiled GEMM", "opencl fused attention"] }
        return names
    }

    static func make(_ name: String) throws -> any ComputeBackend {
        switch name {
        case "cpu 1 thread": return CPUBackend(threads: 1, packedWeights: true)
        case "cpu 2 threads": return CPUBackend(threads: 2, packedWeights: true)
        case "cpu OpenBLAS path": return CPUBackend(threads: 2, packedWeights: false)
        case "opencl default parameters": return SharedOpenCL.backend
        case "opencl tiled GEMM":
            var p = KernelParameters.smallGPU
            p.gemmVariant = .tiled
            return try SharedOpenCL.backend(p, key: "conformance-tiled")
        case "opencl fused attention":
            // The CPU-device kernels with the GPU default attention (flash_attention.cl) forced on.
            return try FusedAttentionTests.fusedBackend(blockQ: 16, blockK: 16, group: 128)
        default: throw BackendError.unavailable(reason: "unknown test backend \(name)")
        }
    }

    private let reference = ReferenceBackend()
    private var random = SeededRandom(seed: 20261130)

    private func both(_ backend: any ComputeBackend, _ values: [Float]) throws -> (any DeviceBuffer, any DeviceBuffer) {
        (try backend.makeBuffer(values), try reference.makeBuffer(values))
    }

    private func outputs(_ backend: any ComputeBackend, _ count: Int) throws -> (any DeviceBuffer, any DeviceBuffer) {
        try both(backend, [Float](repeating: .nan, count: count))
    }

    @Test("linear and linearRealRows: every activation, with and without bias", arguments: backends)
    mutating func linear(name: String) throws {
        let backend = try Self.make(name)
        for (rows, inF, outF) in [(1, 1, 1), (7, 33, 17), (33, 45, 63), (127, 129, 37)] {
            let (x, xr) = try both(backend, random.floats(rows * inF, scale: 2))
            let weight = random.floats(outF * inF, scale: 1 / Float(inF).squareRoot())
            let w = try backend.makeLinearWeight(weight, outFeatures: outF, inFeatures: inF)
            let wr = try reference.makeLinearWeight(weight, outFeatures: outF, inFeatures: inF)
            let (b, br) = try both(backend, random.floats(outF))
            for activation in [nil] + Activation.allCases.map(Optional.some) {
                for withBias in [true, false] {
                    let (o, orf) = try outputs(backend, rows * outF)
                    try backend.linear(input: x, rows: rows, inFeatures: inF, weight: w, bias: withBias ? b : nil,
                                       outFeatures: outF, activation: activation, out: o)
                    try reference.linear(input: xr, rows: rows, inFeatures: inF, weight: wr, bias: withBias ? br : nil,
                                         outFeatures: outF, activation: activation, out: orf)
                    let d = maxAbsDifference(try backend.read(o), try reference.read(orf))
                    #expect(d <= 2e-5, "\(name) linear \(rows)x\(inF)x\(outF) \(String(describing: activation)) bias \(withBias): \(d)")
                }
            }
            // Real rows of a right-padded batch.
            let seq = max(1, rows / 3), batch = max(1, rows / seq)
            let lengths = (0..<batch).map { Int32(1 + ($0 * 5) % seq) }
            let (o, orf) = try outputs(backend, batch * seq * outF)
            try backend.linearRealRows(input: x, lengths: lengths, seq: seq, inFeatures: inF, weight: w, bias: b,
                                       outFeatures: outF, activation: .geluErf, out: o)
            try reference.linearRealRows(input: xr, lengths: lengths, seq: seq, inFeatures: inF, weight: wr, bias: br,
                                         outFeatures: outF, activation: .geluErf, out: orf)
            let real = lengths.enumerated().map { (b, n) in (b * seq * outF)..<((b * seq + Int(n)) * outF) }
            let d = maxAbsDifference(try backend.read(o), try reference.read(orf), in: real)
            #expect(d <= 2e-5, "\(name) linearRealRows \(batch)x\(seq) \(lengths): \(d)")
        }
    }

    @Test("attention: padded batches, odd head sizes, with and without a position bias", arguments: backends)
    mutating func attention(name: String) throws {
        let backend = try Self.make(name)
        for (batch, seq, heads, headDim) in [(1, 1, 1, 5), (2, 7, 3, 13), (3, 33, 2, 32), (1, 127, 1, 64)] {
            let hidden = heads * headDim
            let lengths = (0..<batch).map { Int32(seq - ($0 * 3) % seq) }
            let (qkv, qkvr) = try both(backend, random.floats(batch * seq * 3 * hidden))
            let (bias, biasr) = try both(backend, random.floats(heads * seq * seq, scale: 2))
            for withBias in [false, true] {
                let (o, orf) = try outputs(backend, batch * seq * hidden)
                try backend.attention(qkv: qkv, lengths: lengths, batch: batch, seq: seq, heads: heads, headDim: headDim,
                                      scale: 1 / Float(headDim).squareRoot(), positionBias: withBias ? bias : nil, out: o)
                try reference.attention(qkv: qkvr, lengths: lengths, batch: batch, seq: seq, heads: heads, headDim: headDim,
                                        scale: 1 / Float(headDim).squareRoot(), positionBias: withBias ? biasr : nil, out: orf)
                let real = lengths.enumerated().map { (b, n) in (b * seq * hidden)..<((b * seq + Int(n)) * hidden) }
                let d = maxAbsDifference(try backend.read(o), try reference.read(orf), in: real)
                #expect(d <= 1e-5, "\(name) attention b\(batch) s\(seq) h\(heads)x\(headDim) bias \(withBias): \(d)")
            }
        }
    }

    @Test("embed, addLayerNorm, every pooling mode, copy", arguments: backends)
    mutating func rowOps(name: String) throws {
        let backend = try Self.make(name)
        for (batch, seq, hidden) in [(1, 1, 7), (3, 7, 33), (2, 33, 45), (1, 127, 129)] {
            let vocab = 11, types = 2, rows = batch * seq
            let ids = (0..<rows).map { Int32($0 * 7 % vocab) }, typeIds = (0..<rows).map { Int32($0 % types) }
            let (word, wordr) = try both(backend, random.floats(vocab * hidden))
            let (position, positionr) = try both(backend, random.floats(seq * hidden))
            let (type, typer) = try both(backend, random.floats(types * hidden))
            let (gamma, gammar) = try both(backend, random.floats(hidden).map { $0 + 1 })
            let (beta, betar) = try both(backend, random.floats(hidden))
            let (e, er) = try outputs(backend, rows * hidden)
            try backend.embed(ids: ids, typeIds: typeIds, batch: batch, seq: seq, hidden: hidden, word: word, position: position,
                              tokenType: type, gamma: gamma, beta: beta, eps: 1e-12, out: e)
            try reference.embed(ids: ids, typeIds: typeIds, batch: batch, seq: seq, hidden: hidden, word: wordr, position: positionr,
                                tokenType: typer, gamma: gammar, beta: betar, eps: 1e-12, out: er)
            var d = maxAbsDifference(try backend.read(e), try reference.read(er))
            #expect(d <= 2e-5, "\(name) embed \(batch)x\(seq)x\(hidden): \(d)")
            #expect(throws: BackendError.self, "\(name): an id outside the vocabulary is refused") {
                try backend.embed(ids: ids.map { _ in Int32(vocab) }, typeIds: typeIds, batch: batch, seq: seq, hidden: hidden,
                                  word: word, position: position, tokenType: type, gamma: gamma, beta: beta, eps: 1e-12, out: e)
            }

            let (residual, residualr) = try both(backend, random.floats(rows * hidden, scale: 3))
            let (n, nr) = try outputs(backend, rows * hidden)
            try backend.addLayerNorm(x: e, residual: residual, rows: rows, cols: hidden, gamma: gamma, beta: beta, eps: 1e-5, out: n)
            try reference.addLayerNorm(x: er, residual: residualr, rows: rows, cols: hidden, gamma: gammar, beta: betar, eps: 1e-5, out: nr)
            d = maxAbsDifference(try backend.read(n), try reference.read(nr))
            #expect(d <= 2e-5, "\(name) addLayerNorm \(rows)x\(hidden): \(d)")

            let lengths = (0..<batch).map { Int32(1 + ($0 * 11) % seq) }
            let stride = PoolingMode.allCases.count * hidden + 3
            let (p, pr) = try outputs(backend, batch * stride)
            for (k, mode) in PoolingMode.allCases.enumerated() {
                try backend.pool(hidden: n, lengths: lengths, batch: batch, seq: seq, cols: hidden, mode: mode,
                                 out: p, outOffset: k * hidden, outStride: stride)
                try reference.pool(hidden: nr, lengths: lengths, batch: batch, seq: seq, cols: hidden, mode: mode,
                                   out: pr, outOffset: k * hidden, outStride: stride)
            }
            let pooled = (0..<batch).map { ($0 * stride)..<($0 * stride + PoolingMode.allCases.count * hidden) }
            d = maxAbsDifference(try backend.read(p), try reference.read(pr), in: pooled)
            #expect(d <= 1e-5, "\(name) pool (every mode) \(batch)x\(seq)x\(hidden) \(lengths): \(d)")

            let (c, cr) = try outputs(backend, rows * hidden + 5)
            try backend.copy(n, sourceOffset: hidden, to: c, destinationOffset: 5, count: (rows - 1) * hidden)
            try reference.copy(nr, sourceOffset: hidden, to: cr, destinationOffset: 5, count: (rows - 1) * hidden)
            d = maxAbsDifference(try backend.read(c), try reference.read(cr), in: [5..<(5 + (rows - 1) * hidden)])
            #expect(d <= 2e-5, "\(name) copy: \(d)")
        }
    }
}
