/* app_store.c — the app stand-in's identities on disk and its HTTP calls.
 *
 * An identity is two files in the app's folder, both 0600 in a 0700 folder:
 *   NAME.json  {"doublename","publicKey" (standard base64),"address" (64 hex),
 *               "login","chain" (the services' base URLs),"lastTransaction" (optional)}
 *   NAME.key   the 32-byte ed25519 seed, raw: the secret never passes through a JSON
 *              library, so it lives only in sodium_malloc'ed memory and is wiped after use.
 * The key is checked against publicKey whenever it is read. */
#include "app.h"
#include "http_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define PUBLIC_MAX     (8 * 1024) /* NAME.json */
#define PK_B64_SZ      sodium_base64_ENCODED_LEN(APP_PK_LEN, sodium_base64_VARIANT_ORIGINAL)
#define MAX_IDENTITIES 10000

static const char *const public_fields[] = {"doublename", "publicKey",       "address", "login",
                                            "chain",      "lastTransaction", NULL};

/* ---- the folder ---------------------------------------------------------------------------- */

int app_store_dir(const char *dir, char *out, size_t len, gs_diag_t *diag)
{
    const char *env = getenv("GRIDSTOR_APP_DIR"), *home = getenv("HOME");
    int n;
    if (dir != NULL && *dir != '\0')
        n = snprintf(out, len, "%s", dir);
    else if (env != NULL && *env != '\0')
        n = snprintf(out, len, "%s", env);
    else if (home != NULL && *home != '\0')
        n = snprintf(out, len, "%s/.local/share/gridstor-sim/app", home);
    else
        return gs_diag_set(diag, APP_EXIT_INPUT,
                           "no folder for identities: give --dir, or set GRIDSTOR_APP_DIR or HOME");
    if (n < 0 || (size_t)n >= len)
        return gs_diag_set(diag, APP_EXIT_INPUT, "the identities' folder path is too long");
    return APP_EXIT_OK;
}

static int file_path(const char *dir, const char *name, const char *ext, char *out, gs_diag_t *diag)
{
    int n = snprintf(out, APP_PATH_MAX, "%s/%s.%s", dir, name, ext);
    if (n < 0 || n >= APP_PATH_MAX)
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: path too long", dir);
    return APP_EXIT_OK;
}

/* The folder holds secrets: created 0700 when missing. */
static int make_dir(const char *dir, gs_diag_t *diag)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return APP_EXIT_OK;
    if (gs_mkdir_p(dir, diag) != GS_OK)
        return APP_EXIT_FAIL;
    if (chmod(dir, 0700) != 0)
        return gs_diag_set(diag, APP_EXIT_FAIL, "%s: %s", dir, strerror(errno));
    return APP_EXIT_OK;
}

/* ---- identities ---------------------------------------------------------------------------- */

void app_identity_pk_b64(const app_identity_t *id, char *out, size_t len)
{
    sodium_bin2base64(out, len, id->pk, APP_PK_LEN, sodium_base64_VARIANT_ORIGINAL);
}

void app_identity_clear(app_identity_t *id)
{
    sodium_free(id->sk); /* wipes it */
    id->sk = NULL;
}

int app_identity_save(const char *dir, const app_identity_t *id, gs_diag_t *diag)
{
    char path[APP_PATH_MAX], b64[PK_B64_SZ], *text;
    json_t *j;
    int rc;
    app_identity_pk_b64(id, b64, sizeof b64);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "doublename", id->name, "publicKey", b64, "address",
                  id->address, "login", id->login, "chain", id->chain);
    if (j != NULL && id->last_tx[0] != '\0')
        json_object_set_new(j, "lastTransaction", json_string(id->last_tx));
    text = j ? gs_json_dumps_pretty(j) : NULL;
    json_decref(j);
    if (text == NULL)
        return gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    rc = file_path(dir, id->name, "json", path, diag);
    if (rc == APP_EXIT_OK && gs_file_write_atomic(path, text, strlen(text), 0600, diag) != GS_OK)
        rc = APP_EXIT_FAIL;
    free(text);
    return rc;
}

