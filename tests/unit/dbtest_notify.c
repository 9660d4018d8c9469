/*
 * dbtest_notify.c — who hears what, and exactly once: the audit trail's
 * mail consumer (notify_pump) queues each message type for the right
 * recipient with the right values, once however often it runs; a rolled-back
 * payment queues nothing; switched-off types and a missing admin list queue
 * nothing; the dated notices (reminder, overdue after 1 and 5 days) are
 * queued once however often the pass runs; the outbox's claim, lease,
 * outcomes and resend; LUMI_MAIL_TEMPLATES overrides a built-in template.
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
#include <unistd.h>

#include "audit/audit.h"
#include "billing/invoices.h"
#include "billing/payments.h"
#include "billing/webhooks.h"
#include "core/config.h"
#include "core/str.h"
#include "core/utc.h"
#include "mail/outbox.h"
#include "mail/sender.h"
#include "notify/notify.h"
#include "support/testdb.h"

#define DAY 86400

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

struct fixture {
    char *url;
    struct db *db;
    int64_t client, product, server;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    setenv("LUMI_BASE_URL", "https://billing.example.com", 1);
    setenv("SMTP_FROM", "Acme Hosting <billing@acme.example>", 1);
    unsetenv("LUMI_MAIL_TEMPLATES");
    /* A server that is configured but never reached here: messages are queued, not
     * born skipped. */
    setenv("SMTP_HOST", "127.0.0.1", 1);
    setenv("SMTP_PORT", "1", 1);
    setenv("SMTP_TLS", "none", 1);
    f->db = testdb_start(&f->url);
    f->client = testdb_add_client(f->db, "ada@example.com");
    testdb_exec(f->db, "UPDATE users SET first_name = '<script>alert(1)</script>',"
                       " last_name = 'Lovelace' WHERE email = 'ada@example.com'");
    testdb_exec(f->db, "INSERT INTO servers (name, type, url, created_at, updated_at) VALUES "
                       "('games', 'pterodactyl', 'https://panel.example.net', "
                       "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')");
    f->server = testdb_int64(f->db, "SELECT id FROM servers");
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO products (name, type, server_id, price, currency, billing_cycle, "
             "autosetup, created_at, updated_at) VALUES ('Minecraft 4G', 'game_server', %" PRId64
             ", 1500, 'usd', 'monthly', 'manual', '2026-01-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z')",
             f->server);
    testdb_exec(f->db, sql);
    f->product = testdb_int64(f->db, "SELECT id FROM products");
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static void set_setting(struct fixture *f, const char *key, const char *value)
{
    const char *p[] = {key, value};
    testdb_execp(f->db,
                 "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, "
                 "'2026-01-01T00:00:00Z') ON CONFLICT (key) DO UPDATE SET value = $2",
                 2, p);
}

