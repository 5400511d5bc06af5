/* cli_plan.c — `gridstor plan`: spec + grid -> plan.json, one QR code per
 * signandpay document (PNG and SVG), a summary and the first QR in the terminal.
 * Everything is computed before anything is written, so an error writes nothing. */
#include "orchestrator.h"
#include "reservation.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CALLBACK "http://127.0.0.1:7480"
#define UNSET_WALLET     "UNSET-run-gridstor-init-or-pass---pay-to"
#define MAX_DOCS         99

typedef struct {
    const char *spec, *nodes, *farms, *prices, *grid, *out, *pay_to, *callback;
    size_t qr_limit;
    uint64_t seed;
    bool have_seed, json;
    int64_t now;
} opts_t;

typedef struct {
    gs_buf_t png, svg;
} rendered_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gridstor plan SPEC [--nodes FILE [--farms FILE] [--prices FILE] | --grid URL]\n"
            "                     [--out DIR] [--qr-limit N] [--seed N] [--json]\n\n"
            "Places the spec's machines and 0-dbs on the grid, prices one capacity pool per\n"
            "farm, and writes the signandpay documents as QR codes for the Threefold Connect\n"
            "app.\n\n"
            "  SPEC             the deployment spec (YAML; '-' reads stdin)\n"
            "  --nodes FILE     the explorer's /nodes answer (a JSON array)\n"
            "  --farms FILE     the explorer's /farms answer (farm names for filters)\n"
            "  --prices FILE    the explorer's /prices answer (default: mainnet prices)\n"
            "  --grid URL       read nodes, farms and prices from an explorer (v2 API)\n"
            "  --out DIR        where to write (default ./NAME-plan)\n"
            "  --qr-limit N     bytes per QR document, at most %d (default %d)\n"
            "  --seed N         make the random placement reproducible\n"
            "  --now T          judge node liveness at unix time T (default: now for --grid,\n"
            "                   the newest report for --nodes)\n"
            "  --pay-to ADDR    the install's wallet that the app pays\n"
            "  --callback URL   gridstord's public base URL (default %s)\n"
            "  --json           print plan.json on stdout instead of the summary\n"
            "  --help           show this help\n\n"
            "Writes DIR/plan.json and DIR/qr-01.png, DIR/qr-01.svg, ... (atomically).\n"
            "Exit status: 0 planned; 2 bad spec or arguments; 3 placement cannot be\n"
            "satisfied; 4 the grid or a node file cannot be read; 1 other failures.\n",
            GS_QR_MAX_BYTES, GS_QR_MAX_BYTES, DEFAULT_CALLBACK);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "gridstor plan: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'gridstor plan --help' for usage.\n");
    return GS_EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

enum {
    OPT_NODES = 256,
    OPT_FARMS,
    OPT_PRICES,
    OPT_GRID,
    OPT_QR_LIMIT,
    OPT_SEED,
    OPT_NOW,
    OPT_PAY_TO,
    OPT_CALLBACK
};

static int parse_opt(int c, opts_t *o)
{
    uint64_t v;
    switch (c) {
    case OPT_NODES:
        o->nodes = optarg;
        break;
    case OPT_FARMS:
        o->farms = optarg;
        break;
    case OPT_PRICES:
        o->prices = optarg;
        break;
    case OPT_GRID:
        o->grid = optarg;
        break;
    case 'o':
        o->out = optarg;
        break;
    case OPT_PAY_TO:
        o->pay_to = optarg;
        break;
    case OPT_CALLBACK:
        o->callback = optarg;
        break;
    case 'j':
        o->json = true;
        break;
    case OPT_QR_LIMIT:
        if (!parse_u64(optarg, GS_QR_MAX_BYTES, &v) || v == 0)
            return usage_error("--qr-limit %s: give a number of bytes from 1 to 2953", optarg);
        o->qr_limit = (size_t)v;
        break;
    case OPT_SEED:
        if (!parse_u64(optarg, (1ULL << 53) - 1, &v))
            return usage_error("--seed %s: give a whole number below 2^53", optarg);
        o->seed = v;
        o->have_seed = true;
        break;
    case OPT_NOW:
        if (!parse_u64(optarg, INT64_MAX, &v))
            return usage_error("--now %s: give a unix time in seconds", optarg);
        o->now = (int64_t)v;
        break;
    default:
        return usage_error("%s", "unknown option");
    }
    return GS_EXIT_OK;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option longopts[] = {
        {"nodes", required_argument, NULL, OPT_NODES},
        {"farms", required_argument, NULL, OPT_FARMS},
        {"prices", required_argument, NULL, OPT_PRICES},
        {"grid", required_argument, NULL, OPT_GRID},
        {"out", required_argument, NULL, 'o'},
        {"qr-limit", required_argument, NULL, OPT_QR_LIMIT},
        {"seed", required_argument, NULL, OPT_SEED},
        {"now", required_argument, NULL, OPT_NOW},
        {"pay-to", required_argument, NULL, OPT_PAY_TO},
        {"callback", required_argument, NULL, OPT_CALLBACK},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:jh", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return -1;
        }
        if (c == '?')
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        if ((rc = parse_opt(c, o)) != GS_EXIT_OK)
            return rc;
    }
    if (optind != argc - 1)
        return usage_error("%s", optind >= argc ? "give one SPEC file" : "give only one SPEC file");
    o->spec = argv[optind];
    if (o->grid && (o->nodes || o->farms || o->prices))
        return usage_error("%s", "use either --grid or --nodes/--farms/--prices, not both");
    if (!o->grid && !o->nodes)
        return usage_error("%s", "say where the nodes come from: --nodes FILE or --grid URL");
    return GS_EXIT_OK;
}

