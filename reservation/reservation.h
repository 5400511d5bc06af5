/* reservation.h — the whole API of reservation/: a deployment spec (YAML) and a
 * grid snapshot (explorer v2 nodes, farms, prices) become a plan (machines,
 * 0-db namespaces, one capacity pool per farm, prices), the plan becomes explorer
 * v2 workloads and pool reservations with their signature challenges, and the
 * person's consent is split into signandpay documents that each fit one QR code,
 * rendered as PNG, SVG and terminal text.
 *
 * Ownership: gs_*_free releases what the matching parse/load/build filled in;
 * functions returning char * or json_t * hand a new object to the caller. */
#ifndef GS_RESERVATION_H
#define GS_RESERVATION_H

#include "common.h"

/* ---- limits ---------------------------------------------------------------------------- */

#define GS_SPEC_MAX_BYTES  (1024 * 1024)      /* a spec file */
#define GS_GRID_MAX_BYTES  (64 * 1024 * 1024) /* a nodes/farms file or explorer answer */
#define GS_MAX_SHARDS      255                /* data + parity */
#define GS_MAX_ZDBS        1000
#define GS_QR_MAX_BYTES    2953 /* QR version 40-L, byte mode */
#define GS_UP_WINDOW_S     600  /* a node is up if it reported within this */
#define GS_STROPES_PER_TFT UINT64_C(10000000)
#define GS_SESSION_LEN     24 /* hex characters of a signandpay session id */

/* ---- the spec ---------------------------------------------------------------------------- */

typedef enum { GS_DISK_HDD, GS_DISK_SSD } gs_disk_t;
typedef enum { GS_MODE_SEQ, GS_MODE_USER } gs_zdb_mode_t;
typedef enum { GS_SPREAD_FARM, GS_SPREAD_NODE } gs_spread_t;

typedef struct {
    char *name;
    char *owner;
    char *topology;
    uint64_t duration_s;
    struct {
        int64_t data, parity;
    } codec;
    struct {
        int64_t count; /* 0 until parsed: then data + parity by default */
        uint64_t size; /* bytes as written; size_gib is what is reserved */
        int disk;      /* gs_disk_t */
        int mode;      /* gs_zdb_mode_t */
    } zdb;
    struct {
        uint64_t size;
        int disk;
    } metadata;
    struct {
        int64_t cpu;
        uint64_t memory, disk; /* bytes */
    } machine;
    struct {
        gs_strlist_t countries, cities, farms, nodes, exclude_nodes;
        int spread; /* gs_spread_t */
    } placement;
    /* derived, in the explorer's units */
    uint32_t zdb_size_gib, meta_size_gib, memory_mib, disk_mib;
    gs_strlist_t notes; /* things the user should know (sizes rounded up, ...) */
} gs_spec_t;

/* Parses and validates a spec; `file` names it in messages, which read
 * "file:line:col: key: reason". On error *spec is left empty. */
int gs_spec_parse(const char *text, size_t len, const char *file, gs_spec_t *spec, gs_diag_t *diag);
/* Reads (at most GS_SPEC_MAX_BYTES) and parses a spec file; "-" is stdin. */
int gs_spec_load(const char *path, gs_spec_t *spec, gs_diag_t *diag);
void gs_spec_free(gs_spec_t *spec);

/* ---- topologies (templates/topologies/NAME.yaml, built into the binary) ------------------- */

typedef enum { GS_GW_READ_WRITE, GS_GW_READ_ONLY } gs_gw_mode_t;
typedef enum { GS_META_MASTER, GS_META_REPLICA } gs_meta_role_t;

#define GS_TOPO_MAX_MACHINES 8

typedef struct {
    char role[8]; /* "m1" */
    int gateway;  /* gs_gw_mode_t */
    int metadata; /* gs_meta_role_t */
} gs_topo_machine_t;

typedef struct {
    char name[32];
    char flist[256]; /* the gateway container image */
    char entrypoint[256];
    size_t n_machines;
    gs_topo_machine_t machines[GS_TOPO_MAX_MACHINES];
} gs_topology_t;

