/* zdbproc.h — `gridstor-sim zdb` ($GS_SIM) as a real child process in tests: a 0-db
 * server in sequential mode on a loopback port chosen at run time, with its own data and
 * index folders under a test's scratch folder; stopped (or killed) by its pid. */
#ifndef GS_TEST_ZDBPROC_H
#define GS_TEST_ZDBPROC_H

#include <sys/types.h>

#define TS_ZDB_ADMIN "PASS" /* the admin password of every test server */

typedef struct {
    pid_t pid; /* 0 when not running */
    int port;
    char address[64]; /* "127.0.0.1:PORT" */
    char data[160];   /* its data folder */
} ts_zdb_t;

/* Starts server number i (its folders dir/data<i>, dir/index<i>) on port (0: any free
 * port; the same port again to restart it); fails the test when it does not announce. */
void ts_zdb_start(ts_zdb_t *z, const char *dir, int i, int port);
/* SIGTERM, expecting a clean exit (nothing when not running). */
void ts_zdb_stop(ts_zdb_t *z);
/* SIGKILL, as a crash. */
void ts_zdb_kill(ts_zdb_t *z);

#endif
