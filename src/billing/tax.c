/*
 * tax.c — tax on invoices (see tax.h for the rule).
 *
 * Owns the EU member table, the pure computation tax_compute, and the SQL
 * that applies it to one invoice: reading its lines (with their product's
 * taxable flag), its client's place and tax id, the active tax_rules of that
 * country, and writing invoice_taxes and the invoice's tax, tax_note and
 * total. All money is int64 minor units; products go through __int128 and
 * every sum through __builtin_add_overflow.
 *
 * The seller's country is the setting company.country, read through the
 * settings registry; while that key is not registered (the company profile
 * is another change) it reads as "", which turns reverse charge off.
 *
 * Stateless and thread-safe: everything goes through the caller's connection.
 */
#include "billing/tax.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utc.h"
#include "settings/registry.h"

/* The 27 member states, ISO 3166-1 alpha-2 (Greece is GR here, EL in VAT ids). */
static const char *const EU_MEMBERS[] = {"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI",
                                         "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
                                         "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"};

bool tax_is_eu(const char *country)
{
    if (country == NULL)
        return false;
    for (size_t i = 0; i < sizeof EU_MEMBERS / sizeof EU_MEMBERS[0]; i++)
        if (strcmp(country, EU_MEMBERS[i]) == 0)
            return true;
    return false;
}

int tax_div_round(__int128 num, int64_t den, int64_t *out, struct lumi_err *err)
{
    if (den <= 0)
        return err_set(err, LUMI_EINTERNAL, "tax: division by %" PRId64, den);
    __int128 mag = num < 0 ? -num : num;
    __int128 q = mag / den;
    if ((mag % den) * 2 >= den)
        q += 1;
    if (num < 0)
        q = -q;
    if (q > INT64_MAX || q < INT64_MIN)
        return err_set(err, LUMI_EINVAL, "the tax amount is too large");
    *out = (int64_t)q;
    return 0;
}

static bool str_is(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

/* The active rule for the buyer's place: the region's beats the country's. */
static const struct tax_rule *match_rule(const struct tax_buyer *b, const struct tax_rule *rules,
                                         size_t nrules)
{
    const struct tax_rule *country_rule = NULL;
    if (b->country == NULL || b->country[0] == '\0')
        return NULL;
    for (size_t i = 0; i < nrules; i++) {
        const struct tax_rule *r = &rules[i];
        if (!str_is(r->country, b->country))
            continue;
        if (r->region != NULL && r->region[0] != '\0') {
            if (b->region != NULL && b->region[0] != '\0' && strcasecmp(r->region, b->region) == 0)
                return r;
        } else if (country_rule == NULL) {
            country_rule = r;
        }
    }
    return country_rule;
}

static bool reverse_charge(const struct tax_buyer *b, const char *seller, bool on)
{
    return on && b->tax_id != NULL && b->tax_id[0] != '\0' && tax_is_eu(seller) &&
           tax_is_eu(b->country) && !str_is(seller, b->country);
}

int tax_compute(const struct tax_line *lines, size_t nlines, const struct tax_buyer *buyer,
                const char *seller_country, bool reverse_charge_on, const struct tax_rule *rules,
                size_t nrules, struct tax_result *out, struct lumi_err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < nlines; i++) {
        if (__builtin_add_overflow(out->subtotal, lines[i].amount, &out->subtotal))
            return err_set(err, LUMI_EINVAL, "the invoice total is too large");
        if (lines[i].taxable && __builtin_add_overflow(out->gross, lines[i].amount, &out->gross))
            return err_set(err, LUMI_EINVAL, "the taxable amount is too large");
    }
    /* A discount larger than the taxed lines leaves nothing to tax, never a negative tax. */
    if (out->gross < 0)
        out->gross = 0;
    out->base = out->gross;
    out->total = out->subtotal;
    if (buyer->exempt) {
        snprintf(out->note, sizeof out->note, "%s", TAX_NOTE_EXEMPT);
        return 0;
    }
    out->rule = match_rule(buyer, rules, nrules);
    if (reverse_charge(buyer, seller_country, reverse_charge_on)) {
        out->reverse_charge = true;
        snprintf(out->note, sizeof out->note, "%s", TAX_NOTE_REVERSE_CHARGE);
        return 0;
    }
    if (out->rule == NULL || out->rule->rate_bp <= 0)
        return 0;
    const int64_t rate = out->rule->rate_bp;
    if (rate > TAX_RATE_MAX)
        return err_set(err, LUMI_EINVAL, "tax rule %" PRId64 ": rate_bp %" PRId64 " is too high",
                       out->rule->id, rate);
    if (!out->rule->inclusive) {
        if (tax_div_round((__int128)out->gross * rate, 10000, &out->tax, err) < 0)
            return LUMI_EINVAL;
        if (__builtin_add_overflow(out->subtotal, out->tax, &out->total))
            return err_set(err, LUMI_EINVAL, "the invoice total with tax is too large");
        return 0;
    }
    int64_t net = 0;
    if (tax_div_round((__int128)out->gross * 10000, 10000 + rate, &net, err) < 0)
        return LUMI_EINVAL;
    out->tax = out->gross - net;
    out->base = net;
    return 0;
}

