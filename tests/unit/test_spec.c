/* test_spec.c — the deployment spec: the bundled examples and the defaults parse to
 * the expected values, and every kind of bad input is refused with the right error
 * code and a `file:line:col: key: reason` message that points at the culprit. */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)
#define DAY UINT64_C(86400)

/* Every test spec starts with these two lines, so keys below start on line 3. */
#define HEAD "name: backup\nowner: alice.3bot\n"

/* ---- helpers ------------------------------------------------------------------------------- */

static void load_example(const char *name, gs_spec_t *spec)
{
    char rel[256], path[4096];
    gs_diag_t diag = {{0}};
    int err;
    snprintf(rel, sizeof rel, "templates/examples/%s", name);
    ts_source_path(rel, path, sizeof path);
    err = gs_spec_load(path, spec, &diag);
    if (err)
        fail_msg("%s: %s: %s", name, gs_err_name(err), diag.msg);
}

static void parse_ok(const char *text, gs_spec_t *spec)
{
    gs_diag_t diag = {{0}};
    int err = gs_spec_parse(text, strlen(text), "test.yaml", spec, &diag);
    if (err)
        fail_msg("expected the spec to parse, got %s: %s", gs_err_name(err), diag.msg);
}

/* Parses text of len bytes expecting `code`, a message that starts with `prefix`
 * ("test.yaml:3:1: topology: ") and contains `reason`. The spec must be left
 * empty and safe to free again. */
static void expect_error_len(const char *text, size_t len, int code, const char *prefix,
                             const char *reason)
{
    gs_spec_t spec;
    gs_diag_t diag = {{0}};
    int err = gs_spec_parse(text, len, "test.yaml", &spec, &diag);
    if (err != code)
        fail_msg("expected %s, got %s: '%s'", gs_err_name(code), gs_err_name(err), diag.msg);
    if (strncmp(diag.msg, prefix, strlen(prefix)) != 0)
        fail_msg("message '%s' does not start with '%s'", diag.msg, prefix);
    if (strstr(diag.msg + strlen(prefix), reason) == NULL)
        fail_msg("message '%s' does not say '%s'", diag.msg, reason);
    assert_null(spec.name);
    assert_null(spec.owner);
    assert_null(spec.topology);
    assert_int_equal(spec.notes.n, 0);
    gs_spec_free(&spec);
}

static void expect_error(const char *text, const char *prefix, const char *reason)
{
    expect_error_len(text, strlen(text), GS_ESPEC, prefix, reason);
}

static void assert_strlist(const gs_strlist_t *l, size_t n, const char *const *items)
{
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l->items[i], items[i]);
}

/* Checks every default the spec format documents except name and owner. */
static void assert_defaults(const gs_spec_t *s)
{
    assert_string_equal(s->topology, "m1m2");
    assert_int_equal(s->duration_s, 30 * DAY);
    assert_int_equal(s->codec.data, 16);
    assert_int_equal(s->codec.parity, 4);
    assert_int_equal(s->zdb.count, 20);
    assert_int_equal(s->zdb.size, 10 * GIB);
    assert_int_equal(s->zdb.disk, GS_DISK_HDD);
    assert_int_equal(s->zdb.mode, GS_MODE_SEQ);
    assert_int_equal(s->metadata.size, GIB);
    assert_int_equal(s->metadata.disk, GS_DISK_SSD);
    assert_int_equal(s->machine.cpu, 1);
    assert_int_equal(s->machine.memory, 400 * MIB);
    assert_int_equal(s->machine.disk, 10 * GIB);
    assert_int_equal(s->placement.spread, GS_SPREAD_FARM);
    assert_int_equal(s->placement.countries.n, 0);
    assert_int_equal(s->placement.cities.n, 0);
    assert_int_equal(s->placement.farms.n, 0);
    assert_int_equal(s->placement.nodes.n, 0);
    assert_int_equal(s->placement.exclude_nodes.n, 0);
    assert_int_equal(s->zdb_size_gib, 10);
    assert_int_equal(s->meta_size_gib, 1);
    assert_int_equal(s->memory_mib, 400);
    assert_int_equal(s->disk_mib, 10240);
    assert_int_equal(s->notes.n, 0);
}

