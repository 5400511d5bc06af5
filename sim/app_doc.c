/* app_doc.c — the signandpay document as the app stand-in receives it: from a QR code in a
 * PNG (decoded by zbarimg, an independent decoder), from a threebot://signandpay/#URL link
 * (fetched with GET), or from a file; then checked member by member before anything is
 * signed or paid. Amounts are exact: a decimal with at most 7 decimals becomes stropes
 * through integer arithmetic only. */
#include "app.h"
#include "http_util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LINK_PREFIX "threebot://signandpay/#"
#define QR_MAX      8192               /* what zbarimg may print: one QR holds at most 2953 bytes */
#define FILE_MAX    (16 * 1024 * 1024) /* a PNG or a document file */
#define TFT_INT_MAX 12 /* integer digits: INT64_MAX stropes is 922337203685.4775807 TFT */
#define STROPES_TFT 10000000LL

extern char **environ;

static const char *const doc_fields[] = {"DataToSign", "Payment", "CallbackUrl", NULL};
static const char *const payment_fields[] = {"Amount", "Asset", "Destination", "Memo", NULL};

/* ---- amounts ------------------------------------------------------------------------------ */

bool app_parse_tft(const char *s, int64_t *stropes, const char **reason)
{
    uint64_t whole = 0, frac = 0;
    size_t n_int = strspn(s, "0123456789"), n_frac = 0;
    const char *p = s + n_int;
    if (n_int == 0 || n_int > TFT_INT_MAX || (n_int > 1 && s[0] == '0')) {
        *reason = "expected a decimal number of TFT like 196.8696576 (no sign, no leading zero)";
        return false;
    }
    if (*p == '.') {
        n_frac = strspn(p + 1, "0123456789");
        if (n_frac == 0 || n_frac > APP_TFT_DECIMALS) {
            *reason = "expected 1 to 7 decimals after the point (1 strope is 0.0000001 TFT)";
            return false;
        }
        p += 1 + n_frac;
    }
    if (*p != '\0') {
        *reason = "expected only digits and one decimal point";
        return false;
    }
    for (size_t i = 0; i < n_int; i++)
        whole = whole * 10 + (uint64_t)(s[i] - '0');
    for (size_t i = 0; i < APP_TFT_DECIMALS; i++)
        frac = frac * 10 + (i < n_frac ? (uint64_t)(s[n_int + 1 + i] - '0') : 0);
    /* whole < 10^12, so whole * 10^7 + frac < 10^19 fits in 64 bits unsigned. */
    if (whole * (uint64_t)STROPES_TFT + frac > (uint64_t)INT64_MAX) {
        *reason = "larger than the chain can hold (922337203685.4775807 TFT)";
        return false;
    }
    *stropes = (int64_t)(whole * (uint64_t)STROPES_TFT + frac);
    return true;
}

void app_format_tft(int64_t stropes, char *out)
{
    snprintf(out, APP_TFT_TEXT_MAX, "%lld.%07lld", (long long)(stropes / STROPES_TFT),
             (long long)(stropes % STROPES_TFT));
}

/* ---- the document --------------------------------------------------------------------------- */

static bool printable_url(const char *s)
{
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f)
            return false;
    return true;
}

bool app_http_url(const char *s)
{
    size_t len = strlen(s);
    return len < APP_URL_MAX && printable_url(s) &&
           ((strncmp(s, "http://", 7) == 0 && len > 7) ||
            (strncmp(s, "https://", 8) == 0 && len > 8));
}

static int only_payment_members(const json_t *pay, const char *what, gs_diag_t *diag)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)pay, key, v)
    {
        bool known = false;
        for (size_t i = 0; payment_fields[i] != NULL; i++)
            known = known || strcmp(key, payment_fields[i]) == 0;
        if (!known)
            return gs_diag_set(diag, APP_EXIT_INPUT, "%s: Payment: unknown member '%.64s'", what,
                               printable_url(key) ? key : "?");
    }
    return APP_EXIT_OK;
}

