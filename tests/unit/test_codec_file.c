/* test_codec_file.c — the codec's file-level API (put, lookup, read, check, repair) over
 * real `gridstor-sim zdb` servers ($GS_SIM), one process per 0-db so that tests can stop
 * or kill any of them: 4 + 2 data backends and a spare, a metadata master and a replica,
 * with small 64 KiB stripes so that files of a few hundred KB span several stripes. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"
#include "codecfix.h"
#include "process.h"

#define N_DATA    7 /* 4 + 2 and one spare */
#define MASTER    7
#define REPLICA   8
#define N_SERVERS 9
#define STRIPE    (64 * 1024)

typedef ts_codec_fix_t fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    *state = f;
    ts_codec_fix_open(f, "codec-file", N_SERVERS, N_DATA, MASTER, REPLICA);
    return 0;
}

static int teardown(void **state)
{
    int rc = ts_codec_fix_close(*state);
    free(*state);
    return rc;
}

/* ---- synchronous helpers: each runs the loop until its callback ---- */

typedef struct {
    bool done;
    int err;
    char msg[GS_DIAG_MAX];
    char id[GS_CODEC_ID_MAX];
    gs_meta_t *meta;
    gs_buf_t bytes;
    gs_codec_health_t health;
    unsigned rebuilt;
} res_t;

