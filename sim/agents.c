/* agents.c — the node agents of the local grid: see agents.h.
 *
 * Choices:
 *  - Every node's 0-db server starts with the sim (a default world of 36 nodes opens
 *    36 listeners and stores, which is cheap), in mixed mode on 127.0.0.1 port 0, with
 *    its data in <state>/<node_id>/data and <state>/<node_id>/index, and an admin
 *    password of 32 random hex characters that only the agents know.
 *  - The agent works on the store directly, as NSNEW/NSSET would: namespace
 *    "<id>-<workload_id>" (workload_id as stored), maxsize size GiB, mode seq (0) or
 *    user (1), the password, public. The result's data_json is
 *    {"Namespace","IPs":["127.0.0.1"],"Port"} and its signature the node's ed25519
 *    signature (hex) over the data_json text as stored.
 *  - The password is hex(nonce 24 bytes + SecretBox) under BLAKE2b-256 of the X25519
 *    shared secret of the customer's phonebook key and the node's key (both ed25519,
 *    converted). An empty password means none. A password that does not open, a node
 *    that is down, or a namespace the store refuses: result state 0 with the message,
 *    no capacity reserved.
 *  - Capacity: size GiB of hru (hdd) or sru (ssd) is added to the node's reserved
 *    resources while the namespace exists.
 *  - Container workloads (type 1) are run by containers.c; other types are left
 *    alone (the explorer refuses them).
 *  - With a state store (store.h), each node has a record "node" (keyed by node_id:
 *    {"down_since", "zdb_port"}), written when it goes down or up and when its 0-db
 *    starts. A restarted sim reads them back: nodes that were down stay down, and
 *    each 0-db listens on its former port again when that port is free (else on a
 *    new one, and the results of its 0-db workloads are reported anew with it).
 *    Every result change is saved with its workload (sim_workloads_save_doc). The
 *    nodes' reserved capacity is not saved: sim_agents_restore rebuilds it from the
 *    deployed workloads. */
#include "agents.h"
#include "containers.h"
#include "registry.h"
#include "store.h"
#include "workloads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PASSWORD_MAX SIM_SECRET_MAX
#define GIB          ((uint64_t)1 << 30)

struct sim_agents {
    sim_ctx_t *ctx;
    gs_zdb_server_t **zdbs; /* one per world node, NULL when it never started */
    int *ports;             /* the port each node's 0-db had before a restart, or 0 */
    struct sim_containers *containers;
    size_t n;
    char admin[33];
    size_t closing;
    gs_zdb_closed_cb cb;
    void *ud;
};

gs_zdb_server_t *sim_agents_zdb(const struct sim_agents *a, size_t i)
{
    return a && i < a->n ? a->zdbs[i] : NULL;
}

static int start_node(struct sim_agents *a, size_t i, const char *state_dir, gs_diag_t *diag)
{
    const sim_node_t *n = &a->ctx->world.nodes[i];
    char data[4096], index[4096];
    gs_zdb_config_t cfg;
    int err;
    gs_zdb_config_init(&cfg);
    snprintf(data, sizeof data, "%s/%s/data", state_dir, n->node_id);
    snprintf(index, sizeof index, "%s/%s/index", state_dir, n->node_id);
    cfg.listen = "127.0.0.1";
    cfg.port = 0;
    cfg.data_dir = data;
    cfg.index_dir = index;
    cfg.mode = GS_ZDB_MIXED;
    cfg.admin = a->admin;
    cfg.port = a->ports[i];
    err = gs_zdb_server_start(a->ctx->loop, &cfg, &a->zdbs[i], diag);
    if (err != GS_OK && cfg.port != 0) {
        gs_log(GS_LOG_INFO, "agents: node %s: port %d is taken, its 0-db moves", n->node_id,
               cfg.port);
        cfg.port = 0;
        err = gs_zdb_server_start(a->ctx->loop, &cfg, &a->zdbs[i], diag);
    }
    if (err != GS_OK)
        return err;
    if (n->down_since != 0)
        gs_zdb_server_down(a->zdbs[i]);
    return GS_OK;
}

