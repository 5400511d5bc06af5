/* planjson.c — the plan as plan.json: what was placed where, the pools and their
 * prices, and the signandpay documents. */
#include "internal.h"

#include <stdlib.h>

static json_t *tft(uint64_t stropes)
{
    return json_real((double)stropes / (double)GS_STROPES_PER_TFT);
}

static json_t *machines_json(const gs_plan_t *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_machines; i++) {
        const gs_plan_machine_t *m = &p->machines[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:i}", "role", m->role,
                         "gateway", m->gateway == GS_GW_READ_WRITE ? "read-write" : "read-only",
                         "metadata", m->metadata == GS_META_MASTER ? "master" : "replica",
                         "node_id", m->node_id, "farm_id", (json_int_t)m->farm_id, "cpu",
                         (json_int_t)m->cpu, "memory_mib", (int)m->memory_mib, "disk_gib",
                         (int)((m->disk_mib + 1023) / 1024), "disk_mib", (int)m->disk_mib));
    }
    return a;
}

static json_t *zdbs_json(const gs_plan_t *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_zdbs; i++) {
        const gs_plan_zdb_t *z = &p->zdbs[i];
        json_t *o = json_pack("{s:s, s:s, s:I, s:i, s:s, s:s}", "role",
                              z->role == GS_ZDB_META ? "meta" : "data", "node_id", z->node_id,
                              "farm_id", (json_int_t)z->farm_id, "size_gib", (int)z->size_gib,
                              "disk", gs__disk_name(z->disk), "mode", gs__mode_name(z->mode));
        if (z->role == GS_ZDB_META)
            json_object_set_new(o, "machine", json_string(z->machine));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *strlist_json(const gs_strlist_t *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->items[i]));
    return a;
}

static json_t *pools_json(const gs_plan_t *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_pools; i++) {
        const gs_plan_pool_t *pool = &p->pools[i];
        json_array_append_new(
            a,
            json_pack("{s:I, s:s, s:o, s:I, s:f, s:f, s:I, s:I, s:I, s:o}", "farm_id",
                      (json_int_t)pool->farm_id, "farm_name", pool->farm_name, "node_ids",
                      strlist_json(&pool->node_ids), "spares", (json_int_t)pool->spares,
                      "active_cu", pool->cu_milli / 1000.0, "active_su", pool->su_milli / 1000.0,
                      "cus", (json_int_t)pool->cus, "sus", (json_int_t)pool->sus, "amount_stropes",
                      (json_int_t)pool->amount, "amount_tft", tft(pool->amount)));
    }
    return a;
}

static json_t *docs_json(const gs_plan_t *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_docs; i++) {
        const gs_plan_doc_t *d = &p->docs[i];
        json_t *pools = json_array();
        for (size_t k = 0; k < d->n_pools; k++)
            json_array_append_new(pools, json_integer((json_int_t)d->pools[k]));
        json_array_append_new(a,
                              json_pack("{s:i, s:s, s:i, s:o, s:o, s:s}", "index", (int)d->index,
                                        "session", d->session, "bytes", (int)d->bytes, "amount_tft",
                                        tft(d->amount), "pools", pools, "document", d->json));
    }
    return a;
}

json_t *gs_plan_to_json(const gs_plan_t *p)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:{s:I, s:I}, s:I, s:s, s:o, s:o, s:o, s:{s:I, s:I}, "
                     "s:o, s:I, s:o, s:o}",
                     "name", p->name, "owner", p->owner, "topology", p->topology, "duration_s",
                     (json_int_t)p->duration_s, "codec", "data", (json_int_t)p->data, "parity",
                     (json_int_t)p->parity, "seed", (json_int_t)p->seed, "spread",
                     p->spread == GS_SPREAD_NODE ? "node" : "farm", "machines", machines_json(p),
                     "zdbs", zdbs_json(p), "pools", pools_json(p), "rates_stropes_per_second", "cu",
                     (json_int_t)p->cu_rate, "su", (json_int_t)p->su_rate, "documents",
                     docs_json(p), "total_stropes", (json_int_t)p->total, "total_tft",
                     tft(p->total), "notes", strlist_json(&p->notes));
}
