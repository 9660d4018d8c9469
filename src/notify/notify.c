/*
 * notify.c — the audit trail's mail consumer and the dated notices (see
 * notify.h): who gets which message about what, queued into the outbox
 * (mail/outbox.h). The messages are rendered when they are first sent
 * (compose.c).
 *
 * Threading: no state of its own; uses only the connection it is given.
 */
#include "notify/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/utc.h"
#include "mail/outbox.h"
#include "settings/registry.h"

#define DAY_S 86400
#define LATE_GRACE_DAYS 3 /* a dated notice whose day passed longer ago is not sent */
#define ADMIN_TO_MAX 2048
#define OVERDUE_DAYS_MAX 5

static const char SQL_CURSOR_SQLITE[] = "SELECT last_id FROM event_cursors WHERE name = 'mail'";
static const char SQL_CURSOR_PG[] =
    "SELECT last_id FROM event_cursors WHERE name = 'mail' FOR UPDATE";
static const char SQL_CURSOR_SET[] =
    "UPDATE event_cursors SET last_id = $1, updated_at = $2 WHERE name = 'mail' AND last_id = $3";
static const char SQL_ROWS[] = "SELECT id, action, entity, entity_id, details FROM audit_log"
                               " WHERE id > $1 ORDER BY id LIMIT $2";

static const char SQL_CLIENT_OF_INVOICE[] =
    "SELECT u.id, u.email, u.first_name, u.last_name FROM invoices i"
    " JOIN users u ON u.id = i.client_id WHERE i.id = $1 AND u.role = 'client'";
static const char SQL_CLIENT_OF_SERVICE[] =
    "SELECT u.id, u.email, u.first_name, u.last_name FROM services s"
    " JOIN users u ON u.id = s.client_id WHERE s.id = $1 AND u.role = 'client'";
static const char SQL_NOTICE_SEEN[] =
    "SELECT COUNT(*) FROM emails WHERE event_key = $1 AND template = $2";

/* Unpaid invoices with something to pay whose due date is in ($1, $2]. */
static const char SQL_DUE_BETWEEN[] =
    "SELECT id FROM invoices WHERE (status = 'unpaid' OR status = 'partially_paid')"
    " AND total > amount_paid AND due_date > $1 AND due_date <= $2 AND created_at <= $3"
    " ORDER BY id";

/* --- recipients ---------------------------------------------------------------------- */

