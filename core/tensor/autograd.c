/* Op application (forward + tape recording) and the backward walk. */
#include <math.h>
#include <string.h>

#include "ctx_internal.h"
#include "pixeldit/runtime.h"
#include "tape.h"

pd_tensor *pd_op_apply(pd_ctx *ctx, const pd_op_def *def, pd_tensor *const *in, int n_in,
                       const int *out_shape, int out_ndim, const void *attr, size_t attr_size) {
    return pd_op_apply_flags(ctx, def, 0, in, n_in, out_shape, out_ndim, attr, attr_size);
}

pd_tensor *pd_op_apply_flags(pd_ctx *ctx, const pd_op_def *def, unsigned op_flags,
                             pd_tensor *const *in, int n_in, const int *out_shape, int out_ndim,
                             const void *attr, size_t attr_size) {
    if (!ctx || ctx->status != PD_OK) return NULL;
    if (!def || !def->forward) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "op_apply: op definition without forward");
        return NULL;
    }
    if (n_in < 0 || n_in > PD_MAX_INPUTS) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "%s: %d inputs, at most %d", def->name, n_in,
                    PD_MAX_INPUTS);
        return NULL;
    }
    bool needs_grad = false;
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) {
            pd_ctx_fail(ctx, PD_ERR_ARG, "%s: input %d is NULL", def->name, i);
            return NULL;
        }
        if (pd_tensor_check(ctx, in[i], def->name)) return NULL;
        if (in[i]->flags & PD_TF_REQUIRES_GRAD) needs_grad = true;
    }
    needs_grad = needs_grad && ctx->grad_enabled && def->backward;

    pd_tensor *out = pd_tensor_empty(ctx, out_shape, out_ndim);
    if (!out) return NULL;
    out->name = def->name;

    void *attr_copy = NULL;
    if (attr_size) {
        attr_copy = pd_ctx_alloc(ctx, attr_size);
        if (!attr_copy) return NULL;
        memcpy(attr_copy, attr, attr_size);
    }

    ctx->recording_now = needs_grad;
    double t0 = ctx->profile ? pd_now_seconds() : 0;
    pd_status s = def->forward(ctx, out, in, n_in, attr_copy);
    if (ctx->profile) pd_ctx_profile_add(ctx, def->name, ctx->scope, pd_now_seconds() - t0, false);
    ctx->recording_now = false;
    if (s != PD_OK) {
        if (ctx->status == PD_OK) pd_ctx_fail(ctx, s, "%s: forward failed", def->name);
        return NULL;
    }
    if (needs_grad) {
        pd_node *node = pd_ctx_alloc(ctx, sizeof *node);
        if (!node) return NULL;
        node->def = def;
        node->out = out;
        node->n_in = n_in;
        for (int i = 0; i < n_in; i++) node->in[i] = in[i];
        node->attr = attr_copy;
        node->op_flags = op_flags;
        node->scope = ctx->scope;
        node->prev = ctx->tape;
        ctx->tape = node;
        ctx->n_nodes++;
        out->node = node;
        out->flags |= PD_TF_REQUIRES_GRAD;
    }
    return out;
}

/* Gives a tensor that needs a gradient its buffer (arena tensors only:
 * parameters and leaves already have theirs). zeroed: always zero it (views
 * accumulate into slices of it); otherwise per the context's grad_init. */
static pd_status ensure_grad(pd_ctx *ctx, pd_tensor *t, bool zeroed) {
    if (t->grad || !(t->flags & PD_TF_REQUIRES_GRAD)) return PD_OK;
    t->grad = pd_ctx_alloc(ctx, t->numel * sizeof(float));
    if (!t->grad) return ctx->status;
    if (zeroed || ctx->grad_init == PD_GRAD_INIT_ZERO) {
        memset(t->grad, 0, t->numel * sizeof(float));
        return PD_OK;
    }
    if (ctx->grad_init == PD_GRAD_INIT_POISON)
        for (size_t i = 0; i < t->numel; i++) t->grad[i] = NAN;
    t->flags |= PD_TF_GRAD_UNSET;
    return PD_OK;
}

