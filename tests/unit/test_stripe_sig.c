/*
 * test_stripe_sig.c — Stripe-Signature verification: the published vector,
 * every way a delivery must be refused (missing header, no t, no v1, only
 * v0, wrong secret, one changed body byte, stale and future timestamps,
 * malformed and oversized headers), secret rotation, and signing.
 *
 * With `--interop SCRIPT` it instead verifies a header made by the official
 * stripe npm package (tests/stripe_interop.sh); exit 77 means skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/crypto.h"
#include "gateways/stripe_sig.h"

#define VEC_SECRET "whsec_test_secret"
#define VEC_T INT64_C(1700000000)
#define VEC_BODY "{\"id\":\"evt_test_webhook\",\"object\":\"event\"}"
#define VEC_HEADER                                                                                 \
    "t=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"
#define VEC_SIG "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"
#define BAD_SIG "9a61facb00000000000000000000000000000000000000000000000000000000"

static const char *const one_secret[] = {VEC_SECRET};

static int verify(const char *header, const char *body, int64_t now, struct lumi_err *e)
{
    err_clear(e);
    return stripe_verify_signature(header, body, strlen(body), one_secret, 1, now,
                                   STRIPE_SIG_TOLERANCE_S, e);
}

static void assert_refused(const char *header, const char *body, int64_t now, const char *msg_part)
{
    struct lumi_err e;
    int rc = verify(header, body, now, &e);
    if (rc != LUMI_EINVAL || strstr(e.msg, msg_part) == NULL)
        fail_msg("header '%.80s': rc %d, message '%s', wanted '%s'", header ? header : "(null)", rc,
                 e.msg, msg_part);
    assert_null(strstr(e.msg, VEC_SECRET));
    assert_null(strstr(e.msg, VEC_SIG));
}

static int setup(void **state)
{
    (void)state;
    return crypto_init();
}

static void published_vector_verifies(void **state)
{
    (void)state;
    struct lumi_err e;
    assert_int_equal(verify(VEC_HEADER, VEC_BODY, VEC_T, &e), 0);
    assert_int_equal(verify(VEC_HEADER, VEC_BODY, VEC_T + 300, &e), 0);
    assert_int_equal(verify(VEC_HEADER, VEC_BODY, VEC_T - 300, &e), 0);
}

static void sign_reproduces_published_vector(void **state)
{
    (void)state;
    char h[STRIPE_SIG_HEADER_LEN];
    assert_int_equal(stripe_sign(VEC_SECRET, VEC_BODY, strlen(VEC_BODY), VEC_T, h, sizeof h), 0);
    assert_string_equal(h, VEC_HEADER);
    /* The key is the whole secret: stripping "whsec_" gives another MAC. */
    assert_int_equal(stripe_sign("test_secret", VEC_BODY, strlen(VEC_BODY), VEC_T, h, sizeof h), 0);
    assert_true(strncmp(h, "t=1700000000,v1=9a61facb", 24) == 0);
    char small[40];
    assert_int_equal(
        stripe_sign(VEC_SECRET, VEC_BODY, strlen(VEC_BODY), VEC_T, small, sizeof small),
        LUMI_EINVAL);
    assert_string_equal(small, "");
    assert_int_equal(stripe_sign(VEC_SECRET, VEC_BODY, strlen(VEC_BODY), -1, h, sizeof h),
                     LUMI_EINVAL);
    assert_int_equal(stripe_sign("", VEC_BODY, strlen(VEC_BODY), VEC_T, h, sizeof h), LUMI_EINVAL);
    /* An empty body is signable and verifiable. */
    assert_int_equal(stripe_sign(VEC_SECRET, NULL, 0, VEC_T, h, sizeof h), 0);
    assert_int_equal(stripe_verify_signature(h, NULL, 0, one_secret, 1, VEC_T, 300, NULL), 0);
}

static void missing_header_is_refused(void **state)
{
    (void)state;
    assert_refused(NULL, VEC_BODY, VEC_T, "missing Stripe-Signature header");
    assert_refused("", VEC_BODY, VEC_T, "missing Stripe-Signature header");
}

static void header_without_v1_is_refused(void **state)
{
    (void)state;
    assert_refused("t=1700000000", VEC_BODY, VEC_T, "no v1 signature in Stripe-Signature");
    assert_refused("t=1700000000,v1", VEC_BODY, VEC_T, "no v1 signature in Stripe-Signature");
    assert_refused("t=1700000000,v2=" VEC_SIG, VEC_BODY, VEC_T,
                   "no v1 signature in Stripe-Signature");
}

