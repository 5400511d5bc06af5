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

void gs_identity_derive_key(const gs_identity_t *id, const char *context, unsigned char out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, id->seed, sizeof id->seed, 32);
    crypto_generichash_update(&st, (const unsigned char *)"gridstor/", 9);
    crypto_generichash_update(&st, (const unsigned char *)context, strlen(context));
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof st);
}

/* The SecretBox key this identity shares with a node, from their X25519 shared secret. */
static bool node_box_key(const gs_identity_t *id, const char *node_pk_hex, unsigned char key[32])
{
    unsigned char node_pk[32], node_x[32], user_x[32], shared[32];
    size_t pklen = 0;
    bool ok = sodium_hex2bin(node_pk, sizeof node_pk, node_pk_hex, strlen(node_pk_hex), NULL,
                             &pklen, NULL) == 0 &&
              pklen == sizeof node_pk &&
              crypto_sign_ed25519_pk_to_curve25519(node_x, node_pk) == 0 &&
              crypto_sign_ed25519_sk_to_curve25519(user_x, id->sk) == 0 &&
              crypto_scalarmult(shared, user_x, node_x) == 0;
    if (ok)
        crypto_generichash(key, 32, shared, sizeof shared, NULL, 0);
    sodium_memzero(user_x, sizeof user_x);
    sodium_memzero(shared, sizeof shared);
    return ok;
}

bool gs_seal_for_node(const gs_identity_t *id, const char *node_pk_hex, const char *value,
                      char *out, size_t outlen)
{
    enum { OVERHEAD = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES };
    unsigned char key[32], box[OVERHEAD + GS_SEAL_MAX];
    size_t len = strlen(value);
    bool ok =
        len <= GS_SEAL_MAX && outlen > 2 * (OVERHEAD + len) && node_box_key(id, node_pk_hex, key);
    if (ok) {
        randombytes_buf(box, crypto_secretbox_NONCEBYTES);
        crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)value, len,
                              box, key);
        sodium_bin2hex(out, outlen, box, OVERHEAD + len);
    }
    sodium_memzero(key, sizeof key);
    return ok;
}
