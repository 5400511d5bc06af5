/* main.c — gridstor-sim: the local grid. Dispatches `gridstor-sim COMMAND ...` through
 * a table to the command's entry point (sim.h); adding a command is one line. */
#include "sim.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} sim_command_t;

static const sim_command_t sim_commands[] = {
    {"serve", gs_sim_serve_main, "run the local grid (the default; serve --help)"},
    {"zdb", gs_sim_zdb_main, "run a 0-db-protocol server (0-db's own flags; zdb --help)"},
    {"app", gs_sim_app_main, "the Threefold Connect app stand-in: new, list, show, scan"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: gridstor-sim [COMMAND] [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof sim_commands / sizeof sim_commands[0]; i++)
        fprintf(f, "  %-10s %s\n", sim_commands[i].name, sim_commands[i].summary);
    fprintf(f, "\n  --help     this text\n  --version  the version\n");
}

int main(int argc, char **argv)
{
    /* No command, or options only: serve the local grid. */
    if (argc < 2 || (argv[1][0] == '-' && strcmp(argv[1], "--help") != 0 &&
                     strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "--version") != 0))
        return gs_sim_serve_main(argc, argv);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gridstor-sim %s\n", GS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof sim_commands / sizeof sim_commands[0]; i++)
        if (strcmp(argv[1], sim_commands[i].name) == 0)
            return sim_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gridstor-sim: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