/* ---- the work ----------------------------------------------------------------------------- */

static int exit_for(int err)
{
    switch (err) {
    case GS_ESPEC:
    case GS_EINVAL:
        return GS_EXIT_USAGE;
    case GS_EPLACEMENT:
        return GS_EXIT_PLACEMENT;
    case GS_EGRID:
    case GS_EHTTP:
    case GS_ENOENT:
    case GS_EPARSE:
        return GS_EXIT_GRID;
    default:
        return GS_EXIT_FAILURE;
    }
}

static int load_grid(const opts_t *o, gs_grid_t *g, gs_diag_t *diag)
{
    g->now = o->now;
    if (o->grid)
        return gs_grid_fetch(g, o->grid, diag);
    return gs_grid_load_files(g, o->nodes, o->farms, o->prices, diag);
}

static int render(const gs_plan_t *plan, rendered_t *r, gs_buf_t *term, gs_diag_t *diag)
{
    int err = GS_OK;
    for (size_t i = 0; i < plan->n_docs && err == GS_OK; i++) {
        gs_qr_t *qr = NULL;
        gs_buf_init(&r[i].png, 16 << 20);
        gs_buf_init(&r[i].svg, 16 << 20);
        err = gs_qr_encode(plan->docs[i].json, plan->docs[i].bytes, &qr, diag);
        if (err == GS_OK)
            err = gs_qr_png(qr, 4, &r[i].png);
        if (err == GS_OK)
            err = gs_qr_svg(qr, &r[i].svg);
        if (err == GS_OK && i == 0)
            err = gs_qr_term(qr, term);
        gs_qr_free(qr);
    }
    if (err && diag->msg[0] == '\0')
        gs_diag_set(diag, err, "rendering the QR codes: %s", gs_strerror(err));
    return err;
}

static int stage_file(gs_file_batch_t *b, const char *dir, const char *name, const void *data,
                      size_t len, gs_diag_t *diag)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return gs_diag_set(diag, GS_EINVAL, "%s: path too long", dir);
    return gs_file_stage(b, path, data, len, 0644, diag);
}

/* Removes qr-NN files a previous, larger plan left behind. */
static void remove_stale(const char *dir, size_t from)
{
    for (size_t i = from; i <= MAX_DOCS; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/qr-%02zu.png", dir, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/qr-%02zu.svg", dir, i);
        unlink(path);
    }
}

static void add_file_names(json_t *plan_json)
{
    json_t *docs = json_object_get(plan_json, "documents"), *d;
    size_t i;
    json_array_foreach(docs, i, d)
    {
        char name[32];
        snprintf(name, sizeof name, "qr-%02zu.png", i + 1);
        json_object_set_new(d, "qr_png", json_string(name));
        snprintf(name, sizeof name, "qr-%02zu.svg", i + 1);
        json_object_set_new(d, "qr_svg", json_string(name));
    }
}

