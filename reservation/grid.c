/* grid.c — the grid as the explorer v2 describes it: nodes, farms and prices read
 * from files or from an explorer (every /nodes page), each element checked to be
 * in the explorer's shape, and the capacity arithmetic its clients use. */
#include "reservation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#define MAX_NODES       200000
#define MAX_PAGES       1000
#define PAGE_SIZE       1000
#define HTTP_TIMEOUT_MS 30000

gs_prices_t gs_prices_default(void)
{
    gs_prices_t p = {.cu_usd_month = 10, .su_usd_month = 8, .ipv4u_usd_month = 6, .tft_mill = 100};
    return p;
}

static int shape_error(gs_diag_t *diag, const char *what, size_t i, const char *field,
                       const char *expected)
{
    return gs_diag_set(diag, GS_EGRID, "%s: element %zu is not an explorer node: '%s' should be %s",
                       what, i, field, expected);
}

static bool read_res(const json_t *obj, gs_res_t *r)
{
    static const char *const keys[] = {"cru", "mru", "hru", "sru"};
    double *fields[] = {&r->cru, &r->mru, &r->hru, &r->sru};
    if (!json_is_object(obj))
        return false;
    for (size_t k = 0; k < 4; k++)
        if (!gs_json_num(obj, keys[k], fields[k]))
            return false;
    return true;
}

static char *location_field(const json_t *node, const char *key)
{
    const char *v = gs_json_str(json_object_get(node, "location"), key);
    return gs_strdup(v ? v : "");
}

static int read_node(const json_t *j, size_t i, const char *what, gs_node_t *n, gs_diag_t *diag)
{
    const char *id = gs_json_str(j, "node_id");
    const json_t *deleted = json_object_get(j, "deleted");
    const char *pk = gs_json_str(j, "public_key_hex");
    memset(n, 0, sizeof *n);
    if (!json_is_object(j))
        return gs_diag_set(diag, GS_EGRID, "%s: element %zu is not an object", what, i);
    if (id == NULL || id[0] == '\0' || strlen(id) > 128)
        return shape_error(diag, what, i, "node_id", "a non-empty string");
    if (!gs_json_int(j, "farm_id", &n->farm_id))
        return shape_error(diag, what, i, "farm_id", "an integer");
    if (!gs_json_int(j, "updated", &n->updated))
        return shape_error(diag, what, i, "updated", "a unix time");
    if (!read_res(json_object_get(j, "total_resources"), &n->total))
        return shape_error(diag, what, i, "total_resources", "an object with cru, mru, hru, sru");
    if (!read_res(json_object_get(j, "reserved_resources"), &n->reserved))
        return shape_error(diag, what, i, "reserved_resources",
                           "an object with cru, mru, hru, sru");
    if (deleted != NULL && !json_is_boolean(deleted))
        return shape_error(diag, what, i, "deleted", "true or false");
    n->deleted = json_is_true(deleted);
    n->node_id = gs_strdup(id);
    n->public_key_hex = gs_strdup(pk ? pk : "");
    n->country = location_field(j, "country");
    n->city = location_field(j, "city");
    if (!n->node_id || !n->public_key_hex || !n->country || !n->city)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    return GS_OK;
}

static void node_free(gs_node_t *n)
{
    free(n->node_id);
    free(n->public_key_hex);
    free(n->country);
    free(n->city);
}

static bool have_node(const gs_grid_t *g, const char *id)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].node_id, id) == 0)
            return true;
    return false;
}

/* Checks that `list` is a JSON array and makes room for its elements in *items. */
static int make_room(const json_t *list, const char *kind, void **items, size_t have, size_t elem,
                     const char *what, gs_diag_t *diag)
{
    size_t n = json_array_size(list);
    void *grown;
    if (!json_is_array(list))
        return gs_diag_set(diag, GS_EGRID, "%s: not an explorer %s list (a JSON array)", what,
                           kind);
    if (have + n > MAX_NODES)
        return gs_diag_set(diag, GS_ETOOBIG, "%s: more than %d %ss", what, MAX_NODES, kind);
    grown = realloc(*items, (have + n + 1) * elem);
    if (grown == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    *items = grown;
    return GS_OK;
}

int gs_grid_add_nodes(gs_grid_t *g, const json_t *nodes, const char *what, gs_diag_t *diag)
{
    size_t n = json_array_size(nodes);
    int err =
        make_room(nodes, "node", (void **)&g->nodes, g->n_nodes, sizeof *g->nodes, what, diag);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        gs_node_t node;
        err = read_node(json_array_get(nodes, i), i, what, &node, diag);
        if (err) {
            node_free(&node);
            return err;
        }
        if (have_node(g, node.node_id)) { /* pages may overlap while the list moves */
            node_free(&node);
            continue;
        }
        g->nodes[g->n_nodes++] = node;
    }
    return GS_OK;
}

