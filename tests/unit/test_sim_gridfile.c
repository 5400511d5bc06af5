/* test_sim_gridfile.c — `gridstor-sim --grid FILE`: a grid file gives the world its
 * farms and nodes (count form and list form, cities, wallets, nodes down), its seed
 * (node keys follow from it), network and flist map; the example under templates/sim/
 * loads; bad files are refused with `file:line:col: key: reason` before anything
 * starts; the serve binary started with --grid announces the file's node count and
 * refuses --farms next to it. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "process.h"
#include "simproc.h"
#include "world.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/gs_test_grid_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ts_remove_tree(dir);
    return 0;
}

/* Writes text to dir/name; returns the path (static storage, one at a time). */
static const char *write_grid(const char *name, const char *text)
{
    static char path[128];
    gs_diag_t diag = {{0}};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (gs_file_write_atomic(path, text, strlen(text), 0644, &diag) != GS_OK)
        fail_msg("%s", diag.msg);
    return path;
}

static int load(sim_world_t *w, const char *path, gs_diag_t *diag)
{
    sim_world_opts_t o = {.grid = path, .time_scale = 1};
    return sim_world_generate(w, &o, diag);
}

static const char good[] = "seed: 5\n"
                           "network: devnet\n"
                           "farms:\n"
                           "  - name: ghent\n"
                           "    country: Belgium\n"
                           "    city: Ghent\n"
                           "    nodes: {count: 3, cru: 16, mru: 64, hru: 8000, sru: 1000}\n"
                           "  - name: cairo\n"
                           "    country: Egypt\n"
                           "    city: Cairo\n"
                           "    wallet: GWALLET\n"
                           "    nodes:\n"
                           "      - {cru: 8, mru: 32, hru: 4000, sru: 500, city: Alexandria}\n"
                           "      - {cru: 4, mru: 16, hru: 0, sru: 250, down: true}\n"
                           "flists:\n"
                           "  https://hub.test/a.flist: /bin/echo a  b\n"
                           "  https://hub.test/b.flist: [/bin/sh, -c, \"echo b c\"]\n";

static void test_grid_file_gives_the_world_its_farms_nodes_and_flists(void **state)
{
    sim_world_t w;
    gs_diag_t diag = {{0}};
    const sim_flist_t *a, *b;
    (void)state;
    if (load(&w, write_grid("good.yaml", good), &diag) != GS_OK)
        fail_msg("%s", diag.msg);
    assert_int_equal(w.n_farms, 2);
    assert_int_equal(w.n_nodes, 5);
    assert_int_equal(w.network, SIM_DEVNET);
    assert_string_equal(w.farms[0].name, "ghent");
    assert_string_equal(w.farms[1].country, "Egypt");
    assert_string_equal(w.farms[1].wallet, "GWALLET");
    assert_true(w.farms[0].wallet[0] == 'G' && strlen(w.farms[0].wallet) > 40);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(w.nodes[i].farm_id, 1);
        assert_string_equal(w.nodes[i].city, "Ghent");
        assert_string_equal(w.nodes[i].continent, "Europe");
        assert_true(w.nodes[i].total.cru == 16 && w.nodes[i].total.hru == 8000);
        assert_int_equal(w.nodes[i].down_since, 0);
    }
    assert_int_equal(w.nodes[3].farm_id, 2);
    assert_string_equal(w.nodes[3].city, "Alexandria");
    assert_string_equal(w.nodes[4].city, "Cairo");
    assert_true(w.nodes[4].total.mru == 16 && w.nodes[4].total.sru == 250);
    assert_true(w.nodes[4].down_since != 0);
    assert_int_equal(w.nodes[4].id, 5);
    assert_non_null(a = sim_world_flist(&w, "https://hub.test/a.flist"));
    assert_int_equal(a->argc, 3);
    assert_string_equal(a->argv[0], "/bin/echo");
    assert_string_equal(a->argv[2], "b");
    assert_null(a->argv[3]);
    assert_non_null(b = sim_world_flist(&w, "https://hub.test/b.flist"));
    assert_int_equal(b->argc, 3);
    assert_string_equal(b->argv[2], "echo b c");
    assert_null(sim_world_flist(&w, "https://hub.test/c.flist"));
    sim_world_free(&w);
}

