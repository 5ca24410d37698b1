/* Data sets from root/<class>/<image>.{png,jpg,jpeg}, like torchvision's ImageFolder
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
#include "pixeldit/limits.h"
#include "pixeldit/runtime.h"

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

/* .png, .jpg or .jpeg in any case: the files a class folder contributes. */
static int has_image_suffix(const char *name) {
    size_t len = strlen(name);
    return (len > 4 && (strcasecmp(name + len - 4, ".png") == 0 ||
                        strcasecmp(name + len - 4, ".jpg") == 0)) ||
           (len > 5 && strcasecmp(name + len - 5, ".jpeg") == 0);
}

/* Lists the visible entries of dir that are folders (want_dirs) or regular
 * image files, sorted; *others counts visible entries of the other kind. */
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
                             : (S_ISREG(sb.st_mode) && has_image_suffix(e->d_name));
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

pd_status pd_image_read(const char *path, int channels, pd_image *out) {
    size_t len = path ? strlen(path) : 0;
    if (len > 4 && strcasecmp(path + len - 4, ".png") == 0) return pd_png_read(path, channels, out);
    if (has_image_suffix(path ? path : "")) return pd_jpeg_read(path, channels, out);
    if (out) memset(out, 0, sizeof *out);
    return pd_fail(PD_ERR_FORMAT, "%s: not an image file name (expected .png, .jpg or .jpeg)",
                   path ? path : "(null)");
}

