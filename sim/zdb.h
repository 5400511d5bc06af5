/* zdb.h — the sim's 0-db-protocol server, private to sim/: its configuration, the
 * store (namespaces, their append-only data files and the in-memory index), and the
 * server (libuv TCP, RESP) with the fault-injection hooks the node agents drive.
 *
 * Everything here runs on one libuv loop thread; nothing is thread-safe. */
#ifndef GS_SIM_ZDB_H
#define GS_SIM_ZDB_H

#include "common.h"

#include <uv.h>

#define GS_ZDB_MAX_KEY          255                  /* bytes of a key */
#define GS_ZDB_MAX_NSNAME       128                  /* bytes of a namespace name */
#define GS_ZDB_MAX_NAMESPACES   4096                 /* per server */
#define GS_ZDB_MAX_PROPERTY     63                   /* bytes of an NSSET value */
#define GS_ZDB_DEFAULT_DATASIZE (256u * 1024 * 1024) /* data file rotation */
#define GS_ZDB_MIN_DATASIZE     (512u * 1024)
#define GS_ZDB_MAX_DATASIZE     ((uint64_t)4 << 30) /* exclusive: offsets are 32-bit */
#define GS_ZDB_DEFAULT_PORT     9900

typedef enum { GS_ZDB_MIXED, GS_ZDB_USER, GS_ZDB_SEQ } gs_zdb_mode_t;

typedef struct {
    const char *listen;    /* address to bind; default "127.0.0.1" */
    int port;              /* 0 = any free port */
    const char *data_dir;  /* default "./zdb-data" */
    const char *index_dir; /* default "./zdb-index" */
    gs_zdb_mode_t mode;    /* MIXED: each namespace picks (user until told otherwise) */
    const char *admin;     /* admin password; NULL: none, and every client may administer */
    uint64_t datasize;     /* a data file is closed when the next record would pass this */
    uint64_t maxsize;      /* limit of the default namespace, 0 = none */
    bool protect;          /* the default namespace is read-only unless admin */
} gs_zdb_config_t;

/* Fills cfg with 0-db's defaults (but listening on loopback). */
void gs_zdb_config_init(gs_zdb_config_t *cfg);

/* Sequential ids and SCAN cursors travel as 8 bytes, little-endian. */
void gs_zdb_put_le64(unsigned char out[8], uint64_t v);
uint64_t gs_zdb_get_le64(const unsigned char in[8]);

/* ---- store ---- */

typedef struct gs_zdb_store gs_zdb_store_t;

/* A key's current state. Deleted keys stay as entries so that sequential ids and
 * SCAN cursors keep their meaning; readers see them as absent. */
typedef struct {
    uint64_t hash;
    uint64_t slot; /* position of its last write in the namespace's log (SCAN order) */
    uint64_t ts;   /* unix seconds of the last write */
    uint32_t file; /* data file holding the payload */
    uint32_t off;  /* offset of the payload in it */
    uint32_t len;  /* payload bytes */
    uint32_t crc;  /* CRC32 of the payload as it was written */
    bool deleted;
    uint8_t klen;
    unsigned char key[]; /* klen bytes */
} gs_zdb_entry_t;

typedef struct {
    gs_zdb_store_t *store;
    char name[GS_ZDB_MAX_NSNAME + 1];
    /* settings, saved in <index>/<name>/zdb-namespace */
    char *password; /* NULL: none */
    uint64_t maxsize;
    bool is_public, worm, locked, frozen;
    gs_zdb_mode_t mode; /* USER or SEQ */
    /* index */
    gs_zdb_entry_t **table; /* open addressing, capacity a power of two */
    size_t table_cap, table_used;
    gs_zdb_entry_t **log; /* every write, in order; log[i]->slot == i when i is current */
    uint64_t n_log, cap_log;
    uint64_t entries;     /* live keys */
    uint64_t data_bytes;  /* payload bytes of the live keys (what maxsize limits) */
    uint64_t index_bytes; /* 30 bytes + key per write, as 0-db's index files */
    uint64_t next_id;     /* next sequential id */
    /* data files d0..d<n_files-1>, the last one active */
    int *fds;
    uint32_t n_files;
    uint64_t active_size;
    /* stats */
    uint64_t data_faults, data_io_errors, data_io_error_last;
} gs_zdb_ns_t;

/* What a store operation ended with; the server maps each to 0-db's reply. */
typedef enum {
    GS_ZDB_OK,
    GS_ZDB_UNCHANGED,     /* SET with the payload already stored */
    GS_ZDB_NOT_FOUND,     /* DEL of a missing key */
    GS_ZDB_UPDATE_ONLY,   /* sequential SET of an unknown id */
    GS_ZDB_EMPTY_KEY,     /* user-key SET with an empty key */
    GS_ZDB_KEY_TOO_LARGE, /* over GS_ZDB_MAX_KEY */
    GS_ZDB_NO_SPACE,      /* over the namespace's maxsize */
    GS_ZDB_WORM,          /* overwrite or delete in a write-once namespace */
    GS_ZDB_IO,            /* the data file refused the write */
    GS_ZDB_EXISTS,        /* NSNEW of an existing namespace */
    GS_ZDB_BAD_NAME,      /* namespace name with '/', a leading '.', control bytes... */
    GS_ZDB_NAME_TOO_LONG, /* over GS_ZDB_MAX_NSNAME */
    GS_ZDB_TOO_MANY,      /* GS_ZDB_MAX_NAMESPACES reached */
    GS_ZDB_NOT_FRESH,     /* mode change of a namespace that was written to */
    GS_ZDB_NOMEM,
} gs_zdb_status_t;

