/* What a training run leaves besides weights, on a tiny model and a slice
 * of Fashion-MNIST: exact resume with the EMA warm-up on, loss.png at each
 * checkpoint (a valid PNG of the documented size), the end-of-training grid
 * and its switch, and overlays of several logs. */
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/plot.h"
#include "pixeldit/trainer.h"

static const char *tiny_ini =
    "[model]\nimage_size = 16\nchannels = 1\npatch_size = 4\nhidden_size = 32\ndepth = 2\n"
    "num_heads = 2\nbottleneck_dim = 8\nin_context_len = 2\nin_context_start = 1\nnum_classes = 10\n"
    "[diffusion]\nnoise_scale = 1.0\n"
    "[train]\nbatch_size = 8\nlr = 1e-3\nwarmup_steps = 2\nseed = 7\nhflip = true\nlog_every = 1000\n"
    "ckpt_every = 3\nsample_every = 0\nthreads = 2\nema_decay1 = 0.99\nema_decay2 = 0.999\n"
    "ema_warmup = true\ngrid_steps = 2\ngrid_per_class = 1\n"
    "[sample]\nsteps = 2\nper_class = 1\n"
    "[data]\nfit = resize\nlimit = 40\n";

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pixeldit-test-outputs-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Trains the tiny model with extra "section.key=value" overrides. */
static void train(const char *dir, int64_t steps, const char *resume, const char *set) {
    static pd_config cfg;
    pd_config_defaults(&cfg);
    if (pd_config_load_string(&cfg, tiny_ini, "tiny.ini")) fail_msg("%s", pd_last_error());
    if (set && pd_config_set(&cfg, set)) fail_msg("%s", pd_last_error());
    pd_train_opts o = {.cfg = &cfg, .out_dir = dir, .max_steps = steps, .resume = resume};
    pd_train_result r;
    if (pd_train_run(&o, &r)) fail_msg("train %s: %s", dir, pd_last_error());
}

static void assert_same_tensors(const char *a, const char *b) {
    pd_st_file *fa, *fb;
    assert_int_equal(pd_st_open(a, &fa), PD_OK);
    assert_int_equal(pd_st_open(b, &fb), PD_OK);
    assert_int_equal(pd_st_count(fa), pd_st_count(fb));
    for (int i = 0; i < pd_st_count(fa); i++) {
        const pd_st_tensor *ta = pd_st_at(fa, i), *tb = pd_st_find(fb, ta->name);
        assert_non_null(tb);
        assert_int_equal(ta->nbytes, tb->nbytes);
        if (memcmp(ta->data, tb->data, ta->nbytes)) fail_msg("tensor %s differs", ta->name);
    }
    assert_string_equal(pd_st_metadata(fa, "step"), pd_st_metadata(fb, "step"));
    pd_st_close(fa);
    pd_st_close(fb);
}

/* The warm-up's clock is the global step, so a resumed run continues it. */
static void test_resume_with_ema_warmup_is_exact(void **state) {
    (void)state;
    char straight[300], split[300], a[400], b[400], other[300], c[400];
    snprintf(straight, sizeof straight, "%s/straight", tmpdir);
    snprintf(split, sizeof split, "%s/split", tmpdir);
    snprintf(other, sizeof other, "%s/nowarm", tmpdir);
    train(straight, 7, NULL, NULL);
    train(split, 4, NULL, NULL);
    snprintf(b, sizeof b, "%s/checkpoint-last.safetensors", split);
    train(split, 3, b, NULL);
    snprintf(a, sizeof a, "%s/checkpoint-last.safetensors", straight);
    assert_same_tensors(a, b);
    /* ... and it is on: without it the EMA differs. */
    train(other, 7, NULL, "train.ema_warmup=false");
    snprintf(c, sizeof c, "%s/checkpoint-last.safetensors", other);
    pd_st_file *fa, *fc;
    assert_int_equal(pd_st_open(a, &fa), PD_OK);
    assert_int_equal(pd_st_open(c, &fc), PD_OK);
    const pd_st_tensor *ea = pd_st_find(fa, "ema1.blocks.0.attn.qkv.weight");
    const pd_st_tensor *ec = pd_st_find(fc, "ema1.blocks.0.attn.qkv.weight");
    const pd_st_tensor *wa = pd_st_find(fa, "blocks.0.attn.qkv.weight");
    const pd_st_tensor *wc = pd_st_find(fc, "blocks.0.attn.qkv.weight");
    assert_non_null(ea), assert_non_null(ec), assert_non_null(wa), assert_non_null(wc);
    assert_memory_equal(wa->data, wc->data, wa->nbytes); /* the EMA does not steer training */
    assert_memory_not_equal(ea->data, ec->data, ea->nbytes);
    pd_st_close(fa);
    pd_st_close(fc);
}

