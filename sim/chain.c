/* chain.c — the local grid's payment chain: TFT accounts keyed by ed25519 public keys,
 * balances in stropes, a faucet, signed payments with a memo, and lookups. It is kept in
 * memory as two flat tables of records (accounts, transactions); with a state store
 * (store.h) every change is written through as records "account" (keyed by address:
 * {"balance","sequence"}) and "tx" (keyed by id: TX below), read back at start.
 *
 * HTTP API (JSON in and out; every error answer is {"error": TEXT} and changes nothing)
 *
 *   ADDRESS  64 lowercase hex characters: an ed25519 public key.
 *   STROPES  an integer; 1 TFT = 10^7 stropes. Balances stay below 2^63.
 *   ACCOUNT  {"address": ADDRESS, "balance": STROPES, "sequence": N}
 *            sequence is the number the account's next payment must carry (1 at first).
 *   TX       {"id": TXID, "from": ADDRESS, "to": ADDRESS, "amount": STROPES,
 *             "asset": "TFT", "memo": TEXT, "sequence": N, "time": UNIX,
 *             "json": TEXT, "signature": HEX}
 *            json and signature are the submitted ones (signature in lowercase; "" for
 *            the chain's own transfers: escrow payouts, refunds); id is the hex
 *            BLAKE2b-256 of json's bytes; time is the simulated time it was applied.
 *
 * GET  /api/v1/accounts/ADDRESS
 *      200 ACCOUNT. An address never seen is an empty account (balance 0, sequence 1),
 *      like a fresh wallet. 400 malformed ADDRESS.
 * POST /api/v1/accounts/ADDRESS/fund                body {"amount": STROPES}
 *      The faucet: mints 1 to 10^12 stropes (100000 TFT) per call. 200 ACCOUNT.
 *      400 malformed ADDRESS or amount, or a balance that would reach 2^63.
 *      Mints are not transactions. The faucet is open on every network: the local
 *      grid's network only selects prices, and all its money is play money.
 * POST /api/v1/transactions                         body {"json": TEXT, "signature": HEX}
 *      TEXT is a JSON object {"from": ADDRESS, "to": ADDRESS, "amount": STROPES,
 *      "asset": "TFT", "memo": MEMO, "sequence": N}, every member required and no
 *      other: amount from 1 to 2^63-1, MEMO at most 28 bytes ("" for none), to not
 *      from, sequence from's next sequence number. HEX is the ed25519 signature of
 *      TEXT's bytes, exactly as sent, by from's key: 128 hex digits.
 *      201 TX. Refusals, checked in this order: 400 malformed (the message names the
 *      member: "signature: ...", "json.memo: ..."); 401 the signature does not verify;
 *      409 sequence is not from's next one (a replay, or a gap); 402 from's balance is
 *      short of amount; 503 the chain is full.
 * GET  /api/v1/transactions/TXID
 *      200 TX. 400 malformed TXID (not 64 lowercase hex characters). 404 unknown.
 * GET  /api/v1/accounts/ADDRESS/payments[?memo=MEMO]
 *      200 [TX, ...]: the transactions paid to ADDRESS, only those with exactly this
 *      memo when memo is given ("memo=" selects payments without a memo), oldest
 *      first; when more than 1000 match, the newest 1000. 400 malformed ADDRESS or a
 *      memo over 28 bytes.
 *
 * Bodies over 4096 bytes get 413 before any parsing; unknown paths 404 and other
 * methods 405 (common/httpd.c). The chain holds at most 100000 accounts and 250000
 * transactions (503 beyond). */
#include "chain.h"
#include "ctx.h"
#include "http_util.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define MAX_ACCOUNTS 100000
#define MAX_TXS      250000
#define BALANCE_MAX  ((uint64_t)INT64_MAX) /* balances are answered as JSON integers */
#define TEXT_MAX     1024                  /* a transaction's TEXT */
#define BODY_MAX     4096
#define SIG_HEX_LEN  (2 * crypto_sign_BYTES)
#define QUERY_MAX    1024 /* a memo query parameter, before its length is checked */
#define HEX64_RULE   "expected 64 lowercase hex characters"

