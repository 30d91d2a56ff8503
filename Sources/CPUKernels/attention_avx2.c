// Attention of one (sequence, head), AVX2+FMA variant: scores as 4 independent FMA chains over a scaled Kᵀ,
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

// Thread-local scratch for attention (Kᵀ and the score matrix), grown on demand.
static _Thread_local float *att_buffer = NULL;
static _Thread_local size_t att_capacity = 0;

int fz_avx2_attention_head(int n, int d, const float *q, const float *k, const float *v, int stride,
                           float scale, const float *bias, int bias_stride, float *out, int out_stride) {
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
