/* test_sim_restart.c — the local grid's state folder against the real gridstor-sim
 * ($GS_SIM) as a child process: a sim started again with the same --state comes back
 * with every part's state (chain accounts, sequences and transactions, login names,
 * phonebook users, pool reservations paid and unpaid, pools with their counters,
 * workloads with their results and next_action, the nodes' reserved capacity, their
 * containers running again, a node that was down, the simulated clock), after a clean
 * stop and after SIGKILL; and a second signal exits at once without leaving a container
 * process behind. Each sim is stopped by its pid. */
#define _XOPEN_SOURCE 700 /* mkdtemp, kill */
#include "simproc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "payments.h"
#include "process.h"

#define FUND      1000000000000LL /* stropes: the faucet's most */
#define PAID      12345LL         /* stropes alice pays bob */
#define POOL_UNIT 1000000LL       /* cus and sus of each pool */
#define ADVANCE   1000000LL       /* simulated seconds the clock is moved ahead */

typedef struct {
    char dir[64], state[96], flist[256];
    ts_sim_t sim;
    gs_identity_t alice, bob;
    char node[2][64];
} fixture_t;

/* What the first run did, checked after the restart. */
typedef struct {
    char tx[65];
    int64_t paid_pool, unpaid_pool, zdb, container, deleted;
    json_t *pool;    /* GET pool answer before the stop */
    json_t *zdb_doc; /* the 0-db workload before the stop */
    double hru, cru; /* node 0's reserved hru and cru */
    int64_t clock;   /* the simulated time before the stop */
    pid_t container_pid;
} before_t;

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* method base+path expecting `status`; returns the JSON answer (json_decref it). */
static json_t *call(const char *method, const char *base, const char *path, json_t *body,
                    long status)
{
    char *text = body ? gs_json_dumps(body) : NULL;
    json_t *j = NULL;
    long got = ts_http(method, base, path, text, NULL, 10000, &j);
    free(text);
    json_decref(body);
    if (got != status)
        fail_msg("%s %s%s: %ld, expected %ld", method, base, path, got, status);
    assert_non_null(j);
    return j;
}

static void call_ok(const char *method, const char *base, const char *path, json_t *body,
                    long status)
{
    json_decref(call(method, base, path, body, status));
}

static int setup(void **state)
{
    static fixture_t f;
    char script[128];
    FILE *fp;
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(&f, 0, sizeof f);
    snprintf(f.dir, sizeof f.dir, "/tmp/gs_test_restart_XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.state, sizeof f.state, "%s/state", f.dir);
    snprintf(script, sizeof script, "%s/box.sh", f.dir);
    /* The container: records its pid in its working folder; "stubborn" ignores SIGTERM. */
    fp = fopen(script, "w");
    assert_non_null(fp);
    fputs("#!/bin/sh\n[ \"$1\" = stubborn ] && trap '' TERM\necho $$ > pid\nexec sleep 600\n", fp);
    fclose(fp);
    assert_int_equal(chmod(script, 0700), 0);
    snprintf(f.flist, sizeof f.flist, "https://hub.local/box.flist=%s", script);
    memset(seed, 0xa1, sizeof seed);
    gs_identity_from_seed(&f.alice, seed);
    memset(seed, 0xb2, sizeof seed);
    gs_identity_from_seed(&f.bob, seed);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->sim.line != NULL) { /* a test that failed with its sim running */
        ts_stop_server(f->sim.pid, 10000);
        ts_remove_tree(f->sim.dir);
        json_decref(f->sim.line);
    }
    ts_remove_tree(f->dir);
    return 0;
}

static void start(fixture_t *f, const char *flist_extra)
{
    const char *args[] = {"--farms", "1",       "--nodes-per-farm", "2",         "--state",
                          f->state,  "--flist", f->flist,           flist_extra, NULL};
    json_t *nodes;
    ts_sim_start(&f->sim, args);
    nodes = call("GET", f->sim.admin, "/nodes", NULL, 200);
    for (size_t i = 0; i < 2; i++)
        snprintf(f->node[i], sizeof f->node[i], "%s",
                 gs_json_str(json_array_get(nodes, i), "node_id"));
    json_decref(nodes);
}

