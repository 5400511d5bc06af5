/* fuzz_codec_config.c — libFuzzer target for the codec configuration file: any bytes
 * give an error naming the file, or a configuration that holds its invariants and reads
 * back the same from its own JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define FUZZ_FILE "fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const gs_codec_config_t *c)
{
    gs_diag_t diag;
    if (c->key == NULL || c->meta_master.address == NULL || c->meta_master.ns == NULL)
        abort();
    if (c->n_backends < c->params.data + c->params.parity || c->n_backends > GS_CODEC_MAX_SHARDS)
        abort();
    if (c->n_meta_replicas > GS_CODEC_MAX_REPLICAS)
        abort();
    if (gs_codec_params_check(&c->params, &diag) != GS_OK)
        abort();
}

/* Its JSON (with the secrets) is a configuration that gives the same JSON again. */
static void check_round_trip(const gs_codec_config_t *c)
{
    gs_codec_config_t back;
    gs_diag_t diag;
    json_t *j = gs_codec_config_to_json(c, true), *k;
    char *text = gs_json_dumps(j), *again;
    if (gs_codec_config_parse(text, strlen(text), "again.json", &back, &diag) != GS_OK)
        abort();
    k = gs_codec_config_to_json(&back, true);
    again = gs_json_dumps(k);
    if (strcmp(text, again) != 0)
        abort();
    free(again);
    free(text);
    json_decref(k);
    json_decref(j);
    gs_codec_config_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gs_codec_config_t c;
    gs_diag_t diag = {{0}};
    int err = gs_codec_config_parse((const char *)data, size, FUZZ_FILE, &c, &diag);
    if (err == GS_OK) {
        check_config(&c);
        check_round_trip(&c);
    } else if ((err != GS_EINVAL && err != GS_ETOOBIG && err != GS_ENOMEM) ||
               (err != GS_ENOMEM && strncmp(diag.msg, FUZZ_FILE ":", strlen(FUZZ_FILE ":")) != 0)) {
        abort();
    }
    gs_codec_config_free(&c);
    return 0;
}
