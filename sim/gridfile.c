/* gridfile.c — a world described by a YAML grid file (`gridstor-sim --grid FILE`)
 * instead of the generated one: farms with their nodes, the seed the keys follow from,
 * the network and the flist map of the node agents. Read with common's table-driven
 * config reader, so every unknown or bad key is a `file:line:col: key: reason` error
 * before anything starts.
 *
 *   seed: 7                          # optional, default 1: node keys, wallets, ages
 *   network: testnet                 # optional: mainnet (default), testnet, devnet
 *   farms:                           # 1 to 1000 farms, 1 to 100000 nodes in all
 *     - name: ghent                  # unique, 1 to 63 characters
 *       country: Belgium
 *       city: Ghent
 *       wallet: GABC...              # optional: drawn from the seed otherwise
 *       nodes: {count: 4, cru: 16, mru: 64, hru: 8000, sru: 1000}
 *     - name: cairo
 *       country: Egypt
 *       city: Cairo
 *       nodes:                       # or one entry per node
 *         - {cru: 8, mru: 32, hru: 4000, sru: 500, city: Alexandria}
 *         - {cru: 8, mru: 32, hru: 4000, sru: 500, down: true}
 *   flists:                          # optional: flist URL -> command
 *     https://hub.example/app.flist: /usr/bin/app --flag   # split at blanks
 *     https://hub.example/sh.flist: [/bin/sh, -c, "echo a b"]
 *
 * Choices: capacity is whole GB (cru cores); a node's country is its farm's and its
 * city the farm's unless given; `count` nodes share one capacity; node ids number the
 * nodes in file order from 1, farm ids the farms from 1. The seed draws every farm's
 * wallet (a given wallet replaces the drawn one, so keys do not depend on it), then
 * every node's key and age in file order. A node marked `down: true` starts down. */
#include "world.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRID_FILE_MAX (4u << 20)
#define FARMS_MAX     1000
#define NODES_MAX     100000
#define NAME_MAX_LEN  63

typedef struct {
    int64_t count, cru, mru, hru, sru;
    char *city;
    bool down;
} grid_node_t;

typedef struct {
    char *name, *country, *city, *wallet;
    const gs_yaml_node_t *nodes;
    grid_node_t spec; /* the `count` form */
    size_t n_nodes;
} grid_farm_t;

typedef struct {
    int64_t seed;
    int network;
    const gs_yaml_node_t *farms, *flists;
} grid_top_t;

static const char *const networks[] = {"mainnet", "testnet", "devnet", NULL};

static const gs_cfg_key_t top_keys[] = {
    {"seed", GS_CFG_INT, offsetof(grid_top_t, seed), 0, INT64_C(1) << 53},
    {"network", GS_CFG_ENUM, offsetof(grid_top_t, network), .choices = networks},
    {"farms", GS_CFG_NODE, offsetof(grid_top_t, farms), .required = true},
    {"flists", GS_CFG_NODE, offsetof(grid_top_t, flists)},
    {NULL},
};

static const gs_cfg_key_t farm_keys[] = {
    {"name", GS_CFG_STRING, offsetof(grid_farm_t, name), 1, NAME_MAX_LEN, .required = true},
    {"country", GS_CFG_STRING, offsetof(grid_farm_t, country), 1, NAME_MAX_LEN, .required = true},
    {"city", GS_CFG_STRING, offsetof(grid_farm_t, city), 1, NAME_MAX_LEN, .required = true},
    {"wallet", GS_CFG_STRING, offsetof(grid_farm_t, wallet), 1, NAME_MAX_LEN},
    {"nodes", GS_CFG_NODE, offsetof(grid_farm_t, nodes), .required = true},
    {NULL},
};

#define NODE_KEYS                                                                                  \
    {"cru", GS_CFG_INT, offsetof(grid_node_t, cru), 1, 1024, .required = true},                    \
        {"mru", GS_CFG_INT, offsetof(grid_node_t, mru), 1, 65536, .required = true},               \
        {"hru", GS_CFG_INT, offsetof(grid_node_t, hru), 0, 10000000, .required = true},            \
        {"sru", GS_CFG_INT, offsetof(grid_node_t, sru), 0, 10000000, .required = true},            \
        {"city", GS_CFG_STRING, offsetof(grid_node_t, city), 1, NAME_MAX_LEN},                     \
    {                                                                                              \
        "down", GS_CFG_BOOL, offsetof(grid_node_t, down)                                           \
    }

static const gs_cfg_key_t node_keys[] = {NODE_KEYS, {NULL}};
static const gs_cfg_key_t count_keys[] = {
    {"count", GS_CFG_INT, offsetof(grid_node_t, count), 1, NODES_MAX, .required = true},
    NODE_KEYS,
    {NULL},
};

