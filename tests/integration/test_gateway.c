/* test_gateway.c — gridstor-gw as a real process over real `gridstor-sim zdb` servers
 * (4 + 2 data backends and a spare, a metadata master and a replica; 64 KiB stripes):
 * uploads through the job queue, status with long-poll, files read back whole and by
 * range, backends lost, the secret, signed results, checks, a read-only gateway reading
 * through the replica its follower keeps, malformed requests, and a gateway killed right
 * after accepting an upload. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>

#include "process.h"
#include "simproc.h"
#include "zdbproc.h"

#define N_DATA    7
#define MASTER    7
#define REPLICA   8
#define N_SERVERS 9
#define SECRET    "s3cret-gateway-token-0123456789"

typedef struct {
    pid_t pid;
    char url[128];
} gw_proc_t;

static struct {
    char dir[64], codec[128], secret_file[128];
    ts_zdb_t srv[N_SERVERS];
    gw_proc_t rw, ro;
} fx;

/* ---- processes ---- */

static void write_file(const char *path, const void *p, size_t n, int mode)
{
    gs_diag_t diag = {{0}};
    if (gs_file_write_atomic(path, p, n, mode, &diag) != GS_OK)
        fail_msg("%s", diag.msg);
}

static void write_codec_config(void)
{
    unsigned char key[32];
    char hex[65];
    gs_buf_t b;
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    gs_buf_init(&b, 1 << 16);
    gs_buf_printf(&b,
                  "data: 4\nparity: 2\nstripe_size: 64KiB\nkey: %s\nmetadata:\n"
                  "  master: {address: \"%s\", namespace: default}\n"
                  "  replicas: [{address: \"%s\", namespace: default}]\nbackends:\n",
                  hex, fx.srv[MASTER].address, fx.srv[REPLICA].address);
    for (int i = 0; i < N_DATA; i++)
        gs_buf_printf(&b, "  - {address: \"%s\", namespace: default}\n", fx.srv[i].address);
    snprintf(fx.codec, sizeof fx.codec, "%s/codec.yaml", fx.dir);
    write_file(fx.codec, b.data, b.len, 0600);
    gs_buf_free(&b);
}

static void gw_start(gw_proc_t *g, const char *data, bool read_only)
{
    char line[512], dir[160];
    const char *p;
    snprintf(dir, sizeof dir, "%s/%s", fx.dir, data);
    const char *argv[] = {ts_env("GS_GW"),
                          "--codec",
                          fx.codec,
                          "--listen",
                          "127.0.0.1:0",
                          "--data",
                          dir,
                          "--secret-file",
                          fx.secret_file,
                          "--max-upload",
                          "32",
                          read_only ? "--read-only" : NULL,
                          NULL};
    g->pid = ts_spawn_server(argv, line, sizeof line, 10000);
    p = strstr(line, "\"gridstor-gw\":\"");
    assert_non_null(p);
    assert_int_equal(sscanf(p + 15, "%127[^\"]", g->url), 1);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(fx.dir, sizeof fx.dir, "/tmp/gs-test-gateway-XXXXXX");
    if (mkdtemp(fx.dir) == NULL || sodium_init() < 0)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < N_SERVERS; i++)
        ts_zdb_start(&fx.srv[i], fx.dir, i, 0);
    write_codec_config();
    snprintf(fx.secret_file, sizeof fx.secret_file, "%s/secret", fx.dir);
    write_file(fx.secret_file, SECRET "\n", strlen(SECRET) + 1, 0600);
    gw_start(&fx.rw, "gw-rw", false);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (fx.rw.pid > 0)
        assert_int_equal(ts_stop_server(fx.rw.pid, 10000), 0);
    if (fx.ro.pid > 0)
        assert_int_equal(ts_stop_server(fx.ro.pid, 10000), 0);
    for (int i = 0; i < N_SERVERS; i++)
        ts_zdb_stop(&fx.srv[i]);
    ts_remove_tree(fx.dir);
    return 0;
}

/* ---- HTTP ---- */

typedef struct {
    long status;
    CURLcode rc;
    gs_buf_t body;
} answer_t;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    answer_t *a = ud;
    return gs_buf_append(&a->body, p, size * n) == GS_OK ? size * n : 0;
}

