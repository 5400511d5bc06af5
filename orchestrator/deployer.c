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
#include "deployer.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS             500
#define CHECKPOINT_EVERY_MS 30000
#define RUNWAY_IDLE_MS      5000 /* runways are looked at this often when none was due */
#define GRID_TIMEOUT_MS     20000
#define GS_CRASH_ENV        "GRIDSTORD_CRASH_AT" /* tests: SIGKILL at a named point */

typedef gs_dep_op_t op_t;
typedef gs_dep_done_cb op_done_cb;

/* Tests kill the daemon at named points to prove it resumes: SIGKILL, as an operator's
 * kill -9 or the kernel's OOM killer would, with nothing flushed or closed. */
void gs_dep_crash_point(const char *point)
{
    const char *at = getenv(GS_CRASH_ENV);
    if (at != NULL && strcmp(at, point) == 0) {
        gs_log(GS_LOG_WARN, "killing gridstord at %s as %s asks", point, GS_CRASH_ENV);
        raise(SIGKILL);
    }
}

void gs_dep_event(gs_daemon_t *d, const char *name, const char *level, const char *fmt, ...)
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
    if (op->probe)
        return;
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
    gs_dep_event(d, op->name, "warn",
                 "the grid did not answer well (%s%ld); trying again in %llu ms",
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
void gs_dep_call_with(op_t *op, const char *method, const char *base, const char *path,
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
    /* a call that waited for the disk may find the daemon stopping (no client any more):
     * what it was to send is recorded, and a restarted daemon takes it up */
    if (op->d->client == NULL || gs_http_send(op->d->client, &rq, on_answer, op, NULL) != GS_OK)
        op_free(op);
}

/* A call that waits for the state database to be on disk first. */
typedef struct {
    op_t *op;
    char *method, *url, *body, *extra[5];
} synced_call_t;

static void synced_call_free(synced_call_t *c)
{
    free(c->method);
    free(c->url);
    free(c->body);
    for (size_t i = 0; c->extra[i] != NULL; i++)
        free(c->extra[i]);
    free(c);
}

static void on_call_synced(int err, void *arg)
{
    synced_call_t *c = arg;
    if (err == GS_OK)
        gs_dep_call_with(c->op, c->method, c->url, "", c->body, (const char *const *)c->extra);
    else /* recorded but not sent: the next tick finds it unsent and sends it then */
        op_free(c->op);
    synced_call_free(c);
}

void gs_dep_call_synced(op_t *op, const char *method, const char *base, const char *path,
                        const char *body, const char *const *extra)
{
    synced_call_t *c = calloc(1, sizeof *c);
    bool ok = c != NULL;
    char url[1200];
    snprintf(url, sizeof url, "%s%s", base, path);
    if (ok) {
        c->op = op;
        c->method = gs_strdup(method);
        c->url = gs_strdup(url);
        c->body = body ? gs_strdup(body) : NULL;
        ok = c->method && c->url && (body == NULL || c->body);
    }
    for (size_t i = 0; ok && extra && extra[i] && i < 4; i++)
        ok = (c->extra[i] = gs_strdup(extra[i])) != NULL;
    if (ok && gs_store_sync(op->d->store, &op->d->loop, on_call_synced, c) == GS_OK)
        return;
    if (c != NULL)
        synced_call_free(c);
    op_free(op);
}

static void call(op_t *op, const char *method, const char *base, const char *path, const char *body)
{
    gs_dep_call_with(op, method, base, path, body, NULL);
}

op_t *gs_dep_op_new(gs_daemon_t *d, const char *name, const json_t *pool, op_done_cb done)
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
void gs_dep_get(gs_daemon_t *d, const char *name, const json_t *row, op_done_cb cb,
                const char *base, const char *fmt, ...)
{
    char path[256];
    va_list ap;
    op_t *op = gs_dep_op_new(d, name, row, cb);
    if (op == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    call(op, "GET", base, path, NULL);
}

void gs_dep_probe(gs_daemon_t *d, const char *name, const json_t *row, op_done_cb cb,
                  const char *base, const char *path)
{
    op_t *op = gs_dep_op_new(d, name, row, cb);
    if (op == NULL)
        return;
    op->probe = true;
    gs_dep_call_with(op, "GET", base, path, NULL, NULL);
}

/* ---- reserving a pool --------------------------------------------------------------------- */

static void on_reserved(op_t *op, long status, json_t *ans, const char *error)
{
    json_t *esc = json_object_get(ans, "escrow_information");
    const char *address = gs_json_str(esc, "address");
    int64_t rid = 0, amount = 0;
    if (error != NULL || status != 201 || !gs_json_int(ans, "reservation_id", &rid) ||
        address == NULL || !gs_json_int(esc, "amount", &amount) || amount <= 0) {
        gs_dep_event(op->d, op->name, "warn",
                     "reserving pool %" PRId64 " failed (%s%ld%s%s); retrying", op->idx,
                     error ? error : "HTTP ", error ? 0L : status,
                     gs_json_str(ans, "error") ? ": " : "",
                     gs_json_str(ans, "error") ? gs_json_str(ans, "error") : "");
        return;
    }
    gs_dep_crash_point("after_reserve");
    if (gs_store_pool_reserved(op->d->store, op->name, op->idx, rid, address, (uint64_t)amount,
                               NULL) == GS_OK) {
        char tft[32];
        gs_format_tft((uint64_t)amount, tft, sizeof tft);
        gs_dep_event(op->d, op->name, "info",
                     "pool %" PRId64 " reserved: reservation %" PRId64 ", escrow %s TFT", op->idx,
                     rid, tft);
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
    int64_t pool_id = 0; /* an extension's: the pool it extends */
    gs_json_int(plan_pool, "farm_id", &p.farm_id);
    gs_json_int(plan_pool, "cus", &cus);
    gs_json_int(plan_pool, "sus", &sus);
    gs_json_int(plan_pool, "pool_id", &pool_id);
    p.cus = (uint64_t)cus;
    p.sus = (uint64_t)sus;
    json_array_foreach(nodes, i, v) gs_strlist_push(&p.node_ids, json_string_value(v));
    body = gs_pool_reservation(&p, pool_id, d->identity.tid);
    gs_strlist_free(&p.node_ids);
    if (body == NULL)
        return NULL;
    text = (char *)gs_json_str(body, "json"); /* signed raw, as the explorer checks it */
    gs_sign_hex(&d->identity, text, strlen(text), sig);
    json_object_set_new(body, "customer_signature", json_string(sig));
    return body;
}

/* A pool row's reservation: the plan's pool, or an extension's own spec (with the
 * pool id it extends). */
static void reserve(gs_daemon_t *d, const char *name, const json_t *plan, const json_t *pool)
{
    int64_t idx = 0;
    const json_t *spec = json_object_get(pool, "spec_json");
    json_t *body;
    char *text;
    op_t *op;
    gs_json_int(pool, "idx", &idx);
    body = reservation_body(d, json_is_object(spec)
                                   ? spec
                                   : json_array_get(json_object_get(plan, "pools"), (size_t)idx));
    text = body ? gs_json_dumps(body) : NULL;
    json_decref(body);
    if (text != NULL && (op = gs_dep_op_new(d, name, pool, on_reserved)) != NULL)
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
        gs_dep_event(op->d, op->name, "warn",
                     "the wallet %s cannot pay the escrow of pool %" PRId64 "; fund it",
                     op->d->identity.address, op->idx);
        return;
    }
    gs_dep_event(op->d, op->name, "warn", "sending payment %s failed (%s%ld); retrying", txid,
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
        gs_dep_crash_point("before_pay_recorded");
        if (gs_store_pool_paying(d->store, op->name, op->idx, body, txid, NULL) == GS_OK) {
            gs_dep_crash_point("after_pay_recorded");
            gs_dep_event(d, op->name, "info",
                         "paying the escrow of reservation %" PRId64 " (transaction %s)", rid,
                         txid);
            /* sent from here once the record is on disk */
            if ((send = gs_dep_op_new(d, op->name, op->pool, on_paid_tx)) != NULL) {
                json_object_set_new(send->pool, "pay_txid", json_string(txid));
                gs_dep_call_synced(send, "POST", d->cfg.chain, "/transactions", body, NULL);
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
            gs_dep_event(op->d, op->name, "warn",
                         "the reservation of pool %" PRId64 " expired unpaid (%s); reserving again",
                         op->idx, gs_json_str(ans, "cause") ? gs_json_str(ans, "cause") : "");
        return;
    }
    gs_dep_get(op->d, op->name, op->pool, on_account, op->d->cfg.chain, "/accounts/%s",
               op->d->identity.address);
}

static void payment_status(gs_daemon_t *d, const char *name, const json_t *pool, op_done_cb cb)
{
    int64_t rid = 0;
    gs_json_int(pool, "reservation_id", &rid);
    gs_dep_get(d, name, pool, cb, d->cfg.explorer, "/reservations/pools/payment/%" PRId64, rid);
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
        gs_dep_event(op->d, op->name, "info", "pool %" PRId64 " paid and released", op->idx);
    else if (json_is_true(json_object_get(ans, "canceled"))) {
        char reason[512];
        snprintf(reason, sizeof reason,
                 "the explorer canceled the paid reservation of pool %" PRId64 ": %s", op->idx,
                 gs_json_str(ans, "cause") ? gs_json_str(ans, "cause") : "");
        gs_store_deployment_transition(op->d->store, op->name, gs_json_str(op->pool, "dep_state"),
                                       "failed", reason, NULL);
        gs_dep_event(op->d, op->name, "error", "%s", reason);
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
        gs_dep_event(op->d, op->name, "warn",
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
        if ((next = gs_dep_op_new(d, op->name, op->pool, on_resent_tx)) != NULL)
            call(next, "POST", d->cfg.chain, "/transactions", gs_json_str(op->pool, "pay_body"));
        return;
    }
    payment_status(d, op->name, op->pool, on_payment_status);
}

static void confirm(gs_daemon_t *d, const char *name, const json_t *pool)
{
    gs_dep_get(d, name, pool, on_tx_lookup, d->cfg.chain, "/transactions/%s",
               gs_json_str(pool, "pay_txid"));
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
        gs_dep_event(d, name, "info", "every pool is reserved: %zu pool%s", n, n == 1 ? "" : "s");
        return true;
    }
    if (strcmp(state, "pools_reserved") == 0 && paid == n &&
        gs_store_deployment_transition(d->store, name, "pools_reserved", "escrows_paid", NULL,
                                       NULL) == GS_OK) {
        gs_dep_event(d, name, "info", "every escrow is paid");
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
        n -= strcmp(ps, "ordered") == 0; /* an extension not paid for (yet) */
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

static bool advance_paid(gs_daemon_t *d, const json_t *dep)
{
    return advance(d, dep, "paid");
}

static bool advance_reserved(gs_daemon_t *d, const json_t *dep)
{
    return advance(d, dep, "pools_reserved");
}

/* ---- runway ------------------------------------------------------------------------------ */

static void on_pool_read(op_t *op, long status, json_t *ans, const char *error)
{
    int64_t empty_at = 0;
    if (error == NULL && status == 200 && gs_json_int(ans, "empty_at", &empty_at))
        gs_store_pool_runway(op->d->store, op->name, op->idx, empty_at, (int64_t)time(NULL), NULL);
}

/* A deployed deployment's paid pools are read again every GS_RUNWAY_REFRESH_S: when they
 * run dry (GET shows it; a scale prices its new 0-dbs until then). */
static bool refresh_runway(gs_daemon_t *d, const json_t *dep)
{
    const char *name = gs_json_str(dep, "name");
    json_t *pools = gs_store_pools(d->store, name), *p;
    int64_t now = (int64_t)time(NULL);
    size_t i;
    bool started = false;
    json_array_foreach(pools, i, p)
    {
        int64_t read = 0, rid = 0;
        gs_json_int(p, "runway_read", &read);
        if (json_is_object(json_object_get(p, "spec_json")) || /* extends another pool */
            strcmp(gs_json_str(p, "state"), "paid") != 0 || now - read < GS_RUNWAY_REFRESH_S ||
            !gs_json_int(p, "reservation_id", &rid))
            continue;
        gs_dep_get(d, name, p, on_pool_read, d->cfg.explorer, "/reservations/pools/%" PRId64, rid);
        started = true;
        break;
    }
    json_decref(pools);
    return started;
}

/* What moves a deployment in each state on; deletions first, runways last. */
static const struct {
    const char *state;
    bool (*next)(gs_daemon_t *d, const json_t *dep);
} steps[] = {
    {"deleting", gs_dep_advance_delete},         {"paid", advance_paid},
    {"pools_reserved", advance_reserved},        {"escrows_paid", gs_dep_advance_workloads},
    {"workloads_posted", gs_dep_check_gateways}, {"deployed", refresh_runway},
};

static void on_tick(uv_timer_t *t)
{
    gs_daemon_t *d = t->data;
    json_t *deps;
    size_t i;
    json_t *dep;
    if (uv_now(&d->loop) >= d->checkpoint_ms) { /* the WAL into the database, off the loop */
        d->checkpoint_ms = uv_now(&d->loop) + CHECKPOINT_EVERY_MS;
        gs_store_checkpoint(d->store, &d->loop);
    }
    if (d->deployer_busy || !d->have_identity || d->cfg.explorer == NULL || d->cfg.chain == NULL ||
        uv_now(&d->loop) < d->deployer_resume_ms)
        return;
    for (size_t k = 0; k < GS_ARRAY_SIZE(steps) && d->deployer_busy == 0; k++) {
        bool runways = steps[k].next == refresh_runway, started = false;
        if (runways && uv_now(&d->loop) < d->runway_check_ms)
            continue; /* none was due at the last look: no need to read every pool each tick */
        deps = gs_store_deployments_in(d->store, steps[k].state);
        json_array_foreach(deps, i, dep)
        {
            if ((started = steps[k].next(d, dep)))
                break;
        }
        json_decref(deps);
        if (runways && !started)
            d->runway_check_ms = uv_now(&d->loop) + RUNWAY_IDLE_MS;
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
