/*
 * paypal_sig.c — owns local verification of PayPal webhook signatures: the
 * cert-URL allow-list, the certificate cache (fetch, parse once, validity
 * dates) and the RSA-SHA256 check over the PayPal signed text.
 *
 * Threading: a paypal_cert_cache is shared by all workers; its mutex guards
 * the entry table only. Fetches happen outside the lock (two threads may
 * fetch the same URL at once; the first insert wins). A verification holds
 * its own reference to the EVP_PKEY (EVP_PKEY_up_ref), so eviction never
 * frees a key in use. SHA-256 is fetched once per cache.
 *
 * Caveats: trust comes from fetching the certificate over verified TLS from
 * an allowed host; the certificate chain itself is not validated, only its
 * validity dates. The allow-list is checked before any loader call.
 */
#include "gateways/paypal_sig.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <zlib.h>

#include "core/http_client.h"
#include "core/str.h"

#define PAYPAL_AUTH_ALGO "SHA256withRSA"
#define HOST_MAX 253

struct cert_entry {
    char *url;
    EVP_PKEY *pkey;
    int64_t not_before;
    int64_t not_after;
};

struct paypal_cert_cache {
    pthread_mutex_t lock;
    struct cert_entry entries[PAYPAL_CERT_CACHE_MAX];
    size_t count;
    size_t next_evict; /* FIFO once full */
    paypal_cert_loader_fn loader;
    void *loader_arg;
    paypal_clock_fn clock;
    void *clock_arg;
    EVP_MD *sha256;
    char *ca_file; /* extra CA bundle for the default loader, or NULL */
};

static const char *const default_hosts[] = {"paypal.com", NULL};

/* ---- certificate fetch ---------------------------------------------------- */

static int http_loader(void *arg, const char *url, struct buf *pem, struct lumi_err *err)
{
    const struct paypal_cert_cache *c = arg;
    int rc = 0;
    struct hc_request req = {
        .method = "GET",
        .url = url,
        .ca_file = c->ca_file,
        .connect_timeout_ms = 5000,
        .timeout_ms = 10000,
        .max_response = PAYPAL_CERT_PEM_MAX,
    };
    struct hc_response res;
    struct hc_error herr;
    memset(&res, 0, sizeof res);
    memset(&herr, 0, sizeof herr);
    if (hc_perform(&req, &res, &herr) != 0) {
        rc = err_set(err, LUMI_EUPSTREAM, "cannot fetch the PayPal certificate: %s", herr.message);
        goto out;
    }
    if (res.status != 200) {
        rc = err_set(err, LUMI_EUPSTREAM, "PayPal certificate URL answered HTTP %ld instead of 200",
                     res.status);
        goto out;
    }
    rc = buf_append(pem, res.body.data ? res.body.data : "", res.body.len);
    if (rc != 0)
        err_set(err, rc, "PayPal certificate is larger than %d bytes", PAYPAL_CERT_PEM_MAX);
out:
    hc_response_free(&res);
    return rc;
}

static int64_t system_clock(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL);
}

/* ---- cache ---------------------------------------------------------------- */

struct paypal_cert_cache *paypal_cert_cache_new(paypal_cert_loader_fn loader, void *loader_arg,
                                                paypal_clock_fn clock, void *clock_arg)
{
    struct paypal_cert_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (c->sha256 == NULL) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    c->loader = loader ? loader : http_loader;
    c->loader_arg = loader ? loader_arg : c;
    c->clock = clock ? clock : system_clock;
    c->clock_arg = clock_arg;
    return c;
}

static void entry_clear(struct cert_entry *e)
{
    free(e->url);
    EVP_PKEY_free(e->pkey);
    memset(e, 0, sizeof *e);
}

void paypal_cert_cache_free(struct paypal_cert_cache *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < cache->count; i++)
        entry_clear(&cache->entries[i]);
    EVP_MD_free(cache->sha256);
    pthread_mutex_destroy(&cache->lock);
    free(cache->ca_file);
    free(cache);
}

int paypal_cert_cache_set_ca_file(struct paypal_cert_cache *cache, const char *ca_file)
{
    char *copy = NULL;
    if (ca_file != NULL && (copy = str_dup(ca_file)) == NULL)
        return LUMI_ENOMEM;
    free(cache->ca_file);
    cache->ca_file = copy;
    return 0;
}

