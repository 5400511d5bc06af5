/* scale.c — POST /api/v1/deployments/{name}/scale {"zdbs": N}: more data 0-dbs for a
 * deployed deployment, N in all. The new 0-dbs are placed now, on up nodes of the farms
 * whose pools the deployment already has, never on a node holding one of its 0-dbs,
 * spreading over the farms holding the fewest. Their storage units are paid until each
 * pool runs dry (its runway as last read from the explorer) through the same
 * sign-and-pay path as an extension: one document, the pools extended with the new nodes.
 *
 * Once the app signed and paid it, the deployment takes the new plan and goes back to
 * `paid`; the deployer extends the pools, posts the 0-dbs, then posts each gateway
 * machine again with every backend in its configuration (GRIDSTOR_BACKEND_20, ...; new
 * files spread over all of them) while the old containers keep serving, and deletes the
 * old ones once the new gateways answer. Files stored before stay where they are.
 *
 * {"size": S} (larger 0-dbs) is answered 501: a 0-db's size is fixed when it is posted,
 * so growing them means moving every shard to new ones, which is not built. */
#include "daemon.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCALE_MAX_ZDBS 100 /* data 0-dbs in all: the gateways' configuration must fit a workload */
#define SCALE_MIN_S    3600
#define SCALE_MAX_S    (5 * 365 * 86400)

typedef struct {
    int64_t zdbs;
    uint64_t size;
} scale_args_t;

static const gs_cfg_key_t scale_keys[] = {
    {"zdbs", GS_CFG_INT, offsetof(scale_args_t, zdbs), 1, SCALE_MAX_ZDBS},
    {"size", GS_CFG_SIZE, offsetof(scale_args_t, size), 1, (int64_t)1 << 50},
    {NULL},
};

/* What a scale is about: the deployment, its plan as it will be, the new rows. */
typedef struct {
    gs_daemon_t *d;
    const char *name;
    json_t *plan;  /* a copy of the deployment's plan, growing */
    json_t *rows;  /* its pool rows (runway, reservation ids) */
    json_t *wls;   /* its workload rows */
    json_t *added; /* [{"idx","node_id","farm_id","pool_idx"}] */
    size_t before; /* data 0-dbs before */
    int64_t size_gib;
    const char *disk;
    uint64_t su_milli; /* one new 0-db's storage units */
    int status;        /* the refusal, when not 0 */
    gs_diag_t diag;
} scale_t;

static int refuse(scale_t *s, int status, const char *fmt, const char *arg)
{
    s->status = status;
    return gs_diag_set(&s->diag, GS_EINVAL, fmt, arg);
}

/* The first data 0-db of the plan (its size and disk are the new ones') and its index;
 * *count gets how many there are. */
static const json_t *first_data(const json_t *plan, size_t *first, size_t *count)
{
    const json_t *z, *found = NULL;
    size_t i;
    *count = 0;
    json_array_foreach(json_object_get(plan, "zdbs"), i, z)
    {
        if (strcmp(gs_json_str(z, "role"), "data") != 0)
            continue;
        if ((*count)++ == 0) {
            found = z;
            *first = i;
        }
    }
    return found;
}

static bool holds_zdb(const json_t *plan, const char *node_id)
{
    const json_t *z;
    size_t i;
    json_array_foreach(json_object_get(plan, "zdbs"), i,
                       z) if (strcmp(gs_json_str(z, "node_id"), node_id) == 0) return true;
    return false;
}

/* Data 0-dbs of the plan in the farm. */
static size_t farm_load(const json_t *plan, int64_t farm_id)
{
    const json_t *z;
    size_t i, n = 0;
    json_array_foreach(json_object_get(plan, "zdbs"), i, z) n +=
        json_integer_value(json_object_get(z, "farm_id")) == farm_id &&
        strcmp(gs_json_str(z, "role"), "data") == 0;
    return n;
}

/* The plan's pool of the farm (SIZE_MAX: none). */
static size_t pool_of_farm(const json_t *plan, int64_t farm_id)
{
    const json_t *p;
    size_t i;
    json_array_foreach(json_object_get(plan, "pools"), i,
                       p) if (json_integer_value(json_object_get(p, "farm_id")) ==
                              farm_id) return i;
    return SIZE_MAX;
}

static double free_disk(const scale_t *s, const gs_node_t *n)
{
    gs_res_t free = gs_node_free(n);
    return strcmp(s->disk, "ssd") == 0 ? free.sru : free.hru;
}

/* The nodes that may take a new 0-db: in a farm of the deployment's pools, up, with
 * room, holding none of its 0-dbs; *n gets how many (a new array, NULL when none). */
