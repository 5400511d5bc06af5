/* zstore.c — the shard store over 0-db backends: one client per sequential-mode
 * namespace; chunks go in with `SET ""` (0-db picks the id), come back with GET and are
 * verified by 0-db's own CRC with CHECK. This file only translates replies into the
 * store's callbacks: connection handling is the client's (zdb.c). */
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    gs_shard_store_t base;
    gs_zdb_t **z;
} zstore_t;

typedef enum { OP_PUT, OP_GET, OP_CHECK } op_kind_t;

typedef struct {
    op_kind_t kind;
    const char *backend; /* the store's name of it, for messages */
    union {
        gs_shard_put_cb put;
        gs_shard_get_cb get;
        gs_shard_check_cb check;
    } cb;
    void *ud;
} op_t;

static void op_fail(op_t *op, int err, const char *msg)
{
    switch (op->kind) {
    case OP_PUT:
        op->cb.put(err, msg, 0, op->ud);
        break;
    case OP_GET:
        op->cb.get(err, msg, NULL, 0, op->ud);
        break;
    case OP_CHECK:
        op->cb.check(err, msg, false, op->ud);
        break;
    }
}

/* Answers op when the reply is not the kind it expects (an error, nil, anything else);
 * true when it did. */
static bool reply_failed(op_t *op, const gs_resp_value_t *r, gs_resp_type_t want)
{
    char msg[GS_DIAG_MAX];
    if (r->type == want)
        return false;
    if (r->type == GS_RESP_ERROR) {
        snprintf(msg, sizeof msg, "%s: %.*s", op->backend, (int)(r->len > 900 ? 900 : r->len),
                 r->str);
        op_fail(op, GS_EREFUSED, msg);
    } else if (r->type == GS_RESP_NIL && op->kind != OP_PUT) {
        snprintf(msg, sizeof msg, "%s: no such id", op->backend);
        op_fail(op, GS_ENOENT, msg);
    } else {
        snprintf(msg, sizeof msg, "%s: unexpected reply", op->backend);
        op_fail(op, GS_EPARSE, msg);
    }
    return true;
}

/* SET "" answered with a key that is no sequential id (not a namespace in seq mode). */
static void bad_key(op_t *op, size_t len)
{
    char msg[GS_DIAG_MAX];
    snprintf(msg, sizeof msg, "%s: SET gave a %zu-byte key, not a sequential id", op->backend, len);
    op_fail(op, GS_EPARSE, msg);
}

static void on_reply(const gs_resp_value_t *r, int err, const char *msg, void *ud)
{
    op_t *op = ud;
    uint64_t id;
    if (err < 0)
        op_fail(op, err, msg);
    else if (op->kind == OP_PUT && !reply_failed(op, r, GS_RESP_BULK)) {
        if (gs_zdb_key_id(r->str, r->len, &id) == GS_OK)
            op->cb.put(GS_OK, NULL, id, op->ud);
        else
            bad_key(op, r->len);
    } else if (op->kind == OP_GET && !reply_failed(op, r, GS_RESP_BULK))
        op->cb.get(GS_OK, NULL, (const uint8_t *)r->str, r->len, op->ud);
    else if (op->kind == OP_CHECK && !reply_failed(op, r, GS_RESP_INTEGER))
        op->cb.check(GS_OK, NULL, r->integer == 1, op->ud);
    free(op);
}

static op_t *op_new(zstore_t *zs, unsigned backend, op_kind_t kind, void *ud)
{
    op_t *op;
    if (backend >= zs->base.n_backends)
        return NULL;
    op = calloc(1, sizeof *op);
    if (op == NULL)
        return NULL;
    op->kind = kind;
    op->backend = zs->base.names[backend];
    op->ud = ud;
    return op;
}

static int start(op_t *op, int rc)
{
    if (rc < 0)
        free(op);
    return rc;
}

static int zs_put(gs_shard_store_t *s, unsigned backend, const uint8_t *p, size_t n,
                  gs_shard_put_cb cb, void *ud)
{
    zstore_t *zs = (zstore_t *)s;
    op_t *op = op_new(zs, backend, OP_PUT, ud);
    if (op == NULL)
        return backend >= s->n_backends ? GS_EINVAL : GS_ENOMEM;
    op->cb.put = cb;
    return start(op, gs_zdb_set(zs->z[backend], "", 0, p, n, on_reply, op));
}

