/* fuzz_meta.c — libFuzzer target for metadata records. The first byte picks what the
 * rest is: a sealed record (under a fixed key), the plaintext body behind the seal (so
 * that the body parser is reached without forging a tag), or a backup value. Anything
 * must give an error or a record that survives a round trip; the body must be in its
 * one canonical form, so encoding what was decoded gives the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "codec/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key the seeds were sealed with: bytes 0, 1, ..., 31. */
static void fuzz_key(uint8_t key[GS_CODEC_KEY_LEN])
{
    for (int i = 0; i < GS_CODEC_KEY_LEN; i++)
        key[i] = (uint8_t)i;
}

static void check_error(int err, const gs_diag_t *diag)
{
    if (err != GS_ECORRUPT && err != GS_ENOMEM)
        abort();
    if (diag->msg[0] == '\0')
        abort();
}

/* What decoded must encode back to the same body. */
static void check_canonical(const gs_meta_t *m, const uint8_t *body, size_t n)
{
    uint8_t *again = NULL;
    size_t len = 0;
    gs_diag_t diag;
    if (gs__meta_body_encode(m, &again, &len, &diag) != GS_OK)
        abort();
    if (len != n || memcmp(again, body, n) != 0)
        abort();
    sodium_free(again);
}

static void fuzz_record(const uint8_t *p, size_t n, const uint8_t *key)
{
    gs_meta_t *m = NULL;
    gs_diag_t diag = {{0}};
    int err = gs_meta_decode(p, n, key, &m, &diag);
    if (err != GS_OK) {
        check_error(err, &diag);
        return;
    }
    if (m == NULL || m->file_key == NULL)
        abort();
    gs_meta_free(m);
}

static void fuzz_body(const uint8_t *p, size_t n)
{
    gs_meta_t *m = NULL;
    gs_diag_t diag = {{0}};
    int err = gs__meta_body_decode(p, n, &m, &diag);
    if (err != GS_OK) {
        check_error(err, &diag);
        return;
    }
    check_canonical(m, p, n);
    gs_meta_free(m);
}

static void fuzz_backup(const uint8_t *p, size_t n, const uint8_t *key)
{
    gs_buf_t rec;
    gs_diag_t diag = {{0}};
    uint64_t id = 0;
    int err;
    gs_buf_init(&rec, GS_META_MAX);
    err = gs_meta_backup_decode(p, n, key, &id, &rec, &diag);
    if (err != GS_OK)
        check_error(err, &diag);
    else
        fuzz_record((const uint8_t *)rec.data, rec.len, key);
    gs_buf_free(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t key[GS_CODEC_KEY_LEN];
    if (size < 1 || sodium_init() < 0)
        return 0;
    fuzz_key(key);
    switch (data[0] % 3) {
    case 0:
        fuzz_record(data + 1, size - 1, key);
        break;
    case 1:
        fuzz_body(data + 1, size - 1);
        break;
    default:
        fuzz_backup(data + 1, size - 1, key);
        break;
    }
    return 0;
}
