/* zdb_server.c — the sim's 0-db-protocol server: libuv TCP on one loop, pipelined RESP
 * requests dispatched through a command table to the store (zdb_store.c), replies
 * buffered per connection with backpressure, and the fault hooks (node down and up,
 * corruption of a stored value).
 *
 * Replies are 0-db v2's, byte for byte, where reference/zdb-zstor-qsfs.md §1 gives
 * them. Where it is silent or vague, these are the choices made:
 *  - a wrong number of arguments: "-Invalid argument"; an argument over 8 MiB:
 *    "-Payload too big" (any command); a request breaking RESP: "-Protocol error: ..."
 *    (or "-Payload too big" for a bulk over 8 MiB + 4 KiB), then the connection closes;
 *  - admin-only commands (NSNEW, NSDEL, NSSET, SET's timestamp) without AUTH while
 *    --admin is set: "-Permission denied"; without --admin every client may use them;
 *  - a missing namespace (SELECT, NSINFO, NSDEL, NSSET): "-Namespace not found";
 *    NSNEW of an existing one: "-Namespace already exists"; a name with '/', '\',
 *    a leading '.', blanks or control bytes: "-Invalid namespace name"; over 128 bytes:
 *    "-Namespace name too long"; past 4096 namespaces: "-Too many namespaces";
 *  - NSDEL of default: "-Cannot remove default namespace"; of the caller's own:
 *    "-Cannot remove namespace you're currently using"; other clients on it are moved
 *    back to "default" with the access a new connection has;
 *  - NSSET: unknown property "-Invalid property"; a bad or over-63-byte value
 *    "-Invalid value"; mode outside mixed mode "-Mode can only be changed in mixed mode";
 *    mode of a namespace already written to "-Namespace is not empty"; freeze makes
 *    reads and writes answer "-Namespace is temporarily frozen";
 *  - SELECT: admin gets read-write everywhere; a namespace without password is
 *    read-write; a wrong password "-Access denied"; default under --protect is read-only
 *    unless the admin password is given (SELECT default <admin>) or the client AUTHed;
 *  - user-key SET with an empty key: "-Invalid argument"; SET's timestamp not a
 *    number: "-Invalid timestamp"; a value the disk will not give back: "-Cannot read
 *    data right now"; MGET whose values pass 64 MiB: "-Reply too large";
 *  - TIME: [seconds, microseconds] as bulk strings; INFO and NSINFO: "key: value" lines
 *    ending in "\n", sizes in MB/KB with two decimals; NSINFO's next_internal_id is
 *    0x%08x of the first four bytes of the next id's little-endian key (the high half of
 *    bswap_64(id)); data_size_bytes counts the payloads of live keys, index_size_bytes
 *    30 bytes + key per write (0-db's index entry);
 *  - SCAN: at most 1000 entries per call, each [key, :size, :timestamp]; the cursor is
 *    the 8-byte little-endian position of the last entry in the namespace's write log
 *    (what KEYCUR gives; nil for a missing key); a cursor of another length or past the
 *    log: "-Invalid key format";
 *  - WAIT: wakes on any command another client runs on the same namespace (its name
 *    matched exactly, case-insensitively, or "*"), answering "+<NAME>"; a timeout
 *    outside 100..1800000 ms or not a number: "-Invalid timeout"; WAIT itself wakes
 *    nobody;
 *  - AUTH SECURE and SELECT ... SECURE (SHA-1 challenges) are not implemented:
 *    "-Invalid argument".
 */
#include "zdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <sodium.h>

#define READ_CHUNK  (64u * 1024)
#define HIGH_WATER  (4u * 1024 * 1024) /* pending reply bytes that pause a connection */
#define OUT_MAX     (GS_RESP_MAX_REPLY + HIGH_WATER + 65536)
#define IN_MAX      (GS_RESP_MAX_REQUEST + READ_CHUNK)
#define BIG_BUFFER  (1u << 20) /* buffers above this are freed once empty */
#define SCAN_BATCH  1000
#define WAIT_MIN_MS 100u
#define WAIT_MAX_MS (30u * 60 * 1000)
#define WAIT_DEF_MS 5000u
#define INFO_MAX    (16u * 1024)
#define BACKLOG     4096
#define MB          (1024.0 * 1024.0)

enum { PAUSE_WAIT = 1, PAUSE_OUTPUT = 2 };
enum { F_READ = 1, F_WRITE = 2, F_ADMIN = 4 };

typedef struct conn conn_t;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* WAIT's timeout, and the deferred resume after a wake-up */
    uv_write_t wreq;
    gs_zdb_server_t *srv;
    conn_t *prev, *next;   /* every connection */
    conn_t *wprev, *wnext; /* connections blocked in WAIT */
    gs_resp_parser_t parser;
    char *in; /* bytes of requests not yet complete (or not yet run while paused) */
    size_t in_len, in_cap;
    gs_buf_t out;  /* replies not yet handed to libuv */
    gs_buf_t wbuf; /* replies being written; wbuf.data + woff onwards */
    size_t woff;
    gs_zdb_ns_t *ns;
    bool writable, admin;
    bool reading, writing, closing, close_after_flush, broken;
    unsigned paused;
    int handles;
    char wait_cmd[16];
};

struct gs_zdb_server {
    uv_loop_t *loop;
    gs_zdb_config_t cfg;
    char *listen, *admin, *data_dir, *index_dir; /* cfg's strings, owned */
    gs_zdb_store_t *store;
    uv_tcp_t *listener; /* NULL while down */
    struct sockaddr_storage addr;
    char address[80];
    int port;
    conn_t *conns, *waiters;
    size_t n_conns;
    int handles; /* listener and connections not yet closed */
    char *rbuf;  /* where a connection with nothing buffered reads into */
    unsigned char *value;
    size_t value_cap;
    bool closing;
    gs_zdb_closed_cb close_cb;
    void *close_ud;
    uint64_t boot, clients_lifetime, executed, failed, unauthorized, rx, tx;
    uint32_t instance_id;
};

typedef void (*cmd_fn)(conn_t *c, const gs_resp_value_t *argv, size_t argc);

