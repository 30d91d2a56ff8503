// Shared helpers for every Featurize kernel. Concatenated first into the one program the backend builds.
// Build options (-D) the host always defines: see Sources/OpenCLBackend/KernelParameters.swift.

// Activation codes (match `Activation` on the host): 0 none, 1 GELU (erf), 2 GELU (tanh), 3 ReLU, 4 tanh.
inline float apply_activation(float x, const int activation) {
    switch (activation) {
    case 1: return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f));
    case 2: return 0.5f * x * (1.0f + tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case 3: return fmax(x, 0.0f);
    case 4: return tanh(x);
    default: return x;
    }
}

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