typedef struct {
    char address[SIM_ADDRESS_LEN + 1];
    uint64_t balance;
    uint64_t next_sequence;
} account_t;

typedef struct {
    char id[SIM_TXID_LEN + 1];
    char from[SIM_ADDRESS_LEN + 1], to[SIM_ADDRESS_LEN + 1];
    uint64_t amount; /* asset: always TFT */
    char memo[SIM_MEMO_MAX + 1];
    uint64_t sequence;
    int64_t time;
    char *text;                      /* the signed TEXT (heap, owned by the chain) */
    char signature[SIG_HEX_LEN + 1]; /* "" for the chain's own transfers */
} tx_t;

struct sim_chain {
    gs_buf_t accounts; /* account_t records, in the order created */
    gs_buf_t txs;      /* tx_t records, in the order applied */
    sim_chain_clock_cb clock;
    void *clock_arg;
    sim_store_t *store; /* NULL: in memory only */
};

/* Why a transaction was refused, with its HTTP status and error code. */
typedef enum {
    TX_OK,
    TX_MALFORMED,
    TX_BAD_SIGNATURE,
    TX_BAD_SEQUENCE,
    TX_UNDERFUNDED,
    TX_OVERFLOW,
    TX_FULL,
    TX_NOMEM,
} tx_rc_t;

static const struct {
    int status, err;
} tx_rc_map[] = {
    [TX_OK] = {201, GS_OK},
    [TX_MALFORMED] = {400, GS_EINVAL},
    [TX_BAD_SIGNATURE] = {401, GS_EINVAL},
    [TX_BAD_SEQUENCE] = {409, GS_EINVAL},
    [TX_UNDERFUNDED] = {402, GS_ERANGE},
    [TX_OVERFLOW] = {400, GS_ERANGE},
    [TX_FULL] = {503, GS_ETOOBIG},
    [TX_NOMEM] = {500, GS_ENOMEM},
};

/* ---- tables --------------------------------------------------------------------------------- */

static size_t n_accounts(const sim_chain_t *c)
{
    return c->accounts.len / sizeof(account_t);
}

static account_t *account_at(const sim_chain_t *c, size_t i)
{
    return (account_t *)(void *)c->accounts.data + i;
}

static size_t n_txs(const sim_chain_t *c)
{
    return c->txs.len / sizeof(tx_t);
}

static tx_t *tx_at(const sim_chain_t *c, size_t i)
{
    return (tx_t *)(void *)c->txs.data + i;
}

static account_t *find_account(const sim_chain_t *c, const char *address)
{
    for (size_t i = 0; i < n_accounts(c); i++)
        if (strcmp(account_at(c, i)->address, address) == 0)
            return account_at(c, i);
    return NULL;
}

static const tx_t *find_tx(const sim_chain_t *c, const char *id)
{
    for (size_t i = 0; i < n_txs(c); i++)
        if (strcmp(tx_at(c, i)->id, id) == 0)
            return tx_at(c, i);
    return NULL;
}

/* The account of a valid address, created empty when new. GS_ETOOBIG when full. */
static int ensure_account(sim_chain_t *c, const char *address, account_t **out)
{
    account_t fresh = {.balance = 0, .next_sequence = 1};
    int err;
    *out = find_account(c, address);
    if (*out)
        return GS_OK;
    memcpy(fresh.address, address, SIM_ADDRESS_LEN + 1);
    err = gs_buf_append(&c->accounts, &fresh, sizeof fresh);
    if (err == GS_OK)
        *out = account_at(c, n_accounts(c) - 1);
    return err;
}

static tx_rc_t table_error(int err, const char *table, size_t max, gs_diag_t *diag)
{
    if (err == GS_ETOOBIG) {
        gs_diag_set(diag, err, "the local chain is full (%zu %s)", max, table);
        return TX_FULL;
    }
    gs_diag_set(diag, err, "out of memory");
    return TX_NOMEM;
}

