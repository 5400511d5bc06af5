/* gridstor.c — the gridstor command: dispatches to its subcommands. */
#include "orchestrator.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"init", gs_cli_init, "create this install's identity and wallet (once)"},
    {"deploy", gs_cli_deploy, "deploy a spec through gridstord: QR codes, then progress"},
    {"status", gs_cli_status, "a deployment's state, pools and recent events"},
    {"list", gs_cli_list, "the deployments gridstord keeps"},
    {"delete", gs_cli_delete, "delete a deployment's workloads and say what happens to its money"},
    {"extend", gs_cli_extend, "buy more time for a deployment: a QR code to sign and pay"},
    {"scale", gs_cli_scale, "add data 0-dbs to a deployment: a QR code to sign and pay"},
    {"plan", gs_cli_plan, "turn a deployment spec into a plan and QR codes to sign and pay"},
    {"put", gs_cli_put, "store a file in a deployment; prints its id"},
    {"get", gs_cli_get, "read a file back by its id"},
    {"check", gs_cli_check, "check a file's shards (soft) or restore and verify it (hard)"},
    {"repair", gs_cli_repair, "rebuild a file's missing or damaged shards"},
    {"recover", gs_cli_recover, "rebuild the metadata from its backups in the data backends"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: gridstor COMMAND [OPTIONS]\n\n"
                 "Provision and keep alive quantum-safe storage on a grid of storage nodes.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'gridstor COMMAND --help' for a command's options.\n"
                 "Options: --help, --version\n");
}

int main(int argc, char **argv)
{
    /* a 0-db or gateway that closes its end must give an error to report, not kill us */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return GS_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return GS_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("gridstor %s\n", GS_VERSION);
        return GS_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "gridstor: unknown command '%s'; run 'gridstor --help' for the list\n",
            argv[1]);
    return GS_EXIT_USAGE;
}
