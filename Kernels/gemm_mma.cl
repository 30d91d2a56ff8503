// Tensor-core GEMM for `linear` on NVIDIA GPUs (Ampere and later: sm_80+), through inline PTX `mma.sync`,
// as Leela Zero's OpenCL backend did for Volta: C[M,N] = act(A[M,K] · B[N,K]ᵀ + bias[N]) + residual, same contract as
// `gemm_nt_tiled`. Opt-in reduced precision only (`--compute-precision tf32|fp16`), never the exact default.
//
// Compiled only when the host defines FZ_MMA=1 (so the one program stays portable: without it this file is
// empty). The host enables it after a probe: the device's compiler must accept the PTX and a self-test GEMM
// must match the fp32 path within the precision's bound; otherwise the portable kernels run (one line says so).
//   MMA_TF32=1: A and B rounded to TF32 (cvt.rna), m16n8k8 steps;  MMA_TF32=0: rounded to fp16 (cvt.rn),
//               m16n8k16 steps. Accumulation is always fp32, and so are bias, activation and output.
//   Buffers are the program's storage type REAL (float, or half with FZ_HALF=1: compute precision fp16), read
//   and written through LD/ST like every kernel.
//   FZ_MMA_EMULATE=1: no PTX; each mma step is computed from the same register fragments through local memory,
//               so the tiling, the fragment layout the kernel assumes and the epilogue run on any device
//               (PoCL in CI). The conversions are emulated bit-exactly (tf32: round half away; fp16: vstore_half).
//
// Tiling: a work-group of 128 work-items = 4 warps (2 x 2) computes a 64 x 64 tile of C; each warp a 32 x 32
// block = 2 (m16) x 4 (n8) mma fragments with 4 fp32 accumulators per lane each. K advances MMA_TK = 32 at a
// time through local memory (A and B tiles [64][32], padded). Any M, N, K: edge tiles are zero-filled.
// Fragment layout (PTX ISA, "Matrix fragments for mma.m16n8k8 / m16n8k16"), lane = 4 * g + t:
//   tf32 A (16x8):  a0 (g, t)  a1 (g+8, t)  a2 (g, t+4)  a3 (g+8, t+4);  B (8x8): b0 (k=t, n=g)  b1 (k=t+4, n=g)
//   f16  A (16x16): a0 (g, 2t..2t+1)  a1 (g+8, 2t..)  a2 (g, 2t+8..)  a3 (g+8, 2t+8..), low half = lower column;
//        B (16x8):  b0 (k=2t..2t+1, n=g)  b1 (k=2t+8..2t+9, n=g)
//   C/D (16x8 fp32): c0 (g, 2t)  c1 (g, 2t+1)  c2 (g+8, 2t)  c3 (g+8, 2t+1)
// Launch: local (128, 1), global (ceil(N/64) * 128, ceil(M/64)).
#if FZ_MMA

#define MMA_TM 64
#define MMA_TN 64
#define MMA_TK 32
#define MMA_PAD 4
#define MMA_THREADS 128
#if MMA_TF32
  #define MMA_KSTEP 8
#else
  #define MMA_KSTEP 16
#endif

#if FZ_MMA_EMULATE
  // Per warp: the A fragment as floats [16][16] and B [16][8] (k-major), rebuilt from the lanes' registers.
  #define MMA_EMU_FLOATS (16 * 16 + 16 * 8)
  #define MMA_EMU_PARAM , __local float* emu, const int lane
  #define MMA_EMU_ARG , emu, lane
#else
  #define MMA_EMU_PARAM
  #define MMA_EMU_ARG
#endif

// TF32 bits of x, rounded to nearest with ties away from zero (cvt.rna.tf32.f32).
inline uint mma_to_tf32(const float x) {
#if FZ_MMA_EMULATE
    uint bits = as_uint(x);
    if ((bits & 0x7f800000u) != 0x7f800000u) bits = (bits + 0x1000u) & 0xffffe000u;
    return bits;
#else
    uint d;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(d) : "f"(x));
    return d;
#endif
}

