/*
 * cancellations.c — cancellation requests of services (see cancellations.h).
 *
 * Owns the SQL over `cancel_requests`. A request is checked and written in
 * one transaction with everything it causes: the terminate job (jobs.c),
 * the cancelled renewal invoices (invoices.c) and the withdrawn upgrade
 * (changes.c). The service row is locked (FOR UPDATE) on PostgreSQL while
 * its status is checked; SQLite's BEGIN IMMEDIATE serialises writers. The
 * unique partial index cancel_requests_open is the last word on "one pending
 * request per service": a racing second insert is a conflict, answered 409.
 *
 * "Renewal invoices" of a service are unpaid invoices with nothing paid that
 * have a recurring item of the service and no item of anything else, so an
 * invoice that also bills another service is left for staff.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "db/rowjson.h"
#include "provisioning/cancellations.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "billing/invoices.h"
#include "core/str.h"
#include "core/utc.h"
#include "provisioning/changes.h"
#include "provisioning/jobs.h"

#define REASON_MAX 500
#define INVOICES_MAX 64

const char *const CANCELLATION_STATUSES[] = {"pending", "done", "withdrawn", "rejected", NULL};

const char CANCELLATIONS_SQL_DUE[] =
    "SELECT service_id FROM cancel_requests WHERE status = 'pending' AND run_at <= $1"
    " AND service_id > $2 ORDER BY service_id LIMIT $3";

static const char SQL_SERVICE[] =
    "SELECT client_id, status, next_due_date, billing_cycle FROM services WHERE id = $1";
static const char SQL_SERVICE_LOCKED[] =
    "SELECT client_id, status, next_due_date, billing_cycle FROM services WHERE id = $1 FOR UPDATE";

#define REQUEST_COLUMNS                                                                            \
    "id, service_id, requested_by, actor_type, timing, reason, status, run_at, job_id,"            \
    " created_at, updated_at, closed_at"

static const char SQL_GET[] = "SELECT " REQUEST_COLUMNS " FROM cancel_requests WHERE id = $1";

static const char SQL_PENDING[] = "SELECT " REQUEST_COLUMNS " FROM cancel_requests"
                                  " WHERE service_id = $1 AND status = 'pending'";

static const char SQL_DONE_COUNT[] =
    "SELECT COUNT(*) FROM cancel_requests WHERE service_id = $1 AND status = 'done'";

static const char SQL_BLOCKING[] = "SELECT COUNT(*) FROM cancel_requests WHERE service_id = $1"
                                   " AND status IN ('pending', 'done')";

static const char SQL_OPEN_TERMINATION[] =
    "SELECT COUNT(*) FROM jobs WHERE service_id = $1 AND action = 'terminate'"
    " AND status IN ('queued', 'running')";

static const char SQL_INSERT[] =
    "INSERT INTO cancel_requests (service_id, requested_by, actor_type, timing, reason, status,"
    " run_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7)"
    " RETURNING id";

static const char SQL_MARK_DONE[] =
    "UPDATE cancel_requests SET status = 'done', job_id = $2, closed_at = $3, updated_at = $3"
    " WHERE id = $1 AND status = 'pending'";

/* The service ended before the request ran: nothing to terminate. */
static const char SQL_MARK_DONE_NO_JOB[] =
    "UPDATE cancel_requests SET status = 'done', closed_at = $2, updated_at = $2"
    " WHERE id = $1 AND status = 'pending'";

static const char SQL_CLOSE[] =
    "UPDATE cancel_requests SET status = $2, closed_at = $3, updated_at = $3"
    " WHERE id = $1 AND status = 'pending'";

static const char SQL_RENEWAL_INVOICES[] =
    "SELECT i.id FROM invoices i WHERE i.status = 'unpaid' AND i.amount_paid = 0"
    " AND EXISTS (SELECT 1 FROM invoice_items r WHERE r.invoice_id = i.id"
    " AND r.service_id = $1 AND r.kind = 'recurring')"
    " AND NOT EXISTS (SELECT 1 FROM invoice_items o WHERE o.invoice_id = i.id"
    " AND (o.service_id IS NULL OR o.service_id <> $1)) ORDER BY i.id";

