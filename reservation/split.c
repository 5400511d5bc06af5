/* split.c — the person's consent as signandpay documents
 * {"DataToSign", "Payment", "CallbackUrl"}: DataToSign is a canonical, readable
 * text of the pools, workloads and prices; the plan is cut into as few
 * documents as possible (first-fit decreasing over pools kept whole where they
 * fit), each at most qr_limit bytes of JSON. Sizes are planned from an upper
 * bound of each document's frame and checked again on the real text. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define LINE_MAX_LEN 512

typedef struct {
    char **lines; /* the chunk's lines, in order */
    size_t n;
    size_t cost; /* bytes the lines add to a document */
    size_t pool;
    bool first;   /* holds the pool's own line (and so its payment) */
    size_t order; /* position before sorting */
    size_t doc;
} chunk_t;

typedef struct {
    gs_plan_t *plan;
    const gs_doc_opts_t *opts;
    chunk_t *chunks;
    size_t n_chunks, cap_chunks;
    size_t n_docs;
    gs_diag_t *diag;
} splitter_t;

/* Bytes a line adds to DataToSign inside the JSON document (escaped, plus "\n"). */
static size_t line_cost(const char *line)
{
    json_t *s = json_string(line);
    char *text = s ? gs_json_dumps(s) : NULL;
    size_t cost = text ? strlen(text) - 2 + 2 : SIZE_MAX / 4;
    free(text);
    json_decref(s);
    return cost;
}

void gs__duration_text(uint64_t s, char *out, size_t len)
{
    if (s % 86400 == 0)
        snprintf(out, len, "%" PRIu64 " days", s / 86400);
    else
        snprintf(out, len, "%" PRIu64 " hours", s / 3600);
}

/* ---- lines -------------------------------------------------------------------------------- */

static void pool_line(const gs_plan_t *p, size_t i, bool continued, char *out)
{
    const gs_plan_pool_t *pool = &p->pools[i];
    char tft[32];
    gs_format_tft(pool->amount, tft, sizeof tft);
    if (continued)
        snprintf(out, LINE_MAX_LEN, "pool on farm %" PRId64 " \"%s\", continued", pool->farm_id,
                 pool->farm_name);
    else
        snprintf(out, LINE_MAX_LEN,
                 "pool on farm %" PRId64 " \"%s\": %zu nodes, %" PRIu64 " CU-s, %" PRIu64
                 " SU-s, %s TFT",
                 pool->farm_id, pool->farm_name, pool->node_ids.n, pool->cus, pool->sus, tft);
}

static void machine_line(const gs_plan_machine_t *m, char *out)
{
    snprintf(out, LINE_MAX_LEN,
             "- machine %s: %s gateway, %" PRId64 " cpu, %u MiB memory, %u MiB SSD on %s", m->role,
             m->gateway == GS_GW_READ_WRITE ? "read-write" : "read-only", m->cpu, m->memory_mib,
             m->disk_mib, m->node_id);
}

static void zdb_line(const gs_plan_zdb_t *z, char *out)
{
    if (z->role == GS_ZDB_META)
        snprintf(out, LINE_MAX_LEN, "- 0-db metadata beside %s: %u GiB %s %s on %s", z->machine,
                 z->size_gib, gs__disk_name(z->disk), gs__mode_name(z->mode), z->node_id);
    else
        snprintf(out, LINE_MAX_LEN, "- 0-db data: %u GiB %s %s on %s", z->size_gib,
                 gs__disk_name(z->disk), gs__mode_name(z->mode), z->node_id);
}

/* Every line of a pool's group, its own line first. */
static int pool_lines(const gs_plan_t *p, size_t pool, gs_strlist_t *out)
{
    char line[LINE_MAX_LEN];
    int err;
    pool_line(p, pool, false, line);
    err = gs_strlist_push(out, line);
    for (size_t i = 0; i < p->n_machines && err == GS_OK; i++) {
        if (p->machines[i].pool != pool)
            continue;
        machine_line(&p->machines[i], line);
        err = gs_strlist_push(out, line);
    }
    for (size_t i = 0; i < p->n_zdbs && err == GS_OK; i++) {
        if (p->zdbs[i].pool != pool)
            continue;
        zdb_line(&p->zdbs[i], line);
        err = gs_strlist_push(out, line);
    }
    return err;
}

