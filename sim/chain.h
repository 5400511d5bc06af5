/* chain.h — the local grid's payment chain (private to sim/): TFT accounts keyed by
 * ed25519 public keys, balances in stropes (1e-7 TFT), a faucet for test accounts,
 * signed payment transactions with a memo, and lookups. The explorer's escrow
 * watches it through sim_chain_received().
 *
 * Addresses are the lowercase hex of the account's ed25519 public key (64 chars).
 * A transaction is {"json": TEXT, "signature": HEX} where TEXT is the compact JSON
 * {"from":ADDR,"to":ADDR,"amount":STROPES,"asset":"TFT","memo":TEXT,"sequence":N}
 * and HEX the ed25519 signature of TEXT's bytes by `from`'s key; `sequence` must be
 * the sender's next sequence number (1 for its first payment), so a transaction can
 * be applied once only. Memos are at most 28 bytes (a Stellar text memo). */
#ifndef GS_SIM_CHAIN_H
#define GS_SIM_CHAIN_H

#include "common.h"

#define SIM_ADDRESS_LEN  64
#define SIM_MEMO_MAX     28
#define SIM_TXID_LEN     64              /* hex of BLAKE2b-256 of the transaction's TEXT */
#define SIM_FAUCET_MAX   1000000000000LL /* stropes per faucet call: 100000 TFT */
#define SIM_PAYMENTS_MAX 1000            /* transactions in one payments answer */

typedef struct sim_chain sim_chain_t;

/* The simulated time stamped on transactions (unix seconds). */
typedef int64_t (*sim_chain_clock_cb)(void *arg);

int sim_chain_new(sim_chain_t **out, gs_diag_t *diag);
void sim_chain_free(sim_chain_t *c);
struct sim_store;
/* Reads the accounts and transactions saved in store back, then writes every change
 * through to it (store.h; NULL keeps the chain in memory only). Before any change. */
int sim_chain_attach_store(sim_chain_t *c, struct sim_store *store, gs_diag_t *diag);
/* Sets the clock (without one, transactions carry time 0). */
void sim_chain_set_clock(sim_chain_t *c, sim_chain_clock_cb now, void *arg);
/* True for 64 lowercase hex characters. */
bool sim_chain_address_valid(const char *address);

/* Mints amount into address (the faucet, and the escrow's own bookkeeping in tests). */
int sim_chain_credit(sim_chain_t *c, const char *address, uint64_t amount, gs_diag_t *diag);
uint64_t sim_chain_balance(const sim_chain_t *c, const char *address);
/* Total received by address in payments carrying exactly this memo. */
uint64_t sim_chain_received(const sim_chain_t *c, const char *address, const char *memo);
/* Moves amount between accounts without a signature: for the chain's own parties
 * (the explorer's escrow paying farmers out, refunds). It is recorded like a payment,
 * with from's next sequence number and an empty signature. GS_ERANGE when from
 * cannot pay it, GS_EINVAL for a bad address, amount or memo. txid_out may be NULL. */
int sim_chain_transfer(sim_chain_t *c, const char *from, const char *to, uint64_t amount,
                       const char *memo, char txid_out[SIM_TXID_LEN + 1], gs_diag_t *diag);

/* The chain's HTTP API (user data: the sim_ctx_t): see docs/local-grid.md. */
extern const gs_http_route_t sim_chain_routes[];

#endif
