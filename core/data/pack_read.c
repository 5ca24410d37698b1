/* Opening packed data sets (format: pack_format.h) through mmap.
 *
 * The file is untrusted: each header field is checked against the limits
 * before it is used, every size is computed in 64 bits from checked
 * factors, and the file must be exactly as long as the header says, so no
 * later access through the mapping can run past it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data_internal.h"
#include "pack_format.h"
#include "pixeldit/limits.h"

/* pread of exactly n bytes at off; -1 on error or a short file. */
static int read_at(int fd, void *buf, size_t n, uint64_t off) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* What the fixed header says, once checked. */
typedef struct pack_header {
    uint32_t header_bytes, C, S, K, header_crc, payload_crc;
    uint64_t count, pixels_offset, labels_offset, file_bytes;
} pack_header;

static pd_status check_fixed(const char *path, const uint8_t *h, uint64_t file_bytes,
                             pack_header *o) {
    if (memcmp(h, PACK_MAGIC, 8) != 0)
        return pd_fail(PD_ERR_FORMAT, "%s: not a packed data set (expected magic \"PDPACK\\r\\n\")",
                       path);
    uint32_t version = pack_get32(h + 8);
    if (version != PD_PACK_VERSION)
        return pd_fail(PD_ERR_FORMAT, "%s: packed format version %u, this build reads %d", path,
                       version, PD_PACK_VERSION);
    o->header_bytes = pack_get32(h + 12);
    o->C = pack_get32(h + 16);
    o->S = pack_get32(h + 20);
    o->count = pack_get64(h + 24);
    o->K = pack_get32(h + 32);
    o->header_crc = pack_get32(h + 36);
    o->pixels_offset = pack_get64(h + 40);
    o->payload_crc = pack_get32(h + 48);
    o->labels_offset = pack_get64(h + 56);
    if (o->C != 1 && o->C != 3)
        return pd_fail(PD_ERR_FORMAT, "%s: channels = %u, expected 1 or 3", path, o->C);
    if (o->S < 1 || o->S > PD_MAX_IMAGE_SIZE)
        return pd_fail(PD_ERR_FORMAT, "%s: image size = %u, expected 1..%d", path, o->S,
                       PD_MAX_IMAGE_SIZE);
    if (o->count < 1 || o->count > PD_MAX_DATASET_IMAGES)
        return pd_fail(PD_ERR_FORMAT, "%s: count = %llu, expected 1..%d", path,
                       (unsigned long long)o->count, PD_MAX_DATASET_IMAGES);
    if (o->K < 1 || o->K > PD_MAX_CLASSES)
        return pd_fail(PD_ERR_FORMAT, "%s: num_classes = %u, expected 1..%d", path, o->K,
                       PD_MAX_CLASSES);
    uint64_t max_hb = PACK_FIXED_BYTES + (uint64_t)o->K * (2 + PACK_MAX_NAME);
    if (o->header_bytes < PACK_FIXED_BYTES + 3 * (uint64_t)o->K || o->header_bytes > max_hb)
        return pd_fail(PD_ERR_FORMAT, "%s: header_bytes = %u, expected %llu..%llu for %u classes",
                       path, o->header_bytes, (unsigned long long)(PACK_FIXED_BYTES + 3 * (uint64_t)o->K),
                       (unsigned long long)max_hb, o->K);
    if (o->pixels_offset != pack_align(o->header_bytes))
        return pd_fail(PD_ERR_FORMAT, "%s: pixels_offset = %llu, expected %llu", path,
                       (unsigned long long)o->pixels_offset,
                       (unsigned long long)pack_align(o->header_bytes));
    /* each factor is bounded above, so these cannot overflow 64 bits:
     * 1e8 * 3 * 4096 * 4096 < 2^63 */
    uint64_t pixel_bytes = o->count * o->C * o->S * o->S;
    if (o->labels_offset != o->pixels_offset + pixel_bytes)
        return pd_fail(PD_ERR_FORMAT, "%s: labels_offset = %llu, expected %llu", path,
                       (unsigned long long)o->labels_offset,
                       (unsigned long long)(o->pixels_offset + pixel_bytes));
    o->file_bytes = o->labels_offset + 4 * o->count;
    if (file_bytes != o->file_bytes)
        return pd_fail(PD_ERR_FORMAT,
                       "%s: file is %llu bytes, the header implies %llu (%llu images of %ux%ux%u); "
                       "truncated or not fully written",
                       path, (unsigned long long)file_bytes, (unsigned long long)o->file_bytes,
                       (unsigned long long)o->count, o->C, o->S, o->S);
    if (pack_get32(h + 52) != 0)
        return pd_fail(PD_ERR_FORMAT, "%s: reserved header field is not 0", path);
    return PD_OK;
}

/* Reads the class table (after the header CRC has been checked) into ds. */
static pd_status read_names(const char *path, const uint8_t *h, const pack_header *ph,
                            pd_dataset *ds) {
    uint64_t off = PACK_FIXED_BYTES;
    for (uint32_t k = 0; k < ph->K; k++) {
        if (off + 2 > ph->header_bytes)
            return pd_fail(PD_ERR_FORMAT, "%s: class table ends at class %u of %u", path, k, ph->K);
        uint32_t len = (uint32_t)h[off] | (uint32_t)h[off + 1] << 8;
        off += 2;
        if (len < 1 || len > PACK_MAX_NAME || off + len > ph->header_bytes)
            return pd_fail(PD_ERR_FORMAT, "%s: class %u's name has length %u, expected 1..%d within "
                           "the header", path, k, len, PACK_MAX_NAME);
        if (memchr(h + off, 0, len))
            return pd_fail(PD_ERR_FORMAT, "%s: class %u's name holds a NUL byte", path, k);
        char name[PACK_MAX_NAME + 1];
        memcpy(name, h + off, len);
        name[len] = '\0';
        if (pd_dataset_set_class_name(ds, (int)k, name) != 0)
            return pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
        off += len;
    }
    if (off != ph->header_bytes)
        return pd_fail(PD_ERR_FORMAT, "%s: %llu stray bytes after the class table", path,
                       (unsigned long long)(ph->header_bytes - off));
    return PD_OK;
}

