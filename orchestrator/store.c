/* store.c — gridstord's state in SQLite: WAL, numbered migrations kept in PRAGMA
 * user_version, prepared statements only.
 *
 * Durability. A committed transaction is in the WAL file, in the kernel's cache, so a
 * killed process loses nothing; surviving a power cut takes the disk, which is slow, so
 * it is not waited for on the caller's thread (synchronous=NORMAL): before anything that
 * must not be forgotten leaves the daemon (a payment, a workload, an answer naming a new
 * session), gs_store_sync has the WAL written to disk (fdatasync) on libuv's threadpool,
 * and the action follows in its callback. A checkpoint moves WAL frames into the database
 * file and syncs it, so a synced frame is on disk wherever it went; the handle never
 * checkpoints itself (wal_autocheckpoint=0): gs_store_checkpoint does, on the threadpool
 * through a connection of its own, so no write waits for the disk on the caller's
 * thread.
 *
 * Every state change is one transaction; the deployer records what it is about to do
 * on the grid before doing it, and compare-and-set transitions (from → to) make a
 * resumed daemon take each step exactly once. The accepted callback's transaction id
 * is a primary key, so a payment can serve one session only, across all deployments. */
#include "orchestrator.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#define SLOW_WRITE_S   0.05 /* a write this long is logged: the disk stalls the daemon's loop */
#define SLOW_LOG_EVERY 60   /* seconds between two such warnings */
#define STMT_CACHE     64   /* statements kept prepared (there are fewer in this file) */

struct gs_store {
    sqlite3 *db;
    gs_store_stats_t stats;
    time_t slow_logged;
    int wal_fd; /* the WAL file, for gs_store_sync; -1 until open */
    char *path;
    struct {
        sqlite3 *db; /* a connection of the threadpool's, one checkpoint at a time */
        uv_work_t work;
        bool busy;
        int rc, log, done; /* the last one's result and frames */
    } ckpt;
    sqlite3_stmt *cache[STMT_CACHE]; /* prepared once, reset after each use */
    size_t n_cached;
    uint64_t generation; /* bumped by every write, for readers' caches */
};

/* Migration N (1-based) brings user_version from N-1 to N. Never edit one that
 * shipped: add the next. */
static const char *const migrations[] = {
    /* 1: deployments, their signandpay sessions, events, used payments */
    "CREATE TABLE deployments ("
    "  name TEXT PRIMARY KEY,"
    "  owner TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  plan TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);"
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  document TEXT NOT NULL,"
    "  data_to_sign TEXT NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  memo TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'open',"
    "  txid TEXT UNIQUE,"
    "  signer TEXT,"
    "  accepted INTEGER);"
    "CREATE INDEX sessions_by_deployment ON sessions(deployment, idx);"
    "CREATE TABLE used_payments ("
    "  txid TEXT PRIMARY KEY,"
    "  session TEXT NOT NULL,"
    "  time INTEGER NOT NULL);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  level TEXT NOT NULL,"
    "  message TEXT NOT NULL);"
    "CREATE INDEX events_by_deployment ON events(deployment, id);",
    /* 2: the deployment's capacity pools, as the deployer reserves and pays them */
    "CREATE TABLE pools ("
    "  deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  farm_id INTEGER NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'new',"
    "  reservation_id INTEGER,"
    "  escrow_address TEXT,"
    "  escrow_amount INTEGER,"
    "  pay_body TEXT,"
    "  pay_txid TEXT UNIQUE,"
    "  PRIMARY KEY (deployment, idx));",
    /* 3: the deployment's workloads, as the deployer posts them */
    "CREATE TABLE workloads ("
    "  deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  node_id TEXT NOT NULL,"
    "  pool_idx INTEGER NOT NULL,"
    "  reference TEXT NOT NULL UNIQUE,"
    "  template TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'new',"
    "  password TEXT,"
    "  body TEXT,"
    "  workload_id INTEGER,"
    "  result TEXT,"
    "  PRIMARY KEY (deployment, kind, idx));",
    /* 4: workloads placed again on another node after a failure or a timeout */
    "ALTER TABLE workloads ADD COLUMN posted_at INTEGER;"
    "ALTER TABLE workloads ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE workloads ADD COLUMN tried TEXT NOT NULL DEFAULT '[]';",
    /* 5: pool extensions, ordered with their own signandpay session */
    "ALTER TABLE pools ADD COLUMN spec TEXT; ALTER TABLE pools ADD COLUMN session TEXT;",
    /* 6: scaling (0-dbs ordered with a session and the plan they make; gateway machines
     * posted again while the old ones still serve), and each pool's runway as read */
    "ALTER TABLE workloads ADD COLUMN session TEXT;"
    "ALTER TABLE workloads ADD COLUMN old_workload_id INTEGER;"
    "ALTER TABLE workloads ADD COLUMN old_body TEXT;"
    "ALTER TABLE deployments ADD COLUMN next_plan TEXT;"
    "ALTER TABLE pools ADD COLUMN empty_at INTEGER;"
    "ALTER TABLE pools ADD COLUMN runway_read INTEGER;",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int db_error(gs_store_t *s, gs_diag_t *diag, const char *what)
{
    return gs_diag_set(diag, GS_EIO, "state database: %s: %s", what, sqlite3_errmsg(s->db));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts a write (a statement or transaction end, with its fsync) that took since
 * `start`; a slow one is logged, at most once a minute. */
static void count_write(gs_store_t *s, double start)
{
    double took = now_s() - start;
    time_t now = time(NULL);
    s->stats.writes++;
    s->stats.seconds += took;
    if (took > s->stats.max_seconds)
        s->stats.max_seconds = took;
    if (took < SLOW_WRITE_S)
        return;
    s->stats.slow++;
    if (now - s->slow_logged >= SLOW_LOG_EVERY) {
        s->slow_logged = now;
        gs_log(GS_LOG_WARN,
               "a state database write took %.0f ms (a checkpoint on a slow disk?), during "
               "which gridstord answered nothing",
               took * 1000);
    }
}

void gs_store_stats(const gs_store_t *s, gs_store_stats_t *out)
{
    *out = s->stats;
}

static int exec(gs_store_t *s, const char *sql, gs_diag_t *diag)
{
    char *msg = NULL;
    double start = now_s();
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    count_write(s, start);
    if (rc == SQLITE_OK)
        return GS_OK;
    gs_diag_set(diag, GS_EIO, "state database: %s", msg ? msg : "error");
    sqlite3_free(msg);
    return GS_EIO;
}

static int user_version(gs_store_t *s, int *version, gs_diag_t *diag)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, diag, "reading the schema version");
    *version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return GS_OK;
}

