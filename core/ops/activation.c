/* Activations: SiLU, GELU (erf / tanh), SwiGLU, softmax (last dim) and
 * inverted dropout. Each forward sits next to its backward. */
#include <math.h>
#include <stdint.h>

#include "fast_exp.h"
#include "op_util.h"
#include "tape.h"
#include "pixeldit/rng.h"

static inline float sigmoidf(float x) { return pd_sigmoidf(x); }

/* d silu / dx = s + x s (1 - s), s = sigmoid(x). */
static inline float silu_grad(float x) {
    float s = sigmoidf(x);
    return s * (1.0f + x * (1.0f - s));
}

/* ---- SiLU ----------------------------------------------------------------- */
/* x, y (...) same shape. */

static pd_status silu_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    const float *restrict x = in[0]->data;
    float *restrict out = y->data;
    size_t n = y->numel;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = x[i] * sigmoidf(x[i]);
    return PD_OK;
}

static pd_status silu_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    const float *restrict x = in[0]->data, *restrict dy = y->grad;
    float *restrict dx = in[0]->grad;
    size_t n = y->numel;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * silu_grad(x[i]);
    return PD_OK;
}

static const pd_op_def silu_op = {"silu", silu_fwd, silu_bwd};

pd_tensor *pd_silu(pd_ctx *ctx, pd_tensor *x) {
    PD_OP_GUARD(ctx, x);
    return pd_op_apply(ctx, &silu_op, &x, 1, x->shape, x->ndim, NULL, 0);
}

/* ---- GELU ------------------------------------------------------------------ */
/* x, y (...) same shape. Exact: x Phi(x); tanh: torch's approximate='tanh'. */

#define GELU_INV_SQRT_2PI 0.39894228040143268f
#define GELU_SQRT_2_OVER_PI 0.79788456080286536f
#define GELU_TANH_C 0.044715f

typedef struct {
    int tanh_approx;
} gelu_attr;

/* x Phi(x) with the vectorisable Phi of fast_exp.h: libm's erff is a call
 * the compiler cannot vectorise, and it made GELU 6% of a PixelDiT-decoder
 * step. */
static inline float gelu_exact(float x) { return x * pd_normal_cdf(x); }
/* Phi(x) + x phi(x), with phi's exponential taken from Phi's erfc (two
 * exps a value instead of three; the same floats). */
static inline float gelu_exact_grad(float x) {
    float g, cdf = pd_normal_cdf_density(x, &g);
    return cdf + x * GELU_INV_SQRT_2PI * g;
}
static inline float gelu_tanh(float x) {
    float u = GELU_SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
    return 0.5f * x * (1.0f + tanhf(u));
}
static inline float gelu_tanh_grad(float x) {
    float u = GELU_SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
    float t = tanhf(u);
    float du = GELU_SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_C * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

static pd_status gelu_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const float *restrict x = in[0]->data;
    float *restrict out = y->data;
    size_t n = y->numel;
    if (((const gelu_attr *)attr)->tanh_approx) {
#pragma omp parallel for if (n > PD_PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = gelu_tanh(x[i]);
    } else {
#pragma omp parallel for if (n > PD_PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = gelu_exact(x[i]);
    }
    return PD_OK;
}

static pd_status gelu_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const float *restrict x = in[0]->data, *restrict dy = y->grad;
    float *restrict dx = in[0]->grad;
    size_t n = y->numel;
    if (((const gelu_attr *)attr)->tanh_approx) {
#pragma omp parallel for if (n > PD_PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * gelu_tanh_grad(x[i]);
    } else {
#pragma omp parallel for if (n > PD_PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] += dy[i] * gelu_exact_grad(x[i]);
    }
    return PD_OK;
}

static const pd_op_def gelu_op = {"gelu", gelu_fwd, gelu_bwd};

pd_tensor *pd_gelu(pd_ctx *ctx, pd_tensor *x, bool tanh_approx) {
    PD_OP_GUARD(ctx, x);
    gelu_attr at = {tanh_approx ? 1 : 0};
    return pd_op_apply(ctx, &gelu_op, &x, 1, x->shape, x->ndim, &at, sizeof at);
}

/* ---- SwiGLU ----------------------------------------------------------------- */
/* x (rows, 2H) -> y (rows, H): y = silu(x[:, :H]) * x[:, H:] (gate first). */

static pd_status swiglu_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    int H = y->shape[y->ndim - 1];
    size_t rows = y->numel / (size_t)H;
    const float *x = in[0]->data;
    float *out = y->data;
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict g = x + r * 2 * (size_t)H, *restrict u = g + H;
        float *restrict o = out + r * (size_t)H;
#pragma omp simd
        for (int h = 0; h < H; h++) o[h] = g[h] * sigmoidf(g[h]) * u[h];
    }
    return PD_OK;
}

static pd_status swiglu_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    int H = y->shape[y->ndim - 1];
    size_t rows = y->numel / (size_t)H;
    const float *x = in[0]->data, *dy = y->grad;
    float *dx = in[0]->grad;
    bool unset = pd_grad_unset(in[0]);
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict g = x + r * 2 * (size_t)H, *restrict u = g + H;
        const float *restrict d = dy + r * (size_t)H;
        float *restrict dg = dx + r * 2 * (size_t)H, *restrict du = dg + H;
        /* two explicit loops: a select inside one defeats vectorisation */
        if (unset) {
#pragma omp simd
            for (int h = 0; h < H; h++) {
                dg[h] = d[h] * u[h] * silu_grad(g[h]);
                du[h] = d[h] * g[h] * sigmoidf(g[h]);
            }
        } else {
#pragma omp simd
            for (int h = 0; h < H; h++) {
                dg[h] += d[h] * u[h] * silu_grad(g[h]);
                du[h] += d[h] * g[h] * sigmoidf(g[h]);
            }
        }
    }
    return PD_OK;
}

