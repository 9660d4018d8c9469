/*
 * test_http_client.c — the outbound HTTP client against a fake upstream:
 * answers and headers read back, methods and Basic auth on the wire, every
 * injected fault mapped to the right class (retryable, ambiguous), transport
 * failures (refused, DNS, TLS to a plain server, oversize answers), status
 * classification, credentials kept out of messages, per-key rate limiting,
 * URL escaping, and the fake's own query/form decoding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/http_client.h"
#include "fakes/fake_http.h"

#define FIELD_MAX 128

struct upstream {
    int hits; /* handler runs */
    /* what /q saw through fake_query / fake_form ("<null>" when absent) */
    char email[FIELD_MAX], plain[FIELD_MAX], id[FIELD_MAX], missing[FIELD_MAX];
    char name[FIELD_MAX], empty[FIELD_MAX], bare[FIELD_MAX], nofield[FIELD_MAX];
    char accept_hdr[FIELD_MAX];
};

static void keep(char *dst, const char *v)
{
    snprintf(dst, FIELD_MAX, "%s", v != NULL ? v : "<null>");
}

static void keep_owned(char *dst, char *v)
{
    keep(dst, v);
    free(v);
}

static void handler(void *state, const struct fake_request *r, struct fake_response *w)
{
    struct upstream *u = state;
    u->hits++;
    if (strcmp(r->path, "/hello") == 0) {
        fake_reply(w, 200, "application/json", "{\"ok\":true}");
        fake_add_header(w, "X-Test", "yes");
    } else if (strcmp(r->path, "/echo") == 0) {
        fake_reply(w, 201, "text/plain", r->body);
    } else if (strcmp(r->path, "/big") == 0) {
        char *big = malloc(100001);
        assert_non_null(big);
        memset(big, 'x', 100000);
        big[100000] = '\0';
        fake_reply(w, 200, "text/plain", big);
        free(big);
    } else if (strcmp(r->path, "/q") == 0) {
        keep(u->email, fake_query(r, "filter[email]"));
        keep(u->plain, fake_query(r, "plain"));
        keep(u->id, fake_query(r, "filter[id]"));
        keep(u->missing, fake_query(r, "nope"));
        keep_owned(u->name, fake_form(r, "name"));
        keep_owned(u->empty, fake_form(r, "empty"));
        keep_owned(u->bare, fake_form(r, "bare"));
        keep_owned(u->nofield, fake_form(r, "nope"));
        keep(u->accept_hdr, fake_header(r, "accept"));
        fake_reply(w, 204, NULL, "");
    } else {
        fake_reply(w, 404, "application/json", "{\"error\":\"not found\"}");
    }
}

struct env {
    struct upstream u;
    struct fake_server *f;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->f = fake_start(handler, &e->u);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    fake_stop(e->f);
    free(e);
    return 0;
}

static int hits(struct env *e)
{
    fake_lock(e->f);
    int n = e->u.hits;
    fake_unlock(e->f);
    return n;
}

static char *url_of(struct env *e, const char *path)
{
    static char url[256];
    snprintf(url, sizeof(url), "%s%s", fake_url(e->f), path);
    return url;
}

static int get(const char *url, struct hc_response *res, struct hc_error *err)
{
    struct hc_request req = {.method = "GET", .url = url, .timeout_ms = 5000};
    return hc_perform(&req, res, err);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static void assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL)
        fail_msg("\"%s\" contains \"%s\"", hay, needle);
}

/* A port on 127.0.0.1 where nothing listens (bound, then released). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- answers ---- */

