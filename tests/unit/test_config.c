/* Config: defaults, presets and layer order, every error class with its
 * line, --set, INI round trip, the shipped configs/ and docs/config.md.
 *
 * Usage: test_config                     (source tree from $PIXELDIT_SOURCE_DIR)
 *        test_config SOURCE_DIR
 *        test_config --write-doc docs/config.md   (regenerates the reference)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pixeldit/config.h"
#include "pixeldit/jit.h"

static const char *g_source_dir = NULL;

/* Loads `text` as "t.ini" into defaults; expects failure whose message
 * contains every given substring (NULL-terminated). */
static void expect_load_error(const char *text, ...) {
    pd_config cfg;
    pd_config_defaults(&cfg);
    pd_status s = pd_config_load_string(&cfg, text, "t.ini");
    if (s != PD_ERR_CONFIG) fail_msg("expected a config error for:\n%s\ngot status %d", text, s);
    va_list ap;
    va_start(ap, text);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(pd_last_error(), want))
            fail_msg("message '%s' lacks '%s'", pd_last_error(), want);
    va_end(ap);
}

static void expect_set_error(const char *assignment, const char *want) {
    pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_set(&cfg, assignment), PD_ERR_CONFIG);
    if (!strstr(pd_last_error(), want)) fail_msg("message '%s' lacks '%s'", pd_last_error(), want);
}

static void expect_invalid(const char *const *sets, int n, const char *want1, const char *want2) {
    pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_set_all(&cfg, sets, n), PD_OK);
    assert_int_equal(pd_config_validate(&cfg), PD_ERR_CONFIG);
    if (!strstr(pd_last_error(), want1) || (want2 && !strstr(pd_last_error(), want2)))
        fail_msg("message '%s' lacks '%s' / '%s'", pd_last_error(), want1, want2 ? want2 : "");
}

static void test_defaults(void **state) {
    (void)state;
    pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_validate(&cfg), PD_OK);
    assert_string_equal(cfg.model.preset, "");
    assert_int_equal(cfg.model.image_size, 256);
    assert_int_equal(cfg.model.channels, 3);
    assert_int_equal(cfg.model.hidden_size, 768);
    assert_int_equal(cfg.model.in_context_start, 4);
    assert_int_equal(cfg.model.num_classes, 1000);
    assert_true(cfg.diffusion.P_mean == -0.8 && cfg.diffusion.P_std == 0.8);
    assert_true(cfg.diffusion.t_eps == 0.05 && cfg.diffusion.label_drop_prob == 0.1);
    assert_int_equal(cfg.train.batch_size, 64);
    assert_true(cfg.train.blr == 5e-5 && cfg.train.lr == 0);
    assert_true(cfg.train.beta2 == 0.95 && cfg.train.adam_eps == 1e-8);
    assert_true(cfg.train.ema_decay1 == 0.9999 && cfg.train.ema_decay2 == 0.9996);
    assert_true(cfg.train.warmup_epochs == 5 && !cfg.train.hflip);
    assert_int_equal(cfg.sample.sampler, PD_SAMPLER_HEUN);
    assert_true(cfg.sample.cfg == 3.0 && cfg.sample.cfg_interval_low == 0.1);
    assert_int_equal(cfg.sample.ema, 1);
    assert_int_equal(cfg.data.source, PD_DATA_IDX);
    assert_string_equal(cfg.data.path, "/usr/share/datasets/fashion-mnist");
    assert_string_equal(cfg.decoder.plugins[0], "jit_final_layer");
    assert_string_equal(cfg.loss.plugins[0], "v_loss");
    assert_string_equal(cfg.attention.plugins[0], "sdpa");
    assert_true(pd_config_lr(&cfg) == 5e-5 * 64 / 256);
    assert_int_equal(pd_config_warmup_steps(&cfg, 100), 500);

    /* The defaults are JiT-B/16. */
    pd_config b16 = cfg;
    assert_int_equal(pd_config_apply_preset(&b16, "JiT-B/16"), PD_OK);
    assert_string_equal(b16.model.preset, "JiT-B/16");
    b16.model.preset[0] = '\0';
    assert_true(pd_config_equal(&cfg, &b16));
    assert_int_equal(pd_config_apply_preset(&b16, "JiT-X"), PD_ERR_CONFIG);
}

