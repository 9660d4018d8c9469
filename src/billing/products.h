/*
 * products.h — the catalogue: what can be ordered, at what price and cycle,
 * provisioned where.
 *
 * Products are answered as JSON objects
 *   {id, name, description, type, server_id, server_group, fill_strategy,
 *    price, currency, billing_cycle, setup_fee, autosetup, config, active,
 *    created_at, updated_at}
 * with money as integer minor units beside a lower-case currency code and
 * config as a JSON object (stored as canonical JSON text). Input is a JSON
 * object validated here, with messages that name the field. Every change runs
 * in one transaction together with its audit row: a failed call changes
 * nothing. Functions must not be called inside an open transaction.
 */
#ifndef LUMI_BILLING_PRODUCTS_H
#define LUMI_BILLING_PRODUCTS_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "billing/listing.h"
#include "db/db.h"

#define PRODUCTS_PAGE_MAX LISTING_PAGE_MAX

/** Largest price or setup fee in minor units (10^15: room for invoice sums in int64). */
#define PRODUCTS_AMOUNT_MAX INT64_C(1000000000000000)

/** Largest stored config (canonical JSON text), bytes. */
#define PRODUCTS_CONFIG_MAX 65536

/**
 * One page of products in ascending id order, those with id > after_id, at
 * most limit (1..PRODUCTS_PAGE_MAX). Returns a new JSON array (caller decrefs)
 * and sets *next_cursor to the page's last id when more rows follow, else 0.
 */
json_t *products_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                      struct lumi_err *err);

/** One product as a new JSON object, or NULL with LUMI_ENOTFOUND. */
json_t *products_get(struct db *db, int64_t id, struct lumi_err *err);

/**
 * Creates a product from input (borrowed). Required: name, type
 * (hosting|vps|game_server|other), price (integer >= 0), currency (ISO 4217),
 * billing_cycle (monthly|quarterly|semiannually|annually|onetime). Optional:
 * description, server_id (an existing server), server_group, fill_strategy
 * (least_full|in_order, default least_full), setup_fee (default 0), autosetup
 * (order|payment|manual|never, default payment), config (object, default {}),
 * active (default true). Appends PRODUCT_CREATED by actor (borrowed).
 * Returns the new product (caller decrefs) or NULL with err (LUMI_EINVAL).
 */
json_t *products_create(struct db *db, const struct audit_actor *actor, const json_t *input,
                        struct lumi_err *err);

/**
 * Changes the fields present in patch (borrowed), validated as for create;
 * null clears description, server_id, server_group and config and is refused
 * elsewhere; an empty patch is LUMI_EINVAL. Appends PRODUCT_UPDATED with
 * {"changed":{field:{from,to}}} when something changed. Returns the product
 * as stored (caller decrefs) or NULL with err (LUMI_ENOTFOUND, LUMI_EINVAL).
 */
json_t *products_update(struct db *db, const struct audit_actor *actor, int64_t id,
                        const json_t *patch, struct lumi_err *err);

/**
 * Deletes a product no service uses, appending PRODUCT_DELETED (details: the
 * deleted product). LUMI_ECONFLICT when services use it (deactivate it
 * instead), LUMI_ENOTFOUND when there is no such product. Returns 0 or < 0.
 */
int products_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                    struct lumi_err *err);

#endif
