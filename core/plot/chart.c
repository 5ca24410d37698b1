/* Line charts with cairo's image surface and toy text API (fontconfig picks
 * a sans-serif face; fonts-dejavu-core is installed with the dependencies). */
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chart.h"
#include "io/file_open.h"
#include "io/file_write.h"
#include "pixeldit/limits.h"

/* cairo's PNG stream into a descriptor; keeps the first errno. */
typedef struct png_sink {
    int fd, err;
} png_sink;

static cairo_status_t png_sink_write(void *closure, const unsigned char *data, unsigned int n) {
    png_sink *k = closure;
    if (pd_write_all(k->fd, data, n)) return CAIRO_STATUS_SUCCESS;
    if (!k->err) k->err = errno;
    return CAIRO_STATUS_WRITE_ERROR;
}

/* cairo_surface_write_to_png(name) would follow a planted link and leave a
 * half-written file on a full disk: the PNG goes through an exclusive
 * temporary (io/file_open.h), renamed into place. */
pd_status pd_cairo_write_png(cairo_surface_t *surf, const char *path) {
    char tmp[PD_MAX_PATH + 32];
    png_sink sink = {.fd = pd_tmp_create(path, tmp, sizeof tmp)};
    if (sink.fd < 0) return PD_ERR_IO;
    cairo_status_t cs = cairo_surface_write_to_png_stream(surf, png_sink_write, &sink);
    if (cs == CAIRO_STATUS_SUCCESS) return pd_tmp_commit(sink.fd, tmp, path);
    pd_tmp_abandon(sink.fd, tmp);
    return pd_fail(PD_ERR_IO, "%s: cannot write PNG: %s", path,
                   sink.err ? strerror(sink.err) : cairo_status_to_string(cs));
}

/* Matplotlib's tab10: distinct on white, familiar to readers of plots. */
static const double palette[10][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498},
    {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812},
};

typedef struct axis {
    double lo, hi; /* data range (log10 of it for a log axis) */
    bool log;
} axis;

typedef struct frame {
    double x0, y0, x1, y1; /* plot area in pixels: left, top, right, bottom */
    axis x, y, y2;
} frame;

static double to_axis(const axis *a, double v) { return a->log ? log10(v) : v; }
static double px_x(const frame *f, double v) {
    return f->x0 + (to_axis(&f->x, v) - f->x.lo) / (f->x.hi - f->x.lo) * (f->x1 - f->x0);
}
static double px_y(const frame *f, const axis *a, double v) {
    return f->y1 - (to_axis(a, v) - a->lo) / (a->hi - a->lo) * (f->y1 - f->y0);
}

/* Range of the series on one side; false when there is no finite point. */
static bool data_range(const pd_chart *c, bool right, bool want_x, bool positive_only, double *lo,
                       double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (int i = 0; i < c->n_series; i++) {
        const pd_chart_series *s = &c->series[i];
        if (!want_x && s->right_axis != right) continue;
        for (int k = 0; k < s->n; k++) {
            double v = want_x ? s->x[k] : s->y[k];
            if (!isfinite(v) || !isfinite(s->x[k]) || !isfinite(s->y[k])) continue;
            if (positive_only && v <= 0) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    }
    return *lo <= *hi;
}

static bool all_positive(const pd_chart *c) {
    for (int i = 0; i < c->n_series; i++)
        for (int k = 0; !c->series[i].right_axis && k < c->series[i].n; k++)
            if (isfinite(c->series[i].y[k]) && c->series[i].y[k] <= 0) return false;
    return true;
}

static void set_axis(axis *a, double lo, double hi, bool log) {
    a->log = log;
    if (log) lo = log10(lo), hi = log10(hi);
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= pad, hi += pad;
    }
    double pad = (hi - lo) * 0.04;
    a->lo = lo - pad, a->hi = hi + pad;
}

