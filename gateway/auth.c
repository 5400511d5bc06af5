/* auth.c — who may upload and check (seed-001's three security modes), and the
 * gateway's own signing key.
 *
 * public: everyone. secret: "Authorization: Bearer SECRET" with the configured secret.
 * threebot: the secret is one that authenticate gave an allowed 3Bot name: the client signs
 * the current unix time (decimal text) with its 3Bot key, the gateway checks the signature
 * against the name's public key in the login directory and answers a random secret valid
 * one day. Only a hash of each secret is kept (in memory: a restarted gateway asks its
 * clients to authenticate again).
 *
 * The signing key is derived from the deployment key, so every gateway of a deployment has
 * the same one, and a client that trusts it once can check any of them. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUTH_BODY_MAX    4096
#define LOGIN_ANSWER_MAX 4096
#define LOGIN_TIMEOUT_MS 10000
#define AUTH_DEADLINE_MS 15000

struct gw_session {
    unsigned char hash[crypto_generichash_BYTES];
    int64_t expires;
};

/* ---- the signing key --------------------------------------------------------------------- */

int gw_signing_key(gw_t *gw, gs_diag_t *diag)
{
    if ((gw->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    gs_codec_gateway_keypair(gw->cfg.codec.key, gw->sign_pk, gw->sign_sk);
    return GS_OK;
}

void gw_sign(const gw_t *gw, const char *text, char out[129])
{
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), gw->sign_sk);
    sodium_bin2hex(out, 129, sig, sizeof sig);
}

void gw_pubkey(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    char hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
    sodium_bin2hex(hex, sizeof hex, gw->sign_pk, sizeof gw->sign_pk);
    gs_http_reply_json(r, 200, json_pack("{s:s, s:s}", "public_key", hex, "algorithm", "ed25519"));
}

/* ---- secrets ------------------------------------------------------------------------------ */

static void token_hash(const char *token, unsigned char out[crypto_generichash_BYTES])
{
    crypto_generichash(out, crypto_generichash_BYTES, (const unsigned char *)token, strlen(token),
                       NULL, 0);
}

/* Forgets expired secrets. */
static void sessions_prune(gw_t *gw, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < gw->n_sessions; i++)
        if (gw->sessions[i].expires > now)
            gw->sessions[k++] = gw->sessions[i];
    gw->n_sessions = k;
}

static bool session_valid(gw_t *gw, const char *token)
{
    unsigned char h[crypto_generichash_BYTES];
    bool found = false;
    sessions_prune(gw, (int64_t)time(NULL));
    token_hash(token, h);
    for (size_t i = 0; i < gw->n_sessions; i++)
        found |= sodium_memcmp(gw->sessions[i].hash, h, sizeof h) == 0;
    return found;
}

