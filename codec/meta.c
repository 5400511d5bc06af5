/* meta.c — the metadata record of a stored file and its backup form: a compact binary
 * body (varints, shard ids as runs of consecutive ids) sealed with XChaCha20-Poly1305
 * under the deployment key, so that any CPU reads it. The decoder trusts nothing: every
 * count and length is checked against what is left and against the caps before anything
 * is allocated, and the body must be in its one canonical form (minimal varints, maximal
 * runs, nothing trailing), so that encode(decode(x)) == x. docs/codec-format.md has the
 * layout. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "internal.h"

#define MAGIC_LEN      3
#define HEADER_LEN     (MAGIC_LEN + 1)
#define NONCE_LEN      crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN        crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SEAL_LEN       (HEADER_LEN + NONCE_LEN + TAG_LEN) /* what sealing adds to a body */
#define BACKUP_VERSION 2                                  /* written; version 1 is still read */
#define VARINT_MAX     10

static const uint8_t record_magic[MAGIC_LEN] = {'G', 'S', 'M'};
static const uint8_t backup_magic[MAGIC_LEN] = {'G', 'S', 'B'};

/* ---- sealing ---- */

/* header || nonce || AEAD(plain), with the header as associated data; appended to out. */
static int seal(const uint8_t magic[MAGIC_LEN], uint8_t version, const uint8_t *plain, size_t n,
                const uint8_t key[GS_CODEC_KEY_LEN], gs_buf_t *out, gs_diag_t *diag)
{
    uint8_t head[HEADER_LEN + NONCE_LEN];
    uint8_t *ct = malloc(n + TAG_LEN);
    unsigned long long ct_len = 0;
    int err;
    if (ct == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    memcpy(head, magic, MAGIC_LEN);
    head[MAGIC_LEN] = version;
    randombytes_buf(head + HEADER_LEN, NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, plain, n, head, HEADER_LEN, NULL,
                                               head + HEADER_LEN, key);
    err = gs_buf_append(out, head, sizeof head);
    if (err == GS_OK)
        err = gs_buf_append(out, ct, (size_t)ct_len);
    free(ct);
    if (err)
        return gs_diag_set(diag, err, "sealed record of %zu bytes: %s", n + SEAL_LEN,
                           gs_strerror(err));
    return GS_OK;
}

/* Checks the clear header and opens the rest into a new sodium_malloc'ed buffer. */
static int unseal(const uint8_t magic[MAGIC_LEN], uint8_t version, const char *what,
                  const uint8_t *p, size_t n, const uint8_t key[GS_CODEC_KEY_LEN], uint8_t **plain,
                  size_t *plain_len, gs_diag_t *diag)
{
    unsigned long long len = 0;
    uint8_t *pt;
    *plain = NULL;
    if (n < HEADER_LEN || memcmp(p, magic, MAGIC_LEN) != 0)
        return gs_diag_set(diag, GS_ECORRUPT, "not a gridstor %s (its magic is wrong)", what);
    if (p[MAGIC_LEN] != version)
        return gs_diag_set(diag, GS_ECORRUPT,
                           "%s version %u is not known to this gridstor (it reads version %u)",
                           what, p[MAGIC_LEN], version);
    if (n < SEAL_LEN)
        return gs_diag_set(diag, GS_ECORRUPT, "%s truncated (%zu bytes)", what, n);
    if (n > GS_CODEC_CHUNK_MAX)
        return gs_diag_set(diag, GS_ECORRUPT, "%s of %zu bytes is over the cap", what, n);
    pt = sodium_malloc(n - SEAL_LEN + 1);
    if (pt == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &len, NULL, p + HEADER_LEN + NONCE_LEN,
                                                   n - HEADER_LEN - NONCE_LEN, p, HEADER_LEN,
                                                   p + HEADER_LEN, key) != 0) {
        sodium_free(pt);
        return gs_diag_set(diag, GS_ECORRUPT, "%s does not open with this deployment key", what);
    }
    *plain = pt;
    *plain_len = (size_t)len;
    return GS_OK;
}

