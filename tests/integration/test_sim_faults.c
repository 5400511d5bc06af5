/* test_sim_faults.c — the local grid's admin endpoint against the real gridstor-sim
 * ($GS_SIM) as a child process: a node taken down (its 0-db refuses connections, its
 * `updated` stops in the explorer) and up again, explorer faults by count and by time
 * (status and error shape, then normal answers), slow answers, a client that gives up
 * during a delay, the simulated clock moved so that an unpaid pool reservation expires,
 * a byte flipped in a node's 0-db (CHECK answers :0), and every bad body refused with a
 * message that says what to send. Each test stops its sim by pid and expects a clean
 * exit. */
#include "simproc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "reservation.h"

static void start(ts_sim_t *s)
{
    static const char *const args[] = {"--farms", "2", "--nodes-per-farm", "2", NULL};
    ts_sim_start(s, args);
    assert_true(s->admin[0] != '\0');
    assert_non_null(strstr(s->admin, "/admin"));
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* An admin request expected to answer `status`; returns the answer (json_decref it). */
static json_t *admin(const ts_sim_t *s, const char *method, const char *path, const char *body,
                     long status)
{
    json_t *j = NULL;
    long got = ts_http(method, s->admin, path, body, NULL, 10000, &j);
    if (got != status)
        fail_msg("%s /admin%s: %ld, expected %ld", method, path, got, status);
    assert_non_null(j);
    return j;
}

static void admin_ok(const ts_sim_t *s, const char *method, const char *path, const char *body)
{
    json_decref(admin(s, method, path, body, 200));
}

/* The node_id of node i in /admin/nodes order. */
static void node_id(const ts_sim_t *s, size_t i, char out[64])
{
    json_t *nodes = admin(s, "GET", "/nodes", NULL, 200);
    const json_t *n = json_array_get(nodes, i);
    assert_non_null(n);
    snprintf(out, 64, "%s", gs_json_str(n, "node_id"));
    assert_true(json_is_true(json_object_get(n, "up")));
    json_decref(nodes);
}

static int64_t explorer_updated(const ts_sim_t *s, const char *node)
{
    char path[128];
    json_t *j = NULL;
    int64_t updated = 0;
    snprintf(path, sizeof path, "/nodes/%s", node);
    assert_int_equal(ts_http("GET", s->explorer, path, NULL, NULL, 10000, &j), 200);
    assert_true(gs_json_int(j, "updated", &updated));
    json_decref(j);
    return updated;
}

static int64_t sim_time(const ts_sim_t *s)
{
    json_t *j = admin(s, "GET", "/time", NULL, 200);
    int64_t now = 0;
    assert_true(gs_json_int(j, "now", &now));
    json_decref(j);
    return now;
}

/* ---- a RESP client for the nodes' 0-dbs ---- */

/* Connects to the announced "HOST:PORT"; -1 with errno set when refused. */
static int zdb_connect(const char *addr)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    struct timeval tv = {.tv_sec = 5};
    char host[64];
    const char *colon = strrchr(addr, ':');
    int fd, err = 0;
    assert_non_null(colon);
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    assert_int_equal(getaddrinfo(host, colon + 1, &hints, &ai), 0);
    fd = socket(ai->ai_family, ai->ai_socktype, 0);
    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    errno = err;
    return fd;
}

/* Sends the command (argc strings) and checks that the whole reply is `expect`. */
static void zdb_expect(int fd, const char *expect, size_t expect_len, size_t argc,
                       const char *const *argv)
{
    size_t lens[8];
    gs_buf_t out, in;
    gs_resp_parser_t p;
    gs_resp_reply_t reply = {0};
    int rc = GS_RESP_MORE;
    gs_buf_init(&out, 1 << 16);
    gs_buf_init(&in, 1 << 16);
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    assert_int_equal(gs_resp_put_request(&out, argc, argv, lens), GS_OK);
    assert_int_equal(send(fd, out.data, out.len, MSG_NOSIGNAL), (ssize_t)out.len);
    gs_resp_parser_init(&p);
    while (rc == GS_RESP_MORE) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        assert_true(n > 0);
        assert_int_equal(gs_buf_append(&in, chunk, (size_t)n), GS_OK);
        rc = gs_resp_reply_parse(&p, in.data, in.len, &reply, NULL);
    }
    assert_int_equal(rc, GS_RESP_DONE);
    assert_int_equal(in.len, expect_len);
    assert_memory_equal(in.data, expect, expect_len);
    gs_resp_parser_free(&p);
    gs_buf_free(&out);
    gs_buf_free(&in);
}

