/* codec.h — the codec core: files hashed, compressed, encrypted and erasure-coded over
 * 0-db backends, their metadata records, check, repair and metadata replication.
 *
 * Pieces, bottom up:
 * - the 0-db client (gs_zdb_*): RESP over libuv TCP with pipelining, SELECT with a
 *   namespace password, AUTH, per-command timeouts, reconnect, values capped at 8 MiB;
 * - the stripe transform (gs_stripe_*): one stripe of plaintext -> data + parity shard
 *   chunks (zstd when it shrinks, AEAD with the file's key, Reed-Solomon with ISA-L), and
 *   back from any `data` good chunks; pure functions, safe on any thread;
 * - the metadata record (gs_meta_*): versioned, encrypted with the deployment key;
 * - the codec configuration file (gs_codec_config_*);
 * - the pipelines over a shard store (gs_shard_store_t): memory for tests and
 *   benchmarks, 0-db backends for real use.
 *
 * Ownership: a function that returns a heap object says so; every destructor accepts
 * NULL. Keys live in sodium_malloc'ed memory and are wiped when freed. */
#ifndef GS_CODEC_H
#define GS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common.h"

#define GS_CODEC_MAX_SHARDS  255                  /* data + parity, ISA-L's limit */
#define GS_CODEC_CHUNK_MAX   GS_RESP_MAX_PAYLOAD  /* one 0-db value: 8 MiB */
#define GS_CODEC_KEY_LEN     32                   /* deployment key and file keys */
#define GS_CODEC_HASH_LEN    24                   /* BLAKE2b-192 */
#define GS_CODEC_EXT_MAX     16                   /* a file id's extension, without the dot */
/* A file id: 48 hex of the BLAKE2b-192, 8 hex of the metadata record's 0-db id, then
 * ".ext" when there is one. */
#define GS_CODEC_ID_MAX      (48 + 8 + 1 + GS_CODEC_EXT_MAX + 1)

/* ---- 0-db client ------------------------------------------------------------------------ */

typedef struct gs_zdb gs_zdb_t;

typedef struct {
    const char *address;   /* "host:port", "[v6]:port" */
    const char *ns;        /* namespace to SELECT after connecting; NULL: default */
    const char *password;  /* the namespace's password; NULL: none */
    const char *admin;     /* AUTH password sent first; NULL: none */
    unsigned timeout_ms;   /* per command, from sending to its reply; 0: 10000 */
    unsigned connect_ms;   /* connect + AUTH + SELECT; 0: 5000 */
} gs_zdb_opts_t;

/* The reply to one command. On a transport failure (not connected, timeout, protocol
 * error, reply over the caps, client closed) reply is NULL and err < 0 with msg;
 * otherwise err is 0 and reply is what the server said, including "-error" replies.
 * reply is valid only during the call. */
typedef void (*gs_zdb_cb)(const gs_resp_value_t *reply, int err, const char *msg, void *ud);

/* A client on loop; connects on the first command and again after a failure. The
 * options' strings are copied. Returns NULL only when out of memory or the address
 * does not parse (diag says why). */
gs_zdb_t *gs_zdb_new(uv_loop_t *loop, const gs_zdb_opts_t *opts, gs_diag_t *diag);
/* Queues one command (pipelined: it is written at once when connected). argv[i] holds
 * lens[i] bytes and is copied. cb runs exactly once, never from inside this call.
 * GS_ETOOBIG for a value over 8 MiB, GS_EINVAL for argc outside 1..1024. */
int gs_zdb_command(gs_zdb_t *z, size_t argc, const char *const *argv, const size_t *lens,
                   gs_zdb_cb cb, void *ud);
/* Closes: pending commands get GS_ECANCELED; the memory goes when libuv has closed the
 * socket (run the loop). */
void gs_zdb_close(gs_zdb_t *z);
/* Commands sent and not yet answered, plus those queued. */
size_t gs_zdb_pending(const gs_zdb_t *z);
/* The address the client was made for (its own copy; "" for NULL). */
const char *gs_zdb_address(const gs_zdb_t *z);
/* Sequential-mode ids are 8-byte little-endian keys. key_id also takes the 4-byte keys of
 * 0-db v1 servers; any other length is GS_EPARSE. */
void gs_zdb_id_key(uint64_t id, unsigned char key[8]);
int gs_zdb_key_id(const char *key, size_t len, uint64_t *id);

/* Conveniences over gs_zdb_command, same rules. SET key value (in sequential mode an
 * empty key makes a new id: the reply is its key); GET key. */
int gs_zdb_set(gs_zdb_t *z, const void *key, size_t key_len, const void *value, size_t len,
               gs_zdb_cb cb, void *ud);
int gs_zdb_get(gs_zdb_t *z, const void *key, size_t key_len, gs_zdb_cb cb, void *ud);
/* A command of NUL-terminated text arguments, the list ending with NULL (at most 16):
 * gs_zdb_cmd(z, cb, ud, "NSINFO", "meta", NULL). */
