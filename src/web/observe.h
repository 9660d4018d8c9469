/*
 * observe.h — what the HTTP server reports to core/metrics (private to src/web/).
 */
#ifndef LUMI_WEB_OBSERVE_H
#define LUMI_WEB_OBSERVE_H

#include <stddef.h>

#include "web/internal.h"

/** Registers the route table's labels with core/metrics; answers the number of routes. */
size_t observe_routes(const struct web_route *routes);

/**
 * Counts an answered exchange: its route (index route; nroutes when none
 * matched), status and duration, and — when a handler noted it with
 * web_note_webhook — the webhook delivery with its final outcome.
 */
void observe_exchange(const struct web_exchange *x, size_t route);

#endif
