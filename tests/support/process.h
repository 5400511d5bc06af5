/* process.h — running the project's binaries as real child processes in tests:
 * to completion (status, stdout, stderr), or as servers that announce themselves
 * with one line on stdout and are stopped by their process id. */
#ifndef GS_TEST_PROCESS_H
#define GS_TEST_PROCESS_H

#include "common.h"

#include <sys/types.h>

/* What a child did: its exit status (-1 unless it exited) and everything it printed. */
typedef struct {
    int status;
    gs_buf_t out, err;
} ts_proc_t;

/* Runs argv (NULL-terminated; argv[0] looked up in PATH when it has no '/') in cwd
 * to completion. Free p with ts_proc_free. */
void ts_run(const char *cwd, const char *const *argv, ts_proc_t *p);
void ts_proc_free(ts_proc_t *p);

/* Starts a server and reads the first line it prints (within timeout_ms) into line.
 * Its stderr goes to the test's stderr. */
pid_t ts_spawn_server(const char *const *argv, char *line, size_t len, int timeout_ms);
/* SIGTERM, then waits (up to timeout_ms, then SIGKILL); returns the exit status,
 * or -1 when it did not exit by itself. */
int ts_stop_server(pid_t pid, int timeout_ms);

/* rm -r */
void ts_remove_tree(const char *path);

#endif
