/*
 * changes.c — upgrades and downgrades of services (see changes.h).
 *
 * Owns the SQL over `service_changes` and services.renewal_credit /
 * recurring_amount as a change sets them. The panel is only ever changed by
 * a change_package job (provision.c), which this module queues; the job's
 * outcome comes back through changes_on_job_finished in the job's own
 * outcome transaction, so the service's price and the change's state move
 * together with the panel's confirmation.
 *
 * Exactly once: every transition is a guarded UPDATE (WHERE status = the
 * state it leaves) whose row count is checked before anything else happens,
 * so a payment delivered twice or a job that runs again finds nothing to do.
 * The unique partial index service_changes_open keeps one open change per
 * service even when two requests race.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "db/rowjson.h"
#include "provisioning/changes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/products.h"
#include "billing/invoices.h"
#include "core/json.h"
#include "core/money.h"
#include "core/str.h"
#include "core/utc.h"
#include "provisioning/jobs.h"

#define OPTIONS_MAX 100

static const char SQL_SERVICE[] =
    "SELECT s.client_id, s.product_id, s.status, s.billing_cycle, s.currency,"
    " s.recurring_amount, s.next_due_date, p.name, p.store_group,"
    " (SELECT type FROM servers WHERE id = s.server_id)"
    " FROM services s JOIN products p ON p.id = s.product_id WHERE s.id = $1";

static const char SQL_LOCK[] = "SELECT id FROM services WHERE id = $1 FOR UPDATE";

/* Candidates; a product's panel type is its server's, or that of its server group. */
static const char SQL_OPTIONS[] =
    "SELECT p.id, p.name, pp.amount FROM products p JOIN product_prices pp"
    " ON pp.product_id = p.id AND pp.billing_cycle = $2 AND LOWER(pp.currency) = LOWER($3)"
    " WHERE p.active = 1 AND p.visible = 1 AND p.id <> $1 AND p.store_group = $4"
    " AND COALESCE((SELECT type FROM servers WHERE id = p.server_id),"
    " (SELECT MIN(type) FROM servers WHERE group_name = p.server_group)) = $5"
    " ORDER BY p.sort_order, p.id LIMIT 100";

#define CHANGE_COLUMNS                                                                             \
    "id, service_id, from_product_id, to_product_id, direction, billing_cycle, currency,"          \
    " new_recurring_amount, prorated_amount, invoice_id, job_id, status, requested_by,"            \
    " created_at, updated_at, applied_at"

static const char SQL_OPEN[] = "SELECT " CHANGE_COLUMNS " FROM service_changes"
                               " WHERE service_id = $1 AND status IN ('awaiting_payment', 'queued')"
                               " ORDER BY id DESC LIMIT 1";

static const char SQL_GET[] = "SELECT " CHANGE_COLUMNS " FROM service_changes WHERE id = $1";

static const char SQL_INSERT[] =
    "INSERT INTO service_changes (service_id, from_product_id, to_product_id, direction,"
    " billing_cycle, currency, new_recurring_amount, prorated_amount, invoice_id, job_id, status,"
    " requested_by, created_at, updated_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id";

static const char SQL_PENDING_CANCEL[] =
    "SELECT COUNT(*) FROM cancel_requests WHERE service_id = $1 AND status = 'pending'";

static const char SQL_OPEN_JOBS[] =
    "SELECT COUNT(*) FROM jobs WHERE service_id = $1 AND status IN ('queued', 'running')"
    " AND action IN ('terminate', 'change_package')";

/* An unpaid invoice renewing the service: a change would be billed against the wrong period. */
static const char SQL_UNPAID_RENEWAL[] =
    "SELECT COUNT(*) FROM invoices i WHERE i.status IN ('unpaid', 'partially_paid') AND EXISTS ("
    " SELECT 1 FROM invoice_items ii WHERE ii.invoice_id = i.id AND ii.service_id = $1"
    " AND ii.kind = 'recurring')";

static const char SQL_PAID_CHANGES[] =
    "SELECT id, service_id, to_product_id FROM service_changes"
    " WHERE invoice_id = $1 AND status = 'awaiting_payment' ORDER BY id";

static const char SQL_MARK_QUEUED[] =
    "UPDATE service_changes SET status = 'queued', job_id = $2, updated_at = $3"
    " WHERE id = $1 AND status = 'awaiting_payment'";