/* Applies the migrations the file has not seen, each in its own transaction. */
static int migrate(gs_store_t *s, gs_diag_t *diag)
{
    int version, err = user_version(s, &version, diag);
    if (err == GS_OK && version > N_MIGRATIONS)
        return gs_diag_set(diag, GS_EINVAL,
                           "state database: schema version %d is newer than this gridstord "
                           "(%d); run the newer gridstord",
                           version, N_MIGRATIONS);
    for (; err == GS_OK && version < N_MIGRATIONS; version++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", version + 1);
        err = exec(s, "BEGIN IMMEDIATE;", diag);
        if (err == GS_OK)
            err = exec(s, migrations[version], diag);
        if (err == GS_OK)
            err = exec(s, bump, diag);
        if (err == GS_OK)
            err = exec(s, "COMMIT;", diag);
        else
            exec(s, "ROLLBACK;", NULL);
    }
    return err;
}

/* The WAL file SQLite keeps next to the database (there once the database was read in
 * WAL mode, as migrate did), opened for gs_store_sync. */
static int open_wal(gs_store_t *s, const char *path, gs_diag_t *diag)
{
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    if ((s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC)) < 0)
        return gs_diag_set(diag, GS_EIO, "%s: %s", wal, strerror(errno));
    return GS_OK;
}

int gs_store_open(const char *path, gs_store_t **out, gs_diag_t *diag)
{
    gs_store_t *s = calloc(1, sizeof *s);
    int err;
    *out = NULL;
    if (s == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        err = gs_diag_set(diag, GS_EIO, "%s: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : "cannot open");
        gs_store_close(s);
        return err;
    }
    s->wal_fd = -1;
    sqlite3_busy_timeout(s->db, 5000);
    /* checkpoints fsync the database: gs_store_checkpoint makes them off the caller's thread */
    err =
        exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
             diag);
    if (err == GS_OK && sqlite3_threadsafe()) /* else SQLite checkpoints by itself */
        err = exec(s, "PRAGMA wal_autocheckpoint = 0;", diag);
    if (err == GS_OK && (s->path = gs_strdup(path)) == NULL)
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (err == GS_OK)
        err = migrate(s, diag);
    if (err == GS_OK)
        err = open_wal(s, path, diag);
    if (err != GS_OK) {
        gs_store_close(s);
        return err;
    }
    *out = s;
    return GS_OK;
}

void gs_store_close(gs_store_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_cached; i++)
        sqlite3_finalize(s->cache[i]);
    sqlite3_close(s->db);
    sqlite3_close(s->ckpt.db);
    if (s->wal_fd >= 0)
        close(s->wal_fd);
    free(s->path);
    free(s);
}

