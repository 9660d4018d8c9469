/*
 * jobs.c — the durable job queue (see jobs.h): enqueue with de-duplication,
 * claims as leases, the state transitions of a job, backoff, and the JSON
 * views of jobs.
 *
 * A claim runs in its own short transaction on both engines: pick the oldest
 * claimable job (PostgreSQL adds FOR UPDATE SKIP LOCKED, so claimers in any
 * number of processes pass each other; SQLite's BEGIN IMMEDIATE write lock
 * makes the pick and the take one step), then take it with an UPDATE that
 * repeats the claimable test, so a job is never handed out twice.
 * "Claimable" is: queued and due, or running with an expired lease (its
 * worker died); and no earlier open job of the same service, so a service's
 * jobs run in id order. A job whose lease expired with no attempts left is
 * failed during the claim instead of being run again: a job that kills its
 * worker every time must not loop forever.
 *
 * Open jobs are unique per (service, action) — migration 6 adds a partial
 * unique index — so two concurrent requests never queue the same action twice.
 *
 * Threading: no state of its own; every function uses only the connection it
 * is given (one thread at a time per connection, as db.h requires).
 */
#include "provisioning/jobs.h"

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"

#define BACKOFF_BASE_S 5
#define BACKOFF_CAP_S 3600
#define DELAY_MAX_S (366 * 86400) /* a retry is never scheduled further out than this */
#define ERROR_MAX_LEN 2000        /* bytes of a reason kept in last_error */
#define OF_SERVICE_MAX 50
#define PAGE_MAX 200
#define EXHAUSTED_SWEEP_MAX 32 /* lease-expired jobs failed in one claim, at most */

static const char *const ACTIONS[] = {"provision",      "suspend",         "unsuspend", "terminate",
                                      "change_package", "change_password", NULL};
static const char *const STATUSES[] = {"queued", "running", "done", "failed", "cancelled", NULL};

/* $1 = now. Kept identical in the pick and the take. */
#define CLAIMABLE                                                                                  \
    "((j.status = 'queued' AND j.run_at <= $1) OR"                                                 \
    " (j.status = 'running' AND j.locked_until < $1))"                                             \
    " AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.service_id = j.service_id"                      \
    " AND e.id < j.id AND e.status IN ('queued', 'running'))"

#define PICK "SELECT j.id, j.status, j.attempts, j.max_attempts, j.locked_by FROM jobs j WHERE "

static const char SQL_PICK_SQLITE[] = PICK CLAIMABLE " ORDER BY j.run_at, j.id LIMIT 1";
static const char SQL_PICK_PG[] =
    PICK CLAIMABLE " ORDER BY j.run_at, j.id LIMIT 1 FOR UPDATE SKIP LOCKED";
static const char SQL_PICK_ID_SQLITE[] = PICK "j.id = $2 AND " CLAIMABLE;
static const char SQL_PICK_ID_PG[] = PICK "j.id = $2 AND " CLAIMABLE " FOR UPDATE SKIP LOCKED";

#define JOB_FIELDS "id, service_id, action, status, args, attempts, max_attempts, run_at, locked_by"

static const char SQL_TAKE[] =
    "UPDATE jobs AS j SET status = 'running', locked_by = $2, locked_until = $3,"
    " attempts = attempts + 1, updated_at = $1 WHERE j.id = $4 AND " CLAIMABLE
    " RETURNING " JOB_FIELDS;

static const char SQL_FAIL_EXHAUSTED[] =
    "UPDATE jobs SET status = 'failed', last_error = $2, locked_by = NULL, locked_until = NULL,"
    " finished_at = $1, updated_at = $1"
    " WHERE id = $3 AND status = 'running' AND locked_until < $1";

static const char SQL_ENQUEUE[] =
    "INSERT INTO jobs (service_id, action, status, args, attempts, max_attempts, run_at,"
    " created_at, updated_at) VALUES ($1, $2, 'queued', $3, 0, $4, $5, $5, $5)"
    " ON CONFLICT (service_id, action) WHERE status IN ('queued', 'running') DO NOTHING"
    " RETURNING id";
