/*
 * bb_mail.c — e-mail as a customer and an admin see it: `lumi serve` sends
 * to a real SMTP server (tests/smtp_sink.py, aiosmtpd, with AUTH), whose own
 * parser (Python's email package) reads back what arrived.
 *   - the customer's journey: invoice (with its pay link), receipt, service
 *     ready (panel URL and username, never the password), suspended (the
 *     reason in plain words), unsuspended, terminated — each to the right
 *     recipient with the right values, as text and HTML, a <script> in the
 *     client's name arriving as text;
 *   - SMTP down while invoices are made: nothing lost, each delivered once
 *     when it is back;
 *   - a 4xx answer is retried, a 5xx fails with the server's words on
 *     /admin/emails, and resend sends it;
 *   - `lumi serve` SIGKILLed while a message is being sent: after the
 *     restart every message is there, none under two Message-IDs;
 *   - the SMTP password appears in no log line, API answer or audit row;
 *   - without SMTP_HOST mail is recorded, not sent, and the page says so;
 *   - `lumi mail test` prints the server's answer.
 * Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "core/str.h"
#include "fakes/fake_pterodactyl.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/smtpsink.h"

#define SECRET_KEY "3c1f0b9a5d7e2f4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a"
#define ADMIN_EMAIL "admin@example.com"
#define ADMIN_PASSWORD "correct horse battery staple"
#define SMTP_USER "lumi-mailer"
#define SMTP_PASSWORD "Sm7p-Pa55word-Never-Shown"
#define PTERO_KEY "ptla_MailTestKey0123456789abcdefABCDEFghijklmn"
#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"
#define CLIENT_EMAIL "ada@example.com"
#define BASE_URL "https://billing.example.com"

struct ctx {
    struct smtpsink *sink;
    struct fake_ptero *ptero;
    int port;
    int64_t client, product;
};
static struct ctx *C;

/* Every API answer: the SMTP password is never in it. */
static void no_password(const char *method, const char *path, const struct http_result *r)
{
    if (strstr(buf_cstr(&r->body), SMTP_PASSWORD) != NULL)
        fail_msg("%s %s answered the SMTP password", method, path);
}

static void start_sink(int port)
{
    struct smtpsink_opts o = {.auth = SMTP_USER ":" SMTP_PASSWORD, .port = port};
    C->sink = smtpsink_start(&o);
    C->port = smtpsink_port(C->sink);
}

static void smtp_env(void)
{
    bb_env_add("SMTP_HOST=127.0.0.1");
    bb_env_add("SMTP_PORT=%d", C->port);
    bb_env_add("SMTP_TLS=none");
    bb_env_add("SMTP_USER=" SMTP_USER);
    bb_env_add("SMTP_PASSWORD=" SMTP_PASSWORD);
}

static int setup(void **state)
{
    char body[600];
    C = calloc(1, sizeof *C);
    C->ptero = fake_ptero_start(PTERO_KEY);
    start_sink(0);
    bb_init(SECRET_KEY);
    smtp_env();
    bb_env_add("SMTP_FROM=Acme Hosting <billing@acme.example>");
    bb_env_add("LUMI_BASE_URL=" BASE_URL);
    bb_env_add("LUMI_MAIL_RETRY_S=1");
    bb_env_add("LUMI_JOB_LEASE_S=3");
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "mail-test");
    bb_check_answers(no_password);
    bb_serve();
    snprintf(body, sizeof body,
             "{\"email\":\"" CLIENT_EMAIL "\",\"password\":\"a long client password\","
             "\"first_name\":\"<script>alert('ada')</script>\",\"last_name\":\"Lovelace\"}");
    C->client = bb_create_ok("/api/admin/clients", body);
    snprintf(body, sizeof body,
             "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\"}",
             fake_ptero_url(C->ptero));
    int64_t server = bb_create_ok("/api/admin/servers", body);
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 4G\",\"type\":\"game_server\",\"price\":1500,"
             "\"currency\":\"eur\",\"billing_cycle\":\"monthly\",\"setup_fee\":500,"
             "\"server_id\":%" PRId64 ",\"autosetup\":\"payment\",\"config\":" GAME_CONFIG "}",
             server);
    C->product = bb_create_ok("/api/admin/products", body);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    smtpsink_stop(C->sink);
    fake_ptero_stop(C->ptero);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- helpers ---------------------------------------------------------------- */