/* ---- the examples and the defaults ----------------------------------------------------------- */

static void test_spec_example_parses_every_key(void **state)
{
    static const char *const countries[] = {"BE", "NL"};
    gs_spec_t s;
    (void)state;
    load_example("backup-eu.yaml", &s);
    assert_string_equal(s.name, "backup-eu");
    assert_string_equal(s.owner, "alice.3bot");
    assert_string_equal(s.topology, "m1m2");
    assert_int_equal(s.duration_s, 180 * DAY);
    assert_int_equal(s.codec.data, 16);
    assert_int_equal(s.codec.parity, 4);
    assert_int_equal(s.zdb.count, 20);
    assert_int_equal(s.zdb.size, 10 * GIB);
    assert_int_equal(s.zdb.disk, GS_DISK_HDD);
    assert_int_equal(s.machine.cpu, 1);
    assert_int_equal(s.machine.memory, 400 * MIB);
    assert_int_equal(s.machine.disk, 10 * GIB);
    assert_strlist(&s.placement.countries, 2, countries);
    assert_int_equal(s.placement.spread, GS_SPREAD_FARM);
    assert_int_equal(s.zdb_size_gib, 10);
    assert_int_equal(s.memory_mib, 400);
    assert_int_equal(s.disk_mib, 10240);
    assert_int_equal(s.notes.n, 0);
    gs_spec_free(&s);
}

static void test_spec_archive_example_parses_three_site_values(void **state)
{
    gs_spec_t s;
    (void)state;
    load_example("archive-3site.yaml", &s);
    assert_string_equal(s.name, "archive-3site");
    assert_string_equal(s.owner, "bob.3bot");
    assert_string_equal(s.topology, "m1m2m3");
    assert_int_equal(s.duration_s, 12 * 30 * DAY);
    assert_int_equal(s.codec.data, 10);
    assert_int_equal(s.codec.parity, 4);
    assert_int_equal(s.zdb.count, 24);
    assert_int_equal(s.zdb.size, 50 * GIB);
    assert_int_equal(s.zdb_size_gib, 50);
    assert_int_equal(s.machine.cpu, 2);
    assert_int_equal(s.memory_mib, 2048);
    assert_int_equal(s.disk_mib, 20 * 1024);
    assert_int_equal(s.metadata.size, 2 * GIB);
    assert_int_equal(s.meta_size_gib, 2);
    assert_int_equal(s.metadata.disk, GS_DISK_SSD);
    assert_int_equal(s.placement.exclude_nodes.n, 0);
    assert_int_equal(s.placement.spread, GS_SPREAD_NODE);
    assert_int_equal(s.notes.n, 0);
    gs_spec_free(&s);
}

static void test_spec_minimal_example_takes_defaults(void **state)
{
    gs_spec_t s;
    (void)state;
    load_example("minimal.yaml", &s);
    assert_string_equal(s.name, "minimal");
    assert_string_equal(s.owner, "alice.3bot");
    assert_defaults(&s);
    gs_spec_free(&s);
}

/* Any example added later must parse too, without notes (examples are exact). */
static void test_spec_every_bundled_example_parses_without_notes(void **state)
{
    char dir[4096];
    struct dirent *e;
    DIR *d;
    int seen = 0;
    (void)state;
    ts_source_path("templates/examples", dir, sizeof dir);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        gs_spec_t s;
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
            continue;
        load_example(e->d_name, &s);
        if (s.notes.n)
            fail_msg("%s: unexpected note: %s", e->d_name, s.notes.items[0]);
        gs_spec_free(&s);
        seen++;
    }
    closedir(d);
    assert_true(seen >= 3);
}

