import Backend
import Foundation
import OpenCLBackend
import Testing

/// Every OpenCL kernel against naive Swift loops, at odd shapes, with NaN-poisoned outputs. Serialised: OpenCL
/// is initialised once and PoCL does not like concurrent first use.
@Suite(.serialized, .enabled(if: SharedOpenCL.available, "no OpenCL device (install pocl-opencl-icd)"))
struct OpenCLBackendTests {
    var backend: OpenCLBackend { SharedOpenCL.backend }

    // MARK: Discovery and selection

    @Test func discoversAtLeastOneDevice() throws {
        let devices = OpenCLDiscovery.devices
        #expect(!devices.isEmpty)
        for (i, d) in devices.enumerated() {
            #expect(d.index == i)
            #expect(!d.name.isEmpty)
            #expect(d.computeUnits >= 1)
            #expect(d.globalMemory > 0)
            #expect(d.openCLCVersion.hasPrefix("OpenCL C"))
        }
        #expect(backend.name.hasPrefix("opencl:0 "))
    }

    @Test func everyDeviceIsInTheRegistryAndMakesItsBackend() throws {
        let devices = OpenCLDiscovery.registryDevices
        #expect(devices.map(\.id) == OpenCLDiscovery.devices.map { "opencl:\($0.index)" })
        let first = try #require(devices.first)
        #expect(first.ordinal == 0 && !first.details.isEmpty)
        let made = try first.makeBackend()
        #expect(made.name.hasPrefix("opencl:0 "))
        #expect(throws: BackendError.self) { try OpenCLBackend(deviceIndex: devices.count) }
    }

    // MARK: GEMM

