/* test_codec_stripe.c — the stripe transform: round trips at the edges of the sizes, any
 * `parity` chunks lost, one more lost, damaged and misplaced chunks, both ciphers,
 * compressible and incompressible data, and repair rebuilding chunks byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"

#define STRIPE ((size_t)64 * 1024)

static uint8_t key[GS_CODEC_KEY_LEN];

static gs_codec_params_t params(unsigned data, unsigned parity, gs_cipher_t cipher)
{
    gs_codec_params_t p;
    gs_codec_params_default(&p);
    p.data = data;
    p.parity = parity;
    p.stripe_size = STRIPE;
    p.cipher = cipher;
    return p;
}

static bool have_aes(void)
{
    return crypto_aead_aes256gcm_is_available();
}

/* Random bytes, or text that zstd shrinks a lot. */
static uint8_t *content(size_t n, bool compressible, uint64_t seed)
{
    uint8_t *b = malloc(n ? n : 1);
    gs_rng_t r;
    gs_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        b[i] = compressible ? (uint8_t)("gridstor stripes "[i % 17] + (i / 4096) % 3)
                            : (uint8_t)gs_rng_next(&r);
    return b;
}

/* Decodes with the chunks in `gone` (a bit mask) left out; returns the error. */
static int decode_without(const gs_codec_params_t *p, const gs_stripe_t *st, uint64_t stripe_no,
                          const uint64_t *gone, const uint8_t *want, size_t want_len)
{
    const uint8_t *ch[GS_CODEC_MAX_SHARDS];
    size_t lens[GS_CODEC_MAX_SHARDS];
    for (unsigned i = 0; i < st->n; i++) {
        bool out = gone[i / 64] >> (i % 64) & 1;
        ch[i] = out ? NULL : st->chunk[i];
        lens[i] = st->chunk_len;
    }
    uint8_t *plain = NULL;
    size_t len = 0;
    bool last = false;
    gs_diag_t d;
    int err = gs_stripe_decode(p, key, stripe_no, ch, lens, &plain, &len, &last, NULL, &d);
    if (err == 0) {
        assert_int_equal(len, want_len);
        if (len)
            assert_memory_equal(plain, want, len);
        assert_true(last);
    }
    free(plain);
    return err;
}

static void round_trip(const gs_codec_params_t *p, size_t n, bool compressible)
{
    uint8_t *in = content(n, compressible, n + 7);
    gs_stripe_t st;
    gs_diag_t d;
    uint64_t none[4] = {0};
    assert_int_equal(gs_stripe_encode(p, key, 3, true, in, n, &st, &d), 0);
    assert_int_equal(st.n, p->data + p->parity);
    assert_true(st.chunk_len >= GS_STRIPE_HDR_LEN + 1);
    assert_int_equal(decode_without(p, &st, 3, none, in, n), 0);
    gs_stripe_free(&st);
    free(in);
}

static void test_stripe_round_trips_at_size_edges(void **state)
{
    (void)state;
    gs_cipher_t ciphers[] = {GS_CIPHER_XCHACHA20POLY1305, GS_CIPHER_AES256GCM};
    for (unsigned c = 0; c < 2; c++) {
        if (ciphers[c] == GS_CIPHER_AES256GCM && !have_aes())
            continue;
        gs_codec_params_t p = params(16, 4, ciphers[c]);
        size_t sizes[] = {0, 1, 15, 16, 17, STRIPE - 1, STRIPE};
        for (size_t i = 0; i < GS_ARRAY_SIZE(sizes); i++) {
            round_trip(&p, sizes[i], false);
            round_trip(&p, sizes[i], true);
        }
        /* one byte over the stripe is the pipeline's business, refused here */
        uint8_t *in = content(STRIPE + 1, false, 1);
        gs_stripe_t st;
        gs_diag_t d;
        assert_int_equal(gs_stripe_encode(&p, key, 0, true, in, STRIPE + 1, &st, &d), GS_EINVAL);
        gs_stripe_free(&st);
        free(in);
    }
}

static void test_stripe_small_is_not_padded_to_a_large_shard(void **state)
{
    (void)state;
    gs_codec_params_t p = params(16, 4, GS_CIPHER_XCHACHA20POLY1305);
    gs_stripe_t st;
    gs_diag_t d;
    assert_int_equal(gs_stripe_encode(&p, key, 0, true, (const uint8_t *)"x", 1, &st, &d), 0);
    /* 1 byte + 16 tag over 16 shards: 2 bytes each */
    assert_int_equal(st.chunk_len, GS_STRIPE_HDR_LEN + 2);
    gs_stripe_free(&st);
}

