/* `pixeldit plugins [NAME]`: every *.so in the search directories (and one
 * level of subfolders), loaded through the normal checks and described; a
 * refused file is listed with the reason instead. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plugin_internal.h"

typedef struct file_list {
    char **v;
    int n, cap;
} file_list;

static bool ends_with_so(const char *s) {
    size_t n = strlen(s);
    return n > 3 && strcmp(s + n - 3, ".so") == 0;
}

static void list_add(file_list *l, const char *path) {
    char real[PATH_MAX];
    if (!realpath(path, real)) return;
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i], real) == 0) return; /* same file through two dirs */
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return;
        l->v = v, l->cap = cap;
    }
    if ((l->v[l->n] = strdup(real))) l->n++;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds DIR/NAME.so files, and DIR/SUB/NAME.so ones when depth allows. */
static void scan_dir(file_list *l, const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    char **names = NULL;
    int n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **v = realloc(names, (size_t)cap * sizeof *v);
            if (!v) break;
            names = v;
        }
        if ((names[n] = strdup(e->d_name))) n++;
    }
    closedir(d);
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str); /* stable listing order */
    char path[PATH_MAX + 256];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0) {
            if (S_ISREG(st.st_mode) && ends_with_so(names[i])) list_add(l, path);
            else if (S_ISDIR(st.st_mode) && depth > 0) scan_dir(l, path, depth - 1);
        }
        free(names[i]);
    }
    free(names);
}

/* A scan opens every .so it finds, and a library whose dynamic section is
 * corrupt can crash the dynamic linker itself, which no check of ours can
 * catch after the fact. So each file is loaded first in a child process;
 * one that kills its child is listed as refused and never loaded here.
 * NULL when the child got through (or could not be started), else the
 * reason (malloc'ed). */
static char *probe_in_child(const char *path) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return NULL; /* no child: fall back to the plain load */
    if (pid == 0) {
        /* a crash must end the child, not reach a handler of the parent's */
        const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t k = 0; k < sizeof fatal / sizeof *fatal; k++) signal(fatal[k], SIG_DFL);
        pd_plugin *pl = NULL;
        _exit(pd_plugin_load(path, 0, &pl) == PD_OK ? 0 : 1);
    }
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) return NULL;
    if (!WIFSIGNALED(ws)) return NULL;
    char msg[160];
    snprintf(msg, sizeof msg, "loading it crashed a test process (signal %d, %s): a corrupt "
             "library; not loaded", WTERMSIG(ws), strsignal(WTERMSIG(ws)));
    return strdup(msg);
}

static void print_keys(FILE *out, const pd_plugin *pl) {
    int n = pd_plugin_key_count(pl);
    if (n == 0) {
        fprintf(out, "    keys: none\n");
        return;
    }
    int wn = 4, wd = 7;
    for (int i = 0; i < n; i++) {
        const pd_plugin_key *k = pd_plugin_key_at(pl, i);
        if ((int)strlen(k->name) > wn) wn = (int)strlen(k->name);
        if ((int)strlen(k->default_value) > wd) wd = (int)strlen(k->default_value);
    }
    fprintf(out, "    keys:\n");
    for (int i = 0; i < n; i++) {
        const pd_plugin_key *k = pd_plugin_key_at(pl, i);
        char allowed[256] = "";
        if (k->allowed)
            snprintf(allowed, sizeof allowed, k->type == PD_KEY_ENUM ? "  (one of %s)" : "  (%s)",
                     k->allowed);
        fprintf(out, "      %-*s  %-6s  default %-*s  %s%s\n", wn, k->name,
                pd_plugin_key_type_name(k->type), wd, k->default_value, k->help ? k->help : "",
                allowed);
    }
}

static void print_plugin(FILE *out, const pd_plugin *pl) {
    fprintf(out, "%-9s %s %s\n", pd_plugin_kind_name(pl->desc.kind), pl->desc.name,
            pl->desc.version);
    fprintf(out, "    %s\n", pl->desc.description);
    fprintf(out, "    file: %s\n", pl->path);
    print_keys(out, pl);
}

