/*
 * dbtest_jobs.c — the durable job queue: one open job per service and action,
 * claims in (run_at, id) order and per service in id order, leases taken over
 * after a worker dies, the state transitions, the backoff, and concurrent
 * claimers (threads with their own connections; on PostgreSQL also separate
 * processes) that each job reaches exactly once. Runs on SQLite and PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/utc.h"
#include "provisioning/jobs.h"
#include "support/testdb.h"

#define PAST "2020-01-01T00:00:00Z"

struct fixture {
    char *url;
    struct db *db;
    int64_t client_id, product_id;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    unsetenv("LUMI_JOB_MAX_ATTEMPTS");
    f->db = testdb_start(&f->url);
    *state = f;
    return 0;
}

TESTDB_TEARDOWN(struct fixture)

static int64_t query(struct db *db, const char *sql, int64_t arg)
{
    struct lumi_err err;
    char a[24];
    snprintf(a, sizeof a, "%lld", (long long)arg);
    const char *const p[] = {a};
    int64_t v = -1;
    int nparams = strstr(sql, "$1") != NULL ? 1 : 0;
    if (db_query_int64(db, sql, nparams, p, &v, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
    return v;
}

static void exec(struct db *db, const char *sql, int64_t arg)
{
    struct lumi_err err;
    char a[24];
    snprintf(a, sizeof a, "%lld", (long long)arg);
    const char *const p[] = {a};
    int nparams = strstr(sql, "$1") != NULL ? 1 : 0;
    if (db_execp(db, sql, nparams, p, NULL, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static void set_text(struct db *db, const char *sql, const char *text, int64_t id)
{
    struct lumi_err err;
    char a[24];
    snprintf(a, sizeof a, "%lld", (long long)id);
    const char *const p[] = {text, a};
    if (db_execp(db, sql, 2, p, NULL, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

/* n services (one client, one product) in one transaction; ids into out[]. */
static void make_services(struct fixture *f, int n, int64_t *out)
{
    struct lumi_err err;
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    assert_int_equal(db_begin(f->db, &err), 0);
    if (f->client_id == 0) {
        const char *const pu[] = {now};
        if (db_query_int64(f->db,
                           "INSERT INTO users (email, role, created_at, updated_at)"
                           " VALUES ('client@example.com', 'client', $1, $1) RETURNING id",
                           1, pu, &f->client_id, &err) != 0 ||
            db_query_int64(f->db,
                           "INSERT INTO products (name, type, price, currency, billing_cycle,"
                           " autosetup, created_at, updated_at) VALUES ('Game', 'game_server',"
                           " 500, 'usd', 'monthly', 'order', $1, $1) RETURNING id",
                           1, pu, &f->product_id, &err) != 0)
            fail_msg("seed: %s", err.msg);
    }
    for (int i = 0; i < n; i++) {
        char client[24], product[24], key[64];
        unsigned char rnd[8];
        crypto_random(rnd, sizeof rnd);
        snprintf(client, sizeof client, "%lld", (long long)f->client_id);
        snprintf(product, sizeof product, "%lld", (long long)f->product_id);
        snprintf(key, sizeof key, "lumi-test-%02x%02x%02x%02x%02x%02x%02x%02x-%d", rnd[0], rnd[1],
                 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], i);
        const char *const p[] = {client, product, key, now};
        if (db_query_int64(f->db,
                           "INSERT INTO services (client_id, product_id, status, remote_key,"
                           " billing_cycle, recurring_amount, currency, created_at, updated_at)"
                           " VALUES ($1, $2, 'pending', $3, 'monthly', 500, 'usd', $4, $4)"
                           " RETURNING id",
                           4, p, &out[i], &err) != 0)
            fail_msg("service: %s", err.msg);
    }
    assert_int_equal(db_commit(f->db, &err), 0);
}

static int64_t enqueue(struct db *db, int64_t service_id, const char *action)
{
    struct lumi_err err;
    int64_t id = 0;
    if (jobs_enqueue(db, service_id, action, NULL, &id, &err) != 0)
        fail_msg("jobs_enqueue: %s", err.msg);
    assert_true(id > 0);
    return id;
}

