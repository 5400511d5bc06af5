/* admin.c — the local grid's admin endpoint: see admin.h. JSON in and out, every body
 * capped (ADMIN_BODY_MAX) and checked (unknown members refused) with a 400 that says
 * what to send.
 *
 * Routes (all under /admin):
 *   GET  /nodes                 every node: node_id, farm, up, down_since
 *   POST /nodes/{id}/down, /up  sim_node_set_down: the node's 0-db refuses connections
 *                               and its `updated` stops; up again on the same port
 *   POST /nodes/{id}/silent     the node stays up (its 0-db answers, the explorer takes
 *                               workloads for it) but its agent deploys nothing and
 *                               reports no result, as a node whose agent hangs; /up or
 *                               /down ends it (kept in memory only)
 *   GET, POST, DELETE /{explorer,chain,login}/fault
 *   POST /zdb/{id}/flip         flips a byte of a stored value on the node's 0-db
 *   GET, POST /time             the simulated clock: advance it, change its scale
 *
 * Choices:
 *  - One fault at a time per service (the explorer, the chain, the login directory); a
 *    POST replaces that service's. It lasts for `count` matching
 *    requests and/or `seconds` of real time (whichever runs out first), or until DELETE
 *    when neither is given. A request matches when its path (without the query) starts
 *    with `path` (every request when absent).
 *  - A matching request waits delay_ms (on a timer; the connection stays open), then
 *    gets `status` with {"error": ...} as the services answer errors, or its real
 *    answer when no status was given.
 *  - Flip keys: hex of the key's bytes, or a JSON integer for a sequential id (sent as
 *    its 8 little-endian bytes). The 0-db's data file is changed on disk; a node that is
 *    down can be flipped too. */
#include "admin.h"
#include "agents.h"
#include "http_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define ADMIN_BODY_MAX     4096
#define FAULT_PATH_MAX     255
#define FAULT_DELAY_MAX_MS 300000 /* 5 minutes */
#define FAULT_COUNT_MAX    1000000
#define FAULT_SECONDS_MAX  86400.0
#define ADVANCE_MAX        (100LL * 366 * 86400) /* a century */
#define SCALE_MAX          1e6                   /* as --time-scale */

typedef struct {
    bool active;
    int status;        /* 0: the real answer, after the delay */
    int64_t delay_ms;  /* 0: none */
    int64_t count;     /* matching requests left; 0: no limit */
    uint64_t until_ms; /* uv_hrtime in ms when it ends; 0: no limit */
    char path[FAULT_PATH_MAX + 1];
} fault_t;

/* The services faults act on, in sim_admin_watch's order. */
static const char *const services[SIM_ADMIN_SERVICES] = {"explorer", "chain", "login"};

typedef struct {
    sim_admin_t *admin;
    int service;
} watch_t;

struct sim_admin {
    sim_ctx_t *ctx;
    fault_t faults[SIM_ADMIN_SERVICES];
    watch_t watches[SIM_ADMIN_SERVICES];
};

int sim_admin_new(sim_ctx_t *ctx, sim_admin_t **out, gs_diag_t *diag)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    (*out)->ctx = ctx;
    return GS_OK;
}

void sim_admin_free(sim_admin_t *a)
{
    free(a);
}

/* ---- bodies ------------------------------------------------------------------------------- */

/* 400 (or 413) with what went wrong and what to send instead. */
static void refuse(gs_http_req_t *r, int status, const gs_diag_t *diag, const char *usage)
{
    gs_http_reply_error(r, status, "%s; send %s", diag->msg, usage);
}

/* The body as a JSON object with only `fields`, or NULL after answering. */
static json_t *body_of(gs_http_req_t *r, const char *const *fields, const char *usage)
{
    gs_diag_t diag = {{0}};
    size_t len;
    const char *text = gs_http_req_body(r, &len);
    json_t *j = NULL;
    int err = sim_json_object(text, len, ADMIN_BODY_MAX, "request body", fields, &j, &diag);
    if (err)
        refuse(r, err == GS_ETOOBIG ? 413 : 400, &diag, usage);
    return j;
}