/* On the threadpool: the WAL into the database through the threadpool's own connection,
 * PASSIVE (it never waits for the loop's reads or writes, and takes what it can). */
static void checkpoint_work(uv_work_t *w)
{
    gs_store_t *s = w->data;
    s->ckpt.rc = SQLITE_OK;
    if (s->ckpt.db == NULL) { /* a connection finds the WAL once it has read the file */
        s->ckpt.rc = sqlite3_open_v2(s->path, &s->ckpt.db, SQLITE_OPEN_READWRITE, NULL);
        if (s->ckpt.rc == SQLITE_OK)
            s->ckpt.rc = sqlite3_exec(s->ckpt.db, "PRAGMA journal_mode", NULL, NULL, NULL);
    }
    if (s->ckpt.rc == SQLITE_OK)
        s->ckpt.rc = sqlite3_wal_checkpoint_v2(s->ckpt.db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                               &s->ckpt.log, &s->ckpt.done);
}

static void checkpoint_done(uv_work_t *w, int status)
{
    gs_store_t *s = w->data;
    s->ckpt.busy = false;
    if (status != 0 || s->ckpt.rc != SQLITE_OK) {
        gs_log(GS_LOG_WARN, "checkpointing the state database failed: %s",
               status != 0 ? uv_strerror(status) : sqlite3_errstr(s->ckpt.rc));
        return;
    }
    s->stats.checkpoints++;
    s->stats.wal_frames = s->ckpt.log > 0 ? (uint64_t)s->ckpt.log : 0;
}

void gs_store_checkpoint(gs_store_t *s, uv_loop_t *loop)
{
    if (s->ckpt.busy || !sqlite3_threadsafe())
        return;
    s->ckpt.work.data = s;
    if (uv_queue_work(loop, &s->ckpt.work, checkpoint_work, checkpoint_done) == 0)
        s->ckpt.busy = true;
}

typedef struct {
    uv_fs_t fs;
    gs_store_synced_cb cb;
    void *arg;
} sync_t;

static void on_synced(uv_fs_t *fs)
{
    sync_t *y = (sync_t *)fs;
    int err = fs->result < 0 ? GS_EIO : GS_OK;
    if (err != GS_OK)
        gs_log(GS_LOG_ERROR, "the state database's WAL could not be synced to disk: %s",
               uv_strerror((int)fs->result));
    uv_fs_req_cleanup(fs);
    y->cb(err, y->arg);
    free(y);
}

int gs_store_sync(gs_store_t *s, uv_loop_t *loop, gs_store_synced_cb cb, void *arg)
{
    sync_t *y = calloc(1, sizeof *y);
    if (y == NULL)
        return GS_ENOMEM;
    y->cb = cb;
    y->arg = arg;
    if (uv_fs_fdatasync(loop, &y->fs, s->wal_fd, on_synced) != 0) {
        free(y);
        return GS_EIO;
    }
    return GS_OK;
}

uint64_t gs_store_generation(const gs_store_t *s)
{
    return s->generation;
}

int gs_store_schema_version(gs_store_t *s)
{
    int v = -1;
    user_version(s, &v, NULL);
    return v;
}

/* ---- statements ---------------------------------------------------------------------- */

/* Prepares sql and binds the arguments described by types: 't' text (const char *),
 * 'i' int64_t. */
/* The prepared statement for sql: kept from an earlier call, or prepared now (and kept
 * while there is room). Hand it back with release(). */
static sqlite3_stmt *statement(gs_store_t *s, const char *sql)
{
    sqlite3_stmt *st;
    for (size_t i = 0; i < s->n_cached; i++)
        if (strcmp(sqlite3_sql(s->cache[i]), sql) == 0)
            return s->cache[i];
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return NULL;
    if (s->n_cached < STMT_CACHE)
        s->cache[s->n_cached++] = st;
    return st;
}

