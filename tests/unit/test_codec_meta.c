/* test_codec_meta.c — metadata records and their backups (round trips, wrong keys,
 * truncations, flipped bytes, caps, the canonical body) and file ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"
#include "codec/internal.h" /* the body codec, past the seal */

static uint8_t key[GS_CODEC_KEY_LEN];

/* A sharded record: stripes of 4 KiB, shard s's ids consecutive but broken every 37 stripes
 * (and all of shard 3 scattered), as uploads interleaved with others give. */
static gs_meta_t *sharded(unsigned data, unsigned parity, uint64_t n_stripes)
{
    gs_meta_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    for (int i = 0; i < GS_CODEC_HASH_LEN; i++)
        m->hash[i] = (uint8_t)(i * 7 + 1);
    gs_codec_params_default(&m->params);
    m->params.data = data;
    m->params.parity = parity;
    m->params.stripe_size = 4096 * data;
    m->params.cipher = GS_CIPHER_XCHACHA20POLY1305;
    m->size = n_stripes * m->params.stripe_size - 5;
    strcpy(m->ext, "jpg");
    m->created = -1234567;
    m->file_key = sodium_malloc(GS_CODEC_KEY_LEN);
    randombytes_buf(m->file_key, GS_CODEC_KEY_LEN);
    m->n_stripes = n_stripes;
    m->n_shards = data + parity;
    m->shards = calloc(m->n_shards, sizeof *m->shards);
    for (unsigned s = 0; s < m->n_shards; s++) {
        char name[64];
        snprintf(name, sizeof name, "data-%02u@127.0.0.1:%u", s, 9900 + s);
        m->shards[s].backend = strdup(name);
        m->shards[s].ids = malloc(n_stripes * sizeof(uint64_t));
        for (uint64_t i = 0; i < n_stripes; i++)
            m->shards[s].ids[i] = s == 3 ? i * 3 + 1 : (uint64_t)s * 100000 + i + (i / 37) * 5;
    }
    return m;
}

static gs_meta_t *inlined(size_t size, size_t inline_len)
{
    gs_meta_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    gs_codec_params_default(&m->params);
    m->size = size;
    m->file_key = sodium_malloc(GS_CODEC_KEY_LEN);
    randombytes_buf(m->file_key, GS_CODEC_KEY_LEN);
    m->n_stripes = 1;
    m->inline_data = malloc(inline_len);
    m->inline_len = inline_len;
    randombytes_buf(m->inline_data, inline_len);
    return m;
}

static void assert_same(const gs_meta_t *a, const gs_meta_t *b)
{
    assert_memory_equal(a->hash, b->hash, GS_CODEC_HASH_LEN);
    assert_int_equal(a->size, b->size);
    assert_string_equal(a->ext, b->ext);
    assert_int_equal(a->created, b->created);
    assert_memory_equal(&a->params, &b->params, sizeof a->params);
    assert_memory_equal(a->file_key, b->file_key, GS_CODEC_KEY_LEN);
    assert_int_equal(a->n_stripes, b->n_stripes);
    assert_int_equal(a->n_shards, b->n_shards);
    for (unsigned s = 0; s < a->n_shards; s++) {
        assert_string_equal(a->shards[s].backend, b->shards[s].backend);
        assert_memory_equal(a->shards[s].ids, b->shards[s].ids, a->n_stripes * sizeof(uint64_t));
    }
    assert_int_equal(a->inline_len, b->inline_len);
    if (a->inline_len)
        assert_memory_equal(a->inline_data, b->inline_data, a->inline_len);
}

static void encode(const gs_meta_t *m, gs_buf_t *out)
{
    gs_diag_t diag;
    gs_buf_init(out, GS_META_MAX);
    assert_int_equal(gs_meta_encode(m, key, out, &diag), 0);
}

static void test_meta_round_trip_many_shards_and_runs(void **state)
{
    gs_meta_t *m = sharded(16, 4, 300), *back = NULL;
    gs_buf_t rec;
    gs_diag_t diag;
    (void)state;
    encode(m, &rec);
    /* runs keep it small: 19 shards of 9 runs and one of 300 single ids */
    assert_true(rec.len < 4000);
    assert_memory_equal(rec.data, "GSM\x01", 4);
    assert_int_equal(gs_meta_decode((uint8_t *)rec.data, rec.len, key, &back, &diag), 0);
    assert_same(m, back);
    gs_meta_free(back);
    gs_buf_free(&rec);
    gs_meta_free(m);
}

