/* test_zdb.c — the sim's 0-db-protocol server, over real TCP: the server runs in this
 * process on its own libuv loop in a second thread (bound to 127.0.0.1, port 0), and
 * the tests talk RESP to it with small blocking clients, comparing replies byte for byte.
 * Command by command and error by error; sequential ids; namespaces with passwords,
 * public/private, maxsize, worm, lock and freeze; WAIT; SCAN; persistence across a
 * restart, a torn last record; 1,000 concurrent connections; the fault hooks. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "process.h"
#include "sim.h"
#include "zdb.h"

/* ---- the server, on its own loop thread ---- */

typedef struct harness harness_t;
typedef void (*op_fn)(harness_t *h, void *arg);

struct harness {
    uv_loop_t loop;
    uv_async_t async;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    op_fn op;
    void *arg;
    bool pending;
    gs_zdb_server_t *srv;
    int port;
};

typedef struct {
    harness_t h;
    bool running;
    char dir[64], data[128], index[128];
    gs_zdb_config_t cfg;
} fixture_t;

static void on_async(uv_async_t *a)
{
    harness_t *h = a->data;
    pthread_mutex_lock(&h->mu);
    if (h->pending) {
        h->op(h, h->arg);
        h->pending = false;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
}

/* Runs op on the loop thread and waits for it. */
static void on_loop(harness_t *h, op_fn op, void *arg)
{
    pthread_mutex_lock(&h->mu);
    h->op = op;
    h->arg = arg;
    h->pending = true;
    pthread_mutex_unlock(&h->mu);
    uv_async_send(&h->async);
    pthread_mutex_lock(&h->mu);
    while (h->pending)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void *loop_main(void *arg)
{
    harness_t *h = arg;
    uv_run(&h->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void start(fixture_t *f)
{
    harness_t *h = &f->h;
    gs_diag_t diag = {{0}};
    memset(h, 0, sizeof *h);
    assert_int_equal(uv_loop_init(&h->loop), 0);
    assert_int_equal(uv_async_init(&h->loop, &h->async, on_async), 0);
    h->async.data = h;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (gs_zdb_server_start(&h->loop, &f->cfg, &h->srv, &diag) != GS_OK)
        fail_msg("server start: %s", diag.msg);
    h->port = gs_zdb_server_port(h->srv);
    assert_true(h->port > 0);
    assert_int_equal(pthread_create(&h->thread, NULL, loop_main, h), 0);
    f->running = true;
}

static void on_closed(void *ud)
{
    harness_t *h = ud;
    uv_close((uv_handle_t *)&h->async, NULL);
}

static void op_close(harness_t *h, void *arg)
{
    (void)arg;
    gs_zdb_server_close(h->srv, on_closed, h);
    h->srv = NULL;
}

static void stop(fixture_t *f)
{
    harness_t *h = &f->h;
    if (!f->running)
        return;
    on_loop(h, op_close, NULL);
    pthread_join(h->thread, NULL);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    f->running = false;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/gs-test-zdb-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->index, sizeof f->index, "%s/index", f->dir);
    gs_zdb_config_init(&f->cfg);
    f->cfg.listen = "127.0.0.1";
    f->cfg.port = 0;
    f->cfg.data_dir = f->data;
    f->cfg.index_dir = f->index;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    stop(f);
    ts_remove_tree(f->dir);
    free(f);
    return 0;
}

/* ---- a blocking client ---- */

#define S(lit) lit, sizeof(lit) - 1

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

typedef struct {
    int fd;
    gs_buf_t in;
    size_t drop; /* bytes of the last reply, dropped before the next */
    gs_resp_parser_t parser;
    const gs_resp_value_t *value;
    size_t size;
} client_t;

static int dial(int port)
{
    struct sockaddr_in sin = {0};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void client_open(client_t *c, int port)
{
    memset(c, 0, sizeof *c);
    c->fd = dial(port);
    if (c->fd < 0)
        fail_msg("connect to 127.0.0.1:%d: %s", port, strerror(errno));
    gs_buf_init(&c->in, 64u << 20);
    gs_resp_parser_init(&c->parser);
}

static void client_close(client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    gs_buf_free(&c->in);
    gs_resp_parser_free(&c->parser);
}

static void send_all(client_t *c, const void *p, size_t n)
{
    const char *q = p;
    while (n > 0) {
        ssize_t w = write(c->fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("write: %s", strerror(errno));
        q += w;
        n -= (size_t)w;
    }
}

static void send_args(client_t *c, size_t argc, const char *const *argv, const size_t *lens)
{
    gs_buf_t b;
    gs_buf_init(&b, 64u << 20);
    assert_int_equal(gs_resp_put_request(&b, argc, argv, lens), GS_OK);
    send_all(c, b.data, b.len);
    gs_buf_free(&b);
}

static void send_strs(client_t *c, size_t argc, const char *const *argv)
{
    size_t lens[16];
    assert_true(argc <= 16);
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    send_args(c, argc, argv, lens);
}

/* Reads bytes until recv returns 0 (true) or fails/times out (false). */
static bool wait_eof(client_t *c)
{
    char tmp[4096];
    for (;;) {
        ssize_t r = read(c->fd, tmp, sizeof tmp);
        if (r == 0)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
    }
}

/* The next reply (value and raw bytes), or NULL when the connection closed. */
static const gs_resp_value_t *next_reply(client_t *c)
{
    gs_diag_t diag = {{0}};
    if (c->drop > 0) {
        memmove(c->in.data, c->in.data + c->drop, c->in.len - c->drop);
        c->in.len -= c->drop;
        c->drop = 0;
    }
    for (;;) {
        gs_resp_reply_t r;
        char tmp[65536];
        ssize_t n;
        int rc =
            gs_resp_reply_parse(&c->parser, c->in.data ? c->in.data : "", c->in.len, &r, &diag);
        if (rc == GS_RESP_DONE) {
            c->value = r.value;
            c->size = c->drop = r.size;
            return r.value;
        }
        if (rc < 0)
            fail_msg("bad reply: %s", diag.msg);
        n = read(c->fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return NULL;
        if (n < 0)
            fail_msg("read: %s", strerror(errno));
        assert_int_equal(gs_buf_append(&c->in, tmp, (size_t)n), GS_OK);
    }
}

static void print_escaped(const char *label, const char *p, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n && i < 300; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\r')
            fputs("\\r", stderr);
        else if (ch == '\n')
            fputs("\\n", stderr);
        else if (ch < 32 || ch > 126)
            fprintf(stderr, "\\x%02x", ch);
        else
            fputc(ch, stderr);
    }
    fputs("\"\n", stderr);
}

/* The next reply must be exactly want[0..n). */
static void expect_bytes(client_t *c, const char *want, size_t n, int line)
{
    if (next_reply(c) == NULL)
        fail_msg("line %d: connection closed instead of a reply", line);
    if (c->size != n || memcmp(c->in.data, want, n) != 0) {
        print_escaped("expected", want, n);
        print_escaped("received", c->in.data, c->size);
        fail_msg("line %d: reply differs", line);
    }
}

#define SEND(c, ...)                                                                               \
    do {                                                                                           \
        const char *a_[] = {__VA_ARGS__};                                                          \
        send_strs((c), GS_ARRAY_SIZE(a_), a_);                                                     \
    } while (0)

/* Sends a command of string arguments and expects the reply `raw` (a literal). */
#define EXPECT(c, raw, ...)                                                                        \
    do {                                                                                           \
        SEND(c, __VA_ARGS__);                                                                      \
        expect_bytes((c), raw, sizeof(raw) - 1, __LINE__);                                         \
    } while (0)

/* Sends a command and returns the reply's value. */
static const gs_resp_value_t *call(client_t *c, size_t argc, const char *const *argv,
                                   const size_t *lens)
{
    const gs_resp_value_t *v;
    send_args(c, argc, argv, lens);
    v = next_reply(c);
    assert_non_null(v);
    return v;
}

/* A bulk's text, NUL-terminated in a static buffer (for strstr). */
static const char *text_of(const gs_resp_value_t *v)
{
    static char buf[16384];
    assert_int_equal(v->type, GS_RESP_BULK);
    assert_true(v->len < sizeof buf);
    memcpy(buf, v->str, v->len);
    buf[v->len] = '\0';
    return buf;
}

static const char *info_of(client_t *c, const char *cmd, const char *ns)
{
    const char *argv[] = {cmd, ns};
    size_t lens[] = {strlen(cmd), ns ? strlen(ns) : 0};
    return text_of(call(c, ns ? 2 : 1, argv, lens));
}

static void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("'%s' not found in:\n%s", part, text);
}

/* ---- basics ---- */

static void test_zdb_ping_time_info_and_prefix_matching(void **state)
{
    fixture_t *f = *state;
    client_t c;
    const gs_resp_value_t *v;
    long long now;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "+PONG\r\n", "PING");
    EXPECT(&c, "+PONG\r\n", "ping");
    EXPECT(&c, "+PONG\r\n", "PI");
    send_all(&c, "PING\r\n", 6); /* inline */
    expect_bytes(&c, "+PONG\r\n", 7, __LINE__);
    SEND(&c, "TIME");
    v = next_reply(&c);
    assert_int_equal(v->type, GS_RESP_ARRAY);
    assert_int_equal(v->n, 2);
    assert_int_equal(v->elem[0].type, GS_RESP_BULK);
    now = strtoll(text_of(&v->elem[0]), NULL, 10);
    assert_true(llabs(now - (long long)time(NULL)) <= 5);
    assert_true(strtoll(text_of(&v->elem[1]), NULL, 10) < 1000000);
    assert_contains(info_of(&c, "INFO", NULL), "sequential_key_size: 8\n");
    assert_contains(info_of(&c, "INFO", NULL), "data_version: 3\n");
    assert_contains(info_of(&c, "INFO", NULL), "commands_executed: ");
    {
        const char *boot = strstr(info_of(&c, "INFO", NULL), "boot_time: ");
        assert_non_null(boot);
        assert_true(llabs(strtoll(boot + 11, NULL, 10) - now) <= 5);
    }
    client_close(&c);
}

static void test_zdb_unknown_commands_and_arity_errors(void **state)
{
    fixture_t *f = *state;
    client_t c;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "-Command not supported\r\n", "FOO");
    EXPECT(&c, "-Command not supported\r\n", "");
    EXPECT(&c, "-Command not supported\r\n", "PINGX");
    EXPECT(&c, "-Invalid argument\r\n", "GET");
    EXPECT(&c, "-Invalid argument\r\n", "SET", "k");
    EXPECT(&c, "-Invalid argument\r\n", "PING", "x");
    EXPECT(&c, "-Invalid argument\r\n", "NSSET", "default", "lock");
    EXPECT(&c, "-Authentication disabled\r\n", "AUTH", "x");
    EXPECT(&c, "+PONG\r\n", "PING"); /* the connection survived every error */
    client_close(&c);
}

static void test_zdb_user_keys_set_get_del_and_nil_on_identical_set(void **state)
{
    fixture_t *f = *state;
    client_t c;
    const gs_resp_value_t *v;
    const char *bin[] = {"SET", "k\0\r\ney", "v\0l"};
    size_t binlen[] = {3, 6, 3};
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "$1\r\nk\r\n", "SET", "k", "v");
    EXPECT(&c, "$-1\r\n", "SET", "k", "v");
    EXPECT(&c, "$1\r\nv\r\n", "GET", "k");
    EXPECT(&c, "$1\r\nk\r\n", "SET", "k", "v2");
    EXPECT(&c, "$2\r\nv2\r\n", "GET", "k");
    EXPECT(&c, "$-1\r\n", "GET", "missing");
    EXPECT(&c, ":1\r\n", "EXISTS", "k");
    EXPECT(&c, ":0\r\n", "EXISTS", "missing");
    EXPECT(&c, ":2\r\n", "LENGTH", "k");
    EXPECT(&c, "$-1\r\n", "LENGTH", "missing");
    EXPECT(&c, ":1\r\n", "CHECK", "k");
    EXPECT(&c, "$-1\r\n", "CHECK", "missing");
    EXPECT(&c, "$-1\r\n", "KEYTIME", "missing");
    SEND(&c, "KEYTIME", "k");
    v = next_reply(&c);
    assert_int_equal(v->type, GS_RESP_INTEGER);
    assert_true(llabs((long long)v->integer - (long long)time(NULL)) <= 5);
    EXPECT(&c, "$2\r\nk2\r\n", "SET", "k2", "");
    EXPECT(&c, "$0\r\n\r\n", "GET", "k2");
    EXPECT(&c, ":2\r\n", "DBSIZE");
    EXPECT(&c, "*3\r\n$2\r\nv2\r\n$-1\r\n$0\r\n\r\n", "MGET", "k", "nope", "k2");
    EXPECT(&c, "+OK\r\n", "DEL", "k");
    EXPECT(&c, "-Key not found\r\n", "DEL", "k");
    EXPECT(&c, "$-1\r\n", "GET", "k");
    EXPECT(&c, ":0\r\n", "EXISTS", "k");
    EXPECT(&c, "$-1\r\n", "CHECK", "k");
    EXPECT(&c, ":1\r\n", "DBSIZE");
    EXPECT(&c, "-Invalid argument\r\n", "SET", "", "v");
    send_args(&c, 3, bin, binlen);
    expect_bytes(&c, "$6\r\nk\0\r\ney\r\n", 12, __LINE__);
    send_args(&c, 2, (const char *[]){"GET", "k\0\r\ney"}, (size_t[]){3, 6});
    expect_bytes(&c, "$3\r\nv\0l\r\n", 9, __LINE__);
    EXPECT(&c, "$1\r\nk\r\n", "SET", "k", "again"); /* a deleted key can come back */
    client_close(&c);
}

static void test_zdb_key_and_value_limits(void **state)
{
    fixture_t *f = *state;
    client_t c;
    char key[257];
    size_t big = GS_RESP_MAX_PAYLOAD;
    char *value = malloc(GS_RESP_MAX_BULK + 2);
    const char *argv[] = {"SET", "big", value};
    size_t lens[] = {3, 3, big};
    const gs_resp_value_t *v;
    start(f);
    client_open(&c, f->h.port);
    memset(key, 'k', sizeof key);
    key[255] = '\0';
    SEND(&c, "SET", key, "v");
    v = next_reply(&c);
    assert_int_equal(v->type, GS_RESP_BULK);
    assert_int_equal(v->len, 255);
    key[255] = 'k';
    key[256] = '\0';
    EXPECT(&c, "-Key too large\r\n", "SET", key, "v");
    for (size_t i = 0; i < GS_RESP_MAX_BULK + 2; i++)
        value[i] = (char)('a' + i % 26);
    send_args(&c, 3, argv, lens); /* exactly 8 MiB: accepted */
    expect_bytes(&c, "$3\r\nbig\r\n", 9, __LINE__);
    SEND(&c, "GET", "big");
    v = next_reply(&c);
    assert_int_equal(v->len, big);
    assert_memory_equal(v->str, value, big);
    lens[2] = big + 1; /* over 8 MiB: refused, connection kept */
    send_args(&c, 3, argv, lens);
    expect_bytes(&c, "-Payload too big\r\n", 18, __LINE__);
    EXPECT(&c, "+PONG\r\n", "PING");
    /* past the protocol cap: refused from the header on, and the connection closed */
    send_all(&c, S("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$8392705\r\n"));
    expect_bytes(&c, "-Payload too big\r\n", 18, __LINE__);
    assert_true(wait_eof(&c));
    client_close(&c);
    free(value);
}

static void test_zdb_protocol_errors_answer_and_close(void **state)
{
    fixture_t *f = *state;
    client_t c;
    start(f);
    client_open(&c, f->h.port);
    send_all(&c, "*1\r\n$-5\r\n", 9);
    expect_bytes(&c, "-Protocol error: invalid bulk length\r\n", 38, __LINE__);
    assert_true(wait_eof(&c));
    client_close(&c);
    client_open(&c, f->h.port);
    send_all(&c, "*2000\r\n", 7);
    expect_bytes(&c, "-Protocol error: too many elements\r\n", 36, __LINE__);
    assert_true(wait_eof(&c));
    client_close(&c);
}

static void test_zdb_pipelined_requests_answer_in_order(void **state)
{
    fixture_t *f = *state;
    client_t c;
    gs_buf_t b;
    start(f);
    client_open(&c, f->h.port);
    gs_buf_init(&b, 1u << 24);
    for (int i = 0; i < 2000; i++) {
        char k[16];
        const char *argv[] = {"SET", k, k};
        size_t lens[3] = {3, 0, 0};
        lens[1] = lens[2] = (size_t)snprintf(k, sizeof k, "key%d", i);
        assert_int_equal(gs_resp_put_request(&b, 3, argv, lens), GS_OK);
        assert_int_equal(gs_buf_puts(&b, "PING\r\n"), GS_OK);
    }
    send_all(&c, b.data, b.len);
    for (int i = 0; i < 2000; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "$%d\r\nkey%d\r\n",
                         i < 10     ? 4
                         : i < 100  ? 5
                         : i < 1000 ? 6
                                    : 7,
                         i);
        expect_bytes(&c, want, (size_t)n, __LINE__);
        expect_bytes(&c, "+PONG\r\n", 7, __LINE__);
    }
    EXPECT(&c, ":2000\r\n", "DBSIZE");
    gs_buf_free(&b);
    client_close(&c);
}

