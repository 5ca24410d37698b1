/* Shape ops: concat, slice, reshape, permute. Reshape and contiguous
 * slices alias their input (pd_op_alias: data and gradient shared, no
 * copy); the rest copy, so every output is contiguous. */
#include "op_util.h"
#include "tape.h"

/* Product of shape[from..to). */
static size_t dims_prod(const int *shape, int from, int to) {
    size_t n = 1;
    for (int i = from; i < to; i++) n *= (size_t)shape[i];
    return n;
}

/* ---- concat -------------------------------------------------------------- */
/* xs[i] (..., n_i, ...) along axis -> out (..., sum n_i, ...). Viewed as
 * (outer, n_i * inner) blocks that are laid side by side in each outer row. */

typedef struct { int axis; } axis_attr;

static pd_status concat_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx;
    int axis = ((const axis_attr *)attr)->axis;
    size_t outer = dims_prod(out->shape, 0, axis), inner = dims_prod(out->shape, axis + 1, out->ndim);
    size_t row = (size_t)out->shape[axis] * inner;
    size_t off = 0;
    for (int i = 0; i < n_in; i++) {
        size_t len = (size_t)in[i]->shape[axis] * inner;
        for (size_t o = 0; o < outer; o++)
            memcpy(out->data + o * row + off, in[i]->data + o * len, len * sizeof(float));
        off += len;
    }
    return PD_OK;
}

static pd_status concat_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx;
    int axis = ((const axis_attr *)attr)->axis;
    size_t outer = dims_prod(out->shape, 0, axis), inner = dims_prod(out->shape, axis + 1, out->ndim);
    size_t row = (size_t)out->shape[axis] * inner;
    size_t off = 0;
    for (int i = 0; i < n_in; i++) {
        size_t len = (size_t)in[i]->shape[axis] * inner;
        if (in[i]->grad)
            for (size_t o = 0; o < outer; o++) {
                float *dx = in[i]->grad + o * len;
                const float *dy = out->grad + o * row + off;
                for (size_t k = 0; k < len; k++) dx[k] += dy[k];
            }
        off += len;
    }
    return PD_OK;
}

static const pd_op_def concat_op = {"concat", concat_fwd, concat_bwd};

pd_tensor *pd_concat(pd_ctx *ctx, pd_tensor *const *xs, int n, int axis) {
    PD_OP_GUARD(ctx, xs);
    if (n <= 0) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "concat: %d inputs, need at least one", n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!xs[i]) {
            pd_ctx_fail(ctx, PD_ERR_ARG, "concat: input %d is NULL", i);
            return NULL;
        }
    /* A node holds at most PD_MAX_INPUTS inputs: fold longer lists in steps
     * (the first chunk's result becomes the first input of the next). */
    if (n > PD_MAX_INPUTS) {
        pd_tensor *head = pd_concat(ctx, xs, PD_MAX_INPUTS, axis);
        pd_tensor *rest[PD_MAX_INPUTS];
        int done = PD_MAX_INPUTS;
        while (head && done < n) {
            int take = n - done < PD_MAX_INPUTS - 1 ? n - done : PD_MAX_INPUTS - 1;
            rest[0] = head;
            for (int i = 0; i < take; i++) rest[1 + i] = xs[done + i];
            head = pd_concat(ctx, rest, take + 1, axis);
            done += take;
        }
        return head;
    }
    const pd_tensor *x0 = xs[0];
    int ax = pd_axis(axis, x0->ndim);
    if (ax < 0) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "concat: axis %d out of range for rank %d (input 0 %s)", axis,
                    x0->ndim, SHP(x0));
        return NULL;
    }
    int shape[PD_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    for (int i = 1; i < n; i++) {
        bool ok = xs[i]->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++)
            if (d != ax && xs[i]->shape[d] != x0->shape[d]) ok = false;
        if (!ok) {
            pd_ctx_fail(ctx, PD_ERR_SHAPE,
                        "concat: input %d %s does not match input 0 %s outside axis %d", i,
                        SHP(xs[i]), SHP(x0), ax);
            return NULL;
        }
        shape[ax] += xs[i]->shape[ax];
    }
    axis_attr at = {ax};
    return pd_op_apply(ctx, &concat_op, xs, n, shape, x0->ndim, &at, sizeof at);
}

