/* api.c — gridstord's deployments API (admin token): list, one deployment, and a new
 * deployment from a spec: planned on the current grid view, split into signandpay
 * documents paying this install's wallet, stored with its sessions before it is
 * answered. docs/api.md describes the shapes. */
#include "deployer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"

#define MAX_DOCS 64 /* signandpay documents of one deployment */

/* The list answer, rebuilt only when the store was written since (reads far outnumber
 * writes: dashboards and scripts poll it). */
static bool list_text(gs_daemon_t *d)
{
    uint64_t gen = gs_store_generation(d->store);
    json_t *list, *answer;
    char *text;
    if (d->list_cache.text != NULL && d->list_cache.generation == gen)
        return true;
    if ((list = gs_store_deployments(d->store)) == NULL)
        return false;
    answer = json_pack("{s:o}", "deployments", list);
    text = answer ? gs_json_dumps(answer) : NULL;
    json_decref(answer);
    if (text == NULL)
        return false;
    free(d->list_cache.text);
    d->list_cache.text = text;
    d->list_cache.len = strlen(text);
    d->list_cache.generation = gen;
    return true;
}

void gs_api_list(gs_http_req_t *r, void *ud)
{
    gs_daemon_t *d = ud;
    if (!gs_daemon_authorized(d, r))
        return;
    if (!list_text(d)) {
        gs_http_reply_error(r, 500, "the state database cannot be read; see the daemon's log");
        return;
    }
    gs_http_reply(r, 200, "application/json", d->list_cache.text, d->list_cache.len);
}

/* {"id","amount","tft","state","link","document","qr_png","qr_svg"} for each session. */
json_t *gs_api_session_links(const gs_daemon_t *d, json_t *sessions)
{
    size_t i;
    json_t *s;
    json_array_foreach(sessions, i, s)
    {
        char url[1200], tft[32];
        const char *id = gs_json_str(s, "id");
        int64_t amount = 0;
        gs_json_int(s, "amount", &amount);
        gs_format_tft((uint64_t)amount, tft, sizeof tft);
        json_object_set_new(s, "tft", json_string(tft));
        snprintf(url, sizeof url, "%s/api/v1/signandpay/%s", d->cfg.public_url, id);
        json_object_set_new(s, "document", json_string(url));
        {
            char link[1300];
            snprintf(link, sizeof link, "threebot://signandpay/#%s", url);
            json_object_set_new(s, "link", json_string(link));
        }
        snprintf(url, sizeof url, "%s/api/v1/signandpay/%s/qr.png", d->cfg.public_url, id);
        json_object_set_new(s, "qr_png", json_string(url));
        snprintf(url, sizeof url, "%s/api/v1/signandpay/%s/qr.svg", d->cfg.public_url, id);
        json_object_set_new(s, "qr_svg", json_string(url));
    }
    return sessions;
}

/* Whether the daemon will move the deployment no further by itself. */
static bool settled(const char *state)
{
    return strcmp(state, "deployed") == 0 || strcmp(state, "failed") == 0;
}

/* One workload as GET shows it: where it is and how it is doing; never a secret. */
static json_t *workload_view(const json_t *w)
{
    json_t *data = json_object_get(json_object_get(w, "result_json"), "data_json");
    json_t *v = json_pack("{s:O, s:O, s:O, s:O}", "idx", json_object_get(w, "idx"), "node_id",
                          json_object_get(w, "node_id"), "state", json_object_get(w, "state"),
                          "workload_id", json_object_get(w, "workload_id"));
    if (gs_json_str(data, "Namespace") != NULL) {
        json_object_set(v, "namespace", json_object_get(data, "Namespace"));
        json_object_set(v, "ips", json_object_get(data, "IPs"));
        json_object_set(v, "port", json_object_get(data, "Port"));
    }
    if (gs_json_str(data, "ipv4") != NULL && gs_json_str(data, "ipv4")[0] != '\0') {
        char url[128];
        snprintf(url, sizeof url, "http://%s:%d", gs_json_str(data, "ipv4"), GS_GATEWAY_PORT);
        json_object_set(v, "ipv4", json_object_get(data, "ipv4"));
        json_object_set_new(v, "gateway", json_string(url));
    }
    return v;
}

