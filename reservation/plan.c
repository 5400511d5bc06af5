/* plan.c — placement: the topology's machines on distinct farms where possible,
 * each with its metadata 0-db beside it, then the data 0-dbs on distinct nodes
 * spread over as many farms as the filters allow; capacity is counted as it is
 * taken. Then one capacity pool per farm used, priced for the duration.
 *
 * Each pool also lists up to GS_PLAN_SPARES spare nodes of its farm that pass the same
 * filters and hold nothing of the plan: a pool's capacity is not tied to its nodes, so
 * they cost nothing, and a workload that fails on its node can be placed again on a
 * spare without a new reservation (a pool's node list can only grow by an extension,
 * and an extension must buy capacity). */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const gs_node_t *node;
    gs_res_t free;
    bool used;    /* holds a data 0-db */
    bool machine; /* holds a machine */
} cand_t;

typedef struct {
    const gs_spec_t *spec;
    const gs_grid_t *grid;
    gs_rng_t rng;
    cand_t *cands; /* nodes that pass the filters, in a seeded random order */
    size_t n_cands;
    size_t n_matching, n_down; /* for messages */
    gs_plan_t *plan;
    gs_diag_t *diag;
} placer_t;

const char *gs__disk_name(int disk)
{
    return disk == GS_DISK_SSD ? "ssd" : "hdd";
}

const char *gs__mode_name(int mode)
{
    return mode == GS_MODE_USER ? "user" : "seq";
}

/* ---- filters ------------------------------------------------------------------------------ */

