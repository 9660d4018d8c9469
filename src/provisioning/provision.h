/*
 * provision.h — runs one claimed job against its panel: the executor of the
 * ProvisioningService.
 *
 * Exactly once: before the create call the service's remote_key (and, for
 * DirectAdmin, its username; the client's panel user key) and the generated
 * password are stored; every provision attempt first asks the panel to
 * `find` the resource by that key and adopts it when it exists, so a lost
 * answer, a timeout or a crash never creates a second one. A service's
 * status changes only when the panel confirmed the action.
 *
 * Each panel call is recorded in provision_attempts (action, attempt, start,
 * duration, outcome, HTTP status, readable error). The outcome is then
 * written in ONE transaction: job, service and audit row
 * (SERVICE_PROVISIONED / SERVICE_PROVISION_FAILED, SERVICE_SUSPENDED(_FAILED),
 * SERVICE_UNSUSPENDED(_FAILED), SERVICE_TERMINATED(_FAILED), with service,
 * server, remote id, attempt and error in the details). Transient errors
 * (retryable) are retried later with backoff (honouring Retry-After) until
 * max_attempts; permanent ones fail at once. No transaction is held during a
 * panel call.
 */
#ifndef LUMI_PROVISIONING_PROVISION_H
#define LUMI_PROVISIONING_PROVISION_H

#include "core/err.h"
#include "db/db.h"
#include "provisioning/jobs.h"

/** What running a job ended in. */
enum provision_outcome {
    PROVISION_DONE = 0,    /* the panel confirmed; job done */
    PROVISION_RETRY = 1,   /* transient failure; job queued again with backoff */
    PROVISION_FAILED = 2,  /* permanent failure or attempts exhausted; job failed */
};

/**
 * Runs a job claimed by jobs_claim. Returns the outcome (>= 0), or < 0 when
 * the database itself failed (the job's lease then expires and it runs again).
 */
int provision_run_job(struct db *db, const struct job *job, struct lumi_err *err);

#endif
