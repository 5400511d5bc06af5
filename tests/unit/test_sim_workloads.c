/* test_sim_workloads.c — the explorer's workloads in the local grid through the real
 * HTTP API: POST with HTTP-signature auth and the customer signature over the
 * workload's challenge, the node and pool rules (400/403/402), units on the pool, GET
 * one and the paged list, sign/delete with its quorum, and the deletion of the
 * workloads that use a resource of a pool that ran dry. The explorer's routes run on
 * the test's loop and requests come from client threads (tests/support/sim_http.c);
 * the challenges and signatures are built here from the reference, independently of
 * the sim's code. Pools are funded on the chain directly between requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>
#include <uv.h>

#include "chain.h"
#include "ctx.h"
#include "explorer.h"
#include "registry.h"
#include "sim_http.h"
#include "workloads.h"

/* ---- the grid, on the test's loop ---- */

typedef struct {
    sim_world_opts_t opts;
    sim_ctx_t ctx;
    uv_loop_t loop;
    uv_async_t wake;
    gs_httpd_t *httpd;
    sim_http_t http;
    sim_who_t alice, bob, carol;
} fixture_t;

static int setup_with(void **state, double time_scale)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->opts = (sim_world_opts_t){.seed = 7,
                                 .n_farms = 3,
                                 .nodes_per_farm = 3,
                                 .network = SIM_MAINNET,
                                 .time_scale = time_scale};
    assert_int_equal(uv_loop_init(&f->loop), 0);
    sim_grid_open(&f->loop, &f->wake, &f->ctx, &f->opts, true, &f->httpd, &f->http);
    sim_who_init(&f->alice, "alice.3bot", 1);
    sim_who_init(&f->bob, "bob.3bot", 2);
    sim_who_init(&f->carol, "carol.3bot", 3);
    sim_register_user(&f->http, &f->alice);
    sim_register_user(&f->http, &f->bob);
    sim_register_user(&f->http, &f->carol);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 1);
}

/* 1000 simulated seconds a real second: a small pool runs dry in a fraction of one. */
static int setup_fast(void **state)
{
    return setup_with(state, 1000);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sim_grid_close(f->httpd, &f->ctx, &f->wake);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    sim_workloads_free(f->ctx.workloads);
    sim_chain_free(f->ctx.chain);
    sim_world_free(&f->ctx.world);
    free(f);
    return 0;
}

static const char *node(fixture_t *f, size_t i)
{
    return f->ctx.world.nodes[i].node_id; /* nodes 0-2 in farm 1, 3-5 in farm 2, ... */
}

static long get(fixture_t *f, const char *path, json_t **out, char pages[32])
{
    return sim_http_request(&f->http, "GET", path, NULL, NULL, out, pages);
}

static bool near(double a, double b)
{
    return a - b < 1e-9 && b - a < 1e-9;
}

/* ---- pools: reserved, paid on the chain, released ---- */

static int64_t paid_pool(fixture_t *f, const sim_who_t *w, int64_t cus, int64_t sus)
{
    return sim_paid_pool(&f->http, &f->ctx, w, cus, sus);
}

static json_t *pool(fixture_t *f, int64_t id)
{
    char path[96];
    json_t *j;
    snprintf(path, sizeof path, "/api/v1/reservations/pools/%lld", (long long)id);
    assert_int_equal(get(f, path, &j, NULL), 200);
    return j;
}

/* ---- workloads, their challenges and signatures (reference §1.6) ---- */

/* The container challenge; the test's containers have env {"A":"1","B":"2"} written
 * in reverse order, one secret, one volume and one network connection. */
