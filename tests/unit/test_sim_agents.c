/* test_sim_agents.c — the local grid's node agents: a 0-db workload accepted by the
 * explorer is provisioned on its node's in-process 0-db server (namespace, size limit,
 * mode and the password sent encrypted for the node, reference tfgrid-v2.md §1.4),
 * reported in the workload's result and reserved on the node; a password that does not
 * open fails the workload; deletion removes the namespace and releases the capacity;
 * a node taken down refuses 0-db connections. The explorer runs on the test's loop
 * (tests/support/sim_http.c); the password box is built here from the reference and a
 * plain TCP RESP client on a client thread checks the 0-db. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <uv.h>

#include "agents.h"
#include "chain.h"
#include "ctx.h"
#include "process.h"
#include "sim_http.h"
#include "workloads.h"

typedef struct {
    sim_world_opts_t opts;
    sim_ctx_t ctx;
    uv_loop_t loop;
    uv_async_t wake;
    gs_httpd_t *httpd;
    sim_http_t http;
    sim_who_t alice, mallory;
    char dir[64];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    gs_diag_t diag = {{0}};
    if (f == NULL)
        return -1;
    f->opts = (sim_world_opts_t){
        .seed = 7, .n_farms = 2, .nodes_per_farm = 2, .network = SIM_MAINNET, .time_scale = 1};
    snprintf(f->dir, sizeof f->dir, "/tmp/gs_test_agents_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    sim_grid_open(&f->loop, &f->wake, &f->ctx, &f->opts, true, &f->httpd, &f->http);
    if (sim_agents_start(&f->ctx, f->dir, &diag) != GS_OK)
        fail_msg("agents: %s", diag.msg);
    sim_who_init(&f->alice, "alice.3bot", 1);
    sim_who_init(&f->mallory, "mallory.3bot", 9); /* never registered */
    sim_register_user(&f->http, &f->alice);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sim_grid_close(f->httpd, &f->ctx, &f->wake);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_null(f->ctx.agents);
    sim_workloads_free(f->ctx.workloads);
    sim_chain_free(f->ctx.chain);
    sim_world_free(&f->ctx.world);
    ts_remove_tree(f->dir);
    free(f);
    return 0;
}

/* ---- the password box, as JSSDK encrypt_for_node ---- */

static char *encrypt_for_node(const sim_node_t *n, const sim_who_t *who, const char *password)
{
    unsigned char node_pk[32], node_x[32], user_x[32], shared[32], key[32];
    size_t len = strlen(password), blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
    unsigned char *box = malloc(blen + len);
    char *hex = malloc(2 * (blen + len) + 1);
    assert_non_null(box);
    assert_non_null(hex);
    assert_int_equal(sodium_hex2bin(node_pk, 32, n->public_key_hex, 64, NULL, NULL, NULL), 0);
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(node_x, node_pk), 0);
    assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(user_x, who->sk), 0);
    assert_int_equal(crypto_scalarmult(shared, user_x, node_x), 0);
    crypto_generichash(key, sizeof key, shared, sizeof shared, NULL, 0);
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)password, len,
                          box, key);
    sodium_bin2hex(hex, 2 * (blen + len) + 1, box, blen + len);
    free(box);
    return hex;
}

/* ---- workloads ---- */

static json_t *zdb(fixture_t *f, int64_t pool_id, int64_t size, const char *password_box)
{
    return json_pack("{s:i, s:s, s:I, s:{s:[I], s:i}, s:I, s:I, s:s, s:i, s:I, s:i, s:s, s:i, "
                     "s:b}",
                     "workload_id", 1, "node_id", f->ctx.world.nodes[0].node_id, "pool_id",
                     (json_int_t)pool_id, "signing_request_delete", "signers",
                     (json_int_t)f->alice.tid, "quorum_min", 1, "customer_tid",
                     (json_int_t)f->alice.tid, "epoch", (json_int_t)1600867642, "metadata", "",
                     "workload_type", 0, "size", (json_int_t)size, "mode", 1, "password",
                     password_box, "disk_type", 0, "public", 0);
}

/* A 0-db workload of size GiB on node 0 with `password` encrypted by `encrypter`,
 * posted by Alice; returns its id. */
static int64_t deploy(fixture_t *f, int64_t size, const sim_who_t *encrypter, const char *password,
                      json_t **w_out)
{
    int64_t pid = sim_paid_pool(&f->http, &f->ctx, &f->alice, 100000, 100000), id;
    char *box = encrypt_for_node(&f->ctx.world.nodes[0], encrypter, password), sig[129];
    json_t *w = zdb(f, pid, size, box), *j;
    gs_buf_t ch;
    gs_buf_init(&ch, 1u << 20);
    sim_zdb_challenge(w, &ch);
    sim_sign_hashed(f->alice.sk, ch.data, ch.len, "", sig);
    gs_buf_free(&ch);
    json_object_set_new(w, "customer_signature", json_string(sig));
    assert_int_equal(sim_post_workload(&f->http, w, &f->alice, f->alice.tid, &j), 201);
    id = sim_int(j, "reservation_id");
    json_decref(j);
    free(box);
    *w_out = w;
    return id;
}

