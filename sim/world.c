/* world.c — a deterministic grid: farms over several countries, nodes with
 * ed25519 identities and realistic capacity, and a clock that can run faster
 * than real time. */
#define _POSIX_C_SOURCE 200809L /* strdup, strndup */
#include "world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

typedef struct {
    const char *country, *continent, *cities[2];
    double lat, lon;
} place_t;

static const place_t places[] = {
    {"Belgium", "Europe", {"Ghent", "Antwerp"}, 51.05, 3.72},
    {"Netherlands", "Europe", {"Amsterdam", "Utrecht"}, 52.37, 4.90},
    {"Germany", "Europe", {"Frankfurt", "Berlin"}, 50.11, 8.68},
    {"Egypt", "Africa", {"Cairo", "Alexandria"}, 30.04, 31.24},
    {"Tanzania", "Africa", {"Arusha", "Dodoma"}, -3.39, 36.68},
    {"United States", "North America", {"Austin", "Denver"}, 30.27, -97.74},
    {"Finland", "Europe", {"Helsinki", "Tampere"}, 60.17, 24.94},
    {"Japan", "Asia", {"Tokyo", "Osaka"}, 35.68, 139.69},
};

void sim_base58(const unsigned char *p, size_t len, char *out, size_t outlen)
{
    static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    unsigned char digits[128] = {0};
    size_t n = 0, zeros = 0, o = 0;
    while (zeros < len && p[zeros] == 0)
        zeros++;
    for (size_t i = zeros; i < len; i++) {
        unsigned carry = p[i];
        for (size_t j = 0; j < n; j++) {
            carry += (unsigned)digits[j] << 8;
            digits[j] = (unsigned char)(carry % 58);
            carry /= 58;
        }
        while (carry && n < sizeof digits) {
            digits[n++] = (unsigned char)(carry % 58);
            carry /= 58;
        }
    }
    for (size_t i = 0; i < zeros && o + 1 < outlen; i++)
        out[o++] = '1';
    while (n && o + 1 < outlen)
        out[o++] = alphabet[digits[--n]];
    out[o] = '\0';
}

static uint64_t clock_ms(void)
{
    return uv_hrtime() / 1000000u;
}

int64_t sim_now(const sim_world_t *w)
{
    double elapsed = (double)(clock_ms() - w->start_ms) / 1000.0;
    return w->epoch0 + (int64_t)(elapsed * w->time_scale);
}

/* Starts a new clock segment at the current simulated time: what passed so far is kept
 * in epoch0, so a new scale or a jump applies from now on. */
static void rebase(sim_world_t *w, int64_t now)
{
    w->epoch0 = now;
    w->start_ms = clock_ms();
}

void sim_world_advance(sim_world_t *w, int64_t seconds)
{
    rebase(w, sim_now(w) + (seconds > 0 ? seconds : 0));
}

void sim_world_set_scale(sim_world_t *w, double time_scale)
{
    if (time_scale > 0) {
        rebase(w, sim_now(w));
        w->time_scale = time_scale;
    }
}

int64_t sim_node_updated(const sim_world_t *w, const sim_node_t *n)
{
    int64_t now = sim_now(w);
    if (n->down_since)
        return n->down_since;
    return now - (n->id * 7) % 60; /* nodes report about every minute */
}

void sim_farm_wallet(sim_farm_t *f, gs_rng_t *rng)
{
    unsigned char raw[32];
    for (size_t k = 0; k < sizeof raw; k++)
        raw[k] = (unsigned char)gs_rng_next(rng);
    f->wallet[0] = 'G';
    sim_base58(raw, sizeof raw, f->wallet + 1, sizeof f->wallet - 1);
}

void sim_node_identity(sim_node_t *n, gs_rng_t *rng)
{
    unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    for (size_t k = 0; k < sizeof seed; k++)
        seed[k] = (unsigned char)gs_rng_next(rng);
    crypto_sign_seed_keypair(pk, n->sk, seed);
    sodium_memzero(seed, sizeof seed);
    sim_base58(pk, sizeof pk, n->node_id, sizeof n->node_id);
    gs_hex(pk, sizeof pk, n->public_key_hex);
}

void sim_node_place(sim_node_t *n, size_t i)
{
    for (size_t k = 0; k < GS_ARRAY_SIZE(places); k++) {
        if (strcmp(places[k].country, n->country) != 0)
            continue;
        snprintf(n->continent, sizeof n->continent, "%s", places[k].continent);
        n->latitude = places[k].lat + (double)(i % 10) / 100.0;
        n->longitude = places[k].lon + (double)(i % 7) / 100.0;
        return;
    }
}

