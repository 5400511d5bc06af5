/* test_codec_config.c — the codec configuration file: a good file, each bad key or value
 * reported at its line and column, the key file's mode, and the JSON round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* A 2 + 1 codec with one spare backend; line numbers below count from here. */
static const char good[] = "data: 2\n"                   /* 1 */
                           "parity: 1\n"                 /* 2 */
                           "stripe_size: 64KiB\n"        /* 3 */
                           "zstd_level: 5\n"             /* 4 */
                           "cipher: xchacha20poly1305\n" /* 5 */
                           "key: " KEY_HEX "\n"          /* 6 */
                           "metadata:\n"                 /* 7 */
                           "  master: {address: 127.0.0.1:9900, namespace: meta, password: m}\n"
                           "  replicas:\n" /* 9 */
                           "    - {address: '[::1]:9901', namespace: meta}\n"
                           "backends:\n" /* 11 */
                           "  - {address: 127.0.0.1:9910, namespace: d0, password: p0}\n"
                           "  - {address: localhost:9911, namespace: d1}\n"
                           "  - {address: 127.0.0.1:9912, namespace: d2}\n"
                           "  - {address: 127.0.0.1:9913, namespace: d3}\n"
                           "timeouts: {connect_ms: 2000, command_ms: 3000}\n";

static char *text_with(const char *from, const char *to)
{
    const char *at = strstr(good, from);
    char *t;
    assert_non_null(at);
    t = malloc(sizeof good + strlen(to));
    snprintf(t, sizeof good + strlen(to), "%.*s%s%s", (int)(at - good), good, to,
             at + strlen(from));
    return t;
}

static void test_config_good_file(void **state)
{
    gs_codec_config_t c;
    gs_diag_t diag;
    gs_zdb_opts_t o;
    (void)state;
    assert_int_equal(gs_codec_config_parse(good, strlen(good), "codec.yaml", &c, &diag), 0);
    assert_int_equal(c.params.data, 2);
    assert_int_equal(c.params.parity, 1);
    assert_int_equal(c.params.stripe_size, 65536);
    assert_int_equal(c.params.zstd_level, 5);
    assert_int_equal(c.params.cipher, GS_CIPHER_XCHACHA20POLY1305);
    assert_false(c.cipher_auto);
    assert_int_equal(c.key[0], 0);
    assert_int_equal(c.key[31], 0x1f);
    assert_null(c.key_file);
    assert_string_equal(c.meta_master.address, "127.0.0.1:9900");
    assert_string_equal(c.meta_master.password, "m");
    assert_int_equal(c.n_meta_replicas, 1);
    assert_string_equal(c.meta_replicas[0].address, "[::1]:9901");
    assert_null(c.meta_replicas[0].password);
    assert_int_equal(c.n_backends, 4);
    assert_string_equal(c.backends[1].address, "localhost:9911");
    assert_string_equal(c.backends[0].password, "p0");
    gs_codec_config_zdb_opts(&c, &c.backends[0], &o);
    assert_string_equal(o.ns, "d0");
    assert_int_equal(o.connect_ms, 2000);
    assert_int_equal(o.timeout_ms, 3000);
    gs_codec_config_free(&c);
    gs_codec_config_free(&c); /* twice is harmless */
}

static void test_config_defaults(void **state)
{
    char *t = malloc(4096);
    gs_codec_config_t c;
    gs_diag_t diag;
    (void)state;
    strcpy(t, "key: " KEY_HEX "\nmetadata: {master: {address: 'h:1', namespace: m}}\nbackends:\n");
    for (int i = 0; i < 20; i++)
        sprintf(t + strlen(t), "  - {address: 'h:%d', namespace: d}\n", 2 + i);
    assert_int_equal(gs_codec_config_parse(t, strlen(t), NULL, &c, &diag), 0);
    assert_int_equal(c.params.data, 16);
    assert_int_equal(c.params.parity, 4);
    assert_int_equal(c.params.stripe_size, 4 << 20);
    assert_true(c.cipher_auto);
    assert_int_equal(c.connect_ms, 5000);
    assert_int_equal(c.command_ms, 10000);
    assert_int_equal(c.n_meta_replicas, 0);
    gs_codec_config_free(&c);
    free(t);
}

/* Each change to the good file, and the message it must give (it starts with
 * "codec.yaml:LINE:COL: KEY: "). */
