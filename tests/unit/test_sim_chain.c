/* test_sim_chain.c — the local grid's payment chain and login directory through their
 * real HTTP APIs: both servers run in this process on 127.0.0.1 (port 0) on a libuv
 * loop that the test's own thread drives, while each request is made by libcurl from a
 * short-lived client thread; payments are signed with libsodium. The server side stays
 * on the main thread because h2o keeps per-thread caches it never frees, which a
 * server thread ending with each test would leak. The C API the explorer's escrow uses
 * (received-by-memo sums, unsigned transfers) is checked on the same chain between
 * requests, when the loop is idle. Every test ends with uv_loop_close() == 0. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>
#include <uv.h>

#include "chain.h"
#include "ctx.h"
#include "login.h"
#include "sim_http.h"

#define TEST_TIME 1700000000
#define TFT       10000000LL /* stropes */

/* ---- the servers, on the test's loop ---- */

typedef struct {
    sim_ctx_t ctx;
    uv_loop_t loop;
    uv_async_t wake; /* a client thread finished */
    gs_httpd_t *chain_srv, *login_srv;
    int chain_port, login_port;
    bool running;
} fixture_t;

static int64_t test_clock(void *arg)
{
    (void)arg;
    return TEST_TIME;
}

static gs_httpd_t *serve(fixture_t *f, const gs_http_route_t *routes, int *port)
{
    gs_diag_t diag = {{0}};
    gs_httpd_t *s = NULL;
    if (gs_httpd_start(&f->loop, "127.0.0.1", 0, routes, &f->ctx, &s, &diag) != GS_OK)
        fail_msg("server start: %s", diag.msg);
    *port = gs_httpd_port(s);
    assert_true(*port > 0);
    return s;
}

/* Starts both servers; a test prepares the chain through the C API before this. */
static void start(fixture_t *f)
{
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_async_init(&f->loop, &f->wake, sim_http_on_wake), 0);
    f->chain_srv = serve(f, sim_chain_routes, &f->chain_port);
    f->login_srv = serve(f, sim_login_routes, &f->login_port);
    f->running = true;
}

/* Closes the servers and runs the loop until every handle is gone. */
static void stop(fixture_t *f)
{
    if (!f->running)
        return;
    f->running = false;
    gs_httpd_close(f->chain_srv, NULL, NULL);
    gs_httpd_close(f->login_srv, NULL, NULL);
    uv_close((uv_handle_t *)&f->wake, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    gs_diag_t diag = {{0}};
    if (f == NULL || sim_chain_new(&f->ctx.chain, &diag) != GS_OK ||
        sim_login_new(&f->ctx.login, &diag) != GS_OK)
        return -1;
    sim_chain_set_clock(f->ctx.chain, test_clock, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    stop(f);
    sim_chain_free(f->ctx.chain);
    sim_login_free(f->ctx.login);
    free(f);
    return 0;
}

/* ---- requests, from client threads (see sim_http.h) ---- */

/* method path on port with a body of len bytes, served by f's loop until the answer is
 * in; returns the status and, when out is not NULL, the JSON answer (json_decref it). */
static long call_len(fixture_t *f, int port, const char *method, const char *path, const char *body,
                     size_t len, json_t **out)
{
    sim_http_t h = {.loop = &f->loop, .wake = &f->wake, .port = port};
    return sim_http_request_len(&h, method, path, NULL, body, len, out, NULL);
}

static long call(fixture_t *f, int port, const char *method, const char *path, const char *body,
                 json_t **out)
{
    return call_len(f, port, method, path, body, body ? strlen(body) : 0, out);
}

/* Expects an error answer with `status` whose message contains `needle`. */
static void expect_error(fixture_t *f, int port, const char *method, const char *path,
                         const char *body, long status, const char *needle)
{
    json_t *j;
    long got = call(f, port, method, path, body, &j);
    const char *msg = gs_json_str(j, "error");
    if (got != status || msg == NULL || strstr(msg, needle) == NULL)
        fail_msg("%s %s %s: want %ld with '%s', got %ld %s", method, path, body ? body : "", status,
                 needle, got, msg ? msg : "(no error member)");
    json_decref(j);
}

/* ---- wallets and payments ---- */

typedef struct {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char addr[SIM_ADDRESS_LEN + 1];
} wallet_t;

static void wallet(wallet_t *w, unsigned char seed_byte)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(seed, seed_byte, sizeof seed);
    crypto_sign_seed_keypair(w->pk, w->sk, seed);
    gs_hex(w->pk, sizeof w->pk, w->addr);
}

static char *dump(json_t *j)
{
    char *text;
    assert_non_null(j);
    text = gs_json_dumps(j);
    json_decref(j);
    assert_non_null(text);
    return text;
}

static char *payment_text(const char *from, const char *to, json_int_t amount, const char *memo,
                          json_int_t sequence)
{
    return dump(json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "from", from, "to", to, "amount",
                          amount, "asset", "TFT", "memo", memo, "sequence", sequence));
}

/* The hex of signer's signature of text into hex (129 bytes). */
static void sign_hex(const wallet_t *signer, const char *text, char *hex)
{
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), signer->sk);
    gs_hex(sig, sizeof sig, hex);
}

