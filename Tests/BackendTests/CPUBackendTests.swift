import Backend
import CPUBackend
import ReferenceBackend
import Foundation
import Testing

/// Deterministic pseudo-random floats in [-scale, scale].
private func randomValues(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

private func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite("CPU backend ops against naive references")
struct CPUBackendTests {
    @Test("SIMD erf / tanh / exp agree with glibc", arguments: [1, 2])
    func simdMath(part: Int) {
        var worstErf: Float = 0, worstTanh: Float = 0, worstExpRel: Float = 0
        let start: Float = part == 1 ? -12 : 0
        var i = 0
        while true {
            let x = start + Float(i) * 1e-3
            if x >= start + 12 { break }
            var v = SIMD8<Float>()
            for k in 0..<8 { v[k] = x + Float(k) * 1.25e-4 }
            let e = CPUMath.erf(v), t = CPUMath.tanh(v), ex = CPUMath.exp(v * 7)
            for k in 0..<8 {
                worstErf = max(worstErf, abs(e[k] - erff(v[k])))
                worstTanh = max(worstTanh, abs(t[k] - tanhf(v[k])))
                let ref = expf(v[k] * 7)
                worstExpRel = max(worstExpRel, abs(ex[k] - ref) / ref)
            }
            i += 1
        }
        print("SIMD math part \(part): erf \(worstErf) tanh \(worstTanh) exp rel \(worstExpRel)")
        #expect(worstErf <= 5e-7, "erf max abs error \(worstErf)")
        #expect(worstTanh <= 5e-7, "tanh max abs error \(worstTanh)")
        #expect(worstExpRel <= 5e-7, "exp max relative error \(worstExpRel)")
    }

    @Test("linear with bias and every activation", arguments: [1, 2])
    func linear(threads: Int) throws {
        let backend = CPUBackend(threads: threads)
        let rows = 67, inF = 37, outF = 29
        let x = randomValues(rows * inF, seed: 1, scale: 2), w = randomValues(outF * inF, seed: 2), b = randomValues(outF, seed: 3)
        let xb = try backend.makeBuffer(x), wb = try backend.makeBuffer(w), bb = try backend.makeBuffer(b)
        let out = try backend.allocate(count: rows * outF)
        let activations: [Activation?] = [nil, .relu, .geluErf, .geluTanh, .tanh]
        for act in activations {
            try backend.linear(input: xb, rows: rows, inFeatures: inF, weight: wb, bias: bb, outFeatures: outF,
                               activation: act, out: out)
            var expected = [Float](repeating: 0, count: rows * outF)
            for r in 0..<rows {
                for o in 0..<outF {
                    var acc = Double(b[o])
                    for k in 0..<inF { acc += Double(x[r * inF + k]) * Double(w[o * inF + k]) }
                    let v = Float(acc)
                    let y: Float
                    switch act {
                    case nil: y = v
                    case .relu?: y = max(v, 0)
                    case .geluErf?: y = v * 0.5 * (1 + erff(v * 0.70710678118654752440))
                    case .geluTanh?: y = 0.5 * v * (1 + tanhf(0.79788456080286535588 * (v + 0.044715 * v * v * v)))
                    case .tanh?: y = tanhf(v)
                    }
                    expected[r * outF + o] = y
                }
            }
            let d = maxDiff(try backend.read(out), expected)
            #expect(d <= 2e-5, "activation \(String(describing: act)): \(d)")
        }
    }

    /// `x · wᵀ + b` then the activation, from the oracle (`ReferenceMath`, double precision).
    private func referenceLinear(_ x: [Float], rows: Int, inF: Int, _ w: [Float], _ b: [Float]?, outF: Int,
                                 _ act: Activation? = nil) -> [Float] {
        ReferenceMath.linear(x, rows: rows, inFeatures: inF, weight: w, bias: b, outFeatures: outF, activation: act).values
    }

    /// Shapes (rows, in, out) around the micro-kernel's tiles (6 x 16), k blocks (384) and row blocks (240).
    static let packedShapes: [(Int, Int, Int)] = [
        (1, 1, 1), (5, 7, 3), (6, 16, 16), (67, 37, 29), (13, 400, 45), (100, 800, 17), (250, 385, 33),
        (7, 1537, 16), (241, 64, 48), (481, 390, 40),
    ]

    @Test("packed-weight linear matches the naive reference at odd and blocked shapes", arguments: [1, 2])
    func packedLinear(threads: Int) throws {
        let backend = CPUBackend(threads: threads, packedWeights: true)
        for (index, (rows, inF, outF)) in Self.packedShapes.enumerated() {
            let seed = UInt64(index * 10)
            let x = randomValues(rows * inF, seed: seed + 1, scale: 2)
            let w = randomValues(outF * inF, seed: seed + 2, scale: 1 / Float(inF).squareRoot())
            let b = randomValues(outF, seed: seed + 3)
            let xb = try backend.makeBuffer(x), bb = try backend.makeBuffer(b)
            let wb = try backend.makeLinearWeight(w, outFeatures: outF, inFeatures: inF)
            #expect(try backend.read(wb) == w, "packed weight \(outF)x\(inF) downloads as its logical values")
            for withBias in [true, false] {
                let bias = withBias ? b : nil
                for act in [nil, .relu, .geluErf, .geluTanh, .tanh] as [Activation?] {
                    let out = try backend.makeBuffer([Float](repeating: .nan, count: rows * outF))
                    try backend.linear(input: xb, rows: rows, inFeatures: inF, weight: wb, bias: withBias ? bb : nil,
                                       outFeatures: outF, activation: act, out: out)
                    let expected = referenceLinear(x, rows: rows, inF: inF, w, bias, outF: outF, act)
                    let d = maxDiff(try backend.read(out), expected)
                    #expect(d <= 2e-5, "\(rows)x\(inF)x\(outF) \(String(describing: act)) bias \(withBias): \(d)")
                }
            }
        }
    }

    @Test("linearRealRows computes real rows like linear and zeroes padding rows", arguments: [1, 2])
    func linearRealRows(threads: Int) throws {
        let seq = 9, inF = 40, outF = 35
        let lengths: [Int32] = [9, 4, 1, 0, 7]
        let rows = lengths.count * seq
        let x = randomValues(rows * inF, seed: 41, scale: 2), w = randomValues(outF * inF, seed: 42, scale: 0.2)
        let b = randomValues(outF, seed: 43)
        let expected = referenceLinear(x, rows: rows, inF: inF, w, b, outF: outF, .geluErf)
        for packed in [true, false] {
            let backend = CPUBackend(threads: threads, packedWeights: packed)
            let wb = try backend.makeLinearWeight(w, outFeatures: outF, inFeatures: inF)
            let out = try backend.makeBuffer([Float](repeating: .nan, count: rows * outF))
            try backend.linearRealRows(input: try backend.makeBuffer(x), lengths: lengths, seq: seq, inFeatures: inF,
                                       weight: wb, bias: try backend.makeBuffer(b), outFeatures: outF,
                                       activation: .geluErf, out: out)
            let got = try backend.read(out)
            var worst: Float = 0
            for (s, n) in lengths.enumerated() {
                for t in 0..<seq {
                    let r = s * seq + t
                    let row = Array(got[r * outF ..< (r + 1) * outF])
                    if t < Int(n) {
                        worst = max(worst, maxDiff(row, Array(expected[r * outF ..< (r + 1) * outF])))
                    } else if packed {
                        #expect(row.allSatisfy { $0 == 0 }, "padding row \(t) of sequence \(s) is zeroed")
                    }
                }
            }
            #expect(worst <= 2e-5, "packed \(packed): real rows max abs diff \(worst)")
        }
    }

    @Test("a packed weight is read-only and must match the linear's shape")
    func packedWeightMisuse() throws {
        let backend = CPUBackend(threads: 1, packedWeights: true)
        let w = randomValues(6 * 4, seed: 5)
        let wb = try backend.makeLinearWeight(w, outFeatures: 6, inFeatures: 4)
        #expect(throws: BackendError.self) { try backend.upload([Float](repeating: 0, count: 4).withUnsafeBufferPointer { $0 }, to: wb, offset: 0) }
        let plain = try backend.allocate(count: 24)
        #expect(throws: BackendError.self) { try backend.copy(wb, sourceOffset: 0, to: plain, destinationOffset: 0, count: 24) }
        let x = try backend.makeBuffer(randomValues(3 * 6, seed: 6)), out = try backend.allocate(count: 3 * 4)
        // A 6 x 4 weight used as 4 x 6 is an error naming both shapes, not garbage.
        #expect(throws: BackendError.self) {
            try backend.linear(input: x, rows: 3, inFeatures: 6, weight: wb, bias: nil, outFeatures: 4, activation: nil, out: out)
        }
        #expect(throws: BackendError.self) { try backend.makeLinearWeight(w, outFeatures: 5, inFeatures: 4) }
    }

    @Test("attention at encoder head sizes and long sequences", arguments: [32, 64, 12])
    func attentionHeadSizes(headDim: Int) throws {
        let backend = CPUBackend(threads: 2)
        let batch = 3, seq = 131, heads = 2, hidden = heads * headDim
        let lengths: [Int32] = [131, 57, 8]
        let qkv = randomValues(batch * seq * 3 * hidden, seed: UInt64(headDim), scale: 2)
        let scale: Float = 1 / Float(headDim).squareRoot()
        let out = try backend.allocate(count: batch * seq * hidden)
        try backend.attention(qkv: try backend.makeBuffer(qkv), lengths: lengths, batch: batch, seq: seq, heads: heads,
                              headDim: headDim, scale: scale, out: out)
        let got = try backend.read(out)
        func at(_ b: Int, _ t: Int, _ part: Int, _ h: Int, _ d: Int) -> Double {
            Double(qkv[(b * seq + t) * 3 * hidden + part * hidden + h * headDim + d])
        }
        var worst: Float = 0
        for b in 0..<batch {
            let n = Int(lengths[b])
            for h in 0..<heads {
                for i in stride(from: 0, to: n, by: 5) {
                    let scores = (0..<n).map { j in (0..<headDim).reduce(0.0) { $0 + at(b, i, 0, h, $1) * at(b, j, 1, h, $1) } * Double(scale) }
                    let m = scores.max() ?? 0
                    let e = scores.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for d in 0..<headDim {
                        let v = (0..<n).reduce(0.0) { $0 + e[$1] / z * at(b, $1, 2, h, d) }
                        worst = max(worst, abs(Float(v) - got[(b * seq + i) * hidden + h * headDim + d]))
                    }
                }
            }
        }
        #expect(worst <= 1e-5, "attention head size \(headDim): max abs diff \(worst)")
    }

    @Test("attention masks padding keys and ignores padding values", arguments: [1, 2])
    func attention(threads: Int) throws {
        let backend = CPUBackend(threads: threads)
        let batch = 3, seq = 9, heads = 3, headDim = 5, hidden = heads * headDim
        let lengths: [Int32] = [9, 4, 1]
        var qkv = randomValues(batch * seq * 3 * hidden, seed: 7, scale: 3)
        // Huge values in padding rows must not leak into real rows.
        for b in 0..<batch {
            for t in Int(lengths[b])..<seq {
                for c in 0..<3 * hidden { qkv[(b * seq + t) * 3 * hidden + c] = 1e6 }
            }
        }
        let scale: Float = 1 / Float(headDim).squareRoot()
        let out = try backend.allocate(count: batch * seq * hidden)
        try backend.attention(qkv: try backend.makeBuffer(qkv), lengths: lengths, batch: batch, seq: seq, heads: heads,
                              headDim: headDim, scale: scale, out: out)
        let got = try backend.read(out)
        var worst: Float = 0
        func at(_ b: Int, _ t: Int, _ part: Int, _ h: Int, _ d: Int) -> Double {
            Double(qkv[(b * seq + t) * 3 * hidden + part * hidden + h * headDim + d])
        }
        for b in 0..<batch {
            let n = Int(lengths[b])
            for h in 0..<heads {
                for i in 0..<n {
                    var scores = [Double](repeating: 0, count: n)
                    for j in 0..<n {
                        var s = 0.0
                        for d in 0..<headDim { s += at(b, i, 0, h, d) * at(b, j, 1, h, d) }
                        scores[j] = s * Double(scale)
                    }
                    let m = scores.max() ?? 0
                    let e = scores.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for d in 0..<headDim {
                        var v = 0.0
                        for j in 0..<n { v += e[j] / z * at(b, j, 2, h, d) }
                        worst = max(worst, abs(Float(v) - got[(b * seq + i) * hidden + h * headDim + d]))
                    }
                }
            }
        }
        #expect(worst <= 1e-5, "attention max abs diff \(worst)")
    }

    @Test("addLayerNorm in place")
    func addLayerNorm() throws {
        let backend = CPUBackend(threads: 2)
        let rows = 40, cols = 23
        let x = randomValues(rows * cols, seed: 11, scale: 5), r = randomValues(rows * cols, seed: 12, scale: 100)
        let g = randomValues(cols, seed: 13), b = randomValues(cols, seed: 14)
        let xb = try backend.makeBuffer(x)
        try backend.addLayerNorm(x: xb, residual: try backend.makeBuffer(r), rows: rows, cols: cols,
                                 gamma: try backend.makeBuffer(g), beta: try backend.makeBuffer(b), eps: 1e-12, out: xb)
        var expected = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            let v = (0..<cols).map { Double(x[i * cols + $0]) + Double(r[i * cols + $0]) }
            let mean = v.reduce(0, +) / Double(cols)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
            for c in 0..<cols {
                expected[i * cols + c] = Float((v[c] - mean) / (variance + 1e-12).squareRoot()) * g[c] + b[c]
            }
        }
        #expect(maxDiff(try backend.read(xb), expected) <= 1e-5)
    }

    @Test("embed sums word, position and type rows, then LayerNorm; rejects out-of-vocabulary ids")
    func embed() throws {
        let backend = CPUBackend(threads: 2)
        let vocab = 11, positions = 6, hidden = 13
        let word = randomValues(vocab * hidden, seed: 21), pos = randomValues(positions * hidden, seed: 22)
        let types = randomValues(2 * hidden, seed: 23)
        let ones = [Float](repeating: 1, count: hidden), zeros = [Float](repeating: 0, count: hidden)
        let ids: [Int32] = [1, 5, 10, 0, 3, 3, 2, 0], typeIds: [Int32] = [0, 0, 1, 1, 0, 1, 0, 0]
        let out = try backend.allocate(count: ids.count * hidden)
        let wordBuffer = try backend.makeBuffer(word), posBuffer = try backend.makeBuffer(pos)
        let gamma = try backend.makeBuffer(ones), beta = try backend.makeBuffer(zeros)
        try backend.embed(ids: ids, typeIds: typeIds, batch: 2, seq: 4, hidden: hidden, word: wordBuffer,
                          position: posBuffer, tokenType: try backend.makeBuffer(types),
                          gamma: gamma, beta: beta, eps: 1e-5, out: out)
        let got = try backend.read(out)
        var worst: Float = 0
        for row in 0..<ids.count {
            let v = (0..<hidden).map {
                word[Int(ids[row]) * hidden + $0] + pos[(row % 4) * hidden + $0] + types[Int(typeIds[row]) * hidden + $0]
            }
            let mean = v.reduce(0, +) / Float(hidden)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(hidden)
            for c in 0..<hidden {
                worst = max(worst, abs(got[row * hidden + c] - (v[c] - mean) / (variance + 1e-5).squareRoot()))
            }
        }
        #expect(worst <= 1e-5)
        #expect(throws: BackendError.self) {
            try backend.embed(ids: [0, 99], typeIds: nil, batch: 1, seq: 2, hidden: hidden, word: wordBuffer,
                              position: posBuffer, tokenType: nil, gamma: gamma, beta: beta, eps: 1e-5, out: out)
        }
    }

    @Test("max pooling ignores padding even when every real value is negative")
    func maxPoolingNegative() throws {
        let backend = CPUBackend(threads: 1)
        // One sequence of 3 positions, 2 real; the padding row holds 0, which must not win.
        let hidden: [Float] = [-3, -1, -2, -5, 0, 0]
        let out = try backend.allocate(count: 2)
        let buffer = try backend.makeBuffer(hidden)
        try backend.pool(hidden: buffer, lengths: [2], batch: 1, seq: 3, cols: 2, mode: .max,
                         out: out, outOffset: 0, outStride: 2)
        #expect(try backend.read(out) == [-2, -1])
        try backend.pool(hidden: buffer, lengths: [2], batch: 1, seq: 3, cols: 2, mode: .weightedMean,
                         out: out, outOffset: 0, outStride: 2)
        #expect(maxDiff(try backend.read(out), [(-3 - 4) / 3, (-1 - 10) / 3]) <= 1e-6)
    }
}

@Test("an impossible allocation is an out-of-memory error, not a crash")
func impossibleAllocation() throws {
    let backend = CPUBackend(threads: 1)
    #expect { _ = try backend.allocate(count: Int.max / 8) } throws: { error in
        if case BackendError.outOfMemory = error { return true } else { return false }
    }
    #expect(throws: BackendError.self) { _ = try backend.allocate(count: -1) }
}