static void test_zdb_large_replies_pause_and_resume_a_pipeline(void **state)
{
    fixture_t *f = *state;
    client_t c;
    size_t len = 1u << 20;
    char *value = malloc(len);
    const char *argv[] = {"SET", "v", value};
    size_t lens[] = {3, 1, len};
    gs_buf_t b;
    start(f);
    client_open(&c, f->h.port);
    memset(value, 'z', len);
    send_args(&c, 3, argv, lens);
    expect_bytes(&c, "$1\r\nv\r\n", 7, __LINE__);
    gs_buf_init(&b, 4096);
    for (int i = 0; i < 24; i++) /* 24 MiB of replies, over the 4 MiB high-water mark */
        assert_int_equal(gs_buf_puts(&b, "*2\r\n$3\r\nGET\r\n$1\r\nv\r\n"), GS_OK);
    assert_int_equal(gs_buf_puts(&b, "PING\r\n"), GS_OK);
    send_all(&c, b.data, b.len);
    sleep_ms(100); /* let the server fill the socket and pause */
    for (int i = 0; i < 24; i++) {
        const gs_resp_value_t *v = next_reply(&c);
        assert_non_null(v);
        assert_int_equal(v->len, len);
        assert_int_equal(v->str[len - 1], 'z');
    }
    expect_bytes(&c, "+PONG\r\n", 7, __LINE__);
    gs_buf_free(&b);
    client_close(&c);
    free(value);
}

