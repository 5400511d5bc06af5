/* serve.c — `gridstor-sim` with no command (or `serve`): the local grid on
 * loopback ports chosen at start, announced as one JSON line on stdout, until
 * SIGINT or SIGTERM (a second signal kills the containers' processes and exits at
 * once). Everything the sim holds lives in the state folder (--state; by default a
 * fresh folder under $TMPDIR or /tmp, removed at exit because the sim made it): the
 * nodes' 0-db data, and the state database sim.db (store.h) that a sim started again
 * on the same folder reads back, the simulated clock included. */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */
#include "admin.h"
#include "agents.h"
#include "chain.h"
#include "ctx.h"
#include "explorer.h"
#include "login.h"
#include "registry.h"
#include "sim.h"
#include "store.h"
#include "workloads.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#define CLOCK_SAVE_MS 200 /* real milliseconds between checks of the simulated clock */

typedef struct {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t clock_timer; /* saves the simulated clock (CLOCK_SAVE_MS) */
    int64_t clock_saved;
    sim_ctx_t ctx;
    gs_httpd_t *servers[4];    /* explorer, chain, login, admin */
    sim_admin_t *admin;        /* the admin server's state */
    struct sim_agents *agents; /* ctx->agents until they are closed, for a second signal */
    int closing;               /* parts still closing */
    bool registry_started;
    const char *listen;
    const char *state; /* --state, or made_state */
    char *made_state;  /* the folder the sim made (and removes at exit) */
    int signals;
} sim_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: gridstor-sim [serve] [--seed N] [--farms N] [--nodes-per-farm N]\n"
                 "                    [--network mainnet|testnet|devnet] [--time-scale X]\n"
                 "                    [--listen ADDR] [--state DIR] [--grid FILE]\n"
                 "                    [--flist URL=COMMAND]...\n\n"
                 "Runs the local grid on loopback ports chosen at start and prints one JSON\n"
                 "line with its endpoints. SIGINT or SIGTERM stops it.\n\n"
                 "  --seed N            the world to generate (default 1)\n"
                 "  --farms N           farms (default 6), --nodes-per-farm N (default 6)\n"
                 "  --network NAME      prices divided by 1, 10 or 100 (default mainnet)\n"
                 "  --time-scale X      simulated seconds per real second (default 1)\n"
                 "  --listen ADDR       address to listen on (default 127.0.0.1)\n"
                 "  --state DIR         the grid's state: the nodes' 0-db data and sim.db,\n"
                 "                      read back when started again on it (default: a new\n"
                 "                      folder under $TMPDIR or /tmp, removed at exit)\n"
                 "  --grid FILE         the world from a YAML grid file (farms, nodes, seed,\n"
                 "                      network, flists) instead of --seed, --farms,\n"
                 "                      --nodes-per-farm and --network\n"
                 "  --flist URL=COMMAND what a container workload of flist URL runs\n"
                 "                      (COMMAND split at blanks; repeatable)\n");
}

static bool parse_count(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return *s >= '0' && *s <= '9' && *end == '\0' && errno == 0 && *out <= max;
}