/* ---- persistence (store.h) ---- */

static void save_node(sim_ctx_t *ctx, const sim_node_t *n)
{
    gs_zdb_server_t *z = sim_agents_zdb(ctx->agents, (size_t)(n - ctx->world.nodes));
    json_t *doc;
    if (ctx->store == NULL)
        return;
    doc = json_pack("{s:I, s:i}", "down_since", (json_int_t)n->down_since, "zdb_port",
                    z ? gs_zdb_server_port(z) : 0);
    sim_store_put(ctx->store, "node", n->node_id, doc);
    json_decref(doc);
}

static int load_node(const char *key, const json_t *doc, void *arg, gs_diag_t *diag)
{
    struct sim_agents *a = arg;
    sim_node_t *n = sim_world_node(&a->ctx->world, key);
    int64_t down_since = -1, port = -1;
    if (n == NULL) {
        gs_log(GS_LOG_WARN, "state database: node %.64s is not in this world; ignored", key);
        return GS_OK;
    }
    if (!gs_json_int(doc, "down_since", &down_since) || !gs_json_int(doc, "zdb_port", &port) ||
        down_since < 0 || port < 0 || port > 65535)
        return gs_diag_set(diag, GS_EPARSE, "state database: bad node record %.64s", key);
    n->down_since = down_since;
    a->ports[n - a->ctx->world.nodes] = (int)port;
    return GS_OK;
}

