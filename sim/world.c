/* world.c — a deterministic grid: farms over several countries, nodes with
 * ed25519 identities and realistic capacity, and a clock that can run faster
 * than real time. */
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

static void make_farm(sim_world_t *w, size_t i, gs_rng_t *rng)
{
    sim_farm_t *f = &w->farms[i];
    const place_t *pl = &places[i % GS_ARRAY_SIZE(places)];
    unsigned char raw[32];
    f->id = (int64_t)i + 1;
    snprintf(f->name, sizeof f->name, "sim-farm-%zu", i + 1);
    snprintf(f->country, sizeof f->country, "%s", pl->country);
    snprintf(f->city, sizeof f->city, "%s", pl->cities[0]);
    for (size_t k = 0; k < sizeof raw; k++)
        raw[k] = (unsigned char)gs_rng_next(rng);
    f->wallet[0] = 'G';
    sim_base58(raw, sizeof raw, f->wallet + 1, sizeof f->wallet - 1);
}

static void make_node(sim_world_t *w, size_t i, size_t per_farm, gs_rng_t *rng)
{
    sim_node_t *n = &w->nodes[i];
    size_t farm = i / per_farm;
    const place_t *pl = &places[farm % GS_ARRAY_SIZE(places)];
    unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    for (size_t k = 0; k < sizeof seed; k++)
        seed[k] = (unsigned char)gs_rng_next(rng);
    crypto_sign_seed_keypair(pk, n->sk, seed);
    sodium_memzero(seed, sizeof seed);
    sim_base58(pk, sizeof pk, n->node_id, sizeof n->node_id);
    gs_hex(pk, sizeof pk, n->public_key_hex);
    n->id = (int64_t)i + 1;
    n->farm_id = w->farms[farm].id;
    snprintf(n->country, sizeof n->country, "%s", pl->country);
    snprintf(n->city, sizeof n->city, "%s", pl->cities[i % 2]);
    snprintf(n->continent, sizeof n->continent, "%s", pl->continent);
    n->latitude = pl->lat + (double)(i % 10) / 100.0;
    n->longitude = pl->lon + (double)(i % 7) / 100.0;
    n->total.cru = (double)(8 + 8 * gs_rng_below(rng, 4));
    n->total.mru = (double)(32 + 32 * gs_rng_below(rng, 4)) - 0.8;
    n->total.hru = (double)(4000 + 2000 * gs_rng_below(rng, 6));
    n->total.sru = (double)(500 + 250 * gs_rng_below(rng, 6));
    n->created = w->epoch0 - 86400 * (int64_t)(30 + gs_rng_below(rng, 600));
}

int sim_world_generate(sim_world_t *w, const sim_world_opts_t *o, gs_diag_t *diag)
{
    gs_rng_t rng;
    size_t per_farm = o->nodes_per_farm ? o->nodes_per_farm : 6;
    memset(w, 0, sizeof *w);
    if (o->n_farms == 0 || o->n_farms > 1000 || per_farm > 1000)
        return gs_diag_set(diag, GS_EINVAL, "between 1 and 1000 farms of 1 to 1000 nodes");
    if (sodium_init() < 0)
        return gs_diag_set(diag, GS_EIO, "libsodium cannot start");
    w->farms = calloc(o->n_farms, sizeof *w->farms);
    w->nodes = sodium_allocarray(o->n_farms * per_farm, sizeof *w->nodes);
    if (w->farms == NULL || w->nodes == NULL) {
        sim_world_free(w);
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    memset(w->nodes, 0, o->n_farms * per_farm * sizeof *w->nodes);
    w->n_farms = o->n_farms;
    w->n_nodes = o->n_farms * per_farm;
    w->network = o->network;
    w->time_scale = o->time_scale > 0 ? o->time_scale : 1.0;
    w->epoch0 = (int64_t)time(NULL);
    w->start_ms = clock_ms();
    gs_rng_seed(&rng, o->seed);
    for (size_t i = 0; i < w->n_farms; i++)
        make_farm(w, i, &rng);
    for (size_t i = 0; i < w->n_nodes; i++)
        make_node(w, i, per_farm, &rng);
    return GS_OK;
}

void sim_world_free(sim_world_t *w)
{
    if (w == NULL)
        return;
    free(w->farms);
    if (w->nodes)
        sodium_free(w->nodes);
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
