/* yaml.c — libyaml events turned into a small tree that keeps every node's
 * line and column, so that callers can report `file:line:col: key: reason`. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

typedef struct {
    yaml_parser_t parser;
    const char *file;
    size_t nodes;
    gs_diag_t *diag;
} builder_t;

static int fail_at(builder_t *b, const yaml_mark_t *m, const char *reason)
{
    return gs_diag_at(b->diag, GS_EPARSE, b->file, (unsigned)m->line + 1, (unsigned)m->column + 1,
                      NULL, "%s", reason);
}

static int parser_error(builder_t *b)
{
    const yaml_mark_t *m = &b->parser.problem_mark;
    const char *problem = b->parser.problem ? b->parser.problem : "cannot parse";
    if (b->parser.error == YAML_MEMORY_ERROR)
        return gs_diag_set(b->diag, GS_ENOMEM, "%s: out of memory", b->file);
    return gs_diag_at(b->diag, GS_EPARSE, b->file, (unsigned)m->line + 1, (unsigned)m->column + 1,
                      NULL, "not valid YAML: %s", problem);
}

static int new_node(builder_t *b, gs_yaml_kind_t kind, const yaml_mark_t *m, gs_yaml_node_t **out)
{
    gs_yaml_node_t *n;
    if (++b->nodes > GS_YAML_MAX_NODES)
        return fail_at(b, m, "too many YAML nodes");
    n = calloc(1, sizeof *n);
    if (n == NULL)
        return gs_diag_set(b->diag, GS_ENOMEM, "out of memory");
    n->kind = kind;
    n->line = (unsigned)m->line + 1;
    n->col = (unsigned)m->column + 1;
    *out = n;
    return GS_OK;
}

static int next_event(builder_t *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev))
        return parser_error(b);
    return GS_OK;
}

static int build(builder_t *b, yaml_event_t *ev, int depth, gs_yaml_node_t **out);

/* Room for element n of an array of `size`-byte elements: the capacity doubles
 * whenever n reaches a power of two, so n appends cost O(n) even where realloc
 * always moves (as under the sanitizers). */
static void *grow(void *p, size_t n, size_t size)
{
    if (n != 0 && (n & (n - 1)) != 0)
        return p;
    return realloc(p, (n ? 2 * n : 1) * size);
}

static int add_item(gs_yaml_node_t *seq, gs_yaml_node_t *item)
{
    gs_yaml_node_t **p = grow(seq->items, seq->n, sizeof *p);
    if (p == NULL)
        return GS_ENOMEM;
    seq->items = p;
    seq->items[seq->n++] = item;
    return GS_OK;
}

static int add_pair(gs_yaml_node_t *map, gs_yaml_node_t *k, gs_yaml_node_t *v)
{
    gs_yaml_pair_t *p = grow(map->pairs, map->n, sizeof *p);
    if (p == NULL)
        return GS_ENOMEM;
    map->pairs = p;
    map->pairs[map->n].key = k;
    map->pairs[map->n].value = v;
    map->n++;
    return GS_OK;
}

/* By key, then by place in the document. */
static int cmp_pair(const void *a, const void *b)
{
    const gs_yaml_pair_t *x = *(const gs_yaml_pair_t *const *)a;
    const gs_yaml_pair_t *y = *(const gs_yaml_pair_t *const *)b;
    int c = strcmp(x->key->value, y->key->value);
    return c ? c : (x > y) - (x < y);
}

/* Refuses a key given twice, at its first repetition in the document. Sorting keeps
 * a map of many keys O(n log n) where a lookup per key would be quadratic. */
static int check_duplicates(builder_t *b, const gs_yaml_node_t *map)
{
    const gs_yaml_pair_t **v, *dup = NULL;
    if (map->n < 2)
        return GS_OK;
    v = malloc(map->n * sizeof *v);
    if (v == NULL)
        return gs_diag_set(b->diag, GS_ENOMEM, "out of memory");
    for (size_t i = 0; i < map->n; i++)
        v[i] = &map->pairs[i];
    qsort(v, map->n, sizeof *v, cmp_pair);
    for (size_t i = 1; i < map->n; i++)
        if (strcmp(v[i - 1]->key->value, v[i]->key->value) == 0 && (dup == NULL || v[i] < dup))
            dup = v[i];
    free(v);
    if (dup == NULL)
        return GS_OK;
    return gs_diag_at(b->diag, GS_EPARSE, b->file, dup->key->line, dup->key->col, dup->key->value,
                      "given twice");
}