/* The deployment's 0-dbs and gateway machines, in order. */
static void workloads_of(gs_daemon_t *d, const char *name, json_t *dep)
{
    json_t *wls = gs_store_workloads(d->store, name), *zdbs = json_array(),
           *machines = json_array(), *w;
    size_t i;
    json_array_foreach(wls, i, w)
    {
        bool zdb = strcmp(gs_json_str(w, "kind"), "zdb") == 0;
        json_t *v = workload_view(w);
        if (!zdb) {
            int64_t idx = 0;
            const json_t *m;
            gs_json_int(w, "idx", &idx);
            m = json_array_get(json_object_get(json_object_get(dep, "plan_json"), "machines"),
                               (size_t)idx);
            json_object_set(v, "role", json_object_get(m, "role"));
            json_object_set(v, "mode", json_object_get(m, "gateway"));
        }
        json_array_append_new(zdb ? zdbs : machines, v);
    }
    json_object_set_new(dep, "zdbs", zdbs);
    json_object_set_new(dep, "machines", machines);
    if (json_array_size(wls) > 0) { /* what the owner's applications upload with */
        char secret[65], pk_hex[65];
        unsigned char key[GS_CODEC_KEY_LEN], pk[32];
        const char *reference = gs_json_str(json_array_get(wls, 0), "reference");
        gs_dep_secret(d, name, reference, "gateway", secret);
        json_object_set_new(dep, "gateway_secret", json_string(secret));
        gs_dep_secret(d, name, reference, "key", secret);
        sodium_hex2bin(key, sizeof key, secret, 64, NULL, NULL, NULL);
        gs_codec_gateway_keypair(key, pk, NULL); /* what clients pin to check file ids */
        sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
        json_object_set_new(dep, "gateway_public_key", json_string(pk_hex));
        sodium_memzero(secret, sizeof secret);
        sodium_memzero(key, sizeof key);
    }
    json_decref(wls);
}

/* The deployment's pools without the signed payment body, with their runway (seconds
 * until they run dry, as last read from the explorer) once known. */
static json_t *pools_of(gs_daemon_t *d, const char *name)
{
    json_t *pools = gs_store_pools(d->store, name), *p;
    int64_t now = (int64_t)time(NULL);
    size_t i;
    json_array_foreach(pools, i, p)
    {
        int64_t empty_at = 0;
        json_object_del(p, "pay_body");
        if (gs_json_int(p, "empty_at", &empty_at))
            json_object_set_new(p, "runway_s", json_integer(empty_at > now ? empty_at - now : 0));
    }
    return pools;
}

/* An optional whole-number query parameter within [min, max] into *out; answers 400
 * and returns false when it is malformed. */
static bool query_number(gs_http_req_t *r, const char *name, long long min, long long max,
                         long long *out)
{
    char text[24], *end;
    long long v;
    if (!gs_http_req_has_query(r, name))
        return true;
    if (!gs_http_req_query(r, name, text, sizeof text) || text[0] == '\0' ||
        ((void)(errno = 0), v = strtoll(text, &end, 10), *end != '\0') || errno != 0 || v < min ||
        v > max) {
        gs_http_reply_error(r, 400, "%s: give a whole number from %lld to %lld", name, min, max);
        return false;
    }
    *out = v;
    return true;
}