/* ---- the document frame ------------------------------------------------------------------- */

typedef struct {
    size_t index, n_docs;
    const char *amount; /* this document's payment */
    const char *session;
} frame_t;

static int frame_head(const gs_plan_t *p, const frame_t *f, gs_buf_t *text)
{
    char dur[64];
    gs__duration_text(p->duration_s, dur, sizeof dur);
    return gs_buf_printf(text,
                         "gridstor reservation\ndeployment: %s (%s, %" PRId64 "+%" PRId64
                         " erasure coding)\nowner: %s\ndocument: %zu of %zu\nduration: %s\n",
                         p->name, p->topology, p->data, p->parity, p->owner, f->index, f->n_docs,
                         dur);
}

static int frame_tail(const gs_plan_t *p, const frame_t *f, gs_buf_t *text)
{
    char total[32];
    gs_format_tft(p->total, total, sizeof total);
    return gs_buf_printf(text, "pay with this document: %s TFT\nplan total: %s TFT\n", f->amount,
                         total);
}

/* The document JSON around a finished DataToSign text, paying `amount` TFT with memo
 * gs-<session>. Caller frees. */
char *gs__document_json(const gs_doc_opts_t *o, const char *session, const char *amount,
                        const char *data_to_sign)
{
    char memo[8 + GS_SESSION_LEN], url[1024];
    json_t *doc;
    char *text;
    snprintf(memo, sizeof memo, "gs-%s", session);
    snprintf(url, sizeof url, "%s/api/v1/signandpay/%s/callback", o->callback_base, session);
    doc = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:s}", "DataToSign", data_to_sign, "Payment",
                    "Amount", amount, "Asset", "TFT", "Destination", o->destination, "Memo", memo,
                    "CallbackUrl", url);
    text = doc ? gs_json_dumps(doc) : NULL;
    json_decref(doc);
    return text;
}

/* A string of `len` nines: the widest number of that many digits. */
static void nines(char *out, size_t len)
{
    memset(out, '9', len);
    out[len] = '\0';
}

/* Size of a document with no pool lines and every number at its widest. */
static int frame_bytes(const splitter_t *s, size_t max_docs, size_t *out)
{
    char total[32], amount[32], wide[32], session[GS_SESSION_LEN + 1];
    frame_t f = {.amount = amount, .session = session};
    gs_buf_t text;
    char *json;
    int err;
    gs_format_tft(s->plan->total, total, sizeof total);
    memset(amount, '9', strlen(total));
    amount[strlen(total)] = '\0';
    amount[strlen(total) - 8] = '.';
    snprintf(wide, sizeof wide, "%zu", max_docs);
    nines(wide, strlen(wide));
    f.index = f.n_docs = (size_t)strtoull(wide, NULL, 10);
    memset(session, 'f', GS_SESSION_LEN);
    session[GS_SESSION_LEN] = '\0';
    gs_buf_init(&text, 1 << 20);
    err = frame_head(s->plan, &f, &text);
    if (err == GS_OK)
        err = frame_tail(s->plan, &f, &text);
    json = err == GS_OK ? gs__document_json(s->opts, f.session, f.amount, text.data) : NULL;
    *out = json ? strlen(json) : 0;
    free(json);
    gs_buf_free(&text);
    return json ? GS_OK : GS_ENOMEM;
}

/* ---- chunks ------------------------------------------------------------------------------- */

