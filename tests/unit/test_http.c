/* test_http.c — the HTTP client on a libuv loop (common/http.c) against a real h2o
 * server (common/httpd.c) on the same loop: methods, bodies and headers, the answer's
 * cap, failures to connect, timeouts, cancelation on close, many requests in flight,
 * and the private-loop helper for command-line tools. */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BIG_LEN (100 * 1024)

/* POST /echo → {"method","body","x_test"} of what arrived. */
static void echo(gs_http_req_t *r, void *ud)
{
    size_t len = 0;
    const char *body = gs_http_req_body(r, &len);
    char header[64] = "";
    (void)ud;
    gs_http_req_header(r, "X-Test", header, sizeof header);
    gs_http_reply_json(r, 200,
                       json_pack("{s:s, s:s%, s:s}", "method", gs_http_req_method(r), "body",
                                 body ? body : "", len, "x_test", header));
}

static void big(gs_http_req_t *r, void *ud)
{
    static char data[BIG_LEN];
    (void)ud;
    memset(data, 'x', sizeof data);
    gs_http_reply(r, 200, "text/plain", data, sizeof data);
}

static void teapot(gs_http_req_t *r, void *ud)
{
    (void)ud;
    gs_http_reply_error(r, 418, "short and stout");
}

static const gs_http_route_t routes[] = {
    {"POST", "/echo", echo, 4096}, {"PUT", "/echo", echo, 4096}, {"GET", "/big", big, 0},
    {"GET", "/teapot", teapot, 0}, {NULL, NULL, NULL, 0},
};

typedef struct {
    uv_loop_t loop;
    gs_httpd_t *server;
    gs_http_client_t *client;
    char base[64];
    uv_tcp_t silent; /* accepts connections and never answers */
    int silent_port;
} fixture_t;

typedef struct {
    int calls;
    long status;
    char error[256];
    json_t *json;
    size_t body_len;
} outcome_t;

static void on_done(gs_http_response_t *resp, const char *error, void *ud)
{
    outcome_t *o = ud;
    o->calls++;
    o->status = resp->status;
    snprintf(o->error, sizeof o->error, "%s", error ? error : "");
    o->body_len = resp->body.len;
    if (resp->body.len)
        o->json = json_loadb(resp->body.data, resp->body.len, JSON_ALLOW_NUL, NULL);
}

static void on_silent_connection(uv_stream_t *server, int status)
{
    uv_tcp_t *c = calloc(1, sizeof *c); /* data NULL: freed when closed */
    assert_int_equal(status, 0);
    uv_tcp_init(server->loop, c);
    assert_int_equal(uv_accept(server, (uv_stream_t *)c), 0); /* held, never read */
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h->data == NULL ? (uv_close_cb)free : NULL);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_loop_init(&f->loop);
    assert_int_equal(gs_httpd_start(&f->loop, "127.0.0.1", 0, routes, NULL, &f->server, NULL),
                     GS_OK);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", gs_httpd_port(f->server));
    assert_int_equal(gs_http_client_new(&f->loop, &f->client, NULL), GS_OK);
    uv_tcp_init(&f->loop, &f->silent);
    f->silent.data = f; /* not freed by close_walk */
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&f->silent, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&f->silent, 8, on_silent_connection), 0);
    uv_tcp_getsockname(&f->silent, (struct sockaddr *)&bound, &len);
    f->silent_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    *state = f;
    return 0;
}

