/* gwclient.c — see gwclient.h. Uploads up to GS_GWC_PART bytes go in one POST; larger ones
 * in parts of GS_GWC_PART (so that the gateway never holds more than a part), each read
 * from the file at its offset with pread. A job's status is long-polled; the file id it
 * gives is checked against its signature with the pinned key, or else the key the gateway
 * publishes (which catches a damaged answer, not a gateway that lies about its key). */
#define _XOPEN_SOURCE 700
#include "gwclient.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#define ANSWER_MAX     (1u << 20)
#define JOB_WAIT_S     60
#define JOB_ROUNDS_MAX 10000 /* a week of long-polls */

/* One request: an optional body read from fd at [off, off + len), the answer collected (or
 * streamed to `out`), progress reported with `base` added. */
typedef struct {
    gs_gwc_t *c;
    const char *method;
    char path[600];
    int fd;
    uint64_t off, len, sent, base, total;
    FILE *out;
    gs_buf_t answer;
    uint64_t received;
    bool out_failed;
} call_t;

static int set_msg(gs_gwc_t *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_msg(gs_gwc_t *c, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    return err;
}

int gs_gwc_init(gs_gwc_t *c, const char *url, const char *secret_file, const char *key_hex)
{
    char secret[1024] = "";
    const char *env = getenv("GRIDSTOR_GW_SECRET");
    size_t key_len = 0;
    size_t n = strlen(url);
    *c = (gs_gwc_t){0};
    if (n == 0 || n >= sizeof c->url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        return set_msg(c, GS_EINVAL, "--gw: expected the gateway's http:// or https:// URL");
    snprintf(c->url, sizeof c->url, "%.*s", (int)(url[n - 1] == '/' ? n - 1 : n), url);
    if (key_hex == NULL)
        key_hex = getenv("GRIDSTOR_GW_KEY");
    if (key_hex != NULL) {
        if (strlen(key_hex) != 64 ||
            sodium_hex2bin(c->key, sizeof c->key, key_hex, 64, NULL, &key_len, NULL) != 0 ||
            key_len != sizeof c->key)
            return set_msg(c, GS_EINVAL,
                           "--gw-key: the gateways' public key, 64 hex digits (the deployment's "
                           "gateway_public_key)");
        c->pinned = true;
    }
    if (secret_file != NULL) {
        FILE *f = fopen(secret_file, "r");
        if (f == NULL || fgets(secret, sizeof secret, f) == NULL) {
            if (f)
                fclose(f);
            return set_msg(c, GS_EINVAL, "--secret-file %s: cannot read it", secret_file);
        }
        fclose(f);
        secret[strcspn(secret, "\r\n")] = '\0';
    } else if (env != NULL) {
        snprintf(secret, sizeof secret, "%s", env);
    }
    if (secret[0] != '\0')
        snprintf(c->auth, sizeof c->auth, "Authorization: Bearer %s", secret);
    sodium_memzero(secret, sizeof secret);
    return curl_global_init(CURL_GLOBAL_DEFAULT) == 0 ? GS_OK
                                                      : set_msg(c, GS_ENOMEM, "libcurl failed");
}

/* ---- one request ---- */

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    call_t *k = ud;
    size_t len = size * n;
    k->received += len;
    if (k->out != NULL) {
        if (fwrite(p, 1, len, k->out) != len) {
            k->out_failed = true;
            return 0;
        }
        return len;
    }
    return gs_buf_append(&k->answer, p, len) == GS_OK ? len : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    call_t *k = ud;
    size_t want = size * n;
    ssize_t got;
    if (want > k->len - k->sent)
        want = (size_t)(k->len - k->sent);
    do
        got = pread(k->fd, p, want, (off_t)(k->off + k->sent));
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return CURL_READFUNC_ABORT;
    k->sent += (uint64_t)got;
    return (size_t)got;
}

static int on_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    call_t *k = ud;
    (void)ultotal;
    if (k->c->progress == NULL)
        return 0;
    if (k->fd >= 0)
        k->c->progress(k->base + (uint64_t)ulnow, k->total, k->c->ud);
    else if (k->out != NULL)
        k->c->progress((uint64_t)dlnow, (uint64_t)dltotal, k->c->ud);
    return 0;
}

