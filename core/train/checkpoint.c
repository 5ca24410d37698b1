/* Checkpoint save/load on top of the safetensors reader and writer. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/checkpoint.h"
#include "pixeldit/limits.h"

/* ---- save --------------------------------------------------------------------- */

static pd_status add_prefixed(pd_st_writer *w, char **names, int *nn, const char *prefix,
                              const pd_tensor *t, const float *data) {
    size_t len = strlen(prefix) + strlen(t->name) + 1;
    char *name = malloc(len);
    if (!name) return pd_fail(PD_ERR_NOMEM, "checkpoint: out of memory");
    snprintf(name, len, "%s%s", prefix, t->name);
    names[(*nn)++] = name;
    return pd_st_writer_add(w, name, PD_ST_F32, t->shape, t->ndim, data);
}

static void put_u64s(pd_st_writer *w, const char *key, const uint64_t *v, int n) {
    char buf[256];
    size_t o = 0;
    for (int i = 0; i < n; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, i ? ",%016" PRIx64 : "%016" PRIx64, v[i]);
    pd_st_writer_set_metadata(w, key, buf);
}

static void put_i64(pd_st_writer *w, const char *key, int64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    pd_st_writer_set_metadata(w, key, buf);
}

/* NaN or inf in n floats: the index of the first, or -1. */
static long first_non_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

/* What the reader refuses is never written: counters in [0, PD_MAX_STEP],
 * every tensor finite (a NaN moment or EMA would resume into a broken run). */
static pd_status check_savable(const char *path, const pd_checkpoint *ck) {
    const int64_t counters[3] = {ck->state.step, ck->opt ? pd_adamw_steps(ck->opt) : 0,
                                 ck->state.data.epoch};
    const char *names[3] = {"step", "optim.steps", "data.epoch"};
    for (int k = 0; k < 3; k++)
        if (counters[k] < 0 || counters[k] > PD_MAX_STEP)
            return pd_fail(PD_ERR_ARG, "%s: not saved: %s = %lld is outside [0, %lld], which a "
                           "checkpoint cannot hold", path, names[k], (long long)counters[k],
                           (long long)PD_MAX_STEP);
    int np = pd_params_count(ck->params);
    for (int i = 0; i < np; i++) {
        const pd_tensor *t = pd_params_at(ck->params, i);
        const float *copies[5] = {t->data, ck->ema1 ? pd_ema_data(ck->ema1, i) : NULL,
                                  ck->ema2 ? pd_ema_data(ck->ema2, i) : NULL,
                                  ck->opt ? pd_adamw_moment(ck->opt, i, 1) : NULL,
                                  ck->opt ? pd_adamw_moment(ck->opt, i, 2) : NULL};
        const char *what[5] = {"", "ema1.", "ema2.", "optim.m.", "optim.v."};
        for (int c = 0; c < 5; c++) {
            long at = copies[c] ? first_non_finite(copies[c], t->numel) : -1;
            if (at >= 0)
                return pd_fail(PD_ERR_NUMERIC, "%s: not saved: %s%s[%ld] is not finite (%g); the "
                               "last good checkpoint is kept", path, what[c], t->name, at,
                               (double)copies[c][at]);
        }
    }
    return PD_OK;
}

/* The tensors of `prefix` just loaded into dst: finite, or a line naming
 * the file and tensor. */
static pd_status check_loaded(const pd_st_file *f, const char *prefix, const pd_tensor *t,
                              const float *dst) {
    long at = first_non_finite(dst, t->numel);
    if (at < 0) return PD_OK;
    return pd_fail(PD_ERR_NUMERIC, "%s: tensor '%s%s' holds a non-finite value (%g at index %ld): "
                   "a checkpoint of a diverged run?", pd_st_path(f), prefix, t->name,
                   (double)dst[at], at);
}