/* ---- persistence ---------------------------------------------------------------------------- */

static json_t *tx_json(const tx_t *tx);

static void save_account(const sim_chain_t *c, const account_t *a)
{
    json_t *doc = json_pack("{s:I, s:I}", "balance", (json_int_t)a->balance, "sequence",
                            (json_int_t)a->next_sequence);
    sim_store_put(c->store, "account", a->address, doc);
    json_decref(doc);
}

static void save_tx(const sim_chain_t *c, const tx_t *tx)
{
    json_t *doc = tx_json(tx);
    sim_store_put(c->store, "tx", tx->id, doc);
    json_decref(doc);
}

static int load_account(const char *key, const json_t *doc, void *arg, gs_diag_t *diag)
{
    sim_chain_t *c = arg;
    int64_t balance = -1, sequence = 0;
    account_t *a;
    int err;
    if (!sim_chain_address_valid(key) || !gs_json_int(doc, "balance", &balance) ||
        !gs_json_int(doc, "sequence", &sequence) || balance < 0 || sequence < 1)
        return gs_diag_set(diag, GS_EPARSE, "state database: bad account %.64s", key);
    if ((err = ensure_account(c, key, &a)) != GS_OK)
        return gs_diag_set(diag, err, "state database: too many accounts");
    a->balance = (uint64_t)balance;
    a->next_sequence = (uint64_t)sequence;
    return GS_OK;
}

/* Copies string member key of doc into out (size bytes); false when absent or longer. */
static bool copy_str(const json_t *doc, const char *key, char *out, size_t size)
{
    const char *v = gs_json_str(doc, key);
    if (v == NULL || strlen(v) >= size)
        return false;
    memcpy(out, v, strlen(v) + 1);
    return true;
}

static int load_tx(const char *key, const json_t *doc, void *arg, gs_diag_t *diag)
{
    sim_chain_t *c = arg;
    int64_t amount = 0, sequence = 0;
    const char *text = gs_json_str(doc, "json");
    tx_t tx;
    memset(&tx, 0, sizeof tx);
    if (!copy_str(doc, "id", tx.id, sizeof tx.id) ||
        !copy_str(doc, "from", tx.from, sizeof tx.from) ||
        !copy_str(doc, "to", tx.to, sizeof tx.to) ||
        !copy_str(doc, "memo", tx.memo, sizeof tx.memo) ||
        !copy_str(doc, "signature", tx.signature, sizeof tx.signature) || text == NULL ||
        !gs_json_int(doc, "amount", &amount) || !gs_json_int(doc, "sequence", &sequence) ||
        !gs_json_int(doc, "time", &tx.time) || amount < 1 || sequence < 1)
        return gs_diag_set(diag, GS_EPARSE, "state database: bad transaction %.64s", key);
    tx.amount = (uint64_t)amount;
    tx.sequence = (uint64_t)sequence;
    if ((tx.text = strdup(text)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (gs_buf_append(&c->txs, &tx, sizeof tx) != GS_OK) {
        free(tx.text);
        return gs_diag_set(diag, GS_ETOOBIG, "state database: too many transactions");
    }
    return GS_OK;
}

int sim_chain_attach_store(sim_chain_t *c, struct sim_store *store, gs_diag_t *diag)
{
    int err = sim_store_each(store, "account", load_account, c, diag);
    if (err == GS_OK)
        err = sim_store_each(store, "tx", load_tx, c, diag);
    c->store = store;
    return err;
}

/* ---- the chain ------------------------------------------------------------------------------ */

int sim_chain_new(sim_chain_t **out, gs_diag_t *diag)
{
    sim_chain_t *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL || sodium_init() < 0) {
        free(c);
        return gs_diag_set(diag, GS_ENOMEM, "chain: cannot initialise");
    }
    gs_buf_init(&c->accounts, MAX_ACCOUNTS * sizeof(account_t));
    gs_buf_init(&c->txs, MAX_TXS * sizeof(tx_t));
    *out = c;
    return GS_OK;
}

void sim_chain_free(sim_chain_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < n_txs(c); i++)
        free(tx_at(c, i)->text);
    gs_buf_free(&c->accounts);
    gs_buf_free(&c->txs);
    free(c);
}

