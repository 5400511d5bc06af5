/* workloads.c — a deployment's workloads on the grid once its escrows are paid: every
 * 0-db namespace first (its password sealed for its node), then every gateway machine
 * (gateways.c fills in its configuration). One call at a time, as the pools go.
 *
 * A workload is signed and recorded (state `posting`, with its body and the 0-db
 * password) before it is posted. A daemon killed after that looks it up by its
 * reference, unique to the deployment, and posts the very same body again only when the
 * explorer does not have it, so no workload is ever posted twice. */
#include "deployer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEARCH_PAGE 1000 /* workloads read per lookup by reference */

static const char *node_key(const gs_daemon_t *d, const char *node_id)
{
    for (size_t i = 0; i < d->view.grid.n_nodes; i++)
        if (strcmp(d->view.grid.nodes[i].node_id, node_id) == 0)
            return d->view.grid.nodes[i].public_key_hex;
    return NULL;
}

static bool is_zdb(const json_t *w)
{
    return strcmp(gs_json_str(w, "kind"), "zdb") == 0;
}

/* "0-db 3" or "gateway 1", for messages. */
static const char *label(const json_t *w, char *out, size_t len)
{
    int64_t idx = 0;
    gs_json_int(w, "idx", &idx);
    snprintf(out, len, "%s %" PRId64, is_zdb(w) ? "0-db" : "gateway machine", idx);
    return out;
}

static int step(gs_dep_op_t *op, const char *from, const char *to,
                const gs_store_workload_set_t *set)
{
    return gs_store_workload_step(op->d->store, op->name, gs_json_str(op->pool, "kind"), op->idx,
                                  from, to, set, NULL);
}

/* The explorer's answer to a posted workload. */
static void on_workload_posted(gs_dep_op_t *op, long status, json_t *ans, const char *error)
{
    gs_store_workload_set_t set = {0};
    char why[512], what[64];
    label(op->pool, what, sizeof what);
    if (error != NULL || status >= 500)
        return; /* posting stays recorded: the next tick looks it up by reference */
    set.posted_at = (int64_t)time(NULL);
    if (status == 201 && gs_json_int(ans, "reservation_id", &set.workload_id)) {
        if (step(op, "posting", "posted", &set) == GS_OK)
            gs_dep_event(op->d, op->name, "info", "%s posted: workload %" PRId64, what,
                         set.workload_id);
        return;
    }
    /* refused: nothing of it is on the grid; another node may take it */
    snprintf(why, sizeof why, "the explorer refused %s on node %s (HTTP %ld): %s", what,
             gs_json_str(op->pool, "node_id"), status,
             gs_json_str(ans, "error") ? gs_json_str(ans, "error") : "");
    if (step(op, "posting", "replacing", NULL) == GS_OK)
        gs_dep_event(op->d, op->name, "warn", "%s", why);
}

/* Posts the signed workload once its record is on disk. */
static void post_workload(gs_daemon_t *d, const char *name, const json_t *w, const char *body)
{
    gs_http_signature_t sig;
    const char *extra[4];
    gs_dep_op_t *op = gs_dep_op_new(d, name, w, on_workload_posted);
    if (op == NULL)
        return;
    gs_http_signature(&d->identity, (int64_t)time(NULL), &sig);
    extra[0] = sig.authorization;
    extra[1] = sig.date;
    extra[2] = sig.threebot_id;
    extra[3] = NULL;
    gs_dep_call_synced(op, "POST", d->cfg.explorer, "/reservations/workloads", body, extra);
}

/* A 0-db's password: random, sealed for its node in the body, kept in the clear in the
 * state database for the gateways' configuration. */
