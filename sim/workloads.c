/* workloads.c — the explorer's workloads in the local grid, following
 * reference/tfgrid-v2.md §1.4 to §1.6 and §2 and the real explorer (tfexplorer
 * pkg/workloads, pkg/capacity, mw/auth.go).
 *
 * Choices, where the reference is silent or where the sim is deliberately stricter:
 *  - Only zdb (workload_type 0) and container (1) are accepted; any other type is 400
 *    "unsupported workload type". The body is one flat workload; members other than
 *    ReservationInfo's and the type's are refused (400, naming the member).
 *  - Required: node_id, pool_id, customer_tid, customer_signature, epoch,
 *    workload_type, and for zdb size, for a container flist and capacity{cpu, memory}.
 *    Every other member is optional with the zero value ("" / false / 0 / [] / {}),
 *    and the stored workload holds those defaults, so its challenge can be rebuilt
 *    from what GET returns. id, next_action, version, json, result,
 *    signatures_provision, signatures_delete and signature_farmer are type-checked
 *    and then overwritten by the explorer (version is forced to 2).
 *  - HTTP signature auth (draft-cavage, as tfexplorer mw/auth.go): the Authorization
 *    header must be `Signature keyId="<tid>",algorithm="ed25519",signature="<b64>",
 *    created=..,expires=..,headers="..."`, the headers list must name (created) and
 *    threebot-id, the threebot-id header must equal keyId, and the signing string
 *    is the listed items, each "name: value" (lowercase name; (created),
 *    (expires), (request-target) as the draft says), joined by "\n". created may
 *    not be more than 5 minutes ahead of the real clock and expires (when given)
 *    must not have passed: request auth uses the real clock, not the scaled one.
 *    Missing or bad auth, an unknown keyId, or keyId != customer_tid: 401.
 *  - The customer signature (hex ed25519 over sha256(challenge)) that does not
 *    verify with customer_tid's phonebook key is 400, like the real explorer's
 *    Verify error. Environments are hashed sorted by key, each as "k=v".
 *  - Checks run in this order: auth (401), body (400), customer_tid (401),
 *    signature (400), node known and up (400; up = reported in the last 10 minutes),
 *    pool known (400), the pool's customer and nodes (403), capacity for 120 s
 *    (402, the workload is then stored with next_action 5 and an id, as the real
 *    explorer does). Nothing is stored on any other error.
 *  - Units (tfexplorer conversion.go): zdb su = round(size/1200 (hdd) or size/300
 *    (ssd), 3); container cu = round(min(round(memory/1024, 4)/4, cpu/2), 3) and its
 *    disk beyond the free 50 GB counts like a zdb. ipv4 units are always 0.
 *  - An accepted workload is stored with next_action 3 (deploy) and its units are
 *    activated on the pool at once; a 0-db workload is then provisioned by its node's
 *    agent (agents.h), which sets its result; a container workload is run by it as
 *    a process. Without agents (ctx->agents NULL) the result stays {}.
 *  - At most 100000 workloads (those refused with 402 count too); beyond, 503
 *    {"error": "... full"}, as the chain answers.
 *  - With a state store (store.h) each workload is written through as a record
 *    "workload" keyed by id whenever it or its result changes, and read back by
 *    sim_workloads_load, which then has the node agents take their deployed workloads
 *    up again (agents.h sim_agents_restore).
 *  - Workload ids have their own sequence from 1 (the real explorer's workloads and
 *    pool reservations are separate collections).
 *  - sign/delete and sign/provision take {"tid","signature","epoch"} and answer 201
 *    {} (the real one answers 201 with no body). A tid that is not among the
 *    request's signers, or a signature that does not verify with that tid's
 *    phonebook key, is 401; a tid that already signed is 400; signing a workload
 *    that is no longer deployed (next_action > 3) is 400. A quorum_min of 0 counts
 *    as 1. When the distinct delete signatures reach the quorum, next_action
 *    becomes 4 and the workload is then deleted at once: next_action 6, units
 *    deactivated, and a provisioned workload removed by its node's agent. Provision signatures are stored and have no
 *    further effect (there is no sign step before deploy in the local grid).
 *  - A pool running dry deletes (next_action 6, units deactivated) every deployed
 *    workload of that pool using a resource that is exhausted (cus = 0 and cu > 0,
 *    or sus = 0 and su > 0); a workload with 0 CU survives a lack of CUs.
 *  - List: filters customer_tid, next_action, workload_type; page from 1, size 100
 *    by default and at most 1000; malformed parameters are 400; the Pages header
 *    gives the page count (1 when nothing matches). */
#include "workloads.h"
#include "agents.h"
#include "explorer.h"
#include "http_util.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#define UP_SECONDS      600
#define AUTH_SKEW       300
#define AUTH_HEADER_MAX 2048
#define STR_MAX         1024
#define PASSWORD_MAX    1024
#define METADATA_MAX    16384
#define JSON_MAX        (SIM_WORKLOADS_MAX_BODY)
#define MAX_SIGNERS     100
#define MAX_ITEMS       100
#define CHALLENGE_MAX   (SIM_WORKLOADS_MAX_BODY * 2)
#define ZDB_MAX_GIB     1000000
#define FREE_ROOTFS_GB  50
#define MAX_WORKLOADS   100000

typedef struct {
    int64_t id, type, pool_id, customer_tid;
    int next_action;
    double cu, su;
    bool active;
    char *challenge;
    json_t *doc; /* the stored workload; next_action and signatures kept current */
} workload_t;

struct sim_workloads {
    sim_ctx_t *ctx;
    workload_t *items; /* in id order */
    size_t n, cap;
    int64_t next_id;
};