    /// (rows, inFeatures, outFeatures): edge cases, odd sizes, sizes that are no multiple of any tile.
    static let linearShapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 7, 33), (7, 33, 1), (33, 7, 127), (127, 33, 7), (7, 385, 33), (33, 127, 385),
        (127, 769, 33), (385, 33, 127), (66, 64, 96), (769, 127, 7),
    ]

    func checkLinear(_ backend: OpenCLBackend, rows: Int, inFeatures: Int, outFeatures: Int, activation: Activation?,
                     withBias: Bool, seed: UInt64) throws -> Double {
        var random = SeededRandom(seed: seed)
        let input = random.floats(rows * inFeatures)
        let weight = random.floats(outFeatures * inFeatures)
        let bias = withBias ? random.floats(outFeatures) : nil
        let (expected, scales) = referenceLinear(input, rows: rows, inFeatures: inFeatures, weight: weight, bias: bias,
                                                 outFeatures: outFeatures, activation: activation)
        let out = try poisonedBuffer(backend, rows * outFeatures)
        try backend.linear(input: try backend.makeBuffer(input), rows: rows, inFeatures: inFeatures,
                           weight: try backend.makeBuffer(weight), bias: try bias.map { try backend.makeBuffer($0) },
                           outFeatures: outFeatures, activation: activation, out: out)
        let got = try backend.read(out)
        var worst = 0.0
        for i in 0..<got.count {
            let relative = Double(abs(got[i] - expected[i])) / max(scales[i], 1e-3)
            if relative.isNaN { return .infinity }
            worst = max(worst, relative)
        }
        return worst
    }

    @Test func linearMatchesReferenceDefaultVariant() throws {
        for (n, shape) in Self.linearShapes.enumerated() {
            let activation: Activation? = n % 5 == 0 ? nil : Activation.allCases[n % 4]
            let error = try checkLinear(backend, rows: shape.0, inFeatures: shape.1, outFeatures: shape.2,
                                        activation: activation, withBias: n % 3 != 1, seed: UInt64(n + 1))
            #expect(error <= 1e-5, "linear \(shape) \(String(describing: activation)): relative error \(error)")
        }
    }

    @Test func linearAllActivations() throws {
        for activation in Activation.allCases {
            let error = try checkLinear(backend, rows: 33, inFeatures: 65, outFeatures: 31, activation: activation,
                                        withBias: true, seed: 99)
            #expect(error <= 1e-5, "\(activation): relative error \(error)")
        }
    }

    /// Activations alone (inFeatures 1, weight 1): x in [-8, 8], with the polynomial erf (CPU table) and the
    /// built-in one (GPU table), against libm in Double.
    @Test func activationsAreAccurate() throws {
        let xs = (0...1600).map { Float($0 - 800) / 100 }
        for (key, parameters) in [("cpu-default", KernelParameters.cpuDefault), Self.parameterSets[0]] {
            let b = try SharedOpenCL.backend(parameters, key: key)
            for activation in Activation.allCases {
                let out = try poisonedBuffer(b, xs.count)
                try b.linear(input: try b.makeBuffer(xs), rows: xs.count, inFeatures: 1, weight: try b.makeBuffer([1]),
                             bias: nil, outFeatures: 1, activation: activation, out: out)
                let got = try b.read(out)
                var worst = 0.0
                for (i, x) in xs.enumerated() {
                    let expected = referenceActivation(Double(x), activation)
                    worst = max(worst, abs(Double(got[i]) - expected) / max(1, abs(Double(x))))
                }
                #expect(worst <= 1e-6, "\(key) \(activation): max error \(worst)")
            }
        }
    }

    /// Both GEMM variants and several tile configurations (including the GPU ones from the table), so the
    /// kernels a GPU will run are checked here on PoCL too.
    static let parameterSets: [(String, KernelParameters)] = {
        // Each set is one more program build (slow on PoCL without its cache), so each covers several paths.
        var sets: [(String, KernelParameters)] = []
        var cpu = KernelParameters.cpuDefault
        cpu.cpuBlockM = 3; cpu.cpuBlockN = 5; cpu.cpuLocalSize = 4; cpu.approximateErf = 0
        sets.append(("cpu-3x5-builtin-erf", cpu))
        var small = KernelParameters.smallGPU
        small.tileK = 8; small.vectorWidth = 8; small.workPerThreadM = 2; small.workPerThreadN = 4
        small.rowGroupSize = 32; small.batchedBlockM = 1; small.batchedBlockN = 3
        sets.append(("tiled-32x32x8-vw8-wpt2x4", small))
        var vw1 = KernelParameters.gpuDefault
        vw1.vectorWidth = 1; vw1.tileK = 8; vw1.tileM = 16; vw1.tileN = 64; vw1.workPerThreadM = 2; vw1.workPerThreadN = 8
        sets.append(("tiled-16x64x8-vw1", vw1))
        var nvidia = KernelParameters.gpuDefault
        nvidia.tileK = 32
        sets.append(("tiled-64x64x32-vw4 (NVIDIA table)", nvidia))
        // Double-buffered local tiles with 8 x 8 register blocks (a tuning candidate): K of 1, 17 and 69 cover
        // one, two and several K steps, with partial last tiles.
        var doubleBuffered = KernelParameters.gpuDefault
        doubleBuffered.tileK = 8; doubleBuffered.workPerThreadM = 8; doubleBuffered.workPerThreadN = 8
        doubleBuffered.doubleBufferGemm = 1
        sets.append(("tiled-64x64x8-wpt8x8-double-buffered", doubleBuffered))
        return sets
    }()

    @Test func linearOtherParameterSets() throws {
        let shapes: [(Int, Int, Int)] = [(1, 1, 1), (7, 33, 5), (33, 127, 7), (130, 69, 129), (385, 17, 33)]
        for (key, parameters) in Self.parameterSets {
            let variant = try SharedOpenCL.backend(parameters, key: key)
            for (n, shape) in shapes.enumerated() {
                let activation: Activation? = n % 2 == 0 ? .geluErf : nil
                let error = try checkLinear(variant, rows: shape.0, inFeatures: shape.1, outFeatures: shape.2,
                                            activation: activation, withBias: n != 2, seed: UInt64(100 + n))
                #expect(error <= 1e-5, "\(key) linear \(shape): relative error \(error)")
            }
        }
    }

    @Test func linearEncoderShape() throws {
        // One MiniLM-sized GEMM (rows x 384 -> 1536) with GELU, the hot shape of the encoder.
        let error = try checkLinear(backend, rows: 40, inFeatures: 384, outFeatures: 1536, activation: .geluErf,
                                    withBias: true, seed: 7)
        #expect(error <= 1e-5, "relative error \(error)")
    }

    @Test func concurrentCallersShareOneBackend() throws {
        // Four threads run their own GEMMs through one backend (the backend serialises them internally).
        let errors = UnsafeMutableBufferPointer<Double>.allocate(capacity: 4)
        defer { errors.deallocate() }
        let b = backend
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            errors[i] = (try? checkLinear(b, rows: 17 + i, inFeatures: 33, outFeatures: 9 + i, activation: .relu,
                                          withBias: true, seed: UInt64(900 + i))) ?? .infinity
        }
        for i in 0..<4 { #expect(errors[i] <= 1e-5, "thread \(i): relative error \(errors[i])") }
    }

    // MARK: Attention

    static let attentionShapes: [(batch: Int, seq: Int, heads: Int, headDim: Int)] = [
        (1, 1, 1, 1), (2, 7, 2, 5), (3, 33, 3, 8), (2, 127, 2, 16), (1, 385, 2, 64), (4, 9, 12, 32),
    ]

    func checkAttention(_ backend: OpenCLBackend, batch: Int, seq: Int, heads: Int, headDim: Int, seed: UInt64) throws -> Float {
        var random = SeededRandom(seed: seed)
        let hidden = heads * headDim
        var lengths = (0..<batch).map { _ in Int32(1 + random.int(below: seq)) }
        lengths[0] = Int32(seq)
        if batch > 1 { lengths[1] = 1 }
        var qkv = random.floats(batch * seq * 3 * hidden, scale: 2)
        // Padding rows hold NaN: they must not reach any real output.
        for b in 0..<batch {
            for t in Int(lengths[b])..<seq {
                for c in 0..<(3 * hidden) { qkv[(b * seq + t) * 3 * hidden + c] = .nan }
            }
        }
        let scale = 1 / Float(headDim).squareRoot()
        let expected = referenceAttention(qkv, lengths: lengths, batch: batch, seq: seq, heads: heads,
                                          headDim: headDim, scale: scale)
        let out = try poisonedBuffer(backend, batch * seq * hidden)
        try backend.attention(qkv: try backend.makeBuffer(qkv), lengths: lengths, batch: batch, seq: seq,
                              heads: heads, headDim: headDim, scale: scale, out: out)
        let got = try backend.read(out)
        var worst: Float = 0
        for b in 0..<batch {
            for t in 0..<Int(lengths[b]) {
                for c in 0..<hidden {
                    let i = (b * seq + t) * hidden + c
                    let d = abs(got[i] - expected[i])
                    if d.isNaN { return .infinity }
                    worst = max(worst, d)
                }
            }
        }
        return worst
    }

    @Test func attentionMatchesReference() throws {
        for (n, s) in Self.attentionShapes.enumerated() {
            let error = try checkAttention(backend, batch: s.batch, seq: s.seq, heads: s.heads, headDim: s.headDim,
                                           seed: UInt64(200 + n))
            #expect(error <= 1e-5, "attention \(s): max abs error \(error)")
        }
    }

    @Test func attentionInChunksAndOtherBlocks() throws {
        // A tiny score scratch forces the chunked path (one sequence at a time).
        let chunked = try SharedOpenCL.backend(.cpuDefault, key: "cpu-default-chunked")
        chunked.maxScoreScratchElements = 1
        #expect(try checkAttention(chunked, batch: 3, seq: 17, heads: 2, headDim: 8, seed: 301) <= 1e-5)
        let (key, parameters) = Self.parameterSets[1]
        let other = try SharedOpenCL.backend(parameters, key: key)
        #expect(try checkAttention(other, batch: 3, seq: 33, heads: 3, headDim: 7, seed: 302) <= 1e-5)
    }

    // MARK: Layer norms

    @Test func addLayerNormMatchesReference() throws {
        let shapes: [(Int, Int)] = [(1, 1), (7, 33), (33, 385), (127, 769), (3, 2), (5, 384)]
        for (n, (rows, cols)) in shapes.enumerated() {
            var random = SeededRandom(seed: UInt64(400 + n))
            let x = random.floats(rows * cols, scale: 3)
            let residual = random.floats(rows * cols)
            let gamma = random.floats(cols), beta = random.floats(cols)
            var expected: [Float] = []
            for r in 0..<rows {
                let v = (0..<cols).map { Double(x[r * cols + $0]) + Double(residual[r * cols + $0]) }
                expected += referenceLayerNorm(v, gamma: gamma, beta: beta, eps: 1e-12)
            }
            let xBuffer = try backend.makeBuffer(x), residualBuffer = try backend.makeBuffer(residual)
            let gammaBuffer = try backend.makeBuffer(gamma), betaBuffer = try backend.makeBuffer(beta)
            let out = try poisonedBuffer(backend, rows * cols)
            try backend.addLayerNorm(x: xBuffer, residual: residualBuffer, rows: rows, cols: cols, gamma: gammaBuffer,
                                     beta: betaBuffer, eps: 1e-12, out: out)
            #expect(maxAbsDiff(try backend.read(out), expected) <= 1e-4, "addLayerNorm \(rows)x\(cols)")
            // out aliasing x, then residual.
            try backend.addLayerNorm(x: xBuffer, residual: residualBuffer, rows: rows, cols: cols, gamma: gammaBuffer,
                                     beta: betaBuffer, eps: 1e-12, out: xBuffer)
            #expect(maxAbsDiff(try backend.read(xBuffer), expected) <= 1e-4, "addLayerNorm aliasing x \(rows)x\(cols)")
            let x2 = try backend.makeBuffer(x)
            try backend.addLayerNorm(x: x2, residual: residualBuffer, rows: rows, cols: cols, gamma: gammaBuffer,
                                     beta: betaBuffer, eps: 1e-12, out: residualBuffer)
            #expect(maxAbsDiff(try backend.read(residualBuffer), expected) <= 1e-4, "aliasing residual \(rows)x\(cols)")
        }
    }

    @Test func embedMatchesReference() throws {
        let shapes: [(batch: Int, seq: Int, hidden: Int)] = [(1, 1, 1), (2, 7, 33), (3, 33, 385), (1, 127, 7)]
        for (n, s) in shapes.enumerated() {
            for withTypes in [true, false] {
                var random = SeededRandom(seed: UInt64(500 + n))
                let vocab = 50, maxPositions = s.seq + 3, types = 2, eps: Float = 1e-5
                let word = random.floats(vocab * s.hidden), position = random.floats(maxPositions * s.hidden)
                let tokenType = random.floats(types * s.hidden)
                let gamma = random.floats(s.hidden), beta = random.floats(s.hidden)
                let rows = s.batch * s.seq
                let ids = (0..<rows).map { _ in Int32(random.int(below: vocab)) }
                let typeIds = (0..<rows).map { _ in Int32(random.int(below: types)) }
                var expected: [Float] = []
                for r in 0..<rows {
                    let t = r % s.seq
                    let v = (0..<s.hidden).map { c -> Double in
                        Double(word[Int(ids[r]) * s.hidden + c]) + Double(position[t * s.hidden + c])
                            + (withTypes ? Double(tokenType[Int(typeIds[r]) * s.hidden + c]) : 0)
                    }
                    expected += referenceLayerNorm(v, gamma: gamma, beta: beta, eps: eps)
                }
                let out = try poisonedBuffer(backend, rows * s.hidden)
                try backend.embed(ids: ids, typeIds: withTypes ? typeIds : nil, batch: s.batch, seq: s.seq,
                                  hidden: s.hidden, word: try backend.makeBuffer(word),
                                  position: try backend.makeBuffer(position),
                                  tokenType: withTypes ? try backend.makeBuffer(tokenType) : nil,
                                  gamma: try backend.makeBuffer(gamma), beta: try backend.makeBuffer(beta), eps: eps,
                                  out: out)
                #expect(maxAbsDiff(try backend.read(out), expected) <= 1e-4, "embed \(s) types \(withTypes)")
            }
        }
    }

    @Test func embedWithoutTypeIdsUsesTypeZero() throws {
        var random = SeededRandom(seed: 550)
        let hidden = 9, seq = 4
        let word = random.floats(5 * hidden), position = random.floats(seq * hidden), tokenType = random.floats(2 * hidden)
        let gamma = [Float](repeating: 1, count: hidden), beta = [Float](repeating: 0, count: hidden)
        let ids: [Int32] = [1, 2, 3, 4]
        let out = try poisonedBuffer(backend, seq * hidden)
        try backend.embed(ids: ids, typeIds: nil, batch: 1, seq: seq, hidden: hidden, word: try backend.makeBuffer(word),
                          position: try backend.makeBuffer(position), tokenType: try backend.makeBuffer(tokenType),
                          gamma: try backend.makeBuffer(gamma), beta: try backend.makeBuffer(beta), eps: 1e-12, out: out)
        var expected: [Float] = []
        for t in 0..<seq {
            let v = (0..<hidden).map { Double(word[Int(ids[t]) * hidden + $0]) + Double(position[t * hidden + $0]) + Double(tokenType[$0]) }
            expected += referenceLayerNorm(v, gamma: gamma, beta: beta, eps: 1e-12)
        }
        #expect(maxAbsDiff(try backend.read(out), expected) <= 1e-4)
    }

    // MARK: Pooling and copy

    @Test func poolMatchesReferenceIntoStridedOutput() throws {
        let shapes: [(batch: Int, seq: Int, cols: Int)] = [(1, 1, 1), (3, 7, 33), (4, 33, 385), (2, 127, 7)]
        for (n, s) in shapes.enumerated() {
            var random = SeededRandom(seed: UInt64(600 + n))
            var lengths = (0..<s.batch).map { _ in Int32(1 + random.int(below: s.seq)) }
            lengths[0] = Int32(s.seq)
            if s.batch > 1 { lengths[1] = 1 }
            var hidden = random.floats(s.batch * s.seq * s.cols, scale: 4)
            // Padding positions hold huge values: max/mean/last must ignore them.
            for b in 0..<s.batch { for t in Int(lengths[b])..<s.seq { for c in 0..<s.cols { hidden[(b * s.seq + t) * s.cols + c] = 1e30 } } }
            let hiddenBuffer = try backend.makeBuffer(hidden)
            // All modes side by side in one [batch, modes * cols + 3] matrix, starting at column 2.
            let modes = PoolingMode.allCases
            let stride = modes.count * s.cols + 3
            let out = try poisonedBuffer(backend, s.batch * stride)
            for (m, mode) in modes.enumerated() {
                try backend.pool(hidden: hiddenBuffer, lengths: lengths, batch: s.batch, seq: s.seq, cols: s.cols,
                                 mode: mode, out: out, outOffset: 2 + m * s.cols, outStride: stride)
            }
            let got = try backend.read(out)
            for (m, mode) in modes.enumerated() {
                let expected = referencePool(hidden, lengths: lengths, batch: s.batch, seq: s.seq, cols: s.cols, mode: mode)
                var worst: Float = 0
                for b in 0..<s.batch { for c in 0..<s.cols {
                    let d = abs(got[b * stride + 2 + m * s.cols + c] - expected[b * s.cols + c])
                    worst = d.isNaN ? .infinity : max(worst, d)
                } }
                #expect(worst <= 1e-4, "pool \(mode) \(s): max abs error \(worst)")
            }
            // Columns outside the pooled blocks are untouched.
            for b in 0..<s.batch {
                #expect(got[b * stride].isNaN && got[b * stride + 1].isNaN && got[b * stride + stride - 1].isNaN)
            }
        }
    }

    @Test func copyMovesExactlyTheRange() throws {
        let source = try backend.makeBuffer((0..<100).map(Float.init))
        let destination = try poisonedBuffer(backend, 50)
        try backend.copy(source, sourceOffset: 37, to: destination, destinationOffset: 5, count: 40)
        let got = try backend.read(destination)
        #expect(got[0..<5].allSatisfy { $0.isNaN })
        #expect(Array(got[5..<45]) == (37..<77).map(Float.init))
        #expect(got[45...].allSatisfy { $0.isNaN })
        try backend.copy(source, sourceOffset: 0, to: destination, destinationOffset: 0, count: 0)
        #expect(throws: BackendError.self) {
            try backend.copy(source, sourceOffset: 90, to: destination, destinationOffset: 0, count: 20)
        }
    }

    @Test func partialUploadAndDownload() throws {
        let buffer = try poisonedBuffer(backend, 10)
        try [Float(1), 2, 3].withUnsafeBufferPointer { try backend.upload($0, to: buffer, offset: 4) }
        var part = [Float](repeating: 0, count: 5)
        try part.withUnsafeMutableBufferPointer { try backend.download(buffer, offset: 3, into: $0) }
        #expect(part[0].isNaN && part[1] == 1 && part[2] == 2 && part[3] == 3 && part[4].isNaN)
    }

    // MARK: Errors

    @Test func reportsBadArguments() throws {
        let small = try backend.allocate(count: 4)
        let big = try backend.allocate(count: 64)
        #expect(throws: BackendError.self) {
            try backend.linear(input: small, rows: 2, inFeatures: 4, weight: big, bias: nil, outFeatures: 4,
                               activation: nil, out: big)
        }
        do {
            try backend.embed(ids: [0, 99], typeIds: nil, batch: 1, seq: 2, hidden: 4, word: big, position: big,
                              tokenType: nil, gamma: small, beta: small, eps: 1e-5, out: big)
            Issue.record("expected an error")
        } catch let error as BackendError {
            #expect(error.description.contains("token id 99"))
        }
        #expect(throws: BackendError.self) {
            try backend.attention(qkv: big, lengths: [3], batch: 1, seq: 2, heads: 1, headDim: 2, scale: 1, out: big)
        }
        #expect(throws: BackendError.self) {
            try backend.pool(hidden: big, lengths: [1, 1], batch: 1, seq: 2, cols: 2, mode: .mean, out: big,
                             outOffset: 0, outStride: 2)
        }
        final class ForeignBuffer: DeviceBuffer { let count = 64 }
        #expect(throws: BackendError.self) { try backend.copy(ForeignBuffer(), sourceOffset: 0, to: big, destinationOffset: 0, count: 1) }
    }

    @Test func hugeAllocationIsOutOfMemory() throws {
        do {
            _ = try backend.allocate(count: Int(Int32.max) * 64)
            Issue.record("expected an error")
        } catch let error as BackendError {
            guard case .outOfMemory = error else { Issue.record("got \(error)"); return }
        }
    }

    @Test func namesOpenCLErrors() {
        #expect(openCLErrorName(-5) == "CL_OUT_OF_RESOURCES")
        #expect(openCLErrorName(-4) == "CL_MEM_OBJECT_ALLOCATION_FAILURE")
        #expect(openCLErrorName(-11) == "CL_BUILD_PROGRAM_FAILURE")
        #expect(openCLErrorName(-1001) == "CL_PLATFORM_NOT_FOUND_KHR")
        #expect(openCLErrorName(-4242) == "CL_ERROR_-4242")
        let error = BackendError.deviceFailure(device: "opencl:0 X", call: "clEnqueueNDRangeKernel(gemm_nt_cpu)",
                                               code: -5, name: openCLErrorName(-5))
        #expect(error.description == "opencl:0 X: clEnqueueNDRangeKernel(gemm_nt_cpu) failed with CL_OUT_OF_RESOURCES (-5)")
    }

    // MARK: Parameters and program cache

    @Test func secondBackendLoadsCachedProgram() throws {
        _ = backend
        let again = try OpenCLBackend(deviceIndex: 0, parameters: backend.parameters)
        #expect(again.programFromCache)
        #expect(again.parameters == backend.parameters)
    }

    @Test func tuningFileRoundTripsAndRejectsBadLines() throws {
        var p = KernelParameters.gpuDefault
        p.tileM = 32; p.vectorWidth = 2; p.gemmVariant = .registerBlocked
        let parsed = try KernelParameters.parse(p.serialized, over: .smallGPU, source: "t.params")
        #expect(parsed == p)
        let partial = try KernelParameters.parse("# comment\ntileK = 8\n\n", over: .gpuDefault, source: "t")
        #expect(partial.tileK == 8 && partial.tileM == KernelParameters.gpuDefault.tileM)
        do {
            _ = try KernelParameters.parse("tileM = 64\nbogus = 1\n", over: .gpuDefault, source: "t.params")
            Issue.record("expected an error")
        } catch let error as BackendError {
            #expect(error.description.contains("t.params:2"))
        }
        #expect(throws: BackendError.self) { try KernelParameters.parse("tileM = x", over: .gpuDefault, source: "t") }
        var bad = KernelParameters.gpuDefault
        bad.tileK = 6
        #expect(bad.validationProblem(for: backend.device) != nil)
        #expect(throws: BackendError.self) { try OpenCLBackend(deviceIndex: 0, parameters: bad) }
    }
}
