/* test_deploy.c — the sign-and-pay journey through real processes: gridstor-sim (the
 * grid, chain, login directory), `gridstor init`, gridstord, and the app stand-in
 * (`gridstor-sim app scan`). A spec posted to gridstord becomes a deployment with
 * signandpay sessions whose document, link and QR code (decoded by zbar) agree; the
 * app's signed and paid callback is accepted once and settles the deployment; every
 * kind of bad callback is refused with its status and changes nothing. */
#define _XOPEN_SOURCE 700 /* setenv, nanosleep */
#include "payments.h"
#include "process.h"
#include "reservation.h"
#include "simproc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#define ALICE    "alice.3bot"
#define GW_FLIST "https://hub.grid.tf/gridstor/gridstor-gw.flist"
#define KILLED   (128 + SIGKILL) /* how a daemon killed at a crash point ends */

extern char **environ;

typedef struct {
    ts_sim_t sim;
    pid_t gridstord;
    char url[128], auth[160], app_dir[128], config[128], token_file[256];
} fixture_t;

static fixture_t fx;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs a command (argv) in the scratch folder; returns its exit status, *out its stdout
 * and stderr together when out is not NULL. */
static int run(const char *const *argv, gs_buf_t *out)
{
    ts_proc_t p;
    int status;
    ts_run(fx.sim.dir, argv, &p);
    status = p.status;
    if (out != NULL) {
        gs_buf_init(out, 1 << 20);
        gs_buf_append(out, p.out.data ? p.out.data : "", p.out.len);
        gs_buf_append(out, p.err.data ? p.err.data : "", p.err.len + 1); /* and a NUL */
    }
    ts_proc_free(&p);
    return status;
}

static void must_run(const char *const *argv)
{
    gs_buf_t out;
    int status = run(argv, &out);
    if (status != 0)
        fail_msg("%s %s exited %d: %s", argv[0], argv[1], status, out.data);
    gs_buf_free(&out);
}

/* gridstord's configuration on the local grid listening on LISTEN, with EXTRA lines. */
static void write_config_at(const char *listen, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text,
             "listen: %s\ndata_dir: %s/data\nexplorer: %s\nchain: %s\nlogin: %s\n%s", listen,
             fx.sim.dir, fx.sim.explorer, fx.sim.chain, fx.sim.login, extra);
    write_text(fx.config, text);
}

static void write_config(const char *extra)
{
    write_config_at("127.0.0.1:0", extra);
}

static void start_gridstord(void)
{
    const char *argv[] = {ts_env("GS_GRIDSTORD"), "--config", fx.config, NULL};
    char line[1024], token[128] = "", path[256];
    json_t *j;
    FILE *f;
    fx.gridstord = ts_spawn_server(argv, line, sizeof line, 10000);
    assert_non_null(j = json_loads(line, 0, NULL));
    snprintf(fx.url, sizeof fx.url, "%s", gs_json_str(j, "gridstord"));
    snprintf(path, sizeof path, "%s", gs_json_str(j, "token_file"));
    snprintf(fx.token_file, sizeof fx.token_file, "%s", path);
    json_decref(j);
    assert_non_null(f = fopen(path, "r"));
    assert_non_null(fgets(token, sizeof token, f));
    fclose(f);
    snprintf(fx.auth, sizeof fx.auth, "Authorization: Bearer %s", token);
}

/* Until gridstord has read the grid (its first read starts at once). */
static void wait_for_grid(void)
{
    for (int i = 0; i < 200; i++) {
        json_t *h = NULL;
        bool ready = false;
        if (ts_http("GET", fx.url, "/health", NULL, NULL, 5000, &h) == 200)
            ready = json_is_true(json_object_get(json_object_get(h, "grid"), "ready"));
        json_decref(h);
        if (ready)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    fail_msg("gridstord did not read the grid within 20 s");
}

static int group_setup(void **state)
{
    char text[1024];
    (void)state;
    snprintf(text, sizeof text, "%s=%s --env --listen ${GRIDSTOR_SIM_IPV4}:7481", GW_FLIST,
             ts_env("GS_GW"));
    {
        const char *args[] = {"--flist", text, NULL};
        ts_sim_start(&fx.sim, args);
    }
    snprintf(fx.config, sizeof fx.config, "%s/gridstord.yaml", fx.sim.dir);
    write_config("");
    {
        const char *init[] = {ts_env("GS_GRIDSTOR"), "init", "--config", fx.config, "--name",
                              "install.3bot",        NULL};
        must_run(init);
    }
    snprintf(fx.app_dir, sizeof fx.app_dir, "%s/app", fx.sim.dir);
    {
        const char *app_new[] = {ts_env("GS_SIM"), "app",        "new",     "--as",       ALICE,
                                 "--login",        fx.sim.login, "--chain", fx.sim.chain, "--dir",
                                 fx.app_dir,       NULL};
        const char *bob_new[] = {ts_env("GS_SIM"), "app",     "new",        "--as",
                                 "bob.3bot",       "--login", fx.sim.login, "--chain",
                                 fx.sim.chain,     "--dir",   fx.app_dir,   NULL};
        must_run(app_new);
        must_run(bob_new);
    }
    start_gridstord();
    wait_for_grid();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    assert_int_equal(ts_stop_server(fx.gridstord, 10000), 0);
    ts_sim_stop(&fx.sim);
    return 0;
}

/* POSTs a spec; returns the status, *out the answer. */
static long post_spec(const char *spec, json_t **out)
{
    const char *headers[] = {fx.auth, "Content-Type: application/yaml", NULL};
    return ts_http("POST", fx.url, "/api/v1/deployments", spec, headers, 10000, out);
}

/* A deployment of the default topology named name, owned by alice; its first session's
 * link into link. */
static void deploy(const char *name, char link[512])
{
    char spec[256];
    json_t *ans = NULL, *s;
    snprintf(spec, sizeof spec, "name: %s\nowner: %s\n", name, ALICE);
    if (post_spec(spec, &ans) != 201)
        fail_msg("POST %s: %s", name, ans ? gs_json_str(ans, "error") : "(no answer)");
    s = json_array_get(json_object_get(ans, "sessions"), 0);
    assert_non_null(s);
    snprintf(link, 512, "%s", gs_json_str(s, "link"));
    json_decref(ans);
}

static const char *state_of(const char *name, char *buf, size_t len)
{
    char path[128];
    const char *headers[] = {fx.auth, NULL};
    json_t *d = NULL;
    snprintf(path, sizeof path, "/api/v1/deployments/%s", name);
    assert_int_equal(ts_http("GET", fx.url, path, NULL, headers, 5000, &d), 200);
    snprintf(buf, len, "%s", gs_json_str(d, "state"));
    json_decref(d);
    return buf;
}

/* Polls the deployment until it is in `want` (at most 30 s). */
static void wait_state(const char *name, const char *want)
{
    char buf[64];
    for (int i = 0; i < 300; i++) {
        if (strcmp(state_of(name, buf, sizeof buf), want) == 0)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    fail_msg("%s stayed %s, never %s", name, buf, want);
}

/* M1 (read-write) and M2 (read-only) run gridstor-gw on their own addresses, and each
 * answers /health with its role, the codec it was configured with and the deployment's
 * data 0-dbs (all its 0-dbs but the two metadata ones) as backends. */
static void assert_gateways_answer(const json_t *dep)
{
    const json_t *m;
    size_t i;
    assert_int_equal(json_array_size(json_object_get(dep, "machines")), 2);
    json_array_foreach(json_object_get(dep, "machines"), i, m)
    {
        json_t *health = NULL;
        const char *url = gs_json_str(m, "gateway");
        assert_string_equal(gs_json_str(m, "state"), "serving");
        assert_non_null(url);
        assert_int_equal(ts_http("GET", url, "/health", NULL, NULL, 5000, &health), 200);
        assert_string_equal(gs_json_str(health, "role"), i == 0 ? "m1" : "m2");
        assert_string_equal(gs_json_str(health, "mode"), i == 0 ? "read-write" : "read-only");
        assert_string_equal(gs_json_str(health, "codec"), "16+4");
        assert_int_equal(json_integer_value(json_object_get(health, "backends")),
                         json_array_size(json_object_get(dep, "zdbs")) - 2);
        json_decref(health);
    }
}

/* Every pool of the deployment paid on the chain exactly once: one payment with memo
 * p-<reservation id> of the escrow's amount, and the explorer says paid. */
static void assert_paid_once_with(const char *name, size_t n_zdbs);

static void assert_escrows_paid_once(const char *name)
{
    assert_paid_once_with(name, 22); /* 20 data, 2 meta */
}

static void assert_paid_once_with(const char *name, size_t n_zdbs)
{
    char path[256];
    const char *headers[] = {fx.auth, NULL};
    json_t *dep = NULL, *pools, *p;
    size_t i;
    snprintf(path, sizeof path, "/api/v1/deployments/%s", name);
    assert_int_equal(ts_http("GET", fx.url, path, NULL, headers, 5000, &dep), 200);
    pools = json_object_get(dep, "pools");
    assert_true(json_array_size(pools) > 0);
    json_array_foreach(pools, i, p)
    {
        int64_t rid = 0, amount = 0;
        json_t *payments = NULL, *status = NULL;
        assert_string_equal(gs_json_str(p, "state"), "paid");
        assert_true(gs_json_int(p, "reservation_id", &rid));
        assert_true(gs_json_int(p, "escrow_amount", &amount));
        snprintf(path, sizeof path, "/accounts/%s/payments?memo=p-%lld",
                 gs_json_str(p, "escrow_address"), (long long)rid);
        assert_int_equal(ts_http("GET", fx.sim.chain, path, NULL, NULL, 5000, &payments), 200);
        assert_int_equal(json_array_size(payments), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(payments, 0), "amount")),
                         amount);
        snprintf(path, sizeof path, "/reservations/pools/payment/%lld", (long long)rid);
        assert_int_equal(ts_http("GET", fx.sim.explorer, path, NULL, NULL, 5000, &status), 200);
        assert_true(json_is_true(json_object_get(status, "paid")));
        json_decref(status);
        json_decref(payments);
    }
    /* and every 0-db is provisioned once, with where to reach it */
    assert_int_equal(json_array_size(json_object_get(dep, "zdbs")), n_zdbs);
    json_array_foreach(json_object_get(dep, "zdbs"), i, p)
    {
        assert_string_equal(gs_json_str(p, "state"), "ok");
        assert_non_null(gs_json_str(p, "namespace"));
        assert_true(json_integer_value(json_object_get(p, "port")) > 0);
    }
    assert_gateways_answer(dep);
    json_decref(dep);
}

