/* test_cli_plan.c — `gridstor plan` end to end: the real binary ($GS_GRIDSTOR) runs as a
 * child process on the bundled examples, and its exit status, stdout, stderr and the files
 * it writes are checked: plan.json's shape and invariants, every QR code decoded by zbar
 * (an independent decoder) back to its document, splitting under --qr-limit, stale files,
 * --json, and the exit status and message of each kind of error, with nothing written. */
#include "process.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS  32
#define PATH_LEN  4096
#define OUT_MAX   (64 * 1024 * 1024)
#define FILE_MAX  (64 * 1024 * 1024)
#define BACKUP_EU "backup-eu.yaml"

/* One temporary folder per test: the children run in it and write to out/. */
typedef struct {
    char dir[64];
    char out[PATH_LEN];
    char nodes[PATH_LEN], farms[PATH_LEN], prices[PATH_LEN];
} fixture_t;

typedef ts_proc_t proc_t;

/* ---- files and folders ---------------------------------------------------------------------- */

static void path_in(const char *dir, const char *name, char *out)
{
    int n = snprintf(out, PATH_LEN, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_LEN);
}

static void read_all(const char *path, gs_buf_t *out)
{
    gs_diag_t diag = {{0}};
    gs_buf_init(out, FILE_MAX);
    if (gs_file_read(path, FILE_MAX, out, &diag) != GS_OK)
        fail_msg("reading %s: %s", path, diag.msg);
}

/* Writes text as t->dir/name and puts its path in path. */
static void write_in_dir(const fixture_t *t, const char *name, const char *text, char *path)
{
    gs_diag_t diag = {{0}};
    path_in(t->dir, name, path);
    if (gs_file_write_atomic(path, text, strlen(text), 0644, &diag) != GS_OK)
        fail_msg("writing %s: %s", path, diag.msg);
}

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (j == NULL)
        fail_msg("%s:%d:%d: %s", path, e.line, e.column, e.text);
    return j;
}

static json_t *load_out_plan(const fixture_t *t)
{
    char path[PATH_LEN];
    path_in(t->out, "plan.json", path);
    return load_json(path);
}

static void example_path(const char *name, char *out)
{
    char rel[512];
    snprintf(rel, sizeof rel, "templates/examples/%s", name);
    ts_source_path(rel, out, PATH_LEN);
}

/* ---- the fixture ---------------------------------------------------------------------------- */

static int setup(void **state)
{
    fixture_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    snprintf(t->dir, sizeof t->dir, "/tmp/gs_test_cli_plan_XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    path_in(t->dir, "out", t->out);
    ts_source_path("templates/examples/grid/nodes.json", t->nodes, PATH_LEN);
    ts_source_path("templates/examples/grid/farms.json", t->farms, PATH_LEN);
    ts_source_path("templates/examples/grid/prices.json", t->prices, PATH_LEN);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *t = *state;
    ts_remove_tree(t->dir);
    free(t);
    return 0;
}

/* ---- running a child ------------------------------------------------------------------------ */

/* Runs argv in t->dir. */
static void run_argv(const fixture_t *t, const char *const *argv, proc_t *p)
{
    ts_run(t->dir, argv, p);
}

static size_t collect(const char **argv, size_t n, va_list ap)
{
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(n < MAX_ARGS);
        argv[n++] = a;
    }
    return n;
}

static const char *gridstor_path(void)
{
    const char *g = getenv("GS_GRIDSTOR");
    if (g == NULL || *g == '\0')
        fail_msg("GS_GRIDSTOR is not set; run the tests through ctest");
    return g;
}

/* `gridstor ARGS...` up to NULL. */
static void __attribute__((sentinel)) run_gridstor(const fixture_t *t, proc_t *p, ...)
{
    const char *argv[MAX_ARGS + 1] = {gridstor_path()};
    va_list ap;
    va_start(ap, p);
    argv[collect(argv, 1, ap)] = NULL;
    va_end(ap);
    run_argv(t, argv, p);
}

/* `gridstor plan SPEC --nodes --farms --prices (the example grid) --out t->out ARGS...`. */
static void __attribute__((sentinel)) run_plan(const fixture_t *t, proc_t *p, const char *spec, ...)
{
    const char *argv[MAX_ARGS + 1] = {gridstor_path(), "plan",    spec,     "--nodes",
                                      t->nodes,        "--farms", t->farms, "--prices",
                                      t->prices,       "--out",   t->out};
    va_list ap;
    va_start(ap, spec);
    argv[collect(argv, 11, ap)] = NULL;
    va_end(ap);
    run_argv(t, argv, p);
}

static void run_example(const fixture_t *t, proc_t *p, const char *name, const char *seed)
{
    char spec[PATH_LEN];
    example_path(name, spec);
    run_plan(t, p, spec, "--seed", seed, NULL);
}

/* zbarimg with -Sbinary writes the symbol's bytes and nothing else (no trailing newline,
 * unlike its text mode), so p->out must equal the document exactly. */