/* The error a gateway's answer says, or its status. */
static int answer_error(call_t *k, long status)
{
    json_t *j = json_loadb(k->answer.data ? k->answer.data : "", k->answer.len, 0, NULL);
    const char *why = json_is_string(json_object_get(j, "error"))
                          ? json_string_value(json_object_get(j, "error"))
                          : "";
    int err = status == 404                    ? GS_ENOENT
              : status == 401 || status == 403 ? GS_EINVAL
              : status >= 400 && status < 500  ? GS_EINVAL
              : status == 503                  ? GS_EUNAVAIL
                                               : GS_ECONN;
    set_msg(k->c, err, "the gateway answered %ld%s%s%s", status, why[0] ? ": " : "", why,
            status == 401 ? " (give the gateway's secret with --secret-file or "
                            "GRIDSTOR_GW_SECRET)"
                          : "");
    json_decref(j);
    return err;
}

/* Performs k; GS_OK with a 2xx answer (*status), else the error. */
static int perform(call_t *k, long *status)
{
    char url[1200];
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    CURLcode rc;
    if (e == NULL || h == NULL)
        return set_msg(k->c, GS_ENOMEM, "out of memory");
    if (k->c->auth[0])
        h = curl_slist_append(h, k->c->auth);
    snprintf(url, sizeof url, "%s%s", k->c->url, k->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, k->method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, k);
    if (k->fd >= 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_READDATA, k);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)k->len);
    } else if (strcmp(k->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    }
    rc = curl_easy_perform(e);
    *status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (k->out_failed)
        return set_msg(k->c, GS_EIO, "writing the output failed");
    if (rc != CURLE_OK)
        return set_msg(k->c, GS_ECONN, "%s: %s", k->c->url, curl_easy_strerror(rc));
    return *status >= 200 && *status < 300 ? GS_OK : answer_error(k, *status);
}

static void call_init(call_t *k, gs_gwc_t *c, const char *method)
{
    *k = (call_t){.c = c, .method = method, .fd = -1};
    gs_buf_init(&k->answer, ANSWER_MAX);
}

/* A request without a body whose JSON answer goes to *out (a new reference). */
static int call_json(gs_gwc_t *c, const char *method, const char *path, json_t **out)
{
    call_t k;
    long status;
    int err;
    call_init(&k, c, method);
    snprintf(k.path, sizeof k.path, "%s", path);
    err = perform(&k, &status);
    *out =
        err == GS_OK ? json_loadb(k.answer.data ? k.answer.data : "", k.answer.len, 0, NULL) : NULL;
    gs_buf_free(&k.answer);
    if (err == GS_OK && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return set_msg(c, GS_ECONN, "%s%s: the gateway's answer is not JSON", c->url, path);
    }
    return err;
}

/* ---- put ---- */

/* Sends [off, off + len) of fd with method to path; the JSON answer into *out. */
static int send_range(gs_gwc_t *c, const char *method, const char *path, int fd, uint64_t off,
                      uint64_t len, uint64_t total, json_t **out)
{
    call_t k;
    long status;
    int err;
    call_init(&k, c, method);
    snprintf(k.path, sizeof k.path, "%s", path);
    k.fd = fd, k.off = off, k.len = len, k.base = off, k.total = total;
    err = perform(&k, &status);
    *out =
        err == GS_OK ? json_loadb(k.answer.data ? k.answer.data : "", k.answer.len, 0, NULL) : NULL;
    gs_buf_free(&k.answer);
    return err;
}

static const char *ext_query(const char *ext, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", ext && ext[0] ? "?ext=" : "", ext && ext[0] ? ext : "");
    return buf;
}

