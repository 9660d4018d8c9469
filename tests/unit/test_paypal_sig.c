/*
 * test_paypal_sig.c — local PayPal webhook verification: both real simulator
 * deliveries verify with their certificate (supplied through the loader, no
 * network); a one-byte change to the body or any header fails; cert URLs
 * outside the allow-list are refused without calling the loader; malformed
 * base64, wrong algorithm, missing headers, expired certificates, loader
 * failures; the cache (hits, bound, sharing between threads). The vectors
 * are read from tests/data/paypal/vectors (a copy of the shared vectors).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "gateways/paypal_sig.h"

/*
 * The real simulator deliveries and the certificate that signed them, read
 * from tests/data/paypal/vectors in the source tree.
 */
static char *CERT_PEM, *COMPLETED_BODY, *REFUNDED_BODY;
static char *COMPLETED_HEADER_TEXT, *REFUNDED_HEADER_TEXT;
static struct paypal_sig_headers COMPLETED_HEADERS, REFUNDED_HEADERS;

/* The file's exact bytes, NUL-terminated (the bodies are what was signed). */
static char *read_vector(const char *rel)
{
    const char *src = getenv("LUMI_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/paypal/vectors/%s", src ? src : ".", rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open the PayPal vector %s", path);
    struct buf b;
    buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b);
}

/* "name: value" lines into h (pointers into text, which is cut into strings). */
static void parse_headers(char *text, struct paypal_sig_headers *h)
{
    memset(h, 0, sizeof *h);
    for (char *line = text; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *colon = strchr(line, ':');
        if (colon != NULL) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ')
                v++;
            v[strcspn(v, "\r")] = '\0';
            if (strcasecmp(line, "paypal-transmission-id") == 0)
                h->transmission_id = v;
            else if (strcasecmp(line, "paypal-transmission-time") == 0)
                h->transmission_time = v;
            else if (strcasecmp(line, "paypal-transmission-sig") == 0)
                h->transmission_sig = v;
            else if (strcasecmp(line, "paypal-cert-url") == 0)
                h->cert_url = v;
            else if (strcasecmp(line, "paypal-auth-algo") == 0)
                h->auth_algo = v;
        }
        line = next;
    }
    if (h->transmission_id == NULL || h->transmission_time == NULL ||
        h->transmission_sig == NULL || h->cert_url == NULL || h->auth_algo == NULL)
        fail_msg("a PayPal vector's headers file lacks a PAYPAL-* header");
}

static int load_vectors(void **state)
{
    (void)state;
    CERT_PEM = read_vector("cert.pem");
    COMPLETED_BODY = read_vector("completed/body_completed.json");
    REFUNDED_BODY = read_vector("refunded/body_refunded.json");
    COMPLETED_HEADER_TEXT = read_vector("completed/headers_completed.txt");
    REFUNDED_HEADER_TEXT = read_vector("refunded/headers_refunded.txt");
    parse_headers(COMPLETED_HEADER_TEXT, &COMPLETED_HEADERS);
    parse_headers(REFUNDED_HEADER_TEXT, &REFUNDED_HEADERS);
    return 0;
}

static int free_vectors(void **state)
{
    (void)state;
    free(CERT_PEM);
    free(COMPLETED_BODY);
    free(REFUNDED_BODY);
    free(COMPLETED_HEADER_TEXT);
    free(REFUNDED_HEADER_TEXT);
    return 0;
}

#define WEBHOOK_ID "WEBHOOK_ID"
#define CERT_URL "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1a5f47cb"
/* 2024-08-02T19:40:00Z: inside the certificate's validity (2024-03-08 .. 2025-03-07). */
#define AUGUST_2024 INT64_C(1722627600)

struct loader_state {
    int calls;
    const char *serve_url; /* the only URL that has a certificate; NULL = any */
    const char *pem;
    int fail_code; /* returned instead when non-zero */
};