/* `gridstor-sim app scan --as who [flag] what`; returns its exit status, *out what it said. */
static int scan(const char *who, const char *flag, const char *flag_arg, const char *what,
                gs_buf_t *out)
{
    const char *argv[12] = {ts_env("GS_SIM"), "app", "scan", "--as", who, "--dir", fx.app_dir};
    size_t n = 7;
    if (flag)
        argv[n++] = flag;
    if (flag_arg)
        argv[n++] = flag_arg;
    argv[n++] = what;
    argv[n] = NULL;
    return run(argv, out);
}

static void test_a_deployment_shows_one_document_three_ways(void **state)
{
    const char *headers[] = {fx.auth, NULL};
    json_t *ans = NULL, *s, *doc = NULL, *dep = NULL;
    char doc_path[512], png[256];
    gs_buf_t decoded;
    (void)state;
    assert_int_equal(post_spec("name: shown\nowner: " ALICE "\n", &ans), 201);
    assert_string_equal(gs_json_str(ans, "state"), "awaiting_payment");
    s = json_array_get(json_object_get(ans, "sessions"), 0);
    assert_non_null(strstr(gs_json_str(s, "link"), "threebot://signandpay/#http://127.0.0.1:"));
    /* the document the link points at, byte for byte what the QR code holds */
    snprintf(doc_path, sizeof doc_path, "%s", strstr(gs_json_str(s, "document"), "/api/v1/"));
    assert_int_equal(ts_http("GET", fx.url, doc_path, NULL, NULL, 5000, &doc), 200);
    assert_non_null(strstr(gs_json_str(doc, "DataToSign"), "deployment: shown"));
    /* the raw bytes of the document and of the QR code, decoded by zbar */
    {
        gs_buf_t raw, qr;
        const char *zbar[] = {ts_env("GS_ZBARIMG"), "--raw", "-q", "-Sbinary", png, NULL};
        FILE *f;
        snprintf(png, sizeof png, "%s/shown.png", fx.sim.dir);
        assert_int_equal(ts_http_get_raw(gs_json_str(s, "document"), &raw), 200);
        assert_int_equal(ts_http_get_raw(gs_json_str(s, "qr_png"), &qr), 200);
        assert_non_null(f = fopen(png, "wb"));
        assert_int_equal(fwrite(qr.data, 1, qr.len, f), qr.len);
        fclose(f);
        assert_int_equal(run(zbar, &decoded), 0);
        assert_true(decoded.len > raw.len);
        assert_memory_equal(decoded.data, raw.data, raw.len); /* then zbar's newline */
        gs_buf_free(&raw);
        gs_buf_free(&qr);
        gs_buf_free(&decoded);
    }
    assert_int_equal(ts_http("GET", fx.url, "/api/v1/deployments/shown", NULL, headers, 5000, &dep),
                     200);
    assert_int_equal(json_array_size(json_object_get(dep, "sessions")), 1);
    json_decref(dep);
    json_decref(doc);
    json_decref(ans);
}

static void test_bad_specs_are_refused_with_what_to_fix(void **state)
{
    json_t *ans = NULL;
    (void)state;
    assert_int_equal(post_spec("name: shown\nowner: " ALICE "\n", &ans), 409); /* taken */
    assert_non_null(strstr(gs_json_str(ans, "error"), "exists already"));
    json_decref(ans);
    assert_int_equal(post_spec("name: x\nownr: " ALICE "\n", &ans), 400);
    assert_non_null(strstr(gs_json_str(ans, "error"), "spec:2:1: ownr"));
    json_decref(ans);
    assert_int_equal(post_spec("name: huge\nowner: " ALICE "\nzdb:\n  size: 100TiB\n", &ans), 422);
    json_decref(ans);
    assert_int_equal(ts_http("POST", fx.url, "/api/v1/deployments", "name: y\nowner: a.3bot\n",
                             NULL, 5000, NULL),
                     401);
    assert_int_equal(ts_http("GET", fx.url, "/api/v1/signandpay/000000000000000000000000", NULL,
                             NULL, 5000, NULL),
                     404);
}

static void test_the_app_signs_and_pays_once(void **state)
{
    char link[512], buf[64], saved[256];
    gs_buf_t out;
    (void)state;
    deploy("paid", link);
    snprintf(saved, sizeof saved, "%s/paid-callback.json", fx.sim.dir);
    if (scan(ALICE, "--save", saved, link, &out) != 0)
        fail_msg("app scan: %s", out.data);
    gs_buf_free(&out);
    /* the phone sends the same body again: fine, nothing twice */
    assert_int_equal(scan(ALICE, "--replay", saved, link, &out), 0);
    gs_buf_free(&out);
    wait_state("paid", "deployed");
    assert_escrows_paid_once("paid");
    (void)buf;
}

/* Waits for the child to end by itself; its exit status (128 + the signal that killed
 * it), or -1 after timeout_ms. */