static json_t *get(fixture_t *f, const char *fmt, const char *arg)
{
    char path[256];
    json_t *j;
    snprintf(path, sizeof path, fmt, arg);
    assert_int_equal(sim_http_request(&f->http, "GET", path, NULL, NULL, &j, NULL), 200);
    return j;
}

static json_t *workload_result(fixture_t *f, int64_t id)
{
    char num[32];
    json_t *j, *result;
    snprintf(num, sizeof num, "%lld", (long long)id);
    j = get(f, "/api/v1/reservations/workloads/%s", num);
    result = json_incref(json_object_get(j, "result"));
    json_decref(j);
    return result;
}

static double reserved_hru(fixture_t *f)
{
    json_t *j = get(f, "/api/v1/nodes/%s", f->ctx.world.nodes[0].node_id);
    double v = sim_num(json_object_get(j, "reserved_resources"), "hru");
    json_decref(j);
    return v;
}

static int zdb_port(fixture_t *f)
{
    return gs_zdb_server_port(sim_agents_zdb(f->ctx.agents, 0));
}

/* ---- a plain RESP client, run on a client thread ---- */

#define MAX_CMDS 8

/* Commands (each a NULL-terminated argv; the list ends at the first NULL) and their
 * replies as text: "+OK", "-Access denied", "$value", ":42", "nil", "*" (array). */
typedef struct {
    int port;
    const char *const *cmds[MAX_CMDS];
    bool refused;
    char error[256];
    char replies[MAX_CMDS][2048];
} session_t;

static int dial(int port)
{
    struct sockaddr_in sin = {0};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void reply_text(const gs_resp_value_t *v, char *out, size_t len)
{
    static const char marks[] = {'+', '-', ':', '$'};
    if (v->type == GS_RESP_INTEGER)
        snprintf(out, len, ":%lld", (long long)v->integer);
    else if (v->type == GS_RESP_NIL)
        snprintf(out, len, "nil");
    else if (v->type == GS_RESP_ARRAY)
        snprintf(out, len, "*");
    else
        snprintf(out, len, "%c%.*s", marks[v->type], (int)v->len, v->str);
}

/* Sends argv and reads its reply into out; false (with s->error) on failure. */
static bool roundtrip(session_t *s, int fd, const char *const *argv, char *out, size_t len)
{
    const char *args[16];
    size_t lens[16], argc = 0;
    gs_buf_t b;
    gs_resp_parser_t p;
    gs_resp_reply_t r;
    gs_diag_t diag = {{0}};
    int rc = GS_RESP_MORE;
    for (; argv[argc] && argc < 16; argc++) {
        args[argc] = argv[argc];
        lens[argc] = strlen(argv[argc]);
    }
    gs_buf_init(&b, 1u << 20);
    gs_resp_parser_init(&p);
    if (gs_resp_put_request(&b, argc, args, lens) != GS_OK ||
        write(fd, b.data, b.len) != (ssize_t)b.len)
        snprintf(s->error, sizeof s->error, "write failed");
    for (b.len = 0; s->error[0] == '\0' && rc == GS_RESP_MORE;) {
        char tmp[4096];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n <= 0 || gs_buf_append(&b, tmp, (size_t)n) != GS_OK)
            snprintf(s->error, sizeof s->error, "read: %s", n < 0 ? strerror(errno) : "EOF");
        else if ((rc = gs_resp_reply_parse(&p, b.data, b.len, &r, &diag)) < 0)
            snprintf(s->error, sizeof s->error, "bad reply: %.200s", diag.msg);
    }
    if (rc == GS_RESP_DONE)
        reply_text(r.value, out, len);
    gs_resp_parser_free(&p);
    gs_buf_free(&b);
    return rc == GS_RESP_DONE;
}