typedef struct {
    gs_cfg_ctx_t cfg;
    grid_top_t top;
    grid_farm_t *farms;
    size_t n_farms, n_nodes;
    gs_diag_t *diag;
} grid_t;

static int at(const grid_t *g, const gs_yaml_node_t *node, const char *key, const char *fmt,
              const char *arg)
{
    return gs_diag_at(g->diag, GS_ESPEC, g->cfg.file, node->line, node->col, key, fmt, arg);
}

static bool name_taken(const grid_t *g, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (strcmp(g->farms[k].name, g->farms[i].name) == 0)
            return true;
    return false;
}

/* farms[i]: its keys, and how many nodes it has. */
static int read_farm(grid_t *g, size_t i)
{
    const gs_yaml_node_t *item = g->top.farms->items[i];
    grid_farm_t *f = &g->farms[i];
    char path[64];
    int err;
    snprintf(path, sizeof path, "farms[%zu]", i);
    if ((err = gs_cfg_apply(&g->cfg, farm_keys, item, f, path, g->diag)) != GS_OK)
        return err;
    if (name_taken(g, i)) {
        snprintf(path, sizeof path, "farms[%zu].name", i);
        return at(g, gs_yaml_get(item, "name"), path, "'%s' is the name of an earlier farm",
                  f->name);
    }
    snprintf(path, sizeof path, "farms[%zu].nodes", i);
    if (f->nodes->kind == GS_YAML_MAP) {
        if ((err = gs_cfg_apply(&g->cfg, count_keys, f->nodes, &f->spec, path, g->diag)) != GS_OK)
            return err;
        f->n_nodes = (size_t)f->spec.count;
    } else if (f->nodes->kind == GS_YAML_SEQ && f->nodes->n > 0) {
        f->n_nodes = f->nodes->n;
    } else {
        return at(g, f->nodes, path, "%s",
                  "expected {count, cru, mru, hru, sru} or a non-empty list of nodes");
    }
    if ((g->n_nodes += f->n_nodes) > NODES_MAX)
        return gs_diag_at(g->diag, GS_ESPEC, g->cfg.file, f->nodes->line, f->nodes->col, path,
                          "more than %d nodes in all", NODES_MAX);
    return GS_OK;
}

static int read_farms(grid_t *g)
{
    const gs_yaml_node_t *farms = g->top.farms;
    int err = GS_OK;
    if (farms->kind != GS_YAML_SEQ || farms->n == 0 || farms->n > FARMS_MAX)
        return gs_diag_at(g->diag, GS_ESPEC, g->cfg.file, farms->line, farms->col, "farms",
                          "expected a list of 1 to %d farms", FARMS_MAX);
    if ((g->farms = calloc(farms->n, sizeof *g->farms)) == NULL)
        return gs_diag_set(g->diag, GS_ENOMEM, "out of memory");
    for (size_t i = 0; i < farms->n && err == GS_OK; i++, g->n_farms = i)
        err = read_farm(g, i);
    return err;
}

static void free_farms(grid_t *g)
{
    for (size_t i = 0; g->farms && i < g->top.farms->n; i++) {
        gs_cfg_free(count_keys, &g->farms[i].spec);
        gs_cfg_free(farm_keys, &g->farms[i]);
    }
    free(g->farms);
}

/* ---- building the world ---- */

static void fill_node(sim_world_t *w, size_t i, const grid_farm_t *f, size_t farm,
                      const grid_node_t *spec, gs_rng_t *rng)
{
    sim_node_t *n = &w->nodes[i];
    sim_node_identity(n, rng);
    n->id = (int64_t)i + 1;
    n->farm_id = w->farms[farm].id;
    snprintf(n->country, sizeof n->country, "%s", f->country);
    snprintf(n->city, sizeof n->city, "%s", spec->city ? spec->city : f->city);
    sim_node_place(n, i);
    n->total =
        (sim_res_t){(double)spec->cru, (double)spec->mru, (double)spec->hru, (double)spec->sru};
    n->created = w->epoch0 - 86400 * (int64_t)(30 + gs_rng_below(rng, 600));
    n->down_since = spec->down ? w->epoch0 : 0;
}

/* The nodes of farm `farm` from world node *next on. */
static int fill_farm_nodes(grid_t *g, sim_world_t *w, size_t farm, size_t *next, gs_rng_t *rng)
{
    const grid_farm_t *f = &g->farms[farm];
    char path[80];
    int err = GS_OK;
    for (size_t k = 0; k < f->n_nodes && err == GS_OK; k++) {
        grid_node_t one = {0};
        const grid_node_t *spec = &f->spec;
        if (f->nodes->kind == GS_YAML_SEQ) {
            snprintf(path, sizeof path, "farms[%zu].nodes[%zu]", farm, k);
            err = gs_cfg_apply(&g->cfg, node_keys, f->nodes->items[k], &one, path, g->diag);
            spec = &one;
        }
        if (err == GS_OK)
            fill_node(w, (*next)++, f, farm, spec, rng);
        gs_cfg_free(node_keys, &one);
    }
    return err;
}