/* ---- sequential mode ---- */

static void test_zdb_seq_ids_are_8_byte_little_endian(void **state)
{
    fixture_t *f = *state;
    client_t c;
    const gs_resp_value_t *v;
    f->cfg.mode = GS_ZDB_SEQ;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "$8\r\n\0\0\0\0\0\0\0\0\r\n", "SET", "", "zero");
    EXPECT(&c, "$8\r\n\x01\0\0\0\0\0\0\0\r\n", "SET", "", "one");
    send_args(&c, 2, (const char *[]){"GET", "\x01\0\0\0\0\0\0\0"}, (size_t[]){3, 8});
    expect_bytes(&c, "$3\r\none\r\n", 9, __LINE__);
    send_args(&c, 3, (const char *[]){"SET", "\0\0\0\0\0\0\0\0", "ZERO"}, (size_t[]){3, 8, 4});
    expect_bytes(&c, "$8\r\n\0\0\0\0\0\0\0\0\r\n", 14, __LINE__);
    send_args(&c, 3, (const char *[]){"SET", "\0\0\0\0\0\0\0\0", "ZERO"}, (size_t[]){3, 8, 4});
    expect_bytes(&c, "$-1\r\n", 5, __LINE__);
    send_args(&c, 3, (const char *[]){"SET", "\x63\0\0\0\0\0\0\0", "x"}, (size_t[]){3, 8, 1});
    expect_bytes(&c, "-Invalid key, only update authorized\r\n", 38, __LINE__);
    EXPECT(&c, "-Invalid key, only update authorized\r\n", "SET", "abc", "x");
    for (int i = 2; i < 300; i++) {
        SEND(&c, "SET", "", "n");
        v = next_reply(&c);
        assert_int_equal(v->len, 8);
        assert_int_equal((unsigned char)v->str[0], i & 0xff);
        assert_int_equal((unsigned char)v->str[1], i >> 8);
        for (int k = 2; k < 8; k++)
            assert_int_equal(v->str[k], 0);
    }
    assert_contains(info_of(&c, "NSINFO", "default"), "mode: sequential\n");
    assert_contains(info_of(&c, "NSINFO", "default"), "next_internal_id: 0x2c010000\n");
    assert_contains(info_of(&c, "NSINFO", "default"), "entries: 300\n");
    EXPECT(&c, "-Mode can only be changed in mixed mode\r\n", "NSSET", "default", "mode", "user");
    client_close(&c);
}

