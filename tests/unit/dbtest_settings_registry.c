/*
 * dbtest_settings_registry.c — the settings registry over the storage layer:
 * the typed getters answer the defaults without rows, inside and outside a
 * transaction, and the stored values once written; a key that is not a
 * setting of the asked type is LUMI_EINVAL; a stored text edited into
 * something invalid is named by the getters and the list and can be
 * replaced; an update is all or nothing, audited once with typed old and
 * new values, and refuses to run inside the caller's transaction; the
 * automation pass follows a changed automation.* value.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/utc.h"
#include "provisioning/automation.h"
#include "db/settings.h"
#include "settings/registry.h"
#include "support/testdb.h"

struct fixture {
    char *url;
    struct db *db;
};

static const struct audit_actor ACTOR = {.type = "user", .id = "1", .email = "a@example.com"};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t get_int(struct db *db, const char *key)
{
    int64_t v = -1;
    struct lumi_err err;
    if (settings_reg_int(db, key, &v, &err) != 0)
        fail_msg("settings_reg_int %s: %s", key, err.msg);
    return v;
}

static bool get_bool(struct db *db, const char *key)
{
    bool v = false;
    struct lumi_err err;
    if (settings_reg_bool(db, key, &v, &err) != 0)
        fail_msg("settings_reg_bool %s: %s", key, err.msg);
    return v;
}

static void assert_text(struct db *db, const char *key, const char *want)
{
    char v[256];
    struct lumi_err err;
    if (settings_reg_text(db, key, v, sizeof v, &err) != 0)
        fail_msg("settings_reg_text %s: %s", key, err.msg);
    assert_string_equal(v, want);
}

static void set_raw(struct db *db, const char *key, const char *value)
{
    const char *p[] = {key, value};
    testdb_execp(db,
                 "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, "
                 "'2026-01-01T00:00:00Z') ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 2, p);
}

/* settings_reg_update of the JSON text; answers its return code (err filled). */
static int update(struct db *db, const char *json, struct lumi_err *err)
{
    json_t *in = json_loads(json, 0, NULL);
    assert_non_null(in);
    json_t *out = settings_reg_update(db, &ACTOR, in, err);
    json_decref(in);
    int rc = out != NULL ? 0 : err->code;
    assert_true(out != NULL || rc < 0);
    json_decref(out);
    return rc;
}

static void defaults(struct db *db)
{
    assert_int_equal(get_int(db, "automation.renew_days_before"), 7);
    assert_int_equal(get_int(db, "automation.suspend_days_after_due"), 3);
    assert_int_equal(get_int(db, "automation.terminate_days_after_suspend"), 30);
    assert_int_equal(get_int(db, "mail.reminder_days_before"), 3);
    assert_true(get_bool(db, "mail.send.invoice_created"));
    assert_true(get_bool(db, "mail.send.account_password_reset"));
    assert_text(db, "billing.dispute_action", "suspend");
    assert_text(db, "mail.overdue_notice_days", "1,5");
    assert_text(db, "mail.admin_to", "");
    assert_text(db, "automation.renew_days_before", "7");
    assert_text(db, "mail.send.refund_issued", "1");
}

static void getters_answer_the_defaults_without_rows(void **state)
{
    struct fixture *f = *state;
    defaults(f->db);
    struct lumi_err err;
    assert_int_equal(db_begin(f->db, &err), 0);
    defaults(f->db);
    db_rollback(f->db);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM settings WHERE key LIKE 'mail.%'") == 0);
}

static void keys_of_another_type_or_none_are_einval(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t i;
    bool b;
    char small[3]; /* "1,5" needs 4 */
    assert_int_equal(settings_reg_int(f->db, "automation.nope", &i, &err), LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "automation.nope"));
    assert_int_equal(settings_reg_int(f->db, "mail.send.invoice_created", &i, &err), LUMI_EINVAL);
    assert_int_equal(settings_reg_bool(f->db, "automation.renew_days_before", &b, &err),
                     LUMI_EINVAL);
    assert_int_equal(settings_reg_text(f->db, "installation.id", small, sizeof small, &err),
                     LUMI_EINVAL);
    assert_int_equal(
        settings_reg_text(f->db, "mail.overdue_notice_days", small, sizeof small, &err),
        LUMI_ETOOLARGE);
    assert_string_equal(small, "");
}

