/*
 * batch.c — the group-commit thread (see batch.h).
 *
 * Threading: submitters append to a FIFO under b->lock and signal; the one
 * batch thread detaches the whole queue (up to max items), works on it
 * without the lock, and hands the committed items on. A broken connection
 * is reopened for the next batch.
 *
 * Savepoints: a batch first runs its items without them, since SQLite copies
 * every page an item touches into the savepoint's journal (a fifth of the
 * apply cost). Should an item fail, the transaction is rolled back and every
 * item runs again, each in its own savepoint, so the failing one is rolled
 * back alone. At most two runs per batch.
 *
 * On SQLite the fsync is not done inside the commit. The batch connection
 * commits with synchronous=NORMAL (WAL frames written, the write lock given
 * up at once) and hands the items to the syncer thread, which fdatasyncs the
 * -wal file and only then calls their done callbacks, while the batch thread
 * already applies the next batch. An fsync covers everything written to the
 * file before it began, so one sync may release several batches, and an item
 * is never answered before an fsync that started after its commit returned.
 * Between commit and sync the rows are visible to other connections but not
 * yet durable: they are only readers or writers whose own commits
 * (synchronous=FULL) sync the same log first.
 *
 * The WAL checkpoint (copying committed pages back into the database file)
 * is mostly not done by the batch thread either: a checkpointer thread with a
 * connection of its own runs a PASSIVE checkpoint after every CKPT_EVERY
 * commits (SQLite syncs the log before a checkpoint copies from it). Such a
 * checkpoint can never finish while the writer keeps appending, and the log
 * is only reused from its start after one that did: under steady load the
 * -wal file grew without end (270 MB in 20,000 deliveries), each commit
 * writing to new file space. So the batch connection also checkpoints itself
 * once the log passes WRITER_CKPT_PAGES: by then the checkpointer has copied
 * almost everything, and the log starts over. Larger is cheaper for the
 * writer (its checkpoint syncs twice); 8,000 pages is a 32 MB log.
 *
 * PostgreSQL's commit is durable when it returns (synchronous_commit): items
 * are answered by the batch thread right after it.
 *
 * PostgreSQL (issue 15): a commit there is a round trip and a WAL flush that
 * other sessions share, and every statement of an item is a round trip, so
 * one writer spends its time waiting. There are several writer threads
 * (db_batch_start_writers; `lumi serve` takes LUMI_PG_WRITERS), each with its
 * own connection, each taking what is queued when it is free, so batches
 * apply and commit side by side. Their connections defer the audit chain's
 * appends to the end of the transaction (db_defer_set, audit.c): the chain
 * lock is taken just before COMMIT, so only the append and the COMMIT of
 * each batch are serialised. Twins of one event in two batches at once are
 * settled by the database (unique keys, row locks): one pays, the other ends
 * as "retry"; a deadlock between two batches fails one statement, and that
 * batch runs again with savepoints. Their statements stay prepared on the
 * server (db_keep_prepared). SQLite keeps one writer (its write lock admits
 * one anyway).
 */
#include "db/batch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/foreground.h"
#include "core/log.h"
#include "core/metrics.h"

#define CKPT_EVERY 8 /* commits between checkpoints (a batch writes tens of pages) */
/* WAL pages after which the writer checkpoints itself (see the top of the file) */
#define WRITER_CKPT_PAGES "8000"
#define WRITER_CACHE "-4096" /* kB: clean pages kept between batches */

