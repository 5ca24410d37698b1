/* A plugin against a reference file (pixeldit/parity.h): its forward and
 * backward on the reference's inputs and parameters, through the host's
 * checked calls, compared tensor by tensor. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/ops.h"
#include "pixeldit/parity.h"
#include "pixeldit/safetensors.h"
#include "train/loss_inputs.h"

#define MAX_SETTINGS 64
#define MAX_INPUTS 6

pd_parity_opts pd_parity_defaults(void) {
    return (pd_parity_opts){.rtol = 1e-5, .atol = 1e-7, .report = NULL};
}

int pd_params_zero_grads(const pd_params *p, const char *prefix, char *names, size_t cap,
                         int *n_trainable) {
    int zero = 0, trainable = 0;
    size_t used = 0;
    if (names && cap) names[0] = '\0';
    for (int i = 0; p && i < pd_params_count(p); i++) {
        const pd_tensor *t = pd_params_at(p, i);
        if ((pd_params_flags_at(p, i) & PD_PARAM_FROZEN) || !t->grad) continue;
        if (prefix && strncmp(t->name, prefix, strlen(prefix)) != 0) continue;
        trainable++;
        size_t j = 0;
        while (j < t->numel && t->grad[j] == 0.0f) j++;
        if (j < t->numel) continue;
        if (names && used < cap)
            used += (size_t)snprintf(names + used, cap - used, "%s%s", zero ? ", " : "", t->name);
        zero++;
    }
    if (n_trainable) *n_trainable = trainable;
    return zero;
}

/* ---- the reference file --------------------------------------------------------- */

typedef struct reference {
    pd_st_file *f;
    const char *path;
    pd_plugin_kind kind;
    pd_model_info info;
    pd_plugin_setting set[MAX_SETTINGS];
    char *config_copy; /* the `config` metadata, split in place into set[] */
    int n_set;
} reference;

static pd_status ref_fail(const reference *r, pd_status s, const char *what, const char *expected) {
    return pd_fail(s, "%s: %s: expected %s", r->path, what, expected);
}

/* A whole number in lo..hi from metadata key (def when absent and def >= lo). */
static pd_status meta_int(const reference *r, const char *key, long lo, long hi, long def, int *out) {
    const char *v = pd_st_metadata(r->f, key);
    if (!v) {
        if (def < lo) return pd_fail(PD_ERR_FORMAT, "%s: metadata '%s' is missing", r->path, key);
        *out = (int)def;
        return PD_OK;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return pd_fail(PD_ERR_FORMAT, "%s: metadata %s = '%s': expected an integer in %ld..%ld",
                       r->path, key, v, lo, hi);
    *out = (int)x;
    return PD_OK;
}

static pd_status meta_float(const reference *r, const char *key, double lo, double hi, double def,
                            float *out) {
    const char *v = pd_st_metadata(r->f, key);
    if (!v) return *out = (float)def, PD_OK;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi))
        return pd_fail(PD_ERR_FORMAT, "%s: metadata %s = '%s': expected a number in %g..%g",
                       r->path, key, v, lo, hi);
    *out = (float)x;
    return PD_OK;
}

/* "key = value" lines of the `config` metadata -> settings (file = the reference). */
static pd_status read_config(reference *r) {
    const char *text = pd_st_metadata(r->f, "config");
    if (!text || !*text) return PD_OK;
    if (!(r->config_copy = strdup(text))) return pd_fail(PD_ERR_NOMEM, "%s: out of memory", r->path);
    int line = 0;
    for (char *s = r->config_copy, *next; s; s = next) {
        next = strchr(s, '\n');
        if (next) *next++ = '\0';
        line++;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#' || *s == ';') continue;
        char *eq = strchr(s, '=');
        if (!eq || r->n_set == MAX_SETTINGS)
            return pd_fail(PD_ERR_FORMAT, "%s: metadata config line %d '%s': expected 'key = value' "
                           "(at most %d)", r->path, line, s, MAX_SETTINGS);
        char *k_end = eq;
        while (k_end > s && (k_end[-1] == ' ' || k_end[-1] == '\t')) k_end--;
        *k_end = '\0';
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t') v++;
        for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r');) *--e = '\0';
        r->set[r->n_set++] = (pd_plugin_setting){.key = s, .value = v, .file = r->path, .line = 0};
    }
    return PD_OK;
}

