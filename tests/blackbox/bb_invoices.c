/*
 * bb_invoices.c — the invoice admin API through the real binary (`lumi
 * serve`, admin token from `lumi token create`): an invoice is created with
 * sequential number and items (201), listed (with ?status=) and read with its
 * transactions; bad bodies answer 400 naming the field and write nothing; a
 * manual payment applies partially then fully, a repeated reference answers
 * 200 "duplicate": true with the invoice unchanged, a payment larger than
 * what is due answers 409 and is audited as PAYMENT_MISMATCH; only an unpaid
 * invoice with nothing paid can be cancelled. Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "5b1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"

struct ctx {
    struct db *db; /* the test's own connection, for row counts */
    int64_t client_id;
    int64_t first; /* the invoice created first */
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

static const char *error_message(const struct http_result *r)
{
    return bb_str(json_object_get(r->json, "error"), "message");
}

/* Creates an invoice of total for the client; answers its id. */
static int64_t invoice(int64_t total)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"USD\",\"items\":"
             "[{\"description\":\"Support hours\",\"quantity\":1,\"unit_amount\":%" PRId64 "}]}",
             C->client_id, total);
    struct http_result r = bb_api("POST", "/api/admin/invoices", body);
    if (r.status != 201)
        fail_msg("create invoice: %ld %s", r.status, buf_cstr(&r.body));
    int64_t id = bb_int(r.json, "id");
    http_result_free(&r);
    assert_true(id > 0);
    return id;
}

/* POSTs a manual payment; expects status; answers the body (caller decrefs). */
static json_t *pay(int64_t id, const char *body, long status)
{
    return bb_json("POST", body, status, "/api/admin/invoices/%" PRId64 "/payments", id);
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    bb_init(SECRET_KEY);
    bb_token("invoices-test");
    bb_serve();

    struct http_result c = bb_api("POST", "/api/admin/clients",
                                  "{\"email\":\"ada@example.com\",\"first_name\":\"Ada\","
                                  "\"last_name\":\"L\"}");
    if (c.status != 201)
        fail_msg("client: %ld %s", c.status, buf_cstr(&c.body));
    C->client_id = bb_int(c.json, "id");
    http_result_free(&c);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    free(C);
    return status == 0 ? 0 : -1;
}

/* ---- tests -------------------------------------------------------------- */

static void create_list_and_get(void **state)
{
    (void)state;
    char body[600];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"due_date\":\"2026-12-01\","
             "\"items\":[{\"description\":\"Setup\",\"quantity\":1,\"unit_amount\":500},"
             "{\"description\":\"Hours\",\"quantity\":3,\"unit_amount\":1000}]}",
             C->client_id);
    struct http_result r = bb_api("POST", "/api/admin/invoices", body);
    if (r.status != 201)
        fail_msg("create: %ld %s", r.status, buf_cstr(&r.body));
    C->first = bb_int(r.json, "id");
    char *loc = http_header(&r, "Location");
    assert_non_null(loc);
    char want[64];
    snprintf(want, sizeof want, "/api/admin/invoices/%" PRId64, C->first);
    assert_string_equal(loc, want);
    free(loc);
    assert_string_equal(bb_str(r.json, "number"), "INV-000001");
    assert_string_equal(bb_str(r.json, "status"), "unpaid");
    assert_string_equal(bb_str(r.json, "currency"), "usd");
    assert_int_equal(bb_int(r.json, "total"), 3500);
    assert_string_equal(bb_str(r.json, "due_date"), "2026-12-01T00:00:00Z");
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    assert_int_equal(bb_int(json_array_get(json_object_get(r.json, "items"), 1), "amount"), 3000);
    http_result_free(&r);
    assert_int_equal(bb_audit_count("INVOICE_CREATED"), 1);

    r = bb_apif("GET", NULL, "/api/admin/invoices/%" PRId64, C->first);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
    assert_true(json_is_array(json_object_get(r.json, "transactions")));
    assert_int_equal(json_array_size(json_object_get(r.json, "transactions")), 0);
    http_result_free(&r);

    int64_t second = invoice(100);
    r = bb_api("GET", "/api/admin/invoices?limit=1", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    assert_true(json_is_string(json_object_get(r.json, "next_cursor")));
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/invoices?status=unpaid", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 2);
    assert_int_equal(bb_int(json_array_get(json_object_get(r.json, "data"), 1), "id"), second);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/invoices?status=paid", NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/invoices?status=bogus", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/invoices/99999", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
}

