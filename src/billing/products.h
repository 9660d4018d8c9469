/*
 * products.h — the catalogue: what can be ordered, at what price and cycle,
 * provisioned where.
 *
 * Products are answered as JSON objects
 *   {id, name, description, type, server_id, server_group, fill_strategy,
 *    price, currency, billing_cycle, setup_fee, autosetup, config, active,
 *    group, visible, requires_domain, sort_order,
 *    prices: [{billing_cycle, currency, amount, setup_fee}], created_at, updated_at}
 * "group" is the store category (column store_group, "" for none). A product
 * has one or more prices, one per (currency, billing_cycle); the single
 * fields price, currency, billing_cycle and setup_fee always mirror the
 * first price, and are accepted on input as shorthand for it.
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
#include "core/money.h"
#include "billing/listing.h"
#include "db/db.h"

#define PRODUCTS_PAGE_MAX LISTING_PAGE_MAX

/** Largest price or setup fee in minor units (10^15: room for invoice sums in int64). */
#define PRODUCTS_AMOUNT_MAX MONEY_AMOUNT_MAX

/** sort_order lies within ±this. */
#define PRODUCTS_SORT_MAX 1000000

/** Most prices a product may have. */
#define PRODUCTS_PRICES_MAX 64

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
 * (hosting|vps|game_server|other), and either prices — a list of
 * {billing_cycle (monthly|quarterly|semiannually|annually|biennially|onetime|
 * free), currency (ISO 4217, stored lower-case), amount (0..PRODUCTS_AMOUNT_MAX),
 * setup_fee (default 0)}, at least one, no two with the same currency and
 * cycle, a "free" one costing 0 and setup 0 — or the shorthand price,
 * currency, billing_cycle (and setup_fee, default 0) for a one-price list
 * (not both). Optional: description, server_id (an existing server),
 * server_group, fill_strategy (least_full|in_order, default least_full),
 * autosetup (order|payment|manual|never, default payment), config (object,
 * default {}), active (default true), group (default ""), visible (default
 * true), requires_domain (default false), sort_order (default 0).
 * Appends PRODUCT_CREATED by actor (borrowed).
 * Returns the new product (caller decrefs) or NULL with err (LUMI_EINVAL).
 */
json_t *products_create(struct db *db, const struct audit_actor *actor, const json_t *input,
                        struct lumi_err *err);

/**
 * Changes the fields present in patch (borrowed), validated as for create;
 * null clears description, server_id, server_group, group and config and is
 * refused elsewhere; an empty patch is LUMI_EINVAL. prices replaces the whole
 * list; the shorthand fields change only the first price (the others stay). Appends PRODUCT_UPDATED
 * with
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

/**
 * The public store: {"groups": [{name, products: [{id, name, description,
 * type, group, sort_order, in_stock, requires_domain, prices}]}]} of the
 * visible, active products; groups by name ("" last), products by sort_order
 * then id. in_stock: an active server the product may be placed on has room;
 * requires_domain: the product asks for one or may land on DirectAdmin.
 * Never config, servers or other internals. New object (caller decrefs).
 */
json_t *products_store_list(struct db *db, struct lumi_err *err);

/** One product of the store as above, or NULL with LUMI_ENOTFOUND (also when hidden or inactive).
 */
json_t *products_store_get(struct db *db, int64_t id, struct lumi_err *err);

/**
 * Months in a billing cycle: monthly 1, quarterly 3, semiannually 6,
 * annually 12, biennially 24; 0 for onetime and free (never renews); -1 for
 * an unknown name.
 */
int products_cycle_months(const char *billing_cycle);

#endif
