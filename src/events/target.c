/*
 * target.c — the SSRF guard of outgoing events (see target.h).
 *
 * The URL is parsed with curl's own parser (the one that will send it), the
 * host resolved with getaddrinfo, and every address it resolves to must be
 * public: one private answer among public ones refuses the URL, since the
 * pinned address is chosen from the same answer and a mixed answer is what
 * a rebinding attacker would serve. Stateless and thread-safe.
 */
#include "events/target.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/str.h"

static const char ALLOW_HINT[] = "set LUMI_WEBHOOK_ALLOW_PRIVATE=1 to allow it";

bool webhook_addr_forbidden_v4(const unsigned char a[4])
{
    if (a[0] == 0 || a[0] == 10 || a[0] == 127) /* this network, private, loopback */
        return true;
    if (a[0] == 100 && (a[1] & 0xc0) == 64) /* CGNAT 100.64/10 */
        return true;
    if (a[0] == 169 && a[1] == 254) /* link-local */
        return true;
    if (a[0] == 172 && (a[1] & 0xf0) == 16) /* private 172.16/12 */
        return true;
    if (a[0] == 192 && a[1] == 168) /* private */
        return true;
    if (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) /* IETF, TEST-NET-1 */
        return true;
    if (a[0] == 198 && (a[1] & 0xfe) == 18) /* benchmarking 198.18/15 */
        return true;
    if (a[0] == 198 && a[1] == 51 && a[2] == 100) /* TEST-NET-2 */
        return true;
    if (a[0] == 203 && a[1] == 0 && a[2] == 113) /* TEST-NET-3 */
        return true;
    return a[0] >= 224; /* multicast, reserved, broadcast */
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

bool webhook_addr_forbidden_v6(const unsigned char a[16])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return webhook_addr_forbidden_v4(a + 12); /* IPv4 inside IPv6 */
    if (all_zero(a, 12))
        return true;           /* ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d */
    if ((a[0] & 0xfe) == 0xfc) /* unique local fc00::/7 */
        return true;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* link-local fe80::/10 */
        return true;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* site-local fec0::/10 (deprecated) */
        return true;
    if (a[0] == 0xff) /* multicast */
        return true;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* documentation */
        return true;
    return a[0] == 0x01 && all_zero(a + 1, 7); /* discard-only 100::/64 */
}

/* scheme, host and port of url into out; LUMI_EINVAL naming field 'url'. */
static int parse_url(const char *url, struct webhook_target *out, struct lumi_err *err)
{
    int rc = err_set(err, LUMI_EINVAL, "field 'url' must be an absolute http:// or https:// URL");
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL;
    CURLU *u = curl_url();
    if (u == NULL || url == NULL || strlen(url) > TARGET_URL_MAX)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
        goto out;
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user != NULL) {
        rc = err_set(err, LUMI_EINVAL, "field 'url' must not carry a user name or password");
        goto out;
    }
    const char *h = host;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { /* an IPv6 literal */
        h++;
        hl -= 2;
    }
    int64_t p = 0;
    if (hl == 0 || hl >= sizeof out->host || str_to_i64z(port, 1, 65535, &p) != 0)
        goto out;
    memcpy(out->host, h, hl);
    out->host[hl] = '\0';
    out->port = (int)p;
    err_clear(err);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(user);
    curl_url_cleanup(u);
    return rc;
}

/* true when host is an IP address literal (curl will not resolve it). */
static bool is_literal(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* Checks one resolved address; its text into text. */
static bool address_ok(const struct addrinfo *ai, bool allow_private, char *text, size_t textsz)
{
    if (ai->ai_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ai->ai_addr;
        inet_ntop(AF_INET, &s->sin_addr, text, (socklen_t)textsz);
        return allow_private || !webhook_addr_forbidden_v4((const unsigned char *)&s->sin_addr);
    }
    if (ai->ai_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ai->ai_addr;
        inet_ntop(AF_INET6, &s->sin6_addr, text, (socklen_t)textsz);
        return allow_private || !webhook_addr_forbidden_v6((const unsigned char *)&s->sin6_addr);
    }
    str_copy(text, "?", textsz);
    return false;
}

int webhook_target_check(const char *url, bool allow_private, struct webhook_target *out,
                         struct lumi_err *err)
{
    struct addrinfo hints, *res = NULL;
    char text[64];
    memset(out, 0, sizeof *out);
    int rc = parse_url(url, out, err);
    if (rc != 0)
        return rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(out->host, NULL, &hints, &res);
    if (g != 0 || res == NULL)
        return err_set(err, LUMI_EINVAL, "field 'url': host %.200s not found (DNS: %s)", out->host,
                       gai_strerror(g));
    for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (!address_ok(ai, allow_private, text, sizeof text)) {
            rc = err_set(err, LUMI_EINVAL,
                         "field 'url': %.200s resolves to %s, a loopback, private or reserved "
                         "address; Lumi does not send events there (%s)",
                         out->host, text, ALLOW_HINT);
            break;
        }
        if (out->address[0] == '\0')
            str_copy(out->address, text, sizeof out->address);
    }
    freeaddrinfo(res);
    if (rc != 0)
        return rc;
    if (!is_literal(out->host)) {
        bool v6 = strchr(out->address, ':') != NULL;
        snprintf(out->resolve, sizeof out->resolve, v6 ? "%s:%d:[%s]" : "%s:%d:%s", out->host,
                 out->port, out->address);
    }
    return 0;
}
