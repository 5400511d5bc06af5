/* config.c — the codec configuration file (YAML, or JSON read as YAML's flow style):
 * codec parameters, the deployment key (inline or from a 0600 file), the metadata 0-db
 * and its replicas, the data backends and the 0-db timeouts. Read through common's
 * table-driven reader, so that every mistake is a `file:line:col: key: reason` message.
 * The deployment key goes straight from the parsed tree (or the key file's bytes) into
 * sodium_malloc'ed memory, and the text it came from is wiped at once.
 * docs/codec-format.md lists the keys. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"

#define CONFIG_MAX_BYTES   (256 * 1024)
#define KEY_HEX            (2 * GS_CODEC_KEY_LEN)
#define KEY_FILE_MAX       4096
#define CONNECT_MS_DEFAULT 5000
#define COMMAND_MS_DEFAULT 10000

/* The file as the table reader fills it; moved into gs_codec_config_t once checked. */
typedef struct {
    gs_codec_endpoint_t master;
    const gs_yaml_node_t *replicas;
} raw_meta_t;

typedef struct {
    int64_t connect_ms, command_ms;
} raw_timeouts_t;

typedef struct {
    int64_t data, parity, zstd_level;
    uint64_t stripe_size;
    int cipher;    /* index into cipher_names */
    int placement; /* index into placement_names */
    const gs_yaml_node_t *key;
    char *key_file;
    raw_meta_t metadata;
    const gs_yaml_node_t *backends;
    raw_timeouts_t timeouts;
} raw_t;

static const char *const cipher_names[] = {"auto", "aes256gcm", "xchacha20poly1305", NULL};
static const char *const placement_names[] = {"spread", "spares", NULL};

/* ---- value checks ---- */

static bool parse_port(const char *s)
{
    char *end;
    long port;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    port = strtol(s, &end, 10);
    return *end == '\0' && errno == 0 && port >= 1 && port <= 65535;
}

static const char *check_address(const void *value)
{
    const char *s = *(const char *const *)value, *colon;
    static const char usage[] = "expected host:port or [IPv6]:port, port 1..65535";
    char v6[64];
    struct in6_addr a6;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        size_t n = close ? (size_t)(close - s - 1) : 0;
        if (close == NULL || close[1] != ':' || n == 0 || n >= sizeof v6)
            return usage;
        memcpy(v6, s + 1, n);
        v6[n] = '\0';
        if (inet_pton(AF_INET6, v6, &a6) != 1)
            return "the part in brackets is not an IPv6 address";
        return parse_port(close + 2) ? NULL : usage;
    }
    colon = strchr(s, ':');
    if (colon == NULL || colon == s || strchr(colon + 1, ':') != NULL)
        return usage;
    for (const char *c = s; c < colon; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-'))
            return "a host name has only letters, digits, dots and dashes";
    return parse_port(colon + 1) ? NULL : usage;
}

static const char *check_namespace(const void *value)
{
    for (const char *c = *(const char *const *)value; *c; c++) {
        if (*c == '@')
            return "no '@' in a namespace name (it separates namespace and address)";
        if (*c < 0x21 || *c > 0x7e)
            return "no spaces or control characters in a namespace name";
    }
    return NULL;
}

/* ---- tables ---- */

#define E(field) offsetof(gs_codec_endpoint_t, field)
static const gs_cfg_key_t endpoint_keys[] = {
    {"address", GS_CFG_STRING, E(address), 3, 300, .required = true, .check = check_address},
    {"namespace", GS_CFG_STRING, E(ns), 1, 128, .required = true, .check = check_namespace},
    {"password", GS_CFG_STRING, E(password), 0, 128},
    {NULL},
};
#undef E

#define R(field) offsetof(raw_t, field)
static const gs_cfg_key_t metadata_keys[] = {
    {"master", GS_CFG_SECTION, offsetof(raw_meta_t, master), .section = endpoint_keys,
     .required = true},
    {"replicas", GS_CFG_NODE, offsetof(raw_meta_t, replicas)},
    {NULL},
};

