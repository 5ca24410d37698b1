/* pixeldit/gradcheck.h - finite-difference gradient checking (part of the SDK).
 *
 * Checks the autodiff gradient of any function built from pixeldit ops
 * against central differences. The function's output y is reduced to the
 * scalar L = sum_i r_i * y_i with fixed random r, accumulated in float64;
 * the numeric derivative (L(x + eps) - L(x - eps)) / (2 eps) is formed in
 * float64 from float32 forward passes. An entry passes when
 *     |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
 * The analytic input gradients are computed twice: accumulated into the
 * inputs' zeroed gradients, and with every input passed through an identity
 * op first so the function's ops store into unset, NaN-poisoned buffers
 * (their PD_OPF_GRAD_OVERWRITE path). The two must agree exactly.
 */
#ifndef PIXELDIT_GRADCHECK_H
#define PIXELDIT_GRADCHECK_H

#include "pixeldit/params.h"
#include "pixeldit/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* Builds the output from the inputs (arena tensors made fresh for every
 * evaluation, in the order given) and any parameters the caller owns. */
typedef pd_tensor *(*pd_gradcheck_fn)(pd_ctx *ctx, pd_tensor *const *inputs, int n_inputs,
                                      void *user);

typedef struct pd_gradcheck_input {
    float *data;           /* host buffer, perturbed in place and restored */
    const int *shape;
    int ndim;
    bool check;            /* differentiate with respect to this input */
} pd_gradcheck_input;

typedef struct pd_gradcheck_opts {
    double eps;            /* step (default 1e-3) */
    double rtol;           /* default 1e-2 */
    double atol;           /* default 1e-3 */
    int max_checks;        /* entries per tensor, sampled evenly (default 64; <0: all) */
    uint64_t seed;         /* for the projection weights r */
    pd_params *params;     /* optional: also check these trainable parameters */
    bool verbose;          /* print one line per tensor */
} pd_gradcheck_opts;

/* Default options. */
pd_gradcheck_opts pd_gradcheck_defaults(void);

/* Returns PD_OK when every checked entry passes; otherwise PD_ERR_NUMERIC
 * with a message naming the tensor, index, both values and the tolerance.
 * max_err_out (optional) receives the worst scaled error (<= 1 passes). */
pd_status pd_gradcheck(pd_gradcheck_fn fn, void *user, pd_gradcheck_input *inputs, int n_inputs,
                       const pd_gradcheck_opts *opts, double *max_err_out);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
