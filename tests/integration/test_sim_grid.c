/* test_sim_grid.c — the local grid's explorer as a real process ($GS_SIM), and
 * `gridstor plan --grid` reading it: endpoints announced, filters and paging with the
 * Pages header, errors in the explorer's shape, every page read by the planner, and a
 * clean stop on SIGTERM. */
#include "process.h"
#include "simproc.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

typedef ts_sim_t sim_t;

/* The announced 0-db addresses: one per node, on 127.0.0.1. */
static size_t count_zdbs(const sim_t *s)
{
    const char *node_id;
    json_t *addr;
    size_t n = 0;
    json_object_foreach((json_t *)json_object_get(s->line, "zdbs"), node_id, addr)
    {
        assert_true(*node_id != '\0');
        assert_int_equal(strncmp(json_string_value(addr), "127.0.0.1:", 10), 0);
        n++;
    }
    return n;
}

/* Starts gridstor-sim with extra arguments (NULL-terminated) and reads its endpoints. */
static void __attribute__((sentinel)) sim_start(sim_t *s, ...)
{
    const char *args[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, s);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 15;)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    ts_sim_start(s, args);
}

static void sim_stop(sim_t *s)
{
    ts_sim_stop(s);
}

/* GET base + path; returns the status, the body in *body (json_decref it). */
static long get_from(const char *base, const char *path, json_t **body, char *pages, size_t len)
{
    char url[512];
    const char *urls[1] = {url};
    gs_http_response_t r;
    long status;
    snprintf(url, sizeof url, "%s%s", base, path);
    assert_int_equal(gs_http_get_all(urls, 1, 1 << 24, 10000, &r, NULL), GS_OK);
    *body = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, NULL);
    if (pages && !gs_http_header(&r, "Pages", pages, len))
        pages[0] = '\0';
    status = r.status;
    gs_http_response_free(&r);
    return status;
}

static long get(const sim_t *s, const char *path, json_t **body, char *pages, size_t len)
{
    return get_from(s->explorer, path, body, pages, len);
}

static void test_sim_announces_and_serves_every_service(void **state)
{
    sim_t s;
    json_t *body;
    int64_t balance = -1;
    (void)state;
    sim_start(&s, NULL);
    assert_int_equal(s.nodes, 36);
    assert_int_equal(count_zdbs(&s), s.nodes); /* one 0-db per node */
    assert_int_equal(get_from(s.login, "/api/users/nobody.3bot", &body, NULL, 0), 404);
    assert_non_null(gs_json_str(body, "error"));
    json_decref(body);
    assert_int_equal(get_from(s.chain,
                              "/accounts/"
                              "00000000000000000000000000000000000000000000000000000000000000aa",
                              &body, NULL, 0),
                     200);
    assert_true(gs_json_int(body, "balance", &balance));
    assert_int_equal(balance, 0);
    json_decref(body);
    assert_int_equal(get(&s, "/reservations/pools/1", &body, NULL, 0), 404);
    json_decref(body);
    sim_stop(&s);
}

static void test_sim_pages_nodes_and_says_how_many_pages(void **state)
{
    sim_t s;
    json_t *body;
    char pages[32];
    (void)state;
    sim_start(&s, "--farms", "4", "--nodes-per-farm", "5", NULL);
    assert_int_equal(get(&s, "/nodes?size=6&page=2", &body, pages, sizeof pages), 200);
    assert_int_equal(json_array_size(body), 6);
    assert_string_equal(pages, "4"); /* 20 nodes, 6 a page */
    json_decref(body);
    assert_int_equal(get(&s, "/nodes?size=6&page=4", &body, NULL, 0), 200);
    assert_int_equal(json_array_size(body), 2);
    json_decref(body);
    assert_int_equal(get(&s, "/nodes?country=Belgium&hru=1", &body, NULL, 0), 200);
    assert_int_equal(json_array_size(body), 5); /* farm 1 is in Belgium */
    json_decref(body);
    sim_stop(&s);
}

static void test_sim_answers_bad_requests_in_the_explorers_shape(void **state)
{
    sim_t s;
    json_t *body;
    (void)state;
    sim_start(&s, NULL);
    assert_int_equal(get(&s, "/nodes?size=5000", &body, NULL, 0), 400);
    assert_non_null(gs_json_str(body, "error"));
    json_decref(body);
    assert_int_equal(get(&s, "/nodes?page=abc", &body, NULL, 0), 400);
    json_decref(body);
    assert_int_equal(get(&s, "/nodes/NoSuchNode", &body, NULL, 0), 404);
    assert_non_null(gs_json_str(body, "error"));
    json_decref(body);
    assert_int_equal(get(&s, "/farms/x", &body, NULL, 0), 404);
    json_decref(body);
    assert_int_equal(get(&s, "/nothing/here", &body, NULL, 0), 404);
    json_decref(body);
    /* a malformed %-escape, or a filter too long to hold, is refused, not ignored */
    assert_int_equal(get(&s, "/nodes?country=%zz", &body, NULL, 0), 400);
    assert_non_null(strstr(gs_json_str(body, "error"), "malformed query"));
    json_decref(body);
    {
        char path[400] = "/farms?name=";
        memset(path + strlen(path), 'a', 300);
        assert_int_equal(get(&s, path, &body, NULL, 0), 400);
        assert_non_null(strstr(gs_json_str(body, "error"), "name: must be 1 to"));
        json_decref(body);
    }
    assert_int_equal(get(&s, "/nodes?city=", &body, NULL, 0), 400);
    json_decref(body);
    assert_int_equal(get_from(s.chain,
                              "/accounts/"
                              "00000000000000000000000000000000000000000000000000000000000000aa"
                              "/payments?memo=%zz",
                              &body, NULL, 0),
                     400);
    json_decref(body);
    sim_stop(&s);
}

