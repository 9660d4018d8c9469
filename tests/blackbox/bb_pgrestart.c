/*
 * bb_pgrestart.c — PostgreSQL crashes and comes back while Stripe webhooks
 * flow (issue 15). A PostgreSQL server of the test's own (tests/pg_ctl.sh,
 * so the shared one of the other tests is left alone) is stopped the way a
 * crash would (-m immediate) and started again while four connections keep
 * sending signed deliveries to `lumi serve`. What a user checks: while the
 * database is away Lumi answers 503 (never a 2xx it did not commit, never
 * a hang), it reconnects by itself (2xx again after the restart, without
 * being restarted itself), every delivery answered 2xx is recorded after
 * the crash, and the audit log still verifies. PostgreSQL only (on SQLite
 * there is no server to lose: skipped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/str.h"
#include "gateways/stripe_sig.h"
#include "support/bbenv.h"
#include "support/httpc.h"
#include "support/testdb.h"

#define SECRET_KEY "7c1c2d3e4a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f0a1b2c3d4e5f"
#define WHSEC "whsec_bb_pgrestart"
#define SENDERS 4
#define PER_SENDER 4000 /* more than a run can send */

struct sent {
    char id[64];
    long status; /* 0: no answer */
    int phase;   /* 0 before the crash, 1 while restarting, 2 after */
};

static struct sent S[SENDERS][PER_SENDER];
static int N[SENDERS];
static atomic_int phase;
static atomic_bool stop_sending;
static atomic_int ok_after; /* 200s of deliveries sent after the restart */
static char pg_dir[64];

static long deliver(const char *base_url, const char *event_id)
{
    char url[128], body[768], sig[STRIPE_SIG_HEADER_LEN], header[STRIPE_SIG_HEADER_LEN + 32];
    int64_t now = (int64_t)time(NULL);
    /* An invoice Lumi does not know: recorded as failed, audited — a durable write. */
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"object\":\"event\",\"type\":\"checkout.session.completed\","
             "\"created\":%" PRId64 ",\"api_version\":\"2024-06-20\",\"livemode\":false,"
             "\"data\":{\"object\":{\"id\":\"cs_%s\",\"object\":\"checkout.session\","
             "\"status\":\"complete\",\"payment_status\":\"paid\",\"amount_total\":100,"
             "\"currency\":\"usd\",\"metadata\":{\"invoice_id\":\"999999\"},"
             "\"payment_intent\":\"pi_%s\"}}}",
             event_id, now, event_id, event_id);
    snprintf(url, sizeof url, "%s/api/stripe/webhook", base_url);
    if (stripe_sign(WHSEC, body, strlen(body), now, sig, sizeof sig) != 0)
        return 0;
    snprintf(header, sizeof header, "Stripe-Signature: %s", sig);
    const char *headers[] = {"Content-Type: application/json", header, NULL};
    struct http_result r;
    if (http_request("POST", url, headers, body, &r) != 0)
        return 0;
    long status = r.status;
    http_result_free(&r);
    return status;
}

static void *sender(void *arg)
{
    int k = (int)(intptr_t)arg;
    const char *base = bb_base_url();
    while (!atomic_load(&stop_sending) && N[k] < PER_SENDER) {
        struct sent *s = &S[k][N[k]];
        snprintf(s->id, sizeof s->id, "evt_pgrestart_%d_%d", k, N[k]);
        s->phase = atomic_load(&phase);
        s->status = deliver(base, s->id);
        if (s->phase == 2 && s->status == 200)
            atomic_fetch_add(&ok_after, 1);
        N[k]++;
        bb_sleep_ms(5);
    }
    return NULL;
}

/* tests/pg_ctl.sh cmd pg_dir/pg; fails the test unless it exits 0. */
static void pg_ctl(const char *cmd)
{
    char line[512];
    snprintf(line, sizeof line, "'%s/tests/pg_ctl.sh' %s '%s/pg' >/dev/null",
             getenv("LUMI_SOURCE_DIR"), cmd, pg_dir);
    if (system(line) != 0)
        fail_msg("pg_ctl.sh %s failed", cmd);
}

