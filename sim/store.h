/* store.h — the local grid's durable state (private to sim/): one SQLite database,
 * <state>/sim.db, holding every part's records as JSON documents keyed by (kind, key).
 * Each part keeps its own in-memory structures and writes a record through whenever
 * it changes it; at start each part reads its kinds back before the HTTP servers open.
 * Choices: store.c's header.
 *
 * Every function accepts a NULL store and then does nothing (in-process tests run the
 * parts without one). Everything runs on the sim's loop thread. */
#ifndef GS_SIM_STORE_H
#define GS_SIM_STORE_H

#include "common.h"

typedef struct sim_store sim_store_t;

/* Opens (creating it, mode 0600) <dir>/sim.db and migrates it to the current schema. */
int sim_store_open(const char *dir, sim_store_t **out, gs_diag_t *diag);
void sim_store_close(sim_store_t *s);

/* Groups the puts until the matching sim_store_commit into one transaction (nests:
 * only the outermost pair commits). */
void sim_store_begin(sim_store_t *s);
void sim_store_commit(sim_store_t *s);

/* Inserts or replaces the record (kind, key). A record keeps the position it was first
 * put at, so sim_store_each gives records in the order they were created. Failures are
 * logged and returned; the in-memory state stays authoritative. */
int sim_store_put(sim_store_t *s, const char *kind, const char *key, const json_t *doc);
/* sim_store_put with an integer key. */
int sim_store_put_id(sim_store_t *s, const char *kind, int64_t key, const json_t *doc);

/* Calls cb for every record of kind, oldest first; cb borrows doc and must not use the
 * store itself. A non-zero return from cb stops the walk and is returned. A record
 * that is not JSON fails with diag. */
typedef int (*sim_store_each_cb)(const char *key, const json_t *doc, void *arg, gs_diag_t *diag);
int sim_store_each(sim_store_t *s, const char *kind, sim_store_each_cb cb, void *arg,
                   gs_diag_t *diag);

/* The record (kind, key) in *out (the caller decrefs it), or *out NULL when absent. */
int sim_store_get(sim_store_t *s, const char *kind, const char *key, json_t **out, gs_diag_t *diag);

#endif
