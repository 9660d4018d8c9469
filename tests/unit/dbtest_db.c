/*
 * dbtest_db.c — the storage interface (db.h) behaves the same on SQLite and
 * PostgreSQL: value round trips, parameter numbering, change counts, error
 * codes for constraint violations, transaction visibility across
 * connections, and connection errors that never leak the password.
 * Runs on both engines (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/testdb.h"

#define NOW "2026-01-01T00:00:00Z"

struct fixture {
    char *url;
    struct db *db;
};

/* Fails with both values printed as signed numbers (cmocka prints hex). */
#define assert_rc(rc, expected, err)                                                               \
    do {                                                                                           \
        int rc_ = (rc);                                                                            \
        if (rc_ != (expected))                                                                     \
            fail_msg("%s = %d, expected %d (%s)", #rc, rc_, (int)(expected), (err).msg);           \
    } while (0)

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct lumi_err err;
    f->url = testdb_create();
    f->db = testdb_open_migrated(f->url);
    if (db_exec(f->db, "CREATE TABLE kv (k TEXT PRIMARY KEY, t TEXT, n BIGINT)", &err) != 0)
        fail_msg("create kv: %s", err.msg);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static void exec_ok(struct db *db, const char *sql, int nparams, const char *const *params)
{
    struct lumi_err err;
    if (db_execp(db, sql, nparams, params, NULL, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

/* COUNT(*) of kv, or the error code. */
static int64_t count_or_error(struct db *db, struct lumi_err *err)
{
    int64_t n = -1;
    int rc = db_query_int64(db, "SELECT COUNT(*) FROM kv", 0, NULL, &n, err);
    return rc != 0 ? rc : n;
}

static int64_t insert_user(struct db *db, const char *email, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(
        db,
        "INSERT INTO users (email, role, created_at, updated_at) VALUES ($1, 'client', $2, $2)"
        " RETURNING id",
        err);
    assert_non_null(st);
    db_bind_text(st, 1, email);
    db_bind_text(st, 2, NOW);
    int rc = db_step(st, err);
    int64_t id = rc == DB_ROW ? db_col_int64(st, 0) : rc;
    db_finalize(st);
    return id;
}

static void text_round_trips_quotes_and_unicode(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    static const char tricky[] = "it's \"quoted\"; -- not a comment \\ $1 ?1 ünïcødé 日本 😀";
    struct db_stmt *st = db_prepare(f->db, "INSERT INTO kv (k, t) VALUES ($1, $2)", &err);
    assert_non_null(st);
    assert_int_equal(db_bind_text(st, 1, "a"), 0);
    assert_int_equal(db_bind_text(st, 2, tricky), 0);
    assert_rc(db_step(st, &err), DB_DONE, err);
    db_finalize(st);

    st = db_prepare(f->db, "SELECT t AS the_text FROM kv WHERE k = $1", &err);
    assert_non_null(st);
    db_bind_text(st, 1, "a");
    assert_rc(db_step(st, &err), DB_ROW, err);
    assert_int_equal(db_col_count(st), 1);
    assert_string_equal(db_col_name(st, 0), "the_text");
    assert_false(db_col_is_null(st, 0));
    assert_string_equal(db_col_text(st, 0), tricky);
    assert_rc(db_step(st, &err), DB_DONE, err);
    db_finalize(st);
}

static void int64_extremes_round_trip(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    static const int64_t values[] = {INT64_MIN, INT64_MAX, 0, -1, 1};
    static const char *const keys[] = {"min", "max", "zero", "minus", "one"};
    for (size_t i = 0; i < 5; i++) {
        struct db_stmt *st = db_prepare(f->db, "INSERT INTO kv (k, n) VALUES ($1, $2)", &err);
        assert_non_null(st);
        db_bind_text(st, 1, keys[i]);
        assert_int_equal(db_bind_int64(st, 2, values[i]), 0);
        assert_rc(db_step(st, &err), DB_DONE, err);
        db_finalize(st);
    }
    for (size_t i = 0; i < 5; i++) {
        struct db_stmt *st = db_prepare(f->db, "SELECT n FROM kv WHERE k = $1", &err);
        db_bind_text(st, 1, keys[i]);
        assert_rc(db_step(st, &err), DB_ROW, err);
        assert_true(db_col_int64(st, 0) == values[i]);
        db_finalize(st);
    }
    struct db_stmt *st = db_prepare(f->db, "SELECT n FROM kv WHERE k = 'min'", &err);
    assert_rc(db_step(st, &err), DB_ROW, err);
    assert_string_equal(db_col_text(st, 0), "-9223372036854775808");
    db_finalize(st);
}

static void null_binds_read_as_null(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct db_stmt *st = db_prepare(f->db, "INSERT INTO kv (k, t, n) VALUES ($1, $2, $3)", &err);
    db_bind_text(st, 1, "nulls");
    assert_int_equal(db_bind_text(st, 2, NULL), 0);
    assert_int_equal(db_bind_null(st, 3), 0);
    assert_rc(db_step(st, &err), DB_DONE, err);
    db_finalize(st);

    st = db_prepare(f->db, "SELECT t, n, k FROM kv WHERE k = 'nulls'", &err);
    assert_rc(db_step(st, &err), DB_ROW, err);
    assert_true(db_col_is_null(st, 0));
    assert_null(db_col_text(st, 0));
    assert_true(db_col_is_null(st, 1));
    assert_true(db_col_int64(st, 1) == 0);
    assert_false(db_col_is_null(st, 2));
    /* Out-of-range columns read as NULL rather than crashing. */
    assert_null(db_col_text(st, 3));
    assert_true(db_col_is_null(st, -1));
    db_finalize(st);
}

static void insert_returning_gives_increasing_ids(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t a = insert_user(f->db, "a@example.com", &err);
    int64_t b = insert_user(f->db, "b@example.com", &err);
    assert_true(a > 0);
    assert_true(b > a);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM users") == 2);
}

/* INSERT ... ON CONFLICT DO NOTHING RETURNING id (SQLite answers it from the
 * last rowid, see db_sqlite.c): one row with the new id when it inserted,
 * none when it did not; the same again from the cached statement. */
static void insert_returning_id_or_nothing_on_conflict(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    static const char sql[] =
        "INSERT INTO webhook_events (gateway, event_id, event_type, status, payload, received_at)"
        " VALUES ('stripe', $1, 't', 'processed', '{}', '" NOW "')"
        " ON CONFLICT (gateway, event_id) DO NOTHING RETURNING id";
    static const char *const ids[] = {"evt_a", "evt_a", "evt_b", "evt_b"};
    int64_t last = 0;
    for (size_t i = 0; i < 4; i++) {
        struct db_stmt *st = db_prepare(f->db, sql, &err);
        assert_non_null(st);
        db_bind_text(st, 1, ids[i]);
        int rc = db_step(st, &err);
        if (i % 2 == 0) { /* new */
            assert_rc(rc, DB_ROW, err);
            assert_int_equal(db_col_count(st), 1);
            assert_string_equal(db_col_name(st, 0), "id");
            int64_t id = db_col_int64(st, 0);
            assert_true(id > last);
            char text[24];
            snprintf(text, sizeof text, "%lld", (long long)id);
            assert_string_equal(db_col_text(st, 0), text);
            assert_false(db_col_is_null(st, 0));
            last = id;
            rc = db_step(st, &err);
        }
        assert_rc(rc, DB_DONE, err);
        assert_true(db_changes(st) == (i % 2 == 0 ? 1 : 0));
        db_finalize(st);
    }
    assert_true(testdb_int64(f->db, "SELECT MAX(id) FROM webhook_events") == last);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM webhook_events") == 2);
}

static void changes_counts_rows_of_the_statement(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t changes = -1;
    const char *const p1[] = {"1"};
    exec_ok(f->db, "INSERT INTO kv (k, n) VALUES ('a', 1), ('b', 2), ('c', 3)", 0, NULL);

    assert_rc(db_execp(f->db, "UPDATE kv SET n = n + 10 WHERE n > $1", 1, p1, &changes, &err), 0,
              err);
    assert_true(changes == 2);
    assert_rc(db_execp(f->db, "UPDATE kv SET n = 0 WHERE k = 'zz'", 0, NULL, &changes, &err), 0,
              err);
    assert_true(changes == 0);
    /* A SELECT changes nothing, even right after a statement that did. */
    assert_rc(db_execp(f->db, "SELECT * FROM kv", 0, NULL, &changes, &err), 0, err);
    assert_true(changes == 0);

    struct db_stmt *st =
        db_prepare(f->db, "INSERT INTO kv (k, n) VALUES ('d', 4) RETURNING n", &err);
    assert_rc(db_step(st, &err), DB_ROW, err);
    assert_true(db_col_int64(st, 0) == 4);
    assert_rc(db_step(st, &err), DB_DONE, err);
    assert_true(db_changes(st) == 1);
    db_finalize(st);

    assert_rc(db_execp(f->db, "DELETE FROM kv", 0, NULL, &changes, &err), 0, err);
    assert_true(changes == 4);
}

static void step_after_done_does_not_run_again(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct db_stmt *st = db_prepare(f->db, "INSERT INTO kv (k, n) VALUES ('once', 1)", &err);
    assert_rc(db_step(st, &err), DB_DONE, err);
    assert_rc(db_step(st, &err), DB_DONE, err);
    db_finalize(st);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM kv") == 1);
}

static void unique_violation_is_conflict_and_rollback_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    assert_rc(db_begin(f->db, &err), 0, err);
    assert_true(db_in_tx(f->db));
    assert_true(insert_user(f->db, "dup@example.com", &err) > 0);
    err_clear(&err);
    int64_t rc = insert_user(f->db, "dup@example.com", &err);
    assert_true(rc == LUMI_ECONFLICT);
    assert_true(err.code == LUMI_ECONFLICT);
    assert_true(strlen(err.msg) > 0);
    db_rollback(f->db);
    assert_false(db_in_tx(f->db));
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM users") == 0);
}

static void primary_key_violation_is_conflict(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    exec_ok(f->db, "INSERT INTO kv (k) VALUES ('pk')", 0, NULL);
    assert_rc(db_execp(f->db, "INSERT INTO kv (k) VALUES ('pk')", 0, NULL, NULL, &err),
              LUMI_ECONFLICT, err);
}

static void foreign_key_violation_is_einval(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    const char *const p[] = {"999", NOW};
    int rc = db_execp(f->db,
                      "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at,"
                      " expires_at, last_seen_at) VALUES ('h', $1, 'c', $2, $2, $2)",
                      2, p, NULL, &err);
    assert_rc(rc, LUMI_EINVAL, err);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM sessions") == 0);
}

static void check_and_not_null_violations_are_einval(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    const char *const p[] = {"x@example.com", NOW};
    int rc = db_execp(f->db,
                      "INSERT INTO users (email, role, created_at, updated_at)"
                      " VALUES ($1, 'root', $2, $2)",
                      2, p, NULL, &err);
    assert_rc(rc, LUMI_EINVAL, err);
    const char *const p2[] = {NOW};
    rc = db_execp(f->db,
                  "INSERT INTO users (email, role, created_at, updated_at)"
                  " VALUES (NULL, 'client', $1, $1)",
                  1, p2, NULL, &err);
    assert_rc(rc, LUMI_EINVAL, err);
}

static void commit_is_visible_to_another_connection(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct db *other = testdb_open(f->url);
    assert_rc(db_begin(f->db, &err), 0, err);
    exec_ok(f->db, "INSERT INTO kv (k) VALUES ('shared')", 0, NULL);
    /* Not yet committed: the other connection does not see it. */
    assert_true(testdb_int64(other, "SELECT COUNT(*) FROM kv") == 0);
    assert_rc(db_commit(f->db, &err), 0, err);
    assert_false(db_in_tx(f->db));
    assert_true(testdb_int64(other, "SELECT COUNT(*) FROM kv") == 1);
    db_close(other);
}

static void *commit_later(void *arg)
{
    struct lumi_err err;
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (db_commit(arg, &err) != 0)
        fprintf(stderr, "commit_later: %s\n", err.msg);
    return NULL;
}

/* The group-commit writer's wait (db_lock_wait_short): on SQLite, a write
 * transaction begun while another connection holds the write lock waits for
 * it and then goes ahead, after the other's rows, instead of failing. */
static void a_short_waiter_takes_the_write_lock_once_it_is_free(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    if (testdb_is_postgres())
        return; /* the server queues lock waiters: nothing of Lumi's to test */
    struct db *writer = testdb_open(f->url);
    db_lock_wait_short(writer);
    assert_rc(db_begin(f->db, &err), 0, err);
    exec_ok(f->db, "INSERT INTO kv (k) VALUES ('first')", 0, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_later, f->db), 0);
    int rc = db_begin(writer, &err); /* waits for commit_later's commit */
    pthread_join(t, NULL);
    assert_rc(rc, 0, err);
    assert_true(testdb_int64(writer, "SELECT COUNT(*) FROM kv WHERE k = 'first'") == 1);
    exec_ok(writer, "INSERT INTO kv (k) VALUES ('second')", 0, NULL);
    assert_rc(db_commit(writer, &err), 0, err);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM kv") == 2);
    db_close(writer);
}

static void rollback_is_invisible(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct db *other = testdb_open(f->url);
    assert_rc(db_begin(f->db, &err), 0, err);
    exec_ok(f->db, "INSERT INTO kv (k) VALUES ('gone')", 0, NULL);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM kv") == 1);
    db_rollback(f->db);
    db_rollback(f->db); /* harmless when nothing is open */
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM kv") == 0);
    assert_true(testdb_int64(other, "SELECT COUNT(*) FROM kv") == 0);
    db_close(other);
}

static void transaction_misuse_is_reported(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    assert_rc(db_commit(f->db, &err), LUMI_EINTERNAL, err);
    assert_rc(db_tx_lock(f->db, 42, &err), LUMI_EINTERNAL, err);
    assert_rc(db_begin(f->db, &err), 0, err);
    assert_rc(db_begin(f->db, &err), LUMI_EINTERNAL, err);
    assert_rc(db_tx_lock(f->db, 42, &err), 0, err);
    assert_rc(db_commit(f->db, &err), 0, err);
}

static void params_bind_by_number_not_by_first_appearance(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    /* In raw SQLite "$2" here would be parameter 1: the values would swap. */
    struct db_stmt *st = db_prepare(f->db, "INSERT INTO kv (k, t, n) VALUES ($2, $1, $3)", &err);
    assert_non_null(st);
    db_bind_text(st, 1, "first");
    db_bind_text(st, 2, "second");
    db_bind_int64(st, 3, 3);
    assert_rc(db_step(st, &err), DB_DONE, err);
    db_finalize(st);

    st = db_prepare(f->db, "SELECT k, t, n FROM kv WHERE n = $2 AND (k = $1 OR t = $1)", &err);
    assert_non_null(st);
    db_bind_text(st, 1, "second");
    db_bind_int64(st, 2, 3);
    assert_rc(db_step(st, &err), DB_ROW, err);
    assert_string_equal(db_col_text(st, 0), "second");
    assert_string_equal(db_col_text(st, 1), "first");
    db_finalize(st);
}

static void dollar_inside_literal_or_comment_is_not_a_parameter(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct db_stmt *st =
        db_prepare(f->db, "INSERT INTO kv (k, t) VALUES ('it''s $1', $1) -- not $2\n", &err);
    assert_non_null(st);
    assert_int_equal(db_bind_text(st, 1, "value"), 0);
    assert_rc(db_step(st, &err), DB_DONE, err);
    db_finalize(st);

    st = db_prepare(f->db, "SELECT t FROM kv WHERE k = 'it''s $1' /* $3 */", &err);
    assert_non_null(st);
    assert_rc(db_step(st, &err), DB_ROW, err);
    assert_string_equal(db_col_text(st, 0), "value");
    db_finalize(st);
}

static void bind_out_of_range_is_einval(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct db_stmt *st = db_prepare(f->db, "SELECT t FROM kv WHERE k = $1", &err);
    assert_non_null(st);
    assert_true(db_bind_text(st, 2, "x") == LUMI_EINVAL);
    assert_true(db_bind_int64(st, 0, 1) == LUMI_EINVAL);
    db_finalize(st);
}

/* Prepares and runs sql; returns the first error code, or the last step's result. */
static int prepare_and_run(struct db *db, const char *sql, struct lumi_err *err)
{
    err_clear(err);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code;
    int rc = db_step(st, err);
    db_finalize(st);
    return rc;
}

static void prepare_takes_exactly_one_statement(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    static const char *const several[] = {"SELECT 1; SELECT 2", "SELECT 1; ; SELECT 2",
                                          "SELECT 1; -- c\n SELECT 2"};
    for (size_t i = 0; i < sizeof several / sizeof several[0]; i++) {
        /* SQLite refuses at prepare, PostgreSQL when the statement runs. */
        int rc = prepare_and_run(f->db, several[i], &err);
        if (rc >= 0)
            fail_msg("accepted several statements: %s", several[i]);
        assert_true(strlen(err.msg) > 0);
    }
    static const char *const one[] = {"SELECT 1;", "SELECT 1;  ", "SELECT 1; -- trailing\n",
                                      "SELECT 1 /* c */ ;;"};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        int rc = prepare_and_run(f->db, one[i], &err);
        if (rc != DB_ROW)
            fail_msg("rejected one statement: %s: %d %s", one[i], rc, err.msg);
    }
    assert_true(prepare_and_run(f->db, "  ", &err) < 0);
}

static void syntax_error_is_edb_with_message(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    err_clear(&err);
    int rc = db_exec(f->db, "CREATE TABLEX nope (a INTEGER)", &err);
    assert_rc(rc, LUMI_EDB, err);
    assert_non_null(strstr(err.msg, "syntax"));
}

static void query_int64_without_row_is_notfound(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int64_t v = 7;
    assert_rc(db_query_int64(f->db, "SELECT n FROM kv WHERE k = 'none'", 0, NULL, &v, &err),
              LUMI_ENOTFOUND, err);
    assert_true(v == 7);
}

static void try_lock_is_exclusive_on_postgres(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct db *other = testdb_open(f->url);
    assert_rc(db_try_lock(f->db, 4242, &err), 1, err);
    int expect_other = testdb_is_postgres() ? 0 : 1;
    assert_rc(db_try_lock(other, 4242, &err), expect_other, err);
    db_close(f->db); /* a session lock dies with its connection */
    f->db = testdb_open(f->url);
    assert_rc(db_try_lock(other, 4242, &err), 1, err);
    db_close(other);
}

/* Ends db's server session from another connection (PostgreSQL only). */
static void kill_session(struct db *db, const char *url)
{
    struct lumi_err err;
    int64_t pid = 0;
    assert_rc(db_query_int64(db, "SELECT pg_backend_pid()", 0, NULL, &pid, &err), 0, err);
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)pid);
    const char *const p[] = {text};
    struct db *killer = testdb_open(url);
    assert_rc(
        db_execp(killer, "SELECT pg_terminate_backend(CAST($1 AS INTEGER))", 1, p, NULL, &err), 0,
        err);
    db_close(killer);
}