static const char SQL_SERVICE_GONE[] =
    "SELECT COUNT(*) FROM services WHERE id = $1 AND status IN ('terminated', 'cancelled')";

static const char SQL_JOB_CHANGE[] =
    "SELECT id, service_id, direction, new_recurring_amount, prorated_amount FROM service_changes"
    " WHERE job_id = $1 AND status IN ('queued', 'failed') ORDER BY id DESC LIMIT 1";

static const char SQL_MARK_APPLIED[] =
    "UPDATE service_changes SET status = 'applied', applied_at = $2, updated_at = $2"
    " WHERE id = $1 AND status IN ('queued', 'failed')";

static const char SQL_MARK_FAILED[] =
    "UPDATE service_changes SET status = 'failed', updated_at = $2"
    " WHERE id = $1 AND status = 'queued'";

static const char SQL_SET_PRICE[] =
    "UPDATE services SET recurring_amount = $2, renewal_credit = renewal_credit + $3,"
    " updated_at = $4 WHERE id = $1";

static const char SQL_MARK_CANCELLED[] =
    "UPDATE service_changes SET status = 'cancelled', updated_at = $2"
    " WHERE id = $1 AND status = 'awaiting_payment'";

static const char SQL_CREDIT[] = "SELECT renewal_credit FROM services WHERE id = $1";

static const char SQL_TAKE_CREDIT[] =
    "UPDATE services SET renewal_credit = renewal_credit - $2 WHERE id = $1"
    " AND renewal_credit >= $2";

static const char *const INT_COLUMNS[] = {"id",
                                          "service_id",
                                          "from_product_id",
                                          "to_product_id",
                                          "new_recurring_amount",
                                          "prorated_amount",
                                          "invoice_id",
                                          "job_id",
                                          "requested_by",
                                          NULL};

/* ---- small helpers ------------------------------------------------------ */

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

static int count_by_id(struct db *db, const char *sql, int64_t id, int64_t *n, struct lumi_err *err)
{
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, id);
    const char *p[] = {idt};
    *n = 0;
    return db_query_int64(db, sql, 1, p, n, err);
}

/* Runs an UPDATE with integer parameters ($1..$n-1) and now as the last; *changed its rows. */
static int update_ints(struct db *db, const char *sql, const int64_t *v, int nv, int64_t *changed,
                       struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = 0;
    for (int i = 0; i < nv && rc == 0; i++)
        if (db_bind_int64(st, i + 1, v[i]) < 0)
            rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0 && db_bind_text(st, nv + 1, now) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0)
        rc = db_step(st, err);
    if (changed != NULL)
        *changed = rc >= 0 ? db_changes(st) : 0;
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* ---- proration ------------------------------------------------------------ */

int changes_prorate(int64_t new_price, int64_t old_price, int64_t remaining_s, int64_t period_s,
                    int64_t *out, struct lumi_err *err)
{
    if (period_s <= 0 || remaining_s < 0 || remaining_s > period_s)
        return err_set(err, LUMI_EINVAL, "proration needs 0 <= remaining <= period and period > 0");
    __int128 num = ((__int128)new_price - (__int128)old_price) * (__int128)remaining_s;
    __int128 q = num / period_s, r = num % period_s;
    __int128 twice = r < 0 ? -2 * r : 2 * r;
    if (twice >= period_s)
        q += num < 0 ? -1 : 1;
    if (q > INT64_MAX || q < INT64_MIN)
        return err_set(err, LUMI_EINVAL, "the prorated amount is too large");
    *out = (int64_t)q;
    return 0;
}

/* ---- the service and its options ---------------------------------------- */

struct svc {
    int64_t id, client_id, product_id, recurring;
    char status[24], cycle[16], currency[8], due[40], product[201], group[201], panel[16];
    int64_t start, end; /* the current period */
};

