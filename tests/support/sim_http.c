/* sim_http.c — in-process HTTP for the sim's tests: see sim_http.h. */
#include "sim_http.h"
#include "chain.h"
#include "explorer.h"
#include "registry.h"
#include "workloads.h"
#include "agents.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

typedef struct {
    char url[1024];
    const char *method, *body;
    size_t len;
    const char *const *headers;
    CURLcode rc;
    long status;
    gs_buf_t got, got_headers;
} request_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    return gs_buf_append(arg, p, size * n) == GS_OK ? size * n : 0;
}

static void request_main(void *arg)
{
    request_t *q = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:"); /* no 100-continue */
    for (size_t i = 0; q->headers && q->headers[i]; i++)
        headers = curl_slist_append(headers, q->headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &q->got);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &q->got_headers);
    if (q->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)q->len);
    }
    q->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
}

typedef struct {
    void (*fn)(void *arg);
    void *arg;
    uv_async_t *wake;
    atomic_bool finished;
} client_t;

static void *client_main(void *arg)
{
    client_t *c = arg;
    c->fn(c->arg);
    atomic_store(&c->finished, true);
    uv_async_send(c->wake);
    return NULL;
}

void sim_run_client(const sim_http_t *h, void (*fn)(void *arg), void *arg)
{
    client_t c = {.fn = fn, .arg = arg, .wake = h->wake};
    pthread_t thread;
    atomic_init(&c.finished, false);
    assert_int_equal(pthread_create(&thread, NULL, client_main, &c), 0);
    while (!atomic_load(&c.finished))
        uv_run(h->loop, UV_RUN_ONCE);
    assert_int_equal(pthread_join(thread, NULL), 0);
}

/* The Pages header out of the raw response headers. */
static void find_pages(const gs_buf_t *h, char pages[32])
{
    gs_http_response_t resp = {.headers = *h};
    if (!gs_http_header(&resp, "Pages", pages, 32))
        pages[0] = '\0';
}

long sim_http_request(const sim_http_t *h, const char *method, const char *path,
                      const char *const *headers, const char *body, json_t **out, char pages[32])
{
    return sim_http_request_len(h, method, path, headers, body, body ? strlen(body) : 0, out,
                                pages);
}

long sim_http_request_len(const sim_http_t *h, const char *method, const char *path,
                          const char *const *headers, const char *body, size_t len, json_t **out,
                          char pages[32])
{
    request_t q = {.method = method, .body = body, .len = len, .headers = headers};
    long status;
    snprintf(q.url, sizeof q.url, "http://127.0.0.1:%d%s", h->port, path);
    gs_buf_init(&q.got, 1u << 24);
    gs_buf_init(&q.got_headers, 1u << 16);
    sim_run_client(h, request_main, &q);
    assert_int_equal(q.rc, CURLE_OK);
    status = q.status;
    if (pages)
        find_pages(&q.got_headers, pages);
    if (out) {
        *out = json_loadb(q.got.data ? q.got.data : "", q.got.len, 0, NULL);
        if (*out == NULL)
            fail_msg("%s %s: %ld, not JSON: %s", method, path, status,
                     q.got.data ? q.got.data : "");
    }
    gs_buf_free(&q.got);
    gs_buf_free(&q.got_headers);
    return status;
}

void sim_http_on_wake(uv_async_t *a)
{
    (void)a;
}

double sim_num(const json_t *j, const char *key)
{
    double v;
    assert_true(gs_json_num(j, key, &v));
    return v;
}

int64_t sim_int(const json_t *j, const char *key)
{
    int64_t v;
    assert_true(gs_json_int(j, key, &v));
    return v;
}