static const char SQL_OPEN_OF[] = "SELECT id FROM jobs WHERE service_id = $1 AND action = $2"
                                  " AND status IN ('queued', 'running') ORDER BY id LIMIT 1";

static const char SQL_COMPLETE[] =
    "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL,"
    " finished_at = $1, updated_at = $1 WHERE id = $2";
static const char SQL_RETRY_LATER[] =
    "UPDATE jobs SET status = 'queued', run_at = $2, last_error = $3, locked_by = NULL,"
    " locked_until = NULL, updated_at = $1 WHERE id = $4";
static const char SQL_RELEASE[] =
    "UPDATE jobs SET status = 'queued', run_at = $2,"
    " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
    " locked_by = NULL, locked_until = NULL, updated_at = $1 WHERE id = $3";
static const char SQL_FAIL[] =
    "UPDATE jobs SET status = 'failed', last_error = $2, locked_by = NULL, locked_until = NULL,"
    " finished_at = $1, updated_at = $1 WHERE id = $3";

static const char SQL_TOUCH[] =
    "UPDATE jobs SET locked_until = $1 WHERE id = $2 AND status = 'running' AND locked_by = $3";
static const char SQL_HOLD[] =
    "UPDATE jobs SET updated_at = $1 WHERE id = $2 AND status = 'running' AND locked_by = $3";

static const char SQL_FAILED_OF[] =
    "SELECT id, action FROM jobs WHERE service_id = $1 AND status = 'failed' ORDER BY id DESC";
static const char SQL_REQUEUE[] =
    "UPDATE jobs SET status = 'queued', attempts = 0, max_attempts = $2, run_at = $1,"
    " locked_by = NULL, locked_until = NULL, finished_at = NULL, updated_at = $1"
    " WHERE id = $3 AND status = 'failed'";
static const char SQL_SUPERSEDE[] =
    "UPDATE jobs SET status = 'cancelled', last_error = $2, updated_at = $1"
    " WHERE id = $3 AND status = 'failed'";

#define JSON_FIELDS                                                                                \
    "id, service_id, action, status, args, attempts, max_attempts, run_at, last_error,"            \
    " created_at, updated_at, finished_at"

static const char SQL_GET[] = "SELECT " JSON_FIELDS " FROM jobs WHERE id = $1";
/* $2 = '' lists every status. */
static const char SQL_LIST[] = "SELECT " JSON_FIELDS " FROM jobs"
                               " WHERE id < $1 AND (CAST($2 AS TEXT) = '' OR status = $2)"
                               " ORDER BY id DESC LIMIT $3";
static const char SQL_OF_SERVICE[] =
    "SELECT " JSON_FIELDS " FROM jobs WHERE service_id = $1 ORDER BY id DESC LIMIT $2";

/* --- helpers --------------------------------------------------------------- */

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; s != NULL && list[i] != NULL; i++)
        if (str_eq(list[i], s))
            return true;
    return false;
}

bool jobs_action_valid(const char *action)
{
    return in_list(ACTIONS, action);
}

void job_clear(struct job *j)
{
    if (j == NULL)
        return;
    json_decref(j->args);
    memset(j, 0, sizeof *j);
}

static const char *col(struct db_stmt *st, int i)
{
    const char *s = db_col_text(st, i);
    return s ? s : "";
}

static json_t *text_or_null(struct db_stmt *st, int i)
{
    return db_col_is_null(st, i) ? json_null() : json_string(col(st, i));
}

/* Stored args are always an object written by jobs_enqueue; anything else reads as {}. */
static json_t *args_of(const char *text)
{
    json_t *v = jsonx_parse(text, strlen(text), JSONX_MAX_DEPTH, NULL);
    if (json_is_object(v))
        return v;
    json_decref(v);
    return json_object();
}

/* args as shown to admins: a password a change_password job carries is masked. */
static json_t *shown_args(const char *text)
{
    json_t *v = args_of(text);
    if (json_object_get(v, "password") != NULL)
        json_object_set_new(v, "password", json_string("********"));
    return v;
}

