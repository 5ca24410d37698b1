/* End-to-end training behaviour on a tiny model and a slice of
 * Fashion-MNIST: seed determinism, exact resume, checkpoint round trip,
 * clear errors for mismatched checkpoints, and bf16-emulated training
 * following fp32's loss curve. */
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "pixeldit/checkpoint.h"
#include "pixeldit/trainer.h"

static const char *tiny_ini =
    "[model]\nimage_size = 16\nchannels = 1\npatch_size = 4\nhidden_size = 32\ndepth = 2\n"
    "num_heads = 2\nbottleneck_dim = 8\nin_context_len = 2\nin_context_start = 1\nnum_classes = 10\n"
    "[diffusion]\nnoise_scale = 1.0\n"
    "[train]\nbatch_size = 8\nlr = 1e-3\nwarmup_steps = 2\nseed = 7\nhflip = true\nlog_every = 1000\n"
    "ckpt_every = 0\nsample_every = 0\nthreads = 2\nema_decay1 = 0.9\nema_decay2 = 0.99\n"
    "[sample]\nsteps = 2\nper_class = 1\n"
    "[data]\nfit = resize\nlimit = 40\n";

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pixeldit-test-train-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) return -1;
    return 0;
}

/* Removes the runs this test wrote. */
static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void tiny_config(pd_config *cfg) {
    pd_config_defaults(cfg);
    if (pd_config_load_string(cfg, tiny_ini, "tiny.ini")) fail_msg("%s", pd_last_error());
}

static void train(const char *dir, int64_t steps, const char *resume) {
    static pd_config cfg;
    tiny_config(&cfg);
    pd_train_opts o = {.cfg = &cfg, .out_dir = dir, .max_steps = steps, .resume = resume};
    pd_train_result r;
    if (pd_train_run(&o, &r)) fail_msg("train %s: %s", dir, pd_last_error());
}

