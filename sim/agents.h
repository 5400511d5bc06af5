/* agents.h — the node agents of the local grid (private to sim/): each node runs its
 * own in-process 0-db server (zdb.h) under the state folder, and its agent provisions
 * and removes the 0-db and container workloads the explorer accepts for that node
 * (reference tfgrid-v2.md §1.4), reserving and releasing the node's capacity; a
 * container is a real child process (containers.h). Choices: agents.c's and
 * containers.c's headers.
 *
 * Everything runs on the sim's loop thread. */
#ifndef GS_SIM_AGENTS_H
#define GS_SIM_AGENTS_H

#include "ctx.h"
#include "zdb.h"

struct sim_agents;

/* Starts one 0-db server per node of ctx's world on 127.0.0.1 (port 0), each with its
 * data under state_dir/<node_id>/ and an admin password the agents keep, and sets
 * ctx->agents. ctx->agents is set even on failure (with the servers started so far):
 * close it with sim_agents_close either way. Nodes already down start with their 0-db
 * down. */
int sim_agents_start(sim_ctx_t *ctx, const char *state_dir, gs_diag_t *diag);
/* Stops and reaps every container process, closes every node's 0-db server, frees
 * ctx->agents (and sets it to NULL), then calls
 * cb (maybe before returning). A NULL ctx->agents calls cb at once. */
void sim_agents_close(sim_ctx_t *ctx, gs_zdb_closed_cb cb, void *ud);

/* The 0-db server of world node i (NULL when agents do not run). */
gs_zdb_server_t *sim_agents_zdb(const struct sim_agents *a, size_t i);

/* A 0-db or container workload (the explorer's stored document) just accepted for
 * deployment: the node's agent provisions it and sets doc's "result" (state 1 ok, 0
 * error). Does nothing when agents do not run or for other types. */
void sim_agents_provision(sim_ctx_t *ctx, json_t *doc);
/* The workload was deleted: its namespace goes (or its process is stopped), the
 * capacity is released and the result gets state 2. Does nothing for a workload the
 * agent never provisioned. */
void sim_agents_deprovision(sim_ctx_t *ctx, json_t *doc);

/* A deployed workload read back from the state store at start (workloads.c): the
 * node's agent takes it up again as a rebooted node would: a 0-db namespace's capacity
 * is reserved again, a container started again (when its node is up). */
void sim_agents_restore(sim_ctx_t *ctx, json_t *doc);
/* SIGKILLs every container process group of a (ctx->agents, also while closing until
 * sim_agents_close's callback; NULL is fine) at once, for a sim that must exit now. */
void sim_agents_kill_containers(const struct sim_agents *a);

/* Takes node down (its 0-db refuses connections, its container processes are killed,
 * down_since = now) or up again (its containers start again, as a rebooted node
 * redeploys its workloads). */
int sim_node_set_down(sim_ctx_t *ctx, sim_node_t *node, bool down, gs_diag_t *diag);

#endif
