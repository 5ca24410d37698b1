/* pixeldit/plot.h - pictures of training logs (cairo PNGs).
 *
 * log.csv has the columns step, epoch, loss, lr, then one column per loss
 * part (plugin names, or any other numeric column a version adds), then
 * images_per_s. The plots draw every numeric column that is not step,
 * epoch, lr or images_per_s as a loss curve, so new columns appear without
 * changes here.
 */
#ifndef PIXELDIT_PLOT_H
#define PIXELDIT_PLOT_H

#include "pixeldit/status.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* Size of every PNG written here, in pixels. */
#define PD_PLOT_WIDTH 960
#define PD_PLOT_HEIGHT 540

/* One run: loss and each loss part against steps (the raw loss faint, every
 * curve smoothed by a centred running mean over about 2% of the run) on a
 * log axis, with the learning rate dashed on a right axis. The trainer
 * writes it as loss.png next to log.csv at each checkpoint. */
pd_status pd_plot_training_log(const char *csv_path, const char *png_path);

/* Several runs overlaid: column `column` ("loss" when NULL) of each log,
 * smoothed, one colour per run, with a legend of labels[i] (NULL, or a
 * NULL entry: the name of the folder holding the log). */
pd_status pd_plot_compare(const char *const *csv_paths, const char *const *labels, int n,
                          const char *column, const char *png_path);

/* Results as lines: column y_col against x_col of a CSV with a header, one
 * line (and legend entry) per value of the text column group_col (NULL: one
 * line), its points joined in order of x. title NULL: y_col. At most 10
 * groups. `pixeldit plot --x nfe --y fd --group sampler` draws the
 * quality-against-NFE plots of docs/sampling.md this way. */
pd_status pd_plot_xy(const char *csv_path, const char *x_col, const char *y_col, const char *group_col,
                     const char *title, const char *png_path);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
