/*
 * bb_credit_notes.c — company details frozen on invoices and credit notes,
 * end to end through the real binary (`lumi serve`), the fake Stripe and
 * the fake PayPal over real HTTP:
 * - an admin's credit note (POST /api/admin/invoices/{id}/credit-notes) is
 *   numbered CN-<year>-000001…, carries the invoice's seller and buyer, is
 *   audited, and is refused with 400 naming the field when it asks more than
 *   was paid minus the earlier notes — without using up a number; its tax
 *   part is in proportion to the invoice's tax, rounded half away from zero;
 * - a Stripe charge.refunded and a PayPal PAYMENT.CAPTURE.REFUNDED each make
 *   one credit note of the refunded amount in the refund's transaction; a
 *   replayed delivery makes none; a chargeback makes none but what it took
 *   can no longer be credited;
 * - the seller (company settings) and buyer (the client's address) frozen on
 *   an invoice survive a later change of both; an issued invoice cannot be
 *   changed (PATCH/PUT refused, items and totals as they were);
 * - the admin invoice page lists the notes and issues one through its form
 *   (CSRF needed; a refusal is shown with its message); the client's invoice
 *   page lists them.
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
#include <time.h>

#include "fakes/fake_paypal.h"
#include "fakes/fake_stripe.h"
#include "gateways/stripe_sig.h"
#include "support/bbenv.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/testdb.h"

#define SECRET_KEY "6c1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define ADMIN_EMAIL "cn-admin@example.com"
#define ADMIN_PASSWORD "Credit-Notes-Admin-Password-1"
#define CLIENT_EMAIL "lukasz@example.com"
#define CLIENT_PASSWORD "Client-Password-Lukasz-1"
#define STRIPE_KEY "sk_test_bbCreditNotes0123456789"
#define WHSEC "whsec_bb_credit_notes"
#define PP_CLIENT "bb-cn-paypal-client"
#define PP_SECRET "bb-cn-paypal-secret"
#define PP_WEBHOOK "WH-BB-CN-0001"

struct ctx {
    struct fake_stripe *stripe;
    struct fake_paypal *pp;
    int64_t client_id;
    char session[200], csrf[80];
    char year[16];
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static int64_t plain_invoice(int64_t amount)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":"
             "\"Hosting\",\"quantity\":1,\"unit_amount\":%" PRId64 "}]}",
             C->client_id, amount);
    return bb_create_ok("/api/admin/invoices", body);
}

static void pay_manually(int64_t inv, int64_t amount, const char *ref)
{
    char body[200];
    snprintf(body, sizeof body, "{\"amount\":%" PRId64 ",\"reference\":\"%s\"}", amount, ref);
    json_t *r = bb_json("POST", body, 200, "/api/admin/invoices/%" PRId64 "/payments", inv);
    json_decref(r);
}

/* POST a credit note; expects status; answers the JSON (caller decrefs). */
static json_t *credit(int64_t inv, const char *body, long status)
{
    return bb_json("POST", body, status, "/api/admin/invoices/%" PRId64 "/credit-notes", inv);
}

static int64_t notes_of(int64_t inv)
{
    return bb_count("SELECT COUNT(*) FROM credit_notes WHERE invoice_id = %" PRId64, inv);
}

static int64_t cn_sequence(void)
{
    return bb_count("SELECT COALESCE(MAX(last_value), 0) FROM doc_sequences"
                    " WHERE scope LIKE 'credit_note%%'");
}

static const char *error_message(const json_t *answer)
{
    const char *m = json_string_value(json_object_get(json_object_get(answer, "error"), "message"));
    return m != NULL ? m : "";
}

static void stripe_deliver(const char *body, const char *outcome)
{
    char url[128], sig[STRIPE_SIG_HEADER_LEN + 32];
    snprintf(url, sizeof url, "%s/api/stripe/webhook", bb_base_url());
    char *s = fake_stripe_sign(C->stripe, body, (int64_t)time(NULL));
    snprintf(sig, sizeof sig, "Stripe-Signature: %s", s);
    free(s);
    const char *headers[] = {"Content-Type: application/json", sig, NULL};
    struct http_result r;
    if (http_request("POST", url, headers, body, &r) != 0)
        fail_msg("stripe webhook: no answer");
    if (r.status != 200 || strcmp(bb_str(r.json, "status"), outcome) != 0)
        fail_msg("stripe webhook: want 200 %s, got %ld %s", outcome, r.status, buf_cstr(&r.body));
    http_result_free(&r);
}

