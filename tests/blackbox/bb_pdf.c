/*
 * bb_pdf.c — invoices and credit notes as PDF documents, read back with
 * Debian's pdftotext (poppler-utils) as an accountant's software would:
 *   - the admin's PDF of an invoice names its number, the company, the
 *     client (Polish and Japanese names), every line, the tax rate and
 *     amount, the total and the payment's reference;
 *   - a 60-line invoice runs over several pages, every line on one of them,
 *     the table's header on each;
 *   - a client downloads their own invoice's PDF from the client area;
 *     another client's answers exactly as a missing one (404);
 *   - the invoice mail arrives at a real SMTP server with the PDF attached,
 *     and the attachment is that invoice;
 *   - a credit note's PDF, and the invoice's PDF listing it.
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

#include "core/utc.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/pdftext.h"
#include "support/smtpsink.h"

#define SECRET_KEY "5a1f0b9a5d7e2f4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1b"
#define ADMIN_EMAIL "admin@example.com"
#define ADMIN_PASSWORD "correct horse battery staple"
#define A_EMAIL "lukasz@example.com"
#define A_PASSWORD "Lukasz-Client-Password-1"
#define B_EMAIL "watanabe@example.com"
#define B_PASSWORD "Watanabe-Client-Password-1"
#define COMPANY "Acme Hosting GmbH"

struct ctx {
    struct smtpsink *sink;
    int64_t a_id, b_id;
};
static struct ctx *C;

static void exec_sql(const char *sql, int n, const char *const *params)
{
    struct lumi_err err;
    if (db_execp(bb_db(), sql, n, params, NULL, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static void set_setting(const char *key, const char *value)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    const char *p[] = {key, value, now};
    exec_sql("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)", 3, p);
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->sink = smtpsink_start(NULL);
    bb_init(SECRET_KEY);
    bb_env_add("SMTP_HOST=127.0.0.1");
    bb_env_add("SMTP_PORT=%d", smtpsink_port(C->sink));
    bb_env_add("SMTP_TLS=none");
    bb_env_add("SMTP_FROM=Acme Billing <billing@acme.example>");
    bb_env_add("LUMI_BASE_URL=https://billing.example.com");
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "pdf-test");
    /* The company profile as the settings hold it (read by key, registry or not). */
    set_setting("company.name", COMPANY);
    set_setting("company.address", "Hauptstraße 1\n10115 Berlin");
    set_setting("company.country", "DE");
    set_setting("company.tax_id", "DE123456789");
    set_setting("invoice.footer", "Acme Hosting GmbH · Amtsgericht Berlin HRB 1 · IBAN DE00 1234");
    bb_serve();
    C->a_id = bb_create_ok("/api/admin/clients",
                           "{\"email\":\"" A_EMAIL "\",\"password\":\"" A_PASSWORD
                           "\",\"first_name\":\"Łukasz\",\"last_name\":\"Wójcik\","
                           "\"address1\":\"ul. Długa 5\",\"city\":\"Kraków\",\"postcode\":"
                           "\"30-001\",\"country\":\"PL\"}");
    C->b_id = bb_create_ok("/api/admin/clients", "{\"email\":\"" B_EMAIL "\",\"password\":\"" B_PASSWORD
                                                 "\",\"first_name\":\"渡辺\",\"last_name\":\"\"}");
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

/* ---- helpers ---------------------------------------------------------------- */

static void has(const struct pdf_text *t, const char *needle)
{
    if (strstr(t->text, needle) == NULL) {
        fprintf(stderr, "---- the PDF's text ----\n%s\n----\n", t->text);
        fail_msg("'%s' is not in the PDF's text (printed above)", needle);
    }
}

/* GET path with the API token; must be a PDF named file. */
static struct pdf_text admin_pdf(const char *path, const char *file)
{
    struct http_result r = bb_api("GET", path, NULL);
    if (r.status != 200)
        fail_msg("GET %s answered %ld: %s", path, r.status, buf_cstr(&r.body));
    char *ct = http_header(&r, "Content-Type"), *cd = http_header(&r, "Content-Disposition");
    assert_non_null(ct);
    assert_non_null(cd);
    assert_string_equal(ct, "application/pdf");
    char want[128];
    snprintf(want, sizeof want, "filename=\"%s\"", file);
    if (strstr(cd, want) == NULL)
        fail_msg("Content-Disposition '%s' lacks %s", cd, want);
    assert_memory_equal(r.body.data, "%PDF-", 5);
    struct pdf_text t = pdf_read(r.body.data, r.body.len);
    free(ct);
    free(cd);
    http_result_free(&r);
    return t;
}

