/* test_codec_recover.c — rebuilding the metadata namespace from the backups in the data
 * backends (gs_codec_recover) over real `gridstor-sim zdb` servers ($GS_SIM): 4 + 2 data
 * backends and a spare, and a metadata master that tests wipe (stopped, its folders
 * removed, started again empty on the same port). Files are put through the codec, one is
 * repaired (so a newer backup of its record exists), one id is a deleted record; after the
 * recovery every record must be byte for byte what the master held, under the same id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"
#include "process.h"
#include "codecfix.h"

#define N_DATA    7 /* 4 + 2 and one spare */
#define MASTER    7
#define N_SERVERS 8
#define STRIPE    (64 * 1024)
#define N_FILES   12
#define MAX_IDS   32

typedef struct {
    ts_codec_fix_t c; /* the servers and the codec */
    /* what was put: file ids, contents, and the master's records by id (len 0: deleted) */
    char ids[N_FILES][GS_CODEC_ID_MAX];
    uint8_t *content[N_FILES];
    size_t size[N_FILES];
    gs_buf_t records[MAX_IDS];
    uint64_t n_ids;
} fixture_t;

typedef struct {
    bool done;
    int err;
    char msg[GS_DIAG_MAX];
    char id[GS_CODEC_ID_MAX];
    gs_meta_t *meta;
    gs_buf_t bytes;
    unsigned rebuilt, progress_calls;
    gs_recover_stats_t st;
    bool nil;
} res_t;

/* ---- fixture ---- */

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    *state = f;
    ts_codec_fix_open(&f->c, "codec-recover", N_SERVERS, N_DATA, MASTER, -1);
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc = ts_codec_fix_close(&f->c);
    for (int i = 0; i < N_FILES; i++)
        free(f->content[i]);
    for (int i = 0; i < MAX_IDS; i++)
        gs_buf_free(&f->records[i]);
    free(f);
    return rc;
}

/* ---- synchronous helpers: each runs the loop until its callback ---- */

static void run_until(fixture_t *f, const res_t *r)
{
    while (!r->done)
        uv_run(&f->c.loop, UV_RUN_ONCE);
}

static void note(res_t *r, int err, const char *msg)
{
    r->done = true;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
}

static void on_put(int err, const char *msg, const char *id, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    if (id)
        snprintf(r->id, sizeof r->id, "%s", id);
}

static void put(fixture_t *f, const void *p, size_t n, const char *ext, char id[GS_CODEC_ID_MAX])
{
    res_t r = {0};
    gs_diag_t diag = {{0}};
    assert_int_equal(gs_codec_put_mem(f->c.codec, p, n, ext, on_put, &r, &diag), GS_OK);
    run_until(f, &r);
    if (r.err != GS_OK)
        fail_msg("put: %s", r.msg);
    snprintf(id, GS_CODEC_ID_MAX, "%s", r.id);
}

static void on_meta(int err, const char *msg, gs_meta_t *m, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    r->meta = m;
}

static void sink(const uint8_t *p, size_t n, void *ud)
{
    res_t *r = ud;
    gs_buf_append(&r->bytes, p, n);
}

static void on_read(int err, const char *msg, void *ud)
{
    note(ud, err, msg);
}

static gs_meta_t *lookup(fixture_t *f, const char *id)
{
    res_t r = {0};
    gs_diag_t diag = {{0}};
    assert_int_equal(gs_codec_lookup(f->c.codec, id, on_meta, &r, &diag), GS_OK);
    run_until(f, &r);
    if (r.err != GS_OK)
        fail_msg("lookup %s: %s", id, r.msg);
    return r.meta;
}