static const char SQL_LIST[] =
    "SELECT c.id, c.service_id, s.client_id, u.email AS client_email, p.name AS product_name,"
    " s.domain, s.status AS service_status, c.timing, c.reason, c.status, c.run_at, c.job_id,"
    " c.actor_type, c.created_at, c.closed_at FROM cancel_requests c"
    " JOIN services s ON s.id = c.service_id JOIN users u ON u.id = s.client_id"
    " JOIN products p ON p.id = s.product_id WHERE c.id < $1 ORDER BY c.id DESC LIMIT $2";

static const char SQL_LIST_STATUS[] =
    "SELECT c.id, c.service_id, s.client_id, u.email AS client_email, p.name AS product_name,"
    " s.domain, s.status AS service_status, c.timing, c.reason, c.status, c.run_at, c.job_id,"
    " c.actor_type, c.created_at, c.closed_at FROM cancel_requests c"
    " JOIN services s ON s.id = c.service_id JOIN users u ON u.id = s.client_id"
    " JOIN products p ON p.id = s.product_id WHERE c.id < $1 AND c.status = $3"
    " ORDER BY c.id DESC LIMIT $2";

static const char *const INT_COLUMNS[] = {"id",     "service_id", "requested_by",
                                          "job_id", "client_id",  NULL};

/* ---- small helpers ------------------------------------------------------ */

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static bool in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; s != NULL && list[i] != NULL; i++)
        if (str_eq(s, list[i]))
            return true;
    return false;
}

static int count_by_id(struct db *db, const char *sql, int64_t id, int64_t *n, struct lumi_err *err)
{
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *p[] = {idt};
    *n = 0;
    return db_query_int64(db, sql, 1, p, n, err);
}

