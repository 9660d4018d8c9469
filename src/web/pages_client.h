/*
 * pages_client.h — handlers of the client area /client/... (p_client.c),
 * named by routes_client.inc.
 */
#ifndef LUMI_WEB_PAGES_CLIENT_H
#define LUMI_WEB_PAGES_CLIENT_H

#include "web/http.h"

#endif
