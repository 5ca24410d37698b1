/* safetensors reader: load, validate, look up, convert (see safetensors.h). */
#include "pixeldit/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "pixeldit/limits.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

/* Headers of real checkpoints are tens of KiB to a few MiB; the cap
 * (pixeldit/limits.h) rejects garbage lengths before allocating and bounds
 * the parsed header's memory (at most ~40 bytes per header byte). */
#define ST_MAX_HEADER PD_MAX_ST_HEADER
#define ST_ALIGN 64

static const struct {
    const char *name;
    size_t size;
} dtype_info[PD_ST_DTYPE_COUNT] = {
    [PD_ST_F64] = {"F64", 8}, [PD_ST_F32] = {"F32", 4}, [PD_ST_F16] = {"F16", 2},
    [PD_ST_BF16] = {"BF16", 2}, [PD_ST_I64] = {"I64", 8}, [PD_ST_I32] = {"I32", 4},
    [PD_ST_I16] = {"I16", 2}, [PD_ST_I8] = {"I8", 1}, [PD_ST_U8] = {"U8", 1},
    [PD_ST_BOOL] = {"BOOL", 1},
};

const char *pd_st_dtype_name(pd_st_dtype dt) {
    return (unsigned)dt < PD_ST_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

size_t pd_st_dtype_size(pd_st_dtype dt) {
    return (unsigned)dt < PD_ST_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

static bool dtype_from_name(const char *s, pd_st_dtype *dt) {
    for (int i = 0; i < PD_ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtype_info[i].name) == 0) {
            *dt = (pd_st_dtype)i;
            return true;
        }
    return false;
}

static void shape_str(const int *shape, int ndim, char *buf, size_t size) {
    size_t o = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < ndim && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, i ? ", %d" : "%d", shape[i]);
    if (o < size) snprintf(buf + o, size - o, ndim == 1 ? ",)" : ")");
}

char *pd_st_describe(const pd_st_tensor *t, char *buf, size_t size) {
    char s[160];
    shape_str(t->shape, t->ndim, s, sizeof s);
    snprintf(buf, size, "%s %s", s, pd_st_dtype_name(t->dtype));
    return buf;
}

struct pd_st_file {
    char *path;
    unsigned char *alloc;      /* whole file, placed so that the data area is aligned */
    const unsigned char *data; /* byte buffer after the header */
    size_t data_size;
    pd_json_doc *doc;          /* owns names, metadata strings */
    int n;
    pd_st_tensor *tensors;     /* header order */
    int *by_name;              /* indices sorted by name, for bsearch */
    int n_meta;
    const pd_json *meta;       /* the "__metadata__" object or NULL */
    const pd_json **meta_at;   /* its members in order, n_meta of them */
};

/* ---- loading ----------------------------------------------------------------- */

static pd_status read_all(int fd, unsigned char *dst, size_t size, const char *path) {
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, dst + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return pd_fail(PD_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (r == 0)
            return pd_fail(PD_ERR_IO, "%s: file shrank while reading (%zu of %zu bytes)", path,
                           got, size);
        got += (size_t)r;
    }
    return PD_OK;
}

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

/* Reads path into f->alloc and checks the header length; sets the header
 * span [*hdr, *hdr + *hdr_len). */
