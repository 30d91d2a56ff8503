// Packed-weight SGEMM for the CPU backend (AVX2 + FMA), BLIS-style:
//
//   c[m, n] = act(a[m, k] · wᵀ + bias)      w: nn.Linear weight [n, k], packed once at model load
//
// Register block (micro-kernel) MR x NR = 6 x 16: 12 ymm accumulators, 2 ymm of the weight panel and one
// broadcast of `a` per k step (15 of 16 ymm registers). Loops, outermost first:
//   ic: up to MC_MAX rows of `a`, blocks balanced (the packed block of `a` stays in L2 while the weight
//       streams past it; fewer, larger blocks stream the weight from memory fewer times)
//   pc: KC of k (the weight panel of 16 outputs x KC, ~24 KB, stays in L1 over the ir loop)
//   jr: 16-output panels of the packed weight
//   ir: 6-row micro-panels of the packed `a` block
// The weight is never re-packed (it is constant); `a` is packed per (ic, pc) block into a thread-local
// buffer. c is written, not read, on the first k block (no beta pass), and the bias and activation are applied
// in registers on the last k block (no second pass over c).
//
// Compiled for AVX2 + FMA through a target attribute on every function of this file (no global -mavx2), so the
// package builds for any CPU; `dispatch.c` calls these `fz_avx2_*` variants only when the CPU has AVX2 and FMA
// (and `portable.c` otherwise). The file is empty on other architectures.

#if defined(__x86_64__) || defined(__i386__)

// Public names of this file are the AVX2 variants; `dispatch.c` defines the public entry points.
#define fz_gemm_packed_rows fz_avx2_gemm_packed_rows
#define fz_attention_head fz_avx2_attention_head
#define fz_activate fz_avx2_activate
#define fz_math fz_avx2_math

#include "CPUKernels.h"
#include "internal.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT ON
#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)

// ---- activations (8 lanes; same polynomials as the Swift row kernels) ---------------------------------

/// Clamps to [lo, hi]; NaN stays NaN (max/min_ps return their second operand when either is NaN, so x goes
/// second: IEEE propagation, as the portable `clampf`; issue 16).
static inline __m256 clamp8(__m256 x, float lo, float hi) {
    return _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), x));
}

/// erf: rational minimax approximation on [-4, 4] (Eigen/XLA float32 coefficients), clamped outside.
static inline __m256 erf8(__m256 a) {
    const __m256 x = clamp8(a, -4.f, 4.f);
    const __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(-2.72614225801306e-10f), _mm256_set1_ps(2.77068142495902e-08f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.10102402082508e-06f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-5.69250639462346e-05f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-7.34990630326855e-04f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.95459980854025e-03f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-1.60960333262415e-02f));
    p = _mm256_mul_ps(p, x);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(-1.45660718464996e-05f), _mm256_set1_ps(-2.13374055278905e-04f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.68282697438203e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-7.37332916720468e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.42647390514189e-02f));
    return _mm256_div_ps(p, q);
}

/// tanh: rational minimax approximation clamped to ±7.9988 (Eigen float32 coefficients).
static inline __m256 tanh8(__m256 a) {
    const __m256 x = clamp8(a, -7.99881172180175781f, 7.99881172180175781f);
    const __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(-2.76076847742355e-16f), _mm256_set1_ps(2.00018790482477e-13f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-8.60467152213735e-11f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(5.12229709037114e-08f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(1.48572235717979e-05f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(6.37261928875436e-04f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(4.89352455891786e-03f));
    p = _mm256_mul_ps(p, x);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(1.19825839466702e-06f), _mm256_set1_ps(1.18534705686654e-04f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(2.26843463243900e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(4.89352518554385e-03f));
    return _mm256_div_ps(p, q);
}

/// exp of 8 lanes (Cephes scheme, same constants as the Swift `exp8`): x = n ln2 + r, degree-5 polynomial
/// for e^r, scaled by 2^n; inputs clamped to [-87.3, 88.38] (so -inf gives ~0; NaN stays NaN).
static inline __m256 exp8(__m256 a) {
    const __m256 x0 = clamp8(a, -87.3f, 88.3762626647949f);
    const __m256 magic = _mm256_set1_ps(12582912.f);
    const __m256 shifted = _mm256_fmadd_ps(x0, _mm256_set1_ps(1.44269504088896341f), magic);
    const __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 x = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), x0);
    x = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), x);
    __m256 y = _mm256_fmadd_ps(x, _mm256_set1_ps(1.9875691500e-4f), _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
    const __m256i integer = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000));
    const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(integer, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(y, scale);
}

