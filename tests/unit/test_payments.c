/* test_payments.c — payments/: the identity's seed text and file, TFT amounts, the
 * explorer's HTTP signature and the chain's payment body checked with libsodium
 * directly, and the signandpay callback: parsing, signature, payment. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include "payments.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void identity_of_byte(gs_identity_t *id, unsigned char b)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(seed, b, sizeof seed);
    gs_identity_from_seed(id, seed);
}

static void test_seed_text_round_trips_and_catches_typos(void **state)
{
    gs_identity_t a, b;
    char text[GS_SEED_TEXT_LEN], messy[128];
    gs_diag_t diag = {{0}};
    (void)state;
    gs_identity_generate(&a);
    gs_identity_seed_text(&a, text);
    assert_int_equal(strlen(text), 80);
    assert_int_equal(gs_identity_from_seed_text(&b, text, NULL), GS_OK);
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    assert_string_equal(a.address, b.address);
    /* upper case and spaces instead of dashes are fine */
    for (size_t i = 0; i <= strlen(text); i++)
        messy[i] = text[i] == '-' ? ' ' : (char)toupper((unsigned char)text[i]);
    assert_int_equal(gs_identity_from_seed_text(&b, messy, NULL), GS_OK);
    assert_memory_equal(a.pk, b.pk, sizeof a.pk);
    text[3] = text[3] == '0' ? '1' : '0'; /* one mistyped digit */
    assert_int_equal(gs_identity_from_seed_text(&b, text, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "checksum"));
    assert_int_equal(gs_identity_from_seed_text(&b, "abcd", &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "expected 72"));
    assert_int_equal(gs_identity_from_seed_text(&b, "zz", &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "'z' is not a hex digit"));
}

static void test_identity_file_is_private(void **state)
{
    char dir[] = "/tmp/gs_test_payments_XXXXXX", path[64];
    gs_identity_t a, b;
    gs_diag_t diag = {{0}};
    struct stat st;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/identity.json", dir);
    assert_int_equal(gs_identity_load(&b, path, &diag), GS_ENOENT);
    assert_non_null(strstr(diag.msg, "gridstor init"));
    identity_of_byte(&a, 7);
    snprintf(a.name, sizeof a.name, "install.3bot");
    a.tid = 42;
    assert_int_equal(gs_identity_save(&a, path, NULL), GS_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(gs_identity_load(&b, path, NULL), GS_OK);
    assert_string_equal(b.name, "install.3bot");
    assert_int_equal(b.tid, 42);
    assert_memory_equal(a.sk, b.sk, sizeof a.sk);
    chmod(path, 0644);
    assert_int_equal(gs_identity_load(&b, path, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "chmod 600"));
    unlink(path);
    rmdir(dir);
}

static void test_tft_amounts_parse_exactly(void **state)
{
    static const struct {
        const char *text;
        uint64_t stropes;
    } good[] = {{"196.8696576", 1968696576}, {"0.0000001", 1}, {"12", 120000000},
                {"1.5", 15000000},           {"0", 0},         {"0.1000000", 1000000}};
    static const char *const bad[] = {"",    ".5",  "1.",  "1.12345678", "-1",
                                      "1e5", "abc", "1,5", " 1",         "99999999999999999999"};
    uint64_t v;
    gs_diag_t diag = {{0}};
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(gs_parse_tft(good[i].text, &v, NULL), GS_OK);
        assert_int_equal(v, good[i].stropes);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gs_parse_tft(bad[i], &v, &diag), GS_EINVAL);
}

