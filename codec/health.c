/* health.c — checking a file and repairing it (codec.h, gs_codec_check and
 * gs_codec_repair).
 *
 * A soft check asks every chunk's backend for 0-db's CHECK (its own CRC of the value),
 * at most CHECK_WINDOW at a time: a chunk is good, missing (absent, or its backend does
 * not answer) or bad. A hard check then restores the whole file, which verifies every
 * stripe's AEAD tag and the file's BLAKE2b-192. A repair runs a soft check, then for each
 * stripe with a chunk that is not good fetches the good chunks, rebuilds the others with
 * Reed-Solomon (no key needed), and writes them: onto the shard's own backend when that
 * backend answered, else onto another backend of the configuration that holds no shard of
 * the file. Only then is the record rewritten in place (the same 0-db id, so the file id
 * stays), and backed up again; a recovery takes the newest backup of a record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "internal.h"

#define CHECK_WINDOW 256

enum { CHUNK_GOOD, CHUNK_MISSING, CHUNK_BAD };

typedef struct health health_t;

struct health {
    gs_codec_t *c;
    bool hard, repair;
    gs_codec_check_cb check_cb;
    gs_codec_repair_cb repair_cb;
    void *ud;
    char file_id[GS_CODEC_ID_MAX];
    uint64_t meta_id;
    gs_meta_t *m;
    uint8_t *state;     /* n_shards x n_stripes chunk states */
    bool *unreachable;  /* per shard: its backend failed to answer */
    int *backend;       /* per shard: its index in the shard store, -1 when unknown */
    uint64_t next, out; /* chunks asked so far, answers awaited */
    gs_codec_health_t h;
    /* repair */
    uint64_t stripe;
    unsigned gets_out, puts_out, rebuilt;
    uint8_t *got[GS_CODEC_MAX_SHARDS];
    size_t got_len[GS_CODEC_MAX_SHARDS];
    gs_stripe_t fresh;
    int err;
    char why[GS_DIAG_MAX];
    gs_buf_t record;
};

typedef struct {
    health_t *h;
    unsigned shard;
    uint64_t stripe;
} ref_t;

static void health_free(health_t *h)
{
    for (unsigned i = 0; i < GS_CODEC_MAX_SHARDS; i++)
        free(h->got[i]);
    gs_stripe_free(&h->fresh);
    gs_meta_free(h->m);
    free(h->state);
    free(h->unreachable);
    free(h->backend);
    gs_buf_free(&h->record);
    free(h);
}

static void finish(health_t *h, int err, const char *msg)
{
    if (h->repair)
        h->repair_cb(err, msg, h->rebuilt, h->ud);
    else
        h->check_cb(err, msg, err == GS_OK ? &h->h : NULL, h->ud);
    health_free(h);
}

static uint8_t *state_of(health_t *h, unsigned shard, uint64_t stripe)
{
    return &h->state[(uint64_t)shard * h->m->n_stripes + stripe];
}

/* ---- the soft check ---------------------------------------------------------------------- */

static void after_soft(health_t *h);
static void check_pump(health_t *h);

static void on_chunk_checked(int err, const char *msg, bool ok, void *ud)
{
    ref_t *ref = ud;
    health_t *h = ref->h;
    (void)msg;
    *state_of(h, ref->shard, ref->stripe) =
        err == GS_OK ? (ok ? CHUNK_GOOD : CHUNK_BAD) : CHUNK_MISSING;
    if (err != GS_OK && err != GS_ENOENT)
        h->unreachable[ref->shard] = true;
    free(ref);
    h->out--;
    check_pump(h);
}

/* Asks for the next chunks, keeping at most CHECK_WINDOW in flight. */
static void check_pump(health_t *h)
{
    gs_shard_store_t *s = h->c->shards;
    uint64_t total = (uint64_t)h->m->n_shards * h->m->n_stripes;
    while (h->out < CHECK_WINDOW && h->next < total) {
        unsigned shard = (unsigned)(h->next / h->m->n_stripes);
        uint64_t stripe = h->next % h->m->n_stripes;
        ref_t *ref = malloc(sizeof *ref);
        h->next++;
        if (ref == NULL || h->backend[shard] < 0) {
            free(ref);
            *state_of(h, shard, stripe) = CHUNK_MISSING;
            continue;
        }
        *ref = (ref_t){h, shard, stripe};
        if (s->ops->check(s, (unsigned)h->backend[shard], h->m->shards[shard].ids[stripe],
                          on_chunk_checked, ref) != GS_OK) {
            free(ref);
            *state_of(h, shard, stripe) = CHUNK_MISSING;
            continue;
        }
        h->out++;
    }
    if (h->out == 0 && h->next >= total)
        after_soft(h);
}