static int fill_world(grid_t *g, sim_world_t *w, const sim_world_opts_t *o)
{
    gs_rng_t rng;
    size_t next = 0;
    int err = sim_world_alloc(w, g->n_farms, g->n_nodes, g->top.network, o->time_scale, g->diag);
    if (err != GS_OK)
        return err;
    gs_rng_seed(&rng, (uint64_t)g->top.seed);
    for (size_t i = 0; i < g->n_farms; i++) {
        sim_farm_t *f = &w->farms[i];
        f->id = (int64_t)i + 1;
        snprintf(f->name, sizeof f->name, "%s", g->farms[i].name);
        snprintf(f->country, sizeof f->country, "%s", g->farms[i].country);
        snprintf(f->city, sizeof f->city, "%s", g->farms[i].city);
        sim_farm_wallet(f, &rng);
        if (g->farms[i].wallet)
            snprintf(f->wallet, sizeof f->wallet, "%s", g->farms[i].wallet);
    }
    for (size_t i = 0; i < g->n_farms && err == GS_OK; i++)
        err = fill_farm_nodes(g, w, i, &next, &rng);
    return err;
}

/* flists: a map of URL -> "command text" or [argv...]. */
static int read_flist(grid_t *g, sim_world_t *w, const gs_yaml_pair_t *p)
{
    const gs_yaml_node_t *v = p->value;
    const char *args[SIM_FLIST_ARGS];
    char key[SIM_FLIST_URL_MAX + 16];
    gs_diag_t why = {{0}};
    size_t n = 0;
    snprintf(key, sizeof key, "flists.%s", p->key->value);
    if (v->kind == GS_YAML_SCALAR) {
        args[n++] = v->value;
    } else if (v->kind == GS_YAML_SEQ && v->n <= SIM_FLIST_ARGS) {
        for (; n < v->n; n++) {
            if (v->items[n]->kind != GS_YAML_SCALAR)
                return at(g, v->items[n], key, "%s", "each argument must be a single value");
            args[n] = v->items[n]->value;
        }
    } else {
        return gs_diag_at(g->diag, GS_ESPEC, g->cfg.file, v->line, v->col, key,
                          "expected a command, or a list of at most %d arguments", SIM_FLIST_ARGS);
    }
    if (sim_world_add_flist(w, p->key->value, args, n, v->kind == GS_YAML_SCALAR, &why) != GS_OK)
        return at(g, p->key, key, "%s", why.msg);
    return GS_OK;
}

static int read_flists(grid_t *g, sim_world_t *w)
{
    const gs_yaml_node_t *map = g->top.flists;
    int err = GS_OK;
    if (map == NULL)
        return GS_OK;
    if (map->kind != GS_YAML_MAP)
        return at(g, map, "flists", "%s", "expected a map of 'URL: command' lines");
    if (map->n > SIM_FLISTS_MAX)
        return gs_diag_at(g->diag, GS_ESPEC, g->cfg.file, map->line, map->col, "flists",
                          "at most %d flists", SIM_FLISTS_MAX);
    for (size_t i = 0; i < map->n && err == GS_OK; i++)
        err = read_flist(g, w, &map->pairs[i]);
    return err;
}

int sim_world_load(sim_world_t *w, const sim_world_opts_t *o, gs_diag_t *diag)
{
    grid_t g = {.cfg = {.file = o->grid}, .top = {.seed = 1}, .diag = diag};
    gs_yaml_node_t *root = NULL;
    gs_buf_t text;
    int err;
    if (o->generator_flags)
        return gs_diag_set(diag, GS_EINVAL,
                           "--grid: the grid file sets the seed, farms, nodes and network; "
                           "--seed, --farms, --nodes-per-farm and --network cannot be added");
    gs_buf_init(&text, GRID_FILE_MAX);
    err = gs_file_read(o->grid, GRID_FILE_MAX, &text, diag);
    if (err == GS_OK)
        err = gs_yaml_parse(text.data ? text.data : "", text.len, o->grid, &root, diag);
    if (err == GS_OK)
        err = gs_cfg_apply(&g.cfg, top_keys, root, &g.top, "", diag);
    if (err == GS_OK)
        err = read_farms(&g);
    if (err == GS_OK)
        err = fill_world(&g, w, o);
    if (err == GS_OK)
        err = read_flists(&g, w);
    if (err == GS_OK)
        gs_log(GS_LOG_INFO, "grid %s: %zu farms, %zu nodes, %zu flists", o->grid, w->n_farms,
               w->n_nodes, w->n_flists);
    free_farms(&g);
    gs_yaml_free(root);
    gs_cfg_ctx_free(&g.cfg);
    gs_buf_free(&text);
    return err;
}
