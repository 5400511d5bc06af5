/* test_gridstord.c — gridstord as a real process: configuration errors before it
 * starts, its announcement, /health and /metrics in the open, the API behind the
 * admin token (missing, wrong, right), 404 in the API's shape, a private data folder,
 * a token file other users can read refused, and a clean stop on SIGTERM with the
 * state kept for the next start. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include "certs.h"
#include "process.h"
#include "simproc.h"

#include <curl/curl.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char dir[64], config[128], url[128], token[128], auth[160];
    pid_t pid;
} daemon_t;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void start(daemon_t *d)
{
    const char *argv[] = {ts_env("GS_GRIDSTORD"), "--config", d->config, NULL};
    char line[1024], path[256];
    json_t *j;
    gs_buf_t tok;
    d->pid = ts_spawn_server(argv, line, sizeof line, 10000);
    assert_non_null(j = json_loads(line, 0, NULL));
    snprintf(d->url, sizeof d->url, "%s", gs_json_str(j, "gridstord"));
    assert_true(strncmp(d->url, "http://127.0.0.1:", 17) == 0 ||
                strncmp(d->url, "https://127.0.0.1:", 18) == 0);
    snprintf(path, sizeof path, "%s", gs_json_str(j, "token_file"));
    json_decref(j);
    gs_buf_init(&tok, 1024);
    assert_int_equal(gs_file_read(path, 1024, &tok, NULL), GS_OK);
    snprintf(d->token, sizeof d->token, "%.*s", (int)tok.len, tok.data);
    snprintf(d->auth, sizeof d->auth, "Authorization: Bearer %s", d->token);
    gs_buf_free(&tok);
}

static int setup(void **state)
{
    daemon_t *d = calloc(1, sizeof *d);
    char text[256];
    snprintf(d->dir, sizeof d->dir, "/tmp/gs_test_gridstord_XXXXXX");
    assert_non_null(mkdtemp(d->dir));
    snprintf(d->config, sizeof d->config, "%s/gridstord.yaml", d->dir);
    snprintf(text, sizeof text, "listen: 127.0.0.1:0\ndata_dir: %s/data\n", d->dir);
    write_text(d->config, text);
    start(d);
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    daemon_t *d = *state;
    if (d->pid > 0)
        assert_int_equal(ts_stop_server(d->pid, 10000), 0);
    ts_remove_tree(d->dir);
    free(d);
    return 0;
}

static void test_health_and_metrics_are_open(void **state)
{
    daemon_t *d = *state;
    json_t *j;
    assert_int_equal(ts_http("GET", d->url, "/health", NULL, NULL, 5000, &j), 200);
    assert_string_equal(gs_json_str(j, "status"), "ok");
    json_decref(j);
    assert_int_equal(ts_http("GET", d->url, "/metrics", NULL, NULL, 5000, NULL), 200);
    { /* the state database's writes are counted (opening it wrote its schema) */
        char url[256];
        gs_buf_t text;
        const char *line;
        long long writes = 0;
        snprintf(url, sizeof url, "%s/metrics", d->url);
        gs_buf_init(&text, 1 << 20);
        assert_int_equal(ts_http_get_raw(url, &text), 200);
        assert_non_null(line = strstr(text.data, "\ngridstor_store_writes_total "));
        assert_int_equal(sscanf(line, "\ngridstor_store_writes_total %lld", &writes), 1);
        assert_true(writes > 0);
        assert_non_null(strstr(text.data, "\ngridstor_store_write_seconds_max "));
        gs_buf_free(&text);
    }
}

static void test_the_api_needs_the_admin_token(void **state)
{
    daemon_t *d = *state;
    const char *wrong[] = {"Authorization: Bearer 0000000000000000000000000000000000000000", NULL};
    const char *no_scheme[2] = {NULL, NULL};
    const char *right[] = {d->auth, NULL};
    char bare[160];
    json_t *j;
    assert_int_equal(ts_http("GET", d->url, "/api/v1/deployments", NULL, NULL, 5000, &j), 401);
    assert_non_null(strstr(gs_json_str(j, "error"), "admin token"));
    json_decref(j);
    assert_int_equal(ts_http("GET", d->url, "/api/v1/deployments", NULL, wrong, 5000, NULL), 401);
    snprintf(bare, sizeof bare, "Authorization: %s", d->token); /* the token without Bearer */
    no_scheme[0] = bare;
    assert_int_equal(ts_http("GET", d->url, "/api/v1/deployments", NULL, no_scheme, 5000, NULL),
                     401);
    assert_int_equal(ts_http("GET", d->url, "/api/v1/deployments", NULL, right, 5000, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "deployments")), 0);
    json_decref(j);
    assert_int_equal(ts_http("GET", d->url, "/api/v1/deployments/nope", NULL, right, 5000, &j),
                     404);
    assert_non_null(strstr(gs_json_str(j, "error"), "no deployment named 'nope'"));
    json_decref(j);
    /* unauthenticated requests learn nothing about what exists */
    assert_int_equal(ts_http("GET", d->url, "/api/v1/deployments/nope", NULL, NULL, 5000, NULL),
                     401);
    assert_int_equal(ts_http("DELETE", d->url, "/health", NULL, NULL, 5000, NULL), 405);
}

