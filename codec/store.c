/* store.c — the store pipeline: plaintext from a file descriptor or memory, in stripes,
 * to chunks on a shard store, and the metadata record that finds them again.
 *
 * Parallelism. The loop thread only reads (uv_fs_read), puts chunks and keeps the books;
 * CPU work goes to the threadpool. BLAKE2b of the whole content is serial, so it runs as a
 * chain of jobs in stripe order, one at a time, while other jobs encode later stripes.
 * Encoding a stripe costs more than hashing it, all told (zstd, AES-GCM, copying into
 * chunks, CRC32C and Reed-Solomon came to about 3 ns a byte against 1.6 for BLAKE2b on the
 * build machine), so by default as many stripes are encoded at once as there are CPUs:
 * the encoders fill the time the hash chain leaves (bench_codec: compressible data 0.46 ->
 * 0.58 of the hash alone with two encoders on two CPUs, random data unchanged). Memory is
 * bounded by the window: at most `window` stripes are between read and written.
 *
 * Small files. A stripe's shards are ceil(ciphertext / data) bytes, never padded to a
 * fixed size, so a small file costs data + parity chunks of a few bytes plus their
 * headers. A file of at most inline_max bytes (4 KiB by default) is not sharded at all: its
 * one stripe is encoded with 1 data shard and no parity, and that chunk (header, CRC,
 * ciphertext under the file key) goes into the record's inline_data; it is then as
 * durable as the record, which is replicated and backed up, and costs no round trip to 20
 * backends. An empty file is one empty stripe, so even it is authenticated. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "codec.h"
#include "internal.h"

typedef struct store_op store_op_t;

typedef struct {
    store_op_t *op;
    uint64_t stripe;
    unsigned shard;
} put_ref_t;

typedef struct {
    store_op_t *op;
    bool used, read_done, hashing, hashed, encoding, encoded, inlined;
    uint64_t no;
    uint8_t *buf; /* fd source: stripe_size bytes, kept for the next stripe of this slot */
    const uint8_t *plain;
    size_t len;
    unsigned puts_left;
    uv_work_t work, hash_work;
    gs_stripe_t st; /* borrowed from sc */
    gs__scratch_t sc;
    int err;
    gs_diag_t diag;
    put_ref_t *refs;
} slot_t;

struct store_op {
    gs_shard_store_t *s;
    gs_codec_params_t params;
    char ext[GS_CODEC_EXT_MAX + 1];
    size_t inline_max;
    unsigned n, window, workers, encoding;
    unsigned first; /* shard i goes to backend (first + i) % n_backends */
    bool from_fd, reading, eof, total_known, inlined;
    uv_file fd;
    uv_fs_t fs;
    const uint8_t *mem;
    size_t mem_len;
    uint64_t next_read, next_hash, nonlast_upto, total, size, busy;
    uint8_t *key;
    crypto_generichash_state *hs;
    uint64_t **ids;
    uint64_t cap_ids;
    uint8_t *inline_data;
    size_t inline_len;
    slot_t *slots;
    int err;
    char msg[GS_DIAG_MAX];
    gs_codec_store_cb cb;
    void *ud;
    void (*progress)(uint64_t bytes_written, void *ud);
    uint64_t written; /* bytes of stripes whose chunks are all written */
};

static void pump(store_op_t *op);

void gs_codec_store_opts_default(gs_codec_store_opts_t *o)
{
    memset(o, 0, sizeof *o);
    gs_codec_params_default(&o->params);
    o->inline_max = GS_CODEC_INLINE_DEFAULT;
    o->window = GS__WINDOW_DEFAULT;
}