/* ---- the body writer: counts when p is NULL, so one function sizes and writes ---- */

typedef struct {
    uint8_t *p;
    size_t len;
} writer_t;

static void put(writer_t *w, const void *b, size_t n)
{
    if (w->p && n)
        memcpy(w->p + w->len, b, n);
    w->len += n;
}

static void put_u8(writer_t *w, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(w, &b, 1);
}

static void put_varint(writer_t *w, uint64_t v)
{
    uint8_t b[VARINT_MAX];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    put(w, b, n);
}

static void put_runs(writer_t *w, const uint64_t *ids, uint64_t n)
{
    uint64_t runs = 0;
    for (uint64_t i = 0; i < n; i++)
        runs += i == 0 || ids[i] != ids[i - 1] + 1;
    put_varint(w, runs);
    for (uint64_t i = 0; i < n;) {
        uint64_t j = i + 1;
        while (j < n && ids[j] == ids[j - 1] + 1)
            j++;
        put_varint(w, ids[i]);
        put_varint(w, j - i);
        i = j;
    }
}

static void write_body(writer_t *w, const gs_meta_t *m)
{
    uint8_t created[8];
    size_t ext_len = strlen(m->ext);
    for (int i = 0; i < 8; i++)
        created[i] = (uint8_t)((uint64_t)m->created >> (8 * i));
    put(w, m->hash, GS_CODEC_HASH_LEN);
    put_varint(w, m->size);
    put_u8(w, (unsigned)ext_len);
    put(w, m->ext, ext_len);
    put(w, created, 8);
    put_u8(w, m->params.data);
    put_u8(w, m->params.parity);
    put_varint(w, m->params.stripe_size);
    put_u8(w, (unsigned)m->params.zstd_level);
    put_u8(w, (unsigned)m->params.cipher);
    put(w, m->file_key, GS_CODEC_KEY_LEN);
    put_varint(w, m->n_stripes);
    put_u8(w, m->n_shards);
    for (unsigned s = 0; s < m->n_shards; s++) {
        size_t name_len = strlen(m->shards[s].backend);
        put_u8(w, (unsigned)name_len);
        put(w, m->shards[s].backend, name_len);
        put_runs(w, m->shards[s].ids, m->n_stripes);
    }
    put_varint(w, m->inline_len);
    put(w, m->inline_data, m->inline_len);
}

/* ---- what a valid record is, for both directions ---- */

static bool backend_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

static int check_params(const gs_codec_params_t *p, gs_diag_t *diag)
{
    gs_codec_params_t any_cpu = *p;
    gs_diag_t d;
    if (p->cipher != GS_CIPHER_AES256GCM && p->cipher != GS_CIPHER_XCHACHA20POLY1305)
        return gs_diag_set(diag, GS_EINVAL, "unknown cipher %d", (int)p->cipher);
    /* A record stays readable on a CPU without AES; only its content would not be. */
    any_cpu.cipher = GS_CIPHER_XCHACHA20POLY1305;
    if (gs_codec_params_check(&any_cpu, &d) != GS_OK)
        return gs_diag_set(diag, GS_EINVAL, "codec parameters: %s", d.msg);
    return GS_OK;
}

static int check_shards(const gs_meta_t *m, gs_diag_t *diag)
{
    if (m->n_shards != m->params.data + m->params.parity)
        return gs_diag_set(diag, GS_EINVAL, "%u shards for a %u + %u codec", m->n_shards,
                           m->params.data, m->params.parity);
    if (m->n_stripes > GS_META_MAX_CHUNKS / m->n_shards)
        return gs_diag_set(diag, GS_EINVAL, "%llu stripes x %u shards is over %u chunks",
                           (unsigned long long)m->n_stripes, m->n_shards, GS_META_MAX_CHUNKS);
    if (m->inline_len != 0 || m->shards == NULL)
        return gs_diag_set(diag, GS_EINVAL, "a sharded file has shards and no inline data");
    for (unsigned s = 0; s < m->n_shards; s++) {
        if (m->shards[s].backend == NULL || !backend_name_ok(m->shards[s].backend))
            return gs_diag_set(diag, GS_EINVAL,
                               "shard %u: a backend name is 1..255 printable characters", s);
        if (m->shards[s].ids == NULL)
            return gs_diag_set(diag, GS_EINVAL, "shard %u has no ids", s);
    }
    return GS_OK;
}

