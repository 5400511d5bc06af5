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

/* ---- security -------------------------------------------------------------------------- */

bool gw_authorized(gw_t *gw, gs_http_req_t *r)
{
    char header[512];
    size_t len;
    if (gw->cfg.secret == NULL)
        return true;
    len = strlen(gw->cfg.secret);
    if (gs_http_req_header(r, "authorization", header, sizeof header) &&
        strncmp(header, "Bearer ", 7) == 0 && strlen(header + 7) == len &&
        sodium_memcmp(header + 7, gw->cfg.secret, len) == 0)
        return true;
    gs_http_add_header(r, "WWW-Authenticate", "Bearer");
    gs_http_reply_error(r, 401,
                        "this gateway needs its secret: send Authorization: Bearer <secret>");
    return false;
}

void gw_sign(const gw_t *gw, const char *text, char out[129])
{
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), gw->sign_sk);
    sodium_bin2hex(out, 129, sig, sizeof sig);
}

void gw_pubkey(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    char hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
    sodium_bin2hex(hex, sizeof hex, gw->sign_pk, sizeof gw->sign_pk);
    gs_http_reply_json(r, 200, json_pack("{s:s, s:s}", "public_key", hex, "algorithm", "ed25519"));
}

/* ---- upload ---------------------------------------------------------------------------------- */

/* The body written to the job's file on the threadpool while the request waits. */
typedef struct {
    uv_work_t work;
    gw_t *gw;
    gs_http_req_t *req; /* NULL once the client went away */
    const char *body;   /* the request's, alive while it is deferred */
    size_t len;
    char id[GW_JOB_ID_LEN + 1], ext[GS_CODEC_EXT_MAX + 1];
    int err, refs;
    bool written;
} upload_t;

static void upload_release(upload_t *u)
{
    if (--u->refs == 0)
        free(u);
}

