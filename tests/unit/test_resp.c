/* test_resp.c — RESP framing: requests and replies parsed whole, split at every byte
 * and moved between calls; every cap (arguments, bulk size, request size, line length,
 * nesting depth, element count) and every malformed length refused with a message; the
 * writers' bytes exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"

#define S(lit) lit, sizeof(lit) - 1

/* Parses a request given in a buffer of exactly len bytes (so ASan sees overreads).
 * The buffer lives until the next call, for req's strings. */
static int request(gs_resp_parser_t *p, const char *msg, size_t len, gs_resp_request_t *req,
                   gs_diag_t *diag)
{
    static char *copy;
    free(copy);
    copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, msg, len);
    return gs_resp_request_parse(p, copy, len, req, diag);
}

static void assert_arg(const gs_resp_value_t *v, const char *s, size_t n)
{
    assert_int_equal(v->type, GS_RESP_BULK);
    assert_int_equal(v->len, n);
    assert_memory_equal(v->str, s, n);
}

/* Feeds msg one more byte at a time, each time in a new buffer: MORE until the last
 * byte, then DONE with the whole message taken. Leaves the parsed request in req, whose
 * strings point into *keep (freed by the caller). */
static void parse_dripping(gs_resp_parser_t *p, const char *msg, size_t len, gs_resp_request_t *req,
                           char **keep)
{
    gs_diag_t diag = {{0}};
    for (size_t k = 0; k <= len; k++) {
        char *buf = malloc(k ? k : 1);
        int rc;
        assert_non_null(buf);
        memcpy(buf, msg, k);
        rc = gs_resp_request_parse(p, buf, k, req, &diag);
        if (k < len) {
            if (rc != GS_RESP_MORE)
                fail_msg("at %zu of %zu bytes: rc %d (%s)", k, len, rc, diag.msg);
            free(buf);
            continue;
        }
        assert_int_equal(rc, GS_RESP_DONE);
        assert_int_equal(req->size, len);
        *keep = buf;
    }
}

