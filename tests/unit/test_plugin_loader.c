/* Plugin host tests: good plugins load, create and run; each deliberately
 * broken plugin is refused with a message naming the file and what was
 * expected and found; config keys are bound and checked with file:line.
 * Arguments: full paths of the test plugins (tests/plugins/meson.build). */
#include <elf.h>
#include <libgen.h>
#include <sys/stat.h>
#include <limits.h>
#include <unistd.h>

#include "pixeldit/parity.h"
#include "pixeldit/plugin_host.h"
#include "pixeldit/plugin_record.h"
#include "pixeldit/session.h"
#include "test_util.h"

static int g_argc;
static char **g_argv;

/* Full path of the test plugin NAME.so from the arguments. */
static const char *plugin_file(const char *name) {
    char want[128];
    snprintf(want, sizeof want, "/%s.so", name);
    for (int i = 1; i < g_argc; i++) {
        size_t n = strlen(g_argv[i]), m = strlen(want);
        if (n >= m && strcmp(g_argv[i] + n - m, want) == 0) return g_argv[i];
    }
    fail_msg("test plugin %s.so not among the arguments", name);
    return NULL;
}

/* The folder holding the test plugins. */
static const char *plugin_dir(void) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", plugin_file("good_loss"));
    return dirname(dir);
}

static pd_plugin *load_ok(const char *name, pd_plugin_kind kind) {
    pd_plugin *pl = NULL;
    pd_status s = pd_plugin_load(plugin_file(name), kind, &pl);
    if (s != PD_OK) fail_msg("loading %s: %s", name, pd_last_error());
    assert_non_null(pl);
    return pl;
}

/* Loads a plugin file that must be refused; checks the message parts. */
static void load_refused(const char *name, pd_plugin_kind kind, const char *part1,
                         const char *part2) {
    pd_plugin *pl = (pd_plugin *)1;
    pd_status s = pd_plugin_load(plugin_file(name), kind, &pl);
    if (s != PD_ERR_PLUGIN)
        fail_msg("%s: expected a PD_ERR_PLUGIN refusal, got %s (%s)", name, pd_status_name(s),
                 pd_last_error());
    assert_null(pl);
    const char *msg = pd_last_error();
    char file[160];
    snprintf(file, sizeof file, "%s.so: ", name);
    TU_ASSERT_CONTAINS(msg, file);
    TU_ASSERT_CONTAINS(msg, part1);
    if (part2) TU_ASSERT_CONTAINS(msg, part2);
    assert_null(strchr(msg, '\n')); /* one line */
}

static int unload(void **state) {
    (void)state;
    pd_plugins_unload_all();
    unsetenv("PIXELDIT_PLUGIN_PATH");
    return 0;
}

/* B=2 images 3x4x4, p=2 -> grid 2, N=4 tokens of width D=8. */
static const pd_model_info g_info = {
    sizeof(pd_model_info), 4, 3, 2, 2, 4, 8, 2, 4, 1, 10, 0.05f, 1.0f,
};

static pd_tensor *filled(pd_ctx *ctx, const int *shape, int ndim, uint64_t seed) {
    pd_tensor *t = pd_tensor_empty(ctx, shape, ndim);
    assert_non_null(t);
    tu_fill(t->data, t->numel, seed);
    return t;
}

/* ---- good plugins --------------------------------------------------------- */

static void test_good_decoder(void **state) {
    (void)state;
    pd_plugin *pl = load_ok("good_decoder", PD_PLUGIN_DECODER);
    assert_string_equal(pd_plugin_name(pl), "good_decoder");
    assert_int_equal(pd_plugin_get_kind(pl), PD_PLUGIN_DECODER);
    assert_string_equal(pd_plugin_param_prefix(pl), "decoder.");
    assert_non_null(pd_plugin_decoder_vtable(pl));
    assert_null(pd_plugin_loss_vtable(pl));

    pd_plugin_setting set[] = {{"init_std", "0.5", "t.ini", 3}, {"layout", "unfold", "t.ini", 4}};
    pd_plugin_config *cfg;
    assert_int_equal(pd_plugin_config_build(pl, "decoder", set, 2, &cfg), PD_OK);
    pd_params *params = pd_params_new();
    void *st;
    if (pd_plugin_create_decoder(pl, &g_info, cfg, params, &st)) fail_msg("%s", pd_last_error());
    pd_tensor *w = pd_params_find(params, "decoder.proj.weight");
    pd_tensor *b = pd_params_find(params, "decoder.proj.bias");
    assert_non_null(w);
    assert_non_null(b);
    assert_int_equal(w->shape[0], 12); /* p*p*C */
    assert_int_equal(w->shape[1], 8);  /* D */

    const pd_decoder_vtable *vt = pd_plugin_decoder_vtable(pl);
    pd_rng rng;
    pd_rng_seed(&rng, 7);
    assert_int_equal(vt->init_weights(st, &rng), PD_OK);
    double ss = 0; /* init_std = 0.5 came through the config */
    for (size_t i = 0; i < w->numel; i++) ss += (double)w->data[i] * w->data[i];
    assert_true(sqrt(ss / (double)w->numel) > 0.25);
    tu_fill(b->data, b->numel, 3);
    assert_true(vt->flops(st) > 0);

    pd_ctx *ctx = pd_ctx_new(1 << 20);
    pd_tensor *tokens = filled(ctx, (int[]){2, 4, 8}, 3, 11);
    assert_int_equal(pd_tensor_set_requires_grad(ctx, tokens), PD_OK);
    pd_decoder_inputs in = {.struct_size = sizeof in, .tokens = tokens};
    pd_tensor *x = vt->forward(st, ctx, &in);
    if (!x) fail_msg("%s", pd_ctx_error(ctx));
    assert_int_equal(x->ndim, 4);
    assert_int_equal(x->shape[0], 2);
    assert_int_equal(x->shape[1], 3);
    assert_int_equal(x->shape[3], 4);
    /* same as the host ops called directly */
    pd_tensor *ref = pd_unpatchify(ctx, pd_linear(ctx, tokens, w, b), 3, 4, 4, 2, PD_PATCH_UNFOLD);
    assert_non_null(ref);
    for (size_t i = 0; i < x->numel; i++) assert_float_equal(x->data[i], ref->data[i], 1e-6);
    assert_int_equal(pd_backward(ctx, pd_sum(ctx, x)), PD_OK);
    double gsum = 0;
    for (size_t i = 0; i < w->numel; i++) gsum += fabs(w->grad[i]);
    assert_true(gsum > 0);

    vt->destroy(st);
    pd_ctx_free(ctx);
    pd_params_free(params);
    pd_plugin_config_free(cfg);
}

