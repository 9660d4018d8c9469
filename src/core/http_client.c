/*
 * http_client.c — the one outbound HTTP client (see http_client.h).
 *
 * Owns: one libcurl easy handle per call (nothing is shared between calls,
 * so any thread may call hc_perform at any time once curl_global_init has
 * run), the mapping of curl's errors onto the hc_class taxonomy, and the
 * process-wide rate-limit registry.
 *
 * Threading: the rate-limit registry is the only shared state; it is a fixed
 * table under one mutex. A caller reserves the next free slot for its key
 * while holding the mutex and sleeps with it released, so callers of one key
 * get a short burst and are then spaced 60/rate_per_minute seconds apart,
 * and other keys are never blocked.
 *
 * Was the request sent? libcurl calls CURLOPT_PREREQFUNCTION once the
 * connection (TLS included) is established, immediately before it writes the
 * request. Any failure after that point may have reached the upstream, so it
 * is reported as ambiguous; any failure before it cannot have (DNS, refused,
 * TLS handshake, connect timeout). This errs on the safe side: a request that
 * was about to be sent but never left counts as "may have been processed",
 * which costs a reconciliation, never a duplicate action. A timeout before
 * that point (TCP connect or TLS handshake) is therefore HC_CONNECTION, not
 * HC_TIMEOUT: nothing reached the upstream.
 *
 * Messages name the upstream by host and port only (parsed with curl_url):
 * never the URL itself, its userinfo, or any header. curl's own error text is
 * added in some cases; any password of the call is scrubbed from it anyway.
 */
#include "core/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/str.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_RESPONSE (8u << 20)
#define HEADERS_MAX (256u << 10)
#define RETRY_AFTER_MAX_S 3600
#define RATE_SLOTS 256
#define HOST_MAX 300
#define MAYBE_PROCESSED " (the request may have been processed)"

/* ---- taxonomy ---- */

const char *hc_class_name(enum hc_class cls)
{
    switch (cls) {
    case HC_OK:
        return "ok";
    case HC_CONNECTION:
        return "connection";
    case HC_TIMEOUT:
        return "timeout";
    case HC_AUTH:
        return "auth";
    case HC_NOT_FOUND:
        return "not_found";
    case HC_INVALID:
        return "invalid";
    case HC_RATE_LIMITED:
        return "rate_limited";
    case HC_UPSTREAM:
        return "upstream";
    case HC_BAD_RESPONSE:
        return "bad_response";
    }
    return "unknown";
}

static bool class_retryable(enum hc_class cls)
{
    switch (cls) {
    case HC_CONNECTION:
    case HC_TIMEOUT:
    case HC_RATE_LIMITED:
    case HC_UPSTREAM:
    case HC_BAD_RESPONSE:
        return true;
    default:
        return false;
    }
}

/* Initialises every field: an error is either fully described or not at all. */
int hc_fail(struct hc_error *e, enum hc_class cls, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    memset(e, 0, sizeof(*e));
    e->cls = cls;
    e->retryable = class_retryable(cls);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- rate limiting ---- */

#define RATE_BURST_S 10 /* a burst may use up to 10 seconds' worth of the budget */

struct rate_slot {
    char *key;
    int64_t next_ns; /* monotonic time of the next free slot */
};

static pthread_mutex_t rate_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rate_slot rate_table[RATE_SLOTS];

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t deadline_ns)
{
    for (;;) {
        int64_t left = deadline_ns - mono_ns();
        if (left <= 0)
            return;
        struct timespec ts = {.tv_sec = left / 1000000000LL, .tv_nsec = left % 1000000000LL};
        nanosleep(&ts, NULL);
    }
}

/*
 * The slot for key: an existing one, else a free one, else one whose next
 * slot is already past (forgetting it changes nothing). NULL only when all
 * RATE_SLOTS keys are busy right now, or out of memory: then no limit applies.
 */
