/* libFuzzer target: a packed data set file (header, class table, labels,
 * sizes, checksums), opened with and without payload verification; when
 * it opens, every image is read through the loader (prefetching, a slice)
 * so a header that lied about sizes would read past the mapping. */
#include "fuzz_util.h"
#include "pixeldit/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("x.pack", data, size);
    for (int verify = 0; verify < 2; verify++) {
        pd_dataset *ds = NULL;
        if (pd_dataset_open_packed(path, verify, &ds) != PD_OK) {
            if (ds) abort();
            continue;
        }
        if (!ds || ds->n < 1 || ds->num_classes < 1 || !ds->map) abort();
        size_t per = (size_t)ds->channels * ds->size * ds->size;
        if (per > ((size_t)1 << 20)) { /* inputs are <= 64 KB: cannot be */
            pd_dataset_free(ds);
            abort();
        }
        int batch = ds->n < 4 ? ds->n : 4;
        float *x = malloc(per * (size_t)batch * sizeof(float));
        int y[4], idx[4];
        pd_shuffler s;
        pd_loader *l = NULL;
        pd_loader_opts o = {.batch = batch, .first = batch > 1 ? 1 : 0, .count = batch > 1 ? batch - 1 : 1,
                            .prefetch = 1};
        if (!x || pd_shuffler_init(&s, ds->n, 1) != PD_OK) abort();
        if (pd_loader_open(ds, &s, &o, &l) != PD_OK) abort();
        for (int i = 0; i < ds->n / batch + 1; i++) {
            if (pd_loader_next(l, x, y, idx, NULL) != PD_OK) abort();
            for (int j = 0; j < o.count; j++)
                if (y[j] < 0 || y[j] >= ds->num_classes) abort();
        }
        pd_loader_close(l);
        pd_shuffler_free(&s);
        free(x);
        pd_dataset_free(ds);
    }
    return 0;
}
