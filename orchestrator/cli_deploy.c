/* cli_deploy.c — the gridstor commands that talk to gridstord: `deploy SPEC` (posts
 * the spec, shows each signandpay QR code in the terminal with its link, then follows
 * the deployment's events until it is done), `status NAME` and `list`. They find the
 * daemon with --url/--token-file, $GRIDSTOR_URL/$GRIDSTOR_TOKEN_FILE, or gridstord's
 * configuration (--config), in that order, else 127.0.0.1:7480 and
 * gridstor-data/admin.token. */
#include "orchestrator.h"
#include "reservation.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_MS 30000

typedef struct {
    const char *url, *token_file, *config;
    bool json, no_wait;
    uint64_t timeout_s; /* 0: wait as long as it takes */
    const char *by;     /* extend: how much longer */
    const char *zdbs;   /* scale: data 0-dbs in all */
    const char *size;   /* scale: a larger size for each (refused by gridstord for now) */
    char base[512], auth[256];
} conn_t;

static int fail(int code, const char *cmd, const char *msg)
{
    fprintf(stderr, "gridstor %s: %s\n", cmd, msg);
    return code;
}

/* Where gridstord is and its token, from the options, the environment or its config. */
static int connect_opts(conn_t *c, const char *cmd)
{
    gs_daemon_config_t cfg;
    gs_diag_t diag = {{0}};
    gs_buf_t tok;
    const char *url = c->url ? c->url : getenv("GRIDSTOR_URL");
    const char *tf = c->token_file ? c->token_file : getenv("GRIDSTOR_TOKEN_FILE");
    int err;
    if (gs_daemon_config_load(c->config, &cfg, &diag) != GS_OK)
        return fail(GS_EXIT_USAGE, cmd, diag.msg);
    snprintf(c->base, sizeof c->base, "%s", url ? url : cfg.public_url);
    gs_buf_init(&tok, 1024);
    err = gs_file_read(tf ? tf : cfg.admin_token_file, 1024, &tok, &diag);
    gs_daemon_config_free(&cfg);
    while (err == GS_OK && tok.len && (tok.data[tok.len - 1] == '\n'))
        tok.len--;
    if (err == GS_OK)
        snprintf(c->auth, sizeof c->auth, "Authorization: Bearer %.*s", (int)tok.len, tok.data);
    gs_buf_free(&tok);
    if (err != GS_OK)
        return fail(GS_EXIT_USAGE, cmd, diag.msg);
    return GS_EXIT_OK;
}

/* method base+path with the token; *out the JSON answer (NULL when none). The status,
 * or 0 with *why set when gridstord did not answer. */
static long request(const conn_t *c, const char *method, const char *path, const char *body,
                    size_t len, json_t **out, char *why, size_t whylen)
{
    char url[1024];
    const char *headers[] = {c->auth, "Content-Type: application/yaml", NULL};
    gs_http_request_t rq = {.method = method,
                            .url = url,
                            .headers = headers,
                            .body = body,
                            .body_len = len,
                            .max_body = 16 << 20,
                            .timeout_ms = TIMEOUT_MS};
    gs_http_response_t resp;
    gs_diag_t diag = {{0}};
    long status;
    snprintf(url, sizeof url, "%s%s", c->base, path);
    *out = NULL;
    if (gs_http_run(&rq, &resp, &diag) != GS_OK) {
        snprintf(why, whylen, "%s (is gridstord running? see --url)", diag.msg);
        gs_http_response_free(&resp);
        return 0;
    }
    status = resp.status;
    *out = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    gs_http_response_free(&resp);
    return status;
}

