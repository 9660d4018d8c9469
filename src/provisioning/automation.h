/*
 * automation.h — the automation pass (`lumi cron`, and hourly in the scheduler).
 *
 * Renewal invoices `renew_days_before` days before a service's next_due_date;
 * suspension (reason overdue) of active services whose renewal invoice is
 * unpaid `suspend_days_after_due` days past its due date; termination of
 * services suspended for overdue for `terminate_days_after_suspend` days.
 * Due end-of-period cancellation requests (cancellations.h) are carried out
 * first, and a service with a pending or done request is never renewed; a
 * renewal takes a downgrade's credit (changes.h) off as a negative line.
 * Each service is handled in its own transaction: one failing service never
 * stops the run. With dry_run nothing changes and the plan is printed.
 * Its settings are automation.renew_days_before, automation.suspend_days_after_due
 * and automation.terminate_days_after_suspend, read through the settings
 * registry (settings/registry.h), which holds their bounds and defaults.
 */
#ifndef LUMI_PROVISIONING_AUTOMATION_H
#define LUMI_PROVISIONING_AUTOMATION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "db/db.h"

struct automation_report {
    int invoices_created;
    int suspensions_queued;
    int terminations_queued;
    int cancellations_executed; /* due end-of-period cancellation requests carried out */
    int errors;
    int renewals_examined; /* services the renewal phase looked at (candidates) */
};

struct stop_flag;

/**
 * One pass as of `now` (seconds since the epoch). plan (may be NULL) gets one
 * line per action taken or, with dry_run, planned. Returns 0 (see the
 * report's errors) or < 0 when the pass could not run at all.
 */
int automation_run(struct db *db, int64_t now, bool dry_run, FILE *plan,
                   struct automation_report *report, struct lumi_err *err);

/**
 * automation_run that ends early, between two groups of services, once stop
 * (core/stop.h; NULL: never) is raised: what was done is committed, the next
 * pass goes on from there. For the scheduler, so a shutdown does not wait
 * for a whole pass.
 */
int automation_run_until(struct db *db, int64_t now, bool dry_run, FILE *plan,
                         struct automation_report *report, struct stop_flag *stop,
                         struct lumi_err *err);

#endif