/* Claims as worker; returns the job id or 0. */
static int64_t claim(struct db *db, const char *worker, int lease_s, struct job *out)
{
    struct lumi_err err;
    struct job j;
    int rc = jobs_claim(db, worker, lease_s, &j, &err);
    if (rc < 0)
        fail_msg("jobs_claim: %s", err.msg);
    int64_t id = rc == 1 ? j.id : 0;
    if (out != NULL)
        *out = j;
    else
        job_clear(&j);
    return id;
}

static char *status_of(struct db *db, int64_t job_id)
{
    static char s[16];
    struct lumi_err err;
    json_t *j = jobs_get(db, job_id, &err);
    if (j == NULL)
        fail_msg("jobs_get: %s", err.msg);
    snprintf(s, sizeof s, "%s", json_string_value(json_object_get(j, "status")));
    json_decref(j);
    return s;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* --- single connection ---------------------------------------------------- */

static void enqueue_returns_the_open_job_of_the_same_action(void **state)
{
    struct fixture *f = *state;
    int64_t s[2];
    struct lumi_err err;
    make_services(f, 2, s);
    int64_t a = enqueue(f->db, s[0], "provision");
    assert_true(enqueue(f->db, s[0], "provision") == a);
    int64_t b = enqueue(f->db, s[0], "suspend");
    assert_true(b != a);
    int64_t c = enqueue(f->db, s[1], "provision");
    assert_true(c != a && c != b);
    assert_true(query(f->db, "SELECT COUNT(*) FROM jobs", 0) == 3);

    /* Still one while it runs; a new one once it is done. */
    assert_true(claim(f->db, "w1", 60, NULL) == a);
    assert_true(enqueue(f->db, s[0], "provision") == a);
    assert_int_equal(jobs_complete(f->db, a, &err), 0);
    int64_t d = enqueue(f->db, s[0], "provision");
    assert_true(d != a);

    /* Arguments are stored; unknown actions and non-object args are refused. */
    json_t *args = json_pack("{s:s}", "reason", "overdue");
    int64_t e = 0;
    assert_int_equal(jobs_enqueue(f->db, s[1], "terminate", args, &e, &err), 0);
    json_decref(args);
    json_t *j = jobs_get(f->db, e, &err);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "args"), "reason")),
                        "overdue");
    assert_int_equal(json_integer_value(json_object_get(j, "max_attempts")),
                     JOBS_MAX_ATTEMPTS_DEFAULT);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "queued");
    assert_true(json_is_null(json_object_get(j, "finished_at")));
    json_decref(j);
    assert_int_equal(jobs_enqueue(f->db, s[1], "reboot", NULL, &e, &err), LUMI_EINVAL);
    args = json_array();
    assert_int_equal(jobs_enqueue(f->db, s[1], "suspend", args, &e, &err), LUMI_EINVAL);
    json_decref(args);
    assert_false(jobs_action_valid("reboot"));
    assert_true(jobs_action_valid("change_password"));
}

static void claims_follow_run_at_then_id(void **state)
{
    struct fixture *f = *state;
    int64_t s[3];
    make_services(f, 3, s);
    int64_t j1 = enqueue(f->db, s[0], "provision");
    int64_t j2 = enqueue(f->db, s[1], "provision");
    int64_t j3 = enqueue(f->db, s[2], "provision");
    set_text(f->db, "UPDATE jobs SET run_at = $1 WHERE id = $2", "2020-01-01T00:00:02Z", j1);
    set_text(f->db, "UPDATE jobs SET run_at = $1 WHERE id = $2", "2020-01-01T00:00:01Z", j2);
    set_text(f->db, "UPDATE jobs SET run_at = $1 WHERE id = $2", "2020-01-01T00:00:01Z", j3);
    struct job job;
    assert_true(claim(f->db, "host:1:1", 60, &job) == j2);
    assert_string_equal(job.status, "running");
    assert_string_equal(job.action, "provision");
    assert_string_equal(job.locked_by, "host:1:1");
    assert_true(job.service_id == s[1]);
    assert_int_equal(job.attempts, 1);
    assert_true(json_is_object(job.args));
    job_clear(&job);
    assert_true(claim(f->db, "host:1:1", 60, NULL) == j3);
    assert_true(claim(f->db, "host:1:1", 60, NULL) == j1);
    assert_true(claim(f->db, "host:1:1", 60, NULL) == 0);
}