static void paypal_deliver(const char *body, const char *outcome)
{
    char url[128];
    char h[5][PAYPAL_SIG_B64_MAX + 64];
    struct fake_paypal_sig sig;
    struct paypal_sig_headers ph;
    assert_int_equal(fake_paypal_sign(C->pp, body, strlen(body), PP_WEBHOOK, &sig), 0);
    fake_paypal_sig_headers(&sig, &ph);
    snprintf(url, sizeof url, "%s/api/paypal/webhook", bb_base_url());
    snprintf(h[0], sizeof h[0], "PAYPAL-TRANSMISSION-ID: %s", ph.transmission_id);
    snprintf(h[1], sizeof h[1], "PAYPAL-TRANSMISSION-TIME: %s", ph.transmission_time);
    snprintf(h[2], sizeof h[2], "PAYPAL-CERT-URL: %s", ph.cert_url);
    snprintf(h[3], sizeof h[3], "PAYPAL-AUTH-ALGO: %s", ph.auth_algo);
    snprintf(h[4], sizeof h[4], "PAYPAL-TRANSMISSION-SIG: %s", ph.transmission_sig);
    const char *headers[] = {"Content-Type: application/json", h[0], h[1], h[2], h[3], h[4], NULL};
    struct http_result r;
    if (http_request("POST", url, headers, body, &r) != 0)
        fail_msg("paypal webhook: no answer");
    if (r.status != 200 || strcmp(bb_str(r.json, "status"), outcome) != 0)
        fail_msg("paypal webhook: want 200 %s, got %ld %s", outcome, r.status, buf_cstr(&r.body));
    http_result_free(&r);
}

static struct http_result as_admin(const char *method, const char *path, const char *form)
{
    return browse(bb_base_url(), method, path, C->session, form, NULL);
}

