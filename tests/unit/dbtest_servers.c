/*
 * dbtest_servers.c — servers in the database: secrets sealed at rest and bound
 * to their row, validation that changes nothing, environment servers kept in
 * step with the configuration, and account slots that concurrent orders
 * cannot overfill. Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "provisioning/servers.h"
#include "support/testdb.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PTERO_KEY "ptla_SuperSecretApplicationKey1234567890abcdef"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

struct fixture {
    char *url;
    struct db *db;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    setenv("LUMI_SECRET_KEY", KEY, 1);
    unsetenv("PTERODACTYL_URL");
    unsetenv("PTERODACTYL_API_KEY");
    f->db = testdb_start(&f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static json_t *create(struct db *db, const char *body)
{
    struct lumi_err err;
    json_t *in = json_loads(body, 0, NULL);
    assert_non_null(in);
    json_t *out = servers_create(db, &ACTOR, in, &err);
    json_decref(in);
    if (out == NULL)
        fail_msg("servers_create: %s", err.msg);
    return out;
}

static void secret_is_sealed_and_masked(void **state)
{
    struct fixture *f = *state;
    json_t *s = create(f->db, "{\"name\":\"Game nodes\",\"type\":\"pterodactyl\","
                              "\"url\":\"https://panel.example.com/\",\"api_key\":\"" PTERO_KEY
                              "\",\"max_accounts\":10}");
    int64_t id = json_integer_value(json_object_get(s, "id"));
    assert_string_equal(json_string_value(json_object_get(s, "api_key")), "********");
    assert_string_equal(json_string_value(json_object_get(s, "url")), "https://panel.example.com");
    assert_string_equal(json_string_value(json_object_get(s, "source")), "database");
    char *text = json_dumps(s, 0);
    assert_null(strstr(text, PTERO_KEY));
    free(text);
    json_decref(s);

    /* At rest: not the plaintext; the audit row does not carry it either. */
    assert_true(
        testdb_int64(f->db, "SELECT COUNT(*) FROM servers WHERE secret_enc LIKE '%SuperSecret%'") ==
        0);
    assert_true(
        testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%SuperSecret%'") ==
        0);
    assert_true(
        testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'SERVER_CREATED'") == 1);

    struct server_conn sc;
    struct lumi_err err;
    assert_int_equal(servers_conn(f->db, id, &sc, &err), 0);
    assert_string_equal(sc.conn.api_key, PTERO_KEY);
    assert_string_equal(sc.conn.url, "https://panel.example.com");
    assert_ptr_equal(sc.ops, &panel_pterodactyl);
    servers_conn_clear(&sc);
}

static void sealed_secret_is_bound_to_its_row(void **state)
{
    struct fixture *f = *state;
    json_t *a = create(f->db, "{\"name\":\"a\",\"type\":\"virtfusion\",\"url\":\"https://a.test\","
                              "\"api_key\":\"token-a-1234567\"}");
    json_t *b = create(f->db, "{\"name\":\"b\",\"type\":\"virtfusion\",\"url\":\"https://b.test\","
                              "\"api_key\":\"token-b-7654321\"}");
    int64_t ida = json_integer_value(json_object_get(a, "id"));
    int64_t idb = json_integer_value(json_object_get(b, "id"));
    json_decref(a);
    json_decref(b);
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE servers SET secret_enc = (SELECT secret_enc FROM servers WHERE id = %lld) "
             "WHERE id = %lld",
             (long long)ida, (long long)idb);
    struct lumi_err err;
    assert_int_equal(db_exec(f->db, sql, &err), 0);
    struct server_conn sc;
    assert_true(servers_conn(f->db, idb, &sc, &err) < 0);
    assert_non_null(strstr(err.msg, "cannot be decrypted"));
}