static void assert_png_size(const char *path, int w, int h) {
    pd_image img;
    if (pd_png_read(path, 3, &img)) fail_msg("%s", pd_last_error());
    assert_int_equal(img.w, w);
    assert_int_equal(img.h, h);
    /* Not a blank page: axes and curves are darker than the background. */
    size_t dark = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i += 3) dark += img.data[i] < 128;
    assert_true(dark > (size_t)(w + h));
    pd_image_free(&img);
}

static void test_loss_png_and_final_grid(void **state) {
    (void)state;
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/pictures", tmpdir);
    train(dir, 4, NULL, NULL);
    snprintf(path, sizeof path, "%s/loss.png", dir);
    assert_png_size(path, PD_PLOT_WIDTH, PD_PLOT_HEIGHT);
    /* Tiles of 16 pixels, 2 between them: grid_per_class columns x 10 rows. */
    snprintf(path, sizeof path, "%s/samples/final.png", dir);
    pd_image img;
    if (pd_png_read(path, 1, &img)) fail_msg("%s", pd_last_error());
    assert_int_equal(img.w, 16);
    assert_int_equal(img.h, 10 * 16 + 9 * 2);
    pd_image_free(&img);

    char off[300];
    snprintf(off, sizeof off, "%s/nogrid", tmpdir);
    train(off, 2, NULL, "train.final_grid=false");
    snprintf(path, sizeof path, "%s/samples/final.png", off);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/checkpoint-last.safetensors", off);
    assert_int_equal(access(path, F_OK), 0);

    /* Two runs overlaid; a log that does not exist is named. */
    char log1[400], log2[400], out[400];
    snprintf(log1, sizeof log1, "%s/log.csv", dir);
    snprintf(log2, sizeof log2, "%s/log.csv", off);
    snprintf(out, sizeof out, "%s/compare.png", tmpdir);
    const char *logs[] = {log1, log2};
    if (pd_plot_compare(logs, NULL, 2, NULL, out)) fail_msg("%s", pd_last_error());
    assert_png_size(out, PD_PLOT_WIDTH, PD_PLOT_HEIGHT);
    const char *missing[] = {log1, "/nonexistent/log.csv"};
    assert_int_equal(pd_plot_compare(missing, NULL, 2, NULL, out), PD_ERR_IO);
    TU_ASSERT_CONTAINS(pd_last_error(), "/nonexistent/log.csv");
}

/* New numeric columns (loss parts added by plugins or later versions) are
 * plotted; text and missing cells are not a reason to fail. */
static void test_plot_reads_any_columns(void **state) {
    (void)state;
    char csv[400], png[400];
    snprintf(csv, sizeof csv, "%s/parts.csv", tmpdir);
    snprintf(png, sizeof png, "%s/parts.png", tmpdir);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "step,epoch,loss,lr,v_loss,freq_loss,note,images_per_s\n");
    for (int i = 1; i <= 300; i++)
        fprintf(f, "%d,0,%.5f,%.3g,%.5f,%.5f,x,50\n", i, 1.0 / i + 0.1, 1e-4 * (i < 100 ? i / 100.0 : 1),
                0.5 / i + 0.05, 0.5 / i + 0.05);
    fprintf(f, "301,0,0.1"); /* a line cut off by a crash */
    fclose(f);
    if (pd_plot_training_log(csv, png)) fail_msg("%s", pd_last_error());
    assert_png_size(png, PD_PLOT_WIDTH, PD_PLOT_HEIGHT);
    f = fopen(csv, "w");
    fprintf(f, "step,epoch,lr\n1,0,0.1\n");
    fclose(f);
    assert_int_equal(pd_plot_training_log(csv, png), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "'loss'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_with_ema_warmup_is_exact),
        cmocka_unit_test(test_loss_png_and_final_grid),
        cmocka_unit_test(test_plot_reads_any_columns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
