/*
 * worker.c — the job worker and the scheduler (see worker.h).
 *
 * Owns a set of threads, each with its own database connection: job threads
 * loop claim → provision_run_job → claim; the scheduler thread runs
 * automation_run every scheduler_interval_s, first right after the start.
 *
 * Idle job threads take turns (issue 15: an idle server's memory and
 * queries): one idle thread polls, claiming every idle_poll_ms; the other
 * idle ones sleep on the relay. A thread that claims a job while no one
 * polls wakes one sleeper, which claims the next job or, finding none,
 * becomes the poller, so a burst of jobs fans out to every thread within a
 * claim each and a thread busy with a slow panel never leaves new jobs
 * unseen. A thread opens its connection on its first turn; the first
 * thread's is opened in worker_start, so a bad DATABASE_URL fails the start.
 * An idle `lumi serve` so holds one job connection instead of four (each
 * SQLite connection keeps its own parsed schema, ~250 kB) and asks the
 * database once per interval instead of four times. On SQLite the
 * scheduler's connection is closed between passes for the same reason (on
 * PostgreSQL it holds the scheduler's session lock, so it stays).
 *
 * On PostgreSQL only the process holding the scheduler's session advisory
 * lock runs the pass; the lock is asked for again before every pass
 * (re-entrant for its holder), so after a lost connection the pass moves to
 * whichever process gets it.
 *
 * Per-server limit: a job is claimed first, then its service's server is
 * looked up; when that server already runs per_server jobs in this process
 * the claim is released (jobs_release: due again in 1 s, the attempt not
 * counted), so a slow panel holds at most per_server threads and never makes
 * its jobs fail. The limit is per process, not global.
 *
 * Threading: the slot table is guarded by one mutex, the stop request is a
 * core/stop.h flag; everything else is per thread. Waits use a monotonic
 * clock and are cut short by worker_stop, which lets running jobs finish.
 */
#include "provisioning/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/str.h"
#include "core/utc.h"
#include "db/backup.h"
#include "provisioning/automation.h"
#include "provisioning/jobs.h"
#include "provisioning/provision.h"

#define THREADS_DEFAULT 4
#define THREADS_MAX 64
#define PER_SERVER_DEFAULT 4
#define IDLE_POLL_MS_DEFAULT 500
#define SCHEDULER_INTERVAL_DEFAULT 3600
#define ERROR_PAUSE_MS 2000 /* after a failed claim: the database is in trouble */
#define SLOT_WAIT_S 1       /* a job whose server is busy is due again after this */
#define SETTLE_POLL_MS 200
#define SCHEDULER_LOCK_KEY 0x6c756d6973636864LL /* "lumischd" */

static const char SQL_SERVER_OF[] = "SELECT server_id FROM services WHERE id = $1";

struct slot {
    int64_t server_id;
    int running;
};

struct worker;

struct job_thread {
    struct worker *w;
    struct db *db;
    pthread_t tid;
    bool started;
    int no;
};

struct worker {
    struct worker_config cfg;
    char *database_url;
    pthread_mutex_t mu; /* guards the slot table and the relay below */
    pthread_cond_t relay;
    int pollers;  /* idle threads polling: 0 or 1 */
    int sleepers; /* idle threads waiting on the relay */
    int wakeups;  /* relay turns handed out and not yet taken */
    struct stop_flag stop;
    struct slot *slots; /* one per thread at most: a thread holds one slot at a time */
    int nslots;
    struct job_thread *threads;
    int nthreads;
    struct db *sched_db;
    pthread_t sched_tid;
    bool sched_started;
    char host[48];
};

/* --- waiting --------------------------------------------------------------- */

/* Waits up to ms or until stop; returns true when stopping. */
static bool wait_ms(struct worker *w, int64_t ms)
{
    return stop_wait_ms(&w->stop, ms);
}

static bool is_stopping(struct worker *w)
{
    return stop_raised(&w->stop);
}

/* --- per-server slots ---------------------------------------------------------- */

