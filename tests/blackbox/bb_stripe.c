/*
 * bb_stripe.c — Stripe payments end to end through the real binary (`lumi
 * serve`) and a fake Stripe over real HTTP with real signatures:
 * order → invoice → checkout (the session has the invoice's line items) →
 * signed webhook → invoice paid → provisioning job queued; the same delivery
 * five times → one payment; deliveries out of order (a refund before the
 * completion, a completion after the expiry) end in the right state; a
 * crash between receiving and committing → the redelivery applies once;
 * the buyer's return applies the session when the webhook is lost, and the
 * late webhook then changes nothing; bad signatures, malformed and oversized
 * bodies, unknown invoices and wrong currencies answer 4xx (or 200 with the
 * event recorded as failed and PAYMENT_MISMATCH audited) and change nothing
 * else; a rotated secret is accepted. Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_stripe.h"
#include "gateways/stripe_sig.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"
#include "support/testdb.h"

#define SECRET_KEY "5b1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define STRIPE_KEY "sk_test_bbStripeKey0123456789"
#define WHSEC "whsec_bb_current_secret"
#define WHSEC_OLD "whsec_bb_previous_secret"
#define PTERO_KEY "ptla_StripeTestKey0123456789abcdefABCDEFghijkl"
#define GAME_CONFIG "{\"nest_id\":1,\"egg_id\":1,\"node_id\":1,\"memory\":1024,\"disk\":2048}"

struct ctx {
    struct fake_stripe *stripe;
    struct fake_ptero *ptero;
    int64_t client_id, product_id;
};

static struct ctx *C;

/* ---- plumbing ----------------------------------------------------------- */

/* The invoice as the admin API answers it (caller decrefs). */
static json_t *invoice_get(int64_t id)
{
    return bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, id);
}

static void assert_invoice(int64_t id, const char *status, int64_t paid, int64_t refunded)
{
    json_t *inv = invoice_get(id);
    if (strcmp(bb_str(inv, "status"), status) != 0 || bb_int(inv, "amount_paid") != paid ||
        bb_int(inv, "amount_refunded") != refunded)
        fail_msg("invoice %" PRId64 ": want %s paid %" PRId64 " refunded %" PRId64
                 ", got %s paid %" PRId64 " refunded %" PRId64,
                 id, status, paid, refunded, bb_str(inv, "status"), bb_int(inv, "amount_paid"),
                 bb_int(inv, "amount_refunded"));
    json_decref(inv);
}

/* Orders the product: answers the first invoice's id (and the service's in *service). */
static int64_t order(int64_t *service)
{
    char body[128];
    snprintf(body, sizeof body, "{\"client_id\":%" PRId64 ",\"product_id\":%" PRId64 "}",
             C->client_id, C->product_id);
    struct http_result r = bb_api("POST", "/api/admin/services", body);
    if (r.status != 201)
        fail_msg("order: %ld %s", r.status, buf_cstr(&r.body));
    if (service != NULL)
        *service = bb_int(r.json, "id");
    int64_t inv = bb_int(r.json, "invoice_id");
    http_result_free(&r);
    assert_true(inv > 0);
    return inv;
}

/* An invoice of amount in currency, created through the admin API. */
static int64_t plain_invoice(int64_t amount, const char *currency)
{
    char body[400];
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"%s\",\"items\":[{\"description\":"
             "\"Hosting\",\"quantity\":1,\"unit_amount\":%" PRId64 "}]}",
             C->client_id, currency, amount);
    return bb_create_ok("/api/admin/invoices", body);
}

/* POST /api/stripe/checkout {invoice_id}: answers the session id (copied into out). */
static void checkout(int64_t invoice_id, char *out, size_t outsz)
{
    char body[64];
    snprintf(body, sizeof body, "{\"invoice_id\":%" PRId64 "}", invoice_id);
    struct http_result r = bb_api("POST", "/api/stripe/checkout", body);
    if (r.status != 200)
        fail_msg("checkout: %ld %s", r.status, buf_cstr(&r.body));
    snprintf(out, outsz, "%s", bb_str(r.json, "session_id"));
    assert_true(strncmp(out, "cs_", 3) == 0);
    assert_true(strstr(bb_str(r.json, "url"), out) != NULL);
    http_result_free(&r);
}