/* Reads the service (locking its row on PostgreSQL when lock); LUMI_ENOTFOUND for another's. */
static int svc_read(struct db *db, int64_t id, int64_t owner, bool lock, struct svc *s,
                    struct lumi_err *err)
{
    memset(s, 0, sizeof *s);
    s->id = id;
    if (lock && db_kind(db) == DB_POSTGRES) {
        int64_t one = 0;
        char idt[24];
        snprintf(idt, sizeof idt, "%" PRId64, id);
        const char *p[] = {idt};
        int rc = db_query_int64_opt(db, SQL_LOCK, 1, p, &one, err);
        if (rc < 0)
            return rc;
    }
    struct db_stmt *st = db_prepare(db, SQL_SERVICE, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc =
        db_bind_int64(st, 1, id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : db_step(st, err);
    if (rc == DB_ROW) {
        s->client_id = db_col_int64(st, 0);
        s->product_id = db_col_int64(st, 1);
        str_copy(s->status, db_col_text(st, 2) ? db_col_text(st, 2) : "", sizeof s->status);
        str_copy(s->cycle, db_col_text(st, 3) ? db_col_text(st, 3) : "", sizeof s->cycle);
        str_copy(s->currency, db_col_text(st, 4) ? db_col_text(st, 4) : "", sizeof s->currency);
        s->recurring = db_col_int64(st, 5);
        str_copy(s->due, db_col_text(st, 6) ? db_col_text(st, 6) : "", sizeof s->due);
        str_copy(s->product, db_col_text(st, 7) ? db_col_text(st, 7) : "", sizeof s->product);
        str_copy(s->group, db_col_text(st, 8) ? db_col_text(st, 8) : "", sizeof s->group);
        str_copy(s->panel, db_col_text(st, 9) ? db_col_text(st, 9) : "", sizeof s->panel);
    }
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (rc == DB_DONE || (owner > 0 && s->client_id != owner))
        return err_set(err, LUMI_ENOTFOUND, "service %" PRId64 " not found", id);
    return 0;
}

/* The current period (previous due date → next due date); LUMI_ECONFLICT when there is none. */
static int svc_period(struct svc *s, int64_t now, struct lumi_err *err)
{
    int months = products_cycle_months(s->cycle);
    struct lumi_err perr;
    if (months <= 0 || s->due[0] == '\0')
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " is billed %s and has no billing period to prorate; "
                       "an upgrade or downgrade needs a recurring service",
                       s->id, s->cycle);
    if (utc_parse(s->due, &s->end, &perr) != 0)
        return err_set(err, LUMI_EINTERNAL, "service %" PRId64 " has an unreadable due date",
                       s->id);
    s->start = utc_add_months(s->end, -months);
    if (now >= s->end)
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " is past its due date; pay the renewal first", s->id);
    return 0;
}

struct option {
    int64_t product_id, amount, prorated;
    char name[201];
};

