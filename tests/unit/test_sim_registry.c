/* test_sim_registry.c — the local grid's phonebook, capacity pools and pool escrow
 * through the real HTTP API: the explorer's routes (sim_explorer_routes) served by h2o
 * on 127.0.0.1 (port 0), over a generated world, the payment chain and the registry,
 * with libcurl requests. The loop runs on the test's own thread, and each request is
 * made from a short-lived client thread while the loop serves it (tests/support/sim_http.c): h2o keeps per-thread
 * caches it never frees, so a server thread ending with each test would leak (the same
 * arrangement as test_sim_chain.c). Chain payments, balances, pool units and the dry
 * hook are called directly between requests, on the loop's thread; waiting is running
 * the loop (the escrow timer fires meanwhile). Every test ends with a clean shutdown
 * (uv_loop_close() == 0). */
#include <math.h>
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
#include "explorer.h"
#include "registry.h"
#include "sim_http.h"

/* ---- the grid, on the test's loop ---- */

typedef struct {
    sim_world_opts_t opts;
    sim_ctx_t ctx;
    uv_loop_t loop;
    uv_async_t wake; /* a client thread finished */
    gs_httpd_t *httpd;
    int port;
    sim_http_t http; /* requests to this grid */
    int dry_calls;
    int64_t dry_pool;
    double dry_cus;
} fixture_t;

static void start(fixture_t *f)
{
    assert_int_equal(uv_loop_init(&f->loop), 0);
    sim_grid_open(&f->loop, &f->wake, &f->ctx, &f->opts, false, &f->httpd, &f->http);
    f->port = f->http.port;
}

/* Closes the server, then the registry, and runs the loop until every handle is gone. */
static void stop(fixture_t *f)
{
    sim_grid_close(f->httpd, &f->ctx, &f->wake);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_null(f->ctx.registry);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    sim_chain_free(f->ctx.chain);
    sim_world_free(&f->ctx.world);
}

static int setup_with(void **state, int network, double time_scale)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->opts = (sim_world_opts_t){
        .seed = 7, .n_farms = 3, .nodes_per_farm = 3, .network = network, .time_scale = time_scale};
    start(f);
    *state = f;
    return 0;
}

static int setup_mainnet(void **state)
{
    return setup_with(state, SIM_MAINNET, 1);
}

static int setup_testnet(void **state)
{
    return setup_with(state, SIM_TESTNET, 1);
}

/* An hour of simulated time in 0.36 s. */
static int setup_fast(void **state)
{
    return setup_with(state, SIM_MAINNET, 10000);
}

/* 100 simulated seconds a second: pools drain visibly, payments have 36 s. */
static int setup_draining(void **state)
{
    return setup_with(state, SIM_MAINNET, 100);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    stop(f);
    free(f);
    return 0;
}

/* Runs the loop for ms milliseconds (the registry's timer fires meanwhile). */
static void run_for(fixture_t *f, uint64_t ms)
{
    sim_http_run_for(&f->loop, ms);
}

/* ---- HTTP, from a client thread (tests/support/sim_http.c) ---- */

/* method path with an optional body; *out gets the JSON answer when out is not NULL. */
static long http(fixture_t *f, const char *method, const char *path, const char *body, json_t **out)
{
    return sim_http_request(&f->http, method, path, NULL, body, out, NULL);
}

static long get(fixture_t *f, const char *path, json_t **out)
{
    return http(f, "GET", path, NULL, out);
}

/* The status of a POST whose error message must mention `needle`. */
static void expect_error(fixture_t *f, const char *path, const char *body, long status,
                         const char *needle)
{
    json_t *j;
    const char *msg;
    long got = http(f, "POST", path, body, &j);
    msg = gs_json_str(j, "error");
    if (got != status || msg == NULL || strstr(msg, needle) == NULL)
        fail_msg("POST %s: got %ld %s, expected %ld mentioning '%s'", path, got,
                 msg ? msg : "(no error)", status, needle);
    json_decref(j);
}

/* ---- identities (tests/support/sim_http.c) ---- */

typedef sim_who_t who_t;

static void register_user(fixture_t *f, who_t *w)
{
    sim_register_user(&f->http, w);
}

/* ---- pool reservations ---- */

typedef struct {
    int64_t pool_id, cus, sus, ipv4us;
    const char *nodes[4];
    size_t n_nodes;
} pool_data_t;

static json_t *data_json(const pool_data_t *d)
{
    json_t *nodes = json_array();
    for (size_t i = 0; i < d->n_nodes; i++)
        json_array_append_new(nodes, json_string(d->nodes[i]));
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:[s]}", "pool_id", (json_int_t)d->pool_id, "cus",
                     (json_int_t)d->cus, "sus", (json_int_t)d->sus, "ipv4us", (json_int_t)d->ipv4us,
                     "node_ids", nodes, "currencies", "TFT");
}