static void expect_content(fixture_t *f, int i)
{
    res_t r = {0};
    gs_diag_t diag = {{0}};
    gs_meta_t *m = lookup(f, f->ids[i]);
    gs_buf_init(&r.bytes, 16u << 20);
    assert_int_equal(gs_codec_retrieve(gs_codec_shards(f->c.codec), m, 0, UINT64_MAX, sink, on_read,
                                       &r, NULL, &diag),
                     GS_OK);
    run_until(f, &r);
    if (r.err != GS_OK)
        fail_msg("reading %s: %s", f->ids[i], r.msg);
    assert_int_equal(r.bytes.len, f->size[i]);
    if (f->size[i])
        assert_memory_equal(r.bytes.data, f->content[i], f->size[i]);
    gs_buf_free(&r.bytes);
    gs_meta_free(m);
}

/* ---- raw commands on one 0-db ---- */

static void on_reply(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    if (v == NULL)
        return;
    r->nil = v->type == GS_RESP_NIL;
    if (v->type == GS_RESP_BULK || v->type == GS_RESP_ERROR)
        gs_buf_append(&r->bytes, v->str, v->len);
}

/* Runs one command on server i; the reply's bytes into out (may be NULL); *nil for nil. */
static int raw(fixture_t *f, int i, size_t argc, const char *const *argv, const size_t *lens,
               gs_buf_t *out, bool *nil)
{
    gs_zdb_opts_t o = {.address = f->c.srv[i].address, .ns = "default"};
    gs_diag_t diag = {{0}};
    gs_zdb_t *z = gs_zdb_new(&f->c.loop, &o, &diag);
    res_t r = {0};
    assert_non_null(z);
    gs_buf_init(&r.bytes, 16u << 20);
    assert_int_equal(gs_zdb_command(z, argc, argv, lens, on_reply, &r), GS_OK);
    run_until(f, &r);
    gs_zdb_close(z);
    if (nil)
        *nil = r.nil;
    if (out)
        *out = r.bytes;
    else
        gs_buf_free(&r.bytes);
    return r.err;
}

static int raw_id(fixture_t *f, int i, const char *cmd, uint64_t id, gs_buf_t *out, bool *nil)
{
    unsigned char key[8];
    const char *argv[] = {cmd, (const char *)key};
    const size_t lens[] = {strlen(cmd), sizeof key};
    gs_zdb_id_key(id, key);
    return raw(f, i, 2, argv, lens, out, nil);
}

/* SET "" value on server i: the new id. */
static uint64_t raw_add(fixture_t *f, int i, const void *p, size_t n)
{
    const char *argv[] = {"SET", "", p};
    const size_t lens[] = {3, 0, n};
    gs_buf_t out;
    uint64_t id = 0;
    assert_int_equal(raw(f, i, 3, argv, lens, &out, NULL), GS_OK);
    assert_int_equal(gs_zdb_key_id(out.data, out.len, &id), GS_OK);
    gs_buf_free(&out);
    return id;
}

/* Every id of the master, as it is now, into f->records (len 0: none at that id). */
static void save_master(fixture_t *f, uint64_t n_ids)
{
    assert_true(n_ids <= MAX_IDS);
    f->n_ids = n_ids;
    for (uint64_t id = 0; id < n_ids; id++) {
        gs_buf_free(&f->records[id]);
        assert_int_equal(raw_id(f, MASTER, "GET", id, &f->records[id], NULL), GS_OK);
    }
}

/* The master holds exactly the saved records, id for id, and nothing past them. */
static void expect_master(fixture_t *f)
{
    for (uint64_t id = 0; id <= f->n_ids; id++) {
        gs_buf_t got;
        bool nil = false;
        assert_int_equal(raw_id(f, MASTER, "GET", id, &got, &nil), GS_OK);
        if (id == f->n_ids || f->records[id].len == 0) {
            if (!nil)
                fail_msg("id %llu should hold nothing", (unsigned long long)id);
        } else {
            assert_int_equal(got.len, f->records[id].len);
            assert_memory_equal(got.data, f->records[id].data, got.len);
        }
        gs_buf_free(&got);
    }
}

/* Stops the master, removes its folders and starts it again empty on its port. */
static void wipe_master(fixture_t *f)
{
    char path[200];
    int port = f->c.srv[MASTER].port;
    ts_zdb_stop(&f->c.srv[MASTER]);
    ts_remove_tree(f->c.srv[MASTER].data);
    snprintf(path, sizeof path, "%s/index%d", f->c.dir, MASTER);
    ts_remove_tree(path);
    ts_zdb_start(&f->c.srv[MASTER], f->c.dir, MASTER, port);
    nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);
}