/* {"json": json, "signature": sig}, a member left out when NULL; steals both. */
static char *tx_body(json_t *json, json_t *sig)
{
    json_t *body = json_object();
    if (json)
        json_object_set_new(body, "json", json);
    if (sig)
        json_object_set_new(body, "signature", sig);
    return dump(body);
}

/* {"json": text, "signature": signer's signature of text}. Caller frees. */
static char *signed_body(const wallet_t *signer, const char *text)
{
    char hex[2 * crypto_sign_BYTES + 1];
    sign_hex(signer, text, hex);
    return tx_body(json_string(text), json_string(hex));
}

/* Posts body (freed) as a transaction and expects the error. */
static void expect_tx_error(fixture_t *f, long status, char *body, const char *needle)
{
    expect_error(f, f->chain_port, "POST", "/api/v1/transactions", body, status, needle);
    free(body);
}

static long post_signed(fixture_t *f, const wallet_t *signer, const char *text, json_t **out)
{
    char *body = signed_body(signer, text);
    long status = call(f, f->chain_port, "POST", "/api/v1/transactions", body, out);
    free(body);
    return status;
}

/* A payment from w signed by w; returns the status. */
static long pay(fixture_t *f, const wallet_t *w, const char *to, json_int_t amount,
                const char *memo, json_int_t sequence, json_t **out)
{
    char *text = payment_text(w->addr, to, amount, memo, sequence);
    long status = post_signed(f, w, text, out);
    free(text);
    return status;
}

static void pay_ok(fixture_t *f, const wallet_t *w, const char *to, json_int_t amount,
                   const char *memo, json_int_t sequence)
{
    json_t *j;
    assert_int_equal(pay(f, w, to, amount, memo, sequence, &j), 201);
    json_decref(j);
}

static void fund(fixture_t *f, const char *addr, json_int_t amount)
{
    char path[128], body[64];
    json_t *j;
    snprintf(path, sizeof path, "/api/v1/accounts/%s/fund", addr);
    snprintf(body, sizeof body, "{\"amount\": %lld}", (long long)amount);
    assert_int_equal(call(f, f->chain_port, "POST", path, body, &j), 200);
    json_decref(j);
}

/* The account as the API answers it: balance and next sequence. */
static void account(fixture_t *f, const char *addr, json_int_t *balance, json_int_t *sequence)
{
    char path[128];
    json_t *j;
    int64_t b = -1, s = -1;
    snprintf(path, sizeof path, "/api/v1/accounts/%s", addr);
    assert_int_equal(call(f, f->chain_port, "GET", path, NULL, &j), 200);
    assert_string_equal(gs_json_str(j, "address"), addr);
    assert_true(gs_json_int(j, "balance", &b) && gs_json_int(j, "sequence", &s));
    json_decref(j);
    *balance = b;
    if (sequence)
        *sequence = s;
}

static void expect_account(fixture_t *f, const char *addr, json_int_t bal, json_int_t seq)
{
    json_int_t b, s;
    account(f, addr, &b, &s);
    assert_int_equal(b, bal);
    assert_int_equal(s, seq);
}

/* ---- chain: accounts and the faucet ---- */

static void test_chain_unknown_account_is_empty(void **state)
{
    fixture_t *f = *state;
    wallet_t w;
    wallet(&w, 1);
    start(f);
    expect_account(f, w.addr, 0, 1);
}

static void test_chain_faucet_funds_an_account(void **state)
{
    fixture_t *f = *state;
    char path[128];
    wallet_t w;
    json_t *j;
    int64_t v;
    wallet(&w, 1);
    start(f);
    snprintf(path, sizeof path, "/api/v1/accounts/%s/fund", w.addr);
    assert_int_equal(call(f, f->chain_port, "POST", path, "{\"amount\": 500000000000}", &j), 200);
    assert_string_equal(gs_json_str(j, "address"), w.addr);
    assert_true(gs_json_int(j, "balance", &v));
    assert_int_equal(v, 500000000000LL);
    json_decref(j);
    fund(f, w.addr, SIM_FAUCET_MAX); /* the cap itself is allowed */
    expect_account(f, w.addr, 500000000000LL + SIM_FAUCET_MAX, 1);
}

static void test_chain_faucet_refuses_bad_amounts(void **state)
{
    static const struct {
        const char *body, *needle;
    } cases[] = {
        {"{\"amount\": 0}", "amount"},
        {"{\"amount\": -1}", "amount"},
        {"{\"amount\": 1000000000001}", "amount"},
        {"{\"amount\": 1.5}", "amount"},
        {"{\"amount\": \"100\"}", "amount"},
        {"{\"amount\": 99999999999999999999999}", "not valid JSON"},
        {"{}", "amount"},
        {"{\"amount\": 1, \"to\": \"x\"}", "unknown member 'to'"},
        {"{\"amount\": 1, \"amount\": 2}", "not valid JSON"},
        {"[1]", "expected a JSON object"},
        {"not json", "not valid JSON"},
        {"", "not valid JSON"},
        {"{\"amount\": 1, \"\xff\": 1}", "not valid JSON"},
    };
    fixture_t *f = *state;
    char path[128];
    wallet_t w;
    wallet(&w, 1);
    start(f);
    snprintf(path, sizeof path, "/api/v1/accounts/%s/fund", w.addr);
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++)
        expect_error(f, f->chain_port, "POST", path, cases[i].body, 400, cases[i].needle);
    expect_account(f, w.addr, 0, 1);
}

