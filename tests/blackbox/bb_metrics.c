/*
 * bb_metrics.c — GET /metrics (issue 16, item 1) against the real `lumi
 * serve`, a fake Stripe and a fake Pterodactyl:
 *   - with LUMI_METRICS_TOKEN set, a scrape without the bearer token (or with
 *     another) answers 401, with it 200;
 *   - after traffic — signed webhook deliveries (new, duplicate, badly
 *     signed), an order provisioned by the worker against the panel, pages
 *     and API reads — the counters moved by exactly what was sent: deliveries
 *     by outcome, requests by route pattern (never a raw path) and status,
 *     group-commit items, panel calls and job attempts by panel; the gauges
 *     equal the database; build info names the engine;
 *   - `promtool check metrics` accepts the scrape (the test fails, not
 *     skips, when promtool is missing: Debian's package `prometheus`).
 * Runs on SQLite and PostgreSQL (LUMI_TEST_DB).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_stripe.h"
#include "gateways/stripe_sig.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"

#define SECRET_KEY "6e1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define STRIPE_KEY "sk_test_bbMetricsKey0123456789"
#define WHSEC "whsec_bb_metrics_secret"
#define PTERO_KEY "ptla_MetricsTestKey0123456789abcdefABCDEFghijkl"
#define METRICS_TOKEN "scrape-me-4f9a1c2b7d"
#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"
#define N_DELIVERIES 5

struct ctx {
    struct fake_stripe *stripe;
    struct fake_ptero *ptero;
    int64_t client_id, product_id;
};

static struct ctx *C;

static struct http_result scrape_with(const char *auth)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", bb_base_url());
    const char *h[] = {auth, NULL};
    struct http_result r;
    if (http_request("GET", url, auth != NULL ? h : NULL, NULL, &r) != 0)
        fail_msg("/metrics: no answer");
    return r;
}

/* A scrape with the token; fails unless 200. Caller frees. */
static char *scrape(void)
{
    struct http_result r = scrape_with("Authorization: Bearer " METRICS_TOKEN);
    if (r.status != 200)
        fail_msg("/metrics: %ld %s", r.status, buf_cstr(&r.body));
    char *text = strdup(buf_cstr(&r.body));
    http_result_free(&r);
    return text;
}