static pd_status ref_open(reference *r, const char *path) {
    *r = (reference){.path = path};
    pd_status s = pd_st_open(path, &r->f);
    if (s) return s;
    const char *fmt = pd_st_metadata(r->f, "pixeldit_reference");
    if (!fmt || strcmp(fmt, "1") != 0)
        return ref_fail(r, PD_ERR_FORMAT, "metadata pixeldit_reference",
                        "\"1\" (a reference file written by pixeldit_reference.py)");
    const char *kind = pd_st_metadata(r->f, "kind");
    if (kind && !strcmp(kind, "decoder")) r->kind = PD_PLUGIN_DECODER;
    else if (kind && !strcmp(kind, "loss")) r->kind = PD_PLUGIN_LOSS;
    else if (kind && !strcmp(kind, "attention")) r->kind = PD_PLUGIN_ATTENTION;
    else return ref_fail(r, PD_ERR_FORMAT, "metadata kind", "decoder, loss or attention");
    pd_model_info *m = &r->info;
    *m = (pd_model_info){.struct_size = sizeof *m};
    if ((s = meta_int(r, "image_size", 1, 1 << 14, 0, &m->image_size)) ||
        (s = meta_int(r, "channels", 1, 64, 0, &m->channels)) ||
        (s = meta_int(r, "patch_size", 1, 1 << 14, 0, &m->patch_size)) ||
        (s = meta_int(r, "hidden_size", 1, 1 << 16, 0, &m->hidden_size)) ||
        (s = meta_int(r, "num_heads", 1, 1 << 10, 1, &m->num_heads)) ||
        (s = meta_int(r, "depth", 1, 1 << 10, 1, &m->depth)) ||
        (s = meta_int(r, "num_classes", 1, 1 << 20, 10, &m->num_classes)) ||
        (s = meta_float(r, "t_eps", 0, 1, 0.05, &m->t_eps)) ||
        (s = meta_float(r, "noise_scale", 0, 1e6, 1.0, &m->noise_scale)))
        return s;
    if (m->image_size % m->patch_size || m->hidden_size % m->num_heads)
        return pd_fail(PD_ERR_FORMAT, "%s: model image_size %d, patch_size %d, hidden_size %d, "
                       "num_heads %d: expected patch_size | image_size and num_heads | hidden_size",
                       path, m->image_size, m->patch_size, m->hidden_size, m->num_heads);
    m->grid = m->image_size / m->patch_size;
    m->num_tokens = m->grid * m->grid;
    m->head_dim = m->hidden_size / m->num_heads;
    return read_config(r);
}

static void ref_close(reference *r) {
    pd_st_close(r->f);
    free(r->config_copy);
}

/* Tensor `name` of the file into a new arena tensor of the stored shape;
 * NULL (error set) when absent, too many dimensions or not convertible. */
static pd_tensor *ref_tensor(const reference *r, pd_ctx *ctx, const char *name) {
    const pd_st_tensor *t = pd_st_find(r->f, name);
    if (!t) {
        pd_fail(PD_ERR_FORMAT, "%s: no tensor '%s'", r->path, name);
        return NULL;
    }
    if (t->ndim > PD_MAX_DIMS || t->numel == 0) {
        char d[96];
        pd_fail(PD_ERR_FORMAT, "%s: %s is %s: expected 1 to %d dimensions, not empty", r->path, name,
                pd_st_describe(t, d, sizeof d), PD_MAX_DIMS);
        return NULL;
    }
    int shape[PD_MAX_DIMS] = {1};
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    int ndim = t->ndim ? t->ndim : 1;
    pd_tensor *x = pd_tensor_empty(ctx, shape, ndim);
    if (!x) {
        pd_fail(PD_ERR_NOMEM, "%s: %s: out of memory", r->path, name);
        return NULL;
    }
    if (pd_st_read_f32(r->f, name, x->data, shape, t->ndim)) return NULL;
    for (size_t i = 0; i < x->numel; i++)
        if (!isfinite(x->data[i])) {
            pd_fail(PD_ERR_FORMAT, "%s: %s[%zu] = %g: expected finite values", r->path, name, i,
                    (double)x->data[i]);
            return NULL;
        }
    return x;
}

