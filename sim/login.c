/* login.c — the local grid's login directory: 3Bot names and their ed25519 public
 * keys, answered the way the Threefold login service answers them. In memory, as one
 * flat table of records; with a state store (store.h) each name is also written
 * through as a record "login" (keyed by name: {"pk": HEX}), read back at start.
 *
 * HTTP API (JSON in and out; every error answer is {"error": TEXT} and changes nothing)
 *
 *   NAME  a 3Bot name: lowercase letters, digits, '.', '-' and '_', starting with a
 *         letter or a digit, ending in ".3bot", at most 64 bytes ("alice.3bot").
 *   KEY   the standard base64 (with padding) of a 32-byte ed25519 public key.
 *   USER  {"doublename": NAME, "publicKey": KEY}
 *
 * GET  /api/users/NAME
 *      200 USER. 404 {"error": "user not found"}. 400 when NAME is not a 3Bot name.
 * POST /api/users                      body USER
 *      Registers NAME with KEY. The real service learns names from the Threefold
 *      Connect app when a person creates their identity; this POST is the local grid's
 *      stand-in for that step. 201 USER when new, 200 USER when NAME already has this
 *      KEY (idempotent), 409 when NAME has another key, 400 a malformed body (the
 *      message names the member), 413 a body over 4096 bytes, 503 when the directory
 *      is full (100000 names).
 *
 * Unknown paths 404, other methods 405 (common/httpd.c). */
#include "login.h"
#include "ctx.h"
#include "http_util.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define MAX_USERS  100000
#define BODY_MAX   4096
#define KEY_LEN    crypto_sign_PUBLICKEYBYTES
#define KEY_B64_SZ sodium_base64_ENCODED_LEN(KEY_LEN, sodium_base64_VARIANT_ORIGINAL)
#define NAME_RULE  "expected a 3Bot name like alice.3bot (a-z 0-9 . - _, at most 64 bytes)"

typedef struct {
    char name[SIM_LOGIN_NAME_MAX + 1];
    unsigned char pk[KEY_LEN];
} user_t;

struct sim_login {
    gs_buf_t users;     /* user_t records, in the order registered */
    sim_store_t *store; /* NULL: in memory only */
};

static size_t n_users(const sim_login_t *l)
{
    return l->users.len / sizeof(user_t);
}

static const user_t *find_user(const sim_login_t *l, const char *name)
{
    const user_t *users = (const user_t *)(const void *)l->users.data;
    for (size_t i = 0; i < n_users(l); i++)
        if (strcmp(users[i].name, name) == 0)
            return &users[i];
    return NULL;
}

bool sim_login_name_valid(const char *name)
{
    static const char suffix[] = ".3bot";
    size_t len = strlen(name), slen = sizeof suffix - 1;
    return len > slen && len <= SIM_LOGIN_NAME_MAX && strcmp(name + len - slen, suffix) == 0 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-_") == len &&
           strchr(".-_", name[0]) == NULL;
}

int sim_login_new(sim_login_t **out, gs_diag_t *diag)
{
    sim_login_t *l = calloc(1, sizeof *l);
    *out = NULL;
    if (l == NULL || sodium_init() < 0) {
        free(l);
        return gs_diag_set(diag, GS_ENOMEM, "login directory: cannot initialise");
    }
    gs_buf_init(&l->users, MAX_USERS * sizeof(user_t));
    *out = l;
    return GS_OK;
}

void sim_login_free(sim_login_t *l)
{
    if (l == NULL)
        return;
    gs_buf_free(&l->users);
    free(l);
}

static void save_user(const sim_login_t *l, const user_t *u)
{
    char hex[2 * KEY_LEN + 1];
    json_t *doc;
    if (l->store == NULL)
        return;
    gs_hex(u->pk, KEY_LEN, hex);
    doc = json_pack("{s:s}", "pk", hex);
    sim_store_put(l->store, "login", u->name, doc);
    json_decref(doc);
}

static int load_user(const char *key, const json_t *doc, void *arg, gs_diag_t *diag)
{
    const char *hex = gs_json_str(doc, "pk");
    unsigned char pk[KEY_LEN];
    if (hex == NULL || !sim_hex_decode(hex, pk, sizeof pk))
        return gs_diag_set(diag, GS_EPARSE, "state database: bad login %.64s", key);
    return sim_login_register(arg, key, pk, diag);
}

int sim_login_attach_store(sim_login_t *l, struct sim_store *store, gs_diag_t *diag)
{
    int err = sim_store_each(store, "login", load_user, l, diag);
    l->store = store;
    return err;
}

