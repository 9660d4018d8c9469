/*
 * bb_multiserve.c — two `lumi serve` processes on one database take Stripe
 * webhooks at once (issue 15): the SAME signed checkout.session.completed
 * deliveries go to both servers at the same time (four connections to each,
 * in the same order, so each event reaches both at about the same moment), a
 * few more go to one server only. Then, as a user would check: every delivery
 * answered 2xx is recorded (its event row and its payment), and a twin
 * that lost the race answers 409 (retry) or a duplicate's 200; after the
 * gateway's redelivery of everything, each event paid its invoice exactly
 * once (one transaction, one PAYMENT_RECEIVED, one INVOICE_PAID), every
 * event row is processed, and `lumi audit verify` accepts the log (one
 * chain). On PostgreSQL each server runs several group-commit writers
 * (LUMI_PG_WRITERS=4), so batches also race inside one process. Runs on
 * SQLite and PostgreSQL (two processes on one SQLite file must be correct
 * too, if slower).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "gateways/stripe_sig.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/proc.h"

#define SECRET_KEY "9a1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define WHSEC "whsec_bb_multiserve"
#define SHARED 40 /* events sent to both servers */
#define SINGLE 10 /* events sent to one server only (half each) */
#define EVENTS (SHARED + SINGLE)
#define SENDERS 4 /* concurrent connections per server for the shared events */

struct event {
    int64_t invoice_id, total;
    char id[64], pi[64], cs[64];
    char *body;
    /* answers of the concurrent phase, per server (0: not sent there / no answer) */
    long status[2];
};

struct sender {
    struct event *ev;
    const char *base_url;
    int server;        /* 0 or 1: which status slot */
    int first, end;    /* it sends first, first + step, … below end */
    int step;
};

static struct event E[EVENTS];

static char *event_body(const struct event *e, int64_t created)
{
    char invoice[24];
    snprintf(invoice, sizeof invoice, "%" PRId64, e->invoice_id);
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:I, s:s, s:b, s:{s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:{s:s},"
        " s:s}}}",
        "id", e->id, "object", "event", "type", "checkout.session.completed", "created",
        (json_int_t)created, "api_version", "2024-06-20", "livemode", 0, "data", "object", "id",
        e->cs, "object", "checkout.session", "status", "complete",
        "payment_status", "paid", "mode", "payment", "amount_total", (json_int_t)e->total,
        "currency", "usd", "metadata", "invoice_id", invoice, "payment_intent", e->pi);
    char *s = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return s;
}

/* POSTs the event's body, freshly signed, to base_url; answers the status (0: no answer). */
static long deliver(const char *base_url, const struct event *e)
{
    char url[128], sig[STRIPE_SIG_HEADER_LEN], header[STRIPE_SIG_HEADER_LEN + 32];
    snprintf(url, sizeof url, "%s/api/stripe/webhook", base_url);
    if (stripe_sign(WHSEC, e->body, strlen(e->body), (int64_t)time(NULL), sig, sizeof sig) != 0)
        return 0;
    snprintf(header, sizeof header, "Stripe-Signature: %s", sig);
    const char *headers[] = {"Content-Type: application/json", header, NULL};
    struct http_result r;
    if (http_request("POST", url, headers, e->body, &r) != 0)
        return 0;
    long status = r.status;
    http_result_free(&r);
    return status;
}

static void *send_all(void *arg)
{
    struct sender *s = arg;
    for (int i = s->first; i < s->end; i += s->step)
        s->ev[i].status[s->server] = deliver(s->base_url, &s->ev[i]);
    return NULL;
}

static bool is_2xx(long status)
{
    return status >= 200 && status < 300;
}

/* Rows of the event (webhook_events) and of its payment (transactions). */
static int64_t event_rows(const struct event *e)
{
    return bb_count("SELECT COUNT(*) FROM webhook_events WHERE gateway = 'stripe'"
                    " AND event_id = '%s'",
                    e->id);
}

static int64_t payment_rows(const struct event *e)
{
    return bb_count("SELECT COUNT(*) FROM transactions WHERE gateway = 'stripe'"
                    " AND kind = 'payment' AND gateway_ref = '%s'",
                    e->pi);
}

