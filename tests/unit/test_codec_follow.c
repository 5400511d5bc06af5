/* test_codec_follow.c — the metadata replication follower between two real
 * `gridstor-sim zdb --mode seq` processes ($GS_SIM) on loopback ports chosen at run time:
 * server 0 is the master, server 1 the replica. Every server a test starts is stopped by
 * its pid in the teardown, also when the test fails. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "process.h"
#include "zdbproc.h"

#define ADMIN   TS_ZDB_ADMIN
#define MASTER  0
#define REPLICA 1

/* ---- fixture: a loop, two 0-db servers ---- */

typedef struct {
    uv_loop_t loop;
    char dir[64];
    ts_zdb_t srv[2];
    gs_zdb_t *z[2]; /* the test's own clients */
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    gs_diag_t diag = {{0}};
    if (f == NULL || uv_loop_init(&f->loop) != 0)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/gs-test-codec-follow-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    for (int i = 0; i < 2; i++) {
        gs_zdb_opts_t o = {0};
        ts_zdb_start(&f->srv[i], f->dir, i, 0);
        o.address = f->srv[i].address;
        f->z[i] = gs_zdb_new(&f->loop, &o, &diag);
        if (f->z[i] == NULL)
            return -1;
    }
    return 0;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    int rc;
    for (int i = 0; i < 2; i++) {
        gs_zdb_close(f->z[i]);
        if (f->srv[i].pid > 0)
            ts_stop_server(f->srv[i].pid, 5000);
    }
    uv_walk(&f->loop, walk_close, NULL); /* only after a failed test: passing ones close all */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&f->loop);
    ts_remove_tree(f->dir);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Closes the test's clients, runs the loop dry and checks that it can be closed. */
static void finish(fixture_t *f)
{
    for (int i = 0; i < 2; i++) {
        gs_zdb_close(f->z[i]);
        f->z[i] = NULL;
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(uv_loop_init(&f->loop), 0); /* the teardown closes it again */
}

/* ---- the test's own 0-db commands ---- */

typedef struct {
    bool done;
    int err;
    gs_resp_type_t type;
    gs_buf_t value;
    int64_t integer;
} res_t;

static void on_res(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    res_t *r = ud;
    r->done = true;
    r->err = err;
    if (err < 0) {
        print_error("0-db: %s\n", msg);
        return;
    }
    r->type = v->type;
    r->integer = v->integer;
    if (v->type == GS_RESP_BULK || v->type == GS_RESP_SIMPLE || v->type == GS_RESP_ERROR)
        assert_int_equal(gs_buf_append(&r->value, v->str, v->len), GS_OK);
}

static void run_until(fixture_t *f, const bool *done)
{
    while (!*done)
        assert_true(uv_run(&f->loop, UV_RUN_ONCE) != 0 || *done);
}

/* One command on one id (NULL name: SET ""), run to its reply. Free r->value. */
static void id_cmd(fixture_t *f, int i, res_t *r, const char *name, uint64_t id, const char *value)
{
    unsigned char key[8];
    const char *argv[] = {name ? name : "SET", (const char *)key, value};
    size_t lens[] = {name ? strlen(name) : 3, name ? 8 : 0, value ? strlen(value) : 0};
    memset(r, 0, sizeof *r);
    gs_buf_init(&r->value, GS_RESP_MAX_BULK);
    gs_zdb_id_key(id, key);
    assert_int_equal(gs_zdb_command(f->z[i], value ? 3 : 2, argv, lens, on_res, r), GS_OK);
    run_until(f, &r->done);
    assert_int_equal(r->err, 0);
}

static void value_of(uint64_t id, unsigned gen, char *out, size_t n)
{
    /* sizes vary from a few bytes to a few hundred, contents differ per id and version */
    int len = snprintf(out, n, "record %llu v%u ", (unsigned long long)id, gen);
    for (size_t k = (size_t)len; k < n - 1 && k < (size_t)len + (id * 37) % 300; k++)
        out[k] = (char)('a' + (id + k) % 26);
    out[len + (id * 37) % 300 < n - 1 ? len + (id * 37) % 300 : n - 1] = '\0';
}

typedef struct {
    uint64_t expect;
    unsigned left;
    bool done;
} fill_t;

typedef struct {
    fill_t *fill;
    uint64_t id;
} fill_one_t;

static fill_one_t fill_ones[2000];

static void on_fill(const gs_resp_value_t *v, int err, const char *msg, void *ud)
{
    fill_one_t *o = ud;
    uint64_t id = 0;
    if (err < 0)
        fail_msg("SET: %s", msg);
    assert_int_equal(v->type, GS_RESP_BULK);
    assert_int_equal(gs_zdb_key_id(v->str, v->len, &id), GS_OK);
    assert_true(id == o->id);
    if (--o->fill->left == 0)
        o->fill->done = true;
}

/* Writes records first..first+n-1 (their ids must come out as that) on server i. */
static void fill(fixture_t *f, int i, uint64_t first, unsigned n)
{
    fill_t fl = {first, n, n == 0};
    assert_true(n <= GS_ARRAY_SIZE(fill_ones));
    for (unsigned k = 0; k < n; k++) {
        char v[400];
        value_of(first + k, 0, v, sizeof v);
        fill_ones[k] = (fill_one_t){&fl, first + k};
        assert_int_equal(gs_zdb_set(f->z[i], "", 0, v, strlen(v), on_fill, &fill_ones[k]), GS_OK);
    }
    run_until(f, &fl.done);
}

/* next id and live entries of server i's default namespace, read independently. */
static void counters(fixture_t *f, int i, uint64_t *next, uint64_t *entries)
{
    res_t r;
    char text[32];
    unsigned long shown;
    memset(&r, 0, sizeof r);
    gs_buf_init(&r.value, GS_RESP_MAX_BULK);
    assert_int_equal(gs_zdb_cmd(f->z[i], on_res, &r, "NSINFO", "default", NULL), GS_OK);
    run_until(f, &r.done);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.type, GS_RESP_BULK);
    {
        gs_resp_value_t v = {.type = GS_RESP_BULK, .str = r.value.data, .len = r.value.len};
        assert_true(gs_zdb_info_field(&v, "next_internal_id", text, sizeof text));
        shown = strtoul(text, NULL, 16);
        *next = (shown & 0xff) << 24 | (shown & 0xff00) << 8 | (shown >> 8 & 0xff00) | shown >> 24;
        assert_true(gs_zdb_info_field(&v, "entries", text, sizeof text));
        *entries = strtoull(text, NULL, 10);
    }
    gs_buf_free(&r.value);
}

