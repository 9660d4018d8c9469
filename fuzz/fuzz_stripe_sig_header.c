/*
 * fuzz_stripe_sig_header.c — stripe_verify_signature on an arbitrary
 * Stripe-Signature header (the input, cut at its first NUL), against a fixed
 * body and two secrets (rotation).
 *
 * Invariants checked (abort on violation): the result is 0 or LUMI_EINVAL;
 * a refusal has a message that contains neither secret nor the expected
 * signature; an acceptance only happens when the header carries the correct
 * v1 signature (hex, either case) for one of the secrets. Single-threaded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/err.h"
#include "gateways/stripe_sig.h"

#define SECRET_A "whsec_fuzz_secret_a"
#define SECRET_B "whsec_fuzz_secret_b"
#define BODY "{\"id\":\"evt_fuzz\",\"object\":\"event\"}"
#define NOW INT64_C(1700000000)

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const secrets[] = {SECRET_A, SECRET_B};
    char *header = malloc(size + 1);
    if (header == NULL)
        return 0;
    memcpy(header, data, size);
    header[size] = '\0';

    struct lumi_err err;
    err_clear(&err);
    int rc = stripe_verify_signature(header, BODY, strlen(BODY), secrets, 2, NOW,
                                     STRIPE_SIG_TOLERANCE_S, &err);
    if (rc != 0 && rc != LUMI_EINVAL)
        abort();
    if (rc != 0 && (err.code != rc || err.msg[0] == '\0' || strstr(err.msg, SECRET_A) ||
                    strstr(err.msg, SECRET_B)))
        abort();
    if (rc == 0) {
        /* Accepted: the header must hold the right MAC for its own t, which lies
         * within the tolerance, so one of the signatures at NOW±300 appears. */
        int found = 0;
        for (int64_t t = NOW - STRIPE_SIG_TOLERANCE_S; t <= NOW + STRIPE_SIG_TOLERANCE_S && !found;
             t++) {
            char want[STRIPE_SIG_HEADER_LEN];
            for (int s = 0; s < 2 && !found; s++) {
                if (stripe_sign(secrets[s], BODY, strlen(BODY), t, want, sizeof want) != 0)
                    abort();
                found = contains_nocase(header, strchr(want, 'v'));
            }
        }
        if (!found)
            abort();
    }
    free(header);
    return 0;
}