static void container_challenge(const json_t *w, gs_buf_t *ch)
{
    const json_t *cap = json_object_get(w, "capacity");
    sim_info_challenge(w, "CONTAINER", ch);
    assert_int_equal(gs_buf_printf(ch, "%s%s%s%s", gs_json_str(w, "flist"),
                                   gs_json_str(w, "hub_url"), gs_json_str(w, "entrypoint"),
                                   "false"),
                     GS_OK);
    assert_int_equal(gs_buf_printf(ch, "A=1B=2S=secret"
                                       "7-1/data"
                                       "net1"
                                       "10.1.2.3"
                                       "false"),
                     GS_OK);
    assert_int_equal(gs_buf_printf(ch, "%lld%lld%lld%s", (long long)sim_int(cap, "cpu"),
                                   (long long)sim_int(cap, "memory"),
                                   (long long)sim_int(cap, "disk_size"),
                                   sim_int(cap, "disk_type") ? "ssd" : "hdd"),
                     GS_OK);
}

/* Sets customer_signature on w, signed with sk over its challenge. */
static void sign_workload(json_t *w, const unsigned char *sk)
{
    gs_buf_t ch;
    char sig[129];
    gs_buf_init(&ch, 1u << 20);
    if (sim_int(w, "workload_type") == 0)
        sim_zdb_challenge(w, &ch);
    else
        container_challenge(w, &ch);
    sim_sign_hashed(sk, ch.data, ch.len, "", sig);
    json_object_set_new(w, "customer_signature", json_string(sig));
    gs_buf_free(&ch);
}

static json_t *zdb(fixture_t *f, const sim_who_t *w, int64_t pool_id, size_t node_i, int64_t size)
{
    return json_pack("{s:i, s:s, s:I, s:s, s:s, s:{s:[I], s:i}, s:I, s:I, s:s, s:i, s:I, s:i, "
                     "s:s, s:i, s:b}",
                     "workload_id", 1, "node_id", node(f, node_i), "pool_id", (json_int_t)pool_id,
                     "reference", "", "description", "a backend", "signing_request_delete",
                     "signers", (json_int_t)w->tid, "quorum_min", 1, "customer_tid",
                     (json_int_t)w->tid, "epoch", (json_int_t)1600867642, "metadata", "",
                     "workload_type", 0, "size", (json_int_t)size, "mode", 0, "password", "abcdef",
                     "disk_type", 0, "public", 0);
}

static json_t *container(fixture_t *f, const sim_who_t *w, int64_t pool_id, int64_t cpu,
                         int64_t memory, int64_t disk, int disk_type)
{
    /* reference and description absent: the challenge counts them as "". */
    return json_pack("{s:i, s:s, s:I, s:I, s:I, s:s, s:i, s:s, s:s, s:s, s:b, "
                     "s:{s:s, s:s}, s:{s:s}, s:[{s:s, s:s}], s:[{s:s, s:s, s:b}], "
                     "s:{s:I, s:I, s:I, s:i}}",
                     "workload_id", 2, "node_id", node(f, 1), "pool_id", (json_int_t)pool_id,
                     "customer_tid", (json_int_t)w->tid, "epoch", (json_int_t)1600867642,
                     "metadata", "", "workload_type", 1, "flist",
                     "https://hub.grid.tf/gridstor/gw.flist", "hub_url", "https://hub.grid.tf",
                     "entrypoint", "/bin/gw", "interactive", 0, "environment", "B", "2", "A", "1",
                     "secret_environment", "S", "secret", "volumes", "volume_id", "7-1",
                     "mountpoint", "/data", "network_connection", "network_id", "net1", "ipaddress",
                     "10.1.2.3", "public_ip6", 0, "capacity", "cpu", (json_int_t)cpu, "memory",
                     (json_int_t)memory, "disk_size", (json_int_t)disk, "disk_type", disk_type);
}

static long post_as(fixture_t *f, const json_t *w, const sim_who_t *signer, int64_t key_tid,
                    json_t **out)
{
    return sim_post_workload(&f->http, w, signer, key_tid, out);
}

/* Signs w as its customer, POSTs it and expects 201; returns the workload id. */
static int64_t deploy(fixture_t *f, json_t *w, const sim_who_t *who)
{
    json_t *j;
    long status;
    int64_t id;
    sign_workload(w, who->sk);
    status = post_as(f, w, who, who->tid, &j);
    if (status != 201)
        fail_msg("deploy: %ld %s", status, gs_json_str(j, "error"));
    id = sim_int(j, "reservation_id");
    json_decref(j);
    return id;
}

