/*
 * automation.c — the automation pass: renewal invoices, overdue suspension,
 * termination (see automation.h).
 *
 * Reads its three settings "automation.*" through the settings registry
 * (settings/registry.c: bounds and defaults) at the start of every pass, and
 * owns the read-only SQL that picks candidates. Each phase walks its
 * candidates in keyset batches of ids, and each service is then handled on
 * its OWN (in its own savepoint of a short group transaction, see "Scale"
 * below), re-reading the service and re-checking every condition before
 * acting: a candidate list is only a hint, because the worker, the web API
 * and a second pass may change the rows in between. A failing service is
 * rolled back, logged with its id and counted; the pass goes on with the
 * next one.
 *
 * Idempotence: a renewal is skipped when a 'recurring' invoice item for the
 * period starting at next_due_date exists; a suspend/terminate is skipped
 * while such a job is open (queued/running) or has failed since the overdue
 * began (the failure stays visible for an admin; re-queueing it every hour
 * would only bury it). On PostgreSQL the service row is locked (FOR UPDATE)
 * at the start of each transaction so two concurrent passes (`lumi cron`
 * beside the scheduler) cannot both create the same renewal; on SQLite the
 * BEGIN IMMEDIATE write lock already serialises them.
 *
 * Dry run: no transaction is opened and nothing is written; the same reads
 * and checks run and each action is printed as "would …". A dry run cannot
 * foresee that a renewal it would create is itself already overdue.
 *
 * Scale (issue 15): candidates come from indexed queries (a phase reads at
 * most BATCH ids per statement, by keyset), and services are handled in
 * transactions of up to GROUP services, each service in its own SAVEPOINT:
 * one that fails is rolled back alone, the others commit together, so
 * 10,000 renewals cost 200 commits instead of 10,000 and no transaction
 * runs long. When a group cannot commit (or a savepoint cannot be rolled
 * back), its services run again one transaction each, as before.
 *
 * Termination measures "suspended since" by the latest SERVICE_SUSPENDED
 * audit row of the service (entity 'service'), falling back to the
 * service's updated_at when there is none. It also requires that the
 * service still has an unpaid invoice and no open unsuspend job, so a
 * client who paid is never terminated while the unsuspension is pending.
 *
 * Threading: stateless; uses only the connection it is given (one thread).
 */
#include "provisioning/automation.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "audit/audit.h"
#include "billing/products.h"
#include "billing/coupons.h"
#include "billing/credit_apply.h"
#include "billing/invoices.h"
#include "core/log.h"
#include "core/money.h"
#include "core/stop.h"
#include "core/str.h"
#include "core/utc.h"
#include "provisioning/cancellations.h"
#include "provisioning/changes.h"
#include "provisioning/jobs.h"
#include "provisioning/services.h"
#include "settings/registry.h"

#define DAY_S 86400
#define BATCH 2000 /* candidate ids read per statement */
#define GROUP 50   /* services per transaction, each in its own savepoint */
#define BUSY_TRIES 3

/* --- settings -------------------------------------------------------------- */

struct settings {
    int64_t renew_days;
    int64_t suspend_days;
    int64_t terminate_days;
};

/* The three automation.* settings, validated by the registry (which also holds their defaults). */
static int load_settings(struct db *db, struct settings *s, struct lumi_err *err)
{
    int rc = settings_reg_int(db, "automation.renew_days_before", &s->renew_days, err);
    if (rc == 0)
        rc = settings_reg_int(db, "automation.suspend_days_after_due", &s->suspend_days, err);
    if (rc == 0)
        rc = settings_reg_int(db, "automation.terminate_days_after_suspend", &s->terminate_days,
                              err);
    return rc;
}

/* --- the pass ------------------------------------------------------------- */

struct run {
    struct db *db;
    int64_t now;
    bool dry;
    FILE *plan;
    struct automation_report *report;
    struct settings set;
    char now_iso[UTC_ISO_LEN];
    char renew_cutoff[UTC_ISO_LEN];   /* next_due_date up to here is renewed */
    char suspend_cutoff[UTC_ISO_LEN]; /* invoices due up to here are overdue */
    char terminate_cutoff[UTC_ISO_LEN];
    bool grouped;           /* inside a group's transaction: services use savepoints */
    bool group_broken;      /* a savepoint could not be rolled back: the group is redone */
    struct stop_flag *stop; /* raised: the pass ends after the group it is in */
    bool stopped;
    size_t defer_mark; /* the group's audit rows queued before this service's (db_defer_mark) */
};

