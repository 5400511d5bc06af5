/* zdb_store.c — the store behind the sim's 0-db server: namespaces and their settings,
 * an append-only log of records per namespace in data files <data>/<ns>/d0, d1, ...,
 * and the in-memory index rebuilt from that log on start (every record keeps its key).
 *
 * A record is a 24-byte header (type, key length, payload length, timestamp, payload
 * CRC32, and a CRC32 over the header and the key; little-endian), the key, the payload.
 * A header that is short, fails its CRC or announces more bytes than the file holds
 * ends that file's log: at the end of the active file that is a torn write, which is
 * logged and cut off so that appends continue from the last whole record. Payload CRCs
 * are checked only by CHECK, so a damaged value stays readable (damaged), as in 0-db.
 *
 * Settings live in <index>/<ns>/zdb-namespace (JSON, written atomically, mode 0600);
 * this store keeps no index files: the data files are the whole truth. */
#include "zdb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zlib.h>

#define REC_HEADER    24
#define REC_SET       1
#define REC_DEL       2
#define SETTINGS_FILE "zdb-namespace"
#define SETTINGS_MAX  4096
#define SCRATCH_SIZE  (256u * 1024)
#define INDEX_ENTRY   30 /* bytes of a 0-db index entry before its key */
#define PATH_LEN      4096

struct gs_zdb_store {
    char *data_dir, *index_dir;
    gs_zdb_mode_t mode;
    uint64_t datasize, maxsize;
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    gs_zdb_ns_t **ns;
    size_t n_ns;
    unsigned char *scratch;
    gs_zdb_store_stats_t stats;
};

/* A record header, decoded. */
typedef struct {
    uint8_t type, klen;
    uint32_t plen, crc;
    uint64_t ts;
} rec_t;

void gs_zdb_config_init(gs_zdb_config_t *cfg)
{
    *cfg = (gs_zdb_config_t){.listen = "127.0.0.1",
                             .port = GS_ZDB_DEFAULT_PORT,
                             .data_dir = "./zdb-data",
                             .index_dir = "./zdb-index",
                             .mode = GS_ZDB_MIXED,
                             .datasize = GS_ZDB_DEFAULT_DATASIZE};
}

/* ---- bytes ---- */

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void gs_zdb_put_le64(unsigned char out[8], uint64_t v)
{
    put_le32(out, (uint32_t)v);
    put_le32(out + 4, (uint32_t)(v >> 32));
}

uint64_t gs_zdb_get_le64(const unsigned char in[8])
{
    return (uint64_t)get_le32(in) | (uint64_t)get_le32(in + 4) << 32;
}

static uint32_t crc_of(uint32_t crc, const void *p, size_t n)
{
    return (uint32_t)crc32_z(crc, p, n);
}

static uint32_t header_crc(const unsigned char *h, const void *key, size_t klen)
{
    return crc_of(crc_of(0, h, 20), key, klen);
}

static void header_encode(unsigned char h[REC_HEADER], const rec_t *r, const void *key)
{
    memset(h, 0, REC_HEADER);
    h[0] = r->type;
    h[1] = r->klen;
    put_le32(h + 4, r->plen);
    gs_zdb_put_le64(h + 8, r->ts);
    put_le32(h + 16, r->crc);
    put_le32(h + 20, header_crc(h, key, r->klen));
}

/* Decodes the header at the start of buf (n bytes, the key following it). */
static bool header_decode(const unsigned char *buf, size_t n, rec_t *r)
{
    if (n < REC_HEADER || (buf[0] != REC_SET && buf[0] != REC_DEL) || buf[2] || buf[3])
        return false;
    *r = (rec_t){.type = buf[0],
                 .klen = buf[1],
                 .plen = get_le32(buf + 4),
                 .crc = get_le32(buf + 16),
                 .ts = gs_zdb_get_le64(buf + 8)};
    return n >= (size_t)REC_HEADER + r->klen &&
           get_le32(buf + 20) == header_crc(buf, buf + REC_HEADER, r->klen);
}

/* ---- files ---- */

static int ns_path(const gs_zdb_ns_t *ns, bool data, const char *file, char *out)
{
    const char *top = data ? ns->store->data_dir : ns->store->index_dir;
    int n = file ? snprintf(out, PATH_LEN, "%s/%s/%s", top, ns->name, file)
                 : snprintf(out, PATH_LEN, "%s/%s", top, ns->name);
    return n < 0 || n >= PATH_LEN ? GS_ETOOBIG : GS_OK;
}

