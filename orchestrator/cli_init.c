/* cli_init.c — `gridstor init`: the install's identity. A new ed25519 key (or one
 * restored from its seed text), saved 0600 in gridstord's data folder before anything
 * is sent, registered in the explorer's phonebook, and its wallet on the chain funded
 * when asked (the local grid's faucet). Run again, it finishes what an interrupted
 * run left (an unregistered identity) and changes nothing once done. */
#include "orchestrator.h"
#include "payments.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HTTP_TIMEOUT_MS 15000

typedef struct {
    const char *config, *name, *email, *fund;
    bool restore, json;
} opts_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: gridstor init [--config FILE] [--name NAME.3bot] [--email ADDR]\n"
                 "                     [--restore] [--fund TFT] [--json]\n\n"
                 "Creates this install's identity: an ed25519 key that owns its pools and\n"
                 "workloads and a wallet on the payment chain. The seed is printed once: write\n"
                 "it down; `gridstor init --restore` reads it back from standard input.\n\n"
                 "  --config FILE  gridstord's configuration (data_dir, explorer, chain)\n"
                 "  --name NAME    the phonebook name (default gridstor-<8 hex>.3bot)\n"
                 "  --email ADDR   the phonebook email (default none)\n"
                 "  --restore      read the seed text from standard input instead of a new key\n"
                 "  --fund TFT     fund the wallet from the chain's faucet (local grid only)\n"
                 "  --json         print {\"name\",\"tid\",\"address\",\"seed\"} as JSON\n");
}

static int usage_error(const char *what)
{
    fprintf(stderr, "gridstor init: %s\n\nRun 'gridstor init --help' for usage.\n", what);
    return GS_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"name", required_argument, NULL, 'n'},
        {"email", required_argument, NULL, 'e'},  {"restore", no_argument, NULL, 'r'},
        {"fund", required_argument, NULL, 'f'},   {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'e':
            o->email = optarg;
            break;
        case 'r':
            o->restore = true;
            break;
        case 'f':
            o->fund = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return usage_error("unknown or incomplete option; see --help");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument");
    return GS_EXIT_OK;
}

/* POSTs body to base+path; GS_OK for a 2xx, else the answer's error text in diag. */
static int post(const char *base, const char *path, const char *body, long *status, gs_diag_t *diag)
{
    char url[1200];
    const char *headers[] = {"Content-Type: application/json", NULL};
    gs_http_response_t resp;
    gs_http_request_t rq = {.method = "POST",
                            .url = url,
                            .headers = headers,
                            .body = body,
                            .body_len = strlen(body),
                            .timeout_ms = HTTP_TIMEOUT_MS};
    int err;
    snprintf(url, sizeof url, "%s%s", base, path);
    err = gs_http_run(&rq, &resp, diag);
    *status = resp.status;
    if (err == GS_OK && (resp.status < 200 || resp.status > 299)) {
        json_t *j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
        err = gs_diag_set(diag, GS_EHTTP, "%s: %ld %s", url, resp.status,
                          j && gs_json_str(j, "error") ? gs_json_str(j, "error") : "");
        json_decref(j);
    }
    gs_http_response_free(&resp);
    return err;
}

/* The phonebook's id of id->name, which must carry our key. */
static int phonebook_id(gs_identity_t *id, const char *explorer, const char *pubkey,
                        gs_diag_t *diag)
{
    char url[1200];
    const char *urls[1] = {url};
    gs_http_response_t resp;
    json_t *list = NULL, *user;
    int err;
    snprintf(url, sizeof url, "%s/users?name=%s", explorer, id->name);
    err = gs_http_get_all(urls, 1, 1 << 20, HTTP_TIMEOUT_MS, &resp, diag);
    if (err == GS_OK)
        list = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    user = json_array_get(list, 0);
    if (err == GS_OK && !gs_json_int(user, "id", &id->tid))
        err = gs_diag_set(diag, GS_EHTTP, "%s: the phonebook has no id for %s", url, id->name);
    else if (err == GS_OK && (gs_json_str(user, "pubkey") == NULL ||
                              strcmp(gs_json_str(user, "pubkey"), pubkey) != 0)) {
        id->tid = 0;
        err = gs_diag_set(diag, GS_EINVAL,
                          "the name %s is taken in the phonebook by another key; choose "
                          "another with --name",
                          id->name);
    }
    json_decref(list);
    gs_http_response_free(&resp);
    return err;
}

/* The phonebook registration, signed as the explorer checks users: hex ed25519 over
 * "0" + name + email + host + description + pubkey. */
static int register_identity(gs_identity_t *id, const char *explorer, const char *email,
                             gs_diag_t *diag)
{
    static const char description[] = "gridstor install";
    char pubkey[65], text[512], sig[129], *body;
    json_t *j;
    long status;
    int err;
    sodium_bin2hex(pubkey, sizeof pubkey, id->pk, sizeof id->pk);
    snprintf(text, sizeof text, "0%s%s%s%s", id->name, email, description, pubkey);
    gs_sign_hex(id, text, strlen(text), sig);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", id->name, "email", email, "pubkey",
                  pubkey, "host", "", "description", description, "signature", sig);
    body = gs_json_dumps(j);
    json_decref(j);
    err = body ? GS_OK : gs_diag_set(diag, GS_ENOMEM, "out of memory");
    if (err == GS_OK) {
        err = post(explorer, "/users", body, &status, diag);
        if (err == GS_EHTTP && status == 409) /* maybe ours, from a run that was cut short */
            err = GS_OK;
    }
    if (err == GS_OK)
        err = phonebook_id(id, explorer, pubkey, diag);
    free(body);
    return err;
}