static int zs_get(gs_shard_store_t *s, unsigned backend, uint64_t id, gs_shard_get_cb cb, void *ud)
{
    zstore_t *zs = (zstore_t *)s;
    op_t *op = op_new(zs, backend, OP_GET, ud);
    unsigned char key[8];
    if (op == NULL)
        return backend >= s->n_backends ? GS_EINVAL : GS_ENOMEM;
    op->cb.get = cb;
    gs_zdb_id_key(id, key);
    return start(op, gs_zdb_get(zs->z[backend], key, sizeof key, on_reply, op));
}

static int zs_check(gs_shard_store_t *s, unsigned backend, uint64_t id, gs_shard_check_cb cb,
                    void *ud)
{
    zstore_t *zs = (zstore_t *)s;
    op_t *op = op_new(zs, backend, OP_CHECK, ud);
    unsigned char key[8];
    const char *argv[] = {"CHECK", (const char *)key};
    size_t lens[] = {5, sizeof key};
    if (op == NULL)
        return backend >= s->n_backends ? GS_EINVAL : GS_ENOMEM;
    op->cb.check = cb;
    gs_zdb_id_key(id, key);
    return start(op, gs_zdb_command(zs->z[backend], 2, argv, lens, on_reply, op));
}

static void zs_free(zstore_t *zs)
{
    for (unsigned i = 0; zs->base.names && i < zs->base.n_backends; i++)
        free(zs->base.names[i]);
    free(zs->base.names);
    free(zs->z);
    free(zs);
}

/* The clients cancel their commands at once and free themselves when their sockets have
 * closed; nothing refers to the store after that, so it goes now. */
static void zs_close(gs_shard_store_t *s)
{
    zstore_t *zs = (zstore_t *)s;
    if (zs == NULL)
        return;
    for (unsigned i = 0; i < s->n_backends; i++)
        gs_zdb_close(zs->z[i]);
    zs_free(zs);
}

static const gs_shard_store_ops_t zstore_ops = {zs_put, zs_get, zs_check, zs_close};

static char *backend_name(const gs_zdb_opts_t *o)
{
    const char *ns = o->ns ? o->ns : "default";
    size_t n = strlen(ns) + strlen(o->address) + 2;
    char *name = malloc(n);
    if (name)
        snprintf(name, n, "%s@%s", ns, o->address);
    return name;
}

gs_shard_store_t *gs_shard_store_zdb_new(uv_loop_t *loop, const gs_zdb_opts_t *backends, unsigned n,
                                         gs_diag_t *diag)
{
    zstore_t *zs = NULL;
    if (n == 0 || n > GS_CODEC_MAX_SHARDS * 16u || backends == NULL) {
        gs_diag_set(diag, GS_EINVAL, "0-db shard store: %u backends", n);
        return NULL;
    }
    zs = calloc(1, sizeof *zs);
    if (zs == NULL || (zs->z = calloc(n, sizeof *zs->z)) == NULL ||
        (zs->base.names = calloc(n, sizeof *zs->base.names)) == NULL)
        goto nomem;
    zs->base.ops = &zstore_ops;
    zs->base.loop = loop;
    zs->base.n_backends = n;
    for (unsigned i = 0; i < n; i++) {
        if (backends[i].address == NULL) {
            gs_diag_set(diag, GS_EINVAL, "0-db shard store: backend %u has no address", i);
            goto fail;
        }
        zs->z[i] = gs_zdb_new(loop, &backends[i], diag);
        if (zs->z[i] == NULL)
            goto fail;
        if ((zs->base.names[i] = backend_name(&backends[i])) == NULL)
            goto nomem;
    }
    return &zs->base;
nomem:
    gs_diag_set(diag, GS_ENOMEM, "out of memory");
fail:
    if (zs && zs->z)
        zs_close(&zs->base);
    else
        free(zs);
    return NULL;
}
