/* pixeldit data pack SRC --image-size S --out FILE   (decode once, pack)
 * pixeldit data info FILE [--verify]                  (describe a packed file)
 *
 * Self-contained argument handling (plain loops, no shared parser). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "pixeldit/data.h"
#include "pixeldit/limits.h"
#include "pixeldit/runtime.h"

static const char *usage =
    "usage: pixeldit data pack SRC --image-size S --out FILE [options]\n"
    "       pixeldit data info FILE [--verify]\n"
    "\n"
    "  pack decodes SRC once with the training preprocessing (ADM center crop to S for\n"
    "  folders, pad/resize for IDX) and writes one packed file for [data] source = packed.\n"
    "  SRC is an image folder root/<class>/*.png|jpg|jpeg, or a folder holding IDX files\n"
    "  (train-images-idx3-ubyte[.gz] and labels, e.g. Fashion-MNIST).\n"
    "\n"
    "  --image-size S    side of the packed images (the model's [model] image_size)\n"
    "  --out FILE        file to write (atomically: FILE.tmp.<pid>, then renamed)\n"
    "  --channels C      1 or 3 (default 3 for folders, 1 for IDX)\n"
    "  --fit pad|resize  IDX only: how 28x28 reaches S (default pad)\n"
    "  --split train|test  IDX only (default train)\n"
    "  --skip-corrupt    skip images that fail to decode (each named) instead of stopping\n"
    "  --threads N       decoding threads (default: all cores)\n"
    "\n"
    "  info prints a packed file's header; --verify also checks its payload checksum.\n"
    "  docs/data.md describes the format and the [data] keys.\n";

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "pixeldit: data: %s%s%s\n%s", msg, arg ? " " : "", arg ? arg : "", usage);
    return CLI_USAGE;
}

static int fail(const char *what) {
    fprintf(stderr, "pixeldit: data %s: %s\n", what, pd_last_error());
    return CLI_ERR;
}

/* A whole decimal integer in [lo, hi]. */
static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "--:--");
    else if (s >= 3600) snprintf(buf, n, "%d:%02d:%02d", (int)(s / 3600), (int)fmod(s / 60, 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%02d:%02d", (int)(s / 60), (int)fmod(s, 60));
}

typedef struct progress {
    double t0, last;
    bool tty;
} progress;

static void on_progress(void *user, int64_t done, int64_t total, int64_t skipped) {
    progress *p = user;
    double now = pd_now_seconds(), dt = now - p->t0;
    if (!p->tty && now - p->last < 5 && done < total) return; /* logs: a line every 5 s */
    p->last = now;
    double rate = dt > 0 ? (double)done / dt : 0;
    char eta[32];
    fmt_time(eta, sizeof eta, rate > 0 ? (double)(total - done) / rate : -1);
    fprintf(stderr, "%spack: %lld/%lld images | %.0f img/s | ETA %s", p->tty ? "\r" : "",
            (long long)done, (long long)total, rate, eta);
    if (skipped) fprintf(stderr, " | %lld skipped", (long long)skipped);
    fprintf(stderr, p->tty ? "   " : "\n");
}

static void on_skip(void *user, const char *msg) {
    (void)user;
    fprintf(stderr, "\npixeldit: warning: skipped %s\n", msg);
}

/* SRC holds IDX files (Fashion-MNIST names) rather than class folders. */
static bool is_idx_dir(const char *src) {
    char p[PD_MAX_PATH];
    const char *names[] = {"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", src, names[i]);
        if (access(p, R_OK) == 0) return true;
    }
    return false;
}