static struct sim_workloads *store_of(gs_http_req_t *r, void *ud)
{
    sim_ctx_t *ctx = ud;
    if (ctx->workloads == NULL || ctx->registry == NULL)
        gs_http_reply_error(r, 503, "the explorer's workloads are not running");
    return ctx->registry ? ctx->workloads : NULL;
}

static workload_t *find(struct sim_workloads *wls, int64_t id)
{
    for (size_t i = 0; i < wls->n; i++)
        if (wls->items[i].id == id)
            return &wls->items[i];
    return NULL;
}

/* Rounds a non-negative v to 1/scale, half away from zero (Go's math.Round); without
 * libm, which gs_sim does not link. */
static double round_to(double v, double scale)
{
    return (double)(int64_t)(v * scale + 0.5) / scale;
}

static void set_next_action(workload_t *w, int na)
{
    w->next_action = na;
    json_object_set_new(w->doc, "next_action", json_integer(na));
}

/* ---- persistence (store.h) ----------------------------------------------------------------- */

static void save(const struct sim_workloads *wls, const workload_t *w)
{
    json_t *rec;
    if (wls->ctx->store == NULL)
        return;
    rec = json_pack("{s:I, s:I, s:I, s:f, s:f, s:b, s:s, s:O}", "type", (json_int_t)w->type,
                    "pool_id", (json_int_t)w->pool_id, "customer_tid", (json_int_t)w->customer_tid,
                    "cu", w->cu, "su", w->su, "active", w->active, "challenge", w->challenge, "doc",
                    w->doc);
    sim_store_put_id(wls->ctx->store, "workload", w->id, rec);
    json_decref(rec);
}

void sim_workloads_save_doc(sim_ctx_t *ctx, const json_t *doc)
{
    int64_t id = 0;
    const workload_t *w;
    if (ctx->workloads == NULL || ctx->store == NULL || !gs_json_int(doc, "id", &id))
        return;
    if ((w = find(ctx->workloads, id)) != NULL && w->doc == doc)
        save(ctx->workloads, w);
}

/* Room for one more workload; false when out of memory. */
static bool make_room(struct sim_workloads *wls)
{
    size_t want = wls->cap ? wls->cap * 2 : 16;
    workload_t *items;
    if (wls->n < wls->cap)
        return true;
    if ((items = realloc(wls->items, want * sizeof *items)) == NULL)
        return false;
    wls->items = items;
    wls->cap = want;
    return true;
}

static int load_workload(const char *key, const json_t *rec, void *arg, gs_diag_t *diag)
{
    struct sim_workloads *wls = arg;
    json_t *doc = json_object_get(rec, "doc");
    const char *challenge = gs_json_str(rec, "challenge");
    int64_t na = -1;
    workload_t *w;
    if (wls->n >= MAX_WORKLOADS || !make_room(wls))
        return gs_diag_set(diag, GS_ENOMEM, "state database: cannot load workload %.32s", key);
    w = memset(&wls->items[wls->n], 0, sizeof *w);
    if (!json_is_object(doc) || challenge == NULL || !gs_json_int(doc, "id", &w->id) ||
        !gs_json_int(doc, "next_action", &na) || na < SIM_NA_CREATE || na > SIM_NA_MIGRATED ||
        !gs_json_int(rec, "type", &w->type) || !gs_json_int(rec, "pool_id", &w->pool_id) ||
        !gs_json_int(rec, "customer_tid", &w->customer_tid) || !gs_json_num(rec, "cu", &w->cu) ||
        !gs_json_num(rec, "su", &w->su))
        return gs_diag_set(diag, GS_EPARSE, "state database: bad workload record %.32s", key);
    if ((w->challenge = strdup(challenge)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    w->next_action = (int)na;
    w->active = json_is_true(json_object_get(rec, "active"));
    w->doc = json_incref(doc);
    wls->n++;
    if (w->id >= wls->next_id)
        wls->next_id = w->id + 1;
    return GS_OK;
}

int sim_workloads_load(sim_ctx_t *ctx, gs_diag_t *diag)
{
    struct sim_workloads *wls = ctx->workloads;
    int err = sim_store_each(ctx->store, "workload", load_workload, wls, diag);
    if (err != GS_OK)
        return err;
    sim_store_begin(ctx->store);
    for (size_t i = 0; i < wls->n; i++)
        if (wls->items[i].next_action == SIM_NA_DEPLOY)
            sim_agents_restore(ctx, wls->items[i].doc);
    sim_store_commit(ctx->store);
    return GS_OK;
}

/* ---- HTTP signature auth (draft-cavage, tfexplorer mw/auth.go) ----------------------------- */

typedef struct {
    char key_id[32], algorithm[32], signature[128], created[32], expires[32], headers[256];
} auth_params_t;

/* Copies the next `key="value"` or `key=value` of s into the matching member. */
static bool auth_param(const char **s, auth_params_t *a)
{
    static const struct {
        const char *name;
        size_t off, size;
    } keys[] = {
        {"keyId", offsetof(auth_params_t, key_id), sizeof a->key_id},
        {"algorithm", offsetof(auth_params_t, algorithm), sizeof a->algorithm},
        {"signature", offsetof(auth_params_t, signature), sizeof a->signature},
        {"created", offsetof(auth_params_t, created), sizeof a->created},
        {"expires", offsetof(auth_params_t, expires), sizeof a->expires},
        {"headers", offsetof(auth_params_t, headers), sizeof a->headers},
    };
    const char *p = *s, *eq = strchr(p, '='), *v, *end;
    bool quoted;
    if (eq == NULL)
        return false;
    v = eq + 1;
    quoted = *v == '"';
    if (quoted) {
        v++;
        end = strchr(v, '"');
    } else {
        end = v + strcspn(v, ",");
    }
    if (end == NULL)
        return false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strlen(keys[i].name) != (size_t)(eq - p) || memcmp(p, keys[i].name, eq - p) != 0)
            continue;
        if ((size_t)(end - v) >= keys[i].size)
            return false;
        memcpy((char *)a + keys[i].off, v, end - v);
        ((char *)a + keys[i].off)[end - v] = '\0';
    }
    p = end + quoted;
    while (*p == ' ')
        p++;
    if (*p == ',')
        p++;
    while (*p == ' ')
        p++;
    *s = p;
    return true;
}