static pd_status load_file(pd_st_file *f, bool header_only, const char **hdr, size_t *hdr_len) {
    const char *path = f->path;
    /* O_NONBLOCK: a FIFO must not block the open (refused just below) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return pd_fail(PD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    pd_status s = PD_OK;
    if (fstat(fd, &st) != 0) {
        s = pd_fail(PD_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        s = pd_fail(PD_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    size_t size = (size_t)st.st_size;
    unsigned char lenbuf[8];
    if (size < 8) {
        s = pd_fail(PD_ERR_FORMAT, "%s: truncated: file has %zu bytes, less than the 8-byte "
                    "header length", path, size);
        goto done;
    }
    if ((s = read_all(fd, lenbuf, 8, path))) goto done;
    uint64_t n = le64(lenbuf);
    if (n > size - 8) {
        s = pd_fail(PD_ERR_FORMAT, "%s: truncated: header says %llu bytes, file has %zu", path,
                    (unsigned long long)n, size);
        goto done;
    }
    if (n > ST_MAX_HEADER) {
        s = pd_fail(PD_ERR_FORMAT, "%s: header length %llu is implausible (limit %u bytes)",
                    path, (unsigned long long)n, ST_MAX_HEADER);
        goto done;
    }
    /* Offset the file in the allocation so that the data area (at 8 + n)
     * starts on a 64-byte boundary: tensors can be used in place. */
    size_t pad = (ST_ALIGN - (8 + (size_t)n) % ST_ALIGN) % ST_ALIGN;
    size_t want = header_only ? 8 + (size_t)n : size; /* `info` reads only the header */
    size_t total = (pad + want + ST_ALIGN - 1) / ST_ALIGN * ST_ALIGN;
    f->alloc = aligned_alloc(ST_ALIGN, total);
    if (!f->alloc) {
        s = pd_fail(PD_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, total);
        goto done;
    }
    memcpy(f->alloc + pad, lenbuf, 8);
    if ((s = read_all(fd, f->alloc + pad + 8, want - 8, path))) goto done;
    *hdr = (const char *)f->alloc + pad + 8;
    *hdr_len = (size_t)n;
    f->data = header_only ? NULL : f->alloc + pad + 8 + n;
    f->data_size = size - 8 - (size_t)n;
done:
    close(fd);
    return s;
}

/* ---- header validation ------------------------------------------------------ */

static pd_status parse_shape(const pd_st_file *f, const char *name, const pd_json *js,
                             pd_st_tensor *t) {
    if (!js || js->type != PD_JSON_ARRAY)
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': \"shape\" missing or not an array",
                       f->path, name);
    if (js->count > PD_ST_MAX_DIMS)
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': rank %d above the supported %d",
                       f->path, name, js->count, PD_ST_MAX_DIMS);
    t->ndim = js->count;
    t->numel = 1;
    int i = 0;
    for (const pd_json *d = js->child; d; d = d->next, i++) {
        if (d->type != PD_JSON_INT || d->num < 0 || d->num > INT_MAX)
            return pd_fail(PD_ERR_FORMAT,
                           "%s: tensor '%s': shape entry %d is not an integer in [0, %d]",
                           f->path, name, i, INT_MAX);
        t->shape[i] = (int)d->num;
        if (t->shape[i] && t->numel > SIZE_MAX / 8 / (size_t)t->shape[i])
            return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': element count overflows", f->path,
                           name);
        t->numel *= (size_t)t->shape[i];
    }
    return PD_OK;
}