/* A helper thread woken through its condition variable (checkpointer, syncer). */
struct side {
    bool on, stopping;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

struct db_batch;

/* One writer thread and its connection (several on PostgreSQL). */
struct writer {
    struct db_batch *b;
    struct db *db;
    pthread_t thread;
    bool started;
};

struct db_batch {
    char *url;
    int max;
    int nwriters;
    struct writer *w;
    pthread_mutex_t lock;
    pthread_cond_t more;
    struct db_batch_item *head, *tail;
    int queued; /* items in head..tail */
    int idle;   /* writers waiting for items */
    bool stopping;
    _Atomic long long items, commits;
    /* the checkpointer (SQLite only) */
    struct side ckpt;
    int ckpt_due; /* commits since the last wake-up */
    /* the syncer (SQLite file databases only) */
    struct side sync;
    char wal[PATH_MAX];
    struct db_batch_item *sync_head, *sync_tail; /* committed, not yet synced */
    bool sync_busy; /* an fsync is running for items taken off sync_head */
};

static void finish_all(struct db_batch_item *list, int rc, const struct lumi_err *err)
{
    while (list != NULL) {
        struct db_batch_item *next = list->next; /* done may free the item */
        list->done(list, rc, err);
        list = next;
    }
}

/* The writer's connection: on SQLite checkpointing itself only past
 * WRITER_CKPT_PAGES and, for a database file (b->wal, found on the first
 * open), without an fsync per commit: the syncer's job. */
static struct db *open_writer(struct db_batch *b, struct lumi_err *err)
{
    struct db *db = db_open(b->url, err);
    if (db != NULL && db_kind(db) == DB_POSTGRES) {
        db_defer_set(db, true);     /* the audit chain's lock only at the end (see the top) */
        db_keep_prepared(db, true); /* the same few statements, parsed and planned once */
    }
    if (db == NULL || db_kind(db) != DB_SQLITE)
        return db;
    db_lock_wait_short(db); /* every delivery waits for this connection (db.h) */
    if (b->wal[0] == '\0' && db_wal_path(db, b->wal, sizeof b->wal) != 0)
        b->wal[0] = '\0'; /* in memory: commits stay synchronous=FULL */
    /* A group commit of webhook deliveries can dirty more pages than SQLite's
     * default 2 MB cache: SQLite then spilled dirty pages to the WAL in the
     * middle of the transaction and read them back. cache_spill=OFF keeps a
     * batch in memory until its commit writes it once (the cache grows past
     * its size for that batch only; LUMI_BATCH_MAX bounds it), while the
     * clean pages kept between batches stay at WRITER_CACHE: a larger cache
     * only grew the process by the database's size, up to 32 MB, for no
     * measurable speed (issue 17's soak). */
    if (db_exec(db, "PRAGMA cache_size=" WRITER_CACHE, err) != 0 ||
        db_exec(db, "PRAGMA cache_spill=OFF", err) != 0 ||
        db_exec(db, "PRAGMA wal_autocheckpoint=" WRITER_CKPT_PAGES, err) != 0 ||
        (b->wal[0] != '\0' && db_exec(db, "PRAGMA synchronous=NORMAL", err) != 0)) {
        db_close(db);
        return NULL;
    }
    return db;
}

/* fdatasync of the write-ahead log, opened by name each time (SQLite may
 * recreate the file when no connection is left). 0 or LUMI_EIO. */
static int sync_wal(struct db_batch *b, struct lumi_err *err)
{
    int fd = open(b->wal, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, LUMI_EIO, "cannot open the write-ahead log to sync it: %s",
                       strerror(errno));
    int rc = 0;
    int64_t t0 = metrics_now_ns();
    if (fdatasync(fd) != 0)
        rc = err_set(err, LUMI_EIO, "cannot sync the write-ahead log: %s", strerror(errno));
    metrics_observe_fsync(metrics_now_ns() - t0);
    close(fd);
    return rc;
}

static void *sync_main(void *arg)
{
    struct db_batch *b = arg;
    pthread_mutex_lock(&b->sync.lock);
    for (;;) {
        while (b->sync_head == NULL && !b->sync.stopping)
            pthread_cond_wait(&b->sync.wake, &b->sync.lock);
        if (b->sync_head == NULL)
            break;
        struct db_batch_item *list = b->sync_head;
        b->sync_head = b->sync_tail = NULL;
        b->sync_busy = true;
        pthread_mutex_unlock(&b->sync.lock);
        struct lumi_err err;
        err_clear(&err);
        int rc = sync_wal(b, &err);
        if (rc != 0) {
            char quoted[256];
            log_error("batch.sync_failed", "message=%s", log_quote(err.msg, quoted, sizeof quoted));
        }
        finish_all(list, rc, rc != 0 ? &err : NULL);
        pthread_mutex_lock(&b->sync.lock);
        b->sync_busy = false;
    }
    pthread_mutex_unlock(&b->sync.lock);
    return NULL;
}

/*
 * Hands committed items to the syncer, which answers them once on disk. A
 * batch that changed nothing (every delivery a duplicate) needs no fsync of
 * its own, but may still depend on rows of an earlier batch whose fsync has
 * not returned: it is answered at once only when nothing is waiting for one.
 */
static void sync_submit(struct db_batch *b, struct db_batch_item *list, bool changed)
{
    struct db_batch_item *last = list;
    while (last->next != NULL)
        last = last->next;
    pthread_mutex_lock(&b->sync.lock);
    if (!changed && b->sync_head == NULL && !b->sync_busy) {
        pthread_mutex_unlock(&b->sync.lock);
        finish_all(list, 0, NULL);
        return;
    }
    if (b->sync_tail != NULL)
        b->sync_tail->next = list;
    else
        b->sync_head = list;
    b->sync_tail = last;
    pthread_cond_signal(&b->sync.wake);
    pthread_mutex_unlock(&b->sync.lock);
}

static void ckpt_note_commit(struct db_batch *b)
{
    if (!b->ckpt.on)
        return;
    pthread_mutex_lock(&b->ckpt.lock);
    if (++b->ckpt_due >= CKPT_EVERY)
        pthread_cond_signal(&b->ckpt.wake);
    pthread_mutex_unlock(&b->ckpt.lock);
}

static void *ckpt_main(void *arg)
{
    struct db_batch *b = arg;
    struct lumi_err err;
    struct db *db = NULL;
    pthread_mutex_lock(&b->ckpt.lock);
    for (;;) {
        while (b->ckpt_due < CKPT_EVERY && !b->ckpt.stopping)
            pthread_cond_wait(&b->ckpt.wake, &b->ckpt.lock);
        if (b->ckpt.stopping)
            break;
        b->ckpt_due = 0;
        pthread_mutex_unlock(&b->ckpt.lock);
        err_clear(&err);
        if (db == NULL)
            db = db_open(b->url, &err);
        if (db != NULL && db_exec(db, "PRAGMA wal_checkpoint(PASSIVE)", &err) != 0) {
            char quoted[256];
            log_warn("batch.checkpoint_failed", "message=%s",
                     log_quote(err.msg, quoted, sizeof quoted));
            db_close(db);
            db = NULL;
        }
        pthread_mutex_lock(&b->ckpt.lock);
    }
    pthread_mutex_unlock(&b->ckpt.lock);
    db_close(db);
    return NULL;
}

/*
 * Detaches up to b->max items from the queue (lock held by the caller). With
 * several writers, an equal share of what waits with the writers that are
 * idle: one writer taking everything would leave the others idle while it
 * works through a long batch statement by statement.
 */
static struct db_batch_item *take(struct db_batch *b)
{
    struct db_batch_item *first = b->head, *last = first;
    int share = b->idle > 0 ? (b->queued + b->idle) / (b->idle + 1) : b->max;
    if (share > b->max)
        share = b->max;
    int n = 1;
    for (; n < share && last->next != NULL; n++)
        last = last->next;
    b->queued -= n;
    b->head = last->next;
    if (b->head == NULL)
        b->tail = NULL;
    last->next = NULL;
    return first;
}

/* One item in its savepoint. A failure to roll back to it poisons the batch. */
static int run_item(struct db *db, struct db_batch_item *it, struct lumi_err *err)
{
    int rc = db_exec(db, "SAVEPOINT lumi_item", err);
    if (rc != 0)
        return rc;
    size_t mark = db_defer_mark(db); /* what it queued for the commit goes with it */
    bool failed = it->apply(db, it) != 0;
    /* An item must not end the shared transaction: what the others did would be lost. */
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "a batch item ended the shared transaction");
    if (failed) {
        db_defer_undo(db, mark);
        rc = db_exec(db, "ROLLBACK TO SAVEPOINT lumi_item", err);
    }
    if (rc == 0)
        rc = db_exec(db, "RELEASE SAVEPOINT lumi_item", err);
    return rc;
}