static int test_loader(void *arg, const char *url, struct buf *pem, struct lumi_err *err)
{
    struct loader_state *s = arg;
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_SEQ_CST);
    if (s->fail_code != 0)
        return err_set(err, s->fail_code, "test loader: failing on purpose");
    if (s->serve_url != NULL && strcmp(url, s->serve_url) != 0)
        return err_set(err, LUMI_EUPSTREAM, "test loader: HTTP 404 for %s", url);
    return buf_append_str(pem, s->pem);
}

static int64_t clock_at(void *arg)
{
    return *(const int64_t *)arg;
}

struct fixture {
    struct loader_state loader;
    int64_t now;
    struct paypal_cert_cache *cache;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->loader.serve_url = CERT_URL;
    f->loader.pem = CERT_PEM;
    f->now = AUGUST_2024;
    f->cache = paypal_cert_cache_new(test_loader, &f->loader, clock_at, &f->now);
    if (f->cache == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    paypal_cert_cache_free(f->cache);
    free(f);
    return 0;
}

static int verify(struct fixture *f, const struct paypal_sig_headers *h, const char *body,
                  size_t len, struct lumi_err *e)
{
    err_clear(e);
    return paypal_verify_local(h, body, len, WEBHOOK_ID, NULL, f->cache, e);
}

static void assert_refused(struct fixture *f, const struct paypal_sig_headers *h, const char *body,
                           const char *msg_part)
{
    struct lumi_err e;
    int rc = verify(f, h, body, strlen(body), &e);
    if (rc != LUMI_EINVAL || strstr(e.msg, msg_part) == NULL)
        fail_msg("rc %d, message '%s', wanted '%s'", rc, e.msg, msg_part);
}

static void both_real_deliveries_verify(void **state)
{
    struct fixture *f = *state;
    struct lumi_err e;
    assert_int_equal(verify(f, &COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY), &e), 0);
    assert_int_equal(verify(f, &REFUNDED_HEADERS, REFUNDED_BODY, strlen(REFUNDED_BODY), &e), 0);
    /* Same cert URL: fetched once, then served from the cache. */
    assert_int_equal(f->loader.calls, 1);
    assert_int_equal(paypal_cert_cache_count(f->cache), 1);
    assert_int_equal(verify(f, &COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY), &e), 0);
    assert_int_equal(f->loader.calls, 1);
}

static void wrong_webhook_id_fails(void **state)
{
    struct fixture *f = *state;
    struct lumi_err e;
    assert_int_equal(paypal_verify_local(&COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY),
                                         "WEBHOOK_IE", NULL, f->cache, &e),
                     LUMI_EINVAL);
    assert_non_null(strstr(e.msg, "does not verify"));
    assert_int_equal(paypal_verify_local(&COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY),
                                         "", NULL, f->cache, &e),
                     LUMI_EINVAL);
    assert_non_null(strstr(e.msg, "webhook id"));
}

static void one_byte_change_to_body_fails(void **state)
{
    struct fixture *f = *state;
    size_t n = strlen(COMPLETED_BODY);
    char *body = malloc(n + 2);
    assert_non_null(body);
    memcpy(body, COMPLETED_BODY, n + 1);
    for (size_t i = 0; i < n; i++) {
        body[i] ^= 0x20;
        assert_refused(f, &COMPLETED_HEADERS, body, "does not verify");
        body[i] ^= 0x20;
    }
    struct lumi_err e;
    assert_int_equal(verify(f, &COMPLETED_HEADERS, body, n - 1, &e), LUMI_EINVAL);
    body[n] = '\n';
    body[n + 1] = '\0';
    assert_refused(f, &COMPLETED_HEADERS, body, "does not verify");
    /* The other delivery's body under this delivery's headers. */
    assert_refused(f, &COMPLETED_HEADERS, REFUNDED_BODY, "does not verify");
    free(body);
}

