/* test_sim_app.c — `gridstor-sim app`, the Threefold Connect app stand-in, end to end: a real
 * gridstor-sim, two people created with `app new`, real QR codes from the product's
 * `gridstor plan`, and a signandpay receiver run here (h2o through common's gs_httpd on a
 * libuv loop) while `gridstor-sim app scan` runs as a child on the same loop. What reaches
 * the receiver is checked independently of the app: the signature with the key the login
 * directory gives, the opened bytes against DataToSign, and the payment on the chain. */
#include "process.h"
#include "reservation.h"
#include "simproc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#define ALICE    "alice.3bot" /* the owner of the example spec */
#define BOB      "bob.3bot"   /* the destination wallet's owner */
#define MAX_ARGS 24
#define PATH_LEN 4096
#define OUT_MAX  (1024 * 1024)
#define BODY_MAX (64 * 1024)
#define TIMEOUT  10000
#define NO_TX    "0000000000000000000000000000000000000000000000000000000000000000"

/* A PNG of 16×16 white pixels: a valid image without a QR code. */
static const unsigned char blank_png[] =
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x10\x00\x00"
    "\x00\x10\x08\x00\x00\x00\x00\x3a\x98\xa0\xbd\x00\x00\x00\x0f\x49\x44\x41\x54\x78\xda\x63"
    "\xf8\x8f\x06\x18\x46\xb6\x00\x00\x80\xf9\xff\x01\x91\xeb\x20\x1a\x00\x00\x00\x00\x49\x45"
    "\x4e\x44\xae\x42\x60\x82";

/* The receiver: what it answers and what it got. */
typedef struct {
    int status;         /* answer to callbacks */
    const char *answer; /* its body */
    const char *document;
    gs_buf_t got; /* the last callback body */
    int callbacks, fetches;
} receiver_t;

typedef struct {
    ts_sim_t sim;
    uv_loop_t loop;
    gs_httpd_t *httpd;
    receiver_t rx;
    char base[128];          /* the receiver, http://127.0.0.1:PORT */
    char app_dir[PATH_LEN];  /* the identities */
    char out[PATH_LEN];      /* the plan */
    char png[PATH_LEN];      /* its first QR code */
    char doc_file[PATH_LEN]; /* its first document, as a file */
    char alice_addr[65], bob_addr[65];
    json_t *doc;    /* the first document */
    char *doc_text; /* exactly as in its QR code */
    char session[64];
} fixture_t;

/* One `gridstor-sim app` run. */
typedef struct {
    uv_process_t proc;
    uv_pipe_t out, err;
    gs_buf_t obuf, ebuf;
    int open;
    int64_t status;
} child_t;

static fixture_t *fx;

/* ---- the receiver --------------------------------------------------------------------------- */

static void on_callback(gs_http_req_t *r, void *ud)
{
    receiver_t *rx = ud;
    size_t len = 0;
    const char *body = gs_http_req_body(r, &len);
    gs_buf_reset(&rx->got);
    assert_int_equal(gs_buf_append(&rx->got, body ? body : "", len), GS_OK);
    rx->callbacks++;
    gs_http_reply(r, rx->status, "application/json", rx->answer, strlen(rx->answer));
}

static void on_document(gs_http_req_t *r, void *ud)
{
    receiver_t *rx = ud;
    rx->fetches++;
    gs_http_reply(r, 200, "application/json", rx->document, strlen(rx->document));
}

static const gs_http_route_t receiver_routes[] = {
    {"POST", "/api/v1/signandpay/{}/callback", on_callback, BODY_MAX},
    {"GET", "/api/v1/signandpay/{}", on_document, 0},
    {NULL},
};

static void receiver_reset(receiver_t *rx)
{
    rx->status = 200;
    rx->answer = "{\"status\":\"accepted\"}";
    rx->callbacks = rx->fetches = 0;
    gs_buf_reset(&rx->got);
}

/* ---- children on the loop -------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void on_child_closed(uv_handle_t *h)
{
    ((child_t *)h->data)->open--;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    child_t *c = s->data;
    gs_buf_t *b = s == (uv_stream_t *)&c->out ? &c->obuf : &c->ebuf;
    if (n > 0)
        assert_int_equal(gs_buf_append(b, buf->base, (size_t)n), GS_OK);
    free(buf->base);
    if (n < 0)
        uv_close((uv_handle_t *)s, on_child_closed);
}

static void on_exit_child(uv_process_t *p, int64_t status, int signal)
{
    child_t *c = p->data;
    c->status = signal ? -1 : status;
    uv_close((uv_handle_t *)p, on_child_closed);
}

/* Runs argv while the loop serves the receiver; returns when the child exited and its
 * output was read to the end. */
