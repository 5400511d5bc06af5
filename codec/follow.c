/* follow.c — metadata replication: a follower that copies the metadata master namespace
 * (sequential mode) to a replica namespace on another 0-db, id for id. File ids carry the
 * metadata record's id, so a replica is only useful when its ids are the master's.
 *
 * Where to resume. The follower keeps no file of its own: the replica is the state. The
 * replica's next sequential id (NSINFO `next_internal_id`, which counts every id ever
 * given, deleted ones included) is the first id still to copy. DBSIZE and `entries` count
 * live records only and a reverse SCAN skips deleted ones, so neither can tell a replica
 * whose last id was deleted from one that never had it; EXISTS cannot either. The field
 * is printed byte-swapped and holds 32 bits, so at most 2^32 ids are followed. Were it
 * misread, the first SET would come back with another id and the follower would stop
 * (fatal) rather than misalign the replica.
 *
 * A round: read both counters (NSINFO, which also gives `entries` and `mode`), copy up to
 * `batch` new ids, copy again the records named by gs_follower_resync_id, follow the
 * master's write log for rewrites, and, when caught up and the replica holds more live
 * records than the master, look for master deletions. Then the next round at once when
 * still behind, else after the poll interval. Every command of a round is finished before
 * the next round starts, so the counters are read with nothing in flight.
 *
 * New ids. GET id on the master (up to `window` in flight on one connection, so replies
 * come back in id order); a value becomes `SET "" value` on the replica, sent from the
 * GET's reply, hence in id order too, and the id the replica answers must be the id that
 * was read: any other id means something else wrote to the replica, and the follower
 * stops for good (fatal). A master id without a value below the master's counter was
 * deleted: the replica gets a one-byte placeholder at that id, deleted as soon as its id
 * is confirmed, so later ids stay aligned.
 *
 * Failures. A transport failure or an error reply ends the round: the follower reports
 * it, waits for what is in flight, and after the poll interval reads the replica's counter
 * again, which says what really landed (a SET may be applied even when its reply was
 * lost). A placeholder whose DEL was lost stays live: the deletion sweep removes it.
 *
 * Rewrites. Sequential mode lets a writer SET an existing id again; 0-db appends the new
 * version to its log, and SCAN from a cursor lists the keys written since. At start the
 * cursor is placed on the master's last id (KEYCUR), so every write after that is seen;
 * each listed id already copied is read again and SET under its id on the replica, which
 * answers nil without writing when the bytes are the same (so a new record is read twice
 * from the master but written once). Rewrites made while no follower ran are seen only
 * when they came after the master's last new record; the others need verify_on_start
 * (which walks the whole log once) or gs_follower_resync_id (one id on request). When
 * the master's last id is deleted there is no cursor to take, and the walk starts from
 * the beginning.
 *
 * A record the replica holds deleted while the master has it live cannot be repaired
 * (sequential mode refuses to SET a deleted id): it is reported at each rewrite.
 *
 * Foreign writes. A write to the replica by anything else is caught when it moves the
 * replica's counter away from the follower's (checked at each round) or takes an id the
 * follower was about to write (checked at each SET): the follower then stops for good. A
 * replica that already held foreign records when the follower started looks like a copy
 * resumed half-way; verify_on_start rewrites what differs.
 *
 * Deletions. A master DEL leaves no trace SCAN shows. When the follower is caught up and
 * the replica has more live records than the master, it walks the replica (SCAN), asks
 * the master EXISTS for each id and deletes on the replica what the master lost. A
 * deletion is thus applied within a round or two once the follower is caught up; while
 * it is behind, deletions wait.
 *
 * Memory: at most `window` commands in flight over both connections, a value each (8 MiB
 * at most), one SCAN page of ids and up to 4096 resync requests. */
#include "codec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_POLL_MS 1000u
#define DEFAULT_WINDOW  16u
#define MAX_WINDOW      256u
#define DEFAULT_BATCH   1024u
#define RESYNC_MAX      4096u
#define CURSOR_MAX      64u /* bytes of a SCAN cursor (0-db's are 8) */
#define PLACEHOLDER     "x" /* the value of a deleted id's stand-in */

