/* test_gateway.c — gridstor-gw as a real process over 22 real `gridstor-sim zdb` servers
 * (16 + 4 data backends, a metadata master and a replica; each in a namespace with a
 * password): files of every size through upload, status and get; ranges; checks; signed
 * results; malformed and oversized requests; the three security modes (threebot against a
 * real login directory); a read-only gateway; a gateway killed with uploads in its queue;
 * configuration mistakes; slow and departing clients; and data backends lost, four (still
 * read) then a fifth (a clear error). */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>
#include <sqlite3.h>

#include "process.h"
#include "simproc.h"
#include "zdbproc.h"

#define N_DATA           20
#define MASTER           20
#define REPLICA          21
#define N_SERVERS        22
#define NS               "gw"
#define NS_PASS          "ns-password-1"
#define SECRET           "s3cret-gateway-token-0123456789"
#define MAX_UP_MB        100        /* the default */
#define GW_PART_MAX_TEST (16 << 20) /* the gateway's part_max */

typedef struct {
    pid_t pid;
    char url[128], config[160], data[160];
} gw_proc_t;

static struct {
    char dir[64], codec[128];
    ts_zdb_t srv[N_SERVERS];
    gw_proc_t rw;
    pid_t others[4]; /* other gateways running, for the teardown when a test failed */
    ts_sim_t sim;
    bool sim_up;
} fx;

/* ---- 0-db administration over RESP (blocking; the servers are local) ---- */

static int zdb_connect(const char *address)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    const char *colon = strrchr(address, ':');
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0 && colon != NULL);
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Sends one command and reads its reply into out (the reply's text, NUL-terminated). */
static void zdb_call(int fd, char *out, size_t outlen, size_t argc, const char *const *argv)
{
    gs_buf_t req, in;
    gs_resp_parser_t p;
    gs_resp_reply_t reply;
    gs_diag_t diag = {{0}};
    size_t lens[8];
    int rc = GS_RESP_MORE;
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    gs_buf_init(&req, 1 << 16);
    gs_buf_init(&in, 1 << 20);
    assert_int_equal(gs_resp_put_request(&req, argc, argv, lens), GS_OK);
    assert_int_equal(write(fd, req.data, req.len), (ssize_t)req.len);
    gs_resp_parser_init(&p);
    while (rc == GS_RESP_MORE) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        assert_true(n > 0);
        gs_buf_append(&in, buf, (size_t)n);
        rc = gs_resp_reply_parse(&p, in.data, in.len, &reply, &diag);
    }
    assert_int_equal(rc, GS_RESP_DONE);
    snprintf(out, outlen, "%c%.*s", reply.value->type == GS_RESP_ERROR ? '-' : '+',
             (int)reply.value->len, reply.value->str ? reply.value->str : "");
    gs_resp_parser_free(&p);
    gs_buf_free(&req);
    gs_buf_free(&in);
}

/* The namespace NS with its password on server z. */
static void zdb_make_namespace(const ts_zdb_t *z)
{
    char out[256];
    int fd = zdb_connect(z->address);
    zdb_call(fd, out, sizeof out, 2, (const char *const[]){"AUTH", TS_ZDB_ADMIN});
    assert_string_equal(out, "+OK");
    zdb_call(fd, out, sizeof out, 2, (const char *const[]){"NSNEW", NS});
    assert_string_equal(out, "+OK");
    zdb_call(fd, out, sizeof out, 4, (const char *const[]){"NSSET", NS, "password", NS_PASS});
    assert_string_equal(out, "+OK");
    close(fd);
}

/* Records in the metadata master's namespace (NSINFO's entries). */
static long master_entries(void)
{
    char out[2048];
    const char *e;
    int fd = zdb_connect(fx.srv[MASTER].address);
    zdb_call(fd, out, sizeof out, 2, (const char *const[]){"NSINFO", NS});
    close(fd);
    e = strstr(out, "entries: ");
    assert_non_null(e);
    return atol(e + 9);
}

/* ---- processes ---- */

static void write_file(const char *path, const char *text)
{
    gs_diag_t diag = {{0}};
    if (gs_file_write_atomic(path, text, strlen(text), 0600, &diag) != GS_OK)
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
                  "data: 16\nparity: 4\nkey: %s\nmetadata:\n"
                  "  master: {address: \"%s\", namespace: " NS ", password: " NS_PASS "}\n"
                  "  replicas: [{address: \"%s\", namespace: " NS ", password: " NS_PASS
                  "}]\nbackends:\n",
                  hex, fx.srv[MASTER].address, fx.srv[REPLICA].address);
    for (int i = 0; i < N_DATA; i++)
        gs_buf_printf(&b, "  - {address: \"%s\", namespace: " NS ", password: " NS_PASS "}\n",
                      fx.srv[i].address);
    snprintf(fx.codec, sizeof fx.codec, "%s/codec.yaml", fx.dir);
    write_file(fx.codec, b.data);
    gs_buf_free(&b);
}

/* A gateway configuration named name (its data folder beside it) with extra lines. */
static void gw_config(gw_proc_t *g, const char *name, const char *extra)
{
    char text[2048];
    snprintf(g->config, sizeof g->config, "%s/%s.yaml", fx.dir, name);
    snprintf(g->data, sizeof g->data, "%s/%s-data", fx.dir, name);
    snprintf(text, sizeof text,
             "# a test gateway\nlisten: 127.0.0.1:0\ndata_dir: %s\ncodec: codec.yaml\n"
             "max_upload: %dMiB\n%s",
             g->data, MAX_UP_MB, extra);
    write_file(g->config, text);
}

static void gw_start(gw_proc_t *g)
{
    char line[512];
    const char *p;
    const char *argv[] = {ts_env("GS_GW"), "--config", g->config, NULL};
    g->pid = ts_spawn_server(argv, line, sizeof line, 10000);
    for (size_t i = 0; g != &fx.rw && i < GS_ARRAY_SIZE(fx.others); i++)
        if (fx.others[i] == 0) {
            fx.others[i] = g->pid;
            break;
        }
    p = strstr(line, "\"gridstor-gw\":\"");
    if (p == NULL)
        fail_msg("gridstor-gw did not announce itself: %s", line);
    assert_int_equal(sscanf(p + 15, "%127[^\"]", g->url), 1);
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < GS_ARRAY_SIZE(fx.others); i++)
        if (fx.others[i] == pid)
            fx.others[i] = 0;
}