static const struct {
    const char *from, *to, *want;
} bad[] = {
    {"zstd_level: 5", "zstd_levl: 5",
     "codec.yaml:4:1: zstd_levl: unknown key; did you mean 'zstd_level'?"},
    {"data: 2", "data: two", "codec.yaml:1:7: data: expected a whole number"},
    {"zstd_level: 5", "zstd_level: 20", "codec.yaml:4:13: zstd_level: 20 is out of range"},
    {"cipher: xchacha20poly1305", "cipher: rot13", "codec.yaml:5:9: cipher: unknown value 'rot13'"},
    {"stripe_size: 64KiB", "stripe_size: 64", "codec.yaml:3:14: stripe_size: '64': add a unit"},
    {"stripe_size: 64KiB", "stripe_size: 1TiB", "codec.yaml:3:1: stripe_size: stripe size"},
    {"parity: 1", "parity: 254", "codec.yaml:2:1: parity: data + parity must be"},
    {"key: " KEY_HEX, "key: 00ff", "codec.yaml:6:6: key: expected 64 hex digits"},
    {"key: " KEY_HEX, "key: " KEY_HEX "\nkey_file: k", "codec.yaml:7:1: key_file: give either"},
    {"key: " KEY_HEX "\n", "", "codec.yaml:1:1: key: the deployment key is missing"},
    {"127.0.0.1:9900", "127.0.0.1", "codec.yaml:8:21: metadata.master.address: expected host:port"},
    {"127.0.0.1:9900", "127.0.0.1:70000",
     "codec.yaml:8:21: metadata.master.address: expected host:port"},
    {"'[::1]:9901'", "'[::g]:9901'",
     "codec.yaml:10:17: metadata.replicas[0].address: the part in brackets"},
    {"'[::1]:9901'", "'::1:9901'",
     "codec.yaml:10:17: metadata.replicas[0].address: expected host:port"},
    {"localhost:9911", "local_host:9911", "codec.yaml:13:15: backends[1].address: a host name has"},
    {"namespace: d1", "namespace: 'd 1'", "codec.yaml:13:42: backends[1].namespace: no spaces"},
    {"namespace: d1", "namespace: d@1", "codec.yaml:13:42: backends[1].namespace: no '@'"},
    {"namespace: d1}", "namespace: d1, pasword: x}",
     "codec.yaml:13:46: backends[1].pasword: unknown key; did you mean 'password'?"},
    {"9913, namespace: d3", "9910, namespace: d0",
     "codec.yaml:15:5: backends[3]: the same namespace and address as backends[0]"},
    {"9913, namespace: d3", "9900, namespace: meta",
     "codec.yaml:15:5: backends[3]: the same namespace and address as metadata.master"},
    {"  - {address: 127.0.0.1:9912, namespace: d2}\n  - {address: 127.0.0.1:9913, namespace: d3}\n",
     "", "codec.yaml:12:3: backends: 2 backends for a 2 + 1 codec: at least 3 are needed"},
    {"'[::1]:9901', namespace: meta", "127.0.0.1:9900, namespace: meta",
     "codec.yaml:10:7: metadata.replicas: a replica cannot be the master"},
    {"  master: {address: 127.0.0.1:9900, namespace: meta, password: m}\n", "",
     "codec.yaml:8:3: master: required key is missing in metadata"},
    {"command_ms: 3000", "command_ms: 5",
     "codec.yaml:16:42: timeouts.command_ms: 5 is out of range"},
    {"backends:\n  - {address: 127.0.0.1:9910, namespace: d0, password: p0}\n"
     "  - {address: localhost:9911, namespace: d1}\n  - {address: 127.0.0.1:9912, namespace: d2}\n"
     "  - {address: 127.0.0.1:9913, namespace: d3}\n",
     "backends: 3\n", "codec.yaml:11:11: backends: expected a list"},
};

static void test_config_bad_keys_and_values_at_their_place(void **state)
{
    size_t failed = 0;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = text_with(bad[i].from, bad[i].to);
        gs_codec_config_t c;
        gs_diag_t diag = {{0}};
        int err = gs_codec_config_parse(t, strlen(t), "codec.yaml", &c, &diag);
        if (err != GS_EINVAL || strncmp(diag.msg, bad[i].want, strlen(bad[i].want)) != 0)
            print_error("case %zu: got %d '%s', want '%s'\n", i, err, diag.msg, bad[i].want),
                failed++;
        assert_null(c.key);
        assert_null(c.backends);
        free(t);
    }
    assert_int_equal(failed, 0);
}

