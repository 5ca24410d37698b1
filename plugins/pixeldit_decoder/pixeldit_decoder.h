/* pixeldit_decoder.h - the state shared by the files of the
 * pixeldit_decoder plugin: PixelDiT's pixel pathway (arXiv 2511.20645,
 * spec pixeldit_dip.md 1), documented in docs/pixeldit_decoder.md.
 *
 * Shapes (B batch, L = (H/p)^2 patches, P = p*p pixels per patch,
 * Dp = pixel_dim, Da = attn_dim, D = backbone width):
 *   pixel stream x      (B*L, P, Dp)   one row per pixel, patch-major,
 *                                      row-major inside the patch
 *   condition s_cond    (B*L, D)       SiLU(t_emb + token), one per patch
 *   compacted tokens    (B, L, Da)     one per patch, attended globally
 * Every per-pixel layer is one GEMM over all B*H*W pixels. */
#ifndef PIXELDIT_DECODER_H
#define PIXELDIT_DECODER_H

#include "pixeldit/plugin.h"

#define PXD_MAX_DEPTH 64

typedef enum pxd_rope {
    PXD_ROPE_PIXELDIT = 0, /* PixelDiT/PixNerd: positions linspace(0, 16, n), x/y interleaved */
    PXD_ROPE_JIT = 1       /* the backbone's JiT table: integer positions, rows then columns */
} pxd_rope;

/* The layer plan, from the model and the keys; registration, init,
 * forward and flops all read it. */
typedef struct pxd_plan {
    int C, H, p, P;   /* channels, image side, patch size, P = p*p */
    int grid, L;      /* patches per side, L = grid^2 */
    int D;            /* backbone width (s_cond) */
    int Dp, Da;       /* pixel_dim, attn_dim */
    int heads, hd;    /* attention heads and their width Da / heads */
    int hidden;       /* per-pixel MLP width int(Dp * mlp_ratio) */
    int depth;        /* PiT blocks */
    int n_mod;        /* AdaLN chunks: 6 (pre-modulation) or 4 (post) */
    bool post_mod, abs_pe;
    pxd_rope rope;
} pxd_plan;

/* One nn.Linear: w (out, in), b (out) or NULL. */
typedef struct pxd_linear {
    pd_tensor *w, *b;
} pxd_linear;

/* One PiT block (names as the official PiTBlock, under decoder.pixel_blocks.<i>.) */
typedef struct pxd_block {
    pxd_linear ada;             /* adaLN_modulation.0: D -> n_mod*P*Dp, zero init */
    pd_tensor *norm1, *norm2;   /* (Dp) RMSNorm weights */
    pxd_linear compress;        /* compress_to_attn: P*Dp -> Da */
    pxd_linear qkv;             /* attn.qkv: Da -> 3 Da, no bias */
    pd_tensor *q_norm, *k_norm; /* (hd) */
    pxd_linear proj;            /* attn.proj: Da -> Da */
    pxd_linear expand;          /* expand_from_attn: Da -> P*Dp */
    pxd_linear fc1, fc2;        /* mlp.fc1: Dp -> hidden, mlp.fc2: hidden -> Dp */
} pxd_block;

typedef struct pxd_state {
    const pd_host_api *host;
    pxd_plan plan;
    pxd_linear embed;           /* pixel_embedder.proj: C -> Dp */
    pxd_block blocks[PXD_MAX_DEPTH];
    pd_tensor *final_norm;      /* final_layer.norm.weight (Dp) */
    pxd_linear final;           /* final_layer.linear: Dp -> C, zero init */
    float *abs_pe;              /* (L, P, Dp) pixel sin-cos PE in stream order; NULL if off */
    pd_rope_table rope;         /* (L, hd/2) on the patch grid */
} pxd_state;

/* pixeldit_tables.c: the fixed tables, owned by the state (malloc/free,
 * or the host's rope_table_init_2d/free for PXD_ROPE_JIT). */
pd_status pxd_tables_make(pxd_state *s);
void pxd_tables_free(pxd_state *s);

/* pixeldit_params.c: registers every parameter under "decoder." in the
 * order of the PyTorch reference; PD_ERR_PLUGIN when the host refused one
 * (message set). Init: PyTorch defaults, RMSNorm weights 1, every adaLN
 * projection and the final linear zero. */
pd_status pxd_params_register(pxd_state *s, pd_params *params);
void pxd_params_init(pxd_state *s, pd_rng *rng);
/* Trainable parameter count and forward FLOPs per image, from the plan. */
double pxd_param_count(const pxd_plan *pl);
double pxd_flops(const pxd_plan *pl);

/* pixeldit_forward.c: x_pred (B, C, H, W), or NULL with the error in ctx. */
pd_tensor *pxd_forward(const pxd_state *s, pd_ctx *ctx, const pd_decoder_inputs *in);

#endif
