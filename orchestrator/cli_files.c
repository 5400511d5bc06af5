/* cli_files.c — files in a deployment from the command line: `gridstor put FILE`,
 * `get ID [-o FILE]`, `check ID [--hard]` and `repair ID`, straight through the codec
 * with a codec configuration file (`--codec FILE`, docs/codec-format.md) or through a
 * deployment's gateway (`--gw URL`, gwclient.c), with the same output, and `recover`,
 * which rebuilds the metadata namespace from the backups in the data backends. Each runs the
 * codec on a private libuv loop and shows a progress line on a terminal for long
 * transfers. Exit statuses: 0 done, 2 arguments or configuration, 4 too few backends or
 * no metadata namespace answered, 6 the file is damaged beyond repair or a check found it
 * unhealthy, 8 no such file, 1 anything else. */
#include "orchestrator.h"

#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "gwclient.h"

#define EXIT_NOT_FOUND 8

/* The options of the file commands and recover, parsed by one parser. */
typedef struct {
    const char *codec_file, *out_file, *ext, *gw_url, *secret_file, *gw_key, *into;
    bool json, hard, progress;
} opts_t;

typedef struct {
    const char *cmd;
    opts_t o;
    uv_loop_t loop;
    gs_codec_config_t cfg;
    gs_codec_t *codec;
    /* the operation's outcome */
    bool done;
    int err;
    char msg[GS_DIAG_MAX];
    char id[GS_CODEC_ID_MAX];
    gs_codec_health_t health;
    unsigned rebuilt;
    gs_meta_t *meta;
    FILE *out;
    char part[1100]; /* get -o FILE writes FILE.part, renamed once the hash matched */
    int in_fd;
    uint64_t total, moved;
    time_t started;
} run_t;

static int exit_for(int err)
{
    switch (err) {
    case GS_OK:
        return GS_EXIT_OK;
    case GS_EINVAL:
        return GS_EXIT_USAGE;
    case GS_EUNAVAIL:
    case GS_ECONN:
    case GS_ETIMEDOUT:
        return GS_EXIT_GRID;
    case GS_ENOENT:
        return EXIT_NOT_FOUND;
    case GS_ECORRUPT:
        return GS_EXIT_FAILED;
    default:
        return GS_EXIT_FAILURE;
    }
}

static int fail(const run_t *r, int err, const char *msg)
{
    fprintf(stderr, "gridstor %s: %s\n", r->cmd, msg && msg[0] ? msg : gs_strerror(err));
    return exit_for(err);
}

/* ---- progress --------------------------------------------------------------------------- */

static void show_progress(run_t *r, bool last)
{
    double secs = difftime(time(NULL), r->started);
    double mib = (double)r->moved / (1 << 20);
    if (!r->o.progress)
        return;
    if (r->total > 0)
        fprintf(stderr, "\r%s: %5.1f%% of %.1f MiB, %.1f MiB/s   ", r->cmd,
                100.0 * (double)r->moved / (double)r->total, (double)r->total / (1 << 20),
                secs > 0 ? mib / secs : mib);
    else
        fprintf(stderr, "\r%s: %.1f MiB   ", r->cmd, mib);
    if (last)
        fputc('\n', stderr);
}

static void on_put_progress(uint64_t bytes, void *ud)
{
    run_t *r = ud;
    r->moved = bytes;
    show_progress(r, false);
}

/* ---- the operations --------------------------------------------------------------------- */

static void finish(run_t *r, int err, const char *msg)
{
    r->done = true;
    r->err = err;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
}

static void on_put(int err, const char *msg, const char *id, void *ud)
{
    run_t *r = ud;
    if (id != NULL)
        snprintf(r->id, sizeof r->id, "%s", id);
    finish(r, err, msg);
}

static void on_bytes(const uint8_t *p, size_t n, void *ud)
{
    run_t *r = ud;
    if (fwrite(p, 1, n, r->out) != n && r->err == GS_OK)
        r->err = GS_EIO;
    r->moved += n;
    show_progress(r, false);
}