static void ok_answer_gives_body_and_headers(void **state)
{
    struct env *e = *state;
    struct hc_response res;
    struct hc_error err;
    char v[64];
    assert_int_equal(get(url_of(e, "/hello"), &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(buf_cstr(&res.body), "{\"ok\":true}");
    assert_string_equal(hc_header(&res, "x-test", v, sizeof(v)), "yes");
    assert_string_equal(hc_header(&res, "Content-Type", v, sizeof(v)), "application/json");
    assert_null(hc_header(&res, "X-Absent", v, sizeof(v)));
    assert_int_equal(hc_classify(&res, "Fake", &err), 0);
    assert_int_equal(err.cls, HC_OK);
    assert_true(res.elapsed_ms >= 0);
    hc_response_free(&res);
}

static void methods_body_headers_and_basic_auth_reach_the_upstream(void **state)
{
    struct env *e = *state;
    const char *hdrs[] = {"Content-Type: application/json", "Accept: application/vnd.x+json", NULL};
    const char *methods[] = {"PATCH", "PUT", "POST", "DELETE"};
    for (size_t i = 0; i < 4; i++) {
        struct hc_request req = {.method = methods[i],
                                 .url = url_of(e, "/echo"),
                                 .headers = hdrs,
                                 .body = "{\"a\":1}",
                                 .body_len = 7,
                                 .basic_user = "alice",
                                 .basic_password = "s3:cret"};
        struct hc_response res;
        struct hc_error err;
        assert_int_equal(hc_perform(&req, &res, &err), 0);
        assert_int_equal(res.status, 201);
        assert_string_equal(buf_cstr(&res.body), "{\"a\":1}");
        hc_response_free(&res);

        struct fake_recorded r;
        assert_int_equal(fake_recorded(e->f, i, &r), 0);
        assert_string_equal(r.method, methods[i]);
        assert_string_equal(r.path, "/echo");
        assert_string_equal(r.query, "");
        assert_string_equal(r.body, "{\"a\":1}");
        assert_string_equal(r.content_type, "application/json");
        assert_string_equal(r.accept, "application/vnd.x+json");
        assert_string_equal(r.basic_user, "alice");
        assert_true(strncmp(r.authorization, "Basic ", 6) == 0);
        fake_recorded_free(&r);
    }
    /* DELETE without a body, and a GET, carry no Basic auth when none is given. */
    struct hc_request del = {.method = "DELETE", .url = url_of(e, "/echo")};
    struct hc_response res;
    assert_int_equal(hc_perform(&del, &res, NULL), 0);
    hc_response_free(&res);
    struct fake_recorded r;
    assert_int_equal(fake_find_last(e->f, "DELETE", "/echo", &r), 0);
    assert_string_equal(r.body, "");
    assert_null(r.authorization);
    assert_null(r.basic_user);
    fake_recorded_free(&r);
    assert_int_equal(fake_request_count(e->f), 5);
    assert_int_equal(fake_find_last(e->f, "GET", "/echo", &r), -1);
    fake_recorded_free(&r);
}

/* ---- faults ---- */

static void fault_500_is_upstream_and_retryable(void **state)
{
    struct env *e = *state;
    struct hc_response res;
    struct hc_error err;
    fake_fault(e->f, FAKE_FAULT_500, 1, 0, NULL);
    assert_int_equal(get(url_of(e, "/hello"), &res, &err), 0);
    assert_int_equal(res.status, 500);
    assert_int_equal(hc_classify(&res, "Fake", &err), -1);
    assert_int_equal(err.cls, HC_UPSTREAM);
    assert_true(err.retryable);
    assert_false(err.ambiguous);
    assert_int_equal(err.http_status, 500);
    assert_string_equal(err.message, "Fake answered HTTP 500");
    assert_int_equal(hits(e), 0);
    hc_response_free(&res);
    /* the fault was for one request only */
    assert_int_equal(get(url_of(e, "/hello"), &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(hits(e), 1);
    hc_response_free(&res);
}

static void fault_path_filter_and_count(void **state)
{
    struct env *e = *state;
    struct hc_response res;
    fake_fault(e->f, FAKE_FAULT_500, 2, 0, "/hel");
    long want[] = {201, 500, 500, 200};
    const char *paths[] = {"/echo", "/hello", "/hello", "/hello"};
    for (size_t i = 0; i < 4; i++) {
        struct hc_request req = {.method = i == 0 ? "POST" : "GET", .url = url_of(e, paths[i])};
        assert_int_equal(hc_perform(&req, &res, NULL), 0);
        assert_int_equal(res.status, want[i]);
        hc_response_free(&res);
    }
    assert_int_equal(fake_request_count(e->f), 4);
    fake_clear_requests(e->f);
    assert_int_equal(fake_request_count(e->f), 0);
}

static void fault_429_is_rate_limited_with_retry_after(void **state)
{
    struct env *e = *state;
    struct hc_response res;
    struct hc_error err;
    fake_fault(e->f, FAKE_FAULT_429, 1, 7, NULL);
    assert_int_equal(get(url_of(e, "/hello"), &res, &err), 0);
    assert_int_equal(res.status, 429);
    assert_int_equal(hc_classify(&res, "Fake", &err), -1);
    assert_int_equal(err.cls, HC_RATE_LIMITED);
    assert_true(err.retryable);
    assert_int_equal(err.retry_after_s, 7);
    assert_contains(err.message, "HTTP 429");
    hc_response_free(&res);
}

static void slow_answer_times_out_ambiguously(void **state)
{
    struct env *e = *state;
    struct hc_response res;
    struct hc_error err;
    fake_fault(e->f, FAKE_FAULT_SLOW, 1, 600, NULL);
    struct hc_request req = {.method = "POST", .url = url_of(e, "/hello"), .timeout_ms = 150};
    assert_int_equal(hc_perform(&req, &res, &err), -1);
    assert_int_equal(err.cls, HC_TIMEOUT);
    assert_true(err.retryable);
    assert_true(err.ambiguous);
    assert_int_equal(err.http_status, 0);
    assert_contains(err.message, "no answer from 127.0.0.1 within 150 ms");
    assert_contains(err.message, "may have been processed");
    assert_string_equal(hc_class_name(err.cls), "timeout");
    hc_response_free(&res);
}

static void drop_after_handler_is_ambiguous_and_the_upstream_acted(void **state)
{
    struct env *e = *state;
    struct hc_response res;
    struct hc_error err;
    fake_fault(e->f, FAKE_FAULT_DROP_AFTER, 1, 0, NULL);
    struct hc_request req = {
        .method = "POST", .url = url_of(e, "/hello"), .body = "x", .body_len = 1};
    assert_int_equal(hc_perform(&req, &res, &err), -1);
    assert_int_equal(err.cls, HC_TIMEOUT);
    assert_true(err.retryable);
    assert_true(err.ambiguous);
    assert_contains(err.message, "closed before an answer");
    assert_contains(err.message, "127.0.0.1");
    assert_int_equal(hits(e), 1);
    assert_int_equal(res.status, 0);
    hc_response_free(&res);
}

/* The client cannot tell a drop before the handler from one after it: still ambiguous. */
static void drop_before_handler_is_retryable(void **state)
{
    struct env *e = *state;
    struct hc_response res;
    struct hc_error err;
    fake_fault(e->f, FAKE_FAULT_DROP_BEFORE, 1, 0, NULL);
    assert_int_equal(get(url_of(e, "/hello"), &res, &err), -1);
    assert_int_equal(err.cls, HC_TIMEOUT);
    assert_true(err.retryable);
    assert_true(err.ambiguous);
    assert_int_equal(hits(e), 0);
    assert_int_equal(fake_request_count(e->f), 1);
    hc_response_free(&res);
}

static void malformed_and_html_answers_pass_the_transport(void **state)
{
    struct env *e = *state;
    struct hc_response res;
    struct hc_error err;
    char v[64];
    fake_fault(e->f, FAKE_FAULT_MALFORMED, 1, 0, NULL);
    assert_int_equal(get(url_of(e, "/hello"), &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_string_equal(buf_cstr(&res.body), "{\"data\": [unterminated");
    assert_int_equal(hits(e), 1);
    hc_response_free(&res);

    fake_fault(e->f, FAKE_FAULT_HTML, 1, 0, NULL);
    assert_int_equal(get(url_of(e, "/hello"), &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_contains(buf_cstr(&res.body), "<html");
    assert_contains(hc_header(&res, "content-type", v, sizeof(v)), "text/html");
    assert_int_equal(hits(e), 1);
    hc_response_free(&res);
}

/* ---- transport failures ---- */

static void refused_connection_is_not_ambiguous_and_names_host_port(void **state)
{
    (void)state;
    char url[128], where[64];
    int port = closed_port();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
    snprintf(where, sizeof(where), "127.0.0.1:%d", port);
    struct hc_response res;
    struct hc_error err;
    assert_int_equal(get(url, &res, &err), -1);
    assert_int_equal(err.cls, HC_CONNECTION);
    assert_true(err.retryable);
    assert_false(err.ambiguous);
    assert_contains(err.message, where);
    assert_contains(err.message, "connection refused");
    hc_response_free(&res);
}

static void unknown_host_is_a_dns_failure(void **state)
{
    (void)state;
    struct hc_response res;
    struct hc_error err;
    assert_int_equal(get("http://nonexistent.invalid/api", &res, &err), -1);
    assert_int_equal(err.cls, HC_CONNECTION);
    assert_false(err.ambiguous);
    assert_contains(err.message, "nonexistent.invalid");
    assert_contains(err.message, "DNS");
    hc_response_free(&res);
}

static void tls_to_a_plain_server_is_a_connection_failure(void **state)
{
    struct env *e = *state;
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/hello", fake_port(e->f));
    struct hc_request req = {.method = "POST", .url = url, .connect_timeout_ms = 2000};
    struct hc_response res;
    struct hc_error err;
    assert_int_equal(hc_perform(&req, &res, &err), -1);
    assert_int_equal(err.cls, HC_CONNECTION);
    assert_false(err.ambiguous);
    assert_contains(err.message, "127.0.0.1");
    assert_int_equal(hits(e), 0);
    hc_response_free(&res);
}

static void answer_over_the_limit_is_a_bad_response(void **state)
{
    struct env *e = *state;
    struct hc_request req = {.method = "GET", .url = url_of(e, "/big"), .max_response = 1000};
    struct hc_response res;
    struct hc_error err;
    assert_int_equal(hc_perform(&req, &res, &err), -1);
    assert_int_equal(err.cls, HC_BAD_RESPONSE);
    assert_true(err.retryable);
    assert_contains(err.message, "larger than 1000 bytes");
    assert_true(res.body.len <= 1000);
    hc_response_free(&res);

    req.max_response = 0; /* default 8 MiB */
    assert_int_equal(hc_perform(&req, &res, &err), 0);
    assert_int_equal(res.body.len, 100000);
    hc_response_free(&res);
}

static void bad_urls_are_refused_before_sending(void **state)
{
    (void)state;
    const char *urls[] = {"ftp://127.0.0.1/x", "file:///etc/passwd", "/relative", "not a url"};
    for (size_t i = 0; i < 4; i++) {
        struct hc_response res;
        struct hc_error err;
        assert_int_equal(get(urls[i], &res, &err), -1);
        assert_int_equal(err.cls, HC_INVALID);
        assert_false(err.retryable);
        hc_response_free(&res);
    }
}

static void credentials_never_appear_in_messages(void **state)
{
    struct env *e = *state;
    char url[160];
    struct hc_response res;
    struct hc_error err;

    snprintf(url, sizeof(url), "http://bob:hunter2secret@127.0.0.1:%d/x", closed_port());
    struct hc_request req = {
        .method = "GET", .url = url, .basic_password = "otherpass99", .basic_user = "bob"};
    assert_int_equal(hc_perform(&req, &res, &err), -1);
    assert_lacks(err.message, "hunter2secret");
    assert_lacks(err.message, "bob:");
    hc_response_free(&res);

    req.url = "http://bob:hunter2secret@nonexistent.invalid/x";
    assert_int_equal(hc_perform(&req, &res, &err), -1);
    assert_lacks(err.message, "hunter2secret");
    assert_lacks(err.message, "otherpass99");
    hc_response_free(&res);

    snprintf(url, sizeof(url), "http://bob:hunter2secret@127.0.0.1:%d/hello", fake_port(e->f));
    req.url = url;
    fake_fault(e->f, FAKE_FAULT_DROP_AFTER, 1, 0, NULL);
    assert_int_equal(hc_perform(&req, &res, &err), -1);
    assert_lacks(err.message, "hunter2secret");
    assert_lacks(err.message, "otherpass99");
    hc_response_free(&res);

    fake_fault(e->f, FAKE_FAULT_SLOW, 1, 400, NULL);
    req.timeout_ms = 100;
    assert_int_equal(hc_perform(&req, &res, &err), -1);
    assert_lacks(err.message, "hunter2secret");
    hc_response_free(&res);
}

/* ---- classification ---- */

static void classify(long status, const char *headers, struct hc_error *err, int want_rc)
{
    struct hc_response res = {.status = status};
    buf_init(&res.body, 0);
    buf_init(&res.headers, 4096);
    if (headers != NULL)
        assert_int_equal(buf_append_str(&res.headers, headers), 0);
    assert_int_equal(hc_classify(&res, "Pterodactyl", err), want_rc);
    hc_response_free(&res);
}

static void statuses_map_to_classes(void **state)
{
    (void)state;
    struct {
        long status;
        enum hc_class cls;
        bool retryable;
    } cases[] = {
        {401, HC_AUTH, false},    {403, HC_AUTH, false},        {404, HC_NOT_FOUND, false},
        {400, HC_INVALID, false}, {409, HC_INVALID, false},     {422, HC_INVALID, false},
        {423, HC_UPSTREAM, true}, {429, HC_RATE_LIMITED, true}, {500, HC_UPSTREAM, true},
        {502, HC_UPSTREAM, true}, {503, HC_UPSTREAM, true},     {504, HC_UPSTREAM, true},
    };
    struct hc_error err;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        classify(cases[i].status, NULL, &err, -1);
        assert_int_equal(err.cls, cases[i].cls);
        assert_int_equal(err.retryable, cases[i].retryable);
        assert_int_equal(err.http_status, cases[i].status);
        assert_false(err.ambiguous);
        char want[64];
        snprintf(want, sizeof(want), "Pterodactyl answered HTTP %ld", cases[i].status);
        assert_contains(err.message, want);
    }
    long ok[] = {200, 201, 204, 302};
    for (size_t i = 0; i < 4; i++) {
        classify(ok[i], NULL, &err, 0);
        assert_int_equal(err.cls, HC_OK);
    }
}

static void retry_after_forms_are_parsed_and_capped(void **state)
{
    (void)state;
    struct hc_error err;
    classify(429, "HTTP/1.1 429 Too Many Requests\r\nretry-after:  12 \r\n\r\n", &err, -1);
    assert_int_equal(err.retry_after_s, 12);
    classify(429, "HTTP/1.1 429 x\r\nRetry-After: 99999999999999999999\r\n\r\n", &err, -1);
    assert_int_equal(err.retry_after_s, 3600);
    classify(429, "HTTP/1.1 429 x\r\nRetry-After: soon\r\n\r\n", &err, -1);
    assert_int_equal(err.retry_after_s, 0);
    classify(429, "HTTP/1.1 429 x\r\nRetry-After: -5\r\n\r\n", &err, -1);
    assert_int_equal(err.retry_after_s, 0);
    classify(429, "HTTP/1.1 429 x\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n", &err, -1);
    assert_int_equal(err.retry_after_s, 0); /* in the past */

    char hdrs[256], date[64];
    time_t at = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(hdrs, sizeof(hdrs), "HTTP/1.1 503 x\r\nRetry-After: %s\r\n\r\n", date);
    classify(503, hdrs, &err, -1);
    assert_int_equal(err.cls, HC_UPSTREAM);
    assert_true(err.retry_after_s >= 115 && err.retry_after_s <= 120);
    at = time(NULL) + 86400;
    gmtime_r(&at, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(hdrs, sizeof(hdrs), "HTTP/1.1 429 x\r\nRetry-After: %s\r\n\r\n", date);
    classify(429, hdrs, &err, -1);
    assert_int_equal(err.retry_after_s, 3600);
}

static void hc_fail_derives_retryable_from_the_class(void **state)
{
    (void)state;
    struct hc_error err;
    enum hc_class yes[] = {HC_CONNECTION, HC_TIMEOUT, HC_RATE_LIMITED, HC_UPSTREAM,
                           HC_BAD_RESPONSE};
    enum hc_class no[] = {HC_AUTH, HC_NOT_FOUND, HC_INVALID};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(hc_fail(&err, yes[i], "x %d", 1), -1);
        assert_true(err.retryable);
        assert_string_equal(err.message, "x 1");
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(hc_fail(&err, no[i], "y"), -1);
        assert_false(err.retryable);
    }
    assert_string_equal(hc_class_name(HC_BAD_RESPONSE), "bad_response");
    assert_string_equal(hc_class_name(HC_RATE_LIMITED), "rate_limited");
    assert_string_equal(hc_class_name(HC_NOT_FOUND), "not_found");
    assert_int_equal(hc_fail(NULL, HC_AUTH, "z"), -1);
}

/* ---- rate limiting, escaping ---- */

static void rate_limit_allows_a_burst_then_spaces_calls(void **state)
{
    struct env *e = *state;
    /* 120 a minute: a burst of 10 s worth (20 calls) goes at once, then one every 500 ms. */
    int64_t start = now_ms(), burst_done = 0;
    for (int i = 0; i < 22; i++) {
        struct hc_request req = {.method = "GET",
                                 .url = url_of(e, "/hello"),
                                 .rate_key = "test-rate-key",
                                 .rate_per_minute = 120};
        struct hc_response res;
        assert_int_equal(hc_perform(&req, &res, NULL), 0);
        hc_response_free(&res);
        if (i == 19)
            burst_done = now_ms() - start;
    }
    int64_t took = now_ms() - start;
    /* Spaced evenly (no burst) the first 20 calls would take at least 9.5 s; the
     * bound leaves room for a loaded machine under the sanitizers. */
    if (burst_done >= 4000)
        fail_msg("the first 20 calls took %lld ms; a burst should not wait", (long long)burst_done);
    if (took < 950)
        fail_msg("22 calls at 120/min took %lld ms, expected >= 1000", (long long)took);
    assert_int_equal(hits(e), 22);
}

static void url_escape_keeps_only_unreserved(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(buf_append_str(&b, "/users/"), 0);
    assert_int_equal(hc_url_escape(&b, "a b/c?d=e&f~_.-\xc3\xa9+%"), 0);
    assert_string_equal(buf_cstr(&b), "/users/a%20b%2Fc%3Fd%3De%26f~_.-%C3%A9%2B%25");
    buf_free(&b);

    buf_init(&b, 4);
    assert_true(hc_url_escape(&b, "a b") != 0);
    buf_free(&b);
}

/* ---- the fake itself ---- */

static void fake_decodes_query_and_form(void **state)
{
    struct env *e = *state;
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", "Accept: text/csv",
                          NULL};
    const char *body = "name=J%C3%B6rg+Doe&empty=&bare&junk=%zz";
    struct hc_request req = {
        .method = "POST",
        .url = url_of(e, "/q?filter%5Bemail%5D=a%2Bb%40x.com&plain=x+y&filter[id]=5&plain=2"),
        .headers = hdrs,
        .body = body,
        .body_len = strlen(body)};
    struct hc_response res;
    assert_int_equal(hc_perform(&req, &res, NULL), 0);
    assert_int_equal(res.status, 204);
    hc_response_free(&res);

    fake_lock(e->f);
    assert_string_equal(e->u.email, "a+b@x.com");
    assert_string_equal(e->u.plain, "x y");
    assert_string_equal(e->u.id, "5");
    assert_string_equal(e->u.missing, "<null>");
    assert_string_equal(e->u.name, "J\xc3\xb6rg Doe");
    assert_string_equal(e->u.empty, "");
    assert_string_equal(e->u.bare, "");
    assert_string_equal(e->u.nofield, "<null>");
    assert_string_equal(e->u.accept_hdr, "text/csv");
    fake_unlock(e->f);

    struct fake_recorded r;
    assert_int_equal(fake_find_last(e->f, "POST", "/q", &r), 0);
    assert_string_equal(r.query, "filter%5Bemail%5D=a%2Bb%40x.com&plain=x+y&filter[id]=5&plain=2");
    assert_string_equal(r.body, body);
    fake_recorded_free(&r);

    /* the recorded path is not decoded */
    assert_int_equal(get(url_of(e, "/a%20b"), &res, NULL), 0);
    assert_int_equal(res.status, 404);
    hc_response_free(&res);
    assert_int_equal(fake_recorded(e->f, 1, &r), 0);
    assert_string_equal(r.path, "/a%20b");
    fake_recorded_free(&r);
    assert_int_equal(fake_recorded(e->f, 2, &r), -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        T(ok_answer_gives_body_and_headers),
        T(methods_body_headers_and_basic_auth_reach_the_upstream),
        T(fault_500_is_upstream_and_retryable),
        T(fault_path_filter_and_count),
        T(fault_429_is_rate_limited_with_retry_after),
        T(slow_answer_times_out_ambiguously),
        T(drop_after_handler_is_ambiguous_and_the_upstream_acted),
        T(drop_before_handler_is_retryable),
        T(malformed_and_html_answers_pass_the_transport),
        T(refused_connection_is_not_ambiguous_and_names_host_port),
        T(unknown_host_is_a_dns_failure),
        T(tls_to_a_plain_server_is_a_connection_failure),
        T(answer_over_the_limit_is_a_bad_response),
        T(bad_urls_are_refused_before_sending),
        T(credentials_never_appear_in_messages),
        T(statuses_map_to_classes),
        T(retry_after_forms_are_parsed_and_capped),
        T(hc_fail_derives_retryable_from_the_class),
        T(rate_limit_allows_a_burst_then_spaces_calls),
        T(url_escape_keeps_only_unreserved),
        T(fake_decodes_query_and_form),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
