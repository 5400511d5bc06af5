/* orchestrator.h — the public API of orchestrator/: the gridstor command line.
 * (gridstord, the daemon, joins this module with its state machine.) */
#ifndef GS_ORCHESTRATOR_H
#define GS_ORCHESTRATOR_H

/* Exit statuses of the gridstor command, one per kind of failure. */
enum {
    GS_EXIT_OK = 0,
    GS_EXIT_FAILURE = 1,   /* anything else: writing files, out of memory */
    GS_EXIT_USAGE = 2,     /* bad spec or arguments */
    GS_EXIT_PLACEMENT = 3, /* the placement cannot be satisfied */
    GS_EXIT_GRID = 4,      /* the grid or a node file cannot be read */
};

/* `gridstor plan ...`; argv[0] is "plan". Returns an exit status. */
int gs_cli_plan(int argc, char **argv);

#endif