static void decode_png_with_zbar(const fixture_t *t, const char *png, proc_t *p)
{
    const char *zbar = getenv("GS_ZBARIMG");
    const char *argv[] = {zbar && *zbar ? zbar : "zbarimg", "--raw", "-q", "-Sbinary", png, NULL};
    run_argv(t, argv, p);
}

static void assert_status(const proc_t *p, int want)
{
    if (p->status != want)
        fail_msg("exit status %d, want %d; stderr:\n%s", p->status, want, p->err.data);
}

static void assert_planned(const proc_t *p)
{
    assert_status(p, 0);
    assert_string_equal(p->err.data, "");
}

static void assert_stderr_has(const proc_t *p, const char *needle)
{
    if (strstr(p->err.data, needle) == NULL)
        fail_msg("stderr lacks \"%s\":\n%s", needle, p->err.data);
}

/* Neither --out nor the default ./NAME-plan exists after a failed run. */
static void assert_nothing_written(const fixture_t *t)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    if (stat(t->out, &st) == 0 || errno != ENOENT)
        fail_msg("a failed run left %s behind", t->out);
    d = opendir(t->dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, "-plan") == 0)
            fail_msg("a failed run wrote %s/%s", t->dir, e->d_name);
    }
    closedir(d);
}

/* An error: the exit status, a message on stderr, nothing on stdout, nothing written. */
static void assert_failed(const fixture_t *t, const proc_t *p, int want, const char *needle)
{
    assert_status(p, want);
    assert_stderr_has(p, needle);
    assert_string_equal(p->out.data, "");
    assert_nothing_written(t);
}

/* ---- plan.json ------------------------------------------------------------------------------ */

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL)
        fail_msg("\"%s\" is not a string", key);
    return s;
}

static json_int_t int_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

static const json_t *array_of(const json_t *o, const char *key)
{
    const json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) == 0)
        fail_msg("\"%s\" is not a non-empty array", key);
    return a;
}

static void assert_one_of(const char *value, const char *a, const char *b, const char *c)
{
    if (strcmp(value, a) != 0 && strcmp(value, b) != 0 && (c == NULL || strcmp(value, c) != 0))
        fail_msg("unexpected value \"%s\"", value);
}

static void assert_machine_shape(const json_t *m)
{
    assert_one_of(str_of(m, "role"), "m1", "m2", "m3");
    assert_true(strlen(str_of(m, "node_id")) > 0);
    assert_true(int_of(m, "farm_id") > 0);
    assert_true(int_of(m, "cpu") > 0);
    assert_true(int_of(m, "memory_mib") > 0);
    assert_true(int_of(m, "disk_gib") > 0);
}

static void assert_zdb_shape(const json_t *z)
{
    assert_one_of(str_of(z, "role"), "data", "meta", NULL);
    assert_true(strlen(str_of(z, "node_id")) > 0);
    assert_true(int_of(z, "farm_id") > 0);
    assert_true(int_of(z, "size_gib") > 0);
    assert_one_of(str_of(z, "disk"), "hdd", "ssd", NULL);
    assert_one_of(str_of(z, "mode"), "seq", "user", NULL);
}

static void assert_pool_shape(const json_t *pool)
{
    const json_t *ids = array_of(pool, "node_ids"), *id;
    size_t i;
    assert_true(int_of(pool, "farm_id") > 0);
    json_array_foreach(ids, i, id)
    {
        assert_true(json_is_string(id));
    }
    assert_true(int_of(pool, "cus") >= 0);
    assert_true(int_of(pool, "sus") >= 0);
    assert_true(json_is_number(json_object_get(pool, "amount_tft")));
}

static void assert_plan_shape(const json_t *plan)
{
    const json_t *v;
    size_t i;
    assert_true(strlen(str_of(plan, "name")) > 0);
    assert_true(strlen(str_of(plan, "owner")) > 0);
    json_array_foreach(array_of(plan, "machines"), i, v)
    {
        assert_machine_shape(v);
    }
    json_array_foreach(array_of(plan, "zdbs"), i, v)
    {
        assert_zdb_shape(v);
    }
    json_array_foreach(array_of(plan, "pools"), i, v)
    {
        assert_pool_shape(v);
    }
    json_array_foreach(array_of(plan, "documents"), i, v)
    {
        assert_int_equal(int_of(v, "index"), i + 1);
        assert_true(int_of(v, "bytes") > 0);
        str_of(v, "qr_png"); /* each fails the test unless it is a string */
        str_of(v, "qr_svg");
        str_of(v, "document");
    }
    assert_true(json_is_number(json_object_get(plan, "total_tft")));
}

/* ---- documents and QR codes ----------------------------------------------------------------- */