/* POSTs w as its customer and expects `status` with an error mentioning needle. */
static void expect_refused(fixture_t *f, const json_t *w, const sim_who_t *signer, int64_t key_tid,
                           long status, const char *needle)
{
    json_t *j;
    long got = post_as(f, w, signer, key_tid, &j);
    const char *msg = gs_json_str(j, "error");
    if (got != status || msg == NULL || strstr(msg, needle) == NULL)
        fail_msg("POST workload: got %ld %s, expected %ld mentioning '%s'", got,
                 msg ? msg : "(no error)", status, needle);
    json_decref(j);
}

static json_t *workload(fixture_t *f, int64_t id)
{
    char path[96];
    json_t *j;
    snprintf(path, sizeof path, "/api/v1/reservations/workloads/%lld", (long long)id);
    assert_int_equal(get(f, path, &j, NULL), 200);
    return j;
}

static size_t count(fixture_t *f, const char *query)
{
    char path[256];
    json_t *j;
    size_t n;
    snprintf(path, sizeof path, "/api/v1/reservations/workloads%s", query);
    assert_int_equal(get(f, path, &j, NULL), 200);
    n = json_array_size(j);
    json_decref(j);
    return n;
}

/* ---- creation ---- */

static void test_zdb_workload_with_valid_auth_and_signature_is_deployed(void **state)
{
    fixture_t *f = *state;
    int64_t pid = paid_pool(f, &f->alice, 100000, 100000), id;
    json_t *w = zdb(f, &f->alice, pid, 0, 10), *j, *p;
    id = deploy(f, w, &f->alice);
    assert_int_equal(id, 1);
    j = workload(f, id);
    assert_int_equal(sim_int(j, "id"), id);
    assert_int_equal(sim_int(j, "next_action"), 3);
    assert_int_equal(sim_int(j, "version"), 2);
    assert_int_equal(sim_int(j, "epoch"), 1600867642);
    assert_int_equal(sim_int(j, "size"), 10);
    assert_true(json_is_object(json_object_get(j, "result")));
    assert_int_equal(json_object_size(json_object_get(j, "result")), 0);
    json_decref(j);
    /* 10 GiB HDD = 10/1200 SU, rounded to 0.008 */
    p = pool(f, pid);
    assert_true(near(sim_num(p, "active_su"), 0.008));
    assert_true(near(sim_num(p, "active_cu"), 0));
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(p, "active_workload_ids"), 0)), id);
    json_decref(p);
    /* SSD counts four times as much: 10/300 = 0.033. */
    json_object_set_new(w, "disk_type", json_integer(1));
    deploy(f, w, &f->alice);
    p = pool(f, pid);
    assert_true(near(sim_num(p, "active_su"), 0.041));
    json_decref(p);
    /* The legacy prefix serves the same workload. */
    assert_int_equal(get(f, "/explorer/reservations/workloads/1", &j, NULL), 200);
    assert_int_equal(sim_int(j, "id"), 1);
    json_decref(j);
    assert_int_equal(get(f, "/api/v1/reservations/workloads/99", &j, NULL), 404);
    json_decref(j);
    json_decref(w);
}

static void test_workload_auth_is_required_and_must_be_the_customers(void **state)
{
    fixture_t *f = *state;
    int64_t pid = paid_pool(f, &f->alice, 100000, 100000);
    json_t *w = zdb(f, &f->alice, pid, 0, 10);
    sign_workload(w, f->alice.sk);
    expect_refused(f, w, NULL, 0, 401, "Authorization");
    /* Bob's valid request auth, for Alice's workload. */
    expect_refused(f, w, &f->bob, f->bob.tid, 401, "customer_tid");
    /* keyId Alice, signed with Bob's key. */
    expect_refused(f, w, &f->bob, f->alice.tid, 401, "does not verify");
    /* keyId of nobody. */
    expect_refused(f, w, &f->alice, 999, 401, "keyId");
    /* Tampered: signed over size 10, sent with size 20. */
    json_object_set_new(w, "size", json_integer(20));
    expect_refused(f, w, &f->alice, f->alice.tid, 400, "customer_signature");
    /* Signed by Bob's key as customer Alice. */
    sign_workload(w, f->bob.sk);
    expect_refused(f, w, &f->alice, f->alice.tid, 400, "customer_signature");
    assert_int_equal(count(f, ""), 0); /* nothing stored */
    json_decref(w);
}

