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

#define GS_CODEC_MAX_SHARDS 255                 /* data + parity, ISA-L's limit */
#define GS_CODEC_CHUNK_MAX  GS_RESP_MAX_PAYLOAD /* one 0-db value: 8 MiB */
#define GS_CODEC_KEY_LEN    32                  /* deployment key and file keys */
#define GS_CODEC_HASH_LEN   24                  /* BLAKE2b-192 */
#define GS_CODEC_EXT_MAX    16                  /* a file id's extension, without the dot */
/* A file id: 48 hex of the BLAKE2b-192, 8 hex of the metadata record's 0-db id, then
 * ".ext" when there is one. */
#define GS_CODEC_ID_MAX (48 + 8 + 1 + GS_CODEC_EXT_MAX + 1)

/* ---- 0-db client ------------------------------------------------------------------------ */

typedef struct gs_zdb gs_zdb_t;

typedef struct {
    const char *address;  /* "host:port", "[v6]:port" */
    const char *ns;       /* namespace to SELECT after connecting; NULL: default */
    const char *password; /* the namespace's password; NULL: none */
    const char *admin;    /* AUTH password sent first; NULL: none */
    unsigned timeout_ms;  /* per command, from sending to its reply; 0: 10000 */
    unsigned connect_ms;  /* connect + AUTH + SELECT; 0: 5000 */
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
/* A sequential namespace's counters from an NSINFO reply: live entries and the next id
 * (NSINFO prints next_internal_id as 0x%08x of the byte-swapped id). GS_EINVAL when the
 * namespace is not sequential, GS_EPARSE when the reply lacks them; *why says which. */
int gs_zdb_nsinfo_counters(const gs_resp_value_t *v, uint64_t *entries, uint64_t *next,
                           const char **why);

/* ---- codec parameters and stripes ------------------------------------------------------- */

typedef enum { GS_CIPHER_AES256GCM = 1, GS_CIPHER_XCHACHA20POLY1305 = 2 } gs_cipher_t;

typedef struct {
    unsigned data, parity; /* Reed-Solomon: 1 <= data, 0 <= parity, data + parity <= 255 */
    size_t stripe_size;    /* plaintext bytes per stripe (default 4 MiB) */
    int zstd_level;        /* default 1 */
    gs_cipher_t cipher;    /* default: AES-256-GCM when the CPU has it */
} gs_codec_params_t;

/* Defaults: 16 + 4, 4 MiB stripes, zstd level 1 (its fastest: a compressible store is
 * bound by zstd, not by the hash), the cipher the CPU does best. */
void gs_codec_params_default(gs_codec_params_t *p);
/* Refuses counts or sizes outside the bounds above, and a stripe whose shard chunks would
 * not fit in one 0-db value. */
int gs_codec_params_check(const gs_codec_params_t *p, gs_diag_t *diag);

/* One encoded stripe: data + parity chunks of chunk_len bytes each. A chunk carries its
 * own header (stripe number, shard index, lengths) and checksum, so a bad chunk is found
 * without the others. */
typedef struct {
    unsigned n; /* data + parity */
    size_t chunk_len;
    uint8_t *chunk[GS_CODEC_MAX_SHARDS]; /* owned; one allocation per chunk */
} gs_stripe_t;

void gs_stripe_free(gs_stripe_t *s);

/* ---- stripes ---------------------------------------------------------------------------- */

/* A chunk is a fixed header, then its shard's payload. The header (little-endian):
 *   0 magic "GSCK", 4 version (1), 5 flags (1 compressed, 2 last stripe), 6 cipher,
 *   7 zero, 8 shard index, 9 data count, 10 parity count, 11 zero, 12 payload length (u32),
 *   16 stripe number (u64), 24 ciphertext length (u32), 28 plaintext length (u32),
 *   32 CRC32C (iSCSI) of bytes 0..31 followed by the payload. */
#define GS_STRIPE_HDR_LEN 36u

/* What a chunk's header says. */
typedef struct {
    uint64_t stripe_no;
    unsigned shard, data, parity;
    gs_cipher_t cipher;
    uint32_t payload_len; /* ceil(ct_len / data) */
    uint32_t ct_len;      /* AEAD ciphertext with its tag */
    uint32_t plain_len;   /* the stripe's plaintext */
    bool compressed, last;
} gs_chunk_info_t;

/* Encodes one stripe of plaintext (len <= p->stripe_size, plain may be NULL when len is
 * 0) with the file's key: zstd when a sample says it pays and the result is smaller, AEAD
 * (nonce from stripe_no; associated data binds stripe_no, last, compressed and the
 * lengths), then Reed-Solomon into p->data + p->parity chunks whose payload is
 * ceil(ciphertext / data) bytes. out is filled (gs_stripe_free it, also after an error).
 * Pure: safe on any thread. */
int gs_stripe_encode(const gs_codec_params_t *p, const uint8_t *key, uint64_t stripe_no, bool last,
                     const uint8_t *plain, size_t len, gs_stripe_t *out, gs_diag_t *diag);
/* Checks one chunk alone: length, magic, version, CRC and the header's own consistency.
 * GS_ECORRUPT (with why) when it is not a sound chunk. */
int gs_stripe_chunk_parse(const uint8_t *chunk, size_t n, gs_chunk_info_t *info, gs_diag_t *diag);
/* Decodes a stripe from chunks[0 .. data + parity) (NULL for a missing one, lens[i] its
 * bytes). A chunk whose CRC or header is wrong (another stripe, shard, count or length) is
 * skipped as missing and, when bad is not NULL, bad[i] is set true (other entries are left
 * as they were). When all data chunks are good no Reed-Solomon runs. On success *out holds
 * *out_len plaintext bytes (malloc'ed, caller frees; NULL when empty) and *last the
 * last-stripe flag (may be NULL). GS_EUNAVAIL when fewer than `data` good chunks are
 * there, GS_ECORRUPT when authentication or decompression fails. Pure, like encode. */
int gs_stripe_decode(const gs_codec_params_t *p, const uint8_t *key, uint64_t stripe_no,
                     const uint8_t *const *chunks, const size_t *lens, uint8_t **out,
                     size_t *out_len, bool *last, bool *bad, gs_diag_t *diag);
/* Repair without the key: rebuilds every chunk that is NULL or bad in chunks[] from
 * `data` good ones, byte for byte what encode made. out->chunk[i] is set (owned by out)
 * only for the rebuilt ones; out->n and out->chunk_len are set. GS_EUNAVAIL when fewer
 * than `data` good chunks are there. */
int gs_stripe_rebuild(const gs_codec_params_t *p, uint64_t stripe_no, const uint8_t *const *chunks,
                      const size_t *lens, gs_stripe_t *out, gs_diag_t *diag);

/* ---- metadata records ------------------------------------------------------------------- */

/* Where one shard of a file lives: a backend (by its address and namespace, as written
 * in the codec configuration) and the 0-db ids of its chunks, one per stripe. */
typedef struct {
    char *backend; /* "namespace@address" */
    uint64_t *ids; /* n_stripes ids */
} gs_meta_shard_t;

typedef struct {
    uint8_t hash[GS_CODEC_HASH_LEN];
    uint64_t size;                  /* plaintext bytes */
    char ext[GS_CODEC_EXT_MAX + 1]; /* "" when none */
    int64_t created;                /* unix seconds */
    gs_codec_params_t params;
    uint8_t *file_key; /* GS_CODEC_KEY_LEN bytes, sodium_malloc'ed */
    uint64_t n_stripes;
    unsigned n_shards; /* data + parity, or 0 for an inline file */
    gs_meta_shard_t *shards;
    uint8_t *inline_data; /* small files: the encrypted content itself */
    size_t inline_len;
} gs_meta_t;

/* Frees a record made by gs_meta_decode or the store pipeline: m itself and all it holds
 * (the file key wiped). */
void gs_meta_free(gs_meta_t *m);

/* A record's bytes as stored in the metadata 0-db: "GSM", a version byte, a random
 * 24-byte nonce, then the body sealed with XChaCha20-Poly1305 under the deployment key
 * (docs/codec-format.md has the layout). A record is at most GS_META_MAX bytes, so that
 * its backup still fits one 0-db value; a sharded file has at most GS_META_MAX_CHUNKS
 * chunks (stripes x shards). */
#define GS_META_VERSION    1
#define GS_META_MAX        (GS_CODEC_CHUNK_MAX - 64)
#define GS_META_MAX_CHUNKS (1u << 22)

/* Appends the sealed record of m to out (the caller's buffer; GS_ETOOBIG past its max).
 * m is checked first as a decoder would check it (GS_EINVAL, diag says what is wrong). */
int gs_meta_encode(const gs_meta_t *m, const uint8_t deploy_key[GS_CODEC_KEY_LEN], gs_buf_t *out,
                   gs_diag_t *diag);
/* Opens and checks a record read from outside: *out is a new record (gs_meta_free it)
 * on success, NULL otherwise. GS_ECORRUPT for anything that is not a whole, valid record
 * sealed under deploy_key (diag says what, e.g. "record does not open with this
 * deployment key" or an unknown version). Never trusts a count or a length. */
int gs_meta_decode(const uint8_t *p, size_t n, const uint8_t deploy_key[GS_CODEC_KEY_LEN],
                   gs_meta_t **out, gs_diag_t *diag);

/* The backup of a record in the data backends, which a recovery scan tells apart from
 * shard chunks by its magic "GSB": the record's id in the metadata namespace, a revision
 * and the record's bytes, sealed again under the deployment key. A record rewritten in
 * place (repair) is backed up again with a higher revision, so that a recovery takes the
 * newest. gs_meta_backup_encode takes the revision from the clock
 * (gs_meta_backup_revision_now: unix time in microseconds); _rev takes it from the
 * caller. Both append to out. */
int gs_meta_backup_encode(const uint8_t *record, size_t len, uint64_t meta_id,
                          const uint8_t deploy_key[GS_CODEC_KEY_LEN], gs_buf_t *out,
                          gs_diag_t *diag);
int gs_meta_backup_encode_rev(const uint8_t *record, size_t len, uint64_t meta_id,
                              uint64_t revision, const uint8_t deploy_key[GS_CODEC_KEY_LEN],
                              gs_buf_t *out, gs_diag_t *diag);
uint64_t gs_meta_backup_revision_now(void);
/* True when p starts like a backup value (magic and a known version, 1 or 2); a cheap
 * test for scans before gs_meta_backup_open. */
bool gs_meta_backup_is(const uint8_t *p, size_t n);
/* Opens a backup value: *meta_id, *revision (may be NULL; 0 for a version-1 backup, which
 * had none) and the record's bytes appended to record (the caller's buffer; gs_meta_decode
 * them next). GS_ECORRUPT when it is not a backup sealed under deploy_key. */
int gs_meta_backup_open(const uint8_t *p, size_t n, const uint8_t deploy_key[GS_CODEC_KEY_LEN],
                        uint64_t *meta_id, uint64_t *revision, gs_buf_t *record, gs_diag_t *diag);
/* gs_meta_backup_open without the revision. */
int gs_meta_backup_decode(const uint8_t *p, size_t n, const uint8_t deploy_key[GS_CODEC_KEY_LEN],
                          uint64_t *meta_id, gs_buf_t *record, gs_diag_t *diag);

/* ---- configuration ---------------------------------------------------------------------- */

/* One 0-db namespace as the codec configuration names it. */
typedef struct {
    char *address;  /* "host:port" or "[v6]:port" */
    char *ns;       /* the namespace (1..128 characters, no spaces, no '@') */
    char *password; /* NULL: none */
} gs_codec_endpoint_t;

#define GS_CODEC_MAX_REPLICAS 8

/* The codec configuration file (YAML; JSON is read as YAML's flow style), as used by
 * `gridstor put/get --codec FILE` and by the gateway. docs/codec-format.md lists the keys. */
typedef struct {
    gs_codec_params_t params; /* cipher already chosen when cipher_auto */
    bool cipher_auto;         /* `cipher: auto` or absent: the best cipher of this CPU */
    uint8_t *key;             /* the deployment key, GS_CODEC_KEY_LEN bytes, sodium_malloc'ed */
    char *key_file;           /* the file the key came from (resolved path), or NULL */
    gs_codec_endpoint_t meta_master;
    gs_codec_endpoint_t *meta_replicas; /* n_meta_replicas, at most GS_CODEC_MAX_REPLICAS */
    size_t n_meta_replicas;
    /* At least data + parity backends, at most GS_CODEC_MAX_SHARDS. With exactly
     * data + parity, shard i of a new file goes to backends[i]; with more, `placement:
     * spread` (the default) starts each file at a random backend and takes the next
     * data + parity in a ring, so files spread over all of them, and `placement: spares`
     * keeps shard i on backends[i] and the rest for repair. A record names each shard's
     * backend; repair may move a shard to any backend that holds none of the file's. */
    gs_codec_endpoint_t *backends;
    size_t n_backends;
    bool spares;                     /* placement: spares */
    unsigned connect_ms, command_ms; /* 0-db timeouts (defaults 5000 and 10000) */
} gs_codec_config_t;

/* Reads and checks a configuration file: 0, or an error with diag "file:line:col: key:
 * reason" (GS_EINVAL), GS_ENOENT / GS_EIO / GS_ETOOBIG for the file itself. On failure
 * cfg holds nothing to free; on success gs_codec_config_free it. */
int gs_codec_config_load(const char *path, gs_codec_config_t *cfg, gs_diag_t *diag);
/* The same for text in memory; `file` names it in messages and is the folder a relative
 * key_file is found from (NULL: "<codec>", the current folder). */
int gs_codec_config_parse(const char *text, size_t len, const char *file, gs_codec_config_t *cfg,
                          gs_diag_t *diag);
/* Frees what cfg holds (the key wiped); cfg may be NULL or already freed. */
void gs_codec_config_free(gs_codec_config_t *cfg);
/* The configuration as JSON that gs_codec_config_parse reads back (a new reference, NULL
 * when out of memory). Without secrets the key and the passwords are left out (key_file
 * stays); with them the key is written inline as hex and key_file left out. */
json_t *gs_codec_config_to_json(const gs_codec_config_t *cfg, bool with_secrets);
/* The 0-db client options for endpoint e of cfg (strings borrowed from cfg). */
void gs_codec_config_zdb_opts(const gs_codec_config_t *cfg, const gs_codec_endpoint_t *e,
                              gs_zdb_opts_t *out);

/* ---- file ids --------------------------------------------------------------------------- */

/* True for "" (no extension) and for 1..GS_CODEC_EXT_MAX characters of [a-z0-9]. */
bool gs_codec_ext_valid(const char *ext);
/* The extension of a file name, lowercased ("photo.JPG" -> "jpg"), into ext; false (ext
 * "") when the name has none or it is not 1..16 of [a-zA-Z0-9]. */
bool gs_codec_ext_from_name(const char *name, char ext[GS_CODEC_EXT_MAX + 1]);
/* "<48 hex of hash><8 hex of meta_id>[.ext]" into out. GS_ERANGE when meta_id does not
 * fit 8 hex digits, GS_EINVAL for an invalid ext (NULL or "": none). */
int gs_codec_id_format(const uint8_t hash[GS_CODEC_HASH_LEN], uint64_t meta_id, const char *ext,
                       char out[GS_CODEC_ID_MAX]);
/* The ed25519 key pair the deployment's gateways sign file ids with, derived from the
 * deployment key: seed = BLAKE2b-256 keyed by the key over "gridstor gateway". Anyone
 * with the key (gridstord, the gateways) finds the same pair, so clients can pin the
 * public key. sk may be NULL. */
void gs_codec_gateway_keypair(const uint8_t key[GS_CODEC_KEY_LEN], uint8_t pk[32], uint8_t *sk);
/* Parses a file id strictly (lowercase hex, exact lengths, a valid extension or none);
 * ext gets "" when there is none. GS_EINVAL with diag otherwise. */
int gs_codec_id_parse(const char *s, uint8_t hash[GS_CODEC_HASH_LEN], uint64_t *meta_id,
                      char ext[GS_CODEC_EXT_MAX + 1], gs_diag_t *diag);

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

/* ---- memory shard store ----------------------------------------------------------------- */

/* A store in memory with n_backends backends named "mem<i>@memory"; answers come from
 * the loop, never from inside a call. Close it with s->ops->close(s) and run the loop.
 * NULL when out of memory or n_backends is outside 1..255. */
gs_shard_store_t *gs_shard_store_memory_new(uv_loop_t *loop, unsigned n_backends);
/* Faults, for tests: a backend down answers every operation, also those already queued,
 * with GS_ECONN; flip inverts one bit of byte (offset % length) of a stored value; drop
 * forgets a value (GS_ENOENT afterwards). GS_ENOENT / GS_EINVAL for no such value. */
void gs_shard_store_memory_set_down(gs_shard_store_t *s, unsigned backend, bool down);
int gs_shard_store_memory_flip(gs_shard_store_t *s, unsigned backend, uint64_t id, size_t offset);
int gs_shard_store_memory_drop(gs_shard_store_t *s, unsigned backend, uint64_t id);
/* Values a backend has served so far (successful gets). */
uint64_t gs_shard_store_memory_gets(const gs_shard_store_t *s, unsigned backend);

/* ---- pipelines -------------------------------------------------------------------------- */

/* Files up to this many bytes are kept inside their metadata record by default; the
 * records stay small, so inline_max may not exceed GS_CODEC_INLINE_MAX. */
#define GS_CODEC_INLINE_DEFAULT 4096u
#define GS_CODEC_INLINE_MAX     65536u

typedef struct {
    gs_codec_params_t params;
    const char *ext;   /* the file's extension without the dot, copied; NULL: none */
    size_t inline_max; /* files up to this size go into gs_meta_t.inline_data; 0: never */
    unsigned window;   /* stripes in flight (memory: about window x 2.3 stripes); 0: 4 */
    unsigned workers;  /* stripes encoded at once; 0: as many as the CPUs */
    /* with more backends than data + parity: true, each file starts at a random backend
     * and takes the next ones in a ring; false, shard i goes to backend i and the rest
     * are spares, never written here */
    bool spread;
    /* optional: called on the loop thread as stripes are written, with the bytes of the
     * file written so far and the store callback's ud */
    void (*progress)(uint64_t bytes_written, void *ud);
} gs_codec_store_opts_t;

/* Defaults: gs_codec_params_default, inline up to GS_CODEC_INLINE_DEFAULT, window 4. */
void gs_codec_store_opts_default(gs_codec_store_opts_t *o);

/* The end of a store, on the loop thread, exactly once. On success err is 0 and meta a
 * new record that the callback owns (gs_meta_free it); otherwise meta is NULL and msg
 * says why (chunks already written stay in the backends as garbage). */
typedef void (*gs_codec_store_cb)(int err, const char *msg, gs_meta_t *meta, void *ud);

/* Stores what fd gives until its end (a file or a pipe in blocking mode; read from its
 * current position, not closed) through s (at least data + parity backends, placed as
 * o->spread says).
 * Returns 0 and cb runs later, or an error (cb never runs). */
int gs_codec_store_fd(gs_shard_store_t *s, const gs_codec_store_opts_t *o, uv_file fd,
                      gs_codec_store_cb cb, void *ud, gs_diag_t *diag);
/* The same for len bytes at p; p is borrowed and must stay until cb. */
int gs_codec_store_mem(gs_shard_store_t *s, const gs_codec_store_opts_t *o, const void *p,
                       size_t len, gs_codec_store_cb cb, void *ud, gs_diag_t *diag);

typedef struct gs_codec_reader gs_codec_reader_t;

/* Bytes of the file in order, on the loop thread; p is valid only during the call. */
typedef void (*gs_codec_sink_cb)(const uint8_t *p, size_t n, void *ud);
/* The end of a read, exactly once, after the last sink call: err 0 when every byte asked
 * for was delivered (and for a whole-file read, the BLAKE2b-192 matched the record's);
 * the reader is freed once this returns. */
typedef void (*gs_codec_done_cb)(int err, const char *msg, void *ud);

/* Reads bytes [offset, offset + length) of the file meta describes (length UINT64_MAX:
 * to the end) through s. meta is borrowed and must stay until done. Only the stripes
 * needed are read; for each, the data chunks are asked for first and parity chunks only
 * for those missing or bad. A whole-file read withholds its last bytes until the hash
 * matched (GS_ECORRUPT otherwise). *out (may be NULL) is the handle for pause, resume
 * and cancel, valid until done. GS_ERANGE for an offset past the end. */
int gs_codec_retrieve(gs_shard_store_t *s, const gs_meta_t *meta, uint64_t offset, uint64_t length,
                      gs_codec_sink_cb sink, gs_codec_done_cb done, void *ud,
                      gs_codec_reader_t **out, gs_diag_t *diag);
/* Stops sink calls (work already started finishes, up to the window) until resume. */
void gs_codec_reader_pause(gs_codec_reader_t *r);
void gs_codec_reader_resume(gs_codec_reader_t *r);
/* Ends the read: no more sink calls; done follows with GS_ECANCELED. Safe from a sink. */
void gs_codec_reader_cancel(gs_codec_reader_t *r);

/* ---- the codec: files in a deployment ------------------------------------------------------ */

/* A deployment's storage as one thing: the data backends (a 0-db shard store), the
 * metadata master and its replicas, and the deployment key. Files go in as a stream and
 * come back by file id. Everything runs on the loop given to gs_codec_open; every
 * callback runs there, exactly once, never from inside the call that started it. */
typedef struct gs_codec gs_codec_t;

typedef struct {
    bool read_only; /* puts and repairs refused; records read from a replica first */
} gs_codec_open_opts_t;

/* Opens the codec described by cfg (copied: cfg may be freed after). Nothing is
 * connected until used. NULL opts: read-write. */
int gs_codec_open(uv_loop_t *loop, const gs_codec_config_t *cfg, const gs_codec_open_opts_t *opts,
                  gs_codec_t **out, gs_diag_t *diag);
/* Closes: pending operations end with GS_ECANCELED; memory goes once the sockets closed
 * (run the loop). */
void gs_codec_close(gs_codec_t *c);
/* The shard store over the data backends (for gs_codec_retrieve); owned by c. */
gs_shard_store_t *gs_codec_shards(gs_codec_t *c);

/* A stored file: its id (48 hex of the BLAKE2b-192, 8 hex of the record's 0-db id, then
 * ".ext"), valid only during the call. */
typedef void (*gs_codec_put_cb)(int err, const char *msg, const char *file_id, void *ud);
/* Stores what fd gives until its end (a blocking file or pipe, read from its position,
 * not closed) with extension ext (NULL or "": none; else as gs_codec_ext_valid): the
 * stripes to the backends, then the record to the metadata master, then its backup to
 * parity + 1 data backends (so the metadata can be rebuilt from them with the key alone).
 * The file id exists only once all of this succeeded. */
int gs_codec_put_fd(gs_codec_t *c, uv_file fd, const char *ext, gs_codec_put_cb cb, void *ud,
                    gs_diag_t *diag);
/* Optional, for progress displays: called as stripes of the next puts are written, with
 * the bytes written so far and the put's ud (NULL: none). */
void gs_codec_set_progress(gs_codec_t *c, void (*progress)(uint64_t bytes_written, void *ud));
int gs_codec_put_mem(gs_codec_t *c, const void *p, size_t len, const char *ext, gs_codec_put_cb cb,
                     void *ud, gs_diag_t *diag); /* p borrowed until cb */

/* A file's record, looked up by file id on the metadata master, else on each replica
 * (read-only codecs ask their replica first), and checked: it must open with the key, and
 * its hash and extension must be the id's. meta is the callback's (gs_meta_free it).
 * GS_ENOENT when no namespace has it, GS_EINVAL for a malformed id. */
typedef void (*gs_codec_meta_cb)(int err, const char *msg, gs_meta_t *meta, void *ud);
int gs_codec_lookup(gs_codec_t *c, const char *file_id, gs_codec_meta_cb cb, void *ud,
                    gs_diag_t *diag);

/* The health of one file: per shard, whether each of its chunks is there and good. */
typedef struct {
    unsigned n_shards; /* 0 for a file kept inside its record */
    unsigned good;     /* shards whose every chunk is present and checks */
    unsigned missing;  /* shards with a chunk absent or a backend unreachable */
    unsigned bad;      /* shards with a chunk the backend's checksum refuses */
    bool readable;     /* at least `data` shards good */
    bool hard_checked; /* a hard check restored the file ... */
    bool hash_ok;      /* ... and its BLAKE2b-192 matched */
    uint8_t shard_state[GS_CODEC_MAX_SHARDS]; /* per shard: 0 good, 1 missing, 2 bad */
} gs_codec_health_t;

typedef void (*gs_codec_check_cb)(int err, const char *msg, const gs_codec_health_t *h, void *ud);
/* Soft: every chunk asked with 0-db's CHECK. Hard: also the whole file restored and its
 * hash verified. err is 0 when the check ran (h says how the file is), else why not. */
int gs_codec_check(gs_codec_t *c, const char *file_id, bool hard, gs_codec_check_cb cb, void *ud,
                   gs_diag_t *diag);

typedef void (*gs_codec_repair_cb)(int err, const char *msg, unsigned rebuilt, void *ud);
/* Rebuilds only the shards that are missing or bad, from the good ones (no decryption
 * needed), onto their own backend when it answers, else onto a spare backend of the
 * configuration, then rewrites the record in place (same 0-db id, so the file id stays)
 * with the chunks' new ids, and its backup. `rebuilt` counts shards rewritten (0: it was
 * healthy). GS_EUNAVAIL when fewer than `data` shards are good. */
int gs_codec_repair(gs_codec_t *c, const char *file_id, gs_codec_repair_cb cb, void *ud,
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
    unsigned poll_ms;     /* pause when caught up and after a failure; 0: 1000 */
    unsigned window;      /* commands in flight (both 0-dbs together); 0: 16, at most 256 */
    unsigned batch;       /* ids copied before the counters are read again; 0: 1024 */
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
    uint64_t copied;                          /* new ids written by this follower */
    uint64_t gaps;    /* of which deleted on the master: written, then deleted */
    uint64_t updated; /* rewritten master records copied again */
    uint64_t deleted; /* master deletions applied to the replica */
    uint64_t errors;  /* failures reported (fatal or not) */
    int last_err;     /* 0 when none */
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

/* ---- metadata recovery ------------------------------------------------------------------- */

/* Rebuilds a deployment's metadata namespace from the backups that puts and repairs write
 * into the data backends, with the deployment key alone: every data backend of the
 * configuration is scanned, the newest backup of each record id is taken, and the records
 * are written into a sequential-mode target namespace under their very ids (an id without
 * a backup becomes a deleted one), so that every file id stays valid. The target must be
 * empty, or hold only what an earlier recovery (or the master itself) wrote: a second run
 * resumes from the target's next id and writes nothing when it is complete. Backends that
 * cannot be scanned are counted and skipped: with parity + 1 copies of every backup, any
 * `parity` of them may be down. Cost: every value of the data backends that may be a
 * backup is read once (so about the deployment's size in traffic), then each record's
 * backup once more. */
typedef enum {
    GS_RECOVER_SCAN,  /* scanning the data backends (and vetting a non-empty target) */
    GS_RECOVER_WRITE, /* writing the records into the target */
} gs_recover_phase_t;

typedef struct {
    unsigned backends;      /* data backends of the configuration */
    unsigned backends_down; /* of which could not be scanned to the end */
    uint64_t values;        /* values read from them (and from a non-empty target) */
    uint64_t backups;       /* of which metadata backups */
    uint64_t unopened;      /* backups that do not open with the deployment key */
    uint64_t undecodable;   /* backups that open but hold no valid record */
    uint64_t records;       /* distinct record ids found */
    uint64_t first_id;      /* the target's next id when the run began (ids below: kept) */
    uint64_t end_id;        /* one past the highest record id found */
    uint64_t next_id;       /* the target's next id: every id below it is written */
    uint64_t restored;      /* records written by this run */
    uint64_t gaps;          /* ids without a backup, written as deleted ones */
} gs_recover_stats_t;

/* Progress, on the loop thread: after each page of a scan and every few hundred records. */
typedef void (*gs_recover_progress_cb)(gs_recover_phase_t phase, const gs_recover_stats_t *st,
                                       void *ud);
/* The end, exactly once: err 0 when the target holds every record found (st says how
 * many were written now), else why it stopped (running again resumes). GS_ECORRUPT when
 * backups were found but none opens with the key; GS_EINVAL for a target holding values
 * that are not this deployment's records or not in sequential mode; GS_EUNAVAIL when no
 * backend could be scanned, or the target or a record's backups stop answering.
 * msg and st are valid during the call. */
typedef void (*gs_recover_done_cb)(int err, const char *msg, const gs_recover_stats_t *st,
                                   void *ud);

/* Starts a recovery on loop into target (NULL: cfg's metadata master); cfg and target are
 * copied (the key too). progress may be NULL. Returns 0 and done runs later, or an error
 * (diag says why; done never runs). */
int gs_codec_recover(uv_loop_t *loop, const gs_codec_config_t *cfg,
                     const gs_codec_endpoint_t *target, gs_recover_progress_cb progress,
                     gs_recover_done_cb done, void *ud, gs_diag_t *diag);

#endif /* GS_CODEC_H */