/* The value of the sample named exactly series ("name{labels}"), 0 when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return 0;
}

static void assert_moved(const char *before, const char *after, const char *series, double by)
{
    double d = sample(after, series) - sample(before, series);
    if (d != by)
        fail_msg("%s moved by %g, want %g", series, d, by);
}

static void assert_moved_at_least(const char *before, const char *after, const char *series,
                                  double by)
{
    double d = sample(after, series) - sample(before, series);
    if (d < by)
        fail_msg("%s moved by %g, want at least %g", series, d, by);
}

static long deliver(const char *body, bool good_signature)
{
    char url[128], sig[STRIPE_SIG_HEADER_LEN + 32];
    char *s = fake_stripe_sign(C->stripe, body, (int64_t)time(NULL));
    snprintf(sig, sizeof sig, "Stripe-Signature: %s", good_signature ? s : "t=1,v1=00");
    free(s);
    snprintf(url, sizeof url, "%s/api/stripe/webhook", bb_base_url());
    const char *h[] = {"Content-Type: application/json", sig, NULL};
    struct http_result r;
    if (http_request("POST", url, h, body, &r) != 0)
        fail_msg("webhook: no answer");
    long st = r.status;
    http_result_free(&r);
    return st;
}

static char *event(int i)
{
    char *body = malloc(512);
    snprintf(body, 512,
             "{\"id\":\"evt_metrics_%d_%ld\",\"object\":\"event\",\"type\":\"customer.created\","
             "\"created\":%ld,\"livemode\":false,\"data\":{\"object\":{\"id\":\"cus_%d\","
             "\"object\":\"customer\"}}}",
             i, (long)getpid(), (long)time(NULL), i);
    return body;
}

static long get_page(const char *path)
{
    struct http_result r = http_api(bb_base_url(), NULL, "GET", path, NULL);
    long st = r.status;
    http_result_free(&r);
    return st;
}

/* Runs promtool check metrics on text; fails the test when promtool is missing or refuses. */
static void promtool_check(const char *text)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        fail_msg("promtool not found: install Debian's package 'prometheus' "
                 "(scripts/setup.sh --test) — this check does not skip");
    char path[] = "/tmp/lumi-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s > %s.out 2>&1", path, path);
    int st = system(cmd);
    if (st != 0) {
        char out[600], show[4096] = "";
        snprintf(out, sizeof out, "%s.out", path);
        FILE *f = fopen(out, "r");
        if (f != NULL) {
            size_t n = fread(show, 1, sizeof show - 1, f);
            show[n] = '\0';
            fclose(f);
        }
        fail_msg("promtool check metrics refused the scrape (%d): %s", st, show);
    }
    char out[600];
    snprintf(out, sizeof out, "%s.out", path);
    unlink(out);
    unlink(path);
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->stripe = fake_stripe_start(STRIPE_KEY, WHSEC);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_env_add("STRIPE_SECRET_KEY=%s", STRIPE_KEY);
    bb_env_add("STRIPE_WEBHOOK_SECRET=%s", WHSEC);
    bb_env_add("STRIPE_API_BASE=%s", fake_stripe_url(C->stripe));
    bb_env_add("LUMI_METRICS_TOKEN=%s", METRICS_TOKEN);
    bb_prepare("ops@example.com", "Quartz-Meadow-Lantern-61", "ci");
    bb_serve();

    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\"}",
             fake_ptero_url(C->ptero));
    int64_t server = bb_create_ok("/api/admin/servers", body);
    C->client_id = bb_create_ok("/api/admin/clients", "{\"email\":\"mo@example.com\","
                                                      "\"first_name\":\"Mo\",\"last_name\":\"T\"}");
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 1G\",\"type\":\"game_server\",\"price\":1500,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"setup_fee\":0,"
             "\"server_id\":%" PRId64 ",\"autosetup\":\"order\",\"config\":" GAME_CONFIG "}",
             server);
    C->product_id = bb_create_ok("/api/admin/products", body);
    *state = C;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int status = bb_finish();
    fake_stripe_stop(C->stripe);
    fake_ptero_stop(C->ptero);
    free(C);
    return status == 0 ? 0 : -1;
}

static void the_token_is_required_when_set(void **state)
{
    (void)state;
    struct http_result r = scrape_with(NULL);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    r = scrape_with("Authorization: Bearer scrape-me-4f9a1c2b7e");
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    r = scrape_with("Authorization: Bearer " METRICS_TOKEN "x");
    assert_int_equal(r.status, 401);
    http_result_free(&r);
    r = scrape_with("Authorization: Bearer " METRICS_TOKEN);
    assert_int_equal(r.status, 200);
    char *ct = http_header(&r, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "text/plain"));
    free(ct);
    http_result_free(&r);
}