void gs_api_get(gs_http_req_t *r, void *ud)
{
    gs_daemon_t *d = ud;
    const char *name = gs_http_req_param(r, 0);
    json_t *dep;
    long long events = 50, since = 0;
    if (!gs_daemon_authorized(d, r))
        return;
    if (!query_number(r, "events", 1, 1000, &events) ||
        !query_number(r, "since", 0, INT64_MAX, &since))
        return;
    if ((dep = gs_store_deployment(d->store, name)) == NULL) {
        gs_http_reply_error(r, 404, "no deployment named '%s'; see GET /api/v1/deployments", name);
        return;
    }
    json_object_set_new(dep, "sessions",
                        gs_api_session_links(d, gs_store_sessions(d->store, name)));
    json_object_set_new(dep, "pools", pools_of(d, name));
    workloads_of(d, name, dep);
    json_object_set_new(dep, "done", json_boolean(settled(gs_json_str(dep, "state"))));
    json_object_set_new(dep, "events", gs_store_events(d->store, name, (int)events, since));
    gs_http_reply_json(r, 200, dep);
}

/* ---- a new deployment ---------------------------------------------------------------------- */

typedef struct {
    gs_spec_t spec;
    gs_topology_t topo;
    gs_plan_t plan;
    gs_store_session_t *sessions;
    char **texts; /* DataToSign and memo of each document, owned here */
    gs_diag_t diag;
    int status; /* the HTTP status of a refusal */
} create_t;

static int refuse(create_t *c, int status, int err)
{
    c->status = status;
    return err;
}

/* The session rows of the plan's documents. */
static int sessions_of(create_t *c)
{
    size_t n = c->plan.n_docs;
    c->sessions = calloc(n ? n : 1, sizeof *c->sessions);
    c->texts = calloc(2 * n + 1, sizeof *c->texts);
    if (c->sessions == NULL || c->texts == NULL)
        return refuse(c, 500, gs_diag_set(&c->diag, GS_ENOMEM, "out of memory"));
    for (size_t i = 0; i < n; i++) {
        json_t *doc = json_loads(c->plan.docs[i].json, 0, NULL);
        const char *dts = gs_json_str(doc, "DataToSign");
        const char *memo = gs_json_str(json_object_get(doc, "Payment"), "Memo");
        c->texts[2 * i] = dts ? gs_strdup(dts) : NULL;
        c->texts[2 * i + 1] = memo ? gs_strdup(memo) : NULL;
        json_decref(doc);
        if (c->texts[2 * i] == NULL || c->texts[2 * i + 1] == NULL)
            return refuse(c, 500, gs_diag_set(&c->diag, GS_ENOMEM, "a document is malformed"));
        c->sessions[i] = (gs_store_session_t){
            .id = c->plan.docs[i].session,
            .document = c->plan.docs[i].json,
            .data_to_sign = c->texts[2 * i],
            .amount = c->plan.docs[i].amount,
            .memo = c->texts[2 * i + 1],
        };
    }
    return GS_OK;
}

static int plan_spec(gs_daemon_t *d, create_t *c, const char *body, size_t len)
{
    gs_doc_opts_t opts = {.qr_limit = (size_t)d->cfg.qr_limit,
                          .destination = d->identity.address,
                          .callback_base = d->cfg.public_url};
    int err;
    if ((err = gs_spec_parse(body, len, "spec", &c->spec, &c->diag)) != GS_OK)
        return refuse(c, err == GS_ENOMEM ? 500 : err == GS_ETOOBIG ? 413 : 400, err);
    if ((err = gs_topology_load(c->spec.topology, &c->topo, &c->diag)) != GS_OK)
        return refuse(c, 400, err);
    if (!d->have_identity)
        return refuse(c, 409,
                      gs_diag_set(&c->diag, GS_EINVAL,
                                  "this install has no identity yet: run `gridstor init` "
                                  "and restart gridstord"));
    if (!d->view.ready)
        return refuse(c, 503,
                      gs_diag_set(&c->diag, GS_EGRID,
                                  "the grid has not been read yet%s%s; retry shortly",
                                  d->view.error[0] ? ": " : "", d->view.error));
    if ((err = gs_plan_build(&c->spec, &c->topo, &d->view.grid, gs_rng_random_seed(), &c->plan,
                             &c->diag)) != GS_OK)
        return refuse(c, err == GS_EPLACEMENT ? 422 : 500, err);
    if ((err = gs_plan_split(&c->plan, &opts, &c->diag)) != GS_OK)
        return refuse(c, err == GS_ETOOBIG ? 422 : 500, err);
    if (c->plan.n_docs > MAX_DOCS)
        return refuse(c, 422,
                      gs_diag_set(&c->diag, GS_EINVAL, "the plan needs %zu documents; at most %d",
                                  c->plan.n_docs, MAX_DOCS));
    return sessions_of(c);
}

