/*
 * money.h — amounts as integer minor units plus an ISO 4217 currency code.
 *
 * Never floats. A currency's exponent says how many minor digits it has
 * (USD/EUR/GBP/CAD/AUD 2, JPY/KRW 0, BHD/KWD 3, ...). Currency codes are
 * accepted in either case and stored lower-case, as Stripe does ("usd").
 */
#ifndef LUMI_CORE_MONEY_H
#define LUMI_CORE_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MONEY_TEXT_MAX 32 /* enough for any int64 amount with sign and point */

/**
 * The largest amount of one invoice, item, price or payment, in minor units
 * of any currency (10^12: ten thousand million dollars or euros, a million
 * million yen). Far above any real bill and far below int64, so sums over
 * millions of invoices cannot overflow (issue 17, finding 10).
 */
#define MONEY_AMOUNT_MAX INT64_C(1000000000000)

/** Minor-unit exponent of a known currency, or -1 if the code is unknown. */
int money_exponent(const char *currency);

/** True for a known three-letter code (either case). */
bool money_currency_valid(const char *currency);

/** Writes the lower-case form of a known code into out[4]; LUMI_EINVAL if unknown. */
int money_currency_normalize(const char *currency, char out[4]);

/**
 * Parses a decimal major-unit amount: "15", "15.5", "15.00", "-0.05" for USD;
 * "1500" for JPY. Rejects empty text, spaces, '+', exponents, thousands
 * separators, a lone or trailing point, more decimals than the currency has,
 * and values outside int64. Returns 0 or LUMI_EINVAL with a readable message.
 */
int money_parse(const char *text, const char *currency, int64_t *minor, struct lumi_err *err);

/** Formats minor units as a major-unit decimal: 1500 usd → "15.00", 1500 jpy → "1500",
 *  -5 usd → "-0.05". Works for INT64_MIN. Returns 0, or LUMI_EINVAL (unknown currency,
 *  out too small). */
int money_format(int64_t minor, const char *currency, char *out, size_t outsz);

/** "15.00 USD" from minor units and a currency code (upper-cased), for people to read
 *  (pages, mail); the bare integer for an unknown currency. Cut to outsz. */
void money_format_text(int64_t minor, const char *currency, char *out, size_t outsz);

#endif