static void test_http_signature_verifies_over_the_signing_string(void **state)
{
    gs_identity_t id;
    gs_http_signature_t s;
    char text[256], *sig;
    unsigned char raw[crypto_sign_BYTES];
    size_t len = 0;
    (void)state;
    identity_of_byte(&id, 3);
    id.tid = 151;
    gs_http_signature(&id, 1700000000, &s);
    assert_string_equal(s.date, "Date: Tue, 14 Nov 2023 22:13:20 GMT");
    assert_string_equal(s.threebot_id, "Threebot-Id: 151");
    assert_non_null(strstr(s.authorization, "keyId=\"151\""));
    assert_non_null(strstr(s.authorization, "headers=\"(created) date threebot-id\""));
    assert_non_null(strstr(s.authorization, "created=\"1700000000\""));
    sig = strstr(s.authorization, "signature=\"") + strlen("signature=\"");
    assert_int_equal(sodium_base642bin(raw, sizeof raw, sig, strcspn(sig, "\""), NULL, &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    snprintf(text, sizeof text,
             "(created): 1700000000\ndate: Tue, 14 Nov 2023 22:13:20 GMT\nthreebot-id: 151");
    assert_int_equal(crypto_sign_verify_detached(raw, (unsigned char *)text, strlen(text), id.pk),
                     0);
}

static void test_chain_payment_is_signed_text(void **state)
{
    gs_identity_t id;
    char *body, to[65];
    json_t *j, *tx;
    unsigned char sig[crypto_sign_BYTES];
    const char *text;
    (void)state;
    identity_of_byte(&id, 5);
    memset(to, 'a', 64);
    to[64] = '\0';
    body = gs_chain_payment(&id, to, 1234, "gs-abc", 3);
    j = json_loads(body, 0, NULL);
    text = gs_json_str(j, "json");
    tx = json_loads(text, 0, NULL);
    assert_string_equal(gs_json_str(tx, "from"), id.address);
    assert_string_equal(gs_json_str(tx, "to"), to);
    assert_string_equal(gs_json_str(tx, "asset"), "TFT");
    assert_string_equal(gs_json_str(tx, "memo"), "gs-abc");
    assert_int_equal(json_integer_value(json_object_get(tx, "amount")), 1234);
    assert_int_equal(json_integer_value(json_object_get(tx, "sequence")), 3);
    assert_int_equal(
        sodium_hex2bin(sig, sizeof sig, gs_json_str(j, "signature"), 128, NULL, NULL, NULL), 0);
    assert_int_equal(
        crypto_sign_verify_detached(sig, (const unsigned char *)text, strlen(text), id.pk), 0);
    json_decref(tx);
    json_decref(j);
    free(body);
}

/* ---- the callback ---- */

#define DOC  "gridstor reservation\ndeployment: t (m1, 16+4 erasure coding)\n"
#define TXID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A callback body whose SignedData is text signed by id. */
static char *callback_body(const gs_identity_t *id, const char *text)
{
    size_t len = strlen(text);
    unsigned char *sm = malloc(crypto_sign_BYTES + len);
    char *b64 =
        malloc(sodium_base64_ENCODED_LEN(crypto_sign_BYTES + len, sodium_base64_VARIANT_ORIGINAL));
    json_t *j;
    char *body;
    crypto_sign(sm, NULL, (const unsigned char *)text, len, id->sk);
    sodium_bin2base64(
        b64, sodium_base64_ENCODED_LEN(crypto_sign_BYTES + len, sodium_base64_VARIANT_ORIGINAL), sm,
        crypto_sign_BYTES + len, sodium_base64_VARIANT_ORIGINAL);
    j = json_pack("{s:s, s:s, s:{s:s}}", "DoubleName", "alice.3bot", "SignedData", b64, "Payment",
                  "Transaction", TXID);
    body = gs_json_dumps(j);
    json_decref(j);
    free(sm);
    free(b64);
    return body;
}

static int verify_body(const char *body, const unsigned char *pk, const char *doc, gs_diag_t *diag)
{
    gs_callback_t cb;
    int err = gs_callback_parse(body, strlen(body), &cb, diag);
    if (err == GS_OK) {
        err = gs_callback_verify(&cb, pk, doc, diag);
        gs_callback_free(&cb);
    }
    return err;
}

static void test_callback_signature_checks(void **state)
{
    gs_identity_t alice, mallory;
    gs_diag_t diag = {{0}};
    char *body;
    gs_callback_t cb;
    (void)state;
    identity_of_byte(&alice, 1);
    identity_of_byte(&mallory, 2);
    body = callback_body(&alice, DOC);
    assert_int_equal(gs_callback_parse(body, strlen(body), &cb, NULL), GS_OK);
    assert_string_equal(cb.double_name, "alice.3bot");
    assert_string_equal(cb.txid, TXID);
    gs_callback_free(&cb);
    assert_int_equal(verify_body(body, alice.pk, DOC, NULL), GS_OK);
    /* the owner is alice, but the key that signed is not hers */
    assert_int_equal(verify_body(body, mallory.pk, DOC, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "does not verify with alice.3bot's key"));
    /* a valid signature over another document */
    assert_int_equal(verify_body(body, alice.pk, DOC "x", &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "not this session's document"));
    free(body);
    /* a forged signature: one bit of the signature flipped */
    body = callback_body(&alice, DOC);
    {
        char *sd = strstr(body, "\"SignedData\":\"") + strlen("\"SignedData\":\"");
        sd[5] = sd[5] == 'A' ? 'B' : 'A';
    }
    assert_int_equal(verify_body(body, alice.pk, DOC, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "does not verify"));
    free(body);
}

static void test_callback_bad_bodies_are_refused_with_the_member(void **state)
{
    static const struct {
        const char *body, *says;
    } cases[] = {
        {"", "expected a JSON object"},
        {"[]", "expected a JSON object"},
        {"{\"DoubleName\":\"a\",\"DoubleName\":\"b\"}", "expected a JSON object"},
        {"{\"SignedData\":\"AAAA\",\"Payment\":{\"Transaction\":\"" TXID "\"}}", "DoubleName"},
        {"{\"DoubleName\":\"a.3bot\",\"Payment\":{\"Transaction\":\"" TXID "\"}}", "SignedData"},
        {"{\"DoubleName\":\"a.3bot\",\"SignedData\":\"AAAA\"}", "Payment"},
        {"{\"DoubleName\":\"a.3bot\",\"SignedData\":\"AAAA\",\"Payment\":{\"Transaction\":\"x\"}}",
         "Payment.Transaction"},
        {"{\"DoubleName\":\"a.3bot\",\"SignedData\":\"AAAA\",\"Payment\":{\"Transaction\":\"" TXID
         "\",\"Amount\":\"1\"}}",
         "Payment.Amount: unknown member"},
        {"{\"DoubleName\":\"a.3bot\",\"SignedData\":\"AAAA\",\"Payment\":{\"Transaction\":\"" TXID
         "\"},\"Extra\":1}",
         "Extra: unknown member"},
        {"{\"DoubleName\":\"a.3bot\",\"SignedData\":\"!!!!\",\"Payment\":{\"Transaction\":\"" TXID
         "\"}}",
         "not standard base64"},
        {"{\"DoubleName\":\"a.3bot\",\"SignedData\":\"AAAA\",\"Payment\":{\"Transaction\":\"" TXID
         "\"}}",
         "too short"},
    };
    gs_callback_t cb;
    gs_diag_t diag;
    char *big = calloc(1, GS_CALLBACK_MAX_BODY + 2);
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&diag, 0, sizeof diag);
        assert_int_not_equal(gs_callback_parse(cases[i].body, strlen(cases[i].body), &cb, &diag),
                             GS_OK);
        if (strstr(diag.msg, cases[i].says) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, diag.msg, cases[i].says);
        assert_null(cb.signed_data);
    }
    memset(big, ' ', GS_CALLBACK_MAX_BODY + 1);
    assert_int_equal(gs_callback_parse(big, GS_CALLBACK_MAX_BODY + 1, &cb, &diag), GS_ETOOBIG);
    free(big);
}

