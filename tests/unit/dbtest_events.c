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
#include "billing/payments.h"
#include "core/config.h"
#include "events/delivery.h"
#include "core/str.h"
#include "events/endpoints.h"
#include "events/events.h"
#include "events/retention.h"
#include "core/utc.h"
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

/* How many deliveries an endpoint was given. */
static int64_t deliveries_to(struct db *db, int64_t endpoint_id)
{
    return testdb_int64f(db, "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = %" PRId64,
                         endpoint_id);
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
    assert_int_equal(deliveries_to(f->db, inv), 1);
    assert_int_equal(deliveries_to(f->db, cli), 1);
    assert_int_equal(deliveries_to(f->db, all), 3);
    assert_int_equal(deliveries_to(f->db, off), 0);
    /* the body: {id, type, created, data:{object}} */
    struct lumi_err err = {0};
    struct db_stmt *st = db_prepare(
        f->db, "SELECT payload, public_id FROM outgoing_events WHERE type = 'client.created'",
        &err);
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
    assert_int_equal(
        invoices_create(f->db, &ACTOR, f->client, "eur", "2026-12-31", &item, 1, &id, &err), 0);
    /* inside the transaction the event is there with the invoice */
    assert_int_equal(testdb_int64f(f->db,
                                   "SELECT COUNT(*) FROM outgoing_events WHERE"
                                   " type = 'invoice.created' AND entity_id = %" PRId64,
                                   id),
                     1);
    db_rollback(f->db);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"), before);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_deliveries d WHERE NOT"
                                         " EXISTS (SELECT 1 FROM outgoing_events e WHERE"
                                         " e.id = d.event_id)"),
                     0);
    /* committed, it stays */
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(
        invoices_create(f->db, &ACTOR, f->client, "eur", "2026-12-31", &item, 1, &id, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"), before + 1);
}

/* Applies a movement of kind in its own transaction. */
static void move(struct db *db, const char *kind, const char *ref, int64_t amount, int64_t invoice)
{
    struct lumi_err err = {0};
    struct payment_result res;
    struct payment_in p = {.kind = kind,
                           .gateway = "manual",
                           .gateway_ref = ref,
                           .amount = amount,
                           .currency = "eur",
                           .invoice_id = invoice};
    assert_int_equal(db_begin(db, &err), 0);
    if (payments_apply(db, &ACTOR, &p, &res, &err) != 0)
        fail_msg("%s: %s", kind, err.msg);
    assert_int_equal(db_commit(db, &err), 0);
}

static void payments_and_refunds_are_the_invoices_events_in_order(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    endpoint(f->db, "[\"invoice.*\",\"payment.*\"]", true);
    struct invoice_item_in item = {"Hosting", 1, 990, 0, "other", NULL, NULL};
    int64_t inv = 0;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(
        invoices_create(f->db, &ACTOR, f->client, "eur", "2026-12-31", &item, 1, &inv, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    move(f->db, "payment", "bank-1", 990, inv);
    move(f->db, "refund", "refund-1", 300, inv);
    static const char *const want[] = {"invoice.created", "payment.received", "invoice.paid",
                                       "payment.refunded"};
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT type FROM outgoing_events WHERE entity = 'invoice' AND entity_id = %" PRId64
             " ORDER BY id",
             inv);
    struct db_stmt *st = db_prepare(f->db, sql, &err);
    size_t n = 0;
    while (db_step(st, &err) == DB_ROW) {
        assert_true(n < 4);
        assert_string_equal(db_col_text(st, 0), want[n]);
        n++;
    }
    db_finalize(st);
    assert_int_equal(n, 4);
}

static void a_failing_endpoint_holds_the_entitys_next_event_then_gives_up(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    testdb_exec(f->db, "UPDATE webhook_endpoints SET active = 0");
    int64_t ep = endpoint(f->db, "[\"service.*\"]", true); /* port 9: refused */
    emit(f->db, "service.suspended", 77);
    emit(f->db, "service.unsuspended", 77);
    /* the first fails and waits for its retry; the second waits for the first */
    assert_int_equal(webhook_drain(f->db, "test:1", 10, &err), 1);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT attempts FROM webhook_deliveries WHERE endpoint_id = %" PRId64 " ORDER BY id",
             ep);
    assert_int_equal(testdb_int64(f->db, sql), 1);
    assert_int_equal(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = %" PRId64
                      " AND state = 'pending' AND attempts = 0 AND last_error IS NULL",
                      ep),
        1);
    assert_int_equal(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = %" PRId64
                      " AND last_error LIKE '%%connect%%'",
                      ep),
        1);
    assert_int_equal(webhook_drain(f->db, "test:1", 10, &err), 0); /* not due yet */
    /* the held one, and one emitted now, are not due before the first is tried again */
    emit(f->db, "service.terminated", 77);
    assert_int_equal(testdb_int64f(f->db,
                                   "SELECT COUNT(DISTINCT next_attempt_at) FROM webhook_deliveries"
                                   " WHERE endpoint_id = %" PRId64,
                                   ep),
                     1);
    /* an inactive endpoint's deliveries are parked, and due again when it is active */
    json_t *off = json_pack("{s:b}", "active", 0), *on = json_pack("{s:b}", "active", 1);
    json_decref(webhook_endpoints_update(f->db, &ACTOR, ep, off, &err));
    assert_int_equal(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = %" PRId64
                      " AND next_attempt_at LIKE '9999-%%'",
                      ep),
        3);
    json_decref(webhook_endpoints_update(f->db, &ACTOR, ep, on, &err));
    assert_int_equal(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = %" PRId64
                      " AND next_attempt_at LIKE '9999-%%'",
                      ep),
        0);
    json_decref(off);
    json_decref(on);
    /* three days later (a window of 1 s here): it fails for good and the next one goes */
    setenv("LUMI_WEBHOOK_GIVE_UP_S", "1", 1);
    testdb_config_load();
    testdb_exec(f->db, "UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01T00:00:00Z',"
                       " created_at = '2000-01-01T00:00:00Z' WHERE state = 'pending'");
    assert_int_equal(webhook_drain(f->db, "test:1", 10, &err), 3);
    assert_int_equal(
        testdb_int64f(f->db,
                      "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = %" PRId64
                      " AND state = 'failed' AND last_error LIKE 'gave up after%%'",
                      ep),
        3);
    unsetenv("LUMI_WEBHOOK_GIVE_UP_S");
    testdb_config_load();
    assert_true(webhook_backoff_s(1) == 30 && webhook_backoff_s(2) == 60);
    assert_int_equal(webhook_backoff_s(40), 6 * 3600);
}

