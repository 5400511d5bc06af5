/* zdb_main.c — `gridstor-sim zdb`: the 0-db-protocol server run on its own, with the
 * 0-db flags it implements. Once listening it prints one JSON line, {"zdb":"HOST:PORT"},
 * on stdout; SIGINT or SIGTERM close every handle and end the loop cleanly, a second
 * signal exits at once. */
#include "sim.h"
#include "zdb.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    gs_zdb_config_t cfg;
    bool help;
} zdb_args_t;

typedef int (*opt_fn)(zdb_args_t *a, const char *value, gs_diag_t *diag);

typedef struct {
    const char *name;
    const char *arg; /* its value's name; NULL for a switch */
    opt_fn fn;
    const char *help;
} zdb_option_t;

/* A decimal number without sign, within uint64_t. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t n = 0;
    if (*s == '\0' || strlen(s) > 20)
        return false;
    for (; *s; s++) {
        unsigned d = (unsigned char)*s - '0';
        if (d > 9 || n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

/* Bytes: a plain number, 0-db's K/M/G/T suffixes (powers of 1024), or KiB..TiB. */
static int parse_bytes(const char *s, uint64_t *out, const char **reason)
{
    size_t n = strlen(s);
    char buf[32];
    if (parse_u64(s, out))
        return GS_OK;
    if (n >= 2 && n < sizeof buf - 3 && strchr("KMGTkmgt", s[n - 1]) != NULL && s[n - 2] >= '0' &&
        s[n - 2] <= '9') {
        char unit = (char)(s[n - 1] & ~0x20);
        snprintf(buf, sizeof buf, "%.*s%ciB", (int)(n - 1), s, unit);
        return gs_parse_size(buf, out, reason);
    }
    return gs_parse_size(s, out, reason);
}

static int opt_listen(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    (void)diag;
    a->cfg.listen = v;
    return GS_OK;
}

static int opt_port(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    uint64_t port;
    if (!parse_u64(v, &port) || port > 65535)
        return gs_diag_set(diag, GS_EINVAL, "--port: '%s' is not a port (0-65535)", v);
    a->cfg.port = (int)port;
    return GS_OK;
}

static int opt_data(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    (void)diag;
    a->cfg.data_dir = v;
    return GS_OK;
}

static int opt_index(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    (void)diag;
    a->cfg.index_dir = v;
    return GS_OK;
}

static int opt_mode(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    if (strcmp(v, "user") == 0)
        a->cfg.mode = GS_ZDB_USER;
    else if (strcmp(v, "seq") == 0)
        a->cfg.mode = GS_ZDB_SEQ;
    else if (strcmp(v, "direct") == 0) {
        gs_log(GS_LOG_WARN, "zdb: --mode direct is deprecated, running in seq mode");
        a->cfg.mode = GS_ZDB_SEQ;
    } else
        return gs_diag_set(diag, GS_EINVAL, "--mode: '%s': use user or seq (absent: mixed)", v);
    return GS_OK;
}

static int opt_admin(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    if (*v == '\0')
        return gs_diag_set(diag, GS_EINVAL, "--admin: the password is empty");
    a->cfg.admin = v;
    return GS_OK;
}

static int opt_datasize(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    const char *reason = "";
    uint64_t n;
    if (parse_bytes(v, &n, &reason) != GS_OK)
        return gs_diag_set(diag, GS_EINVAL, "--datasize: '%s': %s", v, reason);
    if (n < GS_ZDB_MIN_DATASIZE || n >= GS_ZDB_MAX_DATASIZE)
        return gs_diag_set(diag, GS_ERANGE, "--datasize: '%s': must be at least 512K and below 4G",
                           v);
    a->cfg.datasize = n;
    return GS_OK;
}

static int opt_maxsize(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    const char *reason = "";
    if (parse_bytes(v, &a->cfg.maxsize, &reason) != GS_OK)
        return gs_diag_set(diag, GS_EINVAL, "--maxsize: '%s': %s", v, reason);
    return GS_OK;
}

static int opt_protect(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    (void)v;
    (void)diag;
    a->cfg.protect = true;
    return GS_OK;
}

static int opt_verbose(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    (void)a;
    (void)v;
    (void)diag;
    gs_log_set_level(GS_LOG_DEBUG);
    return GS_OK;
}

static int opt_help(zdb_args_t *a, const char *v, gs_diag_t *diag)
{
    (void)v;
    (void)diag;
    a->help = true;
    return GS_OK;
}