static void on_nap(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

void sim_http_run_for(uv_loop_t *loop, uint64_t ms)
{
    uv_timer_t t;
    bool done = false;
    uv_timer_init(loop, &t);
    t.data = &done;
    uv_timer_start(&t, on_nap, ms, 0);
    while (!done)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

void sim_grid_open(uv_loop_t *loop, uv_async_t *wake, sim_ctx_t *ctx, const sim_world_opts_t *opts,
                   bool workloads, gs_httpd_t **httpd, sim_http_t *http)
{
    gs_diag_t diag = {{0}};
    assert_int_equal(uv_async_init(loop, wake, sim_http_on_wake), 0);
    ctx->loop = loop;
    if (sim_world_generate(&ctx->world, opts, &diag) != GS_OK ||
        sim_chain_new(&ctx->chain, &diag) != GS_OK ||
        sim_registry_new(ctx, &ctx->registry, &diag) != GS_OK ||
        (workloads && sim_workloads_new(ctx, &ctx->workloads, &diag) != GS_OK) ||
        gs_httpd_start(loop, "127.0.0.1", 0, sim_explorer_routes, ctx, httpd, &diag) != GS_OK)
        fail_msg("grid start: %s", diag.msg);
    if (workloads)
        sim_registry_on_pool_dry(ctx->registry, sim_workloads_on_pool_dry, NULL);
    sim_registry_start(ctx);
    *http = (sim_http_t){loop, wake, gs_httpd_port(*httpd)};
}

/* What the grid's close callbacks need, freed by the last of them. */
typedef struct {
    sim_ctx_t *ctx;
    uv_async_t *wake;
} closing_t;

static void on_registry_closed(void *arg)
{
    closing_t *c = arg;
    uv_close((uv_handle_t *)c->wake, NULL);
    free(c);
}

static void on_agents_closed(void *arg)
{
    closing_t *c = arg;
    sim_registry_close(c->ctx, on_registry_closed, c);
}

static void on_httpd_closed(void *arg)
{
    closing_t *c = arg;
    sim_agents_close(c->ctx, on_agents_closed, c);
}

void sim_grid_close(gs_httpd_t *httpd, sim_ctx_t *ctx, uv_async_t *wake)
{
    closing_t *c = malloc(sizeof *c);
    assert_non_null(c);
    c->ctx = ctx;
    c->wake = wake;
    gs_httpd_close(httpd, on_httpd_closed, c);
}

void sim_who_init(sim_who_t *w, const char *name, unsigned char seed_byte)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(seed, seed_byte, sizeof seed);
    memset(w, 0, sizeof *w);
    w->name = name;
    crypto_sign_seed_keypair(w->pk, w->sk, seed);
    gs_hex(w->pk, sizeof w->pk, w->pubkey);
}

void sim_sign_hex(const unsigned char *sk, const char *text, char out[129])
{
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), sk);
    gs_hex(sig, sizeof sig, out);
}

char *sim_user_body(const sim_who_t *w, const char *email, const sim_who_t *signer)
{
    char msg[512], sig[129];
    json_t *j;
    char *text;
    snprintf(msg, sizeof msg, "0%s%s%s%s%s", w->name, email, "", "a test user", w->pubkey);
    sim_sign_hex(signer->sk, msg, sig);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", w->name, "email", email, "pubkey", w->pubkey,
                  "description", "a test user", "signature", sig);
    text = gs_json_dumps(j);
    json_decref(j);
    return text;
}

void sim_register_user(const sim_http_t *h, sim_who_t *w)
{
    char *body = sim_user_body(w, "someone@example.org", w);
    json_t *j;
    int64_t id;
    assert_int_equal(sim_http_request(h, "POST", "/api/v1/users", NULL, body, &j, NULL), 201);
    assert_true(gs_json_int(j, "id", &id));
    w->tid = id;
    json_decref(j);
    free(body);
}

/* ---- pools and workloads ---- */