/* The request: json = text of `signed_data`, data_reservation = `data`, signed by signer. */
static char *pool_body_of(json_t *signed_data, json_t *data, int64_t tid, const who_t *signer)
{
    char *text = gs_json_dumps(signed_data), sig[129], *body;
    json_t *j;
    sim_sign_hex(signer->sk, text, sig);
    j = json_pack("{s:s, s:O, s:I, s:s, s:i, s:s}", "json", text, "data_reservation", data,
                  "customer_tid", (json_int_t)tid, "customer_signature", sig, "sponsor_tid", 0,
                  "sponsor_signature", "");
    body = gs_json_dumps(j);
    json_decref(j);
    free(text);
    return body;
}

static char *pool_body(const pool_data_t *d, int64_t tid, const who_t *signer)
{
    json_t *data = data_json(d);
    char *body = pool_body_of(data, data, tid, signer);
    json_decref(data);
    return body;
}

typedef struct {
    int64_t id;
    uint64_t amount;
    char address[SIM_ADDRESS_LEN + 1];
    char asset[128];
} escrow_info_t;

/* Reserves d as w; fails the test unless the answer is 201 with escrow information. */
static void reserve(fixture_t *f, const pool_data_t *d, const who_t *w, escrow_info_t *e)
{
    char *body = pool_body(d, w->tid, w);
    json_t *j, *info;
    int64_t amount;
    long status = http(f, "POST", "/api/v1/reservations/pools", body, &j);
    if (status != 201)
        fail_msg("reserve: %ld %s", status, gs_json_str(j, "error"));
    info = json_object_get(j, "escrow_information");
    assert_true(gs_json_int(j, "reservation_id", &e->id));
    assert_true(gs_json_int(info, "amount", &amount));
    assert_non_null(gs_json_str(info, "address"));
    assert_non_null(gs_json_str(info, "asset"));
    e->amount = (uint64_t)amount;
    snprintf(e->address, sizeof e->address, "%s", gs_json_str(info, "address"));
    snprintf(e->asset, sizeof e->asset, "%s", gs_json_str(info, "asset"));
    json_decref(j);
    free(body);
}

static json_t *payment(fixture_t *f, int64_t id)
{
    char path[128];
    json_t *j;
    snprintf(path, sizeof path, "/api/v1/reservations/pools/payment/%lld", (long long)id);
    assert_int_equal(get(f, path, &j), 200);
    return j;
}

static bool flag(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);
    assert_true(json_is_boolean(v));
    return json_is_true(v);
}

/* Polls the payment until `key` is true (within 10 s). */
static json_t *wait_payment(fixture_t *f, int64_t id, const char *key)
{
    for (int i = 0; i < 200; i++) {
        json_t *j = payment(f, id);
        if (flag(j, key))
            return j;
        json_decref(j);
        run_for(f, 50);
    }
    fail_msg("reservation %lld never became %s", (long long)id, key);
    return NULL;
}

static json_t *pool(fixture_t *f, int64_t id)
{
    char path[128];
    json_t *j;
    snprintf(path, sizeof path, "/api/v1/reservations/pools/%lld", (long long)id);
    assert_int_equal(get(f, path, &j), 200);
    return j;
}

/* ---- the chain and pool units, called between requests ---- */