static void assert_png_decodes_to(const fixture_t *t, const char *png, const char *document)
{
    char path[PATH_LEN];
    proc_t z;
    path_in(t->out, png, path);
    decode_png_with_zbar(t, path, &z);
    if (z.status != 0)
        fail_msg("zbarimg found no QR code in %s (status %d)", path, z.status);
    if (z.out.len != strlen(document))
        fail_msg("%s: zbar returned %zu bytes, the document has %zu", png, z.out.len,
                 strlen(document));
    assert_memory_equal(z.out.data, document, z.out.len);
    ts_proc_free(&z);
}

static void assert_svg_looks_like_svg(const fixture_t *t, const char *svg)
{
    char path[PATH_LEN];
    gs_buf_t b;
    path_in(t->out, svg, path);
    read_all(path, &b);
    assert_true(strncmp(b.data, "<?xml", 5) == 0 || strncmp(b.data, "<svg", 4) == 0);
    assert_non_null(strstr(b.data, "<svg"));
    gs_buf_free(&b);
}

/* Every document: its size within the limit, its PNG decoding to it, an SVG beside it. */
static void assert_documents(const fixture_t *t, const json_t *plan, size_t limit)
{
    const json_t *d;
    size_t i;
    json_array_foreach(array_of(plan, "documents"), i, d)
    {
        const char *doc = str_of(d, "document");
        assert_int_equal(int_of(d, "bytes"), strlen(doc));
        if (strlen(doc) > limit)
            fail_msg("document %zu has %zu bytes, over the limit of %zu", i + 1, strlen(doc),
                     limit);
        assert_png_decodes_to(t, str_of(d, "qr_png"), doc);
        assert_svg_looks_like_svg(t, str_of(d, "qr_svg"));
    }
}

/* The out folder holds plan.json and the documents' files, nothing else (no stale QR
 * codes, no temporary files left by the atomic writes). */
static void assert_out_holds_exactly(const fixture_t *t, const json_t *plan)
{
    const json_t *d;
    json_t *want = json_object();
    size_t i, seen = 0;
    DIR *dir = opendir(t->out);
    struct dirent *e;
    assert_non_null(dir);
    json_object_set_new(want, "plan.json", json_true());
    json_array_foreach(array_of(plan, "documents"), i, d)
    {
        json_object_set_new(want, str_of(d, "qr_png"), json_true());
        json_object_set_new(want, str_of(d, "qr_svg"), json_true());
    }
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (json_object_get(want, e->d_name) == NULL)
            fail_msg("%s holds %s, which the plan does not list", t->out, e->d_name);
        seen++;
    }
    closedir(dir);
    assert_int_equal(seen, json_object_size(want));
    json_decref(want);
}

/* A json object used as a set of strings: adds key, failing when it was there. */
static void add_distinct(json_t *set, const char *key, const char *what)
{
    if (json_object_get(set, key) != NULL)
        fail_msg("%s %s is used twice", what, key);
    json_object_set_new(set, key, json_true());
}

/* ---- counting the workloads in the documents ------------------------------------------------ */

static void count_key(json_t *seen, const char *kind, const char *name, size_t len)
{
    char key[256];
    snprintf(key, sizeof key, "%s %.*s", kind, (int)len, name);
    json_object_set_new(seen, key,
                        json_integer(json_integer_value(json_object_get(seen, key)) + 1));
}

/* "- machine m1: ..." -> "machine m1"; "- 0-db metadata beside m1: ..." -> "meta m1";
 * "- 0-db data: ... on NODE" -> "data NODE". Other lines are not workloads. */
static void count_workload_line(json_t *seen, const char *line, size_t len)
{
    static const char machine[] = "- machine ", meta[] = "- 0-db metadata beside ",
                      data[] = "- 0-db data";
    const char *colon = memchr(line, ':', len), *on;
    if (strncmp(line, machine, sizeof machine - 1) == 0 && colon)
        count_key(seen, "machine", line + sizeof machine - 1,
                  (size_t)(colon - line) - (sizeof machine - 1));
    else if (strncmp(line, meta, sizeof meta - 1) == 0 && colon)
        count_key(seen, "meta", line + sizeof meta - 1, (size_t)(colon - line) - (sizeof meta - 1));
    else if (strncmp(line, data, sizeof data - 1) == 0) {
        for (on = line + len - 4; on > line && strncmp(on, " on ", 4) != 0; on--)
            ;
        assert_true(on > line);
        count_key(seen, "data", on + 4, (size_t)(line + len - on - 4));
    }
}

