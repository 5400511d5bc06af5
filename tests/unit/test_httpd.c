/* test_httpd.c — the HTTP server glue's hook before the routes and its deferred
 * requests, over real sockets: the server runs on 127.0.0.1 (port 0) on a loop that the
 * test's thread drives, each request is made by libcurl from a client thread
 * (sim_http.h). Covers a hook answering or letting through, a request answered later
 * from a timer, a client that gives up during the delay (HTTP/2, where h2o disposes
 * the request at once: the timer must be cancelled, never fire on freed memory), and a
 * server closed with a delayed request pending (answered at once, then a clean close),
 * and bodies over a route's or the server's limit answered 413 as JSON.
 * Every test ends with uv_loop_close() == 0. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <unistd.h>
#include <uv.h>

#include "certs.h"
#include "sim_http.h"

#define DELAY_MS 400

typedef struct {
    uv_loop_t loop;
    uv_async_t wake;
    gs_httpd_t *srv;
    sim_http_t http;
    uint64_t delay_ms; /* what the hook defers by; 0: it answers or passes at once */
    int due, gone;     /* deferred callbacks run with a request / without */
    bool closed;
} fixture_t;

static void hello(gs_http_req_t *r, void *ud)
{
    (void)ud;
    gs_http_reply_json(r, 200, json_pack("{s:s}", "hello", "world"));
}

/* A streamed answer: PIECES pieces of PIECE bytes, each byte its piece's number; the
 * /broken one stops after two pieces as a failure midway would. */
#define PIECES 5
#define PIECE  (1 << 20)

typedef struct {
    int sent;
    bool broken;
} streamer_t;

static void stream_next(gs_http_stream_t *st, void *arg)
{
    streamer_t *s = arg;
    static char piece[PIECE];
    if (s->broken && s->sent == 2) {
        gs_http_stream_abort(st);
        free(s);
        return;
    }
    memset(piece, 'a' + s->sent, sizeof piece);
    s->sent++;
    assert_int_equal(gs_http_stream_send(st, piece, sizeof piece, s->sent == PIECES), GS_OK);
    assert_int_equal(gs_http_stream_send(st, piece, 1, false), GS_EINVAL); /* one at a time */
    if (s->sent == PIECES)
        free(s);
}

static void stream_gone(gs_http_stream_t *st, void *arg)
{
    (void)st;
    free(arg);
}

static void streamed(gs_http_req_t *r, void *ud)
{
    streamer_t *s = calloc(1, sizeof *s);
    bool broken = strstr(gs_http_req_path(r), "broken") != NULL;
    (void)ud;
    s->broken = broken;
    stream_next(gs_http_stream_start(r, 200, "application/octet-stream",
                                     broken ? -1 : (int64_t)PIECES * PIECE, stream_next,
                                     stream_gone, s),
                s);
}

static const gs_http_route_t routes[] = {
    {"GET", "/hello", hello, 0},
    {"GET", "/blocked/hello", hello, 0},
    {"GET", "/stream", streamed, 0},
    {"GET", "/stream/broken", streamed, 0},
    {"POST", "/small", hello, 16},
    {"POST", "/large", hello, 1024}, /* the server's limit: the largest route's */
    {NULL},
};

static void on_due(gs_http_req_t *r, void *arg)
{
    fixture_t *f = arg;
    if (r == NULL) {
        f->gone++;
        return;
    }
    f->due++;
    gs_http_dispatch(r);
}

/* /blocked/... gets 503 from the hook; the rest goes on, after delay_ms when set. */
static bool hook(gs_http_req_t *r, void *arg)
{
    fixture_t *f = arg;
    if (strncmp(gs_http_req_path(r), "/blocked/", 9) == 0) {
        gs_http_reply_error(r, 503, "blocked by the hook");
        return true;
    }
    if (f->delay_ms == 0)
        return false;
    assert_int_equal(gs_http_defer(r, f->delay_ms, on_due, f), GS_OK);
    return true;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    gs_diag_t diag = {{0}};
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_async_init(&f->loop, &f->wake, sim_http_on_wake), 0);
    if (gs_httpd_start(&f->loop, "127.0.0.1", 0, routes, NULL, &f->srv, &diag) != GS_OK)
        fail_msg("server start: %s", diag.msg);
    gs_httpd_set_hook(f->srv, hook, f);
    f->http = (sim_http_t){&f->loop, &f->wake, gs_httpd_port(f->srv)};
    *state = f;
    return 0;
}