/* Before node n's backward: every input gradient exists, and the unset ones
 * are zeroed unless the op overwrites (and no input appears twice, since
 * the second write would have to add). */
static pd_status prepare_input_grads(pd_ctx *ctx, const pd_node *n) {
    bool overwrite = n->op_flags & PD_OPF_GRAD_OVERWRITE;
    for (int i = 0; i < n->n_in; i++) {
        pd_status s = ensure_grad(ctx, n->in[i], false);
        if (s) return s;
        for (int j = 0; j < i; j++)
            if (n->in[j] == n->in[i]) overwrite = false;
    }
    if (!overwrite)
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i]->flags & PD_TF_GRAD_UNSET) {
                memset(n->in[i]->grad, 0, n->in[i]->numel * sizeof(float));
                n->in[i]->flags &= ~(uint32_t)PD_TF_GRAD_UNSET;
            }
    return PD_OK;
}

pd_status pd_backward(pd_ctx *ctx, pd_tensor *loss) {
    if (!ctx) return pd_fail(PD_ERR_ARG, "backward: context is NULL");
    if (ctx->status != PD_OK) return ctx->status;
    pd_status s = pd_tensor_check(ctx, loss, "backward");
    if (s) return s;
    if (ctx->backward_done)
        return pd_ctx_fail(ctx, PD_ERR_STATE,
                           "backward: already run this step (call pd_ctx_reset first)");
    if (loss->numel != 1) {
        char b[64];
        return pd_ctx_fail(ctx, PD_ERR_SHAPE, "backward: loss must be a scalar, got shape %s",
                           pd_shape_str(loss, b, sizeof b));
    }
    if (!loss->node)
        return pd_ctx_fail(ctx, PD_ERR_STATE,
                           "backward: loss was not recorded on the tape (grad mode off, or "
                           "it does not depend on anything that needs a gradient)");
    ctx->backward_done = true;
    if ((s = ensure_grad(ctx, loss, true))) return s;
    loss->grad[0] = 1.0f;

    /* Nodes are recorded in execution order, so newest-first is a valid
     * reverse topological order. */
    for (pd_node *n = ctx->tape; n; n = n->prev) {
        if (!n->out->grad) continue; /* no gradient reached this op */
        if (!n->def->backward) continue;
        if ((s = prepare_input_grads(ctx, n))) return s;
        double t0 = ctx->profile ? pd_now_seconds() : 0;
        s = n->def->backward(ctx, n->out, n->in, n->n_in, n->attr);
        if (ctx->profile) pd_ctx_profile_add(ctx, n->def->name, n->scope, pd_now_seconds() - t0, true);
        if (s != PD_OK) {
            if (ctx->status == PD_OK)
                pd_ctx_fail(ctx, s, "%s: backward failed", n->def->name);
            return ctx->status;
        }
        for (int i = 0; i < n->n_in; i++) n->in[i]->flags &= ~(uint32_t)PD_TF_GRAD_UNSET;
    }
    return PD_OK;
}

pd_tensor *pd_op_alias(pd_ctx *ctx, pd_tensor *x, const int *shape, int ndim, size_t offset,
                       const char *name) {
    if (!ctx || ctx->status != PD_OK) return NULL;
    if (pd_tensor_check(ctx, x, name)) return NULL;
    size_t n = pd_shape_numel(shape, ndim);
    if (offset + n > x->numel) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: alias of %zu elements at %zu exceeds %zu", name, n,
                    offset, x->numel);
        return NULL;
    }
    pd_tensor *v = pd_ctx_new_header(ctx);
    if (!v) return NULL;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) v->shape[i] = shape[i];
    v->numel = n;
    v->data = x->data + offset;
    v->name = name;
    v->flags |= PD_TF_VIEW;
    if (ctx->grad_enabled && (x->flags & PD_TF_REQUIRES_GRAD)) {
        /* Consumers of v accumulate straight into x's gradient. */
        if (ensure_grad(ctx, x, true)) return NULL;
        v->grad = x->grad + offset;
        v->flags |= PD_TF_REQUIRES_GRAD;
    }
    return v;
}