static void test_presets_and_order(void **state) {
    (void)state;
    pd_config cfg;
    pd_config_defaults(&cfg);
    /* The explicit key comes first in the file and still wins. */
    assert_int_equal(pd_config_load_string(&cfg,
                                           "[model]\nimage_size = 64\npreset = small\n"
                                           "[train]\nbatch_size = 32\n",
                                           "t.ini"),
                     PD_OK);
    assert_string_equal(cfg.model.preset, "small");
    assert_int_equal(cfg.model.image_size, 64);
    assert_int_equal(cfg.model.channels, 1);
    assert_int_equal(cfg.model.patch_size, 4);
    assert_int_equal(cfg.model.num_heads, 3);
    assert_int_equal(cfg.model.in_context_len, 8);
    assert_int_equal(cfg.model.num_classes, 10);
    assert_int_equal(cfg.train.batch_size, 32);
    assert_int_equal(pd_config_validate(&cfg), PD_OK);

    /* A --set layer: preset first, then keys; a repeated key: last wins. */
    const char *sets[] = {"model.depth=3", "model.preset=JiT-H/16", "train.batch_size=8",
                          "train.batch_size=16"};
    assert_int_equal(pd_config_set_all(&cfg, sets, 4), PD_OK);
    assert_int_equal(cfg.model.hidden_size, 1280);
    assert_int_equal(cfg.model.depth, 3);
    assert_int_equal(cfg.model.image_size, 256); /* preset replaced the file's 64 */
    assert_true(cfg.model.proj_dropout == 0.2);
    assert_int_equal(cfg.train.batch_size, 16);

    static const struct { const char *name; int img, p, D, L, H, dp, start; } jit[] = {
        {"JiT-B/32", 512, 32, 768, 12, 12, 128, 4},   {"JiT-L/16", 256, 16, 1024, 24, 16, 128, 8},
        {"JiT-L/32", 512, 32, 1024, 24, 16, 128, 8},  {"JiT-H/32", 512, 32, 1280, 32, 16, 256, 10},
        {"bench-s", 32, 4, 192, 6, 3, 32, 2},
    };
    for (size_t i = 0; i < sizeof jit / sizeof jit[0]; i++) {
        pd_config c;
        pd_config_defaults(&c);
        assert_int_equal(pd_config_apply_preset(&c, jit[i].name), PD_OK);
        assert_int_equal(c.model.image_size, jit[i].img);
        assert_int_equal(c.model.patch_size, jit[i].p);
        assert_int_equal(c.model.hidden_size, jit[i].D);
        assert_int_equal(c.model.depth, jit[i].L);
        assert_int_equal(c.model.num_heads, jit[i].H);
        assert_int_equal(c.model.bottleneck_dim, jit[i].dp);
        assert_int_equal(c.model.in_context_start, jit[i].start);
        assert_int_equal(pd_config_validate(&c), PD_OK);
    }
}

