/* registry.h — the explorer's write side in the local grid (private to sim/): the
 * phonebook (3Bot users and their ed25519 keys), capacity pools bought through pool
 * reservations, and the escrow that watches the payment chain for them.
 *
 * Everything here runs on the sim's loop thread: the HTTP handlers, the escrow timer
 * and the functions below (the workloads code calls them from its own handlers).
 * Rules and the choices made where the reference is silent: registry.c's header. */
#ifndef GS_SIM_REGISTRY_H
#define GS_SIM_REGISTRY_H

#include "chain.h"
#include "ctx.h"

/* Prices as the explorer's /prices gives them on mainnet (divided by
 * sim_price_divisor() on the other networks), TFT at 100 mill = $0.10. */
#define SIM_CU_PRICE_DOLLAR_MONTH    10
#define SIM_SU_PRICE_DOLLAR_MONTH    8
#define SIM_IPV4U_PRICE_DOLLAR_MONTH 6
#define SIM_TFT_PRICE_MILL           100

#define SIM_PAYMENT_TIMEOUT   3600 /* simulated seconds to pay a pool reservation */
#define SIM_ESCROW_TICK_MS    200  /* real milliseconds between escrow checks */
#define SIM_REGISTRY_MAX_BODY (64 * 1024)

/* A capacity pool, as GET /reservations/pools/{id} shows it. Units are unit-seconds. */
typedef struct {
    int64_t id; /* the id of the reservation that created it */
    double cus, sus, ipv4us;
    gs_strlist_t node_ids;
    int64_t last_updated; /* simulated unix time the counters were last synced */
    double active_cu, active_su, active_ipv4;
    int64_t empty_at; /* INT64_MAX while nothing consumes the pool */
    int64_t customer_tid, sponsor_tid;
    int64_t *workload_ids; /* active_workload_ids */
    size_t n_workloads, cap_workloads;
    int64_t dry_seen; /* the empty_at the dry hook was last called for */
} sim_pool_t;

/* Called (on the loop thread) when a pool's empty_at has passed, once per empty_at
 * value, after its counters were synced (an exhausted resource reads 0). The
 * workloads code deletes the pool's workloads that use an exhausted resource and
 * deactivates them, which moves empty_at. */
typedef void (*sim_pool_dry_cb)(sim_ctx_t *ctx, const sim_pool_t *pool, void *arg);

/* Creates the registry for ctx (its world, chain and loop; ctx must outlive it) in
 * *out, which is normally &ctx->registry. Free with sim_registry_free, or with sim_registry_close once started. */
int sim_registry_new(sim_ctx_t *ctx, struct sim_registry **out, gs_diag_t *diag);
/* Reads the phonebook, escrows, reservations and pools saved in ctx->store back
 * (store.h; nothing without a store); every later change is written through to it.
 * Before sim_registry_start. */
int sim_registry_load(sim_ctx_t *ctx, gs_diag_t *diag);
/* Starts the escrow and pool timer on ctx->loop (every SIM_ESCROW_TICK_MS). */
void sim_registry_start(sim_ctx_t *ctx);
/* Closes ctx->registry's handles and frees it in their close callback, then calls
 * done(arg) (done may be NULL); ctx->registry is NULL on return. */
void sim_registry_close(sim_ctx_t *ctx, void (*done)(void *), void *arg);
/* Frees a registry whose timer was never started (NULL is fine). */
void sim_registry_free(struct sim_registry *reg);

/* ---- for the workloads code ---- */

/* The phonebook key of user tid; false when there is no such user. */
bool sim_registry_user_key(const struct sim_registry *reg, int64_t tid, unsigned char pk[32]);
/* The pool with this id (synced to now), or NULL. Valid until the next registry call. */
const sim_pool_t *sim_registry_pool(struct sim_registry *reg, int64_t pool_id);
/* Whether a workload of customer tid may use the pool on node_id (the 403 rule). */
bool sim_registry_pool_allows(struct sim_registry *reg, int64_t pool_id, int64_t tid,
                              const char *node_id);
/* Whether the pool carries these extra active units for `seconds` more (the 402 rule:
 * now + seconds < empty_at once they are added). */
bool sim_registry_pool_can_carry(struct sim_registry *reg, int64_t pool_id, double cu, double su,
                                 double ipv4, int64_t seconds);
/* Adds a deployed workload's units to the pool's active units (once per workload id;
 * again is a no-op), syncing the counters and recomputing empty_at. GS_ENOENT when
 * there is no such pool, GS_EINVAL for negative units. */
int sim_registry_pool_activate(struct sim_registry *reg, int64_t pool_id, int64_t workload_id,
                               double cu, double su, double ipv4);
/* Removes them again (a no-op for a workload that is not active). */
int sim_registry_pool_deactivate(struct sim_registry *reg, int64_t pool_id, int64_t workload_id,
                                 double cu, double su, double ipv4);
/* Sets the hook called when a pool runs dry (one hook; NULL removes it). */
void sim_registry_on_pool_dry(struct sim_registry *reg, sim_pool_dry_cb cb, void *arg);

/* ---- chain addresses of the escrow's parties (hex ed25519 keys, as in chain.h) ---- */

/* The wallet a farm is paid to (deterministic per farm id); false for an unknown farm. */
bool sim_registry_farm_address(const struct sim_registry *reg, int64_t farm_id,
                               char out[SIM_ADDRESS_LEN + 1]);
/* The foundation's wallet (10% of every pool payment). */
const char *sim_registry_foundation_address(const struct sim_registry *reg);

/* ---- HTTP handlers (user data: the sim_ctx_t), listed by SIM_REGISTRY_ROUTES ---- */

void sim_registry_post_user(gs_http_req_t *r, void *ud);
void sim_registry_get_users(gs_http_req_t *r, void *ud);
void sim_registry_get_user(gs_http_req_t *r, void *ud);
void sim_registry_post_pool(gs_http_req_t *r, void *ud);
void sim_registry_get_pool(gs_http_req_t *r, void *ud);
void sim_registry_get_owner_pools(gs_http_req_t *r, void *ud);
void sim_registry_get_payment(gs_http_req_t *r, void *ud);

/* The registry's routes under a prefix ("/api/v1", "/explorer"), for a route table. */
#define SIM_REGISTRY_ROUTES(prefix)                                                                \
    {"POST", prefix "/users", sim_registry_post_user, SIM_REGISTRY_MAX_BODY},                      \
        {"GET", prefix "/users", sim_registry_get_users, 0},                                       \
        {"GET", prefix "/users/{}", sim_registry_get_user, 0},                                     \
        {"POST", prefix "/reservations/pools", sim_registry_post_pool, SIM_REGISTRY_MAX_BODY},     \
        {"GET", prefix "/reservations/pools/{}", sim_registry_get_pool, 0},                        \
        {"GET", prefix "/reservations/pools/owner/{}", sim_registry_get_owner_pools, 0},           \
    {                                                                                              \
        "GET", prefix "/reservations/pools/payment/{}", sim_registry_get_payment, 0                \
    }

#endif