/* ---- applying it to an invoice ---------------------------------------------- */

#define LINES_MAX 1000
#define RULES_MAX 200

/* A line is taxed when its product is taxable or it has none; credit and funds never. */
static const char SQL_LINES[] =
    "SELECT i.amount, CASE WHEN i.kind IN ('credit', 'funds') THEN 0"
    " WHEN p.taxable IS NULL THEN 1 ELSE p.taxable END"
    " FROM invoice_items i LEFT JOIN services s ON s.id = i.service_id"
    " LEFT JOIN products p ON p.id = s.product_id WHERE i.invoice_id = $1 ORDER BY i.id";

static const char SQL_BUYER[] =
    "SELECT UPPER(u.country), u.region, u.tax_id, u.tax_exempt FROM invoices v"
    " JOIN users u ON u.id = v.client_id WHERE v.id = $1";

static const char SQL_RULES[] =
    "SELECT id, name, country, region, rate_bp, inclusive FROM tax_rules"
    " WHERE active = 1 AND country = $1 ORDER BY id";

static const char SQL_INSERT_TAX[] =
    "INSERT INTO invoice_taxes (invoice_id, rule_id, name, country, region, rate_bp, inclusive,"
    " base, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

static const char SQL_SET_TOTALS[] =
    "UPDATE invoices SET tax = $2, tax_note = $3, total = $4 WHERE id = $1";

static const char SQL_TAXES[] =
    "SELECT name, country, region, rate_bp, inclusive, base, amount FROM invoice_taxes"
    " WHERE invoice_id = $1 ORDER BY id";

struct buyer_row {
    char country[8], region[101], tax_id[65];
    bool exempt;
};

struct rule_rows {
    struct tax_rule r[RULES_MAX];
    char names[RULES_MAX][TAX_NAME_MAX + 1];
    char regions[RULES_MAX][101];
    char countries[RULES_MAX][3];
    size_t n;
};