typedef struct {
    const char *name;
    cmd_fn fn;
    unsigned short min_argc, max_argc;
    unsigned flags;
} command_t;

static void conn_close(conn_t *c);
static void flush(conn_t *c);
static void start_reading(conn_t *c);

static const char *const status_text[] = {
    [GS_ZDB_NOT_FOUND] = "Key not found",
    [GS_ZDB_UPDATE_ONLY] = "Invalid key, only update authorized",
    [GS_ZDB_EMPTY_KEY] = "Invalid argument",
    [GS_ZDB_KEY_TOO_LARGE] = "Key too large",
    [GS_ZDB_NO_SPACE] = "No space left on this namespace",
    [GS_ZDB_WORM] = "Namespace is protected by worm mode",
    [GS_ZDB_IO] = "Cannot write data right now",
    [GS_ZDB_EXISTS] = "Namespace already exists",
    [GS_ZDB_BAD_NAME] = "Invalid namespace name",
    [GS_ZDB_NAME_TOO_LONG] = "Namespace name too long",
    [GS_ZDB_TOO_MANY] = "Too many namespaces",
    [GS_ZDB_NOT_FRESH] = "Namespace is not empty",
    [GS_ZDB_NOMEM] = "Out of memory",
};

/* ---- replies ---- */

#define LIT(s) s, sizeof(s) - 1

static void check(conn_t *c, int err)
{
    if (err != GS_OK)
        c->broken = true; /* the connection is closed after the command */
}

static void put_raw(conn_t *c, const char *s, size_t n)
{
    check(c, gs_buf_append(&c->out, s, n));
}

static void put_error(conn_t *c, const char *msg)
{
    check(c, gs_resp_put_error(&c->out, msg));
}

static void put_status(conn_t *c, gs_zdb_status_t st)
{
    if (st == GS_ZDB_OK)
        put_raw(c, LIT("+OK\r\n"));
    else
        put_error(c, status_text[st]);
}

static void put_int(conn_t *c, int64_t v)
{
    check(c, gs_resp_put_int(&c->out, v));
}

static void put_bulk(conn_t *c, const void *p, size_t n)
{
    check(c, gs_resp_put_bulk(&c->out, p, n));
}

static void put_nil(conn_t *c)
{
    check(c, gs_resp_put_nil(&c->out));
}

static void put_array(conn_t *c, size_t n)
{
    check(c, gs_resp_put_array(&c->out, n));
}

/* Reads e's payload from disk into the reply. */
static void put_value(conn_t *c, const gs_zdb_entry_t *e)
{
    gs_zdb_server_t *s = c->srv;
    if (e->len > s->value_cap) {
        unsigned char *v = realloc(s->value, e->len);
        if (v == NULL) {
            put_error(c, "Out of memory");
            return;
        }
        s->value = v;
        s->value_cap = e->len;
    }
    if (gs_zdb_read(c->ns, e, s->value) != GS_OK)
        put_error(c, "Cannot read data right now");
    else
        put_bulk(c, s->value, e->len);
}

/* ---- arguments ---- */