static void one_byte_change_to_any_header_fails(void **state)
{
    struct fixture *f = *state;
    struct paypal_sig_headers h = COMPLETED_HEADERS;
    struct lumi_err e;
    assert_int_equal(verify(f, &h, COMPLETED_BODY, strlen(COMPLETED_BODY), &e), 0);
    const char *fields[5];
    const char *names[] = {"transmission id", "transmission time", "cert url", "auth algo",
                           "transmission sig"};
    fields[0] = h.transmission_id;
    fields[1] = h.transmission_time;
    fields[2] = h.cert_url;
    fields[3] = h.auth_algo;
    fields[4] = h.transmission_sig;
    for (int k = 0; k < 5; k++) {
        size_t n = strlen(fields[k]);
        char *copy = malloc(n + 1);
        assert_non_null(copy);
        for (size_t i = 0; i < n; i++) {
            struct paypal_sig_headers m = h;
            memcpy(copy, fields[k], n + 1);
            copy[i] = copy[i] == 'A' ? 'B' : 'A';
            const char **slot[] = {&m.transmission_id, &m.transmission_time, &m.cert_url,
                                   &m.auth_algo, &m.transmission_sig};
            *slot[k] = copy;
            int rc = verify(f, &m, COMPLETED_BODY, strlen(COMPLETED_BODY), &e);
            if (rc == 0)
                fail_msg("%s changed at byte %zu still verifies", names[k], i);
        }
        free(copy);
    }
}

static void cert_url_outside_allow_list_is_refused_without_fetch(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "HTTPS://api.paypal.com/v1/notifications/certs/CERT-1",
        "ftp://api.paypal.com/cert",
        "//api.paypal.com/cert",
        "https://api.paypal.com.evil.example/cert",
        "https://evilpaypal.com/cert",
        "https://paypal.com.evil.example/cert",
        "https://api.paypal.com@evil.example/cert",
        "https://evil.example/api.paypal.com",
        "https://evil.example?x=api.paypal.com",
        "https://evil.example#.paypal.com",
        "https://evil.example:443/cert",
        "https://api.paypal.com:/cert",
        "https://api.paypal.com:0/cert",
        "https://api.paypal.com:65536/cert",
        "https://api.paypal.com:84a3/cert",
        "https://api.paypal.com:443:443/cert",
        "https://api.paypal.com@evil.example:443/cert",
        "https://127.0.0.1:8443/cert",
        "https://[::1]/cert",
        "https://[::1]:8443/cert",
        "https://127.0.0.1/cert",
        "https://api.paypal.com\\@evil.example/cert",
        "https://api.paypal.com /cert",
        "https://api.paypal%2ecom/cert",
        "https://.paypal.com/cert",
        "https://api..paypal.com/cert",
        "https://paypal.com./cert",
        "https:///cert",
        "https://",
        "file:///etc/passwd",
        "https://api.paypal.co/cert",
        "https://aypal.com/cert",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct paypal_sig_headers h = COMPLETED_HEADERS;
        h.cert_url = bad[i];
        struct lumi_err e;
        int rc = verify(f, &h, COMPLETED_BODY, strlen(COMPLETED_BODY), &e);
        if (rc != LUMI_EINVAL || strstr(e.msg, "not https on an allowed host") == NULL)
            fail_msg("'%s': rc %d, '%s'", bad[i], rc, e.msg);
        assert_false(paypal_cert_url_allowed(bad[i], NULL));
    }
    assert_int_equal(f->loader.calls, 0);
    assert_int_equal(paypal_cert_cache_count(f->cache), 0);
}