static void test_postgres_crash_and_restart_under_load(void **state)
{
    (void)state;
    char path[128], url[256], db_url[300];
    if (!testdb_is_postgres())
        skip();
    str_copy(pg_dir, "/tmp/lumi-bb-pgrestart-XXXXXX", sizeof pg_dir);
    assert_non_null(mkdtemp(pg_dir));
    chmod(pg_dir, 0755); /* as root the server runs as postgres */
    pg_ctl("start");
    snprintf(path, sizeof path, "%s/pg/url", pg_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(url, sizeof url, f));
    fclose(f);
    url[strcspn(url, "\r\n")] = '\0';
    snprintf(db_url, sizeof db_url, "%s", url); /* its own server: the postgres database */

    bb_env_add("DATABASE_URL=%s", db_url);
    bb_env_add("STRIPE_WEBHOOK_SECRET=%s", WHSEC);
    bb_env_add("STRIPE_SECRET_KEY=sk_test_bb_pgrestart");
    bb_env_add("STRIPE_API_BASE=http://127.0.0.1:9");
    bb_prepare("admin@example.com", "pgrestart-Passw0rd!", "pgrestart");
    bb_serve();

    pthread_t t[SENDERS];
    for (int k = 0; k < SENDERS; k++)
        assert_int_equal(pthread_create(&t[k], NULL, sender, (void *)(intptr_t)k), 0);
    bb_sleep_ms(1000);
    atomic_store(&phase, 1);
    pg_ctl("crash-restart");
    atomic_store(&phase, 2);
    /* Lumi reconnects by itself: keep sending until 2xx come back (at most 30 s). */
    for (int waited = 0; atomic_load(&ok_after) == 0 && waited < 30000; waited += 100)
        bb_sleep_ms(100);
    bool back = atomic_load(&ok_after) > 0;
    bb_sleep_ms(500);
    atomic_store(&stop_sending, true);
    for (int k = 0; k < SENDERS; k++)
        pthread_join(t[k], NULL);
    assert_true(back);

    /* Every answer: 200, or 503 while the database was away (never a hang). */
    struct lumi_err err;
    struct db *db = db_open(db_url, &err);
    assert_non_null(db);
    int ok = 0, unavailable = 0, before = 0, after = 0;
    for (int k = 0; k < SENDERS; k++)
        for (int i = 0; i < N[k]; i++) {
            struct sent *s = &S[k][i];
            if (s->status != 200 && s->status != 503)
                fail_msg("%s answered %ld", s->id, s->status);
            if (s->status == 503) {
                unavailable++;
                continue;
            }
            ok++;
            before += s->phase == 0;
            after += s->phase == 2;
            /* a 2xx is a promise: its event row survived the crash */
            const char *p[] = {s->id};
            int64_t rows = 0;
            assert_int_equal(db_query_int64(db,
                                            "SELECT COUNT(*) FROM webhook_events WHERE"
                                            " gateway = 'stripe' AND event_id = $1",
                                            1, p, &rows, &err),
                             0);
            if (rows != 1)
                fail_msg("%s was answered 200 but is not recorded after the crash", s->id);
        }
    db_close(db);
    print_message("answers: %d 200 (%d before the crash, %d after), %d 503\n", ok, before, after,
                  unavailable);
    assert_true(before > 0);
    assert_true(after > 0);
    assert_true(unavailable > 0);

    assert_int_equal(bb_stop(), 0);
    struct lumi_run_result r;
    const char *verify[] = {"audit", "verify", NULL};
    bb_run_out(verify, NULL, &r);
    lumi_run_result_free(&r);
}

static int setup(void **state)
{
    (void)state;
    bb_init(SECRET_KEY);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int rc = bb_finish();
    if (pg_dir[0] != '\0') {
        char line[512];
        snprintf(line, sizeof line, "'%s/tests/pg_ctl.sh' stop '%s/pg' >/dev/null 2>&1",
                 getenv("LUMI_SOURCE_DIR"), pg_dir);
        if (system(line) != 0)
            fprintf(stderr, "bb_pgrestart: stopping its PostgreSQL failed\n");
        rmdir(pg_dir);
    }
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postgres_crash_and_restart_under_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