/* x must be (d0, d1, ...) with -1 for "any" (the batch, the key count). */
static pd_status expect_shape(const reference *r, const char *name, const pd_tensor *x,
                              const int *want, int ndim, const char *layout) {
    bool ok = x->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = want[i] < 0 || x->shape[i] == want[i];
    if (ok) return PD_OK;
    char found[96];
    return pd_fail(PD_ERR_SHAPE, "%s: %s: expected %s, found %s", r->path, name, layout,
                   pd_shape_str(x, found, sizeof found));
}

/* Integer labels in 0..num_classes (num_classes is the null class). */
static int *ref_labels(const reference *r, pd_ctx *ctx, int B) {
    const pd_st_tensor *t = pd_st_find(r->f, "input.labels");
    if (!t || t->ndim != 1 || t->shape[0] != B) {
        pd_fail(PD_ERR_FORMAT, "%s: needs tensor input.labels of shape (%d)", r->path, B);
        return NULL;
    }
    int *y = pd_ctx_alloc(ctx, (size_t)B * sizeof *y);
    for (int i = 0; y && i < B; i++) {
        double v;
        switch (t->dtype) {
        case PD_ST_I64: v = (double)((const int64_t *)t->data)[i]; break;
        case PD_ST_I32: v = ((const int32_t *)t->data)[i]; break;
        case PD_ST_F32: v = ((const float *)t->data)[i]; break;
        default:
            pd_fail(PD_ERR_FORMAT, "%s: input.labels has dtype %s: expected I64, I32 or F32", r->path,
                    pd_st_dtype_name(t->dtype));
            return NULL;
        }
        if (!(v >= 0 && v <= r->info.num_classes) || v != (double)(int)v) {
            pd_fail(PD_ERR_FORMAT, "%s: input.labels[%d] = %.17g: expected a class id in 0..%d",
                    r->path, i, v, r->info.num_classes);
            return NULL;
        }
        y[i] = (int)v;
    }
    return y;
}

/* ---- the comparison ------------------------------------------------------------------- */

typedef struct checker {
    const reference *r;
    const pd_parity_opts *o;
    pd_parity_result res;
    char first_failed[160];
} checker;

static void report_header(checker *c, const pd_plugin *pl) {
    FILE *f = c->o->report;
    if (!f) return;
    fprintf(f, "%s plugin %s %s (%s)\nagainst %s: max|got - ref| <= %g + %g * max|ref|\n",
            pd_plugin_kind_name(pd_plugin_get_kind(pl)), pd_plugin_name(pl), pd_plugin_version(pl),
            pd_plugin_path(pl), c->r->path, c->o->atol, c->o->rtol);
    fprintf(f, "  %-40s %-18s %10s %10s %10s  %s\n", "tensor", "shape", "max|ref|", "max|diff|",
            "tolerance", "result");
}

static void failed(checker *c, const char *name) {
    if (!c->res.failed++) snprintf(c->first_failed, sizeof c->first_failed, "%s", name);
}