static int data_path(const gs_zdb_ns_t *ns, uint32_t id, char *out)
{
    char file[16];
    snprintf(file, sizeof file, "d%u", (unsigned)id);
    return ns_path(ns, true, file, out);
}

static int pread_all(int fd, void *dst, size_t n, uint64_t off)
{
    unsigned char *p = dst;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return GS_EIO;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return GS_OK;
}

static int writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return GS_EIO;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return GS_OK;
}

static void io_failed(gs_zdb_ns_t *ns, uint64_t *counter)
{
    (*counter)++;
    ns->data_io_errors++;
    ns->data_io_error_last = (uint64_t)time(NULL);
}

static int read_at(gs_zdb_ns_t *ns, uint32_t file, void *dst, size_t n, uint64_t off)
{
    if (file >= ns->n_files || pread_all(ns->fds[file], dst, n, off) != GS_OK) {
        io_failed(ns, &ns->store->stats.data_read_failed);
        return GS_EIO;
    }
    ns->store->stats.data_read_bytes += n;
    return GS_OK;
}

static int push_fd(gs_zdb_ns_t *ns, int fd)
{
    int *fds = realloc(ns->fds, (ns->n_files + 1) * sizeof *fds);
    if (fds == NULL)
        return GS_ENOMEM;
    ns->fds = fds;
    ns->fds[ns->n_files++] = fd;
    return GS_OK;
}

/* Starts data file d<n_files>, the new active one. */
static int open_next_file(gs_zdb_ns_t *ns, gs_diag_t *diag)
{
    char path[PATH_LEN];
    int fd;
    if (data_path(ns, ns->n_files, path) != GS_OK)
        return gs_diag_set(diag, GS_ETOOBIG, "zdb: data path too long");
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return gs_diag_set(diag, GS_EIO, "zdb: %s: cannot create: %s", path, strerror(errno));
    if (push_fd(ns, fd) != GS_OK) {
        close(fd);
        return gs_diag_set(diag, GS_ENOMEM, "zdb: out of memory");
    }
    ns->active_size = 0;
    return GS_OK;
}

/* ---- index ---- */

static uint64_t key_hash(const gs_zdb_store_t *s, const void *key, size_t klen)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, klen, s->hash_key);
    return gs_zdb_get_le64(h);
}

/* The table cell holding key, or the empty cell where it would go. */
static gs_zdb_entry_t **cell_of(const gs_zdb_ns_t *ns, const void *key, size_t klen, uint64_t h)
{
    size_t mask = ns->table_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        gs_zdb_entry_t *e = ns->table[i];
        if (e == NULL || (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0))
            return &ns->table[i];
    }
}

static int table_grow(gs_zdb_ns_t *ns)
{
    size_t old_cap = ns->table_cap;
    gs_zdb_entry_t **old = ns->table, **t = calloc(old_cap * 2, sizeof *t);
    if (t == NULL)
        return GS_ENOMEM;
    ns->table = t;
    ns->table_cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i] != NULL)
            *cell_of(ns, old[i]->key, old[i]->klen, old[i]->hash) = old[i];
    free(old);
    return GS_OK;
}

static int log_reserve(gs_zdb_ns_t *ns)
{
    gs_zdb_entry_t **log;
    uint64_t cap;
    if (ns->n_log < ns->cap_log)
        return GS_OK;
    cap = ns->cap_log ? ns->cap_log * 2 : 64;
    if (cap > SIZE_MAX / sizeof *log)
        return GS_ENOMEM;
    log = realloc(ns->log, (size_t)cap * sizeof *log);
    if (log == NULL)
        return GS_ENOMEM;
    ns->log = log;
    ns->cap_log = cap;
    return GS_OK;
}

/* The entry of key (a new one starts deleted), with room reserved so that recording
 * the next write cannot fail. NULL when out of memory. */
static gs_zdb_entry_t *get_or_add(gs_zdb_ns_t *ns, const void *key, size_t klen)
{
    uint64_t h = key_hash(ns->store, key, klen);
    gs_zdb_entry_t **cell, *e;
    if (log_reserve(ns) != GS_OK)
        return NULL;
    if ((ns->table_used + 1) * 2 > ns->table_cap && table_grow(ns) != GS_OK)
        return NULL;
    cell = cell_of(ns, key, klen, h);
    if (*cell != NULL)
        return *cell;
    e = calloc(1, sizeof *e + klen);
    if (e == NULL)
        return NULL;
    e->hash = h;
    e->klen = (uint8_t)klen;
    memcpy(e->key, key, klen);
    e->deleted = true;
    *cell = e;
    ns->table_used++;
    return e;
}

