/*
 * dbtest_audit.c — the audit chain: appends inside transactions, verification
 * that catches edited, deleted and reordered rows, queries and exports, and
 * one unbroken chain under concurrent writers (threads, and processes).
 * Runs on SQLite and PostgreSQL (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/crypto.h"
#include "support/testdb.h"

struct fixture {
    char *url;
    struct db *db;
};

static const struct audit_actor ACTOR = {"user", "7", "admin@example.com", "192.0.2.1",
                                         "test-agent"};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    crypto_init();
    f->url = testdb_create();
    f->db = testdb_open_migrated(f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t append_one(struct db *db, const char *action, int n)
{
    struct lumi_err err;
    int64_t id = 0;
    json_t *d = json_pack("{s:i s:s}", "n", n, "note", "quote \" and unicode é");
    assert_int_equal(db_begin(db, &err), 0);
    int rc = audit_append(db, &ACTOR, action, "invoice", "42", d, &id, &err);
    if (rc != 0)
        fail_msg("audit_append: %s", err.msg);
    assert_int_equal(db_commit(db, &err), 0);
    json_decref(d);
    return id;
}

static struct audit_verify_result verify(struct db *db)
{
    struct audit_verify_result res;
    struct lumi_err err;
    if (audit_verify(db, &res, &err) != 0)
        fail_msg("audit_verify: %s", err.msg);
    return res;
}

static void append_requires_transaction(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    assert_true(audit_append(f->db, &ACTOR, "LOGIN", "user", "1", NULL, NULL, &err) < 0);
    int64_t n = -1;
    assert_int_equal(db_query_int64(f->db, "SELECT COUNT(*) FROM audit_log", 0, NULL, &n, &err), 0);
    assert_true(n == 0);
}

static void rolled_back_append_leaves_no_row(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    assert_int_equal(db_begin(f->db, &err), 0);
    assert_int_equal(audit_append(f->db, &ACTOR, "LOGIN", "user", "1", NULL, NULL, &err), 0);
    db_rollback(f->db);
    int64_t n = -1;
    assert_int_equal(db_query_int64(f->db, "SELECT COUNT(*) FROM audit_log", 0, NULL, &n, &err), 0);
    assert_true(n == 0);
    /* The next append still starts the chain at #1. */
    assert_true(append_one(f->db, "LOGIN", 1) == 1);
    struct audit_verify_result r = verify(f->db);
    assert_true(r.broken_id == 0 && r.rows == 1);
}

static void chain_links_rows(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 5; i++)
        assert_true(append_one(f->db, "PAYMENT_RECEIVED", i) == i);
    struct audit_verify_result r = verify(f->db);
    assert_true(r.rows == 5);
    assert_true(r.last_good_id == 5);
    assert_true(r.broken_id == 0);

    struct lumi_err err;
    json_t *row2 = audit_get(f->db, 2, &err);
    json_t *row1 = audit_get(f->db, 1, &err);
    assert_non_null(row1);
    assert_non_null(row2);
    assert_string_equal(json_string_value(json_object_get(row2, "prev_hash")),
                        json_string_value(json_object_get(row1, "hash")));
    assert_string_equal(json_string_value(json_object_get(row1, "prev_hash")),
                        "0000000000000000000000000000000000000000000000000000000000000000");
    assert_string_equal(json_string_value(json_object_get(row1, "actor_email")),
                        "admin@example.com");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(row2, "details"), "n")), 2);
    json_decref(row1);
    json_decref(row2);
}

static void edited_row_is_detected(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 5; i++)
        append_one(f->db, "PAYMENT_RECEIVED", i);
    /* Change the amount in row 3's details, as a tamperer would. */
    testdb_exec(f->db, "UPDATE audit_log SET details = '{\"n\":300}' WHERE id = 3");
    struct audit_verify_result r = verify(f->db);
    assert_true(r.broken_id == 3);
    assert_true(r.last_good_id == 2);
    assert_non_null(strstr(r.reason, "hash"));
}

static void edited_actor_is_detected(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 4; i++)
        append_one(f->db, "LOGIN", i);
    testdb_exec(f->db, "UPDATE audit_log SET ip = '203.0.113.9' WHERE id = 4");
    assert_true(verify(f->db).broken_id == 4);
}

