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
    /* the grid as last read (gridview.c) */
    struct {
        gs_grid_t grid, *loading;
        bool ready;
        int64_t read_at;
        char error[1024]; /* why the last read failed ("" when it did not) */
        uv_timer_t timer;
    } view;
} gs_daemon_t;

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
/* Adds each session's links (document, threebot:// link, QR URLs) and TFT amount;
 * returns sessions. */
json_t *gs_api_session_links(const gs_daemon_t *d, json_t *sessions);
void gs_signandpay_document(gs_http_req_t *r, void *ud);
void gs_signandpay_qr_png(gs_http_req_t *r, void *ud);
void gs_signandpay_qr_svg(gs_http_req_t *r, void *ud);
void gs_signandpay_callback(gs_http_req_t *r, void *ud);

#endif
