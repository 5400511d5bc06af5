/* test_workload.c — explorer v2 shapes, cloud units, prices and the signature
 * challenges, checked against vectors computed by hand (the challenge strings
 * written out below and their sha256 taken with sha256sum). */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NODE "72CP8QPhMSjBCu9GBNiXaRKY5TfLN3t9rShJZAPWT1Bp"

static const char zdb_json[] =
    "{\"workload_id\":1,\"node_id\":\"" NODE "\",\"pool_id\":1048,\"reference\":\"\","
    "\"description\":\"gridstor:demo:data:0\",\"customer_tid\":151,\"epoch\":1600867642,"
    "\"metadata\":\"\",\"workload_type\":0,\"size\":10,\"mode\":0,\"password\":\"a1b2\","
    "\"disk_type\":0,\"public\":false}";

static const char container_json[] =
    "{\"workload_id\":1,\"node_id\":\"" NODE "\",\"pool_id\":1048,\"reference\":\"\","
    "\"description\":\"gridstor:demo:m1\",\"customer_tid\":151,\"epoch\":1600867642,"
    "\"metadata\":\"\",\"workload_type\":1,"
    "\"flist\":\"https://hub.grid.tf/gridstor/gridstor-gw.flist\",\"hub_url\":\"\","
    "\"entrypoint\":\"/usr/bin/gridstor-gw\",\"interactive\":false,"
    "\"environment\":{\"B\":\"2\",\"A\":\"1\"},\"secret_environment\":{\"S\":\"3\"},"
    "\"volumes\":[{\"volume_id\":\"v1\",\"mountpoint\":\"/data\"}],"
    "\"network_connection\":[{\"network_id\":\"n1\",\"ipaddress\":\"10.1.0.2\","
    "\"public_ip6\":false}],"
    "\"capacity\":{\"cpu\":1,\"memory\":400,\"disk_size\":10240,\"disk_type\":1}}";

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (j == NULL)
        fail_msg("test JSON: %s", jerr.text);
    return j;
}

static void assert_challenge(const char *workload, const char *expected)
{
    json_t *w = parse(workload);
    gs_buf_t b;
    gs_buf_init(&b, 1 << 16);
    assert_int_equal(gs_workload_challenge(w, &b, NULL), GS_OK);
    assert_string_equal(b.data, expected);
    gs_buf_free(&b);
    json_decref(w);
}

static void assert_hash(const char *workload, const char *suffix, const char *hex)
{
    json_t *w = parse(workload);
    unsigned char hash[32];
    char got[65];
    assert_int_equal(gs_workload_challenge_hash(w, suffix, 151, hash, NULL), GS_OK);
    gs_hex(hash, 32, got);
    assert_string_equal(got, hex);
    json_decref(w);
}

static void test_zdb_challenge_matches_hand_built_string(void **state)
{
    (void)state;
    assert_challenge(zdb_json,
                     "1" NODE "1048151ZDB1600867642gridstor:demo:data:010seqa1b2hddfalse");
    assert_hash(zdb_json, NULL, "dd13f2bd042bafe8e87d9ef8cf1c6a6812e0d1a802511dba9b1e6524978985c0");
}

static void test_delete_request_hash_appends_delete_and_tid(void **state)
{
    (void)state;
    assert_hash(zdb_json, "delete",
                "d09b3dd2c9db54b28923dc6a3a079d2701fc0f74f15d1fb5094c7b3e49c87043");
}

static void test_container_challenge_sorts_environment(void **state)
{
    (void)state;
    assert_challenge(container_json,
                     "1" NODE "1048151CONTAINER1600867642gridstor:demo:m1"
                     "https://hub.grid.tf/gridstor/gridstor-gw.flist/usr/bin/gridstor-gwfalse"
                     "A=1B=2S=3v1/datan110.1.0.2false140010240ssd");
    assert_hash(container_json, NULL,
                "dbd3e1bb75281c0caa7a1952b612589eb30e91ef45d6eadbcf5751e8b415b8ad");
    assert_hash(container_json, "provision",
                "1a13261f745c98e8f91390fb05e94c92501d4e50ee8615e4b92cdcf2fb1800f8");
}

static void test_challenge_refuses_missing_fields_and_unknown_types(void **state)
{
    json_t *w = parse(zdb_json);
    gs_diag_t diag = {{0}};
    gs_buf_t b;
    (void)state;
    gs_buf_init(&b, 1 << 16);
    json_object_del(w, "password");
    assert_int_equal(gs_workload_challenge(w, &b, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "password"));
    json_object_set_new(w, "password", json_string(""));
    json_object_set_new(w, "workload_type", json_integer(7));
    assert_int_equal(gs_workload_challenge(w, &b, &diag), GS_EINVAL);
    assert_non_null(strstr(diag.msg, "workload_type"));
    gs_buf_free(&b);
    json_decref(w);
}

