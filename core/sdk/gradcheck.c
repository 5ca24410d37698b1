/* Central-difference gradient checker (see pixeldit/gradcheck.h). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/gradcheck.h"
#include "pixeldit/ops.h"
#include "pixeldit/rng.h"

pd_gradcheck_opts pd_gradcheck_defaults(void) {
    pd_gradcheck_opts o = {0};
    o.eps = 1e-3;
    o.rtol = 1e-2;
    o.atol = 1e-4;
    o.stol = 1e-2;
    o.max_checks = 64;
    o.seed = 1234;
    return o;
}

typedef struct {
    pd_gradcheck_fn fn;
    void *user;
    pd_gradcheck_input *inputs;
    int n;
    const float *r;   /* projection weights, length = output numel */
    size_t out_numel;
    float *const *c;  /* NULL, or per checked input the weights of a second consumer */
    double noise;     /* float32 rounding in a numeric derivative, estimated */
} gc_state;

/* One evaluation: returns L in float64 (NAN on error). When grads != NULL,
 * also runs backward and copies d L / d input_i into grads[i].
 * via_op: the function gets each checked input through an identity op, so
 * its ops see intermediates whose gradients start unset (and NaN-poisoned)
 * and take their overwrite path instead of accumulating into a leaf's
 * zeroed gradient. */
static double eval(gc_state *st, pd_ctx *ctx, float **grads, bool via_op, pd_status *err) {
    pd_ctx_reset(ctx);
    pd_ctx_set_grad_init(ctx, via_op ? PD_GRAD_INIT_POISON : PD_GRAD_INIT_LAZY);
    pd_tensor *ins[16], *fn_ins[16];
    for (int i = 0; i < st->n; i++) {
        ins[i] = pd_tensor_from(ctx, st->inputs[i].data, st->inputs[i].shape, st->inputs[i].ndim);
        if (ins[i] && grads && st->inputs[i].check) pd_tensor_set_requires_grad(ctx, ins[i]);
        fn_ins[i] = via_op && st->inputs[i].check ? pd_affine(ctx, ins[i], 1.0f, 0.0f) : ins[i];
    }
    pd_tensor *y = st->fn(ctx, fn_ins, st->n, st->user);
    if (!y || pd_ctx_status(ctx)) {
        *err = pd_ctx_status(ctx) ? pd_ctx_status(ctx) : PD_ERR_ARG;
        if (!pd_ctx_status(ctx)) pd_fail(*err, "gradcheck: function returned NULL");
        return NAN;
    }
    double L = 0;
    for (size_t i = 0; i < y->numel; i++) L += (double)st->r[i] * (double)y->data[i];
    if (grads) {
        pd_tensor *rt = pd_tensor_from(ctx, st->r, y->shape, y->ndim);
        pd_tensor *loss = pd_sum(ctx, pd_mul(ctx, y, rt));
        /* loss += sum(x_i * c_i), recorded after the function: its backward
         * runs first, so the function's backward finds x_i's gradient
         * already holding c_i and must add to it */
        for (int i = 0; st->c && i < st->n; i++)
            if (st->inputs[i].check) {
                pd_tensor *ct = pd_tensor_from(ctx, st->c[i], st->inputs[i].shape, st->inputs[i].ndim);
                loss = pd_add(ctx, loss, pd_sum(ctx, pd_mul(ctx, fn_ins[i], ct)));
            }
        *err = pd_backward(ctx, loss);
        if (*err) return NAN;
        for (int i = 0; i < st->n; i++)
            if (st->inputs[i].check)
                memcpy(grads[i], ins[i]->grad, ins[i]->numel * sizeof(float));
    }
    *err = PD_OK;
    return L;
}

/* Root mean square of g: the tensor's gradient scale. */
static double rms(const float *g, size_t n) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    return n ? sqrt(ss / (double)n) : 0;
}

/* Checks entries of one buffer x (n floats) whose analytic gradient is g:
 * every sampled entry, counting those that exceed the tolerance, then fails
 * naming the worst one. */