static void assert_has(const char *body, const char *needle)
{
    if (strstr(body, needle) == NULL)
        fail_msg("answer lacks '%s':\n%.4000s", needle, body);
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->stripe = fake_stripe_start(STRIPE_KEY, WHSEC);
    C->pp = fake_paypal_start(PP_CLIENT, PP_SECRET, PP_WEBHOOK);
    bb_init(SECRET_KEY);
    bb_env_add("STRIPE_SECRET_KEY=%s", STRIPE_KEY);
    bb_env_add("STRIPE_WEBHOOK_SECRET=%s", WHSEC);
    bb_env_add("STRIPE_API_BASE=%s", fake_stripe_url(C->stripe));
    bb_env_add("PAYPAL_CLIENT_ID=%s", PP_CLIENT);
    bb_env_add("PAYPAL_CLIENT_SECRET=%s", PP_SECRET);
    bb_env_add("PAYPAL_WEBHOOK_ID=%s", PP_WEBHOOK);
    bb_env_add("PAYPAL_API_BASE=%s", fake_paypal_url(C->pp));
    bb_env_add("LUMI_CA_FILE=%s", fake_paypal_ca_file(C->pp));
    bb_env_add("PAYPAL_CERT_HOSTS=localhost");
    bb_env_add("PAYPAL_WEBHOOK_VERIFY=api");
    bb_prepare(ADMIN_EMAIL, ADMIN_PASSWORD, "credit-notes-test");
    bb_serve();
    json_t *s = bb_json("PATCH",
                        "{\"company.name\":\"Acme Hosting GmbH\",\"company.address\":"
                        "\"Hauptstraße 1\\r\\n10115 Berlin\",\"company.country\":\"de\","
                        "\"company.tax_id\":\"DE123456789\",\"company.email\":"
                        "\"billing@acme.example\"}",
                        200, "/api/admin/settings");
    json_decref(s);
    C->client_id = bb_create_ok(
        "/api/admin/clients",
        "{\"email\":\"" CLIENT_EMAIL "\",\"password\":\"" CLIENT_PASSWORD "\","
        "\"first_name\":\"Łukasz\",\"last_name\":\"Wójcik\",\"company\":\"Wójcik Sp. z o.o.\","
        "\"address1\":\"ul. Długa 5\",\"city\":\"Gdańsk\",\"postcode\":\"80-827\","
        "\"country\":\"PL\"}");
    assert_int_equal(browse_login(bb_base_url(), "admin", ADMIN_EMAIL, ADMIN_PASSWORD, C->session,
                                  sizeof C->session),
                     303);
    browse_csrf(bb_base_url(), C->session, "/admin/settings", C->csrf);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(C->year, sizeof C->year, "%04d", tm.tm_year + 1900);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_stripe_stop(C->stripe);
    fake_paypal_stop(C->pp);
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

static void manual_credit_note_within_what_was_paid(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(3000);
    /* Nothing paid yet: nothing to credit, and no number used. */
    json_t *r = credit(inv, "{\"amount\":100,\"reason\":\"Goodwill\"}", 400);
    if (strstr(error_message(r), "amount") == NULL)
        fail_msg("message does not name the field: %s", error_message(r));
    json_decref(r);
    pay_manually(inv, 3000, "bank-cn-1");
    int64_t audits = bb_audit_count("CREDIT_NOTE_CREATED");

    r = credit(inv, "{\"amount\":1000,\"reason\":\"Two days of downtime\"}", 201);
    char want[32];
    snprintf(want, sizeof want, "CN-%s-000001", C->year);
    assert_string_equal(bb_str(r, "number"), want);
    assert_int_equal(bb_int(r, "amount"), 1000);
    assert_int_equal(bb_int(r, "tax"), 0);
    assert_int_equal(bb_int(r, "invoice_id"), inv);
    assert_string_equal(bb_str(r, "currency"), "usd");
    assert_string_equal(bb_str(r, "reason"), "Two days of downtime");
    assert_true(json_is_null(json_object_get(r, "transaction_id")));
    assert_string_equal(bb_str(json_object_get(r, "seller"), "name"), "Acme Hosting GmbH");
    assert_string_equal(bb_str(json_object_get(r, "buyer"), "name"), "Łukasz Wójcik");
    int64_t first = bb_int(r, "id");
    json_decref(r);
    assert_int_equal(bb_audit_count("CREDIT_NOTE_CREATED"), audits + 1);

    /* 2001 is more than the 3000 paid minus the 1000 already credited: refused, naming it. */
    int64_t seq = cn_sequence();
    r = credit(inv, "{\"amount\":2001,\"reason\":\"Too much\"}", 400);
    assert_string_equal(bb_str(json_object_get(r, "error"), "code"), "invalid_request");
    if (strstr(error_message(r), "field 'amount'") == NULL ||
        strstr(error_message(r), "at most 2000") == NULL)
        fail_msg("unclear refusal: %s", error_message(r));
    json_decref(r);
    assert_int_equal(notes_of(inv), 1);
    assert_int_equal(cn_sequence(), seq); /* the number was given back */
    assert_int_equal(bb_audit_count("CREDIT_NOTE_CREATED"), audits + 1);

    /* Bad bodies name their field; an unknown invoice is 404. */
    r = credit(inv, "{\"amount\":10}", 400);
    assert_non_null(strstr(error_message(r), "reason"));
    json_decref(r);
    r = credit(inv, "{\"amount\":0,\"reason\":\"x\"}", 400);
    assert_non_null(strstr(error_message(r), "amount"));
    json_decref(r);
    r = credit(inv, "{\"amount\":10,\"reason\":\"x\",\"tax\":1}", 400);
    json_decref(r);
    r = credit(999999, "{\"amount\":10,\"reason\":\"x\"}", 404);
    json_decref(r);

    /* The rest exactly: accepted, the next number. */
    r = credit(inv, "{\"amount\":2000,\"reason\":\"Service cancelled\"}", 201);
    snprintf(want, sizeof want, "CN-%s-000002", C->year);
    assert_string_equal(bb_str(r, "number"), want);
    json_decref(r);

    /* The invoice lists its notes; the list and one note answer through the API. */
    json_t *invj = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, inv);
    json_t *notes = json_object_get(invj, "credit_notes");
    assert_int_equal(json_array_size(notes), 2);
    assert_int_equal(bb_int(json_array_get(notes, 0), "id"), first);
    assert_int_equal(bb_int(json_array_get(notes, 1), "amount"), 2000);
    /* The invoice itself is as it was issued. */
    assert_int_equal(bb_int(invj, "total"), 3000);
    assert_int_equal(bb_int(invj, "amount_paid"), 3000);
    json_decref(invj);
    json_t *list = bb_json("GET", NULL, 200, "/api/admin/credit-notes");
    assert_true(json_array_size(json_object_get(list, "data")) >= 2);
    json_decref(list);
    json_t *one = bb_json("GET", NULL, 200, "/api/admin/credit-notes/%" PRId64, first);
    assert_int_equal(bb_int(one, "amount"), 1000);
    assert_string_equal(bb_str(json_object_get(one, "seller"), "tax_id"), "DE123456789");
    json_decref(one);
    json_decref(bb_json("GET", NULL, 404, "/api/admin/credit-notes/999999"));
}