/*
 * Runs every item in the open transaction without savepoints: 0 when all
 * applied, 1 when one failed (the caller rolls back and runs the batch again
 * with savepoints), < 0 when the batch cannot go on.
 */
static int run_items(struct db *db, struct db_batch_item *list, struct lumi_err *err)
{
    for (struct db_batch_item *it = list; it != NULL; it = it->next) {
        bool failed = it->apply(db, it) != 0;
        if (!db_in_tx(db))
            return err_set(err, LUMI_EINTERNAL, "a batch item ended the shared transaction");
        if (failed)
            return 1;
    }
    return 0;
}

/*
 * The optimistic run with write-behind on (PostgreSQL, db.h): an item's
 * writes are not waited for, so a write that failed is reported by a later
 * statement, maybe a later item's, or at the end here; either way the batch
 * goes round again with savepoints and without write-behind, where each
 * failure is its own item's.
 */
static int run_optimistic(struct db *db, struct db_batch_item *list, struct lumi_err *err)
{
    db_write_behind(db, true);
    int rc = run_items(db, list, err);
    if (rc == 0 && db_collect(db, NULL) != 0) /* its message: the guarded run's to give */
        rc = 1;
    db_write_behind(db, false);
    return rc;
}

/* The batch again after a failure: every item in its own savepoint. The one
 * that failed runs again too, since on PostgreSQL its failure may have come
 * from an earlier item's error that aborted the shared transaction. */
