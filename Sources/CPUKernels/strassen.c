// One level of Strassen's algorithm over row pairs, on top of the packed GEMM (plain C, any CPU; the products
// and the activation go through the dispatching entry points, so they run the AVX2+FMA kernels where present).
//
//   c = act(a · wᵀ + bias) + residual,   w: [n, k] (n, k even), Bᵀ = w split into 2 x 2 blocks of [n/2, k/2]
//
// A pair of rows (top t, bottom b) is the 2 x 2 block matrix A = [t1 t2; b1 b2] (halves of k); with
// B = wᵀ = [B11 B12; B21 B22] (rows: halves of k, columns: halves of n) the 2 x n/2 products are
//   M1 = (t1 + b2)(B11 + B22)   M2 = (b1 + b2) B11   M3 = t1 (B12 - B22)   M4 = b2 (B21 - B11)
//   M5 = (t1 + t2) B22          M6 = (b1 - t1)(B11 + B12)                  M7 = (t2 - b2)(B21 + B22)
//   top = [M1 + M4 - M5 + M7, M3 + M5],  bottom = [M2 + M4, M1 - M2 + M3 + M6]
// 7 products of [pairs, k/2] x [k/2, n/2] instead of 8: 7/8 of the multiply-adds. The 7 weight combinations
// are packed once (`fz_strassen_pack_weight`, 7/4 of the weight's floats). Rounding differs from the plain
// product (the sums mix the two rows' halves), by a few units in the last place of the row norms; the two rows of
// a pair are the caller's choice (the CPU backend pairs rows of the same sequence, so a text's features never
// depend on the other texts of its batch).

#include "CPUKernels.h"
#include "internal.h"

size_t fz_strassen_weight_count(int n, int k) {
    if (n <= 0 || k <= 0 || n % 2 || k % 2) return 0;
    return 7 * fz_packed_weight_count(n / 2, k / 2);
}

int fz_strassen_pack_weight(const float *w, int n, int k, float *out) {
    if (n <= 0 || k <= 0 || n % 2 || k % 2) return -1;
    const int n2 = n / 2, k2 = k / 2;
    const size_t each = fz_packed_weight_count(n2, k2);
    // Straight into the packed layout of a [n/2, k/2] matrix (packing.c: block pc of length kcb at pc * npad,
    // panel jp at jp * kcb * 16, element (p, jj) at p * 16 + jj, 0 past n/2), all 7 combinations in one pass
    // over w: B11 = w[:n2, :k2], B12 = w[n2:, :k2], B21 = w[:n2, k2:], B22 = w[n2:, k2:].
    const int kc = kc_for(k2), np = panels_for(n2), npad = np * NR;
    for (int pc = 0; pc < k2; pc += kc) {
        const int kcb = k2 - pc < kc ? k2 - pc : kc;
        for (int jp = 0; jp < np; jp++) {
            for (int jj = 0; jj < NR; jj++) {
                const int r = jp * NR + jj;
                float *d0 = out + (size_t)pc * npad + (size_t)jp * kcb * NR + jj;
                float *d1 = d0 + each, *d2 = d1 + each, *d3 = d2 + each, *d4 = d3 + each, *d5 = d4 + each, *d6 = d5 + each;
                if (r >= n2) {
                    for (int p = 0; p < kcb; p++) {
                        const size_t o = (size_t)p * NR;
                        d0[o] = d1[o] = d2[o] = d3[o] = d4[o] = d5[o] = d6[o] = 0;
                    }
                    continue;
                }
                const float *top = w + (size_t)r * k + pc, *bottom = w + (size_t)(r + n2) * k + pc;
                for (int p = 0; p < kcb; p++) {
                    const float b11 = top[p], b12 = bottom[p], b21 = top[p + k2], b22 = bottom[p + k2];
                    const size_t o = (size_t)p * NR;
                    d0[o] = b11 + b22; d1[o] = b11; d2[o] = b12 - b22; d3[o] = b21 - b11;
                    d4[o] = b22; d5[o] = b11 + b12; d6[o] = b21 + b22;
                }
            }
        }
    }
    return 0;
}

size_t fz_strassen_scratch_count(int rows, int n, int k) {
    if (rows <= 0 || n <= 0 || k <= 0) return 0;
    const size_t k2 = (size_t)(k / 2), n2 = (size_t)(n / 2), pairs = (size_t)(rows + 1) / 2;
    const size_t pair_need = 7 * pairs * (k2 + n2), single_need = (size_t)rows * (3 * k2 + 4 * n2);
    return (pair_need > single_need ? pair_need : single_need) + 16;
}

