/* codec.c — a deployment's storage as one thing (codec.h, "the codec"): the data backends
 * as a 0-db shard store, the metadata master and its replicas as 0-db clients, and the
 * deployment key. A put runs the store pipeline, writes the sealed record to the master
 * (its 0-db id becomes part of the file id), then backs the record up into parity + 1
 * data backends, so that losing the metadata namespaces loses nothing the key cannot
 * rebuild. A lookup reads the record from the master, else from each replica in turn (a
 * read-only codec, on M2/M3, asks its replica first), and checks it against the id.
 * Checks and repairs are in health.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "internal.h"

/* ---- open and close ------------------------------------------------------------------- */

static int copy_endpoints(const gs_codec_config_t *cfg, const gs_codec_endpoint_t *e, size_t n,
                          gs_zdb_opts_t *out)
{
    for (size_t i = 0; i < n; i++)
        gs_codec_config_zdb_opts(cfg, &e[i], &out[i]);
    return GS_OK;
}

/* The metadata clients, in the order lookups ask them: the master first, or for a
 * read-only codec its replicas first. */
static int open_meta(gs_codec_t *c, const gs_codec_config_t *cfg, gs_diag_t *diag)
{
    size_t n = 1 + cfg->n_meta_replicas, k = 0;
    gs_zdb_opts_t o;
    c->meta = calloc(n, sizeof *c->meta);
    if (c->meta == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (!c->read_only) {
        gs_codec_config_zdb_opts(cfg, &cfg->meta_master, &o);
        if ((c->meta[k++] = gs_zdb_new(c->loop, &o, diag)) == NULL)
            return GS_EINVAL;
    }
    for (size_t i = 0; i < cfg->n_meta_replicas; i++) {
        gs_codec_config_zdb_opts(cfg, &cfg->meta_replicas[i], &o);
        if ((c->meta[k++] = gs_zdb_new(c->loop, &o, diag)) == NULL)
            return GS_EINVAL;
    }
    if (c->read_only) {
        gs_codec_config_zdb_opts(cfg, &cfg->meta_master, &o);
        if ((c->meta[k++] = gs_zdb_new(c->loop, &o, diag)) == NULL)
            return GS_EINVAL;
    }
    c->n_meta = k;
    c->master = c->read_only ? c->meta[k - 1] : c->meta[0];
    return GS_OK;
}

int gs_codec_open(uv_loop_t *loop, const gs_codec_config_t *cfg, const gs_codec_open_opts_t *opts,
                  gs_codec_t **out, gs_diag_t *diag)
{
    gs_codec_t *c = calloc(1, sizeof *c);
    gs_zdb_opts_t *backends = calloc(cfg->n_backends + 1, sizeof *backends);
    int err = GS_OK;
    *out = NULL;
    if (c == NULL || backends == NULL || (c->key = sodium_malloc(GS_CODEC_KEY_LEN)) == NULL) {
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
        goto out;
    }
    c->loop = loop;
    c->read_only = opts && opts->read_only;
    c->params = cfg->params;
    c->spread = !cfg->spares;
    memcpy(c->key, cfg->key, GS_CODEC_KEY_LEN);
    copy_endpoints(cfg, cfg->backends, cfg->n_backends, backends);
    if ((c->shards = gs_shard_store_zdb_new(loop, backends, (unsigned)cfg->n_backends, diag)) ==
            NULL ||
        (err = open_meta(c, cfg, diag)) != GS_OK) {
        err = err ? err : GS_EINVAL;
        goto out;
    }
    *out = c;
    c = NULL;
out:
    free(backends);
    gs_codec_close(c);
    return err;
}

void gs_codec_close(gs_codec_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_meta; i++)
        gs_zdb_close(c->meta[i]);
    free(c->meta);
    if (c->shards != NULL)
        c->shards->ops->close(c->shards);
    sodium_free(c->key);
    free(c);
}

gs_shard_store_t *gs_codec_shards(gs_codec_t *c)
{
    return c->shards;
}

/* ---- put ------------------------------------------------------------------------------- */