static void on_read(int err, const char *msg, void *ud)
{
    run_t *r = ud;
    finish(r, r->err ? r->err : err, r->err ? "writing the output failed" : msg);
}

static void on_meta(int err, const char *msg, gs_meta_t *m, void *ud)
{
    run_t *r = ud;
    gs_diag_t diag = {{0}};
    if (err != GS_OK) {
        finish(r, err, msg);
        return;
    }
    r->meta = m;
    r->total = m->size;
    if ((err = gs_codec_retrieve(gs_codec_shards(r->codec), m, 0, UINT64_MAX, on_bytes, on_read, r,
                                 NULL, &diag)) != GS_OK)
        finish(r, err, diag.msg);
}

static void on_check(int err, const char *msg, const gs_codec_health_t *h, void *ud)
{
    run_t *r = ud;
    if (h != NULL)
        r->health = *h;
    finish(r, err, msg);
}

static void on_repair(int err, const char *msg, unsigned rebuilt, void *ud)
{
    run_t *r = ud;
    r->rebuilt = rebuilt;
    finish(r, err, msg);
}

/* get: FILE.part for -o FILE (renamed once whole), else standard output. */
static int open_output(run_t *r, char *msg, size_t len)
{
    if (r->o.out_file != NULL)
        snprintf(r->part, sizeof r->part, "%s.part", r->o.out_file);
    r->out = r->o.out_file ? fopen(r->part, "wb") : stdout;
    if (r->out == NULL) {
        snprintf(msg, len, "%.900s: cannot write it", r->part);
        return GS_EIO;
    }
    return GS_OK;
}

/* Starts the command's operation on the codec; the outcome comes to r. */
static int start(run_t *r, const char *arg, gs_diag_t *diag)
{
    struct stat st;
    int fd, err;
    if (strcmp(r->cmd, "put") == 0) {
        char ext[GS_CODEC_EXT_MAX + 1] = "";
        if ((fd = r->in_fd = open(arg, O_RDONLY | O_CLOEXEC)) < 0)
            return gs_diag_set(diag, GS_ENOENT, "%s: cannot open it", arg);
        if (fstat(fd, &st) == 0)
            r->total = (uint64_t)st.st_size;
        if (r->o.ext == NULL && gs_codec_ext_from_name(arg, ext))
            r->o.ext = gs_strdup(ext);
        gs_codec_set_progress(r->codec, on_put_progress);
        return gs_codec_put_fd(r->codec, fd, r->o.ext, on_put, r, diag);
    }
    if (strcmp(r->cmd, "get") == 0) {
        if ((err = open_output(r, diag->msg, sizeof diag->msg)) != GS_OK)
            return err;
        return gs_codec_lookup(r->codec, arg, on_meta, r, diag);
    }
    if (strcmp(r->cmd, "check") == 0)
        return gs_codec_check(r->codec, arg, r->o.hard, on_check, r, diag);
    return gs_codec_repair(r->codec, arg, on_repair, r, diag);
}

/* The command through a gateway instead (blocking calls). */
static void on_gw_progress(uint64_t moved, uint64_t total, void *ud)
{
    run_t *r = ud;
    r->moved = moved;
    if (total > 0)
        r->total = total;
    show_progress(r, false);
}

