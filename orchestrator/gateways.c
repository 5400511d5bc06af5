/* gateways.c — the gateway machines of a deployment (M1, M2, M3): the configuration a
 * gridstor-gw container gets through its environment, and the check that each gateway
 * answers before the deployment is called deployed.
 *
 * The environment (docs/gateway-api.md, "Configuration on the grid"): plain variables
 * name the codec and the 0-db endpoints ("namespace@address"); secret variables, sealed
 * for the machine's node, carry the 0-dbs' passwords and the deployment key. The key is
 * derived from the install's seed and the deployment, so the seed alone gives it back. */
#include "deployer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gs_daemon_t *d;
    const char *pk; /* the machine's node key, hex */
    json_t *env, *secrets;
    bool ok;
} gw_env_t;

static void put_plain(gw_env_t *g, const char *name, const char *value)
{
    json_object_set_new(g->env, name, json_string(value));
}

static void put_secret(gw_env_t *g, const char *name, const char *value)
{
    char sealed[2 * (GS_SEAL_MAX + 64)];
    if (!gs_seal_for_node(&g->d->identity, g->pk, value, sealed, sizeof sealed)) {
        g->ok = false;
        return;
    }
    json_object_set_new(g->secrets, name, json_string(sealed));
}

/* "namespace@ip:port" of a provisioned 0-db, from its node's result. */
static bool zdb_endpoint(const json_t *w, char *out, size_t len)
{
    const json_t *data = json_object_get(json_object_get(w, "result_json"), "data_json");
    const char *ns = gs_json_str(data, "Namespace");
    const char *ip = json_string_value(json_array_get(json_object_get(data, "IPs"), 0));
    int64_t port = 0;
    if (ns == NULL || ip == NULL || !gs_json_int(data, "Port", &port) || port < 1 || port > 65535)
        return false;
    snprintf(out, len, strchr(ip, ':') ? "%s@[%s]:%" PRId64 : "%s@%s:%" PRId64, ns, ip, port);
    return true;
}

/* One 0-db under the variable prefix (GRIDSTOR_META, GRIDSTOR_BACKEND_07, ...). */
static void put_zdb(gw_env_t *g, const char *prefix, const json_t *w)
{
    char endpoint[512], name[64];
    const char *password = gs_json_str(w, "password");
    if (!zdb_endpoint(w, endpoint, sizeof endpoint) || password == NULL) {
        g->ok = false;
        return;
    }
    put_plain(g, prefix, endpoint);
    snprintf(name, sizeof name, "%s_PASSWORD", prefix);
    put_secret(g, name, password);
}

/* A secret of the deployment, derived from the install's seed, the deployment's name and
 * the prefix of its workloads' references (its first session), so it can be derived
 * again: `what` is "key" (the deployment key) or "gateway" (the gateways' secret). */
void gs_dep_secret(gs_daemon_t *d, const char *name, const char *reference, const char *what,
                   char hex[65])
{
    const char *cut = strstr(reference, "-container-");
    char context[512];
    unsigned char key[32];
    if (cut == NULL)
        cut = strstr(reference, "-zdb-");
    snprintf(context, sizeof context, "deployment/%s/%.*s%s%s", name,
             (int)(cut ? cut - reference : (ptrdiff_t)strlen(reference)), reference,
             strcmp(what, "key") == 0 ? "" : "/", strcmp(what, "key") == 0 ? "" : what);
    gs_identity_derive_key(&d->identity, context, key);
    sodium_bin2hex(hex, 65, key, sizeof key);
    sodium_memzero(key, sizeof key);
}

static void put_key(gw_env_t *g, const char *name, const json_t *w)
{
    char hex[65];
    gs_dep_secret(g->d, name, gs_json_str(w, "reference"), "key", hex);
    put_secret(g, "GRIDSTOR_KEY", hex);
    gs_dep_secret(g->d, name, gs_json_str(w, "reference"), "gateway", hex);
    put_secret(g, "GRIDSTOR_GW_SECRET", hex);
    sodium_memzero(hex, sizeof hex);
}

/* Every 0-db of the plan under its variable: the machine's own metadata 0-db, the
 * metadata master (M1's), and the data backends in order. */