static struct rate_slot *rate_find(const char *key, int64_t now)
{
    struct rate_slot *free_slot = NULL, *stale = NULL;
    for (size_t i = 0; i < RATE_SLOTS; i++) {
        struct rate_slot *s = &rate_table[i];
        if (s->key == NULL) {
            if (free_slot == NULL)
                free_slot = s;
        } else if (strcmp(s->key, key) == 0) {
            return s;
        } else if (s->next_ns <= now && stale == NULL) {
            stale = s;
        }
    }
    struct rate_slot *s = free_slot != NULL ? free_slot : stale;
    if (s == NULL)
        return NULL;
    char *copy = str_dup(key);
    if (copy == NULL)
        return NULL;
    free(s->key);
    s->key = copy;
    s->next_ns = now;
    return s;
}

/*
 * Blocks until key may send again; never fails. A token bucket in its GCRA
 * form: next_ns is the theoretical arrival time of the next request; a
 * request may go up to `tolerance` early, which allows a burst of
 * RATE_BURST_S seconds' worth of requests (panels count per minute, so a
 * short burst is within their limit) while the long-run rate stays at
 * per_minute.
 */
static void rate_wait(const char *key, int per_minute)
{
    if (key == NULL || per_minute <= 0)
        return;
    int64_t interval = 60LL * 1000000000LL / per_minute;
    int64_t burst = (int64_t)per_minute * RATE_BURST_S / 60;
    int64_t tolerance = (burst > 1 ? burst - 1 : 0) * interval;
    int64_t at = 0;
    pthread_mutex_lock(&rate_mu);
    int64_t now = mono_ns();
    struct rate_slot *s = rate_find(key, now);
    if (s != NULL) {
        int64_t tat = s->next_ns > now ? s->next_ns : now;
        at = tat - tolerance > now ? tat - tolerance : 0;
        s->next_ns = tat + interval;
    }
    pthread_mutex_unlock(&rate_mu);
    if (at > 0)
        sleep_until(at);
}

/* ---- one transfer ---- */

struct transfer {
    struct hc_response *res;
    bool too_large; /* body over max_response */
    bool headers_too_large;
    bool sending;         /* CURLOPT_PREREQFUNCTION ran: the request may have left */
    char host[HOST_MAX];  /* for messages: host only */
    char where[HOST_MAX]; /* host:port */
    const char *secrets[3];
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    if (buf_append(&t->res->body, p, size * n) != 0) {
        t->too_large = true;
        return 0;
    }
    return size * n;
}

/* Keeps only the header block of the last answer (after 100 Continue, 3xx). */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        buf_reset(&t->res->headers);
    if (buf_append(&t->res->headers, p, len) != 0) {
        t->headers_too_large = true;
        return 0;
    }
    return len;
}

static int on_prereq(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
    struct transfer *t = arg;
    t->sending = true;
    return CURL_PREREQFUNC_OK;
}

/* Fills t->host and t->where from url; -1 when it is not an absolute http(s) URL. */
static int parse_target(const char *url, struct transfer *t, char **user, char **password)
{
    int rc = -1;
    char *scheme = NULL, *host = NULL, *port = NULL;
    CURLU *u = curl_url();
    if (u == NULL || url == NULL)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
        goto out;
    curl_url_get(u, CURLUPART_USER, user, CURLU_URLDECODE);
    curl_url_get(u, CURLUPART_PASSWORD, password, CURLU_URLDECODE);
    str_copy(t->host, host, sizeof(t->host));
    snprintf(t->where, sizeof(t->where), "%s:%s", host, port);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* Replaces every occurrence of the call's secrets in s with "***". */
static void scrub(char *s, size_t size, const char *const *secrets, size_t nsecrets)
{
    for (size_t i = 0; i < nsecrets; i++) {
        const char *sec = secrets[i];
        if (sec == NULL || strlen(sec) < 3)
            continue;
        size_t slen = strlen(sec);
        char *hit;
        while ((hit = strstr(s, sec)) != NULL) {
            size_t tail = strlen(hit + slen);
            memmove(hit + 3, hit + slen, tail + 1);
            memcpy(hit, "***", 3);
            s[size - 1] = '\0';
        }
    }
}

static bool has_header(const char *const *headers, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        if (strncasecmp(headers[i], name, len) == 0 && headers[i][len] == ':')
            return true;
    return false;
}

static int build_headers(const char *const *headers, struct curl_slist **out)
{
    struct curl_slist *list = NULL, *next;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        next = curl_slist_append(list, headers[i]);
        if (next == NULL)
            goto fail;
        list = next;
    }
    /* No "Expect: 100-continue" round trip (and its 1 s stall) for larger bodies. */
    if (!has_header(headers, "Expect")) {
        next = curl_slist_append(list, "Expect:");
        if (next == NULL)
            goto fail;
        list = next;
    }
    *out = list;
    return 0;
fail:
    curl_slist_free_all(list);
    return -1;
}

