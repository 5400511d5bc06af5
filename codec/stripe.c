/* stripe.c — one stripe of a file to data + parity chunks and back: zstd when it pays,
 * AEAD with the file's key, Reed-Solomon (ISA-L, Cauchy matrix) over the ciphertext, and a
 * CRC32C per chunk so a bad chunk is found alone. Pure functions: no state outside their
 * arguments, so the pipelines run them on any threadpool thread. */
#include <stdlib.h>
#include <string.h>

#include <isa-l.h>
#include <sodium.h>
#include <zstd.h>

#include "codec.h"
#include "internal.h"

#define MAGIC        "GSCK"
#define VERSION      1
#define F_COMPRESSED 1u
#define F_LAST       2u
#define TAG_LEN      16u /* AES-256-GCM and XChaCha20-Poly1305 alike */
#define AD_LEN       24u
#define CRC_AT       32u

/* Whether to compress is decided from samples. On incompressible data zstd at level 3 still
 * costs about a third of AES-GCM over the same stripe (measured: 1.0 ms against 3.3 ms for
 * 4 MiB of random bytes) and its output is then thrown away; four 16 KiB samples at level 1
 * cost 0.03 ms. So a stripe is compressed whole only when its samples shrink by 1/16 or
 * more, and the result is kept only when it is smaller than the stripe. Short stripes are
 * simply tried whole. */
#define SAMPLE_MIN   ((size_t)64 * 1024)
#define SAMPLE_LEN   ((size_t)16 * 1024)
#define SAMPLE_COUNT 4u
#define SAMPLE_LEVEL 1

void gs_stripe_free(gs_stripe_t *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < GS_CODEC_MAX_SHARDS; i++) {
        free(s->chunk[i]);
        s->chunk[i] = NULL;
    }
    s->n = 0;
    s->chunk_len = 0;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    uint8_t *p = realloc(*buf, need);
    if (!p)
        return GS_ENOMEM;
    *buf = p;
    *cap = need;
    return 0;
}

void gs__scratch_free(gs__scratch_t *sc)
{
    if (!sc)
        return;
    free(sc->ct);
    free(sc->comp);
    free(sc->chunks);
    ZSTD_freeCCtx(sc->cctx);
    ZSTD_freeDCtx(sc->dctx);
    memset(sc, 0, sizeof *sc);
}

static bool samples_shrink(ZSTD_CCtx *cc, uint8_t *buf, size_t cap, const uint8_t *plain,
                           size_t len)
{
    if (len < SAMPLE_MIN)
        return true;
    size_t in = 0, outn = 0;
    for (unsigned i = 0; i < SAMPLE_COUNT; i++) {
        size_t at = (len - SAMPLE_LEN) / (SAMPLE_COUNT - 1) * i;
        size_t r = ZSTD_compressCCtx(cc, buf, cap, plain + at, SAMPLE_LEN, SAMPLE_LEVEL);
        if (ZSTD_isError(r))
            return false;
        in += SAMPLE_LEN;
        outn += r;
    }
    return outn * 16 <= in * 15;
}

/* The compressed body in sc->comp and its length, or false to keep the raw bytes. */
static bool try_compress(gs__scratch_t *sc, const gs_codec_params_t *p, const uint8_t *plain,
                         size_t len, size_t *comp_len)
{
    if (len == 0)
        return false;
    size_t cap = ZSTD_compressBound(len);
    if (!sc->cctx && !(sc->cctx = ZSTD_createCCtx()))
        return false;
    if (grow(&sc->comp, &sc->comp_cap, cap) < 0 ||
        !samples_shrink(sc->cctx, sc->comp, cap, plain, len))
        return false;
    size_t r = ZSTD_compressCCtx(sc->cctx, sc->comp, cap, plain, len, p->zstd_level);
    if (ZSTD_isError(r) || r >= len)
        return false;
    *comp_len = r;
    return true;
}

static void make_nonce(uint64_t stripe_no, uint8_t nonce[24])
{
    memset(nonce, 0, 24);
    gs__put_le64(nonce, stripe_no);
}