static void put_zdbs(gw_env_t *g, const json_t *plan, const char *role, const json_t *wls)
{
    const json_t *zdbs = json_object_get(plan, "zdbs"), *w;
    size_t i, data = 0;
    char prefix[64];
    json_array_foreach(wls, i, w)
    {
        int64_t idx = -1;
        const json_t *z;
        if (strcmp(gs_json_str(w, "kind"), "zdb") != 0 || !gs_json_int(w, "idx", &idx) ||
            (z = json_array_get(zdbs, (size_t)idx)) == NULL)
            continue;
        if (strcmp(gs_json_str(z, "role"), "data") == 0) {
            snprintf(prefix, sizeof prefix, "GRIDSTOR_BACKEND_%02zu", data++);
            put_zdb(g, prefix, w);
            continue;
        }
        if (strcmp(gs_json_str(z, "machine"), "m1") == 0)
            put_zdb(g, "GRIDSTOR_META_MASTER", w);
        if (strcmp(gs_json_str(z, "machine"), role) == 0)
            put_zdb(g, "GRIDSTOR_META", w);
    }
}

int gs_dep_fill_gateway(gs_daemon_t *d, const json_t *dep, const json_t *w, const json_t *wls,
                        const char *node_pk, json_t *t)
{
    const json_t *plan = json_object_get(dep, "plan_json");
    const json_t *codec = json_object_get(plan, "codec");
    int64_t idx = 0, data = 0, parity = 0;
    const json_t *machine;
    char text[64];
    gw_env_t g = {.d = d, .pk = node_pk, .ok = true};
    gs_json_int(w, "idx", &idx);
    machine = json_array_get(json_object_get(plan, "machines"), (size_t)idx);
    g.env = json_object_get(t, "environment");
    g.secrets = json_object_get(t, "secret_environment");
    if (machine == NULL || !json_is_object(g.env) || !json_is_object(g.secrets) ||
        !gs_json_int(codec, "data", &data) || !gs_json_int(codec, "parity", &parity))
        return GS_EINVAL;
    snprintf(text, sizeof text, "%" PRId64 "+%" PRId64, data, parity);
    put_plain(&g, "GRIDSTOR_CODEC", text);
    put_zdbs(&g, plan, gs_json_str(machine, "role"), wls);
    put_key(&g, gs_json_str(dep, "name"), w);
    return g.ok ? GS_OK : GS_EINVAL;
}

/* ---- the gateways answering ------------------------------------------------------------- */

/* http://ADDRESS:7481 of a gateway machine from its node's result. */
static bool gateway_url(const json_t *w, char *out, size_t len)
{
    const json_t *data = json_object_get(json_object_get(w, "result_json"), "data_json");
    const char *ip = gs_json_str(data, "ipv4");
    if (ip == NULL || ip[0] == '\0')
        return false;
    snprintf(out, len, "http://%s:%d", ip, GS_GATEWAY_PORT);
    return true;
}

static void on_health(gs_dep_op_t *op, long status, json_t *ans, const char *error)
{
    char url[128];
    (void)ans;
    if (error != NULL || status != 200 || !gateway_url(op->pool, url, sizeof url))
        return; /* not up yet: asked again on the next tick */
    gs_dep_crash_point("before_serving_recorded");
    if (gs_store_workload_step(op->d->store, op->name, "container", op->idx, "ok", "serving", NULL,
                               NULL) == GS_OK)
        gs_dep_event(op->d, op->name, "info", "gateway machine %" PRId64 " answers at %s", op->idx,
                     url);
}

bool gs_dep_check_gateways(gs_daemon_t *d, const json_t *dep)
{
    const char *name = gs_json_str(dep, "name");
    json_t *wls = gs_store_workloads(d->store, name), *w;
    size_t i, gateways = 0, serving = 0;
    bool started = false;
    char url[128];
    json_array_foreach(wls, i, w)
    {
        if (strcmp(gs_json_str(w, "kind"), "container") != 0)
            continue;
        gateways++;
        if (strcmp(gs_json_str(w, "state"), "serving") == 0) {
            serving++;
            continue;
        }
        if (!started && gateway_url(w, url, sizeof url)) {
            gs_dep_probe(d, name, w, on_health, url, "/health");
            started = true;
        }
    }
    json_array_foreach(wls, i, w)
    { /* every gateway answers: the containers replaced by a scale go */
        if (started || serving != gateways ||
            !json_is_integer(json_object_get(w, "old_workload_id")))
            continue;
        gs_dep_retire_old(d, name, w);
        started = true;
    }
    if (!started && serving == gateways &&
        gs_store_deployment_transition(d->store, name, "workloads_posted", "deployed", NULL,
                                       NULL) == GS_OK) {
        gs_dep_event(d, name, "info", "deployed: %zu gateway%s answering", gateways,
                     gateways == 1 ? "" : "s");
        started = true;
    }
    json_decref(wls);
    return started;
}
