/* Calls into a plugin's forward with the ABI contract checked on the way
 * out (ABI 1.1): a decoder returns exactly (B, C, H, W), an attention
 * returns q's shape, a loss returns one value. A wrong shape is refused
 * here, naming the plugin, instead of being broadcast or reshaped into
 * silent garbage further on; an error raised inside the plugin gets the
 * plugin's name in front. The plugin's ops are timed as its own part of
 * the profile (pd_ctx_profile_scope). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ctx_internal.h"
#include "plugin_internal.h"

/* "decoder plugin NAME: " */
static void who(const pd_plugin *pl, char *buf, size_t cap) {
    snprintf(buf, cap, "%s plugin %s: ", pd_plugin_kind_name(pl->desc.kind), pl->desc.name);
}

/* After forward: a NULL result or a sticky error gets the plugin's name. */
static bool forward_failed(const pd_plugin *pl, pd_ctx *ctx, const pd_tensor *out) {
    char prefix[96];
    who(pl, prefix, sizeof prefix);
    if (pd_ctx_status(ctx)) {
        pd_ctx_error_prefix(ctx, prefix);
        return true;
    }
    if (!out) {
        pd_ctx_fail(ctx, PD_ERR_PLUGIN, "%sforward returned NULL without setting an error", prefix);
        return true;
    }
    return false;
}

static bool same_shape(const pd_tensor *t, const int *shape, int ndim) {
    if (t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return false;
    return true;
}

static void shape_text(const int *shape, int ndim, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? ", " : "", shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
}

static pd_tensor *wrong_shape(const pd_plugin *pl, pd_ctx *ctx, const char *what,
                              const char *layout, const int *shape, int ndim,
                              const pd_tensor *out) {
    char want[96], found[96];
    shape_text(shape, ndim, want, sizeof want);
    pd_shape_str(out, found, sizeof found);
    pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s plugin %s: %s: expected %s %s, found %s",
                pd_plugin_kind_name(pl->desc.kind), pl->desc.name, what, layout, want, found);
    return NULL;
}

/* Index of the first NaN or infinity in t, or -1. */
static long first_nonfinite(const pd_tensor *t) {
    for (size_t i = 0; t && t->data && i < t->numel; i++)
        if (!isfinite(t->data[i])) return (long)i;
    return -1;
}

static bool all_finite(pd_tensor *const *ts, int n) {
    for (int i = 0; i < n; i++)
        if (first_nonfinite(ts[i]) >= 0) return false;
    return true;
}

/* A non-finite value in a plugin's output made from finite inputs is the
 * plugin's: refused here, naming it, the tensor and where, instead of a
 * "loss is nan" later. (From non-finite inputs it is passed on: the fault
 * lies upstream.) The trainer adds the step. */
