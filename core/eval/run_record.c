/* The record of one finished training run (ablate's result.json, kept
 * under results/): what was trained (config text and hash, plugins, seed,
 * steps), where and from which code (commit, machine), and its evaluation
 * curve (eval.csv, every row). Small JSON, one file per run, so a study can
 * be run in parts on several machines and its tables rebuilt from the
 * files. Format: docs/eval.md ("Run records"). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "eval_internal.h"
#include "io/file_open.h"
#include "pixeldit/runtime.h"

/* The columns of eval.csv that are copied into the record as numbers (the
 * rest, weights and sampler, are text; see core/app/train_eval.c). */
static const char *const curve_numbers[] = {
    "step", "images", "train_seconds", "train_gflops", "fd", "kid", "precision", "recall", "fd_rand",
    "kid_rand", "precision_rand", "recall_rand", "class_acc", "grid_score", "eval_seconds"};
enum { N_CURVE = sizeof curve_numbers / sizeof curve_numbers[0], MAX_FIELDS = 32 };

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c == '\n') fputs("\\n", f);
        else if (*c == '\t') fputs("\\t", f);
        else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
    fputc('"', f);
}

/* "model name" of /proc/cpuinfo, or "unknown". */
static void cpu_model(char *buf, size_t size) {
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        char *v = strchr(line, ':');
        if (!v) break;
        v += 1 + strspn(v + 1, " \t");
        v[strcspn(v, "\n")] = '\0';
        snprintf(buf, size, "%s", v);
        break;
    }
    fclose(f);
}

void pd_machine_json(FILE *f) {
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    struct utsname u;
    const char *kernel = uname(&u) == 0 ? u.release : "unknown";
    fprintf(f, "{\"cpu\": ");
    json_string(f, cpu);
    fprintf(f, ", \"kernel\": ");
    json_string(f, kernel);
    fprintf(f, ", \"threads\": %d, \"blas_core\": ", pd_get_num_threads());
    json_string(f, pd_blas_corename());
    fprintf(f, "}");
}

/* Splits a CSV line in place into at most MAX_FIELDS fields. */
static int split_csv(char *line, char **fields) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < MAX_FIELDS;) {
        fields[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

/* eval.csv's rows as a JSON array of objects. */
static pd_status write_curve(FILE *out, const char *csv_path) {
    FILE *f = fopen(csv_path, "r");
    if (!f) return pd_fail(PD_ERR_IO, "%s: cannot open: %s", csv_path, strerror(errno));
    char header[1024], line[1024], *names[MAX_FIELDS], *v[MAX_FIELDS];
    pd_status st = PD_OK;
    int nh = fgets(header, sizeof header, f) ? split_csv(header, names) : 0;
    int col[N_CURVE], wcol = -1;
    for (int c = 0; c < N_CURVE; c++) {
        col[c] = -1;
        for (int i = 0; i < nh; i++)
            if (!strcmp(names[i], curve_numbers[c])) col[c] = i;
        if (col[c] < 0) st = pd_fail(PD_ERR_FORMAT, "%s: no column '%s'", csv_path, curve_numbers[c]);
    }
    for (int i = 0; i < nh; i++)
        if (!strcmp(names[i], "weights")) wcol = i;
    if (!st && wcol < 0) st = pd_fail(PD_ERR_FORMAT, "%s: no column 'weights'", csv_path);
    fprintf(out, "[");
    int rows = 0;
    while (!st && fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) break; /* a cut-off last line */
        int n = split_csv(line, v);
        if (n != nh) continue;
        fprintf(out, "%s\n    {\"weights\": ", rows++ ? "," : "");
        json_string(out, v[wcol]);
        for (int c = 0; c < N_CURVE; c++) {
            char *end;
            double x = strtod(v[col[c]], &end);
            if (end == v[col[c]] || *end || !isfinite(x)) fprintf(out, ", \"%s\": null", curve_numbers[c]);
            else fprintf(out, ", \"%s\": %.10g", curve_numbers[c], x);
        }
        fprintf(out, "}");
    }
    fprintf(out, "\n  ]");
    fclose(f);
    if (!st && rows == 0) st = pd_fail(PD_ERR_FORMAT, "%s: no evaluation rows", csv_path);
    return st;
}

pd_status pd_run_record_write(const char *path, const pd_run_record *r) {
    char tmp[1200];
    FILE *f = pd_tmp_fopen(path, tmp, sizeof tmp);
    if (!f) return PD_ERR_IO;
    fprintf(f, "{\n  \"format\": \"%s\",\n  \"name\": ", PD_RUN_RECORD_FORMAT);
    json_string(f, r->name);
    fprintf(f, ",\n  \"config_file\": ");
    json_string(f, r->config_file);
    fprintf(f, ",\n  \"config_hash\": \"%s\",\n  \"commit\": ", r->key);
    json_string(f, pd_build_commit());
    fprintf(f, ",\n  \"version\": \"%s\",\n  \"machine\": ", pd_version());
    pd_machine_json(f);
    fprintf(f, ",\n  \"seed\": %d,\n  \"steps\": %ld,\n  \"batch_size\": %d,\n  \"train_seconds\": %.3f,\n",
            r->seed, r->steps, r->batch_size, r->train_seconds);
    fprintf(f, "  \"decoder\": ");
    json_string(f, r->decoder);
    fprintf(f, ",\n  \"losses\": ");
    json_string(f, r->losses);
    fprintf(f, ",\n  \"parameters\": %.0f,\n  \"flops_per_image\": %.6g,\n", r->params, r->flops);
    fprintf(f, "  \"protocol\": {\"n\": %ld, \"sampler\": \"%s\", \"steps\": %d, \"nfe\": %d, \"cfg\": %.6g, "
            "\"seed\": %d},\n", r->n, r->sampler, r->sample_steps, r->nfe, r->cfg, r->sample_seed);
    fprintf(f, "  \"fd_floor\": %.6f,\n  \"fd_ceiling\": %.6f,\n  \"curve\": ", r->fd_floor, r->fd_ceiling);
    pd_status st = write_curve(f, r->eval_csv);
    fprintf(f, ",\n  \"config\": ");
    json_string(f, r->config_text);
    fprintf(f, "\n}\n");
    if (st) {
        fclose(f);
        remove(tmp);
        return st;
    }
    return pd_tmp_commit_stream(f, tmp, path);
}
