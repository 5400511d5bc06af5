/* bench_api.c — gridstord's API against an h2o hello-world handler, on this machine in
 * the same run: wrk (2 threads, 50 connections) on GET /api/v1/deployments with 100
 * deployments stored, on a handler that answers a fixed small JSON through the same
 * server glue (common's gs_httpd on h2o), and on one that answers the very bytes of the
 * list, in turn, five rounds of 3 s (one of 1 s with --quick); prints the median rates, the ratios (the aim for api/hello is 0.5 or more) and gridstord's resident memory with those 100 deployments (aim
 * under 40 MiB). It never fails on speed; it exits 77 (skipped) without wrk.
 *
 * usage: bench_api GRIDSTORD [--quick] */
#define _XOPEN_SOURCE 700
#include "orchestrator.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#define DEPLOYMENTS 100

static void hello(gs_http_req_t *r, void *ud)
{
    static const char body[] = "{\"status\":\"ok\"}";
    (void)ud;
    gs_http_reply(r, 200, "application/json", body, sizeof body - 1);
}

/* The same bytes the list answers, served as they are: what the answer's size costs. */
static char *same_body;
static size_t same_len;

static void same(gs_http_req_t *r, void *ud)
{
    (void)ud;
    gs_http_reply(r, 200, "application/json", same_body, same_len);
}

static const gs_http_route_t hello_routes[] = {
    {"GET", "/hello", hello, 0},
    {"GET", "/same", same, 0},
    {NULL, NULL, NULL, 0},
};

/* The reference server in a child: serves /hello until killed. Returns its pid. */
static pid_t start_hello(int *port)
{
    int fds[2];
    pid_t pid;
    if (pipe(fds) != 0)
        return -1;
    if ((pid = fork()) == 0) {
        uv_loop_t loop;
        gs_httpd_t *s;
        close(fds[0]);
        uv_loop_init(&loop);
        if (gs_httpd_start(&loop, "127.0.0.1", 0, hello_routes, NULL, &s, NULL) != GS_OK)
            _exit(1);
        *port = gs_httpd_port(s);
        if (write(fds[1], port, sizeof *port) != sizeof *port)
            _exit(1);
        close(fds[1]);
        uv_run(&loop, UV_RUN_DEFAULT);
        _exit(0);
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], port, sizeof *port) != sizeof *port)
        pid = -1;
    close(fds[0]);
    return pid;
}

/* 100 deployments as gridstord stores them, each with one session and a plan. */
static int seed(const char *dir)
{
    char path[512], name[32], id[32], memo[32];
    gs_store_t *s;
    int err;
    snprintf(path, sizeof path, "%s/state.db", dir);
    if ((err = gs_store_open(path, &s, NULL)) != GS_OK)
        return err;
    for (int i = 0; i < DEPLOYMENTS && err == GS_OK; i++) {
        gs_store_session_t sess = {id, "{\"DataToSign\":\"x\"}", "x", 1000, memo};
        snprintf(name, sizeof name, "deployment-%03d", i);
        snprintf(id, sizeof id, "%024d", i);
        snprintf(memo, sizeof memo, "gs-%024d", i);
        err = gs_store_deployment_add(s, name, "alice.3bot", "name: x\n",
                                      "{\"pools\":[],\"zdbs\":[],\"machines\":[]}", &sess, 1, NULL);
    }
    if (err == GS_OK) { /* the list as gridstord answers it, for the /same reference */
        json_t *answer = json_pack("{s:o}", "deployments", gs_store_deployments(s));
        same_body = gs_json_dumps(answer);
        same_len = same_body ? strlen(same_body) : 0;
        json_decref(answer);
    }
    gs_store_close(s);
    return err;
}