/* The options of s (its period known) into opts (at most OPTIONS_MAX). */
static int svc_options(struct db *db, const struct svc *s, int64_t now, struct option *opts,
                       size_t *n, struct lumi_err *err)
{
    *n = 0;
    if (s->group[0] == '\0' || s->panel[0] == '\0')
        return 0;
    struct db_stmt *st = db_prepare(db, SQL_OPTIONS, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = 0;
    if (db_bind_int64(st, 1, s->product_id) < 0 || db_bind_text(st, 2, s->cycle) < 0 ||
        db_bind_text(st, 3, s->currency) < 0 || db_bind_text(st, 4, s->group) < 0 ||
        db_bind_text(st, 5, s->panel) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    int64_t remaining = s->end - now, period = s->end - s->start;
    if (remaining > period)
        remaining = period;
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW && *n < OPTIONS_MAX) {
        struct option *o = &opts[(*n)++];
        o->product_id = db_col_int64(st, 0);
        str_copy(o->name, db_col_text(st, 1) ? db_col_text(st, 1) : "", sizeof o->name);
        o->amount = db_col_int64(st, 2);
        rc = changes_prorate(o->amount, s->recurring, remaining, period, &o->prorated, err);
    }
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static json_t *option_json(const struct svc *s, const struct option *o)
{
    return json_pack("{s:I, s:s, s:I, s:s, s:s, s:I}", "product_id", (json_int_t)o->product_id,
                     "name", o->name, "amount", (json_int_t)o->amount, "currency", s->currency,
                     "direction", o->prorated > 0 ? "upgrade" : "downgrade", "prorated_amount",
                     (json_int_t)o->prorated);
}

json_t *changes_open(struct db *db, int64_t service_id, struct lumi_err *err)
{
    return db_one_row_json(db, SQL_OPEN, service_id, INT_COLUMNS, err);
}

json_t *changes_options(struct db *db, int64_t service_id, int64_t owner, int64_t now,
                        struct lumi_err *err)
{
    struct svc s;
    struct option *opts = calloc(OPTIONS_MAX, sizeof *opts);
    size_t n = 0;
    char d1[UTC_ISO_LEN] = "", d2[UTC_ISO_LEN] = "";
    json_t *out = NULL, *list = NULL, *open = NULL;
    if (opts == NULL) {
        nomem(err);
        goto out;
    }
    if (svc_read(db, service_id, owner, false, &s, err) < 0)
        goto out;
    open = changes_open(db, service_id, err);
    if (open == NULL)
        goto out;
    int prc = svc_period(&s, now, err);
    if (prc == 0 && svc_options(db, &s, now, opts, &n, err) < 0)
        goto out;
    if (prc == 0 && (utc_format(s.start, d1) != 0 || utc_format(s.end, d2) != 0)) {
        err_set(err, LUMI_EINTERNAL, "period out of range");
        goto out;
    }
    list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++)
        if (json_array_append_new(list, option_json(&s, &opts[i])) < 0) {
            nomem(err);
            goto out;
        }
    out = json_pack("{s:I, s:I, s:s, s:I, s:s, s:s, s:s?, s:s?, s:s?, s:O, s:O}", "service_id",
                    (json_int_t)service_id, "product_id", (json_int_t)s.product_id, "product_name",
                    s.product, "recurring_amount", (json_int_t)s.recurring, "currency", s.currency,
                    "billing_cycle", s.cycle, "period_start", d1[0] ? d1 : NULL, "period_end",
                    d2[0] ? d2 : NULL, "unavailable", prc != 0 ? err->msg : NULL, "open_change",
                    open, "options", list);
    if (out == NULL)
        nomem(err);
    else
        err_clear(err);
out:
    json_decref(list);
    json_decref(open);
    free(opts);
    return out;
}

/* ---- requests -------------------------------------------------------------- */

/* Everything that forbids a new change right now; LUMI_ECONFLICT naming it. */
static int check_can_change(struct db *db, const struct svc *s, struct lumi_err *err)
{
    int64_t n = 0;
    if (!str_eq(s->status, "active"))
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " is %s; only an active service can be upgraded or "
                       "downgraded",
                       s->id, s->status);
    int rc = count_by_id(db, SQL_PENDING_CANCEL, s->id, &n, err);
    if (rc == 0 && n > 0)
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " has a pending cancellation request; withdraw it "
                       "before changing the plan",
                       s->id);
    json_t *open = rc == 0 ? changes_open(db, s->id, err) : NULL;
    if (rc == 0 && open == NULL)
        return err->code;
    bool has_open = json_is_object(open);
    json_decref(open);
    if (has_open)
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " already has a plan change under way; withdraw or "
                       "finish it first",
                       s->id);
    if (rc == 0)
        rc = count_by_id(db, SQL_OPEN_JOBS, s->id, &n, err);
    if (rc == 0 && n > 0)
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " has a termination or package change queued", s->id);
    if (rc == 0)
        rc = count_by_id(db, SQL_UNPAID_RENEWAL, s->id, &n, err);
    if (rc == 0 && n > 0)
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " has an unpaid renewal invoice; pay it first", s->id);
    return rc;
}

/* The invoice of an upgrade: one item, due now. */
static int upgrade_invoice(struct db *db, const struct audit_actor *actor, const struct svc *s,
                           const struct option *o, int64_t now, int64_t *invoice_id,
                           struct lumi_err *err)
{
    char desc[600], d1[UTC_ISO_LEN], d2[UTC_ISO_LEN], due[UTC_ISO_LEN];
    if (utc_format(now, d1) != 0 || utc_format(s->end, d2) != 0 || utc_format(now, due) != 0)
        return err_set(err, LUMI_EINTERNAL, "date out of range");
    snprintf(desc, sizeof desc,
             "Upgrade %.200s \xe2\x86\x92 %.200s, prorated %.10s\xe2\x80\x93%.10s", s->product,
             o->name, d1, d2);
    struct invoice_item_in item = {.description = desc,
                                   .quantity = 1,
                                   .unit_amount = o->prorated,
                                   .service_id = 0, /* not a renewal: never suspends or renews */
                                   .kind = "other"};
    char cur[4];
    if (money_currency_normalize(s->currency, cur) != 0)
        return err_set(err, LUMI_EINVAL, "service %" PRId64 " has an unknown currency", s->id);
    return invoices_create(db, actor, s->client_id, cur, due, &item, 1, invoice_id, err);
}

