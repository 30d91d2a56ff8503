import Backend
import CPUBackend
import Foundation
import OpenCLBackend
import ReferenceBackend
import Testing

/// The residual in the GEMM epilogue (`linear(…, residual:)`, `linearRealRows(…, residual:)`) and the LayerNorm
/// alone (`layerNorm`), the pair the encoder runs for post-LN `LayerNorm(x + proj)`:
/// - every backend against `ReferenceBackend` at odd shapes (rows 1, 7, 33, 127; outputs 13 and 384), with and
///   without a row index (padded batches), bias and activation; OpenCL fp16 within its stated bound;
/// - on the CPU, bit-identical to the former `linear` then `addLayerNorm` (the same float operations in the
///   same order), for the packed GEMM (k over one and several blocks) and the OpenBLAS path.
@Suite("Residual in the GEMM epilogue and LayerNorm alone", .serialized)
struct ResidualEpilogueTests {
    static var backends: [String] {
        BackendConformanceTests.backends + (SharedOpenCL.available ? ["opencl fp16"] : [])
    }

    /// fp16 storage (`-DFZ_HALF=1`) on the first OpenCL device, built once.
    static let half: Result<OpenCLBackend, Error> = {
        _ = SharedOpenCL.cacheDirectory
        return Result { try OpenCLBackend(deviceIndex: 0, precision: .fp16) }
    }()

    static func make(_ name: String) throws -> any ComputeBackend {
        name == "opencl fp16" ? try half.get() : try BackendConformanceTests.make(name)
    }

    /// fp16 rounds every input and output to half (relative 2^-11): outputs here are at most ~8 in magnitude, so
    /// 1e-2 absolute (the stated fp16 bound of the row ops, docs/ENCODER.md); fp32 as the conformance suite.
    static func tolerance(_ name: String) -> Float { name == "opencl fp16" ? 1e-2 : 2e-5 }

    private let reference = ReferenceBackend()
    private var random = SeededRandom(seed: 0x2E51D0A1)

    private func both(_ backend: any ComputeBackend, _ values: [Float]) throws -> (any DeviceBuffer, any DeviceBuffer) {
        (try backend.makeBuffer(values), try reference.makeBuffer(values))
    }

    @Test("linear with a residual, then layerNorm: every backend against the reference", arguments: backends)
    mutating func againstReference(name: String) throws {
        let backend = try Self.make(name)
        let tolerance = Self.tolerance(name)
        for rows in [1, 7, 33, 127] {
            for (inF, outF) in [(45, 13), (37, 384)] {
                let (x, xr) = try both(backend, random.floats(rows * inF, scale: 2))
                let weight = random.floats(outF * inF, scale: 1 / Float(inF).squareRoot())
                let w = try backend.makeLinearWeight(weight, outFeatures: outF, inFeatures: inF)
                let wr = try reference.makeLinearWeight(weight, outFeatures: outF, inFeatures: inF)
                let (b, br) = try both(backend, random.floats(outF))
                let (res, resr) = try both(backend, random.floats(rows * outF, scale: 3))
                let (gamma, gammar) = try both(backend, random.floats(outF).map { $0 + 1 })
                let (beta, betar) = try both(backend, random.floats(outF))
                for (activation, withBias) in [(nil, true), (nil, false), (Activation.geluErf, true)] as [(Activation?, Bool)] {
                    let (o, orf) = try both(backend, [Float](repeating: .nan, count: rows * outF))
                    try backend.linear(input: x, rows: rows, inFeatures: inF, weight: w, bias: withBias ? b : nil,
                                       outFeatures: outF, activation: activation, residual: res, out: o)
                    try reference.linear(input: xr, rows: rows, inFeatures: inF, weight: wr, bias: withBias ? br : nil,
                                         outFeatures: outF, activation: activation, residual: resr, out: orf)
                    var d = maxAbsDifference(try backend.read(o), try reference.read(orf))
                    #expect(d <= tolerance, "\(name) linear+residual \(rows)x\(inF)x\(outF) \(String(describing: activation)) bias \(withBias): \(d)")
                    // LayerNorm in place (out aliases x), as the encoder runs it.
                    try backend.layerNorm(x: o, rows: rows, cols: outF, gamma: gamma, beta: beta, eps: 1e-12, out: o)
                    try reference.layerNorm(x: orf, rows: rows, cols: outF, gamma: gammar, beta: betar, eps: 1e-12, out: orf)
                    d = maxAbsDifference(try backend.read(o), try reference.read(orf))
                    #expect(d <= tolerance, "\(name) layerNorm \(rows)x\(outF): \(d)")
                }
                // Real rows of a right-padded batch: the residual follows the same rows.
                let seq = max(1, rows / 3), batch = max(1, rows / seq)
                let lengths = (0..<batch).map { Int32(1 + ($0 * 5) % seq) }
                let (o, orf) = try both(backend, [Float](repeating: .nan, count: batch * seq * outF))
                try backend.linearRealRows(input: x, lengths: lengths, seq: seq, inFeatures: inF, weight: w, bias: b,
                                           outFeatures: outF, activation: nil, residual: res, out: o)
                try reference.linearRealRows(input: xr, lengths: lengths, seq: seq, inFeatures: inF, weight: wr, bias: br,
                                             outFeatures: outF, activation: nil, residual: resr, out: orf)
                let real = lengths.enumerated().map { (b, n) in (b * seq * outF)..<((b * seq + Int(n)) * outF) }
                let d = maxAbsDifference(try backend.read(o), try reference.read(orf), in: real)
                #expect(d <= tolerance, "\(name) linearRealRows+residual \(batch)x\(seq) \(lengths) -> \(outF): \(d)")
                // Padding rows hold finite values (0 or computed like real rows): a LayerNorm over them is finite.
                try backend.layerNorm(x: o, rows: batch * seq, cols: outF, gamma: gamma, beta: beta, eps: 1e-12, out: o)
                #expect(try backend.read(o).allSatisfy(\.isFinite), "\(name): layerNorm over a padded batch is finite")
            }
        }
    }

