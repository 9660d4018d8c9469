/*
 * credit_notes.c — credit notes against invoices (see credit_notes.h).
 *
 * Owns the SQL over `credit_notes`. A note is made inside one transaction
 * with everything it depends on: the invoice row is read FOR UPDATE on
 * PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers), so two
 * admins crediting the same invoice at once cannot both use the same
 * headroom; the number comes from docnum in the same transaction, so a
 * refused or rolled-back note gives its number back.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/credit_notes.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/docnum.h"
#include "billing/listing.h"
#include "billing/parties.h"
#include "core/json.h"
#include "core/money.h"
#include "core/numfmt.h"
#include "core/utc.h"
#include "db/rowjson.h"
#include "events/events.h"

#define INVOICE_COLUMNS "client_id, currency, total, tax, amount_paid, number, amount_refunded"

static const char SQL_INVOICE[] = "SELECT " INVOICE_COLUMNS " FROM invoices WHERE id = $1";
static const char SQL_INVOICE_LOCKED[] =
    "SELECT " INVOICE_COLUMNS " FROM invoices WHERE id = $1 FOR UPDATE";
/* The notes an admin made (a refund's note is counted in amount_refunded instead). */
static const char SQL_CREDITED[] = "SELECT COALESCE(SUM(amount), 0) FROM credit_notes"
                                   " WHERE invoice_id = $1 AND transaction_id IS NULL";
static const char SQL_OF_TX[] = "SELECT id FROM credit_notes WHERE transaction_id = $1";
static const char SQL_INSERT[] =
    "INSERT INTO credit_notes (number, invoice_id, client_id, currency, amount, tax, reason,"
    " transaction_id, seller, buyer, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

#define NOTE_COLUMNS                                                                               \
    "n.id, n.number, n.invoice_id, i.number AS invoice_number, n.client_id, n.currency,"           \
    " n.amount, n.tax, n.reason, n.transaction_id, n.created_at"
static const char SQL_GET[] = "SELECT " NOTE_COLUMNS ", n.seller, n.buyer FROM credit_notes n"
                              " JOIN invoices i ON i.id = n.invoice_id WHERE n.id = $1";
static const char SQL_LIST[] = "SELECT " NOTE_COLUMNS " FROM credit_notes n"
                               " JOIN invoices i ON i.id = n.invoice_id"
                               " WHERE n.id > $1 ORDER BY n.id LIMIT $2";
static const char SQL_OF_INVOICE[] =
    "SELECT id, number, amount, tax, reason, transaction_id, created_at FROM credit_notes"
    " WHERE invoice_id = $1 ORDER BY id";

static const char *const NOTE_INTS[] = {"id",  "invoice_id",     "client_id", "amount",
                                        "tax", "transaction_id", NULL};

/* What a note needs of its invoice. */
struct inv_facts {
    int64_t client_id, total, tax, paid, refunded, credited;
    char currency[8];
    char number[NUMFMT_OUT_MAX];
};

/* A note about to be written. */
struct note_in {
    int64_t invoice_id, amount, transaction_id; /* transaction_id 0: a manual note */
    const char *reason;
};

static int nomem(struct lumi_err *err)
{
    return err_set(err, LUMI_ENOMEM, "out of memory");
}

