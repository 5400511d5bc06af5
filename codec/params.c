/* params.c — the codec's parameters: defaults and bounds. */
#include <sodium.h>

#include "codec.h"

/* Stripe bounds: at least one byte per data shard, and every chunk (payload plus its
 * header) inside one 0-db value. */
#define STRIPE_MIN     ((size_t)4096)
#define STRIPE_DEFAULT ((size_t)4 << 20)
#define CHUNK_SLACK    ((size_t)4096) /* room for a chunk's header and the AEAD tag */

void gs_codec_params_default(gs_codec_params_t *p)
{
    p->data = 16;
    p->parity = 4;
    p->stripe_size = STRIPE_DEFAULT;
    p->zstd_level = 1;
    p->cipher = (sodium_init() >= 0 && crypto_aead_aes256gcm_is_available())
                    ? GS_CIPHER_AES256GCM
                    : GS_CIPHER_XCHACHA20POLY1305;
}

int gs_codec_params_check(const gs_codec_params_t *p, gs_diag_t *diag)
{
    if (p->data < 1 || p->data + p->parity > GS_CODEC_MAX_SHARDS)
        return gs_diag_set(diag, GS_ERANGE,
                           "data + parity must be 1..%d shards with data >= 1 (got %u + %u)",
                           GS_CODEC_MAX_SHARDS, p->data, p->parity);
    if (p->stripe_size < STRIPE_MIN)
        return gs_diag_set(diag, GS_ERANGE, "stripe size must be at least %zu bytes", STRIPE_MIN);
    if (p->stripe_size / p->data + CHUNK_SLACK > GS_CODEC_CHUNK_MAX)
        return gs_diag_set(
            diag, GS_ERANGE,
            "stripe size %zu over %u data shards gives chunks over 0-db's 8 MiB value limit",
            p->stripe_size, p->data);
    if (p->zstd_level < 1 || p->zstd_level > 19)
        return gs_diag_set(diag, GS_ERANGE, "zstd level must be 1..19");
    if (p->cipher != GS_CIPHER_AES256GCM && p->cipher != GS_CIPHER_XCHACHA20POLY1305)
        return gs_diag_set(diag, GS_EINVAL, "unknown cipher %d", (int)p->cipher);
    if (p->cipher == GS_CIPHER_AES256GCM &&
        (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available()))
        return gs_diag_set(diag, GS_EINVAL, "this CPU has no AES-256-GCM; use XChaCha20-Poly1305");
    return 0;
}
