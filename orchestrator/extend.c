/* extend.c — POST /api/v1/deployments/{name}/extend {"by": "30d"}: more time for a
 * deployed deployment's capacity pools. Each pool's active units over the extra time,
 * at the grid's current prices, are paid through the same sign-and-pay path as the
 * deployment itself: one signandpay document paying this install's wallet. Once the app
 * signed and paid it, the deployment goes back to `paid` and the deployer reserves each
 * pool's extension (a pool reservation naming the pool it extends) and pays its escrow
 * from the wallet, then returns to `deployed`. */
#include "daemon.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXTEND_MAX_BODY 4096
#define EXTEND_MIN_S    3600
#define EXTEND_MAX_S    (5 * 365 * 86400)

typedef struct {
    uint64_t by_s;
} extend_args_t;

static const gs_cfg_key_t extend_keys[] = {
    {"by", GS_CFG_DURATION, offsetof(extend_args_t, by_s), EXTEND_MIN_S, EXTEND_MAX_S,
     .required = true},
    {NULL},
};

int gs_api_order_args(gs_http_req_t *r, const gs_cfg_key_t *keys, void *args, const char *hint,
                      gs_diag_t *diag)
{
    size_t len = 0;
    const char *body = gs_http_req_body(r, &len);
    gs_yaml_node_t *root = NULL;
    gs_cfg_ctx_t ctx = {.file = "request"};
    int err = len ? gs_yaml_parse(body, len, "request", &root, diag)
                  : gs_diag_set(diag, GS_EINVAL, "%s", hint);
    if (err == GS_OK)
        err = root->kind == GS_YAML_MAP ? gs_cfg_apply(&ctx, keys, root, args, "", diag)
                                        : gs_diag_set(diag, GS_EINVAL, "%s", hint);
    gs_cfg_ctx_free(&ctx);
    gs_yaml_free(root);
    return err;
}

/* Each paid plan pool with its active units and reservation id. */
static int pools_of(gs_daemon_t *d, const json_t *dep, gs_extension_t *e)
{
    const json_t *plan_pools = json_object_get(json_object_get(dep, "plan_json"), "pools"), *p;
    json_t *rows = gs_store_pools(d->store, gs_json_str(dep, "name"));
    size_t i;
    e->pools = calloc(json_array_size(plan_pools) + 1, sizeof *e->pools);
    json_array_foreach(rows, i, p)
    {
        const json_t *plan_pool = json_array_get(plan_pools, i);
        gs_ext_pool_t *x;
        if (e->pools == NULL || json_is_object(json_object_get(p, "spec_json")) ||
            plan_pool == NULL || strcmp(gs_json_str(p, "state"), "paid") != 0)
            continue;
        x = &e->pools[e->n_pools++];
        gs_json_int(p, "reservation_id", &x->pool_id);
        gs_json_int(p, "farm_id", &x->farm_id);
        x->cu_milli =
            (uint64_t)llround(json_number_value(json_object_get(plan_pool, "active_cu")) * 1000);
        x->su_milli =
            (uint64_t)llround(json_number_value(json_object_get(plan_pool, "active_su")) * 1000);
    }
    json_decref(rows);
    return e->pools ? GS_OK : GS_ENOMEM;
}

/* The pool rows to store: each extension with the pool's node list (all of it: an
 * extension may add nodes but never drop one). */
static json_t *ordered_pools(const json_t *dep, const gs_extension_t *e)
{
    const json_t *plan_pools = json_object_get(json_object_get(dep, "plan_json"), "pools"), *pp;
    json_t *out = json_array();
    size_t i;
    for (size_t k = 0; k < e->n_pools; k++) {
        const gs_ext_pool_t *x = &e->pools[k];
        json_array_foreach(plan_pools, i, pp)
        {
            if (json_integer_value(json_object_get(pp, "farm_id")) != x->farm_id)
                continue;
            json_array_append_new(out, json_pack("{s:I, s:{s:I, s:I, s:O, s:I, s:I}}", "farm_id",
                                                 (json_int_t)x->farm_id, "spec", "pool_id",
                                                 (json_int_t)x->pool_id, "farm_id",
                                                 (json_int_t)x->farm_id, "node_ids",
                                                 json_object_get(pp, "node_ids"), "cus",
                                                 (json_int_t)x->cus, "sus", (json_int_t)x->sus));
            break;
        }
    }
    return out;
}

json_t *gs_api_session_of(gs_daemon_t *d, const char *name, const char *session)
{
    json_t *all = gs_store_sessions(d->store, name), *one = json_array(), *s;
    size_t i;
    json_array_foreach(all, i, s)
    {
        if (strcmp(gs_json_str(s, "id"), session) == 0)
            json_array_append(one, s);
    }
    json_decref(all);
    return one;
}