static bool basename_is(const char *path, const char *name) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(name);
    return strncmp(base, name, n) == 0 && strcmp(base + n, ".so") == 0;
}

pd_status pd_plugins_print(FILE *out, const char *only_name) {
    if (!out) return pd_fail(PD_ERR_ARG, "plugins_print: out is NULL");
    const char *dirs[32];
    int nd = pd_plugin_search_dirs(dirs, 32);
    char dir_copy[32][PATH_MAX];
    for (int i = 0; i < nd; i++) snprintf(dir_copy[i], sizeof dir_copy[i], "%s", dirs[i]);
    file_list files = {0};
    for (int i = 0; i < nd; i++) scan_dir(&files, dir_copy[i], 1);

    /* load everything first, then list the plugins and after them the refusals */
    pd_plugin **loaded = calloc((size_t)(files.n ? files.n : 1), sizeof *loaded);
    char **why = calloc((size_t)(files.n ? files.n : 1), sizeof *why);
    char **shadow = calloc((size_t)(files.n ? files.n : 1), sizeof *shadow);
    for (int i = 0; loaded && why && shadow && i < files.n; i++) {
        /* NAME.so when a plugin NAME came from an earlier folder: shadowed
         * (the loader would never pick it), not opened at all */
        const char *base = strrchr(files.v[i], '/') + 1;
        char name[PD_PLUGIN_NAME_MAX];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(base) - 3), base);
        const pd_plugin *other = pd_plugin_find(name);
        if (other && strcmp(other->path, files.v[i]) != 0) {
            shadow[i] = strdup(other->path);
            continue;
        }
        if ((why[i] = probe_in_child(files.v[i]))) continue;
        if (pd_plugin_load(files.v[i], 0, &loaded[i]) != PD_OK) {
            const char *msg = pd_last_error();
            size_t n = strlen(files.v[i]);
            if (strncmp(msg, files.v[i], n) == 0 && strncmp(msg + n, ": ", 2) == 0) msg += n + 2;
            why[i] = strdup(msg); /* without the path, printed just above it */
        }
    }
    int shown = 0, refused = 0;
    char first_why[512] = "";
    for (int i = 0; loaded && i < files.n; i++)
        if (loaded[i] && (!only_name || strcmp(loaded[i]->desc.name, only_name) == 0)) {
            if (shown++) fputc('\n', out);
            print_plugin(out, loaded[i]);
        }
    for (int i = 0; shadow && i < files.n; i++)
        if (shadow[i] && (!only_name || basename_is(files.v[i], only_name))) {
            if (shown++) fputc('\n', out);
            fprintf(out, "shadowed  %s\n    by the plugin of that name loaded from %s (earlier in "
                    "the search path)\n", files.v[i], shadow[i]);
        }
    for (int i = 0; why && i < files.n; i++)
        if (why[i] && (!only_name || basename_is(files.v[i], only_name))) {
            if (shown++) fputc('\n', out);
            fprintf(out, "refused   %s\n    %s\n", files.v[i], why[i]);
            if (!refused++) snprintf(first_why, sizeof first_why, "%s: %s", files.v[i], why[i]);
        }
    for (int i = 0; i < files.n; i++) {
        if (why) free(why[i]);
        if (shadow) free(shadow[i]);
        free(files.v[i]);
    }
    free(why);
    free(shadow);
    free(loaded);
    free(files.v);
    pd_clear_error();
    /* asked for one plugin: a refused file of that name is a failure (exit status) */
    if (only_name && refused)
        return pd_fail(PD_ERR_PLUGIN, "plugin %s refused: %s", only_name, first_why);
    if (shown) return PD_OK;
    char searched[2048];
    size_t used = 0;
    searched[0] = '\0';
    for (int i = 0; i < nd && used < sizeof searched; i++)
        used += (size_t)snprintf(searched + used, sizeof searched - used, "%s%s", i ? ":" : "",
                                 dir_copy[i]);
    if (only_name)
        return pd_fail(PD_ERR_PLUGIN, "no plugin named '%s' in %s", only_name, searched);
    return pd_fail(PD_ERR_PLUGIN, "no plugins found in %s", searched);
}