static bool parse_auth(const char *h, auth_params_t *a)
{
    memset(a, 0, sizeof *a);
    if (strncmp(h, "Signature ", 10) != 0)
        return false;
    h += 10;
    while (*h)
        if (!auth_param(&h, a))
            return false;
    return a->key_id[0] && a->signature[0] && a->headers[0] && a->created[0];
}

static bool whole(const char *s, int64_t *out)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || errno)
        return false;
    *out = v;
    return true;
}

/* Appends "name: value" for one item of the headers list. */
static bool signing_item(gs_http_req_t *r, const auth_params_t *a, const char *name, gs_buf_t *out)
{
    char value[AUTH_HEADER_MAX];
    if (strcmp(name, "(created)") == 0)
        snprintf(value, sizeof value, "%s", a->created);
    else if (strcmp(name, "(expires)") == 0)
        snprintf(value, sizeof value, "%s", a->expires);
    else if (strcmp(name, "(request-target)") == 0)
        snprintf(value, sizeof value, "post %s", gs_http_req_path(r));
    else if (name[0] == '(' || !gs_http_req_header(r, name, value, sizeof value))
        return false;
    return gs_buf_printf(out, "%s%s: %s", out->len ? "\n" : "", name, value) == GS_OK;
}

static bool signing_string(gs_http_req_t *r, const auth_params_t *a, gs_buf_t *out)
{
    char list[sizeof a->headers], *save = NULL, *name;
    bool created = false, tid = false;
    snprintf(list, sizeof list, "%s", a->headers);
    for (char *p = list; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    for (name = strtok_r(list, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
        created |= strcmp(name, "(created)") == 0;
        tid |= strcmp(name, "threebot-id") == 0;
        if (!signing_item(r, a, name, out))
            return false;
    }
    return created && tid;
}

/* The tid that signed the request, or false after filling f (401). */
static bool authenticate(struct sim_workloads *wls, gs_http_req_t *r, int64_t *tid,
                         sim_refusal_t *f)
{
    char header[AUTH_HEADER_MAX], threebot[32];
    unsigned char sig[crypto_sign_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
    size_t siglen = 0;
    int64_t created, expires, now = (int64_t)time(NULL);
    auth_params_t a;
    gs_buf_t msg;
    bool ok;
    if (!gs_http_req_header(r, "authorization", header, sizeof header) || !parse_auth(header, &a))
        return sim_refuse(f, 401,
                          "Authorization: expected an HTTP signature (keyId, algorithm, "
                          "signature, created, headers)");
    if (strcmp(a.algorithm, "ed25519") != 0)
        return sim_refuse(f, 401, "Authorization: algorithm must be ed25519");
    if (!whole(a.key_id, tid) || !sim_registry_user_key(wls->ctx->registry, *tid, pk))
        return sim_refuse(f, 401, "Authorization: keyId is not a known user");
    if (!gs_http_req_header(r, "threebot-id", threebot, sizeof threebot) ||
        strcmp(threebot, a.key_id) != 0)
        return sim_refuse(f, 401, "threebot-id: must be given and equal keyId");
    if (!whole(a.created, &created) || created > now + AUTH_SKEW)
        return sim_refuse(f, 401, "Authorization: created is not a valid time");
    if (a.expires[0] && (!whole(a.expires, &expires) || expires <= now))
        return sim_refuse(f, 401, "Authorization: the signature has expired");
    if (sodium_base642bin(sig, sizeof sig, a.signature, strlen(a.signature), NULL, &siglen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        siglen != sizeof sig)
        return sim_refuse(f, 401, "Authorization: signature is not base64 of 64 bytes");
    gs_buf_init(&msg, 8 * AUTH_HEADER_MAX);
    ok = signing_string(r, &a, &msg) &&
         crypto_sign_verify_detached(sig, (const unsigned char *)msg.data, msg.len, pk) == 0;
    gs_buf_free(&msg);
    if (!ok)
        return sim_refuse(f, 401,
                          "Authorization: the signature does not verify (headers must "
                          "include (created) and threebot-id)");
    return true;
}

/* ---- members ------------------------------------------------------------------------------ */

static const char *const info_fields[] = {"workload_id",
                                          "node_id",
                                          "pool_id",
                                          "reference",
                                          "description",
                                          "signing_request_provision",
                                          "signing_request_delete",
                                          "id",
                                          "json",
                                          "customer_tid",
                                          "customer_signature",
                                          "next_action",
                                          "signatures_provision",
                                          "signature_farmer",
                                          "signatures_delete",
                                          "epoch",
                                          "metadata",
                                          "result",
                                          "workload_type",
                                          "version",
                                          NULL};
static const char *const zdb_fields[] = {
    "size", "mode", "password", "disk_type", "public", "stats_aggregator", NULL};
static const char *const container_fields[] = {
    "flist",      "hub_url",     "environment", "secret_environment",
    "entrypoint", "interactive", "volumes",     "network_connection",
    "capacity",   "logs",        "stats",       NULL};

static bool listed(const char *const *fields, const char *key)
{
    for (; *fields; fields++)
        if (strcmp(*fields, key) == 0)
            return true;
    return false;
}

static bool known_members(const json_t *body, const char *const *type_fields, sim_refusal_t *f)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (!listed(info_fields, key) && !listed(type_fields, key)) {
            bool printable = strlen(key) <= 64;
            for (const char *p = key; printable && *p; p++)
                printable = *p >= 0x20 && *p <= 0x7e;
            return sim_refuse(f, 400, "request body: unknown member '%s'", printable ? key : "?");
        }
    }
    return true;
}

/* An optional string member: def when absent; stored back so GET shows it. */
static bool opt_str(json_t *obj, const char *prefix, const char *key, size_t max, const char **out,
                    sim_refusal_t *f)
{
    if (json_object_get(obj, key) == NULL)
        json_object_set_new(obj, key, json_string(""));
    if (sim_json_want_str(obj, prefix, key, max, out, &f->diag))
        return sim_malformed(f);
    return true;
}

static bool opt_int(json_t *obj, const char *prefix, const char *key, int64_t min, int64_t max,
                    int64_t *out, sim_refusal_t *f)
{
    if (json_object_get(obj, key) == NULL)
        json_object_set_new(obj, key, json_integer(min > 0 ? min : 0));
    if (sim_json_want_int(obj, prefix, key, min, max, out, &f->diag))
        return sim_malformed(f);
    return true;
}

static bool opt_bool(json_t *obj, const char *key, bool *out, sim_refusal_t *f)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        json_object_set_new(obj, key, json_false());
        v = json_object_get(obj, key);
    }
    if (!json_is_boolean(v))
        return sim_refuse(f, 400, "%s: expected true or false", key);
    *out = json_is_true(v);
    return true;
}