static int exit_status_within(pid_t pid, int timeout_ms)
{
    int status;
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status)     ? WEXITSTATUS(status)
                   : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                         : -1;
        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    }
    return -1;
}

/* gridstord killed at a point of the deployer, then started again: the deployment ends
 * with every escrow paid exactly once. */
static void crash_and_resume(const char *name, const char *point)
{
    char link[512];
    gs_buf_t out;
    assert_int_equal(ts_stop_server(fx.gridstord, 10000), 0);
    setenv("GRIDSTORD_CRASH_AT", point, 1);
    start_gridstord();
    unsetenv("GRIDSTORD_CRASH_AT");
    wait_for_grid();
    deploy(name, link);
    if (scan(ALICE, NULL, NULL, link, &out) != 0)
        fail_msg("app scan: %s", out.data);
    gs_buf_free(&out);
    assert_int_equal(exit_status_within(fx.gridstord, 30000), KILLED); /* it crashed there */
    start_gridstord();
    wait_for_grid();
    wait_state(name, "deployed");
    assert_escrows_paid_once(name);
}

/* GET /api/v1/deployments/NAME with QUERY ("" or "?..."). */
static json_t *deployment_query(const char *name, const char *query)
{
    const char *headers[] = {fx.auth, NULL};
    char path[256];
    json_t *dep = NULL;
    snprintf(path, sizeof path, "/api/v1/deployments/%s%s", name, query);
    assert_int_equal(ts_http("GET", fx.url, path, NULL, headers, 5000, &dep), 200);
    return dep;
}

static json_t *deployment(const char *name)
{
    return deployment_query(name, "");
}

static json_t *deployment_with_events(const char *name)
{
    return deployment_query(name, "?events=1000");
}

/* The explorer ids of every workload of the deployment (0-dbs and machines). */
static json_t *workload_ids(const char *name)
{
    json_t *dep = deployment(name), *ids = json_array();
    const char *lists[] = {"zdbs", "machines"};
    for (size_t k = 0; k < 2; k++) {
        const json_t *w;
        size_t i;
        json_array_foreach(json_object_get(dep, lists[k]), i, w)
            json_array_append(ids, json_object_get(w, "workload_id"));
    }
    json_decref(dep);
    assert_int_equal(json_array_size(ids), 24);
    return ids;
}

/* Each workload is deleted on the explorer (next_action 6). */
static void assert_all_deleted_on_the_grid(const json_t *ids)
{
    const json_t *id;
    size_t i;
    json_array_foreach(ids, i, id)
    {
        char path[96];
        json_t *w = NULL;
        snprintf(path, sizeof path, "/reservations/workloads/%lld",
                 (long long)json_integer_value(id));
        assert_int_equal(ts_http("GET", fx.sim.explorer, path, NULL, NULL, 5000, &w), 200);
        assert_int_equal(json_integer_value(json_object_get(w, "next_action")), 6);
        json_decref(w);
    }
}

/* gridstord killed while it answers the app's callback, before or after recording it: the
 * app never hears back, and sends the same body again to the restarted daemon (on the same
 * address, which the documents name), which accepts it once; the deployment ends deployed
 * with every escrow paid once. */
static void callback_crash_and_resume(const char *name, const char *point)
{
    char link[512], saved[256], listen[64];
    gs_buf_t out;
    assert_int_equal(sscanf(fx.url, "http://%63s", listen), 1);
    assert_int_equal(ts_stop_server(fx.gridstord, 10000), 0);
    write_config_at(listen, "");
    setenv("GRIDSTORD_CRASH_AT", point, 1);
    start_gridstord();
    unsetenv("GRIDSTORD_CRASH_AT");
    wait_for_grid();
    deploy(name, link);
    snprintf(saved, sizeof saved, "%s/%s-callback.json", fx.sim.dir, name);
    assert_int_not_equal(scan(ALICE, "--save", saved, link, &out), 0); /* no answer */
    gs_buf_free(&out);
    assert_int_equal(exit_status_within(fx.gridstord, 30000), KILLED);
    start_gridstord();
    wait_for_grid();
    if (scan(ALICE, "--replay", saved, link, &out) != 0)
        fail_msg("the callback sent again: %s", out.data);
    gs_buf_free(&out);
    wait_state(name, "deployed");
    assert_escrows_paid_once(name);
    write_config("");
}

/* A deletion killed after the explorer took a signed deletion and before it was
 * recorded: the restarted daemon signs again (the explorer says it is gone), and ends
 * with every workload deleted and the deployment forgotten. */
static void delete_crash_and_resume(const char *name)
{
    const char *headers[] = {fx.auth, NULL};
    char path[128];
    json_t *ids = workload_ids(name);
    assert_int_equal(ts_stop_server(fx.gridstord, 10000), 0);
    setenv("GRIDSTORD_CRASH_AT", "before_delete_recorded", 1);
    start_gridstord();
    unsetenv("GRIDSTORD_CRASH_AT");
    snprintf(path, sizeof path, "/api/v1/deployments/%s", name);
    assert_int_equal(ts_http("DELETE", fx.url, path, NULL, headers, 5000, NULL), 202);
    assert_int_equal(exit_status_within(fx.gridstord, 30000), KILLED);
    start_gridstord();
    for (int i = 0; i < 300 && ts_http("GET", fx.url, path, NULL, headers, 5000, NULL) != 404; i++)
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    assert_int_equal(ts_http("GET", fx.url, path, NULL, headers, 5000, NULL), 404);
    assert_all_deleted_on_the_grid(ids);
    json_decref(ids);
}

static void test_a_killed_daemon_resumes_and_pays_once(void **state)
{
    (void)state;
    callback_crash_and_resume("crash0a", "before_callback_recorded");
    callback_crash_and_resume("crash0b", "after_callback_recorded");
    crash_and_resume("crash1", "after_reserve");
    crash_and_resume("crash2", "before_pay_recorded");
    crash_and_resume("crash3", "after_pay_recorded");
    crash_and_resume("crash4", "after_workload_recorded");
    crash_and_resume("crash5", "after_gateway_recorded");
    crash_and_resume("crash6", "before_serving_recorded");
    delete_crash_and_resume("crash5");
}

/* A POST to gridstord's PATH of one byte over LIMIT: 413 with a JSON error. */
static void assert_over_the_limit(const char *path, size_t limit, const char *const *headers)
{
    char *big = malloc(limit + 2);
    json_t *ans = NULL;
    assert_non_null(big);
    memset(big, ' ', limit + 1);
    big[limit + 1] = '\0';
    assert_int_equal(ts_http("POST", fx.url, path, big, headers, 10000, &ans), 413);
    assert_non_null(strstr(gs_json_str(ans, "error"), "limit"));
    json_decref(ans);
    free(big);
}

