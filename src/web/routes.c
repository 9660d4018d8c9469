/*
 * routes.c — joins the route tables of web/api, web/admin and web/client
 * into the one table the router matches against (the router prefers the most
 * specific pattern, so the order of the tables does not matter).
 */
#include "web/routes.h"

#include <pthread.h>
#include <stdlib.h>

#include "web/admin/routes_pages.h"
#include "web/api/api.h"
#include "web/client/pages_client.h"

static struct web_route *joined;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static size_t count(const struct web_route *t)
{
    size_t n = 0;
    while (t[n].method != NULL)
        n++;
    return n;
}

static void join(void)
{
    const struct web_route *const tables[] = {web_api_routes, web_admin_routes,
                                              web_client_routes};
    size_t total = 1, k = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        total += count(tables[i]);
    joined = calloc(total, sizeof *joined);
    if (joined == NULL)
        return;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        for (size_t j = 0; tables[i][j].method != NULL; j++)
            joined[k++] = tables[i][j];
    joined[k] = (struct web_route){.method = NULL};
}

const struct web_route *lumi_routes(void)
{
    pthread_once(&once, join);
    return joined;
}
