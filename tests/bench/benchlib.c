/* benchlib.c — see benchlib.h. */
#define _XOPEN_SOURCE 700
#include "benchlib.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *bench_prog = "bench";
void (*bench_cleanup)(void);

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double bench_cpu_now(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec * 1e-6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec * 1e-6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_die(const char *what, const char *msg)
{
    fprintf(stderr, "%s: %s: %s\n", bench_prog, what, msg);
    if (bench_cleanup != NULL)
        bench_cleanup();
    exit(1);
}

static void on_stored(int err, const char *msg, gs_meta_t *meta, void *ud)
{
    bench_run_t *r = ud;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
    r->meta = meta;
    r->done = true;
}

static void on_bytes(const uint8_t *p, size_t n, void *ud)
{
    (void)p;
    ((bench_run_t *)ud)->got += n;
}

static void on_read(int err, const char *msg, void *ud)
{
    bench_run_t *r = ud;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
    r->done = true;
}

double bench_store_once(bench_run_t *r, const gs_codec_store_opts_t *o, const uint8_t *data,
                        size_t n, double *cores)
{
    gs_diag_t d;
    gs_meta_free(r->meta);
    r->meta = NULL;
    r->done = false;
    double t0 = bench_now(), c0 = bench_cpu_now();
    if (gs_codec_store_mem(r->store, o, data, n, on_stored, r, &d) < 0)
        bench_die("store", d.msg);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    double t = bench_now() - t0;
    *cores = (bench_cpu_now() - c0) / t;
    if (!r->done || r->err)
        bench_die("store", r->msg);
    return t;
}

double bench_read_once(bench_run_t *r, uint64_t off, uint64_t len, uint64_t want)
{
    gs_diag_t d;
    r->done = false;
    r->got = 0;
    double t0 = bench_now();
    if (gs_codec_retrieve(r->store, r->meta, off, len, on_bytes, on_read, r, NULL, &d) < 0)
        bench_die("retrieve", d.msg);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    double t = bench_now() - t0;
    if (!r->done || r->err || r->got != want)
        bench_die("retrieve", r->err ? r->msg : "wrong number of bytes");
    return t;
}

void bench_run_open(bench_run_t *r)
{
    memset(r, 0, sizeof *r);
    if (uv_loop_init(&r->loop) < 0 || !(r->store = gs_shard_store_memory_new(&r->loop, 20)))
        bench_die("setup", "no loop or store");
}

void bench_run_close(bench_run_t *r)
{
    gs_meta_free(r->meta);
    r->store->ops->close(r->store);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r->loop) != 0)
        bench_die("teardown", "handles left on the loop");
}

pid_t bench_spawn(const char *const *argv, char *line, size_t len)
{
    int fds[2];
    pid_t pid;
    FILE *f;
    if (pipe(fds) != 0)
        return -1;
    if ((pid = fork()) == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0 || (f = fdopen(fds[0], "r")) == NULL) {
        close(fds[0]);
        return -1;
    }
    if (fgets(line, (int)len, f) == NULL) {
        fclose(f);
        bench_stop(pid);
        return -1;
    }
    /* f stays open (a pipe per server for the benchmark's life): a closed pipe would
     * kill the child with SIGPIPE if it printed again */
    return pid;
}

void bench_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

long bench_proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t n = strlen(field);
    long kib = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kib = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kib;
}