/* Every id below n reads the same on both servers (both nil for deleted ones). */
static void assert_same(fixture_t *f, uint64_t n)
{
    uint64_t mn, me, rn, re;
    counters(f, MASTER, &mn, &me);
    counters(f, REPLICA, &rn, &re);
    assert_true(mn == n && rn == n);
    assert_true(me == re);
    for (uint64_t id = 0; id < n; id++) {
        res_t a, b;
        id_cmd(f, MASTER, &a, "GET", id, NULL);
        id_cmd(f, REPLICA, &b, "GET", id, NULL);
        assert_int_equal(a.type, b.type);
        assert_int_equal(a.value.len, b.value.len);
        if (a.value.len)
            assert_memory_equal(a.value.data, b.value.data, a.value.len);
        gs_buf_free(&a.value);
        gs_buf_free(&b.value);
    }
}

/* ---- the follower ---- */

typedef struct {
    unsigned errors, fatals;
    char last[GS_DIAG_MAX];
    gs_follower_t *stop_on_fatal; /* stopped from inside the callback */
    bool stopped;
    uint64_t copied; /* its count then */
} errs_t;

static void on_stopped(void *ud);

static void on_error(int err, const char *msg, bool fatal, void *ud)
{
    errs_t *e = ud;
    assert_true(err < 0);
    e->errors++;
    e->fatals += fatal;
    snprintf(e->last, sizeof e->last, "%s", msg);
    if (fatal && e->stop_on_fatal) {
        gs_follower_stats_t st;
        gs_follower_stats(e->stop_on_fatal, &st);
        assert_true(st.failed && !st.running);
        e->copied = st.copied;
        gs_follower_stop(e->stop_on_fatal, on_stopped, &e->stopped);
        e->stop_on_fatal = NULL;
    }
}

static gs_follower_t *follower_opts(fixture_t *f, errs_t *e, unsigned batch, unsigned window,
                                    bool verify)
{
    gs_diag_t diag = {{0}};
    gs_zdb_opts_t m = {f->srv[MASTER].address, NULL, NULL, NULL, 2000, 1000};
    gs_zdb_opts_t r = {f->srv[REPLICA].address, NULL, NULL, NULL, 2000, 1000};
    gs_follower_opts_t o = {.poll_ms = 20,
                            .batch = batch,
                            .window = window,
                            .verify_on_start = verify,
                            .on_error = on_error,
                            .ud = e};
    gs_follower_t *fl = gs_follower_new(&f->loop, &m, &r, &o, &diag);
    if (fl == NULL)
        fail_msg("gs_follower_new: %s", diag.msg);
    assert_int_equal(gs_follower_start(fl), GS_OK);
    assert_int_equal(gs_follower_start(fl), GS_EINVAL);
    return fl;
}

