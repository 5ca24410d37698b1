/* A small image-folder fixture written at test time with libjpeg and
 * libpng: tiny gray, RGB (baseline and progressive) and CMYK JPEGs and RGB
 * PNGs in three class folders, plus helpers to make corrupt and truncated
 * JPEGs. Shared by test_data_sources.c and test_data_train.c. */
#ifndef PD_TEST_DATA_FIXTURE_H
#define PD_TEST_DATA_FIXTURE_H

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>

#include "pixeldit/rng.h"

/* Writes data (h, w, comps) as a JPEG; space is JCS_GRAYSCALE, JCS_RGB or
 * JCS_CMYK (written with an Adobe marker, so values are stored inverted as
 * Photoshop does). Returns 0 on success. */
static inline int fx_write_jpeg(const char *path, const uint8_t *data, int w, int h, int comps,
                                J_COLOR_SPACE space, int quality, int progressive) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err); /* the fixture is well-formed: default handler */
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = space;
    jpeg_set_defaults(&c);
    if (space == JCS_CMYK) jpeg_set_colorspace(&c, JCS_CMYK);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(data + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f);
}

/* Smooth random-ish content (h, w, comps) so JPEG round trips are close. */
static inline void fx_pattern(uint8_t *p, int w, int h, int comps, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    int base[4];
    for (int k = 0; k < 4; k++) base[k] = (int)pd_rng_below(&r, 160);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < comps; k++)
                p[((size_t)y * w + x) * comps + k] = (uint8_t)(base[k] + (x * 40) / w + (y * 50) / h);
}

static inline int fx_write_png(const char *path, const uint8_t *data, int w, int h) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(data + (size_t)y * w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

/* root/{animals,plants,stones}: 36 images of 12..40 px, JPEG (gray, RGB,
 * progressive RGB, CMYK) and PNG. Returns the image count, -1 on error. */
static inline int fx_make_folder(const char *root) {
    static const char *classes[] = {"animals", "plants", "stones"};
    char p[1024];
    uint8_t buf[40 * 40 * 4];
    int n = 0;
    if (mkdir(root, 0755) != 0) return -1;
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", root, classes[k]);
        if (mkdir(p, 0755) != 0) return -1;
        for (int i = 0; i < 12; i++, n++) {
            int w = 12 + (i * 7 + k * 5) % 29, h = 12 + (i * 11 + k * 3) % 29;
            int kind = (i + k) % 5, rc;
            const char *ext = kind == 4 ? "png" : (i % 2 ? "JPG" : "jpeg");
            snprintf(p, sizeof p, "%s/%s/img%02d.%s", root, classes[k], i, ext);
            uint64_t seed = (uint64_t)(k * 100 + i);
            switch (kind) {
            case 0: fx_pattern(buf, w, h, 1, seed); rc = fx_write_jpeg(p, buf, w, h, 1, JCS_GRAYSCALE, 90, 0); break;
            case 1: fx_pattern(buf, w, h, 3, seed); rc = fx_write_jpeg(p, buf, w, h, 3, JCS_RGB, 90, 0); break;
            case 2: fx_pattern(buf, w, h, 3, seed); rc = fx_write_jpeg(p, buf, w, h, 3, JCS_RGB, 75, 1); break;
            case 3: fx_pattern(buf, w, h, 4, seed); rc = fx_write_jpeg(p, buf, w, h, 4, JCS_CMYK, 95, 0); break;
            default: fx_pattern(buf, w, h, 3, seed); rc = fx_write_png(p, buf, w, h); break;
            }
            if (rc != 0) return -1;
        }
    }
    return n;
}

/* A copy of src cut to `keep` bytes (keep < 0: the first Huffman table's
 * code counts overwritten instead, a corrupt header). */
static inline int fx_damage(const char *src, const char *dst, long keep) {
    FILE *f = fopen(src, "rb");
    if (!f) return -1;
    uint8_t data[1 << 16];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    if (keep >= 0 && (size_t)keep < n) n = (size_t)keep;
    for (size_t i = 0; keep < 0 && i + 21 < n; i++)
        if (data[i] == 0xFF && data[i + 1] == 0xC4) { /* DHT: FF C4, length (2), class/id, 16 counts */
            memset(data + i + 5, 0xFF, 16);
            break;
        }
    f = fopen(dst, "wb");
    if (!f) return -1;
    fwrite(data, 1, n, f);
    return fclose(f);
}

#endif
