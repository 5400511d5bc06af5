/* fuzz_spec.c — libFuzzer target for the spec parser: any bytes give either a spec
 * that holds the documented invariants or an error with a message naming the file,
 * never a crash or a leak (the sanitizers watch the rest). */
#include "reservation.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_FILE "fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_spec(const gs_spec_t *s)
{
    int64_t shards = s->codec.data + s->codec.parity;
    if (s->name == NULL || s->owner == NULL || s->topology == NULL)
        abort();
    if (shards < 1 || shards > GS_MAX_SHARDS || s->zdb.count < shards)
        abort();
    if (s->zdb_size_gib < 1 || s->meta_size_gib < 1 || s->memory_mib < 256 || s->disk_mib < 1024)
        abort();
}

/* Every error explains itself, starting with the file's name. */
static void check_error(int err, const gs_diag_t *diag)
{
    if (err != GS_ESPEC && err != GS_ETOOBIG && err != GS_ENOMEM)
        abort();
    if (err != GS_ENOMEM && strncmp(diag->msg, FUZZ_FILE ":", strlen(FUZZ_FILE ":")) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gs_spec_t spec;
    gs_diag_t diag = {{0}};
    int err = gs_spec_parse((const char *)data, size, FUZZ_FILE, &spec, &diag);
    if (err == GS_OK)
        check_spec(&spec);
    else
        check_error(err, &diag);
    gs_spec_free(&spec);
    return 0;
}
