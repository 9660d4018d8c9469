/*
 * stats.h — the figures of the admin dashboard: revenue of the current UTC
 * month, unpaid and overdue totals, services by status, failed jobs, and
 * payments per day of the last STATS_DAYS days.
 *
 * Money is never added across currencies: every money figure is a list of
 * {currency, amount} (amount in minor units), one entry per currency,
 * sorted by currency code.
 */
#ifndef LUMI_BILLING_STATS_H
#define LUMI_BILLING_STATS_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

/** Days covered by the payments-per-day series, today included. */
#define STATS_DAYS 30
/** Newest failed jobs listed with their reasons. */
#define STATS_FAILED_LATEST 5

/**
 * The dashboard's figures as of `now` (seconds since the epoch; UTC), as a
 * new JSON object (caller decrefs):
 *
 *   as_of           "YYYY-MM-DDTHH:MM:SSZ" (now)
 *   month           "YYYY-MM", the current UTC month
 *   revenue_month   [{currency, amount}]: payments and chargeback reversals
 *                   minus refunds and chargebacks recorded this month
 *   unpaid          [{currency, amount, count}]: invoices unpaid or
 *                   partially paid; amount = Σ (total − amount_paid)
 *   overdue         the same for those whose due_date is before now
 *   services        {status: count} for every service status (0 included)
 *   services_total  all services
 *   failed_jobs     {count, latest: [job as jobs_get answers it, newest
 *                   first, at most STATS_FAILED_LATEST]}
 *   payments_daily  {days: ["YYYY-MM-DD" × STATS_DAYS, oldest first, the
 *                   last is today], series: [{currency, amounts: [minor
 *                   units per day, 0 when none, same order as days], total,
 *                   max}]}: payments only (kind "payment"); one series per
 *                   currency that had a payment in the window
 *
 * A money sum that does not fit 64 bits is never an error: its entry has
 * "overflow": true and amount 0 (a series: "overflow": true, figures held at
 * INT64_MAX).
 *
 * Reads only; each figure is its own statement (no snapshot across them).
 * Cost: the aggregates' rows (SQLite: days per currency; PostgreSQL: days and
 * the deltas not folded yet, see stats_compact), not the
 * number of invoices or transactions.
 * NULL with err on a database error.
 */
json_t *stats_dashboard(struct db *db, int64_t now, struct lumi_err *err);

/**
 * PostgreSQL: folds the aggregate triggers' delta rows into the base tables
 * (migration 19) in one transaction, one caller at a time, then vacuums a
 * delta table it emptied of many rows (their dead versions would slow every
 * reading until autovacuum came): answers how many delta rows it folded, or
 * < 0 with err. Readings are exact whether or not it ran (the views add
 * both); running it keeps them small. Nothing to do on SQLite (0).
 */
int stats_compact(struct db *db, struct lumi_err *err);

#endif