#define ZDB_EXPECT(fd, expect, ...)                                                                \
    zdb_expect(fd, expect, sizeof expect - 1, GS_ARRAY_SIZE(((const char *const[]){__VA_ARGS__})), \
               (const char *const[]){__VA_ARGS__})

/* ---- nodes ---- */

static void test_node_down_refuses_its_0db_and_stops_reporting(void **state)
{
    ts_sim_t s;
    char node[64], other[64], path[128];
    int64_t updated, now;
    json_t *j;
    int fd;
    (void)state;
    start(&s);
    node_id(&s, 0, node);
    node_id(&s, 1, other);
    fd = zdb_connect(ts_sim_zdb(&s, node));
    assert_true(fd >= 0);
    ZDB_EXPECT(fd, "+PONG\r\n", "PING");
    close(fd);

    snprintf(path, sizeof path, "/nodes/%s/down", node);
    j = admin(&s, "POST", path, NULL, 200);
    assert_false(json_is_true(json_object_get(j, "up")));
    assert_true(gs_json_int(j, "down_since", &updated));
    json_decref(j);
    assert_int_equal(zdb_connect(ts_sim_zdb(&s, node)), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(explorer_updated(&s, node), updated);
    admin_ok(&s, "POST", "/time", "{\"advance\": 600}");
    now = sim_time(&s);
    assert_int_equal(explorer_updated(&s, node), updated); /* it stopped */
    assert_true(explorer_updated(&s, other) >= now - 60);  /* the others report on */

    snprintf(path, sizeof path, "/nodes/%s/up", node);
    j = admin(&s, "POST", path, "{}", 200);
    assert_true(json_is_true(json_object_get(j, "up")));
    assert_true(json_is_null(json_object_get(j, "down_since")));
    json_decref(j);
    assert_true(explorer_updated(&s, node) >= now - 60);
    fd = zdb_connect(ts_sim_zdb(&s, node));
    assert_true(fd >= 0);
    ZDB_EXPECT(fd, "+PONG\r\n", "PING");
    close(fd);
    ts_sim_stop(&s);
}

/* ---- explorer faults ---- */

/* GET explorer path; returns the status, *error the error member when there is one. */
static long explorer_get(const ts_sim_t *s, const char *path, long timeout_ms, char error[256])
{
    json_t *j = NULL;
    long status = ts_http("GET", s->explorer, path, NULL, NULL, timeout_ms, &j);
    const char *e = gs_json_str(j, "error");
    if (error)
        snprintf(error, 256, "%s", e ? e : "");
    json_decref(j);
    return status;
}

static void test_explorer_fault_by_count_then_normal(void **state)
{
    ts_sim_t s;
    char error[256];
    json_t *j;
    (void)state;
    start(&s);
    admin_ok(&s, "POST", "/explorer/fault",
             "{\"status\": 503, \"count\": 2, \"path\": \"/api/v1/nodes\"}");
    assert_int_equal(explorer_get(&s, "/prices", 10000, NULL), 200); /* another path */
    assert_int_equal(explorer_get(&s, "/nodes", 10000, error), 503);
    assert_non_null(strstr(error, "fault injected"));
    j = admin(&s, "GET", "/explorer/fault", NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "fault"), "count")), 1);
    json_decref(j);
    assert_int_equal(explorer_get(&s, "/nodes?size=1", 10000, error), 503);
    assert_int_equal(explorer_get(&s, "/nodes", 10000, error), 200);
    j = admin(&s, "GET", "/explorer/fault", NULL, 200);
    assert_true(json_is_null(json_object_get(j, "fault")));
    json_decref(j);
    /* Cleared by DELETE before it ran out. */
    admin_ok(&s, "POST", "/explorer/fault", "{\"status\": 429}");
    assert_int_equal(explorer_get(&s, "/farms", 10000, NULL), 429);
    admin_ok(&s, "DELETE", "/explorer/fault", NULL);
    assert_int_equal(explorer_get(&s, "/farms", 10000, NULL), 200);
    ts_sim_stop(&s);
}

static void test_explorer_fault_by_seconds_then_normal(void **state)
{
    ts_sim_t s;
    char error[256];
    uint64_t t0;
    long status = 0;
    int faulted = 0;
    (void)state;
    start(&s);
    t0 = ms_now();
    admin_ok(&s, "POST", "/explorer/fault", "{\"status\": 500, \"seconds\": 1}");
    while (ms_now() - t0 < 5000 && (status = explorer_get(&s, "/nodes", 10000, error)) == 500) {
        assert_non_null(strstr(error, "fault injected"));
        faulted++;
        nap(50);
    }
    assert_int_equal(status, 200);
    assert_true(faulted >= 2);
    assert_true(ms_now() - t0 >= 900);
    ts_sim_stop(&s);
}

