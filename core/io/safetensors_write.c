/* safetensors writer: queue tensors and metadata, then replace the target
 * file atomically (temp file, fsync, rename). See safetensors.h. */
#include "file_open.h"
#include "file_write.h"
#include "pixeldit/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *name;
    pd_st_dtype dtype;
    int ndim;
    int shape[PD_ST_MAX_DIMS];
    size_t nbytes;
    const void *data; /* caller's, not copied */
} wr_tensor;

typedef struct {
    char *key, *value;
} wr_meta;

struct pd_st_writer {
    wr_tensor *t;
    int n, cap;
    wr_meta *m;
    int n_meta, cap_meta;
};

pd_st_writer *pd_st_writer_new(void) {
    pd_st_writer *w = calloc(1, sizeof *w);
    if (!w) pd_fail(PD_ERR_NOMEM, "st_writer_new: out of memory");
    return w;
}

void pd_st_writer_free(pd_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < w->n_meta; i++) {
        free(w->m[i].key);
        free(w->m[i].value);
    }
    free(w->t);
    free(w->m);
    free(w);
}

/* Grows an array of elem-byte items to hold one more. */
static bool grow(void **arr, int *cap, int n, size_t elem) {
    if (n < *cap) return true;
    int nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

pd_status pd_st_writer_add(pd_st_writer *w, const char *name, pd_st_dtype dtype,
                           const int *shape, int ndim, const void *data) {
    if (!w || !name) return pd_fail(PD_ERR_ARG, "st_writer_add: NULL writer or name");
    if (!*name || strcmp(name, "__metadata__") == 0)
        return pd_fail(PD_ERR_ARG, "st_writer_add: invalid tensor name \"%s\"", name);
    if ((unsigned)dtype >= PD_ST_DTYPE_COUNT)
        return pd_fail(PD_ERR_ARG, "st_writer_add: tensor '%s': unknown dtype %d", name, dtype);
    if (ndim < 0 || ndim > PD_ST_MAX_DIMS || (ndim && !shape))
        return pd_fail(PD_ERR_ARG, "st_writer_add: tensor '%s': rank %d outside 0..%d", name,
                       ndim, PD_ST_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return pd_fail(PD_ERR_ARG, "st_writer_add: tensor '%s': dim %d is %d", name, i,
                           shape[i]);
        numel *= (size_t)shape[i];
    }
    if (numel && !data)
        return pd_fail(PD_ERR_ARG, "st_writer_add: tensor '%s': data is NULL", name);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return pd_fail(PD_ERR_ARG, "st_writer_add: tensor '%s' added twice", name);
    if (!grow((void **)&w->t, &w->cap, w->n, sizeof *w->t))
        return pd_fail(PD_ERR_NOMEM, "st_writer_add: out of memory");
    wr_tensor *t = &w->t[w->n];
    if (!(t->name = strdup(name))) return pd_fail(PD_ERR_NOMEM, "st_writer_add: out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = numel * pd_st_dtype_size(dtype);
    t->data = data;
    w->n++;
    return PD_OK;
}

pd_status pd_st_writer_set_metadata(pd_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value)
        return pd_fail(PD_ERR_ARG, "st_writer_set_metadata: NULL argument");
    char *v = strdup(value);
    if (!v) return pd_fail(PD_ERR_NOMEM, "st_writer_set_metadata: out of memory");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->m[i].key, key) == 0) {
            free(w->m[i].value);
            w->m[i].value = v;
            return PD_OK;
        }
    char *k = strdup(key);
    if (!k || !grow((void **)&w->m, &w->cap_meta, w->n_meta, sizeof *w->m)) {
        free(k);
        free(v);
        return pd_fail(PD_ERR_NOMEM, "st_writer_set_metadata: out of memory");
    }
    w->m[w->n_meta++] = (wr_meta){k, v};
    return PD_OK;
}

/* ---- header JSON ------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > nc) nc *= 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void putf(sbuf *b, const char *fmt, unsigned long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    put(b, tmp, (size_t)n);
}

/* A JSON string literal; UTF-8 bytes pass through, controls are escaped. */
static void put_json_string(sbuf *b, const char *s) {
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            put(b, e, 6);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    put(b, "\"", 1);
}

/* Header JSON in insertion order, space-padded so that the data area starts
 * on an 8-byte boundary (8 + N is a multiple of 8). */
static bool build_header(const pd_st_writer *w, sbuf *b) {
    put(b, "{", 1);
    size_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const wr_tensor *t = &w->t[i];
        if (i) put(b, ",", 1);
        put_json_string(b, t->name);
        put(b, ":{\"dtype\":\"", 11);
        put(b, pd_st_dtype_name(t->dtype), strlen(pd_st_dtype_name(t->dtype)));
        put(b, "\",\"shape\":[", 11);
        for (int d = 0; d < t->ndim; d++) putf(b, d ? ",%llu" : "%llu", (unsigned long long)t->shape[d]);
        put(b, "],\"data_offsets\":[", 18);
        putf(b, "%llu,", offset);
        offset += t->nbytes;
        putf(b, "%llu]}", offset);
    }
    if (w->n_meta) {
        if (w->n) put(b, ",", 1);
        put(b, "\"__metadata__\":{", 16);
        for (int i = 0; i < w->n_meta; i++) {
            if (i) put(b, ",", 1);
            put_json_string(b, w->m[i].key);
            put(b, ":", 1);
            put_json_string(b, w->m[i].value);
        }
        put(b, "}", 1);
    }
    put(b, "}", 1);
    while (!b->oom && b->len % 8) put(b, " ", 1);
    return !b->oom;
}

/* ---- atomic file replacement --------------------------------------------------- */


pd_status pd_st_writer_write(const pd_st_writer *w, const char *path) {
    if (!w || !path) return pd_fail(PD_ERR_ARG, "st_writer_write: NULL writer or path");
    sbuf hdr = {0};
    if (!build_header(w, &hdr)) {
        free(hdr.s);
        return pd_fail(PD_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp) {
        free(hdr.s);
        return pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());

    pd_status s = PD_OK;
    int fd = pd_tmp_open_excl(tmp);
    if (fd < 0) {
        s = pd_fail(PD_ERR_IO, "%s: cannot create temporary file '%s': %s", path, tmp,
                    strerror(errno));
        goto out;
    }
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)hdr.len >> (8 * i));
    bool ok = pd_write_all(fd, lenbuf, 8) && pd_write_all(fd, hdr.s, hdr.len);
    for (int i = 0; ok && i < w->n; i++) ok = pd_write_all(fd, w->t[i].data, w->t[i].nbytes);
    if (!ok) s = pd_fail(PD_ERR_IO, "%s: write to '%s' failed: %s", path, tmp, strerror(errno));
    else if (fsync(fd) != 0)
        s = pd_fail(PD_ERR_IO, "%s: fsync of '%s' failed: %s", path, tmp, strerror(errno));
    if (close(fd) != 0 && !s)
        s = pd_fail(PD_ERR_IO, "%s: close of '%s' failed: %s", path, tmp, strerror(errno));
    if (!s && rename(tmp, path) != 0)
        s = pd_fail(PD_ERR_IO, "%s: cannot rename '%s' over it: %s", path, tmp, strerror(errno));
    if (s) unlink(tmp);
    else pd_sync_parent_dir(path);
out:
    free(tmp);
    free(hdr.s);
    return s;
}
