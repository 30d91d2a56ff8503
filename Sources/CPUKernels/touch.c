// Sequential read of a memory range, one load per 64-byte line (plain C, any CPU).

#include <stdint.h>
#include <string.h>

#include "CPUKernels.h"

uint32_t fz_touch_lines(const float *p, size_t count) {
    // Demand loads in address order: the hardware prefetcher follows them, so a cold range arrives at memory
    // bandwidth; the attention of one sequence then reads its rows from the caches instead of paying the
    // memory latency for every (row, head) line of its strided accesses. The bit patterns are XORed (no float
    // arithmetic, so NaNs or denormals in the data cost nothing) and returned so the loads are kept.
    uint32_t x = 0;
    for (size_t i = 0; i < count; i += 16) {
        uint32_t bits;
        memcpy(&bits, p + i, sizeof bits);
        x ^= bits;
    }
    return x;
}

void fz_prefetch_rows(const float *p, int rows, size_t stride, int cols) {
    if (rows <= 0 || cols <= 0) return;
    for (int r = 0; r < rows; r++) {
        const char *row = (const char *)(p + (size_t)r * stride);
        const char *end = (const char *)(p + (size_t)r * stride + cols - 1);
        for (const char *x = (const char *)((uintptr_t)row & ~(uintptr_t)63); x <= end; x += 64)
            __builtin_prefetch(x, 0, 3);
    }
}
