/* pixeldit data pack SRC --image-size S --out FILE   (decode once, pack)
 * pixeldit data info FILE [--verify]                  (describe a packed file)
 *
 * Each subcommand is an option table for cli_parse (cli/cli_opts.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pixeldit/data.h"
#include "pixeldit/limits.h"
#include "pixeldit/runtime.h"

static const char *usage =
    "usage: pixeldit data pack SRC --image-size S --out FILE [options]\n"
    "       pixeldit data info FILE [--verify]\n"
    "\n"
    "  pack decodes SRC once with the training preprocessing and writes one packed\n"
    "  file for [data] source = packed; info describes a packed file.\n"
    "  `pixeldit data pack --help` and `pixeldit data info --help` list their options;\n"
    "  docs/data.md describes the format and the [data] keys.\n";

static const char *pack_epilog =
    "Decodes SRC with the training preprocessing (ADM center crop to S for folders,\n"
    "pad/resize for IDX). SRC is an image folder root/<class>/*.png|jpg|jpeg, or a folder\n"
    "holding IDX files (train-images-idx3-ubyte[.gz] and labels, e.g. Fashion-MNIST).\n"
    "docs/data.md describes the format and the [data] keys.\n";

static int fail(const char *what) {
    fprintf(stderr, "pixeldit: data %s: %s\n", what, pd_last_error());
    return CLI_ERR;
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
    const char *src = NULL, *out = NULL, *fit_s = "pad", *split = "train";
    long size = 0, channels = 0, threads = 0;
    bool skip = false;
    const cli_opt opts[] = {
        {.name = "--image-size", .kind = CLI_INT, .arg = "S", .dst = &size, .min = 1,
         .max = PD_MAX_IMAGE_SIZE, .required = true,
         .help = "side of the packed images (the model's [model] image_size)"},
        {.name = "--out", .kind = CLI_STRING, .arg = "FILE", .dst = &out, .required = true,
         .help = "file to write (atomically: FILE.tmp.<pid>, then renamed)"},
        {.name = "--channels", .kind = CLI_INT, .arg = "C", .dst = &channels, .min = 1, .max = 3,
         .help = "1 or 3 (default 3 for folders, 1 for IDX)"},
        {.name = "--fit", .kind = CLI_STRING, .arg = "pad|resize", .dst = &fit_s, .choices = "pad|resize",
         .help = "IDX only: how 28x28 reaches S (default pad)"},
        {.name = "--split", .kind = CLI_STRING, .arg = "train|test", .dst = &split,
         .choices = "train|test", .help = "IDX only (default train)"},
        {.name = "--skip-corrupt", .kind = CLI_FLAG, .dst = &skip,
         .help = "skip images that fail to decode (each named) instead of stopping"},
        {.name = "--threads", .kind = CLI_INT, .arg = "N", .dst = &threads, .min = 0, .max = 1024,
         .help = "decoding threads (default: all cores)"},
    };
    const cli_command cmd = {.name = "data pack", .operand = "SRC", .operands = &src, .min_operands = 1,
                             .max_operands = 1, .opts = opts, .n_opts = (int)(sizeof opts / sizeof *opts),
                             .epilog = pack_epilog};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
    if (channels == 2) return cli_opts_fail(&cmd, "--channels 2: expected 1 or 3");
    bool test_split = !strcmp(split, "test");
    pd_fit fit = strcmp(fit_s, "pad") ? PD_FIT_RESIZE : PD_FIT_PAD;
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
    const cli_opt opts[] = {
        {.name = "--verify", .kind = CLI_FLAG, .dst = &verify,
         .help = "also check the payload checksum (reads the whole file)"},
    };
    const cli_command cmd = {.name = "data info", .operand = "FILE", .operands = &path, .min_operands = 1,
                             .max_operands = 1, .opts = opts, .n_opts = (int)(sizeof opts / sizeof *opts),
                             .epilog = "Prints a packed file's header: count, image shape, classes.\n"};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc != CLI_CONTINUE) return rc;
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

/* Subcommand dispatch; argv[1] is the subcommand, which cli_parse sees as
 * the command's name. */
int cmd_data(int argc, char **argv) {
    if (argc >= 2 && cli_is_help(argv[1])) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (argc >= 2 && !strcmp(argv[1], "pack")) return data_pack(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "info")) return data_info(argc - 1, argv + 1);
    if (argc < 2) fprintf(stderr, "pixeldit: data: expected a subcommand: pack or info\n");
    else fprintf(stderr, "pixeldit: data: unknown subcommand '%s' (expected pack or info)\n", argv[1]);
    fputs(usage, stderr);
    return CLI_USAGE;
}