/* Records a write of e in the index; get_or_add reserved the room. */
static void record(gs_zdb_ns_t *ns, gs_zdb_entry_t *e, const rec_t *r, uint32_t file, uint32_t off)
{
    if (!e->deleted) {
        ns->entries--;
        ns->data_bytes -= e->len;
    }
    e->deleted = r->type == REC_DEL;
    e->file = file;
    e->off = off;
    e->len = e->deleted ? 0 : r->plen;
    e->crc = r->crc;
    e->ts = r->ts;
    if (!e->deleted) {
        ns->entries++;
        ns->data_bytes += e->len;
    }
    e->slot = ns->n_log;
    ns->log[ns->n_log++] = e;
    ns->index_bytes += INDEX_ENTRY + e->klen;
    if (ns->mode == GS_ZDB_SEQ && e->klen == 8) {
        uint64_t id = gs_zdb_get_le64(e->key);
        if (id >= ns->next_id && id < UINT64_MAX)
            ns->next_id = id + 1;
    }
}

const gs_zdb_entry_t *gs_zdb_get(const gs_zdb_ns_t *ns, const void *key, size_t klen)
{
    const gs_zdb_entry_t *e;
    if (klen > GS_ZDB_MAX_KEY)
        return NULL;
    e = *cell_of(ns, key, klen, key_hash(ns->store, key, klen));
    return e != NULL && !e->deleted ? e : NULL;
}

const gs_zdb_entry_t *gs_zdb_scan(const gs_zdb_ns_t *ns, uint64_t *slot)
{
    for (uint64_t i = *slot; i < ns->n_log; i++) {
        const gs_zdb_entry_t *e = ns->log[i];
        if (e->slot == i && !e->deleted) {
            *slot = i;
            return e;
        }
    }
    return NULL;
}

/* ---- writes ---- */

/* Appends a record for e to the active data file and records it in the index. */
static gs_zdb_status_t append(gs_zdb_ns_t *ns, gs_zdb_entry_t *e, const rec_t *r, const void *val)
{
    unsigned char h[REC_HEADER];
    uint64_t size = (uint64_t)REC_HEADER + r->klen + r->plen;
    struct iovec iov[3];
    int fd;
    if (ns->active_size > 0 && ns->active_size + size > ns->store->datasize &&
        open_next_file(ns, NULL) != GS_OK) {
        io_failed(ns, &ns->store->stats.data_write_failed);
        return GS_ZDB_IO;
    }
    fd = ns->fds[ns->n_files - 1];
    header_encode(h, r, e->key);
    iov[0] = (struct iovec){h, REC_HEADER};
    iov[1] = (struct iovec){e->key, r->klen};
    iov[2] = (struct iovec){(void *)(uintptr_t)val, r->plen};
    if (writev_all(fd, iov, 3) != GS_OK) {
        if (ftruncate(fd, (off_t)ns->active_size) != 0)
            gs_log(GS_LOG_ERROR, "zdb: namespace '%s': cannot undo a failed write: %s", ns->name,
                   strerror(errno));
        io_failed(ns, &ns->store->stats.data_write_failed);
        return GS_ZDB_IO;
    }
    record(ns, e, r, ns->n_files - 1, (uint32_t)(ns->active_size + REC_HEADER + r->klen));
    ns->active_size += size;
    ns->store->stats.data_write_bytes += size;
    return GS_ZDB_OK;
}

/* True when e's stored payload (as long as val) is val; compared in chunks. */
static bool same_payload(gs_zdb_ns_t *ns, const gs_zdb_entry_t *e, const unsigned char *val)
{
    unsigned char *buf = ns->store->scratch;
    for (size_t done = 0; done < e->len;) {
        size_t n = e->len - done < SCRATCH_SIZE ? e->len - done : SCRATCH_SIZE;
        if (read_at(ns, e->file, buf, n, (uint64_t)e->off + done) != GS_OK ||
            memcmp(buf, val + done, n) != 0)
            return false;
        done += n;
    }
    return true;
}

/* The entry a SET writes to, or why there is none. */
static gs_zdb_status_t set_target(gs_zdb_ns_t *ns, const void **key, size_t *klen,
                                  unsigned char idkey[8], gs_zdb_entry_t **out)
{
    gs_zdb_entry_t *e;
    if (*klen > GS_ZDB_MAX_KEY)
        return GS_ZDB_KEY_TOO_LARGE;
    if (ns->mode == GS_ZDB_SEQ && *klen == 0) {
        gs_zdb_put_le64(idkey, ns->next_id);
        *key = idkey;
        *klen = 8;
    } else if (ns->mode == GS_ZDB_SEQ) {
        if (gs_zdb_get(ns, *key, *klen) == NULL)
            return GS_ZDB_UPDATE_ONLY;
    } else if (*klen == 0) {
        return GS_ZDB_EMPTY_KEY;
    }
    e = get_or_add(ns, *key, *klen);
    if (e == NULL)
        return GS_ZDB_NOMEM;
    *out = e;
    return GS_ZDB_OK;
}

