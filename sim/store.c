/* store.c — the local grid's durable state: see store.h.
 *
 * Choices:
 *  - One SQLite database, <state>/sim.db (created 0600: it holds the escrow accounts'
 *    secret keys), in WAL mode with synchronous=NORMAL: a commit reaches the file
 *    system before the HTTP answer is sent, so a sim killed at any moment comes back
 *    with everything it answered (an operating system crash may lose the last
 *    commits, which a local grid can afford).
 *  - One table of records (kind, key, doc) with doc a compact JSON text, rather than a
 *    table per part: each part already has a JSON form of its records, a new field
 *    needs no migration, and the load is one indexed walk per kind. seq, the rowid,
 *    keeps the order records were first put in (an upsert keeps the row), which is the
 *    order the parts list them in.
 *  - The schema version is PRAGMA user_version; migrations[i] takes the database from
 *    version i to i + 1, each in a transaction. A database newer than this sim is
 *    refused.
 *  - Write-through, one transaction per change (sim_store_begin/commit group the puts
 *    of one change), on the loop thread: the commit must precede the HTTP answer, and
 *    a WAL commit without fsync is a few small writes, far cheaper than handing it to
 *    another thread. The statements are prepared once. */
#define _POSIX_C_SOURCE 200809L /* open's O_CLOEXEC */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define DOC_MAX (16 * 1024 * 1024) /* a record read back: far above any the sim writes */

struct sim_store {
    sqlite3 *db;
    sqlite3_stmt *put, *each, *get;
    int depth; /* open sim_store_begin calls */
};

static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL,"
    " doc TEXT NOT NULL, UNIQUE (kind, key));",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static int db_error(sim_store_t *s, const char *what, gs_diag_t *diag)
{
    return gs_diag_set(diag, GS_EIO, "state database: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec(sim_store_t *s, const char *sql, gs_diag_t *diag)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? GS_OK : db_error(s, sql, diag);
}

static int user_version(sim_store_t *s, int *out, gs_diag_t *diag)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? GS_OK : db_error(s, "reading user_version", diag);
}

static int migrate(sim_store_t *s, gs_diag_t *diag)
{
    char sql[64];
    int version = 0, err = user_version(s, &version, diag);
    if (err == GS_OK && version > SCHEMA_VERSION)
        return gs_diag_set(diag, GS_EINVAL,
                           "state database: schema version %d is newer than this sim's %d", version,
                           SCHEMA_VERSION);
    for (; err == GS_OK && version < SCHEMA_VERSION; version++) {
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
        err = exec(s, "BEGIN IMMEDIATE", diag);
        if (err == GS_OK && (err = exec(s, migrations[version], diag)) == GS_OK &&
            (err = exec(s, sql, diag)) == GS_OK)
            err = exec(s, "COMMIT", diag);
        if (err != GS_OK)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    return err;
}

static int prepare(sim_store_t *s, const char *sql, sqlite3_stmt **st, gs_diag_t *diag)
{
    return sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK
               ? GS_OK
               : db_error(s, sql, diag);
}

/* Creates the file 0600 first: SQLite would create it (and its -wal) 0644. */
static int create_private(const char *path, gs_diag_t *diag)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return gs_diag_set(diag, GS_EIO, "%s: %s", path, strerror(errno));
    close(fd);
    return GS_OK;
}

