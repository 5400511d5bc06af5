/* callback.c — POST /api/v1/signandpay/{session}/callback: the app's signed and paid
 * answer (docs/planning.md, "The callback"). The body is checked against the login
 * directory (the signer's key) and the chain (the payment) only, both asked at once on
 * the daemon's loop while the request waits (deferred); then the session is accepted
 * in one transaction that also marks the payment used. Answers: 200 accepted (again,
 * for the same body), 400 malformed, 403 signature or signer, 402 payment, 404 session,
 * 409 payment used or session paid otherwise, 502 the login directory or chain did not
 * answer (the app may retry), 504 they were too slow. */
#include "daemon.h"
#include "deployer.h"

#include <stdlib.h>
#include <string.h>

#define LOOKUP_TIMEOUT_MS 20000

typedef struct {
    gs_daemon_t *d;
    gs_http_req_t *req; /* NULL once the client went away */
    bool answered, gone;
    int pending; /* lookups still out */
    gs_callback_t cb;
    json_t *session;
    char owner[65];
    unsigned char pk[32];
    bool have_pk;
    json_t *tx;
    int status; /* a refusal found by a lookup (0: none yet) */
    char error[1024];
} check_t;

static void check_free(check_t *c)
{
    gs_callback_free(&c->cb);
    json_decref(c->session);
    json_decref(c->tx);
    free(c);
}

static void fail(check_t *c, int status, const char *fmt, const char *arg)
{
    if (c->status != 0)
        return; /* the first refusal is the one answered */
    c->status = status;
    snprintf(c->error, sizeof c->error, fmt, arg);
}

/* Every check passed by the lookups: the signature, the payment, then the store. */
static void decide(check_t *c, gs_http_req_t *r)
{
    gs_diag_t diag = {{0}};
    char from[65];
    gs_payment_expect_t want;
    int64_t amount = 0;
    int err;
    if (c->status != 0) {
        gs_http_reply_error(r, c->status, "%s", c->error);
        return;
    }
    if (gs_callback_verify(&c->cb, c->pk, gs_json_str(c->session, "data_to_sign"), &diag)) {
        gs_http_reply_error(r, 403, "%s", diag.msg);
        return;
    }
    sodium_bin2hex(from, sizeof from, c->pk, sizeof c->pk);
    gs_json_int(c->session, "amount", &amount);
    want = (gs_payment_expect_t){.from = from,
                                 .destination = c->d->identity.address,
                                 .amount = (uint64_t)amount,
                                 .memo = gs_json_str(c->session, "memo")};
    if (gs_payment_check(c->tx, &want, &diag) != GS_OK) {
        gs_http_reply_error(r, 402, "%s", diag.msg);
        return;
    }
    gs_dep_crash_point("before_callback_recorded");
    err = gs_store_session_accept(c->d->store, gs_json_str(c->session, "id"), c->cb.txid,
                                  c->cb.double_name, &diag);
    if (err == GS_OK)
        gs_dep_crash_point("after_callback_recorded"); /* the app never hears */
    if (err == GS_EINVAL || err == GS_ERANGE)
        gs_http_reply_error(r, 409, "%s", diag.msg);
    else if (err != GS_OK)
        gs_http_reply_error(r, 500, "%s", diag.msg);
    else /* the app hears "accepted" only once that is on disk */
        gs_daemon_reply_synced(c->d, r, 200,
                               json_pack("{s:s, s:s}", "status", "accepted", "deployment",
                                         gs_json_str(c->session, "deployment")));
}

/* The request's turn: both lookups are in (or the deadline passed), or it went away. */
static void on_turn(gs_http_req_t *r, void *arg)
{
    check_t *c = arg;
    c->answered = true;
    if (r == NULL)
        c->gone = true;
    else if (c->pending > 0)
        gs_http_reply_error(r, 504, "the login directory or the chain is slow; send it again");
    else
        decide(c, r);
    c->req = NULL;
    if (c->pending == 0)
        check_free(c);
}

static void lookup_done(check_t *c)
{
    if (--c->pending > 0)
        return;
    if (c->answered)
        check_free(c); /* answered (deadline) or gone already */
    else
        gs_http_defer_now(c->req); /* runs on_turn */
}

static json_t *answer_json(const gs_http_response_t *resp)
{
    return json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
}

static void on_user(gs_http_response_t *resp, const char *error, void *ud)
{
    check_t *c = ud;
    json_t *j = error ? NULL : answer_json(resp);
    const char *b64 = gs_json_str(j, "publicKey");
    size_t len = 0;
    if (error != NULL)
        fail(c, 502, "the login directory did not answer (%s); send it again", error);
    else if (resp->status == 404)
        fail(c, 403, "%s is not in the login directory", c->cb.double_name);
    else if (resp->status != 200 || b64 == NULL ||
             sodium_base642bin(c->pk, sizeof c->pk, b64, strlen(b64), NULL, &len, NULL,
                               sodium_base64_VARIANT_ORIGINAL) != 0 ||
             len != sizeof c->pk)
        fail(c, 502, "the login directory gave no key for %s", c->cb.double_name);
    else
        c->have_pk = true;
    json_decref(j);
    lookup_done(c);
}