/* Opens (creating them when missing) the data and index folders, loads every
 * namespace and rebuilds its index from its data files; a torn record at the end of
 * the last data file is cut off and logged. Free with gs_zdb_store_free. */
int gs_zdb_store_open(const gs_zdb_config_t *cfg, gs_zdb_store_t **out, gs_diag_t *diag);
void gs_zdb_store_free(gs_zdb_store_t *s);

size_t gs_zdb_store_count(const gs_zdb_store_t *s);
/* Namespaces in creation order; 0 is "default". */
gs_zdb_ns_t *gs_zdb_store_at(const gs_zdb_store_t *s, size_t i);
gs_zdb_ns_t *gs_zdb_ns_find(const gs_zdb_store_t *s, const char *name, size_t len);
gs_zdb_ns_t *gs_zdb_ns_default(const gs_zdb_store_t *s);
bool gs_zdb_ns_is_default(const gs_zdb_ns_t *ns);

typedef struct {
    uint64_t data_read_bytes, data_write_bytes, data_read_failed, data_write_failed;
    uint64_t index_write_bytes, index_write_failed;
} gs_zdb_store_stats_t;
const gs_zdb_store_stats_t *gs_zdb_store_stats(const gs_zdb_store_t *s);

gs_zdb_status_t gs_zdb_ns_create(gs_zdb_store_t *s, const char *name, size_t len,
                                 gs_zdb_ns_t **out);
/* Removes the namespace and its files; ns is freed. */
gs_zdb_status_t gs_zdb_ns_remove(gs_zdb_store_t *s, gs_zdb_ns_t *ns);
/* Saves the settings after a change. */
gs_zdb_status_t gs_zdb_ns_save(gs_zdb_ns_t *ns);
/* Changes the mode of a namespace never written to. */
gs_zdb_status_t gs_zdb_ns_set_mode(gs_zdb_ns_t *ns, gs_zdb_mode_t mode);
/* Replaces the password (NULL or "" clears it). */
gs_zdb_status_t gs_zdb_ns_set_password(gs_zdb_ns_t *ns, const char *password, size_t len);

/* The live entry of key, or NULL. */
const gs_zdb_entry_t *gs_zdb_get(const gs_zdb_ns_t *ns, const void *key, size_t klen);
/* Stores val under key (sequential mode: an empty key takes the next id) with
 * timestamp ts (0 = now). On GS_ZDB_OK *out is the entry written (its key is the id). */
gs_zdb_status_t gs_zdb_set(gs_zdb_ns_t *ns, const void *key, size_t klen, const void *val,
                           size_t vlen, uint64_t ts, const gs_zdb_entry_t **out);
gs_zdb_status_t gs_zdb_del(gs_zdb_ns_t *ns, const void *key, size_t klen);
/* Reads e's payload (e->len bytes) into dst. GS_OK or GS_EIO. */
int gs_zdb_read(gs_zdb_ns_t *ns, const gs_zdb_entry_t *e, void *dst);
/* 1 when the stored payload still has its CRC32, 0 when not, GS_EIO. */
int gs_zdb_check(gs_zdb_ns_t *ns, const gs_zdb_entry_t *e);
/* The first live entry whose slot is >= *slot, with *slot set to it; NULL at the end. */
const gs_zdb_entry_t *gs_zdb_scan(const gs_zdb_ns_t *ns, uint64_t *slot);
/* Fault injection: flips (xor 0xff) byte `at` of key's stored payload on disk. */
int gs_zdb_corrupt(gs_zdb_ns_t *ns, const void *key, size_t klen, size_t at, gs_diag_t *diag);

/* ---- server ---- */

typedef struct gs_zdb_server gs_zdb_server_t;
typedef void (*gs_zdb_closed_cb)(void *ud);

/* Opens the store and listens on cfg's address (cfg is copied). Free with
 * gs_zdb_server_close. On failure the loop must still run once, to let a listener that
 * failed to bind close (the half-started server frees itself then). The process should
 * ignore SIGPIPE, as for any libuv server. */
int gs_zdb_server_start(uv_loop_t *loop, const gs_zdb_config_t *cfg, gs_zdb_server_t **out,
                        gs_diag_t *diag);
/* Stops listening, closes every connection and the store, then calls cb (maybe before
 * returning, when no handle was open) and frees s. */
void gs_zdb_server_close(gs_zdb_server_t *s, gs_zdb_closed_cb cb, void *ud);
/* The bound port and "host:port" ("[::1]:port" for IPv6). */
int gs_zdb_server_port(const gs_zdb_server_t *s);
const char *gs_zdb_server_address(const gs_zdb_server_t *s);
gs_zdb_store_t *gs_zdb_server_store(gs_zdb_server_t *s);
size_t gs_zdb_server_clients(const gs_zdb_server_t *s);

/* Fault injection. down: the node is gone: the listener closes (connections are
 * refused) and every connection is dropped. up: listens again on the same address and
 * port, with the data as it was. */
void gs_zdb_server_down(gs_zdb_server_t *s);
int gs_zdb_server_up(gs_zdb_server_t *s, gs_diag_t *diag);
bool gs_zdb_server_is_up(const gs_zdb_server_t *s);
/* Flips byte `at` of a stored value (CHECK then answers :0 and GET the damaged bytes). */
int gs_zdb_server_corrupt(gs_zdb_server_t *s, const char *ns, const void *key, size_t klen,
                          size_t at, gs_diag_t *diag);

#endif /* GS_SIM_ZDB_H */
