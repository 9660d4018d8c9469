/*
 * fuzz_paypal_headers.c — paypal_verify_local on arbitrary PAYPAL-* headers.
 *
 * Input: transmission id, transmission time, cert URL, auth algo and
 * signature as the first five '\n'-separated lines, the rest is the body.
 * The certificate loader never serves a certificate (it records the URL and
 * fails), so what is exercised is everything before the fetch.
 *
 * Invariants checked (abort on violation): never accepted; the result is
 * LUMI_EINVAL or, only after a loader call, LUMI_EUPSTREAM; the loader is
 * called only for an https URL whose host is paypal.com or a subdomain, and
 * only when the algorithm is SHA256withRSA. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/err.h"
#include "gateways/paypal_sig.h"

struct probe {
    int calls;
};

static int failing_loader(void *arg, const char *url, struct buf *pem, struct lumi_err *err)
{
    struct probe *p = arg;
    (void)pem;
    p->calls++;
    if (strncmp(url, "https://", 8) != 0)
        abort();
    const char *host = url + 8;
    size_t hlen = strcspn(host, ":/?#");
    /* An explicit port may follow the host: digits only, up to the path. */
    if (host[hlen] == ':') {
        size_t plen = strcspn(host + hlen + 1, "/?#");
        if (plen == 0 || strspn(host + hlen + 1, "0123456789") != plen)
            abort();
    }
    static const char suffix[] = "paypal.com";
    size_t slen = sizeof suffix - 1;
    if (hlen < slen || strncasecmp(host + hlen - slen, suffix, slen) != 0)
        abort();
    if (hlen > slen && host[hlen - slen - 1] != '.')
        abort();
    if (memchr(host, '@', hlen) != NULL || memchr(host, ':', hlen) != NULL)
        abort();
    return err_set(err, LUMI_EUPSTREAM, "fuzz: no certificate");
}

static int64_t fixed_clock(void *arg)
{
    (void)arg;
    return INT64_C(1722627600);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct paypal_cert_cache *cache;
    static struct probe probe;
    if (cache == NULL) {
        cache = paypal_cert_cache_new(failing_loader, &probe, fixed_clock, NULL);
        if (cache == NULL)
            abort();
    }
    char *copy = malloc(size + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';

    const char *fields[5] = {NULL, NULL, NULL, NULL, NULL};
    char *p = copy;
    size_t nf = 0;
    while (nf < 5 && p != NULL) {
        fields[nf++] = p;
        char *nl = memchr(p, '\n', size - (size_t)(p - copy));
        if (nl != NULL) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p = NULL;
        }
    }
    const char *body = p ? p : "";
    size_t body_len = p ? size - (size_t)(p - copy) : 0;
    struct paypal_sig_headers h = {
        .transmission_id = fields[0],
        .transmission_time = fields[1],
        .cert_url = fields[2],
        .auth_algo = fields[3],
        .transmission_sig = fields[4],
    };
    struct lumi_err err;
    err_clear(&err);
    int before = probe.calls;
    int rc = paypal_verify_local(&h, body, body_len, "WEBHOOK_ID", NULL, cache, &err);
    int fetched = probe.calls != before;
    if (rc == 0 || err.code != rc || err.msg[0] == '\0')
        abort();
    if (rc == LUMI_EUPSTREAM && !fetched)
        abort();
    if (rc != LUMI_EINVAL && rc != LUMI_EUPSTREAM)
        abort();
    if (fetched && (h.auth_algo == NULL || strcmp(h.auth_algo, "SHA256withRSA") != 0 ||
                    !paypal_cert_url_allowed(h.cert_url, NULL)))
        abort();
    free(copy);
    return 0;
}