/* got (a tensor's data or grad, shaped like t) against reference tensor `name`. */
static void compare(checker *c, pd_ctx *ctx, const char *name, const pd_tensor *t, const float *got) {
    FILE *f = c->o->report;
    char shape[96];
    pd_shape_str(t, shape, sizeof shape);
    const pd_st_tensor *st = pd_st_find(c->r->f, name);
    /* the stored shape must be t's (a scalar may be stored as () or (1)) */
    bool same = st && st->numel == t->numel && (st->ndim == t->ndim || t->numel == 1);
    for (int i = 0; same && t->numel != 1 && i < t->ndim; i++) same = st->shape[i] == t->shape[i];
    int st_shape[PD_ST_MAX_DIMS] = {0};
    for (int i = 0; st && i < st->ndim; i++) st_shape[i] = st->shape[i];
    float *want = same ? pd_ctx_alloc(ctx, t->numel * sizeof *want) : NULL;
    c->res.tensors++;
    if (!want || !got || pd_st_read_f32(c->r->f, name, want, st_shape, st->ndim)) {
        char d[96];
        failed(c, name);
        if (f) fprintf(f, "  %-40s %-18s FAIL: %s%s\n", name, shape,
                       !st ? "missing" : !same ? "the reference's shape is " : !got ? "no gradient reached it" : pd_last_error(),
                       st && !same ? pd_st_describe(st, d, sizeof d) : "");
        return;
    }
    double scale = 0, err = 0, sum_got = 0;
    size_t worst = 0;
    bool finite = true;
    for (size_t i = 0; i < t->numel; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!isfinite(got[i])) finite = false;
        if (!(d <= err)) err = d, worst = i;
        scale = fmax(scale, fabs((double)want[i]));
        sum_got += fabs((double)got[i]);
    }
    double tol = c->o->atol + c->o->rtol * scale;
    double ratio = tol > 0 ? err / tol : (err > 0 ? INFINITY : 0);
    if (!(ratio <= c->res.worst)) c->res.worst = ratio;
    bool ok = finite && ratio <= 1;
    if (!ok) failed(c, name);
    bool zero_both = ok && scale == 0 && sum_got == 0 && strncmp(name, "grad.", 5) == 0;
    if (zero_both) c->res.warnings++;
    if (!f) return;
    fprintf(f, "  %-40s %-18s %10.3e %10.3e %10.3e  %s", name, shape, scale, err, tol,
            ok ? (zero_both ? "ok, but zero on both sides" : "ok") : "FAIL");
    if (!ok)
        fprintf(f, " (worst at flat index %zu: got %.9g, ref %.9g)", worst, (double)got[worst],
                (double)want[worst]);
    else if (zero_both)
        fprintf(f, "\n    (not used by the plugin, or behind a zero-initialised layer: "
                "pixeldit_reference.py redraws every parameter unless told not to)");
    fputc('\n', f);
}

/* ---- running the plugin ------------------------------------------------------------- */

typedef struct run {
    pd_tensor *in[MAX_INPUTS];
    const char *in_name[MAX_INPUTS];
    bool in_grad[MAX_INPUTS]; /* differentiable in pixeldit */
    int n_in;
    pd_params *params;
    void *state;
} run;

static pd_tensor *add_input(const reference *r, pd_ctx *ctx, run *x, const char *name, bool grad) {
    char key[64];
    snprintf(key, sizeof key, "input.%s", name);
    pd_tensor *t = ref_tensor(r, ctx, key);
    if (!t) return NULL;
    if (grad && pd_tensor_set_requires_grad(ctx, t)) {
        pd_fail(pd_ctx_status(ctx), "%s", pd_ctx_error(ctx));
        return NULL;
    }
    x->in[x->n_in] = t, x->in_name[x->n_in] = name, x->in_grad[x->n_in] = grad, x->n_in++;
    return t;
}

/* Every tensor of the file must be one this kind reads. */
static pd_status check_names(const reference *r, const run *x) {
    for (int i = 0; i < pd_st_count(r->f); i++) {
        const char *n = pd_st_at(r->f, i)->name;
        if (!strcmp(n, "output") || (!strcmp(n, "grad_output") && r->kind != PD_PLUGIN_LOSS) ||
            (!strcmp(n, "input.labels") && r->kind == PD_PLUGIN_LOSS))
            continue;
        bool known = false;
        const char *rest = !strncmp(n, "grad.", 5) ? n + 5 : n;
        for (int j = 0; j < x->n_in && !known; j++) {
            char key[64];
            snprintf(key, sizeof key, "input.%s", x->in_name[j]);
            known = !strcmp(rest, key) && (rest == n || x->in_grad[j]);
        }
        if (!strncmp(rest, "param.", 6)) known = pd_params_find(x->params, rest + 6) != NULL;
        if (known) continue;
        if (rest != n && !strncmp(rest, "input.", 6))
            return pd_fail(PD_ERR_FORMAT, "%s: %s: that input has no gradient in pixeldit "
                           "(only the differentiable inputs have one)", r->path, n);
        if (!strncmp(rest, "param.", 6))
            return pd_fail(PD_ERR_FORMAT, "%s: %s: the plugin registered no parameter '%s'",
                           r->path, n, rest + 6);
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': not part of a %s reference (parity.h)",
                       r->path, n, pd_plugin_kind_name(r->kind));
    }
    return PD_OK;
}