static void bad_bodies_answer_400_and_write_nothing(void **state)
{
    (void)state;
    static const struct {
        const char *body, *names;
    } cases[] = {
        {"{\"currency\":\"usd\",\"items\":[{\"description\":\"x\",\"quantity\":1,"
         "\"unit_amount\":1}]}",
         "client_id"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"zzz\",\"items\":[{\"description\":\"x\","
         "\"quantity\":1,\"unit_amount\":1}]}",
         "currency"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[]}", "items"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\"}", "items"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"x\","
         "\"quantity\":0,\"unit_amount\":1}]}",
         "quantity"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"x\","
         "\"quantity\":1,\"unit_amount\":-5}]}",
         "unit_amount"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"\","
         "\"quantity\":1,\"unit_amount\":1}]}",
         "description"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"x\","
         "\"quantity\":1,\"unit_amount\":1.5}]}",
         "unit_amount"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"due_date\":\"tomorrow\","
         "\"items\":[{\"description\":\"x\",\"quantity\":1,\"unit_amount\":1}]}",
         "due_date"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"x\","
         "\"quantity\":1,\"unit_amount\":1,\"service_id\":4242}]}",
         "service_id"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"colour\":1,"
         "\"items\":[{\"description\":\"x\",\"quantity\":1,\"unit_amount\":1}]}",
         "colour"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"x\","
         "\"quantity\":2147483647,\"unit_amount\":9223372036854775807}]}",
         "unit_amount"},
        /* Issue 17, finding 10: amounts are bounded at 10^12 minor units. */
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"x\","
         "\"quantity\":1,\"unit_amount\":1000000000001}]}",
         "unit_amount"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"x\","
         "\"quantity\":2,\"unit_amount\":600000000000}]}",
         "quantity × unit_amount"},
        {"{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":\"x\","
         "\"quantity\":1,\"unit_amount\":600000000000},{\"description\":\"y\","
         "\"quantity\":1,\"unit_amount\":600000000000}]}",
         "invoice total"},
    };
    int64_t invoices = bb_count("SELECT COUNT(*) FROM invoices");
    int64_t items = bb_count("SELECT COUNT(*) FROM invoice_items");
    int64_t audits = bb_count("SELECT COUNT(*) FROM audit_log");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[600];
        snprintf(body, sizeof body, cases[i].body, C->client_id);
        struct http_result r = bb_api("POST", "/api/admin/invoices", body);
        if (r.status != 400 || strstr(error_message(&r), cases[i].names) == NULL)
            fail_msg("case %zu %s: %ld %s", i, body, r.status, buf_cstr(&r.body));
        assert_string_equal(http_error_code(&r), "invalid_request");
        http_result_free(&r);
    }
    /* an unknown client is named too */
    struct http_result r = bb_api("POST", "/api/admin/invoices",
                                  "{\"client_id\":777777,\"currency\":\"usd\",\"items\":"
                                  "[{\"description\":\"x\",\"quantity\":1,\"unit_amount\":1}]}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(error_message(&r), "client"));
    http_result_free(&r);
    r = bb_api("POST", "/api/admin/invoices", "{not json");
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    assert_true(bb_count("SELECT COUNT(*) FROM invoices") == invoices);
    assert_true(bb_count("SELECT COUNT(*) FROM invoice_items") == items);
    assert_true(bb_count("SELECT COUNT(*) FROM audit_log") == audits);
    /* the number of a refused invoice is not used up */
    int64_t id = invoice(1);
    r = bb_apif("GET", NULL, "/api/admin/invoices/%" PRId64, id);
    assert_string_equal(bb_str(r.json, "number"), "INV-000003");
    http_result_free(&r);
}

static void manual_payments_partial_full_duplicate_and_mismatch(void **state)
{
    (void)state;
    int64_t id = C->first; /* 3500 usd */
    json_t *j = pay(id, "{\"amount\":1000,\"reference\":\"bank-001\"}", 200);
    assert_string_equal(bb_str(j, "status"), "partially_paid");
    assert_int_equal(bb_int(j, "amount_paid"), 1000);
    assert_true(json_is_false(json_object_get(j, "duplicate")));
    json_decref(j);

    j = pay(id, "{\"amount\":1000,\"reference\":\"bank-001\"}", 200);
    assert_true(json_is_true(json_object_get(j, "duplicate")));
    assert_int_equal(bb_int(j, "amount_paid"), 1000);
    json_decref(j);

    j = pay(id, "{\"amount\":2501,\"reference\":\"bank-002\"}", 409);
    assert_string_equal(bb_str(json_object_get(j, "error"), "code"), "conflict");
    assert_non_null(strstr(bb_str(json_object_get(j, "error"), "message"), "2500"));
    json_decref(j);
    assert_int_equal(bb_audit_count("PAYMENT_MISMATCH"), 1);

    int64_t audits = bb_count("SELECT COUNT(*) FROM audit_log");
    static const char *const bad[] = {"{\"amount\":0,\"reference\":\"x\"}",
                                      "{\"amount\":-1,\"reference\":\"x\"}",
                                      "{\"amount\":\"10\",\"reference\":\"x\"}",
                                      "{\"amount\":10}",
                                      "{\"amount\":10,\"reference\":\"\"}",
                                      "{\"amount\":10,\"reference\":\"x\",\"extra\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = pay(id, bad[i], 400);
        json_decref(j);
    }
    assert_true(bb_count("SELECT COUNT(*) FROM audit_log") == audits);
    j = pay(99999, "{\"amount\":10,\"reference\":\"x\"}", 404);
    json_decref(j);

    j = pay(id, "{\"amount\":2500,\"reference\":\"bank-002\"}", 200);
    assert_string_equal(bb_str(j, "status"), "paid");
    assert_true(json_is_string(json_object_get(j, "paid_at")));
    json_decref(j);

    struct http_result r = bb_apif("GET", NULL, "/api/admin/invoices/%" PRId64, id);
    const json_t *txs = json_object_get(r.json, "transactions");
    assert_int_equal(json_array_size(txs), 2);
    assert_string_equal(bb_str(json_array_get(txs, 0), "gateway"), "manual");
    assert_string_equal(bb_str(json_array_get(txs, 0), "gateway_ref"), "bank-001");
    assert_int_equal(bb_int(json_array_get(txs, 1), "amount"), 2500);
    http_result_free(&r);
    assert_true(bb_count("SELECT COUNT(*) FROM transactions") == 2);
    assert_int_equal(bb_audit_count("PAYMENT_RECEIVED"), 2);
    assert_int_equal(bb_audit_count("INVOICE_PAID"), 1);
    assert_true(bb_count("%s", "SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_RECEIVED'"

                               " AND actor_type = 'api_token' AND ip = '127.0.0.1'"
                               " AND details LIKE '%bank-001%'") == 1);
    /* a paid invoice takes no more */
    j = pay(id, "{\"amount\":1,\"reference\":\"bank-003\"}", 409);
    json_decref(j);
}

