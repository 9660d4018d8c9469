/*
 * routes.h — every route of `lumi serve`: the tables of web/api (JSON),
 * web/admin (admin pages) and web/client (client area), joined.
 */
#ifndef LUMI_WEB_ROUTES_H
#define LUMI_WEB_ROUTES_H

#include "web/server.h"

/**
 * All routes in one table terminated by an entry with method NULL: the API's,
 * the admin pages' and the client area's. Built on the first call (thread-safe),
 * static afterwards; NULL only when out of memory.
 */
const struct web_route *lumi_routes(void);

#endif