/* ---- slice ---------------------------------------------------------------- */
/* x (..., n, ...) -> out (..., len, ...) = x[..., start:start+len, ...]. */

typedef struct { int axis, start; } slice_attr;

static pd_status slice_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const slice_attr *at = attr;
    const pd_tensor *x = in[0];
    size_t outer = dims_prod(x->shape, 0, at->axis), inner = dims_prod(x->shape, at->axis + 1, x->ndim);
    size_t xrow = (size_t)x->shape[at->axis] * inner, len = (size_t)out->shape[at->axis] * inner;
    size_t off = (size_t)at->start * inner;
    for (size_t o = 0; o < outer; o++)
        memcpy(out->data + o * len, x->data + o * xrow + off, len * sizeof(float));
    return PD_OK;
}

static pd_status slice_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const slice_attr *at = attr;
    pd_tensor *x = in[0];
    if (!x->grad) return PD_OK;
    size_t outer = dims_prod(x->shape, 0, at->axis), inner = dims_prod(x->shape, at->axis + 1, x->ndim);
    size_t xrow = (size_t)x->shape[at->axis] * inner, len = (size_t)out->shape[at->axis] * inner;
    size_t off = (size_t)at->start * inner;
    for (size_t o = 0; o < outer; o++) {
        float *dx = x->grad + o * xrow + off;
        const float *dy = out->grad + o * len;
        for (size_t k = 0; k < len; k++) dx[k] += dy[k];
    }
    return PD_OK;
}

static const pd_op_def slice_op = {"slice", slice_fwd, slice_bwd};

pd_tensor *pd_slice(pd_ctx *ctx, pd_tensor *x, int axis, int start, int len) {
    PD_OP_GUARD(ctx, x);
    int ax = pd_axis(axis, x->ndim);
    if (ax < 0) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "slice: axis %d out of range for x %s", axis, SHP(x));
        return NULL;
    }
    if (start < 0 || len <= 0 || start > x->shape[ax] - len) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "slice: [%d, %d + %d) is not inside dim %d (size %d) of x %s",
                    start, start, len, ax, x->shape[ax], SHP(x));
        return NULL;
    }
    int shape[PD_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[ax] = len;
    size_t inner = dims_prod(x->shape, ax + 1, x->ndim);
    /* A slice of the outermost non-unit dim is one contiguous block: alias
     * it instead of copying. */
    if (dims_prod(x->shape, 0, ax) == 1)
        return pd_op_alias(ctx, x, shape, x->ndim, (size_t)start * inner, "slice");
    slice_attr at = {ax, start};
    return pd_op_apply(ctx, &slice_op, &x, 1, shape, x->ndim, &at, sizeof at);
}

/* ---- reshape ---------------------------------------------------------------- */
/* Same numel, same row-major order: an alias of the input (no copy, and
 * the gradient lands directly in the input's). */

pd_tensor *pd_reshape(pd_ctx *ctx, pd_tensor *x, const int *shape, int ndim) {
    PD_OP_GUARD(ctx, x);
    if (ndim < 0 || ndim > PD_MAX_DIMS || (ndim && !shape)) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "reshape: rank %d outside 0..%d (or shape NULL) for x %s", ndim,
                    PD_MAX_DIMS, SHP(x));
        return NULL;
    }
    int s[PD_MAX_DIMS] = {0};
    int infer = -1;
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] <= 0) {
            pd_ctx_fail(ctx, PD_ERR_ARG,
                        "reshape: dim %d is %d (only one -1 allowed, others positive) for x %s", i,
                        shape[i], SHP(x));
            return NULL;
        } else {
            known *= (size_t)shape[i];
        }
    }
    if (infer >= 0 && x->numel % known == 0) s[infer] = (int)(x->numel / known);
    if (pd_shape_numel(s, ndim) != x->numel || (infer >= 0 && s[infer] <= 0)) {
        char want[80] = "(";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), i ? ", %d" : "%d", shape[i]);
        snprintf(want + strlen(want), sizeof want - strlen(want), ")");
        pd_ctx_fail(ctx, PD_ERR_SHAPE, "reshape: x %s (%zu elements) cannot become %s", SHP(x),
                    x->numel, want);
        return NULL;
    }
    return pd_op_alias(ctx, x, s, ndim, 0, "reshape");
}