gs_zdb_status_t gs_zdb_set(gs_zdb_ns_t *ns, const void *key, size_t klen, const void *val,
                           size_t vlen, uint64_t ts, const gs_zdb_entry_t **out)
{
    unsigned char idkey[8];
    gs_zdb_entry_t *e = NULL;
    gs_zdb_status_t st = set_target(ns, &key, &klen, idkey, &e);
    uint64_t old = 0;
    rec_t r;
    if (st != GS_ZDB_OK)
        return st;
    if (vlen > GS_RESP_MAX_PAYLOAD)
        return GS_ZDB_NO_SPACE;
    if (!e->deleted) {
        if (e->len == vlen && same_payload(ns, e, val))
            return GS_ZDB_UNCHANGED;
        if (ns->worm)
            return GS_ZDB_WORM;
        old = e->len;
    }
    if (ns->maxsize && ns->data_bytes - old + vlen > ns->maxsize)
        return GS_ZDB_NO_SPACE;
    r = (rec_t){.type = REC_SET,
                .klen = (uint8_t)klen,
                .plen = (uint32_t)vlen,
                .crc = crc_of(0, val, vlen),
                .ts = ts ? ts : (uint64_t)time(NULL)};
    st = append(ns, e, &r, val);
    if (st == GS_ZDB_OK && out != NULL)
        *out = e;
    return st;
}

gs_zdb_status_t gs_zdb_del(gs_zdb_ns_t *ns, const void *key, size_t klen)
{
    gs_zdb_entry_t *e;
    rec_t r;
    if (gs_zdb_get(ns, key, klen) == NULL)
        return GS_ZDB_NOT_FOUND;
    if (ns->worm)
        return GS_ZDB_WORM;
    e = get_or_add(ns, key, klen);
    if (e == NULL)
        return GS_ZDB_NOMEM;
    r = (rec_t){.type = REC_DEL, .klen = (uint8_t)klen, .ts = (uint64_t)time(NULL)};
    return append(ns, e, &r, NULL);
}

int gs_zdb_read(gs_zdb_ns_t *ns, const gs_zdb_entry_t *e, void *dst)
{
    return read_at(ns, e->file, dst, e->len, e->off);
}

int gs_zdb_check(gs_zdb_ns_t *ns, const gs_zdb_entry_t *e)
{
    uint32_t crc = crc_of(0, NULL, 0);
    for (size_t done = 0; done < e->len;) {
        size_t n = e->len - done < SCRATCH_SIZE ? e->len - done : SCRATCH_SIZE;
        if (read_at(ns, e->file, ns->store->scratch, n, (uint64_t)e->off + done) != GS_OK)
            return GS_EIO;
        crc = crc_of(crc, ns->store->scratch, n);
        done += n;
    }
    return crc == e->crc;
}

