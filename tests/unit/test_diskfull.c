/*
 * test_diskfull.c — `lumi serve` on SQLite when the disk is full or failing
 * (the fault VFS of tests/support/faultvfs.h, switched through its control
 * file while the server runs).
 *
 * What a user would check, for each fault (disk full, then I/O errors):
 *   - a webhook delivery and an API write answer 503 with a JSON error whose
 *     message says what is wrong, with no SQLite text, to anonymous callers
 *     as to signed-in ones;
 *   - nothing of them is stored (no event row, the invoice still unpaid, no
 *     client row, processed events = payments = paid invoices, the audit
 *     chain verifies);
 *   - reads still work (/healthz, GET /api/admin/invoices);
 *   - once the fault is cleared, without a restart, the same delivery is
 *     answered 2xx and stored, and the API write succeeds.
 * The server runs this program as `serve` (tests/support/faultrun.h).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "accounts/accounts.h"
#include "accounts/tokens.h"
#include "audit/audit.h"
#include "billing/invoices.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/utc.h"
#include "db/db.h"
#include "db/migrate.h"
#include "gateways/stripe_sig.h"
#include "support/faultrun.h"
#include "support/faultvfs.h"
#include "support/httpc.h"

#define WHSEC "whsec_diskfull_test"
#define SECRET_KEY "8899aabbccddeeff00112233445566778899aabbccddeeff0011223344556677"
#define INVOICES 4

static char dir[256], db_path[512], ctl_path[512], log_path[512];
static char auth[TOKENS_LEN + 32];
static int64_t invoice_ids[INVOICES];
static struct fault_server srv;

static struct db *open_db(void)
{
    char url[600];
    struct lumi_err err;
    snprintf(url, sizeof url, "sqlite:%s", db_path);
    struct db *db = db_open(url, &err);
    if (db == NULL)
        fail_msg("open: %s", err.msg);
    return db;
}

static int64_t count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t count(const char *fmt, ...)
{
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    struct db *db = open_db();
    struct lumi_err err;
    int64_t n = -1;
    if (db_query_int64(db, sql, 0, NULL, &n, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    db_close(db);
    return n;
}

static void seed(void)
{
    struct db *db = open_db();
    struct lumi_err err;
    char now[UTC_ISO_LEN], due[UTC_ISO_LEN], token[TOKENS_LEN];
    int64_t client = 0, token_id = 0;
    if (db_migrate(db, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    utc_now_iso(now);
    utc_format(utc_now() + 14 * 86400, due);
    assert_int_equal(db_begin(db, &err), 0);
    const char *const p[] = {now};
    if (db_query_int64(db,
                       "INSERT INTO users (email, role, created_at, updated_at)"
                       " VALUES ('diskfull@example.com', 'client', $1, $1) RETURNING id",
                       1, p, &client, &err) != 0)
        fail_msg("client: %s", err.msg);
    for (int i = 0; i < INVOICES; i++) {
        struct invoice_item_in item = {.description = "Game server S (monthly)",
                                       .quantity = 1,
                                       .unit_amount = 2000 + i,
                                       .kind = "recurring"};
        if (invoices_create(db, &AUDIT_SYSTEM, client, "usd", due, &item, 1, &invoice_ids[i],
                            &err) != 0)
            fail_msg("invoice: %s", err.msg);
    }
    assert_int_equal(db_commit(db, &err), 0);
    if (tokens_create(db, &AUDIT_SYSTEM, &(struct tokens_new){.name = "diskfull"}, token, &token_id, &err) != 0)
        fail_msg("token: %s", err.msg);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    db_close(db);
}

static void set_fault(const char *what)
{
    int fd = open(ctl_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, what, strlen(what)), (ssize_t)strlen(what));
    close(fd);
    struct timespec ts = {0, 150000000L}; /* the shim reads the file every 50 ms */
    nanosleep(&ts, NULL);
}

