// Public entry points of CPUKernels: each forwards to the variant chosen once per process.
//
// The AVX2+FMA variants (`packed_gemm.c`, `rows_avx2.c`) run where the CPU has both features; the portable
// variants (`portable.c`) everywhere else. `FEATURIZE_CPU_KERNELS=portable` forces the portable path (tests
// compare the two); `=avx2` asks for the fast path and falls back to portable, with `fz_kernel_path()` telling
// which one runs.

#include "CPUKernels.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

enum { PATH_UNKNOWN = 0, PATH_PORTABLE = 1, PATH_AVX2 = 2 };
static int chosen_path = PATH_UNKNOWN;

static int cpu_has_avx2_fma(void) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int path(void) {
    int p = __atomic_load_n(&chosen_path, __ATOMIC_RELAXED);
    if (p != PATH_UNKNOWN) return p;
    const char *forced = getenv("FEATURIZE_CPU_KERNELS");
    p = (forced && strcmp(forced, "portable") == 0) ? PATH_PORTABLE : (cpu_has_avx2_fma() ? PATH_AVX2 : PATH_PORTABLE);
    __atomic_store_n(&chosen_path, p, __ATOMIC_RELAXED);  // every thread computes the same value
    return p;
}

const char *fz_kernel_path(void) { return path() == PATH_AVX2 ? "avx2+fma" : "portable"; }

int fz_runs_avx2(void) { return path() == PATH_AVX2; }

#if defined(__x86_64__) || defined(__i386__)
#define DISPATCH(name, ...) (path() == PATH_AVX2 ? fz_avx2_##name(__VA_ARGS__) : fz_portable_##name(__VA_ARGS__))
#else
#define DISPATCH(name, ...) fz_portable_##name(__VA_ARGS__)
#endif

void fz_gemm_packed_rows(int m, const int *index, int n, int k, const float *a, int lda, const float *packed,
                         const float *bias, int act, const float *residual, float *c, int ldc) {
    DISPATCH(gemm_packed_rows, m, index, n, k, a, lda, packed, bias, act, residual, c, ldc);
}

int fz_attention_head(int n, int d, const float *q, const float *k, const float *v, int stride, float scale,
                      const float *bias, int bias_stride, float *out, int out_stride) {
    return DISPATCH(attention_head, n, d, q, k, v, stride, scale, bias, bias_stride, out, out_stride);
}

void fz_activate(float *x, size_t count, int act) { DISPATCH(activate, x, count, act); }

void fz_math(float *x, size_t count, int function) { DISPATCH(math, x, count, function); }

void fz_add_rows(const float *a, const float *b, float *out, size_t count) { DISPATCH(add_rows, a, b, out, count); }

void fz_layer_norm_row(const float *row, int cols, const float *gamma, const float *beta, float eps, float *out) {
    DISPATCH(layer_norm_row, row, cols, gamma, beta, eps, out);
}

float fz_fma_chains(long iterations, float seed) { return DISPATCH(fma_chains, iterations, seed); }

static const fz_kernel_table portable_table = {
    fz_portable_gemm_packed_rows, fz_portable_attention_head, fz_portable_activate, fz_portable_math,
    fz_portable_add_rows, fz_portable_layer_norm_row,
};
#if defined(__x86_64__) || defined(__i386__)
static const fz_kernel_table avx2_table = {
    fz_avx2_gemm_packed_rows, fz_avx2_attention_head, fz_avx2_activate, fz_avx2_math,
    fz_avx2_add_rows, fz_avx2_layer_norm_row,
};
#endif

const fz_kernel_table *fz_kernel_variant(int variant) {
    if (variant == 0) return &portable_table;
#if defined(__x86_64__) || defined(__i386__)
    if (variant == 1 && cpu_has_avx2_fma()) return &avx2_table;
#endif
    return NULL;
}
