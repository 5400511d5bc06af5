/* files.c — the gateway's file API (docs/gateway-api.md): uploads into the job queue, a
 * job's status (long-poll), files streamed back (with Range), whether a file exists, its
 * check, and the gateway's verification key. Lookups, reads and checks run through the
 * codec on the loop while the request waits (deferred); a read is streamed: the codec's
 * reader pauses while a piece is on its way to the client and resumes when h2o asks for
 * more, so memory stays a few stripes whatever the file's size. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOKUP_DEADLINE_MS 30000
#define CHECK_DEADLINE_MS  600000
#define UPLOAD_DEADLINE_MS 120000

/* ---- upload ---------------------------------------------------------------------------------- */

/* An upload's bytes go to its job's file at once, on the loop thread (into the page cache:
 * the body is the request's, and it would not outlive a client that goes away while a
 * thread still reads it); the fsync that makes them durable runs on the threadpool while
 * the request waits. Only then is the job recorded and answered. */
typedef struct {
    uv_work_t work;
    gw_t *gw;
    int fd;
    char id[GW_JOB_ID_LEN + 1], ext[GS_CODEC_EXT_MAX + 1];
    size_t len;
    int err, refs;
    gs_http_req_t *req; /* while its turn is to come */
    bool synced, written;
} upload_t;

static void upload_release(upload_t *u)
{
    if (--u->refs == 0)
        free(u);
}

int gw_write_all(int fd, const char *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return GS_EIO;
        done += (size_t)n;
    }
    return GS_OK;
}

