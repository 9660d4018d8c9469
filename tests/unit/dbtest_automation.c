/*
 * dbtest_automation.c — the automation pass: renewal invoices created once
 * for the right period, amount and due date; overdue suspension queued only
 * past the grace days and only for unpaid invoices; termination only for
 * overdue suspensions that lasted long enough; a dry run that writes nothing
 * and prints the plan; a broken service that does not stop the others.
 * Rows are built directly with SQL. Runs on SQLite and PostgreSQL.
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
#include "core/config.h"
#include "core/crypto.h"
#include "core/utc.h"
#include "core/stop.h"
#include "provisioning/automation.h"
#include "support/testdb.h"

#define DAY 86400

struct fixture {
    char *url;
    struct db *db;
    int64_t client, product, server;
    int next_key;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static void iso(int64_t t, char out[UTC_ISO_LEN])
{
    assert_int_equal(utc_format(t, out), 0);
}

static int64_t at(const char *s)
{
    int64_t t = 0;
    struct lumi_err err;
    if (utc_parse(s, &t, &err) != 0)
        fail_msg("%s: %s", s, err.msg);
    return t;
}

/* A client, a Pterodactyl server and a monthly product. */
static void seed(struct fixture *f)
{
    f->client = testdb_add_client(f->db, "client@example.com");
    testdb_exec(f->db, "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES "
                       "('games', 'pterodactyl', 'https://panel.test', '2026-01-01T00:00:00Z', "
                       "'2026-01-01T00:00:00Z')");
    f->server = testdb_int64(f->db, "SELECT id FROM servers");
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('Game S', 'game_server', %" PRId64
             ", 1500, 'usd', 'monthly', 'order', '2026-01-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z')",
             f->server);
    testdb_exec(f->db, sql);
    f->product = testdb_int64(f->db, "SELECT id FROM products");
}

/* A service; amount 0, currency NULL and updated_at NULL take the usual values. */
struct svc {
    const char *status, *reason, *cycle, *next_due; /* reason, next_due: NULL for none */
    int64_t amount;
    const char *currency, *updated_at;
};

static int64_t add_service_ex(struct fixture *f, struct svc s)
{
    char sql[1024], key[32], reason[48], due[48];
    snprintf(key, sizeof key, "lumi-test-%d", ++f->next_key);
    snprintf(reason, sizeof reason, s.reason ? "'%s'" : "NULL", s.reason ? s.reason : "");
    snprintf(due, sizeof due, s.next_due ? "'%s'" : "NULL", s.next_due ? s.next_due : "");
    snprintf(sql, sizeof sql,
             "INSERT INTO services (client_id, product_id, server_id, status, suspend_reason, "
             "remote_key, external_id, billing_cycle, recurring_amount, currency, next_due_date, "
             "created_at, updated_at) VALUES (%" PRId64 ", %" PRId64 ", %" PRId64
             ", '%s', %s, '%s', '%d', '%s', %" PRId64 ", '%s', %s, '2026-01-01T00:00:00Z', '%s')",
             f->client, f->product, f->server, s.status, reason, key, f->next_key,
             s.cycle ? s.cycle : "monthly", s.amount ? s.amount : 1500,
             s.currency ? s.currency : "usd", due,
             s.updated_at ? s.updated_at : "2026-01-01T00:00:00Z");
    testdb_exec(f->db, sql);
    return testdb_int64f(f->db, "SELECT id FROM services WHERE remote_key = '%s'", key);
}

static int64_t add_service(struct fixture *f, const char *status, const char *reason,
                           const char *cycle, const char *next_due)
{
    return add_service_ex(
        f, (struct svc){.status = status, .reason = reason, .cycle = cycle, .next_due = next_due});
}

/* An invoice of one recurring item for service_id. */
static int64_t add_invoice(struct fixture *f, const char *number, const char *status,
                           const char *due, int64_t service_id)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO invoices (number, client_id, status, currency, subtotal, total, "
             "amount_paid, due_date, created_at, updated_at) VALUES ('%s', %" PRId64
             ", '%s', 'usd', 1500, 1500, %d, '%s', '2026-01-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z')",
             number, f->client, status, strcmp(status, "paid") == 0 ? 1500 : 0, due);
    testdb_exec(f->db, sql);
    int64_t id = testdb_int64f(f->db, "SELECT id FROM invoices WHERE number = '%s'", number);
    snprintf(sql, sizeof sql,
             "INSERT INTO invoice_items (invoice_id, service_id, kind, description, quantity, "
             "unit_amount, amount) VALUES (%" PRId64 ", %" PRId64
             ", 'recurring', 'Game S', 1, 1500, 1500)",
             id, service_id);
    testdb_exec(f->db, sql);
    return id;
}

