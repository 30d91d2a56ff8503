import CPUKernels
import Foundation
import Testing

/// The portable C kernels against the AVX2+FMA ones (when this CPU has them) and against plain double-precision
/// references, at odd shapes (not multiples of the 6 x 16 register block or of the k block).
@Suite("CPU kernel variants: portable vs AVX2+FMA vs references")
struct CPUKernelVariantTests {
    private static func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    /// Operands of a linear layer: input `[m, k]`, weight `[n, k]` (scaled by 1/sqrt(k)), bias `[n]`, residual `[m, n]`;
    /// seeds `seed + 1` to `seed + 4`.
    private static func linearOperands(m: Int, k: Int, n: Int, seed: UInt64)
        -> (a: [Float], w: [Float], bias: [Float], residual: [Float]) {
        (values(m * k, seed: seed + 1, scale: 2), values(n * k, seed: seed + 2, scale: 1 / Float(k).squareRoot()),
         values(n, seed: seed + 3), values(m * n, seed: seed + 4, scale: 3))
    }

    private static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    private static var variants: [(name: String, table: fz_kernel_table)] {
        var result = [(name: String, table: fz_kernel_table)]()
        if let p = fz_kernel_variant(0) { result.append(("portable", p.pointee)) }
        if let a = fz_kernel_variant(1) { result.append(("avx2+fma", a.pointee)) }
        return result
    }

    private static func activation(_ x: Double, _ act: Int32) -> Double {
        switch act {
        case Int32(FZ_ACT_GELU_ERF): return x * 0.5 * (1 + erf(x / 2.0.squareRoot()))
        case Int32(FZ_ACT_GELU_TANH): return 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        case Int32(FZ_ACT_RELU): return max(x, 0)
        case Int32(FZ_ACT_TANH): return tanh(x)
        default: return x
        }
    }

    @Test("fz_touch_lines reads one float per 64-byte line, the first at p, and no further than count")
    func touchLines() {
        for count in [0, 1, 15, 16, 17, 33, 1_000] {
            var data = Self.values(count + 16, seed: UInt64(count) + 5)
            // A float past `count` that would change the result if it were read.
            data[count] = Float(bitPattern: 0x7fc0_0001)
            let expected = stride(from: 0, to: count, by: 16).reduce(UInt32(0)) { $0 ^ data[$1].bitPattern }
            #expect(fz_touch_lines(data, count) == expected, "count \(count)")
        }
    }

    @Test("the portable variant exists everywhere; the process runs one of the two")
    func pathIsKnown() {
        #expect(fz_kernel_variant(0) != nil)
        let path = String(cString: fz_kernel_path())
        #expect(path == "portable" || path == "avx2+fma")
        #if arch(x86_64)
        if ProcessInfo.processInfo.environment["FEATURIZE_CPU_KERNELS"] != "portable" {
            #expect((fz_kernel_variant(1) != nil) == (path == "avx2+fma"))
        }
        #endif
    }

    @Test("packed GEMM: every variant matches the double reference at odd shapes, with row index, bias, activation, residual")
    func gemm() {
        let shapes = [(1, 1, 1), (7, 33, 17), (13, 127, 45), (6, 16, 16), (61, 385, 129), (247, 769, 53)]
        for (s, (m, k, n)) in shapes.enumerated() {
            let (a, w, bias, residual) = Self.linearOperands(m: m, k: k, n: n, seed: UInt64(s) * 7)
            // The packed weight must be 32-byte aligned (aligned AVX loads).
            let packedCount = fz_packed_weight_count(Int32(n), Int32(k))
            let packed = UnsafeMutablePointer<Float>(
                OpaquePointer(UnsafeMutableRawPointer.allocate(byteCount: packedCount * 4, alignment: 64)))
            defer { UnsafeMutableRawPointer(packed).deallocate() }
            fz_pack_weight(w, Int32(n), Int32(k), packed)
            // Every other row, backwards: exercises the row index.
            let index = (0..<m).reversed().filter { $0 % 2 == 0 }.map { Int32($0) }
            for act in [FZ_ACT_NONE, FZ_ACT_GELU_ERF, FZ_ACT_GELU_TANH, FZ_ACT_RELU, FZ_ACT_TANH].map({ Int32($0) }) {
                var expected = [Float](repeating: .nan, count: m * n)
                for i in index.map(Int.init) {
                    for j in 0..<n {
                        var sum = Double(bias[j])
                        for p in 0..<k { sum += Double(a[i * k + p]) * Double(w[j * k + p]) }
                        expected[i * n + j] = Float(Self.activation(sum, act))
                    }
                }
                for variant in Self.variants {
                    var c = [Float](repeating: .nan, count: m * n)
                    variant.table.gemm_packed_rows(Int32(index.count), index, Int32(n), Int32(k), a, Int32(k), packed,
                                                   bias, act, nil, &c, Int32(n))
                    let listed = index.flatMap { i in (0..<n).map { Int(i) * n + $0 } }
                    let d = Self.maxDiff(listed.map { c[$0] }, listed.map { expected[$0] })
                    #expect(d <= 2e-5, "\(variant.name) \(m)x\(k)x\(n) act \(act): max abs diff \(d)")
                    let untouched = (0..<m).filter { !index.contains(Int32($0)) }.allSatisfy { r in (0..<n).allSatisfy { c[r * n + $0].isNaN } }
                    #expect(untouched, "\(variant.name) \(m)x\(k)x\(n): rows not in the index must not be written")
                    // The residual epilogue: exactly `act(acc + bias)` (the run above) plus the residual, one
                    // float add per element, on the listed rows only.
                    var cr = [Float](repeating: .nan, count: m * n)
                    variant.table.gemm_packed_rows(Int32(index.count), index, Int32(n), Int32(k), a, Int32(k), packed,
                                                   bias, act, residual, &cr, Int32(n))
                    let exact = listed.allSatisfy { cr[$0].bitPattern == (c[$0] + residual[$0]).bitPattern }
                    #expect(exact, "\(variant.name) \(m)x\(k)x\(n) act \(act): residual epilogue is not act(acc + bias) + residual")
                    let untouchedR = (0..<m).filter { !index.contains(Int32($0)) }.allSatisfy { r in (0..<n).allSatisfy { cr[r * n + $0].isNaN } }
                    #expect(untouchedR, "\(variant.name) \(m)x\(k)x\(n): residual run wrote rows not in the index")
                }
            }
        }
    }

