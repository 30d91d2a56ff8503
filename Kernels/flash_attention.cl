// Fused attention (flash-attention style), exact fp32: one work-group per (tile of FA_BQ query rows, head,
// sequence). The Q tile stays in local memory; K/V tiles of FA_BK keys stream through local memory; each row
// keeps a running max and sum (online softmax), the output accumulators are rescaled as the max grows; the
// probabilities P live only in local memory for one K tile and never reach global memory.
//
// Build options: FA_BQ (query rows per work-group), FA_BK (keys per tile), FA_WG (work-items per group, 1-D),
// FA_DMAX (largest head size; local arrays are sized by it, the loops run to the real headDim).
//
// qkv: [batch*seq, 3*hidden] (Q | K | V, heads concatenated in each), out: [batch*seq, hidden].
// Keys >= lengths[b] get weight exactly 0 and are never read (they may hold NaN). bias (hasBias != 0):
// [heads, seq, seq], added to the scaled scores of real keys (MPNet's relative position bias).
// Query tiles that start at or beyond the sequence's length write zeros (padding rows are unspecified);
// a sequence of length 0 gets all-zero rows.
// Launch: global (ceil(seq/FA_BQ) * FA_WG, heads, batch), local (FA_WG, 1, 1).

#define FA_KSTRIDE (FA_DMAX + 1)
#define FA_ACC ((FA_BQ * FA_DMAX + FA_WG - 1) / FA_WG)   // output elements per work-item (at most)
#define FA_SC ((FA_BQ * FA_BK + FA_WG - 1) / FA_WG)      // scores per work-item per K tile

