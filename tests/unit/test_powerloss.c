/*
 * test_powerloss.c — simulated power cuts under SQLite (tests/support/
 * faultvfs.h): after each one, the database reopened with the normal VFS
 * must hold everything Lumi acknowledged, and be whole.
 *
 * Three workloads, each cut at many points (the Nth write/truncate/sync of
 * the run, points spread over the whole run, every other one tearing the
 * newest unsynced write):
 *   webhooks    `lumi serve` over the shim (this program, run as `serve`)
 *               takes signed checkout.session.completed deliveries from 4
 *               threads, each sent twice, through the real HTTP handler and
 *               group commit. After the cut: every delivery answered 2xx has
 *               its webhook_events row and its invoice is paid, no invoice is
 *               paid twice, processed events = payments = paid invoices (the
 *               event, the payment and the audit rows are one transaction),
 *               the audit chain verifies.
 *   jobs        a child process enqueues, claims and completes provisioning
 *               jobs (provisioning/jobs.h), telling the parent through a pipe
 *               what each commit returned. After the cut: every acknowledged
 *               job is there with at least the acknowledged status, none is
 *               doubled (one open job per service and action, no more rows
 *               than enqueues), a completed one is done.
 *   migrations  a child migrates an empty database. After the cut: migrate
 *               again succeeds and the schema equals a clean migration's.
 * Every run also checks PRAGMA integrity_check = ok.
 *
 * CRASH_POINTS (environment) is the number of cut points per workload:
 * 25 by default (make test), thousands with `make crash`. The program
 * prints how many points ran, how many the run outlived, and each failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "audit/audit.h"
#include "billing/invoices.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/utc.h"
#include "db/db.h"
#include "db/migrate.h"
#include "gateways/stripe_sig.h"
#include "provisioning/jobs.h"
#include "support/faultrun.h"
#include "support/faultvfs.h"
#include "support/httpc.h"

#define DEFAULT_POINTS 25
#define DELIVERIES 24
#define SENDERS 4
#define SERVICES 12
#define WHSEC "whsec_powerloss_test"
#define SECRET_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char dir[256];
static int failures;
static long long acks_checked; /* acknowledged commits looked for after the cuts */
/* The index of the cut point being run: whether it tears and its seed (with more points than
 * operations, two cuts at the same operation differ in these). */
static int variant;

static int points_wanted(void)
{
    const char *v = getenv("CRASH_POINTS");
    long n = v != NULL ? strtol(v, NULL, 10) : 0;
    return n > 0 && n < 1000000 ? (int)n : DEFAULT_POINTS;
}