static void allow_list_matches_host_or_subdomain(void **state)
{
    (void)state;
    assert_true(paypal_cert_url_allowed(CERT_URL, NULL));
    assert_true(paypal_cert_url_allowed("https://paypal.com/cert", NULL));
    assert_true(paypal_cert_url_allowed("https://API.PayPal.COM/cert", NULL));
    assert_true(paypal_cert_url_allowed("https://a.b.paypal.com", NULL));
    assert_true(paypal_cert_url_allowed("https://a.b.paypal.com?x=1", NULL));
    /* An explicit port on an allowed host is fine (tests use localhost:PORT). */
    assert_true(paypal_cert_url_allowed("https://api.paypal.com:8443/cert", NULL));
    assert_true(paypal_cert_url_allowed("https://api.paypal.com:443", NULL));
    const char *const local[] = {"localhost", NULL};
    assert_true(paypal_cert_url_allowed("https://localhost:40123/certs/webhook.pem", local));
    assert_false(paypal_cert_url_allowed("https://localhost:40123/certs/webhook.pem", NULL));
    assert_false(paypal_cert_url_allowed("https://evil.example:40123/c.pem", local));
    const char *const mine[] = {"certs.example.test", "sandbox.paypal.com", NULL};
    assert_true(paypal_cert_url_allowed("https://certs.example.test/c.pem", mine));
    assert_true(paypal_cert_url_allowed("https://eu.certs.example.test/c.pem", mine));
    assert_true(paypal_cert_url_allowed("https://api.sandbox.paypal.com/c", mine));
    assert_false(paypal_cert_url_allowed("https://example.test/c.pem", mine));
    assert_false(paypal_cert_url_allowed(CERT_URL, mine));
    const char *const none[] = {NULL};
    assert_false(paypal_cert_url_allowed(CERT_URL, none));
    assert_false(paypal_cert_url_allowed(NULL, NULL));
}

static void custom_allow_list_is_applied_before_fetch(void **state)
{
    struct fixture *f = *state;
    const char *const hosts[] = {"certs.example.test", NULL};
    struct lumi_err e;
    assert_int_equal(paypal_verify_local(&COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY),
                                         WEBHOOK_ID, hosts, f->cache, &e),
                     LUMI_EINVAL);
    assert_non_null(strstr(e.msg, "allowed host"));
    assert_int_equal(f->loader.calls, 0);
}

static void malformed_base64_is_refused(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {
        "!!!!",
        "KY8qkrrIcGAyKS4VNgYlgP0iWIgeFEa3Y4q14d7mStEdJQbiEMhyB9/2cR85tjTlAmJ4NFxBW3BFdrFn7Eukm"
        "dSw2RFkaCfSmzZoq8Uzjp1y6h9Uo307qte0hkuDHLLW07EvflOfS0Q2mNd+WPsmCilVYRAw9Acv6O8qVHAdV"
        "jINRoSeS5vISIDN7vaj0rBValwU8GE36rfFpUz1BvJqY2JaZc7wL0UYYB+xLneQWdOy4woa8MWUGVqFkJ9h"
        "/RLZsAIoMlOikAljETFIdGKiNr23GILoa1yM8/y+Oi1KM2DOJlEeywiR0BU5bhPjIsy8gsdwTyadbF1BCkF"
        "JcyGIlg", /* padding removed */
        "KY8qkrrIcGAyKS4VNgYlgP0iWIgeFEa3Y4q14d7mStEdJQbiEMhyB9/2cR85tjTlAmJ4NFxBW3BFdrFn7Eukm"
        "dSw2RFkaCfSmzZoq8Uzjp1y6h9Uo307qte0hkuDHLLW07EvflOfS0Q2mNd+WPsmCilVYRAw9Acv6O8qVHAdV"
        "jINRoSeS5vISIDN7vaj0rBValwU8GE36rfFpUz1BvJqY2JaZc7wL0UYYB+xLneQWdOy4woa8MWUGVqFkJ9h"
        "/RLZsAIoMlOikAljETFIdGKiNr23GILoa1yM8/y+Oi1KM2DOJlEeywiR0BU5bhPjIsy8gsdwTyadbF1BCkF"
        "JcyGIlg==x",    /* trailing junk */
        "KY8q-rrI_cGA=", /* base64url alphabet */
        "=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct paypal_sig_headers h = COMPLETED_HEADERS;
        h.transmission_sig = bad[i];
        assert_refused(f, &h, COMPLETED_BODY, "not valid base64");
    }
    /* Valid base64 of the wrong length is a failed signature, not a crash. */
    struct paypal_sig_headers h = COMPLETED_HEADERS;
    h.transmission_sig = "AAAA";
    assert_refused(f, &h, COMPLETED_BODY, "does not verify");
    char big[PAYPAL_SIG_B64_MAX + 2];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    h.transmission_sig = big;
    assert_refused(f, &h, COMPLETED_BODY, "longer than");
}

