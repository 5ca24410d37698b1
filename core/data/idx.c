/* IDX files (MNIST / Fashion-MNIST): big-endian header, then raw u8 data.
 * zlib's gzread reads .gz and plain files alike. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io/file_open.h"
#include "pixeldit/data.h"

#define IDX_MAGIC_IMAGES 0x00000803u /* u8, 3 dims */
#define IDX_MAGIC_LABELS 0x00000801u /* u8, 1 dim */
#define IDX_MAX_SIDE 65535u

/* Reads exactly len bytes unless the file ends; returns how many it got, or
 * -1 on a stream error (message set). */
static long long read_all(gzFile gz, const char *path, uint8_t *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        size_t chunk = len - got;
        if (chunk > (1u << 30)) chunk = 1u << 30;
        int r = gzread(gz, buf + got, (unsigned)chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            /* A cut-off .gz reports an error; it is still a truncation. */
            if (zerr == Z_BUF_ERROR) break;
            pd_fail(PD_ERR_FORMAT, "%s: read error after %zu bytes: %s", path, got, msg);
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Opens path and reads the magic plus ndims dimensions into dims. */
static pd_status open_header(const char *path, uint32_t magic, int ndims, gzFile *gz_out,
                             uint32_t *dims) {
    int fd = pd_open_regular(path, "IDX file", PD_ERR_IO, NULL);
    if (fd < 0) return PD_ERR_IO;
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return pd_fail(PD_ERR_NOMEM, "%s: cannot open IDX file: out of memory", path);
    }
    uint8_t hdr[4 + 4 * 3];
    size_t want = 4 + 4 * (size_t)ndims;
    long long got = read_all(gz, path, hdr, want);
    if (got < 0) {
        gzclose(gz);
        return PD_ERR_FORMAT;
    }
    /* The magic first: a wrong file type is the likelier mistake. */
    uint32_t found = got >= 4 ? be32(hdr) : 0;
    if (got >= 4 && found != magic) {
        gzclose(gz);
        return pd_fail(PD_ERR_FORMAT, "%s: bad IDX magic: expected 0x%08x (%s), found 0x%08x",
                       path, magic, ndims == 3 ? "u8 images, 3 dims" : "u8 labels, 1 dim",
                       found);
    }
    if ((size_t)got < want) {
        gzclose(gz);
        return pd_fail(PD_ERR_FORMAT, "%s: truncated: IDX header needs %zu bytes, read %lld",
                       path, want, got);
    }
    for (int i = 0; i < ndims; i++) dims[i] = be32(hdr + 4 + 4 * i);
    *gz_out = gz;
    return PD_OK;
}

/* Reads the payload into a new buffer and insists that nothing is missing
 * or left over. The buffer grows with the data actually read, so a small
 * file whose header promises gigabytes costs no more than its content. */
static pd_status read_payload(gzFile gz, const char *path, size_t len, const char *what,
                              uint8_t **out) {
    size_t cap = len < (1u << 20) ? len : (1u << 20), got = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return pd_fail(PD_ERR_NOMEM, "%s: cannot allocate %zu bytes for %s", path, cap, what);
    for (;;) {
        long long r = read_all(gz, path, buf + got, cap - got);
        if (r < 0) {
            free(buf);
            return PD_ERR_FORMAT;
        }
        got += (size_t)r;
        if (got < cap || cap == len) break;
        size_t grown = cap > len / 2 ? len : 2 * cap;
        uint8_t *b = realloc(buf, grown);
        if (!b) {
            free(buf);
            return pd_fail(PD_ERR_NOMEM, "%s: cannot allocate %zu bytes for %s", path, grown, what);
        }
        buf = b;
        cap = grown;
    }
    uint8_t extra;
    pd_status st = PD_OK;
    if (got < len)
        st = pd_fail(PD_ERR_FORMAT, "%s: truncated: header promises %s (%zu bytes), read %zu",
                     path, what, len, got);
    else if (read_all(gz, path, &extra, 1) == 1)
        st = pd_fail(PD_ERR_FORMAT, "%s: trailing data after %s (%zu bytes)", path, what, len);
    if (st) free(buf);
    else *out = buf;
    return st;
}

pd_status pd_idx_read_images(const char *path, uint8_t **pixels, int *n, int *rows,
                             int *cols) {
    if (!path || !pixels || !n || !rows || !cols)
        return pd_fail(PD_ERR_ARG, "idx_read_images: NULL argument");
    *pixels = NULL;
    gzFile gz = NULL;
    uint32_t d[3] = {0};
    pd_status st = open_header(path, IDX_MAGIC_IMAGES, 3, &gz, d);
    if (st != PD_OK) return st;
    if (d[0] == 0 || d[0] > INT_MAX || d[1] == 0 || d[1] > IDX_MAX_SIDE || d[2] == 0 ||
        d[2] > IDX_MAX_SIDE) {
        gzclose(gz);
        return pd_fail(PD_ERR_FORMAT,
                       "%s: bad IDX image dims %u x %u x %u: expected 1..%d images of "
                       "1..%u x 1..%u pixels",
                       path, d[0], d[1], d[2], INT_MAX, IDX_MAX_SIDE, IDX_MAX_SIDE);
    }
    size_t len = (size_t)d[0] * d[1] * d[2]; /* < 2^63: each factor < 2^31 */
    uint8_t *buf = NULL;
    char what[96];
    snprintf(what, sizeof what, "%u images of %ux%u", d[0], d[1], d[2]);
    st = read_payload(gz, path, len, what, &buf);
    gzclose(gz);
    if (st != PD_OK) return st;
    *pixels = buf;
    *n = (int)d[0];
    *rows = (int)d[1];
    *cols = (int)d[2];
    return PD_OK;
}

pd_status pd_idx_read_labels(const char *path, uint8_t **labels, int *n) {
    if (!path || !labels || !n) return pd_fail(PD_ERR_ARG, "idx_read_labels: NULL argument");
    *labels = NULL;
    gzFile gz = NULL;
    uint32_t d[1] = {0};
    pd_status st = open_header(path, IDX_MAGIC_LABELS, 1, &gz, d);
    if (st != PD_OK) return st;
    if (d[0] == 0 || d[0] > INT_MAX) {
        gzclose(gz);
        return pd_fail(PD_ERR_FORMAT, "%s: bad IDX label count %u: expected 1..%d", path, d[0],
                       INT_MAX);
    }
    uint8_t *buf = NULL;
    char what[64];
    snprintf(what, sizeof what, "%u labels", d[0]);
    st = read_payload(gz, path, d[0], what, &buf);
    gzclose(gz);
    if (st != PD_OK) return st;
    *labels = buf;
    *n = (int)d[0];
    return PD_OK;
}
