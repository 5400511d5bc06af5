/* test_codec_pipe.c — the store and retrieve pipelines over the memory shard store: round
 * trips from memory, a file and a pipe; small files inline or sharded; backends down, a
 * damaged chunk, a lost chunk; byte ranges; a paused and a canceled reader; a hash that
 * does not match; a failing put. Every test ends with uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"

#define STRIPE ((size_t)64 * 1024)
#define K      16u
#define M      4u

typedef struct {
    uv_loop_t loop;
    gs_shard_store_t *store;
    /* store */
    bool stored;
    int store_err;
    char store_msg[GS_DIAG_MAX];
    gs_meta_t *meta;
    /* retrieve */
    bool done;
    int err;
    char msg[GS_DIAG_MAX];
    uint8_t *got;
    size_t got_len, got_cap, sink_calls;
    gs_codec_reader_t *reader;
    bool paused_now, sink_while_paused, pause_after_first, cancel_after_first;
    uv_timer_t resume_timer;
} fx_t;

static uint8_t *content(size_t n, uint64_t seed)
{
    uint8_t *b = malloc(n ? n : 1);
    gs_rng_t r;
    gs_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)gs_rng_next(&r);
    return b;
}

static void fx_init(fx_t *f)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->store = gs_shard_store_memory_new(&f->loop, K + M);
    assert_non_null(f->store);
}

static void fx_end(fx_t *f)
{
    gs_meta_free(f->meta);
    free(f->got);
    f->store->ops->close(f->store);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void opts(gs_codec_store_opts_t *o, size_t inline_max)
{
    gs_codec_store_opts_default(o);
    o->params.stripe_size = STRIPE;
    o->params.data = K;
    o->params.parity = M;
    o->inline_max = inline_max;
    o->ext = "bin";
}

static void on_stored(int err, const char *msg, gs_meta_t *meta, void *ud)
{
    fx_t *f = ud;
    assert_false(f->stored);
    f->stored = true;
    f->store_err = err;
    snprintf(f->store_msg, sizeof f->store_msg, "%s", msg ? msg : "");
    f->meta = meta;
    assert_true(err == 0 ? meta != NULL : meta == NULL);
}

static int store_mem(fx_t *f, const uint8_t *p, size_t n, size_t inline_max)
{
    gs_codec_store_opts_t o;
    gs_diag_t d;
    opts(&o, inline_max);
    assert_int_equal(gs_codec_store_mem(f->store, &o, p, n, on_stored, f, &d), 0);
    assert_false(f->stored); /* never from inside the call */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->stored);
    return f->store_err;
}

static void sink(const uint8_t *p, size_t n, void *ud)
{
    fx_t *f = ud;
    if (f->paused_now)
        f->sink_while_paused = true;
    if (f->got_len + n > f->got_cap) {
        f->got_cap = (f->got_len + n) * 2;
        f->got = realloc(f->got, f->got_cap);
    }
    memcpy(f->got + f->got_len, p, n);
    f->got_len += n;
    f->sink_calls++;
    if (f->cancel_after_first)
        gs_codec_reader_cancel(f->reader);
    if (f->pause_after_first && f->sink_calls == 1) {
        gs_codec_reader_pause(f->reader);
        f->paused_now = true;
    }
}

static void on_done(int err, const char *msg, void *ud)
{
    fx_t *f = ud;
    assert_false(f->done);
    f->done = true;
    f->err = err;
    snprintf(f->msg, sizeof f->msg, "%s", msg ? msg : "");
}

static int retrieve(fx_t *f, uint64_t off, uint64_t len)
{
    gs_diag_t d;
    f->done = false;
    f->got_len = 0;
    f->sink_calls = 0;
    assert_int_equal(
        gs_codec_retrieve(f->store, f->meta, off, len, sink, on_done, f, &f->reader, &d), 0);
    assert_false(f->done);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->done);
    return f->err;
}