static void run_on_loop(const char *const *argv, child_t *c)
{
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}};
    uv_process_options_t o = {.file = argv[0],
                              .args = (char **)argv,
                              .stdio = stdio,
                              .stdio_count = 3,
                              .exit_cb = on_exit_child};
    memset(c, 0, sizeof *c);
    gs_buf_init(&c->obuf, OUT_MAX);
    gs_buf_init(&c->ebuf, OUT_MAX);
    assert_int_equal(gs_buf_append(&c->obuf, "", 0), GS_OK);
    assert_int_equal(gs_buf_append(&c->ebuf, "", 0), GS_OK);
    uv_pipe_init(&fx->loop, &c->out, 0);
    uv_pipe_init(&fx->loop, &c->err, 0);
    c->proc.data = c->out.data = c->err.data = c;
    stdio[1] = (uv_stdio_container_t){.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                      .data.stream = (uv_stream_t *)&c->out};
    stdio[2] = (uv_stdio_container_t){.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE,
                                      .data.stream = (uv_stream_t *)&c->err};
    assert_int_equal(uv_spawn(&fx->loop, &c->proc, &o), 0);
    c->open = 3;
    uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&c->err, on_alloc, on_read);
    while (c->open > 0)
        uv_run(&fx->loop, UV_RUN_ONCE);
}

static void child_free(child_t *c)
{
    gs_buf_free(&c->obuf);
    gs_buf_free(&c->ebuf);
}

/* `gridstor-sim app CMD --dir DIR ARGS...` (up to NULL). */
static void __attribute__((sentinel)) app(child_t *c, const char *cmd, ...)
{
    const char *argv[MAX_ARGS + 1] = {ts_env("GS_SIM"), "app", cmd, "--dir", fx->app_dir};
    size_t n = 5;
    va_list ap;
    va_start(ap, cmd);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        assert_true(n < MAX_ARGS);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    run_on_loop(argv, c);
}

static void assert_exit(const child_t *c, int want)
{
    if (c->status != want)
        fail_msg("exit status %lld, want %d; stdout:\n%s\nstderr:\n%s", (long long)c->status, want,
                 c->obuf.data, c->ebuf.data);
}

static void assert_has(const gs_buf_t *b, const char *needle)
{
    if (strstr(b->data, needle) == NULL)
        fail_msg("\"%s\" not in:\n%s", needle, b->data);
}

/* ---- independent checks ---------------------------------------------------------------------- */

