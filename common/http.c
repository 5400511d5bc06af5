/* http.c — concurrent capped HTTP GETs through the libcurl multi interface,
 * driven by libuv (the pattern of curl's multi-uv example). Command-line tools
 * run it on a private loop until every transfer is done. */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <uv.h>

typedef struct {
    uv_loop_t loop;
    uv_timer_t timer;
    CURLM *multi;
    size_t max_body;
    int pending;
} client_t;

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    client_t *client;
} sock_ctx_t;

typedef struct {
    gs_http_response_t *resp;
    size_t max_body;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
} transfer_t;

static size_t on_body(char *p, size_t size, size_t nmemb, void *userp)
{
    transfer_t *t = userp;
    size_t n = size * nmemb;
    if (t->resp->body.len + n > t->max_body) {
        t->too_big = true;
        return 0; /* aborts the transfer */
    }
    return gs_buf_append(&t->resp->body, p, n) == GS_OK ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *userp)
{
    transfer_t *t = userp;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        gs_buf_reset(&t->resp->headers); /* a new response (after a redirect) */
    return gs_buf_append(&t->resp->headers, p, n) == GS_OK ? n : 0;
}

static void drain_messages(client_t *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        CURL *easy = msg->easy_handle;
        transfer_t *t = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        if (msg->data.result == CURLE_OK)
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->resp->status);
        if (msg->data.result != CURLE_OK && t->errbuf[0] == '\0')
            snprintf(t->errbuf, sizeof t->errbuf, "%s", curl_easy_strerror(msg->data.result));
        curl_multi_remove_handle(c->multi, easy);
        curl_easy_cleanup(easy);
        c->pending--;
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
    client_t *c = userp;
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
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return -1;
        s->fd = fd;
        s->client = c;
        s->poll.data = s;
        if (uv_poll_init_socket(&c->loop, &s->poll, fd) < 0) {
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
    client_t *c = timer->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_messages(c);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    client_t *c = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timeout, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

static CURL *new_easy(const char *url, transfer_t *t, long timeout_ms)
{
    CURL *e = curl_easy_init();
    if (e == NULL)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gridstor/" GS_VERSION);
    return e;
}

static void on_close_timer(uv_handle_t *h)
{
    (void)h;
}

static int run_all(client_t *c, const char *const *urls, size_t n, long timeout_ms,
                   gs_http_response_t *resp, transfer_t *ts, gs_diag_t *diag)
{
    int running, err = GS_OK;
    for (size_t i = 0; i < n && err == GS_OK; i++) {
        CURL *e;
        ts[i].resp = &resp[i];
        ts[i].max_body = c->max_body;
        e = new_easy(urls[i], &ts[i], timeout_ms);
        if (e == NULL || curl_multi_add_handle(c->multi, e) != CURLM_OK) {
            curl_easy_cleanup(e);
            err = gs_diag_set(diag, GS_ENOMEM, "cannot start a request to %s", urls[i]);
            break;
        }
        c->pending++;
    }
    /* Even after a failed start, finish what was started so nothing leaks. */
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_messages(c);
    while (c->pending > 0 && uv_run(&c->loop, UV_RUN_ONCE))
        ;
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        if (ts[i].too_big)
            return gs_diag_set(diag, GS_ETOOBIG, "%s: answer larger than %zu bytes", urls[i],
                               c->max_body);
        if (resp[i].status == 0)
            return gs_diag_set(diag, GS_EHTTP, "%s: %s", urls[i],
                               ts[i].errbuf[0] ? ts[i].errbuf : "no answer");
    }
    return GS_OK;
}

int gs_http_get_all(const char *const *urls, size_t n, size_t max_body, long timeout_ms,
                    gs_http_response_t *resp, gs_diag_t *diag)
{
    client_t c = {.max_body = max_body};
    transfer_t *ts = NULL;
    int err;
    for (size_t i = 0; i < n; i++) {
        memset(&resp[i], 0, sizeof resp[i]);
        gs_buf_init(&resp[i].body, max_body);
        gs_buf_init(&resp[i].headers, 64 * 1024);
    }
    if (n == 0)
        return GS_OK;
    ts = calloc(n, sizeof *ts);
    if (ts == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(ts);
        return gs_diag_set(diag, GS_ENOMEM, "cannot start the HTTP client");
    }
    uv_loop_init(&c.loop);
    uv_timer_init(&c.loop, &c.timer);
    c.timer.data = &c;
    c.multi = curl_multi_init();
    curl_multi_setopt(c.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c.multi, CURLMOPT_SOCKETDATA, &c);
    curl_multi_setopt(c.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c.multi, CURLMOPT_TIMERDATA, &c);
    curl_multi_setopt(c.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 8L);
    err = run_all(&c, urls, n, timeout_ms, resp, ts, diag);
    curl_multi_cleanup(c.multi); /* removes remaining sockets through on_socket */
    uv_close((uv_handle_t *)&c.timer, on_close_timer);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    curl_global_cleanup();
    free(ts);
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