/* Reads the JOB_FIELDS of the current row. */
static int job_read(struct db_stmt *st, struct job *out, struct lumi_err *err)
{
    memset(out, 0, sizeof *out);
    out->id = db_col_int64(st, 0);
    out->service_id = db_col_int64(st, 1);
    str_copy(out->action, col(st, 2), sizeof out->action);
    str_copy(out->status, col(st, 3), sizeof out->status);
    out->args = args_of(col(st, 4));
    out->attempts = (int)db_col_int64(st, 5);
    out->max_attempts = (int)db_col_int64(st, 6);
    str_copy(out->run_at, col(st, 7), sizeof out->run_at);
    str_copy(out->locked_by, col(st, 8), sizeof out->locked_by);
    if (out->args == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory reading job %lld", (long long)out->id);
    return 0;
}

static int iso_in(int64_t delay_s, char out[UTC_ISO_LEN])
{
    if (delay_s < 0)
        delay_s = 0;
    if (delay_s > DELAY_MAX_S)
        delay_s = DELAY_MAX_S;
    return utc_format(utc_now() + delay_s, out);
}

/* A reason cut to ERROR_MAX_LEN bytes on a UTF-8 character boundary (caller frees). */
static char *bounded_reason(const char *reason)
{
    const char *r = reason ? reason : "";
    size_t n = strlen(r);
    if (n > ERROR_MAX_LEN) {
        n = ERROR_MAX_LEN;
        while (n > 0 && ((unsigned char)r[n] & 0xC0) == 0x80)
            n--;
    }
    return str_ndup(r, n);
}

static int one_row_changed(int64_t changes, int64_t id, struct lumi_err *err)
{
    if (changes == 0)
        return err_set(err, LUMI_ENOTFOUND, "job %lld not found", (long long)id);
    return 0;
}

/* Runs one UPDATE of a job: $1 now, then text (may be absent), then the id. */
static int update_job(struct db *db, const char *sql, int64_t id, const char *run_at,
                      const char *reason, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    char *text = NULL;
    int idx = 2, rc;
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err != NULL ? err->code : LUMI_EDB;
    db_bind_text(st, 1, now);
    if (run_at != NULL)
        db_bind_text(st, idx++, run_at);
    if (reason != NULL) {
        text = bounded_reason(reason);
        if (text == NULL) {
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
            goto out;
        }
        db_bind_text(st, idx++, text);
    }
    db_bind_int64(st, idx, id);
    rc = db_step(st, err);
    if (rc == DB_DONE)
        rc = one_row_changed(db_changes(st), id, err);
out:
    free(text);
    db_finalize(st);
    return rc;
}

/* --- enqueue ---------------------------------------------------------------- */

static int open_job_of(struct db *db, int64_t service_id, const char *action, int64_t *id,
                       struct lumi_err *err)
{
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)service_id);
    const char *const p[] = {sid, action};
    return db_query_int64(db, SQL_OPEN_OF, 2, p, id, err);
}

int jobs_enqueue(struct db *db, int64_t service_id, const char *action, json_t *args,
                 int64_t *job_id, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    char *text = NULL;
    struct db_stmt *st = NULL;
    int rc;
    if (!jobs_action_valid(action))
        return err_set(err, LUMI_EINVAL, "unknown job action '%.30s'", action ? action : "");
    if (args != NULL && !json_is_object(args))
        return err_set(err, LUMI_EINVAL, "job arguments must be a JSON object");
    text = args != NULL ? jsonx_dump_canonical(args) : str_dup("{}");
    if (text == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    utc_now_iso(now);
    st = db_prepare(db, SQL_ENQUEUE, err);
    if (st == NULL) {
        rc = err != NULL ? err->code : LUMI_EDB;
        goto out;
    }
    db_bind_int64(st, 1, service_id);
    db_bind_text(st, 2, action);
    db_bind_text(st, 3, text);
    db_bind_int64(st, 4, config_int("LUMI_JOB_MAX_ATTEMPTS"));
    db_bind_text(st, 5, now);
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        *job_id = db_col_int64(st, 0);
        rc = 0;
    } else if (rc == DB_DONE) {
        /* An open job of this service and action exists: that one stands for the request. */
        rc = open_job_of(db, service_id, action, job_id, err);
        if (rc == LUMI_ENOTFOUND)
            rc = err_set(err, LUMI_ECONFLICT,
                         "a %s job of service %lld was being queued concurrently; try again",
                         action, (long long)service_id);
    }
out:
    db_finalize(st);
    free(text);
    return rc;
}

