/* NerfEmbedder's DCT-like position features (spec deco.md 2.1). DeCo
 * computes them for its 16 x 16 patch with positions linspace(0, 1, 16) and
 * frequencies linspace(0, 8, 8) = {0, 8/7, ..., 8}; the official
 * fetch_pos(patch_size) already takes the patch size as an argument, so for
 * any p the positions are linspace(0, 1, p) and the frequencies stay
 * linspace(0, F, F).
 *
 * DeCo computes the table in fp32 (the input dtype), and at F = 8 the
 * cosine's argument reaches 8 pi, where its fp32 rounding moves a feature
 * by up to ~2e-6. The arithmetic below is torch's, operation for operation
 * in float (linspace from both ends, (pos * f) * pi, cos, the products), so
 * the table equals the one the official weights were trained with. */
#include <math.h>

#include "deco_decoder.h"

/* torch.linspace(lo, hi, n)[k] in float: the first half counted up from lo,
 * the second down from hi (ATen's RangeFactories kernel); one point is lo. */
static float linspace_at(float lo, float hi, int n, int k) {
    if (n == 1) return lo;
    float step = (hi - lo) / (float)(n - 1);
    return k < n / 2 ? lo + step * (float)k : hi - step * (float)(n - 1 - k);
}

void deco_dct_table(float *out, int p, int F) {
    const float pi = 3.14159265358979323846f;
    for (int i = 0; i < p; i++)          /* pixel row: y position */
        for (int j = 0; j < p; j++) {    /* pixel column: x position */
            float x = linspace_at(0.0f, 1.0f, p, j), y = linspace_at(0.0f, 1.0f, p, i);
            float *row = out + (size_t)(i * p + j) * F * F;
            for (int a = 0; a < F; a++)      /* x frequency, the outer index */
                for (int b = 0; b < F; b++) {
                    float fa = linspace_at(0.0f, (float)F, F, a), fb = linspace_at(0.0f, (float)F, F, b);
                    float coeff = 1.0f / (1.0f + fa * fb);
                    row[a * F + b] = cosf(x * fa * pi) * cosf(y * fb * pi) * coeff;
                }
        }
}
