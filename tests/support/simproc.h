/* simproc.h — gridstor-sim as a real child process in integration tests: started
 * with extra arguments, its announcement read (every endpoint), requests made to it
 * over HTTP with libcurl, and stopped by its process id with a check that it shut down
 * cleanly. Links gs_common, libcurl and cmocka only. */
#ifndef GS_TEST_SIMPROC_H
#define GS_TEST_SIMPROC_H

#include "common.h"

#include <sys/types.h>

typedef struct {
    pid_t pid;
    json_t *line; /* the whole announcement */
    char explorer[256], chain[256], login[256], admin[256];
    size_t nodes;
    char dir[64]; /* a scratch folder for the test, removed by ts_sim_stop */
} ts_sim_t;

/* The value of environment variable name; fails the test when unset (run through ctest). */
const char *ts_env(const char *name);
/* Starts $GS_SIM with the arguments (argv-style, NULL-terminated; may be NULL) and
 * reads its announcement; fails the test when it does not announce every service.
 * "admin" is read when announced ("" otherwise). */
void ts_sim_start(ts_sim_t *s, const char *const *args);
/* SIGTERM, expecting a clean exit 0, then frees s and removes s->dir. */
void ts_sim_stop(ts_sim_t *s);
/* The announced 0-db address ("127.0.0.1:PORT") of node_id, or NULL. */
const char *ts_sim_zdb(const ts_sim_t *s, const char *node_id);

/* method base+path with an optional JSON body and extra "Name: value" headers
 * (NULL-terminated list or NULL). Returns the status (0 when the server could not be
 * reached); *out (when not NULL) gets the answer as JSON, or NULL when it is not JSON.
 * Waits at most timeout_ms. */
long ts_http(const char *method, const char *base, const char *path, const char *body,
             const char *const *headers, long timeout_ms, json_t **out);

/* GET url; *out gets the raw answer (gs_buf_free it). Returns the status (0: no answer). */
long ts_http_get_raw(const char *url, gs_buf_t *out);

#endif