static void set_setting(struct db *db, const char *key, const char *value)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO settings (key, value, updated_at) VALUES ('%s', '%s', "
             "'2026-01-01T00:00:00Z') ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             key, value);
    testdb_exec(db, sql);
}

/* What the executor writes when a suspension is confirmed (its time is now). */
static void audit_suspended(struct db *db, int64_t service_id)
{
    struct lumi_err err;
    assert_int_equal(db_begin(db, &err), 0);
    if (audit_append_id(db, &AUDIT_SYSTEM, "SERVICE_SUSPENDED", "service", service_id, NULL,
                        &err) != 0)
        fail_msg("audit: %s", err.msg);
    assert_int_equal(db_commit(db, &err), 0);
}

/* Runs a pass; the plan text is returned (caller frees). */
static char *run(struct db *db, int64_t now, bool dry, struct automation_report *rep)
{
    char *text = NULL;
    size_t len = 0;
    FILE *plan = open_memstream(&text, &len);
    assert_non_null(plan);
    struct lumi_err err;
    int rc = automation_run(db, now, dry, plan, rep, &err);
    fclose(plan);
    if (rc != 0)
        fail_msg("automation_run: %s", err.msg);
    return text;
}

static void contains(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void contains(const char *text, const char *fmt, ...)
{
    char want[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    if (strstr(text, want) == NULL)
        fail_msg("plan lacks \"%s\"; plan:\n%s", want, text);
}

/* --- renewals ---------------------------------------------------------------- */

static void renewal_invoice_created_once_for_the_next_period(void **state)
{
    struct fixture *f = *state;
    seed(f);
    int64_t s1 = add_service(f, "active", NULL, "monthly", "2026-12-01T00:00:00Z");
    int64_t s2 = add_service_ex(f, (struct svc){.status = "suspended",
                                                .reason = "overdue",
                                                .cycle = "quarterly",
                                                .next_due = "2026-11-30T00:00:00Z",
                                                .amount = 4000});
    int64_t s3 = add_service(f, "active", NULL, "monthly", "2026-12-10T00:00:00Z");
    int64_t s4 = add_service(f, "active", NULL, "onetime", "2026-12-01T00:00:00Z");
    int64_t s5 = add_service(f, "terminated", NULL, "monthly", "2026-12-01T00:00:00Z");
    int64_t s6 = add_service(f, "pending", NULL, "monthly", "2026-12-01T00:00:00Z");
    int64_t now = at("2026-11-25T00:00:00Z");

    struct automation_report rep;
    char *plan = run(f->db, now, false, &rep);
    assert_int_equal(rep.invoices_created, 2);
    assert_int_equal(rep.errors, 0);
    assert_int_equal(rep.suspensions_queued, 0);
    assert_int_equal(rep.terminations_queued, 0);
    contains(plan,
             "created renewal invoice INV-000001 for service %" PRId64
             " (period 2026-12-01 to 2027-01-01, 1500 usd)",
             s1);
    /* Nov 30 + 3 months: clamped to the end of February. */
    contains(plan,
             "created renewal invoice INV-000002 for service %" PRId64
             " (period 2026-11-30 to 2027-02-28, 4000 usd)",
             s2);
    free(plan);

    assert_true(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM invoice_items ii JOIN invoices i ON i.id = "
                      "ii.invoice_id WHERE ii.service_id = %" PRId64
                      " AND ii.kind = 'recurring' AND ii.quantity = 1 AND ii.unit_amount = 1500 "
                      "AND ii.amount = 1500 AND ii.period_start = '2026-12-01T00:00:00Z' AND "
                      "ii.period_end = '2027-01-01T00:00:00Z' AND i.due_date = "
                      "'2026-12-01T00:00:00Z' AND i.total = 1500 AND i.currency = 'usd' AND "
                      "i.status = 'unpaid' AND i.client_id = %" PRId64,
                      s1, f->client) == 1);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM invoice_items WHERE service_id = %" PRId64
                              " AND period_end = '2027-02-28T00:00:00Z' AND amount = 4000",
                              s2) == 1);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM invoice_items WHERE service_id IN (%" PRId64
                              ", %" PRId64 ", %" PRId64 ", %" PRId64 ")",
                              s3, s4, s5, s6) == 0);
    assert_true(testdb_int64(
                    f->db, "SELECT COUNT(*) FROM audit_log WHERE action = 'INVOICE_CREATED'") == 2);

    assert_int_equal(rep.renewals_examined, 2);
    /* Idempotent: a second pass creates nothing, and does not even look at
     * the services renewed already (they are no candidates). */
    plan = run(f->db, now, false, &rep);
    assert_int_equal(rep.invoices_created, 0);
    assert_int_equal(rep.renewals_examined, 0);
    assert_int_equal(rep.errors, 0);
    assert_string_equal(plan, "");
    free(plan);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM invoices") == 2);

    /* A longer lead time reaches the service due on the 10th. */
    set_setting(f->db, "automation.renew_days_before", "20");
    free(run(f->db, now, false, &rep));
    assert_int_equal(rep.invoices_created, 1);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM invoice_items WHERE service_id = %" PRId64,
                              s3) == 1);

    /* A malformed or out-of-range setting stops the pass with a message naming it. */
    const char *bad[] = {"abc", "400", "-1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        set_setting(f->db, "automation.renew_days_before", bad[i]);
        struct lumi_err err;
        assert_true(automation_run(f->db, now, false, NULL, &rep, &err) == LUMI_EINVAL);
        assert_non_null(strstr(err.msg, "automation.renew_days_before"));
    }
    set_setting(f->db, "automation.renew_days_before", "7");
    set_setting(f->db, "automation.terminate_days_after_suspend", "0");
    struct lumi_err err;
    assert_true(automation_run(f->db, now, false, NULL, &rep, &err) == LUMI_EINVAL);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM invoices") == 3);
}

