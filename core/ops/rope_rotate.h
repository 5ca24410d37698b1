/* The RoPE pair rotation, shared by pd_rope and the fused qkv kernel so
 * both do the same arithmetic. Pairs are adjacent (2m, 2m + 1); c and s hold
 * one table row (P = d / 2 cosines and sines). */
#ifndef PD_ROPE_ROTATE_H
#define PD_ROPE_ROTATE_H

/* y[2m] = x[2m] c - x[2m+1] s;  y[2m+1] = x[2m+1] c + x[2m] s */
static inline void pd_rope_rotate(const float *restrict x, float *restrict y,
                                  const float *restrict c, const float *restrict s, int P) {
    for (int m = 0; m < P; m++) {
        float u = x[2 * m], v = x[2 * m + 1];
        y[2 * m] = u * c[m] - v * s[m];
        y[2 * m + 1] = v * c[m] + u * s[m];
    }
}

/* The inverse (the rotation is orthogonal): the backward of pd_rope_rotate. */
static inline void pd_rope_unrotate(const float *restrict dy, float *restrict dx,
                                    const float *restrict c, const float *restrict s, int P) {
    for (int m = 0; m < P; m++) {
        float u = dy[2 * m], v = dy[2 * m + 1];
        dx[2 * m] = u * c[m] + v * s[m];
        dx[2 * m + 1] = v * c[m] - u * s[m];
    }
}

#endif