/* Delivers body signed with the webhook secret (or header as given); answers the result. */
static struct http_result deliver_with(const char *body, const char *sig_header)
{
    char url[128], sig[STRIPE_SIG_HEADER_LEN + 32];
    snprintf(url, sizeof url, "%s/api/stripe/webhook", bb_base_url());
    const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
    if (sig_header != NULL) {
        snprintf(sig, sizeof sig, "Stripe-Signature: %s", sig_header);
        headers[1] = sig;
    }
    struct http_result r;
    if (http_request("POST", url, headers, body, &r) != 0)
        fail_msg("webhook: no answer");
    return r;
}

static struct http_result deliver(const char *body)
{
    char *sig = fake_stripe_sign(C->stripe, body, (int64_t)time(NULL));
    struct http_result r = deliver_with(body, sig);
    free(sig);
    return r;
}

/* Delivers and expects status; answers the "status" of a 200 answer ("" otherwise). */
static void deliver_expect(const char *body, long status, const char *outcome)
{
    struct http_result r = deliver(body);
    if (r.status != status)
        fail_msg("delivery: want %ld, got %ld %s", status, r.status, buf_cstr(&r.body));
    if (outcome != NULL)
        assert_string_equal(bb_str(r.json, "status"), outcome);
    http_result_free(&r);
}

static int setup(void **state)
{
    C = calloc(1, sizeof *C);
    C->stripe = fake_stripe_start(STRIPE_KEY, WHSEC);
    C->ptero = fake_ptero_start(PTERO_KEY);
    bb_init(SECRET_KEY);
    bb_env_add("STRIPE_SECRET_KEY=%s", STRIPE_KEY);
    bb_env_add("%s", "STRIPE_WEBHOOK_SECRET=" WHSEC_OLD "," WHSEC);
    bb_env_add("STRIPE_API_BASE=%s", fake_stripe_url(C->stripe));
    bb_env_add("LUMI_MAX_BODY=65536");
    bb_token("stripe-test");
    bb_serve();

    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"Game 1\",\"type\":\"pterodactyl\",\"url\":\"%s\",\"api_key\":\"" PTERO_KEY
             "\"}",
             fake_ptero_url(C->ptero));
    int64_t server = bb_create_ok("/api/admin/servers", body);
    C->client_id =
        bb_create_ok("/api/admin/clients", "{\"email\":\"ada@example.com\","
                                           "\"first_name\":\"Ada\",\"last_name\":\"L\"}");
    snprintf(body, sizeof body,
             "{\"name\":\"Minecraft 1G\",\"type\":\"game_server\",\"price\":1500,"
             "\"currency\":\"usd\",\"billing_cycle\":\"monthly\",\"setup_fee\":500,"
             "\"server_id\":%" PRId64 ",\"autosetup\":\"payment\",\"config\":" GAME_CONFIG "}",
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

/* ---- tests -------------------------------------------------------------- */

static void order_checkout_webhook_pays_and_queues_provisioning(void **state)
{
    (void)state;
    int64_t service = 0;
    int64_t inv = order(&service);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE service_id = %" PRId64, service), 0);
    char cs[128];
    checkout(inv, cs, sizeof cs);

    /* The session carries the invoice: one line per item, metadata, idempotency key. */
    json_t *session = fake_stripe_session_json(C->stripe, cs);
    assert_non_null(session);
    assert_int_equal(bb_int(session, "amount_total"), 2000); /* setup 500 + first month 1500 */
    assert_string_equal(bb_str(session, "currency"), "usd");
    char want[32];
    snprintf(want, sizeof want, "%" PRId64, inv);
    assert_string_equal(bb_str(json_object_get(session, "metadata"), "invoice_id"), want);
    json_decref(session);
    assert_int_equal(
        bb_count("SELECT COUNT(*) FROM checkouts WHERE status = 'open' AND invoice_id = %" PRId64,
                 inv),
        1);

    assert_int_equal(fake_stripe_complete(C->stripe, cs, true), 0);
    char *ev = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    assert_non_null(ev);
    deliver_expect(ev, 200, "processed");
    free(ev);

    assert_invoice(inv, "paid", 2000, 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM jobs WHERE action = 'provision' AND "
                              "service_id = %" PRId64,
                              service),
                     1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM checkouts WHERE status = 'complete' AND "
                              "invoice_id = %" PRId64,
                              inv),
                     1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM webhook_events WHERE gateway = 'stripe' AND "
                              "status = 'processed'"),
                     1);
    assert_true(bb_count("SELECT COUNT(*) FROM audit_log WHERE action = 'PAYMENT_RECEIVED' AND "
                         "actor_type = 'gateway' AND ip = '127.0.0.1'") >= 1);
}

