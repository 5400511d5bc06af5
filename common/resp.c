/* resp.c — RESP framing: an incremental, zero-trust parser for the requests clients
 * send (arrays of bulk strings, inline lines) and the replies servers send (any type,
 * nested arrays), and the writers of both.
 *
 * The parser keeps only offsets into the message, never pointers, so the caller may
 * move its buffer between calls; it remembers how far it has parsed and how far it has
 * searched for the end of the current line, so every byte is examined once however the
 * message arrives. Values are recorded in order as nodes and laid out as a tree (each
 * array's elements contiguous) when the message is complete. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

enum { KIND_NONE, KIND_REQUEST, KIND_REPLY };

/* What a step of the parser leads to, besides GS_RESP_MORE, GS_RESP_DONE and errors. */
#define STEP_NEXT 2

/* "*1024", "$8392704", ":-9223372036854775808": header lines are short. */
#define HEADER_LINE_MAX 32

/* One value as parsed. off/len locate its bytes in the message; an ARRAY keeps its
 * element count in len. */
struct gs_resp__node {
    gs_resp_type_t type;
    size_t off, len;
    int64_t integer;
};

/* The state of one parse call. */
typedef struct {
    gs_resp_parser_t *p;
    const char *data;
    size_t len;
    gs_diag_t *diag;
    bool request;
    size_t max_message, max_nodes, max_depth;
} ctx_t;

void gs_resp_parser_init(gs_resp_parser_t *p)
{
    memset(p, 0, sizeof *p);
    p->max_args = GS_RESP_MAX_ARGS;
    p->max_bulk = GS_RESP_MAX_BULK;
    p->max_depth = GS_RESP_MAX_DEPTH;
    p->max_line = GS_RESP_MAX_INLINE;
    /* max_message and max_nodes stay 0: the default of the kind of message parsed. */
}

void gs_resp_parser_reset(gs_resp_parser_t *p)
{
    p->kind = KIND_NONE;
    p->pos = p->scan = p->bulk_len = 0;
    p->in_bulk = false;
    p->depth = 0;
    p->n_nodes = 0;
}

void gs_resp_parser_free(gs_resp_parser_t *p)
{
    if (p == NULL)
        return;
    free(p->nodes);
    free(p->out);
    p->nodes = NULL;
    p->out = NULL;
    p->cap_nodes = p->cap_out = 0;
    gs_resp_parser_reset(p);
}

static int fail(ctx_t *c, int err, const char *msg)
{
    gs_resp_parser_reset(c->p);
    return gs_diag_set(c->diag, err, "%s", msg);
}

