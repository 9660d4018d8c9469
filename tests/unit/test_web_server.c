/*
 * test_web_server.c — the HTTP server in-process, driven over real sockets
 * with the test client: routing, limits, envelopes, request ids, the worker
 * queue (503), the queue deadline and graceful stop.
 *
 * Handlers here do not use the database (each worker still opens its own
 * SQLite connection in a temporary directory). Blocking handlers coordinate
 * with the test through one mutex + condition variable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/str.h"
#include "support/httpc.h"
#include "web/server.h"

/* ---- handlers ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_started; /* handlers that reached the gate */
static bool gate_open;

static void gate_reset(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_started = 0;
    gate_open = false;
    pthread_mutex_unlock(&gate_lock);
}

static void gate_release(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Waits until n handlers have started (10 s at most). */
static void gate_wait_started(int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&gate_lock);
    while (gate_started < n)
        if (pthread_cond_timedwait(&gate_cond, &gate_lock, &until) != 0)
            break;
    int started = gate_started;
    pthread_mutex_unlock(&gate_lock);
    assert_int_equal(started, n);
}

static void h_thing(struct web_req *req, struct web_resp *resp)
{
    web_reply_json(resp, 200,
                   json_pack("{s:s s:s? s:I s:s}", "id", web_param(req, "id"), "q",
                             web_query(req, "q"), "n", (json_int_t)web_param_id(req, "id"),
                             "method", req->method));
}

static void h_part(struct web_req *req, struct web_resp *resp)
{
    web_reply_json(
        resp, 200,
        json_pack("{s:s s:s}", "id", web_param(req, "id"), "part", web_param(req, "part")));
}

static void h_thing_delete(struct web_req *req, struct web_resp *resp)
{
    web_reply_text(resp, 204, "text/plain", "", 0);
}

static void h_create(struct web_req *req, struct web_resp *resp)
{
    json_t *body = web_json_body(req, resp);
    if (body == NULL)
        return;
    web_reply_json(resp, 201, body);
}

static void h_echo(struct web_req *req, struct web_resp *resp)
{
    web_reply_text(resp, 200, "application/octet-stream", req->body, req->body_len);
}

static void h_silent(struct web_req *req, struct web_resp *resp)
{
}

static void h_headers(struct web_req *req, struct web_resp *resp)
{
    web_add_header(resp, "X-Extra", "yes");
    web_reply_json(resp, 200,
                   json_pack("{s:s? s:s? s:s? s:s}", "x_test", web_header(req, "x-TEST"), "sid",
                             web_cookie(req, "sid"), "ua", req->user_agent, "ip", req->client_ip));
}

static void h_api_ping(struct web_req *req, struct web_resp *resp)
{
    web_reply_json(resp, 200, json_pack("{s:b}", "pong", 1));
}

static void h_redirect(struct web_req *req, struct web_resp *resp)
{
    web_redirect(resp, "/things/1");
}

static void h_error(struct web_req *req, struct web_resp *resp)
{
    struct lumi_err err;
    err_set(&err, LUMI_ECONFLICT, "name 'x' is taken");
    web_reply_err(resp, &err);
}

static void h_block(struct web_req *req, struct web_resp *resp)
{
    pthread_mutex_lock(&gate_lock);
    gate_started++;
    pthread_cond_broadcast(&gate_cond);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    web_reply_json(resp, 200, json_pack("{s:s}", "path", req->path));
}

static void h_slow(struct web_req *req, struct web_resp *resp)
{
    pthread_mutex_lock(&gate_lock);
    gate_started++;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    usleep(1000 * 1000);
    web_reply_json(resp, 200, json_pack("{s:b}", "slow", 1));
}