/* A new secret into token (65 bytes); false when too many are valid. */
static bool session_new(gw_t *gw, char token[65], int64_t *expires)
{
    unsigned char raw[32];
    gw_session_t *s;
    sessions_prune(gw, (int64_t)time(NULL));
    if (gw->n_sessions >= GW_SESSION_MAX)
        return false;
    if (gw->sessions == NULL &&
        (gw->sessions = calloc(GW_SESSION_MAX, sizeof *gw->sessions)) == NULL)
        return false;
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(token, 65, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    s = &gw->sessions[gw->n_sessions++];
    token_hash(token, s->hash);
    s->expires = *expires = (int64_t)time(NULL) + GW_SESSION_S;
    return true;
}

void gw_sessions_free(gw_t *gw)
{
    free(gw->sessions);
    gw->sessions = NULL;
    gw->n_sessions = 0;
}

bool gw_authorized(gw_t *gw, gs_http_req_t *r)
{
    char header[1100];
    const char *token = header + 7;
    bool ok = false;
    if (gw->cfg.security == GS_GW_PUBLIC)
        return true;
    if (gs_http_req_header(r, "authorization", header, sizeof header) &&
        strncmp(header, "Bearer ", 7) == 0) {
        if (gw->cfg.security == GS_GW_SECRET)
            ok = strlen(token) == strlen(gw->cfg.secret) &&
                 sodium_memcmp(token, gw->cfg.secret, strlen(token)) == 0;
        else
            ok = session_valid(gw, token);
    }
    sodium_memzero(header, sizeof header);
    if (ok)
        return true;
    gs_http_add_header(r, "WWW-Authenticate", "Bearer");
    gs_http_reply_error(r, 401, "%s",
                        gw->cfg.security == GS_GW_SECRET
                            ? "this gateway needs its secret: send Authorization: Bearer SECRET"
                            : "this gateway needs a secret from POST /api/v1/authenticate: send "
                              "Authorization: Bearer SECRET");
    return false;
}

/* ---- authenticate ------------------------------------------------------------------------- */

typedef struct {
    gw_t *gw;
    gs_http_req_t *req; /* NULL once its turn ran */
    int refs;
    char name[72], epoch[24];
    unsigned char sig[crypto_sign_BYTES];
    bool answered;           /* the login directory answered */
    long status;             /* its status */
    char error[GS_DIAG_MAX]; /* why no answer came */
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    bool pk_ok;
} auth_t;

static void auth_release(auth_t *a)
{
    if (--a->refs == 0)
        free(a);
}

/* The name's key from the login directory's answer {"doublename","publicKey"}. */
static void read_user(auth_t *a, const gs_http_response_t *resp)
{
    json_t *j = NULL;
    const char *b64, *name;
    size_t len = 0;
    if (gs_json_parse(resp->body.data ? resp->body.data : "", resp->body.len, LOGIN_ANSWER_MAX,
                      "the login directory's answer", &j, NULL) != GS_OK)
        return;
    b64 = gs_json_str(j, "publicKey");
    name = gs_json_str(j, "doublename");
    a->pk_ok = b64 != NULL && name != NULL && strcmp(name, a->name) == 0 &&
               sodium_base642bin(a->pk, sizeof a->pk, b64, strlen(b64), NULL, &len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) == 0 &&
               len == sizeof a->pk;
    json_decref(j);
}

static void on_login_answer(gs_http_response_t *resp, const char *error, void *ud)
{
    auth_t *a = ud;
    a->answered = error == NULL;
    a->status = resp->status;
    snprintf(a->error, sizeof a->error, "%s", error ? error : "");
    if (error == NULL && resp->status == 200)
        read_user(a, resp);
    if (a->req != NULL)
        gs_http_defer_now(a->req);
    auth_release(a);
}

/* The answer to authenticate, once the login directory answered (or at the deadline). */
static void reply_auth(gs_http_req_t *r, auth_t *a)
{
    char token[65];
    int64_t expires;
    if (!a->answered && a->error[0] == '\0') {
        gs_http_reply_error(r, 504, "the login directory did not answer in time");
    } else if (!a->answered) {
        gs_http_reply_error(r, 502, "the login directory could not be reached: %s", a->error);
    } else if (a->status == 404) {
        gs_http_reply_error(r, 401, "the login directory does not know %s", a->name);
    } else if (a->status != 200 || !a->pk_ok) {
        gs_http_reply_error(r, 502, "the login directory answered %ld without a usable key for %s",
                            a->status, a->name);
    } else if (crypto_sign_verify_detached(a->sig, (const unsigned char *)a->epoch,
                                           strlen(a->epoch), a->pk) != 0) {
        gs_http_reply_error(r, 401, "the signature is not %s's signature of %s", a->name, a->epoch);
    } else if (!session_new(a->gw, token, &expires)) {
        gs_http_reply_error(r, 503, "too many secrets are valid; try again later");
    } else {
        gs_log(GS_LOG_INFO, "authenticated %s", a->name);
        gs_http_reply_json(r, 200,
                           json_pack("{s:s, s:s, s:I}", "name", a->name, "secret", token, "expires",
                                     (json_int_t)expires));
        sodium_memzero(token, sizeof token);
    }
}

static void on_auth_turn(gs_http_req_t *r, void *arg)
{
    auth_t *a = arg;
    a->req = NULL;
    if (r != NULL)
        reply_auth(r, a);
    auth_release(a);
}

static bool name_allowed(const gw_t *gw, const char *name)
{
    for (size_t i = 0; i < gw->cfg.allowed.n; i++)
        if (strcmp(gw->cfg.allowed.items[i], name) == 0)
            return true;
    return false;
}

/* Reads and checks the body {"name","epoch","signature"} into a; answers 4xx when wrong. */
static bool parse_auth(gs_http_req_t *r, auth_t *a)
{
    size_t len;
    const char *body = gs_http_req_body(r, &len), *name, *sig;
    json_t *j = NULL;
    json_int_t epoch;
    gs_diag_t diag = {{0}};
    bool ok = false;
    if (gs_json_parse(body, len, AUTH_BODY_MAX, "the body", &j, &diag) != GS_OK) {
        gs_http_reply_error(r, 400, "%s", diag.msg);
        return false;
    }
    name = gs_json_str(j, "name");
    sig = gs_json_str(j, "signature");
    epoch = json_integer_value(json_object_get(j, "epoch"));
    if (name == NULL || !json_is_integer(json_object_get(j, "epoch")) || sig == NULL)
        gs_http_reply_error(r, 400,
                            "expected {\"name\": 3BOT NAME, \"epoch\": UNIX SECONDS, "
                            "\"signature\": HEX of the ed25519 signature of the epoch's "
                            "decimal text}");
    else if (strlen(name) >= sizeof a->name || !name_allowed(a->gw, name))
        gs_http_reply_error(r, 403, "%.64s is not allowed on this gateway", name);
    else if (epoch < (json_int_t)time(NULL) - GW_SKEW_S ||
             epoch > (json_int_t)time(NULL) + GW_SKEW_S)
        gs_http_reply_error(r, 401,
                            "epoch %" JSON_INTEGER_FORMAT " is more than %d s from the "
                            "gateway's clock (%lld)",
                            epoch, GW_SKEW_S, (long long)time(NULL));
    else if (strlen(sig) != 2 * crypto_sign_BYTES ||
             sodium_hex2bin(a->sig, sizeof a->sig, sig, strlen(sig), NULL, NULL, NULL) != 0)
        gs_http_reply_error(r, 400, "signature: expected %d hex digits", 2 * crypto_sign_BYTES);
    else
        ok = true;
    if (ok) {
        snprintf(a->name, sizeof a->name, "%s", name);
        snprintf(a->epoch, sizeof a->epoch, "%" JSON_INTEGER_FORMAT, epoch);
    }
    json_decref(j);
    return ok;
}

void gw_authenticate(gs_http_req_t *r, void *ud)
{
    gw_t *gw = ud;
    auth_t *a;
    char url[1200];
    size_t base;
    gs_diag_t diag = {{0}};
    gs_http_request_t rq = {.max_body = LOGIN_ANSWER_MAX, .timeout_ms = LOGIN_TIMEOUT_MS};
    if (gw->cfg.security != GS_GW_THREEBOT) {
        gs_http_reply_error(r, 400, "this gateway does not use 3Bot login (its security is %s)",
                            gw->cfg.security == GS_GW_PUBLIC ? "public" : "a shared secret");
        return;
    }
    if ((a = calloc(1, sizeof *a)) == NULL) {
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    a->gw = gw;
    if (!parse_auth(r, a)) {
        free(a);
        return;
    }
    base = strlen(gw->cfg.login);
    while (base > 0 && gw->cfg.login[base - 1] == '/')
        base--;
    snprintf(url, sizeof url, "%.*s/api/users/%s", (int)base, gw->cfg.login, a->name);
    rq.url = url;
    a->req = r;
    a->refs = 2;
    if (gs_http_defer(r, AUTH_DEADLINE_MS, on_auth_turn, a) != GS_OK) {
        free(a);
        gs_http_reply_error(r, 503, "out of memory");
        return;
    }
    if (gs_http_send(gw->client, &rq, on_login_answer, a, &diag) != GS_OK) {
        snprintf(a->error, sizeof a->error, "%s", diag.msg);
        auth_release(a);
        gs_http_defer_now(r);
    }
}