/* UPDATE with $1 = id, text params $2.. and now last; *changed gets the rows changed. */
static int update_row(struct db *db, const char *sql, int64_t id, const char *text, int64_t job_id,
                      int64_t *changed, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = 0, p = 2;
    if (db_bind_int64(st, 1, id) < 0 || (text != NULL && db_bind_text(st, p++, text) < 0) ||
        (job_id > 0 && db_bind_int64(st, p++, job_id) < 0) || db_bind_text(st, p, now) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0)
        rc = db_step(st, err);
    *changed = rc >= 0 ? db_changes(st) : 0;
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

struct svc {
    int64_t client_id;
    char status[24], due[40], cycle[16];
};

/* Reads (and on PostgreSQL locks) the service; LUMI_ENOTFOUND also for another client's. */
static int svc_read(struct db *db, int64_t id, int64_t owner, struct svc *s, struct lumi_err *err)
{
    memset(s, 0, sizeof *s);
    bool lock = db_kind(db) == DB_POSTGRES && db_in_tx(db);
    struct db_stmt *st = db_prepare(db, lock ? SQL_SERVICE_LOCKED : SQL_SERVICE, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc =
        db_bind_int64(st, 1, id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : db_step(st, err);
    if (rc == DB_ROW) {
        s->client_id = db_col_int64(st, 0);
        str_copy(s->status, db_col_text(st, 1) ? db_col_text(st, 1) : "", sizeof s->status);
        str_copy(s->due, db_col_text(st, 2) ? db_col_text(st, 2) : "", sizeof s->due);
        str_copy(s->cycle, db_col_text(st, 3) ? db_col_text(st, 3) : "", sizeof s->cycle);
    }
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (rc == DB_DONE || (owner > 0 && s->client_id != owner))
        return err_set(err, LUMI_ENOTFOUND, "service %" PRId64 " not found", id);
    return 0;
}

/* ---- execution ------------------------------------------------------------ */

/* Cancels the service's unpaid renewal invoices; *n gets how many. */
static int cancel_renewals(struct db *db, const struct audit_actor *actor, int64_t service_id,
                           int *n, struct lumi_err *err)
{
    int64_t ids[INVOICES_MAX];
    size_t k = 0;
    *n = 0;
    struct db_stmt *st = db_prepare(db, SQL_RENEWAL_INVOICES, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, service_id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : 0;
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW && k < INVOICES_MAX) {
        ids[k++] = db_col_int64(st, 0);
        rc = 0;
    }
    db_finalize(st);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < k; i++) {
        rc = invoices_cancel_in_tx(db, actor, ids[i], "service cancelled", err);
        if (rc < 0)
            return rc;
        (*n)++;
    }
    return 0;
}

/*
 * Executes pending request id of service_id inside the caller's transaction:
 * terminate job, request done, renewal invoices and an awaiting upgrade
 * cancelled, CANCELLATION_EXECUTED by actor.
 */
static int execute(struct db *db, const struct audit_actor *actor, int64_t id, int64_t service_id,
                   const char *service_status, struct lumi_err *err)
{
    int64_t job_id = 0, changed = 0;
    int cancelled = 0, rc = 0;
    bool gone = str_eq(service_status, "terminated") || str_eq(service_status, "cancelled");
    if (!gone) {
        json_t *args = json_pack("{s:s}", "reason", "cancellation");
        rc = args != NULL ? jobs_enqueue(db, service_id, "terminate", args, &job_id, err)
                          : nomem(err);
        json_decref(args);
    }
    if (rc == 0)
        rc = update_row(db, job_id > 0 ? SQL_MARK_DONE : SQL_MARK_DONE_NO_JOB, id, NULL, job_id,
                        &changed, err);
    if (rc == 0 && changed != 1)
        rc = err_set(err, LUMI_ECONFLICT, "the cancellation request is no longer pending");
    if (rc == 0)
        rc = cancel_renewals(db, actor, service_id, &cancelled, err);
    if (rc == 0)
        rc = changes_cancel_open(db, actor, service_id, err);
    if (rc == 0)
        rc = audit_append_id_take(db, actor, "CANCELLATION_EXECUTED", "service", service_id,
                                  json_pack("{s:I, s:I, s:i}", "request_id", (json_int_t)id,
                                            "job_id", (json_int_t)job_id, "invoices_cancelled",
                                            cancelled),
                                  err);
    return rc;
}

/* ---- requests --------------------------------------------------------------- */

static int check_can_request(struct db *db, int64_t id, const struct svc *s, const char *timing,
                             struct lumi_err *err)
{
    int64_t n = 0;
    if (!str_eq(s->status, "active") && !str_eq(s->status, "suspended"))
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " is %s; only an active or suspended service can be "
                       "cancelled",
                       id, s->status);
    json_t *pending = cancellations_pending(db, id, err);
    if (pending == NULL)
        return err->code;
    if (json_is_object(pending)) {
        char day[11];
        str_copy(day, json_string_value(json_object_get(pending, "run_at")), sizeof day);
        json_decref(pending);
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " already has a pending cancellation request (for %s); "
                       "withdraw it first",
                       id, day);
    }
    json_decref(pending);
    int rc = count_by_id(db, SQL_DONE_COUNT, id, &n, err);
    if (rc == 0 && n == 0)
        rc = count_by_id(db, SQL_OPEN_TERMINATION, id, &n, err);
    if (rc == 0 && n > 0)
        return err_set(err, LUMI_ECONFLICT, "service %" PRId64 " is already being terminated", id);
    if (rc == 0 && str_eq(timing, "end_of_period") && s->due[0] == '\0')
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " (%s) has no paid period to wait for; request an "
                       "immediate cancellation",
                       id, s->cycle);
    return rc;
}

static int insert_request(struct db *db, const struct audit_actor *actor, int64_t service_id,
                          int64_t owner, const char *timing, const char *reason, const char *run_at,
                          int64_t *id, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    int64_t by = 0;
    if (actor != NULL && str_eq(actor->type, "user") && actor->id != NULL)
        str_to_i64z(actor->id, 1, INT64_MAX, &by);
    const char *kind = owner > 0 ? "client" : "admin";
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = 0;
    if (db_bind_int64(st, 1, service_id) < 0 ||
        (by > 0 ? db_bind_int64(st, 2, by) : db_bind_null(st, 2)) < 0 ||
        db_bind_text(st, 3, kind) < 0 || db_bind_text(st, 4, timing) < 0 ||
        db_bind_text(st, 5, reason != NULL ? reason : "") < 0 || db_bind_text(st, 6, run_at) < 0 ||
        db_bind_text(st, 7, now) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0)
        rc = db_step_id(st, "a cancellation request", id, err);
    db_finalize(st);
    if (rc == LUMI_ECONFLICT)
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " already has a pending cancellation request",
                       service_id);
    return rc < 0 ? rc : 0;
}