static void tax_part_is_proportional_and_rounded_half_away_from_zero(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(3570);
    /* An invoice of 3000 net + 570 tax (19 %), as the tax module will write it. */
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE invoices SET subtotal = 3000, tax = 570 WHERE id = %" PRId64,
             inv);
    testdb_exec(bb_db(), sql);
    pay_manually(inv, 3570, "bank-cn-tax");
    /* 1000 × 570 / 3570 = 159.66… → 160 */
    json_t *r = credit(inv, "{\"amount\":1000,\"reason\":\"Partial\"}", 201);
    assert_int_equal(bb_int(r, "tax"), 160);
    json_decref(r);
    /* 357 × 570 / 3570 = 57 exactly; 5 × 570 / 3570 = 0.798… → 1 */
    r = credit(inv, "{\"amount\":357,\"reason\":\"Partial\"}", 201);
    assert_int_equal(bb_int(r, "tax"), 57);
    json_decref(r);
    r = credit(inv, "{\"amount\":5,\"reason\":\"Partial\"}", 201);
    assert_int_equal(bb_int(r, "tax"), 1);
    json_decref(r);
    /* 1 × 1 / 2 = 0.5 → 1 (half away from zero) */
    int64_t half = plain_invoice(2);
    snprintf(sql, sizeof sql, "UPDATE invoices SET subtotal = 1, tax = 1 WHERE id = %" PRId64,
             half);
    testdb_exec(bb_db(), sql);
    pay_manually(half, 2, "bank-cn-half");
    r = credit(half, "{\"amount\":1,\"reason\":\"Half\"}", 201);
    assert_int_equal(bb_int(r, "tax"), 1);
    json_decref(r);
}

static void stripe_refund_makes_one_credit_note(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(3000);
    char body[64];
    snprintf(body, sizeof body, "{\"invoice_id\":%" PRId64 "}", inv);
    json_t *co = bb_json("POST", body, 200, "/api/stripe/checkout");
    char cs[128];
    snprintf(cs, sizeof cs, "%s", bb_str(co, "session_id"));
    json_decref(co);
    fake_stripe_complete(C->stripe, cs, true);
    char *completed = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    stripe_deliver(completed, "processed");
    free(completed);
    int64_t audits = bb_audit_count("CREDIT_NOTE_CREATED");

    char *refund = fake_stripe_event_refund(C->stripe, cs, 1000, NULL);
    stripe_deliver(refund, "processed");
    assert_int_equal(notes_of(inv), 1);
    assert_int_equal(bb_count("SELECT amount FROM credit_notes WHERE invoice_id = %" PRId64, inv),
                     1000);
    /* It documents the refund's transaction. */
    assert_int_equal(bb_count("SELECT COUNT(*) FROM credit_notes n JOIN transactions t"
                              " ON t.id = n.transaction_id WHERE t.kind = 'refund'"
                              " AND t.gateway = 'stripe' AND n.invoice_id = %" PRId64,
                              inv),
                     1);
    /* Stripe delivers the same event again: no second note. */
    stripe_deliver(refund, "duplicate");
    assert_int_equal(notes_of(inv), 1);
    assert_int_equal(bb_audit_count("CREDIT_NOTE_CREATED"), audits + 1);
    free(refund);
    /* The rest (cumulative 3000): a second note of 2000. */
    refund = fake_stripe_event_refund(C->stripe, cs, 3000, NULL);
    stripe_deliver(refund, "processed");
    free(refund);
    assert_int_equal(notes_of(inv), 2);
    assert_int_equal(
        bb_count("SELECT SUM(amount) FROM credit_notes WHERE invoice_id = %" PRId64, inv), 3000);
    json_t *invj = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, inv);
    assert_int_equal(json_array_size(json_object_get(invj, "credit_notes")), 2);
    assert_non_null(strstr(
        bb_str(json_array_get(json_object_get(invj, "credit_notes"), 0), "reason"), "stripe"));
    json_decref(invj);
    /* Refunds used up what was paid: an admin cannot credit more on top. */
    json_decref(credit(inv, "{\"amount\":1,\"reason\":\"More\"}", 400));
}