static void count_document_lines(json_t *seen, const char *document)
{
    json_t *doc = json_loads(document, 0, NULL);
    const char *text, *nl;
    assert_non_null(doc);
    text = str_of(doc, "DataToSign");
    for (; *text; text = nl + 1) {
        nl = strchr(text, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        count_workload_line(seen, text, (size_t)(nl - text));
    }
    json_decref(doc);
}

static void assert_counted_once(const json_t *seen, const char *kind, const char *name)
{
    char key[256];
    snprintf(key, sizeof key, "%s %s", kind, name);
    if (json_integer_value(json_object_get(seen, key)) != 1)
        fail_msg("\"%s\" appears %" JSON_INTEGER_FORMAT " times in the documents", key,
                 json_integer_value(json_object_get(seen, key)));
}

/* Every machine and 0-db of plan.json is in exactly one document's DataToSign. */
static void assert_every_workload_signed_once(const json_t *plan)
{
    json_t *seen = json_object();
    const json_t *v;
    size_t i;
    json_array_foreach(array_of(plan, "documents"), i, v)
    {
        count_document_lines(seen, str_of(v, "document"));
    }
    json_array_foreach(array_of(plan, "machines"), i, v)
    {
        assert_counted_once(seen, "machine", str_of(v, "role"));
    }
    json_array_foreach(array_of(plan, "zdbs"), i, v)
    {
        bool data = strcmp(str_of(v, "role"), "data") == 0;
        assert_counted_once(seen, data ? "data" : "meta", str_of(v, data ? "node_id" : "machine"));
    }
    assert_int_equal(json_object_size(seen), json_array_size(json_object_get(plan, "machines")) +
                                                 json_array_size(json_object_get(plan, "zdbs")));
    json_decref(seen);
}

/* Adds up the stropes of the pools a document pays (indexes into plan.json's pools),
 * marking each pool paid in `paid` and failing when one was paid already. */
static json_int_t document_stropes(const json_t *doc, const json_t *pools, json_t *paid)
{
    const json_t *idx;
    json_int_t sum = 0;
    size_t i;
    json_array_foreach(json_object_get(doc, "pools"), i, idx)
    {
        json_int_t k = json_integer_value(idx);
        char key[32];
        assert_true(json_is_integer(idx) && k >= 0 && (size_t)k < json_array_size(pools));
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, k);
        add_distinct(paid, key, "in the documents' payments, pool");
        sum += int_of(json_array_get(pools, (size_t)k), "amount_stropes");
    }
    return sum;
}

/* Each pool is paid by exactly one document; together they pay total_stropes. */
static void assert_documents_pay_the_total(const json_t *plan)
{
    const json_t *pools = array_of(plan, "pools"), *d;
    json_t *paid = json_object();
    json_int_t stropes = 0;
    size_t i;
    json_array_foreach(array_of(plan, "documents"), i, d)
    {
        stropes += document_stropes(d, pools, paid);
    }
    assert_int_equal(json_object_size(paid), json_array_size(pools));
    assert_int_equal(stropes, int_of(plan, "total_stropes"));
    json_decref(paid);
}

/* ---- the plan's invariants ------------------------------------------------------------------ */

/* nodes.json indexed by node_id, and its newest report. */
typedef struct {
    json_t *by_id;
    json_int_t newest;
} grid_t;

static void grid_load(const fixture_t *t, grid_t *g)
{
    json_t *nodes = load_json(t->nodes), *n;
    size_t i;
    g->by_id = json_object();
    g->newest = 0;
    json_array_foreach(nodes, i, n)
    {
        json_object_set(g->by_id, str_of(n, "node_id"), n);
        if (int_of(n, "updated") > g->newest)
            g->newest = int_of(n, "updated");
    }
    json_decref(nodes);
}

/* The node is in nodes.json, up (reported within 600 s of the newest report), not
 * deleted, and in one of the countries (NULL: anywhere). */
static void assert_node_usable(const grid_t *g, const char *id, const char *const *countries)
{
    const json_t *n = json_object_get(g->by_id, id);
    const char *country;
    if (n == NULL)
        fail_msg("node %s is not in nodes.json", id);
    if (int_of(n, "updated") < g->newest - GS_UP_WINDOW_S)
        fail_msg("node %s is down", id);
    if (json_is_true(json_object_get(n, "deleted")))
        fail_msg("node %s is deleted", id);
    country = str_of(json_object_get(n, "location"), "country");
    for (size_t i = 0; countries && countries[i]; i++)
        if (strcmp(country, countries[i]) == 0)
            return;
    if (countries)
        fail_msg("node %s is in %s", id, country);
}

/* farm id -> the set of nodes the plan uses on it. */
static void add_used_node(json_t *by_farm, const json_t *workload)
{
    char farm[32];
    json_t *nodes;
    snprintf(farm, sizeof farm, "%" JSON_INTEGER_FORMAT, int_of(workload, "farm_id"));
    nodes = json_object_get(by_farm, farm);
    if (nodes == NULL)
        json_object_set_new(by_farm, farm, nodes = json_object());
    json_object_set_new(nodes, str_of(workload, "node_id"), json_true());
}