/* Nice ticks (1, 2, 5 x 10^k) covering the axis; values in data units. */
static int ticks(const axis *a, double *out, int cap) {
    int n = 0;
    if (a->log && a->hi - a->lo >= 1.0) {
        static const double mult[] = {1, 2, 5};
        bool decades_only = a->hi - a->lo > 3.0;
        for (int k = (int)floor(a->lo); k <= (int)ceil(a->hi) && n < cap; k++)
            for (int m = 0; m < (decades_only ? 1 : 3) && n < cap; m++) {
                double v = mult[m] * pow(10, k), l = log10(v);
                if (l >= a->lo && l <= a->hi) out[n++] = v;
            }
        return n;
    }
    double lo = a->log ? pow(10, a->lo) : a->lo, hi = a->log ? pow(10, a->hi) : a->hi;
    double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), step;
    double r = raw / mag;
    step = (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9 && n < cap; v += step)
        out[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    return n;
}

static void fmt_tick(double v, char *buf, size_t cap) {
    double a = fabs(v);
    if (a != 0 && (a < 1e-3 || a >= 1e6)) snprintf(buf, cap, "%.0e", v);
    else snprintf(buf, cap, "%.4g", v);
}

static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - e.x_bearing - e.width * ax, y - e.y_bearing - e.height * ay);
    cairo_show_text(cr, s);
}

static void draw_axes(cairo_t *cr, const pd_chart *c, const frame *f, bool has_right) {
    double tv[64];
    char label[32];
    cairo_set_font_size(cr, 12);
    /* grid and tick labels: x */
    int n = ticks(&f->x, tv, 64);
    for (int i = 0; i < n; i++) {
        double x = px_x(f, tv[i]);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, x, f->y0), cairo_line_to(cr, x, f->y1), cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        fmt_tick(tv[i], label, sizeof label);
        text_at(cr, label, x, f->y1 + 6, 0.5, 0);
    }
    /* left y */
    n = ticks(&f->y, tv, 64);
    for (int i = 0; i < n; i++) {
        double y = px_y(f, &f->y, tv[i]);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, f->x0, y), cairo_line_to(cr, f->x1, y), cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        fmt_tick(tv[i], label, sizeof label);
        text_at(cr, label, f->x0 - 6, y, 1, 0.5);
    }
    if (has_right) {
        n = ticks(&f->y2, tv, 64);
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
        for (int i = 0; i < n; i++) {
            double y = px_y(f, &f->y2, tv[i]);
            cairo_move_to(cr, f->x1, y), cairo_line_to(cr, f->x1 + 4, y), cairo_stroke(cr);
            fmt_tick(tv[i], label, sizeof label);
            text_at(cr, label, f->x1 + 7, y, 0, 0.5);
        }
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, f->x0, f->y0, f->x1 - f->x0, f->y1 - f->y0);
    cairo_stroke(cr);
    /* axis titles */
    cairo_set_font_size(cr, 13);
    if (c->x_label) text_at(cr, c->x_label, (f->x0 + f->x1) / 2, f->y1 + 26, 0.5, 0);
    if (c->y_label) {
        cairo_save(cr);
        cairo_translate(cr, 16, (f->y0 + f->y1) / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, c->y_label, 0, 0, 0.5, 0.5);
        cairo_restore(cr);
    }
    if (has_right && c->y2_label) {
        cairo_save(cr);
        cairo_translate(cr, c->width - 14, (f->y0 + f->y1) / 2);
        cairo_rotate(cr, M_PI / 2);
        text_at(cr, c->y2_label, 0, 0, 0.5, 0.5);
        cairo_restore(cr);
    }
    if (c->title) {
        cairo_set_font_size(cr, 15);
        text_at(cr, c->title, (f->x0 + f->x1) / 2, 12, 0.5, 0);
    }
}