static void test_meta_round_trip_inline_and_empty(void **state)
{
    gs_meta_t *m = inlined(0, 40), *back = NULL;
    gs_buf_t rec;
    gs_diag_t diag;
    (void)state;
    encode(m, &rec);
    assert_int_equal(gs_meta_decode((uint8_t *)rec.data, rec.len, key, &back, &diag), 0);
    assert_same(m, back);
    assert_null(back->shards);
    gs_meta_free(back);
    gs_buf_free(&rec);
    gs_meta_free(m);
}

static void test_meta_two_encodings_differ_by_nonce(void **state)
{
    gs_meta_t *m = inlined(10, 20);
    gs_buf_t a, b;
    (void)state;
    encode(m, &a);
    encode(m, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_not_equal(a.data, b.data, a.len);
    gs_buf_free(&a);
    gs_buf_free(&b);
    gs_meta_free(m);
}

static void test_meta_wrong_key_refused(void **state)
{
    gs_meta_t *m = sharded(4, 2, 3), *back = (gs_meta_t *)1;
    uint8_t other[GS_CODEC_KEY_LEN];
    gs_buf_t rec;
    gs_diag_t diag;
    (void)state;
    encode(m, &rec);
    memcpy(other, key, sizeof other);
    other[31] ^= 1;
    assert_int_equal(gs_meta_decode((uint8_t *)rec.data, rec.len, other, &back, &diag),
                     GS_ECORRUPT);
    assert_null(back);
    assert_non_null(strstr(diag.msg, "does not open with this deployment key"));
    gs_buf_free(&rec);
    gs_meta_free(m);
}

static void test_meta_every_truncation_refused(void **state)
{
    gs_meta_t *m = sharded(3, 1, 5), *back;
    gs_buf_t rec;
    gs_diag_t diag;
    (void)state;
    encode(m, &rec);
    for (size_t n = 0; n < rec.len; n++) {
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any read past it */
        memcpy(copy, rec.data, n);
        assert_int_equal(gs_meta_decode(copy, n, key, &back, &diag), GS_ECORRUPT);
        assert_null(back);
        free(copy);
    }
    gs_buf_free(&rec);
    gs_meta_free(m);
}

static void test_meta_flipped_byte_anywhere_refused(void **state)
{
    gs_meta_t *m = sharded(3, 2, 4), *back;
    gs_buf_t rec;
    gs_diag_t diag;
    (void)state;
    encode(m, &rec);
    for (size_t i = 0; i < rec.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            rec.data[i] ^= (char)(1 << bit);
            assert_int_equal(gs_meta_decode((uint8_t *)rec.data, rec.len, key, &back, &diag),
                             GS_ECORRUPT);
            assert_null(back);
            rec.data[i] ^= (char)(1 << bit);
        }
    }
    gs_buf_free(&rec);
    gs_meta_free(m);
}

static void test_meta_unknown_version_says_so(void **state)
{
    gs_meta_t *m = inlined(1, 1), *back;
    gs_buf_t rec;
    gs_diag_t diag;
    (void)state;
    encode(m, &rec);
    rec.data[3] = 9;
    assert_int_equal(gs_meta_decode((uint8_t *)rec.data, rec.len, key, &back, &diag), GS_ECORRUPT);
    assert_non_null(strstr(diag.msg, "version 9 is not known"));
    rec.data[0] = 'X';
    assert_int_equal(gs_meta_decode((uint8_t *)rec.data, rec.len, key, &back, &diag), GS_ECORRUPT);
    assert_non_null(strstr(diag.msg, "magic"));
    gs_buf_free(&rec);
    gs_meta_free(m);
}

