/*
 * bb_settings.c — the settings registry through the real binary: GET lists
 * every setting with its default; a PATCH stores normalised values and
 * writes one SETTINGS_UPDATED audit row with old and new; a bad value among
 * good ones, an unknown key or a wrong JSON type is a 400 naming the key
 * that changes nothing; a PATCH that repeats the current values writes
 * nothing; no token is a 401. The /admin/settings page: closed without a
 * session, lists the settings, keeps the typed values and shows the error
 * on a bad post (400, nothing changed), saves a good one (303), needs the
 * CSRF token, shows markup only as text, and shows how mail leaves without
 * the SMTP password. Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "db/settings.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "5d1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "settings-admin@example.com"
#define ADMIN_PASSWORD "Settings-Admin-Password-1"
#define SMTP_PASSWORD "Smtp-Password-Never-Shown-42"

/* The public names, in the registry's order, with their defaults as JSON. */
static const struct {
    const char *key, *dflt;
} KEYS[] = {
    {"automation.renew_days_before", "7"},
    {"automation.suspend_days_after_due", "3"},
    {"automation.terminate_days_after_suspend", "30"},
    {"billing.dispute_action", "\"suspend\""},
    {"mail.reminder_days_before", "3"},
    {"mail.overdue_notice_days", "\"1,5\""},
    {"mail.admin_to", "\"\""},
    {"mail.send.invoice_created", "true"},
    {"mail.send.payment_receipt", "true"},
    {"mail.send.invoice_reminder", "true"},
    {"mail.send.invoice_overdue", "true"},
    {"mail.send.service_ready", "true"},
    {"mail.send.service_suspended", "true"},
    {"mail.send.service_unsuspended", "true"},
    {"mail.send.service_terminated", "true"},
    {"mail.send.refund_issued", "true"},
    {"mail.send.admin_dispute_opened", "true"},
    {"mail.send.admin_job_failed", "true"},
    {"mail.send.admin_webhook_failed", "true"},
    {"mail.send.account_verification", "true"},
    {"mail.send.account_password_reset", "true"},
    {"store.signup_enabled", "true"}, /* client accounts (issue 13) */
    {"store.require_verified_email", "true"},
    {"tax.eu_reverse_charge", "true"}, /* tax and VAT (issue 14) */
    {"credit.auto_apply", "true"}, /* credit balance (issue 14) */
    {"company.name", "\"\""}, /* company details and numbers (issue 14) */
    {"company.address", "\"\""},
    {"company.country", "\"\""},
    {"company.tax_id", "\"\""},
    {"company.email", "\"\""},
    {"company.logo_path", "\"\""},
    {"invoice.footer", "\"\""},
    {"invoice.number_format", "\"INV-{SEQ:6}\""},
    {"credit_note.number_format", "\"CN-{YYYY}-{SEQ:6}\""},
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

struct ctx {
    char session[200]; /* "lumi_session=…" */
    char csrf[80];
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    bb_init(SECRET_KEY);
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "settings-test");
    bb_serve();
    assert_int_equal(browse_login(bb_base_url(), "admin", ADMIN_EMAIL, ADMIN_PASSWORD, C->session,
                                  sizeof C->session),
                     303);
    browse_csrf(bb_base_url(), C->session, "/admin/settings", C->csrf);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    int status = bb_finish();
    free(C);
    return status == 0 ? 0 : -1;
}

static void assert_has(const char *body, const char *needle)
{
    if (strstr(body, needle) == NULL)
        fail_msg("answer lacks '%s':\n%.3000s", needle, body);
}

static void assert_lacks(const char *body, const char *needle)
{
    if (strstr(body, needle) != NULL)
        fail_msg("answer has '%s' but must not:\n%.3000s", needle, body);
}

/* The stored text of key into out; false when it has no row. */
static bool stored(const char *key, char *out, size_t sz)
{
    struct lumi_err err;
    int rc = settings_get(bb_db(), key, out, sz, &err);
    if (rc < 0)
        fail_msg("settings_get %s: %s", key, err.msg);
    return rc == 1;
}

static void assert_stored(const char *key, const char *want)
{
    char v[512];
    if (!stored(key, v, sizeof v))
        fail_msg("%s has no row, want '%s'", key, want);
    if (strcmp(v, want) != 0)
        fail_msg("%s is '%s', want '%s'", key, v, want);
}

