/* gridstord.c — the gridstor daemon's entry point (daemon.c does the work). */
#include "orchestrator.h"

int main(int argc, char **argv)
{
    return gs_daemon_main(argc, argv);
}