typedef enum {
    PH_NEW,      /* not started */
    PH_IDLE,     /* waiting for the timer */
    PH_COUNTERS, /* NSINFO on both */
    PH_CURSOR,   /* KEYCUR on the master */
    PH_COPY,     /* new ids */
    PH_RESYNC,   /* ids asked for by gs_follower_resync_id */
    PH_UPDATES,  /* the master's log since the cursor */
    PH_SWEEP,    /* master deletions */
    PH_FAILED,   /* fatal */
} phase_t;

typedef enum {
    OP_NSINFO_M,
    OP_NSINFO_R,
    OP_KEYCUR,
    OP_GET_NEW,   /* master GET of an id to copy */
    OP_SET_NEW,   /* replica SET "" of it */
    OP_SET_GAP,   /* replica SET "" of a deleted id's placeholder */
    OP_DEL_GAP,   /* replica DEL of the placeholder */
    OP_GET_AGAIN, /* master GET of an id copied before */
    OP_SET_AGAIN, /* replica SET id */
    OP_DEL_AGAIN, /* replica DEL id: the master has it no more */
    OP_SCAN_M,
    OP_SCAN_R,
    OP_EXISTS, /* master EXISTS of a replica id */
} op_kind_t;

typedef struct {
    gs_follower_t *f;
    op_kind_t kind;
    uint64_t id;
} op_t;

typedef struct {
    size_t len; /* 0: from the beginning */
    char b[CURSOR_MAX];
} cursor_t;

/* A list of ids worked through in order. */
typedef struct {
    uint64_t *ids;
    size_t n, next;
} idlist_t;

typedef struct {
    uint64_t next, entries;
} counters_t;

struct gs_follower {
    uv_loop_t *loop;
    gs_zdb_t *master, *replica;
    char *mns, *rns; /* namespace names for NSINFO */
    gs_follower_opts_t o;
    uv_timer_t timer;
    phase_t phase;
    bool stopping, round_failed, next_known, have_cursor, verify_pending;
    unsigned inflight, counters_wait;
    counters_t cm, cr;
    uint64_t next;       /* every id below it is on the replica */
    uint64_t issue, end; /* PH_COPY: next id to read, end of this round's range */
    bool sweep_due;
    cursor_t cursor, page_cursor, sweep_cursor;
    idlist_t page;  /* ids of the SCAN page being worked through */
    bool page_last; /* the SCAN said there is no more */
    idlist_t resync, resync_work;
    uint64_t told_m, told_r; /* entries last reported as inconsistent */
    gs_follower_stats_t st;
    gs_follower_stopped_cb stopped;
    void *stopped_ud;
};

static void advance(gs_follower_t *f);
static void start_round(gs_follower_t *f);

/* ---- reporting ---- */

static void report(gs_follower_t *f, int err, bool fatal, const char *fmt, va_list ap)
{
    vsnprintf(f->st.last_error, sizeof f->st.last_error, fmt, ap);
    f->st.last_err = err;
    f->st.errors++;
    if (f->o.on_error) /* the owner logs it, at the rate it likes */
        f->o.on_error(err, f->st.last_error, fatal, f->o.ud);
    else
        gs_log(fatal ? GS_LOG_ERROR : GS_LOG_WARN, "replication: %s", f->st.last_error);
}

