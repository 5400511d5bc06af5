/* config.c — gridstord's configuration file (YAML, table-driven through common's
 * config reader): every key has a default that works on one machine, unknown or bad
 * keys are `file:line:col` errors before anything starts. docs/operations.md lists
 * the keys. */
#include "orchestrator.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_BYTES (64 * 1024)
#define F(field)         offsetof(gs_daemon_config_t, field)

static const char *check_url(const void *value)
{
    const char *s = *(const char *const *)value;
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return "expected an http:// or https:// URL";
    return NULL;
}

static const char *check_listen(const void *value)
{
    const char *s = *(const char *const *)value, *colon = strrchr(s, ':');
    char *end;
    long port;
    if (colon == NULL || colon == s)
        return "expected HOST:PORT, like 127.0.0.1:7480 (port 0: any free port)";
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
        return "the port must be a number from 0 to 65535";
    return NULL;
}

static const gs_cfg_key_t config_keys[] = {
    {"listen", GS_CFG_STRING, F(listen), 3, 255, .check = check_listen},
    {"public_url", GS_CFG_STRING, F(public_url), 8, 255, .check = check_url},
    {"data_dir", GS_CFG_STRING, F(data_dir), 1, 1024},
    {"explorer", GS_CFG_STRING, F(explorer), 8, 512, .check = check_url},
    {"chain", GS_CFG_STRING, F(chain), 8, 512, .check = check_url},
    {"login", GS_CFG_STRING, F(login), 8, 512, .check = check_url},
    {"admin_token_file", GS_CFG_STRING, F(admin_token_file), 1, 1024},
    {"qr_limit", GS_CFG_INT, F(qr_limit), 200, 2953},
    {"workload_timeout", GS_CFG_DURATION, F(workload_timeout_s), 1, 7 * 86400},
    {"tls_cert", GS_CFG_STRING, F(tls_cert), 1, 1024},
    {"tls_key", GS_CFG_STRING, F(tls_key), 1, 1024},
    {NULL},
};

static int set_defaults(gs_daemon_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->listen = gs_strdup("127.0.0.1:7480");
    c->data_dir = gs_strdup("gridstor-data");
    c->qr_limit = 2953;
    c->workload_timeout_s = 600;
    return c->listen && c->data_dir ? GS_OK : GS_ENOMEM;
}

const char *gs_daemon_scheme(const gs_daemon_config_t *c)
{
    return c->tls_cert != NULL ? "https" : "http";
}

/* What follows from other keys: the public URL from the listen address, the token
 * file inside the data folder. */
static int derive(gs_daemon_config_t *c, gs_diag_t *diag)
{
    char buf[1200];
    if ((c->tls_cert == NULL) != (c->tls_key == NULL))
        return gs_diag_set(diag, GS_EINVAL,
                           "tls_cert and tls_key go together: give both to serve HTTPS, or "
                           "neither");
    if (c->public_url == NULL) {
        snprintf(buf, sizeof buf, "%s://%s", gs_daemon_scheme(c), c->listen);
        if ((c->public_url = gs_strdup(buf)) == NULL)
            return gs_diag_set(diag, GS_ENOMEM, "out of memory");
        c->public_url_derived = true;
    }
    if (c->admin_token_file == NULL) {
        snprintf(buf, sizeof buf, "%s/admin.token", c->data_dir);
        if ((c->admin_token_file = gs_strdup(buf)) == NULL)
            return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    }
    return GS_OK;
}

int gs_daemon_config_parse(const char *text, size_t len, const char *file, gs_daemon_config_t *c,
                           gs_diag_t *diag)
{
    gs_yaml_node_t *root = NULL;
    gs_cfg_ctx_t ctx = {.file = file ? file : "<config>"};
    int err = set_defaults(c);
    if (err != GS_OK)
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
    else if (len > CONFIG_MAX_BYTES)
        err = gs_diag_set(diag, GS_ETOOBIG, "%s: %zu bytes; a configuration is at most %d bytes",
                          ctx.file, len, CONFIG_MAX_BYTES);
    else if ((err = gs_yaml_parse(text, len, ctx.file, &root, diag)) == GS_OK &&
             (err = gs_cfg_apply(&ctx, config_keys, root, c, "", diag)) == GS_OK)
        err = derive(c, diag);
    gs_yaml_free(root);
    gs_cfg_ctx_free(&ctx);
    if (err != GS_OK)
        gs_daemon_config_free(c);
    return err;
}

int gs_daemon_config_load(const char *path, gs_daemon_config_t *c, gs_diag_t *diag)
{
    gs_buf_t text;
    int err;
    if (path == NULL) { /* no file: every default */
        err = set_defaults(c);
        return err == GS_OK ? derive(c, diag) : gs_diag_set(diag, err, "out of memory");
    }
    gs_buf_init(&text, CONFIG_MAX_BYTES + 1);
    err = gs_file_read(path, CONFIG_MAX_BYTES + 1, &text, diag);
    if (err == GS_OK)
        err = gs_daemon_config_parse(text.data ? text.data : "", text.len, path, c, diag);
    gs_buf_free(&text);
    return err;
}

void gs_daemon_config_free(gs_daemon_config_t *c)
{
    gs_cfg_free(config_keys, c);
}