static void wrong_algorithm_is_refused_without_fetch(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {"SHA1withRSA", "SHA256withECDSA", "sha256withrsa", "SHA256withRSA ",
                         "none"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct paypal_sig_headers h = COMPLETED_HEADERS;
        h.auth_algo = bad[i];
        assert_refused(f, &h, COMPLETED_BODY, "PAYPAL-AUTH-ALGO must be SHA256withRSA");
    }
    assert_int_equal(f->loader.calls, 0);
}

static void missing_headers_are_refused(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-CERT-URL",
                           "PAYPAL-AUTH-ALGO", "PAYPAL-TRANSMISSION-SIG"};
    for (int k = 0; k < 5; k++) {
        for (int empty = 0; empty < 2; empty++) {
            struct paypal_sig_headers h = COMPLETED_HEADERS;
            const char **slot[] = {&h.transmission_id, &h.transmission_time, &h.cert_url,
                                   &h.auth_algo, &h.transmission_sig};
            *slot[k] = empty ? "" : NULL;
            char want[64];
            snprintf(want, sizeof want, "missing %s header", names[k]);
            assert_refused(f, &h, COMPLETED_BODY, want);
        }
    }
    struct lumi_err e;
    assert_int_equal(paypal_verify_local(NULL, COMPLETED_BODY, 1, WEBHOOK_ID, NULL, f->cache, &e),
                     LUMI_EINVAL);
    assert_int_equal(f->loader.calls, 0);
}

static void separator_or_control_characters_in_headers_are_refused(void **state)
{
    struct fixture *f = *state;
    struct paypal_sig_headers h = COMPLETED_HEADERS;
    h.transmission_id = "1c6772d0|x";
    assert_refused(f, &h, COMPLETED_BODY, "invalid character");
    h = COMPLETED_HEADERS;
    h.transmission_time = "2024-08-02T19:33:35Z\r\nX: y";
    assert_refused(f, &h, COMPLETED_BODY, "invalid character");
}

static void expired_or_not_yet_valid_certificate_is_refused(void **state)
{
    struct fixture *f = *state;
    f->now = INT64_C(1741392000); /* 2025-03-08, the day after notAfter */
    assert_refused(f, &COMPLETED_HEADERS, COMPLETED_BODY, "is not valid now");
    f->now = INT64_C(1709769600); /* 2024-03-07, before notBefore */
    assert_refused(f, &COMPLETED_HEADERS, COMPLETED_BODY, "is not valid now");
    f->now = AUGUST_2024;
    struct lumi_err e;
    assert_int_equal(verify(f, &COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY), &e), 0);
}

static void system_clock_refuses_the_expired_vector_certificate(void **state)
{
    struct fixture *f = *state;
    struct paypal_cert_cache *c = paypal_cert_cache_new(test_loader, &f->loader, NULL, NULL);
    assert_non_null(c);
    struct lumi_err e;
    assert_int_equal(paypal_verify_local(&COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY),
                                         WEBHOOK_ID, NULL, c, &e),
                     LUMI_EINVAL);
    assert_non_null(strstr(e.msg, "is not valid now"));
    paypal_cert_cache_free(c);
}

