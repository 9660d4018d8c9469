/*
 * target.h — where an outgoing event may be sent (the SSRF guard).
 *
 * An endpoint URL must be http(s), without user:password, and its host must
 * resolve only to public addresses: loopback, private (RFC 1918, fc00::/7),
 * link-local, CGNAT (100.64/10), multicast, unspecified, broadcast and the
 * other reserved ranges are refused, for IPv4, IPv6 and IPv4 inside IPv6
 * (::ffff:a.b.c.d, 64:ff9b::/96), unless LUMI_WEBHOOK_ALLOW_PRIVATE=1.
 * The check runs when an endpoint is saved and again before every delivery;
 * the address it approved is pinned for the request (curl's RESOLVE list),
 * so a DNS answer that changes between the check and the connection (DNS
 * rebinding) cannot send the request elsewhere. Thread-safe.
 */
#ifndef LUMI_EVENTS_TARGET_H
#define LUMI_EVENTS_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define TARGET_URL_MAX 2000

/** The approved destination of a URL. */
struct webhook_target {
    char host[256]; /* as in the URL, without brackets */
    int port;
    char address[64];  /* the address approved, as text */
    char resolve[400]; /* "host:port:address" for curl's RESOLVE list; "" for an IP literal */
};

/** True when the address (a struct in_addr / in6_addr in network order) may not be reached. */
bool webhook_addr_forbidden_v4(const unsigned char a[4]);
bool webhook_addr_forbidden_v6(const unsigned char a[16]);

/**
 * Checks url as described above, resolving its host now. 0 with *out
 * filled; LUMI_EINVAL with a message that names field 'url' and says why
 * (not http(s), host not found, "resolves to 10.0.0.5, a private address").
 * allow_private skips the address ranges (the URL's form is still checked).
 */
int webhook_target_check(const char *url, bool allow_private, struct webhook_target *out,
                         struct lumi_err *err);

#endif
