/* registry.c — the explorer's phonebook, capacity pools and pool escrow in the local
 * grid, following reference/tfgrid-v2.md §1.3, §1.6 and §2 and the real explorer's
 * code (tfexplorer pkg/phonebook, pkg/workloads setupPool, pkg/capacity, pkg/escrow).
 *
 * Choices, where the reference is silent or where the sim is deliberately stricter
 * than the real explorer (stricter only: what passes here passes there):
 *  - Users: POST /users takes {"name","email","pubkey","host","description",
 *    "signature"} and nothing else. The real explorer does not check a signature at
 *    creation; the sim requires one, made as the real explorer checks user updates
 *    (User.Encode): hex ed25519 over the bytes of "0" + name + email + host +
 *    description + pubkey (the id is 0 before registration; absent members are "").
 *    Names: 3 to 64 characters of [a-z0-9._-]; emails lowercase. Only the name must
 *    be unique (409, as the real one). pubkey is 64 hex digits, kept lowercase. GET
 *    hides the email, as the real explorer does for unauthenticated requests. The
 *    list filters on name and email but is not paged (a local grid's phonebook is
 *    small), so it sends no Pages header.
 *  - Pool reservations: every member is required except sponsor_tid and
 *    sponsor_signature, unknown members are refused, cus/sus/ipv4us are JSON integers
 *    from 0 to 1e15 (so the amount cannot overflow), at most 1000 node ids. The local
 *    grid has no trusted sales channel, so a non-zero sponsor_tid is refused. Status
 *    codes are the real explorer's: 400 for malformed requests, unknown users and
 *    signatures that do not verify, 409 for duplicate node ids; where the real one
 *    answers 500 for a client's mistake (a missing pool, nodes removed from a pool,
 *    no TFT among the currencies, an unknown node) the sim answers 400; extending
 *    another customer's pool is 403 (the real explorer lets anyone top a pool up).
 *  - As in the real planner, the pool (cus = sus = ipv4us = 0) exists from the
 *    reservation on, its id being the reservation id; the capacity and the node list
 *    are added when the escrow is paid. A canceled reservation leaves it as it is.
 *  - Amount (tfexplorer calculateCapacityReservationCost): per-second rates in stropes
 *    from the mainnet prices, floor($/month * 1e10 / TftPriceMill / 2592000) = 385
 *    (CU), 308 (SU), 231 (IPv4U); amount = (cus*385 + sus*308 + ipv4us*231) / divisor,
 *    the divisor being the network's (10 on testnet, 100 on devnet), rounded down.
 *  - Escrow: one account per customer tid, an ed25519 key pair made with libsodium
 *    and kept by the registry; its address is the hex public key. The asset is
 *    "TFT:" + the address of a deterministic issuer key. Farms are paid to a chain
 *    address derived from the farm id (the world's Stellar-looking wallet is not a
 *    chain address): BLAKE2b-256("gridstor-sim farm wallet <id>") as the ed25519
 *    seed; the foundation likewise from "gridstor-sim foundation 0". The foundation
 *    gets floor(amount / 10), the farmer the rest, both with memo p-<id>.
 *  - The watcher runs every SIM_ESCROW_TICK_MS of real time. An unpaid reservation
 *    is canceled with cause "payment timeout" once SIM_PAYMENT_TIMEOUT simulated
 *    seconds have passed. chain.h cannot tell who paid an escrow, so neither what was
 *    received before a timeout nor an overpayment is refunded (the real explorer
 *    refunds both). cancellation_pending is always false (it marks a transient state
 *    of the real escrow that the sim does not have).
 *  - Pools follow tfexplorer's Pool: syncing subtracts active units times the seconds
 *    since last_updated and clamps at 0; empty_at = last_updated + the smallest of
 *    left/active over the resources in use, truncated, INT64_MAX when none is. GETs
 *    sync the counters but keep empty_at, as the real explorer does.
 *  - Caps: at most 100000 phonebook users and 100000 pool reservations (so as many
 *    pools); beyond, 503 {"error": "... full"}, as the chain answers.
 *  - With a state store (store.h) every change is written through as records "user",
 *    "escrow" (with its secret key), "reservation" and "pool", keyed by id (tid for
 *    an escrow), and read back by sim_registry_load. A GET's counter sync is not
 *    saved: it changes nothing a later sync would not compute again. */
#include "registry.h"
#include "http_util.h"
#include "store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#define NAME_MAX_LEN   64
#define EMAIL_MAX_LEN  254
#define HOST_MAX_LEN   256
#define DESC_MAX_LEN   1024
#define POOL_MAX_NODES 1000
#define POOL_MAX_UNITS 1000000000000000LL /* unit-seconds per reservation */
#define MONTH_SECONDS  2592000ULL
#define MAX_USERS      100000
#define MAX_RES        100000

typedef struct {
    int64_t id;
    char *name, *email, *host, *description, *signature;
    char pubkey[65];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
} user_t;

typedef struct {
    int64_t tid;
    char address[SIM_ADDRESS_LEN + 1];
    unsigned char *sk; /* sodium_malloc'ed secret key of the escrow account */
} escrow_t;

typedef struct {
    int64_t id, pool_id, farm_id, expiration;
    uint64_t cus, sus, ipv4us, amount;
    gs_strlist_t node_ids;
    const char *address; /* the customer's escrow_t address */
    bool paid, released, canceled;
    const char *cause;
} reservation_t;

