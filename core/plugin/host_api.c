/* The host API table plugins call into: libpixeldit's own functions, plus
 * the prefix-checked param_add (plugin_create.c), a stderr logger and the
 * model's bound attention kernel (core/tensor/ctx_attention.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctx_attention.h"
#include "pixeldit/ops.h"
#include "plugin_internal.h"

static int g_log_level = PD_LOG_INFO;

int pd_host_set_log_level(int max_level) {
    int old = g_log_level;
    g_log_level = max_level;
    return old;
}

/* "[warn] unet_decoder: text" (the name while a create() runs). */
static void host_log(int level, const char *fmt, ...) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (level > g_log_level || !fmt) return;
    if (level < PD_LOG_ERROR) level = PD_LOG_ERROR;
    if (level > PD_LOG_DEBUG) level = PD_LOG_DEBUG;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(msg);
    const char *who = pd_plugin_current_name();
    fprintf(stderr, "[%s] %s%s%s%s", names[level], who ? who : "", who ? ": " : "", msg,
            n && msg[n - 1] == '\n' ? "" : "\n");
}

/* The fused norm + modulate ops, composed when the context's fused kernels
 * are off, as the JiT trunk does. */
static pd_tensor *host_rmsnorm_modulate(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *shift,
                                        pd_tensor *scale, float eps) {
    if (pd_ctx_fused(ctx)) return pd_rmsnorm_modulate(ctx, x, w, shift, scale, eps);
    return pd_modulate(ctx, pd_rmsnorm(ctx, x, w, eps), shift, scale);
}

static pd_tensor *host_layernorm_modulate(pd_ctx *ctx, pd_tensor *x, pd_tensor *w, pd_tensor *b,
                                          pd_tensor *shift, pd_tensor *scale, float eps) {
    if (pd_ctx_fused(ctx)) return pd_layernorm_modulate(ctx, x, w, b, shift, scale, eps);
    return pd_modulate(ctx, pd_layernorm(ctx, x, w, b, eps), shift, scale);
}

static const pd_host_api g_host = {
    .struct_size = sizeof(pd_host_api),
    .abi_major = PD_PLUGIN_ABI_MAJOR,
    .abi_minor = PD_PLUGIN_ABI_MINOR,

    .log = host_log,
    .ctx_fail = pd_ctx_fail,
    .fail = pd_fail,

    .tensor_empty = pd_tensor_empty,
    .tensor_zeros = pd_tensor_zeros,
    .tensor_from = pd_tensor_from,
    .view = pd_view,
    .ctx_alloc = pd_ctx_alloc,
    .ctx_recording = pd_ctx_recording,
    .ctx_training = pd_ctx_training,
    .op_apply = pd_op_apply,

    .param_add = pd_plugin_host_param_add,

    .cfg_int = pd_plugin_cfg_int,
    .cfg_float = pd_plugin_cfg_float,
    .cfg_bool = pd_plugin_cfg_bool,
    .cfg_string = pd_plugin_cfg_string,

    .rng_normal = pd_rng_fill_normal,
    .rng_uniform = pd_rng_fill_uniform,

    .linear = pd_linear,
    .matmul = pd_matmul,
    .add = pd_add,
    .sub = pd_sub,
    .mul = pd_mul,
    .div = pd_div,
    .affine = pd_affine,
    .modulate = pd_modulate,
    .gated_residual = pd_gated_residual,
    .silu = pd_silu,
    .gelu = pd_gelu,
    .swiglu = pd_swiglu,
    .softmax = pd_softmax,
    .dropout = pd_dropout,
    .rmsnorm = pd_rmsnorm,
    .layernorm = pd_layernorm,
    .sdpa = pd_sdpa,
    .rope = pd_rope,
    .embedding = pd_embedding,
    .concat = pd_concat,
    .slice = pd_slice,
    .reshape = pd_reshape,
    .permute = pd_permute,
    .patchify = pd_patchify,
    .unpatchify = pd_unpatchify,
    .conv2d = pd_conv2d,
    .conv_transpose2x2 = pd_conv_transpose2x2,
    .maxpool2x2 = pd_maxpool2x2,
    .upsample_bilinear = pd_upsample_bilinear,
    .sum = pd_sum,
    .mean = pd_mean,
    .sum_axis = pd_sum_axis,
    .mean_axis = pd_mean_axis,
    .mse = pd_mse,

    /* ABI 1.1 */
    .attention = pd_attention_bound,
    .rope_table_init_2d = pd_rope_table_init_2d,
    .rope_table_free = pd_rope_table_free,
    .sqrt = pd_sqrt,
    .abs = pd_abs,
    .exp = pd_exp,
    .ln = pd_log,
    .tanh = pd_tanh,
    .sigmoid = pd_sigmoid,
    .clamp = pd_clamp,
    .pow = pd_pow,
    .pixel_shuffle = pd_pixel_shuffle,
    .pixel_unshuffle = pd_pixel_unshuffle,
    .upsample_nearest = pd_upsample_nearest,
    .conv2d_grouped = pd_conv2d_grouped,
    /* ABI 1.2 */
    .rmsnorm_modulate = host_rmsnorm_modulate,
    .layernorm_modulate = host_layernorm_modulate,
};

const pd_host_api *pd_host_api_get(void) { return &g_host; }