/* A decoder registering a name outside "decoder." fails create, even though
 * param_add is the only thing that went wrong. */
static void test_decoder_prefix_enforced(void **state) {
    (void)state;
    pd_plugin *pl = load_ok("good_decoder", PD_PLUGIN_DECODER);
    pd_plugin_setting set[] = {{"param_stem", "proj", NULL, 0}};
    pd_plugin_config *cfg;
    assert_int_equal(pd_plugin_config_build(pl, NULL, set, 1, &cfg), PD_OK);
    pd_params *params = pd_params_new();
    void *st = (void *)1;
    assert_int_equal(pd_plugin_create_decoder(pl, &g_info, cfg, params, &st), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "plugin good_decoder");
    TU_ASSERT_CONTAINS(pd_last_error(), "'proj.weight': expected it to start with 'decoder.'");
    assert_null(st);
    assert_int_equal(pd_params_count(params), 0);
    /* outside create(), param_add refuses everything */
    const pd_host_api *host = pd_host_api_get();
    assert_null(host->param_add(params, "decoder.x", (int[]){2}, 1, 0));
    TU_ASSERT_CONTAINS(pd_last_error(), "only allowed inside a decoder's create()");
    pd_params_free(params);
    pd_plugin_config_free(cfg);
}

/* The built-in JiT final layer keeps "final_layer." names. */
static void test_final_layer_prefix(void **state) {
    (void)state;
    pd_plugin *pl = load_ok("fake_final_layer", PD_PLUGIN_DECODER);
    assert_string_equal(pd_plugin_param_prefix(pl), "final_layer.");
    pd_params *params = pd_params_new();
    void *st;
    if (pd_plugin_create_decoder(pl, &g_info, NULL, params, &st)) fail_msg("%s", pd_last_error());
    assert_non_null(pd_params_find(params, "final_layer.linear.weight"));
    pd_plugin_decoder_vtable(pl)->destroy(st);

    pd_plugin_setting set[] = {{"param_stem", "decoder.linear", NULL, 0}};
    pd_plugin_config *cfg;
    assert_int_equal(pd_plugin_config_build(pl, NULL, set, 1, &cfg), PD_OK);
    pd_params *p2 = pd_params_new();
    assert_int_equal(pd_plugin_create_decoder(pl, &g_info, cfg, p2, &st), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "expected it to start with 'final_layer.'");
    pd_params_free(p2);
    pd_params_free(params);
    pd_plugin_config_free(cfg);
}

/* Reading an undeclared key is a plugin bug the host reports. */
static void test_undeclared_key_read(void **state) {
    (void)state;
    pd_plugin *pl = load_ok("good_decoder", PD_PLUGIN_DECODER);
    pd_plugin_setting set[] = {{"read_undeclared", "yes", NULL, 0}};
    pd_plugin_config *cfg;
    assert_int_equal(pd_plugin_config_build(pl, NULL, set, 1, &cfg), PD_OK);
    pd_params *params = pd_params_new();
    void *st = NULL;
    assert_int_equal(pd_plugin_create_decoder(pl, &g_info, cfg, params, &st), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "cfg_int('no_such_key'): the plugin declares no such key");
    assert_null(st);
    pd_params_free(params);
    pd_plugin_config_free(cfg);
}

typedef struct loss_call {
    const pd_plugin *pl;
    void *state;
} loss_call;

/* x_pred (2, 3, 4, 4) -> the plugin's L1 against a fixed x */
static pd_tensor *loss_fn(pd_ctx *ctx, pd_tensor *const *inputs, int n, void *user) {
    (void)n;
    loss_call *c = user;
    pd_tensor *x = filled(ctx, (int[]){2, 3, 4, 4}, 4, 99);
    pd_loss_inputs in = {sizeof in, inputs[0], x, NULL, NULL, NULL, NULL, NULL, 2};
    return pd_plugin_loss_vtable(c->pl)->forward(c->state, ctx, &in, NULL);
}

static void test_good_loss(void **state) {
    (void)state;
    pd_plugin *pl = load_ok("good_loss", PD_PLUGIN_LOSS);
    assert_null(pd_plugin_param_prefix(pl));
    pd_plugin_setting set[] = {{"weight", "0.25", "t.ini", 8}};
    pd_plugin_config *cfg;
    assert_int_equal(pd_plugin_config_build(pl, "loss", set, 1, &cfg), PD_OK);
    assert_float_equal(pd_plugin_config_weight(cfg), 0.25, 1e-12);
    loss_call call = {pl, NULL};
    if (pd_plugin_create_loss(pl, &g_info, cfg, &call.state)) fail_msg("%s", pd_last_error());

    pd_ctx *ctx = pd_ctx_new(1 << 20);
    pd_tensor *xp = filled(ctx, (int[]){2, 3, 4, 4}, 4, 5);
    pd_tensor *x = filled(ctx, (int[]){2, 3, 4, 4}, 4, 99);
    pd_loss_inputs in = {sizeof in, xp, x, NULL, NULL, NULL, NULL, NULL, 2};
    pd_loss_parts parts = {0};
    pd_tensor *loss = pd_plugin_loss_vtable(pl)->forward(call.state, ctx, &in, &parts);
    if (!loss) fail_msg("%s", pd_ctx_error(ctx));
    double want = 0;
    for (size_t i = 0; i < xp->numel; i++) want += fabs((double)xp->data[i] - x->data[i]);
    assert_float_equal(loss->data[0], want / (double)xp->numel, 1e-5);
    assert_int_equal(parts.n, 1);
    assert_string_equal(parts.name[0], "l1");

    /* the custom op's backward, by finite differences */
    float buf[96];
    tu_fill(buf, 96, 5);
    pd_gradcheck_input gin = {buf, (int[]){2, 3, 4, 4}, 4, true};
    pd_gradcheck_opts opts = pd_gradcheck_defaults();
    opts.max_checks = -1;
    TU_GRADCHECK(loss_fn, &call, &gin, 1, &opts);

    pd_plugin_loss_vtable(pl)->destroy(call.state);
    pd_ctx_free(ctx);
    pd_plugin_config_free(cfg);
}

