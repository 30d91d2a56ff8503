import CPUKernels
import Foundation
import Testing

/// Issue 16 item 11: the math kernels propagate NaN as IEEE arithmetic does, in every CPU variant, so NaN
/// weights give NaN features (counted, reported, refused by `--strict`) instead of finite garbage. (The
/// AVX2 `clamp8` used to turn NaN into the clamp bound: exp(NaN) was 0, erf(NaN) -1.)
@Suite struct NaNPropagationTests {
    static var variants: [(name: String, table: fz_kernel_table)] {
        var result = [(name: String, table: fz_kernel_table)]()
        if let p = fz_kernel_variant(0) { result.append(("portable", p.pointee)) }
        if let a = fz_kernel_variant(1) { result.append(("avx2+fma", a.pointee)) }
        return result
    }

    @Test func mathAndActivationsPropagateNaN() {
        // 16 lanes: NaN in a vector lane and in the scalar tail.
        var input = [Float](repeating: 0.25, count: 19)
        input[3] = .nan; input[17] = .nan
        for variant in Self.variants {
            for function in [FZ_MATH_ERF, FZ_MATH_TANH, FZ_MATH_EXP] {
                var x = input
                variant.table.math(&x, x.count, Int32(function))
                #expect(x[3].isNaN && x[17].isNaN, "\(variant.name) math \(function): \(x[3]), \(x[17])")
                #expect(x[0].isFinite)
            }
            for act in [FZ_ACT_GELU_ERF, FZ_ACT_GELU_TANH, FZ_ACT_TANH] {
                var x = input
                variant.table.activate(&x, x.count, Int32(act))
                #expect(x[3].isNaN && x[17].isNaN, "\(variant.name) activation \(act): \(x[3]), \(x[17])")
            }
        }
    }

    @Test func attentionWithANaNQueryGivesNaN() {
        let n = 9, d = 16, stride = 3 * d
        var qkv = (0..<(n * stride)).map { Float(($0 * 37) % 17) / 17 - 0.5 }
        qkv[2 * stride + 5] = .nan  // query of row 2
        for variant in Self.variants {
            var out = [Float](repeating: 0, count: n * d)
            let status = qkv.withUnsafeBufferPointer { p in
                variant.table.attention_head(Int32(n), Int32(d), p.baseAddress!, p.baseAddress! + d, p.baseAddress! + 2 * d,
                                             Int32(stride), 0.25, nil, 0, &out, Int32(d))
            }
            #expect(status == 0)
            let row2 = Array(out[(2 * d)..<(3 * d)]), others = Array(out[0..<(2 * d)])
            #expect(row2.allSatisfy { $0.isNaN }, "\(variant.name): row 2 \(row2)")
            #expect(others.allSatisfy { $0.isFinite }, "\(variant.name): a NaN query leaked into other rows")
        }
    }
}