static void run_until(fixture_t *f, const res_t *r)
{
    while (!r->done)
        uv_run(&f->loop, UV_RUN_ONCE);
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

static int put(fixture_t *f, const void *p, size_t n, const char *ext, char id[GS_CODEC_ID_MAX])
{
    res_t r = {0};
    gs_diag_t diag = {{0}};
    int err = gs_codec_put_mem(f->codec, p, n, ext, on_put, &r, &diag);
    if (err != GS_OK)
        return err;
    run_until(f, &r);
    if (r.err == GS_OK)
        snprintf(id, GS_CODEC_ID_MAX, "%s", r.id);
    return r.err;
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

/* The file's record (gs_meta_free it), or NULL with r->err. */
static gs_meta_t *lookup(fixture_t *f, const char *id, res_t *r)
{
    gs_diag_t diag = {{0}};
    memset(r, 0, sizeof *r);
    if ((r->err = gs_codec_lookup(f->codec, id, on_meta, r, &diag)) != GS_OK) {
        snprintf(r->msg, sizeof r->msg, "%s", diag.msg);
        return NULL;
    }
    run_until(f, r);
    return r->meta;
}

/* Looks the file up and reads it whole into out (gs_buf_free it); the error of either. */
static int get(fixture_t *f, const char *id, gs_buf_t *out, char *why, size_t why_len)
{
    res_t r;
    gs_diag_t diag = {{0}};
    gs_meta_t *m = lookup(f, id, &r);
    int err = r.err;
    gs_buf_init(out, 64u << 20);
    snprintf(why, why_len, "%s", r.msg);
    if (m == NULL)
        return err;
    memset(&r, 0, sizeof r);
    r.bytes = *out;
    err = gs_codec_retrieve(gs_codec_shards(f->codec), m, 0, UINT64_MAX, sink, on_read, &r, NULL,
                            &diag);
    if (err == GS_OK)
        run_until(f, &r);
    gs_meta_free(m);
    *out = r.bytes;
    snprintf(why, why_len, "%s", err ? diag.msg : r.msg);
    return err ? err : r.err;
}

static void expect_content(fixture_t *f, const char *id, const uint8_t *p, size_t n)
{
    gs_buf_t out;
    char why[GS_DIAG_MAX];
    int err = get(f, id, &out, why, sizeof why);
    if (err != GS_OK)
        fail_msg("reading %s: %s (%s)", id, gs_strerror(err), why);
    assert_int_equal(out.len, n);
    if (n)
        assert_memory_equal(out.data, p, n);
    gs_buf_free(&out);
}

static void on_check(int err, const char *msg, const gs_codec_health_t *h, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    if (h)
        r->health = *h;
}

static gs_codec_health_t check(fixture_t *f, const char *id, bool hard)
{
    res_t r = {0};
    gs_diag_t diag = {{0}};
    assert_int_equal(gs_codec_check(f->codec, id, hard, on_check, &r, &diag), GS_OK);
    run_until(f, &r);
    if (r.err != GS_OK)
        fail_msg("check: %s", r.msg);
    return r.health;
}

static void on_repair(int err, const char *msg, unsigned rebuilt, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    r->rebuilt = rebuilt;
}

static int repair(fixture_t *f, const char *id, unsigned *rebuilt, char *why, size_t len)
{
    res_t r = {0};
    gs_diag_t diag = {{0}};
    int err = gs_codec_repair(f->codec, id, on_repair, &r, &diag);
    if (err != GS_OK)
        return err;
    run_until(f, &r);
    *rebuilt = r.rebuilt;
    snprintf(why, len, "%s", r.msg);
    return r.err;
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    randombytes_buf(p, n);
    return p;
}

/* A restarted server: the codec's clients wait a moment before connecting again after a
 * failure (they do not hammer a dead server), so give them that moment. */
static void restart(fixture_t *f, int i)
{
    ts_zdb_start(&f->srv[i], f->dir, i, f->srv[i].port);
    nanosleep(&(struct timespec){.tv_nsec = 300 * 1000 * 1000}, NULL);
}

/* ---- tests ---- */

static void test_codec_round_trips_over_sizes(void **state)
{
    fixture_t *f = *state;
    static const size_t sizes[] = {0,      1,          4096,       4097,  STRIPE - 1,
                                   STRIPE, STRIPE + 1, 160 * 1024, 300000};
    for (size_t i = 0; i < GS_ARRAY_SIZE(sizes); i++) {
        char id[GS_CODEC_ID_MAX];
        uint8_t *p = random_bytes(sizes[i]);
        assert_int_equal(put(f, p, sizes[i], "bin", id), GS_OK);
        assert_int_equal(strlen(id), 48 + 8 + 4);
        assert_string_equal(id + 56, ".bin");
        expect_content(f, id, p, sizes[i]);
        free(p);
    }
}

/* The index of the backend named `name` in the configuration. */
static int backend_index(const fixture_t *f, const char *name)
{
    for (size_t b = 0; b < f->cfg.n_backends; b++) {
        char full[512];
        snprintf(full, sizeof full, "%s@%s", f->cfg.backends[b].ns, f->cfg.backends[b].address);
        if (strcmp(full, name) == 0)
            return (int)b;
    }
    fail_msg("a record names backend %s, which is not configured", name);
    return -1;
}

/* With `placement: spares` shard i stays on backend i and the spare gets nothing; with
 * `placement: spread` each file takes data + parity consecutive backends of the ring from
 * a random start, so a few files use every backend, the spare included. */
static void test_codec_spreads_files_over_every_backend(void **state)
{
    fixture_t *f = *state;
    bool used[N_DATA] = {0};
    gs_diag_t diag = {{0}};
    uint8_t *p = random_bytes(20000);
    for (int round = 0; round < 2; round++) {
        bool spread = round == 1;
        for (int k = 0; k < (spread ? 24 : 4); k++) {
            char id[GS_CODEC_ID_MAX];
            res_t r;
            gs_meta_t *m;
            int first;
            p[0] = (uint8_t)(k + 32 * round); /* a new file each time */
            assert_int_equal(put(f, p, 20000, NULL, id), GS_OK);
            assert_non_null(m = lookup(f, id, &r));
            assert_int_equal(m->n_shards, 6);
            first = backend_index(f, m->shards[0].backend);
            if (!spread)
                assert_int_equal(first, 0);
            for (unsigned i = 0; i < m->n_shards; i++) {
                int b = backend_index(f, m->shards[i].backend);
                assert_int_equal(b, (first + (int)i) % N_DATA);
                used[b] |= spread;
            }
            gs_meta_free(m);
            expect_content(f, id, p, 20000);
        }
        /* the same servers, placed the other way */
        gs_codec_close(f->codec);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        f->cfg.spares = false;
        if (gs_codec_open(&f->loop, &f->cfg, NULL, &f->codec, &diag) != GS_OK)
            fail_msg("open: %s", diag.msg);
    }
    for (int b = 0; b < N_DATA; b++)
        if (!used[b])
            fail_msg("24 files spread over %d backends and none used backend %d", N_DATA, b);
    free(p);
}

static void test_codec_refuses_bad_ids_and_unknown_files(void **state)
{
    fixture_t *f = *state;
    res_t r = {0};
    gs_diag_t diag = {{0}};
    char id[GS_CODEC_ID_MAX], other[GS_CODEC_ID_MAX];
    uint8_t byte = 7;
    assert_int_equal(gs_codec_lookup(f->codec, "nothex", on_meta, &r, &diag), GS_EINVAL);
    assert_int_equal(put(f, &byte, 1, NULL, id), GS_OK);
    assert_int_equal(strlen(id), 56);
    /* the right record id with another hash, and an id past every record */
    snprintf(other, sizeof other, "%s", id);
    other[0] = other[0] == 'a' ? 'b' : 'a';
    assert_int_equal(gs_codec_lookup(f->codec, other, on_meta, &r, &diag), GS_OK);
    run_until(f, &r);
    assert_int_equal(r.err, GS_ENOENT);
    memset(&r, 0, sizeof r);
    snprintf(other, sizeof other, "%.48s00fffff0", id);
    assert_int_equal(gs_codec_lookup(f->codec, other, on_meta, &r, &diag), GS_OK);
    run_until(f, &r);
    assert_int_equal(r.err, GS_ENOENT);
    assert_int_equal(gs_codec_put_mem(f->codec, &byte, 1, "NO.PE", on_put, &r, &diag), GS_EINVAL);
}

/* Any 2 of the 4 + 2 data backends may be gone; a third is one too many. */
static void test_codec_reads_with_parity_backends_down(void **state)
{
    fixture_t *f = *state;
    size_t n = 300000;
    uint8_t *p = random_bytes(n);
    char id[GS_CODEC_ID_MAX], why[GS_DIAG_MAX];
    unsigned a = randombytes_uniform(6), b = (a + 1 + randombytes_uniform(5)) % 6, c = 0;
    gs_buf_t out;
    assert_int_equal(put(f, p, n, NULL, id), GS_OK);
    ts_zdb_kill(&f->srv[a]);
    ts_zdb_kill(&f->srv[b]);
    expect_content(f, id, p, n);
    while (c == a || c == b)
        c++;
    ts_zdb_kill(&f->srv[c]);
    assert_int_not_equal(get(f, id, &out, why, sizeof why), GS_OK);
    if (strstr(why, "4 are needed") == NULL)
        fail_msg("the error does not say what is missing: %s", why);
    gs_buf_free(&out);
    free(p);
}

/* Flips a byte of value p (n bytes) in the server's data file, as a disk would. */
static void flip_on_disk(const ts_zdb_t *z, const uint8_t *p, size_t n)
{
    char path[256];
    gs_buf_t file;
    const uint8_t *at = NULL;
    FILE *fp;
    snprintf(path, sizeof path, "%s/default/d0", z->data);
    gs_buf_init(&file, 64u << 20);
    assert_int_equal(gs_file_read(path, 64u << 20, &file, NULL), GS_OK);
    for (size_t i = 0; i + n <= file.len && at == NULL; i++)
        if (memcmp(file.data + i, p, n) == 0)
            at = (const uint8_t *)file.data + i;
    assert_non_null(at);
    fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, (long)(at - (const uint8_t *)file.data) + (long)n / 2, SEEK_SET);
    fputc(at[n / 2] ^ 0xff, fp);
    fclose(fp);
    gs_buf_free(&file);
}

static void on_chunk(int err, const char *msg, const uint8_t *p, size_t n, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    if (err == GS_OK)
        gs_buf_append(&r->bytes, p, n);
}

/* The first chunk of shard i as stored (gs_buf_free out), and its 0-db id. */
static void chunk_of(fixture_t *f, const char *id, unsigned shard, gs_buf_t *out, uint64_t *cid)
{
    res_t r;
    gs_meta_t *m = lookup(f, id, &r);
    gs_shard_store_t *s = gs_codec_shards(f->codec);
    assert_non_null(m);
    *cid = m->shards[shard].ids[0];
    gs_meta_free(m);
    memset(&r, 0, sizeof r);
    gs_buf_init(&r.bytes, 16u << 20);
    assert_int_equal(s->ops->get(s, shard, *cid, on_chunk, &r), GS_OK);
    run_until(f, &r);
    assert_int_equal(r.err, GS_OK);
    *out = r.bytes;
}

static void on_deleted(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    assert_non_null(v);
    assert_int_equal(v->type, GS_RESP_SIMPLE);
}

/* Deletes the chunk with id cid on server i (as a lost write would leave it). */
static void delete_chunk(fixture_t *f, unsigned i, uint64_t cid)
{
    gs_zdb_opts_t o = {.address = f->srv[i].address, .ns = "default"};
    gs_diag_t diag = {{0}};
    gs_zdb_t *z = gs_zdb_new(&f->loop, &o, &diag);
    unsigned char key[8];
    const char *argv[2] = {"DEL", (const char *)key};
    const size_t lens[2] = {3, 8};
    res_t r = {0};
    assert_non_null(z);
    gs_zdb_id_key(cid, key);
    assert_int_equal(gs_zdb_command(z, 2, argv, lens, on_deleted, &r), GS_OK);
    run_until(f, &r);
    assert_int_equal(r.err, GS_OK);
    gs_zdb_close(z);
}

/* A chunk deleted, a chunk flipped on disk and a backend killed: the soft check finds
 * each, the hard check still restores the file, and the repair rebuilds the three shards
 * (the dead backend's onto the spare) so that everything checks good again. */
static void test_codec_check_finds_damage_and_repair_fixes_it(void **state)
{
    fixture_t *f = *state;
    size_t n = 300000;
    uint8_t *p = random_bytes(n);
    char id[GS_CODEC_ID_MAX], why[GS_DIAG_MAX];
    gs_codec_health_t h;
    gs_buf_t chunk;
    uint64_t cid;
    unsigned rebuilt = 0;
    assert_int_equal(put(f, p, n, "dat", id), GS_OK);
    h = check(f, id, false);
    assert_int_equal(h.good, 6);
    assert_true(h.readable);
    chunk_of(f, id, 1, &chunk, &cid);
    gs_buf_free(&chunk);
    delete_chunk(f, 1, cid);
    chunk_of(f, id, 2, &chunk, &cid);
    flip_on_disk(&f->srv[2], (const uint8_t *)chunk.data + 40, chunk.len - 40);
    gs_buf_free(&chunk);
    ts_zdb_kill(&f->srv[3]);
    h = check(f, id, false);
    assert_int_equal(h.good, 3);
    assert_int_equal(h.missing, 2);
    assert_int_equal(h.bad, 1);
    assert_int_equal(h.shard_state[1], 1);
    assert_int_equal(h.shard_state[2], 2);
    assert_int_equal(h.shard_state[3], 1);
    assert_false(h.readable); /* stripe 0 has 3 good chunks of the 4 needed ... */
    /* ... so bring the killed backend back for the damaged stripe, then lose it again */
    restart(f, 3);
    h = check(f, id, true);
    assert_true(h.readable);
    assert_true(h.hard_checked);
    assert_true(h.hash_ok);
    ts_zdb_kill(&f->srv[3]);
    h = check(f, id, false);
    assert_int_equal(repair(f, id, &rebuilt, why, sizeof why), GS_EUNAVAIL);
    restart(f, 3);
    if (repair(f, id, &rebuilt, why, sizeof why) != GS_OK)
        fail_msg("repair: %s", why);
    assert_int_equal(rebuilt, 2);
    h = check(f, id, false);
    assert_int_equal(h.good, 6);
    expect_content(f, id, p, n);
    /* now a backend that stays dead: its shard moves to the spare */
    ts_zdb_kill(&f->srv[4]);
    if (repair(f, id, &rebuilt, why, sizeof why) != GS_OK)
        fail_msg("repair onto the spare: %s", why);
    assert_int_equal(rebuilt, 1);
    h = check(f, id, true);
    assert_int_equal(h.good, 6);
    assert_true(h.hash_ok);
    free(p);
}

/* A copy of the master's records in the replica (what the follower keeps), then the
 * master gone: lookups go to the replica and files still read. */
static void on_set(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    assert_non_null(v);
    assert_int_equal(v->type, GS_RESP_BULK);
}

static void on_got(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    res_t *r = ud;
    note(r, err, msg);
    assert_non_null(v);
    if (v->type == GS_RESP_BULK)
        gs_buf_append(&r->bytes, v->str, v->len);
}

static void test_codec_lookup_falls_back_to_a_replica(void **state)
{
    fixture_t *f = *state;
    size_t n = 200000;
    uint8_t *p = random_bytes(n);
    char id[GS_CODEC_ID_MAX];
    gs_diag_t diag = {{0}};
    gs_zdb_opts_t mo = {.address = f->srv[MASTER].address, .ns = "default"},
                  ro = {.address = f->srv[REPLICA].address, .ns = "default"};
    gs_zdb_t *master = gs_zdb_new(&f->loop, &mo, &diag),
             *replica = gs_zdb_new(&f->loop, &ro, &diag);
    unsigned char key[8];
    res_t got = {0}, set = {0};
    assert_int_equal(put(f, p, n, NULL, id), GS_OK);
    gs_zdb_id_key(0, key);
    gs_buf_init(&got.bytes, 16u << 20);
    assert_int_equal(gs_zdb_get(master, key, 8, on_got, &got), GS_OK);
    run_until(f, &got);
    assert_true(got.bytes.len > 0);
    assert_int_equal(gs_zdb_set(replica, "", 0, got.bytes.data, got.bytes.len, on_set, &set),
                     GS_OK);
    run_until(f, &set);
    gs_buf_free(&got.bytes);
    gs_zdb_close(master);
    gs_zdb_close(replica);
    ts_zdb_stop(&f->srv[MASTER]);
    expect_content(f, id, p, n);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_codec_round_trips_over_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_spreads_files_over_every_backend, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_refuses_bad_ids_and_unknown_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_reads_with_parity_backends_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_check_finds_damage_and_repair_fixes_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_codec_lookup_falls_back_to_a_replica, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
