/* json.c — jansson with caps, one canonical compact form, typed member access. */
#include "common.h"

#include <string.h>

int gs_json_parse(const char *text, size_t len, size_t max, const char *what, json_t **out,
                  gs_diag_t *diag)
{
    json_error_t jerr;
    *out = NULL;
    if (len > max)
        return gs_diag_set(diag, GS_ETOOBIG, "%s: %zu bytes, over the %zu-byte limit", what, len,
                           max);
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (*out == NULL)
        return gs_diag_set(diag, GS_EPARSE, "%s:%d:%d: not valid JSON: %s", what, jerr.line,
                           jerr.column, jerr.text);
    return GS_OK;
}

char *gs_json_dumps(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_ENCODE_ANY |
                             JSON_REAL_PRECISION(15));
}

char *gs_json_dumps_pretty(const json_t *j)
{
    return json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
                             JSON_REAL_PRECISION(15));
}

bool gs_json_int(const json_t *obj, const char *key, int64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

bool gs_json_num(const json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

const char *gs_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}
