/* ctx.h — the local grid's one context: the world (farms, nodes, clock) and the
 * services running over it. Every route table of the sim gets a sim_ctx_t * as its
 * user data. Private to sim/. */
#ifndef GS_SIM_CTX_H
#define GS_SIM_CTX_H

#include "world.h"

struct sim_agents;
struct sim_chain;
struct sim_login;
struct sim_registry;
struct sim_store;
struct sim_workloads;

typedef struct sim_ctx {
    uv_loop_t *loop;
    sim_world_t world;
    struct sim_chain *chain;         /* the payment chain (chain.h) */
    struct sim_login *login;         /* the login directory (login.h) */
    struct sim_registry *registry;   /* the explorer's phonebook and pools (registry.h) */
    struct sim_workloads *workloads; /* the explorer's workloads (workloads.h) */
    struct sim_agents *agents;       /* the node agents and their 0-db servers (agents.h) */
    struct sim_store *store;         /* the durable state (store.h), NULL without one */
} sim_ctx_t;

#endif