/* A fresh payer funds itself and pays amount to `to` with memo. */
static void pay(fixture_t *f, const char *to, uint64_t amount, const char *memo)
{
    static unsigned char n = 0;
    unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    char payer[SIM_ADDRESS_LEN + 1];
    memset(seed, 0xa0 + n++, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    gs_hex(pk, sizeof pk, payer);
    assert_int_equal(sim_chain_credit(f->ctx.chain, payer, amount, NULL), GS_OK);
    assert_int_equal(sim_chain_transfer(f->ctx.chain, payer, to, amount, memo, NULL, NULL), GS_OK);
}

static uint64_t balance(fixture_t *f, const char *address)
{
    return sim_chain_balance(f->ctx.chain, address);
}

static void memo(int64_t id, char out[SIM_MEMO_MAX + 1])
{
    snprintf(out, SIM_MEMO_MAX + 1, "p-%lld", (long long)id);
}

static void units(fixture_t *f, int64_t pool_id, int64_t wid, double cu, double su, bool on)
{
    struct sim_registry *reg = f->ctx.registry;
    int err = on ? sim_registry_pool_activate(reg, pool_id, wid, cu, su, 0)
                 : sim_registry_pool_deactivate(reg, pool_id, wid, cu, su, 0);
    assert_int_equal(err, GS_OK);
}

static void on_dry(sim_ctx_t *ctx, const sim_pool_t *p, void *arg)
{
    fixture_t *f = arg;
    (void)ctx;
    f->dry_calls++;
    f->dry_pool = p->id;
    f->dry_cus = p->cus;
}

/* ---- a paid pool ---- */

static const char *node(fixture_t *f, size_t i)
{
    return f->ctx.world.nodes[i].node_id; /* nodes 0-2 in farm 1, 3-5 in farm 2, ... */
}

static void paid_pool(fixture_t *f, const who_t *w, int64_t cus, int64_t sus, escrow_info_t *e)
{
    pool_data_t d = {0, cus, sus, 0, {node(f, 0), node(f, 1)}, 2};
    char m[SIM_MEMO_MAX + 1];
    reserve(f, &d, w, e);
    memo(e->id, m);
    pay(f, e->address, e->amount, m);
    json_decref(wait_payment(f, e->id, "released"));
}

/* ---- phonebook ---- */

static void test_phonebook_registers_looks_up_and_refuses_a_taken_name(void **state)
{
    fixture_t *f = *state;
    who_t alice, bob, mallory;
    json_t *j;
    char *body;
    sim_who_init(&alice, "alice.3bot", 1);
    sim_who_init(&bob, "bob.3bot", 2);
    sim_who_init(&mallory, "alice.3bot", 3);

    register_user(f, &alice);
    assert_int_equal(alice.tid, 1);
    register_user(f, &bob);
    assert_int_equal(bob.tid, 2);

    assert_int_equal(get(f, "/api/v1/users/1", &j), 200);
    assert_string_equal(gs_json_str(j, "name"), "alice.3bot");
    assert_string_equal(gs_json_str(j, "pubkey"), alice.pubkey);
    assert_string_equal(gs_json_str(j, "email"), ""); /* hidden, as the real explorer does */
    json_decref(j);
    assert_int_equal(get(f, "/explorer/users/2", &j), 200);
    assert_string_equal(gs_json_str(j, "name"), "bob.3bot");
    json_decref(j);

    assert_int_equal(get(f, "/api/v1/users?name=alice.3bot", &j), 200);
    assert_int_equal(json_array_size(j), 1);
    assert_int_equal(sim_int(json_array_get(j, 0), "id"), 1);
    json_decref(j);
    assert_int_equal(get(f, "/api/v1/users?name=carol.3bot", &j), 200);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    assert_int_equal(get(f, "/api/v1/users", &j), 200);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);

    /* The same name with another key, properly signed: taken. */
    body = sim_user_body(&mallory, "", &mallory);
    expect_error(f, "/api/v1/users", body, 409, "same name");
    free(body);
    /* A new name signed by someone else's key. */
    sim_who_init(&mallory, "mallory.3bot", 3);
    body = sim_user_body(&mallory, "", &alice);
    expect_error(f, "/api/v1/users", body, 400, "signature");
    free(body);
    assert_int_equal(get(f, "/api/v1/users?name=mallory.3bot", &j), 200);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);

    assert_int_equal(get(f, "/api/v1/users/3", &j), 404);
    json_decref(j);
    assert_int_equal(get(f, "/api/v1/users/abc", &j), 400);
    json_decref(j);
}

static void test_phonebook_refuses_malformed_registrations(void **state)
{
    fixture_t *f = *state;
    who_t carol;
    char *body;
    sim_who_init(&carol, "Carol.3bot", 4);
    body = sim_user_body(&carol, "", &carol);
    expect_error(f, "/api/v1/users", body, 400, "name");
    free(body);
    sim_who_init(&carol, "carol.3bot", 4);
    body = sim_user_body(&carol, "Carol@Example.org", &carol);
    expect_error(f, "/api/v1/users", body, 400, "email");
    free(body);
    expect_error(f, "/api/v1/users",
                 "{\"name\":\"carol.3bot\",\"pubkey\":\"zz\",\"signature\":\"\"}", 400, "pubkey");
    expect_error(f, "/api/v1/users", "{\"name\":\"carol.3bot\",\"pubkey\":7}", 400, "pubkey");
    expect_error(f, "/api/v1/users", "{\"name\":\"carol.3bot\",\"admin\":true}", 400, "admin");
    expect_error(f, "/api/v1/users", "[1,2]", 400, "object");
    expect_error(f, "/api/v1/users", "{\"name\":", 400, "JSON");
}

/* ---- signatures and the request's shape ---- */

