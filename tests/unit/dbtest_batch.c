/*
 * dbtest_batch.c — group commit (db/batch.h): many items submitted from many
 * threads are committed together; each item's changes are durable once its
 * done callback says so (another connection sees them); an item whose apply
 * fails is rolled back alone while its batch-mates stay (the batch is run
 * again, each item in a savepoint); a batch whose
 * commit fails reports the failure to every item and stores none of them;
 * stopping runs everything already submitted. Runs on SQLite and PostgreSQL.
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

#include "core/config.h"
#include "db/batch.h"
#include "support/testdb.h"

#define THREADS 8
#define PER_THREAD 50

struct item {
    struct db_batch_item base; /* first */
    int n;
    bool fail;       /* apply inserts, then fails: its row must not survive */
    bool rollback;   /* apply ends the batch's transaction: a broken item */
    const char *url; /* to check visibility from another connection in done */
    atomic_int *done_ok, *done_failed, *seen_in_done;
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    atomic_int *pending;
    atomic_int applies; /* how many times apply ran for this item */
};

static int apply(struct db *db, struct db_batch_item *base)
{
    struct item *it = (struct item *)base;
    struct lumi_err err;
    atomic_fetch_add(&it->applies, 1);
    char n[16];
    snprintf(n, sizeof n, "%d", it->n);
    const char *p[] = {n};
    if (db_execp(
            db, "INSERT INTO settings (key, value, updated_at) VALUES ('batch.' || $1, 'x', 'now')",
            1, p, NULL, &err) != 0)
        return err.code;
    if (it->rollback)
        db_rollback(db);
    return it->fail ? LUMI_EINVAL : 0;
}

