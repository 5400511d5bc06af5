/* jobs.c — the gateway's job queue: each upload is a file in data_dir/uploads named by its
 * job id, and a row in data_dir/jobs.db (SQLite, WAL, synchronous=FULL) with its state:
 * queued, active, done (with the file id) or error (with the reason). At most `workers`
 * are stored through the codec at once. The row is written before the job is answered,
 * so an accepted upload is never lost: at start, jobs left queued or active by a stop or a
 * crash are stored again from their file (a store is not visible until its record is
 * written, so a half-stored file never has an id), or marked as errors when the file is
 * gone; an upload file no job names (a stop between writing it and recording its job) is
 * removed. A finished job's file is removed. Long-polls waiting on a job are woken when it
 * ends. A finished job's row is kept JOB_KEEP_S after its upload (so a client has time to
 * ask for its status), then deleted: at start and at most once an hour when jobs are
 * added, so the queue does not grow without end; uploads in parts untouched for a day go
 * at the same times (parts.c). */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

typedef struct waiter waiter_t;
struct waiter {
    waiter_t *next;
    char id[GW_JOB_ID_LEN + 1];
    gs_http_req_t *req;
};

typedef struct {
    gw_t *gw;
    char id[GW_JOB_ID_LEN + 1];
    int fd;
} running_t;

#define JOB_KEEP_S  (7 * 86400) /* a week */
#define PRUNE_EVERY 3600
#define PART_KEEP_S 86400 /* an upload in parts untouched this long is abandoned */

struct gw_jobs {
    sqlite3 *db;
    unsigned active;
    waiter_t *waiters;
    time_t pruned; /* when finished jobs past JOB_KEEP_S were last deleted */
};

static int db_error(sqlite3 *db, gs_diag_t *diag, const char *what)
{
    return gs_diag_set(diag, GS_EIO, "the job queue: %s: %s", what, sqlite3_errmsg(db));
}

/* One statement with text parameters (NULL-terminated list); GS_OK or GS_EIO. */
static int run(sqlite3 *db, const char *sql, const char *const *params)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    for (int i = 0; rc == SQLITE_OK && params && params[i]; i++)
        rc = sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? GS_OK : GS_EIO;
}

/* Finished jobs uploaded more than JOB_KEEP_S ago are forgotten (their status is 404). */
static void prune(gw_t *gw)
{
    gw_jobs_t *j = gw->jobs;
    char before[32];
    const char *params[] = {before, NULL};
    j->pruned = time(NULL);
    snprintf(before, sizeof before, "%lld", (long long)(j->pruned - JOB_KEEP_S));
    if (run(j->db,
            "DELETE FROM jobs WHERE state IN ('done', 'error') AND created < CAST(? AS INTEGER)",
            params) != GS_OK)
        gs_log(GS_LOG_WARN, "the job queue: forgetting old jobs: %s", sqlite3_errmsg(j->db));
    gw_parts_prune(gw, PART_KEEP_S);
}

void gw_jobs_upload_path(const gw_t *gw, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s/uploads/%s", gw->cfg.data_dir, id);
}

/* ---- storing ---------------------------------------------------------------------------- */

static void pump(gw_t *gw);

/* Answers the long-polls waiting on job id. Each waiter leaves the list before its
 * request is answered (the answer would unwatch it), so the walk starts over each time. */
static void wake(gw_t *gw, const char *id)
{
    waiter_t **p = &gw->jobs->waiters;
    while (*p != NULL) {
        waiter_t *w = *p;
        gs_http_req_t *req = w->req;
        if (strcmp(w->id, id) != 0) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        free(w);
        gs_http_defer_now(req);
        p = &gw->jobs->waiters;
    }
}

static void finish(running_t *run_, const char *state, const char *result)
{
    gw_t *gw = run_->gw;
    char path[1200];
    const char *params[] = {state, result, run_->id, NULL};
    if (run(gw->jobs->db, "UPDATE jobs SET state = ?, result = ? WHERE id = ?", params) != GS_OK)
        gs_log(GS_LOG_ERROR, "job %s: recording its end failed: %s", run_->id,
               sqlite3_errmsg(gw->jobs->db));
    gw_jobs_upload_path(gw, run_->id, path, sizeof path);
    unlink(path);
    gs_log(GS_LOG_INFO, "job %s: %s %s", run_->id, state, result);
    gw->jobs->active--;
    wake(gw, run_->id);
    free(run_);
    pump(gw);
}

static void on_stored(int err, const char *msg, const char *file_id, void *ud)
{
    running_t *run_ = ud;
    char why[GS_DIAG_MAX + 8];
    close(run_->fd);
    if (err == GS_ECANCELED && run_->gw->stopping) {
        /* the gateway is stopping: the job stays, and is stored again at the next start */
        run_->gw->jobs->active--;
        free(run_);
        return;
    }
    if (err == GS_OK) {
        finish(run_, "done", file_id);
        return;
    }
    snprintf(why, sizeof why, "%s", msg && msg[0] ? msg : gs_strerror(err));
    finish(run_, "error", why);
}