/* A decimal number without sign, within uint64_t. */
static bool arg_u64(const gs_resp_value_t *v, uint64_t *out)
{
    uint64_t n = 0;
    if (v->len == 0 || v->len > 20)
        return false;
    for (size_t i = 0; i < v->len; i++) {
        unsigned d = (unsigned char)v->str[i] - '0';
        if (d > 9 || n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

static char upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

/* Compares a secret with an argument without leaking where they differ. */
static bool secret_eq(const char *secret, const gs_resp_value_t *v)
{
    size_t n = strlen(secret);
    return n == v->len && sodium_memcmp(secret, v->str, n) == 0;
}

static bool is_admin(const conn_t *c)
{
    return c->srv->admin == NULL || c->admin;
}

/* The access a connection has on the default namespace before any SELECT. */
static bool default_writable(const conn_t *c)
{
    return !c->srv->cfg.protect || c->admin;
}

/* ---- connection state ---- */

static size_t pending_output(const conn_t *c)
{
    return c->out.len + (c->wbuf.len - c->woff);
}

/* Empties a buffer, giving back its memory when it grew big. */
static void buf_empty(gs_buf_t *b)
{
    if (b->cap > BIG_BUFFER)
        gs_buf_free(b);
    else
        gs_buf_reset(b);
}

static int in_reserve(conn_t *c, size_t extra)
{
    size_t want = c->in_len + extra, cap;
    char *p;
    if (want <= c->in_cap)
        return GS_OK;
    if (want > IN_MAX)
        return GS_ETOOBIG;
    for (cap = c->in_cap ? c->in_cap : READ_CHUNK; cap < want;)
        cap *= 2;
    p = realloc(c->in, cap < IN_MAX ? cap : IN_MAX);
    if (p == NULL)
        return GS_ENOMEM;
    c->in = p;
    c->in_cap = cap < IN_MAX ? cap : IN_MAX;
    return GS_OK;
}

static void pause_conn(conn_t *c, unsigned why)
{
    c->paused |= why;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void wait_unlink(conn_t *c)
{
    gs_zdb_server_t *s = c->srv;
    if (c->wprev == NULL && s->waiters != c)
        return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        s->waiters = c->wnext;
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    c->wprev = c->wnext = NULL;
}

/* ---- commands: server ---- */

static void cmd_ping(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    (void)argv;
    (void)argc;
    put_raw(c, LIT("+PONG\r\n"));
}

static void cmd_time(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    uv_timeval64_t tv;
    char sec[24], usec[24];
    (void)argv;
    (void)argc;
    uv_gettimeofday(&tv);
    snprintf(sec, sizeof sec, "%lld", (long long)tv.tv_sec);
    snprintf(usec, sizeof usec, "%ld", (long)tv.tv_usec);
    put_array(c, 2);
    put_bulk(c, sec, strlen(sec));
    put_bulk(c, usec, strlen(usec));
}

static int info_text(const gs_zdb_server_t *s, gs_buf_t *t)
{
    const gs_zdb_store_stats_t *st = gs_zdb_store_stats(s->store);
    uint64_t now = (uint64_t)time(NULL);
    int err = gs_buf_printf(
        t,
        "# server\nserver_name: 0-db (zdb)\nserver_revision: gridstor-sim " GS_VERSION
        "\nengine_revision: gridstor-sim " GS_VERSION "\ninstance_id: %08x\nboot_time: %llu\n"
        "uptime: %llu\nclients_lifetime: %llu\nsequential_key_size: 8\ndata_version: 3\n"
        "index_version: 4\n\n# stats\ncommands_executed: %llu\ncommands_failed: %llu\n"
        "commands_unauthorized: %llu\n",
        (unsigned)s->instance_id, (unsigned long long)s->boot, (unsigned long long)(now - s->boot),
        (unsigned long long)s->clients_lifetime, (unsigned long long)s->executed,
        (unsigned long long)s->failed, (unsigned long long)s->unauthorized);
    if (err == GS_OK)
        err = gs_buf_printf(
            t,
            "index_disk_read_failed: 0\nindex_disk_write_failed: %llu\n"
            "data_disk_read_failed: %llu\ndata_disk_write_failed: %llu\n"
            "index_disk_read_bytes: 0\nindex_disk_read_mb: 0.00\n"
            "index_disk_write_bytes: %llu\nindex_disk_write_mb: %.2f\n"
            "data_disk_read_bytes: %llu\ndata_disk_read_mb: %.2f\n"
            "data_disk_write_bytes: %llu\ndata_disk_write_mb: %.2f\n"
            "network_rx_bytes: %llu\nnetwork_rx_mb: %.2f\n"
            "network_tx_bytes: %llu\nnetwork_tx_mb: %.2f\n",
            (unsigned long long)st->index_write_failed, (unsigned long long)st->data_read_failed,
            (unsigned long long)st->data_write_failed, (unsigned long long)st->index_write_bytes,
            st->index_write_bytes / MB, (unsigned long long)st->data_read_bytes,
            st->data_read_bytes / MB, (unsigned long long)st->data_write_bytes,
            st->data_write_bytes / MB, (unsigned long long)s->rx, s->rx / MB,
            (unsigned long long)s->tx, s->tx / MB);
    return err;
}

static void put_text(conn_t *c, int err, gs_buf_t *t)
{
    if (err == GS_OK)
        put_bulk(c, t->data, t->len);
    else
        put_error(c, "Out of memory");
    gs_buf_free(t);
}

static void cmd_info(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    gs_buf_t t;
    (void)argv;
    (void)argc;
    gs_buf_init(&t, INFO_MAX);
    put_text(c, info_text(c->srv, &t), &t);
}

static void cmd_auth(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    (void)argc;
    if (c->srv->admin == NULL) {
        put_error(c, "Authentication disabled");
    } else if (!secret_eq(c->srv->admin, &argv[1])) {
        put_error(c, "Access denied");
    } else {
        c->admin = true;
        c->writable = true;
        put_raw(c, LIT("+OK\r\n"));
    }
}

/* ---- commands: keys ---- */

static void cmd_set(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_entry_t *e = NULL;
    gs_zdb_status_t st;
    uint64_t ts = 0;
    if (argc == 4 && !is_admin(c)) {
        c->srv->unauthorized++;
        put_error(c, "Permission denied");
        return;
    }
    if (argc == 4 && !arg_u64(&argv[3], &ts)) {
        put_error(c, "Invalid timestamp");
        return;
    }
    st = gs_zdb_set(c->ns, argv[1].str, argv[1].len, argv[2].str, argv[2].len, ts, &e);
    if (st == GS_ZDB_OK)
        put_bulk(c, e->key, e->klen);
    else if (st == GS_ZDB_UNCHANGED)
        put_nil(c);
    else
        put_status(c, st);
}

static const gs_zdb_entry_t *lookup_key(conn_t *c, const gs_resp_value_t *key)
{
    return gs_zdb_get(c->ns, key->str, key->len);
}

static void cmd_get(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_entry_t *e = lookup_key(c, &argv[1]);
    (void)argc;
    if (e == NULL)
        put_nil(c);
    else
        put_value(c, e);
}

static void cmd_mget(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    uint64_t total = 0;
    for (size_t i = 1; i < argc; i++) {
        const gs_zdb_entry_t *e = lookup_key(c, &argv[i]);
        total += e ? e->len : 0;
    }
    if (total > GS_RESP_MAX_REPLY - 65536) {
        put_error(c, "Reply too large");
        return;
    }
    put_array(c, argc - 1);
    for (size_t i = 1; i < argc; i++) {
        const gs_zdb_entry_t *e = lookup_key(c, &argv[i]);
        if (e == NULL)
            put_nil(c);
        else
            put_value(c, e);
    }
}

static void cmd_del(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    (void)argc;
    put_status(c, gs_zdb_del(c->ns, argv[1].str, argv[1].len));
}

static void cmd_exists(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    (void)argc;
    put_raw(c, lookup_key(c, &argv[1]) ? ":1\r\n" : ":0\r\n", 4);
}

static void cmd_check(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_entry_t *e = lookup_key(c, &argv[1]);
    (void)argc;
    if (e == NULL)
        put_nil(c);
    else
        put_raw(c, gs_zdb_check(c->ns, e) == 1 ? ":1\r\n" : ":0\r\n", 4);
}

static void cmd_length(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_entry_t *e = lookup_key(c, &argv[1]);
    (void)argc;
    if (e == NULL)
        put_nil(c);
    else
        put_int(c, e->len);
}

static void cmd_keytime(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_entry_t *e = lookup_key(c, &argv[1]);
    (void)argc;
    if (e == NULL)
        put_nil(c);
    else
        put_int(c, (int64_t)e->ts);
}

static void put_cursor(conn_t *c, uint64_t slot)
{
    unsigned char cur[8];
    gs_zdb_put_le64(cur, slot);
    put_bulk(c, cur, sizeof cur);
}

static void cmd_keycur(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_entry_t *e = lookup_key(c, &argv[1]);
    (void)argc;
    if (e == NULL)
        put_nil(c);
    else
        put_cursor(c, e->slot);
}

static void cmd_scan(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_entry_t *found[SCAN_BATCH];
    uint64_t slot = 0;
    size_t n = 0;
    if (argc == 2) {
        if (argv[1].len != 8 ||
            (slot = gs_zdb_get_le64((const unsigned char *)argv[1].str)) >= c->ns->n_log) {
            put_error(c, "Invalid key format");
            return;
        }
        slot++;
    }
    for (; n < SCAN_BATCH && (found[n] = gs_zdb_scan(c->ns, &slot)) != NULL; n++)
        slot++;
    if (n == 0) {
        put_error(c, "No more data");
        return;
    }
    put_array(c, 2);
    put_cursor(c, found[n - 1]->slot);
    put_array(c, n);
    for (size_t i = 0; i < n; i++) {
        put_array(c, 3);
        put_bulk(c, found[i]->key, found[i]->klen);
        put_int(c, found[i]->len);
        put_int(c, (int64_t)found[i]->ts);
    }
}

static void cmd_dbsize(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    (void)argv;
    (void)argc;
    put_int(c, (int64_t)c->ns->entries);
}

/* ---- commands: namespaces ---- */

static gs_zdb_ns_t *find_ns(conn_t *c, const gs_resp_value_t *name)
{
    gs_zdb_ns_t *ns = gs_zdb_ns_find(c->srv->store, name->str, name->len);
    if (ns == NULL)
        put_error(c, "Namespace not found");
    return ns;
}

/* The access SELECT gives: 1 read-write, 0 read-only, -1 refused (reply written). */
static int select_access(conn_t *c, const gs_zdb_ns_t *ns, const gs_resp_value_t *pass)
{
    if (c->admin)
        return 1;
    if (gs_zdb_ns_is_default(ns) && c->srv->cfg.protect) {
        if (pass == NULL)
            return 0;
        if (secret_eq(c->srv->admin, pass))
            return 1;
    } else if (ns->password == NULL) {
        return 1;
    } else if (pass == NULL) {
        if (ns->is_public)
            return 0;
        put_error(c, "Namespace protected and private");
        return -1;
    } else if (secret_eq(ns->password, pass)) {
        return 1;
    }
    put_error(c, "Access denied");
    return -1;
}

static void cmd_select(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    gs_zdb_ns_t *ns = find_ns(c, &argv[1]);
    int access;
    if (ns == NULL)
        return;
    access = select_access(c, ns, argc == 3 ? &argv[2] : NULL);
    if (access < 0)
        return;
    c->ns = ns;
    c->writable = access == 1;
    put_raw(c, LIT("+OK\r\n"));
}

static void cmd_nsnew(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    (void)argc;
    put_status(c, gs_zdb_ns_create(c->srv->store, argv[1].str, argv[1].len, NULL));
}

static void cmd_nsdel(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    gs_zdb_ns_t *ns = find_ns(c, &argv[1]);
    gs_zdb_ns_t *def = gs_zdb_ns_default(c->srv->store);
    (void)argc;
    if (ns == NULL)
        return;
    if (ns == def) {
        put_error(c, "Cannot remove default namespace");
        return;
    }
    if (ns == c->ns) {
        put_error(c, "Cannot remove namespace you're currently using");
        return;
    }
    for (conn_t *o = c->srv->conns; o; o = o->next) {
        if (o->ns == ns) {
            o->ns = def;
            o->writable = default_writable(o);
        }
    }
    put_status(c, gs_zdb_ns_remove(c->srv->store, ns));
}

static void cmd_nslist(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_store_t *st = c->srv->store;
    (void)argv;
    (void)argc;
    put_array(c, gs_zdb_store_count(st));
    for (size_t i = 0; i < gs_zdb_store_count(st); i++) {
        const gs_zdb_ns_t *ns = gs_zdb_store_at(st, i);
        put_bulk(c, ns->name, strlen(ns->name));
    }
}

static const char *yes_no(bool b)
{
    return b ? "yes" : "no";
}

/* Free bytes of the disk holding path (0 when unknown). */
static uint64_t disk_free(const char *path)
{
    struct statvfs v;
    return statvfs(path, &v) == 0 ? (uint64_t)v.f_bavail * v.f_frsize : 0;
}

static int nsinfo_settings(const gs_zdb_ns_t *ns, gs_buf_t *t)
{
    uint64_t id = ns->next_id;
    uint32_t shown =
        (uint32_t)((id & 0xff) << 24 | (id & 0xff00) << 8 | (id >> 8 & 0xff00) | (id >> 24 & 0xff));
    return gs_buf_printf(
        t,
        "# namespace\nname: %s\nentries: %llu\npublic: %s\nworm: %s\nlocked: %s\n"
        "password: %s\ndata_size_bytes: %llu\ndata_size_mb: %.2f\ndata_limits_bytes: %llu\n"
        "index_size_bytes: %llu\nindex_size_kb: %.2f\nnext_internal_id: 0x%08x\nmode: %s\n",
        ns->name, (unsigned long long)ns->entries, yes_no(ns->is_public), yes_no(ns->worm),
        yes_no(ns->locked), yes_no(ns->password != NULL), (unsigned long long)ns->data_bytes,
        ns->data_bytes / MB, (unsigned long long)ns->maxsize, (unsigned long long)ns->index_bytes,
        ns->index_bytes / 1024.0, (unsigned)shown,
        ns->mode == GS_ZDB_SEQ ? "sequential" : "userkey");
}

static int nsinfo_stats(const gs_zdb_server_t *s, const gs_zdb_ns_t *ns, gs_buf_t *t)
{
    uint64_t ifree = disk_free(s->index_dir), dfree = disk_free(s->data_dir);
    int err = gs_buf_printf(t,
                            "stats_index_io_errors: 0\nstats_index_io_error_last: 0\n"
                            "stats_index_faults: 0\nstats_data_io_errors: %llu\n"
                            "stats_data_io_error_last: %llu\nstats_data_faults: %llu\n",
                            (unsigned long long)ns->data_io_errors,
                            (unsigned long long)ns->data_io_error_last,
                            (unsigned long long)ns->data_faults);
    if (err == GS_OK && ns->maxsize > 0)
        err = gs_buf_printf(
            t, "space_available: %llu\n",
            (unsigned long long)(ns->maxsize > ns->data_bytes ? ns->maxsize - ns->data_bytes : 0));
    if (err == GS_OK)
        err = gs_buf_printf(t,
                            "index_disk_freespace_bytes: %llu\nindex_disk_freespace_mb: %.2f\n"
                            "data_disk_freespace_bytes: %llu\ndata_disk_freespace_mb: %.2f\n",
                            (unsigned long long)ifree, ifree / MB, (unsigned long long)dfree,
                            dfree / MB);
    return err;
}

static int nsinfo_admin(const gs_zdb_server_t *s, const gs_zdb_ns_t *ns, gs_buf_t *t)
{
    unsigned active = ns->n_files ? (unsigned)(ns->n_files - 1) : 0;
    return gs_buf_printf(t,
                         "data_path: %s/%s\ndata_active: %s/%s/d%u\nindex_path: %s/%s\n"
                         "index_active: %s/%s/zdb-namespace\ndata_current_id: %u\n"
                         "data_current_offset: %llu\n",
                         s->data_dir, ns->name, s->data_dir, ns->name, active, s->index_dir,
                         ns->name, s->index_dir, ns->name, active,
                         (unsigned long long)ns->active_size);
}

static void cmd_nsinfo(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    const gs_zdb_ns_t *ns = find_ns(c, &argv[1]);
    gs_buf_t t;
    int err;
    (void)argc;
    if (ns == NULL)
        return;
    gs_buf_init(&t, INFO_MAX);
    err = nsinfo_settings(ns, &t);
    if (err == GS_OK)
        err = nsinfo_stats(c->srv, ns, &t);
    if (err == GS_OK && is_admin(c))
        err = nsinfo_admin(c->srv, ns, &t);
    put_text(c, err, &t);
}

/* NSSET properties: each returns NULL when applied, else the error to answer. */
typedef const char *(*prop_fn)(conn_t *c, gs_zdb_ns_t *ns, const gs_resp_value_t *v);

static const char *saved(gs_zdb_ns_t *ns)
{
    gs_zdb_status_t st = gs_zdb_ns_save(ns);
    return st == GS_ZDB_OK ? NULL : status_text[st];
}

/* "0" or "1" into *flag. */
static const char *set_flag(gs_zdb_ns_t *ns, bool *flag, const gs_resp_value_t *v)
{
    if (v->len != 1 || (v->str[0] != '0' && v->str[0] != '1'))
        return "Invalid value";
    *flag = v->str[0] == '1';
    return saved(ns);
}

static const char *prop_public(conn_t *c, gs_zdb_ns_t *ns, const gs_resp_value_t *v)
{
    (void)c;
    return set_flag(ns, &ns->is_public, v);
}

static const char *prop_worm(conn_t *c, gs_zdb_ns_t *ns, const gs_resp_value_t *v)
{
    (void)c;
    return set_flag(ns, &ns->worm, v);
}

static const char *prop_lock(conn_t *c, gs_zdb_ns_t *ns, const gs_resp_value_t *v)
{
    (void)c;
    return set_flag(ns, &ns->locked, v);
}

static const char *prop_freeze(conn_t *c, gs_zdb_ns_t *ns, const gs_resp_value_t *v)
{
    (void)c;
    return set_flag(ns, &ns->frozen, v);
}

static const char *prop_maxsize(conn_t *c, gs_zdb_ns_t *ns, const gs_resp_value_t *v)
{
    uint64_t n;
    (void)c;
    if (!arg_u64(v, &n))
        return "Invalid value";
    ns->maxsize = n;
    return saved(ns);
}

static const char *prop_password(conn_t *c, gs_zdb_ns_t *ns, const gs_resp_value_t *v)
{
    gs_zdb_status_t st;
    (void)c;
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->str[i] < ' ' || (unsigned char)v->str[i] > '~')
            return "Invalid value";
    if (v->len == 0)
        return "Invalid value";
    st = v->len == 1 && v->str[0] == '*' ? gs_zdb_ns_set_password(ns, NULL, 0)
                                         : gs_zdb_ns_set_password(ns, v->str, v->len);
    return st == GS_ZDB_OK ? NULL : status_text[st];
}

static const char *prop_mode(conn_t *c, gs_zdb_ns_t *ns, const gs_resp_value_t *v)
{
    gs_zdb_status_t st;
    if (c->srv->cfg.mode != GS_ZDB_MIXED)
        return "Mode can only be changed in mixed mode";
    if (gs_resp_eq(v, "user"))
        st = gs_zdb_ns_set_mode(ns, GS_ZDB_USER);
    else if (gs_resp_eq(v, "seq"))
        st = gs_zdb_ns_set_mode(ns, GS_ZDB_SEQ);
    else
        return "Invalid value";
    return st == GS_ZDB_OK ? NULL : status_text[st];
}

static const struct {
    const char *name;
    prop_fn fn;
    bool on_default;
} properties[] = {
    {"maxsize", prop_maxsize, false}, {"password", prop_password, false},
    {"public", prop_public, false},   {"worm", prop_worm, false},
    {"mode", prop_mode, true},        {"lock", prop_lock, true},
    {"freeze", prop_freeze, true},
};

static void cmd_nsset(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    gs_zdb_ns_t *ns = find_ns(c, &argv[1]);
    const char *err = "Invalid property";
    (void)argc;
    if (ns == NULL)
        return;
    for (size_t i = 0; i < GS_ARRAY_SIZE(properties); i++) {
        if (!gs_resp_eq(&argv[2], properties[i].name))
            continue;
        if (gs_zdb_ns_is_default(ns) && !properties[i].on_default)
            err = "Cannot update default namespace";
        else if (argv[3].len > GS_ZDB_MAX_PROPERTY)
            err = "Invalid value";
        else
            err = properties[i].fn(c, ns, &argv[3]);
        break;
    }
    if (err)
        put_error(c, err);
    else
        put_raw(c, LIT("+OK\r\n"));
}

/* ---- WAIT ---- */

static void resume(conn_t *c, unsigned why);

static void on_resume(uv_timer_t *t)
{
    resume(t->data, PAUSE_WAIT);
}

static void on_wait_timeout(uv_timer_t *t)
{
    conn_t *c = t->data;
    wait_unlink(c);
    put_error(c, "Timeout");
    if (c->broken) {
        conn_close(c);
        return;
    }
    flush(c);
    resume(c, PAUSE_WAIT);
}

static void cmd_wait(conn_t *c, const gs_resp_value_t *argv, size_t argc)
{
    gs_zdb_server_t *s = c->srv;
    uint64_t ms = WAIT_DEF_MS;
    size_t n = argv[1].len;
    if (argc == 3 && (!arg_u64(&argv[2], &ms) || ms < WAIT_MIN_MS || ms > WAIT_MAX_MS)) {
        put_error(c, "Invalid timeout");
        return;
    }
    c->wait_cmd[0] = '\0';
    if (n < sizeof c->wait_cmd && memchr(argv[1].str, '\0', n) == NULL) {
        for (size_t i = 0; i < n; i++)
            c->wait_cmd[i] = upper(argv[1].str[i]);
        c->wait_cmd[n] = '\0';
    }
    c->wnext = s->waiters;
    if (s->waiters)
        s->waiters->wprev = c;
    s->waiters = c;
    pause_conn(c, PAUSE_WAIT);
    uv_timer_start(&c->timer, on_wait_timeout, ms, 0);
}

/* Answers the clients waiting for `name` on ns; they resume on the next loop turn. */
static void wake_waiters(conn_t *by, const gs_zdb_ns_t *ns, const char *name)
{
    conn_t *w, *next;
    for (w = by->srv->waiters; w != NULL; w = next) {
        next = w->wnext;
        if (w == by || w->ns != ns ||
            (strcmp(w->wait_cmd, "*") != 0 && strcmp(w->wait_cmd, name) != 0))
            continue;
        wait_unlink(w);
        check(w, gs_resp_put_simple(&w->out, name));
        if (w->broken) {
            conn_close(w);
            continue;
        }
        flush(w);
        uv_timer_start(&w->timer, on_resume, 0, 0);
    }
}

/* ---- dispatch ---- */

/* Searched in order; a prefix of a name matches, as in 0-db ("GE" is GET). */
static const command_t commands[] = {
    {"PING", cmd_ping, 1, 1, 0},
    {"TIME", cmd_time, 1, 1, 0},
    {"INFO", cmd_info, 1, 1, 0},
    {"AUTH", cmd_auth, 2, 2, 0},
    {"SET", cmd_set, 3, 4, F_WRITE},
    {"SETX", cmd_set, 3, 4, F_WRITE},
    {"GET", cmd_get, 2, 2, F_READ},
    {"MGET", cmd_mget, 2, GS_RESP_MAX_ARGS, F_READ},
    {"DEL", cmd_del, 2, 2, F_WRITE},
    {"EXISTS", cmd_exists, 2, 2, F_READ},
    {"CHECK", cmd_check, 2, 2, F_READ},
    {"LENGTH", cmd_length, 2, 2, F_READ},
    {"KEYTIME", cmd_keytime, 2, 2, F_READ},
    {"KEYCUR", cmd_keycur, 2, 2, F_READ},
    {"SCAN", cmd_scan, 1, 2, F_READ},
    {"SCANX", cmd_scan, 1, 2, F_READ},
    {"DBSIZE", cmd_dbsize, 1, 1, F_READ},
    {"SELECT", cmd_select, 2, 3, 0},
    {"NSNEW", cmd_nsnew, 2, 2, F_ADMIN},
    {"NSDEL", cmd_nsdel, 2, 2, F_ADMIN},
    {"NSLIST", cmd_nslist, 1, 1, 0},
    {"NSINFO", cmd_nsinfo, 2, 2, 0},
    {"NSSET", cmd_nsset, 4, 4, F_ADMIN},
    {"WAIT", cmd_wait, 2, 3, 0},
};

/* True when the len bytes of s are a prefix of the upper-case name, ignoring case. */
static bool is_prefix(const char *s, size_t len, const char *name)
{
    size_t i = 0;
    for (; i < len && name[i] != '\0'; i++)
        if (upper(s[i]) != name[i])
            return false;
    return i == len;
}

static const command_t *lookup(const gs_resp_value_t *name)
{
    for (size_t i = 0; name->len > 0 && i < GS_ARRAY_SIZE(commands); i++)
        if (upper(name->str[0]) == commands[i].name[0] &&
            is_prefix(name->str, name->len, commands[i].name))
            return &commands[i];
    return NULL;
}

/* Why the command may not run here, or NULL. */
static const char *refusal(conn_t *c, const command_t *cmd, const gs_resp_request_t *req)
{
    for (size_t i = 0; i < req->argc; i++)
        if (req->argv[i].len > GS_RESP_MAX_PAYLOAD)
            return "Payload too big";
    if (cmd == NULL)
        return "Command not supported";
    if (req->argc < cmd->min_argc || req->argc > cmd->max_argc)
        return "Invalid argument";
    if ((cmd->flags & F_ADMIN) && !is_admin(c)) {
        c->srv->unauthorized++;
        return "Permission denied";
    }
    if ((cmd->flags & (F_READ | F_WRITE)) && c->ns->frozen)
        return "Namespace is temporarily frozen";
    if ((cmd->flags & F_WRITE) && c->ns->locked)
        return "Namespace is temporarily locked";
    if ((cmd->flags & F_WRITE) && !c->writable)
        return "Namespace is in read-only mode";
    return NULL;
}

static void dispatch(conn_t *c, const gs_resp_request_t *req)
{
    gs_zdb_server_t *s = c->srv;
    const command_t *cmd = lookup(&req->argv[0]);
    const gs_zdb_ns_t *ns = c->ns;
    size_t mark = c->out.len;
    const char *why = refusal(c, cmd, req);
    s->executed++;
    if (why != NULL)
        put_error(c, why);
    else
        cmd->fn(c, req->argv, req->argc);
    if (c->out.len > mark && c->out.data[mark] == '-')
        s->failed++;
    if (c->broken)
        conn_close(c);
    else if (why == NULL && s->waiters != NULL && cmd->fn != cmd_wait)
        wake_waiters(c, ns, cmd->name);
}

/* Runs the complete requests in data; returns the bytes consumed. */
static size_t process(conn_t *c, const char *data, size_t len)
{
    size_t used = 0;
    while (used < len && !c->paused && !c->closing && !c->close_after_flush) {
        gs_resp_request_t req;
        gs_diag_t diag;
        int rc;
        if (pending_output(c) >= HIGH_WATER)
            flush(c);
        if (c->closing)
            break;
        if (pending_output(c) >= HIGH_WATER) {
            pause_conn(c, PAUSE_OUTPUT);
            break;
        }
        rc = gs_resp_request_parse(&c->parser, data + used, len - used, &req, &diag);
        if (rc == GS_RESP_MORE)
            break;
        if (rc < 0) {
            put_error(c, diag.msg);
            c->close_after_flush = true;
            pause_conn(c, 0);
            return len;
        }
        used += req.size;
        if (req.argc > 0)
            dispatch(c, &req);
    }
    return used;
}

/* Runs what the input buffer holds and keeps the rest at its start. */
static void consume_in(conn_t *c)
{
    size_t used = process(c, c->in, c->in_len);
    if (used > 0 && used < c->in_len)
        memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    if (c->in_len == 0 && c->in_cap > BIG_BUFFER) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

static void resume(conn_t *c, unsigned why)
{
    c->paused &= ~why;
    if (c->paused || c->closing)
        return;
    consume_in(c);
    flush(c);
    if (!c->paused && !c->closing && !c->close_after_flush)
        start_reading(c);
}

/* ---- I/O ---- */

static void on_write(uv_write_t *req, int status)
{
    conn_t *c = req->data;
    c->writing = false;
    if (status < 0) {
        conn_close(c);
        return;
    }
    c->srv->tx += c->wbuf.len - c->woff;
    buf_empty(&c->wbuf);
    c->woff = 0;
    flush(c);
    if ((c->paused & PAUSE_OUTPUT) && pending_output(c) < HIGH_WATER)
        resume(c, PAUSE_OUTPUT);
}

/* Hands the pending replies to the kernel, or to libuv for what it would not take. */
static void flush(conn_t *c)
{
    gs_buf_t tmp;
    uv_buf_t b;
    int n;
    if (c->closing || c->writing)
        return;
    if (c->out.len > 0) {
        b = uv_buf_init(c->out.data, (unsigned)c->out.len);
        n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n < 0 && n != UV_EAGAIN) {
            conn_close(c);
            return;
        }
        n = n < 0 ? 0 : n;
        c->srv->tx += (uint64_t)n;
        if ((size_t)n < c->out.len) {
            tmp = c->wbuf;
            c->wbuf = c->out;
            c->out = tmp;
            c->woff = (size_t)n;
            b = uv_buf_init(c->wbuf.data + n, (unsigned)(c->wbuf.len - (size_t)n));
            c->writing = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) == 0;
            if (!c->writing)
                conn_close(c);
            return;
        }
        buf_empty(&c->out);
    }
    if (c->close_after_flush)
        conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn_t *c = h->data;
    (void)suggested;
    if (c->in_len == 0) {
        *buf = uv_buf_init(c->srv->rbuf, READ_CHUNK);
    } else if (in_reserve(c, READ_CHUNK) == GS_OK) {
        *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
    } else {
        *buf = uv_buf_init(NULL, 0); /* UV_ENOBUFS: the connection is closed */
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = st->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->srv->rx += (uint64_t)nread;
    if (buf->base == c->srv->rbuf) {
        size_t used = process(c, buf->base, (size_t)nread);
        size_t rest = (size_t)nread - used;
        if (rest > 0 && in_reserve(c, rest) != GS_OK) {
            conn_close(c);
            return;
        }
        if (rest > 0)
            memcpy(c->in, buf->base + used, rest);
        c->in_len = rest;
    } else {
        c->in_len += (size_t)nread;
        consume_in(c);
    }
    flush(c);
}

static void start_reading(conn_t *c)
{
    if (c->reading || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
        return;
    }
    c->reading = true;
}

/* ---- connections and listener ---- */

static void finish_close(gs_zdb_server_t *s);

static void handle_gone(gs_zdb_server_t *s)
{
    if (--s->handles == 0 && s->closing)
        finish_close(s);
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    gs_zdb_server_t *s = c->srv;
    if (--c->handles > 0)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    gs_resp_parser_free(&c->parser);
    gs_buf_free(&c->out);
    gs_buf_free(&c->wbuf);
    free(c->in);
    free(c);
    handle_gone(s);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    wait_unlink(c);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_connection(uv_stream_t *ls, int status)
{
    gs_zdb_server_t *s = ls->data;
    conn_t *c;
    if (status < 0) {
        gs_log(GS_LOG_WARN, "zdb: accept: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        gs_log(GS_LOG_ERROR, "zdb: out of memory accepting a connection");
        return;
    }
    c->srv = s;
    c->tcp.data = c->timer.data = c->wreq.data = c;
    gs_resp_parser_init(&c->parser);
    gs_buf_init(&c->out, OUT_MAX);
    gs_buf_init(&c->wbuf, OUT_MAX);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    s->handles++;
    s->clients_lifetime++;
    c->ns = gs_zdb_ns_default(s->store);
    c->writable = default_writable(c);
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    start_reading(c);
}

static void on_listener_closed(uv_handle_t *h)
{
    gs_zdb_server_t *s = h->data;
    free(h);
    handle_gone(s);
}

static void set_address(gs_zdb_server_t *s)
{
    char ip[64] = "?";
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(s->listener, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            ((struct sockaddr_in6 *)&s->addr)->sin6_port = htons((uint16_t)s->port);
        } else {
            s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            ((struct sockaddr_in *)&s->addr)->sin_port = htons((uint16_t)s->port);
        }
    }
    if (s->addr.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&s->addr, ip, sizeof ip);
        snprintf(s->address, sizeof s->address, "[%s]:%d", ip, s->port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&s->addr, ip, sizeof ip);
        snprintf(s->address, sizeof s->address, "%s:%d", ip, s->port);
    }
}

static int listen_now(gs_zdb_server_t *s, gs_diag_t *diag)
{
    uv_tcp_t *l = calloc(1, sizeof *l);
    int rc;
    if (l == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "zdb: out of memory");
    uv_tcp_init(s->loop, l);
    l->data = s;
    s->handles++;
    rc = uv_tcp_bind(l, (const struct sockaddr *)&s->addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)l, BACKLOG, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)l, on_listener_closed);
        return gs_diag_set(diag, GS_EIO, "zdb: cannot listen on %s port %d: %s", s->listen, s->port,
                           uv_strerror(rc));
    }
    s->listener = l;
    set_address(s);
    return GS_OK;
}