struct sim_registry {
    sim_ctx_t *ctx;
    uv_timer_t timer;
    bool timer_started;
    void (*closed)(void *);
    void *closed_arg;
    user_t *users;
    size_t n_users, cap_users;
    escrow_t **escrows; /* pointers: reservations keep their addresses */
    size_t n_escrows, cap_escrows;
    reservation_t *reservations;
    size_t n_res, cap_res;
    sim_pool_t *pools;
    size_t n_pools, cap_pools;
    int64_t next_reservation_id;
    char (*farm_addresses)[SIM_ADDRESS_LEN + 1]; /* in the world's farm order */
    char foundation[SIM_ADDRESS_LEN + 1];
    char asset[4 + SIM_ADDRESS_LEN + 1];
    sim_pool_dry_cb dry_cb;
    void *dry_arg;
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* items with room for one more of `size` bytes (n used of *cap), or NULL. */
static void *grow(void *items, size_t n, size_t *cap, size_t size)
{
    size_t want = *cap ? *cap * 2 : 8;
    void *p;
    if (n < *cap)
        return items;
    p = realloc(items, want * size);
    if (p)
        *cap = want;
    return p;
}

/* The chain address of a key whose seed is BLAKE2b-256("gridstor-sim <label> <n>"). */
static void derived_address(const char *label, int64_t n, char out[SIM_ADDRESS_LEN + 1])
{
    char text[96];
    unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    snprintf(text, sizeof text, "gridstor-sim %s %lld", label, (long long)n);
    crypto_generichash(seed, sizeof seed, (const unsigned char *)text, strlen(text), NULL, 0);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(seed, sizeof seed);
    gs_hex(pk, sizeof pk, out);
}

static uint64_t unit_rate(uint64_t dollars_month)
{
    return dollars_month * 10000000000ULL / SIM_TFT_PRICE_MILL / MONTH_SECONDS;
}

static uint64_t pool_amount(const sim_world_t *w, uint64_t cus, uint64_t sus, uint64_t ipv4us)
{
    uint64_t total = cus * unit_rate(SIM_CU_PRICE_DOLLAR_MONTH) +
                     sus * unit_rate(SIM_SU_PRICE_DOLLAR_MONTH) +
                     ipv4us * unit_rate(SIM_IPV4U_PRICE_DOLLAR_MONTH);
    return total / (uint64_t)sim_price_divisor(w);
}

static void memo_of(int64_t reservation_id, char memo[SIM_MEMO_MAX + 1])
{
    snprintf(memo, SIM_MEMO_MAX + 1, "p-%lld", (long long)reservation_id);
}

static struct sim_registry *registry_of(gs_http_req_t *r, void *ud)
{
    struct sim_registry *reg = ((sim_ctx_t *)ud)->registry;
    if (reg == NULL)
        gs_http_reply_error(r, 503, "the explorer's registry is not running");
    return reg;
}

/* Path parameter 0 as a whole number; false after answering 400. */
static bool param_id(gs_http_req_t *r, const char *what, int64_t *id)
{
    const char *s = gs_http_req_param(r, 0);
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno) {
        gs_http_reply_error(r, 400, "%s must be an integer", what);
        return false;
    }
    *id = v;
    return true;
}

/* ---- lookups ------------------------------------------------------------------------------ */

static user_t *find_user(const struct sim_registry *reg, int64_t id)
{
    for (size_t i = 0; i < reg->n_users; i++)
        if (reg->users[i].id == id)
            return &reg->users[i];
    return NULL;
}

static user_t *find_user_by_name(const struct sim_registry *reg, const char *name)
{
    for (size_t i = 0; i < reg->n_users; i++)
        if (strcmp(reg->users[i].name, name) == 0)
            return &reg->users[i];
    return NULL;
}

static sim_pool_t *find_pool(const struct sim_registry *reg, int64_t id)
{
    for (size_t i = 0; i < reg->n_pools; i++)
        if (reg->pools[i].id == id)
            return &reg->pools[i];
    return NULL;
}

static reservation_t *find_reservation(const struct sim_registry *reg, int64_t id)
{
    for (size_t i = 0; i < reg->n_res; i++)
        if (reg->reservations[i].id == id)
            return &reg->reservations[i];
    return NULL;
}

static size_t farm_index(const sim_world_t *w, int64_t farm_id)
{
    for (size_t i = 0; i < w->n_farms; i++)
        if (w->farms[i].id == farm_id)
            return i;
    return SIZE_MAX;
}

/* ---- pool accounting (tfexplorer pkg/capacity/types/pool.go) ------------------------------ */

static double drained(double left, double active, double seconds)
{
    double v = left - active * seconds;
    return v > 0 ? v : 0;
}

static void pool_sync(sim_pool_t *p, int64_t now)
{
    double seconds = now > p->last_updated ? (double)(now - p->last_updated) : 0;
    p->cus = drained(p->cus, p->active_cu, seconds);
    p->sus = drained(p->sus, p->active_su, seconds);
    p->ipv4us = drained(p->ipv4us, p->active_ipv4, seconds);
    p->last_updated = now;
}

static double seconds_left(double left, double active)
{
    return active > 0 ? left / active : INFINITY;
}

static double least(double a, double b)
{
    return a < b ? a : b;
}

static int64_t empty_at(const sim_pool_t *p, double active_cu, double active_su, double active_ipv4)
{
    double t = least(least(seconds_left(p->cus, active_cu), seconds_left(p->sus, active_su)),
                     seconds_left(p->ipv4us, active_ipv4));
    double at = (double)p->last_updated + t;
    return at < 0x1p63 ? (int64_t)at : INT64_MAX;
}

static void pool_sync_expiration(sim_pool_t *p)
{
    p->empty_at = empty_at(p, p->active_cu, p->active_su, p->active_ipv4);
}

static void pool_add_capacity(sim_pool_t *p, int64_t now, uint64_t cus, uint64_t sus,
                              uint64_t ipv4us)
{
    pool_sync(p, now);
    p->cus += (double)cus;
    p->sus += (double)sus;
    p->ipv4us += (double)ipv4us;
    pool_sync_expiration(p);
}

static bool pool_has_workload(const sim_pool_t *p, int64_t wid, size_t *at)
{
    for (size_t i = 0; i < p->n_workloads; i++)
        if (p->workload_ids[i] == wid) {
            *at = i;
            return true;
        }
    return false;
}

/* Removes small float residues, like the real explorer ("floats are annoying"). */
static double less_active(double active, double units)
{
    double v = active - units;
    return v < 0.00001 ? 0 : v;
}

/* ---- persistence (store.h): write-through ------------------------------------------------- */

static json_t *pool_json(const sim_pool_t *p);

/* Saves doc (stolen) as record (kind, id). */
static void put(const struct sim_registry *reg, const char *kind, int64_t id, json_t *doc)
{
    sim_store_put_id(reg->ctx->store, kind, id, doc);
    json_decref(doc);
}

static void save_user(const struct sim_registry *reg, const user_t *u)
{
    if (reg->ctx->store != NULL)
        put(reg, "user", u->id,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", u->name, "email", u->email,
                      "pubkey", u->pubkey, "host", u->host, "description", u->description,
                      "signature", u->signature));
}

static void save_escrow(const struct sim_registry *reg, const escrow_t *e)
{
    char sk[2 * crypto_sign_SECRETKEYBYTES + 1];
    if (reg->ctx->store == NULL)
        return;
    gs_hex(e->sk, crypto_sign_SECRETKEYBYTES, sk);
    put(reg, "escrow", e->tid, json_pack("{s:s, s:s}", "address", e->address, "sk", sk));
    sodium_memzero(sk, sizeof sk);
}

static json_t *strlist_json(const gs_strlist_t *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->n; i++)
        json_array_append_new(a, json_string(l->items[i]));
    return a;
}

static void save_reservation(const struct sim_registry *reg, const reservation_t *res)
{
    if (reg->ctx->store != NULL)
        put(reg, "reservation", res->id,
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:s, s:b, s:b, s:b}", "pool_id",
                      (json_int_t)res->pool_id, "farm_id", (json_int_t)res->farm_id, "expiration",
                      (json_int_t)res->expiration, "cus", (json_int_t)res->cus, "sus",
                      (json_int_t)res->sus, "ipv4us", (json_int_t)res->ipv4us, "amount",
                      (json_int_t)res->amount, "node_ids", strlist_json(&res->node_ids), "address",
                      res->address, "paid", res->paid, "released", res->released, "canceled",
                      res->canceled));
}