static bool fill_zdb(gs_daemon_t *d, json_t *t, const char *pk, char password[33])
{
    unsigned char raw[16];
    char sealed[256];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(password, 33, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    if (!gs_seal_for_node(&d->identity, pk, password, sealed, sizeof sealed))
        return false;
    json_object_set_new(t, "password", json_string(sealed));
    return true;
}

/* Signs the filled workload t, records it as posting, then posts it. */
static void sign_record_post(gs_daemon_t *d, const char *name, const json_t *w, json_t *t,
                             const char *password)
{
    unsigned char hash[32];
    char sig[129], *body = NULL;
    gs_store_workload_set_t set = {.password = password};
    int64_t idx = 0;
    gs_json_int(w, "idx", &idx);
    if (gs_workload_challenge_hash(t, NULL, 0, hash, NULL) != GS_OK)
        return;
    gs_sign_hex(&d->identity, hash, sizeof hash, sig);
    json_object_set_new(t, "customer_signature", json_string(sig));
    if ((body = gs_json_dumps(t)) == NULL)
        return;
    set.body = body;
    if (gs_store_workload_step(d->store, name, gs_json_str(w, "kind"), idx, "new", "posting", &set,
                               NULL) == GS_OK) {
        gs_dep_crash_point(is_zdb(w) ? "after_workload_recorded" : "after_gateway_recorded");
        post_workload(d, name, w, body);
    }
    free(body);
}

/* Fills in the workload (pool, epoch, secrets, reference), then signs, records and
 * posts it. Nothing happens while its node is not in the grid view yet. */
static void prepare_workload(gs_daemon_t *d, const json_t *dep, const json_t *w, const json_t *wls,
                             const json_t *pools)
{
    char password[33] = "";
    int64_t pool_idx = 0, rid = 0;
    const char *pk = node_key(d, gs_json_str(w, "node_id"));
    json_t *t = json_loads(gs_json_str(w, "template"), 0, NULL);
    bool ok;
    gs_json_int(w, "pool_idx", &pool_idx);
    gs_json_int(json_array_get(pools, (size_t)pool_idx), "reservation_id", &rid);
    ok = t != NULL && pk != NULL && rid != 0;
    if (ok) {
        json_object_set_new(t, "node_id", json_string(gs_json_str(w, "node_id")));
        json_object_set_new(t, "pool_id", json_integer(rid));
        json_object_set_new(t, "epoch", json_integer((json_int_t)time(NULL)));
        json_object_set_new(t, "reference", json_string(gs_json_str(w, "reference")));
        ok = is_zdb(w) ? fill_zdb(d, t, pk, password)
                       : gs_dep_fill_gateway(d, dep, w, wls, pk, t) == GS_OK;
    }
    if (ok)
        sign_record_post(d, gs_json_str(dep, "name"), w, t, is_zdb(w) ? password : NULL);
    sodium_memzero(password, sizeof password);
    json_decref(t);
}

/* The explorer's id of the workload with this install's reference in a page of its
 * workloads; false when it is not there. */
static bool find_by_reference(const json_t *page, const char *reference, int64_t *id)
{
    const json_t *w;
    size_t i;
    json_array_foreach(page, i, w)
    {
        const char *ref = gs_json_str(w, "reference");
        if (ref && strcmp(ref, reference) == 0 && gs_json_int(w, "id", id))
            return true;
    }
    return false;
}

/* A workload recorded as posting: on the explorer already (found by its reference)? */
static void on_workload_search(gs_dep_op_t *op, long status, json_t *ans, const char *error)
{
    gs_store_workload_set_t set = {.posted_at = (int64_t)time(NULL)};
    if (error != NULL || status != 200 || !json_is_array(ans))
        return;
    if (find_by_reference(ans, gs_json_str(op->pool, "reference"), &set.workload_id))
        step(op, "posting", "posted", &set);
    else /* never arrived: the very same signed workload again */
        post_workload(op->d, op->name, op->pool, gs_json_str(op->pool, "body"));
}

/* Looks for the install's workloads on the explorer; the page goes to cb. */
static void search_workload(gs_daemon_t *d, const char *name, const json_t *w, gs_dep_done_cb cb)
{
    gs_dep_get(d, name, w, cb, d->cfg.explorer,
               "/reservations/workloads?customer_tid=%" PRId64 "&size=%d", d->identity.tid,
               SEARCH_PAGE);
}

/* A posted workload's result from its node. */
static void on_workload_result(gs_dep_op_t *op, long status, json_t *ans, const char *error)
{
    json_t *result = json_object_get(ans, "result");
    gs_store_workload_set_t set = {0};
    int64_t state = -1;
    char *text, why[512], what[64];
    if (error != NULL || status != 200 || !gs_json_int(result, "state", &state) ||
        gs_json_str(result, "workload_id") == NULL)
        return; /* no result yet */
    label(op->pool, what, sizeof what);
    text = gs_json_dumps(result);
    set.result_json = text;
    if (state == 1 && step(op, "posted", "ok", &set) == GS_OK)
        gs_dep_event(op->d, op->name, "info", "%s is ready on node %s", what,
                     gs_json_str(op->pool, "node_id"));
    else if (state != 1 && step(op, "posted", "cancelling", &set) == GS_OK) {
        snprintf(why, sizeof why, "%s failed on node %s: %s; placing it on another node", what,
                 gs_json_str(op->pool, "node_id"),
                 gs_json_str(result, "message") ? gs_json_str(result, "message") : "");
        gs_dep_event(op->d, op->name, "warn", "%s", why);
    }
    free(text);
}

/* A posted workload: its result, or when its node is silent past workload_timeout, on
 * its way to another node. */
static void poll_workload(gs_daemon_t *d, const char *name, const json_t *w)
{
    int64_t wid = 0, posted_at = 0, idx = 0;
    char what[64];
    gs_json_int(w, "workload_id", &wid);
    gs_json_int(w, "idx", &idx);
    if (gs_json_int(w, "posted_at", &posted_at) && posted_at > 0 &&
        (uint64_t)((int64_t)time(NULL) - posted_at) > d->cfg.workload_timeout_s) {
        if (gs_store_workload_step(d->store, name, gs_json_str(w, "kind"), idx, "posted",
                                   "cancelling", NULL, NULL) == GS_OK)
            gs_dep_event(d, name, "warn",
                         "%s: no result from node %s in %llu s; placing it on another node",
                         label(w, what, sizeof what), gs_json_str(w, "node_id"),
                         (unsigned long long)d->cfg.workload_timeout_s);
        return;
    }
    gs_dep_get(d, name, w, on_workload_result, d->cfg.explorer, "/reservations/workloads/%" PRId64,
               wid);
}

bool gs_dep_advance_workloads(gs_daemon_t *d, const json_t *dep)
{
    const char *name = gs_json_str(dep, "name");
    json_t *wls = gs_store_workloads(d->store, name), *pools = gs_store_pools(d->store, name), *w;
    size_t i, ok = 0, n = json_array_size(wls), zdbs = 0;
    bool started = false;
    json_array_foreach(wls, i, w)
    {
        const char *st = gs_json_str(w, "state");
        zdbs += is_zdb(w);
        if (strcmp(st, "ok") == 0 || strcmp(st, "serving") == 0) {
            ok++;
            continue;
        }
        if (strcmp(st, "ordered") == 0) { /* a scale not paid (yet) */
            n--;
            zdbs--;
            continue;
        }
        if (strcmp(st, "new") == 0)
            prepare_workload(d, dep, w, wls, pools);
        else if (strcmp(st, "posting") == 0)
            search_workload(d, name, w, on_workload_search);
        else if (strcmp(st, "posted") == 0)
            poll_workload(d, name, w);
        else if (strcmp(st, "cancelling") == 0)
            gs_dep_sign_delete(d, name, w, "replacing");
        else if (strcmp(st, "replacing") == 0)
            gs_dep_replace(d, dep, w, wls);
        else
            continue;
        started = true;
        break;
    }
    if (!started && ok == n &&
        gs_store_deployment_transition(d->store, name, "escrows_paid", "workloads_posted", NULL,
                                       NULL) == GS_OK) {
        gs_dep_event(d, name, "info",
                     "every workload is ready: %zu 0-db%s and %zu gateway machine%s", zdbs,
                     zdbs == 1 ? "" : "s", n - zdbs, n - zdbs == 1 ? "" : "s");
        started = true;
    }
    json_decref(wls);
    json_decref(pools);
    return started;
}

/* ---- deleting -------------------------------------------------------------------------- */

/* A workload recorded as posting while its deployment is deleted: on the grid (then it
 * is deleted next), or never arrived (nothing to delete). */
static void on_delete_search(gs_dep_op_t *op, long status, json_t *ans, const char *error)
{
    gs_store_workload_set_t set = {.posted_at = (int64_t)time(NULL)};
    if (error != NULL || status != 200 || !json_is_array(ans))
        return;
    if (find_by_reference(ans, gs_json_str(op->pool, "reference"), &set.workload_id))
        step(op, "posting", "posted", &set);
    else
        step(op, "posting", "deleted", NULL);
}

bool gs_dep_advance_delete(gs_daemon_t *d, const json_t *dep)
{
    const char *name = gs_json_str(dep, "name");
    json_t *wls = gs_store_workloads(d->store, name), *w;
    size_t i;
    bool started = false;
    json_array_foreach(wls, i, w)
    {
        const char *st = gs_json_str(w, "state");
        if (json_is_integer(json_object_get(w, "old_workload_id")))
            gs_dep_retire_old(d, name, w); /* deleted while being scaled */
        else if (strcmp(st, "posting") == 0)
            search_workload(d, name, w, on_delete_search);
        else if (strcmp(st, "posted") == 0 || strcmp(st, "ok") == 0 || strcmp(st, "serving") == 0 ||
                 strcmp(st, "cancelling") == 0)
            gs_dep_sign_delete(d, name, w, "deleted");
        else
            continue;
        started = true;
        break;
    }
    json_decref(wls);
    if (!started && gs_store_deployment_delete(d->store, name, NULL) == GS_OK) {
        gs_log(GS_LOG_INFO, "deployment %s deleted: its workloads are gone from the grid", name);
        started = true;
    }
    return started;
}