/* No staff roles here (issue 16): public routes leave the roles field out. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct web_route test_routes[] = {
    {"GET", "/things/{id}", WEB_AUTH_PUBLIC, h_thing},
    {"DELETE", "/things/{id}", WEB_AUTH_PUBLIC, h_thing_delete},
    {"GET", "/things/{id}/parts/{part}", WEB_AUTH_PUBLIC, h_part},
    {"POST", "/things", WEB_AUTH_PUBLIC, h_create},
    {"POST", "/echo", WEB_AUTH_PUBLIC, h_echo},
    {"GET", "/silent", WEB_AUTH_PUBLIC, h_silent},
    {"GET", "/headers", WEB_AUTH_PUBLIC, h_headers},
    {"GET", "/api/ping", WEB_AUTH_PUBLIC, h_api_ping},
    {"GET", "/redirect", WEB_AUTH_PUBLIC, h_redirect},
    {"GET", "/conflict", WEB_AUTH_PUBLIC, h_error},
    {"GET", "/block", WEB_AUTH_PUBLIC, h_block},
    {"GET", "/slow", WEB_AUTH_PUBLIC, h_slow},
    {NULL, NULL, WEB_AUTH_PUBLIC, NULL},
};

/* ---- fixtures ---- */

static char tmpdir[256];
static char dburl[512];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static int group_setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    if (crypto_init() != 0)
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lumi-webtest-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(dburl, sizeof dburl, "sqlite:%s/x.db", tmpdir);
    return 0;
}

static int group_teardown(void **state)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static struct web_config config(int workers, int queue_max, int timeout_s)
{
    return (struct web_config){
        .listen = "127.0.0.1:0",
        .database_url = dburl,
        .max_body = 1024,
        .io_threads = 2,
        .workers = workers,
        .queue_max = queue_max,
        .request_timeout_s = timeout_s,
        .routes = test_routes,
    };
}

static struct web_server *start(const struct web_config *cfg)
{
    struct lumi_err err;
    err_clear(&err);
    struct web_server *s = web_server_start(cfg, &err);
    if (s == NULL)
        fail_msg("web_server_start: %s", err.msg);
    assert_true(web_server_port(s) > 0);
    return s;
}

static int setup_server(void **state)
{
    struct web_config cfg = config(2, 16, 10);
    *state = start(&cfg);
    gate_reset();
    return 0;
}

static int teardown_server(void **state)
{
    web_server_stop(*state);
    return 0;
}

static void url_of(struct web_server *s, const char *path, char *out, size_t outsz)
{
    snprintf(out, outsz, "http://127.0.0.1:%d%s", web_server_port(s), path);
}

/* Sends a request to the server; fails the test on a transport error. */
static void call(struct web_server *s, const char *method, const char *path,
                 const char *const *headers, const char *body, struct http_result *r)
{
    char url[256];
    url_of(s, path, url, sizeof url);
    if (http_request(method, url, headers, body, r) != 0)
        fail_msg("%s %s: %s", method, path, buf_cstr(&r->body));
}

static void assert_envelope(const struct http_result *r, long status, const char *code)
{
    assert_int_equal(r->status, status);
    assert_non_null(r->json);
    assert_string_equal(http_error_code(r), code);
    json_t *msg = json_object_get(json_object_get(r->json, "error"), "message");
    assert_true(json_is_string(msg));
    assert_true(json_string_length(msg) > 0);
}

