/* pixeldit forward: x_pred for inputs x, t, y from a safetensors file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *epilog =
    "IN holds x (B, C, H, W) F32 (the network input, i.e. the noisy image z), t (B) F32 and\n"
    "y (B) class ids (I64, I32 or F32; num_classes = null class). OUT gets x_pred (B, C, H, W) F32.\n";

/* Reads y as integers whatever its stored dtype; each must be a whole
 * number in 0..num_classes (2^32 + 3 is refused, never wrapped to 3). */
static int read_labels(pd_st_file *f, int B, int num_classes, int *y) {
    const pd_st_tensor *t = pd_st_find(f, "y");
    if (!t || t->ndim != 1 || t->shape[0] != B) {
        fprintf(stderr, "pixeldit: %s: needs tensor 'y' of shape (%d,)\n", pd_st_path(f), B);
        return CLI_ERR;
    }
    for (int i = 0; i < B; i++) {
        double v;
        switch (t->dtype) {
        case PD_ST_I64: v = (double)((const int64_t *)t->data)[i]; break;
        case PD_ST_I32: v = ((const int32_t *)t->data)[i]; break;
        case PD_ST_F32: v = ((const float *)t->data)[i]; break;
        default:
            fprintf(stderr, "pixeldit: %s: 'y' has dtype %s, expected I64, I32 or F32\n", pd_st_path(f),
                    pd_st_dtype_name(t->dtype));
            return CLI_ERR;
        }
        if (!(v >= 0 && v <= num_classes) || v != (double)(int)v) {
            fprintf(stderr, "pixeldit: %s: y[%d] = %.17g: expected a class id in 0..%d (%d = null)\n",
                    pd_st_path(f), i, v, num_classes, num_classes);
            return CLI_ERR;
        }
        y[i] = (int)v;
    }
    return CLI_OK;
}

int cmd_forward(int argc, char **argv) {
    const char *ckpt = NULL, *in = NULL, *outp = NULL, *plugins[8];
    int nplugins = 0;
    long ema = 0;
    const cli_opt opts[] = {
        {.name = "--ckpt", .kind = CLI_STRING, .arg = "FILE", .dst = &ckpt, .required = true,
         .help = "the checkpoint"},
        {.name = "--input", .kind = CLI_STRING, .arg = "IN.safetensors", .dst = &in, .required = true,
         .help = "x, t and y"},
        {.name = "--output", .kind = CLI_STRING, .arg = "OUT.safetensors", .dst = &outp, .required = true,
         .help = "gets x_pred"},
        {.name = "--ema", .kind = CLI_INT, .arg = "0|1|2", .dst = &ema, .min = 0, .max = 2,
         .help = "weights: the raw model (default), EMA 1 or EMA 2"},
        {.name = "--plugin", .kind = CLI_STRINGS, .arg = "F.so", .dst = plugins, .max_count = 8,
         .count = &nplugins, .help = "load a plugin file the checkpoint needs"},
    };
    const cli_command cmd = {.name = "forward", .opts = opts, .n_opts = (int)(sizeof opts / sizeof *opts),
                             .epilog = epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    pd_session s;
    pd_st_file *cf = NULL, *inf = NULL;
    rc = cli_open_checkpoint(ckpt, (int)ema, plugins, nplugins, &s, &cf);
    pd_st_close(cf);
    if (rc) return rc;
    const pd_jit_config *jc = pd_jit_get_config(s.model);
    rc = CLI_ERR;
    float *x = NULL, *t = NULL;
    int *y = NULL;
    pd_ctx *ctx = NULL;
    if (pd_st_open(in, &inf)) {
        cli_fail("forward");
        goto done;
    }
    const pd_st_tensor *xt = pd_st_find(inf, "x");
    if (!xt || xt->ndim != 4) {
        fprintf(stderr, "pixeldit: %s: needs tensor 'x' of shape (B, %d, %d, %d)\n", in, jc->channels,
                jc->image_size, jc->image_size);
        goto done;
    }
    int B = (int)xt->shape[0];
    int xs[4] = {B, jc->channels, jc->image_size, jc->image_size};
    x = malloc((size_t)B * jc->channels * jc->image_size * jc->image_size * sizeof(float));
    t = malloc((size_t)B * sizeof(float));
    y = malloc((size_t)B * sizeof(int));
    if (!x || !t || !y) goto done;
    if (pd_st_read_f32(inf, "x", x, xs, 4) || pd_st_read_f32(inf, "t", t, (int[]){B}, 1)) {
        cli_fail("forward");
        goto done;
    }
    if (read_labels(inf, B, jc->num_classes, y)) goto done;
    ctx = pd_session_new_ctx(&s);
    pd_ctx_set_grad_enabled(ctx, false);
    pd_tensor *z = pd_tensor_from(ctx, x, xs, 4);
    pd_tensor *xp = pd_jit_forward(s.model, ctx, z, t, y, NULL);
    if (!xp) {
        fprintf(stderr, "pixeldit: forward: %s\n", pd_ctx_error(ctx));
        goto done;
    }
    pd_st_writer *w = pd_st_writer_new();
    pd_st_writer_add(w, "x_pred", PD_ST_F32, xp->shape, 4, xp->data);
    pd_status st = pd_st_writer_write(w, outp);
    pd_st_writer_free(w);
    if (st) {
        cli_fail("forward");
        goto done;
    }
    printf("wrote x_pred (%d, %d, %d, %d) to %s\n", B, jc->channels, jc->image_size, jc->image_size, outp);
    rc = CLI_OK;
done:
    pd_ctx_free(ctx);
    free(x);
    free(t);
    free(y);
    pd_st_close(inf);
    pd_session_close(&s);
    return rc;
}