int gs_zdb_corrupt(gs_zdb_ns_t *ns, const void *key, size_t klen, size_t at, gs_diag_t *diag)
{
    const gs_zdb_entry_t *e = gs_zdb_get(ns, key, klen);
    char path[PATH_LEN];
    unsigned char byte;
    int fd, err = GS_OK;
    if (e == NULL || at >= e->len)
        return gs_diag_set(diag, GS_EINVAL, "zdb: no such key, or offset past its value");
    if (data_path(ns, e->file, path) != GS_OK || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return gs_diag_set(diag, GS_EIO, "zdb: cannot open the data file of the key");
    if (pread_all(fd, &byte, 1, (uint64_t)e->off + at) != GS_OK)
        err = GS_EIO;
    byte ^= 0xff;
    if (err == GS_OK && pwrite(fd, &byte, 1, (off_t)(e->off + at)) != 1)
        err = GS_EIO;
    close(fd);
    return err ? gs_diag_set(diag, err, "zdb: cannot rewrite the byte") : GS_OK;
}

/* ---- settings ---- */

static int settings_save(gs_zdb_ns_t *ns, gs_diag_t *diag)
{
    char path[PATH_LEN], *text = NULL;
    json_t *j;
    int err;
    if (ns_path(ns, false, SETTINGS_FILE, path) != GS_OK)
        return gs_diag_set(diag, GS_ETOOBIG, "zdb: index path too long");
    j = json_pack("{s:s, s:s?, s:I, s:b, s:b, s:b, s:b, s:s}", "name", ns->name, "password",
                  ns->password, "maxsize", (json_int_t)ns->maxsize, "public", ns->is_public, "worm",
                  ns->worm, "locked", ns->locked, "frozen", ns->frozen, "mode",
                  ns->mode == GS_ZDB_SEQ ? "seq" : "user");
    text = j ? gs_json_dumps(j) : NULL;
    json_decref(j);
    if (text == NULL)
        return gs_diag_set(diag, GS_ENOMEM, "zdb: out of memory");
    err = gs_file_write_atomic(path, text, strlen(text), 0600, diag);
    if (err == GS_OK)
        ns->store->stats.index_write_bytes += strlen(text);
    else
        ns->store->stats.index_write_failed++;
    sodium_memzero(text, strlen(text));
    free(text);
    return err;
}

static void settings_apply(gs_zdb_ns_t *ns, const json_t *j)
{
    const char *pw = gs_json_str(j, "password");
    int64_t maxsize = 0;
    if (pw != NULL && *pw)
        ns->password = gs_strdup(pw);
    if (gs_json_int(j, "maxsize", &maxsize) && maxsize > 0)
        ns->maxsize = (uint64_t)maxsize;
    ns->is_public = !json_is_false(json_object_get(j, "public"));
    ns->worm = json_is_true(json_object_get(j, "worm"));
    ns->locked = json_is_true(json_object_get(j, "locked"));
    ns->frozen = json_is_true(json_object_get(j, "frozen"));
    pw = gs_json_str(j, "mode");
    ns->mode = pw != NULL && strcmp(pw, "seq") == 0 ? GS_ZDB_SEQ : GS_ZDB_USER;
}

/* Reads the settings; *found is false when the file is missing. */
static int settings_load(gs_zdb_ns_t *ns, bool *found, gs_diag_t *diag)
{
    char path[PATH_LEN];
    gs_buf_t b;
    json_t *j = NULL;
    int err;
    *found = false;
    if (ns_path(ns, false, SETTINGS_FILE, path) != GS_OK)
        return gs_diag_set(diag, GS_ETOOBIG, "zdb: index path too long");
    gs_buf_init(&b, SETTINGS_MAX);
    err = gs_file_read(path, SETTINGS_MAX, &b, diag);
    if (err == GS_ENOENT) {
        gs_buf_free(&b);
        return GS_OK;
    }
    if (err == GS_OK)
        err = gs_json_parse(b.data, b.len, SETTINGS_MAX, path, &j, diag);
    if (err == GS_OK && !json_is_object(j))
        err = gs_diag_set(diag, GS_EPARSE, "%s: not a JSON object", path);
    if (err == GS_OK) {
        settings_apply(ns, j);
        *found = true;
    }
    json_decref(j);
    if (b.data)
        sodium_memzero(b.data, b.len);
    gs_buf_free(&b);
    return err;
}

/* ---- namespaces ---- */

static void ns_free(gs_zdb_ns_t *ns)
{
    if (ns == NULL)
        return;
    for (uint32_t i = 0; i < ns->n_files; i++)
        close(ns->fds[i]);
    for (size_t i = 0; i < ns->table_cap; i++)
        free(ns->table[i]);
    if (ns->password) {
        sodium_memzero(ns->password, strlen(ns->password));
        free(ns->password);
    }
    free(ns->fds);
    free(ns->table);
    free(ns->log);
    free(ns);
}

/* Replays data file `id` (size bytes) into the index; *end is where its valid
 * records end. */
static int replay_file(gs_zdb_ns_t *ns, uint32_t id, uint64_t size, uint64_t *end)
{
    unsigned char buf[REC_HEADER + GS_ZDB_MAX_KEY];
    uint64_t off = 0;
    while (off < size) {
        size_t want = size - off < sizeof buf ? (size_t)(size - off) : sizeof buf;
        gs_zdb_entry_t *e;
        rec_t r;
        if (want < REC_HEADER || pread_all(ns->fds[id], buf, want, off) != GS_OK ||
            !header_decode(buf, want, &r) || r.plen > size - off - REC_HEADER - r.klen ||
            r.plen > GS_RESP_MAX_PAYLOAD)
            break;
        e = get_or_add(ns, buf + REC_HEADER, r.klen);
        if (e == NULL)
            return GS_ENOMEM;
        record(ns, e, &r, id, (uint32_t)(off + REC_HEADER + r.klen));
        off += (uint64_t)REC_HEADER + r.klen + r.plen;
    }
    *end = off;
    return GS_OK;
}

/* Cuts the torn tail of the active file off, so that appends follow the last record. */
static int cut_tail(gs_zdb_ns_t *ns, uint64_t end, uint64_t size, gs_diag_t *diag)
{
    gs_log(GS_LOG_WARN,
           "zdb: namespace '%s': d%u: torn record at offset %llu, %llu bytes after the last "
           "whole record cut off",
           ns->name, (unsigned)(ns->n_files - 1), (unsigned long long)end,
           (unsigned long long)(size - end));
    if (ftruncate(ns->fds[ns->n_files - 1], (off_t)end) != 0)
        return gs_diag_set(diag, GS_EIO, "zdb: namespace '%s': cannot cut the torn tail: %s",
                           ns->name, strerror(errno));
    return GS_OK;
}

/* Opens every data file d0, d1, ... and rebuilds the index from them. */
static int load_data(gs_zdb_ns_t *ns, gs_diag_t *diag)
{
    uint64_t end = 0, size = 0;
    for (uint32_t id = 0;; id++) {
        char path[PATH_LEN];
        struct stat st;
        int fd, err;
        if (data_path(ns, id, path) != GS_OK)
            return gs_diag_set(diag, GS_ETOOBIG, "zdb: data path too long");
        fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            break;
        if (fd < 0 || fstat(fd, &st) != 0 || push_fd(ns, fd) != GS_OK) {
            if (fd >= 0)
                close(fd);
            return gs_diag_set(diag, GS_EIO, "zdb: %s: cannot open", path);
        }
        size = (uint64_t)st.st_size;
        err = replay_file(ns, id, size, &end);
        if (err)
            return gs_diag_set(diag, err, "zdb: %s: out of memory rebuilding the index", path);
        if (end < size) {
            ns->data_faults++;
            gs_log(GS_LOG_WARN, "zdb: namespace '%s': d%u: unreadable record at offset %llu",
                   ns->name, (unsigned)id, (unsigned long long)end);
        }
    }
    if (ns->n_files == 0)
        return open_next_file(ns, diag);
    ns->active_size = end;
    return end < size ? cut_tail(ns, end, size, diag) : GS_OK;
}

static gs_zdb_status_t check_name(const char *name, size_t len)
{
    if (len > GS_ZDB_MAX_NSNAME)
        return GS_ZDB_NAME_TOO_LONG;
    if (len == 0 || name[0] == '.')
        return GS_ZDB_BAD_NAME;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == '\\')
            return GS_ZDB_BAD_NAME;
    }
    return GS_ZDB_OK;
}

