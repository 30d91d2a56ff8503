// GEMM for `linear`: C[M,N] = act(A[M,K] · B[N,K]ᵀ + bias[N]) + residual[M,N] (residual only when
// hasResidual; added after the activation, see GEMM_STORE in common.cl), all row-major, A and B both contiguous in K
// (PyTorch nn.Linear layout). Two variants; the host picks one per device (CL_DEVICE_TYPE / tuning file).

// ---------------------------------------------------------------------------------------------------------
// GPU variant: one work-group computes a TS_M x TS_N tile of C through local memory; each work-item holds a
// WPT_M x WPT_N register block (rows tm + i*RTS_M, columns tn + j*RTS_N: strided so local reads and global
// writes stay coalesced). A and B tiles are loaded with VW-wide vector loads along K. Any M, N, K: edge tiles
// load zeros outside the matrices and skip writes outside C.
// Build options: TS_M TS_N TS_K WPT_M WPT_N VW (TS_K % VW == 0, TS_M % WPT_M == 0, TS_N % WPT_N == 0).
// Launch: local (TS_N/WPT_N, TS_M/WPT_M), global (ceil(N/TS_N) * local0, ceil(M/TS_M) * local1).
#define RTS_M (TS_M / WPT_M)
#define RTS_N (TS_N / WPT_N)
#define TILE_THREADS (RTS_M * RTS_N)
#define TILE_PAD 1

#if VW == 1
  #define VTYPE float
  #define VLOAD(p) LD(p, 0)
#elif VW == 2
  #define VTYPE float2
  #define VLOAD(p) LD2(p)
  #define VSTORE(v, p) vstore2(v, 0, p)
#elif VW == 4
  #define VTYPE float4
  #define VLOAD(p) LD4(p)
  #define VSTORE(v, p) vstore4(v, 0, p)
#elif VW == 8
  #define VTYPE float8
  #define VLOAD(p) LD8(p)
  #define VSTORE(v, p) vstore8(v, 0, p)
#else
  #error "VW must be 1, 2, 4 or 8"
#endif

// Loads VW consecutive elements of row `row` (of `rows`) starting at column `col` (of `cols`) into
// tile[col - col0 + v][r]; zeros outside the matrix.
inline void load_tile_vector(__global const REAL* matrix, const int rows, const int cols,
                             const int row, const int col, __local float* tileColumn, const int ld) {
    // tileColumn points at tile[c][r]; element v goes to tileColumn[v * ld].
    if (row < rows && col + VW <= cols) {
        const VTYPE v = VLOAD(matrix + (long)row * cols + col);
#if VW == 1
        tileColumn[0] = v;
#else
        float values[VW];
        VSTORE(v, values);
        #pragma unroll
        for (int i = 0; i < VW; i++) tileColumn[i * ld] = values[i];
#endif
    } else {
        #pragma unroll
        for (int i = 0; i < VW; i++) {
            tileColumn[i * ld] = (row < rows && col + i < cols) ? LD(matrix, (long)row * cols + col + i) : 0.0f;
        }
    }
}

// GEMM_DB=1: two local buffers per operand (double buffering): the tiles of step k+1 are loaded into one while
// step k computes from the other, one barrier per step instead of two (twice the local memory).
#if GEMM_DB
  #define GEMM_BUFFERS 2
#else
  #define GEMM_BUFFERS 1
#endif

__kernel __attribute__((reqd_work_group_size(RTS_N, RTS_M, 1)))
void gemm_nt_tiled(const int M, const int N, const int K,
                   __global const REAL* A, __global const REAL* B,
                   __global const REAL* bias, const int hasBias, const int activation,
                   __global const REAL* residual, const int hasResidual,
                   __global REAL* C) {
    __local float tileA[GEMM_BUFFERS][TS_K][TS_M + TILE_PAD];
    __local float tileB[GEMM_BUFFERS][TS_K][TS_N + TILE_PAD];
    const int tn = get_local_id(0);
    const int tm = get_local_id(1);
    const int tid = tm * RTS_N + tn;
    const int m0 = get_group_id(1) * TS_M;
    const int n0 = get_group_id(0) * TS_N;

    float acc[WPT_M][WPT_N];
    #pragma unroll
    for (int i = 0; i < WPT_M; i++) {
        #pragma unroll
        for (int j = 0; j < WPT_N; j++) acc[i][j] = 0.0f;
    }

    // Loads the A and B tiles of step k0 into buffer `buf`.
    #define GEMM_LOAD_TILES(k0, buf) \
        for (int idx = tid; idx < TS_M * (TS_K / VW); idx += TILE_THREADS) { \
            const int r = idx / (TS_K / VW); \
            const int c = (idx % (TS_K / VW)) * VW; \
            load_tile_vector(A, M, K, m0 + r, (k0) + c, &tileA[buf][c][r], TS_M + TILE_PAD); \
        } \
        for (int idx = tid; idx < TS_N * (TS_K / VW); idx += TILE_THREADS) { \
            const int r = idx / (TS_K / VW); \
            const int c = (idx % (TS_K / VW)) * VW; \
            load_tile_vector(B, N, K, n0 + r, (k0) + c, &tileB[buf][c][r], TS_N + TILE_PAD); \
        }
    // acc += the products of buffer `buf`.
    #define GEMM_COMPUTE(buf) \
        _Pragma("unroll 4") \
        for (int k = 0; k < TS_K; k++) { \
            float a[WPT_M], b[WPT_N]; \
            _Pragma("unroll") \
            for (int i = 0; i < WPT_M; i++) a[i] = tileA[buf][k][tm + i * RTS_M]; \
            _Pragma("unroll") \
            for (int j = 0; j < WPT_N; j++) b[j] = tileB[buf][k][tn + j * RTS_N]; \
            _Pragma("unroll") \
            for (int i = 0; i < WPT_M; i++) { \
                _Pragma("unroll") \
                for (int j = 0; j < WPT_N; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]); \
            } \
        }