static void same_delivery_five_times_is_one_payment(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(1200, "usd");
    char cs[128];
    checkout(inv, cs, sizeof cs);
    fake_stripe_complete(C->stripe, cs, true);
    char *ev = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    int64_t received = bb_audit_count("PAYMENT_RECEIVED");
    deliver_expect(ev, 200, "processed");
    for (int i = 0; i < 4; i++)
        deliver_expect(ev, 200, "duplicate");
    free(ev);
    assert_invoice(inv, "paid", 1200, 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE invoice_id = %" PRId64, inv),
                     1);
    assert_int_equal(bb_audit_count("PAYMENT_RECEIVED"), received + 1);
}

static void refund_before_completion_and_completion_after_expiry(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(3000, "usd");
    char cs[128];
    checkout(inv, cs, sizeof cs);
    fake_stripe_complete(C->stripe, cs, true);
    char *refund = fake_stripe_event_refund(C->stripe, cs, 1000, NULL);
    char *expired = fake_stripe_event_session(C->stripe, "checkout.session.expired", cs, NULL);
    char *completed = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    assert_non_null(refund);

    /* The refund of a payment Lumi has not seen yet: 409, nothing stored, Stripe retries. */
    deliver_expect(refund, 409, NULL);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE invoice_id = %" PRId64, inv),
                     0);
    /* The expiry arrives before the completion: the completion still pays. */
    deliver_expect(expired, 200, NULL);
    assert_invoice(inv, "unpaid", 0, 0);
    deliver_expect(completed, 200, "processed");
    assert_invoice(inv, "paid", 3000, 0);
    /* Stripe's retry of the refund now applies. */
    deliver_expect(refund, 200, "processed");
    assert_invoice(inv, "partially_refunded", 3000, 1000);
    deliver_expect(refund, 200, "duplicate");
    assert_invoice(inv, "partially_refunded", 3000, 1000);
    free(refund);
    free(expired);
    free(completed);

    /* Cumulative refunds out of order: 3000 then the older 1500 → refunded once in full. */
    char *full = fake_stripe_event_refund(C->stripe, cs, 3000, NULL);
    char *older = fake_stripe_event_refund(C->stripe, cs, 1500, NULL);
    deliver_expect(full, 200, "processed");
    deliver_expect(older, 200, NULL);
    assert_invoice(inv, "refunded", 3000, 3000);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM checkouts WHERE status = 'complete' AND "
                              "invoice_id = %" PRId64,
                              inv),
                     1);
    free(full);
    free(older);
}

static void dispute_is_a_chargeback(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(2500, "usd");
    char cs[128];
    checkout(inv, cs, sizeof cs);
    fake_stripe_complete(C->stripe, cs, true);
    char *completed = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    char *dispute = fake_stripe_event_dispute(C->stripe, cs, 2500, NULL);
    int64_t disputed = bb_audit_count("PAYMENT_DISPUTED");
    deliver_expect(completed, 200, "processed");
    deliver_expect(dispute, 200, "processed");
    deliver_expect(dispute, 200, "duplicate");
    assert_int_equal(bb_audit_count("PAYMENT_DISPUTED"), disputed + 1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE kind = 'chargeback' AND "
                              "invoice_id = %" PRId64,
                              inv),
                     1);
    free(completed);
    free(dispute);
}