static void test_resp_request_parses_multibulk(void **state)
{
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    const char msg[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    (void)state;
    gs_resp_parser_init(&p);
    assert_int_equal(gs_resp_request_parse(&p, msg, sizeof msg - 1, &req, &diag), GS_RESP_DONE);
    assert_int_equal(req.argc, 3);
    assert_int_equal(req.size, sizeof msg - 1);
    assert_arg(&req.argv[0], S("SET"));
    assert_arg(&req.argv[1], S("key"));
    assert_arg(&req.argv[2], S("value"));
    gs_resp_parser_free(&p);
}

static void test_resp_request_parses_inline_commands(void **state)
{
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    (void)state;
    gs_resp_parser_init(&p);
    assert_int_equal(request(&p, S("PING\r\n"), &req, &diag), GS_RESP_DONE);
    assert_int_equal(req.argc, 1);
    assert_arg(&req.argv[0], S("PING"));
    assert_int_equal(request(&p, S("  SET\ta  b \n"), &req, &diag), GS_RESP_DONE);
    assert_int_equal(req.argc, 3);
    assert_int_equal(req.size, 12);
    assert_arg(&req.argv[0], S("SET"));
    assert_arg(&req.argv[1], S("a"));
    assert_arg(&req.argv[2], S("b"));
    assert_int_equal(request(&p, S("\r\n"), &req, &diag), GS_RESP_DONE);
    assert_int_equal(req.argc, 0);
    assert_int_equal(request(&p, S("PING"), &req, &diag), GS_RESP_MORE);
    gs_resp_parser_free(&p);
}

static void test_resp_request_split_at_every_byte(void **state)
{
    static const char msg[] = "*4\r\n$3\r\nSET\r\n$0\r\n\r\n$7\r\nbi\r\n\0ry\r\n$2\r\n42\r\n";
    gs_resp_parser_t p;
    gs_resp_request_t req;
    char *keep = NULL;
    (void)state;
    gs_resp_parser_init(&p);
    parse_dripping(&p, msg, sizeof msg - 1, &req, &keep);
    assert_int_equal(req.argc, 4);
    assert_arg(&req.argv[1], "", 0);
    assert_arg(&req.argv[2], "bi\r\n\0ry", 7);
    assert_arg(&req.argv[3], S("42"));
    free(keep);
    parse_dripping(&p, S("SET k v\r\n"), &req, &keep);
    assert_int_equal(req.argc, 3);
    free(keep);
    gs_resp_parser_free(&p);
}

static void test_resp_request_pipelined_requests_come_one_by_one(void **state)
{
    const char msg[] = "PING\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI";
    size_t off = 0, len = sizeof msg - 1;
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    size_t argcs[] = {1, 1, 2};
    (void)state;
    gs_resp_parser_init(&p);
    for (size_t i = 0; i < GS_ARRAY_SIZE(argcs); i++) {
        assert_int_equal(gs_resp_request_parse(&p, msg + off, len - off, &req, &diag),
                         GS_RESP_DONE);
        assert_int_equal(req.argc, argcs[i]);
        off += req.size;
    }
    assert_int_equal(gs_resp_request_parse(&p, msg + off, len - off, &req, &diag), GS_RESP_MORE);
    gs_resp_parser_free(&p);
}

static void test_resp_request_survives_its_buffer_moving(void **state)
{
    const char msg[] = "*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    char *a = malloc(sizeof msg), *b = malloc(sizeof msg);
    (void)state;
    gs_resp_parser_init(&p);
    memcpy(a, msg, 15);
    assert_int_equal(gs_resp_request_parse(&p, a, 15, &req, &diag), GS_RESP_MORE);
    memset(a, 'x', 15); /* the old bytes are gone; the parser kept no pointer */
    memcpy(b, msg, sizeof msg);
    assert_int_equal(gs_resp_request_parse(&p, b, sizeof msg - 1, &req, &diag), GS_RESP_DONE);
    assert_arg(&req.argv[1], S("hello"));
    assert_ptr_equal(req.argv[1].str, b + 17);
    free(a);
    free(b);
    gs_resp_parser_free(&p);
}

/* Expects msg to be refused with err and a message containing `text`. */
static void assert_refused(const char *msg, size_t len, int err, const char *text)
{
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    int rc;
    gs_resp_parser_init(&p);
    rc = request(&p, msg, len, &req, &diag);
    if (rc != err)
        fail_msg("'%.*s': rc %d, expected %d", (int)(len < 40 ? len : 40), msg, rc, err);
    if (strstr(diag.msg, text) == NULL)
        fail_msg("message '%s' lacks '%s'", diag.msg, text);
    gs_resp_parser_free(&p);
}

static void test_resp_request_refuses_negative_lengths(void **state)
{
    (void)state;
    assert_refused(S("*-1\r\n"), GS_EPARSE, "invalid multibulk length");
    assert_refused(S("*-2\r\n"), GS_EPARSE, "invalid multibulk length");
    assert_refused(S("*1\r\n$-1\r\n"), GS_EPARSE, "invalid bulk length");
    assert_refused(S("*1\r\n$-5\r\nabc\r\n"), GS_EPARSE, "invalid bulk length");
}

static void test_resp_request_refuses_bad_lengths(void **state)
{
    (void)state;
    assert_refused(S("*x\r\n"), GS_EPARSE, "invalid multibulk length");
    assert_refused(S("*\r\n"), GS_EPARSE, "invalid multibulk length");
    assert_refused(S("*+1\r\n"), GS_EPARSE, "invalid multibulk length");
    assert_refused(S("* 1\r\n"), GS_EPARSE, "invalid multibulk length");
    assert_refused(S("*1\r\n$3a\r\nabc\r\n"), GS_EPARSE, "invalid bulk length");
    assert_refused(S("*1\r\n$99999999999999999999\r\n"), GS_EPARSE, "invalid bulk length");
    assert_refused(S("*1\r\n$3\nabc\r\n"), GS_EPARSE, "expected CRLF");
    assert_refused(S("*1\r\n$3\r\nabcd\r\n"), GS_EPARSE, "expected CRLF after bulk");
    assert_refused(S("*1\r\n:3\r\n"), GS_EPARSE, "expected '$'");
    assert_refused(S("*1\r\n*1\r\n$1\r\na\r\n"), GS_EPARSE, "expected '$'");
    assert_refused(S("*111111111111111111111111111111111111111\r\n"), GS_EPARSE, "line too long");
}

static void test_resp_request_caps_argument_count(void **state)
{
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    gs_buf_t b;
    (void)state;
    assert_refused(S("*1025\r\n"), GS_ETOOBIG, "too many elements");
    gs_buf_init(&b, 1 << 20);
    assert_int_equal(gs_buf_puts(&b, "*1024\r\n"), GS_OK);
    for (int i = 0; i < 1024; i++)
        assert_int_equal(gs_resp_put_bulk(&b, "a", 1), GS_OK);
    gs_resp_parser_init(&p);
    assert_int_equal(request(&p, b.data, b.len, &req, &diag), GS_RESP_DONE);
    assert_int_equal(req.argc, 1024);
    gs_resp_parser_free(&p);
    /* 1025 inline words are as many arguments */
    gs_buf_reset(&b);
    for (int i = 0; i < 1025; i++)
        assert_int_equal(gs_buf_puts(&b, "a "), GS_OK);
    assert_int_equal(gs_buf_puts(&b, "\r\n"), GS_OK);
    assert_refused(b.data, b.len, GS_ETOOBIG, "too many elements");
    gs_buf_free(&b);
}

static void test_resp_request_caps_bulk_size_before_the_bytes_arrive(void **state)
{
    char msg[64];
    int n;
    (void)state;
    n = snprintf(msg, sizeof msg, "*2\r\n$3\r\nSET\r\n$%u\r\n", GS_RESP_MAX_BULK + 1);
    assert_refused(msg, (size_t)n, GS_ETOOBIG, "Payload too big");
    n = snprintf(msg, sizeof msg, "*1\r\n$%u\r\n", GS_RESP_MAX_BULK);
    {
        gs_resp_parser_t p;
        gs_resp_request_t req;
        gs_diag_t diag = {{0}};
        gs_resp_parser_init(&p);
        assert_int_equal(request(&p, msg, (size_t)n, &req, &diag), GS_RESP_MORE);
        gs_resp_parser_free(&p);
    }
}

static void test_resp_request_accepts_a_bulk_at_the_cap(void **state)
{
    size_t len = GS_RESP_MAX_BULK;
    gs_buf_t b;
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    char *value = malloc(len);
    (void)state;
    assert_non_null(value);
    memset(value, 'v', len);
    gs_buf_init(&b, 2 * len);
    assert_int_equal(gs_resp_put_array(&b, 1), GS_OK);
    assert_int_equal(gs_resp_put_bulk(&b, value, len), GS_OK);
    gs_resp_parser_init(&p);
    assert_int_equal(gs_resp_request_parse(&p, b.data, b.len, &req, &diag), GS_RESP_DONE);
    assert_int_equal(req.argv[0].len, len);
    gs_resp_parser_free(&p);
    gs_buf_free(&b);
    free(value);
}

static void test_resp_request_caps_total_size(void **state)
{
    char msg[128];
    int n;
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    (void)state;
    /* two bulks each under the bulk cap, together over the request cap */
    n = snprintf(msg, sizeof msg, "*3\r\n$3\r\nSET\r\n$%u\r\n", GS_RESP_MAX_BULK);
    gs_resp_parser_init(&p);
    p.max_message = 64;
    assert_int_equal(request(&p, msg, (size_t)n, &req, &diag), GS_ETOOBIG);
    assert_non_null(strstr(diag.msg, "request too large"));
    /* an inline line longer than the cap */
    p.max_line = 16;
    assert_int_equal(request(&p, S("PING PING PING PING PING\r\n"), &req, &diag), GS_EPARSE);
    assert_non_null(strstr(diag.msg, "line too long"));
    assert_int_equal(request(&p, S("PING PING PING P"), &req, &diag), GS_RESP_MORE);
    gs_resp_parser_free(&p);
}

static void test_resp_request_empty_array_is_an_empty_request(void **state)
{
    gs_resp_parser_t p;
    gs_resp_request_t req;
    gs_diag_t diag = {{0}};
    (void)state;
    gs_resp_parser_init(&p);
    assert_int_equal(request(&p, S("*0\r\n"), &req, &diag), GS_RESP_DONE);
    assert_int_equal(req.argc, 0);
    assert_int_equal(req.size, 4);
    gs_resp_parser_free(&p);
}

/* Parses a reply, dripping it byte by byte first to check it is incremental. */
static const gs_resp_value_t *reply(gs_resp_parser_t *p, const char *msg, size_t len, char **keep)
{
    gs_resp_reply_t r;
    gs_diag_t diag = {{0}};
    for (size_t k = 0; k < len; k++) {
        char *buf = malloc(k ? k : 1);
        memcpy(buf, msg, k);
        if (gs_resp_reply_parse(p, buf, k, &r, &diag) != GS_RESP_MORE)
            fail_msg("reply done early at %zu of %zu: %s", k, len, diag.msg);
        free(buf);
    }
    *keep = malloc(len);
    memcpy(*keep, msg, len);
    if (gs_resp_reply_parse(p, *keep, len, &r, &diag) != GS_RESP_DONE)
        fail_msg("reply not parsed: %s", diag.msg);
    assert_int_equal(r.size, len);
    return r.value;
}

static void test_resp_reply_parses_every_type(void **state)
{
    gs_resp_parser_t p;
    const gs_resp_value_t *v;
    char *keep;
    (void)state;
    gs_resp_parser_init(&p);
    v = reply(&p, S("+OK\r\n"), &keep);
    assert_int_equal(v->type, GS_RESP_SIMPLE);
    assert_true(gs_resp_eq(v, "ok"));
    free(keep);
    v = reply(&p, S("-Key not found\r\n"), &keep);
    assert_int_equal(v->type, GS_RESP_ERROR);
    assert_memory_equal(v->str, "Key not found", v->len);
    free(keep);
    v = reply(&p, S(":-9223372036854775808\r\n"), &keep);
    assert_int_equal(v->type, GS_RESP_INTEGER);
    assert_true(v->integer == INT64_MIN);
    free(keep);
    v = reply(&p, S("$-1\r\n"), &keep);
    assert_int_equal(v->type, GS_RESP_NIL);
    free(keep);
    v = reply(&p, S("*-1\r\n"), &keep);
    assert_int_equal(v->type, GS_RESP_NIL);
    free(keep);
    v = reply(&p, S("$0\r\n\r\n"), &keep);
    assert_int_equal(v->type, GS_RESP_BULK);
    assert_int_equal(v->len, 0);
    free(keep);
    v = reply(&p, S("*0\r\n"), &keep);
    assert_int_equal(v->type, GS_RESP_ARRAY);
    assert_int_equal(v->n, 0);
    free(keep);
    gs_resp_parser_free(&p);
}

static void test_resp_reply_lays_nested_arrays_out(void **state)
{
    /* a 0-db SCAN reply: [cursor, [[key, size, ts], [key, size, ts]]] */
    const char msg[] = "*2\r\n$8\r\n\x01\0\0\0\0\0\0\0\r\n*2\r\n*3\r\n$1\r\na\r\n:1\r\n:100\r\n"
                       "*3\r\n$2\r\nbb\r\n:2\r\n:200\r\n";
    gs_resp_parser_t p;
    const gs_resp_value_t *v, *list;
    char *keep;
    (void)state;
    gs_resp_parser_init(&p);
    v = reply(&p, msg, sizeof msg - 1, &keep);
    assert_int_equal(v->type, GS_RESP_ARRAY);
    assert_int_equal(v->n, 2);
    assert_int_equal(v->elem[0].len, 8);
    assert_int_equal(v->elem[0].str[0], 1);
    list = &v->elem[1];
    assert_int_equal(list->n, 2);
    assert_memory_equal(list->elem[1].elem[0].str, "bb", 2);
    assert_int_equal(list->elem[1].elem[1].integer, 2);
    assert_int_equal(list->elem[1].elem[2].integer, 200);
    assert_int_equal(list->elem[0].elem[2].integer, 100);
    free(keep);
    gs_resp_parser_free(&p);
}

static void nested(gs_buf_t *b, int depth)
{
    gs_buf_reset(b);
    for (int i = 0; i < depth; i++)
        assert_int_equal(gs_buf_puts(b, "*1\r\n"), GS_OK);
    assert_int_equal(gs_buf_puts(b, ":1\r\n"), GS_OK);
}

static void test_resp_reply_caps_nesting_depth(void **state)
{
    gs_resp_parser_t p;
    gs_resp_reply_t r;
    gs_diag_t diag = {{0}};
    gs_buf_t b;
    (void)state;
    gs_buf_init(&b, 4096);
    gs_resp_parser_init(&p);
    nested(&b, GS_RESP_MAX_DEPTH);
    assert_int_equal(gs_resp_reply_parse(&p, b.data, b.len, &r, &diag), GS_RESP_DONE);
    nested(&b, GS_RESP_MAX_DEPTH + 1);
    assert_int_equal(gs_resp_reply_parse(&p, b.data, b.len, &r, &diag), GS_EPARSE);
    assert_non_null(strstr(diag.msg, "nested too deep"));
    nested(&b, 1000);
    assert_int_equal(gs_resp_reply_parse(&p, b.data, b.len, &r, &diag), GS_EPARSE);
    p.max_depth = 2;
    nested(&b, 3);
    assert_int_equal(gs_resp_reply_parse(&p, b.data, b.len, &r, &diag), GS_EPARSE);
    gs_resp_parser_free(&p);
    gs_buf_free(&b);
}

static void test_resp_reply_refuses_bad_values(void **state)
{
    static const struct {
        const char *msg;
        int err;
    } bad[] = {
        {"$-2\r\n", GS_EPARSE},       {"*-2\r\n", GS_EPARSE},
        {":12a\r\n", GS_EPARSE},      {":9223372036854775808\r\n", GS_EPARSE},
        {"+a\rb\r\n", GS_EPARSE},     {"?\r\n", GS_EPARSE},
        {"$3\r\nabcde", GS_EPARSE},   {"*1025\r\n", GS_ETOOBIG},
        {"$8392705\r\n", GS_ETOOBIG}, {":1\n", GS_EPARSE},
    };
    (void)state;
    for (size_t i = 0; i < GS_ARRAY_SIZE(bad); i++) {
        gs_resp_parser_t p;
        gs_resp_reply_t r;
        gs_diag_t diag = {{0}};
        int rc;
        gs_resp_parser_init(&p);
        rc = gs_resp_reply_parse(&p, bad[i].msg, strlen(bad[i].msg), &r, &diag);
        if (rc != bad[i].err)
            fail_msg("'%s': rc %d, expected %d", bad[i].msg, rc, bad[i].err);
        assert_true(diag.msg[0] != '\0');
        gs_resp_parser_free(&p);
    }
}

static void test_resp_reply_caps_element_count(void **state)
{
    gs_resp_parser_t p;
    gs_resp_reply_t r;
    gs_diag_t diag = {{0}};
    (void)state;
    gs_resp_parser_init(&p);
    p.max_nodes = 3;
    assert_int_equal(gs_resp_reply_parse(&p, S("*2\r\n:1\r\n:2\r\n"), &r, &diag), GS_RESP_DONE);
    assert_int_equal(gs_resp_reply_parse(&p, S("*3\r\n:1\r\n:2\r\n:3\r\n"), &r, &diag), GS_ETOOBIG);
    gs_resp_parser_free(&p);
}

static void test_resp_writers_write_exact_bytes(void **state)
{
    gs_buf_t b;
    const char *argv[] = {"SET", "k"};
    size_t lens[] = {3, 1};
    (void)state;
    gs_buf_init(&b, 4096);
    assert_int_equal(gs_resp_put_simple(&b, "OK"), GS_OK);
    assert_int_equal(gs_resp_put_error(&b, "Key not found"), GS_OK);
    assert_int_equal(gs_resp_put_int(&b, 42), GS_OK);
    assert_int_equal(gs_resp_put_int(&b, -7), GS_OK);
    assert_int_equal(gs_resp_put_int(&b, INT64_MIN), GS_OK);
    assert_int_equal(gs_resp_put_bulk(&b, "a\0b", 3), GS_OK);
    assert_int_equal(gs_resp_put_nil(&b), GS_OK);
    assert_int_equal(gs_resp_put_array(&b, 0), GS_OK);
    assert_int_equal(gs_resp_put_request(&b, 2, argv, lens), GS_OK);
    {
        const char want[] = "+OK\r\n-Key not found\r\n:42\r\n:-7\r\n:-9223372036854775808\r\n"
                            "$3\r\na\0b\r\n$-1\r\n*0\r\n*2\r\n$3\r\nSET\r\n$1\r\nk\r\n";
        assert_int_equal(b.len, sizeof want - 1);
        assert_memory_equal(b.data, want, sizeof want - 1);
    }
    assert_int_equal(gs_resp_put_simple(&b, "a\r\nb"), GS_EINVAL);
    assert_int_equal(gs_resp_put_error(&b, "x\ny"), GS_EINVAL);
    gs_buf_free(&b);
    gs_buf_init(&b, 4);
    assert_int_equal(gs_resp_put_bulk(&b, "abc", 3), GS_ETOOBIG);
    gs_buf_free(&b);
}

static void test_resp_writer_and_parser_round_trip(void **state)
{
    const char *argv[] = {"MGET", "", "\r\n", "k\0ey"};
    size_t lens[] = {4, 0, 2, 4};
    gs_buf_t b;
    gs_resp_parser_t p;
    gs_resp_request_t req;
    char *keep;
    (void)state;
    gs_buf_init(&b, 4096);
    assert_int_equal(gs_resp_put_request(&b, 4, argv, lens), GS_OK);
    gs_resp_parser_init(&p);
    parse_dripping(&p, b.data, b.len, &req, &keep);
    assert_int_equal(req.argc, 4);
    for (size_t i = 0; i < 4; i++)
        assert_arg(&req.argv[i], argv[i], lens[i]);
    free(keep);
    gs_resp_parser_free(&p);
    gs_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resp_request_parses_multibulk),
        cmocka_unit_test(test_resp_request_parses_inline_commands),
        cmocka_unit_test(test_resp_request_split_at_every_byte),
        cmocka_unit_test(test_resp_request_pipelined_requests_come_one_by_one),
        cmocka_unit_test(test_resp_request_survives_its_buffer_moving),
        cmocka_unit_test(test_resp_request_refuses_negative_lengths),
        cmocka_unit_test(test_resp_request_refuses_bad_lengths),
        cmocka_unit_test(test_resp_request_caps_argument_count),
        cmocka_unit_test(test_resp_request_caps_bulk_size_before_the_bytes_arrive),
        cmocka_unit_test(test_resp_request_accepts_a_bulk_at_the_cap),
        cmocka_unit_test(test_resp_request_caps_total_size),
        cmocka_unit_test(test_resp_request_empty_array_is_an_empty_request),
        cmocka_unit_test(test_resp_reply_parses_every_type),
        cmocka_unit_test(test_resp_reply_lays_nested_arrays_out),
        cmocka_unit_test(test_resp_reply_caps_nesting_depth),
        cmocka_unit_test(test_resp_reply_refuses_bad_values),
        cmocka_unit_test(test_resp_reply_caps_element_count),
        cmocka_unit_test(test_resp_writers_write_exact_bytes),
        cmocka_unit_test(test_resp_writer_and_parser_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
