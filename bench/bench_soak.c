/*
 * bench_soak.c — does `lumi serve` stay flat under hours of mixed load with
 * faulty upstreams? (issue 17: RSS and open file descriptors flat, no error
 * that was not injected.)
 *
 * What it does:
 *   1. Seeds a SQLite database in a temporary directory through Lumi's own
 *      library: an admin and a client with passwords, an API token, a fake
 *      Pterodactyl panel (tests/fakes) as a server row, a product and
 *      SERVICES active services whose remote servers exist on the fake.
 *   2. Starts `lumi serve` (worker on) and logs the admin and the client in
 *      through their forms.
 *   3. For SOAK_MINUTES (default 20), SOAK_THREADS (default 4) threads each
 *      loop over a mix, one new connection per request:
 *        API write      POST /api/admin/invoices (201), then its signed
 *                       checkout.session.completed webhook (200), now and
 *                       then the same delivery again (200, a duplicate);
 *        pages          /admin, /admin/invoices, /client/invoices,
 *                       /client/services (200);
 *        API reads      /api/admin/invoices?limit=20, /api/admin/jobs, /healthz;
 *        provisioning   POST /api/admin/services/{id}/suspend or /unsuspend
 *                       (202, or 409 while that service has a job open),
 *                       which the worker carries out on the fake panel.
 *      Every 5 s the main thread arms a fault on the fake panel for its next
 *      2 requests: a 500, a 429 with Retry-After, a 1.5 s slow answer, or a
 *      dropped connection (as if it timed out) — the injected errors.
 *   4. Each minute prints the server's RSS (VmRSS) and open descriptors
 *      (the smallest of 5 samples 100 ms apart, so connections in flight do
 *      not count), the requests done, and errors split into injected (faults
 *      armed on the fake; jobs that had to retry) and unexpected (an answer
 *      not in the expected set, no answer, or a level=error line in the
 *      server's log not caused by a panel call).
 *   5. At the end: the worker catches up, and the server is stopped (its exit
 *      status must be 0). PASS when RSS and descriptors grew ≤ 5 % from
 *      minute 2 (or the first sample of shorter runs) to the end, and no
 *      unexpected error; else FAIL (exit status 1). The RSS peak after
 *      minute 2 is printed too: allocator arenas and SQLite's page caches
 *      (512 kB per connection, 4 MB for the group-commit writer) go up and
 *      down, so one end sample can flatter or blacken a run.
 *
 * Not in `make test` (it takes minutes): `make soak SOAK_MINUTES=N`.
 * Environment: LUMI_BIN (default: ../lumi next to this program),
 * SOAK_MINUTES, SOAK_THREADS.
 *
 * Threading: the load threads share only counters (atomics) and the
 * per-service toggles (a mutex); the fake panel runs its own thread; the
 * server is a separate process (tests/support/proc.h).
 */
#if __has_include("support/proc.h")
#define BENCH_HAVE_PROC 1
#else
#define BENCH_HAVE_PROC 0
#endif

#include <stdio.h>

#if BENCH_HAVE_PROC

#include <curl/curl.h>
#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accounts/accounts.h"
#include "accounts/tokens.h"
#include "audit/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/utc.h"
#include "db/migrate.h"
#include "fakes/fake_pterodactyl.h"
#include "gateways/stripe_sig.h"
#include "provisioning/servers.h"
#include "support/browse.h"
#include "support/httpc.h"
#include "support/proc.h"

#define SECRET_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PTERO_KEY "ptla_SoakApplicationKey1234567890abcdefghijk"
#define WHSEC "whsec_soak"
#define ADMIN_EMAIL "soak-admin@example.com"
#define ADMIN_PASSWORD "Soak-Admin-Password-1"
#define CLIENT_EMAIL "soak-client@example.com"
#define CLIENT_PASSWORD "Soak-Client-Password-1"
#define SERVICES 16
#define MAX_MINUTES 24 * 60
#define FAULT_EVERY_MS 5000
#define GROWTH_MAX 0.05