/* Delivers the checkout.session.completed of invoice i; the answer's status, body into r. */
static long deliver(int i, struct http_result *r)
{
    char iid[24], evt[48], body[1024], sig[STRIPE_SIG_HEADER_MAX], hdr[STRIPE_SIG_HEADER_MAX + 32];
    char url[128];
    snprintf(iid, sizeof iid, "%" PRId64, invoice_ids[i]);
    snprintf(evt, sizeof evt, "evt_diskfull_%d", i);
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:I, s:b, s:{s:{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:{s:s}}}}",
        "id", evt, "object", "event", "type", "checkout.session.completed", "created",
        (json_int_t)utc_now(), "livemode", 0, "data", "object", "id", "cs_diskfull", "object",
        "checkout.session", "amount_total", (json_int_t)(2000 + i), "amount_subtotal",
        (json_int_t)(2000 + i), "currency", "usd", "payment_status", "paid", "status", "complete",
        "mode", "payment", "payment_intent", evt, "metadata", "invoice_id", iid);
    assert_non_null(ev);
    assert_true(json_dumpb(ev, body, sizeof body - 1, JSON_COMPACT) < sizeof body - 1);
    body[json_dumpb(ev, NULL, 0, JSON_COMPACT)] = '\0';
    json_decref(ev);
    assert_int_equal(stripe_sign(WHSEC, body, strlen(body), utc_now(), sig, sizeof sig), 0);
    snprintf(hdr, sizeof hdr, "Stripe-Signature: %s", sig);
    snprintf(url, sizeof url, "%s/api/stripe/webhook", srv.base_url);
    const char *headers[] = {hdr, NULL};
    assert_int_equal(http_request("POST", url, headers, body, r), 0);
    return r->status;
}

static long api(const char *method, const char *path, const char *body, struct http_result *r)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", srv.base_url, path);
    const char *headers[] = {auth, NULL};
    assert_int_equal(http_request(method, url, headers, body, r), 0);
    return r->status;
}

/* A 503 whose JSON error says storage is unavailable, without SQLite's own text. */
static void assert_clear_503(const char *what, struct http_result *r)
{
    const char *body = r->body.data ? r->body.data : "";
    if (r->status != 503)
        fail_msg("%s: %ld, expected 503: %s", what, r->status, body);
    json_t *e = json_object_get(r->json, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code == NULL || msg == NULL)
        fail_msg("%s: no JSON error envelope: %s", what, body);
    if (strstr(msg, "try again") == NULL || strstr(msg, "stor") == NULL)
        fail_msg("%s: the message does not say what is wrong: %s", what, msg);
    static const char *const sqlite_words[] = {"SQLITE", "sqlite", "disk I/O error",
                                               "database or disk is full", NULL};
    for (int i = 0; sqlite_words[i] != NULL; i++)
        if (strstr(body, sqlite_words[i]) != NULL)
            fail_msg("%s: SQLite's text reaches the caller: %s", what, body);
}

static void reads_still_work(void)
{
    struct http_result r;
    assert_int_equal(api("GET", "/healthz", NULL, &r), 200);
    http_result_free(&r);
    assert_int_equal(api("GET", "/api/admin/invoices", NULL, &r), 200);
    http_result_free(&r);
}

static void nothing_half_written(void)
{
    int64_t events = count("SELECT count(*) FROM webhook_events WHERE status = 'processed'");
    int64_t payments = count("SELECT count(*) FROM transactions WHERE kind = 'payment'");
    int64_t paid = count("SELECT count(*) FROM invoices WHERE status = 'paid'");
    if (events != payments || payments != paid)
        fail_msg("%" PRId64 " processed events, %" PRId64 " payments, %" PRId64 " paid invoices",
                 events, payments, paid);
    struct db *db = open_db();
    struct audit_verify_result v;
    struct lumi_err err;
    assert_int_equal(audit_verify(db, &v, &err), 0);
    if (v.broken_id != 0)
        fail_msg("audit chain broken at %" PRId64 ": %s", v.broken_id, v.reason);
    db_close(db);
}

/* Under fault, invoice i's delivery and a client creation answer 503 and store nothing. */
static void refused_under(const char *fault, int i, const char *email)
{
    struct http_result r;
    char body[128];
    set_fault(fault);
    deliver(i, &r);
    assert_clear_503("webhook delivery", &r);
    http_result_free(&r);
    snprintf(body, sizeof body, "{\"email\":\"%s\"}", email);
    api("POST", "/api/admin/clients", body, &r);
    assert_clear_503("POST /api/admin/clients", &r);
    http_result_free(&r);
    reads_still_work();
    assert_int_equal(count("SELECT count(*) FROM webhook_events WHERE event_id ="
                           " 'evt_diskfull_%d'",
                           i),
                     0);
    assert_int_equal(count("SELECT count(*) FROM invoices WHERE id = %" PRId64
                           " AND status = 'paid'",
                           invoice_ids[i]),
                     0);
    assert_int_equal(count("SELECT count(*) FROM users WHERE email = '%s'", email), 0);
    nothing_half_written();
}

