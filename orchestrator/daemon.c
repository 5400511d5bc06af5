/* daemon.c — gridstord: the libuv loop, its HTTP API (h2o), the state database, the
 * admin token, and a clean stop on SIGTERM/SIGINT (a second signal exits at once).
 * On start it prints one JSON line {"gridstord": URL, "token_file": PATH} so that
 * scripts and tests find it when it listens on port 0. */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

typedef gs_daemon_t daemon_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: gridstord [--config FILE]\n\n"
                 "The gridstor daemon: deployments, Threefold Connect sign-and-pay, and the\n"
                 "HTTP API the gridstor command talks to. SIGTERM or SIGINT stops it.\n\n"
                 "  --config FILE   YAML configuration (docs/operations.md); without it every\n"
                 "                  default applies: listen 127.0.0.1:7480, data in\n"
                 "                  ./gridstor-data\n"
                 "  --help, --version\n");
}

/* ---- the admin token ---------------------------------------------------------------------- */

/* Reads the token file (which must be private), or creates it with a new random token. */
static int load_token(daemon_t *d, gs_diag_t *diag)
{
    const char *path = d->cfg.admin_token_file;
    unsigned char raw[GS_DAEMON_TOKEN_BYTES];
    struct stat st;
    gs_buf_t text;
    int err;
    if (stat(path, &st) != 0) {
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(d->token, sizeof d->token, raw, sizeof raw);
        gs_log(GS_LOG_INFO, "created the admin token in %s", path);
        return gs_file_write_atomic(path, d->token, strlen(d->token), 0600, diag);
    }
    if (st.st_mode & 077)
        return gs_diag_set(diag, GS_EINVAL, "%s: readable by other users; run chmod 600 on it",
                           path);
    gs_buf_init(&text, 1024);
    err = gs_file_read(path, 1024, &text, diag);
    while (err == GS_OK && text.len &&
           (text.data[text.len - 1] == '\n' || text.data[text.len - 1] == '\r'))
        text.len--;
    if (err == GS_OK && (text.len < 16 || text.len >= sizeof d->token))
        err = gs_diag_set(diag, GS_EINVAL, "%s: the admin token must be 16 to %zu characters", path,
                          sizeof d->token - 1);
    if (err == GS_OK) {
        memcpy(d->token, text.data, text.len);
        d->token[text.len] = '\0';
    }
    gs_buf_free(&text);
    return err;
}

/* Whether the request carries "Authorization: Bearer <token>"; answers 401 if not. */
bool gs_daemon_authorized(daemon_t *d, gs_http_req_t *r)
{
    char header[256];
    size_t len = strlen(d->token);
    if (gs_http_req_header(r, "authorization", header, sizeof header) &&
        strncmp(header, "Bearer ", 7) == 0 && strlen(header + 7) == len &&
        sodium_memcmp(header + 7, d->token, len) == 0)
        return true;
    d->refused++;
    gs_http_add_header(r, "WWW-Authenticate", "Bearer");
    gs_http_reply_error(r, 401,
                        "missing or wrong admin token: send Authorization: Bearer <the token in "
                        "%s>",
                        d->cfg.admin_token_file);
    return false;
}

/* ---- answers that name what was just written ------------------------------------------- */

#define SYNC_DEADLINE_MS 30000

typedef struct {
    gs_http_req_t *r; /* NULL once answered or gone */
    int status;
    json_t *body;
    bool synced, turned;
    int err;
} synced_reply_t;

static void synced_reply_free(synced_reply_t *y)
{
    json_decref(y->body);
    free(y);
}

/* The request's turn: the disk is done (or the deadline passed), or the client went away. */
static void on_reply_turn(gs_http_req_t *r, void *arg)
{
    synced_reply_t *y = arg;
    y->turned = true;
    if (r != NULL && y->synced && y->err == GS_OK) {
        gs_http_reply_json(r, y->status, y->body);
        y->body = NULL;
    } else if (r != NULL)
        gs_http_reply_error(r, 503,
                            "the state database did not reach the disk%s; see gridstord's log "
                            "and send the request again",
                            y->synced ? "" : " in time");
    y->r = NULL;
    if (y->synced)
        synced_reply_free(y);
}