static void loader_failure_is_upstream_and_not_cached(void **state)
{
    struct fixture *f = *state;
    struct lumi_err e;
    f->loader.fail_code = LUMI_EUPSTREAM;
    assert_int_equal(verify(f, &COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY), &e),
                     LUMI_EUPSTREAM);
    assert_non_null(strstr(e.msg, "failing on purpose"));
    assert_int_equal(paypal_cert_cache_count(f->cache), 0);
    f->loader.fail_code = 0;
    assert_int_equal(verify(f, &COMPLETED_HEADERS, COMPLETED_BODY, strlen(COMPLETED_BODY), &e), 0);
    assert_int_equal(f->loader.calls, 2);
}

static void garbage_certificate_is_refused(void **state)
{
    struct fixture *f = *state;
    const char *pems[] = {"", "not a certificate",
                          "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"};
    for (size_t i = 0; i < sizeof pems / sizeof pems[0]; i++) {
        f->loader.pem = pems[i];
        assert_refused(f, &COMPLETED_HEADERS, COMPLETED_BODY, "PayPal certificate");
    }
    assert_int_equal(paypal_cert_cache_count(f->cache), 0);
}

static void cache_is_bounded(void **state)
{
    struct fixture *f = *state;
    f->loader.serve_url = NULL; /* any allowed URL serves the certificate */
    for (int i = 0; i < PAYPAL_CERT_CACHE_MAX + 5; i++) {
        char url[128];
        snprintf(url, sizeof url, "https://api.paypal.com/v1/notifications/certs/CERT-%d", i);
        struct paypal_sig_headers h = COMPLETED_HEADERS;
        h.cert_url = url;
        struct lumi_err e;
        assert_int_equal(verify(f, &h, COMPLETED_BODY, strlen(COMPLETED_BODY), &e), 0);
        assert_true(paypal_cert_cache_count(f->cache) <= PAYPAL_CERT_CACHE_MAX);
    }
    assert_int_equal(paypal_cert_cache_count(f->cache), PAYPAL_CERT_CACHE_MAX);
    assert_int_equal(f->loader.calls, PAYPAL_CERT_CACHE_MAX + 5);
}

static void *verify_many(void *arg)
{
    struct fixture *f = arg;
    for (int i = 0; i < 50; i++) {
        char url[128];
        snprintf(url, sizeof url, "https://api.paypal.com/certs/CERT-%d", i % 20);
        struct paypal_sig_headers h = i % 2 ? COMPLETED_HEADERS : REFUNDED_HEADERS;
        const char *body = i % 2 ? COMPLETED_BODY : REFUNDED_BODY;
        h.cert_url = url;
        if (paypal_verify_local(&h, body, strlen(body), WEBHOOK_ID, NULL, f->cache, NULL) != 0)
            return (void *)1;
    }
    return NULL;
}

static void shared_cache_works_across_threads(void **state)
{
    struct fixture *f = *state;
    f->loader.serve_url = NULL;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, verify_many, f), 0);
    for (int i = 0; i < 4; i++) {
        void *res = NULL;
        assert_int_equal(pthread_join(t[i], &res), 0);
        assert_null(res);
    }
    assert_true(paypal_cert_cache_count(f->cache) <= PAYPAL_CERT_CACHE_MAX);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(both_real_deliveries_verify),
        T(wrong_webhook_id_fails),
        T(one_byte_change_to_body_fails),
        T(one_byte_change_to_any_header_fails),
        T(cert_url_outside_allow_list_is_refused_without_fetch),
        T(allow_list_matches_host_or_subdomain),
        T(custom_allow_list_is_applied_before_fetch),
        T(malformed_base64_is_refused),
        T(wrong_algorithm_is_refused_without_fetch),
        T(missing_headers_are_refused),
        T(separator_or_control_characters_in_headers_are_refused),
        T(expired_or_not_yet_valid_certificate_is_refused),
        T(system_clock_refuses_the_expired_vector_certificate),
        T(loader_failure_is_upstream_and_not_cached),
        T(garbage_certificate_is_refused),
        T(cache_is_bounded),
        T(shared_cache_works_across_threads),
    };
    return cmocka_run_group_tests(tests, load_vectors, free_vectors);
}