int sim_login_register(sim_login_t *l, const char *name, const unsigned char pk[32],
                       gs_diag_t *diag)
{
    const user_t *known;
    user_t u;
    int err;
    if (!sim_login_name_valid(name))
        return gs_diag_set(diag, GS_EINVAL, "doublename: " NAME_RULE);
    known = find_user(l, name);
    if (known)
        return memcmp(known->pk, pk, KEY_LEN) == 0
                   ? GS_OK
                   : gs_diag_set(diag, GS_EINVAL, "%s is registered with another key", name);
    memset(&u, 0, sizeof u);
    memcpy(u.name, name, strlen(name) + 1);
    memcpy(u.pk, pk, KEY_LEN);
    err = gs_buf_append(&l->users, &u, sizeof u);
    if (err == GS_OK)
        save_user(l, &u);
    if (err == GS_ETOOBIG)
        return gs_diag_set(diag, err, "the login directory is full (%d names)", MAX_USERS);
    return err ? gs_diag_set(diag, err, "out of memory") : GS_OK;
}

bool sim_login_lookup(const sim_login_t *l, const char *name, unsigned char pk[32])
{
    const user_t *u = find_user(l, name);
    if (u)
        memcpy(pk, u->pk, KEY_LEN);
    return u != NULL;
}

/* ---- HTTP ----------------------------------------------------------------------------------- */

static sim_login_t *login_of(void *ud)
{
    return ((sim_ctx_t *)ud)->login;
}

static json_t *user_json(const char *name, const unsigned char pk[KEY_LEN])
{
    char b64[KEY_B64_SZ];
    sodium_bin2base64(b64, sizeof b64, pk, KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
    return json_pack("{s:s, s:s}", "doublename", name, "publicKey", b64);
}

static void get_user(gs_http_req_t *r, void *ud)
{
    const char *name = gs_http_req_param(r, 0);
    unsigned char pk[KEY_LEN];
    if (!sim_login_name_valid(name))
        gs_http_reply_error(r, 400, "name: " NAME_RULE);
    else if (!sim_login_lookup(login_of(ud), name, pk))
        gs_http_reply_error(r, 404, "user not found");
    else
        gs_http_reply_json(r, 200, user_json(name, pk));
}

/* Reads USER from body into name and pk. */
static int read_user(const json_t *body, const char **name, unsigned char pk[KEY_LEN],
                     gs_diag_t *diag)
{
    const char *b64, *end = NULL;
    size_t got = 0;
    int err = sim_json_want_str(body, NULL, "doublename", SIM_LOGIN_NAME_MAX, name, diag);
    if (err == GS_OK && !sim_login_name_valid(*name))
        err = gs_diag_set(diag, GS_EINVAL, "doublename: " NAME_RULE);
    if (err == GS_OK)
        err = sim_json_want_str(body, NULL, "publicKey", KEY_B64_SZ - 1, &b64, diag);
    if (err == GS_OK && (sodium_base642bin(pk, KEY_LEN, b64, strlen(b64), NULL, &got, &end,
                                           sodium_base64_VARIANT_ORIGINAL) != 0 ||
                         got != KEY_LEN || *end != '\0'))
        err = gs_diag_set(diag, GS_EINVAL,
                          "publicKey: expected the standard base64 of a 32-byte ed25519 key");
    return err;
}

/* Registers a checked USER; returns the HTTP status (diag set for errors). */
static int register_user(sim_login_t *l, const char *name, const unsigned char pk[KEY_LEN],
                         gs_diag_t *diag)
{
    unsigned char known[KEY_LEN];
    int err;
    if (sim_login_lookup(l, name, known)) {
        if (memcmp(known, pk, KEY_LEN) == 0)
            return 200;
        gs_diag_set(diag, GS_EINVAL, "doublename: %s is registered with another key", name);
        return 409;
    }
    err = sim_login_register(l, name, pk, diag);
    return err == GS_OK ? 201 : err == GS_ETOOBIG ? 503 : err == GS_ENOMEM ? 500 : 400;
}

static void post_user(gs_http_req_t *r, void *ud)
{
    static const char *const fields[] = {"doublename", "publicKey", NULL};
    json_t *body = sim_http_body(r, BODY_MAX, fields);
    unsigned char pk[KEY_LEN];
    gs_diag_t diag = {{0}};
    const char *name;
    int status;
    if (body == NULL)
        return;
    status = read_user(body, &name, pk, &diag) == GS_OK
                 ? register_user(login_of(ud), name, pk, &diag)
                 : 400;
    if (status < 300)
        gs_http_reply_json(r, status, user_json(name, pk));
    else
        sim_http_reply_diag(r, status, &diag);
    json_decref(body);
}

const gs_http_route_t sim_login_routes[] = {
    {"GET", "/api/users/{}", get_user, 0},
    {"POST", "/api/users", post_user, BODY_MAX},
    {NULL},
};