static void save_pool(const struct sim_registry *reg, const sim_pool_t *p)
{
    json_t *doc;
    if (reg->ctx->store == NULL || p == NULL)
        return;
    doc = pool_json(p);
    json_object_set_new(doc, "dry_seen", json_integer(p->dry_seen));
    put(reg, "pool", p->id, doc);
}

/* ---- users -------------------------------------------------------------------------------- */

static json_t *user_json(const user_t *u)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id", (json_int_t)u->id, "name",
                     u->name, "email", "", "pubkey", u->pubkey, "host", u->host, "description",
                     u->description, "signature", u->signature);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 3)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static bool email_ok(const char *s)
{
    for (; *s; s++)
        if ((*s >= 'A' && *s <= 'Z') || (unsigned char)*s <= ' ' || *s == 0x7f)
            return false;
    return true;
}

typedef struct {
    const char *name, *email, *pubkey, *host, *description, *signature;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
} user_req_t;

/* An optional string member: "" when absent. */
static int opt_str(const json_t *obj, const char *key, size_t max, const char **out,
                   gs_diag_t *diag)
{
    *out = "";
    if (json_object_get(obj, key) == NULL)
        return GS_OK;
    return sim_json_want_str(obj, NULL, key, max, out, diag);
}

static bool read_user(const json_t *body, user_req_t *q, sim_refusal_t *f)
{
    if (sim_json_want_str(body, NULL, "name", NAME_MAX_LEN, &q->name, &f->diag) ||
        opt_str(body, "email", EMAIL_MAX_LEN, &q->email, &f->diag) ||
        sim_json_want_str(body, NULL, "pubkey", 64, &q->pubkey, &f->diag) ||
        opt_str(body, "host", HOST_MAX_LEN, &q->host, &f->diag) ||
        opt_str(body, "description", DESC_MAX_LEN, &q->description, &f->diag) ||
        sim_json_want_str(body, NULL, "signature", 2 * crypto_sign_BYTES, &q->signature, &f->diag))
        return sim_malformed(f);
    if (!name_ok(q->name))
        return sim_refuse(f, 400, "name: 3 to %d characters of a-z, 0-9, '.', '_', '-'",
                          NAME_MAX_LEN);
    if (!email_ok(q->email))
        return sim_refuse(f, 400, "email: lowercase, without spaces");
    if (!sim_hex_decode(q->pubkey, q->pk, sizeof q->pk))
        return sim_refuse(f, 400, "pubkey: expected 64 hex digits");
    if (!sim_hex_decode(q->signature, q->sig, sizeof q->sig))
        return sim_refuse(f, 400, "signature: expected 128 hex digits");
    return true;
}

/* The signed message: "0" + name + email + host + description + pubkey. */
static bool user_signature_ok(const user_req_t *q)
{
    gs_buf_t msg;
    bool ok;
    gs_buf_init(&msg, 8192);
    ok = gs_buf_printf(&msg, "0%s%s%s%s%s", q->name, q->email, q->host, q->description,
                       q->pubkey) == GS_OK &&
         crypto_sign_verify_detached(q->sig, (const unsigned char *)msg.data, msg.len, q->pk) == 0;
    gs_buf_free(&msg);
    return ok;
}

static void user_free(user_t *u)
{
    free(u->name);
    free(u->email);
    free(u->host);
    free(u->description);
    free(u->signature);
}

static user_t *add_user(struct sim_registry *reg, const user_req_t *q)
{
    user_t *users = grow(reg->users, reg->n_users, &reg->cap_users, sizeof *users), *u;
    if (users == NULL)
        return NULL;
    reg->users = users;
    u = &users[reg->n_users];
    memset(u, 0, sizeof *u);
    u->name = strdup(q->name);
    u->email = strdup(q->email);
    u->host = strdup(q->host);
    u->description = strdup(q->description);
    u->signature = strdup(q->signature);
    if (!u->name || !u->email || !u->host || !u->description || !u->signature) {
        user_free(u);
        return NULL;
    }
    memcpy(u->pk, q->pk, sizeof u->pk);
    gs_hex(q->pk, sizeof q->pk, u->pubkey);
    u->id = reg->n_users ? users[reg->n_users - 1].id + 1 : 1;
    reg->n_users++;
    return u;
}

void sim_registry_post_user(gs_http_req_t *r, void *ud)
{
    static const char *const fields[] = {"name",        "host",      "email", "pubkey",
                                         "description", "signature", NULL};
    struct sim_registry *reg = registry_of(r, ud);
    sim_refusal_t f = {0};
    user_req_t q;
    json_t *body;
    user_t *u;
    if (reg == NULL || (body = sim_http_body(r, SIM_REGISTRY_MAX_BODY, fields)) == NULL)
        return;
    if (!read_user(body, &q, &f))
        gs_http_reply_error(r, f.status, "%s", f.diag.msg);
    else if (!user_signature_ok(&q))
        gs_http_reply_error(r, 400,
                            "signature: does not verify with pubkey over \"0\" + name + email + "
                            "host + description + pubkey");
    else if ((u = find_user_by_name(reg, q.name)) != NULL)
        gs_http_reply_error(r, 409, "user with same name exists (id %lld)", (long long)u->id);
    else if (reg->n_users >= MAX_USERS)
        gs_http_reply_error(r, 503, "the phonebook is full (%d users)", MAX_USERS);
    else if ((u = add_user(reg, &q)) == NULL)
        gs_http_reply_error(r, 500, "out of memory");
    else {
        save_user(reg, u);
        gs_http_reply_json(r, 201, user_json(u));
    }
    json_decref(body);
}

void sim_registry_get_user(gs_http_req_t *r, void *ud)
{
    struct sim_registry *reg = registry_of(r, ud);
    int64_t id;
    const user_t *u;
    if (reg == NULL || !param_id(r, "user id", &id))
        return;
    if ((u = find_user(reg, id)) == NULL)
        gs_http_reply_error(r, 404, "user not found");
    else
        gs_http_reply_json(r, 200, user_json(u));
}

void sim_registry_get_users(gs_http_req_t *r, void *ud)
{
    struct sim_registry *reg = registry_of(r, ud);
    char name[NAME_MAX_LEN + 2], email[EMAIL_MAX_LEN + 2];
    bool by_name, by_email;
    json_t *out;
    if (reg == NULL)
        return;
    by_name = gs_http_req_query(r, "name", name, sizeof name) && name[0];
    by_email = gs_http_req_query(r, "email", email, sizeof email) && email[0];
    out = json_array();
    for (size_t i = 0; i < reg->n_users; i++) {
        const user_t *u = &reg->users[i];
        if ((by_name && strcmp(u->name, name) != 0) || (by_email && strcmp(u->email, email) != 0))
            continue;
        json_array_append_new(out, user_json(u));
    }
    gs_http_reply_json(r, 200, out);
}

/* ---- pool reservations: reading and checking ---------------------------------------------- */

