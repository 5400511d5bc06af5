/* test_codec_zdb.c — the codec's 0-db client and the shard store over 0-db backends,
 * against real `gridstor-sim zdb` processes ($GS_SIM) on loopback ports chosen at run
 * time, and against small raw TCP listeners run by the test on its own loop (one that
 * never answers, one that answers garbage, one that announces a 100 MiB value). Every
 * server a test starts is stopped by its pid in the teardown, also when the test fails. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "process.h"
#include "zdbproc.h"

#define MAX_SERVERS 3
#define ADMIN       TS_ZDB_ADMIN

/* ---- fixture: a loop and the 0-db servers of one test ---- */

typedef struct {
    uv_loop_t loop;
    char dir[64];
    ts_zdb_t srv[MAX_SERVERS];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL || uv_loop_init(&f->loop) != 0)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/gs-test-codec-zdb-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc;
    for (int i = 0; i < MAX_SERVERS; i++)
        if (f->srv[i].pid > 0)
            ts_stop_server(f->srv[i].pid, 5000);
    uv_walk(&f->loop, walk_close, NULL); /* only after a failed test: passing ones close all */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&f->loop);
    ts_remove_tree(f->dir);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Runs the loop until every handle closed, and checks that it can be closed. */
static void finish_loop(fixture_t *f)
{
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0); /* the teardown closes it again */
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- replies ---- */

typedef struct {
    bool done;
    int err;
    char msg[GS_DIAG_MAX];
    gs_resp_type_t type;
    gs_buf_t value; /* BULK, SIMPLE, ERROR text */
    int64_t integer;
} res_t;

static void res_init(res_t *r)
{
    memset(r, 0, sizeof *r);
    gs_buf_init(&r->value, GS_RESP_MAX_BULK);
}

static void on_res(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    res_t *r = ud;
    assert_false(r->done); /* exactly once */
    r->done = true;
    r->err = err;
    if (err < 0) {
        assert_null(v);
        assert_non_null(msg);
        snprintf(r->msg, sizeof r->msg, "%s", msg);
        return;
    }
    assert_non_null(v);
    r->type = v->type;
    r->integer = v->integer;
    if (v->type == GS_RESP_BULK || v->type == GS_RESP_SIMPLE || v->type == GS_RESP_ERROR)
        assert_int_equal(gs_buf_append(&r->value, v->str, v->len), GS_OK);
}

static void run_until(fixture_t *f, const bool *done)
{
    while (!*done)
        assert_true(uv_run(&f->loop, UV_RUN_ONCE) != 0 || *done);
}

static gs_zdb_t *client(fixture_t *f, const char *address, const char *ns, const char *password,
                        const char *admin, unsigned timeout_ms)
{
    gs_diag_t diag = {{0}};
    gs_zdb_opts_t o = {address, ns, password, admin, timeout_ms, 0};
    gs_zdb_t *z = gs_zdb_new(&f->loop, &o, &diag);
    if (z == NULL)
        fail_msg("gs_zdb_new: %s", diag.msg);
    return z;
}