static void test_parse_errors(void **state) {
    (void)state;
    expect_load_error("[model]\n; comment\n\npatch_size = abc\n",
                      "t.ini:4: [model] patch_size = abc: expected an integer", NULL);
    expect_load_error("[train]\nlr = 1e-4\n[modle]\nimage_size = 3\n",
                      "t.ini:3: unknown section [modle] (sections: model, diffusion, train, sample, "
                      "data, eval, decoder, loss, attention",
                      "did you mean [model]?", NULL);
    /* An empty unknown section never reaches inih's handler. */
    expect_load_error("[model]\n[sampel]\n", "t.ini:2: unknown section [sampel]", NULL);
    expect_load_error("[train]\nseed = 1\n\n  bach_size = 4\n",
                      "t.ini:4: [train] unknown key 'bach_size' (did you mean 'batch_size'?)", NULL);
    expect_load_error("[data]\nzzzzzz = 1\n", "t.ini:2: [data] unknown key 'zzzzzz' (keys: source, path",
                      NULL);
    expect_load_error("[sample]\nsampler = rk4\n",
                      "t.ini:2: [sample] sampler = rk4: expected one of heun, euler, dpm++2m, unipc", NULL);
    expect_load_error("[model]\nchannels = 2\n", "t.ini:2: [model] channels = 2: expected one of 1, 3",
                      NULL);
    expect_load_error("[model]\ndepth = 0\n", "t.ini:2: [model] depth = 0: expected an integer in [1, 1024]",
                      NULL);
    expect_load_error("[diffusion]\nlabel_drop_prob = 1.5\n", "expected a number in [0, 1]", NULL);
    expect_load_error("[train]\nema_decay1 = 1\n", "t.ini:2: [train] ema_decay1 = 1: expected a number in [0, 1)",
                      NULL);
    expect_load_error("[train]\nhflip = maybe\n", "expected true or false", NULL);
    expect_load_error("[train]\nlr = 2e-4 # peak\n", "inline comments start with ';'", NULL);
    expect_load_error("[model]\npreset = JiT-Q/16\n", "expected one of JiT-B/16", "bench-s", NULL);
    expect_load_error("[train]\nbatch_size = 4\nseed = 1\n\nbatch_size = 8\n",
                      "t.ini:5: [train] batch_size is set twice (lines 2 and 5)", NULL);
    expect_load_error("[train]\nseed = 1\nnot a pair\n", "t.ini:3: 'not a pair': expected 'key = value'",
                      NULL);
    expect_load_error("[train\nseed = 1\n", "t.ini:1:", "closing ']'", NULL);
    expect_load_error("seed = 1\n[train]\n", "t.ini:1: 'seed' comes before any [section]", NULL);
    char long_line[400];
    snprintf(long_line, sizeof long_line, "[data]\npath = /%0250d\n", 0);
    expect_load_error(long_line, "t.ini:2: line longer than 198 characters", NULL);
    expect_load_error("[decoder]\nplugin = a, b\n", "t.ini:2: [decoder] plugin = a, b: expected one plugin",
                      NULL);
    expect_load_error("[loss]\nplugin = v_loss,,x\n", "empty name", NULL);
    /* The earliest error wins, whatever its kind. */
    expect_load_error("[model]\ndepth = x\n[nope]\n", "t.ini:2: [model] depth = x", NULL);

    /* A failed load changes nothing. */
    pd_config cfg, before;
    pd_config_defaults(&cfg);
    before = cfg;
    assert_int_equal(pd_config_load_string(&cfg, "[train]\nbatch_size = 4\nseed = x\n", "t.ini"),
                     PD_ERR_CONFIG);
    assert_int_equal(cfg.train.batch_size, before.train.batch_size);
    assert_int_equal(pd_config_load_file(&cfg, "/nonexistent/x.ini"), PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), "/nonexistent/x.ini"));
}

static void test_set(void **state) {
    (void)state;
    expect_set_error("train.batch_size=x", "--set train.batch_size=x: expected an integer");
    expect_set_error("trian.batch_size=3", "--set trian.batch_size=3: unknown section [trian]");
    expect_set_error("train.bach_size=3", "[train] unknown key 'bach_size' (did you mean 'batch_size'?)");
    expect_set_error("batch_size=3", "expected section.key=value");
    expect_set_error("decoder.width=a ; b", "would start a comment");

    pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_load_string(&cfg, "[sample]\nsteps = 10\n", "f.ini"), PD_OK);
    const char *sets[] = {" sample.steps = 20 ", "sample.sampler=euler", "data.path=/tmp/x y",
                          "decoder.width=3"};
    assert_int_equal(pd_config_set_all(&cfg, sets, 4), PD_OK);
    assert_int_equal(cfg.sample.steps, 20);
    assert_int_equal(cfg.sample.sampler, PD_SAMPLER_EULER);
    assert_string_equal(cfg.data.path, "/tmp/x y");
    const pd_config_raw *w = pd_config_raw_find(&cfg.decoder, "width");
    assert_non_null(w);
    assert_string_equal(pd_config_origin_name(&cfg, w->origin), "--set");
    /* Validation errors point at the layer that set the key. */
    assert_int_equal(pd_config_set(&cfg, "model.image_size=250"), PD_OK);
    assert_int_equal(pd_config_validate(&cfg), PD_ERR_CONFIG);
    assert_non_null(strstr(pd_last_error(), "--set model.image_size=250: must be a multiple of [model] patch_size = 16"));
}