static void counters_follow_the_traffic_and_promtool_accepts_the_scrape(void **state)
{
    (void)state;
    char *before = scrape();

    /* Webhooks: N new deliveries, one redelivered, two badly signed. */
    char *first = event(0);
    assert_int_equal(deliver(first, true), 200);
    for (int i = 1; i < N_DELIVERIES; i++) {
        char *ev = event(i);
        assert_int_equal(deliver(ev, true), 200);
        free(ev);
    }
    assert_int_equal(deliver(first, true), 200);
    assert_int_equal(deliver(first, false), 400);
    assert_int_equal(deliver(first, false), 400);
    free(first);

    /* An order the worker provisions on the fake panel. */
    char body[128];
    snprintf(body, sizeof body, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}",
             C->client_id, C->product_id);
    int64_t service = bb_create_ok("/api/admin/services", body);
    for (int i = 0; i < 300 && bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                                        " AND status = 'done'",
                                        service) == 0;
         i++)
        bb_sleep_ms(50);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64
                              " AND status = 'done'",
                              service),
                     1);

    /* Pages and API reads of two different ids: one route pattern. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(get_page("/admin/login"), 200);
    json_decref(bb_json("GET", NULL, 200, "/api/admin/clients/%" PRId64, C->client_id));
    json_decref(bb_json("GET", NULL, 404, "/api/admin/clients/%d", 999999));
    assert_int_equal(get_page("/no/such/page/12345"), 404);

    /* A job waiting far in the future: the gauge reads the database. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO jobs (service_id, action, status, max_attempts, run_at, created_at, "
             "updated_at) VALUES (%" PRId64 ", 'suspend', 'queued', 3, '2099-01-01T00:00:00Z', "
             "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
             service);
    struct lumi_err err;
    if (db_exec(bb_db(), sql, &err) != 0)
        fail_msg("%s", err.msg);

    char *after = scrape();
    assert_moved(before, after,
                 "lumi_webhook_deliveries_total{gateway=\"stripe\",outcome=\"ignored\"}",
                 N_DELIVERIES);
    assert_moved(before, after,
                 "lumi_webhook_deliveries_total{gateway=\"stripe\",outcome=\"duplicate\"}", 1);
    assert_moved(before, after,
                 "lumi_webhook_deliveries_total{gateway=\"stripe\",outcome=\"rejected\"}", 2);
    assert_moved(before, after,
                 "lumi_http_requests_total{method=\"POST\",route=\"/api/stripe/webhook\","
                 "status=\"200\"}",
                 N_DELIVERIES + 1);
    assert_moved(before, after,
                 "lumi_http_requests_total{method=\"POST\",route=\"/api/stripe/webhook\","
                 "status=\"400\"}",
                 2);
    assert_moved(before, after,
                 "lumi_http_request_duration_seconds_count{method=\"POST\",route=\"/api/stripe/"
                 "webhook\"}",
                 N_DELIVERIES + 3);
    /* every accepted delivery went through the group commit */
    assert_moved_at_least(before, after, "lumi_batch_size_sum", N_DELIVERIES + 1);
    assert_moved_at_least(before, after, "lumi_batch_commit_seconds_count", 1);
    assert_moved(before, after,
                 "lumi_http_requests_total{method=\"GET\",route=\"/admin/login\",status=\"200\"}",
                 3);
    assert_moved(before, after,
                 "lumi_http_requests_total{method=\"GET\",route=\"/api/admin/clients/{id}\","
                 "status=\"200\"}",
                 1);
    assert_moved(before, after,
                 "lumi_http_requests_total{method=\"GET\",route=\"/api/admin/clients/{id}\","
                 "status=\"404\"}",
                 1);
    assert_moved(before, after,
                 "lumi_http_requests_total{method=\"\",route=\"unmatched\",status=\"404\"}", 1);
    assert_null(strstr(after, "999999"));
    assert_null(strstr(after, "12345"));
    assert_moved(before, after, "lumi_job_attempts_total{panel=\"pterodactyl\",outcome=\"done\"}",
                 1);
    assert_moved_at_least(before, after,
                          "lumi_panel_calls_total{panel=\"pterodactyl\",outcome=\"success\"}", 1);
    assert_moved_at_least(before, after,
                          "lumi_panel_call_duration_seconds_count{panel=\"pterodactyl\"}", 1);
    assert_moved(before, after, "lumi_panel_calls_total{panel=\"pterodactyl\",outcome=\"error\"}",
                 0);

    /* Gauges: as the database says. */
    assert_true(sample(after, "lumi_jobs{state=\"queued\"}") ==
                (double)bb_count("SELECT COUNT(*) FROM jobs WHERE status = 'queued'"));
    assert_true(sample(after, "lumi_jobs{state=\"queued\"}") >= 1);
    assert_true(sample(after, "lumi_jobs_oldest_due_age_seconds") == 0);
    assert_true(sample(after, "lumi_mail_outbox{state=\"queued\"}") ==
                (double)bb_count("SELECT COUNT(*) FROM emails WHERE status = 'queued'"));
    assert_true(sample(after, "lumi_up") == 1);
    const char *engine = strncmp(bb_db_url(), "sqlite:", 7) == 0 ? "sqlite" : "postgres";
    char info[128];
    snprintf(info, sizeof info, "lumi_build_info{version=\"%s\",engine=\"%s\"}", LUMI_VERSION,
             engine);
    assert_true(sample(after, info) == 1);

    promtool_check(after);
    free(before);
    free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_token_is_required_when_set),
        cmocka_unit_test(counters_follow_the_traffic_and_promtool_accepts_the_scrape),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