/* A failure that ends the round; the next one starts from the replica's counter. */
static void round_error(gs_follower_t *f, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void round_error(gs_follower_t *f, int err, const char *fmt, ...)
{
    va_list ap;
    if (f->round_failed || f->stopping || f->phase == PH_FAILED)
        return;
    f->round_failed = true;
    f->next_known = false;
    va_start(ap, fmt);
    report(f, err, false, fmt, ap);
    va_end(ap);
}

/* A failure worth logging that changes nothing in the round. */
static void soft_error(gs_follower_t *f, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void soft_error(gs_follower_t *f, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(f, err, false, fmt, ap);
    va_end(ap);
}

static void fatal(gs_follower_t *f, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fatal(gs_follower_t *f, int err, const char *fmt, ...)
{
    va_list ap;
    if (f->stopping || f->phase == PH_FAILED)
        return;
    f->phase = PH_FAILED;
    f->st.failed = true;
    uv_timer_stop(&f->timer);
    va_start(ap, fmt);
    report(f, err, true, fmt, ap);
    va_end(ap);
}

/* True while the round may go on. */
static bool live(const gs_follower_t *f)
{
    return !f->stopping && !f->round_failed && f->phase != PH_FAILED;
}

/* An "-error" reply as text for a message. */
static int reply_text(const gs_resp_value_t *v)
{
    return v->type == GS_RESP_ERROR || v->type == GS_RESP_SIMPLE
               ? (int)(v->len > 200 ? 200 : v->len)
               : 0;
}

/* True for the "-text" reply (0-db's texts, compared without case). */
static bool is_error(const gs_resp_value_t *v, const char *text)
{
    return v->type == GS_RESP_ERROR && v->len == strlen(text) &&
           strncasecmp(v->str, text, v->len) == 0;
}

/* ---- sending ---- */

static void on_reply(const gs_resp_value_t *v, int err, const char *msg, void *ud);

static int send_cmd(gs_follower_t *f, gs_zdb_t *z, op_kind_t kind, uint64_t id, size_t argc,
                    const char *const *argv, const size_t *lens)
{
    op_t *op = malloc(sizeof *op);
    int rc;
    if (op == NULL)
        rc = GS_ENOMEM;
    else {
        *op = (op_t){f, kind, id};
        rc = gs_zdb_command(z, argc, argv, lens, on_reply, op);
    }
    if (rc < 0) {
        free(op);
        round_error(f, rc, "%s: %s", gs_zdb_address(z), gs_strerror(rc));
        return rc;
    }
    f->inflight++;
    return GS_OK;
}

/* A command on one id: `NAME key` or `NAME key value`. */
static int send_id(gs_follower_t *f, gs_zdb_t *z, op_kind_t kind, const char *name, uint64_t id,
                   const void *value, size_t len)
{
    unsigned char key[8];
    const char *argv[] = {name, (const char *)key, value};
    size_t lens[] = {strlen(name), sizeof key, len};
    gs_zdb_id_key(id, key);
    return send_cmd(f, z, kind, id, value ? 3 : 2, argv, lens);
}

static int send_set_new(gs_follower_t *f, op_kind_t kind, uint64_t id, const void *p, size_t n)
{
    const char *argv[] = {"SET", "", p};
    size_t lens[] = {3, 0, n};
    return send_cmd(f, f->replica, kind, id, 3, argv, lens);
}

static int send_scan(gs_follower_t *f, gs_zdb_t *z, op_kind_t kind, const cursor_t *c)
{
    const char *argv[] = {"SCAN", c->b};
    size_t lens[] = {4, c->len};
    return send_cmd(f, z, kind, 0, c->len ? 2 : 1, argv, lens);
}

/* ---- counters ---- */

static int parse_nsinfo(const gs_resp_value_t *v, counters_t *c, const char **why)
{
    return gs_zdb_nsinfo_counters(v, &c->entries, &c->next, why);
}

static void on_nsinfo(gs_follower_t *f, op_kind_t kind, const gs_resp_value_t *v)
{
    gs_zdb_t *z = kind == OP_NSINFO_M ? f->master : f->replica;
    const char *why = NULL;
    int rc;
    if (v->type == GS_RESP_ERROR) {
        round_error(f, GS_EREFUSED, "%s: NSINFO: %.*s", gs_zdb_address(z), reply_text(v), v->str);
        return;
    }
    rc = parse_nsinfo(v, kind == OP_NSINFO_M ? &f->cm : &f->cr, &why);
    if (rc == GS_OK && kind == OP_NSINFO_M)
        f->st.master_next = f->cm.next; /* the lag grows even while the replica is away */
    if (rc == GS_EINVAL)
        fatal(f, rc, "%s: %s; replication stopped", gs_zdb_address(z), why);
    else if (rc < 0)
        round_error(f, rc, "%s: %s", gs_zdb_address(z), why);
}

static void begin_copy(gs_follower_t *f);

/* Checks the counters against what the follower knows, then goes on with the round. */
static void counters_done(gs_follower_t *f)
{
    uint64_t lag;
    if (!f->next_known) {
        f->next = f->cr.next;
        f->next_known = true;
    } else if (f->cr.next != f->next) {
        fatal(f, GS_ECORRUPT,
              "%s: the replica's next id is %" PRIu64 " where %" PRIu64
              " was expected: something else writes to the replica; replication stopped",
              gs_zdb_address(f->replica), f->cr.next, f->next);
        return;
    }
    if (f->cm.next < f->next) {
        fatal(f, GS_ECORRUPT,
              "the replica %s holds ids up to %" PRIu64 " but the master %s only up to %" PRIu64
              ": it follows another master, or was written to; replication stopped",
              gs_zdb_address(f->replica), f->next, gs_zdb_address(f->master), f->cm.next);
        return;
    }
    f->st.known = true;
    f->st.master_next = f->cm.next;
    f->st.master_entries = f->cm.entries;
    f->st.replica_entries = f->cr.entries;
    lag = f->cm.next - f->next;
    f->sweep_due = lag == 0 && f->cr.entries > f->cm.entries;
    if (lag == 0 && f->cr.entries < f->cm.entries &&
        (f->told_m != f->cm.entries || f->told_r != f->cr.entries)) {
        f->told_m = f->cm.entries;
        f->told_r = f->cr.entries;
        soft_error(f, GS_ECORRUPT,
                   "%s: the replica holds %" PRIu64 " live records, the master %" PRIu64
                   ": records were deleted on the replica by something else",
                   gs_zdb_address(f->replica), f->cr.entries, f->cm.entries);
    }
    if (f->have_cursor) {
        begin_copy(f);
        return;
    }
    f->phase = PH_CURSOR;
    f->have_cursor = true;
    f->cursor.len = 0;
    if (f->verify_pending || f->cm.next == 0) {
        f->verify_pending = false;
        begin_copy(f);
        return;
    }
    send_id(f, f->master, OP_KEYCUR, "KEYCUR", f->cm.next - 1, NULL, 0);
}

static void on_keycur(gs_follower_t *f, const gs_resp_value_t *v)
{
    if (v->type == GS_RESP_BULK && v->len > 0 && v->len <= CURSOR_MAX) {
        memcpy(f->cursor.b, v->str, v->len);
        f->cursor.len = v->len;
    } else if (v->type != GS_RESP_NIL) { /* nil: the last id is deleted; walk from the start */
        f->have_cursor = false;
        round_error(f, GS_EREFUSED, "%s: KEYCUR: %.*s", gs_zdb_address(f->master), reply_text(v),
                    v->str ? v->str : "unexpected reply");
        return;
    }
    begin_copy(f);
}

/* ---- new ids ---- */

static void begin_resync(gs_follower_t *f);

static void begin_copy(gs_follower_t *f)
{
    uint64_t batch = f->o.batch;
    f->phase = PH_COPY;
    f->issue = f->next;
    f->end = f->cm.next - f->next > batch ? f->next + batch : f->cm.next;
    advance(f);
}

static void pump_copy(gs_follower_t *f)
{
    while (live(f) && f->inflight < f->o.window && f->issue < f->end) {
        uint64_t id = f->issue++;
        send_id(f, f->master, OP_GET_NEW, "GET", id, NULL, 0);
    }
}

static void on_get_new(gs_follower_t *f, uint64_t id, const gs_resp_value_t *v)
{
    if (v->type == GS_RESP_BULK)
        send_set_new(f, OP_SET_NEW, id, v->str, v->len);
    else if (v->type == GS_RESP_NIL)
        send_set_new(f, OP_SET_GAP, id, PLACEHOLDER, sizeof PLACEHOLDER - 1);
    else
        round_error(f, GS_EREFUSED, "%s: GET %" PRIu64 ": %.*s", gs_zdb_address(f->master), id,
                    reply_text(v), v->str ? v->str : "unexpected reply");
}

static void on_set_new(gs_follower_t *f, op_kind_t kind, uint64_t id, const gs_resp_value_t *v)
{
    uint64_t got;
    if (v->type != GS_RESP_BULK || gs_zdb_key_id(v->str, v->len, &got) != GS_OK) {
        round_error(f, GS_EREFUSED, "%s: SET of id %" PRIu64 ": %.*s", gs_zdb_address(f->replica),
                    id, reply_text(v), v->str ? v->str : "unexpected reply");
        return;
    }
    if (got != id) {
        fatal(f, GS_ECORRUPT,
              "%s: the replica stored master record %" PRIu64 " as id %" PRIu64
              ": something else writes to the replica; replication stopped",
              gs_zdb_address(f->replica), id, got);
        return;
    }
    f->next = id + 1;
    f->st.copied++;
    if (kind == OP_SET_GAP)
        send_id(f, f->replica, OP_DEL_GAP, "DEL", id, NULL, 0);
}

/* ---- copies of ids copied before: resync requests and the master's log ---- */

static void begin_updates(gs_follower_t *f);

static void idlist_clear(idlist_t *l)
{
    free(l->ids);
    memset(l, 0, sizeof *l);
}

static void begin_resync(gs_follower_t *f)
{
    f->phase = PH_RESYNC;
    idlist_clear(&f->resync_work);
    f->resync_work = f->resync;
    memset(&f->resync, 0, sizeof f->resync);
    advance(f);
}

/* Sends `kind` for each id of l below next, window permitting. */
static void pump_ids(gs_follower_t *f, idlist_t *l, op_kind_t kind)
{
    while (live(f) && f->inflight < f->o.window && l->next < l->n) {
        uint64_t id = l->ids[l->next++];
        if (id >= f->next)
            continue; /* not copied yet: the copy will read its last version */
        if (kind == OP_EXISTS)
            send_id(f, f->master, kind, "EXISTS", id, NULL, 0);
        else
            send_id(f, f->master, kind, "GET", id, NULL, 0);
    }
}

static void on_get_again(gs_follower_t *f, uint64_t id, const gs_resp_value_t *v)
{
    if (v->type == GS_RESP_BULK)
        send_id(f, f->replica, OP_SET_AGAIN, "SET", id, v->str, v->len);
    else if (v->type == GS_RESP_NIL)
        send_id(f, f->replica, OP_DEL_AGAIN, "DEL", id, NULL, 0);
    else
        round_error(f, GS_EREFUSED, "%s: GET %" PRIu64 ": %.*s", gs_zdb_address(f->master), id,
                    reply_text(v), v->str ? v->str : "unexpected reply");
}

static void on_set_again(gs_follower_t *f, uint64_t id, const gs_resp_value_t *v)
{
    if (v->type == GS_RESP_BULK)
        f->st.updated++;
    else if (v->type != GS_RESP_NIL) /* nil: the replica had these bytes already */
        soft_error(f, GS_EREFUSED, "%s: SET of the rewritten record %" PRIu64 ": %.*s",
                   gs_zdb_address(f->replica), id, reply_text(v),
                   v->str ? v->str : "unexpected reply");
}

static void on_del(gs_follower_t *f, op_kind_t kind, uint64_t id, const gs_resp_value_t *v)
{
    if (v->type == GS_RESP_SIMPLE) {
        if (kind == OP_DEL_GAP)
            f->st.gaps++;
        else
            f->st.deleted++;
    } else if (kind == OP_DEL_GAP || !is_error(v, "Key not found")) {
        round_error(f, GS_EREFUSED, "%s: DEL %" PRIu64 ": %.*s", gs_zdb_address(f->replica), id,
                    reply_text(v), v->str ? v->str : "unexpected reply");
    }
}

/* A SCAN reply: [cursor, [[key, size, ts], ...]] into f->page and f->page_cursor. */
static int parse_scan(gs_follower_t *f, const gs_resp_value_t *v)
{
    const gs_resp_value_t *items;
    uint64_t *ids;
    if (v->type != GS_RESP_ARRAY || v->n != 2 || v->elem[0].type != GS_RESP_BULK ||
        v->elem[0].len == 0 || v->elem[0].len > CURSOR_MAX || v->elem[1].type != GS_RESP_ARRAY)
        return GS_EPARSE;
    items = &v->elem[1];
    ids = calloc(items->n ? items->n : 1, sizeof *ids);
    if (ids == NULL)
        return GS_ENOMEM;
    for (size_t i = 0; i < items->n; i++) {
        const gs_resp_value_t *it = &items->elem[i];
        if (it->type != GS_RESP_ARRAY || it->n < 1 || it->elem[0].type != GS_RESP_BULK ||
            gs_zdb_key_id(it->elem[0].str, it->elem[0].len, &ids[i]) != GS_OK) {
            free(ids);
            return GS_EPARSE;
        }
    }
    idlist_clear(&f->page);
    f->page.ids = ids;
    f->page.n = items->n;
    memcpy(f->page_cursor.b, v->elem[0].str, v->elem[0].len);
    f->page_cursor.len = v->elem[0].len;
    return GS_OK;
}

static void on_scan(gs_follower_t *f, op_kind_t kind, const gs_resp_value_t *v)
{
    gs_zdb_t *z = kind == OP_SCAN_M ? f->master : f->replica;
    int rc;
    if (is_error(v, "No more data")) {
        idlist_clear(&f->page);
        f->page_last = true;
        return;
    }
    if (v->type == GS_RESP_ERROR) {
        if (kind == OP_SCAN_M)
            f->have_cursor = false; /* a compacted master: take a new cursor next round */
        round_error(f, GS_EREFUSED, "%s: SCAN: %.*s", gs_zdb_address(z), reply_text(v), v->str);
        return;
    }
    rc = parse_scan(f, v);
    if (rc < 0)
        round_error(f, rc, "%s: a SCAN reply that does not parse", gs_zdb_address(z));
}

static void begin_updates(gs_follower_t *f)
{
    f->phase = PH_UPDATES;
    f->page_last = false;
    idlist_clear(&f->page);
    send_scan(f, f->master, OP_SCAN_M, &f->cursor);
}

/* ---- master deletions ---- */

static void end_round(gs_follower_t *f);

static void begin_sweep(gs_follower_t *f)
{
    if (!f->sweep_due) {
        end_round(f);
        return;
    }
    f->sweep_due = false;
    f->phase = PH_SWEEP;
    f->page_last = false;
    f->sweep_cursor.len = 0;
    idlist_clear(&f->page);
    send_scan(f, f->replica, OP_SCAN_R, &f->sweep_cursor);
}

static void on_exists(gs_follower_t *f, uint64_t id, const gs_resp_value_t *v)
{
    if (v->type != GS_RESP_INTEGER) {
        round_error(f, GS_EREFUSED, "%s: EXISTS %" PRIu64 ": %.*s", gs_zdb_address(f->master), id,
                    reply_text(v), v->str ? v->str : "unexpected reply");
        return;
    }
    if (v->integer == 0)
        send_id(f, f->replica, OP_DEL_AGAIN, "DEL", id, NULL, 0);
}

/* ---- the round ---- */

static void on_tick(uv_timer_t *t)
{
    start_round(t->data);
}

static void schedule(gs_follower_t *f, uint64_t ms)
{
    f->phase = PH_IDLE;
    uv_timer_start(&f->timer, on_tick, ms, 0);
}

static void end_round(gs_follower_t *f)
{
    idlist_clear(&f->page);
    idlist_clear(&f->resync_work);
    schedule(f, f->next < f->cm.next ? 0 : f->o.poll_ms);
}

static void start_round(gs_follower_t *f)
{
    const char *mv[] = {"NSINFO", f->mns}, *rv[] = {"NSINFO", f->rns};
    size_t ml[] = {6, strlen(f->mns)}, rl[] = {6, strlen(f->rns)};
    f->phase = PH_COUNTERS;
    f->round_failed = false;
    f->counters_wait = 2;
    if (send_cmd(f, f->master, OP_NSINFO_M, 0, 2, mv, ml) < 0 ||
        send_cmd(f, f->replica, OP_NSINFO_R, 0, 2, rv, rl) < 0)
        advance(f);
}

/* The SCAN page is done: commit its cursor and fetch the next, or move on. */
static void page_done(gs_follower_t *f, op_kind_t scan, cursor_t *c)
{
    if (f->page_last) {
        if (scan == OP_SCAN_M)
            begin_sweep(f);
        else
            end_round(f);
        return;
    }
    *c = f->page_cursor;
    idlist_clear(&f->page);
    send_scan(f, scan == OP_SCAN_M ? f->master : f->replica, scan, c);
}

/* Moves the round on after a reply; called with nothing to do is harmless. */
static void advance(gs_follower_t *f)
{
    if (f->stopping || f->phase == PH_FAILED)
        return;
    if (f->round_failed) {
        if (f->inflight == 0 && f->phase != PH_IDLE)
            schedule(f, f->o.poll_ms);
        return;
    }
    switch (f->phase) {
    case PH_COPY:
        pump_copy(f);
        if (live(f) && f->inflight == 0 && f->issue >= f->end)
            begin_resync(f);
        break;
    case PH_RESYNC:
        pump_ids(f, &f->resync_work, OP_GET_AGAIN);
        if (live(f) && f->inflight == 0 && f->resync_work.next >= f->resync_work.n)
            begin_updates(f);
        break;
    case PH_UPDATES:
    case PH_SWEEP: {
        bool upd = f->phase == PH_UPDATES;
        pump_ids(f, &f->page, upd ? OP_GET_AGAIN : OP_EXISTS);
        if (live(f) && f->inflight == 0 && f->page.next >= f->page.n)
            page_done(f, upd ? OP_SCAN_M : OP_SCAN_R, upd ? &f->cursor : &f->sweep_cursor);
        break;
    }
    default:
        break;
    }
}

/* ---- replies ---- */

static void dispatch(gs_follower_t *f, const op_t *op, const gs_resp_value_t *v)
{
    switch (op->kind) {
    case OP_NSINFO_M:
    case OP_NSINFO_R:
        on_nsinfo(f, op->kind, v);
        if (--f->counters_wait == 0 && live(f))
            counters_done(f);
        break;
    case OP_KEYCUR:
        on_keycur(f, v);
        break;
    case OP_GET_NEW:
        on_get_new(f, op->id, v);
        break;
    case OP_SET_NEW:
    case OP_SET_GAP:
        on_set_new(f, op->kind, op->id, v);
        break;
    case OP_DEL_GAP:
    case OP_DEL_AGAIN:
        on_del(f, op->kind, op->id, v);
        break;
    case OP_GET_AGAIN:
        on_get_again(f, op->id, v);
        break;
    case OP_SET_AGAIN:
        on_set_again(f, op->id, v);
        break;
    case OP_SCAN_M:
    case OP_SCAN_R:
        on_scan(f, op->kind, v);
        break;
    case OP_EXISTS:
        on_exists(f, op->id, v);
        break;
    }
}

static bool on_master(op_kind_t kind)
{
    return kind == OP_NSINFO_M || kind == OP_KEYCUR || kind == OP_GET_NEW || kind == OP_GET_AGAIN ||
           kind == OP_SCAN_M || kind == OP_EXISTS;
}

/* The client's message, which names the 0-db most of the time, with its role. */
static void transport_error(gs_follower_t *f, const op_t *op, int err, const char *msg)
{
    bool master = on_master(op->kind);
    const char *addr = gs_zdb_address(master ? f->master : f->replica);
    if (strstr(msg, addr))
        round_error(f, err, "%s: %s", master ? "master" : "replica", msg);
    else
        round_error(f, err, "%s %s: %s", master ? "master" : "replica", addr, msg);
}

static void on_reply(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    op_t op = *(op_t *)ud;
    gs_follower_t *f = op.f;
    free(ud);
    f->inflight--;
    if (f->stopping || f->phase == PH_FAILED)
        return;
    if (err < 0)
        transport_error(f, &op, err, msg);
    else if (!f->round_failed)
        dispatch(f, &op, v);
    advance(f);
}

/* ---- the public calls ---- */

static void follower_free(gs_follower_t *f)
{
    free(f->mns);
    free(f->rns);
    idlist_clear(&f->page);
    idlist_clear(&f->resync);
    idlist_clear(&f->resync_work);
    free(f);
}

static int check_opts(gs_follower_opts_t *o, gs_diag_t *diag)
{
    if (o->poll_ms == 0)
        o->poll_ms = DEFAULT_POLL_MS;
    if (o->window == 0)
        o->window = DEFAULT_WINDOW;
    if (o->batch == 0)
        o->batch = DEFAULT_BATCH;
    if (o->window > MAX_WINDOW)
        return gs_diag_set(diag, GS_ERANGE, "replication: window %u over %u", o->window,
                           MAX_WINDOW);
    return GS_OK;
}

gs_follower_t *gs_follower_new(uv_loop_t *loop, const gs_zdb_opts_t *master,
                               const gs_zdb_opts_t *replica, const gs_follower_opts_t *o,
                               gs_diag_t *diag)
{
    gs_follower_t *f;
    if (loop == NULL || master == NULL || replica == NULL) {
        gs_diag_set(diag, GS_EINVAL, "replication: a master and a replica are needed");
        return NULL;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL) {
        gs_diag_set(diag, GS_ENOMEM, "out of memory");
        return NULL;
    }
    if (o)
        f->o = *o;
    f->loop = loop;
    f->verify_pending = f->o.verify_on_start;
    f->mns = gs_strdup(master->ns ? master->ns : "default");
    f->rns = gs_strdup(replica->ns ? replica->ns : "default");
    if (f->mns == NULL || f->rns == NULL) {
        gs_diag_set(diag, GS_ENOMEM, "out of memory");
        goto fail;
    }
    if (check_opts(&f->o, diag) != GS_OK)
        goto fail;
    f->master = gs_zdb_new(loop, master, diag);
    if (f->master == NULL)
        goto fail;
    f->replica = gs_zdb_new(loop, replica, diag);
    if (f->replica == NULL)
        goto fail;
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    return f;
fail:
    gs_zdb_close(f->master);
    follower_free(f);
    return NULL;
}

int gs_follower_start(gs_follower_t *f)
{
    if (f == NULL || f->stopping || f->phase != PH_NEW)
        return GS_EINVAL;
    schedule(f, 0);
    return GS_OK;
}

static void on_timer_closed(uv_handle_t *h)
{
    gs_follower_t *f = h->data;
    gs_follower_stopped_cb cb = f->stopped;
    void *ud = f->stopped_ud;
    follower_free(f);
    if (cb)
        cb(ud);
}

void gs_follower_stop(gs_follower_t *f, gs_follower_stopped_cb stopped, void *ud)
{
    if (f == NULL || f->stopping)
        return;
    f->stopping = true;
    f->stopped = stopped;
    f->stopped_ud = ud;
    gs_zdb_close(f->master); /* runs the callbacks of what is in flight, which do nothing */
    gs_zdb_close(f->replica);
    f->master = f->replica = NULL;
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
}

void gs_follower_stats(const gs_follower_t *f, gs_follower_stats_t *out)
{
    *out = f->st;
    out->running = f->phase != PH_NEW && f->phase != PH_FAILED && !f->stopping;
    /* after a failure, the last id confirmed: what landed unconfirmed is read next round */
    out->replica_next = f->next;
    out->lag = out->known && out->master_next > out->replica_next
                   ? out->master_next - out->replica_next
                   : 0;
}

bool gs_follower_lag(const gs_follower_t *f, uint64_t *lag)
{
    gs_follower_stats_t st;
    gs_follower_stats(f, &st);
    *lag = st.lag;
    return st.known;
}

int gs_follower_resync_id(gs_follower_t *f, uint64_t id)
{
    idlist_t *l = &f->resync;
    if (l->n >= RESYNC_MAX)
        return GS_ERANGE;
    if (l->ids == NULL) {
        l->ids = malloc(RESYNC_MAX * sizeof *l->ids);
        if (l->ids == NULL)
            return GS_ENOMEM;
    }
    l->ids[l->n++] = id;
    return GS_OK;
}
