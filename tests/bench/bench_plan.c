/* bench_plan.c — planning a 100-0-db spec on a generated 1,000-node grid, and
 * rendering its QR codes. Figures are ratios against references measured in
 * the same run: planning against jansson parsing the same grid's JSON, and QR
 * rendering (encode + PNG, and + SVG + terminal) against plain QRcode_encodeData
 * of the same documents at the same level. Never fails on speed.
 * usage: bench_plan [--quick] */
#include "reservation.h"

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_NODES 1000
#define N_FARMS 25

static const char spec_text[] = "name: bench\nowner: bench.3bot\ntopology: m1m2m3\n"
                                "duration: 90d\nzdb: {count: 100, size: 20GiB}\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* A node list in the explorer's shape, deterministic. */
static char *generate_grid(void)
{
    static const char *const countries[] = {"Belgium",       "Netherlands", "Germany", "Austria",
                                            "Egypt",         "Tanzania",    "Finland", "Spain",
                                            "United States", "Japan"};
    gs_rng_t rng;
    json_t *nodes = json_array();
    char *text;
    gs_rng_seed(&rng, 2024);
    for (int i = 0; i < N_NODES; i++) {
        char id[48];
        unsigned long long r = (unsigned long long)gs_rng_next(&rng);
        bool down = i % 17 == 0;
        snprintf(id, sizeof id, "Bench%039llu", r % 1000000000000ULL + (unsigned long long)i);
        json_array_append_new(
            nodes, json_pack("{s:i, s:s, s:i, s:I, s:{s:s, s:s}, s:{s:i, s:f, s:i, s:i}, "
                             "s:{s:i, s:f, s:i, s:i}, s:b}",
                             "id", i + 1, "node_id", id, "farm_id", 1 + i % N_FARMS, "updated",
                             (json_int_t)(1795000000 - (down ? 3600 : (int)(r % 500))), "location",
                             "country", countries[i % 10], "city", "Somewhere", "total_resources",
                             "cru", 8 + (int)(r % 24), "mru", 31.2 + (double)(r % 64), "hru",
                             (int)(r % 8) == 0 ? 0 : 4000 + (int)(r % 8000), "sru", 500,
                             "reserved_resources", "cru", (int)(r % 4), "mru", 2.5, "hru",
                             (int)(r % 900), "sru", (int)(r % 100), "deleted", i % 101 == 0));
    }
    text = json_dumps(nodes, JSON_COMPACT);
    json_decref(nodes);
    return text;
}

static void die(const char *what, const gs_diag_t *diag)
{
    fprintf(stderr, "bench_plan: %s: %s\n", what, diag->msg);
    exit(1);
}

/* One plan + split on a fresh grid parsed from text; returns the plan. */
static void plan_once(const char *grid_text, const gs_spec_t *spec, const gs_topology_t *topo,
                      gs_plan_t *plan, double *plan_s, double *parse_s)
{
    gs_doc_opts_t o = {.qr_limit = GS_QR_MAX_BYTES,
                       .destination = "GBENCHWALLETADDRESS",
                       .callback_base = "http://127.0.0.1:7480"};
    gs_grid_t grid = {0};
    gs_diag_t diag = {{0}};
    json_t *j;
    double t0 = now_s(), t1, t2;
    j = json_loads(grid_text, 0, NULL);
    t1 = now_s();
    if (j == NULL || gs_grid_add_nodes(&grid, j, "generated", &diag))
        die("grid", &diag);
    grid.now = 1795000000;
    if (gs_plan_build(spec, topo, &grid, 99, plan, &diag) || gs_plan_split(plan, &o, &diag))
        die("plan", &diag);
    t2 = now_s();
    *parse_s = t1 - t0;
    *plan_s = t2 - t1;
    json_decref(j);
    gs_grid_free(&grid);
}

static QRecLevel level_of(char c)
{
    return c == 'H'   ? QR_ECLEVEL_H
           : c == 'Q' ? QR_ECLEVEL_Q
           : c == 'M' ? QR_ECLEVEL_M
                      : QR_ECLEVEL_L;
}

