// Packed-weight SGEMM for the CPU backend (AVX2 + FMA), BLIS-style:
//
//   c[m, n] = act(a[m, k] · wᵀ + bias) + residual      w: nn.Linear weight [n, k], packed once at model load
//
// Register block (micro-kernel) MR x NR = 6 x 16: 12 ymm accumulators, 2 ymm of the weight panel and one
// broadcast of `a` per k step (15 of 16 ymm registers). Loops, outermost first:
//   ic: up to MC_MAX rows of `a`, blocks balanced (the block's rows of `a` stay in L2 while the weight
//       streams past it; fewer, larger blocks stream the weight from memory fewer times)
//   pc: KC of k (the weight panel of 16 outputs x KC, ~24 KB, stays in L1 over the ir loop)
//   jr: 16-output panels of the packed weight
//   ir: 6-row micro-panels of `a`
// The weight is never re-packed (it is constant). `a` is not packed at all: the micro-kernel broadcasts from
// its 6 rows in place (6 sequential streams, found through `index`), which measured 1-2% faster than packing
// each block into a thread-local buffer first, and bit-identical (the same products in the same order).
// c is written, not read, on the first k block (no beta pass), and the bias, activation and residual are
// applied in registers on the last k block (no second pass over c).
//
// Compiled for AVX2 + FMA through a target attribute on every function of this file (no global -mavx2), so the
// package builds for any CPU; `dispatch.c` calls these `fz_avx2_*` variants only when the CPU has AVX2 and FMA
// (and `portable.c` otherwise). The file is empty on other architectures.

#if defined(__x86_64__) || defined(__i386__)

// Public names of this file are the AVX2 variants; `dispatch.c` defines the public entry points.
#define fz_gemm_packed_rows fz_avx2_gemm_packed_rows
#define fz_activate fz_avx2_activate

#include "CPUKernels.h"
#include "internal.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT ON
#pragma clang attribute push (__attribute__((target("avx2,fma"))), apply_to = function)

#include "math_avx2.h"

// ---- micro-kernel -------------------------------------------------------------------------------------

/// Where a micro-kernel tile goes: logical rows `row0 ..< row0 + rows` (rows <= 6) and columns
/// `col0 ..< col0 + cols` (cols <= 16) of c; logical row r is physical row `index ? index[r] : r` (stride
/// `ldc`). `first`: overwrite instead of adding to c; `last`: then add `bias` (or NULL), apply `act`, then add
/// the same tile of `residual` (or NULL; same row mapping and stride as c).
typedef struct {
    float *c;
    const int *index;
    int ldc, row0, rows, col0, cols, first, last;
    const float *bias;
    const float *residual;
} tile_dest;

static inline float *dest_row(const tile_dest *d, int i) {
    const int r = d->row0 + i;
    return d->c + (size_t)(d->index ? d->index[r] : r) * d->ldc + d->col0;
}

static inline const float *residual_row(const tile_dest *d, int i) {
    const int r = d->row0 + i;
    return d->residual + (size_t)(d->index ? d->index[r] : r) * d->ldc + d->col0;
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
            if (d->residual) {
                const float *res = residual_row(d, i);
                __m256 r0, r1;
                if (cols == NR) {
                    r0 = _mm256_loadu_ps(res);
                    r1 = _mm256_loadu_ps(res + 8);
                } else {
                    float rtmp[NR] __attribute__((aligned(32))) = {0};
                    memcpy(rtmp, res, (size_t)cols * sizeof(float));
                    r0 = _mm256_load_ps(rtmp);
                    r1 = _mm256_load_ps(rtmp + 8);
                }
                v0 = _mm256_add_ps(v0, r0);
                v1 = _mm256_add_ps(v1, r1);
            }
        }
        _mm256_storeu_ps(row, v0);
        _mm256_storeu_ps(row + 8, v1);
        if (cols < NR) memcpy(out, tmp, (size_t)cols * sizeof(float));
    }
}