static void gw_stop(gw_proc_t *g)
{
    int status = 0;
    forget(g->pid);
    if (g->pid > 0)
        status = ts_stop_server(g->pid, 20000);
    g->pid = 0;
    assert_int_equal(status, 0);
}

static void gw_kill(gw_proc_t *g)
{
    forget(g->pid);
    assert_int_equal(kill(g->pid, SIGKILL), 0);
    assert_int_equal(waitpid(g->pid, NULL, 0), g->pid);
    g->pid = 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(fx.dir, sizeof fx.dir, "/tmp/gs-test-gateway-XXXXXX");
    if (mkdtemp(fx.dir) == NULL || sodium_init() < 0)
        return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < N_SERVERS; i++) {
        ts_zdb_start(&fx.srv[i], fx.dir, i, 0);
        zdb_make_namespace(&fx.srv[i]);
    }
    write_codec_config();
    write_file(strcat(strcpy((char[128]){0}, fx.dir), "/secret"), SECRET "\n");
    gw_config(&fx.rw, "rw", "workers: 2\nsecurity:\n  mode: secret\n  secret_file: secret\n");
    gw_start(&fx.rw);
    return 0;
}

/* Stops everything whatever failed before: nothing a test started outlives it. */
static int group_teardown(void **state)
{
    int bad = 0;
    (void)state;
    if (fx.rw.pid > 0)
        bad |= ts_stop_server(fx.rw.pid, 20000) != 0;
    for (size_t i = 0; i < GS_ARRAY_SIZE(fx.others); i++)
        if (fx.others[i] > 0)
            bad |= ts_stop_server(fx.others[i], 20000) != 0;
    if (fx.sim_up)
        ts_sim_stop(&fx.sim);
    for (int i = 0; i < N_SERVERS; i++)
        if (fx.srv[i].pid > 0) {
            kill(fx.srv[i].pid, SIGCONT);
            bad |= ts_stop_server(fx.srv[i].pid, 5000) != 0;
        }
    ts_remove_tree(fx.dir);
    curl_global_cleanup();
    return bad ? -1 : 0;
}

/* ---- HTTP ---- */

typedef struct {
    long status;
    CURLcode rc;
    gs_buf_t body, headers;
} answer_t;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    return gs_buf_append(ud, p, size * n) == GS_OK ? size * n : 0;
}

/* method base+path with an optional body and headers ("Name: value", NULL-terminated).
 * The body goes at once unless the headers ask for "Expect: 100-continue", as a client
 * sending more than the server may take should: the server may answer 413 on the headers
 * and close before the rest is read. */
static void call(answer_t *a, const char *method, const char *base, const char *path,
                 const void *body, size_t len, const char *const *headers)
{
    char url[512];
    CURL *c = curl_easy_init();
    bool expect = false;
    struct curl_slist *h = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        expect = expect || strncasecmp(headers[i], "Expect:", 7) == 0;
    if (!expect)
        h = curl_slist_append(h, "Expect:");
    memset(a, 0, sizeof *a);
    gs_buf_init(&a->body, ((size_t)MAX_UP_MB << 20) + 1);
    gs_buf_init(&a->headers, 1 << 16);
    snprintf(url, sizeof url, "%s%s", base, path);
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 60000L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    a->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void answer_free(answer_t *a)
{
    gs_buf_free(&a->body);
    gs_buf_free(&a->headers);
}

/* The answer as JSON (a new reference; fails the test when it is not JSON). */
static json_t *answer_json(answer_t *a)
{
    json_t *j = json_loadb(a->body.data ? a->body.data : "", a->body.len, 0, NULL);
    if (j == NULL)
        fail_msg("not JSON (HTTP %ld): %.200s", a->status, a->body.data ? a->body.data : "");
    answer_free(a);
    return j;
}

static bool has_header(const answer_t *a, const char *line)
{
    return a->headers.data != NULL && strcasestr(a->headers.data, line) != NULL;
}

static const char *const auth[] = {"Authorization: Bearer " SECRET, NULL};

/* Uploads; the job id into job. */
static void upload_job(const gw_proc_t *g, const void *p, size_t n, const char *ext,
                       const char *const *headers, char job[64])
{
    answer_t a;
    char path[256];
    json_t *j;
    snprintf(path, sizeof path, "/api/v1/files%s%s", ext ? "?ext=" : "", ext ? ext : "");
    call(&a, "POST", g->url, path, p ? p : "", n, headers);
    if (a.status != 202)
        fail_msg("upload of %zu bytes: HTTP %ld %.300s", n, a.status,
                 a.body.data ? a.body.data : "");
    j = answer_json(&a);
    snprintf(job, 64, "%s", gs_json_str(j, "job"));
    assert_int_equal(strlen(job), 32);
    assert_int_equal(json_integer_value(json_object_get(j, "size")), (json_int_t)n);
    json_decref(j);
}

/* Waits for the job with long-polls; its status ("HASH.EXT" or "ERROR:...") into out, and
 * checks the signature of a file id with the gateway's key. */
static void wait_job(const gw_proc_t *g, const char *job, char out[GS_DIAG_MAX])
{
    char path[256];
    answer_t a;
    json_t *j;
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof path, "/api/v1/jobs/%s?wait=10", job);
        call(&a, "GET", g->url, path, NULL, 0, NULL);
        assert_int_equal(a.status, 200);
        j = answer_json(&a);
        snprintf(out, GS_DIAG_MAX, "%s", gs_json_str(j, "status"));
        if (strcmp(out, "TIMEOUT") != 0) {
            assert_string_not_equal(out, "ACTIVE"); /* a long-poll ends with a result */
            if (strncmp(out, "ERROR:", 6) != 0) {
                unsigned char pk[32], sig[64];
                const char *sig_hex = gs_json_str(j, "signature");
                json_t *k;
                call(&a, "GET", g->url, "/api/v1/pubkey", NULL, 0, NULL);
                k = answer_json(&a);
                assert_int_equal(sodium_hex2bin(pk, sizeof pk, gs_json_str(k, "public_key"), 64,
                                                NULL, NULL, NULL),
                                 0);
                json_decref(k);
                assert_non_null(sig_hex);
                assert_int_equal(sodium_hex2bin(sig, sizeof sig, sig_hex, 128, NULL, NULL, NULL),
                                 0);
                assert_int_equal(
                    crypto_sign_verify_detached(sig, (const unsigned char *)out, strlen(out), pk),
                    0);
            }
            json_decref(j);
            return;
        }
        json_decref(j);
    }
    fail_msg("job %s never ended", job);
}