/* The body into job id's new file; its descriptor, or -1 (the file removed). */
static int write_body(gw_t *gw, const char *id, const char *body, size_t len)
{
    char path[1200];
    int fd;
    gw_jobs_upload_path(gw, id, path, sizeof path);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        return -1;
    if (gw_write_all(fd, body, len) != GS_OK) {
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

static void sync_work(uv_work_t *w)
{
    upload_t *u = w->data;
    if (fsync(u->fd) != 0)
        u->err = GS_EIO;
    if (close(u->fd) != 0)
        u->err = GS_EIO;
}

/* The upload's turn, once its file is durable (or at the deadline, or when the client went
 * away): the job is recorded and answered. A file whose job was not recorded is removed. */
static void on_upload_turn(gs_http_req_t *r, void *arg)
{
    upload_t *u = arg;
    gs_diag_t diag = {{0}};
    char path[1200];
    bool recorded = false;
    u->req = NULL;
    gw_jobs_upload_path(u->gw, u->id, path, sizeof path);
    if (r == NULL || !u->synced) {
        if (r != NULL)
            gs_http_reply_error(r, 504, "the gateway's disk did not take the upload in time");
    } else if (!u->written) {
        gs_http_reply_error(r, 503, "the upload could not be written to the gateway's disk");
    } else if (gw_jobs_add(u->gw, u->id, u->ext, &diag) != GS_OK) {
        gs_http_reply_error(r, 503, "%s", diag.msg);
    } else {
        recorded = true;
        gs_http_reply_json(r, 202,
                           json_pack("{s:s, s:I}", "job", u->id, "size", (json_int_t)u->len));
    }
    if (!recorded && u->synced)
        unlink(path); /* else sync_done removes it */
    upload_release(u);
}

static void sync_done(uv_work_t *w, int status)
{
    upload_t *u = w->data;
    char path[1200];
    u->synced = true;
    u->written = status == 0 && u->err == GS_OK;
    if (u->req != NULL) {
        gs_http_defer_now(u->req);
    } else { /* answered already: nobody knows this job */
        gw_jobs_upload_path(u->gw, u->id, path, sizeof path);
        unlink(path);
    }
    upload_release(u);
}

bool gw_upload_ext(gs_http_req_t *r, char ext[GS_CODEC_EXT_MAX + 1])
{
    ext[0] = '\0';
    if (!gs_http_req_has_query(r, "ext"))
        return true;
    if (!gs_http_req_query(r, "ext", ext, GS_CODEC_EXT_MAX + 1) || !gs_codec_ext_valid(ext)) {
        gs_http_reply_error(r, 400, "ext: 1 to %d characters of a-z and 0-9, like ?ext=jpg",
                            GS_CODEC_EXT_MAX);
        return false;
    }
    return true;
}

/* The upload's turn comes once its file (open as fd, len bytes) is durable: fsynced on the
 * threadpool while the request waits, then its job recorded and answered 202. Takes the
 * file: on an error it is answered, closed and removed. */
void gw_upload_commit(gw_t *gw, gs_http_req_t *r, const char *id, const char *ext, int fd,
                      size_t len)
{
    upload_t *u = calloc(1, sizeof *u);
    char path[1200];
    if (u != NULL) {
        *u = (upload_t){.gw = gw, .fd = fd, .len = len, .refs = 2, .req = r};
        snprintf(u->id, sizeof u->id, "%s", id);
        snprintf(u->ext, sizeof u->ext, "%s", ext);
        u->work.data = u;
    }
    if (u == NULL || gs_http_defer(r, UPLOAD_DEADLINE_MS, on_upload_turn, u) != GS_OK) {
        close(fd);
        gw_jobs_upload_path(gw, id, path, sizeof path);
        unlink(path);
        free(u);
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    uv_queue_work(&gw->loop, &u->work, sync_work, sync_done);
}

bool gw_may_upload(gw_t *gw, gs_http_req_t *r)
{
    if (gw->cfg.mode == GS_GW_READ_ONLY) {
        gs_http_reply_error(r, 403,
                            "this gateway (%s) is read-only: uploads and repairs go "
                            "through the read-write gateway on M1",
                            gw->cfg.role ? gw->cfg.role : "replica");
        return false;
    }
    return gw_authorized(gw, r);
}

void gw_upload(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    unsigned char raw[GW_JOB_ID_LEN / 2];
    char ext[GS_CODEC_EXT_MAX + 1], id[GW_JOB_ID_LEN + 1];
    size_t len = 0;
    const char *body = gs_http_req_body(r, &len);
    int fd;
    if (!gw_may_upload(gw, r) || !gw_upload_ext(r, ext))
        return;
    if (len > gw->cfg.max_upload) {
        gs_http_reply_error(r, 413, "the upload is %zu bytes; this gateway takes at most %" PRIu64,
                            len, gw->cfg.max_upload);
        return;
    }
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(id, sizeof id, raw, sizeof raw);
    if ((fd = write_body(gw, id, body, len)) < 0) {
        gs_http_reply_error(r, 503, "the upload could not be written to the gateway's disk");
        return;
    }
    gw_upload_commit(gw, r, id, ext, fd, len);
}

/* ---- status ------------------------------------------------------------------------------- */

typedef struct {
    gw_t *gw;
    gs_http_req_t *watched;
    char id[GW_JOB_ID_LEN + 1];
} poll_t;

static void reply_status(gw_t *gw, gs_http_req_t *r, const char *id, const char *status)
{
    json_t *j = json_pack("{s:s, s:s}", "job", id, "status", status);
    if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "TIMEOUT") != 0 &&
        strncmp(status, "ERROR:", 6) != 0) {
        char sig[129];
        gw_sign(gw, status, sig);
        json_object_set_new(j, "signature", json_string(sig));
    }
    gs_http_reply_json(r, 200, j);
}

static void on_poll_turn(gs_http_req_t *r, void *arg)
{
    poll_t *p = arg;
    char status[GS_DIAG_MAX + 16];
    gw_jobs_unwatch(p->gw, p->watched);
    if (r != NULL) {
        if (!gw_jobs_status(p->gw, p->id, status, sizeof status))
            gs_http_reply_error(r, 404, "no job %s", p->id);
        else
            reply_status(p->gw, r, p->id, strcmp(status, "ACTIVE") == 0 ? "TIMEOUT" : status);
    }
    free(p);
}

void gw_status(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    const char *id = gs_http_req_param(r, 0);
    char status[GS_DIAG_MAX + 16], text[16], *end;
    long wait = 0;
    poll_t *p;
    if (gs_http_req_has_query(r, "wait") &&
        (!gs_http_req_query(r, "wait", text, sizeof text) || (wait = strtol(text, &end, 10)) < 0 ||
         end == text || wait > GW_WAIT_MAX_S || *end != '\0')) {
        gs_http_reply_error(r, 400, "wait: a number of seconds from 0 to %d", GW_WAIT_MAX_S);
        return;
    }
    if (strlen(id) != GW_JOB_ID_LEN || !gw_jobs_status(gw, id, status, sizeof status)) {
        gs_http_reply_error(r, 404, "no job %.40s", id);
        return;
    }
    if (wait == 0 || strcmp(status, "ACTIVE") != 0) {
        reply_status(gw, r, id, status);
        return;
    }
    if ((p = calloc(1, sizeof *p)) == NULL ||
        gs_http_defer(r, (uint64_t)wait * 1000, on_poll_turn, p) != GS_OK) {
        free(p);
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    p->gw = gw;
    p->watched = r;
    snprintf(p->id, sizeof p->id, "%s", id);
    gw_jobs_watch(gw, id, r);
}

/* ---- lookups: get, exists, check, repair ------------------------------------------------------------ */

/* One get, exists or check. References: the request's turn (deferred), the codec operation
 * (lookup or check), and for a get the reader and the stream while they run. A get's answer
 * starts only once the first bytes were read (or the read ended), so that a file that
 * cannot be read (too many backends lost) is answered with a clear error, not a 200 that
 * breaks off; after that, a failure midway cuts the answer. */
enum { OP_GET, OP_EXISTS, OP_CHECK, OP_REPAIR };

typedef struct {
    gw_t *gw;
    gs_http_req_t *req; /* while its turn is to come */
    int op;
    bool hard;
    int refs;
    /* the outcome of the lookup or check */
    int err;
    char msg[GS_DIAG_MAX];
    gs_meta_t *meta;
    gs_codec_health_t health;
    unsigned rebuilt; /* a repair */
    /* a get */
    char range[128];
    int status; /* 200, 206, or 416 for a range past the end */
    uint64_t off, len;
    gs_codec_reader_t *reader; /* while reading */
    gs_http_stream_t *stream;  /* while answering */
    gs_buf_t pending;          /* bytes read, not yet handed to the stream */
    bool in_flight, read_done;
    int read_err;
    char read_msg[GS_DIAG_MAX];
} look_t;

static void look_release(look_t *l)
{
    if (--l->refs > 0)
        return;
    gs_meta_free(l->meta);
    gs_buf_free(&l->pending);
    free(l);
}

/* Parses "bytes=a-b", "bytes=a-" or "bytes=-n" for a file of size bytes into [*off,
 * *off + *len). GS_ERANGE when unsatisfiable, GS_EINVAL when not one such range (the
 * header is then ignored, as RFC 7233 allows). */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    unsigned long long a = 0, b = 0;
    int n = 0;
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
        return GS_EINVAL;
    h += 6;
    if (sscanf(h, "%llu-%llu%n", &a, &b, &n) == 2 && h[n] == '\0' && h[0] != '-') {
        if (a > b)
            return GS_EINVAL;
        if (a >= size)
            return GS_ERANGE;
        *off = a;
        *len = (b >= size ? size - 1 : b) - a + 1;
        return GS_OK;
    }
    if (sscanf(h, "%llu-%n", &a, &n) == 1 && h[n] == '\0' && h[0] != '-') {
        if (a >= size)
            return GS_ERANGE;
        *off = a;
        *len = size - a;
        return GS_OK;
    }
    if (h[0] == '-' && sscanf(h + 1, "%llu%n", &b, &n) == 1 && h[1 + n] == '\0' && h[1] >= '0' &&
        h[1] <= '9') {
        if (b == 0 || size == 0)
            return GS_ERANGE;
        *len = b > size ? size : b;
        *off = size - *len;
        return GS_OK;
    }
    return GS_EINVAL;
}

/* ---- streaming a read ---- */

/* The last piece (or the break) handed over: the stream's reference goes. */
static void finish_stream(look_t *l)
{
    if (l->read_err != GS_OK)
        gs_http_stream_abort(l->stream);
    else
        gs_http_stream_send(l->stream, l->pending.data ? l->pending.data : "", l->pending.len,
                            true);
    l->stream = NULL;
    look_release(l);
}

/* Hands what was read to the stream, and holds the reader until h2o asks for more. */
static void flush(look_t *l)
{
    if (l->pending.len == 0)
        return;
    if (gs_http_stream_send(l->stream, l->pending.data, l->pending.len, false) == GS_OK)
        l->in_flight = true;
    gs_buf_reset(&l->pending);
    if (l->reader != NULL)
        gs_codec_reader_pause(l->reader);
}

static void on_proceed(gs_http_stream_t *st, void *arg)
{
    look_t *l = arg;
    (void)st;
    l->in_flight = false;
    if (l->read_done)
        finish_stream(l);
    else if (l->pending.len > 0)
        flush(l);
    else if (l->reader != NULL)
        gs_codec_reader_resume(l->reader);
}

static void on_stream_stop(gs_http_stream_t *st, void *arg)
{
    look_t *l = arg;
    (void)st;
    l->stream = NULL;
    if (l->reader != NULL)
        gs_codec_reader_cancel(l->reader); /* its done follows */
    look_release(l);
}

static void on_piece(const uint8_t *p, size_t n, void *ud)
{
    look_t *l = ud;
    if (gs_buf_append(&l->pending, p, n) != GS_OK) {
        gs_codec_reader_cancel(l->reader);
        return;
    }
    if (l->req != NULL) { /* the first bytes: the answer can start */
        gs_codec_reader_pause(l->reader);
        gs_http_defer_now(l->req);
    } else if (l->stream != NULL && !l->in_flight) {
        flush(l);
    }
}

static void on_read_done(int err, const char *msg, void *ud)
{
    look_t *l = ud;
    l->read_done = true;
    l->reader = NULL;
    l->read_err = err;
    snprintf(l->read_msg, sizeof l->read_msg, "%s", msg ? msg : gs_strerror(err));
    if (err != GS_OK && err != GS_ECANCELED)
        gs_log(GS_LOG_WARN, "reading a file failed: %s", l->read_msg);
    if (l->req != NULL)
        gs_http_defer_now(l->req);
    else if (l->stream != NULL && !l->in_flight)
        finish_stream(l);
    look_release(l);
}

/* The record is known: which bytes, then the read (answered once bytes come). */
static void start_read(look_t *l)
{
    gs_diag_t diag = {{0}};
    int err;
    l->status = 200;
    l->off = 0;
    l->len = l->meta->size;
    if (l->range[0] != '\0') {
        err = parse_range(l->range, l->meta->size, &l->off, &l->len);
        if (err == GS_ERANGE) {
            l->status = 416;
            return;
        }
        if (err == GS_OK)
            l->status = 206;
    }
    l->refs++; /* the reader's */
    err = gs_codec_retrieve(gs_codec_shards(l->gw->codec), l->meta, l->off,
                            l->status == 206 ? l->len : UINT64_MAX, on_piece, on_read_done, l,
                            &l->reader, &diag);
    if (err != GS_OK) {
        l->refs--;
        l->read_done = true;
        l->read_err = err;
        snprintf(l->read_msg, sizeof l->read_msg, "%s", diag.msg);
    }
}

/* A get's answer: the head and what was read so far. */
static void answer_get(look_t *l, gs_http_req_t *r)
{
    char header[160];
    if (l->status == 416) {
        snprintf(header, sizeof header, "bytes */%" PRIu64, l->meta->size);
        gs_http_add_header(r, "Content-Range", header);
        gs_http_reply_error(r, 416, "the range is outside the file's %" PRIu64 " bytes",
                            l->meta->size);
        return;
    }
    if (l->read_done && l->read_err != GS_OK && l->pending.len == 0) {
        gs_http_reply_error(r, l->read_err == GS_EUNAVAIL ? 503 : 502,
                            "the file cannot be read now: %s", l->read_msg);
        return;
    }
    if (!l->read_done && l->pending.len == 0) {
        gs_codec_reader_cancel(l->reader);
        gs_http_reply_error(r, 504, "the backends did not answer in time");
        return;
    }
    if (l->status == 206) {
        snprintf(header, sizeof header, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, l->off,
                 l->off + l->len - 1, l->meta->size);
        gs_http_add_header(r, "Content-Range", header);
    }
    gs_http_add_header(r, "Accept-Ranges", "bytes");
    l->refs++; /* the stream's */
    l->stream = gs_http_stream_start(r, l->status, "application/octet-stream", (int64_t)l->len,
                                     on_proceed, on_stream_stop, l);
    if (l->read_done)
        finish_stream(l);
    else {
        flush(l);
        if (!l->in_flight && l->reader != NULL)
            gs_codec_reader_resume(l->reader);
    }
}

static void answer_check(gs_http_req_t *r, const gs_codec_health_t *h)
{
    json_t *states = json_array();
    static const char *const names[] = {"good", "missing", "bad"};
    for (unsigned i = 0; i < h->n_shards; i++)
        json_array_append_new(states, json_string(names[h->shard_state[i] % 3]));
    gs_http_reply_json(r, 200,
                       json_pack("{s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:o}", "shards",
                                 (json_int_t)h->n_shards, "good", (json_int_t)h->good, "missing",
                                 (json_int_t)h->missing, "bad", (json_int_t)h->bad, "readable",
                                 h->readable, "hard_checked", h->hard_checked, "hash_ok",
                                 h->hash_ok, "shard_states", states));
}

/* The request's turn: the lookup (or check) ended, a get's first bytes came, or the
 * deadline passed; r is NULL when the client went away. */
static void on_look_turn(gs_http_req_t *r, void *arg)
{
    look_t *l = arg;
    bool looked = l->meta != NULL || l->err != 1;
    l->req = NULL;
    if (r == NULL) {
        if (l->reader != NULL)
            gs_codec_reader_cancel(l->reader);
    } else if (!looked) {
        gs_http_reply_error(r, 504, "the metadata did not answer in time");
    } else if (l->op == OP_EXISTS && (l->err == GS_OK || l->err == GS_ENOENT)) {
        gs_http_reply_json(r, 200, json_pack("{s:b}", "exists", l->err == GS_OK));
    } else if (l->err == GS_ENOENT) {
        gs_http_reply_error(r, 404, "no such file");
    } else if (l->err != GS_OK) {
        gs_http_reply_error(r, l->err == GS_EUNAVAIL ? 503 : 502, "%s", l->msg);
    } else if (l->op == OP_CHECK) {
        answer_check(r, &l->health);
    } else if (l->op == OP_REPAIR) {
        gs_http_reply_json(r, 200, json_pack("{s:I}", "rebuilt", (json_int_t)l->rebuilt));
    } else {
        answer_get(l, r);
    }
    look_release(l);
}

static void look_ended(look_t *l, int err, const char *msg)
{
    l->err = err;
    snprintf(l->msg, sizeof l->msg, "%s", msg && msg[0] ? msg : gs_strerror(err));
    if (l->op == OP_GET && err == GS_OK && l->req != NULL) {
        start_read(l);
        if (l->status == 416 || l->read_done)
            gs_http_defer_now(l->req);
    } else if (l->req != NULL) {
        gs_http_defer_now(l->req);
    }
    look_release(l);
}

static void on_meta(int err, const char *msg, gs_meta_t *m, void *ud)
{
    look_t *l = ud;
    l->meta = m;
    look_ended(l, err, msg);
}

static void on_checked(int err, const char *msg, const gs_codec_health_t *h, void *ud)
{
    look_t *l = ud;
    if (h != NULL)
        l->health = *h;
    look_ended(l, err, msg);
}

static void on_repaired(int err, const char *msg, unsigned rebuilt, void *ud)
{
    look_t *l = ud;
    l->rebuilt = rebuilt;
    look_ended(l, err, msg);
}

/* Starts the operation on the file id of path parameter 0, the request deferred
 * meanwhile. */
static void look(gs_http_req_t *r, gw_t *gw, int op, bool hard)
{
    const char *id = gs_http_req_param(r, 0);
    look_t *l;
    gs_diag_t diag = {{0}};
    uint8_t hash[GS_CODEC_HASH_LEN];
    uint64_t meta_id;
    char ext[GS_CODEC_EXT_MAX + 1];
    int err;
    if (gs_codec_id_parse(id, hash, &meta_id, ext, &diag) != GS_OK) {
        gs_http_reply_error(r, 400, "%s", diag.msg);
        return;
    }
    if ((l = calloc(1, sizeof *l)) == NULL) {
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    *l = (look_t){.gw = gw, .req = r, .op = op, .hard = hard, .refs = 2, .err = 1};
    gs_buf_init(&l->pending, 64u << 20);
    gs_http_req_header(r, "range", l->range, sizeof l->range);
    if (gs_http_defer(r, op >= OP_CHECK ? CHECK_DEADLINE_MS : LOOKUP_DEADLINE_MS, on_look_turn,
                      l) != GS_OK) {
        free(l);
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    if (op == OP_CHECK)
        err = gs_codec_check(gw->codec, id, hard, on_checked, l, &diag);
    else if (op == OP_REPAIR)
        err = gs_codec_repair(gw->codec, id, on_repaired, l, &diag);
    else
        err = gs_codec_lookup(gw->codec, id, on_meta, l, &diag);
    if (err != GS_OK)
        look_ended(l, err, diag.msg);
}

void gw_get(gs_http_req_t *r, void *ud)
{
    look(r, ud, OP_GET, false);
}

void gw_exists(gs_http_req_t *r, void *ud)
{
    look(r, ud, OP_EXISTS, false);
}

/* ?mode=soft (default) or ?mode=hard. */
void gw_check(gs_http_req_t *r, void *ud)
{
    char mode[8] = "soft";
    if (!gw_authorized(ud, r))
        return;
    if (gs_http_req_has_query(r, "mode") &&
        (!gs_http_req_query(r, "mode", mode, sizeof mode) ||
         (strcmp(mode, "soft") != 0 && strcmp(mode, "hard") != 0))) {
        gs_http_reply_error(r, 400, "mode: soft or hard");
        return;
    }
    look(r, ud, OP_CHECK, strcmp(mode, "hard") == 0);
}

/* Rebuilds what is missing or bad (the read-write gateway only: it rewrites the record on
 * the metadata master). */
void gw_repair(gs_http_req_t *r, void *ud)
{
    if (gw_may_upload(ud, r))
        look(r, ud, OP_REPAIR, false);
}