static void test_stripe_compresses_only_what_shrinks(void **state)
{
    (void)state;
    gs_codec_params_t p = params(16, 4, GS_CIPHER_XCHACHA20POLY1305);
    uint8_t *text = content(STRIPE, true, 1), *noise = content(STRIPE, false, 1);
    gs_stripe_t a, b;
    gs_diag_t d;
    gs_chunk_info_t ia, ib;
    assert_int_equal(gs_stripe_encode(&p, key, 0, false, text, STRIPE, &a, &d), 0);
    assert_int_equal(gs_stripe_encode(&p, key, 0, false, noise, STRIPE, &b, &d), 0);
    assert_int_equal(gs_stripe_chunk_parse(a.chunk[0], a.chunk_len, &ia, &d), 0);
    assert_int_equal(gs_stripe_chunk_parse(b.chunk[0], b.chunk_len, &ib, &d), 0);
    assert_true(ia.compressed);
    assert_true(ia.ct_len < STRIPE / 4);
    assert_false(ib.compressed);
    assert_int_equal(ib.ct_len, STRIPE + 16);
    assert_int_equal(ib.payload_len, (STRIPE + 16 + 15) / 16);
    assert_false(ib.last);
    gs_stripe_free(&a);
    gs_stripe_free(&b);
    free(text);
    free(noise);
}

/* 4 + 2: every way of losing up to 2 chunks decodes, and repair rebuilds them exactly;
 * every way of losing 3 is GS_EUNAVAIL. */
static void test_stripe_4_2_every_loss_combination(void **state)
{
    (void)state;
    gs_codec_params_t p = params(4, 2, GS_CIPHER_XCHACHA20POLY1305);
    size_t n = 10000;
    uint8_t *in = content(n, false, 42);
    gs_stripe_t st;
    gs_diag_t d;
    assert_int_equal(gs_stripe_encode(&p, key, 9, true, in, n, &st, &d), 0);
    unsigned tried = 0;
    for (uint64_t mask = 0; mask < 64; mask++) {
        unsigned lost = (unsigned)__builtin_popcountll(mask);
        uint64_t gone[4] = {mask};
        int err = decode_without(&p, &st, 9, gone, in, n);
        if (lost > 2) {
            assert_int_equal(err, GS_EUNAVAIL);
            continue;
        }
        assert_int_equal(err, 0);
        const uint8_t *ch[6];
        size_t lens[6];
        for (unsigned i = 0; i < 6; i++) {
            ch[i] = mask >> i & 1 ? NULL : st.chunk[i];
            lens[i] = st.chunk_len;
        }
        gs_stripe_t rb;
        assert_int_equal(gs_stripe_rebuild(&p, 9, ch, lens, &rb, &d), 0);
        for (unsigned i = 0; i < 6; i++) {
            if (mask >> i & 1) {
                assert_non_null(rb.chunk[i]);
                assert_memory_equal(rb.chunk[i], st.chunk[i], st.chunk_len);
            } else {
                assert_null(rb.chunk[i]);
            }
        }
        gs_stripe_free(&rb);
        tried++;
    }
    assert_int_equal(tried, 1 + 6 + 15);
    gs_stripe_free(&st);
    free(in);
}

/* 16 + 4: random sets of 4 lost decode; 5 lost do not. */
static void test_stripe_16_4_random_losses(void **state)
{
    (void)state;
    gs_codec_params_t p =
        params(16, 4, have_aes() ? GS_CIPHER_AES256GCM : GS_CIPHER_XCHACHA20POLY1305);
    uint8_t *in = content(STRIPE, false, 5);
    gs_stripe_t st;
    gs_diag_t d;
    gs_rng_t r;
    gs_rng_seed(&r, 2024);
    assert_int_equal(gs_stripe_encode(&p, key, 0, true, in, STRIPE, &st, &d), 0);
    for (unsigned t = 0; t < 60; t++) {
        unsigned lose = t % 2 ? 4 : 5;
        uint64_t gone[4] = {0};
        for (unsigned k = 0; k < lose;) {
            unsigned i = (unsigned)gs_rng_below(&r, 20);
            if (!(gone[0] >> i & 1)) {
                gone[0] |= 1ull << i;
                k++;
            }
        }
        assert_int_equal(decode_without(&p, &st, 0, gone, in, STRIPE), lose == 4 ? 0 : GS_EUNAVAIL);
    }
    uint64_t five[4] = {0x1f};
    const uint8_t *ch[20];
    size_t lens[20];
    for (unsigned i = 0; i < 20; i++)
        ch[i] = five[0] >> i & 1 ? NULL : st.chunk[i], lens[i] = st.chunk_len;
    uint8_t *plain = NULL;
    size_t len;
    assert_int_equal(gs_stripe_decode(&p, key, 0, ch, lens, &plain, &len, NULL, NULL, &d),
                     GS_EUNAVAIL);
    assert_non_null(strstr(d.msg, "only 15 of its 20 chunks"));
    gs_stripe_free(&st);
    free(in);
}