/* --- claims ----------------------------------------------------------------- */

struct pick {
    int64_t id;
    bool expired; /* running with an expired lease: its worker is gone */
    int attempts, max_attempts;
    char locked_by[64];
};

/* 1 with *p filled, 0 when nothing is claimable, < 0 on error. */
static int pick(struct db *db, const char *now, int64_t only_id, struct pick *p,
                struct lumi_err *err)
{
    bool pg = db_kind(db) == DB_POSTGRES;
    const char *sql = only_id > 0 ? (pg ? SQL_PICK_ID_PG : SQL_PICK_ID_SQLITE)
                                  : (pg ? SQL_PICK_PG : SQL_PICK_SQLITE);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err != NULL ? err->code : LUMI_EDB;
    db_bind_text(st, 1, now);
    if (only_id > 0)
        db_bind_int64(st, 2, only_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        memset(p, 0, sizeof *p);
        p->id = db_col_int64(st, 0);
        p->expired = str_eq(col(st, 1), "running");
        p->attempts = (int)db_col_int64(st, 2);
        p->max_attempts = (int)db_col_int64(st, 3);
        str_copy(p->locked_by, col(st, 4), sizeof p->locked_by);
        rc = 1;
    }
    db_finalize(st);
    return rc;
}

static int fail_exhausted(struct db *db, const char *now, const struct pick *p,
                          struct lumi_err *err)
{
    char reason[256];
    snprintf(reason, sizeof reason,
             "the worker running attempt %d of %d (%s) stopped before it finished, "
             "and no attempts are left",
             p->attempts, p->max_attempts, p->locked_by);
    log_warn("job.abandoned", "job=%lld worker=%s attempts=%d", (long long)p->id, p->locked_by,
             p->attempts);
    struct db_stmt *st = db_prepare(db, SQL_FAIL_EXHAUSTED, err);
    if (st == NULL)
        return err != NULL ? err->code : LUMI_EDB;
    db_bind_text(st, 1, now);
    db_bind_text(st, 2, reason);
    db_bind_int64(st, 3, p->id);
    int rc = db_step(st, err);
    db_finalize(st);
    return rc;
}

static int take(struct db *db, const char *now, const struct pick *p, const char *worker_id,
                int lease_s, struct job *out, struct lumi_err *err)
{
    char until[UTC_ISO_LEN];
    int rc = iso_in(lease_s > 0 ? lease_s : JOBS_LEASE_S_DEFAULT, until);
    if (rc != 0)
        return err_set(err, LUMI_EINTERNAL, "cannot compute the lease end");
    struct db_stmt *st = db_prepare(db, SQL_TAKE, err);
    if (st == NULL)
        return err != NULL ? err->code : LUMI_EDB;
    db_bind_text(st, 1, now);
    db_bind_text(st, 2, worker_id);
    db_bind_text(st, 3, until);
    db_bind_int64(st, 4, p->id);
    rc = db_step(st, err);
    if (rc == DB_ROW) {
        int jrc = job_read(st, out, err);
        rc = jrc == 0 ? 1 : jrc;
    }
    db_finalize(st);
    if (rc == 1 && p->expired)
        log_warn("job.lease_expired", "job=%lld previous_worker=%s worker=%s attempt=%d",
                 (long long)out->id, p->locked_by, worker_id, out->attempts);
    return rc;
}