static void expect_last_error(const char *want) {
    if (!strstr(pd_last_error(), want)) fail_msg("message '%s' lacks '%s'", pd_last_error(), want);
}

/* One JiT shape check (pd_jit_config_problem) for config validation and the
 * model: in_context_start == depth, which would insert the class tokens
 * nowhere and then cut real tokens, is refused at the key's file:line, and
 * pd_jit_create refuses the same config by the same rule. */
static void test_jit_shape_check(void **state) {
    (void)state;
    pd_config cfg;
    pd_config_defaults(&cfg);
    const char *ini = "[model]\npreset = small\nin_context_start = 6\n";
    assert_int_equal(pd_config_load_string(&cfg, ini, "t.ini"), PD_OK);
    assert_int_equal(cfg.model.depth, 6);
    assert_true(cfg.model.in_context_len > 0);
    assert_int_equal(pd_config_validate(&cfg), PD_ERR_CONFIG);
    expect_last_error("t.ini:3:");
    expect_last_error("in_context_start = 6: must be in [0, [model] depth = 6)");

    pd_jit_config jc;
    pd_config_jit(&cfg, &jc);
    char why[320];
    assert_string_equal(pd_jit_config_problem(&jc, why, sizeof why), "in_context_start");
    pd_jit *m = NULL;
    assert_int_equal(pd_jit_create(&jc, NULL, &m), PD_ERR_CONFIG);
    assert_null(m);
    expect_last_error("jit: [model] in_context_start must be in [0, [model] depth = 6)");

    /* the last block is a valid start; without class tokens start is unused */
    cfg.model.in_context_start = 5;
    assert_int_equal(pd_config_validate(&cfg), PD_OK);
    cfg.model.in_context_start = 6;
    cfg.model.in_context_len = 0;
    assert_int_equal(pd_config_validate(&cfg), PD_OK);

    /* attn_dropout: refused by the model, so by validation too (with the line) */
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_load_string(&cfg, "[model]\nattn_dropout = 0.1\n", "t.ini"), PD_OK);
    assert_int_equal(pd_config_validate(&cfg), PD_ERR_CONFIG);
    expect_last_error("t.ini:2:");
    expect_last_error("attn_dropout = 0.1: must be 0");
}

static void test_validate(void **state) {
    (void)state;
    const char *a[] = {"model.preset=small", "model.image_size=30"};
    expect_invalid(a, 2, "--set model.image_size=30: must be a multiple of [model] patch_size = 4", NULL);
    const char *b[] = {"model.preset=small", "model.num_heads=5"};
    expect_invalid(b, 2, "hidden_size = 192 (from preset small): must be a multiple of [model] num_heads = 5", NULL);
    const char *c[] = {"model.preset=small", "model.hidden_size=200", "model.num_heads=4"};
    expect_invalid(c, 3, "200 / 4 = 50 must be a multiple of 4 for 2D RoPE", NULL);
    const char *d[] = {"model.preset=small", "model.in_context_start=7"};
    expect_invalid(d, 2, "in_context_start=7: must be in [0, [model] depth = 6)", NULL);
    const char *e[] = {"sample.cfg_interval_low=0.5", "sample.cfg_interval_high=0.4"};
    expect_invalid(e, 2, "cfg_interval_low", "cfg_interval_high = 0.4");
    const char *f[] = {"train.blr=0"};
    expect_invalid(f, 1, "[train] lr = 0", NULL);

    /* Values written by code are range-checked too. */
    pd_config cfg;
    pd_config_defaults(&cfg);
    cfg.model.patch_size = 0;
    assert_int_equal(pd_config_validate(&cfg), PD_ERR_CONFIG);
    assert_non_null(strstr(pd_last_error(), "[model] patch_size = 0 (default): expected an integer in [1, 256]"));
}

