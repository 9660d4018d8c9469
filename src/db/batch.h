/*
 * batch.h — group commit: many small write transactions made durable by one
 * commit.
 *
 * A webhook must be on disk before it is answered 2xx. One fsync per
 * delivery caps a single SQLite writer at a few thousand deliveries a
 * second, so a batch thread with its own connection takes whatever has been
 * submitted (up to max items), opens one transaction, runs each item inside
 * its own SAVEPOINT (an item that fails is rolled back alone, the others
 * stay), commits once, and tells every item how it ended only once that
 * commit is on disk: on PostgreSQL when the commit returns
 * (synchronous_commit); on SQLite when a syncer thread's fdatasync of the
 * write-ahead log, begun after the commit, has returned — the batch thread
 * meanwhile applies the next batch instead of waiting for the disk.
 *
 * Items are caller-owned and must stay valid until their done callback has
 * run. Callbacks run on the batch thread (PostgreSQL, and batches that
 * failed) or on the syncer thread; on PostgreSQL there may be several batch
 * threads (db_batch_start_writers), so callbacks of different batches may
 * run at the same time.
 */
#ifndef LUMI_DB_BATCH_H
#define LUMI_DB_BATCH_H

#include "core/err.h"
#include "db/db.h"

struct db_batch_item;

/**
 * Applies the item inside the open batch transaction. 0 keeps its changes; a
 * negative code rolls them back (the item is still answered through done).
 * An apply may run twice: a batch first runs its items without savepoints
 * (a savepoint copies every page an item touches); when one fails, the whole
 * transaction is rolled back and every item runs again, each in its own
 * savepoint. So apply must do nothing outside the transaction that a second
 * run would repeat, and may overwrite what its first run wrote to its item.
 */
typedef int (*db_batch_apply_fn)(struct db *db, struct db_batch_item *it);

/**
 * Called once per item after the batch ended: rc is 0 when the batch
 * committed (the item's changes are durable — or were rolled back alone if
 * its apply failed, which the item knows), or the failure code when the
 * batch could not be committed (nothing of the item was stored), with err
 * saying why.
 */
typedef void (*db_batch_done_fn)(struct db_batch_item *it, int rc, const struct lumi_err *err);

struct db_batch_item {
    db_batch_apply_fn apply;
    db_batch_done_fn done;
    /* private to batch.c */
    struct db_batch_item *next;
};

struct db_batch;

/**
 * Starts the batch thread with its own connection to url; at most max items
 * share one transaction. NULL with err when the database cannot be opened.
 */
struct db_batch *db_batch_start(const char *url, int max, struct lumi_err *err);

/**
 * As db_batch_start, with pg_writers writer threads (each its own connection,
 * each committing its own batches) when url is PostgreSQL; SQLite always has
 * one. Issue 15: see batch.c.
 */
struct db_batch *db_batch_start_writers(const char *url, int max, int pg_writers,
                                        struct lumi_err *err);

/** Queues it (apply and done set). LUMI_EBUSY when the batch is stopping. */
int db_batch_submit(struct db_batch *b, struct db_batch_item *it);

/** Items committed, and commits made, so far (for metrics and tests). */
void db_batch_stats(struct db_batch *b, long long *items, long long *commits);

/** Runs everything already submitted, then joins the thread and frees b. NULL is a no-op. */
void db_batch_stop(struct db_batch *b);

#endif