static int data_pack(int argc, char **argv) {
    const char *src = NULL, *out = NULL;
    long size = 0, channels = 0, threads = 0;
    bool skip = false, test_split = false;
    pd_fit fit = PD_FIT_PAD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--skip-corrupt")) skip = true;
        else if (!strcmp(a, "--image-size") && v) {
            if (!parse_int(v, 1, PD_MAX_IMAGE_SIZE, &size))
                return usage_error("--image-size must be an integer in 1..4096, got", v);
            i++;
        } else if (!strcmp(a, "--channels") && v) {
            if (!parse_int(v, 1, 3, &channels) || channels == 2)
                return usage_error("--channels must be 1 or 3, got", v);
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            if (!parse_int(v, 0, 1024, &threads))
                return usage_error("--threads must be an integer in 0..1024, got", v);
            i++;
        } else if (!strcmp(a, "--fit") && v) {
            if (strcmp(v, "pad") && strcmp(v, "resize"))
                return usage_error("--fit must be pad or resize, got", v);
            fit = strcmp(v, "pad") ? PD_FIT_RESIZE : PD_FIT_PAD;
            i++;
        } else if (!strcmp(a, "--split") && v) {
            if (strcmp(v, "train") && strcmp(v, "test"))
                return usage_error("--split must be train or test, got", v);
            test_split = !strcmp(v, "test");
            i++;
        } else if (!strcmp(a, "--out") && v) out = argv[++i];
        else if (a[0] == '-') return usage_error("unknown or incomplete option", a);
        else if (src) return usage_error("one SRC only; extra argument", a);
        else src = a;
    }
    if (!src) return usage_error("pack needs SRC (an image folder or a folder of IDX files)", NULL);
    if (!size) return usage_error("pack needs --image-size S", NULL);
    if (!out) return usage_error("pack needs --out FILE", NULL);
    pd_set_num_threads((int)threads);
    bool idx = is_idx_dir(src);
    pd_dataset_opts o = {.image_size = (int)size, .channels = (int)(channels ? channels : idx ? 1 : 3),
                         .fit = fit, .skip_corrupt = skip, .on_skip = on_skip, .skip_user = NULL};
    progress p = {.t0 = pd_now_seconds(), .last = 0, .tty = isatty(STDERR_FILENO)};
    pd_pack_result res;
    pd_status s;
    if (idx) {
        pd_dataset *ds;
        if ((s = pd_dataset_load_fashion_mnist(src, !test_split, &o, &ds))) return fail("pack");
        s = pd_pack_dataset(ds, out, &res);
        pd_dataset_free(ds);
    } else {
        s = pd_pack_folder(src, &o, out, on_progress, &p, &res);
    }
    if (p.tty && !idx) fputc('\n', stderr);
    if (s) return fail("pack");
    double dt = pd_now_seconds() - p.t0;
    printf("wrote %s: %lld images of %dx%dx%d, %.1f MB, in %.1f s (%.0f img/s)", out,
           (long long)res.images, o.channels, o.image_size, o.image_size, (double)res.bytes / 1e6, dt,
           dt > 0 ? (double)(res.images + res.skipped) / dt : 0.0);
    if (res.skipped) printf("; %lld corrupt images skipped", (long long)res.skipped);
    printf("\n");
    return CLI_OK;
}

static int data_info(int argc, char **argv) {
    const char *path = NULL;
    bool verify = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return CLI_OK;
        } else if (!strcmp(argv[i], "--verify")) verify = true;
        else if (argv[i][0] == '-') return usage_error("unknown option", argv[i]);
        else if (path) return usage_error("one FILE only; extra argument", argv[i]);
        else path = argv[i];
    }
    if (!path) return usage_error("info needs FILE", NULL);
    pd_dataset *ds;
    if (pd_dataset_open_packed(path, verify, &ds)) return fail("info");
    printf("%s: packed data set, format %d: %d images of %dx%dx%d, %d classes%s\n", path,
           PD_PACK_VERSION, ds->n, ds->channels, ds->size, ds->size, ds->num_classes,
           verify ? ", checksum ok" : "");
    for (int k = 0; k < ds->num_classes && k < 20; k++) printf("  class %d: %s\n", k, ds->class_names[k]);
    if (ds->num_classes > 20) printf("  ... %d more classes\n", ds->num_classes - 20);
    pd_dataset_free(ds);
    return CLI_OK;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2) return usage_error("expected a subcommand: pack or info", NULL);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "pack")) return data_pack(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return data_info(argc - 1, argv + 1);
    return usage_error("unknown subcommand (expected pack or info):", argv[1]);
}
