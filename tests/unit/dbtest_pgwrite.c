/*
 * dbtest_pgwrite.c — the PostgreSQL write path of issue 15: a group commit
 * with several writers (db_batch_start_writers), whose items append audit
 * rows that their connections defer to the end of the transaction. Items
 * submitted from many threads, some failing after their audit append (so
 * their rows must go with them, savepoint and all): every item that did not
 * fail has its row and exactly one audit row, none that failed has either,
 * and the log verifies as ONE chain (consecutive ids, every hash). Also: a
 * transaction that appends on a deferring connection and rolls back leaves
 * nothing, and a caller that asks for the new id gets the row at once.
 * Runs on SQLite too, where the group commit keeps one writer and appends
 * are never deferred (the same promises, the old path).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/config.h"
#include "db/batch.h"
#include "support/testdb.h"

#define THREADS 8
#define PER_THREAD 40
#define WRITERS 4

struct item {
    struct db_batch_item base; /* first */
    int n;
    bool fail; /* appends its audit row, then fails: neither may survive */
    atomic_int *pending;
    atomic_int *committed;
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
};

static int apply(struct db *db, struct db_batch_item *base)
{
    struct item *it = (struct item *)base;
    struct lumi_err err;
    char key[32];
    snprintf(key, sizeof key, "pgwrite.%d", it->n);
    const char *p[] = {key};
    if (db_execp(db, "INSERT INTO settings (key, value, updated_at) VALUES ($1, 'x', 'now')", 1, p,
                 NULL, &err) != 0)
        return err.code;
    json_t *d = json_pack("{s:i}", "n", it->n);
    int rc = audit_append_id_take(db, &AUDIT_SYSTEM, "PGWRITE_ITEM", "setting", it->n, d, &err);
    if (rc != 0)
        return rc;
    return it->fail ? LUMI_EINVAL : 0;
}

static void done(struct db_batch_item *base, int rc, const struct lumi_err *err)
{
    (void)err;
    struct item *it = (struct item *)base;
    if (rc == 0)
        atomic_fetch_add(it->committed, 1);
    pthread_mutex_lock(it->lock);
    if (atomic_fetch_sub(it->pending, 1) == 1)
        pthread_cond_broadcast(it->cond);
    pthread_mutex_unlock(it->lock);
}

struct run {
    struct db_batch *b;
    struct item *items;
    int first, count;
};

static void *submitter(void *arg)
{
    struct run *r = arg;
    for (int i = r->first; i < r->first + r->count; i++)
        assert_int_equal(db_batch_submit(r->b, &r->items[i].base), 0);
    return NULL;
}

struct fixture {
    char *url;
    struct db *db;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct lumi_err err;
    if (config_load(NULL, &err) != 0)
        fail_msg("config: %s", err.msg);
    f->url = testdb_create();
    f->db = testdb_open_migrated(f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static void assert_one_chain(struct db *db)
{
    struct audit_verify_result res;
    struct lumi_err err;
    assert_int_equal(audit_verify(db, &res, &err), 0);
    if (res.broken_id != 0)
        fail_msg("audit chain broken at #%lld: %s", (long long)res.broken_id, res.reason);
    assert_int_equal(res.rows, testdb_int64(db, "SELECT COUNT(*) FROM audit_log"));
}

static void test_writers_in_parallel_make_one_chain_and_failures_leave_nothing(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int total = THREADS * PER_THREAD;
    struct item *items = calloc((size_t)total, sizeof *items);
    atomic_int pending = total, committed = 0;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int failing = 0;
    for (int i = 0; i < total; i++) {
        items[i] = (struct item){.base = {.apply = apply, .done = done},
                                 .n = i,
                                 .fail = i % 7 == 2,
                                 .pending = &pending,
                                 .committed = &committed,
                                 .lock = &lock,
                                 .cond = &cond};
        failing += items[i].fail;
    }
    struct db_batch *b = db_batch_start_writers(f->url, 16, WRITERS, &err);
    assert_non_null(b);
    pthread_t th[THREADS];
    struct run runs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        runs[t] = (struct run){b, items, t * PER_THREAD, PER_THREAD};
        assert_int_equal(pthread_create(&th[t], NULL, submitter, &runs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_mutex_lock(&lock);
    while (atomic_load(&pending) > 0)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    db_batch_stop(b);

    assert_int_equal(atomic_load(&committed), total); /* a failed apply is still answered */
    int kept = total - failing;
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM settings WHERE key LIKE 'pgwrite.%'"),
                     kept);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action = "
                                         "'PGWRITE_ITEM'"),
                     kept);
    /* exactly the items that did not fail, each once */
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(DISTINCT entity_id) FROM audit_log"
                                         " WHERE action = 'PGWRITE_ITEM'"),
                     kept);
    for (int i = 0; i < total; i++)
        assert_int_equal(testdb_int64f(f->db,
                                       "SELECT COUNT(*) FROM audit_log WHERE action ="
                                       " 'PGWRITE_ITEM' AND entity_id = '%d'",
                                       i),
                         items[i].fail ? 0 : 1);
    assert_one_chain(f->db);
    free(items);
}

static void test_deferred_rows_roll_back_and_an_asked_id_is_written_at_once(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    struct db *db = testdb_open(f->url);
    db_defer_set(db, true);
    int64_t before = testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log");

    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(audit_append(db, &AUDIT_SYSTEM, "PGWRITE_GONE", "setting", "1", NULL, NULL,
                                  &err),
                     0);
    db_rollback(db);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log"), before);

    /* After a rollback the queue is empty: the next commit writes only its own rows. */
    int64_t id = 0;
    assert_int_equal(db_begin(db, &err), 0);
    assert_int_equal(audit_append(db, &AUDIT_SYSTEM, "PGWRITE_LATER", "setting", "2", NULL, NULL,
                                  &err),
                     0);
    assert_int_equal(audit_append(db, &AUDIT_SYSTEM, "PGWRITE_NOW", "setting", "3", NULL, &id,
                                  &err),
                     0);
    assert_true(id == before + 1); /* written at once: its id is known */
    assert_int_equal(db_commit(db, &err), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log"), before + 2);
    assert_int_equal(testdb_int64(f->db, "SELECT COUNT(*) FROM audit_log WHERE action LIKE "
                                         "'PGWRITE_GONE'"),
                     0);
    assert_one_chain(f->db);
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_writers_in_parallel_make_one_chain_and_failures_leave_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_deferred_rows_roll_back_and_an_asked_id_is_written_at_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
