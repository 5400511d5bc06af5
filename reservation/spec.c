/* spec.c — the deployment spec: a key table (types, bounds, defaults) applied to
 * the YAML, then the checks that span keys (codec width, 0-db count, topology),
 * and sizes converted to the explorer's units with a note when rounded. */
#include "reservation.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GIB (1ULL << 30)
#define MIB (1ULL << 20)

static const char *const disks[] = {"hdd", "ssd", NULL};
static const char *const modes[] = {"seq", "user", NULL};
static const char *const spreads[] = {"farm", "node", NULL};

static const char *check_name(const void *field)
{
    const char *s = *(char *const *)field;
    if (s[0] == '-')
        return "must start with a lowercase letter or digit";
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return "use only lowercase letters, digits and '-'";
    return NULL;
}

static const char *check_owner(const void *field)
{
    const char *s = *(char *const *)field;
    size_t len = strlen(s);
    if (len <= 5 || strcmp(s + len - 5, ".3bot") != 0)
        return "must be a 3Bot name like alice.3bot";
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              *s == '.'))
            return "a 3Bot name has only lowercase letters, digits, '.', '-' and '_'";
    return NULL;
}

#define F(field)          offsetof(gs_spec_t, field)
#define S(section, field) (offsetof(gs_spec_t, section.field) - offsetof(gs_spec_t, section))

static const gs_cfg_key_t codec_keys[] = {
    {"data", GS_CFG_INT, S(codec, data), 1, GS_MAX_SHARDS - 1},
    {"parity", GS_CFG_INT, S(codec, parity), 0, GS_MAX_SHARDS - 1},
    {NULL},
};

static const gs_cfg_key_t zdb_keys[] = {
    {"count", GS_CFG_INT, S(zdb, count), 1, GS_MAX_ZDBS},
    {"size", GS_CFG_SIZE, S(zdb, size), 1, (int64_t)(100ULL << 40)},
    {"disk", GS_CFG_ENUM, S(zdb, disk), .choices = disks},
    {"mode", GS_CFG_ENUM, S(zdb, mode), .choices = modes},
    {NULL},
};

static const gs_cfg_key_t metadata_keys[] = {
    {"size", GS_CFG_SIZE, S(metadata, size), 1, (int64_t)(1ULL << 40)},
    {"disk", GS_CFG_ENUM, S(metadata, disk), .choices = disks},
    {NULL},
};

static const gs_cfg_key_t machine_keys[] = {
    {"cpu", GS_CFG_INT, S(machine, cpu), 1, 32},
    {"memory", GS_CFG_SIZE, S(machine, memory), (int64_t)(256 * MIB), (int64_t)(256 * GIB)},
    {"disk", GS_CFG_SIZE, S(machine, disk), (int64_t)GIB, (int64_t)(10ULL << 40)},
    {NULL},
};

static const gs_cfg_key_t placement_keys[] = {
    {"countries", GS_CFG_STRLIST, S(placement, countries), 0, 300},
    {"cities", GS_CFG_STRLIST, S(placement, cities), 0, 1000},
    {"farms", GS_CFG_STRLIST, S(placement, farms), 0, 1000},
    {"nodes", GS_CFG_STRLIST, S(placement, nodes), 0, 10000},
    {"exclude_nodes", GS_CFG_STRLIST, S(placement, exclude_nodes), 0, 10000},
    {"spread", GS_CFG_ENUM, S(placement, spread), .choices = spreads},
    {NULL},
};

static const gs_cfg_key_t spec_keys[] = {
    {"name", GS_CFG_STRING, F(name), 1, 40, .required = true, .check = check_name},
    {"owner", GS_CFG_STRING, F(owner), 1, 64, .required = true, .check = check_owner},
    {"topology", GS_CFG_STRING, F(topology), 1, 31},
    {"duration", GS_CFG_DURATION, F(duration_s), 3600, 3650LL * 86400},
    {"codec", GS_CFG_SECTION, F(codec), .section = codec_keys},
    {"zdb", GS_CFG_SECTION, F(zdb), .section = zdb_keys},
    {"metadata", GS_CFG_SECTION, F(metadata), .section = metadata_keys},
    {"machine", GS_CFG_SECTION, F(machine), .section = machine_keys},
    {"placement", GS_CFG_SECTION, F(placement), .section = placement_keys},
    {NULL},
};

static int set_defaults(gs_spec_t *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->topology = gs_strdup("m1m2");
    spec->duration_s = 30 * 86400;
    spec->codec.data = 16;
    spec->codec.parity = 4;
    spec->zdb.size = 10 * GIB;
    spec->zdb.disk = GS_DISK_HDD;
    spec->zdb.mode = GS_MODE_SEQ;
    spec->metadata.size = GIB;
    spec->metadata.disk = GS_DISK_SSD;
    spec->machine.cpu = 1;
    spec->machine.memory = 400 * MIB;
    spec->machine.disk = 10 * GIB;
    spec->placement.spread = GS_SPREAD_FARM;
    return spec->topology ? GS_OK : GS_ENOMEM;
}

typedef struct {
    gs_cfg_ctx_t *ctx;
    gs_spec_t *spec;
    const gs_yaml_node_t *root;
    gs_diag_t *diag;
} checker_t;