/* Every tensor and the training metadata of two checkpoints are equal. */
static void assert_same_checkpoint(const char *a, const char *b) {
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
    const char *keys[] = {"step", "rng", "dropout_rng", "data.epoch", "data.pos", "data.rng", "optim.steps"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        assert_string_equal(pd_st_metadata(fa, keys[k]), pd_st_metadata(fb, keys[k]));
    pd_st_close(fa);
    pd_st_close(fb);
}

static void test_resume_is_exact(void **state) {
    (void)state;
    char straight[300], split[300], a[400], b[400];
    snprintf(straight, sizeof straight, "%s/straight", tmpdir);
    snprintf(split, sizeof split, "%s/split", tmpdir);
    train(straight, 9, NULL); /* crosses an epoch boundary: 40 images / batch 8 */
    train(split, 4, NULL);
    snprintf(b, sizeof b, "%s/checkpoint-last.safetensors", split);
    train(split, 5, b);
    snprintf(a, sizeof a, "%s/checkpoint-last.safetensors", straight);
    assert_same_checkpoint(a, b);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc((size_t)n + 1, 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
    fclose(f);
    return s;
}

static void test_same_seed_same_losses(void **state) {
    (void)state;
    char d1[300], d2[300], l1[400], l2[400];
    snprintf(d1, sizeof d1, "%s/seed1", tmpdir);
    snprintf(d2, sizeof d2, "%s/seed2", tmpdir);
    train(d1, 5, NULL);
    train(d2, 5, NULL);
    snprintf(l1, sizeof l1, "%s/log.csv", d1);
    snprintf(l2, sizeof l2, "%s/log.csv", d2);
    char *a = read_file(l1), *b = read_file(l2);
    assert_non_null(a);
    assert_non_null(b);
    /* compare step,epoch,loss,lr and the loss columns; images/s (last) differs */
    int lines = 0;
    for (char *pa = a, *pb = b, *ea, *eb; (ea = strchr(pa, '\n')) && (eb = strchr(pb, '\n'));
         pa = ea + 1, pb = eb + 1, lines++) {
        *ea = *eb = '\0';
        char *ra = strrchr(pa, ','), *rb = strrchr(pb, ',');
        if (!ra || !rb) fail_msg("malformed log line: %s", pa);
        *ra = *rb = '\0';
        if (strcmp(pa, pb)) fail_msg("log lines differ:\n%s\n%s", pa, pb);
    }
    assert_int_equal(lines, 6); /* header + 5 steps */
    free(a);
    free(b);
}

static void test_checkpoint_round_trip_and_mismatch(void **state) {
    (void)state;
    char dir[300], ck[400];
    snprintf(dir, sizeof dir, "%s/rt", tmpdir);
    train(dir, 2, NULL);
    snprintf(ck, sizeof ck, "%s/checkpoint-last.safetensors", dir);
    pd_st_file *f;
    assert_int_equal(pd_st_open(ck, &f), PD_OK);
    const char *ini, *plugins;
    assert_int_equal(pd_checkpoint_read_meta(f, &ini, &plugins), PD_OK);
    TU_ASSERT_CONTAINS(plugins, "decoder=jit_final_layer@");
    static pd_config cfg, cfg2;
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_load_string(&cfg, ini, ck), PD_OK);
    tiny_config(&cfg2);
    assert_true(pd_config_equal(&cfg, &cfg2)); /* the stored config is the one trained with */
    pd_session s;
    assert_int_equal(pd_session_open(&s, &cfg), PD_OK);
    assert_int_equal(pd_checkpoint_load_params(f, pd_jit_params(s.model), ""), PD_OK);
    pd_tensor *w = pd_params_find(pd_jit_params(s.model), "blocks.1.attn.qkv.weight");
    const pd_st_tensor *tw = pd_st_find(f, "blocks.1.attn.qkv.weight");
    assert_memory_equal(w->data, tw->data, tw->nbytes);
    pd_session_close(&s);

    /* a model of another width: the error names the tensor and both shapes */
    assert_int_equal(pd_config_set(&cfg, "model.hidden_size=48"), PD_OK);
    assert_int_equal(pd_session_open(&s, &cfg), PD_OK);
    assert_int_not_equal(pd_checkpoint_load_params(f, pd_jit_params(s.model), ""), PD_OK);
    TU_ASSERT_CONTAINS(pd_last_error(), "t_embedder.mlp.0.weight");
    TU_ASSERT_CONTAINS(pd_last_error(), "48");
    TU_ASSERT_CONTAINS(pd_last_error(), "32");
    pd_session_close(&s);
    pd_st_close(f);
}

/* A diverging run stops with PD_ERR_NUMERIC and leaves the last good
 * checkpoint untouched. */
static void test_nan_loss_keeps_last_checkpoint(void **state) {
    (void)state;
    char dir[300], ck[400];
    snprintf(dir, sizeof dir, "%s/nan", tmpdir);
    train(dir, 2, NULL);
    snprintf(ck, sizeof ck, "%s/checkpoint-last.safetensors", dir);
    char *before = read_file(ck);
    struct stat st0;
    assert_int_equal(stat(ck, &st0), 0);
    static pd_config cfg;
    tiny_config(&cfg);
    assert_int_equal(pd_config_set(&cfg, "train.lr=1e30"), PD_OK);
    pd_train_opts o = {.cfg = &cfg, .out_dir = dir, .max_steps = 20, .resume = ck};
    pd_train_result r;
    assert_int_equal(pd_train_run(&o, &r), PD_ERR_NUMERIC);
    /* "loss is nan at step N", or, when the decoder's output went
     * non-finite first, "decoder plugin ...: non-finite value ..., at step N" */
    TU_ASSERT_CONTAINS(pd_last_error(), "at step");
    TU_ASSERT_CONTAINS(pd_last_error(), "checkpoint-last.safetensors");
    char *after = read_file(ck);
    struct stat st1;
    assert_int_equal(stat(ck, &st1), 0);
    assert_int_equal(st0.st_size, st1.st_size);
    assert_memory_equal(before, after, (size_t)st0.st_size);
    free(before);
    free(after);
}

/* Loss parts (freq_loss reports "freq") get a log.csv column each, and a
 * resumed run appends rows with the same columns. */
static void test_loss_parts_logged(void **state) {
    (void)state;
    char dir[300], ck[400], log[400];
    snprintf(dir, sizeof dir, "%s/parts", tmpdir);
    snprintf(ck, sizeof ck, "%s/checkpoint-last.safetensors", dir);
    snprintf(log, sizeof log, "%s/log.csv", dir);
    static pd_config cfg;
    for (int run = 0; run < 2; run++) {
        tiny_config(&cfg);
        assert_int_equal(pd_config_set(&cfg, "loss.plugin=v_loss, freq_loss"), PD_OK);
        pd_train_opts o = {.cfg = &cfg, .out_dir = dir, .max_steps = 2, .resume = run ? ck : NULL};
        pd_train_result r;
        if (pd_train_run(&o, &r)) fail_msg("train: %s", pd_last_error());
    }
    char *text = read_file(log);
    assert_non_null(text);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_string_equal(text, "step,epoch,loss,lr,v_loss,freq_loss,freq_loss.freq,images_per_s");
    int rows = 0;
    for (char *line = nl + 1, *end; (end = strchr(line, '\n')); line = end + 1, rows++) {
        *end = '\0';
        int commas = 0;
        for (char *c = line; *c; c++) commas += *c == ',';
        if (commas != 7) fail_msg("row %d has %d columns, expected 8: %s", rows, commas + 1, line);
        /* the part is a real number, not an empty column */
        char *f = line;
        for (int i = 0; i < 6; i++) f = strchr(f, ',') + 1;
        assert_true(strtod(f, NULL) > 0);
    }
    assert_int_equal(rows, 4);
    free(text);
}

/* The loss column of a log.csv, up to `max` rows; returns the count. */
static int read_losses(const char *log, double *loss, int max) {
    char *text = read_file(log);
    assert_non_null(text);
    int n = 0;
    char *line = strchr(text, '\n');
    for (char *end; line && n < max && (end = strchr(line + 1, '\n')); line = end) {
        char *f = strchr(line + 1, ','); /* step,epoch,loss,... */
        if (!f || !(f = strchr(f + 1, ','))) fail_msg("malformed log line in %s", log);
        loss[n++] = strtod(f + 1, NULL);
    }
    free(text);
    return n;
}

/* Same seed, same data: training with every GEMM's operands rounded to bf16
 * (precision = bf16-emulated) follows the fp32 loss curve. Tolerance: each
 * step's loss within 1% of fp32's, and the mean over the run within 0.2%
 * (measured: 3.3e-4 and 1.8e-5); the runs must differ somewhere (the
 * rounding is on). */
static void test_bf16_emulated_follows_fp32(void **state) {
    (void)state;
    enum { STEPS = 40 };
    double loss[2][STEPS + 1];
    const char *prec[2] = {"train.precision=fp32", "train.precision=bf16-emulated"};
    static pd_config cfg;
    for (int run = 0; run < 2; run++) {
        char dir[300], log[400];
        snprintf(dir, sizeof dir, "%s/prec%d", tmpdir, run);
        snprintf(log, sizeof log, "%s/log.csv", dir);
        tiny_config(&cfg);
        assert_int_equal(pd_config_set(&cfg, prec[run]), PD_OK);
        assert_int_equal(pd_config_set(&cfg, "data.limit=320"), PD_OK);
        pd_train_opts o = {.cfg = &cfg, .out_dir = dir, .max_steps = STEPS};
        pd_train_result r;
        if (pd_train_run(&o, &r)) fail_msg("train %s: %s", prec[run], pd_last_error());
        assert_int_equal(read_losses(log, loss[run], STEPS + 1), STEPS);
    }
    double worst = 0, mean[2] = {0, 0};
    for (int i = 0; i < STEPS; i++) {
        double d = fabs(loss[1][i] - loss[0][i]) / loss[0][i];
        if (d > worst) worst = d;
        mean[0] += loss[0][i] / STEPS;
        mean[1] += loss[1][i] / STEPS;
    }
    double dmean = fabs(mean[1] - mean[0]) / mean[0];
    print_message("  %d steps: loss %.4f -> %.4f (fp32), %.4f -> %.4f (bf16-emulated); largest "
                  "step difference %.2e, mean %.4f vs %.4f (%.2e)\n", STEPS, loss[0][0],
                  loss[0][STEPS - 1], loss[1][0], loss[1][STEPS - 1], worst, mean[0], mean[1], dmean);
    if (worst > 0.01) fail_msg("a step's loss differs by %.3g (> 1%%)", worst);
    if (dmean > 0.002) fail_msg("mean loss differs by %.3g (> 0.2%%)", dmean);
    if (worst < 1e-6) fail_msg("bf16-emulated gave fp32's losses: the rounding is off");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_same_seed_same_losses),
        cmocka_unit_test(test_checkpoint_round_trip_and_mismatch),
        cmocka_unit_test(test_nan_loss_keeps_last_checkpoint),
        cmocka_unit_test(test_loss_parts_logged),
        cmocka_unit_test(test_bf16_emulated_follows_fp32),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