int gs_grid_add_farms(gs_grid_t *g, const json_t *farms, const char *what, gs_diag_t *diag)
{
    size_t n = json_array_size(farms);
    int err =
        make_room(farms, "farm", (void **)&g->farms, g->n_farms, sizeof *g->farms, what, diag);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(farms, i);
        const char *name = gs_json_str(f, "name");
        gs_farm_t farm = {0};
        if (!gs_json_int(f, "id", &farm.id) || name == NULL || strlen(name) > 256)
            return gs_diag_set(diag, GS_EGRID,
                               "%s: element %zu is not an explorer farm (needs an integer 'id' "
                               "and a 'name')",
                               what, i);
        if (gs_grid_farm(g, farm.id))
            continue;
        farm.name = gs_strdup(name);
        if (farm.name == NULL)
            return gs_diag_set(diag, GS_ENOMEM, "out of memory");
        g->farms[g->n_farms++] = farm;
    }
    return GS_OK;
}

int gs_grid_set_prices(gs_grid_t *g, const json_t *prices, const char *what, gs_diag_t *diag)
{
    gs_prices_t p = gs_prices_default();
    if (!json_is_object(prices) || !gs_json_num(prices, "CuPriceDollarMonth", &p.cu_usd_month) ||
        !gs_json_num(prices, "SuPriceDollarMonth", &p.su_usd_month) ||
        !gs_json_num(prices, "TftPriceMill", &p.tft_mill))
        return gs_diag_set(diag, GS_EGRID,
                           "%s: not the explorer's /prices answer (needs CuPriceDollarMonth, "
                           "SuPriceDollarMonth and TftPriceMill)",
                           what);
    gs_json_num(prices, "IP4uPriceDollarMonth", &p.ipv4u_usd_month);
    if (!(p.cu_usd_month >= 0 && p.su_usd_month >= 0 && p.tft_mill > 0 && p.cu_usd_month < 1e6 &&
          p.su_usd_month < 1e6 && p.tft_mill < 1e9))
        return gs_diag_set(diag, GS_EGRID, "%s: prices out of range", what);
    g->prices = p;
    g->have_prices = true;
    return GS_OK;
}

typedef int (*add_fn)(gs_grid_t *, const json_t *, const char *, gs_diag_t *);

static int add_text(gs_grid_t *g, const char *text, size_t len, const char *what, add_fn add,
                    gs_diag_t *diag)
{
    json_t *j = NULL;
    int err = gs_json_parse(text, len, GS_GRID_MAX_BYTES, what, &j, diag);
    if (err == GS_EPARSE)
        err = GS_EGRID;
    if (err == GS_OK)
        err = add(g, j, what, diag);
    json_decref(j);
    return err;
}

static int add_file(gs_grid_t *g, const char *path, add_fn add, gs_diag_t *diag)
{
    gs_buf_t text;
    int err;
    gs_buf_init(&text, GS_GRID_MAX_BYTES);
    err = gs_file_read(path, GS_GRID_MAX_BYTES, &text, diag);
    if (err == GS_OK)
        err = add_text(g, text.data, text.len, path, add, diag);
    gs_buf_free(&text);
    return err;
}

int gs_grid_load_files(gs_grid_t *g, const char *nodes, const char *farms, const char *prices,
                       gs_diag_t *diag)
{
    int err = add_file(g, nodes, gs_grid_add_nodes, diag);
    if (err == GS_OK && farms)
        err = add_file(g, farms, gs_grid_add_farms, diag);
    if (err == GS_OK && prices)
        err = add_file(g, prices, gs_grid_set_prices, diag);
    if (err == GS_OK && g->now == 0) {
        /* A file is a snapshot: judge liveness at its newest report. */
        for (size_t i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].updated > g->now)
                g->now = g->nodes[i].updated;
    }
    return err;
}