size_t paypal_cert_cache_count(struct paypal_cert_cache *cache)
{
    pthread_mutex_lock(&cache->lock);
    size_t n = cache->count;
    pthread_mutex_unlock(&cache->lock);
    return n;
}

/* A new reference to the cached entry for url, or false. */
static bool cache_lookup(struct paypal_cert_cache *c, const char *url, struct cert_entry *out)
{
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        if (strcmp(c->entries[i].url, url) == 0 && EVP_PKEY_up_ref(c->entries[i].pkey) == 1) {
            out->url = NULL;
            out->pkey = c->entries[i].pkey;
            out->not_before = c->entries[i].not_before;
            out->not_after = c->entries[i].not_after;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

/* Stores a copy of e (own reference to the key) unless url is already there. */
static void cache_insert(struct paypal_cert_cache *c, const char *url, const struct cert_entry *e)
{
    char *copy = str_dup(url);
    if (copy == NULL || EVP_PKEY_up_ref(e->pkey) != 1) {
        free(copy);
        return; /* not cached: the next delivery fetches again */
    }
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count; i++) {
        if (strcmp(c->entries[i].url, url) == 0) {
            pthread_mutex_unlock(&c->lock);
            free(copy);
            EVP_PKEY_free(e->pkey);
            return;
        }
    }
    struct cert_entry *slot;
    if (c->count < PAYPAL_CERT_CACHE_MAX) {
        slot = &c->entries[c->count++];
    } else {
        slot = &c->entries[c->next_evict];
        c->next_evict = (c->next_evict + 1) % PAYPAL_CERT_CACHE_MAX;
        entry_clear(slot);
    }
    slot->url = copy;
    slot->pkey = e->pkey;
    slot->not_before = e->not_before;
    slot->not_after = e->not_after;
    pthread_mutex_unlock(&c->lock);
}

static int asn1_to_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* Parses a PEM certificate into e (key and validity dates). */
static int parse_cert(const struct buf *pem, struct cert_entry *e, struct lumi_err *err)
{
    int rc = LUMI_EINVAL;
    BIO *bio = NULL;
    X509 *x = NULL;

    if (pem->len == 0 || pem->len > INT32_MAX) {
        rc = err_set(err, LUMI_EINVAL, "PayPal certificate is empty");
        goto out;
    }
    bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    if (bio == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory reading the PayPal certificate");
        goto out;
    }
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (x == NULL) {
        rc = err_set(err, LUMI_EINVAL, "PayPal certificate is not a PEM X.509 certificate");
        goto out;
    }
    if (asn1_to_unix(X509_get0_notBefore(x), &e->not_before) != 0 ||
        asn1_to_unix(X509_get0_notAfter(x), &e->not_after) != 0) {
        rc = err_set(err, LUMI_EINVAL, "PayPal certificate has unreadable validity dates");
        goto out;
    }
    e->pkey = X509_get_pubkey(x);
    if (e->pkey == NULL || EVP_PKEY_get_base_id(e->pkey) != EVP_PKEY_RSA) {
        rc = err_set(err, LUMI_EINVAL, "PayPal certificate does not hold an RSA key");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        EVP_PKEY_free(e->pkey);
        e->pkey = NULL;
    }
    X509_free(x);
    BIO_free(bio);
    return rc;
}

/* The certificate for url, from the cache or the loader; *e holds a key reference. */
static int get_cert(struct paypal_cert_cache *c, const char *url, struct cert_entry *e,
                    struct lumi_err *err)
{
    int rc = 0;
    struct buf pem;
    buf_init(&pem, PAYPAL_CERT_PEM_MAX);
    if (cache_lookup(c, url, e))
        goto out;
    rc = c->loader(c->loader_arg, url, &pem, err);
    if (rc != 0) {
        if (err != NULL && err->code == 0)
            err_set(err, rc, "cannot fetch the PayPal certificate");
        goto out;
    }
    rc = parse_cert(&pem, e, err);
    if (rc != 0)
        goto out;
    cache_insert(c, url, e);
out:
    buf_free(&pem);
    return rc;
}

/* ---- the cert URL allow-list ---------------------------------------------- */

static bool host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.';
}