int sim_agents_start(sim_ctx_t *ctx, const char *state_dir, gs_diag_t *diag)
{
    struct sim_agents *a = calloc(1, sizeof *a);
    unsigned char secret[16];
    int err = GS_OK;
    ctx->agents = a;
    if (a == NULL || (a->zdbs = calloc(ctx->world.n_nodes + 1, sizeof *a->zdbs)) == NULL ||
        (a->ports = calloc(ctx->world.n_nodes + 1, sizeof *a->ports)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    a->ctx = ctx;
    a->n = ctx->world.n_nodes;
    randombytes_buf(secret, sizeof secret);
    gs_hex(secret, sizeof secret, a->admin);
    err = sim_store_each(ctx->store, "node", load_node, a, diag);
    for (size_t i = 0; i < a->n && err == GS_OK; i++)
        err = start_node(a, i, state_dir, diag);
    if (err == GS_OK)
        err = sim_containers_new(ctx, state_dir, &a->containers, diag);
    sim_store_begin(ctx->store);
    for (size_t i = 0; i < a->n && err == GS_OK; i++)
        save_node(ctx, &ctx->world.nodes[i]);
    sim_store_commit(ctx->store);
    return err;
}

void sim_agents_kill_containers(const struct sim_agents *a)
{
    if (a != NULL && a->containers != NULL)
        sim_containers_kill_all(a->containers);
}

static void on_zdb_closed(void *ud)
{
    struct sim_agents *a = ud;
    gs_zdb_closed_cb cb = a->cb;
    void *cb_ud = a->ud;
    if (--a->closing > 0)
        return;
    free(a->ports);
    free(a->zdbs);
    free(a);
    cb(cb_ud);
}

static void on_containers_closed(void *ud)
{
    struct sim_agents *a = ud;
    a->containers = NULL;
    on_zdb_closed(a);
}

void sim_agents_close(sim_ctx_t *ctx, gs_zdb_closed_cb cb, void *ud)
{
    struct sim_agents *a = ctx->agents;
    ctx->agents = NULL;
    if (a == NULL) {
        cb(ud);
        return;
    }
    a->cb = cb;
    a->ud = ud;
    a->closing = 1; /* held until every server was asked to close */
    if (a->containers != NULL) {
        a->closing++;
        sim_containers_close(a->containers, on_containers_closed, a);
    }
    for (size_t i = 0; a->zdbs && i < a->n; i++) {
        if (a->zdbs[i] == NULL)
            continue;
        a->closing++;
        gs_zdb_server_close(a->zdbs[i], on_zdb_closed, a);
    }
    on_zdb_closed(a);
}

/* ---- node faults ---- */

int sim_node_set_down(sim_ctx_t *ctx, sim_node_t *node, bool down, gs_diag_t *diag)
{
    size_t i = (size_t)(node - ctx->world.nodes);
    gs_zdb_server_t *z = sim_agents_zdb(ctx->agents, i);
    struct sim_containers *cs = ctx->agents ? ctx->agents->containers : NULL;
    bool was_down = node->down_since != 0;
    int err = GS_OK;
    node->silent = false;
    sim_store_begin(ctx->store);
    if (down) {
        if (!was_down)
            node->down_since = sim_now(&ctx->world);
        if (z && gs_zdb_server_is_up(z))
            gs_zdb_server_down(z);
        if (cs)
            sim_containers_node_down(cs, i);
    } else {
        node->down_since = 0;
        if (z && !gs_zdb_server_is_up(z))
            err = gs_zdb_server_up(z, diag);
        if (cs && was_down)
            sim_containers_node_up(cs, i);
    }
    save_node(ctx, node);
    sim_store_commit(ctx->store);
    return err;
}

/* ---- provisioning ---- */

int sim_agents_open_secret(const char *what, const char *hex, const sim_node_t *n,
                           const unsigned char pk[32], char out[SIM_SECRET_MAX + 1],
                           gs_diag_t *diag)
{
    unsigned char box[PASSWORD_MAX + crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES];
    unsigned char user_x[32], node_x[32], shared[32], key[32];
    size_t len = 0;
    int err = GS_OK;
    if (sodium_hex2bin(box, sizeof box, hex, strlen(hex), NULL, &len, NULL) != 0 ||
        len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        return gs_diag_set(diag, GS_EINVAL, "%s: not a hex SecretBox", what);
    if (crypto_sign_ed25519_pk_to_curve25519(user_x, pk) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(node_x, n->sk) != 0 ||
        crypto_scalarmult(shared, node_x, user_x) != 0)
        err = gs_diag_set(diag, GS_EINVAL, "%s: the customer's key is not usable", what);
    else
        crypto_generichash(key, sizeof key, shared, sizeof shared, NULL, 0);
    if (err == GS_OK &&
        crypto_secretbox_open_easy((unsigned char *)out, box + crypto_secretbox_NONCEBYTES,
                                   len - crypto_secretbox_NONCEBYTES, box, key) != 0)
        err = gs_diag_set(diag, GS_EINVAL,
                          "%s: cannot be decrypted with this node's key and the customer's key",
                          what);
    if (err == GS_OK)
        out[len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES] = '\0';
    sodium_memzero(node_x, sizeof node_x);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(key, sizeof key);
    return err;
}

/* What the agent needs of a stored 0-db workload. */
typedef struct {
    sim_node_t *node;
    gs_zdb_server_t *zdb;
    char ns[64];
    int64_t size, mode, disk_type, tid;
    bool is_public;
} zdb_workload_t;

static int read_doc(sim_ctx_t *ctx, const json_t *doc, zdb_workload_t *z, gs_diag_t *diag)
{
    const char *node_id = gs_json_str(doc, "node_id");
    int64_t id = 0, wid = 0;
    memset(z, 0, sizeof *z);
    z->node = node_id ? sim_world_node(&ctx->world, node_id) : NULL;
    if (z->node == NULL)
        return gs_diag_set(diag, GS_ENOENT, "no such node");
    z->zdb = sim_agents_zdb(ctx->agents, (size_t)(z->node - ctx->world.nodes));
    gs_json_int(doc, "id", &id);
    gs_json_int(doc, "workload_id", &wid);
    gs_json_int(doc, "size", &z->size);
    gs_json_int(doc, "mode", &z->mode);
    gs_json_int(doc, "disk_type", &z->disk_type);
    gs_json_int(doc, "customer_tid", &z->tid);
    z->is_public = json_is_true(json_object_get(doc, "public"));
    snprintf(z->ns, sizeof z->ns, "%lld-%lld", (long long)id, (long long)wid);
    return GS_OK;
}

static gs_zdb_status_t configure(gs_zdb_ns_t *ns, const zdb_workload_t *z, const char *password)
{
    gs_zdb_status_t st = gs_zdb_ns_set_mode(ns, z->mode == 1 ? GS_ZDB_USER : GS_ZDB_SEQ);
    if (st == GS_ZDB_OK)
        st = gs_zdb_ns_set_password(ns, password, strlen(password));
    ns->maxsize = (uint64_t)z->size * GIB;
    ns->is_public = z->is_public;
    return st == GS_ZDB_OK ? gs_zdb_ns_save(ns) : st;
}

static int create_namespace(const zdb_workload_t *z, const char *password, gs_diag_t *diag)
{
    gs_zdb_store_t *store = gs_zdb_server_store(z->zdb);
    gs_zdb_ns_t *ns = NULL;
    gs_zdb_status_t st = gs_zdb_ns_create(store, z->ns, strlen(z->ns), &ns);
    if (st == GS_ZDB_OK && (st = configure(ns, z, password)) != GS_ZDB_OK)
        gs_zdb_ns_remove(store, ns);
    if (st != GS_ZDB_OK)
        return gs_diag_set(diag, GS_EIO, "namespace %s: the 0-db refused it (status %d)", z->ns,
                           (int)st);
    return GS_OK;
}

static double *capacity_of(sim_node_t *n, const zdb_workload_t *z)
{
    return z->disk_type == 1 ? &n->reserved.sru : &n->reserved.hru;
}

static int provision(sim_ctx_t *ctx, const json_t *doc, zdb_workload_t *z, gs_diag_t *diag)
{
    unsigned char pk[32];
    char password[PASSWORD_MAX + 1] = "";
    const char *box = gs_json_str(doc, "password");
    int err = read_doc(ctx, doc, z, diag);
    if (err != GS_OK)
        return err;
    if (z->node->down_since != 0 || z->zdb == NULL || !gs_zdb_server_is_up(z->zdb))
        return gs_diag_set(diag, GS_EIO, "node %s is down", z->node->node_id);
    if (box && *box) {
        if (!sim_registry_user_key(ctx->registry, z->tid, pk))
            return gs_diag_set(diag, GS_ENOENT, "customer %lld is not in the phonebook",
                               (long long)z->tid);
        if ((err = sim_agents_open_secret("password", box, z->node, pk, password, diag)) != GS_OK)
            return err;
    }
    err = create_namespace(z, password, diag);
    sodium_memzero(password, sizeof password);
    if (err == GS_OK)
        *capacity_of(z->node, z) += (double)z->size;
    return err;
}

void sim_agents_set_result(sim_ctx_t *ctx, json_t *doc, const sim_node_t *n, int state,
                           const char *message, json_t *data)
{
    char wid[96], sig[2 * crypto_sign_BYTES + 1] = "";
    json_t *result;
    int64_t id = 0, w = 0;
    gs_json_int(doc, "id", &id);
    gs_json_int(doc, "workload_id", &w);
    snprintf(wid, sizeof wid, "%lld-%lld", (long long)id, (long long)w);
    if (data != NULL && n != NULL) {
        char *text = gs_json_dumps(data);
        unsigned char raw[crypto_sign_BYTES];
        crypto_sign_detached(raw, NULL, (const unsigned char *)text, strlen(text), n->sk);
        gs_hex(raw, sizeof raw, sig);
        free(text);
    }
    result = json_pack("{s:i, s:s, s:o, s:s, s:i, s:s, s:I, s:s}", "category", 0, "workload_id",
                       wid, "data_json", data ? data : json_object(), "signature", sig, "state",
                       state, "message", message, "epoch", (json_int_t)sim_now(&ctx->world),
                       "node_id", n ? n->node_id : "");
    json_object_set_new(doc, "result", result);
    sim_workloads_save_doc(ctx, doc);
}

static int64_t type_of(const json_t *doc)
{
    int64_t type = -1;
    gs_json_int(doc, "workload_type", &type);
    return type;
}

/* True when the workload's node is silent: it takes the workload and never answers. */
static bool node_is_silent(sim_ctx_t *ctx, const json_t *doc)
{
    const char *node_id = gs_json_str(doc, "node_id");
    const sim_node_t *n = node_id ? sim_world_node(&ctx->world, node_id) : NULL;
    if (n == NULL || !n->silent)
        return false;
    gs_log(GS_LOG_INFO, "agents: node %s is silent: workload left without a result", node_id);
    return true;
}

void sim_agents_provision(sim_ctx_t *ctx, json_t *doc)
{
    gs_diag_t diag = {{0}};
    zdb_workload_t z;
    if (ctx->agents == NULL || node_is_silent(ctx, doc))
        return;
    if (type_of(doc) == 1)
        sim_containers_provision(ctx->agents->containers, doc);
    if (type_of(doc) != 0)
        return;
    if (provision(ctx, doc, &z, &diag) != GS_OK) {
        gs_log(GS_LOG_INFO, "agents: workload %s not provisioned: %s", z.ns, diag.msg);
        sim_agents_set_result(ctx, doc, z.node, 0, diag.msg, NULL);
        return;
    }
    sim_agents_set_result(ctx, doc, z.node, 1, "",
                          json_pack("{s:s, s:[s], s:i}", "Namespace", z.ns, "IPs", "127.0.0.1",
                                    "Port", gs_zdb_server_port(z.zdb)));
}

void sim_agents_deprovision(sim_ctx_t *ctx, json_t *doc)
{
    gs_diag_t diag = {{0}};
    json_t *result = json_object_get(doc, "result");
    zdb_workload_t z;
    gs_zdb_ns_t *ns;
    int64_t state = 0;
    if (ctx->agents != NULL && type_of(doc) == 1)
        sim_containers_deprovision(ctx->agents->containers, doc);
    if (ctx->agents == NULL || type_of(doc) != 0 || !gs_json_int(result, "state", &state) ||
        state != 1 || read_doc(ctx, doc, &z, &diag) != GS_OK)
        return;
    if (z.zdb && (ns = gs_zdb_ns_find(gs_zdb_server_store(z.zdb), z.ns, strlen(z.ns))) != NULL)
        gs_zdb_ns_remove(gs_zdb_server_store(z.zdb), ns);
    *capacity_of(z.node, &z) -= (double)z.size;
    sim_agents_set_result(ctx, doc, z.node, 2, "",
                          json_incref(json_object_get(result, "data_json")));
}

/* A provisioned 0-db workload read back at start: its namespace is still in the node's
 * 0-db data; its capacity is reserved again, and its result reported anew when the
 * 0-db listens on another port than the result says. */
static void restore_zdb(sim_ctx_t *ctx, json_t *doc)
{
    json_t *result = json_object_get(doc, "result");
    gs_diag_t diag = {{0}};
    int64_t state = 0, port = 0;
    zdb_workload_t z;
    if (!gs_json_int(result, "state", &state) || state != 1 ||
        read_doc(ctx, doc, &z, &diag) != GS_OK || z.zdb == NULL)
        return;
    *capacity_of(z.node, &z) += (double)z.size;
    gs_json_int(json_object_get(result, "data_json"), "Port", &port);
    if (port != gs_zdb_server_port(z.zdb))
        sim_agents_set_result(ctx, doc, z.node, 1, "",
                              json_pack("{s:s, s:[s], s:i}", "Namespace", z.ns, "IPs", "127.0.0.1",
                                        "Port", gs_zdb_server_port(z.zdb)));
}

void sim_agents_restore(sim_ctx_t *ctx, json_t *doc)
{
    if (ctx->agents == NULL)
        return;
    if (type_of(doc) == 1)
        sim_containers_restore(ctx->agents->containers, doc);
    else if (type_of(doc) == 0)
        restore_zdb(ctx, doc);
}
