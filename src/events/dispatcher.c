/*
 * dispatcher.c — the outgoing-events thread (see dispatcher.h).
 *
 * Mirrors notify/mailer.c. Threading: the stop request (core/stop.h) is the
 * only shared state; the connection belongs to the thread. A delivery in
 * flight when a stop is asked for finishes (at most its 10 s timeout).
 */
#include "events/dispatcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/db.h"
#include "events/delivery.h"
#include "events/retention.h"

#define DRAIN_MAX 100
#define ERROR_PAUSE_MS 2000
#define DISPATCHER_NICE 10
#define PRUNE_EVERY_S 3600 /* old events and their deliveries removed hourly */
#define PRUNE_FIRST_S 60   /* and a minute after the start */

struct events_dispatcher {
    struct db *db;
    struct stop_flag stop;
    pthread_t tid;
    bool started;
    int poll_ms;
    int64_t next_prune; /* utc_now() time of the next retention round */
    char worker_id[96];
};

/* Removes events past LUMI_EVENTS_KEEP_DAYS when it is time (retention.h). */
static void prune_when_due(struct events_dispatcher *d)
{
    struct lumi_err err;
    char q[300];
    int64_t now = utc_now(), pruned = 0;
    if (now < d->next_prune)
        return;
    d->next_prune = now + PRUNE_EVERY_S;
    err_clear(&err);
    if (events_prune(d->db, now, (int)config_int("LUMI_EVENTS_KEEP_DAYS"), &pruned, &err) != 0)
        log_error("events.prune_failed", "removed=%lld error=%s", (long long)pruned,
                  log_quote(err.msg, q, sizeof q));
    else if (pruned > 0)
        log_info("events.pruned", "removed=%lld", (long long)pruned);
}

static void *dispatcher_main(void *arg)
{
    struct events_dispatcher *d = arg;
    char q[300];
    log_set_context("events");
    /* Background work: requests go first when the cores are busy. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), DISPATCHER_NICE) != 0)
        log_debug("events.nice_failed", "errno=%d", errno);
    while (!stop_raised(&d->stop)) {
        struct lumi_err err;
        err_clear(&err);
        prune_when_due(d);
        int rc = webhook_drain(d->db, d->worker_id, DRAIN_MAX, &err);
        if (rc < 0) {
            log_error("webhook.round_failed", "error=%s", log_quote(err.msg, q, sizeof q));
            stop_wait_ms(&d->stop, ERROR_PAUSE_MS);
        } else if (rc == 0) {
            stop_wait_ms(&d->stop, d->poll_ms);
        }
    }
    log_set_context(NULL);
    return NULL;
}

struct events_dispatcher *events_dispatcher_start(const char *database_url, int poll_ms,
                                                  struct lumi_err *err)
{
    struct events_dispatcher *d = calloc(1, sizeof *d);
    char host[48];
    if (d == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory starting the events dispatcher");
        return NULL;
    }
    stop_init(&d->stop);
    d->poll_ms = poll_ms > 0 ? poll_ms : 500;
    d->next_prune = utc_now() + PRUNE_FIRST_S;
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        str_copy(host, "localhost", sizeof host);
    host[sizeof host - 1] = '\0';
    snprintf(d->worker_id, sizeof d->worker_id, "%s:%ld:events", host, (long)getpid());
    d->db = db_open(database_url, err);
    if (d->db == NULL)
        goto fail;
    /* As the mailer's: on SQLite this connection's commits (claims and outcomes) need not
     * wait for the disk — a lost "delivered" mark only sends the event again under the same
     * id (at least once), and an fsync held under SQLite's one write lock would stall the
     * gateways' webhooks. */
    if (db_kind(d->db) == DB_SQLITE && db_exec(d->db, "PRAGMA synchronous=NORMAL", err) != 0)
        goto fail;
    if (pthread_create(&d->tid, NULL, dispatcher_main, d) != 0) {
        err_set(err, LUMI_EINTERNAL, "cannot start the events dispatcher thread");
        goto fail;
    }
    d->started = true;
    log_info("events.started", "worker=%s", d->worker_id);
    return d;
fail:
    events_dispatcher_stop(d);
    return NULL;
}

void events_dispatcher_stop(struct events_dispatcher *d)
{
    if (d == NULL)
        return;
    stop_raise(&d->stop);
    if (d->started)
        pthread_join(d->tid, NULL);
    db_close(d->db);
    stop_destroy(&d->stop);
    free(d);
}
