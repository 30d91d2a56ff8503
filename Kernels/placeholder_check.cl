// Smallest kernel: used by the backend to check that a device can build and run programs.
__kernel void fill_value(__global float* out, const float value, const int n) {
    int i = get_global_id(0);
    if (i < n) out[i] = value;
}