/* Validates one entry {"dtype", "shape", "data_offsets"}; begin/end out. */
static pd_status parse_entry(pd_st_file *f, const pd_json *e, pd_st_tensor *t, uint64_t *begin,
                             uint64_t *end) {
    const char *name = e->key, *path = f->path;
    t->name = name;
    if (!*name) return pd_fail(PD_ERR_FORMAT, "%s: tensor with an empty name", path);
    if (e->type != PD_JSON_OBJECT)
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': entry is a JSON %s, expected an object",
                       path, name, pd_json_type_name(e->type));
    for (const pd_json *m = e->child; m; m = m->next)
        if (strcmp(m->key, "dtype") && strcmp(m->key, "shape") && strcmp(m->key, "data_offsets"))
            return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': unknown key \"%s\"", path, name,
                           m->key);
    const pd_json *dt = pd_json_get(e, "dtype");
    if (!dt || dt->type != PD_JSON_STRING)
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': \"dtype\" missing or not a string",
                       path, name);
    if (!dtype_from_name(dt->str, &t->dtype))
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name,
                       dt->str);
    pd_status s = parse_shape(f, name, pd_json_get(e, "shape"), t);
    if (s) return s;
    const pd_json *off = pd_json_get(e, "data_offsets");
    if (!off || off->type != PD_JSON_ARRAY || off->count != 2 ||
        off->child->type != PD_JSON_INT || off->child->next->type != PD_JSON_INT)
        return pd_fail(PD_ERR_FORMAT,
                       "%s: tensor '%s': \"data_offsets\" must be an array of 2 integers", path,
                       name);
    int64_t b = off->child->num, en = off->child->next->num;
    if (b < 0 || en < b)
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] are not an "
                       "increasing pair of non-negative offsets", path, name, (long long)b,
                       (long long)en);
    *begin = (uint64_t)b;
    *end = (uint64_t)en;
    if (*end > f->data_size)
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] outside the "
                       "%zu-byte data area (file truncated?)", path, name,
                       (unsigned long long)*begin, (unsigned long long)*end, f->data_size);
    size_t need = t->numel * pd_st_dtype_size(t->dtype);
    if (*end - *begin != need) {
        char d[200];
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] but shape %s "
                       "needs %zu bytes", path, name, (unsigned long long)*begin,
                       (unsigned long long)*end, pd_st_describe(t, d, sizeof d), need);
    }
    t->data = f->data ? f->data + *begin : NULL;
    t->nbytes = need;
    return PD_OK;
}

static pd_status parse_metadata(pd_st_file *f, const pd_json *m) {
    if (f->meta) return pd_fail(PD_ERR_FORMAT, "%s: \"__metadata__\" appears twice", f->path);
    if (m->type != PD_JSON_OBJECT)
        return pd_fail(PD_ERR_FORMAT, "%s: \"__metadata__\" is a JSON %s, expected an object",
                       f->path, pd_json_type_name(m->type));
    if (m->count > PD_MAX_ST_METADATA)
        return pd_fail(PD_ERR_FORMAT, "%s: %d metadata keys, above the limit %d", f->path,
                       m->count, PD_MAX_ST_METADATA);
    /* duplicate keys through a hash set of the keys seen (open addressing,
     * at most half full): linear in the number of keys */
    size_t n_slots = 16;
    while (n_slots < 2 * (size_t)m->count) n_slots *= 2;
    const char **slots = calloc(n_slots, sizeof *slots);
    f->meta_at = calloc((size_t)m->count + 1, sizeof *f->meta_at);
    if (!slots || !f->meta_at) {
        free(slots);
        return pd_fail(PD_ERR_NOMEM, "%s: out of memory for %d metadata keys", f->path, m->count);
    }
    pd_status s = PD_OK;
    int i = 0;
    for (const pd_json *kv = m->child; kv && !s; kv = kv->next) {
        if (kv->type != PD_JSON_STRING) {
            s = pd_fail(PD_ERR_FORMAT, "%s: metadata \"%s\" is a JSON %s, expected a string",
                        f->path, kv->key, pd_json_type_name(kv->type));
            break;
        }
        uint64_t h = 1469598103934665603ull; /* FNV-1a */
        for (const char *c = kv->key; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
        size_t j = (size_t)h & (n_slots - 1);
        while (slots[j] && strcmp(slots[j], kv->key)) j = (j + 1) & (n_slots - 1);
        if (slots[j])
            s = pd_fail(PD_ERR_FORMAT, "%s: metadata key \"%s\" appears twice", f->path, kv->key);
        slots[j] = kv->key;
        f->meta_at[i++] = kv;
    }
    free(slots);
    if (s) return s;
    f->meta = m;
    f->n_meta = m->count;
    return PD_OK;
}

/* qsort callbacks need context: these two run on one thread at a time. */
static _Thread_local const pd_st_file *sort_file;
static _Thread_local const uint64_t *sort_begin;

static int cmp_name(const void *a, const void *b) {
    return strcmp(sort_file->tensors[*(const int *)a].name,
                  sort_file->tensors[*(const int *)b].name);
}

static int cmp_begin(const void *a, const void *b) {
    uint64_t x = sort_begin[*(const int *)a], y = sort_begin[*(const int *)b];
    return (x > y) - (x < y);
}

/* Duplicate names (JSON allows them, safetensors does not) and overlapping
 * byte ranges; builds the name index. */
static pd_status check_tensor_set(pd_st_file *f, const uint64_t *begin, int *order) {
    for (int i = 0; i < f->n; i++) f->by_name[i] = order[i] = i;
    sort_file = f;
    qsort(f->by_name, (size_t)f->n, sizeof(int), cmp_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->tensors[f->by_name[i - 1]].name, f->tensors[f->by_name[i]].name) == 0)
            return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path,
                           f->tensors[f->by_name[i]].name);
    sort_begin = begin;
    qsort(order, (size_t)f->n, sizeof(int), cmp_begin);
    int prev = -1; /* last non-empty range seen */
    for (int i = 0; i < f->n; i++) {
        int cur = order[i];
        if (!f->tensors[cur].nbytes) continue;
        if (prev >= 0 && begin[prev] + f->tensors[prev].nbytes > begin[cur])
            return pd_fail(PD_ERR_FORMAT, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] "
                           "overlap", f->path, f->tensors[prev].name,
                           (unsigned long long)begin[prev],
                           (unsigned long long)(begin[prev] + f->tensors[prev].nbytes),
                           f->tensors[cur].name, (unsigned long long)begin[cur],
                           (unsigned long long)(begin[cur] + f->tensors[cur].nbytes));
        prev = cur;
    }
    return PD_OK;
}

