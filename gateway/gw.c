/* gw.c — gridstor-gw's process: options, the codec over the deployment's 0-dbs, the job
 * queue, on read-only gateways the metadata follower (the master's namespace copied into
 * this machine's replica), the HTTP server (h2o on libuv) and a clean stop on SIGTERM or
 * SIGINT (a second signal exits at once). On start it prints one JSON line
 * {"gridstor-gw": URL} so that scripts and tests find it when it listens on port 0. */
#include "internal.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gridstor-gw (--env | --config FILE) [--listen HOST:PORT] [--data DIR]\n\n"
            "The gridstor storage gateway a deployment runs on its machines (M1 read-write,\n"
            "M2/M3 read-only): files in, files out (docs/gateway-api.md). SIGTERM or SIGINT\n"
            "stops it.\n\n"
            "  --env              the configuration from the GRIDSTOR_* variables that\n"
            "                     gridstord gives a gateway machine\n"
            "  --config FILE      or from a gateway configuration file (YAML)\n"
            "  --listen HOST:PORT where to serve (default 0.0.0.0:%d, or the file's listen)\n"
            "  --data DIR         uploads waiting and the job queue (default ./gw-data, or\n"
            "                     the file's data_dir)\n"
            "  --help, --version\n",
            GS_GW_PORT);
}

static const char *mode_name(gs_gw_mode_t m)
{
    return m == GS_GW_READ_WRITE ? "read-write" : "read-only";
}

static void on_health(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    char codec[32];
    json_t *j;
    uint64_t lag = 0;
    snprintf(codec, sizeof codec, "%u+%u", gw->cfg.codec.params.data, gw->cfg.codec.params.parity);
    static const char *const security[] = {"public", "secret", "threebot"};
    j = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s, s:I, s:s, s:b}", "status", "ok", "version",
                  GS_VERSION, "deployment", gw->cfg.deployment, "role", gw->cfg.role, "mode",
                  mode_name(gw->cfg.mode), "codec", codec, "backends",
                  (json_int_t)gw->cfg.codec.n_backends, "security", security[gw->cfg.security],
                  "secret", gw->cfg.security != GS_GW_PUBLIC);
    if (gw->follower != NULL) {
        gs_follower_stats_t st;
        gs_follower_stats(gw->follower, &st);
        if (gs_follower_lag(gw->follower, &lag))
            json_object_set_new(j, "replication_lag", json_integer((json_int_t)lag));
        json_object_set_new(j, "replication",
                            json_pack("{s:b, s:I, s:I, s:I, s:s}", "running", st.running, "copied",
                                      (json_int_t)st.copied, "master_next",
                                      (json_int_t)st.master_next, "errors", (json_int_t)st.errors,
                                      "last_error", st.last_error));
    }
    gs_http_reply_json(r, 200, j);
}

#define FILE_PATH "/api/v1/files/{}"

static const gs_http_route_t route_table[] = {
    {"GET", "/health", on_health, 0},
    {"GET", "/api/v1/pubkey", gw_pubkey, 0},
    {"POST", "/api/v1/authenticate", gw_authenticate, 4096},
    {"POST", "/api/v1/files", gw_upload, 0}, /* body cap: max_upload */
    {"GET", "/api/v1/jobs/{}", gw_status, 0},
    {"GET", FILE_PATH, gw_get, 0},
    {"GET", FILE_PATH "/exists", gw_exists, 0},
    {"POST", FILE_PATH "/check", gw_check, 0},
    {"POST", FILE_PATH "/repair", gw_repair, 0},
    {"POST", "/api/v1/uploads", gw_parts_new, 0},
    {"PUT", "/api/v1/uploads/{}", gw_parts_put, GW_PART_MAX},
    {"POST", "/api/v1/uploads/{}/done", gw_parts_done, 0},
    {NULL, NULL, NULL, 0},
};

/* The routes, with the upload's cap from the configuration. */
static void set_routes(gw_t *gw)
{
    _Static_assert(GS_ARRAY_SIZE(route_table) <= GS_ARRAY_SIZE(gw->routes), "routes fit");
    memcpy(gw->routes, route_table, sizeof route_table);
    for (gs_http_route_t *r = gw->routes; r->method; r++)
        if (r->handler == gw_upload)
            r->max_body = (size_t)gw->cfg.max_upload;
}

