/* orchestrator.h — the public API of orchestrator/: the gridstor command line.
 * (gridstord, the daemon, joins this module with its state machine.) */
#ifndef GS_ORCHESTRATOR_H
#define GS_ORCHESTRATOR_H

#include "common.h"

/* Exit statuses of the gridstor command, one per kind of failure. */
enum {
    GS_EXIT_OK = 0,
    GS_EXIT_FAILURE = 1,   /* anything else: writing files, out of memory */
    GS_EXIT_USAGE = 2,     /* bad spec or arguments */
    GS_EXIT_PLACEMENT = 3, /* the placement cannot be satisfied */
    GS_EXIT_GRID = 4,      /* the grid, a node file or gridstord cannot be read */
    GS_EXIT_REFUSED = 5,   /* gridstord refused: token, a name in use, no identity */
    GS_EXIT_FAILED = 6,    /* the deployment failed */
    GS_EXIT_TIMEOUT = 7,   /* still not done when --timeout ran out */
};

/* `gridstor plan ...`; argv[0] is "plan". Returns an exit status. */
int gs_cli_plan(int argc, char **argv);
/* `gridstor deploy SPEC`, `status NAME`, `list`, `delete NAME`: through gridstord. */
int gs_cli_deploy(int argc, char **argv);
int gs_cli_status(int argc, char **argv);
int gs_cli_list(int argc, char **argv);
int gs_cli_delete(int argc, char **argv);
int gs_cli_extend(int argc, char **argv);
int gs_cli_scale(int argc, char **argv);
/* Files through the codec (cli_files.c): put, get, check, repair, and recover (the metadata
 * namespace rebuilt from the backups in the data backends). */
int gs_cli_put(int argc, char **argv);
int gs_cli_get(int argc, char **argv);
int gs_cli_check(int argc, char **argv);
int gs_cli_repair(int argc, char **argv);
int gs_cli_recover(int argc, char **argv);
/* `gridstor init ...`: the install's identity. Returns an exit status. */
int gs_cli_init(int argc, char **argv);

/* ---- gridstord's configuration (config.c) ---- */

typedef struct {
    char *listen;     /* HOST:PORT, default 127.0.0.1:7480 (port 0: any free port) */
    char *public_url; /* base of the signandpay links; default http://LISTEN */
    char *data_dir;   /* state database, identity, admin token; default gridstor-data */
    char *explorer;   /* the grid's explorer, chain and login directory (no default) */
    char *chain;
    char *login;
    char *admin_token_file;      /* default DATA_DIR/admin.token */
    int64_t qr_limit;            /* bytes of a signandpay document, 200 to 2953 */
    uint64_t workload_timeout_s; /* a posted workload's node must answer by then (600 s) */
    char *tls_cert, *tls_key;    /* PEM files: serve HTTPS (HTTP/2 by ALPN); both or neither */
    bool public_url_derived;
} gs_daemon_config_t;

/* Parses a configuration (YAML) over the defaults; `file:line:col: key: reason` errors. */
int gs_daemon_config_parse(const char *text, size_t len, const char *file, gs_daemon_config_t *c,
                           gs_diag_t *diag);
/* The same from a file; path NULL gives every default. */
int gs_daemon_config_load(const char *path, gs_daemon_config_t *c, gs_diag_t *diag);
void gs_daemon_config_free(gs_daemon_config_t *c);
/* "https" when the configuration has a certificate, else "http". */
const char *gs_daemon_scheme(const gs_daemon_config_t *c);

/* `gridstord [--config FILE]`: runs the daemon until SIGTERM/SIGINT; an exit status. */
int gs_daemon_main(int argc, char **argv);

/* ---- gridstord's state (store.c): SQLite, WAL, numbered migrations ---- */

typedef struct gs_store gs_store_t;

/* One signandpay session of a new deployment. */
typedef struct {
    const char *id;           /* 24 hex */
    const char *document;     /* the document's JSON */
    const char *data_to_sign; /* its DataToSign */
    uint64_t amount;          /* stropes */
    const char *memo;
} gs_store_session_t;

/* Opens (creating) the database at path and brings its schema up to date. A committed
 * write survives the process being killed at once; gs_store_sync makes every committed
 * write survive a power cut too. */
int gs_store_open(const char *path, gs_store_t **out, gs_diag_t *diag);
void gs_store_close(gs_store_t *s);
int gs_store_schema_version(gs_store_t *s);
/* Writes through this handle (statements and transaction ends, on the caller's thread,
 * never waiting for the disk) and the time they took; gs_store_sync's and
 * gs_store_checkpoint's disk waits run on the threadpool and are not among them. */
