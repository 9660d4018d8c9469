/*
 * tax_view.c — the display texts of an invoice's taxes (see tax_view.h).
 * Pure formatting over the invoice JSON; no state.
 */
#include "web/tax_view.h"

#include <inttypes.h>
#include <stdio.h>

#include "web/page.h"

void tax_view_decorate(json_t *inv)
{
    const char *cur = json_string_value(json_object_get(inv, "currency"));
    json_t *t;
    size_t i;
    json_array_foreach(json_object_get(inv, "taxes"), i, t)
    {
        char rate[32];
        int64_t bp = json_integer_value(json_object_get(t, "rate_bp"));
        snprintf(rate, sizeof rate, "%" PRId64 ".%02" PRId64 " %%", bp / 100, bp % 100);
        json_object_set_new(t, "rate_text", json_string(rate));
        page_set_money(t, "base_text", json_integer_value(json_object_get(t, "base")), cur);
        page_set_money(t, "amount_text", json_integer_value(json_object_get(t, "amount")), cur);
    }
}