/* With the fault cleared (no restart), invoice i's delivery and the client creation go through. */
static void accepted_again(int i, const char *email)
{
    struct http_result r;
    char body[128];
    set_fault("none");
    if (deliver(i, &r) != 200)
        fail_msg("delivery after the fault: %ld %s", r.status, r.body.data ? r.body.data : "");
    http_result_free(&r);
    snprintf(body, sizeof body, "{\"email\":\"%s\"}", email);
    if (api("POST", "/api/admin/clients", body, &r) != 201)
        fail_msg("client after the fault: %ld %s", r.status, r.body.data ? r.body.data : "");
    http_result_free(&r);
    assert_int_equal(count("SELECT count(*) FROM invoices WHERE id = %" PRId64
                           " AND status = 'paid'",
                           invoice_ids[i]),
                     1);
    assert_int_equal(count("SELECT count(*) FROM users WHERE email = '%s'", email), 1);
    nothing_half_written();
}

static void start_server(void)
{
    char store[3][600];
    snprintf(store[0], sizeof store[0], "DATABASE_URL=sqlite:%s", db_path);
    snprintf(store[1], sizeof store[1], "FAULTVFS_CTL=%s", ctl_path);
    snprintf(store[2], sizeof store[2], "FAULTVFS_REAL_SYNC=1");
    const char *env[] = {store[0],
                         store[1],
                         store[2],
                         "LUMI_SECRET_KEY=" SECRET_KEY,
                         "STRIPE_WEBHOOK_SECRET=" WHSEC,
                         "STRIPE_SECRET_KEY=sk_test_diskfull",
                         "STRIPE_API_BASE=http://127.0.0.1:9",
                         NULL};
    int status = 0;
    if (fault_server_start(&srv, env, log_path, &status) != 1)
        fail_msg("the server did not start (status %d); see %s", status, log_path);
}

static void full_disk_and_io_errors_answer_503_and_recover_without_restart(void **state)
{
    (void)state;
    seed();
    set_fault("none");
    start_server();
    struct http_result r;
    assert_int_equal(deliver(0, &r), 200);
    http_result_free(&r);

    refused_under("full", 1, "full@example.com");
    accepted_again(1, "full@example.com");

    refused_under("ioerr", 2, "ioerr@example.com");
    accepted_again(2, "ioerr@example.com");

    /* the first delivery again: a duplicate, still answered and not paid twice */
    assert_int_equal(deliver(0, &r), 200);
    http_result_free(&r);
    int status = fault_server_stop(&srv, false);
    assert_int_equal(status, 0);
    assert_int_equal(count("SELECT count(*) FROM invoices WHERE status = 'paid'"), 3);
    struct db *db = open_db();
    struct lumi_err err;
    struct db_stmt *st = db_prepare(db, "PRAGMA integrity_check", &err);
    assert_non_null(st);
    assert_int_equal(db_step(st, &err), DB_ROW);
    assert_string_equal(db_col_text(st, 0), "ok");
    db_finalize(st);
    db_close(db);
    nothing_half_written();
}

int main(int argc, char **argv)
{
    int status = 0;
    if (fault_serve_main(argc, argv, &status))
        return status;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lumi-diskfull-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof db_path, "%s/lumi.db", dir);
    snprintf(ctl_path, sizeof ctl_path, "%s/fault", dir);
    snprintf(log_path, sizeof log_path, "%s/server.log", dir);
    setenv("LUMI_SECRET_KEY", SECRET_KEY, 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    crypto_init();
    log_set_level(LOG_WARN); /* the migrations of every run would drown the report */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_disk_and_io_errors_answer_503_and_recover_without_restart),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fault_server_stop(&srv, true);
    if (rc != 0) {
        fprintf(stderr, "server log and database kept in %s\n", dir);
    } else {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    curl_global_cleanup();
    return rc;
}