static void test_workload_node_and_pool_rules(void **state)
{
    fixture_t *f = *state;
    int64_t mine = paid_pool(f, &f->alice, 100000, 100000);
    int64_t bobs = paid_pool(f, &f->bob, 100000, 100000);
    json_t *w = zdb(f, &f->alice, mine, 0, 10);
    json_object_set_new(w, "node_id", json_string("NoSuchNode1111111111111111111111111"));
    sign_workload(w, f->alice.sk);
    expect_refused(f, w, &f->alice, f->alice.tid, 400, "node_id");
    json_decref(w);
    /* A node that is down. */
    w = zdb(f, &f->alice, mine, 0, 10);
    sign_workload(w, f->alice.sk);
    f->ctx.world.nodes[0].down_since = sim_now(&f->ctx.world) - 3600;
    expect_refused(f, w, &f->alice, f->alice.tid, 400, "down");
    f->ctx.world.nodes[0].down_since = 0;
    json_decref(w);
    /* Bob's pool. */
    w = zdb(f, &f->alice, bobs, 0, 10);
    sign_workload(w, f->alice.sk);
    expect_refused(f, w, &f->alice, f->alice.tid, 403, "another customer");
    json_decref(w);
    /* Node 2 is in farm 1 but not in the pool. */
    w = zdb(f, &f->alice, mine, 2, 10);
    sign_workload(w, f->alice.sk);
    expect_refused(f, w, &f->alice, f->alice.tid, 403, "not part of the pool");
    json_decref(w);
    /* A pool that does not exist. */
    w = zdb(f, &f->alice, 77, 0, 10);
    sign_workload(w, f->alice.sk);
    expect_refused(f, w, &f->alice, f->alice.tid, 400, "pool_id");
    json_decref(w);
    assert_int_equal(count(f, ""), 0);
}

static void test_malformed_workloads_name_the_field(void **state)
{
    fixture_t *f = *state;
    int64_t pid = paid_pool(f, &f->alice, 100000, 100000);
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"size", "\"10\"", "size"},
        {"size", "0", "size"},
        {"mode", "2", "mode"},
        {"disk_type", "-1", "disk_type"},
        {"public", "1", "public"},
        {"workload_type", "3", "unsupported workload type"},
        {"flist", "\"x\"", "flist"},
        {"pool_id", "0", "pool_id"},
        {"customer_tid", "null", "customer_tid"},
        {"signing_request_delete", "{\"signers\":[0],\"quorum_min\":1}", "signing_request_delete"},
    };
    char *big;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *w = zdb(f, &f->alice, pid, 0, 10);
        sign_workload(w, f->alice.sk);
        json_object_set_new(w, cases[i].key, json_loads(cases[i].value, JSON_DECODE_ANY, NULL));
        expect_refused(f, w, &f->alice, f->alice.tid, 400, cases[i].needle);
        json_decref(w);
    }
    {
        json_t *w = zdb(f, &f->alice, pid, 0, 10);
        sign_workload(w, f->alice.sk);
        json_object_del(w, "size");
        expect_refused(f, w, &f->alice, f->alice.tid, 400, "size");
        json_decref(w);
    }
    /* Over the 64 KiB cap: h2o refuses it before the handler. */
    big = malloc(SIM_WORKLOADS_MAX_BODY + 2);
    assert_non_null(big);
    memset(big, ' ', SIM_WORKLOADS_MAX_BODY + 1);
    big[0] = '{';
    big[SIM_WORKLOADS_MAX_BODY] = '}';
    big[SIM_WORKLOADS_MAX_BODY + 1] = '\0';
    assert_int_equal(
        sim_http_request(&f->http, "POST", "/api/v1/reservations/workloads", NULL, big, NULL, NULL),
        413);
    free(big);
    assert_int_equal(count(f, ""), 0);
}