static void check_round_trip(size_t n, size_t inline_max)
{
    fx_t f;
    fx_init(&f);
    uint8_t *in = content(n, n + 1);
    assert_int_equal(store_mem(&f, in, n, inline_max), 0);
    assert_int_equal(f.meta->size, n);
    assert_string_equal(f.meta->ext, "bin");
    assert_int_equal(f.meta->n_stripes, n ? (n + STRIPE - 1) / STRIPE : 1);
    uint8_t h[GS_CODEC_HASH_LEN];
    crypto_generichash(h, sizeof h, in, n, NULL, 0);
    assert_memory_equal(h, f.meta->hash, sizeof h);
    if (n <= inline_max) {
        assert_int_equal(f.meta->n_shards, 0);
        assert_non_null(f.meta->inline_data);
    } else {
        assert_int_equal(f.meta->n_shards, K + M);
        assert_string_equal(f.meta->shards[3].backend, "mem3@memory");
    }
    assert_int_equal(retrieve(&f, 0, UINT64_MAX), 0);
    assert_int_equal(f.got_len, n);
    if (n)
        assert_memory_equal(f.got, in, n);
    if (n > 2) { /* a range inside, inline or not */
        assert_int_equal(retrieve(&f, 1, n - 2), 0);
        assert_int_equal(f.got_len, n - 2);
        assert_memory_equal(f.got, in + 1, n - 2);
    }
    free(in);
    fx_end(&f);
}

static void test_pipe_round_trips(void **state)
{
    (void)state;
    size_t sizes[] = {0, 1, 160000, STRIPE - 1, STRIPE, STRIPE + 1, 5 * STRIPE + 123};
    for (size_t i = 0; i < GS_ARRAY_SIZE(sizes); i++) {
        check_round_trip(sizes[i], 0);
        check_round_trip(sizes[i], GS_CODEC_INLINE_DEFAULT);
    }
}

static void test_pipe_all_data_good_reads_no_parity(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    uint8_t *in = content(3 * STRIPE, 9);
    assert_int_equal(store_mem(&f, in, 3 * STRIPE, 0), 0);
    assert_int_equal(retrieve(&f, 0, UINT64_MAX), 0);
    for (unsigned b = 0; b < K + M; b++)
        assert_int_equal(gs_shard_store_memory_gets(f.store, b), b < K ? 3 : 0);
    free(in);
    fx_end(&f);
}

/* Store from a file and from a pipe (whose size is unknown until its end). */
static void store_fd_and_read(int fd, const uint8_t *in, size_t n)
{
    fx_t f;
    fx_init(&f);
    gs_codec_store_opts_t o;
    gs_diag_t d;
    opts(&o, 0);
    assert_int_equal(gs_codec_store_fd(f.store, &o, fd, on_stored, &f, &d), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.store_err, 0);
    assert_int_equal(f.meta->size, n);
    assert_int_equal(f.meta->n_stripes, n ? (n + STRIPE - 1) / STRIPE : 1);
    assert_int_equal(retrieve(&f, 0, UINT64_MAX), 0);
    assert_int_equal(f.got_len, n);
    if (n)
        assert_memory_equal(f.got, in, n);
    fx_end(&f);
}

static void test_pipe_stores_from_a_file_and_a_pipe(void **state)
{
    (void)state;
    size_t sizes[] = {0, 1, STRIPE, 3 * STRIPE, 3 * STRIPE + 5};
    for (size_t i = 0; i < GS_ARRAY_SIZE(sizes); i++) {
        size_t n = sizes[i];
        uint8_t *in = content(n, 77 + n);
        char path[] = "codec-pipe-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, in, n), (ssize_t)n);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        store_fd_and_read(fd, in, n);
        close(fd);
        unlink(path);
        free(in);
    }
    /* a pipe: its whole content fits the pipe's buffer, written before reading */
    size_t n = 40000;
    uint8_t *in = content(n, 5);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], in, n), (ssize_t)n);
    close(p[1]);
    store_fd_and_read(p[0], in, n);
    close(p[0]);
    free(in);
}

static void test_pipe_reads_with_parity_backends_down(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    size_t n = 4 * STRIPE + 999;
    uint8_t *in = content(n, 11);
    gs_rng_t r;
    gs_rng_seed(&r, 31337);
    assert_int_equal(store_mem(&f, in, n, 0), 0);
    for (unsigned round = 0; round < 6; round++) {
        bool down[K + M] = {false};
        for (unsigned k = 0; k < M;) {
            unsigned b = (unsigned)gs_rng_below(&r, K + M);
            if (!down[b])
                down[b] = true, k++;
        }
        if (round == 0) /* at least once: four data backends */
            memset(down, 0, sizeof down), down[0] = down[5] = down[9] = down[15] = true;
        for (unsigned b = 0; b < K + M; b++)
            gs_shard_store_memory_set_down(f.store, b, down[b]);
        assert_int_equal(retrieve(&f, 0, UINT64_MAX), 0);
        assert_int_equal(f.got_len, n);
        assert_memory_equal(f.got, in, n);
    }
    /* one more down: a clear error, no partial success */
    for (unsigned b = 0; b < K + M; b++)
        gs_shard_store_memory_set_down(f.store, b, b < 5);
    assert_int_equal(retrieve(&f, 0, UINT64_MAX), GS_EUNAVAIL);
    assert_non_null(strstr(f.msg, "only 15 of its 20 chunks"));
    assert_true(f.got_len < n);
    free(in);
    fx_end(&f);
}

