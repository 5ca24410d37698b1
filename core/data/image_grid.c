/* Writing generated images: one grid PNG, or one PNG per image. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pixeldit/data.h"

uint8_t pd_pixel_to_u8(float x) {
    /* JiT: (x + 1) / 2, clip to [0, 1], round(* 255) half to even. */
    float v = (x + 1.0f) / 2.0f;
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v > 1.0f) v = 1.0f;
    return (uint8_t)nearbyintf(v * 255.0f);
}

static pd_status check_images(const char *who, const float *imgs, int n, int C, int H, int W) {
    if (!imgs) return pd_fail(PD_ERR_ARG, "%s: images are NULL", who);
    if (n <= 0 || (C != 1 && C != 3) || H <= 0 || W <= 0)
        return pd_fail(PD_ERR_SHAPE, "%s: expected images (n>0, C=1|3, H>0, W>0), got (%d, %d, %d, %d)",
                       who, n, C, H, W);
    return PD_OK;
}

/* img (C, H, W) floats -> dst rows of an interleaved (., row_w, C) image */
static void put_tile(const float *img, int C, int H, int W, uint8_t *dst, int row_w) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int ch = 0; ch < C; ch++)
                dst[((size_t)y * row_w + x) * C + ch] =
                    pd_pixel_to_u8(img[((size_t)ch * H + y) * W + x]);
}

pd_status pd_image_grid_write(const char *path, const float *imgs, int n, int C, int H,
                              int W, int ncols, int pad) {
    if (!path) return pd_fail(PD_ERR_ARG, "image_grid_write: path is NULL");
    pd_status st = check_images(path, imgs, n, C, H, W);
    if (st != PD_OK) return st;
    if (ncols <= 0 || pad < 0)
        return pd_fail(PD_ERR_ARG, "%s: grid needs ncols > 0 and pad >= 0, got %d and %d",
                       path, ncols, pad);
    if (ncols > n) ncols = n;
    int nrows = (n + ncols - 1) / ncols;
    int gw = ncols * W + (ncols - 1) * pad, gh = nrows * H + (nrows - 1) * pad;
    uint8_t *grid = malloc((size_t)gw * gh * C); /* (gh, gw, C) */
    if (!grid) return pd_fail(PD_ERR_NOMEM, "%s: cannot allocate %dx%d grid", path, gw, gh);
    memset(grid, PD_GRID_PAD_VALUE, (size_t)gw * gh * C);
    size_t img = (size_t)C * H * W;
    for (int i = 0; i < n; i++) {
        int r = i / ncols, col = i % ncols;
        uint8_t *dst = grid + ((size_t)r * (H + pad) * gw + (size_t)col * (W + pad)) * C;
        put_tile(imgs + i * img, C, H, W, dst, gw);
    }
    st = pd_png_write(path, grid, gw, gh, C);
    free(grid);
    return st;
}

pd_status pd_image_folder_write(const char *dir, const float *imgs, int n, int C, int H,
                                int W, int first_index) {
    if (!dir) return pd_fail(PD_ERR_ARG, "image_folder_write: dir is NULL");
    pd_status st = check_images(dir, imgs, n, C, H, W);
    if (st != PD_OK) return st;
    if (first_index < 0)
        return pd_fail(PD_ERR_ARG, "%s: first_index must be >= 0, got %d", dir, first_index);
    if (strlen(dir) + 32 > 4096) /* dir/NNNNNN.png, never cut */
        return pd_fail(PD_ERR_ARG, "%s: path longer than %d bytes", dir, 4096 - 32);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return pd_fail(PD_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    uint8_t *buf = malloc((size_t)C * H * W); /* (H, W, C) */
    if (!buf) return pd_fail(PD_ERR_NOMEM, "%s: cannot allocate %dx%d image", dir, W, H);
    size_t img = (size_t)C * H * W;
    char path[4096];
    for (int i = 0; i < n && st == PD_OK; i++) {
        snprintf(path, sizeof path, "%s/%06d.png", dir, first_index + i);
        put_tile(imgs + i * img, C, H, W, buf, W);
        st = pd_png_write(path, buf, W, H, C);
    }
    free(buf);
    return st;
}