static void assert_not_stored(const char *key)
{
    char v[512];
    if (stored(key, v, sizeof v))
        fail_msg("%s has a row '%s', want none", key, v);
}

/* Everything a refused request must leave as it was: every settings row and the audit count. */
struct snapshot {
    char rows[8192];
    int64_t audits;
};

static struct snapshot snap(void)
{
    struct snapshot s = {.audits = bb_audit_count("SETTINGS_UPDATED")};
    struct lumi_err err;
    struct db_stmt *st =
        db_prepare(bb_db(), "SELECT key, value, updated_at FROM settings ORDER BY key", &err);
    if (st == NULL)
        fail_msg("settings rows: %s", err.msg);
    size_t used = 0;
    while (db_step(st, &err) == DB_ROW && used < sizeof s.rows)
        used += (size_t)snprintf(s.rows + used, sizeof s.rows - used, "%s=%s@%s\n",
                                 db_col_text(st, 0), db_col_text(st, 1), db_col_text(st, 2));
    db_finalize(st);
    return s;
}

static void assert_unchanged(const struct snapshot *before, const char *what)
{
    struct snapshot now = snap();
    if (strcmp(now.rows, before->rows) != 0 || now.audits != before->audits)
        fail_msg("%s changed something: audit rows %lld→%lld, rows\n%s→\n%s", what,
                 (long long)before->audits, (long long)now.audits, before->rows, now.rows);
}

/* PATCH /api/admin/settings with body; expects status; answers the result (caller frees). */
static struct http_result patch(const char *body, long status)
{
    struct http_result r = bb_api("PATCH", "/api/admin/settings", body);
    if (r.status != status)
        fail_msg("PATCH %s: want %ld, got %ld: %s", body, status, r.status, buf_cstr(&r.body));
    return r;
}

/* PATCH that must be refused with 400 invalid_request whose message contains want. */
static void patch_refused(const char *body, const char *want)
{
    struct snapshot before = snap();
    struct http_result r = patch(body, 400);
    assert_non_null(http_error_code(&r));
    assert_string_equal(http_error_code(&r), "invalid_request");
    const char *msg =
        json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    assert_non_null(msg);
    if (strstr(msg, want) == NULL)
        fail_msg("PATCH %s: message '%s' lacks '%s'", body, msg, want);
    http_result_free(&r);
    assert_unchanged(&before, body);
}

/* The row of key in a settings answer (borrowed), or fails. */
static json_t *row_of(const json_t *answer, const char *key)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(answer, "data"), i, row)
    {
        if (strcmp(bb_str(row, "key"), key) == 0)
            return row;
    }
    fail_msg("no setting %s in the answer", key);
    return NULL;
}

/* The details of the newest SETTINGS_UPDATED row through the API (caller decrefs). */
static json_t *last_settings_audit(void)
{
    json_t *page = bb_json("GET", NULL, 200, "/api/admin/audit-logs?action=SETTINGS_UPDATED");
    json_t *row = json_array_get(json_object_get(page, "data"), 0);
    assert_non_null(row);
    assert_string_equal(bb_str(row, "entity"), "settings");
    assert_string_equal(bb_str(row, "actor_type"), "api_token");
    json_t *d = json_incref(json_object_get(row, "details"));
    json_decref(page);
    return d;
}

/* method path as the logged-in admin with a form (may be NULL). */
static struct http_result as_admin(const char *method, const char *path, const char *form)
{
    return browse(bb_base_url(), method, path, C->session, form, NULL);
}

static char *settings_page(void)
{
    struct http_result r = as_admin("GET", "/admin/settings", NULL);
    if (r.status != 200)
        fail_msg("GET /admin/settings: %ld", r.status);
    char *body = str_dup(buf_cstr(&r.body));
    http_result_free(&r);
    return body;
}

/* ---- the API ------------------------------------------------------------- */

