/* bench_gw.c — a file through gridstor-gw end to end, against the codec in memory, in the
 * same run on the same bytes: 20 local 0-db servers (`gridstor-sim zdb`, sequential mode)
 * and one for the metadata, a gateway over them (16+4, public), then per round
 *   upload: the file streamed from disk in parts of 16 MiB (POST /api/v1/uploads, PUTs,
 *           done), or in one POST /api/v1/files with --single, until its job has the
 *           file id (the bytes received, written and fsynced, the job queued, stored, its
 *           metadata and backups written);
 *   download: GET of the file, every byte received (the gateway verifies the hash);
 * each divided by the codec's store / whole-file retrieve of the same bytes over the memory
 * shard store (the figures bench_codec measures). Then the gateway's peak resident memory
 * (VmHWM) over the run. Random bytes; medians. Never fails on speed; fails when a byte
 * count is wrong or a step fails.
 *
 * usage: bench_gw SIM GW [--quick] [--mib N] [--rounds N] [--single] */
#define _XOPEN_SOURCE 700
#include "benchlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#define N_DATA  20
#define ROUNDS  3
#define JOB_MAX 128
#define USAGE   "bench_gw SIM GW [--quick] [--mib N] [--rounds N] [--single]"

typedef struct {
    char dir[256], file[300], url[256];
    pid_t zdb[N_DATA + 1], gw; /* the last 0-db holds the metadata */
    char zaddr[N_DATA + 1][64];
} setup_t;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        bench_die(path, "cannot write");
}

static void start_zdb(setup_t *s, int i, const char *sim)
{
    char data[300], index[300], line[256];
    const char *p;
    snprintf(data, sizeof data, "%s/data%d", s->dir, i);
    snprintf(index, sizeof index, "%s/index%d", s->dir, i);
    const char *argv[] = {sim,   "zdb",    "--listen", "127.0.0.1", "--port", "0", "--mode",
                          "seq", "--data", data,       "--index",   index,    NULL};
    if ((s->zdb[i] = bench_spawn(argv, line, sizeof line)) < 0 ||
        (p = strstr(line, "\"zdb\":\"")) == NULL || sscanf(p + 7, "%63[^\"]", s->zaddr[i]) != 1)
        bench_die("gridstor-sim zdb", "did not start");
}

/* The codec configuration (a random key) and the gateway's, beside each other. */
static void write_configs(const setup_t *s, size_t max_upload_mib)
{
    unsigned char key[32];
    char hex[65], path[300], text[8192];
    size_t at;
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    at = (size_t)snprintf(text, sizeof text,
                          "data: 16\nparity: 4\nkey: %s\nmetadata:\n  master: {address: \"%s\", "
                          "namespace: default}\nbackends:\n",
                          hex, s->zaddr[N_DATA]);
    for (int i = 0; i < N_DATA && at < sizeof text; i++)
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "  - {address: \"%s\", namespace: default}\n", s->zaddr[i]);
    snprintf(path, sizeof path, "%s/codec.yaml", s->dir);
    write_text(path, text);
    snprintf(text, sizeof text,
             "listen: 127.0.0.1:0\ndata_dir: %s/gw\ncodec: codec.yaml\nmax_upload: %zuMiB\n"
             "security:\n  mode: public\n",
             s->dir, max_upload_mib);
    snprintf(path, sizeof path, "%s/gw.yaml", s->dir);
    write_text(path, text);
}

static setup_t the_setup; /* for bench_cleanup */

static void stop(void);