static void test_zdb_mixed_mode_namespace_mode_only_while_fresh(void **state)
{
    fixture_t *f = *state;
    client_t c;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "+OK\r\n", "NSNEW", "s");
    assert_contains(info_of(&c, "NSINFO", "s"), "mode: userkey\n");
    EXPECT(&c, "+OK\r\n", "NSSET", "s", "mode", "seq");
    EXPECT(&c, "+OK\r\n", "SELECT", "s");
    EXPECT(&c, "$8\r\n\0\0\0\0\0\0\0\0\r\n", "SET", "", "a");
    EXPECT(&c, "-Namespace is not empty\r\n", "NSSET", "s", "mode", "user");
    EXPECT(&c, "-Invalid value\r\n", "NSSET", "s", "mode", "direct");
    client_close(&c);
}

/* ---- namespaces ---- */

static void test_zdb_namespaces_new_list_info_delete(void **state)
{
    fixture_t *f = *state;
    client_t a, b;
    char name[130], path[256];
    struct stat st;
    const char *info;
    static const char *const keys[] = {
        "# namespace",
        "name",
        "entries",
        "public",
        "worm",
        "locked",
        "password",
        "data_size_bytes",
        "data_size_mb",
        "data_limits_bytes",
        "index_size_bytes",
        "index_size_kb",
        "next_internal_id",
        "mode",
        "stats_index_io_errors",
        "stats_index_io_error_last",
        "stats_index_faults",
        "stats_data_io_errors",
        "stats_data_io_error_last",
        "stats_data_faults",
        "index_disk_freespace_bytes",
        "index_disk_freespace_mb",
        "data_disk_freespace_bytes",
        "data_disk_freespace_mb",
    };
    start(f);
    client_open(&a, f->h.port);
    client_open(&b, f->h.port);
    EXPECT(&a, "+OK\r\n", "NSNEW", "alpha");
    EXPECT(&a, "-Namespace already exists\r\n", "NSNEW", "alpha");
    memset(name, 'n', sizeof name);
    name[128] = '\0';
    EXPECT(&a, "+OK\r\n", "NSNEW", name);
    name[128] = 'n';
    name[129] = '\0';
    EXPECT(&a, "-Namespace name too long\r\n", "NSNEW", name);
    EXPECT(&a, "-Invalid namespace name\r\n", "NSNEW", "../x");
    EXPECT(&a, "-Invalid namespace name\r\n", "NSNEW", ".hidden");
    EXPECT(&a, "-Invalid namespace name\r\n", "NSNEW", "");
    name[128] = '\0';
    SEND(&a, "NSLIST");
    {
        const gs_resp_value_t *v = next_reply(&a);
        assert_int_equal(v->n, 3);
        assert_true(gs_resp_eq(&v->elem[0], "default"));
        assert_true(gs_resp_eq(&v->elem[1], "alpha"));
    }
    info = info_of(&a, "NSINFO", "alpha");
    for (size_t i = 0, at = 0; i < GS_ARRAY_SIZE(keys); i++) {
        const char *hit = strstr(info + at, keys[i]);
        if (hit == NULL)
            fail_msg("NSINFO lacks '%s' after byte %zu:\n%s", keys[i], at, info);
        at = (size_t)(hit - info) + strlen(keys[i]);
    }
    assert_contains(info, "name: alpha\n");
    assert_contains(info, "public: yes\nworm: no\nlocked: no\npassword: no\n");
    EXPECT(&a, "-Namespace not found\r\n", "NSINFO", "nope");
    EXPECT(&a, "-Namespace not found\r\n", "SELECT", "nope");
    EXPECT(&a, "-Cannot remove default namespace\r\n", "NSDEL", "default");
    EXPECT(&a, "+OK\r\n", "SELECT", "alpha");
    EXPECT(&a, "$1\r\nk\r\n", "SET", "k", "in-alpha");
    EXPECT(&a, "-Cannot remove namespace you're currently using\r\n", "NSDEL", "alpha");
    EXPECT(&b, "+OK\r\n", "SELECT", "alpha");
    EXPECT(&b, "$8\r\nin-alpha\r\n", "GET", "k");
    EXPECT(&a, "+OK\r\n", "SELECT", "default");
    EXPECT(&a, "+OK\r\n", "NSDEL", "alpha");
    EXPECT(&b, "$-1\r\n", "GET", "k"); /* b was moved back to default */
    EXPECT(&b, "$1\r\nk\r\n", "SET", "k", "in-default");
    EXPECT(&a, "$10\r\nin-default\r\n", "GET", "k");
    EXPECT(&a, "-Namespace not found\r\n", "NSDEL", "alpha");
    snprintf(path, sizeof path, "%s/alpha", f->data);
    assert_int_equal(stat(path, &st), -1);
    snprintf(path, sizeof path, "%s/alpha", f->index);
    assert_int_equal(stat(path, &st), -1);
    client_close(&a);
    client_close(&b);
}