/* SIGKILL, reaped, and its announcement freed (ts_sim_stop expects a clean exit). */
static void kill_sim(fixture_t *f)
{
    int status = 0;
    assert_int_equal(kill(f->sim.pid, SIGKILL), 0);
    assert_int_equal(waitpid(f->sim.pid, &status, 0), f->sim.pid);
    assert_true(WIFSIGNALED(status));
    ts_remove_tree(f->sim.dir);
    json_decref(f->sim.line);
    f->sim.line = NULL;
}

/* ---- the parts' requests ---- */

static void fund(const fixture_t *f, const gs_identity_t *who)
{
    char path[128];
    snprintf(path, sizeof path, "/accounts/%s/fund", who->address);
    call_ok("POST", f->sim.chain, path, json_pack("{s:I}", "amount", (json_int_t)FUND), 200);
}

/* alice's payment of its next sequence number; returns the answer. */
static json_t *pay(const fixture_t *f, const char *to, int64_t amount, const char *memo)
{
    char path[128];
    json_t *account, *body;
    int64_t sequence = 0;
    char *text;
    snprintf(path, sizeof path, "/accounts/%s", f->alice.address);
    account = call("GET", f->sim.chain, path, NULL, 200);
    assert_true(gs_json_int(account, "sequence", &sequence));
    json_decref(account);
    text = gs_chain_payment(&f->alice, to, (uint64_t)amount, memo, (uint64_t)sequence);
    assert_non_null(text);
    body = json_loads(text, 0, NULL);
    free(text);
    return call("POST", f->sim.chain, "/transactions", body, 201);
}

static void register_login(const fixture_t *f)
{
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, f->alice.pk, sizeof f->alice.pk,
                      sodium_base64_VARIANT_ORIGINAL);
    call_ok("POST", f->sim.login, "/api/users",
            json_pack("{s:s, s:s}", "doublename", "alice.3bot", "publicKey", b64), 201);
}

static void register_user(fixture_t *f)
{
    char msg[256], sig[129];
    json_t *u;
    snprintf(msg, sizeof msg, "0alice.3botalice@example.comdesk%s", f->alice.address);
    gs_sign_hex(&f->alice, msg, strlen(msg), sig);
    u = call("POST", f->sim.explorer, "/users",
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "alice.3bot", "email",
                       "alice@example.com", "pubkey", f->alice.address, "host", "", "description",
                       "desk", "signature", sig),
             201);
    assert_true(gs_json_int(u, "id", &f->alice.tid));
    json_decref(u);
}

/* A new pool on both nodes; paid by alice when `paid`. Returns its id. */
static int64_t reserve_pool(const fixture_t *f, bool paid)
{
    json_t *data = json_pack("{s:i, s:I, s:I, s:i, s:[s, s], s:[s]}", "pool_id", 0, "cus",
                             (json_int_t)POOL_UNIT, "sus", (json_int_t)POOL_UNIT, "ipv4us", 0,
                             "node_ids", f->node[0], f->node[1], "currencies", "TFT");
    char *text = gs_json_dumps(data), sig[129], memo[32];
    json_t *res, *info;
    int64_t id = 0, amount = 0;
    gs_sign_hex(&f->alice, text, strlen(text), sig);
    res = call("POST", f->sim.explorer, "/reservations/pools",
               json_pack("{s:s, s:o, s:I, s:s}", "json", text, "data_reservation", data,
                         "customer_tid", (json_int_t)f->alice.tid, "customer_signature", sig),
               201);
    free(text);
    info = json_object_get(res, "escrow_information");
    assert_true(gs_json_int(res, "reservation_id", &id));
    assert_true(gs_json_int(info, "amount", &amount));
    snprintf(memo, sizeof memo, "p-%lld", (long long)id);
    if (paid)
        json_decref(pay(f, gs_json_str(info, "address"), amount, memo));
    json_decref(res);
    return id;
}