/* The exit status for a refusal by gridstord, its message printed. */
static int refused(const char *cmd, long status, const json_t *ans, const char *why)
{
    const char *msg = status == 0 ? why : gs_json_str(ans, "error");
    char line[1200];
    snprintf(line, sizeof line, "%s%s", status ? "" : "", msg ? msg : "unexpected answer");
    fail(0, cmd, line);
    switch (status) {
    case 0:
    case 500:
    case 502:
    case 503:
    case 504:
        return GS_EXIT_GRID;
    case 400:
    case 413:
        return GS_EXIT_USAGE;
    case 422:
        return GS_EXIT_PLACEMENT;
    default:
        return GS_EXIT_REFUSED;
    }
}

static void print_json(const json_t *j)
{
    char *text = gs_json_dumps(j);
    printf("%s\n", text ? text : "null");
    free(text);
}

/* ---- deploy --------------------------------------------------------------------------------- */

/* Each session's QR code in the terminal, from its document, with the link and amount. */
static void show_sessions(const json_t *ans)
{
    json_t *sessions = json_object_get(ans, "sessions"), *s;
    size_t i, n = json_array_size(sessions);
    printf("%s: %zu document%s to sign and pay with the Threefold Connect app (%s TFT in all)\n",
           gs_json_str(ans, "name"), n, n == 1 ? "" : "s", gs_json_str(ans, "total"));
    json_array_foreach(sessions, i, s)
    {
        gs_http_request_t rq = {.url = gs_json_str(s, "document"), .timeout_ms = TIMEOUT_MS};
        gs_http_response_t resp;
        gs_qr_t *qr = NULL;
        gs_buf_t term;
        gs_buf_init(&term, 1 << 20);
        if (gs_http_run(&rq, &resp, NULL) == GS_OK && resp.status == 200 &&
            gs_qr_encode(resp.body.data, resp.body.len, &qr, NULL) == GS_OK &&
            gs_qr_term(qr, &term) == GS_OK)
            fwrite(term.data, 1, term.len, stdout);
        printf("document %zu of %zu: pay %s TFT\n  link: %s\n  QR:   %s\n\n", i + 1, n,
               gs_json_str(s, "tft"), gs_json_str(s, "link"), gs_json_str(s, "qr_png"));
        gs_qr_free(qr);
        gs_buf_free(&term);
        gs_http_response_free(&resp);
    }
    fflush(stdout);
}

/* Whether session `id` of the deployment is accepted (signed and paid). */
static bool session_accepted(const json_t *d, const char *id)
{
    const json_t *s;
    size_t i;
    json_array_foreach(json_object_get(d, "sessions"), i, s)
    {
        if (strcmp(gs_json_str(s, "id"), id) == 0)
            return strcmp(gs_json_str(s, "state"), "accepted") == 0;
    }
    return false;
}

/* Follows the deployment, printing each new event, until gridstord says it is done
 * (and, for an extension, once its session was paid). */
static int follow(const conn_t *c, const char *name, const char *session)
{
    char path[256], why[1200];
    int64_t last = 0;
    time_t start = time(NULL);
    for (;;) {
        json_t *d, *ev;
        size_t i;
        long st;
        bool done;
        snprintf(path, sizeof path, "/api/v1/deployments/%s?events=1000&since=%lld", name,
                 (long long)last);
        st = request(c, "GET", path, NULL, 0, &d, why, sizeof why);
        if (st != 200) {
            int rc = refused("deploy", st, d, why);
            json_decref(d);
            return rc;
        }
        json_array_foreach(json_object_get(d, "events"), i, ev)
        {
            int64_t id = 0;
            gs_json_int(ev, "id", &id);
            if (id > last && !c->json)
                printf("[%s] %s\n", gs_json_str(d, "state"), gs_json_str(ev, "message"));
            last = id > last ? id : last;
        }
        fflush(stdout);
        done = json_is_true(json_object_get(d, "done")) &&
               (session == NULL || session_accepted(d, session));
        if (done || (c->timeout_s && (uint64_t)(time(NULL) - start) >= c->timeout_s)) {
            bool failed = strcmp(gs_json_str(d, "state"), "failed") == 0;
            if (c->json)
                print_json(d);
            else if (done)
                printf("%s is %s%s%s\n", name, gs_json_str(d, "state"), failed ? ": " : "",
                       failed ? gs_json_str(d, "reason") : "");
            json_decref(d);
            if (!done)
                return fail(GS_EXIT_TIMEOUT, "deploy", "still not done: see `gridstor status`");
            return failed ? GS_EXIT_FAILED : GS_EXIT_OK;
        }
        json_decref(d);
        nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    }
}

