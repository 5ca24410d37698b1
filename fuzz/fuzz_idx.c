/* libFuzzer target: the IDX reader (gzip or plain) on an images file and a
 * labels file split from one input (first byte: the split point), through
 * the Fashion-MNIST loader (label range, padding and resizing). */
#include "fuzz_util.h"
#include "pixeldit/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t cut = 1 + (size - 1) * data[0] / 255;
    fuzz_write("t10k-images-idx3-ubyte.gz", data + 1, cut - 1);
    fuzz_write("t10k-labels-idx1-ubyte.gz", data + cut, size - cut);
    for (int k = 0; k < 2; k++) {
        pd_dataset_opts o = {.image_size = k ? 9 : 32, .channels = 1, .fit = k ? PD_FIT_RESIZE : PD_FIT_PAD};
        pd_dataset *ds = NULL;
        if (pd_dataset_load_fashion_mnist(fuzz_dir(), false, &o, &ds) == PD_OK) {
            if (!ds || ds->n < 1 || ds->num_classes > 10) abort();
            pd_dataset_free(ds);
        } else if (ds) {
            abort();
        }
    }
    return 0;
}