/* Per shard and per stripe: how the file is. */
static void summarize(health_t *h)
{
    gs_codec_health_t *r = &h->h;
    bool readable = true;
    r->n_shards = h->m->n_shards;
    for (unsigned i = 0; i < h->m->n_shards; i++) {
        uint8_t worst = CHUNK_GOOD;
        for (uint64_t s = 0; s < h->m->n_stripes; s++) {
            uint8_t st = *state_of(h, i, s);
            worst = st == CHUNK_BAD || worst == CHUNK_BAD ? CHUNK_BAD
                    : st == CHUNK_MISSING                 ? CHUNK_MISSING
                                                          : worst;
        }
        r->shard_state[i] = worst;
        r->good += worst == CHUNK_GOOD;
        r->missing += worst == CHUNK_MISSING;
        r->bad += worst == CHUNK_BAD;
    }
    for (uint64_t s = 0; s < h->m->n_stripes && h->m->n_shards > 0; s++) {
        unsigned good = 0;
        for (unsigned i = 0; i < h->m->n_shards; i++)
            good += *state_of(h, i, s) == CHUNK_GOOD;
        readable = readable && good >= h->m->params.data;
    }
    r->readable = readable;
}

/* ---- the hard check ------------------------------------------------------------------------ */

static void discard(const uint8_t *p, size_t n, void *ud)
{
    (void)p;
    (void)n;
    (void)ud;
}

static void on_restored(int err, const char *msg, void *ud)
{
    health_t *h = ud;
    h->h.hard_checked = true;
    h->h.hash_ok = err == GS_OK;
    if (err != GS_OK)
        snprintf(h->why, sizeof h->why, "%s", msg ? msg : gs_strerror(err));
    finish(h, GS_OK, err == GS_OK ? NULL : h->why);
}

static void start_repair(health_t *h);

static void after_soft(health_t *h)
{
    gs_diag_t diag = {{0}};
    summarize(h);
    if (h->repair) {
        start_repair(h);
        return;
    }
    if (!h->hard) {
        finish(h, GS_OK, NULL);
        return;
    }
    if (gs_codec_retrieve(h->c->shards, h->m, 0, UINT64_MAX, discard, on_restored, h, NULL,
                          &diag) != GS_OK) {
        h->h.hard_checked = true;
        snprintf(h->why, sizeof h->why, "%s", diag.msg);
        finish(h, GS_OK, h->why);
    }
}

/* ---- starting: the record, then the soft check --------------------------------------------- */

static int find_backends(health_t *h)
{
    gs_shard_store_t *s = h->c->shards;
    unsigned n = h->m->n_shards;
    uint64_t chunks = (uint64_t)n * h->m->n_stripes;
    h->state = calloc(chunks ? chunks : 1, 1);
    h->unreachable = calloc(n + 1, sizeof *h->unreachable);
    h->backend = calloc(n + 1, sizeof *h->backend);
    if (h->state == NULL || h->unreachable == NULL || h->backend == NULL)
        return GS_ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        h->backend[i] = -1;
        for (unsigned b = 0; b < s->n_backends; b++)
            if (strcmp(s->names[b], h->m->shards[i].backend) == 0)
                h->backend[i] = (int)b;
    }
    return GS_OK;
}

static void on_record(int err, const char *msg, gs_meta_t *m, void *ud)
{
    health_t *h = ud;
    if (err != GS_OK) {
        finish(h, err, msg);
        return;
    }
    h->m = m;
    if (find_backends(h) != GS_OK) {
        finish(h, GS_ENOMEM, "out of memory");
        return;
    }
    check_pump(h);
}

static int start(gs_codec_t *c, const char *file_id, health_t *h, gs_diag_t *diag)
{
    uint8_t hash[GS_CODEC_HASH_LEN];
    char ext[GS_CODEC_EXT_MAX + 1];
    int err = gs_codec_id_parse(file_id, hash, &h->meta_id, ext, diag);
    if (err == GS_OK) {
        h->c = c;
        snprintf(h->file_id, sizeof h->file_id, "%s", file_id);
        err = gs_codec_lookup(c, file_id, on_record, h, diag);
    }
    if (err != GS_OK)
        free(h);
    return err;
}

