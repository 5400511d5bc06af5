/* common.h — the basics every gridstor module shares: error codes and their text,
 * diagnostics in `file:line:col: key: reason` form, logging, bounded buffers, files
 * replaced atomically, JSON and YAML helpers, a table-driven reader for YAML
 * configuration (specs, daemon config), a seeded PRNG and a capped HTTP GET.
 *
 * Ownership: a function that returns a heap object says so; every destructor
 * accepts NULL. */
#ifndef GS_COMMON_H
#define GS_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- errors ---------------------------------------------------------------------------- */

#define GS_ERR_MAP(XX)                                                                             \
    XX(NOMEM, "out of memory")                                                                     \
    XX(INVAL, "invalid argument")                                                                  \
    XX(TOOBIG, "input too large")                                                                  \
    XX(IO, "input/output error")                                                                   \
    XX(NOENT, "no such file or directory")                                                         \
    XX(PARSE, "malformed input")                                                                   \
    XX(SPEC, "invalid deployment spec")                                                            \
    XX(GRID, "grid data unusable")                                                                 \
    XX(PLACEMENT, "placement cannot be satisfied")                                                 \
    XX(HTTP, "HTTP request failed")                                                                \
    XX(QR, "QR encoding failed")                                                                   \
    XX(RANGE, "value out of range")                                                                \
    XX(TIMEDOUT, "timed out")                                                                      \
    XX(CONN, "connection failed")                                                                  \
    XX(CANCELED, "canceled")                                                                       \
    XX(CORRUPT, "data corrupt")                                                                    \
    XX(UNAVAIL, "too few backends available")                                                      \
    XX(REFUSED, "the server refused the command")

enum gs__err_index {
    GS__ERR_NONE,
#define GS__ERR_IDX(name, text) GS__ERR_I_##name,
    GS_ERR_MAP(GS__ERR_IDX)
#undef GS__ERR_IDX
        GS__ERR_COUNT
};

/* Errors are negative; 0 is success. */
typedef enum {
    GS_OK = 0,
#define GS__ERR_DEF(name, text) GS_E##name = -GS__ERR_I_##name,
    GS_ERR_MAP(GS__ERR_DEF)
#undef GS__ERR_DEF
} gs_err_t;

/* Text of an error code; never NULL. */
const char *gs_strerror(int err);
/* Short name of an error code ("EPARSE"); never NULL. */
const char *gs_err_name(int err);

/* ---- diagnostics ----------------------------------------------------------------------- */

#define GS_DIAG_MAX 1024

/* The one message that explains a failure to the user. */
typedef struct {
    char msg[GS_DIAG_MAX];
} gs_diag_t;

/* Sets diag->msg from a format (diag may be NULL). Returns err, to allow
 * `return gs_diag_set(diag, GS_EINVAL, "...")`. */