static void on_closed(void *arg)
{
    ((fixture_t *)arg)->closed = true;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (!f->closed)
        gs_httpd_close(f->srv, on_closed, f);
    uv_close((uv_handle_t *)&f->wake, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* ---- a client that can speak HTTP/2 and give up early ---- */

typedef struct {
    int port;
    const char *path;
    bool http2;
    size_t bytes; /* received */
    uint64_t sum; /* of every byte received */
    long timeout_ms;
    const char *tls_ca; /* https, trusting this certificate; HTTP/2 by ALPN when http2 */
    CURLcode rc;
    long status, version;
    uint64_t elapsed_ms;
} fetch_t;

static size_t ignore_body(char *p, size_t size, size_t n, void *ud)
{
    fetch_t *q = ud;
    for (size_t i = 0; i < size * n; i++)
        q->sum += (unsigned char)p[i];
    q->bytes += size * n;
    return size * n;
}

static void fetch_main(void *arg)
{
    fetch_t *q = arg;
    char url[128];
    CURL *c = curl_easy_init();
    uint64_t t0 = uv_hrtime();
    snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", q->tls_ca ? "https" : "http", q->port,
             q->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ignore_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
    if (q->tls_ca)
        curl_easy_setopt(c, CURLOPT_CAINFO, q->tls_ca);
    if (q->http2)
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                         q->tls_ca ? (long)CURL_HTTP_VERSION_2TLS
                                   : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    else if (q->tls_ca)
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    q->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &q->version);
    curl_easy_cleanup(c);
    q->elapsed_ms = (uv_hrtime() - t0) / 1000000u;
}

static fetch_t fetch(fixture_t *f, const char *path, bool http2, long timeout_ms)
{
    fetch_t q = {.port = f->http.port, .path = path, .http2 = http2, .timeout_ms = timeout_ms};
    sim_run_client(&f->http, fetch_main, &q);
    return q;
}

/* ---- tests ---- */

static void test_httpd_hook_answers_or_lets_the_route_answer(void **state)
{
    fixture_t *f = *state;
    json_t *j = NULL;
    assert_int_equal(sim_http_request(&f->http, "GET", "/hello", NULL, NULL, &j, NULL), 200);
    assert_string_equal(gs_json_str(j, "hello"), "world");
    json_decref(j);
    assert_int_equal(sim_http_request(&f->http, "GET", "/blocked/hello", NULL, NULL, &j, NULL),
                     503);
    assert_string_equal(gs_json_str(j, "error"), "blocked by the hook");
    json_decref(j);
    /* Let through, the route table still answers 404 and 405. */
    assert_int_equal(sim_http_request(&f->http, "GET", "/nope", NULL, NULL, NULL, NULL), 404);
    assert_int_equal(sim_http_request(&f->http, "POST", "/hello", NULL, "", NULL, NULL), 405);
}

static void test_httpd_deferred_request_is_answered_after_its_delay(void **state)
{
    fixture_t *f = *state;
    fetch_t q;
    f->delay_ms = DELAY_MS;
    q = fetch(f, "/hello", false, 10000);
    assert_int_equal(q.rc, CURLE_OK);
    assert_int_equal(q.status, 200);
    assert_true(q.elapsed_ms >= DELAY_MS);
    q = fetch(f, "/hello", true, 10000);
    assert_int_equal(q.rc, CURLE_OK);
    assert_int_equal(q.status, 200);
    assert_true(q.elapsed_ms >= DELAY_MS);
    assert_int_equal(f->due, 2);
    assert_int_equal(f->gone, 0);
}

static void test_httpd_client_gone_during_delay_cancels_the_timer(void **state)
{
    fixture_t *f = *state;
    fetch_t q;
    f->delay_ms = 60000;
    q = fetch(f, "/hello", true, 200);
    assert_int_equal(q.rc, CURLE_OPERATION_TIMEDOUT);
    for (int i = 0; i < 100 && f->gone == 0; i++)
        sim_http_run_for(&f->loop, 10);
    assert_int_equal(f->gone, 1); /* cancelled with the request, long before its delay */
    assert_int_equal(f->due, 0);
    f->delay_ms = 0; /* and the server still answers */
    q = fetch(f, "/hello", true, 10000);
    assert_int_equal(q.status, 200);
}

static void close_server(uv_timer_t *t)
{
    fixture_t *f = t->data;
    gs_httpd_close(f->srv, on_closed, f);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_httpd_close_answers_pending_deferred_requests_at_once(void **state)
{
    fixture_t *f = *state;
    uv_timer_t t;
    fetch_t q;
    f->delay_ms = 60000;
    uv_timer_init(&f->loop, &t);
    t.data = f;
    uv_timer_start(&t, close_server, DELAY_MS, 0);
    q = fetch(f, "/hello", false, 10000);
    assert_int_equal(q.rc, CURLE_OK);
    assert_int_equal(q.status, 200);
    assert_true(q.elapsed_ms < 5000);
    assert_int_equal(f->due, 1);
    for (int i = 0; i < 500 && !f->closed; i++)
        sim_http_run_for(&f->loop, 10);
    assert_true(f->closed);
}

/* A streamed answer arrives whole, piece by piece, over HTTP/1.1 and HTTP/2; one broken
 * midway is seen as a failure by the client, not as a short success. */
static void test_httpd_streams_an_answer_in_pieces(void **state)
{
    fixture_t *f = *state;
    uint64_t want = 0;
    fetch_t q;
    for (int i = 0; i < PIECES; i++)
        want += (uint64_t)('a' + i) * PIECE; /* each piece whole and in its place */
    for (int h2 = 0; h2 < 2; h2++) {
        q = fetch(f, "/stream", h2 == 1, 10000);
        assert_int_equal(q.rc, CURLE_OK);
        assert_int_equal(q.status, 200);
        assert_int_equal(q.bytes, (size_t)PIECES * PIECE);
        assert_int_equal(q.sum, want);
    }
    q = fetch(f, "/stream/broken", false, 10000);
    assert_int_not_equal(q.rc, CURLE_OK);
    assert_true(q.bytes < (size_t)PIECES * PIECE);
}

/* ---- TLS ---- */

/* With a certificate the server speaks HTTPS: HTTP/2 by ALPN, or HTTP/1.1; plain HTTP no
 * longer works; a key that is not the certificate's is refused with the reason. */
/* ---- bodies over the limits ---- */

typedef struct {
    int port;
    const char *path;
    size_t len;
    bool http2;
    long status;
    char type[64];
    gs_buf_t body;
} post_t;

static size_t keep_body(char *p, size_t size, size_t n, void *ud)
{
    return gs_buf_append(ud, p, size * n) == GS_OK ? size * n : 0;
}

static void post_main(void *arg)
{
    post_t *q = arg;
    char url[128], *body = calloc(1, q->len), *type = NULL;
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", q->port, q->path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)q->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &q->body);
    if (q->http2)
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    snprintf(q->type, sizeof q->type, "%s", type ? type : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body);
}

/* A body over its route's cap, and one over the whole server's (which h2o refuses before
 * any route runs), both get 413 with the {"error"} JSON over HTTP/1.1; over HTTP/2 the
 * route's cap gets the same, the server's a reset stream (h2o's way). */
static void test_httpd_bodies_over_the_limit_get_a_json_413(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *path;
        size_t len;
        long status;
    } cases[] = {
        {"/small", 10, 200},   {"/small", 100, 413},  {"/large", 1000, 200},
        {"/small", 5000, 413}, {"/large", 5000, 413},
    };
    for (int h2 = 0; h2 < 2; h2++)
        for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
            post_t q = {
                .port = f->http.port, .path = cases[i].path, .len = cases[i].len, .http2 = h2 == 1};
            json_t *j;
            /* HTTP/2: h2o resets the stream of a body over the server's limit (no answer) */
            long want = h2 && cases[i].len > 1024 ? 0 : cases[i].status;
            gs_buf_init(&q.body, 1 << 16);
            sim_run_client(&f->http, post_main, &q);
            if (q.status != want)
                fail_msg("POST %s of %zu bytes (HTTP/%s): %ld, not %ld", cases[i].path,
                         cases[i].len, h2 ? "2" : "1.1", q.status, want);
            if (want == 0) {
                gs_buf_free(&q.body);
                continue;
            }
            assert_string_equal(q.type, "application/json");
            j = json_loadb(q.body.data ? q.body.data : "", q.body.len, 0, NULL);
            assert_non_null(j);
            if (cases[i].status == 413)
                assert_non_null(strstr(gs_json_str(j, "error"), "limit"));
            json_decref(j);
            gs_buf_free(&q.body);
        }
}