static chunk_t *new_chunk(splitter_t *s, size_t pool, bool first)
{
    chunk_t *c;
    if (s->n_chunks == s->cap_chunks) {
        size_t cap = s->cap_chunks ? s->cap_chunks * 2 : 16;
        chunk_t *grown = realloc(s->chunks, cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        s->chunks = grown;
        s->cap_chunks = cap;
    }
    c = &s->chunks[s->n_chunks];
    memset(c, 0, sizeof *c);
    c->pool = pool;
    c->first = first;
    c->order = s->n_chunks++;
    return c;
}

static int chunk_push(chunk_t *c, char *line, size_t cost)
{
    char **grown = realloc(c->lines, (c->n + 1) * sizeof *grown);
    if (grown == NULL)
        return GS_ENOMEM;
    c->lines = grown;
    c->lines[c->n++] = line;
    c->cost += cost;
    return GS_OK;
}

static int too_big(const splitter_t *s, const char *line, size_t cost, size_t room)
{
    return gs_diag_set(s->diag, GS_ETOOBIG,
                       "'%.60s%s' needs %zu bytes of a document but at most %zu are free once "
                       "the document's frame is counted (over by %zu); raise --qr-limit (at "
                       "most %d) or use shorter names",
                       line, strlen(line) > 60 ? "..." : "", cost, room, cost - room,
                       GS_QR_MAX_BYTES);
}

/* Cuts a pool's lines into chunks that each fit in `room` bytes. */
static int chunk_pool(splitter_t *s, size_t pool, size_t room)
{
    gs_strlist_t lines = {0};
    char cont[LINE_MAX_LEN];
    size_t cont_cost;
    chunk_t *c = NULL;
    int err = pool_lines(s->plan, pool, &lines);
    pool_line(s->plan, pool, true, cont);
    cont_cost = line_cost(cont);
    for (size_t i = 0; i < lines.n && err == GS_OK; i++) {
        size_t cost = line_cost(lines.items[i]);
        if (cost + (i ? cont_cost : 0) > room) {
            err = too_big(s, lines.items[i], cost + (i ? cont_cost : 0), room);
            break;
        }
        if (c == NULL || c->cost + cost > room) {
            c = new_chunk(s, pool, i == 0);
            if (c == NULL) {
                err = GS_ENOMEM;
                break;
            }
            if (i > 0) { /* a continued pool says so on its first line */
                char *copy = gs_strdup(cont);
                err = copy ? chunk_push(c, copy, cont_cost) : GS_ENOMEM;
                if (err) {
                    free(copy);
                    break;
                }
            }
        }
        err = chunk_push(c, lines.items[i], cost);
        if (err == GS_OK)
            lines.items[i] = NULL; /* the chunk owns it now */
    }
    gs_strlist_free(&lines);
    return err;
}

static int by_cost_desc(const void *a, const void *b)
{
    const chunk_t *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? 1 : -1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int by_order(const void *a, const void *b)
{
    const chunk_t *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* First-fit decreasing: each chunk into the first document with room. */
static int pack(splitter_t *s, size_t room)
{
    size_t *used = calloc(s->n_chunks + 1, sizeof *used);
    if (used == NULL)
        return GS_ENOMEM;
    qsort(s->chunks, s->n_chunks, sizeof *s->chunks, by_cost_desc);
    for (size_t i = 0; i < s->n_chunks; i++) {
        size_t d = 0;
        while (d < s->n_docs && used[d] + s->chunks[i].cost > room)
            d++;
        if (d == s->n_docs)
            s->n_docs++;
        used[d] += s->chunks[i].cost;
        s->chunks[i].doc = d;
    }
    qsort(s->chunks, s->n_chunks, sizeof *s->chunks, by_order);
    free(used);
    return GS_OK;
}

/* ---- documents ---------------------------------------------------------------------------- */

static void random_session(void *ud, char out[GS_SESSION_LEN + 1])
{
    unsigned char raw[GS_SESSION_LEN / 2];
    (void)ud;
    randombytes_buf(raw, sizeof raw);
    gs_hex(raw, sizeof raw, out);
}

void gs__new_session(const gs_doc_opts_t *o, char out[GS_SESSION_LEN + 1])
{
    (o->new_session ? o->new_session : random_session)(o->session_ud, out);
}

static int add_pool_to_doc(gs_plan_doc_t *d, size_t pool)
{
    size_t *grown = realloc(d->pools, (d->n_pools + 1) * sizeof *grown);
    if (grown == NULL)
        return GS_ENOMEM;
    d->pools = grown;
    d->pools[d->n_pools++] = pool;
    return GS_OK;
}

static int build_doc(splitter_t *s, size_t d)
{
    gs_plan_doc_t *doc = &s->plan->docs[d];
    gs_session_cb new_session = s->opts->new_session ? s->opts->new_session : random_session;
    char amount[32];
    frame_t f = {.index = d + 1, .n_docs = s->n_docs, .amount = amount, .session = doc->session};
    gs_buf_t text;
    int err = GS_OK;
    doc->index = d + 1;
    new_session(s->opts->session_ud, doc->session);
    gs_buf_init(&text, 1 << 20);
    for (size_t i = 0; i < s->n_chunks && err == GS_OK; i++) {
        if (s->chunks[i].doc != d || !s->chunks[i].first)
            continue;
        doc->amount += s->plan->pools[s->chunks[i].pool].amount;
        err = add_pool_to_doc(doc, s->chunks[i].pool);
    }
    gs_format_tft(doc->amount, amount, sizeof amount);
    if (err == GS_OK)
        err = frame_head(s->plan, &f, &text);
    for (size_t i = 0; i < s->n_chunks && err == GS_OK; i++)
        for (size_t l = 0; s->chunks[i].doc == d && l < s->chunks[i].n && err == GS_OK; l++)
            err = gs_buf_printf(&text, "%s\n", s->chunks[i].lines[l]);
    if (err == GS_OK)
        err = frame_tail(s->plan, &f, &text);
    doc->json = err == GS_OK ? gs__document_json(s->opts, f.session, f.amount, text.data) : NULL;
    gs_buf_free(&text);
    if (doc->json == NULL)
        return gs_diag_set(s->diag, GS_ENOMEM, "out of memory");
    doc->bytes = strlen(doc->json);
    if (doc->bytes > s->opts->qr_limit) /* the size model is an upper bound: never */
        return gs_diag_set(s->diag, GS_ETOOBIG, "document %zu is %zu bytes, over the %zu limit",
                           d + 1, doc->bytes, s->opts->qr_limit);
    return GS_OK;
}

static void free_chunks(splitter_t *s)
{
    for (size_t i = 0; i < s->n_chunks; i++) {
        for (size_t l = 0; l < s->chunks[i].n; l++)
            free(s->chunks[i].lines[l]);
        free(s->chunks[i].lines);
    }
    free(s->chunks);
}

static int check_opts(const gs_doc_opts_t *o, gs_diag_t *diag)
{
    if (o->qr_limit == 0 || o->qr_limit > GS_QR_MAX_BYTES)
        return gs_diag_set(diag, GS_EINVAL,
                           "--qr-limit %zu: must be between 1 and %d (QR version 40-L)",
                           o->qr_limit, GS_QR_MAX_BYTES);
    if (!o->destination || !o->callback_base || strlen(o->destination) > 256 ||
        strlen(o->callback_base) > 512)
        return gs_diag_set(diag, GS_EINVAL,
                           "payment destination and callback URL are required "
                           "(at most 256 and 512 characters)");
    return GS_OK;
}

int gs_plan_split(gs_plan_t *plan, const gs_doc_opts_t *opts, gs_diag_t *diag)
{
    splitter_t s = {.plan = plan, .opts = opts, .diag = diag};
    size_t frame = 0, max_docs = plan->n_machines + plan->n_zdbs + plan->n_pools;
    int err = check_opts(opts, diag);
    if (err)
        return err;
    err = frame_bytes(&s, max_docs, &frame);
    if (err == GS_OK && frame >= opts->qr_limit)
        err = gs_diag_set(diag, GS_ETOOBIG,
                          "--qr-limit %zu is too small: a document's frame alone takes %zu bytes",
                          opts->qr_limit, frame);
    for (size_t p = 0; p < plan->n_pools && err == GS_OK; p++)
        err = chunk_pool(&s, p, opts->qr_limit - frame);
    if (err == GS_OK)
        err = pack(&s, opts->qr_limit - frame);
    if (err == GS_OK) {
        plan->docs = calloc(s.n_docs, sizeof *plan->docs);
        err = plan->docs ? GS_OK : GS_ENOMEM;
        if (err == GS_OK)
            plan->n_docs = s.n_docs;
    }
    for (size_t d = 0; d < s.n_docs && err == GS_OK; d++)
        err = build_doc(&s, d);
    free_chunks(&s);
    if (err == GS_ENOMEM)
        gs_diag_set(diag, err, "out of memory");
    return err;
}