static const gs_node_t **candidates(const scale_t *s, size_t *n)
{
    const gs_grid_t *g = &s->d->view.grid;
    const gs_node_t **out = NULL;
    *n = 0;
    for (size_t k = 0; k < g->n_nodes; k++) {
        const gs_node_t *node = &g->nodes[k];
        if (pool_of_farm(s->plan, node->farm_id) == SIZE_MAX || !gs_node_is_up(g, node) ||
            free_disk(s, node) < (double)s->size_gib || holds_zdb(s->plan, node->node_id))
            continue;
        if (out == NULL && (out = calloc(g->n_nodes, sizeof *out)) == NULL)
            return NULL;
        out[(*n)++] = node;
    }
    return out;
}

/* The best of the candidates left for one more 0-db, taken from the list: the farm with
 * the fewest data 0-dbs first, then the most free disk. NULL when none is left. */
static const gs_node_t *take_best(const scale_t *s, const gs_node_t **cands, size_t n)
{
    size_t best = SIZE_MAX, best_load = SIZE_MAX;
    const gs_node_t *picked;
    for (size_t k = 0; k < n; k++) {
        size_t load;
        if (cands[k] == NULL)
            continue;
        load = farm_load(s->plan, cands[k]->farm_id);
        if (best == SIZE_MAX || load < best_load ||
            (load == best_load && free_disk(s, cands[k]) > free_disk(s, cands[best]))) {
            best = k;
            best_load = load;
        }
    }
    if (best == SIZE_MAX)
        return NULL;
    picked = cands[best];
    cands[best] = NULL;
    return picked;
}

/* Adds a data 0-db on node n to the plan: its entry, its node in the farm's pool, its
 * units in the pool's active ones. */
static void add_zdb(scale_t *s, const gs_node_t *n, const json_t *like)
{
    json_t *zdbs = json_object_get(s->plan, "zdbs"), *z = json_deep_copy(like);
    size_t pool_idx = pool_of_farm(s->plan, n->farm_id);
    json_t *pool = json_array_get(json_object_get(s->plan, "pools"), pool_idx);
    json_t *nodes = json_object_get(pool, "node_ids"), *v;
    bool listed = false;
    size_t i;
    json_object_set_new(z, "node_id", json_string(n->node_id));
    json_object_set_new(z, "farm_id", json_integer(n->farm_id));
    json_array_append_new(s->added, json_pack("{s:I, s:s, s:I, s:I}", "idx",
                                              (json_int_t)json_array_size(zdbs), "node_id",
                                              n->node_id, "farm_id", (json_int_t)n->farm_id,
                                              "pool_idx", (json_int_t)pool_idx));
    json_array_append_new(zdbs, z);
    json_array_foreach(nodes, i, v) listed =
        listed || strcmp(json_string_value(v), n->node_id) == 0;
    if (!listed)
        json_array_append_new(nodes, json_string(n->node_id));
    json_object_set_new(pool, "active_su",
                        json_real(json_number_value(json_object_get(pool, "active_su")) +
                                  (double)s->su_milli / 1000.0));
}

static int place(scale_t *s, size_t want)
{
    size_t first = 0;
    const json_t *like = first_data(s->plan, &first, &s->before);
    const gs_node_t **cands;
    size_t n_cands = 0;
    json_t *tmpl;
    int64_t disk = 0;
    if (like == NULL)
        return refuse(s, 409, "%s has no data 0-db to take after", s->name);
    if (want <= s->before) {
        char have[160];
        snprintf(have, sizeof have, "%s has %zu data 0-dbs already; ask for more (scale only adds)",
                 s->name, s->before);
        return refuse(s, 400, "%s", have);
    }
    gs_json_int(like, "size_gib", &s->size_gib);
    s->disk = gs_json_str(like, "disk");
    disk = strcmp(s->disk, "ssd") == 0 ? GS_DISK_SSD : GS_DISK_HDD;
    gs_units_zdb((uint32_t)s->size_gib, (int)disk, &(uint64_t){0}, &s->su_milli);
    tmpl = json_deep_copy(like); /* the plan's array grows under like */
    cands = candidates(s, &n_cands);
    for (size_t k = s->before; k < want; k++) {
        const gs_node_t *n = take_best(s, cands, n_cands);
        if (n == NULL) {
            char why[256];
            snprintf(why, sizeof why,
                     "only %zu more node%s of the deployment's farms can take a %" PRId64
                     " GiB %s 0-db (up, with room, holding none of its 0-dbs); %zu asked",
                     k - s->before, k - s->before == 1 ? "" : "s", s->size_gib,
                     strcmp(s->disk, "ssd") == 0 ? "SSD" : "HDD", want - s->before);
            free(cands);
            json_decref(tmpl);
            return refuse(s, 422, "%s", why);
        }
        add_zdb(s, n, tmpl);
    }
    free(cands);
    json_decref(tmpl);
    return GS_OK;
}