static gs_follower_t *follower(fixture_t *f, errs_t *e, unsigned batch, unsigned window)
{
    return follower_opts(f, e, batch, window, false);
}

static void on_stopped(void *ud)
{
    *(bool *)ud = true;
}

static void stop(fixture_t *f, gs_follower_t *fl)
{
    bool stopped = false;
    gs_follower_stop(fl, on_stopped, &stopped);
    run_until(f, &stopped);
}

/* Runs the loop until the follower's view shows the replica at next == n with no lag,
 * checking on the way that the lag it reports is its two counters' difference. */
static void wait_caught_up(fixture_t *f, gs_follower_t *fl, uint64_t n, uint64_t *max_lag)
{
    for (;;) {
        gs_follower_stats_t st;
        uint64_t lag = 99;
        gs_follower_stats(fl, &st);
        assert_false(st.failed);
        if (st.known) {
            assert_true(gs_follower_lag(fl, &lag));
            assert_true(lag == st.lag);
            assert_true(st.replica_next <= st.master_next);
            assert_true(st.lag == st.master_next - st.replica_next);
            if (max_lag && st.lag > *max_lag)
                *max_lag = st.lag;
            if (st.master_next == n && st.replica_next == n && st.lag == 0)
                return;
        } else {
            assert_false(gs_follower_lag(fl, &lag));
        }
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

/* ---- tests ---- */

static void test_follow_copies_records_with_identical_ids(void **state)
{
    fixture_t *f = *state;
    errs_t e = {0};
    gs_follower_stats_t st;
    gs_follower_t *fl;
    fill(f, MASTER, 0, 1000);
    fl = follower(f, &e, 0, 0);
    wait_caught_up(f, fl, 1000, NULL);
    gs_follower_stats(fl, &st);
    assert_true(st.copied == 1000 && st.gaps == 0);
    assert_int_equal(e.errors, 0);
    assert_same(f, 1000);
    /* new records keep flowing */
    fill(f, MASTER, 1000, 37);
    wait_caught_up(f, fl, 1037, NULL);
    assert_same(f, 1037);
    stop(f, fl);
    finish(f);
}

static void test_follow_resumes_after_stop_without_duplicates(void **state)
{
    fixture_t *f = *state;
    errs_t e = {0};
    gs_follower_stats_t st;
    gs_follower_t *fl;
    uint64_t rn, re;
    fill(f, MASTER, 0, 1000);
    fl = follower(f, &e, 100, 4);
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        gs_follower_stats(fl, &st);
    } while (st.copied < 300);
    stop(f, fl); /* commands in flight are dropped: some SETs may land, some not */
    counters(f, REPLICA, &rn, &re);
    assert_true(rn >= 300 && rn < 1000);
    fl = follower(f, &e, 100, 4);
    wait_caught_up(f, fl, 1000, NULL);
    gs_follower_stats(fl, &st);
    /* a SET sent just before the stop may land after the count above: at most that many */
    assert_true(st.copied <= 1000 - rn && st.copied + 8 >= 1000 - rn);
    assert_int_equal(e.errors, 0);
    assert_same(f, 1000);
    stop(f, fl);
    finish(f);
}

static void test_follow_aligns_deleted_ids_and_follows_rewrites(void **state)
{
    fixture_t *f = *state;
    errs_t e = {0};
    gs_follower_stats_t st;
    gs_follower_t *fl;
    res_t r;
    char v[400];
    fill(f, MASTER, 0, 100);
    /* deleted before the follower ran: the first, a run, and the last id */
    for (uint64_t id = 0; id < 100; id++)
        if (id == 0 || (id >= 10 && id < 20) || id == 99) {
            id_cmd(f, MASTER, &r, "DEL", id, NULL);
            assert_int_equal(r.type, GS_RESP_SIMPLE);
            gs_buf_free(&r.value);
        }
    fl = follower(f, &e, 0, 0);
    wait_caught_up(f, fl, 100, NULL);
    do { /* the placeholders' DELs follow their SETs */
        uv_run(&f->loop, UV_RUN_ONCE);
        gs_follower_stats(fl, &st);
    } while (st.gaps < 12);
    assert_true(st.copied == 100 && st.gaps == 12);
    assert_same(f, 100);
    /* a deletion after the copy reaches the replica */
    id_cmd(f, MASTER, &r, "DEL", 50, NULL);
    gs_buf_free(&r.value);
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        gs_follower_stats(fl, &st);
    } while (st.deleted < 1);
    assert_true(st.deleted == 1);
    /* a rewrite of a copied record reaches it too */
    value_of(5, 1, v, sizeof v);
    id_cmd(f, MASTER, &r, "SET", 5, v);
    assert_int_equal(r.type, GS_RESP_BULK);
    gs_buf_free(&r.value);
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        gs_follower_stats(fl, &st);
    } while (st.updated < 1);
    fill(f, MASTER, 100, 10);
    wait_caught_up(f, fl, 110, NULL);
    assert_same(f, 110);
    id_cmd(f, REPLICA, &r, "GET", 5, NULL);
    assert_int_equal(r.value.len, strlen(v));
    assert_memory_equal(r.value.data, v, strlen(v));
    gs_buf_free(&r.value);
    assert_int_equal(e.errors, 0);
    stop(f, fl);
    finish(f);
}