static const char *js(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

static void contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL)
        fail_msg("'%s' not found in:\n%s", needle, hay ? hay : "(null)");
}

static void lacks(const char *hay, const char *needle)
{
    if (hay != NULL && strstr(hay, needle) != NULL)
        fail_msg("'%s' found in:\n%s", needle, hay);
}

/* The first stored message (from index from) whose subject contains s; waits up to 20 s. */
static json_t *arrived(int *from, const char *subject_part)
{
    for (int waited = 0; waited < 20000; waited += 100) {
        for (int i = *from; i < smtpsink_count(C->sink); i++) {
            json_t *m = smtpsink_message(C->sink, i);
            if (m != NULL && strstr(js(m, "subject"), subject_part) != NULL)
                return m;
            json_decref(m);
        }
        bb_sleep_ms(100);
    }
    fail_msg("no message with '%s' in its subject arrived (%d stored)", subject_part,
             smtpsink_count(C->sink));
    return NULL;
}

/* Checks what every message to the client must have. */
static void assert_client_message(const json_t *m)
{
    json_t *rcpt = json_object_get(m, "rcpt_tos");
    assert_int_equal(json_array_size(rcpt), 1);
    assert_string_equal(json_string_value(json_array_get(rcpt, 0)), CLIENT_EMAIL);
    assert_string_equal(js(m, "mail_from"), "billing@acme.example");
    json_t *h = json_object_get(m, "headers");
    contains(js(h, "From"), "Acme Hosting");
    contains(js(h, "To"), "<" CLIENT_EMAIL ">");
    lacks(js(h, "To"), "<script");
    contains(js(h, "MIME-Version"), "1.0");
    assert_true(strlen(js(h, "Date")) > 0);
    contains(js(m, "message_id"), "@billing.example.com>");
    assert_int_equal(json_array_size(json_object_get(m, "defects")), 0);
    const char *html = js(m, "html");
    contains(html, "&lt;script&gt;alert(");
    lacks(html, "<script");
    contains(js(m, "text"), "<script>alert('ada')</script> Lovelace"); /* text is text */
    /* the outbox row of this Message-ID says it was sent */
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM emails WHERE message_id = '%s' AND status = 'sent'",
             js(m, "message_id"));
    for (int i = 0; i < 50 && bb_count("%s", sql) != 1; i++)
        bb_sleep_ms(100);
    assert_int_equal(bb_count("%s", sql), 1);
}

static int64_t order(int64_t *invoice)
{
    char body[200];
    snprintf(body, sizeof body, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64
             ",\"domain\":\"mc.example.org\"}", C->client, C->product);
    json_t *svc = bb_json("POST", body, 201, "/api/admin/services");
    int64_t id = bb_int(svc, "id");
    *invoice = bb_int(svc, "invoice_id");
    json_decref(svc);
    return id;
}

static int64_t new_invoice(const char *what)
{
    char body[300];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"eur\",\"items\":[{\"description\":\"%s\","
             "\"quantity\":1,\"unit_amount\":990}]}",
             C->client, what);
    return bb_create_ok("/api/admin/invoices", body);
}

static void wait_service(int64_t id, const char *status)
{
    for (int i = 0; i < 200; i++) {
        if (bb_count("SELECT COUNT(*) FROM services WHERE id = %" PRId64 " AND status = '%s'", id,
                     status) == 1)
            return;
        bb_sleep_ms(100);
    }
    fail_msg("service %" PRId64 " did not become %s", id, status);
}

/* Waits until sql (a COUNT) answers want. */
static void wait_count(int64_t want, const char *sql)
{
    for (int i = 0; i < 300; i++) {
        if (bb_count("%s", sql) == want)
            return;
        bb_sleep_ms(100);
    }
    fail_msg("'%s' is %" PRId64 ", not %" PRId64, sql, bb_count("%s", sql), want);
}

/* ---- tests ------------------------------------------------------------------- */