#if GEMM_DB
    GEMM_LOAD_TILES(0, 0)
    barrier(CLK_LOCAL_MEM_FENCE);
    int buf = 0;
    for (int k0 = 0; k0 < K; k0 += TS_K) {
        // The other buffer was last read in the previous step, which the barrier below it ended.
        if (k0 + TS_K < K) { GEMM_LOAD_TILES(k0 + TS_K, buf ^ 1) }
        GEMM_COMPUTE(buf)
        barrier(CLK_LOCAL_MEM_FENCE);
        buf ^= 1;
    }
#else
    for (int k0 = 0; k0 < K; k0 += TS_K) {
        GEMM_LOAD_TILES(k0, 0)
        barrier(CLK_LOCAL_MEM_FENCE);
        GEMM_COMPUTE(0)
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#endif
    #undef GEMM_LOAD_TILES
    #undef GEMM_COMPUTE

    #pragma unroll
    for (int i = 0; i < WPT_M; i++) {
        const int row = m0 + tm + i * RTS_M;
        if (row >= M) continue;
        #pragma unroll
        for (int j = 0; j < WPT_N; j++) {
            const int col = n0 + tn + j * RTS_N;
            if (col < N) {
                const float value = acc[i][j] + (hasBias ? LD(bias, col) : 0.0f);
                GEMM_STORE(C, (long)row * N + col, apply_activation(value, activation));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// CPU variant (PoCL and other CPU devices): no local memory, no barriers. Each work-item computes a
// CPU_RM x CPU_RN block of C as dot products with float8 accumulators (8 K-elements per step), then a scalar
// tail for K % 8. Rows/columns past the edge read a clamped (valid) row and skip the write.
// Build options: CPU_RM CPU_RN. Launch: global (ceil(N/CPU_RN), ceil(M/CPU_RM)) rounded up to the local size.
__kernel void gemm_nt_cpu(const int M, const int N, const int K,
                          __global const REAL* A, __global const REAL* B,
                          __global const REAL* bias, const int hasBias, const int activation,
                          __global const REAL* residual, const int hasResidual,
                          __global REAL* C) {
    const int n0 = get_global_id(0) * CPU_RN;
    const int m0 = get_global_id(1) * CPU_RM;
    if (m0 >= M || n0 >= N) return;

    __global const REAL* a[CPU_RM];
    __global const REAL* b[CPU_RN];
    #pragma unroll
    for (int i = 0; i < CPU_RM; i++) a[i] = A + (long)min(m0 + i, M - 1) * K;
    #pragma unroll
    for (int j = 0; j < CPU_RN; j++) b[j] = B + (long)min(n0 + j, N - 1) * K;

    float8 acc[CPU_RM][CPU_RN];
    #pragma unroll
    for (int i = 0; i < CPU_RM; i++) {
        #pragma unroll
        for (int j = 0; j < CPU_RN; j++) acc[i][j] = (float8)(0.0f);
    }
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        float8 av[CPU_RM];
        #pragma unroll
        for (int i = 0; i < CPU_RM; i++) av[i] = LD8(a[i] + k);
        #pragma unroll
        for (int j = 0; j < CPU_RN; j++) {
            const float8 bv = LD8(b[j] + k);
            #pragma unroll
            for (int i = 0; i < CPU_RM; i++) acc[i][j] = fma(av[i], bv, acc[i][j]);
        }
    }
    float tail[CPU_RM][CPU_RN];
    #pragma unroll
    for (int i = 0; i < CPU_RM; i++) {
        #pragma unroll
        for (int j = 0; j < CPU_RN; j++) tail[i][j] = 0.0f;
    }
    for (; k < K; k++) {
        #pragma unroll
        for (int i = 0; i < CPU_RM; i++) {
            #pragma unroll
            for (int j = 0; j < CPU_RN; j++) tail[i][j] = fma(LD(a[i], k), LD(b[j], k), tail[i][j]);
        }
    }

    #pragma unroll
    for (int i = 0; i < CPU_RM; i++) {
        const int row = m0 + i;
        if (row >= M) break;
        #pragma unroll
        for (int j = 0; j < CPU_RN; j++) {
            const int col = n0 + j;
            if (col >= N) break;
            const float8 s = acc[i][j];
            const float4 h4 = s.lo + s.hi;
            const float2 h2 = h4.lo + h4.hi;
            const float value = h2.x + h2.y + tail[i][j] + (hasBias ? LD(bias, col) : 0.0f);
            GEMM_STORE(C, (long)row * N + col, apply_activation(value, activation));
        }
    }
}