/* Runs the loop until the follower has copied `updated` rewritten records. */
static void wait_updated(fixture_t *f, gs_follower_t *fl, uint64_t updated)
{
    gs_follower_stats_t st;
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        gs_follower_stats(fl, &st);
        assert_false(st.failed);
    } while (st.updated < updated);
    assert_true(st.updated == updated);
}

static void rewrite(fixture_t *f, uint64_t id, unsigned gen)
{
    res_t r;
    char v[400];
    value_of(id, gen, v, sizeof v);
    id_cmd(f, MASTER, &r, "SET", id, v);
    assert_int_equal(r.type, GS_RESP_BULK);
    gs_buf_free(&r.value);
}

static void test_follow_catches_rewrites_made_while_stopped_on_request(void **state)
{
    fixture_t *f = *state;
    errs_t e = {0};
    gs_follower_stats_t st;
    gs_follower_t *fl;
    fill(f, MASTER, 0, 50);
    fl = follower(f, &e, 0, 0);
    wait_caught_up(f, fl, 50, NULL);
    stop(f, fl);
    /* rewritten while no follower runs: one with verify_on_start compares every record */
    rewrite(f, 7, 1);
    rewrite(f, 30, 1);
    fl = follower_opts(f, &e, 0, 0, true);
    wait_caught_up(f, fl, 50, NULL);
    wait_updated(f, fl, 2);
    assert_same(f, 50);
    stop(f, fl);
    /* or the writer names the record: a rewrite before the master's last new record is
     * behind the follower's starting point in the master's log */
    rewrite(f, 8, 1);
    fill(f, MASTER, 50, 1);
    fl = follower(f, &e, 0, 0);
    wait_caught_up(f, fl, 51, NULL);
    gs_follower_stats(fl, &st);
    assert_true(st.updated == 0);
    assert_int_equal(gs_follower_resync_id(fl, 8), GS_OK);
    assert_int_equal(gs_follower_resync_id(fl, 4000), GS_OK); /* not an id yet: nothing */
    wait_updated(f, fl, 1);
    assert_same(f, 51);
    assert_int_equal(e.errors, 0);
    stop(f, fl);
    finish(f);
}

static void test_follow_reports_a_master_down_and_catches_up(void **state)
{
    fixture_t *f = *state;
    errs_t e = {0};
    gs_follower_stats_t st;
    gs_follower_t *fl;
    fill(f, MASTER, 0, 1000);
    fl = follower(f, &e, 100, 8);
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        gs_follower_stats(fl, &st);
    } while (st.copied < 200);
    ts_zdb_kill(&f->srv[MASTER]); /* mid-copy, with commands in flight */
    while (e.errors == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(e.fatals, 0);
    gs_follower_stats(fl, &st);
    assert_true(st.errors >= 1 && st.last_err < 0);
    assert_non_null(strstr(st.last_error, f->srv[MASTER].address));
    assert_true(st.running && !st.failed);
    ts_zdb_start(&f->srv[MASTER], f->dir, MASTER, f->srv[MASTER].port);
    fill(f, MASTER, 1000, 50);
    wait_caught_up(f, fl, 1050, NULL);
    assert_int_equal(e.fatals, 0);
    assert_same(f, 1050);
    stop(f, fl);
    finish(f);
}