/* One pool per farm used, listing exactly the nodes used on that farm, then its spares. */
static void assert_pools_match_farms(const json_t *plan, const json_t *by_farm)
{
    json_t *farms = json_object();
    const json_t *pool, *id;
    size_t i, j;
    json_array_foreach(array_of(plan, "pools"), i, pool)
    {
        char farm[32];
        json_t *ids = json_object();
        const json_t *used;
        snprintf(farm, sizeof farm, "%" JSON_INTEGER_FORMAT, int_of(pool, "farm_id"));
        add_distinct(farms, farm, "a pool for farm");
        used = json_object_get(by_farm, farm);
        if (used == NULL)
            fail_msg("a pool for farm %s, where nothing is placed", farm);
        json_array_foreach(json_object_get(pool, "node_ids"), j, id)
        {
            /* the used nodes, then the spares, which hold nothing */
            size_t n = json_array_size(json_object_get(pool, "node_ids"));
            if (j < n - (size_t)int_of(pool, "spares"))
                add_distinct(ids, json_string_value(id), "in a pool, node");
            else
                assert_null(json_object_get(used, json_string_value(id)));
        }
        assert_true(json_equal(ids, used));
        json_decref(ids);
    }
    assert_int_equal(json_object_size(farms), json_object_size(by_farm));
    json_decref(farms);
}

static void assert_plan_invariants(const json_t *plan, const grid_t *g,
                                   const char *const *countries)
{
    json_t *data_nodes = json_object(), *machine_farms = json_object(), *by_farm = json_object();
    json_t *machine_node = json_object();
    const json_t *m, *z;
    size_t i;
    json_array_foreach(array_of(plan, "machines"), i, m)
    {
        char farm[32];
        snprintf(farm, sizeof farm, "%" JSON_INTEGER_FORMAT, int_of(m, "farm_id"));
        add_distinct(machine_farms, farm, "for a machine, farm");
        json_object_set_new(machine_node, str_of(m, "role"), json_string(str_of(m, "node_id")));
        assert_node_usable(g, str_of(m, "node_id"), countries);
        add_used_node(by_farm, m);
    }
    json_array_foreach(array_of(plan, "zdbs"), i, z)
    {
        if (strcmp(str_of(z, "role"), "data") == 0)
            add_distinct(data_nodes, str_of(z, "node_id"), "for a data 0-db, node");
        else
            assert_string_equal(str_of(z, "node_id"), str_of(machine_node, str_of(z, "machine")));
        assert_node_usable(g, str_of(z, "node_id"), countries);
        add_used_node(by_farm, z);
    }
    assert_pools_match_farms(plan, by_farm);
    json_decref(data_nodes);
    json_decref(machine_farms);
    json_decref(by_farm);
    json_decref(machine_node);
}

/* ---- planning the examples ------------------------------------------------------------------ */

static bool is_yaml(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".yaml") == 0;
}

static void test_plan_every_example_spec_plans_and_every_qr_decodes(void **state)
{
    fixture_t *t = *state;
    char dir[PATH_LEN];
    DIR *d;
    struct dirent *e;
    size_t specs = 0;
    ts_source_path("templates/examples", dir, sizeof dir);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        proc_t p;
        json_t *plan;
        if (!is_yaml(e->d_name))
            continue;
        ts_remove_tree(t->out);
        run_example(t, &p, e->d_name, "7");
        assert_planned(&p);
        plan = load_out_plan(t);
        assert_plan_shape(plan);
        assert_documents(t, plan, GS_QR_MAX_BYTES);
        assert_out_holds_exactly(t, plan);
        json_decref(plan);
        ts_proc_free(&p);
        specs++;
    }
    closedir(d);
    assert_true(specs > 0);
}

static void test_plan_invariants_hold_on_the_examples(void **state)
{
    static const char *const be_nl[] = {"Belgium", "Netherlands", NULL};
    static const struct {
        const char *spec;
        const char *const *countries;
    } examples[] = {{BACKUP_EU, be_nl}, {"minimal.yaml", NULL}, {"archive-3site.yaml", NULL}};
    static const char *const seeds[] = {"1", "7", "1234"};
    fixture_t *t = *state;
    grid_t g;
    grid_load(t, &g);
    for (size_t i = 0; i < GS_ARRAY_SIZE(examples); i++)
        for (size_t s = 0; s < GS_ARRAY_SIZE(seeds); s++) {
            proc_t p;
            json_t *plan;
            run_example(t, &p, examples[i].spec, seeds[s]);
            assert_planned(&p);
            plan = load_out_plan(t);
            assert_plan_invariants(plan, &g, examples[i].countries);
            assert_every_workload_signed_once(plan);
            assert_documents_pay_the_total(plan);
            json_decref(plan);
            ts_proc_free(&p);
        }
    json_decref(g.by_id);
}

