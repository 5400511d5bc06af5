/* containers.h — the node agents' container workloads, private to agents.c and
 * containers.c: each accepted container workload runs as a real child process of the
 * sim, the command its flist maps to (world.h's flist map). Choices: containers.c's
 * header. Everything runs on the sim's loop thread. */
#ifndef GS_SIM_CONTAINERS_H
#define GS_SIM_CONTAINERS_H

#include "ctx.h"
#include "zdb.h"

struct sim_containers;

/* The containers of ctx's nodes, with their working folders under state_dir. */
int sim_containers_new(sim_ctx_t *ctx, const char *state_dir, struct sim_containers **out,
                       gs_diag_t *diag);
/* Stops every container process (SIGTERM, SIGKILL after the grace period), waits until
 * each one is reaped and its handles closed, frees cs, then calls cb. */
void sim_containers_close(struct sim_containers *cs, gs_zdb_closed_cb cb, void *ud);

/* A container workload (the stored document) accepted for deployment: starts it and
 * sets doc's result. */
void sim_containers_provision(struct sim_containers *cs, json_t *doc);
/* The workload was deleted: its process is stopped, its capacity released, result 2. */
void sim_containers_deprovision(struct sim_containers *cs, json_t *doc);
/* A deployed container workload read back from the state store at start: taken up
 * again as a rebooted node would (started, result anew, when its node is up). */
void sim_containers_restore(struct sim_containers *cs, json_t *doc);
/* SIGKILLs every process group the containers started (for an exit at once). */
void sim_containers_kill_all(const struct sim_containers *cs);
/* World node `node` went down (its processes are killed) or came up again (its
 * containers start again). */
void sim_containers_node_down(struct sim_containers *cs, size_t node);
void sim_containers_node_up(struct sim_containers *cs, size_t node);

/* ---- from agents.c ---- */

#define SIM_SECRET_MAX 1024

/* Opens a hex SecretBox (nonce then box) sent for node n by the customer with
 * phonebook key pk into out (NUL-terminated); `what` names it in messages
 * ("password"). */
int sim_agents_open_secret(const char *what, const char *hex, const sim_node_t *n,
                           const unsigned char pk[32], char out[SIM_SECRET_MAX + 1],
                           gs_diag_t *diag);
/* Sets doc's result: state, message, and data (stolen) signed by the node when not
 * NULL. */
void sim_agents_set_result(sim_ctx_t *ctx, json_t *doc, const sim_node_t *n, int state,
                           const char *message, json_t *data);

#endif
