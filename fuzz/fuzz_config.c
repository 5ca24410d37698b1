/* libFuzzer target: the INI config loader. Invariant: a config that loads
 * is written (pd_config_to_ini, as stored in checkpoints) and reloaded to
 * the same config. */
#include "fuzz_util.h"
#include "pixeldit/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pd_config a, b;
    static char text[1 << 20];
    const char *path = fuzz_write("in.ini", data, size);
    pd_config_defaults(&a);
    if (pd_config_load_file(&a, path) != PD_OK) return 0;
    (void)pd_config_validate(&a);
    size_t n = pd_config_to_ini(&a, text, sizeof text);
    if (n >= sizeof text) abort();
    pd_config_defaults(&b);
    if (pd_config_load_string(&b, text, "written.ini") != PD_OK) {
        fprintf(stderr, "written config does not reload: %s\n%s\n", pd_last_error(), text);
        abort();
    }
    if (!pd_config_equal(&a, &b)) {
        fprintf(stderr, "written config reloads differently:\n%s\n", text);
        abort();
    }
    return 0;
}
