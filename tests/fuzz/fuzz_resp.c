/* fuzz_resp.c — libFuzzer target for the RESP parsers (common/resp.c), which read what
 * any peer sends to the sim's 0-db server and what any 0-db sends back to the product.
 * The input is read as a stream of requests twice: whole, and fed in pieces whose sizes
 * come from the input itself, each time in a fresh buffer of exactly the bytes received.
 * Both readings must give the same requests and the same outcome; every request must
 * respect the caps, point inside the input and survive a round trip through the
 * writer. The same bytes are then read as a stream of replies, whole and in pieces.
 * Any broken invariant aborts. */
#include "common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGES 4096

/* What a reading of the stream gave: one fingerprint per message, and how it ended. */
typedef struct {
    uint64_t print[MAX_MESSAGES];
    size_t n;
    size_t used; /* bytes consumed by complete messages */
    int end;     /* GS_RESP_MORE or the error */
} outcome_t;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fingerprint_value(uint64_t h, const gs_resp_value_t *v, unsigned depth)
{
    uint64_t t = (uint64_t)v->type;
    if (depth > GS_RESP_MAX_DEPTH + 1)
        abort();
    h = mix(h, &t, sizeof t);
    if (v->type == GS_RESP_BULK || v->type == GS_RESP_SIMPLE || v->type == GS_RESP_ERROR)
        return mix(mix(h, &v->len, sizeof v->len), v->str, v->len);
    if (v->type == GS_RESP_INTEGER)
        return mix(h, &v->integer, sizeof v->integer);
    if (v->type == GS_RESP_ARRAY) {
        if (v->n > GS_RESP_MAX_ARGS || (v->n > 0 && v->elem == NULL))
            abort();
        h = mix(h, &v->n, sizeof v->n);
        for (size_t i = 0; i < v->n; i++)
            h = fingerprint_value(h, &v->elem[i], depth + 1);
    }
    return h;
}

/* A request's bytes must lie in buf, its caps hold, and the writer must give back bytes
 * that parse to the same arguments. */
static void check_request(const gs_resp_request_t *req, const char *buf, size_t len)
{
    const char **argv;
    size_t *lens;
    gs_resp_parser_t p;
    gs_resp_request_t again;
    gs_diag_t diag;
    gs_buf_t b;
    if (req->size == 0 || req->size > len || req->argc > GS_RESP_MAX_ARGS)
        abort();
    if (req->argc == 0)
        return;
    argv = malloc(req->argc * sizeof *argv);
    lens = malloc(req->argc * sizeof *lens);
    if (argv == NULL || lens == NULL)
        abort();
    for (size_t i = 0; i < req->argc; i++) {
        const gs_resp_value_t *a = &req->argv[i];
        if (a->type != GS_RESP_BULK || a->len > GS_RESP_MAX_BULK || a->str < buf ||
            a->str + a->len > buf + req->size)
            abort();
        argv[i] = a->str;
        lens[i] = a->len;
    }
    gs_buf_init(&b, 2 * GS_RESP_MAX_REQUEST);
    gs_resp_parser_init(&p);
    if (gs_resp_put_request(&b, req->argc, argv, lens) != GS_OK ||
        gs_resp_request_parse(&p, b.data, b.len, &again, &diag) != GS_RESP_DONE ||
        again.size != b.len || again.argc != req->argc)
        abort();
    for (size_t i = 0; i < req->argc; i++)
        if (again.argv[i].len != lens[i] || memcmp(again.argv[i].str, argv[i], lens[i]) != 0)
            abort();
    gs_resp_parser_free(&p);
    gs_buf_free(&b);
    free(argv);
    free(lens);
}

/* Parses messages from buf[*off..len) until the bytes run out or an error. */
static void parse_stream(gs_resp_parser_t *p, bool requests, const char *buf, size_t len,
                         outcome_t *o)
{
    for (;;) {
        gs_resp_request_t req;
        gs_resp_reply_t rep;
        gs_diag_t diag;
        int rc;
        diag.msg[0] = '\0';
        rc = requests ? gs_resp_request_parse(p, buf + o->used, len - o->used, &req, &diag)
                      : gs_resp_reply_parse(p, buf + o->used, len - o->used, &rep, &diag);
        if (rc < 0 && (diag.msg[0] == '\0' || (rc != GS_EPARSE && rc != GS_ETOOBIG)))
            abort(); /* every refusal explains itself */
        if (rc != GS_RESP_DONE) {
            o->end = rc;
            return;
        }
        if (requests)
            check_request(&req, buf + o->used, len - o->used);
        else if (rep.size == 0 || rep.size > len - o->used)
            abort();
        if (o->n == MAX_MESSAGES) {
            o->end = GS_RESP_MORE;
            return;
        }
        o->print[o->n++] =
            requests
                ? mix(fingerprint_value(14695981039346656037ull,
                                        &(gs_resp_value_t){
                                            .type = GS_RESP_ARRAY, .n = req.argc, .elem = req.argv},
                                        0),
                      &req.size, sizeof req.size)
                : mix(fingerprint_value(14695981039346656037ull, rep.value, 0), &rep.size,
                      sizeof rep.size);
        o->used += requests ? req.size : rep.size;
    }
}

/* Reads the stream as it would arrive from a socket: a few bytes more at a time. */
static void read_in_pieces(bool requests, const uint8_t *data, size_t size, outcome_t *o)
{
    gs_resp_parser_t p;
    size_t have = 0;
    gs_resp_parser_init(&p);
    o->n = o->used = 0;
    o->end = GS_RESP_MORE;
    while (have < size && o->end == GS_RESP_MORE && o->n < MAX_MESSAGES) {
        /* pieces grow with the input so that long inputs stay quick to replay */
        size_t step = (1 + data[have] % 13u) * (1 + have / 1024);
        char *buf;
        have = have + step < size ? have + step : size;
        buf = malloc(have);
        if (buf == NULL)
            abort();
        memcpy(buf, data, have);
        parse_stream(&p, requests, buf, have, o);
        free(buf);
    }
    gs_resp_parser_free(&p);
}

static void read_whole(bool requests, const uint8_t *data, size_t size, outcome_t *o)
{
    gs_resp_parser_t p;
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        abort();
    memcpy(buf, data, size);
    gs_resp_parser_init(&p);
    o->n = o->used = 0;
    parse_stream(&p, requests, buf, size, o);
    gs_resp_parser_free(&p);
    free(buf);
}

static void compare(bool requests, const uint8_t *data, size_t size)
{
    static outcome_t whole, pieces;
    read_whole(requests, data, size, &whole);
    read_in_pieces(requests, data, size, &pieces);
    if (whole.n == MAX_MESSAGES || pieces.n == MAX_MESSAGES)
        return; /* the reading stopped at the record's size, not at the input's end */
    if (whole.n != pieces.n || whole.used != pieces.used || whole.end != pieces.end ||
        memcmp(whole.print, pieces.print, whole.n * sizeof whole.print[0]) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    compare(true, data, size);
    compare(false, data, size);
    return 0;
}