/* A next_due_date stored in another form than Lumi's own ("…+00:00"): its
 * renewal's period starts at the normal form, and a later pass finds that
 * renewal under either form, so the service is renewed once. */
static void a_due_date_in_another_form_is_renewed_once(void **state)
{
    struct fixture *f = *state;
    seed(f);
    int64_t s1 = add_service(f, "active", NULL, "monthly", "2026-12-01T00:00:00+00:00");
    int64_t now = at("2026-11-25T00:00:00Z");
    struct automation_report rep;
    free(run(f->db, now, false, &rep));
    assert_int_equal(rep.invoices_created, 1);
    assert_int_equal(rep.errors, 0);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM invoice_items WHERE service_id = %" PRId64
                              " AND period_start = '2026-12-01T00:00:00Z'",
                              s1) == 1);
    free(run(f->db, now, false, &rep));
    assert_int_equal(rep.renewals_examined, 1); /* a candidate still: the stored form differs */
    assert_int_equal(rep.invoices_created, 0);
    assert_int_equal(rep.errors, 0);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM invoices") == 1);
}

/* --- suspension -------------------------------------------------------------- */

static void overdue_suspension_only_past_grace_and_only_unpaid(void **state)
{
    struct fixture *f = *state;
    seed(f);
    const char *far = "2027-06-01T00:00:00Z";
    int64_t a = add_service(f, "active", NULL, "monthly", far);
    int64_t b = add_service(f, "active", NULL, "monthly", far);
    int64_t c = add_service(f, "active", NULL, "monthly", far);
    int64_t d = add_service(f, "active", NULL, "monthly", far);
    int64_t e = add_service(f, "suspended", "manual", "monthly", far);
    int64_t g = add_service(f, "active", NULL, "monthly", far);
    add_invoice(f, "TST-A", "unpaid", "2026-11-20T00:00:00Z", a);
    add_invoice(f, "TST-B", "unpaid", "2026-11-23T00:00:00Z", b); /* within the 3 days */
    add_invoice(f, "TST-C", "paid", "2026-11-01T00:00:00Z", c);
    add_invoice(f, "TST-D", "partially_paid", "2026-11-10T00:00:00Z", d);
    add_invoice(f, "TST-E", "unpaid", "2026-11-01T00:00:00Z", e);
    add_invoice(f, "TST-G", "cancelled", "2026-11-01T00:00:00Z", g);
    int64_t now = at("2026-11-24T12:00:00Z");

    struct automation_report rep;
    char *plan = run(f->db, now, false, &rep);
    assert_int_equal(rep.suspensions_queued, 2);
    assert_int_equal(rep.errors, 0);
    assert_int_equal(rep.invoices_created, 0);
    contains(plan,
             "queued suspension of service %" PRId64
             " (invoice TST-A overdue since 2026-11-20; job ",
             a);
    contains(plan,
             "queued suspension of service %" PRId64
             " (invoice TST-D overdue since 2026-11-10; job ",
             d);
    free(plan);
    assert_true(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM jobs WHERE action = 'suspend' AND status = 'queued' "
                      "AND args LIKE '%%\"reason\":\"overdue\"%%' AND service_id IN (%" PRId64
                      ", %" PRId64 ")",
                      a, d) == 2);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs") == 2);
    assert_true(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM audit_log WHERE action = 'AUTOMATION_SUSPEND_QUEUED' "
                      "AND entity = 'service' AND entity_id = '%" PRId64 "'",
                      a) == 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                    "'AUTOMATION_SUSPEND_QUEUED'") == 2);
    /* The service's status changes only when the panel confirms (the job's business). */
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM services WHERE id = %" PRId64
                              " AND status = 'active'",
                              a) == 1);

    /* Again: the open jobs are not queued twice, nothing new is audited. */
    plan = run(f->db, now, false, &rep);
    assert_int_equal(rep.suspensions_queued, 0);
    assert_string_equal(plan, "");
    free(plan);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs") == 2);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log") == 2);

    /* Two days later B's grace is over too. A's job failed meanwhile: left for an admin. */
    char sql[256];
    snprintf(
        sql, sizeof sql,
        "UPDATE jobs SET status = 'failed', last_error = 'panel down' WHERE service_id = %" PRId64,
        a);
    testdb_exec(f->db, sql);
    plan = run(f->db, now + 2 * DAY, false, &rep);
    assert_int_equal(rep.suspensions_queued, 1);
    contains(plan, "queued suspension of service %" PRId64 " (invoice TST-B", b);
    free(plan);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64, a) ==
                1);

    /* A longer grace setting is honoured. */
    set_setting(f->db, "automation.suspend_days_after_due", "30");
    int64_t h = add_service(f, "active", NULL, "monthly", far);
    add_invoice(f, "TST-H", "unpaid", "2026-11-01T00:00:00Z", h);
    free(run(f->db, now, false, &rep));
    assert_int_equal(rep.suspensions_queued, 0);
    free(run(f->db, at("2026-12-01T00:00:01Z"), false, &rep));
    assert_int_equal(rep.suspensions_queued, 1);
}