static void release(gs_store_t *s, sqlite3_stmt *st)
{
    for (size_t i = 0; i < s->n_cached; i++)
        if (s->cache[i] == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    sqlite3_finalize(st);
}

static sqlite3_stmt *prepare(gs_store_t *s, const char *sql, const char *types, va_list ap)
{
    sqlite3_stmt *st = statement(s, sql);
    if (st == NULL)
        return NULL;
    for (int i = 0; types[i]; i++) {
        int rc = SQLITE_MISUSE; /* a type letter other than t and i */
        if (types[i] == 't')
            rc = sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else if (types[i] == 'i')
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        if (rc != SQLITE_OK) {
            release(s, st);
            return NULL;
        }
    }
    return st;
}

/* Runs a statement that returns no rows; *changes gets how many rows it changed. */
static int run(gs_store_t *s, gs_diag_t *diag, int *changes, const char *sql, const char *types,
               ...)
{
    va_list ap;
    sqlite3_stmt *st;
    double start;
    int rc, err = GS_OK;
    va_start(ap, types);
    st = prepare(s, sql, types, ap);
    va_end(ap);
    if (st == NULL)
        return db_error(s, diag, "preparing a statement");
    start = now_s();
    rc = sqlite3_step(st);
    count_write(s, start);
    s->generation++;
    if (rc == SQLITE_CONSTRAINT)
        err = gs_diag_set(diag, GS_EINVAL, "state database: %s", sqlite3_errmsg(s->db));
    else if (rc != SQLITE_DONE)
        err = db_error(s, diag, "writing");
    else if (changes)
        *changes = sqlite3_changes(s->db);
    release(s, st); /* after the error message and the count were read */
    return err;
}

/* The rows of a query as a JSON array of objects keyed by column name (integers and
 * texts; a column named like "*_json" is parsed as JSON). */
static json_t *rows(gs_store_t *s, const char *sql, const char *types, ...)
{
    va_list ap;
    sqlite3_stmt *st;
    json_t *out = json_array();
    va_start(ap, types);
    st = prepare(s, sql, types, ap);
    va_end(ap);
    if (st == NULL) {
        json_decref(out);
        return NULL;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *row = json_object();
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *name = sqlite3_column_name(st, c);
            const char *text = (const char *)sqlite3_column_text(st, c);
            size_t nlen = strlen(name);
            json_t *v;
            if (sqlite3_column_type(st, c) == SQLITE_INTEGER)
                v = json_integer(sqlite3_column_int64(st, c));
            else if (text == NULL)
                v = json_null();
            else if (nlen > 5 && strcmp(name + nlen - 5, "_json") == 0)
                v = json_loads(text, 0, NULL);
            else
                v = json_string(text);
            json_object_set_new(row, name, v ? v : json_null());
        }
        json_array_append_new(out, row);
    }
    release(s, st);
    return out;
}

static json_t *first_row(json_t *list)
{
    json_t *row = json_incref(json_array_get(list, 0));
    json_decref(list);
    return row;
}

/* ---- deployments ---------------------------------------------------------------------- */

static int add_session(gs_store_t *s, const char *deployment, int64_t idx,
                       const gs_store_session_t *session, gs_diag_t *diag)
{
    return run(s, diag, NULL,
               "INSERT INTO sessions(id, deployment, idx, document, data_to_sign, amount, memo) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               "ttittit", session->id, deployment, idx, session->document, session->data_to_sign,
               (int64_t)session->amount, session->memo);
}

int gs_store_deployment_add(gs_store_t *s, const char *name, const char *owner, const char *spec,
                            const char *plan_json, const gs_store_session_t *sessions,
                            size_t n_sessions, gs_diag_t *diag)
{
    int64_t now = (int64_t)time(NULL);
    int err = exec(s, "SAVEPOINT deployment_add;", diag);
    if (err == GS_OK)
        err = run(s, diag, NULL,
                  "INSERT INTO deployments(name, owner, spec, plan, state, created, updated) "
                  "VALUES (?, ?, ?, ?, 'awaiting_payment', ?, ?)",
                  "ttttii", name, owner, spec, plan_json, now, now);
    if (err == GS_EINVAL)
        err = gs_diag_set(diag, GS_EINVAL, "a deployment named '%s' exists already", name);
    for (size_t i = 0; i < n_sessions && err == GS_OK; i++)
        err = add_session(s, name, (int64_t)i, &sessions[i], diag);
    if (err == GS_OK)
        err = run(s, diag, NULL,
                  "INSERT INTO events(deployment, time, level, message) VALUES (?, ?, 'info', "
                  "'planned: waiting for the owner to sign and pay')",
                  "ti", name, now);
    if (err != GS_OK)
        exec(s, "ROLLBACK TO deployment_add;", NULL);
    exec(s, "RELEASE deployment_add;", NULL);
    return err;
}

json_t *gs_store_deployment(gs_store_t *s, const char *name)
{
    return first_row(rows(s,
                          "SELECT name, owner, state, reason, created, updated, plan AS plan_json "
                          "FROM deployments WHERE name = ?",
                          "t", name));
}

json_t *gs_store_deployments(gs_store_t *s)
{
    return rows(s,
                "SELECT name, owner, state, reason, created, updated FROM deployments "
                "ORDER BY created, name",
                "");
}