static void test_pool_reservation_signed_by_the_customer_is_accepted(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e, e2;
    pool_data_t d = {0, 2592000, 0, 0, {NULL}, 1};
    json_t *j, *p;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    d.nodes[0] = node(f, 0);
    reserve(f, &d, &alice, &e);
    assert_int_equal(e.id, 1);
    assert_int_equal(e.amount, 997920000); /* reference/tfgrid-v2.md §1.3 */
    assert_int_equal(strlen(e.address), SIM_ADDRESS_LEN);
    assert_int_equal(strncmp(e.asset, "TFT:", 4), 0);

    j = payment(f, e.id);
    assert_int_equal(sim_int(j, "id"), e.id);
    assert_int_equal(sim_int(j, "farmer_id"), 1);
    assert_string_equal(gs_json_str(j, "address"), e.address);
    assert_string_equal(gs_json_str(j, "asset"), e.asset);
    assert_int_equal(sim_int(j, "amount"), 997920000);
    assert_false(flag(j, "paid") || flag(j, "released") || flag(j, "canceled") ||
                 flag(j, "cancellation_pending"));
    assert_string_equal(gs_json_str(j, "cause"), "");
    assert_true(sim_int(j, "expiration") >= sim_now(&f->ctx.world) + 3590);
    json_decref(j);

    /* The pool exists from the reservation on, empty and idle. */
    p = pool(f, e.id);
    assert_int_equal(sim_int(p, "pool_id"), e.id);
    assert_true(sim_num(p, "cus") == 0 && sim_num(p, "sus") == 0 && sim_num(p, "ipv4us") == 0);
    assert_true(sim_int(p, "empty_at") == INT64_MAX);
    assert_int_equal(sim_int(p, "customer_tid"), alice.tid);
    assert_int_equal(sim_int(p, "sponsor_tid"), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "node_ids"), 0)),
                        node(f, 0));
    assert_int_equal(json_array_size(json_object_get(p, "active_workload_ids")), 0);
    json_decref(p);

    /* One escrow account per customer; the legacy prefix serves the same pools. */
    reserve(f, &d, &alice, &e2);
    assert_int_equal(e2.id, 2);
    assert_string_equal(e2.address, e.address);
    assert_int_equal(get(f, "/explorer/reservations/pools/owner/1", &j), 200);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
}

/* Nothing was recorded: no reservation 1, no pool for tid 1. */
static void expect_nothing_reserved(fixture_t *f)
{
    json_t *j;
    assert_int_equal(get(f, "/api/v1/reservations/pools/payment/1", &j), 404);
    json_decref(j);
    assert_int_equal(get(f, "/api/v1/reservations/pools/1", &j), 404);
    json_decref(j);
    assert_int_equal(get(f, "/api/v1/reservations/pools/owner/1", &j), 200);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
}

static void test_pool_signature_by_another_key_is_rejected(void **state)
{
    fixture_t *f = *state;
    who_t alice, bob;
    pool_data_t d = {0, 100, 0, 0, {NULL}, 1};
    char *body;
    sim_who_init(&alice, "alice.3bot", 1);
    sim_who_init(&bob, "bob.3bot", 2);
    register_user(f, &alice);
    register_user(f, &bob);
    d.nodes[0] = node(f, 0);
    body = pool_body(&d, alice.tid, &bob);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "signature");
    free(body);
    body = pool_body(&d, 99, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "cannot find user");
    free(body);
    expect_nothing_reserved(f);
}

static void test_pool_json_differing_from_data_reservation_is_rejected(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    pool_data_t signed_d = {0, 100, 0, 0, {NULL}, 1}, sent_d;
    json_t *signed_j, *sent_j;
    char *body;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    signed_d.nodes[0] = node(f, 0);
    sent_d = signed_d;
    sent_d.cus = 200;
    signed_j = data_json(&signed_d);
    sent_j = data_json(&sent_d);
    body = pool_body_of(signed_j, sent_j, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "does not match");
    free(body);
    json_decref(signed_j);
    json_decref(sent_j);
    expect_nothing_reserved(f);
}

static void test_pool_nodes_must_be_known_distinct_and_in_one_farm(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    pool_data_t two_farms = {0, 100, 0, 0, {NULL}, 2};
    pool_data_t unknown = {0, 100, 0, 0, {"NoSuchNode"}, 1};
    pool_data_t twice = {0, 100, 0, 0, {NULL}, 2};
    pool_data_t none = {0, 100, 0, 0, {NULL}, 0};
    char *body;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    two_farms.nodes[0] = node(f, 0);
    two_farms.nodes[1] = node(f, 3);
    assert_int_not_equal(f->ctx.world.nodes[0].farm_id, f->ctx.world.nodes[3].farm_id);
    twice.nodes[0] = twice.nodes[1] = node(f, 1);

    body = pool_body(&two_farms, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "same farm");
    free(body);
    body = pool_body(&unknown, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "NoSuchNode");
    free(body);
    body = pool_body(&twice, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 409, "duplicate node");
    free(body);
    body = pool_body(&none, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "node_ids");
    free(body);
    expect_nothing_reserved(f);
}

/* A signed request whose data_reservation is `data` (JSON text). */
static char *raw_pool_body(const char *data, const who_t *w)
{
    json_t *d = json_loads(data, 0, NULL);
    char *body;
    assert_non_null(d);
    body = pool_body_of(d, d, w->tid, w);
    json_decref(d);
    return body;
}