/* An optional member of a JSON type (json_type), def when absent. */
static bool opt_typed(json_t *obj, const char *key, json_type type, sim_refusal_t *f)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        json_object_set_new(obj, key, type == JSON_ARRAY ? json_array() : json_object());
    else if (json_typeof(v) != type)
        return sim_refuse(f, 400, "%s: expected %s", key,
                          type == JSON_ARRAY ? "an array" : "an object");
    return true;
}

static bool req_int(const json_t *obj, const char *prefix, const char *key, int64_t min,
                    int64_t max, int64_t *out, sim_refusal_t *f)
{
    if (sim_json_want_int(obj, prefix, key, min, max, out, &f->diag))
        return sim_malformed(f);
    return true;
}

static bool req_str(const json_t *obj, const char *prefix, const char *key, size_t max,
                    const char **out, sim_refusal_t *f)
{
    if (sim_json_want_str(obj, prefix, key, max, out, &f->diag))
        return sim_malformed(f);
    return true;
}

/* {"signers":[tid...],"quorum_min":n}, defaulting to no signers. */
static bool signing_request(json_t *body, const char *key, sim_refusal_t *f)
{
    json_t *v = json_object_get(body, key), *signers, *s;
    int64_t q;
    size_t i;
    if (v == NULL) {
        json_object_set_new(body, key, json_pack("{s:[], s:i}", "signers", "quorum_min", 0));
        return true;
    }
    if (!json_is_object(v) || json_object_size(v) > 2 ||
        !json_is_array(signers = json_object_get(v, "signers")) ||
        json_array_size(signers) > MAX_SIGNERS)
        return sim_refuse(f, 400,
                          "%s: expected {\"signers\": [at most %d tids], \"quorum_min\": n}", key,
                          MAX_SIGNERS);
    json_array_foreach(signers, i, s)
    {
        if (!json_is_integer(s) || json_integer_value(s) < 1)
            return sim_refuse(f, 400, "%s.signers: expected positive integers", key);
    }
    return req_int(v, key, "quorum_min", 0, MAX_SIGNERS, &q, f);
}

/* ---- the challenge (tfexplorer SignatureChallenge, JSSDK sals/zos/signature.py) ----------- */

typedef struct {
    gs_buf_t ch; /* the challenge text */
    double cu, su;
} parsed_t;

static const char *type_name(int64_t type)
{
    return type == 0 ? "ZDB" : "CONTAINER";
}

static bool info_part(json_t *body, int64_t type, parsed_t *p, sim_refusal_t *f, int64_t *tid,
                      int64_t *pool_id, const char **node_id)
{
    int64_t wid, epoch, ignored;
    const char *reference, *description, *metadata, *json_text;
    if (!opt_int(body, NULL, "workload_id", 0, INT32_MAX, &wid, f) ||
        !req_str(body, NULL, "node_id", 64, node_id, f) ||
        !req_int(body, NULL, "pool_id", 1, INT64_MAX, pool_id, f) ||
        !opt_str(body, NULL, "reference", STR_MAX, &reference, f) ||
        !opt_str(body, NULL, "description", STR_MAX, &description, f) ||
        !req_int(body, NULL, "customer_tid", 1, INT64_MAX, tid, f) ||
        !req_int(body, NULL, "epoch", 0, INT64_MAX / 2, &epoch, f) ||
        !opt_str(body, NULL, "metadata", METADATA_MAX, &metadata, f) ||
        !opt_str(body, NULL, "json", JSON_MAX, &json_text, f) ||
        !opt_int(body, NULL, "id", 0, INT64_MAX, &ignored, f) ||
        !opt_int(body, NULL, "next_action", 0, 7, &ignored, f) ||
        !opt_int(body, NULL, "version", 0, INT32_MAX, &ignored, f) ||
        !signing_request(body, "signing_request_provision", f) ||
        !signing_request(body, "signing_request_delete", f) ||
        !opt_typed(body, "signatures_provision", JSON_ARRAY, f) ||
        !opt_typed(body, "signatures_delete", JSON_ARRAY, f) ||
        !opt_typed(body, "signature_farmer", JSON_OBJECT, f) ||
        !opt_typed(body, "result", JSON_OBJECT, f))
        return false;
    if (gs_buf_printf(&p->ch, "%lld%s%lld%s%lld%s%lld%s%s", (long long)wid, *node_id,
                      (long long)*pool_id, reference, (long long)*tid, type_name(type),
                      (long long)epoch, description, metadata) != GS_OK)
        return sim_refuse(f, 400, "request body: too large");
    return true;
}