static json_t *payment(const fixture_t *f, int64_t id)
{
    char path[96];
    snprintf(path, sizeof path, "/reservations/pools/payment/%lld", (long long)id);
    return call("GET", f->sim.explorer, path, NULL, 200);
}

static void wait_released(const fixture_t *f, int64_t id)
{
    for (int i = 0; i < 200; i++) {
        json_t *p = payment(f, id);
        bool released = json_is_true(json_object_get(p, "released"));
        json_decref(p);
        if (released)
            return;
        nap(20);
    }
    fail_msg("pool %lld was never released", (long long)id);
}

static json_t *workload_base(const fixture_t *f, int64_t pool, int type)
{
    return json_pack("{s:i, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:i, s:{s:[I], s:i}}", "workload_id",
                     1, "node_id", f->node[0], "pool_id", (json_int_t)pool, "reference", "",
                     "description", "", "metadata", "", "customer_tid", (json_int_t)f->alice.tid,
                     "epoch", (json_int_t)time(NULL), "workload_type", type,
                     "signing_request_delete", "signers", (json_int_t)f->alice.tid, "quorum_min",
                     1);
}

/* POSTs w signed by alice (challenge and HTTP signature); returns its id. */
static int64_t post_workload(const fixture_t *f, json_t *w)
{
    unsigned char hash[32];
    char sig[129], *body;
    const char *headers[4];
    gs_http_signature_t hs;
    json_t *j = NULL;
    int64_t id = 0;
    assert_int_equal(gs_workload_challenge_hash(w, NULL, 0, hash, NULL), GS_OK);
    gs_sign_hex(&f->alice, hash, sizeof hash, sig);
    json_object_set_new(w, "customer_signature", json_string(sig));
    gs_http_signature(&f->alice, (int64_t)time(NULL), &hs);
    headers[0] = hs.authorization;
    headers[1] = hs.date;
    headers[2] = hs.threebot_id;
    headers[3] = NULL;
    body = gs_json_dumps(w);
    assert_int_equal(
        ts_http("POST", f->sim.explorer, "/reservations/workloads", body, headers, 10000, &j), 201);
    assert_true(gs_json_int(j, "reservation_id", &id));
    free(body);
    json_decref(j);
    json_decref(w);
    return id;
}

static int64_t post_zdb(const fixture_t *f, int64_t pool)
{
    json_t *w = workload_base(f, pool, 0);
    json_object_update_new(w, json_pack("{s:i, s:i, s:s, s:i, s:b}", "size", 2, "mode", 0,
                                        "password", "", "disk_type", 0, "public", 0));
    return post_workload(f, w);
}

static int64_t post_container(const fixture_t *f, int64_t pool, const char *flist)
{
    json_t *w = workload_base(f, pool, 1);
    json_object_update_new(
        w, json_pack("{s:s, s:s, s:s, s:b, s:{}, s:{}, s:[], s:[], s:{s:i, s:i, s:i, s:i}}",
                     "flist", flist, "hub_url", "", "entrypoint", "", "interactive", 0,
                     "environment", "secret_environment", "volumes", "network_connection",
                     "capacity", "cpu", 1, "memory", 512, "disk_size", 1024, "disk_type", 0));
    return post_workload(f, w);
}

static json_t *workload(const fixture_t *f, int64_t id)
{
    char path[96];
    snprintf(path, sizeof path, "/reservations/workloads/%lld", (long long)id);
    return call("GET", f->sim.explorer, path, NULL, 200);
}