static void test_workload_beyond_the_pools_capacity_is_402_and_invalid(void **state)
{
    fixture_t *f = *state;
    int64_t pid = paid_pool(f, &f->alice, 100000, 0); /* CUs only: no SU to carry a 0-db */
    json_t *w = zdb(f, &f->alice, pid, 0, 10), *list, *p;
    char path[128];
    sign_workload(w, f->alice.sk);
    expect_refused(f, w, &f->alice, f->alice.tid, 402,
                   "pool needs additional capacity to support this workload");
    snprintf(path, sizeof path, "/api/v1/reservations/workloads?customer_tid=%lld&next_action=5",
             (long long)f->alice.tid);
    assert_int_equal(get(f, path, &list, NULL), 200);
    assert_int_equal(json_array_size(list), 1);
    assert_int_equal(sim_int(json_array_get(list, 0), "next_action"), 5);
    json_decref(list);
    p = pool(f, pid);
    assert_true(near(sim_num(p, "active_su"), 0));
    assert_int_equal(json_array_size(json_object_get(p, "active_workload_ids")), 0);
    json_decref(p);
    json_decref(w);
}

static void test_container_workload_counts_its_cu_and_disk_beyond_50_gb(void **state)
{
    fixture_t *f = *state;
    int64_t pid = paid_pool(f, &f->alice, 100000, 100000), id;
    json_t *w = container(f, &f->alice, pid, 1, 1024, 2048, 1), *j, *p;
    id = deploy(f, w, &f->alice);
    j = workload(f, id);
    assert_int_equal(sim_int(j, "workload_type"), 1);
    assert_int_equal(sim_int(j, "next_action"), 3);
    json_decref(j);
    p = pool(f, pid);
    assert_true(near(sim_num(p, "active_cu"), 0.25)); /* min(1/4, 1/2) */
    assert_true(near(sim_num(p, "active_su"), 0));    /* 2 GB of the free 50 */
    json_decref(p);
    json_decref(w);
    /* 2 cpu, 400 MiB: mru 0.3906 -> cu 0.098; 62 GB HDD: 12 GB -> su 0.01. */
    w = container(f, &f->alice, pid, 2, 400, 62 * 1024, 0);
    deploy(f, w, &f->alice);
    p = pool(f, pid);
    assert_true(near(sim_num(p, "active_cu"), 0.348));
    assert_true(near(sim_num(p, "active_su"), 0.01));
    json_decref(p);
    /* A tampered environment breaks the signature. */
    json_object_set_new(json_object_get(w, "environment"), "A", json_string("9"));
    expect_refused(f, w, &f->alice, f->alice.tid, 400, "customer_signature");
    json_decref(w);
}