static void test_payment_must_match_destination_asset_memo_and_amount(void **state)
{
    static const struct {
        const char *tx, *says;
    } cases[] = {
        {"{\"from\":\"p\",\"to\":\"w\",\"asset\":\"TFT\",\"memo\":\"gs-1\",\"amount\":100}", NULL},
        {"{\"from\":\"p\",\"to\":\"w\",\"asset\":\"TFT\",\"memo\":\"gs-1\",\"amount\":150}", NULL},
        {"{\"from\":\"p\",\"to\":\"x\",\"asset\":\"TFT\",\"memo\":\"gs-1\",\"amount\":100}",
         "not to this install"},
        {"{\"from\":\"p\",\"to\":\"w\",\"asset\":\"XLM\",\"memo\":\"gs-1\",\"amount\":100}",
         "asset XLM"},
        {"{\"from\":\"p\",\"to\":\"w\",\"asset\":\"TFT\",\"memo\":\"gs-2\",\"amount\":100}",
         "memo 'gs-2'"},
        {"{\"from\":\"p\",\"to\":\"w\",\"asset\":\"TFT\",\"memo\":\"gs-1\",\"amount\":99}",
         "0.0000099 TFT paid, 0.0000100 TFT due"},
        {"{\"to\":\"w\",\"memo\":\"gs-1\",\"amount\":100}", "malformed"},
        {"{\"from\":\"m\",\"to\":\"w\",\"asset\":\"TFT\",\"memo\":\"gs-1\",\"amount\":100}",
         "made from m, not by the signer"},
    };
    gs_payment_expect_t want = {.from = "p", .destination = "w", .amount = 100, .memo = "gs-1"};
    gs_diag_t diag;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *tx = json_loads(cases[i].tx, 0, NULL);
        int err;
        memset(&diag, 0, sizeof diag);
        err = gs_payment_check(tx, &want, &diag);
        json_decref(tx);
        if (cases[i].says == NULL) {
            assert_int_equal(err, GS_OK);
            continue;
        }
        assert_int_not_equal(err, GS_OK);
        if (strstr(diag.msg, cases[i].says) == NULL)
            fail_msg("case %zu: '%s' does not say '%s'", i, diag.msg, cases[i].says);
    }
}

