/* recover.c — rebuilding a deployment's metadata namespace from the backups that puts and
 * repairs leave in the data backends (codec.h, "metadata recovery"), with the deployment
 * key alone.
 *
 * Scan. Every data backend of the configuration is walked with SCAN (one page of keys at a
 * time, its cursor until "No more data"); the values that may be backups by their size are
 * read with pipelined GETs, at most GET_WINDOW in flight per backend, and those that start
 * with the backup magic are opened and their record decoded. Only where each backup lives
 * is kept (record id, revision, backend, 0-db id): memory is 32 bytes per backup, however
 * large the records are. A backend that fails part-way counts as down; what it gave so far
 * is kept.
 *
 * Choice. Several backups of one record exist: parity + 1 copies of each put, and one more
 * per repair, which rewrote the record in place. The one with the highest revision wins;
 * its copies (same revision) are the fall-backs when it does not read back.
 *
 * Write. Sequential 0-db gives ids in order, so the target is written id after id from its
 * own next id (NSINFO next_internal_id, as the replication follower reads it): a record
 * where a backup exists, else a one-byte placeholder deleted at once (a deleted file, or
 * one whose every backup is lost), so that later records keep their ids. Each SET's answer
 * must be the id expected; any other means something else writes to the target, and the
 * recovery stops. One command at a time: a recovery is rare, and order is everything.
 *
 * Resuming. The target's next id says where an earlier run stopped; ids below it are left
 * as they are. A target that already holds records is accepted only when every live value
 * in it opens with the deployment key (or is a placeholder an interrupted run left: it is
 * deleted), so a foreign namespace is refused rather than extended. Running again when
 * the target is complete writes nothing. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "internal.h"

#define GET_WINDOW     16u
#define CURSOR_MAX     64u
#define BACKUP_MIN     52u /* magic, version, nonce, tag and a record id: the smallest backup */
#define PLACEHOLDER    "x" /* a deleted id's stand-in, as the follower writes it */
#define PROGRESS_EVERY 256u

typedef struct recover recover_t;

/* One namespace walked: a data backend, or the target when it is not empty. */
typedef struct {
    recover_t *r;
    unsigned backend; /* index in the configuration; unused for the target */
    bool is_target;
    gs_zdb_t *z;
    unsigned char cursor[CURSOR_MAX];
    size_t cursor_len;
    uint64_t *ids; /* the keys of this page worth reading */
    size_t n, sent, answered;
    bool failed, finished;
} scan_t;

/* Where one backup lives. */
typedef struct {
    uint64_t meta_id, revision, key;
    unsigned backend;
} found_t;

typedef enum { OP_RECORD, OP_GAP } op_t;

struct recover {
    uv_loop_t *loop;
    uv_timer_t defer; /* the end runs from here, outside any client's callback */
    uint8_t *key;
    gs_recover_progress_cb progress;
    gs_recover_done_cb done;
    void *ud;
    gs_recover_stats_t st;
    gs_zdb_t *target;
    char *target_ns;
    scan_t *scans; /* n_scans: the data backends, then the target */
    unsigned n_scans, scanning;
    uint64_t target_foreign;
    found_t *found;
    size_t n_found, cap_found;
    gs_buf_t record;
    uint64_t *stale; /* placeholders an interrupted run left live in the target */
    size_t n_stale, stale_done;
    size_t fi, copy; /* write phase: the newest backup of the id, and which copy of it */
    op_t op;
    bool ending;
    int err;
    char msg[GS_DIAG_MAX];
    char down_msg[GS_DIAG_MAX];
};

static void scan_page(scan_t *sc);
static void write_next(recover_t *r);

/* ---- the end ---------------------------------------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    recover_t *r = h->data;
    free(r->scans);
    free(r->found);
    free(r->stale);
    free(r->target_ns);
    gs_buf_free(&r->record);
    sodium_free(r->key);
    free(r);
}

static void on_defer(uv_timer_t *t)
{
    recover_t *r = t->data;
    gs_zdb_close(r->target);
    for (unsigned i = 0; i < r->n_scans; i++) {
        gs_zdb_close(r->scans[i].z);
        free(r->scans[i].ids);
    }
    r->done(r->err, r->err ? r->msg : NULL, &r->st, r->ud);
    uv_close((uv_handle_t *)&r->defer, on_closed);
}

/* Ends the recovery once (later calls are ignored); the clients are closed and done runs
 * from the timer, since this may be called from inside a client's callback. */