static void test_plugin_sections(void **state) {
    (void)state;
    pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_load_string(&cfg,
                                           "[decoder]\nwidht = 64\nplugin = unet_decoder\nmode = up\n"
                                           "[loss]\nplugin = v_loss, freq_loss\nweight = 0.5\n",
                                           "cfg.ini"),
                     PD_OK);
    assert_int_equal(cfg.decoder.n_plugins, 1);
    assert_string_equal(cfg.decoder.plugins[0], "unet_decoder");
    assert_int_equal(cfg.decoder.n_raw, 2);
    assert_int_equal(cfg.loss.n_plugins, 2);
    assert_string_equal(cfg.loss.plugins[1], "freq_loss");
    const pd_config_plugins *dec = pd_config_plugin_section(&cfg, "decoder");
    assert_ptr_equal(dec, &cfg.decoder);
    const pd_config_raw *e = pd_config_raw_find(dec, "widht");
    assert_non_null(e);
    assert_int_equal(e->origin.line, 2);
    assert_string_equal(pd_config_origin_name(&cfg, e->origin), "cfg.ini");

    /* the value stays text: the plugin host parses it (test_plugin_loader) */
    assert_string_equal(e->value, "64");
    assert_int_equal(pd_config_fail_raw(&cfg, dec, pd_config_raw_find(dec, "mode"), "expected a number"),
                     PD_ERR_CONFIG);
    assert_string_equal(pd_last_error(), "cfg.ini:4: [decoder] mode = up: expected a number");
    assert_int_equal(pd_config_fail_key(&cfg, "decoder", "plugin", "not found"), PD_ERR_CONFIG);
    assert_string_equal(pd_last_error(), "cfg.ini:3: [decoder] plugin = unet_decoder: not found");

    /* The same plugin again keeps earlier keys; a different one drops them. */
    assert_int_equal(pd_config_set(&cfg, "decoder.plugin=unet_decoder"), PD_OK);
    assert_int_equal(cfg.decoder.n_raw, 2);
    assert_int_equal(pd_config_set(&cfg, "decoder.mode=down"), PD_OK);
    assert_string_equal(pd_config_raw_find(dec, "mode")->value, "down");
    assert_int_equal(pd_config_set(&cfg, "decoder.plugin=jit_final_layer"), PD_OK);
    assert_int_equal(cfg.decoder.n_raw, 0);
    assert_int_equal(cfg.loss.n_raw, 1);
}

static void test_round_trip(void **state) {
    (void)state;
    pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_load_string(&cfg,
                                           "[model]\npreset = small\ndepth = 4\n"
                                           "[train]\nlr = 2e-4\nema_decay1 = 0.999\nhflip = yes\n"
                                           "[data]\nsource = folder\npath = /data/my images\n"
                                           "[loss]\nplugin = v_loss,freq_loss\nfreq_loss.weight = 0.1\n",
                                           "a.ini"),
                     PD_OK);
    const char *sets[] = {"diffusion.noise_scale=0.3333333333333333", "attention.block=64"};
    assert_int_equal(pd_config_set_all(&cfg, sets, 2), PD_OK);

    size_t need = pd_config_to_ini(&cfg, NULL, 0);
    char *text = malloc(need + 1);
    assert_int_equal(pd_config_to_ini(&cfg, text, need + 1), need);
    assert_non_null(strstr(text, "\n[attention]\nplugin = sdpa\nblock = 64\n"));
    assert_non_null(strstr(text, "ema_decay1 = 0.999\n"));

    pd_config back;
    pd_config_defaults(&back);
    if (pd_config_load_string(&back, text, "checkpoint") != PD_OK) fail_msg("%s", pd_last_error());
    assert_true(pd_config_equal(&cfg, &back));
    assert_true(back.diffusion.noise_scale == cfg.diffusion.noise_scale);
    char *again = malloc(need + 1);
    pd_config_to_ini(&back, again, need + 1);
    assert_string_equal(text, again);

    back.train.seed = 7;
    assert_false(pd_config_equal(&cfg, &back));
    /* Truncated output is still terminated. */
    char small[16];
    assert_int_equal(pd_config_to_ini(&cfg, small, sizeof small), need);
    assert_int_equal(strlen(small), sizeof small - 1);
    free(text);
    free(again);
}

