/* login.h — the local grid's login directory (private to sim/): 3Bot names and
 * their ed25519 public keys, as the Threefold login service answers
 * `GET /api/users/<name>` with {"doublename": NAME, "publicKey": BASE64}. */
#ifndef GS_SIM_LOGIN_H
#define GS_SIM_LOGIN_H

#include "common.h"

#define SIM_LOGIN_NAME_MAX 64

typedef struct sim_login sim_login_t;

/* A 3Bot name: lowercase letters, digits, '.', '-' and '_', starting with a letter or
 * a digit and ending in ".3bot", at most SIM_LOGIN_NAME_MAX bytes. */
bool sim_login_name_valid(const char *name);

int sim_login_new(sim_login_t **out, gs_diag_t *diag);
void sim_login_free(sim_login_t *l);
struct sim_store;
/* Reads the names saved in store back, then writes every new name through to it
 * (store.h; NULL keeps the directory in memory only). Before any registration. */
int sim_login_attach_store(sim_login_t *l, struct sim_store *store, gs_diag_t *diag);
/* Registers name (a 3Bot name like alice.3bot) with a 32-byte public key;
 * GS_EINVAL when the name is taken by another key or malformed (registering it
 * again with the same key is fine), GS_ETOOBIG when the directory is full. */
int sim_login_register(sim_login_t *l, const char *name, const unsigned char pk[32],
                       gs_diag_t *diag);
/* The key of a name; false when unknown. */
bool sim_login_lookup(const sim_login_t *l, const char *name, unsigned char pk[32]);

/* The directory's HTTP API (user data: the sim_ctx_t). */
extern const gs_http_route_t sim_login_routes[];

#endif