static int insert_change(struct db *db, const struct audit_actor *actor, const struct svc *s,
                         const struct option *o, int64_t invoice_id, int64_t job_id,
                         int64_t *change_id, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL)
        return LUMI_EDB;
    int64_t by = 0;
    if (actor != NULL && str_eq(actor->type, "user") && actor->id != NULL)
        str_to_i64z(actor->id, 1, INT64_MAX, &by);
    int rc = 0;
    if (db_bind_int64(st, 1, s->id) < 0 || db_bind_int64(st, 2, s->product_id) < 0 ||
        db_bind_int64(st, 3, o->product_id) < 0 ||
        db_bind_text(st, 4, o->prorated > 0 ? "upgrade" : "downgrade") < 0 ||
        db_bind_text(st, 5, s->cycle) < 0 || db_bind_text(st, 6, s->currency) < 0 ||
        db_bind_int64(st, 7, o->amount) < 0 || db_bind_int64(st, 8, o->prorated) < 0 ||
        (invoice_id > 0 ? db_bind_int64(st, 9, invoice_id) : db_bind_null(st, 9)) < 0 ||
        (job_id > 0 ? db_bind_int64(st, 10, job_id) : db_bind_null(st, 10)) < 0 ||
        db_bind_text(st, 11, invoice_id > 0 ? "awaiting_payment" : "queued") < 0 ||
        (by > 0 ? db_bind_int64(st, 12, by) : db_bind_null(st, 12)) < 0 ||
        db_bind_text(st, 13, now) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
    if (rc == 0)
        rc = db_step_id(st, "a plan change", change_id, err);
    db_finalize(st);
    if (rc == LUMI_ECONFLICT)
        return err_set(err, LUMI_ECONFLICT,
                       "service %" PRId64 " already has a plan change under way", s->id);
    return rc < 0 ? rc : 0;
}

static int queue_job(struct db *db, int64_t service_id, int64_t product_id, int64_t *job_id,
                     struct lumi_err *err)
{
    json_t *args = json_pack("{s:I}", "product_id", (json_int_t)product_id);
    if (args == NULL)
        return nomem(err);
    int rc = jobs_enqueue(db, service_id, "change_package", args, job_id, err);
    json_decref(args);
    return rc;
}

json_t *changes_request(struct db *db, const struct audit_actor *actor, int64_t service_id,
                        int64_t owner, int64_t to_product_id, int64_t now, struct lumi_err *err)
{
    struct lumi_err local;
    struct svc s;
    struct option *opts = calloc(OPTIONS_MAX, sizeof *opts);
    const struct option *o = NULL;
    size_t n = 0;
    int64_t invoice_id = 0, job_id = 0, change_id = 0;
    json_t *out = NULL, *change = NULL, *invoice = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (opts == NULL) {
        nomem(err);
        goto out;
    }
    if (db_begin(db, err) < 0 || svc_read(db, service_id, owner, true, &s, err) < 0)
        goto out;
    if (to_product_id <= 0) { /* judged once the service is found: see cancellations.c */
        err_set(err, LUMI_EINVAL, "field 'product_id' is required: the product to change to");
        goto out;
    }
    if (check_can_change(db, &s, err) < 0 || svc_period(&s, now, err) < 0 ||
        svc_options(db, &s, now, opts, &n, err) < 0)
        goto out;
    for (size_t i = 0; i < n && o == NULL; i++)
        if (opts[i].product_id == to_product_id)
            o = &opts[i];
    if (o == NULL) {
        err_set(err, LUMI_EINVAL,
                "field 'product_id': product %" PRId64 " is not an upgrade or downgrade option "
                "for service %" PRId64,
                to_product_id, service_id);
        goto out;
    }
    if (o->prorated > 0) {
        if (upgrade_invoice(db, actor, &s, o, now, &invoice_id, err) < 0)
            goto out;
    } else if (queue_job(db, s.id, o->product_id, &job_id, err) < 0) {
        goto out;
    }
    if (insert_change(db, actor, &s, o, invoice_id, job_id, &change_id, err) < 0)
        goto out;
    if (audit_append_id_take(
            db, actor, "SERVICE_CHANGE_REQUESTED", "service", s.id,
            json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:s}", "change_id",
                      (json_int_t)change_id, "from_product_id", (json_int_t)s.product_id,
                      "to_product_id", (json_int_t)o->product_id, "direction",
                      o->prorated > 0 ? "upgrade" : "downgrade", "prorated_amount",
                      (json_int_t)o->prorated, "invoice_id", (json_int_t)invoice_id, "job_id",
                      (json_int_t)job_id, "currency", s.currency),
            err) < 0)
        goto out;
    change = db_one_row_json(db, SQL_GET, change_id, INT_COLUMNS, err);
    if (change == NULL)
        goto out;
    invoice = invoice_id > 0 ? invoices_get(db, invoice_id, err) : json_null();
    if (invoice == NULL)
        goto out;
    out = json_pack("{s:O, s:O}", "change", change, "invoice", invoice);
    if (out == NULL) {
        nomem(err);
        goto out;
    }
    if (db_commit(db, err) < 0) {
        json_decref(out);
        out = NULL;
    }
