/* support.h — what several test programs share: paths of the source tree, the
 * bundled example grid and specs, and small assertions on messages. */
#ifndef GS_TEST_SUPPORT_H
#define GS_TEST_SUPPORT_H

#include "reservation.h"

/* $GS_SOURCE_DIR/rel into out (aborts when unset or too long). */
void ts_source_path(const char *rel, char *out, size_t len);
/* The bundled example grid (templates/examples/grid), liveness at its snapshot. */
void ts_load_example_grid(gs_grid_t *g);
/* A bundled example spec by file name ("backup-eu.yaml"). */
void ts_load_example_spec(const char *name, gs_spec_t *spec);
/* Parses a spec given as text; fails the test on error. */
void ts_parse_spec(const char *text, gs_spec_t *spec);
/* Plans `spec_text` on the example grid with a seed; fails the test on error. */
void ts_plan_text(const char *spec_text, uint64_t seed, gs_grid_t *grid, gs_spec_t *spec,
                  gs_plan_t *plan);

#endif