static void on_reply_synced(int err, void *arg)
{
    synced_reply_t *y = arg;
    y->synced = true;
    y->err = err;
    if (y->turned)
        synced_reply_free(y);
    else
        gs_http_defer_now(y->r); /* runs on_reply_turn */
}

void gs_daemon_reply_synced(daemon_t *d, gs_http_req_t *r, int status, json_t *body)
{
    synced_reply_t *y = calloc(1, sizeof *y);
    if (y == NULL || gs_http_defer(r, SYNC_DEADLINE_MS, on_reply_turn, y) != GS_OK) {
        free(y);
        json_decref(body);
        gs_http_reply_error(r, 500, "out of memory");
        return;
    }
    *y = (synced_reply_t){.r = r, .status = status, .body = body};
    if (gs_store_sync(d->store, &d->loop, on_reply_synced, y) != GS_OK) {
        y->synced = true;
        y->err = GS_EIO;
        gs_http_defer_now(r);
    }
}

/* ---- routes ------------------------------------------------------------------------------- */

static void on_health(gs_http_req_t *r, void *ud)
{
    daemon_t *d = ud;
    json_t *grid =
        json_pack("{s:b, s:I, s:I}", "ready", d->view.ready, "nodes",
                  (json_int_t)d->view.grid.n_nodes, "read_at", (json_int_t)d->view.read_at);
    d->requests++;
    if (d->view.error[0])
        json_object_set_new(grid, "error", json_string(d->view.error));
    gs_http_reply_json(r, 200,
                       json_pack("{s:s, s:s, s:i, s:b, s:o}", "status", "ok", "version", GS_VERSION,
                                 "schema", gs_store_schema_version(d->store), "identity",
                                 d->have_identity, "grid", grid));
}

static void on_metrics(gs_http_req_t *r, void *ud)
{
    daemon_t *d = ud;
    json_t *list = gs_store_deployments(d->store), *dep;
    gs_store_stats_t st;
    gs_buf_t out;
    size_t i;
    d->requests++;
    gs_store_stats(d->store, &st);
    gs_buf_init(&out, 1 << 20);
    gs_buf_printf(&out,
                  "# HELP gridstor_up Whether gridstord is running.\n# TYPE gridstor_up gauge\n"
                  "gridstor_up 1\n"
                  "# HELP gridstor_http_requests_total HTTP requests served.\n"
                  "# TYPE gridstor_http_requests_total counter\n"
                  "gridstor_http_requests_total %llu\n"
                  "# HELP gridstor_http_unauthorized_total Requests refused for a bad token.\n"
                  "# TYPE gridstor_http_unauthorized_total counter\n"
                  "gridstor_http_unauthorized_total %llu\n"
                  "# HELP gridstor_store_writes_total State database writes (on the daemon's "
                  "loop; syncing them to disk is not).\n"
                  "# TYPE gridstor_store_writes_total counter\n"
                  "gridstor_store_writes_total %llu\n"
                  "# HELP gridstor_store_write_seconds_total Time spent in those writes.\n"
                  "# TYPE gridstor_store_write_seconds_total counter\n"
                  "gridstor_store_write_seconds_total %.6f\n"
                  "# HELP gridstor_store_write_seconds_max The longest write since start.\n"
                  "# TYPE gridstor_store_write_seconds_max gauge\n"
                  "gridstor_store_write_seconds_max %.6f\n"
                  "# HELP gridstor_store_slow_writes_total Writes over 50 ms.\n"
                  "# TYPE gridstor_store_slow_writes_total counter\n"
                  "gridstor_store_slow_writes_total %llu\n"
                  "# HELP gridstor_store_checkpoints_total WAL checkpoints (off the loop).\n"
                  "# TYPE gridstor_store_checkpoints_total counter\n"
                  "gridstor_store_checkpoints_total %llu\n"
                  "# HELP gridstor_store_wal_frames Frames in the WAL at the last checkpoint.\n"
                  "# TYPE gridstor_store_wal_frames gauge\n"
                  "gridstor_store_wal_frames %llu\n"
                  "# HELP gridstor_deployment_info One per deployment, labelled with its state.\n"
                  "# TYPE gridstor_deployment_info gauge\n",
                  (unsigned long long)d->requests, (unsigned long long)d->refused,
                  (unsigned long long)st.writes, st.seconds, st.max_seconds,
                  (unsigned long long)st.slow, (unsigned long long)st.checkpoints,
                  (unsigned long long)st.wal_frames);
    json_array_foreach(list, i, dep)
    {
        gs_buf_printf(&out, "gridstor_deployment_info{name=\"%s\",state=\"%s\"} 1\n",
                      gs_json_str(dep, "name"), gs_json_str(dep, "state"));
    }
    json_decref(list);
    gs_http_reply(r, 200, "text/plain; version=0.0.4", out.data ? out.data : "", out.len);
    gs_buf_free(&out);
}