/* Starts the job: its file through the codec. false when out of memory. */
static bool start(gw_t *gw, const char *id, const char *ext)
{
    running_t *run_ = calloc(1, sizeof *run_);
    char path[1200];
    gs_diag_t diag = {{0}};
    const char *params[] = {id, NULL};
    if (run_ == NULL)
        return false;
    run_->gw = gw;
    snprintf(run_->id, sizeof run_->id, "%s", id);
    gw_jobs_upload_path(gw, id, path, sizeof path);
    gw->jobs->active++;
    run(gw->jobs->db, "UPDATE jobs SET state = 'active' WHERE id = ?", params);
    if ((run_->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        finish(run_, "error",
               "the upload's file is gone (the gateway's data folder was "
               "cleaned); upload it again");
        return true;
    }
    if (gs_codec_put_fd(gw->codec, run_->fd, ext[0] ? ext : NULL, on_stored, run_, &diag) !=
        GS_OK) {
        close(run_->fd);
        finish(run_, "error", diag.msg);
    }
    return true;
}

/* Starts queued jobs, oldest first, while there is room. */
static void pump(gw_t *gw)
{
    sqlite3_stmt *st = NULL;
    char id[GW_JOB_ID_LEN + 1], ext[GS_CODEC_EXT_MAX + 1];
    while (gw->jobs->active < gw->cfg.workers) {
        bool found = false;
        if (sqlite3_prepare_v2(gw->jobs->db,
                               "SELECT id, ext FROM jobs WHERE state = 'queued' ORDER BY created, "
                               "rowid LIMIT 1",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(ext, sizeof ext, "%s", (const char *)sqlite3_column_text(st, 1));
            found = true;
        }
        sqlite3_finalize(st);
        if (!found || gw->stopping || !start(gw, id, ext))
            return;
    }
}

/* ---- the queue ---------------------------------------------------------------------------- */

/* Removes upload files no waiting job names: the gateway stopped between writing one and
 * recording its job, so nobody was given that job's id. */
static void remove_strays(gw_t *gw)
{
    char dir[1100], path[1200], state[GS_DIAG_MAX + 16];
    DIR *d;
    struct dirent *e;
    snprintf(dir, sizeof dir, "%s/uploads", gw->cfg.data_dir);
    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' ||
            (strlen(e->d_name) == GW_JOB_ID_LEN &&
             gw_jobs_status(gw, e->d_name, state, sizeof state) && strcmp(state, "ACTIVE") == 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gs_log(GS_LOG_INFO, "removing %s: no job waits for it", path);
        unlink(path);
    }
    closedir(d);
}

int gw_jobs_open(gw_t *gw, gs_diag_t *diag)
{
    char path[1200];
    gw_jobs_t *j = calloc(1, sizeof *j);
    if (j == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    gw->jobs = j;
    snprintf(path, sizeof path, "%s/uploads", gw->cfg.data_dir);
    if (gs_mkdir_p(path, diag) != GS_OK)
        return GS_EIO;
    snprintf(path, sizeof path, "%s/jobs.db", gw->cfg.data_dir);
    if (sqlite3_open(path, &j->db) != SQLITE_OK)
        return db_error(j->db, diag, "opening it");
    sqlite3_busy_timeout(j->db, 5000);
    if (sqlite3_exec(j->db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, "
                     "ext TEXT NOT NULL, result TEXT NOT NULL DEFAULT '', created INTEGER NOT "
                     "NULL);"
                     "UPDATE jobs SET state = 'queued' WHERE state = 'active';",
                     NULL, NULL, NULL) != SQLITE_OK)
        return db_error(j->db, diag, "setting it up");
    remove_strays(gw);
    prune(gw);
    pump(gw);
    return GS_OK;
}

void gw_jobs_close(gw_t *gw)
{
    if (gw->jobs == NULL)
        return;
    while (gw->jobs->waiters != NULL) {
        waiter_t *w = gw->jobs->waiters;
        gw->jobs->waiters = w->next;
        free(w);
    }
    sqlite3_close(gw->jobs->db);
    free(gw->jobs);
    gw->jobs = NULL;
}

int gw_jobs_add(gw_t *gw, const char *id, const char *ext, gs_diag_t *diag)
{
    char created[32];
    const char *params[] = {id, ext, created, NULL};
    snprintf(created, sizeof created, "%lld", (long long)time(NULL));
    if (run(gw->jobs->db,
            "INSERT INTO jobs(id, state, ext, created) VALUES (?, 'queued', ?, CAST(? AS INTEGER))",
            params) != GS_OK)
        return db_error(gw->jobs->db, diag, "recording the job");
    if (time(NULL) - gw->jobs->pruned >= PRUNE_EVERY)
        prune(gw);
    pump(gw);
    return GS_OK;
}

bool gw_jobs_status(gw_t *gw, const char *id, char *out, size_t len)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(gw->jobs->db, "SELECT state, result FROM jobs WHERE id = ?", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        const char *result = (const char *)sqlite3_column_text(st, 1);
        if (strcmp(state, "done") == 0)
            snprintf(out, len, "%s", result);
        else if (strcmp(state, "error") == 0)
            snprintf(out, len, "ERROR:%s", result);
        else
            snprintf(out, len, "ACTIVE");
        found = true;
    }
    sqlite3_finalize(st);
    return found;
}

void gw_jobs_watch(gw_t *gw, const char *id, gs_http_req_t *req)
{
    waiter_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return; /* it still ends at its deadline */
    snprintf(w->id, sizeof w->id, "%s", id);
    w->req = req;
    w->next = gw->jobs->waiters;
    gw->jobs->waiters = w;
}

void gw_jobs_unwatch(gw_t *gw, gs_http_req_t *req)
{
    for (waiter_t **p = &gw->jobs->waiters; *p != NULL; p = &(*p)->next)
        if ((*p)->req == req) {
            waiter_t *w = *p;
            *p = w->next;
            free(w);
            return;
        }
}
