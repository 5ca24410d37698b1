/* pixeldit info FILE: config, step, parameter count, tensor list. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pixeldit/dist.h"

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    const cli_command cmd = {.name = "info", .operand = "CHECKPOINT.safetensors", .operands = &path,
                             .min_operands = 1, .max_operands = 1,
                             .epilog = "Prints the step, training time, plugins, parameter counts, "
                                       "config and tensors of a checkpoint.\n"};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    pd_st_file *f;
    if (pd_st_open_header(path, &f)) return cli_fail("info");
    const char *ini, *plugins;
    if (pd_checkpoint_read_meta(f, &ini, &plugins)) {
        pd_st_close(f);
        return cli_fail("info");
    }
    const char *step = pd_st_metadata(f, "step"), *secs = pd_st_metadata(f, "train_seconds");
    printf("checkpoint: %s\n", path);
    printf("step: %s   training time: %s s\n", step ? step : "?", secs ? secs : "?");
    printf("plugins: %s\n", plugins);
    printf("MPI: %s; %d rank%s\n", pd_dist_library(), pd_dist_size(), pd_dist_size() > 1 ? "s" : "");
    /* parameters = tensors without a prefix of the EMA / optimiser copies */
    size_t params = 0, n_model = 0;
    for (int i = 0; i < pd_st_count(f); i++) {
        const pd_st_tensor *t = pd_st_at(f, i);
        if (!strncmp(t->name, "ema", 3) || !strncmp(t->name, "optim.", 6)) continue;
        n_model++;
        if (strcmp(t->name, "pos_embed")) params += t->numel; /* pos_embed is frozen */
    }
    printf("parameters: %zu trainable (%.3fM) in %zu model tensors (+ frozen pos_embed)\n", params,
           (double)params / 1e6, n_model);
    /* the decoder's share, named decoder.* or final_layer.* */
    size_t dec = 0;
    for (int i = 0; i < pd_st_count(f); i++) {
        const pd_st_tensor *t = pd_st_at(f, i);
        if (!strncmp(t->name, "decoder.", 8) || !strncmp(t->name, "final_layer.", 12)) dec += t->numel;
    }
    printf("decoder parameters: %zu\n", dec);
    printf("\n[config]\n%s\n", ini);
    printf("tensors (%d):\n", pd_st_count(f));
    for (int i = 0; i < pd_st_count(f); i++) {
        char b[128];
        const pd_st_tensor *t = pd_st_at(f, i);
        printf("  %-48s %s\n", t->name, pd_st_describe(t, b, sizeof b));
    }
    pd_st_close(f);
    return CLI_OK;
}
