/* world.h — the local grid's own model of the world: farms, nodes with their
 * keys, capacity and liveness, the network's prices and the simulated clock.
 * Private to sim/; the simulator never uses the product's reservation code. */
#ifndef GS_SIM_WORLD_H
#define GS_SIM_WORLD_H

#include "common.h"

#include <sodium.h>

typedef struct {
    double cru, mru, hru, sru;
} sim_res_t;

typedef struct {
    int64_t id;
    char name[64];
    char country[64], city[64];
    char wallet[64];
} sim_farm_t;

typedef struct {
    int64_t id;
    char node_id[64]; /* base58 of the ed25519 public key */
    char public_key_hex[65];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    int64_t farm_id;
    char country[64], city[64], continent[32];
    double latitude, longitude;
    sim_res_t total, used, reserved;
    int64_t created;
    int64_t down_since; /* 0 while up */
    bool silent;        /* up, but its agent deploys nothing (admin.c); not saved */
    bool deleted;
} sim_node_t;

typedef enum { SIM_MAINNET, SIM_TESTNET, SIM_DEVNET } sim_network_t;

#define SIM_FLISTS_MAX    100
#define SIM_FLIST_URL_MAX 1024
#define SIM_FLIST_CMD_MAX 4096
#define SIM_FLIST_ARGS    64

/* What the node agents run for a container workload's flist: argv[0] is the
 * executable, argv ends with NULL. */
typedef struct {
    char *url;
    char **argv;
    size_t argc;
} sim_flist_t;

typedef struct {
    sim_farm_t *farms;
    size_t n_farms;
    sim_node_t *nodes;
    size_t n_nodes;
    int network;       /* sim_network_t */
    double time_scale; /* simulated seconds per real second */
    int64_t epoch0;    /* simulated time at start */
    uint64_t start_ms; /* real clock at start */
    sim_flist_t *flists;
    size_t n_flists;
} sim_world_t;

typedef struct {
    uint64_t seed;
    size_t n_farms, nodes_per_farm;
    int network;
    double time_scale;
    const char *grid;     /* a grid file describing the world, or NULL (gridfile.c) */
    bool generator_flags; /* seed, farms, nodes or network came from the command line */
    const char *flist_args[SIM_FLISTS_MAX]; /* "URL=COMMAND" (not owned) */
    size_t n_flist_args;
} sim_world_opts_t;

/* Builds the world: from o->grid when set (the file's farms, nodes, seed, network and
 * flists; refused when o->generator_flags), else a deterministic one from the seed.
 * o->flist_args are added to the flist map either way (replacing the file's entry for
 * the same URL). Free with sim_world_free, also after a failure. */
int sim_world_generate(sim_world_t *w, const sim_world_opts_t *o, gs_diag_t *diag);
/* The command mapped to url, or NULL. */
const sim_flist_t *sim_world_flist(const sim_world_t *w, const char *url);
/* Adds (or replaces) url's command: a list of arguments, or one text split at blanks
 * when n_args is 1 and split is true. Copies everything. */
int sim_world_add_flist(sim_world_t *w, const char *url, const char *const *args, size_t n_args,
                        bool split, gs_diag_t *diag);
void sim_world_free(sim_world_t *w);
/* Simulated unix time. */
int64_t sim_now(const sim_world_t *w);
/* Jumps the simulated clock forward by seconds (never back: pools and escrows only
 * move forward). */
void sim_world_advance(sim_world_t *w, int64_t seconds);
/* From now on, time_scale simulated seconds pass per real second (> 0). */
void sim_world_set_scale(sim_world_t *w, double time_scale);
/* The node's last report: recent while it is up. */
int64_t sim_node_updated(const sim_world_t *w, const sim_node_t *n);
sim_node_t *sim_world_node(sim_world_t *w, const char *node_id);
const sim_farm_t *sim_world_farm(const sim_world_t *w, int64_t farm_id);
/* Prices divided as the network does (mainnet 1, testnet 10, devnet 100). */
double sim_price_divisor(const sim_world_t *w);
/* Base58 (Bitcoin alphabet) of len bytes into out. */
void sim_base58(const unsigned char *p, size_t len, char *out, size_t outlen);

/* ---- the parts gridfile.c builds a world from ---- */

/* Allocates n_farms zeroed farms and n_nodes zeroed nodes (the nodes' keys in
 * sodium memory) and starts the clock. */
int sim_world_alloc(sim_world_t *w, size_t n_farms, size_t n_nodes, int network, double time_scale,
                    gs_diag_t *diag);
/* A wallet address drawn from rng. */
void sim_farm_wallet(sim_farm_t *f, gs_rng_t *rng);
/* The node's ed25519 identity (sk, node_id, public_key_hex) drawn from rng. */
void sim_node_identity(sim_node_t *n, gs_rng_t *rng);
/* Continent and coordinates of a known country (empty and 0 otherwise); i varies the
 * coordinates a little from node to node. */
void sim_node_place(sim_node_t *n, size_t i);
/* sim_world_generate for a grid file (gridfile.c): o->grid is set. */
int sim_world_load(sim_world_t *w, const sim_world_opts_t *o, gs_diag_t *diag);

#endif