/* Records a decoder would refuse are refused by the encoder too. */
static void test_meta_encode_refuses_invalid_records(void **state)
{
    gs_meta_t *m = sharded(4, 2, 6);
    gs_buf_t out;
    gs_diag_t diag;
    char *name, spaced[] = "a b@host:1";
    (void)state;
    gs_buf_init(&out, GS_META_MAX);
    m->n_stripes = 5; /* does not match the size */
    assert_int_equal(gs_meta_encode(m, key, &out, &diag), GS_EINVAL);
    m->n_stripes = 6;
    strcpy(m->ext, "JPG");
    assert_int_equal(gs_meta_encode(m, key, &out, &diag), GS_EINVAL);
    strcpy(m->ext, "");
    name = m->shards[1].backend;
    m->shards[1].backend = spaced;
    assert_int_equal(gs_meta_encode(m, key, &out, &diag), GS_EINVAL);
    m->shards[1].backend = name;
    m->n_shards = 5; /* not data + parity */
    assert_int_equal(gs_meta_encode(m, key, &out, &diag), GS_EINVAL);
    m->n_shards = 6;
    m->params.stripe_size = 100;
    assert_int_equal(gs_meta_encode(m, key, &out, &diag), GS_EINVAL);
    assert_int_equal(out.len, 0);
    m->params.stripe_size = 4096 * 4;
    assert_int_equal(gs_meta_encode(m, key, &out, &diag), 0);
    gs_buf_free(&out);
    gs_meta_free(m);
}

static void test_meta_caps_record_size_and_chunks(void **state)
{
    gs_meta_t *m = inlined(100, GS_META_MAX), *big;
    gs_buf_t out;
    gs_diag_t diag;
    (void)state;
    gs_buf_init(&out, 2 * GS_META_MAX);
    assert_int_equal(gs_meta_encode(m, key, &out, &diag), GS_ETOOBIG);
    gs_meta_free(m);
    /* 4 MiB + 1 chunks: one run per shard would make it a small record, yet it is refused */
    big = sharded(1, 0, 1);
    big->n_stripes = GS_META_MAX_CHUNKS + 1;
    big->size = big->n_stripes * big->params.stripe_size;
    free(big->shards[0].ids);
    big->shards[0].ids = calloc(big->n_stripes, sizeof(uint64_t));
    for (uint64_t i = 0; i < big->n_stripes; i++)
        big->shards[0].ids[i] = i;
    assert_int_equal(gs_meta_encode(big, key, &out, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "chunks"));
    gs_buf_free(&out);
    gs_meta_free(big);
}

/* ---- the body after decryption ---- */

static void body_of(const gs_meta_t *m, uint8_t **body, size_t *len)
{
    gs_diag_t diag;
    assert_int_equal(gs__meta_body_encode(m, body, len, &diag), 0);
}

static void assert_body_refused(const uint8_t *p, size_t n, const char *why)
{
    gs_meta_t *back = (gs_meta_t *)1;
    gs_diag_t diag;
    assert_int_equal(gs__meta_body_decode(p, n, &back, &diag), GS_ECORRUPT);
    assert_null(back);
    if (why)
        assert_non_null(strstr(diag.msg, why));
}

static void test_meta_body_every_truncation_and_trailing_byte(void **state)
{
    gs_meta_t *m = sharded(2, 1, 40);
    uint8_t *body, *copy;
    size_t len;
    (void)state;
    body_of(m, &body, &len);
    for (size_t n = 0; n < len; n++) {
        copy = malloc(n ? n : 1);
        memcpy(copy, body, n);
        assert_body_refused(copy, n, NULL);
        free(copy);
    }
    copy = malloc(len + 1);
    memcpy(copy, body, len);
    copy[len] = 0;
    assert_body_refused(copy, len + 1, "after the end");
    free(copy);
    sodium_free(body);
    gs_meta_free(m);
}

/* One body layout, written by hand: a 1 + 0 codec, 2 stripes of 4 KiB, ids given as runs. */
static size_t hand_body(uint8_t *b, const uint8_t *runs, size_t runs_len, uint8_t n_stripes_byte)
{
    size_t n = 0;
    memset(b, 0xab, GS_CODEC_HASH_LEN); /* hash */
    n += GS_CODEC_HASH_LEN;
    b[n++] = 0x80, b[n++] = 0x40; /* size 8192 */
    b[n++] = 0;                   /* no extension */
    memset(b + n, 0, 8), n += 8;  /* created */
    b[n++] = 1, b[n++] = 0;       /* 1 + 0 */
    b[n++] = 0x80, b[n++] = 0x20; /* stripe 4096 */
    b[n++] = 3, b[n++] = 2;       /* zstd 3, XChaCha20-Poly1305 */
    memset(b + n, 7, 32), n += 32;
    b[n++] = n_stripes_byte;
    b[n++] = 1; /* one shard */
    b[n++] = 3, memcpy(b + n, "a@b", 3), n += 3;
    memcpy(b + n, runs, runs_len), n += runs_len;
    b[n++] = 0; /* no inline data */
    return n;
}

