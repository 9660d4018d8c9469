/*
 * pool.h — a fixed set of worker threads over a bounded queue (private to src/web/).
 *
 * The I/O thread first reserves a queue slot (which fails at once when the
 * queue is full, so the caller can answer 503 without waiting), then commits
 * the item. Reserving before committing lets the caller do something that
 * must precede any worker seeing the item (suspending the connection).
 * Each worker thread has one private slot (a void *) that the run callback
 * may fill (its database connection) and that on_exit receives when the
 * thread ends.
 */
#ifndef LUMI_WEB_POOL_H
#define LUMI_WEB_POOL_H

#include "core/err.h"

struct wpool;

/** Runs one item on a worker thread; *slot is the thread's private pointer. */
typedef void (*wpool_run_fn)(void *item, void **slot, void *arg);
/** Called on the worker thread as it exits, with its slot (may be NULL). */
typedef void (*wpool_exit_fn)(void *slot, void *arg);

/** Starts threads workers over a queue of queue_max items. NULL with err on failure. */
struct wpool *wpool_start(int threads, int queue_max, wpool_run_fn run, wpool_exit_fn on_exit,
                          void *arg, struct lumi_err *err);

/** Reserves a queue slot: 0, or LUMI_EBUSY when full or stopping. */
int wpool_reserve(struct wpool *p);

/** Queues item into a slot taken by wpool_reserve (always succeeds). */
void wpool_commit(struct wpool *p, void *item);

/**
 * Refuses new reservations, lets the workers run everything reserved or
 * queued, joins them and frees the pool. NULL is a no-op.
 */
void wpool_stop(struct wpool *p);

#endif