int gs_zdb_cmd(gs_zdb_t *z, gs_zdb_cb cb, void *ud, const char *name, ...)
    __attribute__((sentinel));
/* One "key: value" line of an INFO or NSINFO reply (a BULK), copied into out; false when
 * absent, when the reply is not a BULK, or when the value does not fit. */
bool gs_zdb_info_field(const gs_resp_value_t *reply, const char *key, char *out, size_t outlen);

/* ---- codec parameters and stripes ------------------------------------------------------- */

typedef enum { GS_CIPHER_AES256GCM = 1, GS_CIPHER_XCHACHA20POLY1305 = 2 } gs_cipher_t;

typedef struct {
    unsigned data, parity;  /* Reed-Solomon: 1 <= data, 0 <= parity, data + parity <= 255 */
    size_t stripe_size;     /* plaintext bytes per stripe (default 4 MiB) */
    int zstd_level;         /* default 3 */
    gs_cipher_t cipher;     /* default: AES-256-GCM when the CPU has it */
} gs_codec_params_t;

/* Defaults: 16 + 4, 4 MiB stripes, zstd level 3, the cipher the CPU does best. */
void gs_codec_params_default(gs_codec_params_t *p);
/* Refuses counts or sizes outside the bounds above, and a stripe whose shard chunks would
 * not fit in one 0-db value. */
int gs_codec_params_check(const gs_codec_params_t *p, gs_diag_t *diag);

/* One encoded stripe: data + parity chunks of chunk_len bytes each. A chunk carries its
 * own header (stripe number, shard index, lengths) and checksum, so a bad chunk is found
 * without the others. */
typedef struct {
    unsigned n;                              /* data + parity */
    size_t chunk_len;
    uint8_t *chunk[GS_CODEC_MAX_SHARDS];     /* owned; one allocation per chunk */
} gs_stripe_t;

void gs_stripe_free(gs_stripe_t *s);

/* ---- metadata records ------------------------------------------------------------------- */

/* Where one shard of a file lives: a backend (by its address and namespace, as written
 * in the codec configuration) and the 0-db ids of its chunks, one per stripe. */
typedef struct {
    char *backend;  /* "namespace@address" */
    uint64_t *ids;  /* n_stripes ids */
} gs_meta_shard_t;

typedef struct {
    uint8_t hash[GS_CODEC_HASH_LEN];
    uint64_t size;                        /* plaintext bytes */
    char ext[GS_CODEC_EXT_MAX + 1];       /* "" when none */
    int64_t created;                      /* unix seconds */
    gs_codec_params_t params;
    uint8_t *file_key;                    /* GS_CODEC_KEY_LEN bytes, sodium_malloc'ed */
    uint64_t n_stripes;
    unsigned n_shards;                    /* data + parity, or 0 for an inline file */
    gs_meta_shard_t *shards;
    uint8_t *inline_data;                 /* small files: the encrypted content itself */
    size_t inline_len;
} gs_meta_t;

void gs_meta_free(gs_meta_t *m);

/* ---- shard stores ----------------------------------------------------------------------- */

/* Where chunks go: n_backends sequential-mode namespaces, each an append-only list of
 * values with 64-bit ids. Two kinds exist: memory (tests, benchmarks) and 0-db backends.
 * Every operation answers through its callback exactly once, on the loop thread, never
 * from inside the call that started it. */
typedef struct gs_shard_store gs_shard_store_t;

/* put: the new chunk's id. */
typedef void (*gs_shard_put_cb)(int err, const char *msg, uint64_t id, void *ud);
/* get: the chunk's bytes, valid only during the call; GS_ENOENT when there is none. */
typedef void (*gs_shard_get_cb)(int err, const char *msg, const uint8_t *p, size_t n, void *ud);
/* check: err 0 and ok true/false for the backend's own checksum of the value (0-db's
 * CHECK); GS_ENOENT when there is none. */
typedef void (*gs_shard_check_cb)(int err, const char *msg, bool ok, void *ud);

typedef struct {
    int (*put)(gs_shard_store_t *s, unsigned backend, const uint8_t *p, size_t n,
               gs_shard_put_cb cb, void *ud); /* p is copied or sent before returning */
    int (*get)(gs_shard_store_t *s, unsigned backend, uint64_t id, gs_shard_get_cb cb, void *ud);
    int (*check)(gs_shard_store_t *s, unsigned backend, uint64_t id, gs_shard_check_cb cb,
                 void *ud);
    void (*close)(gs_shard_store_t *s); /* pending operations get GS_ECANCELED */
} gs_shard_store_ops_t;

struct gs_shard_store {
    const gs_shard_store_ops_t *ops;
    uv_loop_t *loop;
    unsigned n_backends;
    char **names; /* n_backends names, "namespace@address" for 0-db backends */
};