static int check_meta(const gs_meta_t *m, gs_diag_t *diag)
{
    int err = check_params(&m->params, diag);
    uint64_t want;
    if (err)
        return err;
    if (memchr(m->ext, '\0', sizeof m->ext) == NULL || !gs_codec_ext_valid(m->ext))
        return gs_diag_set(diag, GS_EINVAL, "extension: 1..%d characters of a-z 0-9, or none",
                           GS_CODEC_EXT_MAX);
    if (m->file_key == NULL)
        return gs_diag_set(diag, GS_EINVAL, "no file key");
    want = m->size ? (m->size - 1) / m->params.stripe_size + 1 : 1;
    if (m->n_stripes != want)
        return gs_diag_set(diag, GS_EINVAL, "%llu stripes for %llu bytes in stripes of %zu",
                           (unsigned long long)m->n_stripes, (unsigned long long)m->size,
                           m->params.stripe_size);
    if (m->n_shards != 0)
        return check_shards(m, diag);
    if (m->inline_data == NULL || m->inline_len == 0)
        return gs_diag_set(diag, GS_EINVAL, "a record has either shards or inline data");
    return GS_OK;
}

/* ---- encoding ---- */

int gs__meta_body_encode(const gs_meta_t *m, uint8_t **body, size_t *len, gs_diag_t *diag)
{
    writer_t w = {NULL, 0};
    int err = check_meta(m, diag);
    *body = NULL;
    if (err)
        return err;
    write_body(&w, m);
    if (w.len > GS_META_MAX - SEAL_LEN)
        return gs_diag_set(diag, GS_ETOOBIG, "metadata record of %zu bytes is over %u bytes",
                           w.len + SEAL_LEN, (unsigned)GS_META_MAX);
    *len = w.len;
    w.p = sodium_malloc(w.len ? w.len : 1);
    if (w.p == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    w.len = 0;
    write_body(&w, m);
    *body = w.p;
    return GS_OK;
}

int gs_meta_encode(const gs_meta_t *m, const uint8_t deploy_key[GS_CODEC_KEY_LEN], gs_buf_t *out,
                   gs_diag_t *diag)
{
    uint8_t *body;
    size_t len;
    int err;
    if (sodium_init() < 0)
        return gs_diag_set(diag, GS_EIO, "libsodium did not initialise");
    err = gs__meta_body_encode(m, &body, &len, diag);
    if (err)
        return err;
    err = seal(record_magic, GS_META_VERSION, body, len, deploy_key, out, diag);
    sodium_free(body);
    return err;
}

/* ---- decoding ---- */

typedef struct {
    const uint8_t *p;
    size_t left;
    gs_diag_t *diag;
} reader_t;

static int corrupt(reader_t *r, const char *what)
{
    return gs_diag_set(r->diag, GS_ECORRUPT, "metadata record: %s", what);
}

static int get(reader_t *r, void *out, size_t n)
{
    if (r->left < n)
        return corrupt(r, "truncated");
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return GS_OK;
}

static int get_u8(reader_t *r, unsigned *v)
{
    uint8_t b = 0;
    int err = get(r, &b, 1);
    *v = b;
    return err;
}

/* LEB128, in its shortest form only. */
static int get_varint(reader_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < VARINT_MAX; i++) {
        uint8_t b = 0;
        if (get(r, &b, 1))
            return GS_ECORRUPT;
        if (i == 9 && b > 1)
            return corrupt(r, "a number is over 64 bits");
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return corrupt(r, "a number is not in its shortest form");
            *v = x;
            return GS_OK;
        }
    }
    return corrupt(r, "a number is over 64 bits");
}

