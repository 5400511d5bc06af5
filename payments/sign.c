/* sign.c — signatures towards the grid (hex ed25519; the explorer's HTTP signatures),
 * TFT amounts and the chain's signed payments. */
#include "payments.h"

#include <ctype.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#define HTTP_SIGNATURE_TTL 300 /* seconds an HTTP signature stays valid */

void gs_sign_hex(const gs_identity_t *id, const void *data, size_t len, char out[129])
{
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, data, len, id->sk);
    sodium_bin2hex(out, 129, sig, sizeof sig);
}

void gs_http_signature(const gs_identity_t *id, int64_t now, gs_http_signature_t *out)
{
    char date[40], text[160],
        b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    unsigned char sig[crypto_sign_BYTES];
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(text, sizeof text, "(created): %" PRId64 "\ndate: %s\nthreebot-id: %" PRId64, now,
             date, id->tid);
    crypto_sign_detached(sig, NULL, (const unsigned char *)text, strlen(text), id->sk);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    snprintf(out->authorization, sizeof out->authorization,
             "Authorization: Signature keyId=\"%" PRId64
             "\",algorithm=\"ed25519\",created=\"%" PRId64 "\",expires=\"%" PRId64
             "\",headers=\"(created) date threebot-id\",signature=\"%s\"",
             id->tid, now, now + HTTP_SIGNATURE_TTL, b64);
    snprintf(out->date, sizeof out->date, "Date: %s", date);
    snprintf(out->threebot_id, sizeof out->threebot_id, "Threebot-Id: %" PRId64, id->tid);
}

int gs_parse_tft(const char *text, uint64_t *stropes, gs_diag_t *diag)
{
    uint64_t whole = 0, frac = 0;
    size_t digits = 0, decimals = 0;
    const char *p = text;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        if (whole > (UINT64_MAX / GS_STROPES_PER_TFT - 9) / 10)
            return gs_diag_set(diag, GS_EINVAL, "amount '%s': too large", text);
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p) && decimals < 7; p++, decimals++)
            frac = frac * 10 + (uint64_t)(*p - '0');
    if (digits == 0 || *p != '\0' || (p[-1] == '.'))
        return gs_diag_set(diag, GS_EINVAL,
                           "amount '%s': expected TFT like 12.5 (digits, at most 7 decimals)",
                           text);
    for (; decimals < 7; decimals++)
        frac *= 10;
    *stropes = whole * GS_STROPES_PER_TFT + frac;
    return GS_OK;
}