static int run_guarded(struct db *db, struct db_batch_item *list, struct lumi_err *err)
{
    db_rollback(db);
    int rc = db_begin(db, err);
    for (struct db_batch_item *it = list; rc == 0 && it != NULL; it = it->next)
        rc = run_item(db, it, err);
    return rc;
}

static void run_batch(struct writer *w, struct db_batch_item *list)
{
    struct db_batch *b = w->b;
    int64_t t0 = metrics_now_ns(); /* metrics: apply + commit time of the batch */
    struct lumi_err err;
    err_clear(&err);
    int rc = 0;
    if (w->db == NULL) {
        w->db = open_writer(b, &err);
        if (w->db == NULL)
            rc = err.code != 0 ? err.code : LUMI_EDB;
    }
    int64_t changes_before = w->db != NULL ? db_total_changes(w->db) : -1;
    if (rc == 0)
        rc = db_begin(w->db, &err);
    if (rc == 0)
        rc = run_optimistic(w->db, list, &err);
    if (rc == 1)
        rc = run_guarded(w->db, list, &err);
    if (rc == 0)
        rc = db_commit(w->db, &err);
    if (rc != 0) {
        char quoted[256];
        log_error("batch.failed", "message=%s", log_quote(err.msg, quoted, sizeof quoted));
        if (w->db != NULL) {
            db_rollback(w->db);
            db_close(w->db); /* reopened for the next batch */
            w->db = NULL;
        }
        if (rc > 0 || err.msg[0] == '\0')
            err_set(&err, LUMI_EDB, "the database could not store the batch");
        finish_all(list, rc < 0 ? rc : LUMI_EDB, &err);
        return;
    }
    long long n = 0;
    for (struct db_batch_item *it = list; it != NULL; it = it->next)
        n++;
    atomic_fetch_add(&b->items, n);
    atomic_fetch_add(&b->commits, 1);
    foreground_note(); /* the mail thread yields meanwhile (notify/pace.h) */
    metrics_observe_batch(n, metrics_now_ns() - t0);
    ckpt_note_commit(b);
    if (b->sync.on)
        sync_submit(b, list, changes_before < 0 || db_total_changes(w->db) != changes_before);
    else
        finish_all(list, 0, NULL);
}

