/* replace.c — deleting a workload on the grid, and placing one again. A workload that failed on its node, or whose node did not answer within
 * workload_timeout, is placed again on a spare node of its pool (plan.c lists up to two
 * per pool, free of charge): first it is cancelled on the grid (the install is among the
 * delete signers), then a spare that is up, holds nothing of the deployment, was not
 * tried before for this workload and has room for it is chosen, and the workload is
 * recorded there as new, with a new reference, before anything is posted. A workload
 * refused by the explorer is not on the grid and needs no cancelling. After
 * GS_MAX_ATTEMPTS nodes, or with no spare left, the deployment fails with the reason. */
#include "deployer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GS_MAX_ATTEMPTS 3

static bool is_zdb(const json_t *w)
{
    return strcmp(gs_json_str(w, "kind"), "zdb") == 0;
}

/* ---- cancelling on the grid ----------------------------------------------------------- */

/* The explorer's answer to a signed deletion: the workload steps from op's "_from" to
 * "_to" state. 400 means it is no longer deployed (deleted already, or never
 * provisioned), which is as good. */
static void on_deleted(gs_dep_op_t *op, long status, json_t *ans, const char *error)
{
    (void)ans;
    if (error != NULL || (status != 201 && status != 200 && status != 400))
        return; /* asked again on the next tick */
    gs_dep_crash_point("before_delete_recorded");
    if (gs_store_workload_step(op->d->store, op->name, gs_json_str(op->pool, "kind"), op->idx,
                               gs_json_str(op->pool, "_from"), gs_json_str(op->pool, "_to"), NULL,
                               NULL) == GS_OK)
        gs_dep_event(op->d, op->name, "info", "workload %lld deleted on node %s",
                     (long long)json_integer_value(json_object_get(op->pool, "workload_id")),
                     gs_json_str(op->pool, "node_id"));
}

/* Signs the deletion of workload wid, posted with body_text, about row w; the
 * explorer's answer goes to done with the row (and `extra` members) in op->pool. */
static void sign_delete(gs_daemon_t *d, const char *name, const json_t *w, const char *body_text,
                        int64_t wid, gs_dep_done_cb done, json_t *extra)
{
    json_t *body = body_text ? json_loads(body_text, 0, NULL) : NULL, *req;
    unsigned char hash[32];
    char sig[129], path[128], *text = NULL;
    gs_dep_op_t *op;
    if (body != NULL &&
        gs_workload_challenge_hash(body, "delete", d->identity.tid, hash, NULL) == GS_OK) {
        gs_sign_hex(&d->identity, hash, sizeof hash, sig);
        req = json_pack("{s:I, s:s, s:I}", "tid", (json_int_t)d->identity.tid, "signature", sig,
                        "epoch", (json_int_t)time(NULL));
        text = req ? gs_json_dumps(req) : NULL;
        json_decref(req);
    }
    json_decref(body);
    snprintf(path, sizeof path, "/reservations/workloads/%" PRId64 "/sign/delete", wid);
    if (text != NULL && (op = gs_dep_op_new(d, name, w, done)) != NULL) {
        json_object_update(op->pool, extra);
        gs_dep_call_with(op, "POST", d->cfg.explorer, path, text, NULL);
    }
    json_decref(extra);
    free(text);
}

void gs_dep_sign_delete(gs_daemon_t *d, const char *name, const json_t *w, const char *to)
{
    int64_t wid = 0;
    gs_json_int(w, "workload_id", &wid);
    sign_delete(d, name, w, gs_json_str(w, "body"), wid, on_deleted,
                json_pack("{s:s, s:s}", "_from", gs_json_str(w, "state"), "_to", to));
}

/* The old container of a gateway machine posted again is gone from the grid. */
static void on_retired(gs_dep_op_t *op, long status, json_t *ans, const char *error)
{
    int64_t wid = 0;
    (void)ans;
    if (error != NULL || (status != 201 && status != 200 && status != 400))
        return; /* asked again on the next tick */
    gs_json_int(op->pool, "old_workload_id", &wid);
    gs_dep_crash_point("before_retire_recorded");
    if (gs_store_workload_retired(op->d->store, op->name, gs_json_str(op->pool, "kind"), op->idx,
                                  wid, NULL) == GS_OK)
        gs_dep_event(op->d, op->name, "info",
                     "gateway machine %" PRId64 ": its old container (workload %" PRId64
                     ") deleted",
                     op->idx, wid);
}

void gs_dep_retire_old(gs_daemon_t *d, const char *name, const json_t *w)
{
    int64_t wid = 0;
    gs_json_int(w, "old_workload_id", &wid);
    sign_delete(d, name, w, gs_json_str(w, "old_body"), wid, on_retired, json_object());
}

/* ---- choosing a spare ------------------------------------------------------------------ */

static bool listed(const json_t *list, const char *node_id)
{
    const json_t *v;
    size_t i;
    json_array_foreach(list, i, v) if (json_is_string(v) &&
                                       strcmp(json_string_value(v), node_id) == 0) return true;
    return false;
}