/* ---- reading an explorer ---------------------------------------------------------------- */

/* One fetch: the first round (nodes page 1, farms, prices), then the other node pages
 * concurrently; the answers are added as they arrive, the first failure kept. */
struct gs_grid_fetch {
    gs_grid_t *grid;
    char base[1024];
    gs_http_client_t *client;
    gs_grid_fetch_cb cb;
    void *ud;
    size_t pending;
    long pages;
    int err;
    gs_diag_t diag;
};

typedef struct {
    struct gs_grid_fetch *f;
    add_fn add;
    bool first_nodes_page;
    char url[1200];
} fetch_req_t;

static long pages_of(const gs_http_response_t *r)
{
    char v[32];
    long pages;
    if (!gs_http_header(r, "Pages", v, sizeof v))
        return 1;
    pages = strtol(v, NULL, 10);
    return pages < 1 ? 1 : pages > MAX_PAGES ? MAX_PAGES : pages;
}

static void start_request(struct gs_grid_fetch *f, const char *what, long page, add_fn add,
                          bool first);

static void finish_fetch(struct gs_grid_fetch *f)
{
    if (f->err == GS_OK && f->grid->now == 0)
        f->grid->now = (int64_t)time(NULL);
    f->cb(f->err, &f->diag, f->ud);
    free(f);
}

/* Once the first round is in: the rest of the node pages. */
static void after_answer(struct gs_grid_fetch *f, bool first_nodes_page)
{
    if (first_nodes_page && f->err == GS_OK)
        for (long page = 2; page <= f->pages; page++)
            start_request(f, "nodes", page, gs_grid_add_nodes, false);
    if (f->pending == 0)
        finish_fetch(f);
}

static void on_answer(gs_http_response_t *resp, const char *error, void *ud)
{
    fetch_req_t *q = ud;
    struct gs_grid_fetch *f = q->f;
    f->pending--;
    if (f->err != GS_OK) {
        /* a failure is already kept: the rest only drains */
    } else if (error != NULL) {
        f->err = gs_diag_set(&f->diag, strstr(error, "larger than") ? GS_ETOOBIG : GS_EHTTP,
                             "GET %s: %s", q->url, error);
    } else if (resp->status != 200) {
        f->err = gs_diag_set(&f->diag, GS_EHTTP, "GET %s: HTTP %ld%s%.200s", q->url, resp->status,
                             resp->body.len ? ": " : "", resp->body.data ? resp->body.data : "");
    } else {
        int err = add_text(f->grid, resp->body.data, resp->body.len, q->url, q->add, &f->diag);
        f->err = err == GS_OK || err == GS_ETOOBIG || err == GS_EGRID ? err : GS_EGRID;
        if (q->first_nodes_page)
            f->pages = pages_of(resp);
    }
    after_answer(f, q->first_nodes_page);
    free(q);
}

/* base + "/<what>", with paging when page > 0. */
static void start_request(struct gs_grid_fetch *f, const char *what, long page, add_fn add,
                          bool first)
{
    fetch_req_t *q = calloc(1, sizeof *q);
    gs_http_request_t rq = {.max_body = GS_GRID_MAX_BYTES, .timeout_ms = HTTP_TIMEOUT_MS};
    if (q == NULL) {
        if (f->err == GS_OK)
            f->err = gs_diag_set(&f->diag, GS_ENOMEM, "out of memory");
        return;
    }
    *q = (fetch_req_t){.f = f, .add = add, .first_nodes_page = first};
    if (page > 0)
        snprintf(q->url, sizeof q->url, "%s/%s?page=%ld&size=%d", f->base, what, page, PAGE_SIZE);
    else
        snprintf(q->url, sizeof q->url, "%s/%s", f->base, what);
    rq.url = q->url;
    if (gs_http_send(f->client, &rq, on_answer, q, f->err == GS_OK ? &f->diag : NULL) != GS_OK) {
        f->err = f->err ? f->err : GS_ENOMEM;
        free(q);
        return;
    }
    f->pending++;
}

