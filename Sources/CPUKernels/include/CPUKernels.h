#ifndef FEATURIZE_CPU_KERNELS_H
#define FEATURIZE_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Activation codes for the GEMM epilogue (match `Backend.Activation`).
enum {
    FZ_ACT_NONE = 0,
    FZ_ACT_GELU_ERF = 1,
    FZ_ACT_GELU_TANH = 2,
    FZ_ACT_RELU = 3,
    FZ_ACT_TANH = 4,
};

/// Element-wise functions for `fz_math` (the same SIMD code the kernels use).
enum {
    FZ_MATH_ERF = 1,
    FZ_MATH_TANH = 2,
    FZ_MATH_EXP = 3,
};

/// Most rows of `a` per block in `fz_gemm_packed_rows` (its cache blocking); callers that split rows over threads
/// use pieces of at most this many rows (the CPU backend: 96).
#define FZ_GEMM_ROW_BLOCK 240

/// Floats needed to hold a weight `[n, k]` in the packed layout of `fz_pack_weight`.
size_t fz_packed_weight_count(int n, int k);

/// Packs an `nn.Linear` weight `w` (`[n, k]`, row-major, out-features × in-features) into panels of 16
/// output features × a block of k (zero-padded past n) for `fz_gemm_packed_rows`. `packed` holds
/// `fz_packed_weight_count(n, k)` floats and must be 32-byte aligned (the AVX2 kernel uses aligned loads;
/// the CPU backend allocates 64-byte aligned buffers).
void fz_pack_weight(const float *w, int n, int k, float *packed);

/// Inverse of `fz_pack_weight`: writes the logical `[n, k]` weight back to `w`.
void fz_unpack_weight(const float *packed, int n, int k, float *w);

/// The functions from here on are thread-safe and run an AVX2+FMA or a portable variant (see `fz_kernel_path`).

/// `c[m, n] = act(a[m, k] · wᵀ + bias) + residual` with `w` packed by `fz_pack_weight`, over logical rows:
/// logical row i (0..<m) is row `index[i]` of `a`, `residual` and `c` (`index` NULL: row i; the CPU backend
/// passes the real token rows to skip padding).
/// - a: row stride `lda` (>= k); c and residual: row stride `ldc` (>= n); bias: `[n]` or NULL; act: `FZ_ACT_*`;
///   residual: NULL (none) or memory that does not overlap c (c is written before the residual is read when
///   k spans several blocks).
/// Float order per element: `((acc + bias) -> act) + residual`, each a separate rounded operation.
/// Single-threaded: callers split rows over threads. Every listed row of `c` is written (no read of its
/// previous contents); nothing else is touched.
void fz_gemm_packed_rows(int m, const int *index, int n, int k, const float *a, int lda, const float *packed,
                         const float *bias, int act, const float *residual, float *c, int ldc);

/// Attention of one sequence and head: `out[i] = softmax_j(scale * q[i] · k[j] + bias[i][j]) · v[j]` for
/// i, j < n. q, k, v: n rows of d floats with row stride `stride`; bias: NULL (no bias) or rows of at least n
/// floats with row stride `bias_stride`; out: n rows with stride `out_stride`.
/// Returns 0, or -1 when its scratch buffer (thread-local, (d + n + 2) * npad floats, npad = n rounded up to a
/// multiple of 8) cannot be allocated.
int fz_attention_head(int n, int d, const float *q, const float *k, const float *v, int stride,
                      float scale, const float *bias, int bias_stride, float *out, int out_stride);

/// Reads `count` floats from `p` in address order, one load per 64-byte line (every 16th float), and returns
/// the XOR of their bit patterns (so the loads are not optimised away): pulls a cold range into the caches at
/// memory bandwidth before strided reads of it. Plain C, no variants.
uint32_t fz_touch_lines(const float *p, size_t count);