static void on_server_closed(void *arg)
{
    uv_loop_t *loop = arg;
    uv_walk(loop, close_walk, NULL); /* the silent listener and its connections */
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    gs_http_client_close(f->client, NULL, NULL);
    gs_httpd_close(f->server, on_server_closed, &f->loop);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* Runs the loop until every outcome has its one call. */
static void wait_all(fixture_t *f, outcome_t *o, size_t n)
{
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += o[i].calls > 0;
        if (done == n)
            break;
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(o[i].calls, 1);
}

static void start(fixture_t *f, const gs_http_request_t *rq, outcome_t *o)
{
    assert_int_equal(gs_http_send(f->client, rq, on_done, o, NULL), GS_OK);
    assert_int_equal(o->calls, 0); /* never called back before gs_http_send returns */
}

static void test_post_carries_body_headers_and_method(void **state)
{
    fixture_t *f = *state;
    char url[128];
    const char *headers[] = {"X-Test: hello", "Content-Type: application/json", NULL};
    static const char body[] = "{\"a\":1}\0tail"; /* bytes after a NUL are sent too */
    outcome_t o[2] = {{0}};
    gs_http_request_t rq = {.method = "POST",
                            .url = url,
                            .headers = headers,
                            .body = body,
                            .body_len = sizeof body - 1};
    snprintf(url, sizeof url, "%s/echo", f->base);
    start(f, &rq, &o[0]);
    rq.method = "PUT";
    rq.headers = NULL;
    start(f, &rq, &o[1]);
    wait_all(f, o, 2);
    assert_int_equal(o[0].status, 200);
    assert_non_null(o[0].json);
    assert_string_equal(o[0].error, "");
    assert_string_equal(gs_json_str(o[0].json, "method"), "POST");
    assert_string_equal(gs_json_str(o[0].json, "x_test"), "hello");
    assert_int_equal(json_string_length(json_object_get(o[0].json, "body")), sizeof body - 1);
    assert_string_equal(gs_json_str(o[1].json, "method"), "PUT");
    assert_string_equal(gs_json_str(o[1].json, "x_test"), "");
    json_decref(o[0].json);
    json_decref(o[1].json);
}

static void test_error_statuses_are_answers_not_failures(void **state)
{
    fixture_t *f = *state;
    char url[128];
    outcome_t o = {0};
    gs_http_request_t rq = {.url = url};
    snprintf(url, sizeof url, "%s/teapot", f->base);
    start(f, &rq, &o);
    wait_all(f, &o, 1);
    assert_int_equal(o.status, 418);
    assert_string_equal(o.error, "");
    assert_string_equal(gs_json_str(o.json, "error"), "short and stout");
    json_decref(o.json);
}

static void test_answer_over_the_cap_fails_and_under_it_arrives(void **state)
{
    fixture_t *f = *state;
    char url[128];
    outcome_t o[2] = {{0}};
    gs_http_request_t small = {.url = url, .max_body = BIG_LEN - 1};
    gs_http_request_t enough = {.url = url, .max_body = BIG_LEN};
    snprintf(url, sizeof url, "%s/big", f->base);
    start(f, &small, &o[0]);
    start(f, &enough, &o[1]);
    wait_all(f, o, 2);
    assert_int_equal(o[0].status, 0);
    assert_non_null(strstr(o[0].error, "answer larger than 102399 bytes"));
    assert_int_equal(o[1].status, 200);
    assert_int_equal(o[1].body_len, BIG_LEN);
}

static void test_refused_and_silent_servers_fail_with_a_reason(void **state)
{
    fixture_t *f = *state;
    char refused[128], silent[128];
    outcome_t o[2] = {{0}};
    gs_http_request_t rq1 = {.url = refused, .timeout_ms = 5000};
    gs_http_request_t rq2 = {.url = silent, .timeout_ms = 300};
    uint64_t t0 = uv_hrtime();
    snprintf(refused, sizeof refused, "http://127.0.0.1:1/nothing"); /* port 1: nobody */
    snprintf(silent, sizeof silent, "http://127.0.0.1:%d/", f->silent_port);
    start(f, &rq1, &o[0]);
    start(f, &rq2, &o[1]);
    wait_all(f, o, 2);
    assert_int_equal(o[0].status, 0);
    assert_true(o[0].error[0] != '\0');
    assert_int_equal(o[1].status, 0);
    assert_non_null(strstr(o[1].error, "imed out"));
    assert_true(uv_hrtime() - t0 >= 300 * 1000000ULL);
}

static void test_close_cancels_requests_in_flight(void **state)
{
    fixture_t *f = *state;
    char silent[128];
    outcome_t o[3] = {{0}};
    gs_http_request_t rq = {.url = silent, .timeout_ms = 60000};
    snprintf(silent, sizeof silent, "http://127.0.0.1:%d/", f->silent_port);
    for (int i = 0; i < 3; i++)
        start(f, &rq, &o[i]);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* connections made, nothing will answer */
    gs_http_client_close(f->client, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_string_equal(o[i].error, "canceled");
    }
    assert_int_equal(gs_http_client_new(&f->loop, &f->client, NULL), GS_OK); /* for teardown */
}

static void test_many_requests_in_flight_all_complete(void **state)
{
    fixture_t *f = *state;
    enum { N = 64 };
    char url[128], bodies[N][16];
    outcome_t o[N] = {{0}};
    snprintf(url, sizeof url, "%s/echo", f->base);
    for (int i = 0; i < N; i++) {
        gs_http_request_t rq = {.method = "POST", .url = url, .body = bodies[i]};
        rq.body_len = (size_t)snprintf(bodies[i], sizeof bodies[i], "n%d", i);
        start(f, &rq, &o[i]);
    }
    memset(bodies, 0, sizeof bodies); /* bodies are copied when sent */
    wait_all(f, o, N);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "n%d", i);
        assert_int_equal(o[i].status, 200);
        assert_string_equal(gs_json_str(o[i].json, "body"), want);
        json_decref(o[i].json);
    }
}

static void test_private_loop_helper_reports_failures_as_errors(void **state)
{
    gs_http_response_t resp;
    gs_diag_t diag = {{0}};
    gs_http_request_t rq = {.url = "http://127.0.0.1:1/x", .timeout_ms = 5000};
    (void)state;
    assert_int_equal(gs_http_run(&rq, &resp, &diag), GS_EHTTP);
    assert_non_null(strstr(diag.msg, "http://127.0.0.1:1/x: "));
    gs_http_response_free(&resp);
    rq.url = "ftp://127.0.0.1/x"; /* only http and https */
    assert_int_equal(gs_http_run(&rq, &resp, &diag), GS_EHTTP);
    gs_http_response_free(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_carries_body_headers_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_statuses_are_answers_not_failures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_answer_over_the_cap_fails_and_under_it_arrives, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_silent_servers_fail_with_a_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_requests_in_flight_all_complete, setup, teardown),
        cmocka_unit_test(test_private_loop_helper_reports_failures_as_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
