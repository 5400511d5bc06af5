/* test_store.c — gridstord's SQLite state: migrations (fresh, reopened, newer than the
 * program), deployments and their sessions added all or nothing, compare-and-set
 * transitions, a callback's payment accepted once only across sessions, scale orders,
 * events, gs_store_sync answering on its loop, and a process killed right after a write
 * finding it on reopening. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include "orchestrator.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TX1 "1111111111111111111111111111111111111111111111111111111111111111"
#define TX2 "2222222222222222222222222222222222222222222222222222222222222222"
#define TX3 "3333333333333333333333333333333333333333333333333333333333333333"

typedef struct {
    char dir[64], path[96];
    gs_store_t *s;
} fixture_t;

static const gs_store_session_t two_sessions[] = {
    {"aaaaaaaaaaaaaaaaaaaaaaaa", "{\"DataToSign\":\"one\"}", "one", 100, "gs-a"},
    {"bbbbbbbbbbbbbbbbbbbbbbbb", "{\"DataToSign\":\"two\"}", "two", 250, "gs-b"},
};

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gs_test_store_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/state.db", f->dir);
    assert_int_equal(gs_store_open(f->path, &f->s, NULL), GS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[128];
    gs_store_close(f->s);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void add_backup(fixture_t *f)
{
    assert_int_equal(gs_store_deployment_add(f->s, "backup", "alice.3bot", "name: backup\n",
                                             "{\"pools\":[]}", two_sessions, 2, NULL),
                     GS_OK);
}

static const char *state_of(fixture_t *f, const char *name, char *buf, size_t len)
{
    json_t *d = gs_store_deployment(f->s, name);
    snprintf(buf, len, "%s", d ? gs_json_str(d, "state") : "(none)");
    json_decref(d);
    return buf;
}

static void test_migrations_run_once_and_refuse_a_newer_file(void **state)
{
    fixture_t *f = *state;
    gs_diag_t diag = {{0}};
    sqlite3 *db;
    gs_store_t *again;
    assert_int_equal(gs_store_schema_version(f->s), 6);
    add_backup(f);
    gs_store_close(f->s);
    assert_int_equal(gs_store_open(f->path, &f->s, NULL), GS_OK); /* no migration twice */
    assert_int_equal(gs_store_schema_version(f->s), 6);
    json_decref(gs_store_deployment(f->s, "backup")); /* still there */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(gs_store_open(f->path, &again, &diag), GS_EINVAL);
    assert_null(again);
    assert_non_null(strstr(diag.msg, "schema version 99 is newer"));
}

static void test_deployments_are_added_whole_and_listed(void **state)
{
    fixture_t *f = *state;
    gs_diag_t diag = {{0}};
    json_t *d, *list, *sessions, *events;
    char buf[64];
    add_backup(f);
    assert_int_equal(gs_store_deployment_add(f->s, "backup", "bob.3bot", "x", "{}", NULL, 0, &diag),
                     GS_EINVAL);
    assert_non_null(strstr(diag.msg, "'backup' exists already"));
    /* a session id used twice: the whole deployment is refused, nothing half-written */
    assert_int_not_equal(
        gs_store_deployment_add(f->s, "other", "bob.3bot", "x", "{}", two_sessions, 1, &diag),
        GS_OK);
    assert_string_equal(state_of(f, "other", buf, sizeof buf), "(none)");
    d = gs_store_deployment(f->s, "backup");
    assert_string_equal(gs_json_str(d, "state"), "awaiting_payment");
    assert_string_equal(gs_json_str(d, "owner"), "alice.3bot");
    assert_true(json_is_array(json_object_get(json_object_get(d, "plan_json"), "pools")));
    json_decref(d);
    list = gs_store_deployments(f->s);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    sessions = gs_store_sessions(f->s, "backup");
    assert_int_equal(json_array_size(sessions), 2);
    assert_string_equal(gs_json_str(json_array_get(sessions, 1), "memo"), "gs-b");
    json_decref(sessions);
    events = gs_store_events(f->s, "backup", 10, 0);
    assert_int_equal(json_array_size(events), 1);
    assert_non_null(strstr(gs_json_str(json_array_get(events, 0), "message"), "planned"));
    json_decref(events);
}