/// 6 x 16 tile: acc = a rows (row i from `rows[i]`, kc values each) · bpanel (kc x 16), then stored (see
/// `store_tile`). Rows past the tile's `rows` repeat its first row (computed, never stored).
static inline void micro_kernel(int kc, const float *const rows[MR], const float *restrict bp,
                                const float *prefetch, int prefetch_lines, const tile_dest *d, int act) {
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int p = 0; p < kc; p++) {
        if (p < prefetch_lines) _mm_prefetch((const char *)(prefetch + (size_t)p * NR), _MM_HINT_T0);
        const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
        __m256 a;
        a = _mm256_broadcast_ss(r0 + p); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(r1 + p); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(r2 + p); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(r3 + p); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(r4 + p); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(r5 + p); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        bp += NR;
    }
    const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    store_tile(acc, d, act);
}

void fz_gemm_packed_rows(int m, const int *index, int n, int k, const float *a, int lda, const float *packed,
                         const float *bias, int act, const float *residual, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        // Empty sum: c = act(bias) + residual.
        for (int i = 0; i < m; i++) {
            const size_t off = (size_t)(index ? index[i] : i) * ldc;
            float *row = c + off;
            for (int j = 0; j < n; j++) row[j] = bias ? bias[j] : 0.f;
            fz_activate(row, (size_t)n, act);
            if (residual) for (int j = 0; j < n; j++) row[j] = row[j] + residual[off + j];
        }
        return;
    }
    const int kc = kc_for(k), np = panels_for(n), npad = np * NR;
    const float *const weight_end = packed + (size_t)k * npad;
    // Balanced row blocks: ceil(m / MC_MAX) blocks, each a multiple of MR rows.
    const int mblocks = (m + MC_MAX - 1) / MC_MAX;
    int mc_step = (m + mblocks - 1) / mblocks;
    mc_step = (mc_step + MR - 1) / MR * MR;
    for (int ic = 0; ic < m; ic += mc_step) {
        const int mc = m - ic < mc_step ? m - ic : mc_step;
        for (int pc = 0; pc < k; pc += kc) {
            const int kcb = k - pc < kc ? k - pc : kc;
            const float *block = packed + (size_t)pc * npad;
            for (int j = 0; j < np; j++) {
                const float *bpanel = block + (size_t)j * kcb * NR;
                const int cols = n - j * NR < NR ? n - j * NR : NR;
                for (int ir = 0; ir < mc; ir += MR) {
                    const tile_dest d = {
                        .c = c, .index = index, .ldc = ldc, .row0 = ic + ir,
                        .rows = mc - ir < MR ? mc - ir : MR, .col0 = j * NR, .cols = cols,
                        .first = pc == 0, .last = pc + kcb >= k, .bias = bias ? bias + j * NR : NULL,
                        .residual = residual,
                    };
                    // The weight streams in address order (panels of one k block, then the next block), so
                    // the next kcb lines after this panel are what comes next: every micro-panel of this panel
                    // pulls its share of them into L1 (`share` lines, one per k step at the start of its k
                    // loop), instead of the last micro-panel pulling all of them one line per k step, which
                    // left too few misses in flight to hide the L3 latency: one thread running MiniLM's GEMMs on
                    // 96-row groups, 103 -> 106-108 GFLOP/s (no measurable change with both cores busy, where
                    // the kernel runs at ~105 per core either way). Stops at the end of the weight.
                    const int tiles = (mc + MR - 1) / MR, share = (kcb + tiles - 1) / tiles;
                    const int first_line = ir / MR * share;
                    const float *next = bpanel + (size_t)(kcb + first_line) * NR;
                    const long left = next < weight_end ? (long)((weight_end - next) / NR) : 0;
                    int lines = kcb - first_line < share ? kcb - first_line : share;
                    if (lines < 0) lines = 0;
                    if (left < lines) lines = (int)left;
                    const float *rows[MR];
                    for (int i = 0; i < MR; i++) {
                        const int logical = ic + ir + (i < d.rows ? i : 0);
                        rows[i] = a + pc + (size_t)(index ? index[logical] : logical) * lda;
                    }
                    micro_kernel(kcb, rows, bpanel, next, lines, &d, act);
                }
            }
        }
    }
}

#pragma clang attribute pop

#endif  // x86