static void test_shipped_configs(void **state) {
    (void)state;
    if (!g_source_dir) fail_msg("set PIXELDIT_SOURCE_DIR or pass the source dir");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/configs", g_source_dir);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".ini") != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        pd_config cfg;
        pd_config_defaults(&cfg);
        if (pd_config_load_file(&cfg, path) != PD_OK || pd_config_validate(&cfg) != PD_OK)
            fail_msg("%s", pd_last_error());
        n++;
    }
    closedir(d);
    assert_true(n >= 6);
}

/* Writes text to dir/name. */
static void write_text(const char *dir, const char *name, const char *text) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void expect_file_error(const char *path, const char *want1, const char *want2) {
    pd_config cfg, before;
    pd_config_defaults(&cfg);
    before = cfg;
    assert_int_equal(pd_config_load_file(&cfg, path), PD_ERR_CONFIG);
    if (!strstr(pd_last_error(), want1) || (want2 && !strstr(pd_last_error(), want2)))
        fail_msg("message '%s' lacks '%s' / '%s'", pd_last_error(), want1, want2 ? want2 : "");
    assert_true(pd_config_equal(&cfg, &before)); /* a failed load changes nothing */
}

static void test_base_chain(void **state) {
    (void)state;
    char dir[] = "/tmp/pixeldit-test-config-XXXXXX";
    if (!mkdtemp(dir)) fail_msg("mkdtemp failed");
    char sub[1100], path[2048];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    if (mkdir(sub, 0755)) fail_msg("mkdir %s failed", sub);
    /* root <- mid (in sub/, names ../root.ini) <- top (names sub/mid.ini) */
    write_text(dir, "root.ini",
               "[model]\npreset = small\n[train]\nlr = 1e-3\nseed = 1\nbatch_size = 16\n"
               "[decoder]\nplugin = unet_decoder\nbase_width = 32\n");
    write_text(sub, "mid.ini",
               "; the base may sit anywhere in the file\n[train]\nseed = 2\n"
               "[config]\nbase = ../root.ini\n[decoder]\nbase_width = 48\n");
    write_text(dir, "top.ini", "[config]\nbase = sub/mid.ini\n[train]\nbatch_size = 32\n");
    snprintf(path, sizeof path, "%s/top.ini", dir);
    pd_config cfg;
    pd_config_defaults(&cfg);
    if (pd_config_load_file(&cfg, path) != PD_OK) fail_msg("%s", pd_last_error());
    assert_int_equal(cfg.model.depth, 6);          /* root's preset */
    assert_true(cfg.train.lr == 1e-3);             /* root */
    assert_int_equal(cfg.train.seed, 2);           /* mid over root */
    assert_int_equal(cfg.train.batch_size, 32);    /* top over root */
    assert_string_equal(cfg.decoder.plugins[0], "unet_decoder");
    assert_string_equal(pd_config_raw_find(&cfg.decoder, "base_width")->value, "48");
    /* Errors in a base name the base file and its line. */
    const char *sets[] = {"train.seed=5"};
    assert_int_equal(pd_config_set_all(&cfg, sets, 1), PD_OK); /* --set over every file */
    assert_int_equal(cfg.train.seed, 5);

    /* The resolved text is self-contained: no [config], reloads equal. */
    size_t need = pd_config_to_ini(&cfg, NULL, 0);
    char *text = malloc(need + 1);
    pd_config_to_ini(&cfg, text, need + 1);
    assert_null(strstr(text, "[config]"));
    assert_null(strstr(text, "base ="));
    pd_config back;
    pd_config_defaults(&back);
    if (pd_config_load_string(&back, text, "checkpoint") != PD_OK) fail_msg("%s", pd_last_error());
    assert_true(pd_config_equal(&cfg, &back));
    free(text);

    /* Text (a checkpoint's config) may not read files. */
    expect_load_error("[config]\nbase = root.ini\n", "t.ini:2:", "[config] base", NULL);
    expect_load_error("[config]\nbasis = root.ini\n", "t.ini:2:", "unknown key 'basis'", NULL);
    expect_load_error("[confg]\nbase = root.ini\n", "t.ini:1:", "did you mean [config]?", NULL);

    /* Missing file, with the including file and line. */
    write_text(dir, "missing.ini", "[train]\nseed = 3\n\n[config]\nbase = nothere.ini\n");
    snprintf(path, sizeof path, "%s/missing.ini", dir);
    expect_file_error(path, "missing.ini:5: [config] base", "nothere.ini: No such file");
    write_text(dir, "dir.ini", "[config]\nbase = sub\n");
    snprintf(path, sizeof path, "%s/dir.ini", dir);
    expect_file_error(path, "dir.ini:2: [config] base", "is not a regular file");
    /* A cycle, named file by file. */
    write_text(dir, "a.ini", "[config]\nbase = b.ini\n");
    write_text(dir, "b.ini", "[train]\nseed = 1\n[config]\nbase = ./a.ini\n");
    snprintf(path, sizeof path, "%s/a.ini", dir);
    expect_file_error(path, "b.ini:4: [config] base: cycle", "a.ini -> ");
    write_text(dir, "self.ini", "[config]\nbase = self.ini\n");
    snprintf(path, sizeof path, "%s/self.ini", dir);
    expect_file_error(path, "self.ini:2: [config] base: cycle", NULL);
    /* Twice in one file. */
    write_text(dir, "twice.ini", "[config]\nbase = root.ini\nbase = root.ini\n");
    snprintf(path, sizeof path, "%s/twice.ini", dir);
    expect_file_error(path, "twice.ini:3: [config] base is set twice", NULL);
    /* An error inside a base names the base. */
    write_text(dir, "bad.ini", "[train]\nseed = x\n");
    write_text(dir, "uses-bad.ini", "[config]\nbase = bad.ini\n");
    snprintf(path, sizeof path, "%s/uses-bad.ini", dir);
    expect_file_error(path, "bad.ini:2: [train] seed = x", NULL);
    /* Too long a chain. */
    for (int i = 0; i < 9; i++) {
        char name[32], body[64];
        snprintf(name, sizeof name, "c%d.ini", i);
        snprintf(body, sizeof body, "[config]\nbase = c%d.ini\n", i + 1);
        write_text(dir, name, i == 8 ? "[train]\nseed = 1\n" : body);
    }
    snprintf(path, sizeof path, "%s/c0.ini", dir);
    expect_file_error(path, "[config] base: chain longer than", NULL);

    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_diff(void **state) {
    (void)state;
    pd_config a, b;
    pd_config_defaults(&a);
    pd_config_defaults(&b);
    assert_int_equal(pd_config_diff(&a, &b, NULL, 0), 0);
    const char *sets[] = {"train.lr=2e-4", "sample.steps=10", "decoder.plugin=unet_decoder",
                          "loss.plugin=v_loss,freq_loss", "attention.block=64"};
    assert_int_equal(pd_config_set_all(&b, sets, 5), PD_OK);
    pd_config_difference d[4];
    assert_int_equal(pd_config_diff(&a, &b, d, 4), 2); /* plugin sections are not counted */
    assert_string_equal(d[0].section, "train");
    assert_string_equal(d[0].key, "lr");
    assert_string_equal(d[0].a, "0");
    assert_string_equal(d[0].b, "0.0002");
    assert_string_equal(d[1].section, "sample");
    assert_string_equal(d[1].key, "steps");
    /* Only cap entries are written; the count is still all of them. */
    assert_int_equal(pd_config_diff(&a, &b, d, 1), 2);
    assert_int_equal(pd_config_diff(&b, &b, d, 4), 0);
}

/* Every configs/FAMILY-*.ini (new ones included) equals FAMILY.ini outside
 * the plugin sections, so a comparison of two presets compares plugins.
 * Returns how many variants it checked. */
static int check_preset_family(const char *family) {
    /* Keys a variant may change on purpose, per file: the precision check
     * (docs/benchmarks.md) compares small.ini with its bf16 numerics. */
    static const char *const intentional[][2] = {
        {"small-bf16-emulated.ini", "train.precision"}, {NULL, NULL}};
    char dir[1024], path[2048], prefix[64];
    snprintf(dir, sizeof dir, "%s/configs", g_source_dir);
    snprintf(path, sizeof path, "%s/%s.ini", dir, family);
    snprintf(prefix, sizeof prefix, "%s-", family);
    pd_config base;
    pd_config_defaults(&base);
    if (pd_config_load_file(&base, path) != PD_OK) fail_msg("%s", pd_last_error());
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || len < 5 ||
            strcmp(e->d_name + len - 4, ".ini") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        pd_config cfg;
        pd_config_defaults(&cfg);
        if (pd_config_load_file(&cfg, path) != PD_OK) fail_msg("%s", pd_last_error());
        pd_config_difference diff[PD_CONFIG_MAX_KEYS];
        int nd = pd_config_diff(&base, &cfg, diff, PD_CONFIG_MAX_KEYS);
        for (int i = 0; i < nd; i++) {
            bool ok = false;
            char name[128];
            snprintf(name, sizeof name, "%s.%s", diff[i].section, diff[i].key);
            for (int j = 0; intentional[j][0]; j++)
                ok = ok || (strcmp(intentional[j][0], e->d_name) == 0 &&
                            strcmp(intentional[j][1], name) == 0);
            if (!ok)
                fail_msg("%s: [%s] %s = %s, but %s.ini has %s: a variant preset states only "
                         "its plugin sections (use [config] base = %s.ini)",
                         e->d_name, diff[i].section, diff[i].key, diff[i].b, family, diff[i].a, family);
        }
        n++;
    }
    closedir(d);
    return n;
}