typedef struct {
    gs_codec_t *c;
    gs_codec_put_cb cb;
    void *ud;
    gs_meta_t *meta;
    gs_buf_t record;
    uint64_t meta_id;
    bool failed;
} put_t;

static void put_end(put_t *p, int err, const char *msg)
{
    char id[GS_CODEC_ID_MAX] = "";
    if (err == GS_OK)
        gs_codec_id_format(p->meta->hash, p->meta_id, p->meta->ext, id);
    p->cb(err, msg, err == GS_OK ? id : NULL, p->ud);
    gs_meta_free(p->meta);
    gs_buf_free(&p->record);
    free(p);
}

/* The record is on the master; the put succeeds with at least one backup copy. */
static void on_backups(unsigned copies, void *ud)
{
    put_t *p = ud;
    if (copies == 0)
        put_end(p, GS_EUNAVAIL,
                "the file is stored but no data backend took the backup of its "
                "metadata record");
    else
        put_end(p, GS_OK, NULL);
}

static void on_record(const gs_resp_value_t *r, int err, const char *msg, void *ud)
{
    put_t *p = ud;
    gs_diag_t diag = {{0}};
    if (err < 0 || r->type != GS_RESP_BULK || gs_zdb_key_id(r->str, r->len, &p->meta_id) != GS_OK) {
        snprintf(diag.msg, sizeof diag.msg, "writing the metadata record to %s failed: %s",
                 gs_zdb_address(p->c->master),
                 err < 0                    ? msg
                 : r->type == GS_RESP_ERROR ? r->str
                                            : "an unexpected reply");
        put_end(p, err < 0 ? err : GS_EREFUSED, diag.msg);
        return;
    }
    if ((err = gs__backup_write(p->c, &p->record, p->meta_id, on_backups, p, &diag)) != GS_OK)
        put_end(p, err, diag.msg);
}

static void on_stored(int err, const char *msg, gs_meta_t *meta, void *ud)
{
    put_t *p = ud;
    gs_diag_t diag = {{0}};
    if (err != GS_OK) {
        put_end(p, err, msg);
        return;
    }
    p->meta = meta;
    gs_buf_init(&p->record, GS_META_MAX);
    if ((err = gs_meta_encode(meta, p->c->key, &p->record, &diag)) != GS_OK ||
        (err = gs_zdb_set(p->c->master, "", 0, p->record.data, p->record.len, on_record, p)) !=
            GS_OK)
        put_end(p, err, diag.msg[0] ? diag.msg : "writing the metadata record failed");
}

void gs_codec_set_progress(gs_codec_t *c, void (*progress)(uint64_t bytes_written, void *ud))
{
    c->progress = progress;
}

/* The store pipeline's progress, handed on with the put's own ud. */
static void relay_progress(uint64_t bytes, void *ud)
{
    put_t *p = ud;
    p->c->progress(bytes, p->ud);
}

static put_t *put_new(gs_codec_t *c, const char *ext, gs_codec_put_cb cb, void *ud,
                      gs_codec_store_opts_t *o, gs_diag_t *diag)
{
    put_t *p;
    if (c->read_only) {
        gs_diag_set(diag, GS_EINVAL,
                    "this codec is read-only: store files through the "
                    "read-write gateway (M1)");
        return NULL;
    }
    if (ext != NULL && ext[0] != '\0' && !gs_codec_ext_valid(ext)) {
        gs_diag_set(diag, GS_EINVAL, "extension '%.32s': 1 to %d characters of a-z and 0-9", ext,
                    GS_CODEC_EXT_MAX);
        return NULL;
    }
    if ((p = calloc(1, sizeof *p)) == NULL) {
        gs_diag_set(diag, GS_ENOMEM, "out of memory");
        return NULL;
    }
    p->c = c;
    p->cb = cb;
    p->ud = ud;
    gs_codec_store_opts_default(o);
    o->params = c->params;
    o->spread = c->spread;
    o->ext = ext && ext[0] ? ext : NULL;
    o->progress = c->progress ? relay_progress : NULL;
    return p;
}