static pd_status check_buffer(gc_state *st, pd_ctx *ctx, const char *what, float *x, const float *g,
                              size_t n, const pd_gradcheck_opts *o, double *worst) {
    size_t stride = 1;
    if (o->max_checks > 0 && n > (size_t)o->max_checks) stride = n / (size_t)o->max_checks;
    double scale = rms(g, n), floor_tol = o->atol + st->noise + o->stol * scale;
    double tensor_worst = -1, w_ana = 0, w_num = 0; /* -1: the first entry becomes the worst */
    size_t checked = 0, exceeded = 0, w_i = 0;
    for (size_t i = 0; i < n; i += stride) {
        float saved = x[i];
        pd_status err;
        x[i] = (float)(saved + o->eps);
        double hi_x = (double)x[i];
        double Lp = eval(st, ctx, NULL, false, &err);
        if (err) return err;
        x[i] = (float)(saved - o->eps);
        double lo_x = (double)x[i];
        double Lm = eval(st, ctx, NULL, false, &err);
        x[i] = saved;
        if (err) return err;
        double num = (Lp - Lm) / (hi_x - lo_x); /* exact fp32 step */
        double ana = g[i];
        double tol = floor_tol + o->rtol * fmax(fabs(ana), fabs(num));
        double e = fabs(ana - num) / tol;
        checked++;
        if (!(e <= 1.0)) exceeded++;
        if (!(e <= tensor_worst)) tensor_worst = e, w_i = i, w_ana = ana, w_num = num; /* NaN is worst */
    }
    if (tensor_worst < 0) tensor_worst = 0; /* no entry checked */
    if (o->verbose)
        printf("  gradcheck %-28s %zu of %zu entries checked, %zu exceeded; gradient rms %.3g, numeric "
               "noise %.2g; worst err/tol %.3f at [%zu] (analytic %.6g, numeric %.6g)\n",
               what, checked, n, exceeded, scale, st->noise, tensor_worst, w_i, w_ana, w_num);
    if (!(tensor_worst <= *worst)) *worst = tensor_worst;
    if (exceeded)
        return pd_fail(PD_ERR_NUMERIC,
                       "gradcheck: %s: %zu of %zu checked entries exceed the tolerance; worst [%zu]: "
                       "analytic %.6g vs numeric %.6g (|diff| %.3g > atol %.1g + noise %.2g + stol %.1g * rms "
                       "%.3g + rtol %.1g * max)",
                       what, exceeded, checked, w_i, w_ana, w_num, fabs(w_ana - w_num), o->atol, st->noise,
                       o->stol, scale, o->rtol);
    return PD_OK;
}

/* The analytic input gradients again with a second consumer of every
 * checked input (loss + sum(x_i * c_i), c_i of about the gradient's scale),
 * once into leaf gradients and once through the overwrite path: each must
 * equal grads + c_i, but for float32 rounding. A backward that stores
 * instead of adding loses c_i (or its own part) and fails here. */
static pd_status check_second_consumer(gc_state *st, pd_ctx *ctx, float *const *grads, const pd_gradcheck_opts *o) {
    float *c[16] = {0}, *again[16] = {0};
    pd_status err = PD_OK;
    pd_rng rng;
    pd_rng_seed(&rng, o->seed ^ 0x5ecc0dULL);
    for (int i = 0; i < st->n && !err; i++) {
        if (!st->inputs[i].check) continue;
        size_t n = pd_shape_numel(st->inputs[i].shape, st->inputs[i].ndim);
        if (!(c[i] = malloc(n * sizeof(float))) || !(again[i] = malloc(n * sizeof(float)))) {
            err = pd_fail(PD_ERR_NOMEM, "gradcheck: out of memory");
            break;
        }
        double s = rms(grads[i], n);
        if (!(s > 0)) s = 1;
        /* |c| in [s/2, s], random sign: every entry's c is far above rounding */
        pd_rng_fill_uniform(&rng, c[i], n, 0.5f, 1.0f);
        for (size_t j = 0; j < n; j++) c[i][j] *= (float)(pd_rng_uniform(&rng) < 0.5f ? -s : s);
    }
    st->c = c;
    for (int via_op = 0; via_op < 2 && !err; via_op++) {
        eval(st, ctx, again, via_op, &err);
        if (err) {
            pd_fail(err, "gradcheck (second consumer): %s", pd_ctx_error(ctx));
            break;
        }
        for (int i = 0; i < st->n && !err; i++) {
            if (!st->inputs[i].check) continue;
            size_t n = pd_shape_numel(st->inputs[i].shape, st->inputs[i].ndim), bad = 0, w = 0;
            double big = 0, worst = 0;
            for (size_t j = 0; j < n; j++) big = fmax(big, fabs(grads[i][j]) + fabs(c[i][j]));
            for (size_t j = 0; j < n; j++) {
                double want = (double)grads[i][j] + c[i][j];
                double tol = 1e-4 * (fabs(grads[i][j]) + fabs(c[i][j])) + 1e-5 * big;
                double e = fabs(again[i][j] - want) / tol;
                if (!(e <= 1)) bad++;
                if (!(e <= worst)) worst = e, w = j;
            }
            if (bad)
                err = pd_fail(PD_ERR_NUMERIC,
                              "gradcheck: input %d: with a second consumer adding %.6g to its gradient, "
                              "[%zu] is %.6g, expected %.6g + %.6g (%zu of %zu entries wrong%s): a backward "
                              "stores where it must add",
                              i, (double)c[i][w], w, (double)again[i][w], (double)grads[i][w],
                              (double)c[i][w], bad, n, via_op ? ", overwrite path" : "");
        }
    }
    st->c = NULL;
    for (int i = 0; i < st->n; i++) free(c[i]), free(again[i]);
    return err;
}

