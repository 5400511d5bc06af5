/* simproc.c — gridstor-sim as a child process of a test; see simproc.h. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include "simproc.h"
#include "process.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ts_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        fail_msg("%s is not set; run the tests through ctest", name);
    return v;
}

static void copy_endpoint(const json_t *line, const char *name, char *out, size_t len,
                          bool required)
{
    const char *v = gs_json_str(line, name);
    if (v == NULL && required)
        fail_msg("gridstor-sim did not announce \"%s\"", name);
    snprintf(out, len, "%s", v ? v : "");
    if (v != NULL)
        assert_int_equal(strncmp(out, "http://127.0.0.1:", 17), 0);
}

void ts_sim_start(ts_sim_t *s, const char *const *args)
{
    static char line[1 << 20]; /* the announcement lists every node's 0-db */
    const char *argv[32] = {ts_env("GS_SIM")};
    size_t n = 1;
    int64_t nodes = 0;
    memset(s, 0, sizeof *s);
    for (; args && *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    s->pid = ts_spawn_server(argv, line, sizeof line, 20000);
    s->line = json_loads(line, 0, NULL);
    if (s->line == NULL)
        fail_msg("gridstor-sim announced no JSON line: '%.200s'", line);
    copy_endpoint(s->line, "explorer", s->explorer, sizeof s->explorer, true);
    copy_endpoint(s->line, "chain", s->chain, sizeof s->chain, true);
    copy_endpoint(s->line, "login", s->login, sizeof s->login, true);
    copy_endpoint(s->line, "admin", s->admin, sizeof s->admin, false);
    assert_true(gs_json_int(s->line, "nodes", &nodes));
    s->nodes = (size_t)nodes;
    snprintf(s->dir, sizeof s->dir, "/tmp/gs_test_sim_XXXXXX");
    assert_non_null(mkdtemp(s->dir));
}

void ts_sim_stop(ts_sim_t *s)
{
    /* a clean, complete shutdown; the bound is generous for big worlds on a busy machine */
    assert_int_equal(ts_stop_server(s->pid, 30000), 0);
    ts_remove_tree(s->dir);
    json_decref(s->line);
    s->line = NULL;
}

const char *ts_sim_zdb(const ts_sim_t *s, const char *node_id)
{
    return json_string_value(json_object_get(json_object_get(s->line, "zdbs"), node_id));
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    return gs_buf_append(ud, p, size * n) == GS_OK ? size * n : 0;
}

long ts_http(const char *method, const char *base, const char *path, const char *body,
             const char *const *headers, long timeout_ms, json_t **out)
{
    char url[1024];
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    gs_buf_t answer;
    long status = 0;
    assert_non_null(c);
    gs_buf_init(&answer, 1 << 24);
    snprintf(url, sizeof url, "%s%s", base, path);
    for (; headers && *headers; headers++)
        hl = curl_slist_append(hl, *headers);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (out != NULL)
        *out = json_loadb(answer.data ? answer.data : "", answer.len, 0, NULL);
    gs_buf_free(&answer);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return status;
}

long ts_http_get_raw(const char *url, gs_buf_t *out)
{
    CURL *c = curl_easy_init();
    long status = 0;
    assert_non_null(c);
    gs_buf_init(out, 1 << 24);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}