/* Stages every file, then renames them all: an error leaves the folder as it was. */
static int write_all(const char *dir, const gs_plan_t *plan, const rendered_t *r,
                     const char *plan_text, gs_diag_t *diag)
{
    gs_file_batch_t batch = {0};
    int err = gs_mkdir_p(dir, diag);
    for (size_t i = 0; i < plan->n_docs && err == GS_OK; i++) {
        char name[32];
        snprintf(name, sizeof name, "qr-%02zu.png", i + 1);
        err = stage_file(&batch, dir, name, r[i].png.data, r[i].png.len, diag);
        snprintf(name, sizeof name, "qr-%02zu.svg", i + 1);
        if (err == GS_OK)
            err = stage_file(&batch, dir, name, r[i].svg.data, r[i].svg.len, diag);
    }
    if (err == GS_OK)
        err = stage_file(&batch, dir, "plan.json", plan_text, strlen(plan_text), diag);
    if (err) {
        gs_file_abort(&batch);
        return err;
    }
    err = gs_file_commit(&batch, diag);
    if (err == GS_OK)
        remove_stale(dir, plan->n_docs + 1);
    return err;
}

/* ---- the summary -------------------------------------------------------------------------- */

static const gs_node_t *find_node(const gs_grid_t *g, const char *id)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].node_id, id) == 0)
            return &g->nodes[i];
    return NULL;
}

static size_t distinct_farms(const gs_plan_t *plan, int role)
{
    size_t n = 0;
    for (size_t i = 0; i < plan->n_zdbs; i++) {
        bool seen = false;
        if (plan->zdbs[i].role != role)
            continue;
        for (size_t j = 0; j < i && !seen; j++)
            seen = plan->zdbs[j].role == role && plan->zdbs[j].farm_id == plan->zdbs[i].farm_id;
        n += !seen;
    }
    return n;
}

static void print_summary(const gs_plan_t *plan, const gs_grid_t *g, const char *dir,
                          const gs_buf_t *term)
{
    char tft[32];
    printf("Plan %s for %s: topology %s, %" PRId64 "+%" PRId64 " erasure coding, %" PRIu64
           " days (seed %" PRIu64 ")\n",
           plan->name, plan->owner, plan->topology, plan->data, plan->parity,
           plan->duration_s / 86400, plan->seed);
    for (size_t i = 0; i < plan->n_machines; i++) {
        const gs_plan_machine_t *m = &plan->machines[i];
        const gs_node_t *n = find_node(g, m->node_id);
        printf("  %s  %s gateway on %.12s… (farm %" PRId64 ", %s, %s)\n", m->role,
               m->gateway == GS_GW_READ_WRITE ? "read-write" : "read-only", m->node_id, m->farm_id,
               n ? n->city : "?", n ? n->country : "?");
    }
    printf("  0-dbs  %" PRId64 " data × %u GiB on %" PRId64 " nodes over %zu farms, %zu metadata\n",
           (int64_t)(plan->n_zdbs - plan->n_machines), plan->zdbs[plan->n_zdbs - 1].size_gib,
           (int64_t)(plan->n_zdbs - plan->n_machines), distinct_farms(plan, GS_ZDB_DATA),
           plan->n_machines);
    for (size_t i = 0; i < plan->n_pools; i++) {
        gs_format_tft(plan->pools[i].amount, tft, sizeof tft);
        printf("  pool   farm %" PRId64 " %-14s %2zu nodes  %s TFT\n", plan->pools[i].farm_id,
               plan->pools[i].farm_name, plan->pools[i].node_ids.n, tft);
    }
    gs_format_tft(plan->total, tft, sizeof tft);
    printf("  total  %s TFT in %zu document%s\n", tft, plan->n_docs, plan->n_docs == 1 ? "" : "s");
    for (size_t i = 0; i < plan->notes.n; i++)
        printf("note: %s\n", plan->notes.items[i]);
    if (plan->n_docs == 1)
        printf("Wrote %s/plan.json and the QR code qr-01.png (and .svg).\n", dir);
    else
        printf("Wrote %s/plan.json and %zu QR codes qr-01.png … qr-%02zu.png (and .svg).\n", dir,
               plan->n_docs, plan->n_docs);
    printf("\nQR 1 of %zu: scan it with the Threefold Connect app to sign and pay:\n\n%s\n",
           plan->n_docs, term->data ? term->data : "");
}

/* ---- the command -------------------------------------------------------------------------- */

typedef struct {
    opts_t o;
    gs_spec_t spec;
    gs_topology_t topo;
    gs_grid_t grid;
    gs_plan_t plan;
    rendered_t *rendered;
    gs_buf_t term;
    json_t *plan_json;
    char *plan_text;
    char dir[4096];
    gs_diag_t diag;
} run_t;