static int run_gw(run_t *r, const char *arg)
{
    gs_gwc_t c;
    struct stat st;
    int err = gs_gwc_init(&c, r->o.gw_url, r->o.secret_file, r->o.gw_key);
    c.progress = on_gw_progress;
    c.ud = r;
    if (err != GS_OK) {
    } else if (strcmp(r->cmd, "put") == 0) {
        char ext[GS_CODEC_EXT_MAX + 1] = "";
        if ((r->in_fd = open(arg, O_RDONLY | O_CLOEXEC)) < 0 || fstat(r->in_fd, &st) != 0) {
            err = GS_ENOENT;
            snprintf(c.msg, sizeof c.msg, "%s: cannot open it", arg);
        } else {
            r->total = (uint64_t)st.st_size;
            if (r->o.ext == NULL && gs_codec_ext_from_name(arg, ext))
                r->o.ext = gs_strdup(ext);
            err = gs_gwc_put(&c, r->in_fd, r->total, r->o.ext, r->id);
        }
    } else if (strcmp(r->cmd, "get") == 0) {
        if ((err = open_output(r, c.msg, sizeof c.msg)) == GS_OK)
            err = gs_gwc_get(&c, arg, r->out, &r->total);
    } else if (strcmp(r->cmd, "check") == 0) {
        err = gs_gwc_check(&c, arg, r->o.hard, &r->health);
    } else {
        err = gs_gwc_repair(&c, arg, &r->rebuilt);
    }
    finish(r, err, c.msg);
    return err;
}

/* ---- the outcome -------------------------------------------------------------------------- */

static json_t *health_json(const gs_codec_health_t *h)
{
    static const char *const names[] = {"good", "missing", "bad"};
    json_t *shards = json_array();
    for (unsigned i = 0; i < h->n_shards; i++)
        json_array_append_new(shards, json_string(names[h->shard_state[i] % 3]));
    return json_pack("{s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:o}", "shards", (json_int_t)h->n_shards,
                     "good", (json_int_t)h->good, "missing", (json_int_t)h->missing, "bad",
                     (json_int_t)h->bad, "readable", h->readable, "hard_checked", h->hard_checked,
                     "hash_ok", h->hash_ok, "shard_state", shards);
}

static bool healthy(const run_t *r)
{
    const gs_codec_health_t *h = &r->health;
    return h->good == h->n_shards && (!h->hard_checked || h->hash_ok);
}

static int report(run_t *r)
{
    json_t *j = NULL;
    if (r->err != GS_OK)
        return fail(r, r->err, r->msg);
    if (strcmp(r->cmd, "put") == 0)
        j = json_pack("{s:s, s:I}", "id", r->id, "size", (json_int_t)r->total);
    else if (strcmp(r->cmd, "check") == 0)
        j = health_json(&r->health);
    else if (strcmp(r->cmd, "repair") == 0)
        j = json_pack("{s:I}", "rebuilt", (json_int_t)r->rebuilt);
    if (j != NULL && r->o.json) {
        char *text = gs_json_dumps(j);
        printf("%s\n", text ? text : "{}");
        free(text);
    } else if (strcmp(r->cmd, "put") == 0)
        printf("%s\n", r->id);
    else if (strcmp(r->cmd, "check") == 0)
        printf("%u of %u shards good, %u missing, %u bad%s%s\n", r->health.good, r->health.n_shards,
               r->health.missing, r->health.bad,
               r->health.readable ? "; readable" : "; NOT readable",
               r->health.hard_checked
                   ? (r->health.hash_ok ? "; restored and hash verified" : "; restoring it FAILED")
                   : "");
    else if (strcmp(r->cmd, "repair") == 0)
        printf(r->rebuilt ? "%u shard%s rebuilt\n" : "healthy: nothing to rebuild\n", r->rebuilt,
               r->rebuilt == 1 ? "" : "s");
    json_decref(j);
    if (strcmp(r->cmd, "check") == 0 && !healthy(r))
        return GS_EXIT_FAILED;
    return GS_EXIT_OK;
}

/* ---- arguments ---------------------------------------------------------------------------- */