static void test_zdb_namespace_password_public_and_private(void **state)
{
    fixture_t *f = *state;
    client_t a, b;
    start(f);
    client_open(&a, f->h.port);
    client_open(&b, f->h.port);
    EXPECT(&a, "+OK\r\n", "NSNEW", "p");
    EXPECT(&a, "+OK\r\n", "NSSET", "p", "password", "secret");
    assert_contains(info_of(&a, "NSINFO", "p"), "public: yes\n");
    assert_contains(info_of(&a, "NSINFO", "p"), "password: yes\n");
    EXPECT(&b, "+OK\r\n", "SELECT", "p"); /* public: read-only without the password */
    EXPECT(&b, "-Namespace is in read-only mode\r\n", "SET", "k", "v");
    EXPECT(&b, "-Namespace is in read-only mode\r\n", "DEL", "k");
    EXPECT(&b, "$-1\r\n", "GET", "k");
    EXPECT(&b, "-Access denied\r\n", "SELECT", "p", "wrong");
    EXPECT(&b, "+OK\r\n", "SELECT", "p", "secret");
    EXPECT(&b, "$1\r\nk\r\n", "SET", "k", "v");
    EXPECT(&a, "+OK\r\n", "NSSET", "p", "public", "0");
    EXPECT(&a, "-Namespace protected and private\r\n", "SELECT", "p");
    EXPECT(&a, "-Access denied\r\n", "SELECT", "p", "nope");
    EXPECT(&a, "+OK\r\n", "SELECT", "p", "secret");
    EXPECT(&a, "$1\r\nv\r\n", "GET", "k");
    assert_contains(info_of(&a, "NSINFO", "p"), "public: no\n");
    EXPECT(&a, "+OK\r\n", "NSSET", "p", "password", "*");
    assert_contains(info_of(&a, "NSINFO", "p"), "password: no\n");
    client_close(&b);
    client_open(&b, f->h.port);
    EXPECT(&b, "+OK\r\n", "SELECT", "p");
    EXPECT(&b, "$1\r\nk\r\n", "SET", "k", "w");
    EXPECT(&a, "-Cannot update default namespace\r\n", "NSSET", "default", "password", "x");
    EXPECT(&a, "-Cannot update default namespace\r\n", "NSSET", "default", "maxsize", "1");
    client_close(&a);
    client_close(&b);
}

static void test_zdb_namespace_maxsize_worm_lock_freeze(void **state)
{
    fixture_t *f = *state;
    client_t c;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "+OK\r\n", "NSNEW", "m");
    EXPECT(&c, "+OK\r\n", "NSSET", "m", "maxsize", "10");
    EXPECT(&c, "-Invalid value\r\n", "NSSET", "m", "maxsize", "-1");
    EXPECT(&c, "-Invalid property\r\n", "NSSET", "m", "colour", "1");
    EXPECT(&c, "-Invalid value\r\n", "NSSET", "m", "public", "2");
    EXPECT(&c, "-Namespace not found\r\n", "NSSET", "nope", "public", "1");
    EXPECT(&c, "+OK\r\n", "SELECT", "m");
    EXPECT(&c, "$1\r\na\r\n", "SET", "a", "123456");
    EXPECT(&c, "-No space left on this namespace\r\n", "SET", "b", "12345");
    EXPECT(&c, "$1\r\na\r\n", "SET", "a", "1234567890"); /* replacing frees the old bytes */
    assert_contains(info_of(&c, "NSINFO", "m"), "data_limits_bytes: 10\n");
    assert_contains(info_of(&c, "NSINFO", "m"), "space_available: 0\n");
    EXPECT(&c, "+OK\r\n", "NSSET", "m", "worm", "1");
    EXPECT(&c, "+OK\r\n", "NSSET", "m", "maxsize", "0");
    EXPECT(&c, "-Namespace is protected by worm mode\r\n", "SET", "a", "other");
    EXPECT(&c, "$-1\r\n", "SET", "a", "1234567890");
    EXPECT(&c, "-Namespace is protected by worm mode\r\n", "DEL", "a");
    EXPECT(&c, "$1\r\nn\r\n", "SET", "n", "new keys are fine");
    EXPECT(&c, "+OK\r\n", "NSSET", "m", "worm", "0");
    EXPECT(&c, "+OK\r\n", "NSSET", "m", "lock", "1");
    EXPECT(&c, "-Namespace is temporarily locked\r\n", "SET", "a", "x");
    EXPECT(&c, "-Namespace is temporarily locked\r\n", "DEL", "a");
    EXPECT(&c, "$10\r\n1234567890\r\n", "GET", "a");
    assert_contains(info_of(&c, "NSINFO", "m"), "locked: yes\n");
    EXPECT(&c, "+OK\r\n", "NSSET", "m", "lock", "0");
    EXPECT(&c, "+OK\r\n", "NSSET", "m", "freeze", "1");
    EXPECT(&c, "-Namespace is temporarily frozen\r\n", "GET", "a");
    EXPECT(&c, "-Namespace is temporarily frozen\r\n", "SET", "a", "x");
    EXPECT(&c, "+OK\r\n", "NSSET", "m", "freeze", "0");
    EXPECT(&c, "+OK\r\n", "DEL", "a");
    EXPECT(&c, "+OK\r\n", "NSSET", "default", "lock", "1");
    EXPECT(&c, "+OK\r\n", "SELECT", "default");
    EXPECT(&c, "-Namespace is temporarily locked\r\n", "SET", "a", "x");
    EXPECT(&c, "+OK\r\n", "NSSET", "default", "lock", "0");
    client_close(&c);
}

static void test_zdb_admin_commands_need_auth_when_admin_is_set(void **state)
{
    fixture_t *f = *state;
    client_t c, d;
    f->cfg.admin = "hunter2";
    f->cfg.protect = true;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "-Permission denied\r\n", "NSNEW", "x");
    EXPECT(&c, "-Permission denied\r\n", "NSSET", "default", "lock", "1");
    EXPECT(&c, "-Permission denied\r\n", "NSDEL", "x");
    EXPECT(&c, "-Namespace is in read-only mode\r\n", "SET", "k", "v"); /* --protect */
    EXPECT(&c, "$-1\r\n", "GET", "k");
    EXPECT(&c, "-Access denied\r\n", "AUTH", "wrong");
    EXPECT(&c, "+OK\r\n", "AUTH", "hunter2");
    EXPECT(&c, "+OK\r\n", "NSNEW", "x");
    EXPECT(&c, "$1\r\nk\r\n", "SET", "k", "v");
    EXPECT(&c, "$2\r\nk2\r\n", "SET", "k2", "v", "1500000000"); /* admin's timestamp */
    EXPECT(&c, ":1500000000\r\n", "KEYTIME", "k2");
    assert_contains(info_of(&c, "NSINFO", "default"), "data_current_offset: ");
    client_open(&d, f->h.port);
    EXPECT(&d, "+OK\r\n", "SELECT", "default", "hunter2");
    EXPECT(&d, "-Permission denied\r\n", "SET", "k3", "v", "1500000000");
    EXPECT(&d, "$2\r\nk3\r\n", "SET", "k3", "v");
    EXPECT(&d, "-Access denied\r\n", "SELECT", "default", "nope");
    assert_contains(info_of(&d, "INFO", NULL), "commands_unauthorized: 4\n");
    client_close(&c);
    client_close(&d);
}