/* An optional integer member: absent leaves *out as it is. */
static int opt_int(const json_t *j, const char *key, int64_t min, int64_t max, int64_t *out,
                   gs_diag_t *diag)
{
    if (json_object_get(j, key) == NULL)
        return GS_OK;
    return sim_json_want_int(j, NULL, key, min, max, out, diag);
}

/* An optional number member (integer or real) in (0, max]. */
static int opt_positive(const json_t *j, const char *key, double max, double *out, gs_diag_t *diag)
{
    const json_t *v = json_object_get(j, key);
    if (v == NULL)
        return GS_OK;
    if (json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) <= max) {
        *out = json_number_value(v);
        return GS_OK;
    }
    return gs_diag_set(diag, GS_EINVAL, "%s: expected a number above 0 and at most %g", key, max);
}

/* ---- nodes -------------------------------------------------------------------------------- */

static json_t *node_json(const sim_node_t *n)
{
    return json_pack("{s:s, s:I, s:b, s:o, s:b}", "node_id", n->node_id, "farm",
                     (json_int_t)n->farm_id, "up", n->down_since == 0, "down_since",
                     n->down_since ? json_integer(n->down_since) : json_null(), "silent",
                     n->silent);
}

/* The node named by the path's first parameter, or NULL after answering 404. */
static sim_node_t *node_of(gs_http_req_t *r, sim_admin_t *a)
{
    sim_node_t *n = sim_world_node(&a->ctx->world, gs_http_req_param(r, 0));
    if (n == NULL)
        gs_http_reply_error(r, 404, "no node '%.80s' in this grid; GET /admin/nodes lists them",
                            gs_http_req_param(r, 0));
    return n;
}

static void get_nodes(gs_http_req_t *r, void *ud)
{
    const sim_world_t *w = &((sim_admin_t *)ud)->ctx->world;
    json_t *out = json_array();
    for (size_t i = 0; i < w->n_nodes; i++)
        json_array_append_new(out, node_json(&w->nodes[i]));
    gs_http_reply_json(r, 200, out);
}

typedef enum { NODE_UP, NODE_DOWN, NODE_SILENT } node_fault_t;

static void set_node(gs_http_req_t *r, sim_admin_t *a, node_fault_t to)
{
    static const char *const no_fields[] = {NULL};
    gs_diag_t diag = {{0}};
    sim_node_t *n = node_of(r, a);
    size_t len;
    json_t *body;
    if (n == NULL)
        return;
    gs_http_req_body(r, &len);
    if (len > 0) { /* nothing to say: an empty body or {} */
        if ((body = body_of(r, no_fields, "no body, or {}")) == NULL)
            return;
        json_decref(body);
    }
    if (sim_node_set_down(a->ctx, n, to == NODE_DOWN, &diag) != GS_OK) {
        gs_http_reply_error(r, 500, "node %s: %s", n->node_id, diag.msg);
        return;
    }
    n->silent = to == NODE_SILENT;
    gs_http_reply_json(r, 200, node_json(n));
}

static void post_node_down(gs_http_req_t *r, void *ud)
{
    set_node(r, ud, NODE_DOWN);
}

static void post_node_up(gs_http_req_t *r, void *ud)
{
    set_node(r, ud, NODE_UP);
}

static void post_node_silent(gs_http_req_t *r, void *ud)
{
    set_node(r, ud, NODE_SILENT);
}

/* ---- explorer faults ---------------------------------------------------------------------- */

#define FAULT_USAGE                                                                                \
    "{\"status\": 400-599, \"delay_ms\": 0-300000, \"count\": REQUESTS, \"seconds\": S, "          \
    "\"path\": \"/prefix\"}: status and/or delay_ms; count, seconds and path optional"

static uint64_t real_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* Ends the fault once its time is up. */
static void expire(fault_t *f)
{
    if (f->active && f->until_ms && real_ms() >= f->until_ms)
        f->active = false;
}

