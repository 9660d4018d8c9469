/*
 * dbtest_events.c — outgoing events in the database: an event is recorded
 * only when an active endpoint wants its type, with one delivery per such
 * endpoint (lists with "*", exact types and "prefix.*"); a change that rolls
 * back leaves no event; nothing is written without an endpoint; an
 * endpoint's secret is stored sealed and answered only by create.
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
#include "billing/invoices.h"
#include "core/str.h"
#include "events/endpoints.h"
#include "events/events.h"
#include "support/testdb.h"

#define KEY "5c1f0b9a5d7e2f4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1c"

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

struct fixture {
    char *url;
    struct db *db;
    int64_t client;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    setenv("LUMI_SECRET_KEY", KEY, 1);
    setenv("LUMI_WEBHOOK_ALLOW_PRIVATE", "1", 1);
    f->db = testdb_start(&f->url);
    f->client = testdb_add_client(f->db, "ada@example.com");
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t endpoint(struct db *db, const char *events, bool active)
{
    struct lumi_err err = {0};
    char body[300];
    snprintf(body, sizeof body, "{\"url\":\"http://127.0.0.1:9/h\",\"events\":%s,\"active\":%s}",
             events, active ? "true" : "false");
    json_t *in = json_loads(body, 0, NULL);
    json_t *e = webhook_endpoints_create(db, &ACTOR, in, &err);
    if (e == NULL)
        fail_msg("create %s: %s", body, err.msg);
    int64_t id = json_integer_value(json_object_get(e, "id"));
    assert_true(str_starts_with(json_string_value(json_object_get(e, "secret")), "whsec_"));
    json_decref(e);
    json_decref(in);
    return id;
}

static void emit(struct db *db, const char *type, int64_t id)
{
    struct lumi_err err = {0};
    assert_int_equal(db_begin(db, &err), 0);
    int rc = events_emit(db, type, "thing", id, json_pack("{s:I}", "id", (json_int_t)id), &err);
    if (rc != 0)
        fail_msg("emit %s: %s", type, err.msg);
    assert_int_equal(db_commit(db, &err), 0);
}

static void nothing_is_written_without_an_endpoint(void **state)
{
    struct fixture *f = *state;
    emit(f->db, "invoice.paid", 1);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"), 0);
    struct lumi_err err = {0};
    /* outside a transaction it refuses */
    assert_true(events_emit(f->db, "invoice.paid", "invoice", 1, json_object(), &err) < 0);
    assert_true(events_emit(f->db, "invoice.paid", "invoice", 1, NULL, &err) < 0);
}

static void each_endpoint_gets_the_types_it_asked_for(void **state)
{
    struct fixture *f = *state;
    int64_t inv = endpoint(f->db, "[\"invoice.*\"]", true);
    int64_t cli = endpoint(f->db, "[\"client.created\",\"payment.received\"]", true);
    int64_t all = endpoint(f->db, "[\"*\"]", true);
    int64_t off = endpoint(f->db, "[\"*\"]", false);
    emit(f->db, "invoice.paid", 7);
    emit(f->db, "client.created", 8);
    emit(f->db, "service.active", 9);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"), 3);
    assert_int_equal(testdb_int64f(f->db, "SELECT COUNT(*) FROM webhook_deliveries WHERE"
                                          " endpoint_id = %" PRId64, inv), 1);
    assert_int_equal(testdb_int64f(f->db, "SELECT COUNT(*) FROM webhook_deliveries WHERE"
                                          " endpoint_id = %" PRId64, cli), 1);
    assert_int_equal(testdb_int64f(f->db, "SELECT COUNT(*) FROM webhook_deliveries WHERE"
                                          " endpoint_id = %" PRId64, all), 3);
    assert_int_equal(testdb_int64f(f->db, "SELECT COUNT(*) FROM webhook_deliveries WHERE"
                                          " endpoint_id = %" PRId64, off), 0);
    /* the body: {id, type, created, data:{object}} */
    struct lumi_err err = {0};
    struct db_stmt *st = db_prepare(
        f->db, "SELECT payload, public_id FROM outgoing_events WHERE type = 'client.created'", &err);
    assert_int_equal(db_step(st, &err), DB_ROW);
    json_t *body = json_loads(db_col_text(st, 0), 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "id")), db_col_text(st, 1));
    assert_string_equal(json_string_value(json_object_get(body, "type")), "client.created");
    assert_true(json_integer_value(json_object_get(body, "created")) > 0);
    json_t *obj = json_object_get(json_object_get(body, "data"), "object");
    assert_int_equal(json_integer_value(json_object_get(obj, "id")), 8);
    json_decref(body);
    db_finalize(st);
    /* the secret is sealed, never stored in clear, never in a later answer */
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_endpoints WHERE"
                                         " secret_enc NOT LIKE 'v1.%'"),
                     0);
    json_t *e = webhook_endpoints_get(f->db, inv, &err);
    assert_null(json_object_get(e, "secret"));
    json_decref(e);
}

static void a_change_that_rolls_back_emits_nothing(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    endpoint(f->db, "[\"invoice.created\"]", true);
    int64_t before = testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events");
    struct invoice_item_in item = {"Hosting", 1, 990, 0, "other", NULL, NULL};
    int64_t id = 0;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(invoices_create(f->db, &ACTOR, f->client, "eur", "2026-12-31", &item, 1, &id,
                                     &err),
                     0);
    /* inside the transaction the event is there with the invoice */
    assert_int_equal(testdb_int64f(f->db, "SELECT COUNT(*) FROM outgoing_events WHERE"
                                          " type = 'invoice.created' AND entity_id = %" PRId64, id),
                     1);
    db_rollback(f->db);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"), before);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_deliveries d WHERE NOT"
                                         " EXISTS (SELECT 1 FROM outgoing_events e WHERE"
                                         " e.id = d.event_id)"),
                     0);
    /* committed, it stays */
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(invoices_create(f->db, &ACTOR, f->client, "eur", "2026-12-31", &item, 1, &id,
                                     &err),
                     0);
    assert_int_equal(db_commit(f->db, &err), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"), before + 1);
}

static void lists_match_star_exact_and_prefix(void **state)
{
    (void)state;
    assert_true(events_list_matches("[\"*\"]", "invoice.paid"));
    assert_true(events_list_matches("[\"invoice.paid\"]", "invoice.paid"));
    assert_true(events_list_matches("[\"invoice.*\"]", "invoice.created"));
    assert_false(events_list_matches("[\"invoice.*\"]", "invoices.created"));
    assert_false(events_list_matches("[\"invoice.paid\"]", "invoice.created"));
    assert_false(events_list_matches("[]", "invoice.paid"));
    assert_false(events_list_matches("not json", "invoice.paid"));
    assert_true(events_type_known("service.unsuspended"));
    assert_false(events_type_known("service.exploded"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_is_written_without_an_endpoint),
        cmocka_unit_test(each_endpoint_gets_the_types_it_asked_for),
        cmocka_unit_test(a_change_that_rolls_back_emits_nothing),
        cmocka_unit_test(lists_match_star_exact_and_prefix),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