static void test_chain_faucet_refuses_a_balance_past_int64(void **state)
{
    fixture_t *f = *state;
    char path[128];
    wallet_t w;
    wallet(&w, 1);
    assert_int_equal(sim_chain_credit(f->ctx.chain, w.addr, INT64_MAX - 10, NULL), GS_OK);
    start(f);
    snprintf(path, sizeof path, "/api/v1/accounts/%s/fund", w.addr);
    expect_error(f, f->chain_port, "POST", path, "{\"amount\": 11}", 400, "balance would pass");
    fund(f, w.addr, 10);
    expect_account(f, w.addr, INT64_MAX, 1);
}

static void test_chain_bad_addresses_are_400(void **state)
{
    static const char *const bad[] = {
        "ABCDEF0000000000000000000000000000000000000000000000000000000000",  /* uppercase */
        "abcdef000000000000000000000000000000000000000000000000000000000",   /* 63 */
        "abcdef00000000000000000000000000000000000000000000000000000000000", /* 65 */
        "xbcdef0000000000000000000000000000000000000000000000000000000000",  /* not hex */
        "alice",
    };
    fixture_t *f = *state;
    char path[256];
    start(f);
    for (size_t i = 0; i < GS_ARRAY_SIZE(bad); i++) {
        snprintf(path, sizeof path, "/api/v1/accounts/%s", bad[i]);
        expect_error(f, f->chain_port, "GET", path, NULL, 400, "address");
        snprintf(path, sizeof path, "/api/v1/accounts/%s/fund", bad[i]);
        expect_error(f, f->chain_port, "POST", path, "{\"amount\": 1}", 400, "address");
        snprintf(path, sizeof path, "/api/v1/accounts/%s/payments", bad[i]);
        expect_error(f, f->chain_port, "GET", path, NULL, 400, "address");
    }
}

/* ---- chain: payments ---- */

static void test_chain_signed_payment_moves_funds(void **state)
{
    fixture_t *f = *state;
    wallet_t alice, bob;
    unsigned char hash[32];
    char id[SIM_TXID_LEN + 1], path[128], *text;
    json_t *tx, *again;
    int64_t v;
    wallet(&alice, 1);
    wallet(&bob, 2);
    start(f);
    fund(f, alice.addr, 100 * TFT);
    text = payment_text(alice.addr, bob.addr, 30 * TFT, "p-42", 1);
    assert_int_equal(post_signed(f, &alice, text, &tx), 201);
    crypto_generichash(hash, sizeof hash, (const unsigned char *)text, strlen(text), NULL, 0);
    gs_hex(hash, sizeof hash, id);
    assert_string_equal(gs_json_str(tx, "id"), id);
    assert_string_equal(gs_json_str(tx, "from"), alice.addr);
    assert_string_equal(gs_json_str(tx, "to"), bob.addr);
    assert_true(gs_json_int(tx, "amount", &v) && v == 30 * TFT);
    assert_string_equal(gs_json_str(tx, "asset"), "TFT");
    assert_string_equal(gs_json_str(tx, "memo"), "p-42");
    assert_true(gs_json_int(tx, "sequence", &v) && v == 1);
    assert_true(gs_json_int(tx, "time", &v) && v == TEST_TIME);
    assert_string_equal(gs_json_str(tx, "json"), text);
    assert_int_equal(strlen(gs_json_str(tx, "signature")), 128);
    expect_account(f, alice.addr, 70 * TFT, 2);
    expect_account(f, bob.addr, 30 * TFT, 1);
    snprintf(path, sizeof path, "/api/v1/transactions/%s", id);
    assert_int_equal(call(f, f->chain_port, "GET", path, NULL, &again), 200);
    assert_true(json_equal(tx, again));
    json_decref(again);
    json_decref(tx);
    free(text);
    pay_ok(f, &alice, bob.addr, 70 * TFT, "", 2); /* the whole balance, no memo */
    expect_account(f, alice.addr, 0, 3);
    expect_account(f, bob.addr, 100 * TFT, 1);
}

static void test_chain_wrong_signature_is_401(void **state)
{
    fixture_t *f = *state;
    wallet_t alice, bob, mallory;
    char *text, *other, sig[2 * crypto_sign_BYTES + 1];
    json_t *j;
    wallet(&alice, 1);
    wallet(&bob, 2);
    wallet(&mallory, 3);
    start(f);
    fund(f, alice.addr, 10 * TFT);
    text = payment_text(alice.addr, mallory.addr, 10 * TFT, "", 1);
    other = payment_text(alice.addr, bob.addr, 1, "", 1);
    assert_int_equal(post_signed(f, &mallory, text, &j), 401); /* signed by the thief */
    assert_non_null(strstr(gs_json_str(j, "error"), "signature"));
    json_decref(j);
    /* Alice's signature of another payment does not carry over. */
    sign_hex(&alice, other, sig);
    expect_tx_error(f, 401, tx_body(json_string(text), json_string(sig)), "signature");
    sig[5] = sig[5] == '0' ? '1' : '0'; /* nor does a damaged one */
    expect_tx_error(f, 401, tx_body(json_string(other), json_string(sig)), "signature");
    expect_account(f, alice.addr, 10 * TFT, 1);
    expect_account(f, mallory.addr, 0, 1);
    free(other);
    free(text);
}