static const char *disk_name(int64_t t)
{
    return t == 0 ? "hdd" : "ssd";
}

static double storage_su(double gib, int64_t disk_type)
{
    return round_to(disk_type == 0 ? gib / 1200 : gib / 300, 1000);
}

static bool zdb_part(json_t *body, parsed_t *p, sim_refusal_t *f)
{
    int64_t size, mode, disk_type;
    const char *password;
    bool pub;
    if (!req_int(body, NULL, "size", 1, ZDB_MAX_GIB, &size, f) ||
        !opt_int(body, NULL, "mode", 0, 1, &mode, f) ||
        !opt_str(body, NULL, "password", PASSWORD_MAX, &password, f) ||
        !opt_int(body, NULL, "disk_type", 0, 1, &disk_type, f) ||
        !opt_bool(body, "public", &pub, f) || !opt_typed(body, "stats_aggregator", JSON_ARRAY, f))
        return false;
    p->cu = 0;
    p->su = storage_su((double)size, disk_type);
    if (gs_buf_printf(&p->ch, "%lld%s%s%s%s", (long long)size, mode ? "user" : "seq", password,
                      disk_name(disk_type), pub ? "true" : "false") != GS_OK)
        return sim_refuse(f, 400, "request body: too large");
    return true;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "k=v" for every member of an object of strings, sorted by key. */
static bool env_part(json_t *body, const char *key, gs_buf_t *ch, sim_refusal_t *f)
{
    json_t *env, *v;
    const char *k, *keys[MAX_ITEMS];
    size_t n = 0;
    if (!opt_typed(body, key, JSON_OBJECT, f))
        return false;
    env = json_object_get(body, key);
    if (json_object_size(env) > MAX_ITEMS)
        return sim_refuse(f, 400, "%s: at most %d variables", key, MAX_ITEMS);
    json_object_foreach(env, k, v)
    {
        if (!json_is_string(v) || json_string_length(v) > STR_MAX ||
            strlen(json_string_value(v)) != json_string_length(v))
            return sim_refuse(f, 400, "%s: values must be strings of at most %d bytes", key,
                              STR_MAX);
        keys[n++] = k;
    }
    qsort(keys, n, sizeof keys[0], by_key);
    for (size_t i = 0; i < n; i++)
        if (gs_buf_printf(ch, "%s=%s", keys[i], json_string_value(json_object_get(env, keys[i]))) !=
            GS_OK)
            return sim_refuse(f, 400, "request body: too large");
    return true;
}

static bool volumes_part(json_t *body, gs_buf_t *ch, sim_refusal_t *f)
{
    json_t *list, *v;
    size_t i;
    const char *id, *mount;
    if (!opt_typed(body, "volumes", JSON_ARRAY, f))
        return false;
    list = json_object_get(body, "volumes");
    if (json_array_size(list) > MAX_ITEMS)
        return sim_refuse(f, 400, "volumes: at most %d", MAX_ITEMS);
    json_array_foreach(list, i, v)
    {
        if (!json_is_object(v) || json_object_size(v) != 2 ||
            !req_str(v, "volumes[]", "volume_id", STR_MAX, &id, f) ||
            !req_str(v, "volumes[]", "mountpoint", STR_MAX, &mount, f))
            return f->status
                       ? false
                       : sim_refuse(f, 400, "volumes: expected {\"volume_id\", \"mountpoint\"}");
        if (gs_buf_printf(ch, "%s%s", id, mount) != GS_OK)
            return sim_refuse(f, 400, "request body: too large");
    }
    return true;
}

static bool networks_part(json_t *body, gs_buf_t *ch, sim_refusal_t *f)
{
    json_t *list, *v, *ip6;
    size_t i;
    const char *id, *ip;
    if (!opt_typed(body, "network_connection", JSON_ARRAY, f))
        return false;
    list = json_object_get(body, "network_connection");
    if (json_array_size(list) > MAX_ITEMS)
        return sim_refuse(f, 400, "network_connection: at most %d", MAX_ITEMS);
    json_array_foreach(list, i, v)
    {
        if (!json_is_object(v) || json_object_size(v) != 3 ||
            !req_str(v, "network_connection[]", "network_id", STR_MAX, &id, f) ||
            !req_str(v, "network_connection[]", "ipaddress", 64, &ip, f))
            return f->status ? false
                             : sim_refuse(f, 400,
                                          "network_connection: expected {\"network_id\", "
                                          "\"ipaddress\", \"public_ip6\"}");
        ip6 = json_object_get(v, "public_ip6");
        if (!json_is_boolean(ip6))
            return sim_refuse(f, 400, "network_connection[].public_ip6: expected true or false");
        if (gs_buf_printf(ch, "%s%s%s", id, ip, json_is_true(ip6) ? "true" : "false") != GS_OK)
            return sim_refuse(f, 400, "request body: too large");
    }
    return true;
}

static bool capacity_part(json_t *body, parsed_t *p, sim_refusal_t *f)
{
    json_t *cap = json_object_get(body, "capacity");
    int64_t cpu, memory, disk = 0, disk_type = 0;
    double mru, storage;
    if (!json_is_object(cap))
        return sim_refuse(f, 400,
                          "capacity: expected {\"cpu\", \"memory\", \"disk_size\", "
                          "\"disk_type\"}");
    if (!req_int(cap, "capacity", "cpu", 1, 1024, &cpu, f) ||
        !req_int(cap, "capacity", "memory", 1, 1LL << 30, &memory, f) ||
        !opt_int(cap, "capacity", "disk_size", 0, 1LL << 40, &disk, f) ||
        !opt_int(cap, "capacity", "disk_type", 0, 1, &disk_type, f))
        return false;
    if (json_object_size(cap) != 4)
        return sim_refuse(f, 400, "capacity: unknown member");
    mru = round_to((double)memory / 1024, 10000);
    p->cu = round_to(mru / 4 < (double)cpu / 2 ? mru / 4 : (double)cpu / 2, 1000);
    storage = (double)disk / 1024 - FREE_ROOTFS_GB;
    if (storage < 0)
        storage = 0;
    p->su = storage_su(storage, disk_type);
    if (gs_buf_printf(&p->ch, "%lld%lld%lld%s", (long long)cpu, (long long)memory, (long long)disk,
                      disk_name(disk_type)) != GS_OK)
        return sim_refuse(f, 400, "request body: too large");
    return true;
}

static bool container_part(json_t *body, parsed_t *p, sim_refusal_t *f)
{
    const char *flist, *hub, *entry;
    bool interactive;
    if (!req_str(body, NULL, "flist", STR_MAX, &flist, f) ||
        !opt_str(body, NULL, "hub_url", STR_MAX, &hub, f) ||
        !opt_str(body, NULL, "entrypoint", STR_MAX, &entry, f) ||
        !opt_bool(body, "interactive", &interactive, f) ||
        !opt_typed(body, "logs", JSON_ARRAY, f) || !opt_typed(body, "stats", JSON_ARRAY, f))
        return false;
    if (gs_buf_printf(&p->ch, "%s%s%s%s", flist, hub, entry, interactive ? "true" : "false") !=
        GS_OK)
        return sim_refuse(f, 400, "request body: too large");
    return env_part(body, "environment", &p->ch, f) &&
           env_part(body, "secret_environment", &p->ch, f) && volumes_part(body, &p->ch, f) &&
           networks_part(body, &p->ch, f) && capacity_part(body, p, f);
}

static void sha256_of(const char *a, size_t alen, const char *b, unsigned char out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)a, alen);
    if (b)
        crypto_hash_sha256_update(&st, (const unsigned char *)b, strlen(b));
    crypto_hash_sha256_final(&st, out);
}