static void deleted_row_is_detected(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 5; i++)
        append_one(f->db, "PAYMENT_RECEIVED", i);
    testdb_exec(f->db, "DELETE FROM audit_log WHERE id = 3");
    struct audit_verify_result r = verify(f->db);
    assert_true(r.broken_id == 4);
    assert_true(r.last_good_id == 2);
}

static void deleted_first_row_is_detected(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 3; i++)
        append_one(f->db, "PAYMENT_RECEIVED", i);
    testdb_exec(f->db, "DELETE FROM audit_log WHERE id = 1");
    struct audit_verify_result r = verify(f->db);
    assert_true(r.broken_id == 2);
    assert_true(r.last_good_id == 0);
}

static void reordered_rows_are_detected(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 5; i++)
        append_one(f->db, i % 2 ? "INVOICE_PAID" : "PAYMENT_RECEIVED", i);
    /* Swap rows 2 and 3 (ids stay consecutive; contents move). */
    testdb_exec(f->db, "UPDATE audit_log SET id = 1000 WHERE id = 2");
    testdb_exec(f->db, "UPDATE audit_log SET id = 2 WHERE id = 3");
    testdb_exec(f->db, "UPDATE audit_log SET id = 3 WHERE id = 1000");
    struct audit_verify_result r = verify(f->db);
    assert_true(r.broken_id == 2);
    assert_true(r.last_good_id == 1);
}

static void recomputed_hash_still_breaks_next_link(void **state)
{
    /* A tamperer who edits row 2 and fixes its hash must also fix every later
     * prev_hash; editing only row 2's hash breaks the link at row 3. */
    struct fixture *f = *state;
    for (int i = 1; i <= 3; i++)
        append_one(f->db, "PAYMENT_RECEIVED", i);
    testdb_exec(f->db, "UPDATE audit_log SET hash = "
                       "'1111111111111111111111111111111111111111111111111111111111111111' "
                       "WHERE id = 2");
    assert_true(verify(f->db).broken_id == 2);
}

static struct audit_check check(struct db *db, int max_rows)
{
    struct audit_check c;
    struct lumi_err err;
    if (audit_check_incremental(db, max_rows, &c, &err) != 0)
        fail_msg("audit_check_incremental: %s", err.msg);
    return c;
}

static void incremental_check_moves_forward_in_bounded_steps(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 5; i++)
        append_one(f->db, "PAYMENT_RECEIVED", i);
    struct audit_check c = check(f->db, 2);
    assert_true(c.v.broken_id == 0 && c.v.last_good_id == 2 && !c.complete && c.tip == 5);
    c = check(f->db, 2);
    assert_true(c.v.broken_id == 0 && c.v.last_good_id == 4 && !c.complete);
    c = check(f->db, 2);
    assert_true(c.v.broken_id == 0 && c.v.last_good_id == 5 && c.complete);
    /* A new row is checked on the next call. */
    append_one(f->db, "PAYMENT_RECEIVED", 6);
    c = check(f->db, 2);
    assert_true(c.v.broken_id == 0 && c.v.last_good_id == 6 && c.complete);
    assert_string_equal(c.full_at, ""); /* no full check has run */
}

static void incremental_check_finds_breaks_after_the_checkpoint_only(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    for (int i = 1; i <= 6; i++)
        append_one(f->db, "PAYMENT_RECEIVED", i);
    struct audit_check c = check(f->db, 3); /* checkpoint at #3 */
    assert_true(c.v.last_good_id == 3);

    /* A change after the checkpoint is found, and the checkpoint does not move past it. */
    testdb_exec(f->db, "UPDATE audit_log SET details = '{\"n\":500}' WHERE id = 5");
    c = check(f->db, 10);
    assert_true(c.v.broken_id == 5 && c.v.last_good_id == 4 && c.complete);
    c = check(f->db, 10);
    assert_true(c.v.broken_id == 5);

    /* The checkpoint row itself is re-hashed on every call. */
    testdb_exec(f->db, "UPDATE audit_log SET actor_email = 'x@example.com' WHERE id = 4");
    c = check(f->db, 10);
    assert_true(c.v.broken_id == 4);

    /* A change before the checkpoint is not the page's to see: only the full check finds it,
     * and records what it found for the page. */
    testdb_exec(f->db, "UPDATE audit_log SET details = '{\"n\":100}' WHERE id = 1");
    struct audit_verify_result v;
    assert_int_equal(audit_verify_record(f->db, &v, &err), 0);
    assert_true(v.broken_id == 1);
    c = check(f->db, 10);
    assert_true(c.v.broken_id == 1);
    assert_true(c.full_at[0] != '\0' && c.full_broken_id == 1);
}

