/* app.c — `gridstor-sim app`, a command-line stand-in for the Threefold Connect app: it
 * creates identities (a key registered in the login directory, an account funded by the
 * chain's faucet), shows them, and scans signandpay documents (app_scan.c). It is a
 * client of the local grid and of whoever serves the document, nothing more: blocking
 * HTTP, one request after another. */
#include "app.h"
#include "sim.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define DEFAULT_FUND "10000"

enum { C_NEW = 1, C_LIST = 2, C_SHOW = 4, C_SCAN = 8, C_ALL = 15 };

typedef struct {
    unsigned cmd;
    const char *as, *login, *chain, *fund, *dir, *input;
    bool help;
    app_scan_opts_t scan;
} app_args_t;

typedef struct {
    const char *name;
    const char *arg;  /* NULL: a flag (a bool field) */
    size_t offset;    /* of the const char * or bool in app_args_t */
    unsigned cmds;    /* the commands that take it */
    const char *help; /* for --help */
} app_option_t;

#define FIELD(f) offsetof(app_args_t, f)

static const app_option_t options[] = {
    {"as", "NAME", FIELD(as), C_NEW | C_SHOW | C_SCAN, "the person: a 3Bot name like alice.3bot"},
    {"login", "URL", FIELD(login), C_NEW, "new: the login directory (gridstor-sim's \"login\")"},
    {"chain", "URL", FIELD(chain), C_NEW,
     "new: the chain (gridstor-sim's \"chain\", with /api/v1)"},
    {"fund", "TFT", FIELD(fund), C_NEW, "new: TFT from the faucet (default " DEFAULT_FUND ")"},
    {"dir", "DIR", FIELD(dir), C_ALL,
     "the identities' folder (default $GRIDSTOR_APP_DIR, else "
     "$HOME/.local/share/gridstor-sim/app)"},
    {"json", NULL, FIELD(scan.json), C_ALL, "print one JSON object (list: an array) on stdout"},
    {"wrong-key", NULL, FIELD(scan.wrong_key), C_SCAN, "scan: sign with a fresh random key"},
    {"sign-other", NULL, FIELD(scan.sign_other), C_SCAN, "scan: sign a different text"},
    {"short-pay", NULL, FIELD(scan.short_pay), C_SCAN, "scan: pay one strope less"},
    {"wrong-memo", NULL, FIELD(scan.wrong_memo), C_SCAN, "scan: pay with another memo"},
    {"no-pay", NULL, FIELD(scan.no_pay), C_SCAN,
     "scan: do not pay; name the person's last payment (or 64 zeros)"},
    {"save", "FILE", FIELD(scan.save), C_SCAN, "scan: write the callback body sent to FILE"},
    {"replay", "FILE", FIELD(scan.replay), C_SCAN,
     "scan: POST FILE (a saved body) to the document's callback, nothing else"},
    {"help", NULL, FIELD(help), C_ALL, "this text"},
};

