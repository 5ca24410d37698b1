/* Image data: IDX and PNG-folder data sets, PNG I/O, resampling, grids,
 * the epoch shuffler and horizontal flips. Files are made in a temp dir. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "test_util.h"
#include "data/data_internal.h" /* pd_draw_hflip_mask */
#include "pixeldit/data.h"

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_tmp(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/pd_test_data_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state) {
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tmp_path(char *buf, const char *name) {
    snprintf(buf, 512, "%s/%s", tmpdir, name);
    return buf;
}

/* ---- IDX helpers ---- */

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes header words then payload, gzipped or plain; payload may be cut. */
static void write_idx(const char *path, int gz, const uint32_t *words, int nwords,
                      const uint8_t *payload, size_t len) {
    uint8_t hdr[16];
    for (int i = 0; i < nwords; i++) put_be32(hdr + 4 * i, words[i]);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, hdr, 4 * nwords), 4 * nwords);
        if (len) assert_int_equal(gzwrite(f, payload, (unsigned)len), (int)len);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(hdr, 4, nwords, f), nwords);
        if (len) assert_int_equal(fwrite(payload, 1, len, f), len);
        fclose(f);
    }
}

/* n images of rows x cols with pixel value (i*7 + y*cols + x) & 255, and
 * labels i % 3. */
static void make_idx_pair(const char *img, const char *lab, int gz, int n, int rows, int cols,
                          int nlabels) {
    size_t len = (size_t)n * rows * cols;
    uint8_t *pix = malloc(len), *l = malloc((size_t)nlabels);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < rows * cols; p++) pix[(size_t)i * rows * cols + p] = (uint8_t)(i * 7 + p);
    for (int i = 0; i < nlabels; i++) l[i] = (uint8_t)(i % 3);
    uint32_t wi[4] = {0x803, (uint32_t)n, (uint32_t)rows, (uint32_t)cols};
    uint32_t wl[2] = {0x801, (uint32_t)nlabels};
    write_idx(img, gz, wi, 4, pix, len);
    write_idx(lab, gz, wl, 2, l, (size_t)nlabels);
    free(pix);
    free(l);
}

static void test_idx_roundtrip_plain_and_gz(void **state) {
    (void)state;
    char ip[512], lp[512];
    for (int gz = 0; gz < 2; gz++) {
        tmp_path(ip, gz ? "img.gz" : "img.idx");
        tmp_path(lp, gz ? "lab.gz" : "lab.idx");
        make_idx_pair(ip, lp, gz, 5, 4, 3, 5);
        uint8_t *pix, *lab;
        int n, rows, cols, nl;
        if (pd_idx_read_images(ip, &pix, &n, &rows, &cols) != PD_OK) fail_msg("%s", pd_last_error());
        assert_int_equal(n, 5);
        assert_int_equal(rows, 4);
        assert_int_equal(cols, 3);
        for (int i = 0; i < 5; i++)
            for (int p = 0; p < 12; p++) assert_int_equal(pix[i * 12 + p], (i * 7 + p) & 255);
        assert_int_equal(pd_idx_read_labels(lp, &lab, &nl), PD_OK);
        assert_int_equal(nl, 5);
        for (int i = 0; i < 5; i++) assert_int_equal(lab[i], i % 3);
        free(pix);
        free(lab);
    }
}