int64_t sim_paid_pool(const sim_http_t *h, sim_ctx_t *ctx, const sim_who_t *w, int64_t cus,
                      int64_t sus)
{
    json_t *data =
        json_pack("{s:i, s:I, s:I, s:i, s:[s, s], s:[s]}", "pool_id", 0, "cus", (json_int_t)cus,
                  "sus", (json_int_t)sus, "ipv4us", 0, "node_ids", ctx->world.nodes[0].node_id,
                  ctx->world.nodes[1].node_id, "currencies", "TFT");
    char *text = gs_json_dumps(data), sig[129], *body, memo[SIM_MEMO_MAX + 1], payer[65];
    unsigned char seed[crypto_sign_SEEDBYTES], pk[32], sk[64];
    json_t *j, *info;
    int64_t id, amount;
    sim_sign_hex(w->sk, text, sig);
    j = json_pack("{s:s, s:o, s:I, s:s}", "json", text, "data_reservation", data, "customer_tid",
                  (json_int_t)w->tid, "customer_signature", sig);
    body = gs_json_dumps(j);
    json_decref(j);
    free(text);
    assert_int_equal(
        sim_http_request(h, "POST", "/api/v1/reservations/pools", NULL, body, &j, NULL), 201);
    free(body);
    info = json_object_get(j, "escrow_information");
    id = sim_int(j, "reservation_id");
    amount = sim_int(info, "amount");
    memset(seed, 0xc0 + (int)id, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    gs_hex(pk, sizeof pk, payer);
    snprintf(memo, sizeof memo, "p-%lld", (long long)id);
    assert_int_equal(sim_chain_credit(ctx->chain, payer, (uint64_t)amount, NULL), GS_OK);
    assert_int_equal(sim_chain_transfer(ctx->chain, payer, gs_json_str(info, "address"),
                                        (uint64_t)amount, memo, NULL, NULL),
                     GS_OK);
    json_decref(j);
    for (int i = 0; i < 200; i++) {
        char path[96];
        bool released;
        snprintf(path, sizeof path, "/api/v1/reservations/pools/payment/%lld", (long long)id);
        assert_int_equal(sim_http_request(h, "GET", path, NULL, NULL, &j, NULL), 200);
        released = json_is_true(json_object_get(j, "released"));
        json_decref(j);
        if (released)
            return id;
        sim_http_run_for(h->loop, 20);
    }
    fail_msg("pool %lld was never paid", (long long)id);
    return 0;
}

/* ReservationInfo's part of the challenge. */
static const char *str_or_empty(const json_t *w, const char *key)
{
    const char *s = gs_json_str(w, key);
    return s ? s : "";
}

void sim_info_challenge(const json_t *w, const char *type, gs_buf_t *ch)
{
    assert_int_equal(gs_buf_printf(ch, "%lld%s%lld%s%lld%s%lld%s%s",
                                   (long long)sim_int(w, "workload_id"), gs_json_str(w, "node_id"),
                                   (long long)sim_int(w, "pool_id"), str_or_empty(w, "reference"),
                                   (long long)sim_int(w, "customer_tid"), type,
                                   (long long)sim_int(w, "epoch"), str_or_empty(w, "description"),
                                   gs_json_str(w, "metadata")),
                     GS_OK);
}

void sim_zdb_challenge(const json_t *w, gs_buf_t *ch)
{
    sim_info_challenge(w, "ZDB", ch);
    assert_int_equal(gs_buf_printf(ch, "%lld%s%s%s%s", (long long)sim_int(w, "size"),
                                   sim_int(w, "mode") ? "user" : "seq", gs_json_str(w, "password"),
                                   sim_int(w, "disk_type") ? "ssd" : "hdd",
                                   json_is_true(json_object_get(w, "public")) ? "true" : "false"),
                     GS_OK);
}

void sim_sign_hashed(const unsigned char *sk, const char *text, size_t len, const char *suffix,
                     char out[129])
{
    unsigned char hash[32], sig[64];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)text, len);
    crypto_hash_sha256_update(&st, (const unsigned char *)suffix, strlen(suffix));
    crypto_hash_sha256_final(&st, hash);
    crypto_sign_detached(sig, NULL, hash, sizeof hash, sk);
    gs_hex(sig, sizeof sig, out);
}

long sim_post_workload(const sim_http_t *h, const json_t *w, const sim_who_t *signer,
                       int64_t key_tid, json_t **out)
{
    char date[64], created[32], tid[32], signing[256], sig64[128], h_date[96], h_tid[64];
    char h_auth[512];
    const char *headers[4] = {NULL};
    unsigned char sig[64];
    time_t now = time(NULL);
    struct tm tm;
    char *body = gs_json_dumps(w);
    json_t *ignored = NULL;
    long status;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(created, sizeof created, "%lld", (long long)now);
    snprintf(tid, sizeof tid, "%lld", (long long)key_tid);
    if (signer) {
        snprintf(signing, sizeof signing, "(created): %s\ndate: %s\nthreebot-id: %s", created, date,
                 tid);
        crypto_sign_detached(sig, NULL, (const unsigned char *)signing, strlen(signing),
                             signer->sk);
        sodium_bin2base64(sig64, sizeof sig64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
        snprintf(h_date, sizeof h_date, "Date: %s", date);
        snprintf(h_tid, sizeof h_tid, "threebot-id: %s", tid);
        snprintf(h_auth, sizeof h_auth,
                 "Authorization: Signature keyId=\"%s\",algorithm=\"ed25519\",signature=\"%s\","
                 "created=\"%s\",expires=\"%lld\",headers=\"(created) date threebot-id\"",
                 tid, sig64, created, (long long)now + 600);
        headers[0] = h_date;
        headers[1] = h_tid;
        headers[2] = h_auth;
    }
    status = sim_http_request(h, "POST", "/api/v1/reservations/workloads", headers, body,
                              out ? out : &ignored, NULL);
    json_decref(ignored);
    free(body);
    return status;
}

long sim_sign_workload_request(const sim_http_t *h, int64_t id, const char *what,
                               const gs_buf_t *challenge, const sim_who_t *signer, int64_t tid,
                               json_t **out)
{
    char sig[129], suffix[64], path[128], *body;
    json_t *b;
    long status;
    snprintf(suffix, sizeof suffix, "%s%lld", what, (long long)tid);
    sim_sign_hashed(signer->sk, challenge->data ? challenge->data : "", challenge->len, suffix,
                    sig);
    b = json_pack("{s:I, s:s, s:I}", "tid", (json_int_t)tid, "signature", sig, "epoch",
                  (json_int_t)time(NULL));
    body = gs_json_dumps(b);
    json_decref(b);
    snprintf(path, sizeof path, "/api/v1/reservations/workloads/%lld/sign/%s", (long long)id, what);
    status = sim_http_request(h, "POST", path, NULL, body, out, NULL);
    free(body);
    return status;
}
