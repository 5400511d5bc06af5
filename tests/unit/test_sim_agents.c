/* test_sim_agents.c — the local grid's node agents: a 0-db workload accepted by the
 * explorer is provisioned on its node's in-process 0-db server (namespace, size limit,
 * mode and the password sent encrypted for the node, reference tfgrid-v2.md §1.4),
 * reported in the workload's result and reserved on the node; a password that does not
 * open fails the workload; deletion removes the namespace and releases the capacity;
 * a node taken down refuses 0-db connections. A container workload runs the command
 * its flist is mapped to as a real process (a shell script here that writes its
 * environment and process id into its working folder), with its environment and
 * decrypted secrets; it is stopped by deletion and by its node going down, started
 * again when the node comes up, and fails its workload when it exits by itself. The
 * explorer runs on the test's loop (tests/support/sim_http.c); the password box is
 * built here from the reference and a plain TCP RESP client on a client thread checks
 * the 0-db. */
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
#include <sys/types.h>
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
    char flists[4][256]; /* --flist URL=COMMAND for the containers */
    pid_t pids[4];       /* container processes seen, gone after teardown */
    size_t n_pids;
} fixture_t;

#define RUN_FLIST      "https://hub.test/run.flist"
#define EXIT_FLIST     "https://hub.test/exit.flist"
#define MISSING_FLIST  "https://hub.test/missing.flist"
#define STUBBORN_FLIST "https://hub.test/stubborn.flist"

/* run.sh writes its environment and its arguments (${NAME} expanded), then its process id (atomically), then sleeps;
 * exit.sh ends at once with status 3; stubborn.sh ignores SIGTERM (and so do the
 * sleeps it starts). */
static void write_scripts(fixture_t *f)
{
    static const char run[] =
        "env > env.txt\necho \"$@\" > args.txt\necho $$ > pid.tmp\nmv pid.tmp pid\nexec sleep 60\n";
    static const char quit[] = "exit 3\n";
    static const char stubborn[] = "trap '' TERM\necho $$ > pid.tmp\nmv pid.tmp pid\n"
                                   "while :; do sleep 1; done\n";
    char path[128];
    gs_diag_t diag = {{0}};
    snprintf(path, sizeof path, "%s/run.sh", f->dir);
    assert_int_equal(gs_file_write_atomic(path, run, strlen(run), 0644, &diag), GS_OK);
    snprintf(path, sizeof path, "%s/exit.sh", f->dir);
    assert_int_equal(gs_file_write_atomic(path, quit, strlen(quit), 0644, &diag), GS_OK);
    snprintf(path, sizeof path, "%s/stubborn.sh", f->dir);
    assert_int_equal(gs_file_write_atomic(path, stubborn, strlen(stubborn), 0644, &diag), GS_OK);
    snprintf(f->flists[0], sizeof f->flists[0],
             RUN_FLIST "=/bin/sh %s/run.sh ${GRIDSTOR_SIM_WORKLOAD_ID} x${NO_SUCH_VARIABLE}y",
             f->dir);
    snprintf(f->flists[1], sizeof f->flists[1], EXIT_FLIST "=/bin/sh %s/exit.sh", f->dir);
    snprintf(f->flists[2], sizeof f->flists[2], MISSING_FLIST "=%s/no-such-program -v", f->dir);
    snprintf(f->flists[3], sizeof f->flists[3], STUBBORN_FLIST "=/bin/sh %s/stubborn.sh", f->dir);
    for (size_t i = 0; i < 4; i++)
        f->opts.flist_args[f->opts.n_flist_args++] = f->flists[i];
}

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
    write_scripts(f);
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
    for (size_t i = 0; i < f->n_pids; i++) /* stopped and reaped: no zombie, no orphan */
        assert_true(kill(f->pids[i], 0) != 0 && errno == ESRCH);
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

static void container_challenge(const json_t *w, gs_buf_t *ch);

/* The challenge of w, a 0-db or a container. */
static void challenge_of(const json_t *w, gs_buf_t *ch)
{
    if (sim_int(w, "workload_type") == 1)
        container_challenge(w, ch);
    else
        sim_zdb_challenge(w, ch);
}