static void invalid_input_changes_nothing(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {
        "{\"name\":\"x\",\"type\":\"cpanel\",\"url\":\"https://x.test\",\"api_key\":\"k\"}",
        "{\"name\":\"x\",\"type\":\"pterodactyl\",\"url\":\"ftp://x.test\",\"api_key\":\"k\"}",
        "{\"name\":\"x\",\"type\":\"pterodactyl\",\"url\":\"https://"
        "u:p@x.test\",\"api_key\":\"k\"}",
        "{\"name\":\"x\",\"type\":\"pterodactyl\",\"url\":\"https://x.test\"}",
        "{\"name\":\"x\",\"type\":\"directadmin\",\"url\":\"https://"
        "x.test\",\"username\":\"admin\"}",
        "{\"name\":\"x\",\"type\":\"directadmin\",\"url\":\"https://x.test\",\"api_key\":\"k\"}",
        "{\"name\":\"x\",\"type\":\"directadmin\",\"url\":\"https://x.test\",\"username\":\"a\","
        "\"password\":\"p\",\"api_version\":\"v3\"}",
        "{\"name\":\"x\",\"type\":\"virtfusion\",\"url\":\"https://x.test\",\"api_key\":\"k\","
        "\"max_accounts\":-1}",
        "{\"name\":\"\",\"type\":\"virtfusion\",\"url\":\"https://x.test\",\"api_key\":\"k\"}",
        "{\"name\":\"x\",\"type\":\"virtfusion\",\"url\":\"https://x.test\",\"api_key\":\"k\","
        "\"colour\":\"red\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lumi_err err = {0};
        json_t *in = json_loads(bad[i], 0, NULL);
        assert_non_null(in);
        assert_null(servers_create(f->db, &ACTOR, in, &err));
        assert_int_equal(err.code, LUMI_EINVAL);
        assert_true(strlen(err.msg) > 10);
        json_decref(in);
    }
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM servers") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log") == 0);
}