static void jobs_of_one_service_run_in_order(void **state)
{
    struct fixture *f = *state;
    int64_t s[2];
    struct lumi_err err;
    make_services(f, 2, s);
    int64_t p = enqueue(f->db, s[0], "provision");
    int64_t q = enqueue(f->db, s[0], "suspend");
    int64_t other = enqueue(f->db, s[1], "provision");
    /* An earlier job due later still holds the later ones back. */
    set_text(f->db, "UPDATE jobs SET run_at = $1 WHERE id = $2", "2020-01-01T00:00:05Z", p);
    set_text(f->db, "UPDATE jobs SET run_at = $1 WHERE id = $2", "2020-01-01T00:00:01Z", q);
    assert_true(claim(f->db, "w", 60, NULL) == p);
    assert_true(claim(f->db, "w", 60, NULL) == other);
    assert_true(claim(f->db, "w", 60, NULL) == 0); /* q waits for p */
    struct job job;
    assert_int_equal(jobs_claim_id(f->db, q, "w", 60, &job, &err), 0);
    assert_int_equal(jobs_complete(f->db, p, &err), 0);
    assert_int_equal(jobs_claim_id(f->db, q, "w", 60, &job, &err), 1);
    assert_true(job.id == q);
    job_clear(&job);

    /* A failed job does not block the service's later jobs. */
    int64_t s2[1];
    make_services(f, 1, s2);
    int64_t a = enqueue(f->db, s2[0], "provision");
    int64_t b = enqueue(f->db, s2[0], "terminate");
    assert_true(claim(f->db, "w", 60, NULL) == a);
    assert_int_equal(jobs_fail(f->db, a, "panel refused", &err), 0);
    assert_true(claim(f->db, "w", 60, NULL) == b);
}

static void jobs_not_yet_due_are_not_claimed(void **state)
{
    struct fixture *f = *state;
    int64_t s[1];
    struct lumi_err err;
    struct job job;
    make_services(f, 1, s);
    int64_t a = enqueue(f->db, s[0], "provision");
    assert_true(claim(f->db, "w", 60, NULL) == a);
    assert_int_equal(jobs_retry_later(f->db, a, 60, "panel busy", &err), 0);
    assert_true(claim(f->db, "w", 60, NULL) == 0);
    assert_int_equal(jobs_claim_id(f->db, a, "w", 60, &job, &err), 0);
    assert_int_equal(jobs_claim_id(f->db, 999999, "w", 60, &job, &err), 0);
    /* Due once run_at has passed. */
    set_text(f->db, "UPDATE jobs SET run_at = $1 WHERE id = $2", PAST, a);
    assert_int_equal(jobs_claim_id(f->db, a, "w", 60, &job, &err), 1);
    assert_int_equal(job.attempts, 2);
    job_clear(&job);
}

static void expired_lease_is_taken_over(void **state)
{
    struct fixture *f = *state;
    int64_t s[1];
    struct job job;
    make_services(f, 1, s);
    int64_t a = enqueue(f->db, s[0], "provision");
    assert_true(claim(f->db, "host:100:1", 1, NULL) == a);
    assert_true(claim(f->db, "host:200:1", 60, NULL) == 0); /* leased */
    /* Times have one-second resolution: 2.2 s is past any 1 s lease. */
    sleep_ms(2200);
    assert_true(claim(f->db, "host:200:1", 60, &job) == a);
    assert_int_equal(job.attempts, 2);
    assert_string_equal(job.locked_by, "host:200:1");
    assert_string_equal(job.status, "running");
    job_clear(&job);
    assert_true(claim(f->db, "host:300:1", 60, NULL) == 0); /* the new lease holds */
}

