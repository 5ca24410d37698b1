/* The fixed tables of the pixel pathway (spec pixeldit_dip.md 1.3,
 * "Position encodings"):
 *   - the pixel abs-PE: MAE's get_2d_sincos_pos_embed over the integer
 *     pixel coordinates 0..H-1 of the whole image, width Dp: channels
 *     [0, Dp/2) encode the column x, [Dp/2, Dp) the row y, each half
 *     [sin | cos] with omega_k = 10000^(-k / (Dp/4)), computed in double
 *     (numpy) and rounded to float; stored in stream order (L, P, Dp);
 *   - the 2D RoPE on the patch grid, PixelDiT's precompute_freqs_cis_2d
 *     (head width hd, theta 1e4, scale 16): positions linspace(0, 16, grid)
 *     on both axes, hd/4 frequencies theta^(-4k/hd), and rotation pair 2k
 *     turns by x * freq_k, pair 2k+1 by y * freq_k (x/y interleaved); or
 *     with rope = jit the backbone's table from the host. */
#include <math.h>
#include <stdlib.h>

#include "pixeldit_decoder.h"

static pd_status make_abs_pe(pxd_state *s) {
    const pxd_plan *pl = &s->plan;
    int H = pl->H, p = pl->p, Dp = pl->Dp, quarter = Dp / 4;
    float *pe = malloc((size_t)H * H * Dp * sizeof(float));
    if (!pe) return s->host->fail(PD_ERR_NOMEM, "pixeldit_decoder: out of memory (abs-PE)");
    for (int y = 0; y < H; y++)
        for (int x = 0; x < H; x++) {
            /* stream row: patch (y/p, x/p), slot (y%p)*p + x%p */
            size_t patch = (size_t)(y / p) * pl->grid + x / p, slot = (size_t)(y % p) * p + x % p;
            float *e = pe + (patch * pl->P + slot) * Dp;
            for (int k = 0; k < quarter; k++) {
                double omega = 1.0 / pow(10000.0, (double)k / quarter);
                e[k] = (float)sin(x * omega), e[quarter + k] = (float)cos(x * omega);
                e[2 * quarter + k] = (float)sin(y * omega), e[3 * quarter + k] = (float)cos(y * omega);
            }
        }
    s->abs_pe = pe;
    return PD_OK;
}

/* torch.linspace(0, 16, n) in float32: the first half counts up from 0, the
 * second half down from 16, with step 16 / (n - 1). */
static float linspace16(int i, int n) {
    if (n == 1) return 0.0f;
    float step = 16.0f / (float)(n - 1);
    return i < n / 2 ? (float)i * step : 16.0f - (float)(n - 1 - i) * step;
}

static pd_status make_rope_pixeldit(pxd_state *s) {
    const pxd_plan *pl = &s->plan;
    int G = pl->grid, hd = pl->hd, pairs = hd / 2, nf = hd / 4;
    float *cs = malloc((size_t)pl->L * pairs * sizeof(float));
    float *sn = malloc((size_t)pl->L * pairs * sizeof(float));
    if (!cs || !sn) {
        free(cs), free(sn);
        return s->host->fail(PD_ERR_NOMEM, "pixeldit_decoder: out of memory (RoPE table)");
    }
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            size_t row = (size_t)i * G + j;
            float py = linspace16(i, G), px = linspace16(j, G);
            for (int k = 0; k < nf; k++) {
                float freq = 1.0f / powf(10000.0f, (float)(4 * k) / (float)hd);
                float ax = px * freq, ay = py * freq;
                cs[row * pairs + 2 * k] = cosf(ax), sn[row * pairs + 2 * k] = sinf(ax);
                cs[row * pairs + 2 * k + 1] = cosf(ay), sn[row * pairs + 2 * k + 1] = sinf(ay);
            }
        }
    s->rope = (pd_rope_table){.n_pos = pl->L, .dim = hd, .cos = cs, .sin = sn};
    return PD_OK;
}

pd_status pxd_tables_make(pxd_state *s) {
    const pxd_plan *pl = &s->plan;
    pd_status st = pl->abs_pe ? make_abs_pe(s) : PD_OK;
    if (st) return st;
    if (pl->rope == PXD_ROPE_JIT)
        return s->host->rope_table_init_2d(&s->rope, pl->grid, pl->grid, pl->hd, 0, 10000.0f);
    return make_rope_pixeldit(s);
}

void pxd_tables_free(pxd_state *s) {
    free(s->abs_pe);
    s->abs_pe = NULL;
    if (s->plan.rope == PXD_ROPE_JIT) {
        s->host->rope_table_free(&s->rope);
    } else {
        free(s->rope.cos), free(s->rope.sin);
        s->rope = (pd_rope_table){0};
    }
}
