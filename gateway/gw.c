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

#define DEFAULT_MAX_UPLOAD ((uint64_t)100 << 20)
#define MAX_UPLOAD_LIMIT   ((uint64_t)4 << 30)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gridstor-gw (--env | --codec FILE [--read-only] [--secret-file FILE])\n"
            "                   [--listen HOST:PORT] [--data DIR] [--max-upload MIB]\n\n"
            "The gridstor storage gateway a deployment runs on its machines (M1 read-write,\n"
            "M2/M3 read-only): files in, files out (docs/gateway-api.md). SIGTERM or SIGINT\n"
            "stops it.\n\n"
            "  --env              the configuration from the GRIDSTOR_* variables that\n"
            "                     gridstord gives a gateway machine\n"
            "  --codec FILE       or from a codec configuration file (docs/codec-format.md)\n"
            "  --read-only        with --codec: serve reads only, from the metadata replica\n"
            "  --secret-file FILE with --codec: uploads and checks need this secret\n"
            "  --listen HOST:PORT where to serve (default 0.0.0.0:%d)\n"
            "  --data DIR         uploads waiting and the job queue (default ./gw-data)\n"
            "  --max-upload MIB   the largest upload (default 100)\n"
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
    j = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s, s:I, s:b}", "status", "ok", "version",
                  GS_VERSION, "deployment", gw->cfg.deployment, "role", gw->cfg.role, "mode",
                  mode_name(gw->cfg.mode), "codec", codec, "backends",
                  (json_int_t)gw->cfg.codec.n_backends, "secret", gw->cfg.secret != NULL);
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

static const gs_http_route_t routes[] = {
    {"GET", "/health", on_health, 0},
    {"GET", "/api/v1/pubkey", gw_pubkey, 0},
    {"POST", "/api/v1/files", gw_upload, MAX_UPLOAD_LIMIT},
    {"GET", "/api/v1/jobs/{}", gw_status, 0},
    {"GET", FILE_PATH, gw_get, 0},
    {"GET", FILE_PATH "/exists", gw_exists, 0},
    {"POST", FILE_PATH "/check", gw_check, 4096}, /* a body is ignored */
    {NULL, NULL, NULL, 0},
};

/* ---- stop ------------------------------------------------------------------------------ */

static void on_follower_stopped(void *arg)
{
    (void)arg;
}

static void on_http_closed(void *arg)
{
    gw_t *gw = arg;
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
    bool from_env, read_only;
    const char *codec_file, *secret_file;
} source_t;

static int set_string(char **field, const char *value)
{
    free(*field);
    return (*field = gs_strdup(value)) != NULL ? 0 : 1;
}

static int set_max_upload(gw_t *gw, const char *text)
{
    char *end;
    unsigned long long mib = strtoull(text, &end, 10);
    if (*text < '0' || *text > '9' || *end != '\0' || mib < 1 || mib > (MAX_UPLOAD_LIMIT >> 20)) {
        fprintf(stderr, "gridstor-gw: --max-upload: a number of MiB from 1 to %" PRIu64 "\n",
                MAX_UPLOAD_LIMIT >> 20);
        return 2;
    }
    gw->cfg.max_upload = (uint64_t)mib << 20;
    return 0;
}

/* Parses the options. 1: answered (--help), 2: usage error. */
static int parse_args(int argc, char **argv, gw_t *gw, source_t *src)
{
    static const struct option longopts[] = {
        {"env", no_argument, NULL, 'e'},
        {"codec", required_argument, NULL, 'c'},
        {"read-only", no_argument, NULL, 'r'},
        {"secret-file", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},
        {"max-upload", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c, rc = 0;
    opterr = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            src->from_env = true;
            break;
        case 'c':
            src->codec_file = optarg;
            break;
        case 'r':
            src->read_only = true;
            break;
        case 's':
            src->secret_file = optarg;
            break;
        case 'l':
            rc = set_string(&gw->cfg.listen, optarg);
            break;
        case 'd':
            rc = set_string(&gw->cfg.data_dir, optarg);
            break;
        case 'm':
            rc = set_max_upload(gw, optarg);
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
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "gridstor-gw: unexpected argument '%s'; see --help\n", argv[optind]);
        return 2;
    }
    if (rc == 0 && src->from_env == (src->codec_file != NULL)) {
        fprintf(stderr, "gridstor-gw: say where the configuration comes from: --env or "
                        "--codec FILE; see --help\n");
        return 2;
    }
    return rc;
}

