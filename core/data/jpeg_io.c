/* JPEG reading with libjpeg-turbo's libjpeg API.
 *
 * libjpeg's default error handler calls exit(); ours longjmps back here
 * instead, and treats warnings (corrupt entropy data, premature end of
 * file) as errors too: libjpeg would otherwise fill a truncated image with
 * gray and carry on, and the model would train on that. Decoding settings
 * are libjpeg's defaults (islow DCT, fancy upsampling), the ones PIL uses,
 * so pixels match PIL's Image.open(...).convert("RGB"/"L"). */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "data_internal.h"
#include "io/file_open.h"

#define JPEG_MAX_SIDE 16384 /* as the PNG reader: a corrupt header must not allocate gigabytes */

typedef struct jpeg_err {
    struct jpeg_error_mgr mgr; /* first: libjpeg passes &mgr as the j_common_ptr's err */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void on_jpeg_error(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->mgr.format_message(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* level < 0: a warning (corrupt data); those stop the decode. Trace
 * messages (level >= 0) are ignored. */
static void on_jpeg_message(j_common_ptr cinfo, int level) {
    if (level < 0) on_jpeg_error(cinfo);
}

/* PIL's MULDIV255: a * b / 255 rounded, in integers. */
static uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* CMYK row (w, 4) -> RGB (w, 3). Adobe (Photoshop) CMYK JPEGs store
 * inverted values, so ink c is 255 - stored; then R = (255-c)(255-k)/255,
 * as PIL's "CMYK;I" decode followed by convert("RGB"). */
static void cmyk_to_rgb(const uint8_t *src, uint8_t *dst, int w, int inverted) {
    for (int x = 0; x < w; x++) {
        unsigned c = src[4 * x], m = src[4 * x + 1], y = src[4 * x + 2], k = src[4 * x + 3];
        if (!inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        dst[3 * x] = muldiv255(c, k);
        dst[3 * x + 1] = muldiv255(m, k);
        dst[3 * x + 2] = muldiv255(y, k);
    }
}

/* Decodes f into *pix (h, w, *c), c = 1 or 3; returns 0, or -1 with
 * err->msg set. Only volatile locals are written after setjmp. */
static int decode_jpeg(FILE *f, jpeg_err *err, uint8_t **pix_out, int *w_out, int *h_out,
                       int *c_out) {
    struct jpeg_decompress_struct cinfo;
    uint8_t *volatile pix = NULL;
    uint8_t *volatile row4 = NULL;
    cinfo.err = jpeg_std_error(&err->mgr);
    err->mgr.error_exit = on_jpeg_error;
    err->mgr.emit_message = on_jpeg_message;
    if (setjmp(err->jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        free(row4);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width > JPEG_MAX_SIDE || cinfo.image_height > JPEG_MAX_SIDE) {
        snprintf(err->msg, sizeof err->msg, "image is %ux%u, larger than %d on a side",
                 cinfo.image_width, cinfo.image_height, JPEG_MAX_SIDE);
        longjmp(err->jump, 1);
    }
    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK: /* libjpeg turns YCCK into CMYK */
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
        break;
    default: cinfo.out_color_space = JCS_RGB; break; /* YCbCr, RGB */
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    int c = cmyk ? 3 : cinfo.output_components;
    if (c != 1 && c != 3 && !cmyk) {
        snprintf(err->msg, sizeof err->msg, "unexpected %d components after decoding", c);
        longjmp(err->jump, 1);
    }
    pix = malloc((size_t)w * h * c);
    if (cmyk) row4 = malloc((size_t)w * 4);
    if (!pix || (cmyk && !row4)) {
        snprintf(err->msg, sizeof err->msg, "out of memory for a %dx%d image", w, h);
        longjmp(err->jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = pix + (size_t)cinfo.output_scanline * w * c;
        JSAMPROW row = cmyk ? row4 : dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            snprintf(err->msg, sizeof err->msg, "no data for row %u", cinfo.output_scanline);
            longjmp(err->jump, 1);
        }
        if (cmyk) cmyk_to_rgb(row4, dst, w, cinfo.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row4);
    *pix_out = pix;
    *w_out = w;
    *h_out = h;
    *c_out = c;
    return 0;
}

pd_status pd_jpeg_read(const char *path, int channels, pd_image *out) {
    if (!path || !out) return pd_fail(PD_ERR_ARG, "jpeg_read: NULL argument");
    if (channels != 1 && channels != 3)
        return pd_fail(PD_ERR_ARG, "jpeg_read %s: channels must be 1 or 3, got %d", path,
                       channels);
    memset(out, 0, sizeof *out);
    FILE *f = pd_fopen_regular(path, NULL, PD_ERR_IO);
    if (!f) return PD_ERR_IO;
    uint8_t soi[2];
    if (fread(soi, 1, 2, f) != 2 || soi[0] != 0xFF || soi[1] != 0xD8) {
        fclose(f);
        return pd_fail(PD_ERR_FORMAT, "%s: not a JPEG file (expected the FF D8 start marker)",
                       path);
    }
    rewind(f);
    jpeg_err err;
    memset(&err, 0, sizeof err);
    uint8_t *pix = NULL;
    int w = 0, h = 0, c = 0;
    int bad = decode_jpeg(f, &err, &pix, &w, &h, &c);
    fclose(f);
    if (bad) return pd_fail(PD_ERR_FORMAT, "%s: corrupt or truncated JPEG: %s", path, err.msg);
    return pd_image_adopt(path, pix, w, h, c, channels, out);
}
