/* retrieve.c — the read pipeline: a file's stripes fetched from a shard store, decoded on
 * the threadpool and delivered in order to a sink that may pause.
 *
 * Per stripe the data chunks are asked for first; only when some are missing or turn out
 * bad (CRC, header) are parity chunks asked for, as many as are still needed. At most
 * `window` stripes are between fetched and delivered, so a paused reader holds a bounded
 * amount of memory. A whole-file read hashes the plaintext as a chain in stripe order
 * (BLAKE2b is serial) and withholds the last stripe's bytes until the hash matched. Each
 * shard's backend is found by its name in the store, so a record whose shards moved to
 * other backends still reads; a name the store does not know is a missing shard. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "internal.h"

typedef struct rslot rslot_t;

typedef struct {
    rslot_t *sl;
    unsigned shard;
} get_ref_t;

/* Memory a slot keeps from one stripe to the next (see gs__scratch_t). */
typedef struct {
    uint8_t *chunk[GS_CODEC_MAX_SHARDS];
    size_t cap[GS_CODEC_MAX_SHARDS];
    uint8_t *plain; /* stripe_size bytes */
    gs__scratch_t sc;
} rkeep_t;

struct rslot {
    gs_codec_reader_t *r;
    rkeep_t keep;
    bool used, decoding, decoded, hashing, hashed;
    uint64_t no;
    unsigned pending;
    size_t len[GS_CODEC_MAX_SHARDS];
    bool have[GS_CODEC_MAX_SHARDS], asked[GS_CODEC_MAX_SHARDS], failed[GS_CODEC_MAX_SHARDS];
    bool bad[GS_CODEC_MAX_SHARDS];
    const uint8_t *view[GS_CODEC_MAX_SHARDS];
    get_ref_t refs[GS_CODEC_MAX_SHARDS];
    uv_work_t work, hash_work;
    size_t plain_len;
    bool last;
    int err;
    gs_diag_t diag;
};

struct gs_codec_reader {
    gs_shard_store_t *s;
    const gs_meta_t *m;
    gs_codec_params_t p; /* as the chunks were encoded: 1 + 0 for an inline file */
    unsigned n, window;
    int backend[GS_CODEC_MAX_SHARDS]; /* store backend of each shard, -1: unknown */
    uint64_t first, last, next_fetch, next_deliver, next_hash, skip, remaining, busy;
    bool whole, hash_ok, paused, done_called;
    crypto_generichash_state *hs;
    rslot_t *slots;
    uv_timer_t kick;
    int err;
    char msg[GS_DIAG_MAX];
    gs_codec_sink_cb sink;
    gs_codec_done_cb done;
    void *ud;
};

static void pump(gs_codec_reader_t *r);
static void after_gets(rslot_t *sl);