/* The analytic input gradients again, through the overwrite path: they
 * must equal the accumulate path's (grads) exactly. */
static pd_status check_overwrite_path(gc_state *st, pd_ctx *ctx, float *const *grads) {
    float *again[16] = {0};
    pd_status err = PD_OK;
    for (int i = 0; i < st->n && !err; i++)
        if (st->inputs[i].check &&
            !(again[i] = malloc(pd_shape_numel(st->inputs[i].shape, st->inputs[i].ndim) *
                                sizeof(float))))
            err = pd_fail(PD_ERR_NOMEM, "gradcheck: out of memory");
    if (!err) {
        eval(st, ctx, again, true, &err);
        if (err) pd_fail(err, "gradcheck (overwrite path): %s", pd_ctx_error(ctx));
    }
    for (int i = 0; i < st->n && !err; i++) {
        if (!st->inputs[i].check) continue;
        size_t n = pd_shape_numel(st->inputs[i].shape, st->inputs[i].ndim);
        for (size_t j = 0; j < n; j++)
            if (!(again[i][j] == grads[i][j])) {
                err = pd_fail(PD_ERR_NUMERIC,
                              "gradcheck: input %d[%zu]: %.9g when its gradient starts unset "
                              "(overwrite path) but %.9g when it accumulates",
                              i, j, (double)again[i][j], (double)grads[i][j]);
                break;
            }
    }
    for (int i = 0; i < st->n; i++) free(again[i]);
    return err;
}