static void test_httpd_serves_https_with_http2_by_alpn(void **state)
{
    fixture_t *f = *state;
    char dir[] = "/tmp/gs-test-httpd-tls-XXXXXX", cert[256], key[256], cert2[256], key2[256];
    gs_diag_t diag = {{0}};
    fetch_t q;
    assert_non_null(mkdtemp(dir));
    ts_make_certificate(dir, "a", cert, key);
    ts_make_certificate(dir, "b", cert2, key2);
    assert_int_equal(gs_httpd_set_tls(f->srv, cert, key2, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "belong together"));
    assert_int_equal(gs_httpd_set_tls(f->srv, "/nonexistent.crt", key, &diag), GS_EINVAL);
    assert_int_equal(gs_httpd_set_tls(f->srv, cert, key, &diag), GS_OK);
    q = (fetch_t){
        .port = f->http.port, .path = "/hello", .http2 = true, .timeout_ms = 5000, .tls_ca = cert};
    sim_run_client(&f->http, fetch_main, &q);
    assert_int_equal(q.rc, CURLE_OK);
    assert_int_equal(q.status, 200);
    assert_int_equal(q.version, CURL_HTTP_VERSION_2_0);
    q = (fetch_t){.port = f->http.port, .path = "/hello", .timeout_ms = 5000, .tls_ca = cert};
    sim_run_client(&f->http, fetch_main, &q);
    assert_int_equal(q.status, 200);
    assert_int_equal(q.version, CURL_HTTP_VERSION_1_1);
    q = fetch(f, "/hello", false, 2000);
    assert_int_not_equal(q.status, 200);
    unlink(cert);
    unlink(key);
    unlink(cert2);
    unlink(key2);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_httpd_hook_answers_or_lets_the_route_answer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpd_deferred_request_is_answered_after_its_delay,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_client_gone_during_delay_cancels_the_timer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_close_answers_pending_deferred_requests_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_serves_https_with_http2_by_alpn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpd_streams_an_answer_in_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_bodies_over_the_limit_get_a_json_413, setup,
                                        teardown),
    };
    signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error, not a signal */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
