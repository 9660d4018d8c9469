/*
 * coupons.h — discount codes: their admin CRUD, redeeming one at order and
 * the discount it gives on the order's invoice and on later renewals.
 *
 * A coupon {code, kind percent|fixed, value (basis points | minor units),
 * currency (fixed only), cycles (1 = the first invoice only, 0 = every
 * renewal too, n = the first n invoices), product_ids ([] = all), max_uses
 * (0 = unlimited), expires_at, active}. A use is counted by a guarded
 * UPDATE (uses < max_uses) in the order's transaction: two orders racing for
 * the last use cannot both win. The discount is an invoice line of kind
 * "discount" with a negative amount, capped at what it discounts, so an
 * invoice never goes below 0. Owns the SQL over `coupons`, `coupon_uses` and
 * the coupon columns of `services` (coupon_id, coupon_cycles_left).
 */
#ifndef LUMI_BILLING_COUPONS_H
#define LUMI_BILLING_COUPONS_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

#define COUPON_CODE_MAX 32

/** A coupon redeemed for one order (filled by coupons_redeem_in_tx). */
struct coupon_pick {
    int64_t id;                       /* 0: no coupon */
    char code[COUPON_CODE_MAX + 1];   /* upper-case */
    char kind[8];                     /* "percent" | "fixed" */
    int64_t value;
    int64_t cycles;
};

/** One discount line: description and the amount to subtract (> 0; 0 = none). */
struct coupon_line {
    char description[160];
    int64_t amount;
};

/** All coupons, newest first, at most 1000 (new array; caller decrefs). */
json_t *coupons_list(struct db *db, struct lumi_err *err);

/** One coupon, or NULL with LUMI_ENOTFOUND. */
json_t *coupons_get(struct db *db, int64_t id, struct lumi_err *err);

/** POST (own transaction, COUPON_CREATED). LUMI_EINVAL naming the field; LUMI_ECONFLICT for a
 *  code in use. */
json_t *coupons_create(struct db *db, const struct audit_actor *actor, const json_t *body,
                       struct lumi_err *err);

/** PATCH: the given members replace the coupon's (own transaction, COUPON_UPDATED). */
json_t *coupons_update(struct db *db, const struct audit_actor *actor, int64_t id,
                       const json_t *body, struct lumi_err *err);

/** DELETE (own transaction, COUPON_DELETED): only a coupon never used; else LUMI_ECONFLICT
 *  (deactivate it with PATCH {active: false}). */
int coupons_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                   struct lumi_err *err);

/**
 * Inside the order's transaction: checks code for an order of product_id in
 * currency (exists, active, not expired, product allowed, currency of a fixed
 * coupon, uses left; LUMI_EINVAL "field 'coupon': …") and takes one use
 * (LUMI_ECONFLICT when the last one went to another order).
 */
int coupons_redeem_in_tx(struct db *db, const char *code, int64_t product_id,
                         const char *currency, struct coupon_pick *pick, struct lumi_err *err);

/** The discount of pick on base (capped at base) with its description; amount 0 when none. */
int coupons_line(const struct coupon_pick *pick, int64_t base, const char *currency,
                 struct coupon_line *line, struct lumi_err *err);

/**
 * After the order's invoice exists (same transaction): the coupon_uses row,
 * the invoice's discount, and the service's memory of the coupon for its
 * renewals (cycles − 1 more invoices; every renewal when cycles is 0).
 */
int coupons_record_use(struct db *db, const struct coupon_pick *pick, int64_t client_id,
                       int64_t invoice_id, int64_t service_id, int64_t discount,
                       struct lumi_err *err);

/**
 * A renewal of service_id for base (inside its transaction): the discount
 * line when the service's coupon still discounts (counting one cycle down),
 * amount 0 otherwise.
 */
int coupons_for_renewal(struct db *db, int64_t service_id, int64_t base, const char *currency,
                        struct coupon_line *line, struct lumi_err *err);

/** Records the discount on a new invoice (invoices.discount), inside its transaction. */
int coupons_note_discount(struct db *db, int64_t invoice_id, int64_t discount,
                          struct lumi_err *err);

#endif