static const gs_cfg_key_t timeout_keys[] = {
    {"connect_ms", GS_CFG_INT, offsetof(raw_timeouts_t, connect_ms), 100, 600000},
    {"command_ms", GS_CFG_INT, offsetof(raw_timeouts_t, command_ms), 100, 3600000},
    {NULL},
};

static const gs_cfg_key_t config_keys[] = {
    {"data", GS_CFG_INT, R(data), 1, GS_CODEC_MAX_SHARDS},
    {"parity", GS_CFG_INT, R(parity), 0, GS_CODEC_MAX_SHARDS - 1},
    {"stripe_size", GS_CFG_SIZE, R(stripe_size), 4096, (int64_t)1 << 40},
    {"zstd_level", GS_CFG_INT, R(zstd_level), 1, 19},
    {"cipher", GS_CFG_ENUM, R(cipher), .choices = cipher_names},
    {"placement", GS_CFG_ENUM, R(placement), .choices = placement_names},
    {"key", GS_CFG_NODE, R(key)},
    {"key_file", GS_CFG_STRING, R(key_file), 1, 1024},
    {"metadata", GS_CFG_SECTION, R(metadata), .section = metadata_keys, .required = true},
    {"backends", GS_CFG_NODE, R(backends), .required = true},
    {"timeouts", GS_CFG_SECTION, R(timeouts), .section = timeout_keys},
    {NULL},
};
#undef R

/* ---- helpers ---- */

typedef struct {
    gs_cfg_ctx_t ctx;
    const gs_yaml_node_t *root;
    const char *dir; /* folder of the file, for a relative key_file; NULL: current */
    gs_diag_t *diag;
} parse_t;

/* "file:line:col: key: reason" at the key's place, or at the top when it is absent. */
static int fail_at(parse_t *ps, const char *key, const char *fmt, const char *arg)
{
    const gs_cfg_mark_t *m = gs_cfg_mark(&ps->ctx, key);
    unsigned line = m ? m->line : ps->root->line, col = m ? m->col : ps->root->col;
    return gs_diag_at(ps->diag, GS_EINVAL, ps->ctx.file, line, col, key, fmt, arg);
}

static int fail_node(parse_t *ps, const gs_yaml_node_t *n, const char *key, const char *fmt,
                     const char *arg)
{
    return gs_diag_at(ps->diag, GS_EINVAL, ps->ctx.file, n->line, n->col, key, fmt, arg);
}

static void endpoint_free(gs_codec_endpoint_t *e)
{
    if (e)
        gs_cfg_free(endpoint_keys, e);
}

static void endpoints_free(gs_codec_endpoint_t *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        endpoint_free(&e[i]);
    free(e);
}

/* 64 hex digits into a new sodium_malloc'ed key. */
static int key_from_hex(const char *hex, size_t len, uint8_t **key)
{
    size_t got = 0;
    const char *end = NULL;
    uint8_t *k;
    if (len != KEY_HEX)
        return GS_EINVAL;
    k = sodium_malloc(GS_CODEC_KEY_LEN);
    if (k == NULL)
        return GS_ENOMEM;
    if (sodium_hex2bin(k, GS_CODEC_KEY_LEN, hex, len, NULL, &got, &end) != 0 ||
        got != GS_CODEC_KEY_LEN || end != hex + len) {
        sodium_free(k);
        return GS_EINVAL;
    }
    *key = k;
    return GS_OK;
}

/* ---- the deployment key ---- */

static int key_inline(parse_t *ps, const gs_yaml_node_t *n, uint8_t **key)
{
    int err;
    if (n->kind != GS_YAML_SCALAR)
        return fail_node(ps, n, "key", "expected %s", "64 hex digits (32 bytes)");
    err = key_from_hex(n->value, strlen(n->value), key);
    sodium_memzero(n->value, strlen(n->value)); /* our tree: the key lives only in *key */
    if (err == GS_ENOMEM)
        return gs_diag_set(ps->diag, err, "out of memory");
    return err ? fail_node(ps, n, "key", "expected %s", "64 hex digits (32 bytes)") : GS_OK;
}

