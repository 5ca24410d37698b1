/* PNG reading and atomic writing with libpng.
 *
 * libpng reports errors by longjmp. Our error callback keeps the message and
 * jumps back to the setjmp in the reader/writer, which frees what it holds
 * and returns PD_ERR_FORMAT (PD_ERR_IO for writing) naming the file. Locals
 * assigned after setjmp are volatile so their values survive the jump.
 * Warnings are dropped: the library never prints.
 */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_internal.h"
#include "io/file_open.h"

#define PNG_MAX_SIDE 16384
#define PNG_MAX_CHUNK_BYTES (8u << 20) /* an ancillary chunk (iCCP, a palette...) */
#define PNG_MAX_CHUNKS 128              /* ancillary chunks kept per file */

typedef struct png_err {
    char msg[200];
} png_err;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_err *e = png_get_error_ptr(png);
    if (e) snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* Sets libpng transforms so that rows come out as 8-bit gray or RGB. */
static int set_read_transforms(png_structp png, png_infop info) {
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    /* High byte, as PIL does for 16-bit RGB(A). Deviation: PIL opens 16-bit
     * gray as mode "I" and its convert() clips values to 255 (nearly all
     * white); we take the high byte there too. */
    if (depth == 16) png_set_strip_16(png);
    /* Dropped, not composited: PIL's convert("RGB") ignores alpha too. */
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    /* a palette with a tRNS chunk expands to RGBA: drop that alpha too */
    if (color == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    return png_get_channels(png, info);
}

/* Decodes from an open file past the signature into *pix (h, w, *c), c = 1
 * or 3; returns 0 or sets err and returns -1. Only the pointers handed out
 * are written after setjmp, and those are volatile. */
static int decode_png(FILE *f, png_err *err, uint8_t **pix_out, int *w_out, int *h_out,
                      int *c_out) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, err, on_png_error,
                                             on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(err->msg, sizeof err->msg, "cannot create libpng reader");
        return -1;
    }
    uint8_t *volatile pix = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pix);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    /* A corrupt header must not make us allocate gigabytes. */
    png_set_user_limits(png, PNG_MAX_SIDE, PNG_MAX_SIDE);
    /* Nor a chunk's length field: a 141-byte file whose text chunk claims
     * 2^31 - 1 bytes made libpng allocate and fill about 2 GB. Ancillary
     * chunks are capped in size and count, and the text ones (never used
     * here) are skipped without being buffered. */
    png_set_chunk_malloc_max(png, PNG_MAX_CHUNK_BYTES);
    png_set_chunk_cache_max(png, PNG_MAX_CHUNKS);
    static const png_byte text_chunks[] = "tEXt\0zTXt\0iTXt";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, text_chunks, 3);
    png_read_info(png, info);
    int c = set_read_transforms(png, info);
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if ((c != 1 && c != 3) || stride != (size_t)w * (size_t)c)
        png_error(png, "unexpected pixel layout after conversion");
    pix = malloc(stride * (size_t)h);
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!pix || !rows) png_error(png, "out of memory");
    for (int y = 0; y < h; y++) rows[y] = pix + (size_t)y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *pix_out = pix;
    *w_out = w;
    *h_out = h;
    *c_out = c;
    return 0;
}

pd_status pd_png_read(const char *path, int channels, pd_image *out) {
    if (!path || !out) return pd_fail(PD_ERR_ARG, "png_read: NULL argument");
    if (channels != 1 && channels != 3)
        return pd_fail(PD_ERR_ARG, "png_read %s: channels must be 1 or 3, got %d", path,
                       channels);
    memset(out, 0, sizeof *out);
    FILE *f = pd_fopen_regular(path, NULL, PD_ERR_IO);
    if (!f) return PD_ERR_IO;
    uint8_t sig[8];
    size_t nsig = fread(sig, 1, sizeof sig, f);
    if (nsig != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        fclose(f);
        return pd_fail(PD_ERR_FORMAT, "%s: not a PNG file (bad or short signature)", path);
    }
    png_err err = {{0}};
    uint8_t *pix = NULL;
    int w = 0, h = 0, c = 0;
    int bad = decode_png(f, &err, &pix, &w, &h, &c);
    fclose(f);
    if (bad) return pd_fail(PD_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", path, err.msg);
    return pd_image_adopt(path, pix, w, h, c, channels, out);
}

/* Encodes into an open file; returns 0 or sets err and returns -1. */
static int encode_png(FILE *f, png_err *err, const uint8_t *data, int w, int h, int c) {
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, err, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(err->msg, sizeof err->msg, "cannot create libpng writer");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(data + (size_t)y * w * c));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

pd_status pd_png_write(const char *path, const uint8_t *data, int w, int h, int c) {
    if (!path || !data) return pd_fail(PD_ERR_ARG, "png_write: NULL argument");
    if (w <= 0 || h <= 0 || (c != 1 && c != 3))
        return pd_fail(PD_ERR_ARG, "png_write %s: expected w, h > 0 and c = 1 or 3, got %dx%dx%d",
                       path, w, h, c);
    char tmp[4096];
    int len = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (len < 0 || (size_t)len >= sizeof tmp)
        return pd_fail(PD_ERR_ARG, "png_write: path too long: %s", path);
    int fd = pd_tmp_open_excl(tmp); /* never through a planted link */
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) pd_tmp_abandon(fd, tmp);
        return pd_fail(PD_ERR_IO, "%s: cannot create: %s", tmp, strerror(e));
    }
    png_err err = {{0}};
    int bad = encode_png(f, &err, data, w, h, c);
    if (fflush(f) != 0 && !bad) {
        bad = 1;
        snprintf(err.msg, sizeof err.msg, "%s", strerror(errno));
    }
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        snprintf(err.msg, sizeof err.msg, "%s", strerror(errno));
    }
    if (bad) {
        unlink(tmp);
        return pd_fail(PD_ERR_IO, "%s: cannot write PNG: %s", path, err.msg);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return pd_fail(PD_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    return PD_OK;
}
