/* signandpay.c — the routes the Threefold Connect app uses (public, no token): a
 * session's signandpay document, byte for byte what its QR code holds, and that QR
 * code as PNG and SVG. The callback is checked in callback.c. */
#include "daemon.h"

#include <string.h>

/* The session of path parameter 0, or NULL after answering 404. */
static json_t *session_of(gs_daemon_t *d, gs_http_req_t *r)
{
    const char *id = gs_http_req_param(r, 0);
    json_t *s = strlen(id) == GS_SESSION_LEN ? gs_store_session(d->store, id) : NULL;
    if (s == NULL)
        gs_http_reply_error(r, 404,
                            "no signandpay session %.40s: the link is wrong or the "
                            "deployment was deleted",
                            id);
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

static void reply_qr(gs_http_req_t *r, gs_daemon_t *d, bool png)
{
    json_t *s = session_of(d, r);
    gs_qr_t *qr = NULL;
    gs_buf_t out;
    gs_diag_t diag = {{0}};
    const char *doc;
    if (s == NULL)
        return;
    doc = gs_json_str(s, "document");
    gs_buf_init(&out, 4 << 20);
    if (gs_qr_encode(doc, strlen(doc), &qr, &diag) != GS_OK ||
        (png ? gs_qr_png(qr, 4, &out) : gs_qr_svg(qr, &out)) != GS_OK)
        gs_http_reply_error(r, 500, "the QR code cannot be drawn: %s", diag.msg);
    else
        gs_http_reply(r, 200, png ? "image/png" : "image/svg+xml", out.data, out.len);
    gs_buf_free(&out);
    gs_qr_free(qr);
    json_decref(s);
}

void gs_signandpay_qr_png(gs_http_req_t *r, void *ud)
{
    reply_qr(r, ud, true);
}

void gs_signandpay_qr_svg(gs_http_req_t *r, void *ud)
{
    reply_qr(r, ud, false);
}
