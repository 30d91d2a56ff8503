// Attention of one (sequence, head), AVX2+FMA variant: scores two query rows at a time over a scaled Kᵀ
// (8 independent FMA chains),
// an optional additive score bias (MPNet), masked softmax with the 8-lane exp, P·V in 8 chains.
// Compiled through a target attribute (see packed_gemm.c); the portable variant is in portable.c.

#if defined(__x86_64__) || defined(__i386__)

#include "CPUKernels.h"
#include "internal.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#pragma STDC FP_CONTRACT ON
#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)

#include "math_avx2.h"

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

/// kt[c][j] = k[j][c] * scale for c < d, j < n; 0 for n <= j < npad. 8 x 8 blocks through registers (the rows of
/// k are `stride` apart); the edges (d or n not multiples of 8) one value at a time.
static void transpose_scaled(int n, int d, const float *k, int stride, float scale, float *kt, int npad) {
    const __m256 vs = _mm256_set1_ps(scale);
    int c = 0;
    for (; c + 8 <= d; c += 8) {
        int j = 0;
        for (; j + 8 <= n; j += 8) {
            const float *src = k + (size_t)j * stride + c;
            __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + stride);
            __m256 r2 = _mm256_loadu_ps(src + 2 * (size_t)stride), r3 = _mm256_loadu_ps(src + 3 * (size_t)stride);
            __m256 r4 = _mm256_loadu_ps(src + 4 * (size_t)stride), r5 = _mm256_loadu_ps(src + 5 * (size_t)stride);
            __m256 r6 = _mm256_loadu_ps(src + 6 * (size_t)stride), r7 = _mm256_loadu_ps(src + 7 * (size_t)stride);
            const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
            const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
            const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
            const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
            r0 = _mm256_permute2f128_ps(u0, u4, 0x20); r4 = _mm256_permute2f128_ps(u0, u4, 0x31);
            r1 = _mm256_permute2f128_ps(u1, u5, 0x20); r5 = _mm256_permute2f128_ps(u1, u5, 0x31);
            r2 = _mm256_permute2f128_ps(u2, u6, 0x20); r6 = _mm256_permute2f128_ps(u2, u6, 0x31);
            r3 = _mm256_permute2f128_ps(u3, u7, 0x20); r7 = _mm256_permute2f128_ps(u3, u7, 0x31);
            float *dst = kt + (size_t)c * npad + j;
            _mm256_store_ps(dst, _mm256_mul_ps(r0, vs));
            _mm256_store_ps(dst + npad, _mm256_mul_ps(r1, vs));
            _mm256_store_ps(dst + 2 * (size_t)npad, _mm256_mul_ps(r2, vs));
            _mm256_store_ps(dst + 3 * (size_t)npad, _mm256_mul_ps(r3, vs));
            _mm256_store_ps(dst + 4 * (size_t)npad, _mm256_mul_ps(r4, vs));
            _mm256_store_ps(dst + 5 * (size_t)npad, _mm256_mul_ps(r5, vs));
            _mm256_store_ps(dst + 6 * (size_t)npad, _mm256_mul_ps(r6, vs));
            _mm256_store_ps(dst + 7 * (size_t)npad, _mm256_mul_ps(r7, vs));
        }
        for (int cc = c; cc < c + 8; cc++) {
            float *row = kt + (size_t)cc * npad;
            for (int jj = j; jj < n; jj++) row[jj] = k[(size_t)jj * stride + cc] * scale;
            for (int jj = n; jj < npad; jj++) row[jj] = 0.f;
        }
    }
    for (; c < d; c++) {
        float *row = kt + (size_t)c * npad;
        for (int j = 0; j < n; j++) row[j] = k[(size_t)j * stride + c] * scale;
        for (int j = n; j < npad; j++) row[j] = 0.f;
    }
}

/// Scores of two query rows against `w` blocks of 8 keys (w = 1...4, a constant at each call): s0[j] = q0 · kt[., j]
/// and s1[j] = q1 · kt[., j] for j < 8w, each one FMA chain over c in order (2w independent chains).
static inline __attribute__((always_inline)) void score_block(int w, int d, const float *q0, const float *q1,
                                                              const float *kt, int npad, float *s0, float *s1) {
    __m256 a[4], b[4];
    for (int v = 0; v < w; v++) { a[v] = _mm256_setzero_ps(); b[v] = _mm256_setzero_ps(); }
    for (int c = 0; c < d; c++) {
        const __m256 x0 = _mm256_broadcast_ss(q0 + c), x1 = _mm256_broadcast_ss(q1 + c);
        const float *kr = kt + (size_t)c * npad;
        for (int v = 0; v < w; v++) {
            const __m256 kv = _mm256_load_ps(kr + 8 * v);
            a[v] = _mm256_fmadd_ps(x0, kv, a[v]);
            b[v] = _mm256_fmadd_ps(x1, kv, b[v]);
        }
    }
    for (int v = 0; v < w; v++) { _mm256_store_ps(s0 + 8 * v, a[v]); _mm256_store_ps(s1 + 8 * v, b[v]); }
}

// Thread-local scratch for attention (Kᵀ and the score matrix), grown on demand.
static _Thread_local float *att_buffer = NULL;
static _Thread_local size_t att_capacity = 0;