/* CRC-32 of [pixels_offset, end) by pread, 1 MiB at a time. */
static pd_status verify_payload(const char *path, int fd, const pack_header *ph) {
    size_t cap = (size_t)1 << 20;
    uint8_t *buf = malloc(cap);
    if (!buf) return pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
    uint32_t crc = 0;
    for (uint64_t off = ph->pixels_offset; off < ph->file_bytes;) {
        size_t n = ph->file_bytes - off < cap ? (size_t)(ph->file_bytes - off) : cap;
        if (read_at(fd, buf, n, off) != 0) {
            free(buf);
            return pd_fail(PD_ERR_IO, "%s: read failed at byte %llu: %s", path,
                           (unsigned long long)off, strerror(errno));
        }
        crc = (uint32_t)crc32_z(crc, buf, n);
        off += n;
    }
    free(buf);
    if (crc != ph->payload_crc)
        return pd_fail(PD_ERR_FORMAT, "%s: payload checksum mismatch (CRC-32 %08x, header says "
                       "%08x): the file is damaged; pack it again", path, crc, ph->payload_crc);
    return PD_OK;
}

pd_status pd_dataset_open_packed(const char *path, bool verify, pd_dataset **out) {
    if (!path || !out) return pd_fail(PD_ERR_ARG, "dataset_open_packed: NULL argument");
    *out = NULL;
    /* O_NONBLOCK: a FIFO must not block the open (refused just below) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return pd_fail(PD_ERR_IO, "%s: cannot open packed data set: %s", path, strerror(errno));
    pd_status s = PD_OK;
    uint8_t fixed[PACK_FIXED_BYTES], *h = NULL;
    pack_header ph = {0};
    pd_dataset *ds = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        s = pd_fail(PD_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        s = pd_fail(PD_ERR_FORMAT, "%s: not a regular file (expected a packed data set)", path);
        goto done;
    }
    if ((uint64_t)sb.st_size < PACK_FIXED_BYTES || read_at(fd, fixed, sizeof fixed, 0) != 0) {
        s = pd_fail(PD_ERR_FORMAT, "%s: %lld bytes, too short for a packed data set header", path,
                    (long long)sb.st_size);
        goto done;
    }
    if ((s = check_fixed(path, fixed, (uint64_t)sb.st_size, &ph))) goto done;
    if (!(h = malloc(ph.header_bytes))) {
        s = pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (read_at(fd, h, ph.header_bytes, 0) != 0) {
        s = pd_fail(PD_ERR_IO, "%s: cannot read the header: %s", path, strerror(errno));
        goto done;
    }
    memset(h + 36, 0, 4);
    uint32_t hcrc = (uint32_t)crc32_z(0, h, ph.header_bytes);
    if (hcrc != ph.header_crc) {
        s = pd_fail(PD_ERR_FORMAT, "%s: header checksum mismatch (CRC-32 %08x, header says %08x)",
                    path, hcrc, ph.header_crc);
        goto done;
    }
    if (verify && (s = verify_payload(path, fd, &ph))) goto done;
    /* labels and class names are copied; only the pixels stay mapped */
    ds = calloc(1, sizeof *ds);
    if (ds) {
        ds->labels = malloc((size_t)ph.count * sizeof(int));
        ds->class_names = calloc(ph.K, sizeof(char *));
    }
    if (!ds || !ds->labels || !ds->class_names) {
        s = pd_fail(PD_ERR_NOMEM, "%s: out of memory for %llu labels", path,
                    (unsigned long long)ph.count);
        goto done;
    }
    ds->num_classes = (int)ph.K;
    if ((s = read_names(path, h, &ph, ds))) goto done;
    void *map = mmap(NULL, (size_t)ph.file_bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        s = pd_fail(PD_ERR_IO, "%s: cannot map %llu bytes: %s", path,
                    (unsigned long long)ph.file_bytes, strerror(errno));
        goto done;
    }
    ds->map = map;
    ds->map_bytes = (size_t)ph.file_bytes;
    ds->pixels = (uint8_t *)map + ph.pixels_offset;
    ds->n = (int)ph.count;
    ds->channels = (int)ph.C;
    ds->size = (int)ph.S;
    /* batches come in shuffled order: read-ahead would only fill memory */
    (void)madvise(map, ds->map_bytes, MADV_RANDOM);
    const uint8_t *lab = (const uint8_t *)map + ph.labels_offset;
    for (uint64_t i = 0; i < ph.count; i++) {
        uint32_t v = pack_get32(lab + 4 * i);
        if (v >= ph.K) {
            s = pd_fail(PD_ERR_FORMAT, "%s: label of image %llu is %u, expected < %u classes", path,
                        (unsigned long long)i, v, ph.K);
            goto done;
        }
        ds->labels[i] = (int)v;
    }
    (void)madvise((uint8_t *)map + (ph.labels_offset & ~(uint64_t)(PD_PACK_ALIGN - 1)),
                  (size_t)(ph.file_bytes - (ph.labels_offset & ~(uint64_t)(PD_PACK_ALIGN - 1))),
                  MADV_DONTNEED);
done:
    close(fd); /* the mapping keeps the file */
    free(h);
    if (s) {
        pd_dataset_free(ds);
        return s;
    }
    *out = ds;
    return PD_OK;
}
