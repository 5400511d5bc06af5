/* app_scan.c — what the app stand-in does with a signandpay document: sign DataToSign with
 * the person's key (libsodium's combined form: the 64-byte signature, then the text), pay
 * the amount to the destination with the memo on the chain, and POST
 * {"DoubleName","SignedData","Payment":{"Transaction"}} to the callback. The flags that
 * misbehave each change exactly one thing, so a receiver's checks can be tested one by one.
 * The protocol is written down in docs/planning.md, "The callback". */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define OTHER_SUFFIX "\n(a different text)" /* what --sign-other appends */
#define NO_TX        "0000000000000000000000000000000000000000000000000000000000000000"

/* What the scan did, for the report. */
typedef struct {
    const char *name;
    char tx[SIM_TXID_LEN + 1]; /* the transaction named in the callback */
    bool paid;                 /* a payment was made by this scan */
    int64_t paid_stropes;
    char paid_memo[SIM_MEMO_MAX + 1];
    long status;
    json_t *answer; /* the receiver's answer when JSON */
    char answer_text[512];
} scan_report_t;

/* ---- signing -------------------------------------------------------------------------------- */

/* Base64 of crypto_sign(text) with sk, a new string (free it). */
static char *signed_b64(const char *text, size_t len, const unsigned char *sk)
{
    unsigned char *sm = malloc(len + crypto_sign_BYTES);
    size_t b64_len =
        sodium_base64_ENCODED_LEN(len + crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    unsigned long long sm_len = 0;
    if (sm != NULL && b64 != NULL) {
        crypto_sign(sm, &sm_len, (const unsigned char *)text, len, sk);
        sodium_bin2base64(b64, b64_len, sm, (size_t)sm_len, sodium_base64_VARIANT_ORIGINAL);
    } else {
        free(b64);
        b64 = NULL;
    }
    free(sm);
    return b64;
}

/* SignedData as the flags want it: the person's key or a fresh one, over DataToSign or
 * over another text. */
static char *make_signed_data(const app_doc_t *doc, const app_identity_t *id,
                              const app_scan_opts_t *o)
{
    unsigned char pk[APP_PK_LEN], *sk = id->sk, *other = NULL;
    char *text = NULL, *b64 = NULL;
    size_t len = strlen(doc->data_to_sign);
    if (o->wrong_key) {
        if ((other = sodium_malloc(APP_SK_LEN)) == NULL)
            return NULL;
        crypto_sign_keypair(pk, other);
        sk = other;
    }
    if (o->sign_other) {
        text = malloc(len + sizeof OTHER_SUFFIX);
        if (text != NULL) {
            memcpy(text, doc->data_to_sign, len);
            memcpy(text + len, OTHER_SUFFIX, sizeof OTHER_SUFFIX);
            len += sizeof OTHER_SUFFIX - 1;
        }
    }
    if (!o->sign_other || text != NULL)
        b64 = signed_b64(text ? text : doc->data_to_sign, len, sk);
    free(text);
    sodium_free(other);
    return b64;
}

/* ---- paying ------------------------------------------------------------------------------- */

/* A memo that differs from memo and still fits 28 bytes. */
static void wrong_memo(const char *memo, char *out)
{
    snprintf(out, SIM_MEMO_MAX + 1, "not-%s", memo);
}

/* The transaction's TEXT, signed; the chain's answer gives its id. */
static int submit_payment(const app_identity_t *id, const app_doc_t *doc, int64_t sequence,
                          scan_report_t *rep, gs_diag_t *diag)
{
    unsigned char sig[crypto_sign_BYTES];
    char sig_hex[2 * crypto_sign_BYTES + 1], url[APP_URL_MAX], *text = NULL, *body = NULL;
    const char *txid;
    json_t *tx = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "from", id->address, "to",
                           doc->destination, "amount", (json_int_t)rep->paid_stropes, "asset",
                           "TFT", "memo", rep->paid_memo, "sequence", (json_int_t)sequence);
    json_t *req = NULL;
    app_answer_t a = {0};
    int rc = app_url(url, id->chain, "/transactions", diag);
    if (rc == APP_EXIT_OK && (tx == NULL || (text = gs_json_dumps(tx)) == NULL))
        rc = gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    if (rc == APP_EXIT_OK) {
        crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), id->sk);
        gs_hex(sig, sizeof sig, sig_hex);
        req = json_pack("{s:s, s:s}", "json", text, "signature", sig_hex);
        body = req ? gs_json_dumps(req) : NULL;
        rc = body ? app_http("POST", url, body, &a, diag)
                  : gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    }
    if (rc == APP_EXIT_OK && a.status != 201)
        rc = gs_diag_set(diag, APP_EXIT_SERVICE, "the chain refused the payment (%ld): %s",
                         a.status, a.text);
    txid = rc == APP_EXIT_OK ? gs_json_str(a.json, "id") : NULL;
    if (rc == APP_EXIT_OK && (txid == NULL || !sim_chain_address_valid(txid)))
        rc = gs_diag_set(diag, APP_EXIT_SERVICE, "the chain's answer has no transaction id");
    if (rc == APP_EXIT_OK)
        memcpy(rep->tx, txid, SIM_TXID_LEN + 1);
    app_answer_free(&a);
    json_decref(tx);
    json_decref(req);
    free(text);
    free(body);
    return rc;
}

