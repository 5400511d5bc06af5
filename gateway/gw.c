/* gw.c — gridstor-gw's process: options, the HTTP server (h2o on libuv) and a clean stop
 * on SIGTERM/SIGINT (a second signal exits at once). On start it prints one JSON line
 * {"gridstor-gw": URL} so that scripts and tests find it when it listens on port 0. */
#include "gateway.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    gs_gw_config_t cfg;
    gs_httpd_t *http;
    int signals;
} gw_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gridstor-gw --env [--listen HOST:PORT] [--data DIR]\n\n"
            "The gridstor storage gateway a deployment runs on its machines (M1 read-write,\n"
            "M2/M3 read-only). SIGTERM or SIGINT stops it.\n\n"
            "  --env              take the configuration from the GRIDSTOR_* variables that\n"
            "                     gridstord gives a gateway machine (docs/gateway-api.md)\n"
            "  --listen HOST:PORT where to serve (default 0.0.0.0:%d)\n"
            "  --data DIR         uploads in progress and the job queue (default ./gw-data)\n"
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
    snprintf(codec, sizeof codec, "%u+%u", gw->cfg.codec.params.data, gw->cfg.codec.params.parity);
    gs_http_reply_json(r, 200,
                       json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "status", "ok", "version",
                                 GS_VERSION, "deployment", gw->cfg.deployment, "role", gw->cfg.role,
                                 "mode", mode_name(gw->cfg.mode), "codec", codec, "backends",
                                 (json_int_t)gw->cfg.codec.n_backends));
}

static const gs_http_route_t routes[] = {
    {"GET", "/health", on_health, 0},
    {NULL, NULL, NULL, 0},
};

static void on_http_closed(void *arg)
{
    gw_t *gw = arg;
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

/* Parses the options into gw->cfg. 1: answered (--help), 2: usage error. */
static int parse_args(int argc, char **argv, gw_t *gw, bool *from_env)
{
    static const struct option longopts[] = {
        {"env", no_argument, NULL, 'e'},        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},    {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            *from_env = true;
            break;
        case 'l':
            free(gw->cfg.listen);
            gw->cfg.listen = gs_strdup(optarg);
            break;
        case 'd':
            free(gw->cfg.data_dir);
            gw->cfg.data_dir = gs_strdup(optarg);
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
    if (!*from_env) {
        fprintf(stderr, "gridstor-gw: say where the configuration comes from: --env; see --help\n");
        return 2;
    }
    return 0;
}

static int start(gw_t *gw, gs_diag_t *diag)
{
    char host[256];
    const char *colon = strrchr(gw->cfg.listen, ':');
    int port = colon ? atoi(colon + 1) : -1;
    if (colon == NULL || port < 0 || port > 65535 || colon == gw->cfg.listen)
        return gs_diag_set(diag, GS_EINVAL, "--listen: '%s' is not HOST:PORT", gw->cfg.listen);
    snprintf(host, sizeof host, "%.*s", (int)(colon - gw->cfg.listen), gw->cfg.listen);
    return gs_httpd_start(&gw->loop, host, port, routes, gw, &gw->http, diag);
}

static void announce(const gw_t *gw)
{
    char host[256];
    const char *colon = strrchr(gw->cfg.listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - gw->cfg.listen), gw->cfg.listen);
    printf("{\"gridstor-gw\":\"http://%s:%d\"}\n", host, gs_httpd_port(gw->http));
    fflush(stdout);
}

static int configure(gw_t *gw, int argc, char **argv, gs_diag_t *diag)
{
    char listen[32];
    bool from_env = false;
    int rc = parse_args(argc, argv, gw, &from_env);
    if (rc != 0)
        return rc;
    snprintf(listen, sizeof listen, "0.0.0.0:%d", GS_GW_PORT);
    if (gw->cfg.listen == NULL)
        gw->cfg.listen = gs_strdup(listen);
    if (gw->cfg.data_dir == NULL)
        gw->cfg.data_dir = gs_strdup("gw-data");
    if (sodium_init() < 0 || gs_gw_env_load(&gw->cfg, diag) != GS_OK) {
        fprintf(stderr, "gridstor-gw: %s\n", diag->msg[0] ? diag->msg : "cannot start libsodium");
        return 2;
    }
    return 0;
}

int gs_gw_main(int argc, char **argv)
{
    gw_t *gw = calloc(1, sizeof *gw);
    gs_diag_t diag = {{0}};
    int rc = gw ? configure(gw, argc, argv, &diag) : 1;
    if (rc != 0) {
        if (gw)
            gs_gw_config_free(&gw->cfg);
        free(gw);
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
        gs_log(GS_LOG_INFO, "gateway %s of %s (%s) on %s", gw->cfg.role, gw->cfg.deployment,
               mode_name(gw->cfg.mode), gw->cfg.listen);
        announce(gw);
    } else {
        fprintf(stderr, "gridstor-gw: %s\n", diag.msg);
        stop(gw);
    }
    uv_run(&gw->loop, UV_RUN_DEFAULT);
    rc = rc == GS_OK && uv_loop_close(&gw->loop) == 0 ? 0 : 1;
    gs_gw_config_free(&gw->cfg);
    free(gw);
    return rc;
}
