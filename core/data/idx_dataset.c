/* Data sets from IDX image/label pairs (MNIST, Fashion-MNIST), brought from
 * rows x cols to S x S by centered zero padding or bilinear resizing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

/* Writes one gray image src (rows, cols) as dst (S, S), padded or resized.
 * Returns PD_OK or an allocation failure. */
static pd_status fit_image(const uint8_t *src, int rows, int cols, int S, pd_fit fit,
                           uint8_t *dst) {
    if (rows == S && cols == S) {
        memcpy(dst, src, (size_t)S * S);
        return PD_OK;
    }
    if (fit == PD_FIT_PAD) {
        /* Odd slack puts the extra pixel at the bottom / right. */
        int y0 = (S - rows) / 2, x0 = (S - cols) / 2;
        memset(dst, 0, (size_t)S * S);
        for (int y = 0; y < rows; y++)
            memcpy(dst + (size_t)(y0 + y) * S + x0, src + (size_t)y * cols, (size_t)cols);
        return PD_OK;
    }
    pd_image in = {cols, rows, 1, (uint8_t *)src}, out;
    pd_status st = pd_image_resize(&in, S, S, PD_RESAMPLE_BILINEAR, &out);
    if (st != PD_OK) return st;
    memcpy(dst, out.data, (size_t)S * S);
    pd_image_free(&out);
    return PD_OK;
}

pd_status pd_dataset_load_idx(const char *images_path, const char *labels_path,
                              const pd_dataset_opts *opts, pd_dataset **out) {
    if (!images_path || !labels_path || !out)
        return pd_fail(PD_ERR_ARG, "dataset_load_idx: NULL argument");
    *out = NULL;
    pd_status st = pd_dataset_check_opts(opts, images_path);
    if (st != PD_OK) return st;
    int S = opts->image_size, C = opts->channels;
    uint8_t *pix = NULL, *lab = NULL;
    int n = 0, rows = 0, cols = 0, nlab = 0;
    pd_dataset *ds = NULL;
    if ((st = pd_idx_read_images(images_path, &pix, &n, &rows, &cols)) != PD_OK) goto done;
    if ((st = pd_idx_read_labels(labels_path, &lab, &nlab)) != PD_OK) goto done;
    if (nlab != n) {
        st = pd_fail(PD_ERR_FORMAT, "%s: %d labels, but %s holds %d images", labels_path, nlab,
                     images_path, n);
        goto done;
    }
    if (opts->fit == PD_FIT_PAD && (S < rows || S < cols)) {
        st = pd_fail(PD_ERR_ARG,
                     "%s: fit=pad needs image_size >= %dx%d images, got image_size %d "
                     "(use fit=resize)",
                     images_path, rows, cols, S);
        goto done;
    }
    int max_label = 0;
    for (int i = 0; i < n; i++)
        if (lab[i] > max_label) max_label = lab[i];
    if (!(ds = pd_dataset_alloc(n, C, S, max_label + 1, true))) {
        st = PD_ERR_NOMEM;
        goto done;
    }
    for (int k = 0; k <= max_label; k++) {
        char name[8];
        snprintf(name, sizeof name, "%d", k);
        if (pd_dataset_set_class_name(ds, k, name) != 0) {
            st = pd_fail(PD_ERR_NOMEM, "dataset_load_idx: out of memory");
            goto done;
        }
    }
    size_t plane = (size_t)S * S;
    for (int i = 0; i < n; i++) {
        uint8_t *dst = ds->pixels + (size_t)i * C * plane; /* (C, S, S) */
        st = fit_image(pix + (size_t)i * rows * cols, rows, cols, S, opts->fit, dst);
        if (st != PD_OK) goto done;
        for (int ch = 1; ch < C; ch++) memcpy(dst + ch * plane, dst, plane);
        ds->labels[i] = lab[i];
    }
done:
    free(pix);
    free(lab);
    if (st != PD_OK) {
        pd_dataset_free(ds);
        return st;
    }
    *out = ds;
    return PD_OK;
}

pd_status pd_dataset_load_fashion_mnist(const char *dir, bool train,
                                        const pd_dataset_opts *opts, pd_dataset **out) {
    if (!out) return pd_fail(PD_ERR_ARG, "dataset_load_fashion_mnist: out is NULL");
    if (!dir) dir = PD_FASHION_MNIST_DIR;
    const char *split = train ? "train" : "t10k";
    char images[4096], labels[4096];
    int a = snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, split);
    int b = snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    if (a < 0 || b < 0 || (size_t)a >= sizeof images || (size_t)b >= sizeof labels)
        return pd_fail(PD_ERR_ARG, "dataset_load_fashion_mnist: folder path too long: %s", dir);
    pd_status st = pd_dataset_load_idx(images, labels, opts, out);
    if (st != PD_OK) return st;
    pd_dataset *ds = *out;
    if (ds->num_classes > 10) {
        int max_label = ds->num_classes - 1; /* read before the free */
        pd_dataset_free(ds);
        *out = NULL;
        return pd_fail(PD_ERR_FORMAT, "%s: labels go up to %d, Fashion-MNIST has 10 classes",
                       labels, max_label);
    }
    /* All ten classes exist even if a tiny file misses the last ones. */
    char **names = realloc(ds->class_names, 10 * sizeof(char *));
    if (!names) {
        pd_dataset_free(ds);
        *out = NULL;
        return pd_fail(PD_ERR_NOMEM, "dataset_load_fashion_mnist: out of memory");
    }
    for (int k = ds->num_classes; k < 10; k++) names[k] = NULL;
    ds->class_names = names;
    ds->num_classes = 10;
    for (int k = 0; k < 10; k++) {
        if (pd_dataset_set_class_name(ds, k, fashion_names[k]) != 0) {
            pd_dataset_free(ds);
            *out = NULL;
            return pd_fail(PD_ERR_NOMEM, "dataset_load_fashion_mnist: out of memory");
        }
    }
    return PD_OK;
}
