// Shared by the kernel variants of CPUKernels (not part of the public header).
#ifndef FEATURIZE_CPU_KERNELS_INTERNAL_H
#define FEATURIZE_CPU_KERNELS_INTERNAL_H

#include <stddef.h>

#include "CPUKernels.h"

/// Register block of the packed GEMM (rows of `a` x outputs per weight panel) and the cache blocking.
#define MR 6
#define NR 16
#define KC_MAX 384
#define MC_MAX FZ_GEMM_ROW_BLOCK

/// Block length of k: k split into the fewest blocks of at most KC_MAX, as equal as possible.
static inline int kc_for(int k) {
    int blocks = (k + KC_MAX - 1) / KC_MAX;
    if (blocks < 1) blocks = 1;
    return (k + blocks - 1) / blocks;
}

/// 16-output panels covering n outputs.
static inline int panels_for(int n) { return (n + NR - 1) / NR; }

// Variants behind the public entry points (`dispatch.c` picks one per process).
#define FZ_KERNEL_VARIANT_DECLS(prefix)                                                                      \
    void prefix##gemm_packed_rows(int m, const int *index, int n, int k, const float *a, int lda,          \
                                  const float *packed, const float *bias, int act,                         \
                                  const float *residual, float *c, int ldc);                               \
    int prefix##attention_head(int n, int d, const float *q, const float *k, const float *v, int stride,   \
                               float scale, const float *bias, int bias_stride, float *out,                \
                               int out_stride);                                                            \
    void prefix##activate(float *x, size_t count, int act);                                                \
    void prefix##math(float *x, size_t count, int function);                                               \
    void prefix##layer_norm_row(const float *row, int cols, const float *gamma, const float *beta,          \
                                float eps, float *out);                                                    \
    void prefix##add_rows(const float *a, const float *b, float *out, size_t count);                       \
    float prefix##fma_chains(long iterations, float seed);

FZ_KERNEL_VARIANT_DECLS(fz_portable_)
/// 1 when the process runs the AVX2+FMA variants (`dispatch.c`'s choice, `fz_kernel_path()`), else 0.
int fz_runs_avx2(void);
#if defined(__x86_64__) || defined(__i386__)
FZ_KERNEL_VARIANT_DECLS(fz_avx2_)
#endif

#endif