/* An invoice for client with the items JSON; its number into number. */
static int64_t invoice_with(int64_t client, const char *items, char number[32])
{
    struct buf body;
    buf_init(&body, 1 << 20);
    buf_printf(&body, "{\"client_id\":%" PRId64 ",\"currency\":\"eur\",\"due_date\":\"2027-01-15\","
                      "\"items\":%s}", client, items);
    int64_t id = bb_create_ok("/api/admin/invoices", buf_cstr(&body));
    buf_free(&body);
    json_t *inv = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, id);
    snprintf(number, 32, "%s", bb_str(inv, "number"));
    json_decref(inv);
    return id;
}

/* ---- tests ------------------------------------------------------------------- */

static void the_admin_pdf_shows_the_whole_invoice(void **state)
{
    (void)state;
    char number[32], path[96], file[64], id_text[24];
    int64_t id = invoice_with(C->a_id,
                              "[{\"description\":\"Managed VPS Łódź-1\",\"quantity\":2,"
                              "\"unit_amount\":2500},"
                              "{\"description\":\"渡辺 support plan — a long description that has "
                              "to wrap over more than one line in the description column of the "
                              "invoice table\",\"quantity\":1,\"unit_amount\":5000}]",
                              number);
    /* One applied rate, as the tax computation stores it: 19 % of 100.00 EUR. */
    snprintf(id_text, sizeof id_text, "%" PRId64, id);
    const char *p[] = {id_text};
    exec_sql("INSERT INTO invoice_taxes (invoice_id, name, country, region, rate_bp, inclusive,"
             " base, amount) VALUES ($1, 'VAT', 'DE', '', 1900, 0, 10000, 1900)", 1, p);
    exec_sql("UPDATE invoices SET tax = 1900, total = 11900 WHERE id = $1", 1, p);
    json_decref(bb_json("POST", "{\"amount\":5000,\"reference\":\"bank-4711\"}", 200,
                        "/api/admin/invoices/%" PRId64 "/payments", id));

    snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64 "/pdf", id);
    snprintf(file, sizeof file, "%s.pdf", number);
    struct pdf_text t = admin_pdf(path, file);
    has(&t, number);
    has(&t, COMPANY);
    has(&t, "DE123456789");
    has(&t, "Łukasz Wójcik");
    has(&t, "ul. Długa 5");
    has(&t, "30-001 Kraków");
    has(&t, "Managed VPS Łódź-1");
    has(&t, "渡辺 support plan");
    has(&t, "wrap over more than one line"); /* the long line, wrapped */
    has(&t, "25.00 EUR");     /* unit price */
    has(&t, "50.00 EUR");     /* line amount, and the amount paid */
    has(&t, "VAT 19.00 % (DE) on 100.00 EUR");
    has(&t, "19.00 EUR");
    has(&t, "119.00 EUR");
    has(&t, "69.00 EUR"); /* balance due */
    has(&t, "bank-4711");
    has(&t, "2027-01-15");
    has(&t, "Amtsgericht Berlin");
    assert_int_equal(t.pages, 1);
    free(t.text);

    /* the admin's invoice page links to it, and the link works with the page's session */
    char cookie[400], hdr[460], url[256];
    bb_admin_login(ADMIN_EMAIL, ADMIN_PASSWORD, cookie, sizeof cookie);
    snprintf(hdr, sizeof hdr, "Cookie: %s", cookie);
    const char *headers[] = {hdr, NULL};
    struct http_result r;
    snprintf(url, sizeof url, "%s/admin/invoices/%" PRId64, bb_base_url(), id);
    assert_int_equal(http_request("GET", url, headers, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), path));
    assert_non_null(strstr(buf_cstr(&r.body), "Download PDF"));
    http_result_free(&r);
    snprintf(url, sizeof url, "%s%s", bb_base_url(), path);
    assert_int_equal(http_request("GET", url, headers, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body.data, "%PDF-", 5);
    http_result_free(&r);
}

static void a_japanese_client_name_renders(void **state)
{
    (void)state;
    char number[32], path[96], file[64];
    int64_t id = invoice_with(C->b_id, "[{\"description\":\"ウェブホスティング\",\"quantity\":1,"
                                       "\"unit_amount\":1200}]",
                              number);
    snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64 "/pdf", id);
    snprintf(file, sizeof file, "%s.pdf", number);
    struct pdf_text t = admin_pdf(path, file);
    has(&t, "渡辺");
    has(&t, "ウェブホスティング");
    has(&t, "12.00 EUR");
    free(t.text);
}

