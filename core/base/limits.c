/* Model-size limits (pixeldit/limits.h): checked before any allocation so
 * that a config or a checkpoint's stored config cannot ask for more than
 * the machine holds or overflow an int. */
#include <stdio.h>
#include <unistd.h>

#include "pixeldit/jit.h"
#include "pixeldit/limits.h"

int64_t pd_jit_param_estimate(const pd_jit_config *c) {
    if (c->image_size <= 0 || c->patch_size <= 0 || c->hidden_size <= 0 || c->depth <= 0 ||
        c->num_heads <= 0 || c->bottleneck_dim <= 0 || c->num_classes <= 0 || c->channels <= 0 ||
        c->in_context_len < 0 || !(c->mlp_ratio > 0) || c->mlp_ratio > PD_MAX_MLP_RATIO)
        return -1;
    int64_t D = c->hidden_size, g = c->image_size / c->patch_size, N = g * g;
    int64_t H = (int64_t)((double)(int64_t)((double)D * c->mlp_ratio) * 2.0 / 3.0);
    int64_t hd = D / c->num_heads, p = c->patch_size;
    int64_t embed = D * 256 + D + D * D + D + ((int64_t)c->num_classes + 1) * D +
                    c->bottleneck_dim * c->channels * p * p + D * c->bottleneck_dim + D + N * D +
                    (int64_t)c->in_context_len * D;
    int64_t block = D + 2 * hd + 3 * D * D + 3 * D + D * D + D + D + 2 * H * D + 2 * H + D * H + D +
                    6 * D * D + 6 * D;
    return embed + (int64_t)c->depth * block;
}

/* Physical memory in bytes, or INT64_MAX when unknown. */
static int64_t phys_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0) return INT64_MAX;
    return (int64_t)pages * size;
}

#define RANGE(field, lo, hi)                                                              \
    if (c->field < (lo) || c->field > (hi))                                               \
        return pd_fail(PD_ERR_CONFIG, "[model] " #field " = %d is outside [%d, %d] (the limit " \
                       "is in docs/security.md)", c->field, (int)(lo), (int)(hi));

pd_status pd_limits_check_jit(const pd_jit_config *c) {
    RANGE(image_size, 1, PD_MAX_IMAGE_SIZE);
    RANGE(patch_size, 1, PD_MAX_PATCH_SIZE);
    RANGE(hidden_size, 1, PD_MAX_HIDDEN_SIZE);
    RANGE(depth, 1, PD_MAX_DEPTH);
    RANGE(num_heads, 1, PD_MAX_HEADS);
    RANGE(bottleneck_dim, 1, PD_MAX_BOTTLENECK_DIM);
    RANGE(in_context_len, 0, PD_MAX_IN_CONTEXT_LEN);
    RANGE(num_classes, 1, PD_MAX_CLASSES);
    if (!(c->mlp_ratio > 0) || c->mlp_ratio > PD_MAX_MLP_RATIO)
        return pd_fail(PD_ERR_CONFIG, "[model] mlp_ratio = %g is outside (0, %g]",
                       (double)c->mlp_ratio, PD_MAX_MLP_RATIO);
    int64_t g = c->image_size / c->patch_size;
    if (g * g + c->in_context_len > PD_MAX_TOKENS)
        return pd_fail(PD_ERR_CONFIG, "[model] (image_size / patch_size)^2 + in_context_len = "
                       "%lld tokens, above the limit %d", (long long)(g * g + c->in_context_len),
                       PD_MAX_TOKENS);
    int64_t n = pd_jit_param_estimate(c);
    if (n < 0 || n > PD_MAX_PARAMS)
        return pd_fail(PD_ERR_CONFIG, "[model] sizes give %lld backbone parameters, above the "
                       "limit %lld", (long long)n, (long long)PD_MAX_PARAMS);
    /* weights and gradients must fit at least once */
    int64_t need = n * 8, have = phys_bytes();
    if (need > have)
        return pd_fail(PD_ERR_CONFIG, "[model] sizes give %lld parameters (%.1f GiB with "
                       "gradients), more than this machine's %.1f GiB of memory", (long long)n,
                       (double)need / (1 << 30), (double)have / (1 << 30));
    return PD_OK;
}