// Two fp16 values (round to nearest even) packed as f16x2: `lo` in bits 0-15, `hi` in bits 16-31.
inline uint mma_pack_f16(const float lo, const float hi) {
#if FZ_MMA_EMULATE
    ushort h[2];
    vstore_half(lo, 0, (half*)h);
    vstore_half(hi, 1, (half*)h);
    return (uint)h[0] | ((uint)h[1] << 16);
#else
    uint d;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(d) : "f"(hi), "f"(lo));
    return d;
#endif
}

#if FZ_MMA_EMULATE
inline float mma_f16_lo(const uint v) { ushort h = (ushort)(v & 0xffffu); return vload_half(0, (const half*)&h); }
inline float mma_f16_hi(const uint v) { ushort h = (ushort)(v >> 16); return vload_half(0, (const half*)&h); }

// D = A·B + C for one warp from its lanes' fragments: every lane scatters its A and B registers to their
// (row, k) / (k, n) places in `emu`, then computes its own four C entries. All 128 work-items call it together.
inline void mma_emulated(float* c, const uint* a, const uint* b, __local float* emu, const int lane) {
    __local float* ea = emu;            // [16][16]
    __local float* eb = emu + 16 * 16;  // [16][8], k-major
    const int g = lane >> 2, t = lane & 3;
#if MMA_TF32
    ea[g * 16 + t] = as_float(a[0]);           ea[(g + 8) * 16 + t] = as_float(a[1]);
    ea[g * 16 + t + 4] = as_float(a[2]);       ea[(g + 8) * 16 + t + 4] = as_float(a[3]);
    eb[t * 8 + g] = as_float(b[0]);            eb[(t + 4) * 8 + g] = as_float(b[1]);
#else
    #pragma unroll
    for (int r = 0; r < 4; r++) {
        const int row = g + ((r & 1) ? 8 : 0), col = 2 * t + ((r & 2) ? 8 : 0);
        ea[row * 16 + col] = mma_f16_lo(a[r]);
        ea[row * 16 + col + 1] = mma_f16_hi(a[r]);
    }
    #pragma unroll
    for (int r = 0; r < 2; r++) {
        const int k = 2 * t + (r ? 8 : 0);
        eb[k * 8 + g] = mma_f16_lo(b[r]);
        eb[(k + 1) * 8 + g] = mma_f16_hi(b[r]);
    }
#endif
    barrier(CLK_LOCAL_MEM_FENCE);
    #pragma unroll
    for (int r = 0; r < 4; r++) {
        const int row = g + ((r & 2) ? 8 : 0), col = 2 * t + (r & 1);
        float sum = c[r];
        for (int k = 0; k < MMA_KSTEP; k++) sum = fma(ea[row * 16 + k], eb[k * 8 + col], sum);
        c[r] = sum;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}
#endif

// One m16n8 fragment step: c[0..3] += A-fragment · B-fragment.
inline void mma_step(float* c, const uint* a, const uint* b MMA_EMU_PARAM) {
#if FZ_MMA_EMULATE
    mma_emulated(c, a, b, emu, lane);
#elif MMA_TF32
    float d0, d1, d2, d3;
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%10,%11,%12,%13};"
                 : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
                   "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
    c[0] = d0; c[1] = d1; c[2] = d2; c[3] = d3;
#else
    float d0, d1, d2, d3;
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%10,%11,%12,%13};"
                 : "=f"(d0), "=f"(d1), "=f"(d2), "=f"(d3)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
                   "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
    c[0] = d0; c[1] = d1; c[2] = d2; c[3] = d3;
#endif
}

