/* daemon.h — gridstord's parts (private to orchestrator/): the daemon's one context,
 * shared by its HTTP routes (daemon.c, api.c, signandpay.c) and its view of the grid
 * (gridview.c). Everything runs on the daemon's loop thread. */
#ifndef GS_DAEMON_H
#define GS_DAEMON_H

#include "orchestrator.h"
#include "payments.h"

#include <uv.h>

#define GS_DAEMON_TOKEN_BYTES  32
#define GS_GRIDVIEW_REFRESH_MS 60000 /* how often the grid is read again */
#define GS_GATEWAY_PORT        7481  /* where gridstor-gw listens on a gateway machine */
#define GS_RUNWAY_REFRESH_S    60    /* how often a deployed deployment's pools are read */
#define GS_CANCELED_ORDER                                                                          \
    "this order was replaced by a newer one of the deployment and can no longer be paid; "         \
    "a payment made for it stays in the install's wallet"

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    gs_daemon_config_t cfg;
    gs_httpd_t *http;
    gs_store_t *store;
    gs_http_client_t *client;
    char token[2 * GS_DAEMON_TOKEN_BYTES + 1];
    gs_identity_t identity; /* loaded from DATA_DIR/identity.json */
    bool have_identity;
    int signals;
    uint64_t requests, refused;
    struct {
        char *text; /* GET /api/v1/deployments as last built */
        size_t len;
        uint64_t generation; /* the store's generation it was built at */
    } list_cache;
    uv_timer_t deployer_timer;
    int deployer_busy;           /* grid calls of the deployer in flight */
    int deployer_failures;       /* grid calls failed in a row (backoff) */
    uint64_t deployer_resume_ms; /* no new call before this loop time */
    uint64_t checkpoint_ms;      /* the state database's next checkpoint, loop time */
    uint64_t runway_check_ms;    /* the pools' runways are not looked at before this */
    /* the grid as last read (gridview.c) */
    struct {
        gs_grid_t grid, *loading;
        bool ready;
        int64_t read_at;
        char error[1024]; /* why the last read failed ("" when it did not) */
        uv_timer_t timer;
    } view;
} gs_daemon_t;

/* Answers r with status and body (stolen) once what the handler wrote to the state
 * database is on disk (gs_store_sync): an answer that names a new session, or says a
 * callback was accepted, must survive a power cut. 503 when the disk fails or takes
 * over 30 s. Usable from a handler or a deferred callback. */
void gs_daemon_reply_synced(gs_daemon_t *d, gs_http_req_t *r, int status, json_t *body);

/* Whether the request carries the admin token; answers 401 when it does not. */
bool gs_daemon_authorized(gs_daemon_t *d, gs_http_req_t *r);

/* The grid view: read now and every GS_GRIDVIEW_REFRESH_MS; closed with the loop. */
void gs_gridview_start(gs_daemon_t *d);
void gs_gridview_close(gs_daemon_t *d);

/* The deployer (deployer.c): paid deployments' pools reserved and paid, on a timer. */
void gs_deployer_start(gs_daemon_t *d);
void gs_deployer_close(gs_daemon_t *d);

/* Routes (user data: the gs_daemon_t). */
void gs_api_list(gs_http_req_t *r, void *ud);
void gs_api_get(gs_http_req_t *r, void *ud);
void gs_api_create(gs_http_req_t *r, void *ud);
void gs_api_delete(gs_http_req_t *r, void *ud);
void gs_api_extend(gs_http_req_t *r, void *ud);
void gs_api_scale(gs_http_req_t *r, void *ud);
/* Orders (extend.c, scale.c): the request's arguments (a JSON or YAML map read with
 * keys; hint says what to send when it is not one), then the priced signandpay document
 * of an extension or scale, ready to store (gs_api_order_free it). */
typedef struct {
    char session[GS_SESSION_LEN + 1];
    char *json, *dts;
    char memo[8 + GS_SESSION_LEN];
    gs_store_session_t row; /* pointing into the above */
} gs_order_doc_t;
/* The deployment an order is for (the request's {name}): NULL once answered 401, 404, or
 * 409 unless it is deployed (`verb`: "extended", "scaled"). */
json_t *gs_api_order_target(gs_daemon_t *d, gs_http_req_t *r, const char *verb);
int gs_api_order_args(gs_http_req_t *r, const gs_cfg_key_t *keys, void *args, const char *hint,
                      gs_diag_t *diag);
int gs_api_order_document(gs_daemon_t *d, gs_extension_t *e, gs_order_doc_t *doc, gs_diag_t *diag);
void gs_api_order_free(gs_order_doc_t *doc);
/* [the stored session `session` of deployment name], its row as in gs_store_sessions. */
json_t *gs_api_session_of(gs_daemon_t *d, const char *name, const char *session);
/* Adds each session's links (document, threebot:// link, QR URLs) and TFT amount;
 * returns sessions. */
json_t *gs_api_session_links(const gs_daemon_t *d, json_t *sessions);
void gs_signandpay_document(gs_http_req_t *r, void *ud);
void gs_signandpay_qr_png(gs_http_req_t *r, void *ud);
void gs_signandpay_qr_svg(gs_http_req_t *r, void *ud);
void gs_signandpay_callback(gs_http_req_t *r, void *ud);

#endif