/* ---- 0-db shard store ------------------------------------------------------------------- */

/* A shard store over n 0-db sequential-mode namespaces, one client each (backends[i]
 * gives its address, namespace, password and timeouts; copied). put is `SET "" chunk`
 * (the reply's key is the id), get is `GET id`, check is `CHECK id`; a missing id is
 * GS_ENOENT, an "-error" reply GS_EREFUSED with the server's text, a transport failure
 * the client's code (GS_ECONN, GS_ETIMEDOUT, ...). Backend names are "ns@address"
 * ("default@address" without a namespace). Returns NULL (diag says why) when out of
 * memory, n is 0 or an address does not parse. Free with s->ops->close(s): pending
 * operations get GS_ECANCELED and the memory goes once the sockets have closed (run the
 * loop). */
gs_shard_store_t *gs_shard_store_zdb_new(uv_loop_t *loop, const gs_zdb_opts_t *backends, unsigned n,
                                         gs_diag_t *diag);

/* ---- metadata replication ---------------------------------------------------------------- */

/* A follower copies the metadata master namespace (sequential mode) to a replica
 * namespace on another 0-db, keeping every id identical: record N of the master is record
 * N of the replica. It resumes from the replica's own id counter (no local state), copies
 * new ids in order with a few commands in flight, reproduces deleted ids as deleted ones,
 * re-copies records the master rewrites while it runs, and applies master deletions when
 * the live-record counts differ. See codec/follow.c for what it cannot see. */
typedef struct gs_follower gs_follower_t;

/* A failure, for the log: err < 0 and a message fit for a user (valid during the call).
 * fatal: the follower gave up (another writer on the replica, a replica ahead of the
 * master, a namespace not in sequential mode) and stays stopped until freed; otherwise it
 * retries after the poll interval. The callback may call gs_follower_stop. */
typedef void (*gs_follower_error_cb)(int err, const char *msg, bool fatal, void *ud);
typedef void (*gs_follower_stopped_cb)(void *ud);

typedef struct {
    unsigned poll_ms;  /* pause when caught up and after a failure; 0: 1000 */
    unsigned window;   /* commands in flight (both 0-dbs together); 0: 16, at most 256 */
    unsigned batch;    /* ids copied before the counters are read again; 0: 1024 */
    bool verify_on_start; /* compare every record once at start (re-copies what differs) */
    gs_follower_error_cb on_error; /* may be NULL */
    void *ud;                      /* for on_error */
} gs_follower_opts_t;

typedef struct {
    bool known;            /* both counters have been read at least once */
    bool running, failed;  /* failed: stopped after a fatal error */
    uint64_t master_next;  /* the master's next id, as last read */
    uint64_t replica_next; /* the replica's next id: every id below it is copied */
    uint64_t lag;          /* master_next - replica_next (0 when caught up) */
    uint64_t master_entries, replica_entries; /* live records, as last read */
    uint64_t copied;       /* new ids written by this follower */
    uint64_t gaps;         /* of which deleted on the master: written, then deleted */
    uint64_t updated;      /* rewritten master records copied again */
    uint64_t deleted;      /* master deletions applied to the replica */
    uint64_t errors;       /* failures reported (fatal or not) */
    int last_err;          /* 0 when none */
    char last_error[GS_DIAG_MAX];
} gs_follower_stats_t;

/* A follower on loop from master to replica (both copied; ns NULL means "default"). It
 * does nothing until gs_follower_start. NULL (diag says why) when out of memory or an
 * address does not parse. Free it with gs_follower_stop. */
gs_follower_t *gs_follower_new(uv_loop_t *loop, const gs_zdb_opts_t *master,
                               const gs_zdb_opts_t *replica, const gs_follower_opts_t *o,
                               gs_diag_t *diag);
/* Starts polling (the first round at once). GS_EINVAL when already started or stopped. */
int gs_follower_start(gs_follower_t *f);
/* Stops and frees f (NULL is fine): commands in flight are canceled, and once libuv has
 * closed the follower's handles, stopped(ud) runs (may be NULL). Run the loop. What was
 * copied stays copied: a new follower resumes from the replica's counter. */
void gs_follower_stop(gs_follower_t *f, gs_follower_stopped_cb stopped, void *ud);
void gs_follower_stats(const gs_follower_t *f, gs_follower_stats_t *out);
/* Records the replica is behind by; false until both counters were read once. */
bool gs_follower_lag(const gs_follower_t *f, uint64_t *lag);
/* Copies master record id again (or deletes it on the replica when the master deleted
 * it) in the next round: for a record rewritten while no follower ran (see
 * verify_on_start) or after the master's log was compacted. Ids not copied yet need
 * nothing. GS_ERANGE when 4096 requests are already waiting. */
int gs_follower_resync_id(gs_follower_t *f, uint64_t id);

#endif /* GS_CODEC_H */