/* Creates the decoder and loads every parameter it registered from param.NAME. */
static pd_status decoder_setup(const reference *r, const pd_plugin *pl, const pd_plugin_config *cfg,
                               run *x) {
    if (!(x->params = pd_params_new())) return pd_fail(PD_ERR_NOMEM, "parity: out of memory");
    pd_status s = pd_plugin_create_decoder(pl, &r->info, cfg, x->params, &x->state);
    if (s) return s;
    for (int i = 0; i < pd_params_count(x->params); i++) {
        pd_tensor *p = pd_params_at(x->params, i);
        char key[192];
        snprintf(key, sizeof key, "param.%s", p->name);
        if (!pd_st_find(r->f, key)) {
            char sh[96];
            return pd_fail(PD_ERR_FORMAT, "%s: no tensor '%s' %s: the reference must hold every "
                           "parameter the plugin registers", r->path, key,
                           pd_shape_str(p, sh, sizeof sh));
        }
        if ((s = pd_st_read_f32(r->f, key, p->data, p->shape, p->ndim))) return s;
    }
    return PD_OK;
}

static pd_tensor *forward(const reference *r, const pd_plugin *pl, const pd_plugin_config *cfg,
                          pd_ctx *ctx, run *x) {
    const pd_model_info *m = &r->info;
    int C = m->channels, S = m->image_size, D = m->hidden_size;
    pd_status s;
    if (r->kind == PD_PLUGIN_DECODER) {
        if (decoder_setup(r, pl, cfg, x)) return NULL;
        pd_tensor *tok = add_input(r, ctx, x, "tokens", true), *te = add_input(r, ctx, x, "t_emb", true),
                  *ye = add_input(r, ctx, x, "y_emb", true), *c = add_input(r, ctx, x, "c", true),
                  *t = add_input(r, ctx, x, "t", false), *z = add_input(r, ctx, x, "z", false);
        if (!tok || !te || !ye || !c || !t || !z) return NULL;
        int B = tok->shape[0];
        if (expect_shape(r, "input.tokens", tok, (int[]){B, m->num_tokens, D}, 3, "(B, N, D)") ||
            expect_shape(r, "input.t_emb", te, (int[]){B, D}, 2, "(B, D)") ||
            expect_shape(r, "input.y_emb", ye, (int[]){B, D}, 2, "(B, D)") ||
            expect_shape(r, "input.c", c, (int[]){B, D}, 2, "(B, D)") ||
            expect_shape(r, "input.t", t, (int[]){B}, 1, "(B)") ||
            expect_shape(r, "input.z", z, (int[]){B, C, S, S}, 4, "(B, C, H, W)") || check_names(r, x))
            return NULL;
        pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = tok, .t_emb = te, .y_emb = ye,
                                .c = c, .t = t, .z = z, .rng = NULL /* eval mode */};
        return pd_plugin_decoder_forward(pl, x->state, ctx, &in); /* (B, C, H, W), checked */
    }
    if (r->kind == PD_PLUGIN_LOSS) {
        if ((s = pd_plugin_create_loss(pl, m, cfg, &x->state))) return NULL;
        pd_tensor *xp = add_input(r, ctx, x, "x_pred", true), *xx = add_input(r, ctx, x, "x", false),
                  *z = add_input(r, ctx, x, "z", false), *t = add_input(r, ctx, x, "t", false);
        if (!xp || !xx || !z || !t) return NULL;
        int B = xp->shape[0];
        int *labels = ref_labels(r, ctx, B);
        if (!labels || expect_shape(r, "input.x_pred", xp, (int[]){B, C, S, S}, 4, "(B, C, H, W)") ||
            expect_shape(r, "input.x", xx, (int[]){B, C, S, S}, 4, "(B, C, H, W)") ||
            expect_shape(r, "input.z", z, (int[]){B, C, S, S}, 4, "(B, C, H, W)") ||
            expect_shape(r, "input.t", t, (int[]){B}, 1, "(B)") || check_names(r, x))
            return NULL;
        pd_loss_inputs in;
        if (pd_loss_inputs_make(ctx, xp, xx, z, t->data, labels, m->t_eps, &in)) return NULL;
        pd_loss_parts parts;
        return pd_plugin_loss_forward(pl, x->state, ctx, &in, &parts); /* scalar, checked */
    }
    if ((s = pd_plugin_create_attention(pl, m, cfg, &x->state))) return NULL;
    float scale;
    if (!pd_st_metadata(r->f, "scale")) {
        pd_fail(PD_ERR_FORMAT, "%s: metadata 'scale' is missing (the attention's softmax scale)", r->path);
        return NULL;
    }
    if (meta_float(r, "scale", 1e-12, 1e12, 0, &scale)) return NULL;
    pd_tensor *q = add_input(r, ctx, x, "q", true), *k = add_input(r, ctx, x, "k", true),
              *v = add_input(r, ctx, x, "v", true);
    if (!q || !k || !v) return NULL;
    if (q->ndim != 4) {
        expect_shape(r, "input.q", q, (int[]){-1, -1, -1, -1}, 4, "(B, H, N, d)");
        return NULL;
    }
    int B = q->shape[0], H = q->shape[1], d = q->shape[3], M = k->ndim == 4 ? k->shape[2] : -1;
    if (expect_shape(r, "input.k", k, (int[]){B, H, M, d}, 4, "(B, H, M, d)") ||
        expect_shape(r, "input.v", v, (int[]){B, H, M, d}, 4, "(B, H, M, d), k's shape") ||
        check_names(r, x))
        return NULL;
    return pd_plugin_attention_forward(pl, x->state, ctx, q, k, v, scale); /* (B, H, N, d), checked */
}