static void lost_connection_is_reported_then_reopened(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    if (!testdb_is_postgres())
        skip();
    kill_session(f->db, f->url);
    /* The statement that meets the dead session fails; the next one reconnects. */
    err_clear(&err);
    assert_true(count_or_error(f->db, &err) < 0);
    assert_true(err.code == LUMI_EDB);
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM kv") == 0);

    /* Inside a transaction the work is gone: commit must fail, rollback recovers. */
    assert_rc(db_begin(f->db, &err), 0, err);
    exec_ok(f->db, "INSERT INTO kv (k) VALUES ('lost')", 0, NULL);
    kill_session(f->db, f->url);
    assert_true(count_or_error(f->db, &err) < 0);
    assert_true(count_or_error(f->db, &err) < 0);
    assert_true(db_commit(f->db, &err) == LUMI_EDB);
    assert_false(db_in_tx(f->db));
    assert_true(testdb_int64(f->db, "SELECT COUNT(*) FROM kv") == 0);
}

static void bad_url_error_hides_the_password(void **state)
{
    static const char *const urls[] = {
        "postgres://u:SECRETPW@127.0.0.1:1/x",
        "postgresql://u:SECRETPW@127.0.0.1:1/x?connect_timeout=2",
        "postgres://u@127.0.0.1:1/x?password=SECRETPW",
        "postgres://u:SECRETPW@127.0.0.1:notaport/x",
        "postgres://u:SECRET%50W@[::1:1/x",
        "postgres://u:pa/SECRETPW@127.0.0.1:1/x",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        struct lumi_err err;
        err_clear(&err);
        struct db *db = db_open(urls[i], &err);
        assert_null(db);
        assert_true(err.code == LUMI_EDB);
        assert_true(strlen(err.msg) > 0);
        if (strstr(err.msg, "SECRET") != NULL)
            fail_msg("password leaked for %s: %s", urls[i], err.msg);
    }
}

