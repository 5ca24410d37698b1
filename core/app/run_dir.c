/* The run folder's rules: refuse to start over a run, clean up after killed
 * runs, keep log.csv in step with the checkpoint (see run_dir.h). */
#include "run_dir.h"
#include "io/file_open.h"
#include "pixeldit/limits.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* malloc'ed "a" + "b"; NULL with the error set when out of memory. */
static char *join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (!s) {
        pd_fail(PD_ERR_NOMEM, "%s%s: out of memory for the path", a, b);
        return NULL;
    }
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

/* mkdir -p on a copy of the path, whatever its length. */
static pd_status make_dirs(const char *path) {
    char *buf = join(path, "");
    if (!buf) return PD_ERR_NOMEM;
    pd_status s = PD_OK;
    for (char *p = buf + 1; *p && !s; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            s = pd_fail(PD_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (!s && mkdir(buf, 0755) && errno != EEXIST)
        s = pd_fail(PD_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
    free(buf);
    return s;
}

/* The files pixeldit writes into a run folder and its samples/ through a
 * temporary NAME.tmp.<pid>: only these temporaries are ever removed, so a
 * user's notes.tmp.31337 is left alone. */
static bool written_here(const char *name, size_t n) {
    static const char *const names[] = {"checkpoint-last.safetensors", "loss.png", "final.png",
                                        "eval_samples.safetensors", "result.json", "run_key.txt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == n && memcmp(name, names[i], n) == 0) return true;
    /* samples/step_<digits>.png */
    if (n > 9 && memcmp(name, "step_", 5) == 0 && memcmp(name + n - 4, ".png", 4) == 0)
        return strspn(name + 5, "0123456789") == n - 9;
    return false;
}

/* A pid in a temp-file name: "NAME.tmp.<digits>" of a file written here
 * -> pid, else 0. */
static long tmp_pid(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t || !written_here(name, (size_t)(t - name))) return 0;
    const char *d = t + 5;
    if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 9) return 0;
    return strtol(d, NULL, 10);
}

int pd_run_dir_remove_stale(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        pd_fail(PD_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
        return -1;
    }
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        long pid = tmp_pid(e->d_name);
        if (pid <= 0 || pid == (long)getpid()) continue;
        /* a live writer (another run in the same folder) keeps its file */
        if (kill((pid_t)pid, 0) == 0 || errno == EPERM) continue;
        char *slash = join(dir, "/"), *path = slash ? join(slash, e->d_name) : NULL;
        if (path && unlinkat(dirfd(d), e->d_name, 0) == 0) removed++;
        free(slash);
        free(path);
    }
    closedir(d);
    return removed;
}

pd_status pd_run_dir_cut_log(const char *path, int64_t step) {
    FILE *f = fopen(path, "r+");
    if (!f) {
        if (errno == ENOENT) return PD_OK;
        return pd_fail(PD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) { /* a pipe or device: leave it */
        fclose(f);
        return PD_OK;
    }
    char *line = NULL;
    size_t cap = 0;
    long keep = 0; /* bytes to keep */
    bool header = true;
    for (ssize_t n; (n = getline(&line, &cap, f)) > 0;) {
        if (line[n - 1] != '\n') break; /* a partial row from a killed run */
        if (!header) {
            char *end;
            long long row = strtoll(line, &end, 10);
            if (end == line || *end != ',' || row > step) break;
        }
        header = false;
        keep += (long)n;
    }
    free(line);
    pd_status s = PD_OK;
    if (ferror(f)) s = pd_fail(PD_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    else if (ftruncate(fileno(f), keep) != 0)
        s = pd_fail(PD_ERR_IO, "%s: cannot cut back to step %lld: %s", path, (long long)step,
                    strerror(errno));
    if (fclose(f) != 0 && !s) s = pd_fail(PD_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    return s;
}

void pd_run_dir_close(pd_run_dir *rd) {
    free(rd->dir);
    free(rd->checkpoint);
    free(rd->log);
    free(rd->samples);
    memset(rd, 0, sizeof *rd);
}

/* True when a and b name the same file (both exist). */
static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

pd_status pd_run_dir_open(pd_run_dir *rd, const char *dir, const char *resume,
                          int64_t resume_step, bool force) {
    memset(rd, 0, sizeof *rd);
    rd->dir = join(dir, "");
    rd->checkpoint = join(dir, "/checkpoint-last.safetensors");
    rd->log = join(dir, "/log.csv");
    rd->samples = join(dir, "/samples");
    pd_status s = PD_OK;
    if (!rd->dir || !rd->checkpoint || !rd->log || !rd->samples) {
        s = PD_ERR_NOMEM;
        goto fail;
    }
    /* the longest name written is samples/step_<19 digits>.png or a temp
     * file; refuse rather than cut the path */
    if (strlen(dir) + 64 >= PD_MAX_PATH) {
        s = pd_fail(PD_ERR_ARG, "--out folder path is %zu bytes; the limit is %d with the file "
                    "names under it", strlen(dir), PD_MAX_PATH - 64);
        goto fail;
    }
    if (!resume && !force && access(rd->checkpoint, F_OK) == 0) {
        s = pd_fail(PD_ERR_ARG, "%s already holds a run (%s); continue it with --resume %s, or "
                    "pass --force to start over and replace it", dir, rd->checkpoint,
                    rd->checkpoint);
        goto fail;
    }
    /* --resume A --out B: B must be A's own folder or hold no run, else
     * B's checkpoint would be replaced and A's rows spliced into its log */
    if (resume && !force && !same_file(resume, rd->checkpoint) &&
        (access(rd->checkpoint, F_OK) == 0 || access(rd->log, F_OK) == 0)) {
        s = pd_fail(PD_ERR_ARG, "%s already holds another run (%s); --resume %s continues a run "
                    "in its own folder: pass that folder as --out, an empty one, or --force to "
                    "replace the run in %s", dir,
                    access(rd->checkpoint, F_OK) == 0 ? rd->checkpoint : rd->log, resume, dir);
        goto fail;
    }
    if ((s = pd_run_dir_check_appended(rd->log))) goto fail;
    if ((s = make_dirs(rd->dir)) || (s = make_dirs(rd->samples))) goto fail;
    int n = pd_run_dir_remove_stale(rd->dir), m = n < 0 ? 0 : pd_run_dir_remove_stale(rd->samples);
    if (n < 0 || m < 0) {
        s = PD_ERR_IO;
        goto fail;
    }
    rd->stale_removed = n + m;
    if (resume && (s = pd_run_dir_cut_log(rd->log, resume_step))) goto fail;
    return PD_OK;
fail:
    pd_run_dir_close(rd);
    return s;
}

/* log.csv and eval.csv are opened for appending rather than replaced:
 * a FIFO there would block the run, a link to a file would send its rows
 * into that file. A character device (/dev/null, /dev/full: how the tests
 * make a full disk) holds no one's data and is allowed. */
pd_status pd_run_dir_check_appended(const char *path) {
    struct stat ls, ts;
    if (lstat(path, &ls) != 0) return PD_OK;
    bool link = S_ISLNK(ls.st_mode), target = stat(path, &ts) == 0;
    const struct stat *t = link ? &ts : &ls;
    bool ok = link ? target && S_ISCHR(ts.st_mode) : S_ISREG(ls.st_mode) || S_ISCHR(ls.st_mode);
    if (ok) return PD_OK;
    return pd_fail(PD_ERR_IO, "%s: not a regular file (found %s%s); pixeldit appends its rows there: "
                   "remove it or choose another --out", path, link ? "a symbolic link to " : "",
                   link && !target ? "nothing" : pd_file_kind(t->st_mode));
}

char *pd_run_dir_sample_path(const pd_run_dir *rd, const char *name) {
    char *slash = join(rd->samples, "/");
    char *path = slash ? join(slash, name) : NULL;
    free(slash);
    return path;
}

pd_status pd_log_printf(FILE *f, const char *path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(f, fmt, ap);
    va_end(ap);
    if (n < 0 || ferror(f))
        return pd_fail(PD_ERR_IO, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
    return PD_OK;
}

pd_status pd_log_flush(FILE *f, const char *path) {
    if (fflush(f) != 0 || ferror(f))
        return pd_fail(PD_ERR_IO, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
    return PD_OK;
}
