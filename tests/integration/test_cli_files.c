/* test_cli_files.c — `gridstor put/get/check/repair --codec FILE` as a user runs them:
 * the real gridstor binary against real `gridstor-sim zdb` servers (4 + 2 data backends
 * and a spare, a metadata master), with a codec configuration whose key is in a 0600
 * file. Checks outputs, files and exit statuses, including a backend killed and the
 * file repaired onto the spare, and `recover` rebuilding the metadata into an empty
 * namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>

#include "process.h"
#include "simproc.h"
#include "zdbproc.h"

#define N_DATA    7
#define MASTER    7
#define EMPTY     8 /* a server nothing is written to, for recover --into */
#define N_SERVERS 9

static struct {
    char dir[64], config[128], file[128];
    ts_zdb_t srv[N_SERVERS];
} fx;

static void write_file(const char *path, const void *p, size_t n, int mode)
{
    gs_diag_t diag = {{0}};
    if (gs_file_write_atomic(path, p, n, mode, &diag) != GS_OK)
        fail_msg("%s", diag.msg);
}

static void write_config(void)
{
    unsigned char key[32];
    char hex[65], path[128];
    gs_buf_t b;
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    snprintf(path, sizeof path, "%s/deploy.key", fx.dir);
    write_file(path, hex, strlen(hex), 0600);
    gs_buf_init(&b, 1 << 16);
    gs_buf_printf(&b,
                  "data: 4\nparity: 2\nstripe_size: 64KiB\nkey_file: deploy.key\n"
                  "placement: spares\n" /* the test names the spare */
                  "metadata:\n  master: {address: \"%s\", namespace: default}\nbackends:\n",
                  fx.srv[MASTER].address);
    for (int i = 0; i < N_DATA; i++)
        gs_buf_printf(&b, "  - {address: \"%s\", namespace: default}\n", fx.srv[i].address);
    snprintf(fx.config, sizeof fx.config, "%s/codec.yaml", fx.dir);
    write_file(fx.config, b.data, b.len, 0600);
    gs_buf_free(&b);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(fx.dir, sizeof fx.dir, "/tmp/gs-test-cli-files-XXXXXX");
    if (mkdtemp(fx.dir) == NULL || sodium_init() < 0)
        return -1;
    for (int i = 0; i < N_SERVERS; i++)
        ts_zdb_start(&fx.srv[i], fx.dir, i, 0);
    write_config();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_SERVERS; i++)
        ts_zdb_stop(&fx.srv[i]);
    ts_remove_tree(fx.dir);
    return 0;
}

/* gridstor CMD ARG [extra...] --codec CONFIG; its status, p filled (ts_proc_free it). */
static int gridstor(ts_proc_t *p, const char *cmd, const char *arg, const char *extra1,
                    const char *extra2)
{
    const char *argv[10] = {ts_env("GS_GRIDSTOR"), cmd, arg, "--codec", fx.config};
    size_t n = 5;
    if (extra1)
        argv[n++] = extra1;
    if (extra2)
        argv[n++] = extra2;
    argv[n] = NULL;
    ts_run(fx.dir, argv, p);
    return p->status;
}

static void test_put_get_check_repair_from_the_command_line(void **state)
{
    size_t n = 250000;
    uint8_t *content = malloc(n);
    char id[128], out[160];
    ts_proc_t p;
    json_t *j;
    gs_buf_t back;
    (void)state;
    randombytes_buf(content, n);
    snprintf(fx.file, sizeof fx.file, "%s/photo.jpg", fx.dir);
    write_file(fx.file, content, n, 0644);
    /* put: the id, with the extension from the name */
    assert_int_equal(gridstor(&p, "put", fx.file, "--json", NULL), 0);
    j = json_loads(p.out.data, 0, NULL);
    assert_non_null(j);
    snprintf(id, sizeof id, "%s", gs_json_str(j, "id"));
    assert_int_equal(strlen(id), 48 + 8 + 4);
    assert_string_equal(id + 56, ".jpg");
    assert_int_equal(json_integer_value(json_object_get(j, "size")), n);
    json_decref(j);
    ts_proc_free(&p);
    /* get -o: the same bytes, and no .part left */
    snprintf(out, sizeof out, "%s/back.jpg", fx.dir);
    assert_int_equal(gridstor(&p, "get", id, "-o", out), 0);
    ts_proc_free(&p);
    gs_buf_init(&back, 1 << 22);
    assert_int_equal(gs_file_read(out, 1 << 22, &back, NULL), GS_OK);
    assert_int_equal(back.len, n);
    assert_memory_equal(back.data, content, n);
    gs_buf_free(&back);
    /* check: healthy; a backend gone: exit 6, then repair onto the spare, healthy again */
    assert_int_equal(gridstor(&p, "check", id, "--hard", NULL), 0);
    assert_non_null(strstr(p.out.data, "6 of 6 shards good"));
    assert_non_null(strstr(p.out.data, "hash verified"));
    ts_proc_free(&p);
    ts_zdb_kill(&fx.srv[2]);
    assert_int_equal(gridstor(&p, "check", id, NULL, NULL), 6);
    assert_non_null(strstr(p.out.data, "5 of 6 shards good, 1 missing"));
    ts_proc_free(&p);
    assert_int_equal(gridstor(&p, "repair", id, NULL, NULL), 0);
    assert_non_null(strstr(p.out.data, "1 shard rebuilt"));
    ts_proc_free(&p);
    assert_int_equal(gridstor(&p, "check", id, "--json", NULL), 0);
    j = json_loads(p.out.data, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "good")), 6);
    json_decref(j);
    ts_proc_free(&p);
    assert_int_equal(gridstor(&p, "repair", id, NULL, NULL), 0);
    assert_non_null(strstr(p.out.data, "nothing to rebuild"));
    ts_proc_free(&p);
    free(content);
}