static int copy_config(gs_zdb_server_t *s, const gs_zdb_config_t *cfg)
{
    s->cfg = *cfg;
    s->listen = gs_strdup(cfg->listen ? cfg->listen : "127.0.0.1");
    s->data_dir = gs_strdup(cfg->data_dir);
    s->index_dir = gs_strdup(cfg->index_dir);
    s->admin = cfg->admin ? gs_strdup(cfg->admin) : NULL;
    if (s->listen == NULL || s->data_dir == NULL || s->index_dir == NULL ||
        (cfg->admin && s->admin == NULL))
        return GS_ENOMEM;
    s->cfg.listen = s->listen;
    s->cfg.data_dir = s->data_dir;
    s->cfg.index_dir = s->index_dir;
    s->cfg.admin = s->admin;
    return GS_OK;
}

static int parse_address(gs_zdb_server_t *s, gs_diag_t *diag)
{
    int rc;
    if (s->cfg.port < 0 || s->cfg.port > 65535)
        return gs_diag_set(diag, GS_ERANGE, "zdb: port %d out of range", s->cfg.port);
    s->port = s->cfg.port;
    if (strchr(s->listen, ':') != NULL)
        rc = uv_ip6_addr(s->listen, s->port, (struct sockaddr_in6 *)&s->addr);
    else
        rc = uv_ip4_addr(s->listen, s->port, (struct sockaddr_in *)&s->addr);
    return rc ? gs_diag_set(diag, GS_EINVAL, "zdb: '%s' is not an IP address", s->listen) : GS_OK;
}

