/* See file_open.h. */
#include "file_open.h"
#include "file_write.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *pd_file_kind(unsigned mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    default: return "not a regular file";
    }
}

int pd_open_regular(const char *path, const char *what, pd_status status, struct stat *out) {
    if (!status) status = PD_ERR_IO;
    const char *sep = what ? " " : "";
    if (!what) what = "";
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        pd_fail(status, "%s%s%s: cannot open: %s", what, sep, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        pd_fail(status, "%s%s%s: cannot stat: %s", what, sep, path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        pd_fail(status, "%s%s%s: not a regular file (found %s)", what, sep, path,
                pd_file_kind(st.st_mode));
        close(fd);
        return -1;
    }
    /* a regular file never blocks, but reads should not see EAGAIN either */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (out) *out = st;
    return fd;
}

FILE *pd_fopen_regular(const char *path, const char *what, pd_status status) {
    int fd = pd_open_regular(path, what, status, NULL);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        pd_fail(status ? status : PD_ERR_IO, "%s%s%s: cannot open: %s", what ? what : "",
                what ? " " : "", path, strerror(errno));
        close(fd);
    }
    return f;
}

int pd_tmp_open_excl(const char *tmp) {
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(tmp, flags, 0644);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) fd = open(tmp, flags, 0644);
    return fd;
}

int pd_tmp_create(const char *path, char *tmp, size_t tmp_cap) {
    int n = snprintf(tmp, tmp_cap, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= tmp_cap) {
        pd_fail(PD_ERR_IO, "%s: path too long for its temporary file", path);
        return -1;
    }
    int fd = pd_tmp_open_excl(tmp);
    if (fd < 0) pd_fail(PD_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    return fd;
}

pd_status pd_tmp_commit(int fd, const char *tmp, const char *path) {
    pd_status s = PD_OK;
    if (fsync(fd) != 0)
        s = pd_fail(PD_ERR_IO, "%s: sync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && !s)
        s = pd_fail(PD_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (!s && rename(tmp, path) != 0)
        s = pd_fail(PD_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (s) {
        unlink(tmp);
        return s;
    }
    pd_sync_parent_dir(path);
    return PD_OK;
}

pd_status pd_tmp_commit_stream(FILE *f, const char *tmp, const char *path) {
    pd_status s = PD_OK;
    if (fflush(f) != 0 || ferror(f))
        s = pd_fail(PD_ERR_IO, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
    int fd = dup(fileno(f)); /* fclose flushes nothing more; keep a descriptor to commit */
    if (fclose(f) != 0 && !s)
        s = pd_fail(PD_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (fd < 0 && !s) s = pd_fail(PD_ERR_IO, "%s: dup failed: %s", path, strerror(errno));
    if (s) {
        pd_tmp_abandon(fd, tmp);
        return s;
    }
    return pd_tmp_commit(fd, tmp, path);
}

FILE *pd_tmp_fopen(const char *path, char *tmp, size_t tmp_cap) {
    int fd = pd_tmp_create(path, tmp, tmp_cap);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        pd_fail(PD_ERR_NOMEM, "%s: cannot open a stream: %s", tmp, strerror(errno));
        pd_tmp_abandon(fd, tmp);
    }
    return f;
}

void pd_tmp_abandon(int fd, const char *tmp) {
    if (fd >= 0) close(fd);
    unlink(tmp);
}