static bool in_list(const gs_strlist_t *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

static bool country_matches(const gs_strlist_t *wanted, const char *country)
{
    const char *code = gs_country_code(country);
    if (wanted->n == 0)
        return true;
    for (size_t i = 0; i < wanted->n; i++) {
        const char *w = gs_country_code(wanted->items[i]);
        if (gs_strieq(wanted->items[i], country) || (w && code && strcmp(w, code) == 0))
            return true;
    }
    return false;
}

static bool city_matches(const gs_strlist_t *wanted, const char *city)
{
    for (size_t i = 0; i < wanted->n; i++)
        if (gs_strieq(wanted->items[i], city))
            return true;
    return wanted->n == 0;
}

static bool farm_matches(const gs_grid_t *g, const gs_strlist_t *wanted, int64_t farm_id)
{
    const gs_farm_t *f = gs_grid_farm(g, farm_id);
    char id[32];
    snprintf(id, sizeof id, "%" PRId64, farm_id);
    for (size_t i = 0; i < wanted->n; i++)
        if (strcmp(wanted->items[i], id) == 0 || (f && gs_strieq(wanted->items[i], f->name)))
            return true;
    return wanted->n == 0;
}

static bool node_matches(const placer_t *p, const gs_node_t *n)
{
    const gs_spec_t *s = p->spec;
    if (s->placement.nodes.n && !in_list(&s->placement.nodes, n->node_id))
        return false;
    if (in_list(&s->placement.exclude_nodes, n->node_id))
        return false;
    return country_matches(&s->placement.countries, n->country) &&
           city_matches(&s->placement.cities, n->city) &&
           farm_matches(p->grid, &s->placement.farms, n->farm_id);
}

/* Farms and nodes the spec names must exist: a typo should not read as "found 0". */
static int check_named(const placer_t *p)
{
    const gs_spec_t *s = p->spec;
    for (size_t i = 0; i < s->placement.farms.n; i++) {
        const char *want = s->placement.farms.items[i];
        bool found = false;
        for (size_t f = 0; f < p->grid->n_farms && !found; f++) {
            char id[32];
            snprintf(id, sizeof id, "%" PRId64, p->grid->farms[f].id);
            found = strcmp(want, id) == 0 || gs_strieq(want, p->grid->farms[f].name);
        }
        for (size_t n = 0; n < p->grid->n_nodes && !found; n++) {
            char id[32];
            snprintf(id, sizeof id, "%" PRId64, p->grid->nodes[n].farm_id);
            found = strcmp(want, id) == 0;
        }
        if (!found)
            return gs_diag_set(p->diag, GS_EPLACEMENT,
                               "placement.farms: no farm '%s' on the grid (give a farm id or name "
                               "from the explorer's /farms)",
                               want);
    }
    for (size_t i = 0; i < s->placement.nodes.n; i++) {
        bool found = false;
        for (size_t n = 0; n < p->grid->n_nodes && !found; n++)
            found = strcmp(s->placement.nodes.items[i], p->grid->nodes[n].node_id) == 0;
        if (!found)
            return gs_diag_set(p->diag, GS_EPLACEMENT, "placement.nodes: no node '%s' on the grid",
                               s->placement.nodes.items[i]);
    }
    return GS_OK;
}

static int by_node_id(const void *a, const void *b)
{
    return strcmp(((const cand_t *)a)->node->node_id, ((const cand_t *)b)->node->node_id);
}

static void shuffle(placer_t *p)
{
    /* Sort first so that the seed alone decides the order, whatever order the
     * explorer listed the nodes in. */
    qsort(p->cands, p->n_cands, sizeof *p->cands, by_node_id);
    for (size_t i = p->n_cands; i > 1; i--) {
        size_t j = (size_t)gs_rng_below(&p->rng, i);
        cand_t t = p->cands[i - 1];
        p->cands[i - 1] = p->cands[j];
        p->cands[j] = t;
    }
}

static int collect(placer_t *p)
{
    const gs_grid_t *g = p->grid;
    int err = check_named(p);
    if (err)
        return err;
    p->cands = calloc(g->n_nodes + 1, sizeof *p->cands);
    if (p->cands == NULL)
        return gs_diag_set(p->diag, GS_ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_nodes; i++) {
        const gs_node_t *n = &g->nodes[i];
        if (!node_matches(p, n))
            continue;
        p->n_matching++;
        if (!gs_node_is_up(g, n)) {
            p->n_down++;
            continue;
        }
        p->cands[p->n_cands].node = n;
        p->cands[p->n_cands].free = gs_node_free(n);
        p->n_cands++;
    }
    shuffle(p);
    return GS_OK;
}

/* ---- messages ----------------------------------------------------------------------------- */

static void append_list(char *out, size_t len, const char *label, const gs_strlist_t *l)
{
    size_t used = strlen(out);
    if (l->n == 0)
        return;
    used +=
        (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s ", used ? "; " : "", label);
    for (size_t i = 0; i < l->n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", l->items[i]);
}

/* "in BE, NL; cities Ghent" or "on the grid". */
static void describe_filters(const gs_spec_t *s, char *out, size_t len)
{
    out[0] = '\0';
    append_list(out, len, "in", &s->placement.countries);
    append_list(out, len, "cities", &s->placement.cities);
    append_list(out, len, "farms", &s->placement.farms);
    append_list(out, len, "among nodes", &s->placement.nodes);
    if (out[0] == '\0')
        snprintf(out, len, "on the grid");
}

static int shortage(const placer_t *p, const char *need, size_t found)
{
    char where[512];
    describe_filters(p->spec, where, sizeof where);
    return gs_diag_set(p->diag, GS_EPLACEMENT,
                       "need %s %s: found %zu (%zu nodes match the filters, %zu of them down or "
                       "deleted)",
                       need, where, found, p->n_matching, p->n_down);
}

/* ---- capacity ----------------------------------------------------------------------------- */

static double *disk_field(gs_res_t *r, int disk)
{
    return disk == GS_DISK_SSD ? &r->sru : &r->hru;
}

static bool fits_machine(const placer_t *p, const cand_t *c)
{
    const gs_spec_t *s = p->spec;
    gs_res_t need = {(double)s->machine.cpu, s->memory_mib / 1024.0, 0, s->disk_mib / 1024.0};
    *disk_field(&need, s->metadata.disk) += s->meta_size_gib;
    return c->free.cru >= need.cru && c->free.mru >= need.mru && c->free.sru >= need.sru &&
           c->free.hru >= need.hru;
}

static void take_machine(const placer_t *p, cand_t *c)
{
    const gs_spec_t *s = p->spec;
    c->free.cru -= (double)s->machine.cpu;
    c->free.mru -= s->memory_mib / 1024.0;
    c->free.sru -= s->disk_mib / 1024.0;
    *disk_field(&c->free, s->metadata.disk) -= s->meta_size_gib;
    c->machine = true;
}

static bool fits_zdb(const placer_t *p, cand_t *c)
{
    return !c->used && *disk_field(&c->free, p->spec->zdb.disk) >= p->spec->zdb_size_gib;
}

/* ---- machines ----------------------------------------------------------------------------- */

static bool farm_has_machine(const gs_plan_t *plan, int64_t farm_id)
{
    for (size_t i = 0; i < plan->n_machines; i++)
        if (plan->machines[i].farm_id == farm_id)
            return true;
    return false;
}

/* The first fitting candidate on a farm without a machine, else on any free node. */
static cand_t *pick_machine_node(placer_t *p)
{
    cand_t *fallback = NULL;
    for (size_t i = 0; i < p->n_cands; i++) {
        cand_t *c = &p->cands[i];
        if (c->machine || !fits_machine(p, c))
            continue;
        if (!farm_has_machine(p->plan, c->node->farm_id))
            return c;
        if (fallback == NULL)
            fallback = c;
    }
    return fallback;
}

static int add_meta_zdb(placer_t *p, const gs_plan_machine_t *m)
{
    gs_plan_zdb_t *z = &p->plan->zdbs[p->plan->n_zdbs++];
    z->role = GS_ZDB_META;
    snprintf(z->machine, sizeof z->machine, "%s", m->role);
    z->node_id = gs_strdup(m->node_id);
    z->farm_id = m->farm_id;
    z->size_gib = p->spec->meta_size_gib;
    z->disk = p->spec->metadata.disk;
    z->mode = GS_MODE_SEQ; /* replicas follow the master's sequential ids */
    return z->node_id ? GS_OK : GS_ENOMEM;
}

static int place_machines(placer_t *p, const gs_topology_t *topo)
{
    const gs_spec_t *s = p->spec;
    for (size_t i = 0; i < topo->n_machines; i++) {
        gs_plan_machine_t *m = &p->plan->machines[p->plan->n_machines];
        cand_t *c = pick_machine_node(p);
        char need[256];
        if (c == NULL) {
            snprintf(need, sizeof need,
                     "a node for machine %s with %" PRId64 " cpu, %u MiB memory, %u MiB SSD "
                     "and %u GiB %s for its metadata 0-db, distinct from the other machines",
                     topo->machines[i].role, s->machine.cpu, s->memory_mib, s->disk_mib,
                     s->meta_size_gib, s->metadata.disk == GS_DISK_SSD ? "SSD" : "HDD");
            return shortage(p, need, 0);
        }
        take_machine(p, c);
        snprintf(m->role, sizeof m->role, "%s", topo->machines[i].role);
        m->gateway = topo->machines[i].gateway;
        m->metadata = topo->machines[i].metadata;
        m->node_id = gs_strdup(c->node->node_id);
        m->farm_id = c->node->farm_id;
        m->cpu = s->machine.cpu;
        m->memory_mib = s->memory_mib;
        m->disk_mib = s->disk_mib;
        p->plan->n_machines++;
        if (m->node_id == NULL || add_meta_zdb(p, m))
            return gs_diag_set(p->diag, GS_ENOMEM, "out of memory");
    }
    return GS_OK;
}

/* ---- data 0-dbs --------------------------------------------------------------------------- */

static int add_data_zdb(placer_t *p, cand_t *c)
{
    gs_plan_zdb_t *z = &p->plan->zdbs[p->plan->n_zdbs++];
    z->role = GS_ZDB_DATA;
    z->node_id = gs_strdup(c->node->node_id);
    z->farm_id = c->node->farm_id;
    z->size_gib = p->spec->zdb_size_gib;
    z->disk = p->spec->zdb.disk;
    z->mode = p->spec->zdb.mode;
    *disk_field(&c->free, z->disk) -= z->size_gib;
    c->used = true;
    return z->node_id ? GS_OK : gs_diag_set(p->diag, GS_ENOMEM, "out of memory");
}

static size_t count_fitting(placer_t *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_cands; i++)
        n += fits_zdb(p, &p->cands[i]);
    return n;
}

static bool farm_in_round(const int64_t *farms, size_t n, int64_t farm)
{
    for (size_t i = 0; i < n; i++)
        if (farms[i] == farm)
            return true;
    return false;
}

/* One round: with `farms`, at most one node per farm, preferring nodes without a
 * machine on each farm; without, every fitting node, machine nodes last. */
static int place_round(placer_t *p, int64_t *farms, size_t *placed, size_t want)
{
    size_t n_round = 0;
    for (int machine_ok = 0; machine_ok < 2; machine_ok++) {
        for (size_t i = 0; i < p->n_cands && *placed < want; i++) {
            cand_t *c = &p->cands[i];
            if (!fits_zdb(p, c) || (c->machine && !machine_ok))
                continue;
            if (farms && farm_in_round(farms, n_round, c->node->farm_id))
                continue;
            if (farms)
                farms[n_round++] = c->node->farm_id;
            if (add_data_zdb(p, c))
                return GS_ENOMEM;
            (*placed)++;
        }
    }
    return GS_OK;
}

static int place_data(placer_t *p)
{
    const gs_spec_t *s = p->spec;
    size_t want = (size_t)s->zdb.count, placed = 0, before, fitting = count_fitting(p);
    int64_t *farms = NULL;
    int err = GS_OK;
    if (fitting < want) {
        char need[128];
        snprintf(need, sizeof need, "%zu nodes with %u GiB free %s", want, s->zdb_size_gib,
                 s->zdb.disk == GS_DISK_SSD ? "SSD" : "HDD");
        return shortage(p, need, fitting);
    }
    if (s->placement.spread == GS_SPREAD_FARM) {
        farms = calloc(p->n_cands + 1, sizeof *farms);
        if (farms == NULL)
            return gs_diag_set(p->diag, GS_ENOMEM, "out of memory");
    }
    do {
        before = placed;
        err = place_round(p, farms, &placed, want);
    } while (err == GS_OK && placed < want && placed > before);
    free(farms);
    return err;
}

/* ---- pools -------------------------------------------------------------------------------- */

static size_t pool_for(gs_plan_t *plan, int64_t farm_id, const gs_grid_t *g)
{
    gs_plan_pool_t *pool;
    const gs_farm_t *farm;
    for (size_t i = 0; i < plan->n_pools; i++)
        if (plan->pools[i].farm_id == farm_id)
            return i;
    pool = &plan->pools[plan->n_pools];
    farm = gs_grid_farm(g, farm_id);
    memset(pool, 0, sizeof *pool);
    pool->farm_id = farm_id;
    pool->farm_name = gs_strdup(farm ? farm->name : "");
    return plan->n_pools++;
}

static int pool_add(gs_plan_pool_t *pool, const char *node_id, uint64_t cu, uint64_t su)
{
    pool->cu_milli += cu;
    pool->su_milli += su;
    if (pool->farm_name == NULL)
        return GS_ENOMEM;
    return in_list(&pool->node_ids, node_id) ? GS_OK : gs_strlist_push(&pool->node_ids, node_id);
}

/* Whole unit-seconds: thousandths of a unit times seconds, rounded up. */
uint64_t gs__unit_seconds(uint64_t milli, uint64_t seconds)
{
    return (milli * seconds + 999) / 1000;
}

static int make_pools(gs_plan_t *plan, const gs_grid_t *g)
{
    int err = GS_OK;
    for (size_t i = 0; i < plan->n_machines && err == GS_OK; i++) {
        gs_plan_machine_t *m = &plan->machines[i];
        uint64_t cu, su;
        gs_units_container(m->cpu, m->memory_mib, m->disk_mib, GS_DISK_SSD, &cu, &su);
        m->pool = pool_for(plan, m->farm_id, g);
        err = pool_add(&plan->pools[m->pool], m->node_id, cu, su);
    }
    for (size_t i = 0; i < plan->n_zdbs && err == GS_OK; i++) {
        gs_plan_zdb_t *z = &plan->zdbs[i];
        uint64_t cu, su;
        gs_units_zdb(z->size_gib, z->disk, &cu, &su);
        z->pool = pool_for(plan, z->farm_id, g);
        err = pool_add(&plan->pools[z->pool], z->node_id, cu, su);
    }
    for (size_t i = 0; i < plan->n_pools && err == GS_OK; i++) {
        gs_plan_pool_t *pool = &plan->pools[i];
        pool->cus = gs__unit_seconds(pool->cu_milli, plan->duration_s);
        pool->sus = gs__unit_seconds(pool->su_milli, plan->duration_s);
        pool->amount = pool->cus * plan->cu_rate + pool->sus * plan->su_rate;
        plan->total += pool->amount;
    }
    return err;
}

/* Spare nodes for each pool: unused candidates of its farm with room for a data 0-db. */
static int add_spares(placer_t *p)
{
    gs_plan_t *plan = p->plan;
    for (size_t i = 0; i < plan->n_pools; i++) {
        gs_plan_pool_t *pool = &plan->pools[i];
        size_t added = 0;
        for (size_t j = 0; j < p->n_cands && added < GS_PLAN_SPARES; j++) {
            cand_t *c = &p->cands[j];
            if (c->node->farm_id != pool->farm_id || c->machine || !fits_zdb(p, c))
                continue;
            if (gs_strlist_push(&pool->node_ids, c->node->node_id) != GS_OK)
                return GS_ENOMEM;
            c->used = true;
            pool->spares++;
            added++;
        }
    }
    return GS_OK;
}

/* ---- the plan ----------------------------------------------------------------------------- */

static int init_plan(gs_plan_t *plan, const gs_spec_t *s, const gs_topology_t *topo,
                     const gs_grid_t *g, uint64_t seed)
{
    gs_prices_t prices = g->have_prices ? g->prices : gs_prices_default();
    size_t n_zdbs = (size_t)s->zdb.count + topo->n_machines;
    memset(plan, 0, sizeof *plan);
    plan->name = gs_strdup(s->name);
    plan->owner = gs_strdup(s->owner);
    plan->topology = gs_strdup(topo->name);
    plan->duration_s = s->duration_s;
    plan->data = s->codec.data;
    plan->parity = s->codec.parity;
    plan->seed = seed;
    plan->spread = s->placement.spread;
    plan->machines = calloc(topo->n_machines, sizeof *plan->machines);
    plan->zdbs = calloc(n_zdbs, sizeof *plan->zdbs);
    plan->pools = calloc(n_zdbs + topo->n_machines, sizeof *plan->pools);
    gs_unit_rates(&prices, &plan->cu_rate, &plan->su_rate);
    for (size_t i = 0; i < s->notes.n; i++)
        if (gs_strlist_push(&plan->notes, s->notes.items[i]))
            return GS_ENOMEM;
    if (!g->have_prices &&
        gs_strlist_push(&plan->notes, "no prices given: using mainnet prices ($10/CU-month, "
                                      "$8/SU-month, TFT at $0.10)"))
        return GS_ENOMEM;
    if (!plan->name || !plan->owner || !plan->topology || !plan->machines || !plan->zdbs ||
        !plan->pools)
        return GS_ENOMEM;
    return GS_OK;
}

int gs_plan_build(const gs_spec_t *spec, const gs_topology_t *topo, const gs_grid_t *grid,
                  uint64_t seed, gs_plan_t *plan, gs_diag_t *diag)
{
    placer_t p = {.spec = spec, .grid = grid, .plan = plan, .diag = diag};
    int err;
    gs_rng_seed(&p.rng, seed);
    err = init_plan(plan, spec, topo, grid, seed);
    if (err) {
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
        goto out;
    }
    err = collect(&p);
    if (err == GS_OK)
        err = place_machines(&p, topo);
    if (err == GS_OK)
        err = place_data(&p);
    if (err == GS_OK && (make_pools(plan, grid) || add_spares(&p)))
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
out:
    free(p.cands);
    if (err)
        gs_plan_free(plan);
    return err;
}

void gs_plan_free(gs_plan_t *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->n_machines; i++)
        free(plan->machines[i].node_id);
    for (size_t i = 0; i < plan->n_zdbs; i++)
        free(plan->zdbs[i].node_id);
    for (size_t i = 0; i < plan->n_pools; i++) {
        free(plan->pools[i].farm_name);
        gs_strlist_free(&plan->pools[i].node_ids);
    }
    for (size_t i = 0; i < plan->n_docs; i++) {
        free(plan->docs[i].json);
        free(plan->docs[i].pools);
    }
    free(plan->machines);
    free(plan->zdbs);
    free(plan->pools);
    free(plan->docs);
    free(plan->name);
    free(plan->owner);
    free(plan->topology);
    gs_strlist_free(&plan->notes);
    memset(plan, 0, sizeof *plan);
}
