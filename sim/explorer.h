/* explorer.h — the explorer v2 API of the local grid (private to sim/). */
#ifndef GS_SIM_EXPLORER_H
#define GS_SIM_EXPLORER_H

#include "world.h"

#define SIM_PAGE_DEFAULT 100
#define SIM_PAGE_MAX     1000

/* The route table of the explorer, ending with a NULL method; handlers expect the
 * server's user data to be the sim_ctx_t. */
extern const gs_http_route_t sim_explorer_routes[];

#endif