static void test_idx_dataset_pad_and_resize(void **state) {
    (void)state;
    char ip[512], lp[512];
    tmp_path(ip, "pad-img.gz");
    tmp_path(lp, "pad-lab.gz");
    make_idx_pair(ip, lp, 1, 4, 4, 4, 4);
    /* pad 4x4 -> 7x7 in 3 channels: offset (1, 1), extra pixel bottom/right */
    pd_dataset_opts o = {.image_size = 7, .channels = 3, .fit = PD_FIT_PAD};
    pd_dataset *ds;
    if (pd_dataset_load_idx(ip, lp, &o, &ds) != PD_OK) fail_msg("%s", pd_last_error());
    assert_int_equal(ds->n, 4);
    assert_int_equal(ds->num_classes, 3);
    assert_string_equal(ds->class_names[2], "2");
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ds->labels[i], i % 3);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 7; y++)
                for (int x = 0; x < 7; x++) {
                    int v = ds->pixels[((i * 3 + c) * 7 + y) * 7 + x];
                    int inside = y >= 1 && y < 5 && x >= 1 && x < 5;
                    assert_int_equal(v, inside ? (i * 7 + (y - 1) * 4 + (x - 1)) : 0);
                }
    }
    pd_dataset_free(ds);
    /* resize keeps a sensible range and shape */
    o = (pd_dataset_opts){.image_size = 9, .channels = 1, .fit = PD_FIT_RESIZE};
    assert_int_equal(pd_dataset_load_idx(ip, lp, &o, &ds), PD_OK);
    assert_int_equal(ds->size, 9);
    int lo = 255, hi = 0;
    for (int p = 0; p < 81; p++) {
        int v = ds->pixels[p];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(lo >= 0 && hi <= 15 && hi - lo >= 10); /* image 0 spans 0..15 */
    pd_dataset_free(ds);
    /* pad to a smaller size is refused */
    o = (pd_dataset_opts){.image_size = 3, .channels = 1, .fit = PD_FIT_PAD};
    assert_int_equal(pd_dataset_load_idx(ip, lp, &o, &ds), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_last_error(), "fit=pad");
    assert_null(ds);
}

static void test_idx_errors(void **state) {
    (void)state;
    char ip[512], lp[512];
    uint8_t *pix;
    int n, r, c;
    /* truncated payload, gzipped */
    tmp_path(ip, "train-images-idx3-ubyte.gz");
    uint8_t some[1200] = {0};
    uint32_t w[4] = {0x803, 60000, 28, 28};
    write_idx(ip, 1, w, 4, some, sizeof some);
    assert_int_equal(pd_idx_read_images(ip, &pix, &n, &r, &c), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "train-images-idx3-ubyte.gz: truncated");
    TU_ASSERT_CONTAINS(pd_last_error(), "60000 images of 28x28 (47040000 bytes), read 1200");
    assert_null(pix);
    /* truncated header, plain */
    tmp_path(ip, "short.idx");
    write_idx(ip, 0, w, 2, NULL, 0);
    assert_int_equal(pd_idx_read_images(ip, &pix, &n, &r, &c), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "short.idx: truncated: IDX header needs 16 bytes, read 8");
    /* bad magic: a label file given as images */
    tmp_path(ip, "i.gz");
    tmp_path(lp, "l.gz");
    make_idx_pair(ip, lp, 1, 3, 2, 2, 3);
    assert_int_equal(pd_idx_read_images(lp, &pix, &n, &r, &c), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "l.gz: bad IDX magic: expected 0x00000803");
    TU_ASSERT_CONTAINS(pd_last_error(), "found 0x00000801");
    /* trailing bytes */
    tmp_path(ip, "long.idx");
    uint32_t w2[4] = {0x803, 1, 2, 2};
    write_idx(ip, 0, w2, 4, some, 5);
    assert_int_equal(pd_idx_read_images(ip, &pix, &n, &r, &c), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "trailing data");
    /* image and label counts differ */
    tmp_path(ip, "m-img.gz");
    tmp_path(lp, "m-lab.gz");
    make_idx_pair(ip, lp, 1, 4, 2, 2, 3);
    pd_dataset_opts o = {.image_size = 2, .channels = 1, .fit = PD_FIT_PAD};
    pd_dataset *ds;
    assert_int_equal(pd_dataset_load_idx(ip, lp, &o, &ds), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "m-lab.gz: 3 labels, but");
    TU_ASSERT_CONTAINS(pd_last_error(), "m-img.gz holds 4 images");
    /* missing file */
    assert_int_equal(pd_idx_read_labels(tmp_path(lp, "nope.gz"), &pix, &n), PD_ERR_IO);
    TU_ASSERT_CONTAINS(pd_last_error(), "nope.gz");
}

