/* admin.h — the local grid's admin endpoint (private to sim/): nodes taken down and up,
 * faults injected into the explorer, the chain or the login directory (error statuses,
 * slow answers), bytes flipped in a
 * node's 0-db, and the simulated clock moved. A loopback tool for tests and demos: it
 * has no authentication. Routes and choices: admin.c's header. */
#ifndef GS_SIM_ADMIN_H
#define GS_SIM_ADMIN_H

#include "ctx.h"

typedef struct sim_admin sim_admin_t;

/* The admin state over ctx (which must outlive it). Free with sim_admin_free once the
 * servers that use it are closed. */
int sim_admin_new(sim_ctx_t *ctx, sim_admin_t **out, gs_diag_t *diag);
void sim_admin_free(sim_admin_t *a);

/* Lets a service's fault (POST /admin/<service>/fault) act on its server: installs the
 * hook there. service: SIM_ADMIN_EXPLORER, _CHAIN or _LOGIN. */
enum { SIM_ADMIN_EXPLORER, SIM_ADMIN_CHAIN, SIM_ADMIN_LOGIN, SIM_ADMIN_SERVICES };
void sim_admin_watch(sim_admin_t *a, int service, gs_httpd_t *server);

/* The route table of the admin endpoint under /admin, ending with a NULL method;
 * handlers expect the server's user data to be the sim_admin_t. */
extern const gs_http_route_t sim_admin_routes[];

#endif