/* method base+path with an optional body and headers ("Name: value", NULL-terminated). */
static void call(answer_t *a, const char *method, const char *base, const char *path,
                 const void *body, size_t len, const char *const *headers)
{
    char url[512];
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    memset(a, 0, sizeof *a);
    gs_buf_init(&a->body, 64u << 20);
    snprintf(url, sizeof url, "%s%s", base, path);
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    a->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static json_t *answer_json(answer_t *a)
{
    json_t *j = json_loadb(a->body.data ? a->body.data : "", a->body.len, 0, NULL);
    gs_buf_free(&a->body);
    return j;
}

static const char *const auth[] = {"Authorization: Bearer " SECRET, NULL};

/* Uploads and waits for the job: the file id (or "ERROR:..."). */
static void upload(const gw_proc_t *g, const void *p, size_t n, const char *ext, char id[128])
{
    answer_t a;
    char path[256], job[64];
    json_t *j;
    snprintf(path, sizeof path, "/api/v1/files%s%s", ext ? "?ext=" : "", ext ? ext : "");
    call(&a, "POST", g->url, path, p ? p : "", n, auth);
    assert_int_equal(a.status, 202);
    j = answer_json(&a);
    snprintf(job, sizeof job, "%s", gs_json_str(j, "job"));
    json_decref(j);
    for (int i = 0; i < 10; i++) {
        snprintf(path, sizeof path, "/api/v1/jobs/%s?wait=20", job);
        call(&a, "GET", g->url, path, NULL, 0, NULL);
        assert_int_equal(a.status, 200);
        j = answer_json(&a);
        snprintf(id, 128, "%s", gs_json_str(j, "status"));
        json_decref(j);
        if (strcmp(id, "TIMEOUT") != 0 && strcmp(id, "ACTIVE") != 0)
            return;
    }
    fail_msg("job %s never ended", job);
}

static void expect_file(const gw_proc_t *g, const char *id, const uint8_t *p, size_t n)
{
    answer_t a;
    char path[256];
    snprintf(path, sizeof path, "/api/v1/files/%s", id);
    call(&a, "GET", g->url, path, NULL, 0, NULL);
    if (a.rc != CURLE_OK || a.status != 200)
        fail_msg("GET %s: curl %d, HTTP %ld", id, (int)a.rc, a.status);
    assert_int_equal(a.body.len, n);
    if (n)
        assert_memory_equal(a.body.data, p, n);
    gs_buf_free(&a.body);
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    randombytes_buf(p, n);
    return p;
}

/* ---- tests ---- */

static void test_files_go_in_and_come_back(void **state)
{
    static const size_t sizes[] = {0, 1, 160 * 1024, 65535, 65536, 65537, (4 << 20) + 1, 20 << 20};
    (void)state;
    for (size_t i = 0; i < GS_ARRAY_SIZE(sizes); i++) {
        uint8_t *p = random_bytes(sizes[i]);
        char id[128];
        upload(&fx.rw, p, sizes[i], "bin", id);
        if (strncmp(id, "ERROR:", 6) == 0)
            fail_msg("size %zu: %s", sizes[i], id);
        assert_int_equal(strlen(id), 48 + 8 + 4);
        expect_file(&fx.rw, id, p, sizes[i]);
        free(p);
    }
}

static void test_ranges_exists_check_and_signatures(void **state)
{
    size_t n = 300000;
    uint8_t *p = random_bytes(n);
    char id[128], path[256], hex[65];
    unsigned char pk[32], sig[64];
    const char *range[] = {"Range: bytes=70000-70099", NULL}, *suffix[] = {"Range: bytes=-5", NULL},
               *past[] = {"Range: bytes=999999999-", NULL};
    answer_t a;
    json_t *j;
    (void)state;
    upload(&fx.rw, p, n, NULL, id);
    snprintf(path, sizeof path, "/api/v1/files/%s", id);
    call(&a, "GET", fx.rw.url, path, NULL, 0, range);
    assert_int_equal(a.status, 206);
    assert_int_equal(a.body.len, 100);
    assert_memory_equal(a.body.data, p + 70000, 100);
    gs_buf_free(&a.body);
    call(&a, "GET", fx.rw.url, path, NULL, 0, suffix);
    assert_int_equal(a.status, 206);
    assert_memory_equal(a.body.data, p + n - 5, 5);
    gs_buf_free(&a.body);
    call(&a, "GET", fx.rw.url, path, NULL, 0, past);
    assert_int_equal(a.status, 416);
    gs_buf_free(&a.body);
    /* exists */
    snprintf(path, sizeof path, "/api/v1/files/%s/exists", id);
    call(&a, "GET", fx.rw.url, path, NULL, 0, NULL);
    j = answer_json(&a);
    assert_true(json_is_true(json_object_get(j, "exists")));
    json_decref(j);
    /* check, soft and hard, behind the secret */
    snprintf(path, sizeof path, "/api/v1/files/%s/check?hard=1", id);
    call(&a, "POST", fx.rw.url, path, "", 0, NULL);
    assert_int_equal(a.status, 401);
    gs_buf_free(&a.body);
    call(&a, "POST", fx.rw.url, path, "", 0, auth);
    assert_int_equal(a.status, 200);
    j = answer_json(&a);
    assert_int_equal(json_integer_value(json_object_get(j, "good")), 6);
    assert_true(json_is_true(json_object_get(j, "hash_ok")));
    json_decref(j);
    /* the job's result is signed with the gateway's published key */
    call(&a, "GET", fx.rw.url, "/api/v1/pubkey", NULL, 0, NULL);
    j = answer_json(&a);
    snprintf(hex, sizeof hex, "%s", gs_json_str(j, "public_key"));
    json_decref(j);
    assert_int_equal(sodium_hex2bin(pk, sizeof pk, hex, 64, NULL, NULL, NULL), 0);
    {
        char job[64];
        call(&a, "POST", fx.rw.url, "/api/v1/files", "x", 1, auth);
        j = answer_json(&a);
        snprintf(job, sizeof job, "%s", gs_json_str(j, "job"));
        json_decref(j);
        snprintf(path, sizeof path, "/api/v1/jobs/%s?wait=30", job);
        call(&a, "GET", fx.rw.url, path, NULL, 0, NULL);
        j = answer_json(&a);
        assert_int_equal(
            sodium_hex2bin(sig, sizeof sig, gs_json_str(j, "signature"), 128, NULL, NULL, NULL), 0);
        assert_int_equal(
            crypto_sign_verify_detached(sig, (const unsigned char *)gs_json_str(j, "status"),
                                        strlen(gs_json_str(j, "status")), pk),
            0);
        json_decref(j);
    }
    free(p);
}

static void test_bad_requests_are_refused_and_store_nothing(void **state)
{
    static const struct {
        const char *method, *path;
        const char *const *headers;
        long status;
    } cases[] = {
        {"POST", "/api/v1/files", NULL, 401},
        {"POST", "/api/v1/files?ext=NOT.OK", auth, 400},
        {"GET", "/api/v1/jobs/nosuchjob", NULL, 404},
        {"GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef?wait=x", NULL, 400},
        {"GET", "/api/v1/files/nothex", NULL, 400},
        {"GET", "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0", NULL,
         404},
        {"POST", "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0/check",
         auth, 404},
        {"DELETE", "/api/v1/files", auth, 405},
    };
    const char *wrong[] = {"Authorization: Bearer not-the-secret-at-all", NULL};
    answer_t a;
    uint8_t *big = random_bytes(33u << 20);
    (void)state;
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        bool post = strcmp(cases[i].method, "GET") != 0;
        call(&a, cases[i].method, fx.rw.url, cases[i].path, post ? "x" : NULL, post,
             cases[i].headers);
        if (a.status != cases[i].status)
            fail_msg("%s %s: %ld, not %ld: %.200s", cases[i].method, cases[i].path, a.status,
                     cases[i].status, a.body.data ? a.body.data : "");
        gs_buf_free(&a.body);
    }
    call(&a, "POST", fx.rw.url, "/api/v1/files", "x", 1, wrong);
    assert_int_equal(a.status, 401);
    gs_buf_free(&a.body);
    call(&a, "POST", fx.rw.url, "/api/v1/files", big, 33u << 20, auth);
    assert_int_equal(a.status, 413);
    gs_buf_free(&a.body);
    free(big);
}