void sim_chain_set_clock(sim_chain_t *c, sim_chain_clock_cb now, void *arg)
{
    c->clock = now;
    c->clock_arg = arg;
}

bool sim_chain_address_valid(const char *address)
{
    return strlen(address) == SIM_ADDRESS_LEN &&
           strspn(address, "0123456789abcdef") == SIM_ADDRESS_LEN;
}

uint64_t sim_chain_balance(const sim_chain_t *c, const char *address)
{
    const account_t *a = find_account(c, address);
    return a ? a->balance : 0;
}

int sim_chain_credit(sim_chain_t *c, const char *address, uint64_t amount, gs_diag_t *diag)
{
    account_t *a;
    int err;
    if (!sim_chain_address_valid(address))
        return gs_diag_set(diag, GS_EINVAL, "address: " HEX64_RULE);
    if (amount > BALANCE_MAX - sim_chain_balance(c, address))
        return gs_diag_set(diag, GS_ERANGE, "amount: the balance would pass %llu stropes",
                           (unsigned long long)BALANCE_MAX);
    err = ensure_account(c, address, &a);
    if (err) {
        table_error(err, "accounts", MAX_ACCOUNTS, diag);
        return err;
    }
    a->balance += amount;
    save_account(c, a);
    return GS_OK;
}

static bool paid_to(const tx_t *tx, const char *address, const char *memo)
{
    return strcmp(tx->to, address) == 0 && (memo == NULL || strcmp(tx->memo, memo) == 0);
}

uint64_t sim_chain_received(const sim_chain_t *c, const char *address, const char *memo)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n_txs(c); i++) {
        const tx_t *tx = tx_at(c, i);
        if (paid_to(tx, address, memo))
            sum = tx->amount > UINT64_MAX - sum ? UINT64_MAX : sum + tx->amount;
    }
    return sum;
}

/* ---- transactions --------------------------------------------------------------------------- */

static int want_address(const json_t *obj, const char *key, const char **out, gs_diag_t *diag)
{
    int err = sim_json_want_str(obj, "json", key, SIM_ADDRESS_LEN, out, diag);
    if (err == GS_OK && !sim_chain_address_valid(*out))
        err = gs_diag_set(diag, GS_EINVAL, "json.%s: " HEX64_RULE, key);
    return err;
}

static int want_tft(const json_t *obj, gs_diag_t *diag)
{
    const char *asset;
    int err = sim_json_want_str(obj, "json", "asset", 16, &asset, diag);
    if (err == GS_OK && strcmp(asset, "TFT") != 0)
        err = gs_diag_set(diag, GS_EINVAL, "json.asset: only \"TFT\" is known");
    return err;
}

/* Reads and checks TEXT into tx (id, time, text and signature left empty). */
static tx_rc_t parse_text(const char *text, size_t len, tx_t *tx, gs_diag_t *diag)
{
    static const char *const fields[] = {"from", "to", "amount", "asset", "memo", "sequence", NULL};
    const char *from, *to, *memo;
    int64_t amount, sequence;
    json_t *j;
    int err = sim_json_object(text, len, TEXT_MAX, "json", fields, &j, diag);
    if (err)
        return TX_MALFORMED;
    err = want_address(j, "from", &from, diag);
    if (!err)
        err = want_address(j, "to", &to, diag);
    if (!err)
        err = sim_json_want_int(j, "json", "amount", 1, INT64_MAX, &amount, diag);
    if (!err)
        err = want_tft(j, diag);
    if (!err)
        err = sim_json_want_str(j, "json", "memo", SIM_MEMO_MAX, &memo, diag);
    if (!err)
        err = sim_json_want_int(j, "json", "sequence", 1, INT64_MAX, &sequence, diag);
    if (!err && strcmp(from, to) == 0)
        err = gs_diag_set(diag, GS_EINVAL, "json.to: the same account as json.from");
    if (!err) {
        memset(tx, 0, sizeof *tx);
        memcpy(tx->from, from, sizeof tx->from);
        memcpy(tx->to, to, sizeof tx->to);
        memcpy(tx->memo, memo, strlen(memo) + 1);
        tx->amount = (uint64_t)amount;
        tx->sequence = (uint64_t)sequence;
    }
    json_decref(j);
    return err ? TX_MALFORMED : TX_OK;
}