static void test_good_attention(void **state) {
    (void)state;
    pd_plugin *pl = load_ok("good_attention", PD_PLUGIN_ATTENTION);
    pd_plugin_setting set[] = {{"scale_mult", "2", "t.ini", 2}};
    pd_plugin_config *cfg;
    assert_int_equal(pd_plugin_config_build(pl, "attention", set, 1, &cfg), PD_OK);
    void *st;
    if (pd_plugin_create_attention(pl, &g_info, cfg, &st)) fail_msg("%s", pd_last_error());
    pd_ctx *ctx = pd_ctx_new(1 << 20);
    int shape[4] = {2, 2, 4, 4}; /* (B, H, N, d) */
    pd_tensor *q = filled(ctx, shape, 4, 1), *k = filled(ctx, shape, 4, 2),
              *v = filled(ctx, shape, 4, 3);
    pd_tensor *out = pd_plugin_attention_vtable(pl)->forward(st, ctx, q, k, v, 0.5f);
    pd_tensor *ref = pd_sdpa(ctx, q, k, v, 1.0f); /* 0.5 * scale_mult 2 */
    if (!out || !ref) fail_msg("%s", pd_ctx_error(ctx));
    for (size_t i = 0; i < out->numel; i++) assert_float_equal(out->data[i], ref->data[i], 1e-6);
    pd_plugin_attention_vtable(pl)->destroy(st);
    pd_ctx_free(ctx);
    pd_plugin_config_free(cfg);
}

/* ---- output checks (ABI 1.1) ------------------------------------------------ */

/* One forward (and loss) of a tiny JiT built around the named plugins,
 * loaded by path first so the config can name them. Returns the context's
 * error, "" when it ran. */
static double g_flops; /* pd_jit_flops_per_image of the last forward_with model */

/* the decoder parameters no gradient reached, when none did ("" otherwise) */
static char g_unreached[256];

static const char *forward_with(const char *decoder, const char *attention) {
    static char err[1024];
    pd_plugin *pl;
    assert_int_equal(pd_plugin_load(plugin_file(decoder), PD_PLUGIN_DECODER, &pl), PD_OK);
    assert_int_equal(pd_plugin_load(plugin_file(attention), PD_PLUGIN_ATTENTION, &pl), PD_OK);
    assert_int_equal(pd_plugin_load(plugin_file("v_loss"), PD_PLUGIN_LOSS, &pl), PD_OK);
    char ini[512];
    snprintf(ini, sizeof ini,
             "[model]\nimage_size = 8\nchannels = 1\npatch_size = 4\nhidden_size = 16\n"
             "depth = 1\nnum_heads = 2\nbottleneck_dim = 8\nin_context_len = 0\n"
             "in_context_start = 0\nnum_classes = 2\n"
             "[decoder]\nplugin = %s\n[attention]\nplugin = %s\n[loss]\nplugin = v_loss\n",
             decoder, attention);
    static pd_config cfg;
    pd_config_defaults(&cfg);
    if (pd_config_load_string(&cfg, ini, "tiny.ini")) fail_msg("%s", pd_last_error());
    pd_session s;
    if (pd_session_open(&s, &cfg)) fail_msg("%s", pd_last_error());
    g_flops = pd_jit_flops_per_image(s.model);
    pd_ctx *ctx = pd_session_new_ctx(&s);
    int shape[4] = {2, 1, 8, 8};
    pd_tensor *z = filled(ctx, shape, 4, 5), *x = filled(ctx, shape, 4, 6);
    float t[2] = {0.3f, 0.7f};
    int labels[2] = {0, 1};
    pd_tensor *xp = pd_jit_forward(s.model, ctx, z, t, labels, NULL);
    pd_tensor *loss = pd_session_loss(&s, ctx, xp, x, z, t, labels, NULL);
    assert_true((loss != NULL) == (pd_ctx_status(ctx) == PD_OK));
    snprintf(err, sizeof err, "%s", pd_ctx_error(ctx));
    /* the check training makes after its first backward */
    g_unreached[0] = '\0';
    if (loss) {
        pd_params_zero_grad(pd_jit_params(s.model));
        if (pd_backward(ctx, loss)) fail_msg("%s: backward: %s", decoder, pd_ctx_error(ctx));
        int trainable, zero = pd_params_zero_grads(pd_jit_params(s.model), pd_plugin_param_prefix(s.decoder),
                                                   g_unreached, sizeof g_unreached, &trainable);
        assert_true(trainable > 0);
        if (zero < trainable) g_unreached[0] = '\0';
    }
    pd_ctx_free(ctx);
    pd_session_close(&s);
    return err;
}

static void test_output_checks(void **state) {
    (void)state;
    assert_string_equal(forward_with("good_decoder", "good_attention"), "");
    pd_plugins_unload_all();
    const char *e = forward_with("hwc_decoder", "good_attention");
    assert_string_equal(e, "decoder plugin hwc_decoder: x_pred: expected (B, C, H, W) = "
                           "(2, 1, 8, 8), found (2, 8, 8, 1)");
    pd_plugins_unload_all();
    e = forward_with("good_decoder", "nhd_attention");
    assert_string_equal(e, "attention plugin nhd_attention: output: expected q's shape "
                           "(B, H, N, d) = (2, 2, 4, 8), found (2, 4, 2, 8)");
    pd_plugins_unload_all();
    /* attention flops feed the model's count (FLOPs, MFU): 1 block, H = 2,
     * N = 4 tokens; exact attention is 2 * 2 * N^2 * D with D = 16 */
    double exact = g_flops;
    assert_string_equal(forward_with("good_decoder", "flops_attention"), "");
    assert_float_equal(g_flops - exact, 1000.0 * 2 * 4 * 4 - 2 * 2 * 4 * 4 * 16, 1e-6);
    pd_plugins_unload_all();
    e = forward_with("err_decoder", "good_attention");
    if (strncmp(e, "decoder plugin err_decoder: add: ", 33) != 0)
        fail_msg("expected the plugin's own error with its name in front, got: %s", e);
    pd_plugins_unload_all();
    /* NaN from finite inputs is refused where it is made */
    assert_string_equal(forward_with("nan_decoder", "good_attention"),
                        "decoder plugin nan_decoder: x_pred: non-finite value nan at (0, 0, 0, 0) "
                        "from finite inputs");
    pd_plugins_unload_all();
    /* an output no gradient flows through (z returned) is refused at once */
    assert_string_equal(forward_with("zparam_decoder", "good_attention"),
                        "decoder plugin zparam_decoder: x_pred depends on neither the tokens nor any "
                        "parameter (no gradient can flow through it): expected a differentiable "
                        "function of them");
    pd_plugins_unload_all();
    assert_string_equal(forward_with("good_decoder", "good_attention"), "");
    assert_string_equal(g_unreached, "");
}

