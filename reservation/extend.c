/* extend.c — buying more time for a deployment's capacity pools: each pool's active
 * units over the extra seconds, priced at the current rates, and the one signandpay
 * document the owner signs and pays for it (same shape as a plan's documents). */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gs_extension_price(gs_extension_t *e, uint64_t cu_rate, uint64_t su_rate)
{
    e->total = 0;
    for (size_t i = 0; i < e->n_pools; i++) {
        gs_ext_pool_t *p = &e->pools[i];
        uint64_t by_s = p->by_s ? p->by_s : e->by_s;
        p->cus = gs__unit_seconds(p->cu_milli, by_s);
        p->sus = gs__unit_seconds(p->su_milli, by_s);
        p->amount = p->cus * cu_rate + p->sus * su_rate;
        e->total += p->amount;
    }
}

static int extension_text(const gs_extension_t *e, gs_buf_t *text)
{
    char dur[64], amount[32];
    int err;
    gs__duration_text(e->by_s, dur, sizeof dur);
    err =
        e->change
            ? gs_buf_printf(text, "gridstor scale\ndeployment: %s\nowner: %s\nadd: %s\n", e->name,
                            e->owner, e->change)
            : gs_buf_printf(text, "gridstor extension\ndeployment: %s\nowner: %s\nextend by: %s\n",
                            e->name, e->owner, dur);
    for (size_t i = 0; i < e->n_pools && err == GS_OK; i++) {
        const gs_ext_pool_t *p = &e->pools[i];
        gs_format_tft(p->amount, amount, sizeof amount);
        gs__duration_text(p->by_s ? p->by_s : e->by_s, dur, sizeof dur);
        err = gs_buf_printf(text,
                            "pool %" PRId64 " on farm %" PRId64 ": %" PRIu64 " CU-s, %" PRIu64
                            " SU-s%s%s, %s TFT\n",
                            p->pool_id, p->farm_id, p->cus, p->sus, e->change ? " for " : "",
                            e->change ? dur : "", amount);
    }
    gs_format_tft(e->total, amount, sizeof amount);
    return err ? err : gs_buf_printf(text, "pay with this document: %s TFT\n", amount);
}

int gs_extension_document(const gs_extension_t *e, const gs_doc_opts_t *o,
                          char session[GS_SESSION_LEN + 1], char **json, char **data_to_sign,
                          gs_diag_t *diag)
{
    char amount[32];
    gs_buf_t text;
    int err;
    *json = *data_to_sign = NULL;
    gs__new_session(o, session);
    gs_format_tft(e->total, amount, sizeof amount);
    gs_buf_init(&text, 1 << 20);
    if ((err = extension_text(e, &text)) == GS_OK &&
        (*json = gs__document_json(o, session, amount, text.data)) == NULL)
        err = GS_ENOMEM;
    if (err == GS_OK && strlen(*json) > o->qr_limit) {
        err = gs_diag_set(diag, GS_ETOOBIG,
                          "the extension's document needs %zu bytes, over the QR limit of %zu",
                          strlen(*json), o->qr_limit);
        free(*json);
        *json = NULL;
    } else if (err != GS_OK)
        gs_diag_set(diag, err, "out of memory");
    if (err == GS_OK)
        *data_to_sign = gs_buf_steal(&text);
    gs_buf_free(&text);
    return err;
}
