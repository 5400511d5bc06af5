/* env.c — a gateway's configuration from the environment its machine gets from
 * gridstord: plain variables name the codec and every 0-db ("namespace@address"), secret
 * ones (opened by the node) carry their passwords and the deployment key. The result is
 * the codec configuration as JSON, read by the same code as a configuration file.
 * GRIDSTOR_GW_SECRET, when set, is the shared secret uploads and checks need. */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define MAX_BACKENDS GS_CODEC_MAX_SHARDS

static const char *need(const char *name, gs_diag_t *diag)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        gs_diag_set(diag, GS_EINVAL, "%s is not set: a gateway machine gets it from gridstord",
                    name);
    return v && v[0] ? v : NULL;
}

/* {"address","namespace","password"} from NAME ("namespace@address") and NAME_PASSWORD. */
static json_t *zdb_of(const char *name, gs_diag_t *diag)
{
    char pw_name[96];
    const char *endpoint = need(name, diag), *at, *password;
    snprintf(pw_name, sizeof pw_name, "%s_PASSWORD", name);
    if (endpoint == NULL || (password = need(pw_name, diag)) == NULL)
        return NULL;
    if ((at = strchr(endpoint, '@')) == NULL || at == endpoint || at[1] == '\0') {
        gs_diag_set(diag, GS_EINVAL, "%s: '%s' is not namespace@address", name, endpoint);
        return NULL;
    }
    return json_pack("{s:s, s:s#, s:s}", "address", at + 1, "namespace", endpoint,
                     (int)(at - endpoint), "password", password);
}

/* GRIDSTOR_BACKEND_00, _01, ... until the first one missing. */
static json_t *backends_of(gs_diag_t *diag)
{
    json_t *list = json_array(), *z;
    char name[64];
    for (int i = 0; i < MAX_BACKENDS; i++) {
        snprintf(name, sizeof name, "GRIDSTOR_BACKEND_%02d", i);
        if (getenv(name) == NULL)
            break;
        if ((z = zdb_of(name, diag)) == NULL) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, z);
    }
    return list;
}

static int codec_counts(unsigned *data, unsigned *parity, gs_diag_t *diag)
{
    const char *codec = need("GRIDSTOR_CODEC", diag);
    char tail;
    if (codec == NULL)
        return GS_EINVAL;
    if (sscanf(codec, "%u+%u%c", data, parity, &tail) != 2)
        return gs_diag_set(diag, GS_EINVAL, "GRIDSTOR_CODEC: '%s' is not DATA+PARITY", codec);
    return GS_OK;
}

static int mode_of(gs_gw_config_t *cfg, gs_diag_t *diag)
{
    const char *gw = need("GRIDSTOR_GATEWAY", diag);
    if (gw == NULL)
        return GS_EINVAL;
    if (strcmp(gw, "read-write") != 0 && strcmp(gw, "read-only") != 0)
        return gs_diag_set(diag, GS_EINVAL, "GRIDSTOR_GATEWAY: '%s' is not read-write or read-only",
                           gw);
    cfg->mode = strcmp(gw, "read-write") == 0 ? GS_GW_READ_WRITE : GS_GW_READ_ONLY;
    return GS_OK;
}

/* The codec configuration as JSON text (a heap string; wipe and free it). The
 * machine's own metadata 0-db is a replica when it is not the master. */
static char *codec_json(unsigned data, unsigned parity, const char *key, json_t *master,
                        json_t *own, json_t *backends)
{
    json_t *replicas = json_array(), *doc;
    char *text;
    if (!json_equal(master, own))
        json_array_append(replicas, own);
    json_decref(own);
    doc = json_pack("{s:i, s:i, s:s, s:{s:o, s:o}, s:o}", "data", (int)data, "parity", (int)parity,
                    "key", key, "metadata", "master", master, "replicas", replicas, "backends",
                    backends);
    text = doc ? gs_json_dumps(doc) : NULL;
    json_decref(doc);
    return text;
}

/* GRIDSTOR_GW_SECRET (a secret variable): uploads and checks need it; unset: public. */
static int env_secret(gs_gw_config_t *cfg, gs_diag_t *diag)
{
    const char *secret = getenv("GRIDSTOR_GW_SECRET");
    if (secret == NULL || secret[0] == '\0') {
        cfg->security = GS_GW_PUBLIC;
        return GS_OK;
    }
    if (strlen(secret) < GS_GW_SECRET_MIN || strlen(secret) > 1024)
        return gs_diag_set(diag, GS_EINVAL, "GRIDSTOR_GW_SECRET: %d to 1024 characters",
                           GS_GW_SECRET_MIN);
    if ((cfg->secret = gs_strdup(secret)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    cfg->security = GS_GW_SECRET;
    return GS_OK;
}

int gs_gw_env_load(gs_gw_config_t *cfg, gs_diag_t *diag)
{
    unsigned data = 0, parity = 0;
    const char *name = need("GRIDSTOR_DEPLOYMENT", diag), *role, *key;
    json_t *master, *own, *backends;
    char *text;
    int err;
    if (name == NULL || (role = need("GRIDSTOR_ROLE", diag)) == NULL ||
        (key = need("GRIDSTOR_KEY", diag)) == NULL || mode_of(cfg, diag) != GS_OK ||
        codec_counts(&data, &parity, diag) != GS_OK)
        return GS_EINVAL;
    master = zdb_of("GRIDSTOR_META_MASTER", diag);
    own = master ? zdb_of("GRIDSTOR_META", diag) : NULL;
    backends = own ? backends_of(diag) : NULL;
    if (backends == NULL) {
        json_decref(master);
        json_decref(own);
        return GS_EINVAL;
    }
    if (json_array_size(backends) < data + parity) {
        gs_diag_set(diag, GS_EINVAL,
                    "GRIDSTOR_CODEC says %u+%u but only %zu GRIDSTOR_BACKEND_NN are set", data,
                    parity, json_array_size(backends));
        json_decref(master);
        json_decref(own);
        json_decref(backends);
        return GS_EINVAL;
    }
    if ((text = codec_json(data, parity, key, master, own, backends)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    err = gs_codec_config_parse(text, strlen(text), "the GRIDSTOR_* variables", &cfg->codec, diag);
    sodium_memzero(text, strlen(text));
    free(text);
    if (err != GS_OK)
        return err;
    cfg->deployment = gs_strdup(name);
    cfg->role = gs_strdup(role);
    err = cfg->deployment && cfg->role ? GS_OK : gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (err == GS_OK)
        err = env_secret(cfg, diag);
    return err;
}