static void test_bad_callbacks_change_nothing(void **state)
{
    static const struct {
        const char *who, *flag, *says;
    } cases[] = {
        {ALICE, "--wrong-key", "403"}, {ALICE, "--sign-other", "403"},
        {ALICE, "--short-pay", "402"}, {ALICE, "--wrong-memo", "402"},
        {ALICE, "--no-pay", "40"},     {"bob.3bot", NULL, "403"},
    };
    char link[512], buf[64], saved[256];
    gs_buf_t out;
    (void)state;
    deploy("refused", link);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status = scan(cases[i].who, cases[i].flag, NULL, link, &out);
        if (status != 3 || strstr(out.data, cases[i].says) == NULL)
            fail_msg("case %zu (%s): exit %d: %s", i, cases[i].flag ? cases[i].flag : cases[i].who,
                     status, out.data);
        gs_buf_free(&out);
        assert_string_equal(state_of("refused", buf, sizeof buf), "awaiting_payment");
    }
    /* a callback accepted for one session replayed to another one */
    snprintf(saved, sizeof saved, "%s/paid-callback.json", fx.sim.dir);
    assert_int_equal(scan(ALICE, "--replay", saved, link, &out), 3);
    gs_buf_free(&out);
    assert_string_equal(state_of("refused", buf, sizeof buf), "awaiting_payment");
    /* the chain or the login directory failing while the callback is checked: 502, the
     * app may send it again, and nothing changed */
    {
        static const struct {
            const char *service, *fault;
        } outages[] = {
            {"/chain/fault", "{\"status\":503,\"path\":\"/api/v1/transactions/\"}"},
            {"/login/fault", "{\"status\":500,\"path\":\"/api/users/\"}"},
        };
        for (size_t i = 0; i < 2; i++) {
            assert_int_equal(ts_http("POST", fx.sim.admin, outages[i].service, outages[i].fault,
                                     NULL, 5000, NULL),
                             200);
            assert_int_not_equal(scan(ALICE, NULL, NULL, link, &out), 0);
            if (strstr(out.data, "502") == NULL)
                fail_msg("%s down: the callback's answer was not 502: %s", outages[i].service,
                         out.data);
            gs_buf_free(&out);
            assert_int_equal(
                ts_http("DELETE", fx.sim.admin, outages[i].service, NULL, NULL, 5000, NULL), 200);
            assert_string_equal(state_of("refused", buf, sizeof buf), "awaiting_payment");
        }
    }
    /* and malformed bodies straight to the callback */
    {
        char path[256];
        snprintf(path, sizeof path, "%s/callback", strstr(link, "/api/v1/signandpay/"));
        assert_int_equal(ts_http("POST", fx.url, path, "{", NULL, 5000, NULL), 400);
        assert_int_equal(ts_http("POST", fx.url, path, "{\"DoubleName\":1}", NULL, 5000, NULL),
                         400);
        assert_over_the_limit(path, GS_CALLBACK_MAX_BODY, NULL);
    }
    /* and a spec over its limit */
    {
        const char *headers[] = {fx.auth, NULL};
        assert_over_the_limit("/api/v1/deployments", GS_SPEC_MAX_BYTES, headers);
    }
    assert_string_equal(state_of("refused", buf, sizeof buf), "awaiting_payment");
}

/* `gridstor ARGS...` with the connection to gridstord; its exit status, *out its output. */
static int __attribute__((sentinel)) cli(gs_buf_t *out, ...)
{
    const char *argv[16] = {ts_env("GS_GRIDSTOR")};
    size_t n = 1;
    va_list ap;
    va_start(ap, out);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 11;)
        argv[n++] = a;
    va_end(ap);
    argv[n++] = "--url";
    argv[n++] = fx.url;
    argv[n++] = "--token-file";
    argv[n++] = fx.token_file;
    argv[n] = NULL;
    return run(argv, out);
}