/* Node keys follow from the seed: the same file gives the same ids, another seed others. */
static void test_grid_file_node_keys_follow_from_its_seed(void **state)
{
    sim_world_t w1, w2, w3;
    gs_diag_t diag = {{0}};
    char other[sizeof good];
    (void)state;
    snprintf(other, sizeof other, "%s", good);
    other[6] = '6'; /* seed: 6 */
    assert_int_equal(load(&w1, write_grid("a.yaml", good), &diag), GS_OK);
    assert_int_equal(load(&w2, write_grid("a.yaml", good), &diag), GS_OK);
    assert_int_equal(load(&w3, write_grid("b.yaml", other), &diag), GS_OK);
    for (size_t i = 0; i < w1.n_nodes; i++) {
        assert_string_equal(w1.nodes[i].node_id, w2.nodes[i].node_id);
        assert_string_not_equal(w1.nodes[i].node_id, w3.nodes[i].node_id);
    }
    assert_string_not_equal(w1.nodes[0].node_id, w1.nodes[1].node_id);
    sim_world_free(&w1);
    sim_world_free(&w2);
    sim_world_free(&w3);
}

static void test_command_line_flist_replaces_the_files_entry(void **state)
{
    sim_world_opts_t o = {.grid = write_grid("good.yaml", good), .time_scale = 1};
    sim_world_t w;
    gs_diag_t diag = {{0}};
    (void)state;
    o.flist_args[o.n_flist_args++] = "https://hub.test/a.flist=/bin/true";
    o.flist_args[o.n_flist_args++] = "https://hub.test/new.flist=/bin/sleep 5";
    assert_int_equal(sim_world_generate(&w, &o, &diag), GS_OK);
    assert_int_equal(w.n_flists, 3);
    assert_int_equal(sim_world_flist(&w, "https://hub.test/a.flist")->argc, 1);
    assert_string_equal(sim_world_flist(&w, "https://hub.test/new.flist")->argv[1], "5");
    sim_world_free(&w);
}

static void test_example_grid_file_loads(void **state)
{
    char path[1024];
    sim_world_t w;
    gs_diag_t diag = {{0}};
    (void)state;
    snprintf(path, sizeof path, "%s/templates/sim/grid-example.yaml", ts_env("GS_SOURCE_DIR"));
    if (load(&w, path, &diag) != GS_OK)
        fail_msg("%s", diag.msg);
    assert_int_equal(w.n_farms, 3);
    assert_int_equal(w.n_nodes, 11);
    assert_non_null(sim_world_flist(&w, "https://hub.grid.tf/gridstor/gridstor-gw.flist"));
    sim_world_free(&w);
}

static const struct {
    const char *yaml, *error; /* how the message goes on after "<path>:" */
} bad[] = {
    {"sede: 5\nfarms: []\n", "1:1: sede: unknown key; did you mean 'seed'?"},
    {"seed: 5\n", "1:1: farms: required key is missing"},
    {"farms: []\n", "1:8: farms: expected a list of 1 to 1000 farms"},
    {"network: moonnet\nfarms: []\n", "1:10: network: unknown value 'moonnet'"},
    {"farms:\n  - name: a\n    country: B\n    city: C\n    nodes: {count: 0, cru: 1, mru: 1, "
     "hru: 1, sru: 1}\n",
     "5:20: farms[0].nodes.count: 0 is out of range"},
    {"farms:\n  - name: a\n    country: B\n    city: C\n    nodes:\n      - {cru: 1, mru: 1, "
     "hru: 1, sru: 1, gpu: 2}\n",
     "6:42: farms[0].nodes[0].gpu: unknown key"},
    {"farms:\n  - name: a\n    country: B\n    city: C\n    nodes: []\n",
     "5:12: farms[0].nodes: expected {count, cru, mru, hru, sru} or a non-empty list"},
    {"farms:\n  - {name: a, country: B, city: C, nodes: {count: 1, cru: 1, mru: 1, hru: 1, sru: "
     "1}}\n  - {name: a, country: B, city: C, nodes: {count: 1, cru: 1, mru: 1, hru: 1, sru: "
     "1}}\n",
     "3:12: farms[1].name: 'a' is the name of an earlier farm"},
    {"farms:\n  - {name: a, country: B, city: C, nodes: {count: 60000, cru: 1, mru: 1, hru: 1, "
     "sru: 1}}\n  - {name: b, country: B, city: C, nodes: {count: 60000, cru: 1, mru: 1, hru: 1, "
     "sru: 1}}\n",
     "3:43: farms[1].nodes: more than 100000 nodes in all"},
    {"farms:\n  - {name: a, country: B, city: C, nodes: {count: 1, cru: 1, mru: 1, hru: 1, sru: "
     "1}}\nflists:\n  https://x/a.flist: {cmd: x}\n",
     "4:22: flists.https://x/a.flist: expected a command"},
    {"farms:\n  - {name: a, country: B, city: C, nodes: {count: 1, cru: 1, mru: 1, hru: 1, sru: "
     "1}}\nflists:\n  https://x/a.flist: \"  \"\n",
     "4:3: flists.https://x/a.flist: the command is empty"},
    {"farms:\n  - {name: a, country: B, city: C, nodes: {count: 1, cru: 1, mru: 1, hru: 1, sru: "
     "1}}\nprices: {cu: 1}\n",
     "3:1: prices: unknown key"},
};