static int deploy(conn_t *c, const char *spec_path)
{
    gs_buf_t spec;
    gs_diag_t diag = {{0}};
    char why[1200], name[128];
    json_t *ans = NULL;
    long st;
    gs_buf_init(&spec, GS_SPEC_MAX_BYTES);
    if (gs_file_read(spec_path, GS_SPEC_MAX_BYTES, &spec, &diag) != GS_OK) {
        gs_buf_free(&spec);
        return fail(GS_EXIT_USAGE, "deploy", diag.msg);
    }
    /* a gridstord that just started has not read the grid yet: it says 503, so wait */
    for (int tries = 0;; tries++) {
        st = request(c, "POST", "/api/v1/deployments", spec.data ? spec.data : "", spec.len, &ans,
                     why, sizeof why);
        if (st != 503 || tries >= 30)
            break;
        if (tries == 0 && !c->json)
            fprintf(stderr, "gridstor deploy: %s\n", gs_json_str(ans, "error"));
        json_decref(ans);
        nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    }
    gs_buf_free(&spec);
    if (st != 201) {
        int rc = refused("deploy", st, ans, why);
        json_decref(ans);
        return rc;
    }
    snprintf(name, sizeof name, "%s", gs_json_str(ans, "name"));
    if (c->json && c->no_wait)
        print_json(ans);
    else if (!c->json)
        show_sessions(ans);
    json_decref(ans);
    return c->no_wait ? GS_EXIT_OK : follow(c, name, NULL);
}

/* `gridstor extend NAME --by 30d` and `gridstor scale NAME --zdbs 24`: the QR code to
 * pay for the order (body, stolen), then progress until it is carried out. */
static int order(conn_t *c, const char *cmd, const char *name, json_t *body)
{
    char path[256], why[1200], session[64];
    json_t *ans = NULL;
    char *text = body ? gs_json_dumps(body) : NULL;
    long st;
    json_decref(body);
    if (text == NULL)
        return fail(GS_EXIT_FAILED, cmd, "out of memory");
    snprintf(path, sizeof path, "/api/v1/deployments/%s/%s", name, cmd);
    st = request(c, "POST", path, text, strlen(text), &ans, why, sizeof why);
    free(text);
    if (st != 201) {
        int rc = refused(cmd, st, ans, why);
        json_decref(ans);
        return rc;
    }
    snprintf(session, sizeof session, "%s",
             gs_json_str(json_array_get(json_object_get(ans, "sessions"), 0), "id"));
    if (c->json && c->no_wait)
        print_json(ans);
    else if (!c->json)
        show_sessions(ans);
    json_decref(ans);
    return c->no_wait ? GS_EXIT_OK : follow(c, name, session);
}

/* ---- status and list ----------------------------------------------------------------------- */

/* `gridstor status NAME` for people: state, pools, machines, 0-dbs, recent events. */
/* "runs dry in 173 days" of a pool whose runway is known, else "". */
static const char *runway_text(const json_t *pool, char *out, size_t len)
{
    int64_t s = 0;
    out[0] = '\0';
    if (!gs_json_int(pool, "runway_s", &s))
        return out;
    if (s > (int64_t)100 * 365 * 86400) /* the explorer's "never": nothing uses it */
        snprintf(out, len, ", nothing draws on it");
    else if (s >= 2 * 86400)
        snprintf(out, len, ", runs dry in %lld days", (long long)(s / 86400));
    else
        snprintf(out, len, ", runs dry in %lld hours", (long long)(s / 3600));
    return out;
}