static pd_tensor *nonfinite(const pd_plugin *pl, pd_ctx *ctx, const char *what, pd_tensor *out,
                            pd_tensor *const *inputs, int n_inputs) {
    long at = first_nonfinite(out);
    if (at < 0 || !all_finite(inputs, n_inputs)) return out;
    char idx[96] = "(";
    size_t o = 1, rest = (size_t)at, stride = out->numel;
    for (int d = 0; d < out->ndim && o < sizeof idx; d++) {
        stride /= (size_t)out->shape[d];
        o += (size_t)snprintf(idx + o, sizeof idx - o, "%s%zu", d ? ", " : "", rest / stride);
        rest %= stride;
    }
    if (o < sizeof idx) snprintf(idx + o, sizeof idx - o, ")");
    float v = out->data[at];
    pd_ctx_fail(ctx, PD_ERR_NUMERIC, "%s plugin %s: %s: non-finite value %s at %s from finite inputs",
                pd_plugin_kind_name(pl->desc.kind), pl->desc.name, what,
                isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", idx);
    return NULL;
}

pd_tensor *pd_plugin_decoder_forward(const pd_plugin *pl, void *state, pd_ctx *ctx,
                                     const pd_decoder_inputs *in) {
    if (pd_ctx_status(ctx)) return NULL;
    const char *outer = pd_ctx_profile_scope(ctx, pl->label);
    pd_tensor *out = pl->vt.decoder.forward(state, ctx, in);
    pd_ctx_profile_scope(ctx, outer);
    if (forward_failed(pl, ctx, out)) return NULL;
    /* z is the (B, C, H, W) input image: x_pred has exactly its shape */
    if (!same_shape(out, in->z->shape, in->z->ndim))
        return wrong_shape(pl, ctx, "x_pred", "(B, C, H, W) =", in->z->shape, in->z->ndim, out);
    /* recording, with differentiable tokens: an x_pred no gradient flows
     * through (e.g. z returned) trains nothing, neither this plugin's
     * parameters nor the backbone: refused now, not as a backward error */
    if (ctx->grad_enabled && in->tokens && (in->tokens->flags & PD_TF_REQUIRES_GRAD) &&
        !(out->flags & PD_TF_REQUIRES_GRAD)) {
        pd_ctx_fail(ctx, PD_ERR_PLUGIN, "decoder plugin %s: x_pred depends on neither the tokens nor "
                    "any parameter (no gradient can flow through it): expected a differentiable "
                    "function of them", pl->desc.name);
        return NULL;
    }
    pd_tensor *const ins[] = {in->tokens, in->t_emb, in->y_emb, in->c, in->z};
    return nonfinite(pl, ctx, "x_pred", out, ins, 5);
}

pd_tensor *pd_plugin_attention_forward(const pd_plugin *pl, void *state, pd_ctx *ctx,
                                       pd_tensor *q, pd_tensor *k, pd_tensor *v, float scale) {
    if (pd_ctx_status(ctx)) return NULL;
    const char *outer = pd_ctx_profile_scope(ctx, pl->label);
    pd_tensor *out = pl->vt.attention.forward(state, ctx, q, k, v, scale);
    pd_ctx_profile_scope(ctx, outer);
    if (forward_failed(pl, ctx, out)) return NULL;
    if (!same_shape(out, q->shape, q->ndim))
        return wrong_shape(pl, ctx, "output", "q's shape (B, H, N, d) =", q->shape, q->ndim, out);
    return nonfinite(pl, ctx, "output", out, (pd_tensor *const[]){q, k, v}, 3);
}

pd_tensor *pd_plugin_loss_forward(const pd_plugin *pl, void *state, pd_ctx *ctx,
                                  const pd_loss_inputs *in, pd_loss_parts *parts) {
    if (pd_ctx_status(ctx)) return NULL;
    memset(parts, 0, sizeof *parts);
    const char *outer = pd_ctx_profile_scope(ctx, pl->label);
    pd_tensor *out = pl->vt.loss.forward(state, ctx, in, parts);
    pd_ctx_profile_scope(ctx, outer);
    if (forward_failed(pl, ctx, out)) return NULL;
    if (out->numel != 1) {
        char found[96];
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "loss plugin %s: loss: expected a scalar (1 value), found %s",
                    pl->desc.name, pd_shape_str(out, found, sizeof found));
        return NULL;
    }
    if (parts->n < 0 || parts->n > PD_LOSS_MAX_PARTS) {
        pd_ctx_fail(ctx, PD_ERR_PLUGIN, "loss plugin %s: parts.n: expected 0..%d, found %d",
                    pl->desc.name, PD_LOSS_MAX_PARTS, parts->n);
        return NULL;
    }
    for (int i = 0; i < parts->n; i++)
        if (!pd_plugin_name_ok(parts->name[i], PD_PLUGIN_KEY_NAME_MAX)) {
            pd_ctx_fail(ctx, PD_ERR_PLUGIN,
                        "loss plugin %s: parts.name[%d]: expected [a-z0-9_]+ (at most %d "
                        "characters), found %s",
                        pl->desc.name, i, PD_PLUGIN_KEY_NAME_MAX - 1,
                        parts->name[i] ? parts->name[i] : "NULL");
            return NULL;
        }
    return nonfinite(pl, ctx, "loss", out, (pd_tensor *const[]){in->x_pred, in->x, in->v, in->v_pred}, 4);
}