static void end(recover_t *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void end(recover_t *r, int err, const char *fmt, ...)
{
    va_list ap;
    if (r->ending)
        return;
    r->ending = true;
    r->err = err;
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(r->msg, sizeof r->msg, fmt, ap);
        va_end(ap);
    }
    uv_timer_start(&r->defer, on_defer, 0, 0);
}

static void report(recover_t *r, gs_recover_phase_t phase)
{
    if (r->progress != NULL && !r->ending)
        r->progress(phase, &r->st, r->ud);
}

static int reply_len(const gs_resp_value_t *v)
{
    return v && v->str ? (int)(v->len > 200 ? 200 : v->len) : 0;
}

static const char *reply_text(const gs_resp_value_t *v, const char *msg)
{
    if (v == NULL)
        return msg;
    return v->type == GS_RESP_ERROR ? v->str : "an unexpected reply";
}

/* ---- scanning ----------------------------------------------------------------------------- */

static bool is_placeholder(const uint8_t *p, size_t n)
{
    return n == sizeof PLACEHOLDER - 1 && memcmp(p, PLACEHOLDER, n) == 0;
}

static int remember(recover_t *r, uint64_t meta_id, uint64_t revision, uint64_t key, unsigned b)
{
    if (r->n_found == r->cap_found) {
        size_t cap = r->cap_found ? 2 * r->cap_found : 1024;
        found_t *f = realloc(r->found, cap * sizeof *f);
        if (f == NULL)
            return GS_ENOMEM;
        r->found = f;
        r->cap_found = cap;
    }
    r->found[r->n_found++] = (found_t){meta_id, revision, key, b};
    return GS_OK;
}

/* A value of a data backend: a backup is opened and its record checked; anything else is a
 * shard chunk or foreign, and skipped. */
static int take_backup(scan_t *sc, uint64_t key, const uint8_t *p, size_t n)
{
    recover_t *r = sc->r;
    gs_meta_t *m = NULL;
    gs_diag_t diag = {{0}};
    uint64_t meta_id, revision;
    if (!gs_meta_backup_is(p, n))
        return GS_OK;
    r->st.backups++;
    gs_buf_reset(&r->record);
    if (gs_meta_backup_open(p, n, r->key, &meta_id, &revision, &r->record, &diag) != GS_OK) {
        r->st.unopened++;
        return GS_OK;
    }
    if (meta_id > UINT32_MAX || gs_meta_decode((const uint8_t *)r->record.data, r->record.len,
                                               r->key, &m, &diag) != GS_OK) {
        r->st.undecodable++; /* an id no file id can name, or a record that does not decode */
        return GS_OK;
    }
    gs_meta_free(m);
    return remember(r, meta_id, revision, key, sc->backend);
}

/* A live value of a non-empty target must be this deployment's; a live placeholder is one
 * an interrupted run wrote and did not delete: it is deleted before writing goes on. */
static int take_target_value(scan_t *sc, uint64_t key, const uint8_t *p, size_t n)
{
    recover_t *r = sc->r;
    gs_meta_t *m = NULL;
    gs_diag_t diag = {{0}};
    if (is_placeholder(p, n)) {
        uint64_t *ids = realloc(r->stale, (r->n_stale + 1) * sizeof *ids);
        if (ids == NULL)
            return GS_ENOMEM;
        r->stale = ids;
        r->stale[r->n_stale++] = key;
        return GS_OK;
    }
    if (gs_meta_decode(p, n, r->key, &m, &diag) != GS_OK)
        r->target_foreign++;
    gs_meta_free(m);
    return GS_OK;
}

static void scans_done(recover_t *r);

static void scan_finish(scan_t *sc)
{
    recover_t *r = sc->r;
    sc->finished = true;
    if (sc->failed && !sc->is_target)
        r->st.backends_down++;
    report(r, GS_RECOVER_SCAN);
    if (--r->scanning == 0)
        scans_done(r);
}

