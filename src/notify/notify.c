/*
 * notify.c — the audit trail's mail consumer and the dated notices (see
 * notify.h). Builds each message's data from the domain's own getters
 * (invoices_get, clients_get, services_get, ...) inside the transaction that
 * queues it, renders it (mail/render.h) and queues it (mail/outbox.h).
 *
 * Threading: no state of its own; uses only the connection it is given.
 */
#include "notify/notify.h"

#include <stdlib.h>
#include <string.h>

#include "billing/clients.h"
#include "billing/invoices.h"
#include "billing/products.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/money.h"
#include "core/str.h"
#include "core/utc.h"
#include "mail/mime.h"
#include "mail/outbox.h"
#include "mail/render.h"
#include "provisioning/servers.h"
#include "provisioning/services.h"
#include "settings/registry.h"

#define DAY_S 86400
#define LATE_GRACE_DAYS 3 /* a dated notice whose day passed longer ago is not sent */
#define ADMIN_TO_MAX 2048
#define OVERDUE_DAYS_MAX 5

static const char SQL_CURSOR_SQLITE[] = "SELECT last_id FROM event_cursors WHERE name = 'mail'";
static const char SQL_CURSOR_PG[] =
    "SELECT last_id FROM event_cursors WHERE name = 'mail' FOR UPDATE";
static const char SQL_CURSOR_SET[] =
    "UPDATE event_cursors SET last_id = $1, updated_at = $2 WHERE name = 'mail'";
static const char SQL_ROWS[] = "SELECT id, action, entity, entity_id, details FROM audit_log"
                               " WHERE id > $1 ORDER BY id LIMIT $2";

/* Unpaid invoices with something to pay whose due date is in ($1, $2]. */
static const char SQL_DUE_BETWEEN[] =
    "SELECT id FROM invoices WHERE (status = 'unpaid' OR status = 'partially_paid')"
    " AND total > amount_paid AND due_date > $1 AND due_date <= $2 AND created_at <= $3"
    " ORDER BY id";

/* --- data for the templates ----------------------------------------------------- */