static void test_sim_divides_prices_on_testnet(void **state)
{
    sim_t s;
    json_t *body;
    double cu = 0;
    (void)state;
    sim_start(&s, "--network", "testnet", NULL);
    assert_int_equal(get(&s, "/prices", &body, NULL, 0), 200);
    assert_true(gs_json_num(body, "CuPriceDollarMonth", &cu));
    assert_true(cu == 1.0);
    json_decref(body);
    sim_stop(&s);
}

/* Node ids from page 2 of /nodes (size 1000): only reachable by reading every page. */
static void second_page_nodes(const sim_t *s, char ids[3][64])
{
    json_t *body;
    assert_int_equal(get(s, "/nodes?size=1000&page=2", &body, NULL, 0), 200);
    assert_true(json_array_size(body) >= 3);
    for (size_t i = 0; i < 3; i++)
        snprintf(ids[i], 64, "%s", gs_json_str(json_array_get(body, i), "node_id"));
    json_decref(body);
}

static void test_plan_reads_every_page_of_the_explorer(void **state)
{
    sim_t s;
    char ids[3][64], spec[1024], path[4096], out[4096];
    FILE *f;
    ts_proc_t p;
    json_t *plan;
    (void)state;
    sim_start(&s, "--farms", "200", NULL); /* 1,200 nodes: two pages of 1,000 */
    second_page_nodes(&s, ids);
    snprintf(spec, sizeof spec,
             "name: paged\nowner: alice.3bot\ntopology: m1\ncodec: {data: 1, parity: 1}\n"
             "placement: {nodes: [%s, %s, %s]}\n",
             ids[0], ids[1], ids[2]);
    snprintf(path, sizeof path, "%s/spec.yaml", s.dir);
    snprintf(out, sizeof out, "%s/out", s.dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(spec, f);
    fclose(f);
    {
        char base[256];
        const char *argv[] = {ts_env("GS_GRIDSTOR"),
                              "plan",
                              path,
                              "--grid",
                              base,
                              "--out",
                              out,
                              "--json",
                              "--seed",
                              "5",
                              NULL};
        snprintf(base, sizeof base, "%.*s", (int)(strlen(s.explorer) - strlen("/api/v1")),
                 s.explorer);
        ts_run(s.dir, argv, &p);
    }
    assert_int_equal(p.status, 0);
    plan = json_loads(p.out.data, 0, NULL);
    assert_non_null(plan);
    for (size_t i = 0; i < json_array_size(json_object_get(plan, "zdbs")); i++) {
        const char *id = gs_json_str(json_array_get(json_object_get(plan, "zdbs"), i), "node_id");
        assert_true(strcmp(id, ids[0]) == 0 || strcmp(id, ids[1]) == 0 || strcmp(id, ids[2]) == 0);
    }
    json_decref(plan);
    ts_proc_free(&p);
    sim_stop(&s);
}

/* A loopback port with nothing listening. */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_plan_exits_4_when_the_explorer_cannot_be_reached(void **state)
{
    char spec[4096], url[64];
    ts_proc_t p;
    (void)state;
    ts_source_path("templates/examples/minimal.yaml", spec, sizeof spec);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", closed_port());
    {
        const char *argv[] = {ts_env("GS_GRIDSTOR"),        "plan", spec, "--grid", url, "--out",
                              "/nonexistent/never-written", NULL};
        ts_run("/", argv, &p);
    }
    assert_int_equal(p.status, 4);
    assert_non_null(strstr(p.err.data, url));
    ts_proc_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_announces_and_serves_every_service),
        cmocka_unit_test(test_sim_pages_nodes_and_says_how_many_pages),
        cmocka_unit_test(test_sim_answers_bad_requests_in_the_explorers_shape),
        cmocka_unit_test(test_sim_divides_prices_on_testnet),
        cmocka_unit_test(test_plan_reads_every_page_of_the_explorer),
        cmocka_unit_test(test_plan_exits_4_when_the_explorer_cannot_be_reached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