/* Associated data: what a chunk's header claims about the stripe, so that moving a stripe,
 * dropping the last ones (the last flag) or flipping the compressed flag fails
 * authentication. */
static void make_ad(const gs_chunk_info_t *ci, uint8_t ad[AD_LEN])
{
    memcpy(ad, "gsad", 4);
    ad[4] = VERSION;
    ad[5] = (uint8_t)((ci->compressed ? F_COMPRESSED : 0) | (ci->last ? F_LAST : 0));
    ad[6] = (uint8_t)ci->cipher;
    ad[7] = 0;
    gs__put_le64(ad + 8, ci->stripe_no);
    gs__put_le32(ad + 16, ci->plain_len);
    gs__put_le32(ad + 20, ci->ct_len);
}

static int seal(const gs_chunk_info_t *ci, const uint8_t *key, const uint8_t *m, size_t mlen,
                uint8_t *c)
{
    uint8_t nonce[24], ad[AD_LEN];
    unsigned long long clen = 0;
    make_nonce(ci->stripe_no, nonce);
    make_ad(ci, ad);
    if (ci->cipher == GS_CIPHER_AES256GCM)
        return crypto_aead_aes256gcm_encrypt(c, &clen, m, mlen, ad, AD_LEN, NULL, nonce, key);
    return crypto_aead_xchacha20poly1305_ietf_encrypt(c, &clen, m, mlen, ad, AD_LEN, NULL, nonce,
                                                      key);
}

static int open_sealed(const gs_chunk_info_t *ci, const uint8_t *key, const uint8_t *c, uint8_t *m)
{
    uint8_t nonce[24], ad[AD_LEN];
    unsigned long long mlen = 0;
    make_nonce(ci->stripe_no, nonce);
    make_ad(ci, ad);
    if (ci->cipher == GS_CIPHER_AES256GCM)
        return crypto_aead_aes256gcm_decrypt(m, &mlen, NULL, c, ci->ct_len, ad, AD_LEN, nonce, key);
    return crypto_aead_xchacha20poly1305_ietf_decrypt(m, &mlen, NULL, c, ci->ct_len, ad, AD_LEN,
                                                      nonce, key);
}

static void write_header(uint8_t *h, const gs_chunk_info_t *ci)
{
    memcpy(h, MAGIC, 4);
    h[4] = VERSION;
    h[5] = (uint8_t)((ci->compressed ? F_COMPRESSED : 0) | (ci->last ? F_LAST : 0));
    h[6] = (uint8_t)ci->cipher;
    h[7] = 0;
    h[8] = (uint8_t)ci->shard;
    h[9] = (uint8_t)ci->data;
    h[10] = (uint8_t)ci->parity;
    h[11] = 0;
    gs__put_le32(h + 12, ci->payload_len);
    gs__put_le64(h + 16, ci->stripe_no);
    gs__put_le32(h + 24, ci->ct_len);
    gs__put_le32(h + 28, ci->plain_len);
}

static uint32_t chunk_crc(const uint8_t *chunk, size_t payload_len)
{
    uint32_t crc = crc32_iscsi((unsigned char *)chunk, CRC_AT, 0xFFFFFFFFu);
    return crc32_iscsi((unsigned char *)chunk + GS_STRIPE_HDR_LEN, (int)payload_len, crc);
}

/* Stamps shard i's header and CRC onto a chunk whose payload is already in place. */
static void finish_chunk(uint8_t *chunk, const gs_chunk_info_t *ref, unsigned shard)
{
    gs_chunk_info_t ci = *ref;
    ci.shard = shard;
    write_header(chunk, &ci);
    gs__put_le32(chunk + CRC_AT, chunk_crc(chunk, ci.payload_len));
}

/* Rows miss[0..nm) of the code (data or parity) from k source rows src_rows, whose
 * payloads are srcs: decode matrix = rows of A times the inverse of A's source rows. */
