/* cfg.c — YAML maps applied to C structs through key tables: types, bounds,
 * unknown keys with a "did you mean" hint, and where each key was found. */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    uint64_t mult;
} unit_t;

static const unit_t size_units[] = {
    {"B", 1}, {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40}};
static const unit_t duration_units[] = {{"s", 1},     {"min", 60},      {"h", 3600},
                                        {"d", 86400}, {"w", 7 * 86400}, {"mo", 30 * 86400}};

static int parse_number_unit(const char *s, uint64_t *num, const char **unit)
{
    char *end;
    unsigned long long v;
    while (*s == ' ')
        s++;
    if (*s == '-')
        return GS_ERANGE;
    if (*s < '0' || *s > '9')
        return GS_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return GS_ERANGE;
    if (*end == '.' || *end == ',')
        return GS_EPARSE;
    while (*end == ' ')
        end++;
    *num = v;
    *unit = end;
    return GS_OK;
}

/* The message for a failed parse_number_unit. */
static const char *number_reason(int err, const char *usage, const char *fraction_hint)
{
    if (err == GS_ERANGE)
        return "must be a positive number that is not too large";
    return err == GS_EPARSE ? fraction_hint : usage;
}

static int scale(uint64_t num, const char *unit, const unit_t *units, size_t n_units, uint64_t *out,
                 const char **reason, const char *hint)
{
    for (size_t i = 0; i < n_units; i++) {
        if (!gs_strieq(unit, units[i].name))
            continue;
        if (num > UINT64_MAX / units[i].mult) {
            *reason = "too large";
            return GS_ERANGE;
        }
        *out = num * units[i].mult;
        return GS_OK;
    }
    *reason = hint;
    return GS_EINVAL;
}

/* What a kind of measure accepts, and what to tell a user who wrote it wrong. */
typedef struct {
    const unit_t *units;
    size_t n_units;
    const char *usage, *fraction_hint, *missing_unit, *unknown_unit;
} measure_t;

static int parse_measure(const char *s, const measure_t *m, uint64_t *out, const char **reason)
{
    uint64_t num;
    const char *unit;
    int err = parse_number_unit(s, &num, &unit);
    if (err) {
        *reason = number_reason(err, m->usage, m->fraction_hint);
        return err;
    }
    if (*unit == '\0') {
        *reason = m->missing_unit;
        return GS_EINVAL;
    }
    return scale(num, unit, m->units, m->n_units, out, reason, m->unknown_unit);
}

int gs_parse_size(const char *s, uint64_t *bytes, const char **reason)
{
    static const measure_t size = {
        size_units,
        GS_ARRAY_SIZE(size_units),
        "expected a whole number and a unit, like 10GiB",
        "use a whole number of a smaller unit, like 1536MiB",
        "add a unit: KiB, MiB, GiB or TiB",
        "unknown unit; use KiB, MiB, GiB or TiB (binary units, as the grid counts)"};
    return parse_measure(s, &size, bytes, reason);
}

int gs_parse_duration(const char *s, uint64_t *seconds, const char **reason)
{
    static const measure_t duration = {duration_units,
                                       GS_ARRAY_SIZE(duration_units),
                                       "expected a whole number and a unit, like 30d",
                                       "use a whole number of a smaller unit, like 36h",
                                       "add a unit: s, min, h, d, w or mo (30 days)",
                                       "unknown unit; use s, min, h, d, w or mo (30 days)"};
    return parse_measure(s, &duration, seconds, reason);
}

/* v in the largest unit that divides it exactly ("100TiB", "3650d"), as a user would write it. */
static void format_measure(uint64_t v, bool is_size, char *out, size_t len)
{
    const unit_t *units = is_size ? size_units : duration_units;
    size_t i = is_size ? GS_ARRAY_SIZE(size_units) : GS_ARRAY_SIZE(duration_units);
    while (i > 1 && (v == 0 || v % units[i - 1].mult != 0))
        i--;
    snprintf(out, len, "%" PRIu64 "%s", v / units[i - 1].mult, units[i - 1].name);
}

static int add_mark(gs_cfg_ctx_t *ctx, const char *path, const gs_yaml_node_t *node)
{
    gs_cfg_mark_t *m;
    if (ctx->n_marks == ctx->cap_marks) {
        size_t cap = ctx->cap_marks ? ctx->cap_marks * 2 : 32;
        m = realloc(ctx->marks, cap * sizeof *m);
        if (m == NULL)
            return GS_ENOMEM;
        ctx->marks = m;
        ctx->cap_marks = cap;
    }
    m = &ctx->marks[ctx->n_marks++];
    snprintf(m->path, sizeof m->path, "%s", path);
    m->line = node->line;
    m->col = node->col;
    return GS_OK;
}

const gs_cfg_mark_t *gs_cfg_mark(const gs_cfg_ctx_t *ctx, const char *path)
{
    for (size_t i = 0; i < ctx->n_marks; i++)
        if (strcmp(ctx->marks[i].path, path) == 0)
            return &ctx->marks[i];
    return NULL;
}