static void upload(const gw_proc_t *g, const void *p, size_t n, const char *ext,
                   char id[GS_DIAG_MAX])
{
    char job[64];
    upload_job(g, p, n, ext, auth, job);
    wait_job(g, job, id);
    if (strncmp(id, "ERROR:", 6) == 0)
        fail_msg("upload of %zu bytes: %s", n, id);
}

static void expect_file(const gw_proc_t *g, const char *id, const uint8_t *p, size_t n)
{
    answer_t a;
    char path[256], length[64];
    snprintf(path, sizeof path, "/api/v1/files/%.100s", id);
    call(&a, "GET", g->url, path, NULL, 0, NULL);
    if (a.rc != CURLE_OK || a.status != 200)
        fail_msg("GET %s: curl %d, HTTP %ld %.200s", id, (int)a.rc, a.status,
                 a.body.data ? a.body.data : "");
    snprintf(length, sizeof length, "content-length: %zu\r\n", n);
    if (!has_header(&a, length))
        fail_msg("no '%s' in %s", length, a.headers.data);
    assert_int_equal(a.body.len, n);
    if (n)
        assert_memory_equal(a.body.data, p, n);
    answer_free(&a);
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    randombytes_buf(p, n);
    return p;
}

static size_t files_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- tests ---- */

static void test_files_of_every_size_go_in_and_come_back(void **state)
{
    static const size_t sizes[] = {
        0, 1, 160 * 1024, (4u << 20) - 1, (4u << 20), (4u << 20) + 1, 20u << 20, 100u << 20};
    char path[256];
    answer_t a;
    json_t *j;
    (void)state;
    for (size_t i = 0; i < GS_ARRAY_SIZE(sizes); i++) {
        uint8_t *p = random_bytes(sizes[i]);
        char id[GS_DIAG_MAX];
        upload(&fx.rw, p, sizes[i], i % 2 ? "bin" : NULL, id);
        assert_int_equal(strlen(id), 48 + 8 + (i % 2 ? 4 : 0));
        expect_file(&fx.rw, id, p, sizes[i]);
        snprintf(path, sizeof path, "/api/v1/files/%.100s/exists", id);
        call(&a, "GET", fx.rw.url, path, NULL, 0, NULL);
        assert_int_equal(a.status, 200);
        j = answer_json(&a);
        assert_true(json_is_true(json_object_get(j, "exists")));
        json_decref(j);
        free(p);
    }
    /* no such file: exists says no, get says 404 */
    call(&a, "GET", fx.rw.url,
         "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0/exists", NULL, 0,
         NULL);
    assert_int_equal(a.status, 200);
    j = answer_json(&a);
    assert_true(json_is_false(json_object_get(j, "exists")));
    json_decref(j);
    call(&a, "GET", fx.rw.url,
         "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0", NULL, 0, NULL);
    assert_int_equal(a.status, 404);
    answer_free(&a);
    /* every job's file left the queue's folder once stored */
    snprintf(path, sizeof path, "%s/uploads", fx.rw.data);
    assert_int_equal(files_in(path), 0);
}

static void test_ranges_come_back_as_206_and_past_the_end_as_416(void **state)
{
    size_t n = (5u << 20) + 123;
    uint8_t *p = random_bytes(n);
    char id[GS_DIAG_MAX], path[256], want[128];
    static const struct {
        const char *range;
        size_t off, len; /* len 0: 416 */
    } cases[] = {
        {"Range: bytes=70000-70099", 70000, 100},
        {"Range: bytes=4194300-4194310", 4194300, 11}, /* across the stripes' border */
        {"Range: bytes=5242880-", 5242880, 123},
        {"Range: bytes=-5", (5u << 20) + 118, 5},
        {"Range: bytes=0-99999999", 0, (5u << 20) + 123},
        {"Range: bytes=999999999-", 0, 0},
    };
    answer_t a;
    (void)state;
    upload(&fx.rw, p, n, "dat", id);
    snprintf(path, sizeof path, "/api/v1/files/%.100s", id);
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        const char *h[] = {cases[i].range, NULL};
        call(&a, "GET", fx.rw.url, path, NULL, 0, h);
        if (cases[i].len == 0) {
            assert_int_equal(a.status, 416);
            snprintf(want, sizeof want, "content-range: bytes */%zu", n);
        } else {
            assert_int_equal(a.status, 206);
            assert_int_equal(a.body.len, cases[i].len);
            assert_memory_equal(a.body.data, p + cases[i].off, cases[i].len);
            snprintf(want, sizeof want, "content-range: bytes %zu-%zu/%zu", cases[i].off,
                     cases[i].off + cases[i].len - 1, n);
        }
        if (!has_header(&a, want))
            fail_msg("%s: no '%s' in %s", cases[i].range, want, a.headers.data);
        answer_free(&a);
    }
    free(p);
}

static void test_check_needs_the_secret_and_reports_every_shard(void **state)
{
    uint8_t *p = random_bytes(300000);
    char id[GS_DIAG_MAX], path[256];
    answer_t a;
    json_t *j;
    (void)state;
    upload(&fx.rw, p, 300000, NULL, id);
    snprintf(path, sizeof path, "/api/v1/files/%.100s/check", id);
    call(&a, "POST", fx.rw.url, path, "", 0, NULL);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    call(&a, "POST", fx.rw.url, path, "", 0, auth);
    assert_int_equal(a.status, 200);
    j = answer_json(&a);
    assert_int_equal(json_integer_value(json_object_get(j, "shards")), 20);
    assert_int_equal(json_integer_value(json_object_get(j, "good")), 20);
    assert_true(json_is_true(json_object_get(j, "readable")));
    assert_true(json_is_false(json_object_get(j, "hard_checked")));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/files/%.100s/check?mode=hard", id);
    call(&a, "POST", fx.rw.url, path, "", 0, auth);
    assert_int_equal(a.status, 200);
    j = answer_json(&a);
    assert_true(json_is_true(json_object_get(j, "hard_checked")));
    assert_true(json_is_true(json_object_get(j, "hash_ok")));
    json_decref(j);
    free(p);
}