static void on_progress(gs_recover_phase_t phase, const gs_recover_stats_t *st, void *ud)
{
    res_t *r = ud;
    (void)phase;
    assert_non_null(st);
    r->progress_calls++;
}

static void on_recovered(int err, const char *msg, const gs_recover_stats_t *st, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    r->st = *st;
}

static res_t recover(fixture_t *f)
{
    res_t r = {0};
    gs_diag_t diag = {{0}};
    assert_int_equal(
        gs_codec_recover(&f->c.loop, &f->c.cfg, NULL, on_progress, on_recovered, &r, &diag), GS_OK);
    run_until(f, &r);
    return r;
}

static void on_repair(int err, const char *msg, unsigned rebuilt, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    r->rebuilt = rebuilt;
}

/* Deletes the first chunk of file i's shard 1 and repairs the file: its record is
 * rewritten in place and backed up again (a newer backup on one backend only). */
static void damage_and_repair(fixture_t *f, int i)
{
    gs_meta_t *m = lookup(f, f->ids[i]);
    res_t r = {0};
    gs_diag_t diag = {{0}};
    assert_true(m->n_shards == 6);
    assert_int_equal(raw_id(f, 1, "DEL", m->shards[1].ids[0], NULL, NULL), GS_OK);
    gs_meta_free(m);
    assert_int_equal(gs_codec_repair(f->c.codec, f->ids[i], on_repair, &r, &diag), GS_OK);
    run_until(f, &r);
    if (r.err != GS_OK)
        fail_msg("repair: %s", r.msg);
    assert_int_equal(r.rebuilt, 1);
}

/* A dozen files of several sizes (inline ones, one stripe, several stripes); after the
 * fifth, an id whose record was deleted; the eighth is repaired. Saves the master. */
static void populate(fixture_t *f)
{
    static const size_t sizes[N_FILES] = {0,     1,      100,   4096,   4097,   20000,
                                          65535, STRIPE, 65537, 150000, 300000, 1000};
    static const char *const exts[N_FILES] = {NULL,  "txt", "bin", NULL,  "jpg", "dat",
                                              "bin", NULL,  "tar", "zip", "iso", "md"};
    uint64_t gap = 0;
    for (int i = 0; i < N_FILES; i++) {
        f->size[i] = sizes[i];
        f->content[i] = malloc(sizes[i] ? sizes[i] : 1);
        assert_non_null(f->content[i]);
        randombytes_buf(f->content[i], sizes[i]);
        put(f, f->content[i], sizes[i], exts[i], f->ids[i]);
        if (i == 4) {
            gap = raw_add(f, MASTER, "a record deleted since", 22);
            assert_int_equal(raw_id(f, MASTER, "DEL", gap, NULL, NULL), GS_OK);
        }
    }
    assert_int_equal(gap, 5);
    damage_and_repair(f, 9);
    save_master(f, N_FILES + 1);
    assert_int_equal(f->records[5].len, 0);
}

/* ---- tests ---- */

/* The master wiped: the recovery puts every record back under its id, the deleted id stays
 * deleted, the repaired file's record is its newest, and every file reads back. */
static void test_recover_rebuilds_a_wiped_master(void **state)
{
    fixture_t *f = *state;
    res_t r;
    char id[GS_CODEC_ID_MAX];
    uint8_t more[3000];
    populate(f);
    wipe_master(f);
    r = recover(f);
    if (r.err != GS_OK)
        fail_msg("recover: %s", r.msg);
    assert_int_equal(r.st.backends, N_DATA);
    assert_int_equal(r.st.backends_down, 0);
    assert_int_equal(r.st.records, N_FILES);
    assert_int_equal(r.st.restored, N_FILES);
    assert_int_equal(r.st.gaps, 1);
    assert_int_equal(r.st.first_id, 0);
    assert_int_equal(r.st.next_id, N_FILES + 1);
    assert_int_equal(r.st.unopened, 0);
    assert_int_equal(r.st.undecodable, 0);
    assert_int_equal(r.st.backups, 3 * (N_FILES + 1)); /* parity + 1 each, and the repair's */
    assert_true(r.progress_calls > 0);
    expect_master(f);
    for (int i = 0; i < N_FILES; i++)
        expect_content(f, i);
    /* new files go on after the recovered ones */
    randombytes_buf(more, sizeof more);
    put(f, more, sizeof more, NULL, id);
    assert_string_equal(id + 48, "0000000d");
}