static void the_customer_journey_arrives_by_mail(void **state)
{
    (void)state;
    int from = smtpsink_count(C->sink);
    int64_t inv = 0, svc = order(&inv);
    json_t *inv_json = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, inv);
    char number[32];
    str_copy(number, js(inv_json, "number"), sizeof number);
    json_decref(inv_json);

    json_t *m = arrived(&from, number);
    assert_client_message(m);
    contains(js(m, "subject"), "20.00 EUR");
    char url[128];
    snprintf(url, sizeof url, BASE_URL "/client/invoices/%" PRId64, inv);
    contains(js(m, "text"), url);
    contains(js(m, "html"), url);
    contains(js(m, "text"), "Minecraft 4G");
    json_decref(m);

    /* paid by hand: a receipt, then the server is created and the client told */
    json_decref(bb_json("POST", "{\"amount\":2000,\"reference\":\"bank-4711\"}", 200,
                        "/api/admin/invoices/%" PRId64 "/payments", inv));
    m = arrived(&from, "Payment received");
    assert_client_message(m);
    contains(js(m, "subject"), "20.00 EUR");
    contains(js(m, "text"), "bank-4711");
    json_decref(m);
    wait_service(svc, "active");
    m = arrived(&from, "is ready");
    assert_client_message(m);
    contains(js(m, "text"), fake_ptero_url(C->ptero));
    json_t *s = bb_json("GET", NULL, 200, "/api/admin/services/%" PRId64, svc);
    contains(js(m, "text"), js(s, "username"));
    json_decref(s);
    contains(js(m, "text"), "password is not sent by e-mail");
    lacks(js(m, "text"), "Password:");
    json_decref(m);

    /* suspended for an overdue invoice: the reason in plain words and what to do */
    json_decref(bb_json("POST", "{\"reason\":\"overdue\"}", 202,
                        "/api/admin/services/%" PRId64 "/suspend", svc));
    m = arrived(&from, "has been suspended");
    assert_client_message(m);
    contains(js(m, "text"), "an invoice for this service is overdue");
    contains(js(m, "text"), "Pay the open invoice");
    json_decref(m);
    json_decref(bb_json("POST", NULL, 202, "/api/admin/services/%" PRId64 "/unsuspend", svc));
    m = arrived(&from, "running again");
    assert_client_message(m);
    json_decref(m);
    json_decref(bb_json("POST", NULL, 202, "/api/admin/services/%" PRId64 "/terminate", svc));
    m = arrived(&from, "has been terminated");
    assert_client_message(m);
    json_decref(m);

    /* the API lists them, newest first, filtered by recipient */
    json_t *list = bb_json("GET", NULL, 200, "/api/admin/emails?to=" CLIENT_EMAIL "&status=sent");
    assert_true(json_array_size(json_object_get(list, "data")) >= 6);
    json_decref(list);
    list = bb_json("GET", NULL, 200, "/api/admin/emails?to=nobody@example.com");
    assert_int_equal(json_array_size(json_object_get(list, "data")), 0);
    json_decref(list);
    json_decref(bb_json("GET", NULL, 400, "/api/admin/emails?status=lost"));

    /* the client's admin page links to the mail sent to them */
    char cookie[256], path[96], href[200];
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie);
    snprintf(path, sizeof path, "/admin/clients/%" PRId64, C->client);
    struct http_result r = browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(browse_attr_after(buf_cstr(&r.body), "<dd class=\"emails\"><a href=\"", href,
                                  sizeof href));
    http_result_free(&r);
    browse_unescape_url(href);
    assert_string_equal(href, "/admin/emails?to=ada%40example.com");
    r = browse(bb_base_url(), "GET", href, cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    contains(buf_cstr(&r.body), "Payment received");
    contains(buf_cstr(&r.body), "has been terminated");
    http_result_free(&r);
}

