/* pixeldit/gradcheck.h - finite-difference gradient checking (part of the SDK).
 *
 * Checks the autodiff gradient of any function built from pixeldit ops
 * against central differences. The function's output y is reduced to the
 * scalar L = sum_i r_i * y_i with fixed random r, accumulated in float64;
 * the numeric derivative (L(x + eps) - L(x - eps)) / (2 eps) is formed in
 * float64 from float32 forward passes. An entry of a tensor passes when
 *     |analytic - numeric| <= atol + stol * scale + rtol * max(|analytic|, |numeric|)
 * with scale the root mean square of the tensor's analytic gradient: the
 * tolerance follows the gradient's size (a tensor whose gradients are all
 * near 1e-3 gets a tight one, one near 10 a loose one), atol is the floor
 * for float32 noise in the numeric side. Every sampled entry is checked;
 * the error names how many exceeded and the worst one.
 * The analytic input gradients are computed three more ways and compared:
 *   - with every input passed through an identity op first, so the
 *     function's ops store into unset, NaN-poisoned buffers (their
 *     PD_OPF_GRAD_OVERWRITE path): must agree exactly;
 *   - with a second consumer of every checked input, loss + sum(x * c)
 *     recorded after the function, so the function's backward finds the
 *     gradient already holding c and must add to it (a backward that stores
 *     with = instead of += fails here), both into leaf gradients and through
 *     the overwrite path: must equal gradient + c up to float32 rounding.
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
    double rtol;           /* relative to the entry (default 1e-2) */
    double atol;           /* absolute floor (default 1e-4) */
    int max_checks;        /* entries per tensor, sampled evenly (default 64; <0: all) */
    uint64_t seed;         /* for the projection weights r */
    pd_params *params;     /* optional: also check these trainable parameters */
    bool verbose;          /* print one line per tensor: entries checked, exceeded, worst */
    double stol;           /* relative to the tensor's gradient rms (default 1e-2) */
} pd_gradcheck_opts;

/* Default options. */
pd_gradcheck_opts pd_gradcheck_defaults(void);

/* Returns PD_OK when every checked entry passes; otherwise PD_ERR_NUMERIC
 * with a message naming the tensor, how many entries exceeded, the worst
 * index, both values and the tolerance. max_err_out (optional) receives the
 * worst scaled error |diff| / tolerance (<= 1 passes), also on failure. */
pd_status pd_gradcheck(pd_gradcheck_fn fn, void *user, pd_gradcheck_input *inputs, int n_inputs,
                       const pd_gradcheck_opts *opts, double *max_err_out);

/* Redraws every trainable parameter of p from N(0, std^2) (seeded). A
 * gradient check on freshly initialised weights is vacuous where a layer
 * starts at zero (JiT's adaLN-Zero and final layer): nothing reaches the
 * parameters before it, and both gradients are 0. pd_gradcheck warns on
 * stderr about an identically zero parameter gradient; call this first. */
void pd_gradcheck_randomise_params(pd_params *p, uint64_t seed, float std);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
