// Portable variants of every CPU kernel: plain C that any compiler vectorises for its baseline ISA (SSE2 on
// x86-64, NEON on aarch64). `dispatch.c` uses them where the AVX2+FMA variants cannot run, or when
// `FEATURIZE_CPU_KERNELS=portable` asks for them (the tests compare both). Same algorithms and polynomial
// coefficients as the AVX2 variants; results differ from them only by rounding (no fused multiply-add here).

#include "CPUKernels.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// ---- element-wise math (same rational / Cephes approximations as packed_gemm.c) ------------------------

static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

static float erf1(float a) {
    const float x = clampf(a, -4.f, 4.f), x2 = x * x;
    float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p + -2.10102402082508e-06f;
    p = x2 * p + -5.69250639462346e-05f;
    p = x2 * p + -7.34990630326855e-04f;
    p = x2 * p + -2.95459980854025e-03f;
    p = x2 * p + -1.60960333262415e-02f;
    p = p * x;
    float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
    q = x2 * q + -1.68282697438203e-03f;
    q = x2 * q + -7.37332916720468e-03f;
    q = x2 * q + -1.42647390514189e-02f;
    return p / q;
}

static float tanh1(float a) {
    const float x = clampf(a, -7.99881172180175781f, 7.99881172180175781f), x2 = x * x;
    float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = x2 * p + -8.60467152213735e-11f;
    p = x2 * p + 5.12229709037114e-08f;
    p = x2 * p + 1.48572235717979e-05f;
    p = x2 * p + 6.37261928875436e-04f;
    p = x2 * p + 4.89352455891786e-03f;
    p = p * x;
    float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = x2 * q + 2.26843463243900e-03f;
    q = x2 * q + 4.89352518554385e-03f;
    return p / q;
}

static float exp1(float a) {
    if (a != a) return a;  // NaN propagates
    const float x0 = clampf(a, -87.3f, 88.3762626647949f);
    const float n = nearbyintf(x0 * 1.44269504088896341f);
    float x = x0 - n * 0.693359375f;
    x = x + n * 2.12194440e-4f;
    float y = x * 1.9875691500e-4f + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * (x * x) + (x + 1.f);
    return ldexpf(y, (int)n);
}

static inline float activate1(float x, int act) {
    switch (act) {
    case FZ_ACT_GELU_ERF: return x * 0.5f * (1.f + erf1(x * 0.70710678118654752440f));
    case FZ_ACT_GELU_TANH: {
        const float inner = 0.79788456080286535588f * (0.044715f * (x * x * x) + x);
        return 0.5f * x * (1.f + tanh1(inner));
    }
    case FZ_ACT_RELU: return x > 0.f ? x : 0.f;
    case FZ_ACT_TANH: return tanh1(x);
    default: return x;
    }
}

void fz_portable_activate(float *x, size_t count, int act) {
    if (act == FZ_ACT_NONE) return;
    for (size_t i = 0; i < count; i++) x[i] = activate1(x[i], act);
}

void fz_portable_math(float *x, size_t count, int function) {
    for (size_t i = 0; i < count; i++) {
        switch (function) {
        case FZ_MATH_ERF: x[i] = erf1(x[i]); break;
        case FZ_MATH_TANH: x[i] = tanh1(x[i]); break;
        case FZ_MATH_EXP: x[i] = exp1(x[i]); break;
        default: break;
        }
    }
}

// ---- packed GEMM ----------------------------------------------------------------------------------------