/* ---- permute ----------------------------------------------------------------- */
/* out.shape[i] = x.shape[perm[i]]. Walked over output rows (all dims but the
 * last), each row's source offset decoded from its index, so rows split
 * across threads; the map is a bijection, so backward scatters race-free. */

typedef struct {
    int ndim;
    int src_stride[PD_MAX_DIMS]; /* x stride of output dim i */
} permute_attr;

/* Offset in x of the first element of output row r. */
static size_t permute_row_src(const permute_attr *at, const int *oshape, size_t r) {
    size_t off = 0;
    for (int d = at->ndim - 2; d >= 0; d--) {
        size_t i = r % (size_t)oshape[d];
        r /= (size_t)oshape[d];
        off += i * (size_t)at->src_stride[d];
    }
    return off;
}

static pd_status permute_fwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const permute_attr *at = attr;
    if (at->ndim == 0) {
        out->data[0] = in[0]->data[0];
        return PD_OK;
    }
    const float *x = in[0]->data;
    size_t last = (size_t)out->shape[at->ndim - 1], rows = out->numel / last;
    size_t step = (size_t)at->src_stride[at->ndim - 1];
#pragma omp parallel for if (out->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const float *src = x + permute_row_src(at, out->shape, r);
        float *dst = out->data + r * last;
        for (size_t k = 0; k < last; k++) dst[k] = src[k * step];
    }
    return PD_OK;
}

static pd_status permute_bwd(pd_ctx *ctx, pd_tensor *out, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const permute_attr *at = attr;
    float *dx = in[0]->grad;
    if (!dx) return PD_OK;
    bool unset = pd_grad_unset(in[0]); /* a bijection: every dx written once */
    if (at->ndim == 0) {
        dx[0] = pd_grad_acc(unset, dx[0], out->grad[0]);
        return PD_OK;
    }
    size_t last = (size_t)out->shape[at->ndim - 1], rows = out->numel / last;
    size_t step = (size_t)at->src_stride[at->ndim - 1];
#pragma omp parallel for if (out->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        float *d = dx + permute_row_src(at, out->shape, r);
        const float *dy = out->grad + r * last;
        for (size_t k = 0; k < last; k++) d[k * step] = pd_grad_acc(unset, d[k * step], dy[k]);
    }
    return PD_OK;
}

static const pd_op_def permute_op = {"permute", permute_fwd, permute_bwd};

pd_tensor *pd_permute(pd_ctx *ctx, pd_tensor *x, const int *perm) {
    PD_OP_GUARD(ctx, x);
    if (x->ndim && !perm) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "permute: perm is NULL for x %s", SHP(x));
        return NULL;
    }
    permute_attr at = {x->ndim, {0}};
    int shape[PD_MAX_DIMS], stride[PD_MAX_DIMS];
    bool seen[PD_MAX_DIMS] = {false};
    for (int d = x->ndim - 1, s = 1; d >= 0; d--) {
        stride[d] = s;
        s *= x->shape[d];
    }
    for (int i = 0; i < x->ndim; i++) {
        int p = perm[i];
        if (p < 0 || p >= x->ndim || seen[p]) {
            pd_ctx_fail(ctx, PD_ERR_ARG,
                        "permute: perm[%d] = %d is out of range or repeated for x %s (rank %d)", i,
                        p, SHP(x), x->ndim);
            return NULL;
        }
        seen[p] = true;
        shape[i] = x->shape[p];
        at.src_stride[i] = stride[p];
    }
    return pd_op_apply_flags(ctx, &permute_op, PD_OPF_GRAD_OVERWRITE, &x, 1, shape, x->ndim, &at,
                             sizeof at);
}