static bool method_sends_body(const char *m)
{
    return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static CURLcode setup(CURL *c, const struct hc_request *req, struct transfer *t,
                      struct curl_slist *hdrs, struct curl_slist *pin, size_t max_response)
{
    CURLcode rc = CURLE_OK;
    long cto = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    long to = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    const char *method = req->method != NULL ? req->method : "GET";

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if ((rc = curl_easy_setopt(c, opt, val)) != CURLE_OK)                                      \
            return rc;                                                                             \
    } while (0)
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, cto);
    SET(CURLOPT_TIMEOUT_MS, to);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (req->ca_file != NULL)
        SET(CURLOPT_CAINFO, req->ca_file);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_response);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_PREREQDATA, t);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
    SET(CURLOPT_USERAGENT, "Lumi/" LUMI_VERSION);
    SET(CURLOPT_HTTPHEADER, hdrs);
    if (pin != NULL) {
        SET(CURLOPT_RESOLVE, pin);
        SET(CURLOPT_PROXY, "");
    }
    if (req->basic_user != NULL) {
        SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        SET(CURLOPT_USERNAME, req->basic_user);
        SET(CURLOPT_PASSWORD, req->basic_password != NULL ? req->basic_password : "");
    }
    if (req->body != NULL || method_sends_body(method)) {
        /* An empty body still sends "Content-Length: 0", which some servers require. */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body != NULL ? req->body_len : 0));
        SET(CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
    }
    if (strcmp(method, "HEAD") == 0)
        SET(CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        SET(CURLOPT_CUSTOMREQUEST, method);
    else if (strcmp(method, "GET") == 0 && req->body != NULL)
        SET(CURLOPT_CUSTOMREQUEST, "GET");
#undef SET
    return rc;
}

bool hc_is_tls_error(int curl_code)
{
    switch ((CURLcode)curl_code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return true;
    default:
        return false;
    }
}

static const char *connect_reason(long os_errno, const char *curl_msg)
{
    switch (os_errno) {
    case ECONNREFUSED:
        return "connection refused";
    case ENETUNREACH:
        return "network unreachable";
    case EHOSTUNREACH:
        return "host unreachable";
    case ETIMEDOUT:
        return "timed out";
    default:
        return curl_msg;
    }
}