/* A key file in a fresh folder, with the given mode; returns the folder (free it). */
static char *key_dir(const char *content, mode_t mode)
{
    char *dir = strdup("/tmp/gs-codec-config-XXXXXX"), path[256];
    FILE *f;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/deploy.key", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return dir;
}

static void remove_dir(char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/deploy.key", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/codec.yaml", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static int load_with_key_file(const char *dir, gs_codec_config_t *c, gs_diag_t *diag)
{
    char path[256], *t = text_with("key: " KEY_HEX, "key_file: deploy.key");
    FILE *f;
    int err;
    snprintf(path, sizeof path, "%s/codec.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(t, f);
    fclose(f);
    free(t);
    err = gs_codec_config_load(path, c, diag);
    return err;
}

static void test_config_key_file_relative_and_private(void **state)
{
    char *dir = key_dir(KEY_HEX "\n", 0600);
    gs_codec_config_t c;
    gs_diag_t diag;
    (void)state;
    assert_int_equal(load_with_key_file(dir, &c, &diag), 0);
    assert_int_equal(c.key[1], 1);
    assert_non_null(strstr(c.key_file, "/deploy.key"));
    assert_int_equal(strncmp(c.key_file, dir, strlen(dir)), 0);
    gs_codec_config_free(&c);
    remove_dir(dir);
}

static void test_config_key_file_readable_by_others_refused(void **state)
{
    char *dir = key_dir(KEY_HEX "\n", 0644);
    gs_codec_config_t c;
    gs_diag_t diag;
    (void)state;
    assert_int_equal(load_with_key_file(dir, &c, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, ":6:1: key_file: "));
    assert_non_null(strstr(diag.msg, "can be read by others; chmod 600 it"));
    remove_dir(dir);
    dir = key_dir("not hex at all\n", 0600);
    assert_int_equal(load_with_key_file(dir, &c, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "must hold 64 hex digits"));
    remove_dir(dir);
}

static void test_config_json_round_trip(void **state)
{
    gs_codec_config_t c, back;
    gs_diag_t diag;
    json_t *j, *public;
    char *text, *again;
    (void)state;
    assert_int_equal(gs_codec_config_parse(good, strlen(good), "codec.yaml", &c, &diag), 0);
    j = gs_codec_config_to_json(&c, true);
    text = gs_json_dumps(j);
    assert_int_equal(gs_codec_config_parse(text, strlen(text), "codec.json", &back, &diag), 0);
    assert_memory_equal(back.key, c.key, GS_CODEC_KEY_LEN);
    assert_memory_equal(&back.params, &c.params, sizeof c.params);
    assert_int_equal(back.n_backends, c.n_backends);
    assert_string_equal(back.backends[0].password, "p0");
    assert_string_equal(back.meta_replicas[0].address, "[::1]:9901");
    public = gs_codec_config_to_json(&back, true);
    again = gs_json_dumps(public);
    assert_string_equal(again, text); /* the same configuration, byte for byte */
    free(again);
    json_decref(public);
    public = gs_codec_config_to_json(&c, false);
    free(text);
    text = gs_json_dumps(public);
    assert_null(strstr(text, KEY_HEX));
    assert_null(strstr(text, "\"password\""));
    assert_non_null(strstr(text, "\"stripe_size\":\"64KiB\""));
    free(text);
    json_decref(public);
    json_decref(j);
    gs_codec_config_free(&back);
    gs_codec_config_free(&c);
}

static void test_config_file_errors(void **state)
{
    gs_codec_config_t c;
    gs_diag_t diag;
    char *big;
    (void)state;
    assert_int_equal(gs_codec_config_load("/nonexistent/codec.yaml", &c, &diag), GS_ENOENT);
    assert_int_equal(gs_codec_config_parse("", 0, "e.yaml", &c, &diag), GS_EINVAL);
    assert_int_equal(gs_codec_config_parse("[1, 2]", 6, "e.yaml", &c, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "e.yaml:1:1: "));
    big = calloc(1, 300 * 1024);
    memset(big, '#', 300 * 1024 - 1);
    assert_int_equal(gs_codec_config_parse(big, strlen(big), "e.yaml", &c, &diag), GS_ETOOBIG);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_good_file),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_bad_keys_and_values_at_their_place),
        cmocka_unit_test(test_config_key_file_relative_and_private),
        cmocka_unit_test(test_config_key_file_readable_by_others_refused),
        cmocka_unit_test(test_config_json_round_trip),
        cmocka_unit_test(test_config_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
