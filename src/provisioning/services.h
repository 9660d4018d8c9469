/*
 * services.h — orders and the lifecycle requests of services.
 *
 * Posting {client_id, product_id, domain?} is an order: one transaction
 * creates the service (status pending, with its deterministic remote_key
 * "lumi-<installation>-<service id>"), its first invoice (setup fee + first
 * period) and, when the product's autosetup is "order", the provision job.
 * autosetup "payment" provisions when the first invoice is paid
 * (services_on_invoice_paid), "manual" waits for an admin, "never" never.
 * Lifecycle requests queue a job in the same transaction as the check that
 * allows them; the job (see provision.h) changes the service's status only
 * when the panel confirmed.
 */
#ifndef LUMI_PROVISIONING_SERVICES_H
#define LUMI_PROVISIONING_SERVICES_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/** Months in a billing cycle (monthly 1 … annually 12; onetime 0), or -1 if unknown. */
int services_cycle_months(const char *billing_cycle);

/**
 * Places an order (own transaction). Answers the service JSON with
 * "invoice_id" and "job" (the provision job or null). Errors: LUMI_EINVAL
 * naming the field (unknown/disabled client or product, bad domain),
 * LUMI_ECONFLICT when the product's server is full or inactive.
 */
json_t *services_order(struct db *db, const struct audit_actor *actor, const json_t *input,
                       struct lumi_err *err);

/** Service JSON per DESIGN.md plus "attempts" (the last provision_attempts rows)
 *  and "jobs" (its jobs). NULL with LUMI_ENOTFOUND. Never the password. */
json_t *services_get(struct db *db, int64_t id, struct lumi_err *err);

/** Keyset page (ascending ids), optionally of one status. */
json_t *services_list(struct db *db, const char *status, int64_t after_id, int limit,
                      int64_t *next_cursor, struct lumi_err *err);

/** As services_list, only the services of one client (any status). */
json_t *services_list_of_client(struct db *db, int64_t client_id, int64_t after_id, int limit,
                                int64_t *next_cursor, struct lumi_err *err);

/**
 * Requests a lifecycle action (own transaction): "provision" (pending or
 * failed services), "suspend" with reason overdue|manual|abuse|dispute
 * (active ones), "unsuspend" (suspended ones), "terminate" (any but
 * terminated/cancelled). Answers the job JSON; LUMI_ECONFLICT when the
 * service's status does not allow the action. Audited as SERVICE_<ACTION>_REQUESTED.
 */
json_t *services_request(struct db *db, const struct audit_actor *actor, int64_t id,
                         const char *action, const char *reason, struct lumi_err *err);

/** Requeues the service's failed job (own transaction); answers the job. */
json_t *services_retry(struct db *db, const struct audit_actor *actor, int64_t id,
                       struct lumi_err *err);

/**
 * What the payment code calls when an invoice becomes paid, inside ITS
 * transaction: queues provisioning of its services that wait for payment
 * (autosetup "payment", status pending), queues unsuspension of its services
 * suspended for "overdue" (never those suspended for abuse, dispute or by an
 * admin), and advances next_due_date of services renewed by its recurring items.
 */
int services_on_invoice_paid(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                             struct lumi_err *err);

/** The setting that says what a chargeback (dispute, PayPal reversal) does to services. */
#define SERVICES_DISPUTE_SETTING "billing.dispute_action"

/**
 * What the payment code calls when a chargeback is recorded on an invoice,
 * inside ITS transaction. With the setting billing.dispute_action = "suspend"
 * (the default) the invoice's active services are queued for suspension with
 * reason "dispute" (which a later payment never lifts: an admin decides);
 * "none" only records the chargeback. Any other value is LUMI_EINVAL, so a
 * typo fails the delivery (the gateway retries) instead of silently doing
 * nothing. *queued (may be NULL) is the number of suspensions queued.
 */
int services_on_chargeback(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                           int *queued, struct lumi_err *err);

#endif