int gs_diag_set(gs_diag_t *diag, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets "file:line:col: key: reason". */
int gs_diag_at(gs_diag_t *diag, int err, const char *file, unsigned line, unsigned col,
               const char *key, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* ---- logging --------------------------------------------------------------------------- */

typedef enum { GS_LOG_ERROR, GS_LOG_WARN, GS_LOG_INFO, GS_LOG_DEBUG } gs_log_level_t;

void gs_log_set_level(gs_log_level_t level);
void gs_log(gs_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- bounded buffers ------------------------------------------------------------------- */

/* A growable byte buffer that refuses to grow past `max` (GS_ETOOBIG). data is
 * always NUL-terminated once anything was appended. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
} gs_buf_t;

void gs_buf_init(gs_buf_t *b, size_t max);
int gs_buf_append(gs_buf_t *b, const void *p, size_t n);
int gs_buf_puts(gs_buf_t *b, const char *s);
int gs_buf_printf(gs_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gs_buf_reset(gs_buf_t *b);
void gs_buf_free(gs_buf_t *b);
/* Hands the bytes to the caller (free() them; never NULL on success, "" when
 * empty) and leaves the buffer empty. Returns NULL on allocation failure. */
char *gs_buf_steal(gs_buf_t *b);

/* ---- files ----------------------------------------------------------------------------- */

/* Reads a whole file ("-" is stdin) into out, refusing files over max bytes. */
int gs_file_read(const char *path, size_t max, gs_buf_t *out, gs_diag_t *diag);
/* Writes path atomically: a temporary file in the same folder, fsync, rename. */
int gs_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         gs_diag_t *diag);
/* Atomic replacement of several files at once: stage each (a temporary file
 * in the same folder, fsync'ed), then commit them all (renames), or abort (the
 * temporaries are removed and nothing changed). */
typedef struct {
    char **tmp, **path;
    size_t n;
} gs_file_batch_t;

int gs_file_stage(gs_file_batch_t *b, const char *path, const void *data, size_t len, unsigned mode,
                  gs_diag_t *diag);
int gs_file_commit(gs_file_batch_t *b, gs_diag_t *diag);
void gs_file_abort(gs_file_batch_t *b);
/* Creates a folder and its parents (mode 0755) when missing; an existing path
 * that is not a folder is an error. */
int gs_mkdir_p(const char *path, gs_diag_t *diag);

/* ---- JSON ------------------------------------------------------------------------------ */

/* Parses text (at most max bytes) into a new reference (json_decref it).
 * `what` names the input in the message ("nodes.json"). */
int gs_json_parse(const char *text, size_t len, size_t max, const char *what, json_t **out,
                  gs_diag_t *diag);
/* Compact, key order preserved, non-ASCII escaped: the canonical form used for
 * every document gridstor signs or shows in a QR code. Caller frees. */
char *gs_json_dumps(const json_t *j);
/* Pretty form for files people read. Caller frees. */
char *gs_json_dumps_pretty(const json_t *j);
/* Typed object members; return false when absent or of another type. */
bool gs_json_int(const json_t *obj, const char *key, int64_t *out);
bool gs_json_num(const json_t *obj, const char *key, double *out);
const char *gs_json_str(const json_t *obj, const char *key);

/* ---- YAML ------------------------------------------------------------------------------ */

typedef enum { GS_YAML_SCALAR, GS_YAML_SEQ, GS_YAML_MAP } gs_yaml_kind_t;

typedef struct gs_yaml_node gs_yaml_node_t;
typedef struct {
    gs_yaml_node_t *key;
    gs_yaml_node_t *value;
} gs_yaml_pair_t;

struct gs_yaml_node {
    gs_yaml_kind_t kind;
    unsigned line, col; /* 1-based position of the node's start */
    char *value;        /* SCALAR: its text */
    bool quoted;        /* SCALAR: written in quotes (so `"16"` is a string) */
    size_t n;           /* SEQ: items; MAP: pairs */
    gs_yaml_node_t **items;
    gs_yaml_pair_t *pairs;
};

#define GS_YAML_MAX_DEPTH 32
#define GS_YAML_MAX_NODES 100000

/* Parses one YAML document (at most GS_YAML_MAX_DEPTH deep and
 * GS_YAML_MAX_NODES nodes; aliases are refused) into a new tree
 * (gs_yaml_free it). An empty document is an error. */
int gs_yaml_parse(const char *text, size_t len, const char *file, gs_yaml_node_t **root,
                  gs_diag_t *diag);
void gs_yaml_free(gs_yaml_node_t *node);
/* Value of a MAP member, or NULL. */
gs_yaml_node_t *gs_yaml_get(const gs_yaml_node_t *map, const char *key);
const char *gs_yaml_kind_name(gs_yaml_kind_t kind);

/* ---- table-driven YAML configuration --------------------------------------------------- */

typedef enum {
    GS_CFG_INT,      /* int64_t, decimal */
    GS_CFG_SIZE,     /* uint64_t bytes: "10GiB", "400 MiB" (KiB MiB GiB TiB) */
    GS_CFG_DURATION, /* uint64_t seconds: "12h", "180d", "2w", "6mo" (mo = 30 d) */
    GS_CFG_STRING,   /* char * (heap) */
    GS_CFG_ENUM,     /* int: index into `choices` */
    GS_CFG_STRLIST,  /* gs_strlist_t: a sequence of scalars (numbers kept as text) */
    GS_CFG_BOOL,     /* bool */
    GS_CFG_SECTION,  /* a nested map described by `section` */
    GS_CFG_NODE,     /* const gs_yaml_node_t *: kept for the caller to read (lists of maps) */
} gs_cfg_type_t;

typedef struct {
    char **items;
    size_t n;
} gs_strlist_t;

typedef struct gs_cfg_key gs_cfg_key_t;

/* Checks a value beyond its type and range (a name's characters, ...). Returns
 * NULL when fine, else the reason. */
typedef const char *(*gs_cfg_check_cb)(const void *value);

struct gs_cfg_key {
    const char *key;
    gs_cfg_type_t type;
    size_t offset;               /* of the field in the target struct */
    int64_t min, max;            /* INT, SIZE, DURATION: bounds; STRING, STRLIST: length/count */
    const char *const *choices;  /* ENUM: NULL-terminated names */
    const gs_cfg_key_t *section; /* SECTION: its keys, ending with {NULL} */
    bool required;
    gs_cfg_check_cb check; /* optional */
};

/* Where a key was found, for later messages about its value. */
typedef struct {
    char path[128]; /* "zdb.size" */
    unsigned line, col;
} gs_cfg_mark_t;

typedef struct {
    const char *file;     /* for messages */
    gs_cfg_mark_t *marks; /* optional: one mark per key seen, in order */
    size_t n_marks, cap_marks;
} gs_cfg_ctx_t;

/* Applies a MAP node to `target` following `keys`. Unknown keys are refused
 * with the closest known key suggested; required keys must be present. Values
 * absent from the map are left as they were (so callers set defaults first). */
int gs_cfg_apply(gs_cfg_ctx_t *ctx, const gs_cfg_key_t *keys, const gs_yaml_node_t *map,
                 void *target, const char *prefix, gs_diag_t *diag);
/* Frees the STRING and STRLIST fields `keys` describe in target. */
void gs_cfg_free(const gs_cfg_key_t *keys, void *target);
/* The mark recorded for a key path, or NULL when the key was absent. */
const gs_cfg_mark_t *gs_cfg_mark(const gs_cfg_ctx_t *ctx, const char *path);
void gs_cfg_ctx_free(gs_cfg_ctx_t *ctx);

/* Parsers behind GS_CFG_SIZE and GS_CFG_DURATION, for other callers (CLI flags).
 * On failure *reason says what is wrong. */
int gs_parse_size(const char *s, uint64_t *bytes, const char **reason);
int gs_parse_duration(const char *s, uint64_t *seconds, const char **reason);
/* Levenshtein distance, capped at 255; for "did you mean" hints. */
unsigned gs_edit_distance(const char *a, const char *b);

/* Appends a copy of s; GS_ENOMEM on failure. */
int gs_strlist_push(gs_strlist_t *l, const char *s);
void gs_strlist_free(gs_strlist_t *l);

/* ---- randomness ------------------------------------------------------------------------ */

/* A small seeded PRNG (xoshiro256**) for reproducible placement; not for secrets. */
typedef struct {
    uint64_t s[4];
} gs_rng_t;

void gs_rng_seed(gs_rng_t *r, uint64_t seed);
uint64_t gs_rng_next(gs_rng_t *r);
/* Uniform in [0, bound), bound > 0. */
uint64_t gs_rng_below(gs_rng_t *r, uint64_t bound);
/* A seed from the operating system's randomness. */
uint64_t gs_rng_random_seed(void);

/* ---- HTTP ------------------------------------------------------------------------------ */

typedef struct {
    long status;
    gs_buf_t body;
    gs_buf_t headers; /* raw response header lines of the last response */
} gs_http_response_t;

/* An HTTP client on a libuv loop: the libcurl multi interface driven by the loop (the
 * pattern of curl's multi-uv example), any number of requests in flight, each capped. */
typedef struct uv_loop_s uv_loop_t;
typedef struct gs_http_client gs_http_client_t;

typedef struct {
    const char *method;         /* NULL: GET */
    const char *url;            /* http or https only */
    const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;           /* copied; may be NULL */
    size_t body_len;
    size_t max_body; /* the answer's cap; 0: 1 MiB */
    long timeout_ms; /* the whole exchange; 0: 30 s */
} gs_http_request_t;

/* Called once per request, on the loop. error is NULL when an answer arrived (any
 * status), else why not (resp->status is then 0). resp may be moved out (copy it and
 * zero the original); what is left is freed when the callback returns. */
typedef void (*gs_http_done_cb)(gs_http_response_t *resp, const char *error, void *ud);

int gs_http_client_new(uv_loop_t *loop, gs_http_client_t **out, gs_diag_t *diag);
/* Starts a request; cb(ud) is called later, never before this returns. */
int gs_http_send(gs_http_client_t *c, const gs_http_request_t *rq, gs_http_done_cb cb, void *ud,
                 gs_diag_t *diag);
/* Requests in flight are canceled (their callbacks run with error "canceled"), the
 * client's handles closed and then it is freed, and closed(arg) called (may be NULL). */
void gs_http_client_close(gs_http_client_t *c, void (*closed)(void *arg), void *arg);

/* One request on a private loop, for command-line tools: *resp gets the answer (free
 * it with gs_http_response_free, also on error). GS_EHTTP when no answer came,
 * GS_ETOOBIG when it was over the cap. */
int gs_http_run(const gs_http_request_t *rq, gs_http_response_t *resp, gs_diag_t *diag);
/* GETs each URL in urls[0..n) concurrently on a private loop, each body capped at
 * max_body bytes and the whole at timeout_ms. resp[i] is filled for each; free with
 * gs_http_response_free. */
int gs_http_get_all(const char *const *urls, size_t n, size_t max_body, long timeout_ms,
                    gs_http_response_t *resp, gs_diag_t *diag);
/* Value of a response header (case-insensitive), copied into out; false if absent. */
bool gs_http_header(const gs_http_response_t *r, const char *name, char *out, size_t outlen);
void gs_http_response_free(gs_http_response_t *r);

/* ---- HTTP server (h2o on libuv) ----------------------------------------------------------- */

typedef struct uv_loop_s uv_loop_t;
typedef struct gs_httpd gs_httpd_t;
typedef struct gs_http_req gs_http_req_t;

#define GS_HTTP_MAX_PARAMS 4

/* Handles one request; must answer it (gs_http_reply*) before returning, or hand it
 * to gs_http_defer and answer it from the deferred callback. */
typedef void (*gs_http_handler_cb)(gs_http_req_t *req, void *ud);

/* A route: "/api/v1/nodes/{}" captures the segment in braces as param 0. */
typedef struct {
    const char *method;
    const char *path;
    gs_http_handler_cb handler;
    size_t max_body; /* bytes; larger bodies get 413 before the handler runs */
} gs_http_route_t;

/* Listens on host:port (port 0 = any free port) on `loop`, serving `routes`
 * (ending with a NULL method; the table must outlive the server). 404 for
 * unknown paths, 405 for a known path with another method. */
int gs_httpd_start(uv_loop_t *loop, const char *host, int port, const gs_http_route_t *routes,
                   void *ud, gs_httpd_t **out, gs_diag_t *diag);
int gs_httpd_port(const gs_httpd_t *s);
/* Serves HTTPS from now on (call it right after gs_httpd_start): TLS 1.2+, the PEM
 * certificate chain and private key, HTTP/2 or HTTP/1.1 by ALPN. GS_EINVAL, saying why,
 * when the files are unusable or do not belong together. */
int gs_httpd_set_tls(gs_httpd_t *s, const char *cert_file, const char *key_file, gs_diag_t *diag);
/* Stops listening, lets open connections finish, frees the server and then
 * calls on_closed(arg) (may be NULL). */
void gs_httpd_close(gs_httpd_t *s, void (*on_closed)(void *arg), void *arg);

/* Runs on every request of the server before its route is looked up (fault injection,
 * throttling). Returns false to let the route table answer; true when it took the
 * request: it answered it, or deferred it (gs_http_defer) and will answer it or pass it
 * on with gs_http_dispatch from the deferred callback. */
typedef bool (*gs_http_hook_cb)(gs_http_req_t *req, void *arg);
/* Sets (or with NULL removes) the server's hook; arg must outlive the server. */
void gs_httpd_set_hook(gs_httpd_t *s, gs_http_hook_cb hook, void *arg);
/* Answers req through the route table, as if the hook had let it through. */
void gs_http_dispatch(gs_http_req_t *req);

/* A deferred request's turn: req is to be answered now; or req is NULL when the request
 * went away first (the client disconnected): then only release what arg holds. Called
 * exactly once either way. */
typedef void (*gs_http_defer_cb)(gs_http_req_t *req, void *arg);
/* Calls cb(req, arg) from a timer on the server's loop after delay_ms, instead of
 * answering now. The timer belongs to the request: it is cancelled (cb(NULL, arg)) when
 * the request is disposed first, and a server being closed runs every pending one at
 * once, so shutdown never waits for a delay. GS_ENOMEM (cb not called) on failure. */
int gs_http_defer(gs_http_req_t *req, uint64_t delay_ms, gs_http_defer_cb cb, void *arg);
/* Runs req's pending deferred callback now instead of at its timer (nothing when none
 * is pending): for an answer that waited on other work (lookups, a database) and is
 * ready early; the delay then serves as its deadline. req must still be alive: the
 * callback has not run with NULL. */
void gs_http_defer_now(gs_http_req_t *req);

const char *gs_http_req_method(const gs_http_req_t *r); /* NUL-terminated copies */
const char *gs_http_req_path(const gs_http_req_t *r);   /* without the query */
const char *gs_http_req_param(const gs_http_req_t *r, size_t i);
/* A query parameter, percent-decoded, copied into out; false when absent or too long
 * (gs_http_req_has_query tells them apart). A query string with a malformed %-escape is
 * answered 400 before any route runs. */
bool gs_http_req_query(const gs_http_req_t *r, const char *name, char *out, size_t outlen);
bool gs_http_req_has_query(const gs_http_req_t *r, const char *name);
bool gs_http_req_header(const gs_http_req_t *r, const char *name, char *out, size_t outlen);
const char *gs_http_req_body(const gs_http_req_t *r, size_t *len);

void gs_http_add_header(gs_http_req_t *r, const char *name, const char *value);
void gs_http_reply(gs_http_req_t *r, int status, const char *content_type, const void *body,
                   size_t len);
/* Replies with j serialized compactly; steals the reference. */
void gs_http_reply_json(gs_http_req_t *r, int status, json_t *j);
/* {"error": message} with the status. */
void gs_http_reply_error(gs_http_req_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An answer sent in pieces (a large file): start it (status, type, and the length when
 * known, else -1), then send piece after piece, each only once `proceed` has been called
 * for the one before (the first at once); `last` ends the answer. Pieces are copied.
 * `stop` (may be NULL) says the client went away before the last piece or an abort was
 * handed over: send nothing more. The stream belongs to the request: after the last piece,
 * an abort or stop, it is gone and its callbacks do not run again. A stream may start
 * from a handler or from a deferred callback. */
typedef struct gs_http_stream gs_http_stream_t;
typedef void (*gs_http_stream_cb)(gs_http_stream_t *st, void *arg);
gs_http_stream_t *gs_http_stream_start(gs_http_req_t *r, int status, const char *content_type,
                                       int64_t length, gs_http_stream_cb proceed,
                                       gs_http_stream_cb stop, void *arg);
/* GS_EINVAL when a piece is still out or the answer has ended; GS_ENOMEM. */
int gs_http_stream_send(gs_http_stream_t *st, const void *p, size_t n, bool last);
/* Ends the answer as broken (the client sees a cut connection), for a failure midway;
 * only between pieces (after proceed). */
void gs_http_stream_abort(gs_http_stream_t *st);

/* ---- embedded files -------------------------------------------------------------------- */

/* A file built into the binary (templates); see cmake/embed.cmake. */
typedef struct {
    const char *name;
    const char *data;
    size_t len;
} gs_embedded_t;

const gs_embedded_t *gs_embedded_find(const gs_embedded_t *table, const char *name);

/* ---- small helpers --------------------------------------------------------------------- */

#define GS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* strdup that returns NULL for NULL. */
char *gs_strdup(const char *s);
/* Case-insensitive ASCII comparison. */
bool gs_strieq(const char *a, const char *b);
/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void gs_hex(const unsigned char *p, size_t len, char *out);

/* ---- RESP framing ---------------------------------------------------------------------- */

/* Redis' wire protocol as 0-db speaks it: requests (arrays of bulk strings, or inline
 * lines like "PING\r\n") and replies. The parsers trust nothing: every count, length and
 * nesting level is checked against a cap before a byte of it is kept, and a message that
 * breaks a rule is an error with a message fit to send back ("Protocol error: ..."). */
#define GS_RESP_MAX_ARGS    1024               /* elements of one array (0-db: argc <= 1024) */
#define GS_RESP_MAX_PAYLOAD (8u * 1024 * 1024) /* 0-db's largest value */
/* One bulk string: the payload limit plus a little, so that a value just over 8 MiB
 * still parses and the command layer answers it with 0-db's own error. */
#define GS_RESP_MAX_BULK    (GS_RESP_MAX_PAYLOAD + 4096)
#define GS_RESP_MAX_REQUEST (GS_RESP_MAX_BULK + (1u << 20)) /* one request, every byte */
#define GS_RESP_MAX_INLINE  (64u * 1024)        /* an inline request or a +/- reply line */
#define GS_RESP_MAX_DEPTH   8                   /* arrays nested in a reply */
#define GS_RESP_MAX_REPLY   (64u * 1024 * 1024) /* one reply, every byte */
#define GS_RESP_MAX_NODES   65536               /* values in one reply */

typedef enum {
    GS_RESP_SIMPLE,  /* +OK */
    GS_RESP_ERROR,   /* -message */
    GS_RESP_INTEGER, /* :42 */
    GS_RESP_BULK,    /* $3 abc */
    GS_RESP_NIL,     /* $-1 or *-1 */
    GS_RESP_ARRAY,   /* *2 ... */
} gs_resp_type_t;

/* One parsed value. str points into the caller's input bytes (not NUL-terminated);
 * elem into the parser. Both stay valid until the next call on the parser, and str only
 * while the input bytes stay where they were. */
typedef struct gs_resp_value gs_resp_value_t;
struct gs_resp_value {
    gs_resp_type_t type;
    const char *str; /* SIMPLE, ERROR, BULK */
    size_t len;
    int64_t integer;             /* INTEGER */
    size_t n;                    /* ARRAY: number of elements */
    const gs_resp_value_t *elem; /* ARRAY: the n elements */
};

typedef struct gs_resp__node gs_resp__node_t;

/* An incremental parser. Feed it the bytes received so far, starting at the first
 * byte of the message not yet returned: it remembers how far it got, so bytes are
 * looked at once however the message was split. The bytes may move between calls
 * (a buffer that grew) but must keep their order and content. Caps are set by
 * gs_resp_parser_init; a caller may lower them (or raise max_message for replies). */
typedef struct {
    size_t max_args, max_bulk, max_message, max_depth, max_nodes, max_line;
    /* private */
    int kind;
    size_t pos, scan, bulk_len;
    bool in_bulk;
    unsigned depth;
    size_t left[GS_RESP_MAX_DEPTH + 1];
    gs_resp__node_t *nodes;
    size_t n_nodes, cap_nodes;
    gs_resp_value_t *out;
    size_t cap_out;
} gs_resp_parser_t;

/* Results of the parse calls, besides the negative gs_err_t codes. */
#define GS_RESP_MORE 0 /* the bytes end inside a message: call again with more */
#define GS_RESP_DONE 1 /* a whole message was parsed */

typedef struct {
    size_t argc;                 /* 0 for an empty request ("*0", a blank inline line): ignore it */
    const gs_resp_value_t *argv; /* argc BULK values */
    size_t size;                 /* bytes of input it took: drop them before the next call */
} gs_resp_request_t;

typedef struct {
    const gs_resp_value_t *value;
    size_t size; /* bytes of input it took */
} gs_resp_reply_t;

void gs_resp_parser_init(gs_resp_parser_t *p);
/* Forgets a half-parsed message (after an error the parser is reset already). */
void gs_resp_parser_reset(gs_resp_parser_t *p);
void gs_resp_parser_free(gs_resp_parser_t *p);
/* Parses one request from data[0..len). Returns GS_RESP_DONE (req filled), GS_RESP_MORE,
 * or GS_EPARSE / GS_ETOOBIG / GS_ENOMEM with diag->msg fit for a "-" reply; after an
 * error the stream cannot be resynchronised: answer and close. */
int gs_resp_request_parse(gs_resp_parser_t *p, const char *data, size_t len, gs_resp_request_t *req,
                          gs_diag_t *diag);
/* The same for one reply (any type, arrays nested up to max_depth). */
int gs_resp_reply_parse(gs_resp_parser_t *p, const char *data, size_t len, gs_resp_reply_t *reply,
                        gs_diag_t *diag);
/* True when v is a BULK or SIMPLE equal to s, ignoring ASCII case. */
bool gs_resp_eq(const gs_resp_value_t *v, const char *s);

/* Reply writers; each appends one value to b (GS_ETOOBIG past b->max). Simple strings
 * and errors must not hold CR or LF (GS_EINVAL). */
int gs_resp_put_simple(gs_buf_t *b, const char *s);
int gs_resp_put_error(gs_buf_t *b, const char *msg);
int gs_resp_put_int(gs_buf_t *b, int64_t v);
int gs_resp_put_bulk(gs_buf_t *b, const void *p, size_t n);
int gs_resp_put_nil(gs_buf_t *b);
int gs_resp_put_array(gs_buf_t *b, size_t n);
/* The "$n\r\n" that starts a bulk of n bytes; the caller appends the bytes and "\r\n". */
int gs_resp_put_bulk_header(gs_buf_t *b, size_t n);
/* A request as clients send it: an array of argc bulk strings. */
int gs_resp_put_request(gs_buf_t *b, size_t argc, const char *const *argv, const size_t *lens);

#endif /* GS_COMMON_H */
