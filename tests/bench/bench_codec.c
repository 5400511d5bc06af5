/* bench_codec.c — the codec pipelines over the memory shard store, as ratios against
 * references measured in the same run on the same bytes:
 *   store ÷ BLAKE2b-192 alone on one core (the pipeline's one serial step);
 *   retrieve with 4 data shards lost ÷ AES-256-GCM decrypt alone on one core;
 *   Reed-Solomon inside the stripe encoder ÷ ec_encode_data alone on the same stripes.
 * Fails only when the codec does (wrong bytes, an error), never on speed.
 *
 * usage: bench_codec [--quick] [--mib N] [--rounds N] [--stripe-mib N] [--window N]
 *                    [--workers N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l.h>
#include <sodium.h>

#include "codec.h"
#include "internal.h" /* the stripe encoder as the pipeline runs it, with reused memory */
#include "benchlib.h"

typedef struct {
    size_t mib, rounds, stripe;
    unsigned window, workers;
} conf_t;

/* Text-like bytes zstd shrinks about threefold: words from a small list, numbers. */
static void fill_compressible(uint8_t *p, size_t n)
{
    static const char *const words[] = {"storage",  "grid",   "farm",    "node",    "zdb", "shard",
                                        "stripe",   "parity", "pool",    "the",     "of",  "and",
                                        "capacity", "deploy", "backend", "metadata"};
    gs_rng_t r;
    gs_rng_seed(&r, 99);
    size_t i = 0;
    while (i < n) {
        char w[48];
        int k = snprintf(w, sizeof w, "%s %u ", words[gs_rng_below(&r, 16)],
                         (unsigned)gs_rng_below(&r, 100000));
        for (int j = 0; j < k && i < n; j++)
            p[i++] = (uint8_t)w[j];
    }
}

static gs_codec_store_opts_t store_opts(const conf_t *c)
{
    gs_codec_store_opts_t o;
    gs_codec_store_opts_default(&o);
    o.params.stripe_size = c->stripe;
    o.params.cipher = GS_CIPHER_AES256GCM;
    o.window = c->window;
    o.workers = c->workers;
    return o;
}

static double store_once_with(bench_run_t *r, const conf_t *c, const uint8_t *data, size_t n,
                              double *cores)
{
    gs_codec_store_opts_t o = store_opts(c);
    return bench_store_once(r, &o, data, n, cores);
}

static double blake_alone(const uint8_t *data, size_t n, size_t stripe)
{
    crypto_generichash_state st;
    uint8_t h[GS_CODEC_HASH_LEN];
    double t0 = bench_now();
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    for (size_t at = 0; at < n; at += stripe)
        crypto_generichash_update(&st, data + at, n - at < stripe ? n - at : stripe);
    crypto_generichash_final(&st, h, sizeof h);
    return bench_now() - t0;
}

static void bench_store(const conf_t *c, const char *kind, const uint8_t *data, size_t n)
{
    double ts[16], tb[16], cores[16];
    bench_run_t r;
    for (size_t i = 0; i < c->rounds; i++) {
        bench_run_open(&r);
        ts[i] = store_once_with(&r, c, data, n, &cores[i]);
        bench_run_close(&r);
        tb[i] = blake_alone(data, n, c->stripe);
    }
    double s = bench_median(ts, c->rounds), b = bench_median(tb, c->rounds),
           cpu = bench_median(cores, c->rounds);
    printf("store %-14s %7.0f MB/s (%.1f cores busy) | BLAKE2b-192 alone, 1 core %7.0f MB/s | "
           "ratio %.2f (aim 0.8)\n",
           kind, n / s / 1e6, cpu, n / b / 1e6, b / s);
}

static double aes_decrypt_alone(const uint8_t *data, size_t n, size_t stripe)
{
    uint8_t key[32], nonce[12] = {0};
    size_t ns = (n + stripe - 1) / stripe;
    uint8_t *ct = malloc(n + ns * 16), *out = malloc(stripe);
    randombytes_buf(key, sizeof key);
    size_t off = 0;
    for (size_t at = 0; at < n; at += stripe) {
        size_t len = n - at < stripe ? n - at : stripe;
        crypto_aead_aes256gcm_encrypt(ct + off, NULL, data + at, len, NULL, 0, NULL, nonce, key);
        off += len + 16;
    }
    double t0 = bench_now();
    off = 0;
    for (size_t at = 0; at < n; at += stripe) {
        size_t len = n - at < stripe ? n - at : stripe;
        if (crypto_aead_aes256gcm_decrypt(out, NULL, NULL, ct + off, len + 16, NULL, 0, nonce, key))
            bench_die("AES reference", "decryption failed");
        off += len + 16;
    }
    double t = bench_now() - t0;
    free(ct);
    free(out);
    return t;
}