/* ---- SCAN and WAIT ---- */

static void assert_scan_keys(const gs_resp_value_t *v, const char *const *keys, size_t n)
{
    assert_int_equal(v->type, GS_RESP_ARRAY);
    assert_int_equal(v->n, 2);
    assert_int_equal(v->elem[0].len, 8);
    assert_int_equal(v->elem[1].n, n);
    for (size_t i = 0; i < n; i++) {
        const gs_resp_value_t *e = &v->elem[1].elem[i];
        assert_int_equal(e->n, 3);
        if (!gs_resp_eq(&e->elem[0], keys[i]))
            fail_msg("scan item %zu is not '%s'", i, keys[i]);
        assert_int_equal(e->elem[1].type, GS_RESP_INTEGER);
        assert_int_equal(e->elem[2].type, GS_RESP_INTEGER);
    }
}

static void test_zdb_scan_walks_writes_in_order_with_cursors(void **state)
{
    fixture_t *f = *state;
    client_t c;
    const gs_resp_value_t *v;
    char cursor[8];
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "-No more data\r\n", "SCAN");
    EXPECT(&c, "$1\r\na\r\n", "SET", "a", "1");
    EXPECT(&c, "$1\r\nb\r\n", "SET", "b", "22");
    EXPECT(&c, "$1\r\nc\r\n", "SET", "c", "333");
    SEND(&c, "SCAN");
    assert_scan_keys(next_reply(&c), (const char *[]){"a", "b", "c"}, 3);
    assert_int_equal(c.value->elem[1].elem[2].elem[1].integer, 3);
    EXPECT(&c, "$1\r\na\r\n", "SET", "a", "updated"); /* an update moves a to the end */
    SEND(&c, "SCAN");
    assert_scan_keys(next_reply(&c), (const char *[]){"b", "c", "a"}, 3);
    SEND(&c, "KEYCUR", "b");
    v = next_reply(&c);
    assert_int_equal(v->len, 8);
    memcpy(cursor, v->str, 8);
    send_args(&c, 2, (const char *[]){"SCAN", cursor}, (size_t[]){4, 8});
    v = next_reply(&c);
    assert_scan_keys(v, (const char *[]){"c", "a"}, 2);
    memcpy(cursor, v->elem[0].str, 8);
    send_args(&c, 2, (const char *[]){"SCAN", cursor}, (size_t[]){4, 8});
    expect_bytes(&c, "-No more data\r\n", 15, __LINE__);
    EXPECT(&c, "-Invalid key format\r\n", "SCAN", "xyz");
    EXPECT(&c, "-Invalid key format\r\n", "SCAN", "\xff\xff\xff\xff\xff\xff\xff\x7f");
    EXPECT(&c, "+OK\r\n", "DEL", "c");
    SEND(&c, "SCAN");
    assert_scan_keys(next_reply(&c), (const char *[]){"b", "a"}, 2);
    EXPECT(&c, "$-1\r\n", "KEYCUR", "c");
    client_close(&c);
}

static void test_zdb_scan_returns_batches_of_1000(void **state)
{
    fixture_t *f = *state;
    client_t c;
    gs_buf_t b;
    const gs_resp_value_t *v;
    char cursor[8];
    start(f);
    client_open(&c, f->h.port);
    gs_buf_init(&b, 1u << 22);
    for (int i = 0; i < 1500; i++) {
        char k[16];
        const char *argv[] = {"SET", k, "v"};
        size_t lens[] = {3, (size_t)snprintf(k, sizeof k, "%d", i), 1};
        assert_int_equal(gs_resp_put_request(&b, 3, argv, lens), GS_OK);
    }
    send_all(&c, b.data, b.len);
    for (int i = 0; i < 1500; i++)
        assert_non_null(next_reply(&c));
    SEND(&c, "SCAN");
    v = next_reply(&c);
    assert_int_equal(v->elem[1].n, 1000);
    memcpy(cursor, v->elem[0].str, 8);
    send_args(&c, 2, (const char *[]){"SCAN", cursor}, (size_t[]){4, 8});
    v = next_reply(&c);
    assert_int_equal(v->elem[1].n, 500);
    assert_true(gs_resp_eq(&v->elem[1].elem[499].elem[0], "1499"));
    gs_buf_free(&b);
    client_close(&c);
}

static void test_zdb_wait_wakes_on_another_clients_command(void **state)
{
    fixture_t *f = *state;
    client_t a, b;
    struct timespec t0, t1;
    double ms;
    start(f);
    client_open(&a, f->h.port);
    client_open(&b, f->h.port);
    EXPECT(&a, "-Invalid timeout\r\n", "WAIT", "SET", "50");
    EXPECT(&a, "-Invalid timeout\r\n", "WAIT", "SET", "soon");
    SEND(&a, "WAIT", "set", "5000");
    SEND(&a, "PING"); /* pipelined behind the WAIT */
    sleep_ms(50);
    EXPECT(&b, "$-1\r\n", "GET", "x"); /* GET is not what a waits for */
    EXPECT(&b, "$1\r\nk\r\n", "SET", "k", "v");
    expect_bytes(&a, "+SET\r\n", 6, __LINE__);
    expect_bytes(&a, "+PONG\r\n", 7, __LINE__);
    SEND(&a, "WAIT", "*", "5000");
    sleep_ms(50);
    EXPECT(&b, "+PONG\r\n", "PING");
    expect_bytes(&a, "+PING\r\n", 7, __LINE__);
    EXPECT(&b, "+OK\r\n", "NSNEW", "other");
    EXPECT(&b, "+OK\r\n", "SELECT", "other");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    SEND(&a, "WAIT", "*", "300");
    sleep_ms(50);
    EXPECT(&b, "$1\r\nk\r\n", "SET", "k", "v"); /* another namespace: a keeps waiting */
    expect_bytes(&a, "-Timeout\r\n", 10, __LINE__);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms >= 250 && ms < 3000);
    client_close(&a);
    client_close(&b);
}

/* ---- persistence ---- */

