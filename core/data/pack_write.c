/* Writing packed data sets (format: pack_format.h), a chunk at a time.
 *
 * Atomic like the checkpoint writer: PATH.tmp.<pid> is written, fsync'd and
 * renamed over PATH, then the folder is synced. The header goes in last,
 * once the count and checksums are known; until then its bytes are zero,
 * so a reader never mistakes a half-written temporary for a packed file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data_internal.h"
#include "io/file_open.h"
#include "io/file_write.h"
#include "pack_format.h"
#include "pixeldit/limits.h"

typedef struct pack_writer {
    const char *path;
    char *tmp;
    int fd;
    int C, S;
    int num_classes;
    uint8_t *header; /* (header_bytes) */
    uint32_t header_bytes;
    uint64_t pixels_offset;
    uint64_t count;
    uint32_t crc;     /* of the pixels so far */
    uint8_t *labels;  /* (cap * 4) little-endian u32 */
    uint64_t cap;
} pack_writer;

static pd_status write_all(pack_writer *w, const void *buf, size_t n) {
    if (pd_write_all(w->fd, buf, n)) return PD_OK;
    return pd_fail(PD_ERR_IO, "%s: write to '%s' failed: %s", w->path, w->tmp, strerror(errno));
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, uint64_t n) {
    return (uint32_t)crc32_z(crc, p, (z_size_t)n);
}

/* Removes PATH.tmp.<pid> left by packs that were killed (their process is
 * gone), so rerunning an interrupted pack does not pile up temporaries. */
static void remove_stale_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    DIR *d = opendir(dir);
    if (!d) return;
    size_t blen = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, base, blen) != 0 || strncmp(e->d_name + blen, ".tmp.", 5) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + blen + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        unlink(full);
    }
    closedir(d);
}

static void writer_free(pack_writer *w) {
    if (w->fd >= 0) close(w->fd);
    if (w->tmp && w->fd >= 0) unlink(w->tmp);
    free(w->tmp);
    free(w->header);
    free(w->labels);
}

/* Opens the temporary and reserves the header (zeros). */
static pd_status writer_open(pack_writer *w, const char *path, int C, int S, int num_classes,
                             char *const *names) {
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->path = path;
    w->C = C;
    w->S = S;
    w->num_classes = num_classes;
    if (num_classes < 1 || num_classes > PD_MAX_CLASSES)
        return pd_fail(PD_ERR_ARG, "%s: %d classes, expected 1..%d", path, num_classes,
                       PD_MAX_CLASSES);
    uint64_t hb = PACK_FIXED_BYTES;
    for (int k = 0; k < num_classes; k++) {
        size_t len = names[k] ? strlen(names[k]) : 0;
        if (len < 1 || len > PACK_MAX_NAME)
            return pd_fail(PD_ERR_ARG, "%s: class %d's name has %zu bytes, expected 1..%d", path,
                           k, len, PACK_MAX_NAME);
        hb += 2 + len;
    }
    w->header_bytes = (uint32_t)hb;
    w->pixels_offset = pack_align(hb);
    size_t tlen = strlen(path) + 32;
    w->header = calloc(1, (size_t)w->pixels_offset);
    w->tmp = malloc(tlen);
    if (!w->header || !w->tmp) return pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
    uint8_t *p = w->header + PACK_FIXED_BYTES;
    for (int k = 0; k < num_classes; k++) {
        size_t len = strlen(names[k]);
        p[0] = (uint8_t)len;
        p[1] = (uint8_t)(len >> 8);
        memcpy(p + 2, names[k], len);
        p += 2 + len;
    }
    remove_stale_temps(path);
    snprintf(w->tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    w->fd = pd_tmp_open_excl(w->tmp);
    if (w->fd < 0)
        return pd_fail(PD_ERR_IO, "%s: cannot create temporary file '%s': %s", path, w->tmp,
                       strerror(errno));
    /* zeros where the header will go: no magic until the file is complete */
    uint8_t *zeros = calloc(1, (size_t)w->pixels_offset);
    if (!zeros) return pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
    pd_status s = write_all(w, zeros, (size_t)w->pixels_offset);
    free(zeros);
    return s;
}

/* Appends images (n, C, S, S) with their labels, skipping those with
 * keep[i] == 0 (keep may be NULL). */
static pd_status writer_append(pack_writer *w, const uint8_t *pixels, const int *labels, int n,
                               const uint8_t *keep) {
    size_t img = (size_t)w->C * w->S * w->S;
    for (int i = 0; i < n; i++) {
        if (keep && !keep[i]) continue;
        if (w->count >= (uint64_t)PD_MAX_DATASET_IMAGES)
            return pd_fail(PD_ERR_ARG, "%s: more than %d images", w->path, PD_MAX_DATASET_IMAGES);
        if (labels[i] < 0 || labels[i] >= w->num_classes)
            return pd_fail(PD_ERR_ARG, "%s: label %d outside [0, %d)", w->path, labels[i],
                           w->num_classes);
        if (w->count == w->cap) {
            uint64_t cap = w->cap ? 2 * w->cap : 1024;
            uint8_t *grown = realloc(w->labels, (size_t)cap * 4);
            if (!grown) return pd_fail(PD_ERR_NOMEM, "%s: out of memory for labels", w->path);
            w->labels = grown;
            w->cap = cap;
        }
        pack_put32(w->labels + w->count * 4, (uint32_t)labels[i]);
        w->count++;
        const uint8_t *src = pixels + (size_t)i * img;
        w->crc = crc_update(w->crc, src, img);
        pd_status s = write_all(w, src, img);
        if (s) return s;
    }
    return PD_OK;
}

/* Labels, then the header at offset 0, fsync, rename. */
static pd_status writer_finish(pack_writer *w, pd_pack_result *res) {
    if (w->count == 0) return pd_fail(PD_ERR_FORMAT, "%s: no images to pack", w->path);
    pd_status s = write_all(w, w->labels, (size_t)w->count * 4);
    if (s) return s;
    uint32_t payload_crc = crc_update(w->crc, w->labels, w->count * 4);
    uint64_t pixel_bytes = w->count * (uint64_t)w->C * w->S * w->S;
    uint8_t *h = w->header;
    memcpy(h, PACK_MAGIC, 8);
    pack_put32(h + 8, PD_PACK_VERSION);
    pack_put32(h + 12, w->header_bytes);
    pack_put32(h + 16, (uint32_t)w->C);
    pack_put32(h + 20, (uint32_t)w->S);
    pack_put64(h + 24, w->count);
    pack_put32(h + 32, (uint32_t)w->num_classes);
    pack_put32(h + 36, 0);
    pack_put64(h + 40, w->pixels_offset);
    pack_put32(h + 48, payload_crc);
    pack_put32(h + 52, 0);
    pack_put64(h + 56, w->pixels_offset + pixel_bytes);
    pack_put32(h + 36, crc_update(0, h, w->header_bytes));
    ssize_t r = pwrite(w->fd, h, w->header_bytes, 0);
    if (r != (ssize_t)w->header_bytes)
        return pd_fail(PD_ERR_IO, "%s: writing the header to '%s' failed: %s", w->path, w->tmp,
                       r < 0 ? strerror(errno) : "short write");
    if (fsync(w->fd) != 0)
        return pd_fail(PD_ERR_IO, "%s: fsync of '%s' failed: %s", w->path, w->tmp, strerror(errno));
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        unlink(w->tmp);
        return pd_fail(PD_ERR_IO, "%s: close of '%s' failed: %s", w->path, w->tmp, strerror(errno));
    }
    if (rename(w->tmp, w->path) != 0) {
        int e = errno;
        unlink(w->tmp);
        return pd_fail(PD_ERR_IO, "%s: cannot rename '%s' over it: %s", w->path, w->tmp,
                       strerror(e));
    }
    pd_sync_parent_dir(w->path);
    if (res) {
        res->images = (int64_t)w->count;
        res->bytes = (int64_t)(w->pixels_offset + pixel_bytes + w->count * 4);
    }
    return PD_OK;
}