static void write_work(uv_work_t *w)
{
    upload_t *u = w->data;
    char path[1200];
    int fd;
    size_t done = 0;
    gw_jobs_upload_path(u->gw, u->id, path, sizeof path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    u->err = fd < 0 ? GS_EIO : GS_OK;
    while (u->err == GS_OK && done < u->len) {
        ssize_t n = write(fd, u->body + done, u->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            u->err = GS_EIO;
        else
            done += (size_t)n;
    }
    if (fd >= 0 && (fsync(fd) != 0 || close(fd) != 0))
        u->err = GS_EIO;
    if (u->err != GS_OK)
        unlink(path);
}

/* The upload's turn: the job is recorded (its file is whole on disk) and answered. */
static void on_upload_turn(gs_http_req_t *r, void *arg)
{
    upload_t *u = arg;
    gs_diag_t diag = {{0}};
    char path[1200];
    u->req = NULL;
    if (!u->written || u->err != GS_OK) {
        if (r != NULL)
            gs_http_reply_error(r, 503, "the upload could not be written to the gateway's disk");
    } else if (gw_jobs_add(u->gw, u->id, u->ext, &diag) != GS_OK) {
        gw_jobs_upload_path(u->gw, u->id, path, sizeof path);
        unlink(path);
        if (r != NULL)
            gs_http_reply_error(r, 503, "%s", diag.msg);
    } else if (r != NULL)
        gs_http_reply_json(r, 202,
                           json_pack("{s:s, s:I}", "job", u->id, "size", (json_int_t)u->len));
    upload_release(u);
}

static void write_done(uv_work_t *w, int status)
{
    upload_t *u = w->data;
    u->written = status == 0;
    if (u->req != NULL)
        gs_http_defer_now(u->req);
    upload_release(u);
}

/* The extension: ?ext=, else none. */
static bool upload_ext(gs_http_req_t *r, char ext[GS_CODEC_EXT_MAX + 1])
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

void gw_upload(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    upload_t *u;
    unsigned char raw[GW_JOB_ID_LEN / 2];
    char ext[GS_CODEC_EXT_MAX + 1];
    size_t len = 0;
    const char *body = gs_http_req_body(r, &len);
    if (gw->cfg.mode == GS_GW_READ_ONLY) {
        gs_http_reply_error(r, 403,
                            "this gateway (%s) is read-only: upload through the "
                            "read-write gateway on M1",
                            gw->cfg.role ? gw->cfg.role : "replica");
        return;
    }
    if (!gw_authorized(gw, r) || !upload_ext(r, ext))
        return;
    if (len > gw->cfg.max_upload) {
        gs_http_reply_error(r, 413, "the upload is %zu bytes; this gateway takes at most %" PRIu64,
                            len, gw->cfg.max_upload);
        return;
    }
    if ((u = calloc(1, sizeof *u)) == NULL) {
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(u->id, sizeof u->id, raw, sizeof raw);
    snprintf(u->ext, sizeof u->ext, "%s", ext);
    u->gw = gw;
    u->req = r;
    u->body = body ? body : "";
    u->len = len;
    u->refs = 2;
    u->work.data = u;
    if (gs_http_defer(r, LOOKUP_DEADLINE_MS, on_upload_turn, u) != GS_OK) {
        free(u);
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    uv_queue_work(&gw->loop, &u->work, write_work, write_done);
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
         wait > GW_WAIT_MAX_S || *end != '\0')) {
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

/* ---- lookups: get, exists, check ------------------------------------------------------------ */

enum { OP_GET, OP_EXISTS, OP_CHECK };

typedef struct {
    gw_t *gw;
    gs_http_req_t *req; /* NULL once the client went away */
    int op;
    bool hard, answered;
    int refs;
    /* the outcome, for the request's turn */
    int err;
    char msg[GS_DIAG_MAX];
    gs_meta_t *meta;
    gs_codec_health_t health;
    /* a read being streamed */
    char range[128];
    gs_http_stream_t *stream;
    gs_codec_reader_t *reader;
    gs_buf_t pending; /* bytes the reader gave while a piece was out */
    bool in_flight, read_done, failed;
} look_t;

static void look_release(look_t *l)
{
    if (--l->refs > 0)
        return;
    gs_meta_free(l->meta);
    gs_buf_free(&l->pending);
    free(l);
}

/* Parses "bytes=a-b", "bytes=a-" or "bytes=-n" for a file of size bytes: [*off, *off+*len). */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    unsigned long long a = 0, b = 0;
    char tail;
    if (sscanf(h, "bytes=%llu-%llu%c", &a, &b, &tail) == 2 && a <= b) {
        if (a >= size)
            return GS_ERANGE;
        *off = a;
        *len = (b >= size ? size - 1 : b) - a + 1;
        return GS_OK;
    }
    if (sscanf(h, "bytes=%llu-%c", &a, &tail) == 1 && h[strlen(h) - 1] == '-') {
        if (a >= size)
            return GS_ERANGE;
        *off = a;
        *len = size - a;
        return GS_OK;
    }
    if (sscanf(h, "bytes=-%llu%c", &b, &tail) == 1 && b > 0) {
        *len = b > size ? size : b;
        *off = size - *len;
        return size ? GS_OK : GS_ERANGE;
    }
    return GS_EINVAL;
}

/* ---- streaming a read ---- */

/* The stream and the reader each hold a reference on the lookup while they run. The
 * stream's ends when its last piece (or an abort) is handed over, or when the client goes
 * away; the reader's when it is done. */

static void finish_stream(look_t *l)
{
    if (l->failed)
        gs_http_stream_abort(l->stream);
    else
        gs_http_stream_send(l->stream, l->pending.data ? l->pending.data : "", l->pending.len,
                            true);
    l->stream = NULL;
    look_release(l);
}

/* Sends what the reader gave, and holds the reader until h2o asks for more. */
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
    if (l->stream == NULL)
        return;
    gs_buf_append(&l->pending, p, n);
    if (!l->in_flight)
        flush(l);
}

static void on_read_done(int err, const char *msg, void *ud)
{
    look_t *l = ud;
    l->read_done = true;
    l->reader = NULL;
    if (err != GS_OK && err != GS_ECANCELED)
        gs_log(GS_LOG_WARN, "reading a file failed midway: %s", msg ? msg : gs_strerror(err));
    l->failed = err != GS_OK;
    if (l->stream != NULL && !l->in_flight)
        finish_stream(l);
    look_release(l);
}

/* The record is known: the answer's head, then the bytes. */
static void start_read(look_t *l, gs_http_req_t *r)
{
    uint64_t off = 0, len = l->meta->size;
    int status = 200;
    char header[160];
    gs_diag_t diag = {{0}};
    if (l->range[0] != '\0') {
        int err = parse_range(l->range, l->meta->size, &off, &len);
        if (err == GS_ERANGE) {
            snprintf(header, sizeof header, "bytes */%" PRIu64, l->meta->size);
            gs_http_add_header(r, "Content-Range", header);
            gs_http_reply_error(r, 416, "the range is past the file's %" PRIu64 " bytes",
                                l->meta->size);
            return;
        }
        if (err == GS_OK) {
            status = 206;
            snprintf(header, sizeof header, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
                     off + len - 1, l->meta->size);
            gs_http_add_header(r, "Content-Range", header);
        }
    }
    gs_http_add_header(r, "Accept-Ranges", "bytes");
    l->refs += 2; /* the stream and the reader */
    l->stream = gs_http_stream_start(r, status, "application/octet-stream", (int64_t)len,
                                     on_proceed, on_stream_stop, l);
    if (gs_codec_retrieve(gs_codec_shards(l->gw->codec), l->meta, off,
                          status == 206 ? len : UINT64_MAX, on_piece, on_read_done, l, &l->reader,
                          &diag) != GS_OK) {
        gs_log(GS_LOG_WARN, "reading a file failed: %s", diag.msg);
        l->failed = true;
        l->read_done = true;
        l->refs--; /* the reader's: it never started (the caller still holds its own) */
        finish_stream(l);
    }
}

/* The request's turn, once the lookup (or check) ended or at its deadline. */
static void on_look_turn(gs_http_req_t *r, void *arg)
{
    look_t *l = arg;
    l->req = NULL;
    if (r == NULL || l->answered) {
        look_release(l);
        return;
    }
    l->answered = true;
    if (l->op == OP_EXISTS && (l->err == GS_OK || l->err == GS_ENOENT))
        gs_http_reply_json(r, 200, json_pack("{s:b}", "exists", l->err == GS_OK));
    else if (l->err == GS_ENOENT)
        gs_http_reply_error(r, 404, "no such file");
    else if (l->err != GS_OK)
        gs_http_reply_error(r, l->err == GS_EUNAVAIL ? 503 : 502, "%s", l->msg);
    else if (l->op == OP_CHECK) {
        const gs_codec_health_t *h = &l->health;
        gs_http_reply_json(r, 200,
                           json_pack("{s:I, s:I, s:I, s:I, s:b, s:b, s:b}", "shards",
                                     (json_int_t)h->n_shards, "good", (json_int_t)h->good,
                                     "missing", (json_int_t)h->missing, "bad", (json_int_t)h->bad,
                                     "readable", h->readable, "hard_checked", h->hard_checked,
                                     "hash_ok", h->hash_ok));
    } else
        start_read(l, r);
    look_release(l);
}

static void look_ended(look_t *l, int err, const char *msg)
{
    l->err = err;
    snprintf(l->msg, sizeof l->msg, "%s", msg ? msg : "");
    if (l->req != NULL)
        gs_http_defer_now(l->req);
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

/* Starts the operation on the id of path parameter 0, the request deferred meanwhile. */
static void look(gs_http_req_t *r, gw_t *gw, int op, bool hard)
{
    const char *id = gs_http_req_param(r, 0);
    look_t *l = calloc(1, sizeof *l);
    gs_diag_t diag = {{0}};
    uint8_t hash[GS_CODEC_HASH_LEN];
    uint64_t meta_id;
    char ext[GS_CODEC_EXT_MAX + 1];
    int err;
    if (l == NULL) {
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    if (gs_codec_id_parse(id, hash, &meta_id, ext, &diag) != GS_OK) {
        free(l);
        gs_http_reply_error(r, 400, "%s", diag.msg);
        return;
    }
    *l = (look_t){.gw = gw, .req = r, .op = op, .hard = hard, .refs = 2};
    gs_buf_init(&l->pending, 64u << 20);
    gs_http_req_header(r, "range", l->range, sizeof l->range);
    if (gs_http_defer(r, op == OP_CHECK ? CHECK_DEADLINE_MS : LOOKUP_DEADLINE_MS, on_look_turn,
                      l) != GS_OK) {
        free(l);
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    err = op == OP_CHECK ? gs_codec_check(gw->codec, id, hard, on_checked, l, &diag)
                         : gs_codec_lookup(gw->codec, id, on_meta, l, &diag);
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

void gw_check(gs_http_req_t *r, void *ud)
{
    char text[8] = "";
    if (!gw_authorized(ud, r))
        return;
    gs_http_req_query(r, "hard", text, sizeof text);
    look(r, ud, OP_CHECK, strcmp(text, "1") == 0 || strcmp(text, "true") == 0);
}
