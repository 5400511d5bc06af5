/* sim.h — gridstor-sim, the local grid: the entry points of its commands, which
 * main.c dispatches to. Each takes the arguments from the command's name on
 * (argv[0] is "zdb", ...) and returns the process exit status. */
#ifndef GS_SIM_H
#define GS_SIM_H

/* `gridstor-sim [serve] [flags]`: the local grid (explorer, ...) on loopback ports
 * chosen at start, announced as one JSON line on stdout. */
int gs_sim_serve_main(int argc, char **argv);

/* `gridstor-sim zdb [flags]`: a standalone 0-db-protocol server with 0-db's own flags. */
int gs_sim_zdb_main(int argc, char **argv);

/* `gridstor-sim app COMMAND [flags]`: the Threefold Connect app stand-in (new, list, show,
 * scan); its exit statuses are listed by `gridstor-sim app --help`. */
int gs_sim_app_main(int argc, char **argv);

#endif /* GS_SIM_H */
