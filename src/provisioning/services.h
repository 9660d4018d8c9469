/*
 * services.h — orders and the lifecycle requests of services.
 *
 * Posting {client_id, product_id, billing_cycle?, currency?, domain?} is an
 * order (an admin's, or a client's own from the store: the same function
 * behind both): one transaction chooses the product's price row, creates the service (status pending, with its deterministic remote_key
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

/** The setting that makes a client confirm the e-mail address before ordering (bool). */
#define SERVICES_VERIFIED_SETTING "store.require_verified_email"

/** What an order made: its service, first invoice and provision job (0: none). */
struct services_placed {
    int64_t service_id, invoice_id, job_id;
};

/**
 * Places an order inside the CALLER's transaction (provisioning/orders.h
 * opens it and adds what must happen in the same transaction, such as
 * paying from credit). client_id 0: an admin's order, input {client_id,
 * product_id, billing_cycle?, currency?, domain?, coupon?}; client_id > 0:
 * the client orders for themself (the store), input without client_id, the
 * product must also be visible (a hidden one reads as missing), and while
 * SERVICES_VERIFIED_SETTING is on a client without a confirmed e-mail
 * address gets LUMI_EFORBIDDEN.
 *
 * billing_cycle and currency choose the product's price row (the first of
 * its prices that fits; neither given: its first price); the service takes
 * that cycle, amount and currency, and its first invoice is the setup fee
 * plus the first period (less a coupon's discount). An order with nothing to
 * pay gets its 0 invoice settled at once (paid, INVOICE_PAID audited) and
 * goes on as a paid order. Errors: LUMI_EINVAL naming the field (unknown or
 * disabled client or product, a cycle or currency the product is not sold
 * in, a missing or bad domain, a coupon that does not apply), LUMI_ECONFLICT
 * when the product's server is full or inactive ("… is out of stock …" for
 * a client, naming no server; the slot is taken with a guarded UPDATE: never
 * oversold) or the coupon's last use was taken.
 */
int services_order_in_tx(struct db *db, const struct audit_actor *actor, const json_t *input,
                         int64_t client_id, struct services_placed *out, struct lumi_err *err);

/** The order's answer: the service JSON with "invoice_id", "invoice" and "job". */
json_t *services_order_answer(struct db *db, const struct services_placed *placed,
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