static void test_a_payment_is_accepted_once_and_settles_the_deployment(void **state)
{
    fixture_t *f = *state;
    gs_diag_t diag = {{0}};
    json_t *s;
    char buf[64];
    add_backup(f);
    assert_int_equal(gs_store_session_accept(f->s, two_sessions[0].id, TX1, "alice.3bot", NULL),
                     GS_OK);
    assert_string_equal(state_of(f, "backup", buf, sizeof buf), "awaiting_payment");
    /* the same payment for the other session: refused, and that session stays open */
    assert_int_equal(gs_store_session_accept(f->s, two_sessions[1].id, TX1, "alice.3bot", &diag),
                     GS_EINVAL);
    assert_non_null(strstr(diag.msg, "used before"));
    s = gs_store_session(f->s, two_sessions[1].id);
    assert_string_equal(gs_json_str(s, "state"), "open");
    assert_true(json_is_null(json_object_get(s, "txid")));
    json_decref(s);
    /* a second callback for an accepted session: refused, its new payment not burnt */
    assert_int_equal(gs_store_session_accept(f->s, two_sessions[0].id, TX2, "alice.3bot", &diag),
                     GS_ERANGE);
    assert_int_equal(gs_store_session_accept(f->s, two_sessions[1].id, TX2, "alice.3bot", NULL),
                     GS_OK);
    assert_string_equal(state_of(f, "backup", buf, sizeof buf), "paid");
    s = gs_store_session(f->s, two_sessions[1].id);
    assert_string_equal(gs_json_str(s, "txid"), TX2);
    assert_string_equal(gs_json_str(s, "document"), "{\"DataToSign\":\"two\"}");
    json_decref(s);
    assert_int_equal(gs_store_session_accept(f->s, "nosuchsession", TX3, "x", &diag), GS_ERANGE);
}

/* The deployment "backup" paid and deployed, with a 0-db and a serving gateway machine. */
static void deployed_backup(fixture_t *f)
{
    gs_store_workload_set_t posted = {.workload_id = 7, .body = "{\"old\":1}", .posted_at = 1};
    add_backup(f);
    assert_int_equal(gs_store_session_accept(f->s, two_sessions[0].id, TX1, "alice.3bot", NULL),
                     GS_OK);
    assert_int_equal(gs_store_session_accept(f->s, two_sessions[1].id, TX2, "alice.3bot", NULL),
                     GS_OK);
    assert_int_equal(
        gs_store_workload_add(f->s, "backup",
                              &(gs_store_workload_t){"zdb", 0, "n1", 0, "gs-x-zdb-0", "{}"}, NULL),
        GS_OK);
    assert_int_equal(gs_store_workload_add(
                         f->s, "backup",
                         &(gs_store_workload_t){"container", 0, "n2", 0, "gs-x-container-0", "{}"},
                         NULL),
                     GS_OK);
    assert_int_equal(
        gs_store_workload_step(f->s, "backup", "container", 0, "new", "serving", &posted, NULL),
        GS_OK);
    assert_int_equal(gs_store_deployment_transition(f->s, "backup", "paid", "deployed", NULL, NULL),
                     GS_OK);
}

/* A scale order: nothing moves until its session is paid; a newer order cancels it; once
 * paid, the new 0-db is to be posted, the plan is the order's, the deployment goes back
 * to paid and the gateway machine is to be posted again, keeping its old workload until
 * it is retired. */