static void test_workload_list_filters_and_pages(void **state)
{
    fixture_t *f = *state;
    int64_t pa = paid_pool(f, &f->alice, 100000, 100000),
            pb = paid_pool(f, &f->bob, 100000, 100000);
    char q[160], pages[32];
    json_t *j;
    for (int i = 0; i < 3; i++) {
        json_t *w = zdb(f, &f->alice, pa, 0, 10 + i);
        deploy(f, w, &f->alice);
        json_decref(w);
    }
    {
        json_t *w = container(f, &f->alice, pa, 1, 1024, 0, 0);
        deploy(f, w, &f->alice);
        json_decref(w);
        w = zdb(f, &f->bob, pb, 1, 5);
        deploy(f, w, &f->bob);
        json_decref(w);
    }
    assert_int_equal(get(f, "/api/v1/reservations/workloads", &j, pages), 200);
    assert_int_equal(json_array_size(j), 5);
    assert_string_equal(pages, "1");
    json_decref(j);
    snprintf(q, sizeof q, "/api/v1/reservations/workloads?customer_tid=%lld&workload_type=0&size=2",
             (long long)f->alice.tid);
    assert_int_equal(get(f, q, &j, pages), 200);
    assert_int_equal(json_array_size(j), 2);
    assert_string_equal(pages, "2");
    assert_int_equal(sim_int(json_array_get(j, 0), "id"), 1);
    json_decref(j);
    strcat(q, "&page=2");
    assert_int_equal(get(f, q, &j, pages), 200);
    assert_int_equal(json_array_size(j), 1);
    assert_int_equal(sim_int(json_array_get(j, 0), "size"), 12);
    json_decref(j);
    assert_int_equal(count(f, "?workload_type=1"), 1);
    assert_int_equal(count(f, "?next_action=3"), 5);
    assert_int_equal(count(f, "?next_action=6"), 0);
    snprintf(q, sizeof q, "?customer_tid=%lld", (long long)f->bob.tid);
    assert_int_equal(count(f, q), 1);
    assert_int_equal(get(f, "/explorer/reservations/workloads?page=9", &j, pages), 200);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    static const char *const bad[] = {"?size=0",         "?size=1001",     "?page=0",
                                      "?page=abc",       "?next_action=8", "?customer_tid=-1",
                                      "?workload_type=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(q, sizeof q, "/api/v1/reservations/workloads%s", bad[i]);
        assert_int_equal(get(f, q, &j, NULL), 400);
        json_decref(j);
    }
}

/* ---- sign/delete ---- */

static long sign_as(fixture_t *f, int64_t id, const char *what, const json_t *w,
                    const sim_who_t *signer, int64_t tid, json_t **out)
{
    gs_buf_t ch;
    long status;
    gs_buf_init(&ch, 1u << 20);
    if (sim_int(w, "workload_type") == 0)
        sim_zdb_challenge(w, &ch);
    else
        container_challenge(w, &ch);
    status = sim_sign_workload_request(&f->http, id, what, &ch, signer, tid, out);
    gs_buf_free(&ch);
    return status;
}

static void expect_sign(fixture_t *f, int64_t id, const char *what, const json_t *w,
                        const sim_who_t *signer, int64_t tid, long status, const char *needle)
{
    json_t *j;
    long got = sign_as(f, id, what, w, signer, tid, &j);
    const char *msg = gs_json_str(j, "error");
    if (got != status || (needle && (msg == NULL || strstr(msg, needle) == NULL)))
        fail_msg("sign/%s: got %ld %s, expected %ld", what, got, msg ? msg : "", status);
    json_decref(j);
}