static const pd_op_def swiglu_op = {"swiglu", swiglu_fwd, swiglu_bwd};

pd_tensor *pd_swiglu(pd_ctx *ctx, pd_tensor *x) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 2 || x->shape[x->ndim - 1] % 2) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "swiglu: x %s: expected (..., 2H) with an even last dim >= 2",
                    SHP(x));
        return NULL;
    }
    int shape[PD_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] /= 2;
    return pd_op_apply_flags(ctx, &swiglu_op, PD_OPF_GRAD_OVERWRITE, &x, 1, shape, x->ndim, NULL, 0);
}

/* ---- softmax over the last dim ------------------------------------------- */
/* x, y (rows, C). Subtracting the row max keeps exp() finite for any input. */

static pd_status softmax_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    int C = y->shape[y->ndim - 1];
    size_t rows = C ? y->numel / (size_t)C : 0;
    const float *x = in[0]->data;
    float *out = y->data;
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        pd_softmax_row(x + r * (size_t)C, out + r * (size_t)C, C);
    }
    return PD_OK;
}

/* dx = y * (dy - sum(dy * y)); uses the saved output, not the input. */
static pd_status softmax_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in, (void)attr;
    int C = y->shape[y->ndim - 1];
    size_t rows = C ? y->numel / (size_t)C : 0;
    const float *p = y->data, *dy = y->grad;
    float *dx = in[0]->grad;
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *restrict pr = p + r * (size_t)C, *restrict dr = dy + r * (size_t)C;
        float *restrict gr = dx + r * (size_t)C;
        float dot = 0.0f;
        for (int c = 0; c < C; c++) dot += pr[c] * dr[c];
        for (int c = 0; c < C; c++) gr[c] += pr[c] * (dr[c] - dot);
    }
    return PD_OK;
}

static const pd_op_def softmax_op = {"softmax", softmax_fwd, softmax_bwd};

pd_tensor *pd_softmax(pd_ctx *ctx, pd_tensor *x) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim < 1) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "softmax: x %s: expected rank >= 1", SHP(x));
        return NULL;
    }
    return pd_op_apply(ctx, &softmax_op, &x, 1, x->shape, x->ndim, NULL, 0);
}

/* ---- dropout ------------------------------------------------------------------ */
/* x, y (...) same shape. y = x * keep / (1 - p); keep ~ Bernoulli(1 - p) drawn
 * from the caller's rng in element order, so a run is reproducible from the
 * rng state. The keep mask (one byte per element) is saved for backward. */

typedef struct {
    float scale;          /* 1 / (1 - p), 0 when p = 1 */
    const uint8_t *keep;  /* numel entries (arena), or NULL: identity (eval / p = 0) */
} dropout_attr;

static pd_status dropout_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    dropout_attr *at = attr;
    const float *restrict x = in[0]->data;
    float *restrict out = y->data;
    size_t n = y->numel;
    if (!at->keep) {
        memcpy(out, x, n * sizeof(float));
        return PD_OK;
    }
    const uint8_t *restrict keep = at->keep;
    float scale = at->scale;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = keep[i] ? x[i] * scale : 0.0f;
    return PD_OK;
}

static pd_status dropout_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const dropout_attr *at = attr;
    const float *restrict dy = y->grad;
    float *restrict dx = in[0]->grad;
    size_t n = y->numel;
    if (!at->keep) {
#pragma omp parallel for if (n > PD_PAR_MIN)
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];
        return PD_OK;
    }
    const uint8_t *restrict keep = at->keep;
    float scale = at->scale;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) dx[i] += keep[i] ? dy[i] * scale : 0.0f;
    return PD_OK;
}

static const pd_op_def dropout_op = {"dropout", dropout_fwd, dropout_bwd};

pd_tensor *pd_dropout(pd_ctx *ctx, pd_tensor *x, float p, struct pd_rng *rng) {
    PD_OP_GUARD(ctx, x);
    if (!(p >= 0.0f && p <= 1.0f)) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "dropout: p = %g on x %s: expected 0 <= p <= 1", (double)p,
                    SHP(x));
        return NULL;
    }
    dropout_attr at = {1.0f, NULL};
    if (pd_ctx_training(ctx) && p > 0.0f) {
        if (!rng) {
            pd_ctx_fail(ctx, PD_ERR_ARG, "dropout: p = %g on x %s in training mode needs an rng",
                        (double)p, SHP(x));
            return NULL;
        }
        /* The mask is drawn here, before the op runs, so the rng advances the
         * same way whether or not the step records a tape. */
        uint8_t *keep = pd_ctx_alloc(ctx, x->numel ? x->numel : 1);
        if (!keep) return NULL;
        for (size_t i = 0; i < x->numel; i++) keep[i] = pd_rng_uniform(rng) >= (double)p;
        at.keep = keep;
        at.scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    }
    /* Identity still yields a fresh tensor (a copy), as every op does. */
    return pd_op_apply(ctx, &dropout_op, &x, 1, x->shape, x->ndim, &at, sizeof at);
}
