// Row-wise layer norms. One work-group of ROW_WG work-items per row; two passes (mean, then the biased
// variance of the deviations); eps added to the variance. Each work-item only reads and writes its own
// columns (c = lid, lid + ROW_WG, ...), so `out` may alias an input.

// The row value at `i`: x[i], plus residual[i] when there is a residual (the branch is uniform).
inline float norm_input(__global const REAL* x, __global const REAL* residual, const long i) {
    return residual ? LD(x, i) + LD(residual, i) : LD(x, i);
}

// LayerNorm of row `get_group_id(0)` of (x + residual, or x alone when residual is 0) into `out`.
inline void layer_norm_rows(__global const REAL* x, __global const REAL* residual, const int cols,
                            __global const REAL* gamma, __global const REAL* beta, const float eps,
                            __global REAL* out, __local float* scratch) {
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const long base = (long)row * cols;

    float localSum = 0.0f;
    for (int c = lid; c < cols; c += ROW_WG) localSum += norm_input(x, residual, base + c);
    const float mean = row_group_sum(localSum, scratch) / cols;

    float localSquares = 0.0f;
    for (int c = lid; c < cols; c += ROW_WG) {
        const float d = norm_input(x, residual, base + c) - mean;
        localSquares = fma(d, d, localSquares);
    }
    const float variance = row_group_sum(localSquares, scratch) / cols;
    const float inverseStd = 1.0f / sqrt(variance + eps);

    for (int c = lid; c < cols; c += ROW_WG) {
        ST(out, base + c, (norm_input(x, residual, base + c) - mean) * inverseStd * LD(gamma, c) + LD(beta, c));
    }
}

// out[r] = LayerNorm(x[r] + residual[r]) * gamma + beta.
__kernel void add_layer_norm(__global const REAL* x, __global const REAL* residual, const int cols,
                             __global const REAL* gamma, __global const REAL* beta, const float eps,
                             __global REAL* out) {
    __local float scratch[ROW_WG];
    layer_norm_rows(x, residual, cols, gamma, beta, eps, out, scratch);
}

// out[r] = LayerNorm(x[r]) * gamma + beta: add_layer_norm without the residual (the GEMM epilogue added it).
__kernel void layer_norm(__global const REAL* x, const int cols,
                         __global const REAL* gamma, __global const REAL* beta, const float eps,
                         __global REAL* out) {
    __local float scratch[ROW_WG];
    layer_norm_rows(x, 0, cols, gamma, beta, eps, out, scratch);
}

// Embedding layer: for token row r = b * seq + t,
// out[r] = LayerNorm(word[ids[r]] + position[t] + tokenType[typeIds[r]]) * gamma + beta
// (tokenType term only when hasTokenType != 0). ids/typeIds are validated by the host.
__kernel void embed_layer_norm(__global const int* ids, __global const int* typeIds, const int hasTokenType,
                               const int seq, const int hidden,
                               __global const REAL* word, __global const REAL* position,
                               __global const REAL* tokenType,
                               __global const REAL* gamma, __global const REAL* beta, const float eps,
                               __global REAL* out) {
    __local float scratch[ROW_WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int t = row % seq;
    __global const REAL* w = word + (long)ids[row] * hidden;
    __global const REAL* p = position + (long)t * hidden;
    __global const REAL* tt = tokenType + (long)(hasTokenType ? typeIds[row] : 0) * hidden;
    __global REAL* o = out + (long)row * hidden;
    // The sum is recomputed in each pass (never read back from `out`, which may be half).
    #define EMBED_SUM(c) (LD(w, c) + LD(p, c) + (hasTokenType ? LD(tt, c) : 0.0f))

    float localSum = 0.0f;
    for (int c = lid; c < hidden; c += ROW_WG) localSum += EMBED_SUM(c);
    const float mean = row_group_sum(localSum, scratch) / hidden;

    float localSquares = 0.0f;
    for (int c = lid; c < hidden; c += ROW_WG) {
        const float d = EMBED_SUM(c) - mean;
        localSquares = fma(d, d, localSquares);
    }
    const float variance = row_group_sum(localSquares, scratch) / hidden;
    const float inverseStd = 1.0f / sqrt(variance + eps);

    for (int c = lid; c < hidden; c += ROW_WG) ST(o, c, (EMBED_SUM(c) - mean) * inverseStd * LD(gamma, c) + LD(beta, c));
    #undef EMBED_SUM
}
