/* zdb.c — the 0-db client: RESP over one libuv TCP connection per client, commands
 * pipelined and matched to replies in order, AUTH and SELECT sent on each connect, a
 * deadline per command, and a reconnect on the next command after a failure.
 *
 * Lifetimes. The connection (socket, read buffer, parser) is its own allocation, freed
 * in its uv_close callback, so a dropped connection can finish closing while the client
 * already dials a new one. A name lookup in flight is likewise its own allocation. The
 * client itself owns two timers and is freed once both have closed.
 *
 * Every failure reaches the callbacks through the `failed` list, drained from a zero
 * timer: a callback never runs inside gs_zdb_command, and a callback that queues or
 * closes never finds the client half-way through a state change. Replies are delivered
 * directly from the read callback. */
#include "codec.h"

#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define DEFAULT_TIMEOUT_MS 10000u
#define DEFAULT_CONNECT_MS 5000u
#define RETRY_AFTER_MS     200u /* no new connect this soon after a failed one */
#define READ_CHUNK         (64u * 1024)
#define IN_MAX             (GS_RESP_MAX_REPLY + READ_CHUNK)
#define IN_SHRINK          (1u << 20) /* a read buffer above this is freed once empty */
#define MAX_ADDRS          8
#define MSG_MAX            512

typedef enum { KIND_USER, KIND_AUTH, KIND_SELECT } cmd_kind_t;

typedef struct cmd {
    struct cmd *next;
    cmd_kind_t kind;
    gs_zdb_cb cb;
    void *ud;
    char *req; /* the encoded request until it is handed to a write */
    size_t req_len;
    uint64_t deadline;
    int err; /* on the failed list: why */
    char *msg;
} cmd_t;

typedef struct {
    cmd_t *head, *tail;
    size_t n;
} cmd_list_t;

typedef struct conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    gs_zdb_t *z; /* NULL once the client let go of it */
    gs_buf_t in;
    gs_resp_parser_t parser;
    char chunk[READ_CHUNK];
} conn_t;

typedef struct {
    uv_getaddrinfo_t req;
    gs_zdb_t *z; /* NULL once the client let go of it */
} resolve_t;

typedef struct {
    uv_write_t req;
    bool wipe; /* the bytes hold a password */
    unsigned n;
    uv_buf_t bufs[];
} write_t;

typedef enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_READY } state_t;

struct gs_zdb {
    uv_loop_t *loop;
    char *address, *host, *port, *ns;
    char *password, *admin; /* sodium_malloc'ed */
    unsigned timeout_ms, connect_ms;
    struct sockaddr_storage addrs[MAX_ADDRS];
    unsigned n_addrs, next_addr;
    bool literal; /* addrs[0] came from the address itself, no lookup needed */
    state_t state;
    conn_t *conn;
    resolve_t *resolve;
    uint64_t connect_deadline, last_fail;
    bool failed_once, closing;
    cmd_list_t queued, sent, failed;
    uv_timer_t timer, defer;
    int open_handles;
};

/* ---- small pieces ---- */

/* The backoff clock: the loop's cached time goes stale while a program blocks between
 * runs of the loop, and a retry must not be refused for time that did pass. */
static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static void list_push(cmd_list_t *l, cmd_t *c)
{
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
}

static cmd_t *list_pop(cmd_list_t *l)
{
    cmd_t *c = l->head;
    if (c == NULL)
        return NULL;
    l->head = c->next;
    if (l->head == NULL)
        l->tail = NULL;
    l->n--;
    c->next = NULL;
    return c;
}

static void cmd_free(cmd_t *c)
{
    if (c == NULL)
        return;
    if (c->req && c->kind != KIND_USER)
        sodium_memzero(c->req, c->req_len);
    free(c->req);
    free(c->msg);
    free(c);
}

