/* test_plan.c — the grid as read from the explorer's JSON, and placement: filters,
 * liveness, distinct nodes, farm spread, capacity counted as it is taken,
 * reproducibility, one pool per farm and its price. */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define EXAMPLE_SPEC                                                                               \
    "name: t\nowner: alice.3bot\nduration: 180d\nplacement:\n  countries: [BE, NL]\n"

typedef struct {
    gs_grid_t grid;
    gs_spec_t spec;
    gs_plan_t plan;
} fixture_t;

static void plan_text(fixture_t *f, const char *text, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    ts_plan_text(text, seed, &f->grid, &f->spec, &f->plan);
}

static void fixture_free(fixture_t *f)
{
    gs_plan_free(&f->plan);
    gs_spec_free(&f->spec);
    gs_grid_free(&f->grid);
}

static const gs_node_t *node_of(const gs_grid_t *g, const char *id)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].node_id, id) == 0)
            return &g->nodes[i];
    fail_msg("node %s is not on the grid", id);
    return NULL;
}

static size_t count_distinct_farms(const gs_plan_t *p, int role)
{
    int64_t seen[64];
    size_t n = 0;
    for (size_t i = 0; i < p->n_zdbs; i++) {
        bool dup = false;
        if (p->zdbs[i].role != role)
            continue;
        for (size_t k = 0; k < n; k++)
            dup |= seen[k] == p->zdbs[i].farm_id;
        if (!dup && n < 64)
            seen[n++] = p->zdbs[i].farm_id;
    }
    return n;
}

static void test_plan_puts_data_zdbs_on_distinct_up_nodes_in_the_countries(void **state)
{
    fixture_t f;
    size_t data = 0;
    (void)state;
    plan_text(&f, EXAMPLE_SPEC, 7);
    for (size_t i = 0; i < f.plan.n_zdbs; i++) {
        const gs_node_t *n = node_of(&f.grid, f.plan.zdbs[i].node_id);
        const char *code = gs_country_code(n->country);
        assert_true(gs_node_is_up(&f.grid, n));
        assert_true(strcmp(code, "BE") == 0 || strcmp(code, "NL") == 0);
        if (f.plan.zdbs[i].role != GS_ZDB_DATA)
            continue;
        data++;
        for (size_t k = 0; k < i; k++)
            if (f.plan.zdbs[k].role == GS_ZDB_DATA)
                assert_string_not_equal(f.plan.zdbs[k].node_id, f.plan.zdbs[i].node_id);
    }
    assert_int_equal(data, 20);
    fixture_free(&f);
}

static void test_plan_spreads_data_over_every_farm_the_filters_allow(void **state)
{
    fixture_t f;
    (void)state;
    plan_text(&f, EXAMPLE_SPEC, 3);
    assert_int_equal(count_distinct_farms(&f.plan, GS_ZDB_DATA), 4); /* BE + NL farms */
    assert_int_not_equal(f.plan.machines[0].farm_id, f.plan.machines[1].farm_id);
    fixture_free(&f);
}

static void test_plan_puts_each_metadata_zdb_beside_its_machine(void **state)
{
    fixture_t f;
    size_t meta = 0;
    (void)state;
    plan_text(&f, "name: t\nowner: alice.3bot\ntopology: m1m2m3\n", 11);
    assert_int_equal(f.plan.n_machines, 3);
    for (size_t i = 0; i < f.plan.n_zdbs; i++) {
        const gs_plan_zdb_t *z = &f.plan.zdbs[i];
        if (z->role != GS_ZDB_META)
            continue;
        assert_string_equal(z->machine, f.plan.machines[meta].role);
        assert_string_equal(z->node_id, f.plan.machines[meta].node_id);
        assert_int_equal(z->mode, GS_MODE_SEQ);
        meta++;
    }
    assert_int_equal(meta, 3);
    fixture_free(&f);
}

static bool same_placement(const gs_plan_t *a, const gs_plan_t *b)
{
    if (a->n_zdbs != b->n_zdbs)
        return false;
    for (size_t i = 0; i < a->n_zdbs; i++)
        if (strcmp(a->zdbs[i].node_id, b->zdbs[i].node_id) != 0)
            return false;
    return strcmp(a->machines[0].node_id, b->machines[0].node_id) == 0;
}

static void test_plan_same_seed_gives_the_same_plan(void **state)
{
    fixture_t a, b, c;
    (void)state;
    plan_text(&a, EXAMPLE_SPEC, 42);
    plan_text(&b, EXAMPLE_SPEC, 42);
    plan_text(&c, EXAMPLE_SPEC, 43);
    assert_true(same_placement(&a.plan, &b.plan));
    assert_false(same_placement(&a.plan, &c.plan));
    fixture_free(&a);
    fixture_free(&b);
    fixture_free(&c);
}

