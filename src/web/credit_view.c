/*
 * credit_view.c — the credit parts of the admin and client pages (see
 * credit_view.h). Read-only; runs on the request's worker thread.
 */
#include "web/credit_view.h"

#include "billing/credit.h"
#include "billing/credit_apply.h"
#include "web/page.h"

#define LEDGER_SHOWN 20

void credit_view_client(struct db *db, int64_t client_id, json_t *data)
{
    struct lumi_err err = {0};
    size_t i;
    json_t *row;
    if (data == NULL)
        return;
    json_t *c = credit_get(db, client_id, 0, LEDGER_SHOWN, &err);
    if (c == NULL)
        return;
    json_array_foreach(json_object_get(c, "balances"), i, row)
    {
        page_set_money(row, "balance_text", json_integer_value(json_object_get(row, "balance")),
                       json_string_value(json_object_get(row, "currency")));
    }
    json_array_foreach(json_object_get(c, "ledger"), i, row)
    {
        const char *cur = json_string_value(json_object_get(row, "currency"));
        page_set_money(row, "amount_text", json_integer_value(json_object_get(row, "amount")), cur);
        page_set_money(row, "balance_after_text",
                       json_integer_value(json_object_get(row, "balance_after")), cur);
    }
    json_object_set_new(data, "credit", c);
}

void credit_view_invoice(struct db *db, json_t *data)
{
    struct lumi_err err = {0};
    char currency[8];
    int64_t amount = 0;
    if (data == NULL)
        return;
    int64_t id = json_integer_value(json_object_get(json_object_get(data, "invoice"), "id"));
    if (id <= 0 || credit_available_for_invoice(db, id, &amount, currency, &err) < 0 || amount <= 0)
        return;
    page_set_money(data, "credit_available", amount, currency);
}