static void a_long_invoice_runs_over_pages_with_every_line(void **state)
{
    (void)state;
    char number[32], path[96], file[64];
    struct buf items;
    buf_init(&items, 1 << 20);
    buf_append_char(&items, '[');
    for (int i = 1; i <= 60; i++)
        buf_printf(&items, "%s{\"description\":\"Backup slot no. %02d\",\"quantity\":%d,"
                           "\"unit_amount\":100}", i > 1 ? "," : "", i, i);
    buf_append_char(&items, ']');
    int64_t id = invoice_with(C->a_id, buf_cstr(&items), number);
    buf_free(&items);
    snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64 "/pdf", id);
    snprintf(file, sizeof file, "%s.pdf", number);
    struct pdf_text t = admin_pdf(path, file);
    assert_true(t.pages >= 2);
    for (int i = 1; i <= 60; i++) {
        char line[40];
        snprintf(line, sizeof line, "Backup slot no. %02d", i);
        has(&t, line);
    }
    has(&t, "1830.00 EUR"); /* Σ i × 1.00 for i = 1..60 */
    /* the table's header on every page that lists items */
    int with_items = 0;
    for (char *page = t.text, *end; *page != '\0'; page = end + 1) {
        end = strchr(page, '\f');
        if (end == NULL)
            break;
        *end = '\0';
        if (strstr(page, "Backup slot") != NULL) {
            with_items++;
            if (strstr(page, "Unit price") == NULL)
                fail_msg("a page of items has no table header:\n%s", page);
        }
        *end = '\f';
    }
    assert_true(with_items >= 2);
    has(&t, "(continued)");
    free(t.text);
}

