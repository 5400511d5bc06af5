/* main.c — gridstor-gw.
 *
 * Memory: the codec's pipelines allocate their stripe buffers on the threadpool's threads,
 * and glibc gives each thread that allocates an arena of its own, which keeps what it
 * freed. With two arenas (the loop thread and the threadpool share them) the gateway's
 * peak resident memory while moving a large file drops by about a fifth
 * (tests/bench/bench_gw, docs/benchmarks.md), at no cost measured in throughput. */
#include "gateway.h"

#include <malloc.h>

int main(int argc, char **argv)
{
    mallopt(M_ARENA_MAX, 2);
    return gs_gw_main(argc, argv);
}