/* --- termination ------------------------------------------------------------- */

static void termination_only_after_long_overdue_suspension(void **state)
{
    struct fixture *f = *state;
    seed(f);
    int64_t real = utc_now();
    char far[UTC_ISO_LEN], long_ago[UTC_ISO_LEN], due[UTC_ISO_LEN], sql[256];
    iso(real + 400 * DAY, far);
    iso(real - 60 * DAY, long_ago);
    iso(real - 70 * DAY, due);
    /* Suspended now (audit row), for overdue, abuse and by an admin. */
    int64_t t1 = add_service(f, "suspended", "overdue", "monthly", far);
    int64_t t2 = add_service(f, "suspended", "abuse", "monthly", far);
    int64_t t3 = add_service(f, "suspended", "manual", "monthly", far);
    /* Long ago by updated_at (no audit row): overdue; paid since; unsuspension under way. */
    int64_t t4 = add_service_ex(f, (struct svc){.status = "suspended",
                                                .reason = "overdue",
                                                .cycle = "monthly",
                                                .next_due = far,
                                                .updated_at = long_ago});
    int64_t t5 = add_service_ex(f, (struct svc){.status = "suspended",
                                                .reason = "overdue",
                                                .cycle = "monthly",
                                                .next_due = far,
                                                .updated_at = long_ago});
    int64_t t6 = add_service_ex(f, (struct svc){.status = "suspended",
                                                .reason = "overdue",
                                                .cycle = "monthly",
                                                .next_due = far,
                                                .updated_at = long_ago});
    add_invoice(f, "TST-1", "unpaid", due, t1);
    add_invoice(f, "TST-2", "unpaid", due, t2);
    add_invoice(f, "TST-3", "unpaid", due, t3);
    add_invoice(f, "TST-4", "partially_paid", due, t4);
    add_invoice(f, "TST-5", "paid", due, t5);
    add_invoice(f, "TST-6", "unpaid", due, t6);
    audit_suspended(f->db, t1);
    audit_suspended(f->db, t2);
    audit_suspended(f->db, t3);
    snprintf(sql, sizeof sql,
             "INSERT INTO jobs (service_id, action, status, max_attempts, run_at, created_at, "
             "updated_at) VALUES (%" PRId64 ", 'unsuspend', 'queued', 8, '%s', '%s', '%s')",
             t6, long_ago, long_ago, long_ago);
    testdb_exec(f->db, sql);

    struct automation_report rep;
    char *plan = run(f->db, real + 29 * DAY, false, &rep);
    assert_int_equal(rep.terminations_queued, 1);
    assert_int_equal(rep.errors, 0);
    contains(plan, "queued termination of service %" PRId64 " (suspended for overdue since ", t4);
    free(plan);

    plan = run(f->db, real + 31 * DAY, false, &rep);
    assert_int_equal(rep.terminations_queued, 1);
    assert_int_equal(rep.suspensions_queued, 0);
    assert_int_equal(rep.invoices_created, 0);
    contains(plan, "queued termination of service %" PRId64, t1);
    free(plan);

    plan = run(f->db, real + 90 * DAY, false, &rep);
    assert_int_equal(rep.terminations_queued, 0);
    free(plan);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM jobs WHERE action = 'terminate'") == 2);
    assert_true(
        testdb_int64f(
            f->db,
            "SELECT COUNT(*) FROM jobs WHERE action = 'terminate' AND service_id IN (%" PRId64
            ", %" PRId64 ")",
            t1, t4) == 2);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                    "'AUTOMATION_TERMINATE_QUEUED'") == 2);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM jobs WHERE service_id IN (%" PRId64 ", %" PRId64
                              ", %" PRId64 ") AND action = 'terminate'",
                              t2, t3, t5) == 0);
}

