/*
 * proxy.h — who the client is behind a reverse proxy (private to src/web/).
 *
 * LUMI_TRUSTED_PROXIES lists the peers whose X-Forwarded-For and
 * X-Forwarded-Proto headers are believed. From any other peer both headers
 * are ignored: the client is the TCP peer, the scheme is LUMI_BASE_URL's.
 */
#ifndef LUMI_WEB_PROXY_H
#define LUMI_WEB_PROXY_H

#include <stdbool.h>
#include <stddef.h>

/**
 * The effective client address and scheme of a request from peer with the
 * given X-Forwarded-For and X-Forwarded-Proto values (either may be NULL).
 * From a trusted peer the client is the right-most X-Forwarded-For address
 * that is not itself a trusted proxy (the peer when every entry is, or when
 * one is not an address); otherwise it is the peer. out gets the address
 * (outsz >= 64), *https whether the client spoke https: LUMI_BASE_URL is
 * https, or a trusted peer's X-Forwarded-Proto says so.
 */
void proxy_resolve(const char *peer, const char *xff, const char *xfp, char *out, size_t outsz,
                   bool *https);

#endif
