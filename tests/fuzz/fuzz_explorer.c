/* fuzz_explorer.c — libFuzzer target for the local grid's HTTP handlers: the explorer
 * (phonebook, pools, workloads, nodes, farms), the payment chain and the login
 * directory, each served by its real route table on 127.0.0.1 by common/httpd.c.
 *
 * One input is one request. Byte 0 picks a template (service, method, path; with bit
 * 0x40 the explorer's legacy /explorer prefix instead of /api/v1); the bytes up to the
 * first newline are appended to the template's path (a path parameter, a query, or for
 * the "any" templates "METHOD /path"), percent-encoded where a request line cannot
 * carry them; the rest is the body. Some templates sign what the input gives, so that
 * mutated requests still get past the signature checks: a phonebook user, a pool
 * reservation, a chain transaction, a workload's customer signature and HTTP-signature
 * auth, a sign/delete or sign/provision of the workload made at setup.
 *
 * The request is sent over a loopback socket while the same thread runs the loop. It
 * must get a status among those the handlers document (a 500 only for out of memory), a
 * JSON body, {"error": TEXT} and nothing else when the status is not 2xx, and leave the
 * phonebook, the pool reservations and the workloads as they were unless it succeeded
 * (one more record at most; a workload refused with 402 is stored, as documented), and
 * the chain's balances as they were when refused. Anything else aborts.
 *
 * The grid is built at the first input: a 3Bot user (tid 1, also in the login directory
 * and funded on the chain), a paid pool (id 1) on nodes 0 and 1, a deployed 0-db workload
 * (id 1) that user 1 may sign. Every RESET_EVERY inputs the services are rebuilt, which
 * keeps the state bounded however many records the inputs create; everything is closed
 * at exit, so that leak checks see a clean process. */
#include "chain.h"
#include "ctx.h"
#include "explorer.h"
#include "login.h"
#include "registry.h"
#include "workloads.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <uv.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESET_EVERY   5000
#define PARAM_MAX     8192       /* bytes of the input taken for the path */
#define BUILD_MAX     (1u << 20) /* a path, a challenge, a signed message */
#define REPLY_MAX     (16u << 20)
#define EXCHANGE_SECS 10
#define EPOCH         1600867642

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "fuzz_explorer: " __VA_ARGS__);                                            \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

/* ---- templates --------------------------------------------------------------------------- */

typedef enum { EXPLORER, CHAIN, LOGIN, N_SERVICES } service_t;

/* How the harness completes a request before sending it. */
typedef enum {
    RAW,       /* as the input gives it */
    ANY,       /* the parameter is "METHOD /path" */
    AUTH,      /* valid HTTP-signature headers of user 1 */
    AUTH_RAW,  /* the parameter is the Authorization header, threebot-id 1 */
    AUTH_WL,   /* AUTH, and the customer signature of a 0-db workload */
    SIGN_USER, /* pubkey and signature of a phonebook registration */
    SIGN_POOL, /* the body is data_reservation: json and customer signature of user 1 */
    SIGN_TX,   /* the body is a transaction's TEXT, signed by user 1 */
    SIGN_WL,   /* signature of user 1 over workload 1's challenge */
} completion_t;

typedef struct {
    service_t service;
    const char *method, *path, *suffix; /* path: after /api/v1 (explorer) or whole */
    completion_t mode;
} template_t;