/* Error at the key's position, or at the top of the file when it was absent. */
static int fail(const checker_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(const checker_t *c, const char *path, const char *fmt, ...)
{
    const gs_cfg_mark_t *m = gs_cfg_mark(c->ctx, path);
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return gs_diag_at(c->diag, GS_ESPEC, c->ctx->file, m ? m->line : c->root->line,
                      m ? m->col : c->root->col, path, "%s", reason);
}

static int add_note(gs_spec_t *spec, const char *text)
{
    return gs_strlist_push(&spec->notes, text);
}

/* Rounds bytes up to `unit`; a note says so when it was not a whole number. */
static int round_up(const checker_t *c, const char *path, uint64_t bytes, uint64_t unit,
                    const char *unit_name, uint32_t *out)
{
    char note[256];
    const gs_cfg_mark_t *m;
    uint64_t n = bytes / unit + (bytes % unit != 0);
    *out = (uint32_t)n;
    if (bytes % unit == 0)
        return GS_OK;
    m = gs_cfg_mark(c->ctx, path);
    snprintf(note, sizeof note, "%s:%u:%u: %s: rounded up to %" PRIu64 " %s (the explorer's unit)",
             c->ctx->file, m ? m->line : 0, m ? m->col : 0, path, n, unit_name);
    return add_note(c->spec, note);
}

static int check_topology(const checker_t *c)
{
    gs_topology_t topo;
    gs_buf_t names;
    int err;
    if (gs_topology_load(c->spec->topology, &topo, NULL) == GS_OK)
        return GS_OK;
    gs_buf_init(&names, 1024);
    gs_topology_list(&names);
    err = fail(c, "topology", "unknown topology '%s'; expected one of: %s", c->spec->topology,
               names.data ? names.data : "");
    gs_buf_free(&names);
    return err;
}

static int check_codec(const checker_t *c)
{
    gs_spec_t *s = c->spec;
    int64_t shards = s->codec.data + s->codec.parity;
    if (shards > GS_MAX_SHARDS)
        return fail(c, gs_cfg_mark(c->ctx, "codec.parity") ? "codec.parity" : "codec.data",
                    "data + parity is %" PRId64 "; at most %d shards are possible", shards,
                    GS_MAX_SHARDS);
    if (s->zdb.count == 0)
        s->zdb.count = shards;
    if (s->zdb.count < shards)
        return fail(c, "zdb.count",
                    "%" PRId64 " 0-dbs cannot hold %" PRId64 "+%" PRId64
                    " shards; use at least %" PRId64,
                    s->zdb.count, s->codec.data, s->codec.parity, shards);
    return GS_OK;
}

static int check_countries(const checker_t *c)
{
    const gs_strlist_t *l = &c->spec->placement.countries;
    for (size_t i = 0; i < l->n; i++) {
        char note[512];
        if (gs_country_code(l->items[i]) != NULL)
            continue;
        snprintf(note, sizeof note,
                 "placement.countries: '%s' is not a country name or ISO code known here; it "
                 "is matched by name only",
                 l->items[i]);
        if (add_note(c->spec, note))
            return GS_ENOMEM;
    }
    return GS_OK;
}

static int derive(const checker_t *c)
{
    gs_spec_t *s = c->spec;
    int err = check_topology(c);
    if (err == GS_OK)
        err = check_codec(c);
    if (err == GS_OK)
        err = round_up(c, "zdb.size", s->zdb.size, GIB, "GiB", &s->zdb_size_gib);
    if (err == GS_OK)
        err = round_up(c, "metadata.size", s->metadata.size, GIB, "GiB", &s->meta_size_gib);
    if (err == GS_OK)
        err = round_up(c, "machine.memory", s->machine.memory, MIB, "MiB", &s->memory_mib);
    if (err == GS_OK)
        err = round_up(c, "machine.disk", s->machine.disk, MIB, "MiB", &s->disk_mib);
    if (err == GS_OK)
        err = check_countries(c);
    return err == GS_ENOMEM ? gs_diag_set(c->diag, err, "out of memory") : err;
}

int gs_spec_parse(const char *text, size_t len, const char *file, gs_spec_t *spec, gs_diag_t *diag)
{
    gs_yaml_node_t *root = NULL;
    gs_cfg_ctx_t ctx = {.file = file ? file : "<spec>"};
    int err;
    if (set_defaults(spec))
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (len > GS_SPEC_MAX_BYTES) {
        err = gs_diag_set(diag, GS_ETOOBIG, "%s: %zu bytes; a spec is at most %d bytes", ctx.file,
                          len, GS_SPEC_MAX_BYTES);
        goto out;
    }
    err = gs_yaml_parse(text, len, ctx.file, &root, diag);
    if (err) {
        err = err == GS_ENOMEM ? err : GS_ESPEC;
        goto out;
    }
    err = gs_cfg_apply(&ctx, spec_keys, root, spec, "", diag);
    if (err == GS_OK) {
        checker_t c = {&ctx, spec, root, diag};
        err = derive(&c);
    }
out:
    gs_yaml_free(root);
    gs_cfg_ctx_free(&ctx);
    if (err)
        gs_spec_free(spec);
    return err;
}

int gs_spec_load(const char *path, gs_spec_t *spec, gs_diag_t *diag)
{
    gs_buf_t text;
    int err;
    memset(spec, 0, sizeof *spec);
    gs_buf_init(&text, GS_SPEC_MAX_BYTES);
    err = gs_file_read(path, GS_SPEC_MAX_BYTES, &text, diag);
    if (err == GS_OK)
        err = gs_spec_parse(text.data, text.len, strcmp(path, "-") ? path : "<stdin>", spec, diag);
    else if (err == GS_ETOOBIG)
        gs_diag_set(diag, err, "%s: a spec is at most %d bytes", path, GS_SPEC_MAX_BYTES);
    gs_buf_free(&text);
    return err;
}

void gs_spec_free(gs_spec_t *spec)
{
    if (spec == NULL)
        return;
    gs_cfg_free(spec_keys, spec);
    gs_strlist_free(&spec->notes);
}
