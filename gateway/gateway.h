/* gateway.h — gridstor-gw, the storage gateway a deployment runs on its M1 (read-write)
 * and M2/M3 (read-only) machines: the seed-001 file API over the codec core. */
#ifndef GS_GATEWAY_H
#define GS_GATEWAY_H

#include "codec.h"

#define GS_GW_PORT 7481 /* where a gateway listens on its machine */

#define GS_GW_MAX_UPLOAD_DEFAULT ((uint64_t)100 << 20)
#define GS_GW_MAX_UPLOAD_LIMIT   ((uint64_t)4 << 30) /* one POST is held in memory whole */
#define GS_GW_WORKERS_DEFAULT    2
#define GS_GW_SECRET_MIN         16 /* characters of a shared secret */

typedef enum { GS_GW_READ_WRITE, GS_GW_READ_ONLY } gs_gw_mode_t;

/* Who may upload and check (docs/gateway-api.md, "Security"): anyone; whoever knows the
 * shared secret; or the 3Bot names allowed, each with a secret from authenticate. */
typedef enum { GS_GW_PUBLIC, GS_GW_SECRET, GS_GW_THREEBOT } gs_gw_security_t;

/* What a gateway runs with: from the environment its machine gets (gs_gw_env_load) or
 * from a configuration file (gs_gw_config_load); --listen and --data override both. */
typedef struct {
    char *listen;     /* "host:port" */
    char *data_dir;   /* temporary uploads and the job queue */
    char *deployment; /* its deployment's name (may be NULL from a file) */
    char *role;       /* "m1", "m2", "m3" (may be NULL from a file) */
    gs_gw_mode_t mode;
    gs_codec_config_t codec; /* the 0-dbs and the deployment key (docs/codec-format.md) */
    gs_gw_security_t security;
    char *secret;         /* GS_GW_SECRET: the shared secret (wiped when freed) */
    char *login;          /* GS_GW_THREEBOT: the login directory's base URL */
    gs_strlist_t allowed; /* GS_GW_THREEBOT: the 3Bot names allowed */
    uint64_t max_upload;  /* bytes of one upload (default 100 MiB) */
    unsigned workers;     /* uploads stored through the codec at once (default 2) */
} gs_gw_config_t;

/* Sets the defaults a configuration starts from (max_upload, workers, public). */
void gs_gw_config_init(gs_gw_config_t *cfg);
/* Reads the GRIDSTOR_* variables a gateway machine gets from gridstord
 * (docs/gateway-api.md, "Configuration on the grid") into cfg->codec, deployment, role and
 * mode: the codec configuration is written as JSON and read by the same code as a
 * configuration file. GRIDSTOR_GW_SECRET, when set, makes the gateway's security
 * `secret`; otherwise it is public. GS_EINVAL naming the variable that is missing or
 * malformed. */
int gs_gw_env_load(gs_gw_config_t *cfg, gs_diag_t *diag);
/* Reads a gateway configuration file (YAML, docs/gateway-api.md) into cfg (initialised
 * with gs_gw_config_init), the codec configuration from the file it names. Errors as
 * "file:line:col: key: reason". */
int gs_gw_config_load(const char *path, gs_gw_config_t *cfg, gs_diag_t *diag);
void gs_gw_config_free(gs_gw_config_t *cfg);

/* gridstor-gw's main: options, then serve until SIGTERM/SIGINT. */
int gs_gw_main(int argc, char **argv);

#endif
