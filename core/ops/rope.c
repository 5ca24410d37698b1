/* 2D rotary position embedding: JiT's VisionRotaryEmbeddingFast table and
 * the pairwise rotation op (backward = the inverse rotation). */
#include <math.h>
#include <stdlib.h>

#include "op_util.h"
#include "tape.h"
#include "rope_rotate.h"

/* ---- table ---------------------------------------------------------------- */

/* Matches torch's float32 construction step by step (checked bit for bit
 * against torch 1.13 for head dims 16..128, grids 13 and 16):
 *   freqs = 1 / theta ** (arange(0, R, 2)[:R/2].float() / R)   (float32)
 *   t     = arange(G) / G * G          (float32; differs from i by 1 ulp for
 *                                       some G such as 13, so it is redone)
 *   angle = t * freqs                  (float32)
 * The frequencies are bit-identical to torch. cos / sin here are libm's
 * (correctly rounded in practice) while torch's CPU kernels use SLEEF
 * 1-ulp vector versions, so about 10% of table entries differ by 1 ulp
 * (<= 6e-8 absolute). */
static float torch_position(int i, int G) { return ((float)i / (float)G) * (float)G; }

pd_status pd_rope_table_init_2d(pd_rope_table *tab, int grid_h, int grid_w, int dim, int n_prefix,
                                float theta) {
    if (!tab) return pd_fail(PD_ERR_ARG, "rope_table_init_2d: table is NULL");
    *tab = (pd_rope_table){0};
    if (grid_h < 1 || grid_w < 1 || n_prefix < 0 || dim < 4 || dim % 4 || !(theta > 0.0f))
        return pd_fail(PD_ERR_ARG,
                       "rope_table_init_2d: grid %dx%d, dim %d, n_prefix %d, theta %g: expected "
                       "grid >= 1, dim a positive multiple of 4, n_prefix >= 0, theta > 0",
                       grid_h, grid_w, dim, n_prefix, (double)theta);
    int R = dim / 2, nf = R / 2, pairs = dim / 2;
    size_t n_pos = (size_t)n_prefix + (size_t)grid_h * grid_w;
    if (n_pos > (size_t)1 << 30)
        return pd_fail(PD_ERR_ARG, "rope_table_init_2d: %zu positions is too many", n_pos);
    float *cs = malloc(n_pos * pairs * sizeof(float));
    float *sn = malloc(n_pos * pairs * sizeof(float));
    float *freq = malloc((size_t)nf * sizeof(float));
    if (!cs || !sn || !freq) {
        free(cs), free(sn), free(freq);
        return pd_fail(PD_ERR_NOMEM, "rope_table_init_2d: out of memory (%zu x %d)", n_pos, pairs);
    }
    for (int m = 0; m < nf; m++) freq[m] = 1.0f / powf(theta, (float)(2 * m) / (float)R);
    /* Prefix (in-context) rows: identity rotation. */
    for (size_t k = 0; k < (size_t)n_prefix * pairs; k++) cs[k] = 1.0f, sn[k] = 0.0f;
    for (int i = 0; i < grid_h; i++)
        for (int j = 0; j < grid_w; j++) {
            size_t row = (size_t)n_prefix + (size_t)i * grid_w + j;
            float pi = torch_position(i, grid_h), pj = torch_position(j, grid_w);
            for (int q = 0; q < pairs; q++) {
                /* Pairs [0, R/2) are dims [0, R): row index; the rest: column. */
                float a = q < nf ? pi * freq[q] : pj * freq[q - nf];
                cs[row * pairs + q] = cosf(a);
                sn[row * pairs + q] = sinf(a);
            }
        }
    free(freq);
    tab->n_pos = (int)n_pos;
    tab->dim = dim;
    tab->cos = cs;
    tab->sin = sn;
    return PD_OK;
}

void pd_rope_table_free(pd_rope_table *tab) {
    if (!tab) return;
    free(tab->cos);
    free(tab->sin);
    *tab = (pd_rope_table){0};
}

/* ---- rotation op ------------------------------------------------------------ */
/* x, y (B, H, N, d); table rows 0..N-1, (N, d/2) cos and sin. The table is
 * borrowed: it must outlive the step's backward. */

typedef struct {
    int n, pairs;
    const float *cos, *sin;  /* (n_pos, pairs) */
} rope_attr;

static pd_status rope_fwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const rope_attr *at = attr;
    int P = at->pairs, N = at->n;
    size_t rows = y->numel / (size_t)(2 * P);
    const float *x = in[0]->data;
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        size_t pos = r % (size_t)N;
        pd_rope_rotate(x + r * 2 * (size_t)P, y->data + r * 2 * (size_t)P, at->cos + pos * P,
                       at->sin + pos * P, P);
    }
    return PD_OK;
}

/* The rotation is orthogonal, so dx is dy rotated by -angle. */
static pd_status rope_bwd(pd_ctx *ctx, pd_tensor *y, pd_tensor *const *in, int n_in, void *attr) {
    (void)ctx, (void)n_in;
    const rope_attr *at = attr;
    int P = at->pairs, N = at->n;
    size_t rows = y->numel / (size_t)(2 * P);
    float *dx = in[0]->grad;
    bool unset = pd_grad_unset(in[0]);
#pragma omp parallel for if (y->numel > PD_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        size_t pos = r % (size_t)N;
        const float *c = at->cos + pos * P, *s = at->sin + pos * P;
        const float *dr = y->grad + r * 2 * (size_t)P;
        float *restrict gr = dx + r * 2 * (size_t)P;
        if (unset) {
            pd_rope_unrotate(dr, gr, c, s, P);
            continue;
        }
        float tmp[2 * P];
        pd_rope_unrotate(dr, tmp, c, s, P);
        for (int i = 0; i < 2 * P; i++) gr[i] += tmp[i];
    }
    return PD_OK;
}

static const pd_op_def rope_op = {"rope", rope_fwd, rope_bwd};

pd_tensor *pd_rope(pd_ctx *ctx, pd_tensor *x, const pd_rope_table *tab) {
    PD_OP_GUARD(ctx, x, tab);
    if (!tab->cos || !tab->sin) {
        pd_ctx_fail(ctx, PD_ERR_ARG, "rope: table for x %s is not initialised", SHP(x));
        return NULL;
    }
    if (x->ndim != 4 || x->shape[3] != tab->dim || x->shape[2] > tab->n_pos || x->shape[2] < 1) {
        pd_ctx_fail(ctx, PD_ERR_SHAPE,
                    "rope: x %s vs table (%d positions, dim %d): expected (B, H, N, %d) with "
                    "1 <= N <= %d",
                    SHP(x), tab->n_pos, tab->dim, tab->dim, tab->n_pos);
        return NULL;
    }
    rope_attr at = {x->shape[2], tab->dim / 2, tab->cos, tab->sin};
    return pd_op_apply_flags(ctx, &rope_op, PD_OPF_GRAD_OVERWRITE, &x, 1, x->shape, 4, &at,
                             sizeof at);
}