static void session_main(void *arg)
{
    session_t *s = arg;
    int fd = dial(s->port);
    if (fd < 0) {
        s->refused = errno == ECONNREFUSED;
        snprintf(s->error, sizeof s->error, "connect: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; i < MAX_CMDS && s->cmds[i]; i++)
        if (!roundtrip(s, fd, s->cmds[i], s->replies[i], sizeof s->replies[i]))
            break;
    close(fd);
}

/* Runs the session on f's node 0 and fails the test on a connection error. */
static void run(fixture_t *f, session_t *s)
{
    s->port = zdb_port(f);
    sim_run_client(&f->http, session_main, s);
    if (s->error[0])
        fail_msg("0-db session: %s", s->error);
}

static void expect_reply(const session_t *s, size_t i, const char *want)
{
    if (strstr(s->replies[i], want) == NULL)
        fail_msg("reply %zu: '%s', expected it to hold '%s'", i, s->replies[i], want);
}

/* ---- tests ---- */

static void test_zdb_workload_is_provisioned_with_its_password_size_and_mode(void **state)
{
    fixture_t *f = *state;
    json_t *w, *result, *data;
    int64_t id = deploy(f, 2, &f->alice, "s3cret", &w);
    unsigned char node_pk[32], sig[64];
    char *text, limit[48];
    session_t s = {.cmds = {(const char *const[]){"SELECT", "1-1", "wrong", NULL},
                            (const char *const[]){"SELECT", "1-1", "s3cret", NULL},
                            (const char *const[]){"SET", "key", "value", NULL},
                            (const char *const[]){"GET", "key", NULL},
                            (const char *const[]){"NSINFO", "1-1", NULL}}};
    result = workload_result(f, id);
    assert_int_equal(sim_int(result, "state"), 1);
    assert_string_equal(gs_json_str(result, "workload_id"), "1-1");
    assert_string_equal(gs_json_str(result, "node_id"), f->ctx.world.nodes[0].node_id);
    data = json_object_get(result, "data_json");
    assert_string_equal(gs_json_str(data, "Namespace"), "1-1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(data, "IPs"), 0)),
                        "127.0.0.1");
    assert_int_equal(sim_int(data, "Port"), zdb_port(f));
    /* signed by the node over the data_json text */
    text = gs_json_dumps(data);
    assert_int_equal(
        sodium_hex2bin(node_pk, 32, f->ctx.world.nodes[0].public_key_hex, 64, NULL, NULL, NULL), 0);
    assert_int_equal(
        sodium_hex2bin(sig, 64, gs_json_str(result, "signature"), 128, NULL, NULL, NULL), 0);
    assert_int_equal(
        crypto_sign_verify_detached(sig, (const unsigned char *)text, strlen(text), node_pk), 0);
    free(text);
    assert_true(reserved_hru(f) == 2);
    run(f, &s);
    expect_reply(&s, 0, "-Access denied");
    expect_reply(&s, 1, "+OK");
    expect_reply(&s, 2, "$key");
    expect_reply(&s, 3, "$value");
    snprintf(limit, sizeof limit, "data_limits_bytes: %llu\n", 2ULL << 30);
    expect_reply(&s, 4, limit);
    expect_reply(&s, 4, "mode: userkey");
    expect_reply(&s, 4, "public: no");
    expect_reply(&s, 4, "password: yes");
    json_decref(result);
    json_decref(w);
}

static void test_password_encrypted_with_another_key_fails_the_workload(void **state)
{
    fixture_t *f = *state;
    json_t *w, *result;
    int64_t id = deploy(f, 3, &f->mallory, "s3cret", &w);
    result = workload_result(f, id);
    assert_int_equal(sim_int(result, "state"), 0);
    assert_non_null(strstr(gs_json_str(result, "message"), "password"));
    assert_null(gs_zdb_ns_find(gs_zdb_server_store(sim_agents_zdb(f->ctx.agents, 0)), "1-1", 3));
    assert_true(reserved_hru(f) == 0);
    json_decref(result);
    json_decref(w);
}

static void test_deleted_workload_loses_its_namespace_and_capacity(void **state)
{
    fixture_t *f = *state;
    json_t *w, *result, *j;
    int64_t id = deploy(f, 4, &f->alice, "", &w);
    gs_buf_t ch;
    session_t s = {.cmds = {(const char *const[]){"SELECT", "1-1", NULL}}};
    run(f, &s);
    expect_reply(&s, 0, "+OK"); /* an empty password: none */
    assert_true(reserved_hru(f) == 4);
    gs_buf_init(&ch, 1u << 20);
    sim_zdb_challenge(w, &ch);
    assert_int_equal(
        sim_sign_workload_request(&f->http, id, "delete", &ch, &f->alice, f->alice.tid, &j), 201);
    gs_buf_free(&ch);
    json_decref(j);
    result = workload_result(f, id);
    assert_int_equal(sim_int(result, "state"), 2);
    assert_true(reserved_hru(f) == 0);
    memset(s.replies, 0, sizeof s.replies);
    run(f, &s);
    expect_reply(&s, 0, "-");
    json_decref(result);
    json_decref(w);
}

static void test_node_down_refuses_0db_connections_until_up(void **state)
{
    fixture_t *f = *state;
    sim_node_t *n = &f->ctx.world.nodes[0];
    gs_diag_t diag = {{0}};
    session_t s = {.cmds = {(const char *const[]){"PING", NULL}}};
    assert_int_equal(sim_node_set_down(&f->ctx, n, true, &diag), GS_OK);
    assert_true(n->down_since != 0);
    s.port = zdb_port(f);
    sim_run_client(&f->http, session_main, &s);
    assert_true(s.refused);
    assert_int_equal(sim_node_set_down(&f->ctx, n, false, &diag), GS_OK);
    assert_int_equal(n->down_since, 0);
    memset(&s.error, 0, sizeof s.error);
    s.refused = false;
    run(f, &s);
    expect_reply(&s, 0, "+PONG");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_zdb_workload_is_provisioned_with_its_password_size_and_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_encrypted_with_another_key_fails_the_workload,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_workload_loses_its_namespace_and_capacity,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_down_refuses_0db_connections_until_up, setup,
                                        teardown),
    };
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