static void sign_delete(const fixture_t *f, int64_t id)
{
    json_t *w = workload(f, id);
    unsigned char hash[32];
    char sig[129], path[128];
    assert_int_equal(gs_workload_challenge_hash(w, "delete", f->alice.tid, hash, NULL), GS_OK);
    json_decref(w);
    gs_sign_hex(&f->alice, hash, sizeof hash, sig);
    snprintf(path, sizeof path, "/reservations/workloads/%lld/sign/delete", (long long)id);
    call_ok("POST", f->sim.explorer, path,
            json_pack("{s:I, s:s, s:I}", "tid", (json_int_t)f->alice.tid, "signature", sig, "epoch",
                      (json_int_t)time(NULL)),
            201);
}

static int64_t result_state(const json_t *w)
{
    int64_t state = -1;
    gs_json_int(json_object_get(w, "result"), "state", &state);
    return state;
}

static double reserved(const fixture_t *f, const char *what)
{
    char path[128];
    json_t *n;
    double v = -1;
    snprintf(path, sizeof path, "/nodes/%s", f->node[0]);
    n = call("GET", f->sim.explorer, path, NULL, 200);
    assert_true(gs_json_num(json_object_get(n, "reserved_resources"), what, &v));
    json_decref(n);
    return v;
}

static int64_t sim_clock(const fixture_t *f)
{
    json_t *t = call("GET", f->sim.admin, "/time", NULL, 200);
    int64_t now = 0;
    assert_true(gs_json_int(t, "now", &now));
    json_decref(t);
    return now;
}

/* The pid the container of workload id wrote, once its file is there (0 otherwise). */
static pid_t container_pid(const fixture_t *f, int64_t id, pid_t not )
{
    char path[256];
    for (int i = 0; i < 250; i++) {
        long pid = 0;
        FILE *fp;
        snprintf(path, sizeof path, "%s/%s/containers/%lld/pid", f->state, f->node[0],
                 (long long)id);
        if ((fp = fopen(path, "r")) != NULL) {
            if (fscanf(fp, "%ld", &pid) != 1)
                pid = 0;
            fclose(fp);
        }
        if (pid > 0 && pid != not )
            return (pid_t)pid;
        nap(20);
    }
    fail_msg("workload %lld's container never wrote its pid", (long long)id);
    return 0;
}

/* Whether pid is a zombie: dead, but not reaped yet by whoever adopted it. */
static bool zombie(pid_t pid)
{
    char path[64], text[512], *paren;
    size_t n = 0;
    FILE *fp;
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return false;
    n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    paren = strrchr(text, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

/* Whether pid is gone (or dead) within a few seconds. */
static bool gone(pid_t pid)
{
    for (int i = 0; i < 250; i++) {
        if ((kill(pid, 0) != 0 && errno == ESRCH) || zombie(pid))
            return true;
        nap(20);
    }
    return false;
}

/* ---- the scenario ---- */

static void use_every_part(fixture_t *f, before_t *b)
{
    char path[96];
    json_t *tx;
    fund(f, &f->alice);
    tx = pay(f, f->bob.address, PAID, "hello");
    snprintf(b->tx, sizeof b->tx, "%s", gs_json_str(tx, "id"));
    json_decref(tx);
    register_login(f);
    register_user(f);
    b->paid_pool = reserve_pool(f, true);
    b->unpaid_pool = reserve_pool(f, false);
    wait_released(f, b->paid_pool);
    b->zdb = post_zdb(f, b->paid_pool);
    b->container = post_container(f, b->paid_pool, "https://hub.local/box.flist");
    b->deleted = post_zdb(f, b->paid_pool);
    sign_delete(f, b->deleted);
    b->container_pid = container_pid(f, b->container, 0);
    snprintf(path, sizeof path, "/nodes/%s/down", f->node[1]);
    call_ok("POST", f->sim.admin, path, json_object(), 200);
    call_ok("POST", f->sim.admin, "/time", json_pack("{s:I}", "advance", (json_int_t)ADVANCE), 200);
    snprintf(path, sizeof path, "/reservations/pools/%lld", (long long)b->paid_pool);
    b->pool = call("GET", f->sim.explorer, path, NULL, 200);
    b->zdb_doc = workload(f, b->zdb);
    b->hru = reserved(f, "hru");
    b->cru = reserved(f, "cru");
    b->clock = sim_clock(f);
    nap(400); /* the clock is saved within CLOCK_SAVE_MS */
}

static void expect_chain(const fixture_t *f, const before_t *b)
{
    char path[160];
    json_t *a, *tx;
    snprintf(path, sizeof path, "/accounts/%s", f->bob.address);
    a = call("GET", f->sim.chain, path, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(a, "balance")), PAID);
    json_decref(a);
    snprintf(path, sizeof path, "/accounts/%s", f->alice.address);
    a = call("GET", f->sim.chain, path, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(a, "sequence")), 3); /* 2 payments */
    assert_true(json_integer_value(json_object_get(a, "balance")) < FUND - PAID);
    json_decref(a);
    snprintf(path, sizeof path, "/transactions/%s", b->tx);
    tx = call("GET", f->sim.chain, path, NULL, 200);
    assert_string_equal(gs_json_str(tx, "memo"), "hello");
    json_decref(tx);
    /* The sequence goes on from where it was: a replay is refused. */
    json_decref(pay(f, f->bob.address, 1, ""));
}

