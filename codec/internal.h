/* internal.h — helpers shared by the codec's own files (and its fuzz targets), never by
 * other modules. */
#ifndef GS_CODEC_INTERNAL_H
#define GS_CODEC_INTERNAL_H

#include "codec.h"

/* ---- metadata records (meta.c) ---- */

/* The plaintext body of a version-1 record, the part that the AEAD seals: encoded into a
 * new sodium_malloc'ed buffer (*body, *len; sodium_free it), or decoded and checked into
 * a new record (*out; gs_meta_free it). Exposed so that a fuzzer reaches the body parser
 * without forging a seal. */
int gs__meta_body_encode(const gs_meta_t *m, uint8_t **body, size_t *len, gs_diag_t *diag);
int gs__meta_body_decode(const uint8_t *p, size_t n, gs_meta_t **out, gs_diag_t *diag);

#endif /* GS_CODEC_INTERNAL_H */
