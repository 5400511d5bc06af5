/* chain.c — payments on the chain: the signed body the chain accepts (its API:
 * docs/local-grid.md, "Payment chain"). */
#include "payments.h"

#include <string.h>

char *gs_chain_payment(const gs_identity_t *id, const char *to, uint64_t amount, const char *memo,
                       uint64_t sequence)
{
    char sig[129], *text, *body;
    json_t *tx = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "from", id->address, "to", to,
                           "amount", (json_int_t)amount, "asset", "TFT", "memo", memo, "sequence",
                           (json_int_t)sequence);
    json_t *wrapped;
    if (tx == NULL || (text = gs_json_dumps(tx)) == NULL) {
        json_decref(tx);
        return NULL;
    }
    json_decref(tx);
    gs_sign_hex(id, text, strlen(text), sig);
    wrapped = json_pack("{s:s, s:s}", "json", text, "signature", sig);
    body = wrapped ? gs_json_dumps(wrapped) : NULL;
    json_decref(wrapped);
    free(text);
    return body;
}