typedef struct {
    const char *json_text;
    const json_t *data, *nodes;
    int64_t customer_tid, sponsor_tid, pool_id, cus, sus, ipv4us;
    unsigned char sig[crypto_sign_BYTES];
    int64_t farm_id;
    const user_t *customer;
} pool_req_t;

static const char *const data_fields[] = {"pool_id",  "cus",        "sus", "ipv4us",
                                          "node_ids", "currencies", NULL};

static bool read_parties(const json_t *body, pool_req_t *q, sim_refusal_t *f)
{
    const char *sig, *ssig = "";
    if (sim_json_want_int(body, NULL, "customer_tid", 1, INT64_MAX, &q->customer_tid, &f->diag) ||
        sim_json_want_str(body, NULL, "customer_signature", 2 * crypto_sign_BYTES, &sig,
                          &f->diag) ||
        sim_json_want_str(body, NULL, "json", SIM_REGISTRY_MAX_BODY, &q->json_text, &f->diag))
        return sim_malformed(f);
    q->sponsor_tid = 0;
    if ((json_object_get(body, "sponsor_tid") &&
         sim_json_want_int(body, NULL, "sponsor_tid", 0, INT64_MAX, &q->sponsor_tid, &f->diag)) ||
        (json_object_get(body, "sponsor_signature") &&
         sim_json_want_str(body, NULL, "sponsor_signature", 2 * crypto_sign_BYTES, &ssig,
                           &f->diag)))
        return sim_malformed(f);
    if (!sim_hex_decode(sig, q->sig, sizeof q->sig))
        return sim_refuse(f, 400, "customer_signature: expected 128 hex digits");
    if (q->sponsor_tid != 0)
        return sim_refuse(f, 400, "sponsor_tid: user %lld is not a trusted sales channel",
                          (long long)q->sponsor_tid);
    return true;
}

static bool read_string_list(const json_t *list, const char *what, size_t min, size_t max,
                             size_t item_max, sim_refusal_t *f)
{
    size_t i;
    const json_t *v;
    if (!json_is_array(list) || json_array_size(list) < min || json_array_size(list) > max)
        return sim_refuse(f, 400, "data_reservation.%s: expected a list of %zu to %zu strings",
                          what, min, max);
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > item_max ||
            strlen(json_string_value(v)) != json_string_length(v))
            return sim_refuse(f, 400,
                              "data_reservation.%s[%zu]: expected a string of 1 to %zu bytes", what,
                              i, item_max);
    }
    return true;
}

static bool has_string(const json_t *list, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static bool read_data(const json_t *body, pool_req_t *q, sim_refusal_t *f)
{
    const json_t *d = json_object_get(body, "data_reservation");
    if (!json_is_object(d))
        return sim_refuse(f, 400, "data_reservation: expected an object");
    q->data = d;
    if (sim_json_want_int(d, "data_reservation", "pool_id", 0, INT64_MAX, &q->pool_id, &f->diag) ||
        sim_json_want_int(d, "data_reservation", "cus", 0, POOL_MAX_UNITS, &q->cus, &f->diag) ||
        sim_json_want_int(d, "data_reservation", "sus", 0, POOL_MAX_UNITS, &q->sus, &f->diag) ||
        sim_json_want_int(d, "data_reservation", "ipv4us", 0, POOL_MAX_UNITS, &q->ipv4us, &f->diag))
        return sim_malformed(f);
    q->nodes = json_object_get(d, "node_ids");
    if (!read_string_list(q->nodes, "node_ids", 1, POOL_MAX_NODES, 64, f) ||
        !read_string_list(json_object_get(d, "currencies"), "currencies", 0, 16, 16, f))
        return false;
    if (!has_string(json_object_get(d, "currencies"), "TFT"))
        return sim_refuse(f, 400,
                          "data_reservation.currencies: must include \"TFT\", the only "
                          "currency the escrow takes");
    return true;
}

/* `json` parsed must be data_reservation (tfexplorer: reflect.DeepEqual). */
static bool json_matches(const pool_req_t *q, sim_refusal_t *f)
{
    json_t *parsed;
    bool same;
    if (sim_json_object(q->json_text, strlen(q->json_text), SIM_REGISTRY_MAX_BODY, "json",
                        data_fields, &parsed, &f->diag))
        return sim_malformed(f);
    same = json_equal(parsed, q->data);
    json_decref(parsed);
    return same || sim_refuse(f, 400, "json does not match data_reservation");
}

/* No duplicates (409, as the real explorer), each node known, all in one farm. */
static bool nodes_ok(sim_world_t *w, pool_req_t *q, sim_refusal_t *f)
{
    size_t n = json_array_size(q->nodes);
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(q->nodes, i));
        const sim_node_t *node = sim_world_node(w, id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(id, json_string_value(json_array_get(q->nodes, j))) == 0)
                return sim_refuse(f, 409, "duplicate node ID is not allowed in capacity pool");
        if (node == NULL || node->deleted)
            return sim_refuse(f, 400, "data_reservation.node_ids[%zu]: no node '%s'", i, id);
        if (i > 0 && node->farm_id != q->farm_id)
            return sim_refuse(f, 400,
                              "all nodes for a capacity pool must belong to the same farm "
                              "(node_ids[0] is in farm %lld, node_ids[%zu] in farm %lld)",
                              (long long)q->farm_id, i, (long long)node->farm_id);
        q->farm_id = node->farm_id;
    }
    return true;
}

static bool customer_ok(const struct sim_registry *reg, pool_req_t *q, sim_refusal_t *f)
{
    q->customer = find_user(reg, q->customer_tid);
    if (q->customer == NULL)
        return sim_refuse(f, 400, "customer_tid: cannot find user with id '%lld'",
                          (long long)q->customer_tid);
    if (crypto_sign_verify_detached(q->sig, (const unsigned char *)q->json_text,
                                    strlen(q->json_text), q->customer->pk) != 0)
        return sim_refuse(f, 400,
                          "failed to verify customer signature: customer_signature is not "
                          "user %lld's ed25519 signature of the bytes of json",
                          (long long)q->customer_tid);
    return true;
}

static bool pool_has_node(const sim_pool_t *p, const char *node_id)
{
    for (size_t i = 0; i < p->node_ids.n; i++)
        if (strcmp(p->node_ids.items[i], node_id) == 0)
            return true;
    return false;
}

/* An extension: the customer's own pool, keeping all its nodes, changing something. */
static bool extension_ok(const struct sim_registry *reg, const pool_req_t *q, sim_refusal_t *f)
{
    const sim_pool_t *p;
    if (q->pool_id == 0)
        return true;
    if ((p = find_pool(reg, q->pool_id)) == NULL)
        return sim_refuse(f, 400, "data_reservation.pool_id: no pool %lld", (long long)q->pool_id);
    if (p->customer_tid != q->customer_tid)
        return sim_refuse(f, 403, "pool %lld belongs to another customer", (long long)p->id);
    for (size_t i = 0; i < p->node_ids.n; i++)
        if (!has_string(q->nodes, p->node_ids.items[i]))
            return sim_refuse(f, 400, "nodes can not be removed from a pool: node_ids lacks '%s'",
                              p->node_ids.items[i]);
    if (q->cus == 0 && q->sus == 0 && q->ipv4us == 0 && json_array_size(q->nodes) == p->node_ids.n)
        return sim_refuse(f, 400, "this capacity reservation has no observable results");
    return true;
}