static struct {
    char base_url[64];
    char auth[TOKENS_LEN + 32];
    char admin_cookie[256], client_cookie[256];
    int64_t client_id;
    int64_t services[SERVICES];
    bool suspended[SERVICES], busy[SERVICES];
    pthread_mutex_t svc_lock;
    _Atomic bool stop;
    _Atomic long long requests, unexpected, injected, event_seq;
} G = {.svc_lock = PTHREAD_MUTEX_INITIALIZER};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int env_int(const char *name, int def, int max)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n = v != NULL ? strtol(v, &end, 10) : 0;
    return v != NULL && end != v && *end == '\0' && n > 0 && n <= max ? (int)n : def;
}

/* ---- seeding ---- */

static int seed(struct db *db, struct fake_ptero *fp, struct lumi_err *err)
{
    char token[TOKENS_LEN], ext[24], key[48], now[UTC_ISO_LEN], far[UTC_ISO_LEN];
    int64_t admin = 0, token_id = 0;
    utc_now_iso(now);
    utc_format(utc_now() + 400 * 86400, far);
    if (accounts_create_user(db, &AUDIT_SYSTEM, ADMIN_EMAIL, "admin", ADMIN_PASSWORD, &admin,
                             err) != 0 ||
        accounts_create_user(db, &AUDIT_SYSTEM, CLIENT_EMAIL, "client", CLIENT_PASSWORD,
                             &G.client_id, err) != 0 ||
        tokens_create(db, &AUDIT_SYSTEM, &(struct tokens_new){.name = "soak"}, token, &token_id, err) != 0)
        return -1;
    snprintf(G.auth, sizeof G.auth, "Authorization: Bearer %s", token);
    json_t *in =
        json_pack("{s:s s:s s:s s:s s:i}", "name", "soak-panel", "type", "pterodactyl", "url",
                  fake_ptero_url(fp), "api_key", PTERO_KEY, "rate_limit_per_minute", 100000);
    json_t *out = in != NULL ? servers_create(db, &AUDIT_SYSTEM, in, err) : NULL;
    int64_t server_id = out != NULL ? json_integer_value(json_object_get(out, "id")) : 0;
    json_decref(in);
    json_decref(out);
    if (server_id <= 0)
        return -1;
    snprintf(ext, sizeof ext, "%" PRId64, G.client_id);
    int64_t fake_user = fake_ptero_add_user(fp, CLIENT_EMAIL, "soakclient", ext);
    char sid[24];
    snprintf(sid, sizeof sid, "%" PRId64, server_id);
    const char *const pp[] = {sid, now};
    int64_t product = 0;
    if (db_query_int64(db,
                       "INSERT INTO products (name, type, server_id, price, currency,"
                       " billing_cycle, autosetup, config, created_at, updated_at) VALUES"
                       " ('Game S', 'game_server', $1, 1500, 'usd', 'monthly', 'order',"
                       " '{\"nest_id\":1,\"egg_id\":1}', $2, $2) RETURNING id",
                       2, pp, &product, err) != 0)
        return -1;
    for (int i = 0; i < SERVICES; i++) {
        char client[24], prod[24], remote[24];
        snprintf(key, sizeof key, "lumi-soak-%d", i + 1);
        snprintf(remote, sizeof remote, "%" PRId64, fake_ptero_add_server(fp, key, fake_user));
        snprintf(client, sizeof client, "%" PRId64, G.client_id);
        snprintf(prod, sizeof prod, "%" PRId64, product);
        const char *const p[] = {client, prod, sid, key, remote, far, now};
        if (db_query_int64(db,
                           "INSERT INTO services (client_id, product_id, server_id, status,"
                           " remote_key, external_id, billing_cycle, recurring_amount, currency,"
                           " next_due_date, created_at, updated_at) VALUES ($1, $2, $3, 'active',"
                           " $4, $5, 'monthly', 1500, 'usd', $6, $7, $7) RETURNING id",
                           7, p, &G.services[i], err) != 0)
            return -1;
    }
    return 0;
}