static json_t *fault_json(fault_t *f)
{
    json_t *j;
    expire(f);
    if (!f->active)
        return json_pack("{s:n}", "fault");
    j = json_pack("{s:o, s:I, s:o, s:o, s:s}", "status",
                  f->status ? json_integer(f->status) : json_null(), "delay_ms",
                  (json_int_t)f->delay_ms, "count", f->count ? json_integer(f->count) : json_null(),
                  "seconds",
                  f->until_ms ? json_real((double)(f->until_ms - real_ms()) / 1000.0) : json_null(),
                  "path", f->path);
    return json_pack("{s:o}", "fault", j);
}

static int parse_fault(const json_t *j, fault_t *f, gs_diag_t *diag)
{
    int64_t status = 0, count = 0;
    double seconds = 0;
    const char *path = "";
    int err = opt_int(j, "status", 400, 599, &status, diag);
    if (err == GS_OK)
        err = opt_int(j, "delay_ms", 0, FAULT_DELAY_MAX_MS, &f->delay_ms, diag);
    if (err == GS_OK)
        err = opt_int(j, "count", 1, FAULT_COUNT_MAX, &count, diag);
    if (err == GS_OK)
        err = opt_positive(j, "seconds", FAULT_SECONDS_MAX, &seconds, diag);
    if (err == GS_OK && json_object_get(j, "path") != NULL &&
        (err = sim_json_want_str(j, NULL, "path", FAULT_PATH_MAX, &path, diag)) == GS_OK &&
        path[0] != '/')
        err = gs_diag_set(diag, GS_EINVAL, "path: expected a path prefix starting with '/'");
    if (err == GS_OK && status == 0 && f->delay_ms == 0)
        err = gs_diag_set(diag, GS_EINVAL, "the fault does nothing: give status or delay_ms");
    if (err)
        return err;
    f->active = true;
    f->status = (int)status;
    f->count = count;
    f->until_ms = seconds > 0 ? real_ms() + (uint64_t)(seconds * 1000.0) : 0;
    snprintf(f->path, sizeof f->path, "%s", path);
    return GS_OK;
}

/* The fault of the service the path names, or NULL after a 404. */
static fault_t *fault_of(gs_http_req_t *r, sim_admin_t *a)
{
    const char *name = gs_http_req_param(r, 0);
    for (int i = 0; i < SIM_ADMIN_SERVICES; i++)
        if (strcmp(name, services[i]) == 0)
            return &a->faults[i];
    gs_http_reply_error(r, 404, "no service '%.64s' to fault: explorer, chain or login", name);
    return NULL;
}

static void get_fault(gs_http_req_t *r, void *ud)
{
    fault_t *f = fault_of(r, ud);
    if (f != NULL)
        gs_http_reply_json(r, 200, fault_json(f));
}

static void post_fault(gs_http_req_t *r, void *ud)
{
    static const char *const fields[] = {"status", "delay_ms", "count", "seconds", "path", NULL};
    fault_t *target = fault_of(r, ud), f = {0};
    gs_diag_t diag = {{0}};
    json_t *j = target ? body_of(r, fields, FAULT_USAGE) : NULL;
    if (j == NULL)
        return;
    if (parse_fault(j, &f, &diag) != GS_OK)
        refuse(r, 400, &diag, FAULT_USAGE);
    else {
        *target = f;
        gs_http_reply_json(r, 200, fault_json(target));
    }
    json_decref(j);
}

static void delete_fault(gs_http_req_t *r, void *ud)
{
    fault_t *f = fault_of(r, ud);
    if (f == NULL)
        return;
    f->active = false;
    gs_http_reply_json(r, 200, fault_json(f));
}

static void answer_fault(gs_http_req_t *r, int status)
{
    gs_http_reply_error(r, status, "fault injected by the local grid's admin endpoint (%d)",
                        status);
}

/* A delayed request's time is up: the fault's status, or the real answer. */
static void on_fault_due(gs_http_req_t *r, void *arg)
{
    int status = *(int *)arg;
    free(arg);
    if (r == NULL) /* the client went away meanwhile */
        return;
    if (status)
        answer_fault(r, status);
    else
        gs_http_dispatch(r);
}

/* Counts the request against the fault; true when the fault applies to it. */
static bool fault_takes(fault_t *f, const char *path)
{
    expire(f);
    if (!f->active || strncmp(path, f->path, strlen(f->path)) != 0)
        return false;
    if (f->count && --f->count == 0)
        f->active = false; /* this request was the last one */
    return true;
}

