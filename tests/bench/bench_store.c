/* bench_store.c — what one of gridstord's state writes costs the loop thread that makes it:
 * gs_store_event (one row, one transaction, WAL with synchronous=NORMAL: no fsync on the
 * loop) timed one by one, against the same INSERT and COMMIT on a bare SQLite connection
 * with the same settings and with synchronous=FULL (an fsync per commit, what the loop
 * would wait for without gs_store_sync), in the same folder and the same run; and how long
 * gs_store_sync takes (fdatasync of the WAL on the threadpool, the loop free meanwhile).
 * Prints medians and 99th percentiles in microseconds and the ratios (bare ÷ store, time
 * per write). It never fails on speed.
 *
 * usage: bench_store [--quick] [--dir DIR]   (DIR: where the databases go; default TMPDIR) */
#define _XOPEN_SOURCE 700
#include "orchestrator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#define MESSAGE "0-db 7 is ready on node 6fma2VyJZuhszi4uCPPzaF2VEXjduroatTX1HCTsJ7f4"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the n timings (ns) and prints their median and 99th percentile in µs. */
static double report(const char *what, uint64_t *ns, size_t n)
{
    qsort(ns, n, sizeof *ns, cmp_u64);
    printf("%-44s median %7.1f µs | p99 %7.1f µs\n", what, ns[n / 2] / 1e3, ns[n * 99 / 100] / 1e3);
    return (double)ns[n / 2];
}

static void on_synced(int err, void *arg)
{
    *(int *)arg = err == GS_OK ? 1 : -1;
}

/* A write, then its gs_store_sync until the callback, n times: the sync's latency. */
static int time_sync(const char *dir, uint64_t *ns, size_t n)
{
    char path[1100];
    gs_store_t *s = NULL;
    gs_diag_t diag = {{0}};
    uv_loop_t loop;
    int rc = 0;
    snprintf(path, sizeof path, "%s/gridstord.db", dir);
    if (uv_loop_init(&loop) != 0 || gs_store_open(path, &s, &diag) != GS_OK) {
        fprintf(stderr, "bench_store: %s\n", diag.msg);
        return 1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        int done = 0;
        uint64_t t0;
        if (gs_store_event(s, "bench", "info", MESSAGE, &diag) != GS_OK)
            rc = 1;
        t0 = uv_hrtime();
        if (rc == 0 && gs_store_sync(s, &loop, on_synced, &done) != GS_OK)
            rc = 1;
        while (rc == 0 && done == 0)
            uv_run(&loop, UV_RUN_ONCE);
        ns[i] = uv_hrtime() - t0;
        rc = rc ? rc : done < 0;
    }
    gs_store_close(s);
    uv_loop_close(&loop);
    return rc;
}

/* Writes timed one by one, a checkpoint started on the threadpool every CHECKPOINT_EVERY
 * writes as gridstord starts one every 30 s (the writes go on meanwhile). */
#define CHECKPOINT_EVERY 500

static int time_store(const char *dir, uint64_t *ns, size_t n)
{
    char path[1100];
    gs_store_t *s = NULL;
    gs_diag_t diag = {{0}};
    uv_loop_t loop;
    snprintf(path, sizeof path, "%s/gridstord.db", dir);
    if (uv_loop_init(&loop) != 0 || gs_store_open(path, &s, &diag) != GS_OK ||
        gs_store_deployment_add(s, "bench", "alice.3bot", "name: bench\n", "{}", NULL, 0, &diag) !=
            GS_OK) {
        fprintf(stderr, "bench_store: %s\n", diag.msg);
        gs_store_close(s);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t t0 = uv_hrtime();
        if (gs_store_event(s, "bench", "info", MESSAGE, &diag) != GS_OK) {
            fprintf(stderr, "bench_store: %s\n", diag.msg);
            break;
        }
        ns[i] = uv_hrtime() - t0;
        if (i % CHECKPOINT_EVERY == CHECKPOINT_EVERY - 1)
            gs_store_checkpoint(s, &loop);
        uv_run(&loop, UV_RUN_NOWAIT); /* a finished checkpoint reports back */
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    gs_store_close(s);
    uv_loop_close(&loop);
    return diag.msg[0] ? 1 : 0;
}

/* synchronous: "FULL" or "NORMAL" */
static int time_bare(const char *dir, const char *synchronous, uint64_t *ns, size_t n)
{
    char path[1100], setup[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    snprintf(path, sizeof path, "%s/bare-%s.db", dir, synchronous);
    snprintf(setup, sizeof setup,
             "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;"
             "CREATE TABLE events (id INTEGER PRIMARY KEY, deployment TEXT, time "
             "INTEGER, level TEXT, message TEXT);",
             synchronous);
    rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, setup, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO events(deployment, time, level, message) "
                                "VALUES ('bench', 0, 'info', '" MESSAGE "')",
                                -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        uint64_t t0 = uv_hrtime();
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_DONE)
            rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        sqlite3_reset(st);
        ns[i] = uv_hrtime() - t0;
    }
    if (rc != SQLITE_OK)
        fprintf(stderr, "bench_store: bare SQLite: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : 1;
}

/* The databases (and their -wal and -shm files) and the folder. */
static void remove_dir(const char *dir)
{
    static const char *const names[] = {"gridstord.db", "bare-FULL.db", "bare-NORMAL.db"};
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char path[1200];
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/%s%s", dir, names[i], suffixes[k]);
            unlink(path);
        }
    rmdir(dir);
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    size_t n = 2000;
    char dir[1000];
    uint64_t *ns;
    int rc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            n = 100;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: bench_store [--quick] [--dir DIR]\n");
            return 2;
        }
    }
    snprintf(dir, sizeof dir, "%.900s/bench-store-XXXXXX", base);
    if (mkdtemp(dir) == NULL || (ns = calloc(n, sizeof *ns)) == NULL) {
        perror("bench_store");
        return 1;
    }
    gs_log_set_level(GS_LOG_ERROR);
    rc = time_bare(dir, "FULL", ns, n);
    double full = rc ? 0 : report("bare SQLite INSERT + COMMIT (WAL, FULL)", ns, n);
    rc = rc ? rc : time_bare(dir, "NORMAL", ns, n);
    double normal = rc ? 0 : report("bare SQLite INSERT + COMMIT (WAL, NORMAL)", ns, n);
    rc = rc ? rc : time_store(dir, ns, n);
    double store = rc ? 0 : report("gridstord state write on the loop", ns, n);
    rc = rc ? rc : time_sync(dir, ns, n);
    if (rc == 0)
        report("gs_store_sync (threadpool, loop free)", ns, n);
    if (rc == 0)
        printf("ratio bare NORMAL / store %.2f, bare FULL / store %.2f (time per write on the "
               "loop, medians); %zu writes each in %s\n",
               normal / store, full / store, n, base);
    free(ns);
    remove_dir(dir);
    return rc;
}