static void test_plan_spread_node_still_uses_distinct_nodes(void **state)
{
    fixture_t f;
    (void)state;
    plan_text(&f, "name: t\nowner: alice.3bot\nzdb: {count: 30}\nplacement: {spread: node}\n", 5);
    for (size_t i = 0; i < f.plan.n_zdbs; i++)
        for (size_t k = 0; k < i; k++)
            if (f.plan.zdbs[i].role == GS_ZDB_DATA && f.plan.zdbs[k].role == GS_ZDB_DATA)
                assert_string_not_equal(f.plan.zdbs[k].node_id, f.plan.zdbs[i].node_id);
    fixture_free(&f);
}

static int plan_error(const char *text, gs_diag_t *diag)
{
    gs_grid_t grid;
    gs_spec_t spec;
    gs_topology_t topo;
    gs_plan_t plan;
    int err;
    ts_parse_spec(text, &spec);
    ts_load_example_grid(&grid);
    assert_int_equal(gs_topology_load(spec.topology, &topo, NULL), GS_OK);
    err = gs_plan_build(&spec, &topo, &grid, 1, &plan, diag);
    if (err == GS_OK)
        gs_plan_free(&plan);
    gs_spec_free(&spec);
    gs_grid_free(&grid);
    return err;
}

static void test_plan_names_the_shortage_and_the_filters(void **state)
{
    gs_diag_t diag = {{0}};
    (void)state;
    assert_int_equal(plan_error(EXAMPLE_SPEC "zdb: {size: 20000GiB}\n", &diag), GS_EPLACEMENT);
    assert_non_null(strstr(diag.msg, "need 20 nodes with 20000 GiB free HDD in BE, NL: found 0"));
    assert_int_equal(
        plan_error("name: t\nowner: a.3bot\nplacement: {countries: [Atlantis]}\n", &diag),
        GS_EPLACEMENT);
    assert_non_null(strstr(diag.msg, "in Atlantis: found"));
    assert_int_equal(plan_error("name: t\nowner: a.3bot\nzdb: {count: 200}\n", &diag),
                     GS_EPLACEMENT);
    assert_non_null(strstr(diag.msg, "need 200 nodes"));
}

static void test_plan_refuses_unknown_farms_and_nodes_by_name(void **state)
{
    gs_diag_t diag = {{0}};
    (void)state;
    assert_int_equal(
        plan_error("name: t\nowner: a.3bot\nplacement: {farms: [nosuchfarm]}\n", &diag),
        GS_EPLACEMENT);
    assert_non_null(strstr(diag.msg, "no farm 'nosuchfarm'"));
    assert_int_equal(plan_error("name: t\nowner: a.3bot\nplacement: {nodes: [XYZ]}\n", &diag),
                     GS_EPLACEMENT);
    assert_non_null(strstr(diag.msg, "no node 'XYZ'"));
}

static void test_plan_honours_farm_city_and_excluded_nodes(void **state)
{
    fixture_t f, g;
    char text[4096];
    (void)state;
    plan_text(&f,
              "name: t\nowner: a.3bot\ntopology: m1\ncodec: {data: 3, parity: 1}\n"
              "placement: {farms: [freefarm, '2'], cities: [Ghent, Lochristi, Amsterdam, "
              "Rotterdam]}\n",
              9);
    for (size_t i = 0; i < f.plan.n_zdbs; i++) {
        const gs_node_t *n = node_of(&f.grid, f.plan.zdbs[i].node_id);
        assert_true(n->farm_id == 1 || n->farm_id == 2);
        assert_true(strcmp(n->city, "Ghent") == 0 || strcmp(n->city, "Lochristi") == 0 ||
                    strcmp(n->city, "Amsterdam") == 0 || strcmp(n->city, "Rotterdam") == 0);
    }
    snprintf(text, sizeof text, EXAMPLE_SPEC "  exclude_nodes: [%s, %s]\n", f.plan.zdbs[0].node_id,
             f.plan.zdbs[1].node_id);
    plan_text(&g, text, 9);
    for (size_t i = 0; i < g.plan.n_zdbs; i++) {
        assert_string_not_equal(g.plan.zdbs[i].node_id, f.plan.zdbs[0].node_id);
        assert_string_not_equal(g.plan.zdbs[i].node_id, f.plan.zdbs[1].node_id);
    }
    fixture_free(&f);
    fixture_free(&g);
}