/* An invoice of 15.00 usd due at `due`, made at `made` (both set by SQL after the fact). */
static int64_t add_invoice_at(struct fixture *f, int64_t due, int64_t made)
{
    struct lumi_err err;
    int64_t id = 0;
    char d[UTC_ISO_LEN], m[UTC_ISO_LEN], ids[24];
    struct invoice_item_in item = {
        .description = "Minecraft 4G «monthly»", .quantity = 1, .unit_amount = 1500,
        .kind = "other"};
    utc_format(due, d);
    utc_format(made, m);
    assert_int_equal(db_begin(f->db, &err), 0);
    if (invoices_create(f->db, &ACTOR, f->client, "usd", d, &item, 1, &id, &err) != 0)
        fail_msg("invoices_create: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    snprintf(ids, sizeof ids, "%" PRId64, id);
    const char *p[] = {m, ids};
    testdb_execp(f->db, "UPDATE invoices SET created_at = $1 WHERE id = CAST($2 AS BIGINT)", 2, p);
    return id;
}

static int64_t add_invoice(struct fixture *f)
{
    return add_invoice_at(f, utc_now() + 7 * DAY, utc_now());
}

static int64_t add_service(struct fixture *f)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO services (client_id, product_id, server_id, status, remote_key, "
             "external_id, username, domain, billing_cycle, recurring_amount, currency, "
             "next_due_date, created_at, updated_at) VALUES (%" PRId64 ", %" PRId64 ", %" PRId64
             ", 'active', 'lumi-test-1', '7', 'ada_mc', 'mc.example.org', 'monthly', 1500, 'usd',"
             " '2026-02-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             f->client, f->product, f->server);
    testdb_exec(f->db, sql);
    return testdb_int64(f->db, "SELECT MAX(id) FROM services");
}

/* Runs the consumer to the end of the trail; answers the messages queued. */
static int pump(struct fixture *f)
{
    struct lumi_err err;
    int total = 0, queued = 0, rows;
    while ((rows = notify_pump(f->db, 3, &queued, &err)) > 0)
        total += queued; /* small batches: the cursor must carry across them */
    if (rows < 0)
        fail_msg("notify_pump: %s", err.msg);
    return total;
}

static int64_t count_of(struct fixture *f, const char *tmpl)
{
    return testdb_int64f(f->db, "SELECT COUNT(*) FROM emails WHERE template = '%s'", tmpl);
}

static const char *s_of_early(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

/* The newest message of tmpl as notify_email_view answers it, whatever it says. */
static json_t *newest_raw(struct fixture *f, const char *tmpl)
{
    struct lumi_err err;
    int64_t id =
        testdb_int64f(f->db, "SELECT COALESCE(MAX(id), 0) FROM emails WHERE template = '%s'", tmpl);
    json_t *m = id > 0 ? notify_email_view(f->db, id, &err) : NULL;
    if (m == NULL)
        fail_msg("no %s message to view", tmpl);
    return m;
}

/* The newest message of tmpl as an admin sees it (rendered as it would be sent), or fails. */
static json_t *newest(struct fixture *f, const char *tmpl)
{
    struct lumi_err err;
    int64_t id =
        testdb_int64f(f->db, "SELECT COALESCE(MAX(id), 0) FROM emails WHERE template = '%s'", tmpl);
    if (id == 0)
        fail_msg("no %s message queued", tmpl);
    json_t *m = notify_email_view(f->db, id, &err);
    if (m == NULL)
        fail_msg("notify_email_view: %s", err.msg);
    if (json_object_get(m, "render_error") != NULL)
        fail_msg("%s does not render: %s", tmpl, s_of_early(m, "render_error"));
    return m;
}

static const char *s_of(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

static void contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("'%s' not found in:\n%s", needle, hay);
}

static void lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL)
        fail_msg("'%s' found in:\n%s", needle, hay);
}

static void apply(struct fixture *f, const char *kind, const char *ref, int64_t amount,
                  int64_t invoice)
{
    struct lumi_err err;
    struct payment_result res;
    struct payment_in p = {.kind = kind, .gateway = "stripe", .gateway_ref = ref,
                           .amount = amount, .currency = "usd", .invoice_id = invoice};
    assert_int_equal(db_begin(f->db, &err), 0);
    if (payments_apply(f->db, &ACTOR, &p, &res, &err) != 0)
        fail_msg("payments_apply: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
}

/* An audit row as a domain module writes it (the consumer's only input). */
static void audit(struct fixture *f, const char *action, const char *entity, int64_t id,
                  json_t *details)
{
    struct lumi_err err;
    assert_int_equal(db_begin(f->db, &err), 0);
    if (audit_append_id(f->db, &AUDIT_SYSTEM, action, entity, id, details, &err) < 0)
        fail_msg("audit_append_id: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
    json_decref(details);
}

/* ---- the consumer ------------------------------------------------------------ */

static void invoice_created_mails_the_client_once_with_escaped_values(void **state)
{
    struct fixture *f = *state;
    int64_t inv = add_invoice(f);
    assert_int_equal(pump(f), 1);
    assert_int_equal(pump(f), 0); /* the cursor moved: nothing twice */
    assert_true(count_of(f, "invoice_created") == 1);
    json_t *m = newest(f, "invoice_created");
    assert_string_equal(s_of(m, "rcpt"), "ada@example.com");
    assert_string_equal(s_of(m, "status"), "queued");
    contains(s_of(m, "to"), "<ada@example.com>");
    lacks(s_of(m, "to"), "<script");
    contains(s_of(m, "subject"), "INV-000001");
    contains(s_of(m, "subject"), "15.00 USD");
    char url[96];
    snprintf(url, sizeof url, "https://billing.example.com/client/invoices/%" PRId64, inv);
    contains(s_of(m, "body_text"), url);
    contains(s_of(m, "body_text"), "Minecraft 4G «monthly»: 15.00 USD");
    contains(s_of(m, "body_html"), url);
    contains(s_of(m, "body_html"), "&lt;script&gt;alert(1)&lt;/script&gt; Lovelace");
    lacks(s_of(m, "body_html"), "<script>");
    contains(s_of(m, "body_html"), "Acme Hosting");
    contains(s_of(m, "message_id"), "@billing.example.com>");
    json_decref(m);
    assert_true(testdb_int64(f->db, "SELECT last_id FROM event_cursors WHERE name = 'mail'") ==
                testdb_int64(f->db, "SELECT MAX(id) FROM audit_log"));
}

static void a_large_batch_queues_every_message_intact(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int queued = 0;
    for (int i = 0; i < 150; i++)
        add_invoice(f);
    assert_int_equal(notify_pump(f->db, 500, &queued, &err), 150);
    assert_int_equal(queued, 150);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM emails WHERE rcpt = 'ada@example.com'"
                                    " AND to_addr LIKE '%<ada@example.com>'"
                                    " AND event_key LIKE 'audit:%'") == 150);
    assert_true(testdb_int64(f->db, "SELECT COUNT(DISTINCT event_key) FROM emails") == 150);
}