static bool fault_hook(gs_http_req_t *r, void *arg)
{
    watch_t *w = arg;
    fault_t *f = &w->admin->faults[w->service];
    int status = f->status, *pending;
    int64_t delay_ms = f->delay_ms;
    if (!fault_takes(f, gs_http_req_path(r)))
        return false;
    if (delay_ms == 0) {
        answer_fault(r, status);
        return true;
    }
    pending = malloc(sizeof *pending);
    if (pending == NULL || gs_http_defer(r, (uint64_t)delay_ms, on_fault_due, pending) != GS_OK) {
        free(pending);
        gs_http_reply_error(r, 500, "out of memory");
        return true;
    }
    *pending = status;
    return true;
}

void sim_admin_watch(sim_admin_t *a, int service, gs_httpd_t *server)
{
    a->watches[service] = (watch_t){a, service};
    gs_httpd_set_hook(server, fault_hook, &a->watches[service]);
}

/* ---- 0-db byte flips ---------------------------------------------------------------------- */

#define FLIP_USAGE                                                                                 \
    "{\"namespace\": NAME, \"key\": HEX (the key's bytes) or an integer (a sequential id), "       \
    "\"offset\": BYTE}"

typedef struct {
    unsigned char bytes[GS_ZDB_MAX_KEY];
    size_t len;
} flip_key_t;

static int parse_key(const json_t *j, flip_key_t *k, gs_diag_t *diag)
{
    const json_t *v = json_object_get(j, "key");
    const char *hex = json_string_value(v);
    size_t n = hex ? strlen(hex) : 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        gs_zdb_put_le64(k->bytes, (uint64_t)json_integer_value(v));
        k->len = 8;
        return GS_OK;
    }
    if (hex && n > 0 && n % 2 == 0 && n <= 2 * GS_ZDB_MAX_KEY &&
        sim_hex_decode(hex, k->bytes, n / 2)) {
        k->len = n / 2;
        return GS_OK;
    }
    return gs_diag_set(diag, GS_EINVAL,
                       "key: expected hex of 1 to %d bytes, or a sequential id (an integer "
                       "from 0)",
                       GS_ZDB_MAX_KEY);
}

typedef struct {
    const char *ns;
    flip_key_t key;
    int64_t offset;
} flip_t;

static int parse_flip(const json_t *j, flip_t *f, gs_diag_t *diag)
{
    int err = sim_json_want_str(j, NULL, "namespace", GS_ZDB_MAX_NSNAME, &f->ns, diag);
    if (err == GS_OK)
        err = parse_key(j, &f->key, diag);
    if (err == GS_OK)
        err = sim_json_want_int(j, NULL, "offset", 0, UINT32_MAX, &f->offset, diag);
    return err;
}

/* Finds the value to flip, answering 404/400 when it is not there. */
static bool flip_target(gs_http_req_t *r, gs_zdb_server_t *z, const sim_node_t *n, const flip_t *f)
{
    gs_zdb_ns_t *ns = gs_zdb_ns_find(gs_zdb_server_store(z), f->ns, strlen(f->ns));
    const gs_zdb_entry_t *e = ns ? gs_zdb_get(ns, f->key.bytes, f->key.len) : NULL;
    if (ns == NULL)
        gs_http_reply_error(r, 404, "node %s's 0-db has no namespace '%.128s'", n->node_id, f->ns);
    else if (e == NULL)
        gs_http_reply_error(r, 404, "namespace '%.128s' holds no such key", f->ns);
    else if ((uint64_t)f->offset >= e->len)
        gs_http_reply_error(r, 400, "offset %lld is past the value's %u bytes; send %s",
                            (long long)f->offset, (unsigned)e->len, FLIP_USAGE);
    return ns && e && (uint64_t)f->offset < e->len;
}