/* --plugin FILE and --set KIND.plugin=NAME give the same config: keys an
 * earlier layer set for the replaced plugin are dropped, --set keys of the
 * same command line are kept, a loss is added to the list. */
static void test_plugin_arg_is_a_set(void **state) {
    (void)state;
    static pd_config a, b;
    const char *ini = "[decoder]\nplugin = good_decoder\nlayout = unfold\n"
                      "[loss]\nplugin = good_loss\nweight = 2\n";
    pd_plugin *pl;
    assert_int_equal(pd_plugin_load(plugin_file("good_decoder"), 0, &pl), PD_OK);
    for (int i = 0; i < 2; i++) {
        pd_config *c = i ? &b : &a;
        pd_config_defaults(c);
        if (pd_config_load_string(c, ini, "cfg.ini")) fail_msg("%s", pd_last_error());
    }
    const char *plugins[] = {plugin_file("err_decoder"), plugin_file("wrong_kind")};
    const char *sets[] = {"decoder.init_std=0.3"};
    if (pd_session_apply_args(&a, plugins, 2, sets, 1)) fail_msg("%s", pd_last_error());
    const char *same[] = {"decoder.plugin=err_decoder", "loss.plugin=good_loss, wrong_kind",
                          "decoder.init_std=0.3"};
    if (pd_config_set_all(&b, same, 3)) fail_msg("%s", pd_last_error());
    assert_true(pd_config_equal(&a, &b));
    assert_string_equal(a.decoder.plugins[0], "err_decoder");
    assert_int_equal(a.decoder.n_raw, 1); /* layout (for good_decoder) dropped, init_std kept */
    assert_string_equal(a.decoder.raw[0].key, "init_std");
    assert_int_equal(a.loss.n_plugins, 2);
    assert_int_equal(a.loss.n_raw, 0);
    /* the same loss twice is listed once */
    const char *twice[] = {plugin_file("wrong_kind")};
    assert_int_equal(pd_session_apply_args(&a, twice, 1, NULL, 0), PD_OK);
    assert_int_equal(a.loss.n_plugins, 2);
}

/* The checkpoint's plugin record: names only, versions checked. */
static void test_plugin_record(void **state) {
    (void)state;
    pd_plugin_record r;
    assert_int_equal(pd_plugin_record_parse("", "ck", &r), PD_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(pd_plugin_record_parse("decoder=good_decoder@1.2.0;attention=good_attention@1.0.0;"
                                            "loss=v_loss@1.0.0", "ck", &r), PD_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.e[2].kind, PD_PLUGIN_LOSS);
    assert_string_equal(r.e[0].version, "1.2.0");
    char text[256];
    pd_plugin_record_format(&r, text, sizeof text);
    assert_string_equal(text, "decoder=good_decoder@1.2.0;attention=good_attention@1.0.0;"
                              "loss=v_loss@1.0.0");
    static const struct { const char *text, *msg; } bad[] = {
        {"decoder=/tmp/evil.so@1.0", "ck: plugin record 'decoder=/tmp/evil.so@1.0': expected a "
                                     "plugin name [a-z0-9_]+, found a path"},
        {"decoder=evil.so@1.0", "expected a plugin name [a-z0-9_]+ (a checkpoint names plugins"},
        {"decoder=x", "expected KIND=NAME@VERSION"},
        {"codec=x@1", "expected the kind decoder, loss or attention"},
        {"loss=x@1 0", "expected a version without blanks"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pd_plugin_record_parse(bad[i].text, "ck", &r), PD_ERR_FORMAT);
        TU_ASSERT_CONTAINS(pd_last_error(), bad[i].msg);
    }
    static pd_config cfg;
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_load_string(&cfg, "[loss]\nplugin = v_loss, ./evil.so\n", "ck"), PD_OK);
    assert_int_equal(pd_plugin_record_check_config(&cfg, "ck"), PD_ERR_FORMAT);
    TU_ASSERT_CONTAINS(pd_last_error(), "ck: stored config [loss] plugin = ./evil.so: expected a "
                                        "plugin name");
    /* versions: same major passes with a note, another major or plugin fails */
    forward_with("good_decoder", "good_attention"); /* loads them */
    pd_config_defaults(&cfg);
    assert_int_equal(pd_config_load_string(&cfg,
        "[model]\nimage_size = 8\nchannels = 1\npatch_size = 4\nhidden_size = 16\ndepth = 1\n"
        "num_heads = 2\nbottleneck_dim = 8\nin_context_len = 0\nin_context_start = 0\n"
        "num_classes = 2\n[decoder]\nplugin = good_decoder\n[attention]\nplugin = good_attention\n"
        "[loss]\nplugin = v_loss\n", "t.ini"), PD_OK);
    pd_session s;
    if (pd_session_open_model(&s, &cfg)) fail_msg("%s", pd_last_error());
    assert_int_equal(s.n_losses, 0);
    char note[256];
    assert_int_equal(pd_plugin_record_parse("decoder=good_decoder@1.2.0;loss=v_loss@7.0.0", "ck", &r),
                     PD_OK);
    assert_int_equal(pd_plugin_record_check(&r, &s, PD_RECORD_MODEL, "ck", note, sizeof note), PD_OK);
    assert_string_equal(note, "decoder plugin good_decoder was 1.2.0 when saved, now 1.0.0");
    assert_int_equal(pd_plugin_record_check(&r, &s, PD_RECORD_ALL, "ck", note, sizeof note),
                     PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "ck: made with loss plugin v_loss 7.0.0, which this model "
                                        "does not use");
    assert_int_equal(pd_plugin_record_parse("decoder=good_decoder@2.0.0", "ck", &r), PD_OK);
    assert_int_equal(pd_plugin_record_check(&r, &s, PD_RECORD_MODEL, "ck", NULL, 0), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "made with decoder plugin good_decoder 2.0.0, found "
                                        "good_decoder 1.0.0 at ");
    pd_session_close(&s);
}

/* A plugin built against ABI 1.0 (tests/plugins/abi10_loss.c, which
 * defines the 1.0 structs itself) loads on this host and computes its loss. */