/* Sets the state of entity's delivery to endpoint. */
static void set_state(struct db *db, const char *state, int64_t entity, int64_t endpoint)
{
    char e[24], ep[24];
    snprintf(e, sizeof e, "%" PRId64, entity);
    snprintf(ep, sizeof ep, "%" PRId64, endpoint);
    const char *p[] = {state, e, ep};
    testdb_execp(db,
                 "UPDATE webhook_deliveries SET state = $1 WHERE entity_id = $2"
                 " AND endpoint_id = $3",
                 3, p);
}

/* Old events go with their delivery log once nothing of theirs is pending;
 * a young one, and an old one still retrying, stay. Runs first: events are
 * walked by id and the walk ends at the first young one, as ids grow with
 * created_at in life — so the backdated events must come first here. */
static void old_finished_events_are_pruned_with_their_deliveries(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    testdb_exec(f->db, "UPDATE webhook_endpoints SET active = 0");
    int64_t a = endpoint(f->db, "[\"invoice.*\"]", true);
    int64_t b = endpoint(f->db, "[\"invoice.paid\"]", true);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"), 0);
    int64_t endpoints = testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_endpoints");
    emit(f->db, "invoice.created", 501); /* a only: delivered, old -> goes */
    emit(f->db, "invoice.paid", 502);    /* a delivered, b failed, old -> goes */
    emit(f->db, "invoice.paid", 503);    /* a delivered, b still pending, old -> stays */
    emit(f->db, "invoice.paid", 504);    /* both delivered, young -> stays */
    testdb_exec(f->db, "UPDATE webhook_deliveries SET state = 'delivered'"
                       " WHERE entity_id IN (501, 502, 503, 504)");
    set_state(f->db, "failed", 502, b);
    set_state(f->db, "pending", 503, b);
    testdb_exec(f->db, "UPDATE outgoing_events SET created_at = '2000-01-01T00:00:00Z'"
                       " WHERE entity_id IN (501, 502, 503)");
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_deliveries"
                                         " WHERE entity_id BETWEEN 501 AND 504"),
                     7);
    int64_t pruned = -1;
    assert_int_equal(events_prune(f->db, utc_now(), 30, &pruned, &err), 0);
    assert_int_equal(pruned, 2);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"
                                         " WHERE entity_id IN (501, 502)"),
                     0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_deliveries"
                                         " WHERE entity_id IN (501, 502)"),
                     0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"
                                         " WHERE entity_id IN (503, 504)"),
                     2);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_deliveries"
                                         " WHERE entity_id IN (503, 504)"),
                     4);
    /* a second round removes nothing */
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"), 2);
    assert_int_equal(events_prune(f->db, utc_now(), 30, &pruned, &err), 0);
    assert_int_equal(pruned, 0);
    /* once 503's last delivery is done it goes too; 504 goes when it is old enough */
    testdb_exec(f->db, "UPDATE webhook_deliveries SET state = 'failed' WHERE entity_id = 503");
    assert_int_equal(events_prune(f->db, utc_now() + 31 * 86400, 30, &pruned, &err), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM outgoing_events"
                                         " WHERE entity_id IN (503, 504)"),
                     0);
    /* endpoints are never removed by it */
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_endpoints"), endpoints);
    (void)a;
    /* the tables as the next tests expect them: empty */
    testdb_exec(f->db, "DELETE FROM webhook_deliveries");
    testdb_exec(f->db, "DELETE FROM outgoing_events");
    testdb_exec(f->db, "DELETE FROM webhook_endpoints");
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