/* A display name safe inside "Name <addr>": no quotes, angle brackets, backslashes or controls. */
static void clean_name(const char *in, char *out, size_t outsz)
{
    size_t n = 0;
    for (const char *p = in != NULL ? in : ""; *p && n + 1 < outsz; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' || c == ',')
            continue;
        out[n++] = (char)c;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* The client of an invoice or a service: its id, and "First Last <email>" into to.
 * 0, LUMI_ENOTFOUND, or < 0. */
static int client_of(struct db *db, const char *entity, int64_t id, int64_t *client_id, char *to,
                     size_t tosz, struct lumi_err *err)
{
    char name[256], clean[256];
    const char *sql = str_eq(entity, "invoice") ? SQL_CLIENT_OF_INVOICE
                      : str_eq(entity, "service") ? SQL_CLIENT_OF_SERVICE
                                                  : NULL;
    if (sql == NULL)
        return err_set(err, LUMI_ENOTFOUND, "%s has no client", entity);
    struct db_stmt *st = db_prepare(db, sql, err);
    if (st == NULL)
        return LUMI_EDB;
    db_bind_int64(st, 1, id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        const char *email = db_col_text(st, 1), *first = db_col_text(st, 2),
                   *last = db_col_text(st, 3);
        *client_id = db_col_int64(st, 0);
        snprintf(name, sizeof name, "%s%s%s", first != NULL ? first : "",
                 str_present(first) && str_present(last) ? " " : "", last != NULL ? last : "");
        clean_name(name, clean, sizeof clean);
        if (str_present(clean))
            snprintf(to, tosz, "%s <%s>", clean, email != NULL ? email : "");
        else
            str_copy(to, email != NULL ? email : "", tosz);
    }
    db_finalize(st);
    if (rc == DB_DONE)
        return err_set(err, LUMI_ENOTFOUND, "%s %lld not found", entity, (long long)id);
    return rc < 0 ? rc : 0;
}

/* --- settings ---------------------------------------------------------------------- */

/* Whether message type tmpl is switched on (mail.send.<tmpl>; on when unreadable). */
static bool enabled(struct db *db, const char *tmpl)
{
    char key[80];
    bool on = true;
    struct lumi_err err;
    snprintf(key, sizeof key, "mail.send.%s", tmpl);
    if (settings_reg_bool(db, key, &on, &err) != 0)
        return true;
    return on;
}

/* --- queueing ------------------------------------------------------------------------ */

struct msg {
    const char *event_key;
    const char *tmpl;
    const char *entity;
    int64_t entity_id;
    int64_t client_id; /* 0 for the admins' mails */
};

/*
 * What a pass queues is collected first and written in one short transaction
 * at its end, so the database's write lock (SQLite has one for the whole
 * file) is held only for the inserts. Messages are rendered later, when they
 * are first sent (notify_compose): a row here is small.
 */
struct pending {
    struct outbox_new n;
    char key[48];
    char to[600];
};

struct batch {
    struct pending *v;
    size_t n, cap;
};

static void batch_clear(struct batch *b)
{
    free(b->v);
    memset(b, 0, sizeof *b);
}

/* Adds m for `to` to the batch: 1, or < 0 out of memory. */
static int queue(struct batch *b, const struct msg *m, const char *to, struct lumi_err *err)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        struct pending *x = realloc(b->v, nc * sizeof *x);
        if (x == NULL)
            return err_set(err, LUMI_ENOMEM, "out of memory");
        b->v = x;
        b->cap = nc;
    }
    struct pending *p = &b->v[b->n];
    memset(p, 0, sizeof *p);
    str_copy(p->key, m->event_key, sizeof p->key);
    str_copy(p->to, to, sizeof p->to);
    /* event_key and to point into the element when it is written (batch_write):
     * the array may move until then. */
    p->n = (struct outbox_new){
        .tmpl = m->tmpl,
        .client_id = m->client_id,
        .entity = m->entity,
        .entity_id = m->entity_id,
    };
    b->n++;
    return 1;
}

/* Queues the batch's messages into the outbox (inside the caller's transaction).
 * Answers how many were new, or < 0 on a database error. */
static int batch_write(struct db *db, struct batch *b, struct lumi_err *err)
{
    char q[300];
    int added = 0;
    for (size_t i = 0; i < b->n; i++) {
        b->v[i].n.event_key = b->v[i].key;
        b->v[i].n.to = b->v[i].to;
        int rc = outbox_enqueue(db, &b->v[i].n, err);
        if (rc == LUMI_EINVAL) {
            log_warn("mail.bad_recipient", "template=%s event=%s error=%s", b->v[i].n.tmpl,
                     b->v[i].key, log_quote(err->msg, q, sizeof q));
            err_clear(err);
            continue;
        }
        if (rc < 0)
            return rc;
        added += rc;
    }
    return added;
}

/* Adds m for every address of mail.admin_to. Returns how many, or < 0. */
static int queue_admins(struct db *db, struct batch *b, const struct msg *m,
                        struct lumi_err *err)
{
    char list[ADMIN_TO_MAX];
    struct lumi_err ignore;
    int n = 0;
    if (settings_reg_text(db, "mail.admin_to", list, sizeof list, &ignore) != 0)
        return 0;
    for (char *a = list; *a != '\0';) {
        size_t len = strcspn(a, ",");
        char *next = a[len] == ',' ? a + len + 1 : a + len;
        a[len] = '\0';
        while (*a == ' ')
            a++;
        len = strlen(a);
        while (len > 0 && a[len - 1] == ' ')
            a[--len] = '\0';
        if (len > 0) {
            int rc = queue(b, m, a, err);
            if (rc < 0)
                return rc;
            n += rc;
        }
        a = next;
    }
    return n;
}

/* --- the audit rows that mail ------------------------------------------------------------ */

enum who { TO_CLIENT, TO_ADMINS };

struct rule {
    const char *action; /* exact, or a prefix+suffix pattern below */
    const char *tmpl;
    enum who who;
};