int paypal_cert_url_allowed(const char *url, const char *const *cert_hosts)
{
    static const char scheme[] = "https://";
    if (url == NULL)
        return 0;
    size_t ulen = strnlen(url, PAYPAL_SIG_URL_MAX + 1);
    if (ulen > PAYPAL_SIG_URL_MAX || strncmp(url, scheme, sizeof scheme - 1) != 0)
        return 0;
    /* Nothing a URL parser could read differently from us. */
    for (size_t i = 0; i < ulen; i++) {
        unsigned char ch = (unsigned char)url[i];
        if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
            return 0;
    }
    const char *host = url + sizeof scheme - 1;
    size_t alen_all = strcspn(host, "/?#"); /* authority: host[:port] */
    size_t hlen = alen_all;
    const char *colon = memchr(host, ':', alen_all);
    if (colon != NULL) {
        /* An explicit port is only digits (1..65535); the host before it is
         * checked like any other (tests serve the certificate on localhost:PORT). */
        const char *port = colon + 1;
        size_t plen = alen_all - (size_t)(port - host);
        if (plen == 0 || plen > 5)
            return 0;
        long pv = 0;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return 0;
            pv = pv * 10 + (port[i] - '0');
        }
        if (pv < 1 || pv > 65535)
            return 0;
        hlen = (size_t)(colon - host);
    }
    if (hlen == 0 || hlen > HOST_MAX)
        return 0;
    bool has_letter = false;
    for (size_t i = 0; i < hlen; i++) {
        if (!host_char(host[i]))
            return 0; /* '@' userinfo, '[' IPv6, '%' encoding, a second ':'… */
        if ((host[i] >= 'a' && host[i] <= 'z') || (host[i] >= 'A' && host[i] <= 'Z'))
            has_letter = true;
    }
    if (!has_letter || host[0] == '.' || host[hlen - 1] == '.' || host[0] == '-')
        return 0;
    if (memmem(host, hlen, "..", 2) != NULL)
        return 0;
    for (const char *const *a = cert_hosts ? cert_hosts : default_hosts; *a != NULL; a++) {
        size_t alen = strlen(*a);
        if (alen == 0 || alen > hlen)
            continue;
        const char *tail = host + hlen - alen;
        if (strncasecmp(tail, *a, alen) != 0)
            continue;
        if (alen == hlen || tail[-1] == '.')
            return 1;
    }
    return 0;
}

/* ---- verification --------------------------------------------------------- */

/* A present header value of at most max bytes with no control characters. */
static int check_field(const char *v, size_t max, const char *name, bool no_pipe,
                       struct lumi_err *err)
{
    if (v == NULL || v[0] == '\0')
        return err_set(err, LUMI_EINVAL, "missing %s header", name);
    size_t n = strnlen(v, max + 1);
    if (n > max)
        return err_set(err, LUMI_EINVAL, "%s header is longer than %zu bytes", name, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x20 || ch == 0x7f || (no_pipe && ch == '|'))
            return err_set(err, LUMI_EINVAL, "%s header contains an invalid character", name);
    }
    return 0;
}

