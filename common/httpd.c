/* httpd.c — the HTTP server glue every gridstor server uses: h2o (HTTP/1.1 and
 * HTTP/2) on a libuv loop, a route table with path parameters and body caps,
 * JSON answers, a hook before the routes, requests answered later from a timer, and a
 * shutdown that lets open connections finish. */
#include "common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

typedef struct defer defer_t;

struct gs_httpd {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    uv_tcp_t listener;
    const gs_http_route_t *routes;
    void *ud;
    int port;
    size_t open_conns;
    bool closing, listener_closed;
    void (*on_closed)(void *arg);
    void *closed_arg;
    gs_http_hook_cb hook;
    void *hook_arg;
    defer_t *deferred; /* pending deferred requests, so that closing can run them */
    SSL_CTX *tls;      /* when serving HTTPS (gs_httpd_set_tls) */
};

typedef struct {
    h2o_handler_t super;
    gs_httpd_t *server;
} handler_t;

typedef struct {
    uv_tcp_t tcp;
    gs_httpd_t *server;
} conn_t;

struct gs_http_req {
    h2o_req_t *req;
    gs_httpd_t *server;
    char *method, *path;
    char *params[GS_HTTP_MAX_PARAMS];
    size_t n_params;
    defer_t *deferred; /* its pending deferred answer, if any */
};

/* ---- paths -------------------------------------------------------------------------------- */