int gs_codec_check(gs_codec_t *c, const char *file_id, bool hard, gs_codec_check_cb cb, void *ud,
                   gs_diag_t *diag)
{
    health_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    h->hard = hard;
    h->check_cb = cb;
    h->ud = ud;
    return start(c, file_id, h, diag);
}

int gs_codec_repair(gs_codec_t *c, const char *file_id, gs_codec_repair_cb cb, void *ud,
                    gs_diag_t *diag)
{
    health_t *h;
    if (c->read_only)
        return gs_diag_set(diag, GS_EINVAL,
                           "this codec is read-only: repair through the read-write gateway (M1)");
    if ((h = calloc(1, sizeof *h)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    h->repair = true;
    h->repair_cb = cb;
    h->ud = ud;
    return start(c, file_id, h, diag);
}

/* ---- repair -------------------------------------------------------------------------------- */

static void repair_stripe(health_t *h);
static void write_record(health_t *h);

/* The backend a rebuilt chunk of shard i goes to: its own when it answered, else another
 * holding no shard of the file (chosen once per shard: its name goes into the record). */
static int target_of(health_t *h, unsigned shard)
{
    gs_shard_store_t *s = h->c->shards;
    if (h->backend[shard] >= 0 && !h->unreachable[shard])
        return h->backend[shard];
    for (unsigned b = 0; b < s->n_backends; b++) {
        bool used = false;
        for (unsigned i = 0; i < h->m->n_shards; i++)
            used = used || h->backend[i] == (int)b;
        if (used)
            continue;
        free(h->m->shards[shard].backend);
        h->m->shards[shard].backend = gs_strdup(s->names[b]);
        h->backend[shard] = (int)b;
        h->unreachable[shard] = false;
        return (int)b;
    }
    return -1;
}

static void repair_fail(health_t *h, int err, const char *fmt, const char *arg)
{
    if (h->err == GS_OK) {
        h->err = err;
        snprintf(h->why, sizeof h->why, fmt, arg);
    }
}

/* One put of the stripe done (or the hold released): the next stripe once all are. */
static void put_done(health_t *h)
{
    if (--h->puts_out > 0)
        return;
    gs_stripe_free(&h->fresh);
    h->stripe++;
    repair_stripe(h);
}

static void on_rebuilt_put(int err, const char *msg, uint64_t id, void *ud)
{
    ref_t *ref = ud;
    health_t *h = ref->h;
    if (err != GS_OK)
        repair_fail(h, err, "writing a rebuilt chunk failed: %s", msg ? msg : gs_strerror(err));
    else
        h->m->shards[ref->shard].ids[ref->stripe] = id;
    free(ref);
    put_done(h);
}

/* Writes the rebuilt chunk of shard i. */
static void put_rebuilt(health_t *h, unsigned i)
{
    gs_shard_store_t *s = h->c->shards;
    int b = target_of(h, i);
    ref_t *ref = b >= 0 ? malloc(sizeof *ref) : NULL;
    if (ref == NULL) {
        repair_fail(
            h, GS_EUNAVAIL, "%s",
            "a shard's backend does not answer and every other backend holds a shard of the file");
        return;
    }
    *ref = (ref_t){h, i, h->stripe};
    if (s->ops->put(s, (unsigned)b, h->fresh.chunk[i], h->fresh.chunk_len, on_rebuilt_put, ref) ==
        GS_OK)
        h->puts_out++;
    else {
        free(ref);
        repair_fail(h, GS_EIO, "%s", "a rebuilt chunk could not be sent");
    }
}

/* Every good chunk of the stripe is here: rebuild the others and write them. */
static void rebuild_stripe(health_t *h)
{
    gs_diag_t diag = {{0}};
    const uint8_t *chunks[GS_CODEC_MAX_SHARDS] = {0};
    int err;
    for (unsigned i = 0; i < h->m->n_shards; i++)
        chunks[i] = h->got[i];
    err = gs_stripe_rebuild(&h->m->params, h->stripe, chunks, h->got_len, &h->fresh, &diag);
    if (err != GS_OK) {
        repair_fail(h, err, "%s", diag.msg);
        write_record(h);
        return;
    }
    h->puts_out = 1; /* held until every put is started */
    for (unsigned i = 0; i < h->m->n_shards && h->err == GS_OK; i++)
        if (h->fresh.chunk[i] != NULL && *state_of(h, i, h->stripe) != CHUNK_GOOD)
            put_rebuilt(h, i);
    put_done(h);
}

static void on_good_chunk(int err, const char *msg, const uint8_t *p, size_t n, void *ud)
{
    ref_t *ref = ud;
    health_t *h = ref->h;
    (void)msg;
    if (err == GS_OK && (h->got[ref->shard] = malloc(n ? n : 1)) != NULL) {
        memcpy(h->got[ref->shard], p, n);
        h->got_len[ref->shard] = n;
    }
    free(ref);
    if (--h->gets_out == 0)
        rebuild_stripe(h);
}

static bool stripe_needs_repair(health_t *h, uint64_t stripe)
{
    for (unsigned i = 0; i < h->m->n_shards; i++)
        if (*state_of(h, i, stripe) != CHUNK_GOOD)
            return true;
    return false;
}

/* The next stripe with a chunk that is not good: fetch its good chunks. */
static void repair_stripe(health_t *h)
{
    gs_shard_store_t *s = h->c->shards;
    while (h->err == GS_OK && h->stripe < h->m->n_stripes && !stripe_needs_repair(h, h->stripe))
        h->stripe++;
    if (h->err != GS_OK || h->stripe >= h->m->n_stripes) {
        write_record(h);
        return;
    }
    for (unsigned i = 0; i < GS_CODEC_MAX_SHARDS; i++) {
        free(h->got[i]);
        h->got[i] = NULL;
        h->got_len[i] = 0;
    }
    h->gets_out = 1; /* held until every get is started */
    for (unsigned i = 0; i < h->m->n_shards; i++) {
        ref_t *ref;
        if (*state_of(h, i, h->stripe) != CHUNK_GOOD || (ref = malloc(sizeof *ref)) == NULL)
            continue;
        *ref = (ref_t){h, i, h->stripe};
        if (s->ops->get(s, (unsigned)h->backend[i], h->m->shards[i].ids[h->stripe], on_good_chunk,
                        ref) == GS_OK)
            h->gets_out++;
        else
            free(ref);
    }
    if (--h->gets_out == 0)
        rebuild_stripe(h);
}

static void start_repair(health_t *h)
{
    if (h->m->n_shards == 0 || h->h.good == h->m->n_shards) {
        finish(h, GS_OK, NULL); /* inline in its record, or healthy */
        return;
    }
    if (!h->h.readable) {
        finish(h, GS_EUNAVAIL, "too few good shards left to rebuild the file");
        return;
    }
    repair_stripe(h);
}

/* ---- the record, rewritten in place, and its backup ---------------------------------------- */

/* The record itself is rewritten, so the repair is done even when no backup copy was
 * written: the older backups still open, and recovery takes the newest it finds. */
static void on_backups(unsigned copies, void *ud)
{
    (void)copies;
    finish(ud, GS_OK, NULL);
}

static void on_record_written(const gs_resp_value_t *r, int err, const char *msg, void *ud)
{
    health_t *h = ud;
    gs_diag_t diag = {{0}};
    if (err < 0 || r->type == GS_RESP_ERROR) {
        finish(h, err < 0 ? err : GS_EREFUSED,
               err < 0 ? msg : "the metadata master refused the repaired record");
        return;
    }
    if (gs__backup_write(h->c, &h->record, h->meta_id, on_backups, h, &diag) != GS_OK)
        finish(h, GS_OK, NULL);
}

/* After the stripes: the record with the chunks' new places, in place of the old. */
static void write_record(health_t *h)
{
    unsigned char key[8];
    gs_diag_t diag = {{0}};
    if (h->err != GS_OK) {
        finish(h, h->err, h->why);
        return;
    }
    h->rebuilt = h->h.missing + h->h.bad;
    gs_zdb_id_key(h->meta_id, key);
    gs_buf_init(&h->record, GS_META_MAX);
    if (gs_meta_encode(h->m, h->c->key, &h->record, &diag) != GS_OK ||
        gs_zdb_set(h->c->master, key, sizeof key, h->record.data, h->record.len, on_record_written,
                   h) != GS_OK)
        finish(h, GS_EIO, diag.msg[0] ? diag.msg : "writing the repaired record failed");
}
