/* app.h — the Threefold Connect app stand-in, `gridstor-sim app` (private to sim/app*.c):
 * identities kept in a folder, blocking HTTP calls to the local grid's services and to a
 * signandpay receiver, the signandpay document read from a QR code, a link or a file,
 * and the scan itself (sign, pay, call back).
 *
 * The functions below return the command's exit status (APP_EXIT_*), with the message in
 * diag when it is not APP_EXIT_OK: a command's status follows from the step that failed. */
#ifndef GS_SIM_APP_H
#define GS_SIM_APP_H

#include "chain.h"
#include "common.h"
#include "login.h"

#include <stdint.h>

enum {
    APP_EXIT_OK = 0,
    APP_EXIT_FAIL = 1,    /* anything else: local files, out of memory */
    APP_EXIT_INPUT = 2,   /* bad arguments, unknown identity, no QR, a malformed document */
    APP_EXIT_REFUSED = 3, /* the callback answered, but not 2xx */
    APP_EXIT_NETWORK = 4, /* a service or the callback could not be reached */
    APP_EXIT_SERVICE = 5, /* the login directory, the chain or a document link refused */
};

#define APP_URL_MAX      2048
#define APP_PATH_MAX     4096
#define APP_DOC_MAX      (64 * 1024) /* a document (or a saved callback body), in bytes */
#define APP_TEXT_MAX     (32 * 1024) /* DataToSign, in bytes */
#define APP_ANSWER_MAX   (64 * 1024)
#define APP_TIMEOUT_MS   30000
#define APP_SEED_LEN     32
#define APP_PK_LEN       32
#define APP_SK_LEN       64
#define APP_TFT_DECIMALS 7
#define APP_TFT_TEXT_MAX 32 /* "922337203685.4775807" and its NUL, with room */

/* ---- identities (app_store.c) ------------------------------------------------------------ */

/* One person: DIR/NAME.json (public part, 0600) and DIR/NAME.key (the 32-byte ed25519
 * seed, 0600). sk is in sodium_malloc'ed memory (NULL when only the public part was read). */
typedef struct {
    char name[SIM_LOGIN_NAME_MAX + 1];
    unsigned char pk[APP_PK_LEN];
    unsigned char *sk;
    char address[SIM_ADDRESS_LEN + 1];
    char login[APP_URL_MAX], chain[APP_URL_MAX];
    char last_tx[SIM_TXID_LEN + 1]; /* the last payment this app made for them, or "" */
} app_identity_t;

/* The folder: dir when not NULL, else $GRIDSTOR_APP_DIR, else
 * $HOME/.local/share/gridstor-sim/app. */
int app_store_dir(const char *dir, char *out, size_t len, gs_diag_t *diag);
/* A new identity with a fresh key; written to dir (refused when the name exists there). */
int app_identity_create(const char *dir, const char *name, const char *login, const char *chain,
                        app_identity_t *id, gs_diag_t *diag);
/* Removes both files of an identity (after its registration was refused). */
void app_identity_remove(const char *dir, const char *name);
/* Reads NAME from dir; with_key also reads its secret key. */
int app_identity_load(const char *dir, const char *name, bool with_key, app_identity_t *id,
                      gs_diag_t *diag);
/* Rewrites the public part (after last_tx changed). */
int app_identity_save(const char *dir, const app_identity_t *id, gs_diag_t *diag);
/* The names in dir, sorted; free with gs_strlist_free. */
int app_identity_names(const char *dir, gs_strlist_t *names, gs_diag_t *diag);
/* Wipes and frees the secret key. */
void app_identity_clear(app_identity_t *id);
/* The standard base64 of the public key, as the login directory keeps it. */
void app_identity_pk_b64(const app_identity_t *id, char *out, size_t len);

/* ---- HTTP (app_store.c) ------------------------------------------------------------------ */

/* What a service answered: the status, the body as JSON (NULL when it is not JSON), and
 * a one-line text for messages: its "error" member, or the body's printable start. */
typedef struct {
    long status;
    json_t *json;
    char text[512];
} app_answer_t;

/* method url with an optional JSON body (NULL for none); answers of any status are
 * APP_EXIT_OK, no answer is APP_EXIT_NETWORK. */
int app_http(const char *method, const char *url, const char *body, app_answer_t *ans,
             gs_diag_t *diag);
void app_answer_free(app_answer_t *ans);
/* base + path into out; APP_EXIT_INPUT when too long. */
int app_url(char *out, const char *base, const char *path, gs_diag_t *diag);
/* The account's balance and next sequence number from the chain. */
int app_chain_account(const char *chain, const char *address, int64_t *balance, int64_t *sequence,
                      gs_diag_t *diag);

/* ---- amounts and documents (app_doc.c) --------------------------------------------------- */

/* A TFT decimal ("196.8696576": digits, optionally '.' and 1 to 7 more) to stropes, without
 * floating point; at most INT64_MAX stropes. On failure *reason says why. */
bool app_parse_tft(const char *s, int64_t *stropes, const char **reason);
/* An http:// or https:// URL without spaces or control bytes, under APP_URL_MAX bytes. */
bool app_http_url(const char *s);
/* stropes as TFT with 7 decimals into out (APP_TFT_TEXT_MAX bytes). */
void app_format_tft(int64_t stropes, char *out);

/* A signandpay document, validated; the strings point into json. */
typedef struct {
    json_t *json;
    const char *data_to_sign, *amount, *destination, *memo, *callback;
    int64_t stropes;
    char source[APP_URL_MAX]; /* "qr-01.png", the link's URL or the file's path */
} app_doc_t;

/* Reads the document from arg: a PNG (decoded by zbarimg), a threebot://signandpay/#URL
 * link (fetched with GET), or a file holding the document; a QR may hold the link. */
int app_doc_load(const char *arg, app_doc_t *doc, gs_diag_t *diag);
/* Validates text[0..len) as a document; what names it in messages. */
int app_doc_parse(const char *text, size_t len, const char *what, app_doc_t *doc, gs_diag_t *diag);
void app_doc_free(app_doc_t *doc);

/* ---- the scan (app_scan.c) ---------------------------------------------------------------- */

/* How to misbehave, for tests of a receiver. */
typedef struct {
    bool wrong_key, sign_other, short_pay, wrong_memo, no_pay;
    const char *save, *replay; /* files, or NULL */
    bool json;
} app_scan_opts_t;

int app_scan(const char *dir, const char *name, const char *input, const app_scan_opts_t *o);

#endif