/* --- dry run ----------------------------------------------------------------- */

static void snapshot(struct db *db, int64_t out[8])
{
    out[0] = testdb_int64(db, "SELECT COUNT(*) FROM services");
    out[1] = testdb_int64(db, "SELECT COUNT(*) FROM invoices");
    out[2] = testdb_int64(db, "SELECT COUNT(*) FROM invoice_items");
    out[3] = testdb_int64(db, "SELECT COUNT(*) FROM jobs");
    out[4] = testdb_int64(db, "SELECT COUNT(*) FROM audit_log");
    out[5] = testdb_int64(db, "SELECT COUNT(*) FROM settings");
    out[6] = testdb_int64(db, "SELECT COUNT(*) FROM services WHERE status = 'active'");
    out[7] =
        testdb_int64(db, "SELECT COUNT(*) FROM services WHERE updated_at > '2026-01-01T00:00:00Z'");
}

static void dry_run_changes_nothing_and_prints_the_plan(void **state)
{
    struct fixture *f = *state;
    seed(f);
    const char *far = "2027-06-01T00:00:00Z";
    int64_t r = add_service(f, "active", NULL, "monthly", "2026-12-01T00:00:00Z");
    int64_t s = add_service(f, "active", NULL, "monthly", far);
    int64_t t = add_service_ex(f, (struct svc){.status = "suspended",
                                               .reason = "overdue",
                                               .cycle = "monthly",
                                               .next_due = far,
                                               .updated_at = "2026-10-01T00:00:00Z"});
    add_invoice(f, "TST-S", "unpaid", "2026-11-20T00:00:00Z", s);
    add_invoice(f, "TST-T", "unpaid", "2026-09-25T00:00:00Z", t);
    audit_suspended(f->db, 999); /* some history, so the audit count is not trivially 0 */
    int64_t now = at("2026-11-25T00:00:00Z");

    int64_t before[8], after[8];
    snapshot(f->db, before);
    struct automation_report rep;
    char *plan = run(f->db, now, true, &rep);
    snapshot(f->db, after);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(rep.invoices_created, 1);
    assert_int_equal(rep.suspensions_queued, 1);
    assert_int_equal(rep.terminations_queued, 1);
    assert_int_equal(rep.errors, 0);
    contains(plan,
             "would create renewal invoice for service %" PRId64
             " (period 2026-12-01 to 2027-01-01, 1500 usd)\n",
             r);
    contains(plan, "would suspend service %" PRId64 " (invoice TST-S overdue since 2026-11-20)\n",
             s);
    contains(plan, "would terminate service %" PRId64 " (suspended for overdue since 2026-10-01)\n",
             t);
    free(plan);

    /* The same pass for real does exactly what was planned. */
    plan = run(f->db, now, false, &rep);
    assert_int_equal(rep.invoices_created, 1);
    assert_int_equal(rep.suspensions_queued, 1);
    assert_int_equal(rep.terminations_queued, 1);
    contains(plan, "created renewal invoice INV-000001 for service %" PRId64, r);
    contains(plan, "queued suspension of service %" PRId64, s);
    contains(plan, "queued termination of service %" PRId64, t);
    free(plan);
    snapshot(f->db, after);
    assert_true(after[1] == before[1] + 1);
    assert_true(after[3] == before[3] + 2);
    assert_true(after[4] == before[4] + 3); /* INVOICE_CREATED + two AUTOMATION_* */
}