    @Test("CPU: linear(residual:) + layerNorm is bit-identical to linear + addLayerNorm",
          arguments: ["cpu 1 thread", "cpu 2 threads", "cpu OpenBLAS path"])
    mutating func cpuBitIdentical(name: String) throws {
        let backend = try BackendConformanceTests.make(name)
        // k = 37 (one k block), 769 and 1536 (several: c is written on the first block, the residual added on the last).
        for (rows, inF, outF) in [(1, 37, 13), (7, 769, 384), (33, 1536, 384), (127, 37, 384), (127, 1536, 13)] {
            let x = try backend.makeBuffer(random.floats(rows * inF, scale: 2))
            let w = try backend.makeLinearWeight(random.floats(outF * inF, scale: 1 / Float(inF).squareRoot()),
                                                 outFeatures: outF, inFeatures: inF)
            let b = try backend.makeBuffer(random.floats(outF))
            let res = try backend.makeBuffer(random.floats(rows * outF, scale: 3))
            let gamma = try backend.makeBuffer(random.floats(outF).map { $0 + 1 })
            let beta = try backend.makeBuffer(random.floats(outF))
            let seq = max(1, rows / 3), batch = max(1, rows / seq), padded = batch * seq
            let lengths = (0..<batch).map { Int32(1 + ($0 * 5) % seq) }
            let real = lengths.enumerated().flatMap { (b, n) in (b * seq * outF)..<((b * seq + Int(n)) * outF) }
            for paddedBatch in [false, true] {
                let n = paddedBatch ? padded : rows
                let before = try backend.allocate(count: n * outF), after = try backend.allocate(count: n * outF)
                if paddedBatch {
                    try backend.linearRealRows(input: x, lengths: lengths, seq: seq, inFeatures: inF, weight: w, bias: b,
                                               outFeatures: outF, activation: nil, out: before)
                    try backend.linearRealRows(input: x, lengths: lengths, seq: seq, inFeatures: inF, weight: w, bias: b,
                                               outFeatures: outF, activation: nil, residual: res, out: after)
                } else {
                    try backend.linear(input: x, rows: n, inFeatures: inF, weight: w, bias: b, outFeatures: outF,
                                       activation: nil, out: before)
                    try backend.linear(input: x, rows: n, inFeatures: inF, weight: w, bias: b, outFeatures: outF,
                                       activation: nil, residual: res, out: after)
                }
                try backend.addLayerNorm(x: before, residual: res, rows: n, cols: outF, gamma: gamma, beta: beta,
                                         eps: 1e-12, out: before)
                try backend.layerNorm(x: after, rows: n, cols: outF, gamma: gamma, beta: beta, eps: 1e-12, out: after)
                let old = try backend.read(before), new = try backend.read(after)
                let checked = paddedBatch ? real : Array(old.indices)
                let same = checked.allSatisfy { old[$0].bitPattern == new[$0].bitPattern }
                #expect(same, "\(name) \(rows)x\(inF)x\(outF) padded \(paddedBatch): not bit-identical")
            }
        }
    }

    @Test("bad residuals are refused", arguments: backends)
    func refused(name: String) throws {
        let backend = try Self.make(name)
        let x = try backend.makeBuffer([Float](repeating: 1, count: 7 * 5))
        let w = try backend.makeLinearWeight([Float](repeating: 1, count: 3 * 5), outFeatures: 3, inFeatures: 5)
        let out = try backend.allocate(count: 7 * 3)
        #expect(throws: BackendError.self, "\(name): a residual smaller than rows x outFeatures") {
            try backend.linear(input: x, rows: 7, inFeatures: 5, weight: w, bias: nil, outFeatures: 3, activation: nil,
                               residual: try backend.allocate(count: 7 * 3 - 1), out: out)
        }
        #expect(throws: BackendError.self, "\(name): a residual that is the output") {
            try backend.linear(input: x, rows: 7, inFeatures: 5, weight: w, bias: nil, outFeatures: 3, activation: nil,
                               residual: out, out: out)
        }
    }
}