static void test_pool_malformed_requests_name_the_field(void **state)
{
    static const struct {
        const char *data, *needle;
    } cases[] = {
        {"{\"pool_id\":0,\"cus\":-1,\"sus\":0,\"ipv4us\":0,\"node_ids\":[\"N\"],"
         "\"currencies\":[\"TFT\"]}",
         "data_reservation.cus"},
        {"{\"pool_id\":0,\"cus\":1.5,\"sus\":0,\"ipv4us\":0,\"node_ids\":[\"N\"],"
         "\"currencies\":[\"TFT\"]}",
         "data_reservation.cus"},
        {"{\"pool_id\":0,\"cus\":1,\"sus\":\"2\",\"ipv4us\":0,\"node_ids\":[\"N\"],"
         "\"currencies\":[\"TFT\"]}",
         "data_reservation.sus"},
        {"{\"pool_id\":0,\"cus\":1,\"sus\":0,\"ipv4us\":1000000000000001,\"node_ids\":[\"N\"],"
         "\"currencies\":[\"TFT\"]}",
         "data_reservation.ipv4us"},
        {"{\"pool_id\":-3,\"cus\":1,\"sus\":0,\"ipv4us\":0,\"node_ids\":[\"N\"],"
         "\"currencies\":[\"TFT\"]}",
         "data_reservation.pool_id"},
        {"{\"pool_id\":0,\"cus\":1,\"sus\":0,\"ipv4us\":0,\"node_ids\":\"N\","
         "\"currencies\":[\"TFT\"]}",
         "data_reservation.node_ids"},
        {"{\"pool_id\":0,\"cus\":1,\"sus\":0,\"ipv4us\":0,\"node_ids\":[\"N\",7],"
         "\"currencies\":[\"TFT\"]}",
         "data_reservation.node_ids[1]"},
        {"{\"pool_id\":0,\"cus\":1,\"sus\":0,\"ipv4us\":0,\"node_ids\":[\"N\"],"
         "\"currencies\":[\"FreeTFT\"]}",
         "currencies"},
        {"{\"pool_id\":0,\"cus\":1,\"sus\":0,\"ipv4us\":0,\"node_ids\":[\"N\"]}", "currencies"},
        {"{\"pool_id\":0,\"cus\":1,\"sus\":0,\"ipv4us\":0,\"node_ids\":[\"N\"],"
         "\"currencies\":[\"TFT\"],\"discount\":1}",
         "discount"},
        {"[1]", "data_reservation"},
    };
    static const struct {
        const char *body, *needle;
    } bodies[] = {
        {"{\"json\":", "JSON"},
        {"[]", "object"},
        {"{\"json\":\"{}\",\"data_reservation\":{},\"customer_tid\":1,"
         "\"customer_signature\":\"00\",\"extra\":1}",
         "extra"},
        {"{\"json\":\"{}\",\"data_reservation\":{},\"customer_tid\":0,"
         "\"customer_signature\":\"00\"}",
         "customer_tid"},
        {"{\"data_reservation\":{},\"customer_tid\":1,\"customer_signature\":\"00\"}", "json"},
        {"{\"json\":\"{}\",\"data_reservation\":{},\"customer_tid\":1,"
         "\"customer_signature\":\"xyz\"}",
         "customer_signature"},
        {"{\"json\":\"{}\",\"data_reservation\":{},\"customer_tid\":1,\"customer_signature\":"
         "\"" /* 128 hex digits */
         "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
         "000000000000000000000000000000000000000000\",\"sponsor_tid\":5}",
         "sponsor_tid"},
    };
    fixture_t *f = *state;
    who_t alice;
    char *big;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = raw_pool_body(cases[i].data, &alice);
        expect_error(f, "/api/v1/reservations/pools", body, 400, cases[i].needle);
        free(body);
    }
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        expect_error(f, "/api/v1/reservations/pools", bodies[i].body, 400, bodies[i].needle);
    big = malloc(SIM_REGISTRY_MAX_BODY + 2); /* one byte over the cap */
    assert_non_null(big);
    memset(big, ' ', SIM_REGISTRY_MAX_BODY + 1);
    big[0] = '{';
    big[SIM_REGISTRY_MAX_BODY] = '}';
    big[SIM_REGISTRY_MAX_BODY + 1] = '\0';
    /* h2o itself refuses it (in plain text) before any handler runs. */
    assert_int_equal(http(f, "POST", "/api/v1/reservations/pools", big, NULL), 413);
    free(big);
    expect_nothing_reserved(f);
}

/* ---- extensions ---- */