static void a_rolled_back_payment_mails_nothing(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct payment_result res;
    int64_t inv = add_invoice(f);
    pump(f);
    struct payment_in p = {.kind = "payment", .gateway = "stripe", .gateway_ref = "ch_rb",
                           .amount = 1500, .currency = "usd", .invoice_id = inv};
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(payments_apply(f->db, &ACTOR, &p, &res, &err), 0);
    db_rollback(f->db);
    assert_int_equal(pump(f), 0);
    assert_true(count_of(f, "payment_receipt") == 0);
    /* the same payment committed is mailed */
    apply(f, "payment", "ch_rb", 1500, inv);
    assert_int_equal(pump(f), 1);
    json_t *m = newest(f, "payment_receipt");
    contains(s_of(m, "subject"), "15.00 USD");
    contains(s_of(m, "body_text"), "ch_rb");
    json_decref(m);
}

static void refunds_and_disputes_reach_client_and_admins(void **state)
{
    struct fixture *f = *state;
    int64_t inv = add_invoice(f);
    apply(f, "payment", "ch_1", 1500, inv);
    pump(f);
    /* no admin list: a dispute mails nobody */
    apply(f, "chargeback", "dp_0", 100, inv);
    pump(f);
    assert_true(count_of(f, "admin_dispute_opened") == 0);
    set_setting(f, "mail.admin_to", "ops@acme.example, boss@acme.example");
    apply(f, "refund", "re_1", 500, inv);
    apply(f, "chargeback", "dp_1", 400, inv);
    apply(f, "chargeback_reversal", "dp_1", 400, inv);
    pump(f);
    assert_true(count_of(f, "refund_issued") == 1);
    json_t *m = newest(f, "refund_issued");
    assert_string_equal(s_of(m, "rcpt"), "ada@example.com");
    contains(s_of(m, "subject"), "5.00 USD");
    json_decref(m);
    /* one per admin, and nothing for the reversal */
    assert_true(count_of(f, "admin_dispute_opened") == 2);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM emails WHERE template = "
                                    "'admin_dispute_opened' AND client_id IS NULL AND rcpt IN "
                                    "('ops@acme.example', 'boss@acme.example')") == 2);
}

static void service_messages_say_what_happened(void **state)
{
    struct fixture *f = *state;
    int64_t svc = add_service(f);
    audit(f, "SERVICE_PROVISIONED", "service", svc, json_pack("{s:s}", "panel", "pterodactyl"));
    audit(f, "SERVICE_SUSPENDED", "service", svc, json_pack("{s:s}", "reason", "overdue"));
    audit(f, "SERVICE_UNSUSPENDED", "service", svc, json_object());
    audit(f, "SERVICE_TERMINATED", "service", svc, json_object());
    assert_int_equal(pump(f), 4);
    json_t *m = newest(f, "service_ready");
    contains(s_of(m, "body_text"), "https://panel.example.net");
    contains(s_of(m, "body_text"), "ada_mc");
    contains(s_of(m, "body_text"), "password is not sent by e-mail");
    contains(s_of(m, "subject"), "Minecraft 4G");
    json_decref(m);
    m = newest(f, "service_suspended");
    contains(s_of(m, "body_text"), "an invoice for this service is overdue");
    contains(s_of(m, "body_text"), "Pay the open invoice");
    json_decref(m);
    assert_true(count_of(f, "service_unsuspended") == 1);
    assert_true(count_of(f, "service_terminated") == 1);
    /* a panel action that failed for good reaches the admins, with the panel's words */
    set_setting(f, "mail.admin_to", "ops@acme.example");
    audit(f, "SERVICE_SUSPEND_FAILED", "service", svc,
          json_pack("{s:s, s:s, s:i}", "error", "panel said: 403 This action is unauthorized",
                    "action", "suspend", "attempt", 1));
    assert_int_equal(pump(f), 1);
    m = newest(f, "admin_job_failed");
    assert_string_equal(s_of(m, "rcpt"), "ops@acme.example");
    contains(s_of(m, "body_text"), "403 This action is unauthorized");
    contains(s_of(m, "body_text"), "https://billing.example.com/admin/services/");
    json_decref(m);
}