static void test_follow_stops_on_a_foreign_write_to_the_replica(void **state)
{
    fixture_t *f = *state;
    errs_t e = {0};
    gs_follower_stats_t st;
    gs_follower_t *fl;
    res_t r;
    fill(f, MASTER, 0, 100);
    fl = follower(f, &e, 0, 0);
    wait_caught_up(f, fl, 100, NULL);
    id_cmd(f, REPLICA, &r, NULL, 0, "an intruder");
    gs_buf_free(&r.value);
    fill(f, MASTER, 100, 5);
    while (e.fatals == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    gs_follower_stats(fl, &st);
    assert_true(st.failed && !st.running);
    assert_non_null(strstr(e.last, "something else writes to the replica"));
    assert_non_null(strstr(e.last, f->srv[REPLICA].address));
    assert_int_equal(st.last_err, GS_ECORRUPT);
    /* it stays stopped: nothing more is copied */
    fill(f, MASTER, 105, 5);
    for (int i = 0; i < 20; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    gs_follower_stats(fl, &st);
    assert_true(st.copied == 100);
    stop(f, fl);
    finish(f);
}

static void test_follow_stops_on_a_foreign_write_during_a_copy(void **state)
{
    fixture_t *f = *state;
    errs_t e = {0};
    gs_follower_stats_t st;
    gs_follower_t *fl;
    res_t r;
    uint64_t foreign;
    fill(f, MASTER, 0, 1000);
    fl = follower(f, &e, 1000, 16);
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        gs_follower_stats(fl, &st);
    } while (st.copied < 100);
    e.stop_on_fatal = fl;                           /* the owner stops it from the error callback */
    id_cmd(f, REPLICA, &r, NULL, 0, "an intruder"); /* lands between the follower's SETs */
    assert_int_equal(r.type, GS_RESP_BULK);
    assert_int_equal(gs_zdb_key_id(r.value.data, r.value.len, &foreign), GS_OK);
    gs_buf_free(&r.value);
    run_until(f, &e.stopped);
    assert_int_equal(e.fatals, 1);
    assert_true(e.copied >= 100 && e.copied <= foreign);
    assert_non_null(strstr(e.last, "something else writes to the replica"));
    /* the intruder's record is left as it was, for the operator to look at */
    id_cmd(f, REPLICA, &r, "GET", foreign, NULL);
    assert_int_equal(r.type, GS_RESP_BULK);
    assert_int_equal(r.value.len, strlen("an intruder"));
    gs_buf_free(&r.value);
    finish(f);
}

static void test_follow_reports_lag_while_behind_and_zero_when_caught_up(void **state)
{
    fixture_t *f = *state;
    errs_t e = {0};
    gs_follower_stats_t st;
    gs_follower_t *fl;
    uint64_t max_lag = 0, lag = 0, rn, re;
    fill(f, MASTER, 0, 1000);
    fl = follower(f, &e, 100, 4);
    wait_caught_up(f, fl, 1000, &max_lag);
    assert_true(max_lag >= 100); /* read before the first batch was copied */
    assert_true(gs_follower_lag(fl, &lag) && lag == 0);
    counters(f, REPLICA, &rn, &re);
    assert_true(rn == 1000 && re == 1000);
    /* the replica goes away: the master's counter still moves the lag */
    ts_zdb_stop(&f->srv[REPLICA]);
    fill(f, MASTER, 1000, 50);
    do {
        uv_run(&f->loop, UV_RUN_ONCE);
        gs_follower_stats(fl, &st);
    } while (st.master_next < 1050 || e.errors == 0);
    assert_true(gs_follower_lag(fl, &lag));
    assert_true(lag == 50 && st.lag == 50 && st.replica_next == 1000);
    ts_zdb_start(&f->srv[REPLICA], f->dir, REPLICA, f->srv[REPLICA].port);
    wait_caught_up(f, fl, 1050, NULL);
    assert_int_equal(e.fatals, 0);
    assert_same(f, 1050);
    stop(f, fl);
    finish(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_follow_copies_records_with_identical_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follow_resumes_after_stop_without_duplicates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follow_aligns_deleted_ids_and_follows_rewrites, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follow_catches_rewrites_made_while_stopped_on_request,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_follow_reports_a_master_down_and_catches_up, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follow_stops_on_a_foreign_write_to_the_replica, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_follow_stops_on_a_foreign_write_during_a_copy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_follow_reports_lag_while_behind_and_zero_when_caught_up, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
