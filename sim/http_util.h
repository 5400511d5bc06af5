/* http_util.h — what the sim's HTTP handlers share (private to sim/): a request body
 * read as one capped JSON object with only known members, typed and range-checked
 * members whose messages name the field, fixed-length hex, and the refusal (status and
 * message) a request checker fills in. */
#ifndef GS_SIM_HTTP_UTIL_H
#define GS_SIM_HTTP_UTIL_H

#include "common.h"

/* Parses text[0..len) (at most max bytes, else GS_ETOOBIG) as a JSON object whose
 * members are all listed in `fields` (NULL-terminated; NULL allows any); `what` names
 * the input in messages ("request body"). *out is a new reference (json_decref it). */
int sim_json_object(const char *text, size_t len, size_t max, const char *what,
                    const char *const *fields, json_t **out, gs_diag_t *diag);
/* obj[key] as a string of at most max bytes without NUL; *out points into obj. The
 * message names the member as "prefix.key" (or "key" when prefix is NULL). */
int sim_json_want_str(const json_t *obj, const char *prefix, const char *key, size_t max,
                      const char **out, gs_diag_t *diag);
/* obj[key] as a JSON integer (not a real) from min to max. */
int sim_json_want_int(const json_t *obj, const char *prefix, const char *key, int64_t min,
                      int64_t max, int64_t *out, gs_diag_t *diag);

/* The request body as a JSON object (see sim_json_object), a new reference; or NULL
 * after answering 400 (malformed, unknown member) or 413 (over max bytes). */
json_t *sim_http_body(gs_http_req_t *r, size_t max, const char *const *fields);

/* Answers {"error": diag's message} with status. Bytes outside printable ASCII (input
 * that a parser quoted back) become '?', so the answer is always valid JSON. */
void sim_http_reply_diag(gs_http_req_t *r, int status, gs_diag_t *diag);

/* Why a request is refused: the status to answer and the message. */
typedef struct {
    int status;
    gs_diag_t diag;
} sim_refusal_t;

/* Sets f to status and the formatted message; returns false, so a checker can
 * `return sim_refuse(f, 400, "...")`. */
bool sim_refuse(sim_refusal_t *f, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A malformed member: the message is in f->diag already; sets 400 and returns false. */
bool sim_malformed(sim_refusal_t *f);

/* Decodes exactly 2*n hex digits (either case) into out[0..n). */
bool sim_hex_decode(const char *s, unsigned char *out, size_t n);

#endif