static void test_a_scale_order_waits_for_its_payment(void **state)
{
    fixture_t *f = *state;
    static const gs_store_session_t order1 = {"cccccccccccccccccccccccc", "{}", "c", 10, "gs-c"},
                                    order2 = {"dddddddddddddddddddddddd", "{}", "d", 20, "gs-d"};
    gs_store_workload_t zdb = {"zdb", 1, "n3", 0, "gs-x-zdb-1", "{}"};
    json_t *pools =
               json_pack("[{s:i, s:{s:i, s:i}}]", "farm_id", 1, "spec", "pool_id", 5, "sus", 100),
           *wls, *w, *dep;
    gs_diag_t diag = {{0}};
    char buf[64];
    deployed_backup(f);
    assert_int_equal(
        gs_store_scale_add(f->s, "backup", &order1, pools, &zdb, 1, "{\"plan\":1}", NULL), GS_OK);
    assert_string_equal(state_of(f, "backup", buf, sizeof buf), "deployed");
    /* the second order replaces the first, whose session can no longer be paid */
    assert_int_equal(
        gs_store_scale_add(f->s, "backup", &order2, pools, &zdb, 1, "{\"plan\":2}", NULL), GS_OK);
    assert_int_equal(gs_store_session_accept(f->s, order1.id, TX3, "alice.3bot", &diag), GS_ERANGE);
    wls = gs_store_workloads(f->s, "backup");
    assert_int_equal(json_array_size(wls), 3);
    json_decref(wls);
    assert_int_equal(gs_store_session_accept(f->s, order2.id, TX3, "alice.3bot", NULL), GS_OK);
    assert_string_equal(state_of(f, "backup", buf, sizeof buf), "paid");
    dep = gs_store_deployment(f->s, "backup");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(dep, "plan_json"), "plan")),
                     2);
    json_decref(dep);
    wls = gs_store_workloads(f->s, "backup");
    w = json_array_get(wls, 1); /* zdb 1 (0-dbs first, by idx) */
    assert_string_equal(gs_json_str(w, "state"), "new");
    w = json_array_get(wls, 2); /* the gateway machine */
    assert_string_equal(gs_json_str(w, "kind"), "container");
    assert_string_equal(gs_json_str(w, "state"), "new");
    assert_int_equal(json_integer_value(json_object_get(w, "old_workload_id")), 7);
    assert_string_equal(gs_json_str(w, "old_body"), "{\"old\":1}");
    assert_string_equal(gs_json_str(w, "reference"), "gs-x-container-0-sdddddddd");
    assert_true(json_is_null(json_object_get(w, "workload_id")));
    json_decref(wls);
    /* retired once: the second time the row no longer holds it */
    assert_int_equal(gs_store_workload_retired(f->s, "backup", "container", 0, 7, NULL), GS_OK);
    assert_int_equal(gs_store_workload_retired(f->s, "backup", "container", 0, 7, NULL), GS_ERANGE);
    json_decref(pools);
}

static void test_transitions_are_compare_and_set(void **state)
{
    fixture_t *f = *state;
    gs_diag_t diag = {{0}};
    char buf[64];
    add_backup(f);
    assert_int_equal(
        gs_store_deployment_transition(f->s, "backup", "paid", "pools_reserved", NULL, &diag),
        GS_ERANGE);
    assert_non_null(strstr(diag.msg, "is not paid"));
    assert_int_equal(gs_store_deployment_transition(f->s, "backup", "awaiting_payment", "failed",
                                                    "owner never paid", NULL),
                     GS_OK);
    assert_string_equal(state_of(f, "backup", buf, sizeof buf), "failed");
    assert_int_equal(gs_store_deployment_delete(f->s, "backup", NULL), GS_OK);
    assert_null(gs_store_session(f->s, two_sessions[0].id)); /* sessions go with it */
    assert_int_equal(gs_store_deployment_delete(f->s, "backup", &diag), GS_ENOENT);
}

static void test_events_keep_the_newest(void **state)
{
    fixture_t *f = *state;
    json_t *events;
    add_backup(f);
    for (int i = 0; i < 30; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "event %d", i);
        assert_int_equal(gs_store_event(f->s, "backup", "info", msg, NULL), GS_OK);
    }
    events = gs_store_events(f->s, "backup", 5, 0);
    assert_int_equal(json_array_size(events), 5);
    assert_string_equal(gs_json_str(json_array_get(events, 0), "message"), "event 25");
    assert_string_equal(gs_json_str(json_array_get(events, 4), "message"), "event 29");
    json_decref(events);
}