static const gs_http_route_t routes[] = {
    {"GET", "/health", on_health, 0},
    {"GET", "/metrics", on_metrics, 0},
    {"GET", "/api/v1/deployments", gs_api_list, 0},
    {"POST", "/api/v1/deployments", gs_api_create, GS_SPEC_MAX_BYTES},
    {"GET", "/api/v1/deployments/{}", gs_api_get, 0},
    {"DELETE", "/api/v1/deployments/{}", gs_api_delete, 0},
    {"POST", "/api/v1/deployments/{}/extend", gs_api_extend, 4096},
    {"POST", "/api/v1/deployments/{}/scale", gs_api_scale, 4096},
    {"GET", "/api/v1/signandpay/{}", gs_signandpay_document, 0},
    {"GET", "/api/v1/signandpay/{}/qr.png", gs_signandpay_qr_png, 0},
    {"GET", "/api/v1/signandpay/{}/qr.svg", gs_signandpay_qr_svg, 0},
    {"POST", "/api/v1/signandpay/{}/callback", gs_signandpay_callback, GS_CALLBACK_MAX_BODY},
    {NULL, NULL, NULL, 0},
};

/* ---- start and stop ------------------------------------------------------------------------ */

/* The install's identity, when `gridstor init` made one (deployments need it). */
static int load_identity(daemon_t *d, gs_diag_t *diag)
{
    char path[1200];
    int err;
    snprintf(path, sizeof path, "%s/identity.json", d->cfg.data_dir);
    err = gs_identity_load(&d->identity, path, diag);
    if (err == GS_ENOENT) {
        gs_log(GS_LOG_WARN, "no identity in %s: run `gridstor init`; deployments wait for it",
               d->cfg.data_dir);
        memset(diag, 0, sizeof *diag);
        return GS_OK;
    }
    d->have_identity = err == GS_OK;
    return err;
}