/* A varint that must be in [lo, hi]. */
static int get_bounded(reader_t *r, uint64_t lo, uint64_t hi, const char *what, uint64_t *v)
{
    int err = get_varint(r, v);
    if (err)
        return err;
    if (*v < lo || *v > hi)
        return corrupt(r, what);
    return GS_OK;
}

static int get_head(reader_t *r, gs_meta_t *m)
{
    uint8_t created[8];
    unsigned ext_len, data, parity, level, cipher;
    uint64_t stripe;
    uint64_t c = 0;
    gs_diag_t d;
    int err;
    if ((err = get(r, m->hash, GS_CODEC_HASH_LEN)) || (err = get_varint(r, &m->size)) ||
        (err = get_u8(r, &ext_len)))
        return err;
    if (ext_len > GS_CODEC_EXT_MAX)
        return corrupt(r, "extension too long");
    if ((err = get(r, m->ext, ext_len)) || (err = get(r, created, 8)) || (err = get_u8(r, &data)) ||
        (err = get_u8(r, &parity)) ||
        (err = get_bounded(r, 1, SIZE_MAX, "stripe size out of range", &stripe)) ||
        (err = get_u8(r, &level)) || (err = get_u8(r, &cipher)))
        return err;
    for (int i = 7; i >= 0; i--)
        c = (c << 8) | created[i];
    m->created = (int64_t)c;
    m->params = (gs_codec_params_t){data, parity, (size_t)stripe, (int)level, (gs_cipher_t)cipher};
    if (strlen(m->ext) != ext_len || !gs_codec_ext_valid(m->ext))
        return corrupt(r, "extension is not 1..16 characters of a-z 0-9");
    return check_params(&m->params, &d) ? corrupt(r, d.msg) : GS_OK;
}

/* One shard's ids, expanded from runs; the runs must cover exactly n_stripes ids. */
static int get_ids(reader_t *r, uint64_t n_stripes, uint64_t *ids)
{
    uint64_t n_runs, done = 0, first, count;
    int err = get_bounded(r, 1, n_stripes, "run count out of range", &n_runs);
    if (err)
        return err;
    if (n_runs > r->left / 2)
        return corrupt(r, "truncated");
    for (uint64_t i = 0; i < n_runs; i++) {
        if ((err = get_varint(r, &first)) ||
            (err = get_bounded(r, 1, n_stripes - done, "run length out of range", &count)))
            return err;
        if (first > UINT64_MAX - (count - 1))
            return corrupt(r, "run past the largest id");
        if (done && ids[done - 1] != UINT64_MAX && first == ids[done - 1] + 1)
            return corrupt(r, "two runs that are one");
        for (uint64_t k = 0; k < count; k++)
            ids[done++] = first + k;
    }
    return done == n_stripes ? GS_OK : corrupt(r, "runs do not cover every stripe");
}

static int get_shard(reader_t *r, uint64_t n_stripes, gs_meta_shard_t *sh)
{
    unsigned name_len;
    int err = get_u8(r, &name_len);
    if (err)
        return err;
    if (name_len == 0 || name_len > r->left)
        return corrupt(r, name_len ? "truncated" : "empty backend name");
    sh->backend = malloc(name_len + 1);
    if (sh->backend == NULL)
        return gs_diag_set(r->diag, GS_ENOMEM, "out of memory");
    get(r, sh->backend, name_len);
    sh->backend[name_len] = '\0';
    if (strlen(sh->backend) != name_len || !backend_name_ok(sh->backend))
        return corrupt(r, "backend name is not printable");
    sh->ids = malloc(n_stripes * sizeof *sh->ids);
    if (sh->ids == NULL)
        return gs_diag_set(r->diag, GS_ENOMEM, "out of memory");
    return get_ids(r, n_stripes, sh->ids);
}

