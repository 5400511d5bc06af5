/* benchlib.h — what the benchmarks share: timing, medians, the codec's pipelines over the
 * memory shard store (what bench_codec measures, and the in-memory reference bench_gw
 * divides by), and servers started as child processes. */
#ifndef GS_BENCH_BENCHLIB_H
#define GS_BENCH_BENCHLIB_H

#include <sys/types.h>

#include "codec.h"

typedef struct {
    uv_loop_t loop;
    gs_shard_store_t *store; /* 20 memory backends */
    gs_meta_t *meta;         /* of the last store */
    int err;
    char msg[GS_DIAG_MAX];
    uint64_t got;
    bool done;
} bench_run_t;

/* Monotonic wall time and this process's CPU time, in seconds. */
double bench_now(void);
double bench_cpu_now(void);
/* The median of v[0..n) (sorts v). */
double bench_median(double *v, size_t n);
/* Prints "PROG: what: msg", calls bench_cleanup when set (to stop the servers a
 * benchmark started) and exits 1. */
void bench_die(const char *what, const char *msg) __attribute__((noreturn));
extern const char *bench_prog;
extern void (*bench_cleanup)(void);

void bench_run_open(bench_run_t *r);
void bench_run_close(bench_run_t *r);
/* Stores data once into r with o; returns the wall time, *cores the CPU used meanwhile. */
double bench_store_once(bench_run_t *r, const gs_codec_store_opts_t *o, const uint8_t *data,
                        size_t n, double *cores);
/* Reads [off, off + len) of the last file stored; expects want bytes; returns the time. */
double bench_read_once(bench_run_t *r, uint64_t off, uint64_t len, uint64_t want);

/* Starts argv[0] (a path) with argv, its stdout a pipe, and reads the first line it
 * prints (its announcement) into line; -1 when it cannot be started or says nothing. */
pid_t bench_spawn(const char *const *argv, char *line, size_t len);
/* SIGTERM, then waits for it. */
void bench_stop(pid_t pid);
/* A "Vm...:" field of /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1. */
long bench_proc_kib(pid_t pid, const char *field);

#endif