static void test_abi_1_0_plugin(void **state) {
    (void)state;
    assert_true(PD_PLUGIN_ABI_MINOR >= 1);
    pd_plugin *pl = load_ok("abi10_loss", PD_PLUGIN_LOSS);
    assert_int_equal(pd_plugin_descriptor(pl)->abi_minor, 0);
    void *st;
    if (pd_plugin_create_loss(pl, &g_info, NULL, &st)) fail_msg("%s", pd_last_error());
    pd_ctx *ctx = pd_ctx_new(1 << 20);
    int shape[4] = {2, 3, 4, 4};
    pd_tensor *v = filled(ctx, shape, 4, 1), *vp = filled(ctx, shape, 4, 2);
    pd_loss_inputs in = {sizeof in, vp, v, v, NULL, v, vp, NULL, 2};
    pd_loss_parts parts;
    pd_tensor *l = pd_plugin_loss_forward(pl, st, ctx, &in, &parts);
    if (!l) fail_msg("%s", pd_ctx_error(ctx));
    assert_float_equal(l->data[0], pd_mse(ctx, vp, v)->data[0], 1e-7);
    assert_int_equal(parts.n, 0);
    pd_plugin_loss_vtable(pl)->destroy(st);
    pd_ctx_free(ctx);
}

/* ---- refusals -------------------------------------------------------------------- */