static void return_from_checkout_pays_when_the_webhook_is_late(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(990, "usd");
    char cs[128], path[300];
    checkout(inv, cs, sizeof cs);
    fake_stripe_complete(C->stripe, cs, true);
    /* The buyer comes back to the success_url Lumi gave Stripe (its return token admits
     * them without a session). */
    json_t *session = fake_stripe_session_json(C->stripe, cs);
    assert_non_null(session);
    const char *success = bb_str(session, "success_url");
    const char *slot = strstr(success, "{CHECKOUT_SESSION_ID}");
    assert_non_null(slot);
    const char *local = strstr(success, "/client/invoices/");
    assert_non_null(local);
    snprintf(path, sizeof path, "%s%.*s%s", bb_base_url(), (int)(slot - local), local, cs);
    json_decref(session);
    struct http_result r;
    assert_int_equal(http_request("GET", path, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(buf_cstr(&r.body), "payment was received"));
    http_result_free(&r);
    assert_invoice(inv, "paid", 990, 0);

    /* The webhook arrives afterwards: recorded, nothing paid twice. */
    char *ev = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    deliver_expect(ev, 200, NULL);
    free(ev);
    assert_invoice(inv, "paid", 990, 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE invoice_id = %" PRId64, inv),
                     1);

    /* A session of another invoice cannot pay this one (with or without a token for it). */
    int64_t other = plain_invoice(990, "usd");
    const char *query = strchr(path, '?');
    char moved[400];
    snprintf(moved, sizeof moved, "%s/client/invoices/%" PRId64 "%s", bb_base_url(), other, query);
    assert_int_equal(http_request("GET", moved, NULL, NULL, &r), 0);
    assert_null(strstr(buf_cstr(&r.body), "payment was received"));
    http_result_free(&r);
    assert_invoice(other, "unpaid", 0, 0);
}

static void bad_deliveries_change_nothing(void **state)
{
    (void)state;
    /* The provisioning an earlier test queued writes audit rows of its own (SERVICE_PROVISIONED),
     * late on a loaded machine: let it finish before counting. */
    for (int i = 0; i < 300 && bb_count("SELECT COUNT(*) FROM jobs WHERE status IN "
                                        "('queued', 'running')") > 0;
         i++)
        bb_sleep_ms(100);
    int64_t inv = plain_invoice(700, "usd");

    char cs[128];
    checkout(inv, cs, sizeof cs);
    fake_stripe_complete(C->stripe, cs, true);
    char *ev = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    int64_t events = bb_count("SELECT COUNT(*) FROM webhook_events");
    int64_t audits = bb_count("SELECT COUNT(*) FROM audit_log");

    /* No header, a header without v1, a wrong secret, a tampered body, a stale timestamp. */
    struct http_result r = deliver_with(ev, NULL);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    r = deliver_with(ev, "t=1700000000,v0=abcdef");
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    char hdr[STRIPE_SIG_HEADER_LEN];
    int64_t now = (int64_t)time(NULL);
    stripe_sign("whsec_wrong", ev, strlen(ev), now, hdr, sizeof hdr);
    r = deliver_with(ev, hdr);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    stripe_sign(WHSEC, ev, strlen(ev), now - 301, hdr, sizeof hdr);
    r = deliver_with(ev, hdr);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    char *tampered = strdup(ev);
    char *amount = strstr(tampered, "\"amount_total\":700");
    assert_non_null(amount);
    amount[16] = '1'; /* 700 → 710 */
    stripe_sign(WHSEC, ev, strlen(ev), now, hdr, sizeof hdr);
    r = deliver_with(tampered, hdr);
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    free(tampered);

    /* Malformed JSON and an event without type, correctly signed. */
    const char *bad[] = {"{\"id\":\"evt_x\",", "[1,2]", "{\"id\":\"evt_x\",\"object\":\"event\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = deliver(bad[i]);
        assert_int_equal(r.status, 400);
        assert_string_equal(http_error_code(&r), "invalid_request");
        http_result_free(&r);
    }
    /* Oversized body: 413 before anything is read. */
    size_t big = 70000;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, "{\"a\":1}", 7);
    huge[big] = '\0';
    r = deliver(huge);
    assert_int_equal(r.status, 413);
    http_result_free(&r);
    free(huge);

    assert_int_equal(bb_count("SELECT COUNT(*) FROM webhook_events"), events);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM audit_log"), audits);
    assert_invoice(inv, "unpaid", 0, 0);

    /* The old secret still verifies during rotation. */
    stripe_sign(WHSEC_OLD, ev, strlen(ev), now, hdr, sizeof hdr);
    r = deliver_with(ev, hdr);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    assert_invoice(inv, "paid", 700, 0);
    free(ev);
}