/* Signs w as Alice and posts it; returns its id. */
static int64_t post_signed(fixture_t *f, json_t *w)
{
    json_t *j;
    gs_buf_t ch;
    char sig[129];
    int64_t id;
    gs_buf_init(&ch, 1u << 20);
    challenge_of(w, &ch);
    sim_sign_hashed(f->alice.sk, ch.data, ch.len, "", sig);
    gs_buf_free(&ch);
    json_object_set_new(w, "customer_signature", json_string(sig));
    assert_int_equal(sim_post_workload(&f->http, w, &f->alice, f->alice.tid, &j), 201);
    id = sim_int(j, "reservation_id");
    json_decref(j);
    return id;
}

/* A 0-db workload of size GiB on node 0 with `password` encrypted by `encrypter`,
 * posted by Alice; returns its id. */
static int64_t deploy(fixture_t *f, int64_t size, const sim_who_t *encrypter, const char *password,
                      json_t **w_out)
{
    int64_t pid = sim_paid_pool(&f->http, &f->ctx, &f->alice, 100000, 100000);
    char *box = encrypt_for_node(&f->ctx.world.nodes[0], encrypter, password);
    json_t *w = zdb(f, pid, size, box);
    free(box);
    *w_out = w;
    return post_signed(f, w);
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

/* Node 0's reserved cru, mru, hru or sru, as the explorer shows it. */
static double reserved(fixture_t *f, const char *what)
{
    json_t *j = get(f, "/api/v1/nodes/%s", f->ctx.world.nodes[0].node_id);
    double v = sim_num(json_object_get(j, "reserved_resources"), what);
    json_decref(j);
    return v;
}

static double reserved_hru(fixture_t *f)
{
    return reserved(f, "hru");
}

/* The result's signature is node 0's over its data_json text. */
static void assert_signed_by_node(fixture_t *f, const json_t *result)
{
    unsigned char node_pk[32], sig[64];
    char *text = gs_json_dumps(json_object_get(result, "data_json"));
    assert_int_equal(
        sodium_hex2bin(node_pk, 32, f->ctx.world.nodes[0].public_key_hex, 64, NULL, NULL, NULL), 0);
    assert_int_equal(
        sodium_hex2bin(sig, 64, gs_json_str(result, "signature"), 128, NULL, NULL, NULL), 0);
    assert_int_equal(
        crypto_sign_verify_detached(sig, (const unsigned char *)text, strlen(text), node_pk), 0);
    free(text);
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

/* ---- container workloads (reference §1.4, §1.6) ---- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An environment map in the challenge: sorted by name, each "k=v". */
static void env_challenge(const json_t *env, gs_buf_t *ch)
{
    const char *names[16], *k;
    size_t n = 0;
    json_t *v;
    json_object_foreach((json_t *)env, k, v)
    {
        assert_true(n < 16);
        names[n++] = k;
    }
    qsort(names, n, sizeof names[0], by_name);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(
            gs_buf_printf(ch, "%s=%s", names[i], json_string_value(json_object_get(env, names[i]))),
            GS_OK);
}

/* The challenge of a container with no hub_url, entrypoint, volumes or networks. */
static void container_challenge(const json_t *w, gs_buf_t *ch)
{
    const json_t *cap = json_object_get(w, "capacity");
    sim_info_challenge(w, "CONTAINER", ch);
    assert_int_equal(gs_buf_printf(ch, "%sfalse", gs_json_str(w, "flist")), GS_OK);
    env_challenge(json_object_get(w, "environment"), ch);
    env_challenge(json_object_get(w, "secret_environment"), ch);
    assert_int_equal(gs_buf_printf(ch, "%lld%lld%lld%s", (long long)sim_int(cap, "cpu"),
                                   (long long)sim_int(cap, "memory"),
                                   (long long)sim_int(cap, "disk_size"),
                                   sim_int(cap, "disk_type") ? "ssd" : "hdd"),
                     GS_OK);
}

/* A container of flist on node 0 (2 cores, 2 GiB memory, a 10 GiB SSD disk) with
 * GREETING=hello and the secret TOKEN=t0ps3cret encrypted by `encrypter`, posted by
 * Alice; returns its id. */
static int64_t deploy_container(fixture_t *f, const char *flist, const sim_who_t *encrypter,
                                json_t **w_out)
{
    int64_t pid = sim_paid_pool(&f->http, &f->ctx, &f->alice, 100000, 100000);
    char *box = encrypt_for_node(&f->ctx.world.nodes[0], encrypter, "t0ps3cret");
    json_t *w =
        json_pack("{s:i, s:s, s:I, s:{s:[I], s:i}, s:I, s:I, s:s, s:i, s:s, s:{s:s}, s:{s:s}, "
                  "s:{s:i, s:i, s:i, s:i}}",
                  "workload_id", 1, "node_id", f->ctx.world.nodes[0].node_id, "pool_id",
                  (json_int_t)pid, "signing_request_delete", "signers", (json_int_t)f->alice.tid,
                  "quorum_min", 1, "customer_tid", (json_int_t)f->alice.tid, "epoch",
                  (json_int_t)1600867642, "metadata", "", "workload_type", 1, "flist", flist,
                  "environment", "GREETING", "hello", "secret_environment", "TOKEN", box,
                  "capacity", "cpu", 2, "memory", 2048, "disk_size", 10240, "disk_type", 1);
    assert_non_null(w);
    free(box);
    *w_out = w;
    return post_signed(f, w);
}

static void delete_workload(fixture_t *f, const json_t *w, int64_t id)
{
    gs_buf_t ch;
    json_t *j;
    gs_buf_init(&ch, 1u << 20);
    challenge_of(w, &ch);
    assert_int_equal(
        sim_sign_workload_request(&f->http, id, "delete", &ch, &f->alice, f->alice.tid, &j), 201);
    gs_buf_free(&ch);
    json_decref(j);
}

/* A file of container id's working folder on node 0. */
static void container_file(fixture_t *f, int64_t id, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s/containers/%lld/%s", f->dir, f->ctx.world.nodes[0].node_id,
             (long long)id, name);
}

/* The process id run.sh wrote (waiting for it while the loop runs); remembered so
 * that teardown checks the process is gone. */
static pid_t wait_pid(fixture_t *f, int64_t id)
{
    char path[256];
    gs_buf_t b;
    pid_t pid;
    container_file(f, id, "pid", path, sizeof path);
    for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
        sim_http_run_for(&f->loop, 20);
    gs_buf_init(&b, 64);
    if (gs_file_read(path, 64, &b, NULL) != GS_OK)
        fail_msg("the container never wrote %s", path);
    pid = (pid_t)atoi(b.data);
    gs_buf_free(&b);
    assert_true(pid > 1);
    assert_int_equal(kill(pid, 0), 0);
    assert_true(f->n_pids < GS_ARRAY_SIZE(f->pids));
    f->pids[f->n_pids++] = pid;
    return pid;
}

/* Runs the loop until pid is gone and reaped (a zombie still answers kill 0). */
static void wait_gone(fixture_t *f, pid_t pid)
{
    for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
        sim_http_run_for(&f->loop, 20);
    if (kill(pid, 0) == 0)
        fail_msg("process %d is still there", (int)pid);
}

/* The workload's result once its state is `state` (polling for up to 10 s). */
static json_t *wait_state(fixture_t *f, int64_t id, int64_t state)
{
    json_t *result = workload_result(f, id);
    for (int i = 0; i < 500 && sim_int(result, "state") != state; i++) {
        json_decref(result);
        sim_http_run_for(&f->loop, 20);
        result = workload_result(f, id);
    }
    assert_int_equal(sim_int(result, "state"), state);
    return result;
}

static void expect_reserved(fixture_t *f, double cru, double mru, double sru)
{
    assert_true(reserved(f, "cru") == cru);
    assert_true(reserved(f, "mru") == mru);
    assert_true(reserved(f, "sru") == sru);
}

static void expect_message(const json_t *result, const char *want)
{
    const char *msg = gs_json_str(result, "message");
    if (msg == NULL || strstr(msg, want) == NULL)
        fail_msg("message '%s', expected it to hold '%s'", msg ? msg : "(none)", want);
}

/* ---- tests ---- */

static void test_zdb_workload_is_provisioned_with_its_password_size_and_mode(void **state)
{
    fixture_t *f = *state;
    json_t *w, *result, *data;
    int64_t id = deploy(f, 2, &f->alice, "s3cret", &w);
    char limit[48];
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
    assert_signed_by_node(f, result);
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
    json_t *w, *result;
    int64_t id = deploy(f, 4, &f->alice, "", &w);
    session_t s = {.cmds = {(const char *const[]){"SELECT", "1-1", NULL}}};
    run(f, &s);
    expect_reply(&s, 0, "+OK"); /* an empty password: none */
    assert_true(reserved_hru(f) == 4);
    delete_workload(f, w, id);
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

static void test_container_runs_its_flist_command_with_its_environment_and_secret(void **state)
{
    fixture_t *f = *state;
    json_t *w, *result, *data;
    int64_t id = deploy_container(f, RUN_FLIST, &f->alice, &w);
    char path[256], want[160];
    gs_buf_t env;
    result = workload_result(f, id);
    assert_int_equal(sim_int(result, "state"), 1);
    data = json_object_get(result, "data_json");
    snprintf(want, sizeof want, "%lld-1", (long long)id);
    assert_string_equal(gs_json_str(data, "id"), want);
    /* its own loopback address, 127.B.H.L with H.L the workload id */
    {
        unsigned b = 0, h = 9, l = 9;
        assert_int_equal(sscanf(gs_json_str(data, "ipv4"), "127.%u.%u.%u", &b, &h, &l), 3);
        assert_true(b >= 64 && b <= 254);
        assert_int_equal(h * 256 + l, (unsigned)id & 0xffffu);
        snprintf(want, sizeof want, "GRIDSTOR_SIM_IPV4=%s\n", gs_json_str(data, "ipv4"));
    }
    assert_signed_by_node(f, result);
    wait_pid(f, id);
    expect_reserved(f, 2, 2, 10);
    container_file(f, id, "env.txt", path, sizeof path);
    gs_buf_init(&env, 1u << 20);
    assert_int_equal(gs_file_read(path, 1u << 20, &env, NULL), GS_OK);
    assert_non_null(strstr(env.data, "GREETING=hello\n"));
    assert_non_null(strstr(env.data, "TOKEN=t0ps3cret\n"));
    assert_non_null(strstr(env.data, want));
    snprintf(want, sizeof want, "GRIDSTOR_SIM_WORKLOAD_ID=%lld\n", (long long)id);
    assert_non_null(strstr(env.data, want));
    snprintf(want, sizeof want, "GRIDSTOR_SIM_NODE_ID=%s\n", f->ctx.world.nodes[0].node_id);
    assert_non_null(strstr(env.data, want));
    assert_non_null(strstr(env.data, "GRIDSTOR_SIM_FLIST=" RUN_FLIST "\n"));
    container_file(f, id, "args.txt", path, sizeof path);
    gs_buf_reset(&env);
    assert_int_equal(gs_file_read(path, 1u << 20, &env, NULL), GS_OK);
    snprintf(want, sizeof want, "%lld xy\n", (long long)id);
    assert_string_equal(env.data, want);
    gs_buf_free(&env);
    json_decref(result);
    json_decref(w); /* teardown checks the sim stops the process */
}

/* A container of flist with its secret encrypted by `encrypter` fails with a message
 * holding `why`, nothing runs and nothing stays reserved. */
static void expect_container_fails(fixture_t *f, const char *flist, const sim_who_t *encrypter,
                                   const char *why)
{
    json_t *w, *result;
    int64_t id = deploy_container(f, flist, encrypter, &w);
    char path[256];
    result = workload_result(f, id);
    assert_int_equal(sim_int(result, "state"), 0);
    expect_message(result, why);
    container_file(f, id, "pid", path, sizeof path);
    sim_http_run_for(&f->loop, 200);
    assert_int_equal(access(path, F_OK), -1); /* nothing ran */
    expect_reserved(f, 0, 0, 0);
    json_decref(result);
    json_decref(w);
}

static void test_container_of_an_unknown_flist_fails_naming_it(void **state)
{
    fixture_t *f = *state;
    expect_container_fails(f, "https://hub.test/unknown.flist", &f->alice,
                           "https://hub.test/unknown.flist");
}

static void test_container_whose_command_cannot_start_fails(void **state)
{
    fixture_t *f = *state;
    expect_container_fails(f, MISSING_FLIST, &f->alice, "no-such-program");
}

static void test_container_secret_encrypted_with_another_key_fails(void **state)
{
    fixture_t *f = *state;
    expect_container_fails(f, RUN_FLIST, &f->mallory, "secret_environment.TOKEN");
}

static void test_deleted_container_is_stopped_and_releases_its_capacity(void **state)
{
    fixture_t *f = *state;
    json_t *w, *result;
    int64_t id = deploy_container(f, RUN_FLIST, &f->alice, &w);
    pid_t pid = wait_pid(f, id);
    expect_reserved(f, 2, 2, 10);
    delete_workload(f, w, id);
    result = workload_result(f, id);
    assert_int_equal(sim_int(result, "state"), 2);
    wait_gone(f, pid);
    expect_reserved(f, 0, 0, 0);
    json_decref(result);
    json_decref(w);
}

static void test_container_ignoring_sigterm_is_killed_after_the_grace_period(void **state)
{
    fixture_t *f = *state;
    json_t *w, *result;
    int64_t id = deploy_container(f, STUBBORN_FLIST, &f->alice, &w);
    pid_t pid = wait_pid(f, id);
    delete_workload(f, w, id);
    result = workload_result(f, id);
    assert_int_equal(sim_int(result, "state"), 2);
    sim_http_run_for(&f->loop, 1000);
    assert_int_equal(kill(pid, 0), 0); /* SIGTERM is ignored: still there within 3 s */
    wait_gone(f, pid);
    expect_reserved(f, 0, 0, 0);
    json_decref(result);
    json_decref(w);
}

static void test_node_down_kills_its_container_and_up_starts_it_again(void **state)
{
    fixture_t *f = *state;
    sim_node_t *n = &f->ctx.world.nodes[0];
    gs_diag_t diag = {{0}};
    json_t *w, *result;
    int64_t id = deploy_container(f, RUN_FLIST, &f->alice, &w);
    pid_t first = wait_pid(f, id), second;
    char path[256];
    assert_int_equal(sim_node_set_down(&f->ctx, n, true, &diag), GS_OK);
    wait_gone(f, first);
    expect_reserved(f, 0, 0, 0);
    container_file(f, id, "pid", path, sizeof path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(sim_node_set_down(&f->ctx, n, false, &diag), GS_OK);
    second = wait_pid(f, id);
    assert_true(second != first);
    expect_reserved(f, 2, 2, 10);
    result = workload_result(f, id);
    assert_int_equal(sim_int(result, "state"), 1);
    json_decref(result);
    json_decref(w);
}

static void test_container_exiting_by_itself_fails_its_workload(void **state)
{
    fixture_t *f = *state;
    json_t *w, *result;
    int64_t id = deploy_container(f, EXIT_FLIST, &f->alice, &w);
    result = wait_state(f, id, 0);
    expect_message(result, "container exited with status 3");
    expect_reserved(f, 0, 0, 0);
    json_decref(result);
    json_decref(w);
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
        cmocka_unit_test_setup_teardown(
            test_container_runs_its_flist_command_with_its_environment_and_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_of_an_unknown_flist_fails_naming_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_container_whose_command_cannot_start_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_container_secret_encrypted_with_another_key_fails,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_container_is_stopped_and_releases_its_capacity,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_container_ignoring_sigterm_is_killed_after_the_grace_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_down_kills_its_container_and_up_starts_it_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_exiting_by_itself_fails_its_workload, setup,
                                        teardown),
    };
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