static void api_lists_every_setting_with_its_default(void **state)
{
    json_t *all = bb_json("GET", NULL, 200, "/api/admin/settings");
    json_t *data = json_object_get(all, "data");
    assert_int_equal(json_array_size(data), NKEYS);
    for (size_t i = 0; i < NKEYS; i++) {
        json_t *row = json_array_get(data, i);
        assert_string_equal(bb_str(row, "key"), KEYS[i].key);
        json_t *want = json_loads(KEYS[i].dflt, JSON_DECODE_ANY, NULL);
        assert_non_null(want);
        if (!json_equal(json_object_get(row, "default"), want) ||
            !json_equal(json_object_get(row, "value"), want))
            fail_msg("%s: default or value is not %s", KEYS[i].key, KEYS[i].dflt);
        json_decref(want);
        assert_true(*bb_str(row, "group") != '\0');
        assert_true(*bb_str(row, "label") != '\0');
        assert_true(*bb_str(row, "help") != '\0');
    }
    json_t *r = row_of(all, "mail.reminder_days_before");
    assert_string_equal(bb_str(r, "type"), "integer");
    assert_int_equal(bb_int(r, "min"), 0);
    assert_int_equal(bb_int(r, "max"), 60);
    r = row_of(all, "billing.dispute_action");
    assert_string_equal(bb_str(r, "type"), "enum");
    assert_string_equal(bb_str(r, "group"), "Billing");
    assert_int_equal(json_array_size(json_object_get(r, "choices")), 2);
    assert_string_equal(bb_str(row_of(all, "mail.send.refund_issued"), "type"), "bool");
    assert_string_equal(bb_str(row_of(all, "mail.admin_to"), "type"), "email_list");
    json_decref(all);
}

static void api_patch_stores_normalised_values_and_audits_old_and_new(void **state)
{
    int64_t audits = bb_audit_count("SETTINGS_UPDATED");
    struct http_result r =
        patch("{\"automation.renew_days_before\":10,\"billing.dispute_action\":\"none\","
              "\"mail.send.refund_issued\":false,\"mail.overdue_notice_days\":\" 7, 2\","
              "\"mail.admin_to\":\"ops@example.com,billing@example.org, \","
              "\"mail.reminder_days_before\":3}",
              200);
    json_t *all = r.json;
    assert_int_equal(json_array_size(json_object_get(all, "data")), NKEYS);
    assert_int_equal(bb_int(row_of(all, "automation.renew_days_before"), "value"), 10);
    assert_int_equal(bb_int(row_of(all, "automation.renew_days_before"), "default"), 7);
    assert_true(json_is_false(json_object_get(row_of(all, "mail.send.refund_issued"), "value")));
    assert_string_equal(bb_str(row_of(all, "mail.overdue_notice_days"), "value"), "2,7");
    assert_string_equal(bb_str(row_of(all, "mail.admin_to"), "value"),
                        "ops@example.com, billing@example.org");
    http_result_free(&r);

    assert_stored("automation.renew_days_before", "10");
    assert_stored("billing.dispute_action", "none");
    assert_stored("mail.send.refund_issued", "0");
    assert_stored("mail.overdue_notice_days", "2,7");
    assert_stored("mail.admin_to", "ops@example.com, billing@example.org");
    /* The same as the default: not a change, so no row. */
    assert_not_stored("mail.reminder_days_before");

    assert_int_equal(bb_audit_count("SETTINGS_UPDATED"), audits + 1);
    json_t *d = last_settings_audit();
    json_t *ch = json_object_get(d, "changes");
    assert_int_equal(json_object_size(ch), 5);
    json_t *c = json_object_get(ch, "automation.renew_days_before");
    assert_int_equal(bb_int(c, "old"), 7);
    assert_int_equal(bb_int(c, "new"), 10);
    c = json_object_get(ch, "mail.send.refund_issued");
    assert_true(json_is_true(json_object_get(c, "old")));
    assert_true(json_is_false(json_object_get(c, "new")));
    c = json_object_get(ch, "billing.dispute_action");
    assert_string_equal(bb_str(c, "old"), "suspend");
    assert_string_equal(bb_str(c, "new"), "none");
    assert_string_equal(bb_str(json_object_get(ch, "mail.overdue_notice_days"), "new"), "2,7");
    assert_null(json_object_get(ch, "mail.reminder_days_before"));
    json_decref(d);

    /* Back to the default: a change from the stored value. */
    r = patch("{\"billing.dispute_action\":\"suspend\"}", 200);
    http_result_free(&r);
    assert_stored("billing.dispute_action", "suspend");
    assert_int_equal(bb_audit_count("SETTINGS_UPDATED"), audits + 2);
}