static void test_data_is_private_and_kept_across_restarts(void **state)
{
    daemon_t *d = *state;
    char path[128], token[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/data", d->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/data/admin.token", d->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(token, sizeof token, "%s", d->token);
    assert_int_equal(ts_stop_server(d->pid, 10000), 0);
    start(d); /* the same token again */
    assert_string_equal(d->token, token);
    assert_int_equal(ts_stop_server(d->pid, 10000), 0);
    d->pid = 0;
    chmod(path, 0644);
    {
        const char *argv[] = {ts_env("GS_GRIDSTORD"), "--config", d->config, NULL};
        ts_proc_t p;
        ts_run(d->dir, argv, &p);
        assert_int_equal(p.status, 1);
        assert_non_null(strstr(p.err.data, "chmod 600"));
        ts_proc_free(&p);
    }
}

static void test_bad_configurations_stop_before_starting(void **state)
{
    static const struct {
        const char *text, *says;
    } cases[] = {
        {"lisen: 127.0.0.1:0\n", "1:1: lisen: unknown key; did you mean 'listen'?"},
        {"listen: 127.0.0.1\n", "1:9: listen: expected HOST:PORT"},
        {"listen: 127.0.0.1:70000\n", "port must be a number from 0 to 65535"},
        {"explorer: ftp://example.org\n", "explorer: expected an http:// or https:// URL"},
        {"qr_limit: 5000\n", "qr_limit"},
        {"listen: [1, 2]\n", "listen"},
        {"tls_cert: /etc/hostname\n", "tls_cert and tls_key go together"},
    };
    daemon_t *d = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/bad.yaml", d->dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {ts_env("GS_GRIDSTORD"), "--config", path, NULL};
        ts_proc_t p;
        write_text(path, cases[i].text);
        ts_run(d->dir, argv, &p);
        assert_int_equal(p.status, 2);
        if (p.err.data == NULL || strstr(p.err.data, cases[i].says) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, p.err.data ? p.err.data : "",
                     cases[i].says);
        ts_proc_free(&p);
    }
    {
        const char *argv[] = {ts_env("GS_GRIDSTORD"), "--help", NULL};
        ts_proc_t p;
        ts_run(d->dir, argv, &p);
        assert_int_equal(p.status, 0);
        assert_non_null(strstr(p.out.data, "usage: gridstord"));
        ts_proc_free(&p);
    }
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* With tls_cert and tls_key gridstord serves HTTPS, HTTP/2 by ALPN, and says so in its
 * announcement and its signandpay links. */
static void test_tls_is_served_when_configured(void **state)
{
    daemon_t *d = *state;
    char cert[256], key[256], text[1024], url[256];
    CURL *c;
    long status = 0, version = 0;
    assert_int_equal(ts_stop_server(d->pid, 10000), 0);
    ts_make_certificate(d->dir, "gridstord", cert, key);
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\ndata_dir: %s/data\ntls_cert: %s\ntls_key: %s\n", d->dir, cert,
             key);
    write_text(d->config, text);
    start(d);
    assert_int_equal(strncmp(d->url, "https://", 8), 0);
    snprintf(url, sizeof url, "%s/health", d->url);
    c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, cert);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &version);
    curl_easy_cleanup(c);
    assert_int_equal(status, 200);
    assert_int_equal(version, CURL_HTTP_VERSION_2_0);
    /* files that cannot serve: it stops at start, saying why */
    {
        const char *argv[] = {ts_env("GS_GRIDSTORD"), "--config", d->config, NULL};
        ts_proc_t p;
        snprintf(text, sizeof text,
                 "listen: 127.0.0.1:0\ndata_dir: %s/data\ntls_cert: %s\ntls_key: %s\n", d->dir, key,
                 key);
        write_text(d->config, text);
        assert_int_equal(ts_stop_server(d->pid, 10000), 0);
        d->pid = 0;
        ts_run(d->dir, argv, &p);
        assert_int_not_equal(p.status, 0);
        assert_non_null(strstr(p.err.data, "TLS: cannot use"));
        ts_proc_free(&p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_and_metrics_are_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_api_needs_the_admin_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_is_private_and_kept_across_restarts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_is_served_when_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_configurations_stop_before_starting, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