static const template_t templates[] = {
    {EXPLORER, "POST", "/users", "", RAW},
    {EXPLORER, "POST", "/users", "", SIGN_USER},
    {EXPLORER, "GET", "/users", "", RAW},
    {EXPLORER, "GET", "/users/", "", RAW},
    {EXPLORER, "POST", "/reservations/pools", "", RAW},
    {EXPLORER, "POST", "/reservations/pools", "", SIGN_POOL},
    {EXPLORER, "GET", "/reservations/pools/", "", RAW},
    {EXPLORER, "GET", "/reservations/pools/owner/", "", RAW},
    {EXPLORER, "GET", "/reservations/pools/payment/", "", RAW},
    {EXPLORER, "POST", "/reservations/workloads", "", AUTH_RAW},
    {EXPLORER, "POST", "/reservations/workloads", "", AUTH},
    {EXPLORER, "POST", "/reservations/workloads", "", AUTH_WL},
    {EXPLORER, "GET", "/reservations/workloads", "", RAW},
    {EXPLORER, "GET", "/reservations/workloads/", "", RAW},
    {EXPLORER, "POST", "/reservations/workloads/", "/sign/delete", RAW},
    {EXPLORER, "POST", "/reservations/workloads/", "/sign/delete", SIGN_WL},
    {EXPLORER, "POST", "/reservations/workloads/", "/sign/provision", RAW},
    {EXPLORER, "POST", "/reservations/workloads/", "/sign/provision", SIGN_WL},
    {EXPLORER, "GET", "/nodes", "", RAW},
    {EXPLORER, "GET", "/nodes/", "", RAW},
    {EXPLORER, "GET", "/farms", "", RAW},
    {EXPLORER, "GET", "/farms/", "", RAW},
    {EXPLORER, "GET", "/prices", "", RAW},
    {EXPLORER, NULL, "", "", ANY},
    {CHAIN, "POST", "/api/v1/transactions", "", RAW},
    {CHAIN, "POST", "/api/v1/transactions", "", SIGN_TX},
    {CHAIN, "POST", "/api/v1/accounts/", "/fund", RAW},
    {CHAIN, "GET", "/api/v1/accounts/", "", RAW},
    {CHAIN, "GET", "/api/v1/transactions/", "", RAW},
    {CHAIN, NULL, "", "", ANY},
    {LOGIN, "POST", "/api/users", "", RAW},
    {LOGIN, "GET", "/api/users/", "", RAW},
    {LOGIN, NULL, "", "", ANY},
};
#define N_TEMPLATES (sizeof templates / sizeof templates[0])

/* A request as it goes on the wire. */
typedef struct {
    service_t service;
    gs_buf_t head; /* request line and headers, without the blank line */
    gs_buf_t body;
    bool has_body;
} request_t;

typedef struct {
    int status;
    gs_buf_t body;
    bool cut; /* the server closed before taking the whole request */
} reply_t;

/* ---- the grid ---------------------------------------------------------------------------- */

typedef struct {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    char hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
} keypair_t;

/* What the harness counts to see that refused requests change nothing. */
typedef struct {
    int64_t users, reservations, workloads;
} records_t;

static struct {
    bool open;
    uv_loop_t loop;
    sim_ctx_t ctx;
    gs_httpd_t *httpd[N_SERVICES];
    int port[N_SERVICES];
    keypair_t alice, mallory, payer;
    gs_buf_t wl_challenge; /* the challenge of workload 1 */
    records_t records;
    size_t runs;
} g;

static void key_from_byte(keypair_t *k, unsigned char byte)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(seed, byte, sizeof seed);
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    gs_hex(k->pk, sizeof k->pk, k->hex);
}

static void sign_hex(const keypair_t *k, const void *p, size_t n, char out[129])
{
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, p, n, k->sk);
    gs_hex(sig, sizeof sig, out);
}

/* hex(ed25519(sha256(text + suffix))), the workloads' signatures. */
static void sign_hashed(const keypair_t *k, const char *text, size_t len, const char *suffix,
                        char out[129])
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)text, len);
    crypto_hash_sha256_update(&st, (const unsigned char *)suffix, strlen(suffix));
    crypto_hash_sha256_final(&st, hash);
    sign_hex(k, hash, sizeof hash, out);
}

/* ---- the client: one request over a loopback socket while the loop serves it ------------- */

static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS))
        FAIL("cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
    return fd;
}

/* Sends what the socket takes of out[*sent..n); false once the peer refused more. */
static bool send_some(int fd, const char *out, size_t n, size_t *sent)
{
    while (*sent < n) {
        ssize_t k = send(fd, out + *sent, n - *sent, MSG_NOSIGNAL);
        if (k < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN;
        *sent += (size_t)k;
    }
    return true;
}

/* Reads what is there into got; true at the end of the stream (or a reset). */
static bool recv_some(int fd, gs_buf_t *got)
{
    char chunk[16384];
    for (;;) {
        ssize_t k = recv(fd, chunk, sizeof chunk, 0);
        if (k == 0)
            return true;
        if (k < 0)
            return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN);
        if (gs_buf_append(got, chunk, (size_t)k) != GS_OK)
            FAIL("reply over %u bytes", REPLY_MAX);
    }
}

/* Waits a little for the socket or the loop, whichever has something first. */
static void wait_a_little(int fd, bool sending)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN | (sending ? POLLOUT : 0)},
                          {.fd = uv_backend_fd(&g.loop), .events = POLLIN}};
    int t = uv_backend_timeout(&g.loop);
    poll(p, 2, t < 0 || t > 5 ? 5 : t);
}