static void unknown_scheme_is_einval(void **state)
{
    struct lumi_err err;
    assert_null(db_open("mysql://u:p@localhost/x", &err));
    assert_true(err.code == LUMI_EINVAL);
    assert_null(db_open("sqlite:", &err));
    assert_true(err.code == LUMI_EINVAL);
    assert_null(db_open(NULL, &err));
    assert_true(err.code == LUMI_EINVAL);
}

static void sqlite_memory_and_missing_dir(void **state)
{
    struct lumi_err err;
    struct db *db = db_open("sqlite::memory:", &err);
    assert_non_null(db);
    assert_true(db_kind(db) == DB_SQLITE);
    assert_rc(db_exec(db, "CREATE TABLE t (a INTEGER)", &err), 0, err);
    db_close(db);
    assert_null(db_open("sqlite:/nonexistent-dir/x/lumi.db", &err));
    assert_true(err.code == LUMI_EDB);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x/lumi.db"));
}

static void kind_matches_engine(void **state)
{
    struct fixture *f = *state;
    assert_true(db_kind(f->db) == (testdb_is_postgres() ? DB_POSTGRES : DB_SQLITE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(text_round_trips_quotes_and_unicode, setup, teardown),
        cmocka_unit_test_setup_teardown(int64_extremes_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(null_binds_read_as_null, setup, teardown),
        cmocka_unit_test_setup_teardown(insert_returning_gives_increasing_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(insert_returning_id_or_nothing_on_conflict, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(changes_counts_rows_of_the_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(step_after_done_does_not_run_again, setup, teardown),
        cmocka_unit_test_setup_teardown(unique_violation_is_conflict_and_rollback_leaves_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(primary_key_violation_is_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(foreign_key_violation_is_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(check_and_not_null_violations_are_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_is_visible_to_another_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(a_short_waiter_takes_the_write_lock_once_it_is_free, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rollback_is_invisible, setup, teardown),
        cmocka_unit_test_setup_teardown(transaction_misuse_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(params_bind_by_number_not_by_first_appearance, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dollar_inside_literal_or_comment_is_not_a_parameter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(bind_out_of_range_is_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(prepare_takes_exactly_one_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(syntax_error_is_edb_with_message, setup, teardown),
        cmocka_unit_test_setup_teardown(query_int64_without_row_is_notfound, setup, teardown),
        cmocka_unit_test_setup_teardown(try_lock_is_exclusive_on_postgres, setup, teardown),
        cmocka_unit_test_setup_teardown(kind_matches_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(lost_connection_is_reported_then_reopened, setup, teardown),
        cmocka_unit_test(bad_url_error_hides_the_password),
        cmocka_unit_test(unknown_scheme_is_einval),
        cmocka_unit_test(sqlite_memory_and_missing_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