static void test_bad_requests_get_a_4xx_and_store_nothing(void **state)
{
    static const struct {
        const char *method, *path;
        const char *const *headers;
        long status;
    } cases[] = {
        {"POST", "/api/v1/files", NULL, 401},
        {"POST", "/api/v1/files?ext=NOT.OK", auth, 400},
        {"POST", "/api/v1/files?ext=waytoolongextension", auth, 400},
        {"POST", "/api/v1/files?ext=%zz", auth, 400},
        {"GET", "/api/v1/jobs/nosuchjob", NULL, 404},
        {"GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef", NULL, 404},
        {"GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef?wait=x", NULL, 400},
        {"GET", "/api/v1/jobs/0123456789abcdef0123456789abcdef?wait=100000", NULL, 400},
        {"GET", "/api/v1/files/nothex", NULL, 400},
        {"GET", "/api/v1/files/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0000fff0", NULL,
         400},
        {"GET", "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0.", NULL,
         400},
        {"GET", "/api/v1/files/nothex/exists", NULL, 400},
        {"POST", "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0/check",
         auth, 404},
        {"POST",
         "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0/check?mode=x",
         auth, 400},
        {"POST", "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0/repair",
         NULL, 401},
        {"POST", "/api/v1/files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0/repair",
         auth, 404},
        {"POST", "/api/v1/files/nothex/repair", auth, 400},
        {"POST", "/api/v1/uploads/0123456789abcdef0123456789abcdef/done", auth, 404},
        {"POST", "/api/v1/uploads/../../etc/done", auth, 404},
        {"GET", "/api/v1/uploads", auth, 405},
        {"POST", "/api/v1/authenticate", NULL, 400}, /* not a threebot gateway */
        {"DELETE", "/api/v1/files", auth, 405},
        {"GET", "/api/v2/files", NULL, 404},
    };
    const char *wrong[] = {"Authorization: Bearer not-the-secret-at-all", NULL};
    const char *basic[] = {"Authorization: Basic " SECRET, NULL};
    const char *ask[] = {"Authorization: Bearer " SECRET, "Expect: 100-continue", NULL};
    char path[256];
    long before = master_entries();
    answer_t a;
    json_t *j;
    uint8_t *big = random_bytes(((size_t)MAX_UP_MB << 20) + 1);
    (void)state;
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        bool body =
            strcmp(cases[i].method, "GET") != 0 && strstr(cases[i].path, "/check") == NULL &&
            strstr(cases[i].path, "/repair") == NULL && strstr(cases[i].path, "/done") == NULL;
        call(&a, cases[i].method, fx.rw.url, cases[i].path, body ? "x" : NULL, body ? 1 : 0,
             cases[i].headers);
        if (a.status != cases[i].status)
            fail_msg("%s %s: %ld, not %ld: %.200s", cases[i].method, cases[i].path, a.status,
                     cases[i].status, a.body.data ? a.body.data : "");
        j = answer_json(&a); /* every refusal says why, as JSON */
        assert_non_null(gs_json_str(j, "error"));
        json_decref(j);
    }
    call(&a, "POST", fx.rw.url, "/api/v1/files", "x", 1, wrong);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    call(&a, "POST", fx.rw.url, "/api/v1/files", "x", 1, basic);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    /* one byte over the cap: refused on the headers, before the body is sent */
    call(&a, "POST", fx.rw.url, "/api/v1/files", big, ((size_t)MAX_UP_MB << 20) + 1, ask);
    free(big);
    if (a.status != 413)
        fail_msg("an upload over the cap: HTTP %ld (%s), not 413", a.status,
                 curl_easy_strerror(a.rc));
    j = answer_json(&a);
    assert_non_null(strstr(gs_json_str(j, "error"), "limit"));
    json_decref(j);
    /* nothing stored: no new record, no upload waiting */
    assert_int_equal(master_entries(), before);
    snprintf(path, sizeof path, "%s/uploads", fx.rw.data);
    assert_int_equal(files_in(path), 0);
}

/* A public gateway takes uploads from anyone; a read-only one refuses them, naming the
 * read-write gateway, and reads through the replica its follower keeps. */
