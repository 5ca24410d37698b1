/* libFuzzer target: the image folder data set with the input as one JPEG
 * (libjpeg-turbo behind our error manager: no exit(), warnings are
 * errors), loaded at two sizes and both channel counts, and skipped with
 * skip_corrupt when it does not decode. */
#include "fuzz_util.h"
#include "pixeldit/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char root[128];
    if (!root[0]) {
        snprintf(root, sizeof root, "%s/jroot", fuzz_dir());
        mkdir(root, 0700);
        char cls[160];
        snprintf(cls, sizeof cls, "%s/a", root);
        mkdir(cls, 0700);
    }
    fuzz_write("jroot/a/x.jpg", data, size);
    for (int k = 0; k < 3; k++) {
        pd_dataset_opts o = {.image_size = k ? 7 : 16, .channels = k ? 1 : 3, .fit = PD_FIT_RESIZE,
                             .skip_corrupt = k == 2};
        pd_dataset *ds = NULL;
        pd_status st = pd_dataset_load_folder(root, &o, &ds);
        if (st == PD_OK) {
            if (!ds || ds->n != 1 || ds->num_classes != 1 || ds->skipped != 0) abort();
            pd_dataset_free(ds);
        } else if (ds) {
            abort();
        }
    }
    return 0;
}