void fz_portable_gemm_packed_rows(int m, const int *index, int n, int k, const float *a, int lda,
                                  const float *packed, const float *bias, int act, const float *residual,
                                  float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    const int kc = k > 0 ? kc_for(k) : 1, np = panels_for(n), npad = np * NR;
    for (int i = 0; i < m; i++) {
        const float *arow = a + (size_t)(index ? index[i] : i) * lda;
        float *crow = c + (size_t)(index ? index[i] : i) * ldc;
        const float *rrow = residual ? residual + (size_t)(index ? index[i] : i) * ldc : NULL;
        for (int j = 0; j < np; j++) {
            float acc[NR];
            for (int jj = 0; jj < NR; jj++) acc[jj] = 0.f;
            for (int pc = 0; pc < k; pc += kc) {
                const int kcb = k - pc < kc ? k - pc : kc;
                const float *panel = packed + (size_t)pc * npad + (size_t)j * kcb * NR;
                for (int p = 0; p < kcb; p++) {
                    const float av = arow[pc + p];
                    const float *w = panel + (size_t)p * NR;
                    for (int jj = 0; jj < NR; jj++) acc[jj] += av * w[jj];
                }
            }
            const int cols = n - j * NR < NR ? n - j * NR : NR;
            for (int jj = 0; jj < cols; jj++) {
                const float v = acc[jj] + (bias ? bias[j * NR + jj] : 0.f);
                const float y = activate1(v, act);
                crow[j * NR + jj] = rrow ? y + rrow[j * NR + jj] : y;
            }
        }
    }
}

// ---- attention of one (sequence, head) ------------------------------------------------------------------

static _Thread_local float *scores_buffer = NULL;
static _Thread_local size_t scores_capacity = 0;

int fz_portable_attention_head(int n, int d, const float *q, const float *k, const float *v, int stride,
                               float scale, const float *bias, int bias_stride, float *out, int out_stride) {
    if (n <= 0 || d <= 0) return 0;
    if ((size_t)n > scores_capacity) {
        float *p = realloc(scores_buffer, (size_t)n * sizeof(float));
        if (!p) return -1;
        scores_buffer = p;
        scores_capacity = (size_t)n;
    }
    float *s = scores_buffer;
    for (int i = 0; i < n; i++) {
        const float *qi = q + (size_t)i * stride;
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) {
            const float *kj = k + (size_t)j * stride;
            float dot = 0.f;
            for (int c = 0; c < d; c++) dot += qi[c] * (kj[c] * scale);
            if (bias) dot += bias[(size_t)i * bias_stride + j];
            s[j] = dot;
            if (dot > mx || mx != mx) mx = dot;
        }
        float sum = 0.f;
        for (int j = 0; j < n; j++) { s[j] = exp1(s[j] - mx); sum += s[j]; }
        const float inv = 1.f / sum;
        float *oi = out + (size_t)i * out_stride;
        for (int c = 0; c < d; c++) oi[c] = 0.f;
        for (int j = 0; j < n; j++) {
            const float *vj = v + (size_t)j * stride;
            const float p = s[j];
            for (int c = 0; c < d; c++) oi[c] += p * vj[c];
        }
        for (int c = 0; c < d; c++) oi[c] *= inv;
    }
    return 0;
}

// ---- row kernels ----------------------------------------------------------------------------------------

void fz_portable_add_rows(const float *a, const float *b, float *out, size_t count) {
    for (size_t c = 0; c < count; c++) out[c] = a[c] + b[c];
}

void fz_portable_layer_norm_row(const float *row, int cols, const float *gamma, const float *beta, float eps,
                                float *out) {
    float sum = 0.f;
    for (int c = 0; c < cols; c++) sum += row[c];
    const float mean = sum / (float)cols;
    float sq = 0.f;
    for (int c = 0; c < cols; c++) { const float d = row[c] - mean; sq += d * d; }
    const float rstd = 1.0f / sqrtf(sq / (float)cols + eps);
    for (int c = 0; c < cols; c++) out[c] = (row[c] - mean) * rstd * gamma[c] + beta[c];
}

float fz_portable_fma_chains(long iterations, float seed) {
    const float b = 0.99999f, c = 1e-6f * (seed + 1);
    float a[8][10];
    for (int l = 0; l < 8; l++)
        for (int i = 0; i < 10; i++) a[l][i] = seed + (float)i;
    for (long it = 0; it < iterations; it++)
        for (int i = 0; i < 10; i++)
            for (int l = 0; l < 8; l++) a[l][i] = a[l][i] + b * c;
    float s = 0.f;
    for (int l = 0; l < 8; l++)
        for (int i = 0; i < 10; i++) s += a[l][i];
    return s;
}
