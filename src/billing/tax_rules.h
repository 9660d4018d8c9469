/*
 * tax_rules.h — the admin's tax rules: {name, country (ISO 3166-1 alpha-2),
 * region ("" = the whole country), rate (basis points: 1900 = 19.00 %),
 * inclusive, active}. The JSON member "rate" is the column rate_bp.
 *
 * Every change is validated (messages name the field), written in one
 * transaction with its audit row (TAX_RULE_CREATED / _UPDATED / _DELETED).
 * At most one active rule per (country, region): a second answers 409. A
 * rule an invoice used cannot be deleted (409: deactivate it instead), so an
 * issued invoice keeps the rule it names. billing/tax.h applies the rules.
 */
#ifndef LUMI_BILLING_TAX_RULES_H
#define LUMI_BILLING_TAX_RULES_H

#include <jansson.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "db/db.h"

/** Keyset page of rules by id: {id, name, country, region, rate, inclusive, active, …}. */
json_t *tax_rules_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                       struct lumi_err *err);

/** One rule, or NULL with LUMI_ENOTFOUND. */
json_t *tax_rules_get(struct db *db, int64_t id, struct lumi_err *err);

/** Creates a rule from body (borrowed); its own transaction. The rule, or NULL with err. */
json_t *tax_rules_create(struct db *db, const struct audit_actor *actor, const json_t *body,
                         struct lumi_err *err);

/** Changes the members of patch; a change to nothing writes nothing. */
json_t *tax_rules_update(struct db *db, const struct audit_actor *actor, int64_t id,
                         const json_t *patch, struct lumi_err *err);

/** Deletes a rule no invoice used (else LUMI_ECONFLICT). */
int tax_rules_delete(struct db *db, const struct audit_actor *actor, int64_t id,
                     struct lumi_err *err);

#endif