/* hex(ed25519(sha256(text + suffix))) by tid's phonebook key. */
static bool signed_by(struct sim_workloads *wls, int64_t tid, const char *text, size_t len,
                      const char *suffix, const char *sig_hex)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES], hash[32];
    if (!sim_registry_user_key(wls->ctx->registry, tid, pk) ||
        !sim_hex_decode(sig_hex, sig, sizeof sig))
        return false;
    sha256_of(text, len, suffix, hash);
    return crypto_sign_verify_detached(sig, hash, sizeof hash, pk) == 0;
}

/* ---- POST /reservations/workloads ---------------------------------------------------------- */

typedef struct {
    int64_t type, tid, pool_id;
    const char *node_id;
    parsed_t p;
} request_t;

static bool read_workload(json_t *body, request_t *q, sim_refusal_t *f)
{
    const char *sig;
    if (!req_int(body, NULL, "workload_type", 0, 12, &q->type, f))
        return false;
    if (q->type > 1)
        return sim_refuse(f, 400, "workload_type: unsupported workload type %lld",
                          (long long)q->type);
    if (!known_members(body, q->type == 0 ? zdb_fields : container_fields, f) ||
        !req_str(body, NULL, "customer_signature", 2 * crypto_sign_BYTES, &sig, f) ||
        !info_part(body, q->type, &q->p, f, &q->tid, &q->pool_id, &q->node_id))
        return false;
    return q->type == 0 ? zdb_part(body, &q->p, f) : container_part(body, &q->p, f);
}

static bool node_up(sim_ctx_t *ctx, const char *node_id)
{
    sim_node_t *n = sim_world_node(&ctx->world, node_id);
    return n && !n->deleted && !n->down_since &&
           sim_now(&ctx->world) - sim_node_updated(&ctx->world, n) < UP_SECONDS;
}

static bool check_workload(struct sim_workloads *wls, json_t *body, int64_t signer, request_t *q,
                           sim_refusal_t *f)
{
    sim_ctx_t *ctx = wls->ctx;
    const sim_pool_t *pool;
    int64_t owner;
    if (!read_workload(body, q, f))
        return false;
    if (q->tid != signer)
        return sim_refuse(f, 401, "customer_tid: %lld did not sign the request (keyId %lld)",
                          (long long)q->tid, (long long)signer);
    if (!signed_by(wls, q->tid, q->p.ch.data ? q->p.ch.data : "", q->p.ch.len, NULL,
                   gs_json_str(body, "customer_signature")))
        return sim_refuse(f, 400,
                          "customer_signature: does not verify against the workload's "
                          "challenge with the customer's key");
    if (sim_world_node(&ctx->world, q->node_id) == NULL)
        return sim_refuse(f, 400, "node_id: no such node");
    if (!node_up(ctx, q->node_id))
        return sim_refuse(f, 400, "node_id: the node is down");
    if ((pool = sim_registry_pool(ctx->registry, q->pool_id)) == NULL)
        return sim_refuse(f, 400, "pool_id: no such capacity pool");
    owner = pool->customer_tid;
    if (!sim_registry_pool_allows(ctx->registry, q->pool_id, q->tid, q->node_id))
        return sim_refuse(f, 403,
                          owner != q->tid ? "pool_id: the pool belongs to another customer"
                                          : "node_id: the node is not part of the pool");
    return true;
}