static void money_text(int64_t minor, const char *currency, char *out, size_t outsz)
{
    char num[48], cur[8];
    if (currency == NULL || money_format(minor, currency, num, sizeof num) != 0) {
        snprintf(out, outsz, "%lld", (long long)minor);
        return;
    }
    str_copy(cur, currency, sizeof cur);
    for (char *p = cur; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    snprintf(out, outsz, "%s %s", num, cur);
}

static void set_money(json_t *o, const char *key, int64_t minor, const char *currency)
{
    char t[64];
    money_text(minor, currency, t, sizeof t);
    jsonx_set_str(o, key, t);
}

/* "2026-12-10T00:00:00Z" → "2026-12-10". */
static void set_date(json_t *o, const char *key, const char *iso)
{
    char d[11];
    if (iso == NULL || strlen(iso) < 10)
        return;
    memcpy(d, iso, 10);
    d[10] = '\0';
    jsonx_set_str(o, key, d);
}

/* LUMI_BASE_URL + path + id ("https://billing.example.com/client/invoices/7"). */
static void set_url(json_t *o, const char *key, const char *path, int64_t id)
{
    char url[600];
    const char *base = config_str("LUMI_BASE_URL");
    if (id > 0)
        snprintf(url, sizeof url, "%s%s%lld", base != NULL ? base : "", path, (long long)id);
    else
        snprintf(url, sizeof url, "%s%s", base != NULL ? base : "", path);
    jsonx_set_str(o, key, url);
}

/* The company's name for greetings and signatures: SMTP_FROM's display name, else "Lumi". */
static void company_name(char *out, size_t outsz)
{
    const char *from = config_str("SMTP_FROM");
    const char *lt = from != NULL ? strchr(from, '<') : NULL;
    str_copy(out, "Lumi", outsz);
    if (lt == NULL)
        return;
    const char *s = from;
    while (s < lt && (*s == ' ' || *s == '"'))
        s++;
    const char *e = lt;
    while (e > s && (e[-1] == ' ' || e[-1] == '"'))
        e--;
    if (e > s && (size_t)(e - s) < outsz) {
        memcpy(out, s, (size_t)(e - s));
        out[e - s] = '\0';
    }
}

static json_t *base_data(void)
{
    char company[128];
    json_t *d = json_object();
    if (d == NULL)
        return NULL;
    company_name(company, sizeof company);
    jsonx_set_str(d, "company", company);
    const char *base = config_str("LUMI_BASE_URL");
    jsonx_set_str(d, "base_url", base != NULL ? base : "");
    set_url(d, "client_area_url", "/client", 0);
    return d;
}

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

/* data.client from the client's row; to gets "First Last <email>". 0, or < 0 (no such client). */
static int add_client(struct db *db, json_t *data, int64_t client_id, char *to, size_t tosz,
                      struct lumi_err *err)
{
    json_t *c = clients_get(db, client_id, err);
    if (c == NULL)
        return err->code != 0 ? err->code : LUMI_ENOTFOUND;
    const char *first = json_string_value(json_object_get(c, "first_name"));
    const char *last = json_string_value(json_object_get(c, "last_name"));
    const char *email = json_string_value(json_object_get(c, "email"));
    char name[256], clean[256];
    snprintf(name, sizeof name, "%s%s%s", first != NULL ? first : "",
             str_present(first) && str_present(last) ? " " : "", last != NULL ? last : "");
    jsonx_set_str(c, "name", str_present(name) ? name : email);
    clean_name(name, clean, sizeof clean);
    if (str_present(clean))
        snprintf(to, tosz, "%s <%s>", clean, email != NULL ? email : "");
    else
        str_copy(to, email != NULL ? email : "", tosz);
    json_object_set_new(data, "client", c);
    return 0;
}

/* data.invoice with formatted amounts and its page; *client_id gets its client. */
static int add_invoice(struct db *db, json_t *data, int64_t id, int64_t *client_id,
                       struct lumi_err *err)
{
    json_t *inv = invoices_get(db, id, err);
    if (inv == NULL)
        return err->code != 0 ? err->code : LUMI_ENOTFOUND;
    const char *cur = json_string_value(json_object_get(inv, "currency"));
    int64_t total = json_integer_value(json_object_get(inv, "total"));
    int64_t paid = json_integer_value(json_object_get(inv, "amount_paid"));
    set_money(inv, "total_text", total, cur);
    set_money(inv, "paid_text", paid, cur);
    set_money(inv, "balance_text", total > paid ? total - paid : 0, cur);
    set_date(inv, "due", json_string_value(json_object_get(inv, "due_date")));
    set_url(inv, "url", "/client/invoices/", id);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(inv, "items"), i, it)
        set_money(it, "amount_text", json_integer_value(json_object_get(it, "amount")), cur);
    *client_id = json_integer_value(json_object_get(inv, "client_id"));
    json_object_set_new(data, "invoice", inv);
    return 0;
}

/* data.service with its product's name, its page and the panel's URL. */
static int add_service(struct db *db, json_t *data, int64_t id, int64_t *client_id,
                       struct lumi_err *err)
{
    json_t *svc = services_get(db, id, err);
    if (svc == NULL)
        return err->code != 0 ? err->code : LUMI_ENOTFOUND;
    json_object_del(svc, "attempts");
    json_object_del(svc, "jobs");
    struct lumi_err ignore;
    json_t *product = products_get(db, json_integer_value(json_object_get(svc, "product_id")),
                                   &ignore);
    if (product != NULL)
        jsonx_set_str(svc, "product_name", json_string_value(json_object_get(product, "name")));
    json_decref(product);
    int64_t server_id = json_integer_value(json_object_get(svc, "server_id"));
    json_t *server = server_id > 0 ? servers_get(db, server_id, &ignore) : NULL;
    if (server != NULL)
        jsonx_set_str(svc, "panel_url", json_string_value(json_object_get(server, "url")));
    json_decref(server);
    set_url(svc, "url", "/client/services/", id);
    set_date(svc, "next_due", json_string_value(json_object_get(svc, "next_due_date")));
    *client_id = json_integer_value(json_object_get(svc, "client_id"));
    json_object_set_new(data, "service", svc);
    return 0;
}