pd_status pd_checkpoint_save(const char *path, const pd_checkpoint *ck) {
    pd_status bad = check_savable(path, ck);
    if (bad) return bad;
    pd_st_writer *w = pd_st_writer_new();
    if (!w) return pd_fail(PD_ERR_NOMEM, "checkpoint: out of memory");
    int np = pd_params_count(ck->params);
    char **names = calloc((size_t)np * 5 + 1, sizeof *names);
    int nn = 0;
    pd_status s = names ? PD_OK : pd_fail(PD_ERR_NOMEM, "checkpoint: out of memory");
    for (int i = 0; i < np && !s; i++) {
        const pd_tensor *t = pd_params_at(ck->params, i);
        s = add_prefixed(w, names, &nn, "", t, t->data);
    }
    pd_ema *emas[2] = {ck->ema1, ck->ema2};
    const char *ema_prefix[2] = {"ema1.", "ema2."};
    for (int e = 0; e < 2; e++)
        for (int i = 0; emas[e] && i < np && !s; i++)
            s = add_prefixed(w, names, &nn, ema_prefix[e], pd_params_at(ck->params, i), pd_ema_data(emas[e], i));
    for (int i = 0; ck->opt && i < np && !s; i++) {
        const pd_tensor *t = pd_params_at(ck->params, i);
        float *m = pd_adamw_moment(ck->opt, i, 1), *v = pd_adamw_moment(ck->opt, i, 2);
        if (!m) continue;
        s = add_prefixed(w, names, &nn, "optim.m.", t, m);
        if (!s) s = add_prefixed(w, names, &nn, "optim.v.", t, v);
    }
    if (!s) {
        pd_st_writer_set_metadata(w, "format", PD_CKPT_FORMAT);
        pd_st_writer_set_metadata(w, "config", ck->config_ini ? ck->config_ini : "");
        pd_st_writer_set_metadata(w, "plugins", ck->plugins ? ck->plugins : "");
        put_i64(w, "step", ck->state.step);
        if (ck->opt) put_i64(w, "optim.steps", pd_adamw_steps(ck->opt));
        put_u64s(w, "rng", ck->state.rng.s, 4);
        put_u64s(w, "dropout_rng", ck->state.dropout_rng.s, 4);
        put_i64(w, "data.epoch", ck->state.data.epoch);
        put_i64(w, "data.pos", (int64_t)ck->state.data.pos);
        put_u64s(w, "data.rng", ck->state.data.rng, 4);
        char buf[64];
        snprintf(buf, sizeof buf, "%.3f", ck->state.train_seconds);
        pd_st_writer_set_metadata(w, "train_seconds", buf);
        s = pd_st_writer_write(w, path);
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    pd_st_writer_free(w);
    return s;
}

/* ---- load ----------------------------------------------------------------------- */

static pd_status load_into(const pd_st_file *f, const char *prefix, const pd_tensor *t, float *dst) {
    char name[320];
    snprintf(name, sizeof name, "%s%s", prefix, t->name);
    if (!pd_st_find(f, name))
        return pd_fail(PD_ERR_FORMAT, "%s: missing tensor '%s' %s", pd_st_path(f), name,
                       pd_shape_str(t, (char[80]){0}, 80));
    pd_status s = pd_st_read_f32(f, name, dst, t->shape, t->ndim);
    return s ? s : check_loaded(f, prefix, t, dst);
}

/* Strict, like load_state_dict: every tensor in the file must be a parameter
 * of this model, bare or under one of the prefixes a checkpoint writes; one
 * that is not means another architecture, or a file made by hand. A file
 * of weights alone (no ema/optim) is fine; the caller that needs those
 * copies finds them missing by name. Names are hashed (pd_params_find), so
 * this is linear in the tensor count. */
static pd_status check_tensor_set(const pd_st_file *f, const pd_params *p) {
    static const char *const prefixes[] = {"ema1.", "ema2.", "optim.m.", "optim.v."};
    for (int i = 0; i < pd_st_count(f); i++) {
        const char *n = pd_st_at(f, i)->name, *bare = n;
        for (int k = 0; k < 4 && bare == n; k++)
            if (!strncmp(n, prefixes[k], strlen(prefixes[k]))) bare = n + strlen(prefixes[k]);
        if (!pd_params_find(p, bare))
            return pd_fail(PD_ERR_FORMAT, "%s: unexpected tensor '%s' (not a parameter of this "
                           "model: different config or plugins?)", pd_st_path(f), n);
    }
    return PD_OK;
}

pd_status pd_checkpoint_load_params(const pd_st_file *f, pd_params *p, const char *prefix) {
    for (int i = 0; i < pd_params_count(p); i++) {
        pd_tensor *t = pd_params_at(p, i);
        pd_status s = load_into(f, prefix, t, t->data);
        if (s) return s;
    }
    return check_tensor_set(f, p);
}

static pd_status get_u64s(const pd_st_file *f, const char *key, uint64_t *v, int n) {
    const char *s = pd_st_metadata(f, key);
    if (!s) return pd_fail(PD_ERR_FORMAT, "%s: metadata '%s' missing", pd_st_path(f), key);
    for (int i = 0; i < n; i++) {
        char *end;
        v[i] = strtoull(s, &end, 16);
        if (end == s || (i < n - 1 && *end != ',') || (i == n - 1 && *end))
            return pd_fail(PD_ERR_FORMAT, "%s: metadata '%s' = '%s' is not %d hex words",
                           pd_st_path(f), key, pd_st_metadata(f, key), n);
        s = end + 1;
    }
    return PD_OK;
}

/* An integer in [0, max]: counters from a file are bounded so that the
 * loop's arithmetic on them cannot overflow. */
static pd_status get_i64(const pd_st_file *f, const char *key, int64_t *v, int64_t max) {
    const char *s = pd_st_metadata(f, key);
    char *end;
    if (!s) return pd_fail(PD_ERR_FORMAT, "%s: metadata '%s' missing", pd_st_path(f), key);
    errno = 0;
    *v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return pd_fail(PD_ERR_FORMAT, "%s: metadata '%s' = '%s' is not an integer", pd_st_path(f), key, s);
    if (*v < 0 || *v > max)
        return pd_fail(PD_ERR_FORMAT, "%s: metadata '%s' = %lld is outside [0, %lld]", pd_st_path(f),
                       key, (long long)*v, (long long)max);
    return PD_OK;
}

pd_status pd_checkpoint_read_meta(const pd_st_file *f, const char **config_ini, const char **plugins) {
    const char *fmt = pd_st_metadata(f, "format");
    if (!fmt || strcmp(fmt, PD_CKPT_FORMAT))
        return pd_fail(PD_ERR_FORMAT, "%s: not a pixeldit checkpoint (metadata format = '%s', "
                       "expected '%s')", pd_st_path(f), fmt ? fmt : "(none)", PD_CKPT_FORMAT);
    /* the counters are checked here, on every path from a checkpoint (sample,
     * forward, eval, info), not only on --resume which reads them */
    const char *counters[3] = {"step", "optim.steps", "data.epoch"};
    for (int k = 0; k < 3; k++) {
        int64_t v;
        pd_status s = pd_st_metadata(f, counters[k]) ? get_i64(f, counters[k], &v, PD_MAX_STEP)
                                                      : PD_OK;
        if (s) return s;
    }
    *config_ini = pd_st_metadata(f, "config");
    *plugins = pd_st_metadata(f, "plugins");
    if (!*config_ini) return pd_fail(PD_ERR_FORMAT, "%s: metadata 'config' missing", pd_st_path(f));
    if (!*plugins) *plugins = "";
    return PD_OK;
}

pd_status pd_checkpoint_load_training(const pd_st_file *f, pd_checkpoint *ck) {
    pd_status s = PD_OK;
    int np = pd_params_count(ck->params);
    pd_ema *emas[2] = {ck->ema1, ck->ema2};
    const char *ema_prefix[2] = {"ema1.", "ema2."};
    for (int e = 0; e < 2; e++)
        for (int i = 0; emas[e] && i < np && !s; i++)
            s = load_into(f, ema_prefix[e], pd_params_at(ck->params, i), pd_ema_data(emas[e], i));
    for (int i = 0; ck->opt && i < np && !s; i++) {
        float *m = pd_adamw_moment(ck->opt, i, 1), *v = pd_adamw_moment(ck->opt, i, 2);
        if (!m) continue;
        s = load_into(f, "optim.m.", pd_params_at(ck->params, i), m);
        if (!s) s = load_into(f, "optim.v.", pd_params_at(ck->params, i), v);
    }
    if (s) return s;
    int64_t v;
    if ((s = get_i64(f, "step", &ck->state.step, PD_MAX_STEP))) return s;
    if (ck->opt) {
        if ((s = get_i64(f, "optim.steps", &v, PD_MAX_STEP))) return s;
        pd_adamw_set_steps(ck->opt, v);
    }
    if ((s = get_u64s(f, "rng", ck->state.rng.s, 4))) return s;
    if ((s = get_u64s(f, "dropout_rng", ck->state.dropout_rng.s, 4))) return s;
    if ((s = get_i64(f, "data.epoch", &ck->state.data.epoch, PD_MAX_STEP))) return s;
    if ((s = get_i64(f, "data.pos", &v, PD_MAX_DATASET_IMAGES))) return s;
    ck->state.data.pos = v;
    if ((s = get_u64s(f, "data.rng", ck->state.data.rng, 4))) return s;
    const char *ts = pd_st_metadata(f, "train_seconds");
    ck->state.train_seconds = ts ? atof(ts) : 0.0;
    if (!(ck->state.train_seconds >= 0 && ck->state.train_seconds < 1e12))
        ck->state.train_seconds = 0.0; /* only reported, never used for control */
    return PD_OK;
}
