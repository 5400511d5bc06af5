/* main.c — gridstor-gw. */
#include "gateway.h"

int main(int argc, char **argv)
{
    return gs_gw_main(argc, argv);
}
