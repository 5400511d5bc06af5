/* support.c — helpers shared by the test programs (see support.h). */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void ts_source_path(const char *rel, char *out, size_t len)
{
    const char *top = getenv("GS_SOURCE_DIR");
    int n;
    if (top == NULL)
        fail_msg("GS_SOURCE_DIR is not set; run the tests through ctest");
    n = snprintf(out, len, "%s/%s", top, rel);
    assert_true(n > 0 && (size_t)n < len);
}

void ts_load_example_grid(gs_grid_t *g)
{
    char nodes[4096], farms[4096], prices[4096];
    gs_diag_t diag = {{0}};
    int err;
    ts_source_path("templates/examples/grid/nodes.json", nodes, sizeof nodes);
    ts_source_path("templates/examples/grid/farms.json", farms, sizeof farms);
    ts_source_path("templates/examples/grid/prices.json", prices, sizeof prices);
    memset(g, 0, sizeof *g);
    err = gs_grid_load_files(g, nodes, farms, prices, &diag);
    if (err)
        fail_msg("loading the example grid: %s", diag.msg);
}

void ts_load_example_spec(const char *name, gs_spec_t *spec)
{
    char rel[512], path[4096];
    gs_diag_t diag = {{0}};
    snprintf(rel, sizeof rel, "templates/examples/%s", name);
    ts_source_path(rel, path, sizeof path);
    if (gs_spec_load(path, spec, &diag))
        fail_msg("loading %s: %s", name, diag.msg);
}

void ts_parse_spec(const char *text, gs_spec_t *spec)
{
    gs_diag_t diag = {{0}};
    if (gs_spec_parse(text, strlen(text), "test.yaml", spec, &diag))
        fail_msg("parsing a test spec: %s", diag.msg);
}

void ts_plan_text(const char *spec_text, uint64_t seed, gs_grid_t *grid, gs_spec_t *spec,
                  gs_plan_t *plan)
{
    gs_topology_t topo;
    gs_diag_t diag = {{0}};
    ts_parse_spec(spec_text, spec);
    ts_load_example_grid(grid);
    if (gs_topology_load(spec->topology, &topo, &diag))
        fail_msg("topology: %s", diag.msg);
    if (gs_plan_build(spec, &topo, grid, seed, plan, &diag))
        fail_msg("planning: %s", diag.msg);
}