/* Sends the request with "Connection: close" and reads until the server closes. */
static void exchange(const request_t *q, gs_buf_t *raw, bool *cut)
{
    gs_buf_t out;
    size_t sent = 0;
    bool can_send = true;
    time_t deadline = time(NULL) + EXCHANGE_SECS;
    int fd = connect_to(g.port[q->service]);
    gs_buf_init(&out, 2 * BUILD_MAX);
    if (gs_buf_append(&out, q->head.data, q->head.len) != GS_OK ||
        (q->has_body && gs_buf_printf(&out, "Content-Length: %zu\r\n", q->body.len) != GS_OK) ||
        gs_buf_puts(&out, "Connection: close\r\n\r\n") != GS_OK ||
        (q->body.len && gs_buf_append(&out, q->body.data, q->body.len) != GS_OK))
        FAIL("request too large to build");
    for (;;) {
        if (can_send)
            can_send = send_some(fd, out.data, out.len, &sent);
        if (recv_some(fd, raw))
            break;
        uv_run(&g.loop, UV_RUN_NOWAIT);
        if (time(NULL) > deadline)
            FAIL("no complete answer within %d s", EXCHANGE_SECS);
        wait_a_little(fd, can_send && sent < out.len);
    }
    *cut = sent < out.len;
    close(fd);
    gs_buf_free(&out);
    uv_run(&g.loop, UV_RUN_NOWAIT); /* the server sees the close */
}

/* The first needle in hay[0..n), or NULL (memmem is not C11). */
static const char *find(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; k <= n && i <= n - k; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

/* Decodes a chunked body; false when it is malformed or cut. */
static bool dechunk(const char *p, size_t n, gs_buf_t *out)
{
    for (;;) {
        const char *eol = find(p, n, "\r\n");
        char *end;
        unsigned long long size;
        if (eol == NULL)
            return false;
        size = strtoull(p, &end, 16);
        if (end == p)
            return false;
        n -= (size_t)(eol + 2 - p);
        p = eol + 2;
        if (size > n || n - size < 2) /* the chunk and its CRLF */
            return false;
        if (size == 0)
            return true;
        if (gs_buf_append(out, p, size) != GS_OK || memcmp(p + size, "\r\n", 2) != 0)
            return false;
        p += size + 2;
        n -= size + 2;
    }
}

/* The status and body of raw; false when it is not a whole HTTP/1.1 answer. */
static bool parse_reply(const gs_buf_t *raw, reply_t *r)
{
    const char *text = raw->data ? raw->data : "", *end;
    char head[8192];
    size_t head_len, body_len;
    if (raw->len < 12 || memcmp(text, "HTTP/1.1 ", 9) != 0 ||
        (end = find(text, raw->len, "\r\n\r\n")) == NULL ||
        (head_len = (size_t)(end - text) + 4) >= sizeof head)
        return false;
    r->status = atoi(text + 9);
    for (size_t i = 0; i < head_len; i++) /* header names are case-insensitive */
        head[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] - 'A' + 'a' : text[i]);
    head[head_len] = '\0';
    body_len = raw->len - head_len;
    if (strstr(head, "\r\ntransfer-encoding: chunked\r\n"))
        return dechunk(text + head_len, body_len, &r->body);
    if ((end = strstr(head, "\r\ncontent-length: ")) && strtoull(end + 18, NULL, 10) != body_len)
        return false;
    return gs_buf_append(&r->body, text + head_len, body_len) == GS_OK;
}

/* Sends q; the caller frees reply->body. */
static void send_request(const request_t *q, reply_t *reply)
{
    gs_buf_t raw;
    gs_buf_init(&raw, REPLY_MAX);
    gs_buf_init(&reply->body, REPLY_MAX);
    exchange(q, &raw, &reply->cut);
    reply->status = 0;
    if (!parse_reply(&raw, reply)) {
        if (!reply->cut)
            FAIL("not an HTTP answer: %.200s", raw.data ? raw.data : "(nothing)");
        reply->status = 0;
    }
    gs_buf_free(&raw);
}

static void request_init(request_t *q, service_t service)
{
    q->service = service;
    q->has_body = false;
    gs_buf_init(&q->head, BUILD_MAX);
    gs_buf_init(&q->body, BUILD_MAX);
}

static void request_free(request_t *q)
{
    gs_buf_free(&q->head);
    gs_buf_free(&q->body);
}

