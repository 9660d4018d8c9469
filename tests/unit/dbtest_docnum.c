/*
 * dbtest_docnum.c — document numbers (billing/docnum): the default invoice
 * format continues today's "INV-000001" sequence; 4 threads × 500 invoices,
 * each thread on its own connection, get 2,000 unique numbers without a
 * gap; a rolled-back document gives its number back; a per-year format
 * starts again at 1 on 1 January (the time injected); credit notes have
 * their own sequence; a bad format is refused when saved, naming the key,
 * and nothing is written. Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "billing/docnum.h"
#include "billing/invoices.h"
#include "core/numfmt.h"
#include "settings/registry.h"
#include "support/testdb.h"

#define THREADS 4
#define PER_THREAD 500
#define BUSY_RETRIES 20

static const struct audit_actor ACTOR = {"user", "1", "admin@example.com", "192.0.2.7", NULL};

struct fixture {
    char *url;
    struct db *db;
    int64_t client;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->db = testdb_start(&f->url);
    f->client = testdb_add_client(f->db, "numbers@example.com");
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

/* 2027-12-31T23:59:59Z and one second later. */
#define END_OF_2027 INT64_C(1830297599)
#define START_OF_2028 INT64_C(1830297600)

static int create_invoice(struct db *db, int64_t client, int64_t *id, struct lumi_err *err)
{
    struct invoice_item_in item = {.description = "Hosting", .quantity = 1, .unit_amount = 700};
    return invoices_create(db, &ACTOR, client, "usd", "2026-02-01T00:00:00Z", &item, 1, id, err);
}

static char *number_of(struct db *db, int64_t id)
{
    struct lumi_err err;
    json_t *inv = invoices_get(db, id, &err);
    if (inv == NULL)
        fail_msg("invoices_get: %s", err.msg);
    char *n = strdup(json_string_value(json_object_get(inv, "number")));
    json_decref(inv);
    return n;
}

/* docnum_take of kind at now in its own committed transaction. */
static void take(struct fixture *f, const char *kind, int64_t now, char *out, size_t size)
{
    struct lumi_err err;
    assert_int_equal(db_begin(f->db, &err), 0);
    if (docnum_take(f->db, kind, now, out, size, &err) != 0)
        fail_msg("docnum_take: %s", err.msg);
    assert_int_equal(db_commit(f->db, &err), 0);
}

static void set_setting(struct fixture *f, const char *key, const char *value)
{
    struct lumi_err err;
    json_t *body = json_pack("{s:s}", key, value);
    json_t *out = settings_reg_update(f->db, &ACTOR, body, &err);
    if (out == NULL)
        fail_msg("settings_reg_update %s: %s", key, err.msg);
    json_decref(out);
    json_decref(body);
}