static int save_key(const char *dir, const app_identity_t *id, gs_diag_t *diag)
{
    char path[APP_PATH_MAX];
    int rc = file_path(dir, id->name, "key", path, diag);
    if (rc != APP_EXIT_OK)
        return rc;
    /* An ed25519 secret key in libsodium's layout is the seed followed by the public key. */
    if (gs_file_write_atomic(path, id->sk, APP_SEED_LEN, 0600, diag) != GS_OK)
        return APP_EXIT_FAIL;
    return APP_EXIT_OK;
}

static int new_key(app_identity_t *id, gs_diag_t *diag)
{
    id->sk = sodium_malloc(APP_SK_LEN);
    if (id->sk == NULL)
        return gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    crypto_sign_keypair(id->pk, id->sk);
    gs_hex(id->pk, APP_PK_LEN, id->address);
    return APP_EXIT_OK;
}

int app_identity_create(const char *dir, const char *name, const char *login, const char *chain,
                        app_identity_t *id, gs_diag_t *diag)
{
    char path[APP_PATH_MAX];
    int rc;
    memset(id, 0, sizeof *id);
    if (!sim_login_name_valid(name))
        return gs_diag_set(diag, APP_EXIT_INPUT,
                           "--as: '%.80s' is not a 3Bot name like alice.3bot (a-z 0-9 . - _, at "
                           "most 64 bytes)",
                           name);
    if ((rc = file_path(dir, name, "json", path, diag)) != APP_EXIT_OK)
        return rc;
    if (access(path, F_OK) == 0)
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s already exists in %s (its key is kept)", name,
                           dir);
    if (strlen(login) >= sizeof id->login || strlen(chain) >= sizeof id->chain)
        return gs_diag_set(diag, APP_EXIT_INPUT, "--login or --chain: URL too long");
    memcpy(id->name, name, strlen(name) + 1);
    memcpy(id->login, login, strlen(login) + 1);
    memcpy(id->chain, chain, strlen(chain) + 1);
    if ((rc = make_dir(dir, diag)) != APP_EXIT_OK || (rc = new_key(id, diag)) != APP_EXIT_OK)
        return rc;
    rc = save_key(dir, id, diag);
    if (rc == APP_EXIT_OK)
        rc = app_identity_save(dir, id, diag);
    if (rc != APP_EXIT_OK)
        app_identity_remove(dir, name);
    return rc;
}

void app_identity_remove(const char *dir, const char *name)
{
    char path[APP_PATH_MAX];
    if (file_path(dir, name, "key", path, NULL) == APP_EXIT_OK)
        unlink(path);
    if (file_path(dir, name, "json", path, NULL) == APP_EXIT_OK)
        unlink(path);
}

static int copy_member(const json_t *j, const char *key, size_t max, char *out, const char *what,
                       gs_diag_t *diag)
{
    const char *v;
    gs_diag_t why = {{0}};
    if (sim_json_want_str(j, NULL, key, max - 1, &v, &why) != GS_OK)
        return gs_diag_set(diag, APP_EXIT_FAIL, "%s: %s", what, why.msg);
    memcpy(out, v, strlen(v) + 1);
    return APP_EXIT_OK;
}

/* The members of NAME.json into id, checked against each other. */
static int read_public(const json_t *j, const char *path, app_identity_t *id, gs_diag_t *diag)
{
    char b64[PK_B64_SZ];
    int rc;
    if ((rc = copy_member(j, "doublename", sizeof id->name, id->name, path, diag)) ||
        (rc = copy_member(j, "address", sizeof id->address, id->address, path, diag)) ||
        (rc = copy_member(j, "login", sizeof id->login, id->login, path, diag)) ||
        (rc = copy_member(j, "chain", sizeof id->chain, id->chain, path, diag)) ||
        (rc = copy_member(j, "publicKey", sizeof b64, b64, path, diag)))
        return rc;
    if (json_object_get(j, "lastTransaction") != NULL &&
        (rc = copy_member(j, "lastTransaction", sizeof id->last_tx, id->last_tx, path, diag)))
        return rc;
    if (!sim_chain_address_valid(id->address) || !sim_hex_decode(id->address, id->pk, APP_PK_LEN))
        return gs_diag_set(diag, APP_EXIT_FAIL, "%s: address: expected 64 lowercase hex", path);
    {
        char want[PK_B64_SZ];
        app_identity_pk_b64(id, want, sizeof want);
        if (strcmp(want, b64) != 0)
            return gs_diag_set(diag, APP_EXIT_FAIL, "%s: publicKey does not match address", path);
    }
    return APP_EXIT_OK;
}