static void assert_header(const struct http_result *r, const char *name, const char *want)
{
    char *v = http_header(r, name);
    if (v == NULL)
        fail_msg("no %s header in:\n%s", name, buf_cstr(&r->headers));
    assert_string_equal(v, want);
    free(v);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A request on its own thread, for the tests that need several at once. */
struct async_call {
    struct web_server *server;
    const char *path;
    struct http_result res;
    int rc;
    pthread_t thread;
    _Atomic bool done;
};

static void *async_main(void *arg)
{
    struct async_call *a = arg;
    char url[256];
    url_of(a->server, a->path, url, sizeof url);
    a->rc = http_request("GET", url, NULL, NULL, &a->res);
    a->done = true;
    return NULL;
}

static void async_start(struct async_call *a, struct web_server *s, const char *path)
{
    memset(a, 0, sizeof *a);
    a->server = s;
    a->path = path;
    assert_int_equal(pthread_create(&a->thread, NULL, async_main, a), 0);
}

static void async_join(struct async_call *a)
{
    pthread_join(a->thread, NULL);
}

/* ---- routing ---- */

static void test_route_params_and_query(void **state)
{
    struct http_result r;
    call(*state, "GET", "/things/42?q=hello%20world&other=1", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "42");
    assert_string_equal(json_string_value(json_object_get(r.json, "q")), "hello world");
    assert_int_equal(json_integer_value(json_object_get(r.json, "n")), 42);
    http_result_free(&r);

    call(*state, "GET", "/things/abc", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "abc");
    assert_true(json_is_null(json_object_get(r.json, "q")));
    assert_int_equal(json_integer_value(json_object_get(r.json, "n")), 0);
    http_result_free(&r);

    call(*state, "GET", "/things/7/parts/wheel", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "id")), "7");
    assert_string_equal(json_string_value(json_object_get(r.json, "part")), "wheel");
    http_result_free(&r);

    call(*state, "DELETE", "/things/7", NULL, NULL, &r);
    assert_int_equal(r.status, 204);
    http_result_free(&r);
}

static void test_unknown_path_is_404(void **state)
{
    static const char *const paths[] = {"/nope", "/things/42/", "/things/1/parts",
                                        "/things//parts/x", "/"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct http_result r;
        call(*state, "GET", paths[i], NULL, NULL, &r);
        assert_envelope(&r, 404, "not_found");
        http_result_free(&r);
    }
}

static void test_wrong_method_is_405_with_allow(void **state)
{
    struct http_result r;
    call(*state, "PUT", "/things/42", NULL, "{}", &r);
    assert_envelope(&r, 405, "method_not_allowed");
    char *allow = http_header(&r, "Allow");
    assert_non_null(allow);
    assert_non_null(strstr(allow, "GET"));
    assert_non_null(strstr(allow, "DELETE"));
    assert_null(strstr(allow, "POST"));
    free(allow);
    http_result_free(&r);

    call(*state, "GET", "/things", NULL, NULL, &r);
    assert_envelope(&r, 405, "method_not_allowed");
    assert_header(&r, "Allow", "POST");
    http_result_free(&r);
}

static void test_head_uses_get_route(void **state)
{
    struct http_result r;
    call(*state, "HEAD", "/things/5", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    http_result_free(&r);
}

/* ---- bodies ---- */

static void test_body_under_limit_is_delivered(void **state)
{
    char *body = repeat('a', 1024);
    struct http_result r;
    const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
    call(*state, "POST", "/echo", hdrs, body, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 1024);
    assert_memory_equal(r.body.data, body, 1024);
    http_result_free(&r);

    const char *const chunked[] = {"Content-Type: application/octet-stream",
                                   "Transfer-Encoding: chunked", NULL};
    body[700] = '\0';
    call(*state, "POST", "/echo", chunked, body, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 700);
    http_result_free(&r);
    free(body);
}

static void test_body_over_limit_with_length_is_413(void **state)
{
    char *body = repeat('b', 4096);
    struct http_result r;
    const char *const hdrs[] = {"Content-Type: application/octet-stream", NULL};
    call(*state, "POST", "/echo", hdrs, body, &r);
    assert_envelope(&r, 413, "payload_too_large");
    http_result_free(&r);

    /* The declared length alone is enough: the body is never read. */
    const char *const expect[] = {"Content-Type: application/octet-stream", "Expect: 100-continue",
                                  NULL};
    call(*state, "POST", "/echo", expect, body, &r);
    assert_envelope(&r, 413, "payload_too_large");
    http_result_free(&r);
    free(body);

    /* The server still works afterwards. */
    call(*state, "GET", "/things/1", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
}

static void test_body_over_limit_chunked_is_413(void **state)
{
    char *body = repeat('c', 5000);
    struct http_result r;
    const char *const hdrs[] = {"Content-Type: application/octet-stream",
                                "Transfer-Encoding: chunked", NULL};
    call(*state, "POST", "/echo", hdrs, body, &r);
    assert_envelope(&r, 413, "payload_too_large");
    http_result_free(&r);
    free(body);
}

static void test_json_body_errors(void **state)
{
    struct http_result r;
    const char *const text[] = {"Content-Type: text/plain", NULL};
    call(*state, "POST", "/things", text, "{\"a\":1}", &r);
    assert_envelope(&r, 415, "unsupported_media_type");
    http_result_free(&r);

    call(*state, "POST", "/things", NULL, "{\"a\":", &r);
    assert_envelope(&r, 400, "invalid_request");
    http_result_free(&r);

    call(*state, "POST", "/things", NULL, "[1,2]", &r);
    assert_envelope(&r, 400, "invalid_request");
    http_result_free(&r);

    call(*state, "POST", "/things", NULL, "{\"a\":1,\"a\":2}", &r);
    assert_envelope(&r, 400, "invalid_request");
    http_result_free(&r);

    const char *const json[] = {"Content-Type: application/json", NULL};
    call(*state, "POST", "/things", json, NULL, &r);
    assert_envelope(&r, 400, "invalid_request");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
        "request body must be a JSON object");
    http_result_free(&r);
}

static void test_json_body_accepted(void **state)
{
    struct http_result r;
    const char *const utf8[] = {"Content-Type: application/json; charset=utf-8", NULL};
    call(*state, "POST", "/things", utf8, "{\"name\":\"x\",\"n\":3}", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "name")), "x");
    assert_int_equal(json_integer_value(json_object_get(r.json, "n")), 3);
    http_result_free(&r);
}