static int get_layout(reader_t *r, gs_meta_t *m)
{
    uint64_t want = m->size ? (m->size - 1) / m->params.stripe_size + 1 : 1;
    unsigned n_shards;
    int err;
    if ((err = get_varint(r, &m->n_stripes)) || (err = get_u8(r, &n_shards)))
        return err;
    if (m->n_stripes != want)
        return corrupt(r, "stripe count does not match the size");
    if (n_shards != 0 && n_shards != m->params.data + m->params.parity)
        return corrupt(r, "shard count does not match the codec");
    if (n_shards != 0 && m->n_stripes > GS_META_MAX_CHUNKS / n_shards)
        return corrupt(r, "too many chunks");
    if (n_shards != 0 && (size_t)n_shards * 5 > r->left)
        return corrupt(r, "truncated");
    m->shards = n_shards ? calloc(n_shards, sizeof *m->shards) : NULL;
    if (n_shards && m->shards == NULL)
        return gs_diag_set(r->diag, GS_ENOMEM, "out of memory");
    m->n_shards = n_shards;
    for (unsigned s = 0; s < n_shards; s++)
        if ((err = get_shard(r, m->n_stripes, &m->shards[s])))
            return err;
    return GS_OK;
}

static int get_inline(reader_t *r, gs_meta_t *m)
{
    uint64_t len;
    int err = get_varint(r, &len);
    if (err)
        return err;
    if ((m->n_shards == 0) != (len > 0))
        return corrupt(r, "a record has either shards or inline data");
    if (len > r->left)
        return corrupt(r, "truncated");
    if (len) {
        m->inline_data = malloc((size_t)len);
        if (m->inline_data == NULL)
            return gs_diag_set(r->diag, GS_ENOMEM, "out of memory");
        m->inline_len = (size_t)len;
        get(r, m->inline_data, m->inline_len);
    }
    return r->left == 0 ? GS_OK : corrupt(r, "bytes after the end");
}

int gs__meta_body_decode(const uint8_t *p, size_t n, gs_meta_t **out, gs_diag_t *diag)
{
    reader_t r = {p, n, diag};
    gs_meta_t *m = calloc(1, sizeof *m);
    int err;
    *out = NULL;
    if (m == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    m->file_key = sodium_malloc(GS_CODEC_KEY_LEN);
    if (m->file_key == NULL)
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
    else if ((err = get_head(&r, m)) == GS_OK &&
             (err = get(&r, m->file_key, GS_CODEC_KEY_LEN)) == GS_OK &&
             (err = get_layout(&r, m)) == GS_OK)
        err = get_inline(&r, m);
    if (err) {
        gs_meta_free(m);
        return err;
    }
    *out = m;
    return GS_OK;
}

int gs_meta_decode(const uint8_t *p, size_t n, const uint8_t deploy_key[GS_CODEC_KEY_LEN],
                   gs_meta_t **out, gs_diag_t *diag)
{
    uint8_t *body;
    size_t len;
    int err;
    *out = NULL;
    if (sodium_init() < 0)
        return gs_diag_set(diag, GS_EIO, "libsodium did not initialise");
    if (n > GS_META_MAX)
        return gs_diag_set(diag, GS_ECORRUPT, "metadata record of %zu bytes is over %u bytes", n,
                           (unsigned)GS_META_MAX);
    err = unseal(record_magic, GS_META_VERSION, "metadata record", p, n, deploy_key, &body, &len,
                 diag);
    if (err)
        return err;
    err = gs__meta_body_decode(body, len, out, diag);
    sodium_free(body);
    return err;
}

void gs_meta_free(gs_meta_t *m)
{
    if (m == NULL)
        return;
    for (unsigned s = 0; m->shards && s < m->n_shards; s++) {
        free(m->shards[s].backend);
        free(m->shards[s].ids);
    }
    free(m->shards);
    free(m->inline_data);
    sodium_free(m->file_key);
    free(m);
}

/* ---- the backup form ---- */

/* Version 2: meta_id (8) || revision (8) || record; version 1, still read: meta_id (8) ||
 * record, revision 0. */
#define BACKUP_V1   1
#define BACKUP_HEAD 16

uint64_t gs_meta_backup_revision_now(void)
{
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv) != 0 || tv.tv_sec < 0)
        return 1;
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