/* Starts argv with its stdout and stderr into path. */
static pid_t spawn_to_file(const char *const *argv, const char *path)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* The first "link: ..." line the command writes into path (within 20 s). */
static const char *wait_for_link(const char *path)
{
    static char link[512];
    for (int i = 0; i < 200; i++) {
        gs_buf_t text;
        const char *at;
        gs_buf_init(&text, 1 << 22);
        if (gs_file_read(path, 1 << 22, &text, NULL) == GS_OK && text.data != NULL &&
            (at = strstr(text.data, "link: ")) != NULL && strchr(at, '\n') != NULL) {
            snprintf(link, sizeof link, "%.*s", (int)(strchr(at, '\n') - at - 6), at + 6);
            gs_buf_free(&text);
            return link;
        }
        gs_buf_free(&text);
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    {
        gs_buf_t text;
        gs_buf_init(&text, 1 << 22);
        gs_file_read(path, 1 << 22, &text, NULL);
        fail_msg("gridstor showed no link within 20 s; it said: %.2000s",
                 text.data ? text.data : "");
    }
    return NULL;
}

/* Runs a gridstor command that shows a QR code and follows (argv), its output into
 * path; the app scans the link it shows, signs and pays. Its exit status (-1 when it did
 * not end within timeout_ms). */
static int run_paid_by_the_app(const char *const *argv, const char *path, int timeout_ms)
{
    char link[512];
    gs_buf_t out;
    pid_t pid = spawn_to_file(argv, path);
    snprintf(link, sizeof link, "%s", wait_for_link(path));
    if (scan(ALICE, NULL, NULL, link, &out) != 0)
        fail_msg("the app could not pay %s: %s", link, out.data ? out.data : "");
    gs_buf_free(&out);
    return exit_status_within(pid, timeout_ms);
}

static void test_the_cli_deploys_and_follows(void **state)
{
    char spec[256], line[4096];
    const char *argv[] = {ts_env("GS_GRIDSTOR"), "deploy",      spec,        "--url", fx.url,
                          "--token-file",        fx.token_file, "--timeout", "60",    NULL};
    gs_buf_t out;
    (void)state;
    snprintf(spec, sizeof spec, "%s/cli.yaml", fx.sim.dir);
    write_text(spec, "name: cli\nowner: " ALICE "\n");
    /* deploy prints the QR codes and follows, into a file; the app pays meanwhile */
    snprintf(line, sizeof line, "%s/deploy.out", fx.sim.dir);
    assert_int_equal(run_paid_by_the_app(argv, line, 60000), 0);
    {
        gs_buf_t shown;
        gs_buf_init(&shown, 1 << 22);
        assert_int_equal(gs_file_read(line, 1 << 22, &shown, NULL), GS_OK);
        assert_non_null(strstr(shown.data, "cli: 1 document to sign and pay"));
        assert_non_null(strstr(shown.data, "\xe2\x96")); /* the QR code's half blocks */
        assert_non_null(strstr(shown.data, "every escrow is paid"));
        assert_non_null(strstr(shown.data, "every workload is ready: 22 0-dbs and 2 gateway"));
        assert_non_null(strstr(shown.data, "gateway machine 0 answers at http://127."));
        assert_non_null(strstr(shown.data, "cli is deployed"));
        gs_buf_free(&shown);
    }
    assert_int_equal(cli(&out, "list", NULL), 0);
    assert_non_null(strstr(out.data, "deployed"));
    gs_buf_free(&out);
    /* each kind of failure has its exit status */
    assert_int_equal(cli(&out, "deploy", spec, "--no-wait", NULL), 5); /* name in use */
    assert_non_null(strstr(out.data, "exists already"));
    gs_buf_free(&out);
    write_text(spec, "name: cli2\nowner: " ALICE "\nzdb:\n  size: 100TiB\n");
    assert_int_equal(cli(&out, "deploy", spec, "--no-wait", NULL), 3);
    gs_buf_free(&out);
    write_text(spec, "name: cli3\nowner: [x]\n");
    assert_int_equal(cli(&out, "deploy", spec, NULL), 2);
    gs_buf_free(&out);
    assert_int_equal(cli(&out, "status", "nope", NULL), 5);
    gs_buf_free(&out);
    assert_int_equal(cli(&out, "delete", "--help", NULL), 0);
    assert_non_null(strstr(out.data, "usage: gridstor delete NAME"));
    gs_buf_free(&out);
    {
        const char *bad[] = {ts_env("GS_GRIDSTOR"), "list",        "--url", "http://127.0.0.1:1",
                             "--token-file",        fx.token_file, NULL};
        assert_int_equal(run(bad, &out), 4);
        assert_non_null(strstr(out.data, "is gridstord running?"));
        gs_buf_free(&out);
    }
}

static void test_delete_says_what_happens_to_the_money(void **state)
{
    const char *headers[] = {fx.auth, NULL};
    json_t *ans = NULL, *dep = NULL, *s;
    char doc[512];
    gs_buf_t out;
    (void)state;
    /* an unpaid deployment: gone with its sessions, its links stop working */
    assert_int_equal(ts_http("GET", fx.url, "/api/v1/deployments/shown", NULL, headers, 5000, &dep),
                     200);
    s = json_array_get(json_object_get(dep, "sessions"), 0);
    snprintf(doc, sizeof doc, "%s", strstr(gs_json_str(s, "document"), "/api/v1/"));
    json_decref(dep);
    assert_int_equal(ts_http("DELETE", fx.url, "/api/v1/deployments/shown", NULL, NULL, 5000, NULL),
                     401);
    assert_int_equal(
        ts_http("DELETE", fx.url, "/api/v1/deployments/shown", NULL, headers, 5000, &ans), 200);
    assert_string_equal(gs_json_str(ans, "state"), "awaiting_payment");
    assert_non_null(strstr(gs_json_str(ans, "money"), "nothing was paid"));
    json_decref(ans);
    assert_int_equal(ts_http("GET", fx.url, "/api/v1/deployments/shown", NULL, headers, 5000, NULL),
                     404);
    assert_int_equal(ts_http("GET", fx.url, doc, NULL, NULL, 5000, NULL), 404);
    assert_int_equal(
        ts_http("DELETE", fx.url, "/api/v1/deployments/shown", NULL, headers, 5000, NULL), 404);
    /* a deployed one, through the command line: its workloads are deleted on the grid
     * (the gateways stop), its pools stay, nothing is refunded */
    {
        json_t *ids = workload_ids("paid");
        const json_t *m = json_array_get(json_object_get(dep = deployment("paid"), "machines"), 0);
        char gw[128];
        snprintf(gw, sizeof gw, "%s", gs_json_str(m, "gateway"));
        json_decref(dep);
        assert_int_equal(cli(&out, "delete", "paid", NULL), 0);
        assert_non_null(strstr(out.data, "deleting paid (it was deployed)"));
        assert_non_null(strstr(out.data, "paid deleted (it was deployed)"));
        assert_non_null(strstr(out.data, "nothing is refunded"));
        gs_buf_free(&out);
        assert_all_deleted_on_the_grid(ids);
        json_decref(ids);
        assert_int_equal(ts_http("GET", gw, "/health", NULL, NULL, 2000, NULL), 0);
    }
    assert_int_equal(cli(&out, "delete", "paid", NULL), 5);
    gs_buf_free(&out);
    /* the name can be used again */
    assert_int_equal(post_spec("name: shown\nowner: " ALICE "\n", &ans), 201);
    json_decref(ans);
}

static void test_explorer_errors_are_retried(void **state)
{
    char link[512];
    gs_buf_t out;
    json_t *ans = NULL;
    (void)state;
    deploy("flaky", link);
    /* the explorer fails its next reservation and workload calls, then recovers */
    assert_int_equal(ts_http("POST", fx.sim.admin, "/explorer/fault",
                             "{\"status\":503,\"count\":4,\"path\":\"/api/v1/reservations\"}", NULL,
                             5000, &ans),
                     200);
    json_decref(ans);
    if (scan(ALICE, NULL, NULL, link, &out) != 0)
        fail_msg("app scan: %s", out.data);
    gs_buf_free(&out);
    wait_state("flaky", "deployed");
    assert_escrows_paid_once("flaky");
    {
        const char *headers[] = {fx.auth, NULL};
        json_t *dep = deployment_with_events("flaky");
        char *text;
        text = gs_json_dumps(json_object_get(dep, "events"));
        if (strstr(text, "the grid did not answer well (HTTP 503)") == NULL)
            fail_msg("no retry event in %.3000s", text);
        free(text);
        json_decref(dep);
        assert_int_equal(
            ts_http("GET", fx.url, "/api/v1/deployments/flaky?events=0", NULL, headers, 5000, NULL),
            400);
    }
}

/* A data 0-db of deployment NAME whose pool has a spare node: its index in the plan, its
 * node into NODE. */
static size_t spared_zdb(const char *name, char node[128])
{
    json_t *dep = deployment(name), *z, *pool;
    size_t i, j, victim = 0;
    node[0] = '\0';
    json_array_foreach(json_object_get(json_object_get(dep, "plan_json"), "zdbs"), i, z)
    {
        json_array_foreach(json_object_get(json_object_get(dep, "plan_json"), "pools"), j, pool)
        {
            if (node[0] == '\0' && strcmp(gs_json_str(z, "role"), "data") == 0 &&
                json_integer_value(json_object_get(pool, "farm_id")) ==
                    json_integer_value(json_object_get(z, "farm_id")) &&
                json_integer_value(json_object_get(pool, "spares")) > 0) {
                snprintf(node, 128, "%s", gs_json_str(z, "node_id"));
                victim = i;
            }
        }
    }
    json_decref(dep);
    if (node[0] == '\0')
        fail_msg("no pool of the plan has a spare node");
    return victim;
}

/* POSTs /admin/nodes/NODE/WHAT (down, up, silent) on the local grid. */
static void node_set(const char *node, const char *what)
{
    char path[256];
    snprintf(path, sizeof path, "/nodes/%s/%s", node, what);
    assert_int_equal(ts_http("POST", fx.sim.admin, path, NULL, NULL, 5000, NULL), 200);
}

/* Deployment NAME, paid by the app while the node of one of its data 0-dbs is in node
 * state WHAT (down, silent), ends deployed with that 0-db on another node, its events
 * saying so and why (WHY). */
static void deploy_around_a_node(const char *name, const char *what, const char *why)
{
    char link[512], node[128];
    json_t *dep, *z;
    size_t victim;
    gs_buf_t out;
    deploy(name, link);
    victim = spared_zdb(name, node);
    node_set(node, what);
    if (scan(ALICE, NULL, NULL, link, &out) != 0)
        fail_msg("app scan: %s", out.data);
    gs_buf_free(&out);
    wait_state(name, "deployed");
    assert_escrows_paid_once(name);
    dep = deployment_with_events(name);
    z = json_array_get(json_object_get(dep, "zdbs"), victim);
    assert_string_not_equal(gs_json_str(z, "node_id"), node);
    {
        char *text = gs_json_dumps(json_object_get(dep, "events"));
        char want[256];
        snprintf(want, sizeof want, "placed again on node %s (was on %s)",
                 gs_json_str(z, "node_id"), node);
        if (strstr(text, want) == NULL || strstr(text, why) == NULL)
            fail_msg("no '%s' and move in %.3000s", why, text);
        free(text);
    }
    json_decref(dep);
    node_set(node, "up");
}

/* A node down when its 0-db is posted: the explorer refuses it, and the deployer places
 * it on a spare node of the same pool. */
static void test_a_refused_workload_moves_to_a_spare_node(void **state)
{
    (void)state;
    deploy_around_a_node("moved", "down", "the explorer refused 0-db");
}

/* A node that takes its 0-db and never answers: past workload_timeout (5 s here) the
 * deployer cancels it and places it on a spare node. */
static void test_a_silent_node_times_out_and_its_workload_moves(void **state)
{
    (void)state;
    assert_int_equal(ts_stop_server(fx.gridstord, 10000), 0);
    write_config("workload_timeout: 5s\n");
    start_gridstord();
    wait_for_grid();
    deploy_around_a_node("silent", "silent", "no result from node");
    assert_int_equal(ts_stop_server(fx.gridstord, 10000), 0);
    write_config("");
    start_gridstord();
    wait_for_grid();
}

/* The pools' cus on the explorer, by their reservation id order in the deployment. */
static void pool_cus(const char *name, double *cus, size_t *n)
{
    json_t *dep = deployment(name);
    const json_t *p;
    size_t i;
    *n = 0;
    json_array_foreach(json_object_get(dep, "pools"), i, p)
    {
        char path[96];
        json_t *pool = NULL;
        if (json_object_get(p, "spec_json") != NULL &&
            !json_is_null(json_object_get(p, "spec_json")))
            continue; /* an extension's own reservation */
        snprintf(path, sizeof path, "/reservations/pools/%lld",
                 (long long)json_integer_value(json_object_get(p, "reservation_id")));
        assert_int_equal(ts_http("GET", fx.sim.explorer, path, NULL, NULL, 5000, &pool), 200);
        cus[(*n)++] = json_number_value(json_object_get(pool, "cus")) +
                      json_number_value(json_object_get(pool, "sus"));
        json_decref(pool);
    }
    json_decref(dep);
}

/* Extending goes through the same sign-and-pay path: one QR code, the app pays, every
 * pool's extension is reserved and its escrow paid once, and the deployment is deployed
 * again with more capacity in each pool. Bad requests change nothing. */
static void test_extend_buys_more_time_for_every_pool(void **state)
{
    char line[256];
    const char *argv[] = {
        ts_env("GS_GRIDSTOR"), "extend",      "flaky",     "--by", "30d", "--url", fx.url,
        "--token-file",        fx.token_file, "--timeout", "60",   NULL};
    const char *headers[] = {fx.auth, NULL};
    double before[32], after[32];
    size_t n_before = 0, n_after = 0;
    json_t *ans = NULL;
    (void)state;
    assert_int_equal(ts_http("POST", fx.url, "/api/v1/deployments/nosuch/extend",
                             "{\"by\":\"30d\"}", headers, 5000, NULL),
                     404);
    assert_int_equal(ts_http("POST", fx.url, "/api/v1/deployments/flaky/extend",
                             "{\"by\":\"soon\"}", headers, 5000, &ans),
                     400);
    assert_non_null(strstr(gs_json_str(ans, "error"), "by"));
    json_decref(ans);
    assert_int_equal(ts_http("POST", fx.url, "/api/v1/deployments/flaky/extend",
                             "{\"by\":\"10min\"}", headers, 5000, NULL),
                     400);
    assert_int_equal(
        ts_http("POST", fx.url, "/api/v1/deployments/flaky/extend", "[]", headers, 5000, NULL),
        400);
    assert_int_equal(ts_http("POST", fx.url, "/api/v1/deployments/flaky/extend", "{\"by\":\"30d\"}",
                             NULL, 5000, NULL),
                     401);
    pool_cus("flaky", before, &n_before);
    snprintf(line, sizeof line, "%s/extend.out", fx.sim.dir);
    assert_int_equal(run_paid_by_the_app(argv, line, 60000), 0);
    assert_string_equal(gs_json_str(ans = deployment("flaky"), "state"), "deployed");
    json_decref(ans);
    assert_escrows_paid_once("flaky");
    pool_cus("flaky", after, &n_after);
    assert_int_equal(n_after, n_before);
    for (size_t i = 0; i < n_before; i++)
        if (after[i] <= before[i] + 1000) /* 30 more days of each pool's units */
            fail_msg("pool %zu: %.0f unit-seconds before, %.0f after", i, before[i], after[i]);
}

/* Waits until every pool of the deployment shows its runway (at most 30 s); returns the
 * deployment. */
static json_t *with_runway(const char *name)
{
    for (int tries = 0; tries < 300; tries++) {
        json_t *dep = deployment(name), *p;
        size_t i, known = 0, n = 0;
        json_array_foreach(json_object_get(dep, "pools"), i, p)
        {
            if (json_is_object(json_object_get(p, "spec_json")))
                continue; /* an extension of another pool */
            n++;
            known += json_integer_value(json_object_get(p, "runway_s")) > 0;
        }
        if (n > 0 && known == n)
            return dep;
        json_decref(dep);
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    fail_msg("the pools of %s showed no runway within 30 s", name);
    return NULL;
}

/* POST /api/v1/deployments/NAME/scale with body; the status, *err the error (or NULL). */
static long scale_request(const char *name, const char *body, const char *auth, char *err,
                          size_t len)
{
    const char *headers[] = {auth, NULL};
    char path[128];
    json_t *ans = NULL;
    long st;
    snprintf(path, sizeof path, "/api/v1/deployments/%s/scale", name);
    st = ts_http("POST", fx.url, path, body, auth ? headers : NULL, 5000, &ans);
    snprintf(err, len, "%s", gs_json_str(ans, "error") ? gs_json_str(ans, "error") : "");
    json_decref(ans);
    return st;
}

/* Scaling asks for what makes sense and says why otherwise; nothing is ordered. */
static void test_scale_refuses_what_it_cannot_do(void **state)
{
    static const struct {
        const char *name, *body;
        long status;
        const char *says;
    } cases[] = {
        {"nosuch", "{\"zdbs\": 22}", 404, "no deployment"},
        {"flaky", "", 400, "zdbs"},
        {"flaky", "[]", 400, "zdbs"},
        {"flaky", "{\"zdbs\": \"many\"}", 400, "zdbs"},
        {"flaky", "{\"zdbs\": 101}", 400, "zdbs"},
        {"flaky", "{\"zdbs\": 20}", 400, "already"},
        {"flaky", "{\"nodes\": 3}", 400, "nodes"},
        {"flaky", "{\"size\": \"20GiB\"}", 501, "moving every shard"},
        {"flaky", "{\"zdbs\": 100}", 422, "more node"},
        {"waiting", "{\"zdbs\": 22}", 409, "awaiting_payment"},
    };
    char err[1024], link[512];
    json_t *before;
    (void)state;
    deploy("waiting", link);
    before = with_runway("flaky");
    {
        const char *headers[] = {fx.auth, NULL};
        assert_over_the_limit("/api/v1/deployments/flaky/scale", 4096, headers);
    }
    { /* the owner sees when the pools run dry */
        gs_buf_t out;
        assert_int_equal(cli(&out, "status", "flaky", NULL), 0);
        if (out.data == NULL || strstr(out.data, "runs dry in") == NULL)
            fail_msg("gridstor status shows no runway: %s", out.data ? out.data : "");
        gs_buf_free(&out);
    }
    assert_int_equal(scale_request("flaky", "{\"zdbs\": 22}", NULL, err, sizeof err), 401);
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        long st = scale_request(cases[i].name, cases[i].body, fx.auth, err, sizeof err);
        if (st != cases[i].status || strstr(err, cases[i].says) == NULL)
            fail_msg("scale %s with '%s': %ld '%s', not %ld saying '%s'", cases[i].name,
                     cases[i].body, st, err, cases[i].status, cases[i].says);
    }
    {
        json_t *after = deployment("flaky");
        assert_int_equal(json_array_size(json_object_get(after, "sessions")),
                         json_array_size(json_object_get(before, "sessions")));
        assert_int_equal(json_array_size(json_object_get(after, "zdbs")), 22);
        json_decref(after);
    }
    json_decref(before);
    {
        const char *headers[] = {fx.auth, NULL};
        assert_int_equal(
            ts_http("DELETE", fx.url, "/api/v1/deployments/waiting", NULL, headers, 5000, NULL),
            200);
    }
}

/* Orders a scale of NAME to ZDBS data 0-dbs (201); its session's link and document URL
 * into link and doc (each may be NULL). */
static void order_scale(const char *name, int zdbs, char link[512], char doc[512])
{
    const char *headers[] = {fx.auth, NULL};
    char path[128], body[64];
    json_t *ans = NULL, *session;
    snprintf(path, sizeof path, "/api/v1/deployments/%s/scale", name);
    snprintf(body, sizeof body, "{\"zdbs\": %d}", zdbs);
    assert_int_equal(ts_http("POST", fx.url, path, body, headers, 5000, &ans), 201);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ans, "scale"), "zdbs")),
                     zdbs);
    session = json_array_get(json_object_get(ans, "sessions"), 0);
    if (link != NULL)
        snprintf(link, 512, "%s", gs_json_str(session, "link"));
    if (doc != NULL)
        snprintf(doc, 512, "%s", gs_json_str(session, "document"));
    json_decref(ans);
}