/* A transaction reads the endpoints once for all its events (issue 15); the
 * next transaction reads them again, so an endpoint added meanwhile counts. */
static void every_event_of_a_transaction_fans_out_and_the_next_sees_new_endpoints(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err = {0};
    int64_t first = endpoint(f->db, "[\"invoice.*\"]", true);
    assert_int_equal(db_begin(f->db, &err), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(events_emit(f->db, i == 1 ? "service.active" : "invoice.paid", "thing",
                                     100 + i, json_object(), &err),
                         0);
    assert_int_equal(db_commit(f->db, &err), 0);
    assert_int_equal(deliveries_to(f->db, first), 2);
    int64_t second = endpoint(f->db, "[\"*\"]", true);
    emit(f->db, "service.active", 200);
    assert_int_equal(deliveries_to(f->db, second), 1);
    assert_int_equal(deliveries_to(f->db, first), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* first: it needs the events table to itself (see the test) */
        cmocka_unit_test(old_finished_events_are_pruned_with_their_deliveries),
        cmocka_unit_test(nothing_is_written_without_an_endpoint),
        cmocka_unit_test(each_endpoint_gets_the_types_it_asked_for),
        cmocka_unit_test(a_change_that_rolls_back_emits_nothing),
        cmocka_unit_test(payments_and_refunds_are_the_invoices_events_in_order),
        cmocka_unit_test(a_failing_endpoint_holds_the_entitys_next_event_then_gives_up),
        cmocka_unit_test(lists_match_star_exact_and_prefix),
        cmocka_unit_test(every_event_of_a_transaction_fans_out_and_the_next_sees_new_endpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