/* ---- paying for them ------------------------------------------------------------------- */

/* One extension pool per pool receiving 0-dbs, their units until the pool runs dry. */
static int price_pools(scale_t *s, gs_extension_t *e)
{
    const json_t *a, *row;
    size_t i;
    int64_t now = (int64_t)time(NULL);
    e->pools = calloc(json_array_size(s->added) + 1, sizeof *e->pools);
    if (e->pools == NULL)
        return refuse(s, 500, "%s", "out of memory");
    json_array_foreach(s->added, i, a)
    {
        int64_t pool_idx = 0, farm = 0, rid = 0, empty_at = 0;
        gs_ext_pool_t *x = NULL;
        gs_json_int(a, "pool_idx", &pool_idx);
        gs_json_int(a, "farm_id", &farm);
        for (size_t k = 0; k < e->n_pools && x == NULL; k++)
            x = e->pools[k].farm_id == farm ? &e->pools[k] : NULL;
        if (x == NULL) {
            row = json_array_get(s->rows, (size_t)pool_idx);
            if (!gs_json_int(row, "reservation_id", &rid) ||
                !gs_json_int(row, "empty_at", &empty_at))
                return refuse(s, 503, "%s",
                              "the pools' runway has not been read from the explorer yet "
                              "(gridstord reads it every minute); retry shortly");
            x = &e->pools[e->n_pools++];
            *x = (gs_ext_pool_t){.farm_id = farm, .pool_id = rid};
            x->by_s = empty_at - now < SCALE_MIN_S   ? SCALE_MIN_S
                      : empty_at - now > SCALE_MAX_S ? SCALE_MAX_S
                                                     : (uint64_t)(empty_at - now);
        }
        x->su_milli += s->su_milli;
    }
    return GS_OK;
}

/* The pool rows to store: each extension with its pool's nodes, the new ones included. */
static json_t *ordered_pools(const scale_t *s, const gs_extension_t *e)
{
    json_t *out = json_array();
    for (size_t k = 0; k < e->n_pools; k++) {
        const gs_ext_pool_t *x = &e->pools[k];
        size_t idx = pool_of_farm(s->plan, x->farm_id);
        const json_t *pool = json_array_get(json_object_get(s->plan, "pools"), idx);
        json_array_append_new(
            out, json_pack("{s:I, s:{s:I, s:I, s:O, s:I, s:I}}", "farm_id", (json_int_t)x->farm_id,
                           "spec", "pool_id", (json_int_t)x->pool_id, "farm_id",
                           (json_int_t)x->farm_id, "node_ids", json_object_get(pool, "node_ids"),
                           "cus", (json_int_t)x->cus, "sus", (json_int_t)x->sus));
    }
    return out;
}

/* ---- storing the order ----------------------------------------------------------------- */

/* The workload row of 0-db idx, or NULL. */
static const json_t *zdb_row(const scale_t *s, int64_t idx)
{
    const json_t *w;
    size_t i;
    json_array_foreach(s->wls, i,
                       w) if (strcmp(gs_json_str(w, "kind"), "zdb") == 0 &&
                              json_integer_value(json_object_get(w, "idx")) == idx) return w;
    return NULL;
}

/* The new 0-dbs' rows: the first data 0-db's template with its own description, and a
 * reference with the prefix every workload of the deployment has (its secrets hang on
 * it). Strings in texts, freed by the caller. */
static int new_rows(scale_t *s, gs_store_workload_t *rows, char **texts)
{
    size_t first = 0, count = 0, i;
    const json_t *like = (first_data(s->plan, &first, &count), zdb_row(s, (int64_t)first)), *a;
    const char *ref = like ? gs_json_str(like, "reference") : NULL, *cut;
    if (ref == NULL || (cut = strstr(ref, "-zdb-")) == NULL)
        return refuse(s, 500, "%s", "the deployment's 0-db rows are not as expected");
    json_array_foreach(s->added, i, a)
    {
        json_t *t = json_loads(gs_json_str(like, "template"), 0, NULL);
        int64_t idx = 0, pool = 0;
        char desc[256];
        gs_json_int(a, "idx", &idx);
        gs_json_int(a, "pool_idx", &pool);
        snprintf(desc, sizeof desc, "gridstor:%s:data:%" PRId64, s->name, idx);
        json_object_set_new(t, "description", json_string(desc));
        texts[2 * i] = t ? gs_json_dumps(t) : NULL;
        json_decref(t);
        if ((texts[2 * i + 1] = malloc(256)) != NULL)
            snprintf(texts[2 * i + 1], 256, "%.*s-zdb-%" PRId64, (int)(cut - ref), ref, idx);
        if (texts[2 * i] == NULL || texts[2 * i + 1] == NULL)
            return refuse(s, 500, "%s", "out of memory");
        rows[i] = (gs_store_workload_t){.kind = "zdb",
                                        .idx = (size_t)idx,
                                        .node_id = gs_json_str(a, "node_id"),
                                        .pool_idx = (size_t)pool,
                                        .reference = texts[2 * i + 1],
                                        .template_json = texts[2 * i]};
    }
    return GS_OK;
}