static void chargeback_makes_no_note_but_leaves_nothing_to_credit(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(2500);
    char body[64];
    snprintf(body, sizeof body, "{\"invoice_id\":%" PRId64 "}", inv);
    json_t *co = bb_json("POST", body, 200, "/api/stripe/checkout");
    char cs[128];
    snprintf(cs, sizeof cs, "%s", bb_str(co, "session_id"));
    json_decref(co);
    fake_stripe_complete(C->stripe, cs, true);
    char *completed = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    stripe_deliver(completed, "processed");
    free(completed);
    char *dispute = fake_stripe_event_dispute(C->stripe, cs, 2000, NULL);
    stripe_deliver(dispute, "processed");
    free(dispute);
    /* A dispute is not a refund: no credit note; 500 of the 2500 is still held. */
    assert_int_equal(notes_of(inv), 0);
    json_t *r = credit(inv, "{\"amount\":501,\"reason\":\"After dispute\"}", 400);
    if (strstr(error_message(r), "at most 500 ") == NULL ||
        strstr(error_message(r), "2000 refunded") == NULL)
        fail_msg("unclear refusal: %s", error_message(r));
    json_decref(r);
    json_decref(credit(inv, "{\"amount\":500,\"reason\":\"After dispute\"}", 201));
}

static void paypal_refund_makes_one_credit_note(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(2000);
    char body[64];
    snprintf(body, sizeof body, "{\"invoice_id\":%" PRId64 "}", inv);
    json_t *co = bb_json("POST", body, 200, "/api/paypal/checkout");
    char oid[128];
    snprintf(oid, sizeof oid, "%s", bb_str(co, "order_id"));
    json_decref(co);
    assert_int_equal(fake_paypal_approve(C->pp, oid), 0);
    char url[300];
    snprintf(url, sizeof url, "%s/api/paypal/capture?token=%s", bb_base_url(), oid);
    struct http_result r;
    assert_int_equal(http_request("GET", url, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    json_t *o = fake_paypal_order_json(C->pp, oid);
    const json_t *pu = json_array_get(json_object_get(o, "purchase_units"), 0);
    char cap[128];
    snprintf(cap, sizeof cap, "%s",
             bb_str(json_array_get(json_object_get(json_object_get(pu, "payments"), "captures"), 0),
                    "id"));
    json_decref(o);

    char *refund =
        fake_paypal_event_refund(C->pp, "PAYMENT.CAPTURE.REFUNDED", cap, 500, "USD", NULL);
    paypal_deliver(refund, "processed");
    assert_int_equal(notes_of(inv), 1);
    assert_int_equal(bb_count("SELECT amount FROM credit_notes WHERE invoice_id = %" PRId64, inv),
                     500);
    paypal_deliver(refund, "duplicate");
    assert_int_equal(notes_of(inv), 1);
    free(refund);
}

static void frozen_parties_survive_later_changes_and_invoices_do_not_change(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(1500);
    json_t *before = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, inv);
    assert_string_equal(bb_str(before, "kind"), "standard");
    json_t *seller = json_object_get(before, "seller"), *buyer = json_object_get(before, "buyer");
    assert_string_equal(bb_str(seller, "name"), "Acme Hosting GmbH");
    assert_string_equal(bb_str(seller, "address"), "Hauptstraße 1\n10115 Berlin");
    assert_string_equal(bb_str(seller, "country"), "DE");
    assert_string_equal(bb_str(seller, "tax_id"), "DE123456789");
    assert_string_equal(bb_str(seller, "email"), "billing@acme.example");
    assert_string_equal(bb_str(buyer, "name"), "Łukasz Wójcik");
    assert_string_equal(bb_str(buyer, "company"), "Wójcik Sp. z o.o.");
    assert_string_equal(bb_str(buyer, "email"), CLIENT_EMAIL);
    assert_string_equal(bb_str(buyer, "address1"), "ul. Długa 5");
    assert_string_equal(bb_str(buyer, "city"), "Gdańsk");
    assert_string_equal(bb_str(buyer, "country"), "PL");

    /* The company moves and the client too. */
    json_decref(bb_json("PATCH",
                        "{\"company.name\":\"Acme Hosting AG\",\"company.address\":\"Neuweg 9\","
                        "\"company.country\":\"AT\"}",
                        200, "/api/admin/settings"));
    json_decref(bb_json("PATCH", "{\"address1\":\"ul. Nowa 1\",\"city\":\"Sopot\"}", 200,
                        "/api/admin/clients/%" PRId64, C->client_id));
    json_t *after = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, inv);
    assert_true(json_equal(json_object_get(after, "seller"), seller));
    assert_true(json_equal(json_object_get(after, "buyer"), buyer));
    /* A new invoice has the new details. */
    int64_t inv2 = plain_invoice(100);
    json_t *fresh = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, inv2);
    assert_string_equal(bb_str(json_object_get(fresh, "seller"), "name"), "Acme Hosting AG");
    assert_string_equal(bb_str(json_object_get(fresh, "buyer"), "city"), "Sopot");
    json_decref(fresh);

    /* An issued invoice cannot be changed: no route writes its items or totals. */
    static const char *const methods[] = {"PATCH", "PUT", "DELETE"};
    for (size_t i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64, inv);
        struct http_result r = bb_api(methods[i], path,
                                      "{\"total\":1,\"items\":[{\"description\":\"x\","
                                      "\"quantity\":1,\"unit_amount\":1}]}");
        if (r.status != 405)
            fail_msg("%s %s answered %ld, want 405", methods[i], path, r.status);
        http_result_free(&r);
    }
    /* Paying and refunding it moves paid/refunded only; a credit note after the move still
     * carries the parties frozen on the invoice. */
    pay_manually(inv, 1500, "bank-cn-frozen");
    json_t *note = credit(inv, "{\"amount\":500,\"reason\":\"Price match\"}", 201);
    assert_true(json_equal(json_object_get(note, "seller"), seller));
    assert_true(json_equal(json_object_get(note, "buyer"), buyer));
    json_decref(note);
    json_t *last = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, inv);
    assert_true(json_equal(json_object_get(last, "items"), json_object_get(before, "items")));
    assert_int_equal(bb_int(last, "subtotal"), bb_int(before, "subtotal"));
    assert_int_equal(bb_int(last, "tax"), bb_int(before, "tax"));
    assert_int_equal(bb_int(last, "total"), bb_int(before, "total"));
    assert_string_equal(bb_str(last, "number"), bb_str(before, "number"));
    json_decref(last);
    json_decref(after);
    json_decref(before);
}