/* Reads child nodes until the closing event of a sequence or mapping. */
static int build_children(builder_t *b, gs_yaml_node_t *parent, int depth)
{
    yaml_event_type_t end =
        parent->kind == GS_YAML_SEQ ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
    for (;;) {
        yaml_event_t ev;
        gs_yaml_node_t *key = NULL, *value = NULL;
        int err = next_event(b, &ev);
        if (err)
            return err;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return parent->kind == GS_YAML_MAP ? check_duplicates(b, parent) : GS_OK;
        }
        err = build(b, &ev, depth + 1, &key);
        if (err)
            return err;
        if (parent->kind == GS_YAML_SEQ) {
            if (add_item(parent, key)) {
                gs_yaml_free(key);
                return gs_diag_set(b->diag, GS_ENOMEM, "out of memory");
            }
            continue;
        }
        if (key->kind != GS_YAML_SCALAR) {
            int e = gs_diag_at(b->diag, GS_EPARSE, b->file, key->line, key->col, NULL,
                               "a key must be a plain name, not a list or map");
            gs_yaml_free(key);
            return e;
        }
        err = next_event(b, &ev);
        if (err == GS_OK)
            err = build(b, &ev, depth + 1, &value);
        if (err == GS_OK && add_pair(parent, key, value))
            err = gs_diag_set(b->diag, GS_ENOMEM, "out of memory");
        if (err) {
            gs_yaml_free(key);
            gs_yaml_free(value);
            return err;
        }
    }
}

/* Builds the node that starts with *ev (consumed here). */
static int build(builder_t *b, yaml_event_t *ev, int depth, gs_yaml_node_t **out)
{
    gs_yaml_node_t *n = NULL;
    int err = GS_OK;
    *out = NULL;
    if (depth > GS_YAML_MAX_DEPTH) {
        err = fail_at(b, &ev->start_mark, "nested too deeply");
        goto out;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        err = new_node(b, GS_YAML_SCALAR, &ev->start_mark, &n);
        if (err)
            break;
        n->value = malloc(ev->data.scalar.length + 1);
        if (n->value == NULL) {
            err = gs_diag_set(b->diag, GS_ENOMEM, "out of memory");
            break;
        }
        memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
        n->value[ev->data.scalar.length] = '\0';
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        err = new_node(b, ev->type == YAML_SEQUENCE_START_EVENT ? GS_YAML_SEQ : GS_YAML_MAP,
                       &ev->start_mark, &n);
        if (err == GS_OK)
            err = build_children(b, n, depth);
        break;
    case YAML_ALIAS_EVENT:
        err =
            fail_at(b, &ev->start_mark, "YAML aliases (*name) are not supported; write the value");
        goto out;
    default:
        err = fail_at(b, &ev->start_mark, "unexpected YAML structure");
        goto out;
    }
out:
    yaml_event_delete(ev);
    if (err) {
        gs_yaml_free(n);
        return err;
    }
    *out = n;
    return GS_OK;
}

/* Skips events up to the first node of the first document. */
static int first_node_event(builder_t *b, yaml_event_t *ev)
{
    for (;;) {
        int err = next_event(b, ev);
        if (err)
            return err;
        switch (ev->type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
            yaml_event_delete(ev);
            continue;
        case YAML_STREAM_END_EVENT:
            yaml_event_delete(ev);
            return gs_diag_at(b->diag, GS_EPARSE, b->file, 1, 1, NULL, "empty: no YAML document");
        default:
            return GS_OK;
        }
    }
}

/* After the root node: the document must end and no second one may follow. */
static int expect_end(builder_t *b)
{
    for (;;) {
        yaml_event_t ev;
        yaml_event_type_t type;
        yaml_mark_t mark;
        int err = next_event(b, &ev);
        if (err)
            return err;
        type = ev.type;
        mark = ev.start_mark;
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            return GS_OK;
        if (type != YAML_DOCUMENT_END_EVENT)
            return fail_at(b, &mark, "only one YAML document is allowed");
    }
}

int gs_yaml_parse(const char *text, size_t len, const char *file, gs_yaml_node_t **root,
                  gs_diag_t *diag)
{
    builder_t b = {.file = file ? file : "<input>", .diag = diag};
    yaml_event_t ev;
    int err;
    *root = NULL;
    if (diag)
        diag->msg[0] = '\0';
    if (!yaml_parser_initialize(&b.parser))
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    /* libyaml asserts on a NULL string, even an empty one */
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)(text ? text : ""),
                                 text ? len : 0);
    err = first_node_event(&b, &ev);
    if (err == GS_OK)
        err = build(&b, &ev, 0, root);
    if (err == GS_OK)
        err = expect_end(&b);
    yaml_parser_delete(&b.parser);
    if (err) {
        gs_yaml_free(*root);
        *root = NULL;
    }
    return err;
}

void gs_yaml_free(gs_yaml_node_t *node)
{
    if (node == NULL)
        return;
    for (size_t i = 0; node->kind == GS_YAML_SEQ && i < node->n; i++)
        gs_yaml_free(node->items[i]);
    for (size_t i = 0; node->kind == GS_YAML_MAP && i < node->n; i++) {
        gs_yaml_free(node->pairs[i].key);
        gs_yaml_free(node->pairs[i].value);
    }
    free(node->items);
    free(node->pairs);
    free(node->value);
    free(node);
}

gs_yaml_node_t *gs_yaml_get(const gs_yaml_node_t *map, const char *key)
{
    if (map == NULL || map->kind != GS_YAML_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->pairs[i].key->value, key) == 0)
            return map->pairs[i].value;
    return NULL;
}

const char *gs_yaml_kind_name(gs_yaml_kind_t kind)
{
    switch (kind) {
    case GS_YAML_SCALAR:
        return "a single value";
    case GS_YAML_SEQ:
        return "a list";
    case GS_YAML_MAP:
        return "a map";
    }
    return "?";
}