static void free_server(gs_zdb_server_t *s)
{
    gs_zdb_store_free(s->store);
    if (s->admin)
        sodium_memzero(s->admin, strlen(s->admin));
    free(s->admin);
    free(s->listen);
    free(s->data_dir);
    free(s->index_dir);
    free(s->rbuf);
    free(s->value);
    free(s);
}

int gs_zdb_server_start(uv_loop_t *loop, const gs_zdb_config_t *cfg, gs_zdb_server_t **out,
                        gs_diag_t *diag)
{
    gs_zdb_server_t *s = calloc(1, sizeof *s);
    int err;
    *out = NULL;
    if (s == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "zdb: out of memory");
    s->loop = loop;
    err = copy_config(s, cfg);
    if (err == GS_OK && (s->rbuf = malloc(READ_CHUNK)) == NULL)
        err = GS_ENOMEM;
    if (err)
        gs_diag_set(diag, err, "zdb: out of memory");
    if (err == GS_OK && cfg->protect && cfg->admin == NULL)
        err = gs_diag_set(diag, GS_EINVAL, "zdb: --protect needs an --admin password");
    if (err == GS_OK)
        err = parse_address(s, diag);
    if (err == GS_OK)
        err = gs_zdb_store_open(&s->cfg, &s->store, diag);
    if (err == GS_OK)
        err = listen_now(s, diag);
    if (err) {
        /* a listener that failed is closing; the loop frees it, the server must wait */
        s->closing = s->handles > 0;
        if (!s->closing)
            free_server(s);
        return err;
    }
    s->boot = (uint64_t)time(NULL);
    s->instance_id = randombytes_random();
    *out = s;
    return GS_OK;
}