static void test_plan_same_seed_gives_the_same_plan(void **state)
{
    static const char *const keys[] = {"machines", "zdbs", "pools"};
    fixture_t *t = *state;
    json_t *first, *second;
    proc_t p;
    run_example(t, &p, BACKUP_EU, "7");
    assert_planned(&p);
    ts_proc_free(&p);
    first = load_out_plan(t);
    run_example(t, &p, BACKUP_EU, "7");
    assert_planned(&p);
    ts_proc_free(&p);
    second = load_out_plan(t);
    for (size_t i = 0; i < GS_ARRAY_SIZE(keys); i++)
        if (!json_equal(json_object_get(first, keys[i]), json_object_get(second, keys[i])))
            fail_msg("with --seed 7 twice, the plans' %s differ", keys[i]);
    assert_documents(t, second, GS_QR_MAX_BYTES);
    json_decref(first);
    json_decref(second);
}

/* ---- splitting into documents --------------------------------------------------------------- */

static void test_plan_qr_limit_splits_into_documents_that_decode_and_add_up(void **state)
{
    fixture_t *t = *state;
    char spec[PATH_LEN];
    json_t *plan;
    proc_t p;
    example_path(BACKUP_EU, spec);
    run_plan(t, &p, spec, "--seed", "7", "--qr-limit", "1200", NULL);
    assert_planned(&p);
    plan = load_out_plan(t);
    assert_true(json_array_size(array_of(plan, "documents")) >= 2);
    assert_documents(t, plan, 1200);
    assert_documents_pay_the_total(plan);
    assert_every_workload_signed_once(plan);
    assert_out_holds_exactly(t, plan);
    json_decref(plan);
    ts_proc_free(&p);
}

static void test_plan_rerun_with_fewer_documents_removes_stale_qr_files(void **state)
{
    fixture_t *t = *state;
    char spec[PATH_LEN], stale[PATH_LEN];
    json_t *plan;
    proc_t p;
    example_path(BACKUP_EU, spec);
    run_plan(t, &p, spec, "--seed", "7", "--qr-limit", "1200", NULL);
    assert_planned(&p);
    ts_proc_free(&p);
    path_in(t->out, "qr-02.png", stale);
    assert_int_equal(access(stale, F_OK), 0);

    run_plan(t, &p, spec, "--seed", "7", NULL);
    assert_planned(&p);
    plan = load_out_plan(t);
    assert_int_equal(json_array_size(array_of(plan, "documents")), 1);
    assert_out_holds_exactly(t, plan);
    assert_documents(t, plan, GS_QR_MAX_BYTES);
    json_decref(plan);
    ts_proc_free(&p);
}

/* ---- what it prints ------------------------------------------------------------------------- */

static void test_plan_json_prints_exactly_plan_json(void **state)
{
    fixture_t *t = *state;
    char path[PATH_LEN];
    json_t *printed, *file;
    json_error_t e;
    gs_buf_t text;
    proc_t p;
    char spec[PATH_LEN];
    example_path(BACKUP_EU, spec);
    run_plan(t, &p, spec, "--seed", "7", "--json", NULL);
    assert_planned(&p);
    /* json_loadb refuses anything but whitespace after the value. */
    printed = json_loadb(p.out.data, p.out.len, 0, &e);
    if (printed == NULL)
        fail_msg("stdout is not one JSON value: %d:%d: %s", e.line, e.column, e.text);
    file = load_out_plan(t);
    assert_true(json_equal(printed, file));
    path_in(t->out, "plan.json", path);
    read_all(path, &text);
    assert_int_equal(p.out.len, text.len + 1);
    assert_memory_equal(p.out.data, text.data, text.len);
    assert_int_equal(p.out.data[text.len], '\n');
    gs_buf_free(&text);
    json_decref(printed);
    json_decref(file);
    ts_proc_free(&p);
}

/* The width in glyphs of a line of the terminal QR (only full, upper and lower half
 * blocks and spaces, at least one block), or 0 for any other line. */
static size_t qr_line_width(const char *line, size_t len)
{
    static const char *const blocks[] = {"\xe2\x96\x88", "\xe2\x96\x80", "\xe2\x96\x84"};
    size_t i = 0, glyphs = 0, n_blocks = 0;
    while (i < len) {
        size_t was = i;
        if (line[i] == ' ')
            i++;
        for (size_t b = 0; b < GS_ARRAY_SIZE(blocks) && i == was; b++)
            if (len - i >= 3 && memcmp(line + i, blocks[b], 3) == 0)
                i += 3, n_blocks++;
        if (i == was)
            return 0;
        glyphs++;
    }
    return n_blocks > 0 ? glyphs : 0;
}

static void test_plan_prints_summary_and_terminal_qr(void **state)
{
    fixture_t *t = *state;
    const char *line, *nl;
    size_t qr_lines = 0, first_width = 0;
    proc_t p;
    run_example(t, &p, BACKUP_EU, "7");
    assert_planned(&p);
    assert_non_null(strstr(p.out.data, "total"));
    for (line = p.out.data; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        size_t width = qr_line_width(line, (size_t)(nl - line));
        if (width == 0)
            continue;
        if (qr_lines++ == 0)
            first_width = width;
        assert_int_equal(width, first_width); /* the QR is a square of glyphs */
    }
    /* Version 1 is 21 modules plus the quiet zone, two rows a line: 13 lines at least. */
    if (qr_lines < 13)
        fail_msg("stdout has %zu lines of a terminal QR code:\n%s", qr_lines, p.out.data);
    ts_proc_free(&p);
}