static const struct rule RULES[] = {
    {"INVOICE_CREATED", "invoice_created", TO_CLIENT},
    {"PAYMENT_RECEIVED", "payment_receipt", TO_CLIENT},
    {"PAYMENT_REFUNDED", "refund_issued", TO_CLIENT},
    {"PAYMENT_DISPUTED", "admin_dispute_opened", TO_ADMINS},
    {"SERVICE_PROVISIONED", "service_ready", TO_CLIENT},
    {"SERVICE_SUSPENDED", "service_suspended", TO_CLIENT},
    {"SERVICE_UNSUSPENDED", "service_unsuspended", TO_CLIENT},
    {"SERVICE_TERMINATED", "service_terminated", TO_CLIENT},
    {"WEBHOOK_FAILED", "admin_webhook_failed", TO_ADMINS},
};
static const struct rule JOB_FAILED = {"SERVICE_*_FAILED", "admin_job_failed", TO_ADMINS};

#define RULES_MAX (sizeof RULES / sizeof RULES[0] + 1)

static const struct rule *rule_for(const char *action)
{
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++)
        if (str_eq(RULES[i].action, action))
            return &RULES[i];
    size_t n = strlen(action);
    if (str_starts_with(action, "SERVICE_") && n > 7 && strcmp(action + n - 7, "_FAILED") == 0)
        return &JOB_FAILED;
    return NULL;
}

struct audit_ev {
    int64_t id;
    char action[64];
    char entity[32];
    int64_t entity_id;
    json_t *details;
};

/* Whether the event should mail at all, beyond its rule (its details decide). */
static bool wanted(const struct rule *r, const struct audit_ev *ev)
{
    if (str_eq(ev->action, "PAYMENT_DISPUTED"))
        return str_eq(json_string_value(json_object_get(ev->details, "kind")), "chargeback");
    return r != NULL;
}

/* Adds what one audit row causes to b. Returns messages, or < 0 on a database error. */
static int handle(struct db *db, struct batch *b, const struct rule *r, const struct audit_ev *ev,
                  struct lumi_err *err)
{
    char key[48], to[600], q[300];
    int64_t client_id = 0;
    snprintf(key, sizeof key, "audit:%lld", (long long)ev->id);
    struct msg m = {key, r->tmpl, ev->entity, ev->entity_id, 0};
    if (r->who == TO_ADMINS)
        return queue_admins(db, b, &m, err);
    int rc = client_of(db, ev->entity, ev->entity_id, &client_id, to, sizeof to, err);
    if (rc == LUMI_ENOTFOUND) {
        log_warn("mail.event_skipped", "audit_id=%lld action=%s error=%s", (long long)ev->id,
                 ev->action, log_quote(err->msg, q, sizeof q));
        err_clear(err);
        return 0;
    }
    if (rc < 0)
        return rc;
    m.client_id = client_id;
    return queue(b, &m, to, err);
}

/* An invoice created with nothing to pay (a free product) mails nothing. */
static bool nothing_to_pay(const struct audit_ev *ev)
{
    json_t *total = json_object_get(ev->details, "total");
    return str_eq(ev->action, "INVOICE_CREATED") && json_is_integer(total) &&
           json_integer_value(total) == 0;
}

static void ev_clear(struct audit_ev *evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(evs[i].details);
    free(evs);
}