/* The invoice's facts and the sum of its notes, its row locked on PostgreSQL. */
static int load_invoice(struct db *db, int64_t id, struct inv_facts *f, struct lumi_err *err)
{
    char idtext[24];
    int rc;
    struct db_stmt *st =
        db_prepare(db, db_kind(db) == DB_POSTGRES ? SQL_INVOICE_LOCKED : SQL_INVOICE, err);
    if (st == NULL)
        return err->code != 0 ? err->code : LUMI_EDB;
    if (db_bind_int64(st, 1, id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step(st, err);
    if (rc == DB_DONE)
        rc = err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " not found", id);
    if (rc != DB_ROW)
        goto out;
    f->client_id = db_col_int64(st, 0);
    snprintf(f->currency, sizeof f->currency, "%s", db_col_text(st, 1));
    f->total = db_col_int64(st, 2);
    f->tax = db_col_int64(st, 3);
    f->paid = db_col_int64(st, 4);
    f->refunded = db_col_int64(st, 6);
    snprintf(f->number, sizeof f->number, "%s", db_col_text(st, 5));
    db_finalize(st);
    st = NULL;
    snprintf(idtext, sizeof idtext, "%" PRId64, id);
    const char *params[] = {idtext};
    rc = db_query_int64(db, SQL_CREDITED, 1, params, &f->credited, err);
out:
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* tax × amount / total rounded half away from zero (all three >= 0 here). */
static int64_t tax_part(int64_t amount, int64_t tax, int64_t total)
{
    if (total <= 0 || tax <= 0 || amount <= 0)
        return 0;
    __int128 num = (__int128)amount * tax;
    __int128 q = (2 * num + total) / (2 * (__int128)total);
    return q > amount ? amount : (int64_t)q;
}

static int insert_note(struct db *db, const struct note_in *n, const struct inv_facts *f,
                       const char *number, int64_t tax, const char *seller, const char *buyer,
                       int64_t *id, struct lumi_err *err)
{
    char now[UTC_ISO_LEN];
    int rc;
    utc_now_iso(now);
    struct db_stmt *st = db_prepare(db, SQL_INSERT, err);
    if (st == NULL)
        return err->code != 0 ? err->code : LUMI_EDB;
    if (db_bind_text(st, 1, number) < 0 || db_bind_int64(st, 2, n->invoice_id) < 0 ||
        db_bind_int64(st, 3, f->client_id) < 0 || db_bind_text(st, 4, f->currency) < 0 ||
        db_bind_int64(st, 5, n->amount) < 0 || db_bind_int64(st, 6, tax) < 0 ||
        db_bind_text(st, 7, n->reason) < 0 ||
        (n->transaction_id > 0 ? db_bind_int64(st, 8, n->transaction_id) : db_bind_null(st, 8)) <
            0 ||
        db_bind_text(st, 9, seller) < 0 || db_bind_text(st, 10, buyer) < 0 ||
        db_bind_text(st, 11, now) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    rc = db_step_id(st, "a credit note", id, err);
out:
    db_finalize(st);
    return rc;
}

/* The seller and buyer frozen on the invoice, else (an older invoice) as they are now. */
static int note_parties(struct db *db, int64_t invoice_id, int64_t client_id, char **seller,
                        char **buyer, struct lumi_err *err)
{
    int rc = parties_of_invoice(db, invoice_id, seller, buyer, err);
    if (rc < 0)
        return rc;
    if (*seller == NULL) {
        json_t *s = parties_seller(db, err);
        *seller = s != NULL ? json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(s);
    }
    if (*buyer == NULL) {
        json_t *b = parties_buyer(db, client_id, err);
        *buyer = b != NULL ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(b);
    }
    if (*seller == NULL || *buyer == NULL)
        return err->code != 0 ? err->code : nomem(err);
    return 0;
}

/* Inside the open transaction: numbers, writes and audits note n against f. */
static int make_note(struct db *db, const struct audit_actor *actor, const struct note_in *n,
                     const struct inv_facts *f, int64_t *id_out, struct lumi_err *err)
{
    char number[NUMFMT_OUT_MAX];
    char *seller = NULL, *buyer = NULL;
    json_t *details = NULL;
    int64_t id = 0, tax = tax_part(n->amount, f->tax, f->total);
    int rc = note_parties(db, n->invoice_id, f->client_id, &seller, &buyer, err);
    if (rc < 0)
        goto out;
    rc = docnum_take(db, "credit_note", utc_now(), number, sizeof number, err);
    if (rc < 0)
        goto out;
    rc = insert_note(db, n, f, number, tax, seller, buyer, &id, err);
    if (rc < 0)
        goto out;
    details = json_pack("{s:s, s:I, s:s, s:I, s:I, s:s, s:s}", "number", number, "invoice_id",
                        (json_int_t)n->invoice_id, "invoice_number", f->number, "amount",
                        (json_int_t)n->amount, "tax", (json_int_t)tax, "currency", f->currency,
                        "reason", n->reason);
    if (details == NULL || (n->transaction_id > 0 &&
                            jsonx_set_int(details, "transaction_id", n->transaction_id) < 0)) {
        rc = nomem(err);
        goto out;
    }
    rc = audit_append_id(db, actor, "CREDIT_NOTE_CREATED", "credit_note", id, details, err);
    if (rc == 0) /* outgoing event (issue 16): the audit details with the note's id */
        rc = events_emit(db, "credit_note.created", "credit_note", id,
                         json_pack("{s:I, s:s, s:O}", "id", (json_int_t)id, "object",
                                   "credit_note", "details", details),
                         err);
    if (rc == 0 && id_out != NULL)
        *id_out = id;
out:
    json_decref(details);
    free(seller);
    free(buyer);
    return rc < 0 ? rc : 0;
}

int credit_notes_for_refund(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                            int64_t transaction_id, int64_t amount, const char *reason,
                            int64_t *id_out, struct lumi_err *err)
{
    char txtext[24];
    struct inv_facts f = {0};
    int64_t existing = 0;
    if (id_out != NULL)
        *id_out = 0;
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "credit_notes_for_refund needs an open transaction");
    if (transaction_id <= 0 || amount <= 0)
        return err_set(err, LUMI_EINTERNAL, "a refund's credit note needs its transaction");
    snprintf(txtext, sizeof txtext, "%" PRId64, transaction_id);
    const char *params[] = {txtext};
    int rc = db_query_int64_opt(db, SQL_OF_TX, 1, params, &existing, err);
    if (rc != 0)
        return rc < 0 ? rc : 0; /* already documented: a replay makes none */
    rc = load_invoice(db, invoice_id, &f, err);
    if (rc < 0)
        return rc;
    struct note_in n = {invoice_id, amount, transaction_id,
                        reason != NULL && reason[0] != '\0' ? reason : "Refund"};
    return make_note(db, actor, &n, &f, id_out, err);
}

/*
 * The manual rule: amount <= paid - refunded - the admins' earlier notes (the
 * money the invoice still holds; refunds and chargebacks are in refunded, and
 * a refund has its own note already); LUMI_EINVAL naming the field otherwise.
 */
static int check_headroom(const struct inv_facts *f, int64_t amount, struct lumi_err *err)
{
    int64_t room = f->paid - f->refunded - f->credited;
    if (room < 0)
        room = 0;
    if (amount <= room)
        return 0;
    return err_set(err, LUMI_EINVAL,
                   "field 'amount': at most %" PRId64
                   " %s can be credited on invoice %s (paid %" PRId64 ", minus %" PRId64
                   " refunded, minus %" PRId64 " in earlier credit notes), got %" PRId64,
                   room, f->currency, f->number, f->paid, f->refunded, f->credited, amount);
}

json_t *credit_notes_create_json(struct db *db, const struct audit_actor *actor, int64_t invoice_id,
                                 const json_t *body, struct lumi_err *err)
{
    static const char *const allowed[] = {"amount", "reason", NULL};
    struct lumi_err local;
    struct inv_facts f = {0};
    const char *reason = NULL;
    int64_t amount = 0, id = 0;
    bool in_tx = false;
    json_t *result = NULL;
    if (err == NULL)
        err = &local;
    err_clear(err);
    if (!json_is_object(body)) {
        err_set(err, LUMI_EINVAL, "the body must be a JSON object {amount, reason}");
        return NULL;
    }
    if (jsonx_check_keys(body, allowed, err) < 0 ||
        jsonx_take_int(body, "amount", true, 1, MONEY_AMOUNT_MAX, &amount, err) < 0 ||
        jsonx_take_str(body, "reason", true, CREDIT_NOTE_REASON_MAX, &reason, err) < 0)
        goto out;
    if (reason[strspn(reason, " \t\r\n")] == '\0') {
        err_set(err, LUMI_EINVAL, "field 'reason' must not be empty");
        goto out;
    }
    if (db_begin(db, err) < 0)
        goto out;
    in_tx = true;
    if (load_invoice(db, invoice_id, &f, err) < 0 || check_headroom(&f, amount, err) < 0)
        goto out;
    struct note_in n = {invoice_id, amount, 0, reason};
    if (make_note(db, actor, &n, &f, &id, err) < 0 || db_commit(db, err) < 0)
        goto out;
    in_tx = false;
    result = credit_notes_get(db, id, err);
out:
    if (in_tx)
        db_rollback(db);
    return result;
}

/* The stored JSON text of column col of o as a value (null when absent). */
static int parse_member(json_t *o, const char *key)
{
    const char *text = json_string_value(json_object_get(o, key));
    json_t *v = text != NULL ? json_loads(text, 0, NULL) : NULL;
    return json_object_set_new(o, key, v != NULL ? v : json_null());
}

static json_t *note_row(struct db_stmt *st, struct lumi_err *err)
{
    return db_row_json(st, NOTE_INTS, err);
}

json_t *credit_notes_get(struct db *db, int64_t id, struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    json_t *o = listing_get(db, SQL_GET, id, note_row, "credit note", err);
    if (o != NULL && (parse_member(o, "seller") < 0 || parse_member(o, "buyer") < 0)) {
        json_decref(o);
        nomem(err);
        return NULL;
    }
    return o;
}

json_t *credit_notes_list(struct db *db, int64_t after_id, int limit, int64_t *next_cursor,
                          struct lumi_err *err)
{
    struct lumi_err local;
    if (err == NULL)
        err = &local;
    err_clear(err);
    return listing_page(db, SQL_LIST, after_id, limit, note_row, next_cursor, err);
}

int credit_notes_add_to_invoice_json(struct db *db, int64_t invoice_id, json_t *inv,
                                     struct lumi_err *err)
{
    int rc = 0;
    json_t *notes = json_array();
    struct db_stmt *st = notes != NULL ? db_prepare(db, SQL_OF_INVOICE, err) : NULL;
    if (st == NULL) {
        rc = notes == NULL ? nomem(err) : (err->code != 0 ? err->code : LUMI_EDB);
        goto out;
    }
    if (db_bind_int64(st, 1, invoice_id) < 0) {
        rc = err_set(err, LUMI_EDB, "cannot bind a parameter");
        goto out;
    }
    while ((rc = db_step(st, err)) == DB_ROW) {
        json_t *row = db_row_json(st, NOTE_INTS, err);
        if (row == NULL || json_array_append_new(notes, row) < 0) {
            rc = nomem(err);
            goto out;
        }
    }
    if (rc < 0)
        goto out;
    rc = json_object_set(inv, "credit_notes", notes) < 0 ? nomem(err) : 0;
out:
    db_finalize(st);
    json_decref(notes);
    return rc < 0 ? rc : 0;
}
