/* deployer.c — takes a paid deployment through its capacity pools on the grid:
 * reserve each pool (signed by the install), pay each escrow from the install's
 * wallet, and wait until the explorer says paid; then the deployment is escrows_paid.
 *
 * One grid call is in flight at a time, started from a timer tick. Every step reads
 * the state database, and whatever must not happen twice is recorded before it is
 * done: a payment is signed with the wallet's next sequence number and stored (body
 * and transaction id) before it is sent, so a daemon killed at any point either finds
 * it on the chain or sends the very same transaction again, which the chain applies at
 * most once. Reserving is not idempotent on the explorer, but an unpaid reservation
 * costs nothing and expires; a lost one is simply made again. */
#include "daemon.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS         500
#define GRID_TIMEOUT_MS 20000
#define GS_CRASH_ENV    "GRIDSTORD_CRASH_AT" /* tests: exit at a named point */

typedef struct op op_t;
typedef void (*op_done_cb)(op_t *op, long status, json_t *answer, const char *error);

struct op {
    gs_daemon_t *d;
    char name[128];
    int64_t idx;
    op_done_cb done;
    json_t *pool;        /* the pool (or workload) row the step is about */
    uint64_t generation; /* the store's when the call started */
};

/* Tests kill the daemon at named points to prove it resumes. */
static void crash_point(const char *point)
{
    const char *at = getenv(GS_CRASH_ENV);
    if (at != NULL && strcmp(at, point) == 0) {
        gs_log(GS_LOG_WARN, "crashing at %s as %s asks", point, GS_CRASH_ENV);
        _Exit(99);
    }
}