static bool check_pool_request(struct sim_registry *reg, const json_t *body, pool_req_t *q,
                               sim_refusal_t *f)
{
    memset(q, 0, sizeof *q);
    return read_parties(body, q, f) && read_data(body, q, f) && json_matches(q, f) &&
           nodes_ok(&reg->ctx->world, q, f) && customer_ok(reg, q, f) && extension_ok(reg, q, f);
}

/* ---- pool reservations: effects ----------------------------------------------------------- */

static escrow_t *escrow_for(struct sim_registry *reg, int64_t tid)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    escrow_t **list, *e;
    for (size_t i = 0; i < reg->n_escrows; i++)
        if (reg->escrows[i]->tid == tid)
            return reg->escrows[i];
    list = grow(reg->escrows, reg->n_escrows, &reg->cap_escrows, sizeof *list);
    if (list == NULL)
        return NULL;
    reg->escrows = list;
    if ((e = calloc(1, sizeof *e)) == NULL)
        return NULL;
    if ((e->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL) {
        free(e);
        return NULL;
    }
    crypto_sign_keypair(pk, e->sk);
    gs_hex(pk, sizeof pk, e->address);
    e->tid = tid;
    list[reg->n_escrows++] = e;
    return e;
}

static int copy_nodes(const json_t *nodes, gs_strlist_t *out)
{
    size_t i;
    const json_t *v;
    memset(out, 0, sizeof *out);
    json_array_foreach(nodes, i, v)
    {
        if (gs_strlist_push(out, json_string_value(v)) != GS_OK) {
            gs_strlist_free(out);
            return GS_ENOMEM;
        }
    }
    return GS_OK;
}

static sim_pool_t *add_pool(struct sim_registry *reg, const reservation_t *res, const pool_req_t *q)
{
    sim_pool_t *pools = grow(reg->pools, reg->n_pools, &reg->cap_pools, sizeof *pools), *p;
    if (pools == NULL)
        return NULL;
    reg->pools = pools;
    p = &pools[reg->n_pools];
    memset(p, 0, sizeof *p);
    if (copy_nodes(q->nodes, &p->node_ids) != GS_OK)
        return NULL;
    p->id = res->id;
    p->last_updated = sim_now(&reg->ctx->world);
    p->empty_at = INT64_MAX;
    p->dry_seen = INT64_MAX;
    p->customer_tid = q->customer_tid;
    p->sponsor_tid = q->sponsor_tid;
    reg->n_pools++;
    return p;
}

/* Pays the farmer and the foundation out of the escrow. */
static int payout(struct sim_registry *reg, const reservation_t *res)
{
    char memo[SIM_MEMO_MAX + 1], farm[SIM_ADDRESS_LEN + 1];
    uint64_t foundation = res->amount / 10, farmer = res->amount - foundation;
    gs_diag_t diag = {{0}};
    int err = GS_OK;
    memo_of(res->id, memo);
    if (!sim_registry_farm_address(reg, res->farm_id, farm))
        return GS_EINVAL;
    if (farmer)
        err = sim_chain_transfer(reg->ctx->chain, res->address, farm, farmer, memo, NULL, &diag);
    if (err == GS_OK && foundation)
        err = sim_chain_transfer(reg->ctx->chain, res->address, reg->foundation, foundation, memo,
                                 NULL, &diag);
    if (err)
        gs_log(GS_LOG_ERROR, "escrow: paying out reservation %lld: %s", (long long)res->id,
               diag.msg);
    return err;
}

/* The escrow holds the amount: pay out, then add the capacity and nodes to the pool. */
static void settle(struct sim_registry *reg, reservation_t *res)
{
    sim_pool_t *p = find_pool(reg, res->pool_id);
    gs_strlist_t nodes = {0};
    res->paid = true;
    if (p == NULL || payout(reg, res) != GS_OK) {
        save_reservation(reg, res);
        return;
    }
    res->released = true;
    /* As the real planner: the reservation's node list replaces the pool's (it
     * includes every node of the pool, checked when it was made). */
    for (size_t i = 0; i < res->node_ids.n; i++)
        if (gs_strlist_push(&nodes, res->node_ids.items[i]) != GS_OK)
            break;
    if (nodes.n == res->node_ids.n) {
        gs_strlist_free(&p->node_ids);
        p->node_ids = nodes;
    } else {
        gs_strlist_free(&nodes);
    }
    pool_add_capacity(p, sim_now(&reg->ctx->world), res->cus, res->sus, res->ipv4us);
    save_reservation(reg, res);
    save_pool(reg, p);
    gs_log(GS_LOG_INFO, "escrow: reservation %lld paid, pool %lld extended", (long long)res->id,
           (long long)p->id);
}

static reservation_t *add_reservation(struct sim_registry *reg, const pool_req_t *q,
                                      const escrow_t *e)
{
    reservation_t *list = grow(reg->reservations, reg->n_res, &reg->cap_res, sizeof *list), *res;
    if (list == NULL)
        return NULL;
    reg->reservations = list;
    res = &list[reg->n_res];
    memset(res, 0, sizeof *res);
    if (copy_nodes(q->nodes, &res->node_ids) != GS_OK)
        return NULL;
    res->id = reg->next_reservation_id;
    res->pool_id = q->pool_id ? q->pool_id : res->id;
    res->farm_id = q->farm_id;
    res->cus = (uint64_t)q->cus;
    res->sus = (uint64_t)q->sus;
    res->ipv4us = (uint64_t)q->ipv4us;
    res->amount = pool_amount(&reg->ctx->world, res->cus, res->sus, res->ipv4us);
    res->address = e->address;
    res->expiration = sim_now(&reg->ctx->world) + SIM_PAYMENT_TIMEOUT;
    res->cause = "";
    return res;
}

/* Records the reservation (and its new pool); NULL when out of memory, changing nothing
 * a client can see (an escrow account may exist earlier than needed). */
static reservation_t *reserve(struct sim_registry *reg, const pool_req_t *q)
{
    escrow_t *e = escrow_for(reg, q->customer_tid);
    reservation_t *res = e ? add_reservation(reg, q, e) : NULL;
    if (res == NULL)
        return NULL;
    if (q->pool_id == 0 && add_pool(reg, res, q) == NULL) {
        gs_strlist_free(&res->node_ids);
        return NULL;
    }
    reg->n_res++;
    reg->next_reservation_id++;
    sim_store_begin(reg->ctx->store);
    save_escrow(reg, e);
    save_reservation(reg, res);
    save_pool(reg, find_pool(reg, res->pool_id));
    if (res->amount == 0)
        settle(reg, res);
    sim_store_commit(reg->ctx->store);
    return res;
}

