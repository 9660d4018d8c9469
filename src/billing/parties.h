/*
 * parties.h — the seller and the buyer of a document, frozen when it is issued.
 *
 * The seller is the company profile of the settings (company.*), the buyer
 * the client's record; both are copied as JSON into the invoice (and credit
 * note) when it is made, so a later change of the settings or of the
 * client's address never changes a document already issued.
 *
 *   seller {name, address, country, tax_id, email}
 *   buyer  {name, company, email, address1, address2, city, region,
 *           postcode, country, tax_id}
 * (region: the client's region, else its state.)
 */
#ifndef LUMI_BILLING_PARTIES_H
#define LUMI_BILLING_PARTIES_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

/** The seller as the settings say now; new reference or NULL with err. */
json_t *parties_seller(struct db *db, struct lumi_err *err);

/** The buyer as client_id's record says now; NULL with LUMI_ENOTFOUND when there is none. */
json_t *parties_buyer(struct db *db, int64_t client_id, struct lumi_err *err);

/**
 * Inside the caller's transaction: stores the seller and client_id's buyer
 * on invoice_id (invoices.seller / buyer). Called once, when it is created.
 */
int parties_freeze_invoice(struct db *db, int64_t invoice_id, int64_t client_id,
                           struct lumi_err *err);

/**
 * Adds the invoice's kind, seller and buyer (JSON null when the invoice is
 * older than the frozen parties) to inv, the invoice JSON of id.
 */
int parties_add_to_invoice_json(struct db *db, int64_t id, json_t *inv, struct lumi_err *err);

/**
 * The invoice's frozen seller and buyer as stored text into *seller and
 * *buyer (new strings, caller frees; NULL for an invoice without them).
 */
int parties_of_invoice(struct db *db, int64_t invoice_id, char **seller, char **buyer,
                       struct lumi_err *err);

#endif
