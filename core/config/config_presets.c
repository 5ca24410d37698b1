/* Model presets: the JiT table (/work/shared/specs/jit.md section 1.1) and
 * the small CPU models. A preset sets every [model] key. */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

/* JiT: /16 at 256 pixels, /32 at 512, always a 16 x 16 token grid. */
#define JIT(img, p, D, L, H, dp, start, drop)                                               \
    {.image_size = img, .channels = 3, .patch_size = p, .hidden_size = D, .depth = L,        \
     .num_heads = H, .bottleneck_dim = dp, .mlp_ratio = 4.0, .in_context_len = 32,           \
     .in_context_start = start, .num_classes = 1000, .proj_dropout = drop, .attn_dropout = 0.0}

/* 32 x 32 grayscale, 8 x 8 tokens of width 192 (head dim 64), 10 classes. */
#define SMALL_CPU                                                                            \
    {.image_size = 32, .channels = 1, .patch_size = 4, .hidden_size = 192, .depth = 6,       \
     .num_heads = 3, .bottleneck_dim = 32, .mlp_ratio = 4.0, .in_context_len = 8,            \
     .in_context_start = 2, .num_classes = 10, .proj_dropout = 0.0, .attn_dropout = 0.0}

const cfg_preset pd_cfg_presets[] = {
    {"JiT-B/16", "ImageNet 256, 131M parameters.", JIT(256, 16, 768, 12, 12, 128, 4, 0.0)},
    {"JiT-B/32", "ImageNet 512, 133M parameters.", JIT(512, 32, 768, 12, 12, 128, 4, 0.0)},
    {"JiT-L/16", "ImageNet 256, 459M parameters.", JIT(256, 16, 1024, 24, 16, 128, 8, 0.0)},
    {"JiT-L/32", "ImageNet 512, 462M parameters.", JIT(512, 32, 1024, 24, 16, 128, 8, 0.0)},
    {"JiT-H/16", "ImageNet 256, 953M parameters.", JIT(256, 16, 1280, 32, 16, 256, 10, 0.2)},
    {"JiT-H/32", "ImageNet 512, 956M parameters.", JIT(512, 32, 1280, 32, 16, 256, 10, 0.2)},
    {"small", "Default CPU model for Fashion-MNIST (28 x 28 padded to 32 x 32).", SMALL_CPU},
    {"bench-s", "Benchmark model; the same shapes as small.", SMALL_CPU},
};
const int pd_cfg_n_presets = (int)(sizeof pd_cfg_presets / sizeof pd_cfg_presets[0]);

const cfg_preset *pd_cfg_preset_find(const char *name) {
    for (int i = 0; i < pd_cfg_n_presets; i++)
        if (strcmp(pd_cfg_presets[i].name, name) == 0) return &pd_cfg_presets[i];
    return NULL;
}

void pd_cfg_preset_fill(pd_config *cfg, const cfg_preset *p) {
    cfg->model = p->model;
    snprintf(cfg->model.preset, sizeof cfg->model.preset, "%s", p->name);
    for (int i = 0; i < pd_cfg_n_keys; i++)
        if (strcmp(pd_cfg_keys[i].section, "model") == 0 && pd_cfg_keys[i].type != CFG_PRESET)
            cfg->origin[i] = (pd_config_origin){PD_CONFIG_FROM_PRESET, 0};
}

pd_status pd_config_apply_preset(pd_config *cfg, const char *name) {
    const cfg_preset *p = name ? pd_cfg_preset_find(name) : NULL;
    if (!cfg || !p) {
        char list[256];
        size_t n = 0;
        for (int i = 0; i < pd_cfg_n_presets && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                                  pd_cfg_presets[i].name);
        return pd_fail(PD_ERR_CONFIG, "model preset '%s': expected one of %s",
                       name ? name : "(null)", list);
    }
    pd_cfg_preset_fill(cfg, p);
    return PD_OK;
}