static void a_webhook_that_cannot_apply_reaches_the_admins(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct webhook_outcome out;
    set_setting(f, "mail.admin_to", "ops@acme.example");
    const char raw[] =
        "{\"id\":\"evt_nope\",\"type\":\"checkout.session.completed\",\"created\":1700000000,"
        "\"data\":{\"object\":{\"object\":\"checkout.session\",\"id\":\"cs_nope\","
        "\"payment_status\":\"paid\",\"amount_total\":1500,\"currency\":\"usd\","
        "\"payment_intent\":\"pi_nope\",\"metadata\":{\"invoice_id\":\"424242\"}}}}";
    json_t *ev = json_loads(raw, 0, NULL);
    assert_non_null(ev);
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(webhooks_stripe_apply(f->db, &ACTOR, ev, raw, strlen(raw), &out, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    json_decref(ev);
    assert_string_equal(out.status, "failed");
    assert_true(testdb_int64(f->db,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'WEBHOOK_FAILED'") == 1);
    assert_int_equal(pump(f), 1);
    json_t *m = newest(f, "admin_webhook_failed");
    contains(s_of(m, "subject"), "stripe");
    contains(s_of(m, "body_text"), "evt_nope");
    contains(s_of(m, "body_text"), "/admin/webhook-events/");
    json_decref(m);
}

static void switched_off_types_queue_nothing(void **state)
{
    struct fixture *f = *state;
    set_setting(f, "mail.send.invoice_created", "0");
    add_invoice(f);
    assert_int_equal(pump(f), 0);
    set_setting(f, "mail.send.invoice_created", "1");
    add_invoice(f);
    assert_int_equal(pump(f), 1);
}

/* ---- dated notices -------------------------------------------------------------- */

static int reminders(struct fixture *f, int64_t now, bool dry)
{
    struct lumi_err err;
    int n = -1;
    if (notify_reminders(f->db, now, dry, NULL, &n, &err) != 0)
        fail_msg("notify_reminders: %s", err.msg);
    return n;
}

static void reminders_and_overdue_notices_go_out_once(void **state)
{
    struct fixture *f = *state;
    int64_t now = utc_now();
    int64_t soon = add_invoice_at(f, now + 2 * DAY, now - 5 * DAY);   /* reminder */
    int64_t fresh = add_invoice_at(f, now + 2 * DAY, now - 3600);    /* made today: none */
    int64_t late1 = add_invoice_at(f, now - 1 * DAY - 3600, now - 9 * DAY); /* 1 day overdue */
    int64_t late5 = add_invoice_at(f, now - 6 * DAY, now - 20 * DAY);       /* 5 days */
    int64_t ancient = add_invoice_at(f, now - 40 * DAY, now - 60 * DAY);    /* too late */
    (void)fresh;
    (void)ancient;
    pump(f);
    assert_int_equal(reminders(f, now, true), 3); /* a dry run plans, writes nothing */
    assert_true(count_of(f, "invoice_reminder") + count_of(f, "invoice_overdue") == 0);
    assert_int_equal(reminders(f, now, false), 3);
    assert_int_equal(reminders(f, now, false), 0); /* the same day again: nothing new */
    assert_int_equal(reminders(f, now + 3600, false), 0);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM emails WHERE template = "
                                     "'invoice_reminder' AND entity_id = '%" PRId64 "'",
                              soon) == 1);
    assert_true(count_of(f, "invoice_reminder") == 1);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM emails WHERE template = "
                                     "'invoice_overdue' AND entity_id = '%" PRId64 "'",
                              late1) == 1);
    assert_true(testdb_int64f(f->db, "SELECT COUNT(*) FROM emails WHERE template = "
                                     "'invoice_overdue' AND entity_id = '%" PRId64 "'",
                              late5) == 1);
    assert_true(count_of(f, "invoice_overdue") == 2);
    json_t *m = newest(f, "invoice_overdue");
    contains(s_of(m, "body_text"), "overdue");
    json_decref(m);
    /* four days later the 1-day invoice reaches its 5-day notice, and the two due in two
     * days their 1-day notice, each once */
    assert_int_equal(reminders(f, now + 4 * DAY, false), 3);
    assert_int_equal(reminders(f, now + 4 * DAY, false), 0);
    /* a paid invoice is never reminded */
    apply(f, "payment", "ch_soon", 1500, soon);
    testdb_exec(f->db, "DELETE FROM emails WHERE template = 'invoice_reminder'");
    assert_int_equal(reminders(f, now, false), 0);
}