/* One command of text arguments, run to its reply; r must be res_init'ed. */
static void call(fixture_t *f, gs_zdb_t *z, res_t *r, const char *name, ...)
{
    const char *argv[8];
    size_t lens[8], argc = 0;
    va_list ap;
    va_start(ap, name);
    for (const char *a = name; a != NULL; a = va_arg(ap, const char *)) {
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    va_end(ap);
    r->done = false;
    gs_buf_reset(&r->value);
    assert_int_equal(gs_zdb_command(z, argc, argv, lens, on_res, r), GS_OK);
    run_until(f, &r->done);
}

static uint64_t set_new(fixture_t *f, gs_zdb_t *z, const void *p, size_t n)
{
    res_t r;
    uint64_t id = 0;
    res_init(&r);
    assert_int_equal(gs_zdb_set(z, "", 0, p, n, on_res, &r), GS_OK);
    run_until(f, &r.done);
    if (r.err)
        fail_msg("SET: %s", r.msg);
    assert_int_equal(r.type, GS_RESP_BULK);
    assert_int_equal(r.value.len, 8);
    assert_int_equal(gs_zdb_key_id(r.value.data, r.value.len, &id), GS_OK);
    gs_buf_free(&r.value);
    return id;
}

static void get_expect(fixture_t *f, gs_zdb_t *z, uint64_t id, const void *p, size_t n)
{
    res_t r;
    unsigned char key[8];
    res_init(&r);
    gs_zdb_id_key(id, key);
    assert_int_equal(gs_zdb_get(z, key, sizeof key, on_res, &r), GS_OK);
    run_until(f, &r.done);
    if (r.err)
        fail_msg("GET: %s", r.msg);
    assert_int_equal(r.type, GS_RESP_BULK);
    assert_int_equal(r.value.len, n);
    assert_memory_equal(r.value.data, p, n);
    gs_buf_free(&r.value);
}

static void close_client(gs_zdb_t *z)
{
    gs_zdb_close(z);
}

/* ---- ids ---- */

static void test_zdb_ids_are_little_endian_keys(void **state)
{
    unsigned char key[8];
    uint64_t id = 0;
    (void)state;
    gs_zdb_id_key(0x0102030405060708ull, key);
    assert_memory_equal(key, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    assert_int_equal(gs_zdb_key_id((const char *)key, 8, &id), GS_OK);
    assert_true(id == 0x0102030405060708ull);
    assert_int_equal(gs_zdb_key_id("\x2a\x00\x00\x01", 4, &id), GS_OK); /* a v1 server's key */
    assert_true(id == 0x0100002aull);
    assert_int_equal(gs_zdb_key_id("\x01\x02", 2, &id), GS_EPARSE);
    assert_int_equal(gs_zdb_key_id("123456789", 9, &id), GS_EPARSE);
}

static void test_zdb_new_refuses_bad_addresses(void **state)
{
    fixture_t *f = *state;
    const char *bad[] = {"localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                         "[::1]9900", "::1:9900",   ":9900",       "127.0.0.1:99x"};
    for (size_t i = 0; i < GS_ARRAY_SIZE(bad); i++) {
        gs_diag_t diag = {{0}};
        gs_zdb_opts_t o = {bad[i], NULL, NULL, NULL, 0, 0};
        assert_null(gs_zdb_new(&f->loop, &o, &diag));
        assert_non_null(strstr(diag.msg, bad[i]));
    }
    /* Literals of both families and names parse (nothing is dialled before a command). */
    for (size_t i = 0; i < 3; i++) {
        const char *good[] = {"[::1]:9900", "127.0.0.1:9900", "localhost:9900"};
        gs_diag_t diag = {{0}};
        gs_zdb_opts_t o = {good[i], "ns", "pw", "admin", 0, 0};
        gs_zdb_t *z = gs_zdb_new(&f->loop, &o, &diag);
        assert_non_null(z);
        assert_int_equal(gs_zdb_pending(z), 0);
        gs_zdb_close(z);
    }
    finish_loop(f);
}

/* ---- against a real 0-db ---- */

static void test_zdb_set_get_round_trips(void **state)
{
    fixture_t *f = *state;
    static const char binary[] = "a\0b\r\n$-1\r\n*2\r\n\xff\x00";
    size_t big_n = GS_RESP_MAX_PAYLOAD;
    unsigned char *big;
    gs_zdb_t *z;
    uint64_t a, b, c;
    char addr[80];
    ts_zdb_start(&f->srv[0], f->dir, 0, 0);
    big = malloc(big_n);
    assert_non_null(big);
    for (size_t i = 0; i < big_n; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 13);
    /* A literal v4 address, and the same server by name through the resolver. */
    z = client(f, f->srv[0].address, NULL, NULL, NULL, 0);
    assert_string_equal(gs_zdb_address(z), f->srv[0].address);
    a = set_new(f, z, binary, sizeof binary);
    b = set_new(f, z, big, big_n);
    c = set_new(f, z, "", 0);
    assert_true(b == a + 1 && c == b + 1);
    get_expect(f, z, a, binary, sizeof binary);
    get_expect(f, z, b, big, big_n);
    get_expect(f, z, c, "", 0);
    close_client(z);
    snprintf(addr, sizeof addr, "localhost:%d", f->srv[0].port);
    z = client(f, addr, NULL, NULL, NULL, 0);
    get_expect(f, z, a, binary, sizeof binary);
    close_client(z);
    free(big);
    ts_zdb_stop(&f->srv[0]);
    finish_loop(f);
}

typedef struct {
    unsigned next; /* the index the next reply must carry */
    unsigned n;
    uint64_t ids[1000];
    bool done;
} order_t;

typedef struct {
    order_t *o;
    unsigned index;
} order_item_t;

static void on_ordered(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    order_item_t *it = ud;
    order_t *o = it->o;
    if (err)
        fail_msg("SET %u: %s", it->index, msg);
    assert_int_equal(it->index, o->next);
    assert_int_equal(v->type, GS_RESP_BULK);
    assert_int_equal(gs_zdb_key_id(v->str, v->len, &o->ids[o->next]), GS_OK);
    o->next++;
    o->done = o->next == o->n;
}

static void test_zdb_pipelined_sets_answer_in_order(void **state)
{
    fixture_t *f = *state;
    static order_t o;
    static order_item_t items[1000];
    gs_zdb_t *z;
    ts_zdb_start(&f->srv[0], f->dir, 0, 0);
    z = client(f, f->srv[0].address, NULL, NULL, NULL, 0);
    memset(&o, 0, sizeof o);
    o.n = 1000;
    for (unsigned i = 0; i < o.n; i++) {
        char value[32];
        int n = snprintf(value, sizeof value, "value %u", i);
        items[i] = (order_item_t){&o, i};
        assert_int_equal(gs_zdb_set(z, "", 0, value, (size_t)n, on_ordered, &items[i]), GS_OK);
    }
    assert_int_equal(gs_zdb_pending(z), 1000); /* all queued before the loop ran once */
    run_until(f, &o.done);
    assert_int_equal(gs_zdb_pending(z), 0);
    for (unsigned i = 1; i < o.n; i++)
        assert_true(o.ids[i] == o.ids[i - 1] + 1);
    get_expect(f, z, o.ids[999], "value 999", 9);
    close_client(z);
    ts_zdb_stop(&f->srv[0]);
    finish_loop(f);
}

static void test_zdb_select_with_password(void **state)
{
    fixture_t *f = *state;
    gs_zdb_t *admin, *ok, *wrong, *bad_admin;
    res_t r;
    char entries[32];
    ts_zdb_start(&f->srv[0], f->dir, 0, 0);
    res_init(&r);
    admin = client(f, f->srv[0].address, NULL, NULL, ADMIN, 0);
    call(f, admin, &r, "NSNEW", "vault", NULL);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.type, GS_RESP_SIMPLE);
    call(f, admin, &r, "NSSET", "vault", "password", "s3cret", NULL);
    assert_int_equal(r.type, GS_RESP_SIMPLE);
    call(f, admin, &r, "NSSET", "vault", "public", "0", NULL);
    assert_int_equal(r.type, GS_RESP_SIMPLE);

    ok = client(f, f->srv[0].address, "vault", "s3cret", NULL, 0);
    (void)set_new(f, ok, "inside", 6);
    /* The value went to the namespace selected, not to default. */
    call(f, admin, &r, "NSINFO", "vault", NULL);
    assert_true(gs_zdb_info_field(
        &(gs_resp_value_t){.type = GS_RESP_BULK, .str = r.value.data, .len = r.value.len},
        "entries", entries, sizeof entries));
    assert_string_equal(entries, "1");

    wrong = client(f, f->srv[0].address, "vault", "guess", NULL, 0);
    call(f, wrong, &r, "DBSIZE", NULL);
    assert_int_equal(r.err, GS_EREFUSED);
    assert_non_null(strstr(r.msg, "SELECT refused"));
    assert_non_null(strstr(r.msg, "Access denied"));

    bad_admin = client(f, f->srv[0].address, NULL, NULL, "nope", 0);
    call(f, bad_admin, &r, "NSNEW", "other", NULL);
    assert_int_equal(r.err, GS_EREFUSED);
    assert_non_null(strstr(r.msg, "AUTH refused"));

    close_client(admin);
    close_client(ok);
    close_client(wrong);
    close_client(bad_admin);
    gs_buf_free(&r.value);
    ts_zdb_stop(&f->srv[0]);
    finish_loop(f);
}

static void test_zdb_value_over_8mib_refused_locally(void **state)
{
    fixture_t *f = *state;
    size_t n = GS_RESP_MAX_PAYLOAD + 1;
    char *big = calloc(1, n);
    res_t r;
    gs_zdb_t *z;
    assert_non_null(big);
    res_init(&r);
    /* No server at all: the refusal must come before any connection is tried. */
    z = client(f, "127.0.0.1:9", NULL, NULL, NULL, 0);
    assert_int_equal(gs_zdb_set(z, "", 0, big, n, on_res, &r), GS_ETOOBIG);
    assert_int_equal(gs_zdb_command(z, 0, NULL, NULL, on_res, &r), GS_EINVAL);
    assert_int_equal(gs_zdb_pending(z), 0);
    close_client(z);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_false(r.done);
    free(big);
    finish_loop(f);
}

static void test_zdb_server_killed_then_back(void **state)
{
    fixture_t *f = *state;
    res_t r[10], again;
    gs_zdb_t *z;
    uint64_t id;
    int port;
    unsigned char key[8];
    bool back = false;
    ts_zdb_start(&f->srv[0], f->dir, 0, 0);
    port = f->srv[0].port;
    z = client(f, f->srv[0].address, NULL, NULL, NULL, 2000);
    id = set_new(f, z, "survivor", 8);
    /* Sent on a live connection, then the server dies before answering (it is stopped
     * first, so that it cannot answer some in between). */
    assert_int_equal(kill(f->srv[0].pid, SIGSTOP), 0);
    for (int i = 0; i < 10; i++) {
        res_init(&r[i]);
        assert_int_equal(gs_zdb_set(z, "", 0, "lost", 4, on_res, &r[i]), GS_OK);
    }
    ts_zdb_kill(&f->srv[0]);
    for (int i = 0; i < 10; i++) {
        run_until(f, &r[i].done);
        if (r[i].err != GS_ECONN && r[i].err != GS_ETIMEDOUT)
            fail_msg("command %d: %d %s", i, r[i].err, r[i].msg);
    }
    /* Nobody listens now: a fresh command fails too, and does not hang. */
    res_init(&again);
    call(f, z, &again, "PING", NULL);
    assert_int_equal(again.err, GS_ECONN);

    ts_zdb_start(&f->srv[0], f->dir, 0, port);
    gs_zdb_id_key(id, key);
    for (int attempt = 0; attempt < 50 && !back; attempt++) {
        res_init(&again);
        assert_int_equal(gs_zdb_get(z, key, sizeof key, on_res, &again), GS_OK);
        run_until(f, &again.done);
        back = again.err == 0;
        if (!back) {
            assert_int_equal(again.err, GS_ECONN);
            sleep_ms(100);
        }
    }
    assert_true(back);
    assert_int_equal(again.type, GS_RESP_BULK);
    assert_int_equal(again.value.len, 8);
    assert_memory_equal(again.value.data, "survivor", 8);
    gs_buf_free(&again.value);
    close_client(z);
    ts_zdb_stop(&f->srv[0]);
    finish_loop(f);
}

static void test_zdb_close_cancels_pending(void **state)
{
    fixture_t *f = *state;
    res_t r[5], first;
    gs_zdb_t *z;
    ts_zdb_start(&f->srv[0], f->dir, 0, 0);
    z = client(f, f->srv[0].address, NULL, NULL, NULL, 0);
    res_init(&first);
    call(f, z, &first, "PING", NULL);
    assert_int_equal(first.type, GS_RESP_SIMPLE);
    for (int i = 0; i < 5; i++) {
        res_init(&r[i]);
        assert_int_equal(gs_zdb_set(z, "", 0, "x", 1, on_res, &r[i]), GS_OK);
    }
    gs_zdb_close(z);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 5; i++) {
        assert_true(r[i].done);
        assert_int_equal(r[i].err, GS_ECANCELED);
    }
    /* A client closed while still connecting. */
    z = client(f, f->srv[0].address, NULL, NULL, NULL, 0);
    gs_buf_free(&first.value);
    res_init(&first);
    assert_int_equal(gs_zdb_set(z, "", 0, "x", 1, on_res, &first), GS_OK);
    gs_zdb_close(z);
    assert_true(first.done);
    assert_int_equal(first.err, GS_ECANCELED);
    gs_buf_free(&first.value);
    finish_loop(f);
    ts_zdb_stop(&f->srv[0]);
}

/* ---- against listeners that misbehave ---- */

typedef struct {
    uv_tcp_t server;
    const char *answer; /* written once after the first bytes come in; NULL: never */
    size_t answer_len;
    int port;
    uv_tcp_t *peers[8];
    unsigned n_peers;
} raw_t;

static void raw_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char sink[65536];
    (void)h;
    (void)hint;
    *buf = uv_buf_init(sink, sizeof sink);
}