// The element-wise passes (operands of the products, sums of the products), written once and compiled twice:
// for AVX2 (a target attribute, chosen at run time like the kernels) and for any CPU.
#define STRASSEN_PASSES(SUFFIX, ATTR)                                                                           \
    ATTR static void pair_operands_##SUFFIX(int k2, const float *restrict t, const float *restrict b,          \
                                            float *restrict s0, size_t sp) {                                   \
        float *restrict s1 = s0 + sp, *restrict s2 = s1 + sp, *restrict s3 = s2 + sp;                          \
        float *restrict s4 = s3 + sp, *restrict s5 = s4 + sp, *restrict s6 = s5 + sp;                          \
        for (int x = 0; x < k2; x++) {                                                                          \
            const float t1 = t[x], t2 = t[x + k2], b1 = b[x], b2 = b[x + k2];                                   \
            s0[x] = t1 + b2; s1[x] = b1 + b2; s2[x] = t1; s3[x] = b2;                                           \
            s4[x] = t1 + t2; s5[x] = b1 - t1; s6[x] = t2 - b2;                                                  \
        }                                                                                                       \
    }                                                                                                           \
    /* top = [tl | tr], bottom = [bol | bor] (n/2 = w each) = the products' sums + bias, + the rows' residual */ \
    /* (rt, rb: NULL or the top and bottom residual rows; only without an activation between). */             \
    ATTR static void pair_sums_##SUFFIX(int w, const float *restrict m1, size_t mp, const float *restrict bias, \
                                        float *restrict top, float *restrict bottom, const float *restrict rt, \
                                        const float *restrict rb) {                                            \
        const float *restrict m2 = m1 + mp, *restrict m3 = m2 + mp, *restrict m4 = m3 + mp;                    \
        const float *restrict m5 = m4 + mp, *restrict m6 = m5 + mp, *restrict m7 = m6 + mp;                    \
        for (int x = 0; x < w; x++) {                                                                           \
            top[x] = ((m1[x] + m4[x]) - m5[x]) + m7[x];                                                         \
            top[x + w] = m3[x] + m5[x];                                                                         \
            bottom[x] = m2[x] + m4[x];                                                                          \
            bottom[x + w] = ((m1[x] - m2[x]) + m3[x]) + m6[x];                                                  \
        }                                                                                                       \
        if (bias) for (int x = 0; x < 2 * w; x++) { top[x] += bias[x]; bottom[x] += bias[x]; }                \
        if (rt) for (int x = 0; x < 2 * w; x++) { top[x] += rt[x]; bottom[x] += rb[x]; }                      \
    }                                                                                                           \
    /* row = [l | r] = [p1 + p2 | p3 + p4] + bias, + residual (without an activation between) */                \
    ATTR static void single_sums_##SUFFIX(int w, const float *restrict p1, size_t mp, const float *restrict bias,\
                                          float *restrict row, const float *restrict res) {                    \
        const float *restrict p2 = p1 + mp, *restrict p3 = p2 + mp, *restrict p4 = p3 + mp;                    \
        for (int x = 0; x < w; x++) { row[x] = p1[x] + p2[x]; row[x + w] = p3[x] + p4[x]; }                    \
        if (bias) for (int x = 0; x < 2 * w; x++) row[x] += bias[x];                                           \
        if (res) for (int x = 0; x < 2 * w; x++) row[x] += res[x];                                             \
    }                                                                                                           \
    ATTR static void single_operands_##SUFFIX(int k2, const float *restrict r, float *restrict s0,             \
                                              float *restrict s1, float *restrict s2) {                        \
        for (int x = 0; x < k2; x++) { s0[x] = r[x] + r[x + k2]; s1[x] = r[x]; s2[x] = r[x + k2]; }            \
    }

STRASSEN_PASSES(plain, )
#if defined(__x86_64__) || defined(__i386__)
STRASSEN_PASSES(avx2, __attribute__((target("avx2,fma"))))
#define PASS(name, ...) (fz_runs_avx2() ? name##_avx2(__VA_ARGS__) : name##_plain(__VA_ARGS__))
#else
#define PASS(name, ...) name##_plain(__VA_ARGS__)
#endif