pd_status pd_pack_dataset(const pd_dataset *ds, const char *out_path, pd_pack_result *res) {
    if (!ds || !out_path) return pd_fail(PD_ERR_ARG, "pack_dataset: NULL argument");
    if (res) memset(res, 0, sizeof *res);
    pack_writer w;
    pd_status s = writer_open(&w, out_path, ds->channels, ds->size, ds->num_classes,
                              ds->class_names);
    if (!s) s = writer_append(&w, ds->pixels, ds->labels, ds->n, NULL);
    if (!s) s = writer_finish(&w, res);
    writer_free(&w);
    return s;
}

pd_status pd_pack_folder(const char *root, const pd_dataset_opts *opts, const char *out_path,
                         pd_pack_progress_fn progress, void *user, pd_pack_result *res) {
    if (!root || !out_path) return pd_fail(PD_ERR_ARG, "pack_folder: NULL argument");
    if (res) memset(res, 0, sizeof *res);
    pd_status s = pd_dataset_check_opts(opts, root);
    if (s) return s;
    pd_folder_list l;
    if ((s = pd_folder_list_open(root, &l))) return s;
    int C = opts->channels, S = opts->image_size, skipped = 0;
    size_t img = (size_t)C * S * S;
    /* a chunk of about 64 MB (at least 16 images) keeps every thread busy */
    int chunk = (int)(((size_t)64 << 20) / img);
    if (chunk < 16) chunk = 16;
    if (chunk > l.n) chunk = l.n;
    uint8_t *buf = malloc((size_t)chunk * img), *ok = malloc((size_t)chunk);
    pack_writer w;
    memset(&w, 0, sizeof w);
    w.fd = -1;
    if (!buf || !ok) s = pd_fail(PD_ERR_NOMEM, "%s: out of memory for %d images", root, chunk);
    if (!s) s = writer_open(&w, out_path, C, S, l.num_classes, l.class_names);
    for (int first = 0; first < l.n && !s; first += chunk) {
        int n = l.n - first < chunk ? l.n - first : chunk;
        s = pd_folder_decode(&l, NULL, first, n, opts, buf, ok, &skipped);
        if (!s) s = writer_append(&w, buf, l.labels + first, n, ok);
        if (!s && progress) progress(user, first + n, l.n, skipped);
    }
    if (!s && w.count == 0)
        s = pd_fail(PD_ERR_FORMAT, "%s: all %d images were skipped as corrupt", root, l.n);
    if (!s) s = writer_finish(&w, res);
    if (res) res->skipped = skipped;
    writer_free(&w);
    free(buf);
    free(ok);
    pd_folder_list_free(&l);
    return s;
}
