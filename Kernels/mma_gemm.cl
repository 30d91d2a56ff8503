// TF32 tensor-core GEMM for `linear` on NVIDIA GPUs (compute precision tf32): C[M,N] = act(A[M,K] · B[N,K]ᵀ +
// bias[N]), float32 buffers, TF32 products with float32 accumulation, through inline PTX `mma.sync` (the way
// Leela Zero's OpenCL backend reached tensor cores). NOT part of the backend's main program: built on its own,
// only when tf32 is requested, and used only after a start-up self-test GEMM matched the float32 result
// (`TensorCoreGemm` in Sources/OpenCLBackend). On any other compiler the asm does not build, and the backend
// runs the portable kernels.
//
// Work-group: 128 work-items = 4 warps in a 2 x 2 arrangement; the group computes a 64 x 64 tile of C, each warp
// 32 x 32 = 2 (m16) x 4 (n8) mma tiles. K advances in steps of MMA_BK through local memory (zero-filled at the
// edges, so any M, N, K). Fragment layout of mma.m16n8k8 (.tf32): lane = 4 * group + t;
// A a0 (group, t), a1 (group + 8, t), a2 (group, t + 4), a3 (group + 8, t + 4);
// B b0 (k = t, n = group), b1 (k = t + 4, n = group); C c0 (group, 2t), c1 (group, 2t + 1), c2 (group + 8, 2t),
// c3 (group + 8, 2t + 1).
// Launch: local (128), global (ceil(N/64) * 128, ceil(M/64)).

#define MMA_BM 64
#define MMA_BN 64
#define MMA_BK 32
#define MMA_PAD 4

