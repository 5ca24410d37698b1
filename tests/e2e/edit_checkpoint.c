/* Writes a hostile copy of a checkpoint for the e2e probes (issue 27):
 *
 *   edit_checkpoint IN OUT [KEY=VALUE | fill:PREFIX=NUMBER]...
 *
 * KEY=VALUE replaces (or adds) a metadata entry, "fill:PREFIX=NUMBER" sets
 * every element of every f32 tensor whose name starts with PREFIX ("" for
 * all, "ema1.", "optim.m." ...) to NUMBER (nan, inf and 3e38 parse).
 * Everything else is copied as it is. Exit 0, or 1 with a line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pixeldit/safetensors.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: edit_checkpoint IN OUT [KEY=VALUE | fill:PREFIX=NUMBER]...\n");
        return 2;
    }
    pd_st_file *f = NULL;
    if (pd_st_open(argv[1], &f)) {
        fprintf(stderr, "edit_checkpoint: %s\n", pd_last_error());
        return 1;
    }
    pd_st_writer *w = pd_st_writer_new();
    int n = pd_st_count(f);
    float **copies = calloc((size_t)n + 1, sizeof *copies);
    pd_status s = w && copies ? PD_OK : PD_ERR_NOMEM;
    for (int i = 0; i < n && !s; i++) {
        const pd_st_tensor *t = pd_st_at(f, i);
        const void *data = t->data;
        for (int a = 3; a < argc && t->dtype == PD_ST_F32; a++) {
            if (strncmp(argv[a], "fill:", 5)) continue;
            const char *eq = strchr(argv[a], '=');
            size_t plen = eq ? (size_t)(eq - argv[a] - 5) : 0;
            if (!eq || strncmp(t->name, argv[a] + 5, plen)) continue;
            if (!copies[i] && !(copies[i] = malloc(t->nbytes ? t->nbytes : 1))) s = PD_ERR_NOMEM;
            for (size_t k = 0; !s && k < t->numel; k++) copies[i][k] = strtof(eq + 1, NULL);
            data = copies[i];
        }
        if (!s) s = pd_st_writer_add(w, t->name, t->dtype, t->shape, t->ndim, data);
    }
    for (int i = 0; i < pd_st_metadata_count(f) && !s; i++) {
        const char *k, *v;
        pd_st_metadata_at(f, i, &k, &v);
        s = pd_st_writer_set_metadata(w, k, v);
    }
    for (int a = 3; a < argc && !s; a++) {
        char *eq = strchr(argv[a], '=');
        if (!strncmp(argv[a], "fill:", 5) || !eq) continue;
        *eq = '\0';
        s = pd_st_writer_set_metadata(w, argv[a], eq + 1);
        *eq = '=';
    }
    if (!s) s = pd_st_writer_write(w, argv[2]);
    if (s) fprintf(stderr, "edit_checkpoint: %s\n", pd_last_error());
    for (int i = 0; i < n; i++) free(copies[i]);
    free(copies);
    pd_st_writer_free(w);
    pd_st_close(f);
    return s ? 1 : 0;
}
