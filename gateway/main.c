/* main.c — gridstor-gw.
 *
 * Memory: the codec's pipelines allocate their stripe buffers on the threadpool's threads,
 * and glibc gives each thread that allocates an arena of its own, which keeps what it
 * freed. With one arena for all (allocations are few: stripe buffers are reused) the
 * gateway's peak resident memory while moving 1 GiB went from 163 MiB to about 110
 * (two arenas: 120-132), at no throughput cost measured (tests/bench/bench_gw,
 * docs/benchmarks.md). */
#include "gateway.h"

#include <malloc.h>

int main(int argc, char **argv)
{
    mallopt(M_ARENA_MAX, 1);
    return gs_gw_main(argc, argv);
}
