/* JiT's fixed tables: 2D sin-cos position embedding and timestep features. */
#include <math.h>

#include "pixeldit/jit.h"

/* MAE/DiT get_2d_sincos_pos_embed: for token (row i, col j) and
 * omega_k = 1 / 10000^(k / (D/4)): dims [0, D/4) sin(j w), [D/4, D/2)
 * cos(j w), [D/2, 3D/4) sin(i w), [3D/4, D) cos(i w). Computed in double
 * and cast, as numpy does before torch copies it. */
void pd_jit_sincos_pos_embed(float *out, int grid, int dim) {
    int q = dim / 4;
    for (int i = 0; i < grid; i++)
        for (int j = 0; j < grid; j++) {
            float *row = out + ((size_t)i * grid + j) * dim;
            for (int k = 0; k < q; k++) {
                double omega = 1.0 / pow(10000.0, (double)k / (double)q);
                row[k] = (float)sin(j * omega);
                row[q + k] = (float)cos(j * omega);
                row[2 * q + k] = (float)sin(i * omega);
                row[3 * q + k] = (float)cos(i * omega);
            }
        }
}

/* TimestepEmbedder.timestep_embedding(t, 256) with max_period 10000:
 * freqs = exp(-ln(10000) * arange(128) / 128) in float32, args = t * freqs,
 * [cos(args), sin(args)]. */
void pd_jit_timestep_features(float *out, const float *t, int B) {
    const int half = 128;
    const float neg_log = (float)(-log(10000.0));
    for (int b = 0; b < B; b++)
        for (int k = 0; k < half; k++) {
            float freq = expf(neg_log * (float)k / (float)half);
            float arg = t[b] * freq;
            out[(size_t)b * 2 * half + k] = cosf(arg);
            out[(size_t)b * 2 * half + half + k] = sinf(arg);
        }
}