/* Pays the document (as the flags say), or with --no-pay names an earlier payment. */
static int pay(const char *dir, app_identity_t *id, const app_doc_t *doc, const app_scan_opts_t *o,
               scan_report_t *rep, gs_diag_t *diag)
{
    int64_t balance, sequence;
    int rc;
    if (o->no_pay) {
        memcpy(rep->tx, id->last_tx[0] ? id->last_tx : NO_TX, SIM_TXID_LEN + 1);
        return APP_EXIT_OK;
    }
    rep->paid_stropes = doc->stropes - (o->short_pay ? 1 : 0);
    if (rep->paid_stropes <= 0)
        return gs_diag_set(diag, APP_EXIT_INPUT, "--short-pay: the amount is 1 strope already");
    if (o->wrong_memo)
        wrong_memo(doc->memo, rep->paid_memo);
    else
        memcpy(rep->paid_memo, doc->memo, strlen(doc->memo) + 1);
    if ((rc = app_chain_account(id->chain, id->address, &balance, &sequence, diag)))
        return rc;
    if (balance < rep->paid_stropes) {
        char have[APP_TFT_TEXT_MAX];
        app_format_tft(balance, have);
        return gs_diag_set(diag, APP_EXIT_SERVICE, "%s has %s TFT, short of %s TFT", id->name, have,
                           doc->amount);
    }
    if ((rc = submit_payment(id, doc, sequence, rep, diag)))
        return rc;
    rep->paid = true;
    memcpy(id->last_tx, rep->tx, sizeof id->last_tx);
    return app_identity_save(dir, id, diag); /* so that --no-pay can name it later */
}

/* ---- the callback --------------------------------------------------------------------------- */

static char *callback_body(const char *name, const char *signed_data, const char *tx)
{
    json_t *j = json_pack("{s:s, s:s, s:{s:s}}", "DoubleName", name, "SignedData", signed_data,
                          "Payment", "Transaction", tx);
    char *text = j ? gs_json_dumps(j) : NULL;
    json_decref(j);
    return text;
}

/* POSTs body to the callback; 2xx is APP_EXIT_OK, another status APP_EXIT_REFUSED. */
static int post_callback(const app_doc_t *doc, const char *body, scan_report_t *rep,
                         gs_diag_t *diag)
{
    app_answer_t a;
    int rc = app_http("POST", doc->callback, body, &a, diag);
    if (rc != APP_EXIT_OK)
        return rc;
    rep->status = a.status;
    rep->answer = a.json;
    snprintf(rep->answer_text, sizeof rep->answer_text, "%s", a.text);
    if (a.status < 200 || a.status > 299)
        return gs_diag_set(diag, APP_EXIT_REFUSED, "the callback was refused: %ld: %s", a.status,
                           a.text);
    return APP_EXIT_OK;
}

static int save_body(const char *file, const char *body, gs_diag_t *diag)
{
    if (file == NULL)
        return APP_EXIT_OK;
    return gs_file_write_atomic(file, body, strlen(body), 0600, diag) ? APP_EXIT_FAIL : APP_EXIT_OK;
}

/* --replay: the saved body, as it is, to this document's callback. */
static int replay(const app_doc_t *doc, const char *file, scan_report_t *rep, gs_diag_t *diag)
{
    gs_buf_t body;
    json_t *j = NULL;
    int rc = APP_EXIT_OK;
    gs_buf_init(&body, APP_DOC_MAX);
    if (gs_file_read(file, APP_DOC_MAX, &body, diag) != GS_OK ||
        gs_json_parse(body.data ? body.data : "", body.len, APP_DOC_MAX, file, &j, diag) != GS_OK)
        rc = APP_EXIT_INPUT;
    else if (!json_is_object(j))
        rc = gs_diag_set(diag, APP_EXIT_INPUT, "%s: expected a saved callback body", file);
    json_decref(j);
    if (rc == APP_EXIT_OK)
        rc = post_callback(doc, body.data, rep, diag);
    gs_buf_free(&body);
    return rc;
}

