/* internal.h — gridstor-gw's parts (private to gateway/): the process's one context,
 * shared by the server (gw.c), the job queue (jobs.c) and the file routes (files.c).
 * Everything runs on the gateway's loop thread. */
#ifndef GS_GATEWAY_INTERNAL_H
#define GS_GATEWAY_INTERNAL_H

#include "gateway.h"

#include <sodium.h>
#include <uv.h>

#define GW_JOB_ID_LEN 32 /* hex characters of a job id */
#define GW_WORKERS    2  /* uploads stored at once */
#define GW_WAIT_MAX_S 60 /* the longest long-poll of a job's status */

typedef struct gw_jobs gw_jobs_t;

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    gs_gw_config_t cfg;
    gs_httpd_t *http;
    gs_codec_t *codec;
    gs_follower_t *follower; /* read-only gateways: the master's metadata into ours */
    gw_jobs_t *jobs;
    unsigned char sign_pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char *sign_sk; /* sodium_malloc'ed; derived from the deployment key */
    int signals;
} gw_t;

/* The job queue (jobs.c): uploads waiting in data_dir/uploads, their state in
 * data_dir/jobs.db (SQLite, WAL). A job interrupted by a stop or a crash is stored again
 * at start from its file, or marked ERROR when its file is gone. */
int gw_jobs_open(gw_t *gw, gs_diag_t *diag);
void gw_jobs_close(gw_t *gw);
/* A new job for the upload whose bytes are in file `path` (moved into the queue). */
int gw_jobs_add(gw_t *gw, const char *id, const char *ext, gs_diag_t *diag);
/* The job's status as seed-001 says it: "ACTIVE", "ERROR:why" or "HASH.EXT"; false when
 * there is no such job. */
bool gw_jobs_status(gw_t *gw, const char *id, char *out, size_t len);
/* Calls gs_http_defer_now on req when job id ends (req must be deferred by the caller;
 * forget it with gw_jobs_unwatch when its callback runs). */
void gw_jobs_watch(gw_t *gw, const char *id, gs_http_req_t *req);
void gw_jobs_unwatch(gw_t *gw, gs_http_req_t *req);
/* data_dir/uploads/<id> */
void gw_jobs_upload_path(const gw_t *gw, const char *id, char *out, size_t len);

/* The file routes (files.c). */
void gw_upload(gs_http_req_t *r, void *ud);
void gw_status(gs_http_req_t *r, void *ud);
void gw_get(gs_http_req_t *r, void *ud);
void gw_exists(gs_http_req_t *r, void *ud);
void gw_check(gs_http_req_t *r, void *ud);
void gw_pubkey(gs_http_req_t *r, void *ud);
/* Whether the request carries the secret (when there is one); answers 401 if not. */
bool gw_authorized(gw_t *gw, gs_http_req_t *r);
/* hex ed25519 signature of text by the gateway's key, into out (129 bytes). */
void gw_sign(const gw_t *gw, const char *text, char out[129]);

#endif
