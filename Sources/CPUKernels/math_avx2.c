// `fz_activate` / `fz_math` of the AVX2+FMA variant: the 8-lane math of math_avx2.h over arrays.

#if defined(__x86_64__) || defined(__i386__)

#include "CPUKernels.h"
#include "internal.h"

#include <immintrin.h>
#include <string.h>

#pragma STDC FP_CONTRACT ON
#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)

#include "math_avx2.h"

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

void fz_avx2_activate(float *x, size_t count, int act) {
    if (act != FZ_ACT_NONE) map8(x, count, activate8, act);
}

void fz_avx2_math(float *x, size_t count, int function) { map8(x, count, math8, function); }

#pragma clang attribute pop

#endif  // x86