static void test_pipe_damaged_and_lost_chunks_read_through_parity(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    size_t n = 3 * STRIPE;
    uint8_t *in = content(n, 12);
    assert_int_equal(store_mem(&f, in, n, 0), 0);
    assert_int_equal(gs_shard_store_memory_flip(f.store, 2, f.meta->shards[2].ids[1], 1000), 0);
    assert_int_equal(gs_shard_store_memory_drop(f.store, 7, f.meta->shards[7].ids[2]), 0);
    assert_int_equal(retrieve(&f, 0, UINT64_MAX), 0);
    assert_int_equal(f.got_len, n);
    assert_memory_equal(f.got, in, n);
    uint64_t parity_gets = 0;
    for (unsigned b = K; b < K + M; b++)
        parity_gets += gs_shard_store_memory_gets(f.store, b);
    assert_int_equal(parity_gets, 2); /* one parity chunk for each bad stripe */
    free(in);
    fx_end(&f);
}

static void test_pipe_byte_ranges(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    size_t n = 5 * STRIPE + 321;
    uint8_t *in = content(n, 13);
    assert_int_equal(store_mem(&f, in, n, 0), 0);
    struct {
        uint64_t off, len;
    } cases[] = {{0, 1},
                 {10, 100},
                 {STRIPE - 5, 10},
                 {STRIPE, STRIPE},
                 {2 * STRIPE + 7, 3 * STRIPE},
                 {n - 1, 1},
                 {n - 10, 1000},
                 {n, 5},
                 {123, 0},
                 {1, UINT64_MAX}};
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        uint64_t off = cases[i].off, len = cases[i].len;
        uint64_t want = len > n - off ? n - off : len;
        assert_int_equal(retrieve(&f, off, len), 0);
        assert_int_equal(f.got_len, want);
        if (want)
            assert_memory_equal(f.got, in + off, want);
    }
    /* a range reads only its stripes: stripe 1 alone, data chunks only */
    uint64_t before = gs_shard_store_memory_gets(f.store, 0);
    assert_int_equal(retrieve(&f, STRIPE + 10, 100), 0);
    assert_int_equal(gs_shard_store_memory_gets(f.store, 0), before + 1);
    gs_diag_t d;
    assert_int_equal(gs_codec_retrieve(f.store, f.meta, n + 1, 1, sink, on_done, &f, NULL, &d),
                     GS_ERANGE);
    free(in);
    fx_end(&f);
}

static void on_resume(uv_timer_t *t)
{
    fx_t *f = t->data;
    f->paused_now = false;
    gs_codec_reader_resume(f->reader);
}