static void a_client_downloads_only_their_own_pdf(void **state)
{
    (void)state;
    char a_number[32], b_number[32], cookie[400], url[256];
    int64_t a_inv = invoice_with(C->a_id, "[{\"description\":\"Own line\",\"quantity\":1,"
                                          "\"unit_amount\":700}]",
                                 a_number);
    int64_t b_inv = invoice_with(C->b_id, "[{\"description\":\"Secret line\",\"quantity\":1,"
                                          "\"unit_amount\":800}]",
                                 b_number);
    if (browse_login(bb_base_url(), "client", A_EMAIL, A_PASSWORD, cookie, sizeof cookie) != 303)
        fail_msg("client login failed");
    char hdr[460];
    snprintf(hdr, sizeof hdr, "Cookie: %s", cookie);
    const char *headers[] = {hdr, NULL};

    /* the invoice page links to it */
    struct http_result r;
    snprintf(url, sizeof url, "%s/client/invoices/%" PRId64, bb_base_url(), a_inv);
    assert_int_equal(http_request("GET", url, headers, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char link[64];
    snprintf(link, sizeof link, "/client/invoices/%" PRId64 "/pdf", a_inv);
    assert_non_null(strstr(buf_cstr(&r.body), link));
    http_result_free(&r);

    snprintf(url, sizeof url, "%s/client/invoices/%" PRId64 "/pdf", bb_base_url(), a_inv);
    assert_int_equal(http_request("GET", url, headers, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char *ct = http_header(&r, "Content-Type");
    assert_string_equal(ct, "application/pdf");
    free(ct);
    struct pdf_text t = pdf_read(r.body.data, r.body.len);
    has(&t, a_number);
    has(&t, "Own line");
    free(t.text);
    http_result_free(&r);

    /* another client's invoice and a missing one: the same 404 page */
    struct http_result other, missing;
    snprintf(url, sizeof url, "%s/client/invoices/%" PRId64 "/pdf", bb_base_url(), b_inv);
    assert_int_equal(http_request("GET", url, headers, NULL, &other), 0);
    snprintf(url, sizeof url, "%s/client/invoices/%" PRId64 "/pdf", bb_base_url(), b_inv + 100000);
    assert_int_equal(http_request("GET", url, headers, NULL, &missing), 0);
    assert_int_equal(other.status, 404);
    assert_int_equal(missing.status, 404);
    assert_null(strstr(buf_cstr(&other.body), "Secret line"));
    assert_null(strstr(buf_cstr(&other.body), b_number));
    assert_string_equal(buf_cstr(&other.body), buf_cstr(&missing.body));
    http_result_free(&other);
    http_result_free(&missing);

    /* without a session: to the login */
    assert_int_equal(http_request("GET", url, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 303);
    http_result_free(&r);

    /* the admin API's answer for a missing invoice */
    r = bb_apif("GET", NULL, "/api/admin/invoices/%" PRId64 "/pdf", b_inv + 100000);
    assert_int_equal(r.status, 404);
    assert_string_equal(http_error_code(&r), "not_found");
    http_result_free(&r);
}

/* The first message stored from index from whose subject contains s; waits up to 20 s. */
static int arrived(int from, const char *subject_part)
{
    for (int waited = 0; waited < 20000; waited += 100) {
        for (int i = from; i < smtpsink_count(C->sink); i++) {
            json_t *m = smtpsink_message(C->sink, i);
            const char *subj = json_string_value(json_object_get(m, "subject"));
            bool hit = subj != NULL && strstr(subj, subject_part) != NULL;
            json_decref(m);
            if (hit)
                return i;
        }
        bb_sleep_ms(100);
    }
    fail_msg("no message with '%s' in its subject arrived", subject_part);
    return -1;
}

/* The first attachment of stored message i, decoded by Python's email package. */
static struct pdf_text attached_pdf(int i)
{
    size_t len = 0;
    char *raw = smtpsink_raw(C->sink, i, &len);
    char eml[] = "/tmp/lumi-bb-eml-XXXXXX", pdf[] = "/tmp/lumi-bb-att-XXXXXX";
    int fd = mkstemp(eml);
    assert_true(fd >= 0 && write(fd, raw, len) == (ssize_t)len);
    close(fd);
    free(raw);
    fd = mkstemp(pdf);
    close(fd);
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import sys,email,email.policy as p;"
             "m=email.message_from_binary_file(open(sys.argv[1],'rb'),policy=p.default);"
             "a=next(m.iter_attachments());open(sys.argv[2],'wb').write(a.get_payload(decode=True))\""
             " %s %s",
             eml, pdf);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(pdf, "rb");
    assert_non_null(f);
    static char data[8 << 20];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    unlink(eml);
    unlink(pdf);
    return pdf_read(data, n);
}

static void the_invoice_mail_carries_the_pdf(void **state)
{
    (void)state;
    char number[32];
    int from = smtpsink_count(C->sink);
    invoice_with(C->a_id, "[{\"description\":\"Mailed line\",\"quantity\":1,\"unit_amount\":990}]",
                 number);
    int i = arrived(from, number);
    json_t *m = smtpsink_message(C->sink, i);
    json_t *atts = json_object_get(m, "attachments");
    assert_int_equal(json_array_size(atts), 1);
    json_t *a = json_array_get(atts, 0);
    char want[64];
    snprintf(want, sizeof want, "%s.pdf", number);
    assert_string_equal(json_string_value(json_object_get(a, "filename")), want);
    assert_string_equal(json_string_value(json_object_get(a, "content_type")), "application/pdf");
    assert_true(json_integer_value(json_object_get(a, "size")) > 1000);
    assert_int_equal(json_array_size(json_object_get(m, "defects")), 0);
    json_decref(m);
    struct pdf_text t = attached_pdf(i);
    has(&t, number);
    has(&t, "Mailed line");
    has(&t, "Łukasz Wójcik");
    free(t.text);
}

static void a_credit_note_has_its_own_pdf(void **state)
{
    (void)state;
    char number[32], id_text[24], client_text[24], now[UTC_ISO_LEN], path[96];
    int64_t inv = invoice_with(C->a_id, "[{\"description\":\"Refunded line\",\"quantity\":1,"
                                        "\"unit_amount\":3000}]",
                               number);
    snprintf(id_text, sizeof id_text, "%" PRId64, inv);
    snprintf(client_text, sizeof client_text, "%" PRId64, C->a_id);
    utc_now_iso(now);
    const char *p[] = {id_text, client_text, now};
    exec_sql("INSERT INTO credit_notes (number, invoice_id, client_id, currency, amount, tax,"
             " reason, created_at) VALUES ('CN-2026-000001', $1, $2, 'eur', 1200, 0,"
             " 'Service outage — goodwill credit', $3)", 3, p);
    int64_t cn = bb_count("SELECT MAX(id) FROM credit_notes");
    snprintf(path, sizeof path, "/api/admin/credit-notes/%" PRId64 "/pdf", cn);
    struct pdf_text t = admin_pdf(path, "CN-2026-000001.pdf");
    has(&t, "Credit note");
    has(&t, "CN-2026-000001");
    has(&t, number);
    has(&t, "Service outage — goodwill credit");
    has(&t, "12.00 EUR");
    has(&t, COMPANY);
    has(&t, "Łukasz Wójcik");
    free(t.text);

    snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64 "/pdf", inv);
    char file[64];
    snprintf(file, sizeof file, "%s.pdf", number);
    t = admin_pdf(path, file);
    has(&t, "Credit notes");
    has(&t, "CN-2026-000001");
    free(t.text);

    struct http_result r = bb_apif("GET", NULL, "/api/admin/credit-notes/%" PRId64 "/pdf", cn + 50);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_admin_pdf_shows_the_whole_invoice),
        cmocka_unit_test(a_japanese_client_name_renders),
        cmocka_unit_test(a_long_invoice_runs_over_pages_with_every_line),
        cmocka_unit_test(a_client_downloads_only_their_own_pdf),
        cmocka_unit_test(the_invoice_mail_carries_the_pdf),
        cmocka_unit_test(a_credit_note_has_its_own_pdf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
