/*
 * stripe_sig.c — owns parsing of the Stripe-Signature header and the
 * HMAC-SHA256 check of a webhook delivery (and signing, for tests and fakes).
 *
 * Threading: no shared state; every function is reentrant. The MAC goes
 * through crypto_hmac_sha256 (EVP, algorithm fetched once by crypto_init).
 *
 * Caveats: the header is outside input, so parsing is bounded (length cap,
 * cap on v1 entries, numbers through str_to_i64) and never copies it. Error
 * messages may quote the header's timestamp but never a secret, a received
 * signature or the expected one.
 */
#include "gateways/stripe_sig.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/str.h"

/* Year 5138: larger is certainly not a Unix time Stripe sent. */
#define T_MAX INT64_C(99999999999)
#define T_DIGITS_MAX 20

struct parsed_header {
    int64_t t;
    bool have_t;
    size_t nv1;    /* v1 entries seen (well-formed or not) */
    size_t nv1_ok; /* of which 64 hex digits, decoded below */
    uint8_t v1[STRIPE_SIG_MAX_V1][CRYPTO_SHA256_LEN];
    bool have_v0;
};

static int parse_header(const char *h, size_t hlen, struct parsed_header *p, struct lumi_err *err)
{
    memset(p, 0, sizeof *p);
    size_t i = 0;
    while (i <= hlen) {
        const char *item = h + i;
        const char *comma = memchr(item, ',', hlen - i);
        size_t ilen = comma ? (size_t)(comma - item) : hlen - i;
        const char *eq = memchr(item, '=', ilen);
        /* Like Stripe's SDKs, items that are not key=value are ignored. */
        if (eq != NULL) {
            size_t klen = (size_t)(eq - item);
            const char *val = eq + 1;
            size_t vlen = ilen - klen - 1;
            if (klen == 1 && item[0] == 't') {
                if (p->have_t)
                    return err_set(err, LUMI_EINVAL,
                                   "Stripe-Signature has more than one timestamp (t)");
                if (vlen > T_DIGITS_MAX || str_to_i64(val, vlen, 0, T_MAX, &p->t) != 0)
                    return err_set(err, LUMI_EINVAL,
                                   "timestamp (t) in Stripe-Signature is not a Unix time");
                p->have_t = true;
            } else if (klen == 2 && item[0] == 'v' && item[1] == '1') {
                if (p->nv1 == STRIPE_SIG_MAX_V1)
                    return err_set(err, LUMI_EINVAL,
                                   "Stripe-Signature has more than %d v1 signatures",
                                   STRIPE_SIG_MAX_V1);
                p->nv1++;
                /* A v1 that is not 64 hex digits can never match: skip it. */
                if (vlen == 2 * CRYPTO_SHA256_LEN &&
                    hex_decode(val, vlen, p->v1[p->nv1_ok], CRYPTO_SHA256_LEN) == CRYPTO_SHA256_LEN)
                    p->nv1_ok++;
            } else if (klen == 2 && item[0] == 'v' && item[1] == '0') {
                p->have_v0 = true;
            }
        }
        if (comma == NULL)
            break;
        i += ilen + 1;
    }
    if (!p->have_t)
        return err_set(err, LUMI_EINVAL, "no timestamp (t) in Stripe-Signature");
    if (p->nv1 == 0)
        return err_set(err, LUMI_EINVAL, "no v1 signature in Stripe-Signature%s",
                       p->have_v0 ? " (only v0, which is not accepted)" : "");
    return 0;
}

/* HMAC-SHA256(secret, "<t>.<payload>"). */
static int compute_mac(const char *secret, const char *payload, size_t len, int64_t t,
                       uint8_t mac[CRYPTO_SHA256_LEN])
{
    int rc = LUMI_EINTERNAL;
    char prefix[T_DIGITS_MAX + 3];
    int n = snprintf(prefix, sizeof prefix, "%" PRId64 ".", t);
    char *text = NULL;
    if (n < 0 || (size_t)n >= sizeof prefix)
        goto out;
    if (len > SIZE_MAX - (size_t)n) {
        rc = LUMI_ETOOLARGE;
        goto out;
    }
    text = malloc((size_t)n + len + 1);
    if (text == NULL) {
        rc = LUMI_ENOMEM;
        goto out;
    }
    memcpy(text, prefix, (size_t)n);
    if (len > 0)
        memcpy(text + n, payload, len);
    rc = crypto_hmac_sha256(secret, strlen(secret), text, (size_t)n + len, mac);
out:
    free(text);
    return rc;
}

