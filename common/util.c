/* util.c — small string helpers, embedded-file lookup and the seeded PRNG. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

char *gs_strdup(const char *s)
{
    size_t n;
    char *p;
    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

bool gs_strieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower((unsigned char)*a) != lower((unsigned char)*b))
            return false;
    return *a == *b;
}

void gs_hex(const unsigned char *p, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

unsigned gs_edit_distance(const char *a, const char *b)
{
    unsigned row[64];
    size_t la = strlen(a), lb = strlen(b);
    if (la >= GS_ARRAY_SIZE(row) || lb >= GS_ARRAY_SIZE(row))
        return 255;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned cost = lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
            unsigned best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > 255 ? 255 : row[lb];
}

const gs_embedded_t *gs_embedded_find(const gs_embedded_t *table, const char *name)
{
    for (; table && table->name; table++)
        if (strcmp(table->name, name) == 0)
            return table;
    return NULL;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void gs_rng_seed(gs_rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t gs_rng_next(gs_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t gs_rng_below(gs_rng_t *r, uint64_t bound)
{
    /* Rejection sampling keeps the choice unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do
        x = gs_rng_next(r);
    while (x >= limit);
    return x % bound;
}

uint64_t gs_rng_random_seed(void)
{
    uint64_t seed;
    if (sodium_init() < 0)
        abort();
    randombytes_buf(&seed, sizeof seed);
    /* Keep seeds printable as JSON integers without loss. */
    return seed & ((1ULL << 53) - 1);
}

int gs_strlist_push(gs_strlist_t *l, const char *s)
{
    char **items = realloc(l->items, (l->n + 1) * sizeof *items);
    if (items == NULL)
        return GS_ENOMEM;
    l->items = items;
    items[l->n] = gs_strdup(s);
    if (items[l->n] == NULL)
        return GS_ENOMEM;
    l->n++;
    return GS_OK;
}

void gs_strlist_free(gs_strlist_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}
