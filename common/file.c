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

/* Writes data to a new temporary file beside path; *tmp_out is heap-allocated. */
static int write_temp(const char *path, const void *data, size_t len, unsigned mode, char **tmp_out,
                      gs_diag_t *diag)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    int fd;
    *tmp_out = NULL;
    if (tmp == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return gs_diag_set(diag, GS_EIO, "%s: cannot create: %s", path, strerror(e));
    }
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return gs_diag_set(diag, GS_EIO, "%s: cannot write: %s", path, strerror(e));
    }
    *tmp_out = tmp;
    return GS_OK;
}

int gs_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         gs_diag_t *diag)
{
    gs_file_batch_t b = {0};
    int err = gs_file_stage(&b, path, data, len, mode, diag);
    if (err == GS_OK)
        return gs_file_commit(&b, diag);
    gs_file_abort(&b);
    return err;
}

int gs_file_stage(gs_file_batch_t *b, const char *path, const void *data, size_t len, unsigned mode,
                  gs_diag_t *diag)
{
    char **tmp = realloc(b->tmp, (b->n + 1) * sizeof *tmp);
    char **paths = tmp ? realloc(b->path, (b->n + 1) * sizeof *paths) : NULL;
    int err;
    if (tmp)
        b->tmp = tmp;
    if (paths)
        b->path = paths;
    if (tmp == NULL || paths == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    b->path[b->n] = gs_strdup(path);
    if (b->path[b->n] == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    err = write_temp(path, data, len, mode, &b->tmp[b->n], diag);
    if (err) {
        free(b->path[b->n]);
        return err;
    }
    b->n++;
    return GS_OK;
}

static void batch_free(gs_file_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->tmp[i]);
        free(b->path[i]);
    }
    free(b->tmp);
    free(b->path);
    memset(b, 0, sizeof *b);
}

int gs_file_commit(gs_file_batch_t *b, gs_diag_t *diag)
{
    int err = GS_OK;
    for (size_t i = 0; i < b->n; i++) {
        if (err == GS_OK && rename(b->tmp[i], b->path[i]) < 0)
            err = gs_diag_set(diag, GS_EIO, "%s: cannot replace: %s", b->path[i], strerror(errno));
        if (err)
            unlink(b->tmp[i]);
    }
    batch_free(b);
    return err;
}

void gs_file_abort(gs_file_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        unlink(b->tmp[i]);
    batch_free(b);
}

static int make_dir(const char *path, gs_diag_t *diag)
{
    struct stat st;
    if (mkdir(path, 0755) == 0)
        return GS_OK;
    if (errno != EEXIST)
        return gs_diag_set(diag, GS_EIO, "%s: cannot create: %s", path, strerror(errno));
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return gs_diag_set(diag, GS_EIO, "%s: exists and is not a folder", path);
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
        int err;
        *p = '\0';
        err = make_dir(buf, diag);
        if (err)
            return err;
        *p = '/';
    }
    return make_dir(buf, diag);
}