static void flip(gs_http_req_t *r, gs_zdb_server_t *z, const sim_node_t *n, const flip_t *f)
{
    gs_diag_t diag = {{0}};
    char hex[2 * GS_ZDB_MAX_KEY + 1];
    if (gs_zdb_server_corrupt(z, f->ns, f->key.bytes, f->key.len, (size_t)f->offset, &diag)) {
        gs_http_reply_error(r, 500, "%s", diag.msg);
        return;
    }
    gs_hex(f->key.bytes, f->key.len, hex);
    gs_http_reply_json(r, 200,
                       json_pack("{s:s, s:s, s:s, s:I}", "node_id", n->node_id, "namespace", f->ns,
                                 "key", hex, "offset", (json_int_t)f->offset));
}

static void post_flip(gs_http_req_t *r, void *ud)
{
    static const char *const fields[] = {"namespace", "key", "offset", NULL};
    sim_admin_t *a = ud;
    sim_node_t *n = node_of(r, a);
    gs_zdb_server_t *z =
        n ? sim_agents_zdb(a->ctx->agents, (size_t)(n - a->ctx->world.nodes)) : NULL;
    gs_diag_t diag = {{0}};
    json_t *j;
    flip_t f;
    if (n == NULL)
        return;
    if (z == NULL) {
        gs_http_reply_error(r, 404, "node %s runs no 0-db", n->node_id);
        return;
    }
    if ((j = body_of(r, fields, FLIP_USAGE)) == NULL)
        return;
    if (parse_flip(j, &f, &diag) != GS_OK)
        refuse(r, 400, &diag, FLIP_USAGE);
    else if (flip_target(r, z, n, &f)) /* else answered */
        flip(r, z, n, &f);
    json_decref(j);
}

/* ---- time --------------------------------------------------------------------------------- */

#define TIME_USAGE                                                                                 \
    "{\"advance\": SECONDS} and/or {\"scale\": X} (simulated seconds per real second)"

static json_t *time_json(const sim_world_t *w)
{
    return json_pack("{s:I, s:f}", "now", (json_int_t)sim_now(w), "scale", w->time_scale);
}

static void get_time(gs_http_req_t *r, void *ud)
{
    gs_http_reply_json(r, 200, time_json(&((sim_admin_t *)ud)->ctx->world));
}

static void post_time(gs_http_req_t *r, void *ud)
{
    static const char *const fields[] = {"advance", "scale", NULL};
    sim_world_t *w = &((sim_admin_t *)ud)->ctx->world;
    gs_diag_t diag = {{0}};
    int64_t advance = 0;
    double scale = 0;
    json_t *j = body_of(r, fields, TIME_USAGE);
    int err;
    if (j == NULL)
        return;
    err = opt_int(j, "advance", 0, ADVANCE_MAX, &advance, &diag);
    if (err == GS_OK)
        err = opt_positive(j, "scale", SCALE_MAX, &scale, &diag);
    if (err == GS_OK && json_object_size(j) == 0)
        err = gs_diag_set(&diag, GS_EINVAL, "nothing to change");
    json_decref(j);
    if (err) {
        refuse(r, 400, &diag, TIME_USAGE);
        return;
    }
    if (scale > 0)
        sim_world_set_scale(w, scale);
    sim_world_advance(w, advance);
    gs_http_reply_json(r, 200, time_json(w));
}

#define NODE_PATH "/admin/nodes/{}"

const gs_http_route_t sim_admin_routes[] = {
    {"GET", "/admin/nodes", get_nodes, 0},
    {"POST", NODE_PATH "/down", post_node_down, ADMIN_BODY_MAX},
    {"POST", NODE_PATH "/up", post_node_up, ADMIN_BODY_MAX},
    {"POST", NODE_PATH "/silent", post_node_silent, ADMIN_BODY_MAX},
    {"GET", "/admin/{}/fault", get_fault, 0},
    {"POST", "/admin/{}/fault", post_fault, ADMIN_BODY_MAX},
    {"DELETE", "/admin/{}/fault", delete_fault, 0},
    {"POST", "/admin/zdb/{}/flip", post_flip, ADMIN_BODY_MAX},
    {"GET", "/admin/time", get_time, 0},
    {"POST", "/admin/time", post_time, ADMIN_BODY_MAX},
    {NULL},
};