__kernel __attribute__((reqd_work_group_size(FA_WG, 1, 1)))
void flash_attention(__global const REAL* qkv, __global const int* lengths, const int seq, const int heads,
                     const int headDim, const float scale, __global const REAL* bias, const int hasBias,
                     __global REAL* out) {
    __local float qTile[FA_BQ * FA_DMAX];
    __local float kTile[FA_BK * FA_KSTRIDE];
    __local float vTile[FA_BK * FA_DMAX];
    __local float pTile[FA_BQ * FA_BK];
    __local float rowMax[FA_BQ];
    __local float rowSum[FA_BQ];
    __local float rowScale[FA_BQ];
    __local float partial[FA_WG];   // per-lane maxima and sums of the parallel softmax

    const int lid = get_local_id(0);
    const int q0 = get_group_id(0) * FA_BQ;
    const int h = get_group_id(1);
    const int b = get_group_id(2);
    const int D = headDim;
    const int hidden = heads * D;
    const int rowStride = 3 * hidden;
    const int length = min(max(lengths[b], 0), seq);
    const int rows = min(FA_BQ, seq - q0);   // query rows of this tile inside the sequence
    __global const REAL* base = qkv + (long)b * seq * rowStride + h * D;
    __global REAL* o = out + ((long)b * seq + q0) * hidden + h * D;

    if (q0 >= length) {
        for (int e = lid; e < rows * D; e += FA_WG) ST(o, (long)(e / D) * hidden + e % D, 0.0f);
        return;
    }

    // Q tile (rows past the sequence's end are zero; they are computed but not stored).
    for (int e = lid; e < FA_BQ * D; e += FA_WG) {
        const int r = e / D, d = e - (e / D) * D;
        qTile[r * FA_DMAX + d] = r < rows ? LD(base, (long)(q0 + r) * rowStride + d) : 0.0f;
    }
    for (int r = lid; r < FA_BQ; r += FA_WG) { rowMax[r] = -INFINITY; rowSum[r] = 0.0f; }

    // This work-item's output elements: e = lid + k*FA_WG over the FA_BQ x D tile.
    float acc[FA_ACC];
    #pragma unroll
    for (int k = 0; k < FA_ACC; k++) acc[k] = 0.0f;

    for (int j0 = 0; j0 < length; j0 += FA_BK) {
        barrier(CLK_LOCAL_MEM_FENCE);   // previous tile's P·V done before K/V/P are overwritten
        // K and V tiles; keys >= length are zero (never read from global memory).
        for (int e = lid; e < FA_BK * D; e += FA_WG) {
            const int c = e / D, d = e - (e / D) * D;
            const int key = j0 + c;
            float kv = 0.0f, vv = 0.0f;
            if (key < length) {
                __global const REAL* row = base + (long)key * rowStride + d;
                kv = LD(row, hidden);
                vv = LD(row, 2 * hidden);
            }
            kTile[c * FA_KSTRIDE + d] = kv;
            vTile[c * FA_DMAX + d] = vv;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // Scores S = scale * Q·Kᵀ (+ bias); masked keys -INF.
#if FA_WG % FA_BK == 0
        // Each work-item's scores share one key column c: K(c, d) is read once per d for all of them.
        {
            const int c = lid % FA_BK;
            const int key = j0 + c;
            float dots[FA_SC];
            #pragma unroll
            for (int k = 0; k < FA_SC; k++) dots[k] = 0.0f;
            if (key < length) {
                for (int d = 0; d < D; d++) {
                    const float kv = kTile[c * FA_KSTRIDE + d];
                    #pragma unroll
                    for (int k = 0; k < FA_SC; k++) {
                        const int r = lid / FA_BK + k * (FA_WG / FA_BK);
                        if (r < FA_BQ) dots[k] = fma(qTile[r * FA_DMAX + d], kv, dots[k]);
                    }
                }
            }
            #pragma unroll
            for (int k = 0; k < FA_SC; k++) {
                const int r = lid / FA_BK + k * (FA_WG / FA_BK);
                if (r < FA_BQ) {
                    float s = -INFINITY;
                    if (key < length) {
                        s = dots[k] * scale;
                        if (hasBias && r < rows) s += LD(bias, ((long)h * seq + q0 + r) * seq + key);
                    }
                    pTile[r * FA_BK + c] = s;
                }
            }
        }
#else
        for (int e = lid; e < FA_BQ * FA_BK; e += FA_WG) {
            const int r = e / FA_BK, c = e - (e / FA_BK) * FA_BK;
            const int key = j0 + c;
            float s = -INFINITY;
            if (key < length) {
                float dot = 0.0f;
                for (int d = 0; d < D; d++) dot = fma(qTile[r * FA_DMAX + d], kTile[c * FA_KSTRIDE + d], dot);
                s = dot * scale;
                if (hasBias && r < rows) s += LD(bias, ((long)h * seq + q0 + r) * seq + key);
            }
            pTile[e] = s;
        }
#endif
        barrier(CLK_LOCAL_MEM_FENCE);
        // Online softmax: new running max, P = exp(S - max), rescale factor for the old sum and accumulators.
#if FA_WG % FA_BQ == 0 && FA_WG / FA_BQ > 1
        // FA_WG / FA_BQ lanes per row, each over every lanes-th key; partial max and sum through `partial`.
        {
            const int lanes = FA_WG / FA_BQ, r = lid / lanes, lane = lid - (lid / lanes) * lanes;
            const float oldMax = rowMax[r];
            float m = -INFINITY;
            for (int c = lane; c < FA_BK; c += lanes) m = fmax(m, pTile[r * FA_BK + c]);
            partial[lid] = m;
            barrier(CLK_LOCAL_MEM_FENCE);
            float newMax = oldMax;
            for (int i = 0; i < lanes; i++) newMax = fmax(newMax, partial[r * lanes + i]);
            float sum = 0.0f;
            for (int c = lane; c < FA_BK; c += lanes) {
                const float s = pTile[r * FA_BK + c];
                const float p = s == -INFINITY ? 0.0f : exp(s - newMax);
                pTile[r * FA_BK + c] = p;
                sum += p;
            }
            barrier(CLK_LOCAL_MEM_FENCE);   // every lane has read the maxima
            partial[lid] = sum;
            barrier(CLK_LOCAL_MEM_FENCE);
            if (lane == 0) {
                float total = 0.0f;
                for (int i = 0; i < lanes; i++) total += partial[r * lanes + i];
                const float factor = oldMax == -INFINITY ? 0.0f : exp(oldMax - newMax);
                rowScale[r] = factor;
                rowSum[r] = rowSum[r] * factor + total;
                rowMax[r] = newMax;
            }
        }
#else
        for (int r = lid; r < FA_BQ; r += FA_WG) {
            const float oldMax = rowMax[r];
            float newMax = oldMax;
            for (int c = 0; c < FA_BK; c++) newMax = fmax(newMax, pTile[r * FA_BK + c]);
            float sum = 0.0f;
            for (int c = 0; c < FA_BK; c++) {
                const float s = pTile[r * FA_BK + c];
                const float p = s == -INFINITY ? 0.0f : exp(s - newMax);
                pTile[r * FA_BK + c] = p;
                sum += p;
            }
            const float factor = oldMax == -INFINITY ? 0.0f : exp(oldMax - newMax);
            rowScale[r] = factor;
            rowSum[r] = rowSum[r] * factor + sum;
            rowMax[r] = newMax;
        }
#endif
        barrier(CLK_LOCAL_MEM_FENCE);
        // O = O * factor + P·V for this work-item's elements.
        if (FA_WG % D == 0) {
            // All of this work-item's elements share one column d (rows lid/D + k*FA_WG/D): V(c, d) read once per c.
            const int d = lid % D, r0 = lid / D, rowStep = FA_WG / D;
            #pragma unroll
            for (int k = 0; k < FA_ACC; k++) {
                if (r0 + k * rowStep < FA_BQ) acc[k] *= rowScale[r0 + k * rowStep];
            }
            for (int c = 0; c < FA_BK; c++) {
                const float v = vTile[c * FA_DMAX + d];
                #pragma unroll
                for (int k = 0; k < FA_ACC; k++) {
                    const int r = r0 + k * rowStep;
                    if (r < FA_BQ) acc[k] = fma(pTile[r * FA_BK + c], v, acc[k]);
                }
            }
        } else {
            #pragma unroll
            for (int k = 0; k < FA_ACC; k++) {
                const int e = lid + k * FA_WG;
                if (e < FA_BQ * D) {
                    const int r = e / D, d = e - (e / D) * D;
                    float value = acc[k] * rowScale[r];
                    for (int c = 0; c < FA_BK; c++) value = fma(pTile[r * FA_BK + c], vTile[c * FA_DMAX + d], value);
                    acc[k] = value;
                }
            }
        }
    }
    // rowSum is final after the last barrier of the loop (written before it, read-only since).
    #pragma unroll
    for (int k = 0; k < FA_ACC; k++) {
        const int e = lid + k * FA_WG;
        if (e < rows * D) {
            const int r = e / D, d = e - (e / D) * D;
            const float total = rowSum[r];
            ST(o, (long)r * hidden + d, total > 0.0f ? acc[k] / total : 0.0f);
        }
    }
}
