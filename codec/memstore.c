/* memstore.c — a shard store in memory, for tests and benchmarks: n backends, each an
 * append-only list of values, with the faults a real grid has (a backend down, a value
 * with a flipped byte, a value gone). Answers are deferred to the loop through an idle
 * handle, as a network store's would be, so callers see the same order of events.
 * Values live in large slabs mapped with their pages populated at once: copying into
 * freshly malloc'ed memory costs a page fault per 4 KiB, and on virtual machines that is
 * several times the copy itself, which would make the store, not the pipeline, what a
 * benchmark measures. A dropped value's room is not reused. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_POPULATE */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <isa-l.h>

#include "codec.h"

#define SLAB ((size_t)64 << 20)

typedef struct {
    uint8_t *p;
    size_t n;
    uint32_t crc; /* as 0-db keeps one per value, for CHECK */
    bool gone;
} value_t;

typedef struct slab {
    struct slab *next;
    uint8_t *base;
    size_t size, used;
} slab_t;

typedef struct {
    value_t *v;
    size_t count, cap;
    bool down;
    uint64_t gets;
} backend_t;

typedef enum { OP_PUT, OP_GET, OP_CHECK } op_kind_t;

typedef struct op {
    struct op *next;
    op_kind_t kind;
    unsigned backend;
    uint64_t id;
    int err;
    union {
        gs_shard_put_cb put;
        gs_shard_get_cb get;
        gs_shard_check_cb check;
    } cb;
    void *ud;
} op_t;

typedef struct {
    gs_shard_store_t base;
    uv_idle_t idle;
    backend_t *b;
    op_t *head, *tail;
    slab_t *slabs;
    bool closing;
} memstore_t;

static void store_free(memstore_t *m)
{
    for (unsigned i = 0; m->b && i < m->base.n_backends; i++)
        free(m->b[i].v);
    while (m->slabs) {
        slab_t *s = m->slabs;
        m->slabs = s->next;
        munmap(s->base, s->size);
        free(s);
    }
    for (unsigned i = 0; m->base.names && i < m->base.n_backends; i++)
        free(m->base.names[i]);
    free(m->base.names);
    free(m->b);
    free(m);
}

static void on_closed(uv_handle_t *h)
{
    store_free(h->data);
}

static value_t *find(memstore_t *m, unsigned backend, uint64_t id)
{
    backend_t *b = &m->b[backend];
    if (id >= b->count || b->v[id].gone)
        return NULL;
    return &b->v[id];
}

static void answer(memstore_t *m, op_t *op)
{
    int err = m->closing ? GS_ECANCELED : op->err;
    const char *msg = err ? gs_strerror(err) : NULL;
    if (!err && m->b[op->backend].down) {
        err = GS_ECONN;
        msg = "memory backend is down";
    }
    value_t *v = err ? NULL : find(m, op->backend, op->id);
    if (op->kind == OP_PUT) {
        op->cb.put(err, msg, op->id, op->ud);
    } else if (op->kind == OP_GET) {
        if (!err && !v)
            err = GS_ENOENT, msg = "no such value";
        if (!err)
            m->b[op->backend].gets++;
        op->cb.get(err, msg, v ? v->p : NULL, v ? v->n : 0, op->ud);
    } else {
        if (!err && !v)
            err = GS_ENOENT, msg = "no such value";
        bool ok = v && crc32_iscsi(v->p, (int)v->n, 0xFFFFFFFFu) == v->crc;
        op->cb.check(err, msg, ok, op->ud);
    }
}

/* Answers what was queued before this turn; what the callbacks queue waits for the next. */
static void on_idle(uv_idle_t *h)
{
    memstore_t *m = h->data;
    op_t *op = m->head;
    m->head = m->tail = NULL;
    while (op) {
        op_t *next = op->next;
        answer(m, op);
        free(op);
        op = next;
    }
    if (m->head)
        return;
    uv_idle_stop(&m->idle);
    if (m->closing)
        uv_close((uv_handle_t *)&m->idle, on_closed);
}

static int queue_op(memstore_t *m, const op_t *proto)
{
    if (m->closing)
        return GS_ECANCELED;
    op_t *op = malloc(sizeof *op);
    if (!op)
        return GS_ENOMEM;
    *op = *proto;
    op->next = NULL;
    if (m->tail)
        m->tail->next = op;
    else
        m->head = op;
    m->tail = op;
    uv_idle_start(&m->idle, on_idle);
    return 0;
}