static void expired_lease_without_attempts_left_fails(void **state)
{
    struct fixture *f = *state;
    int64_t s[1];
    struct lumi_err err;
    make_services(f, 1, s);
    int64_t a = enqueue(f->db, s[0], "provision");
    int64_t b = enqueue(f->db, s[0], "suspend");
    exec(f->db, "UPDATE jobs SET max_attempts = 2 WHERE id = $1", a);
    assert_true(claim(f->db, "w1", 60, NULL) == a);
    set_text(f->db, "UPDATE jobs SET locked_until = $1 WHERE id = $2", PAST, a);
    assert_true(claim(f->db, "w2", 60, NULL) == a); /* attempt 2 of 2 */
    set_text(f->db, "UPDATE jobs SET locked_until = $1 WHERE id = $2", PAST, a);
    /* Its worker died again with nothing left: failed, and the next job runs. */
    assert_true(claim(f->db, "w3", 60, NULL) == b);
    assert_string_equal(status_of(f->db, a), "failed");
    json_t *j = jobs_get(f->db, a, &err);
    assert_non_null(
        strstr(json_string_value(json_object_get(j, "last_error")), "stopped before it finished"));
    assert_false(json_is_null(json_object_get(j, "finished_at")));
    json_decref(j);
}

static void transitions_are_recorded(void **state)
{
    struct fixture *f = *state;
    int64_t s[2];
    struct lumi_err err;
    make_services(f, 2, s);
    int64_t a = enqueue(f->db, s[0], "provision");
    assert_true(claim(f->db, "w", 60, NULL) == a);

    /* retry_later: queued again, later, with the reason; the attempt counted. */
    assert_int_equal(jobs_retry_later(f->db, a, 30, "HTTP 503 from the panel", &err), 0);
    json_t *j = jobs_get(f->db, a, &err);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "queued");
    assert_string_equal(json_string_value(json_object_get(j, "last_error")),
                        "HTTP 503 from the panel");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    int64_t run_at = 0;
    assert_int_equal(utc_parse(json_string_value(json_object_get(j, "run_at")), &run_at, NULL), 0);
    assert_true(run_at >= utc_now() + 28 && run_at <= utc_now() + 31);
    json_decref(j);

    /* complete */
    set_text(f->db, "UPDATE jobs SET run_at = $1 WHERE id = $2", PAST, a);
    assert_true(claim(f->db, "w", 60, NULL) == a);
    assert_int_equal(jobs_complete(f->db, a, &err), 0);
    j = jobs_get(f->db, a, &err);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "done");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    assert_false(json_is_null(json_object_get(j, "finished_at")));
    json_decref(j);
    assert_true(query(f->db, "SELECT COUNT(*) FROM jobs WHERE id = $1 AND locked_by IS NULL", a) ==
                1);

    /* fail, then requeue with a fresh budget */
    int64_t b = enqueue(f->db, s[1], "suspend");
    assert_true(claim(f->db, "w", 60, NULL) == b);
    assert_int_equal(jobs_fail(f->db, b, "the panel said: no such server", &err), 0);
    assert_string_equal(status_of(f->db, b), "failed");
    assert_true(claim(f->db, "w", 60, NULL) == 0);
    int64_t requeued = 0;
    assert_int_equal(jobs_requeue_failed(f->db, s[1], &requeued, &err), 0);
    assert_true(requeued == b);
    j = jobs_get(f->db, b, &err);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "queued");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    assert_true(json_is_null(json_object_get(j, "finished_at")));
    json_decref(j);
    assert_int_equal(jobs_requeue_failed(f->db, s[0], &requeued, &err), LUMI_ENOTFOUND);

    /* Unknown jobs */
    assert_int_equal(jobs_complete(f->db, 424242, &err), LUMI_ENOTFOUND);
    assert_int_equal(jobs_fail(f->db, 424242, "x", &err), LUMI_ENOTFOUND);
    assert_null(jobs_get(f->db, 424242, &err));
    assert_int_equal(err.code, LUMI_ENOTFOUND);

    /* release: back in the queue without using up the attempt */
    assert_true(claim(f->db, "w", 60, NULL) == b);
    assert_int_equal(jobs_release(f->db, b, 0, &err), 0);
    assert_true(query(f->db, "SELECT attempts FROM jobs WHERE id = $1", b) == 0);
    assert_string_equal(status_of(f->db, b), "queued");
}