/* An upload in parts; its job into job. */
static int put_parts(gs_gwc_t *c, int fd, uint64_t size, const char *ext, char *job, size_t len)
{
    char path[600], q[64], upload[64];
    json_t *j = NULL;
    int err = call_json(c, "POST", "/api/v1/uploads", &j);
    if (err != GS_OK)
        return err;
    snprintf(upload, sizeof upload, "%s", gs_json_str(j, "upload") ? gs_json_str(j, "upload") : "");
    json_decref(j);
    if (strlen(upload) != 32)
        return set_msg(c, GS_ECONN, "the gateway gave no upload id");
    for (uint64_t at = 0; at < size && err == GS_OK; at += GS_GWC_PART) {
        snprintf(path, sizeof path, "/api/v1/uploads/%s?offset=%" PRIu64, upload, at);
        err = send_range(c, "PUT", path, fd, at, size - at < GS_GWC_PART ? size - at : GS_GWC_PART,
                         size, &j);
        json_decref(j);
    }
    snprintf(path, sizeof path, "/api/v1/uploads/%s/done%s", upload, ext_query(ext, q, sizeof q));
    if (err == GS_OK && (err = call_json(c, "POST", path, &j)) == GS_OK)
        snprintf(job, len, "%s", gs_json_str(j, "job") ? gs_json_str(j, "job") : "");
    json_decref(j);
    return err;
}

/* The key file ids must verify with: the pinned one, else the gateway's published one. */
static int gateway_key(gs_gwc_t *c, unsigned char pk[32])
{
    json_t *k = NULL;
    const char *hex;
    size_t len = 0;
    int err;
    if (c->pinned) {
        memcpy(pk, c->key, 32);
        return GS_OK;
    }
    if ((err = call_json(c, "GET", "/api/v1/pubkey", &k)) == GS_OK &&
        ((hex = gs_json_str(k, "public_key")) == NULL ||
         sodium_hex2bin(pk, 32, hex, strlen(hex), NULL, &len, NULL) != 0 || len != 32))
        err = set_msg(c, GS_ECONN, "the gateway publishes no usable public key");
    json_decref(k);
    return err;
}

/* The signature of the file id. */
static int verify(gs_gwc_t *c, const char *id, const char *sig_hex)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
    size_t len = 0;
    int err = gateway_key(c, pk);
    if (err == GS_OK &&
        (sig_hex == NULL ||
         sodium_hex2bin(sig, sizeof sig, sig_hex, strlen(sig_hex), NULL, &len, NULL) != 0 ||
         len != sizeof sig ||
         crypto_sign_verify_detached(sig, (const unsigned char *)id, strlen(id), pk) != 0))
        err = set_msg(c, GS_ECORRUPT, "the file id %s does not verify with the %s key", id,
                      c->pinned ? "pinned" : "gateway's");
    return err;
}

/* Long-polls the job until it ends; its file id into id. */
static int wait_job(gs_gwc_t *c, const char *job, char id[GS_CODEC_ID_MAX])
{
    char path[200];
    for (int i = 0; i < JOB_ROUNDS_MAX; i++) {
        json_t *j = NULL;
        const char *status;
        int err;
        snprintf(path, sizeof path, "/api/v1/jobs/%s?wait=%d", job, JOB_WAIT_S);
        if ((err = call_json(c, "GET", path, &j)) != GS_OK)
            return err;
        status = gs_json_str(j, "status") ? gs_json_str(j, "status") : "";
        if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "TIMEOUT") != 0) {
            if (strncmp(status, "ERROR:", 6) == 0)
                err = set_msg(c, GS_EUNAVAIL, "the gateway could not store it: %s", status + 6);
            else if (strlen(status) >= GS_CODEC_ID_MAX)
                err = set_msg(c, GS_ECONN, "the gateway's job status is not a file id");
            else if ((err = verify(c, status, gs_json_str(j, "signature"))) == GS_OK)
                snprintf(id, GS_CODEC_ID_MAX, "%s", status);
            json_decref(j);
            return err;
        }
        json_decref(j);
    }
    return set_msg(c, GS_ETIMEDOUT, "job %s did not end", job);
}