static inline __m256 activate8(__m256 x, int act) {
    switch (act) {
    case FZ_ACT_GELU_ERF: {
        // x * 0.5 * (1 + erf(x / sqrt(2)))
        const __m256 e = erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752440f)));
        return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)), _mm256_add_ps(_mm256_set1_ps(1.f), e));
    }
    case FZ_ACT_GELU_TANH: {
        // 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
        const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        const __m256 inner = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286535588f),
                                           _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x));
        return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.f), tanh8(inner)));
    }
    case FZ_ACT_RELU: return _mm256_max_ps(x, _mm256_setzero_ps());
    case FZ_ACT_TANH: return tanh8(x);
    default: return x;
    }
}

static inline __m256 math8(__m256 x, int function) {
    switch (function) {
    case FZ_MATH_ERF: return erf8(x);
    case FZ_MATH_TANH: return tanh8(x);
    case FZ_MATH_EXP: return exp8(x);
    default: return x;
    }
}

/// Applies `f(v, code)` to `count` floats in place, 8 lanes at a time (the tail through a zero-padded vector).
static void map8(float *x, size_t count, __m256 (*f)(__m256, int), int code) {
    size_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, f(_mm256_loadu_ps(x + i), code));
    if (i < count) {
        float tmp[8] = {0};
        memcpy(tmp, x + i, (count - i) * sizeof(float));
        _mm256_storeu_ps(tmp, f(_mm256_loadu_ps(tmp), code));
        memcpy(x + i, tmp, (count - i) * sizeof(float));
    }
}

void fz_activate(float *x, size_t count, int act) {
    if (act != FZ_ACT_NONE) map8(x, count, activate8, act);
}

void fz_math(float *x, size_t count, int function) { map8(x, count, math8, function); }

// ---- micro-kernel -------------------------------------------------------------------------------------

/// Where a micro-kernel tile goes: logical rows `row0 ..< row0 + rows` (rows <= 6) and columns
/// `col0 ..< col0 + cols` (cols <= 16) of c; logical row r is physical row `index ? index[r] : r` (stride
/// `ldc`). `first`: overwrite instead of adding to c; `last`: then add `bias` (or NULL) and apply `act`.
typedef struct {
    float *c;
    const int *index;
    int ldc, row0, rows, col0, cols, first, last;
    const float *bias;
} tile_dest;

static inline float *dest_row(const tile_dest *d, int i) {
    const int r = d->row0 + i;
    return d->c + (size_t)(d->index ? d->index[r] : r) * d->ldc + d->col0;
}

/// Stores the 6 x 16 accumulator tile (see `tile_dest`). Full-width tiles go straight to c; narrow tiles
/// (cols < 16) go through a local row.
static inline void store_tile(const __m256 acc[MR][2], const tile_dest *d, int act) {
    const int cols = d->cols;
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (d->last && d->bias) {
        if (cols == NR) {
            bias0 = _mm256_loadu_ps(d->bias);
            bias1 = _mm256_loadu_ps(d->bias + 8);
        } else {
            float b[NR] __attribute__((aligned(32))) = {0};
            memcpy(b, d->bias, (size_t)cols * sizeof(float));
            bias0 = _mm256_load_ps(b);
            bias1 = _mm256_load_ps(b + 8);
        }
    }
    for (int i = 0; i < d->rows; i++) {
        float *out = dest_row(d, i);
        float tmp[NR] __attribute__((aligned(32)));
        float *row = out;
        if (cols < NR) {
            row = tmp;
            if (!d->first) memcpy(tmp, out, (size_t)cols * sizeof(float));
        }
        __m256 v0 = acc[i][0], v1 = acc[i][1];
        if (!d->first) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(row));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(row + 8));
        }
        if (d->last) {
            v0 = activate8(_mm256_add_ps(v0, bias0), act);
            v1 = activate8(_mm256_add_ps(v1, bias1), act);
        }
        _mm256_storeu_ps(row, v0);
        _mm256_storeu_ps(row + 8, v1);
        if (cols < NR) memcpy(out, tmp, (size_t)cols * sizeof(float));
    }
}