static void api_patch_with_one_bad_value_changes_nothing(void **state)
{
    patch_refused("{\"automation.suspend_days_after_due\":5,\"mail.reminder_days_before\":99}",
                  "mail.reminder_days_before: expected an integer from 0 to 60, got 99");
    assert_not_stored("automation.suspend_days_after_due");
    patch_refused("{\"automation.terminate_days_after_suspend\":0}",
                  "automation.terminate_days_after_suspend: expected an integer from 1 to 3650");
    patch_refused("{\"billing.dispute_action\":\"refund\"}",
                  "billing.dispute_action: expected one of \"suspend\", \"none\", got \"refund\"");
    patch_refused("{\"mail.overdue_notice_days\":\"1,1\"}",
                  "mail.overdue_notice_days: 1 is listed");
    patch_refused("{\"mail.overdue_notice_days\":\"1,2,3,4,5,6\"}",
                  "mail.overdue_notice_days: at most 5");
    patch_refused("{\"mail.overdue_notice_days\":\"0\"}", "mail.overdue_notice_days: expected");
    patch_refused("{\"mail.admin_to\":\"ops@example.com, not-an-address\"}",
                  "mail.admin_to: \"not-an-address\" is not a valid e-mail address");
    patch_refused("{\"mail.admin_to\":\"a b@example.com\"}", "mail.admin_to:");
    patch_refused("{\"mail.admin_to\":\"a@@example.com\"}", "mail.admin_to:");
    patch_refused("{\"mail.admin_to\":\"Ops <ops@example.com>\"}", "mail.admin_to:");
    patch_refused("{\"mail.admin_to\":\"@example.com\"}", "mail.admin_to:");
    patch_refused("{\"mail.admin_to\":\"a@example.com\\r\\nBcc: x@example.com\"}",
                  "mail.admin_to:");
}

static void api_refuses_unknown_keys_and_wrong_types(void **state)
{
    patch_refused("{\"automation.renew_days_before\":8,\"mail.no_such_thing\":1}",
                  "mail.no_such_thing: no such setting");
    patch_refused("{\"automation.renew_days_before\":\"8\"}",
                  "automation.renew_days_before: expected an integer from 0 to 365, got \"8\"");
    patch_refused("{\"automation.renew_days_before\":8.5}", "automation.renew_days_before");
    patch_refused("{\"mail.send.invoice_created\":1}",
                  "mail.send.invoice_created: expected true or false, got 1");
    patch_refused("{\"mail.send.invoice_created\":\"true\"}", "mail.send.invoice_created");
    patch_refused("{\"billing.dispute_action\":null}", "billing.dispute_action");
    patch_refused("{\"mail.admin_to\":[\"a@example.com\"]}", "mail.admin_to");
    patch_refused("[1,2]", "");
    patch_refused("{\"automation.renew_days_before\":", "");
    assert_stored("automation.renew_days_before", "10");
}

static void api_patch_without_a_change_writes_nothing(void **state)
{
    struct snapshot before = snap();
    struct http_result r = patch("{}", 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), NKEYS);
    http_result_free(&r);
    /* The current values, one of them written differently but the same once normalised. */
    r = patch("{\"automation.renew_days_before\":10,\"mail.overdue_notice_days\":\"7,2\","
              "\"mail.send.invoice_created\":true,\"mail.admin_to\":"
              "\"ops@example.com ,billing@example.org\"}",
              200);
    http_result_free(&r);
    assert_unchanged(&before, "a PATCH of the current values");
}

static void api_needs_a_token(void **state)
{
    struct snapshot before = snap();
    struct http_result r = http_api(bb_base_url(), NULL, "GET", "/api/admin/settings", NULL);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    r = http_api(bb_base_url(), NULL, "PATCH", "/api/admin/settings",
                 "{\"automation.renew_days_before\":1}");
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    r = http_api(bb_base_url(), "Authorization: Bearer lumi_not-a-token", "PATCH",
                 "/api/admin/settings", "{\"automation.renew_days_before\":1}");
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    assert_unchanged(&before, "a PATCH without a token");
}

/* ---- the page ------------------------------------------------------------ */