static void expect_directories(fixture_t *f)
{
    char path[96];
    json_t *u = call("GET", f->sim.login, "/api/users/alice.3bot", NULL, 200);
    assert_string_equal(gs_json_str(u, "doublename"), "alice.3bot");
    json_decref(u);
    snprintf(path, sizeof path, "/users/%lld", (long long)f->alice.tid);
    u = call("GET", f->sim.explorer, path, NULL, 200);
    assert_string_equal(gs_json_str(u, "pubkey"), f->alice.address);
    json_decref(u);
}

static void expect_pools(const fixture_t *f, const before_t *b)
{
    char path[96];
    json_t *p = payment(f, b->paid_pool), *pool;
    double cus = 0, before_cus = 0, active = 0;
    assert_true(json_is_true(json_object_get(p, "released")));
    json_decref(p);
    p = payment(f, b->unpaid_pool);
    /* Unpaid when the clock moved past its expiration: the escrow canceled it. */
    assert_false(json_is_true(json_object_get(p, "paid")));
    assert_true(json_is_true(json_object_get(p, "canceled")));
    assert_string_equal(gs_json_str(p, "cause"), "payment timeout");
    json_decref(p);
    snprintf(path, sizeof path, "/reservations/pools/%lld", (long long)b->paid_pool);
    pool = call("GET", f->sim.explorer, path, NULL, 200);
    assert_true(gs_json_num(pool, "cus", &cus));
    assert_true(gs_json_num(b->pool, "cus", &before_cus));
    assert_true(gs_json_num(pool, "active_cu", &active));
    assert_true(active > 0);
    assert_true(cus <= before_cus);
    assert_true(json_equal(json_object_get(pool, "active_workload_ids"),
                           json_object_get(b->pool, "active_workload_ids")));
    assert_int_equal(json_integer_value(json_object_get(pool, "customer_tid")), f->alice.tid);
    json_decref(pool);
    /* The next reservation gets the next id. */
    assert_int_equal(reserve_pool(f, false), b->unpaid_pool + 1);
}

