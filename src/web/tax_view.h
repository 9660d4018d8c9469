/*
 * tax_view.h — how an invoice's taxes read on a page (admin and client
 * area alike), from the invoice JSON (invoices_get).
 */
#ifndef LUMI_WEB_TAX_VIEW_H
#define LUMI_WEB_TAX_VIEW_H

#include <jansson.h>

/**
 * Adds to each member of inv's "taxes" rate_text ("19.00 %"), base_text and
 * amount_text in the invoice's currency. An invoice without taxes (or
 * without the member) is left as it is.
 */
void tax_view_decorate(json_t *inv);

#endif