/* The gateway machines' workload ids and URLs, in order. */
static size_t gateways_of(const json_t *dep, int64_t ids[4], char urls[4][128])
{
    const json_t *m;
    size_t i, n = 0;
    json_array_foreach(json_object_get(dep, "machines"), i, m)
    {
        if (n == 4)
            break;
        ids[n] = json_integer_value(json_object_get(m, "workload_id"));
        snprintf(urls[n++], 128, "%s", gs_json_str(m, "gateway"));
    }
    return n;
}

/* Scaling through the CLI: one QR code, the app pays, the new 0-dbs are placed on nodes
 * holding none of the deployment's, the gateways are posted again with every backend
 * (the old containers deleted once the new ones answer), the pools stay paid once, and
 * an unpaid order is replaced by a new one. */
static void test_scale_adds_zdbs_and_moves_the_gateways(void **state)
{
    char path[256], first_doc[512], urls[4][128], new_urls[4][128];
    const char *argv[] = {
        ts_env("GS_GRIDSTOR"), "scale",       "flaky",     "--zdbs", "22", "--url", fx.url,
        "--token-file",        fx.token_file, "--timeout", "120",    NULL};
    int64_t ids[4], new_ids[4];
    json_t *dep = with_runway("flaky"), *z, *h = NULL;
    size_t n, i;
    (void)state;
    n = gateways_of(dep, ids, urls);
    json_decref(dep);
    /* an order never paid is replaced by the next one: its session can no longer be paid */
    order_scale("flaky", 23, NULL, first_doc);
    assert_int_equal(ts_http("GET", first_doc, "", NULL, NULL, 5000, NULL), 200);
    snprintf(path, sizeof path, "%s/scale.out", fx.sim.dir);
    assert_int_equal(run_paid_by_the_app(argv, path, 150000), 0);
    assert_int_equal(ts_http("GET", first_doc, "", NULL, NULL, 5000, NULL), 410);
    dep = deployment("flaky");
    assert_string_equal(gs_json_str(dep, "state"), "deployed");
    {
        const json_t *s;
        size_t canceled = 0;
        json_array_foreach(json_object_get(dep, "sessions"), i, s) canceled +=
            strcmp(gs_json_str(s, "state"), "canceled") == 0;
        assert_int_equal(canceled, 1);
    }
    /* 2 meta and 22 data 0-dbs, the new ones on nodes holding no other */
    assert_int_equal(json_array_size(json_object_get(dep, "zdbs")), 24);
    json_array_foreach(json_object_get(dep, "zdbs"), i, z)
    {
        const json_t *o;
        size_t k;
        json_array_foreach(json_object_get(dep, "zdbs"), k,
                           o) if (i >= 22 && k != i &&
                                  strcmp(gs_json_str(o, "node_id"), gs_json_str(z, "node_id")) == 0)
            fail_msg("new 0-db %zu shares node %s with 0-db %zu", i, gs_json_str(z, "node_id"), k);
    }
    assert_int_equal(gateways_of(dep, new_ids, new_urls), n);
    json_decref(dep);
    assert_paid_once_with("flaky", 24);
    /* each gateway is a new container knowing 22 backends; the old ones are deleted */
    for (i = 0; i < n; i++) {
        json_t *w = NULL;
        assert_true(new_ids[i] != ids[i]);
        assert_int_equal(ts_http("GET", new_urls[i], "/health", NULL, NULL, 5000, &h), 200);
        assert_int_equal(json_integer_value(json_object_get(h, "backends")), 22);
        json_decref(h);
        snprintf(path, sizeof path, "/reservations/workloads/%lld", (long long)ids[i]);
        assert_int_equal(ts_http("GET", fx.sim.explorer, path, NULL, NULL, 5000, &w), 200);
        assert_int_equal(json_integer_value(json_object_get(w, "next_action")), 6);
        json_decref(w);
    }
}