/* Reads exactly APP_SEED_LEN bytes of path into seed. */
static int read_seed(const char *path, unsigned char *seed, gs_diag_t *diag)
{
    unsigned char extra;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gs_diag_set(diag, APP_EXIT_FAIL, "%s: %s", path, strerror(errno));
    n = read(fd, seed, APP_SEED_LEN);
    if (n == APP_SEED_LEN && read(fd, &extra, 1) != 0)
        n = -1;
    close(fd);
    if (n != APP_SEED_LEN)
        return gs_diag_set(diag, APP_EXIT_FAIL, "%s: expected exactly %d bytes", path,
                           APP_SEED_LEN);
    return APP_EXIT_OK;
}

/* NAME.key: the seed, which must give the stored public key. */
static int read_key(const char *dir, app_identity_t *id, gs_diag_t *diag)
{
    char path[APP_PATH_MAX];
    unsigned char pk[APP_PK_LEN], *seed = NULL;
    int rc = file_path(dir, id->name, "key", path, diag);
    if (rc != APP_EXIT_OK)
        return rc;
    id->sk = sodium_malloc(APP_SK_LEN);
    seed = sodium_malloc(APP_SEED_LEN);
    if (id->sk == NULL || seed == NULL)
        rc = gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    if (rc == APP_EXIT_OK)
        rc = read_seed(path, seed, diag);
    /* Not in place: libsodium hashes the seed into sk before copying it there. */
    if (rc == APP_EXIT_OK)
        crypto_sign_seed_keypair(pk, id->sk, seed);
    if (rc == APP_EXIT_OK && memcmp(pk, id->pk, APP_PK_LEN) != 0)
        rc = gs_diag_set(diag, APP_EXIT_FAIL, "%s: the key does not match %s.json", path, id->name);
    sodium_free(seed);
    return rc;
}