/* ---- stop ------------------------------------------------------------------------------ */

static void on_follower_stopped(void *arg)
{
    (void)arg;
}

static void on_client_closed(void *arg)
{
    (void)arg;
}

static void on_http_closed(void *arg)
{
    gw_t *gw = arg;
    gw->stopping = true;
    if (gw->client != NULL)
        gs_http_client_close(gw->client, on_client_closed, NULL);
    gw->client = NULL;
    gs_follower_stop(gw->follower, on_follower_stopped, NULL);
    gw->follower = NULL;
    gs_codec_close(gw->codec);
    gw->codec = NULL;
    uv_close((uv_handle_t *)&gw->sigint, NULL);
    uv_close((uv_handle_t *)&gw->sigterm, NULL);
}

static void stop(gw_t *gw)
{
    gs_httpd_t *http = gw->http;
    gw->http = NULL;
    if (http != NULL)
        gs_httpd_close(http, on_http_closed, gw);
    else
        on_http_closed(gw);
}

static void on_signal(uv_signal_t *h, int signum)
{
    gw_t *gw = h->data;
    (void)signum;
    if (++gw->signals > 1)
        _exit(1);
    gs_log(GS_LOG_INFO, "stopping");
    stop(gw);
}

/* ---- options ----------------------------------------------------------------------------- */

typedef struct {
    bool from_env;
    const char *config_file;
    const char *listen, *data_dir;
} source_t;

/* Parses the options. 1: answered (--help), 2: usage error. */
static int parse_args(int argc, char **argv, source_t *src)
{
    static const struct option longopts[] = {
        {"env", no_argument, NULL, 'e'},
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            src->from_env = true;
            break;
        case 'c':
            src->config_file = optarg;
            break;
        case 'l':
            src->listen = optarg;
            break;
        case 'd':
            src->data_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("gridstor-gw %s\n", GS_VERSION);
            return 1;
        default:
            fprintf(stderr, "gridstor-gw: bad or unknown option '%s'; see --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gridstor-gw: unexpected argument '%s'; see --help\n", argv[optind]);
        return 2;
    }
    if (src->from_env == (src->config_file != NULL)) {
        fprintf(stderr, "gridstor-gw: say where the configuration comes from: --env or "
                        "--config FILE; see --help\n");
        return 2;
    }
    return 0;
}

/* A string field set from an option, else kept, else the default. */
static int set_default(char **field, const char *option, const char *fallback)
{
    if (option != NULL) {
        free(*field);
        *field = NULL;
    }
    if (*field == NULL && (*field = gs_strdup(option ? option : fallback)) == NULL)
        return GS_ENOMEM;
    return GS_OK;
}

static int configure(gw_t *gw, int argc, char **argv, gs_diag_t *diag)
{
    char listen[32];
    source_t src = {0};
    int rc, err;
    gs_gw_config_init(&gw->cfg);
    if ((rc = parse_args(argc, argv, &src)) != 0)
        return rc;
    if (sodium_init() < 0) {
        gs_diag_set(diag, GS_EIO, "libsodium did not start");
        return 2;
    }
    err = src.from_env ? gs_gw_env_load(&gw->cfg, diag)
                       : gs_gw_config_load(src.config_file, &gw->cfg, diag);
    snprintf(listen, sizeof listen, "0.0.0.0:%d", GS_GW_PORT);
    if (err == GS_OK && (set_default(&gw->cfg.listen, src.listen, listen) != GS_OK ||
                         set_default(&gw->cfg.data_dir, src.data_dir, "gw-data") != GS_OK))
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
    return err == GS_OK ? 0 : 2;
}

/* ---- start ------------------------------------------------------------------------------- */

static void on_follower_error(int err, const char *msg, bool fatal, void *ud)
{
    (void)ud;
    gs_log(fatal ? GS_LOG_ERROR : GS_LOG_WARN, "metadata replication%s: %s (%s)",
           fatal ? " stopped" : "", msg, gs_strerror(err));
}

