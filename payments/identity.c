/* identity.c — the install's ed25519 identity: generated from the system's randomness,
 * written down as a checksummed seed text, kept in a 0600 file. */
#include "payments.h"

#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

#define SEED_GROUPS  8
#define IDENTITY_MAX 4096 /* bytes of an identity file */

void gs_identity_from_seed(gs_identity_t *id, const unsigned char seed[crypto_sign_SEEDBYTES])
{
    memset(id, 0, sizeof *id);
    memcpy(id->seed, seed, crypto_sign_SEEDBYTES);
    crypto_sign_seed_keypair(id->pk, id->sk, id->seed);
    sodium_bin2hex(id->address, sizeof id->address, id->pk, sizeof id->pk);
}

void gs_identity_generate(gs_identity_t *id)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    randombytes_buf(seed, sizeof seed);
    gs_identity_from_seed(id, seed);
    sodium_memzero(seed, sizeof seed);
}

static void seed_checksum(const unsigned char *seed, unsigned char out[4])
{
    unsigned char h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof h, seed, crypto_sign_SEEDBYTES, NULL, 0);
    memcpy(out, h, 4);
}

void gs_identity_seed_text(const gs_identity_t *id, char out[GS_SEED_TEXT_LEN])
{
    unsigned char sum[4];
    size_t o = 0;
    seed_checksum(id->seed, sum);
    for (int g = 0; g < SEED_GROUPS; g++) {
        sodium_bin2hex(out + o, 9, id->seed + 4 * g, 4);
        o += 8;
        out[o++] = '-';
    }
    sodium_bin2hex(out + o, 9, sum, 4);
}

int gs_identity_from_seed_text(gs_identity_t *id, const char *text, gs_diag_t *diag)
{
    char hex[2 * (crypto_sign_SEEDBYTES + 4) + 1];
    unsigned char bytes[crypto_sign_SEEDBYTES + 4], sum[4];
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '-' || isspace((unsigned char)*p))
            continue;
        if (!isxdigit((unsigned char)*p))
            return gs_diag_set(diag, GS_EINVAL, "seed: '%c' is not a hex digit", *p);
        if (n + 1 >= sizeof hex)
            return gs_diag_set(diag, GS_EINVAL, "seed: too long: expected 72 hex digits");
        hex[n++] = (char)tolower((unsigned char)*p);
    }
    hex[n] = '\0';
    if (n != sizeof hex - 1)
        return gs_diag_set(diag, GS_EINVAL, "seed: %zu hex digits, expected 72 (9 groups of 8)", n);
    sodium_hex2bin(bytes, sizeof bytes, hex, n, NULL, NULL, NULL);
    seed_checksum(bytes, sum);
    if (sodium_memcmp(sum, bytes + crypto_sign_SEEDBYTES, 4) != 0) {
        sodium_memzero(bytes, sizeof bytes);
        return gs_diag_set(diag, GS_EINVAL,
                           "seed: the checksum (last group) does not match: a digit is "
                           "mistyped");
    }
    gs_identity_from_seed(id, bytes);
    sodium_memzero(bytes, sizeof bytes);
    sodium_memzero(hex, sizeof hex);
    return GS_OK;
}

int gs_identity_save(const gs_identity_t *id, const char *path, gs_diag_t *diag)
{
    char seed[GS_SEED_TEXT_LEN];
    json_t *j;
    char *text;
    int err;
    gs_identity_seed_text(id, seed);
    j = json_pack("{s:s, s:I, s:s}", "name", id->name, "tid", (json_int_t)id->tid, "seed", seed);
    text = j ? gs_json_dumps(j) : NULL;
    json_decref(j);
    sodium_memzero(seed, sizeof seed);
    if (text == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    err = gs_file_write_atomic(path, text, strlen(text), 0600, diag);
    sodium_memzero(text, strlen(text));
    free(text);
    return err;
}

static int check_private(const char *path, gs_diag_t *diag)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return gs_diag_set(diag, GS_ENOENT, "%s: no identity here; run `gridstor init`", path);
    if (st.st_mode & 077)
        return gs_diag_set(diag, GS_EINVAL,
                           "%s: readable by other users (mode %03o); run chmod 600 on it", path,
                           (unsigned)(st.st_mode & 0777));
    return GS_OK;
}

int gs_identity_load(gs_identity_t *id, const char *path, gs_diag_t *diag)
{
    gs_buf_t buf;
    json_t *j = NULL;
    int64_t tid = 0;
    const char *name, *seed;
    int err = check_private(path, diag);
    gs_buf_init(&buf, IDENTITY_MAX);
    if (err == GS_OK)
        err = gs_file_read(path, IDENTITY_MAX, &buf, diag);
    if (err == GS_OK && (j = json_loadb(buf.data, buf.len, 0, NULL)) == NULL)
        err = gs_diag_set(diag, GS_EPARSE, "%s: not an identity file (JSON)", path);
    if (err == GS_OK && ((name = gs_json_str(j, "name")) == NULL || strlen(name) >= 64 ||
                         !gs_json_int(j, "tid", &tid) || (seed = gs_json_str(j, "seed")) == NULL))
        err = gs_diag_set(diag, GS_EPARSE, "%s: expected {\"name\", \"tid\", \"seed\"}", path);
    if (err == GS_OK && (err = gs_identity_from_seed_text(id, seed, diag)) == GS_OK) {
        snprintf(id->name, sizeof id->name, "%s", name);
        id->tid = tid;
    }
    if (buf.data)
        sodium_memzero(buf.data, buf.len);
    gs_buf_free(&buf);
    json_decref(j);
    return err;
}

void gs_identity_clear(gs_identity_t *id)
{
    sodium_memzero(id, sizeof *id);
}
