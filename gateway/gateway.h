/* gateway.h — gridstor-gw, the storage gateway a deployment runs on its M1 (read-write)
 * and M2/M3 (read-only) machines: the seed-001 file API over the codec core. */
#ifndef GS_GATEWAY_H
#define GS_GATEWAY_H

#include "codec.h"

#define GS_GW_PORT 7481 /* where a gateway listens on its machine */

typedef enum { GS_GW_READ_WRITE, GS_GW_READ_ONLY } gs_gw_mode_t;

/* What a gateway runs with: from the environment its machine gets (gs_gw_env_load) or
 * from flags. */
typedef struct {
    char *listen;     /* "host:port" */
    char *data_dir;   /* temporary uploads and the job queue */
    char *deployment; /* its deployment's name */
    char *role;       /* "m1", "m2", "m3" */
    gs_gw_mode_t mode;
    gs_codec_config_t codec; /* the 0-dbs and the deployment key (docs/codec-format.md) */
    char *secret;            /* uploads and checks need it (Bearer); NULL: public */
    uint64_t max_upload;     /* bytes of one upload (default 100 MiB) */
} gs_gw_config_t;

/* Reads the GRIDSTOR_* variables a gateway machine gets from gridstord
 * (docs/gateway-api.md, "Configuration on the grid") into cfg->codec, deployment, role and
 * mode: the codec configuration is written as JSON and read by the same code as a
 * configuration file. GS_EINVAL naming the variable that is missing or malformed. */
int gs_gw_env_load(gs_gw_config_t *cfg, gs_diag_t *diag);
/* Outside the grid: the codec configuration from a file (gs_codec_config_load). */
int gs_gw_file_load(gs_gw_config_t *cfg, const char *codec_file, gs_diag_t *diag);
void gs_gw_config_free(gs_gw_config_t *cfg);

/* gridstor-gw's main: options, then serve until SIGTERM/SIGINT. */
int gs_gw_main(int argc, char **argv);

#endif