static void only_v0_is_refused_even_when_it_would_match(void **state)
{
    (void)state;
    assert_refused("t=1700000000,v0=" VEC_SIG, VEC_BODY, VEC_T, "only v0");
}

static void header_without_timestamp_is_refused(void **state)
{
    (void)state;
    assert_refused("v1=" VEC_SIG, VEC_BODY, VEC_T, "no timestamp (t)");
    assert_refused("T=1700000000,v1=" VEC_SIG, VEC_BODY, VEC_T, "no timestamp (t)");
}

static void keys_in_any_order_and_unknown_keys_are_accepted(void **state)
{
    (void)state;
    struct lumi_err e;
    assert_int_equal(verify("v1=" VEC_SIG ",t=1700000000", VEC_BODY, VEC_T, &e), 0);
    assert_int_equal(
        verify("v0=abc,foo=bar,junk,t=1700000000,v1=" VEC_SIG ",", VEC_BODY, VEC_T, &e), 0);
    /* Upper-case hex in v1 still decodes to the same bytes. */
    assert_int_equal(verify("t=1700000000,v1=D95C6B7477FBD7E9F90B1B0EF5F9C7AC25ABCA5382460E0D9"
                            "88C2B2A5B71B990",
                            VEC_BODY, VEC_T, &e),
                     0);
}

static void bad_v1_beside_good_v1_is_accepted(void **state)
{
    (void)state;
    struct lumi_err e;
    assert_int_equal(verify("t=1700000000,v1=" BAD_SIG ",v1=" VEC_SIG, VEC_BODY, VEC_T, &e), 0);
    assert_int_equal(verify("t=1700000000,v1=" VEC_SIG ",v1=" BAD_SIG, VEC_BODY, VEC_T, &e), 0);
    assert_int_equal(verify("t=1700000000,v1=zz,v1=" VEC_SIG, VEC_BODY, VEC_T, &e), 0);
    assert_refused("t=1700000000,v1=" BAD_SIG ",v1=" BAD_SIG, VEC_BODY, VEC_T, "does not match");
}

static void wrong_secret_is_refused(void **state)
{
    (void)state;
    const char *const wrong[] = {"whsec_other", "test_secret"};
    struct lumi_err e;
    err_clear(&e);
    assert_int_equal(
        stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), wrong, 2, VEC_T, 300, &e),
        LUMI_EINVAL);
    assert_non_null(strstr(e.msg, "does not match"));
    assert_null(strstr(e.msg, "whsec_other"));
}

static void no_configured_secret_is_refused(void **state)
{
    (void)state;
    const char *const empty[] = {"", NULL};
    struct lumi_err e;
    assert_int_equal(
        stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), empty, 2, VEC_T, 300, &e),
        LUMI_EINVAL);
    assert_non_null(strstr(e.msg, "no Stripe webhook secret"));
    assert_int_equal(
        stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), NULL, 0, VEC_T, 300, &e),
        LUMI_EINVAL);
}

static void rotated_secret_matches(void **state)
{
    (void)state;
    const char *const rotation[] = {"whsec_new_secret", VEC_SECRET};
    struct lumi_err e;
    assert_int_equal(stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), rotation, 2,
                                             VEC_T, 300, &e),
                     0);
    const char *const rotation2[] = {NULL, "", VEC_SECRET};
    assert_int_equal(stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), rotation2, 3,
                                             VEC_T, 300, &e),
                     0);
}

static void tampered_body_is_refused(void **state)
{
    (void)state;
    char body[] = VEC_BODY;
    for (size_t i = 0; i < sizeof body - 1; i++) {
        body[i] ^= 0x01;
        assert_refused(VEC_HEADER, body, VEC_T, "does not match");
        body[i] ^= 0x01;
    }
    /* One byte more or less. */
    struct lumi_err e;
    assert_int_equal(stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY) - 1, one_secret,
                                             1, VEC_T, 300, &e),
                     LUMI_EINVAL);
    assert_refused(VEC_HEADER, VEC_BODY "\n", VEC_T, "does not match");
}

static void tampered_timestamp_is_refused(void **state)
{
    (void)state;
    assert_refused("t=1700000001,v1=" VEC_SIG, VEC_BODY, VEC_T, "does not match");
}