/* The level gs_qr_encode picks for each document, found outside the timing. */
static void levels_of(const gs_plan_t *plan, QRecLevel *levels)
{
    for (size_t i = 0; i < plan->n_docs; i++) {
        gs_qr_t *qr = NULL;
        if (gs_qr_encode(plan->docs[i].json, plan->docs[i].bytes, &qr, NULL)) {
            fprintf(stderr, "bench_plan: QR encoding failed\n");
            exit(1);
        }
        levels[i] = level_of(gs_qr_level(qr));
        gs_qr_free(qr);
    }
}

static void render_doc(const gs_plan_doc_t *d, bool everything)
{
    gs_qr_t *qr = NULL;
    gs_buf_t png, svg, term;
    gs_buf_init(&png, 16 << 20);
    gs_buf_init(&svg, 16 << 20);
    gs_buf_init(&term, 16 << 20);
    if (gs_qr_encode(d->json, d->bytes, &qr, NULL) || gs_qr_png(qr, 4, &png) ||
        (everything && (gs_qr_svg(qr, &svg) || gs_qr_term(qr, &term)))) {
        fprintf(stderr, "bench_plan: QR rendering failed\n");
        exit(1);
    }
    gs_buf_free(&png);
    gs_buf_free(&svg);
    gs_buf_free(&term);
    gs_qr_free(qr);
}

/* Seconds for: plain encode, encode + PNG, encode + PNG + SVG + terminal. */
static void qr_once(const gs_plan_t *plan, double out[3])
{
    QRecLevel levels[64];
    if (plan->n_docs > 64)
        exit(1);
    levels_of(plan, levels);
    for (int variant = 0; variant < 3; variant++) {
        double t0 = now_s();
        for (size_t i = 0; i < plan->n_docs; i++) {
            const gs_plan_doc_t *d = &plan->docs[i];
            if (variant == 0)
                QRcode_free(
                    QRcode_encodeData((int)d->bytes, (const unsigned char *)d->json, 0, levels[i]));
            else
                render_doc(d, variant == 2);
        }
        out[variant] = now_s() - t0;
    }
}

int main(int argc, char **argv)
{
    int reps = argc > 1 && strcmp(argv[1], "--quick") == 0 ? 3 : 31;
    double plan_t[31], parse_t[31], enc[31], png[31], all[31];
    char *grid_text = generate_grid();
    gs_spec_t spec;
    gs_topology_t topo;
    gs_diag_t diag = {{0}};
    size_t n_workloads = 0, n_docs = 0;
    if (gs_spec_parse(spec_text, strlen(spec_text), "bench.yaml", &spec, &diag) ||
        gs_topology_load(spec.topology, &topo, &diag))
        die("spec", &diag);
    for (int r = 0; r < reps; r++) {
        gs_plan_t plan;
        double q[3];
        plan_once(grid_text, &spec, &topo, &plan, &plan_t[r], &parse_t[r]);
        qr_once(&plan, q);
        enc[r] = q[0];
        png[r] = q[1];
        all[r] = q[2];
        n_workloads = plan.n_zdbs + plan.n_machines;
        n_docs = plan.n_docs;
        gs_plan_free(&plan);
    }
    {
        double p = median(plan_t, reps), j = median(parse_t, reps);
        double e = median(enc, reps), g = median(png, reps), a = median(all, reps);
        printf("grid: %d nodes, %d farms; plan: %zu workloads, %zu documents; %d runs (medians)\n",
               N_NODES, N_FARMS, n_workloads, n_docs, reps);
        printf("planning + splitting: %.1f us per workload (%.3f ms per plan)\n",
               p * 1e6 / (double)n_workloads, p * 1e3);
        printf("  ratio to jansson parsing the same 1,000-node JSON: %.2f\n", p / j);
        printf("QR encode + PNG vs plain QRcode_encodeData: %.2f\n", g / e);
        printf("QR encode + PNG + SVG + terminal vs plain QRcode_encodeData: %.2f\n", a / e);
    }
    gs_spec_free(&spec);
    free(grid_text);
    return 0;
}