int gs_store_deployment_transition(gs_store_t *s, const char *name, const char *from,
                                   const char *to, const char *reason, gs_diag_t *diag)
{
    int changes = 0, err = run(s, diag, &changes,
                               "UPDATE deployments SET state = ?, reason = ?, updated = ? "
                               "WHERE name = ? AND state = ?",
                               "ttitt", to, reason ? reason : "", (int64_t)time(NULL), name, from);
    if (err == GS_OK && changes == 0)
        return gs_diag_set(diag, GS_ERANGE, "deployment '%s' is not %s", name, from);
    return err;
}

int gs_store_deployment_delete(gs_store_t *s, const char *name, gs_diag_t *diag)
{
    int changes = 0, err = exec(s, "BEGIN IMMEDIATE;", diag);
    if (err == GS_OK)
        err = run(s, diag, &changes, "DELETE FROM deployments WHERE name = ?", "t", name);
    if (err == GS_OK && changes == 0)
        err = gs_diag_set(diag, GS_ENOENT, "no deployment named '%s'", name);
    if (err == GS_OK) /* its sessions and pools go with it; the used payments stay used */
        err = run(s, diag, NULL, "DELETE FROM events WHERE deployment = ?", "t", name);
    exec(s, err == GS_OK ? "COMMIT;" : "ROLLBACK;", NULL);
    return err;
}

/* ---- events ----------------------------------------------------------------------------- */

int gs_store_event(gs_store_t *s, const char *deployment, const char *level, const char *message,
                   gs_diag_t *diag)
{
    uint64_t generation = s->generation; /* events change no state a cache holds */
    int err = run(s, diag, NULL,
                  "INSERT INTO events(deployment, time, level, message) VALUES (?, ?, ?, ?)",
                  "titt", deployment, (int64_t)time(NULL), level, message);
    s->generation = generation;
    return err;
}

json_t *gs_store_events(gs_store_t *s, const char *deployment, int limit, int64_t since)
{
    if (since > 0)
        return rows(s,
                    "SELECT id, time, level, message FROM events WHERE deployment = ? AND id > ? "
                    "ORDER BY id LIMIT ?",
                    "tii", deployment, since, (int64_t)limit);
    return rows(s,
                "SELECT id, time, level, message FROM (SELECT * FROM events WHERE deployment = ? "
                "ORDER BY id DESC LIMIT ?) ORDER BY id",
                "ti", deployment, (int64_t)limit);
}

/* ---- signandpay sessions ---------------------------------------------------------------- */

json_t *gs_store_session(gs_store_t *s, const char *id)
{
    return first_row(rows(s,
                          "SELECT id, deployment, idx, document, data_to_sign, "
                          "amount, memo, state, txid, signer FROM sessions WHERE id = ?",
                          "t", id));
}

json_t *gs_store_sessions(gs_store_t *s, const char *deployment)
{
    return rows(s,
                "SELECT id, idx, amount, memo, state, txid FROM sessions WHERE deployment = ? "
                "ORDER BY idx",
                "t", deployment);
}

/* The deployment moves to paid once none of its sessions is open. */
static int settle_deployment(gs_store_t *s, const char *session, gs_diag_t *diag)
{
    return run(s, diag, NULL,
               "UPDATE deployments SET state = 'paid', updated = ? WHERE state = "
               "'awaiting_payment' AND name = (SELECT deployment FROM sessions WHERE id = ?) "
               "AND NOT EXISTS (SELECT 1 FROM sessions WHERE deployment = deployments.name AND "
               "state = 'open')",
               "it", (int64_t)time(NULL), session);
}

/* A scale's 0-dbs are to be posted once its session is paid: its plan becomes the
 * deployment's, and each gateway machine is to be posted again with the new backends
 * while the old container (its id and body kept) serves until the new one answers. */
static int settle_scale(gs_store_t *s, const char *session, gs_diag_t *diag)
{
    int changes = 0,
        err = run(s, diag, &changes,
                  "UPDATE workloads SET state = 'new' WHERE session = ? AND state = 'ordered'", "t",
                  session);
    if (err != GS_OK || changes == 0)
        return err;
    err = run(s, diag, NULL,
              "UPDATE deployments SET plan = next_plan, next_plan = NULL WHERE next_plan IS NOT "
              "NULL AND name = (SELECT deployment FROM sessions WHERE id = ?)",
              "t", session);
    if (err == GS_OK)
        err = run(s, diag, NULL,
                  "UPDATE workloads SET old_workload_id = workload_id, old_body = body, "
                  "state = 'new', reference = reference || '-s' || substr(?, 1, 8), "
                  "body = NULL, password = NULL, workload_id = NULL, result = NULL, "
                  "posted_at = NULL, attempt = 0, tried = '[]' "
                  "WHERE kind = 'container' AND state IN ('ok', 'serving') AND "
                  "old_workload_id IS NULL AND "
                  "deployment = (SELECT deployment FROM sessions WHERE id = ?)",
                  "tt", session, session);
    return err;
}