static void requeue_runs_each_failed_action_once(void **state)
{
    struct fixture *f = *state;
    int64_t s[1];
    struct lumi_err err;
    make_services(f, 1, s);
    int64_t a = enqueue(f->db, s[0], "provision");
    assert_true(claim(f->db, "w", 60, NULL) == a);
    assert_int_equal(jobs_fail(f->db, a, "first", &err), 0);
    int64_t b = enqueue(f->db, s[0], "provision");
    assert_true(b != a);
    assert_true(claim(f->db, "w", 60, NULL) == b);
    assert_int_equal(jobs_fail(f->db, b, "second", &err), 0);
    int64_t c = enqueue(f->db, s[0], "suspend");
    assert_true(claim(f->db, "w", 60, NULL) == c);
    assert_int_equal(jobs_fail(f->db, c, "third", &err), 0);

    int64_t first = 0;
    assert_int_equal(jobs_requeue_failed(f->db, s[0], &first, &err), 0);
    assert_true(first == b);
    assert_string_equal(status_of(f->db, a), "cancelled");
    assert_string_equal(status_of(f->db, b), "queued");
    assert_string_equal(status_of(f->db, c), "queued");
    assert_true(query(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'queued'", 0) == 2);
}

static void listing_is_newest_first_with_a_cursor(void **state)
{
    struct fixture *f = *state;
    int64_t s[5], ids[5];
    struct lumi_err err;
    make_services(f, 5, s);
    for (int i = 0; i < 5; i++)
        ids[i] = enqueue(f->db, s[i], "provision");
    assert_true(claim(f->db, "w", 60, NULL) == ids[0]);
    assert_int_equal(jobs_fail(f->db, ids[0], "x", &err), 0);

    int64_t next = -1;
    json_t *page = jobs_list(f->db, NULL, 0, 2, &next, &err);
    assert_int_equal(json_array_size(page), 2);
    assert_true(json_integer_value(json_object_get(json_array_get(page, 0), "id")) == ids[4]);
    assert_true(next == ids[3]);
    json_decref(page);
    page = jobs_list(f->db, "", next, 2, &next, &err);
    assert_true(json_integer_value(json_object_get(json_array_get(page, 0), "id")) == ids[2]);
    json_decref(page);
    page = jobs_list(f->db, NULL, next, 2, &next, &err);
    assert_int_equal(json_array_size(page), 1);
    assert_true(next == 0);
    json_decref(page);

    page = jobs_list(f->db, "failed", 0, 10, &next, &err);
    assert_int_equal(json_array_size(page), 1);
    json_t *j = json_array_get(page, 0);
    assert_true(json_integer_value(json_object_get(j, "id")) == ids[0]);
    const char *keys[] = {"id",         "service_id", "action",       "status",
                          "args",       "attempts",   "max_attempts", "run_at",
                          "last_error", "created_at", "updated_at",   "finished_at"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        assert_non_null(json_object_get(j, keys[k]));
    json_decref(page);
    assert_null(jobs_list(f->db, "sleeping", 0, 10, &next, &err));
    assert_int_equal(err.code, LUMI_EINVAL);
    assert_null(jobs_list(f->db, NULL, 0, 0, &next, &err));

    enqueue(f->db, s[1], "suspend");
    page = jobs_of_service(f->db, s[1], &err);
    assert_int_equal(json_array_size(page), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page, 0), "action")),
                        "suspend");
    json_decref(page);
}

