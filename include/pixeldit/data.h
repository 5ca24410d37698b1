/* pixeldit/data.h - image data sets, PNG I/O, resampling and sample grids.
 *
 * Three sources give one data set of uint8 images (N, C, S, S):
 *   - IDX files (MNIST / Fashion-MNIST, .gz or plain), grown from 28x28 to
 *     S x S by zero padding or bilinear resizing (held in memory);
 *   - a folder of PNGs and JPEGs, one sub-folder per class (like
 *     torchvision's ImageFolder), brought to S x S with ADM's
 *     center_crop_arr (held in memory, or streamed: only the file list is
 *     kept and each batch's files are decoded when it is gathered);
 *   - a packed file written by pd_pack_* (`pixeldit data pack`): the same
 *     preprocessed pixels, memory-mapped, so only the pages in use are
 *     resident (see docs/data.md for the format).
 * Batches come out as float (n, C, S, S) in [-1, 1] (x/255*2-1), optionally
 * mirrored, in an order drawn by a per-epoch shuffler whose state can be
 * saved and restored exactly for checkpoint resume; pd_loader prepares
 * them on a background thread and hands out a rank's slice of each batch.
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

/* Reads a JPEG (baseline or progressive) and converts it to `channels`
 * (1 or 3) like PIL: grayscale and YCbCr/RGB JPEGs decode directly (gray
 * -> RGB replicates, RGB -> gray uses the luma above), CMYK and YCCK
 * (Adobe-inverted or not) convert as PIL's convert("RGB"). A corrupt or
 * truncated file gives PD_ERR_FORMAT naming it (libjpeg's warnings count as
 * errors; nothing exits); a missing one PD_ERR_IO. */
pd_status pd_jpeg_read(const char *path, int channels, pd_image *out);

/* Reads path as a PNG (.png) or JPEG (.jpg, .jpeg), chosen by the suffix
 * (any case); another suffix is PD_ERR_FORMAT. */
pd_status pd_image_read(const char *path, int channels, pd_image *out);

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

/* Called (from the loading thread, in file order) for each image skipped
 * with skip_corrupt; msg names the file and what is wrong with it. */
typedef void (*pd_skip_fn)(void *user, const char *msg);

typedef struct pd_dataset_opts {
    int image_size; /* S */
    int channels;   /* C: 1 (gray) or 3 (RGB) */
    pd_fit fit;     /* IDX sources only */
    /* folders: a file that fails to decode (PD_ERR_FORMAT: corrupt,
     * truncated, unsupported) is skipped and counted in pd_dataset.skipped
     * instead of failing the load; I/O errors still fail */
    bool skip_corrupt;
    pd_skip_fn on_skip; /* may be NULL */
    void *skip_user;
    /* folders: keep only the file list and labels; each batch's images are
     * decoded when pd_dataset_batch gathers them (the loader's thread),
     * with the same decode and crop, so the batches are the in-memory
     * ones bit for bit. skip_corrupt cannot be combined with it (which
     * files to skip must be known before the first batch): a corrupt file
     * fails the batch that meets it, naming the file. */
    bool stream;
} pd_dataset_opts;

/* Images (n, C, S, S), either malloc'd (IDX, folders), a read-only view of
 * a memory-mapped packed file, or not held at all (a streamed folder:
 * pixels is NULL and pd_dataset_batch decodes from files); the data set
 * owns whichever it is and pd_dataset_free releases it. Labels and class
 * names are always malloc'd. */