/* Starts gridstord with GRIDSTORD_CRASH_AT=point (NULL: none). */
static void start_crashing_at(const char *point)
{
    if (point != NULL)
        setenv("GRIDSTORD_CRASH_AT", point, 1);
    start_gridstord();
    unsetenv("GRIDSTORD_CRASH_AT");
    wait_for_grid();
}

/* A scale with gridstord killed at each of its steps in turn: as it records the app's
 * callback (the app hears nothing and sends it again), once a new 0-db is recorded, once
 * a gateway machine is recorded again, and after the explorer took the deletion of an old
 * container. Each restart resumes; the scale ends once: 21 data 0-dbs, every pool paid
 * once, the old containers deleted. */
static void test_a_killed_daemon_resumes_a_scale(void **state)
{
    static const char *const points[] = {"after_workload_recorded", "after_gateway_recorded",
                                         "before_retire_recorded"};
    const char *headers[] = {fx.auth, NULL};
    char listen[64], saved[256], link[512], urls[4][128], new_urls[4][128];
    int64_t ids[4], new_ids[4];
    json_t *ans = NULL;
    size_t n;
    gs_buf_t out;
    (void)state;
    assert_int_equal(sscanf(fx.url, "http://%63s", listen), 1);
    assert_int_equal(ts_stop_server(fx.gridstord, 10000), 0);
    write_config_at(listen, ""); /* the same address: the document names it */
    start_crashing_at("after_callback_recorded");
    ans = with_runway("crash1");
    n = gateways_of(ans, ids, urls);
    json_decref(ans);
    order_scale("crash1", 21, link, NULL);
    snprintf(saved, sizeof saved, "%s/scale-callback.json", fx.sim.dir);
    assert_int_not_equal(scan(ALICE, "--save", saved, link, &out), 0); /* no answer */
    gs_buf_free(&out);
    assert_int_equal(exit_status_within(fx.gridstord, 30000), KILLED);
    for (size_t i = 0; i < GS_ARRAY_SIZE(points); i++) {
        start_crashing_at(points[i]);
        if (i == 0 && scan(ALICE, "--replay", saved, link, &out) != 0)
            fail_msg("the callback sent again: %s", out.data);
        if (i == 0)
            gs_buf_free(&out);
        if (exit_status_within(fx.gridstord, 60000) != KILLED)
            fail_msg("gridstord did not reach %s", points[i]);
    }
    start_crashing_at(NULL);
    wait_state("crash1", "deployed");
    assert_paid_once_with("crash1", 23);
    ans = deployment("crash1");
    assert_int_equal(gateways_of(ans, new_ids, new_urls), n);
    json_decref(ans);
    for (size_t i = 0; i < n; i++) {
        char path[96];
        json_t *w = NULL;
        assert_true(new_ids[i] != ids[i]);
        snprintf(path, sizeof path, "/reservations/workloads/%lld", (long long)ids[i]);
        assert_int_equal(ts_http("GET", fx.sim.explorer, path, NULL, NULL, 5000, &w), 200);
        assert_int_equal(json_integer_value(json_object_get(w, "next_action")), 6);
        json_decref(w);
    }
    write_config("");
    /* an order cannot be paid once its deployment is being deleted (the explorer refusing
     * deletions keeps it deleting meanwhile) */
    order_scale("crash1", 22, link, NULL);
    assert_int_equal(ts_http("POST", fx.sim.admin, "/explorer/fault",
                             "{\"status\":503,\"path\":\"/api/v1/reservations/workloads\"}", NULL,
                             5000, NULL),
                     200);
    assert_int_equal(
        ts_http("DELETE", fx.url, "/api/v1/deployments/crash1", NULL, headers, 5000, NULL), 202);
    assert_int_not_equal(scan(ALICE, NULL, NULL, link, &out), 0);
    if (out.data == NULL || strstr(out.data, "being deleted") == NULL)
        fail_msg("the app paid a deployment being deleted: %s", out.data ? out.data : "");
    gs_buf_free(&out);
    assert_int_equal(ts_http("DELETE", fx.sim.admin, "/explorer/fault", NULL, NULL, 5000, NULL),
                     200);
    /* the deletion then goes through (after the deployer's backoff) */
    for (int i = 0; i < 600 && ts_http("GET", fx.url, "/api/v1/deployments/crash1", NULL, headers,
                                       5000, NULL) != 404;
         i++)
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    assert_int_equal(
        ts_http("GET", fx.url, "/api/v1/deployments/crash1", NULL, headers, 5000, NULL), 404);
}