static void backoff_grows_is_capped_and_honours_retry_after(void **state)
{
    (void)state;
    int64_t base = 5;
    for (int attempt = 1; attempt <= 12; attempt++) {
        int64_t lo = base * 8 / 10, hi = base * 12 / 10;
        if (hi > 3600)
            hi = 3600;
        for (int i = 0; i < 50; i++) {
            int64_t d = jobs_backoff_s(attempt, 0);
            if (d < lo || d > hi)
                fail_msg("attempt %d: %lld not in [%lld, %lld]", attempt, (long long)d,
                         (long long)lo, (long long)hi);
        }
        base = base * 2 > 3600 ? 3600 : base * 2;
    }
    for (int i = 0; i < 50; i++) {
        int64_t d = jobs_backoff_s(100, 0);
        assert_true(d >= 2880 && d <= 3600);
    }
    /* Jitter: not all the same. */
    int64_t mn = INT64_MAX, mx = 0;
    for (int i = 0; i < 200; i++) {
        int64_t d = jobs_backoff_s(6, 0);
        mn = d < mn ? d : mn;
        mx = d > mx ? d : mx;
    }
    assert_true(mx > mn);
    /* Retry-After is a floor, also above the cap. */
    assert_true(jobs_backoff_s(1, 120) == 120);
    assert_true(jobs_backoff_s(30, 7200) == 7200);
    assert_true(jobs_backoff_s(8, 1) >= 500);
    assert_true(jobs_backoff_s(0, 0) >= 4);
}

/* --- concurrent claimers ----------------------------------------------------- */

#define SERVICES 100
#define ACTIONS_PER_SERVICE 4
#define NJOBS (SERVICES * ACTIONS_PER_SERVICE)
#define NTHREADS 4

static const char *const ACTS[] = {"provision", "suspend", "unsuspend", "terminate"};

struct race {
    const char *url;
    pthread_mutex_t mu;
    int64_t min_id;
    int claims[NJOBS]; /* by id - min_id */
    bool done[NJOBS];
    int64_t service_of[NJOBS];
    int completed;
    int errors;
    char error[600];
};

struct claimer {
    struct race *r;
    int no;
};

static void race_error(struct race *r, const char *fmt, const char *msg)
{
    pthread_mutex_lock(&r->mu);
    if (r->errors++ == 0)
        snprintf(r->error, sizeof r->error, fmt, msg);
    pthread_mutex_unlock(&r->mu);
}

static void *claimer_main(void *arg)
{
    struct claimer *c = arg;
    struct race *r = c->r;
    struct lumi_err err;
    char worker[32];
    snprintf(worker, sizeof worker, "test:%d:%d", (int)getpid(), c->no);
    struct db *db = db_open(r->url, &err);
    if (db == NULL) {
        race_error(r, "db_open: %s", err.msg);
        return NULL;
    }
    int64_t deadline = utc_monotonic_ms() + 120000;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        bool finished = r->completed == NJOBS || r->errors > 0;
        pthread_mutex_unlock(&r->mu);
        if (finished || utc_monotonic_ms() > deadline)
            break;
        struct job job;
        int rc = jobs_claim(db, worker, 60, &job, &err);
        if (rc == LUMI_EBUSY)
            continue;
        if (rc < 0) {
            race_error(r, "jobs_claim: %s", err.msg);
            break;
        }
        if (rc == 0) {
            sleep_ms(2);
            continue;
        }
        int64_t k = job.id - r->min_id;
        pthread_mutex_lock(&r->mu);
        if (k < 0 || k >= NJOBS) {
            pthread_mutex_unlock(&r->mu);
            race_error(r, "%s", "claimed an unknown job id");
            job_clear(&job);
            break;
        }
        r->claims[k]++;
        /* Every earlier job of its service must be finished already. */
        for (int64_t e = 0; e < k; e++)
            if (r->service_of[e] == job.service_id && !r->done[e])
                r->errors++;
        /* Marked done before the commit, so a claimer of the next job sees it. */
        r->done[k] = true;
        pthread_mutex_unlock(&r->mu);
        job_clear(&job);
        do
            rc = jobs_complete(db, r->min_id + k, &err);
        while (rc == LUMI_EBUSY);
        if (rc != 0) {
            race_error(r, "jobs_complete: %s", err.msg);
            break;
        }
        pthread_mutex_lock(&r->mu);
        r->completed++;
        pthread_mutex_unlock(&r->mu);
    }
    db_close(db);
    return NULL;
}