int gs_meta_backup_encode_rev(const uint8_t *record, size_t len, uint64_t meta_id,
                              uint64_t revision, const uint8_t deploy_key[GS_CODEC_KEY_LEN],
                              gs_buf_t *out, gs_diag_t *diag)
{
    uint8_t *plain;
    int err;
    if (sodium_init() < 0)
        return gs_diag_set(diag, GS_EIO, "libsodium did not initialise");
    if (len > GS_META_MAX)
        return gs_diag_set(diag, GS_ETOOBIG, "metadata record of %zu bytes is over %u bytes", len,
                           (unsigned)GS_META_MAX);
    plain = malloc(BACKUP_HEAD + len);
    if (plain == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    gs__put_le64(plain, meta_id);
    gs__put_le64(plain + 8, revision);
    if (len)
        memcpy(plain + BACKUP_HEAD, record, len);
    err = seal(backup_magic, BACKUP_VERSION, plain, BACKUP_HEAD + len, deploy_key, out, diag);
    free(plain);
    return err;
}

int gs_meta_backup_encode(const uint8_t *record, size_t len, uint64_t meta_id,
                          const uint8_t deploy_key[GS_CODEC_KEY_LEN], gs_buf_t *out,
                          gs_diag_t *diag)
{
    return gs_meta_backup_encode_rev(record, len, meta_id, gs_meta_backup_revision_now(),
                                     deploy_key, out, diag);
}

bool gs_meta_backup_is(const uint8_t *p, size_t n)
{
    return n >= SEAL_LEN + 8 && memcmp(p, backup_magic, MAGIC_LEN) == 0 &&
           (p[MAGIC_LEN] == BACKUP_V1 || p[MAGIC_LEN] == BACKUP_VERSION);
}

int gs_meta_backup_open(const uint8_t *p, size_t n, const uint8_t deploy_key[GS_CODEC_KEY_LEN],
                        uint64_t *meta_id, uint64_t *revision, gs_buf_t *record, gs_diag_t *diag)
{
    uint8_t *plain;
    size_t len, head;
    uint8_t version = n > MAGIC_LEN && p[MAGIC_LEN] == BACKUP_V1 ? BACKUP_V1 : BACKUP_VERSION;
    int err;
    if (sodium_init() < 0)
        return gs_diag_set(diag, GS_EIO, "libsodium did not initialise");
    err = unseal(backup_magic, version, "metadata backup", p, n, deploy_key, &plain, &len, diag);
    if (err)
        return err;
    head = version == BACKUP_V1 ? 8 : BACKUP_HEAD;
    if (len < head || len - head > GS_META_MAX) {
        sodium_free(plain);
        return gs_diag_set(diag, GS_ECORRUPT, "metadata backup: wrong length");
    }
    err = gs_buf_append(record, plain + head, len - head);
    if (err == GS_OK) {
        *meta_id = gs__get_le64(plain);
        if (revision != NULL)
            *revision = version == BACKUP_V1 ? 0 : gs__get_le64(plain + 8);
    }
    sodium_free(plain);
    if (err)
        return gs_diag_set(diag, err, "metadata backup: %s", gs_strerror(err));
    return GS_OK;
}

int gs_meta_backup_decode(const uint8_t *p, size_t n, const uint8_t deploy_key[GS_CODEC_KEY_LEN],
                          uint64_t *meta_id, gs_buf_t *record, gs_diag_t *diag)
{
    return gs_meta_backup_open(p, n, deploy_key, meta_id, NULL, record, diag);
}