/* A read-only gateway refuses uploads and reads through its replica, which its follower
 * keeps up with the master: with the master gone and two data backends gone, files still
 * come back through it. */
static void test_a_read_only_gateway_reads_through_its_replica(void **state)
{
    size_t n = 500000;
    uint8_t *p = random_bytes(n);
    char id[128];
    answer_t a;
    json_t *j = NULL;
    (void)state;
    upload(&fx.rw, p, n, "dat", id);
    gw_start(&fx.ro, "gw-ro", true);
    call(&a, "POST", fx.ro.url, "/api/v1/files", "x", 1, auth);
    assert_int_equal(a.status, 403);
    gs_buf_free(&a.body);
    for (int i = 0; i < 100; i++) { /* the follower catches up */
        call(&a, "GET", fx.ro.url, "/health", NULL, 0, NULL);
        j = answer_json(&a);
        if (json_integer_value(json_object_get(j, "replication_lag")) == 0 &&
            json_object_get(j, "replication_lag") != NULL)
            break;
        json_decref(j);
        j = NULL;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    assert_non_null(j);
    json_decref(j);
    ts_zdb_kill(&fx.srv[MASTER]);
    ts_zdb_kill(&fx.srv[1]);
    ts_zdb_kill(&fx.srv[4]);
    expect_file(&fx.ro, id, p, n);
    /* a third data backend gone: too few shards, and the read says so by failing */
    ts_zdb_kill(&fx.srv[5]);
    {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/files/%s", id);
        call(&a, "GET", fx.ro.url, path, NULL, 0, NULL);
        assert_true(a.rc != CURLE_OK || a.status != 200 || a.body.len != n);
        gs_buf_free(&a.body);
    }
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_go_in_and_come_back),
        cmocka_unit_test(test_ranges_exists_check_and_signatures),
        cmocka_unit_test(test_bad_requests_are_refused_and_store_nothing),
        cmocka_unit_test(test_a_read_only_gateway_reads_through_its_replica),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