static void test_file_commands_say_what_is_wrong(void **state)
{
    ts_proc_t p;
    char id[80], bad[160];
    (void)state;
    /* an id nobody stored: 8; a malformed one: 2 */
    memset(id, 'a', 56);
    snprintf(id + 48, sizeof id - 48, "00000fff");
    assert_int_equal(gridstor(&p, "get", id, "-o", "/dev/null"), 8);
    assert_non_null(strstr(p.err.data, "no such file"));
    ts_proc_free(&p);
    assert_int_equal(gridstor(&p, "get", "xyz", NULL, NULL), 2);
    ts_proc_free(&p);
    /* a configuration with a mistake: its line and column */
    snprintf(bad, sizeof bad, "%s/bad.yaml", fx.dir);
    write_file(bad, "data: 4\nparityy: 2\n", 19, 0600);
    {
        const char *argv[] = {ts_env("GS_GRIDSTOR"), "check", id, "--codec", bad, NULL};
        ts_run(fx.dir, argv, &p);
    }
    assert_int_equal(p.status, 2);
    assert_non_null(strstr(p.err.data, "bad.yaml:2:1"));
    ts_proc_free(&p);
    /* no --codec: usage */
    {
        const char *argv[] = {ts_env("GS_GRIDSTOR"), "put", fx.file, NULL};
        ts_run(fx.dir, argv, &p);
    }
    assert_int_equal(p.status, 2);
    ts_proc_free(&p);
}

/* recover: the records the puts above wrote, rebuilt from their backups into an empty
 * namespace; a second run finds nothing to write; options of other commands refused. */
static void test_recover_rebuilds_the_metadata_elsewhere(void **state)
{
    ts_proc_t p;
    char into[96];
    json_t *j;
    (void)state;
    snprintf(into, sizeof into, "%s/default", fx.srv[EMPTY].address);
    {
        const char *argv[] = {
            ts_env("GS_GRIDSTOR"), "recover", "--codec", fx.config, "--into", into, "--json", NULL};
        ts_run(fx.dir, argv, &p);
    }
    assert_int_equal(p.status, 0);
    j = json_loads(p.out.data, 0, NULL);
    assert_non_null(j);
    assert_true(json_integer_value(json_object_get(j, "restored")) >= 1);
    json_decref(j);
    ts_proc_free(&p);
    {
        const char *argv[] = {
            ts_env("GS_GRIDSTOR"), "recover", "--codec", fx.config, "--into", into, NULL};
        ts_run(fx.dir, argv, &p);
    }
    assert_int_equal(p.status, 0);
    assert_non_null(strstr(p.out.data, "nothing to write"));
    ts_proc_free(&p);
    {
        const char *argv[] = {
            ts_env("GS_GRIDSTOR"), "recover", "--codec", fx.config, "--hard", NULL};
        ts_run(fx.dir, argv, &p);
    }
    assert_int_equal(p.status, 2);
    ts_proc_free(&p);
    {
        const char *argv[] = {
            ts_env("GS_GRIDSTOR"), "get", "x", "--codec", fx.config, "--into", into, NULL};
        ts_run(fx.dir, argv, &p);
    }
    assert_int_equal(p.status, 2);
    ts_proc_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_check_repair_from_the_command_line),
        cmocka_unit_test(test_file_commands_say_what_is_wrong),
        cmocka_unit_test(test_recover_rebuilds_the_metadata_elsewhere),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