/* ---- requests ---- */

static void unexpected(const char *what, long status, const struct http_result *r)
{
    long long n = atomic_fetch_add(&G.unexpected, 1) + 1;
    if (n <= 20) /* the first ones, so a FAIL says why */
        fprintf(stderr, "soak: unexpected: %s answered %ld %.200s\n", what, status,
                r != NULL && r->body.data ? r->body.data : "(no answer)");
}

/* One request; true when its status is one of ok1/ok2 (0 = none). */
static bool call(const char *method, const char *path, const char *hdr, const char *body, long ok1,
                 long ok2, struct http_result *keep)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", G.base_url, path);
    const char *headers[] = {hdr, NULL};
    struct http_result r;
    int rc = http_request(method, url, hdr != NULL ? headers : NULL, body, &r);
    atomic_fetch_add(&G.requests, 1);
    bool ok = rc == 0 && (r.status == ok1 || (ok2 != 0 && r.status == ok2));
    if (!ok) {
        char what[600];
        snprintf(what, sizeof what, "%s %s", method, path);
        unexpected(what, rc == 0 ? r.status : -1, rc == 0 ? &r : NULL);
    }
    if (keep != NULL && ok)
        *keep = r;
    else
        http_result_free(&r);
    return ok;
}

static bool deliver(const char *body)
{
    char sig[STRIPE_SIG_HEADER_MAX], hdr[STRIPE_SIG_HEADER_MAX + 32];
    if (stripe_sign(WHSEC, body, strlen(body), utc_now(), sig, sizeof sig) != 0)
        return false;
    snprintf(hdr, sizeof hdr, "Stripe-Signature: %s", sig);
    return call("POST", "/api/stripe/webhook", hdr, body, 200, 0, NULL);
}

/* An invoice through the API, paid by its webhook (sometimes delivered twice). */
static void invoice_and_payment(unsigned *seed)
{
    char body[512];
    int64_t amount = 1000 + rand_r(seed) % 5000;
    snprintf(body, sizeof body,
             "{\"client_id\":%" PRId64 ",\"currency\":\"usd\",\"items\":[{\"description\":"
             "\"Game server S\",\"quantity\":1,\"unit_amount\":%" PRId64 "}]}",
             G.client_id, amount);
    struct http_result r;
    if (!call("POST", "/api/admin/invoices", G.auth, body, 201, 0, &r))
        return;
    int64_t id = json_integer_value(json_object_get(r.json, "id"));
    int64_t total = json_integer_value(json_object_get(r.json, "total"));
    http_result_free(&r);
    long long seq = atomic_fetch_add(&G.event_seq, 1);
    /* the fields that differ per delivery are set below */
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:I, s:b, s:{s:{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s}}}", "id", "",
        "object", "event", "type", "checkout.session.completed", "created", (json_int_t)utc_now(),
        "livemode", 0, "data", "object", "id", "", "object", "checkout.session", "amount_total",
        (json_int_t)total, "amount_subtotal", (json_int_t)total, "currency", "usd",
        "payment_status", "paid", "status", "complete", "mode", "payment", "payment_intent", "");
    if (ev == NULL)
        return;
    char evt[48], cs[48], iid[24];
    snprintf(evt, sizeof evt, "evt_soak_%lld", seq);
    snprintf(cs, sizeof cs, "cs_soak_%lld", seq);
    snprintf(iid, sizeof iid, "%" PRId64, id);
    json_object_set_new(ev, "id", json_string(evt));
    json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
    json_object_set_new(obj, "id", json_string(cs));
    json_object_set_new(obj, "payment_intent", json_string(evt));
    json_object_set_new(obj, "metadata", json_pack("{s:s}", "invoice_id", iid));
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    if (text == NULL)
        return;
    if (deliver(text) && rand_r(seed) % 4 == 0)
        deliver(text); /* Stripe delivers again now and then */
    free(text);
}