static int rs_recover(unsigned k, unsigned n, const unsigned *src_rows, uint8_t **srcs,
                      const unsigned *miss, unsigned nm, uint8_t **outs, size_t len)
{
    uint8_t *a = malloc((size_t)n * k), *sub = malloc((size_t)k * k), *inv = malloc((size_t)k * k);
    uint8_t *rows = malloc((size_t)nm * k), *tbl = malloc((size_t)32 * k * nm);
    int err = GS_ENOMEM;
    if (!a || !sub || !inv || !rows || !tbl)
        goto out;
    gf_gen_cauchy1_matrix(a, (int)n, (int)k);
    for (unsigned r = 0; r < k; r++)
        memcpy(sub + (size_t)r * k, a + (size_t)src_rows[r] * k, k);
    err = GS_ECORRUPT;
    if (gf_invert_matrix(sub, inv, (int)k) != 0)
        goto out;
    for (unsigned m = 0; m < nm; m++) {
        uint8_t *row = rows + (size_t)m * k;
        if (miss[m] < k) {
            memcpy(row, inv + (size_t)miss[m] * k, k);
            continue;
        }
        const uint8_t *am = a + (size_t)miss[m] * k;
        for (unsigned j = 0; j < k; j++) {
            uint8_t s = 0;
            for (unsigned t = 0; t < k; t++)
                s ^= gf_mul(am[t], inv[(size_t)t * k + j]);
            row[j] = s;
        }
    }
    ec_init_tables((int)k, (int)nm, rows, tbl);
    ec_encode_data((int)len, (int)k, (int)nm, tbl, srcs, outs);
    err = 0;
out:
    free(a);
    free(sub);
    free(inv);
    free(rows);
    free(tbl);
    return err;
}

static int rs_parity(const gs_codec_params_t *p, gs_stripe_t *s, size_t shard_len)
{
    unsigned k = p->data, m = p->parity;
    if (m == 0)
        return 0;
    uint8_t *a = malloc((size_t)(k + m) * k), *tbl = malloc((size_t)32 * k * m);
    uint8_t *src[GS_CODEC_MAX_SHARDS], *dst[GS_CODEC_MAX_SHARDS];
    if (!a || !tbl) {
        free(a);
        free(tbl);
        return GS_ENOMEM;
    }
    for (unsigned i = 0; i < k + m; i++)
        *(i < k ? &src[i] : &dst[i - k]) = s->chunk[i] + GS_STRIPE_HDR_LEN;
    gf_gen_cauchy1_matrix(a, (int)(k + m), (int)k);
    ec_init_tables((int)k, (int)m, a + (size_t)k * k, tbl);
    ec_encode_data((int)shard_len, (int)k, (int)m, tbl, src, dst);
    free(a);
    free(tbl);
    return 0;
}

/* Copies the padded ciphertext into the data chunks, adds parity, stamps every chunk. */
static int split_into(const gs_codec_params_t *p, const gs_chunk_info_t *ci, const uint8_t *ct,
                      gs_stripe_t *out, uint64_t *rs_ns, gs_diag_t *diag)
{
    unsigned n = p->data + p->parity;
    for (unsigned i = 0; i < p->data; i++)
        memcpy(out->chunk[i] + GS_STRIPE_HDR_LEN, ct + (size_t)i * ci->payload_len,
               ci->payload_len);
    uint64_t t0 = uv_hrtime();
    if (rs_parity(p, out, ci->payload_len) < 0)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory for Reed-Solomon tables");
    *rs_ns += uv_hrtime() - t0;
    for (unsigned i = 0; i < n; i++)
        finish_chunk(out->chunk[i], ci, i);
    return 0;
}

