/*
 * dbtest_migrate.c — schema migrations: everything applied once on an empty
 * database, nothing on the second run, every table of DESIGN.md present with
 * its key unique constraints, a failed script rolled back and named, a newer
 * database refused, and concurrent migrators applying the schema once.
 * Runs on both engines (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/crypto.h"
#include "db/migrate.h"
#include "db/migrations.h"
#include "support/testdb.h"

#define NOW "2026-01-01T00:00:00Z"
#define MIGRATORS 4

struct fixture {
    char *url;
    struct db *db; /* not migrated */
};

#define assert_rc(rc, expected, err)                                                               \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != (expected))                                                                     \
            fail_msg("%s = %d, expected %d (%s)", #rc, rc_, (int)(expected), (err).msg);           \
    } while (0)

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->url = testdb_create();
    f->db = testdb_open(f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t query(struct db *db, const char *sql, int nparams, const char *const *params)
{
    struct lumi_err err;
    int64_t n = -1;
    if (db_query_int64(db, sql, nparams, params, &n, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return n;
}

static bool table_exists(struct db *db, const char *name)
{
    const char *sql = db_kind(db) == DB_SQLITE
                          ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
                          : "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"
                            " AND tablename = $1";
    const char *const p[] = {name};
    return query(db, sql, 1, p) == 1;
}

static void migrate_ok(struct db *db, int expect_applied)
{
    struct lumi_err err;
    int applied = -1;
    assert_rc(db_migrate(db, &applied, &err), 0, err);
    assert_int_equal(applied, expect_applied);
}

static void empty_database_gets_every_migration(void **state)
{
    struct fixture *f = *state;
    migrate_ok(f->db, (int)lumi_migrations_count);
    assert_true(query(f->db, "SELECT COUNT(*) FROM schema_migrations", 0, NULL) ==
                (int64_t)lumi_migrations_count);
    assert_true(query(f->db, "SELECT MAX(version) FROM schema_migrations", 0, NULL) ==
                db_schema_version_latest());
    assert_true(db_schema_version_latest() == lumi_migrations[lumi_migrations_count - 1].version);
}

static void second_run_applies_nothing(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    migrate_ok(f->db, (int)lumi_migrations_count);
    struct db_stmt *st =
        db_prepare(f->db, "SELECT applied_at FROM schema_migrations WHERE version = 1", &err);
    assert_rc(db_step(st, &err), DB_ROW, err);
    char *before = strdup(db_col_text(st, 0));
    db_finalize(st);

    migrate_ok(f->db, 0);
    struct db *other = testdb_open(f->url);
    migrate_ok(other, 0);
    db_close(other);

    assert_true(query(f->db, "SELECT COUNT(*) FROM schema_migrations", 0, NULL) ==
                (int64_t)lumi_migrations_count);
    st = db_prepare(f->db, "SELECT applied_at FROM schema_migrations WHERE version = 1", &err);
    assert_rc(db_step(st, &err), DB_ROW, err);
    assert_string_equal(db_col_text(st, 0), before);
    db_finalize(st);
    free(before);
}

static void every_design_table_exists(void **state)
{
    static const char *const tables[] = {
        "users",
        "sessions",
        "api_tokens",
        "servers",
        "products",
        "services",
        "invoices",
        "invoice_items",
        "transactions",
        "checkouts",
        "webhook_events",
        "jobs",
        "provision_attempts",
        "audit_log",
        "settings",
        "schema_migrations",
    };
    struct fixture *f = *state;
    migrate_ok(f->db, (int)lumi_migrations_count);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (!table_exists(f->db, tables[i]))
            fail_msg("table %s is missing", tables[i]);
    assert_false(table_exists(f->db, "no_such_table"));
}

/* Runs sql twice with the same parameters: the first must succeed, the second conflict. */
static void insert_twice_conflicts(struct db *db, const char *sql, int nparams,
                                   const char *const *params)
{
    struct lumi_err err;
    assert_rc(db_execp(db, sql, nparams, params, NULL, &err), 0, err);
    assert_rc(db_execp(db, sql, nparams, params, NULL, &err), LUMI_ECONFLICT, err);
}

static void key_unique_constraints_hold(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    migrate_ok(f->db, (int)lumi_migrations_count);

    const char *const user[] = {"a@example.com", NOW};
    insert_twice_conflicts(f->db,
                           "INSERT INTO users (email, role, created_at, updated_at)"
                           " VALUES ($1, 'client', $2, $2)",
                           2, user);
    const char *const now[] = {NOW};
    insert_twice_conflicts(f->db,
                           "INSERT INTO webhook_events (gateway, event_id, event_type, status,"
                           " payload, received_at)"
                           " VALUES ('stripe', 'evt_1', 'charge.succeeded', 'processed', '{}', $1)",
                           1, now);
    /* Same gateway reference, different kind: allowed (a payment and its refund). */
    insert_twice_conflicts(f->db,
                           "INSERT INTO transactions (gateway, kind, gateway_ref, amount, currency,"
                           " status, created_at)"
                           " VALUES ('stripe', 'payment', 'ch_1', 500, 'usd', 'succeeded', $1)",
                           1, now);
    assert_rc(db_execp(f->db,
                       "INSERT INTO transactions (gateway, kind, gateway_ref, amount, currency,"
                       " status, created_at)"
                       " VALUES ('stripe', 'refund', 'ch_1', 500, 'usd', 'succeeded', $1)",
                       1, now, NULL, &err),
              0, err);
    insert_twice_conflicts(f->db,
                           "INSERT INTO invoices (number, client_id, status, currency, subtotal,"
                           " total, due_date, created_at, updated_at)"
                           " VALUES ('INV-1', (SELECT id FROM users), 'unpaid', 'usd', 100, 100,"
                           " $1, $1, $1)",
                           1, now);
    assert_rc(db_execp(f->db,
                       "INSERT INTO products (name, type, price, currency, billing_cycle,"
                       " autosetup, created_at, updated_at)"
                       " VALUES ('p', 'hosting', 100, 'usd', 'monthly', 'payment', $1, $1)",
                       1, now, NULL, &err),
              0, err);
    insert_twice_conflicts(f->db,
                           "INSERT INTO services (client_id, product_id, status, remote_key,"
                           " billing_cycle, recurring_amount, currency, created_at, updated_at)"
                           " VALUES ((SELECT id FROM users), (SELECT id FROM products),"
                           " 'pending', 'lumi-svc-1', 'monthly', 100, 'usd', $1, $1)",
                           1, now);
}

static void newer_database_is_refused(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    migrate_ok(f->db, (int)lumi_migrations_count);
    char version[16];
    snprintf(version, sizeof version, "%d", db_schema_version_latest() + 1);
    const char *const p[] = {version, NOW};
    assert_rc(db_execp(f->db,
                       "INSERT INTO schema_migrations (version, name, applied_at)"
                       " VALUES ($1, 'future', $2)",
                       2, p, NULL, &err),
              0, err);
    int applied = -1;
    err_clear(&err);
    assert_true(db_migrate(f->db, &applied, &err) < 0);
    assert_int_equal(applied, 0);
    assert_non_null(strstr(err.msg, "newer"));
    assert_false(db_in_tx(f->db));
}

static void failed_migration_is_rolled_back_and_named(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    /* A stray table in the way makes migration 1 fail half-way through its script. */
    assert_rc(db_exec(f->db, "CREATE TABLE api_tokens (x INTEGER)", &err), 0, err);
    int applied = -1;
    err_clear(&err);
    assert_true(db_migrate(f->db, &applied, &err) < 0);
    assert_int_equal(applied, 0);
    if (strncmp(err.msg, "migration 1 (accounts): ", 24) != 0)
        fail_msg("unexpected message: %s", err.msg);
    assert_false(db_in_tx(f->db));
    assert_false(table_exists(f->db, "users"));
    assert_false(table_exists(f->db, "sessions"));
    assert_true(query(f->db, "SELECT COUNT(*) FROM schema_migrations", 0, NULL) == 0);

    /* Once the obstacle is gone the same database migrates cleanly. */
    assert_rc(db_exec(f->db, "DROP TABLE api_tokens", &err), 0, err);
    migrate_ok(f->db, (int)lumi_migrations_count);
}

/* Migration 9 rebuilds audit_log on SQLite and drops a constraint on both
 * engines: rows written before it keep their ids, hashes and chain, and the
 * CHECKs it rewrote on SQLite still refuse what they refused. */
static void write_path_migration_keeps_the_audit_chain_and_checks(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int applied = -1;
    assert_rc(db_migrate_upto(f->db, 8, &applied, &err), 0, err);
    assert_int_equal(applied, 8);
    assert_rc(db_begin(f->db, &err), 0, err);
    for (int i = 0; i < 3; i++)
        assert_rc(audit_append_id(f->db, &AUDIT_SYSTEM, "TEST_ROW", "invoice", i + 1, NULL, &err),
                  0, err);
    assert_rc(db_commit(f->db, &err), 0, err);
    char before[CRYPTO_SHA256_HEX];
    struct db_stmt *st = db_prepare(f->db, "SELECT hash FROM audit_log WHERE id = 3", &err);
    assert_non_null(st);
    assert_int_equal(db_step(st, &err), DB_ROW);
    snprintf(before, sizeof before, "%s", db_col_text(st, 0));
    db_finalize(st);

    migrate_ok(f->db, (int)lumi_migrations_count - 8);
    struct audit_verify_result res;
    assert_rc(audit_verify(f->db, &res, &err), 0, err);
    assert_int_equal(res.rows, 3);
    assert_int_equal(res.broken_id, 0);
    const char *const three[] = {before};
    assert_true(
        query(f->db, "SELECT COUNT(*) FROM audit_log WHERE id = 3 AND hash = $1", 1, three) == 1);
    /* The chain goes on from where it was. */
    assert_rc(db_begin(f->db, &err), 0, err);
    assert_rc(audit_append_id(f->db, &AUDIT_SYSTEM, "TEST_ROW", "invoice", 4, NULL, &err), 0, err);
    assert_rc(db_commit(f->db, &err), 0, err);
    assert_rc(audit_verify(f->db, &res, &err), 0, err);
    assert_int_equal(res.rows, 4);
    assert_int_equal(res.broken_id, 0);

    if (db_kind(f->db) == DB_SQLITE) {
        /* No CHECK is left with an IN list (each built a temporary index per write). */
        assert_true(query(f->db,
                          "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table'"
                          " AND (sql LIKE '% IN (%' OR sql LIKE '% IN  %')",
                          0, NULL) == 0);
        assert_true(query(f->db,
                          "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'audit_log'"
                          " AND sql LIKE '%id INTEGER PRIMARY KEY,%'",
                          0, NULL) == 1);
        assert_true(query(f->db,
                          "SELECT COUNT(*) FROM pragma_integrity_check WHERE"
                          " integrity_check <> 'ok'",
                          0, NULL) == 0);
    }
    /* ... and they still refuse what is not in their list, on both engines. */
    static const char *const refused[] = {
        "INSERT INTO webhook_events (gateway, event_id, event_type, status, payload, received_at)"
        " VALUES ('stripe', 'evt_x', 't', 'processing', '{}', '" NOW "')",
        "INSERT INTO users (email, role, created_at, updated_at)"
        " VALUES ('r@example.com', 'root', '" NOW "', '" NOW "')",
        "INSERT INTO audit_log (id, at, actor_type, action, details, prev_hash, hash)"
        " VALUES (99, '" NOW "', 'robot', 'X', '{}', '0', '1')",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        err_clear(&err);
        assert_true(db_execp(f->db, refused[i], 0, NULL, NULL, &err) < 0);
    }
    const char *const ok[] = {NOW};
    assert_rc(
        db_execp(f->db,
                 "INSERT INTO webhook_events (gateway, event_id, event_type, status,"
                 " payload, received_at) VALUES ('stripe', 'evt_y', 't', 'ignored', '{}', $1)",
                 1, ok, NULL, &err),
        0, err);
}

struct migrator {
    const char *url;
    pthread_barrier_t *start;
    int rc;
    int applied;
    struct lumi_err err;
};

static void *run_migrator(void *arg)
{
    struct migrator *m = arg;
    struct db *db = db_open(m->url, &m->err);
    pthread_barrier_wait(m->start);
    if (db == NULL) {
        m->rc = m->err.code;
        return NULL;
    }
    m->rc = db_migrate(db, &m->applied, &m->err);
    db_close(db);
    return NULL;
}

static void concurrent_migrators_apply_the_schema_once(void **state)
{
    struct fixture *f = *state;
    pthread_t threads[MIGRATORS];
    struct migrator m[MIGRATORS];
    pthread_barrier_t start;
    /* The fixture's connection stays unmigrated; the threads open fresh ones. */
    pthread_barrier_init(&start, NULL, MIGRATORS);
    for (int i = 0; i < MIGRATORS; i++) {
        m[i] = (struct migrator){.url = f->url, .start = &start, .rc = -100, .applied = 0};
        assert_int_equal(pthread_create(&threads[i], NULL, run_migrator, &m[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < MIGRATORS; i++) {
        pthread_join(threads[i], NULL);
        if (m[i].rc != 0)
            fail_msg("migrator %d: rc %d: %s", i, m[i].rc, m[i].err.msg);
        total += m[i].applied;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(total, (int)lumi_migrations_count);
    assert_true(query(f->db, "SELECT COUNT(*) FROM schema_migrations", 0, NULL) ==
                (int64_t)lumi_migrations_count);
    assert_true(table_exists(f->db, "audit_log"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(empty_database_gets_every_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(second_run_applies_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(every_design_table_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(key_unique_constraints_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_database_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_migration_is_rolled_back_and_named, setup, teardown),
        cmocka_unit_test_setup_teardown(write_path_migration_keeps_the_audit_chain_and_checks,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_migrators_apply_the_schema_once, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