static void test_zdb_data_and_seq_ids_survive_a_restart(void **state)
{
    fixture_t *f = *state;
    client_t c;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "+OK\r\n", "NSNEW", "seq");
    EXPECT(&c, "+OK\r\n", "NSSET", "seq", "mode", "seq");
    EXPECT(&c, "+OK\r\n", "NSSET", "seq", "password", "pw");
    EXPECT(&c, "+OK\r\n", "NSSET", "seq", "maxsize", "1000000");
    EXPECT(&c, "$1\r\nk\r\n", "SET", "k", "user value");
    EXPECT(&c, "$1\r\nd\r\n", "SET", "d", "deleted");
    EXPECT(&c, "+OK\r\n", "DEL", "d");
    EXPECT(&c, "+OK\r\n", "SELECT", "seq", "pw");
    EXPECT(&c, "$8\r\n\0\0\0\0\0\0\0\0\r\n", "SET", "", "first");
    EXPECT(&c, "$8\r\n\x01\0\0\0\0\0\0\0\r\n", "SET", "", "second");
    client_close(&c);
    stop(f);
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "$10\r\nuser value\r\n", "GET", "k");
    EXPECT(&c, "$-1\r\n", "GET", "d");
    EXPECT(&c, ":1\r\n", "DBSIZE");
    EXPECT(&c, "+OK\r\n", "SELECT", "seq"); /* public by default: read-only */
    EXPECT(&c, "-Namespace is in read-only mode\r\n", "SET", "", "x");
    EXPECT(&c, "+OK\r\n", "SELECT", "seq", "pw");
    send_args(&c, 2, (const char *[]){"GET", "\x01\0\0\0\0\0\0\0"}, (size_t[]){3, 8});
    expect_bytes(&c, "$6\r\nsecond\r\n", 12, __LINE__);
    EXPECT(&c, "$8\r\n\x02\0\0\0\0\0\0\0\r\n", "SET", "", "third");
    assert_contains(info_of(&c, "NSINFO", "seq"), "data_limits_bytes: 1000000\n");
    assert_contains(info_of(&c, "NSINFO", "seq"), "mode: sequential\n");
    client_close(&c);
}

/* Runs `fn` with stderr going to a file, and returns what was written (static). */
static const char *captured_start(fixture_t *f)
{
    static char text[8192];
    char path[256];
    int saved = dup(2), fd;
    ssize_t n;
    snprintf(path, sizeof path, "%s/stderr", f->dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    dup2(fd, 2);
    start(f);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    return text;
}

static void truncate_by(const char *path, off_t cut)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - cut), 0);
}

static void test_zdb_torn_last_record_is_cut_off_and_logged(void **state)
{
    fixture_t *f = *state;
    client_t c;
    char path[256];
    const char *log;
    int fd;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "$1\r\na\r\n", "SET", "a", "alpha");
    EXPECT(&c, "$1\r\nb\r\n", "SET", "b", "bravo");
    EXPECT(&c, "$1\r\nc\r\n", "SET", "c", "charlie");
    client_close(&c);
    stop(f);
    snprintf(path, sizeof path, "%s/default/d0", f->data);
    truncate_by(path, 3); /* the write of c was torn */
    log = captured_start(f);
    assert_contains(log, "torn record");
    assert_contains(log, "'default'");
    client_open(&c, f->h.port);
    EXPECT(&c, "$5\r\nalpha\r\n", "GET", "a");
    EXPECT(&c, "$5\r\nbravo\r\n", "GET", "b");
    EXPECT(&c, "$-1\r\n", "GET", "c");
    assert_contains(info_of(&c, "NSINFO", "default"), "stats_data_faults: 1\n");
    EXPECT(&c, "$1\r\nd\r\n", "SET", "d", "delta"); /* appends after the last whole record */
    client_close(&c);
    stop(f);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x01\x02garbage", 9), 9); /* a torn header */
    close(fd);
    log = captured_start(f);
    assert_contains(log, "torn record");
    client_open(&c, f->h.port);
    EXPECT(&c, "$5\r\ndelta\r\n", "GET", "d");
    EXPECT(&c, "$5\r\nalpha\r\n", "GET", "a");
    EXPECT(&c, ":3\r\n", "DBSIZE");
    client_close(&c);
    stop(f);
    log = captured_start(f); /* the cut is permanent: nothing to report now */
    assert_null(strstr(log, "torn record"));
}

static void test_zdb_data_files_rotate_at_datasize(void **state)
{
    fixture_t *f = *state;
    client_t c;
    size_t len = 200 * 1024;
    char *value = malloc(len), path[256];
    struct stat st;
    f->cfg.datasize = GS_ZDB_MIN_DATASIZE;
    start(f);
    client_open(&c, f->h.port);
    for (int i = 0; i < 8; i++) {
        char k[8];
        const char *argv[] = {"SET", k, value};
        size_t lens[] = {3, (size_t)snprintf(k, sizeof k, "k%d", i), len};
        memset(value, 'a' + i, len);
        assert_non_null(call(&c, 3, argv, lens));
    }
    client_close(&c);
    stop(f);
    snprintf(path, sizeof path, "%s/default/d3", f->data);
    assert_int_equal(stat(path, &st), 0);
    start(f);
    client_open(&c, f->h.port);
    for (int i = 0; i < 8; i++) {
        char k[8];
        const gs_resp_value_t *v;
        snprintf(k, sizeof k, "k%d", i);
        SEND(&c, "GET", k);
        v = next_reply(&c);
        assert_int_equal(v->len, len);
        assert_int_equal(v->str[len / 2], 'a' + i);
        EXPECT(&c, ":1\r\n", "CHECK", k);
    }
    client_close(&c);
    free(value);
}

/* ---- load and faults ---- */

static void op_count(harness_t *h, void *arg)
{
    *(size_t *)arg = gs_zdb_server_clients(h->srv);
}

static size_t clients(harness_t *h)
{
    size_t n = 0;
    on_loop(h, op_count, &n);
    return n;
}