json_t *cancellations_request(struct db *db, const struct audit_actor *actor, int64_t service_id,
                              int64_t owner, const char *timing, const char *reason,
                              struct lumi_err *err)
{
    struct lumi_err local;
    struct svc s;
    char now[UTC_ISO_LEN];
    int64_t id = 0;
    json_t *out = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    utc_now_iso(now);
    bool immediate = str_eq(timing, "immediate");
    /* The service is found (or another client's is "not found") before the
     * input is judged, so that the answer for another's id never varies. */
    if (db_begin(db, err) < 0 || svc_read(db, service_id, owner, &s, err) < 0)
        goto out;
    if (!str_eq(timing, "immediate") && !str_eq(timing, "end_of_period")) {
        err_set(err, LUMI_EINVAL, "field 'when' must be immediate or end_of_period");
        goto out;
    }
    if (reason != NULL && strlen(reason) > REASON_MAX) {
        err_set(err, LUMI_EINVAL, "field 'reason' is longer than %d characters", REASON_MAX);
        goto out;
    }
    if (check_can_request(db, service_id, &s, timing, err) < 0)
        goto out;
    if (insert_request(db, actor, service_id, owner, timing, reason, immediate ? now : s.due, &id,
                       err) < 0)
        goto out;
    if (audit_append_id_take(db, actor, "CANCELLATION_REQUESTED", "service", service_id,
                             json_pack("{s:I, s:s, s:s, s:s}", "request_id", (json_int_t)id,
                                       "timing", timing, "run_at", immediate ? now : s.due,
                                       "reason", reason != NULL ? reason : ""),
                             err) < 0)
        goto out;
    if (immediate && execute(db, actor, id, service_id, s.status, err) < 0)
        goto out;
    out = db_one_row_json(db, SQL_GET, id, INT_COLUMNS, err);
    if (out != NULL && db_commit(db, err) < 0) {
        json_decref(out);
        out = NULL;
    }
out:
    if (out == NULL)
        db_rollback(db);
    return out;
}

/* Closes the pending request of service_id (or request_id when > 0) as status. */
static json_t *close_request(struct db *db, const struct audit_actor *actor, int64_t service_id,
                             int64_t owner, int64_t request_id, const char *status,
                             const char *note, struct lumi_err *err)
{
    struct svc s;
    json_t *req = NULL, *out = NULL;
    int64_t changed = 0;
    if (db_begin(db, err) < 0)
        goto out;
    if (request_id > 0) {
        req = db_one_row_json(db, SQL_GET, request_id, INT_COLUMNS, err);
        if (req == NULL)
            goto out;
        if (!json_is_object(req)) {
            err_set(err, LUMI_ENOTFOUND, "cancellation request %" PRId64 " not found", request_id);
            goto out;
        }
        service_id = json_integer_value(json_object_get(req, "service_id"));
        if (!str_eq(json_string_value(json_object_get(req, "status")), "pending")) {
            err_set(err, LUMI_ECONFLICT, "cancellation request %" PRId64 " is %s, not pending",
                    request_id, json_string_value(json_object_get(req, "status")));
            goto out;
        }
    }
    if (svc_read(db, service_id, owner, &s, err) < 0)
        goto out;
    if (request_id == 0) {
        req = cancellations_pending(db, service_id, err);
        if (req == NULL)
            goto out;
        if (!json_is_object(req)) {
            err_set(err, LUMI_ECONFLICT,
                    "service %" PRId64 " has no pending cancellation request to withdraw",
                    service_id);
            goto out;
        }
    }
    int64_t id = json_integer_value(json_object_get(req, "id"));
    if (update_row(db, SQL_CLOSE, id, status, 0, &changed, err) < 0)
        goto out;
    if (changed != 1) {
        err_set(err, LUMI_ECONFLICT, "the cancellation request is no longer pending");
        goto out;
    }
    if (audit_append_id_take(
            db, actor,
            str_eq(status, "withdrawn") ? "CANCELLATION_WITHDRAWN" : "CANCELLATION_REJECTED",
            "service", service_id,
            json_pack("{s:I, s:s?}", "request_id", (json_int_t)id, "note", note), err) < 0)
        goto out;
    out = db_one_row_json(db, SQL_GET, id, INT_COLUMNS, err);
    if (out != NULL && db_commit(db, err) < 0) {
        json_decref(out);
        out = NULL;
    }
out:
    if (out == NULL)
        db_rollback(db);
    json_decref(req);
    return out;
}