/* A relative key_file is found from the configuration file's folder. */
static char *resolve(const parse_t *ps, const char *path)
{
    size_t n;
    char *out;
    if (path[0] == '/' || ps->dir == NULL)
        return gs_strdup(path);
    n = strlen(ps->dir) + 1 + strlen(path) + 1;
    out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", ps->dir, path);
    return out;
}

static int key_read_file(parse_t *ps, const char *path, uint8_t **key)
{
    struct stat st;
    gs_buf_t text;
    gs_diag_t d;
    size_t len;
    int err;
    if (stat(path, &st) != 0)
        return fail_at(ps, "key_file", "cannot read '%s'", path);
    if (!S_ISREG(st.st_mode))
        return fail_at(ps, "key_file", "'%s' is not a file", path);
    if (st.st_mode & 077)
        return fail_at(ps, "key_file", "'%s' can be read by others; chmod 600 it", path);
    gs_buf_init(&text, KEY_FILE_MAX);
    err = gs_file_read(path, KEY_FILE_MAX, &text, &d);
    if (err == GS_OK) {
        len = text.len;
        while (len && (text.data[len - 1] == '\n' || text.data[len - 1] == '\r' ||
                       text.data[len - 1] == ' '))
            len--;
        err = key_from_hex(text.data, len, key);
        sodium_memzero(text.data, text.len);
        if (err == GS_ENOMEM)
            err = gs_diag_set(ps->diag, err, "out of memory");
        else if (err)
            err = fail_at(ps, "key_file", "'%s' must hold 64 hex digits (32 bytes)", path);
    } else {
        err = fail_at(ps, "key_file", "%s", d.msg);
    }
    gs_buf_free(&text);
    return err;
}

static int get_key(parse_t *ps, raw_t *raw, gs_codec_config_t *cfg)
{
    if (raw->key && raw->key_file)
        return fail_at(ps, "key_file", "%s", "give either key or key_file, not both");
    if (raw->key)
        return key_inline(ps, raw->key, &cfg->key);
    if (raw->key_file == NULL)
        return gs_diag_at(ps->diag, GS_EINVAL, ps->ctx.file, ps->root->line, ps->root->col, "key",
                          "the deployment key is missing: give key (64 hex) or key_file");
    cfg->key_file = resolve(ps, raw->key_file);
    if (cfg->key_file == NULL)
        return gs_diag_set(ps->diag, GS_ENOMEM, "out of memory");
    return key_read_file(ps, cfg->key_file, &cfg->key);
}

/* ---- endpoint lists ---- */

static int read_list(parse_t *ps, const gs_yaml_node_t *seq, const char *name, size_t max,
                     gs_codec_endpoint_t **out, size_t *n_out)
{
    char prefix[64];
    int err;
    if (seq->kind != GS_YAML_SEQ)
        return fail_node(ps, seq, name, "expected %s", "a list of {address, namespace, password}");
    if (seq->n > max) {
        snprintf(prefix, sizeof prefix, "at most %zu entries", max);
        return fail_node(ps, seq, name, "%s", prefix);
    }
    *out = calloc(seq->n ? seq->n : 1, sizeof **out);
    if (*out == NULL)
        return gs_diag_set(ps->diag, GS_ENOMEM, "out of memory");
    for (size_t i = 0; i < seq->n; i++) {
        snprintf(prefix, sizeof prefix, "%s[%zu]", name, i);
        err = gs_cfg_apply(&ps->ctx, endpoint_keys, seq->items[i], &(*out)[i], prefix, ps->diag);
        *n_out = i + 1;
        if (err)
            return err;
    }
    return GS_OK;
}