static int parse_network(const char *s)
{
    static const char *const names[] = {"mainnet", "testnet", "devnet"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static bool parse_opt(int c, const char *arg, sim_world_opts_t *o, sim_t *sim)
{
    unsigned long long v = 0;
    char *end;
    o->generator_flags |= c == 's' || c == 'f' || c == 'n' || c == 'N';
    switch (c) {
    case 'g':
        o->grid = arg;
        return *arg != '\0';
    case 'F':
        if (o->n_flist_args >= SIM_FLISTS_MAX || strchr(arg, '=') == NULL)
            return false;
        o->flist_args[o->n_flist_args++] = arg;
        return true;
    case 's':
        if (!parse_count(arg, 1ULL << 53, &v))
            return false;
        o->seed = v;
        return true;
    case 'f':
        if (!parse_count(arg, 1000, &v) || v == 0)
            return false;
        o->n_farms = (size_t)v;
        return true;
    case 'n':
        if (!parse_count(arg, 1000, &v) || v == 0)
            return false;
        o->nodes_per_farm = (size_t)v;
        return true;
    case 'N':
        o->network = parse_network(arg);
        return o->network >= 0;
    case 't':
        o->time_scale = strtod(arg, &end);
        return *end == '\0' && o->time_scale > 0 && o->time_scale <= 1e6;
    case 'l':
        sim->listen = arg;
        return true;
    case 'S':
        sim->state = arg;
        return *arg != '\0';
    default:
        return false;
    }
}

static int parse_args(int argc, char **argv, sim_world_opts_t *o, sim_t *sim)
{
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, 's'},
        {"farms", required_argument, NULL, 'f'},
        {"nodes-per-farm", required_argument, NULL, 'n'},
        {"network", required_argument, NULL, 'N'},
        {"time-scale", required_argument, NULL, 't'},
        {"listen", required_argument, NULL, 'l'},
        {"state", required_argument, NULL, 'S'},
        {"grid", required_argument, NULL, 'g'},
        {"flist", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        if (!parse_opt(c, optarg, o, sim)) {
            fprintf(stderr, "gridstor-sim: bad or unknown option '%s'; see --help\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gridstor-sim: unexpected argument '%s'; see --help\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* ---- services ------------------------------------------------------------------------------ */

enum { SRV_EXPLORER, SRV_CHAIN, SRV_LOGIN, SRV_ADMIN, SRV_COUNT };

static const struct {
    const char *name, *prefix;
    const gs_http_route_t *routes;
} services[SRV_COUNT] = {
    [SRV_EXPLORER] = {"explorer", "/api/v1", sim_explorer_routes},
    [SRV_CHAIN] = {"chain", "/api/v1", sim_chain_routes},
    [SRV_LOGIN] = {"login", "", sim_login_routes},
    [SRV_ADMIN] = {"admin", "/admin", sim_admin_routes},
};

static int64_t world_clock(void *arg)
{
    return sim_now(arg);
}

/* The state folder: --state, or a new one under $TMPDIR (or /tmp). */
static int open_state(sim_t *sim, gs_diag_t *diag)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    if (sim->state != NULL)
        return gs_mkdir_p(sim->state, diag);
    snprintf(path, sizeof path, "%s/gridstor-sim-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(path) == NULL)
        return gs_diag_set(diag, GS_EIO, "%s: %s", path, strerror(errno));
    if ((sim->made_state = strdup(path)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    sim->state = sim->made_state;
    return GS_OK;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        gs_log(GS_LOG_WARN, "%s: %s", path, strerror(errno));
    return 0;
}

/* Removes the state folder when the sim made it. */
static void close_state(sim_t *sim)
{
    if (sim->made_state != NULL)
        nftw(sim->made_state, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(sim->made_state);
    sim->made_state = NULL;
}

/* ---- the simulated clock in the state database ---------------------------------------------- */

static void save_clock(sim_t *sim)
{
    int64_t now = sim_now(&sim->ctx.world);
    json_t *doc = json_pack("{s:I}", "now", (json_int_t)now);
    if (sim_store_put(sim->ctx.store, "clock", "now", doc) == GS_OK)
        sim->clock_saved = now;
    json_decref(doc);
}

/* Saves the clock once it moved by a simulated second or more. */
static void on_clock_tick(uv_timer_t *t)
{
    sim_t *sim = t->data;
    if (sim_now(&sim->ctx.world) != sim->clock_saved)
        save_clock(sim);
}

/* The clock never goes back: it continues from the saved time when that is ahead of the
 * one the world started with (the real time). */
static int resume_clock(sim_t *sim, gs_diag_t *diag)
{
    json_t *doc = NULL;
    int64_t saved = 0;
    int err = sim_store_get(sim->ctx.store, "clock", "now", &doc, diag);
    if (err == GS_OK && doc != NULL && !gs_json_int(doc, "now", &saved))
        err = gs_diag_set(diag, GS_EPARSE, "state database: bad clock record");
    json_decref(doc);
    if (err == GS_OK && saved > sim_now(&sim->ctx.world))
        sim_world_advance(&sim->ctx.world, saved - sim_now(&sim->ctx.world));
    if (err == GS_OK)
        save_clock(sim);
    return err;
}

/* The state folder and its database, with the clock resumed. */
static int open_store(sim_t *sim, gs_diag_t *diag)
{
    int err = open_state(sim, diag);
    if (err == GS_OK)
        err = sim_store_open(sim->state, &sim->ctx.store, diag);
    return err == GS_OK ? resume_clock(sim, diag) : err;
}

/* The chain, the login directory, the registry and the workloads, each with what the
 * state database holds for it. */
static int start_explorer(sim_ctx_t *ctx, gs_diag_t *diag)
{
    int err = sim_chain_new(&ctx->chain, diag);
    if (err == GS_OK) {
        sim_chain_set_clock(ctx->chain, world_clock, &ctx->world);
        err = sim_chain_attach_store(ctx->chain, ctx->store, diag);
    }
    if (err == GS_OK)
        err = sim_login_new(&ctx->login, diag);
    if (err == GS_OK)
        err = sim_login_attach_store(ctx->login, ctx->store, diag);
    if (err == GS_OK)
        err = sim_registry_new(ctx, &ctx->registry, diag);
    if (err == GS_OK)
        err = sim_registry_load(ctx, diag);
    if (err == GS_OK)
        err = sim_workloads_new(ctx, &ctx->workloads, diag);
    if (err == GS_OK)
        sim_registry_on_pool_dry(ctx->registry, sim_workloads_on_pool_dry, NULL);
    return err;
}

/* The world and its state, the explorer's parts, the node agents (every node's 0-db
 * server starts here) taking up the deployed workloads, then one HTTP server per
 * service, each on a port of its own. */
static int start_services(sim_t *sim, const sim_world_opts_t *o, gs_diag_t *diag)
{
    sim_ctx_t *ctx = &sim->ctx;
    int err = sim_world_generate(&ctx->world, o, diag);
    if (err == GS_OK)
        err = open_store(sim, diag);
    if (err == GS_OK)
        err = start_explorer(ctx, diag);
    if (err == GS_OK)
        err = sim_agents_start(ctx, sim->state, diag);
    if (err == GS_OK)
        err = sim_workloads_load(ctx, diag);
    if (err == GS_OK)
        err = sim_admin_new(ctx, &sim->admin, diag);
    for (int i = 0; i < SRV_COUNT && err == GS_OK; i++)
        err = gs_httpd_start(&sim->loop, sim->listen, 0, services[i].routes,
                             i == SRV_ADMIN ? (void *)sim->admin : ctx, &sim->servers[i], diag);
    if (err == GS_OK) {
        sim_admin_watch(sim->admin, SIM_ADMIN_EXPLORER, sim->servers[SRV_EXPLORER]);
        sim_admin_watch(sim->admin, SIM_ADMIN_CHAIN, sim->servers[SRV_CHAIN]);
        sim_admin_watch(sim->admin, SIM_ADMIN_LOGIN, sim->servers[SRV_LOGIN]);
    }
    if (err == GS_OK) {
        sim_registry_start(ctx);
        sim->registry_started = true;
    }
    return err;
}

/* Each closed part calls this; the last one lets the loop end. */
static void on_part_closed(void *arg)
{
    sim_t *sim = arg;
    if (--sim->closing > 0)
        return;
    uv_close((uv_handle_t *)&sim->sigint, NULL);
    uv_close((uv_handle_t *)&sim->sigterm, NULL);
    uv_close((uv_handle_t *)&sim->clock_timer, NULL);
}

static void on_agents_closed(void *arg)
{
    sim_t *sim = arg;
    sim->agents = NULL;
    on_part_closed(sim);
}

static void stop_services(sim_t *sim)
{
    if (sim->ctx.store != NULL)
        save_clock(sim);
    sim->closing = 1; /* held until every part was asked to close */
    for (int i = 0; i < SRV_COUNT; i++) {
        if (sim->servers[i] == NULL)
            continue;
        sim->closing++;
        gs_httpd_close(sim->servers[i], on_part_closed, sim);
    }
    if (sim->registry_started) {
        sim->closing++;
        sim_registry_close(&sim->ctx, on_part_closed, sim);
    }
    if (sim->ctx.agents) {
        sim->closing++;
        sim->agents = sim->ctx.agents;
        sim_agents_close(&sim->ctx, on_agents_closed, sim);
    }
    on_part_closed(sim);
}

static void free_services(sim_t *sim)
{
    sim_registry_free(sim->ctx.registry); /* only when it never started */
    sim_workloads_free(sim->ctx.workloads);
    sim_login_free(sim->ctx.login);
    sim_chain_free(sim->ctx.chain);
    sim_world_free(&sim->ctx.world);
    sim_admin_free(sim->admin);
    sim_store_close(sim->ctx.store);
    close_state(sim);
}

static void on_signal(uv_signal_t *h, int signum)
{
    sim_t *sim = h->data;
    (void)signum;
    if (++sim->signals > 1) {
        sim_agents_kill_containers(sim->agents); /* what exit would leave running */
        exit(1);
    }
    gs_log(GS_LOG_INFO, "stopping");
    stop_services(sim);
}

/* {"<node_id>": "127.0.0.1:PORT", ...} */
static json_t *zdb_addresses(const sim_t *sim)
{
    json_t *zdbs = json_object();
    for (size_t i = 0; i < sim->ctx.world.n_nodes; i++) {
        gs_zdb_server_t *z = sim_agents_zdb(sim->ctx.agents, i);
        if (z != NULL)
            json_object_set_new(zdbs, sim->ctx.world.nodes[i].node_id,
                                json_string(gs_zdb_server_address(z)));
    }
    return zdbs;
}

static void announce(const sim_t *sim)
{
    json_t *line = json_pack("{s:I, s:I}", "farms", (json_int_t)sim->ctx.world.n_farms, "nodes",
                             (json_int_t)sim->ctx.world.n_nodes);
    char *text;
    for (int i = 0; i < SRV_COUNT; i++) {
        char url[160];
        snprintf(url, sizeof url, "http://%s:%d%s", sim->listen, gs_httpd_port(sim->servers[i]),
                 services[i].prefix);
        json_object_set_new(line, services[i].name, json_string(url));
    }
    json_object_set_new(line, "zdbs", zdb_addresses(sim));
    text = gs_json_dumps(line);
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(line);
}

int gs_sim_serve_main(int argc, char **argv)
{
    sim_world_opts_t o = {.seed = 1, .n_farms = 6, .nodes_per_farm = 6, .time_scale = 1};
    sim_t *sim = calloc(1, sizeof *sim);
    gs_diag_t diag = {{0}};
    int rc;
    if (sim == NULL)
        return 1;
    sim->listen = "127.0.0.1";
    rc = parse_args(argc, argv, &o, sim);
    if (rc) {
        free(sim);
        return rc == 1 ? 0 : rc;
    }
    signal(SIGPIPE, SIG_IGN); /* the nodes' 0-db servers: a peer gone mid-write is an error */
    uv_loop_init(&sim->loop);
    sim->ctx.loop = &sim->loop;
    uv_signal_init(&sim->loop, &sim->sigint);
    uv_signal_init(&sim->loop, &sim->sigterm);
    uv_timer_init(&sim->loop, &sim->clock_timer);
    sim->sigint.data = sim->sigterm.data = sim->clock_timer.data = sim;
    rc = start_services(sim, &o, &diag);
    if (rc == GS_OK) {
        uv_timer_start(&sim->clock_timer, on_clock_tick, CLOCK_SAVE_MS, CLOCK_SAVE_MS);
        uv_signal_start(&sim->sigint, on_signal, SIGINT);
        uv_signal_start(&sim->sigterm, on_signal, SIGTERM);
        announce(sim);
    } else {
        fprintf(stderr, "gridstor-sim: %s\n", diag.msg);
        stop_services(sim);
    }
    uv_run(&sim->loop, UV_RUN_DEFAULT);
    rc = rc == GS_OK && uv_loop_close(&sim->loop) == 0 ? 0 : 1;
    free_services(sim);
    free(sim);
    return rc;
}