static void test_public_and_read_only_gateways(void **state)
{
    gw_proc_t pub = {0}, ro = {0};
    uint8_t *p = random_bytes(200000);
    char job[64], id[GS_DIAG_MAX];
    answer_t a;
    json_t *j = NULL;
    (void)state;
    gw_config(&pub, "public", "security:\n  mode: public\n");
    gw_start(&pub);
    upload_job(&pub, p, 200000, "txt", NULL, job);
    wait_job(&pub, job, id);
    assert_int_equal(strncmp(id + 56, ".txt", 4), 0);
    gw_stop(&pub);

    gw_config(&ro, "ro", "mode: read-only\nrole: m2\nsecurity:\n  mode: public\n");
    gw_start(&ro);
    call(&a, "POST", ro.url, "/api/v1/files", "x", 1, NULL);
    assert_int_equal(a.status, 403);
    j = answer_json(&a);
    assert_non_null(strstr(gs_json_str(j, "error"), "read-write gateway"));
    json_decref(j);
    call(&a, "POST", ro.url, "/api/v1/uploads", "", 0, NULL); /* nor in parts */
    assert_int_equal(a.status, 403);
    answer_free(&a);
    for (int i = 0; i < 200; i++) { /* the follower catches up with the master */
        call(&a, "GET", ro.url, "/health", NULL, 0, NULL);
        j = answer_json(&a);
        if (json_object_get(j, "replication_lag") != NULL &&
            json_integer_value(json_object_get(j, "replication_lag")) == 0)
            break;
        json_decref(j);
        j = NULL;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    assert_non_null(j);
    json_decref(j);
    expect_file(&ro, id, p, 200000);
    gw_stop(&ro);
    free(p);
}

/* authenticate: an allowed 3Bot name signs the time; its key comes from a real login
 * directory (the local grid's). */
static void test_threebot_names_authenticate_for_a_day(void **state)
{
    ts_sim_t *sim = &fx.sim;
    gw_proc_t tb = {0};
    unsigned char pk[32], sk[64], sig[64];
    char b64[64], sig_hex[129], body[512], extra[1024], job[64], id[GS_DIAG_MAX], header[128];
    long now = (long)time(NULL);
    json_t *j;
    answer_t a;
    (void)state;
    ts_sim_start(sim, NULL);
    fx.sim_up = true;
    crypto_sign_keypair(pk, sk);
    sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof body, "{\"doublename\":\"alice.3bot\",\"publicKey\":\"%s\"}", b64);
    assert_int_equal(ts_http("POST", sim->login, "/api/users", body, NULL, 10000, NULL), 201);
    snprintf(extra, sizeof extra,
             "security:\n  mode: threebot\n  login: %s\n  allowed: [alice.3bot, carol.3bot]\n",
             sim->login);
    gw_config(&tb, "threebot", extra);
    gw_start(&tb);

    call(&a, "POST", tb.url, "/api/v1/files", "x", 1, NULL);
    assert_int_equal(a.status, 401);
    answer_free(&a);
    /* the signature of the time, as the decimal text */
    {
        static const struct {
            const char *name;
            long skew;
            bool good_sig;
            long status;
        } cases[] = {
            {"bob.3bot", 0, true, 403},       /* not allowed */
            {"carol.3bot", 0, true, 401},     /* allowed, but not in the login directory */
            {"alice.3bot", 0, false, 401},    /* not her signature */
            {"alice.3bot", -3600, true, 401}, /* an hour off */
            {"alice.3bot", 0, true, 200},
        };
        for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
            char epoch[32];
            snprintf(epoch, sizeof epoch, "%ld", now + cases[i].skew);
            crypto_sign_detached(sig, NULL, (const unsigned char *)epoch, strlen(epoch), sk);
            if (!cases[i].good_sig)
                sig[0] ^= 1;
            sodium_bin2hex(sig_hex, sizeof sig_hex, sig, sizeof sig);
            snprintf(body, sizeof body, "{\"name\":\"%s\",\"epoch\":%s,\"signature\":\"%s\"}",
                     cases[i].name, epoch, sig_hex);
            call(&a, "POST", tb.url, "/api/v1/authenticate", body, strlen(body), NULL);
            if (a.status != cases[i].status)
                fail_msg("authenticate %s: %ld, not %ld: %.300s", cases[i].name, a.status,
                         cases[i].status, a.body.data ? a.body.data : "");
            j = answer_json(&a);
            if (cases[i].status == 200) {
                assert_int_equal(strlen(gs_json_str(j, "secret")), 64);
                assert_true(json_integer_value(json_object_get(j, "expires")) >= now + 86400);
                snprintf(header, sizeof header, "Authorization: Bearer %s",
                         gs_json_str(j, "secret"));
            }
            json_decref(j);
        }
    }
    call(&a, "POST", tb.url, "/api/v1/authenticate", "{not json", 9, NULL);
    assert_int_equal(a.status, 400);
    answer_free(&a);
    {
        const char *h[] = {header, NULL};
        upload_job(&tb, "hello", 5, NULL, h, job);
        wait_job(&tb, job, id);
        assert_int_equal(strlen(id), 56);
    }
    gw_stop(&tb);
    fx.sim_up = false;
    ts_sim_stop(sim);
}

/* Uploads waiting in the queue when the gateway is killed: at the next start one is stored
 * from its file (and reads back whole), the other, whose file went missing, is an error,
 * and a file no job names is removed. */
static void test_a_killed_gateway_resumes_its_queue(void **state)
{
    size_t n = 3u << 20;
    uint8_t *p = random_bytes(n);
    char job1[64], job2[64], id[GS_DIAG_MAX], path[300];
    long before = master_entries();
    (void)state;
    /* the data backends hold still, so the jobs cannot end before the kill */
    for (int i = 0; i < N_DATA; i++)
        assert_int_equal(kill(fx.srv[i].pid, SIGSTOP), 0);
    upload_job(&fx.rw, p, n, "bin", auth, job1);
    /* larger than a file kept inside its record (4 KiB): a record reaches the metadata
     * master before its backup, so an inline file's record could be written even now */
    upload_job(&fx.rw, p, 64 << 10, NULL, auth, job2);
    gw_kill(&fx.rw);
    for (int i = 0; i < N_DATA; i++)
        assert_int_equal(kill(fx.srv[i].pid, SIGCONT), 0);
    /* no file id came out of the cut-short stores */
    assert_int_equal(master_entries(), before);
    snprintf(path, sizeof path, "%s/uploads/%s", fx.rw.data, job2);
    assert_int_equal(unlink(path), 0);
    /* an upload written but never recorded (killed in between): nobody knows its job */
    snprintf(path, sizeof path, "%s/uploads/0123456789abcdef0123456789abcdef", fx.rw.data);
    write_file(path, "stray");
    gw_start(&fx.rw);
    wait_job(&fx.rw, job1, id);
    if (strncmp(id, "ERROR:", 6) == 0)
        fail_msg("the resumed job failed: %s", id);
    expect_file(&fx.rw, id, p, n);
    wait_job(&fx.rw, job2, id);
    assert_int_equal(strncmp(id, "ERROR:", 6), 0);
    assert_non_null(strstr(id, "gone"));
    snprintf(path, sizeof path, "%s/uploads", fx.rw.data);
    assert_int_equal(files_in(path), 0);
    free(p);
}

/* Makes job JOB look uploaded DAYS days ago in the stopped gateway G's queue. */
static void age_job(const gw_proc_t *g, const char *job, int days)
{
    char path[300], sql[256];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/jobs.db", g->data);
    snprintf(sql, sizeof sql, "UPDATE jobs SET created = created - %d WHERE id = '%s'",
             days * 86400, job);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
}

static long job_status(const gw_proc_t *g, const char *job)
{
    char path[128];
    answer_t a;
    long status;
    snprintf(path, sizeof path, "/api/v1/jobs/%s", job);
    call(&a, "GET", g->url, path, NULL, 0, NULL);
    status = a.status;
    answer_free(&a);
    return status;
}

