/* workloads.h — the explorer's workloads in the local grid (private to sim/): POST
 * with HTTP-signature auth and the customer signature over the workload's challenge,
 * GET one or a paged list, sign/delete and sign/provision, and the deletion of the
 * workloads of a pool that ran dry. Rules and choices: workloads.c's header.
 *
 * Everything runs on the sim's loop thread. */
#ifndef GS_SIM_WORKLOADS_H
#define GS_SIM_WORKLOADS_H

#include "ctx.h"
#include "registry.h"

#define SIM_WORKLOADS_MAX_BODY (64 * 1024)

/* next_action values (tfexplorer NextActionEnum). */
enum {
    SIM_NA_CREATE = 0,
    SIM_NA_SIGN = 1,
    SIM_NA_PAY = 2,
    SIM_NA_DEPLOY = 3,
    SIM_NA_DELETE = 4,
    SIM_NA_INVALID = 5,
    SIM_NA_DELETED = 6,
    SIM_NA_MIGRATED = 7
};

/* Creates the workload store for ctx in *out (normally &ctx->workloads); ctx must
 * outlive it. Free with sim_workloads_free (NULL is fine). */
int sim_workloads_new(sim_ctx_t *ctx, struct sim_workloads **out, gs_diag_t *diag);
void sim_workloads_free(struct sim_workloads *wls);

/* Reads the workloads saved in ctx->store back (store.h; nothing without a store)
 * and has the node agents take the deployed ones up again (sim_agents_restore);
 * every later change is written through. After sim_agents_start and
 * sim_registry_load, before the HTTP servers open. */
int sim_workloads_load(sim_ctx_t *ctx, gs_diag_t *diag);
/* Saves the workload whose stored document is doc, after its result changed outside
 * a workloads handler (a container that exited, a node that came up again). */
void sim_workloads_save_doc(sim_ctx_t *ctx, const json_t *doc);

/* The registry's dry hook (sim_registry_on_pool_dry(reg, sim_workloads_on_pool_dry,
 * NULL)): deletes the pool's deployed workloads that use an exhausted resource. */
void sim_workloads_on_pool_dry(sim_ctx_t *ctx, const sim_pool_t *pool, void *arg);

/* ---- HTTP handlers (user data: the sim_ctx_t), listed by SIM_WORKLOADS_ROUTES ---- */

void sim_workloads_post(gs_http_req_t *r, void *ud);
void sim_workloads_get(gs_http_req_t *r, void *ud);
void sim_workloads_get_list(gs_http_req_t *r, void *ud);
void sim_workloads_sign_delete(gs_http_req_t *r, void *ud);
void sim_workloads_sign_provision(gs_http_req_t *r, void *ud);

/* The workloads' routes under a prefix ("/api/v1", "/explorer"), for a route table. */
#define SIM_WORKLOADS_ROUTES(prefix)                                                               \
    {"POST", prefix "/reservations/workloads", sim_workloads_post, SIM_WORKLOADS_MAX_BODY},        \
        {"GET", prefix "/reservations/workloads", sim_workloads_get_list, 0},                      \
        {"GET", prefix "/reservations/workloads/{}", sim_workloads_get, 0},                        \
        {"POST", prefix "/reservations/workloads/{}/sign/delete", sim_workloads_sign_delete,       \
         SIM_WORKLOADS_MAX_BODY},                                                                  \
    {                                                                                              \
        "POST", prefix "/reservations/workloads/{}/sign/provision", sim_workloads_sign_provision,  \
            SIM_WORKLOADS_MAX_BODY                                                                 \
    }

#endif