/* An extension's pools are to be reserved once its session is paid; a deployed
 * deployment goes back to paid for the deployer to take them through. */
static int settle_extension(gs_store_t *s, const char *session, gs_diag_t *diag)
{
    int changes = 0,
        err = run(s, diag, &changes,
                  "UPDATE pools SET state = 'new' WHERE session = ? AND state = 'ordered'", "t",
                  session);
    if (err != GS_OK || changes == 0)
        return err;
    return run(s, diag, NULL,
               "UPDATE deployments SET state = 'paid', updated = ? WHERE state = 'deployed' AND "
               "name = (SELECT deployment FROM sessions WHERE id = ?)",
               "it", (int64_t)time(NULL), session);
}

int gs_store_session_accept(gs_store_t *s, const char *id, const char *txid, const char *signer,
                            gs_diag_t *diag)
{
    int64_t now = (int64_t)time(NULL);
    int changes = 0, err = exec(s, "BEGIN IMMEDIATE;", diag);
    if (err == GS_OK &&
        (err = run(s, diag, NULL, "INSERT INTO used_payments(txid, session, time) VALUES (?, ?, ?)",
                   "tti", txid, id, now)) == GS_EINVAL)
        err = gs_diag_set(diag, GS_EINVAL, "payment %s was used before", txid);
    if (err == GS_OK)
        err = run(s, diag, &changes,
                  "UPDATE sessions SET state = 'accepted', txid = ?, signer = ?, accepted = ? "
                  "WHERE id = ? AND state = 'open'",
                  "ttit", txid, signer, now, id);
    if (err == GS_OK && changes == 0)
        err = gs_diag_set(diag, GS_ERANGE, "session %s is not waiting for a callback", id);
    if (err == GS_OK)
        err = run(s, diag, NULL,
                  "INSERT INTO events(deployment, time, level, message) SELECT deployment, ?, "
                  "'info', 'signed by ' || ? || ' and paid (transaction ' || ? || ')' FROM "
                  "sessions WHERE id = ?",
                  "ittt", now, signer, txid, id);
    if (err == GS_OK)
        err = settle_deployment(s, id, diag);
    if (err == GS_OK)
        err = settle_scale(s, id, diag);
    if (err == GS_OK)
        err = settle_extension(s, id, diag);
    exec(s, err == GS_OK ? "COMMIT;" : "ROLLBACK;", NULL);
    return err;
}

/* ---- pools ------------------------------------------------------------------------------ */

int gs_store_pools_init(gs_store_t *s, const char *deployment, const json_t *plan_pools,
                        gs_diag_t *diag)
{
    size_t i;
    json_t *p;
    int err = exec(s, "BEGIN IMMEDIATE;", diag);
    json_array_foreach(plan_pools, i, p)
    {
        int64_t farm = 0;
        gs_json_int(p, "farm_id", &farm);
        if (err == GS_OK)
            err = run(s, diag, NULL,
                      "INSERT OR IGNORE INTO pools(deployment, idx, farm_id) VALUES (?, ?, ?)",
                      "tii", deployment, (int64_t)i, farm);
    }
    exec(s, err == GS_OK ? "COMMIT;" : "ROLLBACK;", NULL);
    return err;
}

json_t *gs_store_pools(gs_store_t *s, const char *deployment)
{
    return rows(s,
                "SELECT idx, farm_id, state, reservation_id, escrow_address, escrow_amount, "
                "pay_body, pay_txid, spec AS spec_json, session, empty_at, runway_read "
                "FROM pools WHERE deployment = ? "
                "ORDER BY idx",
                "t", deployment);
}

/* The answer to a compare-and-set of a pool or workload: GS_ERANGE when no row was in
 * `from`. */
static int cas_result(const char *what, const char *deployment, int64_t idx, const char *from,
                      int changes, gs_diag_t *diag)
{
    if (changes == 0)
        return gs_diag_set(diag, GS_ERANGE, "%s %lld of %s is not %s", what, (long long)idx,
                           deployment, from);
    return GS_OK;
}

int gs_store_pool_reserved(gs_store_t *s, const char *deployment, int64_t idx,
                           int64_t reservation_id, const char *escrow_address,
                           uint64_t escrow_amount, gs_diag_t *diag)
{
    int changes = 0,
        err = run(s, diag, &changes,
                  "UPDATE pools SET state = 'reserved', reservation_id = ?, escrow_address = ?, "
                  "escrow_amount = ?, pay_body = NULL, pay_txid = NULL "
                  "WHERE deployment = ? AND idx = ? AND state = 'new'",
                  "ititi", reservation_id, escrow_address, (int64_t)escrow_amount, deployment, idx);
    return err ? err : cas_result("pool", deployment, idx, "new", changes, diag);
}