/* Loads a built-in topology by name ("m1m2"). */
int gs_topology_load(const char *name, gs_topology_t *topo, gs_diag_t *diag);
/* Appends the names of the built-in topologies to out: "m1, m1m2, m1m2m3". */
int gs_topology_list(gs_buf_t *out);

/* ---- the grid ---------------------------------------------------------------------------- */

typedef struct {
    double cru, mru, hru, sru; /* cores; GB */
} gs_res_t;

typedef struct {
    char *node_id; /* the explorer's node_id (base58 ed25519 key) */
    int64_t farm_id;
    char *country, *city;
    char *public_key_hex;
    int64_t updated;
    bool deleted;
    gs_res_t total, reserved;
} gs_node_t;

typedef struct {
    int64_t id;
    char *name;
} gs_farm_t;

typedef struct {
    double cu_usd_month, su_usd_month, ipv4u_usd_month, tft_mill;
} gs_prices_t;

typedef struct {
    gs_node_t *nodes;
    size_t n_nodes;
    gs_farm_t *farms;
    size_t n_farms;
    gs_prices_t prices;
    bool have_prices;
    int64_t now; /* liveness is judged against this (unix seconds) */
} gs_grid_t;

/* Mainnet prices (reference: $10/CU-month, $8/SU-month, $6/IPv4U-month, TFT $0.10). */
gs_prices_t gs_prices_default(void);

/* Each adds the explorer's JSON (a /nodes array, a /farms array, the /prices
 * object) to the grid, refusing anything not in the explorer's shape with a
 * message naming the element and field. `what` names the source. */
int gs_grid_add_nodes(gs_grid_t *g, const json_t *nodes, const char *what, gs_diag_t *diag);
int gs_grid_add_farms(gs_grid_t *g, const json_t *farms, const char *what, gs_diag_t *diag);
int gs_grid_set_prices(gs_grid_t *g, const json_t *prices, const char *what, gs_diag_t *diag);
/* Loads files; farms and prices may be NULL. Liveness is judged at g->now when
 * set, else relative to the newest report in the file (a snapshot). */
int gs_grid_load_files(gs_grid_t *g, const char *nodes, const char *farms, const char *prices,
                       gs_diag_t *diag);
/* Reads an explorer: base URL like http://host:port (the /api/v1 prefix is
 * added), every /nodes page, /farms and /prices. */
int gs_grid_fetch(gs_grid_t *g, const char *base_url, gs_diag_t *diag);
/* The same on the caller's loop through its HTTP client: cb(err, diag, ud) once every
 * answer is in (g filled when err is GS_OK). When this returns an error, cb is never
 * called. */
typedef void (*gs_grid_fetch_cb)(int err, const gs_diag_t *diag, void *ud);
int gs_grid_fetch_start(gs_http_client_t *client, const char *base_url, gs_grid_t *g,
                        gs_grid_fetch_cb cb, void *ud, gs_diag_t *diag);
const gs_farm_t *gs_grid_farm(const gs_grid_t *g, int64_t farm_id);
bool gs_node_is_up(const gs_grid_t *g, const gs_node_t *n);
/* Free capacity as the explorer's clients compute it: total - max(0, reserved). */
gs_res_t gs_node_free(const gs_node_t *n);
void gs_grid_free(gs_grid_t *g);

/* ISO 3166 alpha-2 code for a country name or code ("Belgium" or "be" -> "BE"),
 * or NULL when unknown. */
const char *gs_country_code(const char *name_or_code);

/* ---- cloud units and prices --------------------------------------------------------------- */

/* Cloud units of one workload in thousandths, as the explorer rounds them
 * (3 decimals): a 0-db and a container. */
void gs_units_zdb(uint32_t size_gib, int disk, uint64_t *cu_milli, uint64_t *su_milli);
void gs_units_container(int64_t cpu, uint32_t memory_mib, uint32_t disk_mib, int disk,
                        uint64_t *cu_milli, uint64_t *su_milli);