static void test_pool_extension_must_keep_every_node(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e, x;
    pool_data_t fewer = {0, 100, 0, 0, {NULL}, 1}, more = {0, 100, 0, 0, {NULL}, 3};
    char *body;
    json_t *p;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    paid_pool(f, &alice, 1000, 0, &e);

    fewer.pool_id = e.id;
    fewer.nodes[0] = node(f, 0);
    body = pool_body(&fewer, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "can not be removed");
    free(body);

    /* Adding a node of the same farm is fine; it joins the pool once paid. */
    more.pool_id = e.id;
    more.nodes[0] = node(f, 0);
    more.nodes[1] = node(f, 1);
    more.nodes[2] = node(f, 2);
    reserve(f, &more, &alice, &x);
    assert_int_equal(x.id, e.id + 1);
    p = pool(f, e.id);
    assert_int_equal(json_array_size(json_object_get(p, "node_ids")), 2);
    json_decref(p);
    {
        char m[SIM_MEMO_MAX + 1];
        memo(x.id, m);
        pay(f, x.address, x.amount, m);
    }
    json_decref(wait_payment(f, x.id, "released"));
    p = pool(f, e.id);
    assert_int_equal(json_array_size(json_object_get(p, "node_ids")), 3);
    assert_true(sim_num(p, "cus") == 1100);
    json_decref(p);

    /* A node of another farm cannot join. */
    more.nodes[3] = node(f, 3);
    more.n_nodes = 4;
    body = pool_body(&more, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "same farm");
    free(body);
}

static void test_pool_empty_extension_is_rejected(void **state)
{
    fixture_t *f = *state;
    who_t alice, bob;
    escrow_info_t e, x;
    pool_data_t same = {0, 0, 0, 0, {NULL}, 2}, missing = {404, 10, 0, 0, {NULL}, 1};
    char *body;
    json_t *j;
    sim_who_init(&alice, "alice.3bot", 1);
    sim_who_init(&bob, "bob.3bot", 2);
    register_user(f, &alice);
    register_user(f, &bob);
    paid_pool(f, &alice, 1000, 0, &e);

    same.pool_id = e.id;
    same.nodes[0] = node(f, 0);
    same.nodes[1] = node(f, 1);
    body = pool_body(&same, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "no observable results");
    free(body);

    /* Someone else's pool, and a pool that does not exist. */
    same.cus = 10;
    body = pool_body(&same, bob.tid, &bob);
    expect_error(f, "/api/v1/reservations/pools", body, 403, "another customer");
    free(body);
    missing.nodes[0] = node(f, 0);
    body = pool_body(&missing, alice.tid, &alice);
    expect_error(f, "/api/v1/reservations/pools", body, 400, "pool_id");
    free(body);

    /* 0/0/0 that adds a node is observable: its amount is 0, so it is paid at once. */
    same.cus = 0;
    same.nodes[2] = node(f, 2);
    same.n_nodes = 3;
    reserve(f, &same, &alice, &x);
    assert_int_equal(x.amount, 0);
    j = payment(f, x.id);
    assert_true(flag(j, "paid") && flag(j, "released"));
    json_decref(j);
    j = pool(f, e.id);
    assert_int_equal(json_array_size(json_object_get(j, "node_ids")), 3);
    assert_true(sim_num(j, "cus") == 1000);
    json_decref(j);
}

/* ---- amounts ---- */

static void test_pool_amount_follows_the_mainnet_prices(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e;
    pool_data_t d = {0, 2592000, 86400, 3600, {NULL}, 1};
    json_t *prices;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    d.nodes[0] = node(f, 0);
    reserve(f, &d, &alice, &e);
    assert_int_equal(e.amount, 2592000ULL * 385 + 86400ULL * 308 + 3600ULL * 231);
    assert_int_equal(get(f, "/api/v1/prices", &prices), 200);
    assert_true(sim_num(prices, "CuPriceDollarMonth") == 10 &&
                sim_num(prices, "SuPriceDollarMonth") == 8);
    json_decref(prices);
}

static void test_pool_amount_is_divided_by_ten_on_testnet(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e;
    pool_data_t d = {0, 2592000, 86401, 7, {NULL}, 1};
    json_t *prices;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    d.nodes[0] = node(f, 0);
    reserve(f, &d, &alice, &e);
    /* tfexplorer: (cus*385 + sus*308 + ipv4us*231) / 10, rounded down. */
    assert_int_equal(e.amount, (2592000ULL * 385 + 86401ULL * 308 + 7ULL * 231) / 10);
    assert_int_equal(get(f, "/api/v1/prices", &prices), 200);
    assert_true(sim_num(prices, "CuPriceDollarMonth") == 1 &&
                sim_num(prices, "TftPriceMill") == 100);
    json_decref(prices);
}

/* ---- the escrow ---- */

