/* http.c — the HTTP client: the libcurl multi interface driven by a libuv loop (the
 * pattern of curl's multi-uv example). The daemon runs it on its own loop with many
 * requests in flight; command-line tools run it on a private loop until every
 * transfer is done (gs_http_run, gs_http_get_all). */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <uv.h>

#define DEFAULT_MAX_BODY   (1u << 20)
#define DEFAULT_TIMEOUT_MS 30000L

typedef struct transfer transfer_t;

struct gs_http_client {
    uv_loop_t *loop;
    uv_timer_t timer;
    CURLM *multi;
    transfer_t *transfers; /* in flight, for cancelation */
    void (*closed)(void *arg);
    void *closed_arg;
};

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    gs_http_client_t *client;
} sock_ctx_t;

struct transfer {
    transfer_t *next, **prev;
    CURL *easy;
    struct curl_slist *headers;
    gs_http_response_t resp;
    size_t max_body;
    bool too_big;
    gs_http_done_cb cb;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *userp)
{
    transfer_t *t = userp;
    size_t n = size * nmemb;
    if (t->resp.body.len + n > t->max_body) {
        t->too_big = true;
        return 0; /* aborts the transfer */
    }
    return gs_buf_append(&t->resp.body, p, n) == GS_OK ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *userp)
{
    transfer_t *t = userp;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        gs_buf_reset(&t->resp.headers); /* a new response (after a redirect) */
    return gs_buf_append(&t->resp.headers, p, n) == GS_OK ? n : 0;
}

static void unlink_transfer(transfer_t *t)
{
    *t->prev = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

/* Detaches t from the multi handle, tells its owner and frees it. */
static void finish(gs_http_client_t *c, transfer_t *t, const char *error)
{
    unlink_transfer(t);
    curl_multi_remove_handle(c->multi, t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    if (error != NULL)
        t->resp.status = 0;
    t->cb(&t->resp, error, t->ud);
    gs_http_response_free(&t->resp);
    free(t);
}

static void drain_messages(gs_http_client_t *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        transfer_t *t = NULL;
        char why[CURL_ERROR_SIZE + 64];
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (msg->data.result == CURLE_OK) {
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
            finish(c, t, NULL);
            continue;
        }
        if (t->too_big)
            snprintf(why, sizeof why, "answer larger than %zu bytes", t->max_body);
        else
            snprintf(why, sizeof why, "%s",
                     t->errbuf[0] ? t->errbuf : curl_easy_strerror(msg->data.result));
        finish(c, t, why);
    }
}

static void on_close_sock(uv_handle_t *h)
{
    free(h->data);
}

static void on_poll(uv_poll_t *req, int status, int events)
{
    sock_ctx_t *s = req->data;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->client->multi, s->fd, flags, &running);
    drain_messages(s->client);
}

static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    gs_http_client_t *c = userp;
    sock_ctx_t *s = socketp;
    (void)easy;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_close_sock);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        if ((s = calloc(1, sizeof *s)) == NULL)
            return -1;
        s->fd = fd;
        s->client = c;
        s->poll.data = s;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        curl_multi_assign(c->multi, fd, s);
    }
    uv_poll_start(&s->poll,
                  (action != CURL_POLL_IN ? UV_WRITABLE : 0) |
                      (action != CURL_POLL_OUT ? UV_READABLE : 0),
                  on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *timer)
{
    gs_http_client_t *c = timer->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_messages(c);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    gs_http_client_t *c = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else /* never act from inside libcurl: a 0 timeout fires on the next loop turn */
        uv_timer_start(&c->timer, on_timeout, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

int gs_http_client_new(uv_loop_t *loop, gs_http_client_t **out, gs_diag_t *diag)
{
    gs_http_client_t *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(c);
        return gs_diag_set(diag, GS_ENOMEM, "cannot start the HTTP client");
    }
    if ((c->multi = curl_multi_init()) == NULL) {
        curl_global_cleanup();
        free(c);
        return gs_diag_set(diag, GS_ENOMEM, "cannot start the HTTP client");
    }
    c->loop = loop;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 16L);
    *out = c;
    return GS_OK;
}

static bool configure(transfer_t *t, const gs_http_request_t *rq)
{
    CURL *e = t->easy;
    for (const char *const *h = rq->headers; h && *h; h++) {
        struct curl_slist *l = curl_slist_append(t->headers, *h);
        if (l == NULL)
            return false;
        t->headers = l;
    }
    curl_easy_setopt(e, CURLOPT_URL, rq->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     rq->timeout_ms > 0 ? rq->timeout_ms : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gridstor/" GS_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (rq->body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, rq->body);
    }
    if (rq->method != NULL)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    return true;
}