static void failed(const char *what, long long point, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failed(const char *what, long long point, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s crash point %lld: ", what, point);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failures++;
}

static void path_in_dir(char *out, size_t sz, const char *name)
{
    snprintf(out, sz, "%s/%s", dir, name);
}

static void remove_db(const char *path)
{
    char p[512];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-journal", path);
    unlink(p);
}

static void copy_file(const char *from, const char *to)
{
    remove_db(to);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

static struct db *open_url(const char *path)
{
    char url[600];
    struct lumi_err err;
    snprintf(url, sizeof url, "sqlite:%s", path);
    struct db *db = db_open(url, &err);
    if (db == NULL)
        fail_msg("open %s: %s", path, err.msg);
    return db;
}

static int64_t q1(struct db *db, const char *sql)
{
    int64_t v = -1;
    struct lumi_err err;
    if (db_query_int64(db, sql, 0, NULL, &v, &err) != 0)
        return -1;
    return v;
}

/* "ok" from PRAGMA integrity_check, else the first complaint into why. */
static bool integrity_ok(struct db *db, char *why, size_t sz)
{
    struct lumi_err err;
    struct db_stmt *st = db_prepare(db, "PRAGMA integrity_check", &err);
    if (st == NULL) {
        snprintf(why, sz, "%.200s", err.msg);
        return false;
    }
    bool row = db_step(st, &err) == DB_ROW;
    const char *said = row ? db_col_text(st, 0) : NULL;
    bool ok = said != NULL && strcmp(said, "ok") == 0;
    if (!ok)
        snprintf(why, sz, "%.200s", said != NULL ? said : err.msg);
    db_finalize(st);
    return ok;
}

static bool audit_ok(struct db *db, char *why, size_t sz)
{
    struct audit_verify_result v;
    struct lumi_err err;
    if (audit_verify(db, &v, &err) != 0) {
        snprintf(why, sz, "audit_verify: %.200s", err.msg);
        return false;
    }
    if (v.broken_id != 0) {
        snprintf(why, sz, "audit chain broken at #%" PRId64 ": %s", v.broken_id, v.reason);
        return false;
    }
    return true;
}

/* Cut points spread over [1, total]: point i of n, with a deterministic jitter. */
static long long point_of(int i, int n, long long total)
{
    long long span = total / n > 0 ? total / n : 1;
    long long p = (long long)i * total / n + 1 + (long long)((unsigned)(i * 2654435761u) % span);
    return p > total ? total : p;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double started_at; /* of the current workload */

static void report(const char *what, int ran, int cut, int outlived, long long total, int fails)
{
    printf("powerloss %-10s crash points run: %d (power cut: %d, run finished first: %d) over %lld "
           "operations, acknowledged commits checked: %lld, failures: %d (%.1f s)\n",
           what, ran, cut, outlived, total, acks_checked, fails, seconds_now() - started_at);
    fflush(stdout);
    acks_checked = 0;
}

/* ---- webhooks through `lumi serve` ---- */

struct delivery {
    char event_id[64];
    int64_t invoice_id;
    char *body;
    bool acked; /* some answer 2xx */
};

static struct delivery deliveries[DELIVERIES];
static char template_db[512];

static void seed_invoices(struct db *db)
{
    struct lumi_err err;
    char now[UTC_ISO_LEN], due[UTC_ISO_LEN];
    int64_t client = 0;
    utc_now_iso(now);
    utc_format(utc_now() + 14 * 86400, due);
    assert_int_equal(db_begin(db, &err), 0);
    const char *const p[] = {now};
    if (db_query_int64(db,
                       "INSERT INTO users (email, role, created_at, updated_at)"
                       " VALUES ('powerloss@example.com', 'client', $1, $1) RETURNING id",
                       1, p, &client, &err) != 0)
        fail_msg("client: %s", err.msg);
    for (int i = 0; i < DELIVERIES; i++) {
        struct invoice_item_in item = {.description = "Game server S (monthly)",
                                       .quantity = 1,
                                       .unit_amount = 1000 + i,
                                       .kind = "recurring"};
        if (invoices_create(db, &AUDIT_SYSTEM, client, "usd", due, &item, 1,
                            &deliveries[i].invoice_id, &err) != 0)
            fail_msg("invoice: %s", err.msg);
    }
    assert_int_equal(db_commit(db, &err), 0);
}

static void build_deliveries(void)
{
    for (int i = 0; i < DELIVERIES; i++) {
        struct delivery *d = &deliveries[i];
        char iid[24], cs[48], pi[48];
        snprintf(d->event_id, sizeof d->event_id, "evt_powerloss_%d", i);
        snprintf(iid, sizeof iid, "%" PRId64, d->invoice_id);
        snprintf(cs, sizeof cs, "cs_powerloss_%d", i);
        snprintf(pi, sizeof pi, "pi_powerloss_%d", i);
        json_t *ev = json_pack(
            "{s:s, s:s, s:s, s:I, s:b, s:{s:{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, "
            "s:{s:s}}}}",
            "id", d->event_id, "object", "event", "type", "checkout.session.completed", "created",
            (json_int_t)utc_now(), "livemode", 0, "data", "object", "id", cs, "object",
            "checkout.session", "amount_total", (json_int_t)(1000 + i), "amount_subtotal",
            (json_int_t)(1000 + i), "currency", "usd", "payment_status", "paid", "status",
            "complete", "mode", "payment", "payment_intent", pi, "metadata", "invoice_id", iid);
        assert_non_null(ev);
        d->body = json_dumps(ev, JSON_COMPACT);
        json_decref(ev);
        assert_non_null(d->body);
    }
}

struct sender {
    const char *base_url;
    int next; /* shared index, under lock */
    pthread_mutex_t lock;
    int answered[DELIVERIES * 2];
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    char url[128];
    snprintf(url, sizeof url, "%s/api/stripe/webhook", s->base_url);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int k = s->next < DELIVERIES * 2 ? s->next++ : -1;
        pthread_mutex_unlock(&s->lock);
        if (k < 0)
            return NULL;
        struct delivery *d = &deliveries[k % DELIVERIES];
        char sig[STRIPE_SIG_HEADER_MAX], hdr[STRIPE_SIG_HEADER_MAX + 32];
        if (stripe_sign(WHSEC, d->body, strlen(d->body), utc_now(), sig, sizeof sig) != 0)
            return NULL;
        snprintf(hdr, sizeof hdr, "Stripe-Signature: %s", sig);
        const char *headers[] = {hdr, NULL};
        struct http_result r;
        int rc = http_request("POST", url, headers, d->body, &r);
        long status = r.status;
        http_result_free(&r);
        if (rc != 0) {
            pthread_mutex_lock(&s->lock);
            s->next = DELIVERIES * 2; /* the server is gone: stop everyone */
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        s->answered[k] = (int)status;
    }
}

static void webhook_env(const char **env, char store[][600], const char *db, long long crash_at,
                        const char *ops_path)
{
    int n = 0;
    snprintf(store[n], sizeof store[n], "DATABASE_URL=sqlite:%s", db);
    env[n] = store[n];
    n++;
    env[n++] = "LUMI_SECRET_KEY=" SECRET_KEY;
    env[n++] = "STRIPE_WEBHOOK_SECRET=" WHSEC;
    env[n++] = "STRIPE_SECRET_KEY=sk_test_powerloss";
    env[n++] = "STRIPE_API_BASE=http://127.0.0.1:9";
    env[n++] = "LUMI_LOG_LEVEL=warn";
    snprintf(store[n], sizeof store[n], "FAULTVFS_CRASH_AT=%lld", crash_at);
    env[n] = store[n];
    n++;
    snprintf(store[n], sizeof store[n], "FAULTVFS_TEAR=%d", variant % 2);
    env[n] = store[n];
    n++;
    snprintf(store[n], sizeof store[n], "FAULTVFS_SEED=%d", variant + 1);
    env[n] = store[n];
    n++;
    if (ops_path != NULL) {
        snprintf(store[n], sizeof store[n], "FAULTVFS_OPS=%s", ops_path);
        env[n] = store[n];
        n++;
    }
    env[n] = NULL;
}

/* One run of the server over a fresh copy of the template; 1 cut, 0 outlived, < 0 broken
 * (any other end, e.g. an abort at SIGTERM: libmicrohttpd's MHD_quiesce_daemon used to
 * race with its epoll thread there, which is why the server no longer quiesces). */
static int webhook_run(long long crash_at, bool acked[DELIVERIES], const char *ops_path)
{
    char db[512], log_path[512];
    char store[12][600];
    const char *env[16];
    path_in_dir(db, sizeof db, "webhooks.db");
    path_in_dir(log_path, sizeof log_path, "webhooks.log");
    copy_file(template_db, db);
    FILE *log = fopen(log_path, "a");
    if (log != NULL) {
        fprintf(log, "==== crash point %lld\n", crash_at);
        fclose(log);
    }
    webhook_env(env, store, db, crash_at, ops_path);
    struct fault_server srv;
    int status = 0;
    int started = fault_server_start(&srv, env, log_path, &status);
    memset(acked, 0, sizeof(bool) * DELIVERIES);
    if (started == 0)
        return status == FAULTVFS_CRASH_STATUS ? 1 : -status - 1000;
    if (started < 0)
        return -1;
    struct sender s = {.base_url = srv.base_url};
    pthread_mutex_init(&s.lock, NULL);
    pthread_t t[SENDERS];
    for (int i = 0; i < SENDERS; i++)
        pthread_create(&t[i], NULL, sender_main, &s);
    for (int i = 0; i < SENDERS; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&s.lock);
    for (int k = 0; k < DELIVERIES * 2; k++)
        if (s.answered[k] >= 200 && s.answered[k] < 300)
            acked[k % DELIVERIES] = true;
    if (fault_server_alive(&srv, &status)) /* still running, or still cutting the power */
        status = fault_server_stop(&srv, false);
    if (status == 0)
        return 0;
    return status == FAULTVFS_CRASH_STATUS ? 1 : -status - 1000;
}

static void webhook_check(long long point, const bool acked[DELIVERIES])
{
    char db_path[512], why[300];
    path_in_dir(db_path, sizeof db_path, "webhooks.db");
    struct db *db = open_url(db_path);
    if (!integrity_ok(db, why, sizeof why))
        failed("webhooks", point, "integrity_check: %s", why);
    struct lumi_err err;
    for (int i = 0; i < DELIVERIES; i++) {
        if (!acked[i])
            continue;
        acks_checked++;
        int64_t n = 0;
        const char *const p[] = {deliveries[i].event_id};
        if (db_query_int64(db, "SELECT count(*) FROM webhook_events WHERE event_id = $1", 1, p, &n,
                           &err) != 0 ||
            n != 1)
            failed("webhooks", point, "delivery %s answered 2xx but its event row is missing",
                   deliveries[i].event_id);
        char iid[24];
        snprintf(iid, sizeof iid, "%" PRId64, deliveries[i].invoice_id);
        const char *const q[] = {iid};
        if (db_query_int64(db, "SELECT count(*) FROM invoices WHERE id = $1 AND status = 'paid'", 1,
                           q, &n, &err) != 0 ||
            n != 1)
            failed("webhooks", point, "delivery %s answered 2xx but invoice %s is not paid",
                   deliveries[i].event_id, iid);
    }
    int64_t twice = q1(db, "SELECT count(*) FROM (SELECT invoice_id FROM transactions WHERE"
                           " kind = 'payment' GROUP BY invoice_id HAVING count(*) > 1) t");
    if (twice != 0)
        failed("webhooks", point, "%" PRId64 " invoices paid twice", twice);
    int64_t events = q1(db, "SELECT count(*) FROM webhook_events WHERE status = 'processed'");
    int64_t payments = q1(db, "SELECT count(*) FROM transactions WHERE kind = 'payment'");
    int64_t paid = q1(db, "SELECT count(*) FROM invoices WHERE status = 'paid'");
    if (events != payments || payments != paid)
        failed("webhooks", point,
               "half a delivery stored: %" PRId64 " processed events, %" PRId64
               " payments, %" PRId64 " paid invoices",
               events, payments, paid);
    if (!audit_ok(db, why, sizeof why))
        failed("webhooks", point, "%s", why);
    db_close(db);
}

static void setup_webhooks(void)
{
    path_in_dir(template_db, sizeof template_db, "webhooks-template.db");
    struct db *db = open_url(template_db);
    struct lumi_err err;
    if (db_migrate(db, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    seed_invoices(db);
    db_close(db);
    build_deliveries();
}

static long long read_ops(const char *path)
{
    FILE *fp = fopen(path, "r");
    long long n = 0;
    if (fp == NULL)
        return 0;
    if (fscanf(fp, "%lld", &n) != 1)
        n = 0;
    fclose(fp);
    return n;
}

static void acknowledged_webhooks_survive_a_power_cut(void **state)
{
    (void)state;
    started_at = seconds_now();
    setup_webhooks();
    bool acked[DELIVERIES];
    char ops_path[512];
    path_in_dir(ops_path, sizeof ops_path, "webhooks.ops");
    /* a run without a cut: how many operations there are to cut at, and that all is answered */
    int rc = webhook_run(0, acked, ops_path);
    assert_int_equal(rc, 0);
    for (int i = 0; i < DELIVERIES; i++)
        assert_true(acked[i]);
    webhook_check(0, acked);
    long long total = read_ops(ops_path);
    assert_true(total > 0);
    int n = points_wanted(), cut = 0, outlived = 0, before = failures;
    for (int i = 0; i < n; i++) {
        long long p = point_of(i, n, total);
        variant = i;
        rc = webhook_run(p, acked, NULL);
        if (rc < 0) {
            failed("webhooks", p, "the server ended with status %d (not the power cut)",
                   rc <= -1000 ? -rc - 1000 : rc);
            continue;
        }
        rc == 1 ? cut++ : outlived++;
        webhook_check(p, acked);
    }
    report("webhooks", n, cut, outlived, total, failures - before);
    assert_int_equal(failures - before, 0);
}

/* ---- jobs, in a child process ---- */

static char jobs_template[512];
static int64_t services[SERVICES];

static void seed_services(struct db *db)
{
    struct lumi_err err;
    char now[UTC_ISO_LEN];
    int64_t client = 0, product = 0;
    utc_now_iso(now);
    const char *const pu[] = {now};
    assert_int_equal(db_begin(db, &err), 0);
    if (db_query_int64(db,
                       "INSERT INTO users (email, role, created_at, updated_at)"
                       " VALUES ('jobs@example.com', 'client', $1, $1) RETURNING id",
                       1, pu, &client, &err) != 0 ||
        db_query_int64(db,
                       "INSERT INTO products (name, type, price, currency, billing_cycle,"
                       " autosetup, created_at, updated_at) VALUES ('Game', 'game_server',"
                       " 500, 'usd', 'monthly', 'order', $1, $1) RETURNING id",
                       1, pu, &product, &err) != 0)
        fail_msg("seed: %s", err.msg);
    for (int i = 0; i < SERVICES; i++) {
        char c[24], p[24], key[48];
        snprintf(c, sizeof c, "%" PRId64, client);
        snprintf(p, sizeof p, "%" PRId64, product);
        snprintf(key, sizeof key, "powerloss-%d", i);
        const char *const v[] = {c, p, key, now};
        if (db_query_int64(db,
                           "INSERT INTO services (client_id, product_id, status, remote_key,"
                           " billing_cycle, recurring_amount, currency, created_at, updated_at)"
                           " VALUES ($1, $2, 'pending', $3, 'monthly', 500, 'usd', $4, $4)"
                           " RETURNING id",
                           4, v, &services[i], &err) != 0)
            fail_msg("service: %s", err.msg);
    }
    assert_int_equal(db_commit(db, &err), 0);
}

static void tell(int fd, char what, int64_t id)
{
    char line[48];
    int n = snprintf(line, sizeof line, "%c %" PRId64 "\n", what, id);
    if (write(fd, line, (size_t)n) != n)
        _exit(3);
}

static const char *const ACTIONS[] = {"provision", "suspend"};

/* The child: per service, enqueue two actions, claim and complete each, telling the parent. */
static void jobs_child(const char *path, int fd)
{
    struct lumi_err err;
    struct db *db = open_url(path);
    for (int i = 0; i < SERVICES; i++) {
        for (int a = 0; a < 2; a++) {
            int64_t id = 0;
            if (db_begin(db, &err) != 0 ||
                jobs_enqueue(db, services[i], ACTIONS[a], NULL, &id, &err) != 0 ||
                db_commit(db, &err) != 0)
                _exit(4);
            tell(fd, 'E', id);
        }
        for (int a = 0; a < 2; a++) {
            struct job j = {0};
            if (jobs_claim(db, "powerloss:1:1", 600, &j, &err) != 1)
                _exit(5);
            tell(fd, 'R', j.id);
            if (db_begin(db, &err) != 0 || jobs_hold(db, &j, &err) != 0 ||
                jobs_complete(db, j.id, &err) != 0 || db_commit(db, &err) != 0)
                _exit(6);
            tell(fd, 'D', j.id);
            job_clear(&j);
        }
    }
    db_close(db);
    tell(fd, 'T', faultvfs_ops());
    _exit(0);
}

struct jobs_seen {
    int64_t enqueued[SERVICES * 2], done[SERVICES * 2], running[SERVICES * 2];
    int ne, nd, nr;
    long long ops;
};

/* Forks the child with a cut at crash_at; 1 cut, 0 finished, -1 other. */
static int jobs_run(long long crash_at, struct jobs_seen *seen)
{
    char db[512];
    path_in_dir(db, sizeof db, "jobs.db");
    copy_file(jobs_template, db);
    memset(seen, 0, sizeof *seen);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        struct faultvfs_opts o = {
            .crash_at = crash_at, .tear = variant % 2 == 1, .seed = (unsigned)variant + 1};
        if (faultvfs_register(&o) != 0)
            _exit(2);
        jobs_child(db, p[1]);
    }
    close(p[1]);
    FILE *in = fdopen(p[0], "r");
    char what;
    long long id;
    while (fscanf(in, " %c %lld", &what, &id) == 2) {
        if (what == 'E' && seen->ne < SERVICES * 2)
            seen->enqueued[seen->ne++] = id;
        else if (what == 'R' && seen->nr < SERVICES * 2)
            seen->running[seen->nr++] = id;
        else if (what == 'D' && seen->nd < SERVICES * 2)
            seen->done[seen->nd++] = id;
        else if (what == 'T')
            seen->ops = id;
    }
    fclose(in);
    int w = 0;
    waitpid(pid, &w, 0);
    int code = fault_exit_code(w);
    return code == FAULTVFS_CRASH_STATUS ? 1 : code == 0 ? 0 : -1;
}

static const char *job_status(struct db *db, int64_t id, char *out, size_t sz)
{
    struct lumi_err err;
    struct db_stmt *st = db_prepare(db, "SELECT status FROM jobs WHERE id = $1", &err);
    out[0] = '\0';
    if (st != NULL) {
        db_bind_int64(st, 1, id);
        if (db_step(st, &err) == DB_ROW)
            snprintf(out, sz, "%s", db_col_text(st, 0));
    }
    db_finalize(st);
    return out;
}

static void jobs_check(long long point, const struct jobs_seen *seen)
{
    char path[512], why[300], status[16];
    path_in_dir(path, sizeof path, "jobs.db");
    struct db *db = open_url(path);
    if (!integrity_ok(db, why, sizeof why))
        failed("jobs", point, "integrity_check: %s", why);
    acks_checked += seen->ne + seen->nr + seen->nd;
    for (int i = 0; i < seen->ne; i++)
        if (job_status(db, seen->enqueued[i], status, sizeof status)[0] == '\0')
            failed("jobs", point, "job %" PRId64 " was enqueued (committed) and is lost",
                   seen->enqueued[i]);
    for (int i = 0; i < seen->nr; i++) {
        job_status(db, seen->running[i], status, sizeof status);
        if (strcmp(status, "running") != 0 && strcmp(status, "done") != 0)
            failed("jobs", point, "job %" PRId64 " was claimed (committed) but is '%s'",
                   seen->running[i], status);
    }
    for (int i = 0; i < seen->nd; i++)
        if (strcmp(job_status(db, seen->done[i], status, sizeof status), "done") != 0)
            failed("jobs", point, "job %" PRId64 " was completed (committed) but is '%s'",
                   seen->done[i], status);
    int64_t doubled = q1(db, "SELECT count(*) FROM (SELECT service_id, action FROM jobs GROUP BY"
                             " service_id, action HAVING count(*) > 1) t");
    int64_t rows = q1(db, "SELECT count(*) FROM jobs");
    if (doubled != 0)
        failed("jobs", point, "%" PRId64 " jobs doubled", doubled);
    if (rows < seen->ne || rows > seen->ne + 1)
        failed("jobs", point, "%" PRId64 " job rows after %d acknowledged enqueues", rows,
               seen->ne);
    if (!audit_ok(db, why, sizeof why))
        failed("jobs", point, "%s", why);
    db_close(db);
}

static void acknowledged_jobs_survive_a_power_cut(void **state)
{
    (void)state;
    started_at = seconds_now();
    path_in_dir(jobs_template, sizeof jobs_template, "jobs-template.db");
    struct db *db = open_url(jobs_template);
    struct lumi_err err;
    if (db_migrate(db, NULL, &err) != 0)
        fail_msg("migrate: %s", err.msg);
    seed_services(db);
    db_close(db);
    struct jobs_seen seen;
    assert_int_equal(jobs_run(0, &seen), 0);
    assert_int_equal(seen.nd, SERVICES * 2);
    jobs_check(0, &seen);
    long long total = seen.ops;
    assert_true(total > 0);
    int n = points_wanted(), cut = 0, outlived = 0, before = failures;
    for (int i = 0; i < n; i++) {
        long long p = point_of(i, n, total);
        variant = i;
        int rc = jobs_run(p, &seen);
        if (rc < 0) {
            failed("jobs", p, "the child ended otherwise than by the power cut");
            continue;
        }
        rc == 1 ? cut++ : outlived++;
        jobs_check(p, &seen);
    }
    report("jobs", n, cut, outlived, total, failures - before);
    assert_int_equal(failures - before, 0);
}

/* ---- migrations from an empty database ---- */

/* Every schema object's SQL in name order: two databases with the same schema say the same. */
static char *schema_of(struct db *db)
{
    struct lumi_err err;
    struct db_stmt *st =
        db_prepare(db,
                   "SELECT group_concat(name || ':' || sql, ';') FROM (SELECT name, sql FROM"
                   " sqlite_master WHERE sql IS NOT NULL ORDER BY name)",
                   &err);
    if (st == NULL)
        fail_msg("schema: %s", err.msg);
    char *s = NULL;
    if (db_step(st, &err) == DB_ROW && db_col_text(st, 0) != NULL)
        s = strdup(db_col_text(st, 0));
    db_finalize(st);
    return s;
}

static int migrate_run(long long crash_at, long long *ops)
{
    char path[512];
    path_in_dir(path, sizeof path, "migrate.db");
    remove_db(path);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        struct faultvfs_opts o = {
            .crash_at = crash_at, .tear = variant % 2 == 1, .seed = (unsigned)variant + 1};
        struct lumi_err err;
        if (faultvfs_register(&o) != 0)
            _exit(2);
        struct db *db = open_url(path);
        if (db_migrate(db, NULL, &err) != 0)
            _exit(4);
        db_close(db);
        tell(p[1], 'T', faultvfs_ops());
        _exit(0);
    }
    close(p[1]);
    FILE *in = fdopen(p[0], "r");
    char what;
    long long n = 0;
    if (fscanf(in, " %c %lld", &what, &n) == 2 && ops != NULL)
        *ops = n;
    fclose(in);
    int w = 0;
    waitpid(pid, &w, 0);
    int code = fault_exit_code(w);
    return code == FAULTVFS_CRASH_STATUS ? 1 : code == 0 ? 0 : -1;
}

static void migrate_check(long long point, const char *reference)
{
    char path[512], why[300];
    struct lumi_err err;
    path_in_dir(path, sizeof path, "migrate.db");
    struct db *db = open_url(path);
    if (!integrity_ok(db, why, sizeof why))
        failed("migrations", point, "integrity_check: %s", why);
    int64_t recorded = q1(db, "SELECT count(*) FROM schema_migrations");
    acks_checked += recorded > 0 ? recorded : 0; /* migrations committed before the cut */
    if (db_migrate(db, NULL, &err) != 0) {
        failed("migrations", point, "migrating again: %s", err.msg);
    } else {
        char *schema = schema_of(db);
        if (schema == NULL || strcmp(schema, reference) != 0)
            failed("migrations", point, "the schema after migrating again is not a clean one's");
        free(schema);
        int64_t versions = q1(db, "SELECT count(*) FROM schema_migrations");
        if (versions != db_schema_version_latest())
            failed("migrations", point, "%" PRId64 " versions recorded, %d expected", versions,
                   db_schema_version_latest());
        if (!integrity_ok(db, why, sizeof why))
            failed("migrations", point, "integrity_check after migrating again: %s", why);
    }
    db_close(db);
}

static void migrations_are_whole_or_resumable_after_a_power_cut(void **state)
{
    (void)state;
    started_at = seconds_now();
    long long total = 0;
    assert_int_equal(migrate_run(0, &total), 0);
    assert_true(total > 0);
    char path[512];
    path_in_dir(path, sizeof path, "migrate.db");
    struct db *db = open_url(path);
    char *reference = schema_of(db);
    db_close(db);
    assert_non_null(reference);
    int n = points_wanted(), cut = 0, outlived = 0, before = failures;
    for (int i = 0; i < n; i++) {
        long long p = point_of(i, n, total);
        variant = i;
        int rc = migrate_run(p, NULL);
        if (rc < 0) {
            failed("migrations", p, "the child ended otherwise than by the power cut");
            continue;
        }
        rc == 1 ? cut++ : outlived++;
        migrate_check(p, reference);
    }
    free(reference);
    report("migrations", n, cut, outlived, total, failures - before);
    assert_int_equal(failures - before, 0);
}

static void remove_tree(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (dir[0] != '\0' && system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

int main(int argc, char **argv)
{
    int status = 0;
    if (fault_serve_main(argc, argv, &status))
        return status;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/lumi-powerloss-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    setenv("LUMI_SECRET_KEY", SECRET_KEY, 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    crypto_init();
    log_set_level(LOG_WARN); /* the migrations of every run would drown the report */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(migrations_are_whole_or_resumable_after_a_power_cut),
        cmocka_unit_test(acknowledged_jobs_survive_a_power_cut),
        cmocka_unit_test(acknowledged_webhooks_survive_a_power_cut),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc == 0 && getenv("CRASH_KEEP") == NULL)
        remove_tree();
    else
        fprintf(stderr, "kept %s\n", dir);
    curl_global_cleanup();
    return rc;
}