/* Compresses when it pays and encrypts into sc->ct, zero-padded to data * payload_len. */
static int seal_stripe(gs__scratch_t *sc, const gs_codec_params_t *p, const uint8_t *key,
                       uint64_t stripe_no, bool last, const uint8_t *plain, size_t len,
                       gs_chunk_info_t *ci, gs_diag_t *diag)
{
    if (len > p->stripe_size || (len && !plain) || p->data < 1 ||
        p->data + p->parity > GS_CODEC_MAX_SHARDS || len > UINT32_MAX - TAG_LEN)
        return gs_diag_set(diag, GS_EINVAL, "stripe %llu: %zu bytes do not fit the parameters",
                           (unsigned long long)stripe_no, len);
    size_t body_len = len;
    const uint8_t *body = plain;
    *ci = (gs_chunk_info_t){.stripe_no = stripe_no,
                            .data = p->data,
                            .parity = p->parity,
                            .cipher = p->cipher,
                            .last = last,
                            .plain_len = (uint32_t)len};
    if (try_compress(sc, p, plain, len, &body_len)) {
        body = sc->comp;
        ci->compressed = true;
    }
    ci->ct_len = (uint32_t)(body_len + TAG_LEN);
    ci->payload_len = (ci->ct_len + p->data - 1) / p->data;
    size_t padded = (size_t)ci->payload_len * p->data;
    if (grow(&sc->ct, &sc->ct_cap, padded) < 0)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory for stripe %llu",
                           (unsigned long long)stripe_no);
    memset(sc->ct + ci->ct_len, 0, padded - ci->ct_len);
    if (seal(ci, key, body, body_len, sc->ct) != 0)
        return gs_diag_set(diag, GS_EINVAL, "stripe %llu: encryption failed",
                           (unsigned long long)stripe_no);
    return 0;
}

int gs__stripe_encode_reuse(gs__scratch_t *sc, const gs_codec_params_t *p, const uint8_t *key,
                            uint64_t stripe_no, bool last, const uint8_t *plain, size_t len,
                            gs_stripe_t *out, gs_diag_t *diag)
{
    gs_chunk_info_t ci;
    memset(out, 0, sizeof *out);
    int err = seal_stripe(sc, p, key, stripe_no, last, plain, len, &ci, diag);
    if (err < 0)
        return err;
    unsigned n = p->data + p->parity;
    size_t clen = GS_STRIPE_HDR_LEN + ci.payload_len;
    if (grow(&sc->chunks, &sc->chunks_cap, clen * n) < 0)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory for a stripe's chunks");
    out->n = n;
    out->chunk_len = clen;
    for (unsigned i = 0; i < n; i++)
        out->chunk[i] = sc->chunks + clen * i;
    return split_into(p, &ci, sc->ct, out, &sc->rs_ns, diag);
}

int gs_stripe_encode(const gs_codec_params_t *p, const uint8_t *key, uint64_t stripe_no, bool last,
                     const uint8_t *plain, size_t len, gs_stripe_t *out, gs_diag_t *diag)
{
    gs__scratch_t sc = {0};
    gs_chunk_info_t ci;
    memset(out, 0, sizeof *out);
    int err = seal_stripe(&sc, p, key, stripe_no, last, plain, len, &ci, diag);
    if (err < 0)
        goto out;
    out->n = p->data + p->parity;
    out->chunk_len = GS_STRIPE_HDR_LEN + ci.payload_len;
    for (unsigned i = 0; i < out->n; i++)
        if (!(out->chunk[i] = malloc(out->chunk_len))) {
            err = gs_diag_set(diag, GS_ENOMEM, "out of memory for a stripe's chunks");
            goto out;
        }
    err = split_into(p, &ci, sc.ct, out, &sc.rs_ns, diag);
out:
    gs__scratch_free(&sc);
    if (err < 0)
        gs_stripe_free(out);
    return err;
}

