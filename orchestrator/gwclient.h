/* gwclient.h — the CLI's client of a gridstor-gw (docs/gateway-api.md), private to
 * orchestrator/: `gridstor put|get|check|repair --gw URL`. Blocking calls with libcurl,
 * one at a time; each returns GS_OK or a gs_err_t with the reason in c->msg:
 * GS_ENOENT no such file, GS_EINVAL refused as malformed or unauthorized (a wrong secret),
 * GS_EUNAVAIL too few backends, GS_ECONN the gateway unreachable or failing, GS_ECORRUPT a
 * file id whose signature does not verify, GS_EIO a local file. A pinned key (gridstord
 * shows it as the deployment's `gateway_public_key`) proves a file id came from a gateway
 * of the deployment; without one, the key the gateway publishes only catches damage. */
#ifndef GS_ORCHESTRATOR_GWCLIENT_H
#define GS_ORCHESTRATOR_GWCLIENT_H

#include <stdio.h>

#include "codec.h"

#define GS_GWC_PART ((uint64_t)16 << 20) /* uploads larger than this go in parts */

typedef struct {
    char url[512];         /* the gateway's base URL */
    char auth[1100];       /* "Authorization: Bearer SECRET", or "" */
    unsigned char key[32]; /* the gateways' public key when pinned */
    bool pinned;
    /* called as bytes move (moved so far, the total when known, else 0) */
    void (*progress)(uint64_t moved, uint64_t total, void *ud);
    void *ud;
    char msg[GS_DIAG_MAX];
} gs_gwc_t;

/* The gateway at url; its secret from secret_file (first line), else from the environment
 * variable GRIDSTOR_GW_SECRET, else none (a public gateway); the public key file ids must
 * verify with from key_hex (64 hex), else GRIDSTOR_GW_KEY, else the key the gateway
 * publishes. */
int gs_gwc_init(gs_gwc_t *c, const char *url, const char *secret_file, const char *key_hex);
/* Uploads fd's size bytes (with ext, or none), waits for the file id and verifies its
 * signature with the gateway's key. */
int gs_gwc_put(gs_gwc_t *c, int fd, uint64_t size, const char *ext, char id[GS_CODEC_ID_MAX]);
/* The whole file into out; *total its size. */
int gs_gwc_get(gs_gwc_t *c, const char *id, FILE *out, uint64_t *total);
int gs_gwc_check(gs_gwc_t *c, const char *id, bool hard, gs_codec_health_t *h);
int gs_gwc_repair(gs_gwc_t *c, const char *id, unsigned *rebuilt);

#endif
