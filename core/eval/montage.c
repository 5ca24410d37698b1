/* Labelled panels of sample grids side by side, drawn with cairo. */
#include <cairo.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/data.h"
#include "pixeldit/eval.h"
#include "plot/chart.h"

enum { PAD = 2, MARGIN = 12, TITLE = 22, SCALE = 2 };

pd_status pd_eval_montage(const char *path, const float *const *imgs, const int *n_imgs,
                          const char *const *labels, int panels, int C, int S, int cols) {
    if (panels < 1 || cols < 1 || (C != 1 && C != 3))
        return pd_fail(PD_ERR_ARG, "montage: %d panels, %d columns, %d channels", panels, cols, C);
    int rows = 1;
    for (int i = 0; i < panels; i++) {
        int r = (n_imgs[i] + cols - 1) / cols;
        rows = r > rows ? r : rows;
    }
    int tile = S * SCALE + PAD, pw = cols * tile - PAD, ph = rows * tile - PAD;
    int W = MARGIN + panels * (pw + MARGIN), H = MARGIN + TITLE + ph + MARGIN;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return pd_fail(PD_ERR_NOMEM, "montage: cannot make a %dx%d image", W, H);
    }
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_surface_flush(surf);
    unsigned char *px = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    for (int p = 0; p < panels; p++) {
        int x0 = MARGIN + p * (pw + MARGIN), y0 = MARGIN + TITLE;
        for (int i = 0; i < n_imgs[p]; i++) {
            const float *im = imgs[p] + (size_t)i * C * S * S;
            int tx = x0 + (i % cols) * tile, ty = y0 + (i / cols) * tile;
            for (int y = 0; y < S * SCALE; y++)
                for (int x = 0; x < S * SCALE; x++) {
                    size_t o = (size_t)(y / SCALE) * S + x / SCALE;
                    uint8_t r = pd_pixel_to_u8(im[o]);
                    uint8_t g = C == 3 ? pd_pixel_to_u8(im[(size_t)S * S + o]) : r;
                    uint8_t b = C == 3 ? pd_pixel_to_u8(im[(size_t)2 * S * S + o]) : r;
                    uint32_t *d = (uint32_t *)(px + (size_t)(ty + y) * stride) + tx + x;
                    *d = (uint32_t)r << 16 | (uint32_t)g << 8 | b;
                }
        }
    }
    cairo_surface_mark_dirty(surf);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 13);
    for (int p = 0; p < panels; p++) {
        cairo_save(cr);
        int x0 = MARGIN + p * (pw + MARGIN);
        cairo_rectangle(cr, x0, 0, pw, MARGIN + TITLE); /* long labels are clipped to their panel */
        cairo_clip(cr);
        cairo_move_to(cr, x0, MARGIN + 13);
        cairo_show_text(cr, labels[p]);
        cairo_restore(cr);
    }
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    pd_status st = PD_OK;
    if (cs != CAIRO_STATUS_SUCCESS) st = pd_fail(PD_ERR_ARG, "montage: cairo: %s", cairo_status_to_string(cs));
    else
        st = pd_cairo_write_png(surf, path); /* atomic, never through a link */
    cairo_surface_destroy(surf);
    return st;
}