/* A second run finds the target complete and writes nothing; so does a run straight on a
 * master that was never lost. */
static void test_recover_twice_does_nothing_the_second_time(void **state)
{
    fixture_t *f = *state;
    res_t r;
    populate(f);
    r = recover(f);
    if (r.err != GS_OK)
        fail_msg("recover on the intact master: %s", r.msg);
    assert_int_equal(r.st.restored, 0);
    assert_int_equal(r.st.gaps, 0);
    assert_int_equal(r.st.first_id, N_FILES + 1);
    wipe_master(f);
    r = recover(f);
    assert_int_equal(r.err, GS_OK);
    assert_int_equal(r.st.restored, N_FILES);
    r = recover(f);
    if (r.err != GS_OK)
        fail_msg("second recover: %s", r.msg);
    assert_int_equal(r.st.restored, 0);
    assert_int_equal(r.st.gaps, 0);
    assert_int_equal(r.st.next_id, N_FILES + 1);
    expect_master(f);
}

/* A rebuild interrupted after a few ids goes on from the target's next id; the
 * placeholder of a deleted id that it wrote and had not deleted yet is deleted. */
static void test_recover_resumes_a_partial_rebuild(void **state)
{
    fixture_t *f = *state;
    res_t r;
    populate(f);
    wipe_master(f);
    for (uint64_t id = 0; id < 5; id++)
        assert_int_equal(raw_add(f, MASTER, f->records[id].data, f->records[id].len), id);
    assert_int_equal(raw_add(f, MASTER, "x", 1), 5);
    r = recover(f);
    if (r.err != GS_OK)
        fail_msg("recover: %s", r.msg);
    assert_int_equal(r.st.first_id, 6);
    assert_int_equal(r.st.restored, N_FILES - 5);
    assert_int_equal(r.st.gaps, 0);
    expect_master(f);
    for (int i = 0; i < N_FILES; i++)
        expect_content(f, i);
}

/* With another key nothing opens: nothing is written and the error says so. */
static void test_recover_with_a_wrong_key_recovers_nothing(void **state)
{
    fixture_t *f = *state;
    res_t r;
    uint8_t right[GS_CODEC_KEY_LEN];
    bool nil = false;
    populate(f);
    wipe_master(f);
    memcpy(right, f->c.cfg.key, sizeof right);
    randombytes_buf(f->c.cfg.key, GS_CODEC_KEY_LEN);
    r = recover(f);
    memcpy(f->c.cfg.key, right, sizeof right);
    assert_int_equal(r.err, GS_ECORRUPT);
    if (strstr(r.msg, "none opens with this deployment key") == NULL)
        fail_msg("the error does not say the key is wrong: %s", r.msg);
    assert_int_equal(r.st.unopened, r.st.backups);
    assert_true(r.st.backups >= N_FILES);
    assert_int_equal(r.st.restored, 0);
    assert_int_equal(raw_id(f, MASTER, "GET", 0, NULL, &nil), GS_OK);
    assert_true(nil);
}

/* The backups of every record, the repair's newer one included, are on the first
 * parity + 1 backends: with any two of them down, the third still has each; the files
 * read with those two still down. */