void gs_cfg_ctx_free(gs_cfg_ctx_t *ctx)
{
    free(ctx->marks);
    ctx->marks = NULL;
    ctx->n_marks = ctx->cap_marks = 0;
}

static const gs_cfg_key_t *find_key(const gs_cfg_key_t *keys, const char *name)
{
    for (; keys->key; keys++)
        if (strcmp(keys->key, name) == 0)
            return keys;
    return NULL;
}

static const char *closest_key(const gs_cfg_key_t *keys, const char *name)
{
    const char *best = NULL;
    unsigned best_d = 3; /* only suggest near misses */
    for (; keys->key; keys++) {
        unsigned d = gs_edit_distance(keys->key, name);
        if (d < best_d) {
            best_d = d;
            best = keys->key;
        }
    }
    return best;
}

typedef struct {
    gs_cfg_ctx_t *ctx;
    const gs_yaml_node_t *node;
    const char *path;
    gs_diag_t *diag;
} site_t;

static int bad(const site_t *s, const char *fmt, const char *arg)
{
    return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, s->node->line, s->node->col, s->path, fmt,
                      arg);
}

static int want_scalar(const site_t *s, const char *what)
{
    if (s->node->kind != GS_YAML_SCALAR)
        return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, s->node->line, s->node->col, s->path,
                          "expected %s, found %s", what, gs_yaml_kind_name(s->node->kind));
    return GS_OK;
}

static int check_range(const site_t *s, const gs_cfg_key_t *k, int64_t v, const char *unit)
{
    if (v < k->min || v > k->max)
        return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, s->node->line, s->node->col, s->path,
                          "%s is out of range: must be between %" PRId64 "%s and %" PRId64 "%s",
                          s->node->value, k->min, unit, k->max, unit);
    return GS_OK;
}

static int apply_int(const site_t *s, const gs_cfg_key_t *k, void *field)
{
    char *end;
    long long v;
    int err = want_scalar(s, "a whole number");
    if (err)
        return err;
    errno = 0;
    v = strtoll(s->node->value, &end, 10);
    if (s->node->quoted || end == s->node->value || *end != '\0' || errno == ERANGE)
        return bad(s, "expected a whole number, found '%s'", s->node->value);
    err = check_range(s, k, v, "");
    if (err == GS_OK)
        *(int64_t *)field = v;
    return err;
}

static int apply_measure(const site_t *s, const gs_cfg_key_t *k, void *field)
{
    bool is_size = k->type == GS_CFG_SIZE;
    const char *reason = NULL;
    uint64_t v;
    int err = want_scalar(s, is_size ? "a size like 10GiB" : "a duration like 30d");
    if (err)
        return err;
    err = is_size ? gs_parse_size(s->node->value, &v, &reason)
                  : gs_parse_duration(s->node->value, &v, &reason);
    if (err)
        return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, s->node->line, s->node->col, s->path,
                          "'%s': %s", s->node->value, reason);
    if (v < (uint64_t)k->min || v > (uint64_t)k->max) {
        char lo[32], hi[32];
        format_measure((uint64_t)k->min, is_size, lo, sizeof lo);
        format_measure((uint64_t)k->max, is_size, hi, sizeof hi);
        return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, s->node->line, s->node->col, s->path,
                          "'%s' is out of range: must be between %s and %s", s->node->value, lo,
                          hi);
    }
    *(uint64_t *)field = v;
    return GS_OK;
}

static int apply_string(const site_t *s, const gs_cfg_key_t *k, void *field)
{
    char *copy;
    int err = want_scalar(s, "a text value");
    if (err)
        return err;
    if ((int64_t)strlen(s->node->value) < k->min || (int64_t)strlen(s->node->value) > k->max)
        return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, s->node->line, s->node->col, s->path,
                          "must be %" PRId64 " to %" PRId64 " characters long", k->min, k->max);
    copy = gs_strdup(s->node->value);
    if (copy == NULL)
        return GS_ENOMEM;
    free(*(char **)field);
    *(char **)field = copy;
    return GS_OK;
}

static int apply_enum(const site_t *s, const gs_cfg_key_t *k, void *field)
{
    char list[256] = "";
    int err = want_scalar(s, "one of the allowed names");
    if (err)
        return err;
    for (int i = 0; k->choices[i]; i++) {
        if (strcmp(k->choices[i], s->node->value) == 0) {
            *(int *)field = i;
            return GS_OK;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 k->choices[i]);
    }
    return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, s->node->line, s->node->col, s->path,
                      "unknown value '%s'; expected one of: %s", s->node->value, list);
}

static int apply_bool(const site_t *s, void *field)
{
    int err = want_scalar(s, "true or false");
    if (err)
        return err;
    if (strcmp(s->node->value, "true") == 0 || strcmp(s->node->value, "false") == 0) {
        *(bool *)field = s->node->value[0] == 't';
        return GS_OK;
    }
    return bad(s, "expected true or false, found '%s'", s->node->value);
}

