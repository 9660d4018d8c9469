/*
 * dbtest_staff.c — staff roles in the database (issue 16), on both engines:
 *   - migration 16 on a database that already has a catch-all "staff"
 *     member makes it an admin, keeps clients, and the new CHECK refuses
 *     any other role;
 *   - staff_set_role / staff_set_active keep at least one active admin,
 *     refuse clients and unknown roles, and write one audit row per change
 *     (none for a change to the same value).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts/accounts.h"
#include "accounts/staff.h"
#include "db/migrate.h"
#include "support/testdb.h"

#define KEY "8a1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define NOW "2026-01-01T00:00:00Z"

struct fixture {
    char *url;
    struct db *db; /* migrated up to 13 only */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct lumi_err err;
    int applied = 0;
    setenv("LUMI_SECRET_KEY", KEY, 1);
    f->url = testdb_create();
    f->db = testdb_open(f->url);
    if (db_migrate_upto(f->db, 13, &applied, &err) != 0)
        fail_msg("migrate to 13: %s", err.msg);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static void add_user(struct db *db, const char *email, const char *role)
{
    const char *p[] = {email, role, NOW};
    testdb_execp(db,
                 "INSERT INTO users (email, role, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                 3, p);
}

static void migrate_all(struct db *db)
{
    struct lumi_err err;
    int applied = 0;
    if (db_migrate(db, &applied, &err) != 0)
        fail_msg("migrate: %s", err.msg);
}

static void migration_16_makes_old_staff_admins(void **state)
{
    struct fixture *f = *state;
    add_user(f->db, "old-staff@example.com", "staff");
    add_user(f->db, "boss@example.com", "admin");
    add_user(f->db, "client@example.com", "client");
    migrate_all(f->db);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM users WHERE role = 'admin'"), 2);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM users WHERE role = 'client'"), 1);

    struct lumi_err err;
    const char *p[] = {"x@example.com", "staff", NOW};
    static const char ins[] =
        "INSERT INTO users (email, role, created_at, updated_at) VALUES ($1, $2, $3, $3)";
    assert_true(db_execp(f->db, ins, 3, p, NULL, &err) < 0);
    p[1] = "owner";
    assert_true(db_execp(f->db, ins, 3, p, NULL, &err) < 0);
    p[1] = "readonly";
    assert_int_equal(db_execp(f->db, ins, 3, p, NULL, &err), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM api_tokens WHERE expires_at IS "
                                         "NOT NULL"),
                     0);
}

static int64_t id_of(struct db *db, const char *email)
{
    return testdb_int64f(db, "SELECT id FROM users WHERE email = '%s'", email);
}

static void one_active_admin_always_remains(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    migrate_all(f->db);
    add_user(f->db, "boss@example.com", "admin");
    add_user(f->db, "ann@example.com", "support");
    add_user(f->db, "client@example.com", "client");
    int64_t boss = id_of(f->db, "boss@example.com"), ann = id_of(f->db, "ann@example.com");

    assert_int_equal(staff_set_role(f->db, &AUDIT_SYSTEM, boss, "billing", &err), LUMI_ECONFLICT);
    assert_int_equal(staff_set_active(f->db, &AUDIT_SYSTEM, boss, false, &err), LUMI_ECONFLICT);
    assert_int_equal(
        staff_set_role(f->db, &AUDIT_SYSTEM, id_of(f->db, "client@example.com"), "support", &err),
        LUMI_ENOTFOUND);
    assert_int_equal(staff_set_role(f->db, &AUDIT_SYSTEM, ann, "client", &err), LUMI_EINVAL);
    assert_int_equal(staff_set_role(f->db, &AUDIT_SYSTEM, ann, "support", &err), 0); /* no-op */
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log"), 0);

    /* A second admin: now the first may step down, and the second may not. */
    assert_int_equal(staff_set_role(f->db, &AUDIT_SYSTEM, ann, "admin", &err), 0);
    assert_int_equal(staff_set_role(f->db, &AUDIT_SYSTEM, boss, "readonly", &err), 0);
    assert_int_equal(staff_set_active(f->db, &AUDIT_SYSTEM, ann, false, &err), LUMI_ECONFLICT);
    /* A disabled admin does not count as the other admin. */
    assert_int_equal(staff_set_role(f->db, &AUDIT_SYSTEM, boss, "admin", &err), 0);
    assert_int_equal(staff_set_active(f->db, &AUDIT_SYSTEM, boss, false, &err), 0);
    assert_int_equal(staff_set_role(f->db, &AUDIT_SYSTEM, ann, "billing", &err), LUMI_ECONFLICT);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM users WHERE role = 'admin' AND "
                                         "status = 'active'"),
                     1);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                         "'STAFF_ROLE_CHANGED'"),
                     3);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                         "'STAFF_DISABLED'"),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migration_16_makes_old_staff_admins, setup, teardown),
        cmocka_unit_test_setup_teardown(one_active_admin_always_remains, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
