/* backup.c — a metadata record's backup copies in the data backends, written the same way
 * after a put and after a repair rewrote the record: the first parity + 1 data backends
 * that take it, one at a time, so that losing `parity` data backends leaves a copy for
 * the recovery (recover.c). A backend that fails is skipped for the next one. */
#include "internal.h"

#include <stdlib.h>

typedef struct {
    gs_codec_t *c;
    gs_buf_t backup;
    unsigned next, out, ok, want;
    gs__backup_cb cb;
    void *ud;
} backup_t;

static void next_copy(backup_t *b);

static void on_copy(int err, const char *msg, uint64_t id, void *ud)
{
    backup_t *b = ud;
    (void)msg;
    (void)id;
    b->out--;
    b->ok += err == GS_OK;
    next_copy(b);
}

static void next_copy(backup_t *b)
{
    gs_shard_store_t *s = b->c->shards;
    while (b->out == 0 && b->ok < b->want && b->next < s->n_backends) {
        unsigned i = b->next++;
        if (s->ops->put(s, i, (const uint8_t *)b->backup.data, b->backup.len, on_copy, b) == GS_OK)
            b->out++;
    }
    if (b->out > 0)
        return;
    b->cb(b->ok, b->ud);
    gs_buf_free(&b->backup);
    free(b);
}

int gs__backup_write(gs_codec_t *c, const gs_buf_t *record, uint64_t meta_id, gs__backup_cb cb,
                     void *ud, gs_diag_t *diag)
{
    backup_t *b = calloc(1, sizeof *b);
    int err;
    if (b == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory for a metadata backup");
    *b = (backup_t){.c = c, .want = c->params.parity + 1, .cb = cb, .ud = ud};
    gs_buf_init(&b->backup, GS_CODEC_CHUNK_MAX);
    if ((err = gs_meta_backup_encode((const uint8_t *)record->data, record->len, meta_id, c->key,
                                     &b->backup, diag)) != GS_OK) {
        gs_buf_free(&b->backup);
        free(b);
        return err;
    }
    next_copy(b);
    return GS_OK;
}