static void test_bad_grid_files_say_where_and_why(void **state)
{
    (void)state;
    for (size_t i = 0; i < GS_ARRAY_SIZE(bad); i++) {
        const char *path = write_grid("bad.yaml", bad[i].yaml);
        char want[512];
        sim_world_t w;
        gs_diag_t diag = {{0}};
        int err = load(&w, path, &diag);
        sim_world_free(&w);
        snprintf(want, sizeof want, "%s:%s", path, bad[i].error);
        if (err == GS_OK || strncmp(diag.msg, want, strlen(want)) != 0)
            fail_msg("case %zu: got '%s', expected '%s'", i, diag.msg, want);
    }
}

static void test_too_many_farms_are_refused(void **state)
{
    gs_buf_t text;
    sim_world_t w;
    gs_diag_t diag = {{0}};
    (void)state;
    gs_buf_init(&text, 1u << 20);
    gs_buf_puts(&text, "farms:\n");
    for (int i = 0; i < 1001; i++)
        gs_buf_printf(&text,
                      "  - {name: f%d, country: B, city: C, nodes: {count: 1, cru: 1, "
                      "mru: 1, hru: 1, sru: 1}}\n",
                      i);
    assert_int_not_equal(load(&w, write_grid("many.yaml", text.data), &diag), GS_OK);
    if (strstr(diag.msg, "many.yaml:2:3: farms: expected a list of 1 to 1000 farms") == NULL)
        fail_msg("got '%s'", diag.msg);
    sim_world_free(&w);
    gs_buf_free(&text);
}

static void test_grid_file_refuses_generator_flags(void **state)
{
    sim_world_opts_t o = {.grid = write_grid("good.yaml", good), .generator_flags = true};
    sim_world_t w;
    gs_diag_t diag = {{0}};
    (void)state;
    assert_int_not_equal(sim_world_generate(&w, &o, &diag), GS_OK);
    assert_non_null(strstr(diag.msg, "--farms"));
    sim_world_free(&w);
}

/* ---- the serve binary ---- */

static void test_serve_with_a_grid_file_announces_its_nodes(void **state)
{
    const char *path = write_grid("good.yaml", good);
    const char *args[] = {"--grid", path, "--flist", "https://hub.test/c.flist=/bin/true", NULL};
    ts_sim_t s;
    json_t *nodes = NULL;
    (void)state;
    ts_sim_start(&s, args);
    assert_int_equal(s.nodes, 5);
    assert_int_equal(json_object_size(json_object_get(s.line, "zdbs")), 5);
    assert_int_equal(ts_http("GET", s.explorer, "/farms", NULL, NULL, 10000, &nodes), 200);
    assert_int_equal(json_array_size(nodes), 2);
    assert_string_equal(gs_json_str(json_array_get(nodes, 1), "name"), "cairo");
    json_decref(nodes);
    ts_sim_stop(&s);
}

static void test_serve_refuses_a_bad_grid_file_and_farms_next_to_grid(void **state)
{
    const char *path = write_grid("bad.yaml", bad[0].yaml);
    const char *argv[] = {ts_env("GS_SIM"), "--grid", path, NULL};
    const char *both[] = {ts_env("GS_SIM"), "--grid", path, "--farms", "2", NULL};
    ts_proc_t p;
    char want[256];
    (void)state;
    snprintf(want, sizeof want, "%s:1:1: sede: unknown key", path);
    ts_run(dir, argv, &p);
    assert_int_equal(p.status, 1);
    assert_non_null(strstr(p.err.data ? p.err.data : "", want));
    assert_int_equal(p.out.len, 0); /* nothing announced: nothing started */
    ts_proc_free(&p);
    ts_run(dir, both, &p);
    assert_int_equal(p.status, 1);
    assert_non_null(strstr(p.err.data ? p.err.data : "", "--nodes-per-farm"));
    ts_proc_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_file_gives_the_world_its_farms_nodes_and_flists),
        cmocka_unit_test(test_grid_file_node_keys_follow_from_its_seed),
        cmocka_unit_test(test_command_line_flist_replaces_the_files_entry),
        cmocka_unit_test(test_example_grid_file_loads),
        cmocka_unit_test(test_bad_grid_files_say_where_and_why),
        cmocka_unit_test(test_too_many_farms_are_refused),
        cmocka_unit_test(test_grid_file_refuses_generator_flags),
        cmocka_unit_test(test_serve_with_a_grid_file_announces_its_nodes),
        cmocka_unit_test(test_serve_refuses_a_bad_grid_file_and_farms_next_to_grid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
