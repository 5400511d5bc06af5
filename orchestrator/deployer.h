/* deployer.h — the deployer's parts (private to orchestrator/): one grid call at a time
 * (deployer.c) shared by the pool steps (deployer.c) and the workload steps
 * (workloads.c). Everything runs on the daemon's loop thread. */
#ifndef GS_DEPLOYER_H
#define GS_DEPLOYER_H

#include "daemon.h"

typedef struct gs_dep_op gs_dep_op_t;
/* The answer to a call: status and the body as JSON (NULL when not JSON), or error. */
typedef void (*gs_dep_done_cb)(gs_dep_op_t *op, long status, json_t *answer, const char *error);

struct gs_dep_op {
    gs_daemon_t *d;
    char name[128]; /* the deployment */
    int64_t idx;
    gs_dep_done_cb done;
    json_t *pool;        /* the pool (or workload) row the step is about */
    uint64_t generation; /* the store's when the call started */
    bool probe;          /* not a grid call: failures do not count (gs_dep_probe) */
};

/* A call about row of deployment name; NULL when out of memory. */
gs_dep_op_t *gs_dep_op_new(gs_daemon_t *d, const char *name, const json_t *row,
                           gs_dep_done_cb done);
/* method base+path with a JSON body (or none) and extra header lines (NULL or a
 * NULL-terminated list of at most 4); the answer goes to op->done, then op is freed. */
void gs_dep_call_with(gs_dep_op_t *op, const char *method, const char *base, const char *path,
                      const char *body, const char *const *extra);
/* The same once every committed state change is on disk (gs_store_sync): for a call
 * that must never happen without its record (a payment, a workload). */
void gs_dep_call_synced(gs_dep_op_t *op, const char *method, const char *base, const char *path,
                        const char *body, const char *const *extra);
/* GET base + the formatted path about row; the answer goes to cb. */
void gs_dep_get(gs_daemon_t *d, const char *name, const json_t *row, gs_dep_done_cb cb,
                const char *base, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* An event in the deployment's history. */
void gs_dep_event(gs_daemon_t *d, const char *name, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Tests kill the daemon at named points (GRIDSTORD_CRASH_AT) to prove it resumes. */
void gs_dep_crash_point(const char *point);

/* A GET of base+path that is not a grid call (a gateway's /health): a failure does not
 * slow the deployer down. */
void gs_dep_probe(gs_daemon_t *d, const char *name, const json_t *row, gs_dep_done_cb cb,
                  const char *base, const char *path);

/* A secret of the deployment derived from the install's seed (gateways.c): `what` "key"
 * (the deployment key) or "gateway" (the gateways' upload secret); reference is any of its
 * workloads' references. hex gets 64 hex digits. */
void gs_dep_secret(gs_daemon_t *d, const char *name, const char *reference, const char *what,
                   char hex[65]);

/* Fills a gateway container's environment and sealed secrets in t (gateways.c);
 * GS_EINVAL while a 0-db it needs has no result yet. */
int gs_dep_fill_gateway(gs_daemon_t *d, const json_t *dep, const json_t *w, const json_t *wls,
                        const char *node_pk, json_t *t);

/* replace.c: signs the deletion of a workload on the grid (the install is among its
 * delete signers); once the explorer took it, the workload goes from its state to `to`.
 * Then placing a failed workload again: in state replacing, it is recorded on a spare
 * node of its pool, or the deployment fails when none is left. */
void gs_dep_sign_delete(gs_daemon_t *d, const char *name, const json_t *w, const char *to);
/* Signs the deletion of the old container a gateway machine row still holds (after a
 * scale posted it again); once the explorer took it, the row forgets it. */
void gs_dep_retire_old(gs_daemon_t *d, const char *name, const json_t *w);
void gs_dep_replace(gs_daemon_t *d, const json_t *dep, const json_t *w, const json_t *wls);
/* The next step of a deployment being deleted (workloads.c): its workloads deleted on the
 * grid one by one, then the deployment forgotten. */
bool gs_dep_advance_delete(gs_daemon_t *d, const json_t *dep);

/* The next step of a deployment whose escrows are paid (workloads.c): its 0-dbs, then its
 * gateway machines, then their gateways answering. True when a call started or the
 * deployment moved on. */
bool gs_dep_advance_workloads(gs_daemon_t *d, const json_t *dep);
bool gs_dep_check_gateways(gs_daemon_t *d, const json_t *dep);

#endif