static workload_t *store(struct sim_workloads *wls, json_t *body, request_t *q, int na)
{
    workload_t *w;
    if (!make_room(wls))
        return NULL;
    w = &wls->items[wls->n];
    memset(w, 0, sizeof *w);
    if ((w->challenge = gs_buf_steal(&q->p.ch)) == NULL && (w->challenge = strdup("")) == NULL)
        return NULL;
    w->id = wls->next_id++;
    w->type = q->type;
    w->pool_id = q->pool_id;
    w->customer_tid = q->tid;
    w->cu = q->p.cu;
    w->su = q->p.su;
    w->doc = json_incref(body);
    json_object_set_new(body, "id", json_integer(w->id));
    json_object_set_new(body, "version", json_integer(2));
    json_object_set_new(body, "json", json_string(""));
    json_object_set_new(body, "result", json_object());
    json_object_set_new(body, "signatures_provision", json_array());
    json_object_set_new(body, "signatures_delete", json_array());
    json_object_set_new(body, "signature_farmer", json_object());
    set_next_action(w, na);
    wls->n++;
    return w;
}

void sim_workloads_post(gs_http_req_t *r, void *ud)
{
    struct sim_workloads *wls = store_of(r, ud);
    sim_refusal_t f = {0};
    request_t q = {0};
    json_t *body = NULL;
    workload_t *w;
    int64_t signer;
    bool carried;
    if (wls == NULL)
        return;
    if (!authenticate(wls, r, &signer, &f)) {
        gs_http_reply_error(r, f.status, "%s", f.diag.msg);
        return;
    }
    if ((body = sim_http_body(r, SIM_WORKLOADS_MAX_BODY, NULL)) == NULL)
        return;
    gs_buf_init(&q.p.ch, CHALLENGE_MAX);
    if (!check_workload(wls, body, signer, &q, &f)) {
        gs_http_reply_error(r, f.status, "%s", f.diag.msg);
        goto out;
    }
    if (wls->n >= MAX_WORKLOADS) {
        gs_http_reply_error(r, 503, "the workloads are full (%d)", MAX_WORKLOADS);
        goto out;
    }
    carried = sim_registry_pool_can_carry(wls->ctx->registry, q.pool_id, q.p.cu, q.p.su, 0, 120);
    if ((w = store(wls, body, &q, carried ? SIM_NA_DEPLOY : SIM_NA_INVALID)) == NULL) {
        gs_http_reply_error(r, 500, "out of memory");
        goto out;
    }
    if (!carried) {
        save(wls, w);
        gs_http_reply_error(r, 402, "pool needs additional capacity to support this workload");
        goto out;
    }
    sim_store_begin(wls->ctx->store);
    if (sim_registry_pool_activate(wls->ctx->registry, w->pool_id, w->id, w->cu, w->su, 0) == GS_OK)
        w->active = true;
    sim_agents_provision(wls->ctx, w->doc); /* 0-db and container workloads */
    save(wls, w);
    sim_store_commit(wls->ctx->store);
    gs_http_reply_json(r, 201, json_pack("{s:I}", "reservation_id", (json_int_t)w->id));
out:
    gs_buf_free(&q.p.ch);
    json_decref(body);
}

/* ---- reads --------------------------------------------------------------------------------- */

/* Path parameter 0 as a workload; NULL after answering 400 or 404. */
static workload_t *param_workload(struct sim_workloads *wls, gs_http_req_t *r)
{
    int64_t id;
    workload_t *w;
    if (!whole(gs_http_req_param(r, 0), &id)) {
        gs_http_reply_error(r, 400, "id: must be an integer");
        return NULL;
    }
    if ((w = find(wls, id)) == NULL)
        gs_http_reply_error(r, 404, "workload not found");
    return w;
}

void sim_workloads_get(gs_http_req_t *r, void *ud)
{
    struct sim_workloads *wls = store_of(r, ud);
    workload_t *w;
    if (wls && (w = param_workload(wls, r)) != NULL)
        gs_http_reply_json(r, 200, json_incref(w->doc));
}

/* An optional whole-number query parameter from min to max; false after answering 400. */
static bool query_int(gs_http_req_t *r, const char *name, int64_t min, int64_t max, int64_t *out)
{
    char v[32], big[1024];
    bool too_long = false;
    if (!gs_http_req_query(r, name, v, sizeof v)) {
        too_long = gs_http_req_query(r, name, big, sizeof big);
        if (!too_long)
            return true; /* absent */
    }
    if (too_long || !whole(v, out) || *out < min || *out > max) {
        gs_http_reply_error(r, 400, "query parameter '%s': expected an integer from %lld to %lld",
                            name, (long long)min, (long long)max);
        return false;
    }
    return true;
}

void sim_workloads_get_list(gs_http_req_t *r, void *ud)
{
    struct sim_workloads *wls = store_of(r, ud);
    int64_t tid = -1, na = -1, type = -1, page = 1, size = SIM_PAGE_DEFAULT;
    size_t matched = 0, first;
    char pages[32];
    json_t *out;
    if (wls == NULL || !query_int(r, "customer_tid", 0, INT64_MAX, &tid) ||
        !query_int(r, "next_action", 0, 7, &na) || !query_int(r, "workload_type", 0, 12, &type) ||
        !query_int(r, "page", 1, 1000000000, &page) ||
        !query_int(r, "size", 1, SIM_PAGE_MAX, &size))
        return;
    out = json_array();
    first = (size_t)(page - 1) * (size_t)size;
    for (size_t i = 0; i < wls->n; i++) {
        const workload_t *w = &wls->items[i];
        if ((tid >= 0 && w->customer_tid != tid) || (na >= 0 && w->next_action != na) ||
            (type >= 0 && w->type != type))
            continue;
        if (matched >= first && matched < first + (size_t)size)
            json_array_append(out, w->doc);
        matched++;
    }
    snprintf(pages, sizeof pages, "%zu", matched ? (matched + (size_t)size - 1) / (size_t)size : 1);
    gs_http_add_header(r, "Pages", pages);
    gs_http_reply_json(r, 200, out);
}

/* ---- deletion ------------------------------------------------------------------------------ */