/* A read-only gateway keeps its replica following the master. */
static int start_follower(gw_t *gw, gs_diag_t *diag)
{
    gs_zdb_opts_t master, replica;
    gs_follower_opts_t o = {.on_error = on_follower_error};
    if (gw->cfg.mode != GS_GW_READ_ONLY || gw->cfg.codec.n_meta_replicas == 0)
        return GS_OK;
    gs_codec_config_zdb_opts(&gw->cfg.codec, &gw->cfg.codec.meta_master, &master);
    gs_codec_config_zdb_opts(&gw->cfg.codec, &gw->cfg.codec.meta_replicas[0], &replica);
    if ((gw->follower = gs_follower_new(&gw->loop, &master, &replica, &o, diag)) == NULL)
        return GS_EINVAL;
    return gs_follower_start(gw->follower);
}

static int start(gw_t *gw, gs_diag_t *diag)
{
    char host[256];
    const char *colon = strrchr(gw->cfg.listen, ':');
    int port = colon ? atoi(colon + 1) : -1, err;
    gs_codec_open_opts_t o = {.read_only = gw->cfg.mode == GS_GW_READ_ONLY};
    if (colon == NULL || port < 0 || port > 65535 || colon == gw->cfg.listen)
        return gs_diag_set(diag, GS_EINVAL, "--listen: '%s' is not HOST:PORT", gw->cfg.listen);
    snprintf(host, sizeof host, "%.*s", (int)(colon - gw->cfg.listen), gw->cfg.listen);
    set_routes(gw);
    if (gw->cfg.security == GS_GW_THREEBOT &&
        (err = gs_http_client_new(&gw->loop, &gw->client, diag)) != GS_OK)
        return err;
    if ((err = gs_mkdir_p(gw->cfg.data_dir, diag)) != GS_OK ||
        (err = gw_signing_key(gw, diag)) != GS_OK ||
        (err = gs_codec_open(&gw->loop, &gw->cfg.codec, &o, &gw->codec, diag)) != GS_OK ||
        (err = gw_jobs_open(gw, diag)) != GS_OK || (err = start_follower(gw, diag)) != GS_OK)
        return err;
    return gs_httpd_start(&gw->loop, host, port, gw->routes, gw, &gw->http, diag);
}

static void announce(const gw_t *gw)
{
    char host[256];
    const char *colon = strrchr(gw->cfg.listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - gw->cfg.listen), gw->cfg.listen);
    printf("{\"gridstor-gw\":\"http://%s:%d\"}\n", host, gs_httpd_port(gw->http));
    fflush(stdout);
}

static void gw_free(gw_t *gw)
{
    gw_jobs_close(gw);
    gw_sessions_free(gw);
    sodium_free(gw->sign_sk);
    gs_gw_config_free(&gw->cfg);
    free(gw);
}

int gs_gw_main(int argc, char **argv)
{
    gw_t *gw = calloc(1, sizeof *gw);
    gs_diag_t diag = {{0}};
    int rc = gw ? configure(gw, argc, argv, &diag) : 1;
    if (rc != 0) {
        if (rc == 2 && diag.msg[0])
            fprintf(stderr, "gridstor-gw: %s\n", diag.msg);
        if (gw)
            gw_free(gw);
        return rc == 1 ? 0 : rc;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&gw->loop);
    uv_signal_init(&gw->loop, &gw->sigint);
    uv_signal_init(&gw->loop, &gw->sigterm);
    gw->sigint.data = gw->sigterm.data = gw;
    if ((rc = start(gw, &diag)) == GS_OK) {
        uv_signal_start(&gw->sigint, on_signal, SIGINT);
        uv_signal_start(&gw->sigterm, on_signal, SIGTERM);
        gs_log(GS_LOG_INFO, "gateway %s of %s (%s) on %s", gw->cfg.role ? gw->cfg.role : "",
               gw->cfg.deployment ? gw->cfg.deployment : "", mode_name(gw->cfg.mode),
               gw->cfg.listen);
        announce(gw);
    } else {
        fprintf(stderr, "gridstor-gw: %s\n", diag.msg);
        stop(gw);
    }
    uv_run(&gw->loop, UV_RUN_DEFAULT);
    rc = rc == GS_OK && uv_loop_close(&gw->loop) == 0 ? 0 : 1;
    gw_free(gw);
    return rc;
}
