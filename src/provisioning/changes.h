/*
 * changes.h — upgrades and downgrades of a service to another product
 * (table service_changes, services.renewal_credit).
 *
 * Options: the other visible, active products of the same (non-empty) store
 * group whose server has the same panel type, with a product_prices row for
 * the service's billing cycle and currency. The charge or credit is
 * prorated on integers over the current period (changes_prorate).
 *
 * An upgrade (prorated > 0) creates an invoice and a change awaiting payment;
 * nothing changes on the panel until that invoice is paid: then
 * changes_on_invoice_paid (inside the payment's transaction) queues the
 * change_package job. A downgrade (prorated <= 0) queues the job at once.
 * When the job succeeds, changes_on_job_finished (inside the job's outcome
 * transaction) sets the service's recurring amount, adds a downgrade's
 * credit to services.renewal_credit and marks the change applied, exactly
 * once (the change row is only moved from queued/failed to applied).
 * Audited: SERVICE_CHANGE_REQUESTED, SERVICE_CHANGE_QUEUED,
 * SERVICE_CHANGE_APPLIED, SERVICE_CHANGE_FAILED, SERVICE_CHANGE_WITHDRAWN.
 */
#ifndef LUMI_PROVISIONING_CHANGES_H
#define LUMI_PROVISIONING_CHANGES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/**
 * (new_price - old_price) * remaining_s / period_s, rounded half away from
 * zero, in 128-bit arithmetic. LUMI_EINVAL when period_s <= 0, remaining_s
 * is outside 0..period_s or the result does not fit.
 */
int changes_prorate(int64_t new_price, int64_t old_price, int64_t remaining_s, int64_t period_s,
                    int64_t *out, struct lumi_err *err);

/**
 * What the service (of client owner; 0 = any, for staff) can change to, as
 * of now (seconds): {service_id, product_id, product_name, recurring_amount,
 * currency, billing_cycle, period_start, period_end, open_change (or null),
 * options: [{product_id, name, amount, currency, direction,
 * prorated_amount}]}. LUMI_ENOTFOUND for another client's service.
 */
json_t *changes_options(struct db *db, int64_t service_id, int64_t owner, int64_t now,
                        struct lumi_err *err);

/**
 * Requests the change to to_product_id (own transaction). Answers
 * {change, invoice (upgrade) or null}. LUMI_EINVAL naming product_id when it
 * is not an option; LUMI_ECONFLICT when the service is not active, has an
 * open change, a pending cancellation, a queued termination or an unpaid
 * renewal invoice, or no billing period.
 */
json_t *changes_request(struct db *db, const struct audit_actor *actor, int64_t service_id,
                        int64_t owner, int64_t to_product_id, int64_t now, struct lumi_err *err);

/** Withdraws an upgrade awaiting payment (own transaction; its invoice is cancelled). */
json_t *changes_withdraw(struct db *db, const struct audit_actor *actor, int64_t service_id,
                         int64_t owner, struct lumi_err *err);

/** The service's open change (awaiting_payment or queued) as JSON, or JSON null. */
json_t *changes_open(struct db *db, int64_t service_id, struct lumi_err *err);

/**
 * Inside the caller's transaction: cancels the service's upgrade awaiting
 * payment, if any, and its invoice (a cancellation makes it moot).
 */
int changes_cancel_open(struct db *db, const struct audit_actor *actor, int64_t service_id,
                        struct lumi_err *err);

/** Inside the payment's transaction: queues the change_package job of changes paid by it. */
int changes_on_invoice_paid(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                            struct lumi_err *err);

/**
 * Inside the transaction that records a change_package job's final outcome:
 * applies (ok) or marks failed the change that job carries, if any.
 */
int changes_on_job_finished(struct db *db, int64_t job_id, bool ok, const char *error,
                            struct lumi_err *err);

/**
 * Inside the renewal's transaction: takes up to `total` off the service's
 * renewal_credit; *taken gets the amount taken (0 when none).
 */
int changes_take_renewal_credit(struct db *db, int64_t service_id, int64_t total, int64_t *taken,
                                struct lumi_err *err);

#endif
