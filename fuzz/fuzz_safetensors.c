/* libFuzzer target: the safetensors reader (and its JSON parser, strict and
 * full mode) on any
 * bytes, then what a checkpoint load does with an accepted file: metadata,
 * lookups, conversion to f32. No input may crash, leak or read out of
 * bounds; whatever is accepted must be self-consistent. */
#include "fuzz_util.h"
#include "json.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the JSON parser alone, on the same bytes */
    char err[256];
    pd_json_doc *doc = pd_json_parse((const char *)data, size, err, sizeof err);
    /* the full mode (run records) accepts everything the strict one does */
    pd_json_doc *full = pd_json_parse_full((const char *)data, size, err, sizeof err);
    if (doc && !full) abort();
    double v;
    if (full) (void)pd_json_get_number(pd_json_root(full), "steps", &v);
    pd_json_free(doc);
    pd_json_free(full);

    const char *path = fuzz_write("in.safetensors", data, size);
    pd_st_file *f = NULL;
    if (pd_st_open(path, &f) != PD_OK) {
        if (f) abort(); /* failure leaves *out NULL */
        return 0;
    }
    for (int i = 0; i < pd_st_metadata_count(f); i++) {
        const char *k, *v;
        pd_st_metadata_at(f, i, &k, &v);
        if (!k || !v || pd_st_metadata(f, k) == NULL) abort();
    }
    const char *ini, *plugins;
    (void)pd_checkpoint_read_meta(f, &ini, &plugins);
    for (int i = 0; i < pd_st_count(f); i++) {
        const pd_st_tensor *t = pd_st_at(f, i);
        if (pd_st_find(f, t->name) != t) abort(); /* names are unique */
        char d[256];
        pd_st_describe(t, d, sizeof d);
        if (t->numel > (1u << 20)) continue;
        float *dst = malloc((t->numel ? t->numel : 1) * sizeof(float));
        if (!dst) abort();
        (void)pd_st_read_f32(f, t->name, dst, t->shape, t->ndim);
        free(dst);
    }
    pd_st_close(f);
    /* the header-only reader accepts exactly what the full one does */
    if (pd_st_open_header(path, &f) != PD_OK) abort();
    pd_st_close(f);
    return 0;
}
