/* zdbproc.c — see zdbproc.h. */
#include "zdbproc.h"

#include "process.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

void ts_zdb_start(ts_zdb_t *z, const char *dir, int i, int port)
{
    char index[160], portstr[16], line[256];
    const char *sim = getenv("GS_SIM"), *p;
    if (sim == NULL || *sim == '\0')
        fail_msg("GS_SIM is not set; run the tests through ctest");
    snprintf(z->data, sizeof z->data, "%s/data%d", dir, i);
    snprintf(index, sizeof index, "%s/index%d", dir, i);
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *argv[] = {sim,      "zdb",    "--listen", "127.0.0.1", "--port",
                          portstr,  "--mode", "seq",      "--admin",   TS_ZDB_ADMIN,
                          "--data", z->data,  "--index",  index,       NULL};
    z->pid = ts_spawn_server(argv, line, sizeof line, 10000);
    p = strstr(line, "\"zdb\":\"");
    assert_non_null(p);
    assert_int_equal(sscanf(p + 7, "%63[^\"]", z->address), 1);
    p = strrchr(z->address, ':');
    assert_non_null(p);
    z->port = atoi(p + 1);
    assert_true(z->port > 0);
}

void ts_zdb_stop(ts_zdb_t *z)
{
    if (z->pid > 0)
        assert_int_equal(ts_stop_server(z->pid, 5000), 0);
    z->pid = 0;
}

void ts_zdb_kill(ts_zdb_t *z)
{
    assert_true(z->pid > 0);
    assert_int_equal(kill(z->pid, SIGKILL), 0);
    assert_int_equal(waitpid(z->pid, NULL, 0), z->pid);
    z->pid = 0;
}