__attribute__((format(printf, 3, 4))) static void fail(store_op_t *op, int err, const char *fmt,
                                                       ...)
{
    if (op->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    op->err = err;
    vsnprintf(op->msg, sizeof op->msg, fmt, ap);
    va_end(ap);
}

static void op_free(store_op_t *op)
{
    for (unsigned i = 0; op->slots && i < op->window; i++) {
        free(op->slots[i].buf);
        free(op->slots[i].refs);
        gs__scratch_free(&op->slots[i].sc);
    }
    free(op->slots);
    for (unsigned i = 0; op->ids && i < op->n; i++)
        free(op->ids[i]);
    free(op->ids);
    free(op->inline_data);
    sodium_free(op->key);
    free(op->hs);
    free(op);
}

static unsigned backend_of(const store_op_t *op, unsigned shard)
{
    return (op->first + shard) % op->s->n_backends;
}

static gs_meta_t *make_meta(store_op_t *op)
{
    gs_meta_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    crypto_generichash_final(op->hs, m->hash, GS_CODEC_HASH_LEN);
    m->size = op->size;
    memcpy(m->ext, op->ext, sizeof m->ext);
    m->created = (int64_t)time(NULL);
    m->params = op->params;
    m->file_key = op->key;
    op->key = NULL;
    m->n_stripes = op->total;
    if (op->inlined) {
        m->inline_data = op->inline_data;
        m->inline_len = op->inline_len;
        op->inline_data = NULL;
        return m;
    }
    m->n_shards = op->n;
    m->shards = calloc(op->n, sizeof *m->shards);
    for (unsigned i = 0; m->shards && i < op->n; i++) {
        m->shards[i].backend = gs_strdup(op->s->names[backend_of(op, i)]);
        m->shards[i].ids = op->ids[i];
        op->ids[i] = NULL;
    }
    return m; /* a failed allocation above is caught by check_meta */
}

static bool meta_complete(const gs_meta_t *m)
{
    if (m->n_shards && !m->shards)
        return false;
    for (unsigned i = 0; i < m->n_shards; i++)
        if (!m->shards[i].backend)
            return false;
    return true;
}

/* Calls the callback once nothing is in flight any more. */
static void maybe_finish(store_op_t *op)
{
    if (op->busy)
        return;
    if (!op->err && !(op->total_known && op->next_hash == op->total))
        return;
    gs_meta_t *m = op->err ? NULL : make_meta(op);
    if (m && !meta_complete(m)) {
        /* give the parts back to op so that they are freed with it */
        gs_meta_t tmp = *m;
        free(m);
        m = NULL;
        op->key = tmp.file_key;
        for (unsigned i = 0; tmp.shards && i < op->n; i++) {
            op->ids[i] = tmp.shards[i].ids;
            free(tmp.shards[i].backend);
        }
        free(tmp.shards);
        fail(op, GS_ENOMEM, "%s", "out of memory for the metadata record");
    }
    op->cb(op->err, op->err ? op->msg : NULL, m, op->ud);
    op_free(op);
}

static int grow_ids(store_op_t *op, uint64_t stripe)
{
    if (stripe < op->cap_ids)
        return 0;
    uint64_t cap = op->cap_ids ? op->cap_ids * 2 : 16;
    while (cap <= stripe)
        cap *= 2;
    for (unsigned i = 0; i < op->n; i++) {
        uint64_t *p = realloc(op->ids[i], cap * sizeof *p);
        if (!p)
            return GS_ENOMEM;
        op->ids[i] = p;
    }
    op->cap_ids = cap;
    return 0;
}

static slot_t *slot_of(store_op_t *op, uint64_t stripe)
{
    slot_t *sl = &op->slots[stripe % op->window];
    return sl->used && sl->no == stripe ? sl : NULL;
}

static void retire(slot_t *sl)
{
    store_op_t *op = sl->op;
    if (!sl->hashed || !sl->encoded || sl->puts_left)
        return;
    sl->used = false;
    op->written += sl->len;
    if (op->progress != NULL)
        op->progress(op->written, op->ud);
}

/* ---- hashing, a chain in stripe order -------------------------------------------------- */

static void hash_work(uv_work_t *w)
{
    slot_t *sl = w->data;
    crypto_generichash_update(sl->op->hs, sl->plain, sl->len);
}

static void hash_done(uv_work_t *w, int status)
{
    slot_t *sl = w->data;
    store_op_t *op = sl->op;
    op->busy--;
    sl->hashing = false;
    sl->hashed = true;
    op->next_hash++;
    if (status < 0)
        fail(op, GS_ECANCELED, "%s", "hashing was canceled");
    retire(sl);
    pump(op);
}

static void start_hash(store_op_t *op)
{
    slot_t *sl = slot_of(op, op->next_hash);
    if (!sl || !sl->read_done || sl->hashing || sl->hashed)
        return;
    for (unsigned i = 0; i < op->window; i++)
        if (op->slots[i].hashing)
            return;
    sl->hashing = true;
    sl->hash_work.data = sl;
    op->busy++;
    uv_queue_work(op->s->loop, &sl->hash_work, hash_work, hash_done);
}

/* ---- encoding and putting -------------------------------------------------------------- */

static void encode_work(uv_work_t *w)
{
    slot_t *sl = w->data;
    store_op_t *op = sl->op;
    bool last = op->total_known && sl->no + 1 == op->total;
    gs_codec_params_t p = op->params;
    if (last && sl->no == 0 && sl->len <= op->inline_max) {
        p.data = 1;
        p.parity = 0;
        sl->inlined = true;
    }
    sl->err = gs__stripe_encode_reuse(&sl->sc, &p, op->key, sl->no, last, sl->plain, sl->len,
                                      &sl->st, &sl->diag);
}

static void on_put(int err, const char *msg, uint64_t id, void *ud)
{
    put_ref_t *ref = ud;
    store_op_t *op = ref->op;
    slot_t *sl = &op->slots[ref->stripe % op->window];
    op->busy--;
    sl->puts_left--;
    if (err < 0) {
        fail(op, err, "writing a chunk failed on %s: %s", op->s->names[backend_of(op, ref->shard)],
             msg ? msg : gs_strerror(err));
    } else {
        op->ids[ref->shard][ref->stripe] = id;
    }
    retire(sl);
    pump(op);
}

static void put_chunks(store_op_t *op, slot_t *sl)
{
    for (unsigned i = 0; i < op->n && !op->err; i++) {
        sl->refs[i] = (put_ref_t){.op = op, .stripe = sl->no, .shard = i};
        unsigned b = backend_of(op, i);
        int err =
            op->s->ops->put(op->s, b, sl->st.chunk[i], sl->st.chunk_len, on_put, &sl->refs[i]);
        if (err < 0) {
            fail(op, err, "writing a chunk failed on %s", op->s->names[b]);
            break;
        }
        op->busy++;
        sl->puts_left++;
    }
    memset(&sl->st, 0, sizeof sl->st); /* the store copied every chunk: sc is free again */
}

static void encode_done(uv_work_t *w, int status)
{
    slot_t *sl = w->data;
    store_op_t *op = sl->op;
    op->busy--;
    op->encoding--;
    sl->encoding = false;
    sl->encoded = true;
    if (status < 0)
        fail(op, GS_ECANCELED, "%s", "encoding was canceled");
    else if (sl->err < 0)
        fail(op, sl->err, "%s", sl->diag.msg);
    else if (sl->inlined) {
        op->inlined = true; /* the whole file, small: kept in the record */
        op->inline_len = sl->st.chunk_len;
        if (!(op->inline_data = malloc(sl->st.chunk_len)))
            fail(op, GS_ENOMEM, "out of memory");
        else
            memcpy(op->inline_data, sl->st.chunk[0], sl->st.chunk_len);
    } else if (!op->err)
        put_chunks(op, sl);
    memset(&sl->st, 0, sizeof sl->st);
    retire(sl);
    pump(op);
}

static bool can_encode(const store_op_t *op, const slot_t *sl)
{
    if (!sl->used || !sl->read_done || sl->encoding || sl->encoded)
        return false;
    return op->total_known ? sl->no < op->total : sl->no < op->nonlast_upto;
}

static void start_encodes(store_op_t *op)
{
    uint64_t first = op->next_read > op->window ? op->next_read - op->window : 0;
    for (uint64_t no = first; no < op->next_read && op->encoding < op->workers; no++) {
        slot_t *sl = slot_of(op, no);
        if (!sl || !can_encode(op, sl))
            continue;
        sl->encoding = true;
        sl->work.data = sl;
        op->encoding++;
        op->busy++;
        uv_queue_work(op->s->loop, &sl->work, encode_work, encode_done);
    }
}

/* ---- reading ------------------------------------------------------------------------- */

static void read_more(store_op_t *op, slot_t *sl);

static void on_read(uv_fs_t *req)
{
    store_op_t *op = req->data;
    slot_t *sl = slot_of(op, op->next_read - 1);
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    op->busy--;
    op->reading = false;
    if (r < 0) {
        fail(op, GS_EIO, "reading the file failed: %s", uv_strerror((int)r));
    } else if (r == 0) {
        op->eof = true;
        op->total_known = true;
        sl->read_done = true;
        if (sl->len == 0 && sl->no > 0) {
            op->total = sl->no; /* the previous stripe was the last */
            sl->used = false;
            op->next_read--;
        } else {
            op->total = sl->no + 1;
        }
    } else {
        sl->len += (size_t)r;
        op->size += (uint64_t)r;
        if (sl->no > 0)
            op->nonlast_upto = sl->no;
        if (sl->len == op->params.stripe_size)
            sl->read_done = true;
        else if (!op->err)
            read_more(op, sl);
    }
    pump(op);
}

static void read_more(store_op_t *op, slot_t *sl)
{
    uv_buf_t b =
        uv_buf_init((char *)sl->buf + sl->len, (unsigned)(op->params.stripe_size - sl->len));
    op->fs.data = op;
    int err = uv_fs_read(op->s->loop, &op->fs, op->fd, &b, 1, -1, on_read);
    if (err < 0) {
        fail(op, GS_EIO, "reading the file failed: %s", uv_strerror(err));
        return;
    }
    op->reading = true;
    op->busy++;
}

/* Takes the next stripe into its slot: from memory at once, from the fd by reads. */
static void start_read(store_op_t *op)
{
    if (op->reading || op->eof || op->err)
        return;
    if (op->total_known && op->next_read >= op->total)
        return;
    slot_t *sl = &op->slots[op->next_read % op->window];
    if (sl->used)
        return;
    if (grow_ids(op, op->next_read) < 0) {
        fail(op, GS_ENOMEM, "%s", "out of memory for chunk ids");
        return;
    }
    *sl = (slot_t){.op = op,
                   .used = true,
                   .no = op->next_read,
                   .buf = sl->buf,
                   .refs = sl->refs,
                   .sc = sl->sc};
    op->next_read++;
    if (!op->from_fd) {
        size_t at = (size_t)sl->no * op->params.stripe_size;
        sl->plain = op->mem ? op->mem + at : NULL;
        sl->len =
            op->mem_len - at < op->params.stripe_size ? op->mem_len - at : op->params.stripe_size;
        sl->read_done = true;
        return;
    }
    if (!sl->buf && !(sl->buf = malloc(op->params.stripe_size))) {
        fail(op, GS_ENOMEM, "%s", "out of memory for a stripe");
        return;
    }
    sl->plain = sl->buf;
    read_more(op, sl);
}

static void pump(store_op_t *op)
{
    if (!op->err) {
        uint64_t before;
        do {
            before = op->next_read;
            start_read(op);
        } while (!op->from_fd && op->next_read != before && !op->err);
        start_hash(op);
        start_encodes(op);
    }
    maybe_finish(op);
}

/* ---- starting -------------------------------------------------------------------------- */

static int op_new(gs_shard_store_t *s, const gs_codec_store_opts_t *o, gs_codec_store_cb cb,
                  void *ud, store_op_t **out, gs_diag_t *diag)
{
    gs_codec_store_opts_t def;
    if (!o) {
        gs_codec_store_opts_default(&def);
        o = &def;
    }
    int err = gs_codec_params_check(&o->params, diag);
    if (err < 0)
        return err;
    unsigned n = o->params.data + o->params.parity;
    if (s->n_backends < n)
        return gs_diag_set(diag, GS_EINVAL, "the store has %u backends; %u + %u shards need %u",
                           s->n_backends, o->params.data, o->params.parity, n);
    if (o->ext && strlen(o->ext) > GS_CODEC_EXT_MAX)
        return gs_diag_set(diag, GS_EINVAL, "extension longer than %d characters",
                           GS_CODEC_EXT_MAX);
    if (o->inline_max > GS_CODEC_INLINE_MAX)
        return gs_diag_set(diag, GS_ERANGE, "inline files are at most %u bytes",
                           GS_CODEC_INLINE_MAX);
    if (o->window > GS__WINDOW_MAX)
        return gs_diag_set(diag, GS_ERANGE, "window over %u stripes", GS__WINDOW_MAX);
    store_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    *op = (store_op_t){.s = s,
                       .params = o->params,
                       .inline_max = o->inline_max,
                       .n = n,
                       .window = o->window ? o->window : GS__WINDOW_DEFAULT,
                       .cb = cb,
                       .ud = ud,
                       .progress = o->progress};
    if (op->window < 2)
        op->window = 2; /* a stripe's last flag waits for the next stripe's first bytes */
    unsigned cpus = uv_available_parallelism();
    op->workers = o->workers ? o->workers : (cpus > 0 ? cpus : 1);
    snprintf(op->ext, sizeof op->ext, "%s", o->ext ? o->ext : "");
    op->slots = calloc(op->window, sizeof *op->slots);
    op->ids = calloc(n, sizeof *op->ids);
    op->key = sodium_malloc(GS_CODEC_KEY_LEN);
    op->hs = aligned_alloc(64, (sizeof *op->hs + 63) / 64 * 64);
    for (unsigned i = 0; op->slots && i < op->window; i++)
        op->slots[i].refs = calloc(n, sizeof(put_ref_t));
    bool ok = op->slots && op->ids && op->key && op->hs;
    for (unsigned i = 0; ok && i < op->window; i++)
        ok = op->slots[i].refs != NULL;
    if (!ok) {
        op_free(op);
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    randombytes_buf(op->key, GS_CODEC_KEY_LEN);
    /* with more backends than shards, each file starts at a random one, so that files
     * spread over all of them (the record names each shard's backend) */
    op->first = o->spread && s->n_backends > n ? randombytes_uniform(s->n_backends) : 0;
    crypto_generichash_init(op->hs, NULL, 0, GS_CODEC_HASH_LEN);
    *out = op;
    return 0;
}

int gs_codec_store_fd(gs_shard_store_t *s, const gs_codec_store_opts_t *o, uv_file fd,
                      gs_codec_store_cb cb, void *ud, gs_diag_t *diag)
{
    store_op_t *op;
    int err = op_new(s, o, cb, ud, &op, diag);
    if (err < 0)
        return err;
    op->from_fd = true;
    op->fd = fd;
    start_read(op);
    if (op->err) {
        err = gs_diag_set(diag, op->err, "%s", op->msg);
        op_free(op);
        return err;
    }
    return 0;
}

int gs_codec_store_mem(gs_shard_store_t *s, const gs_codec_store_opts_t *o, const void *p,
                       size_t len, gs_codec_store_cb cb, void *ud, gs_diag_t *diag)
{
    store_op_t *op;
    if (len && !p)
        return gs_diag_set(diag, GS_EINVAL, "no bytes to store");
    int err = op_new(s, o, cb, ud, &op, diag);
    if (err < 0)
        return err;
    op->mem = p;
    op->mem_len = len;
    op->size = len;
    op->total_known = true;
    op->total = len ? (len + op->params.stripe_size - 1) / op->params.stripe_size : 1;
    for (uint64_t i = 0; i < op->window && i < op->total; i++)
        start_read(op);
    if (op->err) {
        err = gs_diag_set(diag, op->err, "%s", op->msg);
        op_free(op);
        return err;
    }
    start_hash(op);
    start_encodes(op);
    return 0;
}
