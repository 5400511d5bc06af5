/* payments.h — gridstor's identities and money: the install's ed25519 identity (a seed
 * the user writes down), signatures towards the grid (hex ed25519, HTTP signatures for
 * the explorer), TFT amounts, signed payments on the chain, and the checks of a
 * signandpay callback: the person's signature over DataToSign and the payment on the
 * chain. The callback's protocol is in docs/planning.md ("The callback").
 *
 * Everything here is pure computation over its inputs; fetching keys and transactions
 * is the caller's (the daemon's grid client). */
#ifndef GS_PAYMENTS_H
#define GS_PAYMENTS_H

#include "reservation.h"

#include <sodium.h>

/* ---- identity --------------------------------------------------------------------------- */

#define GS_SEED_TEXT_LEN 81 /* 8 groups of 8 hex digits and a checksum group, dashes, NUL */
#define GS_ADDRESS_LEN   64 /* a chain address: the hex of an ed25519 public key */

typedef struct {
    unsigned char seed[crypto_sign_SEEDBYTES];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    char name[64]; /* the install's 3Bot name in the phonebook ("" until registered) */
    int64_t tid;   /* its phonebook id (0 until registered) */
    char address[GS_ADDRESS_LEN + 1]; /* its wallet on the chain: hex of pk */
} gs_identity_t;

/* A new identity from the system's randomness. */
void gs_identity_generate(gs_identity_t *id);
/* The identity of a 32-byte seed. */
void gs_identity_from_seed(gs_identity_t *id, const unsigned char seed[crypto_sign_SEEDBYTES]);
/* The seed as the user writes it down: eight groups of 8 hex digits and a checksum
 * group (the first 4 bytes of BLAKE2b-256 of the seed), dash-separated. */
void gs_identity_seed_text(const gs_identity_t *id, char out[GS_SEED_TEXT_LEN]);
/* Restores from that text (case, spaces and dashes are free; the checksum catches a
 * mistyped digit). GS_EINVAL with what is wrong. */
int gs_identity_from_seed_text(gs_identity_t *id, const char *text, gs_diag_t *diag);
/* {"name","tid","seed"} written atomically with mode 0600; loading refuses a file
 * other users can read. */
int gs_identity_save(const gs_identity_t *id, const char *path, gs_diag_t *diag);
int gs_identity_load(gs_identity_t *id, const char *path, gs_diag_t *diag);
/* Wipes the secret parts. */
void gs_identity_clear(gs_identity_t *id);
/* A 32-byte key of this identity for one purpose: BLAKE2b-256 keyed with the seed over
 * "gridstor/" + context, so it comes back from the seed alone (deployment keys). */
void gs_identity_derive_key(const gs_identity_t *id, const char *context, unsigned char out[32]);

/* ---- secrets for a node ------------------------------------------------------------------- */

#define GS_SEAL_MAX 1024 /* plaintext bytes of one sealed value */
/* A value only node node_pk_hex (its ed25519 key, hex) can open, as the grid's nodes
 * open 0-db passwords and containers' secret variables: the X25519 shared secret of the
 * identity and the node (both ed25519 keys converted), hashed with BLAKE2b-256 into a
 * SecretBox key; hex of nonce + box into out. false when the node key is not valid, the
 * value is over GS_SEAL_MAX or out is too short (it needs 2 * (40 + len) + 1 bytes). */
bool gs_seal_for_node(const gs_identity_t *id, const char *node_pk_hex, const char *value,
                      char *out, size_t outlen);

/* ---- signatures towards the grid ---------------------------------------------------------- */

/* hex(ed25519(data)) into out (129 bytes). */
void gs_sign_hex(const gs_identity_t *id, const void *data, size_t len, char out[129]);
/* The explorer's HTTP signature (draft-cavage, ed25519, headers "(created) date
 * threebot-id", keyId = tid): fills the three header lines "Authorization: ...",
 * "Date: ..." and "Threebot-Id: ..." for a request made at unix time `now`. */
typedef struct {
    char authorization[512], date[64], threebot_id[48];
} gs_http_signature_t;
void gs_http_signature(const gs_identity_t *id, int64_t now, gs_http_signature_t *out);

/* ---- TFT amounts and chain payments -------------------------------------------------------- */

/* "196.8696576" (at most 7 decimals, no sign or exponent) → stropes. GS_EINVAL. */
int gs_parse_tft(const char *text, uint64_t *stropes, gs_diag_t *diag);
/* The chain's payment body {"json": TEXT, "signature": HEX} from id's wallet (see the
 * chain's API in docs/local-grid.md); free it. NULL when out of memory. */
char *gs_chain_payment(const gs_identity_t *id, const char *to, uint64_t amount, const char *memo,
                       uint64_t sequence);

/* ---- the signandpay callback --------------------------------------------------------------- */

#define GS_CALLBACK_MAX_BODY 16384
#define GS_CALLBACK_TXID_LEN 64

typedef struct {
    char double_name[65];
    unsigned char *signed_data; /* crypto_sign's combined form: signature, then the text */
    size_t signed_len;
    char txid[GS_CALLBACK_TXID_LEN + 1];
} gs_callback_t;

/* Parses {"DoubleName","SignedData","Payment":{"Transaction"}} strictly (every member
 * present and typed, no other, sizes capped). GS_EINVAL/GS_EPARSE with the member. */
int gs_callback_parse(const char *body, size_t len, gs_callback_t *cb, gs_diag_t *diag);
void gs_callback_free(gs_callback_t *cb);
/* The signed data opens with pk (the owner's key from the login directory) and holds
 * exactly data_to_sign. GS_EINVAL: "signature does not verify with NAME's key" or
 * "the signed text is not this session's document". */
int gs_callback_verify(const gs_callback_t *cb, const unsigned char pk[32],
                       const char *data_to_sign, gs_diag_t *diag);

/* What a session's payment must be. */
typedef struct {
    const char *from;        /* the signer's address (hex of the key); NULL: any */
    const char *destination; /* the install's wallet */
    uint64_t amount;         /* at least this many stropes */
    const char *memo;        /* exactly */
} gs_payment_expect_t;

/* Checks a chain transaction (the TX JSON the chain answers) against expect: to the
 * destination from the signer's address, asset TFT, memo, at least the amount. GS_EINVAL naming what differs. */
int gs_payment_check(const json_t *tx, const gs_payment_expect_t *expect, gs_diag_t *diag);

#endif
