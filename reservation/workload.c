/* workload.c — explorer v2 shapes: 0-db and container workloads (the flat POST
 * body), pool reservations, and the signature challenges the explorer verifies
 * (reference: tfgrid-v2 §1.3, §1.4, §1.6). The challenge is built from the JSON
 * itself, so what is signed is exactly what is sent. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

enum { WL_ZDB = 0, WL_CONTAINER = 1 };
enum { NEXT_CREATE = 0 };

/* The ReservationInfo part every workload shares. */
static json_t *workload_info(const char *node_id, int type, const char *description,
                             const gs_workload_ctx_t *ctx)
{
    json_t *delete_signers = json_array();
    json_t *w;
    if (ctx->customer_tid)
        json_array_append_new(delete_signers, json_integer(ctx->customer_tid));
    w = json_pack("{s:i, s:s, s:I, s:s, s:s, s:{s:[], s:i}, s:{s:o, s:i}, s:i, s:s, s:I, s:s, "
                  "s:i, s:[], s:{}, s:[], s:I, s:s, s:{}, s:i, s:i}",
                  "workload_id", 1, "node_id", node_id, "pool_id", (json_int_t)ctx->pool_id,
                  "reference", "", "description", description, "signing_request_provision",
                  "signers", "quorum_min", 0, "signing_request_delete", "signers", delete_signers,
                  "quorum_min", ctx->customer_tid ? 1 : 0, "id", 0, "json", "", "customer_tid",
                  (json_int_t)ctx->customer_tid, "customer_signature", "", "next_action",
                  NEXT_CREATE, "signatures_provision", "signature_farmer", "signatures_delete",
                  "epoch", (json_int_t)ctx->epoch, "metadata", "", "result", "workload_type", type,
                  "version", 2);
    return w;
}

json_t *gs_workload_zdb(const gs_plan_t *plan, size_t zdb, const gs_workload_ctx_t *ctx)
{
    const gs_plan_zdb_t *z = &plan->zdbs[zdb];
    char desc[128];
    json_t *w;
    snprintf(desc, sizeof desc, "gridstor:%s:%s:%zu", plan->name,
             z->role == GS_ZDB_META ? "meta" : "data", zdb);
    w = workload_info(z->node_id, WL_ZDB, desc, ctx);
    if (w == NULL)
        return NULL;
    json_object_set_new(w, "size", json_integer(z->size_gib));
    json_object_set_new(w, "mode", json_integer(z->mode));
    json_object_set_new(w, "password", json_string(ctx->password ? ctx->password : ""));
    json_object_set_new(w, "disk_type", json_integer(z->disk));
    json_object_set_new(w, "public", json_false());
    json_object_set_new(w, "stats_aggregator", json_array());
    return w;
}

json_t *gs_workload_container(const gs_plan_t *plan, const gs_topology_t *topo, size_t machine,
                              const gs_workload_ctx_t *ctx)
{
    const gs_plan_machine_t *m = &plan->machines[machine];
    char desc[128];
    json_t *w;
    snprintf(desc, sizeof desc, "gridstor:%s:%s", plan->name, m->role);
    w = workload_info(m->node_id, WL_CONTAINER, desc, ctx);
    if (w == NULL)
        return NULL;
    json_object_set_new(w, "flist", json_string(topo->flist));
    json_object_set_new(w, "hub_url", json_string(""));
    json_object_set_new(w, "environment",
                        json_pack("{s:s, s:s, s:s, s:s}", "GRIDSTOR_DEPLOYMENT", plan->name,
                                  "GRIDSTOR_ROLE", m->role, "GRIDSTOR_GATEWAY",
                                  m->gateway == GS_GW_READ_WRITE ? "read-write" : "read-only",
                                  "GRIDSTOR_METADATA",
                                  m->metadata == GS_META_MASTER ? "master" : "replica"));
    json_object_set_new(w, "secret_environment", json_object());
    json_object_set_new(w, "entrypoint", json_string(topo->entrypoint));
    json_object_set_new(w, "interactive", json_false());
    json_object_set_new(w, "volumes", json_array());
    json_object_set_new(w, "network_connection", json_array());
    json_object_set_new(w, "capacity",
                        json_pack("{s:I, s:i, s:i, s:i}", "cpu", (json_int_t)m->cpu, "memory",
                                  (int)m->memory_mib, "disk_size", (int)m->disk_mib, "disk_type",
                                  GS_DISK_SSD));
    json_object_set_new(w, "logs", json_array());
    json_object_set_new(w, "stats", json_array());
    return w;
}

json_t *gs_pool_reservation(const gs_plan_pool_t *pool, int64_t pool_id, int64_t customer_tid)
{
    json_t *nodes = json_array(), *data, *body;
    char *text;
    for (size_t i = 0; i < pool->node_ids.n; i++)
        json_array_append_new(nodes, json_string(pool->node_ids.items[i]));
    data = json_pack("{s:I, s:I, s:I, s:i, s:o, s:[s]}", "pool_id", (json_int_t)pool_id, "cus",
                     (json_int_t)pool->cus, "sus", (json_int_t)pool->sus, "ipv4us", 0, "node_ids",
                     nodes, "currencies", "TFT");
    text = data ? gs_json_dumps(data) : NULL;
    body = text ? json_pack("{s:s, s:O, s:I, s:s, s:i, s:s}", "json", text, "data_reservation",
                            data, "customer_tid", (json_int_t)customer_tid, "customer_signature",
                            "", "sponsor_tid", 0, "sponsor_signature", "")
                : NULL;
    free(text);
    json_decref(data);
    return body;
}