static void done(struct db_batch_item *base, int rc, const struct lumi_err *err)
{
    (void)err;
    struct item *it = (struct item *)base;
    if (rc == 0)
        atomic_fetch_add(it->done_ok, 1);
    else
        atomic_fetch_add(it->done_failed, 1);
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

static void wait_all(pthread_mutex_t *lock, pthread_cond_t *cond, atomic_int *pending)
{
    pthread_mutex_lock(lock);
    while (atomic_load(pending) > 0)
        pthread_cond_wait(cond, lock);
    pthread_mutex_unlock(lock);
}

static void test_items_from_many_threads_commit_together_and_failures_roll_back_alone(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    int total = THREADS * PER_THREAD;
    struct item *items = calloc((size_t)total, sizeof *items);
    atomic_int ok = 0, failed = 0, seen = 0, pending = total;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    for (int i = 0; i < total; i++) {
        items[i] = (struct item){.base = {.apply = apply, .done = done},
                                 .n = i,
                                 .fail = i % 10 == 3,
                                 .done_ok = &ok,
                                 .done_failed = &failed,
                                 .seen_in_done = &seen,
                                 .lock = &lock,
                                 .cond = &cond,
                                 .pending = &pending};
    }
    struct db_batch *b = db_batch_start(f->url, 64, &err);
    assert_non_null(b);
    pthread_t th[THREADS];
    struct run runs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        runs[t] = (struct run){b, items, t * PER_THREAD, PER_THREAD};
        pthread_create(&th[t], NULL, submitter, &runs[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    wait_all(&lock, &cond, &pending);

    /* A batch runs without savepoints first, then, when an item failed, again
     * with them: every item ran once or twice, and batches with a failing item
     * (one in ten) did run twice. */
    int twice = 0;
    for (int i = 0; i < total; i++) {
        int n = atomic_load(&items[i].applies);
        assert_true(n == 1 || n == 2);
        twice += n == 2;
    }
    assert_true(twice > 0);
    /* Every item was answered as committed (a failed apply is still a committed batch). */
    assert_int_equal(atomic_load(&ok), total);
    assert_int_equal(atomic_load(&failed), 0);
    /* Another connection sees exactly the rows of the items that did not fail. */
    int64_t rows = testdb_int64(f->db, "SELECT count(*) FROM settings WHERE key LIKE 'batch.%'");
    assert_int_equal(rows, total - total / 10);
    assert_int_equal(testdb_int64(f->db, "SELECT count(*) FROM settings WHERE key = 'batch.3'"), 0);
    assert_int_equal(testdb_int64(f->db, "SELECT count(*) FROM settings WHERE key = 'batch.4'"), 1);

    long long nitems = 0, commits = 0;
    db_batch_stats(b, &nitems, &commits);
    assert_int_equal(nitems, total);
    /* Items submitted while a commit runs are grouped: fewer commits than items. */
    assert_true(commits >= total / 64);
    assert_true(commits < total);
    db_batch_stop(b);
    free(items);
}

static void test_a_failed_commit_fails_every_item_and_stores_none(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    atomic_int ok = 0, failed = 0, seen = 0, pending = 3;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct item items[3];
    for (int i = 0; i < 3; i++)
        items[i] = (struct item){.base = {.apply = apply, .done = done},
                                 .n = 1000 + i,
                                 .done_ok = &ok,
                                 .done_failed = &failed,
                                 .seen_in_done = &seen,
                                 .lock = &lock,
                                 .cond = &cond,
                                 .pending = &pending};
    /* The second item ends the transaction itself (a broken item): the batch
     * cannot commit what the others did, so all three are told it failed and
     * none of their rows exists. */
    items[1].rollback = true;
    struct db_batch *b = db_batch_start(f->url, 64, &err);
    assert_non_null(b);
    /* Submitted in one go so they share a batch: the thread is busy with nothing. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(db_batch_submit(b, &items[i].base), 0);
    wait_all(&lock, &cond, &pending);
    assert_int_equal(atomic_load(&failed) + atomic_load(&ok), 3);
    assert_true(atomic_load(&failed) >= 1);
    /* Whatever shared the broken batch was told so, and its row is absent;
     * what was told "committed" is there: rows = items answered ok. */
    assert_int_equal(
        testdb_int64(f->db,
                     "SELECT count(*) FROM settings WHERE key IN ('batch.1000','batch.1002')"),
        atomic_load(&ok));
    assert_int_equal(testdb_int64(f->db, "SELECT count(*) FROM settings WHERE key = 'batch.1001'"),
                     0);
    /* The batch recovers: the next item commits. */
    atomic_store(&pending, 1);
    items[0].n = 1100;
    assert_int_equal(db_batch_submit(b, &items[0].base), 0);
    wait_all(&lock, &cond, &pending);
    assert_int_equal(testdb_int64(f->db, "SELECT count(*) FROM settings WHERE key = 'batch.1100'"),
                     1);
    db_batch_stop(b);
}

static void test_stop_runs_what_was_submitted(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    atomic_int ok = 0, failed = 0, seen = 0, pending = 20;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct item items[20];
    struct db_batch *b = db_batch_start(f->url, 4, &err);
    assert_non_null(b);
    for (int i = 0; i < 20; i++) {
        items[i] = (struct item){.base = {.apply = apply, .done = done},
                                 .n = 2000 + i,
                                 .done_ok = &ok,
                                 .done_failed = &failed,
                                 .seen_in_done = &seen,
                                 .lock = &lock,
                                 .cond = &cond,
                                 .pending = &pending};
        assert_int_equal(db_batch_submit(b, &items[i].base), 0);
    }
    db_batch_stop(b);
    assert_int_equal(atomic_load(&ok), 20);
    assert_int_equal(
        testdb_int64(f->db, "SELECT count(*) FROM settings WHERE key LIKE 'batch.20%'"), 20);
}

/*
 * Write-behind (PostgreSQL's writers send an item's writes without waiting
 * for them, db.h db_write_behind): an item reads its own unanswered write; an
 * UPDATE's row count is right; and a write that fails unanswered — apply was
 * told nothing and returned 0 — still fails only its own item: the batch
 * runs again with savepoints, where that INSERT reports its conflict.
 */
struct behind_item {
    struct item it;        /* first */
    atomic_int saw_own;    /* its SELECT saw its INSERT */
    atomic_int changed;    /* its UPDATE's row count */
    atomic_int insert_err; /* runs in which its INSERT reported a failure */
    bool insert_only;      /* nothing after its INSERT that would collect its answer */
};

static int apply_behind(struct db *db, struct db_batch_item *base)
{
    struct behind_item *b = (struct behind_item *)base;
    struct lumi_err err;
    char key[32];
    atomic_fetch_add(&b->it.applies, 1);
    snprintf(key, sizeof key, "behind.%d", b->it.n);
    const char *p[] = {key};
    if (db_execp(db, "INSERT INTO settings (key, value, updated_at) VALUES ($1, 'new', 'now')", 1,
                 p, NULL, &err) != 0) {
        atomic_fetch_add(&b->insert_err, 1);
        return err.code;
    }
    if (b->insert_only)
        return 0;
    int64_t changed = -1;
    if (db_execp(db, "UPDATE settings SET value = 'updated' WHERE key = $1 AND value = 'new'", 1, p,
                 &changed, &err) != 0)
        return err.code;
    atomic_store(&b->changed, (int)changed);
    int64_t n = 0;
    if (db_query_int64(db, "SELECT count(*) FROM settings WHERE key = $1 AND value = 'updated'", 1,
                       p, &n, &err) != 0)
        return err.code;
    atomic_store(&b->saw_own, (int)n);
    return 0;
}

static void test_a_write_that_fails_unanswered_fails_only_its_item(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    enum { N = 12, DUP = N - 1 }; /* last: only the final collect can see its failure */
    atomic_int ok = 0, failed = 0, seen = 0, pending = N;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct behind_item items[N];
    /* item DUP's key exists already: its INSERT violates the primary key */
    testdb_exec(f->db,
                "INSERT INTO settings (key, value, updated_at) VALUES ('behind.11', 'old', 'x')");
    memset(items, 0, sizeof items);
    for (int i = 0; i < N; i++)
        items[i].it = (struct item){.base = {.apply = apply_behind, .done = done},
                                    .n = i,
                                    .done_ok = &ok,
                                    .done_failed = &failed,
                                    .seen_in_done = &seen,
                                    .lock = &lock,
                                    .cond = &cond,
                                    .pending = &pending};
    items[DUP].insert_only = true;
    struct db_batch *b = db_batch_start_writers(f->url, 64, 2, &err);
    assert_non_null(b);
    for (int i = 0; i < N; i++)
        assert_int_equal(db_batch_submit(b, &items[i].it.base), 0);
    wait_all(&lock, &cond, &pending);
    db_batch_stop(b);
    assert_int_equal(atomic_load(&ok), N);
    for (int i = 0; i < N; i++) {
        if (i == DUP)
            continue;
        assert_int_equal(atomic_load(&items[i].changed), 1);
        assert_int_equal(atomic_load(&items[i].saw_own), 1);
    }
    /* the failing item's INSERT reported its conflict in the guarded run,
     * and nothing of it stayed */
    assert_true(atomic_load(&items[DUP].insert_err) >= 1);
    assert_int_equal(testdb_int64(f->db, "SELECT count(*) FROM settings WHERE key = 'behind.11'"
                                         " AND value = 'old'"),
                     1);
    assert_int_equal(testdb_int64(f->db, "SELECT count(*) FROM settings WHERE key LIKE 'behind.%'"
                                         " AND value = 'updated'"),
                     N - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_items_from_many_threads_commit_together_and_failures_roll_back_alone, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_failed_commit_fails_every_item_and_stores_none,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_runs_what_was_submitted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_write_that_fails_unanswered_fails_only_its_item,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
