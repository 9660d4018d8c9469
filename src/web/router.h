/*
 * router.h — picks the route for a method and a decoded path (private to src/web/).
 *
 * Patterns are split on '/'; a segment "{name}" matches any non-empty path
 * segment and captures it, any other segment must be equal. There is no
 * trailing-slash or case folding. When several routes match, the one with
 * the most literal segments wins (table order breaks ties), so
 * "/servers/test" beats "/servers/{id}". HEAD falls back to GET routes.
 */
#ifndef LUMI_WEB_ROUTER_H
#define LUMI_WEB_ROUTER_H

#include <stddef.h>

#include "web/internal.h"

enum route_outcome {
    ROUTE_FOUND = 0,
    ROUTE_NOT_FOUND,  /* no pattern matches the path → 404 */
    ROUTE_BAD_METHOD, /* the path exists with other methods → 405 + Allow */
    ROUTE_NOMEM,
};

/**
 * Matches method + path against routes (terminated by method NULL).
 * ROUTE_FOUND: *out is the route, params/nparams its captures (copied into
 * arena). ROUTE_BAD_METHOD: allow gets e.g. "GET, HEAD, PATCH" (truncated to
 * allowsz).
 */
enum route_outcome router_match(const struct web_route *routes, const char *method,
                                const char *path, struct web_arena *arena,
                                struct web_kv params[WEB_MAX_PARAMS], size_t *nparams,
                                const struct web_route **out, char *allow, size_t allowsz);

#endif