    @Test("Strassen over row pairs and single rows matches the double reference at odd even shapes, with bias, activation, residual; a pair's rows depend on that pair alone")
    func strassen() {
        // (rows, k, n): n and k even, not multiples of the 16-column panel or the k block; 2 x 192 split in k.
        let shapes = [(2, 2, 2), (9, 22, 38), (14, 130, 96), (25, 384, 1536), (13, 770, 34)]
        for (s, (m, k, n)) in shapes.enumerated() {
            let (a, w, bias, residual) = Self.linearOperands(m: m, k: k, n: n, seed: UInt64(s) * 11)
            let count = fz_strassen_weight_count(Int32(n), Int32(k))
            #expect(count == 7 * fz_packed_weight_count(Int32(n / 2), Int32(k / 2)))
            let form = UnsafeMutablePointer<Float>(OpaquePointer(UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)))
            defer { UnsafeMutableRawPointer(form).deallocate() }
            #expect(fz_strassen_pack_weight(w, Int32(n), Int32(k), form) == 0)
            var scratch = [Float](repeating: 0, count: fz_strassen_scratch_count(Int32(m), Int32(n), Int32(k)))
            // Pairs (0, 1), (3, 2), ...; the rows left over (odd m, and row m - 1 always) go alone, backwards.
            var pairRows: [Int32] = [], singles: [Int32] = []
            var r = 0
            while r + 2 < m { pairRows += r % 4 == 0 ? [Int32(r), Int32(r + 1)] : [Int32(r + 1), Int32(r)]; r += 2 }
            singles = (r..<m).reversed().map(Int32.init)
            for act in [FZ_ACT_NONE, FZ_ACT_GELU_ERF, FZ_ACT_RELU].map({ Int32($0) }) {
                for withResidual in [false, true] {
                    var expected = [Float](repeating: 0, count: m * n)
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = Double(bias[j])
                            for p in 0..<k { sum += Double(a[i * k + p]) * Double(w[j * k + p]) }
                            expected[i * n + j] = Float(Self.activation(sum, act) + (withResidual ? Double(residual[i * n + j]) : 0))
                        }
                    }
                    var c = [Float](repeating: .nan, count: m * n)
                    residual.withUnsafeBufferPointer { res in
                        let rp = withResidual ? res.baseAddress : nil
                        fz_gemm_strassen_pairs(Int32(pairRows.count / 2), pairRows, Int32(n), Int32(k), a, Int32(k), form,
                                               bias, act, rp, &c, Int32(n), &scratch)
                        fz_gemm_strassen_rows(Int32(singles.count), singles, Int32(n), Int32(k), a, Int32(k), form, bias,
                                              act, rp, &c, Int32(n), &scratch)
                    }
                    let d = Self.maxDiff(c, expected)
                    #expect(d <= 3e-5, "strassen \(m)x\(k)x\(n) act \(act) residual \(withResidual): max abs diff \(d)")
                    // The first pair computed alone: bit for bit what it was among all the pairs.
                    if pairRows.count >= 2 {
                        var alone = [Float](repeating: .nan, count: m * n)
                        residual.withUnsafeBufferPointer { res in
                            fz_gemm_strassen_pairs(1, pairRows, Int32(n), Int32(k), a, Int32(k), form, bias, act,
                                                   withResidual ? res.baseAddress : nil, &alone, Int32(n), &scratch)
                        }
                        let listed = pairRows.prefix(2).flatMap { i in (0..<n).map { Int(i) * n + $0 } }
                        #expect(listed.allSatisfy { alone[$0].bitPattern == c[$0].bitPattern }, "strassen \(m)x\(k)x\(n): a pair depends on other pairs")
                        #expect(alone.enumerated().allSatisfy { listed.contains($0.offset) || $0.element.isNaN },
                                "strassen \(m)x\(k)x\(n): rows outside the pair were written")
                    }
                }
            }
        }
        // No Strassen form for odd dimensions.
        #expect(fz_strassen_weight_count(7, 4) == 0 && fz_strassen_weight_count(4, 7) == 0)
    }

    @Test("attention of one head, with and without a score bias: every variant matches the double reference",
          arguments: [1, 2, 7, 8, 24, 33, 64, 127])
    func attention(n: Int) {
        for (d, withBias) in [(12, false), (32, true), (37, false), (64, true), (5, true)] {
            let biasStride = n + 3
            let bias = withBias ? Self.values(n * biasStride, seed: UInt64(n * 7 + d), scale: 2) : nil
            let stride = 3 * d + 5
            let qkv = Self.values(n * stride, seed: UInt64(n * 100 + d), scale: 1.5)
            let scale = 1 / Float(d).squareRoot()
            var expected = [Float](repeating: 0, count: n * d)
            for i in 0..<n {
                var scores = (0..<n).map { j in
                    (0..<d).reduce(0.0) { $0 + Double(qkv[i * stride + $1]) * Double(qkv[j * stride + d + $1]) } * Double(scale)
                        + Double(bias?[i * biasStride + j] ?? 0)
                }
                let top = scores.max()!
                scores = scores.map { Foundation.exp($0 - top) }
                let total = scores.reduce(0, +)
                for c in 0..<d {
                    expected[i * d + c] = Float((0..<n).reduce(0.0) { $0 + scores[$1] * Double(qkv[$1 * stride + 2 * d + c]) } / total)
                }
            }
            for variant in Self.variants {
                var out = [Float](repeating: .nan, count: n * d)
                let status = qkv.withUnsafeBufferPointer { p in
                    variant.table.attention_head(Int32(n), Int32(d), p.baseAddress!, p.baseAddress! + d, p.baseAddress! + 2 * d,
                                                 Int32(stride), scale, bias, Int32(biasStride), &out, Int32(d))
                }
                #expect(status == 0)
                let diff = Self.maxDiff(out, expected)
                #expect(diff <= 1e-5, "\(variant.name) n \(n) d \(d) bias \(withBias): max abs diff \(diff)")
            }
        }
    }

    @Test("LayerNorm and residual add: every variant matches the double reference")
    func rows() {
        for cols in [1, 7, 8, 45, 384, 769] {
            let x = Self.values(cols, seed: UInt64(cols), scale: 3).map { $0 + 0.5 }
            let r = Self.values(cols, seed: UInt64(cols) + 1)
            let gamma = Self.values(cols, seed: UInt64(cols) + 2), beta = Self.values(cols, seed: UInt64(cols) + 3)
            let sum = zip(x, r).map { Double($0) + Double($1) }
            let mean = sum.reduce(0, +) / Double(cols)
            let variance = sum.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(cols)
            let expected = (0..<cols).map { Float((sum[$0] - mean) / (variance + 1e-12).squareRoot() * Double(gamma[$0]) + Double(beta[$0])) }
            for variant in Self.variants {
                var added = [Float](repeating: .nan, count: cols)
                variant.table.add_rows(x, r, &added, cols)
                #expect(added == zip(x, r).map { $0 + $1 }, "\(variant.name) add_rows \(cols)")
                var out = added
                out.withUnsafeMutableBufferPointer { p in
                    variant.table.layer_norm_row(p.baseAddress!, Int32(cols), gamma, beta, 1e-12, p.baseAddress!)  // in place
                }
                let diff = Self.maxDiff(out, expected)
                #expect(diff <= 2e-5, "\(variant.name) layer_norm_row \(cols): max abs diff \(diff)")
            }
        }
    }

    @Test("erf, tanh and exp of every variant agree with glibc")
    func math() {
        let xs = stride(from: -12.0 as Float, through: 12, by: 0.0173).map { $0 }
        let functions: [(Int32, (Double) -> Double, Float)] = [
            (Int32(FZ_MATH_ERF), { erf($0) }, 1e-6), (Int32(FZ_MATH_TANH), { tanh($0) }, 1e-6),
            (Int32(FZ_MATH_EXP), { Foundation.exp($0) }, 1e-6),
        ]
        for (code, reference, tolerance) in functions {
            for variant in Self.variants {
                var y = xs
                variant.table.math(&y, y.count, code)
                let worst = zip(xs, y).map { x, v in abs(v - Float(reference(Double(x)))) / max(1, abs(Float(reference(Double(x))))) }.max()!
                #expect(worst <= tolerance, "\(variant.name) function \(code): worst relative error \(worst)")
            }
        }
    }
}