int app_identity_load(const char *dir, const char *name, bool with_key, app_identity_t *id,
                      gs_diag_t *diag)
{
    char path[APP_PATH_MAX];
    gs_buf_t text;
    json_t *j = NULL;
    int rc;
    memset(id, 0, sizeof *id);
    if (!sim_login_name_valid(name))
        return gs_diag_set(diag, APP_EXIT_INPUT, "--as: '%.80s' is not a 3Bot name", name);
    if ((rc = file_path(dir, name, "json", path, diag)) != APP_EXIT_OK)
        return rc;
    if (access(path, F_OK) != 0)
        return gs_diag_set(diag, APP_EXIT_INPUT,
                           "unknown identity %s: no %s (create it with `gridstor-sim app new`)",
                           name, path);
    gs_buf_init(&text, PUBLIC_MAX);
    if (gs_file_read(path, PUBLIC_MAX, &text, diag) != GS_OK)
        rc = APP_EXIT_FAIL;
    else if (sim_json_object(text.data, text.len, PUBLIC_MAX, path, public_fields, &j, diag))
        rc = APP_EXIT_FAIL;
    else
        rc = read_public(j, path, id, diag);
    json_decref(j);
    gs_buf_free(&text);
    if (rc == APP_EXIT_OK && strcmp(id->name, name) != 0)
        rc = gs_diag_set(diag, APP_EXIT_FAIL, "%s: doublename is not %s", path, name);
    if (rc == APP_EXIT_OK && with_key)
        rc = read_key(dir, id, diag);
    if (rc != APP_EXIT_OK)
        app_identity_clear(id);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "NAME.json" with a valid NAME: its name into out. */
static bool identity_file(const char *file, char *out)
{
    size_t len = strlen(file);
    if (len < 5 || len - 5 > SIM_LOGIN_NAME_MAX || strcmp(file + len - 5, ".json") != 0)
        return false;
    memcpy(out, file, len - 5);
    out[len - 5] = '\0';
    return sim_login_name_valid(out);
}

int app_identity_names(const char *dir, gs_strlist_t *names, gs_diag_t *diag)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char name[SIM_LOGIN_NAME_MAX + 1];
    memset(names, 0, sizeof *names);
    if (d == NULL && errno == ENOENT)
        return APP_EXIT_OK; /* no identity yet */
    if (d == NULL)
        return gs_diag_set(diag, APP_EXIT_FAIL, "%s: %s", dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        if (!identity_file(e->d_name, name))
            continue;
        if (names->n >= MAX_IDENTITIES || gs_strlist_push(names, name) != GS_OK) {
            closedir(d);
            gs_strlist_free(names);
            return gs_diag_set(diag, APP_EXIT_FAIL, "%s: too many identities", dir);
        }
    }
    closedir(d);
    if (names->n > 1)
        qsort(names->items, names->n, sizeof *names->items, cmp_names);
    return APP_EXIT_OK;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

int app_url(char *out, const char *base, const char *path, gs_diag_t *diag)
{
    size_t blen = strlen(base);
    int n;
    while (blen > 0 && base[blen - 1] == '/')
        blen--; /* "http://host/" + "/api" */
    n = snprintf(out, APP_URL_MAX, "%.*s%s", (int)blen, base, path);
    if (n < 0 || n >= APP_URL_MAX)
        return gs_diag_set(diag, APP_EXIT_INPUT, "URL too long: %.80s...", base);
    return APP_EXIT_OK;
}

/* The "error" member of a JSON answer, else the body's start with anything outside
 * printable ASCII shown as '?'. */
static void answer_text(app_answer_t *ans, const gs_buf_t *body)
{
    const char *err = ans->json ? gs_json_str(ans->json, "error") : NULL;
    const char *src = err ? err : (body->data ? body->data : "");
    size_t n = strlen(src), i;
    if (n >= sizeof ans->text)
        n = sizeof ans->text - 1;
    for (i = 0; i < n; i++)
        ans->text[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    ans->text[i] = '\0';
}

int app_http(const char *method, const char *url, const char *body, app_answer_t *ans,
             gs_diag_t *diag)
{
    static const char *const json_headers[] = {"Content-Type: application/json", NULL};
    gs_http_request_t rq = {.method = method,
                            .url = url,
                            .headers = body ? json_headers : NULL,
                            .body = body,
                            .body_len = body ? strlen(body) : 0,
                            .max_body = APP_ANSWER_MAX,
                            .timeout_ms = APP_TIMEOUT_MS};
    gs_http_response_t r;
    gs_diag_t why = {{0}};
    int err = gs_http_run(&rq, &r, &why);
    memset(ans, 0, sizeof *ans);
    if (err != GS_OK) {
        gs_http_response_free(&r);
        return gs_diag_set(diag, err == GS_ENOMEM ? APP_EXIT_FAIL : APP_EXIT_NETWORK, "%s %s",
                           method, why.msg);
    }
    ans->status = r.status;
    ans->json = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
    answer_text(ans, &r.body);
    gs_http_response_free(&r);
    return APP_EXIT_OK;
}

void app_answer_free(app_answer_t *ans)
{
    json_decref(ans->json);
    ans->json = NULL;
}

int app_chain_account(const char *chain, const char *address, int64_t *balance, int64_t *sequence,
                      gs_diag_t *diag)
{
    char url[APP_URL_MAX], path[128];
    app_answer_t a;
    int rc;
    snprintf(path, sizeof path, "/accounts/%s", address);
    if ((rc = app_url(url, chain, path, diag)) || (rc = app_http("GET", url, NULL, &a, diag)))
        return rc;
    if (a.status != 200)
        rc = gs_diag_set(diag, APP_EXIT_SERVICE, "the chain answered %ld to GET %s: %s", a.status,
                         url, a.text);
    else if (!gs_json_int(a.json, "balance", balance) || !gs_json_int(a.json, "sequence", sequence))
        rc =
            gs_diag_set(diag, APP_EXIT_SERVICE, "GET %s: not a chain account: %.200s", url, a.text);
    app_answer_free(&a);
    return rc;
}