static void bench_retrieve(const conf_t *c, const char *kind, const uint8_t *data, size_t n)
{
    double tw[16], tr[16], ta[16], t0[16], cores;
    bench_run_t r;
    bench_run_open(&r);
    store_once_with(&r, c, data, n, &cores);
    for (size_t i = 0; i < c->rounds; i++) {
        for (unsigned b = 0; b < 20; b++)
            gs_shard_store_memory_set_down(r.store, b, false);
        t0[i] = bench_read_once(&r, 1, n - 1, n - 1);
        for (unsigned b = 0; b < 4; b++) /* four data shards lost */
            gs_shard_store_memory_set_down(r.store, b * 5, true);
        tw[i] = bench_read_once(&r, 0, UINT64_MAX, n);
        tr[i] = bench_read_once(&r, 1, n - 1, n - 1);
        ta[i] = aes_decrypt_alone(data, n, c->stripe);
    }
    bench_run_close(&r);
    double w = bench_median(tw, c->rounds), g = bench_median(tr, c->rounds),
           a = bench_median(ta, c->rounds);
    double z = bench_median(t0, c->rounds);
    printf("retrieve %-11s AES-256-GCM decrypt alone, 1 core %7.0f MB/s\n", kind, n / a / 1e6);
    printf("  4 data lost, whole file (BLAKE2b checked) %7.0f MB/s | ratio %.2f (aim 0.8)\n",
           n / w / 1e6, a / w);
    printf("  4 data lost, range of all but 1 byte       %7.0f MB/s | ratio %.2f (aim 0.8)\n",
           n / g / 1e6, a / g);
    printf("  nothing lost, same range                  %7.0f MB/s | ratio %.2f\n", n / z / 1e6,
           a / z);
}

/* Reed-Solomon inside the stripe encoder, as the pipeline runs it (matrix, tables and
 * ec_encode_data per stripe, into the chunks), against ec_encode_data alone on the same
 * stripes with tables made once. */
static void bench_isal(const conf_t *c, const uint8_t *data, size_t n)
{
    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    gs_codec_params_t p;
    gs_codec_params_default(&p);
    p.stripe_size = c->stripe;
    p.cipher = GS_CIPHER_AES256GCM;
    size_t ns = n / c->stripe, plen = (c->stripe + 16 + 15) / 16;
    double tin[16], talone[16];
    gs__scratch_t sc = {0};
    uint8_t *a = malloc(20 * 16), *tbl = malloc(32 * 16 * 4), *par = malloc(4 * plen);
    uint8_t *warm = calloc(16, plen);
    gf_gen_cauchy1_matrix(a, 20, 16);
    ec_init_tables(16, 4, a + 16 * 16, tbl);
    for (size_t round = 0; round < c->rounds; round++) {
        sc.rs_ns = 0;
        for (size_t s = 0; s < ns; s++) {
            gs_stripe_t st;
            gs_diag_t d;
            if (gs__stripe_encode_reuse(&sc, &p, key, s, false, data + s * c->stripe, c->stripe,
                                        &st, &d))
                bench_die("stripe encode", d.msg);
        }
        tin[round] = (double)sc.rs_ns * 1e-9;
        /* each stripe copied first, untimed, as the encoder has just copied it into the
         * chunks: both read cache-warm bytes */
        talone[round] = 0;
        for (size_t s = 0; s < ns; s++) {
            uint8_t *src[16], *dst[4];
            memcpy(warm, data + s * c->stripe, c->stripe);
            for (unsigned i = 0; i < 16; i++)
                src[i] = warm + i * plen;
            for (unsigned i = 0; i < 4; i++)
                dst[i] = par + i * plen;
            double t0 = bench_now();
            ec_encode_data((int)plen, 16, 4, tbl, src, dst);
            talone[round] += bench_now() - t0;
        }
    }
    double in = bench_median(tin, c->rounds), al = bench_median(talone, c->rounds);
    printf("ISA-L 16+4 over %zu stripes: inside the stripe encoder %.1f ms | ec_encode_data "
           "alone %.1f ms (%.1f GB/s data-in) | ratio %.2f (time inside / alone)\n",
           ns, in * 1e3, al * 1e3, (double)ns * c->stripe / al / 1e9, in / al);
    gs__scratch_free(&sc);
    free(a);
    free(tbl);
    free(par);
    free(warm);
}

int main(int argc, char **argv)
{
    bench_prog = "bench_codec";
    conf_t c = {.mib = 1024, .rounds = 3, .stripe = (size_t)4 << 20};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            c.mib = 64;
        else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            c.mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            c.rounds = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--window") && i + 1 < argc)
            c.window = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
            c.workers = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--stripe-mib") && i + 1 < argc)
            c.stripe = strtoul(argv[++i], NULL, 10) << 20;
        else
            bench_die("usage", "bench_codec [--quick] [--mib N] [--rounds N] [--stripe-mib N] "
                               "[--window N] [--workers N]");
    }
    if (c.rounds < 1 || c.rounds > 15 || c.mib < 8 || c.stripe < ((size_t)1 << 20))
        bench_die("usage", "rounds 1..15, at least 8 MiB of data, stripes of at least 1 MiB");
    if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available()) {
        printf("bench_codec: no AES-256-GCM on this CPU; skipped\n");
        return 77;
    }
    size_t n = c.mib << 20;
    uint8_t *data = malloc(n);
    if (!data)
        bench_die("setup", "out of memory");
    const char *pool = getenv("UV_THREADPOOL_SIZE");
    printf("bench_codec: %zu MiB per run, 16+4, stripes of %zu MiB, AES-256-GCM, zstd 1, "
           "%zu rounds, medians; %u CPUs, threadpool %s\n",
           c.mib, c.stripe >> 20, c.rounds, uv_available_parallelism(),
           pool ? pool : "4 (libuv default)");
    randombytes_buf(data, n);
    printf("data: incompressible (random bytes)\n");
    bench_store(&c, "random", data, n);
    bench_retrieve(&c, "random", data, n);
    bench_isal(&c, data, n);
    fill_compressible(data, n);
    printf("data: compressible (text of words and numbers, about 3:1 for zstd)\n");
    bench_store(&c, "text", data, n);
    bench_retrieve(&c, "text", data, n);
    free(data);
    return 0;
}