out:
    if (out == NULL)
        db_rollback(db);
    json_decref(change);
    json_decref(invoice);
    free(opts);
    return out;
}

/* Cancels the awaiting change (JSON row) and its invoice; audits SERVICE_CHANGE_WITHDRAWN. */
static int cancel_change(struct db *db, const struct audit_actor *actor, const json_t *change,
                         const char *why, struct lumi_err *err)
{
    int64_t id = json_integer_value(json_object_get(change, "id"));
    int64_t sid = json_integer_value(json_object_get(change, "service_id"));
    int64_t inv = json_integer_value(json_object_get(change, "invoice_id"));
    int64_t changed = 0;
    int64_t v[] = {id};
    int rc = update_ints(db, SQL_MARK_CANCELLED, v, 1, &changed, err);
    if (rc < 0)
        return rc;
    if (changed != 1)
        return err_set(err, LUMI_ECONFLICT, "the plan change is no longer awaiting payment");
    if (inv > 0 && (rc = invoices_cancel_in_tx(db, actor, inv, why, err)) < 0)
        return rc;
    return audit_append_id_take(db, actor, "SERVICE_CHANGE_WITHDRAWN", "service", sid,
                                json_pack("{s:I, s:I, s:s}", "change_id", (json_int_t)id,
                                          "invoice_id", (json_int_t)inv, "reason", why),
                                err);
}

json_t *changes_withdraw(struct db *db, const struct audit_actor *actor, int64_t service_id,
                         int64_t owner, struct lumi_err *err)
{
    struct lumi_err local;
    struct svc s;
    json_t *open = NULL, *out = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (db_begin(db, err) < 0 || svc_read(db, service_id, owner, true, &s, err) < 0)
        goto out;
    open = changes_open(db, service_id, err);
    if (open == NULL)
        goto out;
    if (!json_is_object(open) ||
        !str_eq(json_string_value(json_object_get(open, "status")), "awaiting_payment")) {
        err_set(err, LUMI_ECONFLICT,
                json_is_object(open) ? "the plan change of service %" PRId64
                                       " is already paid and queued; it "
                                       "can no longer be withdrawn"
                                     : "service %" PRId64 " has no plan change awaiting payment",
                service_id);
        goto out;
    }
    if (cancel_change(db, actor, open, "withdrawn", err) < 0)
        goto out;
    out = db_one_row_json(db, SQL_GET, json_integer_value(json_object_get(open, "id")), INT_COLUMNS,
                          err);
    if (out != NULL && db_commit(db, err) < 0) {
        json_decref(out);
        out = NULL;
    }
out:
    if (out == NULL)
        db_rollback(db);
    json_decref(open);
    return out;
}

int changes_cancel_open(struct db *db, const struct audit_actor *actor, int64_t service_id,
                        struct lumi_err *err)
{
    json_t *open = changes_open(db, service_id, err);
    if (open == NULL)
        return err->code;
    int rc = 0;
    if (json_is_object(open) &&
        str_eq(json_string_value(json_object_get(open, "status")), "awaiting_payment"))
        rc = cancel_change(db, actor, open, "service cancelled", err);
    json_decref(open);
    return rc;
}

/* ---- events: payment, job outcome, renewal ----------------------------------- */

struct paid_change {
    int64_t id, service_id, product_id;
};