/* A server run in user or seq mode imposes it on namespaces never written to. */
static int force_mode(gs_zdb_ns_t *ns, gs_diag_t *diag)
{
    gs_zdb_mode_t want = ns->store->mode;
    if (want == GS_ZDB_MIXED || ns->mode == want)
        return GS_OK;
    if (ns->n_log > 0)
        return gs_diag_set(diag, GS_EINVAL,
                           "zdb: namespace '%s' holds %s data; not running in %s mode", ns->name,
                           ns->mode == GS_ZDB_SEQ ? "sequential" : "user-key",
                           want == GS_ZDB_SEQ ? "seq" : "user");
    ns->mode = want;
    return settings_save(ns, diag);
}

/* Opens namespace `name`: its settings (created when `create`), folders and data. */
static int ns_open(gs_zdb_store_t *s, const char *name, bool create, gs_zdb_ns_t **out,
                   gs_diag_t *diag)
{
    gs_zdb_ns_t *ns = calloc(1, sizeof *ns);
    char dir[PATH_LEN];
    bool found = false;
    int err = GS_ENOMEM;
    *out = NULL;
    if (ns == NULL || (ns->table = calloc(64, sizeof *ns->table)) == NULL)
        goto out;
    ns->store = s;
    ns->table_cap = 64;
    snprintf(ns->name, sizeof ns->name, "%s", name);
    ns->is_public = true;
    ns->mode = s->mode == GS_ZDB_SEQ ? GS_ZDB_SEQ : GS_ZDB_USER;
    err = settings_load(ns, &found, diag);
    if (err == GS_OK && !found && !create)
        err = gs_diag_set(diag, GS_ENOENT, "zdb: namespace '%s' has no settings", name);
    for (int data = 0; err == GS_OK && data < 2; data++)
        if ((err = ns_path(ns, data, NULL, dir)) == GS_OK)
            err = gs_mkdir_p(dir, diag);
    if (err == GS_OK && !found)
        err = settings_save(ns, diag);
    if (err == GS_OK)
        err = load_data(ns, diag);
    if (err == GS_OK)
        err = force_mode(ns, diag);
out:
    if (err == GS_ENOMEM)
        gs_diag_set(diag, err, "zdb: out of memory");
    if (err)
        ns_free(ns);
    else
        *out = ns;
    return err;
}