/* Maps a failed transfer onto the taxonomy. Always returns -1. */
static int transfer_error(CURL *c, CURLcode rc, const struct hc_request *req, struct transfer *t,
                          size_t max_response, struct hc_error *err)
{
    const char *msg = t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(rc);
    long to = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    long cto = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    long os_errno = 0, status = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);

    if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        hc_fail(err, HC_BAD_RESPONSE, "the answer from %s is larger than %zu bytes", t->host,
                max_response);
        /* The upstream answered, so it did act; we just cannot read the outcome. */
        err->ambiguous = true;
        err->http_status = status;
        return -1;
    }
    if (t->headers_too_large) {
        hc_fail(err, HC_BAD_RESPONSE, "the answer from %s has more than %u bytes of headers",
                t->host, HEADERS_MAX);
        err->ambiguous = true;
        err->http_status = status;
        return -1;
    }
    if (rc == CURLE_COULDNT_RESOLVE_HOST)
        return hc_fail(err, HC_CONNECTION, "host %s not found (DNS)", t->host);
    if (rc == CURLE_COULDNT_RESOLVE_PROXY)
        return hc_fail(err, HC_CONNECTION, "the proxy for %s was not found (DNS): %s", t->host,
                       msg);
    if (rc == CURLE_COULDNT_CONNECT)
        return hc_fail(err, HC_CONNECTION, "could not connect to %s: %s", t->where,
                       connect_reason(os_errno, msg));
    if (rc == CURLE_PEER_FAILED_VERIFICATION)
        return hc_fail(err, HC_CONNECTION, "TLS certificate of %s could not be verified: %s",
                       t->host, msg);
    if (hc_is_tls_error(rc) && !t->sending)
        return hc_fail(err, HC_CONNECTION, "TLS connection to %s failed: %s", t->where, msg);
    if (rc == CURLE_OPERATION_TIMEDOUT && !t->sending)
        return hc_fail(err, HC_CONNECTION, "could not connect to %s within %ld ms", t->where,
                       cto < to ? cto : to);
    if (!t->sending)
        return hc_fail(err, HC_CONNECTION, "request to %s failed before it was sent: %s", t->where,
                       msg);

    /* From here on the request may have reached the upstream. */
    if (rc == CURLE_OPERATION_TIMEDOUT)
        hc_fail(err, HC_TIMEOUT, "no answer from %s within %ld ms" MAYBE_PROCESSED, t->host, to);
    else if (rc == CURLE_WEIRD_SERVER_REPLY)
        hc_fail(err, HC_BAD_RESPONSE, "%s sent an answer that is not HTTP" MAYBE_PROCESSED,
                t->host);
    else if (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
             rc == CURLE_PARTIAL_FILE || hc_is_tls_error(rc))
        hc_fail(err, HC_TIMEOUT, "the connection to %s closed before an answer" MAYBE_PROCESSED,
                t->host);
    else
        hc_fail(err, HC_TIMEOUT, "the request to %s failed after it was sent: %s" MAYBE_PROCESSED,
                t->host, msg);
    err->ambiguous = true;
    err->http_status = status;
    return -1;
}

int hc_perform(const struct hc_request *req, struct hc_response *res, struct hc_error *err)
{
    struct hc_error local_err;
    struct transfer *t = NULL;
    struct curl_slist *hdrs = NULL, *pin = NULL;
    CURL *c = NULL;
    char *url_user = NULL, *url_password = NULL;
    int ret = -1;
    size_t max_response = req->max_response > 0 ? req->max_response : DEFAULT_MAX_RESPONSE;

    if (err == NULL)
        err = &local_err;
    memset(err, 0, sizeof(*err));
    res->status = 0;
    res->elapsed_ms = 0;
    buf_init(&res->body, max_response);
    buf_init(&res->headers, HEADERS_MAX);

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        hc_fail(err, HC_CONNECTION, "out of memory");
        goto out;
    }
    t->res = res;
    if (parse_target(req->url, t, &url_user, &url_password) != 0) {
        hc_fail(err, HC_INVALID, "the upstream URL is not an absolute http:// or https:// URL");
        goto out;
    }
    t->secrets[0] = url_password;
    t->secrets[1] = req->basic_password;
    t->secrets[2] = url_user;
    c = curl_easy_init();
    if (req->resolve != NULL)
        pin = curl_slist_append(NULL, req->resolve);
    if (c == NULL || build_headers(req->headers, &hdrs) != 0 ||
        (req->resolve != NULL && pin == NULL)) {
        hc_fail(err, HC_CONNECTION, "could not prepare a request to %s (out of memory)", t->host);
        goto out;
    }
    CURLcode rc = setup(c, req, t, hdrs, pin, max_response);
    if (rc != CURLE_OK) {
        hc_fail(err, HC_CONNECTION, "could not prepare a request to %s: %s", t->host,
                curl_easy_strerror(rc));
        goto out;
    }

    rate_wait(req->rate_key, req->rate_per_minute);
    int64_t start = mono_ns();
    rc = curl_easy_perform(c);
    res->elapsed_ms = (mono_ns() - start) / 1000000;
    if (rc != CURLE_OK) {
        transfer_error(c, rc, req, t, max_response, err);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    if (res->status < 100) {
        hc_fail(err, HC_BAD_RESPONSE, "%s sent no HTTP status", t->host);
        err->ambiguous = true;
        goto out;
    }
    ret = 0;
out:
    if (ret != 0 && t != NULL)
        scrub(err->message, sizeof(err->message), t->secrets, 3);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(pin);
    curl_easy_cleanup(c);
    curl_free(url_user);
    curl_free(url_password);
    free(t);
    return ret;
}

