/* freq_loss internals: DeCo's frequency-aware flow-matching loss
 * (arXiv 2511.19365; /work/shared/specs/deco.md section 3).
 *
 *   L = mean over (B, C', Hp/8, Wp/8, 8, 8) of w[c'][u][v] * F(d)^2
 *
 * with d = v_pred - v (B, C, H, W), F = orthonormal 8x8 DCT-II per block of
 * the YCbCr image (C = 3; a single plane C = 1 is luma), reflect-padded on
 * the right/bottom to Hp, Wp (multiples of 8), and w the mean-normalised
 * inverse JPEG quantisation tables. Two implementations of the same sum:
 * a fused custom op (the default) and a composition of host ops (the
 * reference the tests hold it against). */
#ifndef FREQ_LOSS_H
#define FREQ_LOSS_H

#include <stdbool.h>

#include "pixeldit/plugin.h"

#define FREQ_BLOCK 8
#define FREQ_BLOCK_AREA 64

/* ---- tables (freq_tables.c; no host calls, also compiled into the test) -- */

/* JPEG Annex K base tables, [u = vertical freq][v = horizontal freq]. */
extern const int freq_jpeg_luma[FREQ_BLOCK_AREA];
extern const int freq_jpeg_chroma[FREQ_BLOCK_AREA];
/* RGB -> YCbCr rows (Y, Cb, Cr), no offset: the loss differences cancel it. */
extern const double freq_ycbcr[3][3];

/* IJG quality scaling: scale = 5000/q (q < 50) or 200 - 2q, Q = clamp(
 * floor((base*scale + 50)/100), 1, 255), in exact integer arithmetic (equal
 * to DeCo's float32 torch code for every q in 1..100). q clamped to 1..100. */
void freq_quant_table(const int base[FREQ_BLOCK_AREA], int quality, double Q[FREQ_BLOCK_AREA]);
/* mode inv_gamma: w = (mean(Q)/Q)^gamma / mean((mean(Q)/Q)^gamma). */
void freq_weights(const double Q[FREQ_BLOCK_AREA], double gamma, double w[FREQ_BLOCK_AREA]);
/* Orthonormal DCT-II matrix C[k][n] = a_k cos(pi (2n+1) k / 16). */
void freq_dct_matrix(double C[FREQ_BLOCK_AREA]);

/* Side n padded up to a multiple of 8; whether reflect padding can do it
 * (torch's reflect needs pad < n, so sides 1..4 cannot); and the source
 * index of padded index i (i < n: itself; else mirrored about n - 1). */
int freq_padded(int n);
bool freq_side_ok(int n);
static inline int freq_reflect(int i, int n) { return i < n ? i : 2 * (n - 1) - i; }

/* ---- the plugin's state ------------------------------------------------- */

typedef struct freq_loss {
    const pd_host_api *host;
    int quality;
    double gamma;
    bool composed;                /* impl = composed: the reference path */
    float dct[FREQ_BLOCK_AREA];   /* C[k][n] */
    float w[3][FREQ_BLOCK_AREA];  /* weight per transformed channel: Y, Cb, Cr */
    float ycbcr[3][3];
} freq_loss;

/* Both return the scalar loss of v_pred, v (B, C, H, W), C in {1, 3},
 * H, W >= 5 or multiples of 8 (checked by the caller). */
pd_tensor *freq_loss_fused(const freq_loss *s, pd_ctx *ctx, pd_tensor *v_pred, pd_tensor *v);
pd_tensor *freq_loss_composed(const freq_loss *s, pd_ctx *ctx, pd_tensor *v_pred, pd_tensor *v);

#endif