/* Checks sig_hex against TEXT and from's key; keeps it (lowercase) in tx. */
static tx_rc_t verify(tx_t *tx, const char *text, size_t len, const char *sig_hex, gs_diag_t *diag)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
    if (!sim_hex_decode(sig_hex, sig, sizeof sig)) {
        gs_diag_set(diag, GS_EINVAL, "signature: expected %d hex digits", SIG_HEX_LEN);
        return TX_MALFORMED;
    }
    sim_hex_decode(tx->from, pk, sizeof pk);
    if (crypto_sign_verify_detached(sig, (const unsigned char *)text, len, pk) != 0) {
        gs_diag_set(diag, GS_EINVAL, "signature: not json.from's signature of json");
        return TX_BAD_SIGNATURE;
    }
    gs_hex(sig, sizeof sig, tx->signature);
    return TX_OK;
}

/* The ledger's rules: the sender's next sequence, its balance, the receiver's cap. */
static tx_rc_t check_funds(const sim_chain_t *c, const tx_t *tx, gs_diag_t *diag)
{
    const account_t *from = find_account(c, tx->from);
    uint64_t next = from ? from->next_sequence : 1, balance = from ? from->balance : 0;
    if (tx->sequence != next) {
        gs_diag_set(diag, GS_EINVAL, "json.sequence: %llu, but the sender's next is %llu",
                    (unsigned long long)tx->sequence, (unsigned long long)next);
        return TX_BAD_SEQUENCE;
    }
    if (balance < tx->amount) {
        gs_diag_set(diag, GS_ERANGE, "insufficient balance: %llu stropes, %llu needed",
                    (unsigned long long)balance, (unsigned long long)tx->amount);
        return TX_UNDERFUNDED;
    }
    if (tx->amount > BALANCE_MAX - sim_chain_balance(c, tx->to)) {
        gs_diag_set(diag, GS_ERANGE, "json.amount: the receiver's balance would pass %llu",
                    (unsigned long long)BALANCE_MAX);
        return TX_OVERFLOW;
    }
    return TX_OK;
}

/* Records tx (checked) and moves the funds; on failure nothing changed. */
static tx_rc_t commit(sim_chain_t *c, tx_t *tx, const char *text, size_t len, gs_diag_t *diag)
{
    unsigned char hash[32];
    account_t *from, *to;
    int err;
    crypto_generichash(hash, sizeof hash, (const unsigned char *)text, len, NULL, 0);
    gs_hex(hash, sizeof hash, tx->id);
    tx->time = c->clock ? c->clock(c->clock_arg) : 0;
    tx->text = malloc(len + 1);
    if (tx->text == NULL)
        return table_error(GS_ENOMEM, "", 0, diag);
    memcpy(tx->text, text, len);
    tx->text[len] = '\0';
    err = gs_buf_append(&c->txs, tx, sizeof *tx);
    if (err) {
        free(tx->text);
        return table_error(err, "transactions", MAX_TXS, diag);
    }
    err = ensure_account(c, tx->to, &to);
    if (err) {
        c->txs.len -= sizeof *tx;
        free(tx->text);
        return table_error(err, "accounts", MAX_ACCOUNTS, diag);
    }
    to->balance += tx->amount;
    from = find_account(c, tx->from); /* exists: it had the funds */
    from->balance -= tx->amount;
    from->next_sequence++;
    sim_store_begin(c->store);
    save_tx(c, tx);
    save_account(c, from);
    save_account(c, to);
    sim_store_commit(c->store);
    return TX_OK;
}