/* ---- errors: exit 2 ------------------------------------------------------------------------- */

static void test_plan_bad_spec_exits_2_with_file_line_col_and_writes_nothing(void **state)
{
    fixture_t *t = *state;
    char spec[PATH_LEN];
    const char *at;
    unsigned line, col;
    int used = 0;
    proc_t p;
    write_in_dir(t, "bad.yaml", "name: bad\nowner: alice.3bot\nzdbb:\n  count: 3\n", spec);
    run_plan(t, &p, spec, NULL);
    assert_failed(t, &p, 2, "zdbb");
    at = strstr(p.err.data, spec);
    assert_non_null(at);
    if (sscanf(at + strlen(spec), ":%u:%u: %n", &line, &col, &used) != 2 || used == 0)
        fail_msg("no file:line:col in: %s", p.err.data);
    assert_int_equal(line, 3);
    assert_int_equal(col, 1);
    assert_true(strncmp(at + strlen(spec) + used, "zdbb: ", 6) == 0);
    ts_proc_free(&p);
}

static void test_plan_missing_or_oversized_spec_exits_2(void **state)
{
    fixture_t *t = *state;
    char spec[PATH_LEN], missing[PATH_LEN];
    char *big = malloc(GS_SPEC_MAX_BYTES + 2);
    proc_t p;
    assert_non_null(big);
    memset(big, '#', GS_SPEC_MAX_BYTES + 1);
    big[GS_SPEC_MAX_BYTES + 1] = '\0';
    write_in_dir(t, "big.yaml", big, spec);
    free(big);
    run_plan(t, &p, spec, NULL);
    assert_failed(t, &p, 2, "a spec is at most");
    ts_proc_free(&p);
    path_in(t->dir, "missing.yaml", missing);
    run_plan(t, &p, missing, NULL);
    assert_failed(t, &p, 2, "missing.yaml: cannot open");
    ts_proc_free(&p);
}

static void test_plan_bad_arguments_exit_2_and_write_nothing(void **state)
{
    fixture_t *t = *state;
    char spec[PATH_LEN];
    example_path(BACKUP_EU, spec); /* before cases, which point at it */
    const char *cases[][10] = {
        {"plan", "--nodes", t->nodes, "--out", t->out},
        {"plan", spec, spec, "--nodes", t->nodes, "--out", t->out},
        {"plan", spec, "--nodes", t->nodes, "--qr-limit", "0", "--out", t->out},
        {"plan", spec, "--nodes", t->nodes, "--qr-limit", "5000", "--out", t->out},
        {"plan", spec, "--grid", "http://127.0.0.1:9", "--nodes", t->nodes, "--out", t->out},
        {"plan", spec, "--out", t->out},
    };
    for (size_t i = 0; i < GS_ARRAY_SIZE(cases); i++) {
        const char *argv[12] = {gridstor_path()};
        proc_t p;
        for (size_t j = 0; cases[i][j]; j++)
            argv[j + 1] = cases[i][j];
        run_argv(t, argv, &p);
        assert_failed(t, &p, 2, "gridstor plan: ");
        ts_proc_free(&p);
    }
}

static void test_plan_qr_limit_below_one_line_exits_2_saying_over_by(void **state)
{
    fixture_t *t = *state;
    char spec[PATH_LEN];
    proc_t p;
    example_path(BACKUP_EU, spec);
    run_plan(t, &p, spec, "--seed", "7", "--qr-limit", "600", NULL);
    assert_failed(t, &p, 2, "over by");
    ts_proc_free(&p);
}

static void test_plan_qr_limit_below_the_frame_exits_2(void **state)
{
    fixture_t *t = *state;
    char spec[PATH_LEN];
    proc_t p;
    example_path(BACKUP_EU, spec);
    run_plan(t, &p, spec, "--seed", "7", "--qr-limit", "400", NULL);
    assert_failed(t, &p, 2, "--qr-limit 400");
    ts_proc_free(&p);
}

/* ---- errors: exit 3 ------------------------------------------------------------------------- */

static void assert_placement_fails(const fixture_t *t, const char *spec_text, const char *needle)
{
    char spec[PATH_LEN];
    proc_t p;
    write_in_dir(t, "spec.yaml", spec_text, spec);
    run_plan(t, &p, spec, "--seed", "7", NULL);
    assert_failed(t, &p, 3, needle);
    ts_proc_free(&p);
}

