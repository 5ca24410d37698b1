/* A vectorisable expf and the softmax row built on it (internal). libm's expf is a call the compiler
 * cannot vectorise without -ffast-math; this one is plain arithmetic, so
 * loops over it compile to AVX2/AVX-512 code. Cody-Waite reduction
 * x = n ln2 + r and the Cephes degree-6 polynomial for e^r: within 2 ulp of
 * expf on [-87, 88] (checked against libm in test_grad_dense). Inputs are
 * clamped, so very negative x gives ~1e-38, never a denormal or NaN. */
#ifndef PD_FAST_EXP_H
#define PD_FAST_EXP_H

#include <math.h>
#include <stdint.h>

static inline float pd_expf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    /* NaN passes the clamps above (compares are false) and stays in r, so
     * the result is NaN; n must still be a valid exponent: the conversion
     * and shift below would be undefined for NaN */
    n = n >= -126.0f ? n : -126.0f;
    float r = x - n * 0.693359375f - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^n, n in [-126, 127], built in the exponent field; a union (not
     * memcpy) keeps the loop vectorisable for GCC. */
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) << 23};
    return p * scale.f;
}

/* erfc(z) for z >= 0, vectorisable: the Chebyshev fit of Numerical
 * Recipes (erfcc), t e^(P(t) - z^2) with t = 1 / (1 + z/2), relative error
 * below 1.2e-7 for every z >= 0 in exact arithmetic. The caller passes
 * z^2 = hi + lo exactly (the fma remainder), and e^(P - z^2) is taken as
 * e^(-hi) e^(P - lo): rounding P - z^2 near z = 9 (z^2 = 81) would cost
 * 8e-6 relative. Relative accuracy, so the tail 1 + erf(x) = erfc(-x) of
 * a negative x keeps its digits. Checked against libm in test_grad_dense. */
static inline float pd_erfc_core_exp(float z, float hi, float lo, float *e_hi) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float e = pd_expf(-hi);
    *e_hi = e;
    return t * e * pd_expf(p - lo);
}

/* The same, without e^(-hi). */
static inline float pd_erfc_core(float z, float hi, float lo) {
    float e;
    return pd_erfc_core_exp(z, hi, lo, &e);
}

static inline float pd_erfcf_nonneg(float z) {
    float hi = z * z;
    return pd_erfc_core(z, hi, fmaf(z, z, -hi));
}

/* Phi(x) = erfc(-x / sqrt 2) / 2, the normal CDF (exact GELU's gate);
 * z^2 = x^2 / 2 is formed from x, not from the rounded x / sqrt 2. */
static inline float pd_normal_cdf(float x) {
    float xx = x * x, hi = 0.5f * xx, lo = 0.5f * fmaf(x, x, -xx);
    float h = 0.5f * pd_erfc_core(fabsf(x) * 0.70710678118654752f, hi, lo);
    return x < 0.0f ? h : 1.0f - h;
}

/* Phi(x), with *g = e^(-x^2 / 2), the unnormalised normal density, which
 * the erfc above computes anyway (as e^(-hi), hi = round(x^2) / 2: the
 * same float as pd_expf(-0.5f * x * x)): exact GELU's gradient needs both. */
static inline float pd_normal_cdf_density(float x, float *g) {
    float xx = x * x, hi = 0.5f * xx, lo = 0.5f * fmaf(x, x, -xx);
    float h = 0.5f * pd_erfc_core_exp(fabsf(x) * 0.70710678118654752f, hi, lo, g);
    return x < 0.0f ? h : 1.0f - h;
}

/* 1 / (1 + e^-x), the SiLU gate. */
static inline float pd_sigmoidf(float x) { return 1.0f / (1.0f + pd_expf(-x)); }

/* Stable softmax of one row: y = exp(x - max) / sum; y may alias x. */
static inline void pd_softmax_row(const float *x, float *y, int n) {
    float mx = x[0];
    /* without the pragma GCC keeps this max a scalar dependency chain */
#pragma omp simd reduction(max : mx)
    for (int c = 1; c < n; c++) mx = x[c] > mx ? x[c] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < n; c++) {
        y[c] = pd_expf(x[c] - mx);
        sum += y[c];
    }
    float inv = 1.0f / sum;
    for (int c = 0; c < n; c++) y[c] *= inv;
}

#endif
