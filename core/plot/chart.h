/* chart.h - line charts drawn with cairo: axes, ticks, labels, legend, an
 * optional second y axis on the right (internal to core/plot). */
#ifndef PD_PLOT_CHART_H
#define PD_PLOT_CHART_H

#include <stdbool.h>

#include "pixeldit/status.h"

typedef struct pd_chart_series {
    const char *label;   /* legend text; NULL: not in the legend */
    const double *x, *y; /* n points; NAN y values break the line */
    int n;
    int color;           /* palette index */
    double alpha;        /* 0: opaque */
    double width;        /* line width in pixels; 0: 2 */
    bool dashed;
    bool right_axis;     /* plotted against the right y axis */
} pd_chart_series;

typedef struct pd_chart {
    const char *title, *x_label, *y_label, *y2_label; /* y2_label: right axis */
    bool y_log;          /* log10 left axis (used only when every value > 0) */
    const pd_chart_series *series;
    int n_series;
    int width, height;   /* pixels */
} pd_chart;

/* Draws the chart and writes it as a PNG (pd_cairo_write_png). */
pd_status pd_chart_write_png(const pd_chart *c, const char *path);

/* Writes a cairo image surface as a PNG at path, atomically: an exclusive
 * path.tmp.<pid> (never through a link), synced, renamed into place; on
 * failure path is unchanged and the error names it with the reason. */
typedef struct _cairo_surface cairo_surface_t;
pd_status pd_cairo_write_png(cairo_surface_t *surf, const char *path);

#endif