int gs_stripe_chunk_parse(const uint8_t *c, size_t n, gs_chunk_info_t *ci, gs_diag_t *diag)
{
    if (!c || n < GS_STRIPE_HDR_LEN)
        return gs_diag_set(diag, GS_ECORRUPT, "chunk of %zu bytes is shorter than its header", n);
    if (memcmp(c, MAGIC, 4) != 0 || c[4] != VERSION)
        return gs_diag_set(diag, GS_ECORRUPT, "not a gridstor chunk (magic or version)");
    ci->compressed = c[5] & F_COMPRESSED;
    ci->last = c[5] & F_LAST;
    ci->cipher = (gs_cipher_t)c[6];
    ci->shard = c[8];
    ci->data = c[9];
    ci->parity = c[10];
    ci->payload_len = gs__get_le32(c + 12);
    ci->stripe_no = gs__get_le64(c + 16);
    ci->ct_len = gs__get_le32(c + 24);
    ci->plain_len = gs__get_le32(c + 28);
    if ((size_t)ci->payload_len != n - GS_STRIPE_HDR_LEN)
        return gs_diag_set(diag, GS_ECORRUPT, "chunk length %zu does not match its header", n);
    if (gs__get_le32(c + CRC_AT) != chunk_crc(c, ci->payload_len))
        return gs_diag_set(diag, GS_ECORRUPT, "chunk checksum mismatch");
    if ((c[5] & ~(F_COMPRESSED | F_LAST)) || c[7] || c[11] || ci->data < 1 ||
        ci->shard >= ci->data + ci->parity || ci->data + ci->parity > GS_CODEC_MAX_SHARDS ||
        (ci->cipher != GS_CIPHER_AES256GCM && ci->cipher != GS_CIPHER_XCHACHA20POLY1305) ||
        ci->ct_len < TAG_LEN || ci->payload_len != (ci->ct_len + ci->data - 1) / ci->data ||
        (ci->compressed ? ci->ct_len - TAG_LEN >= ci->plain_len
                        : ci->ct_len - TAG_LEN != ci->plain_len))
        return gs_diag_set(diag, GS_ECORRUPT, "chunk header is inconsistent");
    return 0;
}

/* A sound chunk that belongs where it was found: this stripe, this shard, these counts,
 * and the same lengths and flags as the reference chunk when there is one. */
static bool chunk_fits(const gs_codec_params_t *p, uint64_t stripe_no, unsigned shard,
                       const uint8_t *c, size_t n, const gs_chunk_info_t *ref, gs_chunk_info_t *ci)
{
    if (gs_stripe_chunk_parse(c, n, ci, NULL) < 0)
        return false;
    if (ci->stripe_no != stripe_no || ci->shard != shard || ci->data != p->data ||
        ci->parity != p->parity || ci->cipher != p->cipher || ci->plain_len > p->stripe_size)
        return false;
    return !ref || (ci->payload_len == ref->payload_len && ci->ct_len == ref->ct_len &&
                    ci->plain_len == ref->plain_len && ci->compressed == ref->compressed &&
                    ci->last == ref->last);
}

/* Sorts chunks into good ones; the first good chunk is the reference for the others. */
static unsigned sort_chunks(const gs_codec_params_t *p, uint64_t stripe_no,
                            const uint8_t *const *chunks, const size_t *lens, bool *ok, bool *bad,
                            gs_chunk_info_t *ref)
{
    unsigned n = p->data + p->parity, good = 0;
    for (unsigned i = 0; i < n; i++) {
        gs_chunk_info_t ci;
        ok[i] = false;
        if (!chunks[i])
            continue;
        if (!chunk_fits(p, stripe_no, i, chunks[i], lens[i], good ? ref : NULL, &ci)) {
            if (bad)
                bad[i] = true;
            continue;
        }
        if (!good)
            *ref = ci;
        ok[i] = true;
        good++;
    }
    return good;
}

static int too_few(const gs_codec_params_t *p, uint64_t stripe_no, unsigned good, gs_diag_t *diag)
{
    return gs_diag_set(
        diag, GS_EUNAVAIL,
        "stripe %llu: only %u of its %u chunks are available and sound; %u are needed",
        (unsigned long long)stripe_no, good, p->data + p->parity, p->data);
}