/* Loads path, crops it to S x S and stores it planar in dst (C, S, S). */
static pd_status load_one(const char *path, int C, int S, uint8_t *dst) {
    pd_image img, crop;
    pd_status st = pd_image_read(path, C, &img);
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

void pd_folder_list_free(pd_folder_list *l) {
    if (!l) return;
    for (int k = 0; k < l->num_classes; k++) free(l->class_names[k]);
    for (int i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->class_names);
    free(l->paths);
    free(l->labels);
    memset(l, 0, sizeof *l);
}

pd_status pd_folder_list_open(const char *root, pd_folder_list *out) {
    if (!root || !out) return pd_fail(PD_ERR_ARG, "folder_list: NULL argument");
    memset(out, 0, sizeof *out);
    if (strlen(root) + 2 * (NAME_MAX + 1) + 1 > 4096) /* root/class/file, never cut */
        return pd_fail(PD_ERR_ARG, "%s: path longer than %d bytes", root, 4096 - 2 * NAME_MAX - 3);
    struct stat sb;
    if (stat(root, &sb) != 0)
        return pd_fail(PD_ERR_IO, "%s: image folder not found: %s", root, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return pd_fail(PD_ERR_IO, "%s: not a folder (expected root/<class>/*.png|jpg|jpeg)", root);
    name_list classes = {0};
    int stray = 0;
    pd_status st = list_dir(root, 1, &classes, &stray);
    if (st != PD_OK) return st;
    if (classes.n == 0) {
        if (stray == 0) return pd_fail(PD_ERR_FORMAT, "%s: image folder is empty", root);
        return pd_fail(PD_ERR_FORMAT,
                       "%s: no class sub-folders (found %d files; expected "
                       "root/<class>/*.png|jpg|jpeg)",
                       root, stray);
    }
    name_list *files = calloc((size_t)classes.n, sizeof(name_list));
    char path[4096];
    int64_t total = 0;
    if (!files) {
        st = pd_fail(PD_ERR_NOMEM, "%s: out of memory", root);
        goto done;
    }
    for (int k = 0; k < classes.n; k++) {
        snprintf(path, sizeof path, "%s/%s", root, classes.names[k]);
        if ((st = list_dir(path, 0, &files[k], &stray)) != PD_OK) goto done;
        if (files[k].n == 0) {
            st = pd_fail(PD_ERR_FORMAT, "%s: class folder has no .png, .jpg or .jpeg files", path);
            goto done;
        }
        total += files[k].n;
    }
    if (total > PD_MAX_DATASET_IMAGES) {
        st = pd_fail(PD_ERR_FORMAT, "%s: %lld images, more than the limit of %d", root,
                     (long long)total, PD_MAX_DATASET_IMAGES);
        goto done;
    }
    if (classes.n > PD_MAX_CLASSES) {
        st = pd_fail(PD_ERR_FORMAT, "%s: %d class folders, more than the limit of %d", root,
                     classes.n, PD_MAX_CLASSES);
        goto done;
    }
    out->class_names = calloc((size_t)classes.n, sizeof(char *));
    out->paths = calloc((size_t)total, sizeof(char *));
    out->labels = calloc((size_t)total, sizeof(int));
    if (!out->class_names || !out->paths || !out->labels) {
        st = pd_fail(PD_ERR_NOMEM, "%s: out of memory listing %lld files", root, (long long)total);
        goto done;
    }
    for (int k = 0; k < classes.n; k++) { /* moved, not copied */
        out->class_names[k] = classes.names[k];
        classes.names[k] = NULL;
        out->num_classes = k + 1;
        for (int j = 0; j < files[k].n; j++) {
            size_t len = strlen(root) + strlen(out->class_names[k]) + strlen(files[k].names[j]) + 3;
            char *p = malloc(len);
            if (!p) {
                st = pd_fail(PD_ERR_NOMEM, "%s: out of memory listing files", root);
                goto done;
            }
            snprintf(p, len, "%s/%s/%s", root, out->class_names[k], files[k].names[j]);
            out->paths[out->n] = p;
            out->labels[out->n++] = k;
        }
    }
done:
    if (files)
        for (int k = 0; k < classes.n; k++) names_free(&files[k]);
    free(files);
    names_free(&classes);
    if (st != PD_OK) pd_folder_list_free(out);
    return st;
}

pd_status pd_folder_decode(const pd_folder_list *l, const int *files, int first, int n,
                           const pd_dataset_opts *opts, uint8_t *dst, uint8_t *ok, int *skipped) {
    int C = opts->channels, S = opts->image_size;
    size_t img = (size_t)C * S * S;
    /* each thread's messages land in its own thread-local buffer: copy them */
    pd_status *sts = calloc((size_t)(n ? n : 1), sizeof *sts);
    char **msgs = calloc((size_t)(n ? n : 1), sizeof *msgs);
    if (!sts || !msgs) {
        free(sts);
        free(msgs);
        return pd_fail(PD_ERR_NOMEM, "out of memory decoding %d images", n);
    }
    /* the thread count is explicit: on the loader's own thread the OpenMP
     * default would ignore pd_set_num_threads */
#pragma omp parallel for schedule(dynamic, 4) num_threads(pd_get_num_threads())
    for (int i = 0; i < n; i++) {
        int f = files ? files[i] : first + i;
        sts[i] = load_one(l->paths[f], C, S, dst + (size_t)i * img);
        if (sts[i] != PD_OK) msgs[i] = strdup(pd_last_error());
    }
    pd_status st = PD_OK;
    for (int i = 0; i < n && st == PD_OK; i++) {
        ok[i] = sts[i] == PD_OK;
        if (ok[i]) continue;
        const char *m = msgs[i] ? msgs[i] : "out of memory for the error message";
        if (opts->skip_corrupt && sts[i] == PD_ERR_FORMAT) {
            (*skipped)++;
            if (opts->on_skip) opts->on_skip(opts->skip_user, m);
        } else {
            st = pd_fail(sts[i], "%s", m);
        }
    }
    for (int i = 0; i < n; i++) free(msgs[i]);
    free(msgs);
    free(sts);
    return st;
}

pd_status pd_dataset_load_folder(const char *root, const pd_dataset_opts *opts,
                                 pd_dataset **out) {
    if (!root || !out) return pd_fail(PD_ERR_ARG, "dataset_load_folder: NULL argument");
    *out = NULL;
    pd_status st = pd_dataset_check_opts(opts, root);
    if (st != PD_OK) return st;
    if (opts->stream && opts->skip_corrupt)
        return pd_fail(PD_ERR_ARG,
                       "%s: skip_corrupt cannot be combined with stream (the files to skip are "
                       "only known once all are decoded): pack the folder with `pixeldit data "
                       "pack --skip-corrupt`, or turn stream off", root);
    pd_folder_list l;
    if ((st = pd_folder_list_open(root, &l)) != PD_OK) return st;
    int C = opts->channels, S = opts->image_size, skipped = 0;
    size_t img = (size_t)C * S * S;
    pd_dataset *ds = pd_dataset_alloc(l.n, C, S, l.num_classes, !opts->stream);
    uint8_t *ok = opts->stream ? NULL : malloc((size_t)l.n);
    if (!ds || (!opts->stream && !ok)) {
        st = ds ? pd_fail(PD_ERR_NOMEM, "%s: out of memory", root) : PD_ERR_NOMEM;
        goto done;
    }
    for (int k = 0; k < l.num_classes; k++)
        if (pd_dataset_set_class_name(ds, k, l.class_names[k]) != 0) {
            st = pd_fail(PD_ERR_NOMEM, "%s: out of memory", root);
            goto done;
        }
    if (opts->stream) { /* the list moves into the data set; batches decode from it */
        memcpy(ds->labels, l.labels, sizeof(int) * (size_t)l.n);
        if (!(ds->files = malloc(sizeof *ds->files))) {
            st = pd_fail(PD_ERR_NOMEM, "%s: out of memory", root);
            goto done;
        }
        *ds->files = l;
        memset(&l, 0, sizeof l);
        goto done;
    }
    if ((st = pd_folder_decode(&l, NULL, 0, l.n, opts, ds->pixels, ok, &skipped)) != PD_OK) goto done;
    int kept = 0; /* compact over skipped files, keeping the order */
    for (int i = 0; i < l.n; i++) {
        if (!ok[i]) continue;
        if (kept != i) memmove(ds->pixels + (size_t)kept * img, ds->pixels + (size_t)i * img, img);
        ds->labels[kept++] = l.labels[i];
    }
    if (kept == 0) {
        st = pd_fail(PD_ERR_FORMAT, "%s: all %d images were skipped as corrupt", root, l.n);
        goto done;
    }
    ds->n = kept;
    ds->skipped = skipped;
done:
    free(ok);
    pd_folder_list_free(&l);
    if (st != PD_OK) {
        pd_dataset_free(ds);
        return st;
    }
    *out = ds;
    return PD_OK;
}