int fz_avx2_attention_head(int n, int d, const float *q, const float *k, const float *v, int stride,
                           float scale, const float *bias, int bias_stride, float *out, int out_stride) {
    if (n <= 0 || d <= 0) return 0;
    const int npad = (n + 7) / 8 * 8;
    const size_t need = (size_t)d * npad + (size_t)(n + 1) * npad + (size_t)npad;
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
    float *scores = att_buffer + (size_t)d * npad;   // [n + 1, npad] (row n: scratch of an odd last pair)
    float *inv = scores + (size_t)(n + 1) * npad;     // [n]: 1 / (sum of row i's exponentials)
    transpose_scaled(n, d, k, stride, scale, kt, npad);
    // Every score is one FMA chain over c, in order; two query rows share each load of Kᵀ (8 or 6 chains).
    for (int i = 0; i < n; i += 2) {
        const float *q0 = q + (size_t)i * stride, *q1 = i + 1 < n ? q0 + stride : q0;
        float *s0 = scores + (size_t)i * npad, *s1 = s0 + npad;
        int j = 0;
        for (; j + 32 <= npad; j += 32) score_block(4, d, q0, q1, kt + j, npad, s0 + j, s1 + j);
        switch ((npad - j) / 8) {
        case 3: score_block(3, d, q0, q1, kt + j, npad, s0 + j, s1 + j); break;
        case 2: score_block(2, d, q0, q1, kt + j, npad, s0 + j, s1 + j); break;
        case 1: score_block(1, d, q0, q1, kt + j, npad, s0 + j, s1 + j); break;
        default: break;
        }
    }
    const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
    for (int i = 0; i < n; i++) {
        float *s = scores + (size_t)i * npad;
        // Additive score bias of this query row (MPNet's relative position bias), real keys only.
        if (bias) {
            const float *bi = bias + (size_t)i * bias_stride;
            int t = 0;
            for (; t + 8 <= n; t += 8) _mm256_store_ps(s + t, _mm256_add_ps(_mm256_load_ps(s + t), _mm256_loadu_ps(bi + t)));
            for (; t < n; t++) s[t] += bi[t];
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
        inv[i] = 1.f / hsum8(vsum);
    }
    // out[i] = (sum_j e[i][j] v[j]) / sum[i], two query rows at a time sharing each load of v: 32 columns at a
    // time (8 independent FMA chains, each over the keys in order), then 8 columns, then a scalar tail.
    for (int i = 0; i < n; i += 2) {
        const int pair = i + 1 < n;
        const float *s0 = scores + (size_t)i * npad, *s1 = pair ? s0 + npad : s0;
        float *o0 = out + (size_t)i * out_stride, *o1 = o0 + out_stride;
        const __m256 inv0 = _mm256_set1_ps(inv[i]), inv1 = _mm256_set1_ps(pair ? inv[i + 1] : 0.f);
        int c = 0;
        for (; c + 32 <= d; c += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
            for (int t = 0; t < n; t++) {
                const float *vt = v + (size_t)t * stride + c;
                const __m256 p0 = _mm256_broadcast_ss(s0 + t), p1 = _mm256_broadcast_ss(s1 + t);
                const __m256 v0 = _mm256_loadu_ps(vt), v1 = _mm256_loadu_ps(vt + 8);
                const __m256 v2 = _mm256_loadu_ps(vt + 16), v3 = _mm256_loadu_ps(vt + 24);
                a0 = _mm256_fmadd_ps(p0, v0, a0); b0 = _mm256_fmadd_ps(p1, v0, b0);
                a1 = _mm256_fmadd_ps(p0, v1, a1); b1 = _mm256_fmadd_ps(p1, v1, b1);
                a2 = _mm256_fmadd_ps(p0, v2, a2); b2 = _mm256_fmadd_ps(p1, v2, b2);
                a3 = _mm256_fmadd_ps(p0, v3, a3); b3 = _mm256_fmadd_ps(p1, v3, b3);
            }
            _mm256_storeu_ps(o0 + c, _mm256_mul_ps(a0, inv0));
            _mm256_storeu_ps(o0 + c + 8, _mm256_mul_ps(a1, inv0));
            _mm256_storeu_ps(o0 + c + 16, _mm256_mul_ps(a2, inv0));
            _mm256_storeu_ps(o0 + c + 24, _mm256_mul_ps(a3, inv0));
            if (pair) {
                _mm256_storeu_ps(o1 + c, _mm256_mul_ps(b0, inv1));
                _mm256_storeu_ps(o1 + c + 8, _mm256_mul_ps(b1, inv1));
                _mm256_storeu_ps(o1 + c + 16, _mm256_mul_ps(b2, inv1));
                _mm256_storeu_ps(o1 + c + 24, _mm256_mul_ps(b3, inv1));
            }
        }
        for (; c + 8 <= d; c += 8) {
            __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps();
            for (int t = 0; t < n; t++) {
                const __m256 vt = _mm256_loadu_ps(v + (size_t)t * stride + c);
                a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s0 + t), vt, a0);
                b0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s1 + t), vt, b0);
            }
            _mm256_storeu_ps(o0 + c, _mm256_mul_ps(a0, inv0));
            if (pair) _mm256_storeu_ps(o1 + c, _mm256_mul_ps(b0, inv1));
        }
        for (; c < d; c++) {
            float a0 = 0.f, b0 = 0.f;
            for (int t = 0; t < n; t++) {
                const float vt = v[(size_t)t * stride + c];
                a0 += s0[t] * vt;
                b0 += s1[t] * vt;
            }
            o0[c] = a0 * inv[i];
            if (pair) o1[c] = b0 * inv[i + 1];
        }
    }
    return 0;
}

#pragma clang attribute pop

#endif  // x86
