/*
 * tax.h — tax on invoices: which rule applies, how much, and storing it.
 *
 * The rule (also in the README, "Tax and VAT"):
 *  - The active rule for the buyer's country and region applies; a rule with
 *    the buyer's region beats the country's rule (region ''); none → no tax.
 *  - A tax-exempt buyer pays none (tax_note says so).
 *  - EU reverse charge (setting tax.eu_reverse_charge): a buyer with a tax id
 *    in an EU member state other than the seller's (company.country, itself
 *    an EU member) pays 0 % and the invoice carries the reverse-charge note.
 *  - The tax is computed once per rate on the SUM of the taxable lines (lines
 *    of taxable products; discount lines reduce that sum; credit and funds
 *    lines are payments, not prices, and are left out), in minor units,
 *    rounded half away from zero. Exclusive: tax = base × rate / 10000, the
 *    total grows by it. Inclusive: the lines already hold the tax: tax =
 *    gross − round(gross × 10000 / (10000 + rate)), base = gross − tax, the
 *    total stays the gross. Currencies without a minor unit (JPY) work the
 *    same: their minor unit is the yen.
 *
 * tax_compute is pure (no I/O); tax_apply_invoice reads the lines, buyer,
 * seller and rules inside the caller's transaction, stores invoice_taxes and
 * sets invoices.tax, tax_note and total.
 */
#ifndef LUMI_BILLING_TAX_H
#define LUMI_BILLING_TAX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "db/db.h"

#define TAX_RATE_MAX 100000 /* basis points: 1000.00 % (the column's CHECK) */
#define TAX_NAME_MAX 100
#define TAX_NOTE_MAX 200

/** The reverse-charge note printed on the invoice. */
#define TAX_NOTE_REVERSE_CHARGE                                                                    \
    "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Council Directive "        \
    "2006/112/EC)"
#define TAX_NOTE_EXEMPT "Tax exempt: no tax charged"

/** One invoice line as tax sees it. */
struct tax_line {
    int64_t amount; /* minor units; negative for discount lines */
    bool taxable;   /* false: outside the base (untaxed product, credit, funds) */
};

/** One rule (tax_rules row). Strings borrowed. */
struct tax_rule {
    int64_t id;
    const char *name;
    const char *country; /* upper-case alpha-2 */
    const char *region;  /* "" = the whole country */
    int64_t rate_bp;     /* 0..TAX_RATE_MAX */
    bool inclusive;
};

/** The buyer as tax sees it. Strings borrowed, "" when unknown. */
struct tax_buyer {
    const char *country;
    const char *region;
    const char *tax_id;
    bool exempt;
};

/** What tax_compute answers. */
struct tax_result {
    const struct tax_rule *rule; /* the rule applied (borrowed from rules), NULL: none */
    bool reverse_charge;         /* 0 % under reverse charge (rule may still be the match) */
    int64_t gross;               /* Σ taxable lines, floored at 0 */
    int64_t base;                /* the net taxable amount */
    int64_t tax;                 /* the tax amount (0 without rule) */
    int64_t subtotal;            /* Σ all lines */
    int64_t total;               /* subtotal + tax when exclusive, else subtotal */
    char note[TAX_NOTE_MAX];     /* "" or the exempt / reverse-charge note */
};

/** True when country (upper-case alpha-2) is an EU member state. */
bool tax_is_eu(const char *country);

/**
 * Rounds num / den half away from zero (den > 0). LUMI_EINVAL when the result
 * does not fit in int64.
 */
int tax_div_round(__int128 num, int64_t den, int64_t *out, struct lumi_err *err);

/**
 * The pure computation: lines, buyer, seller_country ("" = unknown: no
 * reverse charge), whether reverse charge is on, and the candidate rules
 * (inactive ones must already be left out). LUMI_EINVAL on overflow.
 */
int tax_compute(const struct tax_line *lines, size_t nlines, const struct tax_buyer *buyer,
                const char *seller_country, bool reverse_charge_on, const struct tax_rule *rules,
                size_t nrules, struct tax_result *out, struct lumi_err *err);

/**
 * Inside the caller's transaction, after the invoice's lines are written:
 * computes the tax of invoice_id from its lines (taxable = the line's
 * product is taxable, or a line without a product; kinds credit and funds
 * are out), its client, company.country and the active rules; stores the
 * invoice_taxes row (a 0 % "Reverse charge" row under reverse charge; none
 * when nothing on the invoice is taxable, or no rule) and sets invoices.tax,
 * tax_note and total. *total_out (may be NULL) gets the
 * new total.
 */
int tax_apply_invoice(struct db *db, int64_t invoice_id, int64_t *total_out, struct lumi_err *err);

/** [{name, country, region, rate_bp, inclusive, base, amount}] of an invoice. */
json_t *tax_invoice_taxes(struct db *db, int64_t invoice_id, struct lumi_err *err);

#endif