static void usage(FILE *out, const char *cmd)
{
    static const struct {
        const char *cmd, *synopsis, *what;
    } forms[] = {
        {"put", "put FILE [--ext EXT]",
         "Stores FILE (its extension from its name unless --ext) and prints its id."},
        {"get", "get ID [-o FILE]", "Writes the file to FILE (default: standard output)."},
        {"check", "check ID [--hard]",
         "Soft: every shard's chunks present and sound. Hard: the file restored and its\n"
         "hash verified. Exit 6 when the file is not healthy."},
        {"repair", "repair ID", "Rebuilds only the shards that are missing or bad."},
    };
    for (size_t i = 0; i < GS_ARRAY_SIZE(forms); i++) {
        if (strcmp(forms[i].cmd, cmd) != 0)
            continue;
        fprintf(out,
                "usage: gridstor %s (--codec FILE | --gw URL [--secret-file F] [--gw-key HEX])\n"
                "       [--json] [--progress]\n\n%s\n\n"
                "  --codec FILE   straight through the codec with its configuration: backends,\n"
                "                 metadata 0-dbs, the key (docs/codec-format.md)\n"
                "  --gw URL       through a deployment's gateway (M1 for put and repair; any\n"
                "                 for get and check), e.g. http://[2a02::1]:7481\n"
                "  --secret-file F  the gateway's secret (its first line); default: the\n"
                "                 environment variable GRIDSTOR_GW_SECRET, else none\n"
                "  --gw-key HEX   put: the key file ids must be signed with (the deployment's\n"
                "                 gateway_public_key; default GRIDSTOR_GW_KEY, else the key\n"
                "                 the gateway publishes, which catches only damage)\n"
                "  --json         print JSON for scripts\n"
                "  --progress     show progress (default when standard error is a terminal)\n\n"
                "Exit: 0 done, 2 arguments or configuration, 4 too few backends answer, 6\n"
                "damaged (or unhealthy for check), 8 no such file, 1 anything else.\n",
                forms[i].synopsis, forms[i].what);
    }
}

/* Which commands take an option: the file commands, recover, or both. */
enum { FOR_FILES = 1, FOR_RECOVER = 2, FOR_ALL = 3 };

/* Each option, which commands take it, and what it sets in opts_t: a string or a flag at
 * `field` (or nothing: --help). */
enum { SETS_STRING, SETS_FLAG, SETS_NOTHING };

static const struct {
    struct option opt;
    unsigned for_cmds, sets;
    size_t field;
} options[] = {
    {{"codec", required_argument, NULL, 'c'}, FOR_ALL, SETS_STRING, offsetof(opts_t, codec_file)},
    {{"output", required_argument, NULL, 'o'}, FOR_FILES, SETS_STRING, offsetof(opts_t, out_file)},
    {{"gw", required_argument, NULL, 'g'}, FOR_FILES, SETS_STRING, offsetof(opts_t, gw_url)},
    {{"secret-file", required_argument, NULL, 's'},
     FOR_FILES,
     SETS_STRING,
     offsetof(opts_t, secret_file)},
    {{"gw-key", required_argument, NULL, 'k'}, FOR_FILES, SETS_STRING, offsetof(opts_t, gw_key)},
    {{"ext", required_argument, NULL, 'e'}, FOR_FILES, SETS_STRING, offsetof(opts_t, ext)},
    {{"into", required_argument, NULL, 'i'}, FOR_RECOVER, SETS_STRING, offsetof(opts_t, into)},
    {{"hard", no_argument, NULL, 'H'}, FOR_FILES, SETS_FLAG, offsetof(opts_t, hard)},
    {{"json", no_argument, NULL, 'j'}, FOR_ALL, SETS_FLAG, offsetof(opts_t, json)},
    {{"progress", no_argument, NULL, 'p'}, FOR_ALL, SETS_FLAG, offsetof(opts_t, progress)},
    {{"help", no_argument, NULL, 'h'}, FOR_ALL, SETS_NOTHING, 0},
};

/* Option ch into o; false when the command (for_cmds) takes no such option. */
static bool take_option(opts_t *o, int ch, unsigned for_cmds)
{
    for (size_t i = 0; i < GS_ARRAY_SIZE(options); i++) {
        if (options[i].opt.val != ch)
            continue;
        if (!(options[i].for_cmds & for_cmds))
            return false;
        if (options[i].sets == SETS_STRING)
            *(const char **)((char *)o + options[i].field) = optarg;
        else if (options[i].sets == SETS_FLAG)
            *(bool *)((char *)o + options[i].field) = true;
        return true;
    }
    return false;
}