static void test_pool_payment_with_the_memo_pays_out_and_adds_capacity(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e;
    pool_data_t d = {0, 1000, 500, 2, {NULL}, 2};
    char m[SIM_MEMO_MAX + 1], farm[SIM_ADDRESS_LEN + 1];
    uint64_t amount = 1000 * 385 + 500 * 308 + 2 * 231;
    json_t *j;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    d.nodes[0] = node(f, 0);
    d.nodes[1] = node(f, 2);
    reserve(f, &d, &alice, &e);
    assert_int_equal(e.amount, amount);
    memo(e.id, m);
    pay(f, e.address, amount, m);

    j = wait_payment(f, e.id, "released");
    assert_true(flag(j, "paid"));
    assert_false(flag(j, "canceled"));
    json_decref(j);
    j = pool(f, e.id);
    assert_true(sim_num(j, "cus") == 1000 && sim_num(j, "sus") == 500 && sim_num(j, "ipv4us") == 2);
    assert_true(sim_int(j, "empty_at") == INT64_MAX);
    json_decref(j);

    /* Farmer 90%, foundation 10%, nothing left in the escrow. */
    assert_true(sim_registry_farm_address(f->ctx.registry, 1, farm));
    assert_int_equal(balance(f, farm), amount - amount / 10);
    assert_int_equal(balance(f, sim_registry_foundation_address(f->ctx.registry)), amount / 10);
    assert_int_equal(balance(f, e.address), 0);
}

static void test_pool_payment_with_a_wrong_memo_is_not_counted(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e;
    pool_data_t d = {0, 1000, 0, 0, {NULL}, 1};
    char m[SIM_MEMO_MAX + 1];
    json_t *j;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    d.nodes[0] = node(f, 0);
    reserve(f, &d, &alice, &e);
    pay(f, e.address, e.amount, "p-999");
    pay(f, e.address, e.amount, "");
    run_for(f, 4 * SIM_ESCROW_TICK_MS);
    j = payment(f, e.id);
    assert_false(flag(j, "paid"));
    json_decref(j);
    j = pool(f, e.id);
    assert_true(sim_num(j, "cus") == 0);
    json_decref(j);

    /* The watcher was watching: the right memo is seen. */
    memo(e.id, m);
    pay(f, e.address, e.amount, m);
    json_decref(wait_payment(f, e.id, "released"));
    assert_int_equal(balance(f, e.address), 2 * e.amount); /* the wrong ones stay there */
}

static void test_pool_short_payment_is_not_paid(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e;
    pool_data_t d = {0, 1000, 0, 0, {NULL}, 1};
    char m[SIM_MEMO_MAX + 1];
    json_t *j;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    d.nodes[0] = node(f, 0);
    reserve(f, &d, &alice, &e);
    memo(e.id, m);
    pay(f, e.address, e.amount - 1, m);
    run_for(f, 4 * SIM_ESCROW_TICK_MS);
    j = payment(f, e.id);
    assert_false(flag(j, "paid") || flag(j, "released"));
    json_decref(j);

    /* Payments with the memo add up. */
    pay(f, e.address, 1, m);
    json_decref(wait_payment(f, e.id, "released"));
    j = pool(f, e.id);
    assert_true(sim_num(j, "cus") == 1000);
    json_decref(j);
}

static void test_pool_reservation_expires_after_an_hour_of_simulated_time(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e;
    pool_data_t d = {0, 1000, 0, 0, {NULL}, 1};
    char m[SIM_MEMO_MAX + 1];
    int64_t created;
    json_t *j;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    d.nodes[0] = node(f, 0);
    created = sim_now(&f->ctx.world);
    reserve(f, &d, &alice, &e);
    j = wait_payment(f, e.id, "canceled");
    assert_string_equal(gs_json_str(j, "cause"), "payment timeout");
    assert_false(flag(j, "paid") || flag(j, "released"));
    assert_true(sim_int(j, "expiration") >= created + 3600);
    assert_true(sim_now(&f->ctx.world) >= sim_int(j, "expiration"));
    json_decref(j);

    /* Paying after the timeout changes nothing. */
    memo(e.id, m);
    pay(f, e.address, e.amount, m);
    run_for(f, 3 * SIM_ESCROW_TICK_MS);
    j = payment(f, e.id);
    assert_false(flag(j, "paid"));
    json_decref(j);
    j = pool(f, e.id);
    assert_true(sim_num(j, "cus") == 0);
    json_decref(j);
}

/* ---- draining ---- */

