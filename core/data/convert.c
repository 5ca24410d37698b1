/* Channel conversions shared by the PNG and JPEG readers (PIL's rules). */
#include <stdlib.h>

#include "data_internal.h"

/* PIL's convert("L") weights in 16-bit fixed point (they sum to 65536), so
 * gray values match PIL's exactly. */
static uint8_t luma(const uint8_t *rgb) {
    return (uint8_t)((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

uint8_t *pd_image_convert_channels(const uint8_t *src, size_t npix, int from, int to) {
    uint8_t *dst = malloc(npix * (size_t)to);
    if (!dst) return NULL;
    for (size_t i = 0; i < npix; i++) {
        const uint8_t *p = src + i * (size_t)from;
        if (to == 1) {
            dst[i] = from == 1 ? p[0] : luma(p);
        } else {
            for (int k = 0; k < 3; k++) dst[i * 3 + k] = from == 1 ? p[0] : p[k];
        }
    }
    return dst;
}

pd_status pd_image_adopt(const char *path, uint8_t *pix, int w, int h, int c, int channels,
                         pd_image *out) {
    uint8_t *data = pix;
    if (c != channels) {
        data = pd_image_convert_channels(pix, (size_t)w * h, c, channels);
        free(pix);
        if (!data) return pd_fail(PD_ERR_NOMEM, "%s: cannot allocate %dx%d image", path, w, h);
    }
    out->w = w;
    out->h = h;
    out->c = channels;
    out->data = data;
    return PD_OK;
}