static void test_fashion_mnist_real(void **state) {
    (void)state;
    struct stat sb;
    if (stat(PD_FASHION_MNIST_DIR, &sb) != 0) skip();
    pd_dataset_opts o = {.image_size = 28, .channels = 1, .fit = PD_FIT_PAD};
    pd_dataset *ds;
    if (pd_dataset_load_fashion_mnist(NULL, true, &o, &ds) != PD_OK)
        fail_msg("%s", pd_last_error());
    assert_int_equal(ds->n, 60000);
    assert_int_equal(ds->size, 28);
    assert_int_equal(ds->num_classes, 10);
    assert_string_equal(ds->class_names[9], "Ankle boot");
    int count[10] = {0};
    for (int i = 0; i < ds->n; i++) count[ds->labels[i]]++;
    for (int k = 0; k < 10; k++) assert_int_equal(count[k], 6000);
    /* first training image is an ankle boot (label 9) with a black border */
    assert_int_equal(ds->labels[0], 9);
    assert_int_equal(ds->pixels[0], 0);
    pd_dataset_free(ds);
    if (pd_dataset_load_fashion_mnist(NULL, false, &o, &ds) != PD_OK)
        fail_msg("%s", pd_last_error());
    assert_int_equal(ds->n, 10000);
    pd_dataset_free(ds);
}

/* ---- PNG helpers ---- */

/* Writes a PNG with libpng directly so that every colour type and depth can
 * be made: rows are given already packed for (color, depth). */
static void write_raw_png(const char *path, int w, int h, int color, int depth,
                          const uint8_t *data, size_t stride, const png_color *palette,
                          int npal) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, npal);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, data + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* A w x h image of one colour in the given PNG format. */
static void write_solid_png(const char *path, int w, int h, int color, int depth,
                            const uint8_t rgba[4]) {
    int ch = color == PNG_COLOR_TYPE_GRAY ? 1 : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
           : color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGBA ? 4 : 1;
    int bps = depth / 8 ? depth / 8 : 1;
    size_t stride = (size_t)w * ch * bps;
    uint8_t *d = calloc(stride * h, 1);
    png_color pal[2] = {{0, 0, 0}, {rgba[0], rgba[1], rgba[2]}};
    for (int p = 0; p < w * h; p++)
        for (int k = 0; k < ch; k++) {
            uint8_t v = color == PNG_COLOR_TYPE_PALETTE ? 1 : (ch <= 2 && k == 0) ? rgba[0]
                      : ch == 2 ? rgba[3] : rgba[k];
            /* 16-bit: high byte v, low byte 0x7f (dropped on read) */
            d[(size_t)p * ch * bps + k * bps] = v;
            if (bps == 2) d[(size_t)p * ch * bps + k * bps + 1] = 0x7f;
        }
    write_raw_png(path, w, h, color, depth, d, stride,
                  color == PNG_COLOR_TYPE_PALETTE ? pal : NULL, 2);
    free(d);
}

static int count_value(const uint8_t *p, size_t n, int v) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] == v;
    return k;
}

static void test_png_folder_dataset(void **state) {
    (void)state;
    char root[512], p[600];
    tmp_path(root, "folder");
    mkdir(root, 0777);
    snprintf(p, sizeof p, "%s/cat", root);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/ant", root);
    mkdir(p, 0777);
    const uint8_t c1[4] = {200, 100, 50, 128};
    /* cat (class 1): RGBA 50x30, 16-bit RGB 17x40, palette 33x33 */
    snprintf(p, sizeof p, "%s/cat/b.png", root);
    write_solid_png(p, 50, 30, PNG_COLOR_TYPE_RGBA, 8, c1);
    snprintf(p, sizeof p, "%s/cat/a.png", root);
    write_solid_png(p, 17, 40, PNG_COLOR_TYPE_RGB, 16, c1);
    snprintf(p, sizeof p, "%s/cat/c.PNG", root);
    write_solid_png(p, 33, 33, PNG_COLOR_TYPE_PALETTE, 8, c1);
    snprintf(p, sizeof p, "%s/cat/notes.txt", root);
    FILE *f = fopen(p, "w");
    fputs("ignored", f);
    fclose(f);
    /* ant (class 0): 8-bit gray 9x5 (upsampled), 16-bit gray-alpha 64x20 */
    const uint8_t g[4] = {90, 90, 90, 10};
    snprintf(p, sizeof p, "%s/ant/x.png", root);
    write_solid_png(p, 9, 5, PNG_COLOR_TYPE_GRAY, 8, g);
    snprintf(p, sizeof p, "%s/ant/y.png", root);
    write_solid_png(p, 64, 20, PNG_COLOR_TYPE_GRAY_ALPHA, 16, g);

    pd_dataset_opts o = {.image_size = 8, .channels = 3};
    pd_dataset *ds;
    if (pd_dataset_load_folder(root, &o, &ds) != PD_OK) fail_msg("%s", pd_last_error());
    assert_int_equal(ds->n, 5);
    assert_int_equal(ds->num_classes, 2);
    assert_string_equal(ds->class_names[0], "ant");
    assert_string_equal(ds->class_names[1], "cat");
    int want_labels[5] = {0, 0, 1, 1, 1};
    for (int i = 0; i < 5; i++) assert_int_equal(ds->labels[i], want_labels[i]);
    size_t plane = 64;
    /* solid colours survive resizing exactly; gray is replicated */
    for (int i = 0; i < 5; i++)
        for (int c = 0; c < 3; c++) {
            int want = i < 2 ? 90 : c1[c];
            assert_int_equal(count_value(ds->pixels + (i * 3 + c) * plane, plane, want), 64);
        }
    pd_dataset_free(ds);
    /* one channel: RGB -> luma like PIL's convert("L") */
    o.channels = 1;
    assert_int_equal(pd_dataset_load_folder(root, &o, &ds), PD_OK);
    int luma = (200 * 19595 + 100 * 38470 + 50 * 7471 + 0x8000) >> 16; /* 124 */
    assert_int_equal(count_value(ds->pixels + 4 * plane, plane, luma), 64);
    assert_int_equal(count_value(ds->pixels + 0 * plane, plane, 90), 64);
    pd_dataset_free(ds);
}

