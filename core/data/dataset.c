/* The data set: allocation, release (malloc'd or mapped), batches in
 * [-1, 1], horizontal flips. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "data_internal.h"

pd_dataset *pd_dataset_alloc(int n, int channels, int size, int num_classes, bool with_pixels) {
    pd_dataset *ds = calloc(1, sizeof *ds);
    size_t npix = with_pixels ? (size_t)n * channels * size * size : 0;
    if (ds) {
        ds->pixels = with_pixels ? malloc(npix ? npix : 1) : NULL;
        ds->labels = calloc((size_t)(n ? n : 1), sizeof(int));
        ds->class_names = calloc((size_t)(num_classes ? num_classes : 1), sizeof(char *));
    }
    if (!ds || (with_pixels && !ds->pixels) || !ds->labels || !ds->class_names) {
        pd_dataset_free(ds);
        pd_fail(PD_ERR_NOMEM, "dataset: cannot allocate %d images of %dx%dx%d (%zu bytes)", n,
                channels, size, size, npix);
        return NULL;
    }
    ds->n = n;
    ds->channels = channels;
    ds->size = size;
    ds->num_classes = num_classes;
    return ds;
}

int pd_dataset_set_class_name(pd_dataset *ds, int k, const char *name) {
    char *copy = strdup(name);
    if (!copy) return -1;
    free(ds->class_names[k]);
    ds->class_names[k] = copy;
    return 0;
}

void pd_dataset_free(pd_dataset *ds) {
    if (!ds) return;
    if (ds->class_names)
        for (int k = 0; k < ds->num_classes; k++) free(ds->class_names[k]);
    free(ds->class_names);
    free(ds->labels);
    if (ds->map) munmap(ds->map, ds->map_bytes); /* pixels point into it */
    else free(ds->pixels);
    if (ds->files) pd_folder_list_free(ds->files);
    free(ds->files);
    free(ds);
}

pd_status pd_dataset_check_opts(const pd_dataset_opts *opts, const char *source) {
    if (!opts) return pd_fail(PD_ERR_ARG, "%s: options are NULL", source);
    if (opts->channels != 1 && opts->channels != 3)
        return pd_fail(PD_ERR_ARG, "%s: channels must be 1 or 3, got %d", source,
                       opts->channels);
    if (opts->image_size <= 0 || opts->image_size > 4096)
        return pd_fail(PD_ERR_ARG, "%s: image_size must be in 1..4096, got %d", source,
                       opts->image_size);
    if (opts->fit != PD_FIT_PAD && opts->fit != PD_FIT_RESIZE)
        return pd_fail(PD_ERR_ARG, "%s: unknown fit %d (expected pad or resize)", source,
                       (int)opts->fit);
    return PD_OK;
}

/* One image src (C, S, S) uint8 to dst (C, S, S) as lut[x], mirrored when
 * flip. */
static void image_to_float(const uint8_t *src, int C, int S, bool flip, const float *lut,
                           float *dst) {
    for (size_t row = 0; row < (size_t)C * S; row++) {
        const uint8_t *sr = src + row * S;
        float *dr = dst + row * S;
        if (flip)
            for (int x = 0; x < S; x++) dr[x] = lut[sr[S - 1 - x]];
        else
            for (int x = 0; x < S; x++) dr[x] = lut[sr[x]];
    }
}

/* A streamed folder's batch: decode the n files into a scratch buffer
 * (n, C, S, S) with the in-memory loader's decode and crop. */
static pd_status decode_batch(const pd_dataset *ds, const int *indices, int n, uint8_t **out) {
    size_t img = (size_t)ds->channels * ds->size * ds->size;
    uint8_t *px = malloc(img * (size_t)(n ? n : 1)), *ok = malloc((size_t)(n ? n : 1));
    if (!px || !ok) {
        free(px);
        free(ok);
        return pd_fail(PD_ERR_NOMEM, "dataset_batch: out of memory decoding %d images", n);
    }
    pd_dataset_opts o = {.image_size = ds->size, .channels = ds->channels, .fit = PD_FIT_PAD,
                         .skip_corrupt = false, .on_skip = NULL, .skip_user = NULL, .stream = false};
    int skipped = 0;
    pd_status st = pd_folder_decode(ds->files, indices, 0, n, &o, px, ok, &skipped);
    free(ok);
    if (st != PD_OK) {
        free(px);
        return st;
    }
    *out = px;
    return PD_OK;
}

pd_status pd_dataset_batch(const pd_dataset *ds, const int *indices, int n,
                           const uint8_t *hflip, float *out_x, int *out_y) {
    if (!ds || !indices || !out_x) return pd_fail(PD_ERR_ARG, "dataset_batch: NULL argument");
    if (n < 0) return pd_fail(PD_ERR_ARG, "dataset_batch: n must be >= 0, got %d", n);
    for (int i = 0; i < n; i++)
        if (indices[i] < 0 || indices[i] >= ds->n)
            return pd_fail(PD_ERR_ARG, "dataset_batch: indices[%d] = %d outside [0, %d)", i,
                           indices[i], ds->n);
    /* Same float ops as torchvision's ToTensor then x*2-1, via a table. */
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f) * 2.0f - 1.0f;
    int S = ds->size;
    size_t img = (size_t)S * S * ds->channels;
    uint8_t *decoded = NULL; /* (n, C, S, S) for a streamed folder */
    if (ds->files) {
        pd_status st = decode_batch(ds, indices, n, &decoded);
        if (st != PD_OK) return st;
    }
    for (int i = 0; i < n; i++) {
        const uint8_t *src = decoded ? decoded + (size_t)i * img
                                     : ds->pixels + (size_t)indices[i] * img; /* (C, S, S) */
        image_to_float(src, ds->channels, S, hflip && hflip[i], lut, out_x + (size_t)i * img);
        if (out_y) out_y[i] = ds->labels[indices[i]];
    }
    free(decoded);
    return PD_OK;
}

void pd_draw_hflip_mask(pd_rng *rng, uint8_t *mask, int n) {
    for (int i = 0; i < n; i++) mask[i] = pd_rng_uniform(rng) < 0.5 ? 1 : 0;
}

void pd_batch_hflip(float *x, int n, int C, int S, const uint8_t *hflip) {
    if (!x || !hflip) return;
    for (int i = 0; i < n; i++) {
        if (!hflip[i]) continue;
        float *img = x + (size_t)i * C * S * S; /* (C, S, S) */
        for (size_t row = 0; row < (size_t)C * S; row++) {
            float *r = img + row * S;
            for (int a = 0, b = S - 1; a < b; a++, b--) {
                float t = r[a];
                r[a] = r[b];
                r[b] = t;
            }
        }
    }
}