/* Waits until the read-only gateway at URL has copied the master's metadata up to at
 * least `records` (its /health tells), at most 30 s. */
static void wait_replicated(const char *url, json_int_t records)
{
    for (int i = 0; i < 300; i++) {
        json_t *h = NULL, *r;
        bool done = false;
        if (ts_http("GET", url, "/health", NULL, NULL, 5000, &h) == 200 &&
            (r = json_object_get(h, "replication")) != NULL)
            done = json_integer_value(json_object_get(r, "copied")) >= records &&
                   json_integer_value(json_object_get(h, "replication_lag")) == 0;
        json_decref(h);
        if (done)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    fail_msg("the gateway at %s did not copy %lld metadata records within 30 s", url,
             (long long)records);
}

/* Stores CONTENT through the gateway at URL with the AUTH header; ID gets the file id. */
static void store_through(const char *url, const char *auth, const char *content, char id[128])
{
    const char *headers[] = {auth, NULL};
    char path[128];
    json_t *ans = NULL;
    assert_int_equal(ts_http("POST", url, "/api/v1/files?ext=txt", content, headers, 30000, &ans),
                     202);
    snprintf(path, sizeof path, "/api/v1/jobs/%s?wait=60", gs_json_str(ans, "job"));
    json_decref(ans);
    assert_int_equal(ts_http("GET", url, path, NULL, NULL, 70000, &ans), 200);
    snprintf(id, 128, "%s", gs_json_str(ans, "status"));
    json_decref(ans);
    assert_int_equal(strlen(id), 48 + 8 + 4);
}

/* How many data 0-dbs (all but the first two, the metadata ones) NODE holds. */
static size_t data_zdbs_on(json_t *dep, const char *node)
{
    size_t i, n = 0;
    json_t *z;
    json_array_foreach(json_object_get(dep, "zdbs"), i, z) n +=
        i >= 2 && strcmp(gs_json_str(z, "node_id"), node) == 0;
    return n;
}

/* The deployment stores files: one uploaded through M1's gateway (with the secret gridstord
 * shows the admin) reads back through M2's read-only gateway once M1's machine and the
 * metadata master on its node are gone, and with them the nodes of 4 data 0-dbs. M2 reads
 * the metadata from its replica, which its follower kept up with the master. */
static void test_a_file_survives_losing_m1_and_four_data_nodes(void **state)
{
    json_t *dep = deployment("flaky"), *machines, *z;
    char m1[128], m2[128], m1_node[128], m2_node[128], auth[160], id[128], url[300];
    char down[4][128], *content;
    size_t n_down = 0;
    unsigned char raw[150000];
    size_t i, lost = 0;
    gs_buf_t back;
    long st;
    (void)state;
    machines = json_object_get(dep, "machines");
    snprintf(m1, sizeof m1, "%s", gs_json_str(json_array_get(machines, 0), "gateway"));
    snprintf(m2, sizeof m2, "%s", gs_json_str(json_array_get(machines, 1), "gateway"));
    snprintf(m1_node, sizeof m1_node, "%s", gs_json_str(json_array_get(machines, 0), "node_id"));
    snprintf(m2_node, sizeof m2_node, "%s", gs_json_str(json_array_get(machines, 1), "node_id"));
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", gs_json_str(dep, "gateway_secret"));
    randombytes_buf(raw, sizeof raw);
    content = malloc(2 * sizeof raw + 1);
    sodium_bin2hex(content, 2 * sizeof raw + 1, raw, sizeof raw);
    store_through(m1, auth, content, id);
    { /* the key clients pin is the one the gateways sign with */
        json_t *k = NULL;
        assert_int_equal(ts_http("GET", m1, "/api/v1/pubkey", NULL, NULL, 5000, &k), 200);
        assert_string_equal(gs_json_str(k, "public_key"), gs_json_str(dep, "gateway_public_key"));
        json_decref(k);
    }
    wait_replicated(m2, 1);
    /* M1's node goes, with what it holds (the metadata master among it); then data 0-dbs'
     * nodes until 4 data 0-dbs are lost in all, never M2's node */
    node_set(m1_node, "down");
    lost = data_zdbs_on(dep, m1_node);
    json_array_foreach(json_object_get(dep, "zdbs"), i, z)
    {
        const char *node = gs_json_str(z, "node_id");
        size_t here = data_zdbs_on(dep, node);
        bool seen = strcmp(node, m1_node) == 0 || strcmp(node, m2_node) == 0;
        for (size_t d = 0; d < n_down && !seen; d++)
            seen = strcmp(node, down[d]) == 0;
        if (seen || here == 0 || lost + here > 4 || n_down == GS_ARRAY_SIZE(down))
            continue;
        node_set(node, "down");
        snprintf(down[n_down++], sizeof down[0], "%s", node);
        lost += here;
    }
    assert_int_equal(lost, 4);
    /* M1's gateway is stopped with its node; it may take a moment to finish exiting */
    for (int tries = 0; tries < 150 && ts_http("GET", m1, "/health", NULL, NULL, 2000, NULL) == 200;
         tries++)
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    assert_int_not_equal(ts_http("GET", m1, "/health", NULL, NULL, 2000, NULL), 200);
    snprintf(url, sizeof url, "%s/api/v1/files/%s", m2, id);
    gs_buf_init(&back, 1 << 22);
    if ((st = ts_http_get_raw(url, &back)) != 200) {
        json_t *h = NULL;
        char *text;
        ts_http("GET", m2, "/health", NULL, NULL, 5000, &h);
        text = gs_json_dumps(h);
        fail_msg("M2 answered %ld (%.300s); its health: %s", st, back.data ? back.data : "",
                 text ? text : "none");
    }
    assert_int_equal(back.len, strlen(content));
    assert_memory_equal(back.data, content, back.len);
    gs_buf_free(&back);
    free(content);
    json_decref(dep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_deployment_shows_one_document_three_ways),
        cmocka_unit_test(test_bad_specs_are_refused_with_what_to_fix),
        cmocka_unit_test(test_the_app_signs_and_pays_once),
        cmocka_unit_test(test_bad_callbacks_change_nothing),
        cmocka_unit_test(test_a_killed_daemon_resumes_and_pays_once),
        cmocka_unit_test(test_the_cli_deploys_and_follows),
        cmocka_unit_test(test_delete_says_what_happens_to_the_money),
        cmocka_unit_test(test_explorer_errors_are_retried),
        cmocka_unit_test(test_extend_buys_more_time_for_every_pool),
        cmocka_unit_test(test_scale_refuses_what_it_cannot_do),
        cmocka_unit_test(test_scale_adds_zdbs_and_moves_the_gateways),
        cmocka_unit_test(test_a_killed_daemon_resumes_a_scale),
        cmocka_unit_test(test_a_refused_workload_moves_to_a_spare_node),
        cmocka_unit_test(test_a_silent_node_times_out_and_its_workload_moves),
        cmocka_unit_test(test_a_file_survives_losing_m1_and_four_data_nodes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
