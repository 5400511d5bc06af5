/* fileid.c — file ids as users see them: 48 hex of the content's BLAKE2b-192, 8 hex of
 * the metadata record's 0-db id, then ".ext" when the file has an extension. Parsing is
 * strict, so that one file has exactly one id. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"

#define HASH_HEX (2 * GS_CODEC_HASH_LEN)
#define ID_HEX   8

static bool ext_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool gs_codec_ext_valid(const char *ext)
{
    size_t n = strlen(ext);
    if (n > GS_CODEC_EXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ext_char(ext[i]))
            return false;
    return true;
}

bool gs_codec_ext_from_name(const char *name, char ext[GS_CODEC_EXT_MAX + 1])
{
    const char *base = strrchr(name, '/'), *dot;
    size_t n;
    ext[0] = '\0';
    base = base ? base + 1 : name;
    dot = strrchr(base, '.');
    if (dot == NULL || dot == base) /* ".profile" is a name, not an extension */
        return false;
    n = strlen(dot + 1);
    if (n < 1 || n > GS_CODEC_EXT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = dot[1 + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!ext_char(c)) {
            ext[0] = '\0';
            return false;
        }
        ext[i] = c;
    }
    ext[n] = '\0';
    return true;
}

int gs_codec_id_format(const uint8_t hash[GS_CODEC_HASH_LEN], uint64_t meta_id, const char *ext,
                       char out[GS_CODEC_ID_MAX])
{
    if (meta_id > 0xffffffffu)
        return GS_ERANGE;
    if (ext && !gs_codec_ext_valid(ext))
        return GS_EINVAL;
    gs_hex(hash, GS_CODEC_HASH_LEN, out);
    snprintf(out + HASH_HEX, GS_CODEC_ID_MAX - HASH_HEX, "%08x%s%s", (unsigned)meta_id,
             ext && *ext ? "." : "", ext ? ext : "");
    return GS_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* n lowercase hex digits; false at the first other character. */
static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hex_value(s[i]) < 0)
            return false;
    return true;
}

int gs_codec_id_parse(const char *s, uint8_t hash[GS_CODEC_HASH_LEN], uint64_t *meta_id,
                      char ext[GS_CODEC_EXT_MAX + 1], gs_diag_t *diag)
{
    size_t n = strlen(s);
    const char *e = s + HASH_HEX + ID_HEX;
    uint64_t id = 0;
    if (n < HASH_HEX + ID_HEX || !lower_hex(s, HASH_HEX + ID_HEX))
        return gs_diag_set(diag, GS_EINVAL,
                           "file id: expected %d lowercase hex digits, then .ext or nothing",
                           HASH_HEX + ID_HEX);
    if (*e != '\0' && (*e != '.' || e[1] == '\0' || !gs_codec_ext_valid(e + 1)))
        return gs_diag_set(diag, GS_EINVAL,
                           "file id: the extension is 1..%d characters of a-z 0-9 after a dot",
                           GS_CODEC_EXT_MAX);
    for (size_t i = 0; i < GS_CODEC_HASH_LEN; i++)
        hash[i] = (uint8_t)(hex_value(s[2 * i]) << 4 | hex_value(s[2 * i + 1]));
    for (size_t i = 0; i < ID_HEX; i++)
        id = id << 4 | (uint64_t)hex_value(s[HASH_HEX + i]);
    *meta_id = id;
    snprintf(ext, GS_CODEC_EXT_MAX + 1, "%s", *e ? e + 1 : "");
    return GS_OK;
}

void gs_codec_gateway_keypair(const uint8_t key[GS_CODEC_KEY_LEN], uint8_t pk[32], uint8_t *sk)
{
    static const char context[] = "gridstor gateway";
    unsigned char seed[crypto_sign_SEEDBYTES], own_sk[crypto_sign_SECRETKEYBYTES];
    crypto_generichash(seed, sizeof seed, (const unsigned char *)context, sizeof context - 1, key,
                       GS_CODEC_KEY_LEN);
    crypto_sign_seed_keypair(pk, sk ? sk : own_sk, seed);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(own_sk, sizeof own_sk);
}
