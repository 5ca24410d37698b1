/* The patch-grid score: how much of the samples' power sits on the
 * frequencies of a p-periodic pattern (multiples of W/p and H/p) compared
 * with the frequencies next to them. Formula: docs/eval.md. */
#include <math.h>
#include <stdlib.h>

#include "pixeldit/eval.h"

/* |DFT2(x)|^2 of one (H, W) plane added into P (H, W); cs/sn are the cos /
 * sin tables of W and H points; row (H, W) complex scratch in re/im. */
static void add_power(const float *x, int H, int W, const double *cw, const double *sw,
                      const double *ch, const double *sh, double *re, double *im, double *P) {
    /* rows: R(y, u) = sum_x x(y, x) e^{-2 pi i u x / W} */
    for (int y = 0; y < H; y++)
        for (int u = 0; u < W; u++) {
            double a = 0, b = 0;
            for (int k = 0; k < W; k++) {
                int t = (u * k) % W;
                a += x[y * W + k] * cw[t];
                b -= x[y * W + k] * sw[t];
            }
            re[y * W + u] = a;
            im[y * W + u] = b;
        }
    /* columns: F(v, u) = sum_y R(y, u) e^{-2 pi i v y / H} */
    for (int v = 0; v < H; v++)
        for (int u = 0; u < W; u++) {
            double a = 0, b = 0;
            for (int y = 0; y < H; y++) {
                int t = (v * y) % H;
                double c = ch[t], s = sh[t];
                a += re[y * W + u] * c + im[y * W + u] * s;
                b += im[y * W + u] * c - re[y * W + u] * s;
            }
            P[v * W + u] += a * a + b * b;
        }
}

pd_status pd_patch_grid_score(const float *imgs, int n, int C, int H, int W, int p, double *out) {
    if (n < 1 || C < 1 || p < 2 || H % p || W % p || H / p < 2 || W / p < 2)
        return pd_fail(PD_ERR_ARG, "patch-grid score: needs images whose sides (%dx%d) are multiples of "
                       "the patch size %d with at least 2 frequencies between harmonics", H, W, p);
    size_t hw = (size_t)H * W;
    double *P = calloc(hw, sizeof(double)), *re = malloc(hw * sizeof(double)), *im = malloc(hw * sizeof(double));
    double *cw = malloc((size_t)W * sizeof(double)), *sw = malloc((size_t)W * sizeof(double));
    double *ch = malloc((size_t)H * sizeof(double)), *sh = malloc((size_t)H * sizeof(double));
    pd_status st = PD_OK;
    if (!P || !re || !im || !cw || !sw || !ch || !sh) {
        st = pd_fail(PD_ERR_NOMEM, "patch-grid score: out of memory");
        goto done;
    }
    for (int k = 0; k < W; k++) cw[k] = cos(2 * M_PI * k / W), sw[k] = sin(2 * M_PI * k / W);
    for (int k = 0; k < H; k++) ch[k] = cos(2 * M_PI * k / H), sh[k] = sin(2 * M_PI * k / H);
    for (long i = 0; i < (long)n * C; i++) add_power(imgs + (size_t)i * hw, H, W, cw, sw, ch, sh, re, im, P);
    double grid = 0, near = 0;
    for (int j = 1; j < p; j++) {
        int u = j * W / p, v = j * H / p;
        for (int y = 0; y < H; y++) {
            grid += P[y * W + u];
            near += 0.5 * (P[y * W + u - 1] + P[y * W + u + 1]);
        }
        for (int x = 0; x < W; x++) {
            grid += P[v * W + x];
            near += 0.5 * (P[(v - 1) * W + x] + P[(v + 1) * W + x]);
        }
    }
    /* blank images (an untrained model's samples) have no pattern at all: 1 */
    if (near > 0) *out = grid / near;
    else *out = grid > 0 ? 1e9 : 1.0;
done:
    free(P), free(re), free(im), free(cw), free(sw), free(ch), free(sh);
    return st;
}