static pd_status parse_header(pd_st_file *f, const char *hdr, size_t len) {
    char err[256];
    f->doc = pd_json_parse(hdr, len, err, sizeof err);
    if (!f->doc) return pd_fail(PD_ERR_FORMAT, "%s: bad JSON header: %s", f->path, err);
    const pd_json *root = pd_json_root(f->doc);
    if (root->type != PD_JSON_OBJECT)
        return pd_fail(PD_ERR_FORMAT, "%s: header is a JSON %s, expected an object", f->path,
                       pd_json_type_name(root->type));
    int cap = root->count;
    if (cap > PD_MAX_ST_TENSORS + 1)
        return pd_fail(PD_ERR_FORMAT, "%s: %d header entries, above the limit of %d tensors",
                       f->path, cap, PD_MAX_ST_TENSORS);
    f->tensors = calloc((size_t)cap + 1, sizeof *f->tensors);
    f->by_name = calloc((size_t)cap + 1, sizeof(int));
    uint64_t *begin = calloc((size_t)cap + 1, sizeof *begin);
    int *order = calloc((size_t)cap + 1, sizeof *order);
    pd_status s = PD_OK;
    if (!f->tensors || !f->by_name || !begin || !order) {
        s = pd_fail(PD_ERR_NOMEM, "%s: out of memory for %d header entries", f->path, cap);
        goto done;
    }
    for (const pd_json *e = root->child; e && !s; e = e->next) {
        if (strcmp(e->key, "__metadata__") == 0) {
            s = parse_metadata(f, e);
            continue;
        }
        uint64_t end;
        s = parse_entry(f, e, &f->tensors[f->n], &begin[f->n], &end);
        if (!s) f->n++;
    }
    if (!s) s = check_tensor_set(f, begin, order);
done:
    free(begin);
    free(order);
    return s;
}