static void page_is_closed_without_a_session(void **state)
{
    struct snapshot before = snap();
    struct http_result r = browse(bb_base_url(), "GET", "/admin/settings", NULL, NULL, NULL);
    assert_int_equal(r.status, 303);
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    assert_string_equal(loc, "/admin/login?next=/admin/settings");
    free(loc);
    http_result_free(&r);
    r = browse(bb_base_url(), "POST", "/admin/settings", NULL, "automation.renew_days_before=1",
               NULL);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    assert_unchanged(&before, "a post without a session");
}

static void page_lists_the_settings_by_group(void **state)
{
    char *body = settings_page();
    for (size_t i = 0; i < NKEYS; i++) {
        char attr[160];
        snprintf(attr, sizeof attr, "data-key=\"%s\"", KEYS[i].key);
        assert_has(body, attr);
    }
    assert_has(body, "<legend>Automation</legend>");
    assert_has(body, "<legend>Billing</legend>");
    assert_has(body, "<legend>Mail</legend>");
    assert_has(body, "Renewal invoice (days before due)");
    assert_has(body, "name=\"automation.renew_days_before\" value=\"10\"");
    assert_has(body, "Default: 7.");
    assert_has(body, "<option value=\"none\">none</option>");
    assert_has(body, "name=\"on_form.mail.send.refund_issued\"");
    assert_has(body, "name=\"mail.send.invoice_created\" value=\"1\" checked");
    assert_has(body, "name=\"mail.send.refund_issued\" value=\"1\">");
    assert_has(body, "href=\"/admin/settings\" class=\"active\"");
    assert_has(body, "SMTP_HOST is not set: messages are recorded in the outbox but not sent.");
    free(body);
}

static void page_shows_a_bad_post_again_with_its_error(void **state)
{
    struct snapshot before = snap();
    char form[600];
    snprintf(form, sizeof form,
             "csrf_token=%s&automation.renew_days_before=12&mail.reminder_days_before=99"
             "&mail.overdue_notice_days=4%%2C%%201",
             C->csrf);
    struct http_result r = as_admin("POST", "/admin/settings", form);
    assert_int_equal(r.status, 400);
    const char *body = buf_cstr(&r.body);
    assert_has(body, "mail.reminder_days_before: expected an integer from 0 to 60, got 99");
    assert_has(body, "name=\"automation.renew_days_before\" value=\"12\"");
    assert_has(body, "name=\"mail.reminder_days_before\" value=\"99\"");
    assert_has(body, "name=\"mail.overdue_notice_days\" value=\"4, 1\"");
    http_result_free(&r);
    assert_unchanged(&before, "a bad form post");
    assert_stored("automation.renew_days_before", "10");

    /* Not a number at all: quoted back as typed. */
    snprintf(form, sizeof form, "csrf_token=%s&automation.suspend_days_after_due=soon", C->csrf);
    r = as_admin("POST", "/admin/settings", form);
    assert_int_equal(r.status, 400);
    assert_has(buf_cstr(&r.body), "automation.suspend_days_after_due: expected an integer from 0 "
                                  "to 365, got &quot;soon&quot;");
    http_result_free(&r);
    assert_unchanged(&before, "a form post with a word for a number");
}

static void page_saves_a_good_post(void **state)
{
    int64_t audits = bb_audit_count("SETTINGS_UPDATED");
    char form[800];
    /* service_ready's box is on the form and unchecked; the other boxes are not posted at all. */
    snprintf(form, sizeof form,
             "csrf_token=%s&automation.terminate_days_after_suspend=+45+"
             "&billing.dispute_action=none&on_form.mail.send.service_ready=1"
             "&on_form.mail.send.refund_issued=1&mail.send.refund_issued=1"
             "&mail.admin_to=team%%40example.com",
             C->csrf);
    struct http_result r = as_admin("POST", "/admin/settings", form);
    if (r.status != 303)
        fail_msg("good post: %ld %.2000s", r.status, buf_cstr(&r.body));
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    assert_string_equal(loc, "/admin/settings");
    free(loc);
    struct http_result shown = browse_follow(bb_base_url(), &r, C->session);
    assert_non_null(strstr(buf_cstr(&shown.body), "flash-ok"));
    http_result_free(&shown);
    http_result_free(&r);
    assert_stored("automation.terminate_days_after_suspend", "45");
    assert_stored("billing.dispute_action", "none");
    assert_stored("mail.send.service_ready", "0");
    assert_stored("mail.send.refund_issued", "1");
    assert_stored("mail.admin_to", "team@example.com");
    assert_not_stored("mail.send.invoice_created");
    assert_int_equal(bb_audit_count("SETTINGS_UPDATED"), audits + 1);

    char *body = settings_page();
    assert_has(body, "name=\"automation.terminate_days_after_suspend\" value=\"45\"");
    assert_has(body, "name=\"mail.send.service_ready\" value=\"1\">");
    assert_has(body, "<option value=\"none\" selected>none</option>");
    free(body);

    /* The whole form as a browser posts it, unchanged: nothing written. */
    struct snapshot before = snap();
    snprintf(form, sizeof form,
             "csrf_token=%s&automation.terminate_days_after_suspend=45"
             "&on_form.mail.send.service_ready=1&mail.admin_to=team%%40example.com",
             C->csrf);
    r = as_admin("POST", "/admin/settings", form);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    assert_unchanged(&before, "an unchanged form");
}