/* The two regimes of the mechanism study (docs/results.md): small-*.ini and
 * jitlike-*.ini each differ from their base only in plugin sections. */
static void test_small_presets_do_not_drift(void **state) {
    (void)state;
    if (!g_source_dir) fail_msg("set PIXELDIT_SOURCE_DIR or pass the source dir");
    assert_true(check_preset_family("small") >= 3);
    assert_true(check_preset_family("jitlike") >= 5);
}

static char *schema_markdown(void) {
    size_t need = pd_config_schema_markdown(NULL, 0);
    char *md = malloc(need + 1);
    assert_int_equal(pd_config_schema_markdown(md, need + 1), need);
    return md;
}

static void test_docs_up_to_date(void **state) {
    (void)state;
    if (!g_source_dir) fail_msg("set PIXELDIT_SOURCE_DIR or pass the source dir");
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/config.md", g_source_dir);
    char *md = schema_markdown();
    FILE *f = fopen(path, "rb");
    if (!f) {
        free(md);
        fail_msg("cannot open %s", path);
    }
    size_t len = strlen(md);
    char *disk = malloc(len + 2);
    size_t got = fread(disk, 1, len + 1, f);
    fclose(f);
    bool same = got == len && memcmp(disk, md, len) == 0;
    free(disk);
    free(md);
    if (!same) fail_msg("%s is out of date: run test_config --write-doc %s", path, path);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-doc") == 0) {
        size_t need = pd_config_schema_markdown(NULL, 0);
        char *md = malloc(need + 1);
        pd_config_schema_markdown(md, need + 1);
        FILE *f = fopen(argv[2], "wb");
        if (!f || fwrite(md, 1, need, f) != need || fclose(f) != 0) {
            fprintf(stderr, "cannot write %s\n", argv[2]);
            return 1;
        }
        free(md);
        return 0;
    }
    g_source_dir = argc > 1 ? argv[1] : getenv("PIXELDIT_SOURCE_DIR");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_presets_and_order),
        cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_set),
        cmocka_unit_test(test_validate),        cmocka_unit_test(test_plugin_sections),
        cmocka_unit_test(test_jit_shape_check),
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_shipped_configs),
        cmocka_unit_test(test_docs_up_to_date), cmocka_unit_test(test_base_chain),
        cmocka_unit_test(test_diff),            cmocka_unit_test(test_small_presets_do_not_drift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