static void query_filters_and_pages(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 7; i++)
        append_one(f->db, i <= 4 ? "PAYMENT_RECEIVED" : "LOGIN", i);
    struct lumi_err err;
    int64_t next = 0;
    struct audit_filter flt = {.action = "PAYMENT_RECEIVED"};
    json_t *page = audit_query(f->db, &flt, 3, &next, &err);
    assert_non_null(page);
    assert_int_equal(json_array_size(page), 3);
    /* Newest first. */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(page, 0), "id")), 4);
    assert_true(next == 2);
    json_decref(page);
    flt.before_id = next;
    page = audit_query(f->db, &flt, 3, &next, &err);
    assert_int_equal(json_array_size(page), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(page, 0), "id")), 1);
    assert_true(next == 0);
    json_decref(page);

    struct audit_filter text = {.q = "UNICODE"};
    page = audit_query(f->db, &text, 50, &next, &err);
    assert_int_equal(json_array_size(page), 7);
    json_decref(page);
    struct audit_filter pct = {.q = "100%"};
    page = audit_query(f->db, &pct, 50, &next, &err);
    assert_int_equal(json_array_size(page), 0);
    json_decref(page);
    struct audit_filter ip = {.ip = "192.0.2.1", .actor = "admin@example.com"};
    page = audit_query(f->db, &ip, 50, &next, &err);
    assert_int_equal(json_array_size(page), 7);
    json_decref(page);
}

static void export_writes_csv_and_jsonl(void **state)
{
    struct fixture *f = *state;
    for (int i = 1; i <= 3; i++)
        append_one(f->db, "INVOICE_CREATED", i);
    struct lumi_err err;
    char *data = NULL;
    size_t len = 0;
    int64_t n = 0;
    FILE *mem = open_memstream(&data, &len);
    assert_int_equal(audit_export(f->db, NULL, AUDIT_CSV, mem, &n, &err), 0);
    fclose(mem);
    assert_true(n == 3);
    assert_true(strncmp(data, "id,at,actor_type,", 17) == 0);
    /* Embedded quotes are doubled per RFC 4180. */
    assert_non_null(strstr(data, "quote \\\"\" and"));
    free(data);

    mem = open_memstream(&data, &len);
    assert_int_equal(audit_export(f->db, NULL, AUDIT_JSONL, mem, &n, &err), 0);
    fclose(mem);
    int lines = 0;
    for (char *p = data; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    json_t *first = json_loadb(data, strcspn(data, "\n"), 0, NULL);
    assert_non_null(first);
    assert_int_equal(json_integer_value(json_object_get(first, "id")), 1);
    json_decref(first);
    free(data);
}

/* --- concurrency ------------------------------------------------------ */

#define THREADS 4
#define PER_WRITER 25

struct writer {
    const char *url;
    int failures;
};

static void *writer_thread(void *arg)
{
    struct writer *w = arg;
    struct lumi_err err;
    struct db *db = db_open(w->url, &err);
    if (db == NULL) {
        w->failures = PER_WRITER;
        return NULL;
    }
    for (int i = 0; i < PER_WRITER; i++) {
        int rc = db_begin(db, &err);
        if (rc == 0)
            rc = audit_append(db, &ACTOR, "PAYMENT_RECEIVED", "invoice", "1", NULL, NULL, &err);
        if (rc == 0)
            rc = db_commit(db, &err);
        if (rc != 0) {
            db_rollback(db);
            w->failures++;
        }
    }
    db_close(db);
    return NULL;
}

static void concurrent_threads_keep_one_chain(void **state)
{
    struct fixture *f = *state;
    pthread_t t[THREADS];
    struct writer w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){f->url, 0};
        pthread_create(&t[i], NULL, writer_thread, &w[i]);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += w[i].failures;
    }
    assert_int_equal(failures, 0);
    struct audit_verify_result r = verify(f->db);
    assert_true(r.broken_id == 0);
    assert_true(r.rows == THREADS * PER_WRITER);
}