/* Stropes per unit-second for CU and SU under the given prices. */
void gs_unit_rates(const gs_prices_t *p, uint64_t *cu_rate, uint64_t *su_rate);
/* "12.3456789" for an amount in stropes; out has at least 32 bytes. */
void gs_format_tft(uint64_t stropes, char *out, size_t outlen);

/* ---- the plan ----------------------------------------------------------------------------- */

typedef enum { GS_ZDB_DATA, GS_ZDB_META } gs_zdb_role_t;

typedef struct {
    char role[8];
    int gateway;  /* gs_gw_mode_t */
    int metadata; /* gs_meta_role_t */
    char *node_id;
    int64_t farm_id;
    int64_t cpu;
    uint32_t memory_mib, disk_mib;
    size_t pool; /* index into pools */
} gs_plan_machine_t;

typedef struct {
    int role;        /* gs_zdb_role_t */
    char machine[8]; /* META: the machine it sits beside */
    char *node_id;
    int64_t farm_id;
    uint32_t size_gib;
    int disk, mode;
    size_t pool;
} gs_plan_zdb_t;

#define GS_PLAN_SPARES 2 /* spare nodes listed in each pool, when its farm has them */

typedef struct {
    int64_t farm_id;
    char *farm_name;
    gs_strlist_t node_ids;       /* the nodes its workloads use, then its spares */
    size_t spares;               /* how many of node_ids are spares (the last ones) */
    uint64_t cu_milli, su_milli; /* active units of its workloads, thousandths */
    uint64_t cus, sus;           /* unit-seconds bought */
    uint64_t amount;             /* stropes */
} gs_plan_pool_t;

typedef struct {
    size_t index; /* 1-based */
    char session[GS_SESSION_LEN + 1];
    char *json; /* the document, exactly what the QR code carries */
    size_t bytes;
    uint64_t amount; /* stropes this document pays */
    size_t *pools;   /* pools whose payment it carries */
    size_t n_pools;
} gs_plan_doc_t;

typedef struct {
    char *name, *owner, *topology;
    uint64_t duration_s;
    int64_t data, parity;
    uint64_t seed;
    int spread;
    gs_plan_machine_t *machines;
    size_t n_machines;
    gs_plan_zdb_t *zdbs;
    size_t n_zdbs;
    gs_plan_pool_t *pools;
    size_t n_pools;
    gs_plan_doc_t *docs;
    size_t n_docs;
    uint64_t total; /* stropes */
    uint64_t cu_rate, su_rate;
    gs_strlist_t notes;
} gs_plan_t;

/* Places the spec's machines and 0-dbs on the grid and prices one pool per farm.
 * The same seed, spec and grid give the same plan. GS_EPLACEMENT when the
 * constraints cannot be met, with a message naming them and what was found. */
int gs_plan_build(const gs_spec_t *spec, const gs_topology_t *topo, const gs_grid_t *grid,
                  uint64_t seed, gs_plan_t *plan, gs_diag_t *diag);
void gs_plan_free(gs_plan_t *plan);

/* ---- explorer v2 workloads, pool reservations and their challenges ----------------------- */

/* Fields known only when deploying; zero/empty values are allowed for a preview. */
typedef struct {
    int64_t customer_tid;
    int64_t epoch;
    int64_t pool_id;      /* the reservation id of the pool, once reserved */
    const char *password; /* 0-db password, encrypted for the node (hex) */
} gs_workload_ctx_t;

/* A 0-db and a gateway container in the explorer v2 POST shape (flat). */
json_t *gs_workload_zdb(const gs_plan_t *plan, size_t zdb, const gs_workload_ctx_t *ctx);
json_t *gs_workload_container(const gs_plan_t *plan, const gs_topology_t *topo, size_t machine,
                              const gs_workload_ctx_t *ctx);
/* A POST /reservations/pools body: `json` is the compact data_reservation text
 * that the customer signs as is; the signature fields are left empty. */
json_t *gs_pool_reservation(const gs_plan_pool_t *pool, int64_t pool_id, int64_t customer_tid);

/* The signature challenge of a workload in the explorer's JSON shape (the
 * concatenation the explorer verifies), appended to out. */
