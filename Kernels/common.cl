// Shared helpers for every Featurize kernel. Concatenated first into the one program the backend builds.
// Build options (-D) the host always defines: see Sources/OpenCLBackend/KernelParameters.swift.

// Storage type of every float buffer. FZ_HALF=0 (compute precision fp32, exact): float. FZ_HALF=1 (fp16):
// IEEE half, read and written only through the core vload_half / vstore_half functions (no cl_khr_fp16
// needed); every computation, accumulation and statistic stays in float. LD/ST: element i of a buffer;
// LD2/LD4/LD8: a vector at a pointer; ST8: store a float8 at a pointer.
#if FZ_HALF
  #define REAL half
  #define LD(p, i) vload_half((i), (p))
  #define ST(p, i, v) vstore_half_rte((v), (i), (p))
  #define LD2(p) vload_half2(0, (p))
  #define LD4(p) vload_half4(0, (p))
  #define LD8(p) vload_half8(0, (p))
  #define ST8(v, p) vstore_half8_rte((v), 0, (p))
#else
  #define REAL float
  #define LD(p, i) ((p)[i])
  #define ST(p, i, v) ((p)[i] = (v))
  #define LD2(p) vload2(0, (p))
  #define LD4(p) vload4(0, (p))
  #define LD8(p) vload8(0, (p))
  #define ST8(v, p) vstore8((v), 0, (p))
#endif

// erf for GELU. ERF_APPROX=1 (CPU devices, where the library erf is a slow scalar call that more than halves
// GEMM throughput on PoCL): Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7 (below float32 GEMM noise).
// ERF_APPROX=0: the OpenCL built-in erf (GPUs, where it is fast).
inline float gelu_erf(const float x) {
#if ERF_APPROX
    const float z = fabs(x * 0.70710678118654752f);
    const float t = 1.0f / (1.0f + 0.3275911f * z);
    const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    const float e = 1.0f - poly * exp(-z * z);
    return 0.5f * x * (1.0f + copysign(e, x));
#else
    return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f));
#endif
}

// Activation codes (match `Activation` on the host): 0 none, 1 GELU (erf), 2 GELU (tanh), 3 ReLU, 4 tanh.
inline float apply_activation(float x, const int activation) {
    switch (activation) {
    case 1: return gelu_erf(x);
    case 2: return 0.5f * x * (1.0f + tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case 3: return fmax(x, 0.0f);
    case 4: return tanh(x);
    default: return x;
    }
}

// The store of every GEMM epilogue: C[i] = v, plus residual[i] when the kernel was given one (`hasResidual`,
// `residual` in scope). Order: the caller's v is act(acc + bias); the residual is added after it, in float,
// before the one rounding to the storage type (`Backend.linear`'s contract).
#define GEMM_STORE(C, i, v) ST(C, i, (hasResidual ? (v) + LD(residual, i) : (v)))

// Sum of `value` over a work-group of ROW_WG work-items (a power of two). `scratch` holds ROW_WG floats.
// Every work-item gets the total. Ends with a barrier so `scratch` can be reused at once.
inline float row_group_sum(float value, __local float* scratch) {
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = ROW_WG / 2; stride > 0; stride >>= 1) {
        if (lid < stride) scratch[lid] += scratch[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

// Maximum of `value` over the work-group (same contract as row_group_sum).
inline float row_group_max(float value, __local float* scratch) {
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = ROW_WG / 2; stride > 0; stride >>= 1) {
        if (lid < stride) scratch[lid] = fmax(scratch[lid], scratch[lid + stride]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}
