/*
 * jobs.h — the durable job queue of the ProvisioningService.
 *
 * Every panel action (provision, suspend, unsuspend, terminate,
 * change_package, change_password) is a `jobs` row written in the same
 * transaction as the decision that caused it. Workers claim due jobs:
 *   SQLite      one guarded UPDATE … WHERE id = (SELECT … LIMIT 1) AND status = 'queued'
 *   PostgreSQL  SELECT … FOR UPDATE SKIP LOCKED, so any number of processes claim side by side
 * A claim is a lease (locked_by, locked_until): a job whose worker died is
 * claimed again once its lease has expired. Jobs of one service run in order:
 * a job is only claimable when no earlier job of its service is open.
 * Functions that change a job must run inside the caller's transaction
 * unless their comment says otherwise.
 */
#ifndef LUMI_PROVISIONING_JOBS_H
#define LUMI_PROVISIONING_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/utc.h"
#include "db/db.h"

#define JOBS_MAX_ATTEMPTS_DEFAULT 8
#define JOBS_LEASE_S_DEFAULT 120

struct job {
    int64_t id;
    int64_t service_id;
    char action[24];     /* provision | suspend | unsuspend | terminate | change_package | change_password */
    char status[16];     /* queued | running | done | failed | cancelled */
    json_t *args;        /* owned; e.g. {"reason":"overdue"} */
    int attempts;        /* including the current one, once claimed */
    int max_attempts;
    char run_at[UTC_ISO_LEN];
    char locked_by[64];
};

void job_clear(struct job *j);

/** True for a known action name. */
bool jobs_action_valid(const char *action);

/**
 * Queues action for service_id, due now (inside the caller's transaction).
 * When an open (queued or running) job with the same service and action
 * exists, that job's id is returned instead of a second one. args may be NULL.
 */
int jobs_enqueue(struct db *db, int64_t service_id, const char *action, json_t *args,
                 int64_t *job_id, struct lumi_err *err);

/**
 * Claims the oldest due job (own transaction). 1 with *out filled (status
 * running, attempts incremented, lease until now + lease_s), 0 when nothing
 * is due, < 0 on error. worker_id names the claimer ("host:pid:thread").
 */
int jobs_claim(struct db *db, const char *worker_id, int lease_s, struct job *out,
               struct lumi_err *err);

/** Claims one specific job if it is due (lumi service … runs its own job). Same returns. */
int jobs_claim_id(struct db *db, int64_t job_id, const char *worker_id, int lease_s,
                  struct job *out, struct lumi_err *err);

/**
 * Extends the lease of a job this worker holds (its own statement, outside
 * transactions): called before every panel call so that a slow job is not
 * taken over while it is still running. 0, or LUMI_ECONFLICT when another
 * worker has taken the job over (then make no further panel call).
 */
int jobs_touch(struct db *db, const struct job *job, int lease_s, struct lumi_err *err);

/**
 * Inside the transaction that records a job's outcome: confirms that this
 * worker still holds the job and locks its row until commit. LUMI_ECONFLICT
 * when it was taken over: roll back and leave the outcome to the new holder.
 */
int jobs_hold(struct db *db, const struct job *job, struct lumi_err *err);

/** Marks the job done. */
int jobs_complete(struct db *db, int64_t job_id, struct lumi_err *err);

/** Puts the job back in the queue, due in delay_s seconds, with the reason. */
int jobs_retry_later(struct db *db, int64_t job_id, int64_t delay_s, const char *error,
                     struct lumi_err *err);

/**
 * Puts a claimed job back, due in delay_s seconds, without using up its
 * attempt (the worker could not start it: its panel server had no free slot).
 */
int jobs_release(struct db *db, int64_t job_id, int64_t delay_s, struct lumi_err *err);

/** Gives up: status failed with the reason (stays visible until retried). */
int jobs_fail(struct db *db, int64_t job_id, const char *error, struct lumi_err *err);

/**
 * Requeues the service's failed jobs with a fresh attempt budget (after the
 * admin fixed the cause). *job_id gets the (first) requeued job;
 * LUMI_ENOTFOUND when the service has no failed job.
 */
int jobs_requeue_failed(struct db *db, int64_t service_id, int64_t *job_id,
                        struct lumi_err *err);

/**
 * Backoff before attempt `attempt` + 1: exponential from 5 s (5, 10, 20, …,
 * capped at 1 h) with ±20 % jitter, and never less than retry_after_s.
 */
int64_t jobs_backoff_s(int attempt, int retry_after_s);

/** A job as JSON {id, service_id, action, status, args, attempts, max_attempts, run_at,
 *  last_error, created_at, updated_at, finished_at}, or NULL with LUMI_ENOTFOUND. */
json_t *jobs_get(struct db *db, int64_t id, struct lumi_err *err);

/** Keyset page of jobs, newest first, optionally of one status. */
json_t *jobs_list(struct db *db, const char *status, int64_t before_id, int limit,
                  int64_t *next_cursor, struct lumi_err *err);

/** The jobs of one service, newest first (at most 50). */
json_t *jobs_of_service(struct db *db, int64_t service_id, struct lumi_err *err);

/** How many jobs wait, run or failed: {"queued": n, "running": n, "failed": n} (the
 *  states that stay small; counted through the (status, id) index). */
json_t *jobs_counts(struct db *db, struct lumi_err *err);

/**
 * Seconds since the longest-waiting due job (queued, run_at <= now) became
 * due, 0 when none is due (a retry waiting for its back-off is not late).
 * One row through the (status, run_at) index.
 */
int jobs_oldest_due_age(struct db *db, int64_t now, int64_t *age_s, struct lumi_err *err);

#endif