static void test_meta_body_is_canonical(void **state)
{
    uint8_t b[256];
    gs_meta_t *m = NULL;
    gs_diag_t diag;
    uint8_t *again;
    size_t n, len;
    (void)state;
    n = hand_body(b, (const uint8_t[]){1, 5, 2}, 3, 2); /* one run: 5, 6 */
    assert_int_equal(gs__meta_body_decode(b, n, &m, &diag), 0);
    assert_int_equal(m->shards[0].ids[1], 6);
    body_of(m, &again, &len);
    assert_int_equal(len, n);
    assert_memory_equal(again, b, n);
    sodium_free(again);
    gs_meta_free(m);
    n = hand_body(b, (const uint8_t[]){2, 5, 1, 6, 1}, 5, 2); /* the same as two runs */
    assert_body_refused(b, n, "two runs that are one");
    n = hand_body(b, (const uint8_t[]){1, 0x85, 0x00, 2}, 4, 2); /* 5 written long */
    assert_body_refused(b, n, "shortest form");
    n = hand_body(b, (const uint8_t[]){1, 5, 3}, 3, 2); /* a run past the last stripe */
    assert_body_refused(b, n, "run length");
    n = hand_body(b, (const uint8_t[]){2, 5, 1, 9, 0}, 5, 2); /* an empty run */
    assert_body_refused(b, n, "run length");
    n = hand_body(b, (const uint8_t[]){1, 5, 2}, 3, 3); /* 3 stripes for 8192 bytes */
    assert_body_refused(b, n, "stripe count");
    n = hand_body(
        b, (const uint8_t[]){1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 2}, 12,
        2); /* the run ends past the largest id */
    assert_body_refused(b, n, "largest id");
}

static void test_meta_body_refuses_nul_inside_names(void **state)
{
    uint8_t b[256];
    size_t n;
    (void)state;
    n = hand_body(b, (const uint8_t[]){1, 5, 2}, 3, 2);
    b[n - 1 - 3 - 3 + 1] = '\0'; /* "a@b" -> "a\0b" */
    assert_body_refused(b, n, "backend name");
    n = hand_body(b, (const uint8_t[]){1, 5, 2}, 3, 2);
    memmove(b + 27 + 3, b + 27, n - 27); /* an extension "x\0y" after the size */
    b[26] = 3, b[27] = 'x', b[28] = '\0', b[29] = 'y';
    assert_body_refused(b, n + 3, "extension");
}

/* The cipher of the content does not matter to the record: it opens on any CPU. */
static void test_meta_aes_file_record_round_trip(void **state)
{
    gs_meta_t *m = sharded(2, 1, 3), *back;
    gs_buf_t rec;
    gs_diag_t diag;
    (void)state;
    m->params.cipher = GS_CIPHER_AES256GCM;
    encode(m, &rec);
    assert_int_equal(gs_meta_decode((uint8_t *)rec.data, rec.len, key, &back, &diag), 0);
    assert_int_equal(back->params.cipher, GS_CIPHER_AES256GCM);
    gs_meta_free(back);
    gs_buf_free(&rec);
    gs_meta_free(m);
}

/* ---- backups ---- */