static void stored_values_are_read_in_normal_form_and_bad_ones_named(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    set_raw(f->db, "automation.renew_days_before", "14");
    set_raw(f->db, "mail.send.service_ready", "0");
    set_raw(f->db, "mail.overdue_notice_days", " 9, 2");
    set_raw(f->db, "mail.admin_to", "a@example.com,b@example.org");
    assert_int_equal(get_int(f->db, "automation.renew_days_before"), 14);
    assert_false(get_bool(f->db, "mail.send.service_ready"));
    assert_text(f->db, "mail.overdue_notice_days", "2,9");
    assert_text(f->db, "mail.admin_to", "a@example.com, b@example.org");

    /* Edited by hand into something invalid: every reader names the key. */
    set_raw(f->db, "mail.send.service_ready", "yes");
    bool b;
    assert_int_equal(settings_reg_bool(f->db, "mail.send.service_ready", &b, &err), LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "mail.send.service_ready"));
    json_t *all = settings_reg_list(f->db, &err);
    assert_non_null(all);
    size_t n = json_array_size(json_object_get(all, "data"));
    assert_int_equal(n, 34); /* with the store's two (issue 13); tax.eu_reverse_charge,
                                credit.auto_apply, company.*, *.number_format and
                                invoice.footer (issue 14) */
    json_t *row = NULL, *r;
    size_t i;
    json_array_foreach(json_object_get(all, "data"), i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "key")), "mail.send.service_ready") == 0)
            row = r;
    }
    assert_non_null(row);
    assert_string_equal(json_string_value(json_object_get(row, "value")), "yes");
    assert_non_null(json_string_value(json_object_get(row, "error")));
    json_decref(all);

    /* An update replaces it; the audit row keeps what was there. */
    assert_int_equal(update(f->db, "{\"mail.send.service_ready\": true}", &err), 0);
    assert_true(get_bool(f->db, "mail.send.service_ready"));
    json_t *rows = audit_query(f->db, &(struct audit_filter){.action = "SETTINGS_UPDATED"}, 10,
                               &(int64_t){0}, &err);
    assert_int_equal(json_array_size(rows), 1);
    json_t *c = json_object_get(
        json_object_get(json_object_get(json_array_get(rows, 0), "details"), "changes"),
        "mail.send.service_ready");
    assert_string_equal(json_string_value(json_object_get(c, "old")), "yes");
    assert_true(json_is_true(json_object_get(c, "new")));
    json_decref(rows);
}

static void update_is_all_or_nothing_and_audited_once(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    assert_int_equal(update(f->db,
                            "{\"automation.suspend_days_after_due\": 5,"
                            " \"mail.admin_to\": \"x@example.com\","
                            " \"mail.reminder_days_before\": 61}",
                            &err),
                     LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "mail.reminder_days_before: expected an integer from 0 to 60, "
                                    "got 61"));
    assert_null(strstr(err.msg, "automation.suspend_days_after_due"));
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM settings WHERE key LIKE 'a%' OR key "
                                    "LIKE 'm%'") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log") == 0);

    /* Every bad key is named, unknown ones too. */
    assert_int_equal(update(f->db, "{\"x.y\": 1, \"mail.send.refund_issued\": 0}", &err),
                     LUMI_EINVAL);
    assert_non_null(strstr(err.msg, "x.y: no such setting"));
    assert_non_null(strstr(err.msg, "mail.send.refund_issued: expected true or false, got 0"));

    assert_int_equal(update(f->db,
                            "{\"automation.suspend_days_after_due\": 5,"
                            " \"mail.admin_to\": \"x@example.com\","
                            " \"mail.reminder_days_before\": 3}",
                            &err),
                     0);
    assert_int_equal(get_int(f->db, "automation.suspend_days_after_due"), 5);
    assert_text(f->db, "mail.admin_to", "x@example.com");
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM settings WHERE key = "
                                    "'mail.reminder_days_before'") == 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                    "'SETTINGS_UPDATED' AND entity = 'settings' AND actor_id = "
                                    "'1'") == 1);

    /* The same again: nothing to write, no audit row. */
    assert_int_equal(update(f->db, "{\"automation.suspend_days_after_due\": 5}", &err), 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log") == 1);

    /* The caller's transaction is not the registry's to commit. */
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(update(f->db, "{\"automation.suspend_days_after_due\": 6}", &err),
                     LUMI_EINTERNAL);
    db_rollback(f->db);
    assert_int_equal(get_int(f->db, "automation.suspend_days_after_due"), 5);
    struct audit_verify_result v;
    assert_int_equal(audit_verify(f->db, &v, &err), 0);
    assert_true(v.broken_id == 0);
}