static void show_deployment(const char *name, const json_t *d)
{
    const json_t *p;
    size_t i, ok = 0;
    char runway[64];
    printf("%s: %s%s%s (owner %s)\n", name, gs_json_str(d, "state"),
           *gs_json_str(d, "reason") ? ": " : "", gs_json_str(d, "reason"),
           gs_json_str(d, "owner"));
    json_array_foreach(json_object_get(d, "pools"), i, p)
        printf("  pool %zu on farm %lld: %s%s\n", i,
               (long long)json_integer_value(json_object_get(p, "farm_id")),
               gs_json_str(p, "state"), runway_text(p, runway, sizeof runway));
    json_array_foreach(json_object_get(d, "machines"), i, p) printf(
        "  %s (%s) on node %s: %s%s%s\n", gs_json_str(p, "role"), gs_json_str(p, "mode"),
        gs_json_str(p, "node_id"), gs_json_str(p, "state"), gs_json_str(p, "gateway") ? ", " : "",
        gs_json_str(p, "gateway") ? gs_json_str(p, "gateway") : "");
    json_array_foreach(json_object_get(d, "zdbs"), i, p) ok +=
        strcmp(gs_json_str(p, "state"), "ok") == 0;
    printf("  0-dbs: %zu of %zu ready\n", ok, json_array_size(json_object_get(d, "zdbs")));
    json_array_foreach(json_object_get(d, "events"), i, p)
        printf("  %s %s\n", gs_json_str(p, "level"), gs_json_str(p, "message"));
}

static int status_of(const conn_t *c, const char *name)
{
    char path[256], why[1200];
    json_t *d, *p;
    size_t i;
    long st;
    snprintf(path, sizeof path, name ? "/api/v1/deployments/%s" : "/api/v1/deployments",
             name ? name : "");
    if ((st = request(c, "GET", path, NULL, 0, &d, why, sizeof why)) != 200) {
        int rc = refused(name ? "status" : "list", st, d, why);
        json_decref(d);
        return rc;
    }
    if (c->json)
        print_json(d);
    else if (name == NULL)
        json_array_foreach(json_object_get(d, "deployments"), i, p)
            printf("%-24s %-18s %s\n", gs_json_str(p, "name"), gs_json_str(p, "state"),
                   gs_json_str(p, "owner"));
    else
        show_deployment(name, d);
    json_decref(d);
    return GS_EXIT_OK;
}

/* Waits until gridstord has forgotten the deployment (its workloads deleted on the grid). */
static int wait_gone(const conn_t *c, const char *path)
{
    char why[1200];
    time_t start = time(NULL);
    for (;;) {
        json_t *d = NULL;
        long st = request(c, "GET", path, NULL, 0, &d, why, sizeof why);
        json_decref(d);
        if (st == 404)
            return GS_EXIT_OK;
        if (st != 200)
            return refused("delete", st, NULL, why);
        if (c->timeout_s && (uint64_t)(time(NULL) - start) >= c->timeout_s)
            return fail(GS_EXIT_TIMEOUT, "delete",
                        "its workloads are still being deleted: see `gridstor status`");
        nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
    }
}

static int delete_deployment(const conn_t *c, const char *name)
{
    char path[256], why[1200];
    json_t *ans;
    long st;
    int rc = GS_EXIT_OK;
    snprintf(path, sizeof path, "/api/v1/deployments/%s", name);
    st = request(c, "DELETE", path, NULL, 0, &ans, why, sizeof why);
    if (st != 200 && st != 202) {
        rc = refused("delete", st, ans, why);
        json_decref(ans);
        return rc;
    }
    if (!c->json)
        printf("%s%s (it was %s): %s\n", st == 202 ? "deleting " : "", name,
               gs_json_str(ans, "state"), gs_json_str(ans, "money"));
    fflush(stdout);
    if (st == 202 && !c->no_wait)
        rc = wait_gone(c, path);
    if (c->json)
        print_json(ans);
    else if (rc == GS_EXIT_OK && (st == 200 || !c->no_wait))
        printf("%s deleted (it was %s)\n", name, gs_json_str(ans, "state"));
    json_decref(ans);
    return rc;
}

