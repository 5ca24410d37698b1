/* A loss plugin exactly as it was built against plugin ABI 1.0, kept to
 * prove that a newer host still loads and runs it. It includes no pixeldit
 * header: the 1.0 structs it needs are written out here as 1.0 defined
 * them (never change this file; a 1.x host must accept it as it is). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef int pd_status;
typedef struct pd_tensor pd_tensor; /* opaque here: data/ndim/shape/numel frozen, not used */
typedef struct pd_ctx pd_ctx;
typedef void (*any_fn)(void);

/* pd_host_api 1.0: members in 1.0 order; only mse is called */
typedef struct host_api_1_0 {
    size_t struct_size;
    uint32_t abi_major, abi_minor;
    any_fn log, ctx_fail, fail;
    any_fn tensor_empty, tensor_zeros, tensor_from, view, ctx_alloc, ctx_recording, ctx_training,
        op_apply;
    any_fn param_add;
    any_fn cfg_int, cfg_float, cfg_bool, cfg_string;
    any_fn rng_normal, rng_uniform;
    any_fn linear, matmul, add, sub, mul, div, affine, modulate, gated_residual, silu, gelu,
        swiglu, softmax, dropout, rmsnorm, layernorm, sdpa, rope, embedding, concat, slice,
        reshape, permute, patchify, unpatchify, conv2d, conv_transpose2x2, maxpool2x2,
        upsample_bilinear, sum, mean, sum_axis, mean_axis;
    pd_tensor *(*mse)(pd_ctx *, pd_tensor *a, pd_tensor *b);
} host_api_1_0;

typedef struct loss_inputs_1_0 {
    size_t struct_size;
    pd_tensor *x_pred, *x, *z, *t, *v, *v_pred;
    const int *labels;
    int batch;
} loss_inputs_1_0;

typedef struct loss_vtable_1_0 {
    size_t struct_size;
    pd_status (*create)(const host_api_1_0 *host, const void *info, const void *cfg, void **state);
    pd_tensor *(*forward)(void *state, pd_ctx *ctx, const loss_inputs_1_0 *in, void *parts);
    void (*destroy)(void *state);
} loss_vtable_1_0;

typedef struct desc_1_0 {
    uint32_t abi_major, abi_minor;
    size_t struct_size;
    int kind; /* 2 = loss */
    const char *name, *version, *description;
    const void *keys;
    int n_keys;
    const void *vtable;
} desc_1_0;

static pd_status create(const host_api_1_0 *host, const void *info, const void *cfg, void **state) {
    (void)info, (void)cfg;
    if (host->struct_size < sizeof *host) return 8;
    *state = (void *)host;
    return 0;
}

/* mean squared velocity error, like v_loss */
static pd_tensor *forward(void *state, pd_ctx *ctx, const loss_inputs_1_0 *in, void *parts) {
    (void)parts;
    const host_api_1_0 *host = state;
    return host->mse(ctx, in->v_pred, in->v);
}

static void destroy(void *state) { (void)state; }

static const loss_vtable_1_0 vtable = {
    .struct_size = sizeof(loss_vtable_1_0), .create = create, .forward = forward, .destroy = destroy,
};

static const desc_1_0 desc = {
    .abi_major = 1, .abi_minor = 0, .struct_size = sizeof(desc_1_0), .kind = 2,
    .name = "abi10_loss", .version = "1.0.0", .description = "a loss built against plugin ABI 1.0",
    .keys = NULL, .n_keys = 0, .vtable = &vtable,
};

__attribute__((visibility("default"))) const desc_1_0 *pixeldit_plugin_entry(void) { return &desc; }