static void make_farm(sim_world_t *w, size_t i, gs_rng_t *rng)
{
    sim_farm_t *f = &w->farms[i];
    const place_t *pl = &places[i % GS_ARRAY_SIZE(places)];
    f->id = (int64_t)i + 1;
    snprintf(f->name, sizeof f->name, "sim-farm-%zu", i + 1);
    snprintf(f->country, sizeof f->country, "%s", pl->country);
    snprintf(f->city, sizeof f->city, "%s", pl->cities[0]);
    sim_farm_wallet(f, rng);
}

static void make_node(sim_world_t *w, size_t i, size_t per_farm, gs_rng_t *rng)
{
    sim_node_t *n = &w->nodes[i];
    size_t farm = i / per_farm;
    const place_t *pl = &places[farm % GS_ARRAY_SIZE(places)];
    sim_node_identity(n, rng);
    n->id = (int64_t)i + 1;
    n->farm_id = w->farms[farm].id;
    snprintf(n->country, sizeof n->country, "%s", pl->country);
    snprintf(n->city, sizeof n->city, "%s", pl->cities[i % 2]);
    sim_node_place(n, i);
    n->total.cru = (double)(8 + 8 * gs_rng_below(rng, 4));
    n->total.mru = (double)(32 + 32 * gs_rng_below(rng, 4)) - 0.8;
    n->total.hru = (double)(4000 + 2000 * gs_rng_below(rng, 6));
    n->total.sru = (double)(500 + 250 * gs_rng_below(rng, 6));
    n->created = w->epoch0 - 86400 * (int64_t)(30 + gs_rng_below(rng, 600));
}

