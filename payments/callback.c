/* callback.c — the signandpay callback the app POSTs once it signed and paid:
 * {"DoubleName": NAME, "SignedData": BASE64, "Payment": {"Transaction": TXID}}
 * (docs/planning.md, "The callback"). Parsed strictly; the signature and the payment
 * are checked against what the login directory and the chain say, never against
 * anything else the body claims. */
#include "payments.h"

#include <string.h>

#define SIGNED_B64_MAX 8192 /* base64 of a signature and a document of at most 2953 bytes */

static bool only_members(const json_t *obj, const char *const *names, const char **extra)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        (void)v;
        for (const char *const *n = names; *n && !known; n++)
            known = strcmp(*n, key) == 0;
        if (!known) {
            *extra = key;
            return false;
        }
    }
    return true;
}

static bool lower_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static int parse_signed(gs_callback_t *cb, const char *b64, gs_diag_t *diag)
{
    size_t len = strlen(b64), max = len / 4 * 3 + 3;
    if (len > SIGNED_B64_MAX)
        return gs_diag_set(diag, GS_EINVAL, "SignedData: longer than %d characters",
                           SIGNED_B64_MAX);
    if ((cb->signed_data = malloc(max)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (sodium_base642bin(cb->signed_data, max, b64, len, NULL, &cb->signed_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return gs_diag_set(diag, GS_EINVAL, "SignedData: not standard base64");
    if (cb->signed_len <= crypto_sign_BYTES)
        return gs_diag_set(diag, GS_EINVAL,
                           "SignedData: too short for a signature followed by the document");
    return GS_OK;
}

int gs_callback_parse(const char *body, size_t len, gs_callback_t *cb, gs_diag_t *diag)
{
    static const char *const top[] = {"DoubleName", "SignedData", "Payment", NULL};
    static const char *const pay[] = {"Transaction", NULL};
    json_error_t jerr;
    json_t *j, *payment;
    const char *name, *signed_b64, *txid, *extra = NULL;
    int err = GS_OK;
    memset(cb, 0, sizeof *cb);
    if (len > GS_CALLBACK_MAX_BODY)
        return gs_diag_set(diag, GS_ETOOBIG, "body: larger than %d bytes", GS_CALLBACK_MAX_BODY);
    if ((j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL || !json_is_object(j))
        err = gs_diag_set(diag, GS_EPARSE, "body: expected a JSON object (%s)",
                          j ? "not an object" : jerr.text);
    else if (!only_members(j, top, &extra))
        err = gs_diag_set(diag, GS_EINVAL, "%s: unknown member", extra);
    else if ((name = gs_json_str(j, "DoubleName")) == NULL || !*name || strlen(name) >= 65)
        err = gs_diag_set(diag, GS_EINVAL, "DoubleName: expected the signer's 3Bot name");
    else if ((signed_b64 = gs_json_str(j, "SignedData")) == NULL)
        err = gs_diag_set(diag, GS_EINVAL, "SignedData: expected a base64 string");
    else if (!json_is_object(payment = json_object_get(j, "Payment")))
        err = gs_diag_set(diag, GS_EINVAL, "Payment: expected {\"Transaction\": TXID}");
    else if (!only_members(payment, pay, &extra))
        err = gs_diag_set(diag, GS_EINVAL, "Payment.%s: unknown member", extra);
    else if ((txid = gs_json_str(payment, "Transaction")) == NULL ||
             !lower_hex(txid, GS_CALLBACK_TXID_LEN))
        err = gs_diag_set(diag, GS_EINVAL,
                          "Payment.Transaction: expected the chain's transaction id (64 "
                          "lowercase hex characters)");
    else if ((err = parse_signed(cb, signed_b64, diag)) == GS_OK) {
        snprintf(cb->double_name, sizeof cb->double_name, "%s", name);
        snprintf(cb->txid, sizeof cb->txid, "%s", txid);
    }
    json_decref(j);
    if (err != GS_OK)
        gs_callback_free(cb);
    return err;
}

void gs_callback_free(gs_callback_t *cb)
{
    free(cb->signed_data);
    cb->signed_data = NULL;
    cb->signed_len = 0;
}

int gs_callback_verify(const gs_callback_t *cb, const unsigned char pk[32],
                       const char *data_to_sign, gs_diag_t *diag)
{
    const unsigned char *text = cb->signed_data + crypto_sign_BYTES;
    size_t text_len = cb->signed_len - crypto_sign_BYTES;
    if (cb->signed_len <= crypto_sign_BYTES ||
        crypto_sign_verify_detached(cb->signed_data, text, text_len, pk) != 0)
        return gs_diag_set(diag, GS_EINVAL,
                           "SignedData: the signature does not verify with %s's key",
                           cb->double_name);
    if (text_len != strlen(data_to_sign) || memcmp(text, data_to_sign, text_len) != 0)
        return gs_diag_set(diag, GS_EINVAL,
                           "SignedData: the signed text is not this session's document");
    return GS_OK;
}

int gs_payment_check(const json_t *tx, const gs_payment_expect_t *expect, gs_diag_t *diag)
{
    const char *to = gs_json_str(tx, "to"), *asset = gs_json_str(tx, "asset");
    const char *memo = gs_json_str(tx, "memo"), *from = gs_json_str(tx, "from");
    int64_t amount = 0;
    char want[32], got[32];
    if (to == NULL || asset == NULL || memo == NULL || !gs_json_int(tx, "amount", &amount) ||
        amount <= 0)
        return gs_diag_set(diag, GS_EPARSE, "the chain's transaction is malformed");
    if (expect->from != NULL && (from == NULL || strcmp(from, expect->from) != 0))
        return gs_diag_set(diag, GS_EINVAL, "payment: made from %s, not by the signer",
                           from ? from : "(unknown)");
    if (strcmp(to, expect->destination) != 0)
        return gs_diag_set(diag, GS_EINVAL, "payment: sent to %s, not to this install's wallet",
                           to);
    if (strcmp(asset, "TFT") != 0)
        return gs_diag_set(diag, GS_EINVAL, "payment: asset %s, expected TFT", asset);
    if (strcmp(memo, expect->memo) != 0)
        return gs_diag_set(diag, GS_EINVAL, "payment: memo '%s', expected '%s'", memo,
                           expect->memo);
    if ((uint64_t)amount < expect->amount) {
        gs_format_tft((uint64_t)amount, got, sizeof got);
        gs_format_tft(expect->amount, want, sizeof want);
        return gs_diag_set(diag, GS_EINVAL, "payment: %s TFT paid, %s TFT due", got, want);
    }
    return GS_OK;
}