static void test_two_servers_same_events(void **state)
{
    (void)state;
    struct lumi_server second = {0};
    char run[9];
    assert_int_equal(crypto_random_token(4, run, sizeof run), 0);

    bb_env_add("STRIPE_WEBHOOK_SECRET=%s", WHSEC);
    bb_env_add("STRIPE_SECRET_KEY=sk_test_bb_multiserve");
    bb_env_add("STRIPE_API_BASE=http://127.0.0.1:9"); /* nothing here may reach Stripe */
    bb_env_add("LUMI_PG_WRITERS=4");
    bb_env_add("LUMI_BATCH_MAX=8"); /* several batches per server, racing */
    bb_serve();
    lumi_serve_start(&second, bb_env());

    int64_t client = bb_create_ok("/api/admin/clients", "{\"email\":\"multi@example.com\"}");
    for (int i = 0; i < EVENTS; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":"
                 "\"Hosting %d\",\"quantity\":1,\"unit_amount\":%d}]}",
                 client, i, 1000 + i);
        E[i].invoice_id = bb_create_ok("/api/admin/invoices", body);
        E[i].total = bb_count("SELECT total FROM invoices WHERE id = %" PRId64, E[i].invoice_id);
        snprintf(E[i].id, sizeof E[i].id, "evt_multi_%s_%d", run, i);
        snprintf(E[i].pi, sizeof E[i].pi, "pi_multi_%s_%d", run, i);
        snprintf(E[i].cs, sizeof E[i].cs, "cs_multi_%s_%d", run, i);
        E[i].body = event_body(&E[i], (int64_t)time(NULL));
        assert_non_null(E[i].body);
    }

    /* The same SHARED events to both servers at once (SENDERS connections each, the same
     * order: each event reaches both at about the same moment); SINGLE ones to one each. */
    const char *urls[2] = {bb_base_url(), second.base_url};
    struct sender s[2 * SENDERS + 2];
    pthread_t t[2 * SENDERS + 2];
    int ns = 0;
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < SENDERS; j++)
            s[ns++] = (struct sender){E, urls[k], k, j, SHARED, SENDERS};
    s[ns++] = (struct sender){E, urls[0], 0, SHARED, SHARED + SINGLE / 2, 1};
    s[ns++] = (struct sender){E, urls[1], 1, SHARED + SINGLE / 2, EVENTS, 1};
    for (int i = 0; i < ns; i++)
        assert_int_equal(pthread_create(&t[i], NULL, send_all, &s[i]), 0);
    for (int i = 0; i < ns; i++)
        pthread_join(t[i], NULL);

    /* Every 2xx is a promise: the event and its payment are stored, once. */
    int acked = 0, doubled = 0, retried = 0;
    for (int i = 0; i < EVENTS; i++) {
        bool ok = is_2xx(E[i].status[0]) || is_2xx(E[i].status[1]);
        for (int k = 0; k < 2; k++)
            if (E[i].status[k] != 0 && !is_2xx(E[i].status[k]) && E[i].status[k] != 409 &&
                E[i].status[k] != 503)
                fail_msg("event %s to server %d answered %ld", E[i].id, k, E[i].status[k]);
        if (ok) {
            acked++;
            if (event_rows(&E[i]) != 1 || payment_rows(&E[i]) != 1)
                fail_msg("event %s was acknowledged but has %" PRId64 " event rows and %" PRId64
                         " payments",
                         E[i].id, event_rows(&E[i]), payment_rows(&E[i]));
        }
        if (is_2xx(E[i].status[0]) && is_2xx(E[i].status[1]))
            doubled++;
        retried += (E[i].status[0] == 409) + (E[i].status[1] == 409);
    }
    print_message("concurrent phase: %d of %d events acknowledged, %d by both servers, %d 409s\n",
                  acked, EVENTS, doubled, retried);
    assert_true(acked > 0);

    /* The gateway redelivers until it gets a 2xx: everything once more, to either server. */
    for (int i = 0; i < EVENTS; i++) {
        long st = deliver(urls[i % 2], &E[i]);
        for (int tries = 0; st == 409 && tries < 20; tries++) {
            bb_sleep_ms(50);
            st = deliver(urls[i % 2], &E[i]);
        }
        if (!is_2xx(st))
            fail_msg("redelivery of %s answered %ld", E[i].id, st);
    }

    /* One payment per event, every invoice paid exactly its total. */
    for (int i = 0; i < EVENTS; i++) {
        assert_int_equal(event_rows(&E[i]), 1);
        assert_int_equal(payment_rows(&E[i]), 1);
        json_t *inv = bb_json("GET", NULL, 200, "/api/admin/invoices/%" PRId64, E[i].invoice_id);
        assert_string_equal(bb_str(inv, "status"), "paid");
        assert_int_equal(bb_int(inv, "amount_paid"), E[i].total);
        json_decref(inv);
    }
    assert_int_equal(bb_count("SELECT COUNT(*) FROM webhook_events WHERE event_id LIKE "
                              "'evt_multi_%s_%%' AND status = 'processed'",
                              run),
                     EVENTS);
    assert_int_equal(bb_count("SELECT COUNT(*) FROM transactions WHERE gateway_ref LIKE "
                              "'pi_multi_%s_%%'",
                              run),
                     EVENTS);
    assert_int_equal(bb_audit_count("PAYMENT_RECEIVED"), EVENTS);
    assert_int_equal(bb_audit_count("INVOICE_PAID"), EVENTS);

    /* Both servers stop cleanly, and the audit log is one chain. */
    assert_int_equal(lumi_serve_stop(&second), 0);
    assert_int_equal(bb_stop(), 0);
    struct lumi_run_result r;
    const char *verify[] = {"audit", "verify", NULL};
    bb_run_out(verify, NULL, &r);
    lumi_run_result_free(&r);

    for (int i = 0; i < EVENTS; i++)
        free(E[i].body);
}

static int setup(void **state)
{
    (void)state;
    bb_init(SECRET_KEY);
    bb_prepare("admin@example.com", "multiserve-Passw0rd!", "multiserve");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return bb_finish();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_servers_same_events),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