static void test_a_killed_writer_loses_nothing_it_committed(void **state)
{
    fixture_t *f = *state;
    int status;
    char buf[64];
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the writer: commits, then dies without closing anything */
        gs_store_t *s;
        if (gs_store_open(f->path, &s, NULL) != GS_OK ||
            gs_store_deployment_add(s, "backup", "alice.3bot", "x", "{}", two_sessions, 2, NULL) !=
                GS_OK ||
            gs_store_session_accept(s, two_sessions[0].id, TX1, "alice.3bot", NULL) != GS_OK)
            _exit(3);
        raise(SIGKILL);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    gs_store_close(f->s);
    assert_int_equal(gs_store_open(f->path, &f->s, NULL), GS_OK);
    assert_string_equal(state_of(f, "backup", buf, sizeof buf), "awaiting_payment");
    assert_int_equal(gs_store_session_accept(f->s, two_sessions[1].id, TX1, "alice.3bot", NULL),
                     GS_EINVAL);
}

static void on_synced(int err, void *arg)
{
    int *calls = arg;
    assert_int_equal(err, GS_OK);
    (*calls)++;
}

/* gs_store_sync answers on the loop, later, once per call, each after the writes before
 * it; the writes stay readable and counted. */
static void test_sync_answers_on_the_loop(void **state)
{
    fixture_t *f = *state;
    uv_loop_t loop;
    gs_store_stats_t st;
    int calls = 0;
    char buf[64];
    assert_int_equal(uv_loop_init(&loop), 0);
    add_backup(f);
    assert_int_equal(gs_store_sync(f->s, &loop, on_synced, &calls), GS_OK);
    assert_int_equal(gs_store_session_accept(f->s, two_sessions[0].id, TX1, "alice.3bot", NULL),
                     GS_OK);
    assert_int_equal(gs_store_sync(f->s, &loop, on_synced, &calls), GS_OK);
    assert_int_equal(calls, 0); /* never from inside the call */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(calls, 2);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_string_equal(state_of(f, "backup", buf, sizeof buf), "awaiting_payment");
    gs_store_stats(f->s, &st);
    assert_true(st.writes > 0 && st.seconds > 0 && st.max_seconds <= st.seconds);
}

/* The handle never checkpoints by itself; gs_store_checkpoint moves the WAL into the
 * database on the threadpool, and everything reads the same after it. */
static void test_checkpoints_run_off_the_loop(void **state)
{
    fixture_t *f = *state;
    uv_loop_t loop;
    gs_store_stats_t st;
    json_t *events;
    assert_int_equal(uv_loop_init(&loop), 0);
    add_backup(f);
    for (int i = 0; i < 200; i++)
        assert_int_equal(gs_store_event(f->s, "backup", "info", "an event", NULL), GS_OK);
    gs_store_checkpoint(f->s, &loop);
    gs_store_checkpoint(f->s, &loop); /* one under way already: nothing more */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    gs_store_stats(f->s, &st);
    assert_int_equal(st.checkpoints, 1);
    if (st.wal_frames < 200) /* every write was still in the WAL */
        fail_msg("%llu frames in the WAL", (unsigned long long)st.wal_frames);
    events = gs_store_events(f->s, "backup", 1000, 0);
    assert_int_equal(json_array_size(events), 201); /* with the deployment's own */
    json_decref(events);
    gs_store_close(f->s); /* and the file holds it all without the WAL */
    assert_int_equal(gs_store_open(f->path, &f->s, NULL), GS_OK);
    events = gs_store_events(f->s, "backup", 1000, 0);
    assert_int_equal(json_array_size(events), 201);
    json_decref(events);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations_run_once_and_refuse_a_newer_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deployments_are_added_whole_and_listed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_payment_is_accepted_once_and_settles_the_deployment,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_transitions_are_compare_and_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_scale_order_waits_for_its_payment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_keep_the_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_answers_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints_run_off_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_killed_writer_loses_nothing_it_committed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