static int fund(const gs_identity_t *id, const char *chain, const char *tft, gs_diag_t *diag)
{
    uint64_t stropes;
    char path[128], body[64];
    long status;
    int err = gs_parse_tft(tft, &stropes, diag);
    while (err == GS_OK && stropes > 0) { /* the faucet gives at most 100000 TFT a call */
        uint64_t part = stropes > 1000000000000ULL ? 1000000000000ULL : stropes;
        snprintf(path, sizeof path, "/accounts/%s/fund", id->address);
        snprintf(body, sizeof body, "{\"amount\":%" PRIu64 "}", part);
        err = post(chain, path, body, &status, diag);
        stropes -= part;
    }
    return err;
}

/* A new identity, or the seed text read from standard input. */
static int make_identity(const opts_t *o, gs_identity_t *id, gs_diag_t *diag)
{
    char line[256];
    if (!o->restore) {
        gs_identity_generate(id);
        return GS_OK;
    }
    if (isatty(STDIN_FILENO))
        fprintf(stderr, "seed: ");
    if (fgets(line, sizeof line, stdin) == NULL)
        return gs_diag_set(diag, GS_EINVAL, "--restore: no seed on standard input");
    line[strcspn(line, "\r\n")] = '\0';
    {
        int err = gs_identity_from_seed_text(id, line, diag);
        sodium_memzero(line, sizeof line);
        return err;
    }
}

static void report(const opts_t *o, const gs_identity_t *id, bool created)
{
    char seed[GS_SEED_TEXT_LEN];
    gs_identity_seed_text(id, seed);
    if (o->json) {
        json_t *j = json_pack("{s:s, s:I, s:s, s:s}", "name", id->name, "tid", (json_int_t)id->tid,
                              "address", id->address, "seed", seed);
        char *text = gs_json_dumps(j);
        printf("%s\n", text);
        free(text);
        json_decref(j);
    } else {
        printf("identity: %s (phonebook id %" PRId64 ")\nwallet:   %s\n", id->name, id->tid,
               id->address);
        if (created)
            printf("\nseed (write it down; it restores this install with "
                   "`gridstor init --restore`):\n  %s\n",
                   seed);
    }
    sodium_memzero(seed, sizeof seed);
}

static int run(const opts_t *o, const gs_daemon_config_t *cfg, gs_diag_t *diag)
{
    char path[1200];
    gs_identity_t id;
    bool created = false;
    int err;
    snprintf(path, sizeof path, "%s/identity.json", cfg->data_dir);
    if (cfg->explorer == NULL)
        return gs_diag_set(diag, GS_EINVAL,
                           "the configuration names no explorer: add "
                           "`explorer: URL` to it");
    err = gs_identity_load(&id, path, diag);
    if (err == GS_ENOENT) {
        if ((err = make_identity(o, &id, diag)) != GS_OK)
            return err;
        if (o->name)
            snprintf(id.name, sizeof id.name, "%s", o->name);
        else
            snprintf(id.name, sizeof id.name, "gridstor-%.8s.3bot", id.address);
        created = true;
        if ((err = gs_mkdir_p(cfg->data_dir, diag)) == GS_OK) {
            chmod(cfg->data_dir, 0700);
            err = gs_identity_save(&id, path, diag); /* before anything leaves this machine */
        }
    } else if (err == GS_OK && o->restore) {
        err =
            gs_diag_set(diag, GS_EINVAL, "%s exists already; --restore only makes a new one", path);
    }
    if (err == GS_OK && id.tid == 0 &&
        (err = register_identity(&id, cfg->explorer, o->email ? o->email : "", diag)) == GS_OK)
        err = gs_identity_save(&id, path, diag);
    if (err == GS_OK && o->fund) {
        err = cfg->chain ? fund(&id, cfg->chain, o->fund, diag)
                         : gs_diag_set(diag, GS_EINVAL, "--fund: the configuration names no chain");
    }
    if (err == GS_OK)
        report(o, &id, created);
    gs_identity_clear(&id);
    return err;
}

int gs_cli_init(int argc, char **argv)
{
    opts_t o = {0};
    gs_daemon_config_t cfg;
    gs_diag_t diag = {{0}};
    int rc = parse_args(argc, argv, &o), err;
    if (rc != GS_EXIT_OK)
        return rc < 0 ? GS_EXIT_OK : rc;
    if (sodium_init() < 0 || gs_daemon_config_load(o.config, &cfg, &diag) != GS_OK) {
        fprintf(stderr, "gridstor init: %s\n", diag.msg);
        return GS_EXIT_USAGE;
    }
    err = run(&o, &cfg, &diag);
    gs_daemon_config_free(&cfg);
    if (err == GS_OK)
        return GS_EXIT_OK;
    fprintf(stderr, "gridstor init: %s\n", diag.msg);
    return err == GS_EHTTP ? GS_EXIT_GRID : err == GS_EINVAL ? GS_EXIT_USAGE : GS_EXIT_FAILURE;
}