static void delete_workload(struct sim_workloads *wls, workload_t *w)
{
    set_next_action(w, SIM_NA_DELETE);
    if (w->active && sim_registry_pool_deactivate(wls->ctx->registry, w->pool_id, w->id, w->cu,
                                                  w->su, 0) == GS_OK)
        w->active = false;
    sim_agents_deprovision(wls->ctx, w->doc);
    set_next_action(w, SIM_NA_DELETED);
    save(wls, w);
    gs_log(GS_LOG_INFO, "workloads: workload %lld deleted", (long long)w->id);
}

void sim_workloads_on_pool_dry(sim_ctx_t *ctx, const sim_pool_t *pool, void *arg)
{
    struct sim_workloads *wls = ctx->workloads;
    int64_t pool_id = pool->id;
    bool no_cu = pool->cus <= 0, no_su = pool->sus <= 0;
    (void)arg;
    if (wls == NULL)
        return;
    for (size_t i = 0; i < wls->n; i++) {
        workload_t *w = &wls->items[i];
        if (w->pool_id != pool_id || w->next_action != SIM_NA_DEPLOY)
            continue;
        if ((no_cu && w->cu > 0) || (no_su && w->su > 0))
            delete_workload(wls, w);
    }
}

/* ---- sign/delete and sign/provision -------------------------------------------------------- */

static bool in_signers(const json_t *request, int64_t tid)
{
    json_t *s;
    size_t i;
    json_array_foreach(json_object_get(request, "signers"), i, s)
    {
        if (json_integer_value(s) == tid)
            return true;
    }
    return false;
}

static bool already_signed(const json_t *sigs, int64_t tid)
{
    json_t *s;
    size_t i;
    json_array_foreach(sigs, i, s)
    {
        if (json_integer_value(json_object_get(s, "tid")) == tid)
            return true;
    }
    return false;
}

static const char *const sign_fields[] = {"tid", "signature", "epoch", NULL};

/* Checks and records one signature of `what` ("delete" or "provision"). */
static bool add_signature(struct sim_workloads *wls, workload_t *w, const json_t *body,
                          const char *what, sim_refusal_t *f)
{
    char request_key[48], sigs_key[48], suffix[48];
    const char *sig;
    int64_t tid, epoch;
    json_t *sigs;
    snprintf(request_key, sizeof request_key, "signing_request_%s", what);
    snprintf(sigs_key, sizeof sigs_key, "signatures_%s", what);
    if (!req_int(body, NULL, "tid", 1, INT64_MAX, &tid, f) ||
        !req_str(body, NULL, "signature", 2 * crypto_sign_BYTES, &sig, f) ||
        !req_int(body, NULL, "epoch", 0, INT64_MAX / 2, &epoch, f))
        return false;
    if (w->next_action > SIM_NA_DEPLOY)
        return sim_refuse(f, 400, "workload %lld is not deployed (next_action %d)",
                          (long long)w->id, w->next_action);
    if (!in_signers(json_object_get(w->doc, request_key), tid))
        return sim_refuse(f, 401, "tid: %lld is not a signer of %s", (long long)tid, request_key);
    sigs = json_object_get(w->doc, sigs_key);
    if (already_signed(sigs, tid))
        return sim_refuse(f, 400, "tid: %lld already signed", (long long)tid);
    snprintf(suffix, sizeof suffix, "%s%lld", what, (long long)tid);
    if (!signed_by(wls, tid, w->challenge, strlen(w->challenge), suffix, sig))
        return sim_refuse(f, 401, "signature: does not verify with the key of tid %lld",
                          (long long)tid);
    json_array_append_new(sigs, json_pack("{s:I, s:s, s:I}", "tid", (json_int_t)tid, "signature",
                                          sig, "epoch", (json_int_t)epoch));
    return true;
}

static void sign(gs_http_req_t *r, void *ud, const char *what)
{
    struct sim_workloads *wls = store_of(r, ud);
    sim_refusal_t f = {0};
    workload_t *w;
    json_t *body;
    if (wls == NULL || (w = param_workload(wls, r)) == NULL ||
        (body = sim_http_body(r, SIM_WORKLOADS_MAX_BODY, sign_fields)) == NULL)
        return;
    if (!add_signature(wls, w, body, what, &f)) {
        gs_http_reply_error(r, f.status, "%s", f.diag.msg);
    } else {
        sim_store_begin(wls->ctx->store);
        save(wls, w);
        if (strcmp(what, "delete") == 0) {
            json_int_t quorum = json_integer_value(
                json_object_get(json_object_get(w->doc, "signing_request_delete"), "quorum_min"));
            if (json_array_size(json_object_get(w->doc, "signatures_delete")) >=
                (size_t)(quorum > 1 ? quorum : 1))
                delete_workload(wls, w);
        }
        sim_store_commit(wls->ctx->store);
        gs_http_reply_json(r, 201, json_object());
    }
    json_decref(body);
}

void sim_workloads_sign_delete(gs_http_req_t *r, void *ud)
{
    sign(r, ud, "delete");
}

void sim_workloads_sign_provision(gs_http_req_t *r, void *ud)
{
    sign(r, ud, "provision");
}

/* ---- life ---------------------------------------------------------------------------------- */

int sim_workloads_new(sim_ctx_t *ctx, struct sim_workloads **out, gs_diag_t *diag)
{
    struct sim_workloads *wls = calloc(1, sizeof *wls);
    *out = NULL;
    if (wls == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    wls->ctx = ctx;
    wls->next_id = 1;
    *out = wls;
    return GS_OK;
}

void sim_workloads_free(struct sim_workloads *wls)
{
    if (wls == NULL)
        return;
    for (size_t i = 0; i < wls->n; i++) {
        free(wls->items[i].challenge);
        json_decref(wls->items[i].doc);
    }
    free(wls->items);
    free(wls);
}