static void expect_workloads(const fixture_t *f, const before_t *b)
{
    json_t *w = workload(f, b->zdb);
    json_t *ns = json_object_get(json_object_get(w, "result"), "data_json");
    json_t *old = json_object_get(json_object_get(b->zdb_doc, "result"), "data_json");
    char port[16];
    assert_int_equal(json_integer_value(json_object_get(w, "next_action")), 3);
    assert_int_equal(result_state(w), 1);
    assert_string_equal(gs_json_str(ns, "Namespace"), gs_json_str(old, "Namespace"));
    /* The result gives where the node's 0-db listens now. */
    snprintf(port, sizeof port, ":%lld",
             (long long)json_integer_value(json_object_get(ns, "Port")));
    assert_non_null(strstr(ts_sim_zdb(&f->sim, f->node[0]), port));
    json_decref(w);
    w = workload(f, b->deleted);
    assert_int_equal(json_integer_value(json_object_get(w, "next_action")), 6);
    assert_int_equal(result_state(w), 2);
    json_decref(w);
    w = workload(f, b->container);
    assert_int_equal(json_integer_value(json_object_get(w, "next_action")), 3);
    assert_int_equal(result_state(w), 1);
    json_decref(w);
    /* Its capacity is reserved again: 2 GiB of hdd for the 0-db, 1 core and 1 GiB for
     * the container; and the next workload gets the next id. */
    assert_true(reserved(f, "hru") == b->hru);
    assert_true(reserved(f, "cru") == b->cru);
    assert_int_equal(post_zdb(f, b->paid_pool), b->deleted + 1);
}

static void expect_nodes_and_clock(const fixture_t *f, const before_t *b)
{
    json_t *nodes = call("GET", f->sim.admin, "/nodes", NULL, 200);
    assert_true(json_is_true(json_object_get(json_array_get(nodes, 0), "up")));
    assert_false(json_is_true(json_object_get(json_array_get(nodes, 1), "up")));
    json_decref(nodes);
    assert_true(sim_clock(f) >= b->clock);
}

static void expect_everything(fixture_t *f, before_t *b)
{
    pid_t pid = container_pid(f, b->container, b->container_pid);
    assert_int_equal(kill(pid, 0), 0); /* running again */
    expect_nodes_and_clock(f, b);
    expect_chain(f, b);
    expect_directories(f);
    expect_pools(f, b);
    expect_workloads(f, b);
    json_decref(b->pool);
    json_decref(b->zdb_doc);
}

static void test_a_restarted_sim_comes_back_with_every_part(void **state)
{
    fixture_t *f = *state;
    before_t b = {0};
    start(f, NULL);
    use_every_part(f, &b);
    ts_sim_stop(&f->sim);
    assert_true(gone(b.container_pid)); /* a clean stop stops the containers */
    start(f, NULL);
    expect_everything(f, &b);
    ts_sim_stop(&f->sim);
}

static void test_a_sim_killed_mid_way_comes_back_with_what_it_answered(void **state)
{
    fixture_t *f = *state;
    before_t b = {0};
    start(f, NULL);
    use_every_part(f, &b);
    kill_sim(f);
    /* A killed sim cannot stop its children: the container is still running. */
    assert_int_equal(kill(b.container_pid, 0), 0);
    assert_int_equal(kill(-b.container_pid, SIGKILL), 0);
    assert_true(gone(b.container_pid));
    start(f, NULL);
    expect_everything(f, &b);
    ts_sim_stop(&f->sim);
}

static void test_a_second_signal_exits_at_once_killing_the_containers(void **state)
{
    fixture_t *f = *state;
    char stubborn[300];
    int64_t pool, id;
    pid_t pid;
    int status = 0;
    snprintf(stubborn, sizeof stubborn, "--flist=https://hub.local/stubborn.flist=%s stubborn",
             strchr(f->flist, '=') + 1);
    start(f, stubborn);
    fund(f, &f->alice);
    register_user(f);
    pool = reserve_pool(f, true);
    wait_released(f, pool);
    id = post_container(f, pool, "https://hub.local/stubborn.flist");
    pid = container_pid(f, id, 0);
    assert_int_equal(kill(f->sim.pid, SIGTERM), 0); /* the container ignores it: grace */
    nap(100);
    assert_int_equal(kill(f->sim.pid, SIGTERM), 0);
    assert_int_equal(waitpid(f->sim.pid, &status, 0), f->sim.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_true(gone(pid));
    ts_remove_tree(f->sim.dir);
    json_decref(f->sim.line);
    f->sim.line = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_restarted_sim_comes_back_with_every_part, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_sim_killed_mid_way_comes_back_with_what_it_answered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_second_signal_exits_at_once_killing_the_containers,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
