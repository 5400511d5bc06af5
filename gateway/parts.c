/* parts.c — uploads in parts (docs/gateway-api.md), for files larger than one request
 * should carry: the HTTP server keeps a whole request body in memory before the gateway
 * sees it, so one 1 GiB POST costs 1 GiB of memory, where parts of at most GW_PART_MAX
 * cost one part. An upload in parts is a file data_dir/uploads/<id>.part, and nothing
 * else: its size is the offset the next part must start at, so parts are appended in
 * order, a part sent twice is refused (409 with the size) and the client goes on from
 * there. `done` renames it to the job's file and it becomes a job like a single upload
 * (fsynced, recorded, 202). A .part file is not a job: a gateway that restarts forgets
 * it (the client starts again), and one untouched for a day is removed. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void part_path(const gw_t *gw, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s/uploads/%s.part", gw->cfg.data_dir, id);
}

/* The path's upload id when it is well formed, else NULL after answering 404. */
static const char *upload_id(gs_http_req_t *r)
{
    const char *id = gs_http_req_param(r, 0);
    size_t n = strlen(id);
    if (n != GW_JOB_ID_LEN || strspn(id, "0123456789abcdef") != n) {
        gs_http_reply_error(r, 404, "no upload %.40s: POST /api/v1/uploads starts one", id);
        return NULL;
    }
    return id;
}

/* Opens the upload's .part file (flags as for open); -1 after answering 404 or 503. */
static int open_part(gw_t *gw, gs_http_req_t *r, const char *id, int flags, struct stat *st)
{
    char path[1200];
    int fd;
    part_path(gw, id, path, sizeof path);
    if ((fd = open(path, flags | O_CLOEXEC)) < 0 || fstat(fd, st) != 0) {
        if (fd >= 0)
            close(fd);
        if (errno == ENOENT)
            gs_http_reply_error(r, 404,
                                "no upload %s (finished, abandoned, or the gateway restarted): "
                                "POST /api/v1/uploads starts one",
                                id);
        else
            gs_http_reply_error(r, 503, "the gateway's disk refused the upload");
        return -1;
    }
    return fd;
}

void gw_parts_new(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    unsigned char raw[GW_JOB_ID_LEN / 2];
    char id[GW_JOB_ID_LEN + 1], path[1200];
    int fd;
    if (!gw_may_upload(gw, r))
        return;
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(id, sizeof id, raw, sizeof raw);
    part_path(gw, id, path, sizeof path);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        gs_http_reply_error(r, 503, "the gateway's disk refused a new upload");
        return;
    }
    close(fd);
    gs_http_reply_json(r, 201,
                       json_pack("{s:s, s:I, s:I}", "upload", id, "part_max",
                                 (json_int_t)GW_PART_MAX, "max_upload",
                                 (json_int_t)gw->cfg.max_upload));
}

/* ?offset=N: the size the upload must have for this part. */
static bool part_offset(gs_http_req_t *r, uint64_t *offset)
{
    char text[24], *end;
    if (!gs_http_req_query(r, "offset", text, sizeof text) || text[0] < '0' || text[0] > '9') {
        gs_http_reply_error(r, 400, "offset: where this part starts, like ?offset=0");
        return false;
    }
    errno = 0;
    *offset = strtoull(text, &end, 10);
    if (*end != '\0' || errno != 0) {
        gs_http_reply_error(r, 400, "offset: where this part starts, like ?offset=0");
        return false;
    }
    return true;
}

void gw_parts_put(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    const char *id;
    size_t len = 0;
    const char *body = gs_http_req_body(r, &len);
    uint64_t offset;
    struct stat st;
    int fd;
    if (!gw_may_upload(gw, r) || (id = upload_id(r)) == NULL || !part_offset(r, &offset) ||
        (fd = open_part(gw, r, id, O_WRONLY | O_APPEND, &st)) < 0)
        return;
    if (offset != (uint64_t)st.st_size)
        gs_http_reply_json(r, 409,
                           json_pack("{s:s, s:I}", "error",
                                     "this part does not start where the upload ends: "
                                     "send the part that starts at `size`",
                                     "size", (json_int_t)st.st_size));
    else if (offset + len > gw->cfg.max_upload)
        gs_http_reply_error(r, 413, "the upload would be %" PRIu64 " bytes; at most %" PRIu64,
                            offset + len, gw->cfg.max_upload);
    else if (gw_write_all(fd, body, len) != GS_OK)
        gs_http_reply_error(r, 503, "the gateway's disk refused the part");
    else
        gs_http_reply_json(
            r, 200, json_pack("{s:s, s:I}", "upload", id, "size", (json_int_t)(offset + len)));
    close(fd);
}

void gw_parts_done(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    char ext[GS_CODEC_EXT_MAX + 1], from[1200], to[1200];
    const char *id;
    struct stat st;
    int fd;
    if (!gw_may_upload(gw, r) || (id = upload_id(r)) == NULL || !gw_upload_ext(r, ext) ||
        (fd = open_part(gw, r, id, O_RDONLY, &st)) < 0)
        return;
    part_path(gw, id, from, sizeof from);
    gw_jobs_upload_path(gw, id, to, sizeof to);
    if (rename(from, to) != 0) {
        close(fd);
        gs_http_reply_error(r, 503, "the gateway's disk refused to finish the upload");
        return;
    }
    gw_upload_commit(gw, r, id, ext, fd, (size_t)st.st_size);
}

void gw_parts_prune(gw_t *gw, long older_than_s)
{
    char dir[1100], path[1400];
    time_t now = time(NULL);
    struct stat st;
    struct dirent *e;
    DIR *d;
    snprintf(dir, sizeof dir, "%s/uploads", gw->cfg.data_dir);
    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot == NULL || strcmp(dot, ".part") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && now - st.st_mtime >= older_than_s) {
            gs_log(GS_LOG_INFO, "removing %s: an upload in parts abandoned", path);
            unlink(path);
        }
    }
    closedir(d);
}
