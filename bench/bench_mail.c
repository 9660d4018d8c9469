/*
 * bench_mail.c — how fast does the outbox drain, and what does mail cost?
 *
 * Builds a SQLite database in a temporary directory with one client and N
 * invoices (default 10,000), each with its INVOICE_CREATED audit row, and
 * measures:
 *   1. the consumer: notify_pump over those N audit rows, queueing N
 *      invoice_created messages (µs per event) — the work mail adds behind
 *      every domain event. Nothing is added to the event's own transaction
 *      (the webhook path writes no mail row): this is paid by the mail
 *      thread, off the path, on the same cores (bench_webhooks runs a
 *      `lumi serve` with its mail thread on);
 *   2. the sender: the N queued messages rendered (at their first claim)
 *      and drained over SMTP (one reused
 *      connection, as the mail thread does) to a local aiosmtpd sink
 *      (tests/smtp_sink.py --light: it reads only the headers, so that
 *      Python's full MIME parse is not what is measured; the sink is still
 *      the slower side), in messages per second, then checks that the
 *      sink holds N messages under N distinct Message-IDs and the outbox has
 *      N rows `sent`.
 *
 * Usage: bench_mail [--messages N]   (BENCH_MAIL_CONSUMER_ONLY=1: stop after step 1)
 * Needs Debian's python3-aiosmtpd (scripts/setup.sh --test) and
 * LUMI_SOURCE_DIR (default: the source tree this binary was built from).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "billing/invoices.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/migrate.h"
#include "mail/sender.h"
#include "notify/notify.h"
#include "support/smtpsink.h"
#include "support/testdb.h"

#define SECRET_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static int messages = 10000;

static double secs(int64_t ms)
{
    return (double)ms / 1000.0;
}

static int64_t count(struct db *db, const char *sql)
{
    int64_t n = -1;
    struct lumi_err err;
    if (db_query_int64(db, sql, 0, NULL, &n, &err) != 0)
        fprintf(stderr, "bench: %s: %s\n", sql, err.msg);
    return n;
}

static int seed(struct db *db, struct lumi_err *err)
{
    static const char client[] =
        "INSERT INTO users (email, role, first_name, last_name, created_at, updated_at) VALUES "
        "('ada@example.com', 'client', 'Ada', 'Lovelace', '2026-01-01T00:00:00Z', "
        "'2026-01-01T00:00:00Z')";
    if (db_exec(db, client, err) != 0)
        return -1;
    int64_t client_id = count(db, "SELECT id FROM users WHERE email = 'ada@example.com'");
    struct invoice_item_in item = {
        .description = "Minecraft 4G (monthly)", .quantity = 1, .unit_amount = 1500,
        .kind = "other"};
    char due[UTC_ISO_LEN];
    utc_format(utc_now() + 7 * 86400, due);
    for (int done = 0; done < messages;) {
        if (db_begin(db, err) != 0)
            return -1;
        for (int i = 0; i < 500 && done < messages; i++, done++) {
            int64_t id = 0;
            if (invoices_create(db, &AUDIT_SYSTEM, client_id, "usd", due, &item, 1, &id, err) != 0) {
                db_rollback(db);
                return -1;
            }
        }
        if (db_commit(db, err) != 0)
            return -1;
    }
    return 0;
}

static void run(void **state)
{
    (void)state;
    char dir[] = "/tmp/lumi-bench-mail-XXXXXX", url[600], port[16];
    struct lumi_err err;
    assert_non_null(mkdtemp(dir));
    struct smtpsink_opts so = {.light = true};
    struct smtpsink *sink = smtpsink_start(&so);
    snprintf(url, sizeof url, "sqlite:%s/bench.db", dir);
    snprintf(port, sizeof port, "%d", smtpsink_port(sink));
    setenv("SMTP_HOST", "127.0.0.1", 1);
    setenv("SMTP_PORT", port, 1);
    setenv("SMTP_TLS", "none", 1);
    setenv("SMTP_FROM", "Acme Hosting <billing@acme.example>", 1);
    setenv("LUMI_BASE_URL", "https://billing.example.com", 1);
    if (config_load(NULL, &err) != 0)
        fail_msg("configuration: %s", err.msg);
    struct db *db = db_open(url, &err);
    if (db == NULL || db_migrate(db, NULL, &err) != 0)
        fail_msg("database: %s", err.msg);

    int64_t t0 = utc_monotonic_ms();
    if (seed(db, &err) != 0)
        fail_msg("seed: %s", err.msg);
    int64_t seeded = utc_monotonic_ms() - t0;

    t0 = utc_monotonic_ms();
    int queued = 0, total = 0, rows;
    while ((rows = notify_pump(db, 500, &queued, &err)) > 0)
        total += queued;
    if (rows < 0)
        fail_msg("notify_pump: %s", err.msg);
    int64_t pumped = utc_monotonic_ms() - t0;
    assert_int_equal(total, messages);

    if (getenv("BENCH_MAIL_CONSUMER_ONLY") != NULL) {
        printf("consumer:   %d events in %.2f s: %.0f us per event\n", messages, secs(pumped),
               (double)pumped * 1000.0 / messages);
        db_close(db);
        smtpsink_stop(sink);
        return;
    }
    struct mail_sender *s = mail_sender_new(&err);
    assert_non_null(s);
    t0 = utc_monotonic_ms();
    int sent = 0, n;
    while ((n = mail_sender_drain(s, db, "bench:1:mail", 1000, notify_compose, &err)) > 0)
        sent += n;
    if (n < 0)
        fail_msg("drain: %s", err.msg);
    int64_t drained = utc_monotonic_ms() - t0;
    mail_sender_free(s);
    assert_true(smtpsink_wait(sink, messages, 60000));

    int64_t ok = count(db, "SELECT COUNT(*) FROM emails WHERE status = 'sent'");
    int64_t distinct = count(db, "SELECT COUNT(DISTINCT message_id) FROM emails");
    int stored = smtpsink_count(sink);
    printf("bench_mail: %d invoices seeded in %.1f s (SQLite, one client)\n", messages,
           secs(seeded));
    printf("consumer:   %d audit rows -> %d messages queued in %.2f s: %.0f us per event, %.0f "
           "events/s (off the webhook path: the event's transaction writes no mail row)\n",
           messages, total, secs(pumped), (double)pumped * 1000.0 / messages,
           messages / (secs(pumped) > 0 ? secs(pumped) : 0.001));
    printf("sender:     %d messages rendered and sent to the aiosmtpd sink in %.2f s: %.0f "
           "messages/s\n",
           sent, secs(drained), sent / (secs(drained) > 0 ? secs(drained) : 0.001));
    printf("check:      %s outbox rows sent %" PRId64 "/%d, distinct Message-IDs %" PRId64
           ", sink stored %d\n",
           ok == messages && distinct == messages && stored == messages ? "PASS" : "FAIL", ok,
           messages, distinct, stored);
    fflush(stdout);
    assert_true(ok == messages && distinct == messages && stored == messages);
    db_close(db);
    smtpsink_stop(sink);
    char path[700];
    snprintf(path, sizeof path, "%s/bench.db", dir);
    testdb_remove_sqlite(path);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int64_t v = 0;
        if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc &&
            str_to_i64z(argv[i + 1], 1, 1000000, &v) == 0) {
            messages = (int)v;
            i++;
        } else {
            fprintf(stderr, "usage: bench_mail [--messages N]\n");
            return 2;
        }
    }
    setenv("LUMI_SECRET_KEY", SECRET_KEY, 0);
    if (getenv("LUMI_SOURCE_DIR") == NULL)
        setenv("LUMI_SOURCE_DIR", LUMI_BENCH_SOURCE_DIR, 1);
    if (crypto_init() != 0)
        return 1;
    log_set_level(LOG_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {cmocka_unit_test(run)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