typedef struct {
    uint64_t writes, slow; /* slow: over 50 ms, each logged at most once a minute */
    double seconds, max_seconds;
    uint64_t checkpoints; /* gs_store_checkpoint runs that worked */
    uint64_t wal_frames;  /* frames in the WAL at the last one */
} gs_store_stats_t;
void gs_store_stats(const gs_store_t *s, gs_store_stats_t *out);
/* Has every committed write reach the disk (the WAL, fdatasync) on loop's threadpool,
 * then calls cb(GS_OK or GS_EIO, arg) on the loop: what must not be forgotten is done from
 * there. GS_ENOMEM / GS_EIO when it cannot start (cb is not called). s must stay open
 * until cb ran. */
typedef void (*gs_store_synced_cb)(int err, void *arg);
/* Moves the WAL into the database (a PASSIVE checkpoint, which fsyncs) on loop's
 * threadpool through a connection of its own; the handle itself never checkpoints, so its
 * writes never wait for the disk. Nothing when one is under way. Call it every so often
 * (gridstord: every 30 s), or the WAL grows. s must stay open until the loop ran it. */
void gs_store_checkpoint(gs_store_t *s, struct uv_loop_s *loop);
int gs_store_sync(gs_store_t *s, struct uv_loop_s *loop, gs_store_synced_cb cb, void *arg);
/* A number that changes with every write through this handle but events: an answer
 * built from the store's state stays valid while it does not change. */
uint64_t gs_store_generation(const gs_store_t *s);

/* A new deployment awaiting payment, with its sessions, in one transaction. GS_EINVAL
 * when the name is taken. */
int gs_store_deployment_add(gs_store_t *s, const char *name, const char *owner, const char *spec,
                            const char *plan_json, const gs_store_session_t *sessions,
                            size_t n_sessions, gs_diag_t *diag);
/* {"name","owner","state","reason","created","updated","plan_json"} or NULL. */
json_t *gs_store_deployment(gs_store_t *s, const char *name);
/* [{"name","owner","state","reason","created","updated"}, ...] oldest first. */
json_t *gs_store_deployments(gs_store_t *s);
/* Compare-and-set of the state: GS_ERANGE when the deployment is not in `from`. */
int gs_store_deployment_transition(gs_store_t *s, const char *name, const char *from,
                                   const char *to, const char *reason, gs_diag_t *diag);
int gs_store_deployment_delete(gs_store_t *s, const char *name, gs_diag_t *diag);

int gs_store_event(gs_store_t *s, const char *deployment, const char *level, const char *message,
                   gs_diag_t *diag);
/* Events oldest first: [{"id","time","level","message"}]: the newest `limit` when since
 * is 0, else the first `limit` after event id `since` (to follow a deployment). */
json_t *gs_store_events(gs_store_t *s, const char *deployment, int limit, int64_t since);

/* {"id","deployment","idx","document" (its exact text),"data_to_sign","amount","memo","state",
 *  "txid","signer"} or NULL. */
json_t *gs_store_session(gs_store_t *s, const char *id);
json_t *gs_store_sessions(gs_store_t *s, const char *deployment);
/* Records an accepted callback: the payment txid is marked used (GS_EINVAL when it was
 * used before, by any session), the session must be open (GS_ERANGE otherwise), and
 * the deployment becomes paid when none of its sessions is open; all or nothing. */
int gs_store_session_accept(gs_store_t *s, const char *id, const char *txid, const char *signer,
                            gs_diag_t *diag);

/* The pools of a paid deployment, one row per plan pool (idx, farm_id), state 'new';
 * rows that exist are kept (so it can be called again). */
int gs_store_pools_init(gs_store_t *s, const char *deployment, const json_t *plan_pools,
                        gs_diag_t *diag);
/* [{"idx","farm_id","state","reservation_id","escrow_address","escrow_amount",
 *   "pay_body","pay_txid"}] by idx. Pool states: new → reserved → paying → paid. */
json_t *gs_store_pools(gs_store_t *s, const char *deployment);
/* new → reserved, with what the explorer answered. GS_ERANGE when not new. */
int gs_store_pool_reserved(gs_store_t *s, const char *deployment, int64_t idx,
                           int64_t reservation_id, const char *escrow_address,
                           uint64_t escrow_amount, gs_diag_t *diag);
/* reserved → paying, recording the signed payment before it is sent. */
int gs_store_pool_paying(gs_store_t *s, const char *deployment, int64_t idx, const char *pay_body,
                         const char *pay_txid, gs_diag_t *diag);
