import Backend
import Foundation
import OpenCLBackend
import ReferenceBackend
import Testing

/// Several OpenCL backends in one process, used from several threads at once, created and released while the
/// others run — as a process with `--device opencl:0,opencl:1` does, and as the test runner does when suites
/// that own a backend run in parallel. Backends with identical build options share PoCL's kernel cache entries
/// (same program hash), which is the case exercised here. The results must equal the single-threaded ones.
@Suite("OpenCL backends used from several threads", .serialized,
       .enabled(if: SharedOpenCL.available, "no OpenCL device (install pocl-opencl-icd)"))
struct OpenCLConcurrencyTests {
    /// One linear + attention (both variants) + pooling round on `backend`; returns the pooled values.
    static func round(_ backend: OpenCLBackend, variant: AttentionVariant, seed: UInt64) throws -> [Float] {
        let batch = 3, seq = 7, heads = 2, headDim = 13, hidden = heads * headDim
        var random = SeededRandom(seed: seed)
        let x = try backend.makeBuffer(random.floats(batch * seq * hidden))
        let w = try backend.makeLinearWeight(random.floats(3 * hidden * hidden), outFeatures: 3 * hidden,
                                             inFeatures: hidden)
        let bias = try backend.makeBuffer(random.floats(3 * hidden))
        let qkv = try backend.allocate(count: batch * seq * 3 * hidden)
        let lengths: [Int32] = [7, 3, 1]
        try backend.linearRealRows(input: x, lengths: lengths, seq: seq, inFeatures: hidden, weight: w, bias: bias,
                                   outFeatures: 3 * hidden, activation: .geluErf, out: qkv)
        let context = try backend.allocate(count: batch * seq * hidden)
        try backend.attention(qkv: qkv, lengths: lengths, batch: batch, seq: seq, heads: heads, headDim: headDim,
                              scale: 0.3, positionBias: nil, out: context, variant: variant)
        let pooled = try backend.allocate(count: batch * hidden)
        try backend.pool(hidden: context, lengths: lengths, batch: batch, seq: seq, cols: hidden, mode: .mean,
                         out: pooled, outOffset: 0, outStride: hidden)
        return try backend.read(pooled)
    }

    @Test("backends created, used and released on two threads at once give the single-threaded results")
    func createUseReleaseConcurrently() throws {
        let shared = SharedOpenCL.backend
        var fused = shared.parameters
        fused.attentionVariant = .fused
        let expected = try Self.round(shared, variant: .unfused, seed: 7)
        let expectedFused = try Self.round(shared, variant: .fused, seed: 7)
        #expect(maxAbsDiff(expected, expectedFused) <= 1e-5)
        let failures = ConcurrentFailures()
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            do {
                for i in 0..<8 {
                    switch worker {
                    case 0:
                        // A backend of its own with the shared one's options (same program), released each time.
                        let own = try OpenCLBackend(deviceIndex: 0, parameters: shared.parameters)
                        if try Self.round(own, variant: .unfused, seed: 7) != expected { failures.add("own \(i)") }
                    case 1:
                        // The fused variant built as its own program, released each time.
                        let own = try OpenCLBackend(deviceIndex: 0, parameters: fused)
                        if maxAbsDiff(try Self.round(own, variant: .fused, seed: 7), expected) > 1e-5 {
                            failures.add("fused \(i)")
                        }
                    default:
                        if try Self.round(shared, variant: .unfused, seed: 7) != expected { failures.add("shared \(i)") }
                    }
                }
            } catch {
                failures.add("worker \(worker): \(error)")
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all)")
    }
}

/// Failure messages collected from several threads.
final class ConcurrentFailures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func add(_ message: String) { lock.lock(); messages.append(message); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return messages }
}
