/*
 * pages_billing.h — handlers of clients and products pages (p_clients.c, p_products.c),
 * named by routes_pages_billing.inc.
 */
#ifndef LUMI_WEB_PAGES_BILLING_H
#define LUMI_WEB_PAGES_BILLING_H

#include "web/http.h"

#endif
