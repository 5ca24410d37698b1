/* freq_loss tables: JPEG quantisation tables and their loss weights, the
 * DCT matrix, the YCbCr matrix and the reflect-padding rule. Plain C, no
 * host calls (the unit test compiles this file too, to check the tables). */
#include <math.h>

#include "freq_loss.h"

/* ITU-T T.81 Annex K.1, row-major [u][v]. */
const int freq_jpeg_luma[FREQ_BLOCK_AREA] = {
    16, 11, 10, 16, 24,  40,  51,  61,
    12, 12, 14, 19, 26,  58,  60,  55,
    14, 13, 16, 24, 40,  57,  69,  56,
    14, 17, 22, 29, 51,  87,  80,  62,
    18, 22, 37, 56, 68,  109, 103, 77,
    24, 35, 55, 64, 81,  104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
};
const int freq_jpeg_chroma[FREQ_BLOCK_AREA] = {
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
};

/* DeCo's _rgb2ycbcr (JFIF coefficients), rows Y, Cb, Cr over (R, G, B). */
const double freq_ycbcr[3][3] = {
    {0.299, 0.587, 0.114},
    {-0.168736, -0.331264, 0.5},
    {0.5, -0.418688, -0.081312},
};

void freq_quant_table(const int base[FREQ_BLOCK_AREA], int quality, double Q[FREQ_BLOCK_AREA]) {
    long q = quality < 1 ? 1 : quality > 100 ? 100 : quality;
    for (int i = 0; i < FREQ_BLOCK_AREA; i++) {
        /* floor((b*5000/q + 50)/100) = floor((b*5000 + 50q) / (100q)) without
         * rounding; q >= 50 has the integer scale 200 - 2q. */
        long v = q < 50 ? (base[i] * 5000L + 50 * q) / (100 * q)
                        : (base[i] * (200 - 2 * q) + 50) / 100;
        Q[i] = (double)(v < 1 ? 1 : v > 255 ? 255 : v);
    }
}

void freq_weights(const double Q[FREQ_BLOCK_AREA], double gamma, double w[FREQ_BLOCK_AREA]) {
    double mean_q = 0, mean_w = 0;
    for (int i = 0; i < FREQ_BLOCK_AREA; i++) mean_q += Q[i];
    mean_q /= FREQ_BLOCK_AREA;
    for (int i = 0; i < FREQ_BLOCK_AREA; i++) mean_w += w[i] = pow(mean_q / Q[i], gamma);
    mean_w /= FREQ_BLOCK_AREA;
    for (int i = 0; i < FREQ_BLOCK_AREA; i++) w[i] /= mean_w;
}

void freq_dct_matrix(double C[FREQ_BLOCK_AREA]) {
    const double pi = 3.14159265358979323846;
    for (int k = 0; k < FREQ_BLOCK; k++)
        for (int n = 0; n < FREQ_BLOCK; n++)
            C[k * FREQ_BLOCK + n] = sqrt((k ? 2.0 : 1.0) / FREQ_BLOCK) *
                                    cos(pi * (2 * n + 1) * k / (2.0 * FREQ_BLOCK));
}

int freq_padded(int n) { return (n + FREQ_BLOCK - 1) / FREQ_BLOCK * FREQ_BLOCK; }

/* F.pad(mode='reflect') mirrors without repeating the edge, so it can add
 * at most n - 1 entries: every n >= 5 works (pad <= 3 below 8, <= 7 above). */
bool freq_side_ok(int n) { return n >= 1 && freq_padded(n) - n < n; }