static void stale_timestamp_is_refused(void **state)
{
    (void)state;
    assert_refused(VEC_HEADER, VEC_BODY, VEC_T + 301,
                   "timestamp 1700000000 is outside the 300 s tolerance");
    assert_refused(VEC_HEADER, VEC_BODY, VEC_T + 86400 * 3, "outside the 300 s tolerance");
    assert_refused(VEC_HEADER, VEC_BODY, INT64_MAX, "outside the 300 s tolerance");
}

static void future_timestamp_beyond_tolerance_is_refused(void **state)
{
    (void)state;
    assert_refused(VEC_HEADER, VEC_BODY, VEC_T - 301,
                   "timestamp 1700000000 is outside the 300 s tolerance");
    assert_refused(VEC_HEADER, VEC_BODY, INT64_MIN, "outside the 300 s tolerance");
}

static void tolerance_is_configurable_and_must_be_positive(void **state)
{
    (void)state;
    struct lumi_err e;
    assert_int_equal(stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), one_secret, 1,
                                             VEC_T + 600, 600, &e),
                     0);
    assert_int_equal(stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), one_secret, 1,
                                             VEC_T + 601, 600, &e),
                     LUMI_EINVAL);
    assert_int_equal(stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), one_secret, 1,
                                             VEC_T, 0, &e),
                     LUMI_EINVAL);
    assert_int_equal(stripe_verify_signature(VEC_HEADER, VEC_BODY, strlen(VEC_BODY), one_secret, 1,
                                             VEC_T, -5, &e),
                     LUMI_EINVAL);
}

static void malformed_timestamps_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "t=,v1=" VEC_SIG,
        "t=abc,v1=" VEC_SIG,
        "t=17e8,v1=" VEC_SIG,
        "t= 1700000000,v1=" VEC_SIG,
        "t=-1700000000,v1=" VEC_SIG,
        "t=+1700000000,v1=" VEC_SIG,
        "t=1700000000 ,v1=" VEC_SIG,
        "t=99999999999999999999999,v1=" VEC_SIG,
        "t=1700000000x,v1=" VEC_SIG,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(bad[i], VEC_BODY, VEC_T, "not a Unix time");
}

static void duplicated_timestamp_is_refused(void **state)
{
    (void)state;
    assert_refused("t=1700000000,t=1700000000,v1=" VEC_SIG, VEC_BODY, VEC_T,
                   "more than one timestamp");
    assert_refused("t=1,v1=" VEC_SIG ",t=1700000000", VEC_BODY, VEC_T, "more than one timestamp");
}

static void garbage_headers_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        ",", ",,,,", "=", "==", "t", "garbage", "\x01\x02\xff", "t=1700000000;v1=x", VEC_SIG};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct lumi_err e;
        assert_int_equal(verify(bad[i], VEC_BODY, VEC_T, &e), LUMI_EINVAL);
        assert_true(e.msg[0] != '\0');
    }
}

static void very_long_header_is_refused(void **state)
{
    (void)state;
    size_t n = STRIPE_SIG_HEADER_MAX + 100;
    char *h = malloc(n + 1);
    assert_non_null(h);
    memcpy(h, VEC_HEADER ",", strlen(VEC_HEADER) + 1);
    memset(h + strlen(VEC_HEADER) + 1, 'x', n - strlen(VEC_HEADER) - 1);
    h[n] = '\0';
    assert_refused(h, VEC_BODY, VEC_T, "longer than");
    /* Just under the cap is parsed normally. */
    h[STRIPE_SIG_HEADER_MAX] = '\0';
    struct lumi_err e;
    assert_int_equal(verify(h, VEC_BODY, VEC_T, &e), 0);
    free(h);
}

static void too_many_v1_are_refused(void **state)
{
    (void)state;
    char h[2048] = "t=1700000000";
    size_t off = strlen(h);
    for (int i = 0; i < STRIPE_SIG_MAX_V1; i++) {
        int n = snprintf(h + off, sizeof h - off, ",v1=%s", BAD_SIG);
        assert_true(n > 0 && (size_t)n < sizeof h - off);
        off += (size_t)n;
    }
    assert_refused(h, VEC_BODY, VEC_T, "does not match");
    int n = snprintf(h + off, sizeof h - off, ",v1=%s", VEC_SIG);
    assert_true(n > 0 && (size_t)n < sizeof h - off);
    assert_refused(h, VEC_BODY, VEC_T, "more than 16 v1");
}