static int check_headers(const struct paypal_sig_headers *h, const char *webhook_id,
                         struct lumi_err *err)
{
    if (h == NULL)
        return err_set(err, LUMI_EINVAL, "missing PAYPAL-* headers");
    if (webhook_id == NULL || webhook_id[0] == '\0')
        return err_set(err, LUMI_EINVAL, "no PayPal webhook id is configured");
    /* '|' separates the fields of the signed text, so it may not occur in them. */
    const struct {
        const char *value;
        size_t max;
        const char *name;
        bool no_pipe;
    } fields[] = {
        {h->transmission_id, PAYPAL_SIG_FIELD_MAX, "PAYPAL-TRANSMISSION-ID", true},
        {h->transmission_time, PAYPAL_SIG_FIELD_MAX, "PAYPAL-TRANSMISSION-TIME", true},
        {h->auth_algo, PAYPAL_SIG_FIELD_MAX, "PAYPAL-AUTH-ALGO", false},
        {h->transmission_sig, PAYPAL_SIG_B64_MAX, "PAYPAL-TRANSMISSION-SIG", false},
        {h->cert_url, PAYPAL_SIG_URL_MAX, "PAYPAL-CERT-URL", false},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int rc =
            check_field(fields[i].value, fields[i].max, fields[i].name, fields[i].no_pipe, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int paypal_verify_local(const struct paypal_sig_headers *h, const char *body, size_t len,
                        const char *webhook_id, const char *const *cert_hosts,
                        struct paypal_cert_cache *cache, struct lumi_err *err)
{
    int rc = 0;
    struct cert_entry cert = {0};
    EVP_MD_CTX *md = NULL;
    uint8_t sig[PAYPAL_SIG_B64_MAX];
    size_t sig_len = 0;
    struct buf text;
    buf_init(&text, 4 * PAYPAL_SIG_FIELD_MAX);

    if (cache == NULL) {
        rc = err_set(err, LUMI_EINTERNAL, "no PayPal certificate cache");
        goto out;
    }
    if (body == NULL && len > 0) {
        rc = err_set(err, LUMI_EINVAL, "webhook body is missing");
        goto out;
    }
    rc = check_headers(h, webhook_id, err);
    if (rc != 0)
        goto out;
    if (strcmp(h->auth_algo, PAYPAL_AUTH_ALGO) != 0) {
        rc = err_set(err, LUMI_EINVAL, "PAYPAL-AUTH-ALGO must be " PAYPAL_AUTH_ALGO ", not '%.64s'",
                     h->auth_algo);
        goto out;
    }
    /* Strict standard base64 with padding; trailing junk is refused too. */
    const char *b64 = h->transmission_sig;
    const char *b64_end = NULL;
    if (sodium_base642bin(sig, sizeof sig, b64, strlen(b64), NULL, &sig_len, &b64_end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        b64_end != b64 + strlen(b64) || sig_len == 0) {
        rc = err_set(err, LUMI_EINVAL, "PAYPAL-TRANSMISSION-SIG is not valid base64");
        goto out;
    }
    /* Refused before any network request. */
    if (!paypal_cert_url_allowed(h->cert_url, cert_hosts)) {
        rc = err_set(err, LUMI_EINVAL,
                     "PAYPAL-CERT-URL '%.200s' is not https on an allowed host "
                     "(PAYPAL_CERT_HOSTS)",
                     h->cert_url);
        goto out;
    }
    rc = get_cert(cache, h->cert_url, &cert, err);
    if (rc != 0)
        goto out;
    int64_t now = cache->clock(cache->clock_arg);
    if (now < cert.not_before || now > cert.not_after) {
        rc = err_set(err, LUMI_EINVAL,
                     "PayPal certificate at %.200s is not valid now (valid from %" PRId64
                     " to %" PRId64 ", now %" PRId64 ")",
                     h->cert_url, cert.not_before, cert.not_after, now);
        goto out;
    }
    unsigned long crc = crc32_z(0L, (const Bytef *)(len > 0 ? body : ""), len);
    rc = buf_printf(&text, "%s|%s|%s|%lu", h->transmission_id, h->transmission_time, webhook_id,
                    crc);
    if (rc != 0) {
        rc = err_set(err, LUMI_EINVAL, "PayPal webhook id or headers are too long");
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (md == NULL) {
        rc = err_set(err, LUMI_ENOMEM, "out of memory verifying a PayPal signature");
        goto out;
    }
    /* An RSA key defaults to PKCS#1 v1.5 padding, which is what PayPal uses. */
    if (EVP_DigestVerifyInit(md, NULL, cache->sha256, NULL, cert.pkey) != 1) {
        rc = err_set(err, LUMI_EINTERNAL, "cannot set up PayPal signature verification");
        goto out;
    }
    if (EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)text.data, text.len) != 1) {
        rc = err_set(err, LUMI_EINVAL,
                     "PayPal signature does not verify (wrong webhook id, or the body or "
                     "headers were changed)");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        ERR_clear_error(); /* leave no stale OpenSSL errors on this thread */
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(cert.pkey);
    buf_free(&text);
    return rc;
}