static const struct {
    const char *name;
    unsigned cmd;
    const char *usage;
} commands[] = {
    {"new", C_NEW, "new --as NAME --login URL --chain URL [--fund TFT]"},
    {"list", C_LIST, "list"},
    {"show", C_SHOW, "show --as NAME"},
    {"scan", C_SCAN, "scan --as NAME QR.png|threebot://signandpay/#URL|DOCUMENT.json"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage:\n");
    for (size_t i = 0; i < GS_ARRAY_SIZE(commands); i++)
        fprintf(f, "  gridstor-sim app %s [--dir DIR] [--json]\n", commands[i].usage);
    fprintf(f, "\nA stand-in for the Threefold Connect app: identities, and signandpay "
               "documents signed, paid and called back.\n\noptions:\n");
    for (size_t i = 0; i < GS_ARRAY_SIZE(options); i++) {
        char flag[40];
        snprintf(flag, sizeof flag, "--%s%s%s", options[i].name, options[i].arg ? " " : "",
                 options[i].arg ? options[i].arg : "");
        fprintf(f, "  %-16s %s\n", flag, options[i].help);
    }
    fprintf(f, "\nexit status:\n"
               "  0  done (scan: the callback answered 2xx)\n"
               "  1  anything else (local files, out of memory)\n"
               "  2  bad arguments or input: unknown identity, no QR code, malformed document\n"
               "  3  scan: the callback answered another status (printed with its error)\n"
               "  4  a service, the document's link or the callback could not be reached\n"
               "  5  the login directory, the chain or the document's link refused a request\n");
}

/* ---- arguments ------------------------------------------------------------------------------ */

static const app_option_t *find_option(const char *name)
{
    for (size_t i = 0; i < GS_ARRAY_SIZE(options); i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static int set_option(app_args_t *a, const app_option_t *o, const char *value, gs_diag_t *diag)
{
    if (!(o->cmds & a->cmd))
        return gs_diag_set(diag, APP_EXIT_INPUT, "--%s does not apply to this command", o->name);
    if (o->arg == NULL)
        *(bool *)(void *)((char *)a + o->offset) = true;
    else
        *(const char **)(void *)((char *)a + o->offset) = value;
    return APP_EXIT_OK;
}

/* argv[0] is the command; "--name value" options and one input (scan). */
static int parse_args(app_args_t *a, int argc, char **argv, gs_diag_t *diag)
{
    for (int i = 1; i < argc; i++) {
        const app_option_t *o = strncmp(argv[i], "--", 2) == 0 ? find_option(argv[i] + 2) : NULL;
        int rc;
        if (o == NULL && argv[i][0] == '-' && argv[i][1] != '\0')
            return gs_diag_set(diag, APP_EXIT_INPUT, "unknown option '%s' (see --help)", argv[i]);
        if (o == NULL) {
            if (a->cmd != C_SCAN || a->input != NULL)
                return gs_diag_set(diag, APP_EXIT_INPUT, "unexpected argument '%s'", argv[i]);
            a->input = argv[i];
            continue;
        }
        if (o->arg != NULL && i + 1 >= argc)
            return gs_diag_set(diag, APP_EXIT_INPUT, "--%s needs %s", o->name, o->arg);
        if ((rc = set_option(a, o, o->arg ? argv[++i] : NULL, diag)) != APP_EXIT_OK)
            return rc;
    }
    return APP_EXIT_OK;
}

/* What each command needs, and flags that cannot go together. */
static int check_args(const app_args_t *a, gs_diag_t *diag)
{
    const app_scan_opts_t *s = &a->scan;
    if ((a->cmd & (C_NEW | C_SHOW | C_SCAN)) && a->as == NULL)
        return gs_diag_set(diag, APP_EXIT_INPUT, "--as NAME is required");
    if (a->cmd == C_NEW && (a->login == NULL || a->chain == NULL))
        return gs_diag_set(diag, APP_EXIT_INPUT, "new: --login URL and --chain URL are required");
    if (a->cmd == C_NEW && (!app_http_url(a->login) || !app_http_url(a->chain)))
        return gs_diag_set(diag, APP_EXIT_INPUT, "--login and --chain: expected http(s) URLs");
    if (a->cmd == C_SCAN && a->input == NULL)
        return gs_diag_set(diag, APP_EXIT_INPUT, "scan: what to scan? a PNG, a link or a file");
    if (s->replay &&
        (s->wrong_key || s->sign_other || s->short_pay || s->wrong_memo || s->no_pay || s->save))
        return gs_diag_set(diag, APP_EXIT_INPUT,
                           "--replay sends a saved body as it is: it takes "
                           "no other scan flag");
    if (s->no_pay && (s->short_pay || s->wrong_memo))
        return gs_diag_set(diag, APP_EXIT_INPUT,
                           "--no-pay pays nothing: not with --short-pay or "
                           "--wrong-memo");
    return APP_EXIT_OK;
}

/* ---- identities on the services ------------------------------------------------------------- */

static int register_login(const app_identity_t *id, gs_diag_t *diag)
{
    char url[APP_URL_MAX], b64[64], *body;
    json_t *j;
    app_answer_t a;
    int rc = app_url(url, id->login, "/api/users", diag);
    if (rc != APP_EXIT_OK)
        return rc;
    app_identity_pk_b64(id, b64, sizeof b64);
    j = json_pack("{s:s, s:s}", "doublename", id->name, "publicKey", b64);
    body = j ? gs_json_dumps(j) : NULL;
    json_decref(j);
    if (body == NULL)
        return gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    rc = app_http("POST", url, body, &a, diag);
    free(body);
    if (rc == APP_EXIT_OK && a.status != 200 && a.status != 201)
        rc = gs_diag_set(diag, APP_EXIT_SERVICE, "the login directory refused %s (%ld): %s",
                         id->name, a.status, a.text);
    app_answer_free(&a);
    return rc;
}

/* The faucet gives at most SIM_FAUCET_MAX stropes a call. */
static int fund(const app_identity_t *id, int64_t stropes, gs_diag_t *diag)
{
    char url[APP_URL_MAX], path[128], body[64];
    int rc;
    snprintf(path, sizeof path, "/accounts/%s/fund", id->address);
    if ((rc = app_url(url, id->chain, path, diag)) != APP_EXIT_OK)
        return rc;
    while (stropes > 0 && rc == APP_EXIT_OK) {
        int64_t part = stropes < SIM_FAUCET_MAX ? stropes : SIM_FAUCET_MAX;
        app_answer_t a;
        snprintf(body, sizeof body, "{\"amount\":%lld}", (long long)part);
        rc = app_http("POST", url, body, &a, diag);
        if (rc == APP_EXIT_OK && a.status != 200)
            rc = gs_diag_set(diag, APP_EXIT_SERVICE, "the faucet refused (%ld): %s", a.status,
                             a.text);
        app_answer_free(&a);
        stropes -= part;
    }
    return rc;
}

/* ---- reports -------------------------------------------------------------------------------- */

/* One identity as JSON; balance and sequence are null when unknown (negative). */
static json_t *identity_json(const app_identity_t *id, int64_t balance, int64_t sequence)
{
    char b64[64], tft[APP_TFT_TEXT_MAX];
    json_t *j;
    app_identity_pk_b64(id, b64, sizeof b64);
    app_format_tft(balance < 0 ? 0 : balance, tft);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "doublename", id->name, "publicKey", b64, "address",
                  id->address, "login", id->login, "chain", id->chain);
    if (j == NULL)
        return NULL;
    json_object_set_new(j, "balance", balance < 0 ? json_null() : json_string(tft));
    json_object_set_new(j, "balance_stropes", balance < 0 ? json_null() : json_integer(balance));
    json_object_set_new(j, "sequence", sequence < 0 ? json_null() : json_integer(sequence));
    json_object_set_new(j, "lastTransaction",
                        id->last_tx[0] ? json_string(id->last_tx) : json_null());
    return j;
}

static void print_json(json_t *j)
{
    char *text = j ? gs_json_dumps(j) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

static void print_identity(const app_identity_t *id, int64_t balance, int64_t sequence)
{
    char b64[64], tft[APP_TFT_TEXT_MAX];
    app_identity_pk_b64(id, b64, sizeof b64);
    app_format_tft(balance, tft);
    printf("name:        %s\npublic key:  %s\naddress:     %s\n", id->name, b64, id->address);
    printf("balance:     %s TFT (next sequence %lld)\n", tft, (long long)sequence);
    printf("login:       %s\nchain:       %s\n", id->login, id->chain);
}

/* The identity with its balance and sequence read from the chain. */
static int report_identity(const app_identity_t *id, bool as_json, gs_diag_t *diag)
{
    int64_t balance, sequence;
    int rc = app_chain_account(id->chain, id->address, &balance, &sequence, diag);
    if (rc == APP_EXIT_OK && as_json)
        print_json(identity_json(id, balance, sequence));
    else if (rc == APP_EXIT_OK)
        print_identity(id, balance, sequence);
    return rc;
}

/* ---- the commands --------------------------------------------------------------------------- */

static int cmd_new(const app_args_t *a, const char *dir, gs_diag_t *diag)
{
    app_identity_t id;
    int64_t stropes = 0;
    const char *reason = NULL;
    int rc;
    if (!app_parse_tft(a->fund ? a->fund : DEFAULT_FUND, &stropes, &reason))
        return gs_diag_set(diag, APP_EXIT_INPUT, "--fund: %s", reason);
    if ((rc = app_identity_create(dir, a->as, a->login, a->chain, &id, diag)) != APP_EXIT_OK)
        return rc;
    if ((rc = register_login(&id, diag)) != APP_EXIT_OK)
        app_identity_remove(dir, id.name); /* a key nobody knows is no identity */
    if (rc == APP_EXIT_OK)
        rc = fund(&id, stropes, diag);
    if (rc == APP_EXIT_OK)
        rc = report_identity(&id, a->scan.json, diag);
    app_identity_clear(&id);
    return rc;
}

static int cmd_show(const app_args_t *a, const char *dir, gs_diag_t *diag)
{
    app_identity_t id;
    int rc = app_identity_load(dir, a->as, false, &id, diag);
    return rc == APP_EXIT_OK ? report_identity(&id, a->scan.json, diag) : rc;
}

/* A balance from a chain answer, or -1 (the chain may be gone: list still lists). */
static int64_t answered_balance(const gs_http_response_t *r, int64_t *sequence)
{
    json_t *j = r->status == 200 ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
    int64_t balance = -1;
    *sequence = -1;
    if (!gs_json_int(j, "balance", &balance) || !gs_json_int(j, "sequence", sequence))
        balance = *sequence = -1;
    json_decref(j);
    return balance;
}

/* Prints the identities whose public part loaded, balances asked concurrently. */
static void list_identities(const app_identity_t *ids, size_t n, bool as_json)
{
    char(*urls)[APP_URL_MAX] = calloc(n, APP_URL_MAX);
    const char **url_ptrs = calloc(n, sizeof *url_ptrs);
    gs_http_response_t *resp = calloc(n, sizeof *resp);
    json_t *all = json_array();
    gs_diag_t ignored = {{0}};
    for (size_t i = 0; urls && url_ptrs && resp && i < n; i++) {
        char path[128];
        snprintf(path, sizeof path, "/accounts/%s", ids[i].address);
        app_url(urls[i], ids[i].chain, path, &ignored);
        url_ptrs[i] = urls[i];
    }
    if (urls && url_ptrs && resp)
        gs_http_get_all(url_ptrs, n, APP_ANSWER_MAX, APP_TIMEOUT_MS, resp, &ignored);
    for (size_t i = 0; i < n; i++) {
        int64_t sequence = -1, balance = resp ? answered_balance(&resp[i], &sequence) : -1;
        char tft[APP_TFT_TEXT_MAX];
        app_format_tft(balance, tft);
        if (as_json)
            json_array_append_new(all, identity_json(&ids[i], balance, sequence));
        else
            printf("%-24s %s  %s%s\n", ids[i].name, ids[i].address,
                   balance < 0 ? "balance unknown" : tft, balance < 0 ? "" : " TFT");
        if (resp)
            gs_http_response_free(&resp[i]);
    }
    if (as_json)
        print_json(all);
    else
        json_decref(all);
    free(urls);
    free(url_ptrs);
    free(resp);
}

static int cmd_list(const app_args_t *a, const char *dir, gs_diag_t *diag)
{
    gs_strlist_t names;
    app_identity_t *ids;
    size_t n = 0;
    int rc = app_identity_names(dir, &names, diag);
    if (rc != APP_EXIT_OK)
        return rc;
    ids = calloc(names.n ? names.n : 1, sizeof *ids);
    if (ids == NULL)
        rc = gs_diag_set(diag, APP_EXIT_FAIL, "out of memory");
    for (size_t i = 0; ids && i < names.n; i++) {
        gs_diag_t why = {{0}};
        if (app_identity_load(dir, names.items[i], false, &ids[n], &why) == APP_EXIT_OK)
            n++;
        else
            fprintf(stderr, "gridstor-sim app: skipped: %s\n", why.msg);
    }
    if (ids && n == 0 && !a->scan.json)
        printf("no identities in %s\n", dir);
    else if (ids)
        list_identities(ids, n, a->scan.json);
    free(ids);
    gs_strlist_free(&names);
    return rc;
}

int gs_sim_app_main(int argc, char **argv)
{
    app_args_t a = {0};
    gs_diag_t diag = {{0}};
    char dir[APP_PATH_MAX];
    int rc = APP_EXIT_INPUT;
    for (size_t i = 0; argc > 1 && i < GS_ARRAY_SIZE(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            a.cmd = commands[i].cmd;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? APP_EXIT_INPUT : APP_EXIT_OK;
    }
    if (a.cmd == 0) {
        fprintf(stderr, "gridstor-sim app: unknown command '%s' (see --help)\n", argv[1]);
        return APP_EXIT_INPUT;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "gridstor-sim app: cannot initialise libsodium\n");
        return APP_EXIT_FAIL;
    }
    if ((rc = parse_args(&a, argc - 1, argv + 1, &diag)) == APP_EXIT_OK && a.help) {
        usage(stdout);
        return APP_EXIT_OK;
    }
    if (rc == APP_EXIT_OK && (rc = check_args(&a, &diag)) == APP_EXIT_OK)
        rc = app_store_dir(a.dir, dir, sizeof dir, &diag);
    if (rc == APP_EXIT_OK && a.cmd == C_SCAN)
        return app_scan(dir, a.as, a.input, &a.scan); /* reports for itself */
    if (rc == APP_EXIT_OK)
        rc = a.cmd == C_NEW    ? cmd_new(&a, dir, &diag)
             : a.cmd == C_SHOW ? cmd_show(&a, dir, &diag)
                               : cmd_list(&a, dir, &diag);
    if (rc != APP_EXIT_OK)
        fprintf(stderr, "gridstor-sim app: %s\n", diag.msg);
    return rc;
}