static void scan_fail(scan_t *sc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void scan_fail(scan_t *sc, const char *fmt, ...)
{
    va_list ap;
    recover_t *r = sc->r;
    if (!sc->failed) {
        sc->failed = true;
        va_start(ap, fmt);
        vsnprintf(r->down_msg, sizeof r->down_msg, fmt, ap);
        va_end(ap);
        if (sc->is_target) {
            end(r, GS_EUNAVAIL, "reading the target namespace failed: %s", r->down_msg);
            return;
        }
    }
    if (sc->sent == sc->answered)
        scan_finish(sc);
}

static void on_value(const gs_resp_value_t *v, int err, const char *msg, void *ud);

/* Keeps up to GET_WINDOW reads in flight; the page's end fetches the next page. */
static void scan_pump(scan_t *sc)
{
    unsigned char key[8];
    while (!sc->failed && sc->sent < sc->n && sc->sent - sc->answered < GET_WINDOW) {
        gs_zdb_id_key(sc->ids[sc->sent], key);
        if (gs_zdb_get(sc->z, key, sizeof key, on_value, sc) != GS_OK) {
            scan_fail(sc, "%s: out of memory", gs_zdb_address(sc->z));
            return;
        }
        sc->sent++;
    }
    if (sc->failed || sc->answered < sc->n)
        return;
    report(sc->r, GS_RECOVER_SCAN);
    scan_page(sc);
}

static void on_value(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    scan_t *sc = ud;
    uint64_t key = sc->ids[sc->answered++]; /* one connection: replies come in order */
    int rc = GS_OK;
    if (sc->r->ending)
        return;
    if (sc->failed) {
        scan_fail(sc, "%s", sc->r->down_msg);
        return;
    }
    if (err < 0 || v->type == GS_RESP_ERROR) {
        scan_fail(sc, "%s: GET: %.*s", gs_zdb_address(sc->z),
                  err < 0 ? (int)strlen(msg) : reply_len(v), reply_text(err < 0 ? NULL : v, msg));
        return;
    }
    if (v->type == GS_RESP_BULK) { /* nil: deleted since the SCAN */
        sc->r->st.values++;
        if (sc->is_target)
            rc = take_target_value(sc, key, (const uint8_t *)v->str, v->len);
        else
            rc = take_backup(sc, key, (const uint8_t *)v->str, v->len);
    }
    if (rc != GS_OK) {
        end(sc->r, rc, "out of memory");
        return;
    }
    scan_pump(sc);
}

/* [cursor, [[key, size, ts], ...]]: the page's keys worth a GET into sc->ids. */
static int parse_page(scan_t *sc, const gs_resp_value_t *v)
{
    const gs_resp_value_t *items;
    if (v->type != GS_RESP_ARRAY || v->n != 2 || v->elem[0].type != GS_RESP_BULK ||
        v->elem[0].len == 0 || v->elem[0].len > CURSOR_MAX || v->elem[1].type != GS_RESP_ARRAY)
        return GS_EPARSE;
    items = &v->elem[1];
    free(sc->ids);
    sc->n = sc->sent = sc->answered = 0;
    if ((sc->ids = calloc(items->n ? items->n : 1, sizeof *sc->ids)) == NULL)
        return GS_ENOMEM;
    for (size_t i = 0; i < items->n; i++) {
        const gs_resp_value_t *it = &items->elem[i];
        uint64_t id;
        if (it->type != GS_RESP_ARRAY || it->n < 2 || it->elem[0].type != GS_RESP_BULK ||
            it->elem[1].type != GS_RESP_INTEGER ||
            gs_zdb_key_id(it->elem[0].str, it->elem[0].len, &id) != GS_OK)
            return GS_EPARSE;
        if (sc->is_target ||
            (it->elem[1].integer >= BACKUP_MIN && it->elem[1].integer <= GS_CODEC_CHUNK_MAX))
            sc->ids[sc->n++] = id;
    }
    memcpy(sc->cursor, v->elem[0].str, v->elem[0].len);
    sc->cursor_len = v->elem[0].len;
    return GS_OK;
}

static void on_page(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    scan_t *sc = ud;
    int rc;
    if (sc->r->ending)
        return;
    if (err == GS_OK && v->type == GS_RESP_ERROR && strncmp(v->str, "No more data", 12) == 0) {
        scan_finish(sc);
        return;
    }
    if (err < 0 || v->type == GS_RESP_ERROR) {
        scan_fail(sc, "%s: SCAN: %.*s", gs_zdb_address(sc->z),
                  err < 0 ? (int)strlen(msg) : reply_len(v), reply_text(err < 0 ? NULL : v, msg));
        return;
    }
    if ((rc = parse_page(sc, v)) != GS_OK) {
        scan_fail(sc, "%s: a SCAN reply that does not parse", gs_zdb_address(sc->z));
        return;
    }
    scan_pump(sc);
}

static void scan_page(scan_t *sc)
{
    const char *argv[] = {"SCAN", (const char *)sc->cursor};
    size_t lens[] = {4, sc->cursor_len};
    if (gs_zdb_command(sc->z, sc->cursor_len ? 2 : 1, argv, lens, on_page, sc) != GS_OK)
        scan_fail(sc, "%s: out of memory", gs_zdb_address(sc->z));
}

/* ---- choosing ------------------------------------------------------------------------------- */

/* By record id, then newest revision first. */
static int by_id_newest(const void *a, const void *b)
{
    const found_t *x = a, *y = b;
    if (x->meta_id != y->meta_id)
        return x->meta_id < y->meta_id ? -1 : 1;
    if (x->revision != y->revision)
        return x->revision > y->revision ? -1 : 1;
    return 0;
}

/* The index of the next record id's newest backup after index i. */
static size_t next_record(const recover_t *r, size_t i)
{
    uint64_t id = r->found[i].meta_id;
    while (i < r->n_found && r->found[i].meta_id == id)
        i++;
    return i;
}

static void delete_stale(recover_t *r);

static void scans_done(recover_t *r)
{
    const scan_t *t = &r->scans[r->n_scans - 1];
    if (t->is_target && r->target_foreign > 0) {
        end(r, GS_EINVAL,
            "the target namespace holds %" PRIu64 " value%s that %s not this deployment's "
            "metadata: recover into an empty namespace",
            r->target_foreign, r->target_foreign == 1 ? "" : "s",
            r->target_foreign == 1 ? "is" : "are");
        return;
    }
    if (r->st.backends_down == r->st.backends) {
        end(r, GS_EUNAVAIL, "no data backend could be scanned (last: %s)", r->down_msg);
        return;
    }
    if (r->st.backups > 0 && r->st.unopened == r->st.backups) {
        end(r, GS_ECORRUPT,
            "%" PRIu64 " metadata backup%s found, none opens with this deployment key: is it "
            "this deployment's key?",
            r->st.backups, r->st.backups == 1 ? "" : "s");
        return;
    }
    qsort(r->found, r->n_found, sizeof *r->found, by_id_newest);
    for (size_t i = 0; i < r->n_found; i = next_record(r, i))
        r->st.records++;
    r->st.end_id = r->n_found ? r->found[r->n_found - 1].meta_id + 1 : 0;
    while (r->fi < r->n_found && r->found[r->fi].meta_id < r->st.next_id)
        r->fi = next_record(r, r->fi);
    report(r, GS_RECOVER_WRITE);
    delete_stale(r);
}

/* ---- writing -------------------------------------------------------------------------------- */

static void on_del(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    recover_t *r = ud;
    if (r->ending)
        return;
    if (err < 0 || v->type != GS_RESP_SIMPLE) {
        end(r, err < 0 ? err : GS_EREFUSED, "%s: deleting the placeholder of id %" PRIu64 ": %.*s",
            gs_zdb_address(r->target), r->st.next_id, err < 0 ? (int)strlen(msg) : reply_len(v),
            reply_text(err < 0 ? NULL : v, msg));
        return;
    }
    r->st.gaps++;
    r->st.next_id++;
    write_next(r);
}

static void on_stale_deleted(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    recover_t *r = ud;
    if (r->ending)
        return;
    if (err < 0 || v->type == GS_RESP_ERROR) {
        end(r, err < 0 ? err : GS_EREFUSED,
            "%s: deleting a placeholder left by an earlier run: %.*s", gs_zdb_address(r->target),
            err < 0 ? (int)strlen(msg) : reply_len(v), reply_text(err < 0 ? NULL : v, msg));
        return;
    }
    r->stale_done++;
    delete_stale(r);
}

/* The placeholders an interrupted run left live, deleted one by one; then the writing. */
static void delete_stale(recover_t *r)
{
    unsigned char key[8];
    const char *argv[] = {"DEL", (const char *)key};
    size_t lens[] = {3, sizeof key};
    if (r->stale_done == r->n_stale) {
        write_next(r);
        return;
    }
    gs_zdb_id_key(r->stale[r->stale_done], key);
    if (gs_zdb_command(r->target, 2, argv, lens, on_stale_deleted, r) != GS_OK)
        end(r, GS_ENOMEM, "out of memory");
}

static void on_set(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    recover_t *r = ud;
    unsigned char key[8];
    uint64_t id;
    if (r->ending)
        return;
    if (err < 0 || v->type != GS_RESP_BULK) {
        end(r, err < 0 ? err : GS_EREFUSED, "%s: writing id %" PRIu64 ": %.*s",
            gs_zdb_address(r->target), r->st.next_id, err < 0 ? (int)strlen(msg) : reply_len(v),
            reply_text(err < 0 ? NULL : v, msg));
        return;
    }
    if (gs_zdb_key_id(v->str, v->len, &id) != GS_OK || id != r->st.next_id) {
        end(r, GS_ECORRUPT,
            "%s gave another id than %" PRIu64 " to the value written: something else writes to "
            "the target namespace; recovery stopped",
            gs_zdb_address(r->target), r->st.next_id);
        return;
    }
    if (r->op == OP_GAP) {
        const char *argv[] = {"DEL", (const char *)key};
        size_t lens[] = {3, sizeof key};
        gs_zdb_id_key(id, key);
        if (gs_zdb_command(r->target, 2, argv, lens, on_del, r) != GS_OK)
            end(r, GS_ENOMEM, "out of memory");
        return;
    }
    r->st.restored++;
    r->st.next_id++;
    r->fi = next_record(r, r->fi);
    r->copy = 0;
    if (r->st.restored % PROGRESS_EVERY == 0)
        report(r, GS_RECOVER_WRITE);
    write_next(r);
}

static void fetch_copy(recover_t *r);

/* A copy of the newest backup read again: it must still be what the scan saw. */
static void on_fetched(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    recover_t *r = ud;
    const found_t *f = &r->found[r->fi + r->copy];
    gs_meta_t *m = NULL;
    gs_diag_t diag = {{0}};
    uint64_t meta_id = 0, revision = 0;
    const char *argv[] = {"SET", "", NULL};
    size_t lens[] = {3, 0, 0};
    (void)msg;
    if (r->ending)
        return;
    gs_buf_reset(&r->record);
    if (err < 0 || v->type != GS_RESP_BULK ||
        gs_meta_backup_open((const uint8_t *)v->str, v->len, r->key, &meta_id, &revision,
                            &r->record, &diag) != GS_OK ||
        meta_id != f->meta_id || revision != f->revision ||
        gs_meta_decode((const uint8_t *)r->record.data, r->record.len, r->key, &m, &diag) !=
            GS_OK) {
        r->copy++;
        fetch_copy(r);
        return;
    }
    gs_meta_free(m);
    argv[2] = r->record.data;
    lens[2] = r->record.len;
    r->op = OP_RECORD;
    if (gs_zdb_command(r->target, 3, argv, lens, on_set, r) != GS_OK)
        end(r, GS_ENOMEM, "out of memory");
}

/* Reads the current copy of the id's newest backup; past the last copy, the recovery
 * stops (running it again resumes here). */
static void fetch_copy(recover_t *r)
{
    size_t i = r->fi + r->copy;
    unsigned char key[8];
    if (i >= r->n_found || r->found[i].meta_id != r->found[r->fi].meta_id ||
        r->found[i].revision != r->found[r->fi].revision) {
        end(r, GS_EUNAVAIL,
            "record %" PRIu64 ": no copy of its newest backup reads back any more; run the "
            "recovery again when its backends answer",
            r->found[r->fi].meta_id);
        return;
    }
    gs_zdb_id_key(r->found[i].key, key);
    if (gs_zdb_get(r->scans[r->found[i].backend].z, key, sizeof key, on_fetched, r) != GS_OK)
        end(r, GS_ENOMEM, "out of memory");
}

static void write_next(recover_t *r)
{
    const char *argv[] = {"SET", "", PLACEHOLDER};
    size_t lens[] = {3, 0, sizeof PLACEHOLDER - 1};
    if (r->st.next_id >= r->st.end_id) {
        report(r, GS_RECOVER_WRITE);
        end(r, GS_OK, NULL);
        return;
    }
    if (r->fi < r->n_found && r->found[r->fi].meta_id == r->st.next_id) {
        fetch_copy(r);
        return;
    }
    r->op = OP_GAP;
    if (gs_zdb_command(r->target, 3, argv, lens, on_set, r) != GS_OK)
        end(r, GS_ENOMEM, "out of memory");
}

/* ---- the target's counter, then the scans --------------------------------------------------- */

static int parse_nsinfo(const gs_resp_value_t *v, uint64_t *next, uint64_t *entries,
                        const char **why)
{
    return gs_zdb_nsinfo_counters(v, entries, next, why);
}

static void on_nsinfo(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    recover_t *r = ud;
    const char *why = NULL;
    uint64_t entries = 0;
    int rc;
    if (r->ending)
        return;
    if (err < 0 || v->type == GS_RESP_ERROR) {
        end(r, err < 0 ? err : GS_EREFUSED, "the target %s: NSINFO %s: %.*s",
            gs_zdb_address(r->target), r->target_ns, err < 0 ? (int)strlen(msg) : reply_len(v),
            reply_text(err < 0 ? NULL : v, msg));
        return;
    }
    if ((rc = parse_nsinfo(v, &r->st.next_id, &entries, &why)) != GS_OK) {
        end(r, rc, "the target %s: %s", gs_zdb_address(r->target), why);
        return;
    }
    r->st.first_id = r->st.next_id;
    /* the target is walked only when it holds live values, to vet them */
    r->scanning = r->n_scans - (entries == 0);
    report(r, GS_RECOVER_SCAN);
    for (unsigned i = 0; i < r->scanning && !r->ending; i++)
        scan_page(&r->scans[i]);
}

static int open_scans(recover_t *r, const gs_codec_config_t *cfg, const gs_zdb_opts_t *target,
                      gs_diag_t *diag)
{
    gs_zdb_opts_t o;
    r->n_scans = (unsigned)cfg->n_backends + 1;
    if ((r->scans = calloc(r->n_scans, sizeof *r->scans)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    for (unsigned i = 0; i < r->n_scans; i++) {
        scan_t *sc = &r->scans[i];
        sc->r = r;
        sc->backend = i;
        sc->is_target = i == cfg->n_backends;
        if (!sc->is_target)
            gs_codec_config_zdb_opts(cfg, &cfg->backends[i], &o);
        if ((sc->z = gs_zdb_new(r->loop, sc->is_target ? target : &o, diag)) == NULL)
            return GS_EINVAL;
    }
    r->st.backends = (unsigned)cfg->n_backends;
    return GS_OK;
}

/* Frees what recover_new made, before the timer handle was started. */
static void discard(recover_t *r)
{
    if (r == NULL)
        return;
    gs_zdb_close(r->target);
    for (unsigned i = 0; r->scans && i < r->n_scans; i++)
        gs_zdb_close(r->scans[i].z);
    uv_close((uv_handle_t *)&r->defer, on_closed);
}

int gs_codec_recover(uv_loop_t *loop, const gs_codec_config_t *cfg,
                     const gs_codec_endpoint_t *target, gs_recover_progress_cb progress,
                     gs_recover_done_cb done, void *ud, gs_diag_t *diag)
{
    recover_t *r = calloc(1, sizeof *r);
    gs_zdb_opts_t o;
    int err;
    if (r == NULL || (r->key = sodium_malloc(GS_CODEC_KEY_LEN)) == NULL) {
        if (r)
            free(r);
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    uv_timer_init(loop, &r->defer);
    r->defer.data = r;
    r->loop = loop;
    r->progress = progress;
    r->done = done;
    r->ud = ud;
    memcpy(r->key, cfg->key, GS_CODEC_KEY_LEN);
    gs_buf_init(&r->record, GS_META_MAX);
    if (target == NULL)
        target = &cfg->meta_master;
    gs_codec_config_zdb_opts(cfg, target, &o);
    if ((r->target_ns = gs_strdup(o.ns ? o.ns : "default")) == NULL) {
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
        goto fail;
    }
    if ((r->target = gs_zdb_new(loop, &o, diag)) == NULL) {
        err = GS_EINVAL;
        goto fail;
    }
    if ((err = open_scans(r, cfg, &o, diag)) != GS_OK)
        goto fail;
    if ((err = gs_zdb_cmd(r->target, on_nsinfo, r, "NSINFO", r->target_ns, NULL)) != GS_OK) {
        gs_diag_set(diag, err, "out of memory");
        goto fail;
    }
    return GS_OK;
fail:
    discard(r);
    return err;
}