/* ---- the report ----------------------------------------------------------------------------- */

static void print_text(const app_doc_t *doc, const app_scan_opts_t *o, const scan_report_t *r)
{
    char tft[APP_TFT_TEXT_MAX];
    printf("document: %s: %zu bytes to sign, %s TFT to %s, memo \"%s\"\n", doc->source,
           strlen(doc->data_to_sign), doc->amount, doc->destination, doc->memo);
    if (o->replay) {
        printf("replayed: %s\n", o->replay);
    } else {
        printf("signed: as %s%s%s\n", r->name, o->wrong_key ? " with a wrong key" : "",
               o->sign_other ? ", over a different text" : "");
        app_format_tft(r->paid_stropes, tft);
        if (r->paid)
            printf("paid: %s TFT, memo \"%s\", transaction %s\n", tft, r->paid_memo, r->tx);
        else
            printf("not paid: the callback names transaction %s\n", r->tx);
    }
    if (r->status)
        printf("callback: POST %s: %ld%s%s\n", doc->callback, r->status,
               r->answer_text[0] ? ": " : "", r->answer_text);
}

static void print_json(const app_doc_t *doc, const app_scan_opts_t *o, const scan_report_t *r)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:b, s:I, s:I}", "source",
                          doc->source, "doublename", r->name, "amount", doc->amount, "stropes",
                          (json_int_t)doc->stropes, "destination", doc->destination, "memo",
                          doc->memo, "callback", doc->callback, "paid", r->paid, "paid_stropes",
                          (json_int_t)r->paid_stropes, "status", (json_int_t)r->status);
    char *text;
    if (j == NULL)
        return;
    json_object_set_new(j, "transaction", r->tx[0] ? json_string(r->tx) : json_null());
    json_object_set_new(j, "paid_memo", r->paid ? json_string(r->paid_memo) : json_null());
    json_object_set_new(j, "replayed", json_boolean(o->replay != NULL));
    json_object_set(j, "answer", r->answer ? r->answer : json_null());
    text = gs_json_dumps(j);
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

/* ---- the scan ------------------------------------------------------------------------------- */

/* Signs, pays and calls back; the body sent is kept in *body. */
static int sign_pay_call(const char *dir, app_identity_t *id, const app_doc_t *doc,
                         const app_scan_opts_t *o, scan_report_t *rep, gs_diag_t *diag)
{
    char *signed_data = make_signed_data(doc, id, o), *body = NULL;
    int rc = signed_data ? APP_EXIT_OK : gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    if (rc == APP_EXIT_OK)
        rc = pay(dir, id, doc, o, rep, diag);
    if (rc == APP_EXIT_OK && (body = callback_body(id->name, signed_data, rep->tx)) == NULL)
        rc = gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    if (rc == APP_EXIT_OK)
        rc = save_body(o->save, body, diag);
    if (rc == APP_EXIT_OK)
        rc = post_callback(doc, body, rep, diag);
    free(signed_data);
    free(body);
    return rc;
}

int app_scan(const char *dir, const char *name, const char *input, const app_scan_opts_t *o)
{
    gs_diag_t diag = {{0}};
    app_identity_t id = {{0}};
    app_doc_t doc = {0};
    scan_report_t rep = {.name = name};
    int rc = app_identity_load(dir, name, o->replay == NULL, &id, &diag);
    if (rc == APP_EXIT_OK)
        rc = app_doc_load(input, &doc, &diag);
    if (rc == APP_EXIT_OK)
        rc = o->replay ? replay(&doc, o->replay, &rep, &diag)
                       : sign_pay_call(dir, &id, &doc, o, &rep, &diag);
    if (doc.json != NULL && (rc == APP_EXIT_OK || rc == APP_EXIT_REFUSED || rep.paid)) {
        if (o->json)
            print_json(&doc, o, &rep);
        else
            print_text(&doc, o, &rep);
    }
    if (rc != APP_EXIT_OK)
        fprintf(stderr, "gridstor-sim app: %s\n", diag.msg);
    json_decref(rep.answer);
    app_doc_free(&doc);
    app_identity_clear(&id);
    return rc;
}