static void test_spec_minimal_takes_defaults(void **state)
{
    gs_spec_t s;
    (void)state;
    parse_ok(HEAD, &s);
    assert_string_equal(s.name, "backup");
    assert_string_equal(s.owner, "alice.3bot");
    assert_defaults(&s);
    gs_spec_free(&s);
}

static void test_spec_zdb_count_defaults_to_data_plus_parity(void **state)
{
    gs_spec_t s;
    (void)state;
    parse_ok(HEAD "codec:\n  data: 10\n  parity: 5\n", &s);
    assert_int_equal(s.zdb.count, 15);
    gs_spec_free(&s);
    parse_ok(HEAD "codec:\n  data: 10\n  parity: 5\nzdb:\n  count: 17\n", &s);
    assert_int_equal(s.zdb.count, 17);
    gs_spec_free(&s);
}

static void test_spec_parses_enums_lists_and_spaced_units(void **state)
{
    static const char *const farms[] = {"12", "freefarm"};
    static const char *const nodes[] = {"3vRa1"};
    gs_spec_t s;
    (void)state;
    parse_ok(HEAD "zdb:\n  disk: ssd\n  mode: user\n"
                  "metadata:\n  size: 512 MiB\n  disk: hdd\n"
                  "machine:\n  memory: 1 GiB\n"
                  "placement:\n  farms: [12, freefarm]\n  exclude_nodes:\n    - 3vRa1\n"
                  "  spread: node\n",
             &s);
    assert_int_equal(s.zdb.disk, GS_DISK_SSD);
    assert_int_equal(s.zdb.mode, GS_MODE_USER);
    assert_int_equal(s.metadata.size, 512 * MIB);
    assert_int_equal(s.meta_size_gib, 1);
    assert_int_equal(s.metadata.disk, GS_DISK_HDD);
    assert_int_equal(s.memory_mib, 1024);
    assert_strlist(&s.placement.farms, 2, farms);
    assert_strlist(&s.placement.exclude_nodes, 1, nodes);
    assert_int_equal(s.placement.spread, GS_SPREAD_NODE);
    assert_int_equal(s.notes.n, 1); /* metadata 512 MiB is rounded up */
    gs_spec_free(&s);
}

static void test_spec_accepts_bounds(void **state)
{
    char text[256];
    gs_spec_t s;
    (void)state;
    /* a 40-character name, the shortest and longest durations, 255 shards */
    snprintf(text, sizeof text,
             "name: %s\nowner: a.3bot\nduration: 1h\ncodec:\n  data: 200\n  parity: 55\n",
             "abcdefghij0123456789abcdefghij-123456789");
    parse_ok(text, &s);
    assert_int_equal(strlen(s.name), 40);
    assert_int_equal(s.duration_s, 3600);
    assert_int_equal(s.zdb.count, 255);
    gs_spec_free(&s);
    parse_ok(HEAD "duration: 3650d\n", &s);
    assert_int_equal(s.duration_s, 3650 * DAY);
    gs_spec_free(&s);
}

/* ---- the file as a whole ------------------------------------------------------------------- */

static void test_spec_empty_file_is_refused(void **state)
{
    (void)state;
    expect_error("", "test.yaml:1:1: ", "empty");
    expect_error("# only a comment\n\n", "test.yaml:1:1: ", "empty");
}

static void test_spec_empty_text_without_a_buffer_is_refused(void **state)
{
    gs_spec_t s;
    gs_diag_t diag = {{0}};
    (void)state;
    assert_int_equal(gs_spec_parse(NULL, 0, "test.yaml", &s, &diag), GS_ESPEC);
    assert_string_equal(diag.msg, "test.yaml:1:1: empty: no YAML document");
    gs_spec_free(&s);
}