static void start(setup_t *s, const char *sim, const char *gw, size_t max_upload_mib)
{
    char config[300], line[512];
    const char *p;
    snprintf(s->dir, sizeof s->dir, "%s/gs-bench-gw-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(s->dir) == NULL)
        bench_die("setup", "no scratch folder");
    bench_cleanup = stop;
    for (int i = 0; i <= N_DATA; i++)
        start_zdb(s, i, sim);
    write_configs(s, max_upload_mib);
    snprintf(config, sizeof config, "%s/gw.yaml", s->dir);
    const char *argv[] = {gw, "--config", config, NULL};
    if ((s->gw = bench_spawn(argv, line, sizeof line)) < 0 ||
        (p = strstr(line, "\"gridstor-gw\":\"")) == NULL ||
        sscanf(p + 15, "%255[^\"]", s->url) != 1)
        bench_die("gridstor-gw", "did not start");
}

static void stop(void)
{
    setup_t *s = &the_setup;
    char cmd[400];
    bench_cleanup = NULL;
    bench_stop(s->gw);
    for (int i = 0; i <= N_DATA; i++)
        bench_stop(s->zdb[i]);
    snprintf(cmd, sizeof cmd, "rm -rf '%.255s'", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_gw: could not remove %s\n", s->dir);
}

/* ---- HTTP ---- */

static size_t to_buf(char *p, size_t size, size_t n, void *ud)
{
    gs_buf_t *b = ud;
    return gs_buf_append(b, p, size * n) == GS_OK ? size * n : 0;
}

static size_t count(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    *(uint64_t *)ud += size * n;
    return size * n;
}

/* What a request sends: len bytes read from f (a POST, or a PUT when put is set). */
typedef struct {
    FILE *f;
    uint64_t len;
    bool put;
} body_t;

static size_t from_file(char *p, size_t size, size_t n, void *ud)
{
    body_t *b = ud;
    size_t want = size * n < b->len ? size * n : (size_t)b->len;
    size_t got = fread(p, 1, want, b->f);
    b->len -= got;
    return got;
}

/* One request (a POST with an empty body when body is NULL and post is set); the answer's
 * body into out (when not NULL), else its length added to *counted; the HTTP status. */
static long request(const char *url, body_t *body, bool post, gs_buf_t *out, uint64_t *counted)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, body->put ? CURLOPT_UPLOAD : CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, from_file);
        curl_easy_setopt(c, CURLOPT_READDATA, body);
        curl_easy_setopt(c, body->put ? CURLOPT_INFILESIZE_LARGE : CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)body->len);
    } else if (post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, out ? to_buf : count);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out ? (void *)out : (void *)counted);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/* A member's string value out of a one-line JSON answer. */
static bool member(const gs_buf_t *b, const char *name, char *out, size_t len)
{
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":\"", name);
    if (b->data == NULL || (p = strstr(b->data, pat)) == NULL)
        return false;
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), p);
    return true;
}

/* The upload in one POST; its job into job. */
static void upload_single(const setup_t *s, FILE *f, uint64_t n, char job[JOB_MAX])
{
    char url[512];
    body_t body = {f, n, false};
    gs_buf_t b;
    gs_buf_init(&b, 1 << 16);
    snprintf(url, sizeof url, "%s/api/v1/files?ext=bin", s->url);
    if (request(url, &body, true, &b, NULL) != 202 || !member(&b, "job", job, JOB_MAX))
        bench_die("upload", b.data ? b.data : "no answer");
    gs_buf_free(&b);
}

/* The upload in parts of `part` bytes (POST /api/v1/uploads, PUTs, done). */
static void upload_parts(const setup_t *s, FILE *f, uint64_t n, uint64_t part, char job[JOB_MAX])
{
    char url[512], id[JOB_MAX];
    gs_buf_t b;
    gs_buf_init(&b, 1 << 16);
    snprintf(url, sizeof url, "%s/api/v1/uploads", s->url);
    if (request(url, NULL, true, &b, NULL) != 201 || !member(&b, "upload", id, sizeof id))
        bench_die("upload in parts", b.data ? b.data : "no answer");
    for (uint64_t at = 0; at < n; at += part) {
        body_t body = {f, n - at < part ? n - at : part, true};
        snprintf(url, sizeof url, "%s/api/v1/uploads/%s?offset=%llu", s->url, id,
                 (unsigned long long)at);
        gs_buf_reset(&b);
        if (request(url, &body, false, &b, NULL) != 200)
            bench_die("a part", b.data ? b.data : "no answer");
    }
    snprintf(url, sizeof url, "%s/api/v1/uploads/%s/done?ext=bin", s->url, id);
    gs_buf_reset(&b);
    if (request(url, NULL, true, &b, NULL) != 202 || !member(&b, "job", job, JOB_MAX))
        bench_die("upload done", b.data ? b.data : "no answer");
    gs_buf_free(&b);
}

/* Uploads the file (in one POST when part is 0, else in parts), waits for its id (into
 * id); returns the time from the first byte sent to the id. */