static void draw_series(cairo_t *cr, const frame *f, const pd_chart_series *s) {
    const double *rgb = palette[((s->color % 10) + 10) % 10];
    cairo_set_source_rgba(cr, rgb[0], rgb[1], rgb[2], s->alpha > 0 ? s->alpha : 1.0);
    cairo_set_line_width(cr, s->width > 0 ? s->width : 2.0);
    double dash[] = {6, 4};
    cairo_set_dash(cr, dash, s->dashed ? 2 : 0, 0);
    const axis *a = s->right_axis ? &f->y2 : &f->y;
    bool pen = false;
    for (int k = 0; k < s->n; k++) {
        double x = s->x[k], y = s->y[k];
        if (!isfinite(x) || !isfinite(y) || (a->log && y <= 0)) {
            pen = false;
            continue;
        }
        if (pen) cairo_line_to(cr, px_x(f, x), px_y(f, a, y));
        else cairo_move_to(cr, px_x(f, x), px_y(f, a, y));
        pen = true;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

static void draw_legend(cairo_t *cr, const pd_chart *c, const frame *f) {
    int n = 0;
    double wmax = 0;
    cairo_set_font_size(cr, 12);
    for (int i = 0; i < c->n_series; i++) {
        if (!c->series[i].label) continue;
        cairo_text_extents_t e;
        cairo_text_extents(cr, c->series[i].label, &e);
        if (e.x_advance > wmax) wmax = e.x_advance;
        n++;
    }
    if (n == 0) return;
    double row = 18, w = wmax + 44, h = n * row + 8, x = f->x1 - w - 8, y = f->y0 + 8;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, x, y, w, h);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    int r = 0;
    for (int i = 0; i < c->n_series; i++) {
        const pd_chart_series *s = &c->series[i];
        if (!s->label) continue;
        double cy = y + 4 + row * (r++ + 0.5);
        const double *rgb = palette[((s->color % 10) + 10) % 10];
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_set_line_width(cr, s->width > 0 ? s->width : 2.0);
        double dash[] = {6, 4};
        cairo_set_dash(cr, dash, s->dashed ? 2 : 0, 0);
        cairo_move_to(cr, x + 8, cy), cairo_line_to(cr, x + 32, cy), cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        text_at(cr, s->label, x + 38, cy, 0, 0.5);
    }
}

pd_status pd_chart_write_png(const pd_chart *c, const char *path) {
    if (!c || !path || c->width < 200 || c->height < 150)
        return pd_fail(PD_ERR_ARG, "plot: bad chart arguments (size at least 200 x 150)");
    bool has_right = false;
    for (int i = 0; i < c->n_series; i++) has_right = has_right || c->series[i].right_axis;
    double xlo, xhi, ylo, yhi, rlo = 0, rhi = 1;
    if (!data_range(c, false, true, false, &xlo, &xhi) ||
        !data_range(c, false, false, false, &ylo, &yhi))
        return pd_fail(PD_ERR_FORMAT, "%s: nothing to plot (no finite values)", path);
    bool ylog = c->y_log && all_positive(c);
    if (has_right && !data_range(c, true, false, false, &rlo, &rhi)) has_right = false;
    frame f = {.x0 = 78, .y0 = 40, .x1 = c->width - (has_right ? 78 : 24), .y1 = c->height - 52};
    set_axis(&f.x, xlo, xhi, false);
    f.x.lo = xlo, f.x.hi = xhi > xlo ? xhi : xlo + 1; /* steps: no padding */
    set_axis(&f.y, ylo, yhi, ylog);
    set_axis(&f.y2, rlo < 0 ? rlo : 0, rhi, false);

    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, c->width, c->height);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(surf);
        return pd_fail(PD_ERR_NOMEM, "plot: cannot create a %d x %d image", c->width, c->height);
    }
    cairo_t *cr = cairo_create(surf);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_line_width(cr, 1);
    draw_axes(cr, c, &f, has_right);
    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0);
    cairo_clip(cr);
    for (int i = 0; i < c->n_series; i++)
        if (has_right || !c->series[i].right_axis) draw_series(cr, &f, &c->series[i]);
    cairo_restore(cr);
    draw_legend(cr, c, &f);
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    pd_status s = cs == CAIRO_STATUS_SUCCESS
                      ? pd_cairo_write_png(surf, path)
                      : pd_fail(PD_ERR_STATE, "plot: cairo: %s", cairo_status_to_string(cs));
    cairo_surface_destroy(surf);
    return s;
}