/* One claim transaction; only_id > 0 limits it to that job. */
static int claim(struct db *db, int64_t only_id, const char *worker_id, int lease_s,
                 struct job *out, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    struct pick p;
    int rc;
    memset(out, 0, sizeof *out);
    if (worker_id == NULL || *worker_id == '\0')
        return err_set(err, LUMI_EINVAL, "a claim needs a worker id");
    utc_now_iso(now);
    rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    for (int i = 0; i < EXHAUSTED_SWEEP_MAX; i++) {
        rc = pick(db, now, only_id, &p, err);
        if (rc <= 0)
            goto out;
        if (!(p.expired && p.attempts >= p.max_attempts))
            break;
        rc = fail_exhausted(db, now, &p, err);
        if (rc < 0)
            goto out;
        rc = 0;
        if (only_id > 0)
            goto out;
    }
    if (rc == 1)
        rc = take(db, now, &p, worker_id, lease_s, out, err);
out:
    if (rc >= 0) {
        int crc = db_commit(db, err);
        if (crc != 0)
            rc = crc;
    }
    if (rc < 0) {
        db_rollback(db);
        job_clear(out);
    }
    return rc;
}

int jobs_claim(struct db *db, const char *worker_id, int lease_s, struct job *out,
               struct lumi_err *err)
{
    return claim(db, 0, worker_id, lease_s, out, err);
}

int jobs_claim_id(struct db *db, int64_t job_id, const char *worker_id, int lease_s,
                  struct job *out, struct lumi_err *err)
{
    if (job_id <= 0) {
        memset(out, 0, sizeof *out);
        return err_set(err, LUMI_ENOTFOUND, "job %lld not found", (long long)job_id);
    }
    return claim(db, job_id, worker_id, lease_s, out, err);
}

/* --- transitions ------------------------------------------------------------ */

/* Runs SQL_TOUCH or SQL_HOLD: $1 a time, $2 the job, $3 its holder. */
static int own_job(struct db *db, const char *sql, const char *t, const struct job *job,
                   struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err != NULL ? err->code : LUMI_EDB;
    db_bind_text(st, 1, t);
    db_bind_int64(st, 2, job->id);
    db_bind_text(st, 3, job->locked_by);
    int rc = db_step(st, err);
    if (rc == DB_DONE)
        rc = db_changes(st) == 1
                 ? 0
                 : err_set(err, LUMI_ECONFLICT,
                           "job %lld is no longer held by %s (its lease was taken over)",
                           (long long)job->id, job->locked_by);
    db_finalize(st);
    return rc;
}

int jobs_touch(struct db *db, const struct job *job, int lease_s, struct lumi_err *err)
{
    char until[UTC_ISO_LEN];
    if (iso_in(lease_s, until) != 0)
        return err_set(err, LUMI_EINTERNAL, "cannot compute the lease time");
    return own_job(db, SQL_TOUCH, until, job, err);
}

int jobs_hold(struct db *db, const struct job *job, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    return own_job(db, SQL_HOLD, now, job, err);
}

int jobs_complete(struct db *db, int64_t job_id, struct lumi_err *err)
{
    return update_job(db, SQL_COMPLETE, job_id, NULL, NULL, err);
}

int jobs_retry_later(struct db *db, int64_t job_id, int64_t delay_s, const char *error,
                     struct lumi_err *err)
{
    char run_at[UTC_ISO_LEN];
    if (iso_in(delay_s, run_at) != 0)
        return err_set(err, LUMI_EINTERNAL, "cannot compute the retry time");
    return update_job(db, SQL_RETRY_LATER, job_id, run_at, error ? error : "", err);
}

int jobs_release(struct db *db, int64_t job_id, int64_t delay_s, struct lumi_err *err)
{
    char run_at[UTC_ISO_LEN];
    if (iso_in(delay_s, run_at) != 0)
        return err_set(err, LUMI_EINTERNAL, "cannot compute the retry time");
    return update_job(db, SQL_RELEASE, job_id, run_at, NULL, err);
}

int jobs_fail(struct db *db, int64_t job_id, const char *error, struct lumi_err *err)
{
    return update_job(db, SQL_FAIL, job_id, NULL, error ? error : "", err);
}

struct failed_job {
    int64_t id;
    char action[24];
};

