/* Elementwise maths on one tensor: sqrt, abs, exp, log, tanh, sigmoid,
 * clamp and pow with a scalar exponent. x, y (...) same shape.
 *
 * Outside an op's domain the value is what IEEE float32 and torch give, so
 * torch goldens hold everywhere: sqrt(x < 0) = NaN, log(0) = -inf,
 * log(x < 0) = NaN, pow(x < 0, non-integer) = NaN. Gradients are the
 * derivative's formula evaluated there, as torch's (sqrt'(0) = +inf,
 * log'(x) = 1/x even below 0); at the kinks abs'(0) = 0 and clamp passes
 * the gradient on the closed interval [lo, hi], as torch.
 * A plugin that may meet such inputs clamps first (pd_clamp) rather than
 * relying on NaN reaching the loss check. */
#include <math.h>

#include "op_util.h"
#include "tape.h"

enum { U_SQRT, U_ABS, U_EXP, U_LOG, U_TANH, U_SIGMOID, U_CLAMP, U_POW, U_COUNT };

typedef struct {
    int kind;
    float a, b; /* clamp: lo, hi; pow: the exponent in a */
} unary_attr;

static inline float unary_value(int kind, float x, float a, float b) {
    switch (kind) {
    case U_SQRT: return sqrtf(x);
    case U_ABS: return fabsf(x);
    case U_EXP: return expf(x);
    case U_LOG: return logf(x);
    case U_TANH: return tanhf(x);
    case U_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case U_CLAMP: return x < a ? a : x > b ? b : x; /* NaN stays NaN, as torch */
    default: return powf(x, a);
    }
}

/* dy/dx from the input x and the output y (cheaper where y already holds
 * the hard part: exp, tanh, sigmoid, sqrt). */
static inline float unary_deriv(int kind, float x, float y, float a, float b) {
    switch (kind) {
    case U_SQRT: return 0.5f / y;
    case U_ABS: return (float)((x > 0) - (x < 0));
    case U_EXP: return y;
    case U_LOG: return 1.0f / x;
    case U_TANH: return 1.0f - y * y;
    case U_SIGMOID: return y * (1.0f - y);
    case U_CLAMP: return (x >= a && x <= b) ? 1.0f : 0.0f;
    default: return a == 0.0f ? 0.0f : a * powf(x, a - 1.0f); /* torch: pow(x, 0)' = 0 */
    }
}

static pd_status unary_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const unary_attr *at = attr;
    const float *restrict x = in[0]->data;
    float *restrict out = y->data;
    size_t n = y->numel;
    int kind = at->kind;
    float a = at->a, b = at->b;
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = unary_value(kind, x[i], a, b);
    return PD_OK;
}

/* dx (+)= dy * f'(x): every entry written, so it may store into an unset
 * gradient (PD_OPF_GRAD_OVERWRITE). */
static pd_status unary_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const unary_attr *at = attr;
    const float *restrict x = in[0]->data, *restrict yv = y->data, *restrict dy = y->grad;
    float *restrict dx = in[0]->grad;
    if (!dx) return PD_OK;
    size_t n = y->numel;
    int kind = at->kind;
    float a = at->a, b = at->b;
    bool unset = pd_grad_unset(in[0]);
#pragma omp parallel for if (n > PD_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dx[i] = pd_grad_acc(unset, dx[i], dy[i] * unary_deriv(kind, x[i], yv[i], a, b));
    return PD_OK;
}

static const pd_op_def unary_ops[U_COUNT] = {
    [U_SQRT] = {"sqrt", unary_fwd, unary_bwd},
    [U_ABS] = {"abs", unary_fwd, unary_bwd},
    [U_EXP] = {"exp", unary_fwd, unary_bwd},
    [U_LOG] = {"log", unary_fwd, unary_bwd},
    [U_TANH] = {"tanh", unary_fwd, unary_bwd},
    [U_SIGMOID] = {"sigmoid", unary_fwd, unary_bwd},
    [U_CLAMP] = {"clamp", unary_fwd, unary_bwd},
    [U_POW] = {"pow", unary_fwd, unary_bwd},
};

static pd_tensor *unary(pd_ctx *ctx, int kind, pd_tensor *x, float a, float b) {
    PD_OP_GUARD(ctx, x);
    unary_attr at = {kind, a, b};
    return pd_op_apply_flags(ctx, &unary_ops[kind], PD_OPF_GRAD_OVERWRITE, &x, 1, x->shape,
                             x->ndim, &at, sizeof at);
}

pd_tensor *pd_sqrt(pd_ctx *ctx, pd_tensor *x) { return unary(ctx, U_SQRT, x, 0, 0); }
pd_tensor *pd_abs(pd_ctx *ctx, pd_tensor *x) { return unary(ctx, U_ABS, x, 0, 0); }
pd_tensor *pd_exp(pd_ctx *ctx, pd_tensor *x) { return unary(ctx, U_EXP, x, 0, 0); }
pd_tensor *pd_log(pd_ctx *ctx, pd_tensor *x) { return unary(ctx, U_LOG, x, 0, 0); }
pd_tensor *pd_tanh(pd_ctx *ctx, pd_tensor *x) { return unary(ctx, U_TANH, x, 0, 0); }
pd_tensor *pd_sigmoid(pd_ctx *ctx, pd_tensor *x) { return unary(ctx, U_SIGMOID, x, 0, 0); }

pd_tensor *pd_clamp(pd_ctx *ctx, pd_tensor *x, float lo, float hi) {
    PD_OP_GUARD(ctx, x);
    if (!(lo <= hi)) { /* also refuses NaN bounds */
        pd_ctx_fail(ctx, PD_ERR_ARG, "clamp: bounds [%g, %g] on x %s: expected lo <= hi (use "
                    "-INFINITY / INFINITY for an open side)", (double)lo, (double)hi, SHP(x));
        return NULL;
    }
    return unary(ctx, U_CLAMP, x, lo, hi);
}

pd_tensor *pd_pow(pd_ctx *ctx, pd_tensor *x, float exponent) {
    PD_OP_GUARD(ctx, x);
    if (!isfinite(exponent)) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "pow: exponent %g on x %s: expected a finite number",
                    (double)exponent, SHP(x));
        return NULL;
    }
    return unary(ctx, U_POW, x, exponent, 0);
}