static bool same_ns(const gs_codec_endpoint_t *a, const gs_codec_endpoint_t *b)
{
    return strcmp(a->address, b->address) == 0 && strcmp(a->ns, b->ns) == 0;
}

/* A namespace used twice would hold two shards of a file, or shards and records. */
static int check_duplicates(parse_t *ps, const gs_codec_config_t *c, const gs_yaml_node_t *seq)
{
    char why[96];
    for (size_t i = 0; i < c->n_backends; i++) {
        const char *other = same_ns(&c->backends[i], &c->meta_master) ? "metadata.master" : NULL;
        for (size_t j = 0; j < i && !other; j++)
            if (same_ns(&c->backends[i], &c->backends[j]))
                snprintf(why, sizeof why, "backends[%zu]", j), other = why;
        for (size_t j = 0; j < c->n_meta_replicas && !other; j++)
            if (same_ns(&c->backends[i], &c->meta_replicas[j]))
                snprintf(why, sizeof why, "metadata.replicas[%zu]", j), other = why;
        if (other) {
            char key[32];
            snprintf(key, sizeof key, "backends[%zu]", i);
            return fail_node(ps, seq->items[i], key, "the same namespace and address as %s", other);
        }
    }
    return GS_OK;
}

/* ---- putting it together ---- */

static void set_defaults(raw_t *raw)
{
    gs_codec_params_t p;
    gs_codec_params_default(&p);
    memset(raw, 0, sizeof *raw);
    raw->data = p.data;
    raw->parity = p.parity;
    raw->stripe_size = p.stripe_size;
    raw->zstd_level = p.zstd_level;
    raw->timeouts.connect_ms = CONNECT_MS_DEFAULT;
    raw->timeouts.command_ms = COMMAND_MS_DEFAULT;
}

static int get_params(parse_t *ps, const raw_t *raw, gs_codec_config_t *c)
{
    gs_diag_t d;
    gs_codec_params_default(&c->params);
    c->params.data = (unsigned)raw->data;
    c->params.parity = (unsigned)raw->parity;
    if (gs_codec_params_check(&c->params, &d) != GS_OK)
        return fail_at(ps, gs_cfg_mark(&ps->ctx, "parity") ? "parity" : "data", "%s", d.msg);
    c->params.stripe_size = (size_t)raw->stripe_size;
    c->params.zstd_level = (int)raw->zstd_level;
    c->cipher_auto = raw->cipher == 0;
    if (!c->cipher_auto)
        c->params.cipher = raw->cipher == 1 ? GS_CIPHER_AES256GCM : GS_CIPHER_XCHACHA20POLY1305;
    if (c->params.cipher == GS_CIPHER_AES256GCM && !crypto_aead_aes256gcm_is_available())
        return fail_at(ps, "cipher", "%s",
                       "this CPU has no AES-256-GCM; use xchacha20poly1305 or auto");
    /* data and parity are fine, the zstd level was bounded by the table: the stripe is left */
    if (gs_codec_params_check(&c->params, &d) != GS_OK)
        return fail_at(ps, "stripe_size", "%s", d.msg);
    c->spares = raw->placement == 1;
    c->connect_ms = (unsigned)raw->timeouts.connect_ms;
    c->command_ms = (unsigned)raw->timeouts.command_ms;
    return GS_OK;
}