static pd_status open_file(const char *path, bool header_only, pd_st_file **out) {
    if (!out) return pd_fail(PD_ERR_ARG, "st_open: out is NULL");
    *out = NULL;
    if (!path) return pd_fail(PD_ERR_ARG, "st_open: path is NULL");
    pd_st_file *f = calloc(1, sizeof *f);
    if (f) f->path = strdup(path);
    if (!f || !f->path) {
        free(f);
        return pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
    }
    const char *hdr = NULL;
    size_t hdr_len = 0;
    pd_status s = load_file(f, header_only, &hdr, &hdr_len);
    if (!s) s = parse_header(f, hdr, hdr_len);
    if (s) {
        pd_st_close(f);
        return s;
    }
    *out = f;
    return PD_OK;
}

pd_status pd_st_open(const char *path, pd_st_file **out) { return open_file(path, false, out); }

pd_status pd_st_open_header(const char *path, pd_st_file **out) {
    return open_file(path, true, out);
}

void pd_st_close(pd_st_file *f) {
    if (!f) return;
    free(f->meta_at);
    pd_json_free(f->doc);
    free(f->tensors);
    free(f->by_name);
    free(f->alloc);
    free(f->path);
    free(f);
}

/* ---- queries ------------------------------------------------------------------ */

const char *pd_st_path(const pd_st_file *f) { return f ? f->path : NULL; }
int pd_st_count(const pd_st_file *f) { return f ? f->n : 0; }

const pd_st_tensor *pd_st_at(const pd_st_file *f, int i) {
    return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const pd_st_tensor *pd_st_find(const pd_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const pd_st_tensor *t = &f->tensors[f->by_name[mid]];
        int c = strcmp(name, t->name);
        if (!c) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

int pd_st_metadata_count(const pd_st_file *f) { return f ? f->n_meta : 0; }

void pd_st_metadata_at(const pd_st_file *f, int i, const char **key, const char **value) {
    const pd_json *kv = f && i >= 0 && i < f->n_meta ? f->meta_at[i] : NULL;
    if (key) *key = kv ? kv->key : NULL;
    if (value) *value = kv && kv->type == PD_JSON_STRING ? kv->str : NULL;
}

const char *pd_st_metadata(const pd_st_file *f, const char *key) {
    const pd_json *kv = f && key ? pd_json_get(f->meta, key) : NULL;
    return kv && kv->type == PD_JSON_STRING ? kv->str : NULL;
}

/* ---- conversion ---------------------------------------------------------------- */

pd_status pd_st_read_f32(const pd_st_file *f, const char *name, float *dst,
                         const int *expect_shape, int ndim) {
    if (!f || !name || !dst || (ndim && !expect_shape))
        return pd_fail(PD_ERR_ARG, "st_read_f32: NULL argument");
    const pd_st_tensor *t = pd_st_find(f, name);
    if (!t) return pd_fail(PD_ERR_FORMAT, "%s: no tensor '%s'", f->path, name);
    if (!f->data)
        return pd_fail(PD_ERR_ARG, "%s: opened for its header only; tensor '%s' not read",
                       f->path, name);
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == expect_shape[i];
    if (!same) {
        char have[200], want[160];
        shape_str(expect_shape, ndim, want, sizeof want);
        return pd_fail(PD_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", f->path, name,
                       pd_st_describe(t, have, sizeof have), want);
    }
    switch (t->dtype) {
    case PD_ST_F32:
        memcpy(dst, t->data, t->nbytes);
        return PD_OK;
    case PD_ST_F64:
        for (size_t i = 0; i < t->numel; i++) {
            double v;
            memcpy(&v, (const char *)t->data + 8 * i, 8);
            dst[i] = (float)v;
        }
        return PD_OK;
    case PD_ST_BF16: /* bf16 is the top half of an f32 */
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, (const char *)t->data + 2 * i, 2);
            uint32_t bits = (uint32_t)h << 16;
            memcpy(&dst[i], &bits, 4);
        }
        return PD_OK;
    default:
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' is %s, expected F32, F64 or BF16", f->path,
                       name, pd_st_dtype_name(t->dtype));
    }
}