static int normalise_base(const char *url, char *out, size_t outlen, gs_diag_t *diag)
{
    size_t len = strlen(url);
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return gs_diag_set(diag, GS_EINVAL, "--grid %s: expected an http:// or https:// URL", url);
    while (len && url[len - 1] == '/')
        len--;
    if (len + 8 >= outlen)
        return gs_diag_set(diag, GS_EINVAL, "--grid: URL too long");
    memcpy(out, url, len);
    out[len] = '\0';
    if (len < 7 || strcmp(out + len - 7, "/api/v1") != 0)
        strcat(out, "/api/v1");
    return GS_OK;
}

int gs_grid_fetch_start(gs_http_client_t *client, const char *base_url, gs_grid_t *g,
                        gs_grid_fetch_cb cb, void *ud, gs_diag_t *diag)
{
    char base[1024];
    struct gs_grid_fetch *f;
    int err = normalise_base(base_url, base, sizeof base, diag);
    if (err != GS_OK)
        return err;
    if ((f = calloc(1, sizeof *f)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    *f = (struct gs_grid_fetch){.grid = g, .client = client, .cb = cb, .ud = ud, .pages = 1};
    memcpy(f->base, base, sizeof base);
    start_request(f, "nodes", 1, gs_grid_add_nodes, true);
    start_request(f, "farms", 1, gs_grid_add_farms, false);
    start_request(f, "prices", 0, gs_grid_set_prices, false);
    if (f->pending == 0) { /* nothing could start: nothing will call back */
        err = gs_diag_set(diag, f->err ? f->err : GS_ENOMEM, "%s",
                          f->diag.msg[0] ? f->diag.msg : "cannot start the requests");
        free(f);
        return err;
    }
    return GS_OK; /* a request that could not start leaves its error for cb */
}

typedef struct {
    bool done;
    int err;
    gs_diag_t *diag;
} sync_fetch_t;

static void on_sync_fetched(int err, const gs_diag_t *diag, void *ud)
{
    sync_fetch_t *s = ud;
    s->done = true;
    s->err = err;
    if (err != GS_OK && s->diag)
        *s->diag = *diag;
}

static void on_client_closed(void *arg)
{
    (void)arg;
}

int gs_grid_fetch(gs_grid_t *g, const char *base_url, gs_diag_t *diag)
{
    uv_loop_t loop;
    gs_http_client_t *client;
    sync_fetch_t s = {.diag = diag};
    int err;
    uv_loop_init(&loop);
    err = gs_http_client_new(&loop, &client, diag);
    if (err == GS_OK) {
        if ((err = gs_grid_fetch_start(client, base_url, g, on_sync_fetched, &s, diag)) == GS_OK)
            while (!s.done && uv_run(&loop, UV_RUN_ONCE))
                ;
        gs_http_client_close(client, on_client_closed, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return err == GS_OK ? s.err : err;
}

const gs_farm_t *gs_grid_farm(const gs_grid_t *g, int64_t farm_id)
{
    for (size_t i = 0; i < g->n_farms; i++)
        if (g->farms[i].id == farm_id)
            return &g->farms[i];
    return NULL;
}

bool gs_node_is_up(const gs_grid_t *g, const gs_node_t *n)
{
    return !n->deleted && n->updated >= g->now - GS_UP_WINDOW_S;
}

static double free_of(double total, double reserved)
{
    return total - (reserved > 0 ? reserved : 0);
}

gs_res_t gs_node_free(const gs_node_t *n)
{
    gs_res_t r = {
        free_of(n->total.cru, n->reserved.cru),
        free_of(n->total.mru, n->reserved.mru),
        free_of(n->total.hru, n->reserved.hru),
        free_of(n->total.sru, n->reserved.sru),
    };
    return r;
}

void gs_grid_free(gs_grid_t *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n_nodes; i++)
        node_free(&g->nodes[i]);
    for (size_t i = 0; i < g->n_farms; i++)
        free(g->farms[i].name);
    free(g->nodes);
    free(g->farms);
    memset(g, 0, sizeof *g);
}