static void test_chain_replayed_transaction_is_409(void **state)
{
    fixture_t *f = *state;
    wallet_t alice, bob;
    char *text, *body;
    json_t *j;
    wallet(&alice, 1);
    wallet(&bob, 2);
    start(f);
    fund(f, alice.addr, 10 * TFT);
    text = payment_text(alice.addr, bob.addr, 3 * TFT, "p-7", 1);
    body = signed_body(&alice, text);
    assert_int_equal(call(f, f->chain_port, "POST", "/api/v1/transactions", body, &j), 201);
    json_decref(j);
    expect_error(f, f->chain_port, "POST", "/api/v1/transactions", body, 409, "sequence");
    assert_int_equal(pay(f, &alice, bob.addr, 1, "", 3, &j), 409); /* a gap */
    json_decref(j);
    expect_account(f, alice.addr, 7 * TFT, 2);
    expect_account(f, bob.addr, 3 * TFT, 1);
    free(body);
    free(text);
}

static void test_chain_insufficient_balance_is_402(void **state)
{
    fixture_t *f = *state;
    wallet_t alice, bob;
    json_t *j;
    wallet(&alice, 1);
    wallet(&bob, 2);
    start(f);
    assert_int_equal(pay(f, &bob, alice.addr, 1, "", 1, &j), 402); /* never funded */
    assert_non_null(strstr(gs_json_str(j, "error"), "insufficient balance"));
    json_decref(j);
    fund(f, alice.addr, 100);
    assert_int_equal(pay(f, &alice, bob.addr, 101, "", 1, &j), 402);
    json_decref(j);
    expect_account(f, alice.addr, 100, 1);
    expect_account(f, bob.addr, 0, 1);
    pay_ok(f, &alice, bob.addr, 100, "", 1);
    expect_account(f, bob.addr, 100, 1);
}

/* Signed bodies whose TEXT breaks one rule each: 400 naming the member. */
static void test_chain_malformed_payments_are_400(void **state)
{
    static const struct {
        const char *fmt; /* %1$s = from, %2$s = to */
        const char *needle;
    } cases[] = {
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":0,\"asset\":\"TFT\",\"memo\":\"\","
         "\"sequence\":1}",
         "json.amount"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":-5,\"asset\":\"TFT\",\"memo\":\"\","
         "\"sequence\":1}",
         "json.amount"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":1.5,\"asset\":\"TFT\",\"memo\":\"\","
         "\"sequence\":1}",
         "json.amount"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":\"5\",\"asset\":\"TFT\",\"memo\":\"\","
         "\"sequence\":1}",
         "json.amount"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":5,\"asset\":\"XLM\",\"memo\":\"\","
         "\"sequence\":1}",
         "json.asset"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":5,\"asset\":\"TFT\",\"memo\":7,"
         "\"sequence\":1}",
         "json.memo"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":5,\"asset\":\"TFT\",\"memo\":\"a\\u0000b\","
         "\"sequence\":1}",
         "not valid JSON"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":5,\"asset\":\"TFT\",\"sequence\":1}",
         "json.memo"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":5,\"asset\":\"TFT\",\"memo\":\"\","
         "\"sequence\":0}",
         "json.sequence"},
        {"{\"from\":\"%1$s\",\"to\":\"%1$s\",\"amount\":5,\"asset\":\"TFT\",\"memo\":\"\","
         "\"sequence\":1}",
         "json.to"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$.63s\",\"amount\":5,\"asset\":\"TFT\",\"memo\":\"\","
         "\"sequence\":1}",
         "json.to"},
        {"{\"from\":\"%1$s\",\"to\":\"%2$s\",\"amount\":5,\"asset\":\"TFT\",\"memo\":\"\","
         "\"sequence\":1,\"fee\":1}",
         "unknown member 'fee'"},
        {"[\"%1$s\",\"%2$s\"]", "json: expected a JSON object"},
        {"%1$s %2$s", "json:1:"},
    };
    fixture_t *f = *state;
    wallet_t alice, bob;
    char text[512];
    wallet(&alice, 1);
    wallet(&bob, 2);
    start(f);
    fund(f, alice.addr, 10 * TFT);
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        char *body;
        snprintf(text, sizeof text, cases[i].fmt, alice.addr, bob.addr);
        body = signed_body(&alice, text);
        expect_error(f, f->chain_port, "POST", "/api/v1/transactions", body, 400, cases[i].needle);
        free(body);
    }
    expect_account(f, alice.addr, 10 * TFT, 1);
}