/* ---- responses ---- */

static void test_request_id_and_security_headers(void **state)
{
    struct http_result a, b;
    call(*state, "GET", "/things/1", NULL, NULL, &a);
    call(*state, "GET", "/nope", NULL, NULL, &b);
    char *ida = http_header(&a, "X-Request-Id");
    char *idb = http_header(&b, "X-Request-Id");
    assert_non_null(ida);
    assert_non_null(idb);
    assert_int_equal(strlen(ida), 16);
    assert_int_equal(strspn(ida, "0123456789abcdef"), 16);
    assert_string_not_equal(ida, idb);
    assert_header(&a, "X-Content-Type-Options", "nosniff");
    assert_header(&b, "X-Content-Type-Options", "nosniff");
    assert_header(&a, "Content-Type", "application/json");
    char *cc = http_header(&a, "Cache-Control");
    assert_null(cc);
    free(ida);
    free(idb);
    http_result_free(&a);
    http_result_free(&b);

    call(*state, "GET", "/api/ping", NULL, NULL, &a);
    assert_int_equal(a.status, 200);
    assert_header(&a, "Cache-Control", "no-store");
    http_result_free(&a);

    call(*state, "GET", "/api/missing", NULL, NULL, &a);
    assert_envelope(&a, 404, "not_found");
    assert_header(&a, "Cache-Control", "no-store");
    http_result_free(&a);
}

static void test_handler_without_answer_is_500(void **state)
{
    struct http_result r;
    call(*state, "GET", "/silent", NULL, NULL, &r);
    assert_envelope(&r, 500, "internal_error");
    http_result_free(&r);
}

static void test_headers_cookies_and_extra_headers(void **state)
{
    struct http_result r;
    const char *const hdrs[] = {"X-Test: abc", "Cookie: a=1; sid=s3cret", "User-Agent: tester/1",
                                NULL};
    call(*state, "GET", "/headers", hdrs, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "x_test")), "abc");
    assert_string_equal(json_string_value(json_object_get(r.json, "sid")), "s3cret");
    assert_string_equal(json_string_value(json_object_get(r.json, "ua")), "tester/1");
    assert_string_equal(json_string_value(json_object_get(r.json, "ip")), "127.0.0.1");
    assert_header(&r, "X-Extra", "yes");
    http_result_free(&r);
}

