/* Image resizing with PIL's (Pillow 9) Image.resize semantics for 8-bit
 * images, and ADM's center_crop_arr built on it.
 *
 * Separable: a horizontal pass then a vertical pass, each skipped when that
 * side keeps its size. Output pixel i samples around the input position
 * center = (i + 0.5) * scale, scale = in / out. When shrinking, the filter is
 * stretched by scale (support * scale, argument / scale), which is what
 * makes PIL's downsampling antialiased. Weights are normalized to sum 1,
 * turned into 22-bit fixed point, and each pass rounds and clips back to
 * uint8, as PIL does, so results should match PIL bit for bit in the normal
 * case. Known difference: PIL's reducing_gap and box arguments are not
 * offered (ADM uses neither).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/data.h"

#define FIXED_BITS 22 /* 32 - 8 bits of pixel - 2 bits of headroom */

void pd_image_free(pd_image *img) {
    if (!img) return;
    free(img->data);
    img->data = NULL;
    img->w = img->h = img->c = 0;
}

typedef struct filter_def {
    double (*fn)(double x);
    double support; /* half-width at scale 1 */
} filter_def;

static double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

static double triangle_filter(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys cubic with a = -0.5 (PIL's choice; many libraries use -0.75). */
static double bicubic_filter(double x) {
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static const filter_def filters[] = {
    [PD_RESAMPLE_BOX] = {box_filter, 0.5},
    [PD_RESAMPLE_BILINEAR] = {triangle_filter, 1.0},
    [PD_RESAMPLE_BICUBIC] = {bicubic_filter, 2.0},
};

/* Taps of one resampling pass: output i reads input first[i] ..
 * first[i] + count[i] - 1 with fixed-point weights w[i * ksize + k]. */
typedef struct taps {
    int ksize;
    int *first, *count; /* (out) */
    int32_t *w;         /* (out, ksize) */
} taps;

static void taps_free(taps *t) {
    free(t->first);
    free(t->count);
    free(t->w);
}

static int taps_build(taps *t, int in, int out, const filter_def *f) {
    double scale = (double)in / out;
    double stretch = scale < 1.0 ? 1.0 : scale;
    double support = f->support * stretch;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->first = malloc(sizeof(int) * (size_t)out);
    t->count = malloc(sizeof(int) * (size_t)out);
    t->w = malloc(sizeof(int32_t) * (size_t)out * (size_t)t->ksize);
    double *k = malloc(sizeof(double) * (size_t)t->ksize);
    if (!t->first || !t->count || !t->w || !k) {
        free(k);
        return -1;
    }
    for (int i = 0; i < out; i++) {
        double center = (i + 0.5) * scale;
        /* (int) truncates like PIL; negatives clamp to 0 anyway. */
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        double sum = 0.0;
        for (int j = 0; j < hi - lo; j++) {
            k[j] = f->fn((j + lo - center + 0.5) / stretch);
            sum += k[j];
        }
        int32_t *wi = t->w + (size_t)i * t->ksize;
        for (int j = 0; j < t->ksize; j++) {
            double v = (j < hi - lo && sum != 0.0) ? k[j] / sum : 0.0;
            wi[j] = (int32_t)(v < 0 ? v * (1 << FIXED_BITS) - 0.5 : v * (1 << FIXED_BITS) + 0.5);
        }
        t->first[i] = lo;
        t->count[i] = hi - lo;
    }
    free(k);
    return 0;
}

/* Rounds a fixed-point sum (that already holds the +0.5) to uint8. */
static inline uint8_t clip8(int32_t acc) {
    if (acc <= 0) return 0;
    if (acc >= (255 << FIXED_BITS)) return 255;
    return (uint8_t)(acc >> FIXED_BITS);
}

/* src (h, w_in, c) -> dst (h, w_out, c) */
static void pass_horizontal(const uint8_t *src, uint8_t *dst, int h, int w_in, int w_out,
                            int c, const taps *t) {
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * w_in * c;
        uint8_t *orow = dst + (size_t)y * w_out * c;
        for (int x = 0; x < w_out; x++) {
            const int32_t *wx = t->w + (size_t)x * t->ksize;
            for (int ch = 0; ch < c; ch++) {
                int32_t acc = 1 << (FIXED_BITS - 1);
                for (int k = 0; k < t->count[x]; k++)
                    acc += row[(size_t)(t->first[x] + k) * c + ch] * wx[k];
                orow[(size_t)x * c + ch] = clip8(acc);
            }
        }
    }
}

/* src (h_in, w, c) -> dst (h_out, w, c) */
static void pass_vertical(const uint8_t *src, uint8_t *dst, int h_in, int h_out, int w,
                          int c, const taps *t) {
    (void)h_in;
    size_t stride = (size_t)w * c;
    for (int y = 0; y < h_out; y++) {
        const int32_t *wy = t->w + (size_t)y * t->ksize;
        uint8_t *orow = dst + (size_t)y * stride;
        for (size_t i = 0; i < stride; i++) {
            int32_t acc = 1 << (FIXED_BITS - 1);
            for (int k = 0; k < t->count[y]; k++)
                acc += src[(size_t)(t->first[y] + k) * stride + i] * wy[k];
            orow[i] = clip8(acc);
        }
    }
}

pd_status pd_image_resize(const pd_image *src, int w, int h, pd_resample filter,
                          pd_image *out) {
    if (!src || !src->data || !out) return pd_fail(PD_ERR_ARG, "image_resize: NULL argument");
    if (w <= 0 || h <= 0 || filter < PD_RESAMPLE_BOX || filter > PD_RESAMPLE_BICUBIC)
        return pd_fail(PD_ERR_ARG, "image_resize: bad target %dx%d or filter %d", w, h,
                       (int)filter);
    const filter_def *f = &filters[filter];
    int c = src->c;
    uint8_t *mid = NULL, *dst = malloc((size_t)w * h * c);
    taps tx = {0}, ty = {0};
    pd_status st = PD_OK;
    if (!dst) goto nomem;
    const uint8_t *cur = src->data; /* (h_cur, w_cur, c) */
    int w_cur = src->w;
    if (w != src->w) {
        if (taps_build(&tx, src->w, w, f) != 0) goto nomem;
        uint8_t *to = (h != src->h) ? (mid = malloc((size_t)w * src->h * c)) : dst;
        if (!to) goto nomem;
        pass_horizontal(cur, to, src->h, src->w, w, c, &tx);
        cur = to;
        w_cur = w;
    }
    if (h != src->h) {
        if (taps_build(&ty, src->h, h, f) != 0) goto nomem;
        pass_vertical(cur, dst, src->h, h, w_cur, c, &ty);
    } else if (cur == src->data) {
        memcpy(dst, src->data, (size_t)w * h * c);
    }
    out->w = w;
    out->h = h;
    out->c = c;
    out->data = dst;
    dst = NULL;
    goto done;
nomem:
    st = pd_fail(PD_ERR_NOMEM, "image_resize: cannot allocate %dx%d -> %dx%d (c=%d)", src->w,
                 src->h, w, h, c);
done:
    free(dst);
    free(mid);
    taps_free(&tx);
    taps_free(&ty);
    return st;
}

pd_status pd_image_center_crop(const pd_image *src, int size, pd_image *out) {
    if (!src || !src->data || !out) return pd_fail(PD_ERR_ARG, "center_crop: NULL argument");
    if (size <= 0) return pd_fail(PD_ERR_ARG, "center_crop: size must be > 0, got %d", size);
    pd_image cur = {0};
    const pd_image *in = src;
    pd_status st;
    /* BOX halving is cheap and, like ADM, keeps the bicubic step short. */
    while ((in->w < in->h ? in->w : in->h) >= 2 * size) {
        pd_image half;
        st = pd_image_resize(in, in->w / 2, in->h / 2, PD_RESAMPLE_BOX, &half);
        pd_image_free(&cur);
        if (st != PD_OK) return st;
        cur = half;
        in = &cur;
    }
    double scale = (double)size / (in->w < in->h ? in->w : in->h);
    /* nearbyint rounds half to even, as Python's round() does. */
    int rw = (int)nearbyint(in->w * scale), rh = (int)nearbyint(in->h * scale);
    pd_image scaled;
    st = pd_image_resize(in, rw, rh, PD_RESAMPLE_BICUBIC, &scaled);
    pd_image_free(&cur);
    if (st != PD_OK) return st;
    if (rw < size || rh < size) {
        pd_image_free(&scaled);
        return pd_fail(PD_ERR_SHAPE, "center_crop: resized to %dx%d, smaller than %d", rw, rh,
                       size);
    }
    int c = scaled.c, y0 = (rh - size) / 2, x0 = (rw - size) / 2;
    uint8_t *data = malloc((size_t)size * size * c);
    if (!data) {
        pd_image_free(&scaled);
        return pd_fail(PD_ERR_NOMEM, "center_crop: cannot allocate %dx%d", size, size);
    }
    for (int y = 0; y < size; y++)
        memcpy(data + (size_t)y * size * c, scaled.data + ((size_t)(y0 + y) * rw + x0) * c,
               (size_t)size * c);
    pd_image_free(&scaled);
    out->w = out->h = size;
    out->c = c;
    out->data = data;
    return PD_OK;
}