static void test_pipe_pause_and_resume(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    size_t n = 10 * STRIPE + 1;
    uint8_t *in = content(n, 14);
    assert_int_equal(store_mem(&f, in, n, 0), 0);
    uv_timer_init(&f.loop, &f.resume_timer);
    f.resume_timer.data = &f;
    f.pause_after_first = true;
    gs_diag_t d;
    f.got_len = 0;
    assert_int_equal(
        gs_codec_retrieve(f.store, f.meta, 0, UINT64_MAX, sink, on_done, &f, &f.reader, &d), 0);
    /* run until paused and idle: the reader fetched at most its window, then stopped */
    while (!f.paused_now)
        uv_run(&f.loop, UV_RUN_ONCE);
    for (int i = 0; i < 200; i++)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_false(f.done);
    assert_int_equal(f.sink_calls, 1);
    assert_true(gs_shard_store_memory_gets(f.store, 0) < 10);
    uv_timer_start(&f.resume_timer, on_resume, 20, 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_true(f.done);
    assert_int_equal(f.err, 0);
    assert_false(f.sink_while_paused);
    assert_int_equal(f.got_len, n);
    assert_memory_equal(f.got, in, n);
    uv_close((uv_handle_t *)&f.resume_timer, NULL);
    free(in);
    fx_end(&f);
}

static void test_pipe_cancel_from_the_sink(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    size_t n = 6 * STRIPE;
    uint8_t *in = content(n, 15);
    assert_int_equal(store_mem(&f, in, n, 0), 0);
    f.cancel_after_first = true;
    assert_int_equal(retrieve(&f, 0, UINT64_MAX), GS_ECANCELED);
    assert_int_equal(f.sink_calls, 1);
    free(in);
    fx_end(&f);
}

/* A record whose hash does not match: the read fails and the last bytes are withheld. */
static void test_pipe_hash_mismatch_withholds_the_end(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    size_t n = 3 * STRIPE + 50;
    uint8_t *in = content(n, 16);
    assert_int_equal(store_mem(&f, in, n, 0), 0);
    f.meta->hash[0] ^= 1;
    assert_int_equal(retrieve(&f, 0, UINT64_MAX), GS_ECORRUPT);
    assert_non_null(strstr(f.msg, "BLAKE2b"));
    assert_true(f.got_len <= 3 * STRIPE);
    /* a range read does not hash, and reads */
    assert_int_equal(retrieve(&f, 1, n - 1), 0);
    assert_int_equal(f.got_len, n - 1);
    free(in);
    fx_end(&f);
}

static void test_pipe_put_failure_fails_the_store(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    size_t n = 2 * STRIPE;
    uint8_t *in = content(n, 17);
    gs_shard_store_memory_set_down(f.store, 13, true);
    assert_int_equal(store_mem(&f, in, n, 0), GS_ECONN);
    assert_null(f.meta);
    assert_non_null(strstr(f.store_msg, "mem13@memory"));
    free(in);
    fx_end(&f);
}

static void test_pipe_refuses_a_store_of_the_wrong_width(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    gs_shard_store_t *s = gs_shard_store_memory_new(&loop, 6);
    gs_codec_store_opts_t o;
    gs_diag_t d;
    opts(&o, 0);
    assert_int_equal(gs_codec_store_mem(s, &o, "abc", 3, on_stored, NULL, &d), GS_EINVAL);
    assert_non_null(strstr(d.msg, "6 backends"));
    o.params.data = 4;
    o.params.parity = 2;
    o.inline_max = GS_CODEC_INLINE_MAX + 1;
    assert_int_equal(gs_codec_store_mem(s, &o, "abc", 3, on_stored, NULL, &d), GS_ERANGE);
    s->ops->close(s);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

typedef struct {
    int n, err[3];
    bool ok[3];
} checks_t;

static void on_check(int err, const char *msg, bool ok, void *ud)
{
    checks_t *c = ud;
    (void)msg;
    c->err[c->n] = err;
    c->ok[c->n++] = ok;
}

/* The memory store's CHECK: sound, flipped, dropped. */
static void test_memory_store_check_sees_flips_and_drops(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f);
    uint8_t *in = content(STRIPE, 18);
    assert_int_equal(store_mem(&f, in, STRIPE, 0), 0);
    uint64_t id = f.meta->shards[4].ids[0];
    checks_t c = {0};
    assert_int_equal(f.store->ops->check(f.store, 4, id, on_check, &c), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(gs_shard_store_memory_flip(f.store, 4, id, 7), 0);
    assert_int_equal(f.store->ops->check(f.store, 4, id, on_check, &c), 0);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(gs_shard_store_memory_drop(f.store, 4, id), 0);
    assert_int_equal(f.store->ops->check(f.store, 4, id, on_check, &c), 0);
    assert_int_equal(c.n, 2); /* answers never come from inside the call */
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(c.n, 3);
    assert_true(c.err[0] == 0 && c.ok[0]);
    assert_true(c.err[1] == 0 && !c.ok[1]);
    assert_int_equal(c.err[2], GS_ENOENT);
    free(in);
    fx_end(&f);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipe_round_trips),
        cmocka_unit_test(test_pipe_all_data_good_reads_no_parity),
        cmocka_unit_test(test_pipe_stores_from_a_file_and_a_pipe),
        cmocka_unit_test(test_pipe_reads_with_parity_backends_down),
        cmocka_unit_test(test_pipe_damaged_and_lost_chunks_read_through_parity),
        cmocka_unit_test(test_pipe_byte_ranges),
        cmocka_unit_test(test_pipe_pause_and_resume),
        cmocka_unit_test(test_pipe_cancel_from_the_sink),
        cmocka_unit_test(test_pipe_hash_mismatch_withholds_the_end),
        cmocka_unit_test(test_pipe_put_failure_fails_the_store),
        cmocka_unit_test(test_pipe_refuses_a_store_of_the_wrong_width),
        cmocka_unit_test(test_memory_store_check_sees_flips_and_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