static void test_redirect_and_err_mapping(void **state)
{
    struct http_result r;
    call(*state, "GET", "/redirect", NULL, NULL, &r);
    assert_int_equal(r.status, 303);
    assert_header(&r, "Location", "/things/1");
    http_result_free(&r);

    call(*state, "GET", "/conflict", NULL, NULL, &r);
    assert_envelope(&r, 409, "conflict");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
        "name 'x' is taken");
    http_result_free(&r);
}

/* ---- concurrency ---- */

#define HAMMER_THREADS 8
#define HAMMER_REQUESTS 25

struct hammer {
    struct web_server *server;
    int index;
    int ok;
    pthread_t thread;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < HAMMER_REQUESTS; i++) {
        char url[256], path[64], want[32];
        struct http_result r;
        snprintf(path, sizeof path, "/things/%d?q=t%d", h->index * 1000 + i, h->index);
        snprintf(want, sizeof want, "%d", h->index * 1000 + i);
        url_of(h->server, path, url, sizeof url);
        if (http_request("GET", url, NULL, NULL, &r) == 0 && r.status == 200 &&
            str_eq(json_string_value(json_object_get(r.json, "id")), want))
            h->ok++;
        http_result_free(&r);
    }
    return NULL;
}

static void test_concurrent_requests_all_answered(void **state)
{
    struct hammer h[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) {
        h[i] = (struct hammer){.server = *state, .index = i};
        assert_int_equal(pthread_create(&h[i].thread, NULL, hammer_main, &h[i]), 0);
    }
    for (int i = 0; i < HAMMER_THREADS; i++) {
        pthread_join(h[i].thread, NULL);
        assert_int_equal(h[i].ok, HAMMER_REQUESTS);
    }
}

/* ---- the worker queue ---- */

static void test_full_queue_answers_503(void **state)
{
    struct web_config cfg = config(1, 1, 30);
    struct web_server *s = start(&cfg);
    struct async_call running, b, c;
    gate_reset();

    async_start(&running, s, "/block");
    gate_wait_started(1); /* the only worker is busy */
    async_start(&b, s, "/block");
    async_start(&c, s, "/block");
    /* One of b and c fills the queue; the other is refused at once. */
    for (int i = 0; i < 1000 && !b.done && !c.done; i++)
        usleep(10 * 1000);
    assert_true(b.done || c.done);
    struct async_call *refused = b.done ? &b : &c;
    struct async_call *queued = b.done ? &c : &b;
    assert_int_equal(refused->rc, 0);
    assert_envelope(&refused->res, 503, "unavailable");
    assert_false(queued->done);

    gate_release();
    async_join(&running);
    async_join(&b);
    async_join(&c);
    assert_int_equal(running.res.status, 200);
    assert_int_equal(queued->rc, 0);
    assert_int_equal(queued->res.status, 200);
    http_result_free(&running.res);
    http_result_free(&b.res);
    http_result_free(&c.res);
    web_server_stop(s);
}

static void test_request_waiting_too_long_is_503(void **state)
{
    struct web_config cfg = config(1, 4, 1);
    struct web_server *s = start(&cfg);
    struct async_call running, waiting;
    gate_reset();

    async_start(&running, s, "/block");
    gate_wait_started(1);
    async_start(&waiting, s, "/block");
    usleep(1500 * 1000); /* longer than request_timeout_s in the queue */
    assert_false(waiting.done);
    gate_release();
    async_join(&running);
    async_join(&waiting);
    assert_int_equal(running.res.status, 200);
    assert_int_equal(waiting.rc, 0);
    assert_envelope(&waiting.res, 503, "unavailable");
    http_result_free(&running.res);
    http_result_free(&waiting.res);
    web_server_stop(s);
}

/* ---- start and stop ---- */