static void test_png_folder_errors(void **state) {
    (void)state;
    char root[512], p[600];
    pd_dataset_opts o = {.image_size = 8, .channels = 3};
    pd_dataset *ds;
    /* missing */
    assert_int_equal(pd_dataset_load_folder(tmp_path(root, "absent"), &o, &ds), PD_ERR_IO);
    TU_ASSERT_CONTAINS(pd_last_error(), "absent: image folder not found");
    /* empty */
    tmp_path(root, "empty");
    mkdir(root, 0777);
    assert_int_equal(pd_dataset_load_folder(root, &o, &ds), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "empty: image folder is empty");
    /* files but no class folders */
    snprintf(p, sizeof p, "%s/loose.png", root);
    const uint8_t g[4] = {1, 2, 3, 4};
    write_solid_png(p, 4, 4, PNG_COLOR_TYPE_GRAY, 8, g);
    assert_int_equal(pd_dataset_load_folder(root, &o, &ds), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "no class sub-folders");
    /* class folder without PNGs */
    snprintf(p, sizeof p, "%s/k", root);
    mkdir(p, 0777);
    assert_int_equal(pd_dataset_load_folder(root, &o, &ds), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "/k: class folder has no .png, .jpg or .jpeg files");
    /* truncated PNG: named, format error, nothing leaked or crashed */
    snprintf(p, sizeof p, "%s/k/good.png", root);
    write_solid_png(p, 40, 40, PNG_COLOR_TYPE_RGB, 8, g);
    snprintf(p, sizeof p, "%s/k/zbad.png", root);
    write_solid_png(p, 40, 40, PNG_COLOR_TYPE_RGB, 8, g);
    struct stat sb;
    stat(p, &sb);
    assert_int_equal(truncate(p, sb.st_size / 2), 0);
    assert_int_equal(pd_dataset_load_folder(root, &o, &ds), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "k/zbad.png: corrupt or truncated PNG");
    assert_null(ds);
    /* garbage after a valid signature */
    FILE *f = fopen(p, "wb");
    fwrite("\x89PNG\r\n\x1a\nthis is not a chunk stream at all", 1, 40, f);
    fclose(f);
    pd_image img;
    assert_int_equal(pd_png_read(p, 3, &img), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "zbad.png");
    /* not a PNG */
    f = fopen(p, "wb");
    fputs("GIF89a", f);
    fclose(f);
    assert_int_equal(pd_png_read(p, 1, &img), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "zbad.png: not a PNG file");
}

/* ---- resampling ---- */

