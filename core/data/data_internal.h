/* Shared between the data set builders in core/data/. */
#ifndef PD_DATA_INTERNAL_H
#define PD_DATA_INTERNAL_H

#include "pixeldit/data.h"

/* Draws a RandomHorizontalFlip mask (n) from one stream: each entry 1 with
 * probability 1/2. (The trainer derives each sample's flip on its own.) */
void pd_draw_hflip_mask(pd_rng *rng, uint8_t *mask, int n);

/* A zeroed data set with pixels (n, channels, size, size) (none when
 * !with_pixels: a streamed folder), labels (n) and num_classes NULL class
 * names; NULL (message set) when out of memory. */
pd_dataset *pd_dataset_alloc(int n, int channels, int size, int num_classes, bool with_pixels);

/* Sets class_names[k] to a copy of name; -1 when out of memory. */
int pd_dataset_set_class_name(pd_dataset *ds, int k, const char *name);

/* Checks the options shared by all sources; names `source` in messages. */
pd_status pd_dataset_check_opts(const pd_dataset_opts *opts, const char *source);

/* A new buffer (npix, to) converted from src (npix, from) with PIL's rules
 * (gray -> RGB replicates, RGB -> gray is PIL's luma); NULL when out of
 * memory. */
uint8_t *pd_image_convert_channels(const uint8_t *src, size_t npix, int from, int to);

/* Takes a decoder's pixels pix (w, h, c; malloc'd, owned from here on) into
 * *out with `channels` channels, converting when c differs; the decoders of
 * PNG and JPEG end here. PD_ERR_NOMEM (naming path) and pix freed when the
 * conversion cannot allocate. */
pd_status pd_image_adopt(const char *path, uint8_t *pix, int w, int h, int c, int channels,
                         pd_image *out);

/* The files of an image folder root/<class>/<file>, in load order. */
typedef struct pd_folder_list {
    int num_classes;
    char **class_names; /* (num_classes) sorted */
    int n;
    char **paths;       /* (n) "root/class/file" */
    int *labels;        /* (n) */
} pd_folder_list;

/* Lists root as pd_dataset_load_folder describes; errors name the folder. */
pd_status pd_folder_list_open(const char *root, pd_folder_list *out);
void pd_folder_list_free(pd_folder_list *l);

/* Decodes n files of l on pd_get_num_threads() OpenMP threads, file i
 * being files[i] (files may be NULL: first + i), each cropped to S x S and
 * stored planar at dst + i * C*S*S. ok[i] gets 1 or 0. A failure that is
 * not skippable (anything but PD_ERR_FORMAT when skip_corrupt, or any
 * failure otherwise) stops with the failing file of lowest i reported;
 * skipped files are reported through opts->on_skip in order and counted
 * in *skipped. Safe to call from any thread (the loader's worker). */
pd_status pd_folder_decode(const pd_folder_list *l, const int *files, int first, int n,
                           const pd_dataset_opts *opts, uint8_t *dst, uint8_t *ok, int *skipped);

#endif