static void recover_with_down(fixture_t *f, int a, int b)
{
    res_t r;
    populate(f);
    wipe_master(f);
    ts_zdb_kill(&f->c.srv[a]);
    ts_zdb_kill(&f->c.srv[b]);
    r = recover(f);
    if (r.err != GS_OK)
        fail_msg("recover: %s", r.msg);
    assert_int_equal(r.st.backends_down, 2);
    assert_int_equal(r.st.records, N_FILES);
    assert_int_equal(r.st.restored, N_FILES);
    assert_int_equal(r.st.gaps, 1);
    expect_master(f);
    for (int i = 0; i < N_FILES; i++)
        expect_content(f, i);
}

static void test_recover_with_backends_1_and_2_down_finds_every_record(void **state)
{
    recover_with_down(*state, 1, 2);
}

/* Backend 1 is where the repair rebuilt its chunk: the repaired record's backup is on
 * backend 2 as well. */
static void test_recover_with_backends_0_and_1_down_finds_the_repaired_record(void **state)
{
    recover_with_down(*state, 0, 1);
}

/* A target holding something else than this deployment's records is refused. */
static void test_recover_refuses_a_foreign_target(void **state)
{
    fixture_t *f = *state;
    res_t r;
    gs_buf_t got;
    char id[GS_CODEC_ID_MAX];
    put(f, "abc", 3, NULL, id);
    wipe_master(f);
    raw_add(f, MASTER, "not a record", 12);
    r = recover(f);
    assert_int_equal(r.err, GS_EINVAL);
    if (strstr(r.msg, "empty namespace") == NULL)
        fail_msg("unexpected message: %s", r.msg);
    assert_int_equal(raw_id(f, MASTER, "GET", 0, &got, NULL), GS_OK);
    assert_int_equal(got.len, 12);
    gs_buf_free(&got);
}

/* Backups written before revisions existed (version 1) still open, as revision 0. */
static void test_recover_reads_version_1_backups(void **state)
{
    uint8_t key[GS_CODEC_KEY_LEN],
        plain[8 + 5] = {0x2a, 0, 0, 0, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'};
    uint8_t v1[4 + 24 + sizeof plain + 16] = {'G', 'S', 'B', 1};
    unsigned long long ct_len = 0;
    uint64_t meta_id = 0, revision = 99;
    gs_buf_t rec, v2;
    gs_diag_t diag = {{0}};
    (void)state;
    randombytes_buf(key, sizeof key);
    randombytes_buf(v1 + 4, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(v1 + 28, &ct_len, plain, sizeof plain, v1, 4, NULL,
                                               v1 + 4, key);
    assert_true(gs_meta_backup_is(v1, sizeof v1));
    gs_buf_init(&rec, 1024);
    assert_int_equal(gs_meta_backup_open(v1, sizeof v1, key, &meta_id, &revision, &rec, &diag),
                     GS_OK);
    assert_int_equal(meta_id, 42);
    assert_int_equal(revision, 0);
    assert_int_equal(rec.len, 5);
    assert_memory_equal(rec.data, "hello", 5);
    /* and the current version carries its revision */
    gs_buf_reset(&rec);
    gs_buf_init(&v2, 1024);
    assert_int_equal(
        gs_meta_backup_encode_rev((const uint8_t *)"hello", 5, 7, 123456789, key, &v2, &diag),
        GS_OK);
    assert_int_equal(((const uint8_t *)v2.data)[3], 2);
    assert_int_equal(gs_meta_backup_open((const uint8_t *)v2.data, v2.len, key, &meta_id, &revision,
                                         &rec, &diag),
                     GS_OK);
    assert_int_equal(meta_id, 7);
    assert_int_equal(revision, 123456789);
    assert_true(gs_meta_backup_revision_now() > 1700000000ull * 1000000u);
    gs_buf_free(&rec);
    gs_buf_free(&v2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recover_reads_version_1_backups),
        cmocka_unit_test_setup_teardown(test_recover_rebuilds_a_wiped_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_twice_does_nothing_the_second_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_recover_resumes_a_partial_rebuild, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_with_a_wrong_key_recovers_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_recover_with_backends_1_and_2_down_finds_every_record,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_recover_with_backends_0_and_1_down_finds_the_repaired_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_refuses_a_foreign_target, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
