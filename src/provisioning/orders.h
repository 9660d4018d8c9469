/*
 * orders.h — placing an order, in one transaction: the service, its first
 * invoice and provision job (services_order_in_tx), then what the client's
 * credit balance pays of that invoice (credit_auto_apply, setting
 * credit.auto_apply). It sits above services and the credit ledger so that
 * neither includes the other: paying from credit runs the payment path,
 * which calls back into services (services_on_invoice_paid).
 */
#ifndef LUMI_PROVISIONING_ORDERS_H
#define LUMI_PROVISIONING_ORDERS_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/**
 * An admin's order (own transaction): input {client_id, product_id,
 * billing_cycle?, currency?, domain?, coupon?}. Answers the service JSON with
 * "invoice_id", "invoice" and "job" (caller decrefs), or NULL with err as
 * services_order_in_tx describes; a failed order changes nothing.
 */
json_t *orders_place(struct db *db, const struct audit_actor *actor, const json_t *input,
                     struct lumi_err *err);

/** The same order placed by client_id for themself (the store); LUMI_EFORBIDDEN for 0. */
json_t *orders_place_client(struct db *db, const struct audit_actor *actor, int64_t client_id,
                            const json_t *input, struct lumi_err *err);

#endif