int stripe_verify_signature(const char *header, const char *payload, size_t len,
                            const char *const *secrets, size_t nsecrets, int64_t now,
                            int64_t tolerance_s, struct lumi_err *err)
{
    int rc = 0;
    struct parsed_header p;
    uint8_t mac[CRYPTO_SHA256_LEN];
    bool matched = false;
    bool any_secret = false;

    if (payload == NULL && len > 0)
        return err_set(err, LUMI_EINVAL, "webhook body is missing");
    if (tolerance_s <= 0)
        return err_set(err, LUMI_EINVAL, "Stripe signature tolerance must be positive");
    if (header == NULL || header[0] == '\0')
        return err_set(err, LUMI_EINVAL, "missing Stripe-Signature header");
    size_t hlen = strnlen(header, STRIPE_SIG_HEADER_MAX + 1);
    if (hlen > STRIPE_SIG_HEADER_MAX)
        return err_set(err, LUMI_EINVAL, "Stripe-Signature header is longer than %d bytes",
                       STRIPE_SIG_HEADER_MAX);
    rc = parse_header(header, hlen, &p, err);
    if (rc != 0)
        goto out;

    /* Every (secret, v1) pair is compared, match or not, so timing does not
     * reveal which secret or which signature position matched. */
    for (size_t s = 0; s < nsecrets && secrets != NULL; s++) {
        if (secrets[s] == NULL || secrets[s][0] == '\0')
            continue;
        any_secret = true;
        rc = compute_mac(secrets[s], payload, len, p.t, mac);
        if (rc != 0) {
            err_set(err, rc, "cannot compute the Stripe webhook signature");
            goto out;
        }
        for (size_t v = 0; v < p.nv1_ok; v++)
            matched |= crypto_ct_equal(mac, p.v1[v], CRYPTO_SHA256_LEN);
    }
    if (!any_secret) {
        rc = err_set(err, LUMI_EINVAL, "no Stripe webhook secret is configured");
        goto out;
    }
    if (!matched) {
        rc = err_set(err, LUMI_EINVAL,
                     "Stripe-Signature does not match the webhook secret%s "
                     "(wrong secret, or the body was changed)",
                     nsecrets > 1 ? "s" : "");
        goto out;
    }
    int64_t age;
    if (__builtin_sub_overflow(now, p.t, &age) || age > tolerance_s || age < -tolerance_s) {
        rc = err_set(err, LUMI_EINVAL,
                     "timestamp %" PRId64 " is outside the %" PRId64 " s tolerance (now %" PRId64
                     ")",
                     p.t, tolerance_s, now);
        goto out;
    }
    rc = 0;
out:
    memset(mac, 0, sizeof mac);
    return rc;
}

int stripe_sign(const char *secret, const char *payload, size_t len, int64_t t, char *out,
                size_t outsz)
{
    int rc = LUMI_EINVAL;
    uint8_t mac[CRYPTO_SHA256_LEN];
    char hex[CRYPTO_SHA256_HEX];

    if (out == NULL || outsz == 0)
        return LUMI_EINVAL;
    out[0] = '\0';
    if (secret == NULL || secret[0] == '\0' || (payload == NULL && len > 0) || t < 0 || t > T_MAX)
        goto out;
    rc = compute_mac(secret, payload, len, t, mac);
    if (rc != 0)
        goto out;
    rc = hex_encode(mac, sizeof mac, hex, sizeof hex);
    if (rc != 0)
        goto out;
    int n = snprintf(out, outsz, "t=%" PRId64 ",v1=%s", t, hex);
    if (n < 0 || (size_t)n >= outsz) {
        out[0] = '\0';
        rc = LUMI_EINVAL;
        goto out;
    }
    rc = 0;
out:
    memset(mac, 0, sizeof mac);
    return rc;
}