/// Floats of the Strassen form of an `nn.Linear` weight `[n, k]` (`fz_strassen_pack_weight`): 7 packed
/// `[n/2, k/2]` matrices, 7/4 of the weight. 0 when n or k is odd (no Strassen form).
size_t fz_strassen_weight_count(int n, int k);
/// Packs the 7 weight combinations of one level of Strassen's algorithm (see `fz_gemm_strassen_pairs`) into
/// `out` (`fz_strassen_weight_count(n, k)` floats, 32-byte aligned). Returns 0, or -1 (odd n or k, no memory).
int fz_strassen_pack_weight(const float *w, int n, int k, float *out);
/// Scratch floats `fz_gemm_strassen_pairs` needs for up to `rows / 2` pairs, and `fz_gemm_strassen_rows` for up
/// to `rows` rows.
size_t fz_strassen_scratch_count(int rows, int n, int k);
/// `c = act(a · wᵀ + bias) + residual` on `pairs` pairs of rows with 7/8 of the multiply-adds (one level of
/// Strassen): pair i is rows `rows[2i]` and `rows[2i + 1]` (physical rows of a, residual and c; strides lda, ldc;
/// the two rows distinct). `sw`: `fz_strassen_pack_weight` of w; n, k even; bias `[n]` or NULL; residual NULL or
/// not overlapping c; `scratch`: `fz_strassen_scratch_count(2 * pairs, n, k)` floats, not overlapping anything
/// else. Float order per element: `((Strassen sum + bias) -> act) + residual`. Single-threaded.
void fz_gemm_strassen_pairs(int pairs, const int *rows, int n, int k, const float *a, int lda, const float *sw,
                            const float *bias, int act, const float *residual, float *c, int ldc, float *scratch);
/// The same product for `m` single rows `rows[i]` from the Strassen form alone (4 half-size products per row,
/// as many multiply-adds as the plain GEMM, so a caller holding only the Strassen form streams one weight):
/// `left = (a1 + a2) B11 + a2 (B21 - B11)`, `right = a1 (B12 - B22) + (a1 + a2) B22`. Arguments as
/// `fz_gemm_strassen_pairs`, scratch `fz_strassen_scratch_count(m, n, k)` floats.
void fz_gemm_strassen_rows(int m, const int *rows, int n, int k, const float *a, int lda, const float *sw,
                           const float *bias, int act, const float *residual, float *c, int ldc, float *scratch);

/// Prefetch hints (no loads, no faults) for `rows` rows of `cols` floats at `p`, rows `stride` floats apart.
void fz_prefetch_rows(const float *p, int rows, size_t stride, int cols);

/// Atomically returns `*counter` and adds 1 to it (relaxed): workers taking the next item of a shared list.
long fz_take_next(long *counter);
/// `*p` with acquire ordering, and a store with release ordering: one worker publishing that a group of rows is
/// done (its writes visible) to another that waits for it.
long fz_load_acquire(const long *p);
void fz_store_release(long *p, long value);

/// Applies an activation in place to `count` floats (same code as the GEMM epilogue).
void fz_activate(float *x, size_t count, int act);

/// Applies erf, tanh or exp (`FZ_MATH_*`) in place to `count` floats.
void fz_math(float *x, size_t count, int function);

/// `out[c] = a[c] + b[c]` for `count` floats (`out` may alias `a` or `b`).
void fz_add_rows(const float *a, const float *b, float *out, size_t count);

/// LayerNorm of one row of `cols` floats: two passes (mean, then the biased variance of the centred values),
/// eps added to the variance, then `* gamma + beta`. `row` and `out` may be the same memory.
void fz_layer_norm_row(const float *row, int cols, const float *gamma, const float *beta, float eps, float *out);

/// Runs 10 independent 8-lane multiply-add chains for `iterations` steps (160 FLOPs a step) and returns their
/// sum (so the work cannot be optimised away); the FMA-peak probe of `featurize bench-cpu`.
float fz_fma_chains(long iterations, float seed);

/// The kernel variant this process runs: "avx2+fma" or "portable" (chosen once, from the CPU's features and
/// `FEATURIZE_CPU_KERNELS=portable`).
const char *fz_kernel_path(void);

/// One variant's kernels, for tests that compare the variants in one process (the public functions above
/// dispatch to one of them).
typedef struct {
    void (*gemm_packed_rows)(int m, const int *index, int n, int k, const float *a, int lda, const float *packed,
                             const float *bias, int act, const float *residual, float *c, int ldc);
    int (*attention_head)(int n, int d, const float *q, const float *k, const float *v, int stride, float scale,
                          const float *bias, int bias_stride, float *out, int out_stride);
    void (*activate)(float *x, size_t count, int act);
    void (*math)(float *x, size_t count, int function);
    void (*add_rows)(const float *a, const float *b, float *out, size_t count);
    void (*layer_norm_row)(const float *row, int cols, const float *gamma, const float *beta, float eps, float *out);
} fz_kernel_table;

/// The kernels of `variant` (0: portable, 1: AVX2+FMA), or NULL when this CPU cannot run that variant.
const fz_kernel_table *fz_kernel_variant(int variant);

#ifdef __cplusplus
}
#endif

#endif