static void test_explorer_slow_answers_take_at_least_the_delay(void **state)
{
    ts_sim_t s;
    uint64_t t0;
    json_t *j = NULL;
    (void)state;
    start(&s);
    admin_ok(&s, "POST", "/explorer/fault", "{\"delay_ms\": 600, \"count\": 1}");
    t0 = ms_now();
    assert_int_equal(ts_http("GET", s.explorer, "/prices", NULL, NULL, 10000, &j), 200);
    assert_true(ms_now() - t0 >= 600);
    assert_non_null(json_object_get(j, "CuPriceDollarMonth")); /* the real answer */
    json_decref(j);
    admin_ok(&s, "POST", "/explorer/fault", "{\"status\": 502, \"delay_ms\": 300, \"count\": 1}");
    t0 = ms_now();
    assert_int_equal(explorer_get(&s, "/prices", 10000, NULL), 502);
    assert_true(ms_now() - t0 >= 300);
    assert_int_equal(explorer_get(&s, "/prices", 10000, NULL), 200);
    ts_sim_stop(&s);
}

static void test_client_giving_up_during_a_delay_leaves_the_sim_healthy(void **state)
{
    ts_sim_t s;
    (void)state;
    start(&s);
    admin_ok(&s, "POST", "/explorer/fault", "{\"delay_ms\": 3000, \"path\": \"/api/v1/nodes\"}");
    assert_int_equal(explorer_get(&s, "/nodes", 300, NULL), 0); /* gave up */
    assert_int_equal(explorer_get(&s, "/nodes", 300, NULL), 0);
    assert_int_equal(explorer_get(&s, "/prices", 10000, NULL), 200);
    admin_ok(&s, "DELETE", "/explorer/fault", NULL);
    assert_int_equal(explorer_get(&s, "/nodes", 10000, NULL), 200);
    /* Stopping with an abandoned request still waiting: a clean exit at once. */
    admin_ok(&s, "POST", "/explorer/fault", "{\"delay_ms\": 300000}");
    assert_int_equal(explorer_get(&s, "/farms", 300, NULL), 0);
    ts_sim_stop(&s);
}

/* ---- time ---- */

/* Registers a phonebook user with a fresh key; returns its tid. */
static int64_t register_user(const ts_sim_t *s, unsigned char sk[crypto_sign_SECRETKEYBYTES])
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
    char pubkey[65], sig_hex[129], signed_text[256], *body;
    const char *name = "faults.3bot", *email = "faults@example.org", *desc = "admin test";
    json_t *j = NULL;
    int64_t tid = 0;
    crypto_sign_keypair(pk, sk);
    gs_hex(pk, sizeof pk, pubkey);
    snprintf(signed_text, sizeof signed_text, "0%s%s%s%s", name, email, desc, pubkey);
    crypto_sign_detached(sig, NULL, (const unsigned char *)signed_text, strlen(signed_text), sk);
    gs_hex(sig, sizeof sig, sig_hex);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "email", email, "pubkey", pubkey,
                  "description", desc, "signature", sig_hex);
    body = gs_json_dumps(j);
    json_decref(j);
    assert_int_equal(ts_http("POST", s->explorer, "/users", body, NULL, 10000, &j), 201);
    assert_true(gs_json_int(j, "id", &tid));
    json_decref(j);
    free(body);
    return tid;
}

/* Reserves a pool on the first two nodes (farm 1) through the product's request shape,
 * signed by the customer; returns the reservation id. */
static int64_t reserve_pool(const ts_sim_t *s, int64_t tid, const unsigned char *sk)
{
    gs_plan_pool_t pool = {.farm_id = 1, .cus = 3600, .sus = 3600};
    json_t *req, *j = NULL;
    unsigned char sig[crypto_sign_BYTES];
    char node[64], sig_hex[129], *body;
    const char *text;
    int64_t id = 0;
    for (size_t i = 0; i < 2; i++) {
        node_id(s, i, node);
        assert_int_equal(gs_strlist_push(&pool.node_ids, node), GS_OK);
    }
    req = gs_pool_reservation(&pool, 0, tid);
    text = gs_json_str(req, "json");
    crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), sk);
    gs_hex(sig, sizeof sig, sig_hex);
    json_object_set_new(req, "customer_signature", json_string(sig_hex));
    body = gs_json_dumps(req);
    assert_int_equal(ts_http("POST", s->explorer, "/reservations/pools", body, NULL, 10000, &j),
                     201);
    assert_true(gs_json_int(j, "reservation_id", &id));
    json_decref(j);
    json_decref(req);
    free(body);
    gs_strlist_free(&pool.node_ids);
    return id;
}

