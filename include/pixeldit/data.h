/* pixeldit/data.h - image data sets, PNG I/O, resampling and sample grids.
 *
 * Two sources fill one in-memory data set of uint8 images (N, C, S, S):
 *   - IDX files (MNIST / Fashion-MNIST, .gz or plain), grown from 28x28 to
 *     S x S by zero padding or bilinear resizing;
 *   - a folder of PNGs, one sub-folder per class (like torchvision's
 *     ImageFolder), brought to S x S with ADM's center_crop_arr.
 * Batches come out as float (n, C, S, S) in [-1, 1] (x/255*2-1), optionally
 * mirrored, in an order drawn by a per-epoch shuffler whose state can be
 * saved and restored exactly for checkpoint resume.
 *
 * Every function returns a pd_status and, on failure, sets a message (see
 * status.h) that names the file and what was expected versus found.
 */
#ifndef PIXELDIT_DATA_H
#define PIXELDIT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pixeldit/rng.h"
#include "pixeldit/status.h"

#ifdef __cplusplus
extern "C" {
#endif
/* public API: exported from libpixeldit (everything else is hidden) */
#pragma GCC visibility push(default)

/* ---- 8-bit images ------------------------------------------------------ */

/* An interleaved 8-bit image: data is (h, w, c), c = 1 (gray) or 3 (RGB). */
typedef struct pd_image {
    int w, h, c;
    uint8_t *data; /* (h, w, c), malloc'd; freed by pd_image_free */
} pd_image;

void pd_image_free(pd_image *img);

/* Reads a PNG of any colour type and bit depth and converts it to
 * `channels` (1 or 3): palette is expanded, 16-bit keeps the high byte,
 * alpha is dropped (not composited, like PIL's convert("RGB")), RGB -> gray
 * uses luma 0.299R + 0.587G + 0.114B (rounded like PIL's convert("L")) and
 * gray -> RGB replicates. A corrupt or truncated file gives PD_ERR_FORMAT
 * naming it; a missing one PD_ERR_IO. */
pd_status pd_png_read(const char *path, int channels, pd_image *out);

/* Writes data (h, w, c), c = 1 or 3, as an 8-bit PNG. The file is written
 * under a temporary name in the same folder and renamed into place, so a
 * reader never sees a half-written image. */
pd_status pd_png_write(const char *path, const uint8_t *data, int w, int h, int c);

/* Resampling filters with PIL's semantics (see core/data/resample.c). */
typedef enum pd_resample {
    PD_RESAMPLE_BOX = 0,
    PD_RESAMPLE_BILINEAR = 1,
    PD_RESAMPLE_BICUBIC = 2
} pd_resample;

/* Resizes src to w x h like PIL's Image.resize(size, filter). */
pd_status pd_image_resize(const pd_image *src, int w, int h, pd_resample filter,
                          pd_image *out);

/* ADM's center_crop_arr: BOX-halve while the short side >= 2*size, BICUBIC
 * resize of the short side to size, then a centered size x size crop. */
pd_status pd_image_center_crop(const pd_image *src, int size, pd_image *out);

/* ---- data sets --------------------------------------------------------- */

/* How IDX images (28x28) reach the model's size S. */
typedef enum pd_fit {
    PD_FIT_PAD = 0,   /* centered zero pad (black, -1 after mapping); S >= 28 */
    PD_FIT_RESIZE = 1 /* bilinear resize (PIL semantics) */
} pd_fit;

typedef struct pd_dataset_opts {
    int image_size; /* S */
    int channels;   /* C: 1 (gray) or 3 (RGB) */
    pd_fit fit;     /* IDX sources only */
} pd_dataset_opts;

/* All images in memory. */
typedef struct pd_dataset {
    int n;             /* number of images */
    int channels;      /* C */
    int size;          /* S */
    uint8_t *pixels;   /* (n, C, S, S) */
    int *labels;       /* (n), each in [0, num_classes) */
    int num_classes;
    char **class_names; /* (num_classes) */
} pd_dataset;

/* Where Debian's dataset-fashion-mnist installs the files. */
#define PD_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Reads an IDX image file (magic 0x00000803, u8, n x rows x cols), .gz or
 * plain. *pixels is malloc'd (n, rows, cols). */
pd_status pd_idx_read_images(const char *path, uint8_t **pixels, int *n, int *rows,
                             int *cols);
/* Reads an IDX label file (magic 0x00000801, u8, n). *labels is malloc'd (n). */
pd_status pd_idx_read_labels(const char *path, uint8_t **labels, int *n);

/* Builds a data set from an IDX image/label pair; classes are
 * 0..max(label), named "0", "1", ... */
pd_status pd_dataset_load_idx(const char *images_path, const char *labels_path,
                              const pd_dataset_opts *opts, pd_dataset **out);

/* Fashion-MNIST from dir (NULL: PD_FASHION_MNIST_DIR), the 60000-image
 * train split or the 10000-image t10k split, with its 10 class names. */
pd_status pd_dataset_load_fashion_mnist(const char *dir, bool train,
                                        const pd_dataset_opts *opts, pd_dataset **out);

/* Builds a data set from root/<class>/<name>.png: classes are the sorted
 * sub-folder names (ids 0..K-1), files are taken in sorted name order; other
 * files and hidden entries are skipped. A class folder without PNGs is an
 * error, as in torchvision's ImageFolder. */
pd_status pd_dataset_load_folder(const char *root, const pd_dataset_opts *opts,
                                 pd_dataset **out);

void pd_dataset_free(pd_dataset *ds);

/* Copies images indices[0..n) to out_x (n, C, S, S) as x/255*2-1, mirrored
 * left-right where hflip[i] != 0 (hflip may be NULL), and their labels to
 * out_y (n) (may be NULL). */
pd_status pd_dataset_batch(const pd_dataset *ds, const int *indices, int n,
                           const uint8_t *hflip, float *out_x, int *out_y);

/* Draws a RandomHorizontalFlip mask (n): each entry 1 with probability 1/2. */
void pd_draw_hflip_mask(pd_rng *rng, uint8_t *mask, int n);

/* ---- epoch shuffler ---------------------------------------------------- */

/* Visits 0..n-1 in a fresh Fisher-Yates permutation every epoch. Each
 * epoch's permutation is drawn from the identity with the rng state saved
 * in epoch_rng, so (epoch, pos, epoch_rng) restores the stream exactly. */
typedef struct pd_shuffler {
    int n;
    int *perm;        /* (n) this epoch's order */
    int64_t epoch;    /* 0-based index of the current epoch */
    int pos;          /* next slot of perm to hand out */
    pd_rng epoch_rng; /* rng state before this epoch's permutation was drawn */
    pd_rng rng;       /* rng state after it (next epoch starts here) */
} pd_shuffler;

/* What a checkpoint stores. */
typedef struct pd_shuffler_state {
    int64_t epoch;
    int64_t pos;
    uint64_t rng[4]; /* epoch_rng */
} pd_shuffler_state;

pd_status pd_shuffler_init(pd_shuffler *s, int n, uint64_t seed);
void pd_shuffler_free(pd_shuffler *s);
/* Writes the next `batch` indices to out (batch). Like a DataLoader with
 * drop_last, a batch never spans two epochs: when fewer than `batch` remain,
 * the rest of the epoch is skipped and a new one begins. *epoch_out (may be
 * NULL) gets the epoch the batch belongs to. */
pd_status pd_shuffler_next(pd_shuffler *s, int *out, int batch, int64_t *epoch_out);
void pd_shuffler_save(const pd_shuffler *s, pd_shuffler_state *st);
pd_status pd_shuffler_restore(pd_shuffler *s, const pd_shuffler_state *st);

/* ---- writing samples --------------------------------------------------- */

/* Maps imgs (n, C, H, W) in [-1, 1] to uint8 like JiT (clip((x+1)/2) then
 * round(*255), half to even; NaN -> 0) into one PNG of ncols columns with
 * `pad` pixels of PD_GRID_PAD_VALUE between tiles. C = 1 or 3. */
#define PD_GRID_PAD_VALUE 255
pd_status pd_image_grid_write(const char *path, const float *imgs, int n, int C, int H,
                              int W, int ncols, int pad);

/* Writes imgs (n, C, H, W) in [-1, 1] as dir/%06d.png numbered from
 * first_index, creating dir if needed (one level). */
pd_status pd_image_folder_write(const char *dir, const float *imgs, int n, int C, int H,
                                int W, int first_index);

/* Maps one float in [-1, 1] to uint8 as the writers do. */
uint8_t pd_pixel_to_u8(float x);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