static void destroy_state(const pd_plugin *pl, void *state) {
    if (!state) return;
    switch (pd_plugin_get_kind(pl)) {
    case PD_PLUGIN_DECODER: pd_plugin_decoder_vtable(pl)->destroy(state); break;
    case PD_PLUGIN_LOSS: pd_plugin_loss_vtable(pl)->destroy(state); break;
    case PD_PLUGIN_ATTENTION: pd_plugin_attention_vtable(pl)->destroy(state); break;
    }
}

/* Forward, backward, comparisons; the error (if any) is set. */
static pd_status check(const reference *r, const pd_plugin *pl, const pd_plugin_config *cfg,
                       pd_ctx *ctx, run *x, checker *c) {
    char who[128];
    snprintf(who, sizeof who, "%s plugin %s", pd_plugin_kind_name(r->kind), pd_plugin_name(pl));
    pd_tensor *out = forward(r, pl, cfg, ctx, x);
    if (!out) {
        if (pd_ctx_status(ctx)) return pd_fail(pd_ctx_status(ctx), "%s", pd_ctx_error(ctx));
        return pd_last_error()[0] ? PD_ERR_FORMAT : pd_fail(PD_ERR_PLUGIN, "%s: forward failed", who);
    }
    const pd_st_tensor *ro = pd_st_find(r->f, "output");
    if (!ro) return pd_fail(PD_ERR_FORMAT, "%s: no tensor 'output'", r->path);
    bool same = ro->ndim == out->ndim || (ro->ndim == 0 && out->numel == 1);
    for (int i = 0; same && i < ro->ndim; i++) same = ro->shape[i] == out->shape[i];
    if (!same) {
        char a[96], b[96];
        return pd_fail(PD_ERR_SHAPE, "%s: output: the reference's is %s, the plugin's %s", r->path,
                       pd_st_describe(ro, a, sizeof a), pd_shape_str(out, b, sizeof b));
    }
    report_header(c, pl);
    compare(c, ctx, "output", out, out->data);

    /* L = sum(output * grad_output); a loss is its own L */
    pd_tensor *L = out;
    if (r->kind != PD_PLUGIN_LOSS) {
        pd_tensor *gy = ref_tensor(r, ctx, "grad_output");
        if (!gy) return PD_ERR_FORMAT;
        if (!pd_shape_equal(gy, out))
            return pd_fail(PD_ERR_SHAPE, "%s: grad_output: expected the output's shape", r->path);
        L = pd_sum(ctx, pd_mul(ctx, out, gy));
    }
    pd_params_zero_grad(x->params);
    if (pd_backward(ctx, L)) return pd_fail(pd_ctx_status(ctx), "%s", pd_ctx_error(ctx));

    for (int i = 0; i < x->n_in; i++) {
        char key[64];
        snprintf(key, sizeof key, "grad.input.%s", x->in_name[i]);
        if (x->in_grad[i] && pd_st_find(r->f, key)) compare(c, ctx, key, x->in[i], x->in[i]->grad);
    }
    for (int i = 0; x->params && i < pd_params_count(x->params); i++) {
        pd_tensor *p = pd_params_at(x->params, i);
        char key[192];
        snprintf(key, sizeof key, "grad.param.%s", p->name);
        if (pd_params_flags_at(x->params, i) & PD_PARAM_FROZEN) continue;
        if (!pd_st_find(r->f, key))
            return pd_fail(PD_ERR_FORMAT, "%s: no tensor '%s': the reference must hold the gradient "
                           "of every trainable parameter", r->path, key);
        compare(c, ctx, key, p, p->grad);
    }
    if (c->o->report)
        fprintf(c->o->report, "%d tensors, %d failed, %d zero on both sides; worst diff/tolerance %.3g\n",
                c->res.tensors, c->res.failed, c->res.warnings, c->res.worst);

    /* a decoder whose output reaches none of its parameters cannot learn */
    int trainable = 0;
    char names[256];
    int zero = pd_params_zero_grads(x->params, NULL, names, sizeof names, &trainable);
    if (trainable && zero == trainable)
        return pd_fail(PD_ERR_PLUGIN, "%s: no gradient reaches any of its %d trainable parameters "
                       "(%s): its output does not depend on them", who, trainable, names);
    if (c->res.failed)
        return pd_fail(PD_ERR_NUMERIC, "%s differs from the reference %s in %d of %d tensors (first: %s)",
                       who, r->path, c->res.failed, c->res.tensors, c->first_failed);
    return PD_OK;
}