static int check_payment(const json_t *pay, const char *what, app_doc_t *doc, gs_diag_t *diag)
{
    const char *asset, *reason;
    gs_diag_t why = {{0}};
    /* The members' types and sizes first, so that every message names the member. */
    if (sim_json_want_str(pay, "Payment", "Amount", 32, &doc->amount, &why) ||
        sim_json_want_str(pay, "Payment", "Asset", 16, &asset, &why) ||
        sim_json_want_str(pay, "Payment", "Destination", SIM_ADDRESS_LEN, &doc->destination,
                          &why) ||
        sim_json_want_str(pay, "Payment", "Memo", SIM_MEMO_MAX, &doc->memo, &why))
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: %s", what, why.msg);
    if (!app_parse_tft(doc->amount, &doc->stropes, &reason))
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: Payment.Amount: '%s': %s", what, doc->amount,
                           reason);
    if (doc->stropes == 0)
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: Payment.Amount: must be more than 0", what);
    if (strcmp(asset, "TFT") != 0)
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: Payment.Asset: expected \"TFT\"", what);
    if (!sim_chain_address_valid(doc->destination))
        return gs_diag_set(diag, APP_EXIT_INPUT,
                           "%s: Payment.Destination: expected a chain address (64 lowercase hex)",
                           what);
    return APP_EXIT_OK;
}

int app_doc_parse(const char *text, size_t len, const char *what, app_doc_t *doc, gs_diag_t *diag)
{
    gs_diag_t why = {{0}};
    json_t *pay = NULL;
    int rc;
    if (sim_json_object(text, len, APP_DOC_MAX, what, doc_fields, &doc->json, &why) != GS_OK)
        return gs_diag_set(diag, APP_EXIT_INPUT, "not a signandpay document: %s", why.msg);
    if (sim_json_want_str(doc->json, NULL, "DataToSign", APP_TEXT_MAX, &doc->data_to_sign, &why) ||
        sim_json_want_str(doc->json, NULL, "CallbackUrl", APP_URL_MAX - 1, &doc->callback, &why))
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: %s", what, why.msg);
    if (doc->data_to_sign[0] == '\0')
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: DataToSign: empty", what);
    if (!app_http_url(doc->callback))
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: CallbackUrl: expected an http(s) URL", what);
    pay = json_object_get(doc->json, "Payment");
    if (!json_is_object(pay))
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: Payment: expected an object", what);
    if ((rc = only_payment_members(pay, what, diag)) != APP_EXIT_OK)
        return rc;
    return check_payment(pay, what, doc, diag);
}

void app_doc_free(app_doc_t *doc)
{
    json_decref(doc->json);
    memset(doc, 0, sizeof *doc);
}

/* ---- where the document comes from ---------------------------------------------------------- */

/* Reads everything fd gives, up to max bytes (more is GS_ETOOBIG). */
static int read_fd(int fd, size_t max, gs_buf_t *out)
{
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return GS_EIO;
        if (out->len + (size_t)n > max)
            return GS_ETOOBIG;
        if (gs_buf_append(out, chunk, (size_t)n) != GS_OK)
            return GS_ENOMEM;
    }
    return GS_OK;
}

/* Runs `zbarimg --raw -q -Sbinary png` (from PATH) and keeps what it prints: the QR's
 * bytes exactly. zbarimg exits 4 when the image holds no symbol. */
static int zbar_decode(const char *png, gs_buf_t *out, gs_diag_t *diag)
{
    char *const argv[] = {"zbarimg", "--raw", "-q", "-Sbinary", (char *)png, NULL};
    posix_spawn_file_actions_t fa;
    int fds[2], status = 0, err, rd;
    pid_t pid;
    if (pipe(fds) != 0)
        return gs_diag_set(diag, APP_EXIT_FAIL, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    /* Its complaints (no display bus, ...) are not ours to show: the status says enough. */
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    err = posix_spawnp(&pid, "zbarimg", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        return gs_diag_set(diag, APP_EXIT_FAIL, "cannot run zbarimg (install zbar-tools): %s",
                           strerror(err));
    }
    rd = read_fd(fds[0], QR_MAX, out);
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rd != GS_OK)
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: the QR code's content is over %d bytes", png,
                           QR_MAX);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: no QR code found in the image", png);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out->len == 0)
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: zbarimg could not decode the image", png);
    return APP_EXIT_OK;
}

