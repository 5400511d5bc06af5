/* codecfix.c — see codecfix.h. */
#include "codecfix.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <sodium.h>

#include "process.h"

static void endpoint_json(gs_buf_t *b, const ts_zdb_t *z, bool comma)
{
    gs_buf_printf(b, "{\"address\":\"%s\",\"namespace\":\"default\"}%s", z->address,
                  comma ? "," : "");
}

static void configure(ts_codec_fix_t *f, int n_data, int master, int replica)
{
    unsigned char key[32];
    char hex[65];
    gs_buf_t b;
    gs_diag_t diag = {{0}};
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex, key, sizeof key);
    gs_buf_init(&b, 1 << 16);
    gs_buf_printf(&b,
                  "{\"data\":4,\"parity\":2,\"stripe_size\":\"64KiB\",\"key\":\"%s\","
                  "\"placement\":\"spares\"," /* tests name the spare backend */
                  "\"metadata\":{\"master\":",
                  hex);
    endpoint_json(&b, &f->srv[master], false);
    if (replica >= 0) {
        gs_buf_puts(&b, ",\"replicas\":[");
        endpoint_json(&b, &f->srv[replica], false);
        gs_buf_puts(&b, "]");
    }
    gs_buf_puts(&b, "},\"backends\":[");
    for (int i = 0; i < n_data; i++)
        endpoint_json(&b, &f->srv[i], i + 1 < n_data);
    gs_buf_puts(&b, "],\"timeouts\":{\"connect_ms\":1000,\"command_ms\":2000}}");
    if (gs_codec_config_parse(b.data, b.len, "test", &f->cfg, &diag) != GS_OK)
        fail_msg("config: %s", diag.msg);
    gs_buf_free(&b);
}

void ts_codec_fix_open(ts_codec_fix_t *f, const char *name, int n_servers, int n_data, int master,
                       int replica)
{
    gs_diag_t diag = {{0}};
    assert_true(n_servers <= TS_CODEC_SERVERS_MAX && n_data < n_servers && master < n_servers &&
                replica < n_servers);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_true(sodium_init() >= 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/gs-test-%.30s-XXXXXX", name);
    assert_non_null(mkdtemp(f->dir));
    f->n_servers = n_servers;
    for (int i = 0; i < n_servers; i++)
        ts_zdb_start(&f->srv[i], f->dir, i, 0);
    configure(f, n_data, master, replica);
    if (gs_codec_open(&f->loop, &f->cfg, NULL, &f->codec, &diag) != GS_OK)
        fail_msg("open: %s", diag.msg);
}

int ts_codec_fix_close(ts_codec_fix_t *f)
{
    int rc;
    gs_codec_close(f->codec);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&f->loop);
    for (int i = 0; i < f->n_servers; i++)
        if (f->srv[i].pid > 0)
            ts_stop_server(f->srv[i].pid, 5000);
    gs_codec_config_free(&f->cfg);
    ts_remove_tree(f->dir);
    return rc == 0 ? 0 : -1;
}