/* The key the login directory gives for name. */
static void login_key(const char *name, unsigned char pk[32])
{
    char path[128];
    json_t *u = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "/api/users/%s", name);
    assert_int_equal(ts_http("GET", fx->sim.login, path, NULL, NULL, TIMEOUT, &u), 200);
    assert_int_equal(sodium_base642bin(pk, 32, gs_json_str(u, "publicKey"),
                                       strlen(gs_json_str(u, "publicKey")), NULL, &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_int_equal(len, 32);
    json_decref(u);
}

static void address_of(const char *name, char out[65])
{
    unsigned char pk[32];
    login_key(name, pk);
    gs_hex(pk, 32, out);
}

/* The callback body that arrived: exactly the protocol's members. */
static json_t *received(void)
{
    json_t *j = json_loadb(fx->rx.got.data, fx->rx.got.len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 3);
    assert_true(json_is_string(json_object_get(j, "DoubleName")));
    assert_true(json_is_string(json_object_get(j, "SignedData")));
    assert_int_equal(json_object_size(json_object_get(j, "Payment")), 1);
    assert_true(json_is_string(json_object_get(json_object_get(j, "Payment"), "Transaction")));
    return j;
}

static const char *received_tx(const json_t *body)
{
    return gs_json_str(json_object_get(body, "Payment"), "Transaction");
}

/* Opens SignedData with the login directory's key for DoubleName: false when it does not
 * verify; else *opened (free it) holds the signed bytes. */
static bool open_signed(const json_t *body, char **opened, size_t *len)
{
    const char *b64 = gs_json_str(body, "SignedData");
    size_t b64_len = strlen(b64), sm_len = 0;
    unsigned char pk[32], *sm = malloc(b64_len), *m = malloc(b64_len + 1);
    unsigned long long m_len = 0;
    bool ok;
    assert_non_null(sm);
    assert_non_null(m);
    login_key(gs_json_str(body, "DoubleName"), pk);
    /* Standard base64 with padding, as the protocol says: the strict decoder takes it whole. */
    assert_int_equal(sodium_base642bin(sm, b64_len, b64, b64_len, NULL, &sm_len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    ok = crypto_sign_open(m, &m_len, sm, sm_len, pk) == 0;
    m[ok ? m_len : 0] = '\0';
    *opened = (char *)m;
    *len = ok ? (size_t)m_len : 0;
    free(sm);
    return ok;
}

/* "196.8696576" to stropes, here without the app's code: pad the decimals to 7. */
static int64_t stropes_of(const char *amount)
{
    const char *dot = strchr(amount, '.');
    char digits[32];
    size_t whole = dot ? (size_t)(dot - amount) : strlen(amount);
    size_t frac = dot ? strlen(dot + 1) : 0;
    assert_true(whole + 7 < sizeof digits && frac <= 7);
    memcpy(digits, amount, whole);
    memset(digits + whole, '0', 7);
    if (frac)
        memcpy(digits + whole, dot + 1, frac);
    digits[whole + 7] = '\0';
    return strtoll(digits, NULL, 10);
}

static json_t *chain_tx(const char *txid)
{
    char path[128];
    json_t *tx = NULL;
    snprintf(path, sizeof path, "/transactions/%s", txid);
    assert_int_equal(ts_http("GET", fx->sim.chain, path, NULL, NULL, TIMEOUT, &tx), 200);
    return tx;
}

static int64_t sequence_of(const char *address)
{
    char path[128];
    json_t *a = NULL;
    int64_t seq = 0;
    snprintf(path, sizeof path, "/accounts/%s", address);
    assert_int_equal(ts_http("GET", fx->sim.chain, path, NULL, NULL, TIMEOUT, &a), 200);
    assert_true(gs_json_int(a, "sequence", &seq));
    json_decref(a);
    return seq;
}

static const char *doc_str(const char *key)
{
    return gs_json_str(fx->doc, key);
}

static const char *pay_str(const char *key)
{
    return gs_json_str(json_object_get(fx->doc, "Payment"), key);
}

/* The transaction pays the document's destination, amount minus `less`, with memo. */
static void assert_payment(const char *txid, int64_t less, const char *memo)
{
    json_t *tx = chain_tx(txid);
    int64_t amount = 0;
    assert_string_equal(gs_json_str(tx, "from"), fx->alice_addr);
    assert_string_equal(gs_json_str(tx, "to"), pay_str("Destination"));
    assert_string_equal(gs_json_str(tx, "to"), fx->bob_addr);
    assert_string_equal(gs_json_str(tx, "asset"), "TFT");
    assert_true(gs_json_int(tx, "amount", &amount));
    assert_int_equal(amount, stropes_of(pay_str("Amount")) - less);
    assert_string_equal(gs_json_str(tx, "memo"), memo);
    json_decref(tx);
}

/* The signature opens with alice's directory key over exactly DataToSign. */
static void assert_signed_data_to_sign(const json_t *body)
{
    char *opened;
    size_t len;
    assert_true(open_signed(body, &opened, &len));
    assert_int_equal(len, strlen(doc_str("DataToSign")));
    assert_memory_equal(opened, doc_str("DataToSign"), len);
    free(opened);
}

/* Everything that arrived is right: the whole check a receiver makes. */
static void assert_good_callback(void)
{
    json_t *body = received();
    assert_string_equal(gs_json_str(body, "DoubleName"), ALICE);
    assert_signed_data_to_sign(body);
    assert_payment(received_tx(body), 0, pay_str("Memo"));
    json_decref(body);
}

/* ---- the fixture ---------------------------------------------------------------------------- */

static void path_in(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_LEN, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_LEN);
}

static void write_file(const char *path, const void *data, size_t len)
{
    gs_diag_t diag = {{0}};
    if (gs_file_write_atomic(path, data, len, 0644, &diag) != GS_OK)
        fail_msg("%s", diag.msg);
}

static void new_person(const char *name)
{
    child_t c;
    app(&c, "new", "--as", name, "--login", fx->sim.login, "--chain", fx->sim.chain, NULL);
    assert_exit(&c, 0);
    child_free(&c);
}

/* `gridstor plan` of the example spec on the running grid, paid to bob, called back here. */
static void plan(void)
{
    char spec[PATH_LEN], grid[256], plan_path[PATH_LEN];
    const char *argv[] = {
        ts_env("GS_GRIDSTOR"), "plan",   spec,    "--grid", grid,     "--pay-to", fx->bob_addr,
        "--callback",          fx->base, "--out", fx->out,  "--seed", "3",        NULL};
    ts_proc_t p;
    json_t *j, *d;
    snprintf(spec, sizeof spec, "%s/templates/examples/minimal.yaml", ts_env("GS_SOURCE_DIR"));
    snprintf(grid, sizeof grid, "%.*s", (int)(strlen(fx->sim.explorer) - strlen("/api/v1")),
             fx->sim.explorer);
    ts_run(fx->sim.dir, argv, &p);
    if (p.status != 0)
        fail_msg("gridstor plan: %d\n%s", p.status, p.err.data);
    ts_proc_free(&p);
    path_in(plan_path, fx->out, "plan.json");
    j = json_load_file(plan_path, 0, NULL);
    assert_non_null(j);
    d = json_array_get(json_object_get(j, "documents"), 0);
    snprintf(fx->session, sizeof fx->session, "%s", gs_json_str(d, "session"));
    fx->doc_text = gs_strdup(gs_json_str(d, "document"));
    assert_non_null(fx->doc_text);
    fx->doc = json_loads(fx->doc_text, 0, NULL);
    assert_non_null(fx->doc);
    write_file(fx->doc_file, fx->doc_text, strlen(fx->doc_text));
    json_decref(j);
    path_in(fx->png, fx->out, "qr-01.png");
}

static int group_setup(void **state)
{
    gs_diag_t diag = {{0}};
    fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(sodium_init() >= 0, 1);
    ts_sim_start(&fx->sim, NULL);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    gs_buf_init(&fx->rx.got, BODY_MAX);
    if (gs_httpd_start(&fx->loop, "127.0.0.1", 0, receiver_routes, &fx->rx, &fx->httpd, &diag))
        fail_msg("receiver: %s", diag.msg);
    snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%d", gs_httpd_port(fx->httpd));
    path_in(fx->app_dir, fx->sim.dir, "app");
    path_in(fx->out, fx->sim.dir, "plan");
    path_in(fx->doc_file, fx->sim.dir, "document.json");
    new_person(ALICE);
    new_person(BOB);
    address_of(ALICE, fx->alice_addr);
    address_of(BOB, fx->bob_addr);
    plan();
    fx->rx.document = fx->doc_text;
    *state = fx;
    return 0;
}

static void on_receiver_closed(void *arg)
{
    (void)arg;
}

static int group_teardown(void **state)
{
    (void)state;
    gs_httpd_close(fx->httpd, on_receiver_closed, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    ts_sim_stop(&fx->sim);
    gs_buf_free(&fx->rx.got);
    free(fx->doc_text);
    json_decref(fx->doc);
    free(fx);
    return 0;
}

static int each_setup(void **state)
{
    (void)state;
    receiver_reset(&fx->rx);
    return 0;
}

/* ---- identities -------------------------------------------------------------------------- */

static void test_new_registers_and_funds_and_show_reads_the_chain(void **state)
{
    child_t c;
    json_t *j;
    char path[PATH_LEN];
    struct stat st;
    (void)state;
    app(&c, "show", "--as", ALICE, "--json", NULL);
    assert_exit(&c, 0);
    j = json_loads(c.obuf.data, 0, NULL);
    assert_non_null(j);
    assert_string_equal(gs_json_str(j, "doublename"), ALICE);
    assert_string_equal(gs_json_str(j, "address"), fx->alice_addr); /* the directory's key */
    {
        int64_t bal = 0;
        char p2[128];
        json_t *acct = NULL;
        snprintf(p2, sizeof p2, "/accounts/%s", fx->alice_addr);
        assert_int_equal(ts_http("GET", fx->sim.chain, p2, NULL, NULL, TIMEOUT, &acct), 200);
        assert_true(gs_json_int(acct, "balance", &bal));
        assert_int_equal(json_integer_value(json_object_get(j, "balance_stropes")), bal);
        json_decref(acct);
    }
    json_decref(j);
    child_free(&c);
    /* The secret is kept 0600. */
    path_in(path, fx->app_dir, ALICE ".key");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
}

static void test_new_funds_past_the_faucet_cap(void **state)
{
    child_t c;
    char addr[65];
    json_t *a = NULL;
    char path[128];
    int64_t bal = 0;
    (void)state;
    app(&c, "new", "--as", "rich.3bot", "--login", fx->sim.login, "--chain", fx->sim.chain,
        "--fund", "250000.5", NULL);
    assert_exit(&c, 0);
    child_free(&c);
    address_of("rich.3bot", addr);
    snprintf(path, sizeof path, "/accounts/%s", addr);
    assert_int_equal(ts_http("GET", fx->sim.chain, path, NULL, NULL, TIMEOUT, &a), 200);
    assert_true(gs_json_int(a, "balance", &bal));
    assert_int_equal(bal, 2500005000000LL); /* three faucet calls */
    json_decref(a);
}

static void test_list_shows_everyone(void **state)
{
    child_t c;
    json_t *j;
    (void)state;
    app(&c, "list", "--json", NULL);
    assert_exit(&c, 0);
    j = json_loads(c.obuf.data, 0, NULL);
    assert_true(json_array_size(j) >= 2);
    assert_string_equal(gs_json_str(json_array_get(j, 0), "doublename"), ALICE);
    assert_string_equal(gs_json_str(json_array_get(j, 1), "doublename"), BOB);
    assert_true(json_is_string(json_object_get(json_array_get(j, 1), "balance")));
    json_decref(j);
    child_free(&c);
    app(&c, "list", NULL);
    assert_exit(&c, 0);
    assert_has(&c.obuf, fx->bob_addr);
    child_free(&c);
}

static void test_new_refuses_an_existing_or_taken_name(void **state)
{
    child_t c;
    char other[PATH_LEN], path[PATH_LEN];
    (void)state;
    app(&c, "new", "--as", ALICE, "--login", fx->sim.login, "--chain", fx->sim.chain, NULL);
    assert_exit(&c, 2);
    assert_has(&c.ebuf, "already exists");
    child_free(&c);
    /* Another folder, so another key for the same name: the directory refuses it. */
    path_in(other, fx->sim.dir, "other");
    {
        const char *argv[] = {ts_env("GS_SIM"), "app", "new",     "--dir",       other,
                              "--as",           ALICE, "--login", fx->sim.login, "--chain",
                              fx->sim.chain,    NULL};
        run_on_loop(argv, &c);
    }
    assert_exit(&c, 5);
    assert_has(&c.ebuf, "refused");
    child_free(&c);
    path_in(path, other, ALICE ".key");
    assert_int_not_equal(access(path, F_OK), 0); /* nothing left behind */
}

static void test_unknown_identity_is_an_input_error(void **state)
{
    child_t c;
    (void)state;
    app(&c, "scan", "--as", "carol.3bot", fx->png, NULL);
    assert_exit(&c, 2);
    assert_has(&c.ebuf, "unknown identity carol.3bot");
    assert_int_equal(fx->rx.callbacks, 0);
    child_free(&c);
}

/* ---- scanning --------------------------------------------------------------------------------- */

static void test_scan_png_signs_pays_and_calls_back(void **state)
{
    child_t c;
    int64_t seq = sequence_of(fx->alice_addr);
    (void)state;
    app(&c, "scan", "--as", ALICE, fx->png, NULL);
    assert_exit(&c, 0);
    assert_has(&c.obuf, "paid:");
    assert_has(&c.obuf, "callback: POST");
    assert_int_equal(fx->rx.callbacks, 1);
    assert_good_callback();
    assert_int_equal(sequence_of(fx->alice_addr), seq + 1);
    child_free(&c);
}

static void test_scan_link_fetches_the_document(void **state)
{
    child_t c;
    char link[512];
    json_t *out;
    (void)state;
    snprintf(link, sizeof link, "threebot://signandpay/#%s/api/v1/signandpay/%s", fx->base,
             fx->session);
    app(&c, "scan", "--as", ALICE, "--json", link, NULL);
    assert_exit(&c, 0);
    assert_int_equal(fx->rx.fetches, 1);
    assert_int_equal(fx->rx.callbacks, 1);
    assert_good_callback();
    out = json_loads(c.obuf.data, 0, NULL);
    assert_non_null(out);
    assert_int_equal(json_integer_value(json_object_get(out, "status")), 200);
    {
        json_t *body = received();
        assert_string_equal(gs_json_str(out, "transaction"), received_tx(body));
        json_decref(body);
    }
    json_decref(out);
    child_free(&c);
}

static void test_scan_qr_holding_a_link(void **state)
{
    child_t c;
    char link[512], png[PATH_LEN];
    gs_qr_t *qr = NULL;
    gs_buf_t img;
    (void)state;
    snprintf(link, sizeof link, "threebot://signandpay/#%s/api/v1/signandpay/%s", fx->base,
             fx->session);
    assert_int_equal(gs_qr_encode(link, strlen(link), &qr, NULL), GS_OK);
    gs_buf_init(&img, 1 << 22);
    assert_int_equal(gs_qr_png(qr, 4, &img), GS_OK);
    path_in(png, fx->sim.dir, "link.png");
    write_file(png, img.data, img.len);
    app(&c, "scan", "--as", ALICE, png, NULL);
    assert_exit(&c, 0);
    assert_int_equal(fx->rx.fetches, 1);
    assert_good_callback();
    child_free(&c);
    gs_buf_free(&img);
    gs_qr_free(qr);
}

static void test_scan_document_file(void **state)
{
    child_t c;
    (void)state;
    app(&c, "scan", "--as", ALICE, fx->doc_file, NULL);
    assert_exit(&c, 0);
    assert_good_callback();
    child_free(&c);
}

/* ---- misbehaviour, each wrong in exactly one way ---------------------------------------------- */

static void test_wrong_key_does_not_verify(void **state)
{
    child_t c;
    json_t *body;
    char *opened;
    size_t len;
    (void)state;
    app(&c, "scan", "--as", ALICE, "--wrong-key", fx->doc_file, NULL);
    assert_exit(&c, 0);
    body = received();
    assert_string_equal(gs_json_str(body, "DoubleName"), ALICE);
    assert_false(open_signed(body, &opened, &len));
    free(opened);
    assert_payment(received_tx(body), 0, pay_str("Memo"));
    json_decref(body);
    child_free(&c);
}

static void test_sign_other_signs_another_text(void **state)
{
    child_t c;
    json_t *body;
    char *opened;
    size_t len;
    (void)state;
    app(&c, "scan", "--as", ALICE, "--sign-other", fx->doc_file, NULL);
    assert_exit(&c, 0);
    body = received();
    assert_true(open_signed(body, &opened, &len)); /* alice's key ... */
    assert_true(len != strlen(doc_str("DataToSign")) ||
                memcmp(opened, doc_str("DataToSign"), len) != 0); /* ... over another text */
    free(opened);
    assert_payment(received_tx(body), 0, pay_str("Memo"));
    json_decref(body);
    child_free(&c);
}

static void test_short_pay_pays_one_strope_less(void **state)
{
    child_t c;
    json_t *body;
    (void)state;
    app(&c, "scan", "--as", ALICE, "--short-pay", fx->doc_file, NULL);
    assert_exit(&c, 0);
    body = received();
    assert_signed_data_to_sign(body);
    assert_payment(received_tx(body), 1, pay_str("Memo"));
    json_decref(body);
    child_free(&c);
}

static void test_wrong_memo_pays_with_another_memo(void **state)
{
    child_t c;
    json_t *body, *tx;
    (void)state;
    app(&c, "scan", "--as", ALICE, "--wrong-memo", fx->doc_file, NULL);
    assert_exit(&c, 0);
    body = received();
    assert_signed_data_to_sign(body);
    tx = chain_tx(received_tx(body));
    assert_string_not_equal(gs_json_str(tx, "memo"), pay_str("Memo"));
    assert_int_equal(json_integer_value(json_object_get(tx, "amount")),
                     stropes_of(pay_str("Amount")));
    json_decref(tx);
    json_decref(body);
    child_free(&c);
}

static void test_no_pay_names_an_earlier_payment(void **state)
{
    child_t c;
    json_t *body;
    char earlier[65];
    int64_t seq;
    (void)state;
    app(&c, "scan", "--as", ALICE, fx->doc_file, NULL);
    assert_exit(&c, 0);
    child_free(&c);
    body = received();
    snprintf(earlier, sizeof earlier, "%s", received_tx(body));
    json_decref(body);
    seq = sequence_of(fx->alice_addr);
    app(&c, "scan", "--as", ALICE, "--no-pay", fx->doc_file, NULL);
    assert_exit(&c, 0);
    assert_has(&c.obuf, "not paid");
    body = received();
    assert_string_equal(received_tx(body), earlier);
    assert_signed_data_to_sign(body);
    assert_int_equal(sequence_of(fx->alice_addr), seq); /* nothing paid */
    json_decref(body);
    child_free(&c);
    /* Bob never paid: the id of no transaction. */
    app(&c, "scan", "--as", BOB, "--no-pay", fx->doc_file, NULL);
    assert_exit(&c, 0);
    body = received();
    assert_string_equal(received_tx(body), NO_TX);
    json_decref(body);
    child_free(&c);
}

static void test_save_then_replay_sends_the_same_body(void **state)
{
    child_t c;
    char saved[PATH_LEN];
    gs_buf_t file, first;
    gs_diag_t diag = {{0}};
    int64_t seq;
    (void)state;
    path_in(saved, fx->sim.dir, "callback.json");
    app(&c, "scan", "--as", ALICE, "--save", saved, fx->doc_file, NULL);
    assert_exit(&c, 0);
    child_free(&c);
    gs_buf_init(&file, BODY_MAX);
    assert_int_equal(gs_file_read(saved, BODY_MAX, &file, &diag), GS_OK);
    assert_int_equal(file.len, fx->rx.got.len);
    assert_memory_equal(file.data, fx->rx.got.data, file.len);
    gs_buf_init(&first, BODY_MAX);
    assert_int_equal(gs_buf_append(&first, fx->rx.got.data, fx->rx.got.len), GS_OK);
    seq = sequence_of(fx->alice_addr);
    app(&c, "scan", "--as", ALICE, "--replay", saved, fx->png, NULL);
    assert_exit(&c, 0);
    assert_int_equal(fx->rx.callbacks, 2);
    assert_int_equal(fx->rx.got.len, first.len);
    assert_memory_equal(fx->rx.got.data, first.data, first.len);
    assert_int_equal(sequence_of(fx->alice_addr), seq); /* no payment */
    child_free(&c);
    gs_buf_free(&file);
    gs_buf_free(&first);
}

/* ---- refusals and bad input ------------------------------------------------------------------- */

static void test_refused_callback_exits_3_with_the_receivers_error(void **state)
{
    child_t c;
    (void)state;
    fx->rx.status = 403;
    fx->rx.answer = "{\"error\":\"the signer is not the spec's owner\"}";
    app(&c, "scan", "--as", ALICE, fx->doc_file, NULL);
    assert_exit(&c, 3);
    assert_has(&c.ebuf, "403");
    assert_has(&c.ebuf, "the signer is not the spec's owner");
    child_free(&c);
}

static void test_png_without_a_qr_code(void **state)
{
    child_t c;
    char png[PATH_LEN];
    int64_t seq = sequence_of(fx->alice_addr);
    (void)state;
    path_in(png, fx->sim.dir, "blank.png");
    write_file(png, blank_png, sizeof blank_png - 1);
    app(&c, "scan", "--as", ALICE, png, NULL);
    assert_exit(&c, 2);
    assert_has(&c.ebuf, "no QR code found");
    assert_int_equal(fx->rx.callbacks, 0);
    assert_int_equal(sequence_of(fx->alice_addr), seq);
    child_free(&c);
}

/* A copy of the document with Payment.member (or a top member) set to value (NULL:
 * removed), scanned: exit 2 with `want` in the message, nothing paid or sent. */
static void expect_malformed(const char *member, json_t *value, bool in_payment, const char *want)
{
    json_t *d = json_deep_copy(fx->doc);
    json_t *obj = in_payment ? json_object_get(d, "Payment") : d;
    char path[PATH_LEN], *text;
    child_t c;
    int64_t seq = sequence_of(fx->alice_addr);
    if (value)
        json_object_set_new(obj, member, value);
    else
        json_object_del(obj, member);
    text = gs_json_dumps(d);
    path_in(path, fx->sim.dir, "bad.json");
    write_file(path, text, strlen(text));
    app(&c, "scan", "--as", ALICE, path, NULL);
    assert_exit(&c, 2);
    assert_has(&c.ebuf, want);
    assert_int_equal(fx->rx.callbacks, 0);
    assert_int_equal(sequence_of(fx->alice_addr), seq);
    child_free(&c);
    free(text);
    json_decref(d);
}

static void test_malformed_documents_are_refused_before_paying(void **state)
{
    (void)state;
    expect_malformed("Amount", json_string("1.00000001"), true, "Payment.Amount");
    expect_malformed("Amount", json_string("1e3"), true, "Payment.Amount");
    expect_malformed("Amount", json_string("-1"), true, "Payment.Amount");
    expect_malformed("Amount", json_string("0"), true, "more than 0");
    expect_malformed("Amount", json_real(1.5), true, "Payment.Amount");
    expect_malformed("Amount", json_string("9223372036854775808"), true, "Payment.Amount");
    expect_malformed("Asset", json_string("BTC"), true, "Payment.Asset");
    expect_malformed("Destination", json_string("abc"), true, "Payment.Destination");
    expect_malformed("Memo", json_string("gs-0123456789abcdef0123456789"), true, "Payment.Memo");
    expect_malformed("Extra", json_true(), true, "unknown member 'Extra'");
    expect_malformed("CallbackUrl", json_string("ftp://example.org/x"), false, "CallbackUrl");
    expect_malformed("CallbackUrl", NULL, false, "CallbackUrl");
    expect_malformed("DataToSign", json_integer(5), false, "DataToSign");
    expect_malformed("Payment", json_string("x"), false, "Payment");
}

static void test_not_json_and_bad_links(void **state)
{
    child_t c;
    char path[PATH_LEN];
    (void)state;
    path_in(path, fx->sim.dir, "notjson.txt");
    write_file(path, "hello", 5);
    app(&c, "scan", "--as", ALICE, path, NULL);
    assert_exit(&c, 2);
    assert_has(&c.ebuf, "not a signandpay document");
    child_free(&c);
    app(&c, "scan", "--as", ALICE, "threebot://signandpay/#ftp://x", NULL);
    assert_exit(&c, 2);
    child_free(&c);
    {
        char link[512];
        snprintf(link, sizeof link, "threebot://signandpay/#%s/nothing/here", fx->base);
        app(&c, "scan", "--as", ALICE, link, NULL);
        assert_exit(&c, 5); /* the receiver answers 404 */
        assert_has(&c.ebuf, "answered 404");
        child_free(&c);
    }
    app(&c, "scan", "--as", ALICE, "--no-pay", "--short-pay", fx->doc_file, NULL);
    assert_exit(&c, 2);
    child_free(&c);
    assert_int_equal(fx->rx.callbacks, 0);
}

static void test_unreachable_callback_exits_4(void **state)
{
    child_t c;
    json_t *d = json_deep_copy(fx->doc);
    char path[PATH_LEN], *text;
    (void)state;
    /* Port 1 on loopback: nothing listens there. */
    json_object_set_new(d, "CallbackUrl", json_string("http://127.0.0.1:1/cb"));
    text = gs_json_dumps(d);
    path_in(path, fx->sim.dir, "unreachable.json");
    write_file(path, text, strlen(text));
    app(&c, "scan", "--as", ALICE, "--no-pay", path, NULL);
    assert_exit(&c, 4);
    child_free(&c);
    free(text);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_new_registers_and_funds_and_show_reads_the_chain, each_setup),
        cmocka_unit_test_setup(test_new_funds_past_the_faucet_cap, each_setup),
        cmocka_unit_test_setup(test_list_shows_everyone, each_setup),
        cmocka_unit_test_setup(test_new_refuses_an_existing_or_taken_name, each_setup),
        cmocka_unit_test_setup(test_unknown_identity_is_an_input_error, each_setup),
        cmocka_unit_test_setup(test_scan_png_signs_pays_and_calls_back, each_setup),
        cmocka_unit_test_setup(test_scan_link_fetches_the_document, each_setup),
        cmocka_unit_test_setup(test_scan_qr_holding_a_link, each_setup),
        cmocka_unit_test_setup(test_scan_document_file, each_setup),
        cmocka_unit_test_setup(test_wrong_key_does_not_verify, each_setup),
        cmocka_unit_test_setup(test_sign_other_signs_another_text, each_setup),
        cmocka_unit_test_setup(test_short_pay_pays_one_strope_less, each_setup),
        cmocka_unit_test_setup(test_wrong_memo_pays_with_another_memo, each_setup),
        cmocka_unit_test_setup(test_no_pay_names_an_earlier_payment, each_setup),
        cmocka_unit_test_setup(test_save_then_replay_sends_the_same_body, each_setup),
        cmocka_unit_test_setup(test_refused_callback_exits_3_with_the_receivers_error, each_setup),
        cmocka_unit_test_setup(test_png_without_a_qr_code, each_setup),
        cmocka_unit_test_setup(test_malformed_documents_are_refused_before_paying, each_setup),
        cmocka_unit_test_setup(test_not_json_and_bad_links, each_setup),
        cmocka_unit_test_setup(test_unreachable_callback_exits_4, each_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