/* A signed payment: TEXT and the hex signature as submitted. */
static tx_rc_t submit(sim_chain_t *c, const char *text, const char *sig_hex, tx_t *tx,
                      gs_diag_t *diag)
{
    size_t len = strlen(text);
    tx_rc_t rc = parse_text(text, len, tx, diag);
    if (rc == TX_OK)
        rc = verify(tx, text, len, sig_hex, diag);
    if (rc == TX_OK)
        rc = check_funds(c, tx, diag);
    if (rc == TX_OK)
        rc = commit(c, tx, text, len, diag);
    return rc;
}

/* The TEXT of an unsigned transfer, as a payment would carry it. Caller frees. */
static char *transfer_text(const sim_chain_t *c, const char *from, const char *to, uint64_t amount,
                           const char *memo)
{
    const account_t *a = find_account(c, from);
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:I}", "from", from, "to", to, "amount",
                          (json_int_t)amount, "asset", "TFT", "memo", memo, "sequence",
                          (json_int_t)(a ? a->next_sequence : 1));
    char *text = j ? gs_json_dumps(j) : NULL;
    json_decref(j);
    return text;
}

int sim_chain_transfer(sim_chain_t *c, const char *from, const char *to, uint64_t amount,
                       const char *memo, char txid_out[SIM_TXID_LEN + 1], gs_diag_t *diag)
{
    char *text;
    tx_t tx;
    tx_rc_t rc;
    if (from == NULL || to == NULL || memo == NULL || amount > INT64_MAX)
        return gs_diag_set(diag, GS_EINVAL, "transfer: missing account or memo, or bad amount");
    text = transfer_text(c, from, to, amount, memo);
    if (text == NULL)
        return gs_diag_set(diag, GS_EINVAL, "transfer: cannot encode it (memo not UTF-8?)");
    rc = parse_text(text, strlen(text), &tx, diag);
    if (rc == TX_OK)
        rc = check_funds(c, &tx, diag);
    if (rc == TX_OK)
        rc = commit(c, &tx, text, strlen(text), diag);
    if (rc == TX_OK && txid_out)
        memcpy(txid_out, tx.id, SIM_TXID_LEN + 1);
    free(text);
    return tx_rc_map[rc].err;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

static sim_chain_t *chain_of(void *ud)
{
    return ((sim_ctx_t *)ud)->chain;
}

static json_t *account_json(const sim_chain_t *c, const char *address)
{
    const account_t *a = find_account(c, address);
    return json_pack("{s:s, s:I, s:I}", "address", address, "balance",
                     (json_int_t)(a ? a->balance : 0), "sequence",
                     (json_int_t)(a ? a->next_sequence : 1));
}

static json_t *tx_json(const tx_t *tx)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:s}", "id", tx->id, "from",
                     tx->from, "to", tx->to, "amount", (json_int_t)tx->amount, "asset", "TFT",
                     "memo", tx->memo, "sequence", (json_int_t)tx->sequence, "time",
                     (json_int_t)tx->time, "json", tx->text, "signature", tx->signature);
}

/* The ADDRESS path parameter; NULL after answering 400. */
static const char *address_param(gs_http_req_t *r)
{
    const char *address = gs_http_req_param(r, 0);
    if (sim_chain_address_valid(address))
        return address;
    gs_http_reply_error(r, 400, "address: " HEX64_RULE " (an ed25519 public key)");
    return NULL;
}

static void get_account(gs_http_req_t *r, void *ud)
{
    const char *address = address_param(r);
    if (address)
        gs_http_reply_json(r, 200, account_json(chain_of(ud), address));
}

static int status_of(int err)
{
    return err == GS_ETOOBIG ? 503 : err == GS_ENOMEM ? 500 : 400;
}

