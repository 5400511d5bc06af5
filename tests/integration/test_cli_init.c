/* test_cli_init.c — `gridstor init` against the local grid (a real gridstor-sim):
 * a new identity saved 0600, registered in the phonebook with its key, its wallet
 * funded; a second run changing nothing; a name taken by another key refused; the
 * seed text restoring the same key; a configuration without an explorer refused. */
#include "process.h"
#include "simproc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    ts_sim_t sim;
    char config[128];
} fixture_t;

/* A configuration for data folder `data` (under the scratch folder) on the sim. */
static void write_config(fixture_t *f, const char *data, bool explorer)
{
    FILE *c;
    snprintf(f->config, sizeof f->config, "%s/%s.yaml", f->sim.dir, data);
    assert_non_null(c = fopen(f->config, "w"));
    fprintf(c, "data_dir: %s/%s\nchain: %s\n", f->sim.dir, data, f->sim.chain);
    if (explorer)
        fprintf(c, "explorer: %s\n", f->sim.explorer);
    fclose(c);
}

/* Runs `sh -c 'gridstor init --config CONFIG ARGS'` (so that stdin can be piped). */
static void init(fixture_t *f, const char *pipe_in, const char *args, ts_proc_t *p)
{
    char cmd[1024];
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    snprintf(cmd, sizeof cmd, "%s%s%s '%s' init --config '%s' %s", pipe_in ? "echo '" : "",
             pipe_in ? pipe_in : "", pipe_in ? "' | " : "", ts_env("GS_GRIDSTOR"), f->config, args);
    ts_run(f->sim.dir, argv, p);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    ts_sim_start(&f->sim, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ts_sim_stop(&f->sim);
    free(f);
    return 0;
}

static json_t *init_json(fixture_t *f, const char *pipe_in, const char *args)
{
    ts_proc_t p;
    json_t *j;
    init(f, pipe_in, args, &p);
    if (p.status != 0)
        fail_msg("gridstor init exited %d: %s", p.status, p.err.data ? p.err.data : "");
    assert_non_null(j = json_loads(p.out.data, 0, NULL));
    ts_proc_free(&p);
    return j;
}

static void test_init_registers_saves_and_funds(void **state)
{
    fixture_t *f = *state;
    json_t *j, *again, *user, *account;
    char path[256], query[128];
    struct stat st;
    ts_proc_t p;
    int64_t tid = 0, balance = 0;
    write_config(f, "a", true);
    j = init_json(f, NULL, "--name inst.3bot --fund 100.5 --json");
    assert_true(gs_json_int(j, "tid", &tid) && tid > 0);
    assert_int_equal(strlen(gs_json_str(j, "address")), 64);
    assert_int_equal(strlen(gs_json_str(j, "seed")), 80);
    snprintf(path, sizeof path, "%s/a/identity.json", f->sim.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* the phonebook has our key under that name, the chain our funds */
    snprintf(query, sizeof query, "/users/%lld", (long long)tid);
    assert_int_equal(ts_http("GET", f->sim.explorer, query, NULL, NULL, 5000, &user), 200);
    assert_string_equal(gs_json_str(user, "name"), "inst.3bot");
    assert_string_equal(gs_json_str(user, "pubkey"), gs_json_str(j, "address"));
    json_decref(user);
    snprintf(query, sizeof query, "/accounts/%s", gs_json_str(j, "address"));
    assert_int_equal(ts_http("GET", f->sim.chain, query, NULL, NULL, 5000, &account), 200);
    assert_true(gs_json_int(account, "balance", &balance));
    assert_int_equal(balance, 1005000000);
    json_decref(account);
    /* again: the same identity, and the seed is not shown a second time */
    again = init_json(f, NULL, "--json");
    assert_string_equal(gs_json_str(again, "address"), gs_json_str(j, "address"));
    json_decref(again);
    init(f, NULL, "", &p);
    assert_int_equal(p.status, 0);
    assert_null(strstr(p.out.data, "seed"));
    ts_proc_free(&p);
    /* restoring from the seed gives the same key, and the name it holds */
    write_config(f, "b", true);
    again = init_json(f, gs_json_str(j, "seed"), "--restore --name inst.3bot --json");
    assert_string_equal(gs_json_str(again, "address"), gs_json_str(j, "address"));
    json_decref(again);
    json_decref(j);
}

static void test_refusals_say_what_to_do(void **state)
{
    fixture_t *f = *state;
    ts_proc_t p;
    json_decref((write_config(f, "a", true), init_json(f, NULL, "--name taken.3bot --json")));
    write_config(f, "b", true); /* another install wants the same name */
    init(f, NULL, "--name taken.3bot", &p);
    assert_int_equal(p.status, 2);
    assert_non_null(strstr(p.err.data, "taken in the phonebook by another key"));
    ts_proc_free(&p);
    write_config(f, "c", false);
    init(f, NULL, "", &p);
    assert_int_equal(p.status, 2);
    assert_non_null(strstr(p.err.data, "no explorer"));
    ts_proc_free(&p);
    write_config(f, "d", true);
    init(f, "0000-not-a-seed", "--restore", &p);
    assert_int_equal(p.status, 2);
    assert_non_null(strstr(p.err.data, "seed"));
    ts_proc_free(&p);
    init(f, NULL, "--fund 1.123456789", &p);
    assert_int_equal(p.status, 2);
    assert_non_null(strstr(p.err.data, "at most 7 decimals"));
    ts_proc_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init_registers_saves_and_funds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_say_what_to_do, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