/* A suspension's reason in plain words, and what the client can do about it. */
static void add_reason(json_t *data, const char *reason)
{
    static const struct {
        const char *reason, *text, *todo;
    } R[] = {
        {"overdue", "an invoice for this service is overdue",
         "Pay the open invoice in the client area: the service is unsuspended automatically as "
         "soon as the payment arrives."},
        {"dispute", "a payment for this service was disputed with your bank or card issuer",
         "Please contact us to resolve the dispute; the service stays suspended until then."},
        {"abuse", "we received a report that the service was used against our terms of service",
         "Please contact our support team; we will look into it with you."},
        {"manual", "our staff suspended it", "Please contact our support team for details."},
    };
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++)
        if (str_eq(reason, R[i].reason)) {
            jsonx_set_str(data, "reason_text", R[i].text);
            jsonx_set_str(data, "reason_todo", R[i].todo);
            return;
        }
    jsonx_set_str(data, "reason_text", "our staff suspended it");
    jsonx_set_str(data, "reason_todo", "Please contact our support team for details.");
}

/* data.payment from a PAYMENT_* audit row's details. */
static void add_payment(json_t *data, const json_t *details)
{
    json_t *p = json_object();
    const char *cur = json_string_value(json_object_get(details, "currency"));
    set_money(p, "amount_text", json_integer_value(json_object_get(details, "amount")), cur);
    jsonx_set_str(p, "gateway", json_string_value(json_object_get(details, "gateway")));
    jsonx_set_str(p, "reference", json_string_value(json_object_get(details, "gateway_ref")));
    json_object_set_new(data, "payment", p);
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

/* Renders tmpl with data and queues it to `to`: 1 queued, 0 not (already there, or a
 * rendering problem, logged), < 0 on a database error. */
static int queue(struct db *db, const struct msg *m, const char *to, const json_t *data,
                 struct lumi_err *err)
{
    struct mail_rendered r;
    char q[300];
    struct lumi_err rerr;
    err_clear(&rerr);
    if (mail_render(m->tmpl, data, &r, &rerr) != 0) {
        log_error("mail.render_failed", "template=%s event=%s error=%s", m->tmpl, m->event_key,
                  log_quote(rerr.msg, q, sizeof q));
        return 0;
    }
    struct outbox_new n = {
        .event_key = m->event_key,
        .tmpl = m->tmpl,
        .to = to,
        .client_id = m->client_id,
        .entity = m->entity,
        .entity_id = m->entity_id,
        .subject = r.subject,
        .text = r.text,
        .html = r.html,
    };
    int rc = outbox_enqueue(db, &n, err);
    mail_rendered_clear(&r);
    if (rc == LUMI_EINVAL) {
        log_warn("mail.bad_recipient", "template=%s event=%s error=%s", m->tmpl, m->event_key,
                 log_quote(err->msg, q, sizeof q));
        err_clear(err);
        return 0;
    }
    return rc;
}

/* Queues m for every address of mail.admin_to. Returns how many were queued, or < 0. */
static int queue_admins(struct db *db, const struct msg *m, const json_t *data,
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
            int rc = queue(db, m, a, data, err);
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
enum about { ABOUT_INVOICE, ABOUT_SERVICE, ABOUT_WEBHOOK };

struct rule {
    const char *action; /* exact, or a prefix+suffix pattern below */
    const char *tmpl;
    enum who who;
    enum about about;
};

static const struct rule RULES[] = {
    {"INVOICE_CREATED", "invoice_created", TO_CLIENT, ABOUT_INVOICE},
    {"PAYMENT_RECEIVED", "payment_receipt", TO_CLIENT, ABOUT_INVOICE},
    {"PAYMENT_REFUNDED", "refund_issued", TO_CLIENT, ABOUT_INVOICE},
    {"PAYMENT_DISPUTED", "admin_dispute_opened", TO_ADMINS, ABOUT_INVOICE},
    {"SERVICE_PROVISIONED", "service_ready", TO_CLIENT, ABOUT_SERVICE},
    {"SERVICE_SUSPENDED", "service_suspended", TO_CLIENT, ABOUT_SERVICE},
    {"SERVICE_UNSUSPENDED", "service_unsuspended", TO_CLIENT, ABOUT_SERVICE},
    {"SERVICE_TERMINATED", "service_terminated", TO_CLIENT, ABOUT_SERVICE},
    {"WEBHOOK_FAILED", "admin_webhook_failed", TO_ADMINS, ABOUT_WEBHOOK},
};
static const struct rule JOB_FAILED = {"SERVICE_*_FAILED", "admin_job_failed", TO_ADMINS,
                                       ABOUT_SERVICE};

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

/* Queues what one audit row causes. Returns messages queued, or < 0 on a database error. */
static int handle(struct db *db, const struct rule *r, const struct audit_ev *ev,
                  struct lumi_err *err)
{
    char key[48], to[600], q[300];
    int64_t client_id = 0;
    int rc = 0;
    json_t *data = base_data();
    if (data == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    snprintf(key, sizeof key, "audit:%lld", (long long)ev->id);
    json_object_set(data, "event", ev->details);
    jsonx_set_str(data, "action", ev->action);
    if (r->about == ABOUT_INVOICE)
        rc = add_invoice(db, data, ev->entity_id, &client_id, err);
    else if (r->about == ABOUT_SERVICE)
        rc = add_service(db, data, ev->entity_id, &client_id, err);
    if (rc == 0 && client_id > 0)
        rc = add_client(db, data, client_id, to, sizeof to, err);
    if (rc == LUMI_ENOTFOUND) {
        log_warn("mail.event_skipped", "audit_id=%lld action=%s error=%s", (long long)ev->id,
                 ev->action, log_quote(err->msg, q, sizeof q));
        err_clear(err);
        json_decref(data);
        return 0;
    }
    if (rc < 0)
        goto out;
    if (str_starts_with(ev->action, "PAYMENT_"))
        add_payment(data, ev->details);
    if (str_eq(ev->action, "SERVICE_SUSPENDED"))
        add_reason(data, json_string_value(json_object_get(ev->details, "reason")));
    if (r == &JOB_FAILED)
        set_url(data, "admin_url", "/admin/services/", ev->entity_id);
    if (r->about == ABOUT_WEBHOOK)
        set_url(data, "admin_url", "/admin/webhook-events/", ev->entity_id);
    if (r->about == ABOUT_INVOICE && r->who == TO_ADMINS)
        set_url(data, "admin_url", "/admin/invoices/", ev->entity_id);
    struct msg m = {key, r->tmpl, ev->entity, ev->entity_id, r->who == TO_CLIENT ? client_id : 0};
    if (r->who == TO_ADMINS)
        rc = queue_admins(db, &m, data, err);
    else if (client_id > 0)
        rc = queue(db, &m, to, data, err);
out:
    json_decref(data);
    return rc;
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
        /* Only rows that may mail need their details parsed. */
        if (rule_for(e->action) != NULL && details != NULL)
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

int notify_pump(struct db *db, int max_rows, int *queued, struct lumi_err *err)
{
    struct audit_ev *evs = NULL;
    size_t n = 0;
    int64_t cursor = 0;
    int total = 0;
    if (queued != NULL)
        *queued = 0;
    if (max_rows < 1)
        max_rows = 1;
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = db_query_int64(db, db_kind(db) == DB_POSTGRES ? SQL_CURSOR_PG : SQL_CURSOR_SQLITE, 0,
                        NULL, &cursor, err);
    if (rc == 0)
        rc = read_rows(db, cursor, max_rows, &evs, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct rule *r = rule_for(evs[i].action);
        if (r == NULL || !wanted(r, &evs[i]) || nothing_to_pay(&evs[i]) || !enabled(db, r->tmpl))
            continue;
        int q = handle(db, r, &evs[i], err);
        if (q < 0)
            rc = q;
        else
            total += q;
    }
    if (rc == 0 && n > 0) {
        char last[24], now[UTC_ISO_LEN];
        snprintf(last, sizeof last, "%lld", (long long)evs[n - 1].id);
        utc_now_iso(now);
        const char *p[] = {last, now};
        rc = db_execp(db, SQL_CURSOR_SET, 2, p, NULL, err);
    }
    if (rc == 0)
        rc = db_commit(db, err);
    ev_clear(evs, n);
    if (rc != 0) {
        db_rollback(db);
        return rc;
    }
    if (queued != NULL)
        *queued = total;
    return (int)n;
}

/* --- dated notices -------------------------------------------------------------------- */

/* Parses "1,5" into ascending distinct days (at most max); returns the count. */
static int parse_days(const char *list, int64_t *days, int max)
{
    int n = 0;
    const char *p = list;
    while (*p && n < max) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strspn(p, "0123456789");
        int64_t d;
        if (len == 0)
            break;
        if (str_to_i64(p, len, 1, 365, &d) == 0) {
            int i = n;
            while (i > 0 && days[i - 1] > d) {
                days[i] = days[i - 1];
                i--;
            }
            if (i == 0 || days[i - 1] != d) {
                days[i] = d;
                n++;
            } else {
                memmove(&days[i], &days[i + 1], (size_t)(n - i) * sizeof *days);
            }
        }
        p += len;
    }
    return n;
}

/* Queues tmpl for every unpaid invoice due in (from, to] made before made_before. */
static int notices(struct db *db, const char *tmpl, const char *key_prefix, int64_t days,
                   int64_t from, int64_t to, int64_t made_before, bool dry_run, FILE *plan,
                   int *count, struct lumi_err *err)
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
        int64_t client_id = 0;
        json_t *data = base_data();
        if (data == NULL) {
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
            break;
        }
        snprintf(key, sizeof key, "%s:%lld", key_prefix, (long long)ids[i]);
        jsonx_set_int(data, "days", days);
        rc = add_invoice(db, data, ids[i], &client_id, err);
        if (rc == 0)
            rc = add_client(db, data, client_id, addr, sizeof addr, err);
        if (rc == 0 && plan != NULL)
            fprintf(plan, "%s invoice %s to %s\n", tmpl,
                    json_string_value(json_object_get(json_object_get(data, "invoice"), "number")),
                    json_string_value(json_object_get(json_object_get(data, "client"), "email")));
        if (rc == 0 && dry_run)
            (*count)++;
        else if (rc == 0) {
            struct msg m = {key, tmpl, "invoice", ids[i], client_id};
            rc = queue(db, &m, addr, data, err);
            if (rc > 0) {
                *count += rc;
                rc = 0;
            }
        }
        json_decref(data);
    }
    free(ids);
    return rc < 0 ? rc : 0;
}

int notify_reminders(struct db *db, int64_t now, bool dry_run, FILE *plan, int *queued,
                     struct lumi_err *err)
{
    char list[64];
    int64_t days[OVERDUE_DAYS_MAX], before = 0;
    int count = 0;
    *queued = 0;
    int rc = db_begin(db, err);
    if (rc != 0)
        return rc;
    rc = settings_reg_int(db, "mail.reminder_days_before", &before, err);
    if (rc == 0 && before > 0 && enabled(db, "invoice_reminder"))
        rc = notices(db, "invoice_reminder", "reminder", before, now, now + before * DAY_S,
                     now - DAY_S, dry_run, plan, &count, err);
    if (rc == 0)
        rc = settings_reg_text(db, "mail.overdue_notice_days", list, sizeof list, err);
    int nd = rc == 0 ? parse_days(list, days, OVERDUE_DAYS_MAX) : 0;
    for (int i = 0; rc == 0 && i < nd && enabled(db, "invoice_overdue"); i++) {
        char prefix[24];
        snprintf(prefix, sizeof prefix, "overdue%lld", (long long)days[i]);
        /* due in (now - d - grace, now - d]: the notice's day came within the grace. */
        rc = notices(db, "invoice_overdue", prefix, days[i],
                     now - (days[i] + LATE_GRACE_DAYS) * DAY_S, now - days[i] * DAY_S, now,
                     dry_run, plan, &count, err);
    }
    if (rc == 0 && !dry_run)
        rc = db_commit(db, err);
    if (rc != 0 || dry_run)
        db_rollback(db);
    if (rc == 0)
        *queued = count;
    return rc;
}