int gs_store_pool_paying(gs_store_t *s, const char *deployment, int64_t idx, const char *pay_body,
                         const char *pay_txid, gs_diag_t *diag)
{
    int changes = 0, err = run(s, diag, &changes,
                               "UPDATE pools SET state = 'paying', pay_body = ?, pay_txid = ? "
                               "WHERE deployment = ? AND idx = ? AND state = 'reserved'",
                               "ttti", pay_body, pay_txid, deployment, idx);
    return err ? err : cas_result("pool", deployment, idx, "reserved", changes, diag);
}

int gs_store_pool_set_state(gs_store_t *s, const char *deployment, int64_t idx, const char *from,
                            const char *to, gs_diag_t *diag)
{
    int changes = 0,
        err = run(s, diag, &changes,
                  "UPDATE pools SET state = ? WHERE deployment = ? AND idx = ? AND state = ?",
                  "ttit", to, deployment, idx, from);
    return err ? err : cas_result("pool", deployment, idx, from, changes, diag);
}

json_t *gs_store_deployments_in(gs_store_t *s, const char *state)
{
    return rows(s,
                "SELECT name, owner, plan AS plan_json FROM deployments WHERE state = ? "
                "ORDER BY created, name",
                "t", state);
}

/* ---- transactions and workloads ----------------------------------------------------------- */

int gs_store_begin(gs_store_t *s, gs_diag_t *diag)
{
    return exec(s, "SAVEPOINT several;", diag);
}

int gs_store_end(gs_store_t *s, bool commit, gs_diag_t *diag)
{
    if (commit)
        return exec(s, "RELEASE several;", diag);
    exec(s, "ROLLBACK TO several;", NULL);
    return exec(s, "RELEASE several;", diag);
}

int gs_store_workload_add(gs_store_t *s, const char *deployment, const gs_store_workload_t *w,
                          gs_diag_t *diag)
{
    return run(
        s, diag, NULL,
        "INSERT INTO workloads(deployment, kind, idx, node_id, pool_idx, reference, template) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        "ttititt", deployment, w->kind, (int64_t)w->idx, w->node_id, (int64_t)w->pool_idx,
        w->reference, w->template_json);
}

json_t *gs_store_workloads(gs_store_t *s, const char *deployment)
{
    return rows(s,
                "SELECT kind, idx, node_id, pool_idx, reference, template, state, password, body, "
                "workload_id, result AS result_json, posted_at, attempt, tried AS tried_json, "
                "session, old_workload_id, old_body "
                "FROM workloads WHERE deployment = ? "
                "ORDER BY kind DESC, idx",
                "t", deployment);
}

int gs_store_workload_step(gs_store_t *s, const char *deployment, const char *kind, int64_t idx,
                           const char *from, const char *to, const gs_store_workload_set_t *set,
                           gs_diag_t *diag)
{
    int changes = 0,
        err = run(s, diag, &changes,
                  "UPDATE workloads SET state = ?, password = coalesce(?, password), "
                  "body = coalesce(?, body), workload_id = coalesce(nullif(?, 0), workload_id), "
                  "result = coalesce(?, result), posted_at = coalesce(nullif(?, 0), posted_at) "
                  "WHERE deployment = ? AND kind = ? AND idx = ? AND state = ?",
                  "tttitittit", to, set ? set->password : NULL, set ? set->body : NULL,
                  set ? set->workload_id : 0, set ? set->result_json : NULL,
                  set ? set->posted_at : 0, deployment, kind, idx, from);
    return err ? err : cas_result(kind, deployment, idx, from, changes, diag);
}

int gs_store_workload_replace(gs_store_t *s, const char *deployment, const char *kind, int64_t idx,
                              const char *from, const char *node_id, const char *reference,
                              const char *tried_json, gs_diag_t *diag)
{
    int changes = 0,
        err = run(s, diag, &changes,
                  "UPDATE workloads SET state = 'new', node_id = ?, reference = ?, tried = ?, "
                  "attempt = attempt + 1, password = NULL, body = NULL, workload_id = NULL, "
                  "result = NULL, posted_at = NULL "
                  "WHERE deployment = ? AND kind = ? AND idx = ? AND state = ?",
                  "tttttit", node_id, reference, tried_json, deployment, kind, idx, from);
    return err ? err : cas_result(kind, deployment, idx, from, changes, diag);
}

/* An order not paid yet is replaced by a new one: its session is canceled (a callback
 * for it is refused) and what it ordered forgotten. */