static long count_jobs(const gw_proc_t *g)
{
    char path[300];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    snprintf(path, sizeof path, "%s/jobs.db", g->data);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM jobs", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(n >= 0);
    return n;
}

static void write_all(int fd, const void *p, size_t n)
{
    for (size_t at = 0; at < n;) {
        ssize_t w = write(fd, (const char *)p + at, n - at);
        assert_true(w > 0);
        at += (size_t)w;
    }
}

/* A gateway killed while an upload's body is still arriving: the upload never had a job,
 * so nothing of it is kept, stored or queued, and the gateway starts again clean. */
static void test_a_gateway_killed_mid_upload_keeps_nothing(void **state)
{
    size_t part = 1u << 20;
    uint8_t *p = random_bytes(part);
    char head[512], path[300];
    long entries = master_entries(), jobs = count_jobs(&fx.rw);
    int fd = zdb_connect(fx.rw.url + strlen("http://"));
    (void)state;
    snprintf(head, sizeof head,
             "POST /api/v1/files?ext=bin HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " SECRET
             "\r\nContent-Length: %zu\r\n\r\n",
             8 * part);
    write_all(fd, head, strlen(head));
    write_all(fd, p, part); /* an eighth of it */
    nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
    gw_kill(&fx.rw);
    close(fd);
    gw_start(&fx.rw);
    assert_int_equal(count_jobs(&fx.rw), jobs);
    snprintf(path, sizeof path, "%s/uploads", fx.rw.data);
    assert_int_equal(files_in(path), 0);
    assert_int_equal(master_entries(), entries);
    free(p);
}

/* PUT a part of an upload in parts at offset; returns the status, *size the size the
 * answer gives (-1 without). */
static long put_part(const char *upload, uint64_t offset, const void *p, size_t n,
                     const char *const *headers, long *size)
{
    char path[160];
    answer_t a;
    long status;
    snprintf(path, sizeof path, "/api/v1/uploads/%s?offset=%llu", upload,
             (unsigned long long)offset);
    call(&a, "PUT", fx.rw.url, path, p ? p : "", n, headers);
    status = a.status;
    *size = -1;
    if (a.body.data != NULL && strstr(a.body.data, "\"size\":") != NULL)
        *size = atol(strstr(a.body.data, "\"size\":") + 7);
    answer_free(&a);
    return status;
}

/* A file sent in parts (the way to send large files without the gateway holding them in
 * memory): parts appended in order, one sent twice refused with where to go on, then done
 * makes it a job named like the upload, and the file reads back whole. */
static void test_an_upload_in_parts(void **state)
{
    size_t n = (5u << 20) + 3, first = 2u << 20;
    uint8_t *p = random_bytes(n), *big = random_bytes(GW_PART_MAX_TEST + 1);
    char upload_id[64], path[160], id[GS_DIAG_MAX];
    answer_t a;
    json_t *j;
    long size;
    (void)state;
    call(&a, "POST", fx.rw.url, "/api/v1/uploads", "", 0, NULL);
    assert_int_equal(a.status, 401); /* the secret is needed */
    answer_free(&a);
    call(&a, "POST", fx.rw.url, "/api/v1/uploads", "", 0, auth);
    assert_int_equal(a.status, 201);
    j = answer_json(&a);
    snprintf(upload_id, sizeof upload_id, "%s", gs_json_str(j, "upload"));
    assert_int_equal(json_integer_value(json_object_get(j, "part_max")), GW_PART_MAX_TEST);
    json_decref(j);
    assert_int_equal(put_part(upload_id, 0, p, first, auth, &size), 200);
    assert_int_equal(size, (long)first);
    /* the same part again: 409, and where the upload ends */
    assert_int_equal(put_part(upload_id, 0, p, first, auth, &size), 409);
    assert_int_equal(size, (long)first);
    assert_int_equal(put_part(upload_id, first + 1, p, 1, auth, &size), 409);
    assert_int_equal(put_part(upload_id, first, p + first, n - first, NULL, &size), 401);
    assert_int_equal(put_part("00000000000000000000000000000000", 0, p, 1, auth, &size), 404);
    assert_int_equal(put_part("nope", 0, p, 1, auth, &size), 404);
    assert_int_equal(put_part(upload_id, first, big, GW_PART_MAX_TEST + 1, auth, &size), 413);
    snprintf(path, sizeof path, "/api/v1/uploads/%s", upload_id);
    call(&a, "PUT", fx.rw.url, path, "x", 1, auth);
    assert_int_equal(a.status, 400); /* no offset */
    answer_free(&a);
    assert_int_equal(put_part(upload_id, first, p + first, n - first, auth, &size), 200);
    assert_int_equal(size, (long)n);
    snprintf(path, sizeof path, "/api/v1/uploads/%s/done?ext=bin", upload_id);
    call(&a, "POST", fx.rw.url, path, "", 0, auth);
    assert_int_equal(a.status, 202);
    j = answer_json(&a);
    assert_string_equal(gs_json_str(j, "job"), upload_id);
    assert_int_equal(json_integer_value(json_object_get(j, "size")), (json_int_t)n);
    json_decref(j);
    call(&a, "POST", fx.rw.url, path, "", 0, auth);
    assert_int_equal(a.status, 404); /* done once */
    answer_free(&a);
    wait_job(&fx.rw, upload_id, id);
    if (strncmp(id, "ERROR:", 6) == 0)
        fail_msg("the upload in parts failed: %s", id);
    expect_file(&fx.rw, id, p, n);
    free(p);
    free(big);
}

/* A finished job is kept a week after its upload, then forgotten (404). */
static void test_finished_jobs_are_forgotten_after_a_week(void **state)
{
    char old[64], recent[64], id[GS_DIAG_MAX];
    (void)state;
    upload_job(&fx.rw, "old", 3, NULL, auth, old);
    upload_job(&fx.rw, "recent", 6, NULL, auth, recent);
    wait_job(&fx.rw, old, id);
    wait_job(&fx.rw, recent, id);
    gw_stop(&fx.rw);
    age_job(&fx.rw, old, 8);
    age_job(&fx.rw, recent, 6);
    gw_start(&fx.rw);
    assert_int_equal(job_status(&fx.rw, old), 404);
    assert_int_equal(job_status(&fx.rw, recent), 200);
}