static double upload(const setup_t *s, uint64_t n, uint64_t part, char id[JOB_MAX])
{
    char url[512], job[JOB_MAX];
    gs_buf_t b;
    FILE *f = fopen(s->file, "rb");
    double t0 = bench_now();
    if (f == NULL)
        bench_die("upload", "cannot open the file");
    if (part == 0)
        upload_single(s, f, n, job);
    else
        upload_parts(s, f, n, part, job);
    fclose(f);
    gs_buf_init(&b, 1 << 16);
    for (;;) {
        gs_buf_free(&b);
        gs_buf_init(&b, 1 << 16);
        snprintf(url, sizeof url, "%s/api/v1/jobs/%s?wait=60", s->url, job);
        if (request(url, NULL, false, &b, NULL) != 200 || !member(&b, "status", id, JOB_MAX))
            bench_die("job status", b.data ? b.data : "no answer");
        if (strcmp(id, "TIMEOUT") != 0 && strcmp(id, "ACTIVE") != 0)
            break;
    }
    gs_buf_free(&b);
    if (strncmp(id, "ERROR", 5) == 0)
        bench_die("upload", id);
    return bench_now() - t0;
}

static double download(const setup_t *s, const char *id, uint64_t n)
{
    char url[512];
    uint64_t got = 0;
    double t0 = bench_now();
    snprintf(url, sizeof url, "%s/api/v1/files/%s", s->url, id);
    if (request(url, NULL, false, NULL, &got) != 200 || got != n)
        bench_die("download", "not the whole file");
    return bench_now() - t0;
}

/* ---- the run ---- */

static uint8_t *make_file(const setup_t *s, size_t n)
{
    uint8_t *data = malloc(n);
    FILE *f = fopen(s->file, "wb");
    if (data == NULL || f == NULL)
        bench_die("setup", "no memory or file");
    randombytes_buf(data, n);
    if (fwrite(data, 1, n, f) != n || fclose(f) != 0)
        bench_die("setup", "cannot write the file");
    return data;
}

static void in_memory(const uint8_t *data, size_t n, double *store, double *retrieve)
{
    gs_codec_store_opts_t o;
    bench_run_t r;
    double cores;
    gs_codec_store_opts_default(&o);
    bench_run_open(&r);
    *store = bench_store_once(&r, &o, data, n, &cores);
    *retrieve = bench_read_once(&r, 0, UINT64_MAX, n);
    bench_run_close(&r);
}

int main(int argc, char **argv)
{
    size_t mib = 1024, rounds = ROUNDS, part = (size_t)16 << 20;
    double up[ROUNDS], down[ROUNDS], mst[ROUNDS], mrt[ROUNDS];
    setup_t *s = &the_setup;
    bench_prog = "bench_gw";
    if (argc < 3)
        bench_die("usage", USAGE);
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            mib = 64, rounds = 1;
        else if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--single"))
            part = 0;
        else
            bench_die("usage", USAGE);
    }
    if (mib < 1 || mib > 4095 || rounds < 1 || rounds > ROUNDS)
        bench_die("usage", "1 to 4095 MiB, 1 to 3 rounds");
    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        bench_die("setup", "libsodium or libcurl");
    size_t n = mib << 20;
    start(s, argv[1], argv[2], mib);
    snprintf(s->file, sizeof s->file, "%.255s/file.bin", s->dir);
    uint8_t *data = make_file(s, n);
    printf("bench_gw: %zu MiB of random bytes, 16+4 over %d local 0-db servers, uploaded %s, "
           "%zu rounds, medians; %u CPUs\n",
           mib, N_DATA, part ? "in parts of 16 MiB" : "in one POST", rounds,
           uv_available_parallelism());
    for (size_t r = 0; r < rounds; r++) {
        char id[JOB_MAX];
        up[r] = upload(s, n, part, id);
        down[r] = download(s, id, n);
        in_memory(data, n, &mst[r], &mrt[r]);
    }
    double u = bench_median(up, rounds), d = bench_median(down, rounds);
    double ms = bench_median(mst, rounds), mr = bench_median(mrt, rounds);
    printf("upload through gridstor-gw     %7.0f MB/s | codec store in memory    %7.0f MB/s | "
           "ratio %.2f\n",
           n / u / 1e6, n / ms / 1e6, ms / u);
    printf("download through gridstor-gw   %7.0f MB/s | codec retrieve in memory %7.0f MB/s | "
           "ratio %.2f\n",
           n / d / 1e6, n / mr / 1e6, mr / d);
    printf("gridstor-gw peak resident memory (VmHWM) %.1f MiB moving %zu MiB (aim under 128 "
           "MiB for 1 GiB); resident now %.1f MiB\n",
           bench_proc_kib(s->gw, "VmHWM") / 1024.0, mib, bench_proc_kib(s->gw, "VmRSS") / 1024.0);
    free(data);
    stop();
    curl_global_cleanup();
    return 0;
}