static void raw_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    raw_t *raw = s->data;
    (void)buf;
    if (n > 0 && raw->answer) {
        uv_write_t *w = malloc(sizeof *w);
        uv_buf_t b = uv_buf_init((char *)raw->answer, (unsigned)raw->answer_len);
        assert_non_null(w);
        assert_int_equal(uv_write(w, s, &b, 1, raw_written), 0);
    }
    if (n < 0)
        uv_read_stop(s);
}

static void raw_connection(uv_stream_t *server, int status)
{
    raw_t *raw = server->data;
    uv_tcp_t *peer = malloc(sizeof *peer);
    assert_int_equal(status, 0);
    assert_non_null(peer);
    assert_true(raw->n_peers < GS_ARRAY_SIZE(raw->peers));
    uv_tcp_init(server->loop, peer);
    peer->data = raw;
    assert_int_equal(uv_accept(server, (uv_stream_t *)peer), 0);
    uv_read_start((uv_stream_t *)peer, raw_alloc, raw_read);
    raw->peers[raw->n_peers++] = peer;
}

static void raw_start(fixture_t *f, raw_t *raw, const char *answer, size_t len)
{
    struct sockaddr_in sin;
    struct sockaddr_storage ss;
    int sslen = sizeof ss;
    memset(raw, 0, sizeof *raw);
    raw->answer = answer;
    raw->answer_len = len;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
    assert_int_equal(uv_tcp_init(&f->loop, &raw->server), 0);
    raw->server.data = raw;
    assert_int_equal(uv_tcp_bind(&raw->server, (struct sockaddr *)&sin, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&raw->server, 16, raw_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&raw->server, (struct sockaddr *)&ss, &sslen), 0);
    raw->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void raw_peer_closed(uv_handle_t *h)
{
    free(h);
}

static void raw_stop(raw_t *raw)
{
    for (unsigned i = 0; i < raw->n_peers; i++)
        uv_close((uv_handle_t *)raw->peers[i], raw_peer_closed);
    uv_close((uv_handle_t *)&raw->server, NULL);
}

static void test_zdb_timeout_on_a_silent_server(void **state)
{
    fixture_t *f = *state;
    raw_t raw;
    res_t r[3];
    char addr[64];
    gs_zdb_t *z;
    raw_start(f, &raw, NULL, 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", raw.port);
    z = client(f, addr, NULL, NULL, NULL, 300);
    for (int i = 0; i < 3; i++) {
        res_init(&r[i]);
        assert_int_equal(gs_zdb_cmd(z, on_res, &r[i], "PING", NULL), GS_OK);
    }
    for (int i = 0; i < 3; i++)
        run_until(f, &r[i].done);
    assert_int_equal(r[0].err, GS_ETIMEDOUT);
    assert_non_null(strstr(r[0].msg, "no reply within 300 ms"));
    assert_int_equal(r[1].err, GS_ECONN);
    assert_int_equal(r[2].err, GS_ECONN);
    assert_int_equal(raw.n_peers, 1);
    assert_int_equal(gs_zdb_pending(z), 0);
    close_client(z);
    raw_stop(&raw);
    finish_loop(f);
}

static void expect_bad_reply(fixture_t *f, const char *answer, size_t len, int err)
{
    raw_t raw;
    res_t r[2];
    char addr[64];
    gs_zdb_t *z;
    raw_start(f, &raw, answer, len);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", raw.port);
    z = client(f, addr, NULL, NULL, NULL, 5000);
    for (int i = 0; i < 2; i++) {
        res_init(&r[i]);
        assert_int_equal(gs_zdb_cmd(z, on_res, &r[i], "GET", "x", NULL), GS_OK);
    }
    run_until(f, &r[0].done);
    run_until(f, &r[1].done);
    assert_int_equal(r[0].err, err);
    assert_int_equal(r[1].err, GS_ECONN);
    assert_non_null(strstr(r[0].msg, "bad reply"));
    close_client(z);
    raw_stop(&raw);
    finish_loop(f);
}

static void test_zdb_malformed_replies_drop_the_connection(void **state)
{
    fixture_t *f = *state;
    static const char garbage[] = "hello, this is not RESP\r\n";
    static const char huge[] = "$104857600\r\nabc";
    static const char badlen[] = "$12x\r\n";
    expect_bad_reply(f, garbage, sizeof garbage - 1, GS_EPARSE);
    expect_bad_reply(f, huge, sizeof huge - 1, GS_ETOOBIG);
    expect_bad_reply(f, badlen, sizeof badlen - 1, GS_EPARSE);
}

/* ---- the shard store ---- */

typedef struct {
    bool done;
    int err;
    char msg[GS_DIAG_MAX];
    uint64_t id;
    bool ok;
    gs_buf_t bytes;
} sres_t;

static void on_put(int err, const char *msg, uint64_t id, void *ud)
{
    sres_t *r = ud;
    r->done = true;
    r->err = err;
    r->id = id;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
}

static void on_get(int err, const char *msg, const uint8_t *p, size_t n, void *ud)
{
    sres_t *r = ud;
    r->done = true;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
    gs_buf_init(&r->bytes, GS_RESP_MAX_PAYLOAD);
    if (err == 0)
        assert_int_equal(gs_buf_append(&r->bytes, p, n), GS_OK);
}

static void on_check(int err, const char *msg, bool ok, void *ud)
{
    sres_t *r = ud;
    r->done = true;
    r->err = err;
    r->ok = ok;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
}

static void test_zdb_shard_store_over_three_backends(void **state)
{
    fixture_t *f = *state;
    gs_zdb_opts_t o[3];
    gs_diag_t diag = {{0}};
    gs_shard_store_t *s;
    sres_t put[3][2], r;
    for (int i = 0; i < 3; i++) {
        ts_zdb_start(&f->srv[i], f->dir, i, 0);
        o[i] = (gs_zdb_opts_t){f->srv[i].address, NULL, NULL, NULL, 0, 0};
    }
    s = gs_shard_store_zdb_new(&f->loop, o, 3, &diag);
    if (s == NULL)
        fail_msg("%s", diag.msg);
    assert_int_equal(s->n_backends, 3);
    assert_non_null(strstr(s->names[1], f->srv[1].address));
    assert_true(strncmp(s->names[1], "default@", 8) == 0);
    for (unsigned b = 0; b < 3; b++)
        for (unsigned k = 0; k < 2; k++) {
            uint8_t chunk[64];
            memset(chunk, (int)(b * 16 + k), sizeof chunk);
            memset(&put[b][k], 0, sizeof put[b][k]);
            assert_int_equal(s->ops->put(s, b, chunk, sizeof chunk, on_put, &put[b][k]), GS_OK);
        }
    for (unsigned b = 0; b < 3; b++)
        for (unsigned k = 0; k < 2; k++) {
            uint8_t want[64];
            run_until(f, &put[b][k].done);
            assert_int_equal(put[b][k].err, 0);
            memset(&r, 0, sizeof r);
            assert_int_equal(s->ops->get(s, b, put[b][k].id, on_get, &r), GS_OK);
            run_until(f, &r.done);
            assert_int_equal(r.err, 0);
            memset(want, (int)(b * 16 + k), sizeof want);
            assert_int_equal(r.bytes.len, sizeof want);
            assert_memory_equal(r.bytes.data, want, sizeof want);
            gs_buf_free(&r.bytes);
            memset(&r, 0, sizeof r);
            assert_int_equal(s->ops->check(s, b, put[b][k].id, on_check, &r), GS_OK);
            run_until(f, &r.done);
            assert_int_equal(r.err, 0);
            assert_true(r.ok);
        }
    assert_true(put[0][1].id == put[0][0].id + 1);
    memset(&r, 0, sizeof r);
    assert_int_equal(s->ops->get(s, 2, 424242, on_get, &r), GS_OK);
    run_until(f, &r.done);
    assert_int_equal(r.err, GS_ENOENT);
    assert_non_null(strstr(r.msg, f->srv[2].address));
    gs_buf_free(&r.bytes);
    memset(&r, 0, sizeof r);
    assert_int_equal(s->ops->check(s, 1, 424242, on_check, &r), GS_OK);
    run_until(f, &r.done);
    assert_int_equal(r.err, GS_ENOENT);
    assert_int_equal(s->ops->get(s, 3, 0, on_get, &r), GS_EINVAL);
    /* An operation still pending when the store closes is canceled. */
    memset(&r, 0, sizeof r);
    assert_int_equal(s->ops->put(s, 0, (const uint8_t *)"late", 4, on_put, &r), GS_OK);
    s->ops->close(s);
    assert_true(r.done);
    assert_int_equal(r.err, GS_ECANCELED);
    finish_loop(f);
    for (int i = 0; i < 3; i++)
        ts_zdb_stop(&f->srv[i]);
}

static void test_zdb_shard_store_refusal_is_erefused(void **state)
{
    fixture_t *f = *state;
    gs_zdb_opts_t o;
    gs_diag_t diag = {{0}};
    gs_shard_store_t *s;
    sres_t r;
    gs_zdb_t *admin;
    res_t a;
    ts_zdb_start(&f->srv[0], f->dir, 0, 0);
    /* A namespace locked read-only: SET is refused with 0-db's message. */
    admin = client(f, f->srv[0].address, NULL, NULL, ADMIN, 0);
    res_init(&a);
    call(f, admin, &a, "NSNEW", "ro", NULL);
    assert_int_equal(a.type, GS_RESP_SIMPLE);
    call(f, admin, &a, "NSSET", "ro", "lock", "1", NULL);
    assert_int_equal(a.type, GS_RESP_SIMPLE);
    o = (gs_zdb_opts_t){f->srv[0].address, "ro", NULL, NULL, 0, 0};
    s = gs_shard_store_zdb_new(&f->loop, &o, 1, &diag);
    assert_non_null(s);
    assert_true(strncmp(s->names[0], "ro@", 3) == 0);
    memset(&r, 0, sizeof r);
    assert_int_equal(s->ops->put(s, 0, (const uint8_t *)"v", 1, on_put, &r), GS_OK);
    run_until(f, &r.done);
    assert_int_equal(r.err, GS_EREFUSED);
    assert_non_null(strstr(r.msg, "locked"));
    s->ops->close(s);
    close_client(admin);
    gs_buf_free(&a.value);
    finish_loop(f);
    ts_zdb_stop(&f->srv[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zdb_ids_are_little_endian_keys),
        cmocka_unit_test_setup_teardown(test_zdb_new_refuses_bad_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_set_get_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_pipelined_sets_answer_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_select_with_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_value_over_8mib_refused_locally, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_server_killed_then_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_close_cancels_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_timeout_on_a_silent_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_malformed_replies_drop_the_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zdb_shard_store_over_three_backends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zdb_shard_store_refusal_is_erefused, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
