/* codecfix.h — a codec over real 0-db servers for tests: `gridstor-sim zdb` processes
 * ($GS_SIM, zdbproc.h) in a scratch folder, one per 0-db so that a test can stop or kill
 * any of them, and the codec (4 + 2, 64 KiB stripes, a random key, short timeouts) on a
 * loop of its own over them. */
#ifndef GS_TEST_CODECFIX_H
#define GS_TEST_CODECFIX_H

#include "codec.h"
#include "zdbproc.h"

#define TS_CODEC_SERVERS_MAX 16

typedef struct {
    uv_loop_t loop;
    char dir[64];
    ts_zdb_t srv[TS_CODEC_SERVERS_MAX];
    int n_servers;
    gs_codec_config_t cfg;
    gs_codec_t *codec;
} ts_codec_fix_t;

/* Starts n_servers servers in /tmp/gs-test-NAME-XXXXXX and opens the codec: servers
 * [0, n_data) are the data backends, server `master` the metadata master and `replica`
 * its replica (-1: none). Fails the test on any error. */
void ts_codec_fix_open(ts_codec_fix_t *f, const char *name, int n_servers, int n_data, int master,
                       int replica);
/* Closes the codec and its loop, stops the servers, removes the folder; 0, or -1 when the
 * loop still had handles. */
int ts_codec_fix_close(ts_codec_fix_t *f);

#endif
