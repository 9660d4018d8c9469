/*
 * proxy.c — the effective client behind trusted reverse proxies (see proxy.h).
 *
 * The trusted list is parsed once from the loaded configuration (already
 * validated by config.c at start) and only read afterwards, by any thread.
 * X-Forwarded-For is read right to left: each proxy appends the address it
 * received the request from, so the entries a client can forge are on the
 * left, and the first one from the right that is not a trusted proxy is the
 * last hop nobody trusted — the client as far as Lumi can know.
 */
#include "web/proxy.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "core/cidr.h"
#include "core/config.h"
#include "core/str.h"
#include "web/internal.h"

#define XFF_MAX 4096 /* longer headers are not believed at all */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct cidr_list trusted;

static void load(void)
{
    struct lumi_err err;
    if (cidr_list_parse(config_str("LUMI_TRUSTED_PROXIES"), &trusted, &err) != 0)
        trusted.n = 0; /* unreachable: config_load refused such a value */
}

/* The client named by a trusted peer's X-Forwarded-For, into out; false when none. */
static bool from_forwarded(const char *xff, char *out, size_t outsz)
{
    size_t len = strlen(xff);
    if (len == 0 || len > XFF_MAX)
        return false;
    const char *end = xff + len;
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        char ip[64];
        if (!cidr_ip_normalize(start, (size_t)(end - start), ip, sizeof ip))
            return false; /* garbage: believe nothing further left */
        if (!cidr_list_contains(&trusted, ip)) {
            str_copy(out, ip, outsz);
            return true;
        }
        end = start > xff ? start - 1 : xff;
    }
    return false;
}

void proxy_resolve(const char *peer, const char *xff, const char *xfp, char *out, size_t outsz,
                   bool *https)
{
    pthread_once(&once, load);
    *https = str_starts_with(config_str("LUMI_BASE_URL"), "https://");
    str_copy(out, peer, outsz);
    if (trusted.n == 0 || !cidr_list_contains(&trusted, peer))
        return;
    if (xff != NULL)
        from_forwarded(xff, out, outsz);
    /* "https" or, after several proxies, "https, http": the first is the client's.
     * It can only add Secure: an https LUMI_BASE_URL keeps it whatever the proxy says. */
    if (xfp != NULL && strncasecmp(xfp, "https", 5) == 0 && (xfp[5] == '\0' || xfp[5] == ','))
        *https = true;
}

const char *web_client_ip(const struct web_req *req)
{
    return req->client_ip != NULL ? req->client_ip : "-";
}

bool web_is_https(const struct web_req *req)
{
    const struct web_exchange *x = req->priv != NULL ? exchange_of_req(req) : NULL;
    return x != NULL ? x->https : str_starts_with(config_str("LUMI_BASE_URL"), "https://");
}

bool web_resp_is_https(const struct web_resp *resp)
{
    const struct web_exchange *x = resp->priv != NULL ? exchange_of_resp(resp) : NULL;
    return x != NULL ? x->https : str_starts_with(config_str("LUMI_BASE_URL"), "https://");
}