/* ---- arguments ------------------------------------------------------------------------------- */

static const char *synopsis(const char *cmd)
{
    static const char *const forms[] = {"deploy SPEC",
                                        "status NAME",
                                        "delete NAME",
                                        "extend NAME --by DURATION",
                                        "scale NAME --zdbs N | --size SIZE",
                                        "list"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strncmp(forms[i], cmd, strlen(cmd)) == 0)
            return forms[i];
    return cmd;
}

static void usage(FILE *out, const char *cmd)
{
    bool waits = strcmp(cmd, "deploy") == 0 || strcmp(cmd, "delete") == 0 ||
                 strcmp(cmd, "extend") == 0 || strcmp(cmd, "scale") == 0;
    fprintf(out,
            "usage: gridstor %s [--url URL] [--token-file FILE] [--config FILE] [--json]%s\n\n"
            "  --url URL         gridstord (default $GRIDSTOR_URL, else from --config, else\n"
            "                    http://127.0.0.1:7480)\n"
            "  --token-file FILE its admin token (default $GRIDSTOR_TOKEN_FILE, else from\n"
            "                    --config, else gridstor-data/admin.token)\n"
            "  --config FILE     gridstord's configuration, to find both\n"
            "  --json            print JSON for scripts\n",
            synopsis(cmd), waits ? "\n                [--no-wait] [--timeout SECONDS]" : "");
    if (strcmp(cmd, "deploy") == 0)
        fprintf(out, "  --no-wait         return once the QR codes are shown\n"
                     "  --timeout S       stop following after S seconds; exit 7\n\n"
                     "Exit: 0 done, 2 bad spec or arguments, 3 placement, 4 gridstord or the\n"
                     "grid unreachable, 5 refused (token, name in use), 6 the deployment\n"
                     "failed, 7 timeout.\n");
    if (strcmp(cmd, "extend") == 0)
        fprintf(out, "  --by DURATION     how much longer: 30d, 12w, 6mo (at least 1h)\n"
                     "  --no-wait         return once the QR code is shown\n"
                     "  --timeout S       stop following after S seconds; exit 7\n\n"
                     "Shows the QR code paying for the extra time; once it is signed and paid,\n"
                     "gridstord extends every pool and the deployment is deployed again.\n");
    if (strcmp(cmd, "scale") == 0)
        fprintf(out, "  --zdbs N          how many data 0-dbs in all (more than now, at most 100)\n"
                     "  --size SIZE       larger 0-dbs: refused for now (a 0-db's size is fixed)\n"
                     "  --no-wait         return once the QR code is shown\n"
                     "  --timeout S       stop following after S seconds; exit 7\n\n"
                     "Places the new 0-dbs on nodes of the deployment's farms and shows the QR\n"
                     "code paying for them until the pools run dry; once it is signed and paid,\n"
                     "gridstord posts them, then the gateways again with every backend, and\n"
                     "new files spread over all of them. Exit 3: no room for them.\n");
    if (strcmp(cmd, "delete") == 0)
        fprintf(out, "  --no-wait         return once gridstord started deleting the workloads\n"
                     "  --timeout S       stop waiting for them after S seconds; exit 7\n\n"
                     "The workloads are deleted on the grid, then the deployment is forgotten;\n"
                     "what happens to the money it paid is printed.\n");
}