/* The options of cmd (for_cmds says which it takes) and nargs operands (the one into
 * *arg). GS_EXIT_OK, -1 after --help, or GS_EXIT_USAGE. */
static int parse(int argc, char **argv, const char *cmd, unsigned for_cmds, int nargs, opts_t *o,
                 const char **arg, void (*usage_of)(FILE *out, const char *cmd))
{
    struct option longopts[GS_ARRAY_SIZE(options) + 1] = {{0}};
    int ch;
    for (size_t i = 0; i < GS_ARRAY_SIZE(options); i++)
        longopts[i] = options[i].opt;
    opterr = 0;
    optind = 1;
    o->progress = isatty(STDERR_FILENO);
    while ((ch = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            usage_of(stdout, cmd);
            return -1;
        }
        if (!take_option(o, ch, for_cmds)) {
            usage_of(stderr, cmd);
            return GS_EXIT_USAGE;
        }
    }
    if (argc - optind != nargs) {
        usage_of(stderr, cmd);
        return GS_EXIT_USAGE;
    }
    if (nargs == 1)
        *arg = argv[optind];
    return GS_EXIT_OK;
}

/* The file commands: --codec or --gw, and the gateway's options only with --gw. */
static int parse_files(int argc, char **argv, run_t *r, const char **arg)
{
    int rc = parse(argc, argv, r->cmd, FOR_FILES, 1, &r->o, arg, usage);
    if (rc == GS_EXIT_OK &&
        ((r->o.codec_file == NULL) == (r->o.gw_url == NULL) ||
         ((r->o.secret_file != NULL || r->o.gw_key != NULL) && r->o.gw_url == NULL))) {
        usage(stderr, r->cmd);
        rc = GS_EXIT_USAGE;
    }
    return rc;
}

/* get -o FILE: FILE appears only whole and verified; a failed read leaves nothing. */
static int settle_output(run_t *r, int rc)
{
    if (fclose(r->out) != 0 && rc == GS_EXIT_OK)
        rc = fail(r, GS_EIO, "writing the output failed");
    if (rc == GS_EXIT_OK && rename(r->part, r->o.out_file) != 0)
        rc = fail(r, GS_EIO, "renaming the output into place failed");
    if (rc != GS_EXIT_OK)
        unlink(r->part);
    return rc;
}

/* The command straight through the codec on a private loop; GS_EINVAL for a configuration
 * that does not load (r->msg says why), else GS_OK with the outcome in r. */
static int run_codec(run_t *r, const char *arg)
{
    gs_diag_t diag = {{0}};
    int err;
    if (gs_codec_config_load(r->o.codec_file, &r->cfg, &diag) != GS_OK) {
        snprintf(r->msg, sizeof r->msg, "%s", diag.msg);
        return GS_EINVAL;
    }
    uv_loop_init(&r->loop);
    err = gs_codec_open(&r->loop, &r->cfg, NULL, &r->codec, &diag);
    if (err == GS_OK && (err = start(r, arg, &diag)) == GS_OK)
        while (!r->done)
            uv_run(&r->loop, UV_RUN_ONCE);
    if (err != GS_OK)
        finish(r, err, diag.msg);
    gs_codec_close(r->codec);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    return GS_OK;
}