/* The request line; target bytes that a request line cannot carry are percent-encoded. */
static void put_request_line(request_t *q, const char *method, const char *target, size_t len)
{
    gs_buf_printf(&q->head, "%s ", method);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c > ' ' && c < 0x7f && c != '#')
            gs_buf_append(&q->head, &target[i], 1);
        else
            gs_buf_printf(&q->head, "%%%02X", c);
    }
    gs_buf_puts(&q->head, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
}

/* ---- setup: a user, a paid pool, a workload ---------------------------------------------- */

/* Sends a request the harness built and expects `status`; *out gets the JSON answer.
 * Explorer paths go without their /api/v1 prefix. */
static void setup_call(service_t service, const char *method, const char *path, completion_t mode,
                       const char *body, int status, json_t **out);

static void setup_user(void)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\":\"alice\",\"email\":\"alice@example.org\",\"pubkey\":\"%s\"}", g.alice.hex);
    setup_call(EXPLORER, "POST", "/users", SIGN_USER, body, 201, NULL);
}

static void setup_login(void)
{
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)], body[160];
    sodium_bin2base64(b64, sizeof b64, g.alice.pk, sizeof g.alice.pk,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof body, "{\"doublename\":\"alice.3bot\",\"publicKey\":\"%s\"}", b64);
    setup_call(LOGIN, "POST", "/api/users", RAW, body, 201, NULL);
}

/* Pays reservation 1 from a funded payer, as a customer would, and waits for the escrow. */
static void setup_pool(void)
{
    char data[512], path[128];
    const char *escrow;
    int64_t amount;
    gs_diag_t diag = {{0}};
    json_t *j;
    bool released = false;
    snprintf(data, sizeof data,
             "{\"pool_id\":0,\"cus\":100000,\"sus\":100000,\"ipv4us\":0,\"node_ids\":[\"%s\","
             "\"%s\"],\"currencies\":[\"TFT\"]}",
             g.ctx.world.nodes[0].node_id, g.ctx.world.nodes[1].node_id);
    setup_call(EXPLORER, "POST", "/reservations/pools", SIGN_POOL, data, 201, &j);
    escrow = gs_json_str(json_object_get(j, "escrow_information"), "address");
    if (escrow == NULL || !gs_json_int(json_object_get(j, "escrow_information"), "amount", &amount))
        FAIL("pool reservation: no escrow information");
    if (sim_chain_credit(g.ctx.chain, g.payer.hex, (uint64_t)amount, &diag) != GS_OK ||
        sim_chain_transfer(g.ctx.chain, g.payer.hex, escrow, (uint64_t)amount, "p-1", NULL,
                           &diag) != GS_OK)
        FAIL("paying pool 1: %s", diag.msg);
    json_decref(j);
    for (int i = 0; i < 200 && !released; i++) {
        uv_run(&g.loop, UV_RUN_ONCE);
        setup_call(EXPLORER, "GET", "/reservations/pools/payment/1", RAW, NULL, 200, &j);
        released = json_is_true(json_object_get(j, "released"));
        json_decref(j);
    }
    snprintf(path, sizeof path, "/api/v1/accounts/%s/fund", g.alice.hex);
    setup_call(CHAIN, "POST", path, RAW, "{\"amount\":1000000000000}", 200, NULL);
    if (!released)
        FAIL("pool 1 was never released");
}

static void zdb_challenge(const json_t *w, gs_buf_t *ch);

static void setup_workload(void)
{
    char body[512];
    json_t *w;
    snprintf(body, sizeof body,
             "{\"workload_id\":1,\"node_id\":\"%s\",\"pool_id\":1,\"customer_tid\":1,"
             "\"epoch\":%d,\"description\":\"a backend\",\"workload_type\":0,\"size\":10,"
             "\"password\":\"abcdef\",\"signing_request_delete\":{\"signers\":[1],"
             "\"quorum_min\":1},\"signing_request_provision\":{\"signers\":[1],"
             "\"quorum_min\":1}}",
             g.ctx.world.nodes[0].node_id, EPOCH);
    setup_call(EXPLORER, "POST", "/reservations/workloads", AUTH_WL, body, 201, NULL);
    w = json_loads(body, 0, NULL);
    gs_buf_reset(&g.wl_challenge);
    zdb_challenge(w, &g.wl_challenge);
    json_decref(w);
}

/* ---- the services' life ------------------------------------------------------------------ */

