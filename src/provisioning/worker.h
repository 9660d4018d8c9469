/*
 * worker.h — the job worker: threads that claim and run jobs, and the
 * scheduler that runs the automation pass.
 *
 * Runs inside `lumi serve` (unless --no-worker) and alone as `lumi worker`.
 * Each thread has its own database connection. At most per_server jobs run
 * at once against one panel server in this process, so a slow panel cannot
 * take every thread. The scheduler runs automation_run every
 * scheduler_interval_s; on PostgreSQL only the process holding an advisory
 * lock runs it.
 */
#ifndef LUMI_PROVISIONING_WORKER_H
#define LUMI_PROVISIONING_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

struct worker_config {
    const char *database_url;
    int threads;              /* default 4 */
    int per_server;           /* default 4 */
    int lease_s;              /* default JOBS_LEASE_S_DEFAULT */
    int idle_poll_ms;         /* sleep when nothing is due; default 500 */
    bool scheduler;           /* run the automation pass */
    int scheduler_interval_s; /* default 3600 */
};

struct worker;

struct worker *worker_start(const struct worker_config *cfg, struct lumi_err *err);

/** Stops claiming, lets running jobs finish, joins the threads, frees. NULL is a no-op. */
void worker_stop(struct worker *w);

/**
 * Runs job_id to an outcome on this connection (claiming it itself when it
 * is due, else waiting for whoever holds it), up to timeout_s. Used by
 * `lumi service …`. Answers the job's final JSON, or NULL with err.
 */
json_t *worker_run_until_settled(struct db *db, int64_t job_id, int timeout_s,
                                 struct lumi_err *err);

#endif