/* SERVICES services with ACTIONS_PER_SERVICE jobs each, ids consecutive; returns the first id. */
static int64_t fill_queue(struct fixture *f, int services, int64_t *service_of)
{
    struct lumi_err err;
    int64_t *s = calloc((size_t)services, sizeof *s);
    make_services(f, services, s);
    int64_t first = 0, prev = 0;
    assert_int_equal(db_begin(f->db, &err), 0);
    /* Interleaved, so a service's jobs are spread over the queue. */
    for (int a = 0; a < ACTIONS_PER_SERVICE; a++)
        for (int i = 0; i < services; i++) {
            int64_t id = enqueue(f->db, s[i], ACTS[a]);
            if (first == 0)
                first = id;
            assert_true(prev == 0 || id == prev + 1);
            prev = id;
            if (service_of != NULL)
                service_of[id - first] = s[i];
        }
    assert_int_equal(db_commit(f->db, &err), 0);
    free(s);
    return first;
}

static void concurrent_threads_claim_each_job_once(void **state)
{
    struct fixture *f = *state;
    static struct race r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.mu, NULL);
    r.url = f->url;
    r.min_id = fill_queue(f, SERVICES, r.service_of);
    pthread_t t[NTHREADS];
    struct claimer c[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        c[i] = (struct claimer){&r, i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, claimer_main, &c[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&r.mu);
    if (r.errors > 0)
        fail_msg("%d errors; first: %s", r.errors, r.error[0] ? r.error : "order violated");
    assert_int_equal(r.completed, NJOBS);
    for (int i = 0; i < NJOBS; i++)
        if (r.claims[i] != 1)
            fail_msg("job %lld claimed %d times", (long long)(r.min_id + i), r.claims[i]);
    assert_true(query(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'done'", 0) == NJOBS);
    assert_true(query(f->db, "SELECT MAX(attempts) FROM jobs", 0) == 1);
}

/* --- concurrent processes (PostgreSQL) ------------------------------------------ */

#define PROCS 3
#define PROC_THREADS 2
#define PROC_SERVICES 150 /* × 4 actions = 600 jobs */

struct proc_claimer {
    const char *url;
    int no;
    int failed;
};

/* Claims until no job is open; each claim is recorded in claims(job_id UNIQUE). */
static void *proc_claimer_main(void *arg)
{
    struct proc_claimer *c = arg;
    struct lumi_err err;
    char worker[32];
    snprintf(worker, sizeof worker, "proc:%d:%d", (int)getpid(), c->no);
    struct db *db = db_open(c->url, &err);
    if (db == NULL) {
        c->failed = 1;
        return NULL;
    }
    int64_t deadline = utc_monotonic_ms() + 120000;
    while (utc_monotonic_ms() < deadline) {
        struct job job;
        int rc = jobs_claim(db, worker, 60, &job, &err);
        if (rc < 0) {
            fprintf(stderr, "child %s: jobs_claim: %s\n", worker, err.msg);
            c->failed = 1;
            break;
        }
        if (rc == 0) {
            int64_t open = -1;
            if (db_query_int64(db,
                               "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')", 0,
                               NULL, &open, &err) != 0) {
                c->failed = 1;
                break;
            }
            if (open == 0)
                break;
            sleep_ms(2);
            continue;
        }
        char id[24], sid[24];
        int64_t jid = job.id;
        snprintf(id, sizeof id, "%lld", (long long)job.id);
        snprintf(sid, sizeof sid, "%lld", (long long)job.service_id);
        job_clear(&job);
        const char *const p[] = {id, sid};
        int64_t unfinished = -1;
        /* No earlier job of the service may be unfinished while this one runs. */
        if (db_query_int64(db,
                           "SELECT COUNT(*) FROM jobs WHERE service_id = $2 AND id <> $1"
                           " AND (status = 'running' OR (id < $1 AND status <> 'done'))",
                           2, p, &unfinished, &err) != 0 ||
            unfinished != 0) {
            fprintf(stderr, "child %s: job %s ran out of order\n", worker, id);
            c->failed = 1;
            break;
        }
        if (db_execp(db, "INSERT INTO claims (job_id, worker) VALUES ($1, $2)", 2,
                     (const char *const[]){id, worker}, NULL, &err) != 0) {
            fprintf(stderr, "child %s: job %s claimed twice: %s\n", worker, id, err.msg);
            c->failed = 1;
            break;
        }
        if (jobs_complete(db, jid, &err) != 0) {
            c->failed = 1;
            break;
        }
    }
    db_close(db);
    return NULL;
}

static int child_main(const char *url)
{
    pthread_t t[PROC_THREADS];
    struct proc_claimer c[PROC_THREADS];
    int failed = 0;
    for (int i = 0; i < PROC_THREADS; i++) {
        c[i] = (struct proc_claimer){url, i + 1, 0};
        if (pthread_create(&t[i], NULL, proc_claimer_main, &c[i]) != 0)
            return 1;
    }
    for (int i = 0; i < PROC_THREADS; i++) {
        pthread_join(t[i], NULL);
        failed |= c[i].failed;
    }
    return failed;
}

static void concurrent_processes_claim_each_job_once(void **state)
{
    struct fixture *f = *state;
    struct lumi_err err;
    if (!testdb_is_postgres())
        skip(); /* one SQLite file is one writer; the threads test covers it */
    assert_int_equal(db_exec(f->db,
                             "CREATE TABLE claims (job_id BIGINT NOT NULL UNIQUE,"
                             " worker TEXT NOT NULL)",
                             &err),
                     0);
    int64_t first = fill_queue(f, PROC_SERVICES, NULL);
    pid_t pids[PROCS];
    fflush(NULL);
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(child_main(f->url)); /* no cmocka, no atexit handlers in the child */
    }
    int failures = 0;
    for (int i = 0; i < PROCS; i++) {
        int status = 0;
        assert_true(waitpid(pids[i], &status, 0) == pids[i]);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failures++;
    }
    assert_int_equal(failures, 0);
    int64_t n = PROC_SERVICES * ACTIONS_PER_SERVICE;
    assert_true(query(f->db, "SELECT COUNT(*) FROM claims", 0) == n);
    assert_true(query(f->db, "SELECT COUNT(*) FROM claims WHERE job_id >= $1", first) == n);
    assert_true(query(f->db, "SELECT COUNT(*) FROM jobs WHERE status = 'done'", 0) == n);
    assert_true(query(f->db, "SELECT MAX(attempts) FROM jobs", 0) == 1);
    /* All three processes took part. */
    assert_true(query(f->db, "SELECT COUNT(DISTINCT split_part(worker, ':', 2)) FROM claims", 0) ==
                PROCS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* Processes first: fork before this program has started any thread. */
        cmocka_unit_test_setup_teardown(concurrent_processes_claim_each_job_once, setup, teardown),
        cmocka_unit_test_setup_teardown(enqueue_returns_the_open_job_of_the_same_action, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(claims_follow_run_at_then_id, setup, teardown),
        cmocka_unit_test_setup_teardown(jobs_of_one_service_run_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(jobs_not_yet_due_are_not_claimed, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_lease_is_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_lease_without_attempts_left_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(transitions_are_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(requeue_runs_each_failed_action_once, setup, teardown),
        cmocka_unit_test_setup_teardown(listing_is_newest_first_with_a_cursor, setup, teardown),
        cmocka_unit_test(backoff_grows_is_capped_and_honours_retry_after),
        cmocka_unit_test_setup_teardown(concurrent_threads_claim_each_job_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