static void on_tx(gs_http_response_t *resp, const char *error, void *ud)
{
    check_t *c = ud;
    if (error != NULL)
        fail(c, 502, "the chain did not answer (%s); send it again", error);
    else if (resp->status == 404)
        fail(c, 402, "payment %s is not on the chain", c->cb.txid);
    else if (resp->status != 200 || (c->tx = answer_json(resp)) == NULL)
        fail(c, 502, "the chain's answer about %s is not a transaction", c->cb.txid);
    lookup_done(c);
}

static int start_lookup(check_t *c, const char *base, const char *path, const char *arg,
                        gs_http_done_cb done)
{
    char url[1200];
    gs_http_request_t rq = {.url = url, .max_body = 64 * 1024, .timeout_ms = LOOKUP_TIMEOUT_MS};
    snprintf(url, sizeof url, "%s%s%s", base, path, arg);
    if (gs_http_send(c->d->client, &rq, done, c, NULL) != GS_OK)
        return GS_ENOMEM;
    c->pending++;
    return GS_OK;
}

/* What can be said without asking anyone: the session, the body, the owner, a repeat
 * of the accepted body. Returns 0 to go on, or the status already answered. */
static int precheck(check_t *c, gs_http_req_t *r)
{
    gs_diag_t diag = {{0}};
    size_t len = 0;
    const char *body = gs_http_req_body(r, &len), *id = gs_http_req_param(r, 0);
    const char *txid;
    json_t *dep;
    if (strlen(id) != GS_SESSION_LEN || (c->session = gs_store_session(c->d->store, id)) == NULL) {
        gs_http_reply_error(r, 404, "no signandpay session %.40s", id);
        return 404;
    }
    if (gs_callback_parse(body, len, &c->cb, &diag) != GS_OK) {
        gs_http_reply_error(r, 400, "%s", diag.msg);
        return 400;
    }
    if (strcmp(gs_json_str(c->session, "state"), "canceled") == 0) {
        gs_http_reply_error(r, 410, "%s", GS_CANCELED_ORDER);
        return 410;
    }
    txid = gs_json_str(c->session, "txid");
    if (txid != NULL) { /* accepted before: the same body again is fine, another is not */
        bool same = strcmp(txid, c->cb.txid) == 0;
        if (same)
            gs_http_reply_json(r, 200,
                               json_pack("{s:s, s:s}", "status", "accepted", "deployment",
                                         gs_json_str(c->session, "deployment")));
        else
            gs_http_reply_error(r, 409, "this session was paid already (transaction %s)", txid);
        return same ? 200 : 409;
    }
    dep = gs_store_deployment(c->d->store, gs_json_str(c->session, "deployment"));
    snprintf(c->owner, sizeof c->owner, "%s", dep ? gs_json_str(dep, "owner") : "");
    if (dep != NULL && strcmp(gs_json_str(dep, "state"), "deleting") == 0) {
        json_decref(dep);
        gs_http_reply_error(r, 410,
                            "the deployment is being deleted, so this order is void; a payment "
                            "made for it stays in the install's wallet");
        return 410;
    }
    json_decref(dep);
    if (strcmp(c->owner, c->cb.double_name) != 0) {
        gs_http_reply_error(r, 403, "signed by %s, but the deployment's owner is %s",
                            c->cb.double_name, c->owner);
        return 403;
    }
    return 0;
}

void gs_signandpay_callback(gs_http_req_t *r, void *ud)
{
    gs_daemon_t *d = ud;
    check_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        gs_http_reply_error(r, 500, "out of memory");
        return;
    }
    c->d = d;
    c->req = r;
    if (precheck(c, r) != 0) {
        check_free(c);
        return;
    }
    if (d->cfg.login == NULL || d->cfg.chain == NULL) {
        gs_http_reply_error(r, 503, "gridstord's configuration names no login directory or chain");
        check_free(c);
        return;
    }
    /* both lookups at once; the request waits for them, at most LOOKUP_TIMEOUT_MS + 1 s */
    if (start_lookup(c, d->cfg.login, "/api/users/", c->cb.double_name, on_user) != GS_OK ||
        start_lookup(c, d->cfg.chain, "/transactions/", c->cb.txid, on_tx) != GS_OK ||
        gs_http_defer(r, LOOKUP_TIMEOUT_MS + 1000, on_turn, c) != GS_OK) {
        /* what started finishes into lookup_done, which frees c once answered */
        c->answered = true;
        gs_http_reply_error(r, 500, "out of memory");
        if (c->pending == 0)
            check_free(c);
    }
}