static int plan_and_render(run_t *r)
{
    gs_doc_opts_t dopts = {
        .qr_limit = r->o.qr_limit,
        .destination = r->o.pay_to ? r->o.pay_to : UNSET_WALLET,
        .callback_base = r->o.callback ? r->o.callback : DEFAULT_CALLBACK,
    };
    int err = gs_plan_build(&r->spec, &r->topo, &r->grid, r->o.seed, &r->plan, &r->diag);
    if (err == GS_OK)
        err = gs_plan_split(&r->plan, &dopts, &r->diag);
    if (err == GS_ETOOBIG)
        err = GS_EINVAL; /* a document cannot fit: the limit or the names must change */
    if (err == GS_OK && r->plan.n_docs > MAX_DOCS)
        err = gs_diag_set(&r->diag, GS_EINVAL, "the plan needs %zu documents; at most %d",
                          r->plan.n_docs, MAX_DOCS);
    if (err == GS_OK && !r->o.pay_to)
        err = gs_strlist_push(&r->plan.notes,
                              "no --pay-to: the documents pay a placeholder address, so they are "
                              "for review; deploy through gridstord to pay the install's wallet");
    if (err == GS_OK) {
        r->rendered = calloc(r->plan.n_docs, sizeof *r->rendered);
        err = r->rendered ? render(&r->plan, r->rendered, &r->term, &r->diag) : GS_ENOMEM;
    }
    return err;
}

static int write_outputs(run_t *r)
{
    int n;
    r->plan_json = gs_plan_to_json(&r->plan);
    if (r->plan_json == NULL)
        return gs_diag_set(&r->diag, GS_ENOMEM, "out of memory");
    add_file_names(r->plan_json);
    r->plan_text = gs_json_dumps_pretty(r->plan_json);
    if (r->plan_text == NULL)
        return gs_diag_set(&r->diag, GS_ENOMEM, "out of memory");
    n = r->o.out ? snprintf(r->dir, sizeof r->dir, "%s", r->o.out)
                 : snprintf(r->dir, sizeof r->dir, "%s-plan", r->plan.name);
    if (n < 0 || (size_t)n >= sizeof r->dir)
        return gs_diag_set(&r->diag, GS_EINVAL, "--out: path too long");
    return write_all(r->dir, &r->plan, r->rendered, r->plan_text, &r->diag);
}

static int run(run_t *r)
{
    int err = gs_spec_load(r->o.spec, &r->spec, &r->diag);
    if (err) /* missing, unreadable, too big or invalid: the spec is at fault */
        return err == GS_ENOMEM ? err : GS_ESPEC;
    err = gs_topology_load(r->spec.topology, &r->topo, &r->diag);
    if (err == GS_OK) {
        err = load_grid(&r->o, &r->grid, &r->diag);
        if (err && err != GS_ENOMEM)
            return err == GS_EINVAL ? GS_EINVAL : GS_EGRID;
    }
    if (!r->o.have_seed)
        r->o.seed = gs_rng_random_seed();
    if (err == GS_OK)
        err = plan_and_render(r);
    if (err == GS_OK)
        err = write_outputs(r);
    return err;
}

static void cleanup(run_t *r)
{
    for (size_t i = 0; r->rendered && i < r->plan.n_docs; i++) {
        gs_buf_free(&r->rendered[i].png);
        gs_buf_free(&r->rendered[i].svg);
    }
    free(r->rendered);
    gs_buf_free(&r->term);
    json_decref(r->plan_json);
    free(r->plan_text);
    gs_plan_free(&r->plan);
    gs_grid_free(&r->grid);
    gs_spec_free(&r->spec);
}

int gs_cli_plan(int argc, char **argv)
{
    run_t *r = calloc(1, sizeof *r);
    int rc, err;
    if (r == NULL)
        return GS_EXIT_FAILURE;
    r->o.qr_limit = GS_QR_MAX_BYTES;
    gs_buf_init(&r->term, 4 << 20);
    rc = parse_args(argc, argv, &r->o);
    if (rc != GS_EXIT_OK) {
        free(r);
        return rc < 0 ? GS_EXIT_OK : rc;
    }
    err = run(r);
    if (err) {
        fprintf(stderr, "gridstor plan: %s\n", r->diag.msg[0] ? r->diag.msg : gs_strerror(err));
        rc = exit_for(err);
    } else if (r->o.json) {
        printf("%s\n", r->plan_text);
    } else {
        print_summary(&r->plan, &r->grid, r->dir, &r->term);
    }
    cleanup(r);
    free(r);
    return rc;
}