static void *batch_main(void *arg)
{
    struct writer *w = arg;
    struct db_batch *b = w->b;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (b->head == NULL && !b->stopping) {
            b->idle++;
            pthread_cond_wait(&b->more, &b->lock);
            b->idle--;
        }
        if (b->head == NULL)
            break;
        struct db_batch_item *list = take(b);
        if (b->head != NULL) /* more than one batch waits: wake another writer */
            pthread_cond_signal(&b->more);
        pthread_mutex_unlock(&b->lock);
        run_batch(w, list);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static void side_init(struct side *t)
{
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
}

/* Stops t (it finishes what it holds first) and frees its primitives. */
static void side_stop(struct side *t)
{
    if (t->on) {
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
        t->on = false;
    }
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
}

/* Stops the writers started so far (they run what is queued first) and closes their
 * connections; the connection of one never started is closed too. */
static void writers_stop(struct db_batch *b)
{
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    pthread_cond_broadcast(&b->more);
    pthread_mutex_unlock(&b->lock);
    for (int i = 0; i < b->nwriters; i++)
        if (b->w[i].started)
            pthread_join(b->w[i].thread, NULL);
}

static void writers_close(struct db_batch *b)
{
    for (int i = 0; i < b->nwriters; i++)
        db_close(b->w[i].db);
}

struct db_batch *db_batch_start(const char *url, int max, struct lumi_err *err)
{
    return db_batch_start_writers(url, max, 1, err);
}

struct db_batch *db_batch_start_writers(const char *url, int max, int pg_writers,
                                        struct lumi_err *err)
{
    struct db_batch *b = calloc(1, sizeof *b);
    int n = pg_writers > 0 ? pg_writers : 1;
    if (b == NULL || (b->url = strdup(url)) == NULL ||
        (b->w = calloc((size_t)n, sizeof *b->w)) == NULL) {
        if (b != NULL)
            free(b->url);
        free(b);
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    b->max = max > 0 ? max : 1;
    b->nwriters = 1;
    b->w[0].b = b;
    b->w[0].db = open_writer(b, err);
    if (b->w[0].db == NULL) {
        free(b->w);
        free(b->url);
        free(b);
        return NULL;
    }
    /* SQLite: one writer (its write lock admits one); PostgreSQL: pg_writers */
    if (db_kind(b->w[0].db) == DB_POSTGRES)
        b->nwriters = n;
    for (int i = 1; i < b->nwriters; i++) {
        b->w[i].b = b;
        b->w[i].db = open_writer(b, err);
        if (b->w[i].db == NULL) {
            b->nwriters = i;
            writers_close(b);
            free(b->w);
            free(b->url);
            free(b);
            return NULL;
        }
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->more, NULL);
    side_init(&b->ckpt);
    side_init(&b->sync);
    if (db_kind(b->w[0].db) == DB_SQLITE) /* without it the writer's own checkpoints still run */
        b->ckpt.on = pthread_create(&b->ckpt.thread, NULL, ckpt_main, b) == 0;
    /* the writer commits without an fsync (open_writer): the syncer is not optional */
    if (b->wal[0] != '\0') {
        if (pthread_create(&b->sync.thread, NULL, sync_main, b) != 0)
            goto fail;
        b->sync.on = true;
    }
    for (int i = 0; i < b->nwriters; i++) {
        if (pthread_create(&b->w[i].thread, NULL, batch_main, &b->w[i]) != 0)
            goto fail;
        b->w[i].started = true;
    }
    return b;
fail:
    writers_stop(b);
    side_stop(&b->sync);
    side_stop(&b->ckpt);
    writers_close(b);
    pthread_cond_destroy(&b->more);
    pthread_mutex_destroy(&b->lock);
    free(b->w);
    free(b->url);
    free(b);
    err_set(err, LUMI_EINTERNAL, "cannot start the batch threads");
    return NULL;
}

int db_batch_submit(struct db_batch *b, struct db_batch_item *it)
{
    it->next = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->stopping) {
        pthread_mutex_unlock(&b->lock);
        return LUMI_EBUSY;
    }
    if (b->tail != NULL)
        b->tail->next = it;
    else
        b->head = it;
    b->tail = it;
    b->queued++;
    pthread_cond_signal(&b->more);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

void db_batch_stats(struct db_batch *b, long long *items, long long *commits)
{
    *items = atomic_load(&b->items);
    *commits = atomic_load(&b->commits);
}

void db_batch_stop(struct db_batch *b)
{
    if (b == NULL)
        return;
    writers_stop(b);
    side_stop(&b->sync); /* after the batch thread: it may still hand items on */
    side_stop(&b->ckpt);
    log_info("batch.stopped", "items=%lld commits=%lld writers=%d",
             (long long)atomic_load(&b->items), (long long)atomic_load(&b->commits), b->nwriters);
    /* What the checkpointer had not copied yet is copied on close (the last connection). */
    writers_close(b);
    pthread_cond_destroy(&b->more);
    pthread_mutex_destroy(&b->lock);
    free(b->w);
    free(b->url);
    free(b);
}