static void test_plan_unsatisfiable_placement_exits_3_naming_it(void **state)
{
    fixture_t *t = *state;
    /* 22 up nodes in BE and NL have 5000 GiB of free HDD; only 6 have 12000. */
    assert_placement_fails(t,
                           "name: big\nowner: alice.3bot\nzdb:\n  size: 12000GiB\n"
                           "placement:\n  countries: [BE, NL]\n",
                           "gridstor plan: need 20 nodes with 12000 GiB free HDD in BE, NL: found");
    assert_placement_fails(t, "name: atl\nowner: alice.3bot\nplacement:\n  countries: [Atlantis]\n",
                           "Atlantis");
}

static void test_plan_unknown_farm_exits_3_naming_the_farm(void **state)
{
    fixture_t *t = *state;
    assert_placement_fails(t, "name: nf\nowner: alice.3bot\nplacement:\n  farms: [nosuchfarm]\n",
                           "nosuchfarm");
}

/* ---- errors: exit 4 ------------------------------------------------------------------------- */

/* Exit 4 and a message naming the file and saying why (two needles, the second may be NULL). */
static void assert_nodes_file_fails(const fixture_t *t, const char *nodes, const char *why,
                                    const char *why_too)
{
    char spec[PATH_LEN];
    proc_t p;
    example_path(BACKUP_EU, spec);
    run_gridstor(t, &p, "plan", spec, "--nodes", nodes, "--out", t->out, NULL);
    assert_failed(t, &p, 4, nodes);
    assert_stderr_has(&p, why);
    if (why_too)
        assert_stderr_has(&p, why_too);
    ts_proc_free(&p);
}

static void test_plan_unreadable_nodes_file_exits_4_and_writes_nothing(void **state)
{
    fixture_t *t = *state;
    char path[PATH_LEN];
    path_in(t->dir, "missing.json", path);
    assert_nodes_file_fails(t, path, "cannot open", NULL);
    write_in_dir(t, "text.json", "not json\n", path);
    assert_nodes_file_fails(t, path, "not valid JSON", NULL);
    write_in_dir(t, "object.json", "{\"nodes\": []}\n", path);
    assert_nodes_file_fails(t, path, "array", NULL);
}

static void test_plan_node_without_total_resources_exits_4_naming_it(void **state)
{
    fixture_t *t = *state;
    json_t *nodes = load_json(t->nodes);
    char path[PATH_LEN];
    assert_int_equal(json_object_del(json_array_get(nodes, 3), "total_resources"), 0);
    path_in(t->dir, "nodes.json", path);
    assert_int_equal(json_dump_file(nodes, path, 0), 0);
    json_decref(nodes);
    assert_nodes_file_fails(t, path, "element 3", "total_resources");
}

/* ---- the command itself --------------------------------------------------------------------- */

static void test_gridstor_help_and_version(void **state)
{
    fixture_t *t = *state;
    proc_t p;
    run_gridstor(t, &p, "--help", NULL);
    assert_planned(&p);
    assert_true(strncmp(p.out.data, "usage: gridstor ", 16) == 0);
    ts_proc_free(&p);
    run_gridstor(t, &p, "plan", "--help", NULL);
    assert_planned(&p);
    assert_true(strncmp(p.out.data, "usage: gridstor plan ", 21) == 0);
    ts_proc_free(&p);
    run_gridstor(t, &p, "--version", NULL);
    assert_planned(&p);
    assert_string_equal(p.out.data, "gridstor 0.1.0\n");
    ts_proc_free(&p);
}

static void test_gridstor_unknown_command_exits_2(void **state)
{
    fixture_t *t = *state;
    proc_t p;
    run_gridstor(t, &p, "frobnicate", NULL);
    assert_status(&p, 2);
    assert_stderr_has(&p, "frobnicate");
    assert_string_equal(p.out.data, "");
    ts_proc_free(&p);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_plan_every_example_spec_plans_and_every_qr_decodes),
        TEST(test_plan_invariants_hold_on_the_examples),
        TEST(test_plan_same_seed_gives_the_same_plan),
        TEST(test_plan_qr_limit_splits_into_documents_that_decode_and_add_up),
        TEST(test_plan_rerun_with_fewer_documents_removes_stale_qr_files),
        TEST(test_plan_json_prints_exactly_plan_json),
        TEST(test_plan_prints_summary_and_terminal_qr),
        TEST(test_plan_bad_spec_exits_2_with_file_line_col_and_writes_nothing),
        TEST(test_plan_missing_or_oversized_spec_exits_2),
        TEST(test_plan_bad_arguments_exit_2_and_write_nothing),
        TEST(test_plan_qr_limit_below_one_line_exits_2_saying_over_by),
        TEST(test_plan_qr_limit_below_the_frame_exits_2),
        TEST(test_plan_unsatisfiable_placement_exits_3_naming_it),
        TEST(test_plan_unknown_farm_exits_3_naming_the_farm),
        TEST(test_plan_unreadable_nodes_file_exits_4_and_writes_nothing),
        TEST(test_plan_node_without_total_resources_exits_4_naming_it),
        TEST(test_gridstor_help_and_version),
        TEST(test_gridstor_unknown_command_exits_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