static void test_units_round_like_the_explorer(void **state)
{
    uint64_t cu, su;
    (void)state;
    gs_units_zdb(10, GS_DISK_HDD, &cu, &su); /* 10/1200 = 0.00833 -> 0.008 */
    assert_int_equal(cu, 0);
    assert_int_equal(su, 8);
    gs_units_zdb(10, GS_DISK_SSD, &cu, &su); /* 10/300 = 0.0333 -> 0.033 */
    assert_int_equal(su, 33);
    gs_units_container(1, 400, 10240, GS_DISK_SSD, &cu, &su); /* min(0.3906/4, 0.5) */
    assert_int_equal(cu, 98);
    assert_int_equal(su, 0); /* the first 50 GB of a container are free */
    gs_units_container(1, 1024, 2048, GS_DISK_SSD, &cu, &su); /* the reference's example */
    assert_int_equal(cu, 250);
    assert_int_equal(su, 0);
    gs_units_container(4, 16384, 110 * 1024, GS_DISK_SSD, &cu, &su); /* 60 GB over, ssd */
    assert_int_equal(cu, 2000);
    assert_int_equal(su, 200);
}

static void test_rates_follow_the_prices(void **state)
{
    gs_prices_t p = gs_prices_default();
    uint64_t cu, su;
    char tft[32];
    (void)state;
    gs_unit_rates(&p, &cu, &su);
    assert_int_equal(cu, 385);
    assert_int_equal(su, 308);
    p.cu_usd_month = 1; /* testnet divides the prices by 10 */
    p.su_usd_month = 0.8;
    gs_unit_rates(&p, &cu, &su);
    assert_int_equal(cu, 38);
    assert_int_equal(su, 30);
    gs_format_tft(997920000, tft, sizeof tft);
    assert_string_equal(tft, "99.7920000");
    gs_format_tft(1, tft, sizeof tft);
    assert_string_equal(tft, "0.0000001");
}

static void test_pool_reservation_signs_its_own_json_text(void **state)
{
    gs_plan_pool_t pool = {.cus = 2592000, .sus = 0};
    json_t *body, *again;
    const char *text;
    (void)state;
    gs_strlist_push(&pool.node_ids, "Hugt");
    gs_strlist_push(&pool.node_ids, "9KAb");
    body = gs_pool_reservation(&pool, 0, 151);
    assert_non_null(body);
    text = gs_json_str(body, "json");
    assert_string_equal(text, "{\"pool_id\":0,\"cus\":2592000,\"sus\":0,\"ipv4us\":0,"
                              "\"node_ids\":[\"Hugt\",\"9KAb\"],\"currencies\":[\"TFT\"]}");
    again = json_loads(text, 0, NULL);
    assert_true(json_equal(again, json_object_get(body, "data_reservation")));
    assert_int_equal(json_integer_value(json_object_get(body, "customer_tid")), 151);
    json_decref(again);
    json_decref(body);
    gs_strlist_free(&pool.node_ids);
}

static void test_planned_workloads_are_in_the_explorer_shape(void **state)
{
    gs_grid_t grid;
    gs_spec_t spec;
    gs_plan_t plan;
    gs_topology_t topo;
    gs_workload_ctx_t ctx = {
        .customer_tid = 151, .epoch = 1600867642, .pool_id = 1048, .password = "a1b2"};
    json_t *zdb, *container;
    gs_buf_t b;
    (void)state;
    ts_plan_text("name: demo\nowner: alice.3bot\n", 1, &grid, &spec, &plan);
    assert_int_equal(gs_topology_load("m1m2", &topo, NULL), GS_OK);
    zdb = gs_workload_zdb(&plan, plan.n_zdbs - 1, &ctx);
    container = gs_workload_container(&plan, &topo, 0, &ctx);
    assert_int_equal(json_integer_value(json_object_get(zdb, "workload_type")), 0);
    assert_int_equal(json_integer_value(json_object_get(zdb, "size")), 10);
    assert_int_equal(json_integer_value(json_object_get(zdb, "version")), 2);
    assert_int_equal(
        json_integer_value(json_array_get(
            json_object_get(json_object_get(zdb, "signing_request_delete"), "signers"), 0)),
        151);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(container, "capacity"), "memory")), 400);
    gs_buf_init(&b, 1 << 16);
    assert_int_equal(gs_workload_challenge(zdb, &b, NULL), GS_OK);
    assert_non_null(strstr(b.data, "10seqa1b2hddfalse"));
    gs_buf_reset(&b);
    assert_int_equal(gs_workload_challenge(container, &b, NULL), GS_OK);
    assert_non_null(strstr(b.data, "GRIDSTOR_DEPLOYMENT=demoGRIDSTOR_GATEWAY=read-write"));
    gs_buf_free(&b);
    json_decref(zdb);
    json_decref(container);
    gs_plan_free(&plan);
    gs_spec_free(&spec);
    gs_grid_free(&grid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zdb_challenge_matches_hand_built_string),
        cmocka_unit_test(test_delete_request_hash_appends_delete_and_tid),
        cmocka_unit_test(test_container_challenge_sorts_environment),
        cmocka_unit_test(test_challenge_refuses_missing_fields_and_unknown_types),
        cmocka_unit_test(test_units_round_like_the_explorer),
        cmocka_unit_test(test_rates_follow_the_prices),
        cmocka_unit_test(test_pool_reservation_signs_its_own_json_text),
        cmocka_unit_test(test_planned_workloads_are_in_the_explorer_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