static void smtp_down_loses_nothing_and_sends_each_once(void **state)
{
    (void)state;
    int port = C->port;
    int64_t first = 0, last = 0;
    smtpsink_stop(C->sink);
    C->sink = NULL;
    for (int i = 0; i < 3; i++) {
        char what[32];
        snprintf(what, sizeof what, "While down %d", i);
        last = new_invoice(what);
        if (first == 0)
            first = last;
    }
    /* each was tried, failed for want of a server, and waits for the next attempt */
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM emails WHERE entity = 'invoice' AND CAST(entity_id AS BIGINT)"
             " BETWEEN %" PRId64 " AND %" PRId64
             " AND status = 'queued' AND attempts >= 1 AND last_error IS NOT NULL",
             first, last);
    wait_count(3, sql);
    start_sink(port);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM emails WHERE entity = 'invoice' AND CAST(entity_id AS BIGINT)"
             " BETWEEN %" PRId64 " AND %" PRId64 " AND status = 'sent'",
             first, last);
    wait_count(3, sql);
    assert_true(smtpsink_wait(C->sink, 3, 10000));
    bb_sleep_ms(1500); /* anything sent twice would have arrived by now */
    int down = 0;
    for (int i = 0; i < smtpsink_count(C->sink); i++) {
        json_t *m = smtpsink_message(C->sink, i);
        if (strstr(js(m, "text"), "While down") != NULL) {
            assert_int_equal(smtpsink_count_message_id(C->sink, js(m, "message_id")), 1);
            down++;
        }
        json_decref(m);
    }
    assert_int_equal(down, 3);
}

static void a_4xx_is_retried_and_a_5xx_fails_with_the_servers_words(void **state)
{
    (void)state;
    int from = smtpsink_count(C->sink);
    smtpsink_set_reply(C->sink, "data 451 4.3.0 Mailbox busy, try again later");
    int64_t inv = new_invoice("Greylisted");
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM emails WHERE entity = 'invoice' AND entity_id = '%" PRId64
             "' AND status = 'queued' AND attempts >= 1 AND last_error LIKE '%%Mailbox busy%%'",
             inv);
    wait_count(1, sql);
    smtpsink_set_reply(C->sink, NULL);
    json_t *m = arrived(&from, "9.90 EUR");
    assert_int_equal(smtpsink_count_message_id(C->sink, js(m, "message_id")), 1);
    json_decref(m);

    smtpsink_set_reply(C->sink, "data 554 5.7.1 Message rejected by policy");
    inv = new_invoice("Rejected");
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM emails WHERE entity = 'invoice' AND entity_id = '%" PRId64
             "' AND status = 'failed' AND attempts = 1",
             inv);
    wait_count(1, sql);
    int64_t id = bb_count("SELECT id FROM emails WHERE entity = 'invoice' AND entity_id = '%" PRId64
                          "'", inv);
    json_t *e = bb_json("GET", NULL, 200, "/api/admin/emails/%" PRId64, id);
    contains(js(e, "last_error"), "5.7.1 Message rejected by policy");
    contains(js(e, "body_text"), "Rejected");
    json_decref(e);
    /* the admin's page says so, in the server's words */
    char cookie[256], path[64];
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie);
    struct http_result r = browse(bb_base_url(), "GET", "/admin/emails?status=failed", cookie,
                                  NULL, NULL);
    assert_int_equal(r.status, 200);
    contains(buf_cstr(&r.body), "5.7.1 Message rejected by policy");
    http_result_free(&r);
    /* and the dashboard counts it, linking to the list */
    r = browse(bb_base_url(), "GET", "/admin", cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    contains(buf_cstr(&r.body), "id=\"tile-mail\"");
    contains(buf_cstr(&r.body), "/admin/emails?status=failed\">1</a>");
    http_result_free(&r);
    snprintf(path, sizeof path, "/admin/emails/%" PRId64, id);
    r = browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    contains(buf_cstr(&r.body), "5.7.1 Message rejected by policy");
    contains(buf_cstr(&r.body), "Resend");
    http_result_free(&r);
    /* the HTML part on its own page, sandboxed */
    snprintf(path, sizeof path, "/admin/emails/%" PRId64 "/html", id);
    r = browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    char *csp = http_header(&r, "Content-Security-Policy");
    contains(csp, "sandbox");
    free(csp);
    http_result_free(&r);

    /* fixed: resend delivers it, under the Message-ID it never arrived with */
    smtpsink_set_reply(C->sink, NULL);
    from = smtpsink_count(C->sink);
    e = bb_json("POST", NULL, 202, "/api/admin/emails/%" PRId64 "/resend", id);
    assert_string_equal(js(e, "status"), "queued");
    json_decref(e);
    json_decref(bb_json("POST", NULL, 409, "/api/admin/emails/%" PRId64 "/resend", id));
    m = arrived(&from, "9.90 EUR");
    json_decref(m);
    assert_true(bb_audit_count("EMAIL_RESENT") >= 1);
    json_decref(bb_json("POST", NULL, 404, "/api/admin/emails/999999/resend"));
}

