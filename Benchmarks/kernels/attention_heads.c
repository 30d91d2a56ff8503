// Times one attention kernel variant (`fz_attention_head` under the name given by -DHEAD=...) over the heads
// of length-sorted, token-budget batches, as `CPUBackend.attention` calls it in a job: the q/k/v rows of a batch
// in one [rows, 3 * hidden] buffer (MiniLM: 12 heads of 32), evicted from the caches before each batch (the QKV
// GEMM and the FFN run in between), each sequence's rows touched once before its heads. Prints microseconds of
// thread CPU time per head (lengths from a file of token counts, one per text) and an output checksum.
// Built and run by attention_bench.sh, which compares two revisions side by side.
#include "CPUKernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int HEAD(int n, int d, const float *q, const float *k, const float *v, int stride, float scale, const float *bias,
         int bias_stride, float *out, int out_stride);

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s LENGTHS_FILE ROUNDS [BUDGET]\n", argv[0]); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 2; }
    int cap = 1 << 16, n = 0, *len = malloc(sizeof(int) * cap);
    while (n < cap && fscanf(f, "%d", &len[n]) == 1) if (len[n] > 0) n++;
    fclose(f);
    const int rounds = atoi(argv[2]), budget = argc > 3 ? atoi(argv[3]) : 4096;
    const int heads = 12, d = 32, hidden = heads * d, stride = 3 * hidden;
    qsort(len, n, sizeof(int), by_value);
    int longest = len[n - 1];
    const long rows = (long)(budget > longest ? budget : longest) + longest;
    float *qkv = aligned_alloc(64, sizeof(float) * rows * stride), *out = aligned_alloc(64, sizeof(float) * rows * hidden);
    unsigned s = 7;
    for (long i = 0; i < rows * stride; i++) { s = s * 1664525u + 1013904223u; qkv[i] = ((s >> 8) & 0xffff) / 65536.f - 0.5f; }
    const size_t evict = 64 << 20;
    char *big = malloc(evict);
    double seconds = 0, checksum = 0;
    long calls = 0;
    unsigned touched = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n;) {
            int j = i, seq = 0;
            while (j < n && (long)(j - i + 1) * (len[j] > seq ? len[j] : seq) <= budget) { if (len[j] > seq) seq = len[j]; j++; }
            if (j == i) { seq = len[i]; j = i + 1; }
            memset(big, r + i, evict);
            const double t0 = cpu_seconds();
            for (int b = i; b < j; b++) {
                float *rowsOfB = qkv + (long)(b - i) * seq * stride;
                touched ^= fz_touch_lines(rowsOfB, (size_t)len[b] * stride);
                for (int h = 0; h < heads; h++) {
                    float *base = rowsOfB + h * d;
                    HEAD(len[b], d, base, base + hidden, base + 2 * hidden, stride, 0.1767767f, NULL, seq,
                         out + (long)(b - i) * seq * hidden + h * d, hidden);
                    calls++;
                }
            }
            seconds += cpu_seconds() - t0;
            for (int b = i; b < j; b++) checksum += out[(long)(b - i) * seq * hidden];
            i = j;
        }
    }
    printf("%.4f us/head %ld heads checksum %.6f %u\n", seconds / calls * 1e6, calls, checksum, touched);
    return 0;
}