static void pages(unsigned *seed)
{
    char admin[300], client[300];
    snprintf(admin, sizeof admin, "Cookie: %s", G.admin_cookie);
    snprintf(client, sizeof client, "Cookie: %s", G.client_cookie);
    static const char *const admin_pages[] = {"/admin", "/admin/invoices", "/admin/clients",
                                              "/admin/services"};
    static const char *const client_pages[] = {"/client/invoices", "/client/services", "/client"};
    call("GET", admin_pages[rand_r(seed) % 4], admin, NULL, 200, 0, NULL);
    call("GET", client_pages[rand_r(seed) % 3], client, NULL, 200, 0, NULL);
}

static void api_reads(unsigned *seed)
{
    static const char *const paths[] = {"/api/admin/invoices?limit=20", "/api/admin/jobs",
                                        "/healthz", "/api/admin/services"};
    call("GET", paths[rand_r(seed) % 4], G.auth, NULL, 200, 0, NULL);
}

/* Suspends or unsuspends a service nobody else is toggling; the worker does it on the panel. */
static void provisioning(unsigned *seed)
{
    int i = (int)(rand_r(seed) % SERVICES);
    pthread_mutex_lock(&G.svc_lock);
    bool mine = !G.busy[i];
    G.busy[i] = true;
    bool suspend = !G.suspended[i];
    pthread_mutex_unlock(&G.svc_lock);
    if (!mine)
        return;
    char path[96];
    snprintf(path, sizeof path, "/api/admin/services/%" PRId64 "/%s", G.services[i],
             suspend ? "suspend" : "unsuspend");
    struct http_result r;
    /* 409: the service still has a job open (the panel was faulty): not an error */
    bool ok = call("POST", path, G.auth, suspend ? "{\"reason\":\"manual\"}" : NULL, 202, 409, &r);
    bool accepted = ok && r.status == 202;
    if (ok)
        http_result_free(&r);
    pthread_mutex_lock(&G.svc_lock);
    if (accepted)
        G.suspended[i] = suspend;
    G.busy[i] = false;
    pthread_mutex_unlock(&G.svc_lock);
}

static void *load_main(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + (unsigned)time(NULL);
    while (!atomic_load(&G.stop)) {
        int op = (int)(rand_r(&seed) % 10);
        if (op < 3)
            invoice_and_payment(&seed);
        else if (op < 6)
            pages(&seed);
        else if (op < 8)
            api_reads(&seed);
        else
            provisioning(&seed);
    }
    return NULL;
}

/* ---- measuring the server ---- */

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *fp = fopen(path, "r");
    long kb = -1;
    while (fp != NULL && fgets(line, sizeof line, fp) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (fp != NULL)
        fclose(fp);
    return kb;
}

