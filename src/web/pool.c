/*
 * pool.c — Lumi's bounded worker pool for HTTP handlers (see pool.h).
 *
 * Threading: one mutex guards the ring buffer and the counters; workers sleep
 * on `ready`, wpool_stop() wakes them all. The run callback is called without
 * the lock held. A worker exits only when stopping and nothing is queued or
 * reserved, so every reserved item is run exactly once (the server relies on
 * this: each suspended connection must be resumed before libmicrohttpd stops).
 */
#include "web/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct wpool {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    void **ring;
    int cap;
    int head;     /* next item to take */
    int len;      /* queued items */
    int reserved; /* slots reserved but not committed */
    bool stopping;
    wpool_run_fn run;
    wpool_exit_fn on_exit;
    void *arg;
    pthread_t *threads;
    int nthreads; /* started */
};

/* Takes the next item, or NULL when the worker should exit. */
static void *take(struct wpool *p)
{
    void *item = NULL;
    pthread_mutex_lock(&p->lock);
    while (p->len == 0 && !(p->stopping && p->reserved == 0))
        pthread_cond_wait(&p->ready, &p->lock);
    if (p->len > 0) {
        item = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
    }
    pthread_mutex_unlock(&p->lock);
    return item;
}

static void *worker_main(void *arg)
{
    struct wpool *p = arg;
    void *slot = NULL;
    for (void *item = take(p); item != NULL; item = take(p))
        p->run(item, &slot, p->arg);
    if (p->on_exit != NULL)
        p->on_exit(slot, p->arg);
    return NULL;
}

/* Stops and joins the threads started so far, then frees p. */
static void destroy(struct wpool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->ready);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p->ring);
    free(p);
}

struct wpool *wpool_start(int threads, int queue_max, wpool_run_fn run, wpool_exit_fn on_exit,
                          void *arg, struct lumi_err *err)
{
    struct wpool *p = NULL;
    if (threads < 1 || queue_max < 1) {
        err_set(err, LUMI_EINVAL, "workers and queue size must be at least 1");
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL)
        goto nomem;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    p->cap = queue_max;
    p->run = run;
    p->on_exit = on_exit;
    p->arg = arg;
    p->ring = calloc((size_t)queue_max, sizeof *p->ring);
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    if (p->ring == NULL || p->threads == NULL)
        goto nomem;
    for (int i = 0; i < threads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker_main, p);
        if (rc != 0) {
            err_set(err, LUMI_EINTERNAL, "cannot start worker thread: %s", strerror(rc));
            goto fail;
        }
        p->nthreads++;
    }
    return p;
nomem:
    err_set(err, LUMI_ENOMEM, "out of memory starting the worker pool");
fail:
    if (p != NULL)
        destroy(p);
    return NULL;
}

int wpool_reserve(struct wpool *p)
{
    int rc = LUMI_EBUSY;
    pthread_mutex_lock(&p->lock);
    if (!p->stopping && p->len + p->reserved < p->cap) {
        p->reserved++;
        rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void wpool_commit(struct wpool *p, void *item)
{
    pthread_mutex_lock(&p->lock);
    p->reserved--;
    p->ring[(p->head + p->len) % p->cap] = item;
    p->len++;
    /* While stopping, idle workers wait for reserved == 0 too: wake them all. */
    if (p->stopping)
        pthread_cond_broadcast(&p->ready);
    else
        pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->lock);
}

void wpool_stop(struct wpool *p)
{
    if (p != NULL)
        destroy(p);
}