static void unknown_invoice_and_wrong_currency_are_recorded_not_paid(void **state)
{
    (void)state;
    /* A session for an invoice in EUR whose event says USD: mismatch, not paid. */
    int64_t inv = plain_invoice(1500, "eur");
    char cs[128];
    checkout(inv, cs, sizeof cs);
    fake_stripe_complete(C->stripe, cs, true);
    char *ev = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    char *usd = strstr(ev, "\"currency\":\"eur\"");
    assert_non_null(usd);
    memcpy(usd + 12, "usd", 3);
    int64_t mismatches = bb_audit_count("PAYMENT_MISMATCH");
    int64_t failed = bb_count("SELECT COUNT(*) FROM webhook_events WHERE status = 'failed' AND "
                              "error IS NOT NULL");
    deliver_expect(ev, 200, "failed");
    assert_invoice(inv, "unpaid", 0, 0);
    assert_int_equal(bb_audit_count("PAYMENT_MISMATCH"), mismatches + 1);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM webhook_events WHERE status = 'failed' AND "
                              "error IS NOT NULL"),
                     failed + 1);
    free(ev);

    /* metadata.invoice_id of an invoice that does not exist. */
    int64_t inv2 = plain_invoice(800, "usd");
    checkout(inv2, cs, sizeof cs);
    fake_stripe_complete(C->stripe, cs, true);
    ev = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);
    char want[64], *at = NULL;
    snprintf(want, sizeof want, "\"invoice_id\":\"%" PRId64 "\"", inv2);
    at = strstr(ev, want);
    assert_non_null(at);
    char *moved = malloc(strlen(ev) + 16);
    snprintf(moved, strlen(ev) + 16, "%.*s\"invoice_id\":\"999999\"%s", (int)(at - ev), ev,
             at + strlen(want));
    deliver_expect(moved, 200, "failed");
    assert_invoice(inv2, "unpaid", 0, 0);
    assert_int_equal(bb_audit_count("PAYMENT_MISMATCH"), mismatches + 2);
    free(moved);
    free(ev);

    /* An event type Lumi does not act on: 200, recorded as ignored. */
    const char *other =
        "{\"id\":\"evt_other_1\",\"object\":\"event\",\"type\":\"customer.created\","
        "\"created\":1700000000,\"livemode\":false,\"data\":{\"object\":{\"id\":"
        "\"cus_1\",\"object\":\"customer\"}}}";
    deliver_expect(other, 200, "ignored");
}

/* ---- crash between receiving and committing ---------------------------- */

struct pending {
    char url[128];
    const char *body;
    char sig[STRIPE_SIG_HEADER_LEN + 32];
    long status;
};

static void *send_pending(void *arg)
{
    struct pending *p = arg;
    const char *headers[] = {"Content-Type: application/json", p->sig, NULL};
    struct http_result r;
    p->status = http_request("POST", p->url, headers, p->body, &r) == 0 ? r.status : 0;
    http_result_free(&r); /* also after a transport error */
    return NULL;
}