static json_t *payment(const ts_sim_t *s, int64_t id)
{
    char path[96];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/reservations/pools/payment/%lld", (long long)id);
    assert_int_equal(ts_http("GET", s->explorer, path, NULL, NULL, 10000, &j), 200);
    return j;
}

static void test_time_advance_expires_an_unpaid_reservation(void **state)
{
    ts_sim_t s;
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    int64_t id, before, after;
    json_t *j;
    bool canceled = false;
    (void)state;
    start(&s);
    id = reserve_pool(&s, register_user(&s, sk), sk);
    nap(500); /* the escrow watcher (every 200 ms) had its chances */
    j = payment(&s, id);
    assert_false(json_is_true(json_object_get(j, "canceled")));
    json_decref(j);

    before = sim_time(&s);
    j = admin(&s, "POST", "/time", "{\"advance\": 3601}", 200);
    assert_true(gs_json_int(j, "now", &after));
    assert_true(after >= before + 3601);
    json_decref(j);
    for (int i = 0; i < 100 && !canceled; i++) {
        j = payment(&s, id);
        canceled = json_is_true(json_object_get(j, "canceled"));
        if (canceled)
            assert_string_equal(gs_json_str(j, "cause"), "payment timeout");
        json_decref(j);
        nap(50);
    }
    assert_true(canceled);
    j = admin(&s, "POST", "/time", "{\"scale\": 60}", 200);
    assert_true(json_number_value(json_object_get(j, "scale")) == 60.0);
    json_decref(j);
    ts_sim_stop(&s);
}

/* ---- 0-db byte flips ---- */

static void test_flip_makes_check_fail_on_a_nodes_0db(void **state)
{
    ts_sim_t s;
    char node[64], path[128];
    json_t *j;
    int fd;
    (void)state;
    start(&s);
    node_id(&s, 2, node);
    fd = zdb_connect(ts_sim_zdb(&s, node));
    assert_true(fd >= 0);
    ZDB_EXPECT(fd, "$1\r\nk\r\n", "SET", "k", "hello"); /* the default namespace */
    ZDB_EXPECT(fd, ":1\r\n", "CHECK", "k");
    snprintf(path, sizeof path, "/zdb/%s/flip", node);
    j = admin(&s, "POST", path, "{\"namespace\": \"default\", \"key\": \"6b\", \"offset\": 1}",
              200);
    assert_string_equal(gs_json_str(j, "key"), "6b");
    json_decref(j);
    ZDB_EXPECT(fd, ":0\r\n", "CHECK", "k");
    ZDB_EXPECT(fd, "$5\r\nh\x9allo\r\n", "GET", "k");
    close(fd);
    json_decref(admin(&s, "POST", "/zdb/NoSuchNode/flip",
                      "{\"namespace\": \"default\", \"key\": \"6b\", \"offset\": 1}", 404));
    json_decref(
        admin(&s, "POST", path, "{\"namespace\": \"nope\", \"key\": \"6b\", \"offset\": 1}", 404));
    json_decref(
        admin(&s, "POST", path, "{\"namespace\": \"default\", \"key\": 7, \"offset\": 1}", 404));
    j = admin(&s, "POST", path, "{\"namespace\": \"default\", \"key\": \"6b\", \"offset\": 5}",
              400);
    assert_non_null(strstr(gs_json_str(j, "error"), "past the value"));
    json_decref(j);
    ts_sim_stop(&s);
}

/* ---- bad bodies ---- */

typedef struct {
    const char *method, *path, *body;
    long status;
    const char *says; /* part of the message */
} bad_t;