static void signed_then_verified_round_trips(void **state)
{
    (void)state;
    char body[1024];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (char)(i * 7);
    char h[STRIPE_SIG_HEADER_LEN];
    assert_int_equal(stripe_sign("whsec_x", body, sizeof body, 42, h, sizeof h), 0);
    const char *const s[] = {"whsec_x"};
    assert_int_equal(stripe_verify_signature(h, body, sizeof body, s, 1, 42, 300, NULL), 0);
    body[1000] ^= 0x80;
    assert_int_equal(stripe_verify_signature(h, body, sizeof body, s, 1, 42, 300, NULL),
                     LUMI_EINVAL);
}

/* The header comes from Stripe's own SDK (tests/stripe_interop.sh). */
static int run_interop(const char *script)
{
    const char *body = "{\"id\":\"evt_interop\",\"object\":\"event\",\"data\":{\"n\":1}}";
    const char *secret = "whsec_lumi_interop_secret";
    int64_t t = 1750000000;
    char cmd[4096];
    char header[STRIPE_SIG_HEADER_MAX + 2];
    int n = snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %lld", script, body, secret, (long long)t);
    if (n < 0 || (size_t)n >= sizeof cmd || strchr(script, '\'') != NULL)
        return 2;
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return 2;
    if (fgets(header, sizeof header, p) == NULL)
        header[0] = '\0';
    int status = pclose(p);
    if (!WIFEXITED(status))
        return 2;
    if (WEXITSTATUS(status) == 77)
        return 77;
    if (WEXITSTATUS(status) != 0) {
        fprintf(stderr, "interop script failed with %d\n", WEXITSTATUS(status));
        return 1;
    }
    header[strcspn(header, "\r\n")] = '\0';
    printf("stripe npm header: %s\n", header);
    if (crypto_init() != 0)
        return 1;
    struct lumi_err e;
    const char *const secrets[] = {secret};
    int rc = stripe_verify_signature(header, body, strlen(body), secrets, 1, t + 10, 300, &e);
    if (rc != 0) {
        fprintf(stderr, "verification of the SDK's header failed: %s\n", e.msg);
        return 1;
    }
    char mine[STRIPE_SIG_HEADER_LEN];
    if (stripe_sign(secret, body, strlen(body), t, mine, sizeof mine) != 0 ||
        strcmp(mine, header) != 0) {
        fprintf(stderr, "stripe_sign gave '%s', the SDK '%s'\n", mine, header);
        return 1;
    }
    /* And a changed body must fail against the SDK's header too. */
    if (stripe_verify_signature(header, body, strlen(body) - 1, secrets, 1, t, 300, NULL) == 0)
        return 1;
    printf("interop with the stripe npm package: ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--interop") == 0)
        return run_interop(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(published_vector_verifies),
        cmocka_unit_test(sign_reproduces_published_vector),
        cmocka_unit_test(missing_header_is_refused),
        cmocka_unit_test(header_without_v1_is_refused),
        cmocka_unit_test(only_v0_is_refused_even_when_it_would_match),
        cmocka_unit_test(header_without_timestamp_is_refused),
        cmocka_unit_test(keys_in_any_order_and_unknown_keys_are_accepted),
        cmocka_unit_test(bad_v1_beside_good_v1_is_accepted),
        cmocka_unit_test(wrong_secret_is_refused),
        cmocka_unit_test(no_configured_secret_is_refused),
        cmocka_unit_test(rotated_secret_matches),
        cmocka_unit_test(tampered_body_is_refused),
        cmocka_unit_test(tampered_timestamp_is_refused),
        cmocka_unit_test(stale_timestamp_is_refused),
        cmocka_unit_test(future_timestamp_beyond_tolerance_is_refused),
        cmocka_unit_test(tolerance_is_configurable_and_must_be_positive),
        cmocka_unit_test(malformed_timestamps_are_refused),
        cmocka_unit_test(duplicated_timestamp_is_refused),
        cmocka_unit_test(garbage_headers_are_refused),
        cmocka_unit_test(very_long_header_is_refused),
        cmocka_unit_test(too_many_v1_are_refused),
        cmocka_unit_test(signed_then_verified_round_trips),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
