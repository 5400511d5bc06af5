/* config.c — a gateway's configuration file (YAML, read with common's table reader, so
 * mistakes are reported as "file:line:col: key: reason"): where it listens and keeps its
 * queue, read-write or read-only, the codec configuration file it serves, who may upload
 * (security), the upload cap and how many uploads are stored at once. */
#include "gateway.h"

#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define CONFIG_MAX   (256u * 1024)
#define SECRET_MAX   1024
#define ALLOWED_MAX  1000
#define NAME_MAX_LEN 64

typedef struct {
    int mode;
    char *secret, *secret_file, *login;
    gs_strlist_t allowed;
} raw_security_t;

typedef struct {
    char *listen, *data_dir, *codec, *deployment, *role;
    int mode;
    uint64_t max_upload;
    int64_t workers;
    raw_security_t security;
} raw_t;

static const char *const mode_names[] = {"read-write", "read-only", NULL};
static const char *const security_names[] = {"public", "secret", "threebot", NULL};

static const char *check_url(const void *value)
{
    const char *s = *(char *const *)value;
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return "expected an http:// or https:// URL";
    return strpbrk(s, " \t\r\n") ? "a URL has no spaces" : NULL;
}

/* A 3Bot name as the login directory knows them: "alice.3bot". */
static bool threebot_name_valid(const char *s)
{
    size_t len = strlen(s);
    return len > 5 && len <= NAME_MAX_LEN && strcmp(s + len - 5, ".3bot") == 0 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-_") == len &&
           strchr(".-_", s[0]) == NULL;
}

static const char *check_names(const void *value)
{
    const gs_strlist_t *l = value;
    for (size_t i = 0; i < l->n; i++)
        if (!threebot_name_valid(l->items[i]))
            return "expected 3Bot names like alice.3bot (a-z 0-9 . - _, at most 64 bytes)";
    return NULL;
}

#define S(field) offsetof(raw_security_t, field)
static const gs_cfg_key_t security_keys[] = {
    {"mode", GS_CFG_ENUM, S(mode), .choices = security_names, .required = true},
    {"secret", GS_CFG_STRING, S(secret), GS_GW_SECRET_MIN, SECRET_MAX},
    {"secret_file", GS_CFG_STRING, S(secret_file), 1, 1024},
    {"login", GS_CFG_STRING, S(login), 8, 1024, .check = check_url},
    {"allowed", GS_CFG_STRLIST, S(allowed), 1, ALLOWED_MAX, .check = check_names},
    {NULL},
};
#undef S

#define R(field) offsetof(raw_t, field)
static const gs_cfg_key_t config_keys[] = {
    {"listen", GS_CFG_STRING, R(listen), 3, 300},
    {"data_dir", GS_CFG_STRING, R(data_dir), 1, 1024},
    {"mode", GS_CFG_ENUM, R(mode), .choices = mode_names},
    {"codec", GS_CFG_STRING, R(codec), 1, 1024, .required = true},
    {"deployment", GS_CFG_STRING, R(deployment), 1, 128},
    {"role", GS_CFG_STRING, R(role), 1, 16},
    {"max_upload", GS_CFG_SIZE, R(max_upload), 1, (int64_t)GS_GW_MAX_UPLOAD_LIMIT},
    {"workers", GS_CFG_INT, R(workers), 1, 64},
    {"security", GS_CFG_SECTION, R(security), .section = security_keys, .required = true},
    {NULL},
};
#undef R

void gs_gw_config_init(gs_gw_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = GS_GW_READ_WRITE;
    cfg->security = GS_GW_PUBLIC;
    cfg->max_upload = GS_GW_MAX_UPLOAD_DEFAULT;
    cfg->workers = GS_GW_WORKERS_DEFAULT;
}

/* path, or path relative to the folder of the file that names it; heap. */
static char *beside(const char *file, const char *path)
{
    char *copy, *dir, *out;
    size_t n;
    if (path[0] == '/')
        return gs_strdup(path);
    if ((copy = gs_strdup(file)) == NULL)
        return NULL;
    dir = dirname(copy);
    n = strlen(dir) + strlen(path) + 2;
    if ((out = malloc(n)) != NULL)
        snprintf(out, n, "%s/%s", dir, path);
    free(copy);
    return out;
}

/* An error about key (a path like "security.secret") at its place in the file. */
static int at_key(const gs_cfg_ctx_t *ctx, gs_diag_t *diag, const char *key, const char *why)
{
    const gs_cfg_mark_t *m = gs_cfg_mark(ctx, key);
    const gs_cfg_mark_t *sec = gs_cfg_mark(ctx, "security");
    if (m == NULL)
        m = sec;
    return gs_diag_at(diag, GS_EINVAL, ctx->file, m ? m->line : 1, m ? m->col : 1, key, "%s", why);
}