static void on_closed(void *arg)
{
    *(bool *)arg = true;
}

static void run_until(const bool *flag)
{
    while (!*flag)
        uv_run(&g.loop, UV_RUN_ONCE);
}

static void services_new(void)
{
    gs_diag_t diag = {{0}};
    if (sim_chain_new(&g.ctx.chain, &diag) != GS_OK ||
        sim_login_new(&g.ctx.login, &diag) != GS_OK ||
        sim_registry_new(&g.ctx, &g.ctx.registry, &diag) != GS_OK ||
        sim_workloads_new(&g.ctx, &g.ctx.workloads, &diag) != GS_OK)
        FAIL("services: %s", diag.msg);
    sim_registry_on_pool_dry(g.ctx.registry, sim_workloads_on_pool_dry, NULL);
    sim_registry_start(&g.ctx);
    g.records = (records_t){0};
    setup_user();
    setup_login();
    setup_pool();
    setup_workload();
    g.records = (records_t){1, 1, 1};
}

static void services_free(void)
{
    bool closed = false;
    sim_registry_close(&g.ctx, on_closed, &closed);
    run_until(&closed);
    sim_workloads_free(g.ctx.workloads);
    sim_login_free(g.ctx.login);
    sim_chain_free(g.ctx.chain);
    g.ctx.workloads = NULL;
    g.ctx.login = NULL;
    g.ctx.chain = NULL;
}

static void grid_close(void)
{
    bool closed[N_SERVICES] = {false};
    if (!g.open)
        return;
    services_free();
    for (int s = 0; s < N_SERVICES; s++) {
        gs_httpd_close(g.httpd[s], on_closed, &closed[s]);
        run_until(&closed[s]);
    }
    uv_run(&g.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&g.loop) != 0)
        FAIL("the loop still has handles at exit");
    sim_world_free(&g.ctx.world);
    gs_buf_free(&g.wl_challenge);
    g.open = false;
}

static void grid_open(void)
{
    static const gs_http_route_t *const routes[N_SERVICES] = {sim_explorer_routes, sim_chain_routes,
                                                              sim_login_routes};
    sim_world_opts_t opts = {
        .seed = 7, .n_farms = 3, .nodes_per_farm = 3, .network = SIM_MAINNET, .time_scale = 1};
    gs_diag_t diag = {{0}};
    signal(SIGPIPE, SIG_IGN);
    gs_log_set_level(GS_LOG_ERROR);
    if (sodium_init() < 0 || uv_loop_init(&g.loop) != 0 ||
        sim_world_generate(&g.ctx.world, &opts, &diag) != GS_OK)
        FAIL("grid: %s", diag.msg);
    g.ctx.loop = &g.loop;
    for (int s = 0; s < N_SERVICES; s++) {
        if (gs_httpd_start(&g.loop, "127.0.0.1", 0, routes[s], &g.ctx, &g.httpd[s], &diag))
            FAIL("listen: %s", diag.msg);
        g.port[s] = gs_httpd_port(g.httpd[s]);
    }
    key_from_byte(&g.alice, 1);
    key_from_byte(&g.mallory, 2);
    key_from_byte(&g.payer, 3);
    gs_buf_init(&g.wl_challenge, 4096);
    g.open = true;
    services_new();
    atexit(grid_close);
}

/* ---- completing a request: signatures the input cannot make ----------------------------- */