/* A grid built in the test: two farms, capacity chosen per node. */
static void small_grid(gs_grid_t *g, double a_hru, double b_hru)
{
    char text[2048];
    json_t *nodes;
    const char *fmt =
        "{\"node_id\":\"%s\",\"farm_id\":%d,\"updated\":1000,\"location\":{\"country\":\"Belgium\","
        "\"city\":\"Ghent\"},\"total_resources\":{\"cru\":%d,\"mru\":8,\"hru\":%g,\"sru\":100},"
        "\"reserved_resources\":{\"cru\":0,\"mru\":-3,\"hru\":0,\"sru\":0}}";
    char a[512], b[512];
    snprintf(a, sizeof a, fmt, "nodeA", 1, 4, a_hru);
    snprintf(b, sizeof b, fmt, "nodeB", 2, 0, b_hru);
    snprintf(text, sizeof text, "[%s,%s]", a, b);
    nodes = json_loads(text, 0, NULL);
    memset(g, 0, sizeof *g);
    assert_int_equal(gs_grid_add_nodes(g, nodes, "test", NULL), GS_OK);
    g->now = 1000;
    json_decref(nodes);
}

static void test_plan_counts_capacity_already_taken_on_a_node(void **state)
{
    static const char spec_text[] = "name: t\nowner: a.3bot\ntopology: m1\n"
                                    "codec: {data: 1, parity: 1}\n"
                                    "metadata: {size: 10GiB, disk: hdd}\n";
    gs_grid_t g;
    gs_spec_t spec;
    gs_topology_t topo;
    gs_plan_t plan;
    gs_diag_t diag = {{0}};
    (void)state;
    ts_parse_spec(spec_text, &spec);
    assert_int_equal(gs_topology_load("m1", &topo, NULL), GS_OK);
    /* nodeA holds m1 and its 10 GiB metadata on HDD: 5 GiB are left, not enough for
     * a 10 GiB data 0-db; nodeB has no cpu for a machine. */
    small_grid(&g, 15, 15);
    assert_int_equal(gs_plan_build(&spec, &topo, &g, 1, &plan, &diag), GS_EPLACEMENT);
    assert_non_null(strstr(diag.msg, "need 2 nodes with 10 GiB free HDD on the grid: found 1"));
    gs_grid_free(&g);
    small_grid(&g, 20, 15);
    assert_int_equal(gs_plan_build(&spec, &topo, &g, 1, &plan, &diag), GS_OK);
    assert_string_equal(plan.machines[0].node_id, "nodeA");
    gs_plan_free(&plan);
    gs_grid_free(&g);
    gs_spec_free(&spec);
}

static void test_grid_free_capacity_ignores_negative_reservations(void **state)
{
    gs_grid_t g;
    gs_res_t free_res;
    (void)state;
    small_grid(&g, 15, 15);
    free_res = gs_node_free(&g.nodes[0]);
    assert_true(free_res.mru == 8); /* reserved -3 counts as 0 */
    assert_true(free_res.hru == 15);
    gs_grid_free(&g);
}

static void test_grid_judges_liveness_at_the_snapshot(void **state)
{
    gs_grid_t g;
    size_t up = 0, deleted = 0;
    (void)state;
    ts_load_example_grid(&g);
    assert_int_equal(g.n_nodes, 48);
    assert_int_equal(g.n_farms, 7);
    assert_int_equal(g.now, 1795000000);
    for (size_t i = 0; i < g.n_nodes; i++) {
        up += gs_node_is_up(&g, &g.nodes[i]);
        deleted += g.nodes[i].deleted;
    }
    assert_int_equal(deleted, 1);
    assert_int_equal(up, 48 - 5 - 1); /* 5 down, 1 deleted */
    gs_grid_free(&g);
}

static void expect_shape_error(const char *text, const char *needle)
{
    gs_grid_t g = {0};
    gs_diag_t diag = {{0}};
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    assert_int_equal(gs_grid_add_nodes(&g, j, "nodes.json", &diag), GS_EGRID);
    assert_non_null(strstr(diag.msg, needle));
    json_decref(j);
    gs_grid_free(&g);
}

static void test_grid_refuses_what_is_not_the_explorers_shape(void **state)
{
    (void)state;
    expect_shape_error("{\"nodes\":[]}", "not an explorer node list");
    expect_shape_error("[1]", "element 0 is not an object");
    expect_shape_error("[{\"farm_id\":1}]", "'node_id'");
    expect_shape_error("[{\"node_id\":\"x\",\"farm_id\":\"1\"}]", "'farm_id'");
    expect_shape_error("[{\"node_id\":\"x\",\"farm_id\":1,\"updated\":1,"
                       "\"total_resources\":{\"cru\":1}}]",
                       "element 0 is not an explorer node: 'total_resources'");
}