static int store_add(gs_zdb_store_t *s, gs_zdb_ns_t *ns)
{
    gs_zdb_ns_t **all = realloc(s->ns, (s->n_ns + 1) * sizeof *all);
    if (all == NULL)
        return GS_ENOMEM;
    s->ns = all;
    s->ns[s->n_ns++] = ns;
    return GS_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the namespaces saved under the index folder, sorted, "default" left out. */
static int list_saved(const char *index_dir, gs_strlist_t *names, gs_diag_t *diag)
{
    DIR *d = opendir(index_dir);
    struct dirent *de;
    int err = GS_OK;
    if (d == NULL)
        return gs_diag_set(diag, GS_EIO, "zdb: %s: cannot list: %s", index_dir, strerror(errno));
    while (err == GS_OK && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (check_name(de->d_name, len) != GS_ZDB_OK || strcmp(de->d_name, "default") == 0)
            continue;
        err = gs_strlist_push(names, de->d_name);
    }
    closedir(d);
    if (err)
        return gs_diag_set(diag, err, "zdb: out of memory");
    if (names->n > GS_ZDB_MAX_NAMESPACES)
        return gs_diag_set(diag, GS_ERANGE, "zdb: more than %d namespaces", GS_ZDB_MAX_NAMESPACES);
    if (names->n > 1)
        qsort(names->items, names->n, sizeof *names->items, cmp_names);
    return GS_OK;
}

static int open_all(gs_zdb_store_t *s, gs_diag_t *diag)
{
    gs_strlist_t names = {0};
    gs_zdb_ns_t *ns = NULL;
    int err = ns_open(s, "default", true, &ns, diag);
    if (err == GS_OK && (err = store_add(s, ns)) != GS_OK)
        ns_free(ns);
    if (err == GS_OK) {
        ns->maxsize = s->maxsize; /* the default namespace takes --maxsize, and no more */
        ns->is_public = true;
        free(ns->password);
        ns->password = NULL;
        err = list_saved(s->index_dir, &names, diag);
    }
    for (size_t i = 0; err == GS_OK && i < names.n; i++) {
        char dir[PATH_LEN];
        struct stat st;
        int n = snprintf(dir, sizeof dir, "%s/%s/" SETTINGS_FILE, s->index_dir, names.items[i]);
        if (n < 0 || n >= (int)sizeof dir || stat(dir, &st) != 0)
            continue; /* not a namespace folder */
        err = ns_open(s, names.items[i], false, &ns, diag);
        if (err == GS_OK && (err = store_add(s, ns)) != GS_OK)
            ns_free(ns);
    }
    gs_strlist_free(&names);
    return err;
}

int gs_zdb_store_open(const gs_zdb_config_t *cfg, gs_zdb_store_t **out, gs_diag_t *diag)
{
    gs_zdb_store_t *s = NULL;
    int err = GS_ENOMEM;
    *out = NULL;
    if (sodium_init() < 0)
        return gs_diag_set(diag, GS_EIO, "zdb: libsodium failed to start");
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->data_dir = gs_strdup(cfg->data_dir)) == NULL ||
        (s->index_dir = gs_strdup(cfg->index_dir)) == NULL ||
        (s->scratch = malloc(SCRATCH_SIZE)) == NULL) {
        gs_diag_set(diag, err, "zdb: out of memory");
        goto out;
    }
    s->mode = cfg->mode;
    s->datasize = cfg->datasize ? cfg->datasize : GS_ZDB_DEFAULT_DATASIZE;
    s->maxsize = cfg->maxsize;
    randombytes_buf(s->hash_key, sizeof s->hash_key);
    err = gs_mkdir_p(s->data_dir, diag);
    if (err == GS_OK)
        err = gs_mkdir_p(s->index_dir, diag);
    if (err == GS_OK)
        err = open_all(s, diag);
out:
    if (err)
        gs_zdb_store_free(s);
    else
        *out = s;
    return err;
}

void gs_zdb_store_free(gs_zdb_store_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_ns; i++)
        ns_free(s->ns[i]);
    free(s->ns);
    free(s->data_dir);
    free(s->index_dir);
    free(s->scratch);
    free(s);
}

size_t gs_zdb_store_count(const gs_zdb_store_t *s)
{
    return s->n_ns;
}