__kernel __attribute__((reqd_work_group_size(MMA_THREADS, 1, 1)))
void gemm_nt_mma(const int M, const int N, const int K,
                 __global const REAL* A, __global const REAL* B,
                 __global const REAL* bias, const int hasBias, const int activation,
                 __global const REAL* residual, const int hasResidual,
                 __global REAL* C) {
    __local float tileA[MMA_TM][MMA_TK + MMA_PAD];
    __local float tileB[MMA_TN][MMA_TK + MMA_PAD];
#if FZ_MMA_EMULATE
    __local float emulation[4 * MMA_EMU_FLOATS];
#endif
    const int tid = get_local_id(0);
    const int warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t = lane & 3;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    const int m0 = get_group_id(1) * MMA_TM, n0 = get_group_id(0) * MMA_TN;
#if FZ_MMA_EMULATE
    __local float* emu = emulation + warp * MMA_EMU_FLOATS;
#endif

    float acc[2][4][4];
    #pragma unroll
    for (int i = 0; i < 2; i++)
        #pragma unroll
        for (int j = 0; j < 4; j++)
            #pragma unroll
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += MMA_TK) {
        // Coalesced along K: consecutive work-items read consecutive elements of a row.
        for (int idx = tid; idx < MMA_TM * MMA_TK; idx += MMA_THREADS) {
            const int r = idx / MMA_TK, c = idx % MMA_TK;
            const int row = m0 + r, k = k0 + c;
            tileA[r][c] = (row < M && k < K) ? LD(A, (long)row * K + k) : 0.0f;
        }
        for (int idx = tid; idx < MMA_TN * MMA_TK; idx += MMA_THREADS) {
            const int r = idx / MMA_TK, c = idx % MMA_TK;
            const int col = n0 + r, k = k0 + c;
            tileB[r][c] = (col < N && k < K) ? LD(B, (long)col * K + k) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int kk = 0; kk < MMA_TK; kk += MMA_KSTEP) {
            uint a[2][4], b[4][2];
            #pragma unroll
            for (int i = 0; i < 2; i++) {
                const int row = wm + i * 16 + g;
#if MMA_TF32
                a[i][0] = mma_to_tf32(tileA[row][kk + t]);
                a[i][1] = mma_to_tf32(tileA[row + 8][kk + t]);
                a[i][2] = mma_to_tf32(tileA[row][kk + t + 4]);
                a[i][3] = mma_to_tf32(tileA[row + 8][kk + t + 4]);
#else
                a[i][0] = mma_pack_f16(tileA[row][kk + 2 * t], tileA[row][kk + 2 * t + 1]);
                a[i][1] = mma_pack_f16(tileA[row + 8][kk + 2 * t], tileA[row + 8][kk + 2 * t + 1]);
                a[i][2] = mma_pack_f16(tileA[row][kk + 2 * t + 8], tileA[row][kk + 2 * t + 9]);
                a[i][3] = mma_pack_f16(tileA[row + 8][kk + 2 * t + 8], tileA[row + 8][kk + 2 * t + 9]);
#endif
            }
            #pragma unroll
            for (int j = 0; j < 4; j++) {
                const int col = wn + j * 8 + g;
#if MMA_TF32
                b[j][0] = mma_to_tf32(tileB[col][kk + t]);
                b[j][1] = mma_to_tf32(tileB[col][kk + t + 4]);
#else
                b[j][0] = mma_pack_f16(tileB[col][kk + 2 * t], tileB[col][kk + 2 * t + 1]);
                b[j][1] = mma_pack_f16(tileB[col][kk + 2 * t + 8], tileB[col][kk + 2 * t + 9]);
#endif
            }
            #pragma unroll
            for (int i = 0; i < 2; i++)
                #pragma unroll
                for (int j = 0; j < 4; j++) mma_step(acc[i][j], a[i], b[j] MMA_EMU_ARG);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    #pragma unroll
    for (int i = 0; i < 2; i++) {
        #pragma unroll
        for (int j = 0; j < 4; j++) {
            #pragma unroll
            for (int r = 0; r < 4; r++) {
                const int row = m0 + wm + i * 16 + g + ((r & 2) ? 8 : 0);
                const int col = n0 + wn + j * 8 + 2 * t + (r & 1);
                if (row < M && col < N) {
                    const float value = acc[i][j][r] + (hasBias ? LD(bias, col) : 0.0f);
                    GEMM_STORE(C, (long)row * N + col, apply_activation(value, activation));
                }
            }
        }
    }
}

#endif  // FZ_MMA