static int start(daemon_t *d, gs_diag_t *diag)
{
    char host[256], path[1200];
    const char *colon = strrchr(d->cfg.listen, ':');
    int port = atoi(colon + 1), err;
    snprintf(host, sizeof host, "%.*s", (int)(colon - d->cfg.listen), d->cfg.listen);
    if ((err = gs_mkdir_p(d->cfg.data_dir, diag)) != GS_OK)
        return err;
    chmod(d->cfg.data_dir, 0700); /* the identity and the token live here */
    snprintf(path, sizeof path, "%s/state.db", d->cfg.data_dir);
    if ((err = gs_store_open(path, &d->store, diag)) != GS_OK || (err = load_token(d, diag)) ||
        (err = load_identity(d, diag)) || (err = gs_http_client_new(&d->loop, &d->client, diag)))
        return err;
    gs_gridview_start(d);
    gs_deployer_start(d);
    if ((err = gs_httpd_start(&d->loop, host, port, routes, d, &d->http, diag)) != GS_OK ||
        (d->cfg.tls_cert != NULL &&
         (err = gs_httpd_set_tls(d->http, d->cfg.tls_cert, d->cfg.tls_key, diag)) != GS_OK))
        return err;
    if (d->cfg.public_url_derived) { /* the port really bound, when listen asked for any */
        char url[300];
        snprintf(url, sizeof url, "%s://%s:%d", gs_daemon_scheme(&d->cfg), host,
                 gs_httpd_port(d->http));
        free(d->cfg.public_url);
        if ((d->cfg.public_url = gs_strdup(url)) == NULL)
            return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    return GS_OK;
}

static void announce(const daemon_t *d)
{
    char url[300], host[256];
    const char *colon = strrchr(d->cfg.listen, ':');
    json_t *line;
    char *text;
    snprintf(host, sizeof host, "%.*s", (int)(colon - d->cfg.listen), d->cfg.listen);
    snprintf(url, sizeof url, "%s://%s:%d", gs_daemon_scheme(&d->cfg), host,
             gs_httpd_port(d->http));
    line = json_pack("{s:s, s:s}", "gridstord", url, "token_file", d->cfg.admin_token_file);
    text = gs_json_dumps(line);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(line);
}

static void on_http_closed(void *arg)
{
    daemon_t *d = arg;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
}

static void stop(daemon_t *d)
{
    gs_httpd_t *http = d->http;
    d->http = NULL;
    gs_gridview_close(d);
    gs_deployer_close(d);
    gs_http_client_close(d->client, NULL, NULL);
    d->client = NULL;
    if (http != NULL)
        gs_httpd_close(http, on_http_closed, d);
    else
        on_http_closed(d);
}

static void on_signal(uv_signal_t *h, int signum)
{
    daemon_t *d = h->data;
    (void)signum;
    if (++d->signals > 1)
        _exit(1);
    gs_log(GS_LOG_INFO, "stopping");
    stop(d);
}

static int parse_args(int argc, char **argv, const char **config)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        if (c == 'h' || c == 'V') {
            if (c == 'h')
                usage(stdout);
            else
                printf("gridstord %s\n", GS_VERSION);
            return 1;
        }
        if (c != 'c') {
            fprintf(stderr, "gridstord: bad or unknown option '%s'; see --help\n",
                    argv[optind - 1]);
            return 2;
        }
        *config = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "gridstord: unexpected argument '%s'; see --help\n", argv[optind]);
        return 2;
    }
    return 0;
}

int gs_daemon_main(int argc, char **argv)
{
    daemon_t *d = calloc(1, sizeof *d);
    const char *config = NULL;
    gs_diag_t diag = {{0}};
    int rc = d ? parse_args(argc, argv, &config) : 1;
    if (rc != 0) {
        free(d);
        return rc == 1 ? 0 : rc;
    }
    if (sodium_init() < 0 || gs_daemon_config_load(config, &d->cfg, &diag) != GS_OK) {
        fprintf(stderr, "gridstord: %s\n", diag.msg[0] ? diag.msg : "cannot start libsodium");
        free(d);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&d->loop);
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    d->sigint.data = d->sigterm.data = d;
    if ((rc = start(d, &diag)) == GS_OK) {
        uv_signal_start(&d->sigint, on_signal, SIGINT);
        uv_signal_start(&d->sigterm, on_signal, SIGTERM);
        announce(d);
    } else {
        fprintf(stderr, "gridstord: %s\n", diag.msg);
        stop(d);
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
    rc = rc == GS_OK && uv_loop_close(&d->loop) == 0 ? 0 : 1;
    gs_store_close(d->store);
    gs_daemon_config_free(&d->cfg);
    sodium_memzero(d->token, sizeof d->token);
    gs_identity_clear(&d->identity);
    free(d->list_cache.text);
    free(d);
    return rc;
}