static int get_endpoints(parse_t *ps, raw_t *raw, gs_codec_config_t *c)
{
    char msg[128];
    int err;
    c->meta_master = raw->metadata.master;
    memset(&raw->metadata.master, 0, sizeof raw->metadata.master);
    if (raw->metadata.replicas &&
        (err = read_list(ps, raw->metadata.replicas, "metadata.replicas", GS_CODEC_MAX_REPLICAS,
                         &c->meta_replicas, &c->n_meta_replicas)))
        return err;
    for (size_t i = 0; i < c->n_meta_replicas; i++)
        if (same_ns(&c->meta_replicas[i], &c->meta_master))
            return fail_node(ps, raw->metadata.replicas->items[i], "metadata.replicas", "%s",
                             "a replica cannot be the master itself");
    if ((err = read_list(ps, raw->backends, "backends", GS_CODEC_MAX_SHARDS, &c->backends,
                         &c->n_backends)))
        return err;
    if (c->n_backends < c->params.data + c->params.parity) {
        snprintf(msg, sizeof msg, "%zu backends for a %u + %u codec: at least %u are needed",
                 c->n_backends, c->params.data, c->params.parity,
                 c->params.data + c->params.parity);
        return fail_node(ps, raw->backends, "backends", "%s", msg);
    }
    return check_duplicates(ps, c, raw->backends);
}

static int apply(parse_t *ps, raw_t *raw, gs_codec_config_t *cfg)
{
    int err = gs_cfg_apply(&ps->ctx, config_keys, ps->root, raw, "", ps->diag);
    if (err)
        return err;
    if ((err = get_params(ps, raw, cfg)) || (err = get_key(ps, raw, cfg)))
        return err;
    return get_endpoints(ps, raw, cfg);
}

/* The folder part of a file name, or NULL when it has none. */
static char *dir_of(const char *file)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    char *d;
    if (slash == NULL)
        return NULL;
    if (slash == file)
        return gs_strdup("/");
    d = malloc((size_t)(slash - file) + 1);
    if (d) {
        memcpy(d, file, (size_t)(slash - file));
        d[slash - file] = '\0';
    }
    return d;
}

int gs_codec_config_parse(const char *text, size_t len, const char *file, gs_codec_config_t *cfg,
                          gs_diag_t *diag)
{
    gs_yaml_node_t *root = NULL;
    parse_t ps = {.ctx = {.file = file ? file : "<codec>"}, .diag = diag};
    char *dir = dir_of(file);
    raw_t raw;
    int err;
    memset(cfg, 0, sizeof *cfg);
    set_defaults(&raw);
    ps.dir = dir;
    if (sodium_init() < 0)
        err = gs_diag_set(diag, GS_EIO, "libsodium did not initialise");
    else if (file && strchr(file, '/') && dir == NULL)
        err = gs_diag_set(diag, GS_ENOMEM, "out of memory");
    else if (len > CONFIG_MAX_BYTES)
        err = gs_diag_set(diag, GS_ETOOBIG, "%s: %zu bytes; a codec configuration is at most %d",
                          ps.ctx.file, len, CONFIG_MAX_BYTES);
    else if ((err = gs_yaml_parse(text, len, ps.ctx.file, &root, diag)) == GS_OK) {
        ps.root = root;
        err = apply(&ps, &raw, cfg);
    }
    gs_cfg_free(config_keys, &raw);
    gs_yaml_free(root);
    gs_cfg_ctx_free(&ps.ctx);
    free(dir);
    if (err)
        gs_codec_config_free(cfg);
    if (err == GS_ESPEC || err == GS_EPARSE) /* common's reader speaks of specs */
        err = GS_EINVAL;
    return err;
}

int gs_codec_config_load(const char *path, gs_codec_config_t *cfg, gs_diag_t *diag)
{
    gs_buf_t text;
    int err;
    memset(cfg, 0, sizeof *cfg);
    gs_buf_init(&text, CONFIG_MAX_BYTES + 1);
    err = gs_file_read(path, CONFIG_MAX_BYTES + 1, &text, diag);
    if (err == GS_OK)
        err = gs_codec_config_parse(text.data ? text.data : "", text.len, path, cfg, diag);
    if (text.data) /* the file may hold the key */
        sodium_memzero(text.data, text.cap);
    gs_buf_free(&text);
    return err;
}