static int apply_strlist(const site_t *s, const gs_cfg_key_t *k, void *field)
{
    gs_strlist_t *l = field, fresh = {0};
    const gs_yaml_node_t *seq = s->node;
    if (seq->kind != GS_YAML_SEQ)
        return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, seq->line, seq->col, s->path,
                          "expected a list like [a, b], found %s", gs_yaml_kind_name(seq->kind));
    if ((int64_t)seq->n > k->max)
        return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, seq->line, seq->col, s->path,
                          "at most %" PRId64 " entries", k->max);
    fresh.items = calloc(seq->n ? seq->n : 1, sizeof *fresh.items);
    if (fresh.items == NULL)
        return GS_ENOMEM;
    for (size_t i = 0; i < seq->n; i++) {
        const gs_yaml_node_t *it = seq->items[i];
        if (it->kind != GS_YAML_SCALAR || it->value[0] == '\0' || strlen(it->value) > 255) {
            gs_strlist_free(&fresh);
            return gs_diag_at(s->diag, GS_ESPEC, s->ctx->file, it->line, it->col, s->path,
                              "each entry must be a single non-empty value of at most 255 "
                              "characters");
        }
        fresh.items[i] = gs_strdup(it->value);
        if (fresh.items[i] == NULL) {
            gs_strlist_free(&fresh);
            return GS_ENOMEM;
        }
        fresh.n = i + 1;
    }
    gs_strlist_free(l);
    *l = fresh;
    return GS_OK;
}

static int apply_one(const site_t *s, const gs_cfg_key_t *k, void *target)
{
    void *field = (char *)target + k->offset;
    int err;
    switch (k->type) {
    case GS_CFG_INT:
        err = apply_int(s, k, field);
        break;
    case GS_CFG_SIZE:
    case GS_CFG_DURATION:
        err = apply_measure(s, k, field);
        break;
    case GS_CFG_STRING:
        err = apply_string(s, k, field);
        break;
    case GS_CFG_ENUM:
        err = apply_enum(s, k, field);
        break;
    case GS_CFG_BOOL:
        err = apply_bool(s, field);
        break;
    case GS_CFG_STRLIST:
        err = apply_strlist(s, k, field);
        break;
    case GS_CFG_SECTION:
        return gs_cfg_apply(s->ctx, k->section, s->node, field, s->path, s->diag);
    case GS_CFG_NODE:
        *(const gs_yaml_node_t **)field = s->node;
        return GS_OK;
    default:
        return GS_EINVAL;
    }
    if (err == GS_OK && k->check) {
        const char *why = k->check(field);
        if (why)
            return bad(s, "%s", why);
    }
    return err;
}

static int unknown_key(gs_cfg_ctx_t *ctx, const gs_cfg_key_t *keys, const gs_yaml_node_t *key,
                       const char *path, gs_diag_t *diag)
{
    const char *near = closest_key(keys, key->value);
    if (near)
        return gs_diag_at(diag, GS_ESPEC, ctx->file, key->line, key->col, path,
                          "unknown key; did you mean '%s'?", near);
    return gs_diag_at(diag, GS_ESPEC, ctx->file, key->line, key->col, path, "unknown key");
}

int gs_cfg_apply(gs_cfg_ctx_t *ctx, const gs_cfg_key_t *keys, const gs_yaml_node_t *map,
                 void *target, const char *prefix, gs_diag_t *diag)
{
    char path[128];
    if (map->kind != GS_YAML_MAP)
        return gs_diag_at(diag, GS_ESPEC, ctx->file, map->line, map->col, prefix,
                          "expected a map of 'key: value' lines, found %s",
                          gs_yaml_kind_name(map->kind));
    for (size_t i = 0; i < map->n; i++) {
        const gs_yaml_pair_t *p = &map->pairs[i];
        const gs_cfg_key_t *k = find_key(keys, p->key->value);
        site_t s = {ctx, p->value, path, diag};
        int err;
        snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix && *prefix ? "." : "",
                 p->key->value);
        if (k == NULL)
            return unknown_key(ctx, keys, p->key, path, diag);
        if (add_mark(ctx, path, p->key))
            return GS_ENOMEM;
        err = apply_one(&s, k, target);
        if (err)
            return err == GS_ENOMEM ? gs_diag_set(diag, err, "out of memory") : err;
    }
    for (; keys->key; keys++) {
        if (keys->required && gs_yaml_get(map, keys->key) == NULL)
            return gs_diag_at(diag, GS_ESPEC, ctx->file, map->line, map->col, keys->key,
                              "required key is missing%s%s", prefix && *prefix ? " in " : "",
                              prefix ? prefix : "");
    }
    return GS_OK;
}

void gs_cfg_free(const gs_cfg_key_t *keys, void *target)
{
    for (; keys->key; keys++) {
        void *field = (char *)target + keys->offset;
        if (keys->type == GS_CFG_STRING) {
            free(*(char **)field);
            *(char **)field = NULL;
        } else if (keys->type == GS_CFG_STRLIST) {
            gs_strlist_free(field);
        } else if (keys->type == GS_CFG_SECTION) {
            gs_cfg_free(keys->section, field);
        }
    }
}
