// Attention core as strided-batched GEMM + masked softmax, reading Q/K/V straight from the fused qkv buffer.

// Strided-batched GEMM: for each batch z = outer * innerCount + inner,
//   C_z[i, n] = alpha * sum_k A_z[i, k] * B_z[k, n]       (i < M, n < N, k < K)
// with A_z[i, k] = A[aOffset + outer*aOuter + inner*aInner + i*lda + k]       (A contiguous in k),
//      B_z[k, n] = B[bOffset + outer*bOuter + inner*bInner + k*bStrideK + n*bStrideN],
//      C_z[i, n] = C[cOffset + outer*cOuter + inner*cInner + i*ldc + n].
// Q·Kᵀ: B = K rows, bStrideK = 1, bStrideN = row stride. P·V: bStrideK = row stride, bStrideN = 1.
// kLimits[kLimitBase + outer] (when kLimitBase >= 0) caps K per outer batch index.
// Each work-item computes a BG_RM x BG_RN block. Launch: global (ceil(N/BG_RN), ceil(M/BG_RM), batches),
// rounded up to the local size.
__kernel void batched_gemm(const int M, const int N, const int K, const float alpha, const int innerCount,
                           __global const REAL* A, const int aOffset, const int aOuter, const int aInner,
                           const int lda,
                           __global const REAL* B, const int bOffset, const int bOuter, const int bInner,
                           const int bStrideK, const int bStrideN,
                           __global REAL* C, const int cOffset, const int cOuter, const int cInner,
                           const int ldc, __global const int* kLimits, const int kLimitBase) {
    const int n0 = get_global_id(0) * BG_RN;
    const int m0 = get_global_id(1) * BG_RM;
    const int z = get_global_id(2);
    if (m0 >= M || n0 >= N) return;
    const int outer = z / innerCount;
    const int inner = z - outer * innerCount;
    // P·V sums only over real keys (K limited to the sequence's length): padding rows never reach the output,
    // even when they hold Inf/NaN. kLimitBase < 0: no limit.
    const int kEnd = kLimitBase < 0 ? K : min(K, max(kLimits[kLimitBase + outer], 0));
    __global const REAL* a = A + aOffset + (long)outer * aOuter + (long)inner * aInner;
    __global const REAL* b = B + bOffset + (long)outer * bOuter + (long)inner * bInner;
    __global REAL* c = C + cOffset + (long)outer * cOuter + (long)inner * cInner;

    int rowOffset[BG_RM];
    int colOffset[BG_RN];
    #pragma unroll
    for (int i = 0; i < BG_RM; i++) rowOffset[i] = min(m0 + i, M - 1) * lda;
    #pragma unroll
    for (int j = 0; j < BG_RN; j++) colOffset[j] = min(n0 + j, N - 1) * bStrideN;

    float acc[BG_RM][BG_RN];
    #pragma unroll
    for (int i = 0; i < BG_RM; i++) {
        #pragma unroll
        for (int j = 0; j < BG_RN; j++) acc[i][j] = 0.0f;
    }
    for (int k = 0; k < kEnd; k++) {
        float av[BG_RM], bv[BG_RN];
        #pragma unroll
        for (int i = 0; i < BG_RM; i++) av[i] = LD(a, rowOffset[i] + k);
        const int kOffset = k * bStrideK;
        #pragma unroll
        for (int j = 0; j < BG_RN; j++) bv[j] = LD(b, kOffset + colOffset[j]);
        #pragma unroll
        for (int i = 0; i < BG_RM; i++) {
            #pragma unroll
            for (int j = 0; j < BG_RN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
    }
    #pragma unroll
    for (int i = 0; i < BG_RM; i++) {
        if (m0 + i >= M) break;
        #pragma unroll
        for (int j = 0; j < BG_RN; j++) {
            if (n0 + j >= N) break;
            ST(c, (long)(m0 + i) * ldc + n0 + j, alpha * acc[i][j]);
        }
    }
}

// Masked softmax over rows of `scores` [rowsPerMatrix * matrices, cols], in place. Row r belongs to matrix
// z = r / rowsPerMatrix, which belongs to sequence (sequenceBase + z / heads) with `lengths[...]` real keys.
// hasBias != 0: first adds the additive bias `bias[z % heads][r % rowsPerMatrix][j]` (layout
// [heads, rowsPerMatrix, cols], shared by all sequences: MPNet's relative position bias) to the real keys.
// Keys >= length get weight exactly 0; max-subtracted; a row with length 0 becomes all zeros.
// One work-group of ROW_WG work-items per row (the GPU and the CPU-device GEMM variants share it).
__kernel void masked_softmax(__global REAL* scores, const int cols, const int rowsPerMatrix, const int heads,
                             __global const int* lengths, const int sequenceBase,
                             __global const REAL* bias, const int hasBias) {
    __local float scratch[ROW_WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    const int z = row / rowsPerMatrix;
    const int length = min(max(lengths[sequenceBase + z / heads], 0), cols);
    __global REAL* x = scores + (long)row * cols;

    float localMax = -INFINITY;
    if (hasBias) {
        // Each work-item adds the bias to the same keys it later exponentiates (no barrier needed).
        __global const REAL* b = bias + ((long)(z % heads) * rowsPerMatrix + (row - z * rowsPerMatrix)) * cols;
        for (int j = lid; j < length; j += ROW_WG) {
            const float v = LD(x, j) + LD(b, j);
            ST(x, j, v);
            localMax = fmax(localMax, v);
        }
    } else {
        for (int j = lid; j < length; j += ROW_WG) localMax = fmax(localMax, LD(x, j));
    }
    const float rowMax = row_group_max(localMax, scratch);

    float localSum = 0.0f;
    for (int j = lid; j < length; j += ROW_WG) {
        const float e = exp(LD(x, j) - rowMax);
        ST(x, j, e);
        localSum += e;
    }
    const float total = row_group_sum(localSum, scratch);
    const float inverse = total > 0.0f ? 1.0f / total : 0.0f;
    for (int j = lid; j < cols; j += ROW_WG) ST(x, j, j < length ? LD(x, j) * inverse : 0.0f);
}

// ---------------------------------------------------------------------------------------------------------
// CPU-shaped variants of batched_gemm (PoCL): same arguments and batch/offset semantics, float8 vectors.

// Q·Kᵀ form: B(k, n) = b[n * bStrideN + k] (bStrideK must be 1). BG_RM x BG_RN dot products per work-item,
// float8 over k with a scalar tail. Launch: global (ceil(N/BG_RN), ceil(M/BG_RM), batches).
__kernel void batched_gemm_nt_vec(const int M, const int N, const int K, const float alpha, const int innerCount,
                                  __global const REAL* A, const int aOffset, const int aOuter, const int aInner,
                                  const int lda,
                                  __global const REAL* B, const int bOffset, const int bOuter, const int bInner,
                                  const int bStrideK, const int bStrideN,
                                  __global REAL* C, const int cOffset, const int cOuter, const int cInner,
                                  const int ldc, __global const int* kLimits, const int kLimitBase) {
    const int n0 = get_global_id(0) * BG_RN;
    const int m0 = get_global_id(1) * BG_RM;
    const int z = get_global_id(2);
    if (m0 >= M || n0 >= N) return;
    const int outer = z / innerCount;
    const int inner = z - outer * innerCount;
    const int kEnd = kLimitBase < 0 ? K : min(K, max(kLimits[kLimitBase + outer], 0));
    __global const REAL* a[BG_RM];
    __global const REAL* b[BG_RN];
    #pragma unroll
    for (int i = 0; i < BG_RM; i++)
        a[i] = A + aOffset + (long)outer * aOuter + (long)inner * aInner + (long)min(m0 + i, M - 1) * lda;
    #pragma unroll
    for (int j = 0; j < BG_RN; j++)
        b[j] = B + bOffset + (long)outer * bOuter + (long)inner * bInner + (long)min(n0 + j, N - 1) * bStrideN;
    float8 acc[BG_RM][BG_RN];
    #pragma unroll
    for (int i = 0; i < BG_RM; i++) {
        #pragma unroll
        for (int j = 0; j < BG_RN; j++) acc[i][j] = (float8)(0.0f);
    }
    int k = 0;
    for (; k + 8 <= kEnd; k += 8) {
        float8 av[BG_RM];
        #pragma unroll
        for (int i = 0; i < BG_RM; i++) av[i] = LD8(a[i] + k);
        #pragma unroll
        for (int j = 0; j < BG_RN; j++) {
            const float8 bv = LD8(b[j] + k);
            #pragma unroll
            for (int i = 0; i < BG_RM; i++) acc[i][j] = fma(av[i], bv, acc[i][j]);
        }
    }
    float tail[BG_RM][BG_RN];
    #pragma unroll
    for (int i = 0; i < BG_RM; i++) {
        #pragma unroll
        for (int j = 0; j < BG_RN; j++) tail[i][j] = 0.0f;
    }
    for (; k < kEnd; k++) {
        #pragma unroll
        for (int i = 0; i < BG_RM; i++) {
            #pragma unroll
            for (int j = 0; j < BG_RN; j++) tail[i][j] = fma(LD(a[i], k), LD(b[j], k), tail[i][j]);
        }
    }
    __global REAL* c = C + cOffset + (long)outer * cOuter + (long)inner * cInner;
    #pragma unroll
    for (int i = 0; i < BG_RM; i++) {
        if (m0 + i >= M) break;
        #pragma unroll
        for (int j = 0; j < BG_RN; j++) {
            if (n0 + j >= N) break;
            const float8 s = acc[i][j];
            const float4 h4 = s.lo + s.hi;
            const float2 h2 = h4.lo + h4.hi;
            ST(c, (long)(m0 + i) * ldc + n0 + j, alpha * (h2.x + h2.y + tail[i][j]));
        }
    }
}

// P·V form: B(k, n) = b[k * bStrideK + n] (bStrideN must be 1). BG_RM rows x 8 columns per work-item as float8
// accumulators (outer products over k); the last column block loads and stores element-wise.
// Launch: global (ceil(N/8), ceil(M/BG_RM), batches).
__kernel void batched_gemm_nn_vec(const int M, const int N, const int K, const float alpha, const int innerCount,
                                  __global const REAL* A, const int aOffset, const int aOuter, const int aInner,
                                  const int lda,
                                  __global const REAL* B, const int bOffset, const int bOuter, const int bInner,
                                  const int bStrideK, const int bStrideN,
                                  __global REAL* C, const int cOffset, const int cOuter, const int cInner,
                                  const int ldc, __global const int* kLimits, const int kLimitBase) {
    const int n0 = get_global_id(0) * 8;
    const int m0 = get_global_id(1) * BG_RM;
    const int z = get_global_id(2);
    if (m0 >= M || n0 >= N) return;
    const int outer = z / innerCount;
    const int inner = z - outer * innerCount;
    const int kEnd = kLimitBase < 0 ? K : min(K, max(kLimits[kLimitBase + outer], 0));
    __global const REAL* a[BG_RM];
    #pragma unroll
    for (int i = 0; i < BG_RM; i++)
        a[i] = A + aOffset + (long)outer * aOuter + (long)inner * aInner + (long)min(m0 + i, M - 1) * lda;
    __global const REAL* b = B + bOffset + (long)outer * bOuter + (long)inner * bInner + n0;
    const int width = min(8, N - n0);
    float8 acc[BG_RM];
    #pragma unroll
    for (int i = 0; i < BG_RM; i++) acc[i] = (float8)(0.0f);
    if (width == 8) {
        for (int k = 0; k < kEnd; k++) {
            const float8 bv = LD8(b + (long)k * bStrideK);
            #pragma unroll
            for (int i = 0; i < BG_RM; i++) acc[i] = fma((float8)(LD(a[i], k)), bv, acc[i]);
        }
    } else {
        for (int k = 0; k < kEnd; k++) {
            float values[8];
            #pragma unroll
            for (int v = 0; v < 8; v++) values[v] = v < width ? LD(b, (long)k * bStrideK + v) : 0.0f;
            const float8 bv = vload8(0, values);
            #pragma unroll
            for (int i = 0; i < BG_RM; i++) acc[i] = fma((float8)(LD(a[i], k)), bv, acc[i]);
        }
    }
    __global REAL* c = C + cOffset + (long)outer * cOuter + (long)inner * cInner + n0;
    #pragma unroll
    for (int i = 0; i < BG_RM; i++) {
        if (m0 + i >= M) break;
        const float8 r = alpha * acc[i];
        if (width == 8) {
            ST8(r, c + (long)(m0 + i) * ldc);
        } else {
            float values[8];
            vstore8(r, 0, values);
            for (int v = 0; v < width; v++) ST(c, (long)(m0 + i) * ldc + v, values[v]);
        }
    }
}