/// 6 x 16 tile: acc = apanel (kc x 6, interleaved) · bpanel (kc x 16), then stored (see `store_tile`).
static inline void micro_kernel(int kc, const float *restrict ap, const float *restrict bp,
                                const float *prefetch, const tile_dest *d, int act) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int p = 0; p < kc; p++) {
        if (prefetch) _mm_prefetch((const char *)(prefetch + (size_t)p * NR), _MM_HINT_T0);
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        __m256 a;
        a = _mm256_broadcast_ss(ap + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(ap + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(ap + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(ap + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(ap + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(ap + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        ap += MR;
        bp += NR;
    }
    const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    store_tile(acc, d, act);
}

// ---- packing of a -------------------------------------------------------------------------------------

/// Packs logical rows [r0, r0 + rows) x columns [0, kc) of `a` (logical row r at physical row
/// `index ? index[r] : r`, stride lda) into 6-row micro-panels (kc x 6 each), zero rows past `rows`.
static void pack_a(const float *a, int lda, const int *index, int r0, int rows, int kc, float *restrict out) {
    for (int r = 0; r < rows; r += MR) {
        const int h = rows - r < MR ? rows - r : MR;
        const float *src[MR];
        for (int i = 0; i < MR; i++) {
            const int logical = r0 + r + (i < h ? i : 0);
            src[i] = a + (size_t)(index ? index[logical] : logical) * lda;
        }
        if (h == MR) {
            for (int p = 0; p < kc; p++) {
                out[0] = src[0][p]; out[1] = src[1][p]; out[2] = src[2][p];
                out[3] = src[3][p]; out[4] = src[4][p]; out[5] = src[5][p];
                out += MR;
            }
        } else {
            for (int p = 0; p < kc; p++) {
                for (int i = 0; i < MR; i++) out[i] = i < h ? src[i][p] : 0.f;
                out += MR;
            }
        }
    }
}

// Thread-local buffer for the packed block of a (MC_MAX x KC_MAX floats, 368 KB), allocated once per thread.
static _Thread_local float *a_buffer = NULL;

void fz_gemm_packed_rows(int m, const int *index, int n, int k, const float *a, int lda, const float *packed,
                         const float *bias, int act, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        // Empty sum: c = act(bias).
        for (int i = 0; i < m; i++) {
            float *row = c + (size_t)(index ? index[i] : i) * ldc;
            for (int j = 0; j < n; j++) row[j] = bias ? bias[j] : 0.f;
            fz_activate(row, (size_t)n, act);
        }
        return;
    }
    if (!a_buffer) {
        void *p = NULL;
        if (posix_memalign(&p, 64, sizeof(float) * (size_t)(MC_MAX + MR) * KC_MAX) != 0) abort();
        a_buffer = p;
    }
    float *abuf = a_buffer;
    const int kc = kc_for(k), np = panels_for(n), npad = np * NR;
    // Balanced row blocks: ceil(m / MC_MAX) blocks, each a multiple of MR rows.
    const int mblocks = (m + MC_MAX - 1) / MC_MAX;
    int mc_step = (m + mblocks - 1) / mblocks;
    mc_step = (mc_step + MR - 1) / MR * MR;
    for (int ic = 0; ic < m; ic += mc_step) {
        const int mc = m - ic < mc_step ? m - ic : mc_step;
        for (int pc = 0; pc < k; pc += kc) {
            const int kcb = k - pc < kc ? k - pc : kc;
            pack_a(a + pc, lda, index, ic, mc, kcb, abuf);
            const float *block = packed + (size_t)pc * npad;
            for (int j = 0; j < np; j++) {
                const float *bpanel = block + (size_t)j * kcb * NR;
                const int cols = n - j * NR < NR ? n - j * NR : NR;
                for (int ir = 0; ir < mc; ir += MR) {
                    const tile_dest d = {
                        .c = c, .index = index, .ldc = ldc, .row0 = ic + ir,
                        .rows = mc - ir < MR ? mc - ir : MR, .col0 = j * NR, .cols = cols,
                        .first = pc == 0, .last = pc + kcb >= k, .bias = bias ? bias + j * NR : NULL,
                    };
                    // The last micro-panel pulls the next weight panel into L1 (one line per k step).
                    const float *next = ir + MR >= mc && j + 1 < np ? bpanel + (size_t)kcb * NR : NULL;
                    micro_kernel(kcb, abuf + (size_t)ir * kcb, bpanel, next, &d, act);
                }
            }
        }
    }
}

// ---- attention for one (sequence, head) ---------------------------------------------------------------

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Thread-local scratch for attention (Kᵀ and the score matrix), grown on demand.
static _Thread_local float *att_buffer = NULL;
static _Thread_local size_t att_capacity = 0;

int fz_attention_head(int n, int d, const float *q, const float *k, const float *v, int stride,
                      float scale, float *out, int out_stride) {
    if (n <= 0 || d <= 0) return 0;
    const int npad = (n + 7) / 8 * 8;
    const size_t need = (size_t)d * npad + (size_t)n * npad;
    if (need > att_capacity) {
        free(att_buffer);
        att_buffer = NULL;
        att_capacity = 0;
        void *p = NULL;
        if (posix_memalign(&p, 64, need * sizeof(float)) != 0) return -1;
        att_buffer = p;
        att_capacity = need;
    }
    float *kt = att_buffer;                    // [d, npad]: kt[c][j] = k[j][c] * scale, 0 past n
    float *scores = att_buffer + (size_t)d * npad;   // [n, npad]
    for (int c = 0; c < d; c++) {
        float *row = kt + (size_t)c * npad;
        for (int j = 0; j < n; j++) row[j] = k[(size_t)j * stride + c] * scale;
        for (int j = n; j < npad; j++) row[j] = 0.f;
    }
    const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
    for (int i = 0; i < n; i++) {
        const float *qi = q + (size_t)i * stride;
        float *s = scores + (size_t)i * npad;
        // s[j] = sum_c q[i][c] * kt[c][j]: 4 blocks of 8 keys at a time (4 independent FMA chains).
        int j = 0;
        for (; j + 32 <= npad; j += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            for (int c = 0; c < d; c++) {
                const __m256 qc = _mm256_broadcast_ss(qi + c);
                const float *kr = kt + (size_t)c * npad + j;
                a0 = _mm256_fmadd_ps(qc, _mm256_load_ps(kr), a0);
                a1 = _mm256_fmadd_ps(qc, _mm256_load_ps(kr + 8), a1);
                a2 = _mm256_fmadd_ps(qc, _mm256_load_ps(kr + 16), a2);
                a3 = _mm256_fmadd_ps(qc, _mm256_load_ps(kr + 24), a3);
            }
            _mm256_store_ps(s + j, a0);
            _mm256_store_ps(s + j + 8, a1);
            _mm256_store_ps(s + j + 16, a2);
            _mm256_store_ps(s + j + 24, a3);
        }
        for (; j < npad; j += 8) {
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int c = 0;
            for (; c + 2 <= d; c += 2) {
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(qi + c), _mm256_load_ps(kt + (size_t)c * npad + j), a0);
                a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(qi + c + 1), _mm256_load_ps(kt + (size_t)(c + 1) * npad + j), a1);
            }
            if (c < d) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(qi + c), _mm256_load_ps(kt + (size_t)c * npad + j), a0);
            _mm256_store_ps(s + j, _mm256_add_ps(a0, a1));
        }
        // Keys past n get -inf (weight exactly 0 after exp).
        if (n < npad) {
            const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - (npad - 8)), lane);
            _mm256_store_ps(s + npad - 8, _mm256_blendv_ps(minus_inf, _mm256_load_ps(s + npad - 8), _mm256_castsi256_ps(valid)));
        }
        __m256 vmax = minus_inf;
        for (int t = 0; t < npad; t += 8) vmax = _mm256_max_ps(vmax, _mm256_load_ps(s + t));
        const __m256 m = _mm256_set1_ps(hmax8(vmax));
        __m256 vsum = _mm256_setzero_ps();
        for (int t = 0; t < npad; t += 8) {
            const __m256 e = exp8(_mm256_sub_ps(_mm256_load_ps(s + t), m));
            _mm256_store_ps(s + t, e);
            vsum = _mm256_add_ps(vsum, e);
        }
        const __m256 inv = _mm256_set1_ps(1.f / hsum8(vsum));
        // out[i] = (sum_j e[j] v[j]) / sum: 32 columns at a time, even and odd keys in separate accumulators
        // (8 independent FMA chains); then 8 columns at a time; then a scalar tail.
        float *oi = out + (size_t)i * out_stride;
        int c = 0;
        for (; c + 32 <= d; c += 32) {
            __m256 e0 = _mm256_setzero_ps(), e1 = _mm256_setzero_ps(), e2 = _mm256_setzero_ps(), e3 = _mm256_setzero_ps();
            __m256 o0 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps(), o2 = _mm256_setzero_ps(), o3 = _mm256_setzero_ps();
            int t = 0;
            for (; t + 2 <= n; t += 2) {
                const float *v0 = v + (size_t)t * stride + c, *v1 = v0 + stride;
                const __m256 p0 = _mm256_broadcast_ss(s + t), p1 = _mm256_broadcast_ss(s + t + 1);
                e0 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0), e0);
                e1 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 8), e1);
                e2 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 16), e2);
                e3 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 24), e3);
                o0 = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1), o0);
                o1 = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1 + 8), o1);
                o2 = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1 + 16), o2);
                o3 = _mm256_fmadd_ps(p1, _mm256_loadu_ps(v1 + 24), o3);
            }
            if (t < n) {
                const float *v0 = v + (size_t)t * stride + c;
                const __m256 p0 = _mm256_broadcast_ss(s + t);
                e0 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0), e0);
                e1 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 8), e1);
                e2 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 16), e2);
                e3 = _mm256_fmadd_ps(p0, _mm256_loadu_ps(v0 + 24), e3);
            }
            _mm256_storeu_ps(oi + c, _mm256_mul_ps(_mm256_add_ps(e0, o0), inv));
            _mm256_storeu_ps(oi + c + 8, _mm256_mul_ps(_mm256_add_ps(e1, o1), inv));
            _mm256_storeu_ps(oi + c + 16, _mm256_mul_ps(_mm256_add_ps(e2, o2), inv));
            _mm256_storeu_ps(oi + c + 24, _mm256_mul_ps(_mm256_add_ps(e3, o3), inv));
        }
        for (; c + 8 <= d; c += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int t = 0; t < n; t++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(s + t), _mm256_loadu_ps(v + (size_t)t * stride + c), acc);
            _mm256_storeu_ps(oi + c, _mm256_mul_ps(acc, inv));
        }
        const float inv1 = _mm256_cvtss_f32(inv);
        for (; c < d; c++) {
            float acc = 0.f;
            for (int t = 0; t < n; t++) acc += s[t] * v[(size_t)t * stride + c];
            oi[c] = acc * inv1;
        }
    }
    return 0;
}

#pragma clang attribute pop

#endif  // x86