static void cancel_only_unpaid_with_nothing_paid(void **state)
{
    (void)state;
    int64_t fresh = invoice(900), part = invoice(900);
    json_t *j = pay(part, "{\"amount\":100,\"reference\":\"cash-1\"}", 200);
    json_decref(j);

    struct http_result r = bb_apif("POST", NULL, "/api/admin/invoices/%" PRId64 "/cancel", fresh);
    assert_int_equal(r.status, 200);
    assert_string_equal(bb_str(r.json, "status"), "cancelled");
    http_result_free(&r);
    assert_int_equal(bb_audit_count("INVOICE_CANCELLED"), 1);

    r = bb_apif("POST", NULL, "/api/admin/invoices/%" PRId64 "/cancel", fresh);
    assert_int_equal(r.status, 409);
    http_result_free(&r);
    r = bb_apif("POST", NULL, "/api/admin/invoices/%" PRId64 "/cancel", part);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(error_message(&r), "partially_paid"));
    http_result_free(&r);
    r = bb_apif("POST", NULL, "/api/admin/invoices/%" PRId64 "/cancel", C->first);
    assert_int_equal(r.status, 409);
    http_result_free(&r);
    r = bb_api("POST", "/api/admin/invoices/99999/cancel", NULL);
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    assert_int_equal(bb_audit_count("INVOICE_CANCELLED"), 1);

    j = pay(fresh, "{\"amount\":900,\"reference\":\"cash-2\"}", 409);
    assert_non_null(strstr(bb_str(json_object_get(j, "error"), "message"), "cancelled"));
    json_decref(j);
    r = bb_apif("GET", NULL, "/api/admin/invoices/%" PRId64, fresh);
    assert_string_equal(bb_str(r.json, "status"), "cancelled");
    assert_int_equal(bb_int(r.json, "amount_paid"), 0);
    http_result_free(&r);
}

static void lists_by_client_and_service(void **state)
{
    (void)state;
    char body[600];
    struct http_result r;
    /* One client's invoices: another client's are not in the answer. */
    r = bb_api("POST", "/api/admin/clients", "{\"email\":\"bob@example.com\"}");
    assert_int_equal(r.status, 201);
    int64_t bob = bb_int(r.json, "id");
    http_result_free(&r);
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":"
             "[{\"description\":\"Bob's\",\"quantity\":1,\"unit_amount\":700}]}",
             bob);
    r = bb_api("POST", "/api/admin/invoices", body);
    assert_int_equal(r.status, 201);
    int64_t bobs = bb_int(r.json, "id");
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/invoices?limit=200", NULL);
    size_t all = json_array_size(json_object_get(r.json, "data"));
    http_result_free(&r);
    r = bb_apif("GET", NULL, "/api/admin/invoices?client_id=%" PRId64, C->client_id);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), all - 1);
    assert_int_equal(bb_int(json_array_get(json_object_get(r.json, "data"), 0), "id"), C->first);
    http_result_free(&r);
    r = bb_apif("GET", NULL, "/api/admin/invoices?client_id=%" PRId64, bob);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 1);
    assert_int_equal(bb_int(json_array_get(json_object_get(r.json, "data"), 0), "id"), bobs);
    http_result_free(&r);
    r = bb_api("GET", "/api/admin/invoices?client_id=abc", NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    r = bb_apif("GET", NULL, "/api/admin/invoices?client_id=%" PRId64 "&status=unpaid", bob);
    assert_int_equal(r.status, 400);
    http_result_free(&r);

    /* An order's first invoice is listed under its service. */
    r = bb_api("GET", "/api/admin/invoices?service_id=999999", NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_list_and_get),
        cmocka_unit_test(bad_bodies_answer_400_and_write_nothing),
        cmocka_unit_test(manual_payments_partial_full_duplicate_and_mismatch),
        cmocka_unit_test(cancel_only_unpaid_with_nothing_paid),
        cmocka_unit_test(lists_by_client_and_service),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
