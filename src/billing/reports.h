/*
 * reports.h — the monthly figures an accountant asks for, per currency:
 * revenue, tax collected per rate and country, refunds, chargebacks, credit
 * notes and the clients' credit balances, as JSON and as CSV.
 *
 * Read-only SQL over transactions, invoices + invoice_taxes, credit_notes
 * and credit_balances. A month is [YYYY-MM-01T00:00:00Z, next month) in UTC.
 *   revenue       payments received in the month (transactions kind payment)
 *   refunds       refunds made in the month
 *   chargebacks   chargebacks in the month less their reversals
 *   net           revenue - refunds - chargebacks
 *   taxes         invoice_taxes of the invoices paid (paid_at) in the month,
 *                 summed per (name, country, region, rate)
 *   credit_notes  credit notes issued in the month (amount gross, tax)
 *   credit_balance the clients' credit balances now (credit_balances)
 */
#ifndef LUMI_BILLING_REPORTS_H
#define LUMI_BILLING_REPORTS_H

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"
#include "db/db.h"

/**
 * The report of month ("YYYY-MM"; NULL or "" is the current month):
 * {month, from, to, currencies: [{currency, revenue, payments (count),
 * refunds, refund_count, chargebacks, net, tax_total, taxes: [{name,
 * country, region, rate_bp, inclusive, base, amount, invoices}],
 * credit_notes, credit_note_tax, credit_note_count, credit_balance,
 * credit_clients}]} — every amount in minor units, currencies in order.
 * LUMI_EINVAL naming "month" when it is not a month from 2000-01 to
 * 9999-12; LUMI_ETOOLARGE when a sum overflows. New reference.
 */
json_t *reports_month(struct db *db, const char *month, struct lumi_err *err);

/**
 * The report as CSV (RFC 4180: CRLF line ends, fields with a comma, quote
 * or line break quoted) appended to out. Header row:
 *   month,currency,category,name,country,region,rate_percent,base,amount,count
 * then per currency the rows revenue, refunds, chargebacks, net, one tax row
 * per rate (name, country, region, rate_percent "19.00", base), tax_total,
 * credit_notes, credit_balance. Amounts in major units ("119.00", "1500"
 * for JPY). 0, LUMI_ETOOLARGE or LUMI_ENOMEM.
 */
int reports_month_csv(const json_t *report, struct buf *out, struct lumi_err *err);

#endif