/* True when a slot on server_id was taken (0 = no server yet: never limited). */
static bool slot_acquire(struct worker *w, int64_t server_id)
{
    if (server_id <= 0)
        return true;
    bool ok = false;
    pthread_mutex_lock(&w->mu);
    struct slot *free_slot = NULL, *s = NULL;
    for (int i = 0; i < w->nslots && s == NULL; i++) {
        if (w->slots[i].running > 0 && w->slots[i].server_id == server_id)
            s = &w->slots[i];
        else if (w->slots[i].running == 0 && free_slot == NULL)
            free_slot = &w->slots[i];
    }
    if (s == NULL && free_slot != NULL) {
        s = free_slot;
        s->server_id = server_id;
        s->running = 0;
    }
    if (s != NULL && s->running < w->cfg.per_server) {
        s->running++;
        ok = true;
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static void slot_release(struct worker *w, int64_t server_id)
{
    if (server_id <= 0)
        return;
    pthread_mutex_lock(&w->mu);
    for (int i = 0; i < w->nslots; i++)
        if (w->slots[i].running > 0 && w->slots[i].server_id == server_id) {
            w->slots[i].running--;
            break;
        }
    pthread_mutex_unlock(&w->mu);
}

/* The panel server of a job's service, 0 when it has none (yet). */
static int server_of(struct db *db, int64_t service_id, int64_t *server_id, struct lumi_err *err)
{
    char sid[24];
    *server_id = 0;
    if (service_id <= 0)
        return 0;
    snprintf(sid, sizeof sid, "%lld", (long long)service_id);
    const char *const p[] = {sid};
    int rc = db_query_int64_opt(db, SQL_SERVER_OF, 1, p, server_id, err);
    return rc < 0 ? rc : 0;
}

/* --- the relay: which idle job thread polls --------------------------------------------- */

/* After a claim found nothing: true when this thread is (or just became) the poller. */
static bool relay_idle(struct worker *w, bool was_poller)
{
    pthread_mutex_lock(&w->mu);
    bool poll = was_poller || w->pollers == 0;
    if (poll && !was_poller)
        w->pollers++;
    pthread_mutex_unlock(&w->mu);
    return poll;
}

/* Sleeps until handed a turn; false when stopping. */
static bool relay_sleep(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->sleepers++;
    while (w->wakeups == 0 && !is_stopping(w))
        pthread_cond_wait(&w->relay, &w->mu);
    w->sleepers--;
    bool turn = w->wakeups > 0 && !is_stopping(w);
    if (turn)
        w->wakeups--;
    pthread_mutex_unlock(&w->mu);
    return turn;
}

/* A thread took a job: it polls no more, and when no one else polls a sleeper gets a turn. */
static void relay_took_job(struct worker *w, bool was_poller)
{
    pthread_mutex_lock(&w->mu);
    if (was_poller)
        w->pollers--;
    if (w->pollers == 0 && w->sleepers > w->wakeups) {
        w->wakeups++;
        pthread_cond_signal(&w->relay);
    }
    pthread_mutex_unlock(&w->mu);
}

static void relay_stop(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    pthread_cond_broadcast(&w->relay);
    pthread_mutex_unlock(&w->mu);
}

/* --- job threads ----------------------------------------------------------------- */

static const char *outcome_name(int rc)
{
    switch (rc) {
    case PROVISION_DONE:
        return "done";
    case PROVISION_RETRY:
        return "retry";
    case PROVISION_FAILED:
        return "failed";
    default:
        return "error";
    }
}

/* Runs one claimed job under the job's log context. */
static void run_one(struct db *db, const struct job *job, const char *worker_id)
{
    char rid[32], quoted[240];
    struct lumi_err err;
    err_clear(&err);
    snprintf(rid, sizeof rid, "job-%lld", (long long)job->id);
    log_set_context(rid);
    log_info("job.started", "job=%lld action=%s service=%lld attempt=%d max_attempts=%d worker=%s",
             (long long)job->id, job->action, (long long)job->service_id, job->attempts,
             job->max_attempts, worker_id);
    int64_t t0 = utc_monotonic_ms();
    int rc = provision_run_job(db, job, &err);
    int64_t ms = utc_monotonic_ms() - t0;
    if (rc < 0)
        /* The database failed: the job stays leased and runs again once the lease expires. */
        log_error("job.finished", "job=%lld outcome=error ms=%lld error=%s", (long long)job->id,
                  (long long)ms, log_quote(err.msg, quoted, sizeof quoted));
    else if (rc == PROVISION_DONE)
        log_info("job.finished", "job=%lld outcome=%s ms=%lld", (long long)job->id,
                 outcome_name(rc), (long long)ms);
    else
        log_warn("job.finished", "job=%lld outcome=%s ms=%lld error=%s", (long long)job->id,
                 outcome_name(rc), (long long)ms, log_quote(err.msg, quoted, sizeof quoted));
    log_set_context(NULL);
}

/* *db, opened when it is not (a job thread's first turn, the SQLite scheduler's
 * next pass); false, logged as event with who, when it cannot be. */
static bool db_ready(struct worker *w, struct db **db, const char *event, const char *who)
{
    struct lumi_err err;
    char quoted[240];
    if (*db != NULL)
        return true;
    err_clear(&err);
    *db = db_open(w->database_url, &err);
    if (*db == NULL)
        log_error(event, "worker=%s error=%s", who, log_quote(err.msg, quoted, sizeof quoted));
    return *db != NULL;
}

static void *job_thread_main(void *arg)
{
    struct job_thread *t = arg;
    struct worker *w = t->w;
    char worker_id[64], quoted[240];
    bool poller = t->no == 1; /* worker_start made the first thread the poller */
    snprintf(worker_id, sizeof worker_id, "%s:%ld:%d", w->host, (long)getpid(), t->no);
    if (!poller && !relay_sleep(w)) /* the others wait for their first turn */
        return NULL;
    while (!is_stopping(w)) {
        struct job job;
        struct lumi_err err;
        err_clear(&err);
        if (!db_ready(w, &t->db, "job.db_open_failed", worker_id)) {
            wait_ms(w, ERROR_PAUSE_MS);
            continue;
        }
        int rc = jobs_claim(t->db, worker_id, w->cfg.lease_s, &job, &err);
        if (rc < 0) {
            log_error("job.claim_failed", "worker=%s error=%s", worker_id,
                      log_quote(err.msg, quoted, sizeof quoted));
            wait_ms(w, ERROR_PAUSE_MS);
            continue;
        }
        if (rc == 0) {
            poller = relay_idle(w, poller);
            if (poller)
                wait_ms(w, w->cfg.idle_poll_ms);
            else if (!relay_sleep(w))
                break;
            continue;
        }
        relay_took_job(w, poller);
        poller = false;
        int64_t server_id = 0;
        if (server_of(t->db, job.service_id, &server_id, &err) != 0)
            log_warn("job.server_lookup_failed", "job=%lld error=%s", (long long)job.id,
                     log_quote(err.msg, quoted, sizeof quoted));
        if (!slot_acquire(w, server_id)) {
            if (jobs_release(t->db, job.id, SLOT_WAIT_S, &err) != 0)
                log_error("job.release_failed", "job=%lld error=%s", (long long)job.id,
                          log_quote(err.msg, quoted, sizeof quoted));
            else
                log_debug("job.deferred", "job=%lld server=%lld reason=\"waiting for a free slot\"",
                          (long long)job.id, (long long)server_id);
            job_clear(&job);
            continue;
        }
        run_one(t->db, &job, worker_id);
        slot_release(w, server_id);
        job_clear(&job);
    }
    return NULL;
}

/* --- scheduler -------------------------------------------------------------------- */

/* Operations (backups): the daily copy into LUMI_BACKUP_DIR, when set, from the scheduler. */
static void scheduled_backup(struct worker *w)
{
    const char *dir = config_str("LUMI_BACKUP_DIR");
    char made[4200], quoted[240];
    struct lumi_err err;
    if (!str_present(dir))
        return;
    err_clear(&err);
    if (db_backup_scheduled(w->cfg.database_url, dir, (int)config_int("LUMI_BACKUP_KEEP"),
                            utc_now(), made, sizeof made, &err) != 0)
        log_error("backup.failed", "error=%s", log_quote(err.msg, quoted, sizeof quoted));
    else if (made[0] != '\0')
        log_info("backup.written", "file=%s", log_quote(made, quoted, sizeof quoted));
}

static void scheduler_pass(struct worker *w)
{
    struct lumi_err err;
    char quoted[240];
    err_clear(&err);
    int rc = db_kind(w->sched_db) == DB_POSTGRES
                 ? db_try_lock(w->sched_db, SCHEDULER_LOCK_KEY, &err)
                 : 1;
    if (rc < 0) {
        log_error("scheduler.lock_failed", "error=%s", log_quote(err.msg, quoted, sizeof quoted));
        return;
    }
    if (rc == 0) {
        log_debug("scheduler.skipped", "%s", "reason=\"another process holds the scheduler lock\"");
        return;
    }
    struct automation_report report = {0};
    int64_t t0 = utc_monotonic_ms();
    log_set_context("scheduler");
    rc = automation_run_until(w->sched_db, utc_now(), false, NULL, &report, &w->stop, &err);
    if (rc < 0)
        log_error("scheduler.failed", "error=%s", log_quote(err.msg, quoted, sizeof quoted));
    else
        log_info("scheduler.pass",
                 "invoices_created=%d suspensions_queued=%d terminations_queued=%d errors=%d "
                 "ms=%lld",
                 report.invoices_created, report.suspensions_queued, report.terminations_queued,
                 report.errors, (long long)(utc_monotonic_ms() - t0));
    scheduled_backup(w);
    log_set_context(NULL);
}

static void *scheduler_main(void *arg)
{
    struct worker *w = arg;
    do {
        if (db_ready(w, &w->sched_db, "scheduler.db_open_failed", "scheduler"))
            scheduler_pass(w);
        if (w->sched_db != NULL && db_kind(w->sched_db) == DB_SQLITE) {
            db_close(w->sched_db); /* an hour's idle connection; see the top */
            w->sched_db = NULL;
        }
    } while (!wait_ms(w, (int64_t)w->cfg.scheduler_interval_s * 1000));
    return NULL;
}

/* --- start / stop ------------------------------------------------------------------ */

static void worker_free(struct worker *w)
{
    for (int i = 0; w->threads != NULL && i < w->nthreads; i++)
        db_close(w->threads[i].db);
    db_close(w->sched_db);
    free(w->threads);
    free(w->slots);
    free(w->database_url);
    stop_destroy(&w->stop);
    pthread_cond_destroy(&w->relay);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static void apply_defaults(struct worker_config *c)
{
    if (c->threads <= 0)
        c->threads = THREADS_DEFAULT;
    if (c->threads > THREADS_MAX)
        c->threads = THREADS_MAX;
    if (c->per_server <= 0)
        c->per_server = PER_SERVER_DEFAULT;
    if (c->lease_s <= 0)
        c->lease_s = JOBS_LEASE_S_DEFAULT;
    if (c->idle_poll_ms <= 0)
        c->idle_poll_ms = IDLE_POLL_MS_DEFAULT;
    if (c->scheduler_interval_s <= 0)
        c->scheduler_interval_s = SCHEDULER_INTERVAL_DEFAULT;
}

struct worker *worker_start(const struct worker_config *cfg, struct lumi_err *err)
{
    struct worker *w = calloc(1, sizeof *w);
    if (w == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory starting the worker");
        return NULL;
    }
    w->cfg = *cfg;
    apply_defaults(&w->cfg);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->relay, NULL);
    w->pollers = 1; /* the first thread */
    stop_init(&w->stop);
    if (gethostname(w->host, sizeof w->host) != 0 || w->host[0] == '\0')
        str_copy(w->host, "localhost", sizeof w->host);
    w->host[sizeof w->host - 1] = '\0';
    w->database_url = str_dup(cfg->database_url);
    w->threads = calloc((size_t)w->cfg.threads, sizeof *w->threads);
    w->slots = calloc((size_t)w->cfg.threads, sizeof *w->slots);
    if (w->database_url == NULL || w->threads == NULL || w->slots == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory starting the worker");
        goto fail;
    }
    w->nslots = w->cfg.threads;
    w->nthreads = w->cfg.threads;
    w->cfg.database_url = w->database_url;
    /* The connections the threads start with: a bad DATABASE_URL fails the start. */
    for (int i = 0; i < w->nthreads; i++) {
        w->threads[i].w = w;
        w->threads[i].no = i + 1;
    }
    if ((w->threads[0].db = db_open(w->database_url, err)) == NULL)
        goto fail;
    if (w->cfg.scheduler && (w->sched_db = db_open(w->database_url, err)) == NULL)
        goto fail;
    for (int i = 0; i < w->nthreads; i++) {
        if (pthread_create(&w->threads[i].tid, NULL, job_thread_main, &w->threads[i]) != 0) {
            err_set(err, LUMI_EINTERNAL, "cannot start worker thread %d", i + 1);
            goto fail;
        }
        w->threads[i].started = true;
    }
    if (w->cfg.scheduler) {
        if (pthread_create(&w->sched_tid, NULL, scheduler_main, w) != 0) {
            err_set(err, LUMI_EINTERNAL, "cannot start the scheduler thread");
            goto fail;
        }
        w->sched_started = true;
    }
    log_info("worker.started", "threads=%d per_server=%d lease_s=%d scheduler=%s interval_s=%d",
             w->cfg.threads, w->cfg.per_server, w->cfg.lease_s, w->cfg.scheduler ? "on" : "off",
             w->cfg.scheduler_interval_s);
    return w;
fail:
    worker_stop(w);
    return NULL;
}

void worker_stop(struct worker *w)
{
    if (w == NULL)
        return;
    stop_raise(&w->stop);
    relay_stop(w);
    bool any = w->sched_started;
    for (int i = 0; w->threads != NULL && i < w->nthreads; i++) {
        if (w->threads[i].started) {
            pthread_join(w->threads[i].tid, NULL);
            any = true;
        }
    }
    if (w->sched_started)
        pthread_join(w->sched_tid, NULL);
    if (any)
        log_info("worker.stopped", "%s", "clean=1");
    worker_free(w);
}

/* --- one job, in the caller's thread ----------------------------------------------- */

static bool settled(const char *status)
{
    return str_eq(status, "done") || str_eq(status, "failed") || str_eq(status, "cancelled");
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Answers the job as it stands when it settled (done, failed, cancelled), when
 * it waits for a retry due after the deadline, or at the deadline (then
 * queued or running: the caller tells the admin it goes on in the background).
 */
json_t *worker_run_until_settled(struct db *db, int64_t job_id, int timeout_s, struct lumi_err *err)
{
    char worker_id[64], host[48];
    int lease_s = (int)config_int("LUMI_JOB_LEASE_S");
    int64_t deadline_ms = utc_monotonic_ms() + (int64_t)(timeout_s > 0 ? timeout_s : 0) * 1000;
    if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
        str_copy(host, "localhost", sizeof host);
    host[sizeof host - 1] = '\0';
    snprintf(worker_id, sizeof worker_id, "%s:%ld:cli", host, (long)getpid());
    for (;;) {
        json_t *j = jobs_get(db, job_id, err);
        if (j == NULL)
            return NULL;
        const char *status = json_string_value(json_object_get(j, "status"));
        int64_t left_ms = deadline_ms - utc_monotonic_ms();
        if (settled(status) || left_ms <= 0)
            return j;
        if (str_eq(status, "queued")) {
            int64_t run_at = 0;
            const char *ra = json_string_value(json_object_get(j, "run_at"));
            if (ra != NULL && utc_parse(ra, &run_at, NULL) == 0 &&
                run_at > utc_now() + left_ms / 1000)
                return j;
        }
        json_decref(j);
        struct job job;
        int rc = jobs_claim_id(db, job_id, worker_id, lease_s > 0 ? lease_s : JOBS_LEASE_S_DEFAULT,
                               &job, err);
        if (rc < 0 && rc != LUMI_EBUSY)
            return NULL;
        if (rc == 1) {
            run_one(db, &job, worker_id);
            job_clear(&job);
            continue;
        }
        int64_t nap = SETTLE_POLL_MS;
        left_ms = deadline_ms - utc_monotonic_ms();
        if (left_ms < nap)
            nap = left_ms > 0 ? left_ms : 0;
        sleep_ms(nap);
    }
}