pd_status pd_gradcheck(pd_gradcheck_fn fn, void *user, pd_gradcheck_input *inputs, int n_inputs,
                       const pd_gradcheck_opts *opts, double *max_err_out) {
    pd_gradcheck_opts o = opts ? *opts : pd_gradcheck_defaults();
    if (!fn || n_inputs < 0 || n_inputs > 16)
        return pd_fail(PD_ERR_ARG, "gradcheck: bad arguments (fn NULL or n_inputs > 16)");
    /* a small first chunk (the arena grows as needed): the default 64 MiB,
     * filled by glibc under MALLOC_PERTURB_ (meson test sets it) on every
     * check, made test_grad_basic take 13 s instead of 0.2 */
    pd_ctx *ctx = pd_ctx_new((size_t)1 << 20);
    if (!ctx) return PD_ERR_NOMEM;
    gc_state st = {.fn = fn, .user = user, .inputs = inputs, .n = n_inputs};
    pd_status err = PD_OK;
    float *grads[16] = {0};
    float **pgrads = NULL;
    float *r = NULL;
    double worst = 0;

    /* First pass to learn the output size. */
    pd_tensor *y0 = NULL;
    {
        pd_tensor *ins[16];
        for (int i = 0; i < n_inputs; i++)
            ins[i] = pd_tensor_from(ctx, inputs[i].data, inputs[i].shape, inputs[i].ndim);
        pd_tensor *y = fn(ctx, ins, n_inputs, user);
        if (!y) {
            err = pd_ctx_status(ctx) ? pd_ctx_status(ctx) : PD_ERR_ARG;
            pd_fail(err, "gradcheck: forward failed: %s", pd_ctx_error(ctx));
            goto done;
        }
        st.out_numel = y->numel;
        y0 = y;
    }
    r = malloc(st.out_numel * sizeof(float));
    if (!r) {
        err = pd_fail(PD_ERR_NOMEM, "gradcheck: out of memory");
        goto done;
    }
    pd_rng rng;
    pd_rng_seed(&rng, o.seed);
    pd_rng_fill_uniform(&rng, r, st.out_numel, -1.0f, 1.0f);
    st.r = r;
    /* The numeric derivative divides float32 rounding of L's terms by the
     * step: about FLT_EPSILON * ||r * y||_2 / eps (rounding errors add up
     * like a random walk). A tensor whose gradient is below this cannot be
     * resolved by finite differences at this step. */
    double ry = 0;
    for (size_t i = 0; i < st.out_numel; i++) ry += (double)r[i] * y0->data[i] * ((double)r[i] * y0->data[i]);
    st.noise = FLT_EPSILON * sqrt(ry) / o.eps;
    for (int i = 0; i < n_inputs; i++) {
        grads[i] = calloc(pd_shape_numel(inputs[i].shape, inputs[i].ndim), sizeof(float));
        if (!grads[i]) {
            err = pd_fail(PD_ERR_NOMEM, "gradcheck: out of memory");
            goto done;
        }
    }
    pgrads = grads;
    if (o.params) pd_params_zero_grad(o.params);
    eval(&st, ctx, pgrads, false, &err);
    if (err) {
        pd_fail(err, "gradcheck: %s", pd_ctx_error(ctx));
        goto done;
    }
    /* Parameter gradients are read before anything else touches them. */
    float **pgrad_copy = NULL;
    int np = o.params ? pd_params_count(o.params) : 0;
    if (np) {
        pgrad_copy = calloc((size_t)np, sizeof *pgrad_copy);
        for (int p = 0; pgrad_copy && p < np; p++) {
            pd_tensor *t = pd_params_at(o.params, p);
            if (!t->grad) continue;
            pgrad_copy[p] = malloc(t->numel * sizeof(float));
            if (pgrad_copy[p]) memcpy(pgrad_copy[p], t->grad, t->numel * sizeof(float));
        }
    }
    /* An identically zero gradient passes against finite differences that
     * are zero too: say so, the check of that tensor proves nothing */
    for (int p = 0; pgrad_copy && p < np; p++) {
        const pd_tensor *t = pd_params_at(o.params, p);
        size_t j = 0;
        while (pgrad_copy[p] && j < t->numel && pgrad_copy[p][j] == 0.0f) j++;
        if (pgrad_copy[p] && j == t->numel)
            fprintf(stderr, "pd_gradcheck: warning: the gradient of %s is identically zero, so its "
                    "check proves nothing (a zero-initialised layer on its path? call "
                    "pd_gradcheck_randomise_params first)\n", t->name);
    }
    err = check_overwrite_path(&st, ctx, grads);
    if (!err) err = check_second_consumer(&st, ctx, grads, &o);
    for (int i = 0; i < n_inputs && !err; i++) {
        if (!inputs[i].check) continue;
        char what[32];
        snprintf(what, sizeof what, "input %d", i);
        err = check_buffer(&st, ctx, what, inputs[i].data, grads[i],
                           pd_shape_numel(inputs[i].shape, inputs[i].ndim), &o, &worst);
    }
    for (int p = 0; p < np && !err; p++) {
        pd_tensor *t = pd_params_at(o.params, p);
        if (!pgrad_copy || !pgrad_copy[p]) continue;
        err = check_buffer(&st, ctx, t->name, t->data, pgrad_copy[p], t->numel, &o, &worst);
    }
    for (int p = 0; pgrad_copy && p < np; p++) free(pgrad_copy[p]);
    free(pgrad_copy);
done:
    for (int i = 0; i < n_inputs; i++) free(grads[i]);
    free(r);
    pd_ctx_free(ctx);
    if (max_err_out) *max_err_out = worst;
    return err;
}

void pd_gradcheck_randomise_params(pd_params *p, uint64_t seed, float std) {
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    for (int i = 0; p && i < pd_params_count(p); i++) {
        pd_tensor *t = pd_params_at(p, i);
        if (pd_params_flags_at(p, i) & PD_PARAM_FROZEN) continue;
        pd_rng_fill_normal(&rng, t->data, t->numel, 0.0f, std);
    }
}
