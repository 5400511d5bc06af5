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
    bool deleted;
} sim_node_t;

typedef enum { SIM_MAINNET, SIM_TESTNET, SIM_DEVNET } sim_network_t;

typedef struct {
    sim_farm_t *farms;
    size_t n_farms;
    sim_node_t *nodes;
    size_t n_nodes;
    int network;       /* sim_network_t */
    double time_scale; /* simulated seconds per real second */
    int64_t epoch0;    /* simulated time at start */
    uint64_t start_ms; /* real clock at start */
} sim_world_t;

typedef struct {
    uint64_t seed;
    size_t n_farms, nodes_per_farm;
    int network;
    double time_scale;
} sim_world_opts_t;

/* Builds a deterministic world from the seed. */
int sim_world_generate(sim_world_t *w, const sim_world_opts_t *o, gs_diag_t *diag);
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

#endif