/* HTTP-signature headers of user 1 over (created) and threebot-id, created now. */
static void add_auth(request_t *q)
{
    char created[32], signing[96],
        b64[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
    unsigned char sig[crypto_sign_BYTES];
    snprintf(created, sizeof created, "%lld", (long long)time(NULL));
    snprintf(signing, sizeof signing, "(created): %s\nthreebot-id: 1", created);
    crypto_sign_detached(sig, NULL, (const unsigned char *)signing, strlen(signing), g.alice.sk);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    gs_buf_printf(&q->head,
                  "threebot-id: 1\r\nAuthorization: Signature keyId=\"1\",algorithm=\"ed25519\","
                  "signature=\"%s\",created=\"%s\",headers=\"(created) threebot-id\"\r\n",
                  b64, created);
}

/* The input's bytes as a header value: printable ASCII only, or h2o refuses the request
 * before any handler sees it. */
static void add_raw_auth(request_t *q, const char *p, size_t n)
{
    gs_buf_puts(&q->head, "threebot-id: 1\r\nAuthorization: ");
    for (size_t i = 0; i < n; i++)
        gs_buf_append(&q->head, p[i] >= 0x20 && p[i] < 0x7f ? &p[i] : "?", 1);
    gs_buf_puts(&q->head, "\r\n");
}

static const char *str_member(const json_t *o, const char *key)
{
    const char *s = gs_json_str(o, key);
    return s ? s : "";
}

static long long int_member(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* A 0-db workload's challenge (reference tfgrid-v2.md §1.6), absent members counting as
 * their zero values, as the explorer stores them. */
static void zdb_challenge(const json_t *w, gs_buf_t *ch)
{
    gs_buf_printf(ch, "%lld%s%lld%s%lld%s%lld%s%s", int_member(w, "workload_id"),
                  str_member(w, "node_id"), int_member(w, "pool_id"), str_member(w, "reference"),
                  int_member(w, "customer_tid"), "ZDB", int_member(w, "epoch"),
                  str_member(w, "description"), str_member(w, "metadata"));
    gs_buf_printf(ch, "%lld%s%s%s%s", int_member(w, "size"), int_member(w, "mode") ? "user" : "seq",
                  str_member(w, "password"), int_member(w, "disk_type") ? "ssd" : "hdd",
                  json_is_true(json_object_get(w, "public")) ? "true" : "false");
}

/* Sets key to a new string unless the input gave one (the input may want a bad one). */
static void set_default(json_t *o, const char *key, const char *value)
{
    if (json_object_get(o, key) == NULL)
        json_object_set_new(o, key, json_string(value));
}

/* A phonebook registration signed with the key of its pubkey (user 1's or mallory's). */
static void sign_user(json_t *o)
{
    const keypair_t *k;
    gs_buf_t msg;
    char sig[129];
    set_default(o, "pubkey", g.mallory.hex);
    k = strcmp(str_member(o, "pubkey"), g.alice.hex) == 0 ? &g.alice : &g.mallory;
    gs_buf_init(&msg, BUILD_MAX);
    gs_buf_printf(&msg, "0%s%s%s%s%s", str_member(o, "name"), str_member(o, "email"),
                  str_member(o, "host"), str_member(o, "description"), str_member(o, "pubkey"));
    sign_hex(k, msg.data, msg.len, sig);
    set_default(o, "signature", sig);
    gs_buf_free(&msg);
}

static void sign_workload(json_t *o)
{
    gs_buf_t ch;
    char sig[129];
    if (int_member(o, "workload_type") != 0)
        return;
    gs_buf_init(&ch, BUILD_MAX);
    zdb_challenge(o, &ch);
    sign_hashed(&g.alice, ch.data ? ch.data : "", ch.len, "", sig);
    set_default(o, "customer_signature", sig);
    gs_buf_free(&ch);
}

/* A sign/delete or sign/provision of workload 1 by the body's tid, with user 1's key. */
static void sign_for_workload(json_t *o, const char *what)
{
    char suffix[64], sig[129];
    snprintf(suffix, sizeof suffix, "%s%lld", what,
             json_object_get(o, "tid") ? int_member(o, "tid") : 1);
    sign_hashed(&g.alice, g.wl_challenge.data, g.wl_challenge.len, suffix, sig);
    set_default(o, "signature", sig);
}

/* The input is signed text: wrapped as {"json": TEXT, key: signature, ...}; NULL when it
 * cannot be a JSON string (then it goes as it is). */
static json_t *wrap_signed(const char *p, size_t n, bool pool)
{
    json_t *text = json_stringn(p, n), *o;
    char sig[129];
    if (text == NULL)
        return NULL;
    sign_hex(&g.alice, p, n, sig);
    if (!pool)
        return json_pack("{s:o, s:s}", "json", text, "signature", sig);
    o = json_loadb(p, n, 0, NULL);
    return json_pack("{s:o, s:o, s:i, s:s}", "json", text, "data_reservation", o ? o : json_null(),
                     "customer_tid", 1, "customer_signature", sig);
}

/* The body as the mode completes it, or NULL to send the input's bytes. */
static json_t *complete_body(completion_t mode, const char *what, const char *p, size_t n)
{
    json_t *o;
    if (mode == SIGN_POOL || mode == SIGN_TX)
        return wrap_signed(p, n, mode == SIGN_POOL);
    if (mode != SIGN_USER && mode != AUTH_WL && mode != SIGN_WL)
        return NULL;
    if ((o = json_loadb(p, n, 0, NULL)) == NULL || !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    if (mode == SIGN_USER)
        sign_user(o);
    else if (mode == AUTH_WL)
        sign_workload(o);
    else
        sign_for_workload(o, what);
    return o;
}

static void set_body(request_t *q, completion_t mode, const char *what, const char *p, size_t n)
{
    json_t *o = complete_body(mode, what, p, n);
    char *text = o ? gs_json_dumps(o) : NULL;
    q->has_body = true;
    if (text)
        gs_buf_puts(&q->body, text);
    else if (n)
        gs_buf_append(&q->body, p, n);
    free(text);
    json_decref(o);
}

/* ---- building a request from the input -------------------------------------------------- */

typedef struct {
    const char *param, *body;
    size_t param_len, body_len;
    bool legacy; /* /explorer instead of /api/v1 */
} input_t;

/* "METHOD /path" of the "any" templates: the method is the leading capital letters. */
static void any_line(request_t *q, const input_t *in, bool *has_body)
{
    char method[16];
    size_t m = 0, i = 0;
    gs_buf_t target;
    while (i < in->param_len && m + 1 < sizeof method && in->param[i] >= 'A' && in->param[i] <= 'Z')
        method[m++] = in->param[i++];
    method[m] = '\0';
    if (i < in->param_len && in->param[i] == ' ')
        i++;
    gs_buf_init(&target, BUILD_MAX);
    if (i == in->param_len || in->param[i] != '/')
        gs_buf_puts(&target, "/");
    gs_buf_append(&target, in->param + i, in->param_len - i);
    /* An answer to HEAD has no body to check. */
    put_request_line(q, m && strcmp(method, "HEAD") != 0 ? method : "GET", target.data, target.len);
    *has_body = in->body_len > 0;
    gs_buf_free(&target);
}

static void build(request_t *q, const template_t *t, const input_t *in)
{
    gs_buf_t target;
    bool has_body = strcmp(t->method ? t->method : "", "POST") == 0;
    request_init(q, t->service);
    if (t->mode == ANY) {
        any_line(q, in, &has_body);
    } else {
        gs_buf_init(&target, BUILD_MAX);
        gs_buf_printf(&target, "%s%s",
                      t->service != EXPLORER ? ""
                      : in->legacy           ? "/explorer"
                                             : "/api/v1",
                      t->path);
        if (t->mode != AUTH_RAW)
            gs_buf_append(&target, in->param, in->param_len);
        gs_buf_puts(&target, t->suffix);
        put_request_line(q, t->method, target.data, target.len);
        gs_buf_free(&target);
    }
    if (t->mode == AUTH || t->mode == AUTH_WL)
        add_auth(q);
    else if (t->mode == AUTH_RAW)
        add_raw_auth(q, in->param, in->param_len);
    if (has_body)
        set_body(q, t->mode, strstr(t->suffix, "delete") ? "delete" : "provision", in->body,
                 in->body_len);
}

/* ---- invariants --------------------------------------------------------------------------- */

static bool allowed_status(int status)
{
    static const int ok[] = {200, 201, 400, 401, 402, 403, 404, 405, 409, 413};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (status == ok[i])
            return true;
    return false;
}

/* A documented status, a JSON body, {"error": TEXT} alone for refusals; a 500 only for
 * out of memory. */
static void check_reply(const reply_t *r)
{
    const char *text = r->body.data ? r->body.data : "";
    json_t *j;
    /* A body over the largest cap of the server's routes is refused by h2o itself, in
     * plain text, before any route sees it: tolerated here, not by the documents. */
    if (r->status == 413 && strcmp(text, "request entity is too large") == 0)
        return;
    j = json_loadb(text, r->body.len, 0, NULL);
    if (j == NULL)
        FAIL("status %d with a body that is not JSON: %.200s", r->status, text);
    if (r->status >= 300 && (!json_is_object(j) || json_object_size(j) != 1 ||
                             !json_is_string(json_object_get(j, "error"))))
        FAIL("status %d without {\"error\": TEXT}: %.200s", r->status, text);
    if (!allowed_status(r->status) &&
        !(r->status == 500 && strcmp(gs_json_str(j, "error"), "out of memory") == 0))
        FAIL("status %d: %.200s", r->status, text);
    json_decref(j);
}

/* The status of GET path on the explorer. */
static int explorer_get(const char *path)
{
    request_t q;
    reply_t r;
    request_init(&q, EXPLORER);
    put_request_line(&q, "GET", path, strlen(path));
    send_request(&q, &r);
    check_reply(&r);
    request_free(&q);
    gs_buf_free(&r.body);
    return r.status;
}

/* Records have ids from 1 and are never removed: counting is looking for the next id. */
static records_t count_records(void)
{
    records_t n = g.records;
    char path[96];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    while (sim_registry_user_key(g.ctx.registry, n.users + 1, pk))
        n.users++;
    for (;;) {
        snprintf(path, sizeof path, "/api/v1/reservations/pools/payment/%lld",
                 (long long)n.reservations + 1);
        if (explorer_get(path) != 200)
            break;
        n.reservations++;
    }
    for (;;) {
        snprintf(path, sizeof path, "/api/v1/reservations/workloads/%lld",
                 (long long)n.workloads + 1);
        if (explorer_get(path) != 200)
            break;
        n.workloads++;
    }
    return n;
}

/* A refused request changes nothing (a workload refused for capacity is kept, 402); an
 * accepted one adds one record at most. */
static void check_records(int status)
{
    records_t now = count_records(), was = g.records;
    int64_t added = (now.users - was.users) + (now.reservations - was.reservations) +
                    (now.workloads - was.workloads);
    bool kept_402 = status == 402 && added == now.workloads - was.workloads;
    if (added > 1 || (added == 1 && status != 201 && !kept_402))
        FAIL("status %d, yet %lld records added (users %lld->%lld, reservations %lld->%lld, "
             "workloads %lld->%lld)",
             status, (long long)added, (long long)was.users, (long long)now.users,
             (long long)was.reservations, (long long)now.reservations, (long long)was.workloads,
             (long long)now.workloads);
    g.records = now;
}

static void setup_call(service_t service, const char *method, const char *path, completion_t mode,
                       const char *body, int status, json_t **out)
{
    template_t t = {service, method, path, "", mode};
    input_t in = {"", body ? body : "", 0, body ? strlen(body) : 0, false};
    request_t q;
    reply_t r;
    build(&q, &t, &in);
    send_request(&q, &r);
    if (r.status != status)
        FAIL("setup: %s %s: %d %.300s", method, path, r.status, r.body.data ? r.body.data : "");
    if (out && (*out = json_loadb(r.body.data, r.body.len, 0, NULL)) == NULL)
        FAIL("setup: %s %s: not JSON: %.300s", method, path, r.body.data ? r.body.data : "");
    request_free(&q);
    gs_buf_free(&r.body);
}

static input_t split_input(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data + 1, *nl = memchr(p, '\n', size - 1);
    input_t in = {p, "", nl ? (size_t)(nl - p) : size - 1, 0, (data[0] & 0x40) != 0};
    if (nl) {
        in.body = nl + 1;
        in.body_len = size - 1 - in.param_len - 1;
    }
    if (in.param_len > PARAM_MAX)
        in.param_len = PARAM_MAX;
    return in;
}

/* The chain's documents say a refusal changes nothing: the balances the harness can
 * name (user 1's, mallory's) stay as they were. */
static void balances(uint64_t out[2])
{
    out[0] = sim_chain_balance(g.ctx.chain, g.alice.hex);
    out[1] = sim_chain_balance(g.ctx.chain, g.mallory.hex);
}

static void check_chain(int status, const uint64_t before[2])
{
    uint64_t after[2];
    balances(after);
    if (status >= 300 && (after[0] != before[0] || after[1] != before[1]))
        FAIL("status %d, yet balances moved (%llu->%llu, %llu->%llu)", status,
             (unsigned long long)before[0], (unsigned long long)after[0],
             (unsigned long long)before[1], (unsigned long long)after[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t before[2];
    const template_t *t;
    input_t in;
    request_t q;
    reply_t r;
    if (!g.open) {
        grid_open();
    } else if (++g.runs % RESET_EVERY == 0) {
        services_free();
        services_new();
    }
    if (size == 0)
        return 0;
    t = &templates[(data[0] & 0x3f) % N_TEMPLATES];
    in = split_input(data, size);
    build(&q, t, &in);
    balances(before);
    send_request(&q, &r);
    if (r.status != 0) /* 0: cut off by a server that would not take more */
        check_reply(&r);
    if (t->service == CHAIN)
        check_chain(r.status, before);
    if (t->service == EXPLORER && memcmp(q.head.data, "GET ", 4) != 0)
        check_records(r.status);
    request_free(&q);
    gs_buf_free(&r.body);
    return 0;
}