gs_zdb_ns_t *gs_zdb_store_at(const gs_zdb_store_t *s, size_t i)
{
    return i < s->n_ns ? s->ns[i] : NULL;
}

const gs_zdb_store_stats_t *gs_zdb_store_stats(const gs_zdb_store_t *s)
{
    return &s->stats;
}

gs_zdb_ns_t *gs_zdb_ns_find(const gs_zdb_store_t *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->n_ns; i++)
        if (strlen(s->ns[i]->name) == len && memcmp(s->ns[i]->name, name, len) == 0)
            return s->ns[i];
    return NULL;
}

gs_zdb_ns_t *gs_zdb_ns_default(const gs_zdb_store_t *s)
{
    return s->ns[0];
}

bool gs_zdb_ns_is_default(const gs_zdb_ns_t *ns)
{
    return ns == ns->store->ns[0];
}

gs_zdb_status_t gs_zdb_ns_create(gs_zdb_store_t *s, const char *name, size_t len, gs_zdb_ns_t **out)
{
    char copy[GS_ZDB_MAX_NSNAME + 1];
    gs_zdb_status_t st = check_name(name, len);
    gs_diag_t diag;
    gs_zdb_ns_t *ns;
    if (st != GS_ZDB_OK)
        return st;
    if (gs_zdb_ns_find(s, name, len) != NULL)
        return GS_ZDB_EXISTS;
    if (s->n_ns >= GS_ZDB_MAX_NAMESPACES)
        return GS_ZDB_TOO_MANY;
    memcpy(copy, name, len);
    copy[len] = '\0';
    if (ns_open(s, copy, true, &ns, &diag) != GS_OK) {
        gs_log(GS_LOG_ERROR, "%s", diag.msg);
        return GS_ZDB_IO;
    }
    if (store_add(s, ns) != GS_OK) {
        ns_free(ns);
        return GS_ZDB_NOMEM;
    }
    if (out)
        *out = ns;
    return GS_ZDB_OK;
}

/* Removes a file or folder of the namespace, logging what could not be. */
static void remove_path(const char *path, bool dir)
{
    if ((dir ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT)
        gs_log(GS_LOG_WARN, "zdb: cannot remove %s: %s", path, strerror(errno));
}

gs_zdb_status_t gs_zdb_ns_remove(gs_zdb_store_t *s, gs_zdb_ns_t *ns)
{
    char path[PATH_LEN];
    size_t i;
    for (i = 0; i < s->n_ns && s->ns[i] != ns; i++)
        ;
    if (i == s->n_ns || i == 0)
        return GS_ZDB_NOT_FOUND;
    for (uint32_t id = 0; id < ns->n_files; id++)
        if (data_path(ns, id, path) == GS_OK)
            remove_path(path, false);
    if (ns_path(ns, false, SETTINGS_FILE, path) == GS_OK)
        remove_path(path, false);
    for (int data = 0; data < 2; data++)
        if (ns_path(ns, data, NULL, path) == GS_OK)
            remove_path(path, true);
    memmove(&s->ns[i], &s->ns[i + 1], (s->n_ns - i - 1) * sizeof *s->ns);
    s->n_ns--;
    ns_free(ns);
    return GS_ZDB_OK;
}

gs_zdb_status_t gs_zdb_ns_save(gs_zdb_ns_t *ns)
{
    gs_diag_t diag;
    if (settings_save(ns, &diag) != GS_OK) {
        gs_log(GS_LOG_ERROR, "%s", diag.msg);
        return GS_ZDB_IO;
    }
    return GS_ZDB_OK;
}

gs_zdb_status_t gs_zdb_ns_set_mode(gs_zdb_ns_t *ns, gs_zdb_mode_t mode)
{
    if (ns->mode == mode)
        return GS_ZDB_OK;
    if (ns->n_log > 0)
        return GS_ZDB_NOT_FRESH;
    ns->mode = mode;
    ns->next_id = 0;
    return gs_zdb_ns_save(ns);
}

gs_zdb_status_t gs_zdb_ns_set_password(gs_zdb_ns_t *ns, const char *password, size_t len)
{
    char *copy = NULL;
    if (password != NULL && len > 0) {
        copy = malloc(len + 1);
        if (copy == NULL)
            return GS_ZDB_NOMEM;
        memcpy(copy, password, len);
        copy[len] = '\0';
    }
    if (ns->password) {
        sodium_memzero(ns->password, strlen(ns->password));
        free(ns->password);
    }
    ns->password = copy;
    return gs_zdb_ns_save(ns);
}
