/* internal.h — gridstor-gw's parts (private to gateway/): the process's one context,
 * shared by the server (gw.c), the security (auth.c), the job queue (jobs.c) and the file
 * routes (files.c). Everything runs on the gateway's loop thread. */
#ifndef GS_GATEWAY_INTERNAL_H
#define GS_GATEWAY_INTERNAL_H

#include "gateway.h"

#include <sodium.h>
#include <uv.h>

#define GW_JOB_ID_LEN  32    /* hex characters of a job id */
#define GW_WAIT_MAX_S  60    /* the longest long-poll of a job's status */
#define GW_SKEW_S      300   /* authenticate: the most a client's clock may be off */
#define GW_SESSION_S   86400 /* authenticate: how long a secret it gives is valid */
#define GW_SESSION_MAX 10000 /* authenticate: secrets valid at once */

typedef struct gw_jobs gw_jobs_t;
typedef struct gw_session gw_session_t;

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    gs_gw_config_t cfg;
    gs_http_route_t routes[16]; /* the upload's body cap is the configuration's */
    gs_httpd_t *http;
    gs_http_client_t *client; /* threebot: the login directory's */
    gs_codec_t *codec;
    gs_follower_t *follower; /* read-only gateways: the master's metadata into ours */
    gw_jobs_t *jobs;
    gw_session_t *sessions; /* threebot: secrets given by authenticate */
    size_t n_sessions;
    unsigned char sign_pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char *sign_sk; /* sodium_malloc'ed; derived from the deployment key */
    int signals;
    bool stopping; /* jobs cut short stay queued for the next start */
} gw_t;

/* The job queue (jobs.c): uploads waiting in data_dir/uploads, their state in
 * data_dir/jobs.db (SQLite, WAL). A job interrupted by a stop or a crash is stored again
 * at start from its file, or marked ERROR when its file is gone. */
int gw_jobs_open(gw_t *gw, gs_diag_t *diag);
void gw_jobs_close(gw_t *gw);
/* A new job for the upload whose bytes are in gw_jobs_upload_path(id) already. */
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

/* Security (auth.c). Whether the request may upload or check: public gateways let
 * everyone, others want "Authorization: Bearer SECRET" (the shared secret, or one that
 * authenticate gave); answers 401 when not. */
bool gw_authorized(gw_t *gw, gs_http_req_t *r);
/* POST /api/v1/authenticate (threebot mode). */
void gw_authenticate(gs_http_req_t *r, void *ud);
void gw_sessions_free(gw_t *gw);
/* The gateway's signing key, from the deployment key. */
int gw_signing_key(gw_t *gw, gs_diag_t *diag);
/* hex ed25519 signature of text by the gateway's key, into out (129 bytes). */
void gw_sign(const gw_t *gw, const char *text, char out[129]);
void gw_pubkey(gs_http_req_t *r, void *ud);

/* The file routes (files.c). */
void gw_upload(gs_http_req_t *r, void *ud);
/* Whether the request may upload here (a read-write gateway, authorized); answers 403 or
 * 401 when not. */
bool gw_may_upload(gw_t *gw, gs_http_req_t *r);
/* ?ext= into ext ("" without); false after answering 400. */
bool gw_upload_ext(gs_http_req_t *r, char ext[GS_CODEC_EXT_MAX + 1]);
/* GS_OK once all len bytes are written to fd, else GS_EIO. */
int gw_write_all(int fd, const char *p, size_t len);
/* The upload whose len bytes are in job id's file (open as fd, which it takes) becomes a
 * job once fsynced, answered 202 {"job","size"}; on an error it is answered and the file
 * removed. */
void gw_upload_commit(gw_t *gw, gs_http_req_t *r, const char *id, const char *ext, int fd,
                      size_t len);

/* Uploads in parts (parts.c): POST /api/v1/uploads, PUT /api/v1/uploads/{id}?offset=N,
 * POST /api/v1/uploads/{id}/done. Parts live in data_dir/uploads/<id>.part until done. */
#define GW_PART_MAX ((size_t)16 << 20)
void gw_parts_new(gs_http_req_t *r, void *ud);
void gw_parts_put(gs_http_req_t *r, void *ud);
void gw_parts_done(gs_http_req_t *r, void *ud);
/* Removes data_dir/uploads/<id>.part files untouched for older_than_s seconds. */
void gw_parts_prune(gw_t *gw, long older_than_s);
void gw_status(gs_http_req_t *r, void *ud);
void gw_get(gs_http_req_t *r, void *ud);
void gw_exists(gs_http_req_t *r, void *ud);
void gw_check(gs_http_req_t *r, void *ud);
void gw_repair(gs_http_req_t *r, void *ud);

#endif