int gs_http_send(gs_http_client_t *c, const gs_http_request_t *rq, gs_http_done_cb cb, void *ud,
                 gs_diag_t *diag)
{
    transfer_t *t = calloc(1, sizeof *t);
    if (t == NULL || (t->easy = curl_easy_init()) == NULL)
        goto nomem;
    t->max_body = rq->max_body ? rq->max_body : DEFAULT_MAX_BODY;
    gs_buf_init(&t->resp.body, t->max_body);
    gs_buf_init(&t->resp.headers, 64 * 1024);
    t->cb = cb;
    t->ud = ud;
    if (!configure(t, rq) || curl_multi_add_handle(c->multi, t->easy) != CURLM_OK)
        goto nomem;
    t->next = c->transfers;
    t->prev = &c->transfers;
    if (c->transfers)
        c->transfers->prev = &t->next;
    c->transfers = t;
    return GS_OK; /* curl asks for a timer: the transfer starts on the loop */
nomem:
    if (t != NULL) {
        curl_easy_cleanup(t->easy);
        curl_slist_free_all(t->headers);
        gs_http_response_free(&t->resp);
    }
    free(t);
    return gs_diag_set(diag, GS_ENOMEM, "cannot start a request to %s", rq->url);
}

static void on_client_closed(uv_handle_t *h)
{
    gs_http_client_t *c = h->data;
    void (*closed)(void *) = c->closed;
    void *arg = c->closed_arg;
    free(c);
    curl_global_cleanup();
    if (closed)
        closed(arg);
}

void gs_http_client_close(gs_http_client_t *c, void (*closed)(void *arg), void *arg)
{
    if (c == NULL) {
        if (closed)
            closed(arg);
        return;
    }
    while (c->transfers != NULL)
        finish(c, c->transfers, "canceled");
    curl_multi_cleanup(c->multi); /* removes remaining sockets through on_socket */
    c->multi = NULL;
    c->closed = closed;
    c->closed_arg = arg;
    uv_close((uv_handle_t *)&c->timer, on_client_closed);
}

/* ---- on a private loop ---------------------------------------------------------------- */

typedef struct {
    gs_http_response_t *resp;
    const char *url;
    int err;
    char why[CURL_ERROR_SIZE + 64];
    size_t *pending;
} sync_t;

static void on_sync_done(gs_http_response_t *resp, const char *error, void *ud)
{
    sync_t *s = ud;
    (*s->pending)--;
    gs_http_response_free(s->resp);
    *s->resp = *resp; /* moved out */
    memset(resp, 0, sizeof *resp);
    if (error != NULL) {
        s->err = strncmp(error, "answer larger", 13) == 0 ? GS_ETOOBIG : GS_EHTTP;
        snprintf(s->why, sizeof s->why, "%s", error);
    }
}

static void on_private_closed(void *arg)
{
    (void)arg;
}

/* Runs the n requests to completion on a private loop; the first failure is returned. */
static int run_private(const gs_http_request_t *rqs, size_t n, gs_http_response_t *resp,
                       gs_diag_t *diag)
{
    uv_loop_t loop;
    gs_http_client_t *c;
    sync_t *syncs = calloc(n ? n : 1, sizeof *syncs);
    size_t pending = 0;
    int err = GS_OK;
    for (size_t i = 0; i < n; i++)
        memset(&resp[i], 0, sizeof resp[i]);
    if (syncs == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        syncs[i] = (sync_t){.resp = &resp[i], .url = rqs[i].url, .pending = &pending};
    uv_loop_init(&loop);
    if ((err = gs_http_client_new(&loop, &c, diag)) == GS_OK) {
        for (size_t i = 0; i < n && err == GS_OK; i++)
            if ((err = gs_http_send(c, &rqs[i], on_sync_done, &syncs[i], diag)) == GS_OK)
                pending++;
        while (pending > 0 && uv_run(&loop, UV_RUN_ONCE))
            ;
        gs_http_client_close(c, on_private_closed, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    for (size_t i = 0; i < n && err == GS_OK; i++)
        if (syncs[i].err != GS_OK)
            err = gs_diag_set(diag, syncs[i].err, "%s: %s", syncs[i].url, syncs[i].why);
    free(syncs);
    return err;
}

int gs_http_run(const gs_http_request_t *rq, gs_http_response_t *resp, gs_diag_t *diag)
{
    return run_private(rq, 1, resp, diag);
}

int gs_http_get_all(const char *const *urls, size_t n, size_t max_body, long timeout_ms,
                    gs_http_response_t *resp, gs_diag_t *diag)
{
    gs_http_request_t *rqs = calloc(n ? n : 1, sizeof *rqs);
    int err;
    if (rqs == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        rqs[i] =
            (gs_http_request_t){.url = urls[i], .max_body = max_body, .timeout_ms = timeout_ms};
    err = run_private(rqs, n, resp, diag);
    free(rqs);
    return err;
}

bool gs_http_header(const gs_http_response_t *r, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = r->headers.data;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            size_t vlen;
            while (*v == ' ' || *v == '\t')
                v++;
            vlen = (size_t)(p + len - v);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (vlen >= outlen)
                vlen = outlen - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = eol ? eol + 1 : p + len;
    }
    return false;
}

void gs_http_response_free(gs_http_response_t *r)
{
    if (r == NULL)
        return;
    gs_buf_free(&r->body);
    gs_buf_free(&r->headers);
}
