/* http_util.c — request bodies and their members, checked before anything trusts
 * them, with messages that name the offending field. */
#include "http_util.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

static bool listed(const char *const *fields, const char *key)
{
    for (; *fields; fields++)
        if (strcmp(*fields, key) == 0)
            return true;
    return false;
}

/* A member name fit to quote back: short printable ASCII. */
static bool quotable(const char *key)
{
    size_t n = strlen(key);
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x20 || key[i] > 0x7e)
            return false;
    return n <= 64;
}

int sim_json_object(const char *text, size_t len, size_t max, const char *what,
                    const char *const *fields, json_t **out, gs_diag_t *diag)
{
    json_t *j, *v;
    const char *key;
    int err = gs_json_parse(text, len, max, what, &j, diag);
    *out = NULL;
    if (err)
        return err;
    if (!json_is_object(j)) {
        json_decref(j);
        return gs_diag_set(diag, GS_EPARSE, "%s: expected a JSON object", what);
    }
    json_object_foreach(j, key, v)
    {
        if (fields && !listed(fields, key)) {
            gs_diag_set(diag, GS_EPARSE, "%s: unknown member '%s'", what,
                        quotable(key) ? key : "?");
            json_decref(j);
            return GS_EPARSE;
        }
    }
    *out = j;
    return GS_OK;
}

int sim_json_want_str(const json_t *obj, const char *prefix, const char *key, size_t max,
                      const char **out, gs_diag_t *diag)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_string(v) && json_string_length(v) <= max &&
        strlen(json_string_value(v)) == json_string_length(v)) {
        *out = json_string_value(v);
        return GS_OK;
    }
    return gs_diag_set(diag, GS_EINVAL, "%s%s%s: expected a string of at most %zu bytes",
                       prefix ? prefix : "", prefix ? "." : "", key, max);
}

int sim_json_want_int(const json_t *obj, const char *prefix, const char *key, int64_t min,
                      int64_t max, int64_t *out, gs_diag_t *diag)
{
    const json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max) {
        *out = (int64_t)json_integer_value(v);
        return GS_OK;
    }
    return gs_diag_set(diag, GS_EINVAL, "%s%s%s: expected an integer from %lld to %lld",
                       prefix ? prefix : "", prefix ? "." : "", key, (long long)min,
                       (long long)max);
}

json_t *sim_http_body(gs_http_req_t *r, size_t max, const char *const *fields)
{
    gs_diag_t diag = {{0}};
    size_t len;
    const char *body = gs_http_req_body(r, &len);
    json_t *j;
    int err = sim_json_object(body, len, max, "request body", fields, &j, &diag);
    if (err)
        sim_http_reply_diag(r, err == GS_ETOOBIG ? 413 : 400, &diag);
    return j;
}

void sim_http_reply_diag(gs_http_req_t *r, int status, gs_diag_t *diag)
{
    gs_http_reply_error(r, status, "%s", diag->msg); /* made printable there */
}

bool sim_hex_decode(const char *s, unsigned char *out, size_t n)
{
    size_t len = strlen(s), got = 0;
    const char *end = NULL;
    return len == 2 * n && sodium_hex2bin(out, n, s, len, NULL, &got, &end) == 0 && got == n &&
           end == s + len;
}

bool sim_refuse(sim_refusal_t *f, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->diag.msg, sizeof f->diag.msg, fmt, ap);
    va_end(ap);
    f->status = status;
    return false;
}

bool sim_malformed(sim_refusal_t *f)
{
    f->status = 400;
    return false;
}