int gs_gwc_put(gs_gwc_t *c, int fd, uint64_t size, const char *ext, char id[GS_CODEC_ID_MAX])
{
    char job[64] = "", path[128], q[64];
    json_t *j = NULL;
    int err;
    if (size > GS_GWC_PART) {
        err = put_parts(c, fd, size, ext, job, sizeof job);
    } else {
        snprintf(path, sizeof path, "/api/v1/files%s", ext_query(ext, q, sizeof q));
        err = send_range(c, "POST", path, fd, 0, size, size, &j);
        if (err == GS_OK)
            snprintf(job, sizeof job, "%s", gs_json_str(j, "job") ? gs_json_str(j, "job") : "");
        json_decref(j);
    }
    if (err == GS_OK && strlen(job) != 32)
        err = set_msg(c, GS_ECONN, "the gateway gave no job id");
    return err == GS_OK ? wait_job(c, job, id) : err;
}

/* ---- get, check, repair ---- */

int gs_gwc_get(gs_gwc_t *c, const char *id, FILE *out, uint64_t *total)
{
    call_t k;
    long status;
    int err;
    call_init(&k, c, "GET");
    snprintf(k.path, sizeof k.path, "/api/v1/files/%s", id);
    k.out = out;
    err = perform(&k, &status);
    *total = k.received;
    gs_buf_free(&k.answer);
    return err;
}

static bool shard_states(const json_t *states, gs_codec_health_t *h)
{
    static const char *const names[] = {"good", "missing", "bad"};
    const json_t *v;
    size_t i;
    if (json_array_size(states) != h->n_shards || h->n_shards > GS_CODEC_MAX_SHARDS)
        return false;
    json_array_foreach(states, i, v)
    {
        unsigned s = 0;
        while (s < 3 && !(json_is_string(v) && strcmp(json_string_value(v), names[s]) == 0))
            s++;
        if (s == 3)
            return false;
        h->shard_state[i] = (uint8_t)s;
    }
    return true;
}

int gs_gwc_check(gs_gwc_t *c, const char *id, bool hard, gs_codec_health_t *h)
{
    char path[200];
    json_t *j = NULL;
    int64_t n = 0, good = 0, missing = 0, bad = 0;
    int err;
    snprintf(path, sizeof path, "/api/v1/files/%s/check?mode=%s", id, hard ? "hard" : "soft");
    if ((err = call_json(c, "POST", path, &j)) != GS_OK)
        return err;
    memset(h, 0, sizeof *h);
    if (!gs_json_int(j, "shards", &n) || !gs_json_int(j, "good", &good) ||
        !gs_json_int(j, "missing", &missing) || !gs_json_int(j, "bad", &bad) || n < 0 ||
        n > GS_CODEC_MAX_SHARDS || good < 0 || missing < 0 || bad < 0 || good > n || missing > n ||
        bad > n)
        err = set_msg(c, GS_ECONN, "the gateway's check answer is malformed");
    else {
        *h = (gs_codec_health_t){.n_shards = (unsigned)n,
                                 .good = (unsigned)good,
                                 .missing = (unsigned)missing,
                                 .bad = (unsigned)bad,
                                 .readable = json_is_true(json_object_get(j, "readable")),
                                 .hard_checked = json_is_true(json_object_get(j, "hard_checked")),
                                 .hash_ok = json_is_true(json_object_get(j, "hash_ok"))};
        if (!shard_states(json_object_get(j, "shard_states"), h))
            err = set_msg(c, GS_ECONN, "the gateway's check answer is malformed");
    }
    json_decref(j);
    return err;
}

int gs_gwc_repair(gs_gwc_t *c, const char *id, unsigned *rebuilt)
{
    char path[200];
    json_t *j = NULL;
    int64_t n = 0;
    int err;
    snprintf(path, sizeof path, "/api/v1/files/%s/repair", id);
    if ((err = call_json(c, "POST", path, &j)) != GS_OK)
        return err;
    if (!gs_json_int(j, "rebuilt", &n) || n < 0 || n > (int64_t)UINT32_MAX)
        err = set_msg(c, GS_ECONN, "the gateway's repair answer is malformed");
    *rebuilt = (unsigned)(n > 0 ? n : 0);
    json_decref(j);
    return err;
}
