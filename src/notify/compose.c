/*
 * compose.c — a queued message rendered as it is sent (see notify.h,
 * notify_render): the data its templates see, built from the event that
 * caused it (the audit row's details) and the domain's own getters
 * (invoices_get, clients_get, services_get, products_get, servers_get) as
 * they stand when the message is first sent, then mail_render.
 *
 * Threading: no state of its own; uses only the connection it is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/clients.h"
#include "billing/invoice_docs.h"
#include "billing/invoices.h"
#include "billing/products.h"
#include "core/config.h"
#include "core/json.h"
#include "core/money.h"
#include "core/str.h"
#include "mail/render.h"
#include "notify/notify.h"
#include "provisioning/servers.h"
#include "provisioning/services.h"

#define DETAILS_DEPTH 32

static const char SQL_AUDIT_ROW[] =
    "SELECT action, entity, entity_id, details FROM audit_log WHERE id = $1";

/* --- data for the templates ----------------------------------------------------- */

static void set_money(json_t *o, const char *key, int64_t minor, const char *currency)
{
    char t[64];
    money_format_text(minor, currency, t, sizeof t);
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

json_t *notify_mail_data(void)
{
    return base_data();
}

/* data.client from the client's row. 0, or < 0 (no such client). */
static int add_client(struct db *db, json_t *data, int64_t client_id, struct lumi_err *err)
{
    json_t *c = clients_get(db, client_id, err);
    if (c == NULL)
        return err->code != 0 ? err->code : LUMI_ENOTFOUND;
    const char *first = json_string_value(json_object_get(c, "first_name"));
    const char *last = json_string_value(json_object_get(c, "last_name"));
    const char *email = json_string_value(json_object_get(c, "email"));
    char name[256];
    snprintf(name, sizeof name, "%s%s%s", first != NULL ? first : "",
             str_present(first) && str_present(last) ? " " : "", last != NULL ? last : "");
    jsonx_set_str(c, "name", str_present(name) ? name : email);
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

/* --- one message ------------------------------------------------------------------ */

/* The event of "audit:ID": data.event (its details), data.action, and what it is about. */
static int audit_data(struct db *db, int64_t audit_id, const char *tmpl, json_t *data,
                      struct lumi_err *err)
{
    char action[64] = "", entity[32] = "";
    int64_t entity_id = 0, client_id = 0;
    json_t *details = NULL;
    struct db_stmt *st = db_prepare(db, SQL_AUDIT_ROW, err);
    if (st == NULL)
        return LUMI_EDB;
    db_bind_int64(st, 1, audit_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW) {
        const char *eid = db_col_text(st, 2), *d = db_col_text(st, 3);
        str_copy(action, db_col_text(st, 0) ? db_col_text(st, 0) : "", sizeof action);
        str_copy(entity, db_col_text(st, 1) ? db_col_text(st, 1) : "", sizeof entity);
        if (eid == NULL || str_to_i64z(eid, 0, INT64_MAX, &entity_id) != 0)
            entity_id = 0;
        details = d != NULL ? jsonx_parse(d, strlen(d), DETAILS_DEPTH, NULL) : NULL;
    }
    db_finalize(st);
    if (rc == DB_DONE)
        return err_set(err, LUMI_ENOTFOUND, "audit row %lld is gone", (long long)audit_id);
    if (rc < 0)
        return rc;
    json_object_set_new(data, "event", details != NULL ? details : json_object());
    details = json_object_get(data, "event");
    jsonx_set_str(data, "action", action);
    if (str_eq(entity, "invoice"))
        rc = add_invoice(db, data, entity_id, &client_id, err);
    else if (str_eq(entity, "service"))
        rc = add_service(db, data, entity_id, &client_id, err);
    else
        rc = 0;
    if (rc == 0 && client_id > 0)
        rc = add_client(db, data, client_id, err);
    if (rc != 0)
        return rc;
    if (str_starts_with(action, "PAYMENT_"))
        add_payment(data, details);
    if (str_eq(action, "SERVICE_SUSPENDED"))
        add_reason(data, json_string_value(json_object_get(details, "reason")));
    if (str_starts_with(tmpl, "admin_")) {
        if (str_eq(entity, "service"))
            set_url(data, "admin_url", "/admin/services/", entity_id);
        else if (str_eq(entity, "invoice"))
            set_url(data, "admin_url", "/admin/invoices/", entity_id);
        else if (str_eq(entity, "webhook_event"))
            set_url(data, "admin_url", "/admin/webhook-events/", entity_id);
    }
    return 0;
}

/* A dated notice "reminder:INV" or "overdueD:INV": the invoice, its client, D days. */
static int notice_data(struct db *db, const char *key, json_t *data, struct lumi_err *err)
{
    const char *colon = strchr(key, ':');
    int64_t invoice_id = 0, days = 0, client_id = 0;
    if (colon == NULL || str_to_i64z(colon + 1, 1, INT64_MAX, &invoice_id) != 0)
        return err_set(err, LUMI_EINVAL, "unknown event '%.60s'", key);
    if (str_starts_with(key, "overdue") &&
        str_to_i64(key + 7, (size_t)(colon - key - 7), 1, 365, &days) != 0)
        return err_set(err, LUMI_EINVAL, "unknown event '%.60s'", key);
    jsonx_set_int(data, "days", days);
    int rc = add_invoice(db, data, invoice_id, &client_id, err);
    return rc == 0 ? add_client(db, data, client_id, err) : rc;
}

int notify_render(struct db *db, const char *event_key, const char *tmpl,
                  struct mail_rendered *out, struct lumi_err *err)
{
    int64_t audit_id = 0;
    int rc;
    memset(out, 0, sizeof *out);
    json_t *data = base_data();
    if (data == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    if (str_starts_with(event_key, "audit:")) {
        rc = str_to_i64z(event_key + 6, 1, INT64_MAX, &audit_id) == 0
                 ? audit_data(db, audit_id, tmpl, data, err)
                 : err_set(err, LUMI_EINVAL, "unknown event '%.60s'", event_key);
    } else if (str_starts_with(event_key, "reminder:") ||
               str_starts_with(event_key, "overdue")) {
        rc = notice_data(db, event_key, data, err);
    } else {
        rc = 0; /* a message of its own (a test): the base data */
    }
    if (rc == 0)
        rc = mail_render(tmpl, data, out, err);
    json_decref(data);
    return rc;
}

/* --- attachments (issue 14) ------------------------------------------------------ */

/* The invoice mails carry the invoice's PDF: the invoice of the "audit:ID" event,
 * or 0 when tmpl is not one of them or the event is not about an invoice. */
static int64_t attached_invoice(struct db *db, const char *event_key, const char *tmpl,
                                struct lumi_err *err)
{
    int64_t audit_id = 0, invoice_id = 0;
    if (!str_eq(tmpl, "invoice_created") && !str_eq(tmpl, "payment_receipt"))
        return 0;
    if (!str_starts_with(event_key, "audit:") ||
        str_to_i64z(event_key + 6, 1, INT64_MAX, &audit_id) != 0)
        return 0;
    struct db_stmt *st = db_prepare(db, SQL_AUDIT_ROW, err);
    if (st == NULL)
        return LUMI_EDB;
    db_bind_int64(st, 1, audit_id);
    int rc = db_step(st, err);
    if (rc == DB_ROW && str_eq(db_col_text(st, 1), "invoice") && db_col_text(st, 2) != NULL &&
        str_to_i64z(db_col_text(st, 2), 1, INT64_MAX, &invoice_id) != 0)
        invoice_id = 0;
    db_finalize(st);
    return rc < 0 ? rc : invoice_id;
}

int notify_attach(struct db *db, const struct outbox_msg *m,
                  struct mail_file files[MAIL_ATTACH_MAX], size_t *n, struct lumi_err *err)
{
    json_t *list = jsonx_parse(m->attachments, strlen(m->attachments), 4, err);
    size_t i;
    json_t *a;
    int rc = list != NULL && json_is_array(list)
                 ? 0
                 : err_set(err, LUMI_EINVAL, "the message's attachments are not a list");
    *n = 0;
    json_array_foreach(list, i, a)
    {
        int64_t invoice_id = json_integer_value(json_object_get(a, "invoice_pdf"));
        if (rc != 0 || *n >= MAIL_ATTACH_MAX)
            break;
        if (invoice_id <= 0) {
            rc = err_set(err, LUMI_EINVAL, "unknown attachment in message %lld", (long long)m->id);
            break;
        }
        struct mail_file *f = &files[*n];
        buf_init(&f->data, INVOICE_DOCS_PDF_MAX);
        f->content_type = "application/pdf";
        rc = invoice_docs_invoice_pdf(db, invoice_id, 0, &f->data, f->filename, err);
        (*n)++;
    }
    json_decref(list);
    return rc;
}

int notify_compose(struct db *db, struct outbox_msg *m, struct lumi_err *err)
{
    struct mail_rendered r;
    char attach[64];
    int64_t invoice_id = attached_invoice(db, m->event_key, m->tmpl, err);
    if (invoice_id < 0)
        return (int)invoice_id;
    int rc = notify_render(db, m->event_key, m->tmpl, &r, err);
    if (rc != 0)
        return rc;
    if (invoice_id > 0) {
        snprintf(attach, sizeof attach, "[{\"invoice_pdf\": %lld}]", (long long)invoice_id);
        char *copy = str_dup(attach);
        if (copy == NULL) {
            mail_rendered_clear(&r);
            return err_set(err, LUMI_ENOMEM, "out of memory");
        }
        free(m->attachments);
        m->attachments = copy;
    }
    free(m->subject);
    free(m->text);
    free(m->html);
    m->subject = r.subject;
    m->text = r.text;
    m->html = r.html;
    return 0;
}

json_t *notify_email_view(struct db *db, int64_t id, struct lumi_err *err)
{
    struct mail_rendered r;
    json_t *m = outbox_get(db, id, err);
    if (m == NULL)
        return NULL;
    bool rendered = json_is_string(json_object_get(m, "subject"));
    jsonx_set_bool(m, "rendered", rendered);
    if (rendered)
        return m;
    struct lumi_err rerr;
    err_clear(&rerr);
    const char *key = json_string_value(json_object_get(m, "event_key"));
    const char *tmpl = json_string_value(json_object_get(m, "template"));
    if (notify_render(db, key != NULL ? key : "", tmpl != NULL ? tmpl : "", &r, &rerr) != 0) {
        jsonx_set_str(m, "render_error", rerr.msg);
        return m;
    }
    jsonx_set_str(m, "subject", r.subject);
    jsonx_set_str(m, "body_text", r.text);
    if (r.html != NULL)
        jsonx_set_str(m, "body_html", r.html);
    mail_rendered_clear(&r);
    return m;
}