static char *pool_strndup(h2o_req_t *req, const char *p, size_t n)
{
    char *s = h2o_mem_alloc_pool(&req->pool, n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Next segment of a path: *p points after a '/', returns its length. */
static size_t segment(const char **p)
{
    const char *end = strchr(*p, '/');
    return end ? (size_t)(end - *p) : strlen(*p);
}

/* Matches `path` (no query) against a route pattern, capturing {} segments. */
static bool match(const char *pattern, const char *path, gs_http_req_t *r)
{
    r->n_params = 0;
    while (*pattern == '/' && *path == '/') {
        size_t pl, sl;
        pattern++;
        path++;
        pl = segment(&pattern);
        sl = segment(&path);
        if (pl == 2 && memcmp(pattern, "{}", 2) == 0) {
            if (sl == 0 || r->n_params == GS_HTTP_MAX_PARAMS)
                return false;
            r->params[r->n_params++] = pool_strndup(r->req, path, sl);
        } else if (pl != sl || memcmp(pattern, path, pl) != 0) {
            return false;
        }
        pattern += pl;
        path += sl;
    }
    return *pattern == '\0' && *path == '\0';
}

/* ---- requests ----------------------------------------------------------------------------- */

static void send_status(gs_http_req_t *r, int status, const char *message)
{
    gs_http_reply_error(r, status, "%s", message);
}

static const gs_http_route_t *route_for(gs_http_req_t *r, bool *path_known)
{
    const gs_http_route_t *found = NULL;
    *path_known = false;
    for (const gs_http_route_t *rt = r->server->routes; rt->method; rt++) {
        if (!match(rt->path, r->path, r))
            continue;
        *path_known = true;
        if (strcmp(rt->method, r->method) == 0) {
            found = rt;
            break;
        }
    }
    /* Captures must come from the route that matched. */
    if (found)
        match(found->path, r->path, r);
    return found;
}

static int hexval(char c);

/* Every %-escape of the query string is followed by two hex digits. */
static bool query_well_formed(const h2o_req_t *req)
{
    const char *p, *end;
    if (req->query_at == SIZE_MAX)
        return true;
    p = req->path.base + req->query_at + 1;
    end = req->path.base + req->path.len;
    for (; p < end; p++)
        if (*p == '%' && (end - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0))
            return false;
    return true;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    handler_t *h = (handler_t *)self;
    gs_http_req_t *r = h2o_mem_alloc_pool(&req->pool, sizeof *r);
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    memset(r, 0, sizeof *r);
    r->req = req;
    r->server = h->server;
    r->method = pool_strndup(req, req->method.base, req->method.len);
    r->path = pool_strndup(req, req->path.base, path_len);
    if (path_len > 1 && r->path[path_len - 1] == '/')
        r->path[path_len - 1] = '\0';
    if (!query_well_formed(req)) {
        gs_http_reply_error(r, 400,
                            "malformed query string: a %% must be followed by two hex "
                            "digits");
        return 0;
    }
    if (h->server->hook == NULL || !h->server->hook(r, h->server->hook_arg))
        gs_http_dispatch(r);
    return 0;
}

void gs_http_dispatch(gs_http_req_t *r)
{
    bool path_known;
    const gs_http_route_t *route = route_for(r, &path_known);
    const h2o_req_t *req = r->req;
    if (route == NULL)
        send_status(r, path_known ? 405 : 404,
                    path_known ? "method not allowed" : "no such endpoint");
    else if (req->entity.base != NULL && req->entity.len > route->max_body)
        gs_http_reply_error(r, 413, "request body over the %zu-byte limit", route->max_body);
    else
        route->handler(r, r->server->ud);
}

const char *gs_http_req_method(const gs_http_req_t *r)
{
    return r->method;
}

const char *gs_http_req_path(const gs_http_req_t *r)
{
    return r->path;
}

const char *gs_http_req_param(const gs_http_req_t *r, size_t i)
{
    return i < r->n_params ? r->params[i] : NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [p, p+n) into out; false when it does not fit or is malformed. */
static bool decode(const char *p, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < n ? hexval(p[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= outlen)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* The raw value of query parameter name (not decoded); false when absent. */
static bool find_query(const h2o_req_t *req, const char *name, const char **val, size_t *len)
{
    size_t nlen = strlen(name);
    const char *p, *end;
    if (req->query_at == SIZE_MAX)
        return false;
    p = req->path.base + req->query_at + 1;
    end = req->path.base + req->path.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
            *val = eq + 1;
            *len = (size_t)(stop - eq - 1);
            return true;
        }
        p = stop + 1;
    }
    return false;
}

bool gs_http_req_query(const gs_http_req_t *r, const char *name, char *out, size_t outlen)
{
    const char *val;
    size_t len;
    return find_query(r->req, name, &val, &len) && decode(val, len, out, outlen);
}

bool gs_http_req_has_query(const gs_http_req_t *r, const char *name)
{
    const char *val;
    size_t len;
    return find_query(r->req, name, &val, &len);
}

bool gs_http_req_header(const gs_http_req_t *r, const char *name, char *out, size_t outlen)
{
    char lower[128]; /* h2o keeps header names in lower case */
    size_t n = strlen(name);
    ssize_t i;
    h2o_iovec_t v;
    if (n >= sizeof lower)
        return false;
    for (size_t k = 0; k <= n; k++)
        lower[k] = (char)tolower((unsigned char)name[k]);
    if ((i = h2o_find_header_by_str(&r->req->headers, lower, n, -1)) < 0)
        return false;
    v = r->req->headers.entries[i].value;
    if (v.len >= outlen)
        return false;
    memcpy(out, v.base, v.len);
    out[v.len] = '\0';
    return true;
}

const char *gs_http_req_body(const gs_http_req_t *r, size_t *len)
{
    *len = r->req->entity.base ? r->req->entity.len : 0;
    return r->req->entity.base ? r->req->entity.base : "";
}

/* ---- responses ---------------------------------------------------------------------------- */

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

void gs_http_add_header(gs_http_req_t *r, const char *name, const char *value)
{
    h2o_req_t *req = r->req;
    size_t nlen = strlen(name), vlen = strlen(value);
    h2o_add_header_by_str(&req->pool, &req->res.headers, h2o_strdup(&req->pool, name, nlen).base,
                          nlen, 1, NULL, h2o_strdup(&req->pool, value, vlen).base, vlen);
}

void gs_http_reply(gs_http_req_t *r, int status, const char *content_type, const void *body,
                   size_t len)
{
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = reason_of(status);
    gs_http_add_header(r, "content-type", content_type);
    h2o_send_inline(req, body, len);
}

void gs_http_reply_json(gs_http_req_t *r, int status, json_t *j)
{
    char *text = j ? gs_json_dumps(j) : NULL;
    json_decref(j);
    if (text == NULL) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        gs_http_reply(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    gs_http_reply(r, status, "application/json", text, strlen(text));
    free(text);
}

void gs_http_reply_error(gs_http_req_t *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages may quote the request back, cut anywhere: keep them printable ASCII so
     * they are always valid JSON text. */
    for (char *p = msg; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    gs_http_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

/* ---- streamed answers ------------------------------------------------------------------- */

/* An answer sent in pieces: h2o asks for the next piece (proceed) once the last one is
 * on its way, or says the client went away (stop). Each piece is copied, so the caller's
 * buffer is free at once; the copy lives until h2o asks for more. The struct lives in
 * the request's pool and goes with it. */
struct gs_http_stream {
    h2o_generator_t gen; /* first: h2o hands it back */
    h2o_req_t *req;
    gs_http_stream_cb proceed, stop;
    void *arg;
    char *piece; /* the copy in flight */
    bool in_flight, finishing, ended;
};

static void stream_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    gs_http_stream_t *st = (gs_http_stream_t *)g;
    free(st->piece);
    st->piece = NULL;
    st->in_flight = false;
    if (st->finishing) { /* the last piece is out: end the answer */
        st->ended = true;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    st->proceed(st, st->arg);
}

static void stream_stop(h2o_generator_t *g, h2o_req_t *req)
{
    gs_http_stream_t *st = (gs_http_stream_t *)g;
    (void)req;
    bool told = st->finishing || st->ended; /* the owner let go of it already */
    free(st->piece);
    st->piece = NULL;
    st->ended = true;
    if (st->stop != NULL && !told)
        st->stop(st, st->arg);
}

gs_http_stream_t *gs_http_stream_start(gs_http_req_t *r, int status, const char *content_type,
                                       int64_t length, gs_http_stream_cb proceed,
                                       gs_http_stream_cb stop, void *arg)
{
    h2o_req_t *req = r->req;
    gs_http_stream_t *st = h2o_mem_alloc_pool(&req->pool, sizeof *st);
    memset(st, 0, sizeof *st);
    st->gen.proceed = stream_proceed;
    st->gen.stop = stream_stop;
    st->req = req;
    st->proceed = proceed;
    st->stop = stop;
    st->arg = arg;
    req->res.status = status;
    req->res.reason = reason_of(status);
    if (length >= 0)
        req->res.content_length = (size_t)length;
    gs_http_add_header(r, "content-type", content_type);
    h2o_start_response(req, &st->gen);
    return st;
}

int gs_http_stream_send(gs_http_stream_t *st, const void *p, size_t n, bool last)
{
    h2o_iovec_t buf;
    if (st->in_flight || st->finishing || st->ended)
        return GS_EINVAL;
    if (n == 0 && last) {
        st->ended = true;
        h2o_send(st->req, NULL, 0, H2O_SEND_STATE_FINAL);
        return GS_OK;
    }
    if ((st->piece = malloc(n ? n : 1)) == NULL)
        return GS_ENOMEM;
    memcpy(st->piece, p, n);
    buf = h2o_iovec_init(st->piece, n);
    st->in_flight = true;
    st->finishing = last;
    h2o_send(st->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
    return GS_OK;
}

void gs_http_stream_abort(gs_http_stream_t *st)
{
    if (st->ended || st->in_flight)
        return; /* only between pieces */
    st->ended = true;
    h2o_send(st->req, NULL, 0, H2O_SEND_STATE_ERROR);
}

/* ---- h2o's own refusals as JSON ----------------------------------------------------------- */

/* h2o refuses some requests before any route runs, as text/plain: a body over the
 * server's limit (413) is read no further. A filter on the answers turns those into the
 * {"error": ...} JSON every other refusal has, so clients parse one shape. */
typedef struct {
    h2o_ostream_t super;
    h2o_iovec_t body;
    bool sent;
} json_ostream_t;

static void json_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                         h2o_send_state_t state)
{
    json_ostream_t *o = (json_ostream_t *)self;
    (void)bufs;
    (void)bufcnt;
    if (o->sent) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    o->sent = true;
    h2o_ostream_send_next(self, req, &o->body, 1, state);
}

static void json_errors_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    (void)self;
    if (req->res.status == 413 && i >= 0 &&
        h2o_memis(req->res.headers.entries[i].value.base, 10, H2O_STRLIT("text/plain"))) {
        json_ostream_t *o = (json_ostream_t *)h2o_add_ostream(req, sizeof *o, slot);
        char text[160];
        int n = snprintf(text, sizeof text, "{\"error\":\"request body over the %zu-byte limit\"}",
                         (size_t)req->conn->ctx->globalconf->max_request_entity_size);
        o->body = h2o_strdup(&req->pool, text, (size_t)n);
        o->sent = false;
        o->super.do_send = json_do_send;
        req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT("application/json"));
        req->res.content_length = o->body.len;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

/* ---- deferred requests -------------------------------------------------------------------- */

/* A request answered later. The timer is the struct's first member and the struct is
 * freed in the timer's close callback. The request's pool holds `slot`, a shared
 * allocation pointing back here, whose dispose callback cancels the timer: h2o disposes
 * the pool when the client goes away (HTTP/2 reset, connection closed), and the request
 * must not be touched after that. */
struct defer {
    uv_timer_t timer;
    gs_httpd_t *server;
    gs_http_req_t *req;
    defer_t **slot; /* in the request's pool */
    gs_http_defer_cb cb;
    void *arg;
    defer_t *prev, *next;
};

static void free_defer(uv_handle_t *h)
{
    free(h); /* the timer is the first member */
}

/* Detaches d from its request and its server and closes its timer; d->cb is then the
 * caller's to call, once. */
static void finish_defer(defer_t *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        d->server->deferred = d->next;
    if (d->next)
        d->next->prev = d->prev;
    if (d->slot)
        *d->slot = NULL;
    if (d->req != NULL && d->req->deferred == d)
        d->req->deferred = NULL;
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, free_defer);
}

static void run_defer(defer_t *d)
{
    gs_http_req_t *req = d->req;
    gs_http_defer_cb cb = d->cb;
    void *arg = d->arg;
    finish_defer(d);
    cb(req, arg);
}

static void on_defer_timer(uv_timer_t *t)
{
    run_defer((defer_t *)t);
}

/* The request's pool is being disposed while the answer was still to come. */
static void on_deferred_req_gone(void *p)
{
    defer_t *d = *(defer_t **)p;
    if (d == NULL)
        return;
    d->req = NULL;
    run_defer(d);
}

int gs_http_defer(gs_http_req_t *r, uint64_t delay_ms, gs_http_defer_cb cb, void *arg)
{
    gs_httpd_t *s = r->server;
    defer_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return GS_ENOMEM;
    d->server = s;
    d->req = r;
    d->cb = cb;
    d->arg = arg;
    d->slot = h2o_mem_alloc_shared(&r->req->pool, sizeof *d->slot, on_deferred_req_gone);
    *d->slot = d;
    d->next = s->deferred;
    if (s->deferred)
        s->deferred->prev = d;
    s->deferred = d;
    r->deferred = d;
    uv_timer_init(s->ctx.loop, &d->timer);
    /* A closing server answers at once: shutdown must not wait for a delay. */
    uv_timer_start(&d->timer, on_defer_timer, s->closing ? 0 : delay_ms, 0);
    return GS_OK;
}

void gs_http_defer_now(gs_http_req_t *r)
{
    if (r != NULL && r->deferred != NULL)
        run_defer(r->deferred);
}

void gs_httpd_set_hook(gs_httpd_t *s, gs_http_hook_cb hook, void *arg)
{
    s->hook = hook;
    s->hook_arg = arg;
}

/* Runs every pending deferred request now (their callbacks may defer again: those run
 * too). */
static void run_all_deferred(gs_httpd_t *s)
{
    while (s->deferred)
        run_defer(s->deferred);
}

/* ---- connections -------------------------------------------------------------------------- */

static void finish_close(gs_httpd_t *s)
{
    void (*cb)(void *) = s->on_closed;
    void *arg = s->closed_arg;
    /* request_shutdown may have armed HTTP/2's graceful-shutdown timer; disposing
     * the context with it still linked would trip h2o's own assertion. */
    if (h2o_timeout_is_linked(&s->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&s->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&s->ctx);
    h2o_config_dispose(&s->config);
    if (s->tls != NULL)
        SSL_CTX_free(s->tls);
    free(s);
    if (cb)
        cb(arg);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = (conn_t *)h;
    gs_httpd_t *s = c->server;
    free(c);
    s->open_conns--;
    if (s->closing && s->open_conns == 0 && s->listener_closed)
        finish_close(s);
}

static void on_accept(uv_stream_t *listener, int status)
{
    gs_httpd_t *s = listener->data;
    conn_t *c;
    h2o_socket_t *sock;
    if (status != 0 || s->closing)
        return;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->server = s;
    uv_tcp_init(listener->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    s->open_conns++;
    sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_accept(&s->accept_ctx, sock);
}

static void on_listener_closed(uv_handle_t *h)
{
    gs_httpd_t *s = h->data;
    s->listener_closed = true;
    if (s->open_conns == 0)
        finish_close(s);
}

static int listen_on(gs_httpd_t *s, uv_loop_t *loop, const char *host, int port, gs_diag_t *diag)
{
    struct sockaddr_storage addr;
    int len = sizeof addr, err;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
        return gs_diag_set(diag, GS_EINVAL, "cannot listen on '%s': not an IP address", host);
    err = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)&s->listener, 512, on_accept);
    if (err == 0)
        err = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&addr, &len);
    if (err)
        return gs_diag_set(diag, GS_EIO, "cannot listen on %s:%d: %s", host, port,
                           uv_strerror(err));
    s->port = ntohs(addr.ss_family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port
                                              : ((struct sockaddr_in6 *)&addr)->sin6_port);
    return GS_OK;
}

static size_t largest_body(const gs_http_route_t *routes)
{
    size_t max = 0;
    for (; routes->method; routes++)
        if (routes->max_body > max)
            max = routes->max_body;
    return max;
}

int gs_httpd_start(uv_loop_t *loop, const char *host, int port, const gs_http_route_t *routes,
                   void *ud, gs_httpd_t **out, gs_diag_t *diag)
{
    gs_httpd_t *s = calloc(1, sizeof *s);
    h2o_hostconf_t *hostconf;
    h2o_pathconf_t *pathconf;
    handler_t *h;
    int err;
    *out = NULL;
    if (s == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    s->routes = routes;
    s->ud = ud;
    h2o_config_init(&s->config);
    s->config.max_request_entity_size = largest_body(routes);
    hostconf = h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    pathconf = h2o_config_register_path(hostconf, "/", 0);
    /* refusals before any route are answered through the host's fallback path */
    h2o_create_filter(&hostconf->fallback_path, sizeof(h2o_filter_t))->on_setup_ostream =
        json_errors_setup;
    h = (handler_t *)h2o_create_handler(pathconf, sizeof *h);
    h->super.on_req = on_req;
    h->server = s;
    h2o_context_init(&s->ctx, loop, &s->config);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    err = listen_on(s, loop, host, port, diag);
    if (err) {
        s->closing = true;
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return err;
    }
    *out = s;
    return GS_OK;
}

/* The TLS side: TLS 1.2 or newer, the certificate chain and its key from PEM files, and
 * ALPN offering HTTP/2 then HTTP/1.1 as h2o negotiates them. */
int gs_httpd_set_tls(gs_httpd_t *s, const char *cert_file, const char *key_file, gs_diag_t *diag)
{
    SSL_CTX *tls = SSL_CTX_new(TLS_server_method());
    char why[256] = "out of memory";
    if (tls == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION);
    SSL_CTX_set_options(tls, SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_use_certificate_chain_file(tls, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls) != 1) {
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        SSL_CTX_free(tls);
        return gs_diag_set(diag, GS_EINVAL,
                           "TLS: cannot use the certificate %s with the key %s (%s); both must be "
                           "PEM files and belong together",
                           cert_file, key_file, why);
    }
    h2o_ssl_register_alpn_protocols(tls, h2o_http2_alpn_protocols);
    if (s->tls != NULL)
        SSL_CTX_free(s->tls);
    s->tls = tls;
    s->accept_ctx.ssl_ctx = tls;
    return GS_OK;
}

int gs_httpd_port(const gs_httpd_t *s)
{
    return s->port;
}

void gs_httpd_close(gs_httpd_t *s, void (*on_closed)(void *arg), void *arg)
{
    if (s == NULL || s->closing)
        return;
    s->closing = true;
    s->on_closed = on_closed;
    s->closed_arg = arg;
    run_all_deferred(s);
    h2o_context_request_shutdown(&s->ctx);
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