pd_status pd_parity_check(const char *name_or_path, const char *ref_path,
                          const pd_plugin_setting *settings, int n_settings,
                          const pd_parity_opts *opts, pd_parity_result *result) {
    pd_parity_opts o = opts ? *opts : pd_parity_defaults();
    if (result) *result = (pd_parity_result){0};
    if (!name_or_path || !ref_path || n_settings < 0 || (n_settings && !settings))
        return pd_fail(PD_ERR_ARG, "parity_check: bad arguments");
    if (!(o.rtol >= 0) || !(o.atol >= 0))
        return pd_fail(PD_ERR_ARG, "parity_check: rtol %g, atol %g: expected >= 0", o.rtol, o.atol);
    reference r;
    pd_status s = ref_open(&r, ref_path);
    if (s) return ref_close(&r), s;
    pd_plugin *pl = NULL;
    if ((s = pd_plugin_load(name_or_path, r.kind, &pl))) return ref_close(&r), s;
    const char *named = pd_st_metadata(r.f, "plugin");
    if (named && strcmp(named, pd_plugin_name(pl)) != 0 && o.report)
        fprintf(o.report, "warning: %s was made for plugin %s, checking %s\n", ref_path, named,
                pd_plugin_name(pl));

    pd_plugin_setting set[2 * MAX_SETTINGS];
    int n = 0;
    for (int i = 0; i < r.n_set; i++) set[n++] = r.set[i];
    for (int i = 0; i < n_settings && n < 2 * MAX_SETTINGS; i++) set[n++] = settings[i];
    if (n_settings > MAX_SETTINGS) return ref_close(&r), pd_fail(PD_ERR_ARG, "parity_check: too many settings");
    pd_plugin_config *cfg = NULL;
    if ((s = pd_plugin_config_build(pl, pd_plugin_kind_name(r.kind), set, n, &cfg)))
        return ref_close(&r), s;

    pd_ctx *ctx = pd_ctx_new(0);
    run x = {0};
    checker c = {.r = &r, .o = &o};
    pd_clear_error();
    s = ctx ? check(&r, pl, cfg, ctx, &x, &c) : pd_fail(PD_ERR_NOMEM, "parity_check: out of memory");
    if (result) *result = c.res;
    destroy_state(pl, x.state);
    pd_params_free(x.params);
    pd_ctx_free(ctx);
    pd_plugin_config_free(cfg);
    ref_close(&r);
    return s;
}

pd_status pd_loss_inputs_for(pd_ctx *ctx, pd_tensor *x_pred, pd_tensor *x, pd_tensor *z,
                             const float *t, const int *labels, float t_eps, pd_loss_inputs *out) {
    return pd_loss_inputs_make(ctx, x_pred, x, z, t, labels, t_eps, out);
}