void gs_codec_config_free(gs_codec_config_t *cfg)
{
    if (cfg == NULL)
        return;
    sodium_free(cfg->key);
    free(cfg->key_file);
    endpoint_free(&cfg->meta_master);
    endpoints_free(cfg->meta_replicas, cfg->n_meta_replicas);
    endpoints_free(cfg->backends, cfg->n_backends);
    memset(cfg, 0, sizeof *cfg);
}

void gs_codec_config_zdb_opts(const gs_codec_config_t *cfg, const gs_codec_endpoint_t *e,
                              gs_zdb_opts_t *out)
{
    memset(out, 0, sizeof *out);
    out->address = e->address;
    out->ns = e->ns;
    out->password = e->password;
    out->timeout_ms = cfg->command_ms;
    out->connect_ms = cfg->connect_ms;
}

/* ---- JSON ---- */

static json_t *endpoint_json(const gs_codec_endpoint_t *e, bool with_secrets)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "address", json_string(e->address));
    json_object_set_new(o, "namespace", json_string(e->ns));
    if (with_secrets && e->password)
        json_object_set_new(o, "password", json_string(e->password));
    if (json_object_size(o) != 2u + (with_secrets && e->password)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *endpoints_json(const gs_codec_endpoint_t *e, size_t n, bool with_secrets)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, endpoint_json(&e[i], with_secrets)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* A size the reader takes back: in the largest binary unit that divides it. */
static json_t *size_json(uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB"};
    char s[32];
    unsigned u = 0;
    while (u < 3 && v && v % 1024 == 0)
        v /= 1024, u++;
    snprintf(s, sizeof s, "%llu%s", (unsigned long long)v, units[u]);
    return json_string(s);
}

static void add_key(json_t *o, const gs_codec_config_t *c, bool with_secrets)
{
    char hex[KEY_HEX + 1];
    if (!with_secrets) {
        if (c->key_file)
            json_object_set_new(o, "key_file", json_string(c->key_file));
        return;
    }
    sodium_bin2hex(hex, sizeof hex, c->key, GS_CODEC_KEY_LEN);
    json_object_set_new(o, "key", json_string(hex));
    sodium_memzero(hex, sizeof hex);
}

json_t *gs_codec_config_to_json(const gs_codec_config_t *c, bool with_secrets)
{
    json_t *o = json_object(), *meta = json_object(), *t = json_object();
    int cipher = c->cipher_auto ? 0 : c->params.cipher == GS_CIPHER_AES256GCM ? 1 : 2;
    bool ok;
    if (o == NULL || meta == NULL || t == NULL) {
        json_decref(o), json_decref(meta), json_decref(t);
        return NULL;
    }
    json_object_set_new(o, "data", json_integer(c->params.data));
    json_object_set_new(o, "parity", json_integer(c->params.parity));
    json_object_set_new(o, "stripe_size", size_json(c->params.stripe_size));
    json_object_set_new(o, "zstd_level", json_integer(c->params.zstd_level));
    json_object_set_new(o, "cipher", json_string(cipher_names[cipher]));
    json_object_set_new(o, "placement", json_string(placement_names[c->spares]));
    add_key(o, c, with_secrets);
    json_object_set_new(meta, "master", endpoint_json(&c->meta_master, with_secrets));
    json_object_set_new(meta, "replicas",
                        endpoints_json(c->meta_replicas, c->n_meta_replicas, with_secrets));
    json_object_set_new(t, "connect_ms", json_integer(c->connect_ms));
    json_object_set_new(t, "command_ms", json_integer(c->command_ms));
    ok = json_object_size(meta) == 2 && json_object_size(t) == 2;
    json_object_set_new(o, "metadata", meta);
    json_object_set_new(o, "backends", endpoints_json(c->backends, c->n_backends, with_secrets));
    json_object_set_new(o, "timeouts", t);
    if (!ok || json_object_size(o) != 10u - (c->key_file == NULL && !with_secrets)) {
        json_decref(o); /* a member could not be made: out of memory */
        return NULL;
    }
    return o;
}