/* The node opens what was sealed for it, from its side of the key exchange; no one
 * else does, and the value's size is capped. */
static void test_sealed_value_opens_only_on_its_node(void **state)
{
    gs_identity_t user, node, other;
    unsigned char nx[32], ux[32], shared[32], key[32], box[2048], plain[GS_SEAL_MAX + 1];
    char node_hex[65], sealed[4200], big[GS_SEAL_MAX + 2];
    size_t blen = 0;
    (void)state;
    gs_identity_generate(&user);
    gs_identity_generate(&node);
    gs_identity_generate(&other);
    sodium_bin2hex(node_hex, sizeof node_hex, node.pk, 32);
    assert_true(gs_seal_for_node(&user, node_hex, "zdb-password-1", sealed, sizeof sealed));
    assert_int_equal(sodium_hex2bin(box, sizeof box, sealed, strlen(sealed), NULL, &blen, NULL), 0);
    assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(nx, node.sk), 0);
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(ux, user.pk), 0);
    assert_int_equal(crypto_scalarmult(shared, nx, ux), 0);
    crypto_generichash(key, sizeof key, shared, sizeof shared, NULL, 0);
    assert_int_equal(crypto_secretbox_open_easy(plain, box + 24, blen - 24, box, key), 0);
    assert_memory_equal(plain, "zdb-password-1", 14);
    assert_int_equal(blen - 24 - crypto_secretbox_MACBYTES, 14);
    /* another node's key does not open it */
    assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(nx, other.sk), 0);
    assert_int_equal(crypto_scalarmult(shared, nx, ux), 0);
    crypto_generichash(key, sizeof key, shared, sizeof shared, NULL, 0);
    assert_int_not_equal(crypto_secretbox_open_easy(plain, box + 24, blen - 24, box, key), 0);
    /* caps and bad keys */
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(gs_seal_for_node(&user, node_hex, big, sealed, sizeof sealed));
    assert_false(gs_seal_for_node(&user, node_hex, "x", sealed, 10));
    assert_false(gs_seal_for_node(&user, "zz", "x", sealed, sizeof sealed));
}

/* Derived keys depend on the seed and the context only. */
static void test_derived_keys_come_back_from_the_seed(void **state)
{
    gs_identity_t a, b;
    unsigned char k1[32], k2[32], k3[32];
    (void)state;
    gs_identity_generate(&a);
    gs_identity_from_seed(&b, a.seed);
    gs_identity_derive_key(&a, "deployment/x/1", k1);
    gs_identity_derive_key(&b, "deployment/x/1", k2);
    gs_identity_derive_key(&b, "deployment/x/2", k3);
    assert_memory_equal(k1, k2, 32);
    assert_memory_not_equal(k1, k3, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_text_round_trips_and_catches_typos),
        cmocka_unit_test(test_identity_file_is_private),
        cmocka_unit_test(test_tft_amounts_parse_exactly),
        cmocka_unit_test(test_http_signature_verifies_over_the_signing_string),
        cmocka_unit_test(test_chain_payment_is_signed_text),
        cmocka_unit_test(test_callback_signature_checks),
        cmocka_unit_test(test_callback_bad_bodies_are_refused_with_the_member),
        cmocka_unit_test(test_payment_must_match_destination_asset_memo_and_amount),
        cmocka_unit_test(test_sealed_value_opens_only_on_its_node),
        cmocka_unit_test(test_derived_keys_come_back_from_the_seed),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