/* A strict decimal integer: an optional '-', 1 to 19 digits, within int64_t. */
static bool parse_int(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    size_t i = neg ? 1 : 0;
    if (i == n || n - i > 19)
        return false;
    for (; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (!neg)
        *out = (int64_t)v;
    else
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    return true;
}

/* Finds the LF ending the line that starts at p->pos, its content at most max bytes
 * (plus a CR). Returns STEP_NEXT with *lf set, GS_RESP_MORE, or an error. */
static int find_line(ctx_t *c, size_t max, size_t *lf)
{
    gs_resp_parser_t *p = c->p;
    size_t limit = p->pos + max + 2, end, from = p->scan > p->pos ? p->scan : p->pos;
    bool capped = limit > c->max_message;
    const char *hit;
    if (capped)
        limit = c->max_message;
    end = c->len < limit ? c->len : limit;
    hit = from < end ? memchr(c->data + from, '\n', end - from) : NULL;
    if (hit != NULL) {
        *lf = (size_t)(hit - c->data);
        return STEP_NEXT;
    }
    if (end < limit) {
        p->scan = end;
        return GS_RESP_MORE;
    }
    if (capped)
        return fail(c, GS_ETOOBIG,
                    c->request ? "Protocol error: request too large"
                               : "Protocol error: reply too large");
    return fail(c, GS_EPARSE, "Protocol error: line too long");
}

/* A line that must end in CRLF: *eol is the index of its CR. */
static int find_crlf_line(ctx_t *c, size_t max, size_t *eol)
{
    size_t lf;
    int rc = find_line(c, max, &lf);
    if (rc != STEP_NEXT)
        return rc;
    if (lf == c->p->pos || c->data[lf - 1] != '\r')
        return fail(c, GS_EPARSE, "Protocol error: expected CRLF");
    *eol = lf - 1;
    return STEP_NEXT;
}

static int push_node(ctx_t *c, gs_resp_type_t type, size_t off, size_t len, int64_t integer)
{
    gs_resp_parser_t *p = c->p;
    if (p->n_nodes >= c->max_nodes)
        return fail(c, GS_ETOOBIG, "Protocol error: too many elements");
    if (p->n_nodes == p->cap_nodes) {
        size_t cap = p->cap_nodes ? p->cap_nodes * 2 : 8;
        gs_resp__node_t *n = realloc(p->nodes, cap * sizeof *n);
        if (n == NULL)
            return fail(c, GS_ENOMEM, "Out of memory");
        p->nodes = n;
        p->cap_nodes = cap;
    }
    p->nodes[p->n_nodes++] = (gs_resp__node_t){type, off, len, integer};
    return STEP_NEXT;
}

/* A value ended: counts it in the arrays it completes. */
static int value_done(gs_resp_parser_t *p)
{
    while (p->depth > 0) {
        if (--p->left[p->depth - 1] > 0)
            return STEP_NEXT;
        p->depth--;
    }
    return GS_RESP_DONE;
}

/* Moves past a line whose CR is at eol. */
static void skip_line(gs_resp_parser_t *p, size_t eol)
{
    p->pos = p->scan = eol + 2;
}

static int simple_line(ctx_t *c, size_t eol)
{
    gs_resp_parser_t *p = c->p;
    size_t start = p->pos + 1;
    gs_resp_type_t type = c->data[p->pos] == '+' ? GS_RESP_SIMPLE : GS_RESP_ERROR;
    int rc;
    if (memchr(c->data + start, '\r', eol - start) != NULL)
        return fail(c, GS_EPARSE, "Protocol error: CR inside a line");
    rc = push_node(c, type, start, eol - start, 0);
    if (rc != STEP_NEXT)
        return rc;
    skip_line(p, eol);
    return value_done(p);
}

static int integer_line(ctx_t *c, size_t eol)
{
    gs_resp_parser_t *p = c->p;
    int64_t v;
    int rc;
    if (!parse_int(c->data + p->pos + 1, eol - p->pos - 1, &v))
        return fail(c, GS_EPARSE, "Protocol error: invalid integer");
    rc = push_node(c, GS_RESP_INTEGER, 0, 0, v);
    if (rc != STEP_NEXT)
        return rc;
    skip_line(p, eol);
    return value_done(p);
}

static int nil_value(ctx_t *c, size_t eol)
{
    int rc = push_node(c, GS_RESP_NIL, 0, 0, 0);
    if (rc != STEP_NEXT)
        return rc;
    skip_line(c->p, eol);
    return value_done(c->p);
}

static int bulk_header(ctx_t *c, size_t eol)
{
    gs_resp_parser_t *p = c->p;
    int64_t v;
    int rc;
    if (!parse_int(c->data + p->pos + 1, eol - p->pos - 1, &v))
        return fail(c, GS_EPARSE, "Protocol error: invalid bulk length");
    if (v == -1 && !c->request)
        return nil_value(c, eol);
    if (v < 0)
        return fail(c, GS_EPARSE, "Protocol error: invalid bulk length");
    if ((uint64_t)v > p->max_bulk)
        return fail(c, GS_ETOOBIG, "Payload too big");
    if ((uint64_t)v + 4 > c->max_message - eol)
        return fail(c, GS_ETOOBIG,
                    c->request ? "Protocol error: request too large"
                               : "Protocol error: reply too large");
    rc = push_node(c, GS_RESP_BULK, eol + 2, (size_t)v, 0);
    if (rc != STEP_NEXT)
        return rc;
    skip_line(p, eol);
    p->in_bulk = true;
    p->bulk_len = (size_t)v;
    return STEP_NEXT;
}

static int bulk_body(ctx_t *c)
{
    gs_resp_parser_t *p = c->p;
    size_t end = p->pos + p->bulk_len;
    if (c->len < end + 2)
        return GS_RESP_MORE;
    if (c->data[end] != '\r' || c->data[end + 1] != '\n')
        return fail(c, GS_EPARSE, "Protocol error: expected CRLF after bulk data");
    p->pos = p->scan = end + 2;
    p->in_bulk = false;
    return value_done(p);
}

static int array_header(ctx_t *c, size_t eol)
{
    gs_resp_parser_t *p = c->p;
    int64_t v;
    int rc;
    if (!parse_int(c->data + p->pos + 1, eol - p->pos - 1, &v))
        return fail(c, GS_EPARSE, "Protocol error: invalid multibulk length");
    if (v == -1 && !c->request)
        return nil_value(c, eol);
    if (v < 0)
        return fail(c, GS_EPARSE, "Protocol error: invalid multibulk length");
    if ((uint64_t)v > p->max_args)
        return fail(c, GS_ETOOBIG, "Protocol error: too many elements");
    if (p->depth >= c->max_depth)
        return fail(c, GS_EPARSE, "Protocol error: arrays nested too deep");
    rc = push_node(c, GS_RESP_ARRAY, 0, (size_t)v, 0);
    if (rc != STEP_NEXT)
        return rc;
    skip_line(p, eol);
    if (v == 0)
        return value_done(p);
    p->left[p->depth++] = (size_t)v;
    return STEP_NEXT;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* An inline request: one line (LF or CRLF), words separated by blanks. */
static int inline_request(ctx_t *c)
{
    gs_resp_parser_t *p = c->p;
    size_t lf, end, i;
    int rc = find_line(c, p->max_line, &lf);
    if (rc != STEP_NEXT)
        return rc;
    end = lf > p->pos && c->data[lf - 1] == '\r' ? lf - 1 : lf;
    rc = push_node(c, GS_RESP_ARRAY, 0, 0, 0);
    for (i = p->pos; rc == STEP_NEXT && i < end;) {
        size_t start;
        while (i < end && is_blank(c->data[i]))
            i++;
        if (i == end)
            break;
        if (p->nodes[0].len == p->max_args)
            return fail(c, GS_ETOOBIG, "Protocol error: too many elements");
        for (start = i; i < end && !is_blank(c->data[i]);)
            i++;
        rc = push_node(c, GS_RESP_BULK, start, i - start, 0);
        if (rc == STEP_NEXT)
            p->nodes[0].len++;
    }
    if (rc != STEP_NEXT)
        return rc;
    p->pos = p->scan = lf + 1;
    return GS_RESP_DONE;
}

static int next_header(ctx_t *c)
{
    gs_resp_parser_t *p = c->p;
    size_t eol = 0;
    char t;
    int rc;
    if (p->pos >= c->len)
        return GS_RESP_MORE;
    t = c->data[p->pos];
    if (c->request && p->n_nodes == 0 && t != '*')
        return inline_request(c);
    if (c->request && p->depth > 0 && t != '$')
        return fail(c, GS_EPARSE, "Protocol error: expected '$'");
    rc = find_crlf_line(c, t == '+' || t == '-' ? p->max_line : HEADER_LINE_MAX, &eol);
    if (rc != STEP_NEXT)
        return rc;
    switch (t) {
    case '+':
    case '-':
        return simple_line(c, eol);
    case ':':
        return integer_line(c, eol);
    case '$':
        return bulk_header(c, eol);
    case '*':
        return array_header(c, eol);
    default:
        return fail(c, GS_EPARSE, "Protocol error: unknown type byte");
    }
}

/* Lays node i (and its subtree) into slot; an array's elements get contiguous slots
 * from *next. Returns the index of the node after the subtree. Recursion is bounded by
 * the depth cap. */
static size_t layout(gs_resp_parser_t *p, const char *data, size_t i, gs_resp_value_t *slot,
                     size_t *next)
{
    const gs_resp__node_t *nd = &p->nodes[i++];
    *slot = (gs_resp_value_t){.type = nd->type, .integer = nd->integer};
    if (nd->type == GS_RESP_SIMPLE || nd->type == GS_RESP_ERROR || nd->type == GS_RESP_BULK) {
        slot->str = data + nd->off;
        slot->len = nd->len;
    } else if (nd->type == GS_RESP_ARRAY && nd->len > 0) {
        gs_resp_value_t *kids = p->out + *next;
        *next += nd->len;
        slot->n = nd->len;
        slot->elem = kids;
        for (size_t k = 0; k < nd->len; k++)
            i = layout(p, data, i, &kids[k], next);
    }
    return i;
}

/* The message is complete: builds the tree and readies the parser for the next one. */
static int finish(ctx_t *c, const gs_resp_value_t **root, size_t *size)
{
    gs_resp_parser_t *p = c->p;
    size_t next = 1;
    if (p->n_nodes > p->cap_out) {
        gs_resp_value_t *out = realloc(p->out, p->n_nodes * sizeof *out);
        if (out == NULL)
            return fail(c, GS_ENOMEM, "Out of memory");
        p->out = out;
        p->cap_out = p->n_nodes;
    }
    layout(p, c->data, 0, &p->out[0], &next);
    *root = p->out;
    *size = p->pos;
    gs_resp_parser_reset(p);
    return GS_RESP_DONE;
}

static int run(ctx_t *c, int kind, const gs_resp_value_t **root, size_t *size)
{
    gs_resp_parser_t *p = c->p;
    int rc;
    if (p->kind != KIND_NONE && p->kind != kind)
        return fail(c, GS_EINVAL, "Protocol error: parser used for two kinds of message");
    p->kind = kind;
    c->max_depth = p->max_depth < GS_RESP_MAX_DEPTH ? p->max_depth : GS_RESP_MAX_DEPTH;
    if (c->request)
        c->max_depth = 1;
    do
        rc = p->in_bulk ? bulk_body(c) : next_header(c);
    while (rc == STEP_NEXT);
    return rc == GS_RESP_DONE ? finish(c, root, size) : rc;
}

/* The state of a call; caps left at 0 in the parser take the kind's default. */
static ctx_t context(gs_resp_parser_t *p, const char *data, size_t len, gs_diag_t *diag,
                     bool request)
{
    ctx_t c = {.p = p, .data = data, .len = len, .diag = diag, .request = request};
    c.max_message = p->max_message ? p->max_message
                    : request      ? GS_RESP_MAX_REQUEST
                                   : GS_RESP_MAX_REPLY;
    c.max_nodes = p->max_nodes ? p->max_nodes : request ? p->max_args + 1 : GS_RESP_MAX_NODES;
    return c;
}

int gs_resp_request_parse(gs_resp_parser_t *p, const char *data, size_t len, gs_resp_request_t *req,
                          gs_diag_t *diag)
{
    ctx_t c = context(p, data, len, diag, true);
    const gs_resp_value_t *root;
    int rc = run(&c, KIND_REQUEST, &root, &req->size);
    if (rc == GS_RESP_DONE) {
        req->argc = root->n;
        req->argv = root->elem;
    }
    return rc;
}

int gs_resp_reply_parse(gs_resp_parser_t *p, const char *data, size_t len, gs_resp_reply_t *reply,
                        gs_diag_t *diag)
{
    ctx_t c = context(p, data, len, diag, false);
    return run(&c, KIND_REPLY, &reply->value, &reply->size);
}

bool gs_resp_eq(const gs_resp_value_t *v, const char *s)
{
    size_t n = strlen(s);
    if ((v->type != GS_RESP_BULK && v->type != GS_RESP_SIMPLE) || v->len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)v->str[i], b = (unsigned char)s[i];
        if (a >= 'a' && a <= 'z')
            a = (unsigned char)(a - 'a' + 'A');
        if (b >= 'a' && b <= 'z')
            b = (unsigned char)(b - 'a' + 'A');
        if (a != b)
            return false;
    }
    return true;
}

/* ---- writers ---- */

/* "<type><v>\r\n" without printf: replies are written on the hot path. */
static int put_number(gs_buf_t *b, char type, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof tmp, *q = end;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    *--q = '\n';
    *--q = '\r';
    do
        *--q = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--q = '-';
    *--q = type;
    return gs_buf_append(b, q, (size_t)(end - q));
}

static int put_line(gs_buf_t *b, char type, const char *s)
{
    size_t n = strlen(s);
    int err;
    if (memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL)
        return GS_EINVAL;
    err = gs_buf_append(b, &type, 1);
    if (err == GS_OK)
        err = gs_buf_append(b, s, n);
    if (err == GS_OK)
        err = gs_buf_append(b, "\r\n", 2);
    return err;
}

int gs_resp_put_simple(gs_buf_t *b, const char *s)
{
    return put_line(b, '+', s);
}

int gs_resp_put_error(gs_buf_t *b, const char *msg)
{
    return put_line(b, '-', msg);
}

int gs_resp_put_int(gs_buf_t *b, int64_t v)
{
    return put_number(b, ':', v);
}

int gs_resp_put_bulk_header(gs_buf_t *b, size_t n)
{
    if (n > INT64_MAX)
        return GS_ETOOBIG;
    return put_number(b, '$', (int64_t)n);
}

int gs_resp_put_bulk(gs_buf_t *b, const void *p, size_t n)
{
    int err = gs_resp_put_bulk_header(b, n);
    if (err == GS_OK)
        err = gs_buf_append(b, p, n);
    if (err == GS_OK)
        err = gs_buf_append(b, "\r\n", 2);
    return err;
}

int gs_resp_put_nil(gs_buf_t *b)
{
    return gs_buf_append(b, "$-1\r\n", 5);
}

int gs_resp_put_array(gs_buf_t *b, size_t n)
{
    if (n > INT64_MAX)
        return GS_ETOOBIG;
    return put_number(b, '*', (int64_t)n);
}

int gs_resp_put_request(gs_buf_t *b, size_t argc, const char *const *argv, const size_t *lens)
{
    int err = gs_resp_put_array(b, argc);
    for (size_t i = 0; err == GS_OK && i < argc; i++)
        err = gs_resp_put_bulk(b, argv[i], lens[i]);
    return err;
}