static int run_files(int argc, char **argv, const char *cmd)
{
    run_t r = {.cmd = cmd, .started = time(NULL), .in_fd = -1};
    const char *arg = NULL, *ext_given;
    int rc = parse_files(argc, argv, &r, &arg), err;
    if (rc != GS_EXIT_OK)
        return rc < 0 ? GS_EXIT_OK : rc;
    ext_given = r.o.ext;
    if (r.o.gw_url != NULL)
        run_gw(&r, arg);
    else if ((err = run_codec(&r, arg)) != GS_OK)
        return fail(&r, err, r.msg);
    if (r.moved > 0)
        show_progress(&r, true);
    if (r.in_fd > 0)
        close(r.in_fd);
    rc = report(&r);
    if (r.out != NULL && r.out != stdout)
        rc = settle_output(&r, rc);
    if (r.o.ext != ext_given)
        free((char *)r.o.ext);
    gs_meta_free(r.meta);
    gs_codec_config_free(&r.cfg);
    return rc;
}

int gs_cli_put(int argc, char **argv)
{
    return run_files(argc, argv, "put");
}

int gs_cli_get(int argc, char **argv)
{
    return run_files(argc, argv, "get");
}

int gs_cli_check(int argc, char **argv)
{
    return run_files(argc, argv, "check");
}

int gs_cli_repair(int argc, char **argv)
{
    return run_files(argc, argv, "repair");
}

/* ---- recover ------------------------------------------------------------------------------ */

typedef struct {
    opts_t o;
    bool done;
    int err;
    char msg[GS_DIAG_MAX];
    gs_recover_stats_t st;
} recover_run_t;

static void on_recover_progress(gs_recover_phase_t phase, const gs_recover_stats_t *st, void *ud)
{
    recover_run_t *r = ud;
    if (!r->o.progress)
        return;
    if (phase == GS_RECOVER_SCAN)
        fprintf(stderr,
                "\rrecover: scanning %u backends: %" PRIu64 " values, %" PRIu64 " backups, %" PRIu64
                " that do not open   ",
                st->backends, st->values, st->backups, st->unopened);
    else
        fprintf(stderr,
                "\rrecover: writing id %" PRIu64 " of %" PRIu64 "                          ",
                st->next_id, st->end_id);
}

static void on_recovered(int err, const char *msg, const gs_recover_stats_t *st, void *ud)
{
    recover_run_t *r = ud;
    r->done = true;
    r->err = err;
    r->st = *st;
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
}

static json_t *recover_json(const gs_recover_stats_t *st)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "backends",
                     (json_int_t)st->backends, "backends_down", (json_int_t)st->backends_down,
                     "values", (json_int_t)st->values, "backups", (json_int_t)st->backups,
                     "unopened", (json_int_t)st->unopened, "undecodable",
                     (json_int_t)st->undecodable, "records", (json_int_t)st->records, "first_id",
                     (json_int_t)st->first_id, "next_id", (json_int_t)st->next_id, "restored",
                     (json_int_t)st->restored, "gaps", (json_int_t)st->gaps, "end_id",
                     (json_int_t)st->end_id);
}

static int recover_report(const recover_run_t *r, const char *into)
{
    const gs_recover_stats_t *st = &r->st;
    json_t *j;
    char *text;
    if (r->o.progress)
        fputc('\n', stderr);
    if (st->backends_down > 0)
        fprintf(stderr,
                "gridstor recover: warning: %u of %u data backends could not be scanned; a record "
                "whose every backup was there is missing\n",
                st->backends_down, st->backends);
    if (r->err != GS_OK) {
        fprintf(stderr, "gridstor recover: %s\n", r->msg[0] ? r->msg : gs_strerror(r->err));
        return exit_for(r->err);
    }
    if (r->o.json) {
        j = recover_json(st);
        text = j ? gs_json_dumps(j) : NULL;
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(j);
    } else if (st->restored == 0 && st->gaps == 0)
        printf("%s is complete: %" PRIu64 " records found in %" PRIu64
               " backups, nothing to write\n",
               into, st->records, st->backups);
    else
        printf("%" PRIu64 " records restored into %s from %" PRIu64 " backups, ids %" PRIu64
               " to %" PRIu64 "; %" PRIu64 " deleted ids kept deleted\n",
               st->restored, into, st->backups, st->first_id, st->next_id - 1, st->gaps);
    if (st->undecodable > 0 || (st->unopened > 0 && !r->o.json))
        fprintf(stderr,
                "gridstor recover: %" PRIu64 " backups did not open with the key, %" PRIu64
                " held no valid record (skipped)\n",
                st->unopened, st->undecodable);
    return GS_EXIT_OK;
}