/* Whether any workload of the deployment sits on node_id. */
static bool taken(const json_t *wls, const char *node_id)
{
    const json_t *w;
    size_t i;
    json_array_foreach(wls, i, w) if (strcmp(gs_json_str(w, "node_id"), node_id) == 0) return true;
    return false;
}

/* Whether the node has room for the workload (its plan entry). */
static bool has_room(const gs_node_t *n, const json_t *w, const json_t *plan)
{
    gs_res_t free = gs_node_free(n);
    int64_t idx = 0, size = 0, cpu = 0, mem = 0, disk = 0;
    const json_t *entry;
    gs_json_int(w, "idx", &idx);
    if (is_zdb(w)) {
        entry = json_array_get(json_object_get(plan, "zdbs"), (size_t)idx);
        gs_json_int(entry, "size_gib", &size);
        return strcmp(gs_json_str(entry, "disk"), "ssd") == 0 ? free.sru >= (double)size
                                                              : free.hru >= (double)size;
    }
    entry = json_array_get(json_object_get(plan, "machines"), (size_t)idx);
    gs_json_int(entry, "cpu", &cpu);
    gs_json_int(entry, "memory_mib", &mem);
    gs_json_int(entry, "disk_mib", &disk);
    return free.cru >= (double)cpu && free.mru >= mem / 1024.0 && free.sru >= disk / 1024.0;
}

/* A spare of the workload's pool for it, or NULL. */
static const char *pick_spare(const gs_daemon_t *d, const json_t *plan, const json_t *w,
                              const json_t *wls, const json_t *tried)
{
    int64_t pool_idx = 0;
    const json_t *pool, *v;
    size_t i;
    gs_json_int(w, "pool_idx", &pool_idx);
    pool = json_array_get(json_object_get(plan, "pools"), (size_t)pool_idx);
    json_array_foreach(json_object_get(pool, "node_ids"), i, v)
    {
        const char *id = json_string_value(v);
        for (size_t k = 0; id != NULL && k < d->view.grid.n_nodes; k++) {
            const gs_node_t *n = &d->view.grid.nodes[k];
            if (strcmp(n->node_id, id) == 0 && !taken(wls, id) && !listed(tried, id) &&
                gs_node_is_up(&d->view.grid, n) && has_room(n, w, plan))
                return id;
        }
    }
    return NULL;
}

/* The workload's reference for its next attempt: the first one's, then "-rN". */
static void next_reference(const json_t *w, char *out, size_t len)
{
    const char *ref = gs_json_str(w, "reference"), *dash = strrchr(ref, '-');
    int64_t attempt = 0;
    size_t base = strlen(ref);
    gs_json_int(w, "attempt", &attempt);
    if (attempt > 0 && dash != NULL && dash[1] == 'r')
        base = (size_t)(dash - ref);
    snprintf(out, len, "%.*s-r%" PRId64, (int)base, ref, attempt + 1);
}

static void give_up(gs_daemon_t *d, const char *name, const json_t *w, const char *why)
{
    if (gs_store_workload_step(d->store, name, gs_json_str(w, "kind"),
                               json_integer_value(json_object_get(w, "idx")), "replacing", "failed",
                               NULL, NULL) == GS_OK &&
        gs_store_deployment_transition(d->store, name, "escrows_paid", "failed", why, NULL) ==
            GS_OK)
        gs_dep_event(d, name, "error", "%s", why);
}

void gs_dep_replace(gs_daemon_t *d, const json_t *dep, const json_t *w, const json_t *wls)
{
    const char *name = gs_json_str(dep, "name"), *spare;
    json_t *tried = json_deep_copy(json_object_get(w, "tried_json"));
    int64_t attempt = 0, idx = 0;
    char reference[128], why[512], *tried_text;
    gs_json_int(w, "attempt", &attempt);
    gs_json_int(w, "idx", &idx);
    if (!json_is_array(tried))
        tried = json_array();
    json_array_append_new(tried, json_string(gs_json_str(w, "node_id")));
    spare = attempt + 1 < GS_MAX_ATTEMPTS
                ? pick_spare(d, json_object_get(dep, "plan_json"), w, wls, tried)
                : NULL;
    if (spare == NULL) {
        snprintf(why, sizeof why, "%s %" PRId64 " could not be placed: %s",
                 is_zdb(w) ? "0-db" : "gateway machine", idx,
                 attempt + 1 >= GS_MAX_ATTEMPTS
                     ? "it failed on every node tried"
                     : "no spare node of its pool is up with room for it");
        give_up(d, name, w, why);
        json_decref(tried);
        return;
    }
    next_reference(w, reference, sizeof reference);
    tried_text = gs_json_dumps(tried);
    if (tried_text != NULL &&
        gs_store_workload_replace(d->store, name, gs_json_str(w, "kind"), idx, "replacing", spare,
                                  reference, tried_text, NULL) == GS_OK)
        gs_dep_event(d, name, "info", "%s %" PRId64 " placed again on node %s (was on %s)",
                     is_zdb(w) ? "0-db" : "gateway machine", idx, spare, gs_json_str(w, "node_id"));
    free(tried_text);
    json_decref(tried);
}