static int store_order(scale_t *s, const gs_extension_t *e, const gs_order_doc_t *doc)
{
    size_t n = json_array_size(s->added);
    gs_store_workload_t *rows = calloc(n + 1, sizeof *rows);
    char **texts = calloc(2 * n + 1, sizeof *texts), *plan = gs_json_dumps(s->plan);
    json_t *pools = ordered_pools(s, e);
    int err =
        rows && texts && plan ? new_rows(s, rows, texts) : refuse(s, 500, "%s", "out of memory");
    if (err == GS_OK && (err = gs_store_scale_add(s->d->store, s->name, &doc->row, pools, rows, n,
                                                  plan, &s->diag)) != GS_OK)
        s->status = 500;
    for (size_t i = 0; texts && i < 2 * n; i++)
        free(texts[i]);
    free(texts);
    free(rows);
    free(plan);
    json_decref(pools);
    return err;
}

static json_t *answer(scale_t *s, const gs_extension_t *e, const gs_order_doc_t *doc)
{
    char total[32];
    gs_format_tft(e->total, total, sizeof total);
    return json_pack("{s:s, s:{s:I, s:I, s:O, s:s, s:I}, s:o}", "name", s->name, "scale",
                     "zdbs_before", (json_int_t)s->before, "zdbs",
                     (json_int_t)(s->before + json_array_size(s->added)), "added", s->added,
                     "total", total, "total_stropes", (json_int_t)e->total, "sessions",
                     gs_api_session_links(s->d, gs_api_session_of(s->d, s->name, doc->session)));
}

/* Places, prices and stores the order; s->status says how it was refused. */
static int order(scale_t *s, size_t want, json_t **out)
{
    gs_extension_t e = {0};
    gs_order_doc_t doc = {0};
    char change[160];
    int err = place(s, want);
    if (err == GS_OK && (err = price_pools(s, &e)) == GS_OK) {
        snprintf(change, sizeof change, "%zu data 0-db%s of %" PRId64 " GiB %s (%zu in all)",
                 json_array_size(s->added), json_array_size(s->added) == 1 ? "" : "s", s->size_gib,
                 strcmp(s->disk, "ssd") == 0 ? "SSD" : "HDD", want);
        e.name = s->name;
        e.owner = gs_json_str(s->plan, "owner");
        e.change = change;
        if ((err = gs_api_order_document(s->d, &e, &doc, &s->diag)) != GS_OK)
            s->status = err == GS_ETOOBIG ? 422 : 500;
    }
    if (err == GS_OK && (err = store_order(s, &e, &doc)) == GS_OK)
        *out = answer(s, &e, &doc);
    gs_api_order_free(&doc);
    free(e.pools);
    return err;
}

void gs_api_scale(gs_http_req_t *r, void *ud)
{
    gs_daemon_t *d = ud;
    const char *name = gs_http_req_param(r, 0);
    scale_args_t args = {0};
    scale_t s = {.d = d, .name = name};
    json_t *dep = gs_api_order_target(d, r, "scaled"), *out = NULL;
    if (dep == NULL)
        return;
    if (gs_api_order_args(r, scale_keys, &args, "send {\"zdbs\": N}: how many data 0-dbs in all",
                          &s.diag) != GS_OK)
        gs_http_reply_error(r, 400, "%s", s.diag.msg);
    else if (args.size != 0)
        gs_http_reply_error(r, 501,
                            "larger 0-dbs are not supported: a 0-db's size is fixed when it is "
                            "posted, so growing them would mean moving every shard; add 0-dbs "
                            "instead with {\"zdbs\": N}");
    else if (args.zdbs == 0)
        gs_http_reply_error(r, 400, "send {\"zdbs\": N}: how many data 0-dbs in all");
    else if (!d->view.ready)
        gs_http_reply_error(r, 503, "the grid has not been read yet; retry shortly");
    else {
        s.plan = json_deep_copy(json_object_get(dep, "plan_json"));
        s.rows = gs_store_pools(d->store, name);
        s.wls = gs_store_workloads(d->store, name);
        s.added = json_array();
        if (order(&s, (size_t)args.zdbs, &out) == GS_OK)
            gs_daemon_reply_synced(d, r, 201, out);
        else
            gs_http_reply_error(r, s.status ? s.status : 500, "%s", s.diag.msg);
        json_decref(s.plan);
        json_decref(s.rows);
        json_decref(s.wls);
        json_decref(s.added);
    }
    json_decref(dep);
}