/* The padded ciphertext: good data chunks copied, missing ones rebuilt in place. */
static int gather_ct(const gs_codec_params_t *p, const uint8_t *const *chunks, const bool *ok,
                     size_t plen, uint8_t *ct)
{
    unsigned k = p->data, n = p->data + p->parity, nm = 0, ns = 0;
    unsigned miss[GS_CODEC_MAX_SHARDS], src_rows[GS_CODEC_MAX_SHARDS];
    uint8_t *srcs[GS_CODEC_MAX_SHARDS], *outs[GS_CODEC_MAX_SHARDS];
    for (unsigned i = 0; i < k; i++) {
        if (ok[i])
            memcpy(ct + i * plen, chunks[i] + GS_STRIPE_HDR_LEN, plen);
        else {
            miss[nm] = i;
            outs[nm++] = ct + i * plen;
        }
    }
    if (nm == 0)
        return 0;
    for (unsigned i = 0; i < n && ns < k; i++) {
        if (!ok[i])
            continue;
        src_rows[ns] = i;
        srcs[ns++] = (uint8_t *)chunks[i] + GS_STRIPE_HDR_LEN;
    }
    return rs_recover(k, n, src_rows, srcs, miss, nm, outs, plen);
}

static int unseal_body(gs__scratch_t *sc, const gs_chunk_info_t *ref, const uint8_t *key,
                       uint8_t *plain, gs_diag_t *diag)
{
    size_t body_len = ref->ct_len - TAG_LEN;
    if (ref->compressed && grow(&sc->comp, &sc->comp_cap, body_len ? body_len : 1) < 0)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory decoding a stripe");
    uint8_t *body = ref->compressed ? sc->comp : plain;
    if (open_sealed(ref, key, sc->ct, body) != 0)
        return gs_diag_set(diag, GS_ECORRUPT,
                           "stripe %llu failed authentication (wrong key or "
                           "tampered data)",
                           (unsigned long long)ref->stripe_no);
    if (!ref->compressed)
        return 0;
    if (!sc->dctx && !(sc->dctx = ZSTD_createDCtx()))
        return gs_diag_set(diag, GS_ENOMEM, "out of memory decoding a stripe");
    size_t r = ZSTD_decompressDCtx(sc->dctx, plain, ref->plain_len, body, body_len);
    if (ZSTD_isError(r) || r != ref->plain_len)
        return gs_diag_set(diag, GS_ECORRUPT, "stripe %llu does not decompress",
                           (unsigned long long)ref->stripe_no);
    return 0;
}

/* Sorts the chunks, rebuilds the missing data chunks and opens the stripe into plain
 * (plain_cap bytes); *ref gets the header the good chunks agree on. */
static int decode_into(gs__scratch_t *sc, const gs_codec_params_t *p, const uint8_t *key,
                       uint64_t stripe_no, const uint8_t *const *chunks, const size_t *lens,
                       uint8_t *plain, size_t plain_cap, gs_chunk_info_t *ref, bool *bad,
                       gs_diag_t *diag)
{
    bool ok[GS_CODEC_MAX_SHARDS];
    if (p->data < 1 || p->data + p->parity > GS_CODEC_MAX_SHARDS)
        return gs_diag_set(diag, GS_EINVAL, "bad shard counts %u + %u", p->data, p->parity);
    unsigned good = sort_chunks(p, stripe_no, chunks, lens, ok, bad, ref);
    if (good < p->data)
        return too_few(p, stripe_no, good, diag);
    if (ref->plain_len > plain_cap)
        return gs_diag_set(diag, GS_ECORRUPT, "stripe %llu is larger than a stripe",
                           (unsigned long long)stripe_no);
    if (grow(&sc->ct, &sc->ct_cap, (size_t)ref->payload_len * p->data) < 0)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory decoding stripe %llu",
                           (unsigned long long)stripe_no);
    int err = gather_ct(p, chunks, ok, ref->payload_len, sc->ct);
    if (err < 0)
        return gs_diag_set(diag, err, "stripe %llu: Reed-Solomon decoding failed",
                           (unsigned long long)stripe_no);
    return unseal_body(sc, ref, key, plain, diag);
}