/* Any other compare-and-set of a pool's state (paying → paid, reserved → new, ...). */
int gs_store_pool_set_state(gs_store_t *s, const char *deployment, int64_t idx, const char *from,
                            const char *to, gs_diag_t *diag);
/* Several changes as one: begin, then end with commit true (or false to undo them). */
int gs_store_begin(gs_store_t *s, gs_diag_t *diag);
int gs_store_end(gs_store_t *s, bool commit, gs_diag_t *diag);

/* A workload of a deployment, as planned: its explorer body without pool, epoch,
 * password and signature (the deployer fills those in). */
typedef struct {
    const char *kind; /* "zdb" */
    size_t idx;       /* in the plan's zdbs */
    const char *node_id;
    size_t pool_idx;
    const char *reference; /* unique: how a resumed deployer finds it on the explorer */
    const char *template_json;
} gs_store_workload_t;
int gs_store_workload_add(gs_store_t *s, const char *deployment, const gs_store_workload_t *w,
                          gs_diag_t *diag);
/* [{"kind","idx","node_id","pool_idx","reference","template","state","password","body",
 *   "workload_id","result_json","posted_at","attempt","tried_json","session",
 *   "old_workload_id","old_body"}], 0-dbs first. States: new → posting → posted → ok
 * (containers: → serving), or on the way to another node: posted → cancelling →
 * replacing → new, posting → replacing; failed when none is left. A scale's 0-dbs are
 * 'ordered' until its session is paid. */
json_t *gs_store_workloads(gs_store_t *s, const char *deployment);
/* What a step records (NULL / 0 members are left as they are). */
typedef struct {
    const char *password, *body, *result_json;
    int64_t workload_id;
    int64_t posted_at; /* unix seconds */
} gs_store_workload_set_t;
/* Compare-and-set of a workload's state with what comes with it; GS_ERANGE when not `from`. */
int gs_store_workload_step(gs_store_t *s, const char *deployment, const char *kind, int64_t idx,
                           const char *from, const char *to, const gs_store_workload_set_t *set,
                           gs_diag_t *diag);

/* A workload in state `from` moved to another node: state new again with the node, a new
 * reference and the nodes tried so far (JSON array), one attempt more; what it had on the
 * grid (body, id, result, password) is forgotten. GS_ERANGE when not `from`. */
int gs_store_workload_replace(gs_store_t *s, const char *deployment, const char *kind, int64_t idx,
                              const char *from, const char *node_id, const char *reference,
                              const char *tried_json, gs_diag_t *diag);

/* An extension ordered: its signandpay session (the deployment's next) and its pool
 * rows [{"farm_id","spec":{"pool_id","farm_id","node_ids","cus","sus"}}] in state
 * 'ordered', all in one transaction; an earlier order not paid yet is canceled. Accepting the session turns the rows to 'new' and a
 * deployed deployment back to 'paid', so the deployer reserves and pays them. */
int gs_store_extension_add(gs_store_t *s, const char *deployment, const gs_store_session_t *session,
                           const json_t *pools, gs_diag_t *diag);

/* A scale ordered: like an extension (its session and pool rows, which pay for the new
 * 0-dbs over the pools' remaining time), with the new 0-dbs' rows in state 'ordered' and
 * the plan they make, all in one transaction. Accepting the session also turns the rows
 * to 'new', makes next_plan the deployment's plan, and marks each gateway machine to be
 * posted again (its old workload kept in old_workload_id and old_body until retired).
 * Any order of the deployment not paid yet (extension or scale) is canceled first. */
int gs_store_scale_add(gs_store_t *s, const char *deployment, const gs_store_session_t *session,
                       const json_t *pools, const gs_store_workload_t *zdbs, size_t n_zdbs,
                       const char *next_plan, gs_diag_t *diag);
/* The old container of a gateway machine posted again is deleted on the grid: forgotten.
 * GS_ERANGE when the row does not hold that old workload. */
int gs_store_workload_retired(gs_store_t *s, const char *deployment, const char *kind, int64_t idx,
                              int64_t old_workload_id, gs_diag_t *diag);
/* When pool idx runs dry (the explorer's empty_at) as read at read_at. */
int gs_store_pool_runway(gs_store_t *s, const char *deployment, int64_t idx, int64_t empty_at,
                         int64_t read_at, gs_diag_t *diag);

/* [{"name","owner","plan_json"}] of the deployments in a state, oldest first. */
json_t *gs_store_deployments_in(gs_store_t *s, const char *state);

#endif