static int read_failed(struct db *db, int64_t service_id, struct failed_job **list, size_t *n,
                       struct lumi_err *err)
{
    size_t cap = 0;
    int rc;
    *list = NULL;
    *n = 0;
    struct db_stmt *st = db_prepare(db, SQL_FAILED_OF, err);
    if (st == NULL)
        return err != NULL ? err->code : LUMI_EDB;
    db_bind_int64(st, 1, service_id);
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct failed_job *grown = realloc(*list, ncap * sizeof *grown);
            if (grown == NULL) {
                rc = err_set(err, LUMI_ENOMEM, "out of memory");
                break;
            }
            *list = grown;
            cap = ncap;
        }
        (*list)[*n].id = db_col_int64(st, 0);
        str_copy((*list)[*n].action, col(st, 1), sizeof(*list)[*n].action);
        (*n)++;
    }
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/*
 * The newest failed job of each action is requeued — unless an open job of
 * that action exists already, which then stands for it. Every other failed
 * job of the same action is marked cancelled ("superseded"), so one retry
 * never runs an action twice and no stale job is left to be retried later.
 */
int jobs_requeue_failed(struct db *db, int64_t service_id, int64_t *job_id, struct lumi_err *err)
{
    struct failed_job *list = NULL;
    size_t n = 0;
    int64_t first = 0;
    int rc = read_failed(db, service_id, &list, &n, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t keeper = 0;
        for (size_t k = 0; k < i && keeper == 0; k++)
            if (str_eq(list[k].action, list[i].action))
                keeper = list[k].id; /* newer failed job of this action, handled first */
        if (keeper == 0) {
            int64_t open_id = 0;
            rc = open_job_of(db, service_id, list[i].action, &open_id, err);
            if (rc == 0) {
                keeper = open_id;
            } else if (rc == LUMI_ENOTFOUND) {
                char now[UTC_ISO_LEN], max[24];
                char sid[24];
                utc_now_iso(now);
                snprintf(max, sizeof max, "%lld", (long long)config_int("LUMI_JOB_MAX_ATTEMPTS"));
                snprintf(sid, sizeof sid, "%lld", (long long)list[i].id);
                const char *const p[] = {now, max, sid};
                rc = db_execp(db, SQL_REQUEUE, 3, p, NULL, err);
                if (rc == 0 && (first == 0 || list[i].id < first))
                    first = list[i].id;
                continue;
            }
            if (rc != 0)
                break;
        }
        char reason[80];
        snprintf(reason, sizeof reason, "superseded by job %lld", (long long)keeper);
        rc = update_job(db, SQL_SUPERSEDE, list[i].id, NULL, reason, err);
    }
    if (rc == 0 && first == 0)
        rc = err_set(err, LUMI_ENOTFOUND, "service %lld has no failed job to retry",
                     (long long)service_id);
    if (rc == 0)
        *job_id = first;
out:
    free(list);
    return rc;
}

int64_t jobs_backoff_s(int attempt, int retry_after_s)
{
    int64_t base = BACKOFF_BASE_S;
    for (int i = 1; i < attempt && base < BACKOFF_CAP_S; i++)
        base *= 2;
    if (base > BACKOFF_CAP_S)
        base = BACKOFF_CAP_S;
    /* ±20 %: spreads retries of jobs that failed together (a panel outage). */
    uint32_t r;
    crypto_random(&r, sizeof r);
    int64_t d = base * (800 + (int64_t)(r % 401)) / 1000;
    if (d > BACKOFF_CAP_S)
        d = BACKOFF_CAP_S;
    if (d < 1)
        d = 1;
    if (retry_after_s > 0 && d < retry_after_s)
        d = retry_after_s;
    return d;
}

/* --- views ------------------------------------------------------------------- */

static json_t *row_to_json(struct db_stmt *st, struct lumi_err *err)
{
    json_t *o = json_pack(
        "{s:I s:o s:s s:s s:o s:i s:i s:s s:o s:s s:s s:o}", "id", (json_int_t)db_col_int64(st, 0),
        "service_id", db_col_is_null(st, 1) ? json_null() : json_integer(db_col_int64(st, 1)),
        "action", col(st, 2), "status", col(st, 3), "args", shown_args(col(st, 4)), "attempts",
        (int)db_col_int64(st, 5), "max_attempts", (int)db_col_int64(st, 6), "run_at", col(st, 7),
        "last_error", text_or_null(st, 8), "created_at", col(st, 9), "updated_at", col(st, 10),
        "finished_at", text_or_null(st, 11));
    if (o == NULL)
        err_set(err, LUMI_ENOMEM, "out of memory");
    return o;
}