/* Bodies that are not {"json": TEXT, "signature": HEX}. */
static void test_chain_malformed_transaction_bodies_are_400(void **state)
{
    fixture_t *f = *state;
    wallet_t alice, bob;
    char *text, *body, sig[2 * crypto_sign_BYTES + 1], zz[2 * crypto_sign_BYTES + 1];
    char long_text[1100];
    json_t *j;
    wallet(&alice, 1);
    wallet(&bob, 2);
    start(f);
    fund(f, alice.addr, 10 * TFT);
    text = payment_text(alice.addr, bob.addr, 1, "", 1);
    body = signed_body(&alice, text);
    j = json_loads(body, 0, NULL);
    snprintf(sig, sizeof sig, "%s", gs_json_str(j, "signature"));
    json_decref(j);
    free(body);
    memset(zz, 'z', sizeof zz - 1);
    zz[sizeof zz - 1] = '\0';
    memset(long_text, ' ', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    memcpy(long_text, text, strlen(text));
    expect_tx_error(f, 400, strdup("not json"), "not valid JSON");
    expect_tx_error(f, 400, strdup("\"text\""), "not valid JSON");
    expect_tx_error(f, 400, strdup("{\"json\": \"\xff\"}"), "not valid JSON");
    /* jansson quotes the bad bytes back; the answer must still be JSON */
    expect_tx_error(f, 400, strdup("{\"json\": \"\\\xc3\xa9\"}"), "invalid escape");
    expect_tx_error(f, 400, strdup("[]"), "expected a JSON object");
    expect_tx_error(f, 400, tx_body(json_integer(5), json_string(sig)), "json: expected a string");
    expect_tx_error(f, 400, tx_body(json_string(long_text), json_string(sig)),
                    "at most 1024 bytes");
    expect_tx_error(f, 400, tx_body(json_string(text), NULL), "signature: expected a string");
    expect_tx_error(f, 400, tx_body(json_string(text), json_integer(5)), "signature: expected");
    expect_tx_error(f, 400, tx_body(json_string(text), json_string(zz)), "128 hex digits");
    expect_tx_error(f, 400,
                    dump(json_pack("{s:s, s:s, s:i}", "json", text, "signature", sig, "fee", 1)),
                    "unknown member 'fee'");
    snprintf(zz, sizeof zz, "%.127s", sig);
    expect_tx_error(f, 400, tx_body(json_string(text), json_string(zz)), "128 hex digits");
    expect_account(f, alice.addr, 10 * TFT, 1);
    /* The signature's hex may be in capitals; the chain keeps it in lowercase. */
    for (size_t i = 0; i < sizeof zz - 1; i++)
        zz[i] = (char)toupper((unsigned char)sig[i]);
    body = tx_body(json_string(text), json_string(zz));
    assert_int_equal(call(f, f->chain_port, "POST", "/api/v1/transactions", body, &j), 201);
    assert_string_equal(gs_json_str(j, "signature"), sig);
    json_decref(j);
    free(body);
    free(text);
}

static void test_chain_memo_too_long_is_400(void **state)
{
    fixture_t *f = *state;
    wallet_t alice, bob;
    const char *memo28 = "0123456789012345678901234567";
    json_t *j;
    wallet(&alice, 1);
    wallet(&bob, 2);
    start(f);
    fund(f, alice.addr, 10 * TFT);
    assert_int_equal(pay(f, &alice, bob.addr, 1, "01234567890123456789012345678", 1, &j), 400);
    assert_non_null(strstr(gs_json_str(j, "error"), "json.memo"));
    json_decref(j);
    pay_ok(f, &alice, bob.addr, 1, memo28, 1);
    stop(f);
    assert_int_equal(sim_chain_received(f->ctx.chain, bob.addr, memo28), 1);
}

static void test_chain_oversized_bodies_are_413(void **state)
{
    fixture_t *f = *state;
    char *big = malloc(5000), path[128];
    wallet_t w;
    wallet(&w, 1);
    memset(big, ' ', 5000);
    memcpy(big, "{\"amount\": 1}", 13);
    start(f);
    snprintf(path, sizeof path, "/api/v1/accounts/%s/fund", w.addr);
    assert_int_equal(call_len(f, f->chain_port, "POST", path, big, 5000, NULL), 413);
    assert_int_equal(call_len(f, f->chain_port, "POST", "/api/v1/transactions", big, 5000, NULL),
                     413);
    assert_int_equal(call_len(f, f->login_port, "POST", "/api/users", big, 5000, NULL), 413);
    assert_int_equal(call_len(f, f->chain_port, "POST", path, big, 4096, NULL), 200); /* the cap */
    expect_account(f, w.addr, 1, 1);
    free(big);
}

/* ---- chain: lookups ---- */

static void test_chain_transaction_lookups(void **state)
{
    fixture_t *f = *state;
    char path[128];
    start(f);
    snprintf(path, sizeof path, "/api/v1/transactions/%064d", 0);
    expect_error(f, f->chain_port, "GET", path, NULL, 404, "transaction not found");
    snprintf(path, sizeof path, "/api/v1/transactions/%064d", 0);
    path[strlen(path) - 1] = 'A';
    expect_error(f, f->chain_port, "GET", path, NULL, 400, "transaction id");
    expect_error(f, f->chain_port, "GET", "/api/v1/transactions/abc", NULL, 400, "transaction id");
    expect_error(f, f->chain_port, "GET", "/api/v1/transactions", NULL, 405, "method");
    expect_error(f, f->chain_port, "GET", "/api/v1/ledger", NULL, 404, "no such endpoint");
}

/* The memos of an account's payments as the API lists them, joined with ','. */
static long payments(fixture_t *f, const char *addr, const char *query, char *out, size_t len)
{
    char path[256];
    size_t i, used = 0;
    json_t *j, *tx;
    long status;
    snprintf(path, sizeof path, "/api/v1/accounts/%s/payments%s", addr, query);
    status = call(f, f->chain_port, "GET", path, NULL, &j);
    out[0] = '\0';
    if (status == 200) {
        assert_true(json_is_array(j));
        json_array_foreach(j, i, tx)
        {
            int64_t amount;
            assert_true(gs_json_int(tx, "amount", &amount));
            used += (size_t)snprintf(out + used, len - used, "%s%s=%lld", i ? "," : "",
                                     gs_json_str(tx, "memo"), (long long)amount);
        }
    }
    json_decref(j);
    return status;
}

static void test_chain_payments_filter_by_memo_oldest_first(void **state)
{
    fixture_t *f = *state;
    wallet_t alice, bob, carol;
    char list[1024];
    wallet(&alice, 1);
    wallet(&bob, 2);
    wallet(&carol, 3);
    start(f);
    fund(f, alice.addr, 100);
    fund(f, carol.addr, 100);
    pay_ok(f, &alice, bob.addr, 1, "a", 1);
    pay_ok(f, &alice, bob.addr, 2, "b", 2);
    pay_ok(f, &carol, bob.addr, 3, "a", 1);
    pay_ok(f, &alice, carol.addr, 4, "a", 3); /* not to bob */
    pay_ok(f, &alice, bob.addr, 5, "x y", 4);
    pay_ok(f, &alice, bob.addr, 6, "", 5);
    assert_int_equal(payments(f, bob.addr, "", list, sizeof list), 200);
    assert_string_equal(list, "a=1,b=2,a=3,x y=5,=6");
    assert_int_equal(payments(f, bob.addr, "?memo=a", list, sizeof list), 200);
    assert_string_equal(list, "a=1,a=3");
    assert_int_equal(payments(f, bob.addr, "?memo=x%20y", list, sizeof list), 200);
    assert_string_equal(list, "x y=5");
    assert_int_equal(payments(f, bob.addr, "?memo=", list, sizeof list), 200);
    assert_string_equal(list, "=6");
    assert_int_equal(payments(f, bob.addr, "?memo=A", list, sizeof list), 200);
    assert_string_equal(list, "");
    assert_int_equal(payments(f, alice.addr, "", list, sizeof list), 200);
    assert_string_equal(list, "");
    assert_int_equal(
        payments(f, bob.addr, "?memo=01234567890123456789012345678", list, sizeof list), 400);
}

static void test_chain_payments_list_the_newest_1000(void **state)
{
    fixture_t *f = *state;
    wallet_t escrow, farmer;
    char path[128];
    json_t *j;
    int64_t v;
    wallet(&escrow, 1);
    wallet(&farmer, 2);
    assert_int_equal(sim_chain_credit(f->ctx.chain, escrow.addr, 1000000, NULL), GS_OK);
    for (int i = 1; i <= SIM_PAYMENTS_MAX + 1; i++)
        assert_int_equal(sim_chain_transfer(f->ctx.chain, escrow.addr, farmer.addr, (uint64_t)i,
                                            "m", NULL, NULL),
                         GS_OK);
    start(f);
    snprintf(path, sizeof path, "/api/v1/accounts/%s/payments?memo=m", farmer.addr);
    assert_int_equal(call(f, f->chain_port, "GET", path, NULL, &j), 200);
    assert_int_equal(json_array_size(j), SIM_PAYMENTS_MAX);
    assert_true(gs_json_int(json_array_get(j, 0), "amount", &v) && v == 2);
    assert_true(gs_json_int(json_array_get(j, SIM_PAYMENTS_MAX - 1), "amount", &v) &&
                v == SIM_PAYMENTS_MAX + 1);
    json_decref(j);
}

/* ---- chain: the escrow's C API ---- */

static void test_chain_received_sums_the_exact_memo(void **state)
{
    fixture_t *f = *state;
    wallet_t alice, carol, escrow;
    sim_chain_t *c = f->ctx.chain;
    wallet(&alice, 1);
    wallet(&carol, 3);
    wallet(&escrow, 9);
    start(f);
    fund(f, alice.addr, 1000);
    fund(f, carol.addr, 1000);
    pay_ok(f, &alice, escrow.addr, 100, "p-1", 1);
    pay_ok(f, &carol, escrow.addr, 50, "p-1", 1);
    pay_ok(f, &alice, escrow.addr, 7, "p-12", 2);
    pay_ok(f, &alice, carol.addr, 9, "p-1", 3);
    stop(f);
    assert_int_equal(sim_chain_received(c, escrow.addr, "p-1"), 150);
    assert_int_equal(sim_chain_received(c, escrow.addr, "p-12"), 7);
    assert_int_equal(sim_chain_received(c, escrow.addr, "p-"), 0);
    assert_int_equal(sim_chain_received(c, escrow.addr, "P-1"), 0);
    assert_int_equal(sim_chain_received(c, escrow.addr, ""), 0);
    assert_int_equal(sim_chain_received(c, carol.addr, "p-1"), 9);
    assert_int_equal(sim_chain_balance(c, escrow.addr), 157);
}

static void test_chain_transfer_is_recorded_unsigned(void **state)
{
    fixture_t *f = *state;
    sim_chain_t *c = f->ctx.chain;
    wallet_t escrow, farmer;
    char txid[SIM_TXID_LEN + 1], path[128];
    gs_diag_t diag = {{0}};
    json_t *tx;
    int64_t v;
    wallet(&escrow, 9);
    wallet(&farmer, 4);
    assert_int_equal(sim_chain_credit(c, escrow.addr, 500, &diag), GS_OK);
    assert_int_equal(sim_chain_transfer(c, escrow.addr, farmer.addr, 200, "payout", txid, &diag),
                     GS_OK);
    assert_int_equal(sim_chain_transfer(c, escrow.addr, farmer.addr, 301, "x", NULL, &diag),
                     GS_ERANGE);
    assert_int_equal(sim_chain_transfer(c, escrow.addr, "nope", 1, "x", NULL, &diag), GS_EINVAL);
    assert_int_equal(sim_chain_transfer(c, escrow.addr, farmer.addr, 1,
                                        "01234567890123456789012345678", NULL, &diag),
                     GS_EINVAL);
    assert_int_equal(sim_chain_transfer(c, escrow.addr, farmer.addr, 0, "x", NULL, &diag),
                     GS_EINVAL);
    assert_int_equal(sim_chain_credit(c, "nope", 1, &diag), GS_EINVAL);
    assert_int_equal(sim_chain_credit(c, farmer.addr, (uint64_t)INT64_MAX, &diag), GS_ERANGE);
    assert_int_equal(sim_chain_balance(c, escrow.addr), 300);
    assert_int_equal(sim_chain_balance(c, farmer.addr), 200);
    assert_int_equal(sim_chain_received(c, farmer.addr, "payout"), 200);
    start(f);
    expect_account(f, escrow.addr, 300, 2); /* the transfer took sequence 1 */
    snprintf(path, sizeof path, "/api/v1/transactions/%s", txid);
    assert_int_equal(call(f, f->chain_port, "GET", path, NULL, &tx), 200);
    assert_string_equal(gs_json_str(tx, "signature"), "");
    assert_true(gs_json_int(tx, "sequence", &v) && v == 1);
    assert_true(gs_json_int(tx, "time", &v) && v == TEST_TIME);
    assert_string_equal(gs_json_str(tx, "memo"), "payout");
    json_decref(tx);
}

/* ---- login directory ---- */

static char *user_body(const char *name, const unsigned char pk[32])
{
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, pk, 32, sodium_base64_VARIANT_ORIGINAL);
    return dump(json_pack("{s:s, s:s}", "doublename", name, "publicKey", b64));
}