static void test_resample_box_and_crop(void **state) {
    (void)state;
    uint8_t d[16] = {0, 2, 10, 20, 4, 6, 30, 40, 1, 1, 1, 1, 3, 3, 100, 200};
    pd_image src = {4, 4, 1, d}, out;
    assert_int_equal(pd_image_resize(&src, 2, 2, PD_RESAMPLE_BOX, &out), PD_OK);
    /* 2x2 means, rounded half up */
    assert_int_equal(out.data[0], 3);
    assert_int_equal(out.data[1], 25);
    assert_int_equal(out.data[2], 2);
    assert_int_equal(out.data[3], 76); /* 75.5 */
    pd_image_free(&out);
    /* a horizontal ramp stays monotone through halving + bicubic + crop */
    int w = 90, h = 37;
    uint8_t *ramp = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) ramp[(y * w + x) * 3 + c] = (uint8_t)(x * 255 / (w - 1));
    pd_image r = {w, h, 3, ramp};
    assert_int_equal(pd_image_center_crop(&r, 16, &out), PD_OK);
    assert_int_equal(out.w, 16);
    assert_int_equal(out.h, 16);
    for (int y = 0; y < 16; y++)
        for (int x = 1; x < 16; x++) assert_true(out.data[(y * 16 + x) * 3] >= out.data[(y * 16 + x - 1) * 3]);
    /* the crop keeps the middle: the centre is mid-gray */
    assert_true(abs(out.data[(8 * 16 + 8) * 3] - 128) < 12);
    pd_image_free(&out);
    free(ramp);
}

/* Pillow 9.4 goldens for img[y][x] = (x*37 + y*91) % 256 (7 wide, 5 high),
 * printed by: np.array(Image.fromarray(a, "L").resize(size, filter)).ravel() */
#define PIL_BICUBIC_4x3 55, 120, 166, 132, 145, 83, 117, 133, 83, 151, 106, 127
#define PIL_BILINEAR_11x9                                                                   \
    0, 17, 40, 64, 87, 111, 135, 158, 182, 205, 222, 30, 47, 70, 94, 117, 141, 165, 165, 135, \
        150, 167, 81, 98, 121, 145, 168, 192, 216, 177, 56, 58, 75, 131, 148, 161, 113, 105,  \
        129, 153, 137, 70, 80, 97, 182, 199, 199, 60, 13, 37, 61, 84, 108, 131, 148, 90, 107, \
        120, 72, 64, 88, 112, 135, 159, 182, 199, 27, 44, 67, 91, 114, 138, 144, 157, 181,    \
        204, 221, 78, 95, 118, 142, 165, 189, 104, 65, 89, 112, 129, 108, 125, 148, 172, 195, \
        219, 80, 10, 34, 57, 74
#define PIL_BOX_3x2 110, 117, 124, 82, 131, 139
static void test_resample_matches_pil(void **state) {
    (void)state;
    uint8_t d[35];
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++) d[y * 7 + x] = (uint8_t)((x * 37 + y * 91) % 256);
    pd_image src = {7, 5, 1, d}, out;
    /* Image.resize((4, 3), BICUBIC) */
    static const uint8_t bicubic_4x3[12] = {PIL_BICUBIC_4x3};
    assert_int_equal(pd_image_resize(&src, 4, 3, PD_RESAMPLE_BICUBIC, &out), PD_OK);
    assert_memory_equal(out.data, bicubic_4x3, 12);
    pd_image_free(&out);
    /* Image.resize((11, 9), BILINEAR) */
    static const uint8_t bilinear_11x9[99] = {PIL_BILINEAR_11x9};
    assert_int_equal(pd_image_resize(&src, 11, 9, PD_RESAMPLE_BILINEAR, &out), PD_OK);
    assert_memory_equal(out.data, bilinear_11x9, 99);
    pd_image_free(&out);
    /* Image.resize((3, 2), BOX): odd sizes, fractional box */
    static const uint8_t box_3x2[6] = {PIL_BOX_3x2};
    assert_int_equal(pd_image_resize(&src, 3, 2, PD_RESAMPLE_BOX, &out), PD_OK);
    assert_memory_equal(out.data, box_3x2, 6);
    pd_image_free(&out);
}

/* ---- writing ---- */

