// 8-lane float math of the AVX2+FMA kernels (erf, tanh, exp, the activations), static inline. Include it only
// inside a `#pragma clang attribute push(... target("avx2,fma") ...)` region (packed_gemm.c, attention_avx2.c,
// math_avx2.c): the functions then compile for AVX2+FMA like their callers. The portable scalar versions with
// the same coefficients are in portable.c.
#ifndef FEATURIZE_MATH_AVX2_H
#define FEATURIZE_MATH_AVX2_H

#include <immintrin.h>

// ---- activations (8 lanes) -----------------------------------------------------------------------------

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

#endif