static json_t *escrow_info_json(const struct sim_registry *reg, const reservation_t *res)
{
    return json_pack("{s:I, s:{s:s, s:s, s:I}}", "reservation_id", (json_int_t)res->id,
                     "escrow_information", "address", res->address, "asset", reg->asset, "amount",
                     (json_int_t)res->amount);
}

static const char *const pool_request_fields[] = {"json",
                                                  "data_reservation",
                                                  "customer_tid",
                                                  "customer_signature",
                                                  "sponsor_tid",
                                                  "sponsor_signature",
                                                  NULL};

void sim_registry_post_pool(gs_http_req_t *r, void *ud)
{
    struct sim_registry *reg = registry_of(r, ud);
    sim_refusal_t f = {0};
    pool_req_t q;
    reservation_t *res;
    json_t *body;
    if (reg == NULL ||
        (body = sim_http_body(r, SIM_REGISTRY_MAX_BODY, pool_request_fields)) == NULL)
        return;
    if (!check_pool_request(reg, body, &q, &f))
        gs_http_reply_error(r, f.status, "%s", f.diag.msg);
    else if (reg->n_res >= MAX_RES)
        gs_http_reply_error(r, 503, "the pool reservations are full (%d)", MAX_RES);
    else if ((res = reserve(reg, &q)) == NULL)
        gs_http_reply_error(r, 500, "out of memory");
    else
        gs_http_reply_json(r, 201, escrow_info_json(reg, res));
    json_decref(body);
}

/* ---- pool and payment reads --------------------------------------------------------------- */

static json_t *pool_json(const sim_pool_t *p)
{
    json_t *nodes = json_array(), *wids = json_array();
    for (size_t i = 0; i < p->node_ids.n; i++)
        json_array_append_new(nodes, json_string(p->node_ids.items[i]));
    for (size_t i = 0; i < p->n_workloads; i++)
        json_array_append_new(wids, json_integer(p->workload_ids[i]));
    return json_pack("{s:I, s:f, s:f, s:f, s:o, s:I, s:f, s:f, s:f, s:I, s:I, s:I, s:o}", "pool_id",
                     (json_int_t)p->id, "cus", p->cus, "sus", p->sus, "ipv4us", p->ipv4us,
                     "node_ids", nodes, "last_updated", (json_int_t)p->last_updated, "active_cu",
                     p->active_cu, "active_su", p->active_su, "active_ipv4", p->active_ipv4,
                     "empty_at", (json_int_t)p->empty_at, "customer_tid",
                     (json_int_t)p->customer_tid, "sponsor_tid", (json_int_t)p->sponsor_tid,
                     "active_workload_ids", wids);
}

void sim_registry_get_pool(gs_http_req_t *r, void *ud)
{
    struct sim_registry *reg = registry_of(r, ud);
    sim_pool_t *p;
    int64_t id;
    if (reg == NULL || !param_id(r, "id", &id))
        return;
    if ((p = find_pool(reg, id)) == NULL) {
        gs_http_reply_error(r, 404, "capacity pool not found");
        return;
    }
    pool_sync(p, sim_now(&reg->ctx->world));
    gs_http_reply_json(r, 200, pool_json(p));
}

void sim_registry_get_owner_pools(gs_http_req_t *r, void *ud)
{
    struct sim_registry *reg = registry_of(r, ud);
    json_t *out;
    int64_t owner, now;
    if (reg == NULL || !param_id(r, "owner id", &owner))
        return;
    now = sim_now(&reg->ctx->world);
    out = json_array();
    for (size_t i = 0; i < reg->n_pools; i++) {
        if (reg->pools[i].customer_tid != owner)
            continue;
        pool_sync(&reg->pools[i], now);
        json_array_append_new(out, pool_json(&reg->pools[i]));
    }
    gs_http_reply_json(r, 200, out);
}

static json_t *payment_json(const struct sim_registry *reg, const reservation_t *res)
{
    return json_pack("{s:I, s:I, s:s, s:I, s:s, s:I, s:b, s:b, s:b, s:b, s:s}", "id",
                     (json_int_t)res->id, "farmer_id", (json_int_t)res->farm_id, "address",
                     res->address, "expiration", (json_int_t)res->expiration, "asset", reg->asset,
                     "amount", (json_int_t)res->amount, "paid", res->paid, "released",
                     res->released, "cancellation_pending", 0, "canceled", res->canceled, "cause",
                     res->cause);
}

void sim_registry_get_payment(gs_http_req_t *r, void *ud)
{
    struct sim_registry *reg = registry_of(r, ud);
    const reservation_t *res;
    int64_t id;
    if (reg == NULL || !param_id(r, "reservation id", &id))
        return;
    if ((res = find_reservation(reg, id)) == NULL)
        gs_http_reply_error(r, 404, "capacity reservation not found");
    else
        gs_http_reply_json(r, 200, payment_json(reg, res));
}

/* ---- the watcher -------------------------------------------------------------------------- */

static void watch_reservation(struct sim_registry *reg, reservation_t *res, int64_t now)
{
    char memo[SIM_MEMO_MAX + 1];
    if (res->paid || res->canceled)
        return;
    memo_of(res->id, memo);
    if (sim_chain_received(reg->ctx->chain, res->address, memo) >= res->amount) {
        sim_store_begin(reg->ctx->store);
        settle(reg, res);
        sim_store_commit(reg->ctx->store);
    } else if (now >= res->expiration) {
        res->canceled = true;
        res->cause = "payment timeout";
        save_reservation(reg, res);
        gs_log(GS_LOG_INFO, "escrow: reservation %lld canceled: payment timeout",
               (long long)res->id);
    }
}

static void watch_pool(struct sim_registry *reg, sim_pool_t *p, int64_t now)
{
    if (p->empty_at > now || p->empty_at == p->dry_seen)
        return;
    p->dry_seen = p->empty_at;
    pool_sync(p, now);
    sim_store_begin(reg->ctx->store);
    save_pool(reg, p);
    if (reg->dry_cb)
        reg->dry_cb(reg->ctx, p, reg->dry_arg);
    sim_store_commit(reg->ctx->store);
}

static void on_tick(uv_timer_t *t)
{
    struct sim_registry *reg = t->data;
    int64_t now = sim_now(&reg->ctx->world);
    for (size_t i = 0; i < reg->n_res; i++)
        watch_reservation(reg, &reg->reservations[i], now);
    for (size_t i = 0; i < reg->n_pools; i++)
        watch_pool(reg, &reg->pools[i], now);
}

/* ---- the registry's life ------------------------------------------------------------------ */