static int fd_count(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The fewest descriptors of 5 samples 100 ms apart: connections in flight come and go. */
static int fd_floor(int pid)
{
    int best = -1;
    for (int i = 0; i < 5; i++) {
        int n = fd_count(pid);
        if (n >= 0 && (best < 0 || n < best))
            best = n;
        nap_ms(100);
    }
    return best;
}

/*
 * level=error lines of the server's log: those about a panel call or a job
 * are the injected faults at work (counted as injected), any other one is
 * unexpected. *from is where the previous count stopped.
 */
static void count_log_errors(const char *path, long *from, long long *injected, long long *other)
{
    FILE *fp = fopen(path, "r");
    char line[2048];
    if (fp == NULL)
        return;
    fseek(fp, *from, SEEK_SET);
    while (fgets(line, sizeof line, fp) != NULL) {
        if (strstr(line, "level=error") == NULL)
            continue;
        if (strstr(line, "event=job") != NULL || strstr(line, "event=worker") != NULL ||
            strstr(line, "event=panel") != NULL || strstr(line, "event=ptero") != NULL) {
            (*injected)++;
        } else {
            (*other)++;
            if (*other <= 10)
                fprintf(stderr, "soak: server log: %.300s", line);
        }
    }
    *from = ftell(fp);
    fclose(fp);
}

static int64_t jobs_retried(struct db *db)
{
    int64_t n = 0;
    struct lumi_err err;
    if (db_query_int64(db, "SELECT count(*) FROM jobs WHERE attempts > 1 OR status = 'failed'", 0,
                       NULL, &n, &err) != 0)
        return -1;
    return n;
}

static const enum fake_fault FAULTS[] = {FAKE_FAULT_500, FAKE_FAULT_429, FAKE_FAULT_SLOW,
                                         FAKE_FAULT_DROP_BEFORE};

static bool grew(double base, double end)
{
    return base > 0 && end > base * (1.0 + GROWTH_MAX);
}

int main(void)
{
    int minutes = env_int("SOAK_MINUTES", 20, MAX_MINUTES);
    int threads = env_int("SOAK_THREADS", 4, 64);
    char dir[] = "/tmp/lumi-soak-XXXXXX", url[128], db_env[160];
    struct lumi_err err;
    struct db *db = NULL;
    struct fake_ptero *fp = NULL;
    struct lumi_server srv = {0};
    int status = 1;
    bool served = false;

    signal(SIGPIPE, SIG_IGN);
    if (lumi_bin_find() != 0 || mkdtemp(dir) == NULL) {
        fprintf(stderr, "soak: no lumi binary (LUMI_BIN) or no temporary directory\n");
        return 1;
    }
    setenv("LUMI_SECRET_KEY", SECRET_KEY, 1);
    unsetenv("PTERODACTYL_URL");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log_set_level(LOG_WARN);
    if (crypto_init() != 0 || config_load(NULL, &err) != 0) {
        fprintf(stderr, "soak: configuration: %s\n", err.msg);
        goto out;
    }
    snprintf(url, sizeof url, "sqlite:%s/soak.db", dir);
    snprintf(db_env, sizeof db_env, "DATABASE_URL=%s", url);
    fp = fake_ptero_start(PTERO_KEY);
    if ((db = db_open(url, &err)) == NULL || db_migrate(db, NULL, &err) != 0 ||
        seed(db, fp, &err) != 0) {
        fprintf(stderr, "soak: seeding: %s\n", err.msg);
        goto out;
    }
    const char *env[] = {db_env,
                         "LUMI_SECRET_KEY=" SECRET_KEY,
                         "STRIPE_WEBHOOK_SECRET=" WHSEC,
                         "STRIPE_SECRET_KEY=sk_test_soak",
                         "STRIPE_API_BASE=http://127.0.0.1:9",
                         "LUMI_LOG_LEVEL=warn",
                         NULL};
    lumi_serve_start(&srv, env);
    served = true;
    snprintf(G.base_url, sizeof G.base_url, "%s", srv.base_url);
    if (browse_login(G.base_url, "admin", ADMIN_EMAIL, ADMIN_PASSWORD, G.admin_cookie,
                     sizeof G.admin_cookie) != 303 ||
        browse_login(G.base_url, "client", CLIENT_EMAIL, CLIENT_PASSWORD, G.client_cookie,
                     sizeof G.client_cookie) != 303) {
        fprintf(stderr, "soak: cannot log in\n");
        goto out;
    }
    printf("soak: %d minutes, %d load threads, server pid %d, %s (timings depend on the "
           "machine's other load)\n",
           minutes, threads, srv.pid, G.base_url);
    printf("%6s %10s %6s %10s %12s %12s %12s\n", "minute", "rss_kb", "fds", "requests", "injected",
           "job_retries", "unexpected");
    fflush(stdout);

    pthread_t tid[64];
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, load_main, (void *)(uintptr_t)(i + 1));
    long rss_base = -1, rss_end = -1, rss_peak = -1, log_from = 0;
    int fds_base = -1, fds_end = -1, base_minute = minutes >= 3 ? 2 : 1;
    long long log_injected = 0, log_other = 0, armed = 0;
    long long start = now_ms(), next_fault = start + FAULT_EVERY_MS;
    for (int m = 1; m <= minutes; m++) {
        long long minute_end = start + (long long)m * 60000;
        while (now_ms() < minute_end) {
            if (now_ms() >= next_fault) {
                enum fake_fault f = FAULTS[armed % 4];
                fake_fault(fake_ptero_http(fp), f, 2, f == FAKE_FAULT_SLOW ? 1500 : 1, NULL);
                armed += 2;
                next_fault += FAULT_EVERY_MS;
                fake_clear_requests(fake_ptero_http(fp)); /* the fake's record stays small */
            }
            nap_ms(200);
        }
        long rss = rss_kb(srv.pid);
        int fds = fd_floor(srv.pid);
        count_log_errors(srv.log_path, &log_from, &log_injected, &log_other);
        if (m == base_minute) {
            rss_base = rss;
            fds_base = fds;
        }
        rss_end = rss;
        fds_end = fds;
        if (m > base_minute && rss > rss_peak)
            rss_peak = rss;
        printf("%6d %10ld %6d %10lld %12lld %12" PRId64 " %12lld\n", m, rss, fds,
               (long long)atomic_load(&G.requests), armed + log_injected, jobs_retried(db),
               (long long)atomic_load(&G.unexpected) + log_other);
        fflush(stdout);
    }
    atomic_store(&G.stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    int exit_code = lumi_serve_stop(&srv);
    served = false;
    count_log_errors(srv.log_path, &log_from, &log_injected, &log_other);
    long long unexpected_total = atomic_load(&G.unexpected) + log_other + (exit_code != 0);
    bool rss_flat = !grew((double)rss_base, (double)rss_end);
    bool fds_flat = !grew((double)fds_base, (double)fds_end);
    printf("soak: RSS %ld kB at minute %d -> %ld kB at the end (%+.1f %%): %s\n", rss_base,
           base_minute, rss_end, rss_base > 0 ? 100.0 * (rss_end - rss_base) / rss_base : 0.0,
           rss_flat ? "flat" : "GREW");
    if (rss_peak > 0 && rss_base > 0) /* allocator arenas and page caches go up and down */
        printf("soak: RSS peak after minute %d: %ld kB (%+.1f %%)\n", base_minute, rss_peak,
               100.0 * (rss_peak - rss_base) / rss_base);
    printf("soak: open descriptors %d at minute %d -> %d at the end (%+.1f %%): %s\n", fds_base,
           base_minute, fds_end, fds_base > 0 ? 100.0 * (fds_end - fds_base) / fds_base : 0.0,
           fds_flat ? "flat" : "GREW");
    printf("soak: %lld requests; injected: %lld panel faults armed, %lld error lines from them, "
           "%" PRId64 " jobs retried; unexpected: %lld (answers %lld, log lines %lld, server exit "
           "status %d)\n",
           (long long)atomic_load(&G.requests), armed, log_injected, jobs_retried(db),
           unexpected_total, (long long)atomic_load(&G.unexpected), log_other, exit_code);
    bool pass = rss_flat && fds_flat && unexpected_total == 0;
    printf("soak: %s\n", pass ? "PASS" : "FAIL");
    status = pass ? 0 : 1;
out:
    if (served)
        lumi_serve_stop(&srv);
    db_close(db);
    fake_ptero_stop(fp);
    if (status == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "soak: cannot remove %s\n", dir);
    } else {
        fprintf(stderr, "soak: database and server log kept in %s and %s\n", dir,
                srv.log_path[0] ? srv.log_path : "(none)");
    }
    curl_global_cleanup();
    return status;
}

#else /* !BENCH_HAVE_PROC */

int main(void)
{
    fprintf(stderr, "bench_soak: needs the test support library; configure with "
                    "-DLUMI_TESTS=ON (make soak)\n");
    return 0;
}

#endif