static void test_zdb_holds_1000_concurrent_connections(void **state)
{
    enum { N = 1000 };
    fixture_t *f = *state;
    struct rlimit rl;
    int *fds = calloc(N, sizeof *fds);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * N + 100) {
        rl.rlim_cur = rl.rlim_max < 2 * N + 100 ? rl.rlim_max : 2 * N + 100;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    assert_true(rl.rlim_cur >= 2 * N + 20);
    start(f);
    for (int i = 0; i < N; i++) {
        fds[i] = dial(f->h.port);
        if (fds[i] < 0)
            fail_msg("connection %d: %s", i, strerror(errno));
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(write(fds[i], "PING\r\n", 6), 6);
    for (int i = 0; i < N; i++) {
        char buf[16];
        ssize_t n = read(fds[i], buf, sizeof buf);
        assert_int_equal(n, 7);
        assert_memory_equal(buf, "+PONG\r\n", 7);
    }
    assert_int_equal(clients(&f->h), N);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    for (int tries = 0; clients(&f->h) > 0 && tries < 200; tries++)
        sleep_ms(10);
    assert_int_equal(clients(&f->h), 0);
    free(fds);
}

static void op_down(harness_t *h, void *arg)
{
    (void)arg;
    gs_zdb_server_down(h->srv);
}

static void op_up(harness_t *h, void *arg)
{
    gs_diag_t diag = {{0}};
    *(int *)arg = gs_zdb_server_up(h->srv, &diag);
}

static void test_zdb_node_down_refuses_connections_and_up_restores(void **state)
{
    fixture_t *f = *state;
    client_t c;
    int err = -1;
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "$1\r\nk\r\n", "SET", "k", "kept");
    on_loop(&f->h, op_down, NULL);
    assert_true(wait_eof(&c)); /* the open connection was dropped */
    client_close(&c);
    assert_int_equal(dial(f->h.port), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_int_equal(clients(&f->h), 0);
    on_loop(&f->h, op_up, &err);
    assert_int_equal(err, GS_OK);
    assert_int_equal(gs_zdb_server_port(f->h.srv), f->h.port);
    client_open(&c, f->h.port);
    EXPECT(&c, "$4\r\nkept\r\n", "GET", "k");
    client_close(&c);
}

typedef struct {
    const char *ns, *key;
    size_t at;
    int err;
} corrupt_t;

static void op_corrupt(harness_t *h, void *arg)
{
    corrupt_t *cr = arg;
    gs_diag_t diag = {{0}};
    cr->err = gs_zdb_server_corrupt(h->srv, cr->ns, cr->key, strlen(cr->key), cr->at, &diag);
}

static void test_zdb_corruption_hook_flips_a_stored_byte(void **state)
{
    fixture_t *f = *state;
    client_t c;
    corrupt_t cr = {"default", "k", 1, -1};
    start(f);
    client_open(&c, f->h.port);
    EXPECT(&c, "$1\r\nk\r\n", "SET", "k", "hello");
    EXPECT(&c, "$1\r\nj\r\n", "SET", "j", "world");
    on_loop(&f->h, op_corrupt, &cr);
    assert_int_equal(cr.err, GS_OK);
    EXPECT(&c, ":0\r\n", "CHECK", "k");
    EXPECT(&c, "$5\r\nh\x9allo\r\n", "GET", "k");
    EXPECT(&c, ":1\r\n", "CHECK", "j");
    EXPECT(&c, "$1\r\nk\r\n", "SET", "k", "hello"); /* the stored bytes differ: written */
    EXPECT(&c, ":1\r\n", "CHECK", "k");
    cr.at = 5;
    on_loop(&f->h, op_corrupt, &cr);
    assert_int_equal(cr.err, GS_EINVAL);
    cr.ns = "nope";
    cr.at = 0;
    on_loop(&f->h, op_corrupt, &cr);
    assert_int_equal(cr.err, GS_ENOENT);
    client_close(&c);
}

/* Starts a server on its own loop, expecting failure; the loop must then close clean. */
static void assert_start_fails(const gs_zdb_config_t *cfg, const char *why)
{
    uv_loop_t loop;
    gs_zdb_server_t *srv = NULL;
    gs_diag_t diag = {{0}};
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_not_equal(gs_zdb_server_start(&loop, cfg, &srv, &diag), GS_OK);
    assert_null(srv);
    assert_contains(diag.msg, why);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_zdb_start_failures_leave_nothing_open(void **state)
{
    fixture_t *f = *state;
    gs_zdb_config_t cfg;
    start(f);
    cfg = f->cfg;
    cfg.port = f->h.port;
    assert_start_fails(&cfg, "cannot listen");
    cfg.port = 0;
    cfg.protect = true;
    assert_start_fails(&cfg, "--protect needs an --admin password");
    cfg.protect = false;
    cfg.listen = "not-an-ip";
    assert_start_fails(&cfg, "not an IP address");
}

static int zdb_main(const char *const *args, size_t n)
{
    char *argv[8];
    assert_true(n < GS_ARRAY_SIZE(argv));
    for (size_t i = 0; i < n; i++)
        argv[i] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;
    return gs_sim_zdb_main((int)n, argv);
}

#define ZDB_MAIN(...)                                                                              \
    zdb_main((const char *const[]){"zdb", __VA_ARGS__},                                            \
             GS_ARRAY_SIZE(((const char *const[]){"zdb", __VA_ARGS__})))

static void test_zdb_cli_refuses_bad_flags(void **state)
{
    (void)state;
    assert_int_equal(ZDB_MAIN("--help"), 0);
    assert_int_equal(ZDB_MAIN("--mode", "bogus"), 2);
    assert_int_equal(ZDB_MAIN("--port", "70000"), 2);
    assert_int_equal(ZDB_MAIN("--port=x"), 2);
    assert_int_equal(ZDB_MAIN("--datasize", "100"), 2);
    assert_int_equal(ZDB_MAIN("--datasize", "4G"), 2);
    assert_int_equal(ZDB_MAIN("--maxsize", "lots"), 2);
    assert_int_equal(ZDB_MAIN("--admin", ""), 2);
    assert_int_equal(ZDB_MAIN("--protect=1"), 2);
    assert_int_equal(ZDB_MAIN("--port"), 2);
    assert_int_equal(ZDB_MAIN("--colour"), 2);
    assert_int_equal(ZDB_MAIN("stray"), 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_zdb_ping_time_info_and_prefix_matching),
        T(test_zdb_unknown_commands_and_arity_errors),
        T(test_zdb_user_keys_set_get_del_and_nil_on_identical_set),
        T(test_zdb_key_and_value_limits),
        T(test_zdb_protocol_errors_answer_and_close),
        T(test_zdb_pipelined_requests_answer_in_order),
        T(test_zdb_large_replies_pause_and_resume_a_pipeline),
        T(test_zdb_seq_ids_are_8_byte_little_endian),
        T(test_zdb_mixed_mode_namespace_mode_only_while_fresh),
        T(test_zdb_namespaces_new_list_info_delete),
        T(test_zdb_namespace_password_public_and_private),
        T(test_zdb_namespace_maxsize_worm_lock_freeze),
        T(test_zdb_admin_commands_need_auth_when_admin_is_set),
        T(test_zdb_scan_walks_writes_in_order_with_cursors),
        T(test_zdb_scan_returns_batches_of_1000),
        T(test_zdb_wait_wakes_on_another_clients_command),
        T(test_zdb_data_and_seq_ids_survive_a_restart),
        T(test_zdb_torn_last_record_is_cut_off_and_logged),
        T(test_zdb_data_files_rotate_at_datasize),
        T(test_zdb_holds_1000_concurrent_connections),
        T(test_zdb_node_down_refuses_connections_and_up_restores),
        T(test_zdb_corruption_hook_flips_a_stored_byte),
        T(test_zdb_start_failures_leave_nothing_open),
        cmocka_unit_test(test_zdb_cli_refuses_bad_flags),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