static void test_sign_delete_quorum_deletes_and_deactivates(void **state)
{
    fixture_t *f = *state;
    int64_t pid = paid_pool(f, &f->alice, 100000, 100000), id;
    json_t *w = zdb(f, &f->alice, pid, 0, 1200), *j, *p;
    json_object_set_new(w, "signing_request_delete",
                        json_pack("{s:[I, I], s:i}", "signers", (json_int_t)f->alice.tid,
                                  (json_int_t)f->bob.tid, "quorum_min", 2));
    json_object_set_new(
        w, "signing_request_provision",
        json_pack("{s:[I], s:i}", "signers", (json_int_t)f->bob.tid, "quorum_min", 1));
    id = deploy(f, w, &f->alice);
    p = pool(f, pid);
    assert_true(near(sim_num(p, "active_su"), 1));
    json_decref(p);

    /* Carol is not a signer; Bob's signature made with Alice's key does not verify. */
    expect_sign(f, id, "delete", w, &f->carol, f->carol.tid, 401, "not a signer");
    expect_sign(f, id, "delete", w, &f->alice, f->bob.tid, 401, "signature");
    /* A signature over "provision" is not one over "delete". */
    {
        json_t *e;
        gs_buf_t ch;
        char sig[129], path[128], *body;
        gs_buf_init(&ch, 1u << 20);
        sim_zdb_challenge(w, &ch);
        sim_sign_hashed(f->bob.sk, ch.data, ch.len, "provision2", sig);
        gs_buf_free(&ch);
        e = json_pack("{s:I, s:s, s:i}", "tid", (json_int_t)f->bob.tid, "signature", sig, "epoch",
                      1);
        body = gs_json_dumps(e);
        json_decref(e);
        snprintf(path, sizeof path, "/api/v1/reservations/workloads/%lld/sign/delete",
                 (long long)id);
        assert_int_equal(sim_http_request(&f->http, "POST", path, NULL, body, &e, NULL), 401);
        json_decref(e);
        free(body);
    }
    /* Bob signs: one of two. */
    expect_sign(f, id, "delete", w, &f->bob, f->bob.tid, 201, NULL);
    expect_sign(f, id, "delete", w, &f->bob, f->bob.tid, 400, "already signed");
    j = workload(f, id);
    assert_int_equal(sim_int(j, "next_action"), 3);
    assert_int_equal(json_array_size(json_object_get(j, "signatures_delete")), 1);
    json_decref(j);
    /* Provision signatures are stored. */
    expect_sign(f, id, "provision", w, &f->bob, f->bob.tid, 201, NULL);
    expect_sign(f, id, "provision", w, &f->alice, f->alice.tid, 401, "not a signer");
    j = workload(f, id);
    assert_int_equal(json_array_size(json_object_get(j, "signatures_provision")), 1);
    json_decref(j);

    /* Alice completes the quorum: deleted and its units gone from the pool. */
    expect_sign(f, id, "delete", w, &f->alice, f->alice.tid, 201, NULL);
    j = workload(f, id);
    assert_int_equal(sim_int(j, "next_action"), 6);
    assert_int_equal(json_array_size(json_object_get(j, "signatures_delete")), 2);
    json_decref(j);
    p = pool(f, pid);
    assert_true(near(sim_num(p, "active_su"), 0));
    assert_int_equal(json_array_size(json_object_get(p, "active_workload_ids")), 0);
    json_decref(p);
    /* Deleted is final. */
    expect_sign(f, id, "delete", w, &f->carol, f->carol.tid, 400, "not deployed");
    assert_int_equal(sign_as(f, 999, "delete", w, &f->alice, f->alice.tid, &j), 404);
    json_decref(j);
    json_decref(w);
}

/* ---- pools running dry ---- */

static void test_pool_running_dry_deletes_the_workloads_using_su(void **state)
{
    fixture_t *f = *state;
    /* Plenty of CU; 300 SU-seconds: a 1-SU 0-db drains them in 300 simulated s. */
    int64_t pid = paid_pool(f, &f->alice, 100000000, 300), zid, cid;
    json_t *z = zdb(f, &f->alice, pid, 0, 1200), *c = container(f, &f->alice, pid, 1, 1024, 0, 0);
    json_t *j, *p;
    zid = deploy(f, z, &f->alice);
    cid = deploy(f, c, &f->alice);
    for (int i = 0; i < 200; i++) {
        int64_t na;
        j = workload(f, zid);
        na = sim_int(j, "next_action");
        json_decref(j);
        if (na == 6)
            break;
        sim_http_run_for(&f->loop, 25);
    }
    j = workload(f, zid);
    assert_int_equal(sim_int(j, "next_action"), 6);
    json_decref(j);
    /* The container uses no SU: it stays, and so do its CUs on the pool. */
    j = workload(f, cid);
    assert_int_equal(sim_int(j, "next_action"), 3);
    json_decref(j);
    p = pool(f, pid);
    assert_true(near(sim_num(p, "active_su"), 0));
    assert_true(near(sim_num(p, "active_cu"), 0.25));
    assert_int_equal(json_array_size(json_object_get(p, "active_workload_ids")), 1);
    json_decref(p);
    json_decref(z);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_zdb_workload_with_valid_auth_and_signature_is_deployed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_workload_auth_is_required_and_must_be_the_customers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_workload_node_and_pool_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_workloads_name_the_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workload_beyond_the_pools_capacity_is_402_and_invalid,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_workload_counts_its_cu_and_disk_beyond_50_gb,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_workload_list_filters_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_delete_quorum_deletes_and_deactivates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pool_running_dry_deletes_the_workloads_using_su,
                                        setup_fast, teardown),
    };
    int rc;
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