static void crash_before_commit_then_redelivery_applies_once(void **state)
{
    (void)state;
    int64_t inv = plain_invoice(4200, "usd");
    char cs[128];
    checkout(inv, cs, sizeof cs);
    fake_stripe_complete(C->stripe, cs, true);
    char *ev = fake_stripe_event_session(C->stripe, "checkout.session.completed", cs, NULL);

    /* Hold the lock Lumi's write needs, so the delivery is received and stuck before its commit. */
    struct lumi_err err;
    struct db *blocker = testdb_open(bb_db_url());
    assert_int_equal(db_begin(blocker, &err), 0);
    if (testdb_is_postgres())
        testdb_exec(blocker, "LOCK TABLE webhook_events IN SHARE MODE");
    struct pending p = {.body = ev};
    snprintf(p.url, sizeof p.url, "%s/api/stripe/webhook", bb_base_url());
    char *sig = fake_stripe_sign(C->stripe, ev, (int64_t)time(NULL));
    snprintf(p.sig, sizeof p.sig, "Stripe-Signature: %s", sig);
    free(sig);
    pthread_t th;
    pthread_create(&th, NULL, send_pending, &p);
    usleep(700 * 1000);
    /* The process dies with the delivery in flight. */
    kill(bb_server()->pid, SIGKILL);
    int st = 0;
    waitpid(bb_server()->pid, &st, 0);
    pthread_join(th, NULL);
    assert_true(p.status == 0 || p.status >= 500); /* never a 2xx */
    db_rollback(blocker);
    db_close(blocker);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE invoice_id = %" PRId64, inv),
                     0);

    /* Restarted, Stripe redelivers: applied once. */
    lumi_serve_start(bb_server(), bb_env());
    deliver_expect(ev, 200, "processed");
    deliver_expect(ev, 200, "duplicate");
    assert_invoice(inv, "paid", 4200, 0);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE invoice_id = %" PRId64, inv),
                     1);
    free(ev);
}

static void checkout_refuses_what_cannot_be_paid(void **state)
{
    (void)state;
    struct http_result r = bb_api("POST", "/api/stripe/checkout", "{\"invoice_id\":999999}");
    assert_int_equal(r.status, 404);
    http_result_free(&r);
    r = bb_api("POST", "/api/stripe/checkout", "{\"invoice\":1}");
    assert_int_equal(r.status, 400);
    http_result_free(&r);
    int64_t inv = plain_invoice(100, "usd");
    char body[64];
    snprintf(body, sizeof body, "{\"amount\":100,\"reference\":\"cash-1\"}");
    char path[64];
    snprintf(path, sizeof path, "/api/admin/invoices/%" PRId64 "/payments", inv);
    r = bb_api("POST", path, body);
    assert_int_equal(r.status, 200);
    http_result_free(&r);
    snprintf(body, sizeof body, "{\"invoice_id\":%" PRId64 "}", inv);
    r = bb_api("POST", "/api/stripe/checkout", body);
    assert_int_equal(r.status, 409);
    http_result_free(&r);
    /* Without credentials: 401. */
    char url[128];
    snprintf(url, sizeof url, "%s/api/stripe/checkout", bb_base_url());
    assert_int_equal(http_request("POST", url, NULL, body, &r), 0);
    assert_int_equal(r.status, 401);
    http_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_checkout_webhook_pays_and_queues_provisioning),
        cmocka_unit_test(same_delivery_five_times_is_one_payment),
        cmocka_unit_test(refund_before_completion_and_completion_after_expiry),
        cmocka_unit_test(dispute_is_a_chargeback),
        cmocka_unit_test(return_from_checkout_pays_when_the_webhook_is_late),
        cmocka_unit_test(bad_deliveries_change_nothing),
        cmocka_unit_test(unknown_invoice_and_wrong_currency_are_recorded_not_paid),
        cmocka_unit_test(crash_before_commit_then_redelivery_applies_once),
        cmocka_unit_test(checkout_refuses_what_cannot_be_paid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
