// The packed weight layout of the CPU GEMM (shared by every kernel variant; plain C, any CPU).

#include "CPUKernels.h"
#include "internal.h"

size_t fz_packed_weight_count(int n, int k) {
    if (n <= 0 || k <= 0) return 0;
    return (size_t)panels_for(n) * NR * (size_t)k;
}

// Layout: for each k block starting at pc (length kcb), for each panel j: kcb rows of 16 floats,
// element (p, jj) = w[j*16 + jj][pc + p] (0 past n). Block pc starts at pc * npad, panel j at j * kcb * 16.
void fz_pack_weight(const float *w, int n, int k, float *packed) {
    if (n <= 0 || k <= 0) return;
    const int kc = kc_for(k), np = panels_for(n), npad = np * NR;
    for (int pc = 0; pc < k; pc += kc) {
        const int kcb = (k - pc < kc) ? k - pc : kc;
        float *block = packed + (size_t)pc * npad;
        for (int j = 0; j < np; j++) {
            float *panel = block + (size_t)j * kcb * NR;
            for (int jj = 0; jj < NR; jj++) {
                const int row = j * NR + jj;
                if (row < n) {
                    const float *src = w + (size_t)row * k + pc;
                    for (int p = 0; p < kcb; p++) panel[(size_t)p * NR + jj] = src[p];
                } else {
                    for (int p = 0; p < kcb; p++) panel[(size_t)p * NR + jj] = 0;
                }
            }
        }
    }
}

void fz_unpack_weight(const float *packed, int n, int k, float *w) {
    if (n <= 0 || k <= 0) return;
    const int kc = kc_for(k), np = panels_for(n), npad = np * NR;
    for (int pc = 0; pc < k; pc += kc) {
        const int kcb = (k - pc < kc) ? k - pc : kc;
        const float *block = packed + (size_t)pc * npad;
        for (int row = 0; row < n; row++) {
            const float *panel = block + (size_t)(row / NR) * kcb * NR;
            for (int p = 0; p < kcb; p++) w[(size_t)row * k + pc + p] = panel[(size_t)p * NR + row % NR];
        }
    }
}