int sim_world_alloc(sim_world_t *w, size_t n_farms, size_t n_nodes, int network, double time_scale,
                    gs_diag_t *diag)
{
    if (sodium_init() < 0)
        return gs_diag_set(diag, GS_EIO, "libsodium cannot start");
    w->farms = calloc(n_farms ? n_farms : 1, sizeof *w->farms);
    w->nodes = sodium_allocarray(n_nodes ? n_nodes : 1, sizeof *w->nodes);
    if (w->farms == NULL || w->nodes == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    memset(w->nodes, 0, (n_nodes ? n_nodes : 1) * sizeof *w->nodes);
    w->n_farms = n_farms;
    w->n_nodes = n_nodes;
    w->network = network;
    w->time_scale = time_scale > 0 ? time_scale : 1.0;
    w->epoch0 = (int64_t)time(NULL);
    w->start_ms = clock_ms();
    return GS_OK;
}

static int generate(sim_world_t *w, const sim_world_opts_t *o, gs_diag_t *diag)
{
    gs_rng_t rng;
    size_t per_farm = o->nodes_per_farm ? o->nodes_per_farm : 6;
    int err;
    if (o->n_farms == 0 || o->n_farms > 1000 || per_farm > 1000)
        return gs_diag_set(diag, GS_EINVAL, "between 1 and 1000 farms of 1 to 1000 nodes");
    err = sim_world_alloc(w, o->n_farms, o->n_farms * per_farm, o->network, o->time_scale, diag);
    if (err != GS_OK)
        return err;
    gs_rng_seed(&rng, o->seed);
    for (size_t i = 0; i < w->n_farms; i++)
        make_farm(w, i, &rng);
    for (size_t i = 0; i < w->n_nodes; i++)
        make_node(w, i, per_farm, &rng);
    return GS_OK;
}

/* The command line's --flist URL=COMMAND entries. */
static int add_flist_args(sim_world_t *w, const sim_world_opts_t *o, gs_diag_t *diag)
{
    for (size_t i = 0; i < o->n_flist_args; i++) {
        const char *arg = o->flist_args[i], *eq = strchr(arg, '=');
        char url[SIM_FLIST_URL_MAX + 1];
        int err;
        if (eq == NULL || eq == arg || (size_t)(eq - arg) > SIM_FLIST_URL_MAX)
            return gs_diag_set(diag, GS_EINVAL, "--flist %s: expected URL=COMMAND", arg);
        snprintf(url, sizeof url, "%.*s", (int)(eq - arg), arg);
        if ((err = sim_world_add_flist(w, url, (const char *const[]){eq + 1}, 1, true, diag)) !=
            GS_OK)
            return gs_diag_set(diag, err, "--flist %s: %s", url, diag->msg);
    }
    return GS_OK;
}

int sim_world_generate(sim_world_t *w, const sim_world_opts_t *o, gs_diag_t *diag)
{
    int err;
    memset(w, 0, sizeof *w);
    if (o->grid != NULL)
        err = sim_world_load(w, o, diag);
    else
        err = generate(w, o, diag);
    return err == GS_OK ? add_flist_args(w, o, diag) : err;
}

/* ---- the flist map ---- */

static void flist_free(sim_flist_t *f)
{
    free(f->url);
    for (size_t i = 0; f->argv && i < f->argc; i++)
        free(f->argv[i]);
    free(f->argv);
    memset(f, 0, sizeof *f);
}

const sim_flist_t *sim_world_flist(const sim_world_t *w, const char *url)
{
    for (size_t i = 0; i < w->n_flists; i++)
        if (strcmp(w->flists[i].url, url) == 0)
            return &w->flists[i];
    return NULL;
}

/* Appends a copy of the len bytes at s to f's argv. */
static int push_arg(sim_flist_t *f, const char *s, size_t len, gs_diag_t *diag)
{
    if (f->argc >= SIM_FLIST_ARGS)
        return gs_diag_set(diag, GS_EINVAL, "at most %d arguments", SIM_FLIST_ARGS);
    if ((f->argv[f->argc] = strndup(s, len)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    f->argc++;
    return GS_OK;
}

static int fill_argv(sim_flist_t *f, const char *const *args, size_t n_args, bool split,
                     gs_diag_t *diag)
{
    size_t total = 0;
    int err = GS_OK;
    for (size_t i = 0; i < n_args && err == GS_OK; i++) {
        const char *s = args[i];
        if ((total += strlen(s)) > SIM_FLIST_CMD_MAX)
            return gs_diag_set(diag, GS_EINVAL, "the command is over %d characters",
                               SIM_FLIST_CMD_MAX);
        if (!split) {
            err = push_arg(f, s, strlen(s), diag);
            continue;
        }
        while (err == GS_OK && *(s += strspn(s, " \t")) != '\0') {
            size_t len = strcspn(s, " \t");
            err = push_arg(f, s, len, diag);
            s += len;
        }
    }
    if (err == GS_OK && (f->argc == 0 || f->argv[0][0] == '\0'))
        err = gs_diag_set(diag, GS_EINVAL, "the command is empty");
    return err;
}

int sim_world_add_flist(sim_world_t *w, const char *url, const char *const *args, size_t n_args,
                        bool split, gs_diag_t *diag)
{
    sim_flist_t f = {0}, *slot = (sim_flist_t *)sim_world_flist(w, url), *grown;
    int err;
    if (*url == '\0' || strlen(url) > SIM_FLIST_URL_MAX)
        return gs_diag_set(diag, GS_EINVAL, "a flist URL is 1 to %d characters", SIM_FLIST_URL_MAX);
    if (slot == NULL && w->n_flists >= SIM_FLISTS_MAX)
        return gs_diag_set(diag, GS_EINVAL, "at most %d flists", SIM_FLISTS_MAX);
    f.url = strdup(url);
    f.argv = calloc(SIM_FLIST_ARGS + 1, sizeof *f.argv);
    err = f.url && f.argv ? fill_argv(&f, args, n_args, split, diag)
                          : gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (err == GS_OK && slot == NULL) {
        grown = realloc(w->flists, (w->n_flists + 1) * sizeof *grown);
        if (grown == NULL)
            err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
        else
            slot = &(w->flists = grown)[w->n_flists++];
    } else if (err == GS_OK) {
        flist_free(slot);
    }
    if (err != GS_OK) {
        flist_free(&f);
        return err;
    }
    *slot = f;
    return GS_OK;
}

void sim_world_free(sim_world_t *w)
{
    if (w == NULL)
        return;
    free(w->farms);
    if (w->nodes)
        sodium_free(w->nodes);
    for (size_t i = 0; i < w->n_flists; i++)
        flist_free(&w->flists[i]);
    free(w->flists);
    memset(w, 0, sizeof *w);
}

sim_node_t *sim_world_node(sim_world_t *w, const char *node_id)
{
    for (size_t i = 0; i < w->n_nodes; i++)
        if (strcmp(w->nodes[i].node_id, node_id) == 0)
            return &w->nodes[i];
    return NULL;
}

const sim_farm_t *sim_world_farm(const sim_world_t *w, int64_t farm_id)
{
    for (size_t i = 0; i < w->n_farms; i++)
        if (w->farms[i].id == farm_id)
            return &w->farms[i];
    return NULL;
}

double sim_price_divisor(const sim_world_t *w)
{
    return w->network == SIM_DEVNET ? 100.0 : w->network == SIM_TESTNET ? 10.0 : 1.0;
}