int sim_registry_new(sim_ctx_t *ctx, struct sim_registry **out, gs_diag_t *diag)
{
    struct sim_registry *reg;
    char issuer[SIM_ADDRESS_LEN + 1];
    *out = NULL;
    if (sodium_init() < 0)
        return gs_diag_set(diag, GS_EIO, "libsodium cannot start");
    if ((reg = calloc(1, sizeof *reg)) == NULL ||
        (reg->farm_addresses = calloc(ctx->world.n_farms + 1, sizeof *reg->farm_addresses)) ==
            NULL) {
        free(reg);
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    reg->ctx = ctx;
    reg->next_reservation_id = 1;
    for (size_t i = 0; i < ctx->world.n_farms; i++)
        derived_address("farm wallet", ctx->world.farms[i].id, reg->farm_addresses[i]);
    derived_address("foundation", 0, reg->foundation);
    derived_address("TFT issuer", 0, issuer);
    snprintf(reg->asset, sizeof reg->asset, "TFT:%s", issuer);
    *out = reg;
    return GS_OK;
}

void sim_registry_start(sim_ctx_t *ctx)
{
    struct sim_registry *reg = ctx->registry;
    if (reg == NULL || reg->timer_started)
        return;
    uv_timer_init(ctx->loop, &reg->timer);
    reg->timer.data = reg;
    reg->timer_started = true;
    uv_timer_start(&reg->timer, on_tick, SIM_ESCROW_TICK_MS, SIM_ESCROW_TICK_MS);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct sim_registry *reg = h->data;
    void (*done)(void *) = reg->closed;
    void *arg = reg->closed_arg;
    reg->timer_started = false;
    sim_registry_free(reg);
    if (done)
        done(arg);
}

void sim_registry_close(sim_ctx_t *ctx, void (*done)(void *), void *arg)
{
    struct sim_registry *reg = ctx->registry;
    ctx->registry = NULL;
    if (reg == NULL || !reg->timer_started) {
        sim_registry_free(reg);
        if (done)
            done(arg);
        return;
    }
    reg->closed = done;
    reg->closed_arg = arg;
    uv_close((uv_handle_t *)&reg->timer, on_timer_closed);
}

void sim_registry_free(struct sim_registry *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n_users; i++)
        user_free(&reg->users[i]);
    for (size_t i = 0; i < reg->n_escrows; i++) {
        sodium_free(reg->escrows[i]->sk);
        free(reg->escrows[i]);
    }
    for (size_t i = 0; i < reg->n_res; i++)
        gs_strlist_free(&reg->reservations[i].node_ids);
    for (size_t i = 0; i < reg->n_pools; i++) {
        gs_strlist_free(&reg->pools[i].node_ids);
        free(reg->pools[i].workload_ids);
    }
    free(reg->users);
    free(reg->escrows);
    free(reg->reservations);
    free(reg->pools);
    free(reg->farm_addresses);
    free(reg);
}

/* ---- persistence (store.h): the load at start -------------------------------------------- */

static int bad_record(gs_diag_t *diag, const char *kind, const char *key)
{
    return gs_diag_set(diag, GS_EPARSE, "state database: bad %s record %.32s", kind, key);
}