int gs_codec_put_fd(gs_codec_t *c, uv_file fd, const char *ext, gs_codec_put_cb cb, void *ud,
                    gs_diag_t *diag)
{
    gs_codec_store_opts_t o;
    put_t *p = put_new(c, ext, cb, ud, &o, diag);
    int err;
    if (p == NULL)
        return GS_EINVAL;
    if ((err = gs_codec_store_fd(c->shards, &o, fd, on_stored, p, diag)) != GS_OK)
        free(p);
    return err;
}

int gs_codec_put_mem(gs_codec_t *c, const void *data, size_t len, const char *ext,
                     gs_codec_put_cb cb, void *ud, gs_diag_t *diag)
{
    gs_codec_store_opts_t o;
    put_t *p = put_new(c, ext, cb, ud, &o, diag);
    int err;
    if (p == NULL)
        return GS_EINVAL;
    if ((err = gs_codec_store_mem(c->shards, &o, data, len, on_stored, p, diag)) != GS_OK)
        free(p);
    return err;
}

/* ---- lookup ---------------------------------------------------------------------------- */

typedef struct {
    gs_codec_t *c;
    gs_codec_meta_cb cb;
    void *ud;
    uint8_t hash[GS_CODEC_HASH_LEN];
    uint64_t meta_id;
    char ext[GS_CODEC_EXT_MAX + 1];
    size_t next;     /* the metadata client to ask next */
    unsigned absent; /* namespaces that answered: no such record */
    char why[GS_DIAG_MAX];
} lookup_t;

static void lookup_next(lookup_t *l);

static void lookup_end(lookup_t *l, int err, const char *msg, gs_meta_t *m)
{
    l->cb(err, msg, m, l->ud);
    free(l);
}

/* A record read: it must open and be the one the id names. */
static void found(lookup_t *l, const gs_resp_value_t *r)
{
    gs_meta_t *m = NULL;
    gs_diag_t diag = {{0}};
    int err = gs_meta_decode((const uint8_t *)r->str, r->len, l->c->key, &m, &diag);
    if (err == GS_OK &&
        (sodium_memcmp(m->hash, l->hash, GS_CODEC_HASH_LEN) != 0 || strcmp(m->ext, l->ext) != 0)) {
        gs_meta_free(m);
        lookup_end(l, GS_ENOENT, "no such file: the record at that id is another file's", NULL);
        return;
    }
    if (err != GS_OK) {
        lookup_end(l, err, diag.msg, NULL);
        return;
    }
    lookup_end(l, GS_OK, NULL, m);
}

static void on_meta(const gs_resp_value_t *r, int err, const char *msg, void *ud)
{
    lookup_t *l = ud;
    if (err == GS_OK && r->type == GS_RESP_BULK) {
        found(l, r);
        return;
    }
    if (err == GS_OK && r->type == GS_RESP_NIL)
        l->absent++;
    else
        snprintf(l->why, sizeof l->why, "%s: %s", gs_zdb_address(l->c->meta[l->next - 1]),
                 err < 0                    ? msg
                 : r->type == GS_RESP_ERROR ? r->str
                                            : "an unexpected reply");
    lookup_next(l);
}

static void lookup_next(lookup_t *l)
{
    unsigned char key[8];
    char msg[GS_DIAG_MAX + 64];
    while (l->next < l->c->n_meta) {
        gs_zdb_id_key(l->meta_id, key);
        if (gs_zdb_get(l->c->meta[l->next++], key, sizeof key, on_meta, l) == GS_OK)
            return;
    }
    if (l->absent > 0)
        lookup_end(l, GS_ENOENT, "no such file", NULL);
    else {
        snprintf(msg, sizeof msg, "no metadata namespace answered (last: %s)", l->why);
        lookup_end(l, GS_EUNAVAIL, msg, NULL);
    }
}

int gs_codec_lookup(gs_codec_t *c, const char *file_id, gs_codec_meta_cb cb, void *ud,
                    gs_diag_t *diag)
{
    lookup_t *l = calloc(1, sizeof *l);
    int err;
    if (l == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if ((err = gs_codec_id_parse(file_id, l->hash, &l->meta_id, l->ext, diag)) != GS_OK) {
        free(l);
        return err;
    }
    l->c = c;
    l->cb = cb;
    l->ud = ud;
    lookup_next(l);
    return GS_OK;
}