/* Requests per second that wrk measured on url, or a negative number. */
static double wrk(const char *url, const char *header, int seconds)
{
    char cmd[1024], line[512];
    double rate = -1;
    FILE *p;
    snprintf(cmd, sizeof cmd, "wrk -t2 -c50 -d%ds %s%s%s '%s' 2>&1", seconds, header ? "-H '" : "",
             header ? header : "", header ? "'" : "", url);
    if ((p = popen(cmd, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, p))
        if (strncmp(line, "Requests/sec:", 13) == 0)
            rate = strtod(line + 13, NULL);
    pclose(p);
    return rate;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, by_value);
    return v[n / 2];
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* Starts gridstord on dir; *url its address, *token_header the Authorization line. */
static pid_t start_gridstord(const char *bin, const char *dir, char *url, size_t ulen,
                             char *token_header, size_t tlen)
{
    char config[512], line[512], token[128] = "";
    int fds[2];
    pid_t pid;
    FILE *f;
    snprintf(config, sizeof config, "%s/gridstord.yaml", dir);
    if ((f = fopen(config, "w")) == NULL)
        return -1;
    fprintf(f, "listen: 127.0.0.1:0\ndata_dir: %s\n", dir);
    fclose(f);
    if (pipe(fds) != 0)
        return -1;
    if ((pid = fork()) == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl(bin, bin, "--config", config, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (f == NULL || fgets(line, sizeof line, f) == NULL ||
        sscanf(line, "{\"gridstord\":\"%255[^\"]\"", url) != 1)
        return -1;
    fclose(f);
    (void)ulen;
    snprintf(config, sizeof config, "%s/admin.token", dir);
    if ((f = fopen(config, "r")) == NULL || fgets(token, sizeof token, f) == NULL)
        return -1;
    fclose(f);
    snprintf(token_header, tlen, "Authorization: Bearer %s", token);
    return pid;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/gs_bench_api_XXXXXX", url[300], target[400], auth[256], cmd[600];
    bool quick = argc > 2 && strcmp(argv[2], "--quick") == 0;
    int seconds = quick ? 1 : 3, rounds = quick ? 1 : 5, port = 0, status;
    double refs[5], sames[5], apis[5];
    pid_t hello_pid, gd;
    double ref, api, same_ref;
    long rss;
    if (argc < 2) {
        fprintf(stderr, "usage: bench_api GRIDSTORD [--quick]\n");
        return 2;
    }
    if (system("command -v wrk >/dev/null 2>&1") != 0) {
        printf("SKIP: wrk is not installed (scripts/install-deps.sh installs it)\n");
        return 77;
    }
    if (mkdtemp(dir) == NULL || seed(dir) != GS_OK)
        return 1;
    if ((hello_pid = start_hello(&port)) < 0)
        return 1;
    gd = start_gridstord(argv[1], dir, url, sizeof url, auth, sizeof auth);
    /* the three measured in turn, ROUNDS times, medians: the machine's noise hits all */
    for (int r = 0; r < rounds; r++) {
        snprintf(target, sizeof target, "http://127.0.0.1:%d/hello", port);
        refs[r] = wrk(target, NULL, seconds);
        snprintf(target, sizeof target, "http://127.0.0.1:%d/same", port);
        sames[r] = wrk(target, NULL, seconds);
        snprintf(target, sizeof target, "%s/api/v1/deployments", url);
        apis[r] = gd > 0 ? wrk(target, auth, seconds) : -1;
    }
    ref = median(refs, rounds);
    same_ref = median(sames, rounds);
    api = median(apis, rounds);
    rss = gd > 0 ? rss_kib(gd) : -1;
    printf("h2o hello-world handler:          %10.0f requests/s\n", ref);
    printf("GET /api/v1/deployments (%d):    %10.0f requests/s\n", DEPLOYMENTS, api);
    printf("the same %zu bytes served as they are: %10.0f requests/s\n", same_len, same_ref);
    printf("ratio api/hello: %.2f (aim 0.5 or more)\n", ref > 0 && api > 0 ? api / ref : 0);
    printf("ratio api/same bytes: %.2f (what gridstord adds to sending the answer)\n",
           same_ref > 0 && api > 0 ? api / same_ref : 0);
    printf("gridstord resident memory with %d deployments: %.1f MiB (aim under 40)\n", DEPLOYMENTS,
           rss / 1024.0);
    kill(hello_pid, SIGTERM);
    waitpid(hello_pid, &status, 0);
    if (gd > 0) {
        kill(gd, SIGTERM);
        waitpid(gd, &status, 0);
    }
    free(same_body);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 && ref > 0 && api > 0 ? 0 : 1;
}