/* Reads up to max audit rows after `after` into a new array. */
static int read_rows(struct db *db, int64_t after, int max, struct audit_ev **out, size_t *n,
                     struct lumi_err *err)
{
    struct audit_ev *evs = calloc((size_t)max, sizeof *evs);
    size_t k = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (evs == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    struct db_stmt *st = db_prepare(db, SQL_ROWS, err);
    if (st == NULL) {
        free(evs);
        return LUMI_EDB;
    }
    db_bind_int64(st, 1, after);
    db_bind_int64(st, 2, max);
    while ((rc = db_step(st, err)) == DB_ROW && k < (size_t)max) {
        struct audit_ev *e = &evs[k++];
        const char *details = db_col_text(st, 4);
        e->id = db_col_int64(st, 0);
        str_copy(e->action, db_col_text(st, 1) ? db_col_text(st, 1) : "", sizeof e->action);
        str_copy(e->entity, db_col_text(st, 2) ? db_col_text(st, 2) : "", sizeof e->entity);
        const char *eid = db_col_text(st, 3);
        if (eid == NULL || str_to_i64z(eid, 0, INT64_MAX, &e->entity_id) != 0)
            e->entity_id = 0;
        /* Only the rows whose details decide whether they mail are parsed. */
        if (details != NULL &&
            (str_eq(e->action, "INVOICE_CREATED") || str_eq(e->action, "PAYMENT_DISPUTED")))
            e->details = jsonx_parse(details, strlen(details), 32, NULL);
    }
    db_finalize(st);
    if (rc < 0) {
        ev_clear(evs, k);
        return rc;
    }
    *out = evs;
    *n = k;
    return 0;
}

/* Moves the cursor from `from` to `to` and writes the batch, in one transaction. The
 * cursor must still be at `from` (another process may have read the same rows and
 * moved it: then this pass's messages are theirs, and nothing is written). */
static int commit_batch(struct db *db, int64_t from, int64_t to, struct batch *b, int *queued,
                        struct lumi_err *err)
{
    char f[24], t[24], now[UTC_ISO_LEN];
    int64_t cursor = 0, changes = 0;
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = db_query_int64(db, db_kind(db) == DB_POSTGRES ? SQL_CURSOR_PG : SQL_CURSOR_SQLITE, 0,
                        NULL, &cursor, err);
    if (rc == 0 && cursor != from) {
        db_rollback(db);
        return 0;
    }
    int added = rc == 0 ? batch_write(db, b, err) : rc;
    if (added >= 0) {
        snprintf(f, sizeof f, "%lld", (long long)from);
        snprintf(t, sizeof t, "%lld", (long long)to);
        utc_now_iso(now);
        const char *p[] = {t, now, f};
        rc = db_execp(db, SQL_CURSOR_SET, 3, p, &changes, err);
    } else {
        rc = added;
    }
    if (rc == 0)
        rc = db_commit(db, err);
    if (rc != 0) {
        db_rollback(db);
        return rc;
    }
    *queued = added;
    return 0;
}

int notify_pump(struct db *db, int max_rows, int *queued, struct lumi_err *err)
{
    struct audit_ev *evs = NULL;
    struct batch b = {0};
    size_t n = 0;
    int64_t cursor = 0;
    int added = 0;
    if (queued != NULL)
        *queued = 0;
    if (max_rows < 1)
        max_rows = 1;
    /* Read and render with no transaction open; only the writes take the lock. */
    int rc = db_query_int64(db, SQL_CURSOR_SQLITE, 0, NULL, &cursor, err);
    if (rc == 0)
        rc = read_rows(db, cursor, max_rows, &evs, &n, err);
    const struct rule *known[RULES_MAX];
    bool on[RULES_MAX];
    size_t nknown = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct rule *r = rule_for(evs[i].action);
        if (r == NULL || !wanted(r, &evs[i]) || nothing_to_pay(&evs[i]))
            continue;
        size_t k = 0; /* each switch read once a pass, not once an event */
        while (k < nknown && known[k] != r)
            k++;
        if (k == nknown && nknown < RULES_MAX) {
            known[nknown] = r;
            on[nknown++] = enabled(db, r->tmpl);
        }
        if (k < nknown && !on[k])
            continue;
        int q = handle(db, &b, r, &evs[i], err);
        if (q < 0)
            rc = q;
    }
    if (rc == 0 && n > 0)
        rc = commit_batch(db, cursor, evs[n - 1].id, &b, &added, err);
    ev_clear(evs, n);
    batch_clear(&b);
    if (rc != 0)
        return rc;
    if (queued != NULL)
        *queued = added;
    return (int)n;
}

/* --- dated notices -------------------------------------------------------------------- */

/* The days of mail.overdue_notice_days ("1,5", as the registry stores it: distinct
 * numbers 1..365) into days (at most max); returns the count. */
static int parse_days(const char *list, int64_t *days, int max)
{
    int n = 0;
    for (const char *p = list; *p != '\0' && n < max; p += *p == ',') {
        size_t len = strspn(p, "0123456789");
        if (len == 0 || str_to_i64(p, len, 1, 365, &days[n]) != 0)
            break;
        n++;
        p += len;
    }
    return n;
}