/* Configuration mistakes stop the gateway at start with exit status 2 and the place of
 * the mistake. */
static void test_configuration_mistakes_are_refused_with_their_place(void **state)
{
    static const struct {
        const char *text, *says;
    } cases[] = {
        {"codec: codec.yaml\nlisten: 127.0.0.1:0\nlistn: x\nsecurity: {mode: public}\n",
         "bad.yaml:3:1: listn"},
        {"codec: codec.yaml\nsecurity:\n  mode: secret\n", "secret or secret_file"},
        {"codec: codec.yaml\nsecurity:\n  mode: secret\n  secret: short\n", "bad.yaml:4:"},
        {"codec: codec.yaml\nsecurity:\n  mode: public\n  secret: 0123456789abcdef0\n",
         "only with mode: secret"},
        {"codec: codec.yaml\nsecurity:\n  mode: threebot\n  allowed: [alice.3bot]\n", "login"},
        {"codec: codec.yaml\nsecurity:\n  mode: threebot\n  login: http://x\n"
         "  allowed: [Alice]\n",
         "3Bot names"},
        {"codec: codec.yaml\nmax_upload: 5GiB\nsecurity: {mode: public}\n", "max_upload"},
        {"codec: codec.yaml\nmode: sometimes\nsecurity: {mode: public}\n", "mode"},
        {"codec: nowhere.yaml\nsecurity: {mode: public}\n", "nowhere.yaml"},
        {"listen: 127.0.0.1:0\n", "codec"},
    };
    char path[160];
    (void)state;
    snprintf(path, sizeof path, "%s/bad.yaml", fx.dir);
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        const char *argv[] = {ts_env("GS_GW"), "--config", path, NULL};
        ts_proc_t pr;
        write_file(path, cases[i].text);
        ts_run(fx.dir, argv, &pr);
        if (pr.status != 2 || pr.err.data == NULL || strstr(pr.err.data, cases[i].says) == NULL)
            fail_msg("case %zu: status %d, stderr: %s (wanted '%s')", i, pr.status,
                     pr.err.data ? pr.err.data : "", cases[i].says);
        ts_proc_free(&pr);
    }
}

/* A slow client gets the whole file (the read waits for it), and a client that leaves
 * midway leaves the gateway serving. */
static void test_slow_and_departing_clients(void **state)
{
    size_t n = 9u << 20;
    uint8_t *p = random_bytes(n);
    char id[GS_DIAG_MAX], url[512];
    answer_t a;
    CURL *c;
    (void)state;
    upload(&fx.rw, p, n, NULL, id);
    snprintf(url, sizeof url, "%s/api/v1/files/%.100s", fx.rw.url, id);
    /* slow: 8 MB/s */
    c = curl_easy_init();
    memset(&a, 0, sizeof a);
    gs_buf_init(&a.body, 64u << 20);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.body);
    curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)8 << 20);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    assert_int_equal(a.body.len, n);
    assert_memory_equal(a.body.data, p, n);
    gs_buf_free(&a.body);
    /* departing: the body's buffer refuses more than 1 MiB, so curl gives up */
    gs_buf_init(&a.body, 1u << 20);
    curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)0);
    assert_int_equal(curl_easy_perform(c), CURLE_WRITE_ERROR);
    gs_buf_free(&a.body);
    curl_easy_cleanup(c);
    expect_file(&fx.rw, id, p, n);
    free(p);
}

/* Runs `gridstor CMD ARG --gw URL [more...]` (NULL-terminated); its exit status, its
 * standard output into out (out_len bytes). */