static void finish_close(gs_zdb_server_t *s)
{
    gs_zdb_closed_cb cb = s->close_cb;
    void *ud = s->close_ud;
    free_server(s);
    if (cb)
        cb(ud);
}

void gs_zdb_server_down(gs_zdb_server_t *s)
{
    if (s->listener != NULL) {
        uv_close((uv_handle_t *)s->listener, on_listener_closed);
        s->listener = NULL;
    }
    for (conn_t *c = s->conns; c != NULL; c = c->next)
        conn_close(c);
}

int gs_zdb_server_up(gs_zdb_server_t *s, gs_diag_t *diag)
{
    if (s->closing)
        return gs_diag_set(diag, GS_EINVAL, "zdb: server is closing");
    return s->listener != NULL ? GS_OK : listen_now(s, diag);
}

bool gs_zdb_server_is_up(const gs_zdb_server_t *s)
{
    return s->listener != NULL;
}

void gs_zdb_server_close(gs_zdb_server_t *s, gs_zdb_closed_cb cb, void *ud)
{
    s->closing = true;
    s->close_cb = cb;
    s->close_ud = ud;
    gs_zdb_server_down(s);
    if (s->handles == 0)
        finish_close(s);
}

int gs_zdb_server_port(const gs_zdb_server_t *s)
{
    return s->port;
}

const char *gs_zdb_server_address(const gs_zdb_server_t *s)
{
    return s->address;
}

gs_zdb_store_t *gs_zdb_server_store(gs_zdb_server_t *s)
{
    return s->store;
}

size_t gs_zdb_server_clients(const gs_zdb_server_t *s)
{
    return s->n_conns;
}

int gs_zdb_server_corrupt(gs_zdb_server_t *s, const char *ns, const void *key, size_t klen,
                          size_t at, gs_diag_t *diag)
{
    gs_zdb_ns_t *n = gs_zdb_ns_find(s->store, ns, strlen(ns));
    if (n == NULL)
        return gs_diag_set(diag, GS_ENOENT, "zdb: no namespace '%s'", ns);
    return gs_zdb_corrupt(n, key, klen, at, diag);
}