void hc_response_free(struct hc_response *res)
{
    if (res == NULL)
        return;
    buf_free(&res->body);
    buf_free(&res->headers);
}

/* ---- reading answers ---- */

const char *hc_header(const struct hc_response *res, const char *name, char *out, size_t outsz)
{
    if (res == NULL || name == NULL || out == NULL || outsz == 0)
        return NULL;
    const char *p = buf_cstr(&res->headers);
    size_t nlen = strlen(name);
    while (*p != '\0') {
        const char *eol = strchr(p, '\n');
        const char *end = eol != NULL ? eol : p + strlen(p);
        if ((size_t)(end - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = end;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t n = (size_t)(ve - v);
            if (n >= outsz)
                n = outsz - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    return NULL;
}

/* Retry-After as delta-seconds or an HTTP-date, clamped to [0, RETRY_AFTER_MAX_S]. */
static int retry_after(const struct hc_response *res)
{
    char v[128];
    int64_t n = 0;
    if (hc_header(res, "Retry-After", v, sizeof(v)) == NULL || v[0] == '\0')
        return 0;
    if (v[0] >= '0' && v[0] <= '9') {
        size_t len = strspn(v, "0123456789");
        if (len != strlen(v))
            return 0;
        if (len > 10)
            return RETRY_AFTER_MAX_S;
        if (str_to_i64(v, len, 0, INT64_MAX, &n) != 0)
            return 0;
        return n > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (int)n;
    }
    time_t at = curl_getdate(v, NULL);
    if (at == (time_t)-1)
        return 0;
    int64_t delta = (int64_t)at - (int64_t)time(NULL);
    if (delta <= 0)
        return 0;
    return delta > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (int)delta;
}

static enum hc_class status_class(long s)
{
    switch (s) {
    case 401:
    case 403:
        return HC_AUTH;
    case 404:
    case 410:
        return HC_NOT_FOUND;
    case 408:
        return HC_TIMEOUT;
    case 423:
        return HC_UPSTREAM;
    case 429:
        return HC_RATE_LIMITED;
    default:
        break;
    }
    if (s >= 500 && s <= 599)
        return HC_UPSTREAM;
    if (s >= 400 && s <= 499)
        return HC_INVALID;
    return HC_BAD_RESPONSE;
}

int hc_classify(const struct hc_response *res, const char *what, struct hc_error *err)
{
    long s = res->status;
    const char *name = what != NULL ? what : "the upstream";
    if (s >= 200 && s <= 399) {
        if (err != NULL)
            memset(err, 0, sizeof(*err));
        return 0;
    }
    enum hc_class cls = status_class(s);
    int ra = (s == 429 || s == 503) ? retry_after(res) : 0;
    if (s == 423)
        hc_fail(err, cls, "%s answered HTTP 423 (locked)", name);
    else if (ra > 0)
        hc_fail(err, cls, "%s answered HTTP %ld (retry after %d s)", name, s, ra);
    else
        hc_fail(err, cls, "%s answered HTTP %ld", name, s);
    if (err != NULL) {
        err->http_status = s;
        err->retry_after_s = ra;
    }
    return -1;
}

/* ---- URLs ---- */

int hc_url_escape(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        int rc;
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            rc = buf_append_char(out, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = buf_append(out, e, 3);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}