static void a_kill_while_sending_loses_nothing_and_sends_nothing_twice(void **state)
{
    (void)state;
    int64_t before = bb_count("SELECT COALESCE(MAX(id), 0) FROM emails");
    int stored = smtpsink_count(C->sink);
    smtpsink_set_delay_ms(C->sink, 2500);
    new_invoice("Killed A");
    new_invoice("Killed B");
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM emails WHERE id > %" PRId64 " AND status = 'sending'", before);
    wait_count(1, sql);
    bb_sleep_ms(300); /* the DATA is on the wire */
    kill(bb_server()->pid, SIGKILL);
    int st = 0;
    waitpid(bb_server()->pid, &st, 0);
    smtpsink_set_delay_ms(C->sink, 0);
    lumi_serve_start(bb_server(), bb_env());
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM emails WHERE id > %" PRId64 " AND status = 'sent'",
             before);
    wait_count(2, sql);
    bb_sleep_ms(3000); /* the killed DATA's late answer, and anything doubled, are in by now */
    /* every message of the outbox arrived, each under its one Message-ID */
    struct db *db = bb_db();
    struct lumi_err err;
    struct db_stmt *q = db_prepare(db, "SELECT message_id FROM emails WHERE id > $1", &err);
    assert_non_null(q);
    db_bind_int64(q, 1, before);
    int rows = 0;
    while (db_step(q, &err) == DB_ROW) {
        rows++;
        assert_true(smtpsink_count_message_id(C->sink, db_col_text(q, 0)) >= 1);
    }
    db_finalize(q);
    assert_int_equal(rows, 2);
    int ids = 0;
    for (int i = stored; i < smtpsink_count(C->sink); i++) {
        json_t *m = smtpsink_message(C->sink, i);
        char like[300];
        snprintf(like, sizeof like, "SELECT COUNT(*) FROM emails WHERE message_id = '%s'",
                 js(m, "message_id"));
        assert_int_equal(bb_count("%s", like), 1); /* no copy under a Message-ID of its own */
        ids++;
        json_decref(m);
    }
    assert_true(ids >= 2);
}

static void lumi_cron_twice_sends_each_reminder_once(void **state)
{
    (void)state;
    int from = smtpsink_count(C->sink);
    int64_t inv = new_invoice("Reminded");
    /* made long ago, due in two days: a reminder is due (mail.reminder_days_before 3) */
    struct db *db = bb_db();
    struct lumi_err err;
    char due[32];
    time_t t = time(NULL) + 2 * 86400;
    strftime(due, sizeof due, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, inv);
    const char *p[] = {due, id};
    assert_int_equal(db_execp(db,
                              "UPDATE invoices SET created_at = '2000-01-01T00:00:00Z',"
                              " due_date = $1 WHERE id = CAST($2 AS BIGINT)",
                              2, p, NULL, &err),
                     0);
    /* The mail thread of the running server looks for due notices too (at its
     * start and every ten minutes): whoever comes first queues it, nobody again. */
    struct lumi_run_result r;
    const char *cron[] = {"cron", NULL};
    char line[96];
    snprintf(line, sizeof line, "queued invoice_reminder for invoice %" PRId64 " ", inv);
    size_t queued = 0;
    for (int i = 0; i < 2; i++) {
        bb_run_out(cron, NULL, &r);
        queued += browse_count(buf_cstr(&r.out), line);
        lumi_run_result_free(&r);
    }
    assert_true(queued <= 1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM emails WHERE template = 'invoice_reminder'"
                              " AND entity_id = '%" PRId64 "'",
                              inv),
                     1);
    json_t *m = arrived(&from, "Reminder: invoice");
    assert_client_message(m);
    json_decref(m);
}

