// Sequential read of a memory range, one load per 64-byte line (plain C, any CPU).

#include "CPUKernels.h"

float fz_touch_lines(const float *p, size_t count) {
    // Demand loads in address order: the hardware prefetcher follows them, so a cold range arrives at memory
    // bandwidth; the attention of one sequence then reads its rows from the caches instead of paying the
    // memory latency for every (row, head) line of its strided accesses.
    float sum = 0.f;
    for (size_t i = 0; i < count; i += 16) sum += p[i];
    if (count > 0) sum += p[count - 1];
    return sum;
}