static char *secret_dup(const char *s)
{
    size_t n;
    char *p;
    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    p = sodium_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static void secret_free(char *s)
{
    if (s)
        sodium_free(s); /* wipes */
}

static cmd_t *cmd_new(cmd_kind_t kind, size_t argc, const char *const *argv, const size_t *lens)
{
    cmd_t *c = calloc(1, sizeof *c);
    gs_buf_t b;
    if (c == NULL)
        return NULL;
    gs_buf_init(&b, SIZE_MAX);
    if (gs_resp_put_request(&b, argc, argv, lens) != GS_OK) {
        if (b.data)
            sodium_memzero(b.data, b.cap);
        gs_buf_free(&b);
        free(c);
        return NULL;
    }
    c->kind = kind;
    c->req_len = b.len;
    c->req = b.data;
    return c;
}

/* ---- failing commands (always through the defer timer) ---- */

static void fail_cmd(gs_zdb_t *z, cmd_t *c, int err, const char *msg)
{
    if (c->kind != KIND_USER) {
        cmd_free(c);
        return;
    }
    free(c->req);
    c->req = NULL;
    c->err = err;
    c->msg = gs_strdup(msg); /* NULL when out of memory: the callback gets the code's text */
    list_push(&z->failed, c);
}

static void on_defer(uv_timer_t *t)
{
    gs_zdb_t *z = t->data;
    cmd_list_t todo = z->failed;
    cmd_t *c;
    memset(&z->failed, 0, sizeof z->failed);
    while ((c = list_pop(&todo)) != NULL) {
        c->cb(NULL, c->err, c->msg ? c->msg : gs_strerror(c->err), c->ud);
        cmd_free(c);
    }
}

static void schedule_failures(gs_zdb_t *z)
{
    if (z->failed.n > 0 && !z->closing)
        uv_timer_start(&z->defer, on_defer, 0, 0);
}

/* ---- connection teardown ---- */

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *conn = h->data;
    gs_buf_free(&conn->in);
    gs_resp_parser_free(&conn->parser);
    free(conn);
}

static void release_conn(gs_zdb_t *z)
{
    conn_t *conn = z->conn;
    z->conn = NULL;
    if (conn == NULL)
        return;
    conn->z = NULL;
    uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
}

static void release_resolve(gs_zdb_t *z)
{
    if (z->resolve == NULL)
        return;
    z->resolve->z = NULL;
    uv_cancel((uv_req_t *)&z->resolve->req); /* may fail when already running: fine */
    z->resolve = NULL;
}

/* Drops the connection: the oldest command sent gets err_head, every other one (sent
 * or waiting to be) err. `failure` records the time, so the next connect waits. */
static void drop(gs_zdb_t *z, int err_head, int err, const char *msg, bool failure)
{
    cmd_t *c;
    bool first = true;
    release_conn(z);
    release_resolve(z);
    z->state = ST_IDLE;
    if (failure) {
        z->last_fail = now_ms();
        z->failed_once = true;
    }
    uv_timer_stop(&z->timer);
    while ((c = list_pop(&z->sent)) != NULL) {
        bool user = c->kind == KIND_USER;
        fail_cmd(z, c, first && user ? err_head : err, msg);
        if (user)
            first = false;
    }
    while ((c = list_pop(&z->queued)) != NULL)
        fail_cmd(z, c, err, msg);
    schedule_failures(z);
}