static const zdb_option_t options[] = {
    {"listen", "ADDR", opt_listen, "IP address to listen on (default 127.0.0.1)"},
    {"port", "PORT", opt_port, "TCP port (default 9900; 0 = any free port)"},
    {"data", "DIR", opt_data, "data files folder (default ./zdb-data)"},
    {"index", "DIR", opt_index, "index folder: namespace settings (default ./zdb-index)"},
    {"mode", "MODE", opt_mode, "user or seq for every namespace (absent: mixed)"},
    {"admin", "PASS", opt_admin, "admin password (admin commands need AUTH)"},
    {"datasize", "SIZE", opt_datasize, "data file size before a new one starts (default 256M)"},
    {"maxsize", "SIZE", opt_maxsize, "size limit of the default namespace (default none)"},
    {"protect", NULL, opt_protect, "default namespace read-only unless admin"},
    {"verbose", NULL, opt_verbose, "log more"},
    {"help", NULL, opt_help, "this text"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gridstor-sim zdb [OPTIONS]\n\n"
               "A 0-db-protocol (RESP) server. Prints {\"zdb\":\"HOST:PORT\"} once listening.\n\n");
    for (size_t i = 0; i < GS_ARRAY_SIZE(options); i++) {
        char flag[40];
        snprintf(flag, sizeof flag, "--%s%s%s", options[i].name, options[i].arg ? " " : "",
                 options[i].arg ? options[i].arg : "");
        fprintf(f, "  %-20s %s\n", flag, options[i].help);
    }
}

static const zdb_option_t *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < GS_ARRAY_SIZE(options); i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

/* "--name value" or "--name=value" for each option of the table. */
static int parse_args(zdb_args_t *a, int argc, char **argv, gs_diag_t *diag)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *eq, *value = NULL;
        const zdb_option_t *o;
        int err;
        if (strncmp(arg, "--", 2) != 0)
            return gs_diag_set(diag, GS_EINVAL, "unexpected argument '%s'", arg);
        eq = strchr(arg + 2, '=');
        o = find_option(arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
        if (o == NULL)
            return gs_diag_set(diag, GS_EINVAL, "unknown option '%s' (see --help)", arg);
        if (o->arg != NULL && eq == NULL && i + 1 >= argc)
            return gs_diag_set(diag, GS_EINVAL, "--%s needs a value", o->name);
        if (o->arg == NULL && eq != NULL)
            return gs_diag_set(diag, GS_EINVAL, "--%s takes no value", o->name);
        if (o->arg != NULL)
            value = eq ? eq + 1 : argv[++i];
        err = o->fn(a, value, diag);
        if (err)
            return err;
    }
    return GS_OK;
}

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    gs_zdb_server_t *srv;
    int signals;
} zdb_run_t;

static void on_server_closed(void *ud)
{
    zdb_run_t *r = ud;
    r->srv = NULL;
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    zdb_run_t *r = h->data;
    if (++r->signals > 1) {
        gs_log(GS_LOG_WARN, "zdb: signal %d again: exiting now", signum);
        _exit(1);
    }
    gs_log(GS_LOG_INFO, "zdb: signal %d: shutting down", signum);
    gs_zdb_server_close(r->srv, on_server_closed, r);
}

static int announce(const gs_zdb_server_t *srv)
{
    json_t *j = json_pack("{s:s}", "zdb", gs_zdb_server_address(srv));
    char *line = j ? gs_json_dumps(j) : NULL;
    json_decref(j);
    if (line == NULL)
        return GS_ENOMEM;
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    return GS_OK;
}

static int run(const gs_zdb_config_t *cfg)
{
    zdb_run_t r;
    gs_diag_t diag = {{0}};
    int err;
    memset(&r, 0, sizeof r);
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error code, not a death */
    if (uv_loop_init(&r.loop) != 0) {
        fprintf(stderr, "gridstor-sim zdb: cannot start the event loop\n");
        return 1;
    }
    err = gs_zdb_server_start(&r.loop, cfg, &r.srv, &diag);
    if (err) {
        fprintf(stderr, "gridstor-sim zdb: %s\n", diag.msg);
        uv_run(&r.loop, UV_RUN_DEFAULT); /* lets a half-started server close */
        uv_loop_close(&r.loop);
        return 1;
    }
    uv_signal_init(&r.loop, &r.sigint);
    uv_signal_init(&r.loop, &r.sigterm);
    r.sigint.data = r.sigterm.data = &r;
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    if (announce(r.srv) != GS_OK)
        on_signal(&r.sigterm, SIGTERM);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&r.loop) != 0) {
        fprintf(stderr, "gridstor-sim zdb: handles left open at exit\n");
        return 1;
    }
    return 0;
}

int gs_sim_zdb_main(int argc, char **argv)
{
    zdb_args_t a = {.help = false};
    gs_diag_t diag = {{0}};
    gs_zdb_config_init(&a.cfg);
    if (parse_args(&a, argc, argv, &diag) != GS_OK) {
        fprintf(stderr, "gridstor-sim zdb: %s\n", diag.msg);
        return 2;
    }
    if (a.help) {
        usage(stdout);
        return 0;
    }
    return run(&a.cfg);
}
