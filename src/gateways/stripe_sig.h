/*
 * stripe_sig.h — Stripe webhook signatures (the Stripe-Signature header).
 *
 * Header `t=<unix>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`; the signed text is
 * `<t>.<raw body>`, HMAC-SHA256 keyed with the whole `whsec_…` secret (prefix
 * included), lower-case hex. Pure functions, no I/O; thread-safe once
 * crypto_init() has run (they call it themselves too).
 */
#ifndef LUMI_GATEWAYS_STRIPE_SIG_H
#define LUMI_GATEWAYS_STRIPE_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/** Longest Stripe-Signature header accepted (bytes). */
#define STRIPE_SIG_HEADER_MAX 4096
/** Most v1 signatures examined in one header; more is a refused header. */
#define STRIPE_SIG_MAX_V1 16
/** Default tolerance between the header's t and now, in seconds. */
#define STRIPE_SIG_TOLERANCE_S 300
/** Room for a header made by stripe_sign ("t=" + 20 digits + ",v1=" + 64 hex + NUL). */
#define STRIPE_SIG_HEADER_LEN 96

/**
 * Verifies a delivery: header is the Stripe-Signature value (borrowed, may be
 * NULL = absent), payload[0..len) the raw body exactly as received, secrets
 * the nsecrets configured endpoint secrets (several during rotation; NULL or
 * empty entries are skipped). Accepts when ANY v1 matches ANY secret
 * (constant-time compare) and |now − t| ≤ tolerance_s (a timestamp too far in
 * the future is refused like a stale one). v0 and unknown keys are ignored;
 * a header without t, with t twice, with a non-numeric t, or without any v1
 * is refused. tolerance_s must be > 0.
 *
 * Returns 0, or LUMI_EINVAL (→ 400) with a message that never contains a
 * secret or an expected signature; LUMI_EINTERNAL if the MAC cannot be
 * computed, LUMI_ENOMEM.
 */
int stripe_verify_signature(const char *header, const char *payload, size_t len,
                            const char *const *secrets, size_t nsecrets, int64_t now,
                            int64_t tolerance_s, struct lumi_err *err);

/**
 * Writes a Stripe-Signature header `t=<t>,v1=<hex>` for payload under secret
 * into out (outsz ≥ STRIPE_SIG_HEADER_LEN is always enough). For tests and
 * the fake Stripe. Returns 0, LUMI_EINVAL (bad arguments, t < 0, out too
 * small) or LUMI_EINTERNAL / LUMI_ENOMEM.
 */
int stripe_sign(const char *secret, const char *payload, size_t len, int64_t t, char *out,
                size_t outsz);

#endif