struct pd_folder_list;
typedef struct pd_dataset {
    int n;             /* number of images */
    int channels;      /* C */
    int size;          /* S */
    uint8_t *pixels;   /* (n, C, S, S); read-only when map != NULL */
    int *labels;       /* (n), each in [0, num_classes) */
    int num_classes;
    char **class_names; /* (num_classes) */
    int skipped;        /* files skipped as corrupt (skip_corrupt) */
    void *map;          /* the mapping pixels point into, or NULL */
    size_t map_bytes;   /* its length */
    struct pd_folder_list *files; /* streamed folder (pixels NULL), or NULL */
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

/* Builds a data set from root/<class>/<name>.{png,jpg,jpeg} (suffixes in
 * any case): classes are the sorted sub-folder names (ids 0..K-1), files
 * are taken in sorted name order; other files and hidden entries are
 * skipped. A class folder without images is an error, as in torchvision's
 * ImageFolder. Images decode in parallel on the OpenMP threads, all of
 * them now, or with opts->stream a batch at a time in pd_dataset_batch. */
pd_status pd_dataset_load_folder(const char *root, const pd_dataset_opts *opts,
                                 pd_dataset **out);

void pd_dataset_free(pd_dataset *ds);

/* Copies images indices[0..n) to out_x (n, C, S, S) as x/255*2-1, mirrored
 * left-right where hflip[i] != 0 (hflip may be NULL), and their labels to
 * out_y (n) (may be NULL). A streamed folder decodes the n files here, on
 * pd_get_num_threads() OpenMP threads; a file that fails to decode fails
 * the call with its path (PD_ERR_FORMAT, or PD_ERR_IO when unreadable). */
pd_status pd_dataset_batch(const pd_dataset *ds, const int *indices, int n,
                           const uint8_t *hflip, float *out_x, int *out_y);

/* Mirrors images x (n, C, S, S) left-right in place where hflip[i] != 0:
 * the same values pd_dataset_batch gives with that mask. */
void pd_batch_hflip(float *x, int n, int C, int S, const uint8_t *hflip);

/* ---- packed data sets -------------------------------------------------- */

/* A packed file: header (magic "PDPACK\r\n", version, C, S, count, class
 * names, CRC-32 of header and payload), then uint8 images (count, C, S, S)
 * at a 4096-aligned offset, then labels (count) as little-endian uint32.
 * docs/data.md has the byte layout. */
#define PD_PACK_VERSION 1
#define PD_PACK_ALIGN 4096

/* Progress of a pack: images done (written or skipped) of total. */
typedef void (*pd_pack_progress_fn)(void *user, int64_t done, int64_t total, int64_t skipped);

typedef struct pd_pack_result {
    int64_t images;  /* written */
    int64_t skipped; /* corrupt files skipped (skip_corrupt) */
    int64_t bytes;   /* file size */
} pd_pack_result;

/* Decodes the image folder root (as pd_dataset_load_folder, same options)
 * a chunk at a time on the OpenMP threads and writes it to out_path, never
 * holding more than one chunk: out_path.tmp.<pid> is written, fsync'd and
 * renamed into place, so out_path is either the old file or the whole new
 * one; an interrupted pack leaves only the temporary (remove it, or rerun:
 * a new pack starts over). progress (may be NULL) is called after each
 * chunk. */
pd_status pd_pack_folder(const char *root, const pd_dataset_opts *opts, const char *out_path,
                         pd_pack_progress_fn progress, void *user, pd_pack_result *res);

/* Writes a data set already in memory (e.g. IDX) to out_path, atomically. */
pd_status pd_pack_dataset(const pd_dataset *ds, const char *out_path, pd_pack_result *res);

/* Maps a packed file read-only. The header is untrusted: every field is
 * checked against include/pixeldit/limits.h, sizes are computed in 64 bits
 * and the file size must equal what the header implies; the header's
 * CRC-32 is always checked, the payload's (a read of the whole file, by
 * pread, so it leaves nothing resident) when verify is true. Labels are
 * copied and each checked against the class count. */
pd_status pd_dataset_open_packed(const char *path, bool verify, pd_dataset **out);

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

/* ---- batch loader ------------------------------------------------------ */

/* Hands out the batches of a shuffler in its exact order, optionally
 * prepared ahead by one background thread (gather from memory or the
 * mapping, or decode a streamed folder's files; x/255*2-1), and optionally only a slice of each batch:
 *
 *   global batch of step t:  idx[0..batch) = the shuffler's next `batch`
 *   this caller's part:      idx[first .. first+count)
 *
 * With data parallelism each rank opens a loader with the same shuffler
 * seed and batch and its own [first, first+count); together the ranks
 * cover the global batch exactly once. Flips are not applied: the caller
 * draws its samples' flips (the trainer: one pd_rng_derive(key, step,
 * global index, PD_RNG_STREAM_HFLIP) per sample) and applies them with
 * pd_batch_hflip, which keeps training bit-exact with and without
 * prefetching. */
typedef struct pd_loader pd_loader;

typedef struct pd_loader_opts {
    int batch;    /* global batch size B, 1..n */
    int first;    /* this caller's slice of each batch: [first, first + count) */
    int count;    /* 0: the whole batch (first must be 0) */
    int prefetch; /* batches prepared ahead on a background thread; 0: none (synchronous) */
} pd_loader_opts;

/* The loader borrows ds and shuf (both must outlive it) and draws from shuf
 * only on the calling thread; a checkpoint saves pd_loader_state(), not the
 * shuffler, since the shuffler runs up to `prefetch` batches ahead. */
pd_status pd_loader_open(const pd_dataset *ds, pd_shuffler *shuf, const pd_loader_opts *o,
                         pd_loader **out);
/* The next batch: x (count, C, S, S) unflipped, labels (count) (may be
 * NULL), global_idx (batch) the whole batch's sample indices (may be NULL).
 * *wait_s (may be NULL) gets the seconds this call blocked on the
 * background thread. */
pd_status pd_loader_next(pd_loader *l, float *x, int *labels, int *global_idx, double *wait_s);
/* The shuffler state after the last batch pd_loader_next returned: what a
 * checkpoint stores and pd_shuffler_restore resumes from. */
void pd_loader_state(const pd_loader *l, pd_shuffler_state *st);
void pd_loader_close(pd_loader *l);

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