/* The largest record's backup still fits one 0-db value. */
static void test_meta_backup_of_largest_record_fits_a_value(void **state)
{
    gs_meta_t *m = inlined(100, 1);
    uint8_t *body;
    size_t len;
    gs_buf_t rec, bak;
    gs_diag_t diag;
    (void)state;
    body_of(m, &body, &len); /* ends with the inline length (1 byte) and 1 byte of data */
    sodium_free(body);
    /* inline data that makes the sealed record exactly GS_META_MAX bytes; its length now
     * takes 4 bytes, and sealing adds 44 */
    free(m->inline_data);
    m->inline_len = GS_META_MAX - 44 - (len - 2) - 4;
    m->inline_data = calloc(1, m->inline_len + 1);
    encode(m, &rec);
    assert_int_equal(rec.len, GS_META_MAX);
    gs_buf_init(&bak, GS_CODEC_CHUNK_MAX);
    assert_int_equal(gs_meta_backup_encode((uint8_t *)rec.data, rec.len, 7, key, &bak, &diag), 0);
    assert_true(bak.len <= GS_CODEC_CHUNK_MAX);
    m->inline_len++;
    gs_buf_reset(&rec);
    assert_int_equal(gs_meta_encode(m, key, &rec, &diag), GS_ETOOBIG);
    assert_int_equal(rec.len, 0);
    gs_buf_free(&bak);
    gs_buf_free(&rec);
    gs_meta_free(m);
}

static void test_meta_backup_round_trip(void **state)
{
    gs_meta_t *m = sharded(4, 2, 7), *back;
    gs_buf_t rec, bak, out;
    gs_diag_t diag;
    uint64_t id = 0;
    uint8_t other[GS_CODEC_KEY_LEN] = {0};
    (void)state;
    encode(m, &rec);
    gs_buf_init(&bak, GS_CODEC_CHUNK_MAX);
    gs_buf_init(&out, GS_META_MAX);
    assert_int_equal(
        gs_meta_backup_encode((uint8_t *)rec.data, rec.len, 0x1234abcd, key, &bak, &diag), 0);
    assert_true(gs_meta_backup_is((uint8_t *)bak.data, bak.len));
    assert_false(gs_meta_backup_is((uint8_t *)rec.data, rec.len));
    assert_false(gs_meta_backup_is((const uint8_t *)"GSCK\x01", 5));
    assert_int_equal(gs_meta_backup_decode((uint8_t *)bak.data, bak.len, key, &id, &out, &diag), 0);
    assert_int_equal(id, 0x1234abcd);
    assert_int_equal(out.len, rec.len);
    assert_memory_equal(out.data, rec.data, rec.len);
    assert_int_equal(gs_meta_decode((uint8_t *)out.data, out.len, key, &back, &diag), 0);
    assert_same(m, back);
    gs_meta_free(back);
    gs_buf_reset(&out);
    assert_int_equal(gs_meta_backup_decode((uint8_t *)bak.data, bak.len, other, &id, &out, &diag),
                     GS_ECORRUPT);
    assert_int_equal(gs_meta_backup_decode((uint8_t *)rec.data, rec.len, key, &id, &out, &diag),
                     GS_ECORRUPT);
    for (size_t n = 0; n < bak.len; n++)
        assert_int_equal(gs_meta_backup_decode((uint8_t *)bak.data, n, key, &id, &out, &diag),
                         GS_ECORRUPT);
    assert_int_equal(out.len, 0);
    gs_buf_free(&rec);
    gs_buf_free(&bak);
    gs_buf_free(&out);
    gs_meta_free(m);
}

/* ---- file ids ---- */

static void test_fileid_format_and_parse(void **state)
{
    uint8_t hash[GS_CODEC_HASH_LEN], back[GS_CODEC_HASH_LEN];
    char id[GS_CODEC_ID_MAX], ext[GS_CODEC_EXT_MAX + 1];
    uint64_t meta_id;
    gs_diag_t diag;
    (void)state;
    for (int i = 0; i < GS_CODEC_HASH_LEN; i++)
        hash[i] = (uint8_t)(0xf0 + i);
    assert_int_equal(gs_codec_id_format(hash, 0x2a, "jpg", id), 0);
    assert_string_equal(id, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff0001020304050607"
                            "0000002a.jpg");
    assert_int_equal(gs_codec_id_parse(id, back, &meta_id, ext, &diag), 0);
    assert_memory_equal(back, hash, sizeof hash);
    assert_int_equal(meta_id, 0x2a);
    assert_string_equal(ext, "jpg");
    assert_int_equal(gs_codec_id_format(hash, 0xffffffff, NULL, id), 0);
    assert_int_equal(strlen(id), 56);
    assert_int_equal(gs_codec_id_parse(id, back, &meta_id, ext, &diag), 0);
    assert_int_equal(meta_id, 0xffffffff);
    assert_string_equal(ext, "");
    assert_int_equal(gs_codec_id_format(hash, 0x100000000, "", id), GS_ERANGE);
    assert_int_equal(gs_codec_id_format(hash, 1, "Jpg", id), GS_EINVAL);
    assert_int_equal(gs_codec_id_format(hash, 1, "abcdefghijklmnopq", id), GS_EINVAL);
    assert_int_equal(gs_codec_id_format(hash, 1, "abcdefghijklmnop", id), 0);
    assert_int_equal(strlen(id), GS_CODEC_ID_MAX - 1);
}