static void test_grid_writer_pixels(void **state) {
    (void)state;
    /* 3 gray 2x3 tiles, 2 columns, pad 1 -> 7 x 5 */
    float imgs[3 * 6];
    const float vals[6] = {-1.0f, 1.0f, 0.0f, -0.5f, 2.0f, NAN};
    const int want[6] = {0, 255, 128, 64, 255, 0}; /* 127.5 -> 128, 63.75 -> 64 */
    for (int i = 0; i < 3; i++)
        for (int p = 0; p < 6; p++) imgs[i * 6 + p] = i == 2 ? -1.0f : vals[p];
    char path[512];
    tmp_path(path, "grid.png");
    if (pd_image_grid_write(path, imgs, 3, 1, 2, 3, 2, 1) != PD_OK) fail_msg("%s", pd_last_error());
    pd_image g;
    assert_int_equal(pd_png_read(path, 1, &g), PD_OK);
    assert_int_equal(g.w, 7);
    assert_int_equal(g.h, 5);
    for (int p = 0; p < 6; p++) {
        int y = p / 3, x = p % 3;
        assert_int_equal(g.data[y * 7 + x], want[p]);         /* tile 0 */
        assert_int_equal(g.data[y * 7 + 4 + x], want[p]);     /* tile 1 */
        assert_int_equal(g.data[(3 + y) * 7 + x], 0);         /* tile 2 */
        assert_int_equal(g.data[(3 + y) * 7 + 4 + x], PD_GRID_PAD_VALUE); /* empty */
    }
    for (int y = 0; y < 5; y++) assert_int_equal(g.data[y * 7 + 3], PD_GRID_PAD_VALUE);
    for (int x = 0; x < 7; x++) assert_int_equal(g.data[2 * 7 + x], PD_GRID_PAD_VALUE);
    pd_image_free(&g);
    /* RGB: channel planes land interleaved; no temp file is left behind */
    float rgb[3 * 4] = {-1, -1, -1, -1, 1, 1, 1, 1, 0, 0, 0, 0}; /* (1, 3, 2, 2) */
    assert_int_equal(pd_image_grid_write(path, rgb, 1, 3, 2, 2, 4, 2), PD_OK);
    assert_int_equal(pd_png_read(path, 3, &g), PD_OK);
    assert_int_equal(g.w, 2);
    for (int p = 0; p < 4; p++) {
        assert_int_equal(g.data[p * 3 + 0], 0);
        assert_int_equal(g.data[p * 3 + 1], 255);
        assert_int_equal(g.data[p * 3 + 2], 128);
    }
    pd_image_free(&g);
    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp%ld", path, (long)getpid());
    assert_int_not_equal(access(tmpname, F_OK), 0);
    /* one PNG per image */
    char dir[400];
    snprintf(dir, sizeof dir, "%s/samples", tmpdir);
    assert_int_equal(pd_image_folder_write(dir, imgs, 3, 1, 2, 3, 5), PD_OK);
    snprintf(path, sizeof path, "%s/000006.png", dir);
    assert_int_equal(pd_png_read(path, 1, &g), PD_OK);
    assert_int_equal(g.w, 3);
    assert_int_equal(g.h, 2);
    for (int p = 0; p < 6; p++) assert_int_equal(g.data[p], want[p]);
    pd_image_free(&g);
}

/* ---- shuffler and flips ---- */

static void test_shuffler_determinism_and_resume(void **state) {
    (void)state;
    enum { N = 10, B = 4, STEPS = 9 };
    pd_shuffler a, b;
    assert_int_equal(pd_shuffler_init(&a, N, 42), PD_OK);
    assert_int_equal(pd_shuffler_init(&b, N, 42), PD_OK);
    int ia[STEPS][B], ib[B];
    int64_t ea[STEPS], eb;
    pd_shuffler_state saved;
    for (int s = 0; s < STEPS; s++) {
        if (s == 3) pd_shuffler_save(&a, &saved);
        assert_int_equal(pd_shuffler_next(&a, ia[s], B, &ea[s]), PD_OK);
        assert_int_equal(pd_shuffler_next(&b, ib, B, &eb), PD_OK);
        assert_memory_equal(ia[s], ib, sizeof ib);
        assert_int_equal(ea[s], s / 2); /* drop_last: 2 batches per epoch */
    }
    /* each epoch's 8 indices are distinct */
    for (int e = 0; e < STEPS / 2; e++) {
        int seen[N] = {0};
        for (int s = 2 * e; s < 2 * e + 2; s++)
            for (int k = 0; k < B; k++) assert_int_equal(seen[ia[s][k]]++, 0);
    }
    /* epochs differ */
    assert_memory_not_equal(ia[0], ia[2], sizeof ia[0]);
    /* resume into a fresh shuffler with a different seed */
    pd_shuffler c;
    assert_int_equal(pd_shuffler_init(&c, N, 7), PD_OK);
    assert_int_equal(pd_shuffler_restore(&c, &saved), PD_OK);
    for (int s = 3; s < STEPS; s++) {
        int ic[B];
        int64_t ec;
        assert_int_equal(pd_shuffler_next(&c, ic, B, &ec), PD_OK);
        assert_memory_equal(ia[s], ic, sizeof ic);
        assert_int_equal(ec, ea[s]);
    }
    /* bad inputs */
    assert_int_equal(pd_shuffler_next(&c, ib, N + 1, NULL), PD_ERR_ARG);
    saved.pos = N + 1;
    assert_int_equal(pd_shuffler_restore(&c, &saved), PD_ERR_ARG);
    pd_shuffler_free(&a);
    pd_shuffler_free(&b);
    pd_shuffler_free(&c);
}

