/*
 * credit_view.h — what the admin and client pages show of the credit balance
 * (issue 14), shared by src/web/admin and src/web/client: the data comes
 * from billing/credit.c and billing/credit_apply.c, the same functions the
 * JSON API answers with, plus readable money texts.
 */
#ifndef LUMI_WEB_CREDIT_VIEW_H
#define LUMI_WEB_CREDIT_VIEW_H

#include <jansson.h>
#include <stdint.h>

#include "db/db.h"

/**
 * Sets data["credit"] = credit_get(client) with "balance_text" on each
 * balance and "amount_text"/"balance_after_text" on each ledger row (nothing
 * on an error: the page still renders).
 */
void credit_view_client(struct db *db, int64_t client_id, json_t *data);

/**
 * Sets data["credit_available"] = "12.00 USD" when the credit balance can
 * pay some of data["invoice"] now (not set otherwise).
 */
void credit_view_invoice(struct db *db, json_t *data);

#endif