static void update_replaces_secret_and_audits_without_it(void **state)
{
    struct fixture *f = *state;
    json_t *s =
        create(f->db, "{\"name\":\"web\",\"type\":\"directadmin\",\"url\":\"https://da.test:2222\","
                      "\"username\":\"admin\",\"password\":\"old-password-1\"}");
    int64_t id = json_integer_value(json_object_get(s, "id"));
    assert_string_equal(json_string_value(json_object_get(s, "api_version")), "v2");
    json_decref(s);
    struct lumi_err err;
    json_t *patch = json_pack("{s:s s:s s:i s:i}", "password", "new-password-2", "api_version",
                              "v1", "max_accounts", 3, "rate_limit_per_minute", 600);
    json_t *out = servers_update(f->db, &ACTOR, id, patch, &err);
    json_decref(patch);
    assert_non_null(out);
    assert_string_equal(json_string_value(json_object_get(out, "api_version")), "v1");
    assert_int_equal(json_integer_value(json_object_get(out, "rate_limit_per_minute")), 600);
    json_decref(out);
    struct server_conn sc;
    assert_int_equal(servers_conn(f->db, id, &sc, &err), 0);
    assert_string_equal(sc.conn.password, "new-password-2");
    assert_string_equal(sc.conn.api_version, "v1");
    assert_int_equal(sc.conn.rate_per_minute, 600);
    servers_conn_clear(&sc);
    assert_true(
        testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'SERVER_UPDATED'") == 1);
    assert_true(testdb_int64(
                    f->db, "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%password-%'") == 0);

    /* Type cannot change. */
    patch = json_pack("{s:s}", "type", "pterodactyl");
    assert_null(servers_update(f->db, &ACTOR, id, patch, &err));
    assert_int_equal(err.code, LUMI_EINVAL);
    json_decref(patch);
}

static void delete_refused_while_used(void **state)
{
    struct fixture *f = *state;
    json_t *s =
        create(f->db, "{\"name\":\"vps\",\"type\":\"virtfusion\",\"url\":\"https://vf.test\","
                      "\"api_key\":\"token-123456\"}");
    int64_t id = json_integer_value(json_object_get(s, "id"));
    json_decref(s);
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('VPS S', 'vps', %lld, 500, 'usd', "
             "'monthly', 'payment', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             (long long)id);
    struct lumi_err err;
    assert_int_equal(db_exec(f->db, sql, &err), 0);
    assert_int_equal(servers_delete(f->db, &ACTOR, id, &err), LUMI_ECONFLICT);
    assert_non_null(strstr(err.msg, "used by"));
    assert_int_equal(db_exec(f->db, "DELETE FROM products", &err), 0);
    assert_int_equal(servers_delete(f->db, &ACTOR, id, &err), 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM servers") == 0);
    assert_true(
        testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'SERVER_DELETED'") == 1);
}

static void environment_servers_follow_configuration(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    setenv("PTERODACTYL_URL", "https://games.example.com/", 1);
    setenv("PTERODACTYL_API_KEY", PTERO_KEY, 1);
    testdb_config_load();
    assert_int_equal(servers_sync_environment(f->db, &err), 0);
    assert_int_equal(servers_sync_environment(f->db, &err), 0); /* idempotent */
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM servers WHERE source = 'environment'") ==
                1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log") == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM servers WHERE secret_enc IS NOT NULL") ==
                0);

    int64_t id = testdb_int64(f->db, "SELECT id FROM servers");
    json_t *s = servers_get(f->db, id, &err);
    assert_string_equal(json_string_value(json_object_get(s, "api_key")), "********");
    assert_string_equal(json_string_value(json_object_get(s, "url")), "https://games.example.com");
    json_decref(s);
    struct server_conn sc;
    assert_int_equal(servers_conn(f->db, id, &sc, &err), 0);
    assert_string_equal(sc.conn.api_key, PTERO_KEY);
    servers_conn_clear(&sc);

    json_t *patch = json_pack("{s:s}", "name", "renamed");
    assert_null(servers_update(f->db, &ACTOR, id, patch, &err));
    assert_int_equal(err.code, LUMI_ECONFLICT);
    json_decref(patch);
    assert_int_equal(servers_delete(f->db, &ACTOR, id, &err), LUMI_ECONFLICT);

    unsetenv("PTERODACTYL_URL");
    unsetenv("PTERODACTYL_API_KEY");
    testdb_config_load();
    assert_int_equal(servers_sync_environment(f->db, &err), 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM servers WHERE active = 0") == 1);
    assert_true(
        testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'SERVER_UPDATED'") == 1);
}

/* --- placement ------------------------------------------------------------- */

#define CONTENDERS 8

struct contender {
    const char *url;
    int64_t server_id;
    int got;
    int errors;
};

static void *reserve_thread(void *arg)
{
    struct contender *c = arg;
    struct lumi_err err;
    struct db *db = db_open(c->url, &err);
    if (db == NULL) {
        c->errors++;
        return NULL;
    }
    for (int attempt = 0; attempt < 50; attempt++) {
        int rc = db_begin(db, &err);
        if (rc == 0)
            rc = servers_reserve_slot(db, c->server_id, &err);
        if (rc == 0)
            rc = db_commit(db, &err);
        else
            db_rollback(db);
        if (rc == 0)
            c->got = 1;
        else if (rc != LUMI_ECONFLICT && rc != LUMI_EBUSY)
            c->errors++;
        if (rc != LUMI_EBUSY)
            break;
    }
    db_close(db);
    return NULL;
}

static void concurrent_orders_cannot_overfill(void **state)
{
    struct fixture *f = *state;
    json_t *s =
        create(f->db, "{\"name\":\"small\",\"type\":\"virtfusion\",\"url\":\"https://vf.test\","
                      "\"api_key\":\"token-123456\",\"max_accounts\":5}");
    int64_t id = json_integer_value(json_object_get(s, "id"));
    json_decref(s);
    pthread_t t[CONTENDERS];
    struct contender c[CONTENDERS];
    for (int i = 0; i < CONTENDERS; i++) {
        c[i] = (struct contender){f->url, id, 0, 0};
        pthread_create(&t[i], NULL, reserve_thread, &c[i]);
    }
    int got = 0, errors = 0;
    for (int i = 0; i < CONTENDERS; i++) {
        pthread_join(t[i], NULL);
        got += c[i].got;
        errors += c[i].errors;
    }
    assert_int_equal(errors, 0);
    assert_int_equal(got, 5);
    assert_true(testdb_int64(f->db, "SELECT account_count FROM servers") == 5);

    struct lumi_err err;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(servers_reserve_slot(f->db, id, &err), LUMI_ECONFLICT);
    assert_non_null(strstr(err.msg, "full (5 of 5"));
    assert_int_equal(servers_release_slot(f->db, id, &err), 0);
    assert_int_equal(servers_reserve_slot(f->db, id, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(secret_is_sealed_and_masked, setup, teardown),
        cmocka_unit_test_setup_teardown(sealed_secret_is_bound_to_its_row, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_input_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(update_replaces_secret_and_audits_without_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(delete_refused_while_used, setup, teardown),
        cmocka_unit_test_setup_teardown(environment_servers_follow_configuration, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_orders_cannot_overfill, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