static void plan_line(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void plan_line(struct run *r, const char *fmt, ...)
{
    if (r->plan == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->plan, fmt, ap);
    va_end(ap);
    fputc('\n', r->plan);
}

/* The date part of a stored time, for plan lines ("2026-12-01"). */
static const char *day(const char *iso, char out[11])
{
    str_copy(out, iso != NULL ? iso : "?", 11);
    return out;
}

/* Opens the service's transaction (not in a dry run) and, when lock, locks its
 * row on PostgreSQL (a phase that reads the row FOR UPDATE itself passes false). */
static int begin_service(struct run *r, int64_t id, bool lock, struct lumi_err *err)
{
    if (r->dry)
        return 0;
    if (r->grouped)
        r->defer_mark = db_defer_mark(r->db);
    int rc = r->grouped ? db_exec(r->db, "SAVEPOINT lumi_automation", err) : db_begin(r->db, err);
    if (rc != 0 || !lock || db_kind(r->db) != DB_POSTGRES)
        return rc;
    struct db_stmt *st = db_prepare(r->db, "SELECT id FROM services WHERE id = $1 FOR UPDATE", err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* Commits (rc == 0) or rolls back; a dry run has nothing open. */
static int end_service(struct run *r, int rc, struct lumi_err *err)
{
    if (r->dry)
        return rc;
    if (r->grouped) {
        if (rc == 0)
            rc = db_exec(r->db, "RELEASE SAVEPOINT lumi_automation", err);
        if (rc != 0)
            db_defer_undo(r->db, r->defer_mark); /* its audit rows go with it */
        if (rc != 0 && (db_exec(r->db, "ROLLBACK TO SAVEPOINT lumi_automation", NULL) != 0 ||
                        db_exec(r->db, "RELEASE SAVEPOINT lumi_automation", NULL) != 0))
            r->group_broken = true;
        return rc;
    }
    if (rc == 0)
        rc = db_commit(r->db, err);
    if (rc != 0)
        db_rollback(r->db);
    return rc;
}

static int count_of(struct db *db, const char *sql, int64_t id, const char *a, const char *b,
                    int64_t *n, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    if (a != NULL)
        db_bind_text(st, 2, a);
    if (b != NULL)
        db_bind_text(st, 3, b);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        *n = db_col_int64(st, 0);
        rc = 0;
    } else if (rc == DB_DONE) {
        rc = err_set(err, LUMI_EDB, "a count returned no row");
    }
    db_finalize(st);
    return rc;
}

/*
 * Is a job for action already under way — open, or failed since `since`?
 * A failed one is left for an admin to retry (it is visible in the jobs list).
 */
static int job_pending(struct run *r, int64_t id, const char *action, const char *since,
                       bool *pending, struct lumi_err *err)
{
    static const char sql[] =
        "SELECT COUNT(*) FROM jobs WHERE service_id = $1 AND action = $2"
        " AND (status IN ('queued','running') OR (status = 'failed' AND created_at >= $3))";
    int64_t n = 0;
    int rc = count_of(r->db, sql, id, action, since, &n, err);
    *pending = n > 0;
    if (rc == 0 && n > 0 && !r->dry)
        log_info("automation.skip", "service=%" PRId64 " action=%s reason=job_pending", id, action);
    return rc;
}

static int queue_job(struct run *r, int64_t id, const char *action, const char *audit_action,
                     json_t *details, int64_t *job_id, struct lumi_err *err)
{
    json_t *args = str_eq(action, "suspend") ? json_pack("{s:s}", "reason", "overdue") : NULL;
    int rc = jobs_enqueue(r->db, id, action, args, job_id, err);
    json_decref(args);
    if (rc == 0)
        rc = json_object_set_new(details, "job_id", json_integer(*job_id)) == 0
                 ? 0
                 : err_set(err, LUMI_ENOMEM, "out of memory");
    if (rc == 0)
        rc = audit_append_id(r->db, &AUDIT_SYSTEM, audit_action, "service", id, details, err);
    return rc;
}

/* --- phase 1: renewal invoices ------------------------------------------ */

/* A service whose renewal for its next_due_date exists already is no
 * candidate (issue 15: a renewal invoice does not move next_due_date until
 * it is paid, so every later pass used to open a savepoint for each of them
 * only to find it renewed — 10,000 of them at full scale, every scheduler
 * interval). renew_one still checks, with the date normalised too. */
static const char SQL_RENEW_CANDIDATES[] =
    "SELECT id FROM services WHERE status IN ('active','suspended') AND billing_cycle <> 'onetime'"
    " AND next_due_date IS NOT NULL AND next_due_date <= $1 AND id > $2"
    " AND NOT EXISTS (SELECT 1 FROM invoice_items ii WHERE ii.service_id = services.id"
    " AND ii.kind = 'recurring' AND ii.period_start = services.next_due_date)"
    " ORDER BY id LIMIT $3";

/* With the row: whether the renewal for next_due_date as stored exists, and
 * whether a coupon or a downgrade's credit can touch the renewal at all (on
 * PostgreSQL each of those was a round trip of its own for every renewal). */
#define RENEW_SERVICE_SELECT                                                                       \
    "SELECT s.client_id, s.status, s.billing_cycle, s.next_due_date, s.recurring_amount,"          \
    " s.currency, p.name, s.domain, CASE WHEN s.coupon_id IS NULL THEN 0 ELSE 1 END,"              \
    " CASE WHEN s.renewal_credit > 0 THEN 1 ELSE 0 END,"                                           \
    " (SELECT COUNT(*) FROM invoice_items ii WHERE ii.service_id = s.id"                           \
    " AND ii.kind = 'recurring' AND ii.period_start = s.next_due_date)"                            \
    " FROM services s JOIN products p ON p.id = s.product_id WHERE s.id = $1"
static const char SQL_RENEW_SERVICE[] = RENEW_SERVICE_SELECT;
/* PostgreSQL: the same, locking the service's row for its transaction (as
 * begin_service would, one round trip fewer). */
static const char SQL_RENEW_SERVICE_LOCK[] = RENEW_SERVICE_SELECT " FOR UPDATE OF s";

static const char SQL_RENEWED[] =
    "SELECT COUNT(*) FROM invoice_items WHERE service_id = $1 AND kind = 'recurring'"
    " AND (period_start = $2 OR period_start = $3)";

struct renewal {
    int64_t client_id, amount, renewed;
    bool coupon, credit;
    char status[16], cycle[16], due_raw[40], currency[4];
    char product[201], domain[256];
    char start[UTC_ISO_LEN], end[UTC_ISO_LEN];
};

/* 1 when the service is due for a renewal (r filled), 0 when not, < 0 on error. */
static int renewal_read(struct run *r, int64_t id, struct renewal *rn, struct lumi_err *err)
{
    memset(rn, 0, sizeof *rn);
    struct db_stmt *st = db_prepare(
        r->db, db_kind(r->db) == DB_POSTGRES ? SQL_RENEW_SERVICE_LOCK : SQL_RENEW_SERVICE, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    const char *currency = "";
    if (rc == DB_ROW) {
        rn->client_id = db_col_int64(st, 0);
        str_copy(rn->status, db_col_text(st, 1) ? db_col_text(st, 1) : "", sizeof rn->status);
        str_copy(rn->cycle, db_col_text(st, 2) ? db_col_text(st, 2) : "", sizeof rn->cycle);
        str_copy(rn->due_raw, db_col_text(st, 3) ? db_col_text(st, 3) : "", sizeof rn->due_raw);
        rn->amount = db_col_int64(st, 4);
        currency = db_col_text(st, 5) ? db_col_text(st, 5) : "";
        if (money_currency_normalize(currency, rn->currency) != 0)
            rc = err_set(err, LUMI_EINVAL, "service %" PRId64 " has an unknown currency '%.8s'", id,
                         currency);
        str_copy(rn->product, db_col_text(st, 6) ? db_col_text(st, 6) : "", sizeof rn->product);
        str_copy(rn->domain, db_col_text(st, 7) ? db_col_text(st, 7) : "", sizeof rn->domain);
        rn->coupon = db_col_int64(st, 8) != 0;
        rn->credit = db_col_int64(st, 9) != 0;
        rn->renewed = db_col_int64(st, 10);
    }
    db_finalize(st);
    if (rc <= 0) /* error, or the service is gone */
        return rc;
    if (!str_eq(rn->status, "active") && !str_eq(rn->status, "suspended"))
        return 0;
    int months = products_cycle_months(rn->cycle);
    if (months < 0)
        return err_set(err, LUMI_EINVAL, "service %" PRId64 " has an unknown billing cycle '%s'",
                       id, rn->cycle);
    if (months == 0 || rn->due_raw[0] == '\0')
        return 0;
    int64_t start = 0;
    if (utc_parse(rn->due_raw, &start, err) != 0)
        return err_set(err, LUMI_EINVAL, "service %" PRId64 " has an unreadable next_due_date '%s'",
                       id, rn->due_raw);
    if (utc_format(start, rn->start) != 0 ||
        utc_format(utc_add_months(start, months), rn->end) != 0)
        return err_set(err, LUMI_EINVAL, "service %" PRId64 ": next_due_date out of range", id);
    if (strcmp(rn->start, r->renew_cutoff) > 0 || rn->renewed > 0)
        return 0;
    bool cancelling = false;
    rc = cancellations_block_renewal(r->db, id, &cancelling, err);
    if (rc != 0 || cancelling)
        return rc;
    /* A next_due_date stored in another form than its normal one may have
     * been renewed under either (the row's count saw the stored form). */
    int64_t n = 0;
    if (strcmp(rn->start, rn->due_raw) != 0)
        rc = count_of(r->db, SQL_RENEWED, id, rn->start, rn->due_raw, &n, err);
    if (rc != 0)
        return rc;
    return n == 0 ? 1 : 0;
}

static int renew_one(struct run *r, int64_t id, struct lumi_err *err)
{
    struct renewal rn;
    char number[32] = "", description[600], d1[11], d2[11];
    int64_t invoice_id = 0;
    r->report->renewals_examined++;
    int rc = begin_service(r, id, false, err); /* renewal_read locks the row */
    if (rc != 0)
        goto out;
    rc = renewal_read(r, id, &rn, err);
    if (rc <= 0)
        goto out;
    rc = 0;
    day(rn.start, d1);
    day(rn.end, d2);
    if (r->dry) {
        plan_line(r,
                  "would create renewal invoice for service %" PRId64 " (period %s to %s, %" PRId64
                  " %s)",
                  id, d1, d2, rn.amount, rn.currency);
        r->report->invoices_created++;
        goto out;
    }
    snprintf(description, sizeof description, "%.200s%s%.200s%s, %s to %s", rn.product,
             rn.domain[0] ? " (" : "", rn.domain, rn.domain[0] ? ")" : "", d1, d2);
    struct invoice_item_in item = {
        .description = description,
        .quantity = 1,
        .unit_amount = rn.amount,
        .service_id = id,
        .kind = "recurring",
        .period_start = rn.start,
        .period_end = rn.end,
    };
    /* Issue 14: the service's coupon still discounting (counts one cycle down). */
    struct coupon_line discount;
    struct invoice_item_in items[2] = {item};
    size_t nitems = 1;
    memset(&discount, 0, sizeof discount);
    if (rn.coupon) /* else no coupon line (as coupons_for_renewal would answer) */
        rc = coupons_for_renewal(r->db, id, rn.amount, rn.currency, &discount, err);
    if (rc != 0)
        goto out;
    if (discount.amount > 0)
        items[nitems++] = (struct invoice_item_in){
            discount.description, 1, -discount.amount, id, "discount", NULL, NULL};
    /* A downgrade's credit comes off as a negative line, capped at the renewal (rest carries). */
    int64_t credit = 0;
    bool settled = false;
    if (rn.credit) /* else none to take (as changes_take_renewal_credit would answer) */
        rc = changes_take_renewal_credit(r->db, id, rn.amount - discount.amount, &credit, err);
    if (rc != 0)
        goto out;
    rc = invoices_create_credited(r->db, &AUDIT_SYSTEM, rn.client_id, rn.currency, rn.start, items,
                                  nitems, "Credit from downgrade", credit, id, &invoice_id, number,
                                  sizeof number, err);
    if (rc == 0)
        rc = coupons_note_discount(r->db, invoice_id, discount.amount, err);
    /* Entirely covered by the credit or the coupon: settled at once, as a payment would. */
    if (rc == 0 && (credit > 0 || discount.amount > 0))
        rc = invoices_settle_zero(r->db, &AUDIT_SYSTEM, invoice_id, &settled, err);
    if (rc == 0 && settled)
        rc = services_on_invoice_paid(r->db, &AUDIT_SYSTEM, invoice_id, err);
    /* Issue 14: the client's credit pays what it covers (setting credit.auto_apply). */
    if (rc == 0 && !settled)
        rc = credit_auto_apply(r->db, &AUDIT_SYSTEM, invoice_id, err);
out:
    rc = end_service(r, rc, err);
    if (rc == 0 && invoice_id > 0) {
        r->report->invoices_created++;
        log_info("automation.renewal",
                 "service=%" PRId64 " invoice=%s period_start=%s amount=%" PRId64 " currency=%s",
                 id, number, rn.start, rn.amount, rn.currency);
        plan_line(r,
                  "created renewal invoice %s for service %" PRId64 " (period %s to %s, %" PRId64
                  " %s)",
                  number, id, d1, d2, rn.amount, rn.currency);
    }
    return rc;
}

/* --- phase 2: overdue suspension ---------------------------------------- */

/* Driven by the overdue invoices (invoices_status: status, due_date), not by
 * a look at every active service. */
static const char SQL_SUSPEND_CANDIDATES[] =
    "SELECT DISTINCT ii.service_id FROM invoices i"
    " JOIN invoice_items ii ON ii.invoice_id = i.id JOIN services s ON s.id = ii.service_id"
    " WHERE i.status IN ('unpaid','partially_paid') AND i.due_date <= $1"
    " AND s.status = 'active' AND ii.service_id > $2 ORDER BY ii.service_id LIMIT $3";

/* The unpaid invoices of service svc due at or before due: from the
 * service's own items (invoice_items_service), never a walk over every
 * overdue invoice. CROSS JOIN keeps that order on SQLite; PostgreSQL plans it
 * as a join. Shared with SQL_TERMINATE_CANDIDATES. */
#define OVERDUE_OF(svc, due)                                                                       \
    " FROM invoice_items ii CROSS JOIN invoices i WHERE ii.service_id = " svc                      \
    " AND i.id = ii.invoice_id AND i.status IN ('unpaid','partially_paid')"                        \
    " AND i.due_date <= " due

/* The oldest overdue unpaid invoice of the service. */
static const char SQL_OVERDUE_INVOICE[] =
    "SELECT i.id, i.number, i.due_date" OVERDUE_OF("$1", "$2") " ORDER BY i.due_date, i.id LIMIT 1";

static const char SQL_STATUS[] = "SELECT status, suspend_reason FROM services WHERE id = $1";

struct overdue {
    int64_t invoice_id;
    char number[32];
    char due[40];
};

/* 1 with o filled when the service has an unpaid invoice due at or before cutoff. */
static int overdue_invoice(struct run *r, int64_t id, const char *cutoff, struct overdue *o,
                           struct lumi_err *err)
{
    memset(o, 0, sizeof *o);
    struct db_stmt *st = db_prepare(r->db, SQL_OVERDUE_INVOICE, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    db_bind_text(st, 2, cutoff);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        o->invoice_id = db_col_int64(st, 0);
        str_copy(o->number, db_col_text(st, 1) ? db_col_text(st, 1) : "", sizeof o->number);
        str_copy(o->due, db_col_text(st, 2) ? db_col_text(st, 2) : "", sizeof o->due);
    }
    db_finalize(st);
    return rc;
}

/* The service's status and suspend reason (empty strings when NULL); 0 when gone. */
static int service_status(struct run *r, int64_t id, char status[16], char reason[32],
                          struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(r->db, SQL_STATUS, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    status[0] = reason[0] = '\0';
    if (rc == DB_ROW) {
        str_copy(status, db_col_text(st, 0) ? db_col_text(st, 0) : "", 16);
        str_copy(reason, db_col_text(st, 1) ? db_col_text(st, 1) : "", 32);
    }
    db_finalize(st);
    return rc;
}

static int suspend_one(struct run *r, int64_t id, struct lumi_err *err)
{
    struct overdue o;
    char status[16], reason[32], d[11];
    bool pending = false;
    int64_t job_id = 0;
    json_t *details = NULL;
    int rc = begin_service(r, id, true, err);
    if (rc != 0)
        goto out;
    rc = service_status(r, id, status, reason, err);
    if (rc <= 0 || !str_eq(status, "active"))
        goto out;
    rc = overdue_invoice(r, id, r->suspend_cutoff, &o, err);
    if (rc <= 0)
        goto out;
    rc = job_pending(r, id, "suspend", o.due, &pending, err);
    if (rc != 0 || pending)
        goto out;
    day(o.due, d);
    if (r->dry) {
        plan_line(r, "would suspend service %" PRId64 " (invoice %s overdue since %s)", id,
                  o.number, d);
        r->report->suspensions_queued++;
        goto out;
    }
    details = json_pack("{s:s s:I s:s s:s}", "reason", "overdue", "invoice_id",
                        (json_int_t)o.invoice_id, "invoice", o.number, "due_date", o.due);
    rc = details != NULL
             ? queue_job(r, id, "suspend", "AUTOMATION_SUSPEND_QUEUED", details, &job_id, err)
             : err_set(err, LUMI_ENOMEM, "out of memory");
out:
    json_decref(details);
    rc = end_service(r, rc < 0 ? rc : 0, err);
    if (rc == 0 && job_id > 0) {
        r->report->suspensions_queued++;
        log_info("automation.suspend_queued", "service=%" PRId64 " job=%" PRId64 " invoice=%s", id,
                 job_id, o.number);
        plan_line(r,
                  "queued suspension of service %" PRId64
                  " (invoice %s overdue since %s; job %" PRId64 ")",
                  id, o.number, d, job_id);
    }
    return rc;
}

/* --- phase 3: termination ------------------------------------------------- */

/* When service s was last suspended: its latest SERVICE_SUSPENDED audit row, else updated_at. */
#define SUSPENDED_SINCE                                                                            \
    "COALESCE((SELECT MAX(a.at) FROM audit_log a WHERE a.entity = 'service'"                       \
    " AND a.entity_id = CAST(s.id AS TEXT) AND a.action = 'SERVICE_SUSPENDED'), s.updated_at)"

/* The open unsuspend jobs of service svc. */
#define OPEN_UNSUSPEND_OF(svc)                                                                     \
    " FROM jobs j WHERE j.service_id = " svc " AND j.action = 'unsuspend'"                         \
    " AND j.status IN ('queued','running')"

/* Only the services terminate_one would act on as things stand ($1 the
 * terminate cutoff, $2 now): suspended for overdue since before the cutoff,
 * with an invoice still overdue and no unsuspension under way. A provider's
 * suspended services are mostly ones not due for termination yet, or paid:
 * asked one by one, each cost a savepoint and five reads (10,000 of them,
 * 18 s of a pass at bench_scale's size, to terminate none). The list is a
 * hint as ever: terminate_one checks everything again under the row lock. */
/* clang-format off */
static const char SQL_TERMINATE_CANDIDATES[] =
    "SELECT s.id FROM services s WHERE s.status = 'suspended' AND s.suspend_reason = 'overdue'"
    " AND s.id > $3"
    " AND EXISTS (SELECT 1" OVERDUE_OF("s.id", "$2") ")"
    " AND NOT EXISTS (SELECT 1" OPEN_UNSUSPEND_OF("s.id") ")"
    " AND " SUSPENDED_SINCE " <= $1"
    " ORDER BY s.id LIMIT $4";
/* clang-format on */

static const char SQL_SUSPENDED_SINCE[] =
    "SELECT " SUSPENDED_SINCE " FROM services s WHERE s.id = $1";

static const char SQL_OPEN_UNSUSPEND[] = "SELECT COUNT(*)" OPEN_UNSUSPEND_OF("$1");

static int suspended_since(struct run *r, int64_t id, char *out, size_t outsz, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(r->db, SQL_SUSPENDED_SINCE, err);
    if (st == NULL)
        return err->code;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    out[0] = '\0';
    if (rc == DB_ROW)
        str_copy(out, db_col_text(st, 0) ? db_col_text(st, 0) : "", outsz);
    db_finalize(st);
    return rc;
}

static int terminate_one(struct run *r, int64_t id, struct lumi_err *err)
{
    struct overdue o;
    char status[16], reason[32], since[40], d[11];
    bool pending = false;
    int64_t job_id = 0, unsuspending = 0;
    json_t *details = NULL;
    int rc = begin_service(r, id, true, err);
    if (rc != 0)
        goto out;
    rc = service_status(r, id, status, reason, err);
    if (rc <= 0 || !str_eq(status, "suspended") || !str_eq(reason, "overdue"))
        goto out;
    rc = suspended_since(r, id, since, sizeof since, err);
    if (rc <= 0 || since[0] == '\0' || strcmp(since, r->terminate_cutoff) > 0)
        goto out;
    /* Paid in the meantime (unsuspension under way, or nothing unpaid left): keep it. */
    rc = count_of(r->db, SQL_OPEN_UNSUSPEND, id, NULL, NULL, &unsuspending, err);
    if (rc != 0 || unsuspending > 0)
        goto out;
    rc = overdue_invoice(r, id, r->now_iso, &o, err);
    if (rc <= 0)
        goto out;
    rc = job_pending(r, id, "terminate", since, &pending, err);
    if (rc != 0 || pending)
        goto out;
    day(since, d);
    if (r->dry) {
        plan_line(r, "would terminate service %" PRId64 " (suspended for overdue since %s)", id, d);
        r->report->terminations_queued++;
        goto out;
    }
    details = json_pack("{s:s s:s s:I s:s}", "reason", "overdue", "suspended_since", since,
                        "terminate_days_after_suspend", (json_int_t)r->set.terminate_days,
                        "invoice", o.number);
    rc = details != NULL
             ? queue_job(r, id, "terminate", "AUTOMATION_TERMINATE_QUEUED", details, &job_id, err)
             : err_set(err, LUMI_ENOMEM, "out of memory");
out:
    json_decref(details);
    rc = end_service(r, rc < 0 ? rc : 0, err);
    if (rc == 0 && job_id > 0) {
        r->report->terminations_queued++;
        log_info("automation.terminate_queued",
                 "service=%" PRId64 " job=%" PRId64 " suspended_since=%s", id, job_id, since);
        plan_line(r,
                  "queued termination of service %" PRId64
                  " (suspended for overdue since %s; job %" PRId64 ")",
                  id, d, job_id);
    }
    return rc;
}

/* --- phase 0: due cancellation requests ------------------------------------ */

static int cancel_one(struct run *r, int64_t id, struct lumi_err *err)
{
    bool executed = false;
    int rc = begin_service(r, id, true, err);
    if (rc == 0)
        rc = cancellations_execute_due(r->db, id, r->now_iso, r->dry, &executed, err);
    rc = end_service(r, rc < 0 ? rc : 0, err);
    if (rc == 0 && executed) {
        r->report->cancellations_executed++;
        if (!r->dry)
            log_info("automation.cancellation", "service=%" PRId64, id);
        plan_line(r, "%s cancellation of service %" PRId64 " (termination queued)",
                  r->dry ? "would carry out" : "carried out", id);
    }
    return rc;
}

/* --- driving the phases ------------------------------------------------------ */

typedef int (*service_fn)(struct run *r, int64_t id, struct lumi_err *err);

/* Handles one service; its failure is counted and logged, never returned. */
static void run_service(struct run *r, const char *phase, service_fn fn, int64_t id)
{
    struct lumi_err err;
    int rc = 0;
    for (int attempt = 0; attempt < BUSY_TRIES; attempt++) {
        err_clear(&err);
        rc = fn(r, id, &err);
        if (rc != LUMI_EBUSY)
            break;
    }
    if (rc < 0) {
        char q[256];
        r->report->errors++;
        log_error("automation.failed", "phase=%s service=%" PRId64 " code=%s error=%s", phase, id,
                  err_code_name(rc), log_quote(err.msg, q, sizeof q));
    }
}

/*
 * Handles ids[0..n) in one transaction, each in its savepoint; when the
 * group cannot commit, the report is put back and each service runs again in
 * a transaction of its own.
 */
static void run_group(struct run *r, const char *phase, service_fn fn, const int64_t *ids, size_t n)
{
    struct lumi_err err;
    struct automation_report saved = *r->report;
    int rc = -1;
    if (!r->dry && n > 1 && db_begin(r->db, &err) == 0) {
        r->grouped = true;
        r->group_broken = false;
        /* PostgreSQL: a service's writes are not waited for one by one; its
         * RELEASE collects them, so a failure still rolls back its own
         * savepoint (db.h db_write_behind). The group's audit rows are
         * queued and join the chain with the COMMIT in one statement, as the
         * group-commit writers' do (db_defer_set; a service rolled back
         * drops its own). */
        bool pg = db_kind(r->db) == DB_POSTGRES;
        db_write_behind(r->db, pg);
        db_defer_set(r->db, pg);
        for (size_t i = 0; i < n; i++)
            run_service(r, phase, fn, ids[i]);
        db_write_behind(r->db, false);
        r->grouped = false;
        rc = r->group_broken ? LUMI_EDB : db_commit(r->db, &err);
        db_defer_set(r->db, false);
        if (rc != 0) {
            db_rollback(r->db);
            *r->report = saved;
            log_warn("automation.group_retry", "phase=%s services=%zu", phase, n);
        }
    }
    if (rc != 0)
        for (size_t i = 0; i < n; i++)
            run_service(r, phase, fn, ids[i]);
}

/*
 * Walks the candidates of a phase in batches of ids (the statement is
 * finished before any service is handled). The SQL's parameters: cutoff and
 * cutoff2 first, each where not NULL, then the last id seen and the batch
 * size.
 */
static int run_phase(struct run *r, const char *phase, const char *sql, const char *cutoff,
                     const char *cutoff2, service_fn fn, struct lumi_err *err)
{
    int64_t ids[BATCH], after = 0, seen = 0;
    int64_t started = utc_monotonic_ms();
    size_t n;
    do {
        n = 0;
        struct db_stmt *st = db_prepare(r->db, sql, err);
        if (st == NULL)
            return err->code;
        int p = 1;
        if (cutoff != NULL)
            db_bind_text(st, p++, cutoff);
        if (cutoff2 != NULL)
            db_bind_text(st, p++, cutoff2);
        db_bind_int64(st, p++, after);
        db_bind_int64(st, p, BATCH);
        int rc;
        while ((rc = db_step(st, err)) == DB_ROW && n < BATCH)
            ids[n++] = db_col_int64(st, 0);
        db_finalize(st);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n && !r->stopped; i += GROUP) {
            r->stopped = r->stop != NULL && stop_raised(r->stop);
            if (!r->stopped)
                run_group(r, phase, fn, ids + i, n - i < GROUP ? n - i : GROUP);
        }
        if (r->stopped) {
            log_info("automation.stopped", "phase=%s reason=\"shutting down\"", phase);
            return 0;
        }
        if (n > 0)
            after = ids[n - 1];
        seen += (int64_t)n;
    } while (n == BATCH);
    log_info("automation.phase", "phase=%s candidates=%" PRId64 " ms=%" PRId64, phase, seen,
             utc_monotonic_ms() - started);
    return 0;
}

static int cutoff(int64_t t, char out[UTC_ISO_LEN], struct lumi_err *err)
{
    if (utc_format(t, out) != 0)
        return err_set(err, LUMI_EINVAL, "the time of the automation pass is out of range");
    return 0;
}

int automation_run(struct db *db, int64_t now, bool dry_run, FILE *plan,
                   struct automation_report *report, struct lumi_err *err)
{
    return automation_run_until(db, now, dry_run, plan, report, NULL, err);
}

int automation_run_until(struct db *db, int64_t now, bool dry_run, FILE *plan,
                         struct automation_report *report, struct stop_flag *stop,
                         struct lumi_err *err)
{
    struct lumi_err local;
    struct automation_report dummy;
    struct run r;
    int rc;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (report == NULL)
        report = &dummy;
    memset(report, 0, sizeof *report);
    memset(&r, 0, sizeof r);
    r.db = db;
    r.now = now;
    r.dry = dry_run;
    r.plan = plan;
    r.report = report;
    r.stop = stop;
    if (db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "automation_run must not run inside a transaction");
    rc = load_settings(db, &r.set, err);
    if (rc == 0)
        rc = cutoff(now, r.now_iso, err);
    if (rc == 0)
        rc = cutoff(now + r.set.renew_days * DAY_S, r.renew_cutoff, err);
    if (rc == 0)
        rc = cutoff(now - r.set.suspend_days * DAY_S, r.suspend_cutoff, err);
    if (rc == 0)
        rc = cutoff(now - r.set.terminate_days * DAY_S, r.terminate_cutoff, err);
    if (rc != 0)
        return rc;
    log_info("automation.start",
             "now=%s dry_run=%d renew_days_before=%" PRId64 " suspend_days_after_due=%" PRId64
             " terminate_days_after_suspend=%" PRId64,
             r.now_iso, dry_run ? 1 : 0, r.set.renew_days, r.set.suspend_days,
             r.set.terminate_days);
    rc = run_phase(&r, "cancellation", CANCELLATIONS_SQL_DUE, r.now_iso, NULL, cancel_one, err);
    if (rc == 0 && !r.stopped)
        rc = run_phase(&r, "renewal", SQL_RENEW_CANDIDATES, r.renew_cutoff, NULL, renew_one, err);
    if (rc == 0 && !r.stopped)
        rc = run_phase(&r, "suspension", SQL_SUSPEND_CANDIDATES, r.suspend_cutoff, NULL,
                       suspend_one, err);
    if (rc == 0 && !r.stopped)
        rc = run_phase(&r, "termination", SQL_TERMINATE_CANDIDATES, r.terminate_cutoff, r.now_iso,
                       terminate_one, err);
    log_info("automation.done",
             "dry_run=%d invoices=%d suspensions=%d terminations=%d cancellations=%d errors=%d",
             dry_run ? 1 : 0, report->invoices_created, report->suspensions_queued,
             report->terminations_queued, report->cancellations_executed, report->errors);
    return rc;
}
