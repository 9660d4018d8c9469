/*
 * paypal_sig.h — PayPal webhook signatures, verified locally (mode `local`).
 *
 * The signed text is `<transmission id>|<transmission time>|<webhook id>|<CRC-32
 * of the raw body, unsigned decimal>`, signed RSA PKCS#1 v1.5 + SHA-256
 * (PAYPAL-AUTH-ALGO `SHA256withRSA`) with the key of the certificate at
 * PAYPAL-CERT-URL. That URL must be https on an allowed host; anything else is
 * refused before any fetch. Certificates are fetched through a loader (by
 * default hc_perform) and cached by URL, parsed once.
 *
 * Thread-safe: a cache may be shared by all workers (it has its own lock and
 * never holds it across a fetch).
 */
#ifndef LUMI_GATEWAYS_PAYPAL_SIG_H
#define LUMI_GATEWAYS_PAYPAL_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/** Caps on outside input. */
#define PAYPAL_SIG_FIELD_MAX 256  /* transmission id, time, auth algo */
#define PAYPAL_SIG_URL_MAX 2048   /* cert URL */
#define PAYPAL_SIG_B64_MAX 1368   /* base64 signature (RSA up to 8192 bits) */
#define PAYPAL_CERT_PEM_MAX 65536 /* a fetched certificate */
#define PAYPAL_CERT_CACHE_MAX 16  /* distinct cert URLs kept */

/** The PAYPAL-* headers of one delivery (all borrowed; NULL = header absent). */
struct paypal_sig_headers {
    const char *transmission_id;   /* PAYPAL-TRANSMISSION-ID */
    const char *transmission_time; /* PAYPAL-TRANSMISSION-TIME */
    const char *cert_url;          /* PAYPAL-CERT-URL */
    const char *auth_algo;         /* PAYPAL-AUTH-ALGO */
    const char *transmission_sig;  /* PAYPAL-TRANSMISSION-SIG (base64) */
};

/**
 * Fetches the PEM certificate at url (already checked against the allow-list)
 * and appends it to pem (whose max is PAYPAL_CERT_PEM_MAX). Returns 0 or a
 * negative LUMI_E* code with err filled (LUMI_EUPSTREAM for a fetch failure).
 */
typedef int (*paypal_cert_loader_fn)(void *arg, const char *url, struct buf *pem,
                                     struct lumi_err *err);

/** Seconds since the epoch, for the certificate validity check. */
typedef int64_t (*paypal_clock_fn)(void *arg);

struct paypal_cert_cache;

/**
 * A new, empty cache (caller frees with paypal_cert_cache_free). loader NULL
 * = the default https fetch through hc_perform (curl_global_init must have
 * run); clock NULL = time(NULL). NULL when out of memory or OpenSSL fails.
 */
struct paypal_cert_cache *paypal_cert_cache_new(paypal_cert_loader_fn loader, void *loader_arg,
                                                paypal_clock_fn clock, void *clock_arg);

/**
 * Makes the default loader also trust the PEM bundle at ca_file (copied; NULL
 * = the system's CAs only). Call before the cache is shared. 0 or LUMI_ENOMEM.
 */
int paypal_cert_cache_set_ca_file(struct paypal_cert_cache *cache, const char *ca_file);

/** Frees the cache and every certificate in it. NULL is a no-op. */
void paypal_cert_cache_free(struct paypal_cert_cache *cache);

/** Certificates currently cached (for tests and diagnostics). */
size_t paypal_cert_cache_count(struct paypal_cert_cache *cache);

/**
 * True when url is https://<host>[:<port>][/…] and host equals, or is a
 * subdomain of, an entry of cert_hosts (NULL-terminated; NULL =
 * {"paypal.com"}). An explicit port must be decimal 1..65535 (tests serve the
 * certificate from https://localhost:PORT). No userinfo, IP literal, or odd
 * characters. Case-insensitive host match.
 */
int paypal_cert_url_allowed(const char *url, const char *const *cert_hosts);

/**
 * Verifies one delivery: h the PAYPAL-* headers, body[0..len) the raw body
 * exactly as received, webhook_id the configured PAYPAL_WEBHOOK_ID,
 * cert_hosts the allow-list (NULL-terminated; NULL = paypal.com and its
 * subdomains), cache for the certificate. The certificate must be valid
 * (notBefore ≤ now ≤ notAfter by the cache's clock).
 *
 * Returns 0 when the signature verifies; LUMI_EINVAL (→ 400) for a delivery
 * that must be refused (missing or malformed header, algorithm other than
 * SHA256withRSA, cert URL not allowed, bad certificate, expired certificate,
 * signature mismatch); LUMI_EUPSTREAM (→ retry later) when the certificate
 * could not be fetched; LUMI_ENOMEM / LUMI_EINTERNAL.
 */
int paypal_verify_local(const struct paypal_sig_headers *h, const char *body, size_t len,
                        const char *webhook_id, const char *const *cert_hosts,
                        struct paypal_cert_cache *cache, struct lumi_err *err);

#endif