/* GET the link's URL: the receiver answers the document. */
static int fetch_link(const char *link, gs_buf_t *out, char *source, gs_diag_t *diag)
{
    const char *url = link + strlen(LINK_PREFIX);
    gs_http_request_t rq = {.url = url, .max_body = APP_DOC_MAX, .timeout_ms = APP_TIMEOUT_MS};
    gs_http_response_t r;
    gs_diag_t why = {{0}};
    int rc = APP_EXIT_OK, err;
    if (!app_http_url(url))
        return gs_diag_set(diag, APP_EXIT_INPUT,
                           "the link must be " LINK_PREFIX "http(s)://HOST/PATH: '%.200s'", link);
    snprintf(source, APP_URL_MAX, "%s", url);
    err = gs_http_run(&rq, &r, &why);
    if (err != GS_OK)
        rc = gs_diag_set(diag, err == GS_ETOOBIG ? APP_EXIT_INPUT : APP_EXIT_NETWORK,
                         "fetching the document: %s", why.msg);
    else if (r.status != 200)
        rc = gs_diag_set(diag, APP_EXIT_SERVICE, "fetching the document: GET %s answered %ld", url,
                         r.status);
    else if (gs_buf_append(out, r.body.data ? r.body.data : "", r.body.len) != GS_OK)
        rc = gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    gs_http_response_free(&r);
    return rc;
}

static bool is_png(const gs_buf_t *b)
{
    return b->len >= 8 && memcmp(b->data, "\x89PNG\r\n\x1a\n", 8) == 0;
}

static bool is_link(const char *s, size_t len)
{
    return len > strlen(LINK_PREFIX) && strncmp(s, LINK_PREFIX, strlen(LINK_PREFIX)) == 0;
}

/* What a QR code holds: a link to fetch, or the document itself. */
static int qr_content(const char *png, const gs_buf_t *qr, gs_buf_t *text, char *source,
                      gs_diag_t *diag)
{
    if (!is_link(qr->data, qr->len))
        return gs_buf_append(text, qr->data, qr->len) ? APP_EXIT_FAIL : APP_EXIT_OK;
    if (strlen(qr->data) != qr->len)
        return gs_diag_set(diag, APP_EXIT_INPUT, "%s: the QR's link holds a NUL byte", png);
    return fetch_link(qr->data, text, source, diag);
}

/* The document's text from arg: a link, or a file that is a PNG (its QR may hold a link)
 * or the document itself. */
static int document_text(const char *arg, gs_buf_t *text, char *source, gs_diag_t *diag)
{
    gs_buf_t file, qr;
    int rc;
    if (is_link(arg, strlen(arg)))
        return fetch_link(arg, text, source, diag);
    snprintf(source, APP_URL_MAX, "%s", arg);
    gs_buf_init(&file, FILE_MAX);
    gs_buf_init(&qr, QR_MAX);
    if (gs_file_read(arg, FILE_MAX, &file, diag) != GS_OK)
        rc = APP_EXIT_INPUT;
    else if (is_png(&file))
        rc = zbar_decode(arg, &qr, diag);
    else if (file.len > APP_DOC_MAX)
        rc = gs_diag_set(diag, APP_EXIT_INPUT, "%s: a document is at most %d bytes", arg,
                         APP_DOC_MAX);
    else
        rc =
            gs_buf_append(text, file.data ? file.data : "", file.len) ? APP_EXIT_FAIL : APP_EXIT_OK;
    if (rc == APP_EXIT_OK && qr.len > 0)
        rc = qr_content(arg, &qr, text, source, diag);
    gs_buf_free(&file);
    gs_buf_free(&qr);
    return rc;
}

int app_doc_load(const char *arg, app_doc_t *doc, gs_diag_t *diag)
{
    gs_buf_t text;
    int rc;
    memset(doc, 0, sizeof *doc);
    gs_buf_init(&text, APP_DOC_MAX);
    rc = document_text(arg, &text, doc->source, diag);
    if (rc == APP_EXIT_OK)
        rc = app_doc_parse(text.data ? text.data : "", text.len, doc->source, doc, diag);
    gs_buf_free(&text);
    return rc;
}