/* ---- the outbox ----------------------------------------------------------------- */

static int64_t enqueue(struct fixture *f, const char *key, const char *to)
{
    struct lumi_err err;
    struct outbox_new n = {.event_key = key, .tmpl = "test", .to = to, .subject = "Hi",
                           .text = "Hello", .html = NULL};
    int rc = outbox_enqueue(f->db, &n, &err);
    if (rc < 0)
        fail_msg("outbox_enqueue: %s", err.msg);
    return rc;
}

static void the_outbox_queues_once_and_leases_claims(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct outbox_msg a, b;
    assert_int_equal(enqueue(f, "k1", "Ada <ADA@example.com>"), 1);
    assert_int_equal(enqueue(f, "k1", "ada@example.com"), 0); /* same event, rcpt, template */
    assert_int_equal(enqueue(f, "k1", "bob@example.com"), 1);
    struct outbox_new bad = {.event_key = "k2", .tmpl = "test", .to = "not an address",
                             .subject = "x", .text = "x"};
    assert_int_equal(outbox_enqueue(f->db, &bad, &err), LUMI_EINVAL);
    int64_t now = utc_now();
    assert_int_equal(outbox_claim(f->db, "w1", now, &a, &err), 1);
    assert_string_equal(a.rcpt, "ada@example.com");
    assert_int_equal(a.attempts, 1);
    /* a dead sender's lease runs out: the next claimer gets the same message, same Message-ID */
    int64_t later = now + config_int("LUMI_JOB_LEASE_S") + 1;
    assert_int_equal(outbox_claim(f->db, "w2", later, &b, &err), 1);
    assert_true(b.id == a.id);
    assert_string_equal(b.message_id, a.message_id);
    assert_int_equal(b.attempts, 2);
    /* the first sender's outcome no longer counts */
    assert_int_equal(outbox_mark_sent(f->db, &a, "250 ok", &err), LUMI_ECONFLICT);
    assert_int_equal(outbox_mark_sent(f->db, &b, "250 2.0.0 queued", &err), 0);
    outbox_msg_clear(&a);
    outbox_msg_clear(&b);
    /* transient failures go back to the queue, then fail for good */
    assert_int_equal(outbox_claim(f->db, "w1", later, &a, &err), 1);
    testdb_exec(f->db, "UPDATE emails SET attempts = max_attempts WHERE rcpt = 'bob@example.com'");
    a.attempts = a.max_attempts;
    assert_int_equal(outbox_mark_retry(f->db, &a, 30, "451 try later", "4.3.0 try later", &err),
                     0);
    outbox_msg_clear(&a);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM emails WHERE status = 'failed' AND "
                                    "last_error LIKE 'gave up after %451 try later'") == 1);
    assert_int_equal(outbox_claim(f->db, "w1", later + 3600, &a, &err), 0);
}