/* A workload to post later: its explorer body without pool, epoch, secrets and signature
 * (w, stolen), and a reference unique to this deployment (its first session id is
 * random), by which a resumed deployer finds it on the explorer. */
static int store_workload(gs_daemon_t *d, create_t *c, const char *kind, size_t i, json_t *w,
                          const char *node_id, size_t pool)
{
    char reference[64], *text = w ? gs_json_dumps(w) : NULL;
    gs_store_workload_t row;
    int err;
    json_decref(w);
    if (text == NULL)
        return gs_diag_set(&c->diag, GS_ENOMEM, "out of memory");
    snprintf(reference, sizeof reference, "gs-%s-%s-%zu", c->plan.docs[0].session, kind, i);
    row = (gs_store_workload_t){.kind = kind,
                                .idx = i,
                                .node_id = node_id,
                                .pool_idx = pool,
                                .reference = reference,
                                .template_json = text};
    err = gs_store_workload_add(d->store, c->plan.name, &row, &c->diag);
    free(text);
    return err;
}

/* Every 0-db, then every gateway machine. */
static int store_workloads(gs_daemon_t *d, create_t *c)
{
    gs_workload_ctx_t ctx = {.customer_tid = d->identity.tid};
    int err = GS_OK;
    for (size_t i = 0; i < c->plan.n_zdbs && err == GS_OK; i++)
        err = store_workload(d, c, "zdb", i, gs_workload_zdb(&c->plan, i, &ctx),
                             c->plan.zdbs[i].node_id, c->plan.zdbs[i].pool);
    for (size_t i = 0; i < c->plan.n_machines && err == GS_OK; i++)
        err =
            store_workload(d, c, "container", i, gs_workload_container(&c->plan, &c->topo, i, &ctx),
                           c->plan.machines[i].node_id, c->plan.machines[i].pool);
    return err;
}

static int store_plan(gs_daemon_t *d, create_t *c, const char *body, size_t len)
{
    json_t *pj = gs_plan_to_json(&c->plan);
    char *plan_text = pj ? gs_json_dumps(pj) : NULL, *spec_text = strndup(body, len);
    int err = plan_text && spec_text ? GS_OK : gs_diag_set(&c->diag, GS_ENOMEM, "out of memory");
    if (err == GS_OK && (err = gs_store_begin(d->store, &c->diag)) == GS_OK) {
        err = gs_store_deployment_add(d->store, c->plan.name, c->plan.owner, spec_text, plan_text,
                                      c->sessions, c->plan.n_docs, &c->diag);
        if (err == GS_OK)
            err = store_workloads(d, c);
        gs_store_end(d->store, err == GS_OK, NULL);
    }
    if (err != GS_OK)
        refuse(c, err == GS_EINVAL ? 409 : 500, err);
    json_decref(pj);
    free(plan_text);
    free(spec_text);
    return err;
}

