/* file.c — reading capped files and replacing files atomically. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_fd(int fd, const char *path, size_t max, gs_buf_t *out, gs_diag_t *diag)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n == 0)
            return GS_OK;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return gs_diag_set(diag, GS_EIO, "%s: cannot read: %s", path, strerror(errno));
        }
        if (out->len + (size_t)n > max)
            return gs_diag_set(diag, GS_ETOOBIG, "%s: larger than the %zu-byte limit", path, max);
        if (gs_buf_append(out, chunk, (size_t)n))
            return gs_diag_set(diag, GS_ENOMEM, "%s: out of memory", path);
    }
}

int gs_file_read(const char *path, size_t max, gs_buf_t *out, gs_diag_t *diag)
{
    int fd, err;
    struct stat st;
    if (out->max < max)
        out->max = max;
    if (strcmp(path, "-") == 0)
        return read_fd(STDIN_FILENO, "<stdin>", max, out, diag);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gs_diag_set(diag, errno == ENOENT ? GS_ENOENT : GS_EIO, "%s: cannot open: %s", path,
                           strerror(errno));
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return gs_diag_set(diag, GS_EIO, "%s: is a folder, not a file", path);
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
        close(fd);
        return gs_diag_set(diag, GS_ETOOBIG, "%s: %lld bytes, over the %zu-byte limit", path,
                           (long long)st.st_size, max);
    }
    err = read_fd(fd, path, max, out, diag);
    close(fd);
    if (err == GS_OK && out->data == NULL)
        err = gs_buf_append(out, "", 0);
    return err;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int gs_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         gs_diag_t *diag)
{
    char tmp[4096];
    int fd, n;
    n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return gs_diag_set(diag, GS_EINVAL, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return gs_diag_set(diag, GS_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return gs_diag_set(diag, GS_EIO, "%s: cannot write: %s", tmp, strerror(e));
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return gs_diag_set(diag, GS_EIO, "%s: cannot replace: %s", path, strerror(e));
    }
    return GS_OK;
}

int gs_mkdir_p(const char *path, gs_diag_t *diag)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return gs_diag_set(diag, GS_EINVAL, "bad folder name '%s'", path);
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return gs_diag_set(diag, GS_EIO, "%s: cannot create: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return gs_diag_set(diag, GS_EIO, "%s: cannot create: %s", buf, strerror(errno));
    return GS_OK;
}