/* The secret of secret_file (a private file; a trailing newline is fine). */
static int read_secret_file(const char *path, char **out, gs_diag_t *diag)
{
    gs_buf_t text;
    int err;
    gs_buf_init(&text, SECRET_MAX + 2);
    err = gs_file_read(path, SECRET_MAX + 2, &text, diag);
    while (err == GS_OK && text.len &&
           (text.data[text.len - 1] == '\n' || text.data[text.len - 1] == '\r'))
        text.len--;
    if (err == GS_OK && (text.len < GS_GW_SECRET_MIN || text.len > SECRET_MAX))
        err = gs_diag_set(diag, GS_EINVAL, "%s: a secret has %d to %d characters", path,
                          GS_GW_SECRET_MIN, SECRET_MAX);
    if (err == GS_OK && (*out = strndup(text.data, text.len)) == NULL)
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (text.data != NULL)
        sodium_memzero(text.data, text.cap);
    gs_buf_free(&text);
    return err;
}

/* The keys of the security section that go together. */
static int apply_security(const gs_cfg_ctx_t *ctx, raw_security_t *s, gs_gw_config_t *cfg,
                          gs_diag_t *diag)
{
    cfg->security = (gs_gw_security_t)s->mode;
    if (cfg->security != GS_GW_SECRET && (s->secret || s->secret_file))
        return at_key(ctx, diag, s->secret ? "security.secret" : "security.secret_file",
                      "only with mode: secret");
    if (cfg->security != GS_GW_THREEBOT && (s->login || s->allowed.n))
        return at_key(ctx, diag, s->login ? "security.login" : "security.allowed",
                      "only with mode: threebot");
    if (cfg->security == GS_GW_SECRET) {
        if ((s->secret != NULL) == (s->secret_file != NULL))
            return at_key(ctx, diag, "security.secret",
                          "mode secret takes one of secret or secret_file");
        if (s->secret_file != NULL) {
            char *path = beside(ctx->file, s->secret_file);
            int err = path ? read_secret_file(path, &cfg->secret, diag)
                           : gs_diag_set(diag, GS_ENOMEM, "out of memory");
            free(path);
            return err;
        }
        cfg->secret = s->secret;
        s->secret = NULL;
    }
    if (cfg->security == GS_GW_THREEBOT) {
        if (s->login == NULL || s->allowed.n == 0)
            return at_key(ctx, diag, s->login ? "security.allowed" : "security.login",
                          "mode threebot needs the login directory (login) and the 3Bot names "
                          "allowed (allowed)");
        cfg->login = s->login;
        s->login = NULL;
        cfg->allowed = s->allowed;
        memset(&s->allowed, 0, sizeof s->allowed);
    }
    return GS_OK;
}

static void take(char **field, char **value)
{
    if (*value == NULL)
        return;
    free(*field);
    *field = *value;
    *value = NULL;
}

static int apply(const gs_cfg_ctx_t *ctx, raw_t *raw, gs_gw_config_t *cfg, gs_diag_t *diag)
{
    char *codec_path;
    int err;
    take(&cfg->listen, &raw->listen);
    take(&cfg->data_dir, &raw->data_dir);
    take(&cfg->deployment, &raw->deployment);
    take(&cfg->role, &raw->role);
    cfg->mode = (gs_gw_mode_t)raw->mode;
    cfg->max_upload = raw->max_upload;
    cfg->workers = (unsigned)raw->workers;
    if ((err = apply_security(ctx, &raw->security, cfg, diag)) != GS_OK)
        return err;
    if ((codec_path = beside(ctx->file, raw->codec)) == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "out of memory");
    err = gs_codec_config_load(codec_path, &cfg->codec, diag);
    free(codec_path);
    return err;
}

int gs_gw_config_load(const char *path, gs_gw_config_t *cfg, gs_diag_t *diag)
{
    gs_buf_t text;
    gs_yaml_node_t *root = NULL;
    gs_cfg_ctx_t ctx = {.file = path};
    raw_t raw = {
        .mode = (int)cfg->mode, .max_upload = cfg->max_upload, .workers = (int64_t)cfg->workers};
    int err;
    gs_buf_init(&text, CONFIG_MAX);
    err = gs_file_read(path, CONFIG_MAX, &text, diag);
    if (err == GS_OK)
        err = gs_yaml_parse(text.data ? text.data : "", text.len, path, &root, diag);
    if (err == GS_OK && root->kind != GS_YAML_MAP)
        err = gs_diag_at(diag, GS_EINVAL, path, root->line, root->col, "(top)",
                         "expected a map of keys (listen, data_dir, mode, codec, security, ...)");
    if (err == GS_OK)
        err = gs_cfg_apply(&ctx, config_keys, root, &raw, "", diag);
    if (err == GS_OK)
        err = apply(&ctx, &raw, cfg, diag);
    if (raw.security.secret != NULL)
        sodium_memzero(raw.security.secret, strlen(raw.security.secret));
    gs_cfg_free(config_keys, &raw);
    gs_cfg_ctx_free(&ctx);
    gs_yaml_free(root);
    if (text.data != NULL)
        sodium_memzero(text.data, text.cap); /* it may hold the secret */
    gs_buf_free(&text);
    return err;
}

void gs_gw_config_free(gs_gw_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->listen);
    free(cfg->data_dir);
    free(cfg->deployment);
    free(cfg->role);
    if (cfg->secret != NULL)
        sodium_memzero(cfg->secret, strlen(cfg->secret));
    free(cfg->secret);
    free(cfg->login);
    gs_strlist_free(&cfg->allowed);
    gs_codec_config_free(&cfg->codec);
    memset(cfg, 0, sizeof *cfg);
}
