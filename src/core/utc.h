/*
 * utc.h — time in UTC, as seconds since the epoch and as ISO-8601 text.
 *
 * Lumi stores every time as "YYYY-MM-DDTHH:MM:SSZ" (sorts lexically, same on
 * both database engines) and never uses the local time zone.
 */
#ifndef LUMI_CORE_UTC_H
#define LUMI_CORE_UTC_H

#include <stdint.h>

#include "core/err.h"

#define UTC_ISO_LEN 21 /* "2026-11-24T21:13:38Z" + NUL */

/** Seconds since the epoch, now. */
int64_t utc_now(void);

/** Milliseconds from a monotonic clock (for durations, never for timestamps). */
int64_t utc_monotonic_ms(void);

/** Formats t as "YYYY-MM-DDTHH:MM:SSZ". Returns 0 or LUMI_EINVAL (year out of 0..9999). */
int utc_format(int64_t t, char out[UTC_ISO_LEN]);

/** utc_format(utc_now()). */
void utc_now_iso(char out[UTC_ISO_LEN]);

/**
 * Parses "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS" followed by optional fraction
 * and "Z" or "+hh:mm"/"-hh:mm" (a bare date-time is taken as UTC). Validates
 * ranges (month 1-12, day within month, leap years). Returns 0 or LUMI_EINVAL.
 */
int utc_parse(const char *s, int64_t *t, struct lumi_err *err);

/** Adds whole months to a UTC date, clamping the day to the month's length
 *  (Jan 31 + 1 month = Feb 28/29). Used by billing cycles. */
int64_t utc_add_months(int64_t t, int months);

#endif