/* Room for n bytes in the current slab, or in a new one. */
static uint8_t *room(memstore_t *m, size_t n)
{
    n = (n + 63) & ~(size_t)63;
    slab_t *s = m->slabs;
    if (!s || s->size - s->used < n) {
        size_t size = n > SLAB ? n : SLAB;
        int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_POPULATE
        flags |= MAP_POPULATE;
#endif
        void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (base == MAP_FAILED)
            return NULL;
        if (!(s = calloc(1, sizeof *s))) {
            munmap(base, size);
            return NULL;
        }
        *s = (slab_t){.next = m->slabs, .base = base, .size = size};
        m->slabs = s;
    }
    uint8_t *p = s->base + s->used;
    s->used += n;
    return p;
}

static int mem_put(gs_shard_store_t *s, unsigned backend, const uint8_t *p, size_t n,
                   gs_shard_put_cb cb, void *ud)
{
    memstore_t *m = (memstore_t *)s;
    if (backend >= s->n_backends || n > GS_CODEC_CHUNK_MAX)
        return GS_EINVAL;
    backend_t *b = &m->b[backend];
    op_t op = {.kind = OP_PUT, .backend = backend, .cb.put = cb, .ud = ud};
    if (b->down) {
        op.err = GS_ECONN;
        return queue_op(m, &op);
    }
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        value_t *v = realloc(b->v, cap * sizeof *v);
        if (!v)
            return GS_ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    value_t *v = &b->v[b->count];
    *v = (value_t){.p = room(m, n ? n : 1), .n = n};
    if (!v->p)
        return GS_ENOMEM;
    memcpy(v->p, p, n);
    v->crc = crc32_iscsi(v->p, (int)n, 0xFFFFFFFFu);
    op.id = b->count;
    int err = queue_op(m, &op);
    if (err < 0)
        return err;
    b->count++;
    return 0;
}

static int mem_get(gs_shard_store_t *s, unsigned backend, uint64_t id, gs_shard_get_cb cb, void *ud)
{
    if (backend >= s->n_backends)
        return GS_EINVAL;
    op_t op = {.kind = OP_GET, .backend = backend, .id = id, .cb.get = cb, .ud = ud};
    return queue_op((memstore_t *)s, &op);
}

static int mem_check(gs_shard_store_t *s, unsigned backend, uint64_t id, gs_shard_check_cb cb,
                     void *ud)
{
    if (backend >= s->n_backends)
        return GS_EINVAL;
    op_t op = {.kind = OP_CHECK, .backend = backend, .id = id, .cb.check = cb, .ud = ud};
    return queue_op((memstore_t *)s, &op);
}

static void mem_close(gs_shard_store_t *s)
{
    memstore_t *m = (memstore_t *)s;
    if (!m || m->closing)
        return;
    m->closing = true;
    if (m->head)
        return; /* on_idle cancels them, then closes */
    uv_idle_stop(&m->idle);
    uv_close((uv_handle_t *)&m->idle, on_closed);
}

static const gs_shard_store_ops_t mem_ops = {mem_put, mem_get, mem_check, mem_close};

gs_shard_store_t *gs_shard_store_memory_new(uv_loop_t *loop, unsigned n_backends)
{
    if (n_backends < 1 || n_backends > GS_CODEC_MAX_SHARDS)
        return NULL;
    memstore_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->base = (gs_shard_store_t){.ops = &mem_ops, .loop = loop, .n_backends = n_backends};
    m->b = calloc(n_backends, sizeof *m->b);
    m->base.names = calloc(n_backends, sizeof *m->base.names);
    if (!m->b || !m->base.names)
        goto fail;
    for (unsigned i = 0; i < n_backends; i++) {
        char name[32];
        snprintf(name, sizeof name, "mem%u@memory", i);
        if (!(m->base.names[i] = gs_strdup(name)))
            goto fail;
    }
    uv_idle_init(loop, &m->idle);
    m->idle.data = m;
    return &m->base;
fail:
    store_free(m);
    return NULL;
}

void gs_shard_store_memory_set_down(gs_shard_store_t *s, unsigned backend, bool down)
{
    if (backend < s->n_backends)
        ((memstore_t *)s)->b[backend].down = down;
}

int gs_shard_store_memory_flip(gs_shard_store_t *s, unsigned backend, uint64_t id, size_t offset)
{
    if (backend >= s->n_backends)
        return GS_EINVAL;
    value_t *v = find((memstore_t *)s, backend, id);
    if (!v || v->n == 0)
        return GS_ENOENT;
    v->p[offset % v->n] ^= 0x01;
    return 0;
}

int gs_shard_store_memory_drop(gs_shard_store_t *s, unsigned backend, uint64_t id)
{
    if (backend >= s->n_backends)
        return GS_EINVAL;
    value_t *v = find((memstore_t *)s, backend, id);
    if (!v)
        return GS_ENOENT;
    v->p = NULL;
    v->n = 0;
    v->gone = true;
    return 0;
}

uint64_t gs_shard_store_memory_gets(const gs_shard_store_t *s, unsigned backend)
{
    return backend < s->n_backends ? ((const memstore_t *)s)->b[backend].gets : 0;
}
