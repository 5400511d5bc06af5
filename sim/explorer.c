/* explorer.c — the explorer v2 read API of the local grid: nodes (filtered on
 * total resources like the real explorer, paged with a Pages header), farms and
 * prices, under /api/v1 and the legacy /explorer prefix; the phonebook and capacity
 * pools (registry.c) and the workloads (workloads.c) share the route table. */
#include "explorer.h"
#include "ctx.h"
#include "registry.h"
#include "workloads.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *res_json(const sim_res_t *r)
{
    return json_pack("{s:f, s:f, s:f, s:f}", "cru", r->cru, "mru", r->mru, "hru", r->hru, "sru",
                     r->sru);
}

static json_t *workloads_json(void)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "network", 0,
                     "network_resource", 0, "volume", 0, "zdb_namespace", 0, "container", 0,
                     "k8s_vm", 0, "generic_vm", 0, "proxy", 0, "reverse_proxy", 0, "subdomain", 0,
                     "delegate_domain", 0);
}

static json_t *node_json(const sim_world_t *w, const sim_node_t *n)
{
    int64_t updated = sim_node_updated(w, n);
    return json_pack(
        "{s:I, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:s, s:{s:s, s:s, s:s, s:f, s:f}, "
        "s:o, s:o, s:o, s:o, s:[], s:[], s:{s:s, s:i, s:s, s:s, s:s, s:s, s:i}, s:b, s:b, "
        "s:s, s:[], s:b, s:b}",
        "id", (json_int_t)n->id, "node_id", n->node_id, "hostname", "", "node_id_v1", "", "farm_id",
        (json_int_t)n->farm_id, "os_version", "v2.4.7", "created", (json_int_t)n->created,
        "updated", (json_int_t)updated, "uptime",
        (json_int_t)(n->down_since ? 0 : updated - n->created), "address", "", "location", "city",
        n->city, "country", n->country, "continent", n->continent, "latitude", n->latitude,
        "longitude", n->longitude, "total_resources", res_json(&n->total), "used_resources",
        res_json(&n->used), "reserved_resources", res_json(&n->reserved), "workloads",
        workloads_json(), "proofs", "ifaces", "public_config", "master", "", "type", 0, "ipv4", "",
        "ipv6", "", "gw4", "", "gw6", "", "version", 0, "free_to_use", 0, "approved", 1,
        "public_key_hex", n->public_key_hex, "wg_ports", "deleted", n->deleted, "reserved", 0);
}

static json_t *farm_json(const sim_farm_t *f)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:[{s:s, s:s}], s:{s:s, s:s, s:s, s:f, s:f}, s:s, "
                     "s:[], s:s, s:[], s:b, s:{s:i, s:i, s:i, s:i, s:i}, s:b}",
                     "id", (json_int_t)f->id, "threebot_id", (json_int_t)f->id, "iyo_organization",
                     "", "name", f->name, "wallet_addresses", "asset", "TFT", "address", f->wallet,
                     "location", "city", f->city, "country", f->country, "continent", "",
                     "latitude", 0.0, "longitude", 0.0, "email", "", "resource_prices",
                     "prefix_zero", "", "ipaddresses", "enable_custom_pricing", 0,
                     "farm_cloudunits_price", "currency", 0, "cu", 10, "su", 8, "nu", 0, "ipv4u", 6,
                     "is_grid3_compliant", 0);
}

/* ---- query parameters --------------------------------------------------------------------- */

typedef struct {
    int64_t farm;
    char country[64], city[64];
    double cru, mru, hru, sru;
    long page, size;
    bool deleted;
} node_query_t;

/* Reads a number parameter; false (after answering 400) when it is malformed. */
static bool query_number(gs_http_req_t *r, const char *name, double min, double max, double *out)
{
    char v[64], *end;
    double d;
    if (!gs_http_req_query(r, name, v, sizeof v))
        return true;
    errno = 0;
    d = strtod(v, &end);
    if (end == v || *end || errno || !(d >= min && d <= max)) {
        gs_http_reply_error(r, 400, "query parameter '%s': expected a number from %g to %g", name,
                            min, max);
        return false;
    }
    *out = d;
    return true;
}

static bool query_paging(gs_http_req_t *r, long *page, long *size)
{
    double p = 1, s = SIM_PAGE_DEFAULT;
    if (!query_number(r, "page", 1, 1e9, &p) || !query_number(r, "size", 1, SIM_PAGE_MAX, &s))
        return false;
    *page = (long)p;
    *size = (long)s;
    return true;
}

/* An optional text filter: absent is fine; given, it must be 1 to len-1 bytes (else 400). */
static bool text_filter(gs_http_req_t *r, const char *name, char *out, size_t len)
{
    bool got = gs_http_req_query(r, name, out, len);
    if (!got)
        out[0] = '\0';
    if (gs_http_req_has_query(r, name) && (!got || !out[0])) {
        gs_http_reply_error(r, 400, "%s: must be 1 to %zu bytes when given", name, len - 1);
        return false;
    }
    return true;
}