static void post_fund(gs_http_req_t *r, void *ud)
{
    static const char *const fields[] = {"amount", NULL};
    sim_chain_t *c = chain_of(ud);
    const char *address = address_param(r);
    gs_diag_t diag = {{0}};
    json_t *body = address ? sim_http_body(r, BODY_MAX, fields) : NULL;
    int64_t amount;
    int err;
    if (body == NULL)
        return;
    err = sim_json_want_int(body, NULL, "amount", 1, SIM_FAUCET_MAX, &amount, &diag);
    if (err == GS_OK)
        err = sim_chain_credit(c, address, (uint64_t)amount, &diag);
    json_decref(body);
    if (err)
        sim_http_reply_diag(r, status_of(err), &diag);
    else
        gs_http_reply_json(r, 200, account_json(c, address));
}

static void post_transaction(gs_http_req_t *r, void *ud)
{
    static const char *const fields[] = {"json", "signature", NULL};
    json_t *body = sim_http_body(r, BODY_MAX, fields);
    gs_diag_t diag = {{0}};
    const char *text, *sig;
    tx_rc_t rc = TX_MALFORMED;
    tx_t tx;
    if (body == NULL)
        return;
    if (sim_json_want_str(body, NULL, "json", TEXT_MAX, &text, &diag) == GS_OK &&
        sim_json_want_str(body, NULL, "signature", SIG_HEX_LEN, &sig, &diag) == GS_OK)
        rc = submit(chain_of(ud), text, sig, &tx, &diag);
    json_decref(body);
    if (rc == TX_OK)
        gs_http_reply_json(r, 201, tx_json(&tx));
    else
        sim_http_reply_diag(r, tx_rc_map[rc].status, &diag);
}

static void get_transaction(gs_http_req_t *r, void *ud)
{
    const char *id = gs_http_req_param(r, 0);
    const tx_t *tx;
    if (!sim_chain_address_valid(id)) {
        gs_http_reply_error(r, 400, "transaction id: " HEX64_RULE);
        return;
    }
    tx = find_tx(chain_of(ud), id);
    if (tx == NULL)
        gs_http_reply_error(r, 404, "transaction not found");
    else
        gs_http_reply_json(r, 200, tx_json(tx));
}

/* The newest SIM_PAYMENTS_MAX payments to address (with memo unless NULL), oldest first. */
static json_t *payments_json(const sim_chain_t *c, const char *address, const char *memo)
{
    size_t n = n_txs(c), first = n, found = 0;
    json_t *out = json_array();
    while (first > 0 && found < SIM_PAYMENTS_MAX)
        if (paid_to(tx_at(c, --first), address, memo))
            found++;
    for (size_t i = first; i < n && out; i++)
        if (paid_to(tx_at(c, i), address, memo))
            json_array_append_new(out, tx_json(tx_at(c, i)));
    return out;
}

static void get_payments(gs_http_req_t *r, void *ud)
{
    const char *address = address_param(r);
    char memo[QUERY_MAX];
    bool by_memo;
    if (address == NULL)
        return;
    by_memo = gs_http_req_query(r, "memo", memo, sizeof memo);
    if ((by_memo && strlen(memo) > SIM_MEMO_MAX) || (!by_memo && gs_http_req_has_query(r, "memo")))
        gs_http_reply_error(r, 400, "memo: at most %d bytes", SIM_MEMO_MAX);
    else
        gs_http_reply_json(r, 200, payments_json(chain_of(ud), address, by_memo ? memo : NULL));
}

const gs_http_route_t sim_chain_routes[] = {
    {"GET", "/api/v1/accounts/{}", get_account, 0},
    {"POST", "/api/v1/accounts/{}/fund", post_fund, BODY_MAX},
    {"GET", "/api/v1/accounts/{}/payments", get_payments, 0},
    {"POST", "/api/v1/transactions", post_transaction, BODY_MAX},
    {"GET", "/api/v1/transactions/{}", get_transaction, 0},
    {NULL},
};