static void test_pool_drains_with_active_units_and_computes_empty_at(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e;
    json_t *a, *b;
    double cus, sus;
    int64_t lu;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    paid_pool(f, &alice, 100000, 40000, &e);

    a = pool(f, e.id);
    assert_true(sim_int(a, "empty_at") == INT64_MAX);
    json_decref(a);
    units(f, e.id, 12290, 1.0, 0.5, true);
    units(f, e.id, 12290, 1.0, 0.5, true); /* once per workload */
    a = pool(f, e.id);
    assert_true(sim_num(a, "active_cu") == 1.0 && sim_num(a, "active_su") == 0.5);
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(a, "active_workload_ids"), 0)), 12290);
    cus = sim_num(a, "cus");
    sus = sim_num(a, "sus");
    lu = sim_int(a, "last_updated");
    /* SU runs out first: 40000 / 0.5 = 80000 s against 100000 s of CU. */
    assert_true(sim_int(a, "empty_at") == lu + (int64_t)fmin(cus / 1.0, sus / 0.5));

    run_for(f, 600); /* about 60 simulated seconds */
    b = pool(f, e.id);
    assert_true(sim_int(b, "last_updated") > lu);
    assert_true(sim_num(b, "cus") == cus - 1.0 * (double)(sim_int(b, "last_updated") - lu));
    assert_true(sim_num(b, "sus") == sus - 0.5 * (double)(sim_int(b, "last_updated") - lu));
    assert_true(sim_num(b, "cus") < cus);
    assert_true(sim_int(b, "empty_at") == sim_int(a, "empty_at"));
    json_decref(a);
    json_decref(b);

    /* Idle again: nothing drains, empty_at is MaxInt64. */
    units(f, e.id, 12290, 1.0, 0.5, false);
    a = pool(f, e.id);
    assert_true(sim_int(a, "empty_at") == INT64_MAX);
    assert_true(sim_num(a, "active_cu") == 0 && sim_num(a, "active_su") == 0);
    assert_int_equal(json_array_size(json_object_get(a, "active_workload_ids")), 0);
    json_decref(a);
}

static void test_pool_running_dry_calls_the_hook(void **state)
{
    fixture_t *f = *state;
    who_t alice;
    escrow_info_t e;
    json_t *j;
    sim_who_init(&alice, "alice.3bot", 1);
    register_user(f, &alice);
    sim_registry_on_pool_dry(f->ctx.registry, on_dry, f);
    paid_pool(f, &alice, 50, 0, &e); /* 50 CU-seconds: half a real second at 1 CU */
    units(f, e.id, 7, 1.0, 0, true);
    for (int i = 0; i < 100 && f->dry_calls == 0; i++)
        run_for(f, 50);
    assert_int_equal(f->dry_calls, 1);
    assert_int_equal(f->dry_pool, e.id);
    assert_true(f->dry_cus == 0); /* synced before the hook: the CUs are gone */
    j = pool(f, e.id);
    assert_true(sim_num(j, "cus") == 0);
    assert_true(sim_int(j, "empty_at") <= sim_now(&f->ctx.world));
    json_decref(j);
    run_for(f, 3 * SIM_ESCROW_TICK_MS); /* once per empty_at */
    assert_int_equal(f->dry_calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_phonebook_registers_looks_up_and_refuses_a_taken_name,
                                        setup_mainnet, teardown),
        cmocka_unit_test_setup_teardown(test_phonebook_refuses_malformed_registrations,
                                        setup_mainnet, teardown),
        cmocka_unit_test_setup_teardown(test_pool_reservation_signed_by_the_customer_is_accepted,
                                        setup_mainnet, teardown),
        cmocka_unit_test_setup_teardown(test_pool_signature_by_another_key_is_rejected,
                                        setup_mainnet, teardown),
        cmocka_unit_test_setup_teardown(test_pool_json_differing_from_data_reservation_is_rejected,
                                        setup_mainnet, teardown),
        cmocka_unit_test_setup_teardown(test_pool_nodes_must_be_known_distinct_and_in_one_farm,
                                        setup_mainnet, teardown),
        cmocka_unit_test_setup_teardown(test_pool_malformed_requests_name_the_field, setup_mainnet,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pool_extension_must_keep_every_node, setup_mainnet,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pool_empty_extension_is_rejected, setup_mainnet,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pool_amount_follows_the_mainnet_prices, setup_mainnet,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pool_amount_is_divided_by_ten_on_testnet,
                                        setup_testnet, teardown),
        cmocka_unit_test_setup_teardown(test_pool_payment_with_the_memo_pays_out_and_adds_capacity,
                                        setup_mainnet, teardown),
        cmocka_unit_test_setup_teardown(test_pool_payment_with_a_wrong_memo_is_not_counted,
                                        setup_mainnet, teardown),
        cmocka_unit_test_setup_teardown(test_pool_short_payment_is_not_paid, setup_mainnet,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_pool_reservation_expires_after_an_hour_of_simulated_time, setup_fast, teardown),
        cmocka_unit_test_setup_teardown(test_pool_drains_with_active_units_and_computes_empty_at,
                                        setup_draining, teardown),
        cmocka_unit_test_setup_teardown(test_pool_running_dry_calls_the_hook, setup_draining,
                                        teardown),
    };
    int rc;
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