int gs__stripe_decode_reuse(gs__scratch_t *sc, const gs_codec_params_t *p, const uint8_t *key,
                            uint64_t stripe_no, const uint8_t *const *chunks, const size_t *lens,
                            uint8_t *plain, size_t plain_cap, size_t *out_len, bool *last,
                            bool *bad, gs_diag_t *diag)
{
    gs_chunk_info_t ref;
    *out_len = 0;
    int err = decode_into(sc, p, key, stripe_no, chunks, lens, plain, plain_cap, &ref, bad, diag);
    if (err < 0)
        return err;
    *out_len = ref.plain_len;
    if (last)
        *last = ref.last;
    return 0;
}

int gs_stripe_decode(const gs_codec_params_t *p, const uint8_t *key, uint64_t stripe_no,
                     const uint8_t *const *chunks, const size_t *lens, uint8_t **out,
                     size_t *out_len, bool *last, bool *bad, gs_diag_t *diag)
{
    gs__scratch_t sc = {0};
    *out = NULL;
    *out_len = 0;
    uint8_t *plain = malloc(p->stripe_size ? p->stripe_size : 1);
    if (!plain)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory decoding stripe %llu",
                           (unsigned long long)stripe_no);
    int err = gs__stripe_decode_reuse(&sc, p, key, stripe_no, chunks, lens, plain, p->stripe_size,
                                      out_len, last, bad, diag);
    gs__scratch_free(&sc);
    if (err < 0 || *out_len == 0) {
        free(plain);
        *out_len = 0;
        return err;
    }
    uint8_t *fit = realloc(plain, *out_len); /* a short stripe gives its memory back */
    *out = fit ? fit : plain;
    return 0;
}

int gs_stripe_rebuild(const gs_codec_params_t *p, uint64_t stripe_no, const uint8_t *const *chunks,
                      const size_t *lens, gs_stripe_t *out, gs_diag_t *diag)
{
    bool ok[GS_CODEC_MAX_SHARDS];
    gs_chunk_info_t ref;
    unsigned k = p->data, n = p->data + p->parity, nm = 0, ns = 0;
    unsigned miss[GS_CODEC_MAX_SHARDS], src_rows[GS_CODEC_MAX_SHARDS];
    uint8_t *srcs[GS_CODEC_MAX_SHARDS], *outs[GS_CODEC_MAX_SHARDS];
    memset(out, 0, sizeof *out);
    if (k < 1 || n > GS_CODEC_MAX_SHARDS)
        return gs_diag_set(diag, GS_EINVAL, "bad shard counts %u + %u", p->data, p->parity);
    unsigned good = sort_chunks(p, stripe_no, chunks, lens, ok, NULL, &ref);
    if (good < k)
        return too_few(p, stripe_no, good, diag);
    out->n = n;
    out->chunk_len = GS_STRIPE_HDR_LEN + ref.payload_len;
    for (unsigned i = 0; i < n; i++) {
        if (ok[i]) {
            if (ns < k) {
                src_rows[ns] = i;
                srcs[ns++] = (uint8_t *)chunks[i] + GS_STRIPE_HDR_LEN;
            }
            continue;
        }
        if (!(out->chunk[i] = malloc(out->chunk_len))) {
            gs_stripe_free(out);
            return gs_diag_set(diag, GS_ENOMEM, "out of memory rebuilding stripe %llu",
                               (unsigned long long)stripe_no);
        }
        miss[nm] = i;
        outs[nm++] = out->chunk[i] + GS_STRIPE_HDR_LEN;
    }
    if (nm && rs_recover(k, n, src_rows, srcs, miss, nm, outs, ref.payload_len) < 0) {
        gs_stripe_free(out);
        return gs_diag_set(diag, GS_ECORRUPT, "stripe %llu: Reed-Solomon rebuild failed",
                           (unsigned long long)stripe_no);
    }
    for (unsigned m = 0; m < nm; m++)
        finish_chunk(out->chunk[miss[m]], &ref, miss[m]);
    return 0;
}