int changes_on_invoice_paid(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                            struct lumi_err *err)
{
    struct paid_change pc[8];
    size_t n = 0;
    struct db_stmt *st = db_prepare(db, SQL_PAID_CHANGES, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_int64(st, 1, invoice_id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : 0;
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW && n < 8) {
        pc[n].id = db_col_int64(st, 0);
        pc[n].service_id = db_col_int64(st, 1);
        pc[n].product_id = db_col_int64(st, 2);
        n++;
        rc = 0;
    }
    db_finalize(st);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        int64_t gone = 0, job_id = 0, changed = 0;
        rc = count_by_id(db, SQL_SERVICE_GONE, pc[i].service_id, &gone, err);
        if (rc == 0 && gone == 0)
            rc = queue_job(db, pc[i].service_id, pc[i].product_id, &job_id, err);
        if (rc < 0)
            return rc;
        if (gone > 0)
            continue; /* the service ended meanwhile; an admin refunds the payment */
        int64_t v[] = {pc[i].id, job_id};
        rc = update_ints(db, SQL_MARK_QUEUED, v, 2, &changed, err);
        if (rc == 0 && changed == 1)
            rc = audit_append_id_take(
                db, actor, "SERVICE_CHANGE_QUEUED", "service", pc[i].service_id,
                json_pack("{s:I, s:I, s:I}", "change_id", (json_int_t)pc[i].id, "invoice_id",
                          (json_int_t)invoice_id, "job_id", (json_int_t)job_id),
                err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int changes_on_job_finished(struct db *db, int64_t job_id, bool ok, const char *error,
                            struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_JOB_CHANGE, err);
    if (st == NULL)
        return LUMI_EDB;
    int64_t id = 0, sid = 0, amount = 0, prorated = 0;
    bool downgrade = false;
    int rc =
        db_bind_int64(st, 1, job_id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : db_step(st, err);
    if (rc == DB_ROW) {
        id = db_col_int64(st, 0);
        sid = db_col_int64(st, 1);
        downgrade = str_eq(db_col_text(st, 2), "downgrade");
        amount = db_col_int64(st, 3);
        prorated = db_col_int64(st, 4);
    }
    db_finalize(st);
    if (rc < 0 || id == 0)
        return rc < 0 ? rc : 0;
    int64_t changed = 0;
    int64_t v[] = {id};
    rc = update_ints(db, ok ? SQL_MARK_APPLIED : SQL_MARK_FAILED, v, 1, &changed, err);
    if (rc < 0 || changed != 1)
        return rc;
    if (!ok)
        return audit_append_id_take(db, &AUDIT_SYSTEM, "SERVICE_CHANGE_FAILED", "service", sid,
                                    json_pack("{s:I, s:I, s:s?}", "change_id", (json_int_t)id,
                                              "job_id", (json_int_t)job_id, "error", error),
                                    err);
    int64_t credit = downgrade && prorated < 0 ? -prorated : 0;
    int64_t p[] = {sid, amount, credit};
    rc = update_ints(db, SQL_SET_PRICE, p, 3, NULL, err);
    if (rc < 0)
        return rc;
    return audit_append_id_take(db, &AUDIT_SYSTEM, "SERVICE_CHANGE_APPLIED", "service", sid,
                                json_pack("{s:I, s:I, s:I, s:I}", "change_id", (json_int_t)id,
                                          "job_id", (json_int_t)job_id, "recurring_amount",
                                          (json_int_t)amount, "renewal_credit_added",
                                          (json_int_t)credit),
                                err);
}

int changes_take_renewal_credit(struct db *db, int64_t service_id, int64_t total, int64_t *taken,
                                struct lumi_err *err)
{
    int64_t credit = 0, changed = 0;
    *taken = 0;
    char idt[24];
    snprintf(idt, sizeof idt, "%" PRId64, service_id);
    const char *p[] = {idt};
    int rc = db_query_int64_opt(db, SQL_CREDIT, 1, p, &credit, err);
    if (rc <= 0 || credit <= 0 || total <= 0)
        return rc < 0 ? rc : 0;
    int64_t take = credit < total ? credit : total;
    struct db_stmt *st = db_prepare(db, SQL_TAKE_CREDIT, err);
    if (st == NULL)
        return LUMI_EDB;
    rc = db_bind_int64(st, 1, service_id) < 0 || db_bind_int64(st, 2, take) < 0
             ? err_set(err, LUMI_EDB, "cannot bind a parameter")
             : db_step(st, err);
    changed = rc >= 0 ? db_changes(st) : 0;
    db_finalize(st);
    if (rc < 0)
        return rc;
    if (changed == 1)
        *taken = take;
    return 0;
}