static long register_user(fixture_t *f, const char *name, const wallet_t *w)
{
    char *body = user_body(name, w->pk);
    json_t *j;
    long status = call(f, f->login_port, "POST", "/api/users", body, &j);
    if (status < 300) {
        assert_string_equal(gs_json_str(j, "doublename"), name);
        assert_string_equal(strstr(body, gs_json_str(j, "publicKey")) != NULL ? "ok" : "", "ok");
    }
    json_decref(j);
    free(body);
    return status;
}

/* The key the directory answers for name, decoded. */
static void lookup_key(fixture_t *f, const char *name, unsigned char pk[32])
{
    char path[128];
    json_t *j;
    const char *b64, *end;
    size_t got = 0;
    snprintf(path, sizeof path, "/api/users/%s", name);
    assert_int_equal(call(f, f->login_port, "GET", path, NULL, &j), 200);
    assert_string_equal(gs_json_str(j, "doublename"), name);
    b64 = gs_json_str(j, "publicKey");
    assert_non_null(b64);
    assert_int_equal(sodium_base642bin(pk, 32, b64, strlen(b64), NULL, &got, &end,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(got, 32);
    assert_int_equal(*end, '\0');
    json_decref(j);
}

static void test_login_register_and_lookup(void **state)
{
    fixture_t *f = *state;
    unsigned char pk[32];
    wallet_t alice;
    wallet(&alice, 1);
    start(f);
    assert_int_equal(register_user(f, "alice.3bot", &alice), 201);
    lookup_key(f, "alice.3bot", pk);
    assert_memory_equal(pk, alice.pk, 32);
    stop(f);
    memset(pk, 0, sizeof pk);
    assert_true(sim_login_lookup(f->ctx.login, "alice.3bot", pk));
    assert_memory_equal(pk, alice.pk, 32);
    assert_false(sim_login_lookup(f->ctx.login, "bob.3bot", pk));
}

static void test_login_register_is_idempotent_for_the_same_key(void **state)
{
    fixture_t *f = *state;
    wallet_t alice;
    wallet(&alice, 1);
    start(f);
    assert_int_equal(register_user(f, "alice.3bot", &alice), 201);
    assert_int_equal(register_user(f, "alice.3bot", &alice), 200);
}

static void test_login_name_taken_by_another_key_is_409(void **state)
{
    fixture_t *f = *state;
    unsigned char pk[32];
    wallet_t alice, mallory;
    char *body;
    wallet(&alice, 1);
    wallet(&mallory, 3);
    start(f);
    assert_int_equal(register_user(f, "alice.3bot", &alice), 201);
    body = user_body("alice.3bot", mallory.pk);
    expect_error(f, f->login_port, "POST", "/api/users", body, 409, "another key");
    free(body);
    lookup_key(f, "alice.3bot", pk);
    assert_memory_equal(pk, alice.pk, 32);
    stop(f);
    assert_int_equal(sim_login_register(f->ctx.login, "alice.3bot", mallory.pk, NULL), GS_EINVAL);
    assert_int_equal(sim_login_register(f->ctx.login, "alice.3bot", alice.pk, NULL), GS_OK);
}

static void test_login_unknown_name_is_404(void **state)
{
    fixture_t *f = *state;
    json_t *j;
    start(f);
    assert_int_equal(call(f, f->login_port, "GET", "/api/users/nobody.3bot", NULL, &j), 404);
    assert_string_equal(gs_json_str(j, "error"), "user not found");
    json_decref(j);
}

static void test_login_bad_names_are_400(void **state)
{
    static const char *const bad[] = {
        "Alice.3bot",
        "alice",
        ".3bot",
        "-alice.3bot",
        "alice.3BOT",
        "alice.3bot.x",
        "al%20ice.3bot",
        "al@ice.3bot",
        "alice .3bot",
        "a12345678901234567890123456789012345678901234567890123456789.3bot", /* 65 */
    };
    fixture_t *f = *state;
    char path[256], name64[65];
    wallet_t w;
    wallet(&w, 1);
    start(f);
    for (size_t i = 0; i < GS_ARRAY_SIZE(bad); i++) {
        char *body = user_body(bad[i], w.pk);
        snprintf(path, sizeof path, "/api/users/%s", bad[i]);
        if (strchr(bad[i], ' ') == NULL)
            expect_error(f, f->login_port, "GET", path, NULL, 400, "3Bot name");
        expect_error(f, f->login_port, "POST", "/api/users", body, 400, "doublename");
        free(body);
    }
    memset(name64, 'a', 59);
    memcpy(name64 + 59, ".3bot", 6); /* 64 bytes: the longest allowed */
    assert_int_equal(register_user(f, name64, &w), 201);
    assert_int_equal(register_user(f, "a_b-c.d9.3bot", &w), 201);
}

static void test_login_bad_public_keys_are_400(void **state)
{
    static const char *const bodies[] = {
        "{\"doublename\": \"alice.3bot\", \"publicKey\": \"not base64!\"}",
        /* 31 and 33 bytes */
        "{\"doublename\": \"alice.3bot\", \"publicKey\": "
        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"}",
        "{\"doublename\": \"alice.3bot\", \"publicKey\": "
        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
        /* the URL-safe alphabet, and no padding */
        "{\"doublename\": \"alice.3bot\", \"publicKey\": "
        "\"-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
        "{\"doublename\": \"alice.3bot\", \"publicKey\": "
        "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
        "{\"doublename\": \"alice.3bot\", \"publicKey\": 5}",
        "{\"doublename\": \"alice.3bot\"}",
    };
    fixture_t *f = *state;
    json_t *j;
    start(f);
    for (size_t i = 0; i < GS_ARRAY_SIZE(bodies); i++)
        expect_error(f, f->login_port, "POST", "/api/users", bodies[i], 400, "publicKey");
    expect_error(f, f->login_port, "POST", "/api/users", "{\"publicKey\": \"x\"}", 400,
                 "doublename");
    expect_error(f, f->login_port, "POST", "/api/users",
                 "{\"doublename\": \"alice.3bot\", \"publicKey\": "
                 "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"email\": \"a@b\"}",
                 400, "unknown member 'email'");
    expect_error(f, f->login_port, "POST", "/api/users", "{", 400, "not valid JSON");
    assert_int_equal(call(f, f->login_port, "GET", "/api/users/alice.3bot", NULL, &j), 404);
    json_decref(j);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_chain_unknown_account_is_empty),
        T(test_chain_faucet_funds_an_account),
        T(test_chain_faucet_refuses_bad_amounts),
        T(test_chain_faucet_refuses_a_balance_past_int64),
        T(test_chain_bad_addresses_are_400),
        T(test_chain_signed_payment_moves_funds),
        T(test_chain_wrong_signature_is_401),
        T(test_chain_replayed_transaction_is_409),
        T(test_chain_insufficient_balance_is_402),
        T(test_chain_malformed_payments_are_400),
        T(test_chain_malformed_transaction_bodies_are_400),
        T(test_chain_memo_too_long_is_400),
        T(test_chain_oversized_bodies_are_413),
        T(test_chain_transaction_lookups),
        T(test_chain_payments_filter_by_memo_oldest_first),
        T(test_chain_payments_list_the_newest_1000),
        T(test_chain_received_sums_the_exact_memo),
        T(test_chain_transfer_is_recorded_unsigned),
        T(test_login_register_and_lookup),
        T(test_login_register_is_idempotent_for_the_same_key),
        T(test_login_name_taken_by_another_key_is_409),
        T(test_login_unknown_name_is_404),
        T(test_login_bad_names_are_400),
        T(test_login_bad_public_keys_are_400),
    };
    int rc;
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