json_t *cancellations_withdraw(struct db *db, const struct audit_actor *actor, int64_t service_id,
                               int64_t owner, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    return close_request(db, actor, service_id, owner, 0, "withdrawn", NULL, err);
}

json_t *cancellations_reject(struct db *db, const struct audit_actor *actor, int64_t request_id,
                             const char *note, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (note != NULL && strlen(note) > REASON_MAX) {
        err_set(err, LUMI_EINVAL, "field 'note' is longer than %d characters", REASON_MAX);
        return NULL;
    }
    return close_request(db, actor, 0, 0, request_id, "rejected", note, err);
}

json_t *cancellations_pending(struct db *db, int64_t service_id, struct lumi_err *err)
{
    return db_one_row_json(db, SQL_PENDING, service_id, INT_COLUMNS, err);
}

json_t *cancellations_pending_of(struct db *db, int64_t service_id, int64_t owner,
                                 struct lumi_err *err)
{
    struct lumi_err local;
    struct svc s;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (svc_read(db, service_id, owner, &s, err) < 0)
        return NULL;
    return cancellations_pending(db, service_id, err);
}

json_t *cancellations_list(struct db *db, const char *status, int64_t before_id, int limit,
                           int64_t *next_cursor, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    *next_cursor = 0;
    if (status != NULL && !in_list(status, CANCELLATION_STATUSES)) {
        err_set(err, LUMI_EINVAL, "status must be one of pending, done, withdrawn, rejected");
        return NULL;
    }
    if (limit < 1 || limit > 200) {
        err_set(err, LUMI_EINVAL, "limit must be from 1 to 200");
        return NULL;
    }
    json_t *rows = json_array();
    struct db_stmt *st = db_prepare(db, status != NULL ? SQL_LIST_STATUS : SQL_LIST, err);
    int rc = rows == NULL ? nomem(err) : st == NULL ? LUMI_EDB : 0;
    if (rc == 0 && (db_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX) < 0 ||
                    db_bind_int64(st, 2, limit + 1) < 0 ||
                    (status != NULL && db_bind_text(st, 3, status) < 0)))
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW) {
        rc = 0;
        if (json_array_size(rows) == (size_t)limit) {
            *next_cursor =
                json_integer_value(json_object_get(json_array_get(rows, limit - 1), "id"));
            break;
        }
        json_t *row = db_row_json(st, INT_COLUMNS, err);
        if (row == NULL || json_array_append_new(rows, row) < 0)
            rc = nomem(err);
    }
    db_finalize(st);
    if (rc < 0) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

/* ---- automation ----------------------------------------------------------- */

int cancellations_execute_due(struct db *db, int64_t service_id, const char *now_iso, bool dry_run,
                              bool *executed, struct lumi_err *err)
{
    struct svc s;
    *executed = false;
    json_t *req = cancellations_pending(db, service_id, err);
    if (req == NULL)
        return err->code;
    int rc = 0;
    const char *run_at = json_string_value(json_object_get(req, "run_at"));
    if (!json_is_object(req) || run_at == NULL || strcmp(run_at, now_iso) > 0)
        goto out;
    rc = svc_read(db, service_id, 0, &s, err);
    if (rc < 0)
        goto out;
    *executed = true;
    if (!dry_run)
        rc = execute(db, &AUDIT_SYSTEM, json_integer_value(json_object_get(req, "id")), service_id,
                     s.status, err);
out:
    json_decref(req);
    return rc;
}

int cancellations_block_renewal(struct db *db, int64_t service_id, bool *block,
                                struct lumi_err *err)
{
    int64_t n = 0;
    int rc = count_by_id(db, SQL_BLOCKING, service_id, &n, err);
    *block = n > 0;
    return rc;
}