static void test_grid_reads_prices_and_country_names(void **state)
{
    gs_grid_t g = {0};
    json_t *p = json_loads("{\"CuPriceDollarMonth\":1,\"SuPriceDollarMonth\":0.8,"
                           "\"TftPriceMill\":100,\"IP4uPriceDollarMonth\":0.6}",
                           0, NULL);
    (void)state;
    assert_int_equal(gs_grid_set_prices(&g, p, "prices", NULL), GS_OK);
    assert_true(g.have_prices && g.prices.su_usd_month == 0.8);
    json_decref(p);
    p = json_loads("{\"CuPriceDollarMonth\":1}", 0, NULL);
    assert_int_equal(gs_grid_set_prices(&g, p, "prices", NULL), GS_EGRID);
    json_decref(p);
    assert_string_equal(gs_country_code("belgium"), "BE");
    assert_string_equal(gs_country_code("nl"), "NL");
    assert_string_equal(gs_country_code("The Netherlands"), "NL");
    assert_null(gs_country_code("Atlantis"));
}

static void test_plan_buys_one_pool_per_farm_for_the_duration(void **state)
{
    fixture_t f;
    uint64_t total = 0;
    (void)state;
    plan_text(&f, EXAMPLE_SPEC, 7);
    for (size_t p = 0; p < f.plan.n_pools; p++) {
        const gs_plan_pool_t *pool = &f.plan.pools[p];
        uint64_t cu = 0, su = 0;
        for (size_t i = 0; i < f.plan.n_machines; i++)
            if (f.plan.machines[i].farm_id == pool->farm_id)
                cu += 98; /* 1 cpu, 400 MiB: 0.098 CU */
        for (size_t i = 0; i < f.plan.n_zdbs; i++)
            if (f.plan.zdbs[i].farm_id == pool->farm_id)
                su += f.plan.zdbs[i].role == GS_ZDB_DATA ? 8 : 3; /* 10 GiB HDD, 1 GiB SSD */
        for (size_t q = 0; q < p; q++)
            assert_int_not_equal(f.plan.pools[q].farm_id, pool->farm_id);
        assert_int_equal(pool->cus, (cu * 180 * 86400 + 999) / 1000);
        assert_int_equal(pool->sus, (su * 180 * 86400 + 999) / 1000);
        assert_int_equal(pool->amount, pool->cus * 385 + pool->sus * 308);
        total += pool->amount;
    }
    assert_int_equal(f.plan.total, total);
    fixture_free(&f);
}

/* Each pool lists up to GS_PLAN_SPARES spare nodes after its used ones: up nodes of its
 * farm that hold nothing of the plan, with room for a data 0-db; a farm with unused
 * nodes gets at least one. */
static void test_plan_lists_spare_nodes_in_each_pool(void **state)
{
    fixture_t f;
    size_t with_spares = 0;
    (void)state;
    plan_text(&f, EXAMPLE_SPEC, 7);
    for (size_t p = 0; p < f.plan.n_pools; p++) {
        const gs_plan_pool_t *pool = &f.plan.pools[p];
        size_t used = pool->node_ids.n - pool->spares;
        assert_true(pool->spares <= GS_PLAN_SPARES);
        with_spares += pool->spares > 0;
        for (size_t k = used; k < pool->node_ids.n; k++) {
            const char *id = pool->node_ids.items[k];
            const gs_node_t *n = node_of(&f.grid, id);
            assert_int_equal(n->farm_id, pool->farm_id);
            assert_true(gs_node_is_up(&f.grid, n));
            for (size_t i = 0; i < f.plan.n_zdbs; i++)
                assert_string_not_equal(f.plan.zdbs[i].node_id, id);
            for (size_t i = 0; i < f.plan.n_machines; i++)
                assert_string_not_equal(f.plan.machines[i].node_id, id);
            for (size_t q = 0; q < k; q++)
                assert_string_not_equal(pool->node_ids.items[q], id);
        }
    }
    assert_true(with_spares > 0);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_puts_data_zdbs_on_distinct_up_nodes_in_the_countries),
        cmocka_unit_test(test_plan_spreads_data_over_every_farm_the_filters_allow),
        cmocka_unit_test(test_plan_puts_each_metadata_zdb_beside_its_machine),
        cmocka_unit_test(test_plan_same_seed_gives_the_same_plan),
        cmocka_unit_test(test_plan_spread_node_still_uses_distinct_nodes),
        cmocka_unit_test(test_plan_names_the_shortage_and_the_filters),
        cmocka_unit_test(test_plan_refuses_unknown_farms_and_nodes_by_name),
        cmocka_unit_test(test_plan_honours_farm_city_and_excluded_nodes),
        cmocka_unit_test(test_plan_counts_capacity_already_taken_on_a_node),
        cmocka_unit_test(test_grid_free_capacity_ignores_negative_reservations),
        cmocka_unit_test(test_grid_judges_liveness_at_the_snapshot),
        cmocka_unit_test(test_grid_refuses_what_is_not_the_explorers_shape),
        cmocka_unit_test(test_grid_reads_prices_and_country_names),
        cmocka_unit_test(test_plan_buys_one_pool_per_farm_for_the_duration),
        cmocka_unit_test(test_plan_lists_spare_nodes_in_each_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