static void event(gs_daemon_t *d, const char *name, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void event(gs_daemon_t *d, const char *name, const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gs_store_event(d->store, name, level, msg, NULL);
}

/* ---- one grid call at a time ------------------------------------------------------------ */

static void on_tick(uv_timer_t *t);

/* A finished call. When it recorded progress, the next step starts on the next loop turn
 * instead of a tick later; failures and answers like "not yet" wait for the tick. */
static void op_free(op_t *op)
{
    gs_daemon_t *d = op->d;
    bool progressed = gs_store_generation(d->store) != op->generation;
    json_decref(op->pool);
    free(op);
    if (--d->deployer_busy == 0 && progressed && d->deployer_timer.data != NULL &&
        !uv_is_closing((uv_handle_t *)&d->deployer_timer))
        uv_timer_start(&d->deployer_timer, on_tick, 0, TICK_MS);
}

/* The grid did not answer, or answered with a server error: the deployer waits longer
 * each time (500 ms doubling up to 32 s) so that a struggling explorer or chain is not
 * hammered; any other answer resets the wait. */
static void note_outcome(op_t *op, const char *error, long status)
{
    gs_daemon_t *d = op->d;
    uint64_t wait_ms;
    if (error == NULL && status < 500) {
        d->deployer_failures = 0;
        return;
    }
    if (error != NULL && strcmp(error, "canceled") == 0)
        return; /* the daemon is stopping */
    if (d->deployer_failures < 6)
        d->deployer_failures++;
    wait_ms = (uint64_t)TICK_MS << d->deployer_failures;
    d->deployer_resume_ms = uv_now(&d->loop) + wait_ms;
    event(d, op->name, "warn", "the grid did not answer well (%s%ld); trying again in %llu ms",
          error ? error : "HTTP ", error ? 0L : status, (unsigned long long)wait_ms);
}

static void on_answer(gs_http_response_t *resp, const char *error, void *ud)
{
    op_t *op = ud;
    json_t *j = NULL;
    note_outcome(op, error, resp->status);
    if (error == NULL)
        j = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
    op->done(op, resp->status, j, error);
    json_decref(j);
    op_free(op);
}

/* method base+path with a JSON body (or none) and extra header lines (NULL or a
 * NULL-terminated list of at most 4); the answer goes to op->done. */
static void call_with(op_t *op, const char *method, const char *base, const char *path,
                      const char *body, const char *const *extra)
{
    char url[1200];
    const char *headers[6] = {"Content-Type: application/json"};
    gs_http_request_t rq = {.method = method,
                            .url = url,
                            .headers = headers,
                            .body = body,
                            .body_len = body ? strlen(body) : 0,
                            .max_body = 4 << 20,
                            .timeout_ms = GRID_TIMEOUT_MS};
    for (size_t i = 0; extra && extra[i] && i < 4; i++)
        headers[i + 1] = extra[i];
    snprintf(url, sizeof url, "%s%s", base, path);
    if (gs_http_send(op->d->client, &rq, on_answer, op, NULL) != GS_OK)
        op_free(op);
}

static void call(op_t *op, const char *method, const char *base, const char *path, const char *body)
{
    call_with(op, method, base, path, body, NULL);
}

static op_t *op_new(gs_daemon_t *d, const char *name, const json_t *pool, op_done_cb done)
{
    op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->d = d;
    snprintf(op->name, sizeof op->name, "%s", name);
    op->pool = json_deep_copy(pool);
    gs_json_int(pool, "idx", &op->idx);
    op->done = done;
    op->generation = gs_store_generation(d->store);
    d->deployer_busy++;
    return op;
}

/* GET base + the formatted path about row; the answer goes to cb. */
static void __attribute__((format(printf, 6, 7)))
get(gs_daemon_t *d, const char *name, const json_t *row, op_done_cb cb, const char *base,
    const char *fmt, ...)
{
    char path[256];
    va_list ap;
    op_t *op = op_new(d, name, row, cb);
    if (op == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    call(op, "GET", base, path, NULL);
}

/* ---- reserving a pool --------------------------------------------------------------------- */

static void on_reserved(op_t *op, long status, json_t *ans, const char *error)
{
    json_t *esc = json_object_get(ans, "escrow_information");
    const char *address = gs_json_str(esc, "address");
    int64_t rid = 0, amount = 0;
    if (error != NULL || status != 201 || !gs_json_int(ans, "reservation_id", &rid) ||
        address == NULL || !gs_json_int(esc, "amount", &amount) || amount <= 0) {
        event(op->d, op->name, "warn", "reserving pool %" PRId64 " failed (%s%ld%s%s); retrying",
              op->idx, error ? error : "HTTP ", error ? 0L : status,
              gs_json_str(ans, "error") ? ": " : "",
              gs_json_str(ans, "error") ? gs_json_str(ans, "error") : "");
        return;
    }
    crash_point("after_reserve");
    if (gs_store_pool_reserved(op->d->store, op->name, op->idx, rid, address, (uint64_t)amount,
                               NULL) == GS_OK) {
        char tft[32];
        gs_format_tft((uint64_t)amount, tft, sizeof tft);
        event(op->d, op->name, "info",
              "pool %" PRId64 " reserved: reservation %" PRId64 ", escrow %s TFT", op->idx, rid,
              tft);
    }
}

/* The plan's pool idx as a gs_plan_pool_t (for its reservation body). */
static json_t *reservation_body(gs_daemon_t *d, const json_t *plan_pool)
{
    gs_plan_pool_t p = {0};
    json_t *nodes = json_object_get(plan_pool, "node_ids"), *v, *body;
    int64_t cus = 0, sus = 0;
    size_t i;
    char sig[129], *text;
    gs_json_int(plan_pool, "farm_id", &p.farm_id);
    gs_json_int(plan_pool, "cus", &cus);
    gs_json_int(plan_pool, "sus", &sus);
    p.cus = (uint64_t)cus;
    p.sus = (uint64_t)sus;
    json_array_foreach(nodes, i, v) gs_strlist_push(&p.node_ids, json_string_value(v));
    body = gs_pool_reservation(&p, 0, d->identity.tid);
    gs_strlist_free(&p.node_ids);
    if (body == NULL)
        return NULL;
    text = (char *)gs_json_str(body, "json"); /* signed raw, as the explorer checks it */
    gs_sign_hex(&d->identity, text, strlen(text), sig);
    json_object_set_new(body, "customer_signature", json_string(sig));
    return body;
}

static void reserve(gs_daemon_t *d, const char *name, const json_t *plan, const json_t *pool)
{
    int64_t idx = 0;
    json_t *body;
    char *text;
    op_t *op;
    gs_json_int(pool, "idx", &idx);
    body = reservation_body(d, json_array_get(json_object_get(plan, "pools"), (size_t)idx));
    text = body ? gs_json_dumps(body) : NULL;
    json_decref(body);
    if (text != NULL && (op = op_new(d, name, pool, on_reserved)) != NULL)
        call(op, "POST", d->cfg.explorer, "/reservations/pools", text);
    free(text);
}

/* ---- paying an escrow --------------------------------------------------------------------- */

static void on_paid_tx(op_t *op, long status, json_t *ans, const char *error)
{
    const char *txid = gs_json_str(op->pool, "pay_txid");
    (void)ans;
    if (error == NULL && (status == 201 || status == 409))
        return; /* sent (or sent before: 409 means the sequence is used); confirm next tick */
    if (error == NULL && status == 402) {
        event(op->d, op->name, "warn",
              "the wallet %s cannot pay the escrow of pool %" PRId64 "; fund it",
              op->d->identity.address, op->idx);
        return;
    }
    event(op->d, op->name, "warn", "sending payment %s failed (%s%ld); retrying", txid,
          error ? error : "HTTP ", error ? 0L : status);
}

/* Signs the escrow payment with the wallet's next sequence, records it, then sends it. */
static void on_account(op_t *op, long status, json_t *ans, const char *error)
{
    gs_daemon_t *d = op->d;
    int64_t sequence = 0, rid = 0, amount = 0;
    char memo[32], txid[65], *body;
    unsigned char hash[32];
    json_t *wrapped;
    const char *text;
    op_t *send;
    if (error != NULL || status != 200 || !gs_json_int(ans, "sequence", &sequence))
        return; /* the chain is not answering: next tick */
    gs_json_int(op->pool, "reservation_id", &rid);
    gs_json_int(op->pool, "escrow_amount", &amount);
    snprintf(memo, sizeof memo, "p-%" PRId64, rid);
    body = gs_chain_payment(&d->identity, gs_json_str(op->pool, "escrow_address"), (uint64_t)amount,
                            memo, (uint64_t)sequence);
    wrapped = body ? json_loads(body, 0, NULL) : NULL;
    text = gs_json_str(wrapped, "json");
    if (text != NULL) {
        crypto_generichash(hash, sizeof hash, (const unsigned char *)text, strlen(text), NULL, 0);
        sodium_bin2hex(txid, sizeof txid, hash, sizeof hash);
        crash_point("before_pay_recorded");
        if (gs_store_pool_paying(d->store, op->name, op->idx, body, txid, NULL) == GS_OK) {
            crash_point("after_pay_recorded");
            event(d, op->name, "info",
                  "paying the escrow of reservation %" PRId64 " (transaction %s)", rid, txid);
            /* sent from here, right after recording it */
            if ((send = op_new(d, op->name, op->pool, on_paid_tx)) != NULL) {
                json_object_set_new(send->pool, "pay_txid", json_string(txid));
                call(send, "POST", d->cfg.chain, "/transactions", body);
            }
        }
    }
    json_decref(wrapped);
    free(body);
}

/* Before paying: a reservation that expired unpaid (the daemon was down for long) is
 * made again instead. */
static void on_unpaid_status(op_t *op, long status, json_t *ans, const char *error)
{
    if (error != NULL || status != 200)
        return;
    if (json_is_true(json_object_get(ans, "canceled"))) {
        if (gs_store_pool_set_state(op->d->store, op->name, op->idx, "reserved", "new", NULL) ==
            GS_OK)
            event(op->d, op->name, "warn",
                  "the reservation of pool %" PRId64 " expired unpaid (%s); reserving again",
                  op->idx, gs_json_str(ans, "cause") ? gs_json_str(ans, "cause") : "");
        return;
    }
    get(op->d, op->name, op->pool, on_account, op->d->cfg.chain, "/accounts/%s",
        op->d->identity.address);
}

static void payment_status(gs_daemon_t *d, const char *name, const json_t *pool, op_done_cb cb)
{
    int64_t rid = 0;
    gs_json_int(pool, "reservation_id", &rid);
    get(d, name, pool, cb, d->cfg.explorer, "/reservations/pools/payment/%" PRId64, rid);
}

static void pay(gs_daemon_t *d, const char *name, const json_t *pool)
{
    payment_status(d, name, pool, on_unpaid_status);
}

/* ---- confirming a payment ------------------------------------------------------------------ */

static void on_payment_status(op_t *op, long status, json_t *ans, const char *error)
{
    if (error != NULL || status != 200)
        return;
    if (json_is_true(json_object_get(ans, "paid")) &&
        json_is_true(json_object_get(ans, "released")) &&
        gs_store_pool_set_state(op->d->store, op->name, op->idx, "paying", "paid", NULL) == GS_OK)
        event(op->d, op->name, "info", "pool %" PRId64 " paid and released", op->idx);
    else if (json_is_true(json_object_get(ans, "canceled"))) {
        char reason[512];
        snprintf(reason, sizeof reason,
                 "the explorer canceled the paid reservation of pool %" PRId64 ": %s", op->idx,
                 gs_json_str(ans, "cause") ? gs_json_str(ans, "cause") : "");
        gs_store_deployment_transition(op->d->store, op->name, gs_json_str(op->pool, "dep_state"),
                                       "failed", reason, NULL);
        event(op->d, op->name, "error", "%s", reason);
    }
}

/* The recorded payment sent again because the chain did not have it. 409 now means its
 * sequence number went to another payment of the wallet, so this one can never apply
 * and it is safe to sign a new one. */
static void on_resent_tx(op_t *op, long status, json_t *ans, const char *error)
{
    if (error == NULL && status == 409 &&
        gs_store_pool_set_state(op->d->store, op->name, op->idx, "paying", "reserved", NULL) ==
            GS_OK) {
        event(op->d, op->name, "warn",
              "payment %s lost its sequence number to another payment; signing it again",
              gs_json_str(op->pool, "pay_txid"));
        return;
    }
    on_paid_tx(op, status, ans, error);
}

/* The recorded payment: on the chain already? Then ask the explorer; else send it again. */
static void on_tx_lookup(op_t *op, long status, json_t *ans, const char *error)
{
    gs_daemon_t *d = op->d;
    op_t *next;
    (void)ans;
    if (error != NULL || (status != 200 && status != 404))
        return;
    if (status == 404) { /* never arrived: the very same transaction again */
        if ((next = op_new(d, op->name, op->pool, on_resent_tx)) != NULL)
            call(next, "POST", d->cfg.chain, "/transactions", gs_json_str(op->pool, "pay_body"));
        return;
    }
    payment_status(d, op->name, op->pool, on_payment_status);
}

static void confirm(gs_daemon_t *d, const char *name, const json_t *pool)
{
    get(d, name, pool, on_tx_lookup, d->cfg.chain, "/transactions/%s",
        gs_json_str(pool, "pay_txid"));
}

/* ---- posting the 0-db workloads --------------------------------------------------------- */

static const char *node_key(const gs_daemon_t *d, const char *node_id)
{
    for (size_t i = 0; i < d->view.grid.n_nodes; i++)
        if (strcmp(d->view.grid.nodes[i].node_id, node_id) == 0)
            return d->view.grid.nodes[i].public_key_hex;
    return NULL;
}

static void fail_deployment(gs_daemon_t *d, const char *name, const char *from, const char *why)
{
    if (gs_store_deployment_transition(d->store, name, from, "failed", why, NULL) == GS_OK)
        event(d, name, "error", "%s", why);
}

/* The explorer's answer to a posted workload. */
static void on_workload_posted(op_t *op, long status, json_t *ans, const char *error)
{
    gs_store_workload_set_t set = {0};
    char why[512];
    if (error != NULL || status >= 500)
        return; /* posting stays recorded: the next tick looks it up by reference */
    if (status == 201 && gs_json_int(ans, "reservation_id", &set.workload_id)) {
        if (gs_store_workload_step(op->d->store, op->name, "zdb", op->idx, "posting", "posted",
                                   &set, NULL) == GS_OK)
            event(op->d, op->name, "info", "0-db %" PRId64 " posted: workload %" PRId64, op->idx,
                  set.workload_id);
        return;
    }
    snprintf(why, sizeof why, "the explorer refused 0-db %" PRId64 " (HTTP %ld): %s", op->idx,
             status, gs_json_str(ans, "error") ? gs_json_str(ans, "error") : "");
    gs_store_workload_step(op->d->store, op->name, "zdb", op->idx, "posting", "failed", NULL, NULL);
    fail_deployment(op->d, op->name, "escrows_paid", why);
}

static void post_workload(gs_daemon_t *d, const char *name, const json_t *w, const char *body)
{
    gs_http_signature_t sig;
    const char *extra[4];
    op_t *op = op_new(d, name, w, on_workload_posted);
    if (op == NULL)
        return;
    gs_http_signature(&d->identity, (int64_t)time(NULL), &sig);
    extra[0] = sig.authorization;
    extra[1] = sig.date;
    extra[2] = sig.threebot_id;
    extra[3] = NULL;
    call_with(op, "POST", d->cfg.explorer, "/reservations/workloads", body, extra);
}

/* Fills in the workload (pool, epoch, sealed password, reference), signs it, records it
 * with its password, then posts it. */
static void prepare_workload(gs_daemon_t *d, const char *name, const json_t *w, const json_t *pools)
{
    unsigned char raw[16], hash[32];
    char password[33], sealed[256], sig[129], *body = NULL;
    int64_t pool_idx = 0, rid = 0;
    const char *pk = node_key(d, gs_json_str(w, "node_id"));
    json_t *t = json_loads(gs_json_str(w, "template"), 0, NULL);
    gs_store_workload_set_t set = {0};
    int64_t idx = 0;
    gs_json_int(w, "idx", &idx);
    gs_json_int(w, "pool_idx", &pool_idx);
    gs_json_int(json_array_get(pools, (size_t)pool_idx), "reservation_id", &rid);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(password, sizeof password, raw, sizeof raw);
    if (t == NULL || pk == NULL || rid == 0 ||
        !gs_seal_for_node(&d->identity, pk, password, sealed, sizeof sealed))
        goto out; /* the node is not in the grid view yet, or the pool not reserved */
    json_object_set_new(t, "pool_id", json_integer(rid));
    json_object_set_new(t, "epoch", json_integer((json_int_t)time(NULL)));
    json_object_set_new(t, "password", json_string(sealed));
    json_object_set_new(t, "reference", json_string(gs_json_str(w, "reference")));
    if (gs_workload_challenge_hash(t, NULL, 0, hash, NULL) != GS_OK)
        goto out;
    gs_sign_hex(&d->identity, hash, sizeof hash, sig);
    json_object_set_new(t, "customer_signature", json_string(sig));
    if ((body = gs_json_dumps(t)) == NULL)
        goto out;
    set.password = password;
    set.body = body;
    if (gs_store_workload_step(d->store, name, "zdb", idx, "new", "posting", &set, NULL) == GS_OK) {
        crash_point("after_workload_recorded");
        post_workload(d, name, w, body);
    }
out:
    sodium_memzero(password, sizeof password);
    json_decref(t);
    free(body);
}

/* A workload recorded as posting: on the explorer already (found by its reference)? */
static void on_workload_search(op_t *op, long status, json_t *ans, const char *error)
{
    size_t i;
    json_t *w;
    gs_store_workload_set_t set = {0};
    if (error != NULL || status != 200 || !json_is_array(ans))
        return;
    json_array_foreach(ans, i, w)
    {
        const char *ref = gs_json_str(w, "reference");
        if (ref && strcmp(ref, gs_json_str(op->pool, "reference")) == 0 &&
            gs_json_int(w, "id", &set.workload_id)) {
            gs_store_workload_step(op->d->store, op->name, "zdb", op->idx, "posting", "posted",
                                   &set, NULL);
            return;
        }
    }
    /* never arrived: the very same signed workload again */
    post_workload(op->d, op->name, op->pool, gs_json_str(op->pool, "body"));
}

static void search_workload(gs_daemon_t *d, const char *name, const json_t *w)
{
    get(d, name, w, on_workload_search, d->cfg.explorer,
        "/reservations/workloads?customer_tid=%" PRId64 "&size=1000", d->identity.tid);
}

/* A posted workload's result from its node. */
static void on_workload_result(op_t *op, long status, json_t *ans, const char *error)
{
    json_t *result = json_object_get(ans, "result");
    gs_store_workload_set_t set = {0};
    int64_t state = -1;
    char *text, why[512];
    if (error != NULL || status != 200 || !gs_json_int(result, "state", &state) ||
        gs_json_str(result, "workload_id") == NULL)
        return; /* no result yet */
    text = gs_json_dumps(result);
    set.result_json = text;
    if (state == 1 && gs_store_workload_step(op->d->store, op->name, "zdb", op->idx, "posted", "ok",
                                             &set, NULL) == GS_OK)
        event(op->d, op->name, "info", "0-db %" PRId64 " is ready on node %s", op->idx,
              gs_json_str(op->pool, "node_id"));
    else if (state != 1 && gs_store_workload_step(op->d->store, op->name, "zdb", op->idx, "posted",
                                                  "failed", &set, NULL) == GS_OK) {
        snprintf(why, sizeof why, "0-db %" PRId64 " failed on node %s: %s", op->idx,
                 gs_json_str(op->pool, "node_id"),
                 gs_json_str(result, "message") ? gs_json_str(result, "message") : "");
        fail_deployment(op->d, op->name, "escrows_paid", why);
    }
    free(text);
}

static void poll_workload(gs_daemon_t *d, const char *name, const json_t *w)
{
    int64_t wid = 0;
    gs_json_int(w, "workload_id", &wid);
    get(d, name, w, on_workload_result, d->cfg.explorer, "/reservations/workloads/%" PRId64, wid);
}

/* The next step of a deployment whose escrows are paid: its 0-db workloads in order. */
static bool advance_workloads(gs_daemon_t *d, const json_t *dep)
{
    const char *name = gs_json_str(dep, "name");
    json_t *wls = gs_store_workloads(d->store, name), *pools = gs_store_pools(d->store, name), *w;
    size_t i, ok = 0, n = json_array_size(wls);
    bool started = false;
    json_array_foreach(wls, i, w)
    {
        const char *st = gs_json_str(w, "state");
        if (strcmp(st, "ok") == 0) {
            ok++;
            continue;
        }
        if (strcmp(st, "new") == 0)
            prepare_workload(d, name, w, pools);
        else if (strcmp(st, "posting") == 0)
            search_workload(d, name, w);
        else if (strcmp(st, "posted") == 0)
            poll_workload(d, name, w);
        else
            continue;
        started = true;
        break;
    }
    if (!started && ok == n &&
        gs_store_deployment_transition(d->store, name, "escrows_paid", "workloads_posted", NULL,
                                       NULL) == GS_OK) {
        event(d, name, "info", "every 0-db is ready: %zu namespace%s", n, n == 1 ? "" : "s");
        started = true;
    }
    json_decref(wls);
    json_decref(pools);
    return started;
}

/* ---- the tick ------------------------------------------------------------------------------- */

/* Moves the deployment on when its pools allow: paid → pools_reserved once none is new,
 * pools_reserved → escrows_paid once all are paid. */
static bool settle(gs_daemon_t *d, const char *name, const char *state, size_t n, size_t fresh,
                   size_t paid)
{
    if (strcmp(state, "paid") == 0 && fresh == 0 &&
        gs_store_deployment_transition(d->store, name, "paid", "pools_reserved", NULL, NULL) ==
            GS_OK) {
        event(d, name, "info", "every pool is reserved: %zu pool%s", n, n == 1 ? "" : "s");
        return true;
    }
    if (strcmp(state, "pools_reserved") == 0 && paid == n &&
        gs_store_deployment_transition(d->store, name, "pools_reserved", "escrows_paid", NULL,
                                       NULL) == GS_OK) {
        event(d, name, "info", "every escrow is paid");
        return true;
    }
    return false;
}

/* The next step of one deployment in state `state`; true when one was started or it moved
 * on. Pools go in order, one call at a time (payments use sequence numbers). */
static bool advance(gs_daemon_t *d, const json_t *dep, const char *state)
{
    const char *name = gs_json_str(dep, "name");
    json_t *plan = json_object_get(dep, "plan_json"), *pools, *p;
    size_t i, paid = 0, fresh = 0, n;
    bool started = false;
    if (gs_store_pools_init(d->store, name, json_object_get(plan, "pools"), NULL) != GS_OK)
        return false;
    pools = gs_store_pools(d->store, name);
    n = json_array_size(pools);
    json_array_foreach(pools, i, p)
    {
        const char *ps = gs_json_str(p, "state");
        paid += strcmp(ps, "paid") == 0;
        fresh += strcmp(ps, "new") == 0;
    }
    json_array_foreach(pools, i, p)
    {
        const char *ps = gs_json_str(p, "state");
        json_object_set_new(p, "dep_state", json_string(state));
        if (strcmp(ps, "new") == 0)
            reserve(d, name, plan, p);
        else if (strcmp(ps, "reserved") == 0 && strcmp(state, "pools_reserved") == 0)
            pay(d, name, p);
        else if (strcmp(ps, "paying") == 0)
            confirm(d, name, p);
        else
            continue;
        started = true;
        break;
    }
    json_decref(pools);
    return started || settle(d, name, state, n, fresh, paid);
}

static void on_tick(uv_timer_t *t)
{
    gs_daemon_t *d = t->data;
    json_t *deps;
    size_t i;
    json_t *dep;
    if (d->deployer_busy || !d->have_identity || d->cfg.explorer == NULL || d->cfg.chain == NULL ||
        uv_now(&d->loop) < d->deployer_resume_ms)
        return;
    for (int k = 0; k < 3 && d->deployer_busy == 0; k++) {
        static const char *const states[] = {"paid", "pools_reserved", "escrows_paid"};
        deps = gs_store_deployments_in(d->store, states[k]);
        json_array_foreach(deps, i, dep)
        {
            if (k < 2 ? advance(d, dep, states[k]) : advance_workloads(d, dep))
                break;
        }
        json_decref(deps);
    }
}

void gs_deployer_start(gs_daemon_t *d)
{
    uv_timer_init(&d->loop, &d->deployer_timer);
    d->deployer_timer.data = d;
    uv_timer_start(&d->deployer_timer, on_tick, TICK_MS, TICK_MS);
}

void gs_deployer_close(gs_daemon_t *d)
{
    if (d->deployer_timer.data != NULL)
        uv_close((uv_handle_t *)&d->deployer_timer, NULL);
}
