// Row kernels of the CPU backend (residual add, LayerNorm) and the FMA-peak probe, AVX2 + FMA variant.
// Compiled through a target attribute (see packed_gemm.c); `dispatch.c` calls them only on CPUs with AVX2+FMA.
// The arithmetic is exactly that of the Swift SIMD8 loops they replace (same lanes, same order, FMA only
// where those used `addingProduct`), so outputs are bit-identical to earlier releases.

#if defined(__x86_64__) || defined(__i386__)

#include "CPUKernels.h"
#include "internal.h"

#include <immintrin.h>
#include <math.h>

#pragma STDC FP_CONTRACT OFF
#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)

/// Lane sum in lane order from -0 (what Swift's `SIMD.sum()` computes).
static inline float lane_sum(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    float s = -0.0f;
    for (int i = 0; i < 8; i++) s += lanes[i];
    return s;
}

void fz_avx2_add_rows(const float *a, const float *b, float *out, size_t count) {
    size_t c = 0;
    for (; c + 8 <= count; c += 8) _mm256_storeu_ps(out + c, _mm256_add_ps(_mm256_loadu_ps(a + c), _mm256_loadu_ps(b + c)));
    for (; c < count; c++) out[c] = a[c] + b[c];
}

void fz_avx2_layer_norm_row(const float *row, int cols, const float *gamma, const float *beta, float eps, float *out) {
    int c = 0;
    __m256 acc = _mm256_setzero_ps();
    for (; c + 8 <= cols; c += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(row + c));
    float sum = lane_sum(acc);
    for (; c < cols; c++) sum += row[c];
    const float mean = sum / (float)cols;
    const __m256 vm = _mm256_set1_ps(mean);
    __m256 acc2 = _mm256_setzero_ps();
    c = 0;
    for (; c + 8 <= cols; c += 8) {
        const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(row + c), vm);
        acc2 = _mm256_fmadd_ps(d, d, acc2);
    }
    float sq = lane_sum(acc2);
    for (; c < cols; c++) { const float d = row[c] - mean; sq += d * d; }
    const float rstd = 1.0f / sqrtf(sq / (float)cols + eps);
    const __m256 vr = _mm256_set1_ps(rstd);
    c = 0;
    for (; c + 8 <= cols; c += 8) {
        const __m256 v = _mm256_loadu_ps(row + c);
        const __m256 t = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(v, vm), vr), _mm256_loadu_ps(gamma + c));
        _mm256_storeu_ps(out + c, _mm256_add_ps(t, _mm256_loadu_ps(beta + c)));
    }
    for (; c < cols; c++) out[c] = (row[c] - mean) * rstd * gamma[c] + beta[c];
}

float fz_avx2_fma_chains(long iterations, float seed) {
    const __m256 b = _mm256_set1_ps(0.99999f), c = _mm256_set1_ps(1e-6f * (seed + 1));
    __m256 a[10];
    for (int i = 0; i < 10; i++) a[i] = _mm256_set1_ps(seed + (float)i);
    for (long it = 0; it < iterations; it++) {
        a[0] = _mm256_fmadd_ps(b, c, a[0]); a[1] = _mm256_fmadd_ps(b, c, a[1]);
        a[2] = _mm256_fmadd_ps(b, c, a[2]); a[3] = _mm256_fmadd_ps(b, c, a[3]);
        a[4] = _mm256_fmadd_ps(b, c, a[4]); a[5] = _mm256_fmadd_ps(b, c, a[5]);
        a[6] = _mm256_fmadd_ps(b, c, a[6]); a[7] = _mm256_fmadd_ps(b, c, a[7]);
        a[8] = _mm256_fmadd_ps(b, c, a[8]); a[9] = _mm256_fmadd_ps(b, c, a[9]);
    }
    __m256 s = a[0];
    for (int i = 1; i < 10; i++) s = _mm256_add_ps(s, a[i]);
    return lane_sum(s);
}

#pragma clang attribute pop

#endif  // x86
