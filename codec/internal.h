/* internal.h — helpers shared by the codec's own files (and its fuzz targets and
 * benchmarks), never by other modules: little-endian field access for the chunk header,
 * the pipelines' reusable scratch memory and defaults, and the metadata body codec. */
#ifndef GS_CODEC_INTERNAL_H
#define GS_CODEC_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "codec.h"

static inline void gs__put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void gs__put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t gs__get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t gs__get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Memory a pipeline slot keeps from one stripe to the next, so that encoding and decoding
 * a long file touch the same pages again instead of fresh ones (on virtual machines a page
 * fault costs more than AES-GCM over the page). Buffers only grow; zero it to start. */
typedef struct {
    uint8_t *ct, *comp, *chunks;
    size_t ct_cap, comp_cap, chunks_cap;
    void *cctx, *dctx; /* zstd contexts, made on first use */
    uint64_t rs_ns;    /* time spent in Reed-Solomon encoding, for benchmarks */
} gs__scratch_t;

void gs__scratch_free(gs__scratch_t *sc);
/* gs_stripe_encode, with the chunks written into sc: out->chunk[i] point into sc->chunks
 * (borrowed: never gs_stripe_free them), valid until the next use of sc. */
int gs__stripe_encode_reuse(gs__scratch_t *sc, const gs_codec_params_t *p, const uint8_t *key,
                            uint64_t stripe_no, bool last, const uint8_t *plain, size_t len,
                            gs_stripe_t *out, gs_diag_t *diag);
/* gs_stripe_decode into plain (plain_cap bytes; GS_ECORRUPT when the stripe says more). */
int gs__stripe_decode_reuse(gs__scratch_t *sc, const gs_codec_params_t *p, const uint8_t *key,
                            uint64_t stripe_no, const uint8_t *const *chunks, const size_t *lens,
                            uint8_t *plain, size_t plain_cap, size_t *out_len, bool *last,
                            bool *bad, gs_diag_t *diag);

/* Stripes in flight in a pipeline when the caller does not say: enough to keep the
 * threadpool busy while chunks travel, few enough that memory stays a handful of stripes. */
#define GS__WINDOW_DEFAULT 4u
#define GS__WINDOW_MAX     64u

/* ---- metadata records (meta.c) ---- */

/* The plaintext body of a version-1 record, the part that the AEAD seals: encoded into a
 * new sodium_malloc'ed buffer (*body, *len; sodium_free it), or decoded and checked into
 * a new record (*out; gs_meta_free it). Exposed so that a fuzzer reaches the body parser
 * without forging a seal. */
int gs__meta_body_encode(const gs_meta_t *m, uint8_t **body, size_t *len, gs_diag_t *diag);
int gs__meta_body_decode(const uint8_t *p, size_t n, gs_meta_t **out, gs_diag_t *diag);

/* ---- the codec (codec.c, health.c, backup.c) ---- */

/* The backup of a metadata record (RECORD, stored under META_ID) written to the first
 * parity + 1 data backends that take it; cb gets how many did (0 to parity + 1), always
 * after gs__backup_write returned GS_OK. Nothing is written and cb is not called when it
 * returns an error. */
typedef void (*gs__backup_cb)(unsigned copies, void *ud);
int gs__backup_write(gs_codec_t *c, const gs_buf_t *record, uint64_t meta_id, gs__backup_cb cb,
                     void *ud, gs_diag_t *diag);

struct gs_codec {
    uv_loop_t *loop;
    bool read_only;
    bool spread;              /* new files spread over every backend (placement: spread) */
    gs_codec_params_t params; /* for new files */
    uint8_t *key;             /* the deployment key, sodium_malloc'ed */
    gs_shard_store_t *shards; /* every data backend of the configuration, spares included */
    gs_zdb_t **meta;          /* metadata clients in lookup order */
    size_t n_meta;
    gs_zdb_t *master; /* the metadata master (one of meta) */
    void (*progress)(uint64_t bytes_written, void *ud);
};

#endif /* GS_CODEC_INTERNAL_H */