static void pages_show_and_issue_credit_notes(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(4000);
    pay_manually(inv, 4000, "bank-cn-page");
    char path[80], form[400];
    snprintf(path, sizeof path, "/admin/invoices/%" PRId64, inv);
    struct http_result r = as_admin("GET", path, NULL);
    assert_int_equal(r.status, 200);
    assert_has(buf_cstr(&r.body), "No credit notes.");
    assert_has(buf_cstr(&r.body), "id=\"credit-note\"");
    http_result_free(&r);

    snprintf(path, sizeof path, "/admin/invoices/%" PRId64 "/credit-notes", inv);
    /* Without the CSRF token: refused, nothing made. */
    r = as_admin("POST", path, "amount=10.00&reason=No+token");
    assert_int_equal(r.status, 403);
    http_result_free(&r);
    assert_int_equal(notes_of(inv), 0);
    /* Over the limit: the page again with the message and what was typed. */
    snprintf(form, sizeof form, "csrf_token=%s&amount=40.01&reason=Too+much", C->csrf);
    r = as_admin("POST", path, form);
    assert_int_equal(r.status, 400);
    assert_has(buf_cstr(&r.body), "field &#39;amount&#39;: at most 4000");
    assert_has(buf_cstr(&r.body), "value=\"40.01\"");
    http_result_free(&r);
    assert_int_equal(notes_of(inv), 0);
    /* A good one: back to the invoice, which lists it. */
    snprintf(form, sizeof form, "csrf_token=%s&amount=12.50&reason=Outage+on+the+3rd", C->csrf);
    r = as_admin("POST", path, form);
    assert_int_equal(r.status, 303);
    http_result_free(&r);
    assert_int_equal(notes_of(inv), 1);
    snprintf(path, sizeof path, "/admin/invoices/%" PRId64, inv);
    r = as_admin("GET", path, NULL);
    assert_has(buf_cstr(&r.body), "credit-note-row");
    assert_has(buf_cstr(&r.body), "Outage on the 3rd");
    assert_has(buf_cstr(&r.body), "12.50");
    http_result_free(&r);

    /* The settings page shows the company's texts as an input and a textarea. */
    r = as_admin("GET", "/admin/settings", NULL);
    assert_int_equal(r.status, 200);
    assert_has(buf_cstr(&r.body), "<legend>Company</legend>");
    assert_has(buf_cstr(&r.body), "<legend>Invoices</legend>");
    assert_has(buf_cstr(&r.body), "name=\"company.tax_id\" value=\"DE123456789\" maxlength=\"64\"");
    assert_has(buf_cstr(&r.body),
               "<textarea name=\"company.address\" rows=\"4\" maxlength=\"1000\">");
    assert_has(buf_cstr(&r.body), "name=\"invoice.number_format\" value=\"INV-{SEQ:6}\"");
    http_result_free(&r);
    /* A bad number format through the form: 400, the page names the key, nothing saved. */
    snprintf(form, sizeof form, "csrf_token=%s&invoice.number_format=INV-%%7BSEQ%%7D-%%7BSEQ%%7D",
             C->csrf);
    r = as_admin("POST", "/admin/settings", form);
    assert_int_equal(r.status, 400);
    assert_has(buf_cstr(&r.body), "invoice.number_format: needs exactly one {SEQ}");
    http_result_free(&r);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM settings WHERE key = 'invoice.number_format'"),
                     0);

    /* The client sees it on the invoice page. */
    char cookie[200];
    assert_int_equal(
        browse_login(bb_base_url(), "client", CLIENT_EMAIL, CLIENT_PASSWORD, cookie, sizeof cookie),
        303);
    snprintf(path, sizeof path, "/client/invoices/%" PRId64, inv);
    r = browse(bb_base_url(), "GET", path, cookie, NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_has(buf_cstr(&r.body), "<h2>Credit notes</h2>");
    assert_has(buf_cstr(&r.body), "Outage on the 3rd");
    char number[40];
    snprintf(number, sizeof number, "CN-%s-", C->year);
    assert_has(buf_cstr(&r.body), number);
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(manual_credit_note_within_what_was_paid),
        cmocka_unit_test(tax_part_is_proportional_and_rounded_half_away_from_zero),
        cmocka_unit_test(stripe_refund_makes_one_credit_note),
        cmocka_unit_test(chargeback_makes_no_note_but_leaves_nothing_to_credit),
        cmocka_unit_test(paypal_refund_makes_one_credit_note),
        cmocka_unit_test(frozen_parties_survive_later_changes_and_invoices_do_not_change),
        cmocka_unit_test(pages_show_and_issue_credit_notes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
