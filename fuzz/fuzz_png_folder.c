/* libFuzzer target: the PNG folder data set (root/<class>/<image>.png)
 * with the input as one image, loaded at two sizes and both channel
 * counts (decode, convert, center crop, resample). */
#include "fuzz_util.h"
#include "pixeldit/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char root[128];
    if (!root[0]) {
        snprintf(root, sizeof root, "%s/root", fuzz_dir());
        mkdir(root, 0700);
        char cls[160];
        snprintf(cls, sizeof cls, "%s/a", root);
        mkdir(cls, 0700);
    }
    fuzz_write("root/a/x.png", data, size);
    for (int k = 0; k < 2; k++) {
        pd_dataset_opts o = {.image_size = k ? 7 : 16, .channels = k ? 1 : 3, .fit = PD_FIT_RESIZE};
        pd_dataset *ds = NULL;
        if (pd_dataset_load_folder(root, &o, &ds) == PD_OK) {
            if (!ds || ds->n != 1 || ds->num_classes != 1) abort();
            pd_dataset_free(ds);
        } else if (ds) {
            abort();
        }
    }
    return 0;
}