static void the_smtp_password_is_never_shown(void **state)
{
    (void)state;
    char *log = lumi_server_log(bb_server());
    lacks(log, SMTP_PASSWORD);
    free(log);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%%%s%%'",
                              SMTP_PASSWORD),
                     0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM emails WHERE body_text LIKE '%%%s%%' OR "
                              "last_error LIKE '%%%s%%'",
                              SMTP_PASSWORD, SMTP_PASSWORD),
                     0);
    /* a wrong password: the server refuses, and says so without the password */
    struct lumi_run_result r;
    bb_env_add("SMTP_PASSWORD=wrong-%s", SMTP_PASSWORD);
    const char *argv[] = {"mail", "test", "someone@example.com", NULL};
    assert_int_equal(lumi_run(argv, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 1);
    lacks(buf_cstr(&r.out), SMTP_PASSWORD);
    lacks(buf_cstr(&r.err), SMTP_PASSWORD);
    contains(buf_cstr(&r.err), "not sent");
    lumi_run_result_free(&r);
    bb_env_add("SMTP_PASSWORD=" SMTP_PASSWORD);
}

static void lumi_mail_test_prints_the_servers_answer(void **state)
{
    (void)state;
    struct lumi_run_result r;
    int from = smtpsink_count(C->sink);
    const char *argv[] = {"mail", "test", "Ops <ops@acme.example>", NULL};
    bb_run_out(argv, NULL, &r);
    contains(buf_cstr(&r.out), "server answered: 250");
    lumi_run_result_free(&r);
    json_t *m = arrived(&from, "Lumi test message");
    assert_string_equal(json_string_value(json_array_get(json_object_get(m, "rcpt_tos"), 0)),
                        "ops@acme.example");
    json_decref(m);
    smtpsink_set_reply(C->sink, "rcpt 550 5.1.1 No such user here");
    assert_int_equal(lumi_run(argv, bb_env(), NULL, &r), 0);
    assert_int_equal(r.exit_code, 1);
    contains(buf_cstr(&r.out), "550");
    contains(buf_cstr(&r.err), "No such user here");
    lumi_run_result_free(&r);
    smtpsink_set_reply(C->sink, NULL);
}

static void without_smtp_host_mail_is_recorded_not_sent(void **state)
{
    (void)state;
    bb_stop();
    bb_env_add("SMTP_HOST=");
    bb_serve();
    int stored = smtpsink_count(C->sink);
    int64_t inv = new_invoice("Recorded only");
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM emails WHERE entity = 'invoice' AND entity_id = '%" PRId64
             "' AND status = 'skipped' AND last_error LIKE '%%SMTP_HOST is not set%%'",
             inv);
    wait_count(1, sql);
    assert_int_equal(smtpsink_count(C->sink), stored);
    char cookie[256];
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie);
    struct http_result r = browse(bb_base_url(), "GET", "/admin/emails", cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    contains(buf_cstr(&r.body), "SMTP_HOST is not set");
    contains(buf_cstr(&r.body), "badge-warn\">skipped");
    http_result_free(&r);
    struct lumi_run_result out;
    const char *argv[] = {"mail", "test", "ops@acme.example", NULL};
    assert_int_equal(lumi_run(argv, bb_env(), NULL, &out), 0);
    assert_int_equal(out.exit_code, 1);
    contains(buf_cstr(&out.err), "SMTP_HOST is not set");
    lumi_run_result_free(&out);
    bb_stop();
    smtp_env();
    bb_serve();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_customer_journey_arrives_by_mail),
        cmocka_unit_test(smtp_down_loses_nothing_and_sends_each_once),
        cmocka_unit_test(a_4xx_is_retried_and_a_5xx_fails_with_the_servers_words),
        cmocka_unit_test(a_kill_while_sending_loses_nothing_and_sends_nothing_twice),
        cmocka_unit_test(lumi_mail_test_prints_the_servers_answer),
        cmocka_unit_test(without_smtp_host_mail_is_recorded_not_sent),
        cmocka_unit_test(lumi_cron_twice_sends_each_reminder_once),
        cmocka_unit_test(the_smtp_password_is_never_shown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