static void test_spec_not_yaml_is_refused(void **state)
{
    (void)state;
    expect_error("name: [unclosed", "test.yaml:2:1: ", "not valid YAML: did not find expected");
    expect_error("name: a\n  owner: b: c\n", "test.yaml:2:", "not valid YAML");
}

static void test_spec_list_document_is_refused(void **state)
{
    (void)state;
    expect_error("- name: a\n- owner: alice.3bot\n",
                 "test.yaml:1:1: ", "expected a map of 'key: value' lines, found a list");
}

static void test_spec_scalar_document_is_refused(void **state)
{
    (void)state;
    expect_error("just some words\n",
                 "test.yaml:1:1: ", "expected a map of 'key: value' lines, found a single value");
}

static void test_spec_second_document_is_refused(void **state)
{
    (void)state;
    expect_error(HEAD "---\nname: other\n", "test.yaml:3:1: ", "only one YAML document");
}

static void test_spec_over_one_mib_is_too_big(void **state)
{
    size_t len = GS_SPEC_MAX_BYTES + 1;
    char *text = malloc(len);
    (void)state;
    assert_non_null(text);
    memset(text, '#', len);
    memcpy(text, HEAD, strlen(HEAD));
    expect_error_len(text, len, GS_ETOOBIG, "test.yaml: ", "at most 1048576 bytes");
    /* exactly the limit is read (and here, parsed: the rest is a comment) */
    {
        gs_spec_t s;
        gs_diag_t diag = {{0}};
        text[GS_SPEC_MAX_BYTES - 1] = '\n';
        assert_int_equal(gs_spec_parse(text, GS_SPEC_MAX_BYTES, "t", &s, &diag), GS_OK);
        gs_spec_free(&s);
    }
    free(text);
}

static void test_spec_aliases_are_refused(void **state)
{
    gs_spec_t s;
    (void)state;
    expect_error("name: &n backup\nowner: alice.3bot\ntopology: *n\n",
                 "test.yaml:3:11: ", "aliases");
    /* an anchor alone is harmless */
    parse_ok("name: &n backup\nowner: alice.3bot\n", &s);
    assert_string_equal(s.name, "backup");
    gs_spec_free(&s);
}

static void test_spec_duplicate_key_is_refused(void **state)
{
    (void)state;
    expect_error(HEAD "name: other\n", "test.yaml:3:1: name: ", "given twice");
    /* the first repetition in the document is named, whatever the keys' order */
    expect_error(HEAD "codec:\n  data: 1\n  parity: 2\n  parity: 3\n  data: 4\n",
                 "test.yaml:6:3: parity: ", "given twice");
}

/* A map of tens of thousands of keys (within the node limit) is checked for
 * repeated keys without a lookup per key, which took minutes under ASan. */
static void test_spec_duplicate_among_many_keys_is_found_quickly(void **state)
{
    enum { KEYS = 49000 };
    size_t cap = KEYS * 16, n;
    char *text = malloc(cap), prefix[64];
    clock_t start;
    (void)state;
    assert_non_null(text);
    n = (size_t)snprintf(text, cap, HEAD);
    for (int i = 0; i < KEYS; i++)
        n += (size_t)snprintf(text + n, cap - n, "k%d: 1\n", i);
    snprintf(text + n, cap - n, "k7: 2\n");
    snprintf(prefix, sizeof prefix, "test.yaml:%d:1: k7: ", KEYS + 3);
    start = clock();
    expect_error(text, prefix, "given twice");
    assert_true(clock() - start < 2 * CLOCKS_PER_SEC);
    free(text);
}

static void test_spec_list_as_key_is_refused_at_its_position(void **state)
{
    (void)state;
    expect_error(HEAD "? [name, owner]\n: backup\n",
                 "test.yaml:3:3: ", "a key must be a plain name, not a list or map");
}