static void test_admin_refuses_bad_bodies_saying_what_to_send(void **state)
{
    static const bad_t bad[] = {
        {"POST", "/explorer/fault", "", 400, "send {"},
        {"POST", "/explorer/fault", "{", 400, "send {"},
        {"POST", "/explorer/fault", "[503]", 400, "JSON object"},
        {"POST", "/explorer/fault", "{}", 400, "give status or delay_ms"},
        {"POST", "/explorer/fault", "{\"status\": \"503\"}", 400, "status: expected an integer"},
        {"POST", "/explorer/fault", "{\"status\": 200}", 400, "from 400 to 599"},
        {"POST", "/explorer/fault", "{\"delay_ms\": -1}", 400, "delay_ms"},
        {"POST", "/explorer/fault", "{\"delay_ms\": 300001}", 400, "delay_ms"},
        {"POST", "/explorer/fault", "{\"status\": 503, \"count\": 0}", 400, "count"},
        {"POST", "/explorer/fault", "{\"status\": 503, \"seconds\": 0}", 400, "seconds"},
        {"POST", "/explorer/fault", "{\"status\": 503, \"path\": \"nodes\"}", 400, "'/'"},
        {"POST", "/explorer/fault", "{\"status\": 503, \"paths\": \"/\"}", 400, "'paths'"},
        {"POST", "/time", "{}", 400, "nothing to change"},
        {"POST", "/time", "{\"advance\": -5}", 400, "advance"},
        {"POST", "/time", "{\"advance\": 1.5}", 400, "advance"},
        {"POST", "/time", "{\"scale\": 0}", 400, "scale"},
        {"POST", "/time", "{\"scale\": \"2\"}", 400, "scale"},
        {"POST", "/time", "{\"speed\": 2}", 400, "'speed'"},
        {"POST", "/zdb/NODE/flip", "{\"key\": \"6b\", \"offset\": 0}", 400, "namespace"},
        {"POST", "/zdb/NODE/flip", "{\"namespace\": \"default\", \"key\": \"6\", \"offset\": 0}",
         400, "key: expected hex"},
        {"POST", "/zdb/NODE/flip", "{\"namespace\": \"default\", \"key\": -1, \"offset\": 0}", 400,
         "key"},
        {"POST", "/zdb/NODE/flip", "{\"namespace\": \"default\", \"key\": \"6b\"}", 400, "offset"},
        {"POST", "/nodes/NODE/down", "{\"now\": true}", 400, "send no body, or {}"},
        {"POST", "/nodes/NoSuchNode/down", NULL, 404, "no node"},
        {"POST", "/nodes/NoSuchNode/up", NULL, 404, "no node"},
    };
    ts_sim_t s;
    char node[64], *big;
    json_t *j;
    (void)state;
    start(&s);
    node_id(&s, 0, node);
    for (size_t i = 0; i < GS_ARRAY_SIZE(bad); i++) {
        char path[160], *at;
        snprintf(path, sizeof path, "%s", bad[i].path);
        if ((at = strstr(path, "NODE")) != NULL)
            snprintf(at, sizeof path - (size_t)(at - path), "%s%s", node,
                     strstr(bad[i].path, "NODE") + 4);
        j = admin(&s, bad[i].method, path, bad[i].body, bad[i].status);
        if (strstr(gs_json_str(j, "error"), bad[i].says) == NULL ||
            (bad[i].status == 400 && strstr(gs_json_str(j, "error"), "send ") == NULL))
            fail_msg("%s %s %s: '%s' does not say '%s'", bad[i].method, path, bad[i].body,
                     gs_json_str(j, "error"), bad[i].says);
        json_decref(j);
    }
    big = calloc(1, 8192);
    assert_non_null(big);
    memset(big, ' ', 8000);
    /* Over the cap: h2o refuses it before the route (its own plain-text answer). */
    assert_int_equal(ts_http("POST", s.admin, "/time", big, NULL, 10000, NULL), 413);
    free(big);
    /* Nothing was changed by the refused requests. */
    j = admin(&s, "GET", "/explorer/fault", NULL, 200);
    assert_true(json_is_null(json_object_get(j, "fault")));
    json_decref(j);
    node_id(&s, 0, node); /* still up */
    ts_sim_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_down_refuses_its_0db_and_stops_reporting),
        cmocka_unit_test(test_explorer_fault_by_count_then_normal),
        cmocka_unit_test(test_explorer_fault_by_seconds_then_normal),
        cmocka_unit_test(test_explorer_slow_answers_take_at_least_the_delay),
        cmocka_unit_test(test_client_giving_up_during_a_delay_leaves_the_sim_healthy),
        cmocka_unit_test(test_time_advance_expires_an_unpaid_reservation),
        cmocka_unit_test(test_flip_makes_check_fail_on_a_nodes_0db),
        cmocka_unit_test(test_admin_refuses_bad_bodies_saying_what_to_send),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