/* ---- challenges --------------------------------------------------------------------------- */

typedef struct {
    gs_buf_t *out;
    const char *missing;
} chal_t;

static void put_str(chal_t *c, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        c->missing = c->missing ? c->missing : key;
        return;
    }
    gs_buf_append(c->out, json_string_value(v), json_string_length(v));
}

static void put_int(chal_t *c, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        c->missing = c->missing ? c->missing : key;
        return;
    }
    gs_buf_printf(c->out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
}

static void put_bool(chal_t *c, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) {
        c->missing = c->missing ? c->missing : key;
        return;
    }
    gs_buf_puts(c->out, json_is_true(v) ? "true" : "false");
}

/* An enum written by its lowercase name: names[value]. */
static void put_enum(chal_t *c, const json_t *obj, const char *key, const char *const *names,
                     size_t n)
{
    const json_t *v = json_object_get(obj, key);
    json_int_t i = json_is_integer(v) ? json_integer_value(v) : -1;
    if (i < 0 || (size_t)i >= n) {
        c->missing = c->missing ? c->missing : key;
        return;
    }
    gs_buf_puts(c->out, names[i]);
}

static const char *const disk_names[] = {"hdd", "ssd"};
static const char *const mode_names[] = {"seq", "user"};
static const char *const type_names[] = {"ZDB", "CONTAINER"};

static void info_challenge(chal_t *c, const json_t *w)
{
    put_int(c, w, "workload_id");
    put_str(c, w, "node_id");
    put_int(c, w, "pool_id");
    put_str(c, w, "reference");
    put_int(c, w, "customer_tid");
    put_enum(c, w, "workload_type", type_names, GS_ARRAY_SIZE(type_names));
    put_int(c, w, "epoch");
    put_str(c, w, "description");
    put_str(c, w, "metadata");
}

static void zdb_challenge(chal_t *c, const json_t *w)
{
    put_int(c, w, "size");
    put_enum(c, w, "mode", mode_names, GS_ARRAY_SIZE(mode_names));
    put_str(c, w, "password");
    put_enum(c, w, "disk_type", disk_names, GS_ARRAY_SIZE(disk_names));
    put_bool(c, w, "public");
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "k=v" for every member, in sorted key order. */
static void env_challenge(chal_t *c, const json_t *env)
{
    const char *keys[256];
    const char *key;
    json_t *v;
    size_t n = 0;
    if (!json_is_object(env) || json_object_size(env) > GS_ARRAY_SIZE(keys)) {
        c->missing = c->missing ? c->missing : "environment";
        return;
    }
    json_object_foreach((json_t *)env, key, v) keys[n++] = key;
    qsort(keys, n, sizeof *keys, by_key);
    for (size_t i = 0; i < n; i++) {
        const char *val = json_string_value(json_object_get(env, keys[i]));
        if (val == NULL) {
            c->missing = c->missing ? c->missing : "environment";
            return;
        }
        gs_buf_printf(c->out, "%s=%s", keys[i], val);
    }
}

static void container_challenge(chal_t *c, const json_t *w)
{
    const json_t *cap = json_object_get(w, "capacity");
    size_t i;
    json_t *it;
    put_str(c, w, "flist");
    put_str(c, w, "hub_url");
    put_str(c, w, "entrypoint");
    put_bool(c, w, "interactive");
    env_challenge(c, json_object_get(w, "environment"));
    env_challenge(c, json_object_get(w, "secret_environment"));
    json_array_foreach(json_object_get(w, "volumes"), i, it)
    {
        put_str(c, it, "volume_id");
        put_str(c, it, "mountpoint");
    }
    json_array_foreach(json_object_get(w, "network_connection"), i, it)
    {
        put_str(c, it, "network_id");
        put_str(c, it, "ipaddress");
        put_bool(c, it, "public_ip6");
    }
    if (!json_is_object(cap)) {
        c->missing = c->missing ? c->missing : "capacity";
        return;
    }
    put_int(c, cap, "cpu");
    put_int(c, cap, "memory");
    put_int(c, cap, "disk_size");
    put_enum(c, cap, "disk_type", disk_names, GS_ARRAY_SIZE(disk_names));
}

int gs_workload_challenge(const json_t *workload, gs_buf_t *out, gs_diag_t *diag)
{
    chal_t c = {out, NULL};
    int64_t type = -1;
    if (!gs_json_int(workload, "workload_type", &type) || (type != WL_ZDB && type != WL_CONTAINER))
        return gs_diag_set(diag, GS_EINVAL, "workload: unsupported workload_type %" PRId64, type);
    info_challenge(&c, workload);
    if (type == WL_ZDB)
        zdb_challenge(&c, workload);
    else
        container_challenge(&c, workload);
    if (c.missing)
        return gs_diag_set(diag, GS_EINVAL, "workload: '%s' is missing or of the wrong type",
                           c.missing);
    return out->data ? GS_OK : gs_diag_set(diag, GS_ENOMEM, "out of memory");
}

int gs_workload_challenge_hash(const json_t *workload, const char *suffix, int64_t tid,
                               unsigned char hash[32], gs_diag_t *diag)
{
    gs_buf_t b;
    int err;
    gs_buf_init(&b, 1 << 20);
    err = gs_workload_challenge(workload, &b, diag);
    if (err == GS_OK && suffix)
        err = gs_buf_printf(&b, "%s%" PRId64, suffix, tid);
    if (err == GS_OK)
        crypto_hash_sha256(hash, (const unsigned char *)b.data, b.len);
    gs_buf_free(&b);
    return err;
}