int sim_store_open(const char *dir, sim_store_t **out, gs_diag_t *diag)
{
    char path[4096];
    sim_store_t *s = calloc(1, sizeof *s);
    int err;
    *out = NULL;
    if (s == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/sim.db", dir);
    err = create_private(path, diag);
    if (err == GS_OK && sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        err = db_error(s, path, diag);
    if (err == GS_OK) {
        sqlite3_busy_timeout(s->db, 1000);
        err = exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", diag);
    }
    if (err == GS_OK)
        err = migrate(s, diag);
    if (err == GS_OK)
        err = prepare(s,
                      "INSERT INTO records (kind, key, doc) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc",
                      &s->put, diag);
    if (err == GS_OK)
        err =
            prepare(s, "SELECT key, doc FROM records WHERE kind = ?1 ORDER BY seq", &s->each, diag);
    if (err == GS_OK)
        err = prepare(s, "SELECT doc FROM records WHERE kind = ?1 AND key = ?2", &s->get, diag);
    if (err != GS_OK) {
        sim_store_close(s);
        return err;
    }
    *out = s;
    return GS_OK;
}

void sim_store_close(sim_store_t *s)
{
    if (s == NULL)
        return;
    sqlite3_finalize(s->put);
    sqlite3_finalize(s->each);
    sqlite3_finalize(s->get);
    sqlite3_close(s->db);
    free(s);
}

static void log_error(sim_store_t *s, const char *what)
{
    gs_log(GS_LOG_ERROR, "state database: %s: %s", what, sqlite3_errmsg(s->db));
}

void sim_store_begin(sim_store_t *s)
{
    if (s != NULL && s->depth++ == 0 &&
        sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        log_error(s, "BEGIN");
}

void sim_store_commit(sim_store_t *s)
{
    if (s == NULL || s->depth == 0 || --s->depth > 0)
        return;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        log_error(s, "COMMIT");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

int sim_store_put(sim_store_t *s, const char *kind, const char *key, const json_t *doc)
{
    char *text;
    int rc;
    if (s == NULL)
        return GS_OK;
    if ((text = gs_json_dumps(doc)) == NULL) {
        gs_log(GS_LOG_ERROR, "state database: %s %s: cannot encode it", kind, key);
        return GS_ENOMEM;
    }
    sqlite3_bind_text(s->put, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->put, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->put, 3, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(s->put);
    sqlite3_reset(s->put);
    sqlite3_clear_bindings(s->put);
    free(text);
    if (rc != SQLITE_DONE) {
        log_error(s, kind);
        return GS_EIO;
    }
    return GS_OK;
}

int sim_store_put_id(sim_store_t *s, const char *kind, int64_t key, const json_t *doc)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)key);
    return sim_store_put(s, kind, text, doc);
}

/* The doc column of st's current row, parsed. */
static int row_doc(sqlite3_stmt *st, int col, const char *kind, json_t **out, gs_diag_t *diag)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    size_t len = (size_t)sqlite3_column_bytes(st, col);
    return gs_json_parse(text ? text : "", len, DOC_MAX, kind, out, diag);
}

int sim_store_each(sim_store_t *s, const char *kind, sim_store_each_cb cb, void *arg,
                   gs_diag_t *diag)
{
    int rc, err = GS_OK;
    if (s == NULL)
        return GS_OK;
    sqlite3_bind_text(s->each, 1, kind, -1, SQLITE_STATIC);
    while (err == GS_OK && (rc = sqlite3_step(s->each)) == SQLITE_ROW) {
        json_t *doc = NULL;
        err = row_doc(s->each, 1, kind, &doc, diag);
        if (err == GS_OK)
            err = cb((const char *)sqlite3_column_text(s->each, 0), doc, arg, diag);
        json_decref(doc);
    }
    if (err == GS_OK && rc != SQLITE_DONE)
        err = db_error(s, kind, diag);
    sqlite3_reset(s->each);
    sqlite3_clear_bindings(s->each);
    return err;
}

int sim_store_get(sim_store_t *s, const char *kind, const char *key, json_t **out, gs_diag_t *diag)
{
    int rc, err = GS_OK;
    *out = NULL;
    if (s == NULL)
        return GS_OK;
    sqlite3_bind_text(s->get, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->get, 2, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(s->get);
    if (rc == SQLITE_ROW)
        err = row_doc(s->get, 0, kind, out, diag);
    else if (rc != SQLITE_DONE)
        err = db_error(s, kind, diag);
    sqlite3_reset(s->get);
    sqlite3_clear_bindings(s->get);
    return err;
}