static void test_spec_deep_nesting_is_refused(void **state)
{
    char text[256];
    int n = 0;
    (void)state;
    /* the root map is depth 0, the value of x depth 1: the 33rd '[' is one too deep */
    n += snprintf(text, sizeof text, "x: ");
    for (int i = 0; i < 40; i++)
        text[n++] = '[';
    for (int i = 0; i < 40; i++)
        text[n++] = ']';
    text[n] = '\0';
    expect_error(text, "test.yaml:1:36: ", "nested too deeply");
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void test_spec_wrong_types_are_refused(void **state)
{
    (void)state;
    expect_error(HEAD "codec:\n  data: \"sixteen\"\n",
                 "test.yaml:4:9: codec.data: ", "expected a whole number, found 'sixteen'");
    expect_error(HEAD "codec:\n  data: sixteen\n",
                 "test.yaml:4:9: codec.data: ", "expected a whole number");
    /* a quoted number is text */
    expect_error(HEAD "codec:\n  data: \"16\"\n",
                 "test.yaml:4:9: codec.data: ", "expected a whole number");
    expect_error(HEAD "codec: 5\n", "test.yaml:3:8: codec: ", "expected a map");
    expect_error(HEAD "placement:\n  countries: BE\n", "test.yaml:4:14: placement.countries: ",
                 "expected a list like [a, b], found a single value");
    expect_error(HEAD "placement:\n  farms: [[1, 2]]\n", "test.yaml:4:11: placement.farms: ",
                 "each entry must be a single non-empty value");
    expect_error("name: [a, b]\nowner: alice.3bot\n",
                 "test.yaml:1:7: name: ", "expected a text value, found a list");
    expect_error(HEAD "zdb:\n  disk: nvme\n",
                 "test.yaml:4:9: zdb.disk: ", "unknown value 'nvme'; expected one of: hdd, ssd");
}

static void test_spec_unknown_top_level_key_suggests_closest(void **state)
{
    (void)state;
    expect_error(HEAD "topolgy: m1\n",
                 "test.yaml:3:1: topolgy: ", "unknown key; did you mean 'topology'?");
}

static void test_spec_unknown_nested_key_suggests_closest(void **state)
{
    (void)state;
    expect_error(HEAD "codec:\n  data: 16\n  partiy: 4\n",
                 "test.yaml:5:3: codec.partiy: ", "unknown key; did you mean 'parity'?");
}

static void test_spec_unknown_key_without_near_match_has_no_suggestion(void **state)
{
    gs_spec_t s;
    gs_diag_t diag = {{0}};
    const char *text = HEAD "colour: blue\n";
    (void)state;
    assert_int_equal(gs_spec_parse(text, strlen(text), "test.yaml", &s, &diag), GS_ESPEC);
    assert_string_equal(diag.msg, "test.yaml:3:1: colour: unknown key");
    gs_spec_free(&s);
}

static void test_spec_missing_name_is_refused(void **state)
{
    (void)state;
    expect_error("owner: alice.3bot\n", "test.yaml:1:1: name: ", "required key is missing");
}

static void test_spec_missing_owner_is_refused(void **state)
{
    (void)state;
    expect_error("# a spec\nname: backup\n", "test.yaml:2:1: owner: ", "required key is missing");
}

static void test_spec_owner_must_be_a_3bot_name(void **state)
{
    (void)state;
    expect_error("name: backup\nowner: alice\n",
                 "test.yaml:2:8: owner: ", "must be a 3Bot name like alice.3bot");
    expect_error("name: backup\nowner: .3bot\n", "test.yaml:2:8: owner: ", "must be a 3Bot name");
    expect_error("name: backup\nowner: Alice.3bot\n",
                 "test.yaml:2:8: owner: ", "only lowercase letters");
}

static void test_spec_name_must_be_lowercase_short_and_without_spaces(void **state)
{
    (void)state;
    expect_error("name: Backup\nowner: alice.3bot\n",
                 "test.yaml:1:7: name: ", "use only lowercase letters, digits and '-'");
    expect_error("name: my backup\nowner: alice.3bot\n",
                 "test.yaml:1:7: name: ", "use only lowercase letters");
    expect_error("name: -backup\nowner: alice.3bot\n",
                 "test.yaml:1:7: name: ", "must start with a lowercase letter or digit");
    expect_error("name: abcdefghij0123456789abcdefghij01234567890\nowner: alice.3bot\n",
                 "test.yaml:1:7: name: ", "must be 1 to 40 characters long");
    expect_error("name: \"\"\nowner: alice.3bot\n",
                 "test.yaml:1:7: name: ", "must be 1 to 40 characters long");
}

static void test_spec_sizes_must_be_positive_whole_and_binary(void **state)
{
    (void)state;
    expect_error(HEAD "zdb:\n  size: -10GiB\n",
                 "test.yaml:4:9: zdb.size: ", "'-10GiB': must be a positive number");
    expect_error(HEAD "zdb:\n  size: 0GiB\n", "test.yaml:4:9: zdb.size: ",
                 "'0GiB' is out of range: must be between 1B and 100TiB");
    expect_error(HEAD "zdb:\n  size: 1.5GiB\n", "test.yaml:4:9: zdb.size: ",
                 "'1.5GiB': use a whole number of a smaller unit, like 1536MiB");
    expect_error(HEAD "zdb:\n  size: 10\n",
                 "test.yaml:4:9: zdb.size: ", "'10': add a unit: KiB, MiB, GiB or TiB");
    expect_error(HEAD "zdb:\n  size: 10GB\n",
                 "test.yaml:4:9: zdb.size: ", "'10GB': unknown unit; use KiB, MiB, GiB or TiB");
    expect_error(HEAD "zdb:\n  size: 101TiB\n",
                 "test.yaml:4:9: zdb.size: ", "out of range: must be between 1B and 100TiB");
    expect_error(HEAD "zdb:\n  size: 99999999999999999999GiB\n",
                 "test.yaml:4:9: zdb.size: ", "not too large");
    expect_error(HEAD "zdb:\n  size: 17179869184GiB\n", "test.yaml:4:9: zdb.size: ", "too large");
    expect_error(HEAD "machine:\n  memory: 100MiB\n", "test.yaml:4:11: machine.memory: ",
                 "'100MiB' is out of range: must be between 256MiB and 256GiB");
    expect_error(HEAD "metadata:\n  size: 0MiB\n",
                 "test.yaml:4:9: metadata.size: ", "out of range");
}

static void test_spec_data_plus_parity_is_at_most_255(void **state)
{
    (void)state;
    expect_error(HEAD "codec:\n  data: 200\n  parity: 100\n", "test.yaml:5:3: codec.parity: ",
                 "data + parity is 300; at most 255 shards are possible");
    expect_error(HEAD "codec:\n  data: 255\n",
                 "test.yaml:4:9: codec.data: ", "255 is out of range: must be between 1 and 254");
    expect_error(HEAD "codec:\n  parity: -1\n", "test.yaml:4:11: codec.parity: ", "out of range");
}

static void test_spec_zdb_count_below_data_plus_parity_is_refused(void **state)
{
    (void)state;
    expect_error(HEAD "zdb:\n  count: 10\n",
                 "test.yaml:4:3: zdb.count: ", "10 0-dbs cannot hold 16+4 shards; use at least 20");
}

static void test_spec_unknown_topology_lists_the_known_ones(void **state)
{
    (void)state;
    expect_error(HEAD "topology: m4\n", "test.yaml:3:1: topology: ",
                 "unknown topology 'm4'; expected one of: m1, m1m2, m1m2m3");
}

static void test_spec_durations_need_a_known_unit_and_a_sane_length(void **state)
{
    (void)state;
    expect_error(HEAD "duration: 30\n",
                 "test.yaml:3:11: duration: ", "'30': add a unit: s, min, h, d, w or mo");
    expect_error(HEAD "duration: 2y\n",
                 "test.yaml:3:11: duration: ", "'2y': unknown unit; use s, min, h, d, w or mo");
    expect_error(HEAD "duration: 0h\n", "test.yaml:3:11: duration: ",
                 "'0h' is out of range: must be between 1h and 3650d");
    expect_error(HEAD "duration: 3651d\n", "test.yaml:3:11: duration: ", "'3651d' is out of range");
    expect_error(HEAD "duration: 122mo\n", "test.yaml:3:11: duration: ", "out of range");
    expect_error(HEAD "duration: 1.5d\n",
                 "test.yaml:3:11: duration: ", "use a whole number of a smaller unit, like 36h");
}

/* ---- notes --------------------------------------------------------------------------------- */

static void test_spec_zdb_size_is_rounded_up_with_a_note(void **state)
{
    gs_spec_t s;
    (void)state;
    parse_ok(HEAD "zdb:\n  size: 1500MiB\n", &s);
    assert_int_equal(s.zdb.size, 1500 * MIB);
    assert_int_equal(s.zdb_size_gib, 2);
    assert_int_equal(s.notes.n, 1);
    if (strncmp(s.notes.items[0], "test.yaml:4:3: zdb.size: ", 25) != 0 ||
        strstr(s.notes.items[0], "rounded up to 2 GiB") == NULL)
        fail_msg("unexpected note: %s", s.notes.items[0]);
    gs_spec_free(&s);
}

static void test_spec_machine_memory_is_rounded_up_to_whole_mib(void **state)
{
    gs_spec_t s;
    (void)state;
    parse_ok(HEAD "machine:\n  memory: 262145KiB\n", &s);
    assert_int_equal(s.memory_mib, 257);
    assert_int_equal(s.notes.n, 1);
    assert_non_null(
        strstr(s.notes.items[0], "test.yaml:4:3: machine.memory: rounded up to 257 MiB"));
    gs_spec_free(&s);
}

static void test_spec_unknown_country_gives_a_note_but_parses(void **state)
{
    static const char *const countries[] = {"Belgium", "Atlantis", "nl"};
    gs_spec_t s;
    (void)state;
    parse_ok(HEAD "placement:\n  countries: [Belgium, Atlantis, nl]\n", &s);
    assert_strlist(&s.placement.countries, 3, countries);
    assert_int_equal(s.notes.n, 1);
    assert_non_null(strstr(s.notes.items[0], "placement.countries"));
    assert_non_null(strstr(s.notes.items[0], "'Atlantis'"));
    gs_spec_free(&s);
}

/* ---- files --------------------------------------------------------------------------------- */

static void test_spec_load_missing_file_is_enoent_naming_the_path(void **state)
{
    const char *path = "/nonexistent/gridstor/spec.yaml";
    gs_spec_t s;
    gs_diag_t diag = {{0}};
    (void)state;
    assert_int_equal(gs_spec_load(path, &s, &diag), GS_ENOENT);
    if (strncmp(diag.msg, path, strlen(path)) != 0)
        fail_msg("message '%s' does not start with the path", diag.msg);
    assert_null(s.name);
    gs_spec_free(&s);
}

static void test_spec_load_names_the_file_in_messages(void **state)
{
    char path[] = "/tmp/gs-test-spec-XXXXXX";
    const char *text = HEAD "topolgy: m1\n";
    char want[128];
    gs_spec_t s;
    gs_diag_t diag = {{0}};
    int fd;
    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(gs_spec_load(path, &s, &diag), GS_ESPEC);
    snprintf(want, sizeof want, "%s:3:1: topolgy: ", path);
    if (strncmp(diag.msg, want, strlen(want)) != 0)
        fail_msg("message '%s' does not start with '%s'", diag.msg, want);
    gs_spec_free(&s);
    unlink(path);
}

static void test_spec_load_refuses_a_file_over_one_mib(void **state)
{
    char path[] = "/tmp/gs-test-spec-XXXXXX";
    char *big = calloc(1, GS_SPEC_MAX_BYTES + 1);
    gs_spec_t s;
    gs_diag_t diag = {{0}};
    int fd;
    (void)state;
    assert_non_null(big);
    memset(big, '#', GS_SPEC_MAX_BYTES + 1);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, big, GS_SPEC_MAX_BYTES + 1), GS_SPEC_MAX_BYTES + 1);
    close(fd);
    assert_int_equal(gs_spec_load(path, &s, &diag), GS_ETOOBIG);
    assert_non_null(strstr(diag.msg, path));
    assert_non_null(strstr(diag.msg, "at most 1048576 bytes"));
    gs_spec_free(&s);
    unlink(path);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example_parses_every_key),
        cmocka_unit_test(test_spec_archive_example_parses_three_site_values),
        cmocka_unit_test(test_spec_minimal_example_takes_defaults),
        cmocka_unit_test(test_spec_every_bundled_example_parses_without_notes),
        cmocka_unit_test(test_spec_minimal_takes_defaults),
        cmocka_unit_test(test_spec_zdb_count_defaults_to_data_plus_parity),
        cmocka_unit_test(test_spec_parses_enums_lists_and_spaced_units),
        cmocka_unit_test(test_spec_accepts_bounds),
        cmocka_unit_test(test_spec_empty_file_is_refused),
        cmocka_unit_test(test_spec_empty_text_without_a_buffer_is_refused),
        cmocka_unit_test(test_spec_not_yaml_is_refused),
        cmocka_unit_test(test_spec_list_document_is_refused),
        cmocka_unit_test(test_spec_scalar_document_is_refused),
        cmocka_unit_test(test_spec_second_document_is_refused),
        cmocka_unit_test(test_spec_over_one_mib_is_too_big),
        cmocka_unit_test(test_spec_aliases_are_refused),
        cmocka_unit_test(test_spec_duplicate_key_is_refused),
        cmocka_unit_test(test_spec_duplicate_among_many_keys_is_found_quickly),
        cmocka_unit_test(test_spec_list_as_key_is_refused_at_its_position),
        cmocka_unit_test(test_spec_deep_nesting_is_refused),
        cmocka_unit_test(test_spec_wrong_types_are_refused),
        cmocka_unit_test(test_spec_unknown_top_level_key_suggests_closest),
        cmocka_unit_test(test_spec_unknown_nested_key_suggests_closest),
        cmocka_unit_test(test_spec_unknown_key_without_near_match_has_no_suggestion),
        cmocka_unit_test(test_spec_missing_name_is_refused),
        cmocka_unit_test(test_spec_missing_owner_is_refused),
        cmocka_unit_test(test_spec_owner_must_be_a_3bot_name),
        cmocka_unit_test(test_spec_name_must_be_lowercase_short_and_without_spaces),
        cmocka_unit_test(test_spec_sizes_must_be_positive_whole_and_binary),
        cmocka_unit_test(test_spec_data_plus_parity_is_at_most_255),
        cmocka_unit_test(test_spec_zdb_count_below_data_plus_parity_is_refused),
        cmocka_unit_test(test_spec_unknown_topology_lists_the_known_ones),
        cmocka_unit_test(test_spec_durations_need_a_known_unit_and_a_sane_length),
        cmocka_unit_test(test_spec_zdb_size_is_rounded_up_with_a_note),
        cmocka_unit_test(test_spec_machine_memory_is_rounded_up_to_whole_mib),
        cmocka_unit_test(test_spec_unknown_country_gives_a_note_but_parses),
        cmocka_unit_test(test_spec_load_missing_file_is_enoent_naming_the_path),
        cmocka_unit_test(test_spec_load_names_the_file_in_messages),
        cmocka_unit_test(test_spec_load_refuses_a_file_over_one_mib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