static int load_user(const char *key, const json_t *doc, void *arg, gs_diag_t *diag)
{
    struct sim_registry *reg = arg;
    user_req_t q = {.name = gs_json_str(doc, "name"),
                    .email = gs_json_str(doc, "email"),
                    .pubkey = gs_json_str(doc, "pubkey"),
                    .host = gs_json_str(doc, "host"),
                    .description = gs_json_str(doc, "description"),
                    .signature = gs_json_str(doc, "signature")};
    int64_t id = strtoll(key, NULL, 10);
    user_t *u;
    if (!q.name || !q.email || !q.pubkey || !q.host || !q.description || !q.signature ||
        !sim_hex_decode(q.pubkey, q.pk, sizeof q.pk) || id < 1)
        return bad_record(diag, "user", key);
    if (reg->n_users >= MAX_USERS || (u = add_user(reg, &q)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "state database: cannot load user %lld", (long long)id);
    u->id = id;
    return GS_OK;
}

static int load_escrow(const char *key, const json_t *doc, void *arg, gs_diag_t *diag)
{
    struct sim_registry *reg = arg;
    const char *address = gs_json_str(doc, "address"), *sk = gs_json_str(doc, "sk");
    int64_t tid = strtoll(key, NULL, 10);
    escrow_t *e;
    if (address == NULL || sk == NULL || !sim_chain_address_valid(address))
        return bad_record(diag, "escrow", key);
    if ((e = escrow_for(reg, tid)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    memcpy(e->address, address, SIM_ADDRESS_LEN + 1);
    if (!sim_hex_decode(sk, e->sk, crypto_sign_SECRETKEYBYTES))
        return bad_record(diag, "escrow", key);
    return GS_OK;
}

static const char *escrow_address(const struct sim_registry *reg, const char *address)
{
    for (size_t i = 0; address && i < reg->n_escrows; i++)
        if (strcmp(reg->escrows[i]->address, address) == 0)
            return reg->escrows[i]->address;
    return NULL;
}

static bool read_units(const json_t *doc, uint64_t *cus, uint64_t *sus, uint64_t *ipv4us,
                       uint64_t *amount)
{
    int64_t v[4] = {-1, -1, -1, -1};
    bool ok = gs_json_int(doc, "cus", &v[0]) && gs_json_int(doc, "sus", &v[1]) &&
              gs_json_int(doc, "ipv4us", &v[2]) && gs_json_int(doc, "amount", &v[3]);
    *cus = (uint64_t)v[0];
    *sus = (uint64_t)v[1];
    *ipv4us = (uint64_t)v[2];
    *amount = (uint64_t)v[3];
    return ok && v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0;
}

static int load_reservation(const char *key, const json_t *doc, void *arg, gs_diag_t *diag)
{
    struct sim_registry *reg = arg;
    reservation_t *list = grow(reg->reservations, reg->n_res, &reg->cap_res, sizeof *list), *res;
    if (list == NULL || reg->n_res >= MAX_RES)
        return gs_diag_set(diag, GS_ENOMEM, "state database: cannot load reservation %.32s", key);
    reg->reservations = list;
    res = memset(&list[reg->n_res], 0, sizeof *res);
    res->id = strtoll(key, NULL, 10);
    res->address = escrow_address(reg, gs_json_str(doc, "address"));
    if (res->id < 1 || res->address == NULL || !gs_json_int(doc, "pool_id", &res->pool_id) ||
        !gs_json_int(doc, "farm_id", &res->farm_id) ||
        !gs_json_int(doc, "expiration", &res->expiration) ||
        !read_units(doc, &res->cus, &res->sus, &res->ipv4us, &res->amount) ||
        copy_nodes(json_object_get(doc, "node_ids"), &res->node_ids) != GS_OK)
        return bad_record(diag, "reservation", key);
    res->paid = json_is_true(json_object_get(doc, "paid"));
    res->released = json_is_true(json_object_get(doc, "released"));
    res->canceled = json_is_true(json_object_get(doc, "canceled"));
    res->cause = res->canceled ? "payment timeout" : "";
    reg->n_res++;
    if (res->id >= reg->next_reservation_id)
        reg->next_reservation_id = res->id + 1;
    return GS_OK;
}

static bool read_pool_numbers(const json_t *doc, sim_pool_t *p)
{
    return gs_json_num(doc, "cus", &p->cus) && gs_json_num(doc, "sus", &p->sus) &&
           gs_json_num(doc, "ipv4us", &p->ipv4us) && gs_json_num(doc, "active_cu", &p->active_cu) &&
           gs_json_num(doc, "active_su", &p->active_su) &&
           gs_json_num(doc, "active_ipv4", &p->active_ipv4) &&
           gs_json_int(doc, "last_updated", &p->last_updated) &&
           gs_json_int(doc, "empty_at", &p->empty_at) &&
           gs_json_int(doc, "dry_seen", &p->dry_seen) &&
           gs_json_int(doc, "customer_tid", &p->customer_tid) &&
           gs_json_int(doc, "sponsor_tid", &p->sponsor_tid);
}

static int pool_workloads(sim_pool_t *p, const json_t *ids)
{
    size_t i;
    const json_t *v;
    if (!json_is_array(ids))
        return GS_EPARSE;
    p->cap_workloads = json_array_size(ids);
    if (p->cap_workloads &&
        (p->workload_ids = calloc(p->cap_workloads, sizeof *p->workload_ids)) == NULL)
        return GS_ENOMEM;
    json_array_foreach(ids, i, v)
    {
        p->workload_ids[p->n_workloads++] = json_integer_value(v);
    }
    return GS_OK;
}

static int load_pool(const char *key, const json_t *doc, void *arg, gs_diag_t *diag)
{
    struct sim_registry *reg = arg;
    sim_pool_t *pools = grow(reg->pools, reg->n_pools, &reg->cap_pools, sizeof *pools), *p;
    if (pools == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    reg->pools = pools;
    p = memset(&pools[reg->n_pools], 0, sizeof *p);
    reg->n_pools++; /* freed with the registry even when half read */
    if (!gs_json_int(doc, "pool_id", &p->id) || !read_pool_numbers(doc, p) ||
        copy_nodes(json_object_get(doc, "node_ids"), &p->node_ids) != GS_OK ||
        pool_workloads(p, json_object_get(doc, "active_workload_ids")) != GS_OK)
        return bad_record(diag, "pool", key);
    return GS_OK;
}

int sim_registry_load(sim_ctx_t *ctx, gs_diag_t *diag)
{
    static const struct {
        const char *kind;
        sim_store_each_cb cb;
    } kinds[] = {{"user", load_user},
                 {"escrow", load_escrow},
                 {"reservation", load_reservation},
                 {"pool", load_pool}};
    int err = GS_OK;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && err == GS_OK; i++)
        err = sim_store_each(ctx->store, kinds[i].kind, kinds[i].cb, ctx->registry, diag);
    return err;
}

/* ---- for the workloads code and the tests ------------------------------------------------- */

bool sim_registry_user_key(const struct sim_registry *reg, int64_t tid, unsigned char pk[32])
{
    const user_t *u = find_user(reg, tid);
    if (u)
        memcpy(pk, u->pk, sizeof u->pk);
    return u != NULL;
}

const sim_pool_t *sim_registry_pool(struct sim_registry *reg, int64_t pool_id)
{
    sim_pool_t *p = find_pool(reg, pool_id);
    if (p)
        pool_sync(p, sim_now(&reg->ctx->world));
    return p;
}

bool sim_registry_pool_allows(struct sim_registry *reg, int64_t pool_id, int64_t tid,
                              const char *node_id)
{
    const sim_pool_t *p = find_pool(reg, pool_id);
    return p && p->customer_tid == tid && pool_has_node(p, node_id);
}

bool sim_registry_pool_can_carry(struct sim_registry *reg, int64_t pool_id, double cu, double su,
                                 double ipv4, int64_t seconds)
{
    sim_pool_t *p = find_pool(reg, pool_id);
    int64_t now = sim_now(&reg->ctx->world);
    if (p == NULL)
        return false;
    pool_sync(p, now);
    return now + seconds < empty_at(p, p->active_cu + cu, p->active_su + su, p->active_ipv4 + ipv4);
}

static bool units_ok(double cu, double su, double ipv4)
{
    return cu >= 0 && su >= 0 && ipv4 >= 0 && isfinite(cu + su + ipv4);
}

int sim_registry_pool_activate(struct sim_registry *reg, int64_t pool_id, int64_t workload_id,
                               double cu, double su, double ipv4)
{
    sim_pool_t *p = find_pool(reg, pool_id);
    int64_t *ids;
    size_t at;
    if (p == NULL)
        return GS_ENOENT;
    if (!units_ok(cu, su, ipv4))
        return GS_EINVAL;
    if (pool_has_workload(p, workload_id, &at))
        return GS_OK;
    ids = grow(p->workload_ids, p->n_workloads, &p->cap_workloads, sizeof *ids);
    if (ids == NULL)
        return GS_ENOMEM;
    p->workload_ids = ids;
    ids[p->n_workloads++] = workload_id;
    pool_sync(p, sim_now(&reg->ctx->world));
    p->active_cu += cu;
    p->active_su += su;
    p->active_ipv4 += ipv4;
    pool_sync_expiration(p);
    save_pool(reg, p);
    return GS_OK;
}

int sim_registry_pool_deactivate(struct sim_registry *reg, int64_t pool_id, int64_t workload_id,
                                 double cu, double su, double ipv4)
{
    sim_pool_t *p = find_pool(reg, pool_id);
    size_t at;
    if (p == NULL)
        return GS_ENOENT;
    if (!units_ok(cu, su, ipv4))
        return GS_EINVAL;
    if (!pool_has_workload(p, workload_id, &at))
        return GS_OK;
    p->workload_ids[at] = p->workload_ids[--p->n_workloads];
    pool_sync(p, sim_now(&reg->ctx->world));
    p->active_cu = less_active(p->active_cu, cu);
    p->active_su = less_active(p->active_su, su);
    p->active_ipv4 = less_active(p->active_ipv4, ipv4);
    pool_sync_expiration(p);
    save_pool(reg, p);
    return GS_OK;
}

void sim_registry_on_pool_dry(struct sim_registry *reg, sim_pool_dry_cb cb, void *arg)
{
    reg->dry_cb = cb;
    reg->dry_arg = arg;
}

bool sim_registry_farm_address(const struct sim_registry *reg, int64_t farm_id,
                               char out[SIM_ADDRESS_LEN + 1])
{
    size_t i = farm_index(&reg->ctx->world, farm_id);
    if (i == SIZE_MAX)
        return false;
    memcpy(out, reg->farm_addresses[i], SIM_ADDRESS_LEN + 1);
    return true;
}

const char *sim_registry_foundation_address(const struct sim_registry *reg)
{
    return reg->foundation;
}