/* Adds tmpl to b for every unpaid invoice due in (from, to] made before
 * made_before that has not had this notice yet (b NULL: a dry run, counted
 * only); plan gets a line for each. */
static int notices(struct db *db, struct batch *b, const char *tmpl, const char *key_prefix,
                   int64_t from, int64_t to, int64_t made_before, FILE *plan, int *count,
                   struct lumi_err *err)
{
    char f[UTC_ISO_LEN], t[UTC_ISO_LEN], mb[UTC_ISO_LEN], key[64], addr[600];
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    utc_format(from, f);
    utc_format(to, t);
    utc_format(made_before, mb);
    struct db_stmt *st = db_prepare(db, SQL_DUE_BETWEEN, err);
    if (st == NULL)
        return LUMI_EDB;
    db_bind_text(st, 1, f);
    db_bind_text(st, 2, t);
    db_bind_text(st, 3, mb);
    while ((rc = db_step(st, err)) == DB_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            int64_t *x = realloc(ids, nc * sizeof *x);
            if (x == NULL) {
                rc = err_set(err, LUMI_ENOMEM, "out of memory");
                break;
            }
            ids = x;
            cap = nc;
        }
        ids[n++] = db_col_int64(st, 0);
    }
    db_finalize(st);
    for (size_t i = 0; rc >= 0 && i < n; i++) {
        int64_t client_id = 0, seen = 0;
        snprintf(key, sizeof key, "%s:%lld", key_prefix, (long long)ids[i]);
        const char *kp[] = {key, tmpl};
        rc = db_query_int64(db, SQL_NOTICE_SEEN, 2, kp, &seen, err);
        if (rc < 0 || seen > 0)
            continue;
        rc = client_of(db, "invoice", ids[i], &client_id, addr, sizeof addr, err);
        if (rc < 0)
            break;
        if (plan != NULL)
            fprintf(plan, "%s %s for invoice %lld to %s\n", b != NULL ? "queued" : "would queue",
                    tmpl, (long long)ids[i], addr);
        if (b == NULL) {
            (*count)++;
            continue;
        }
        struct msg m = {key, tmpl, "invoice", ids[i], client_id};
        rc = queue(b, &m, addr, err);
        rc = rc > 0 ? 0 : rc;
    }
    free(ids);
    return rc < 0 ? rc : 0;
}

int notify_reminders(struct db *db, int64_t now, bool dry_run, FILE *plan, int *queued,
                     struct lumi_err *err)
{
    char list[64];
    int64_t days[OVERDUE_DAYS_MAX], before = 0;
    struct batch b = {0}, *bp = dry_run ? NULL : &b;
    int count = 0;
    *queued = 0;
    /* Find and render with no transaction open; the inserts are one short one. */
    int rc = settings_reg_int(db, "mail.reminder_days_before", &before, err);
    if (rc == 0 && before > 0 && enabled(db, "invoice_reminder"))
        rc = notices(db, bp, "invoice_reminder", "reminder", now, now + before * DAY_S,
                     now - DAY_S, plan, &count, err);
    if (rc == 0)
        rc = settings_reg_text(db, "mail.overdue_notice_days", list, sizeof list, err);
    int nd = rc == 0 ? parse_days(list, days, OVERDUE_DAYS_MAX) : 0;
    for (int i = 0; rc == 0 && i < nd && enabled(db, "invoice_overdue"); i++) {
        char prefix[24];
        snprintf(prefix, sizeof prefix, "overdue%lld", (long long)days[i]);
        /* due in (now - d - grace, now - d]: the notice's day came within the grace. */
        rc = notices(db, bp, "invoice_overdue", prefix,
                     now - (days[i] + LATE_GRACE_DAYS) * DAY_S, now - days[i] * DAY_S, now, plan,
                     &count, err);
    }
    if (rc == 0 && !dry_run && b.n > 0) {
        rc = db_begin(db, err);
        int added = rc == 0 ? batch_write(db, &b, err) : rc;
        if (added >= 0)
            rc = db_commit(db, err);
        else
            rc = added;
        if (rc != 0)
            db_rollback(db);
        else
            count = added;
    }
    batch_clear(&b);
    if (rc == 0)
        *queued = count;
    return rc;
}