static int read_lines(struct db *db, int64_t id, struct tax_line **out, size_t *n,
                      struct lumi_err *err)
{
    struct tax_line *lines = calloc(LINES_MAX, sizeof *lines);
    struct db_stmt *st = NULL;
    int rc;
    *n = 0;
    if (lines == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    st = db_prepare(db, SQL_LINES, err);
    if (st == NULL) {
        rc = LUMI_EDB;
        goto out;
    }
    rc = db_bind_int64(st, 1, id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : 0;
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW) {
        if (*n == LINES_MAX) {
            rc = err_set(err, LUMI_EINVAL, "an invoice has at most %d lines", LINES_MAX);
            break;
        }
        lines[*n].amount = db_col_int64(st, 0);
        lines[*n].taxable = db_col_int64(st, 1) != 0;
        (*n)++;
        rc = 0;
    }
out:
    db_finalize(st);
    if (rc < 0) {
        free(lines);
        return rc;
    }
    *out = lines;
    return 0;
}

static int read_buyer(struct db *db, int64_t id, struct buyer_row *b, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_BUYER, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc =
        db_bind_int64(st, 1, id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : db_step(st, err);
    if (rc == DB_ROW) {
        snprintf(b->country, sizeof b->country, "%s", db_col_text(st, 0) ? db_col_text(st, 0) : "");
        snprintf(b->region, sizeof b->region, "%s", db_col_text(st, 1) ? db_col_text(st, 1) : "");
        snprintf(b->tax_id, sizeof b->tax_id, "%s", db_col_text(st, 2) ? db_col_text(st, 2) : "");
        b->exempt = db_col_int64(st, 3) != 0;
        rc = 0;
    } else if (rc == DB_DONE) {
        rc = err_set(err, LUMI_ENOTFOUND, "invoice %" PRId64 " has no client", id);
    }
    db_finalize(st);
    return rc;
}

static int read_rules(struct db *db, const char *country, struct rule_rows *rr,
                      struct lumi_err *err)
{
    rr->n = 0;
    if (country[0] == '\0')
        return 0;
    struct db_stmt *st = db_prepare(db, SQL_RULES, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = db_bind_text(st, 1, country) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : 0;
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW) {
        rc = 0;
        if (rr->n == RULES_MAX)
            break;
        size_t i = rr->n++;
        snprintf(rr->names[i], sizeof rr->names[i], "%s", db_col_text(st, 1));
        snprintf(rr->countries[i], sizeof rr->countries[i], "%s", db_col_text(st, 2));
        snprintf(rr->regions[i], sizeof rr->regions[i], "%s",
                 db_col_text(st, 3) ? db_col_text(st, 3) : "");
        rr->r[i] =
            (struct tax_rule){db_col_int64(st, 0), rr->names[i],        rr->countries[i],
                              rr->regions[i],      db_col_int64(st, 4), db_col_int64(st, 5) != 0};
    }
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

/* company.country, "" while the company profile's setting is not registered. */
static int seller_country(struct db *db, char out[8], bool *rc_on, struct lumi_err *err)
{
    struct lumi_err inner = {0};
    int rc = settings_reg_text(db, "company.country", out, 8, &inner);
    if (rc == LUMI_EINVAL || rc == LUMI_ETOOLARGE)
        out[0] = '\0';
    else if (rc < 0)
        return err_set(err, rc, "%s", inner.msg);
    for (char *p = out; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return settings_reg_bool(db, "tax.eu_reverse_charge", rc_on, err);
}

static int store(struct db *db, int64_t id, const struct tax_buyer *b, const struct tax_result *t,
                 struct lumi_err *err)
{
    if (t->rule == NULL && !t->reverse_charge)
        return 0;
    if (t->rule != NULL && t->rule->rate_bp == 0 && !t->reverse_charge)
        return 0;
    if (t->gross == 0) /* nothing taxable on the invoice: no rate to show */
        return 0;
    struct db_stmt *st = db_prepare(db, SQL_INSERT_TAX, err);
    if (st == NULL)
        return LUMI_EDB;
    const struct tax_rule *r = t->rule;
    int rc = 0;
    if (db_bind_int64(st, 1, id) < 0 ||
        (r != NULL && !t->reverse_charge ? db_bind_int64(st, 2, r->id) : db_bind_null(st, 2)) < 0 ||
        db_bind_text(st, 3, t->reverse_charge ? "Reverse charge" : r->name) < 0 ||
        db_bind_text(st, 4, t->reverse_charge ? b->country : r->country) < 0 ||
        db_bind_text(st, 5, t->reverse_charge ? "" : r->region) < 0 ||
        db_bind_int64(st, 6, t->reverse_charge ? 0 : r->rate_bp) < 0 ||
        db_bind_int64(st, 7, !t->reverse_charge && r->inclusive) < 0 ||
        db_bind_int64(st, 8, t->base) < 0 || db_bind_int64(st, 9, t->tax) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind");
    if (rc == 0)
        rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

static int set_totals(struct db *db, int64_t id, const struct tax_result *t, struct lumi_err *err)
{
    struct db_stmt *st = db_prepare(db, SQL_SET_TOTALS, err);
    if (st == NULL)
        return LUMI_EDB;
    int rc = 0;
    if (db_bind_int64(st, 1, id) < 0 || db_bind_int64(st, 2, t->tax) < 0 ||
        db_bind_text(st, 3, t->note) < 0 || db_bind_int64(st, 4, t->total) < 0)
        rc = err_set(err, LUMI_EDB, "cannot bind");
    if (rc == 0)
        rc = db_step(st, err);
    db_finalize(st);
    return rc < 0 ? rc : 0;
}

int tax_apply_invoice(struct db *db, int64_t invoice_id, int64_t *total_out, struct lumi_err *err)
{
    struct lumi_err local;
    struct tax_line *lines = NULL;
    struct rule_rows *rr = NULL;
    struct buyer_row b = {0};
    struct tax_result t;
    char seller[8] = "";
    bool rc_on = true;
    size_t n = 0;
    int rc;
    if (err == NULL)
        err = &local;
    if (!db_in_tx(db))
        return err_set(err, LUMI_EINTERNAL, "tax_apply_invoice needs an open transaction");
    rr = calloc(1, sizeof *rr);
    if (rr == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    rc = read_lines(db, invoice_id, &lines, &n, err);
    if (rc == 0)
        rc = read_buyer(db, invoice_id, &b, err);
    if (rc == 0)
        rc = read_rules(db, b.country, rr, err);
    if (rc == 0)
        rc = seller_country(db, seller, &rc_on, err);
    if (rc < 0)
        goto out;
    struct tax_buyer buyer = {b.country, b.region, b.tax_id, b.exempt};
    rc = tax_compute(lines, n, &buyer, seller, rc_on, rr->r, rr->n, &t, err);
    if (rc == 0)
        rc = store(db, invoice_id, &buyer, &t, err);
    if (rc == 0)
        rc = set_totals(db, invoice_id, &t, err);
    if (rc == 0 && total_out != NULL)
        *total_out = t.total;
out:
    free(lines);
    free(rr);
    return rc < 0 ? rc : 0;
}

json_t *tax_invoice_taxes(struct db *db, int64_t invoice_id, struct lumi_err *err)
{
    json_t *arr = json_array();
    struct db_stmt *st = db_prepare(db, SQL_TAXES, err);
    int rc = LUMI_EDB;
    if (arr == NULL || st == NULL)
        goto out;
    rc = db_bind_int64(st, 1, invoice_id) < 0 ? err_set(err, LUMI_EDB, "cannot bind") : 0;
    while (rc == 0 && (rc = db_step(st, err)) == DB_ROW) {
        json_t *row = json_pack(
            "{s:s, s:s, s:s, s:I, s:b, s:I, s:I}", "name", db_col_text(st, 0), "country",
            db_col_text(st, 1), "region", db_col_text(st, 2) ? db_col_text(st, 2) : "", "rate_bp",
            (json_int_t)db_col_int64(st, 3), "inclusive", db_col_int64(st, 4) != 0, "base",
            (json_int_t)db_col_int64(st, 5), "amount", (json_int_t)db_col_int64(st, 6));
        rc = row != NULL && json_array_append_new(arr, row) == 0
                 ? 0
                 : err_set(err, LUMI_ENOMEM, "out of memory");
    }
out:
    db_finalize(st);
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}