static int parse(int argc, char **argv, conn_t *c, const char **arg, const char *cmd)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"token-file", required_argument, NULL, 't'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"no-wait", no_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'},
        {"by", required_argument, NULL, 'b'},
        {"zdbs", required_argument, NULL, 'z'},
        {"size", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    bool wants_arg = strcmp(cmd, "list") != 0;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            c->url = optarg;
            break;
        case 't':
            c->token_file = optarg;
            break;
        case 'c':
            c->config = optarg;
            break;
        case 'j':
            c->json = true;
            break;
        case 'n':
            c->no_wait = true;
            break;
        case 'b':
            c->by = optarg;
            break;
        case 'z':
            c->zdbs = optarg;
            break;
        case 's':
            c->size = optarg;
            break;
        case 'T': {
            char *end;
            c->timeout_s = strtoull(optarg, &end, 10);
            if (*optarg < '0' || *optarg > '9' || *end != '\0' || c->timeout_s == 0)
                return fail(GS_EXIT_USAGE, cmd, "--timeout: give a number of seconds, like 600");
            break;
        }
        case 'h':
            usage(stdout, cmd);
            return -1;
        default:
            usage(stderr, cmd);
            return GS_EXIT_USAGE;
        }
    }
    if (argc - optind != (wants_arg ? 1 : 0)) {
        usage(stderr, cmd);
        return GS_EXIT_USAGE;
    }
    *arg = wants_arg ? argv[optind] : NULL;
    if ((strcmp(cmd, "extend") == 0) != (c->by != NULL))
        return fail(GS_EXIT_USAGE, cmd,
                    c->by ? "--by is for extend only" : "say how much longer: --by 30d");
    if (strcmp(cmd, "scale") != 0 && (c->zdbs || c->size))
        return fail(GS_EXIT_USAGE, cmd, "--zdbs and --size are for scale only");
    if (strcmp(cmd, "scale") == 0 && (c->zdbs == NULL) == (c->size == NULL))
        return fail(GS_EXIT_USAGE, cmd,
                    "say what to add: --zdbs N (data 0-dbs in all) or --size S");
    if (c->zdbs && (c->zdbs[0] == '\0' || strspn(c->zdbs, "0123456789") != strlen(c->zdbs)))
        return fail(GS_EXIT_USAGE, cmd, "--zdbs: give a whole number of data 0-dbs, like 24");
    return connect_opts(c, cmd);
}

static int run_cmd(int argc, char **argv, const char *cmd)
{
    conn_t c = {0};
    const char *arg = NULL;
    int rc = parse(argc, argv, &c, &arg, cmd);
    if (rc != GS_EXIT_OK)
        return rc < 0 ? GS_EXIT_OK : rc;
    if (strcmp(cmd, "deploy") == 0)
        return deploy(&c, arg);
    if (strcmp(cmd, "delete") == 0)
        return delete_deployment(&c, arg);
    if (strcmp(cmd, "extend") == 0)
        return order(&c, cmd, arg, json_pack("{s:s}", "by", c.by));
    if (strcmp(cmd, "scale") == 0)
        return order(&c, cmd, arg,
                     c.zdbs ? json_pack("{s:I}", "zdbs", (json_int_t)strtoll(c.zdbs, NULL, 10))
                            : json_pack("{s:s}", "size", c.size));
    return status_of(&c, arg);
}

int gs_cli_deploy(int argc, char **argv)
{
    return run_cmd(argc, argv, "deploy");
}

int gs_cli_status(int argc, char **argv)
{
    return run_cmd(argc, argv, "status");
}

int gs_cli_list(int argc, char **argv)
{
    return run_cmd(argc, argv, "list");
}

int gs_cli_delete(int argc, char **argv)
{
    return run_cmd(argc, argv, "delete");
}

int gs_cli_extend(int argc, char **argv)
{
    return run_cmd(argc, argv, "extend");
}

int gs_cli_scale(int argc, char **argv)
{
    return run_cmd(argc, argv, "scale");
}