static bool parse_node_query(gs_http_req_t *r, node_query_t *q)
{
    double farm = 0;
    char flag[16];
    memset(q, 0, sizeof *q);
    if (!query_number(r, "farm", 0, 9e15, &farm) || !query_number(r, "cru", 0, 1e9, &q->cru) ||
        !query_number(r, "mru", 0, 1e9, &q->mru) || !query_number(r, "hru", 0, 1e12, &q->hru) ||
        !query_number(r, "sru", 0, 1e12, &q->sru) || !query_paging(r, &q->page, &q->size))
        return false;
    q->farm = (int64_t)farm;
    if (!text_filter(r, "country", q->country, sizeof q->country) ||
        !text_filter(r, "city", q->city, sizeof q->city))
        return false;
    q->deleted = gs_http_req_query(r, "deleted", flag, sizeof flag) && strcmp(flag, "true") == 0;
    return true;
}

static bool node_matches(const node_query_t *q, const sim_node_t *n)
{
    if (n->deleted && !q->deleted)
        return false;
    if (q->farm && n->farm_id != q->farm)
        return false;
    if (q->country[0] && !gs_strieq(q->country, n->country))
        return false;
    if (q->city[0] && !gs_strieq(q->city, n->city))
        return false;
    /* Like the real explorer: totals, not free capacity. */
    return n->total.cru >= q->cru && n->total.mru >= q->mru && n->total.hru >= q->hru &&
           n->total.sru >= q->sru;
}

static void set_pages(gs_http_req_t *r, size_t matched, long size)
{
    char pages[32];
    snprintf(pages, sizeof pages, "%ld", (long)((matched + (size_t)size - 1) / (size_t)size));
    gs_http_add_header(r, "Pages", matched ? pages : "1");
}

/* ---- handlers ----------------------------------------------------------------------------- */

static void get_nodes(gs_http_req_t *r, void *ud)
{
    sim_world_t *w = &((sim_ctx_t *)ud)->world;
    node_query_t q;
    json_t *out;
    size_t matched = 0, first;
    if (!parse_node_query(r, &q))
        return;
    out = json_array();
    first = (size_t)(q.page - 1) * (size_t)q.size;
    for (size_t i = 0; i < w->n_nodes; i++) {
        if (!node_matches(&q, &w->nodes[i]))
            continue;
        if (matched >= first && matched < first + (size_t)q.size)
            json_array_append_new(out, node_json(w, &w->nodes[i]));
        matched++;
    }
    set_pages(r, matched, q.size);
    gs_http_reply_json(r, 200, out);
}

static void get_node(gs_http_req_t *r, void *ud)
{
    sim_world_t *w = &((sim_ctx_t *)ud)->world;
    sim_node_t *n = sim_world_node(w, gs_http_req_param(r, 0));
    if (n == NULL)
        gs_http_reply_error(r, 404, "node not found");
    else
        gs_http_reply_json(r, 200, node_json(w, n));
}

static void get_farms(gs_http_req_t *r, void *ud)
{
    sim_world_t *w = &((sim_ctx_t *)ud)->world;
    char name[128];
    bool by_name;
    long page, size;
    size_t matched = 0, first;
    json_t *out;
    if (!text_filter(r, "name", name, sizeof name) || !query_paging(r, &page, &size))
        return;
    by_name = name[0] != '\0';
    out = json_array();
    first = (size_t)(page - 1) * (size_t)size;
    for (size_t i = 0; i < w->n_farms; i++) {
        if (by_name && strcmp(name, w->farms[i].name) != 0)
            continue;
        if (matched >= first && matched < first + (size_t)size)
            json_array_append_new(out, farm_json(&w->farms[i]));
        matched++;
    }
    set_pages(r, matched, size);
    gs_http_reply_json(r, 200, out);
}

static void get_farm(gs_http_req_t *r, void *ud)
{
    sim_world_t *w = &((sim_ctx_t *)ud)->world;
    char *end;
    long long id = strtoll(gs_http_req_param(r, 0), &end, 10);
    const sim_farm_t *f = *end ? NULL : sim_world_farm(w, id);
    if (f == NULL)
        gs_http_reply_error(r, 404, "farm not found");
    else
        gs_http_reply_json(r, 200, farm_json(f));
}

static void get_prices(gs_http_req_t *r, void *ud)
{
    sim_world_t *w = &((sim_ctx_t *)ud)->world;
    double d = sim_price_divisor(w);
    gs_http_reply_json(r, 200,
                       json_pack("{s:f, s:f, s:i, s:f}", "CuPriceDollarMonth",
                                 SIM_CU_PRICE_DOLLAR_MONTH / d, "SuPriceDollarMonth",
                                 SIM_SU_PRICE_DOLLAR_MONTH / d, "TftPriceMill", SIM_TFT_PRICE_MILL,
                                 "IP4uPriceDollarMonth", SIM_IPV4U_PRICE_DOLLAR_MONTH / d));
}

#define READ_ROUTES(prefix)                                                                        \
    {"GET", prefix "/nodes", get_nodes, 0}, {"GET", prefix "/nodes/{}", get_node, 0},              \
        {"GET", prefix "/farms", get_farms, 0}, {"GET", prefix "/farms/{}", get_farm, 0},          \
    {                                                                                              \
        "GET", prefix "/prices", get_prices, 0                                                     \
    }

const gs_http_route_t sim_explorer_routes[] = {
    READ_ROUTES("/api/v1"),
    READ_ROUTES("/explorer"),
    SIM_REGISTRY_ROUTES("/api/v1"),
    SIM_REGISTRY_ROUTES("/explorer"),
    SIM_WORKLOADS_ROUTES("/api/v1"),
    SIM_WORKLOADS_ROUTES("/explorer"),
    {NULL},
};
