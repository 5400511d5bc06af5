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
/* Sequential-mode ids are 8-byte little-endian keys. */
void gs_zdb_id_key(uint64_t id, unsigned char key[8]);
int gs_zdb_key_id(const char *key, size_t len, uint64_t *id);

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
int gs_stripe_encode(const gs_codec_params_t *p, const uint8_t *key, uint64_t stripe_no,
                     bool last, const uint8_t *plain, size_t len, gs_stripe_t *out,
                     gs_diag_t *diag);
/* Checks one chunk alone: length, magic, version, CRC and the header's own consistency.
 * GS_ECORRUPT (with why) when it is not a sound chunk. */
int gs_stripe_chunk_parse(const uint8_t *chunk, size_t n, gs_chunk_info_t *info,
                          gs_diag_t *diag);
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
int gs_stripe_rebuild(const gs_codec_params_t *p, uint64_t stripe_no,
                      const uint8_t *const *chunks, const size_t *lens, gs_stripe_t *out,
                      gs_diag_t *diag);

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
    unsigned workers;  /* stripes encoded at once; 0: one less than the CPUs, at least 1 */
} gs_codec_store_opts_t;

/* Defaults: gs_codec_params_default, inline up to GS_CODEC_INLINE_DEFAULT, window 4. */
void gs_codec_store_opts_default(gs_codec_store_opts_t *o);

/* The end of a store, on the loop thread, exactly once. On success err is 0 and meta a
 * new record that the callback owns (gs_meta_free it); otherwise meta is NULL and msg
 * says why (chunks already written stay in the backends as garbage). */
typedef void (*gs_codec_store_cb)(int err, const char *msg, gs_meta_t *meta, void *ud);

/* Stores what fd gives until its end (a file or a pipe in blocking mode; read from its
 * current position, not closed) through s, shard i to backend i (s must have data + parity backends).
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
int gs_codec_retrieve(gs_shard_store_t *s, const gs_meta_t *meta, uint64_t offset,
                      uint64_t length, gs_codec_sink_cb sink, gs_codec_done_cb done, void *ud,
                      gs_codec_reader_t **out, gs_diag_t *diag);
/* Stops sink calls (work already started finishes, up to the window) until resume. */
void gs_codec_reader_pause(gs_codec_reader_t *r);
void gs_codec_reader_resume(gs_codec_reader_t *r);
/* Ends the read: no more sink calls; done follows with GS_ECANCELED. Safe from a sink. */
void gs_codec_reader_cancel(gs_codec_reader_t *r);

#endif /* GS_CODEC_H */