static int cli(const char *cmd, const char *arg, const char *url, char *out, size_t out_len, ...)
{
    const char *argv[16] = {ts_env("GS_GRIDSTOR"), cmd, arg, "--gw", url};
    size_t n = 5;
    ts_proc_t p;
    va_list ap;
    int status;
    va_start(ap, out_len);
    for (const char *a; n < GS_ARRAY_SIZE(argv) - 1 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    ts_run(fx.dir, argv, &p);
    status = p.status;
    snprintf(out, out_len, "%.*s%.*s", (int)p.out.len, p.out.data ? p.out.data : "", (int)p.err.len,
             p.err.data ? p.err.data : "");
    ts_proc_free(&p);
    return status;
}

/* Data backend i as a new disk: stopped, its folders emptied, started again on its port
 * with the namespace made anew (empty). */
static void replace_backend(int i)
{
    char index[160];
    int port = fx.srv[i].port;
    ts_zdb_stop(&fx.srv[i]);
    snprintf(index, sizeof index, "%s/index%d", fx.dir, i);
    ts_remove_tree(fx.srv[i].data);
    ts_remove_tree(index);
    ts_zdb_start(&fx.srv[i], fx.dir, i, port);
    zdb_make_namespace(&fx.srv[i]);
}

/* gridstor put/get/check/repair through a gateway: a large file goes in parts, a small one
 * in one request with the secret from the environment; a lost backend is found by check
 * and rebuilt by repair; a wrong secret, an unreachable gateway and an unknown file each
 * have their exit status. */
static void test_the_cli_through_the_gateway(void **state)
{
    size_t n = (20u << 20) + 3;
    uint8_t *p = random_bytes(n);
    char file[200], back[200], secret_file[200], wrong_file[200], out[4096], id[128];
    gs_buf_t got;
    (void)state;
    snprintf(file, sizeof file, "%s/cli-in.bin", fx.dir);
    snprintf(back, sizeof back, "%s/cli-out.bin", fx.dir);
    snprintf(secret_file, sizeof secret_file, "%s/gw-secret", fx.dir);
    snprintf(wrong_file, sizeof wrong_file, "%s/gw-wrong", fx.dir);
    write_file(secret_file, SECRET "\n");
    write_file(wrong_file, "not-the-secret-at-all\n");
    {
        gs_diag_t diag = {{0}};
        assert_int_equal(gs_file_write_atomic(file, p, n, 0600, &diag), GS_OK);
    }
    assert_int_equal(
        cli("put", file, fx.rw.url, out, sizeof out, "--secret-file", secret_file, "--json", NULL),
        0);
    {
        json_t *j = json_loads(out, 0, NULL);
        assert_non_null(j);
        snprintf(id, sizeof id, "%s", gs_json_str(j, "id"));
        assert_int_equal(json_integer_value(json_object_get(j, "size")), (json_int_t)n);
        json_decref(j);
    }
    assert_string_equal(id + 56, ".bin");
    assert_int_equal(cli("get", id, fx.rw.url, out, sizeof out, "-o", back, NULL), 0);
    gs_buf_init(&got, 64u << 20);
    assert_int_equal(gs_file_read(back, 64u << 20, &got, NULL), GS_OK);
    assert_int_equal(got.len, n);
    assert_memory_equal(got.data, p, n);
    gs_buf_free(&got);
    /* the key pinned: the gateway's own passes, another one or a malformed one does not */
    {
        answer_t a;
        json_t *k;
        char key[80];
        call(&a, "GET", fx.rw.url, "/api/v1/pubkey", NULL, 0, NULL);
        k = answer_json(&a);
        snprintf(key, sizeof key, "%s", gs_json_str(k, "public_key"));
        json_decref(k);
        write_file(file, "pinned\n");
        assert_int_equal(cli("put", file, fx.rw.url, out, sizeof out, "--secret-file", secret_file,
                             "--gw-key", key, NULL),
                         0);
        key[0] = key[0] == 'a' ? 'b' : 'a';
        assert_int_equal(cli("put", file, fx.rw.url, out, sizeof out, "--secret-file", secret_file,
                             "--gw-key", key, NULL),
                         6);
        assert_non_null(strstr(out, "does not verify with the pinned key"));
        assert_int_equal(cli("put", file, fx.rw.url, out, sizeof out, "--secret-file", secret_file,
                             "--gw-key", "abc", NULL),
                         2);
    }
    /* a small file, the secret from the environment */
    write_file(file, "a small file\n");
    setenv("GRIDSTOR_GW_SECRET", SECRET, 1);
    assert_int_equal(cli("put", file, fx.rw.url, out, sizeof out, NULL), 0);
    unsetenv("GRIDSTOR_GW_SECRET");
    /* a backend lost: check finds the shard missing (exit 6), repair rebuilds it */
    replace_backend(7);
    assert_int_equal(
        cli("check", id, fx.rw.url, out, sizeof out, "--secret-file", secret_file, NULL), 6);
    assert_non_null(strstr(out, "19 of 20 shards good, 1 missing"));
    assert_int_equal(
        cli("repair", id, fx.rw.url, out, sizeof out, "--secret-file", secret_file, NULL), 0);
    assert_non_null(strstr(out, "1 shard rebuilt"));
    assert_int_equal(
        cli("check", id, fx.rw.url, out, sizeof out, "--secret-file", secret_file, "--hard", NULL),
        0);
    assert_non_null(strstr(out, "20 of 20 shards good"));
    /* the failures */
    assert_int_equal(
        cli("check", id, fx.rw.url, out, sizeof out, "--secret-file", wrong_file, NULL), 2);
    assert_non_null(strstr(out, "401"));
    assert_int_equal(cli("get", id, "http://127.0.0.1:1", out, sizeof out, NULL), 4);
    assert_int_equal(cli("get", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0000fff0",
                         fx.rw.url, out, sizeof out, "-o", back, NULL),
                     8);
    assert_int_equal(cli("get", id, fx.rw.url, out, sizeof out, "--codec", fx.codec, NULL), 2);
    free(p);
}

/* 16 + 4: any four data backends lost, files still read; a fifth, a clear error. */
static void test_four_backends_lost_still_read_a_fifth_is_a_clear_error(void **state)
{
    size_t n = (6u << 20) + 7;
    uint8_t *p = random_bytes(n);
    char id[GS_DIAG_MAX], path[256];
    int order[N_DATA];
    answer_t a;
    json_t *j;
    (void)state;
    upload(&fx.rw, p, n, NULL, id);
    for (int i = 0; i < N_DATA; i++)
        order[i] = i;
    for (int i = N_DATA - 1; i > 0; i--) { /* a random choice, printed to reproduce it */
        int k = (int)randombytes_uniform((uint32_t)i + 1), t = order[i];
        order[i] = order[k];
        order[k] = t;
    }
    print_message("backends stopped: %d %d %d %d, then %d\n", order[0], order[1], order[2],
                  order[3], order[4]);
    for (int i = 0; i < 4; i++)
        ts_zdb_kill(&fx.srv[order[i]]);
    expect_file(&fx.rw, id, p, n);
    ts_zdb_kill(&fx.srv[order[4]]);
    snprintf(path, sizeof path, "/api/v1/files/%.100s", id);
    call(&a, "GET", fx.rw.url, path, NULL, 0, NULL);
    assert_int_equal(a.status, 503);
    j = answer_json(&a);
    print_message("the fifth: %s\n", gs_json_str(j, "error"));
    assert_non_null(strstr(gs_json_str(j, "error"), "cannot be read"));
    json_decref(j);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_of_every_size_go_in_and_come_back),
        cmocka_unit_test(test_ranges_come_back_as_206_and_past_the_end_as_416),
        cmocka_unit_test(test_check_needs_the_secret_and_reports_every_shard),
        cmocka_unit_test(test_bad_requests_get_a_4xx_and_store_nothing),
        cmocka_unit_test(test_public_and_read_only_gateways),
        cmocka_unit_test(test_threebot_names_authenticate_for_a_day),
        cmocka_unit_test(test_a_killed_gateway_resumes_its_queue),
        cmocka_unit_test(test_a_gateway_killed_mid_upload_keeps_nothing),
        cmocka_unit_test(test_an_upload_in_parts),
        cmocka_unit_test(test_finished_jobs_are_forgotten_after_a_week),
        cmocka_unit_test(test_configuration_mistakes_are_refused_with_their_place),
        cmocka_unit_test(test_slow_and_departing_clients),
        cmocka_unit_test(test_the_cli_through_the_gateway),
        cmocka_unit_test(test_four_backends_lost_still_read_a_fifth_is_a_clear_error),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