static void test_broken_plugins(void **state) {
    (void)state;
    static const struct {
        const char *name, *part1, *part2;
    } cases[] = {
        {"no_entry", "entry symbol: expected pixeldit_plugin_entry, found none", NULL},
        {"null_entry", "pixeldit_plugin_entry(): expected a descriptor, found NULL", NULL},
        {"abi_major", "ABI major version: expected 1, found 2", NULL},
        {"abi_minor", "ABI minor version: expected <= 2, found 3", NULL},
        {"small_struct", "descriptor struct_size: expected >= ", ", found 8"},
        {"bad_kind", "kind: expected 1..3 (decoder, loss, attention), found 7", NULL},
        {"bad_name", "name: expected [a-z0-9_]+", "found 'Bad-Name'"},
        {"null_version", "version: expected a non-empty string, found NULL", NULL},
        {"null_vtable", "vtable: expected a loss vtable, found NULL", NULL},
        {"small_vtable", "loss vtable struct_size: expected >= ", ", found 4"},
        {"kind_vtable", "kind decoder, but its vtable is the size of a loss vtable",
         "wrong kind in the descriptor?"},
        {"null_forward", "loss vtable: required member 'forward' is NULL", NULL},
        {"key_bad_name", "key 1 name: expected [a-z0-9_]+", "found 'Bad Key'"},
        {"key_bad_type", "key 'mode' type: expected 1..5", "found 9"},
        {"key_bad_default", "key 'scale' default 'abc': expected a number", NULL},
        {"key_null_default", "key 'scale' default: expected a float value, found NULL", NULL},
        {"key_out_of_range", "key 'scale' default '-2': out of range 0..", NULL},
        {"key_bad_enum", "key 'mode' default 'c': expected one of a|b", NULL},
        {"key_duplicate", "key 'scale': expected unique key names", NULL},
        {"key_weight", "key 'weight': expected another name", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        load_refused(cases[i].name, 0, cases[i].part1, cases[i].part2);
    /* nothing refused was registered */
    assert_null(pd_plugin_find("abi_major"));
    assert_null(pd_plugin_find("key_weight"));
}

static void test_wrong_slot(void **state) {
    (void)state;
    load_refused("wrong_kind", PD_PLUGIN_DECODER, "kind: expected decoder, found loss", NULL);
    load_refused("good_attention", PD_PLUGIN_LOSS, "kind: expected loss, found attention", NULL);
    /* the refusal kept nothing: the same file loads into the right slot */
    load_ok("wrong_kind", PD_PLUGIN_LOSS);
    /* ...and once loaded, the wrong slot is still refused */
    load_refused("wrong_kind", PD_PLUGIN_ATTENTION, "kind: expected attention, found loss", NULL);
}

static void test_duplicates(void **state) {
    (void)state;
    pd_plugin *a = load_ok("good_loss", 0);
    char other[4200];
    snprintf(other, sizeof other, "%s/./good_loss.so", plugin_dir());
    pd_plugin *b = NULL;
    assert_int_equal(pd_plugin_load(other, PD_PLUGIN_LOSS, &b), PD_OK);
    assert_ptr_equal(a, b); /* the same file: the plugin already loaded */

    load_ok("dup_name_a", 0);
    load_refused("dup_name_b", 0, "name 'dup_name': expected a unique name, found it already loaded from ",
                 "dup_name_a.so");
}

static void test_search_by_name(void **state) {
    (void)state;
    pd_plugin *pl = NULL;
    assert_int_equal(pd_plugin_load("good_attention", 0, &pl), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "plugin 'good_attention' not found (tried ");
    TU_ASSERT_CONTAINS(pd_last_error(), "/good_attention.so");

    setenv("PIXELDIT_PLUGIN_PATH", plugin_dir(), 1);
    assert_int_equal(pd_plugin_load("good_attention", PD_PLUGIN_ATTENTION, &pl), PD_OK);
    char real[4096];
    assert_non_null(realpath(plugin_file("good_attention"), real));
    assert_string_equal(pd_plugin_path(pl), real);
    pd_plugin *again = NULL; /* found in the registry by name now */
    assert_int_equal(pd_plugin_load("good_attention", 0, &again), PD_OK);
    assert_ptr_equal(pl, again);

    /* a file found by name must carry that name */
    assert_int_equal(pd_plugin_load("dup_name_a", 0, &pl), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "dup_name_a.so: name: expected 'dup_name_a' (the file name), found 'dup_name'");
    assert_int_equal(pd_plugin_load("Not-A-Name", 0, &pl), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "expected a plugin name [a-z0-9_]+ or a path with a '/'");
    /* no slash, no path: "good_loss.so" never opens the file in the working directory */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(plugin_dir()), 0);
    assert_int_equal(access("good_loss.so", R_OK), 0);
    assert_int_equal(pd_plugin_load("good_loss.so", 0, &pl), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "plugin 'good_loss.so': expected a plugin name");
    TU_ASSERT_CONTAINS(pd_last_error(), "(e.g. ./good_loss.so)");
    assert_null(pd_plugin_find("good_loss"));
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(pd_plugin_load("/nonexistent/x.so", 0, &pl), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "/nonexistent/x.so: cannot open");
}

/* ---- config binding ------------------------------------------------------------ */

static void expect_build_error(const pd_plugin *pl, pd_plugin_setting set, const char *want) {
    pd_plugin_config *cfg = (pd_plugin_config *)1;
    assert_int_equal(pd_plugin_config_build(pl, "decoder", &set, 1, &cfg), PD_ERR_CONFIG);
    assert_null(cfg);
    TU_ASSERT_CONTAINS(pd_last_error(), want);
}

static void test_config_binding(void **state) {
    (void)state;
    pd_plugin *pl = load_ok("good_decoder", 0);
    expect_build_error(pl, (pd_plugin_setting){"widht", "3", "cfg.ini", 14},
                       "cfg.ini:14: [decoder] unknown key 'widht' for plugin good_decoder (its "
                       "keys: init_std, layout, bias, rank, param_stem, read_undeclared)");
    expect_build_error(pl, (pd_plugin_setting){"inti_std", "3", "cfg.ini", 14},
                       "cfg.ini:14: [decoder] unknown key 'inti_std' for plugin good_decoder (did "
                       "you mean 'init_std'? its keys: init_std, layout,");
    expect_build_error(pl, (pd_plugin_setting){"rank", "abc", "cfg.ini", 15},
                       "cfg.ini:15: [decoder] rank = abc: expected an integer");
    expect_build_error(pl, (pd_plugin_setting){"rank", "9", "cfg.ini", 16},
                       "cfg.ini:16: [decoder] rank = 9: out of range 1..8");
    expect_build_error(pl, (pd_plugin_setting){"init_std", "nan", "cfg.ini", 17},
                       "cfg.ini:17: [decoder] init_std = nan: expected a number");
    expect_build_error(pl, (pd_plugin_setting){"layout", "rows", "--set", 0},
                       "--set: [decoder] layout = rows: expected one of jit|unfold");
    expect_build_error(pl, (pd_plugin_setting){"bias", "maybe", "cfg.ini", 2},
                       "cfg.ini:2: [decoder] bias = maybe: expected a boolean");
    /* weight belongs to losses only */
    expect_build_error(pl, (pd_plugin_setting){"weight", "2", "cfg.ini", 3},
                       "unknown key 'weight' for plugin good_decoder");

    pd_plugin_setting set[] = {
        {"rank", "2", "a.ini", 1}, {"bias", "off", "a.ini", 2}, {"rank", "4", "--set", 0}};
    pd_plugin_config *cfg;
    assert_int_equal(pd_plugin_config_build(pl, "decoder", set, 3, &cfg), PD_OK);
    const pd_host_api *h = pd_host_api_get();
    assert_int_equal(h->cfg_int(cfg, "rank"), 4); /* the last setting wins */
    assert_false(h->cfg_bool(cfg, "bias"));
    assert_float_equal(h->cfg_float(cfg, "init_std"), 0.02, 1e-12); /* default */
    assert_float_equal(h->cfg_float(cfg, "rank"), 4.0, 0);          /* int reads as float */
    assert_string_equal(h->cfg_string(cfg, "layout"), "jit");
    assert_float_equal(pd_plugin_config_weight(cfg), 1.0, 0);
    assert_int_equal(h->cfg_int(cfg, "init_std"), 0); /* wrong type: 0 and a message */
    TU_ASSERT_CONTAINS(pd_last_error(), "cfg_int('init_std'): the key is declared float");

    char text[512];
    size_t need = pd_plugin_config_write(cfg, "good_decoder.", NULL, 0);
    assert_int_equal(pd_plugin_config_write(cfg, "good_decoder.", text, sizeof text), need);
    assert_int_equal(strlen(text), need);
    assert_string_equal(text,
                        "good_decoder.init_std = 0.02\n"
                        "good_decoder.layout = jit\n"
                        "good_decoder.bias = off\n"
                        "good_decoder.rank = 4\n"
                        "good_decoder.param_stem = decoder.proj\n"
                        "good_decoder.read_undeclared = false\n");
    char small[10];
    assert_int_equal(pd_plugin_config_write(cfg, NULL, small, sizeof small), need - 13 * 6);
    assert_string_equal(small, "init_std ");
    pd_plugin_config_free(cfg);

    /* a config made for another plugin is refused by create */
    pd_plugin *loss = load_ok("good_loss", 0);
    assert_int_equal(pd_plugin_config_build(loss, NULL, NULL, 0, &cfg), PD_OK);
    pd_params *params = pd_params_new();
    void *st;
    assert_int_equal(pd_plugin_create_decoder(pl, &g_info, cfg, params, &st), PD_ERR_ARG);
    TU_ASSERT_CONTAINS(pd_last_error(), "built for plugin good_loss, not good_decoder");
    pd_params_free(params);
    pd_plugin_config_free(cfg);
}

/* [loss] with two plugins: NAME.key, plain keys, the host's weight. */
static void test_config_from_section(void **state) {
    (void)state;
    pd_plugin *pls[2] = {load_ok("good_loss", PD_PLUGIN_LOSS), load_ok("wrong_kind", PD_PLUGIN_LOSS)};
    pd_config cfg;
    pd_plugin_config *out[2];
    pd_config_defaults(&cfg);
    const char *ini = "[loss]\n"
                      "plugin = good_loss, wrong_kind\n"
                      "reduction = sum\n"
                      "wrong_kind.scale = 2.5\n"
                      "good_loss.weight = 0.5\n"
                      "mode = b\n";
    if (pd_config_load_string(&cfg, ini, "cfg.ini")) fail_msg("%s", pd_last_error());
    if (pd_plugin_config_from_section(&cfg, &cfg.loss, pls, 2, out)) fail_msg("%s", pd_last_error());
    const pd_host_api *h = pd_host_api_get();
    assert_string_equal(h->cfg_string(out[0], "reduction"), "sum");
    assert_float_equal(pd_plugin_config_weight(out[0]), 0.5, 0);
    assert_float_equal(h->cfg_float(out[1], "scale"), 2.5, 0);
    assert_string_equal(h->cfg_string(out[1], "mode"), "b");
    assert_float_equal(pd_plugin_config_weight(out[1]), 1.0, 0);
    pd_plugin_config_free(out[0]);
    pd_plugin_config_free(out[1]);

    static const struct {
        const char *line, *want;
    } bad[] = {
        {"weight = 2\n", "cfg.ini:3: [loss] weight = 2: key 'weight' is ambiguous: plugins "
                         "good_loss and wrong_kind both have it; write good_loss.weight or "
                         "wrong_kind.weight"},
        {"widht = 3\n", "cfg.ini:3: [loss] unknown key 'widht' for plugin good_loss or wrong_kind"},
        {"nope.x = 1\n", "cfg.ini:3: [loss] nope.x = 1: no plugin 'nope' in [loss] (its plugins: "
                         "good_loss, wrong_kind)"},
        {"good_loss.scale = 1\n", "cfg.ini:3: [loss] unknown key 'good_loss.scale' for plugin "
                                  "good_loss (its keys: reduction, weight)"},
        /* NAME.key is matched on its key part */
        {"good_loss.wieght = 1\n", "cfg.ini:3: [loss] unknown key 'good_loss.wieght' for plugin "
                                   "good_loss (did you mean 'good_loss.weight'? its keys: reduction, weight)"},
        {"reduction = max\n", "cfg.ini:3: [loss] reduction = max: expected one of mean|sum"},
        {"wrong_kind.weight = -1\n", "cfg.ini:3: [loss] wrong_kind.weight = -1: out of range 0.."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[loss]\nplugin = good_loss, wrong_kind\n%s", bad[i].line);
        pd_config_defaults(&cfg);
        if (pd_config_load_string(&cfg, text, "cfg.ini")) fail_msg("%s", pd_last_error());
        out[0] = out[1] = (pd_plugin_config *)1;
        assert_int_equal(pd_plugin_config_from_section(&cfg, &cfg.loss, pls, 2, out), PD_ERR_CONFIG);
        assert_null(out[0]);
        assert_null(out[1]);
        TU_ASSERT_CONTAINS(pd_last_error(), bad[i].want);
    }

    /* one plugin: the config engine's own wording, with the line */
    pd_plugin *dec = load_ok("good_decoder", PD_PLUGIN_DECODER);
    pd_config_defaults(&cfg);
    if (pd_config_load_string(&cfg, "[decoder]\nplugin = good_decoder\n\n\nwidht = 3\n", "cfg.ini"))
        fail_msg("%s", pd_last_error());
    assert_int_equal(pd_plugin_config_from_section(&cfg, &cfg.decoder, &dec, 1, out), PD_ERR_CONFIG);
    TU_ASSERT_CONTAINS(pd_last_error(), "cfg.ini:5: [decoder] unknown key 'widht' for plugin "
                                        "good_decoder (");
    TU_ASSERT_CONTAINS(pd_last_error(), "its keys: init_std, layout, bias, rank");
}

/* ---- listing, host table ------------------------------------------------------- */

static void test_listing(void **state) {
    (void)state;
    setenv("PIXELDIT_PLUGIN_PATH", plugin_dir(), 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(pd_plugins_print(f, NULL), PD_OK);
    fclose(f);
    TU_ASSERT_CONTAINS(text, "decoder   good_decoder 1.0.0\n");
    TU_ASSERT_CONTAINS(text, "    test decoder: linear tokens -> patches, unpatchify\n");
    TU_ASSERT_CONTAINS(text, "good_decoder.so\n");
    TU_ASSERT_CONTAINS(text, "init_std");
    TU_ASSERT_CONTAINS(text, "(one of jit|unfold)");
    TU_ASSERT_CONTAINS(text, "loss      good_loss 1.0.0\n");
    TU_ASSERT_CONTAINS(text, "attention good_attention 1.0.0\n");
    TU_ASSERT_CONTAINS(text, "refused   ");
    TU_ASSERT_CONTAINS(text, "abi_major.so\n    ABI major version: expected 1, found 2 (");
    TU_ASSERT_CONTAINS(text, "no_entry.so\n    entry symbol");
    /* plugins first, refusals after them */
    assert_true(strstr(text, "attention good_attention") < strstr(text, "refused   "));
    free(text);

    f = open_memstream(&text, &len);
    assert_int_equal(pd_plugins_print(f, "good_loss"), PD_OK);
    fclose(f);
    TU_ASSERT_CONTAINS(text, "good_loss");
    TU_ASSERT_CONTAINS(text, "weight");  /* the host key is listed */
    assert_null(strstr(text, "good_decoder"));
    free(text);

    f = open_memstream(&text, &len);
    assert_int_equal(pd_plugins_print(f, "no_such_plugin"), PD_ERR_PLUGIN);
    fclose(f);
    free(text);
    TU_ASSERT_CONTAINS(pd_last_error(), "no plugin named 'no_such_plugin' in ");

    /* a refused plugin asked for by name is listed and is a failure */
    f = open_memstream(&text, &len);
    assert_int_equal(pd_plugins_print(f, "abi_major"), PD_ERR_PLUGIN);
    fclose(f);
    TU_ASSERT_CONTAINS(text, "refused   ");
    free(text);
    TU_ASSERT_CONTAINS(pd_last_error(), "plugin abi_major refused: ");
    TU_ASSERT_CONTAINS(pd_last_error(), "abi_major.so: ABI major version: expected 1, found 2");
}

/* Copies the first `n` bytes of src to dst (all when n is 0). */
static void copy_bytes(const char *src, const char *dst, long n) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t got;
    long left = n ? n : -1;
    while ((got = fread(buf, 1, left < 0 || left > (long)sizeof buf ? sizeof buf : (size_t)left, in)) > 0) {
        assert_int_equal(fwrite(buf, 1, got, out), got);
        if (left > 0 && (left -= (long)got) == 0) break;
    }
    fclose(in);
    fclose(out);
}

/* `pixeldit plugins` over a folder of bad files: each is checked before
 * dlopen (a truncated ELF would SIGBUS inside dlopen), reported, and the
 * listing goes on to the good one. */
static void test_listing_bad_files(void **state) {
    (void)state;
    char dir[] = "/tmp/pixeldit-badso-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/good_attention.so", dir);
    copy_bytes(plugin_file("good_attention"), path, 0);
    snprintf(path, sizeof path, "%s/trunc.so", dir);
    copy_bytes(plugin_file("good_loss"), path, 6000);
    snprintf(path, sizeof path, "%s/junk.so", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 20; i++) fputs("not a library\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/empty.so", dir);
    fclose(fopen(path, "w"));
    setenv("PIXELDIT_PLUGIN_PATH", dir, 1);
    char *text = NULL;
    size_t len = 0;
    f = open_memstream(&text, &len);
    assert_int_equal(pd_plugins_print(f, NULL), PD_OK);
    fclose(f);
    TU_ASSERT_CONTAINS(text, "attention good_attention 1.0.0");
    TU_ASSERT_CONTAINS(text, "/junk.so\n    expected an ELF shared object, found no ELF header");
    TU_ASSERT_CONTAINS(text, "/empty.so\n    expected an ELF shared object, found a file too short");
    TU_ASSERT_CONTAINS(text, "/trunc.so\n    ELF ");
    TU_ASSERT_CONTAINS(text, "(truncated?)");
    assert_null(pd_plugin_find("good_loss"));
    free(text);
    const char *names[] = {"good_attention", "trunc", "junk", "empty"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s.so", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* Points every address the dynamic section of an ELF file gives (string
 * table, symbol table, hashes) far outside the file: the dynamic linker
 * trusts them and crashes (issue 27: two such files killed `pixeldit
 * plugins` with SIGSEGV). Returns the entries changed. */
static int corrupt_dynamic(const char *path) {
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    Elf64_Ehdr eh;
    assert_int_equal(fread(&eh, sizeof eh, 1, f), 1);
    int changed = 0;
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        assert_int_equal(fseek(f, (long)(eh.e_phoff + (uint64_t)i * sizeof ph), SEEK_SET), 0);
        assert_int_equal(fread(&ph, sizeof ph, 1, f), 1);
        if (ph.p_type != PT_DYNAMIC) continue;
        for (uint64_t o = 0; o + sizeof(Elf64_Dyn) <= ph.p_filesz; o += sizeof(Elf64_Dyn)) {
            Elf64_Dyn d;
            assert_int_equal(fseek(f, (long)(ph.p_offset + o), SEEK_SET), 0);
            assert_int_equal(fread(&d, sizeof d, 1, f), 1);
            if (d.d_tag == DT_NULL) break;
            if (d.d_tag != DT_STRTAB && d.d_tag != DT_SYMTAB && d.d_tag != DT_GNU_HASH &&
                d.d_tag != DT_HASH)
                continue;
            d.d_un.d_ptr = UINT64_C(0x7fff00000000) + (uint64_t)changed * 4096;
            assert_int_equal(fseek(f, (long)(ph.p_offset + o), SEEK_SET), 0);
            assert_int_equal(fwrite(&d, sizeof d, 1, f), 1);
            changed++;
        }
    }
    fclose(f);
    return changed;
}

/* issue 27: a plugin folder holding a library with a corrupt dynamic
 * section and a FIFO named like a plugin. The listing neither crashes nor
 * blocks: the library is refused (its test load runs in a child) and the
 * good plugin beside it is listed. Loading the FIFO by path is refused at
 * once. */
static void test_listing_corrupt_dynamic(void **state) {
    (void)state;
    char dir[] = "/tmp/pixeldit-dynso-XXXXXX", path[256], fifo[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/good_attention.so", dir);
    copy_bytes(plugin_file("good_attention"), path, 0);
    snprintf(path, sizeof path, "%s/dyn.so", dir);
    copy_bytes(plugin_file("good_loss"), path, 0);
    assert_true(corrupt_dynamic(path) >= 2);
    snprintf(fifo, sizeof fifo, "%s/fifo.so", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    setenv("PIXELDIT_PLUGIN_PATH", dir, 1);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(pd_plugins_print(f, NULL), PD_OK);
    fclose(f);
    TU_ASSERT_CONTAINS(text, "attention good_attention 1.0.0");
    TU_ASSERT_CONTAINS(text, "/dyn.so\n    loading it crashed a test process (signal");
    assert_null(pd_plugin_find("good_loss"));
    free(text);
    pd_plugin *pl = NULL;
    assert_int_equal(pd_plugin_load(fifo, 0, &pl), PD_ERR_PLUGIN);
    TU_ASSERT_CONTAINS(pd_last_error(), "not a regular file (found a FIFO)");
    unlink(fifo);
    unlink(path);
    snprintf(path, sizeof path, "%s/good_attention.so", dir);
    unlink(path);
    rmdir(dir);
}

static void test_host_table(void **state) {
    (void)state;
    const pd_host_api *h = pd_host_api_get();
    assert_int_equal(h->struct_size, sizeof(pd_host_api));
    assert_int_equal(h->abi_major, PD_PLUGIN_ABI_MAJOR);
    assert_int_equal(h->abi_minor, PD_PLUGIN_ABI_MINOR);
    /* every member after the version fields is a function pointer */
    size_t first = offsetof(pd_host_api, log), n = (sizeof(pd_host_api) - first) / sizeof(void *);
    for (size_t i = 0; i < n; i++) {
        void *fn;
        memcpy(&fn, (const char *)h + first + i * sizeof(void *), sizeof fn);
        if (!fn) fail_msg("host API member %zu (after log) is NULL", i);
    }
    assert_ptr_equal((void *)h->linear, (void *)pd_linear);
    assert_ptr_equal((void *)h->sdpa, (void *)pd_sdpa);
    int old = pd_host_set_log_level(PD_LOG_ERROR);
    h->log(PD_LOG_INFO, "not shown %d", 1);
    assert_int_equal(pd_host_set_log_level(old), PD_LOG_ERROR);
}

int main(int argc, char **argv) {
    g_argc = argc, g_argv = argv;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_good_decoder, unload),
        cmocka_unit_test_teardown(test_decoder_prefix_enforced, unload),
        cmocka_unit_test_teardown(test_final_layer_prefix, unload),
        cmocka_unit_test_teardown(test_undeclared_key_read, unload),
        cmocka_unit_test_teardown(test_good_loss, unload),
        cmocka_unit_test_teardown(test_good_attention, unload),
        cmocka_unit_test_teardown(test_output_checks, unload),
        cmocka_unit_test_teardown(test_plugin_arg_is_a_set, unload),
        cmocka_unit_test_teardown(test_plugin_record, unload),
        cmocka_unit_test_teardown(test_abi_1_0_plugin, unload),
        cmocka_unit_test_teardown(test_broken_plugins, unload),
        cmocka_unit_test_teardown(test_wrong_slot, unload),
        cmocka_unit_test_teardown(test_duplicates, unload),
        cmocka_unit_test_teardown(test_search_by_name, unload),
        cmocka_unit_test_teardown(test_config_binding, unload),
        cmocka_unit_test_teardown(test_config_from_section, unload),
        cmocka_unit_test_teardown(test_listing, unload),
        cmocka_unit_test_teardown(test_listing_bad_files, unload),
        cmocka_unit_test_teardown(test_listing_corrupt_dynamic, unload),
        cmocka_unit_test_teardown(test_host_table, unload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