static void dropf(gs_zdb_t *z, int err_head, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void dropf(gs_zdb_t *z, int err_head, int err, const char *fmt, ...)
{
    char msg[MSG_MAX];
    int n = snprintf(msg, sizeof msg, "%s: ", z->address);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    drop(z, err_head, err, msg, true);
}

/* ---- deadlines ---- */

static void on_timer(uv_timer_t *t);

static void arm(gs_zdb_t *z)
{
    uint64_t now = uv_now(z->loop), deadline;
    if (z->state == ST_CONNECTING || z->state == ST_HANDSHAKE)
        deadline = z->connect_deadline;
    else if (z->state == ST_READY && z->sent.head)
        deadline = z->sent.head->deadline;
    else {
        uv_timer_stop(&z->timer);
        return;
    }
    uv_timer_start(&z->timer, on_timer, deadline > now ? deadline - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    gs_zdb_t *z = t->data;
    uint64_t now = uv_now(z->loop);
    if ((z->state == ST_CONNECTING || z->state == ST_HANDSHAKE) && now >= z->connect_deadline)
        dropf(z, GS_ETIMEDOUT, GS_ETIMEDOUT, "no connection within %u ms", z->connect_ms);
    else if (z->state == ST_READY && z->sent.head && now >= z->sent.head->deadline)
        dropf(z, GS_ETIMEDOUT, GS_ECONN,
              "no reply within %u ms; connection dropped, the commands sent after it fail",
              z->timeout_ms);
    else
        arm(z);
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
    write_t *w = (write_t *)req;
    conn_t *conn = req->data;
    for (unsigned i = 0; i < w->n; i++) {
        if (w->wipe)
            sodium_memzero(w->bufs[i].base, w->bufs[i].len);
        free(w->bufs[i].base);
    }
    free(w);
    if (status < 0 && conn->z && conn->z->conn == conn)
        dropf(conn->z, GS_ECONN, GS_ECONN, "write failed: %s", uv_strerror(status));
}

/* Sends every command of `from` in one write and moves them to the sent list. */
static void send_list(gs_zdb_t *z, cmd_list_t *from, bool wipe)
{
    write_t *w;
    unsigned i = 0;
    uint64_t deadline = uv_now(z->loop) + z->timeout_ms;
    cmd_t *c;
    int rc;
    if (from->n == 0)
        return;
    w = malloc(sizeof *w + from->n * sizeof(uv_buf_t));
    if (w == NULL) {
        dropf(z, GS_ENOMEM, GS_ENOMEM, "out of memory");
        return;
    }
    w->wipe = wipe;
    while ((c = list_pop(from)) != NULL) {
        w->bufs[i++] = uv_buf_init(c->req, (unsigned)c->req_len);
        c->req = NULL; /* the write owns the bytes now */
        c->deadline = deadline;
        list_push(&z->sent, c);
    }
    w->n = i;
    w->req.data = z->conn;
    rc = uv_write(&w->req, (uv_stream_t *)&z->conn->tcp, w->bufs, w->n, on_write);
    if (rc < 0) {
        for (i = 0; i < w->n; i++)
            free(w->bufs[i].base);
        free(w);
        dropf(z, GS_ECONN, GS_ECONN, "write failed: %s", uv_strerror(rc));
    }
}

static void flush(gs_zdb_t *z)
{
    bool idle = z->sent.n == 0;
    if (z->state != ST_READY || z->queued.n == 0)
        return;
    send_list(z, &z->queued, false);
    if (idle && z->state == ST_READY)
        arm(z); /* the oldest command, whose deadline the timer follows, is new */
}

/* ---- reading ---- */

static void deliver(gs_zdb_t *z, cmd_t *c, const gs_resp_value_t *v);

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    conn_t *conn = h->data;
    (void)hint;
    *buf = uv_buf_init(conn->chunk, sizeof conn->chunk);
}

/* Parses and delivers every whole reply in the buffer; false when the client let go of
 * the connection meanwhile. */
static bool parse_replies(conn_t *conn)
{
    size_t off = 0;
    while (conn->z && off < conn->in.len) {
        gs_zdb_t *z = conn->z;
        gs_diag_t diag = {{0}};
        gs_resp_reply_t reply;
        int rc = gs_resp_reply_parse(&conn->parser, conn->in.data + off, conn->in.len - off, &reply,
                                     &diag);
        cmd_t *c;
        if (rc == GS_RESP_MORE)
            break;
        if (rc < 0) {
            dropf(z, rc, GS_ECONN, "bad reply: %s", diag.msg);
            return false;
        }
        c = list_pop(&z->sent);
        if (c == NULL) {
            dropf(z, GS_EPARSE, GS_EPARSE, "a reply to no command");
            return false;
        }
        off += reply.size;
        deliver(z, c, reply.value);
    }
    if (conn->z == NULL)
        return false;
    memmove(conn->in.data, conn->in.data + off, conn->in.len - off);
    conn->in.len -= off;
    conn->in.data[conn->in.len] = '\0';
    if (conn->in.len == 0 && conn->in.cap > IN_SHRINK)
        gs_buf_free(&conn->in), gs_buf_init(&conn->in, IN_MAX);
    return true;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *conn = s->data;
    gs_zdb_t *z = conn->z;
    int rc;
    (void)buf;
    if (z == NULL || nread == 0)
        return;
    if (nread < 0) {
        bool busy = z->sent.n > 0 || z->queued.n > 0;
        if (nread == UV_EOF)
            drop(z, GS_ECONN, GS_ECONN, "the server closed the connection", busy);
        else
            dropf(z, GS_ECONN, GS_ECONN, "read failed: %s", uv_strerror((int)nread));
        return;
    }
    rc = gs_buf_append(&conn->in, conn->chunk, (size_t)nread);
    if (rc < 0) {
        dropf(z, rc, GS_ECONN, "reply over %u bytes", (unsigned)IN_MAX);
        return;
    }
    if (parse_replies(conn))
        arm(z);
}

/* ---- replies ---- */

static void handshake_done(gs_zdb_t *z)
{
    z->state = ST_READY;
    flush(z);
    arm(z);
}

static void deliver(gs_zdb_t *z, cmd_t *c, const gs_resp_value_t *v)
{
    if (c->kind == KIND_USER) {
        c->cb(v, 0, NULL, c->ud);
        cmd_free(c);
        return;
    }
    if (v->type != GS_RESP_SIMPLE) {
        const char *what = c->kind == KIND_AUTH ? "AUTH" : "SELECT";
        int len = v->type == GS_RESP_ERROR ? (int)(v->len > 200 ? 200 : v->len) : 0;
        cmd_free(c);
        dropf(z, GS_EREFUSED, GS_EREFUSED, "%s refused: %.*s", what, len,
              len ? v->str : "unexpected reply");
        return;
    }
    cmd_free(c);
    if (z->sent.n == 0)
        handshake_done(z);
}

/* ---- connecting ---- */

static int push_handshake(gs_zdb_t *z, cmd_list_t *l)
{
    if (z->admin) {
        const char *argv[] = {"AUTH", z->admin};
        size_t lens[] = {4, strlen(z->admin)};
        cmd_t *c = cmd_new(KIND_AUTH, 2, argv, lens);
        if (c == NULL)
            return GS_ENOMEM;
        list_push(l, c);
    }
    if (z->ns) {
        const char *argv[] = {"SELECT", z->ns, z->password};
        size_t lens[] = {6, strlen(z->ns), z->password ? strlen(z->password) : 0};
        cmd_t *c = cmd_new(KIND_SELECT, z->password ? 3 : 2, argv, lens);
        if (c == NULL)
            return GS_ENOMEM;
        list_push(l, c);
    }
    return GS_OK;
}

static void connected(gs_zdb_t *z)
{
    cmd_list_t hs = {0};
    int rc;
    uv_tcp_nodelay(&z->conn->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&z->conn->tcp, on_alloc, on_read);
    if (rc < 0) {
        dropf(z, GS_ECONN, GS_ECONN, "%s", uv_strerror(rc));
        return;
    }
    if (push_handshake(z, &hs) != GS_OK) {
        for (cmd_t *c; (c = list_pop(&hs)) != NULL;)
            cmd_free(c);
        dropf(z, GS_ENOMEM, GS_ENOMEM, "out of memory");
        return;
    }
    if (hs.n == 0) {
        handshake_done(z);
        return;
    }
    z->state = ST_HANDSHAKE;
    send_list(z, &hs, true);
}

static void connect_next(gs_zdb_t *z);

static void on_connect(uv_connect_t *req, int status)
{
    conn_t *conn = req->data;
    gs_zdb_t *z = conn->z;
    if (z == NULL)
        return;
    if (status < 0) {
        if (z->next_addr < z->n_addrs) {
            release_conn(z);
            connect_next(z);
            return;
        }
        dropf(z, GS_ECONN, GS_ECONN, "connect: %s", uv_strerror(status));
        return;
    }
    connected(z);
}

static void connect_next(gs_zdb_t *z)
{
    conn_t *conn = calloc(1, sizeof *conn);
    int rc;
    if (conn == NULL) {
        dropf(z, GS_ENOMEM, GS_ENOMEM, "out of memory");
        return;
    }
    gs_buf_init(&conn->in, IN_MAX);
    gs_resp_parser_init(&conn->parser);
    conn->parser.max_bulk = GS_RESP_MAX_BULK;
    conn->parser.max_message = GS_RESP_MAX_REPLY;
    rc = uv_tcp_init(z->loop, &conn->tcp);
    if (rc < 0) {
        free(conn);
        dropf(z, GS_ECONN, GS_ECONN, "socket: %s", uv_strerror(rc));
        return;
    }
    conn->z = z;
    conn->tcp.data = conn;
    conn->connect.data = conn;
    z->conn = conn;
    rc = uv_tcp_connect(&conn->connect, &conn->tcp,
                        (const struct sockaddr *)&z->addrs[z->next_addr++], on_connect);
    if (rc < 0)
        dropf(z, GS_ECONN, GS_ECONN, "connect: %s", uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve_t *r = (resolve_t *)req;
    gs_zdb_t *z = r->z;
    free(r);
    if (z == NULL) {
        uv_freeaddrinfo(res);
        return;
    }
    z->resolve = NULL;
    z->n_addrs = z->next_addr = 0;
    for (struct addrinfo *ai = res; ai && z->n_addrs < MAX_ADDRS; ai = ai->ai_next)
        if (ai->ai_addrlen <= sizeof z->addrs[0])
            memcpy(&z->addrs[z->n_addrs++], ai->ai_addr, ai->ai_addrlen);
    uv_freeaddrinfo(res);
    if (status < 0 || z->n_addrs == 0) {
        dropf(z, GS_ECONN, GS_ECONN, "cannot resolve '%s': %s", z->host,
              status < 0 ? uv_strerror(status) : "no address");
        return;
    }
    connect_next(z);
}

static void start_connect(gs_zdb_t *z)
{
    struct addrinfo hints;
    resolve_t *r;
    int rc;
    z->state = ST_CONNECTING;
    z->connect_deadline = uv_now(z->loop) + z->connect_ms;
    arm(z);
    if (z->literal) {
        z->next_addr = 0;
        connect_next(z);
        return;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        dropf(z, GS_ENOMEM, GS_ENOMEM, "out of memory");
        return;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    r->z = z;
    z->resolve = r;
    rc = uv_getaddrinfo(z->loop, &r->req, on_resolved, z->host, z->port, &hints);
    if (rc < 0) {
        z->resolve = NULL;
        free(r);
        dropf(z, GS_ECONN, GS_ECONN, "cannot resolve '%s': %s", z->host, uv_strerror(rc));
    }
}

/* ---- the public calls ---- */

/* "host:port" or "[v6]:port" into host and port; a literal IP fills addrs[0]. */
static int parse_address(gs_zdb_t *z, const char *address, gs_diag_t *diag)
{
    const char *colon, *host = address;
    size_t hlen;
    char *end;
    unsigned long port;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (close == NULL || close[1] != ':')
            return gs_diag_set(diag, GS_EINVAL, "0-db address '%s': use [v6]:port", address);
        host = address + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(address, ':');
        if (colon == NULL || strchr(address, ':') != colon)
            return gs_diag_set(diag, GS_EINVAL, "0-db address '%s': use host:port", address);
        hlen = (size_t)(colon - address);
    }
    port = strtoul(colon + 1, &end, 10);
    if (hlen == 0 || hlen > 255 || colon[1] < '0' || colon[1] > '9' || *end != '\0' || port == 0 ||
        port > 65535)
        return gs_diag_set(diag, GS_EINVAL, "0-db address '%s': use host:port, port 1-65535",
                           address);
    z->host = strndup(host, hlen);
    z->port = gs_strdup(colon + 1);
    if (z->host == NULL || z->port == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (uv_ip4_addr(z->host, (int)port, (struct sockaddr_in *)&z->addrs[0]) == 0 ||
        uv_ip6_addr(z->host, (int)port, (struct sockaddr_in6 *)&z->addrs[0]) == 0) {
        z->literal = true;
        z->n_addrs = 1;
    }
    return GS_OK;
}

static void zdb_free(gs_zdb_t *z)
{
    if (z == NULL)
        return;
    free(z->address);
    free(z->host);
    free(z->port);
    free(z->ns);
    secret_free(z->password);
    secret_free(z->admin);
    free(z);
}

static int copy_opts(gs_zdb_t *z, const gs_zdb_opts_t *o, gs_diag_t *diag)
{
    if (o->ns && (o->ns[0] == '\0' || strlen(o->ns) > 128))
        return gs_diag_set(diag, GS_EINVAL, "0-db namespace '%s': 1 to 128 bytes", o->ns);
    z->address = gs_strdup(o->address);
    z->ns = gs_strdup(o->ns);
    z->password = secret_dup(o->password);
    z->admin = secret_dup(o->admin);
    if (z->address == NULL || (o->ns && z->ns == NULL) || (o->password && z->password == NULL) ||
        (o->admin && z->admin == NULL))
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (o->password && o->ns == NULL)
        return gs_diag_set(diag, GS_EINVAL, "0-db %s: a password needs a namespace", o->address);
    z->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    z->connect_ms = o->connect_ms ? o->connect_ms : DEFAULT_CONNECT_MS;
    return parse_address(z, o->address, diag);
}

gs_zdb_t *gs_zdb_new(uv_loop_t *loop, const gs_zdb_opts_t *opts, gs_diag_t *diag)
{
    gs_zdb_t *z;
    if (opts == NULL || opts->address == NULL) {
        gs_diag_set(diag, GS_EINVAL, "0-db client: no address");
        return NULL;
    }
    if (sodium_init() < 0) {
        gs_diag_set(diag, GS_ENOMEM, "libsodium did not start");
        return NULL;
    }
    z = calloc(1, sizeof *z);
    if (z == NULL) {
        gs_diag_set(diag, GS_ENOMEM, "out of memory");
        return NULL;
    }
    z->loop = loop;
    if (copy_opts(z, opts, diag) != GS_OK) {
        zdb_free(z);
        return NULL;
    }
    uv_timer_init(loop, &z->timer);
    uv_timer_init(loop, &z->defer);
    z->timer.data = z->defer.data = z;
    z->open_handles = 2;
    return z;
}

static int check_args(size_t argc, const char *const *argv, const size_t *lens)
{
    if (argc < 1 || argc > GS_RESP_MAX_ARGS || argv == NULL || lens == NULL)
        return GS_EINVAL;
    for (size_t i = 0; i < argc; i++) {
        if (lens[i] > GS_RESP_MAX_PAYLOAD)
            return GS_ETOOBIG;
        if (argv[i] == NULL && lens[i] > 0)
            return GS_EINVAL;
    }
    return GS_OK;
}

/* Fails c at once (through the defer timer) when the last connect failed too recently. */
static bool backing_off(gs_zdb_t *z, cmd_t *c)
{
    uint64_t now = now_ms();
    char msg[MSG_MAX];
    if (!z->failed_once || now - z->last_fail >= RETRY_AFTER_MS)
        return false;
    snprintf(msg, sizeof msg, "%s: not connected (the last attempt failed %llu ms ago)", z->address,
             (unsigned long long)(now - z->last_fail));
    fail_cmd(z, c, GS_ECONN, msg);
    schedule_failures(z);
    return true;
}

int gs_zdb_command(gs_zdb_t *z, size_t argc, const char *const *argv, const size_t *lens,
                   gs_zdb_cb cb, void *ud)
{
    cmd_t *c;
    int rc;
    if (z == NULL || cb == NULL)
        return GS_EINVAL;
    if (z->closing)
        return GS_ECANCELED;
    rc = check_args(argc, argv, lens);
    if (rc)
        return rc;
    c = cmd_new(KIND_USER, argc, argv, lens);
    if (c == NULL)
        return GS_ENOMEM;
    c->cb = cb;
    c->ud = ud;
    if (z->state == ST_IDLE && backing_off(z, c))
        return GS_OK;
    list_push(&z->queued, c);
    if (z->state == ST_IDLE)
        start_connect(z);
    else
        flush(z);
    return GS_OK;
}

static void on_timer_closed(uv_handle_t *h)
{
    gs_zdb_t *z = h->data;
    if (--z->open_handles == 0)
        zdb_free(z);
}

static void cancel_list(cmd_list_t *l, bool keep_err)
{
    cmd_t *c;
    while ((c = list_pop(l)) != NULL) {
        if (c->kind == KIND_USER) {
            int err = keep_err ? c->err : GS_ECANCELED;
            c->cb(NULL, err, keep_err && c->msg ? c->msg : gs_strerror(err), c->ud);
        }
        cmd_free(c);
    }
}

void gs_zdb_close(gs_zdb_t *z)
{
    if (z == NULL || z->closing)
        return;
    z->closing = true;
    release_conn(z);
    release_resolve(z);
    z->state = ST_IDLE;
    uv_close((uv_handle_t *)&z->timer, on_timer_closed);
    uv_close((uv_handle_t *)&z->defer, on_timer_closed);
    cancel_list(&z->sent, false);
    cancel_list(&z->queued, false);
    cancel_list(&z->failed, true);
}

size_t gs_zdb_pending(const gs_zdb_t *z)
{
    if (z == NULL)
        return 0;
    size_t n = z->queued.n + z->failed.n;
    for (const cmd_t *c = z->sent.head; c; c = c->next)
        n += c->kind == KIND_USER;
    return n;
}

const char *gs_zdb_address(const gs_zdb_t *z)
{
    return z ? z->address : "";
}

/* ---- conveniences ---- */

int gs_zdb_set(gs_zdb_t *z, const void *key, size_t key_len, const void *value, size_t len,
               gs_zdb_cb cb, void *ud)
{
    const char *argv[] = {"SET", key, value};
    size_t lens[] = {3, key_len, len};
    return gs_zdb_command(z, 3, argv, lens, cb, ud);
}

int gs_zdb_get(gs_zdb_t *z, const void *key, size_t key_len, gs_zdb_cb cb, void *ud)
{
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, key_len};
    return gs_zdb_command(z, 2, argv, lens, cb, ud);
}

int gs_zdb_cmd(gs_zdb_t *z, gs_zdb_cb cb, void *ud, const char *name, ...)
{
    const char *argv[16];
    size_t lens[16], argc = 0;
    va_list ap;
    va_start(ap, name);
    for (const char *a = name; a != NULL && argc < 16; a = va_arg(ap, const char *)) {
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    va_end(ap);
    return gs_zdb_command(z, argc, argv, lens, cb, ud);
}

bool gs_zdb_info_field(const gs_resp_value_t *reply, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p, *end;
    if (reply == NULL || reply->type != GS_RESP_BULK || outlen == 0)
        return false;
    for (p = reply->str, end = reply->str + reply->len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (n > klen + 1 && memcmp(p, key, klen) == 0 && p[klen] == ':') {
            const char *v = p + klen + 1;
            size_t vlen = n - klen - 1;
            while (vlen && *v == ' ')
                v++, vlen--;
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (vlen >= outlen)
                return false;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        p += n + 1;
    }
    return false;
}

void gs_zdb_id_key(uint64_t id, unsigned char key[8])
{
    for (int i = 0; i < 8; i++)
        key[i] = (unsigned char)(id >> (8 * i));
}

int gs_zdb_key_id(const char *key, size_t len, uint64_t *id)
{
    uint64_t v = 0;
    if (key == NULL || (len != 8 && len != 4))
        return GS_EPARSE;
    for (size_t i = 0; i < len; i++)
        v |= (uint64_t)(unsigned char)key[i] << (8 * i);
    *id = v;
    return GS_OK;
}

/* ---- NSINFO counters ---- */

static bool info_u64(const gs_resp_value_t *v, const char *key, int base, uint64_t *out)
{
    char text[32], *end;
    if (!gs_zdb_info_field(v, key, text, sizeof text) || text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    *out = strtoull(text, &end, base);
    return *end == '\0' && errno == 0;
}

int gs_zdb_nsinfo_counters(const gs_resp_value_t *v, uint64_t *entries, uint64_t *next,
                           const char **why)
{
    char mode[32];
    uint64_t shown;
    if (v->type != GS_RESP_BULK || !gs_zdb_info_field(v, "mode", mode, sizeof mode)) {
        *why = "an NSINFO reply without `mode`";
        return GS_EPARSE;
    }
    if (strcmp(mode, "sequential") != 0) {
        *why = "the namespace is not in sequential mode";
        return GS_EINVAL;
    }
    if (!info_u64(v, "entries", 10, entries) || !info_u64(v, "next_internal_id", 16, &shown) ||
        shown > UINT32_MAX) {
        *why = "an NSINFO reply without a readable `entries` or `next_internal_id`";
        return GS_EPARSE;
    }
    *next = (shown & 0xff) << 24 | (shown & 0xff00) << 8 | (shown >> 8 & 0xff00) | shown >> 24;
    return GS_OK;
}