int gs_workload_challenge(const json_t *workload, gs_buf_t *out, gs_diag_t *diag);
/* sha256 of the challenge, optionally followed by "delete"/"provision" and the
 * tid (suffix NULL for the workload's own signature). */
int gs_workload_challenge_hash(const json_t *workload, const char *suffix, int64_t tid,
                               unsigned char hash[32], gs_diag_t *diag);

/* ---- signandpay documents ----------------------------------------------------------------- */

typedef void (*gs_session_cb)(void *ud, char out[GS_SESSION_LEN + 1]);

typedef struct {
    size_t qr_limit;         /* bytes per document, at most GS_QR_MAX_BYTES */
    const char *destination; /* the install's wallet address */
    const char
        *callback_base; /* "http://127.0.0.1:7480": + /api/v1/signandpay/<session>/callback */
    gs_session_cb new_session; /* NULL: random ids */
    void *session_ud;
} gs_doc_opts_t;

/* Splits the plan into as few documents as possible, a pool kept with its
 * workloads where they fit, each document's JSON at most qr_limit bytes. A
 * single line that cannot fit is GS_ETOOBIG naming it and by how much. */
int gs_plan_split(gs_plan_t *plan, const gs_doc_opts_t *opts, gs_diag_t *diag);

/* ---- extensions ---------------------------------------------------------------------------- */

/* One pool of a deployment to extend: its active units decide what more time costs. */
typedef struct {
    int64_t farm_id, pool_id;    /* pool_id: its reservation id on the grid */
    uint64_t cu_milli, su_milli; /* active units, thousandths */
    uint64_t by_s;               /* seconds of them; 0: the extension's by_s */
    uint64_t cus, sus, amount;   /* set by gs_extension_price */
} gs_ext_pool_t;

typedef struct {
    const char *name, *owner;
    uint64_t by_s;      /* seconds more */
    const char *change; /* NULL: more time; else what is added ("2 data 0-dbs ..."), each
                           pool's units paid for its own by_s (a scale) */
    gs_ext_pool_t *pools;
    size_t n_pools;
    uint64_t total; /* stropes, set by gs_extension_price */
} gs_extension_t;

/* Each pool's unit-seconds for by_s (rounded up) and their price at the rates. */
void gs_extension_price(gs_extension_t *e, uint64_t cu_rate, uint64_t su_rate);
/* The one signandpay document paying for the extension (its session id written to
 * session): *json what the QR code carries, *data_to_sign its text; both heap strings.
 * GS_ETOOBIG when it does not fit opts->qr_limit. */
int gs_extension_document(const gs_extension_t *e, const gs_doc_opts_t *opts,
                          char session[GS_SESSION_LEN + 1], char **json, char **data_to_sign,
                          gs_diag_t *diag);

/* plan.json: everything the plan holds (documents included). */
json_t *gs_plan_to_json(const gs_plan_t *plan);

/* ---- QR codes ----------------------------------------------------------------------------- */

typedef struct gs_qr gs_qr_t;

/* Encodes data in byte mode at the highest error-correction level whose
 * version-40 capacity holds it. GS_ETOOBIG over GS_QR_MAX_BYTES. */
int gs_qr_encode(const void *data, size_t len, gs_qr_t **qr, gs_diag_t *diag);
int gs_qr_version(const gs_qr_t *qr);
/* 'L', 'M', 'Q' or 'H'. */
char gs_qr_level(const gs_qr_t *qr);
/* A 1-bit grayscale PNG, `scale` pixels per module, 4-module quiet zone. */
int gs_qr_png(const gs_qr_t *qr, int scale, gs_buf_t *out);
/* An SVG with one path, 4-module quiet zone. */
int gs_qr_svg(const gs_qr_t *qr, gs_buf_t *out);
/* UTF-8 half blocks, two module rows per line, dark on light. */
int gs_qr_term(const gs_qr_t *qr, gs_buf_t *out);
void gs_qr_free(gs_qr_t *qr);

#endif /* GS_RESERVATION_H */
