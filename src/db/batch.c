/*
 * batch.c — the group-commit thread (see batch.h).
 *
 * Threading: submitters append to a FIFO under b->lock and signal; the one
 * batch thread detaches the whole queue (up to max items), works on it
 * without the lock, and calls every done callback before taking the next
 * batch. A broken connection is reopened for the next batch.
 *
 * On SQLite the WAL checkpoint (copying committed pages back into the
 * database file) is not done by the batch thread: its connection has
 * wal_autocheckpoint off, and a second thread with a connection of its own
 * runs a PASSIVE checkpoint after every CKPT_EVERY commits. A checkpoint
 * never blocks the writer, and the writer no longer pays for it while the
 * deliveries of the next batch wait.
 */
#include "db/batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define CKPT_EVERY 8 /* commits between checkpoints (a batch writes tens of pages) */

struct db_batch {
    char *url;
    int max;
    struct db *db;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t more;
    struct db_batch_item *head, *tail;
    bool stopping;
    _Atomic long long items, commits;
    /* the checkpointer (SQLite only) */
    bool ckpt_on;
    pthread_t ckpt_thread;
    pthread_mutex_t ckpt_lock;
    pthread_cond_t ckpt_wake;
    int ckpt_due; /* commits since the last wake-up */
    bool ckpt_stopping;
};

/* The writer's connection: on SQLite without automatic checkpoints (the checkpointer's job). */
static struct db *open_writer(struct db_batch *b, struct lumi_err *err)
{
    struct db *db = db_open(b->url, err);
    if (db != NULL && db_kind(db) == DB_SQLITE &&
        db_exec(db, "PRAGMA wal_autocheckpoint=0", err) != 0) {
        db_close(db);
        return NULL;
    }
    return db;
}

static void ckpt_note_commit(struct db_batch *b)
{
    if (!b->ckpt_on)
        return;
    pthread_mutex_lock(&b->ckpt_lock);
    if (++b->ckpt_due >= CKPT_EVERY)
        pthread_cond_signal(&b->ckpt_wake);
    pthread_mutex_unlock(&b->ckpt_lock);
}

static void *ckpt_main(void *arg)
{
    struct db_batch *b = arg;
    struct lumi_err err;
    struct db *db = NULL;
    pthread_mutex_lock(&b->ckpt_lock);
    for (;;) {
        while (b->ckpt_due < CKPT_EVERY && !b->ckpt_stopping)
            pthread_cond_wait(&b->ckpt_wake, &b->ckpt_lock);
        if (b->ckpt_stopping)
            break;
        b->ckpt_due = 0;
        pthread_mutex_unlock(&b->ckpt_lock);
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
        pthread_mutex_lock(&b->ckpt_lock);
    }
    pthread_mutex_unlock(&b->ckpt_lock);
    db_close(db);
    return NULL;
}

/* Detaches up to b->max items from the queue (lock held by the caller). */
static struct db_batch_item *take(struct db_batch *b)
{
    struct db_batch_item *first = b->head, *last = first;
    for (int n = 1; n < b->max && last->next != NULL; n++)
        last = last->next;
    b->head = last->next;
    if (b->head == NULL)
        b->tail = NULL;
    last->next = NULL;
    return first;
}

static void finish_all(struct db_batch_item *list, int rc, const struct lumi_err *err)
{
    while (list != NULL) {
        struct db_batch_item *next = list->next; /* done may free the item */
        list->done(list, rc, err);
        list = next;
    }
}

/* One item in its savepoint. A failure to roll back to it poisons the batch. */
static int run_item(struct db *db, struct db_batch_item *it, struct lumi_err *err)
{
    int rc = db_exec(db, "SAVEPOINT lumi_item", err);
    if (rc != 0)
        return rc;
    bool failed = it->apply(db, it) != 0;
    /* An item must not end the shared transaction: what the others did would be lost. */
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "a batch item ended the shared transaction");
    if (failed)
        rc = db_exec(db, "ROLLBACK TO SAVEPOINT lumi_item", err);
    if (rc == 0)
        rc = db_exec(db, "RELEASE SAVEPOINT lumi_item", err);
    return rc;
}

static void run_batch(struct db_batch *b, struct db_batch_item *list)
{
    struct lumi_err err;
    err_clear(&err);
    int rc = 0;
    if (b->db == NULL) {
        b->db = open_writer(b, &err);
        if (b->db == NULL)
            rc = err.code != 0 ? err.code : LUMI_EDB;
    }
    if (rc == 0)
        rc = db_begin(b->db, &err);
    for (struct db_batch_item *it = list; rc == 0 && it != NULL; it = it->next)
        rc = run_item(b->db, it, &err);
    if (rc == 0)
        rc = db_commit(b->db, &err);
    if (rc != 0) {
        char quoted[256];
        log_error("batch.failed", "message=%s", log_quote(err.msg, quoted, sizeof quoted));
        if (b->db != NULL) {
            db_rollback(b->db);
            db_close(b->db); /* reopened for the next batch */
            b->db = NULL;
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
    finish_all(list, 0, NULL);
    ckpt_note_commit(b);
}

static void *batch_main(void *arg)
{
    struct db_batch *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (b->head == NULL && !b->stopping)
            pthread_cond_wait(&b->more, &b->lock);
        if (b->head == NULL)
            break;
        struct db_batch_item *list = take(b);
        pthread_mutex_unlock(&b->lock);
        run_batch(b, list);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* Stops the checkpointer and frees its primitives. */
static void stop_checkpointer(struct db_batch *b)
{
    if (b->ckpt_on) {
        pthread_mutex_lock(&b->ckpt_lock);
        b->ckpt_stopping = true;
        pthread_cond_signal(&b->ckpt_wake);
        pthread_mutex_unlock(&b->ckpt_lock);
        pthread_join(b->ckpt_thread, NULL);
        b->ckpt_on = false;
    }
    pthread_cond_destroy(&b->ckpt_wake);
    pthread_mutex_destroy(&b->ckpt_lock);
}

struct db_batch *db_batch_start(const char *url, int max, struct lumi_err *err)
{
    struct db_batch *b = calloc(1, sizeof *b);
    if (b == NULL || (b->url = strdup(url)) == NULL) {
        free(b);
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    b->max = max > 0 ? max : 1;
    b->db = open_writer(b, err);
    if (b->db == NULL) {
        free(b->url);
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->more, NULL);
    pthread_mutex_init(&b->ckpt_lock, NULL);
    pthread_cond_init(&b->ckpt_wake, NULL);
    if (db_kind(b->db) == DB_SQLITE)
        b->ckpt_on = pthread_create(&b->ckpt_thread, NULL, ckpt_main, b) == 0;
    if (pthread_create(&b->thread, NULL, batch_main, b) != 0) {
        stop_checkpointer(b);
        db_close(b->db);
        pthread_cond_destroy(&b->more);
        pthread_mutex_destroy(&b->lock);
        free(b->url);
        free(b);
        err_set(err, LUMI_EINTERNAL, "cannot start the batch thread");
        return NULL;
    }
    return b;
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
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    pthread_cond_signal(&b->more);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    stop_checkpointer(b);
    log_info("batch.stopped", "items=%lld commits=%lld", (long long)atomic_load(&b->items),
             (long long)atomic_load(&b->commits));
    /* What the checkpointer had not copied yet is copied on close (the last connection). */
    db_close(b->db);
    pthread_cond_destroy(&b->more);
    pthread_mutex_destroy(&b->lock);
    free(b->url);
    free(b);
}