void fz_gemm_strassen_rows(int m, const int *rows, int n, int k, const float *a, int lda, const float *sw,
                           const float *bias, int act, const float *residual, float *c, int ldc, float *scratch) {
    if (m <= 0 || n <= 0 || k <= 0 || n % 2 || k % 2) return;
    const int n2 = n / 2, k2 = k / 2;
    const size_t each = fz_packed_weight_count(n2, k2);
    const size_t sp = (size_t)m * k2, mp = (size_t)m * n2;
    // With B11 = T1, B22 = T4, B12 = T2 + B22, B21 = T3 + B11 (T the packed combinations):
    //   left = (a1 + a2) B11 + a2 T3,  right = a1 T2 + (a1 + a2) B22   (4 products of [m, k/2] x [k/2, n/2]).
    float *sum = scratch, *a1 = sum + sp, *a2 = a1 + sp, *p = a2 + sp;
    for (int i = 0; i < m; i++)
        PASS(single_operands, k2, a + (size_t)rows[i] * lda, sum + (size_t)i * k2, a1 + (size_t)i * k2, a2 + (size_t)i * k2);
    fz_gemm_packed_rows(m, NULL, n2, k2, sum, k2, sw + 1 * each, NULL, FZ_ACT_NONE, NULL, p, n2);
    fz_gemm_packed_rows(m, NULL, n2, k2, a2, k2, sw + 3 * each, NULL, FZ_ACT_NONE, NULL, p + mp, n2);
    fz_gemm_packed_rows(m, NULL, n2, k2, a1, k2, sw + 2 * each, NULL, FZ_ACT_NONE, NULL, p + 2 * mp, n2);
    fz_gemm_packed_rows(m, NULL, n2, k2, sum, k2, sw + 4 * each, NULL, FZ_ACT_NONE, NULL, p + 3 * mp, n2);
    const int fused = act == FZ_ACT_NONE && residual;
    for (int i = 0; i < m; i++) {
        float *out = c + (size_t)rows[i] * ldc;
        const float *res = residual ? residual + (size_t)rows[i] * ldc : NULL;
        PASS(single_sums, n2, p + (size_t)i * n2, mp, bias, out, fused ? res : NULL);
        if (act != FZ_ACT_NONE) {
            fz_activate(out, (size_t)n, act);
            if (res) fz_add_rows(out, res, out, (size_t)n);
        }
    }
}

void fz_gemm_strassen_pairs(int pairs, const int *rows, int n, int k, const float *a, int lda, const float *sw,
                            const float *bias, int act, const float *residual, float *c, int ldc, float *scratch) {
    if (pairs <= 0 || n <= 0 || k <= 0 || n % 2 || k % 2) return;
    const int n2 = n / 2, k2 = k / 2;
    const size_t each = fz_packed_weight_count(n2, k2);
    const size_t sp = (size_t)pairs * k2;
    float *s = scratch, *m = scratch + 7 * sp;
    for (int i = 0; i < pairs; i++)
        PASS(pair_operands, k2, a + (size_t)rows[2 * i] * lda, a + (size_t)rows[2 * i + 1] * lda, s + (size_t)i * k2, sp);
    // All columns at once: the 7 products' outputs ([pairs, n/2] each) then their sums. Column chunks that keep
    // the outputs in L2 measured slower (chunks of 64-256 columns: 1.03-1.06x the plain product instead of
    // 1.08-1.09x at 192 rows), each chunk re-reading the operands.
    const size_t mp = (size_t)pairs * n2;
    for (int j = 0; j < 7; j++)
        fz_gemm_packed_rows(pairs, NULL, n2, k2, s + j * sp, k2, sw + j * each, NULL, FZ_ACT_NONE, NULL, m + j * mp, n2);
    const int fused = act == FZ_ACT_NONE && residual;   // the residual added in the sums' pass
    for (int i = 0; i < pairs; i++) {
        float *top = c + (size_t)rows[2 * i] * ldc, *bottom = c + (size_t)rows[2 * i + 1] * ldc;
        PASS(pair_sums, n2, m + (size_t)i * n2, mp, bias, top, bottom,
             fused ? residual + (size_t)rows[2 * i] * ldc : NULL, fused ? residual + (size_t)rows[2 * i + 1] * ldc : NULL);
        if (act != FZ_ACT_NONE) {
            fz_activate(top, (size_t)n, act);
            fz_activate(bottom, (size_t)n, act);
            if (residual) {
                fz_add_rows(top, residual + (size_t)rows[2 * i] * ldc, top, (size_t)n);
                fz_add_rows(bottom, residual + (size_t)rows[2 * i + 1] * ldc, bottom, (size_t)n);
            }
        }
    }
}