__attribute__((format(printf, 3, 4))) static void fail(gs_codec_reader_t *r, int err,
                                                       const char *fmt, ...)
{
    if (r->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    r->err = err;
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

static void reader_free(gs_codec_reader_t *r)
{
    for (unsigned i = 0; r->slots && i < r->window; i++) {
        rkeep_t *k = &r->slots[i].keep;
        for (unsigned j = 0; j < GS_CODEC_MAX_SHARDS; j++)
            free(k->chunk[j]);
        free(k->plain);
        gs__scratch_free(&k->sc);
    }
    free(r->slots);
    free(r->hs);
    free(r);
}

static void on_kick_closed(uv_handle_t *h)
{
    reader_free(h->data);
}

static void maybe_finish(gs_codec_reader_t *r)
{
    if (r->busy || r->done_called)
        return;
    if (!r->err && r->next_deliver <= r->last)
        return;
    r->done_called = true;
    r->done(r->err, r->err ? r->msg : NULL, r->ud);
    uv_timer_stop(&r->kick);
    uv_close((uv_handle_t *)&r->kick, on_kick_closed);
}

static rslot_t *slot_of(gs_codec_reader_t *r, uint64_t no)
{
    rslot_t *sl = &r->slots[no % r->window];
    return sl->used && sl->no == no ? sl : NULL;
}

static void retire(rslot_t *sl)
{
    gs_codec_reader_t *r = sl->r;
    if (sl->no >= r->next_deliver || (r->whole && !sl->hashed) || sl->decoding || sl->hashing)
        return;
    sl->used = false;
}

/* ---- fetching ------------------------------------------------------------------------- */

static int keep_chunk(rkeep_t *k, unsigned i, const uint8_t *p, size_t n)
{
    if (n > k->cap[i]) {
        uint8_t *b = realloc(k->chunk[i], n);
        if (!b)
            return GS_ENOMEM;
        k->chunk[i] = b;
        k->cap[i] = n;
    }
    if (n)
        memcpy(k->chunk[i], p, n);
    return 0;
}

static void on_get(int err, const char *msg, const uint8_t *p, size_t n, void *ud)
{
    get_ref_t *ref = ud;
    rslot_t *sl = ref->sl;
    gs_codec_reader_t *r = sl->r;
    (void)msg;
    r->busy--;
    sl->pending--;
    if (err < 0 || n > GS_CODEC_CHUNK_MAX || keep_chunk(&sl->keep, ref->shard, p, n) < 0)
        sl->failed[ref->shard] = true;
    else {
        sl->have[ref->shard] = true;
        sl->len[ref->shard] = n;
    }
    if (sl->pending == 0)
        after_gets(sl);
    pump(r);
}

static void ask(rslot_t *sl, unsigned i)
{
    gs_codec_reader_t *r = sl->r;
    sl->asked[i] = true;
    if (r->backend[i] < 0) {
        sl->failed[i] = true;
        return;
    }
    sl->refs[i] = (get_ref_t){.sl = sl, .shard = i};
    uint64_t id = r->m->shards[i].ids[sl->no];
    if (r->s->ops->get(r->s, (unsigned)r->backend[i], id, on_get, &sl->refs[i]) < 0) {
        sl->failed[i] = true;
        return;
    }
    sl->pending++;
    r->busy++;
}

static void decode_work(uv_work_t *w)
{
    rslot_t *sl = w->data;
    gs_codec_reader_t *r = sl->r;
    for (unsigned i = 0; i < r->n; i++)
        sl->view[i] = sl->have[i] && !sl->failed[i] ? sl->keep.chunk[i] : NULL;
    sl->err = gs__stripe_decode_reuse(&sl->keep.sc, &r->p, r->m->file_key, sl->no, sl->view,
                                      sl->len, sl->keep.plain, r->p.stripe_size, &sl->plain_len,
                                      &sl->last, sl->bad, &sl->diag);
}

/* The length and last flag a sound stripe must have, from the record. */
static bool stripe_matches(const gs_codec_reader_t *r, const rslot_t *sl)
{
    uint64_t ss = r->m->params.stripe_size, last = r->m->n_stripes - 1;
    uint64_t want = sl->no == last ? r->m->size - sl->no * ss : ss;
    return sl->plain_len == want && sl->last == (sl->no == last);
}

static void decode_done(uv_work_t *w, int status)
{
    rslot_t *sl = w->data;
    gs_codec_reader_t *r = sl->r;
    r->busy--;
    sl->decoding = false;
    if (status < 0) {
        fail(r, GS_ECANCELED, "decoding was canceled");
    } else if (sl->err == GS_EUNAVAIL) {
        for (unsigned i = 0; i < r->n; i++) {
            if (!sl->bad[i])
                continue;
            sl->have[i] = false;
            sl->failed[i] = true;
        }
        after_gets(sl);
    } else if (sl->err < 0) {
        fail(r, sl->err, "%s", sl->diag.msg);
    } else if (!stripe_matches(r, sl)) {
        fail(r, GS_ECORRUPT, "stripe %llu has %zu bytes, not what the record says",
             (unsigned long long)sl->no, sl->plain_len);
    } else {
        sl->decoded = true;
    }
    pump(r);
}

static void start_decode(rslot_t *sl)
{
    gs_codec_reader_t *r = sl->r;
    memset(sl->bad, 0, sizeof sl->bad);
    sl->decoding = true;
    sl->work.data = sl;
    r->busy++;
    uv_queue_work(r->s->loop, &sl->work, decode_work, decode_done);
}

/* All asked chunks are in: decode when enough are there, else ask for more. */
static void after_gets(rslot_t *sl)
{
    gs_codec_reader_t *r = sl->r;
    unsigned have = 0, k = r->p.data;
    if (r->err)
        return;
    for (unsigned i = 0; i < r->n; i++)
        have += sl->have[i] && !sl->failed[i];
    if (have >= k) {
        start_decode(sl);
        return;
    }
    unsigned need = k - have;
    for (unsigned i = 0; i < r->n && need; i++) {
        if (sl->asked[i])
            continue;
        ask(sl, i);
        if (!sl->failed[i])
            need--;
    }
    if (sl->pending == 0) /* nothing more to ask, or every ask failed at once */
        fail(r, GS_EUNAVAIL,
             "stripe %llu: only %u of its %u chunks could be read and were sound; %u are "
             "needed (too many backends down or data damaged)",
             (unsigned long long)sl->no, have, r->n, k);
}

static void start_fetch(gs_codec_reader_t *r)
{
    while (!r->err && r->next_fetch <= r->last) {
        rslot_t *sl = &r->slots[r->next_fetch % r->window];
        if (sl->used)
            return;
        rkeep_t keep = sl->keep;
        memset(sl, 0, sizeof *sl);
        sl->keep = keep;
        sl->r = r;
        sl->used = true;
        sl->no = r->next_fetch++;
        if (!sl->keep.plain && !(sl->keep.plain = malloc(r->p.stripe_size))) {
            fail(r, GS_ENOMEM, "out of memory for a stripe");
            return;
        }
        if (r->m->n_shards == 0) {
            if (keep_chunk(&sl->keep, 0, r->m->inline_data, r->m->inline_len) < 0) {
                fail(r, GS_ENOMEM, "out of memory");
                return;
            }
            sl->have[0] = true;
            sl->len[0] = r->m->inline_len;
            sl->asked[0] = true;
            start_decode(sl);
            continue;
        }
        for (unsigned i = 0; i < r->p.data; i++)
            ask(sl, i);
        if (sl->pending == 0)
            after_gets(sl);
    }
}

/* ---- hashing and delivering ------------------------------------------------------------ */

static void hash_work(uv_work_t *w)
{
    rslot_t *sl = w->data;
    crypto_generichash_update(sl->r->hs, sl->keep.plain, sl->plain_len);
}

static void hash_done(uv_work_t *w, int status)
{
    rslot_t *sl = w->data;
    gs_codec_reader_t *r = sl->r;
    r->busy--;
    sl->hashing = false;
    sl->hashed = true;
    r->next_hash++;
    if (status < 0)
        fail(r, GS_ECANCELED, "hashing was canceled");
    if (r->next_hash > r->last && !r->err) {
        uint8_t h[GS_CODEC_HASH_LEN];
        crypto_generichash_final(r->hs, h, sizeof h);
        if (sodium_memcmp(h, r->m->hash, sizeof h) != 0)
            fail(r, GS_ECORRUPT, "the content's BLAKE2b-192 does not match the record");
        else
            r->hash_ok = true;
    }
    retire(sl);
    pump(r);
}

static void start_hash(gs_codec_reader_t *r)
{
    rslot_t *sl = slot_of(r, r->next_hash);
    if (!r->whole || !sl || !sl->decoded || sl->hashing || sl->hashed)
        return;
    sl->hashing = true;
    sl->hash_work.data = sl;
    r->busy++;
    uv_queue_work(r->s->loop, &sl->hash_work, hash_work, hash_done);
}

static void deliver(gs_codec_reader_t *r)
{
    while (!r->paused && !r->err && r->next_deliver <= r->last) {
        rslot_t *sl = slot_of(r, r->next_deliver);
        if (!sl || !sl->decoded)
            return;
        if (r->whole && sl->no == r->last && !r->hash_ok)
            return;
        size_t skip = sl->no == r->first ? (size_t)r->skip : 0;
        size_t n = sl->plain_len - skip;
        if (n > r->remaining)
            n = (size_t)r->remaining;
        r->remaining -= n;
        r->next_deliver++;
        if (n)
            r->sink(sl->keep.plain + skip, n, r->ud);
        retire(sl);
    }
}

static void pump(gs_codec_reader_t *r)
{
    if (!r->err) {
        deliver(r); /* first: it frees slots for the fetches */
        start_fetch(r);
        start_hash(r);
    }
    maybe_finish(r);
}

static void on_kick(uv_timer_t *t)
{
    pump(t->data);
}

static void kick(gs_codec_reader_t *r)
{
    if (!r->done_called)
        uv_timer_start(&r->kick, on_kick, 0, 0);
}

void gs_codec_reader_pause(gs_codec_reader_t *r)
{
    r->paused = true;
}

void gs_codec_reader_resume(gs_codec_reader_t *r)
{
    r->paused = false;
    kick(r);
}

void gs_codec_reader_cancel(gs_codec_reader_t *r)
{
    fail(r, GS_ECANCELED, "the read was canceled");
    kick(r);
}

/* ---- starting -------------------------------------------------------------------------- */

/* A record comes from outside: its counts must agree with each other and with the store. */
static int check_meta(const gs_shard_store_t *s, const gs_meta_t *m, gs_diag_t *diag)
{
    gs_diag_t d;
    if (gs_codec_params_check(&m->params, &d) < 0)
        return gs_diag_set(diag, GS_ECORRUPT, "the record's codec parameters: %s", d.msg);
    uint64_t ss = m->params.stripe_size;
    uint64_t want = m->size ? (m->size - 1) / ss + 1 : 1;
    if (!m->file_key || m->n_stripes != want)
        return gs_diag_set(diag, GS_ECORRUPT, "the record's stripe count does not match its size");
    if (m->n_shards == 0)
        return m->inline_data && m->n_stripes == 1
                   ? 0
                   : gs_diag_set(diag, GS_ECORRUPT,
                                 "the record has neither shards nor inline data");
    if (m->n_shards != m->params.data + m->params.parity || !m->shards)
        return gs_diag_set(diag, GS_ECORRUPT, "the record's shard count does not match its codec");
    for (unsigned i = 0; i < m->n_shards; i++)
        if (!m->shards[i].ids || !m->shards[i].backend)
            return gs_diag_set(diag, GS_ECORRUPT, "the record's shard %u has no chunks", i);
    (void)s;
    return 0;
}

static void map_backends(gs_codec_reader_t *r)
{
    for (unsigned i = 0; i < r->n; i++) {
        r->backend[i] = -1;
        for (unsigned b = 0; r->m->n_shards && b < r->s->n_backends; b++)
            if (strcmp(r->s->names[b], r->m->shards[i].backend) == 0)
                r->backend[i] = (int)b;
    }
}

static void set_range(gs_codec_reader_t *r, uint64_t offset, uint64_t length)
{
    const gs_meta_t *m = r->m;
    uint64_t end = length > m->size - offset ? m->size : offset + length;
    uint64_t ss = m->params.stripe_size;
    r->whole = offset == 0 && end == m->size;
    r->remaining = end - offset;
    if (r->whole) {
        r->first = 0;
        r->last = m->n_stripes - 1;
    } else if (end == offset) {
        r->first = 1; /* nothing to read */
        r->last = 0;
    } else {
        r->first = offset / ss;
        r->last = (end - 1) / ss;
    }
    r->skip = offset - r->first * ss;
    if (end == offset)
        r->skip = 0;
    r->next_fetch = r->next_deliver = r->next_hash = r->first;
}

int gs_codec_retrieve(gs_shard_store_t *s, const gs_meta_t *m, uint64_t offset, uint64_t length,
                      gs_codec_sink_cb sink, gs_codec_done_cb done, void *ud,
                      gs_codec_reader_t **out, gs_diag_t *diag)
{
    int err = check_meta(s, m, diag);
    if (err < 0)
        return err;
    if (offset > m->size)
        return gs_diag_set(diag, GS_ERANGE, "offset %llu is past the end (%llu bytes)",
                           (unsigned long long)offset, (unsigned long long)m->size);
    gs_codec_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    *r = (gs_codec_reader_t){.s = s,
                             .m = m,
                             .p = m->params,
                             .window = GS__WINDOW_DEFAULT,
                             .sink = sink,
                             .done = done,
                             .ud = ud};
    if (m->n_shards == 0) {
        r->p.data = 1;
        r->p.parity = 0;
    }
    r->n = r->p.data + r->p.parity;
    r->slots = calloc(r->window, sizeof *r->slots);
    r->hs = aligned_alloc(64, (sizeof *r->hs + 63) / 64 * 64);
    if (!r->slots || !r->hs) {
        reader_free(r);
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    crypto_generichash_init(r->hs, NULL, 0, GS_CODEC_HASH_LEN);
    map_backends(r);
    set_range(r, offset, length);
    uv_timer_init(s->loop, &r->kick);
    r->kick.data = r;
    kick(r);
    if (out)
        *out = r;
    return 0;
}