/* A flipped byte anywhere in a chunk makes that chunk alone be skipped. */
static void test_stripe_flipped_byte_skips_that_chunk(void **state)
{
    (void)state;
    gs_codec_params_t p = params(16, 4, GS_CIPHER_XCHACHA20POLY1305);
    uint8_t *in = content(STRIPE, false, 8);
    gs_stripe_t st;
    gs_diag_t d;
    assert_int_equal(gs_stripe_encode(&p, key, 2, false, in, STRIPE, &st, &d), 0);
    size_t spots[] = {
        0, 5, 12, 20, 33, GS_STRIPE_HDR_LEN, GS_STRIPE_HDR_LEN + 100, st.chunk_len - 1};
    for (size_t s = 0; s < GS_ARRAY_SIZE(spots); s++) {
        unsigned victim = (unsigned)(s % 20);
        st.chunk[victim][spots[s]] ^= 0x40;
        const uint8_t *ch[20];
        size_t lens[20];
        bool bad[20] = {false};
        for (unsigned i = 0; i < 20; i++)
            ch[i] = st.chunk[i], lens[i] = st.chunk_len;
        uint8_t *plain = NULL;
        size_t len = 0;
        bool last = true;
        assert_int_equal(gs_stripe_decode(&p, key, 2, ch, lens, &plain, &len, &last, bad, &d), 0);
        assert_int_equal(len, STRIPE);
        assert_memory_equal(plain, in, STRIPE);
        assert_false(last);
        for (unsigned i = 0; i < 20; i++)
            assert_true(bad[i] == (i == victim));
        free(plain);
        gs_chunk_info_t ci;
        assert_int_equal(gs_stripe_chunk_parse(st.chunk[victim], st.chunk_len, &ci, &d),
                         GS_ECORRUPT);
        st.chunk[victim][spots[s]] ^= 0x40;
    }
    gs_stripe_free(&st);
    free(in);
}

/* Chunks of another stripe count as missing; a wrong key is GS_ECORRUPT. */
static void test_stripe_misplaced_chunks_and_wrong_key(void **state)
{
    (void)state;
    gs_codec_params_t p = params(4, 2, GS_CIPHER_XCHACHA20POLY1305);
    uint8_t *in = content(5000, false, 3);
    gs_stripe_t s0, s1;
    gs_diag_t d;
    assert_int_equal(gs_stripe_encode(&p, key, 0, false, in, 5000, &s0, &d), 0);
    assert_int_equal(gs_stripe_encode(&p, key, 1, true, in, 5000, &s1, &d), 0);
    const uint8_t *ch[6];
    size_t lens[6];
    bool bad[6] = {false};
    for (unsigned i = 0; i < 6; i++)
        ch[i] = i < 3 ? s1.chunk[i] : s0.chunk[i], lens[i] = s0.chunk_len;
    uint8_t *plain = NULL;
    size_t len;
    assert_int_equal(gs_stripe_decode(&p, key, 0, ch, lens, &plain, &len, NULL, bad, &d),
                     GS_EUNAVAIL);
    assert_true(bad[0] && bad[1] && bad[2] && !bad[3]);
    /* chunks put in the wrong shard position are misplaced too */
    for (unsigned i = 0; i < 6; i++)
        ch[i] = s0.chunk[(i + 1) % 6];
    assert_int_equal(gs_stripe_decode(&p, key, 0, ch, lens, &plain, &len, NULL, NULL, &d),
                     GS_EUNAVAIL);
    uint8_t other[GS_CODEC_KEY_LEN];
    memcpy(other, key, sizeof other);
    other[0] ^= 1;
    for (unsigned i = 0; i < 6; i++)
        ch[i] = s0.chunk[i];
    assert_int_equal(gs_stripe_decode(&p, other, 0, ch, lens, &plain, &len, NULL, NULL, &d),
                     GS_ECORRUPT);
    assert_null(plain);
    gs_stripe_free(&s0);
    gs_stripe_free(&s1);
    free(in);
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    randombytes_buf(key, sizeof key);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stripe_round_trips_at_size_edges),
        cmocka_unit_test(test_stripe_small_is_not_padded_to_a_large_shard),
        cmocka_unit_test(test_stripe_compresses_only_what_shrinks),
        cmocka_unit_test(test_stripe_4_2_every_loss_combination),
        cmocka_unit_test(test_stripe_16_4_random_losses),
        cmocka_unit_test(test_stripe_flipped_byte_skips_that_chunk),
        cmocka_unit_test(test_stripe_misplaced_chunks_and_wrong_key),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