static void page_post_needs_the_csrf_token(void **state)
{
    struct snapshot before = snap();
    struct http_result r = as_admin("POST", "/admin/settings", "automation.renew_days_before=1");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    r = as_admin("POST", "/admin/settings",
                 "csrf_token=0000000000000000000000000000000000000000000000000000000000000000"
                 "&automation.renew_days_before=1");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_unchanged(&before, "a post without the CSRF token");
}

static void markup_in_admin_to_is_refused_and_shown_as_text(void **state)
{
    struct snapshot before = snap();
    patch_refused("{\"mail.admin_to\":\"<script>alert(1)</script>@example.com\"}",
                  "mail.admin_to:");
    char form[600];
    snprintf(form, sizeof form,
             "csrf_token=%s&mail.admin_to=%%3Cscript%%3Ealert(1)%%3C%%2Fscript%%3E%%40example.com",
             C->csrf);
    struct http_result r = as_admin("POST", "/admin/settings", form);
    assert_int_equal(r.status, 400);
    const char *body = buf_cstr(&r.body);
    assert_lacks(body, "<script>alert");
    assert_has(body, "&lt;script&gt;alert(1)&lt;/script&gt;@example.com");
    assert_has(body, "is not a valid e-mail address");
    http_result_free(&r);
    assert_unchanged(&before, "markup in mail.admin_to");
}

static void mail_delivery_box_shows_smtp_but_never_the_password(void **state)
{
    assert_int_equal(bb_stop(), 0);
    bb_env_add("SMTP_HOST=smtp.example.net");
    bb_env_add("SMTP_PORT=2525");
    bb_env_add("SMTP_TLS=tls");
    bb_env_add("SMTP_FROM=billing@example.com");
    bb_env_add("SMTP_USER=mailer");
    bb_env_add("SMTP_PASSWORD=" SMTP_PASSWORD);
    bb_serve();
    char *body = settings_page();
    assert_has(body, "smtp.example.net");
    assert_has(body, "<dd>2525</dd>");
    assert_has(body, "<dd>tls</dd>");
    assert_has(body, "billing@example.com");
    assert_has(body, "a user is set");
    assert_lacks(body, SMTP_PASSWORD);
    assert_lacks(body, "SMTP_HOST is not set");
    free(body);
    struct http_result r = bb_api("GET", "/api/admin/settings", NULL);
    assert_lacks(buf_cstr(&r.body), SMTP_PASSWORD);
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_lists_every_setting_with_its_default),
        cmocka_unit_test(api_patch_stores_normalised_values_and_audits_old_and_new),
        cmocka_unit_test(api_patch_with_one_bad_value_changes_nothing),
        cmocka_unit_test(api_refuses_unknown_keys_and_wrong_types),
        cmocka_unit_test(api_patch_without_a_change_writes_nothing),
        cmocka_unit_test(api_needs_a_token),
        cmocka_unit_test(page_is_closed_without_a_session),
        cmocka_unit_test(page_lists_the_settings_by_group),
        cmocka_unit_test(page_shows_a_bad_post_again_with_its_error),
        cmocka_unit_test(page_saves_a_good_post),
        cmocka_unit_test(page_post_needs_the_csrf_token),
        cmocka_unit_test(markup_in_admin_to_is_refused_and_shown_as_text),
        cmocka_unit_test(mail_delivery_box_shows_smtp_but_never_the_password),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