static int cancel_orders(gs_store_t *s, const char *deployment, gs_diag_t *diag)
{
    int err = run(s, diag, NULL, "DELETE FROM pools WHERE deployment = ? AND state = 'ordered'",
                  "t", deployment);
    if (err == GS_OK)
        err = run(s, diag, NULL, "DELETE FROM workloads WHERE deployment = ? AND state = 'ordered'",
                  "t", deployment);
    if (err == GS_OK)
        err = run(s, diag, NULL,
                  "UPDATE sessions SET state = 'canceled' WHERE deployment = ? AND state = 'open'",
                  "t", deployment);
    if (err == GS_OK)
        err = run(s, diag, NULL, "UPDATE deployments SET next_plan = NULL WHERE name = ?", "t",
                  deployment);
    return err;
}

int gs_store_extension_add(gs_store_t *s, const char *deployment, const gs_store_session_t *session,
                           const json_t *pools, gs_diag_t *diag)
{
    const json_t *p;
    size_t i;
    int err = exec(s, "SAVEPOINT extension_add;", diag);
    if (err == GS_OK)
        err = cancel_orders(s, deployment, diag);
    if (err == GS_OK) /* the deployment's next session */
        err = run(s, diag, NULL,
                  "INSERT INTO sessions(id, deployment, idx, document, data_to_sign, amount, memo) "
                  "SELECT ?, ?, coalesce(max(idx), -1) + 1, ?, ?, ?, ? FROM sessions "
                  "WHERE deployment = ?",
                  "ttttitt", session->id, deployment, session->document, session->data_to_sign,
                  (int64_t)session->amount, session->memo, deployment);
    json_array_foreach(pools, i, p)
    {
        char *spec = err == GS_OK ? gs_json_dumps(json_object_get(p, "spec")) : NULL;
        int64_t farm = 0;
        gs_json_int(p, "farm_id", &farm);
        if (err == GS_OK)
            err = spec ? run(s, diag, NULL,
                             "INSERT INTO pools(deployment, idx, farm_id, state, spec, session) "
                             "SELECT ?, coalesce(max(idx), -1) + 1, ?, 'ordered', ?, ? FROM pools "
                             "WHERE deployment = ?",
                             "tittt", deployment, farm, spec, session->id, deployment)
                       : gs_diag_set(diag, GS_ENOMEM, "out of memory");
        free(spec);
    }
    if (err != GS_OK)
        exec(s, "ROLLBACK TO extension_add;", NULL);
    exec(s, "RELEASE extension_add;", NULL);
    return err;
}

int gs_store_scale_add(gs_store_t *s, const char *deployment, const gs_store_session_t *session,
                       const json_t *pools, const gs_store_workload_t *zdbs, size_t n_zdbs,
                       const char *next_plan, gs_diag_t *diag)
{
    int err = exec(s, "SAVEPOINT scale_add;", diag);
    if (err == GS_OK)
        err = gs_store_extension_add(s, deployment, session, pools, diag);
    for (size_t i = 0; i < n_zdbs && err == GS_OK; i++)
        err = run(s, diag, NULL,
                  "INSERT INTO workloads(deployment, kind, idx, node_id, pool_idx, reference, "
                  "template, state, session) VALUES (?, ?, ?, ?, ?, ?, ?, 'ordered', ?)",
                  "ttitittt", deployment, zdbs[i].kind, (int64_t)zdbs[i].idx, zdbs[i].node_id,
                  (int64_t)zdbs[i].pool_idx, zdbs[i].reference, zdbs[i].template_json, session->id);
    if (err == GS_OK)
        err = run(s, diag, NULL, "UPDATE deployments SET next_plan = ? WHERE name = ?", "tt",
                  next_plan, deployment);
    if (err != GS_OK)
        exec(s, "ROLLBACK TO scale_add;", NULL);
    exec(s, "RELEASE scale_add;", NULL);
    return err;
}

int gs_store_workload_retired(gs_store_t *s, const char *deployment, const char *kind, int64_t idx,
                              int64_t old_workload_id, gs_diag_t *diag)
{
    int changes = 0,
        err = run(s, diag, &changes,
                  "UPDATE workloads SET old_workload_id = NULL, old_body = NULL "
                  "WHERE deployment = ? AND kind = ? AND idx = ? AND old_workload_id = ?",
                  "ttii", deployment, kind, idx, old_workload_id);
    return err ? err : cas_result(kind, deployment, idx, "replacing an old one", changes, diag);
}

int gs_store_pool_runway(gs_store_t *s, const char *deployment, int64_t idx, int64_t empty_at,
                         int64_t read_at, gs_diag_t *diag)
{
    return run(s, diag, NULL,
               "UPDATE pools SET empty_at = ?, runway_read = ? WHERE deployment = ? AND idx = ?",
               "iiti", empty_at, read_at, deployment, idx);
}