json_t *jobs_get(struct db *db, int64_t id, struct lumi_err *err)
{
    json_t *o = NULL;
    struct db_stmt *st = db_prepare(db, SQL_GET, err);
    if (st == NULL)
        return NULL;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW)
        o = row_to_json(st, err);
    else if (rc == DB_DONE)
        err_set(err, LUMI_ENOTFOUND, "job %lld not found", (long long)id);
    db_finalize(st);
    return o;
}

/* Rows of a prepared, bound statement into a new array; at most limit, *more when one follows. */
static json_t *rows(struct db_stmt *st, size_t limit, bool *more, struct lumi_err *err)
{
    json_t *arr = json_array();
    int rc;
    if (more != NULL)
        *more = false;
    if (arr == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (json_array_size(arr) == limit) {
            if (more != NULL)
                *more = true;
            break;
        }
        json_t *o = row_to_json(st, err);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
            break;
        }
    }
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *jobs_list(struct db *db, const char *status, int64_t before_id, int limit,
                  int64_t *next_cursor, struct lumi_err *err)
{
    json_t *arr = NULL;
    bool more = false;
    *next_cursor = 0;
    if (status != NULL && *status != '\0' && !in_list(STATUSES, status)) {
        err_set(err, LUMI_EINVAL, "status must be one of queued, running, done, failed, cancelled");
        return NULL;
    }
    if (limit < 1 || limit > PAGE_MAX) {
        err_set(err, LUMI_EINVAL, "limit must be from 1 to %d", PAGE_MAX);
        return NULL;
    }
    struct db_stmt *st = db_prepare(db, SQL_LIST, err);
    if (st == NULL)
        return NULL;
    db_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX);
    db_bind_text(st, 2, status != NULL ? status : "");
    db_bind_int64(st, 3, (int64_t)limit + 1); /* one more tells whether a page follows */
    arr = rows(st, (size_t)limit, &more, err);
    db_finalize(st);
    if (arr != NULL && more) {
        json_t *last = json_array_get(arr, json_array_size(arr) - 1);
        *next_cursor = json_integer_value(json_object_get(last, "id"));
    }
    return arr;
}

json_t *jobs_of_service(struct db *db, int64_t service_id, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_OF_SERVICE, err);
    if (st == NULL)
        return NULL;
    db_bind_int64(st, 1, service_id);
    db_bind_int64(st, 2, OF_SERVICE_MAX);
    json_t *arr = rows(st, OF_SERVICE_MAX, NULL, err);
    db_finalize(st);
    return arr;
}

static const char SQL_OLDEST_DUE[] =
    "SELECT run_at FROM jobs WHERE status = 'queued' AND run_at <= $1 ORDER BY run_at LIMIT 1";

int jobs_oldest_due_age(struct db *db, int64_t now, int64_t *age_s, struct lumi_err *err)
{
    char at[UTC_ISO_LEN];
    int64_t due = now;
    *age_s = 0;
    if (utc_format(now, at) != 0)
        return err_set(err, LUMI_EINVAL, "the current time cannot be formatted");
    struct db_stmt *st = db_prepare(db, SQL_OLDEST_DUE, err);
    if (st == NULL)
        return err->code;
    db_bind_text(st, 1, at);
    int rc = db_step(st, err);
    if (rc == DB_ROW && utc_parse(db_col_text(st, 0), &due, err) != 0)
        rc = err->code;
    db_finalize(st);
    if (rc < 0)
        return rc;
    *age_s = now > due ? now - due : 0;
    return 0;
}

json_t *jobs_counts(struct db *db, struct lumi_err *err)
{
    static const char *const SMALL[] = {"queued", "running", "failed", NULL};
    json_t *o = json_object();
    if (o == NULL) {
        err_set(err, LUMI_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; SMALL[i] != NULL; i++) {
        int64_t n = 0;
        const char *p[] = {SMALL[i]};
        if (db_query_int64(db, "SELECT COUNT(*) FROM jobs WHERE status = $1", 1, p, &n, err) != 0) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, SMALL[i], json_integer(n));
    }
    return o;
}
