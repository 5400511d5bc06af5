/* internal.h — helpers shared by the codec's own files, never by other modules:
 * little-endian field access for the chunk header and the defaults of the pipelines. */
#ifndef GS_CODEC_INTERNAL_H
#define GS_CODEC_INTERNAL_H

#include <stdint.h>
#include <string.h>

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

/* Stripes in flight in a pipeline when the caller does not say: enough to keep the
 * threadpool busy while chunks travel, few enough that memory stays a handful of stripes. */
#define GS__WINDOW_DEFAULT 4u
#define GS__WINDOW_MAX     64u

#endif /* GS_CODEC_INTERNAL_H */