static void concurrent_processes_keep_one_chain(void **state)
{
    struct fixture *f = *state;
    pid_t pids[THREADS];
    fflush(NULL);
    for (int i = 0; i < THREADS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct writer w = {f->url, 0};
            writer_thread(&w);
            _exit(w.failures == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < THREADS; i++) {
        int status = 0;
        assert_true(waitpid(pids[i], &status, 0) == pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    struct audit_verify_result r = verify(f->db);
    assert_true(r.broken_id == 0);
    assert_true(r.rows == THREADS * PER_WRITER);
}

/* The chain's format as the first releases wrote it (json_pack + a compact
 * dump): rows already on disk must keep verifying after the serialisation
 * moved to jsonx_append_string. */
static void row_hash_keeps_the_original_serialisation(void **state)
{
    (void)state;
    const struct audit_row rows[] = {
        {7, "2026-11-25T10:00:00Z", "gateway", "stripe", NULL, "PAYMENT_RECEIVED", "invoice", "42",
         "127.0.0.1", "Stripe/1.0 (+https://stripe.com/docs/webhooks)", "{\"amount\":1250}",
         "00ff"},
        {1, "2026-01-01T00:00:00Z", "user", "1", "a\"b\\c@example.com", "LOGIN\t\n", NULL, NULL,
         NULL, "caf\xc3\xa9 \xe2\x82\xac\x01\x1f/", "{}", "0000"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct audit_row *r = &rows[i];
#define S(x) ((x) != NULL ? json_string(x) : json_null())
        json_t *arr = json_pack("[Iooooooooo]", (json_int_t)r->id, S(r->at), S(r->actor_type),
                                S(r->actor_id), S(r->actor_email), S(r->action), S(r->entity),
                                S(r->entity_id), S(r->ip), S(r->user_agent));
#undef S
        assert_non_null(arr);
        char *head = json_dumps(arr, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char text[2048], want[CRYPTO_SHA256_HEX], got[CRYPTO_SHA256_HEX];
        int n = snprintf(text, sizeof text, "%s%.*s,%s]", r->prev_hash, (int)strlen(head) - 1, head,
                         r->details);
        assert_true(n > 0 && (size_t)n < sizeof text);
        crypto_sha256_hex(text, (size_t)n, want);
        assert_int_equal(audit_row_hash(r, got), 0);
        assert_string_equal(got, want);
        free(head);
        json_decref(arr);
    }
    const struct audit_row bad = {1,    "t",  "user", "\xff", NULL, "X",
                                  NULL, NULL, NULL,   NULL,   "{}", "00"};
    char h[CRYPTO_SHA256_HEX];
    assert_int_equal(audit_row_hash(&bad, h), LUMI_EINVAL); /* jansson refused it too */
}

/* One row whose details are {"note": note}. */
static void append_note(struct db *db, const char *note)
{
    struct lumi_err err;
    json_t *d = json_pack("{s:s}", "note", note);
    assert_int_equal(db_begin(db, &err), 0);
    if (audit_append(db, &ACTOR, "NOTE", "invoice", "42", d, NULL, &err) != 0)
        fail_msg("audit_append: %s", err.msg);
    assert_int_equal(db_commit(db, &err), 0);
    json_decref(d);
}

static size_t found(struct db *db, const char *q)
{
    struct lumi_err err;
    int64_t next = 0;
    struct audit_filter flt = {.q = q};
    json_t *page = audit_query(db, &flt, 50, &next, &err);
    if (page == NULL)
        fail_msg("audit_query %s: %s", q, err.msg);
    size_t n = json_array_size(page);
    json_decref(page);
    return n;
}

/*
 * Text search through the index (SQLite asks FTS5 only for a query's
 * trigrams with a digit or punctuation when it has some, issue 15): a row
 * that has those trigrams but not the whole text is not an answer, repeated
 * trigrams change nothing, letters-only queries still use every trigram; the
 * same answers before the rows are indexed (read directly) and after.
 */
static void text_search_finds_exactly_the_rows_with_the_text(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    append_note(f->db, "alpha 777 paid");
    append_note(f->db, "beta 777 due");
    append_note(f->db, "gamma 7777777 paid");
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(found(f->db, "alpha 777"), 1); /* "a 7" is in "beta 777" too */
        assert_int_equal(found(f->db, "777"), 3);
        assert_int_equal(found(f->db, "7777777"), 1);
        assert_int_equal(found(f->db, "777 paid"), 2);
        assert_int_equal(found(f->db, "beta"), 1);
        assert_int_equal(found(f->db, "paid"), 2);
        assert_int_equal(found(f->db, "delta 777"), 0);
        /* now through the index (SQLite; PostgreSQL indexes as it writes) */
        assert_true(audit_index_pending(f->db, 1000, &err) >= 0);
    }
}

/* The ids of the rows a search finds, following its cursor page by page. */
static size_t search_ids(struct db *db, const char *q, int limit, int64_t *ids, size_t max)
{
    struct lumi_err err;
    struct audit_filter flt = {.q = q};
    size_t n = 0;
    for (int pages = 0; pages < 2000; pages++) {
        int64_t next = 0;
        json_t *page = audit_query(db, &flt, limit, &next, &err);
        if (page == NULL)
            fail_msg("audit_query %s: %s", q, err.msg);
        for (size_t i = 0; i < json_array_size(page) && n < max; i++)
            ids[n++] = json_integer_value(json_object_get(json_array_get(page, i), "id"));
        json_decref(page);
        if (next == 0)
            return n;
        flt.before_id = next;
    }
    fail_msg("audit_query %s: no end to the pages", q);
    return 0;
}

/*
 * 2,600 rows: rare texts among old rows, texts in old and new rows, a
 * common one; with digits (on PostgreSQL the index is asked for them alone,
 * see audit.c) and without, three rows a page and fifty. Every search finds
 * exactly the rows holding its text, newest first, each once.
 */
static void a_search_finds_old_and_new_rows_alike_page_by_page(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    enum { N = 2600 };
    static char notes[N][48];
    static int64_t ids[N], got[N];
    for (int i = 0; i < N; i++) {
        if (i == 5 || i == 6 || i == 2590)
            snprintf(notes[i], sizeof notes[i], "needle 4242 at %d", i);
        else if (i == 7)
            snprintf(notes[i], sizeof notes[i], "needle 424 at %d", i);
        else if (i % 100 == 0)
            snprintf(notes[i], sizeof notes[i], "tick %d", i);
        else
            snprintf(notes[i], sizeof notes[i], "row %d", i);
    }
    assert_int_equal(db_begin(f->db, &err), 0);
    for (int i = 0; i < N; i++) {
        json_t *d = json_pack("{s:s}", "note", notes[i]);
        if (audit_append(f->db, &ACTOR, "NOTE", "invoice", "42", d, &ids[i], &err) != 0)
            fail_msg("audit_append: %s", err.msg);
        json_decref(d);
    }
    assert_int_equal(db_commit(f->db, &err), 0);
    const char *queries[] = {"needle 4242", "needle 424", "4242 at 5", "tick", "tick 1",
                             "row 1", "row 12", "needle", "no such 4242 text"};
    const int limits[] = {3, 50};
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < sizeof queries / sizeof queries[0]; k++) {
            for (size_t l = 0; l < 2; l++) {
                size_t n = search_ids(f->db, queries[k], limits[l], got, N);
                size_t want = 0;
                for (int i = N - 1; i >= 0; i--) {
                    if (strstr(notes[i], queries[k]) == NULL)
                        continue;
                    if (want >= n || got[want] != ids[i])
                        fail_msg("q=\"%s\" limit %d: result %zu is not the row of \"%s\"", queries[k],
                                 limits[l], want, notes[i]);
                    want++;
                }
                if (n != want)
                    fail_msg("q=\"%s\" limit %d: %zu rows found, %zu hold the text", queries[k],
                             limits[l], n, want);
            }
        }
        assert_true(audit_index_pending(f->db, N, &err) >= 0); /* then through the index */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(row_hash_keeps_the_original_serialisation),
        cmocka_unit_test_setup_teardown(append_requires_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(rolled_back_append_leaves_no_row, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_links_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(edited_row_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(edited_actor_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_row_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_first_row_is_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(reordered_rows_are_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(recomputed_hash_still_breaks_next_link, setup, teardown),
        cmocka_unit_test_setup_teardown(incremental_check_moves_forward_in_bounded_steps, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(incremental_check_finds_breaks_after_the_checkpoint_only,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(query_filters_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(export_writes_csv_and_jsonl, setup, teardown),
        cmocka_unit_test_setup_teardown(text_search_finds_exactly_the_rows_with_the_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_search_finds_old_and_new_rows_alike_page_by_page, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_threads_keep_one_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_processes_keep_one_chain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