static void default_format_continues_todays_numbers(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t id = 0;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(create_invoice(f->db, f->client, &id, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    char *n = number_of(f->db, id);
    assert_string_equal(n, "INV-000001");
    free(n);
    /* An installation that had reached 41 (carried into doc_sequences by migration 13). */
    testdb_exec(f->db, "UPDATE doc_sequences SET last_value = 41 WHERE scope = 'invoice'");
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(create_invoice(f->db, f->client, &id, &err), 0);
    assert_int_equal(db_commit(f->db, &err), 0);
    n = number_of(f->db, id);
    assert_string_equal(n, "INV-000042");
    free(n);
}

static void a_rollback_gives_the_number_back(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    char a[NUMFMT_OUT_MAX], b[NUMFMT_OUT_MAX];
    take(f, "invoice", START_OF_2028, a, sizeof a);
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(docnum_take(f->db, "invoice", START_OF_2028, b, sizeof b, &err), 0);
    assert_string_equal(b, "INV-000002");
    db_rollback(f->db);
    take(f, "invoice", START_OF_2028, b, sizeof b);
    assert_string_equal(a, "INV-000001");
    assert_string_equal(b, "INV-000002");
    /* Outside a transaction it refuses rather than number without a lock. */
    assert_int_equal(docnum_take(f->db, "invoice", START_OF_2028, b, sizeof b, &err),
                     LUMI_EINTERNAL);
}

struct worker {
    const char *url;
    int64_t client;
    int failures, busy;
    char first_error[LUMI_ERR_MSG_MAX];
};

static void *worker_thread(void *arg)
{
    struct worker *w = arg;
    struct lumi_err err;
    struct db *db = db_open(w->url, &err);
    if (db == NULL) {
        w->failures = PER_THREAD;
        snprintf(w->first_error, sizeof w->first_error, "%s", err.msg);
        return NULL;
    }
    for (int i = 0; i < PER_THREAD; i++) {
        int64_t id;
        int rc;
        /* SQLite's busy timeout can run out on a loaded machine: the caller rolls back (the
         * number goes back) and may try again (an HTTP client gets 503); the count must still end
         * gap-free. */
        for (int attempt = 0; attempt < BUSY_RETRIES; attempt++) {
            rc = db_begin(db, &err);
            if (rc == 0)
                rc = create_invoice(db, w->client, &id, &err);
            if (rc == 0)
                rc = db_commit(db, &err);
            if (rc == 0)
                break;
            db_rollback(db);
            if (rc != LUMI_EBUSY)
                break;
            w->busy++;
        }
        if (rc != 0 && w->failures++ == 0)
            snprintf(w->first_error, sizeof w->first_error, "%s", err.msg);
    }
    db_close(db);
    return NULL;
}

static void concurrent_invoices_get_unique_numbers_without_a_gap(void **state)
{
    struct fixture *f = *state;
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.url = f->url, .client = f->client};
        assert_int_equal(pthread_create(&t[i], NULL, worker_thread, &w[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        if (w[i].failures > 0)
            fprintf(stderr, "thread %d: %d failures, first: %s\n", i, w[i].failures,
                    w[i].first_error);
        if (w[i].busy > 0)
            fprintf(stderr, "thread %d: %d busy retries\n", i, w[i].busy);
        failures += w[i].failures;
    }
    assert_int_equal(failures, 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM invoices"), THREADS * PER_THREAD);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(DISTINCT number) FROM invoices"),
                     THREADS * PER_THREAD);
    /* Every number from INV-000001 to INV-002000, each once: no gap. */
    struct lumi_err err;
    struct db_stmt *st = db_prepare(f->db, "SELECT number FROM invoices ORDER BY number", &err);
    assert_non_null(st);
    int expect = 0;
    while (db_step(st, &err) == DB_ROW) {
        char want[16];
        snprintf(want, sizeof want, "INV-%06d", ++expect);
        assert_string_equal(db_col_text(st, 0), want);
    }
    db_finalize(st);
    assert_int_equal(expect, THREADS * PER_THREAD);
    assert_int_equal(testdb_int64(f->db, "SELECT last_value FROM doc_sequences"
                                         " WHERE scope = 'invoice'"),
                     THREADS * PER_THREAD);
}

static void a_per_year_format_starts_again_each_year(void **state)
{
    struct fixture *f = *state;
    char n[NUMFMT_OUT_MAX];
    set_setting(f, "invoice.number_format", "INV-{YYYY}-{SEQ:4}");
    take(f, "invoice", END_OF_2027, n, sizeof n);
    assert_string_equal(n, "INV-2027-0001");
    take(f, "invoice", END_OF_2027, n, sizeof n);
    assert_string_equal(n, "INV-2027-0002");
    take(f, "invoice", START_OF_2028, n, sizeof n);
    assert_string_equal(n, "INV-2028-0001");
    assert_int_equal(testdb_int64(f->db, "SELECT last_value FROM doc_sequences"
                                         " WHERE scope = 'invoice:2027'"),
                     2);
    /* {YY}, {MM} and a bare {SEQ}: 2028-01 → "28/01/3". */
    set_setting(f, "invoice.number_format", "{YY}/{MM}/{SEQ}");
    take(f, "invoice", START_OF_2028, n, sizeof n);
    assert_string_equal(n, "28/01/2");
    /* Without a year: the one sequence "invoice", untouched by the yearly ones. */
    set_setting(f, "invoice.number_format", "A{SEQ:3}");
    take(f, "invoice", START_OF_2028, n, sizeof n);
    assert_string_equal(n, "A001");
}

static void credit_notes_have_their_own_sequence(void **state)
{
    struct fixture *f = *state;
    char n[NUMFMT_OUT_MAX];
    take(f, "invoice", END_OF_2027, n, sizeof n);
    take(f, "credit_note", END_OF_2027, n, sizeof n);
    assert_string_equal(n, "CN-2027-000001");
    take(f, "credit_note", START_OF_2028, n, sizeof n);
    assert_string_equal(n, "CN-2028-000001");
}

static void bad_formats_are_refused_when_saved(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "INV-000",                                   /* no {SEQ} */
        "{SEQ}-{SEQ:2}",                             /* two */
        "INV-{FOO}-{SEQ}",                           /* unknown token */
        "INV {SEQ}",                                 /* a space */
        "INV-{SEQ:0}",                               /* padding out of range */
        "INV-{SEQ:13}",                              /* padding out of range */
        "INV-{SEQ",                                  /* unclosed */
        "INV-}{SEQ}",                                /* stray brace */
        "FACTURE-DU-CLIENT-NUMERO-{YYYY}-{SEQ:12}X", /* 41 characters */
        "",                                          /* empty */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lumi_err err;
        json_t *body = json_pack("{s:s}", "invoice.number_format", bad[i]);
        json_t *out = settings_reg_update(f->db, &ACTOR, body, &err);
        if (out != NULL)
            fail_msg("format \"%s\" was accepted", bad[i]);
        assert_int_equal(err.code, LUMI_EINVAL);
        assert_non_null(strstr(err.msg, "invoice.number_format"));
        json_decref(body);
    }
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM settings"
                                         " WHERE key = 'invoice.number_format'"),
                     0);
    set_setting(f, "credit_note.number_format", "GS-{YY}{MM}-{SEQ:5}");
    set_setting(f, "company.country", "de"); /* stored upper-case */
    char v[64];
    struct lumi_err err;
    assert_int_equal(settings_reg_text(f->db, "company.country", v, sizeof v, &err), 0);
    assert_string_equal(v, "DE");
    json_t *body = json_pack("{s:s}", "company.country", "XX");
    json_t *out = settings_reg_update(f->db, &ACTOR, body, &err);
    assert_null(out);
    assert_non_null(strstr(err.msg, "company.country"));
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(default_format_continues_todays_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(a_rollback_gives_the_number_back, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_invoices_get_unique_numbers_without_a_gap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_per_year_format_starts_again_each_year, setup, teardown),
        cmocka_unit_test_setup_teardown(credit_notes_have_their_own_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_formats_are_refused_when_saved, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
