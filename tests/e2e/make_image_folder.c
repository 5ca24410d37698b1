/* make_image_folder DIR [N_BIG SIDE]: writes the 36-image JPEG/PNG fixture of
 * tests/unit/data_fixture.h into DIR (which must not exist); with N_BIG,
 * also the one-class folder DIR/big/photos/ with N_BIG RGB JPEGs of SIDE x (3/4 SIDE), quality 90 (the
 * shape of an ImageNet photo), for the decode-throughput measurement. */
#include <stdio.h>
#include <stdlib.h>

#include "../unit/data_fixture.h"

int main(int argc, char **argv) {
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: make_image_folder DIR [N_BIG SIDE]\n");
        return 2;
    }
    if (fx_make_folder(argv[1]) != 36) {
        fprintf(stderr, "make_image_folder: cannot write %s\n", argv[1]);
        return 1;
    }
    if (argc == 2) return 0;
    int n = atoi(argv[2]), w = atoi(argv[3]), h = w * 3 / 4;
    char p[1024];
    snprintf(p, sizeof p, "%s/big", argv[1]);
    uint8_t *buf = malloc((size_t)w * h * 3);
    if (!buf || mkdir(p, 0755) != 0) return 1;
    snprintf(p, sizeof p, "%s/big/photos", argv[1]);
    if (mkdir(p, 0755) != 0) return 1;
    for (int i = 0; i < n; i++) {
        fx_pattern(buf, w, h, 3, (uint64_t)i);
        for (size_t j = 0; j < (size_t)w * h * 3; j += 7) buf[j] ^= (uint8_t)(j * 13 + i); /* texture */
        snprintf(p, sizeof p, "%s/big/photos/photo%05d.jpg", argv[1], i);
        if (fx_write_jpeg(p, buf, w, h, 3, JCS_RGB, 90, 0) != 0) return 1;
    }
    free(buf);
    return 0;
}