static void test_fileid_parse_is_strict(void **state)
{
    static const char good[] = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060700000001";
    static const char *const bad[] = {
        "",
        "F0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060700000001",     /* uppercase */
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203040506070000001",      /* one short */
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff0001020304050607000000012",    /* one long */
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060700000001.",    /* empty ext */
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060700000001.JPG", /* uppercase ext */
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060700000001.tar.gz",
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060700000001.abcdefghijklmnopq",
        "g0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060700000001",
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203040506070000000x",
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060700000001 ",
    };
    uint8_t hash[GS_CODEC_HASH_LEN];
    char ext[GS_CODEC_EXT_MAX + 1];
    uint64_t id;
    gs_diag_t diag;
    (void)state;
    assert_int_equal(gs_codec_id_parse(good, hash, &id, ext, &diag), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        diag.msg[0] = '\0';
        assert_int_equal(gs_codec_id_parse(bad[i], hash, &id, ext, &diag), GS_EINVAL);
        assert_non_null(strstr(diag.msg, "file id"));
    }
}

static void test_fileid_ext_from_name(void **state)
{
    char ext[GS_CODEC_EXT_MAX + 1];
    (void)state;
    assert_true(gs_codec_ext_from_name("photo.JPG", ext));
    assert_string_equal(ext, "jpg");
    assert_true(gs_codec_ext_from_name("dir.d/archive.tar.gz", ext));
    assert_string_equal(ext, "gz");
    assert_false(gs_codec_ext_from_name("README", ext));
    assert_string_equal(ext, "");
    assert_false(gs_codec_ext_from_name(".profile", ext));
    assert_false(gs_codec_ext_from_name("dir.d/noext", ext));
    assert_false(gs_codec_ext_from_name("trailing.", ext));
    assert_false(gs_codec_ext_from_name("x.abcdefghijklmnopq", ext));
    assert_true(gs_codec_ext_from_name("x.abcdefghijklmnop", ext));
    assert_false(gs_codec_ext_from_name("x.we-ird", ext));
    assert_string_equal(ext, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_round_trip_many_shards_and_runs),
        cmocka_unit_test(test_meta_round_trip_inline_and_empty),
        cmocka_unit_test(test_meta_two_encodings_differ_by_nonce),
        cmocka_unit_test(test_meta_wrong_key_refused),
        cmocka_unit_test(test_meta_every_truncation_refused),
        cmocka_unit_test(test_meta_flipped_byte_anywhere_refused),
        cmocka_unit_test(test_meta_unknown_version_says_so),
        cmocka_unit_test(test_meta_encode_refuses_invalid_records),
        cmocka_unit_test(test_meta_caps_record_size_and_chunks),
        cmocka_unit_test(test_meta_body_every_truncation_and_trailing_byte),
        cmocka_unit_test(test_meta_body_is_canonical),
        cmocka_unit_test(test_meta_body_refuses_nul_inside_names),
        cmocka_unit_test(test_meta_aes_file_record_round_trip),
        cmocka_unit_test(test_meta_backup_of_largest_record_fits_a_value),
        cmocka_unit_test(test_meta_backup_round_trip),
        cmocka_unit_test(test_fileid_format_and_parse),
        cmocka_unit_test(test_fileid_parse_is_strict),
        cmocka_unit_test(test_fileid_ext_from_name),
    };
    if (sodium_init() < 0)
        return 1;
    randombytes_buf(key, sizeof key);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
