// Pooling of hidden states [batch, seq, cols] to out[b * outStride + outOffset + c].
// Modes (match `PoolingMode` on the host): 0 cls (first token), 1 mean over real tokens, 2 max over real
// tokens, 3 mean_sqrt_len (sum / sqrt(n)), 4 weighted_mean (weights 1..n by position), 5 last real token.
// A sequence with 0 real tokens pools to zeros (except cls, which is the first row as-is).
// One work-item per (column, sequence): global (cols, batch).
__kernel void pool_tokens(__global const REAL* hidden, __global const int* lengths, const int seq,
                          const int cols, const int mode, __global REAL* out, const int outOffset,
                          const int outStride) {
    const int c = get_global_id(0);
    const int b = get_global_id(1);
    if (c >= cols) return;
    const int n = min(max(lengths[b], 0), seq);
    __global const REAL* h = hidden + (long)b * seq * cols + c;
    float result = 0.0f;
    if (mode == 0) {
        result = LD(h, 0);
    } else if (n == 0) {
        result = 0.0f;
    } else if (mode == 2) {
        float m = LD(h, 0);
        for (int t = 1; t < n; t++) m = fmax(m, LD(h, (long)t * cols));
        result = m;
    } else if (mode == 5) {
        result = LD(h, (long)(n - 1) * cols);
    } else if (mode == 4) {
        float s = 0.0f;
        for (int t = 0; t < n; t++) s = fma((float)(t + 1), LD(h, (long)t * cols), s);
        result = s / (0.5f * (float)n * (float)(n + 1));
    } else {
        float s = 0.0f;
        for (int t = 0; t < n; t++) s += LD(h, (long)t * cols);
        result = mode == 3 ? s / sqrt((float)n) : s / (float)n;
    }
    ST(out, (long)b * outStride + outOffset + c, result);
}

// out[i] = value for i < n (used to check a device builds and runs programs, and to poison buffers).
__kernel void fill_value(__global REAL* out, const float value, const int n) {
    const int i = get_global_id(0);
    if (i < n) ST(out, i, value);
}