static void test_batch_mapping_and_hflip(void **state) {
    (void)state;
    char ip[512], lp[512];
    tmp_path(ip, "flip-img.idx");
    tmp_path(lp, "flip-lab.idx");
    make_idx_pair(ip, lp, 0, 3, 3, 3, 3);
    pd_dataset_opts o = {.image_size = 3, .channels = 3, .fit = PD_FIT_PAD};
    pd_dataset *ds;
    assert_int_equal(pd_dataset_load_idx(ip, lp, &o, &ds), PD_OK);
    int idx[2] = {2, 1};
    uint8_t flip[2] = {1, 0};
    float x[2 * 3 * 9];
    int y[2];
    assert_int_equal(pd_dataset_batch(ds, idx, 2, flip, x, y), PD_OK);
    assert_int_equal(y[0], 2);
    assert_int_equal(y[1], 1);
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 3; c++)
            for (int r = 0; r < 3; r++)
                for (int col = 0; col < 3; col++) {
                    int sx = flip[i] ? 2 - col : col;
                    int v = idx[i] * 7 + r * 3 + sx;
                    float want = ((float)v / 255.0f) * 2.0f - 1.0f;
                    assert_float_equal(x[((i * 3 + c) * 3 + r) * 3 + col], want, 0);
                }
    /* range ends map exactly */
    ds->pixels[0] = 0;
    ds->pixels[1] = 255;
    int zero = 0;
    assert_int_equal(pd_dataset_batch(ds, &zero, 1, NULL, x, NULL), PD_OK);
    assert_float_equal(x[0], -1.0f, 0);
    assert_float_equal(x[1], 1.0f, 0);
    int bad = 3;
    assert_int_equal(pd_dataset_batch(ds, &bad, 1, NULL, x, y), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_last_error(), "indices[0] = 3 outside [0, 3)");
    /* the flip mask is a fair, seeded coin */
    pd_rng r1, r2;
    pd_rng_seed(&r1, 5);
    pd_rng_seed(&r2, 5);
    uint8_t m1[1000], m2[1000];
    pd_draw_hflip_mask(&r1, m1, 1000);
    pd_draw_hflip_mask(&r2, m2, 1000);
    assert_memory_equal(m1, m2, 1000);
    int ones = count_value(m1, 1000, 1);
    assert_true(ones > 430 && ones < 570);
    pd_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_roundtrip_plain_and_gz),
        cmocka_unit_test(test_idx_dataset_pad_and_resize),
        cmocka_unit_test(test_idx_errors),
        cmocka_unit_test(test_fashion_mnist_real),
        cmocka_unit_test(test_png_folder_dataset),
        cmocka_unit_test(test_png_folder_errors),
        cmocka_unit_test(test_resample_box_and_crop),
        cmocka_unit_test(test_resample_matches_pil),
        cmocka_unit_test(test_grid_writer_pixels),
        cmocka_unit_test(test_shuffler_determinism_and_resume),
        cmocka_unit_test(test_batch_mapping_and_hflip),
    };
    return cmocka_run_group_tests_name("data", tests, setup_tmp, teardown_tmp);
}
