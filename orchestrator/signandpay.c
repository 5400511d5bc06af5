/* signandpay.c — the routes the Threefold Connect app uses (public, no token): a
 * session's signandpay document, byte for byte what its QR code holds, and that QR
 * code as PNG and SVG, drawn on the threadpool. The callback is checked in callback.c. */
#include "daemon.h"

#include <stdlib.h>
#include <string.h>

/* The session of path parameter 0, or NULL after answering 404 (unknown) or 410 (an
 * order replaced by a newer one: not to be paid). */
static json_t *session_of(gs_daemon_t *d, gs_http_req_t *r)
{
    const char *id = gs_http_req_param(r, 0);
    json_t *s = strlen(id) == GS_SESSION_LEN ? gs_store_session(d->store, id) : NULL;
    if (s == NULL)
        gs_http_reply_error(r, 404,
                            "no signandpay session %.40s: the link is wrong or the "
                            "deployment was deleted",
                            id);
    else if (strcmp(gs_json_str(s, "state"), "canceled") == 0) {
        gs_http_reply_error(r, 410, "%s", GS_CANCELED_ORDER);
        json_decref(s);
        s = NULL;
    }
    return s;
}

void gs_signandpay_document(gs_http_req_t *r, void *ud)
{
    json_t *s = session_of(ud, r);
    const char *doc;
    if (s == NULL)
        return;
    doc = gs_json_str(s, "document");
    gs_http_reply(r, 200, "application/json", doc, strlen(doc));
    json_decref(s);
}

/* A QR code drawn on the threadpool (rendering a version-40 code takes milliseconds, not
 * for the loop thread) while its request waits, deferred. The render and the request's
 * turn each come once, in either order; whichever is second frees it. */
typedef struct {
    uv_work_t work;
    gs_http_req_t *req; /* NULL once the client went away */
    bool png, rendered, replied;
    int refs;
    char *doc;
    gs_buf_t out;
    int err;
    gs_diag_t diag;
} render_t;

#define RENDER_DEADLINE_MS 30000

static void render_release(render_t *rd)
{
    if (--rd->refs > 0)
        return;
    free(rd->doc);
    gs_buf_free(&rd->out);
    free(rd);
}

static void render_work(uv_work_t *w)
{
    render_t *rd = w->data;
    gs_qr_t *qr = NULL;
    rd->err = gs_qr_encode(rd->doc, strlen(rd->doc), &qr, &rd->diag);
    if (rd->err == GS_OK)
        rd->err = rd->png ? gs_qr_png(qr, 4, &rd->out) : gs_qr_svg(qr, &rd->out);
    gs_qr_free(qr);
}

/* The request's turn: the drawing, or an error when it is not there by the deadline. */
static void on_turn(gs_http_req_t *r, void *arg)
{
    render_t *rd = arg;
    if (r != NULL && !rd->rendered)
        gs_http_reply_error(r, 503, "the QR code took too long to draw; ask again");
    else if (r != NULL && rd->err != GS_OK)
        gs_http_reply_error(r, 500, "the QR code cannot be drawn: %s", rd->diag.msg);
    else if (r != NULL)
        gs_http_reply(r, 200, rd->png ? "image/png" : "image/svg+xml", rd->out.data, rd->out.len);
    rd->req = NULL;
    rd->replied = true;
    render_release(rd);
}

static void render_done(uv_work_t *w, int status)
{
    render_t *rd = w->data;
    rd->rendered = status == 0;
    if (status != 0)
        rd->err = GS_ECANCELED;
    if (!rd->replied && rd->req != NULL)
        gs_http_defer_now(rd->req);
    render_release(rd);
}

static void reply_qr(gs_http_req_t *r, gs_daemon_t *d, bool png)
{
    json_t *s = session_of(d, r);
    render_t *rd;
    if (s == NULL)
        return;
    rd = calloc(1, sizeof *rd);
    if (rd == NULL || (rd->doc = gs_strdup(gs_json_str(s, "document"))) == NULL) {
        free(rd);
        json_decref(s);
        gs_http_reply_error(r, 500, "out of memory");
        return;
    }
    json_decref(s);
    rd->req = r;
    rd->png = png;
    rd->refs = 2;
    rd->work.data = rd;
    gs_buf_init(&rd->out, 4 << 20);
    if (gs_http_defer(r, RENDER_DEADLINE_MS, on_turn, rd) != GS_OK) {
        rd->refs = 1; /* neither the turn nor the render will come */
        render_release(rd);
        gs_http_reply_error(r, 500, "out of memory");
        return;
    }
    uv_queue_work(&d->loop, &rd->work, render_work, render_done);
}

void gs_signandpay_qr_png(gs_http_req_t *r, void *ud)
{
    reply_qr(r, ud, true);
}

void gs_signandpay_qr_svg(gs_http_req_t *r, void *ud)
{
    reply_qr(r, ud, false);
}
