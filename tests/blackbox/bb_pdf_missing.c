/*
 * bb_pdf_missing.c — `lumi serve` whose PDF module cannot be loaded
 * (LUMI_PDF_MODULE names a file that does not exist), as an admin who
 * forgot to install lumi-pdf.so would meet it:
 *   - the admin's invoice and credit-note PDFs answer 503 "unavailable"
 *     with a message naming the path tried and why it failed, each time,
 *     while everything else keeps working (the invoice's JSON, /healthz);
 *   - the client area's PDF link answers a 503 page that says the PDF is
 *     unavailable for now, without the server's paths;
 *   - the invoice mail, which would carry the PDF, is not sent without it:
 *     it waits for another attempt with the reason as its last error;
 *   - the server logs the failure once (pdf.module_unavailable), not per
 *     request, and stops cleanly.
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

#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/smtpsink.h"

#define SECRET_KEY "6b2f1c0a5d7e2f4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1c"
#define ADMIN_EMAIL "admin@example.com"
#define ADMIN_PASSWORD "correct horse battery staple"
#define CLIENT_EMAIL "anna@example.com"
#define CLIENT_PASSWORD "Anna-Client-Password-1"
#define MISSING "/nonexistent/lumi-pdf-test/lumi-pdf.so"

struct ctx {
    struct smtpsink *sink;
    int64_t client;
    int64_t invoice;
};
static struct ctx *C;

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->sink = smtpsink_start(NULL);
    bb_init(SECRET_KEY);
    bb_env_add("LUMI_PDF_MODULE=" MISSING);
    bb_env_add("SMTP_HOST=127.0.0.1");
    bb_env_add("SMTP_PORT=%d", smtpsink_port(C->sink));
    bb_env_add("SMTP_TLS=none");
    bb_env_add("SMTP_FROM=Acme Billing <billing@acme.example>");
    bb_env_add("LUMI_MAIL_RETRY_S=1");
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "pdf-missing-test");
    bb_serve();
    C->client = bb_create_ok("/api/admin/clients",
                             "{\"email\":\"" CLIENT_EMAIL "\",\"password\":\"" CLIENT_PASSWORD
                             "\",\"first_name\":\"Anna\",\"last_name\":\"Nowak\"}");
    char body[256];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"eur\",\"due_date\":\"2027-01-15\","
             "\"items\":[{\"description\":\"Hosting\",\"quantity\":1,\"unit_amount\":1500}]}",
             C->client);
    C->invoice = bb_create_ok("/api/admin/invoices", body);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    smtpsink_stop(C->sink);
    free(C);
    return status == 0 ? 0 : -1;
}

static void contains(const char *text, const char *needle)
{
    if (text == NULL || strstr(text, needle) == NULL)
        fail_msg("'%s' is not in: %s", needle, text != NULL ? text : "(null)");
}

/* GET path: 503 "unavailable" whose message names the module's path and the reason. */
static void unavailable(const char *path)
{
    struct http_result r = bb_api("GET", path, NULL);
    if (r.status != 503)
        fail_msg("GET %s answered %ld, not 503: %s", path, r.status, buf_cstr(&r.body));
    assert_string_equal(http_error_code(&r), "unavailable");
    contains(buf_cstr(&r.body), "PDF module could not be loaded");
    contains(buf_cstr(&r.body), MISSING);
    contains(buf_cstr(&r.body), "No such file or directory");
    contains(buf_cstr(&r.body), "LUMI_PDF_MODULE");
    http_result_free(&r);
}

/* ---- tests ------------------------------------------------------------------- */

static void the_admin_pdfs_answer_503_naming_the_module(void **state)
{
    (void)state;
    char path[96];
    snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64 "/pdf", C->invoice);
    unavailable(path);
    unavailable(path); /* not a one-off: every document, until a restart */

    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO credit_notes (number, invoice_id, client_id, currency, amount, tax,"
             " reason, created_at) VALUES ('CN-TEST-1', %" PRId64 ", %" PRId64
             ", 'eur', 500, 0, 'goodwill', '2026-12-01T00:00:00Z')",
             C->invoice, C->client);
    struct lumi_err err;
    if (db_exec(bb_db(), sql, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    int64_t cn = bb_count("SELECT MAX(id) FROM credit_notes");
    snprintf(path, sizeof path, "/api/admin/credit-notes/%" PRId64 "/pdf", cn);
    unavailable(path);

    /* the rest of the server is unaffected */
    json_decref(bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, C->invoice));
    struct http_result r = bb_api("GET", "/healthz", NULL);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
}

static void the_client_sees_unavailable_without_paths(void **state)
{
    (void)state;
    char cookie[400], url[256], hdr[460];
    if (browse_login(bb_base_url(), "client", CLIENT_EMAIL, CLIENT_PASSWORD, cookie,
                     sizeof cookie) != 303)
        fail_msg("client login failed");
    snprintf(hdr, sizeof hdr, "Cookie: %s", cookie);
    const char *headers[] = {hdr, NULL};
    snprintf(url, sizeof url, "%s/client/invoices/%" PRId64 "/pdf", bb_base_url(), C->invoice);
    struct http_result r;
    assert_int_equal(http_request("GET", url, headers, NULL, &r), 0);
    assert_int_equal(r.status, 503);
    contains(buf_cstr(&r.body), "cannot be made at the moment");
    assert_null(strstr(buf_cstr(&r.body), MISSING));
    http_result_free(&r);
}

static void the_invoice_mail_waits_for_its_pdf(void **state)
{
    (void)state;
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM emails WHERE entity = 'invoice' AND CAST(entity_id AS BIGINT)"
             " = %" PRId64 " AND status = 'queued' AND attempts >= 1"
             " AND last_error LIKE '%%PDF module could not be loaded%%'",
             C->invoice);
    int i;
    for (i = 0; i < 300 && bb_count("%s", sql) != 1; i++)
        bb_sleep_ms(100);
    if (i == 300)
        fail_msg("the invoice mail did not wait for another attempt: '%s' is %" PRId64, sql,
                 bb_count("%s", sql));
    /* nothing about the invoice went out without its PDF */
    json_t *inv = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, C->invoice);
    for (int k = 0; k < smtpsink_count(C->sink); k++) {
        json_t *m = smtpsink_message(C->sink, k);
        const char *subj = json_string_value(json_object_get(m, "subject"));
        if (subj != NULL && strstr(subj, bb_str(inv, "number")) != NULL)
            fail_msg("the invoice mail was sent without its PDF: %s", subj);
        json_decref(m);
    }
    json_decref(inv);
}

static void the_failure_is_logged_once(void **state)
{
    (void)state;
    char *log = lumi_server_log(bb_server());
    assert_non_null(log);
    const char *first = strstr(log, "event=pdf.module_unavailable");
    if (first == NULL)
        fail_msg("no pdf.module_unavailable in the server log:\n%s", log);
    assert_null(strstr(first + 1, "event=pdf.module_unavailable"));
    contains(first, MISSING);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_admin_pdfs_answer_503_naming_the_module),
        cmocka_unit_test(the_client_sees_unavailable_without_paths),
        cmocka_unit_test(the_invoice_mail_waits_for_its_pdf),
        cmocka_unit_test(the_failure_is_logged_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