/* A client, a server, a monthly product and an active service due at next_due. */
static void seed_service(struct db *db, const char *next_due)
{
    int64_t client = testdb_add_client(db, "renew@example.com");
    testdb_exec(db, "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES "
                    "('games', 'pterodactyl', 'https://panel.test', '2026-01-01T00:00:00Z', "
                    "'2026-01-01T00:00:00Z')");
    int64_t server = testdb_int64(db, "SELECT id FROM servers");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('Game S', 'game_server', %" PRId64
             ", 1500, 'usd', 'monthly', 'order', '2026-01-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z')",
             server);
    testdb_exec(db, sql);
    int64_t product = testdb_int64(db, "SELECT id FROM products");
    snprintf(sql, sizeof sql,
             "INSERT INTO services (client_id, product_id, server_id, status, remote_key, "
             "external_id, billing_cycle, recurring_amount, currency, next_due_date, created_at, "
             "updated_at) VALUES (%" PRId64 ", %" PRId64 ", %" PRId64
             ", 'active', 'lumi-test-1', '1', 'monthly', 1500, 'usd', '%s', "
             "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             client, product, server, next_due);
    testdb_exec(db, sql);
}

static void automation_follows_a_changed_renewal_setting(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct automation_report rep;
    int64_t now = 0;
    assert_int_equal(utc_parse("2026-11-20T00:00:00Z", &now, &err), 0);
    seed_service(f->db, "2026-12-01T00:00:00Z"); /* 11 days ahead: past the default 7 */
    assert_int_equal(automation_run(f->db, now, false, NULL, &rep, &err), 0);
    assert_int_equal(rep.invoices_created, 0);
    assert_int_equal(update(f->db, "{\"automation.renew_days_before\": 14}", &err), 0);
    assert_int_equal(automation_run(f->db, now, false, NULL, &rep, &err), 0);
    assert_int_equal(rep.invoices_created, 1);
    assert_int_equal(rep.errors, 0);
}

/*
 * Inside a transaction a setting is read once (db/settings.c: a delivery or a
 * renewal asks for the same keys dozens of times in one group): a change
 * written by SQL in the same transaction is seen once the writer calls
 * settings_forget, as every writer of the table does; another connection's
 * change from the next transaction on; outside a transaction at once.
 */
static void a_transaction_reads_a_setting_once(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    const char *key = "automation.renew_days_before";
    struct db *other = db_open(f->url, &err);
    if (other == NULL)
        fail_msg("db_open: %s", err.msg);

    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(get_int(f->db, key), 7);
    set_raw(f->db, key, "9");
    assert_int_equal(get_int(f->db, key), 7); /* kept from the first read */
    settings_forget();
    assert_int_equal(get_int(f->db, key), 9);
    assert_int_equal(db_commit(f->db, &err), 0);

    if (db_kind(f->db) == DB_POSTGRES) { /* SQLite's writer excludes the other one */
        assert_int_equal(db_begin(f->db, &err), 0);
        assert_int_equal(get_int(f->db, key), 9);
        set_raw(other, key, "11");
        assert_int_equal(get_int(f->db, key), 9); /* one value for the whole transaction */
        assert_int_equal(db_commit(f->db, &err), 0);
        assert_int_equal(get_int(f->db, key), 11);
    }
    set_raw(other, key, "13");
    assert_int_equal(get_int(f->db, key), 13); /* outside a transaction: read every time */
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(get_int(f->db, key), 13); /* a new transaction reads afresh */
    assert_int_equal(db_commit(f->db, &err), 0);
    db_close(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(getters_answer_the_defaults_without_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(keys_of_another_type_or_none_are_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(stored_values_are_read_in_normal_form_and_bad_ones_named,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(update_is_all_or_nothing_and_audited_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_transaction_reads_a_setting_once, setup, teardown),
        cmocka_unit_test_setup_teardown(automation_follows_a_changed_renewal_setting, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