static void resend_requeues_with_the_right_message_id(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct outbox_msg a;
    enqueue(f, "r1", "ada@example.com");
    int64_t id = testdb_int64(f->db, "SELECT id FROM emails");
    json_t *m = outbox_resend(f->db, &ACTOR, id, &err);
    assert_null(m);
    assert_int_equal(err.code, LUMI_ECONFLICT); /* still queued */
    assert_int_equal(outbox_claim(f->db, "w", utc_now(), &a, &err), 1);
    char first[200];
    str_copy(first, a.message_id, sizeof first);
    assert_int_equal(outbox_mark_failed(f->db, &a, "554 no", "5.7.1 no", &err), 0);
    outbox_msg_clear(&a);
    m = outbox_resend(f->db, &ACTOR, id, &err); /* failed: it never arrived, same id */
    assert_non_null(m);
    assert_string_equal(s_of(m, "status"), "queued");
    assert_string_equal(s_of(m, "message_id"), first);
    json_decref(m);
    assert_int_equal(outbox_claim(f->db, "w", utc_now(), &a, &err), 1);
    assert_int_equal(outbox_mark_sent(f->db, &a, "250 ok", &err), 0);
    outbox_msg_clear(&a);
    m = outbox_resend(f->db, &ACTOR, id, &err); /* sent: a deliberate second copy, new id */
    assert_non_null(m);
    assert_true(strcmp(s_of(m, "message_id"), first) != 0);
    json_decref(m);
    assert_true(testdb_int64(f->db,
                             "SELECT COUNT(*) FROM audit_log WHERE action = 'EMAIL_RESENT'") == 2);
    assert_null(outbox_resend(f->db, &ACTOR, 99999, &err));
    assert_int_equal(err.code, LUMI_ENOTFOUND);
}

static void a_template_directory_overrides_the_built_in_one(void **state)
{
    struct fixture *f = *state;
    char dir[] = "/tmp/lumi-mail-tmpl-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/invoice_created.txt", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("Subject: Rechnung {{{invoice.number}}}\n\nHallo {{{client.email}}}\n", fp);
    fclose(fp);
    setenv("LUMI_MAIL_TEMPLATES", dir, 1);
    testdb_config_load();
    add_invoice(f);
    pump(f);
    json_t *m = newest(f, "invoice_created");
    assert_string_equal(s_of(m, "subject"), "Rechnung INV-000001");
    assert_string_equal(s_of(m, "body_text"), "Hallo ada@example.com\n");
    contains(s_of(m, "body_html"), "INV-000001"); /* the HTML part stays the built-in one */
    json_decref(m);
    unlink(path);
    rmdir(dir);
    unsetenv("LUMI_MAIL_TEMPLATES");
    testdb_config_load();
}

static void a_message_that_cannot_be_written_fails_visibly(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    char dir[] = "/tmp/lumi-mail-bad-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/invoice_created.txt", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("Hello {{{client.email}}}, no subject line here\n", fp);
    fclose(fp);
    setenv("LUMI_MAIL_TEMPLATES", dir, 1); /* SMTP port 1 is never reached: it fails first */
    testdb_config_load();
    add_invoice(f);
    pump(f);
    json_t *m = newest_raw(f, "invoice_created");
    contains(s_of(m, "render_error"), "must start with a \"Subject:\" line");
    json_decref(m);
    struct mail_sender *s = mail_sender_new(&err);
    assert_non_null(s);
    assert_int_equal(mail_sender_drain(s, f->db, "t:1:mail", 10, notify_compose, &err), 1);
    mail_sender_free(s);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM emails WHERE status = 'failed' AND "
                                    "last_error LIKE '%Subject:%' AND attempts = 1") == 1);
    unlink(path);
    rmdir(dir);
    unsetenv("LUMI_MAIL_TEMPLATES");
    testdb_config_load();
}

static void without_an_smtp_server_messages_are_born_skipped(void **state)
{
    struct fixture *f = *state;
    unsetenv("SMTP_HOST");
    testdb_config_load();
    add_invoice(f);
    assert_int_equal(pump(f), 1);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM emails WHERE status = 'skipped' AND "
                                    "last_error LIKE 'SMTP_HOST is not set%'") == 1);
    setenv("SMTP_HOST", "127.0.0.1", 1);
    testdb_config_load();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(invoice_created_mails_the_client_once_with_escaped_values,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_large_batch_queues_every_message_intact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_rolled_back_payment_mails_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(refunds_and_disputes_reach_client_and_admins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(service_messages_say_what_happened, setup, teardown),
        cmocka_unit_test_setup_teardown(a_webhook_that_cannot_apply_reaches_the_admins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(switched_off_types_queue_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(reminders_and_overdue_notices_go_out_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_outbox_queues_once_and_leases_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(resend_requeues_with_the_right_message_id, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_template_directory_overrides_the_built_in_one, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_message_that_cannot_be_written_fails_visibly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(without_an_smtp_server_messages_are_born_skipped, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
