/* Arena tensors: creation, shape helpers and liveness checks. */
#include <stdio.h>
#include <string.h>

#include "ctx_internal.h"

size_t pd_shape_numel(const int *shape, int ndim) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

bool pd_shape_equal(const pd_tensor *a, const pd_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

char *pd_shape_str(const pd_tensor *t, char *buf, size_t size) {
    if (!size) return buf;
    if (!t) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    size_t o = 0;
    o += (size_t)snprintf(buf + o, size - o, "(");
    for (int i = 0; i < t->ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, i ? ", %d" : "%d", t->shape[i]);
    if (o < size) snprintf(buf + o, size - o, t->ndim == 1 ? ",)" : ")");
    return buf;
}

int pd_dim(const pd_tensor *t, int i) { return t->shape[i < 0 ? t->ndim + i : i]; }

pd_status pd_tensor_check(pd_ctx *ctx, const pd_tensor *t, const char *what) {
    if (!t) return pd_ctx_fail(ctx, PD_ERR_ARG, "%s: tensor is NULL", what);
    if (t->magic != PD_TENSOR_MAGIC)
        return pd_ctx_fail(ctx, PD_ERR_STATE,
                           "%s: tensor was freed (a step temporary used after pd_ctx_reset?)",
                           what);
    if ((t->flags & PD_TF_ARENA) && t->step != ctx->step)
        return pd_ctx_fail(ctx, PD_ERR_STATE,
                           "%s: tensor belongs to an earlier step (used after pd_ctx_reset)",
                           what);
    return PD_OK;
}

static bool shape_ok(pd_ctx *ctx, const int *shape, int ndim, const char *what) {
    if (ndim < 0 || ndim > PD_MAX_DIMS) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: rank %d outside 0..%d", what, ndim, PD_MAX_DIMS);
        return false;
    }
    if (ndim && !shape) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "%s: shape is NULL for rank %d", what, ndim);
        return false;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] <= 0) {
            pd_ctx_fail(ctx, PD_ERR_SHAPE, "%s: dim %d is %d, must be positive", what, i,
                        shape[i]);
            return false;
        }
    return true;
}

pd_tensor *pd_tensor_empty(pd_ctx *ctx, const int *shape, int ndim) {
    if (!ctx || ctx->status != PD_OK) return NULL;
    if (!shape_ok(ctx, shape, ndim, "tensor")) return NULL;
    pd_tensor *t = pd_ctx_new_header(ctx);
    if (!t) return NULL;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = pd_shape_numel(shape, ndim);
    t->data = pd_ctx_alloc(ctx, t->numel * sizeof(float));
    if (!t->data) return NULL;
    t->name = "tensor";
    return t;
}

pd_tensor *pd_tensor_zeros(pd_ctx *ctx, const int *shape, int ndim) {
    pd_tensor *t = pd_tensor_empty(ctx, shape, ndim);
    if (t) memset(t->data, 0, t->numel * sizeof(float));
    return t;
}

pd_tensor *pd_tensor_from(pd_ctx *ctx, const float *data, const int *shape, int ndim) {
    pd_tensor *t = pd_tensor_empty(ctx, shape, ndim);
    if (t && data) memcpy(t->data, data, t->numel * sizeof(float));
    return t;
}

pd_status pd_tensor_set_requires_grad(pd_ctx *ctx, pd_tensor *t) {
    pd_status s = pd_tensor_check(ctx, t, "set_requires_grad");
    if (s) return s;
    if (!(t->flags & PD_TF_ARENA))
        return pd_ctx_fail(ctx, PD_ERR_ARG, "set_requires_grad: only arena leaves; "
                                            "parameters get gradients from pd_params");
    if (!t->grad) {
        t->grad = pd_ctx_alloc(ctx, t->numel * sizeof(float));
        if (!t->grad) return ctx->status;
        memset(t->grad, 0, t->numel * sizeof(float));
    }
    t->flags |= PD_TF_REQUIRES_GRAD;
    return PD_OK;
}

pd_tensor *pd_view(pd_ctx *ctx, pd_tensor *t, const int *shape, int ndim) {
    if (!ctx || ctx->status != PD_OK || !t) return NULL;
    if (pd_tensor_check(ctx, t, "view")) return NULL;
    if (t->node) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "view: only leaves can be viewed; use pd_reshape for op outputs");
        return NULL;
    }
    if (!shape_ok(ctx, shape, ndim, "view")) return NULL;
    if (pd_shape_numel(shape, ndim) != t->numel) {
        char b[64];
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "view: %s (%zu elements) cannot be viewed with %zu elements",
                    pd_shape_str(t, b, sizeof b), t->numel, pd_shape_numel(shape, ndim));
        return NULL;
    }
    pd_tensor *v = pd_ctx_new_header(ctx);
    if (!v) return NULL;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) v->shape[i] = shape[i];
    v->numel = t->numel;
    v->data = t->data;
    v->grad = t->grad;
    v->flags = PD_TF_ARENA | PD_TF_VIEW | (t->flags & PD_TF_REQUIRES_GRAD);
    v->name = t->name;
    return v;
}
