/*
 * observe.c — the HTTP server's reports to core/metrics (see observe.h), and
 * web_note_webhook for the webhook handlers.
 *
 * Runs on libmicrohttpd's I/O threads (observe_exchange, from the completion
 * callback) and once at start (observe_routes). The route label is the
 * pattern the router matched, never the raw path, so the number of series is
 * the size of the route table. A webhook's outcome is noted on the exchange
 * by whichever thread owns it at the time (worker or group commit) and read
 * after the answer went out; an answer of 5xx counts as "error" whatever was
 * noted before, since a commit that failed turns an applied event into 503.
 */
#include "web/observe.h"

#include <stdlib.h>

#include "core/metrics.h"
#include "core/str.h"

size_t observe_routes(const struct web_route *routes)
{
    size_t n = 0;
    while (routes[n].method != NULL)
        n++;
    const char **methods = calloc(n + 1, sizeof *methods);
    const char **patterns = calloc(n + 1, sizeof *patterns);
    if (methods != NULL && patterns != NULL) {
        for (size_t i = 0; i < n; i++) {
            methods[i] = routes[i].method;
            patterns[i] = routes[i].pattern;
        }
        metrics_http_routes(methods, patterns, n);
    }
    free(methods);
    free(patterns);
    return n;
}

void observe_exchange(const struct web_exchange *x, size_t route)
{
    metrics_observe_http(route, x->resp.status, metrics_now_ns() - x->started_ns);
    if (x->wh_gateway != NULL)
        metrics_count_webhook(x->wh_gateway, x->resp.status >= 500 ? "error" : x->wh_outcome);
}

void web_note_webhook(struct web_resp *resp, const char *gateway, const char *outcome)
{
    struct web_exchange *x = resp->priv != NULL ? exchange_of_resp(resp) : NULL;
    if (x == NULL)
        return;
    if (gateway != NULL)
        x->wh_gateway = gateway;
    str_copy(x->wh_outcome, outcome != NULL ? outcome : "error", sizeof x->wh_outcome);
}
