/* Data sets from root/<class>/<image>.png, like torchvision's ImageFolder
 * followed by ADM's center_crop_arr. Names are sorted with strcmp (byte
 * order, as Python's sorted() on ASCII names) so the order is the same on
 * every machine. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_internal.h"

typedef struct name_list {
    char **names;
    int n, cap;
} name_list;

static void names_free(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static int names_push(name_list *l, const char *name) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **grown = realloc(l->names, sizeof(char *) * (size_t)cap);
        if (!grown) return -1;
        l->names = grown;
        l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(name))) return -1;
    l->n++;
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_png_suffix(const char *name) {
    size_t len = strlen(name);
    return len > 4 && strcasecmp(name + len - 4, ".png") == 0;
}

/* Lists the visible entries of dir that are folders (want_dirs) or regular
 * .png files, sorted; *others counts visible entries of the other kind. */
static pd_status list_dir(const char *dir, int want_dirs, name_list *out, int *others) {
    if (strlen(dir) + 1 + NAME_MAX + 1 > 4096) /* paths are never cut */
        return pd_fail(PD_ERR_ARG, "%s: path longer than %d bytes", dir, 4096 - NAME_MAX - 2);
    DIR *d = opendir(dir);
    if (!d) return pd_fail(PD_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    *others = 0;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ".", ".." and hidden entries */
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue; /* dangling link */
        int take = want_dirs ? S_ISDIR(sb.st_mode)
                             : (S_ISREG(sb.st_mode) && has_png_suffix(e->d_name));
        if (!take) {
            (*others)++;
            continue;
        }
        if (names_push(out, e->d_name) != 0) {
            closedir(d);
            names_free(out);
            return pd_fail(PD_ERR_NOMEM, "%s: out of memory listing folder", dir);
        }
    }
    closedir(d);
    if (out->n > 1) qsort(out->names, (size_t)out->n, sizeof(char *), cmp_names);
    return PD_OK;
}

/* Loads path, crops it to S x S and stores it planar in dst (C, S, S). */
static pd_status load_one(const char *path, int C, int S, uint8_t *dst) {
    pd_image img, crop;
    pd_status st = pd_png_read(path, C, &img);
    if (st != PD_OK) return st;
    st = pd_image_center_crop(&img, S, &crop);
    pd_image_free(&img);
    if (st != PD_OK) {
        char why[512]; /* pd_fail writes over pd_last_error()'s buffer */
        snprintf(why, sizeof why, "%s", pd_last_error());
        return pd_fail(st, "%s: %s", path, why);
    }
    size_t plane = (size_t)S * S;
    for (size_t p = 0; p < plane; p++)
        for (int ch = 0; ch < C; ch++) dst[ch * plane + p] = crop.data[p * C + ch];
    pd_image_free(&crop);
    return PD_OK;
}

pd_status pd_dataset_load_folder(const char *root, const pd_dataset_opts *opts,
                                 pd_dataset **out) {
    if (root && strlen(root) + 2 * (NAME_MAX + 1) + 1 > 4096) /* root/class/file, never cut */
        return pd_fail(PD_ERR_ARG, "%s: path longer than %d bytes", root, 4096 - 2 * NAME_MAX - 3);
    if (!root || !out) return pd_fail(PD_ERR_ARG, "dataset_load_folder: NULL argument");
    *out = NULL;
    pd_status st = pd_dataset_check_opts(opts, root);
    if (st != PD_OK) return st;
    struct stat sb;
    if (stat(root, &sb) != 0)
        return pd_fail(PD_ERR_IO, "%s: image folder not found: %s", root, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return pd_fail(PD_ERR_IO, "%s: not a folder (expected root/<class>/*.png)", root);

    name_list classes = {0};
    int stray = 0;
    if ((st = list_dir(root, 1, &classes, &stray)) != PD_OK) return st;
    if (classes.n == 0) {
        if (stray == 0) return pd_fail(PD_ERR_FORMAT, "%s: image folder is empty", root);
        return pd_fail(PD_ERR_FORMAT,
                       "%s: no class sub-folders (found %d files; expected root/<class>/*.png)",
                       root, stray);
    }
    name_list *files = calloc((size_t)classes.n, sizeof(name_list));
    pd_dataset *ds = NULL;
    char path[4096];
    int total = 0;
    if (!files) {
        st = pd_fail(PD_ERR_NOMEM, "%s: out of memory", root);
        goto done;
    }
    for (int k = 0; k < classes.n; k++) {
        snprintf(path, sizeof path, "%s/%s", root, classes.names[k]);
        if ((st = list_dir(path, 0, &files[k], &stray)) != PD_OK) goto done;
        if (files[k].n == 0) {
            st = pd_fail(PD_ERR_FORMAT, "%s: class folder has no .png files", path);
            goto done;
        }
        total += files[k].n;
    }
    int C = opts->channels, S = opts->image_size;
    if (!(ds = pd_dataset_alloc(total, C, S, classes.n))) {
        st = PD_ERR_NOMEM;
        goto done;
    }
    int i = 0;
    for (int k = 0; k < classes.n; k++) {
        if (pd_dataset_set_class_name(ds, k, classes.names[k]) != 0) {
            st = pd_fail(PD_ERR_NOMEM, "%s: out of memory", root);
            goto done;
        }
        for (int j = 0; j < files[k].n; j++, i++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, classes.names[k], files[k].names[j]);
            st = load_one(path, C, S, ds->pixels + (size_t)i * C * S * S);
            if (st != PD_OK) goto done;
            ds->labels[i] = k;
        }
    }
done:
    if (files)
        for (int k = 0; k < classes.n; k++) names_free(&files[k]);
    free(files);
    names_free(&classes);
    if (st != PD_OK) {
        pd_dataset_free(ds);
        return st;
    }
    *out = ds;
    return PD_OK;
}