/* --- failures ---------------------------------------------------------------- */

static void broken_service_does_not_stop_the_others(void **state)
{
    struct fixture *f = *state;
    seed(f);
    const char *due = "2026-12-01T00:00:00Z";
    int64_t bad_currency = add_service_ex(f, (struct svc){.status = "active",
                                                          .cycle = "monthly",
                                                          .next_due = due,
                                                          .amount = 1500,
                                                          .currency = "xyz"});
    int64_t bad_cycle = add_service(f, "active", NULL, "weekly", due);
    int64_t good = add_service(f, "active", NULL, "monthly", due);
    int64_t late = add_service(f, "active", NULL, "monthly", "2027-06-01T00:00:00Z");
    add_invoice(f, "TST-L", "unpaid", "2026-11-01T00:00:00Z", late);
    int64_t now = at("2026-11-25T00:00:00Z");

    struct automation_report rep;
    char *plan = run(f->db, now, false, &rep);
    assert_int_equal(rep.errors, 2);
    assert_int_equal(rep.invoices_created, 1);
    assert_int_equal(rep.suspensions_queued, 1);
    contains(plan, "created renewal invoice INV-000001 for service %" PRId64, good);
    free(plan);
    assert_true(testdb_int64f(f->db,
                              "SELECT COUNT(*) FROM invoice_items WHERE service_id IN (%" PRId64
                              ", %" PRId64 ")",
                              bad_currency, bad_cycle) == 0);
    assert_true(
        testdb_int64f(f->db, "SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64, late) == 1);

    /* Next pass: the broken ones fail again, the rest is not repeated. */
    plan = run(f->db, now, false, &rep);
    assert_int_equal(rep.errors, 2);
    assert_int_equal(rep.invoices_created, 0);
    assert_int_equal(rep.suspensions_queued, 0);
    free(plan);
    /* A dry run counts the same errors and still writes nothing. */
    plan = run(f->db, now, true, &rep);
    assert_int_equal(rep.errors, 2);
    free(plan);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM invoices") == 2);
}

/* A pass asked to stop (a shutdown) ends between two groups with what it did
 * committed; the next pass does the rest. */
static void a_stopped_pass_ends_early_and_the_next_goes_on(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct automation_report rep;
    struct stop_flag stop;
    seed(f);
    for (int i = 0; i < 3; i++)
        add_service(f, "active", NULL, "monthly", "2026-12-01T00:00:00Z");
    int64_t now = at("2026-11-25T00:00:00Z");
    stop_init(&stop);
    stop_raise(&stop);
    assert_int_equal(automation_run_until(f->db, now, false, NULL, &rep, &stop, &err), 0);
    assert_int_equal(rep.renewals_examined, 0);
    assert_int_equal(rep.invoices_created, 0);
    stop_destroy(&stop);
    assert_int_equal(automation_run_until(f->db, now, false, NULL, &rep, NULL, &err), 0);
    assert_int_equal(rep.invoices_created, 3);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM invoices") == 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(renewal_invoice_created_once_for_the_next_period, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_due_date_in_another_form_is_renewed_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(overdue_suspension_only_past_grace_and_only_unpaid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(termination_only_after_long_overdue_suspension, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dry_run_changes_nothing_and_prints_the_plan, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(broken_service_does_not_stop_the_others, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stopped_pass_ends_early_and_the_next_goes_on, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