/* The secret of --secret-file (a private file; a trailing newline is fine). */
static int load_secret(gw_t *gw, const char *path, gs_diag_t *diag)
{
    gs_buf_t text;
    int err;
    gs_buf_init(&text, 1024);
    err = gs_file_read(path, 1024, &text, diag);
    while (err == GS_OK && text.len &&
           (text.data[text.len - 1] == '\n' || text.data[text.len - 1] == '\r'))
        text.len--;
    if (err == GS_OK && text.len < 16)
        err = gs_diag_set(diag, GS_EINVAL, "%s: a secret has at least 16 characters", path);
    if (err == GS_OK && (gw->cfg.secret = strndup(text.data, text.len)) == NULL)
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
    sodium_memzero(text.data ? text.data : (char *)"", text.data ? text.len : 0);
    gs_buf_free(&text);
    return err;
}

static int configure(gw_t *gw, int argc, char **argv, gs_diag_t *diag)
{
    char listen[32];
    source_t src = {0};
    int rc, err;
    gw->cfg.max_upload = DEFAULT_MAX_UPLOAD;
    if ((rc = parse_args(argc, argv, gw, &src)) != 0)
        return rc;
    snprintf(listen, sizeof listen, "0.0.0.0:%d", GS_GW_PORT);
    if ((gw->cfg.listen == NULL && set_string(&gw->cfg.listen, listen)) ||
        (gw->cfg.data_dir == NULL && set_string(&gw->cfg.data_dir, "gw-data")))
        return 1;
    if (sodium_init() < 0) {
        gs_diag_set(diag, GS_EIO, "libsodium did not start");
        return 2;
    }
    err = src.from_env ? gs_gw_env_load(&gw->cfg, diag)
                       : gs_gw_file_load(&gw->cfg, src.codec_file, diag);
    if (err == GS_OK && src.read_only)
        gw->cfg.mode = GS_GW_READ_ONLY;
    if (err == GS_OK && src.secret_file != NULL)
        err = load_secret(gw, src.secret_file, diag);
    return err == GS_OK ? 0 : 2;
}

/* ---- start ------------------------------------------------------------------------------- */

/* The gateway's signing key, the same on every gateway of a deployment: from the
 * deployment key. */
static int derive_signing_key(gw_t *gw, gs_diag_t *diag)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    static const char context[] = "gridstor gateway signing key";
    if ((gw->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    crypto_generichash(seed, sizeof seed, (const unsigned char *)context, sizeof context - 1,
                       gw->cfg.codec.key, GS_CODEC_KEY_LEN);
    crypto_sign_seed_keypair(gw->sign_pk, gw->sign_sk, seed);
    sodium_memzero(seed, sizeof seed);
    return GS_OK;
}

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
    if ((err = gs_mkdir_p(gw->cfg.data_dir, diag)) != GS_OK ||
        (err = derive_signing_key(gw, diag)) != GS_OK ||
        (err = gs_codec_open(&gw->loop, &gw->cfg.codec, &o, &gw->codec, diag)) != GS_OK ||
        (err = gw_jobs_open(gw, diag)) != GS_OK || (err = start_follower(gw, diag)) != GS_OK)
        return err;
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

static void gw_free(gw_t *gw)
{
    gw_jobs_close(gw);
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