static void recover_usage(FILE *out, const char *cmd)
{
    (void)cmd;
    fprintf(
        out,
        "usage: gridstor recover --codec FILE [--into ADDRESS/NAMESPACE] [--json] [--progress]\n\n"
        "Rebuilds the metadata namespace from the backups in the data backends, with the\n"
        "deployment key alone, so that every file id works again. The target must be an\n"
        "empty sequential-mode namespace, or one an earlier run (or the master itself)\n"
        "wrote: a second run goes on where the first stopped.\n\n"
        "  --codec FILE   the codec configuration: backends, metadata 0-dbs, the key\n"
        "  --into A/NS    the namespace to write (default: the configuration's metadata\n"
        "                 master); its password, if any, from $GRIDSTOR_INTO_PASSWORD\n"
        "  --json         print the counts as JSON for scripts\n"
        "  --progress     show progress (default when standard error is a terminal)\n\n"
        "Exit: 0 done, 2 arguments, configuration or a target that is not this\n"
        "deployment's, 4 backends or the target do not answer, 6 no backup opens with\n"
        "the key, 1 anything else.\n");
}

/* "ADDRESS/NAMESPACE" into e (strings borrowed from spec, which is modified). */
static bool parse_into(char *spec, gs_codec_endpoint_t *e)
{
    char *slash = strrchr(spec, '/');
    if (slash == NULL || slash == spec || slash[1] == '\0')
        return false;
    *slash = '\0';
    e->address = spec;
    e->ns = slash + 1;
    e->password = getenv("GRIDSTOR_INTO_PASSWORD");
    return true;
}

int gs_cli_recover(int argc, char **argv)
{
    recover_run_t r = {0};
    gs_codec_config_t cfg;
    gs_codec_endpoint_t target = {0};
    gs_diag_t diag = {{0}};
    char into_buf[600], *into = NULL, name[600];
    uv_loop_t loop;
    int rc = parse(argc, argv, "recover", FOR_RECOVER, 0, &r.o, NULL, recover_usage), err;
    if (rc != GS_EXIT_OK)
        return rc < 0 ? GS_EXIT_OK : rc;
    if (r.o.codec_file == NULL) {
        recover_usage(stderr, "recover");
        return GS_EXIT_USAGE;
    }
    if (r.o.into != NULL) { /* a copy, split in place */
        snprintf(into_buf, sizeof into_buf, "%s", r.o.into);
        into = into_buf;
    }
    if (into != NULL && !parse_into(into, &target)) {
        fprintf(stderr, "gridstor recover: --into %s: expected ADDRESS/NAMESPACE\n", into);
        return GS_EXIT_USAGE;
    }
    if (gs_codec_config_load(r.o.codec_file, &cfg, &diag) != GS_OK) {
        fprintf(stderr, "gridstor recover: %s\n", diag.msg);
        return GS_EXIT_USAGE;
    }
    snprintf(name, sizeof name, "%s/%s", into ? target.address : cfg.meta_master.address,
             into                 ? target.ns
             : cfg.meta_master.ns ? cfg.meta_master.ns
                                  : "default");
    uv_loop_init(&loop);
    err = gs_codec_recover(&loop, &cfg, into ? &target : NULL, on_recover_progress, on_recovered,
                           &r, &diag);
    if (err != GS_OK)
        on_recovered(err, diag.msg, &r.st, &r);
    uv_run(&loop, UV_RUN_DEFAULT); /* the recovery, or the closing of what it had opened */
    uv_loop_close(&loop);
    rc = recover_report(&r, name);
    gs_codec_config_free(&cfg);
    return rc;
}