static json_t *answer(gs_daemon_t *d, const char *name, const gs_extension_t *e,
                      const char *session)
{
    json_t *pools = json_array(), *sessions;
    char total[32];
    for (size_t i = 0; i < e->n_pools; i++)
        json_array_append_new(pools, json_pack("{s:I, s:I, s:I, s:I, s:I}", "pool_id",
                                               (json_int_t)e->pools[i].pool_id, "farm_id",
                                               (json_int_t)e->pools[i].farm_id, "cus",
                                               (json_int_t)e->pools[i].cus, "sus",
                                               (json_int_t)e->pools[i].sus, "amount_stropes",
                                               (json_int_t)e->pools[i].amount));
    gs_format_tft(e->total, total, sizeof total);
    sessions = gs_api_session_of(d, name, session);
    return json_pack("{s:s, s:{s:I, s:s, s:I, s:o}, s:o}", "name", name, "extension", "by_s",
                     (json_int_t)e->by_s, "total", total, "total_stropes", (json_int_t)e->total,
                     "pools", pools, "sessions", gs_api_session_links(d, sessions));
}

int gs_api_order_document(gs_daemon_t *d, gs_extension_t *e, gs_order_doc_t *doc, gs_diag_t *diag)
{
    gs_prices_t prices = d->view.grid.have_prices ? d->view.grid.prices : gs_prices_default();
    gs_doc_opts_t o = {.qr_limit = (size_t)d->cfg.qr_limit,
                       .destination = d->identity.address,
                       .callback_base = d->cfg.public_url};
    uint64_t cu_rate, su_rate;
    int err;
    gs_unit_rates(&prices, &cu_rate, &su_rate);
    gs_extension_price(e, cu_rate, su_rate);
    if ((err = gs_extension_document(e, &o, doc->session, &doc->json, &doc->dts, diag)) != GS_OK)
        return err;
    snprintf(doc->memo, sizeof doc->memo, "gs-%s", doc->session);
    doc->row = (gs_store_session_t){.id = doc->session,
                                    .document = doc->json,
                                    .data_to_sign = doc->dts,
                                    .amount = e->total,
                                    .memo = doc->memo};
    return GS_OK;
}

void gs_api_order_free(gs_order_doc_t *doc)
{
    free(doc->json);
    free(doc->dts);
    doc->json = doc->dts = NULL;
}

/* Prices the extension, makes its document and stores it with its pools. */
static int order(gs_daemon_t *d, const json_t *dep, gs_extension_t *e, char *session,
                 gs_diag_t *diag)
{
    gs_order_doc_t doc = {0};
    json_t *rows;
    int err = gs_api_order_document(d, e, &doc, diag);
    if (err != GS_OK)
        return err;
    rows = ordered_pools(dep, e);
    err = gs_store_extension_add(d->store, gs_json_str(dep, "name"), &doc.row, rows, diag);
    snprintf(session, GS_SESSION_LEN + 1, "%s", doc.session);
    json_decref(rows);
    gs_api_order_free(&doc);
    return err;
}

json_t *gs_api_order_target(gs_daemon_t *d, gs_http_req_t *r, const char *verb)
{
    const char *name = gs_http_req_param(r, 0);
    json_t *dep;
    if (!gs_daemon_authorized(d, r))
        return NULL;
    if ((dep = gs_store_deployment(d->store, name)) == NULL) {
        gs_http_reply_error(r, 404, "no deployment named '%s'; see GET /api/v1/deployments", name);
        return NULL;
    }
    if (strcmp(gs_json_str(dep, "state"), "deployed") != 0) {
        gs_http_reply_error(r, 409, "%s is %s: only a deployed deployment can be %s", name,
                            gs_json_str(dep, "state"), verb);
        json_decref(dep);
        return NULL;
    }
    return dep;
}

void gs_api_extend(gs_http_req_t *r, void *ud)
{
    gs_daemon_t *d = ud;
    const char *name = gs_http_req_param(r, 0);
    extend_args_t args = {0};
    gs_extension_t e = {0};
    gs_diag_t diag = {{0}};
    char session[GS_SESSION_LEN + 1];
    json_t *dep = gs_api_order_target(d, r, "extended");
    if (dep == NULL)
        return;
    if (gs_api_order_args(r, extend_keys, &args, "send {\"by\": \"30d\"}: how much longer",
                          &diag) != GS_OK)
        gs_http_reply_error(r, 400, "%s", diag.msg);
    else {
        e.name = name;
        e.owner = gs_json_str(dep, "owner");
        e.by_s = args.by_s;
        if (pools_of(d, dep, &e) != GS_OK || e.n_pools == 0)
            gs_http_reply_error(r, 409, "%s has no paid pool to extend", name);
        else if (order(d, dep, &e, session, &diag) != GS_OK)
            gs_http_reply_error(r, 500, "%s", diag.msg);
        else
            gs_daemon_reply_synced(d, r, 201, answer(d, name, &e, session));
    }
    free(e.pools);
    json_decref(dep);
}
