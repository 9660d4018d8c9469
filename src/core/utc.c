/*
 * utc.c — UTC clock, ISO-8601 text and calendar arithmetic (see utc.h).
 *
 * Owns its own proleptic-Gregorian civil-date math (Howard Hinnant's
 * days_from_civil / civil_from_days), so nothing depends on TZ, the C
 * library's time zone database or locale. Stateless and thread-safe.
 */
#include "core/utc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SECS_PER_DAY 86400

struct civil {
    int64_t year;
    int month; /* 1..12 */
    int day;   /* 1..31 */
};

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : days[m - 1];
}

/* Floor division, for days before the epoch. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t days_from_civil(struct civil c)
{
    int64_t y = c.month <= 2 ? c.year - 1 : c.year;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t mp = (c.month + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + c.day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static struct civil civil_from_days(int64_t z)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    struct civil c;
    c.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    c.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    c.year = yoe + era * 400 + (c.month <= 2 ? 1 : 0);
    return c;
}

int64_t utc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t utc_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put_digits(char *out, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

int utc_format(int64_t t, char out[UTC_ISO_LEN])
{
    /* Years 0..9999 only: bounds t before any arithmetic can overflow. */
    static const int64_t min_t = -62167219200LL; /* 0000-01-01T00:00:00Z */
    static const int64_t max_t = 253402300799LL; /* 9999-12-31T23:59:59Z */
    if (t < min_t || t > max_t) {
        out[0] = '\0';
        return LUMI_EINVAL;
    }
    int64_t days = floor_div(t, SECS_PER_DAY);
    int64_t sod = t - days * SECS_PER_DAY;
    struct civil c = civil_from_days(days);
    /* Written digit by digit: every field is range-checked above, and this
     * keeps the output exactly UTC_ISO_LEN - 1 characters. */
    put_digits(out, (int)c.year, 4);
    out[4] = '-';
    put_digits(out + 5, c.month, 2);
    out[7] = '-';
    put_digits(out + 8, c.day, 2);
    out[10] = 'T';
    put_digits(out + 11, (int)(sod / 3600), 2);
    out[13] = ':';
    put_digits(out + 14, (int)(sod / 60 % 60), 2);
    out[16] = ':';
    put_digits(out + 17, (int)(sod % 60), 2);
    out[19] = 'Z';
    out[20] = '\0';
    return 0;
}

void utc_now_iso(char out[UTC_ISO_LEN])
{
    utc_format(utc_now(), out);
}

/* Reads exactly n digits at *p, advancing it; -1 if any is not a digit. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    return v;
}

static bool expect(const char **p, char ch)
{
    if (**p != ch)
        return false;
    (*p)++;
    return true;
}

static int parse_date(const char **p, struct civil *c)
{
    int y = digits(p, 4);
    if (y < 0 || !expect(p, '-'))
        return -1;
    int m = digits(p, 2);
    if (m < 0 || !expect(p, '-'))
        return -1;
    int d = digits(p, 2);
    if (d < 0)
        return -1;
    c->year = y;
    c->month = m;
    c->day = d;
    return 0;
}

/* "HH:MM:SS" with an optional ".fraction" (ignored: Lumi keeps seconds). */
static int parse_time(const char **p, int *sod)
{
    int h = digits(p, 2);
    if (h < 0 || !expect(p, ':'))
        return -1;
    int mi = digits(p, 2);
    if (mi < 0 || !expect(p, ':'))
        return -1;
    int s = digits(p, 2);
    if (s < 0 || h > 23 || mi > 59 || s > 59)
        return -1;
    if (**p == '.') {
        size_t n = strspn(*p + 1, "0123456789");
        if (n == 0 || n > 9)
            return -1;
        *p += 1 + n;
    }
    *sod = h * 3600 + mi * 60 + s;
    return 0;
}

/* "Z", "+hh:mm", "-hh:mm" or nothing (UTC); *offset in seconds east of UTC. */
static int parse_zone(const char **p, int *offset)
{
    *offset = 0;
    if (**p == '\0')
        return 0;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        return 0;
    }
    if (**p != '+' && **p != '-')
        return -1;
    int sign = **p == '-' ? -1 : 1;
    (*p)++;
    int h = digits(p, 2);
    if (h < 0 || !expect(p, ':'))
        return -1;
    int m = digits(p, 2);
    if (m < 0 || h > 23 || m > 59)
        return -1;
    *offset = sign * (h * 3600 + m * 60);
    return 0;
}

/* The input as quoted in messages (" '...'"): only printable ASCII up to 40
 * bytes, else nothing, so the message stays valid UTF-8 and one line. */
static void quote_input(const char *s, char out[48])
{
    size_t n = strnlen(s, 41);
    bool ok = n <= 40;
    for (size_t i = 0; i < n && ok; i++)
        ok = s[i] >= 0x20 && s[i] < 0x7f;
    if (ok)
        snprintf(out, 48, " '%.40s'", s);
    else
        out[0] = '\0';
}

int utc_parse(const char *s, int64_t *t, struct lumi_err *err)
{
    if (s == NULL)
        return err_set(err, LUMI_EINVAL, "a date is required");
    const char *p = s;
    struct civil c;
    int sod = 0, offset = 0;
    char shown[48];
    if (parse_date(&p, &c) != 0)
        goto bad_format;
    if (*p == 'T' || *p == 't') {
        p++;
        if (parse_time(&p, &sod) != 0 || parse_zone(&p, &offset) != 0)
            goto bad_format;
    }
    if (*p != '\0')
        goto bad_format;
    if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > days_in_month(c.year, c.month))
        goto bad_date;
    *t = days_from_civil(c) * SECS_PER_DAY + sod - offset;
    return 0;

bad_date:
    quote_input(s, shown);
    if (c.month < 1 || c.month > 12)
        return err_set(err, LUMI_EINVAL, "invalid date%s: month must be 01-12", shown);
    return err_set(err, LUMI_EINVAL, "invalid date%s: %04d-%02d has %d days", shown, (int)c.year,
                   c.month, days_in_month(c.year, c.month));
bad_format:
    quote_input(s, shown);
    return err_set(err, LUMI_EINVAL, "invalid date%s: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                   shown);
}

int64_t utc_add_months(int64_t t, int months)
{
    int64_t days = floor_div(t, SECS_PER_DAY);
    int64_t sod = t - days * SECS_PER_DAY;
    struct civil c = civil_from_days(days);
    /* Month index counted from year 0 keeps negative month counts simple. */
    int64_t idx = c.year * 12 + (c.month - 1) + months;
    c.year = floor_div(idx, 12);
    c.month = (int)(idx - c.year * 12) + 1;
    int dim = days_in_month(c.year, c.month);
    if (c.day > dim)
        c.day = dim;
    return days_from_civil(c) * SECS_PER_DAY + sod;
}