static json_t *created_answer(gs_daemon_t *d, const create_t *c)
{
    char total[32];
    json_t *notes = json_array();
    gs_format_tft(c->plan.total, total, sizeof total);
    for (size_t i = 0; i < c->plan.notes.n; i++)
        json_array_append_new(notes, json_string(c->plan.notes.items[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o}", "name", c->plan.name, "owner",
                     c->plan.owner, "state", "awaiting_payment", "total", total, "total_stropes",
                     (json_int_t)c->plan.total, "sessions",
                     gs_api_session_links(d, gs_store_sessions(d->store, c->plan.name)), "notes",
                     notes);
}

void gs_api_create(gs_http_req_t *r, void *ud)
{
    gs_daemon_t *d = ud;
    create_t c = {.status = 500};
    size_t len = 0;
    const char *body;
    if (!gs_daemon_authorized(d, r))
        return;
    body = gs_http_req_body(r, &len);
    if (plan_spec(d, &c, body, len) == GS_OK && store_plan(d, &c, body, len) == GS_OK) {
        gs_store_event(d->store, c.plan.name, "info", "plan stored; show the QR codes to the owner",
                       NULL);
        gs_daemon_reply_synced(d, r, 201, created_answer(d, &c));
    } else {
        gs_http_reply_error(r, c.status, "%s", c.diag.msg);
    }
    for (size_t i = 0; c.texts && i < 2 * c.plan.n_docs; i++)
        free(c.texts[i]);
    free(c.texts);
    free(c.sessions);
    gs_plan_free(&c.plan);
    gs_spec_free(&c.spec);
}

/* ---- deleting -------------------------------------------------------------------------------- */

/* What deleting a deployment in `state` does to the money already paid. */
static const char *money_note(const char *state)
{
    if (strcmp(state, "awaiting_payment") == 0)
        return "nothing was paid; its QR codes and links no longer work";
    if (strcmp(state, "paid") == 0)
        return "the owner's payment stays in this install's wallet; pools reserved but not paid "
               "expire on their own";
    return "its workloads are removed from the grid; its paid capacity pools stay there, owned "
           "by this install, until they run dry; nothing is refunded";
}

/* Workloads of the deployment that may be on the grid (posted, or recorded as posting). */
static size_t live_workloads(gs_daemon_t *d, const char *name)
{
    json_t *wls = gs_store_workloads(d->store, name), *w;
    size_t i, n = 0;
    json_array_foreach(wls, i, w)
    {
        const char *st = gs_json_str(w, "state");
        n += strcmp(st, "new") != 0 && strcmp(st, "replacing") != 0 && strcmp(st, "failed") != 0 &&
             strcmp(st, "deleted") != 0 && strcmp(st, "ordered") != 0;
        n += json_is_integer(json_object_get(w, "old_workload_id"));
    }
    json_decref(wls);
    return n;
}

/* A deployment with workloads on the grid goes to `deleting`: the deployer removes them
 * (signing their deletion) and then forgets it (202); one with none is forgotten now (200). */
void gs_api_delete(gs_http_req_t *r, void *ud)
{
    gs_daemon_t *d = ud;
    const char *name = gs_http_req_param(r, 0);
    gs_diag_t diag = {{0}};
    json_t *dep;
    char state[64], was[80];
    size_t live;
    int err;
    if (!gs_daemon_authorized(d, r))
        return;
    if ((dep = gs_store_deployment(d->store, name)) == NULL) {
        gs_http_reply_error(r, 404, "no deployment named '%s'; see GET /api/v1/deployments", name);
        return;
    }
    snprintf(state, sizeof state, "%s", gs_json_str(dep, "state"));
    json_decref(dep);
    live = strcmp(state, "deleting") == 0 ? 1 : live_workloads(d, name);
    snprintf(was, sizeof was, "it was %s", state);
    err = live == 0 ? gs_store_deployment_delete(d->store, name, &diag)
          : strcmp(state, "deleting") == 0
              ? GS_OK
              : gs_store_deployment_transition(d->store, name, state, "deleting", was, &diag);
    if (err != GS_OK) {
        gs_http_reply_error(r, 500, "%s", diag.msg);
        return;
    }
    gs_daemon_reply_synced(d, r, live ? 202 : 200,
                           json_pack("{s:s, s:s, s:s, s:b}", "deleted", name, "state", state,
                                     "money", money_note(state), "removing", live > 0));
}
