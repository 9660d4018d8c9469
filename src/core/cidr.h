/*
 * cidr.h — lists of address ranges ("10.0.0.0/8, ::1, 2001:db8::/32") and
 * membership tests, for LUMI_TRUSTED_PROXIES.
 *
 * A list is a plain value (no allocation): parse once at start, then read it
 * from any number of threads. IPv4 and IPv6 are kept apart, except that an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is tested as the IPv4 address.
 */
#ifndef LUMI_CORE_CIDR_H
#define LUMI_CORE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define CIDR_LIST_MAX 64

struct cidr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network address, host bits cleared */
    int prefix;       /* 0..32 or 0..128 */
};

struct cidr_list {
    struct cidr v[CIDR_LIST_MAX];
    size_t n;
};

/**
 * Parses a comma-separated list of ADDRESS or ADDRESS/PREFIX entries (spaces
 * around entries allowed; an empty text is an empty list). On a bad entry
 * returns LUMI_EINVAL with err naming the entry and why; *out is then empty.
 */
int cidr_list_parse(const char *text, struct cidr_list *out, struct lumi_err *err);

/** True when the textual address ip (IPv4 or IPv6) is inside one of the list's ranges. */
bool cidr_list_contains(const struct cidr_list *l, const char *ip);

/**
 * Normalises a textual address (as found in X-Forwarded-For: spaces
 * trimmed, "[v6]" brackets and an IPv4 ":port" suffix dropped) into out.
 * False when it is not an IP address.
 */
bool cidr_ip_normalize(const char *text, size_t len, char *out, size_t outsz);

#endif