inline uint to_tf32(const float x) {
    uint r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

__kernel __attribute__((reqd_work_group_size(128, 1, 1)))
void gemm_nt_mma_tf32(const int M, const int N, const int K,
                      __global const float* A, __global const float* B,
                      __global const float* bias, const int hasBias, const int activation,
                      __global float* C) {
    __local float As[MMA_BM][MMA_BK + MMA_PAD];
    __local float Bs[MMA_BN][MMA_BK + MMA_PAD];
    const int tid = get_local_id(0);
    const int lane = tid & 31, warp = tid >> 5;
    const int group = lane >> 2, t = lane & 3;
    const int warpM = (warp >> 1) * 32, warpN = (warp & 1) * 32;
    const int m0 = get_group_id(1) * MMA_BM, n0 = get_group_id(0) * MMA_BN;

    float acc[2][4][4];
    #pragma unroll
    for (int i = 0; i < 2; i++)
        #pragma unroll
        for (int j = 0; j < 4; j++)
            #pragma unroll
            for (int v = 0; v < 4; v++) acc[i][j][v] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += MMA_BK) {
        for (int e = tid; e < MMA_BM * MMA_BK; e += 128) {
            const int r = e / MMA_BK, c = e - (e / MMA_BK) * MMA_BK;
            const int row = m0 + r, col = k0 + c;
            As[r][c] = (row < M && col < K) ? A[(long)row * K + col] : 0.0f;
            const int nrow = n0 + r;
            Bs[r][c] = (nrow < N && col < K) ? B[(long)nrow * K + col] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int kk = 0; kk < MMA_BK; kk += 8) {
            uint a[2][4], b[4][2];
            #pragma unroll
            for (int i = 0; i < 2; i++) {
                const int r = warpM + i * 16 + group;
                a[i][0] = to_tf32(As[r][kk + t]);
                a[i][1] = to_tf32(As[r + 8][kk + t]);
                a[i][2] = to_tf32(As[r][kk + t + 4]);
                a[i][3] = to_tf32(As[r + 8][kk + t + 4]);
            }
            #pragma unroll
            for (int j = 0; j < 4; j++) {
                const int n = warpN + j * 8 + group;
                b[j][0] = to_tf32(Bs[n][kk + t]);
                b[j][1] = to_tf32(Bs[n][kk + t + 4]);
            }
            #pragma unroll
            for (int i = 0; i < 2; i++) {
                #pragma unroll
                for (int j = 0; j < 4; j++) {
                    asm volatile(
                        "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                        : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
                        : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]), "r"(b[j][1]));
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    #pragma unroll
    for (int i = 0; i < 2; i++) {
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            #pragma unroll
            for (int v = 0; v < 4; v++) {
                const int row = m0 + warpM + i * 16 + group + (v >= 2 ? 8 : 0);
                const int col = n0 + warpN + j * 8 + 2 * t + (v & 1);
                if (row < M && col < N) {
                    const float value = acc[i][j][v] + (hasBias ? bias[col] : 0.0f);
                    C[(long)row * N + col] = apply_activation(value, activation);
                }
            }
        }
    }
}

// The same GEMM for compute precision fp16 on NVIDIA: half buffers (A, B, bias, C read and written as IEEE half
// bits), half products with float32 accumulation through mma.m16n8k16 (.f16). Local tiles hold pairs of
// consecutive k values packed into one 32-bit word (lower k in the low half), which is how the fragments are
// laid out: A a0 (group, k 2t..2t+1), a1 (group + 8, 2t..), a2 (group, 2t + 8..), a3 (group + 8, 2t + 8..);
// B b0 (k 2t..2t+1, n = group), b1 (k 2t + 8.., n = group); C as above. Same launch.
#define MMA_BKP (MMA_BK / 2)

inline uint half_pair(__global const ushort* p, const long index, const int valid0, const int valid1) {
    const uint lo = valid0 ? (uint)p[index] : 0u;
    const uint hi = valid1 ? (uint)p[index + 1] : 0u;
    return lo | (hi << 16);
}

__kernel __attribute__((reqd_work_group_size(128, 1, 1)))
void gemm_nt_mma_f16(const int M, const int N, const int K,
                     __global const ushort* A, __global const ushort* B,
                     __global const half* bias, const int hasBias, const int activation,
                     __global half* C) {
    __local uint As[MMA_BM][MMA_BKP + MMA_PAD];
    __local uint Bs[MMA_BN][MMA_BKP + MMA_PAD];
    const int tid = get_local_id(0);
    const int lane = tid & 31, warp = tid >> 5;
    const int group = lane >> 2, t = lane & 3;
    const int warpM = (warp >> 1) * 32, warpN = (warp & 1) * 32;
    const int m0 = get_group_id(1) * MMA_BM, n0 = get_group_id(0) * MMA_BN;

    float acc[2][4][4];
    #pragma unroll
    for (int i = 0; i < 2; i++)
        #pragma unroll
        for (int j = 0; j < 4; j++)
            #pragma unroll
            for (int v = 0; v < 4; v++) acc[i][j][v] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += MMA_BK) {
        for (int e = tid; e < MMA_BM * MMA_BKP; e += 128) {
            const int r = e / MMA_BKP, c = e - (e / MMA_BKP) * MMA_BKP;
            const int col = k0 + 2 * c;
            const int row = m0 + r, nrow = n0 + r;
            As[r][c] = half_pair(A, (long)row * K + col, row < M && col < K, row < M && col + 1 < K);
            Bs[r][c] = half_pair(B, (long)nrow * K + col, nrow < N && col < K, nrow < N && col + 1 < K);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int kp = 0; kp < MMA_BKP; kp += 8) {
            uint a[2][4], b[4][2];
            #pragma unroll
            for (int i = 0; i < 2; i++) {
                const int r = warpM + i * 16 + group;
                a[i][0] = As[r][kp + t];
                a[i][1] = As[r + 8][kp + t];
                a[i][2] = As[r][kp + t + 4];
                a[i][3] = As[r + 8][kp + t + 4];
            }
            #pragma unroll
            for (int j = 0; j < 4; j++) {
                const int n = warpN + j * 8 + group;
                b[j][0] = Bs[n][kp + t];
                b[j][1] = Bs[n][kp + t + 4];
            }
            #pragma unroll
            for (int i = 0; i < 2; i++) {
                #pragma unroll
                for (int j = 0; j < 4; j++) {
                    asm volatile(
                        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
                        : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]), "+f"(acc[i][j][3])
                        : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]), "r"(b[j][0]), "r"(b[j][1]));
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    #pragma unroll
    for (int i = 0; i < 2; i++) {
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            #pragma unroll
            for (int v = 0; v < 4; v++) {
                const int row = m0 + warpM + i * 16 + group + (v >= 2 ? 8 : 0);
                const int col = n0 + warpN + j * 8 + 2 * t + (v & 1);
                if (row < M && col < N) {
                    const float value = acc[i][j][v] + (hasBias ? vload_half(col, bias) : 0.0f);
                    vstore_half_rte(apply_activation(value, activation), (long)row * N + col, C);
                }
            }
        }
    }
}