static void test_graceful_stop_finishes_in_flight(void **state)
{
    struct web_config cfg = config(2, 4, 30);
    struct web_server *s = start(&cfg);
    struct async_call slow;
    char url[256];
    gate_reset();

    url_of(s, "/things/1", url, sizeof url);
    async_start(&slow, s, "/slow");
    gate_wait_started(1);
    web_server_stop(s); /* returns once the slow request was answered */
    async_join(&slow);
    assert_int_equal(slow.rc, 0);
    assert_int_equal(slow.res.status, 200);
    assert_true(json_is_true(json_object_get(slow.res.json, "slow")));
    http_result_free(&slow.res);

    struct http_result r;
    assert_int_equal(http_request("GET", url, NULL, NULL, &r), -1);
    http_result_free(&r);
}

struct stopper {
    struct web_server *server;
    pthread_t thread;
    _Atomic bool done;
};

static void *stopper_main(void *arg)
{
    struct stopper *st = arg;
    web_server_stop(st->server);
    st->done = true;
    return NULL;
}

static void test_stop_waits_for_queued_requests(void **state)
{
    struct web_config cfg = config(1, 4, 30);
    struct web_server *s = start(&cfg);
    struct async_call running, queued;
    struct stopper st = {.server = s};
    gate_reset();

    async_start(&running, s, "/block");
    gate_wait_started(1);
    async_start(&queued, s, "/block");
    usleep(200 * 1000); /* let it reach the queue */
    assert_int_equal(pthread_create(&st.thread, NULL, stopper_main, &st), 0);
    usleep(300 * 1000);
    assert_false(st.done); /* two requests are still in flight */
    gate_release();
    pthread_join(st.thread, NULL);
    async_join(&running);
    async_join(&queued);
    assert_int_equal(running.res.status, 200);
    assert_int_equal(queued.res.status, 200);
    http_result_free(&running.res);
    http_result_free(&queued.res);
}

static void test_stop_with_idle_server_and_null(void **state)
{
    struct web_config cfg = config(3, 4, 30);
    struct web_server *s = start(&cfg);
    web_server_stop(s);
    web_server_stop(NULL);
}

static void test_start_errors_are_readable(void **state)
{
    struct web_config cfg = config(1, 1, 30);
    struct web_server *s = start(&cfg);
    char listen[64];
    struct lumi_err err;

    snprintf(listen, sizeof listen, "127.0.0.1:%d", web_server_port(s));
    cfg.listen = listen;
    err_clear(&err);
    assert_null(web_server_start(&cfg, &err));
    assert_non_null(strstr(err.msg, "address in use"));
    assert_non_null(strstr(err.msg, listen));

    static const char *const bad[] = {"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", ":80",
                                      "no-such-host.invalid:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.listen = bad[i];
        err_clear(&err);
        assert_null(web_server_start(&cfg, &err));
        assert_true(err.msg[0] != '\0');
    }
    web_server_stop(s);
}

#define SERVER_TEST(f) cmocka_unit_test_setup_teardown(f, setup_server, teardown_server)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SERVER_TEST(test_route_params_and_query),
        SERVER_TEST(test_unknown_path_is_404),
        SERVER_TEST(test_wrong_method_is_405_with_allow),
        SERVER_TEST(test_head_uses_get_route),
        SERVER_TEST(test_body_under_limit_is_delivered),
        SERVER_TEST(test_body_over_limit_with_length_is_413),
        SERVER_TEST(test_body_over_limit_chunked_is_413),
        SERVER_TEST(test_json_body_errors),
        SERVER_TEST(test_json_body_accepted),
        SERVER_TEST(test_request_id_and_security_headers),
        SERVER_TEST(test_handler_without_answer_is_500),
        SERVER_TEST(test_headers_cookies_and_extra_headers),
        SERVER_TEST(test_redirect_and_err_mapping),
        SERVER_TEST(test_concurrent_requests_all_answered),
        cmocka_unit_test(test_full_queue_answers_503),
        cmocka_unit_test(test_request_waiting_too_long_is_503),
        cmocka_unit_test(test_graceful_stop_finishes_in_flight),
        cmocka_unit_test(test_stop_waits_for_queued_requests),
        cmocka_unit_test(test_stop_with_idle_server_and_null),
        cmocka_unit_test(test_start_errors_are_readable),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
