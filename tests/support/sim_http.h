/* sim_http.h — what the sim's in-process HTTP tests share: requests made with libcurl
 * from a short-lived client thread while the test's own thread runs the loop that
 * serves them (h2o keeps per-thread caches it never frees, so the server stays on the
 * test's thread), running the loop for a while, and 3Bot identities registered in the
 * explorer's phonebook. Links libcurl, libuv, libsodium, pthreads; not reservation/. */
#ifndef GS_TEST_SIM_HTTP_H
#define GS_TEST_SIM_HTTP_H

#include "common.h"
#include "ctx.h"

#include <sodium.h>
#include <uv.h>

/* Where to send requests: the loop that serves them, an async handle on it (woken when
 * a client thread finishes) and the server's port. */
typedef struct {
    uv_loop_t *loop;
    uv_async_t *wake;
    int port;
} sim_http_t;

/* method path (with an optional body and extra "Name: value" headers, NULL-terminated
 * or NULL), served by h->loop until the answer is in. *out gets the JSON answer when
 * out is not NULL (json_decref it; fails the test when it is not JSON); pages gets the
 * Pages header ("" when absent) when not NULL. Returns the status. */
long sim_http_request(const sim_http_t *h, const char *method, const char *path,
                      const char *const *headers, const char *body, json_t **out, char pages[32]);
/* The same with a body of len bytes that need not end in NUL (body may be NULL when
 * len is 0). */
long sim_http_request_len(const sim_http_t *h, const char *method, const char *path,
                          const char *const *headers, const char *body, size_t len, json_t **out,
                          char pages[32]);
/* Runs fn(arg) on a client thread while h->loop serves, until fn returns. */
void sim_run_client(const sim_http_t *h, void (*fn)(void *arg), void *arg);
/* Runs loop for ms milliseconds (its timers fire meanwhile). */
void sim_http_run_for(uv_loop_t *loop, uint64_t ms);

/* An async callback that does nothing: a test's wake handle only ends a uv_run(ONCE) so
 * that the waiting loop rechecks its flag. */
void sim_http_on_wake(uv_async_t *a);

/* j[key] as a number / an integer; fails the test when it is missing or of another type. */
double sim_num(const json_t *j, const char *key);
int64_t sim_int(const json_t *j, const char *key);

/* Starts the explorer on loop (which the caller has initialized): wake on loop, ctx's
 * world generated from opts, its chain, its registry and, with workloads, its workloads
 * (told when a pool runs dry), the explorer's routes on 127.0.0.1 (port 0) into *httpd,
 * the registry started; *http gets where to send requests. Fails the test on error. */
void sim_grid_open(uv_loop_t *loop, uv_async_t *wake, sim_ctx_t *ctx, const sim_world_opts_t *opts,
                   bool workloads, gs_httpd_t **httpd, sim_http_t *http);
/* Closes httpd, then ctx's node agents (when started with sim_agents_start), then ctx's
 * registry (started), then wake, each once the one before is closed; the caller then
 * runs the loop until every handle is gone. */
void sim_grid_close(gs_httpd_t *httpd, sim_ctx_t *ctx, uv_async_t *wake);

/* A 3Bot identity with a key from a repeated seed byte. */
typedef struct {
    const char *name;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char pubkey[65];
    int64_t tid;
} sim_who_t;

void sim_who_init(sim_who_t *w, const char *name, unsigned char seed_byte);
/* hex(ed25519(text)) with sk. */
void sim_sign_hex(const unsigned char *sk, const char *text, char out[129]);
/* The phonebook registration body of w, signed with signer's key (free it). */
char *sim_user_body(const sim_who_t *w, const char *email, const sim_who_t *signer);
/* Registers w (POST /api/v1/users, expecting 201) and sets w->tid. */
void sim_register_user(const sim_http_t *h, sim_who_t *w);

/* ---- pools and workloads (reference tfgrid-v2.md §1.3 to §1.6) ---- */

/* A pool of cus/sus for w on world nodes 0 and 1, reserved over HTTP and paid on
 * ctx's chain directly, once the escrow released it. Returns its id. */
int64_t sim_paid_pool(const sim_http_t *h, sim_ctx_t *ctx, const sim_who_t *w, int64_t cus,
                      int64_t sus);
/* ReservationInfo's part of the challenge of workload w (type "ZDB", "CONTAINER"). */
void sim_info_challenge(const json_t *w, const char *type, gs_buf_t *ch);
/* The whole challenge of the 0-db workload w. */
void sim_zdb_challenge(const json_t *w, gs_buf_t *ch);
/* hex(ed25519(sha256(text + suffix))). */
void sim_sign_hashed(const unsigned char *sk, const char *text, size_t len, const char *suffix,
                     char out[129]);
/* POSTs w with an HTTP signature by `signer` under keyId `key_tid` (no auth when signer
 * is NULL). Returns the status; *out gets the answer when out is not NULL. */
long sim_post_workload(const sim_http_t *h, const json_t *w, const sim_who_t *signer,
                       int64_t key_tid, json_t **out);
/* POSTs sign/<what> ("delete", "provision") of workload id, signed by signer as tid
 * over challenge. Returns the status; *out gets the answer (must not be NULL). */
long sim_sign_workload_request(const sim_http_t *h, int64_t id, const char *what,
                               const gs_buf_t *challenge, const sim_who_t *signer, int64_t tid,
                               json_t **out);

#endif
